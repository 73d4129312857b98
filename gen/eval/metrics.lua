-- Model-level measurement of generated C against the float model: for each
-- story, the generated code runs its tokens and returns int16 logits; they
-- are compared with the float model's logits at the same positions
-- (perplexity, mean KL divergence, top-1 agreement).
--
--   model  every position one token at a time (the decode adapter);
--   split  the first L positions through the prefill (and append) adapters,
--          the rest one token at a time, each part measured on its own.

local host = require "eval.host"
local detmath = require "util.detmath"

local metrics = {}

local function new_sum() return { nll_q = 0.0, nll_f = 0.0, kl = 0.0, agree = 0, positions = 0, scored = 0 } end

-- Adds the metrics of rows [first, first + n) of one story (float logits,
-- int16 codes, target ids) to sum.
local function add_rows(ctx, sum, float_logits, codes, targets, first, n)
  if n <= 0 then return end
  local V, g = ctx.desc.vocab, ctx.logits_grid
  local nll_q, nll_f, kl, agree, positions, scored = ctx.native.logit_metrics(float_logits:slice(first * V, n * V),
    codes:sub(first * V * 2 + 1, (first + n) * V * 2), g.scale, g.zero_point,
    table.move(targets, first + 1, first + n, 1, {}), V)
  sum.nll_q, sum.nll_f, sum.kl = sum.nll_q + nll_q, sum.nll_f + nll_f, sum.kl + kl
  sum.agree, sum.positions, sum.scored = sum.agree + agree, sum.positions + positions, sum.scored + scored
end

local function summary(sum)
  return {
    mean_nll = sum.nll_q / sum.scored,
    perplexity = detmath.exp(sum.nll_q / sum.scored),
    perplexity_float = detmath.exp(sum.nll_f / sum.scored),
    kl_mean = sum.kl / sum.positions,
    top1_agreement = sum.agree / sum.positions,
    positions = sum.positions,
    scored = sum.scored,
  }
end

-- Runs the host program's mode over the stories (BOS first; position i
-- predicts token i + 1, so a story of n tokens gives n - 1 positions) and
-- calls each(float_logits, codes, targets, n) per story.
local function run_stories(ctx, mode, stories, each, bar)
  local V = ctx.desc.vocab
  local inputs, parts = {}, {}
  for _, ids in ipairs(stories) do
    if #ids >= 2 then
      local n = #ids - 1
      inputs[#inputs + 1] = ids
      parts[#parts + 1] = string.pack("<i4", n) .. string.pack("<" .. string.rep("i4", n), table.unpack(ids, 1, n))
    end
  end
  local out = host.run(ctx.dir, mode, table.concat(parts), ctx.runner)
  local at = 1
  for _, ids in ipairs(inputs) do
    local n = #ids - 1
    local codes = out:sub(at, at + n * V * 2 - 1)
    at = at + n * V * 2
    each(ctx.model.native:forward(table.move(ids, 1, n, 1, {}), 0, true), codes, table.move(ids, 2, n + 1, 1, {}), n)
    if bar then bar:step() end
  end
  assert(at == #out + 1, "kiln_host " .. mode .. ": unexpected output size")
  return #inputs
end

-- stories: token lists. Every position through the decode adapter.
function metrics.model(ctx, stories, bar)
  local sum = new_sum()
  local count = run_stories(ctx, "logits", stories, function(f, codes, targets, n)
    add_rows(ctx, sum, f, codes, targets, 0, n)
  end, bar)
  local s = summary(sum)
  s.stories = count
  return s
end

-- The first prompt_len positions of each story through the prefill
-- adapters, the rest through the decode adapter: { prefill = ..., decode =
-- ..., stories }.
function metrics.split(ctx, stories, prompt_len, bar)
  local pre, dec = new_sum(), new_sum()
  local count = run_stories(ctx, "split " .. prompt_len, stories, function(f, codes, targets, n)
    local first = math.min(prompt_len, n)
    add_rows(ctx, pre, f, codes, targets, 0, first)
    add_rows(ctx, dec, f, codes, targets, first, n - first)
  end, bar)
  return { prefill = summary(pre), decode = summary(dec), stories = count }
end

return metrics
