-- Plans one adapter (prefill, decode, append-prefill, or the head) of one
-- graph for an integer target, top to bottom:
--
--   1. the graph's inputs become the adapter's parameters (plan/adapter_state.lua);
--   2. the declared fusions are matched (plan/fusions.lua);
--   3. each node, in graph order, goes to the lowering of its op
--      (plan/lower/<family>.lua): which runtime kernel computes it with
--      which constants, or why it needs no code;
--   4. the result: a list of steps (a template name and its variables), the
--      scratch buffers with their live ranges, the output grids and where
--      each weight's codes went.
--
-- emit/ turns the steps into C; plan/arena.lua places the buffers.

local fail = require "util.fail"
local state = require "plan.adapter_state"
local fusions = require "plan.fusions"

local adapter = {}

local FAMILIES = { "quant", "rmsnorm", "linear", "rope", "elementwise", "sigmoid", "cache", "attention" }
adapter.LOWERINGS = {}
for _, family in ipairs(FAMILIES) do
  for op, lower in pairs(require("plan.lower." .. family)) do adapter.LOWERINGS[op] = lower end
end

-- build(spec) -> plan. spec fields:
--   graph, kind ("prefill" | "decode" | "append" | "head"), prefix (observer path
--   prefix), cname (C prefix, "L0"), qp, desc, block (rows capacity), x_grid,
--   consts (plan.constants registry), weights ({ [param] = Tensor }), rules, native
function adapter.build(spec)
  local st = state.new(spec)
  st:bind_inputs(spec.x_grid)
  local fused = fusions.match(st, spec.graph.nodes)
  for idx, nd in ipairs(spec.graph.nodes) do
    local f = fused[idx]
    -- a constant the runtime cannot hold is refused naming the qparams
    -- file and the observer of the node (of a fused group, the one lowered here)
    local where = spec.prefix .. tostring(nd.obs)
    if f then
      if f.lowering then fail.within(spec.qp.path, where, adapter.LOWERINGS[f.lowering], st, f.fused) end
    else
      local lower = adapter.LOWERINGS[nd.op]
      if not lower then fail.raise(nil, spec.prefix .. tostring(nd.obs), "op '" .. nd.op .. "' has no integer kernel") end
      fail.within(spec.qp.path, where, lower, st, nd)
    end
  end
  return st:finish()
end

return adapter
