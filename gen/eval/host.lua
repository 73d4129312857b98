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

-- check_cpu(rules): a target whose C runs on this host (rules.build.runner
-- "host") and needs CPU features (rules.cpu_flags, as /proc/cpuinfo names
-- them) is refused, in one line, on a host that lacks one. Generating for it
-- needs nothing: only running here does.
function host.check_cpu(rules)
  if not rules.cpu_flags or (rules.build and rules.build.runner or "host") ~= "host" then return end
  local f = io.open("/proc/cpuinfo", "r")
  if not f then return end -- not Linux: the build's compiler flags will tell
  local line = f:read("a"):match("\nflags%s*:%s*([^\n]*)") or ""
  f:close()
  local have = {}
  for flag in line:gmatch("%S+") do have[flag] = true end
  local missing = {}
  for _, flag in ipairs(rules.cpu_flags) do
    if not have[flag] then missing[#missing + 1] = flag end
  end
  if #missing > 0 then
    fail.raise(nil, "--target " .. rules.name, string.format("this host's CPU lacks %s; run target %s here instead",
      table.concat(missing, ", "), rules.fallback or "portable"))
  end
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

-- The command that runs the built program of dir with args, by the target's
-- runner: the host itself, qemu-aarch64 (Linux user mode), or
-- qemu-system-arm with the arguments passed through semihosting.
local function command(dir, args, runner)
  if runner == "qemu-system-arm" then
    local semi = { "arg=kiln" }
    for word in args:gmatch("%S+") do semi[#semi + 1] = "arg=" .. word end
    return string.format("qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none "
      .. "-semihosting-config enable=on,target=native,%s -kernel %s/firmware.elf", table.concat(semi, ","),
      files.quote(dir)), true
  end
  local exe = files.quote(dir) .. "/build/kiln_host " .. args
  if runner == "qemu-aarch64" then return "qemu-aarch64 " .. exe end
  return exe
end

-- run(dir, args, input, runner, env) -> what build/kiln_host ARGS (or the
-- firmware) prints, with input on stdin (host and qemu-aarch64 only);
-- runner is the target's (rules.build.runner, default the host) and env
-- ("NAME=value ...") prefixes the command.
function host.run(dir, args, input, runner, env)
  local inp, outp, errp = dir .. "/.stdin", dir .. "/.stdout", dir .. "/.stderr"
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local cmd, semihosting = command(dir, args, runner)
  -- semihosting output arrives on the emulator's stderr
  local redirect = semihosting and string.format(">%s 2>&1", files.quote(outp))
    or string.format(">%s 2>%s", files.quote(outp), files.quote(errp))
  local ok = os.execute(string.format("%s%s <%s %s", env and (env .. " ") or "", cmd, files.quote(inp), redirect))
  local out = files.read(outp)
  local err = semihosting and out or files.read(errp)
  os.remove(inp); os.remove(outp); os.remove(errp)
  if not ok then
    fail.raise(dir .. (semihosting and "/firmware.elf" or "/build/kiln_host"), args:match("^%S+"),
      "failed: " .. err:gsub("\n$", ""):gsub("\n", " / "))
  end
  return out
end

-- with_model(context, o, fn): generates the C for o.model_path / o.qparams_path
-- (and o.target, o.prefill_len, ...) into a scratch directory (or o.keep),
-- builds it, calls fn(g, dir) with generate.run's result, and always removes
-- the scratch directory. Returns fn's results.
function host.with_model(context, o, fn)
  local generate = require "emit.generate"
  local work = host.workspace()
  local dir = o.keep or (work .. "/model")
  local result = table.pack(pcall(function()
    local g = generate.run {
      root = context.root, native = context.native, model_path = o.model_path, dtype = o.dtype,
      qparams_path = o.qparams_path,
      target = o.target, prefill_len = o.prefill_len, append_len = o.append_len, max_seq = o.max_seq,
      output = dir, trace = o.trace, keep_model = true, layer_input_grids = o.layer_input_grids,
    }
    host.check_cpu(g.rules)
    host.build(dir)
    return fn(g, dir)
  end))
  host.cleanup(work)
  if not result[1] then error(result[2], 0) end
  return table.unpack(result, 2, result.n)
end

return host
