-- model.layers.1.self_attn.o_proj.weight.scale[10] = 2^53
return {
  { { "observers", "model.layers.1.self_attn.o_proj.weight", "scale", 10 }, 9007199254740992 },
}
