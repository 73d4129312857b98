-- Target: x86-64 with AVX2 and FMA but neither AVX-512 nor VNNI (Intel
-- Haswell to Comet Lake, AMD Zen 1 to 3), Linux. Linear layers run on the
-- weights the generator packs for the VNNI targets (n16k4), widened to int16
-- and multiplied with vpmaddwd, so that no saturating byte product is ever
-- formed; RMSNorm, SiLU, RoPE's moves, the adds and attention (one call a
-- query row) have AVX2 kernels of their own. Every kernel computes the
-- portable runtime's integers, so results are bit-identical to it.

local packed_linear = runtime_lua("x86/packed_linear.lua")
local avx2_ops = runtime_lua("x86/avx2_ops.lua")

return {
  name = "x86-avx2",
  summary = "x86-64 AVX2 (vpmaddwd on widened packed weights), weights packed at generation time",

  -- the packed kernels take uint8, uint4 and int4 weights; int8 and int16 ones run portable loops
  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  -- the host must have these (/proc/cpuinfo flags) to run what kiln builds
  cpu_flags = { "avx2", "fma" },
  fallback = "portable", -- for hosts without them
  machine = "x86_64",
  native_preference = 20, -- --target native: below x86-vnni

  runtime = avx2_ops.runtime({ "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c",
    "x86/kiln_rt_x86.h", "x86/kiln_linear_avx2.inc", "x86/kiln_linear_avx2.c" }),
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = packed_linear.weight_runtime("x86/kiln_linear_avx2_w4.c"),

  -- on weights packed at generation time (runtime/x86/packed_linear.lua);
  -- every other op has its AVX2 kernel (runtime/x86/avx2_ops.lua)
  kernels = avx2_ops.kernels(packed_linear.widened_entries("kiln_linear_avx2")),

  align_words = 16, -- 32-byte scratch buffers
  sections = nil,

  build = {
    makefile = "Makefile.mk",
    cc = "cc",
    cflags = "-std=c99 -O3 -Wall -Wextra -Wpedantic -Werror -mavx2 -mfma",
    image = "build/kiln_host",
    run = { command = "{image}{args}" }, -- on this host
  },

  code_size = { base = 12900, per_function = 200, per_call = 90, stack = 4096 },
}
