-- The memory part of a review: the memory report of two generated trees
-- (kiln_model.h's KILN_*_BYTES), entry by entry, with flash and RAM totals.

local memory_diff = {}

-- The report's entries in the header's order, and which total each is part of.
local ENTRIES = {
  { "CODE", "flash", "code (estimate)" }, { "CONSTANTS", "flash", "constants" }, { "WEIGHTS", "flash", "weights" },
  { "ARENA", "ram", "arena" }, { "KV_CACHE", "ram", "KV cache" }, { "STACK", "ram", "stack" },
  { "HARNESS_RAM", "ram", "test program" },
}

-- compare(old, new) -> { rows = { { what, old, new } }, flash = { old, new }, ram = { old, new } }.
function memory_diff.compare(old, new)
  local a, b = old:macros(), new:macros()
  local r = { rows = {}, flash = { 0, 0 }, ram = { 0, 0 } }
  for _, e in ipairs(ENTRIES) do
    local x, y = a[e[1] .. "_BYTES"] or 0, b[e[1] .. "_BYTES"] or 0
    r.rows[#r.rows + 1] = { what = e[3], key = e[1]:lower(), old = x, new = y }
    r[e[2]][1], r[e[2]][2] = r[e[2]][1] + x, r[e[2]][2] + y
  end
  return r
end

function memory_diff.same(r)
  for _, row in ipairs(r.rows) do
    if row.old ~= row.new then return false end
  end
  return true
end

function memory_diff.text(r)
  if memory_diff.same(r) then
    return string.format("memory: no change (flash %d B, RAM %d B)\n", r.flash[2], r.ram[2])
  end
  local out = { string.format("memory: flash %d -> %d B (%+d), RAM %d -> %d B (%+d)", r.flash[1], r.flash[2],
    r.flash[2] - r.flash[1], r.ram[1], r.ram[2], r.ram[2] - r.ram[1]) }
  for _, row in ipairs(r.rows) do
    if row.old ~= row.new then
      out[#out + 1] = string.format("    %-16s %10d -> %10d B (%+d)", row.what, row.old, row.new, row.new - row.old)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

function memory_diff.json(r, json)
  local o = json.object()
  for _, row in ipairs(r.rows) do o:set(row.key, json.object():set("old", row.old):set("new", row.new)) end
  return o:set("flash", json.object():set("old", r.flash[1]):set("new", r.flash[2]))
    :set("ram", json.object():set("old", r.ram[1]):set("new", r.ram[2]))
end

return memory_diff
