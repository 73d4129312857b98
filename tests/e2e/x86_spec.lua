-- The x86 targets (AVX-512 VNNI, AVX-VNNI and AVX2) compute exactly
-- the portable target's integers: on stories260K end to end, and on a
-- TinyLlama-shaped decoder layer fed inputs that span each grid's whole range
-- (the kernels' overflow fallbacks included), adapter by adapter.

local support = require "support"
local native = require "kiln_native"
local checkpoints = require "bench.checkpoints"
local calibration = require "bench.calibration"
local checkpoint = require "read.checkpoint"
local qparams_file = require "calib.qparams_file"
local grids = require "plan.grids"
local targets = require "emit.targets"
local host = require "eval.host"

local MODEL = support.models .. "/stories260K.bin"
local PROMPT = "1 317 269 368 302 263 377 267 265 282 295 433 426"
local X86 = { "x86-vnni", "x86-avx-vnni", "x86-avx2" }

-- The x86 targets whose code this host can run.
local function runnable()
  local list = {}
  for _, name in ipairs(X86) do
    if pcall(host.check_cpu, targets.load(".", name)) then list[#list + 1] = name end
  end
  return list
end

local sh = support.sh

local function gen_and_build(model, qp, target, dir, ...)
  local _, err, code = support.kiln_run("gen", model, "--qparams", qp, "--target", target, "-o", dir, ...)
  assert(code == 0, err)
  local ok, log = sh("make -C " .. dir)
  assert(ok, target .. ": " .. log)
end

-- Runs build/kiln_host of dir with args and binary stdin.
local function run_host(dir, args, input)
  local inp = dir .. "/stdin.bin"
  support.write(inp, input or "")
  local ok, out = sh(dir .. "/build/kiln_host " .. args .. " <" .. inp)
  assert(ok, out)
  return out
end

-- n int16 codes drawn uniformly from [lo, hi], with both ends present.
local function random_codes(n, lo, hi, seed)
  local v = {}
  for i = 1, n do
    seed = (seed * 1103515245 + 12345) % 2147483648
    v[i] = lo + seed % (hi - lo + 1)
  end
  v[1], v[n] = lo, hi
  local parts = {}
  for i = 1, n, 4096 do
    parts[#parts + 1] = string.pack("<" .. string.rep("i2", math.min(4096, n - i + 1)),
      table.unpack(v, i, math.min(i + 4095, n)))
  end
  return table.concat(parts)
end

describe("x86 targets against portable", function()
  local work, hosts

  setup(function()
    work = support.tmpdir()
    hosts = runnable()
  end)
  teardown(function() support.cleanup() end)

  local function needs_x86()
    if #hosts > 0 then return true end
    pending("this host runs neither x86-vnni nor x86-avx-vnni")
    return false
  end

  for _, preset in ipairs({ "w8a16", "w8a8" }) do
    it("gives the same tokens and final hidden codes on stories260K (" .. preset .. ")", function()
      if not (support.needs_shared() and needs_x86()) then return end
      local qp = support.calibrate(work, preset, "--samples", "4")
      local reference
      for _, target in ipairs({ "portable", table.unpack(hosts) }) do
        local dir = string.format("%s/s_%s_%s", work, preset, target)
        gen_and_build(MODEL, qp, target, dir)
        local out = run_host(dir, "generate 64 " .. PROMPT)
        assert.matches("^[%d ]+\nhidden[%d %-]+\n", out)
        if reference then
          assert.are.equal(reference, out, target)
        else
          reference = out
        end
      end
    end)
  end

  for _, preset in ipairs({ "w8a8", "w8a16" }) do
    it("computes a TinyLlama-shaped layer bit for bit over whole grids (" .. preset .. ")", function()
      if not needs_x86() then return end
      local shape = { dim = 2048, hidden_dim = 5632, n_layers = 1, n_heads = 32, n_kv_heads = 4, vocab = 64,
        seq_len = 256 }
      local model = work .. "/layer.bin"
      if not support.exists(model) then checkpoints.write(native, model, shape, 5) end
      local qp = work .. "/layer_" .. preset .. ".json"
      calibration.write(native, model, preset, qp, { samples = 1, tokens = 16, decode_steps = 2 })
      local q = qparams_file.read(qp, checkpoint.open(model).description)
      local gx = grids.of(q, "model.embed_tokens.weight")
      local gk = grids.of(q, "model.layers.0.self_attn.new_k")
      local gv = grids.of(q, "model.layers.0.self_attn.new_v")
      local kv_words = shape.n_kv_heads * shape.seq_len * (shape.dim // shape.n_heads)
      local cache = random_codes(kv_words, gk.qmin, gk.qmax, 3) .. random_codes(kv_words, gv.qmin, gv.qmax, 4)
      -- prefill: 27 rows (four 6-row tiles and a rest of 3); decode after 200; append 5 after 100
      local calls = {
        { "prefill", 27, 0, "" }, { "decode", 1, 200, cache }, { "append", 5, 100, cache },
      }
      local outputs = {}
      for _, target in ipairs({ "portable", table.unpack(hosts) }) do
        local dir = string.format("%s/l_%s_%s", work, preset, target)
        gen_and_build(model, qp, target, dir, "--prefill-len", "27", "--append-len", "5")
        for i, c in ipairs(calls) do
          local x = random_codes(c[2] * shape.dim, gx.qmin, gx.qmax, 10 + i)
          local out = run_host(dir, "layer 0 " .. c[1], string.pack("<i4i4", c[2], c[3]) .. x .. c[4])
          assert.are.equal((c[2] * shape.dim + 2 * c[2] * 256) * 2, #out, target .. " " .. c[1])
          local key = c[1]
          if outputs[key] then
            assert.is_true(outputs[key] == out, target .. " " .. c[1] .. " differs from portable")
          else
            outputs[key] = out
          end
        end
      end
    end)
  end

  it("refuses to run a target whose instructions this CPU lacks, in one line", function()
    local ok, err = pcall(host.check_cpu, { name = "imaginary", cpu_flags = { "sse2", "no_such_feature" },
      fallback = "portable" })
    assert.is_false(ok)
    local text = tostring(err)
    assert.matches("no_such_feature", text)
    assert.matches("portable", text)
    assert.is_nil(text:find("\n"))
  end)
end)
