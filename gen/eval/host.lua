-- Building and running generated C on the host: `make` in the output
-- directory, then its test program (build/kiln_host) with binary stdin/stdout.

local fail = require "util.fail"
local files = require "util.files"
local targets = require "emit.targets"

local host = {}

-- A scratch directory for one verb run, removed by host.cleanup(); those of
-- killed runs are removed by the next (files.temp_beside). mkdir without -p
-- fails on a name someone else made first, so the directory is ours alone.
local SCRATCH = "/tmp/kiln"
function host.workspace()
  for _ = 1, 8 do
    local dir = files.temp_beside(SCRATCH)
    if os.execute("mkdir -m 700 -- " .. files.quote(dir) .. " 2>/dev/null") then return dir end
  end
  fail.raise("/tmp", nil, "cannot create a scratch directory")
end

function host.cleanup(dir)
  if dir and dir:find("^/tmp/%.kiln%.kiln%-tmp%-") then os.execute("rm -rf -- " .. files.quote(dir)) end
end

-- check_cpu(rules): a target whose C runs on this host and needs CPU
-- features (rules.cpu_flags, as /proc/cpuinfo names them) is refused, in one
-- line, on a host that lacks one. Generating for it needs nothing: only
-- running here does.
function host.check_cpu(rules)
  local missing = targets.missing_flags(rules)
  if #missing > 0 then
    fail.raise(nil, "--target " .. rules.name, string.format(
      "this host's CPU lacks %s; run target %s here instead, or --target native", table.concat(missing, ", "),
      rules.fallback or "portable"))
  end
end

-- KILN_HOST_CFLAGS (e.g. `make test-sanitize`'s -fsanitize flags): added to
-- the generated Makefile's CFLAGS when the host builds it with its own
-- compiler (CC cc, gcc or clang; never a cross compiler), unless make_args
-- sets CFLAGS itself.
local function extra_cflags(dir, make_args)
  local extra = os.getenv("KILN_HOST_CFLAGS")
  if not extra or extra == "" or (make_args or ""):match("CFLAGS=") then return make_args end
  local makefile = files.read(dir .. "/Makefile")
  local cc, cflags = makefile:match("\nCC = ([^\n]*)"), makefile:match("\nCFLAGS = ([^\n]*)")
  if not cflags or not (cc == "cc" or cc == "gcc" or cc == "clang") then return make_args end
  return (make_args or "") .. " " .. files.quote("CFLAGS=" .. cflags .. " " .. extra)
end

-- build(dir, make_args): runs make; a failure is reported with make's output.
function host.build(dir, make_args)
  make_args = extra_cflags(dir, make_args)
  local log = dir .. "/build.log"
  local ok = os.execute(string.format("make -s -C %s %s >%s 2>&1", files.quote(dir), make_args or "", files.quote(log)))
  if not ok then
    fail.raise(dir, "build", "make failed:\n" .. files.read(log))
  end
  os.remove(log)
end

-- run(dir, args, input, build, env) -> what the built program prints with
-- ARGS, with input on stdin (where the target has one); build is the
-- target's rules.build and env ("NAME=value ...") prefixes the command.
function host.run(dir, args, input, build, env)
  local inp, outp, errp = dir .. "/.stdin", dir .. "/.stdout", dir .. "/.stderr"
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local merged = build.run.output == "stderr"
  local redirect = merged and string.format(">%s 2>&1", files.quote(outp))
    or string.format(">%s 2>%s", files.quote(outp), files.quote(errp))
  local ok = os.execute(string.format("%s%s <%s %s", env and (env .. " ") or "", targets.run_command(build, dir, args),
    files.quote(inp), redirect))
  local out = files.read(outp)
  local err = merged and out or files.read(errp)
  os.remove(inp); os.remove(outp); os.remove(errp)
  if not ok then
    fail.raise(dir .. "/" .. build.image, args:match("^%S+"), "failed: " .. err:gsub("\n$", ""):gsub("\n", " / "))
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
      allow_other_checkpoint = o.allow_other_checkpoint,
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
