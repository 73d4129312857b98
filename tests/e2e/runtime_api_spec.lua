-- The checked runtime API (kiln_model.h) on the synthetic default model, so
-- it runs without ../shared: tests/c/api_driver.c calls every adapter and
-- helper with each out-of-range length, position, layer and token under
-- AddressSanitizer and UBSan and finds KILN_E_RANGE with nothing written;
-- -DKILN_UNCHECKED still builds warning-free; the host program and the
-- firmware refuse arguments out of range.

local support = require "support"
local targets = require "emit.targets"

local STRICT = "-std=c99 -O1 -Wall -Wextra -Wpedantic -Werror"
local SANITIZE = "-g -fsanitize=address,undefined -fno-sanitize-recover=all"
local DRIVER = "tests/c/api_driver.c"

local sh, q = support.sh, support.quote

describe("the checked runtime API", function()
  local work, model

  -- the synthetic model with the committed golden qparams: kiln gen only, no calibration
  local function generate(dir, ...)
    support.kiln_ok("gen", model, "--qparams", "out/synthetic.qparams.json", "-o", dir, ...)
    return dir
  end

  setup(function()
    work = support.tmpdir()
    support.kiln_ok("synth", "-o", work .. "/synth")
    model = work .. "/synth/model.bin"
  end)
  teardown(function() support.cleanup() end)

  -- Builds the model library in dir/BUILD with CFLAGS and links the driver
  -- (built with DRIVER_FLAGS, or CFLAGS) to it; returns the driver's path.
  local function build_driver(dir, build, cc, cflags, driver_flags)
    local ok, log = sh(string.format("make -s -C %s CC=%s BUILD=%s CFLAGS=%s %s/libkiln_model.a", q(dir), cc, build,
      q(cflags), build))
    assert(ok, log)
    local exe = string.format("%s/%s/api_driver", dir, build)
    ok, log = sh(string.format("%s %s -I%s -o %s %s %s/%s/libkiln_model.a", cc, driver_flags or cflags, q(dir), q(exe),
      DRIVER, q(dir), build))
    assert(ok, log)
    return exe
  end

  it("refuses every out-of-range call with KILN_E_RANGE and touches nothing (ASan, UBSan)", function()
    local dir = generate(work .. "/asan")
    for _, cc in ipairs({ "gcc", "clang" }) do
      local ok, out = sh(build_driver(dir, "asan-" .. cc, cc, STRICT .. " " .. SANITIZE))
      assert.is_true(ok, cc .. ": " .. out)
      local n = tonumber(out:match("api_driver: (%d+) checks passed"))
      assert.is_true(n ~= nil and n > 100, cc .. ": " .. out)
    end
  end)

  it("fails against a model built with -DKILN_UNCHECKED, which runs the calls it should refuse", function()
    local dir = generate(work .. "/mixed")
    local flags = STRICT .. " " .. SANITIZE
    local ok, out = sh(build_driver(dir, "mixed", "gcc", flags .. " -DKILN_UNCHECKED", flags))
    assert.is_falsy(ok, out)
    assert.matches("expected kiln_rope_rows", out)
  end)

  it("builds warning-free with -DKILN_UNCHECKED (gcc, clang) and its good calls still run", function()
    local dir = generate(work .. "/unchecked")
    for _, cc in ipairs({ "gcc", "clang" }) do
      local build = "unchecked-" .. cc
      local ok, log = sh(string.format("make -s -C %s CC=%s BUILD=%s CFLAGS=%s", q(dir), cc, build,
        q(STRICT .. " -DKILN_UNCHECKED")))
      assert.is_true(ok, cc .. ": " .. log)
      assert.is_true(support.exists(string.format("%s/%s/kiln_host", dir, build)), cc)
      local out
      ok, out = sh(build_driver(dir, "unchecked-asan-" .. cc, cc, STRICT .. " " .. SANITIZE .. " -DKILN_UNCHECKED"))
      assert.is_true(ok, cc .. ": " .. out)
      assert.matches("api_driver: %d+ checks passed", out)
    end
  end)

  it("kiln_host refuses arguments out of range with one line and exit status 2", function()
    local dir = generate(work .. "/host")
    local ok, log = sh("make -s -C " .. q(dir))
    assert.is_true(ok, log)
    local host = dir .. "/build/kiln_host"
    local h = support.read(dir .. "/kiln_model.h")
    local vocab = tonumber(h:match("#define KILN_VOCAB (%d+)"))
    local max_seq = tonumber(h:match("#define KILN_MAX_SEQ (%d+)"))
    local long = {}
    for i = 1, max_seq + 1 do long[i] = "1" end
    for _, args in ipairs({
      "generate 5 1 " .. vocab, "generate 5 1 -1", "generate 5 1 2x", "generate x 1", "generate 5",
      "generate " .. (max_seq + 1) .. " 1", "generate 5 " .. table.concat(long, " "), "generate 5 1 99999999999",
      "layer 2 decode", "layer 0 sideways", "layer -1 prefill", "split 0", "bench-model 0 1",
      "bench-model " .. max_seq .. " 1", "bench-layer 0 0 0", "bench-stream 0 1",
    }) do
      local _, how, code = os.execute(string.format("%s %s </dev/null >%s/out 2>%s/err", q(host), args, q(work),
        q(work)))
      assert.are.same({ "exit", 2 }, { how, code }, args)
      local err = support.read(work .. "/err")
      assert.matches("^kiln_host: [^\n]+\n$", err, args)
      assert.are.equal("", support.read(work .. "/out"), args)
    end
    -- the edges still run
    local out
    ok, out = sh(string.format("%s generate 3 0 %d", q(host), vocab - 1))
    assert.is_true(ok, out)
    assert.matches("^%d+ %d+ %d+\nhidden", out)
  end)

  it("kiln_host reports a refused adapter call (rows past the prefill block) as an error", function()
    local dir = generate(work .. "/host-layer", "--prefill-len", "4", "--append-len", "8")
    local ok, log = sh("make -s -C " .. q(dir))
    assert.is_true(ok, log)
    -- 5 rows fit the host's buffers (KILN_BLOCK 8) but not the prefill block of 4
    local h = support.read(dir .. "/kiln_model.h")
    local hidden = tonumber(h:match("#define KILN_HIDDEN (%d+)"))
    support.write(work .. "/layer.in", string.pack("<i4i4", 5, 0) .. string.rep("\0\0", 5 * hidden))
    local _, how, code = os.execute(string.format("%s/build/kiln_host layer 0 prefill <%s/layer.in >/dev/null 2>%s/err",
      q(dir), q(work), q(work)))
    assert.are.same({ "exit", 1 }, { how, code })
    assert.matches("the prefill adapter returned KILN_E_RANGE", support.read(work .. "/err"))
    support.write(work .. "/layer.in", string.pack("<i4i4", 4, 0) .. string.rep("\0\0", 4 * hidden))
    ok, log = sh(string.format("%s/build/kiln_host layer 0 prefill <%s/layer.in >/dev/null", q(dir), q(work)))
    assert.is_true(ok, log)
  end)

  it("the Cortex-M4 firmware refuses a token outside the vocabulary and a bad command line", function()
    local dir = generate(work .. "/m4", "--target", "cortex-m4")
    local ok, log = sh("make -s -C " .. q(dir))
    assert.is_true(ok, log)
    local build = targets.load(".", "cortex-m4").build
    local function run(args) return sh(targets.run_command(build, dir, args)) end
    for _, args in ipairs({ "generate 5 1 999", "generate 5 1 -1", "generate x 1", "generate 200 1", "sideways 1" }) do
      local refused, out = run(args)
      assert.is_falsy(refused, args .. ": " .. out)
      assert.matches("kiln firmware: [^\n]+\n", out, args)
      assert.is_nil(out:find("hidden"), args)
    end
    local out
    ok, out = run("generate 4 1 2")
    assert.is_true(ok, out)
    assert.matches("^%d+ %d+ %d+ %d+\nhidden", out)
  end)
end)
