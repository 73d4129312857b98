-- The constants part of a review: the definitions of constants.c (grids,
-- multipliers, tables, RoPE rows) of two generated trees by name: how many
-- changed value, and which were added or removed (a change of the
-- generator's layout, not of the numbers). The numbers themselves are the
-- qparams part's to explain.

local constants_diff = {}

-- Up to this many changed definitions are named.
local NAMED = 8

-- The definitions of a constants.c: names in order and name -> text.
local function definitions(text)
  local names, by_name = {}, {}
  for block in ((text or "") .. "\n\n"):gmatch("(.-)\n\n+") do
    local line = block:match("^(const [^\n]*)") or block:match("\n(const [^\n]*)") or ""
    local name = line:match("^const [%w_]+ %*const ([%w_]+)") or line:match("^const [%w_]+ ([%w_]+)")
    if name then
      names[#names + 1] = name
      by_name[name] = block
    end
  end
  return names, by_name
end

-- compare(old, new) -> { definitions (count on the new side), changed, added, removed (names) }.
function constants_diff.compare(old, new)
  local old_names, a = definitions(old:read("constants.c"))
  local new_names, b = definitions(new:read("constants.c"))
  local r = { definitions = #new_names, changed = {}, added = {}, removed = {} }
  for _, n in ipairs(new_names) do
    if not a[n] then r.added[#r.added + 1] = n elseif a[n] ~= b[n] then r.changed[#r.changed + 1] = n end
  end
  for _, n in ipairs(old_names) do
    if not b[n] then r.removed[#r.removed + 1] = n end
  end
  return r
end

function constants_diff.same(r)
  return #r.changed + #r.added + #r.removed == 0
end

local function names(list)
  if #list == 0 then return "none" end
  if #list <= NAMED then return table.concat(list, ", ") end
  return table.concat(list, ", ", 1, NAMED) .. string.format(", … (%d)", #list)
end

function constants_diff.text(r)
  if constants_diff.same(r) then return string.format("constants: no change (%d definitions)\n", r.definitions) end
  return string.format("constants: %d of %d definitions changed value; added: %s; removed: %s\n", #r.changed,
    r.definitions, names(r.added), names(r.removed))
end

function constants_diff.json(r, json)
  return json.object():set("definitions", r.definitions):set("changed", r.changed):set("added", r.added)
    :set("removed", r.removed)
end

return constants_diff
