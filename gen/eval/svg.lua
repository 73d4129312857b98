-- SVG primitives for the reports' plots: shapes, linear scales, "nice" axis
-- ticks, axes and legends. Coordinates are printed with one fixed format so
-- the same numbers always give the same bytes.

local html = require "eval.html"

local svg = {}

-- Series colours, in order (colour-blind-safe, from Okabe and Ito).
svg.PALETTE = { "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000" }

function svg.colour(i) return svg.PALETTE[(i - 1) % #svg.PALETTE + 1] end

local function c(v) return string.format("%.1f", v) end

function svg.open(width, height, class, id, label)
  return string.format('<svg class="%s" id="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img">\n<title>%s</title>',
    html.escape(class), html.escape(id), width, height, width, height, html.escape(label or id))
end

svg.close = "</svg>"

function svg.line(x1, y1, x2, y2, class)
  return string.format('<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"/>', class, c(x1), c(y1), c(x2), c(y2))
end

function svg.rect(x, y, w, h, fill, class)
  return string.format('<rect%s x="%s" y="%s" width="%s" height="%s" fill="%s"/>',
    class and (' class="' .. class .. '"') or "", c(x), c(y), c(w), c(h), fill)
end

function svg.circle(x, y, r, fill, opacity)
  return string.format('<circle cx="%s" cy="%s" r="%s" fill="%s"%s/>', c(x), c(y), c(r), fill,
    opacity and string.format(' fill-opacity="%.2f"', opacity) or "")
end

-- text(x, y, s, anchor, class, rotate): s is escaped; rotate in degrees about (x, y).
function svg.text(x, y, s, anchor, class, rotate)
  return string.format('<text x="%s" y="%s" text-anchor="%s"%s%s>%s</text>', c(x), c(y), anchor or "start",
    class and (' class="' .. class .. '"') or "",
    rotate and string.format(' transform="rotate(%d %s %s)"', rotate, c(x), c(y)) or "", html.escape(s))
end

-- scale(lo, hi, a, b): the linear map taking [lo, hi] onto [a, b].
function svg.scale(lo, hi, a, b)
  local span = hi - lo
  if span == 0 then span = 1 end
  return function(v) return a + (v - lo) / span * (b - a) end
end

-- The largest power of ten not above x (x > 0), by comparison rather than
-- by rounding a logarithm.
local function decade(x)
  local e = math.floor(math.log(x, 10))
  while 10.0 ^ e > x do e = e - 1 end
  while 10.0 ^ (e + 1) <= x do e = e + 1 end
  return e
end

-- ticks(lo, hi, n) -> ticks, lo', hi', decimals: about n ticks on a step of
-- 1, 2 or 5 times a power of ten, the one nearest (on a log scale) to the
-- range over n; [lo', hi'] is [lo, hi] widened to whole steps.
function svg.ticks(lo, hi, n)
  if not (hi > lo) then
    local pad = lo ~= 0 and math.abs(lo) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
  end
  local raw = (hi - lo) / (n or 5)
  local e = decade(raw)
  local err = raw / 10.0 ^ e
  -- the thresholds are the geometric means of 1, 2, 5 and 10
  local m = err >= math.sqrt(50) and 10 or err >= math.sqrt(10) and 5 or err >= math.sqrt(2) and 2 or 1
  local step = m * 10.0 ^ e
  local first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
  local ticks = {}
  for k = first, last do ticks[#ticks + 1] = k * step end
  local decimals = math.max(0, -decade(step))
  return ticks, first * step, last * step, decimals
end

-- tick_label(v, decimals): fixed decimals, and never "-0".
function svg.tick_label(v, decimals)
  local s = string.format("%." .. decimals .. "f", v)
  if s:match("^%-[0.]+$") then s = s:sub(2) end
  return s
end

-- y_axis(out, box, y, ticks, decimals, label): horizontal grid lines with
-- their labels left of the box, the axis line, and the rotated axis label.
-- box = { x, y, w, h } (inner plot area); y maps values to pixels.
function svg.y_axis(out, box, y, ticks, decimals, label)
  for _, t in ipairs(ticks) do
    local py = y(t)
    out[#out + 1] = svg.line(box.x, py, box.x + box.w, py, "grid")
    out[#out + 1] = svg.text(box.x - 4, py + 4, svg.tick_label(t, decimals), "end")
  end
  out[#out + 1] = svg.line(box.x, box.y, box.x, box.y + box.h, "axis")
  if label then out[#out + 1] = svg.text(box.x - 46, box.y + box.h / 2, label, "middle", nil, -90) end
end

-- x_axis(out, box, x, ticks, decimals, label): the same below the box, for a numeric x.
function svg.x_axis(out, box, x, ticks, decimals, label)
  local bottom = box.y + box.h
  for _, t in ipairs(ticks) do
    local px = x(t)
    out[#out + 1] = svg.line(px, box.y, px, bottom, "grid")
    out[#out + 1] = svg.text(px, bottom + 14, svg.tick_label(t, decimals), "middle")
  end
  out[#out + 1] = svg.line(box.x, bottom, box.x + box.w, bottom, "axis")
  if label then out[#out + 1] = svg.text(box.x + box.w / 2, bottom + 30, label, "middle") end
end

-- The width a legend entry takes (11 px text is about 7 px a character).
local function entry_width(name) return 24 + 7 * #name end

function svg.legend_width(names)
  local w = 0
  for _, name in ipairs(names) do w = w + entry_width(name) end
  return w
end

-- legend(out, x, y, names): a swatch and name per series, in a row from (x, y).
function svg.legend(out, x, y, names)
  out[#out + 1] = '<g class="legend">'
  for i, name in ipairs(names) do
    out[#out + 1] = svg.rect(x, y - 9, 10, 10, svg.colour(i))
    out[#out + 1] = svg.text(x + 14, y, name)
    x = x + entry_width(name)
  end
  out[#out + 1] = "</g>"
end

return svg
