-- The same inputs give the same bytes on every host. One machine cannot be
-- every host, but it can run what makes hosts differ: other CPUs emulated by
-- qemu-x86_64 (an AVX2-only Haswell, a Nehalem without AVX or FMA), OpenBLAS's
-- kernels for other CPUs (OPENBLAS_CORETYPE), each of kiln's float kernel
-- sets (KILN_FLOAT_KERNELS), glibc's libm without its FMA and AVX2 variants
-- (GLIBC_TUNABLES), and the native module compiled for the x86-64 baseline
-- and for this CPU. Calibration, generation and evaluation of the synthetic
-- model must not notice any of them. Whatever this CPU cannot run is pending.

local support = require "support"
local native = require "kiln_native"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"

-- OpenBLAS core types (its DYNAMIC_ARCH names) and the CPU flags each needs.
local CORETYPES = {
  { "Prescott", "pni" },
  { "Nehalem", "ssse3", "sse4_1", "sse4_2" },
  { "Sandybridge", "avx" },
  { "Haswell", "avx2", "fma" },
  { "SkylakeX", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl" },
}
local KERNELS = { "portable", "avx2", "avx512" }
-- glibc's libm chooses FMA/AVX2 variants of exp, log, sin, cos, pow by the CPU
local NO_FMA_LIBM = "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA"

local function cpu_flags()
  local flags = {}
  local f = io.open("/proc/cpuinfo")
  local line = f and f:read("a"):match("\nflags%s*:([^\n]*)") or ""
  if f then f:close() end
  for flag in line:gmatch("%S+") do flags[flag] = true end
  return flags
end

local function runs(flags, needs)
  for i = 2, #needs do
    if not flags[needs[i]] then return false end
  end
  return true
end

local sh, quote = support.sh, support.quote

-- The synthetic model, tokenizer and text in a fresh directory.
local function synthetic()
  local dir = support.tmpdir()
  local _, err, code = support.kiln_run("synth", "-o", dir)
  assert(code == 0, err)
  return dir
end

-- `kiln calib` of the synthetic model (as `make golden` runs it) under an
-- environment prefix, with the kiln script `kiln`; returns the qparams bytes.
local function calibrate(model_dir, env, kiln)
  local out = support.tmpdir() .. "/q.json"
  local ok, log = sh(string.format("%s %s calib %s/model.bin -z %s/tokenizer.bin --text %s/text.txt --samples 8 "
    .. "--decode-steps 4 --preset w8a16 -o %s", env or "", kiln or support.kiln, model_dir, model_dir, model_dir, out))
  assert(ok, log)
  return support.read(out)
end

describe("the same bytes on every host", function()
  local model_dir, reference
  setup(function()
    model_dir = synthetic()
    reference = calibrate(model_dir)
  end)
  teardown(function() support.cleanup() end)

  -- The emulated CPU runs the generator itself (Lua, the native module, its
  -- OpenBLAS and libm); both must regenerate the committed golden.
  for _, cpu in ipairs({ "Haswell", "Nehalem" }) do
    it("an emulated " .. cpu .. " calibrates and generates the golden byte for byte", function()
      if not sh("command -v qemu-x86_64") then
        pending("qemu-x86_64 (Debian's qemu-user) is not installed")
        return
      end
      -- qemu warns about CPU features TCG lacks: its stderr goes to a file
      local log = support.tmpdir() .. "/stderr"
      local qemu = string.format("qemu-x86_64 -cpu %s /usr/bin/lua5.4 %s", cpu, support.kiln)
      local function run(args)
        local ok = sh(string.format("%s %s 2>%s", qemu, args, log))
        assert(ok, cpu .. ": kiln " .. args .. "\n" .. support.read(log))
      end
      local dir = support.tmpdir()
      run(string.format("calib %s/model.bin -z %s/tokenizer.bin --text %s/text.txt --samples 8 --decode-steps 4 "
        .. "--preset w8a16 -o %s/synthetic.qparams.json", model_dir, model_dir, model_dir, dir))
      assert.are.equal(support.read("out/synthetic.qparams.json"), support.read(dir .. "/synthetic.qparams.json"))
      run(string.format("gen %s/model.bin --qparams %s/synthetic.qparams.json -o %s/synthetic", model_dir, dir, dir))
      local same, diff = sh("diff -r --exclude=build out/synthetic " .. dir .. "/synthetic")
      assert(same, cpu .. ": the generated C differs from out/synthetic:\n" .. diff:sub(1, 2000))
    end)
  end

  it("calibration does not depend on OpenBLAS's core type", function()
    local flags, tried = cpu_flags(), {}
    for _, ct in ipairs(CORETYPES) do
      if runs(flags, ct) then
        tried[#tried + 1] = ct[1]
        assert.are.equal(reference, calibrate(model_dir, "OPENBLAS_CORETYPE=" .. ct[1]), "OPENBLAS_CORETYPE=" .. ct[1])
      end
    end
    if #tried < 3 then pending("this CPU runs fewer than three OpenBLAS core types (" .. table.concat(tried, ", ") .. ")") end
  end)

  for _, kernels in ipairs(KERNELS) do
    it("calibration is the same with the " .. kernels .. " float kernels", function()
      if not native.matmul_kernels(kernels) then
        pending("this CPU cannot run the " .. kernels .. " kernels")
        return
      end
      native.matmul_kernels("auto")
      assert.are.equal(reference, calibrate(model_dir, "KILN_FLOAT_KERNELS=" .. kernels))
    end)
  end

  it("calibration is the same with glibc's libm without its FMA variants", function()
    assert.are.equal(reference, calibrate(model_dir, NO_FMA_LIBM))
  end)

  for _, arch in ipairs({ "-march=x86-64", "-march=native" }) do
    it("calibration is the same with the native module built with " .. arch, function()
      local tree = support.tmpdir() .. "/kiln"
      local ok, log = sh(string.format("mkdir -p %s && cp -r gen runtime rules templates Makefile %s && "
        .. "make -s -C %s native NATIVE_ARCH=%s", tree, tree, tree, arch))
      assert(ok, log)
      assert.are.equal(reference, calibrate(model_dir, nil, tree .. "/gen/kiln"))
    end)
  end

  it("generation and evaluation give the same bytes with other kernels and libm", function()
    local qp = support.tmpdir() .. "/q.json"
    support.write(qp, reference)
    local variants = { "", "KILN_FLOAT_KERNELS=avx2 " .. NO_FMA_LIBM }
    local outputs = {}
    for i, env in ipairs(variants) do
      if i > 1 and not native.matmul_kernels("avx2") then
        pending("this CPU cannot run the avx2 kernels")
        return
      end
      native.matmul_kernels("auto")
      local dir = support.tmpdir()
      local ok, log = sh(string.format("%s %s gen %s/model.bin --qparams %s -o %s/gen", env, support.kiln, model_dir,
        quote(qp), dir))
      assert(ok, log)
      ok, log = sh(string.format("%s %s eval %s/model.bin --qparams %s -z %s/tokenizer.bin --text %s/text.txt "
        .. "--stories 4 --max-tokens 128 > %s/eval.txt", env, support.kiln, model_dir, quote(qp), model_dir, model_dir, dir))
      assert(ok, log)
      outputs[i] = dir
    end
    local ok, diff = sh(string.format("diff -r %s %s", outputs[1], outputs[2]))
    assert(ok, "generated C or eval report differ:\n" .. diff:sub(1, 2000))
  end)

  it("a token's float logits are the same in a prefill and in a decode step", function()
    local m = float_model.load(native, checkpoint.open(model_dir .. "/model.bin")).native
    local ids = { 1, 72, 101, 108, 108, 111, 44, 32, 119 }
    local vocab = #m:forward({ 1 }, 0, false)
    local prefill = m:forward(ids, 0, true):slice((#ids - 1) * vocab, vocab):to_table()
    m:forward(table.move(ids, 1, #ids - 1, 1, {}), 0, false)
    local decode = m:forward({ ids[#ids] }, #ids - 1, false):to_table()
    for j = 1, vocab do
      assert(string.pack("<f", prefill[j]) == string.pack("<f", decode[j]),
        string.format("logit %d: prefill %a, decode %a", j - 1, prefill[j], decode[j]))
    end
  end)
end)
