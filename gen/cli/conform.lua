-- kiln conform MODEL TICO_DIR: conformance with TICO 0.3.0's own outputs
-- (gen/eval/conformance.lua): kiln's statistics on TICO's tokens against
-- TICO's qparams.json, and the integer C generated from that file against
-- TICO's fake-quant layer outputs and error figures. Prints TICO's boxes side
-- by side with kiln's, then `name value` lines; exits 1 if a check fails.

local fail = require "util.fail"
local checkpoint = require "read.checkpoint"
local common = require "cli.common"
local host = require "eval.host"
local report = require "eval.report"
local conformance = require "eval.conformance"

local verb = {
  summary = "check kiln against TICO 0.3.0's qparams and layer outputs (a tico-golden folder)",
  synopsis = "MODEL TICO_DIR [--target T] [--dtype T]",
  positional = { "MODEL", "TICO_DIR" },
  options = {
    common.TARGET_OPTION,
    common.DTYPE_OPTION,
  },
}

local function pct(x) return string.format("%.2f %%", 100 * x) end

local function statistics_box(s, t)
  return report.titled_box(string.format("Statistics: kiln's calibration on TICO's %d samples, %d decode steps",
    #t.tokens, t.decode_steps), {
    { "observers", string.format("%d (TICO %d)%s", s.observers, s.tico_observers,
      s.same_order and ", in TICO's order" or ", NOT in TICO's order") },
    { "dtypes, qschemes", (#s.spec_mismatch == 0 and "all equal" or (#s.spec_mismatch .. " differ, first "
      .. s.spec_mismatch[1])) .. " (from " .. s.specs_from .. ")" },
    { "zero points", string.format("%d of %d equal", s.zp_count - s.zp_mismatch, s.zp_count) },
    { "scale, min, max", string.format("worst relative difference %.3g%s (tolerance %g)", s.worst,
      s.worst_at and (" at " .. s.worst_at) or "", conformance.STAT_TOLERANCE) },
  })
end

local function layer_box(r)
  local rows = {}
  local names = r.phase == "prefill" and { "hidden" } or { "hidden", "new_k", "new_v" }
  for _, name in ipairs(names) do
    local a = r.tensors[name]
    local pad = string.rep(" ", 6 - #name)
    rows[#rows + 1] = { string.format("Mean |diff| (%s)%s", name, pad), string.format("%.6f    TICO %s", a.kiln.mean,
      a.tico and a.tico.mean and string.format("%.6f", a.tico.mean) or "-") }
    rows[#rows + 1] = { string.format("PEIR        (%s)%s", name, pad), string.format("%.6f %%  TICO %s", a.kiln.peir,
      a.tico and a.tico.peir and string.format("%.6f %%", a.tico.peir) or "-") }
  end
  for _, name in ipairs({ "hidden", "new_k", "new_v" }) do
    local a = r.tensors[name]
    local pad = string.rep(" ", 6 - #name)
    rows[#rows + 1] = { string.format("codes       (%s)%s", name, pad), string.format(
      "%s within 1 LSB of TICO (max %d); %s of kiln's exact reference (max %d)", pct(a.within), a.max_lsb,
      pct(a.within_exact), a.max_lsb_exact) }
    if a.far > 0 or a.tico_within_double < 1 then
      rows[#rows + 1] = { string.format("TICO        (%s)%s", name, pad), string.format(
        "%s within 1 LSB of the same layer in double on TICO's input (%s equal to it in float32 summed in "
          .. "kiln's order); of the %d codes over 1 LSB from kiln, %d are over 1 LSB from double",
        pct(a.tico_within_double), pct(a.f32_equal), a.far, a.far_tico_float32) }
    end
  end
  local title = r.phase == "prefill" and string.format("Prefill DecoderLayer %d, %d tokens", r.layer, r.rows)
    or string.format("Decode DecoderLayer %d, position %d", r.layer, r.past)
  return report.box(title, rows)
end

function verb.run(opts, context)
  local native = context.native
  local ckpt = checkpoint.open(opts.MODEL, opts.dtype)
  local t = conformance.open(opts.TICO_DIR, ckpt.description)
  print(string.format("TICO conformance: %s (%s, preset %s)", opts.TICO_DIR, tostring(t.calibration.tool),
    tostring(t.preset)))
  print("")
  local stats = conformance.statistics(native, ckpt, t)
  print(statistics_box(stats, t))
  local results
  if t.layers then
    host.with_model(context, { model_path = opts.MODEL, dtype = opts.dtype, qparams_path = t.qparams_path,
      target = opts.target, prefill_len = #t.layers.prompt_token_ids,
      layer_input_grids = conformance.input_grids(t.qp, t) },
      function(g, dir)
        results = conformance.layers({ native = native, g = g, dir = dir, runner = g.rules.build }, t)
      end)
    for _, r in ipairs(results) do
      print("")
      print(layer_box(r))
    end
  end
  print("")
  print(string.format("statistics_worst_relative %.3g", stats.worst))
  print(string.format("statistics_zero_point_mismatches %d", stats.zp_mismatch))
  for _, r in ipairs(results or {}) do
    for _, name in ipairs({ "hidden", "new_k", "new_v" }) do
      local a = r.tensors[name]
      local key = string.format("L%d_%s_%s", r.layer, r.phase, name)
      print(string.format("%s_within_1lsb_tico %.6f", key, a.within))
      print(string.format("%s_within_1lsb_exact %.6f", key, a.within_exact))
      print(string.format("%s_over_1lsb_tico %d", key, a.far))
      print(string.format("%s_tico_within_1lsb_double %.6f", key, a.tico_within_double))
      print(string.format("%s_tico_equal_float32 %.6f %d", key, a.f32_equal, a.f32_max))
      print(string.format("%s_over_1lsb_tico_float32 %d", key, a.far_tico_float32))
      print(string.format("%s_mean_abs %.6f", key, a.kiln.mean))
      print(string.format("%s_peir_pct %.6f", key, a.kiln.peir))
    end
  end
  local failed = conformance.verdicts(stats, results, t.preset)
  if #failed > 0 then
    fail.raise(opts.TICO_DIR, "conformance", string.format("%d check%s fail: %s", #failed, #failed == 1 and "" or "s",
      table.concat(failed, "; ")))
  end
  print("conform pass")
end

return verb
