  /* Attention, per q head j (kv head j / ${group}) and query row s, over the
   * keys of this block up to s (causal; masked keys are never computed):
   *   logits: ${note_logits}
   *   scores: ${note_scores}
   *   probs:  ${note_probs}
   *   out:    ${note_out} */
  {
    int16_t *const logits = ${scratch}, *const scores = ${scratch} + ${max_seq}, *const probs = ${scratch} + 2 * ${max_seq};
    for (int32_t j = 0; j < ${heads}; j++) {
      const int32_t kv = j / ${group};
      for (int32_t s = 0; s < ${rows}; s++) {
        const kiln_kv_view k = { NULL, 0, ${k_fresh} + kv * ${rows} * ${d}, s + 1, ${k_zp} };
        const kiln_kv_view v = { NULL, 0, ${v_fresh} + kv * ${rows} * ${d}, s + 1, ${v_zp} };
        const int32_t n = s + 1;
        ${qk_kernel}(logits, ${q} + (s * ${heads} + j) * ${d}, ${q_zp}, &k, ${d}, ${rq_qk}, &${grid_logits});
        ${requant_kernel}(scores, logits, n, ${grid_logits}.zero_point, ${rq_mask}, &${grid_scores});
        ${softmax_kernel}(probs, scores, n, &${lut}, ${rq_softmax}, &${grid_probs});
        ${pv_kernel}(${out} + (s * ${heads} + j) * ${d}, probs, ${probs_zp}, &v, ${d}, ${rq_pv}, &${grid_out});
      }
    }
  }
