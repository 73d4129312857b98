-- Building and running generated C on the host: `make` in the output
-- directory, then its test program (build/kiln_host) with binary stdin/stdout.

local fail = require "util.fail"
local files = require "util.files"

local host = {}

-- A scratch directory for one verb run, removed by host.cleanup().
function host.workspace()
  local p = io.popen("mktemp -d /tmp/kiln.XXXXXX")
  local dir = p:read("l")
  p:close()
  return dir
end

function host.cleanup(dir)
  if dir and dir:match("^/tmp/kiln%.") then os.execute("rm -rf " .. files.quote(dir)) end
end

-- build(dir, make_args): runs make; a failure is reported with make's output.
function host.build(dir, make_args)
  local log = dir .. "/build.log"
  local ok = os.execute(string.format("make -s -C %s %s >%s 2>&1", files.quote(dir), make_args or "", files.quote(log)))
  if not ok then
    fail.raise(dir, "build", "make failed:\n" .. files.read(log))
  end
  os.remove(log)
end

-- run(dir, args, input, runner, env) -> stdout of build/kiln_host ARGS with
-- input on stdin; runner (an emulator) and env ("NAME=value ...") prefix the command.
function host.run(dir, args, input, runner, env)
  local inp, outp, errp = dir .. "/.stdin", dir .. "/.stdout", dir .. "/.stderr"
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local cmd = string.format("%s%s%s/build/kiln_host %s <%s >%s 2>%s", env and (env .. " ") or "",
    runner and (runner .. " ") or "",
    files.quote(dir), args, files.quote(inp), files.quote(outp), files.quote(errp))
  local ok = os.execute(cmd)
  local out = files.read(outp)
  local err = files.read(errp)
  os.remove(inp); os.remove(outp); os.remove(errp)
  if not ok then fail.raise(dir .. "/build/kiln_host", args:match("^%S+"), "failed: " .. err:gsub("\n$", "")) end
  return out
end

return host
