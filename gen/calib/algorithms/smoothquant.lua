-- SmoothQuant (Xiao et al. 2023; TICO's algorithm/smoothquant): moves the
-- outliers of a Linear's input channels into its weights. For each input
-- channel j of the Linears after an RMSNorm,
--   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)    (max|W_j| and s_j at least 1e-5)
-- where max|X_j| is the channel's largest |value| at the norm's output over
-- the calibration prefills and max|W_j| the largest |weight| in column j of
-- all those Linears. The norm weight is divided by s and the Linear columns
-- multiplied by it: the float model computes the same function, but the
-- norm's output (one per-tensor grid) no longer spans the outliers.
--
-- kiln smooths the two places TICO's Llama recipe does: input_layernorm
-- before q/k/v, post_attention_layernorm before gate/up. The graph and its
-- observers do not change; the factors are recorded in qparams.json
-- ("smoothing") and every verb that reads that file folds them into the
-- checkpoint's weights as it loads them (model/smoothing.lua).

local smoothing = require "model.smoothing"

local smoothquant = {}

smoothquant.DEFAULT_ALPHA = 0.5
smoothquant.CLAMP = 1e-5

local function observer_index(model, name)
  for i, o in ipairs(model.observers) do
    if o == name then return i end
  end
  error("smoothquant: the layer graph has no observer " .. name)
end

-- activation_absmax(native, model, token_lists) -> { [layer + 1] = { [pair] = { max|X_j| } } }:
-- each layer run alone on its input in every sample's float prefill.
function smoothquant.activation_absmax(native, model, token_lists)
  local m, desc = model.native, model.desc
  local D = desc.hidden
  local slots = {}
  for k, pair in ipairs(smoothing.PAIRS) do slots[k] = observer_index(model, pair.act) end
  local out = {}
  for l = 1, desc.layers do out[l] = {} end
  local empty = native.tensor({})
  for _, ids in ipairs(token_lists) do
    local _, inputs = m:forward(ids, 0, false, true)
    local rows = #ids * D
    for l = 0, desc.layers - 1 do
      local _, _, _, trace = m:run_layer(l, inputs:slice(l * rows, rows), 0, empty, empty, true)
      for k, slot in ipairs(slots) do out[l + 1][k] = trace[slot]:column_absmax(D, out[l + 1][k]) end
    end
  end
  return out
end

-- factors(native, model, token_lists, alpha) -> { alpha, layers = { [layer + 1] = { [norm name] = { s_j } } } }
-- The weights' column maxima are the checkpoint's own (before kiln's
-- prescaling of k_proj), as TICO smooths the Hugging Face modules.
function smoothquant.factors(native, model, token_lists, alpha)
  local desc = model.desc
  local D = desc.hidden
  local act = smoothquant.activation_absmax(native, model, token_lists)
  local layers = {}
  for l = 0, desc.layers - 1 do
    local per_norm = {}
    for k, pair in ipairs(smoothing.PAIRS) do
      local wmax
      for _, lin in ipairs(pair.linears) do
        wmax = model.ckpt:load(native, string.format("model.layers.%d.%s.weight", l, lin)):column_absmax(D, wmax)
      end
      local s = {}
      for j = 1, D do
        local a = act[l + 1][k][j]
        local w = math.max(wmax[j], smoothquant.CLAMP)
        s[j] = math.max(a ^ alpha / w ^ (1 - alpha), smoothquant.CLAMP)
      end
      per_norm[pair.norm] = s
    end
    layers[l + 1] = per_norm
  end
  return { alpha = alpha, layers = layers }
end

return smoothquant
