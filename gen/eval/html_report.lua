-- The HTML reports: `kiln ablate`'s (the summary, per-layer errors, scatter
-- plots and the model metrics with their spread over repeats) and `kiln
-- eval --html`'s (one qparams file, per layer and adapter). One
-- self-contained file each (eval.html); the same input gives the same bytes.
--
-- The ids and classes below are a contract the tests (and anyone scraping
-- a report) rely on:
--   ablation: table#setup, table#summary (a tr per summary row, class
--     winner-SOURCE or winner-none), ul#verdicts, per preset
--     svg.plot.layer-errors#layer-errors-PRESET, per preset and source
--     svg.plot.scatter#scatter-PRESET-SOURCE, svg.plot.model-metrics#model-metrics;
--   layers: table#metrics (with model metrics), table#layers,
--     svg.plot.layer-errors#layer-errors, per result svg.plot.scatter#scatter-LAYER-ADAPTER;
--   every chart of series has a g.legend, and each small chart a g.panel.

local html = require "eval.html"
local charts = require "eval.charts"
local repeats = require "eval.repeats"
local report = require "eval.report"
local summary_text = require "eval.summary_text"
local files = require "util.files"

local html_report = {}

local num = summary_text.num

local function strings(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = tostring(v) end
  return out
end

-- The per-layer errors of one preset: decode and prefill, mean |diff| and
-- PEIR of the hidden output, a bar per source with the repeats' min-max.
local function layer_errors(results, preset)
  local by_source = {}
  for i, source in ipairs(results.sources) do by_source[i] = repeats.runs(results, preset, source) end
  local all = {}
  for _, runs in ipairs(by_source) do table.move(runs, 1, #runs, #all + 1, all) end
  local layers = repeats.layer_numbers(all)
  local panels = {}
  for _, adapter in ipairs({ "decode", "prefill" }) do
    for _, m in ipairs({ { "mean_abs", "mean |diff|", 1 }, { "peir", "PEIR (%)", 100 } }) do
      local series = {}
      for i, runs in ipairs(by_source) do
        series[i] = { values = repeats.layer_values(runs, adapter, "hidden", m[1], layers, m[3]) }
      end
      panels[#panels + 1] = { title = adapter .. ": " .. m[2] .. " of hidden", ylabel = m[2], xlabel = "layer",
        categories = strings(layers), series = series }
    end
  end
  return charts.panels({
    id = html.id("layer-errors", preset), class = "plot layer-errors", legend = results.sources, panels = panels,
    title = preset .. ": per-layer error against the float layer, by decode source (mean over repeats, min–max whiskers)",
  })
end

-- Reference against quantized for each preset and source, first repeat.
local function scatters(results)
  local out = { '<div class="plots">' }
  for _, preset in ipairs(results.presets) do
    for _, source in ipairs(results.sources) do
      local run = repeats.first(repeats.runs(results, preset, source))
      local points = run and run.points or { xs = {}, ys = {} }
      out[#out + 1] = charts.scatter({
        id = html.id("scatter", preset, source), class = "plot scatter", xs = points.xs, ys = points.ys,
        title = string.format("%s, %s: last layer's decode hidden", preset, source),
        xlabel = "float reference", ylabel = "quantized",
      })
    end
  end
  out[#out + 1] = "</div>"
  return table.concat(out, "\n")
end

-- Perplexity and KL on prefill positions and on decode positions, a dot per
-- preset and source with the repeats' min-max.
local function model_metrics(results)
  local panels = {}
  for _, m in ipairs({ { "perplexity", "perplexity" }, { "kl_mean", "mean KL" } }) do
    for _, phase in ipairs({ "prefill", "decode" }) do
      local series = {}
      for i, source in ipairs(results.sources) do
        local values = {}
        for p, preset in ipairs(results.presets) do
          values[p] = repeats.model_values(repeats.runs(results, preset, source), phase, m[1])
        end
        series[i] = { values = values }
      end
      panels[#panels + 1] = { title = phase .. " positions: " .. m[2], ylabel = m[2], xlabel = "preset",
        style = "dot", categories = results.presets, series = series }
    end
  end
  return charts.panels({
    id = "model-metrics", class = "plot model-metrics", legend = results.sources, panels = panels,
    title = "Model metrics against the float model by decode source (mean over repeats, min–max whiskers)",
  })
end

local function summary(results)
  local headers, rows = summary_text.table(results)
  local out = { html.table("summary", headers, rows, function(i)
    return "winner-" .. html.id(results.summary[i].winner)
  end), '<ul id="verdicts">' }
  for _, v in ipairs(summary_text.verdicts(results)) do
    for _, s in ipairs(v.sentences) do
      out[#out + 1] = string.format("<li><b>%s</b>: %s</li>", html.escape(v.preset), html.escape(s))
    end
  end
  out[#out + 1] = "</ul>"
  return table.concat(out, "\n")
end

-- ablation(results) -> html text. results: kiln ablate's table (model,
-- target, calib/eval text and ranges, presets, sources, runs, summary).
function html_report.ablation(results)
  local body = {
    "<h2>Setup</h2>", html.table("setup", { "setting", "value" }, summary_text.setup(results)),
    "<h2>Summary</h2>", summary(results),
    "<h2>Per-layer errors</h2>",
  }
  for _, preset in ipairs(results.presets) do body[#body + 1] = layer_errors(results, preset) end
  body[#body + 1] = "<h2>Float reference against quantized</h2>"
  body[#body + 1] = scatters(results)
  body[#body + 1] = "<h2>Perplexity and KL divergence</h2>"
  body[#body + 1] = model_metrics(results)
  return html.page(string.format("kiln ablate: %s (%s)", results.model, results.target), table.concat(body, "\n"))
end

local function peir(t) return report.peir(t.max_abs, t.lo, t.hi) end

local TENSORS = { "hidden", "new_k", "new_v" }

local function layers_table(layer_results)
  local headers = { "layer", "adapter", "rows", "past" }
  for _, name in ipairs(TENSORS) do
    for _, h in ipairs({ "mean |diff|", "PEIR %", "within 1 LSB %", "max LSB" }) do headers[#headers + 1] = name .. " " .. h end
  end
  local rows = {}
  for _, r in ipairs(layer_results) do
    local row = { tostring(r.layer), r.adapter, tostring(r.rows), tostring(r.past) }
    for _, name in ipairs(TENSORS) do
      local t = r[name]
      for _, v in ipairs({ num(t.mean_abs), num(100 * peir(t)), string.format("%.2f", 100 * t.within_1lsb),
        tostring(t.max_lsb) }) do row[#row + 1] = v end
    end
    rows[#rows + 1] = row
  end
  return html.table("layers", headers, rows)
end

-- One qparams file's errors per layer: a bar per adapter, for each tensor.
local function layers_chart(layer_results)
  local adapters = repeats.distinct(layer_results, "adapter")
  local layer_list = repeats.layer_numbers({ { layers = layer_results } })
  local index = {}
  for i, l in ipairs(layer_list) do index[l] = i end
  local panels = {}
  for _, name in ipairs(TENSORS) do
    for _, m in ipairs({ { "mean |diff|", function(t) return t.mean_abs end }, { "PEIR (%)", function(t) return 100 * peir(t) end } }) do
      local series = {}
      for a, adapter in ipairs(adapters) do
        local values = {}
        for _, r in ipairs(layer_results) do
          if r.adapter == adapter then values[index[r.layer]] = m[2](r[name]) end
        end
        series[a] = { values = values }
      end
      panels[#panels + 1] = { title = m[1] .. " of " .. name, ylabel = m[1], xlabel = "layer",
        categories = strings(layer_list), series = series }
    end
  end
  return charts.panels({ id = "layer-errors", class = "plot layer-errors", legend = adapters, panels = panels,
    title = "Per-layer error of the integer layer against the float layer, by adapter" })
end

local METRICS = { "stories", "positions", "perplexity_float", "perplexity", "kl_mean", "top1_agreement" }

-- layers(title, layer_results, model_metrics) -> html text. layer_results:
-- eval.layers.compare's results (with r.points); model_metrics, optional:
-- eval.metrics.model's table.
function html_report.layers(title, layer_results, model_metrics)
  local body = {}
  if model_metrics then
    local rows = {}
    for _, k in ipairs(METRICS) do rows[#rows + 1] = { k, num(model_metrics[k]) } end
    body[#body + 1] = "<h2>Model metrics</h2>"
    body[#body + 1] = html.table("metrics", { "metric", "value" }, rows)
  end
  body[#body + 1] = "<h2>Per layer and adapter</h2>"
  body[#body + 1] = layers_table(layer_results)
  body[#body + 1] = layers_chart(layer_results)
  body[#body + 1] = "<h2>Float reference against quantized (hidden)</h2>"
  -- a row of scatters per layer, its adapters side by side
  body[#body + 1] = '<div class="plots">'
  local adapters = repeats.distinct(layer_results, "adapter")
  for _, l in ipairs(repeats.layer_numbers({ { layers = layer_results } })) do
    for _, adapter in ipairs(adapters) do
      for _, r in ipairs(layer_results) do
        if r.layer == l and r.adapter == adapter then
          local points = r.points or { xs = {}, ys = {} }
          body[#body + 1] = charts.scatter({ id = html.id("scatter", "L" .. l, adapter), class = "plot scatter",
            xs = points.xs, ys = points.ys, title = string.format("layer %d, %s", l, adapter),
            xlabel = "float reference", ylabel = "quantized" })
        end
      end
    end
  end
  body[#body + 1] = "</div>"
  return html.page(title, table.concat(body, "\n"))
end

-- write_index(dir, text) -> path: DIR/index.html, DIR made if missing.
function html_report.write_index(dir, text)
  files.make_dir(dir)
  local path = dir .. "/index.html"
  files.write_atomic(path, text)
  return path
end

return html_report
