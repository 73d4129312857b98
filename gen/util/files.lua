-- File helpers: whole-file reads, atomic writes, checksums.
--
-- kiln never leaves a half-written output behind: outputs are written to a
-- temporary name beside the target and renamed over it only when complete.

local fail = require "util.fail"

local files = {}

function files.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function files.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Bytes read from a file whose size is unknown (a pipe, a device such as
-- /dev/zero) before it is refused: no input kiln reads whole is larger.
files.STREAM_LIMIT = 256 * 1024 * 1024

local function read_stream(f, path)
  local parts, total = {}, 0
  while true do
    local chunk, err = f:read(1 << 20)
    if not chunk then return err == nil and table.concat(parts) or nil, err end
    total = total + #chunk
    if total > files.STREAM_LIMIT then
      f:close()
      fail.raise(path, nil, string.format("more than %d MB and no end (not a regular file?)", files.STREAM_LIMIT >> 20))
    end
    parts[#parts + 1] = chunk
  end
end

-- read(path) -> contents; a missing or unreadable file is a one-line failure.
function files.read(path)
  local f, err = io.open(path, "rb")
  if not f then fail.raise(path, nil, "cannot read: " .. (err or "?"):gsub("^[^:]*: ", "")) end
  local size = f:seek("end")
  local data, read_err
  if size and size > 0 then
    f:seek("set")
    data, read_err = f:read("a")
  else -- empty, or a pipe or a device: read until its end, within a limit
    f:seek("set")
    data, read_err = read_stream(f, path)
  end
  f:close()
  -- a directory opens but does not read
  if not data then fail.raise(path, nil, "cannot read: " .. (read_err or "?"):gsub("^[^:]*: ", "")) end
  return data
end

-- temp_beside(path[, on_stale]) -> a fresh temporary name beside path,
-- .NAME.kiln-tmp-PID-N. The temporaries of earlier runs for the same path
-- whose process is gone (killed) are removed first, or handed to
-- on_stale(their path) when given.
function files.temp_beside(path, on_stale)
  path = path:gsub("/+$", "")
  local parent, base = path:match("^(.*)/([^/]+)$")
  if not parent then parent, base = ".", path end
  if parent == "" then parent = "/" end
  local prefix = "." .. base .. ".kiln-tmp-"
  for _, entry in ipairs(files.list(parent)) do
    local pid = entry:sub(1, #prefix) == prefix and tonumber(entry:sub(#prefix + 1):match("^(%d+)%-"))
    if pid and pid ~= files.pid() and not files.alive(pid) then
      local stale = parent .. "/" .. entry
      if on_stale then on_stale(stale) else os.execute("rm -rf -- " .. files.quote(stale)) end
    end
  end
  return string.format("%s/%s%d-%d", parent, prefix, files.pid() or 0, math.random(1 << 30))
end

-- write_atomic(path, data): the old file (if any) stays until the new one is complete.
function files.write_atomic(path, data)
  local tmp = files.temp_beside(path)
  local f, err = io.open(tmp, "wb")
  if not f then fail.raise(path, nil, "cannot write: " .. (err or "?"):gsub("^[^:]*: ", "")) end
  local ok, werr = f:write(data)
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(tmp)
    fail.raise(path, nil, "cannot write: " .. tostring(werr or cerr):gsub("^[^:]*: ", ""))
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    fail.raise(path, nil, "cannot replace: " .. tostring(rerr):gsub("^[^:]*: ", ""))
  end
end

-- sha256(path) -> lowercase hex digest (coreutils' sha256sum).
function files.sha256(path)
  local p = io.popen("sha256sum -b -- " .. files.quote(path) .. " 2>/dev/null")
  local line = p and p:read("l")
  if p then p:close() end
  local digest = line and line:match("^\\?(%x+)")
  if not digest or #digest ~= 64 then fail.raise(path, nil, "cannot compute sha256") end
  return digest
end

-- size(path) -> bytes, or nil when it cannot be opened.
function files.size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- sha256_of(text) -> lowercase hex digest of a string.
function files.sha256_of(text)
  local tmp = os.tmpname()
  local f = io.open(tmp, "wb")
  if not f then fail.raise(tmp, nil, "cannot write a temporary file") end
  f:write(text)
  f:close()
  local digest = files.sha256(tmp)
  os.remove(tmp)
  return digest
end

-- make_dir(dir): creates dir and its missing parents (Lua has no mkdir).
function files.make_dir(dir)
  if not os.execute("mkdir -p -- " .. files.quote(dir) .. " 2>/dev/null") then -- the refusal below says it, in one line
    fail.raise(dir, nil, "cannot create the directory")
  end
end

-- is_dir(path): path names a directory (it opens but does not read).
function files.is_dir(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local data, _, code = f:read(1)
  f:close()
  return data == nil and code == 21 -- EISDIR
end

-- list(dir) -> the names in dir (without . and ..), sorted; {} when it cannot be read.
function files.list(dir)
  local names = {}
  local p = io.popen("ls -A -- " .. files.quote(dir) .. " 2>/dev/null")
  if not p then return names end
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

-- pid() -> this process's id (Linux: /proc/self/stat), or nil.
local own_pid
function files.pid()
  if own_pid == nil then
    local f = io.open("/proc/self/stat", "rb")
    own_pid = f and tonumber((f:read("l") or ""):match("^(%d+)")) or false
    if f then f:close() end
  end
  return own_pid or nil
end

-- alive(pid): a process with that id runs on this machine (Linux: /proc/PID).
function files.alive(pid)
  return files.is_dir("/proc/" .. tostring(pid))
end

-- basename("a/b/c.bin") -> "c.bin": outputs record names, never absolute paths.
function files.basename(path)
  return path:match("([^/]+)/*$") or path
end

-- quoted(s) -> s as a Lua string literal on one line (a newline as \n), for
-- a refusal that shows what was given.
function files.quoted(s)
  return (string.format("%q", tostring(s)):gsub("\\\n", "\\n"))
end

-- display_name(s) -> s with every byte outside letters, digits and _ . - +
-- as '?': a file's name as the generated files quote it (in C comments and
-- Makefiles, where '*/', a newline or a '$' would be read as code).
function files.display_name(s)
  return (tostring(s):gsub("[^%w_.+%-]", "?"))
end

return files
