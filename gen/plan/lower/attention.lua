-- Attention, fused per query row (the pattern "attention" in
-- plan/fusions.lua: qk -> add_mask -> softmax -> pv). The mask is implicit:
-- causal over the valid keys, so masked columns (which the -120 fill sends
-- to exactly 0 after softmax) are never computed; the side output
-- attn_weights is dropped.

local grids = require "plan.grids"
local fixed = require "plan.fixed"
local kernels = require "plan.kernels"

return {
  attention = function(st, fused)
    local n_qk, n_mask, n_soft, n_pv = table.unpack(fused.nodes)
    local q, pk, pv = st:act(n_qk.ins[1]), st.T[n_qk.ins[2]], st.T[n_pv.ins[2]]
    for _, present in ipairs({ pk, pv }) do
      st:touch(present.past_buffer)
      st:touch(present.fresh_buffer)
    end
    local g_logits, g_scores, g_probs = st:obs_grid(n_qk.obs), st:obs_grid(n_mask.obs), st:obs_grid(n_soft.obs)
    st.T[n_qk.out] = { kind = "fused" }
    st.T[n_mask.out] = { kind = "fused" }
    st.T[n_soft.out] = { kind = "side" }
    local dest = st:destination(n_pv)
    local g_out = st:result(n_pv, dest)
    local qk_kernel, pv_kernel, row_kernel = kernels.attention(st.rules, st.desc, q.grid, pk.grid, pv.grid, g_probs)
    local rows_buf = st:new_buffer("attn_rows", nil, 3 * st.desc.max_seq)
    local lut = fixed.exp_lut(g_scores.scale, g_scores.qmax - g_scores.qmin)
    local c = st.consts
    st:step(row_kernel and "attention_row" or "attention", {
      out = dest.ptr, q = q.ptr, q_zp = q.grid.zero_point, heads = st.dims.H, kv_heads = st.dims.Hk,
      qk_kernel = qk_kernel, pv_kernel = pv_kernel, row_kernel = row_kernel or "", requant_kernel = st:kernel("requant"),
      softmax_kernel = st:kernel("softmax_row"),
      group = st.dims.H // st.dims.Hk, d = st.dims.d, rows = "rows", max_seq = st.desc.max_seq,
      k_past = pk.past, k_fresh = pk.fresh, k_zp = pk.grid.zero_point,
      v_past = pv.past, v_fresh = pv.fresh, v_zp = pv.grid.zero_point,
      scratch = rows_buf.name,
      note_logits = grids.note(g_logits), note_scores = grids.note(g_scores), note_probs = grids.note(g_probs),
      note_out = grids.note(g_out),
      rq_qk = st:rq_const(n_qk.obs, q.grid.scale * pk.grid.scale * grids.reciprocal(g_logits), "s_q * s_k * (1/s_logits)"),
      grid_logits = st:grid_const(g_logits),
      rq_mask = st:rq_const(n_mask.obs, g_logits.scale * grids.reciprocal(g_scores), "s_logits * (1/s_scores), mask 0"),
      grid_scores = st:grid_const(g_scores),
      lut = c:exp_lut(st:const_name(n_soft.obs, "_EXP"), lut, "exp(-d * s_scores) for softmax"),
      rq_softmax = st:rq_const(n_soft.obs, 2.0 ^ -31 * grids.reciprocal(g_probs), "2^-31 * (1/s_probs)"),
      grid_probs = st:grid_const(g_probs), probs_zp = g_probs.zero_point,
      rq_pv = st:rq_const(n_pv.obs, g_probs.scale * pv.grid.scale * grids.reciprocal(g_out), "s_p * s_v * (1/s_out)"),
      grid_out = st:grid_const(g_out),
    })
  end,
}
