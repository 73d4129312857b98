-- The reports' two kinds of chart, as inline SVG:
--   * panels: a grid of small charts sharing one legend, each with
--     categories along x (layers, presets) and, per category, one bar or dot
--     per series side by side, with a min-max whisker where the value is a
--     spread over repeats;
--   * scatter: reference (x) against quantized (y) values on equal axes,
--     with the diagonal where no error lies.

local svg = require "eval.svg"

local charts = {}

local MARGIN = { left = 64, right = 14, top = 30, bottom = 44 }
local HEADER = 34 -- the chart's title and legend, above the panels

-- A value is a number or { mean, min, max }; nil where there is none.
local function parts(v)
  if type(v) == "number" then return v, v, v end
  return v.mean, v.min, v.max
end

-- The value range of a panel: all means, mins and maxes, with zero when
-- the panel's bars start there.
local function value_range(panel)
  local lo, hi = math.huge, -math.huge
  if panel.style ~= "dot" then lo, hi = 0, 0 end
  for _, s in ipairs(panel.series) do
    for i = 1, #panel.categories do
      local v = s.values[i]
      if v then
        local mean, min, max = parts(v)
        lo, hi = math.min(lo, mean, min), math.max(hi, mean, max)
      end
    end
  end
  if lo == math.huge then lo, hi = 0, 1 end
  local pad = (hi - lo) * 0.05
  if panel.style == "dot" then lo = lo - pad end
  return lo, hi + pad
end

local function draw_panel(out, panel, box)
  out[#out + 1] = '<g class="panel">'
  out[#out + 1] = svg.text(box.x + box.w / 2, box.y - 10, panel.title, "middle", "title")
  local ticks, lo, hi, decimals = svg.ticks(value_range(panel))
  local y = svg.scale(lo, hi, box.y + box.h, box.y)
  svg.y_axis(out, box, y, ticks, decimals, panel.ylabel)
  local bottom = box.y + box.h
  out[#out + 1] = svg.line(box.x, bottom, box.x + box.w, bottom, "axis")
  local n, k = #panel.categories, #panel.series
  local band = box.w / math.max(n, 1)
  local slot = band * 0.8 / math.max(k, 1)
  for i, cat in ipairs(panel.categories) do
    local left = box.x + (i - 1) * band
    out[#out + 1] = svg.text(left + band / 2, bottom + 14, cat, "middle")
    for j, s in ipairs(panel.series) do
      local v = s.values[i]
      if v then
        local mean, min, max = parts(v)
        local cx = left + band * 0.1 + (j - 0.5) * slot
        local w = math.min(slot * 0.8, 40)
        if panel.style == "dot" then
          out[#out + 1] = svg.circle(cx, y(mean), 4, svg.colour(j))
        else
          local base = y(math.max(lo, 0))
          out[#out + 1] = svg.rect(cx - w / 2, math.min(base, y(mean)), w, math.abs(base - y(mean)), svg.colour(j), "bar")
        end
        if max > min then
          out[#out + 1] = svg.line(cx, y(min), cx, y(max), "whisker")
          out[#out + 1] = svg.line(cx - w / 4, y(min), cx + w / 4, y(min), "whisker")
          out[#out + 1] = svg.line(cx - w / 4, y(max), cx + w / 4, y(max), "whisker")
        end
      end
    end
  end
  if panel.xlabel then out[#out + 1] = svg.text(box.x + box.w / 2, bottom + 32, panel.xlabel, "middle") end
  out[#out + 1] = "</g>"
end

-- panels(spec) -> svg text. spec: { id, class, title, legend = { series
-- names }, width, columns, panel_height, panels = { { title, ylabel,
-- xlabel, style = "bar" | "dot", categories = { labels }, series = { {
-- values = { value per category } } } } } } (series in legend order).
function charts.panels(spec)
  local width, columns = spec.width or 1100, spec.columns or 2
  local cell_w = width / columns
  local cell_h = (spec.panel_height or 220) + MARGIN.top + MARGIN.bottom
  local rows = (#spec.panels + columns - 1) // columns
  local height = HEADER + rows * cell_h
  local out = { svg.open(width, height, spec.class, spec.id, spec.title) }
  out[#out + 1] = svg.text(8, 18, spec.title, "start", "title")
  svg.legend(out, width - 12 - svg.legend_width(spec.legend), 18, spec.legend)
  for p, panel in ipairs(spec.panels) do
    local col, row = (p - 1) % columns, (p - 1) // columns
    draw_panel(out, panel, {
      x = col * cell_w + MARGIN.left, y = HEADER + row * cell_h + MARGIN.top,
      w = cell_w - MARGIN.left - MARGIN.right, h = cell_h - MARGIN.top - MARGIN.bottom,
    })
  end
  out[#out + 1] = svg.close
  return table.concat(out, "\n")
end

-- scatter(spec) -> svg text. spec: { id, class, title, xs, ys, size,
-- xlabel, ylabel }. Both axes share one range (the values padded by 5 %,
-- as TICO's plot_two_outputs does), so distance from the diagonal is the error.
function charts.scatter(spec)
  local size = spec.size or 360
  local xs, ys = spec.xs, spec.ys
  local lo, hi = math.huge, -math.huge
  for i = 1, #xs do lo, hi = math.min(lo, xs[i], ys[i]), math.max(hi, xs[i], ys[i]) end
  if lo == math.huge then lo, hi = 0, 1 end
  local pad = (hi - lo) * 0.05
  local ticks, tlo, thi, decimals = svg.ticks(lo - pad, hi + pad, 5)
  local box = { x = MARGIN.left, y = MARGIN.top, w = size - MARGIN.left - MARGIN.right, h = size - MARGIN.top - MARGIN.bottom }
  local x = svg.scale(tlo, thi, box.x, box.x + box.w)
  local y = svg.scale(tlo, thi, box.y + box.h, box.y)
  local out = { svg.open(size, size, spec.class, spec.id, spec.title) }
  out[#out + 1] = svg.text(size / 2, 18, spec.title, "middle", "title")
  svg.y_axis(out, box, y, ticks, decimals, spec.ylabel)
  svg.x_axis(out, box, x, ticks, decimals, spec.xlabel)
  out[#out + 1] = svg.line(x(tlo), y(tlo), x(thi), y(thi), "diagonal")
  out[#out + 1] = '<g class="points">'
  for i = 1, #xs do out[#out + 1] = svg.circle(x(xs[i]), y(ys[i]), 1.6, svg.colour(1), 0.5) end
  out[#out + 1] = "</g>"
  out[#out + 1] = svg.close
  return table.concat(out, "\n")
end

return charts
