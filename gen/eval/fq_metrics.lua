-- How far TICO's QUANT mode (the fake-quant float model, the semantics the
-- integer C follows) is from the float model on a few stories: mean KL
-- divergence, top-1 agreement and perplexity, every position of each story
-- through one prefill. Fast enough to compare many qparams (calibration's
-- algorithms use it); the integer C itself is measured by eval/metrics.lua.

local float_model = require "model.float_model"

local fq_metrics = {}

-- reference(model, stories) -> a reference: the float logits of each story
-- (token lists, BOS first; a story of n tokens gives n - 1 positions).
function fq_metrics.reference(model, stories)
  local ref = { stories = {}, logits = {}, targets = {} }
  for _, ids in ipairs(stories) do
    if #ids >= 2 then
      local inputs = table.move(ids, 1, #ids - 1, 1, {})
      ref.stories[#ref.stories + 1] = inputs
      ref.logits[#ref.logits + 1] = model.native:forward(inputs, 0, true)
      ref.targets[#ref.targets + 1] = table.move(ids, 2, #ids, 1, {})
    end
  end
  return ref
end

-- positions(ref) -> how many positions a reference scores.
function fq_metrics.positions(ref)
  local n = 0
  for _, t in ipairs(ref.targets) do n = n + #t end
  return n
end

-- measure(native, model, qp, ref) -> { kl_mean, top1_agreement, perplexity,
-- perplexity_float, positions } of the model in QUANT mode on qp
-- ({ observers = { [path] = entry } }) against the reference.
function fq_metrics.measure(native, model, qp, ref)
  local fq = float_model.with_fake_quant(native, model, qp)
  local nll_q, nll_f, kl, agree, positions, scored = 0, 0, 0, 0, 0, 0
  for i, inputs in ipairs(ref.stories) do
    local a, b, c, d, e, f = native.logit_metrics(ref.logits[i], fq:forward(inputs, 0, true), 1, 0, ref.targets[i],
      model.desc.vocab)
    nll_q, nll_f, kl, agree, positions, scored = nll_q + a, nll_f + b, kl + c, agree + d, positions + e, scored + f
  end
  return {
    kl_mean = kl / positions, top1_agreement = agree / positions,
    perplexity = math.exp(nll_q / scored), perplexity_float = math.exp(nll_f / scored), positions = positions,
  }
end

-- as_qparams(entries) -> the qparams a set of computed entries stands for.
function fq_metrics.as_qparams(entries)
  local obs = {}
  for _, e in ipairs(entries) do obs[e.path] = e end
  return { observers = obs }
end

return fq_metrics
