-- The order in which TICO 0.3.0's named_observers() lists the observers of
-- a wrapped LlamaForCausalLM: its module tree, each module's own observers
-- before its children's (QuantLlamaModel: mask and RoPE, embed_tokens, norm,
-- then the layers; lm_head last). qparams.json lists observers in this
-- order, so a file kiln writes and one TICO's exporter writes read alike.
-- The graphs keep dataflow order; this only sorts what they place.

local order = {}

-- Before the decoder layers.
order.FIRST = {
  "model.causal_mask", "model.cos", "model.sin", "model.embed_tokens.act_out", "model.embed_tokens.weight",
  "model.norm.weight", "model.norm.act_in", "model.norm.act_out",
}

-- Each decoder layer's, relative to model.layers.N.
order.LAYER = {
  "attn_mask", "cos", "sin", "mlp_residual_out",
  "self_attn.hidden", "self_attn.cos", "self_attn.sin",
  "self_attn.q_x1", "self_attn.q_x2", "self_attn.q_cat", "self_attn.k_x1", "self_attn.k_x2", "self_attn.k_cat",
  "self_attn.q_cos", "self_attn.q_sin", "self_attn.q_rot", "self_attn.k_cos", "self_attn.k_sin", "self_attn.k_rot",
  "self_attn.attn_mask", "self_attn.logits", "self_attn.mask_add", "self_attn.softmax", "self_attn.attn_out",
  "self_attn.attn_weights", "self_attn.attn_out_h", "self_attn.past_key", "self_attn.past_value",
  "self_attn.new_k", "self_attn.new_v", "self_attn.present_key", "self_attn.present_value",
  "self_attn.q_proj.weight", "self_attn.q_proj.act_in", "self_attn.q_proj.act_out",
  "self_attn.k_proj.weight", "self_attn.k_proj.act_in", "self_attn.k_proj.act_out",
  "self_attn.v_proj.weight", "self_attn.v_proj.act_in", "self_attn.v_proj.act_out",
  "self_attn.o_proj.weight", "self_attn.o_proj.act_in", "self_attn.o_proj.act_out",
  "mlp.act_in", "mlp.mul",
  "mlp.gate_proj.weight", "mlp.gate_proj.act_in", "mlp.gate_proj.act_out",
  "mlp.up_proj.weight", "mlp.up_proj.act_in", "mlp.up_proj.act_out",
  "mlp.down_proj.weight", "mlp.down_proj.act_in", "mlp.down_proj.act_out",
  "mlp.act_fn.act_in", "mlp.act_fn.sigmoid", "mlp.act_fn.mul",
  "input_layernorm.weight", "input_layernorm.act_in", "input_layernorm.act_out",
  "post_attention_layernorm.weight", "post_attention_layernorm.act_in", "post_attention_layernorm.act_out",
}

-- After the decoder layers.
order.LAST = { "lm_head.weight", "lm_head.act_in", "lm_head.act_out" }

local function rank_of(list)
  local r = {}
  for i, name in ipairs(list) do r[name] = i end
  return r
end
local FIRST, LAYER, LAST = rank_of(order.FIRST), rank_of(order.LAYER), rank_of(order.LAST)

-- key(path) -> a sort key: { group, layer, rank }, or nil for a path TICO
-- does not place.
function order.key(path)
  if FIRST[path] then return { 0, 0, FIRST[path] } end
  if LAST[path] then return { 2, 0, LAST[path] } end
  local l, rel = path:match("^model%.layers%.(%d+)%.(.+)$")
  if l and LAYER[rel] then return { 1, tonumber(l), LAYER[rel] } end
  return nil
end

-- sort(list, path_of): sorts in place into TICO's order; every path must be one TICO places.
function order.sort(list, path_of)
  local keys = {}
  for _, item in ipairs(list) do
    local p = path_of(item)
    keys[item] = assert(order.key(p), "no TICO order for observer " .. p)
  end
  table.sort(list, function(a, b)
    local x, y = keys[a], keys[b]
    if x[1] ~= y[1] then return x[1] < y[1] end
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[3] < y[3]
  end)
end

return order
