-- Conformance with TICO 0.3.0's own outputs (../shared/tico-golden/, its
-- README explains every file): TICO's scale rule, kiln's statistics on
-- TICO's tokens, TICO's qparams.json imported and run, and `kiln conform`
-- (the generated integer layers against TICO's fake-quant outputs and error
-- boxes) on each golden set. Pending without ../shared.

local support = require "support"
local cjson = require "cjson"
local json = require "util.json"
local f32 = require "util.f32"
local qparams = require "calib.qparams"

local GOLDEN = support.shared .. "/tico-golden"
local SETS = {
  { dir = "stories260K/w8a16", model = "hf/stories260K-fp32", preset = "w8a16" },
  { dir = "stories260K/w8a8", model = "hf/stories260K-fp32", preset = "w8a8" },
  { dir = "rand-llama-h256/w8a16", model = "hf/rand-llama-h256-fp32", preset = "w8a16" },
}

local function have(path)
  if support.exists(path) then return true end
  pending(path .. " is not there (../shared beside the checkout)")
  return false
end

local ok = support.kiln_ok

local function figures(out)
  local t = {}
  for name, value in out:gmatch("\n([%w_]+) (%S+)") do t[name] = tonumber(value) end
  return t
end

describe("TICO 0.3.0 conformance", function()
  after_each(function() support.cleanup() end)

  it("computes every (scale, zero point) of TICO's files from their min/max bit for bit", function()
    local pairs_checked = 0
    for _, set in ipairs(SETS) do
      local path = GOLDEN .. "/" .. set.dir .. "/qparams.json"
      if not have(path) then return end
      local doc = json.decode(support.read(path))
      for name, o in pairs(doc.observers) do
        local s, z = qparams.compute(o.dtype, o.qscheme, o.min, o.max)
        local want_s = type(o.scale) == "table" and o.scale or { o.scale }
        local want_z = type(o.zero_point) == "table" and o.zero_point or { o.zero_point }
        s = type(s) == "table" and s or { s }
        z = type(z) == "table" and z or { z }
        for c = 1, #want_s do
          assert.are.equal(f32.round(want_s[c]), s[c], name)
          assert.are.equal(math.tointeger(want_z[c]), z[c], name)
        end
        pairs_checked = pairs_checked + 1
      end
    end
    assert.are.equal(331 + 331 + 267, pairs_checked)
  end)

  it("kiln calib on TICO's tokens writes TICO's observers, in TICO's order, with TICO's statistics", function()
    local set = SETS[1]
    local dir = GOLDEN .. "/" .. set.dir
    if not (have(dir .. "/qparams.json") and have(support.models .. "/" .. set.model)) then return end
    local out = support.tmpdir() .. "/q.json"
    ok("calib", support.models .. "/" .. set.model, "--tokens", dir .. "/calib_token_ids.txt", "--decode-steps", "8",
      "--samples", "16", "--preset", set.preset, "-o", out)
    support.assert_same_qparams(support.read(out), support.read(dir .. "/qparams.json"), 1e-5)
  end)

  for _, set in ipairs(SETS) do
    it("kiln conform passes on " .. set.dir, function()
      local dir = GOLDEN .. "/" .. set.dir
      if not (have(dir .. "/layers/manifest.json") and have(support.models .. "/" .. set.model)) then return end
      local out = ok("conform", support.models .. "/" .. set.model, dir)
      assert.matches("\nconform pass\n$", out)
      local f = figures(out)
      assert.are.equal(0, f.statistics_zero_point_mismatches)
      assert.is_true(f.statistics_worst_relative <= 1e-5)
      local checked = 0
      for name, value in pairs(f) do
        if name:match("_within_1lsb_exact$") then
          assert.is_true(value >= 0.99, name .. " " .. value)
          checked = checked + 1
        elseif name:match("_within_1lsb_tico$") and set.preset == "w8a8" then
          assert.is_true(value >= 0.99, name .. " " .. value)
        end
      end
      -- layers 0 and 2, prefill and decode, hidden / new_k / new_v
      assert.are.equal(12, checked)
      assert.matches("Quantization Error Summary (Prefill DecoderLayer 2, 40 tokens)", out, 1, true)
    end)
  end

  it("generates, builds and runs TICO's own qparams.json: greedy text, and eval's model figures", function()
    local dir = GOLDEN .. "/stories260K/w8a16"
    local model = support.models .. "/hf/stories260K-fp32"
    if not (have(dir .. "/qparams.json") and have(model)) then return end
    local text = ok("run", model, "--qparams", dir .. "/qparams.json", "-n", "64")
    assert.are.equal(ok("run", model, "-t", "0", "-n", "64"), text)
    local out = ok("eval", model, "--qparams", dir .. "/qparams.json", "--text",
      support.models .. "/tinystories_valid_first100.txt", "--stories", "10")
    local f = figures("\n" .. out)
    assert.is_true(f.perplexity > 1 and f.perplexity < 1.05 * f.perplexity_float, tostring(f.perplexity))
    assert.is_true(f.kl_mean < 0.01, tostring(f.kl_mean))
    assert.is_true(f.top1_agreement > 0.95, tostring(f.top1_agreement))
    assert.are.equal(1, f.within_1lsb_min)
  end)

  it("imports what TICO writes besides: its RMSNorm label, untied KV observers, extra calibration keys", function()
    local dir = GOLDEN .. "/stories260K/w8a8"
    local model = support.models .. "/hf/stories260K-fp32"
    if not (have(dir .. "/qparams.json") and have(model)) then return end
    local work = support.tmpdir()
    local text = support.read(dir .. "/qparams.json")
    -- TICO's raw label for RMSNorm weights: per-channel, no axis (per tensor in fact)
    local doc = cjson.decode(text)
    local n = 0
    for name, o in pairs(doc.observers) do
      if name:match("layernorm%.weight$") then
        o.qscheme, n = "per_channel_asymm", n + 1
      end
    end
    assert.are.equal(10, n)
    support.write(work .. "/labelled.json", cjson.encode(doc))
    ok("gen", model, "--qparams", dir .. "/qparams.json", "-o", work .. "/plain/m")
    ok("gen", model, "--qparams", work .. "/labelled.json", "-o", work .. "/labelled/m")
    for _, f in ipairs({ "layer_0.c", "constants.c", "weights.c", "model.c" }) do
      assert.are.equal(support.read(work .. "/plain/m/" .. f), support.read(work .. "/labelled/m/" .. f), f)
    end
    -- an untied past: past_key on its own grid is requantized on every read
    doc = cjson.decode(text)
    local past = doc.observers["model.layers.1.self_attn.past_key"]
    past.scale, past.zero_point = past.scale * 1.5, past.zero_point
    support.write(work .. "/untied.json", cjson.encode(doc))
    ok("gen", model, "--qparams", work .. "/untied.json", "-o", work .. "/untied")
    assert.matches("past requantized", support.read(work .. "/untied/constants.c"), 1, true)
    local out = ok("run", model, "--qparams", work .. "/untied.json", "-n", "16", "--ids")
    assert.matches("^[%d ]+\n$", out)
    -- an observer TICO has under another profile, named with the graphs it is missing from
    doc = cjson.decode(text)
    doc.observers["model.layers.0.self_attn.logits_raw"] = doc.observers["model.layers.0.self_attn.logits"]
    support.write(work .. "/extra.json", cjson.encode(doc))
    local _, err, code = support.kiln_run("gen", model, "--qparams", work .. "/extra.json", "-o", work .. "/extra")
    assert.are.equal(1, code)
    assert.matches("^kiln: [^\n]*extra.json: model.layers.0.self_attn.logits_raw: the file has this observer, "
      .. "kiln's graphs for this model %(graph/llama_model.lua, llama_layer.lua, llama_head.lua; 5 layers%) do not\n$", err)
  end)
end)
