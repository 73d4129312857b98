-- Fusions, declared as patterns over the graph's nodes rather than found by
-- peeking ahead while planning. A pattern names its ops and how they link;
-- match() returns, per node index it covers, the lowering that runs at that
-- node (or false: the node is planned by another of the group) and the
-- matched nodes.
--
--   chain: each op reads the previous one's output as its first input;
--          the whole group is lowered at its first node.
--   pair:  op a, and a later op b reading a's input `input_of_a`, when the
--          condition holds; each has its own lowering.

local grids = require "plan.grids"

local fusions = {}

fusions.PATTERNS = {
  -- attention per query row: the logits, scores and probabilities never leave the row
  { name = "attention", chain = { "qk", "add_mask", "softmax", "pv" }, lowering = "attention" },
  -- a tied KV cache: the new keys go to the present grid straight into new_k
  { name = "present_into_output", pair = { "cache_cat", "heads_first" }, input_of_a = 2,
    lowerings = { "present_into_output", "present_output_alias" },
    when = function(st, a, b) return st.outputs[b.out] and grids.same(st:obs_grid(b.obs), st:obs_grid(a.obs)) end },
}

local function consumer(nodes, from, op, out)
  for j = from + 1, #nodes do
    if nodes[j].op == op and nodes[j].ins[1] == out then return j end
  end
end

-- match(st, nodes) -> { [index] = { lowering = name | false, nodes = {...} } }
function fusions.match(st, nodes)
  local found = {}
  for i, nd in ipairs(nodes) do
    for _, pat in ipairs(fusions.PATTERNS) do
      if pat.chain and nd.op == pat.chain[1] and not found[i] then
        local group, at, idx = { nd }, { i }, i
        for k = 2, #pat.chain do
          idx = consumer(nodes, idx, pat.chain[k], group[#group].out)
          assert(idx, "planner: " .. pat.name .. " must be " .. table.concat(pat.chain, ", "))
          group[k], at[k] = nodes[idx], idx
        end
        local fused = { pattern = pat.name, nodes = group }
        for k, j in ipairs(at) do found[j] = { lowering = k == 1 and pat.lowering, fused = fused } end
      elseif pat.pair and nd.op == pat.pair[1] then
        for j = i + 1, #nodes do
          local b = nodes[j]
          if b.op == pat.pair[2] and b.ins[1] == nd.ins[pat.input_of_a] and not found[j] and pat.when(st, nd, b) then
            local fused = { pattern = pat.name, nodes = { nd, b } }
            found[i] = { lowering = pat.lowerings[1], fused = fused }
            found[j] = { lowering = pat.lowerings[2], fused = fused }
            break
          end
        end
      end
    end
  end
  return found
end

return fusions
