-- The AVX2 kernels (runtime/x86/kiln_*_avx2.c) against their portable
-- namesakes on random and extreme inputs (rounding ties, whole int16 ranges,
-- the int32 overflow fallbacks), bit for bit, with gcc and clang; pending on
-- a host without AVX2 and FMA.

local support = require "support"
local targets = require "emit.targets"

local SOURCES = "runtime/portable/kiln_rt_math.c runtime/portable/kiln_rt_ops.c runtime/x86/kiln_linear_avx2.c "
  .. "runtime/x86/kiln_attention_avx2.c runtime/x86/kiln_ops_avx2.c"

describe("x86-avx2 kernels", function()
  after_each(function() support.cleanup() end)

  for _, cc in ipairs({ "gcc", "clang" }) do
    it("compute the portable kernels' integers (" .. cc .. ")", function()
      local missing = targets.missing_flags(targets.load(".", "x86-avx2"))
      if #missing > 0 then
        pending("this host's CPU lacks " .. table.concat(missing, ", "))
        return
      end
      local exe = support.tmpdir() .. "/test_x86_avx2"
      local ok, log = support.sh(string.format("%s -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -mavx2 -mfma "
        .. "-Iruntime/portable -Iruntime/x86 tests/runtime/test_x86_avx2.c %s -o %s", cc, SOURCES, exe))
      assert.is_true(ok, log)
      local out
      ok, out = support.sh(exe)
      assert.is_true(ok, out)
      assert.matches("\nok\n$", out)
    end)
  end
end)
