-- The state of planning one adapter: what each tensor of the graph has
-- become (an activation in a buffer on a grid, a quantized weight, the
-- implicit mask, a cache, an unrounded sum, ...), the steps so far and the
-- scratch buffers with their live ranges. The lowerings (plan/lower/) read
-- and extend it through these methods; plan/adapter.lua drives them.
--
-- Step variables are data for the templates: numbers, names, notes, false
-- for a null pointer and { per_row = n } for "n values per row of this
-- call" (emit/ writes them as C).

local fail = require "util.fail"
local program = require "graph.program"
local fixed = require "plan.fixed"
local grids = require "plan.grids"
local kernels = require "plan.kernels"

local state = {}
state.__index = state

-- The C name of an observer below the prefix: self_attn.q_proj.act_out -> ATTN_Q_PROJ_ACT_OUT.
local function cname(obs)
  return (obs:gsub("^self_attn%.", "attn."):gsub("[%.]", "_"):upper())
end

-- new(spec): spec as plan/adapter.lua documents it.
function state.new(spec)
  local desc = spec.desc
  local s = setmetatable({
    spec = spec, qp = spec.qp, desc = desc, consts = spec.consts, rules = spec.rules, native = spec.native,
    graph = spec.graph, prefix = spec.prefix, C = spec.cname, block = spec.block, kind = spec.kind,
    dims = { S = spec.block, P = desc.max_seq, K = desc.max_seq, D = desc.hidden, H = desc.heads,
      Hk = desc.kv_heads, d = desc.head_dim, d2 = desc.head_dim // 2, I = desc.intermediate, V = desc.vocab },
    has_past = spec.kind == "decode" or spec.kind == "append",
    steps = {}, buffers = {}, T = {}, params = {}, outputs = {},
    -- per weight param: the constants its codes went to, and their layout
    -- ("rows": plain [rows][cols], as quantized; else the kernel's packing)
    weight_constants = {},
  }, state)
  for _, p in ipairs(spec.graph.params) do s.params[p.name] = p end
  for _, o in ipairs(spec.graph.outputs) do s.outputs[o.name] = true end
  return s
end

function state:obs_grid(obs) return grids.of(self.qp, self.prefix .. obs) end

-- C names of a node's constants: L0_ATTN_Q_PROJ_ACT_OUT and a suffix.
function state:const_name(obs, suffix) return self.C .. "_" .. cname(obs) .. (suffix or "") end

function state:grid_const(gr)
  return self.consts:grid(self:const_name(gr.path:sub(#self.prefix + 1)), gr)
end

-- The multiplier of one requantization into gr's grid, named after the node's observer.
function state:rq_const(obs, real, what, suffix)
  local rq = fail.within(self.qp.path, self.prefix .. obs, fixed.rq, real, what)
  return self.consts:rq(self:const_name(obs, suffix or "_RQ"), rq, what)
end

-- Elements per row of a token-major tensor, as a count of this call's rows.
function state:per_row(shape)
  return { per_row = program.numel(shape, self.dims) // self.block }
end

function state:numel(shape) return program.numel(shape, self.dims) end

function state:new_buffer(name, shape, words)
  local b = { name = name, words = words or self:numel(shape), first = #self.steps + 1, last = #self.steps + 1 }
  self.buffers[#self.buffers + 1] = b
  return b
end

-- A buffer stays live up to the step being planned.
function state:touch(buffer)
  if buffer then buffer.last = math.max(buffer.last, #self.steps + 1) end
end

-- The kernel for an op under the target's rules.
function state:kernel(op) return kernels.named(self.rules, op) end

-- Appends a step: a template and its variables; op names the kernel when
-- vars has none (default: the template's name).
function state:step(template, vars, op)
  if vars.kernel == nil then vars.kernel = self:kernel(op or template) end
  self.steps[#self.steps + 1] = { template = template, vars = vars, trace = self.pending_trace }
  self.pending_trace = nil
end

-- A step with no code: out is another name for from (same buffer, same grid).
function state:alias(gr, out, from)
  self.steps[#self.steps + 1] = { template = "alias", vars = { note = grids.note(gr), out = out, from = from } }
end

-- The destination of a node's result: its output parameter or a new scratch buffer.
function state:destination(nd)
  if self.outputs[nd.out] then return { ptr = nd.out, shape = nd.shape } end
  return { ptr = nd.out, buffer = self:new_buffer(nd.out, nd.shape), shape = nd.shape }
end

-- Records a node's result as an activation on its observer's grid (and as
-- what the next step reports in a trace build); returns the grid.
function state:result(nd, dest)
  local gr = self:obs_grid(nd.obs)
  self.T[nd.out] = { kind = "act", ptr = dest.ptr, buffer = dest.buffer, grid = gr, shape = nd.shape }
  self:trace(self.prefix .. nd.obs, dest.ptr, self:per_row(nd.shape))
  return gr
end

function state:trace(obs, ptr, n) self.pending_trace = { obs = obs, ptr = ptr, n = n } end

-- A materialized activation read by the step being planned.
function state:act(name)
  local rec = self.T[name]
  assert(rec and rec.kind == "act", "planner: " .. name .. " is not a materialized activation")
  self:touch(rec.buffer)
  return rec
end

-- The graph's inputs as the adapter's parameters see them.
function state:bind_inputs(x_grid)
  local T = self.T
  T.x = { kind = "act", ptr = "x", grid = x_grid, shape = "S D" }
  if self.graph.name ~= "llama_decoder_layer" then return end
  T.mask = { kind = "mask" }
  T.cos = { kind = "act", ptr = "cos", grid = self:obs_grid("cos"), shape = "S d" }
  T.sin = { kind = "act", ptr = "sin", grid = self:obs_grid("sin"), shape = "S d" }
  if self.has_past then
    T.past_k = { kind = "cache", ptr = "cache_k", grid = self:obs_grid("self_attn.new_k") }
    T.past_v = { kind = "cache", ptr = "cache_v", grid = self:obs_grid("self_attn.new_v") }
  else
    T.past_k, T.past_v = { kind = "none" }, { kind = "none" }
  end
end

-- The plan: steps, buffers and what the model driver needs to know.
function state:finish()
  local out_grids = {}
  for name in pairs(self.outputs) do
    if self.T[name] and self.T[name].grid then out_grids[name] = self.T[name].grid end
  end
  return { steps = self.steps, buffers = self.buffers, kind = self.kind, block = self.block, has_past = self.has_past,
    output_grids = out_grids, weight_constants = self.weight_constants }
end

return state
