-- Every Linear weight on 4 bits per output channel (two codes a byte in the
-- generated weights), activations int16: GPTQ puts the weights on their
-- grids (`kiln gptq MODEL --recipe w4a16-gptq -o DIR`, with act order and MSE grids), then the activations
-- are calibrated on DIR with those grids locked (`kiln calib DIR --recipe
-- w4a16-gptq --weights DIR/gptq.json`).
local linear4 = { dtype = "uint4", qscheme = "per_channel_asymm" }
return {
  summary = "w4a16: every Linear weight uint4 per channel, GPTQ with act order and MSE grids",
  preset = "w8a16",
  overrides = {
    ["self_attn.q_proj.weight"] = linear4, ["self_attn.k_proj.weight"] = linear4,
    ["self_attn.v_proj.weight"] = linear4, ["self_attn.o_proj.weight"] = linear4,
    ["mlp.gate_proj.weight"] = linear4, ["mlp.up_proj.weight"] = linear4, ["mlp.down_proj.weight"] = linear4,
  },
  gptq = { block = 128, damp = 0.01, act_order = true, mse = true },
  samples = 16,
  decode_steps = 8,
}
