-- Bad input through the CLI: a one-line error naming the file and what is
-- wrong, a non-zero exit, and any existing output left as it was.

local support = require "support"

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"
local TEXT = support.models .. "/tinystories_valid_first100.txt"

-- One line on stderr, starting "kiln: " and containing every fragment.
local function assert_one_line(err, code, ...)
  assert.are_not.equal(0, code)
  assert.matches("^kiln: [^\n]+\n$", err)
  for _, fragment in ipairs({ ... }) do
    assert.matches(fragment, err, 1, true)
  end
end

describe("bad input", function()
  local dir
  before_each(function() dir = support.tmpdir() end)
  after_each(function() support.cleanup() end)

  local function prefix_of(path, bytes, name)
    local out = dir .. "/" .. name
    support.write(out, support.read(path):sub(1, bytes))
    return out
  end

  it("a truncated checkpoint, for every verb that reads one", function()
    if not support.needs_shared() then return end
    local bad = prefix_of(MODEL, 500000, "cut.bin")
    local q = dir .. "/q.json"
    support.write(q, "keep me")
    for _, argv in ipairs({
      { "describe", bad },
      { "run", bad, "-z", TOK, "-n", "4" },
      { "ppl", bad, "-z", TOK, "--text", TEXT },
      { "calib", bad, "-z", TOK, "--text", TEXT, "-o", q },
    }) do
      local _, err, code = support.kiln_run(table.unpack(argv))
      assert_one_line(err, code, bad .. ": size: truncated: 500000 bytes")
    end
    assert.are.equal("keep me", support.read(q))
  end)

  it("a checkpoint with a garbage header", function()
    local bad = dir .. "/garbage.bin"
    support.write(bad, string.rep("\255", 64))
    local _, err, code = support.kiln_run("describe", bad)
    assert_one_line(err, code, bad .. ": dim: must be positive")
  end)

  it("a truncated or mismatched tokenizer", function()
    if not support.needs_shared() then return end
    local bad = prefix_of(TOK, 3000, "tok.bin")
    local _, err, code = support.kiln_run("run", MODEL, "-z", bad, "-n", "4")
    assert_one_line(err, code, bad .. ": size: truncated")
    -- a longer vocabulary than the model's: bytes left over
    local _, err2, code2 = support.kiln_run("run", MODEL, "-z", support.models .. "/../models/tok512.bin", "-n", "2")
    assert.are.equal(0, code2, err2)
    local doubled = dir .. "/tok2.bin"
    local t = support.read(TOK)
    support.write(doubled, t .. t:sub(5))
    local _, err3, code3 = support.kiln_run("run", MODEL, "-z", doubled, "-n", "4")
    assert_one_line(err3, code3, doubled .. ": size:", "trailing bytes")
  end)

  it("a missing, empty or binary text file", function()
    if not support.needs_shared() then return end
    local q = dir .. "/q.json"
    support.write(q, "keep me")
    local empty, binary = dir .. "/empty.txt", dir .. "/binary.txt"
    support.write(empty, "\n<|endoftext|>\n  \n")
    support.write(binary, "Once\0upon")
    local cases = {
      { dir .. "/missing.txt", "cannot read" },
      { empty, "text: no stories" },
      { binary, "byte 4: NUL byte" },
    }
    for _, case in ipairs(cases) do
      for _, verb in ipairs({ "ppl", "calib" }) do
        local _, err, code = support.kiln_run(verb, MODEL, "-z", TOK, "--text", case[1], "-o", q)
        if verb == "ppl" then
          _, err, code = support.kiln_run(verb, MODEL, "-z", TOK, "--text", case[1])
        end
        assert_one_line(err, code, case[1] .. ": " .. case[2])
      end
    end
    local _, err, code = support.kiln_run("calib", MODEL, "-z", TOK, "--text", TEXT, "--samples", "101", "-o", q)
    assert_one_line(err, code, TEXT .. ": stories: has 100 stories, fewer than --samples 101")
    assert.are.equal("keep me", support.read(q))
  end)

  it("misused options exit 2 with a usage line", function()
    if not support.needs_shared() then return end
    for _, argv in ipairs({
      { "run", MODEL },
      { "run", MODEL, "-z", TOK, "-n", "many" },
      { "calib", MODEL, "-z", TOK, "--text", TEXT, "-o", dir .. "/q.json", "--preset", "w4a4" },
      { "ppl", MODEL, "-z", TOK, "--text", TEXT, "--max-tokens", "513" },
      { "frobnicate" },
    }) do
      local _, err, code = support.kiln_run(table.unpack(argv))
      assert.are.equal(2, code, table.concat(argv, " "))
      assert.matches("^kiln: [^\n]+\n$", err)
    end
  end)

  it("KILN_FLOAT_KERNELS naming kernels this CPU cannot run (or none at all)", function()
    local synth = support.tmpdir()
    assert.are.equal(0, select(3, support.kiln_run("synth", "-o", synth)))
    local q = dir .. "/q.json"
    support.write(q, "keep me")
    for _, name in ipairs({ "sse9", "avx512; rm -rf /", string.rep("x", 300) }) do
      local ok, out = support.sh(string.format("KILN_FLOAT_KERNELS=%s %s calib %s/model.bin -z %s/tokenizer.bin "
        .. "--text %s/text.txt -o %s 2>&1; echo \"exit $?\"", support.quote(name), support.kiln, synth, synth, synth, q))
      assert.is_true(ok)
      assert.matches("^kiln: KILN_FLOAT_KERNELS: '[^\n]*' is not a kernel set this CPU runs [^\n]*\nexit 1\n$", out)
    end
    assert.are.equal("keep me", support.read(q))
  end)
end)

describe("-o that kiln cannot replace as a whole", function()
  after_each(function() support.cleanup() end)

  it("is refused in one line, before anything is written", function()
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir .. "/s")
    local q = dir .. "/q.json"
    support.kiln_ok("calib", dir .. "/s/model.bin", "-z", dir .. "/s/tokenizer.bin", "--text", dir .. "/s/text.txt",
      "--samples", "2", "--decode-steps", "0", "--max-tokens", "32", "-o", q)
    local before = select(2, support.sh("ls -a " .. support.quote(dir)))
    for _, o in ipairs({ ".", "..", "/", "", dir .. "/.", dir .. "/s/.." }) do
      local _, err, code = support.kiln_run("gen", dir .. "/s/model.bin", "--qparams", q, "-o", o)
      assert.are.equal(2, code, o)
      -- (an empty value is refused with every option's: it names no path)
      assert.matches(o == "" and "^kiln: %-o: empty value" or "^kiln: %-o: .* is not a directory kiln can replace as a whole", err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
    assert.are.equal(before, select(2, support.sh("ls -a " .. support.quote(dir))))
  end)
end)
