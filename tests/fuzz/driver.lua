-- The Lua half of the fuzz harness (harness.c): driver(root, target, scratch)
-- -> run(data), which feeds data to tests/fuzz/targets/TARGET.lua and returns
-- true when the reader read it, true and the message when it refused it in one
-- line (util.fail), false and a traceback on any other error (an internal
-- error: a bug).

local root, target_name, scratch = ...
package.path = root .. "/gen/?.lua;" .. root .. "/tests/fuzz/?.lua;" .. package.path

local fail = require "util.fail"
local native = require "kiln_native"

assert(os.execute("mkdir -p '" .. scratch .. "'"))

-- What a target gets: the native module, file(name, bytes) -> path in the
-- scratch folder, and split(data, n) -> up to n parts cut at SEPARATOR.
local fuzz = { native = native, scratch = scratch, SEPARATOR = "\0--kiln-fuzz--\0" }

function fuzz.file(name, bytes)
  local path = scratch .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

function fuzz.split(data, n)
  local parts, at = {}, 1
  while #parts < n - 1 do
    local i, j = data:find(fuzz.SEPARATOR, at, true)
    if not i then break end
    parts[#parts + 1] = data:sub(at, i - 1)
    at = j + 1
  end
  parts[#parts + 1] = data:sub(at)
  return parts
end

-- Loads every tensor a checkpoint lists (each mapped, checked for NaN, q/k rows permuted).
function fuzz.load_all(ckpt, names)
  for _, name in ipairs(names) do ckpt:load(native, name) end
end

function fuzz.sorted_keys(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local target = dofile(root .. "/tests/fuzz/targets/" .. target_name .. ".lua")

local function handler(e)
  if fail.is(e) then return e end
  return debug.traceback(tostring(e), 2)
end

return function(data)
  local ok, err = xpcall(target, handler, fuzz, data)
  if ok then return true end
  if fail.is(err) then return true, tostring(err) end
  return false, err
end
