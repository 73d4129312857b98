-- The Cortex-M55 Helium kernels of runtime/cortex-m55/ (adds, products,
-- requantization, sigmoid, softmax, the attention rows, the 8-bit linear
-- kernels) against the portable runtime, bit for bit
-- (tests/runtime/test_ops_mve.c), as firmware under qemu-system-arm: kiln's
-- own around the synthetic model gives the start-up, semihosting and linker
-- script. Pending where this host cannot build or run it.

local support = require "support"
local targets = require "emit.targets"

local INCLUDES = "-Iruntime/portable -Iruntime/cortex-m55 -Itests/runtime"
local SOURCES = "tests/runtime/test_ops_mve.c runtime/portable/kiln_rt_math.c runtime/portable/kiln_rt_ops.c "
  .. "runtime/cortex-m55/kiln_linear_mve.c runtime/cortex-m55/kiln_attention_mve.c runtime/cortex-m55/kiln_ops_mve.c "
  .. "runtime/cortex-m55/kiln_mve_start.c"

local function missing_tool(...)
  for _, tool in ipairs({ ... }) do
    if not support.sh("command -v " .. tool) then return tool .. " is not installed" end
  end
end

describe("Cortex-M55 Helium kernels", function()
  after_each(function() support.cleanup() end)

  it("equal the portable kernels on random and edge inputs, as firmware under qemu-system-arm", function()
    local rules = targets.load(".", "cortex-m55")
    local why = missing_tool("arm-none-eabi-gcc", "qemu-system-arm") or support.missing_board(rules.build)
    if why then return pending(why) end
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir)
    support.kiln_ok("gen", dir .. "/model.bin", "--qparams", "out/synthetic.qparams.json", "--target", "cortex-m55",
      "-o", dir .. "/fw")
    local build, fw = rules.build, dir .. "/fw/firmware"
    local exe = dir .. "/test_ops_mve.elf"
    local ok, log = support.sh(string.format("%s %s -I%s %s %s %s/startup.c %s/semihosting.c %s/clock.c %s "
      .. "-T %s/link.ld -lgcc -o %s", build.cc, build.cflags, fw, INCLUDES, SOURCES, fw, fw, fw, build.ldflags, fw,
      exe))
    assert.is_true(ok, log)
    local out
    ok, out = support.sh(targets.run_command({ run = { command = build.run.command, args = build.run.args },
      image = exe }, nil, ""))
    assert.is_true(ok, out)
    assert.matches("ok\n$", out)
  end)
end)
