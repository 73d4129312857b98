-- User-facing errors.
--
-- Every refusal kiln makes about its input is one line naming the file and the
-- field (or observer, or op) that is wrong: "kiln: FILE: FIELD: what is wrong".
-- Modules raise them with fail.raise(); the CLI catches them, prints the line on
-- stderr and exits non-zero. Anything else that escapes is a bug in kiln and is
-- reported as an internal error with a traceback.

local fail = {}

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(e)
  local parts = {}
  if e.file then parts[#parts + 1] = e.file end
  if e.field then parts[#parts + 1] = e.field end
  parts[#parts + 1] = e.message
  return table.concat(parts, ": ")
end

-- raise(file, field, message): file or field may be nil when they do not apply.
function fail.raise(file, field, message)
  error(setmetatable({ file = file, field = field, message = message }, Failure), 0)
end

-- Command-line misuse: exit status 2, like most Unix tools.
function fail.usage(message)
  error(setmetatable({ message = message, usage = true }, Failure), 0)
end

function fail.is(e)
  return getmetatable(e) == Failure
end

-- Runs fn(...) and returns true, results... or false, failure. Internal errors
-- (non-Failure values) are re-raised untouched so they keep their traceback.
function fail.catch(fn, ...)
  local result = table.pack(pcall(fn, ...))
  if result[1] then return table.unpack(result, 1, result.n) end
  if fail.is(result[2]) then return false, result[2] end
  error(result[2], 0)
end

-- within(file, field, fn, ...) -> fn's results. A refusal raised inside fn
-- without a file (or a field) gets these: a helper that knows only the
-- number it was given (plan/fixed.lua's multipliers) is named after the file
-- and the observer the caller was working on. Internal errors pass through
-- with the traceback of where they happened.
function fail.within(file, field, fn, ...)
  local result = table.pack(xpcall(fn, function(e)
    if fail.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, ...))
  if result[1] then return table.unpack(result, 2, result.n) end
  local e = result[2]
  if not fail.is(e) then error(e, 0) end
  if e.file == nil and not e.usage then -- a refusal that named its file keeps its own field
    e.file = file
    if e.field == nil then e.field = field end
  end
  error(e, 0)
end

return fail
