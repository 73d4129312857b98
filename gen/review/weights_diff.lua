-- The weights part of a review: per weight tensor of two generated trees
-- (review/tensors.lua), how many of its codes changed and by how much at
-- most, for the tensors whose bytes differ; tensors only one side has are
-- listed as added or removed.

local tensors = require "review.tensors"

local weights_diff = {}

local CHUNK = 65536 -- codes compared at a time once the bytes differ

-- changed_codes(t, a, b) -> count of codes that differ, the largest |change|.
local function changed_codes(t, a, b)
  local n = tensors.count(t, a)
  local changed, largest = 0, 0
  for first = 1, n, CHUNK do
    local last = math.min(n, first + CHUNK - 1)
    local ca, cb = tensors.codes(t, a, first, last), tensors.codes(t, b, first, last)
    for i = 1, #ca do
      local d = math.abs(cb[i] - ca[i])
      if d ~= 0 then
        changed = changed + 1
        if d > largest then largest = d end
      end
    end
  end
  return changed, largest, n
end

-- compare(old, new) -> { tensors (count on the new side), changed = { {
-- name, tensor, shape, codes, changed, of, largest } }, added, removed,
-- reshaped (names whose shape or element type differ) }.
function weights_diff.compare(old, new)
  local by_name, old_list = {}, tensors.of_tree(old)
  for _, t in ipairs(old_list) do by_name[t.name] = t end
  local r = { tensors = 0, changed = {}, added = {}, removed = {}, reshaped = {} }
  local seen = {}
  for _, t in ipairs(tensors.of_tree(new)) do
    r.tensors = r.tensors + 1
    seen[t.name] = true
    local o = by_name[t.name]
    if not o then
      r.added[#r.added + 1] = t.name
    else
      local a, b = o.bytes(), t.bytes()
      if a ~= b then
        if o.codes ~= t.codes or #a ~= #b then
          r.reshaped[#r.reshaped + 1] = string.format("%s (%s %s -> %s %s)", t.name, o.dtype, o.shape, t.dtype, t.shape)
        else
          local changed, largest, n = changed_codes(t, a, b)
          r.changed[#r.changed + 1] = { name = t.name, tensor = t.tensor, shape = t.shape, codes = t.dtype,
            changed = changed, of = n, largest = largest }
        end
      end
    end
  end
  for _, t in ipairs(old_list) do
    if not seen[t.name] then r.removed[#r.removed + 1] = t.name end
  end
  return r
end

function weights_diff.same(r)
  return #r.changed + #r.added + #r.removed + #r.reshaped == 0
end

function weights_diff.text(r)
  if weights_diff.same(r) then return string.format("weights: no change (%d tensors)\n", r.tensors) end
  local out = { string.format("weights: %d of %d tensors changed", #r.changed + #r.reshaped, r.tensors) }
  if #r.changed > 0 then
    out[#out + 1] = string.format("    %-28s %-40s %-10s %-7s %18s %8s", "name", "tensor", "shape", "dtype",
      "codes changed", "largest")
  end
  for _, c in ipairs(r.changed) do
    out[#out + 1] = string.format("    %-28s %-40s %-10s %-7s %8d (%6.2f %%) %8d", c.name, c.tensor, c.shape, c.codes,
      c.changed, 100 * c.changed / c.of, c.largest)
  end
  for _, n in ipairs(r.reshaped) do out[#out + 1] = "  reshaped: " .. n end
  for _, n in ipairs(r.added) do out[#out + 1] = "  added: " .. n end
  for _, n in ipairs(r.removed) do out[#out + 1] = "  removed: " .. n end
  return table.concat(out, "\n") .. "\n"
end

function weights_diff.json(r, json)
  local rows = {}
  for _, c in ipairs(r.changed) do
    rows[#rows + 1] = json.object():set("name", c.name):set("tensor", c.tensor):set("shape", c.shape)
      :set("dtype", c.codes):set("codes_changed", c.changed):set("codes", c.of):set("largest_change", c.largest)
  end
  return json.object():set("tensors", r.tensors):set("changed", rows):set("reshaped", r.reshaped)
    :set("added", r.added):set("removed", r.removed)
end

return weights_diff
