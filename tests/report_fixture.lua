-- A made-up `kiln ablate` results table, in the shape kiln ablate hands
-- eval.html_report and eval.md_report: 2 presets x 2 decode sources x 3
-- repeats, 5 layers, both adapters. The numbers come from a fixed formula,
-- so every call gives the same table; none of them means anything.

local fixture = {}

fixture.PRESETS = { "w8a8", "w8a16" }
fixture.SOURCES = { "float", "quantized" }
fixture.REPEATS = 3
fixture.LAYERS = 5
fixture.POINTS = 400

-- A value that varies smoothly with its arguments and never repeats exactly.
local function wave(a, b, c) return 0.5 + 0.5 * math.sin(1.7 * a + 2.3 * b + 0.9 * c) end

local function run(p, s, k)
  local scale = p == 1 and 4 or 1 -- w8a8 errs more than w8a16
  local layers = {}
  for l = 0, fixture.LAYERS - 1 do
    for a, adapter in ipairs({ "prefill", "decode" }) do
      local e = 0.01 * scale * (1 + l) * (0.8 + 0.4 * wave(l, s, k + a))
      layers[#layers + 1] = { layer = l, adapter = adapter,
        hidden = { mean_abs = e, peir = 3 * e }, new_k = { mean_abs = e / 2, peir = e }, new_v = { mean_abs = e / 3, peir = e } }
    end
  end
  local xs, ys = {}, {}
  for i = 1, fixture.POINTS do
    local x = 4 * math.sin(i * 0.37) + math.cos(i * 0.11)
    xs[i], ys[i] = x, x + 0.05 * scale * math.sin(i * 1.3 + s)
  end
  -- w8a8: quantized-sourced clearly better; w8a16: the same within the noise
  local kl = 0.01 * scale * (s == 2 and (p == 1 and 0.8 or 0.99) or 1.0) + 0.001 * wave(p, s, k)
  return {
    preset = fixture.PRESETS[p], source = fixture.SOURCES[s], repeat_index = k, calib_stories = { 16 * (k - 1), 16 * k },
    prefill = { perplexity = 3.6 + 10 * kl, kl_mean = kl, top1_agreement = 0.95 - kl, positions = 6000 },
    decode = { perplexity = 3.7 + 12 * kl, kl_mean = 1.2 * kl, top1_agreement = 0.94 - kl, positions = 20000 },
    perplexity_float = 3.57,
    layers = layers,
    points = { xs = xs, ys = ys },
  }
end

-- The summary rows: lower is better but for top-1 agreement; a winner only
-- when the means differ by more than the larger of the two spreads.
local METRICS = {
  { "prefill", "perplexity", "lower" }, { "prefill", "kl_mean", "lower" },
  { "decode", "perplexity", "lower" }, { "decode", "kl_mean", "lower" }, { "decode", "top1_agreement", "higher" },
}

local function summary(runs)
  local rows = {}
  for _, preset in ipairs(fixture.PRESETS) do
    for _, m in ipairs(METRICS) do
      local by_source, spread = {}, 0
      for _, source in ipairs(fixture.SOURCES) do
        local sum, lo, hi, n = 0, math.huge, -math.huge, 0
        for _, r in ipairs(runs) do
          if r.preset == preset and r.source == source then
            local v = r[m[1]][m[2]]
            sum, lo, hi, n = sum + v, math.min(lo, v), math.max(hi, v), n + 1
          end
        end
        by_source[#by_source + 1] = { source = source, mean = sum / n, min = lo, max = hi }
        spread = math.max(spread, hi - lo)
      end
      local a, b = by_source[1], by_source[2]
      local difference = math.abs(a.mean - b.mean)
      local first_better = (m[3] == "lower") == (a.mean < b.mean)
      rows[#rows + 1] = { preset = preset, metric = m[1] .. "_" .. m[2], better = m[3], by_source = by_source,
        winner = difference > spread and (first_better and a.source or b.source) or "none",
        difference = difference, spread = spread }
    end
  end
  return rows
end

-- results(model) -> the table; model names the model (to test escaping).
function fixture.results(model)
  local runs = {}
  for p = 1, #fixture.PRESETS do
    for s = 1, #fixture.SOURCES do
      for k = 1, fixture.REPEATS do runs[#runs + 1] = run(p, s, k) end
    end
  end
  return {
    model = model or "stories260K.bin", target = "portable",
    calib_text = "tinystories_valid_first1000.txt", calib_range = { 0, 100 },
    eval_text = "tinystories_valid_first1000.txt", eval_range = { 200, 400 },
    samples = 16, decode_steps = 8, prompt_len = 32, repeats = fixture.REPEATS,
    presets = fixture.PRESETS, sources = fixture.SOURCES,
    runs = runs, summary = summary(runs),
  }
end

return fixture
