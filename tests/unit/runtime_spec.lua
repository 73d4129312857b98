-- The portable runtime's arithmetic (rounding, wide products, division,
-- square root) against 128-bit references, with gcc and clang; the
-- Cortex-M requantization against the portable one, bit for bit; and the
-- Cortex-M4 elementwise kernels against the portable ones, as firmware
-- under qemu-system-arm (tests/runtime/test_ops_dsp.c).

local support = require "support"
local targets = require "emit.targets"

-- Builds a test program with cc and runs it: its output ("ok N").
local function build_and_run(cc, includes, source)
  local exe = support.tmpdir() .. "/" .. source:match("([%w_]+)%.c$")
  local p = io.popen(string.format("%s -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror %s %s "
    .. "runtime/portable/kiln_rt_math.c -o %s 2>&1", cc, includes, source, exe))
  local log = p:read("a")
  assert.is_true(p:close(), log)
  p = io.popen(exe)
  local out = p:read("a")
  assert.is_true(p:close(), out)
  return out
end

describe("portable runtime arithmetic", function()
  after_each(function() support.cleanup() end)

  for _, cc in ipairs({ "gcc", "clang" }) do
    it("agrees with 128-bit references (" .. cc .. ")", function()
      assert.matches("^ok %d+\n$", build_and_run(cc, "-Iruntime/portable", "tests/runtime/test_rt_math.c"))
    end)

    it("the Cortex-M requantization equals the portable one (" .. cc .. ")", function()
      assert.matches("^ok %d+\n$", build_and_run(cc, "-Iruntime/portable -Iruntime/cortex-m4",
        "tests/runtime/test_dsp_requant.c"))
    end)
  end

  it("the Cortex-M4 elementwise kernels equal the portable ones (firmware under qemu-system-arm)", function()
    for _, tool in ipairs({ "arm-none-eabi-gcc", "qemu-system-arm" }) do
      if not support.sh("command -v " .. tool) then return pending(tool .. " is not installed") end
    end
    local build = targets.load(".", "cortex-m4").build
    local why = support.missing_board(build)
    if why then return pending(why) end
    -- kiln's own firmware around the synthetic model gives the start-up, semihosting and linker script
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir)
    support.kiln_ok("gen", dir .. "/model.bin", "--qparams", "out/synthetic.qparams.json", "--target", "cortex-m4",
      "-o", dir .. "/fw")
    local fw, exe = dir .. "/fw/firmware", dir .. "/test_ops_dsp.elf"
    local ok, log = support.sh(string.format("%s %s -I%s -Iruntime/portable -Iruntime/cortex-m4 -Itests/runtime "
      .. "tests/runtime/test_ops_dsp.c runtime/portable/kiln_rt_ops.c runtime/portable/kiln_rt_math.c "
      .. "runtime/cortex-m4/kiln_ops_dsp.c %s/startup.c %s/semihosting.c %s/clock.c %s -T %s/link.ld -lgcc -o %s",
      build.cc, build.cflags, fw, fw, fw, fw, build.ldflags, fw, exe))
    assert.is_true(ok, log)
    local out
    ok, out = support.sh(targets.run_command({ run = { command = build.run.command, args = build.run.args },
      image = exe }, nil, ""))
    assert.is_true(ok, out)
    assert.matches("\nok\n$", out)
  end)
end)
