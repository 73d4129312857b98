-- The linear kernels on 4-bit weights (runtime/*/kiln_linear_*w4.c) against
-- a reference written from their headers' layouts, bit for bit
-- (tests/runtime/test_linear_w4.c): the portable kernels with gcc and clang
-- at -O2 (their fast loop) and -Os (the exact one); the x86 kernels with gcc
-- and clang where this CPU has their instructions; the NEON kernels built for
-- AArch64 under qemu-aarch64; the Cortex-M4 and Cortex-M55 kernels as
-- firmware (kiln's own start-up and semihosting) under qemu-system-arm. A family this host cannot
-- build or run is pending, with the reason.

local support = require "support"
local targets = require "emit.targets"

local STRICT = "-std=c99 -Wall -Wextra -Wpedantic -Werror"
local TEST = "tests/runtime/test_linear_w4.c"
local PORTABLE = "runtime/portable/kiln_linear_w4.c runtime/portable/kiln_rt_math.c"
local INCLUDES = "-Iruntime/portable -Iruntime/x86 -Iruntime/armv8 -Iruntime/cortex-m4 -Iruntime/cortex-m55"

local X86 = {
  { define = "KILN_TEST_AVX2", target = "x86-avx2", source = "runtime/x86/kiln_linear_avx2_w4.c" },
  { define = "KILN_TEST_AVXVNNI", target = "x86-avx-vnni", source = "runtime/x86/kiln_linear_avxvnni_w4.c" },
  { define = "KILN_TEST_AVX512", target = "x86-vnni", source = "runtime/x86/kiln_linear_avx512_w4.c" },
}

-- The -m flags of a target's rules (its cflags past the warnings).
local function isa_flags(rules)
  local flags = {}
  for f in rules.build.cflags:gmatch("%-m%S+") do flags[#flags + 1] = f end
  return table.concat(flags, " ")
end

local function missing_tool(...)
  for _, tool in ipairs({ ... }) do
    if not support.sh("command -v " .. tool) then return tool .. " is not installed" end
  end
end

-- Builds the harness with cmd (a format for the output path) and runs it with
-- runner (a format for that path); asserts every kernel agreed.
local function build_and_run(cmd, runner)
  local exe = support.tmpdir() .. "/test_linear_w4"
  local ok, log = support.sh(string.format(cmd, exe))
  assert.is_true(ok, log)
  local out
  ok, out = support.sh(string.format(runner, exe))
  assert.is_true(ok, out)
  assert.matches("\nok\n$", out)
  return out
end

describe("4-bit linear kernels", function()
  after_each(function() support.cleanup() end)

  for _, cc in ipairs({ "gcc", "clang" }) do
    for _, opt in ipairs({ "-O2", "-Os" }) do
      it("portable, " .. cc .. " " .. opt .. ": the documented rows, bit for bit", function()
        local out = build_and_run(string.format("%s %s %s %s %s %s -o %%s", cc, STRICT, opt, INCLUDES, TEST, PORTABLE),
          "%s")
        assert.matches("kiln_linear_u4 ok\nkiln_linear_s4 ok\n", out)
      end)
    end

    for _, f in ipairs(X86) do
      it(f.target .. ", " .. cc .. ": the n16k4 nibbles, bit for bit with the portable kernels", function()
        local rules = targets.load(".", f.target)
        local missing = targets.missing_flags(rules)
        if #missing > 0 then return pending("this host's CPU lacks " .. table.concat(missing, ", ")) end
        local out = build_and_run(string.format("%s %s -O2 %s -D%s %s %s %s %s -o %%s", cc, STRICT, isa_flags(rules),
          f.define, INCLUDES, TEST, PORTABLE, f.source), "%s")
        assert.are.equal(6, select(2, out:gsub(" ok\n", "")), out) -- portable's two and the target's four
      end)
    end
  end

  it("armv8-dot (UDOT, SDOT) under qemu-aarch64", function()
    local why = missing_tool("aarch64-linux-gnu-gcc", "qemu-aarch64")
    if why then return pending(why) end
    local out = build_and_run(string.format("aarch64-linux-gnu-gcc %s -O2 -march=armv8.2-a+dotprod -static "
      .. "-DKILN_TEST_NEON %s %s %s runtime/armv8/kiln_linear_neon_w4.c -o %%s", STRICT, INCLUDES, TEST, PORTABLE),
      "qemu-aarch64 %s")
    assert.matches("kiln_linear_dot_u4 ok\nkiln_linear_dot_s4 ok\n", out)
  end)

  -- the Arm M-profile kernels as firmware: kiln's own around the synthetic model gives the start-up,
  -- semihosting and linker script
  for _, f in ipairs({
    { target = "cortex-m4", what = "SMLAD", define = "KILN_TEST_DSP", source = "cortex-m4/kiln_linear_dsp_w4.c",
      kernel = "kiln_linear_dsp" },
    { target = "cortex-m55", what = "Helium", define = "KILN_TEST_MVE",
      source = "cortex-m55/kiln_linear_mve_w4.c runtime/cortex-m55/kiln_mve_start.c", kernel = "kiln_linear_mve" },
  }) do
    it(f.target .. " (" .. f.what .. ") as firmware under qemu-system-arm", function()
      local why = missing_tool("arm-none-eabi-gcc", "qemu-system-arm")
        or support.missing_board(targets.load(".", f.target).build)
      if why then return pending(why) end
      local dir = support.tmpdir()
      support.kiln_ok("synth", "-o", dir)
      support.kiln_ok("gen", dir .. "/model.bin", "--qparams", "out/synthetic.qparams.json", "--target", f.target,
        "-o", dir .. "/fw")
      local build = targets.load(".", f.target).build
      local fw = dir .. "/fw/firmware"
      local cmd = string.format("%s %s -D%s -I%s %s %s %s runtime/%s %s/startup.c %s/semihosting.c %s/clock.c %s "
        .. "-T %s/link.ld -lgcc -o %%s", build.cc, build.cflags, f.define, fw, INCLUDES, TEST, PORTABLE, f.source, fw, fw,
        fw, build.ldflags, fw)
      local run = { command = build.run.command, args = build.run.args }
      local out = build_and_run(cmd, targets.run_command({ run = run, image = "%s" }, nil, ""))
      assert.matches(f.kernel .. "_u4 ok\n" .. f.kernel .. "_s4 ok\n", out)
    end)
  end
end)
