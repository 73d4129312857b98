-- Command-line parsing of the verbs.

local args = require "cli.args"
local fail = require "util.fail"

local VERB = {
  positional = { "MODEL" },
  options = {
    { "-z", "--tokenizer", key = "tokenizer", required = true },
    { "-n", "--steps", key = "steps", type = "integer", default = 256, min = 0, max = 1000 },
    { "-t", key = "temperature", type = "number", default = 1.0 },
    { "--preset", key = "preset", default = "w8a16", choices = { "w8a8", "w8a16" } },
    { "--untied-kv", key = "untied_kv", type = "flag" },
  },
}

local function usage_error(argv)
  local ok, err = pcall(args.parse, argv, VERB)
  assert.is_false(ok)
  assert.is_true(fail.is(err) and err.usage, tostring(err))
  return tostring(err)
end

describe("argument parsing", function()
  it("fills defaults, positionals, flags and typed values", function()
    local o = args.parse({ "m.bin", "-z", "t.bin", "-n", "7", "--untied-kv", "--preset=w8a8" }, VERB)
    assert.are.same({ MODEL = "m.bin", tokenizer = "t.bin", steps = 7, temperature = 1.0, preset = "w8a8", untied_kv = true }, o)
    assert.are.equal("integer", math.type(o.steps))
  end)

  it("refuses misuse, naming the option", function()
    assert.matches("missing MODEL", usage_error({ "-z", "t" }))
    assert.matches("missing required option %-%-tokenizer", usage_error({ "m" }))
    assert.matches("%-n: expected an integer", usage_error({ "m", "-z", "t", "-n", "2.5" }))
    assert.matches("%-n: must be at least 0", usage_error({ "m", "-z", "t", "-n", "-1" }))
    assert.matches("%-t: expected a number", usage_error({ "m", "-z", "t", "-t", "hot" }))
    assert.matches("%-t: expected a finite number, got '1e999'", usage_error({ "m", "-z", "t", "-t", "1e999" }))
    assert.matches("%-t: expected a finite number", usage_error({ "m", "-z", "t", "-t", "-1e400" }))
    assert.matches("%-n: must be at most 1000, got 1e12", usage_error({ "m", "-z", "t", "-n", "1e12" }))
    assert.matches("%-%-preset: expected one of w8a8, w8a16", usage_error({ "m", "-z", "t", "--preset", "w4" }))
    assert.matches("unknown option %-%-nope", usage_error({ "m", "--nope" }))
    assert.matches("%-z: missing value", usage_error({ "m", "-z" }))
    assert.matches("unexpected argument 'extra'", usage_error({ "m", "extra", "-z", "t" }))
  end)
end)
