-- The words and numbers of an ablation's summary, shared by the Markdown and
-- the HTML reports so that both say exactly the same thing: the summary
-- table's cells and the per-preset verdict sentences.
--
-- results.summary rows: { preset, metric, better = "lower" | "higher",
-- by_source = { { source, mean, min, max } }, winner = source | "none",
-- difference, spread }.

local summary_text = {}

-- num(v): 4 significant digits, one fixed format; never "-0", and the
-- non-numbers spelled the same on every libc.
function summary_text.num(v)
  if v == nil then return "–" end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  local s = string.format("%.4g", v)
  if s == "-0" then s = "0" end
  return s
end
local num = summary_text.num

local WORDS = { kl_mean = "KL", perplexity = "perplexity", top1_agreement = "top-1 agreement", mean_abs = "mean |diff|" }

-- metric_label("decode_kl_mean") -> "decode KL"; an unknown metric keeps its name, spaced.
function summary_text.metric_label(metric)
  local phase, rest = metric:match("^(%a+)_(.+)$")
  if phase == "prefill" or phase == "decode" then
    return phase .. " " .. (WORDS[rest] or rest:gsub("_", " "))
  end
  return WORDS[metric] or (metric:gsub("_", " "))
end

-- spread_cell({ mean, min, max }) -> "mean [min–max]".
function summary_text.spread_cell(s)
  return string.format("%s [%s–%s]", num(s.mean), num(s.min), num(s.max))
end

-- table(results) -> headers, rows: one row per summary entry, a column per source.
function summary_text.table(results)
  local headers = { "preset", "metric", "better" }
  for _, source in ipairs(results.sources) do headers[#headers + 1] = source .. " mean [min–max]" end
  for _, h in ipairs({ "winner", "difference", "spread" }) do headers[#headers + 1] = h end
  local rows = {}
  for _, row in ipairs(results.summary) do
    local cells = { row.preset, summary_text.metric_label(row.metric), row.better }
    for _, source in ipairs(results.sources) do
      local cell = "–"
      for _, s in ipairs(row.by_source) do
        if s.source == source then cell = summary_text.spread_cell(s) end
      end
      cells[#cells + 1] = cell
    end
    cells[#cells + 1] = row.winner
    cells[#cells + 1] = num(row.difference)
    cells[#cells + 1] = num(row.spread)
    rows[#rows + 1] = cells
  end
  return headers, rows
end

-- sentence(row): "quantized beats float on decode KL by X, above the spread Y."
-- or "no winner on decode KL: the difference X is within the spread Y."
function summary_text.sentence(row)
  local label, diff, spread = summary_text.metric_label(row.metric), num(row.difference), num(row.spread)
  if row.winner == "none" then
    return string.format("no winner on %s: the difference %s is within the spread %s.", label, diff, spread)
  end
  local others = {}
  for _, s in ipairs(row.by_source) do
    if s.source ~= row.winner then others[#others + 1] = s.source end
  end
  -- the winner is the ablation's call; say plainly if it was made inside the spread
  local where = row.difference > row.spread and "above" or "not above"
  return string.format("%s beats %s on %s by %s, %s the spread %s.", row.winner, table.concat(others, " and "),
    label, diff, where, spread)
end

-- verdicts(results) -> { { preset, sentences } } in the order of results.presets.
function summary_text.verdicts(results)
  local out = {}
  for _, preset in ipairs(results.presets) do
    local sentences = {}
    for _, row in ipairs(results.summary) do
      if row.preset == preset then sentences[#sentences + 1] = summary_text.sentence(row) end
    end
    out[#out + 1] = { preset = preset, sentences = sentences }
  end
  return out
end

-- setup(results) -> { { label, value } }: what was measured, on what.
function summary_text.setup(results)
  -- ranges are [first, last): shown as the first and last story, 0-based
  local function range(r) return r and string.format("stories %d–%d", r[1], r[2] - 1) or "–" end
  -- the float model's perplexity does not depend on the calibration: the first run's
  local float = results.runs[1] and results.runs[1].perplexity_float
  return {
    { "model", results.model },
    { "target", results.target },
    { "calibration text", string.format("%s, %s", results.calib_text, range(results.calib_range)) },
    { "evaluation text", string.format("%s, %s", results.eval_text, range(results.eval_range)) },
    { "samples", tostring(results.samples) },
    { "decode steps", tostring(results.decode_steps) },
    { "prompt length", tostring(results.prompt_len) },
    { "repeats", tostring(results.repeats) },
    { "presets", table.concat(results.presets, ", ") },
    { "decode sources", table.concat(results.sources, ", ") },
    { "float model perplexity", num(float) },
  }
end

return summary_text
