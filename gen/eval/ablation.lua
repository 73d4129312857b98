-- kiln ablate: which calibration choice gives the better integer model,
-- measured on held-out text. For every preset x decode source x repeat
-- (disjoint calibration sample sets), it calibrates, generates and builds
-- the C, then measures it on the evaluation stories: perplexity, mean KL and
-- top-1 agreement against the float model, separately on the positions the
-- prefill adapters produce (a prompt of prompt_len tokens) and those the
-- decode adapter produces (the rest, token by token); and per layer the
-- error boxes (mean |diff|, PEIR) of hidden / new_k / new_v against the
-- float layer on the same inputs. A source wins a metric only where its
-- advantage exceeds the spread over repeats.

local fail = require "util.fail"
local files = require "util.files"
local json = require "util.json"
local stories = require "read.stories"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local observers = require "calib.observers"
local calibrate = require "calib.calibrate"
local qparams_file = require "calib.qparams_file"
local grids = require "plan.grids"
local host = require "eval.host"
local layers = require "eval.layers"
local metrics = require "eval.metrics"
local report = require "eval.report"
local repeats = require "eval.repeats"

local ablation = {}

-- The metrics the summary compares, and which way is better.
ablation.METRICS = {
  { name = "decode_kl_mean", better = "lower", get = function(r) return r.decode.kl_mean end },
  { name = "decode_perplexity", better = "lower", get = function(r) return r.decode.perplexity end },
  { name = "decode_top1_agreement", better = "higher", get = function(r) return r.decode.top1_agreement end },
  { name = "prefill_kl_mean", better = "lower", get = function(r) return r.prefill.kl_mean end },
  { name = "prefill_perplexity", better = "lower", get = function(r) return r.prefill.perplexity end },
  { name = "decode_hidden_peir_mean", better = "lower", get = function(r) return r.decode_hidden_peir_mean end },
}

-- Stories [first, last) of a text file, encoded with BOS and cut to max_tokens.
function ablation.story_ids(tok, path, range, max_tokens)
  local texts = stories.read(path)
  if range[2] > #texts then
    fail.raise(path, "stories", string.format("has %d stories; the range asks for %d..%d", #texts, range[1],
      range[2] - 1))
  end
  local lists = {}
  for i = range[1] + 1, range[2] do
    local ids = tok:encode(texts[i], true, false)
    if #ids > max_tokens then ids = table.move(ids, 1, max_tokens, 1, {}) end
    lists[#lists + 1] = ids
  end
  return lists
end

-- Calibrates on the lists with one preset and decode source; returns the qparams file's text.
local function calibrate_text(native, model, ckpt, model_path, lists, run, o)
  local function new_entries() return observers.resolve(model.desc.layers, run.preset) end
  local entries = new_entries()
  local did = calibrate.run(native, model, entries, new_entries, lists,
    { decode_source = run.source, decode_steps = o.decode_steps, untied = false })
  local settings = json.object():set("tool", "kiln ablate"):set("profile", "npu_export"):set("preset", run.preset)
    :set("observer", "minmax"):set("text", files.basename(o.calib_text))
    :set("stories", { run.calib_stories[1], run.calib_stories[2] })
    :set("decode_steps", o.decode_steps):set("decode_source", calibrate.RECORDED_SOURCE[run.source])
    :set("prefill_tokens", did.prefill_tokens):set("decode_tokens", did.decode_tokens):set("kv_cache", "tied")
  return qparams_file.encode(
    { file = files.basename(model_path), sha256 = checkpoint.sha256(ckpt), description = ckpt.description },
    settings, entries)
end

-- Per layer and adapter: TICO's error figures of the three outputs; the
-- mean decode PEIR of hidden; the last decode layer's points, where
-- layers.compare gives them.
local function layer_rows(results)
  local rows, peir_sum, decode_layers, points = {}, 0, 0, nil
  for _, r in ipairs(results) do
    if r.adapter ~= "append" then
      local row = { layer = r.layer, adapter = r.adapter }
      for _, name in ipairs({ "hidden", "new_k", "new_v" }) do
        local t = r[name]
        row[name] = { mean_abs = t.mean_abs, peir = report.peir(t.max_abs, t.lo, t.hi) }
      end
      if r.adapter == "decode" then
        peir_sum, decode_layers = peir_sum + row.hidden.peir, decode_layers + 1
        points = r.points or points
      end
      rows[#rows + 1] = row
    end
  end
  return rows, peir_sum / math.max(decode_layers, 1), points
end

-- Measures one generated model: model-level split metrics and the layer boxes.
local function measure(context, g, dir, eval_lists, o)
  local native = context.native
  local ctx = {
    native = native, model = g.model, fq = float_model.with_fake_quant(native, g.model, g.qp), qp = g.qp,
    desc = g.desc, dir = dir, logits_grid = grids.of(g.qp, "lm_head.act_out"), runner = g.rules.build,
  }
  local m = metrics.split(ctx, eval_lists, o.prompt_len)
  for _, t in ipairs(eval_lists) do
    if #t >= g.desc.prefill_len + g.desc.append_len + 2 then ctx.tokens = t; break end
  end
  if not ctx.tokens then fail.usage("--eval-range: no evaluation story is long enough for the layer checks") end
  return m, layer_rows((layers.compare(ctx)))
end

-- Per preset and metric: each source's mean and range over repeats, and the
-- winner: the best mean, if its lead over the runner-up exceeds the spread
-- (the wider of the two ranges); else none.
function ablation.summary(runs, presets, sources)
  local out = {}
  for _, preset in ipairs(presets) do
    for _, metric in ipairs(ablation.METRICS) do
      local by_source = {}
      for _, source in ipairs(sources) do
        local values = {}
        for _, r in ipairs(runs) do
          if r.preset == preset and r.source == source then values[#values + 1] = metric.get(r) end
        end
        local s = repeats.spread(values)
        s.source = source
        by_source[#by_source + 1] = s
      end
      local order = table.move(by_source, 1, #by_source, 1, {})
      table.sort(order, function(a, b)
        if a.mean == b.mean then return a.source < b.source end
        if metric.better == "lower" then return a.mean < b.mean end
        return a.mean > b.mean
      end)
      local entry = { preset = preset, metric = metric.name, better = metric.better, by_source = by_source,
        winner = "none", difference = 0, spread = 0 }
      if #order >= 2 then
        local best, second = order[1], order[2]
        entry.difference = math.abs(best.mean - second.mean)
        entry.spread = math.max(best.max - best.min, second.max - second.min)
        if entry.difference > entry.spread then entry.winner = best.source end
      end
      out[#out + 1] = entry
    end
  end
  return out
end

-- run(context, o, bar) -> results (see html_report.ablation), qparams (the
-- calibrated files: { [name] = text }). o: model, tokenizer (opened),
-- calib_text, calib_range, eval_text, eval_range, presets, sources,
-- samples, decode_steps, repeats, prompt_len, max_tokens, target,
-- target_name, scratch (a directory for the qparams files while building).
function ablation.run(context, o, bar)
  local native = context.native
  local ckpt = checkpoint.open(o.model)
  local max_seq = ckpt.description.max_seq
  local max_tokens = math.min(o.max_tokens, max_seq - o.decode_steps)
  local calib_lists = ablation.story_ids(o.tokenizer, o.calib_text, o.calib_range, max_tokens)
  local eval_lists = ablation.story_ids(o.tokenizer, o.eval_text, o.eval_range, max_seq)
  local model = float_model.load(native, ckpt, { max_seq = max_tokens + o.decode_steps })
  local runs, qparams = {}, {}
  for r = 1, o.repeats do
    local first = (r - 1) * o.samples
    local lists = table.move(calib_lists, first + 1, first + o.samples, 1, {})
    for _, preset in ipairs(o.presets) do
      for _, source in ipairs(o.sources) do
        local run = { preset = preset, source = source, repeat_index = r,
          calib_stories = { o.calib_range[1] + first, o.calib_range[1] + first + o.samples } }
        local name = string.format("%s-%s-%d.json", preset, source, r)
        qparams[name] = calibrate_text(native, model, ckpt, o.model, lists, run, o)
        local qpath = o.scratch .. "/" .. name
        files.write_atomic(qpath, qparams[name])
        host.with_model(context, { model_path = o.model, qparams_path = qpath, target = o.target }, function(g, dir)
          local m, rows, peir_mean, points = measure(context, g, dir, eval_lists, o)
          run.prefill, run.decode = m.prefill, m.decode
          run.perplexity_float = m.decode.perplexity_float
          run.layers, run.points, run.decode_hidden_peir_mean = rows, points, peir_mean
        end)
        runs[#runs + 1] = run
        if bar then bar:step() end
      end
    end
  end
  return {
    model = files.basename(o.model), target = o.target_name,
    calib_text = files.basename(o.calib_text), calib_range = o.calib_range,
    eval_text = files.basename(o.eval_text), eval_range = o.eval_range,
    samples = o.samples, decode_steps = o.decode_steps, prompt_len = o.prompt_len, repeats = o.repeats,
    eval_stories = #eval_lists, presets = o.presets, sources = o.sources,
    runs = runs, summary = ablation.summary(runs, o.presets, o.sources),
  }, qparams
end

-- A plain value as an ordered JSON value: object keys sorted, so results.json
-- comes out the same for the same inputs.
function ablation.to_json(v)
  if type(v) ~= "table" then return v end
  if #v > 0 or next(v) == nil then
    local out = {}
    for i, x in ipairs(v) do out[i] = ablation.to_json(x) end
    return out
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local o = json.object()
  for _, k in ipairs(keys) do o:set(k, ablation.to_json(v[k])) end
  return o
end

return ablation
