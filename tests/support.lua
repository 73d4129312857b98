-- Shared helpers for the busted specs: where things are, how to run the CLI.

local support = {}

-- Tests run from the repository root (the Makefile's `test` target does).
support.root = "."
support.kiln = "gen/kiln"
support.shared = os.getenv("KILN_SHARED") or "../shared"
support.models = support.shared .. "/models"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
support.exists = exists

-- Path of a file in ../shared/models, or nil when ../shared is absent.
function support.model_file(name)
  local p = support.models .. "/" .. name
  if exists(p) then return p end
  return nil
end

-- True when the stories260K data is beside the checkout (CI always has it).
function support.have_shared()
  return exists(support.models .. "/stories260K.bin")
end

-- In a busted test: true when stories260K is there, else marks the test
-- pending (a fresh machine without ../shared) and returns false.
-- busted gives `pending` to the spec file's environment, not to this
-- module's: it is found in the _ENV of the nearest caller that has one
-- (the test itself, or a helper of the spec file it calls).
local function spec_pending()
  for level = 3, 64 do
    local info = debug.getinfo(level, "f")
    if not info then break end
    for i = 1, math.huge do
      local name, value = debug.getupvalue(info.func, i)
      if not name then break end
      if name == "_ENV" and type(value) == "table" and value.pending then return value.pending end
    end
  end
  return pending
end

function support.needs_shared()
  if support.have_shared() then return true end
  spec_pending()("../shared/models is not beside the checkout")
  return false
end

function support.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function support.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Runs a shell command: ok, its stdout and stderr together.
function support.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

-- Single-quotes a string for the shell.
function support.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A fresh temporary directory, removed by support.cleanup().
local made = {}
function support.tmpdir()
  local p = io.popen("mktemp -d /tmp/kiln-test.XXXXXX")
  local dir = p:read("l")
  p:close()
  made[#made + 1] = dir
  return dir
end

function support.cleanup()
  for _, d in ipairs(made) do os.execute("rm -rf " .. support.quote(d)) end
  made = {}
end

-- Runs `gen/kiln ARGS...`; returns stdout, stderr, exit code.
function support.kiln_run(...)
  local parts = { support.kiln }
  for _, a in ipairs({ ... }) do parts[#parts + 1] = support.quote(a) end
  local dir = support.tmpdir()
  local out, err = dir .. "/stdout", dir .. "/stderr"
  local ok, how, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. err)
  local status = code
  if how == "exit" and ok then status = 0 end
  return support.read(out), support.read(err), status
end

-- The observer paths of a qparams.json, in the order the file lists them.
function support.observer_order(text)
  local list = {}
  for path in text:match('"observers"%s*:%s*(%b{})'):gmatch('\n%s*"([^"]+)"%s*:%s*{') do list[#list + 1] = path end
  return list
end

-- Asserts that two qparams.json texts hold the same observers in the same
-- order, with the same dtypes, qschemes, axes and zero points, and scales
-- and min/max within TOLERANCE relative (float sums depend on the CPU).
function support.assert_same_qparams(mine_text, want_text, tolerance)
  local cjson, assert = require "cjson", require "luassert"
  assert.are.same(support.observer_order(want_text), support.observer_order(mine_text))
  local mine, want = cjson.decode(mine_text), cjson.decode(want_text)
  local worst = 0
  for name, t in pairs(want.observers) do
    local m = mine.observers[name]
    assert.are.same({ t.dtype, t.qscheme, t.axis }, { m.dtype, m.qscheme, m.axis }, name)
    for _, field in ipairs({ "zero_point", "scale", "min", "max" }) do
      local a, b = m[field], t[field]
      if type(b) ~= "table" then a, b = { a }, { b } end
      for c = 1, #b do
        if field == "zero_point" then
          assert.are.equal(b[c], a[c], name)
        elseif a[c] ~= b[c] then
          worst = math.max(worst, math.abs(a[c] - b[c]) / math.abs(b[c]))
        end
      end
    end
  end
  assert.is_true(worst <= tolerance, "worst relative difference " .. worst)
end

-- Runs `gen/kiln ARGS...` and asserts it exits 0; returns stdout, stderr.
function support.kiln_ok(...)
  local assert = require "luassert"
  local out, err, code = support.kiln_run(...)
  assert.are.equal(0, code, err)
  return out, err
end

-- Calibrates stories260K (../shared/models) with `kiln calib --preset PRESET`
-- and any further options, into DIR/PRESET.json; returns that path.
function support.calibrate(dir, preset, ...)
  local path = dir .. "/" .. preset .. ".json"
  local _, err, code = support.kiln_run("calib", support.models .. "/stories260K.bin", "-z",
    support.models .. "/tok512.bin", "--text", support.models .. "/tinystories_valid_first100.txt",
    "--preset", preset, "-o", path, ...)
  assert(code == 0, err)
  return path
end

-- Why this host cannot run a target's program on its board, or nil: the
-- rules' run command names a qemu-system-arm machine this host's QEMU lacks.
local boards
function support.missing_board(build)
  local machine = build.run.command:match("qemu%-system%-arm %-M (%S+)")
  if not machine then return nil end
  if not boards then
    local _, list = support.sh("qemu-system-arm -M help")
    boards = list or ""
  end
  if not boards:find("\n" .. machine:gsub("%-", "%%-") .. " ") then
    return "qemu-system-arm here has no board " .. machine
  end
end

return support
