-- kiln ablate on stories260K: every preset x source x repeat calibrated,
-- generated and measured on held-out stories; results.json, report.md,
-- index.html and the qparams files; refusals leave an existing report alone.

local support = require "support"
local cjson = require "cjson"

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"
local TEXT = support.models .. "/tinystories_valid_first1000.txt"

local function ablate(out, ...)
  return support.kiln_run("ablate", MODEL, "-z", TOK, "--calib-text", TEXT, "--eval-text", TEXT, "-o", out,
    "--presets", "w8a8", "--samples", "4", "--repeats", "2", "--calib-range", "0:8", "--eval-range", "200:212", ...)
end

describe("kiln ablate", function()
  after_each(function() support.cleanup() end)

  it("measures each decode source on held-out stories, prefill and decode positions apart", function()
    if not support.needs_shared() then return end
    local out = support.tmpdir() .. "/report"
    local stdout, err, code = ablate(out)
    assert.are.equal(0, code, err)
    local r = cjson.decode(support.read(out .. "/results.json"))
    assert.are.equal(4, #r.runs) -- 1 preset x 2 sources x 2 repeats
    assert.are.same({ 200, 212 }, r.eval_range)
    local seen = {}
    for _, run in ipairs(r.runs) do
      seen[run.source .. math.tointeger(run.repeat_index)] = true
      assert.is_true(run.prefill.positions > 0 and run.decode.positions > 0)
      assert.is_true(run.decode.kl_mean >= 0 and run.decode.top1_agreement <= 1)
      assert.are.equal(5 * 2, #run.layers) -- prefill and decode of 5 layers
      -- the two repeats calibrate on disjoint stories
      assert.are.same(run.repeat_index == 1 and { 0, 4 } or { 4, 8 }, run.calib_stories)
      local q = cjson.decode(support.read(string.format("%s/qparams/w8a8-%s-%d.json", out, run.source,
        math.tointeger(run.repeat_index))))
      assert.are.equal(run.source == "float" and "float_prefill" or "quantized_prefill", q.calibration.decode_source)
    end
    assert.is_true(seen.float1 and seen.float2 and seen.quantized1 and seen.quantized2)
    assert.are.equal(6, #r.summary)
    for _, s in ipairs(r.summary) do
      -- a winner only where the lead exceeds the spread
      if s.winner ~= "none" then assert.is_true(s.difference > s.spread, s.metric) end
    end
    assert.matches("| w8a8 | decode KL |", support.read(out .. "/report.md"), 1, true)
    assert.are.equal(support.read(out .. "/report.md"), stdout)
    assert.matches("<svg", support.read(out .. "/index.html"))
  end)

  it("refuses an evaluation range that overlaps the calibration stories, leaving the report alone", function()
    if not support.needs_shared() then return end
    local out = support.tmpdir() .. "/report"
    support.write(out, "previous")
    local _, err, code = ablate(out, "--eval-range", "4:20")
    assert.are_not.equal(0, code)
    assert.matches("^kiln: %-%-eval%-range: overlaps %-%-calib%-range", err)
    assert.are.equal(1, select(2, err:gsub("\n", "")))
    assert.are.equal("previous", support.read(out))
    _, err, code = ablate(out, "--sources", "float,sideways")
    assert.are_not.equal(0, code)
    assert.matches("'sideways' is not one of float, quantized, none", err)
    _, err, code = ablate(out, "--repeats", "3")
    assert.are_not.equal(0, code)
    assert.matches("fewer than %-%-repeats 3 x %-%-samples 4", err)
  end)
end)
