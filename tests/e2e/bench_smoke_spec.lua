-- kiln bench --smoke: every step of the benchmark suite runs (on small
-- sizes), on the fastest target this host runs and on portable, and prints
-- every figure's `name value` line. Timings are not checked here: they
-- belong to `make bench`.

local support = require "support"

local ALWAYS = { "stream_gbs", "decode_bw_fraction_w8a8", "decode_bw_fraction_w8a16", "prefill_speedup_vs_openblas_w8a8",
  "prefill_speedup_vs_openblas_w8a16", "calib_vs_openblas_tinyllama_layer" }

describe("kiln bench --smoke", function()
  after_each(function() support.cleanup() end)

  for _, target in ipairs({ "native", "portable" }) do
    it("runs every step and prints every figure (--target " .. target .. ")", function()
      local out, err, code = support.kiln_run("bench", "--smoke", "--reps", "1", "--target", target)
      assert.are.equal(0, code, err)
      local names = {}
      for name in out:gmatch("\n([%w_]+) [%d%.e+-]+") do names[name] = true end
      for _, name in ipairs(ALWAYS) do assert.is_true(names[name], name .. " missing:\n" .. out) end
      if support.have_shared() then assert.is_true(names.stories260k_decode_tok_s, out) end
      assert.matches("^kiln bench: target [%w%-]+, one thread", out)
    end)
  end
end)

-- A firmware target's own count (SysTick under -icount, templates/firmware/clock.c)
-- against QEMU's count of every instruction it ran (the TCG plugin of
-- gen/bench/qemu_insn_plugin.c): kiln bench --plugin's agreement, within 1 %.
describe("kiln bench --plugin", function()
  local targets = require "emit.targets"
  after_each(function() support.cleanup() end)

  for _, target in ipairs({ "cortex-m4", "cortex-m55" }) do
    it("the firmware's instructions a token agree with QEMU's plugin (--target " .. target .. ")", function()
      if not support.needs_shared() then return end
      local why = support.missing_board(targets.load(".", target).build)
      if why then return pending(why) end
      local out, err, code = support.kiln_run("bench", "--plugin", "--target", target)
      assert.are.equal(0, code, err)
      for _, preset in ipairs({ "w8a16", "w8a8" }) do
        local own = tonumber(out:match("\nmcu_instructions_per_token_" .. preset .. " (%d+)"))
        local counted = tonumber(out:match("\nmcu_plugin_instructions_per_token_" .. preset .. " (%d+)"))
        assert.is_number(own, out)
        assert.is_number(counted, out)
        assert.is_true(math.abs(own - counted) <= 0.01 * counted, preset .. ": " .. own .. " against " .. counted)
        assert.matches("\nmcu_insn_" .. preset .. "_[%w_]*linear[%w_]* %d+", out)
      end
    end)
  end
end)
