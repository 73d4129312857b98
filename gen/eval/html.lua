-- The HTML around kiln's reports: escaping, tables, and a self-contained page
-- (inline CSS, no script, no font or file fetched), so a report opens the
-- same from a mail attachment, a CI artifact or a machine with no network.

local html = {}

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- escape(s): text for an element's content or a quoted attribute (HTML and SVG alike).
function html.escape(s)
  return (tostring(s):gsub("[&<>\"']", ENTITIES))
end

-- id(...): an id from names that may hold anything ("w8a8", "float"): ids
-- are matched by tests and links, so only [A-Za-z0-9_-] survive.
function html.id(...)
  local parts = {}
  for i, p in ipairs({ ... }) do parts[i] = tostring(p):gsub("[^%w_-]", "_") end
  return table.concat(parts, "-")
end

-- table(id, headers, rows, row_class) -> text. Cells are plain text (escaped
-- here); row_class(i) may give a class for row i.
function html.table(id, headers, rows, row_class)
  local out = { string.format('<table id="%s">', html.escape(id)), "<thead><tr>" }
  for _, h in ipairs(headers) do out[#out + 1] = "<th>" .. html.escape(h) .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>"
  for i, row in ipairs(rows) do
    local class = row_class and row_class(i)
    out[#out + 1] = class and string.format('<tr class="%s">', html.escape(class)) or "<tr>"
    for _, cell in ipairs(row) do out[#out + 1] = "<td>" .. html.escape(cell) .. "</td>" end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out, "\n")
end

-- The page's only style sheet. Generic font families only: nothing to fetch.
local CSS = [[
body { font: 14px/1.4 sans-serif; color: #222; background: #fff; margin: 24px; max-width: 1160px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
tr.winner-none td { color: #666; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg.plot { background: #fff; border: 1px solid #ddd; }
svg text { font: 11px sans-serif; fill: #222; }
svg text.title { font-size: 13px; font-weight: bold; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .grid { stroke: #e6e6e6; stroke-width: 1; }
svg .whisker { stroke: #222; stroke-width: 1; }
svg .diagonal { stroke: #999; stroke-dasharray: 4 3; }
]]

-- page(title, body) -> a complete document.
function html.page(title, body)
  return table.concat({
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    "<title>" .. html.escape(title) .. "</title>",
    "<style>", CSS, "</style>",
    "</head>",
    "<body>",
    "<h1>" .. html.escape(title) .. "</h1>",
    body,
    "</body>",
    "</html>",
    "",
  }, "\n")
end

return html
