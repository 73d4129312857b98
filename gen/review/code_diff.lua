-- The code part of a review: the files of two generated trees outside the
-- constants and the weights (layers, head, driver, header, runtime,
-- Makefile, ...), compared with the numbers qparams and the memory report
-- put into them masked, so a recalibration reads as no code change and a
-- template change as exactly its lines. The hunks print the real lines.

local line_diff = require "review.line_diff"

local code_diff = {}

-- Files that are data, compared by the other parts of the review.
code_diff.DATA = { ["constants.c"] = "constants", ["constants.h"] = "constants", ["weights.c"] = "weights",
  ["weights.bin"] = "weights", ["qparams.json"] = "qparams" }

-- What qparams, the memory report and the input files' names write into
-- code files, each replaced by a placeholder before comparing (the qparams,
-- memory and weights parts report them).
local MASKS = {
  { "(scale )[-+%w.]+(, zero point )%-?%d+", "%1…%2…" },               -- a grid in a comment
  { "^(#define KILN_[%u_]+_BYTES )%d+", "%1…" },                       -- the memory report
  { "^(#define KILN_LOGITS_ZERO_POINT )%-?%d+", "%1…" },               -- the logits' grid
  { "^( %* real = %(code %- KILN_LOGITS_ZERO_POINT%) %* )%S+", "%1…" },
  { "^( %* model: ).*", "%1…" },                                       -- the input files' names
  { "^( %* qparams: ).*", "%1…" },
}

function code_diff.mask(line)
  for _, m in ipairs(MASKS) do line = line:gsub(m[1], m[2]) end
  return line
end

local function masked(lines)
  local out = {}
  for i, l in ipairs(lines) do out[i] = code_diff.mask(l) end
  return out
end

-- compare(old, new) -> { files = { { file, status = "added" | "removed" |
-- "changed", removed, added, hunks } }, compared = count of code files }.
-- old, new: review/side.lua's sides (generated trees).
function code_diff.compare(old, new)
  local names, seen = {}, {}
  for _, side in ipairs({ old, new }) do
    for _, f in ipairs(side.files) do
      if not seen[f] and not code_diff.DATA[f] then seen[f] = true; names[#names + 1] = f end
    end
  end
  table.sort(names)
  local out = { files = {}, compared = #names }
  for _, f in ipairs(names) do
    local a, b = old:read(f), new:read(f)
    if a ~= b then
      local la, lb = line_diff.lines(a or ""), line_diff.lines(b or "")
      local ka, kb = masked(la), masked(lb)
      local hunks = line_diff.unified { old = la, new = lb, old_key = ka, new_key = kb,
        old_name = a and ("old/" .. f) or "/dev/null", new_name = b and ("new/" .. f) or "/dev/null" }
      if hunks ~= "" then
        local removed, added = line_diff.count(ka, kb)
        out.files[#out.files + 1] = { file = f, status = not a and "added" or not b and "removed" or "changed",
          removed = removed, added = added, hunks = hunks }
      end
    end
  end
  return out
end

-- text(result) -> the part as printed.
function code_diff.text(r)
  if #r.files == 0 then return string.format("code: no change (%d files compared)\n", r.compared) end
  local lines = { string.format("code: %d of %d files changed", #r.files, r.compared) }
  for _, f in ipairs(r.files) do
    lines[#lines + 1] = string.format("  %-28s %s, -%d +%d lines", f.file, f.status, f.removed, f.added)
  end
  local out = table.concat(lines, "\n") .. "\n"
  for _, f in ipairs(r.files) do out = out .. f.hunks end
  return out
end

function code_diff.json(r, json)
  local list = {}
  for _, f in ipairs(r.files) do
    list[#list + 1] = json.object():set("file", f.file):set("status", f.status):set("removed", f.removed)
      :set("added", f.added):set("diff", f.hunks)
  end
  return json.object():set("compared", r.compared):set("changed", list)
end

return code_diff
