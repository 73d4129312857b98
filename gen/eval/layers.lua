-- Layer-by-layer measurement of generated integer kernels.
--
-- For each decoder layer and each adapter (prefill, decode, append-prefill),
-- the integer layer and the references get identical inputs: the layer's
-- input as the fake-quant model computed it on real text (codes on the
-- layer's input grid), and the same for the past K/V. Then:
--   * against the exact fake-quant reference (TICO's graph and fake
--     quantization, arithmetic in double: runtime/float/graph_f64.c): how many
--     output codes (hidden, new_k, new_v) are within 1 LSB, and the largest
--     deviation;
--   * against the float layer: TICO's mean |diff| and PEIR, and a scatter plot.

local grids = require "plan.grids"
local host = require "eval.host"
local report = require "eval.report"

local layers = {}

-- The int16 codes of a float tensor on a grid.
local function codes(t, g)
  return t:quantize(g.scale, g.zero_point, g.qmin, g.qmax, "s16")
end
layers.codes = codes

-- The layer's cache as the generated code holds it: [Hk][max_seq][d] codes,
-- the first n slots from past codes [Hk][n][d], the rest zero.
function layers.cache_image(past, heads, n, max_seq, d)
  local parts = {}
  local row = n * d * 2
  local pad = string.rep("\0", (max_seq - n) * d * 2)
  for h = 0, heads - 1 do
    parts[#parts + 1] = past:sub(h * row + 1, (h + 1) * row)
    parts[#parts + 1] = pad
  end
  return table.concat(parts)
end

function layers.grids(qp, l)
  local prefix = string.format("model.layers.%d.", l)
  local x = l == 0 and "model.embed_tokens.act_out" or string.format("model.layers.%d.mlp_residual_out", l - 1)
  return {
    x = grids.of(qp, x),
    y = grids.of(qp, prefix .. "mlp_residual_out"),
    k = grids.of(qp, prefix .. "self_attn.new_k"),
    v = grids.of(qp, prefix .. "self_attn.new_v"),
  }
end

-- The grid layer l's input RMSNorm quantizes its input on.
function layers.act_in_grid(qp, l)
  return grids.of(qp, string.format("model.layers.%d.input_layernorm.act_in", l))
end

-- Runs adapter `kind` of layer l in the generated code: returns y, new_k, new_v codes.
function layers.run_int(ctx, l, kind, rows, past_len, x_codes, cache_k, cache_v)
  local d = ctx.desc
  local input = string.pack("<i4i4", rows, past_len) .. x_codes .. (cache_k or "") .. (cache_v or "")
  local out = host.run(ctx.dir, string.format("layer %d %s", l, kind), input, ctx.runner)
  local ny, nkv = rows * d.hidden * 2, d.kv_heads * rows * d.head_dim * 2
  assert(#out == ny + 2 * nkv, "kiln_host layer: unexpected output size")
  return out:sub(1, ny), out:sub(ny + 1, ny + nkv), out:sub(ny + nkv + 1)
end

-- The token counts of the three adapters on a story of n tokens.
local function block_sizes(desc, n)
  local Q = desc.append_len
  local S = math.min(desc.prefill_len, n - 1 - Q, desc.max_seq - 1 - Q)
  assert(S >= 1, "the evaluation story is too short")
  return S, Q
end

-- At most this many points of a layer's hidden output are kept for plots
-- (an HTML scatter of ~2000 dots stays light and readable).
layers.MAX_POINTS = 2000

-- subsample(xs, ys, n) -> { xs, ys }: every k-th pair, k the smallest stride
-- that keeps at most n; deterministic, and it spans the whole tensor (all
-- rows and channels) rather than its first rows.
function layers.subsample(xs, ys, n)
  local stride = math.max(1, (#xs + n - 1) // n)
  local out = { xs = {}, ys = {} }
  for i = 1, #xs, stride do
    out.xs[#out.xs + 1], out.ys[#out.ys + 1] = xs[i], ys[i]
  end
  return out
end

-- compare(ctx) -> results, text. ctx: { native, model (float), fq (native
-- fake-quant Model), qp, desc (with the generation's static shapes), dir
-- (built output), tokens (one story) }. Each result also has r.points, the
-- hidden output's float reference (xs) and dequantized codes (ys), subsampled.
function layers.compare(ctx)
  local native, desc, qp, tok = ctx.native, ctx.desc, ctx.qp, ctx.tokens
  local D, Hk, hd = desc.hidden, desc.kv_heads, desc.head_dim
  local S, Q = block_sizes(desc, #tok)
  local fq = ctx.fq
  local calls = {
    { kind = "prefill", first = 1, rows = S, past = 0 },
    { kind = "decode", first = S + 1, rows = 1, past = S },
    { kind = "append", first = S + 2, rows = Q, past = S + 1 },
  }
  for _, c in ipairs(calls) do
    local ids = table.move(tok, c.first, c.first + c.rows - 1, 1, {})
    c.logits, c.capture = fq:forward(ids, c.past, false, true)
  end

  local results, text = {}, {}
  local empty = native.tensor({})
  for _, c in ipairs(calls) do
    for l = 0, desc.layers - 1 do
      local g = layers.grids(qp, l)
      local rows = c.rows
      local x = codes(c.capture:slice(l * rows * D, rows * D), g.x)
      local past_k, past_v, past_kc, past_vc, cache_k, cache_v = empty, empty, nil, nil, nil, nil
      if c.past > 0 then
        local k, v = fq:cache(l, 0, c.past)
        past_kc, past_vc = codes(k, g.k), codes(v, g.v)
        cache_k = layers.cache_image(past_kc, Hk, c.past, desc.max_seq, hd)
        cache_v = layers.cache_image(past_vc, Hk, c.past, desc.max_seq, hd)
        past_k = native.dequantize(past_kc, g.k.scale, g.k.zero_point)
        past_v = native.dequantize(past_vc, g.v.scale, g.v.zero_point)
      end
      local yi, ki, vi = layers.run_int(ctx, l, c.kind, rows, c.past, x, cache_k, cache_v)
      -- the exact fake-quant reference on the same codes
      local ye, ke, ve = fq:run_layer_exact(l, c.past, x, g.x, past_kc or "", g.k, past_vc or "", g.v)
      local ref = { hidden = codes(ye, g.y), new_k = codes(ke, g.k), new_v = codes(ve, g.v) }
      -- float reference on the same inputs
      local yf, kf, vf = ctx.model.native:run_layer(l, native.dequantize(x, g.x.scale, g.x.zero_point), c.past,
        past_k, past_v)
      local r = { layer = l, adapter = c.kind, rows = rows, past = c.past }
      local box = {}
      for _, t in ipairs({
        { "hidden", yi, yf, g.y }, { "new_k", ki, kf, g.k }, { "new_v", vi, vf, g.v },
      }) do
        local name, int_codes, float_ref, gr = t[1], t[2], t[3], t[4]
        local within, worst = native.code_diff(int_codes, ref[name])
        local q = native.dequantize(int_codes, gr.scale, gr.zero_point)
        local mean_abs, max_abs, lo, hi = native.diff_stats(float_ref, q)
        r[name] = { within_1lsb = within, max_lsb = worst, mean_abs = mean_abs, max_abs = max_abs, lo = lo, hi = hi }
        report.error_rows(box, name, mean_abs, max_abs, lo, hi)
        if name == "hidden" then
          local xs, ys = float_ref:to_table(), q:to_table()
          r.scatter = report.scatter(xs, ys)
          r.points = layers.subsample(xs, ys, layers.MAX_POINTS)
        end
      end
      box[#box + 1] = { "vs fake-quant", string.format("hidden %.2f%% within 1 LSB (max %d), new_k %.2f%% (max %d), new_v %.2f%% (max %d)",
        100 * r.hidden.within_1lsb, r.hidden.max_lsb, 100 * r.new_k.within_1lsb, r.new_k.max_lsb,
        100 * r.new_v.within_1lsb, r.new_v.max_lsb) }
      local title = string.format("%s DecoderLayer %d, %d token%s after %d", c.kind:sub(1, 1):upper() .. c.kind:sub(2),
        l, rows, rows == 1 and "" or "s", c.past)
      text[#text + 1] = report.box(title, box)
      text[#text + 1] = r.scatter
      results[#results + 1] = r
    end
  end
  return results, table.concat(text, "\n")
end

-- One graph, one set of qparams: the last token of a prefill over S + 1
-- tokens against prefill over S tokens followed by decode of the last one,
-- for every layer, on identical inputs. Returns { layer, max_lsb } per layer.
function layers.prefill_vs_decode(ctx)
  local desc, qp, tok = ctx.desc, ctx.qp, ctx.tokens
  local D, Hk, hd = desc.hidden, desc.kv_heads, desc.head_dim
  local S = math.min(desc.prefill_len, #tok) - 1
  assert(S >= 1, "prefill_len must be at least 2")
  local _, capture = ctx.fq:forward(table.move(tok, 1, S + 1, 1, {}), 0, false, true)
  local out = {}
  for l = 0, desc.layers - 1 do
    local g = layers.grids(qp, l)
    local x = codes(capture:slice(l * (S + 1) * D, (S + 1) * D), g.x)
    local y_full, k_full, v_full = layers.run_int(ctx, l, "prefill", S + 1, 0, x)
    local _, k_pre, v_pre = layers.run_int(ctx, l, "prefill", S, 0, x:sub(1, S * D * 2))
    local y_dec, k_dec, v_dec = layers.run_int(ctx, l, "decode", 1, S, x:sub(S * D * 2 + 1),
      layers.cache_image(k_pre, Hk, S, desc.max_seq, hd), layers.cache_image(v_pre, Hk, S, desc.max_seq, hd))
    -- the last row of the full prefill, and its K/V in each head
    local last_k, last_v = {}, {}
    for h = 0, Hk - 1 do
      local at = (h * (S + 1) + S) * hd * 2
      last_k[#last_k + 1] = k_full:sub(at + 1, at + hd * 2)
      last_v[#last_v + 1] = v_full:sub(at + 1, at + hd * 2)
    end
    local worst = 0
    for _, pair in ipairs({ { y_full:sub(S * D * 2 + 1), y_dec }, { table.concat(last_k), k_dec }, { table.concat(last_v), v_dec } }) do
      local _, w = ctx.native.code_diff(pair[1], pair[2])
      worst = math.max(worst, w)
    end
    out[#out + 1] = { layer = l, tokens = S, max_lsb = worst }
  end
  return out
end

return layers
