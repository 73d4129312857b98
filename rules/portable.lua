-- Target: portable integer C99. The semantics every other integer target
-- reproduces bit for bit: plain loops, int32/int64 accumulation, one
-- rounding rule (half to even), no float, no libm, no malloc.

local W4 = { "portable/kiln_rt_w4.h", "portable/kiln_linear_w4.c" }

return {
  name = "portable",
  summary = "integer-only C99, any compiler; the reference semantics",

  -- dtypes this target runs, per role. Activations of every width are stored
  -- as int16_t; weights keep their own 8- or 16-bit storage.
  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  native_preference = 0, -- --target native: what any host runs

  -- runtime sources copied next to the generated code (from runtime/)
  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c" },
  -- and per storage of linear weights, the files a model with such weights
  -- adds (4-bit codes, two a byte: runtime/portable/kiln_rt_w4.h)
  weight_runtime = { u4 = W4, s4 = W4 },

  -- scratch buffers are aligned to this many int16 words
  align_words = 8,

  -- no linker sections: the host build places const data as it likes
  sections = { weights = nil, arena = nil },

  -- how the generated Makefile builds: a library and the host test program
  build = {
    makefile = "Makefile.mk",
    cc = "cc",
    cflags = "-std=c99 -O3 -Wall -Wextra -Wpedantic -Werror",
    image = "build/kiln_host",
    run = { command = "{image}{args}" }, -- on this host
  },

  -- code-size model for the memory report (x86-64 gcc -O2, fitted on
  -- stories260K and the synthetic model): bytes of the runtime and driver, of
  -- each adapter function and of each kernel call; and the stack the driver
  -- needs. Estimates.
  code_size = { base = 12900, per_function = 200, per_call = 90, stack = 4096 },
}
