-- Hostile but fair input that aims at the machine rather than the model:
-- outputs kiln did not write, names a shell or make would read, rules files
-- that try to run commands or reach files outside runtime/, data files that
-- would exhaust memory, inputs without an end, killed runs and full disks.
-- Each is a one-line refusal (exit 1 or 2) that writes nothing and leaves
-- no temporary tree.
-- The synthetic model and the committed golden qparams: no ../shared needed.

local support = require "support"

local QPARAMS = "out/synthetic.qparams.json"

local function assert_one_line(err, code, ...)
  assert.is_true(code == 1 or code == 2, "exit " .. tostring(code) .. ": " .. err)
  assert.matches("^kiln: [^\n]+\n$", err)
  for _, fragment in ipairs({ ... }) do assert.matches(fragment, err, 1, true) end
end

-- The names in dir that start with a dot and hold "kiln-tmp": temporary trees.
local function temp_trees(dir)
  local _, out = support.sh("ls -A " .. support.quote(dir))
  local list = {}
  for name in out:gmatch("[^\n]+") do
    if name:find("kiln-tmp", 1, true) then list[#list + 1] = name end
  end
  return list
end

-- A fresh directory holding the synthetic model in DIR/synth: the directory
-- and the model's files (s.model, s.tok, s.text).
local function synthetic()
  local dir = support.tmpdir()
  support.kiln_ok("synth", "-o", dir .. "/synth")
  local s = dir .. "/synth"
  return dir, { model = s .. "/model.bin", tok = s .. "/tokenizer.bin", text = s .. "/text.txt" }
end

describe("outputs kiln may replace", function()
  local dir, model
  before_each(function()
    local s
    dir, s = synthetic()
    model = s.model
  end)
  after_each(function() support.cleanup() end)

  local function gen(out, ...)
    return support.kiln_run("gen", model, "--qparams", QPARAMS, "-o", out, ...)
  end

  it("an existing directory kiln did not write is refused, and replaced only with --force", function()
    local mine = dir .. "/mine"
    os.execute("mkdir " .. mine)
    support.write(mine .. "/notes.txt", "my notes")
    local _, err, code = gen(mine)
    assert_one_line(err, code, mine .. ": exists and is not a kiln output", "--force")
    assert.are.equal("my notes", support.read(mine .. "/notes.txt"))
    assert.are.same({}, temp_trees(dir))
    local _, ferr, fcode = gen(mine, "--force")
    assert.are.equal(0, fcode, ferr)
    assert.is_false(support.exists(mine .. "/notes.txt"))
    assert.is_true(support.exists(mine .. "/.kiln-output"))
    -- kiln's own output is replaced without being asked
    local _, again, acode = gen(mine)
    assert.are.equal(0, acode, again)
  end)

  it("an existing file is refused", function()
    local file = dir .. "/file"
    support.write(file, "keep")
    local _, err, code = gen(file)
    assert_one_line(err, code, file .. ": exists and is not a directory")
    assert.are.equal("keep", support.read(file))
  end)

  it("a name a shell or make would read is refused before any work", function()
    for _, name in ipairs({ "a\nb", "x$(shell touch PWNED)", "a b", "m;touch PWNED", "`touch PWNED`" }) do
      local _, err, code = gen(dir .. "/" .. name)
      assert_one_line(err, code, "-o: the name ", "has characters other than")
    end
    local _, listing = support.sh("ls -A " .. support.quote(dir))
    assert.are.equal("synth\n", listing)
    assert.is_false(support.exists("PWNED"))
  end)

  it("the temporary tree of a killed run is removed by the next run; a live run's is left", function()
    local dead = dir .. "/.m.kiln-tmp-999999999-1"   -- no such process
    local live = dir .. "/.m.kiln-tmp-1-1"           -- init: alive
    os.execute("mkdir " .. dead .. " " .. live)
    local _, err, code = gen(dir .. "/m")
    assert.are.equal(0, code, err)
    assert.is_false(support.exists(dead))
    assert.is_true(support.exists(live))
  end)

  it("a killed run's temporary file is removed by the next write of that file", function()
    local stale = dir .. "/synth/.model.bin.kiln-tmp-999999999-3"
    support.write(stale, "half a model")
    support.kiln_ok("synth", "-o", dir .. "/synth")
    assert.is_false(support.exists(stale))
  end)

  it("a killed run's scratch directory in /tmp is removed by the next run that builds", function()
    local stale = string.format("/tmp/.kiln.kiln-tmp-999999999-%d", math.random(1 << 30))
    os.execute("mkdir " .. stale)
    support.kiln_ok("run", model, "-z", dir .. "/synth/tokenizer.bin", "--qparams", QPARAMS, "-n", "2")
    assert.is_false(support.exists(stale))
  end)

  it("a run killed at any moment leaves nothing the next run does not clean", function()
    local out = dir .. "/k"
    for _, delay in ipairs({ "0.05", "0.2", "0.4" }) do
      os.execute(string.format("(%s gen %s --qparams %s -o %s >/dev/null 2>&1 & pid=$!; sleep %s; kill -9 $pid; "
        .. "wait $pid) 2>/dev/null", support.kiln, support.quote(model), QPARAMS, support.quote(out), delay))
      local _, err, code = gen(out)
      assert.are.equal(0, code, err)
      assert.are.same({}, temp_trees(dir))
      assert.is_true(support.exists(out .. "/.kiln-output"))
    end
  end)

  it("a write error (a file-size limit) is one line and leaves the old output", function()
    local out = dir .. "/w"
    local _, err, code = gen(out)
    assert.are.equal(0, code, err)
    local before = support.read(out .. "/constants.c")
    -- SIGXFSZ ignored: writes past the limit fail with EFBIG instead of killing
    local ok, text = support.sh(string.format("trap '' XFSZ; ulimit -f 16; %s gen %s --qparams %s -o %s",
      support.kiln, support.quote(model), QPARAMS, support.quote(out)))
    assert.is_falsy(ok)
    assert.matches("^kiln: [^\n]+cannot write: [^\n]+\n$", text)
    assert.are.equal(before, support.read(out .. "/constants.c"))
    assert.are.same({}, temp_trees(dir))
  end)
end)

describe("rules files", function()
  local dir, model
  before_each(function()
    local s
    dir, s = synthetic()
    model = s.model
  end)
  after_each(function() support.cleanup() end)

  -- rules/portable.lua (or base) with one text replaced
  local function rules_with(old, new, base)
    base = base or "rules/portable.lua"
    local text = support.read(base)
    local i, j = text:find(old, 1, true)
    assert(i, base .. " has no " .. old)
    local path = dir .. "/bad.lua"
    support.write(path, text:sub(1, i - 1) .. new .. text:sub(j + 1))
    return path
  end

  it("never reach a shell or make as code, nor files outside runtime/ and templates/", function()
    local marker = dir .. "/PWNED"
    for _, case in ipairs({
      { 'cc = "cc"', 'cc = "touch ' .. marker .. '; cc"', "build.cc" },
      { 'cc = "cc"', 'cc = "-o/tmp/x"', "build.cc" },
      { 'cflags = "', 'cflags = "$(shell touch ' .. marker .. ') ', "build.cflags" },
      { 'cflags = "', 'cflags = "-DX=`touch ' .. marker .. '` ', "build.cflags" },
      { 'command = "{image}{args}"', 'command = "{image}{args}; touch ' .. marker .. '"', "build.run.command" },
      { 'command = "{image}{args}"', 'command = "sh -c {image}"', nil }, -- a plain command is fine
      { '"portable/kiln_rt.h",', '"../../../etc/passwd",', "runtime[1]" },
      { '"portable/kiln_rt.h",', '"/etc/passwd",', "runtime[1]" },
      { '"portable/kiln_rt.h",', '"portable/nothing.c",', "runtime[1]" },
      { 'makefile = "Makefile.mk"', 'makefile = "../../etc/passwd"', "build.makefile" },
      { 'makefile = "Makefile.mk"', 'makefile = "Missing.mk"', "build.makefile" },
      { 'image = "build/kiln_host"', 'image = "../../x"', "build.image" },
      { 'name = "portable"', 'name = "p\\nortable"', "name" },
    }) do
      local path = rules_with(case[1], case[2])
      local out = dir .. "/m"
      local _, err, code = support.kiln_run("gen", model, "--qparams", QPARAMS, "-o", out, "--target", path)
      if case[3] then
        assert_one_line(err, code, path .. ": " .. case[3] .. ": ")
        assert.is_false(support.exists(out))
      else
        assert.are.equal(0, code, err)
        os.execute("rm -rf " .. support.quote(out))
      end
    end
    assert.is_false(support.exists(marker))
  end)

  it("run their functions under the same budgets when kiln calls them", function()
    local kernels = 'kernels = avx2_ops.kernels(packed_linear.widened_entries("kiln_linear_avx2")),'
    for _, body in ipairs({ "while true do end", 'return ("x"):rep(1 << 30)',
      'return ("a"):rep(40):find(("a*"):rep(40) .. "b")' }) do
      local path = rules_with(kernels, "kernels = (function() local k = avx2_ops.kernels(packed_linear.widened_entries("
        .. '"kiln_linear_avx2")) for i = 1, #k.linear do k.linear[i].bias = function() ' .. body .. " end end return k end)(),",
        "rules/x86-avx2.lua")
      local out = dir .. "/m"
      local _, err, code = support.kiln_run("gen", model, "--qparams", QPARAMS, "-o", out, "--target", path)
      assert_one_line(err, code, path .. ": rules.kernels.linear.")
      assert.is_false(support.exists(out))
    end
  end)
end)

describe("Lua data files", function()
  after_each(function() support.cleanup() end)

  it("that would exhaust memory or run forever stop at their budgets", function()
    local dir, s = synthetic()
    for _, body in ipairs({
      'return { x = ("x"):rep(1 << 30) }',
      'local t = {} for i = 1, 1e9 do t[i] = ("y"):rep(4096) .. i end return t',
      'local s = "z" while true do s = s .. s end',
      'return { x = ("a"):rep(40):find(("a*"):rep(40) .. "b") }', -- backtracking inside one C call
      'local function f() return 1 + f() end return { f() }',
      'while true do end',
      'local t = {} t[1] = t return t', -- a loop in the table itself
    }) do
      local path = dir .. "/overrides.lua"
      support.write(path, body)
      local q = dir .. "/q.json"
      local _, err, code = support.kiln_run("calib", s.model, "-z", s.tok, "--text", s.text, "--samples", "2",
        "--decode-steps", "1", "--overrides", path, "-o", q)
      assert_one_line(err, code, path .. ": ")
      assert.is_false(support.exists(q))
    end
  end)
end)

describe("inputs without an end", function()
  after_each(function() support.cleanup() end)

  it("(a device such as /dev/zero) are refused at a size limit, not read forever", function()
    local dir, s = synthetic()
    for _, argv in ipairs({
      { "run", s.model, "-z", "/dev/zero", "-n", "2" },
      { "ppl", s.model, "-z", s.tok, "--text", "/dev/zero" },
      { "ppl", s.model, "-z", s.tok, "--tokens", "/dev/zero" },
      { "gen", s.model, "--qparams", "/dev/zero", "-o", dir .. "/m" },
    }) do
      local _, err, code = support.kiln_run(table.unpack(argv))
      assert_one_line(err, code, "/dev/zero: more than 256 MB and no end")
    end
    assert.is_false(support.exists(dir .. "/m"))
  end)
end)

describe("command-line values", function()
  after_each(function() support.cleanup() end)

  it("out of any sensible range are refused in one line", function()
    local dir, s = synthetic()
    local m, z, text = s.model, s.tok, s.text
    for _, case in ipairs({
      { { "run", m, "-z", z, "-t", "1e999" }, "-t: expected a finite number" },
      { { "run", m, "-z", z, "-p", "-1e999" }, "-p: expected a finite number" },
      { { "gptq", m, "-z", z, "--text", text, "--samples", "2", "--block", "1e12", "-o", dir .. "/g" },
        "--block: must be at most" },
      { { "eval", m, "--qparams", QPARAMS, "-z", z, "--text", text, "--stories", "2", "--max-tokens", "3" },
        "no story reaches" },
    }) do
      local _, err, code = support.kiln_run(table.unpack(case[1]))
      assert_one_line(err, code, case[2])
    end
  end)
end)
