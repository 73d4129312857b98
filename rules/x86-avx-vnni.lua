-- Target: x86-64 with AVX-VNNI on 256-bit registers (Alder Lake and later
-- client cores, Zen 5 and others without AVX-512), Linux. Linear layers run
-- on the same packed weights as rules/x86-vnni.lua, with vpdpbusd on ymm
-- registers; every other op runs x86-avx2's kernels (these hosts have AVX2
-- and FMA). Results are bit-identical to portable.

local packed_linear = runtime_lua("x86/packed_linear.lua")
local avx2_ops = runtime_lua("x86/avx2_ops.lua")

return {
  name = "x86-avx-vnni",
  summary = "x86-64 AVX-VNNI (256-bit vpdpbusd), weights packed at generation time",

  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  -- the host must have these (/proc/cpuinfo flags) to run what kiln builds
  cpu_flags = { "avx2", "fma", "avx_vnni" },
  fallback = "x86-avx2", -- AVX-VNNI hosts have AVX2
  machine = "x86_64",
  -- --target native: below x86-avx2, whose linear tiles beat these one-output
  -- vpdpbusd loops today (gen/kiln bench: prefill 1,729 against 731 µs a token)
  native_preference = 15,

  runtime = avx2_ops.runtime({ "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c",
    "x86/kiln_rt_x86.h", "x86/kiln_linear_avxvnni.inc", "x86/kiln_linear_avxvnni.c" }),
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = packed_linear.weight_runtime("x86/kiln_linear_avxvnni_w4.c"),

  -- on weights packed at generation time (runtime/x86/packed_linear.lua);
  -- every other op has its AVX2 kernel (runtime/x86/avx2_ops.lua)
  kernels = avx2_ops.kernels(packed_linear.linear_entries("kiln_linear_avxvnni")),

  align_words = 16, -- 32-byte scratch buffers
  sections = nil,

  build = {
    makefile = "Makefile.mk",
    cc = "cc",
    cflags = "-std=c99 -O3 -Wall -Wextra -Wpedantic -Werror -mavx2 -mfma -mavxvnni",
    image = "build/kiln_host",
    run = { command = "{image}{args}" }, -- on this host
  },

  code_size = { base = 12900, per_function = 200, per_call = 90, stack = 4096 },
}
