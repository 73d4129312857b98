-- Line diffs: Myers' shortest edit script between two lists of lines, and
-- its unified form (as diff -u writes it). The lines compared may be
-- masked copies of the lines printed (review/code_diff.lua hides the
-- numbers qparams put into comments), so both lists are given twice.

local line_diff = {}

-- Past this many edits two files are taken as rewritten: one hunk of all
-- their lines (the search's memory grows with the square of the edits).
local MAX_EDITS = 1500

-- lines(text) -> its lines, without their newlines (a last line without one counts).
function line_diff.lines(text)
  local out = {}
  for line in text:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  local tail = text:match("([^\n]+)$")
  if tail then out[#out + 1] = tail end
  return out
end

-- edits(a, b) -> { { op = "=" | "-" | "+", i (a's line), j (b's line) } ... }
-- in order; nil when the files differ in more than MAX_EDITS lines.
function line_diff.edits(a, b)
  local n, m = #a, #b
  local v, trace = { [1] = 0 }, {}
  for d = 0, math.min(n + m, MAX_EDITS) do
    local snapshot = {}
    for k = -d - 1, d + 1 do snapshot[k] = v[k] end
    trace[d] = snapshot
    for k = -d, d, 2 do
      local x
      if k == -d or (k ~= d and (v[k - 1] or -1) < (v[k + 1] or -1)) then x = v[k + 1] else x = v[k - 1] + 1 end
      local y = x - k
      while x < n and y < m and a[x + 1] == b[y + 1] do x, y = x + 1, y + 1 end
      v[k] = x
      if x >= n and y >= m then
        -- walk back through the snapshots to list the script
        local out, px, py = {}, n, m
        for e = d, 1, -1 do
          local t = trace[e]
          local kk = px - py
          local prev_k = (kk == -e or (kk ~= e and (t[kk - 1] or -1) < (t[kk + 1] or -1))) and kk + 1 or kk - 1
          local prev_x = t[prev_k]
          local prev_y = prev_x - prev_k
          while px > prev_x and py > prev_y do
            out[#out + 1] = { op = "=", i = px, j = py }
            px, py = px - 1, py - 1
          end
          if px == prev_x then
            out[#out + 1] = { op = "+", j = py }
          else
            out[#out + 1] = { op = "-", i = px }
          end
          px, py = prev_x, prev_y
        end
        while px > 0 and py > 0 do
          out[#out + 1] = { op = "=", i = px, j = py }
          px, py = px - 1, py - 1
        end
        local script = {}
        for i = #out, 1, -1 do script[#script + 1] = out[i] end
        return script
      end
    end
  end
  return nil
end

-- The script of a rewrite: every old line out, every new line in.
local function rewrite(n, m)
  local script = {}
  for i = 1, n do script[#script + 1] = { op = "-", i = i } end
  for j = 1, m do script[#script + 1] = { op = "+", j = j } end
  return script
end

-- changed(a, b) -> whether the lists differ, and the count of lines removed
-- and added by the shortest script.
function line_diff.count(a, b)
  local script = line_diff.edits(a, b) or rewrite(#a, #b)
  local removed, added = 0, 0
  for _, e in ipairs(script) do
    if e.op == "-" then removed = removed + 1 elseif e.op == "+" then added = added + 1 end
  end
  return removed, added
end

-- unified(spec) -> the hunks of diff -u as text ("" when the compared
-- lines agree). spec: { old, new (lines printed), old_key, new_key (lines
-- compared; default the printed ones), old_name, new_name, context (3) }.
function line_diff.unified(spec)
  local a, b = spec.old_key or spec.old, spec.new_key or spec.new
  local script = line_diff.edits(a, b) or rewrite(#a, #b)
  local context = spec.context or 3
  local changes = {}
  for k, e in ipairs(script) do
    if e.op ~= "=" then changes[#changes + 1] = k end
  end
  if #changes == 0 then return "" end
  local out = { "--- " .. spec.old_name, "+++ " .. spec.new_name }
  local c = 1
  while c <= #changes do
    local first, last = changes[c], changes[c]
    while c < #changes and changes[c + 1] - last <= 2 * context + 1 do
      c = c + 1
      last = changes[c]
    end
    c = c + 1
    first, last = math.max(1, first - context), math.min(#script, last + context)
    -- a hunk's start in each file: the line of its first entry that has one
    local old_start, new_start, old_n, new_n = nil, nil, 0, 0
    local body = {}
    for k = first, last do
      local e = script[k]
      if e.op ~= "+" then old_n = old_n + 1; old_start = old_start or e.i end
      if e.op ~= "-" then new_n = new_n + 1; new_start = new_start or e.j end
      if e.op == "=" then body[#body + 1] = " " .. spec.new[e.j]
      elseif e.op == "-" then body[#body + 1] = "-" .. spec.old[e.i]
      else body[#body + 1] = "+" .. spec.new[e.j] end
    end
    -- an empty side starts after the line before the hunk, as diff -u writes it
    local function start(s, count, k, field)
      if count > 0 then return s end
      for back = k - 1, 1, -1 do
        if script[back][field] then return script[back][field] end
      end
      return 0
    end
    out[#out + 1] = string.format("@@ -%d,%d +%d,%d @@", start(old_start, old_n, first, "i"), old_n,
      start(new_start, new_n, first, "j"), new_n)
    table.move(body, 1, #body, #out + 1, out)
  end
  return table.concat(out, "\n") .. "\n"
end

return line_diff
