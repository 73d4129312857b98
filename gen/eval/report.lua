-- Printing measurements the way TICO's examples do (tico-semantics.md §4):
-- the error-summary box and a scatter plot of reference (x) against
-- quantized (y) values.

local report = {}

local function rule(n) return string.rep("─", n) end

-- titled_box(title, rows) -> text. rows: { { label, value } } printed as "│ label: value".
function report.titled_box(title, rows)
  local lines = { "┌" .. rule(13) .. " " .. title .. " " .. rule(13) }
  for _, r in ipairs(rows) do lines[#lines + 1] = "│ " .. r[1] .. ": " .. r[2] end
  lines[#lines + 1] = "└" .. rule(54)
  return table.concat(lines, "\n")
end

-- box(title, rows): TICO's error-summary box, "Quantization Error Summary (title)".
function report.box(title, rows)
  return report.titled_box("Quantization Error Summary" .. (title and (" (" .. title .. ")") or ""), rows)
end

-- TICO's PEIR: the largest |diff| over the reference's interval (a
-- constant reference counts as an interval of 1), as a fraction.
function report.peir(max_abs, ref_min, ref_max)
  local interval = ref_max - ref_min
  if interval == 0 then interval = 1.0 end
  return max_abs / interval
end

-- TICO's mean |diff| and PEIR rows for one tensor.
function report.error_rows(rows, name, mean_abs, max_abs, ref_min, ref_max)
  local pad = string.rep(" ", math.max(0, 6 - #name))
  rows[#rows + 1] = { string.format("Mean |diff| (%s)%s", name, pad), string.format("%.6f", mean_abs) }
  rows[#rows + 1] = { string.format("PEIR        (%s)%s", name, pad),
    string.format("%.6f %%", report.peir(max_abs, ref_min, ref_max) * 100) }
end

-- scatter(xs, ys) -> a 50 x 25 character plot, axes padded by 5 % like
-- TICO's plot_two_outputs; points on the diagonal mean no error.
function report.scatter(xs, ys, width, height)
  width, height = width or 50, height or 25
  local lo, hi = math.huge, -math.huge
  for i = 1, #xs do
    lo = math.min(lo, xs[i], ys[i])
    hi = math.max(hi, xs[i], ys[i])
  end
  local iv = hi - lo
  if iv == 0 then iv = 1.0 end
  lo, hi = lo - 0.05 * iv, hi + 0.05 * iv
  local grid = {}
  for r = 1, height do grid[r] = {} end
  local function cell(v, n) return math.max(1, math.min(n, math.floor((v - lo) / (hi - lo) * n) + 1)) end
  for i = 1, #xs do
    local c, r = cell(xs[i], width), cell(ys[i], height)
    grid[height + 1 - r][c] = true
  end
  local label_hi, label_lo = string.format("%.4g", hi), string.format("%.4g", lo)
  local margin = math.max(#label_hi, #label_lo)
  local lines = {}
  for r = 1, height do
    local row = {}
    for c = 1, width do row[c] = grid[r][c] and "•" or " " end
    local label = r == 1 and label_hi or r == height and label_lo or ""
    lines[#lines + 1] = string.format("%" .. margin .. "s ┤%s", label, table.concat(row))
  end
  lines[#lines + 1] = string.rep(" ", margin + 1) .. "└" .. rule(width)
  lines[#lines + 1] = string.format("%s  %-" .. (width - #label_hi) .. "s%s", string.rep(" ", margin), label_lo, label_hi)
  lines[#lines + 1] = string.rep(" ", margin + 2) .. "x: float reference, y: kiln"
  return table.concat(lines, "\n")
end

return report
