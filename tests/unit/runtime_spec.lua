-- The portable runtime's arithmetic (rounding, wide products, division,
-- square root) against 128-bit references, with gcc and clang; and the
-- Cortex-M requantization against the portable one, bit for bit.

local support = require "support"

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
end)
