-- Target: x86-64 with AVX-512 VNNI (Ice Lake, Sapphire Rapids, Zen 4 and
-- later), Linux. Linear layers run on weights the generator packs for
-- vpdpbusd (one byte plane for 8-bit activations, two for 16-bit ones);
-- RMSNorm, SiLU, RoPE's moves, the residual adds and attention (one call a
-- query row) have AVX-512 kernels of their own. Every kernel computes the
-- portable runtime's integers, so results are bit-identical to it.
-- Without AVX-512, rules/x86-avx2.lua is the fallback.

local packed_linear = runtime_lua("x86/packed_linear.lua")

return {
  name = "x86-vnni",
  summary = "x86-64 AVX-512 VNNI (vpdpbusd, vpdpwssd), weights packed at generation time",

  -- the packed kernels take uint8, uint4 and int4 weights; int8 and int16 ones run portable loops
  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  -- the host must have these (/proc/cpuinfo flags) to run what kiln builds
  cpu_flags = { "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni" },
  fallback = "x86-avx2", -- for hosts without them (all have AVX2)
  machine = "x86_64",
  native_preference = 40, -- --target native: the fastest this host runs

  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c", "x86/kiln_rt_x86.h",
    "x86/kiln_avx512.h", "x86/kiln_linear_avx512.inc", "x86/kiln_linear_avx512.c", "x86/kiln_attention_avx512.c",
    "x86/kiln_ops_avx512.c" },
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = packed_linear.weight_runtime("x86/kiln_linear_avx512_w4.c"),

  kernels = {
    -- on weights packed at generation time (runtime/x86/packed_linear.lua)
    linear = packed_linear.linear_entries("kiln_linear_vnni"),
    -- elementwise kernels and the softmax row
    requant = "kiln_requant_avx512",
    mul = "kiln_mul_avx512",
    add = "kiln_add_avx512",
    mul_rows = "kiln_mul_rows_avx512",
    take_half = "kiln_take_half_avx512",
    concat_halves = "kiln_concat_halves_avx512",
    heads_first = "kiln_heads_first_avx512",
    softmax_row = "kiln_softmax_row_avx512",
    sigmoid = "kiln_sigmoid_avx512",
    rmsnorm = "kiln_rmsnorm_avx512",
    argmax = "kiln_argmax_avx512",
    -- attention rows, for these head sizes
    qk_row = { kernel = "kiln_qk_row_avx512", head_dim = { equal_or_multiple = { 8, 32 } } },
    pv_row = { kernel = "kiln_pv_row_avx512", head_dim = { equal_or_multiple = { 8, 32 } } },
    -- the whole row in one call, where both of the above apply
    attention_row = { kernel = "kiln_attention_row_avx512", head_dim = { equal_or_multiple = { 8, 32 } } },
  },

  align_words = 32, -- 64-byte scratch buffers
  sections = nil,

  build = {
    makefile = "Makefile.mk",
    cc = "cc",
    cflags = "-std=c99 -O3 -Wall -Wextra -Wpedantic -Werror -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni",
    image = "build/kiln_host",
    run = { command = "{image}{args}" }, -- on this host
  },

  code_size = { base = 12900, per_function = 200, per_call = 90, stack = 4096 },
}
