-- kiln calib on stories260K: every quantization point of every layer, both
-- presets, tied KV cache, overrides, determinism.

local support = require "support"
local cjson = require "cjson"
local layer = require "graph.llama_layer"
local qparams = require "calib.qparams"
local f32 = require "util.f32"

-- JSON holds the shortest text of each float32; read it back as float32.
local function as_f32(v)
  if type(v) ~= "table" then return f32.round(v) end
  local r = {}
  for i, x in ipairs(v) do r[i] = f32.round(x) end
  return r
end

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"
local TEXT = support.models .. "/tinystories_valid_first100.txt"
local LAYERS = 5

local function calib(out, ...)
  return support.kiln_run("calib", MODEL, "-z", TOK, "--text", TEXT, "--samples", "16", "--decode-steps", "8",
    "-o", out, ...)
end

-- Row counts of per-channel weights in stories260K (dim 64, kv 32, hidden 172).
local ROWS = {
  ["self_attn.q_proj.weight"] = 64, ["self_attn.k_proj.weight"] = 32, ["self_attn.v_proj.weight"] = 32,
  ["self_attn.o_proj.weight"] = 64, ["mlp.gate_proj.weight"] = 172, ["mlp.up_proj.weight"] = 172,
  ["mlp.down_proj.weight"] = 64,
}

local function check_entry(path, e)
  local dt = qparams.DTYPES[e.dtype]
  assert.is_table(dt, path .. ": dtype " .. tostring(e.dtype))
  local scales = type(e.scale) == "table" and e.scale or { e.scale }
  local zps = type(e.zero_point) == "table" and e.zero_point or { e.zero_point }
  assert.are.equal(#scales, #zps, path)
  for c = 1, #scales do
    assert.is_true(scales[c] > 0 and scales[c] < math.huge, path .. ": scale " .. tostring(scales[c]))
    assert.is_true(zps[c] >= dt.qmin and zps[c] <= dt.qmax, path .. ": zero point " .. tostring(zps[c]))
  end
  -- the file's scale is what the formula gives for the file's range
  local s, z = qparams.compute(e.dtype, e.qscheme, as_f32(e.min), as_f32(e.max))
  assert.are.same(s, as_f32(e.scale), path)
  assert.are.same(z, e.zero_point, path)
end

describe("kiln calib on stories260K", function()
  local dir
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  for _, preset in ipairs({ "w8a16", "w8a8" }) do
    it("covers every observer of all 5 layers with the " .. preset .. " preset", function()
      if not support.needs_shared() then return end
      local out = dir .. "/q.json"
      local _, err, code = calib(out, "--preset", preset)
      assert.are.equal(0, code, err)
      local doc = cjson.decode(support.read(out))
      assert.are.equal("kiln-qparams", doc.format)
      assert.are.equal("b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696", doc.model.sha256)
      assert.are.equal(preset, doc.calibration.preset)
      assert.are.equal(16, doc.calibration.samples)
      assert.are.equal(8 * 16, doc.calibration.decode_tokens)
      local count = 0
      for _ in pairs(doc.observers) do count = count + 1 end
      -- 64 per layer, plus TICO 0.3.0's 11 at the model level
      assert.are.equal(64 * LAYERS + 11, count)
      for _, path in ipairs({ "model.causal_mask", "model.cos", "model.sin", "model.embed_tokens.act_out",
        "model.embed_tokens.weight", "model.norm.act_in", "model.norm.weight",
        "model.norm.act_out", "lm_head.act_in", "lm_head.weight", "lm_head.act_out" }) do
        check_entry(path, doc.observers[path])
      end
      assert.are.equal(512, #doc.observers["lm_head.weight"].scale)
      assert.are.equal(512, #doc.observers["model.embed_tokens.weight"].scale)
      assert.are.equal("uint8", doc.observers["model.embed_tokens.weight"].dtype)
      assert.are.equal(preset == "w8a16" and "int16" or "uint8", doc.observers["model.embed_tokens.act_out"].dtype)
      assert.are.equal(preset == "w8a16" and "int16" or "uint8", doc.observers["lm_head.act_out"].dtype)
      for l = 0, LAYERS - 1 do
        for _, obs in ipairs(layer.observers()) do
          local path = string.format("model.layers.%d.%s", l, obs.name)
          local e = doc.observers[path]
          assert.is_table(e, "missing " .. path)
          check_entry(path, e)
          local role = obs.param and obs.param.role or "activation"
          if role == "linear" then
            assert.are.same({ "uint8", "per_channel_asymm", 0 }, { e.dtype, e.qscheme, e.axis }, path)
            assert.are.equal(ROWS[obs.name], #e.scale, path)
          elseif preset == "w8a16" then
            assert.are.same({ "int16", "per_tensor_symm" }, { e.dtype, e.qscheme }, path)
            assert.are.equal(0, e.zero_point, path)
          else
            assert.are.same({ "uint8", "per_tensor_asymm" }, { e.dtype, e.qscheme }, path)
          end
        end
      end
    end)
  end

  it("ties the KV cache observers by default and keeps TICO's apart with --untied-kv", function()
    if not support.needs_shared() then return end
    local tied, untied = dir .. "/tied.json", dir .. "/untied.json"
    assert.are.equal(0, select(3, calib(tied)))
    assert.are.equal(0, select(3, calib(untied, "--untied-kv")))
    local t = cjson.decode(support.read(tied)).observers
    local u = cjson.decode(support.read(untied)).observers
    for l = 0, LAYERS - 1 do
      local p = string.format("model.layers.%d.self_attn.", l)
      for _, group in ipairs({ { "new_k", "present_key", "past_key" }, { "new_v", "present_value", "past_value" } }) do
        local first = t[p .. group[1]]
        local lo, hi = math.huge, -math.huge
        for _, name in ipairs(group) do
          assert.are.equal(first.scale, t[p .. name].scale, p .. name)
          assert.are.equal(first.min, t[p .. name].min)
          lo, hi = math.min(lo, u[p .. name].min), math.max(hi, u[p .. name].max)
        end
        -- the tied range is the union of the three untied ones
        assert.are.same({ lo, hi }, { first.min, first.max })
      end
    end
    assert.is_nil(u["model.layers.0.self_attn.past_key"].tied)
  end)

  it("refuses to write a file when an observer saw no data", function()
    if not support.needs_shared() then return end
    local out = dir .. "/q.json"
    support.write(out, "previous contents")
    local _, err, code = calib(out, "--untied-kv", "--decode-steps", "0")
    assert.are_not.equal(0, code)
    -- named after the checkpoint whose calibration saw nothing there
    assert.matches("^kiln: [^\n]*stories260K%.bin: model%.layers%.0%.self_attn%.past_key: never observed", err)
    assert.are.equal(1, select(2, err:gsub("\n", "")))
    assert.are.equal("previous contents", support.read(out))
  end)

  it("--decode-source none keeps prefill statistics only; an untied past takes its present's range", function()
    if not support.needs_shared() then return end
    local none, untied = dir .. "/none.json", dir .. "/none_untied.json"
    assert.are.equal(0, select(3, calib(none, "--decode-source", "none")))
    local _, err, code = calib(untied, "--decode-source", "none", "--untied-kv")
    assert.are.equal(0, code, err)
    assert.matches("10 past_key/past_value observers saw no decode step", err)
    local n = cjson.decode(support.read(none))
    assert.are.same({ "none", 0 }, { n.calibration.decode_source, n.calibration.decode_tokens })
    local u = cjson.decode(support.read(untied))
    assert.are.equal(10, u.calibration.past_from_present)
    for l = 0, LAYERS - 1 do
      local p = string.format("model.layers.%d.self_attn.", l)
      for _, pair in ipairs({ { "past_key", "present_key" }, { "past_value", "present_value" } }) do
        local past, present = u.observers[p .. pair[1]], u.observers[p .. pair[2]]
        assert.are.same({ present.min, present.max, present.scale }, { past.min, past.max, past.scale }, p .. pair[1])
      end
    end
  end)

  it("--decode-source quantized observes decode steps after a quantized prefill", function()
    if not support.needs_shared() then return end
    local float, quantized, none = dir .. "/f.json", dir .. "/q.json", dir .. "/n.json"
    for path, source in pairs({ [float] = "float", [quantized] = "quantized", [none] = "none" }) do
      local _, err, code = calib(path, "--decode-source", source)
      assert.are.equal(0, code, err)
    end
    local f = cjson.decode(support.read(float))
    local q = cjson.decode(support.read(quantized))
    local n = cjson.decode(support.read(none))
    assert.are.same({ "quantized_prefill", f.calibration.decode_tokens },
      { q.calibration.decode_source, q.calibration.decode_tokens })
    local differ = 0
    for path, o in pairs(q.observers) do
      -- the prefill statistics are in, and the decode steps widen them
      local p = n.observers[path]
      if type(o.min) == "number" then
        assert.is_true(o.min <= p.min and o.max >= p.max, path)
        if o.scale ~= f.observers[path].scale then differ = differ + 1 end
      end
    end
    -- decode after the quantized prefill saw other inputs than after the float one
    assert.is_true(differ > 0)
  end)

  it("writes byte-identical files from identical runs", function()
    if not support.needs_shared() then return end
    assert.are.equal(0, select(3, calib(dir .. "/a.json", "--samples", "4")))
    assert.are.equal(0, select(3, calib(dir .. "/b.json", "--samples", "4")))
    assert.are.equal(support.read(dir .. "/a.json"), support.read(dir .. "/b.json"))
  end)

  it("applies per-observer overrides, most specific first", function()
    if not support.needs_shared() then return end
    local conf = dir .. "/overrides.lua"
    support.write(conf, [[
return {
  ["self_attn.softmax"] = { dtype = "uint8" },
  ["model.layers.2.mlp"] = { dtype = "int8" },
  ["model.layers.2.mlp.down_proj.weight"] = { dtype = "uint4" },
}
]])
    local out = dir .. "/q.json"
    local _, err, code = calib(out, "--samples", "4", "--overrides", conf)
    assert.are.equal(0, code, err)
    local doc = cjson.decode(support.read(out))
    local o = doc.observers
    for l = 0, LAYERS - 1 do
      local e = o[string.format("model.layers.%d.self_attn.softmax", l)]
      assert.are.same({ "uint8", "per_tensor_asymm" }, { e.dtype, e.qscheme })
    end
    assert.are.same({ "int8", "per_tensor_symm" }, { o["model.layers.2.mlp.act_in"].dtype, o["model.layers.2.mlp.act_in"].qscheme })
    -- a signed dtype on a Linear weight makes it per-tensor symmetric, as in TICO
    assert.are.same({ "int8", "per_tensor_symm" }, { o["model.layers.2.mlp.up_proj.weight"].dtype, o["model.layers.2.mlp.up_proj.weight"].qscheme })
    assert.are.same({ "uint4", "per_channel_asymm" }, { o["model.layers.2.mlp.down_proj.weight"].dtype, o["model.layers.2.mlp.down_proj.weight"].qscheme })
    assert.are.equal("int16", o["model.layers.1.mlp.act_in"].dtype)
    assert.is_table(doc.calibration.overrides["self_attn.softmax"])
  end)

  it("refuses bad overrides with one line naming the file and the key", function()
    if not support.needs_shared() then return end
    local cases = {
      { '{ ["self_attn.sofmax"] = { dtype = "uint8" } }', "self_attn%.sofmax: matches no observer" },
      { '{ ["mlp.act_in"] = { dtype = "uint7" } }', "mlp%.act_in: .*uint7" },
      { '{ ["mlp.act_in"] = { dtype = "uint8", qscheme = "per_tensor_symm" } }', "mlp%.act_in: .*unsigned" },
      { '{ ["mlp.act_in"] = { dtype = "int8", qscheme = "per_channel_symm" } }', "mlp%.act_in: per%-channel" },
      { '{ ["mlp.act_in"] = { bits = 8 } }', "mlp%.act_in: unknown field 'bits'" },
      { '{ oops', "syntax" },
    }
    for _, case in ipairs(cases) do
      local conf = dir .. "/bad.lua"
      support.write(conf, "return " .. case[1])
      local _, err, code = calib(dir .. "/q.json", "--samples", "1", "--overrides", conf)
      assert.are_not.equal(0, code, case[1])
      assert.matches("^kiln: [^\n]*" .. case[2], err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.is_false(support.exists(dir .. "/q.json"))
    end
  end)
end)
