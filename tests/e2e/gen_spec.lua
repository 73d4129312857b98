-- kiln gen and kiln eval on stories260K: the generated C compiles cleanly
-- with gcc and clang, uses no float and no libm, is deterministic, refuses
-- bad qparams, and meets the accuracy targets against the references.

local support = require "support"
local cjson = require "cjson"

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"
local TEXT = support.models .. "/tinystories_valid_first100.txt"
local STRICT = "-std=c99 -O2 -Wall -Wextra -Wpedantic -Werror"

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok
end

local function lines_of(out)
  local values = {}
  for name, value in out:gmatch("\n([%w_]+) ([%d%.%-e]+)") do values[name] = tonumber(value) end
  return values
end

describe("kiln gen on stories260K", function()
  local work
  local qp = {}

  setup(function()
    work = support.tmpdir()
    if not support.have_shared() then return end
    for _, preset in ipairs({ "w8a16", "w8a8" }) do
      qp[preset] = support.calibrate(work, preset)
    end
  end)
  teardown(function() support.cleanup() end)

  for _, preset in ipairs({ "w8a16", "w8a8" }) do
    it("compiles with gcc and clang under " .. STRICT .. " and runs (" .. preset .. ")", function()
      if not support.needs_shared() then return end
      local dir = work .. "/" .. preset
      local _, err, code = support.kiln_run("gen", MODEL, "--qparams", qp[preset], "-o", dir)
      assert.are.equal(0, code, err)
      for _, cc in ipairs({ "gcc", "clang" }) do
        local build = work .. "/build-" .. cc
        assert.is_true(sh(string.format("make -C %s CC=%s BUILD=%s 'CFLAGS=%s'", dir, cc, build, STRICT)), cc)
        local p = io.popen(string.format("%s/kiln_host generate 16 1", build))
        local ids = p:read("a")
        p:close()
        local n = 0
        for _ in ids:match("^[^\n]*"):gmatch("%d+") do n = n + 1 end
        assert.are.equal(16, n, cc .. ": " .. ids)
      end
    end)
  end

  it("uses no float and links no libm in the model library", function()
    if not support.needs_shared() then return end
    local dir = work .. "/nofloat"
    assert.are.equal(0, select(3, support.kiln_run("gen", MODEL, "--qparams", qp.w8a16, "-o", dir)))
    -- gcc refuses any floating-point code on x86 with -mgeneral-regs-only
    assert.is_true(sh(string.format("make -C %s CC=gcc 'CFLAGS=%s -mgeneral-regs-only' build/libkiln_model.a", dir, STRICT)))
    local function symbols(flags)
      local p = io.popen("nm " .. flags .. " " .. dir .. "/build/libkiln_model.a")
      local set = {}
      for line in p:lines() do
        local sym = line:match("^%x*%s+%a%s+(%S+)$") or line:match("^%s+U%s+(%S+)$")
        if sym then set[sym] = true end
      end
      p:close()
      return set
    end
    local defined = symbols("--defined-only")
    for sym in pairs(symbols("-u")) do
      assert.is_true(defined[sym] or sym == "memcpy" or sym == "memset", "the model library needs " .. sym)
    end
    -- and no float type anywhere in the model's sources (the host program aside)
    for _, f in ipairs({ "model.c", "head.c", "layer_0.c", "constants.c", "weights.c", "kiln_model.h", "constants.h",
      "runtime/kiln_rt.h", "runtime/kiln_rt_math.c", "runtime/kiln_rt_ops.c" }) do
      local code = support.read(dir .. "/" .. f):gsub("/%*.-%*/", "")
      assert.is_nil(code:find("%f[%w]float%f[%W]") or code:find("%f[%w]double%f[%W]"), f)
    end
  end)

  it("writes byte-identical trees from identical runs", function()
    if not support.needs_shared() then return end
    local dir, first = work .. "/twice/model", work .. "/first"
    assert.are.equal(0, select(3, support.kiln_run("gen", MODEL, "--qparams", qp.w8a8, "-o", dir)))
    assert.is_true(sh("cp -r " .. dir .. " " .. first))
    assert.are.equal(0, select(3, support.kiln_run("gen", MODEL, "--qparams", qp.w8a8, "-o", dir)))
    assert.is_true(sh("diff -r " .. first .. " " .. dir))
  end)

  it("refuses bad qparams with one line naming the observer, leaving the output untouched", function()
    if not support.needs_shared() then return end
    local out = work .. "/kept"
    -- an earlier kiln output (.kiln-output) with a file of the reader's in it
    os.execute("mkdir -p " .. out .. " && echo keep > " .. out .. "/marker && touch " .. out .. "/.kiln-output")
    local good = support.read(qp.w8a8)
    local function block_edit(path, pattern, replacement)
      local start = assert(good:find('"' .. path:gsub("%.", "%%.") .. '": {'))
      local head, tail = good:sub(1, start - 1), good:sub(start)
      local edited, n = tail:gsub(pattern, replacement, 1)
      assert(n == 1, pattern)
      return head .. edited
    end
    local function without(path)
      local doc = cjson.decode(good)
      doc.observers[path] = nil
      return cjson.encode(doc)
    end
    local cases = {
      { block_edit("model.layers.1.self_attn.softmax", '"scale": [^,]+', '"scale": NaN'),
        "model.layers.1.self_attn.softmax: scale is nan" },
      { block_edit("model.layers.2.mlp.mul", '"scale": [^,]+', '"scale": 0'), "model.layers.2.mlp.mul: scale 0 is not positive" },
      { block_edit("model.layers.0.attn_mask", '"scale": [^,]+', '"scale": -0.5'), "model.layers.0.attn_mask: scale -0.5 is not positive" },
      { without("model.layers.4.self_attn.k_rot"),
        "model.layers.4.self_attn.k_rot: kiln's graphs have this observer, the file does not" },
      { (function()
        local doc = cjson.decode(good)
        doc.observers["model.layers.0.self_attn.logits_raw"] = doc.observers["model.layers.0.self_attn.logits"]
        return cjson.encode(doc)
      end)(), "model.layers.0.self_attn.logits_raw: the file has this observer, kiln's graphs for this model" },
      { block_edit("model.layers.3.mlp.act_in", '"zero_point": %d+', '"zero_point": 300'),
        "model.layers.3.mlp.act_in: zero_point 300 is outside uint8's range [0, 255]" },
      { block_edit("model.layers.0.self_attn.q_proj.weight", '"scale": %[[^,]+, ', '"scale": ['),
        "model.layers.0.self_attn.q_proj.weight: scale has 63 entries, but the weight has 64 output rows" },
      { block_edit("model.layers.0.self_attn.v_proj.weight", '"zero_point": %[[^,]+, ', '"zero_point": ['),
        "model.layers.0.self_attn.v_proj.weight: zero_point has 31 entries" },
    }
    for _, case in ipairs(cases) do
      local bad = work .. "/bad.json"
      support.write(bad, case[1])
      local _, err, code = support.kiln_run("gen", MODEL, "--qparams", bad, "-o", out)
      assert.are.equal(1, code, case[2])
      assert.matches("^kiln: [^\n]*" .. bad:gsub("%p", "%%%0") .. ": ", err)
      assert.matches(case[2], err, 1, true)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
      assert.are.equal("keep\n", support.read(out .. "/marker"))
    end
  end)

  it("w8a16: every layer and adapter within 1 LSB of the exact fake-quant reference, and the model targets", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("eval", MODEL, "--qparams", qp.w8a16, "-z", TOK, "--text", TEXT)
    assert.are.equal(0, code, err)
    local v = lines_of(out)
    -- 15 summaries: 5 layers x prefill, decode, append
    assert.are.equal(15, select(2, out:gsub("Quantization Error Summary", "")))
    assert.is_true(v.within_1lsb_min >= 0.99, "within 1 LSB: " .. v.within_1lsb_min)
    assert.is_true(v.prefill_vs_decode_max_lsb <= 1, "prefill vs decode: " .. v.prefill_vs_decode_max_lsb)
    assert.are.equal(32997, v.positions)
    assert.is_true(v.perplexity <= 3.615, "perplexity " .. v.perplexity)
    assert.is_true(v.kl_mean <= 0.01, "KL " .. v.kl_mean)
    assert.is_true(v.top1_agreement >= 0.97, "top-1 " .. v.top1_agreement)
  end)

  it("w8a8: every layer and adapter within 1 LSB of the exact fake-quant reference", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("eval", MODEL, "--qparams", qp.w8a8, "-z", TOK, "--text", TEXT, "--stories", "20")
    assert.are.equal(0, code, err)
    local v = lines_of(out)
    assert.is_true(v.within_1lsb_min >= 0.99, "within 1 LSB: " .. v.within_1lsb_min)
    assert.is_true(v.prefill_vs_decode_max_lsb <= 1)
    assert.is_true(v.perplexity > v.perplexity_float and v.perplexity < 2 * v.perplexity_float, "perplexity " .. v.perplexity)
  end)

  it("requantizes the past on read when imported KV qparams are untied", function()
    if not support.needs_shared() then return end
    -- an imported calibration whose cache observers disagree
    local doc = cjson.decode(support.read(qp.w8a16))
    for l = 0, 4 do
      local o = doc.observers
      o[string.format("model.layers.%d.self_attn.past_key", l)].scale = o[string.format("model.layers.%d.self_attn.past_key", l)].scale * 1.5
      o[string.format("model.layers.%d.self_attn.present_value", l)].scale = o[string.format("model.layers.%d.self_attn.present_value", l)].scale * 1.25
    end
    local q = work .. "/untied.json"
    support.write(q, cjson.encode(doc))
    local _, err, code = support.kiln_run("gen", MODEL, "--qparams", q, "-o", work .. "/untied")
    assert.are.equal(0, code, err)
    assert.matches("untied", err)
    assert.matches("requantized", support.read(work .. "/untied/layer_0.c"))
    local out, err2, code2 = support.kiln_run("eval", MODEL, "--qparams", q, "-z", TOK, "--text", TEXT, "--layers-only")
    assert.are.equal(0, code2, err2)
    local v = lines_of(out)
    assert.is_true(v.within_1lsb_min >= 0.99, "within 1 LSB: " .. v.within_1lsb_min)
  end)

  it("kiln run --qparams decodes run.c's greedy text through the generated C (w8a16)", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("run", MODEL, "-z", TOK, "--qparams", qp.w8a16, "-n", "200")
    assert.are.equal(0, code, err)
    assert.are.equal(support.read(support.models .. "/stories260K_ref_t0_n200.txt"), out)
    local _, err2, code2 = support.kiln_run("run", MODEL, "-z", TOK, "--qparams", qp.w8a16, "-t", "0.8")
    assert.are.equal(2, code2)
    assert.matches("greedily", err2)
  end)

  it("kiln ppl --qparams scores the generated C", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("ppl", MODEL, "-z", TOK, "--text", TEXT, "--qparams", qp.w8a16, "--max-tokens", "128")
    assert.are.equal(0, code, err)
    local ppl = tonumber(out:match("perplexity (%S+)\n$"))
    assert.is_true(ppl > 1 and ppl < 10, tostring(ppl))
  end)
end)
