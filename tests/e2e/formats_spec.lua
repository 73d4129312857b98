-- Checkpoints in every format kiln reads: the synthetic model written by
-- `kiln synth --format` as llama2.c, Hugging Face (fp32, fp16, bf16) and GGUF,
-- and, with ../shared, stories260K and a random GQA Llama as written by
-- transformers and llama.cpp themselves. The same weights give the same
-- float logits in every format; every dtype runs the whole pipeline; weights
-- stay in their stored dtype.

local support = require "support"
local native = require "kiln_native"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"

local IDS = { 1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100 }

local function synth(format, dtype)
  local dir = support.tmpdir()
  local out, err, code = support.kiln_run("synth", "-o", dir, "--format", format, "--dtype", dtype or "fp32")
  assert(code == 0, err)
  return out:match("^[^\n]+"), dir
end

-- The float logits of IDS (every position) as bytes.
local function logits(model_path, dtype)
  local m = float_model.load(native, checkpoint.open(model_path, dtype), { max_seq = #IDS })
  local t = m.native:forward(IDS, 0, true):to_table()
  local parts = {}
  for i, v in ipairs(t) do parts[i] = string.pack("<f", v) end
  return table.concat(parts), t
end

local function ok(...)
  local out, err, code = support.kiln_run(...)
  assert(code == 0, err)
  return out, err
end

-- calib, gen, eval on a model; returns the qparams' text and eval's figures.
local function pipeline(model, tok, text, ...)
  local dir = support.tmpdir()
  ok("calib", model, "-z", tok, "--text", text, "--samples", "4", "--decode-steps", "2", "-o", dir .. "/q.json", ...)
  ok("gen", model, "--qparams", dir .. "/q.json", "-o", dir .. "/c", ...)
  local out = ok("eval", model, "--qparams", dir .. "/q.json", "-z", tok, "--text", text, "--stories", "3",
    "--max-tokens", "96", ...)
  local figures = {}
  for k, v in out:gmatch("\n([%w_]+) ([-%d%.e]+)") do figures[k] = tonumber(v) end
  return support.read(dir .. "/q.json"), figures
end

describe("checkpoint formats", function()
  after_each(function() support.cleanup() end)

  it("the synthetic model gives the same float logits as llama2.c, HF and GGUF (fp32)", function()
    local bin, dir = synth("llama2c")
    local ref = logits(bin)
    assert.are.equal(ref, logits((synth("hf"))), "HF")
    assert.are.equal(ref, logits((synth("gguf"))), "GGUF")
    -- and the same text from `kiln run`
    local text = ok("run", bin, "-z", dir .. "/tokenizer.bin", "-t", "0", "-n", "24")
    assert.are.equal(text, ok("run", synth("hf"), "-z", dir .. "/tokenizer.bin", "-t", "0", "-n", "24"))
    assert.are.equal(text, ok("run", synth("gguf"), "-z", dir .. "/tokenizer.bin", "-t", "0", "-n", "24"))
  end)

  it("holds bf16 and fp16 weights as stored, and --dtype converts as torch's .to() does", function()
    local bf16 = synth("hf", "bf16")
    local m = float_model.load(native, checkpoint.open(bf16), { max_seq = 8 })
    for name, t in pairs(m.weights[1]) do assert.are.equal("bf16", t:dtype(), name) end
    assert.are.equal("bf16", m.embedding:dtype())
    -- fp32 weights held as bf16 give what the bf16 file gives
    assert.are.equal(logits(bf16), logits((synth("llama2c")), "bf16"))
    -- GGUF keeps the norms in fp32 beside fp16 matrices, and so does kiln
    local g = float_model.load(native, checkpoint.open((synth("gguf", "fp16"))), { max_seq = 8 })
    assert.are.equal("fp16", g.weights[1]["self_attn.q_proj.weight"]:dtype())
    assert.are.equal("fp32", g.weights[1]["input_layernorm.weight"]:dtype())
  end)

  for _, dtype in ipairs({ "bf16", "fp16" }) do
    it("runs the whole pipeline on an HF " .. dtype .. " model, and records its dtype", function()
      local model, dir = synth("hf", dtype)
      local tok, text = dir .. "/tokenizer.bin", dir .. "/text.txt"
      ok("run", model, "-z", tok, "-n", "8")
      ok("ppl", model, "-z", tok, "--text", text, "--max-tokens", "96")
      local q, f = pipeline(model, tok, text)
      assert.matches('"dtype": "' .. dtype .. '"', q, 1, true)
      assert.is_true(f.within_1lsb_min >= 0.99, tostring(f.within_1lsb_min))
      -- the same weights held as fp32 are another model: the qparams say so
      local bin = synth("llama2c")
      local qp = support.tmpdir() .. "/q.json"
      support.write(qp, q)
      local _, err, code = support.kiln_run("gen", bin, "--qparams", qp, "-o", support.tmpdir() .. "/c")
      assert.are.equal(1, code)
      assert.matches("model.dtype: " .. dtype .. " in the file, but fp32 in the model; --dtype " .. dtype, err, 1, true)
      -- and another file: the same weights in the llama2c format are used only when asked
      local _, err2, code2 = support.kiln_run("gen", bin, "--dtype", dtype, "--qparams", qp, "-o", support.tmpdir() .. "/c")
      assert.are.equal(1, code2, err2)
      assert.matches("model.sha256: made for ", err2, 1, true)
      local _, err3, code3 = support.kiln_run("gen", bin, "--dtype", dtype, "--qparams", qp, "--allow-other-checkpoint",
        "-o", support.tmpdir() .. "/c")
      assert.are.equal(0, code3, err3)
    end)
  end

  it("a folder's sha256 covers its config and its weights", function()
    local _, dir = synth("hf")
    local a = checkpoint.sha256(checkpoint.open(dir))
    assert.matches("^%x+$", a)
    local config = support.read(dir .. "/config.json")
    support.write(dir .. "/config.json", config:gsub('"bos_token_id": 1', '"bos_token_id": 3'))
    assert.are_not.equal(a, checkpoint.sha256(checkpoint.open(dir)))
  end)

  describe("as transformers and llama.cpp write them (../shared)", function()
    local M = support.models
    local REF = M .. "/stories260K_ref_t0_n200.txt"

    it("stories260K from HF fp32 and from GGUF: run.c's text and the .bin's perplexity", function()
      if not support.needs_shared() then return end
      for _, model in ipairs({ M .. "/hf/stories260K-fp32", M .. "/stories260K.gguf" }) do
        assert.are.equal(support.read(REF), ok("run", model, "-z", M .. "/tok512.bin", "-t", "0", "-n", "200"), model)
        local out = ok("ppl", model, "-z", M .. "/tok512.bin", "--text", M .. "/tinystories_valid_first100.txt")
        local ppl = tonumber(out:match("perplexity ([%d%.]+)"))
        assert.is_true(math.abs(ppl - 3.5794) <= 0.0005, model .. ": " .. ppl)
      end
    end)

    it("stories260K in bf16 and fp16 through the whole pipeline", function()
      if not support.needs_shared() then return end
      for _, dtype in ipairs({ "bf16", "fp16" }) do
        local model = M .. "/hf/stories260K-" .. dtype
        local _, f = pipeline(model, M .. "/tok512.bin", M .. "/tinystories_valid_first100.txt")
        assert.is_true(f.within_1lsb_min >= 0.99, dtype .. ": " .. tostring(f.within_1lsb_min))
        assert.is_true(f.top1_agreement >= 0.9, dtype .. ": " .. tostring(f.top1_agreement))
      end
    end)

    it("kiln's bf16 rounding of the .bin is transformers' (the same logits as its bf16 folder)", function()
      if not support.needs_shared() then return end
      assert.are.equal(logits(M .. "/hf/stories260K-bf16"), logits(M .. "/stories260K.bin", "bf16"))
      assert.are.equal(logits(M .. "/hf/stories260K-fp16"), logits(M .. "/stories260K.bin", "fp16"))
    end)

    it("the random GQA Llama: shards = one file, GGUF = HF, Q8_0 near F32", function()
      if not support.needs_shared() then return end
      assert.are.equal(logits(M .. "/hf/rand-llama-h256-bf16"), logits(M .. "/hf/rand-llama-h256-bf16-sharded"))
      local f32, values = logits(M .. "/hf/rand-llama-h256-fp32")
      assert.are.equal(f32, logits(M .. "/gguf/rand-llama-h256-f32.gguf"))
      local _, q8 = logits(M .. "/gguf/rand-llama-h256-Q8_0.gguf")
      local worst = 0
      for i = 1, #values do worst = math.max(worst, math.abs(values[i] - q8[i])) end
      assert.is_true(worst < 0.05, "Q8_0 logits differ by " .. worst)
    end)

    it("the random GQA Llama calibrates and generates for portable and cortex-m4", function()
      if not support.needs_shared() then return end
      local model = M .. "/hf/rand-llama-h256-bf16"
      local dir = support.tmpdir()
      ok("calib", model, "-z", M .. "/tok512.bin", "--text", M .. "/tinystories_valid_first100.txt", "--samples", "2",
        "--decode-steps", "2", "--max-tokens", "64", "-o", dir .. "/q.json")
      for _, target in ipairs({ "portable", "cortex-m4" }) do
        ok("gen", model, "--qparams", dir .. "/q.json", "--target", target, "-o", dir .. "/" .. target)
        assert.is_true(support.sh("make -s -C " .. dir .. "/" .. target .. " >/dev/null 2>&1"), target)
      end
    end)
  end)
end)
