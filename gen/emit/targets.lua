-- Target rules: rules/<name>.lua, a table saying what the target can run and
-- how kiln should emit for it (see rules/portable.lua).

local fail = require "util.fail"
local files = require "util.files"

local targets = {}

function targets.load(root, name)
  if not name:match("^[%w_%-]+$") then fail.usage("--target: bad name '" .. name .. "'") end
  local path = root .. "/rules/" .. name .. ".lua"
  if not files.exists(path) then
    local p = io.popen("ls " .. files.quote(root .. "/rules") .. " 2>/dev/null")
    local known = {}
    for line in p:lines() do
      local n = line:match("^(.-)%.lua$")
      if n then known[#known + 1] = n end
    end
    p:close()
    fail.usage("--target: no rules for '" .. name .. "' (known: " .. table.concat(known, ", ") .. ")")
  end
  local chunk, err = loadfile(path, "t", {})
  if not chunk then fail.raise(path, "syntax", err) end
  local rules = chunk()
  rules.path = path
  return rules
end

return targets
