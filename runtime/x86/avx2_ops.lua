-- The AVX2 kernels of every op but linear (kiln_rt_avx2.h: attention rows,
-- RMSNorm, SiLU, softmax, RoPE's moves, the adds, requantization, argmax),
-- for the rules of the x86 targets whose hosts all have AVX2 and FMA:
-- x86-avx2, and x86-avx-vnni beside its vpdpbusd linear kernels. A rules
-- file has no standard library, so the tables are built here.

local ops = {}

local FILES = { "x86/kiln_rt_avx2.h", "x86/kiln_avx2.h", "x86/kiln_attention_avx2.c", "x86/kiln_ops_avx2.c" }

-- The runtime files: a target's own list, then the AVX2 kernels'.
function ops.runtime(own)
  local out = {}
  for i = 1, #own do out[i] = own[i] end
  for i = 1, #FILES do out[#out + 1] = FILES[i] end
  return out
end

-- The kernels table with a target's linear entries.
function ops.kernels(linear)
  -- attention rows for head_dim 8 or a multiple of 16 (the kernels take
  -- multiples of 16 up to 256; larger ones run the portable loops inside them)
  local heads = { equal_or_multiple = { 8, 16 } }
  return {
    linear = linear,
    requant = "kiln_requant_avx2",
    mul = "kiln_mul_avx2",
    add = "kiln_add_avx2",
    mul_rows = "kiln_mul_rows_avx2",
    take_half = "kiln_take_half_avx2",
    concat_halves = "kiln_concat_halves_avx2",
    heads_first = "kiln_heads_first_avx2",
    softmax_row = "kiln_softmax_row_avx2",
    sigmoid = "kiln_sigmoid_avx2",
    rmsnorm = "kiln_rmsnorm_avx2",
    argmax = "kiln_argmax_avx2",
    qk_row = { kernel = "kiln_qk_row_avx2", head_dim = heads },
    pv_row = { kernel = "kiln_pv_row_avx2", head_dim = heads },
    -- the whole row in one call, where both of the above apply
    attention_row = { kernel = "kiln_attention_row_avx2", head_dim = heads },
  }
end

return ops
