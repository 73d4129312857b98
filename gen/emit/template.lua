-- C templates: text with ${name} placeholders, nothing else (no logic: the
-- planner decides, the template only says how it reads as C).
--
-- Lookup by name and variant: templates/ops/attention.prefill.c is used for
-- the prefill variant of "attention" when it exists, else templates/ops/attention.c.

local files = require "util.files"

local template = {}

local cache = {}

local function load(path)
  if cache[path] == nil then
    local f = io.open(path, "rb")
    if f then
      cache[path] = f:read("a")
      f:close()
    else
      cache[path] = false
    end
  end
  return cache[path]
end

-- find(root, dir, name, variant) -> text, path
function template.find(root, dir, name, variant)
  local base = root .. "/templates/" .. (dir and (dir .. "/") or "") .. name
  if variant then
    local path = base .. "." .. variant .. ".c"
    local text = load(path)
    if text then return text, path end
  end
  local path = base:match("%.%w+$") and base or (base .. ".c")
  local text = load(path)
  assert(text, "no template " .. path)
  return text, path
end

-- render(text, vars, where) -> text with every ${name} replaced; a missing
-- variable is a kiln bug.
function template.render(text, vars, where)
  return (text:gsub("%${([%w_]+)}", function(name)
    local v = vars[name]
    if v == nil then error("template " .. (where or "?") .. ": no value for ${" .. name .. "}", 0) end
    return tostring(v)
  end))
end

function template.file(root, name, vars)
  local text, path = template.find(root, nil, name)
  return template.render(text, vars, path)
end

return template
