-- Conformance with TICO 0.3.0's own outputs, from a folder laid out as
-- ../shared/tico-golden/<model>/<preset>/ is (its README explains each file):
--
--   statistics  kiln's calibration on TICO's token ids (TICO's decode steps,
--               untied KV observers, as TICO has them) against TICO's
--               qparams.json: the same observers in the same order, the same
--               dtypes and qschemes, equal zero points, scales and min/max
--               within STAT_TOLERANCE (relative);
--   layers      the integer C generated from TICO's qparams.json, each golden
--               layer's prefill adapter on the golden input and one decode
--               step after the golden past, against TICO's fake-quant outputs:
--               output codes within 1 LSB of TICO's; beside them kiln's exact
--               reference in double, on the same codes and on TICO's own
--               float input, which tells kiln's rounding from TICO's float32;
--   error boxes mean |diff| and PEIR of the integer outputs against TICO's
--               float graph (the fpref files), against TICO's own figures
--               (layers/error_summary.plain.txt).
--
-- The golden inputs are float: TICO's layer fake-quantizes its input on
-- input_layernorm.act_in for the norm and adds it raw to the residual. The
-- integer layer takes codes. So each checked layer is generated with an
-- input grid 2^e times finer than its act_in grid (as fine as int16 allows:
-- e = 7 for uint8, 0 for int16), and each input value gets the code nearest
-- to it among those that requantize to TICO's own act_in code (input_codes
-- below): the norm sees exactly TICO's codes, the residual the input within
-- 1/2^e of an act_in step. With the previous layer's uint8 grid instead, the
-- input's rounding alone would move a tenth of the output codes by more than
-- 1 LSB.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local token_lists = require "read.token_lists"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local qparams_file = require "calib.qparams_file"
local float_model = require "model.float_model"
local qparams = require "calib.qparams"
local layers = require "eval.layers"

local conformance = {}

conformance.STAT_TOLERANCE = 1e-5 -- relative, on scale, min and max
conformance.WITHIN_1LSB = { w8a8 = 0.99 } -- share of output codes within 1 LSB of TICO's, per preset
conformance.WITHIN_1LSB_EXACT = 0.99 -- share within 1 LSB of kiln's exact reference on the same codes
-- kiln's error figures may exceed TICO's by this share of TICO's value; PEIR,
-- one element's error, also by one step of the output grid (an input the
-- integer layer holds on a grid, where TICO's adds the raw float, can move
-- that element by a code)
conformance.BOX_MARGIN = 0.02

local function read_json(path)
  local doc, err = json.decode(files.read(path))
  if type(doc) ~= "table" then fail.raise(path, "json", tostring(err or "not a JSON object")) end
  return doc
end

-- The observer paths of a qparams.json in the order the file lists them.
local function file_order(text)
  local list = {}
  local body = text:match('"observers"%s*:%s*(%b{})')
  for path in (body or ""):gmatch('\n%s*"([^"]+)"%s*:%s*{') do list[#list + 1] = path end
  return list
end

local function relative(a, b)
  if a == b then return 0 end
  return math.abs(a - b) / math.max(math.abs(b), 1e-30)
end

-- The golden folder: its qparams.json (raw and as kiln reads it), tokens, layer manifest.
function conformance.open(dir, desc)
  local t = { dir = dir, qparams_path = dir .. "/qparams.json" }
  t.text = files.read(t.qparams_path)
  t.doc = read_json(t.qparams_path)
  t.qp = qparams_file.read(t.qparams_path, desc) -- what kiln gen accepts
  t.calibration = type(t.doc.calibration) == "table" and t.doc.calibration or {}
  t.preset = t.calibration.preset
  t.tokens = token_lists.read(dir .. "/calib_token_ids.txt", desc.vocab)
  t.decode_steps = math.tointeger(t.calibration.decode_steps) or 8
  t.desc = desc
  if files.exists(dir .. "/layers/manifest.json") then t.layers = read_json(dir .. "/layers/manifest.json") end
  return t
end

-- statistics(native, ckpt, t) -> result: kiln's calibration on TICO's tokens against TICO's file.
function conformance.statistics(native, ckpt, t)
  local desc = ckpt.description
  local entries = observers.resolve(desc.layers, observers.PRESETS[t.preset] and t.preset or "w8a8")
  local specs_from = observers.PRESETS[t.preset] and ("kiln's preset " .. t.preset) or "TICO's file"
  if not observers.PRESETS[t.preset] then
    -- a configuration kiln has no preset for: take each observer's spec from the file
    for _, e in ipairs(entries) do
      local o = t.qp.observers[e.path]
      e.dtype, e.qscheme, e.axis = o.dtype, o.qscheme, o.axis
    end
  end
  local longest = 0
  for _, ids in ipairs(t.tokens) do longest = math.max(longest, #ids) end
  local model = float_model.load(native, ckpt, { max_seq = math.min(desc.max_seq, longest + t.decode_steps) })
  local ranges = calibrate.collect(native, model, entries, t.tokens, t.decode_steps)
  calibrate.attach_ranges(entries, ranges, model)
  calibrate.compute(entries) -- untied KV observers, as TICO's

  local r = { observers = #entries, tico_observers = 0, specs_from = specs_from, spec_mismatch = {},
    zp_mismatch = 0, zp_count = 0, worst = 0 }
  local order = file_order(t.text)
  r.tico_observers = #order
  r.same_order = #order == #entries
  for i, e in ipairs(entries) do
    if order[i] ~= e.path then r.same_order = false end
  end
  for _, e in ipairs(entries) do
    local o = t.doc.observers[e.path]
    local q = t.qp.observers[e.path]
    if e.dtype ~= q.dtype or e.qscheme ~= q.qscheme then r.spec_mismatch[#r.spec_mismatch + 1] = e.path end
    local function each(field, fn)
      local a, b = e[field], o[field]
      if type(a) ~= "table" then a, b = { a }, { b } end
      for c = 1, #a do fn(a[c], b[c], c) end
    end
    each("zero_point", function(a, b)
      r.zp_count = r.zp_count + 1
      if a ~= b then r.zp_mismatch = r.zp_mismatch + 1 end
    end)
    for _, field in ipairs({ "scale", "min", "max" }) do
      each(field, function(a, b, c)
        local d = relative(a, b)
        if d > r.worst then r.worst, r.worst_at = d, string.format("%s %s%s", e.path, field, type(e[field]) == "table"
          and ("[" .. (c - 1) .. "]") or "") end
      end)
    end
  end
  r.pass = r.same_order and #r.spec_mismatch == 0 and r.zp_mismatch == 0 and r.worst <= conformance.STAT_TOLERANCE
  return r
end

-- A golden file of the layer manifest as a float tensor (count values from element first).
local function golden(native, t, name, first, count)
  local f = t.layers.files[name]
  if not f then fail.raise(t.dir .. "/layers/manifest.json", "files." .. name, "missing") end
  local path = t.dir .. "/" .. f.file
  local total = 1
  for _, n in ipairs(f.shape) do total = total * math.tointeger(n) end
  local whole, err = native.map_tensor(path, 0, total, "fp32")
  if not whole then fail.raise(path, nil, err) end
  return whole:slice(first or 0, count or total), f.shape
end

-- Rows [0, n) of each head of a [1][heads][S][d] golden tensor, as one tensor's codes.
local function head_rows(native, t, name, n, g)
  local _, shape = golden(native, t, name, 0, 0)
  local heads, S, d = math.tointeger(shape[2]), math.tointeger(shape[3]), math.tointeger(shape[4])
  local parts = {}
  for h = 0, heads - 1 do parts[#parts + 1] = layers.codes(golden(native, t, name, h * S * d, n * d), g) end
  return table.concat(parts)
end

local function head_rows_float(native, t, name, n)
  local _, shape = golden(native, t, name, 0, 0)
  local heads, S, d = math.tointeger(shape[2]), math.tointeger(shape[3]), math.tointeger(shape[4])
  local parts = {}
  for h = 0, heads - 1 do parts[#parts + 1] = golden(native, t, name, h * S * d, n * d):to_table() end
  local all = {}
  for _, p in ipairs(parts) do table.move(p, 1, #p, #all + 1, all) end
  return native.tensor(all)
end

-- The input grid of layer l: its act_in grid's scale divided by 2^e, zero
-- point 0, int16; and e.
function conformance.input_grid(qp, l)
  local act = layers.act_in_grid(qp, l)
  local reach = math.max(act.zero_point - act.qmin, act.qmax - act.zero_point)
  local e = 0
  while e < 14 and reach * 2 ^ (e + 1) + 2 ^ e <= 32767 do e = e + 1 end
  return { path = string.format("the golden input of layer %d (%s / 2^%d)", l, act.path, e), dtype = "int16",
    scale = act.scale * 2.0 ^ -e, zero_point = 0, qmin = -32768, qmax = 32767, per_channel = false }, e, act
end

-- input_codes(native, x, grid, e, act) -> int16 codes of the float tensor x
-- on grid: per value, the code nearest to it whose requantization to act
-- (a step of 2^e codes, never a tie) is TICO's code of the value on act.
function conformance.input_codes(native, x, grid, e, act)
  local values = x:to_table()
  local tico = { string.unpack("<" .. string.rep("i2", #values), layers.codes(x, act)) }
  local half, step = e > 0 and 2 ^ (e - 1) or 0, 2 ^ e
  local out = {}
  for i, v in ipairs(values) do
    local c = tico[i] - act.zero_point
    local lo = tico[i] == act.qmin and -32768 or math.tointeger(c * step - half + (e > 0 and 1 or 0))
    local hi = tico[i] == act.qmax and 32767 or math.tointeger(c * step + half - (e > 0 and 1 or 0))
    local q = math.floor(v / grid.scale + 0.5)
    out[i] = math.max(lo, math.min(hi, math.max(-32768, math.min(32767, q))))
  end
  return string.pack("<" .. string.rep("i2", #out), table.unpack(out))
end

-- The input grids of the golden layers, for generation.
function conformance.input_grids(qp, t)
  local grids = {}
  for _, lv in ipairs(t.layers.layers) do
    local l = math.tointeger(lv)
    grids[l] = conformance.input_grid(qp, l)
  end
  return grids
end

-- Compares integer codes with TICO's and with the two double references;
-- the elements more than 1 LSB from TICO are counted, and those of them
-- where TICO's float32 result is itself over 1 LSB from the same layer in
-- double on TICO's own input (TICO's arithmetic, not kiln's).
local function agreement(native, int, tico, exact, exact_tico_input)
  local a = {}
  a.within, a.max_lsb = native.code_diff(int, tico)
  a.within_exact, a.max_lsb_exact = native.code_diff(int, exact)
  a.tico_within_double = native.code_diff(tico, exact_tico_input)
  local n = #int // 2
  local fmt = "<" .. string.rep("i2", n)
  local iv, tv, dv = { string.unpack(fmt, int) }, { string.unpack(fmt, tico) }, { string.unpack(fmt, exact_tico_input) }
  a.far, a.far_tico_float32 = 0, 0
  for k = 1, n do
    if math.abs(iv[k] - tv[k]) > 1 then
      a.far = a.far + 1
      if math.abs(tv[k] - dv[k]) > 1 then a.far_tico_float32 = a.far_tico_float32 + 1 end
    end
  end
  a.count = n
  return a
end

-- TICO's figures from error_summary.plain.txt: [layer][phase][tensor] = { mean, peir } (PEIR in %).
function conformance.tico_boxes(path)
  local out, layer, phase = {}, nil, nil
  for line in files.read(path):gmatch("[^\n]+") do
    local l, ph = line:match("^== %S+ layer (%d+): (%a+)")
    if l then
      layer, phase = tonumber(l), ph
      out[layer] = out[layer] or {}
      out[layer][phase] = {}
    elseif layer then
      -- "│ Mean |diff|: v", "│ PEIR        (new_k) : v %"
      local label, v = line:match("^│ (.-)%s*: ([%d.]+)")
      if label then
        local box = out[layer][phase]
        local name = label:match("%(([%w_]+)%)") or "hidden"
        box[name] = box[name] or {}
        box[name][label:match("^Mean") and "mean" or "peir"] = tonumber(v)
      end
    end
  end
  return out
end

-- Mean |diff| and PEIR (%) of q against the float reference ref, TICO's
-- way; and one step of q's grid in the same unit as PEIR.
local function errors(native, ref, q, scale)
  local mean, max_abs, lo, hi = native.diff_stats(ref, q)
  local interval = hi - lo
  if interval == 0 then interval = 1.0 end
  return { mean = mean, peir = max_abs / interval * 100, step_pct = scale / interval * 100 }
end

-- layers(ctx, t) -> results per golden layer and phase. ctx: { native, g
-- (generate.run's result for TICO's qparams, generated with input_grids),
-- dir (built), runner }.
function conformance.layers(ctx, t)
  local native, g = ctx.native, ctx.g
  local desc, qp = g.desc, g.qp
  local D, Hk, d = desc.hidden, desc.kv_heads, desc.head_dim
  local m = t.layers
  local n = #m.prompt_token_ids
  local pos = math.tointeger(m.decode_position)
  local fq = float_model.with_fake_quant(native, g.model, qp)
  local tico_box = files.exists(t.dir .. "/layers/error_summary.plain.txt")
    and conformance.tico_boxes(t.dir .. "/layers/error_summary.plain.txt") or {}
  local run = { native = native, desc = desc, dir = ctx.dir, runner = ctx.runner }
  local results = {}
  for _, lv in ipairs(m.layers) do
    local l = math.tointeger(lv)
    local gr = layers.grids(qp, l)
    local e, act
    gr.x, e, act = conformance.input_grid(qp, l)
    local P = "L" .. l .. "_"
    for _, phase in ipairs({ "prefill", "decode" }) do
      local rows = phase == "prefill" and n or 1
      local past = phase == "prefill" and 0 or pos
      local x_float = golden(native, t, P .. phase .. "_in_hidden", 0, rows * D)
      local x = conformance.input_codes(native, x_float, gr.x, e, act)
      local cache_k, cache_v, pk, pv = nil, nil, "", ""
      if past > 0 then
        pk = head_rows(native, t, P .. "decode_in_past_k", past, gr.k)
        pv = head_rows(native, t, P .. "decode_in_past_v", past, gr.v)
        cache_k = layers.cache_image(pk, Hk, past, desc.max_seq, d)
        cache_v = layers.cache_image(pv, Hk, past, desc.max_seq, d)
      end
      local yi, ki, vi = layers.run_int(run, l, phase, rows, past, x, cache_k, cache_v)
      local ye, ke, ve = fq:run_layer_exact(l, past, x, gr.x, pk, gr.k, pv, gr.v)
      local yt, kt, vt = fq:run_layer_exact(l, past, x_float, gr.x, pk, gr.k, pv, gr.v)
      -- and TICO's arithmetic as kiln's float32 executor does it, on TICO's input
      local empty = native.tensor({})
      local yf, kf, vf = fq:run_layer(l, x_float, past,
        past > 0 and native.dequantize(pk, gr.k.scale, gr.k.zero_point) or empty,
        past > 0 and native.dequantize(pv, gr.v.scale, gr.v.zero_point) or empty)
      local r = { layer = l, phase = phase, rows = rows, past = past, tensors = {} }
      for _, spec in ipairs({
        { "hidden", yi, ye, yt, yf, gr.y, P .. phase .. "_out_hidden", P .. "fpref_" .. phase .. "_out_hidden" },
        { "new_k", ki, ke, kt, kf, gr.k, P .. phase .. "_out_new_k", P .. "fpref_" .. phase .. "_out_new_k" },
        { "new_v", vi, ve, vt, vf, gr.v, P .. phase .. "_out_new_v", P .. "fpref_" .. phase .. "_out_new_v" },
      }) do
        local name, int, exact, exact_t, f32_t, grid, tico_file, fp_file = table.unpack(spec)
        local tico, fp
        if name == "hidden" then
          tico = layers.codes(golden(native, t, tico_file, 0, rows * D), grid)
          fp = golden(native, t, fp_file, 0, rows * D)
        else
          tico = head_rows(native, t, tico_file, rows, grid)
          fp = head_rows_float(native, t, fp_file, rows)
        end
        local a = agreement(native, int, tico, layers.codes(exact, grid), layers.codes(exact_t, grid))
        a.f32_within, a.f32_max, _, a.f32_equal = native.code_diff(layers.codes(f32_t, grid), tico)
        a.kiln = errors(native, fp, native.dequantize(int, grid.scale, grid.zero_point), grid.scale)
        a.tico = tico_box[l] and tico_box[l][phase] and tico_box[l][phase][name] or nil
        r.tensors[name] = a
      end
      results[#results + 1] = r
    end
  end
  return results
end

-- verdicts(stats, layer_results, preset) -> list of failed checks (strings).
function conformance.verdicts(stats, results, preset)
  local failed = {}
  if stats and not stats.pass then failed[#failed + 1] = "statistics" end
  local need = conformance.WITHIN_1LSB[preset]
  for _, r in ipairs(results or {}) do
    for _, name in ipairs({ "hidden", "new_k", "new_v" }) do
      local a = r.tensors[name]
      local where = string.format("layer %d %s %s", r.layer, r.phase, name)
      if need and a.within < need then failed[#failed + 1] = where .. " within 1 LSB of TICO" end
      if a.within_exact < conformance.WITHIN_1LSB_EXACT then
        failed[#failed + 1] = where .. " within 1 LSB of kiln's exact reference"
      end
      if a.tico then
        local m = 1 + conformance.BOX_MARGIN
        if a.tico.mean and a.kiln.mean > a.tico.mean * m + 5e-7 then
          failed[#failed + 1] = where .. " mean |diff| above TICO's"
        end
        if a.tico.peir and a.kiln.peir > math.max(a.tico.peir * m, a.tico.peir + a.kiln.step_pct) + 5e-7 then
          failed[#failed + 1] = where .. " PEIR above TICO's"
        end
      end
    end
  end
  return failed
end

return conformance
