  /* Attention, per q head j (kv head j / ${group}) and query row s, over the
   * past_len cached keys and this block's keys up to s (causal; masked keys
   * are never computed), one call a row:
   *   logits: ${note_logits}
   *   scores: ${note_scores}
   *   probs:  ${note_probs}
   *   out:    ${note_out} */
  {
    const kiln_attention_row row = { ${rq_qk}, ${grid_logits}, ${rq_mask}, ${grid_scores}, &${lut},
                                     ${rq_softmax}, ${grid_probs}, ${rq_pv}, ${grid_out} };
    for (int32_t j = 0; j < ${heads}; j++) {
      const int32_t kv = j / ${group};
      for (int32_t s = 0; s < ${rows}; s++) {
        const kiln_kv_view k = { ${k_past} + kv * ${max_seq} * ${d}, past_len, ${k_fresh} + kv * ${rows} * ${d}, s + 1, ${k_zp} };
        const kiln_kv_view v = { ${v_past} + kv * ${max_seq} * ${d}, past_len, ${v_fresh} + kv * ${rows} * ${d}, s + 1, ${v_zp} };
        ${row_kernel}(${out} + (s * ${heads} + j) * ${d}, ${q} + (s * ${heads} + j) * ${d}, ${q_zp}, &k, &v, ${d}, &row, ${scratch});
      }
    }
  }
