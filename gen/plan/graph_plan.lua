-- Plans one adapter of one graph for an integer target: walks the graph's
-- nodes in order and decides, for each, which runtime kernel computes it with
-- which constants, or why it needs no code:
--
--   * a quant node between identical grids is an alias (TICO's equal-statistics
--     chains, §1.5): same buffer, no code;
--   * a quant node on a param quantizes the weights at generation time;
--   * the attention mask is implicit: causal over the valid keys, so masked
--     columns (which the -120 fill sends to exactly 0 after softmax) are never
--     computed;
--   * the attention residual h1 (no observer in TICO) is never rounded: its
--     consumers add x and o directly on their own grids;
--   * qk, add_mask, softmax and pv run fused per query row (attention step);
--   * the side output attn_weights is dropped.
--
-- The result is a list of steps (a template name and its variables) and the
-- scratch buffers they use; emit/ turns it into C.

local fail = require "util.fail"
local qparams = require "calib.qparams"
local f32 = require "util.f32"
local program = require "graph.program"
local fixed = require "plan.fixed"
local constants = require "plan.constants"

local graph_plan = {}

local MASK_FILL = -120.0 -- PTQConfig.attention_mask_fill_value

local function cname(obs)
  return (obs:gsub("^self_attn%.", "attn."):gsub("[%.]", "_"):upper())
end

-- The grid of an observer, from the qparams file.
local function grid_of(qp, path)
  local o = qp.observers[path]
  local dt = qparams.DTYPES[o.dtype]
  return {
    path = path, dtype = o.dtype, scale = o.scale, zero_point = o.zero_point,
    qmin = dt.qmin, qmax = dt.qmax, per_channel = o.axis ~= nil,
  }
end
graph_plan.grid_of = grid_of

local function same_grid(a, b)
  return not a.per_channel and not b.per_channel and a.dtype == b.dtype
    and a.scale == b.scale and a.zero_point == b.zero_point
end
graph_plan.same_grid = same_grid

-- TICO quantizes by multiplying with the float32 reciprocal of the scale
-- (tico-semantics.md §2.4), not by dividing; every multiplier into a grid uses
-- the same reciprocal, so the integer kernels round as TICO's fake quantization does.
local function inv(g)
  return f32.div(1.0, g.scale)
end

local function note(g)
  return string.format("%s: %s, scale %s, zero point %d", g.path, g.dtype, f32.format(g.scale), g.zero_point)
end

-- Storage of a weight grid's codes.
local function weight_ctype(dtype)
  if dtype == "int16" then return "s16" end
  return qparams.DTYPES[dtype].signed and "s8" or "u8"
end

-- The linear kernel a target's rules choose for an input grid, a weight
-- storage and a row length: the first entry of rules.kernels.linear whose
-- conditions hold, else the portable kiln_linear_<storage>.
function graph_plan.linear_kernel(rules, x_grid, weight_ctype, n_in)
  local function has(list, v)
    if not list then return true end
    for _, item in ipairs(list) do
      if item == v then return true end
    end
    return false
  end
  local within_int16 = x_grid.qmin - x_grid.zero_point >= -32768 and x_grid.qmax - x_grid.zero_point <= 32767
  for _, k in ipairs(rules.kernels and rules.kernels.linear or {}) do
    if has(k.act, x_grid.dtype) and has(k.weight, weight_ctype) and (within_int16 or not k.act_within_int16)
      and (not k.packing or (n_in % 4 == 0 and n_in < 65536)) then -- the packed kernels' int32 sums
      return k
    end
  end
  return { kernel = "kiln_linear_" .. weight_ctype }
end

local function within_int16(g)
  return g.qmin - g.zero_point >= -32768 and g.qmax - g.zero_point <= 32767
end

-- The attention row kernels a target's rules choose (rules.kernels.qk_row,
-- rules.kernels.pv_row), else the portable ones. pv kernels that accumulate in
-- int32 need non-negative probabilities whose codes cannot sum past 2^16:
-- at most 1 / s_p + n / 2 for n keys (each code rounds up by at most half).
function graph_plan.attention_kernels(rules, desc, q, k, v, probs)
  local d = desc.head_dim
  local function usable(entry)
    if not entry then return false end
    if entry.head_dim and not ((entry.head_dim.equal and d == entry.head_dim.equal)
      or (entry.head_dim.multiple_of and d % entry.head_dim.multiple_of == 0)) then
      if not (entry.head_dim.equal_or_multiple and (d == entry.head_dim.equal_or_multiple[1]
        or d % entry.head_dim.equal_or_multiple[2] == 0)) then return false end
    end
    return true
  end
  local kernels = rules.kernels or {}
  local qk, pv = "kiln_qk_row", "kiln_pv_row"
  local e = kernels.qk_row
  if usable(e) and within_int16(q) and within_int16(k) then qk = e.kernel end
  e = kernels.pv_row
  if usable(e) and within_int16(v) and probs.zero_point == 0
    and math.ceil(1 / probs.scale) + desc.max_seq / 2 < 65536 then pv = e.kernel end
  -- a whole-row kernel, where the rules have one and both halves qualify
  local row
  e = kernels.attention_row
  if usable(e) and qk ~= "kiln_qk_row" and pv ~= "kiln_pv_row" then row = e.kernel end
  return qk, pv, row
end

-- The mask is implicit in the generated C; each grid it passes (the model's
-- model.causal_mask, each layer's attn_mask and self_attn.attn_mask) must
-- still carry the fill value far enough below zero for masked scores to
-- vanish, as in TICO, and hold 0 exactly.
function graph_plan.check_mask_grid(qp, path)
  local gr = grid_of(qp, path)
  local q = qparams.quantize(MASK_FILL, gr.scale, gr.zero_point, gr.qmin, gr.qmax)
  local fill = (q - gr.zero_point) * gr.scale
  if fill > -60 then
    fail.raise(qp.path, path, string.format(
      "the mask fill %g quantizes to %g on this grid; kiln's implicit mask needs it below -60", MASK_FILL, fill))
  end
  if qparams.quantize(0.0, gr.scale, gr.zero_point, gr.qmin, gr.qmax) ~= gr.zero_point then
    fail.raise(qp.path, path, "0 is not exactly representable on the mask grid")
  end
end

-- build(spec) -> plan. spec fields:
--   graph, kind ("prefill" | "decode" | "append" | "head"), prefix (observer path
--   prefix), cname (C prefix, "L0"), qp, desc, block (rows capacity), x_grid,
--   consts (plan.constants registry), weights ({ [param] = Tensor }), rules, native
function graph_plan.build(spec)
  local g, qp, desc, consts = spec.graph, spec.qp, spec.desc, spec.consts
  local C = spec.cname
  local dims = { S = spec.block, P = desc.max_seq, K = desc.max_seq, D = desc.hidden, H = desc.heads,
    Hk = desc.kv_heads, d = desc.head_dim, d2 = desc.head_dim // 2, I = desc.intermediate, V = desc.vocab }
  local has_past = spec.kind == "decode" or spec.kind == "append"
  local steps, buffers = {}, {}
  local T = {} -- tensor name -> record
  -- per weight param: the constants its codes went to, and their layout
  -- ("rows": plain [rows][cols], as quantized; else the kernel's packing)
  local weight_constants = {}

  local params = {}
  for _, p in ipairs(g.params) do params[p.name] = p end
  local outputs = {}
  for _, o in ipairs(g.outputs) do outputs[o.name] = true end

  local function obs_grid(obs) return grid_of(qp, spec.prefix .. obs) end
  local function grid_const(gr) return consts:grid(C .. "_" .. cname(gr.path:sub(#spec.prefix + 1)), gr) end

  -- Row width of a token-major tensor: elements per token.
  local function width(shape)
    return program.numel(shape, dims) // spec.block
  end
  local function new_buffer(name, shape, words)
    local b = { name = name, words = words or program.numel(shape, dims), first = #steps + 1, last = #steps + 1 }
    buffers[#buffers + 1] = b
    return b
  end
  local function use(rec)
    if rec.buffer then rec.buffer.last = math.max(rec.buffer.last, #steps + 1) end
  end
  -- The result a step writes, for trace builds: observer, pointer, element count.
  local pending_trace
  -- The kernel a target's rules name for an op (rules.kernels[op] = "name"),
  -- else the portable kiln_<op>.
  local function kernel(op)
    local k = spec.rules.kernels and spec.rules.kernels[op]
    return type(k) == "string" and k or ("kiln_" .. op)
  end
  local function step(template, vars)
    if vars.kernel == nil then
      vars.kernel = kernel(template == "requant_past" and "requant" or template)
    end
    steps[#steps + 1] = { template = template, vars = vars, trace = pending_trace }
    pending_trace = nil
  end
  -- The destination of a node's result: its output parameter or a new scratch buffer.
  local function destination(nd)
    if outputs[nd.out] then return { ptr = nd.out, shape = nd.shape } end
    local b = new_buffer(nd.out, nd.shape)
    return { ptr = nd.out, buffer = b, shape = nd.shape }
  end

  -- inputs
  T.x = { kind = "act", ptr = "x", grid = spec.x_grid, shape = "S D" }
  if g.name == "llama_decoder_layer" then
    T.mask = { kind = "mask" }
    T.cos = { kind = "act", ptr = "cos", grid = obs_grid("cos"), shape = "S d" }
    T.sin = { kind = "act", ptr = "sin", grid = obs_grid("sin"), shape = "S d" }
    if has_past then
      T.past_k = { kind = "cache", ptr = "cache_k", grid = obs_grid("self_attn.new_k") }
      T.past_v = { kind = "cache", ptr = "cache_v", grid = obs_grid("self_attn.new_v") }
    else
      T.past_k, T.past_v = { kind = "none" }, { kind = "none" }
    end
  end

  local written = {} -- outputs already produced by an earlier step

  -- Weights: quantized now, with their zero points and the output multipliers
  -- that need the input scale (filled in by the consumer).
  local function quantize_param(nd)
    local p = params[nd.ins[1]]
    local gr = obs_grid(nd.obs)
    local o = qp.observers[spec.prefix .. nd.obs]
    local tensor = spec.weights[p.name]
    local base = C .. "_" .. cname(nd.obs)
    if p.role == "norm" then
      local packed = tensor:quantize(o.scale, o.zero_point, gr.qmin, gr.qmax, "s16")
      local values = { string.unpack("<" .. string.rep("i2", #packed // 2), packed) }
      values[#values] = nil
      local name = consts:array(base, "s16", values, note(gr), "weights")
      return { kind = "gamma", ptr = name, grid = gr, zero_point = o.zero_point }
    end
    local ctype = weight_ctype(o.dtype)
    local rows = program.numel(p.shape:match("^(%S+)"), dims)
    local scales, zps = o.scale, o.zero_point
    if type(scales) ~= "table" then
      scales, zps = {}, {}
      for r = 1, rows do scales[r], zps[r] = o.scale, o.zero_point end
    end
    local packed = consts:cached(base .. " codes", function()
      return tensor:quantize(scales, zps, gr.qmin, gr.qmax, ctype)
    end)
    local zp_name = consts:array(base .. "_ZP", "s32", zps, "per-row zero points")
    -- registered by the consumer, which knows the layout its kernel wants
    return { kind = "weight", param = p.name, zp = zp_name, zps = zps, ctype = ctype, scales = scales, rows = rows,
      cols = tensor:len() // rows, grid = gr, packed = packed, base = base,
      note = string.format("%s: %s %s, [%d][%d]", spec.prefix .. nd.obs, o.dtype, o.qscheme, rows, tensor:len() // rows) }
  end

  local function act(name)
    local rec = T[name]
    assert(rec and rec.kind == "act", "planner: " .. name .. " is not a materialized activation")
    use(rec)
    return rec
  end

  -- result of a node on its observer's grid
  local function result(nd, dest)
    local gr = obs_grid(nd.obs)
    T[nd.out] = { kind = "act", ptr = dest.ptr, buffer = dest.buffer, grid = gr, shape = nd.shape }
    pending_trace = { obs = spec.prefix .. nd.obs, ptr = dest.ptr, n = "rows * " .. width(nd.shape) }
    return gr
  end

  local function rq_const(nd, real, what)
    return consts:rq(C .. "_" .. cname(nd.obs) .. "_RQ", fixed.rq(real), what)
  end

  local function rows_expr() return "rows" end

  local skip = {}
  for idx, nd in ipairs(g.nodes) do
    if skip[idx] then goto continue end
    local op = nd.op

    if op == "quant" then
      local src = T[nd.ins[1]]
      if params[nd.ins[1]] then
        T[nd.out] = quantize_param(nd)
      elseif src.kind == "mask" then
        graph_plan.check_mask_grid(qp, spec.prefix .. nd.obs)
        T[nd.out] = { kind = "mask" }
      elseif src.kind == "none" then
        T[nd.out] = { kind = "none" }
      elseif src.kind == "side" then
        T[nd.out] = { kind = "side" }
      elseif src.kind == "sum" then
        -- the unrounded residual h1 = a + b, straight onto this grid
        local dest = destination(nd)
        local gr = result(nd, dest)
        local a, b = act(src.terms[1]), act(src.terms[2])
        local p = fixed.add_rq({ a.grid.scale * inv(gr), b.grid.scale * inv(gr) })
        step("add", { note = note(gr), out = dest.ptr, a = a.ptr, a_zp = a.grid.zero_point, b = b.ptr,
          b_zp = b.grid.zero_point, c = "NULL", c_zp = 0, n = rows_expr() .. " * " .. width(nd.shape),
          rq = consts:add_rq(C .. "_" .. cname(nd.obs) .. "_ADD", p, nd.ins[1] .. " = " .. table.concat(src.terms, " + ")),
          grid = grid_const(gr) })
      elseif src.kind == "cache" then
        local gr = obs_grid(nd.obs)
        if same_grid(src.grid, gr) then
          T[nd.out] = { kind = "cache", ptr = src.ptr, grid = gr }
        else
          -- untied cache qparams: the past is requantized on every read
          local b = new_buffer(nd.out, "Hk P d")
          step("requant_past", { note = note(gr), out = nd.out, cache = src.ptr, heads = dims.Hk,
            max_seq = desc.max_seq, d = dims.d, in_zp = src.grid.zero_point,
            rq = rq_const(nd, src.grid.scale * inv(gr), "past requantized"), grid = grid_const(gr) })
          T[nd.out] = { kind = "cache", ptr = nd.out, buffer = b, grid = gr }
        end
      else
        local gr = obs_grid(nd.obs)
        if same_grid(src.grid, gr) then
          T[nd.out] = { kind = src.kind, ptr = src.ptr, buffer = src.buffer, grid = gr, shape = src.shape, alias = nd.ins[1] }
          steps[#steps + 1] = { template = "alias", vars = { note = note(gr), out = nd.out, from = nd.ins[1] } }
        else
          local a = act(nd.ins[1])
          local dest = destination(nd)
          result(nd, dest)
          step("requant", { note = note(gr), out = dest.ptr, x = a.ptr, n = rows_expr() .. " * " .. width(nd.shape),
            x_zp = a.grid.zero_point, rq = rq_const(nd, a.grid.scale * inv(gr), "s_in * (1/s_out)"), grid = grid_const(gr) })
        end
      end

    elseif op == "rmsnorm" then
      local x, w = act(nd.ins[1]), T[nd.ins[2]]
      local dest = destination(nd)
      local gr = result(nd, dest)
      local n = dims.D
      local max_dev = math.max(x.grid.qmax - x.grid.zero_point, x.grid.zero_point - x.grid.qmin)
      -- TICO adds eps in float32
      local p = fixed.norm_rq(x.grid.scale, w.grid.scale, inv(gr), n, f32.round(desc.rms_eps), max_dev)
      step("rmsnorm", { note = note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point, rows = rows_expr(), n = n,
        gamma = w.ptr, gamma_zp = w.zero_point, p = consts:norm_rq(C .. "_" .. cname(nd.obs) .. "_NORM", p,
          string.format("rmsnorm, eps %s", constants.real(desc.rms_eps))), grid = grid_const(gr) })

    elseif op == "linear" then
      local x, w = act(nd.ins[1]), T[nd.ins[2]]
      local dest = destination(nd)
      local gr = result(nd, dest)
      local reals = {}
      for r, s in ipairs(w.scales) do reals[r] = fixed.rq(x.grid.scale * s * inv(gr)) end
      local k = graph_plan.linear_kernel(spec.rules, x.grid, w.ctype, w.cols)
      if k.bias then -- the packed kernels requantize in vector lanes: shifts within [1, 63]
        for _, rq in ipairs(reals) do
          if rq.shift < 1 or rq.shift > 63 then k = { kernel = "kiln_linear_" .. w.ctype } break end
        end
      end
      local weights
      if k.packing == "n16k4" then
        local layout = consts:cached(w.base .. " n16k4", function() return spec.native.pack_n16k4(w.packed, w.rows, w.cols) end)
        weights = consts:packed(w.base .. "_N16K4", "s8", layout,
          w.note .. ", packed for " .. k.kernel .. " (16 rows x 4 inputs, w - 128)")
      else
        weights = consts:packed(w.base, w.ctype, w.packed, w.note)
      end
      weight_constants[w.param] = { codes = weights, zp = w.zp, ctype = w.ctype, layout = k.packing or "rows" }
      local vars = { note = note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point, rows = rows_expr(),
        n_in = w.cols, w = weights, w_zp = w.zp, n_out = w.rows, kernel = k.kernel, work = "",
        rq = consts:rq_array(C .. "_" .. cname(nd.obs) .. "_RQ", reals, "s_in * s_w[row] * (1/s_out)"),
        grid = grid_const(gr) }
      if k.row_sums then
        local sums = consts:cached(w.base .. " row sums", function() return spec.native.row_sums(w.packed, w.ctype, w.rows) end)
        vars.w_sum = consts:array(w.base .. "_SUM", "s32", sums, "per-row sums of the weight codes", "constants")
      end
      if k.bias then
        -- the zero-point terms of each row that do not depend on x (kiln_rt_x86.h):
        -- n zx zw - zx sum_w, and with two byte planes - 256 * 128 (sum_w - 128 n)
        local sums = consts:cached(w.base .. " row sums", function() return spec.native.row_sums(w.packed, w.ctype, w.rows) end)
        local zx, n, bias = x.grid.zero_point, w.cols, {}
        for r, sw in ipairs(sums) do
          bias[r] = n * zx * w.zps[r] - zx * sw - (k.planes == 2 and 32768 * (sw - 128 * n) or 0)
        end
        vars.w_bias = consts:array(C .. "_" .. cname(nd.obs) .. "_BIAS", "s64", bias,
          "per-row zero-point terms for " .. k.kernel, "constants")
      end
      if k.work then
        -- the kernel's byte planes of the activations
        local b = new_buffer(nd.out .. "_work", nil, (k.work * spec.block * w.cols + 1) // 2)
        vars.work = ", (uint8_t *)" .. b.name
      end
      step(k.template or "linear", vars)

    elseif op == "half" then
      local t = act(nd.ins[1])
      local dest = destination(nd)
      local gr = result(nd, dest)
      local heads = dims[nd.shape:match("^S (%S+)")]
      step("take_half", { note = note(gr), out = dest.ptr, x = t.ptr, rows = rows_expr() .. " * " .. heads,
        d = dims.d, which = nd.half - 1, x_zp = t.grid.zero_point,
        rq = rq_const(nd, t.grid.scale * inv(gr), "s_in * (1/s_out)"), grid = grid_const(gr) })

    elseif op == "cat_halves" then
      local a, b = act(nd.ins[1]), act(nd.ins[2])
      local dest = destination(nd)
      local gr = result(nd, dest)
      local heads = dims[nd.shape:match("^S (%S+)")]
      step("concat_halves", { note = note(gr), out = dest.ptr, a = a.ptr, a_zp = a.grid.zero_point,
        a_rq = consts:rq(C .. "_" .. cname(nd.obs) .. "_RQ_A", fixed.rq(a.grid.scale * inv(gr)), "s_a * (1/s_out)"),
        b = b.ptr, b_zp = b.grid.zero_point,
        b_rq = consts:rq(C .. "_" .. cname(nd.obs) .. "_RQ_B", fixed.rq(b.grid.scale * inv(gr)), "s_b * (1/s_out)"),
        rows = rows_expr() .. " * " .. heads, h = dims.d2, grid = grid_const(gr) })

    elseif op == "mul_rope" then
      local t, tab = act(nd.ins[1]), act(nd.ins[2])
      local dest = destination(nd)
      local gr = result(nd, dest)
      local heads = dims[nd.shape:match("^S (%S+)")]
      step("mul_rows", { note = note(gr), out = dest.ptr, x = t.ptr, x_zp = t.grid.zero_point, table = tab.ptr,
        t_zp = tab.grid.zero_point, rows = rows_expr(), heads = heads, d = dims.d,
        rq = rq_const(nd, t.grid.scale * tab.grid.scale * inv(gr), "s_x * s_table * (1/s_out)"), grid = grid_const(gr) })

    elseif op == "add" then
      if not nd.obs then
        -- TICO keeps the residual sum in float; kiln does not round it at all
        T[nd.out] = { kind = "sum", terms = { nd.ins[1], nd.ins[2] } }
      else
        local terms = {}
        for _, name in ipairs(nd.ins) do
          if T[name].kind == "sum" then
            for _, t in ipairs(T[name].terms) do terms[#terms + 1] = t end
          else
            terms[#terms + 1] = name
          end
        end
        local recs = {}
        for i, name in ipairs(terms) do recs[i] = act(name) end
        local dest = destination(nd)
        local gr = result(nd, dest)
        local reals = {}
        for i, r in ipairs(recs) do reals[i] = r.grid.scale * inv(gr) end
        local c = recs[3]
        step("add", { note = note(gr), out = dest.ptr, a = recs[1].ptr, a_zp = recs[1].grid.zero_point,
          b = recs[2].ptr, b_zp = recs[2].grid.zero_point, c = c and c.ptr or "NULL", c_zp = c and c.grid.zero_point or 0,
          n = rows_expr() .. " * " .. width(nd.shape),
          rq = consts:add_rq(C .. "_" .. cname(nd.obs) .. "_ADD", fixed.add_rq(reals), nd.out .. " = " .. table.concat(terms, " + ")),
          grid = grid_const(gr) })
      end

    elseif op == "mul" then
      local a, b = act(nd.ins[1]), act(nd.ins[2])
      local dest = destination(nd)
      local gr = result(nd, dest)
      step("mul", { note = note(gr), out = dest.ptr, a = a.ptr, a_zp = a.grid.zero_point, b = b.ptr,
        b_zp = b.grid.zero_point, n = rows_expr() .. " * " .. width(nd.shape),
        rq = rq_const(nd, a.grid.scale * b.grid.scale * inv(gr), "s_a * s_b * (1/s_out)"), grid = grid_const(gr) })

    elseif op == "sigmoid" then
      local x = act(nd.ins[1])
      local dest = destination(nd)
      local gr = result(nd, dest)
      local levels = x.grid.qmax - x.grid.qmin + 1
      if levels <= 256 then
        -- few input codes: an exact table of TICO's float sigmoid, fake-quantized
        local tab = fixed.lookup_table(x.grid, gr, fixed.sigmoid)
        step("lookup", { note = note(gr), out = dest.ptr, x = x.ptr, n = rows_expr() .. " * " .. width(nd.shape),
          x_min = x.grid.qmin, table = consts:array(C .. "_" .. cname(nd.obs) .. "_TABLE", "s16", tab,
            string.format("sigmoid of each %s code, on the output grid", x.grid.dtype)) })
      else
        local lut = fixed.exp_lut(x.grid.scale, levels - 1)
        step("sigmoid", { note = note(gr), out = dest.ptr, x = x.ptr, x_zp = x.grid.zero_point,
          n = rows_expr() .. " * " .. width(nd.shape),
          lut = consts:exp_lut(C .. "_" .. cname(nd.obs) .. "_EXP", lut, "exp(-d * s_in) for sigmoid"),
          rq = rq_const(nd, 2.0 ^ -31 * inv(gr), "2^-31 * (1/s_out)"), grid = grid_const(gr) })
      end

    elseif op == "cache_cat" then
      -- present = cat(past, new) as two segments; the new part goes to
      -- [heads][rows][d] on the present grid, straight into new_k / new_v
      -- when their grid is the same (tied KV cache).
      local past, new = T[nd.ins[1]], act(nd.ins[2])
      local gr = obs_grid(nd.obs)
      local heads = dims.Hk
      local fresh
      for j = idx + 1, #g.nodes do
        local later = g.nodes[j]
        if later.op == "heads_first" and later.ins[1] == nd.ins[2] and outputs[later.out]
          and same_grid(obs_grid(later.obs), gr) then
          fresh = later.out
          written[later.out] = nd.obs
        end
      end
      local fresh_buffer
      if not fresh then
        fresh_buffer = new_buffer(nd.out .. "_new", "Hk S d")
        fresh = nd.out .. "_new"
      end
      pending_trace = { obs = spec.prefix .. nd.obs .. ".new", ptr = fresh, n = "rows * " .. width("Hk S d") }
      step("heads_first", { note = note(gr), out = fresh, x = new.ptr, rows = rows_expr(), heads = heads,
        d = dims.d, x_zp = new.grid.zero_point, rq = rq_const(nd, new.grid.scale * inv(gr), "s_in * (1/s_present)"),
        grid = grid_const(gr) })
      local past_ptr, past_buffer = "NULL", nil
      if past.kind == "cache" then
        use(past) -- read below, or by the attention
        past_ptr, past_buffer = past.ptr, past.buffer
        if not same_grid(past.grid, gr) then
          past_buffer = new_buffer(nd.out .. "_past", "Hk P d")
          step("requant_past", { note = note(gr), out = nd.out .. "_past", cache = past.ptr, heads = heads,
            max_seq = desc.max_seq, d = dims.d, in_zp = past.grid.zero_point,
            rq = consts:rq(C .. "_" .. cname(nd.obs) .. "_RQ_PAST", fixed.rq(past.grid.scale * inv(gr)), "s_past * (1/s_present)"),
            grid = grid_const(gr) })
          past_ptr = nd.out .. "_past"
        end
      end
      T[nd.out] = { kind = "present", past = past_ptr, past_buffer = past_buffer, fresh = fresh,
        fresh_buffer = fresh_buffer, grid = gr }

    elseif op == "qk" then
      -- qk -> add_mask -> softmax -> pv, fused per query row
      local n_mask, n_soft, n_pv = g.nodes[idx + 1], g.nodes[idx + 2], g.nodes[idx + 3]
      assert(n_mask.op == "add_mask" and n_mask.ins[1] == nd.out and n_soft.op == "softmax"
        and n_soft.ins[1] == n_mask.out and n_pv.op == "pv" and n_pv.ins[1] == n_soft.out,
        "planner: attention must be qk, add_mask, softmax, pv")
      skip[idx + 1], skip[idx + 2], skip[idx + 3] = true, true, true
      local q, pk, pv = act(nd.ins[1]), T[nd.ins[2]], T[n_pv.ins[2]]
      for _, present in ipairs({ pk, pv }) do
        if present.past_buffer then present.past_buffer.last = #steps + 1 end
        if present.fresh_buffer then present.fresh_buffer.last = #steps + 1 end
      end
      local g_logits, g_scores, g_probs = obs_grid(nd.obs), obs_grid(n_mask.obs), obs_grid(n_soft.obs)
      T[nd.out] = { kind = "fused" }
      T[n_mask.out] = { kind = "fused" }
      T[n_soft.out] = { kind = "side" }
      local dest = destination(n_pv)
      local g_out = result(n_pv, dest)
      local qk_kernel, pv_kernel, row_kernel =
        graph_plan.attention_kernels(spec.rules, desc, q.grid, pk.grid, pv.grid, g_probs)
      local row_words = desc.max_seq
      local rows_buf = new_buffer("attn_rows", nil, 3 * row_words)
      local lut = fixed.exp_lut(g_scores.scale, g_scores.qmax - g_scores.qmin)
      step(row_kernel and "attention_row" or "attention", {
        out = dest.ptr, q = q.ptr, q_zp = q.grid.zero_point, heads = dims.H, kv_heads = dims.Hk,
        qk_kernel = qk_kernel, pv_kernel = pv_kernel, row_kernel = row_kernel or "", requant_kernel = kernel("requant"),
        softmax_kernel = kernel("softmax_row"),
        group = dims.H // dims.Hk, d = dims.d, rows = rows_expr(), max_seq = desc.max_seq,
        k_past = pk.past, k_fresh = pk.fresh, k_zp = pk.grid.zero_point,
        v_past = pv.past, v_fresh = pv.fresh, v_zp = pv.grid.zero_point,
        scratch = rows_buf.name,
        note_logits = note(g_logits), note_scores = note(g_scores), note_probs = note(g_probs), note_out = note(g_out),
        rq_qk = consts:rq(C .. "_" .. cname(nd.obs) .. "_RQ", fixed.rq(q.grid.scale * pk.grid.scale * inv(g_logits)), "s_q * s_k * (1/s_logits)"),
        grid_logits = grid_const(g_logits),
        rq_mask = consts:rq(C .. "_" .. cname(n_mask.obs) .. "_RQ", fixed.rq(g_logits.scale * inv(g_scores)), "s_logits * (1/s_scores), mask 0"),
        grid_scores = grid_const(g_scores),
        lut = consts:exp_lut(C .. "_" .. cname(n_soft.obs) .. "_EXP", lut, "exp(-d * s_scores) for softmax"),
        rq_softmax = consts:rq(C .. "_" .. cname(n_soft.obs) .. "_RQ", fixed.rq(2.0 ^ -31 * inv(g_probs)), "2^-31 * (1/s_probs)"),
        grid_probs = grid_const(g_probs), probs_zp = g_probs.zero_point,
        rq_pv = consts:rq(C .. "_" .. cname(n_pv.obs) .. "_RQ", fixed.rq(g_probs.scale * pv.grid.scale * inv(g_out)), "s_p * s_v * (1/s_out)"),
        grid_out = grid_const(g_out),
      })

    elseif op == "heads_first" then
      if written[nd.out] then
        steps[#steps + 1] = { template = "alias", vars = { note = note(obs_grid(nd.obs)), out = nd.out,
          from = "the new part of " .. written[nd.out] .. " (same grid)" } }
      else
        local x = act(nd.ins[1])
        local dest = destination(nd)
        local gr = result(nd, dest)
        step("heads_first", { note = note(gr), out = dest.ptr, x = x.ptr, rows = rows_expr(), heads = dims.Hk,
          d = dims.d, x_zp = x.grid.zero_point, rq = rq_const(nd, x.grid.scale * inv(gr), "s_in * (1/s_out)"),
          grid = grid_const(gr) })
      end

    else
      fail.raise(nil, spec.prefix .. tostring(nd.obs), "op '" .. op .. "' has no integer kernel")
    end
    ::continue::
  end

  local out_grids = {}
  for name in pairs(outputs) do
    if T[name] and T[name].grid then out_grids[name] = T[name].grid end
  end
  return { steps = steps, buffers = buffers, kind = spec.kind, block = spec.block, has_past = has_past,
    output_grids = out_grids, weight_constants = weight_constants }
end

return graph_plan
