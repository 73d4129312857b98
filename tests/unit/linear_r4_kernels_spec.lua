-- The Cortex-M4 blocked linear kernels (kiln_linear_dsp_[us]8_r4, _r4a8) against
-- the portable linear's integers, bit for bit (tests/runtime/test_linear_r4.c),
-- as firmware (kiln's own start-up and semihosting, from the synthetic
-- model's tree) under qemu-system-arm; pending where this host lacks the
-- cross compiler or the board.

local support = require "support"
local targets = require "emit.targets"

describe("cortex-m4 blocked linear kernels", function()
  after_each(function() support.cleanup() end)

  it("kiln_linear_dsp_[us]8_r4 and _r4a8 as firmware under qemu-system-arm", function()
    local build = targets.load(".", "cortex-m4").build
    for _, tool in ipairs({ "arm-none-eabi-gcc", "qemu-system-arm" }) do
      if not support.sh("command -v " .. tool) then return pending(tool .. " is not installed") end
    end
    local why = support.missing_board(build)
    if why then return pending(why) end
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir)
    support.kiln_ok("gen", dir .. "/model.bin", "--qparams", "out/synthetic.qparams.json", "--target", "cortex-m4",
      "-o", dir .. "/fw")
    local fw, exe = dir .. "/fw/firmware", dir .. "/test_linear_r4.elf"
    local ok, log = support.sh(string.format("%s %s -I%s -Iruntime/portable -Iruntime/cortex-m4 -Itests/runtime "
      .. "tests/runtime/test_linear_r4.c runtime/cortex-m4/kiln_linear_dsp.c runtime/portable/kiln_rt_ops.c "
      .. "runtime/portable/kiln_rt_math.c %s/startup.c %s/semihosting.c %s/clock.c %s -T %s/link.ld -lgcc -o %s",
      build.cc, build.cflags, fw, fw, fw, fw, build.ldflags, fw, exe))
    assert.is_true(ok, log)
    local out
    ok, out = support.sh(targets.run_command({ run = { command = build.run.command, args = build.run.args },
      image = exe }, nil, ""))
    assert.is_true(ok, out)
    assert.matches("kiln_linear_dsp_u8_r4 ok\nkiln_linear_dsp_s8_r4 ok\nkiln_linear_dsp_u8_r4a8 ok\n"
      .. "kiln_linear_dsp_s8_r4a8 ok\nok\n$", out)
  end)
end)
