-- Compiles the layer graph into the flat program the float executor runs
-- (runtime/float/graph.c): every tensor becomes a numbered slot with a
-- symbolic shape, every node an op code over slots, every observer an index.
--
-- Codes and ports mirror the enums of runtime/float/kiln_float.h; the order of
-- these lists is that ABI.

local program = {}

program.DIMS = { "S", "P", "K", "D", "H", "Hk", "d", "d2", "I", "V" }
program.OPS = {
  "quant", "rmsnorm", "linear", "take_half", "concat_halves", "mul_rows", "add", "mul", "sigmoid",
  "cache_cat", "qk", "add_mask", "softmax", "pv", "heads_first",
}
program.PORTS = { "x", "mask", "cos", "sin", "past_k", "past_v", "y", "new_k", "new_v" }
local SLOT_INPUT, SLOT_PARAM, SLOT_TEMP = 0, 1, 2

local function index_of(list)
  local idx = {}
  for i, v in ipairs(list) do idx[v] = i - 1 end
  return idx
end

local DIM_CODE = index_of(program.DIMS)
local OP_CODE = index_of(program.OPS)

-- "S H*d" -> { {S}, {H, d} } as dim codes
function program.parse_shape(shape)
  local dims = {}
  for entry in shape:gmatch("%S+") do
    local factors = {}
    for f in entry:gmatch("[^*]+") do
      local code = DIM_CODE[f]
      assert(code, "unknown dim '" .. f .. "' in shape '" .. shape .. "'")
      factors[#factors + 1] = code
    end
    dims[#dims + 1] = factors
  end
  return dims
end

-- Evaluates a symbolic shape to its element count for concrete dims.
function program.numel(shape, dims)
  local n = 1
  for entry in shape:gmatch("%S+") do
    for f in entry:gmatch("[^*]+") do
      local v = dims[f]
      assert(v, "no value for dim '" .. f .. "'")
      n = n * v
    end
  end
  return n
end

-- compile(graph) -> the table native.program() takes, plus the observer list
-- in index order.
function program.compile(layer)
  local slots, slot_of = {}, {}
  local function add_slot(name, kind, shape)
    assert(not slot_of[name], "tensor '" .. name .. "' written twice")
    slots[#slots + 1] = { kind = kind, dims = program.parse_shape(shape), name = name }
    slot_of[name] = #slots - 1
  end
  for _, i in ipairs(layer.inputs) do add_slot(i.name, SLOT_INPUT, i.shape) end
  local params = {}
  for _, p in ipairs(layer.params) do
    add_slot(p.name, SLOT_PARAM, p.shape)
    params[#params + 1] = slot_of[p.name]
  end

  local observers, obs_index = {}, {}
  local nodes = {}
  for _, nd in ipairs(layer.nodes) do
    local code = OP_CODE[nd.op]
    assert(code, "op '" .. nd.op .. "' has no executor")
    local ins = {}
    for k, name in ipairs(nd.ins) do
      ins[k] = slot_of[name]
      assert(ins[k], "node '" .. nd.out .. "' reads unknown tensor '" .. name .. "'")
    end
    add_slot(nd.out, SLOT_TEMP, nd.shape)
    local obs
    if nd.obs then
      assert(not obs_index[nd.obs], "observer '" .. nd.obs .. "' placed twice")
      observers[#observers + 1] = nd.obs
      obs_index[nd.obs] = #observers - 1
      obs = obs_index[nd.obs]
    end
    nodes[#nodes + 1] = { op = code, out = slot_of[nd.out], a = ins[1], b = ins[2], obs = obs, arg = nd.half }
  end

  local ports = {}
  for k, name in ipairs(program.PORTS) do
    ports[k] = slot_of[name] or -1 -- the head graph has only x and y
  end
  return {
    slots = slots,
    nodes = nodes,
    params = params,
    ports = ports,
    n_obs = #observers,
  }, observers
end

return program
