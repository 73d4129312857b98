-- Target: x86-64 with AVX-VNNI on 256-bit registers (Alder Lake and later
-- client cores, Zen 5 and others without AVX-512), Linux. Linear layers run
-- on the same packed weights as rules/x86-vnni.lua, with vpdpbusd on ymm
-- registers; everything else is the portable runtime, so results are
-- bit-identical to it.

local packed_linear = runtime_lua("x86/packed_linear.lua")

return {
  name = "x86-avx-vnni",
  summary = "x86-64 AVX-VNNI (256-bit vpdpbusd), weights packed at generation time",

  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  -- the host must have these (/proc/cpuinfo flags) to run what kiln builds
  cpu_flags = { "avx2", "avx_vnni" },
  fallback = "x86-avx2", -- AVX-VNNI hosts have AVX2
  machine = "x86_64",
  native_preference = 30, -- --target native: the fastest this host runs

  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c", "x86/kiln_rt_x86.h",
    "x86/kiln_linear_avxvnni.c" },

  kernels = {
    -- on weights packed at generation time (runtime/x86/packed_linear.lua)
    linear = packed_linear.linear_entries("kiln_linear_avxvnni"),
  },

  align_words = 16, -- 32-byte scratch buffers
  sections = nil,

  build = {
    makefile = "Makefile.mk",
    cc = "cc",
    cflags = "-std=c99 -O3 -Wall -Wextra -Wpedantic -Werror -mavx2 -mavxvnni",
    image = "build/kiln_host",
    run = { command = "{image}{args}" }, -- on this host
  },

  code_size = { base = 12900, per_function = 200, per_call = 90, stack = 4096 },
}
