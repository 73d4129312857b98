-- Model-level measurement of generated C against the float model: for each
-- story, the generated code runs its tokens one position at a time (the
-- decode path) and returns int16 logits; they are compared with the float
-- model's logits at the same positions.

local host = require "eval.host"
local detmath = require "util.detmath"

local metrics = {}

-- stories: token lists (BOS first). Position i predicts token i + 1, so each
-- story of n tokens gives n - 1 scored positions, as in `kiln ppl`.
function metrics.model(ctx, stories, bar)
  local native, V = ctx.native, ctx.desc.vocab
  local inputs, parts = {}, {}
  for i, ids in ipairs(stories) do
    if #ids >= 2 then
      local n = #ids - 1
      inputs[#inputs + 1] = i
      parts[#parts + 1] = string.pack("<i4", n) .. string.pack("<" .. string.rep("i4", n), table.unpack(ids, 1, n))
    end
  end
  local out = host.run(ctx.dir, "logits", table.concat(parts), ctx.runner)
  local g = ctx.logits_grid
  local sum = { nll_q = 0.0, nll_f = 0.0, kl = 0.0, agree = 0, positions = 0, scored = 0 }
  local at = 1
  for _, i in ipairs(inputs) do
    local ids = stories[i]
    local n = #ids - 1
    local codes = out:sub(at, at + n * V * 2 - 1)
    at = at + n * V * 2
    local float_logits = ctx.model.native:forward(table.move(ids, 1, n, 1, {}), 0, true)
    local targets = table.move(ids, 2, n + 1, 1, {})
    local nll_q, nll_f, kl, agree, positions, scored = native.logit_metrics(float_logits, codes, g.scale,
      g.zero_point, targets, V)
    sum.nll_q, sum.nll_f, sum.kl = sum.nll_q + nll_q, sum.nll_f + nll_f, sum.kl + kl
    sum.agree, sum.positions, sum.scored = sum.agree + agree, sum.positions + positions, sum.scored + scored
    if bar then bar:step() end
  end
  assert(at == #out + 1, "kiln_host logits: unexpected output size")
  return {
    mean_nll = sum.nll_q / sum.scored,
    perplexity = detmath.exp(sum.nll_q / sum.scored),
    perplexity_float = detmath.exp(sum.nll_f / sum.scored),
    kl_mean = sum.kl / sum.positions,
    top1_agreement = sum.agree / sum.positions,
    positions = sum.positions,
    scored = sum.scored,
    stories = #inputs,
  }
end

return metrics
