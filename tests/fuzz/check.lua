-- Runs inputs through a fuzz target with the plain interpreter and the
-- ordinary native module (.build/kiln_native.so), saying what the reader
-- made of each: read, refused (its one-line message) or an internal error
-- (its traceback; exit status 1). For triage, from the repository root:
--   lua5.4 tests/fuzz/check.lua TARGET FILE...
package.cpath = ".build/?.so;" .. package.cpath
local target = assert(arg[1], "usage: check.lua TARGET FILE...")
local scratch = os.tmpname()
os.remove(scratch)
local run = assert(loadfile("tests/fuzz/driver.lua"))(".", target, scratch)
local bad = 0
for i = 2, #arg do
  local f = assert(io.open(arg[i], "rb"))
  local data = f:read("a")
  f:close()
  local ok, message = run(data)
  if not ok then bad = bad + 1 end
  print(string.format("%s: %s", arg[i], not ok and ("INTERNAL ERROR: " .. message)
    or message and ("refused: " .. message) or "read"))
end
os.execute("rm -rf '" .. scratch .. "'")
os.exit(bad == 0 and 0 or 1)
