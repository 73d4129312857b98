-- Target rules: rules/<name>.lua, a table saying what the target can run and
-- how kiln should emit for it (see rules/portable.lua).

local fail = require "util.fail"
local files = require "util.files"

local targets = {}

-- load(root, target) -> rules. target names rules/<target>.lua, or is the
-- path of a rules file of one's own (a board with another memory map).
function targets.load(root, name)
  local path
  if name:match("%.lua$") then
    path = name
    if not files.exists(path) then fail.usage("--target: no rules file " .. path) end
  elseif not name:match("^[%w_%-]+$") then
    fail.usage("--target: bad name '" .. name .. "'")
  else
    path = root .. "/rules/" .. name .. ".lua"
  end
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
  local ok, rules = pcall(chunk)
  if not ok or type(rules) ~= "table" then fail.raise(path, "rules", "must return a table: " .. tostring(rules)) end
  for _, field in ipairs({ "name", "dtypes", "runtime", "build", "code_size" }) do
    if rules[field] == nil then fail.raise(path, field, "missing") end
  end
  rules.path = path
  return rules
end

return targets
