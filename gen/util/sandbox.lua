-- Lua data files (rules, overrides, recipes): a chunk that returns a table,
-- run with only the names it is given, an instruction budget and a memory
-- budget, so a file can neither reach the tool's own state nor hang it with
-- a loop nor exhaust the machine's memory (("x"):rep(1 << 30) needs no
-- names). The functions such a table holds (a rules file's bias terms) run
-- under the same budgets whenever kiln calls them.

local fail = require "util.fail"
local files = require "util.files"

local sandbox = {}

sandbox.INSTRUCTION_LIMIT = 10000000 -- a data file is a table, not a computation
sandbox.MEMORY_LIMIT = 64 * 1024 * 1024 -- bytes a data file may allocate (100k overrides take ~10 MB)
sandbox.FILE_LIMIT = 64 * 1024 * 1024 -- bytes of a data file

-- The memory budget lives in the native module's allocator
-- (kiln_native.memory_budget); every verb that reads a data file has it loaded.
local native = require "kiln_native"

-- Strings keep their methods inside the sandbox, but not the pattern
-- matchers: their backtracking runs inside one C call, where the
-- instruction budget cannot stop it.
local string_meta = getmetatable("")
local SANDBOX_STRING = {}
for name, fn in pairs(string) do SANDBOX_STRING[name] = fn end
for _, name in ipairs({ "find", "match", "gmatch", "gsub" }) do SANDBOX_STRING[name] = nil end

local depth = 0 -- sandboxed calls in progress: the budgets are set by the outermost

-- call(fn, path, field, ...) -> fn(...)'s results, run in a coroutine under
-- the budgets; an error, or running past a budget, is a one-line failure
-- naming path and field.
local function call(fn, path, field, ...)
  local co = coroutine.create(fn)
  debug.sethook(co, function() error("runs too long (a loop?)", 0) end, "", sandbox.INSTRUCTION_LIMIT)
  local string_index = string_meta.__index
  if depth == 0 then
    native.memory_budget(sandbox.MEMORY_LIMIT)
    string_meta.__index = SANDBOX_STRING
  end
  depth = depth + 1
  local result = table.pack(coroutine.resume(co, ...))
  depth = depth - 1
  if depth == 0 then
    native.memory_budget(nil)
    string_meta.__index = string_index
  end
  if not result[1] then
    local err = result[2]
    if fail.is(err) then error(err, 0) end -- a nested call's failure, already named
    if err == "not enough memory" then err = "allocates more than " .. (sandbox.MEMORY_LIMIT >> 20) .. " MB" end
    fail.raise(path, field, tostring(err))
  end
  return table.unpack(result, 2, result.n)
end

-- guard(value, path, field) -> value with every function in it (at any
-- depth) replaced by one that runs it through call().
local function guard(value, path, field, seen)
  if type(value) == "function" then
    return function(...) return call(value, path, field, ...) end
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do
      if type(v) == "function" or type(v) == "table" then value[k] = guard(v, path, field .. "." .. tostring(k), seen) end
    end
  end
  return value
end

-- run(chunk, path, field) -> the chunk's result, its functions guarded.
function sandbox.run(chunk, path, field)
  return guard(call(chunk, path, field), path, field, {})
end

-- load(path, env, field) -> the table the file at path returns, run in env
-- (default: no names at all).
function sandbox.load(path, env, field)
  local size = files.size(path)
  if size and size > sandbox.FILE_LIMIT then
    fail.raise(path, field, string.format("%d bytes; a data file is at most %d MB", size, sandbox.FILE_LIMIT >> 20))
  end
  local chunk, err = loadfile(path, "t", env or {})
  if not chunk then fail.raise(path, "syntax", (tostring(err)):gsub("^[^:]*:%d*:? *", "")) end
  local value = sandbox.run(chunk, path, field)
  if type(value) ~= "table" then fail.raise(path, field, "must return a table") end
  return value
end

return sandbox
