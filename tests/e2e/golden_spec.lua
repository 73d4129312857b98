-- The committed output for the embedded default model (out/synthetic and its
-- qparams) must be exactly what kiln generates today: any change to the
-- generator, the templates or the runtime shows up here as a diff to review
-- (regenerate with `make golden`).

local support = require "support"

describe("golden output of the embedded default model", function()
  after_each(function() support.cleanup() end)

  it("regenerates byte for byte", function()
    local dir = support.tmpdir()
    local function ok(...)
      local _, err, code = support.kiln_run(...)
      assert.are.equal(0, code, err)
    end
    ok("synth", "-o", dir)
    ok("calib", dir .. "/model.bin", "-z", dir .. "/tokenizer.bin", "--text", dir .. "/text.txt", "--samples", "8",
      "--decode-steps", "4", "--preset", "w8a16", "-o", dir .. "/synthetic.qparams.json")
    ok("gen", dir .. "/model.bin", "--qparams", dir .. "/synthetic.qparams.json", "-o", dir .. "/synthetic")
    assert.are.equal(support.read("out/synthetic.qparams.json"), support.read(dir .. "/synthetic.qparams.json"))
    local p = io.popen("diff -r --exclude=build out/synthetic " .. dir .. "/synthetic 2>&1")
    local diff = p:read("a")
    p:close()
    assert.are.equal("", diff, "out/synthetic differs from a fresh generation (run `make golden` and review):\n"
      .. diff:sub(1, 2000))
  end)

  it("builds and runs", function()
    local dir = support.tmpdir()
    os.execute("cp -r out/synthetic " .. dir .. "/m")
    assert.is_true(os.execute("make -s -C " .. dir .. "/m >/dev/null 2>&1"))
    local p = io.popen(dir .. "/m/build/kiln_host generate 8 1 2>&1")
    local ids = p:read("a")
    p:close()
    local n = 0
    for _ in ids:match("^[^\n]*"):gmatch("%d+") do n = n + 1 end
    assert.are.equal(8, n, ids)
  end)
end)
