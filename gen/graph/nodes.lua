-- Helpers shared by the graphs (graph/llama_layer.lua, graph/llama_head.lua).

local nodes = {}

-- Fills the shapes a graph left open: a quant node has its input's shape.
function nodes.resolve_shapes(graph)
  local shape_of = {}
  for _, i in ipairs(graph.inputs) do shape_of[i.name] = i.shape end
  for _, p in ipairs(graph.params) do shape_of[p.name] = p.shape end
  for _, nd in ipairs(graph.nodes) do
    nd.shape = nd.shape or shape_of[nd.ins[1]]
    shape_of[nd.out] = nd.shape
  end
end

-- Every observer in graph order: { name, node, param } where param is the
-- graph param a weight observer watches (nil for activations).
function nodes.observers(graph)
  local params = {}
  for _, p in ipairs(graph.params) do params[p.name] = p end
  local list = {}
  for _, nd in ipairs(graph.nodes) do
    if nd.obs then
      list[#list + 1] = { name = nd.obs, node = nd, param = nd.op == "quant" and params[nd.ins[1]] or nil }
    end
  end
  return list
end

return nodes
