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
