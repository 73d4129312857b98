-- The calibration algorithms on the synthetic model (nothing from ../shared):
-- TICO's EMA and percentile observers, shared grids, SmoothQuant folded
-- through generation, mixed precision, recipes.

local support = require "support"
local cjson = require "cjson"
local f32 = require "util.f32"

local dir, model, tok, text

local function calib(out, ...)
  return support.kiln_run("calib", model, "-z", tok, "--text", text, "--decode-steps", "0", "--max-tokens", "64",
    "-o", out, ...)
end

local function observers_of(path) return cjson.decode(support.read(path)).observers end

describe("calibration algorithms", function()
  setup(function()
    dir = support.tmpdir()
    local _, err, code = support.kiln_run("synth", "-o", dir)
    assert(code == 0, err)
    model, tok, text = dir .. "/model.bin", dir .. "/tokenizer.bin", dir .. "/text.txt"
  end)
  teardown(function() support.cleanup() end)

  it("EMA: the first forward initialises, the next moves by 0.9 / 0.1 in float32", function()
    -- two stories one by one under min/max give each forward's range
    local one, two, both = dir .. "/one.json", dir .. "/two.json", dir .. "/ema.json"
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "0", "--max-tokens", "64",
      "--samples", "1", "--preset", "w8a8", "-o", one)
    -- the second story alone: a text file holding stories 2.. (the first dropped)
    local stories = support.read(text)
    local rest = stories:match("<|endoftext|>(.*)$")
    local text2 = dir .. "/text2.txt"
    support.write(text2, rest)
    support.kiln_ok("calib", model, "-z", tok, "--text", text2, "--decode-steps", "0", "--max-tokens", "64",
      "--samples", "1", "--preset", "w8a8", "-o", two)
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "0", "--max-tokens", "64",
      "--samples", "2", "--preset", "w8a8", "--observer", "ema", "-o", both)
    local a, b, e = observers_of(one), observers_of(two), observers_of(both)
    local checked = 0
    for path, o in pairs(e) do
      if o.observer == "ema" then
        local keep, take = f32.round(0.9), f32.round(1 - 0.9)
        for _, k in ipairs({ "min", "max" }) do
          local want = f32.add(f32.mul(keep, f32.round(a[path][k])), f32.mul(take, f32.round(b[path][k])))
          assert.are.equal(want, f32.round(o[k]), path .. " " .. k)
        end
        checked = checked + 1
      else
        assert.is_nil(o.observer, path) -- weights stay min/max
      end
    end
    assert.is_true(checked > 60, "ema observers: " .. checked)
  end)

  it("EMA with decode steps: the mask, a template, keeps min/max, so the fill stays -120 and gen accepts it", function()
    -- a decode row masks nothing: an EMA of the mask would drift toward 0
    local q = dir .. "/ema_decode.json"
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "4", "--max-tokens", "32",
      "--samples", "2", "--preset", "w8a8", "--observer", "ema", "-o", q)
    local o = observers_of(q)
    local masks = 0
    for path, e in pairs(o) do
      if path:match("attn_mask$") or path == "model.causal_mask" then
        assert.are.same({ -120, 0, nil }, { e.min, e.max, e.observer }, path)
        masks = masks + 1
      end
    end
    assert.are.equal(5, masks) -- the model's, and each of two layers' two
    assert.are.equal("ema", o["model.layers.1.self_attn.softmax"].observer)
    support.kiln_ok("gen", model, "--qparams", q, "-o", dir .. "/ema_decode")
    -- asking for another statistic on the mask is refused in one line naming it
    local over = dir .. "/mask_ema.lua"
    support.write(over, 'return { ["self_attn.attn_mask"] = { observer = "ema" } }')
    local _, err, code = calib(dir .. "/x.json", "--overrides", over)
    assert.are.equal(1, code)
    assert.matches("mask_ema.lua: .*attn_mask.*template of 0 and %-120", err)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
  end)

  it("percentile: 100 % is min/max, a lower one clips inside it and keeps 0, the same bytes twice", function()
    local mm, p100, p99, again = dir .. "/mm.json", dir .. "/p100.json", dir .. "/p99.json", dir .. "/p99b.json"
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "2", "--samples", "4", "-o", mm)
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "2", "--samples", "4",
      "--observer", "percentile", "--percentile", "100", "-o", p100)
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "2", "--samples", "4",
      "--observer", "percentile", "--percentile", "99", "-o", p99)
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "2", "--samples", "4",
      "--observer", "percentile", "--percentile", "99", "-o", again)
    assert.are.equal(support.read(p99), support.read(again))
    local m, full, clipped = observers_of(mm), observers_of(p100), observers_of(p99)
    local narrower = 0
    for path, o in pairs(clipped) do
      if o.observer == "percentile" then
        -- (a symmetric grid records +-max|x|, as TICO's clip bounds)
        assert.are.same({ m[path].scale, m[path].zero_point }, { full[path].scale, full[path].zero_point }, path)
        assert.is_true(o.min <= 0 and o.max >= 0, path)
        -- int16 activations are symmetric: the clip is on |x|
        local reach, full_reach = math.max(-o.min, o.max), math.max(-m[path].min, m[path].max)
        assert.is_true(reach <= full_reach, path)
        if reach < full_reach then narrower = narrower + 1 end
      end
    end
    assert.is_true(narrower > 20, "clipped observers: " .. narrower)
    local _, err, code = calib(dir .. "/x.json", "--percentile", "99")
    assert.are.equal(2, code)
    assert.matches("percentile is only for observer", err)
    for _, bad in ipairs({ { "--smoothquant", "1.5", "alpha must be in %[0, 1%]" }, { "--mixed", "-0.1", "must be a positive number" },
      { "--mixed", "0", "must be a positive number" }, { "--observer", "mse", "expected one of minmax, ema, percentile" } }) do
      _, err, code = calib(dir .. "/x.json", bad[1], bad[2])
      assert.are.equal(2, code, bad[1] .. " " .. bad[2])
      assert.matches(bad[3], err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
    assert.is_nil(io.open(dir .. "/x.json"))
  end)

  it("shared grids, SmoothQuant: recorded in qparams.json, folded by gen, the C exact against fake quant", function()
    local q = dir .. "/best.json"
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "2", "--samples", "4",
      "--preset", "w8a8", "--observer", "percentile", "--share-grids", "--smoothquant", "0.5", "-o", q)
    local doc = cjson.decode(support.read(q))
    assert.are.equal("smoothquant", doc.smoothing.algorithm)
    assert.are.equal(2, #doc.smoothing.layers)
    assert.are.equal(48, #doc.smoothing.layers[1].input_layernorm)
    assert.is_true(doc.calibration.share_grids)
    local o = doc.observers
    for l = 0, 1 do
      local p = "model.layers." .. l .. ".self_attn."
      -- the synthetic model's logits are small: the mask keeps its own grid
      assert.is_nil(o[p .. "mask_add"].grid_from)
      assert.are.equal(p .. "k_x2", o[p .. "k_cat"].grid_from)
      assert.are.same({ o[p .. "k_proj.act_out"].scale, o[p .. "k_proj.act_out"].zero_point },
        { o[p .. "k_cat"].scale, o[p .. "k_cat"].zero_point })
    end
    -- the smoothed norm weight is what gen quantizes: its range is the folded weight's
    local out = support.kiln_ok("eval", model, "--qparams", q, "-z", tok, "--text", text, "--stories", "2",
      "--max-tokens", "48")
    assert.matches("max_lsb_deviation 0\n", out)
    assert.matches("prefill_vs_decode_max_lsb 0\n", out)
    -- a damaged factor is refused in one line naming it
    doc.smoothing.layers[2].post_attention_layernorm[3] = -1
    local bad = dir .. "/bad.json"
    support.write(bad, cjson.encode(doc))
    local _, err, code = support.kiln_run("gen", model, "--qparams", bad, "-o", dir .. "/never")
    assert.are.equal(1, code)
    assert.matches("smoothing.layers%[1%].post_attention_layernorm.*factor 2", err)
    assert.is_nil(io.open(dir .. "/never"))
  end)

  it("mixed precision: the fewest families at int16 for the budget, listed; sensitivity ranks them", function()
    local q = dir .. "/mixed.json"
    local _, err = support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "0", "--samples", "2",
      "--max-tokens", "48", "--preset", "w8a8", "--mixed", "1e-9", "-o", q)
    assert.matches("families at int16", err)
    local doc = cjson.decode(support.read(q))
    local m = doc.calibration.mixed
    assert.is_true(#m.int16_families > 0)
    -- every observer of a promoted unit is int16; the Linear weights stay uint8
    local promoted = {}
    for _, f in ipairs(m.int16_families) do promoted[f] = true end
    local int16 = 0
    for path, o in pairs(doc.observers) do
      local family = path:gsub("^model%.layers%.%d+%.", "")
      if promoted[family] then assert.are.equal("int16", o.dtype, path) end
      if o.dtype == "int16" then int16 = int16 + 1 end
      if path:match("_proj%.weight$") then assert.are.equal("uint8", o.dtype, path) end
    end
    assert.is_true(int16 > 0 and int16 < 139, "int16 observers: " .. int16)
    -- a budget the preset already meets promotes nothing
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--decode-steps", "0", "--samples", "2",
      "--max-tokens", "48", "--preset", "w8a8", "--mixed", "1e9", "-o", q)
    assert.are.same({}, cjson.decode(support.read(q)).calibration.mixed.int16_families)
    local out = support.kiln_ok("sensitivity", model, "-z", tok, "--text", text, "--decode-steps", "0",
      "--samples", "2", "--max-tokens", "48", "--preset", "w8a8", "--json", dir .. "/s.json")
    assert.matches("all int16: ", out)
    local s = cjson.decode(support.read(dir .. "/s.json"))
    for i = 2, #s.families do assert.is_true(s.families[i - 1].added >= s.families[i].added) end
  end)

  it("recipes: shipped by name, recorded, refused in one line when wrong", function()
    local q = dir .. "/r.json"
    support.kiln_ok("calib", model, "-z", tok, "--text", text, "--max-tokens", "48", "--recipe", "w8a8-best",
      "--samples", "2", "-o", q)
    local cal = cjson.decode(support.read(q)).calibration
    assert.are.equal("w8a8-best", cal.recipe.name)
    assert.are.same({ "w8a8", "percentile", true, 2 }, { cal.preset, cal.observer, cal.share_grids, cal.samples })
    local bad = dir .. "/bad_recipe.lua"
    for body, want in pairs({
      ["return { presett = 'w8a8' }"] = "presett: unknown field",
      ["return { samples = 'many' }"] = "samples: must be a positive integer",
      ["while true do end"] = "runs too long",
      ["return 1"] = "must return a table",
    }) do
      support.write(bad, body)
      local _, err, code = support.kiln_run("calib", model, "-z", tok, "--text", text, "--recipe", bad, "-o", q)
      assert.are.equal(1, code, body)
      assert.matches(want, err, 1, true)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
    local _, err, code = support.kiln_run("calib", model, "-z", tok, "--text", text, "--recipe", "no-such", "-o", q)
    assert.are.equal(2, code)
    assert.matches("no shipped recipe 'no%-such'", err)
  end)
end)
