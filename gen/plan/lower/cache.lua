-- The KV cache: cache_cat (present = cat(past, new), kept as two segments:
-- the past where it is, the new part [heads][rows][d] on the present grid)
-- and heads_first (the new part as the adapter's new_k / new_v output).
-- When heads_first writes an output on the present grid (a tied KV cache),
-- the fusion "present_into_output" (plan/fusions.lua) puts the new part
-- straight into that output and the heads_first step is an alias.

local grids = require "plan.grids"

local function requant_past(st, nd, past, gr)
  local name = nd.out .. "_past"
  local buffer = st:new_buffer(name, "Hk P d")
  st:step("requant_past", { note = grids.note(gr), out = name, cache = past.ptr, heads = st.dims.Hk,
    max_seq = st.desc.max_seq, d = st.dims.d, in_zp = past.grid.zero_point,
    rq = st:rq_const(nd.obs, past.grid.scale * grids.reciprocal(gr), "s_past * (1/s_present)", "_RQ_PAST"),
    grid = st:grid_const(gr) }, "requant")
  return name, buffer
end

-- present = cat(past, new); into: the heads_first node whose output takes the new part, or nil.
local function cache_cat(st, nd, into)
  local past, new = st.T[nd.ins[1]], st:act(nd.ins[2])
  local gr = st:obs_grid(nd.obs)
  local fresh, fresh_buffer
  if into then
    fresh = into.out
  else
    fresh = nd.out .. "_new"
    fresh_buffer = st:new_buffer(fresh, "Hk S d")
  end
  st:trace(st.prefix .. nd.obs .. ".new", fresh, st:per_row("Hk S d"))
  st:step("heads_first", { note = grids.note(gr), out = fresh, x = new.ptr, rows = "rows", heads = st.dims.Hk,
    d = st.dims.d, x_zp = new.grid.zero_point,
    rq = st:rq_const(nd.obs, new.grid.scale * grids.reciprocal(gr), "s_in * (1/s_present)"),
    grid = st:grid_const(gr) })
  local past_ptr, past_buffer = false, nil
  if past.kind == "cache" then
    st:touch(past.buffer) -- read below, or by the attention
    past_ptr, past_buffer = past.ptr, past.buffer
    if not grids.same(past.grid, gr) then past_ptr, past_buffer = requant_past(st, nd, past, gr) end
  end
  st.T[nd.out] = { kind = "present", past = past_ptr, past_buffer = past_buffer, fresh = fresh,
    fresh_buffer = fresh_buffer, grid = gr }
end

local function heads_first(st, nd)
  local x = st:act(nd.ins[1])
  local dest = st:destination(nd)
  local gr = st:result(nd, dest)
  st:step("heads_first", { note = grids.note(gr), out = dest.ptr, x = x.ptr, rows = "rows", heads = st.dims.Hk,
    d = st.dims.d, x_zp = x.grid.zero_point, rq = st:rq_const(nd.obs, x.grid.scale * grids.reciprocal(gr), "s_in * (1/s_out)"),
    grid = st:grid_const(gr) })
end

return {
  cache_cat = function(st, nd) cache_cat(st, nd, nil) end,
  heads_first = heads_first,
  -- fused: the new part straight into the output (cat, then its heads_first)
  present_into_output = function(st, cat) cache_cat(st, cat.nodes[1], cat.nodes[2]) end,
  present_output_alias = function(st, cat)
    local cat_node, hf = cat.nodes[1], cat.nodes[2]
    st:alias(st:obs_grid(hf.obs), hf.out, "the new part of " .. cat_node.obs .. " (same grid)")
  end,
}
