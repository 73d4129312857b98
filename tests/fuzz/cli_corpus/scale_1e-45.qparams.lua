-- model.layers.0.self_attn.cos.scale = 1e-45
return {
  { { "observers", "model.layers.0.self_attn.cos", "scale" }, 9.9999999999999998e-46 },
}
