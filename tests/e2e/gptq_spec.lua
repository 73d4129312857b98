-- kiln gptq end to end: the folder it writes is a model kiln reads; kiln
-- calib --weights locks its grids; kiln gen quantizes its weights back to
-- GPTQ's codes exactly; the same bytes on every run; bad input refused.

local support = require "support"
local cjson = require "cjson"
local native = require "kiln_native"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local qparams = require "calib.qparams"
local f32 = require "util.f32"

-- Every Linear weight on another grid than the preset's: uint4 and int4 per
-- channel, int4 per tensor (TICO's rule for a signed dtype), int8 symmetric.
local OVERRIDES = [[
return {
  ["self_attn.q_proj.weight"] = { dtype = "uint4" },
  ["self_attn.k_proj.weight"] = { dtype = "uint4" },
  ["self_attn.v_proj.weight"] = { dtype = "int4", qscheme = "per_channel_symm" },
  ["self_attn.o_proj.weight"] = { dtype = "int4" },
  ["mlp.gate_proj.weight"] = { dtype = "uint4" },
  ["mlp.up_proj.weight"] = { dtype = "uint4" },
  ["mlp.down_proj.weight"] = { dtype = "int8", qscheme = "per_channel_symm" },
}
]]

-- The C array NAME of a generated weights.c, as numbers.
local function c_array(text, name)
  local body = text:match("[%w_]+ " .. name .. "%[%d+%] = (%b{})")
  assert(body, name .. " not in weights.c")
  local list = {}
  for v in body:gmatch("%-?%d+") do list[#list + 1] = tonumber(v) end
  return list
end

-- A 4-bit weight's codes from its bytes as runtime/portable/kiln_rt_w4.h
-- lays them out: each row on its own bytes, column 2j in byte j's low
-- nibble and 2j + 1 in its high one; int4 as its two's-complement nibble.
local function unpack_nibbles(bytes, rows, cols, signed)
  local per_row, out = (cols + 1) // 2, {}
  for r = 0, rows - 1 do
    for c = 0, cols - 1 do
      local b = bytes[r * per_row + c // 2 + 1] & 0xFF
      local v = c % 2 == 0 and (b & 0xF) or (b >> 4)
      if signed and v >= 8 then v = v - 16 end
      out[#out + 1] = v
    end
  end
  return out
end

-- model.layers.1.self_attn.k_proj.weight -> L1_ATTN_K_PROJ_WEIGHT (the emitter's names)
local function c_name(path)
  local l, module, proj = path:match("^model%.layers%.(%d+)%.([%w_]+)%.([%w_]+)%.weight$")
  return string.format("L%s_%s_%s_WEIGHT", l, module == "self_attn" and "ATTN" or "MLP", proj:upper())
end

describe("kiln gptq", function()
  local dir, synth, overrides
  setup(function()
    dir = support.tmpdir()
    synth = dir .. "/synth"
    support.kiln_ok("synth", "-o", synth)
    overrides = dir .. "/overrides.lua"
    support.write(overrides, OVERRIDES)
  end)
  teardown(support.cleanup)

  local function gptq(out, ...)
    return support.kiln_run("gptq", synth .. "/model.bin", "-z", synth .. "/tokenizer.bin", "--text", synth .. "/text.txt",
      "--samples", "4", "--overrides", overrides, "-o", out, ...)
  end

  it("writes a folder kiln reads, whose weights kiln gen quantizes back to GPTQ's codes", function()
    local out = dir .. "/g"
    local _, err, code = gptq(out, "--act-order", "--block", "16")
    assert.are.equal(0, code, err)
    local doc = cjson.decode(support.read(out .. "/gptq.json"))
    assert.are.equal("kiln-gptq", doc.format)
    assert.are.equal(14, (function() local n = 0 for _ in pairs(doc.observers) do n = n + 1 end return n end)())
    assert.are.equal(true, doc.gptq.act_order)
    local q = dir .. "/q.json"
    _, err = support.kiln_ok("calib", out, "-z", synth .. "/tokenizer.bin", "--text", synth .. "/text.txt", "--samples", "4",
      "--overrides", overrides, "--weights", out .. "/gptq.json", "-o", q)
    assert.matches("14 weight observers locked", err)
    local qp = cjson.decode(support.read(q))
    for path, o in pairs(doc.observers) do
      assert.are.same({ o.scale, o.zero_point }, { qp.observers[path].scale, qp.observers[path].zero_point }, path)
    end
    support.kiln_ok("gen", out, "--qparams", q, "-o", dir .. "/c")
    local weights_c = support.read(dir .. "/c/weights.c")
    -- each written value's code on gptq.json's grid, worked out apart from
    -- kiln's quantizer: (value as the observer sees it) / scale, in double
    local model = float_model.load(native, checkpoint.open(out), { weights_only = true })
    for path, o in pairs(doc.observers) do
      local l, name = path:match("^model%.layers%.(%d+)%.(.+)$")
      local w = model.weights[tonumber(l) + 1][name]
      local rows = type(o.scale) == "table" and #o.scale or 1
      local cols = w:len() // rows
      local dt = qparams.DTYPES[o.dtype]
      local codes = c_array(weights_c, c_name(path))
      if dt.bits == 4 then codes = unpack_nibbles(codes, rows, cols, dt.signed) end
      assert.are.equal(w:len(), #codes, path)
      for r = 0, rows - 1 do
        local s = f32.round(type(o.scale) == "table" and o.scale[r + 1] or o.scale)
        local zp = type(o.zero_point) == "table" and o.zero_point[r + 1] or o.zero_point
        for c = 1, cols do
          local v = w:get(r * cols + c) / s
          local k = math.floor(v + 0.5)
          assert.is_true(math.abs(v - k) < 1e-3, path .. ": a value off its grid")
          assert.is_true(k + zp >= dt.qmin and k + zp <= dt.qmax, path)
          assert.are.equal(k + zp, codes[r * cols + c], path)
        end
      end
    end
  end)

  it("gives the same bytes on every run and with another OpenBLAS kernel", function()
    local a, b = dir .. "/a", dir .. "/b"
    assert.are.equal(0, select(3, gptq(a)))
    local ok, log = support.sh(string.format("OPENBLAS_CORETYPE=Prescott %s gptq %s/model.bin -z %s/tokenizer.bin "
      .. "--text %s/text.txt --samples 4 --overrides %s -o %s", support.kiln, synth, synth, synth, overrides, b))
    assert(ok, log)
    for _, f in ipairs({ "gptq.json", "model.safetensors", "config.json" }) do
      assert.are.equal(support.read(a .. "/" .. f), support.read(b .. "/" .. f), f)
    end
  end)

  it("refuses bad input in one line and leaves an existing output as it was", function()
    local out = dir .. "/kept"
    os.execute("mkdir -p " .. support.quote(out))
    support.write(out .. "/.kiln-output", "") -- an earlier kiln output
    support.write(out .. "/marker", "old")
    local _, err, code = gptq(out, "--samples", "100000")
    assert.are.equal(1, code)
    assert.matches("^kiln: .*text%.txt: stories: has %d+ stories, fewer than %-%-samples 100000\n$", err)
    assert.are.equal("old", support.read(out .. "/marker"))
    _, err, code = gptq(out, "--block", "0")
    assert.are.equal(2, code)
    assert.matches("^kiln: %-%-block: must be at least 1", err)
    _, err, code = gptq(out, "--lm-head")
    assert.are.equal(2, code)
    assert.matches("^kiln: %-%-lm%-head: this model's classifier is its embedding table %(tied%)", err)
    -- calib --weights: grids of another preset, and a model that is not the one gptq wrote
    local g = dir .. "/g2"
    assert.are.equal(0, select(3, gptq(g)))
    local calib = { "calib", "-z", synth .. "/tokenizer.bin", "--text", synth .. "/text.txt", "--samples", "4",
      "--weights", g .. "/gptq.json", "-o", dir .. "/q2.json" }
    _, err, code = support.kiln_run(calib[1], g, table.unpack(calib, 2))
    assert.are.equal(1, code)
    assert.matches("^kiln: .*gptq%.json: model%.layers%.0%.[%w_.]+%.weight: %w+ [%w_]+ in the file, but this calibration makes it uint8", err)
    _, err, code = support.kiln_run(calib[1], synth .. "/model.bin", "--overrides", overrides, table.unpack(calib, 2))
    assert.are.equal(1, code)
    assert.matches("steps off this grid: it is not the weight kiln gptq wrote", err)
    assert.is_nil(io.open(dir .. "/q2.json"))
    local bad = dir .. "/bad.json"
    support.write(bad, support.read(g .. "/gptq.json"):gsub('"zero_point": %[%s*(%d+)', '"zero_point": [ 99', 1))
    calib[9] = bad
    _, err, code = support.kiln_run(calib[1], g, "--overrides", overrides, table.unpack(calib, 2))
    assert.are.equal(1, code)
    assert.matches("bad%.json: model%.layers%.0%.[%w_.]+ channel 0: zero_point 99 is outside uint4's range", err)
  end)

  it("writes a bf16 model as float32, saying so", function()
    local src, out = dir .. "/bf16", dir .. "/bf16-gptq"
    support.kiln_ok("synth", "--format", "hf", "--dtype", "bf16", "-o", src)
    local _, err = support.kiln_ok("gptq", src, "-z", src .. "/tokenizer.bin", "--text", src .. "/text.txt", "--samples", "2",
      "-o", out)
    assert.matches("kiln gptq: bf16 cannot hold the grid values exactly; the weights are written as fp32\n", err)
    assert.are.equal("float32", cjson.decode(support.read(out .. "/config.json")).dtype)
    assert.are.equal("fp32", checkpoint.open(out).description.dtype)
  end)

  it("GPTQs lm_head of an untied model with --lm-head (rand-llama-h256)", function()
    if not support.needs_shared() then return end
    local src, out, text = support.models .. "/hf/rand-llama-h256-fp32", dir .. "/rand", support.models .. "/tinystories_valid_first100.txt"
    local tok = support.models .. "/tok512.bin"
    local _, err = support.kiln_ok("gptq", src, "-z", tok, "--text", text, "--samples", "2", "--max-tokens", "64", "--lm-head",
      "-o", out)
    assert.matches("29 Linear weights %(4 layers, lm_head%)", err)
    local doc = cjson.decode(support.read(out .. "/gptq.json"))
    assert.are.equal(512, #doc.observers["lm_head.weight"].scale)
    _, err = support.kiln_ok("calib", out, "-z", tok, "--text", text, "--samples", "2", "--max-tokens", "64",
      "--weights", out .. "/gptq.json", "-o", dir .. "/rand-q.json")
    assert.matches("29 weight observers locked", err)
  end)

  it("copies a Hugging Face folder's tokenizer.json (stories260K)", function()
    if not support.needs_shared() then return end
    local src, out = support.models .. "/hf/stories260K-fp32", dir .. "/stories"
    support.kiln_ok("gptq", src, "--text", support.models .. "/tinystories_valid_first100.txt", "--samples", "2",
      "--max-tokens", "64", "-o", out)
    assert.are.equal(support.read(src .. "/tokenizer.json"), support.read(out .. "/tokenizer.json"))
    local out_text = support.kiln_ok("run", out, "-t", "0", "-n", "8")
    assert.is_true(#out_text > 0)
  end)

  it("takes its specs and settings from a recipe; calib with that recipe needs the grids", function()
    local out, q = dir .. "/recipe", dir .. "/recipe.json"
    local model, tok, text = synth .. "/model.bin", synth .. "/tokenizer.bin", synth .. "/text.txt"
    support.kiln_ok("gptq", model, "-z", tok, "--text", text, "--samples", "2", "--max-tokens", "48",
      "--recipe", "w4a16-gptq", "-o", out)
    local g = cjson.decode(support.read(out .. "/gptq.json"))
    assert.are.same({ true, true }, { g.gptq.act_order, g.gptq.mse })
    assert.are.equal(2, math.tointeger(g.gptq.samples))
    assert.are.equal("uint4", g.observers["model.layers.1.mlp.down_proj.weight"].dtype)
    local _, err, code = support.kiln_run("calib", out, "-z", tok, "--text", text, "--recipe", "w4a16-gptq", "-o", q)
    assert.are.equal(2, code)
    assert.matches("run `kiln gptq", err)
    support.kiln_ok("calib", out, "-z", tok, "--text", text, "--samples", "2", "--max-tokens", "48",
      "--recipe", "w4a16-gptq", "--weights", out .. "/gptq.json", "-o", q)
    local doc = cjson.decode(support.read(q))
    assert.are.equal("w4a16-gptq", doc.calibration.recipe.name)
    assert.are.same(g.observers["model.layers.0.self_attn.q_proj.weight"].scale,
      doc.observers["model.layers.0.self_attn.q_proj.weight"].scale)
  end)
end)
