-- model.layers.0.self_attn.k_cat.zero_point = -1e20
return {
  { { "observers", "model.layers.0.self_attn.k_cat", "zero_point" }, -1e+20 },
}
