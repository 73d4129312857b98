-- The float references' arithmetic (runtime/float/matmul.h, kiln_math.h):
-- every kernel set computes exactly the fixed-order chain of its definition,
-- and kiln_matmul and kiln_math give the bits recorded in their tests, with
-- gcc and clang, built for the x86-64 baseline and for this CPU, and built
-- for AArch64 and run under qemu-aarch64. Kernel sets this CPU cannot run
-- are pending, with the reason.

local support = require "support"

local BUILDS = {
  { cc = "gcc", flags = "-march=x86-64" },
  { cc = "gcc", flags = "-march=native" },
  { cc = "clang", flags = "-march=x86-64" },
  { cc = "clang", flags = "-march=native" },
  -- the x86 kernels compile to nothing there
  { cc = "aarch64-linux-gnu-gcc", flags = "-static", runner = "qemu-aarch64", kernels = { "portable" } },
}
local X86_KERNELS = { "portable", "avx2", "avx512" }
local SOURCES = {
  test_float_math = "runtime/float/kiln_math.c",
  test_float_matmul = "runtime/float/matmul.c runtime/float/x86/matmul_avx2.c runtime/float/x86/matmul_avx512.c "
    .. "runtime/float/dtype.c",
}

-- Builds tests/runtime/TEST.c; returns the command that runs it, or nil and
-- why not when the compiler or the emulator is missing.
local function build(b, test)
  for _, tool in ipairs({ b.cc, b.runner }) do
    if not support.sh("command -v " .. tool) then return nil, tool .. " is not installed" end
  end
  local exe = support.tmpdir() .. "/" .. test
  local ok, log = support.sh(string.format("%s -std=c99 -O2 -ffp-contract=off %s -Wall -Wextra -Wpedantic -Werror "
    .. "-Iruntime/float tests/runtime/%s.c %s -o %s -lm", b.cc, b.flags, test, SOURCES[test], exe))
  assert(ok, log)
  return (b.runner and b.runner .. " " or "") .. exe
end

describe("float reference arithmetic", function()
  after_each(function() support.cleanup() end)

  for _, b in ipairs(BUILDS) do
    local name = b.cc .. " " .. b.flags
    it("kiln_math gives its recorded bits (" .. name .. ")", function()
      local run, why = build(b, "test_float_math")
      if not run then return pending(why) end
      local ok, out = support.sh(run)
      assert.is_true(ok, out)
      assert.matches("^ok %d+ hash", out)
    end)

    for _, kernels in ipairs(b.kernels or X86_KERNELS) do
      it("kiln_matmul's " .. kernels .. " kernels compute the fixed-order chain (" .. name .. ")", function()
        local run, why = build(b, "test_float_matmul")
        if not run then return pending(why) end
        local ok, out = support.sh(run .. " " .. kernels)
        assert.is_true(ok, out)
        if out:match("^unavailable") then
          return pending("this CPU cannot run the " .. kernels .. " kernels")
        end
        assert.matches("^ok %d+ hash", out)
      end)
    end
  end
end)
