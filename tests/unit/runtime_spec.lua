-- The portable runtime's arithmetic (rounding, wide products, division,
-- square root) against 128-bit references, with gcc and clang; and the
-- Cortex-M requantization against the portable one, bit for bit.

local support = require "support"

describe("portable runtime arithmetic", function()
  after_each(function() support.cleanup() end)

  for _, cc in ipairs({ "gcc", "clang" }) do
    it("agrees with 128-bit references (" .. cc .. ")", function()
      local exe = support.tmpdir() .. "/test_rt_math"
      local build = string.format(
        "%s -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -Iruntime/portable tests/runtime/test_rt_math.c "
          .. "runtime/portable/kiln_rt_math.c -o %s 2>&1", cc, exe)
      local p = io.popen(build)
      local log = p:read("a")
      assert.is_true(p:close(), log)
      p = io.popen(exe)
      local out = p:read("a")
      assert.is_true(p:close(), out)
      assert.matches("^ok %d+\n$", out)
    end)

    it("the Cortex-M requantization equals the portable one (" .. cc .. ")", function()
      local exe = support.tmpdir() .. "/test_dsp_requant"
      local p = io.popen(string.format("%s -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -Iruntime/portable "
        .. "-Iruntime/cortex-m4 tests/runtime/test_dsp_requant.c runtime/portable/kiln_rt_math.c -o %s 2>&1", cc, exe))
      local log = p:read("a")
      assert.is_true(p:close(), log)
      p = io.popen(exe)
      local out = p:read("a")
      assert.is_true(p:close(), out)
      assert.matches("^ok %d+\n$", out)
    end)
  end
end)
