-- Lua data files (rules, overrides, recipes): a chunk that returns a table,
-- run with only the names it is given, an instruction budget and a memory
-- budget, so a file can neither reach the tool's own state nor hang it with
-- a loop nor exhaust the machine's memory (("x"):rep(1 << 30) needs no names).

local fail = require "util.fail"

local sandbox = {}

sandbox.INSTRUCTION_LIMIT = 10000000 -- a data file is a table, not a computation
sandbox.MEMORY_LIMIT = 64 * 1024 * 1024 -- bytes a data file may allocate (100k overrides take ~10 MB)

-- The budget lives in the native module's allocator (kiln_native.memory_budget);
-- every verb that reads a data file has the module loaded.
local native = require "kiln_native"

-- run(chunk, path, field) -> the chunk's result; an error, or running past
-- the budget, is a one-line failure naming path and field.
function sandbox.run(chunk, path, field)
  local co = coroutine.create(chunk)
  debug.sethook(co, function() error("runs too long (a loop?)", 0) end, "", sandbox.INSTRUCTION_LIMIT)
  native.memory_budget(sandbox.MEMORY_LIMIT)
  local ok, result = coroutine.resume(co)
  native.memory_budget(nil)
  if not ok then
    if result == "not enough memory" then result = "allocates more than " .. (sandbox.MEMORY_LIMIT >> 20) .. " MB" end
    fail.raise(path, field, tostring(result))
  end
  return result
end

-- load(path, env, field) -> the table the file at path returns, run in env
-- (default: no names at all).
function sandbox.load(path, env, field)
  local chunk, err = loadfile(path, "t", env or {})
  if not chunk then fail.raise(path, "syntax", (tostring(err)):gsub("^[^:]*:%d*:? *", "")) end
  local value = sandbox.run(chunk, path, field)
  if type(value) ~= "table" then fail.raise(path, field, "must return a table") end
  return value
end

return sandbox
