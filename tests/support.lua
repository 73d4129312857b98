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
function support.needs_shared()
  if support.have_shared() then return true end
  pending("../shared/models is not beside the checkout")
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

return support
