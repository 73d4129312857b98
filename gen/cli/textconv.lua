-- kiln textconv FILE: a weights.bin or a weights.c as one stable line per
-- tensor (C name, tensor, shape, dtype, sha256 of its codes), for git's
-- diff driver (the .gitattributes kiln gen writes names it `kiln`):
--   git config diff.kiln.textconv "KILN_CHECKOUT/gen/kiln textconv"
-- A weights.bin is read alone (git hands the driver temporary copies):
-- its tensor index travels at its end.

local fail = require "util.fail"
local files = require "util.files"
local tensors = require "review.tensors"
local weights_index = require "emit.weights_index"

local verb = {
  summary = "a weights.bin or weights.c as one line per tensor (git diff's textconv driver)",
  synopsis = "FILE",
  positional = { "FILE" },
  options = {},
  needs_native = false,
}

-- sha256 of a string, through sha256sum reading a pipe (no temporary file).
local function sha256(bytes)
  local tmp = os.tmpname()
  local p = assert(io.popen("sha256sum -b > " .. files.quote(tmp), "w"))
  p:write(bytes)
  p:close()
  local out = files.read(tmp)
  os.remove(tmp)
  return out:match("^(%x+)")
end

function verb.run(opts)
  local path = opts.FILE
  if not files.exists(path) or files.is_dir(path) then fail.usage(path .. ": no such file") end
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 64))
  local tail = f:read("a") or ""
  f:seek("set", 0)
  local head = f:read(2) or ""
  f:close()
  local list, what, pointers = nil, nil, {}
  if weights_index.start(tail) then
    list, what = tensors.of_blob(path), "weights.bin"
  elseif head == "/*" then
    local text = files.read(path)
    list, what = tensors.of_c(text, path), "weights.c"
    -- with a blob, weights.c also points into it
    for name, at in text:gmatch("\nconst [%w_]+ %*const ([%w_]+) = [^\n]*kiln_weights_blob %+ (%d+)%)") do
      pointers[#pointers + 1] = string.format("%s at byte %s of weights.bin", name, at)
    end
  else
    -- not kiln's: what git would show of a binary file, but stable and short
    print(string.format("%s: %d bytes, sha256 %s (no kiln tensor index)", files.basename(path), size,
      files.sha256(path)))
    return 0
  end
  print(string.format("%s: %d tensors", what, #list))
  for _, t in ipairs(list) do
    -- the same line from either file (a packed layout is in the C name)
    print(string.format("%s %s [%s] %s %s", t.name, t.tensor, t.shape, t.dtype, sha256(t.bytes())))
  end
  for _, p in ipairs(pointers) do print(p) end
  return 0
end

return verb
