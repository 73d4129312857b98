-- `kiln ablate`'s Markdown report: the setup, the summary table and a
-- verdict per preset, for a pull request or an issue (the HTML report has
-- the charts). The words come from eval.summary_text, as the HTML's do.

local summary_text = require "eval.summary_text"

local md_report = {}

-- A table cell: pipes and line breaks would end the cell early.
local function cell(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

local function pipe_row(cells)
  local out = {}
  for i, c in ipairs(cells) do out[i] = cell(c) end
  return "| " .. table.concat(out, " | ") .. " |"
end

local function pipe_table(headers, rows)
  local rule = {}
  for i = 1, #headers do rule[i] = "---" end
  local lines = { pipe_row(headers), pipe_row(rule) }
  for _, r in ipairs(rows) do lines[#lines + 1] = pipe_row(r) end
  return table.concat(lines, "\n")
end

-- ablation(results) -> markdown text (results: see eval.summary_text and html_report.ablation).
function md_report.ablation(results)
  local out = { string.format("# kiln ablate: %s (%s)", cell(results.model), cell(results.target)), "" }
  for _, item in ipairs(summary_text.setup(results)) do
    out[#out + 1] = string.format("- %s: %s", item[1], cell(item[2]))
  end
  out[#out + 1] = ""
  out[#out + 1] = "## Summary"
  out[#out + 1] = ""
  out[#out + 1] = pipe_table(summary_text.table(results))
  out[#out + 1] = ""
  out[#out + 1] = "## Verdicts"
  for _, v in ipairs(summary_text.verdicts(results)) do
    out[#out + 1] = ""
    out[#out + 1] = "### " .. cell(v.preset)
    out[#out + 1] = ""
    for _, s in ipairs(v.sentences) do out[#out + 1] = "- " .. s end
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

return md_report
