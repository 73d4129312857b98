-- Target: AArch64 with NEON and the dot-product extension (Armv8.2-A
-- dotprod), Linux user space; the test program runs under qemu-aarch64.
-- Linear layers use UDOT on uint8 activations and SMLAL on wider ones (on
-- 4-bit weights UDOT and SDOT on every activation's two bytes);
-- everything else is the portable runtime, so results are bit-identical to it.

local W4 = { "portable/kiln_rt_w4.h", "portable/kiln_linear_w4.c", "armv8/kiln_rt_neon_w4.h",
  "armv8/kiln_linear_neon_w4.c" }

return {
  name = "armv8-dot",
  summary = "AArch64 NEON with SDOT/UDOT (Armv8.2-A dotprod), Linux, run under qemu-aarch64",

  -- the dot-product kernels take 8- and 4-bit weights
  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  -- an AArch64 host with the dot product runs it natively (/proc/cpuinfo's Features)
  cpu_flags = { "asimddp" },
  machine = "aarch64",
  native_preference = 20,

  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c", "armv8/kiln_rt_neon.h",
    "armv8/kiln_linear_neon.c" },
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = { u4 = W4, s4 = W4 },

  -- linear kernels in order of preference; the portable one is the fallback
  kernels = {
    linear = {
      { kernel = "kiln_linear_udot_u8", act = { "uint8", "uint4" }, weight = { "u8" }, row_sums = true,
        template = "linear_sums" },
      { kernel = "kiln_linear_neon_u8", weight = { "u8" }, act_within_int16 = true },
      { kernel = "kiln_linear_neon_s8", weight = { "s8" }, act_within_int16 = true },
      -- 4-bit weights, any activations: UDOT and SDOT on the activations' two bytes
      { kernel = "kiln_linear_dot_u4", weight = { "u4" }, row_sums = true, template = "linear_sums" },
      { kernel = "kiln_linear_dot_s4", weight = { "s4" }, row_sums = true, template = "linear_sums" },
    },
  },

  align_words = 8,
  sections = nil,

  build = {
    makefile = "Makefile.mk",
    cc = "aarch64-linux-gnu-gcc",
    cflags = "-std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -march=armv8.2-a+dotprod -static",
    image = "build/kiln_host",
    run = { command = "qemu-aarch64 {image}{args}" }, -- Linux user-mode emulation
  },

  -- code-size model for the memory report (aarch64-linux-gnu-gcc -O2, fitted
  -- on stories260K and the synthetic model); estimates
  code_size = { base = 13500, per_function = 200, per_call = 77, stack = 4096 },
}
