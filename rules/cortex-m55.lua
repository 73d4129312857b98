-- Target: Armv8.1-M with Helium, the M-profile vector extension (Cortex-M55),
-- integer MVE only, bare metal. kiln emits the firmware around the model
-- (start-up, linker script, semihosting output) and it runs under
-- qemu-system-arm -M mps3-an547. Linear layers use VMLADAVA on int16 lanes
-- (weights widened as they load, zero points folded into per-row sums; byte
-- activations sixteen lanes at a time), the attention rows VMLALDAVA and
-- VMLA; softmax, sigmoid, RMSNorm, the adds, products and requantizations
-- have Helium kernels too (runtime/cortex-m55/). Each computes the portable
-- runtime's integers, so results are bit-identical to it.

local W4 = { "portable/kiln_rt_w4.h", "portable/kiln_linear_w4.c", "cortex-m55/kiln_rt_mve_w4.h",
  "cortex-m55/kiln_linear_mve_w4.c" }

return {
  name = "cortex-m55",
  summary = "Cortex-M55 (Armv8.1-M + Helium/MVE, integer) firmware, run under qemu-system-arm -M mps3-an547",

  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c",
    "cortex-m55/kiln_mve_scale.h", "cortex-m55/kiln_rt_mve.h", "cortex-m55/kiln_linear_mve.c",
    "cortex-m55/kiln_attention_mve.c", "cortex-m55/kiln_ops_mve.c", "cortex-m55/kiln_mve_start.c" },
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = { u4 = W4, s4 = W4 },

  kernels = {
    linear = {
      -- activation codes in [0, 255]: sixteen byte products a VMLADAVA.U8
      { kernel = "kiln_linear_mve_a8_u8", act = { "uint8", "uint4" }, weight = { "u8" }, row_sums = true,
        template = "linear_sums" },
      { kernel = "kiln_linear_mve_u8", weight = { "u8" }, act_within_int16 = true, row_sums = true,
        template = "linear_sums" },
      { kernel = "kiln_linear_mve_s8", weight = { "s8" }, act_within_int16 = true, row_sums = true,
        template = "linear_sums" },
      -- 16-bit weights: VMLALDAVA into 64-bit sums
      { kernel = "kiln_linear_mve_s16", weight = { "s16" }, act_within_int16 = true, row_sums = true,
        template = "linear_sums" },
      { kernel = "kiln_linear_mve_u4", weight = { "u4" }, act_within_int16 = true },
      { kernel = "kiln_linear_mve_s4", weight = { "s4" }, act_within_int16 = true },
    },
    -- attention rows, any head_dim (eight values a step, the last step predicated)
    qk_row = { kernel = "kiln_qk_row_mve" },
    pv_row = { kernel = "kiln_pv_row_mve" },
    softmax_row = "kiln_softmax_row_mve",
    -- requantization and the elementwise products, four int32 lanes a step
    requant = "kiln_requant_mve",
    take_half = "kiln_take_half_mve",
    concat_halves = "kiln_concat_halves_mve",
    heads_first = "kiln_heads_first_mve",
    mul = "kiln_mul_mve",
    mul_rows = "kiln_mul_rows_mve",
    rmsnorm = "kiln_rmsnorm_mve",
    add = "kiln_add_mve",
    sigmoid = "kiln_sigmoid_mve",
  },

  align_words = 8, -- 16-byte scratch buffers: one vector

  -- linker sections: weights and constants in "flash", arena and KV cache in RAM
  sections = { weights = ".kiln_weights", constants = ".kiln_constants", arena = ".kiln_arena", kv_cache = ".kiln_kv" },

  -- the board (QEMU 7.2's mps3-an547, the SSE-300's map): code, constants and
  -- weights in the 512 KB ITCM at 0 (where the vector table must be: the
  -- core boots from 0x00000000); data, arena, KV cache and stack in the
  -- SSE-300's 4 MB SRAM at 0x21000000 (the 512 KB DTCM at 0x20000000 holds
  -- stories260K's 470 KB but not a longer KV cache or the kernel tests).
  memory = {
    flash = { origin = 0x00000000, size = 512 * 1024 },
    ram = { origin = 0x21000000, size = 4 * 1024 * 1024 },
  },

  -- kiln writes the firmware around the model (templates/firmware/)
  firmware = true,
  -- the clock kiln bench converts counts a token into tok/s at (the M55's 400 MHz)
  reference_clock_hz = 400000000,
  build = {
    makefile = "Makefile.firmware.mk",
    image = "firmware.elf",
    cc = "arm-none-eabi-gcc",
    -- +nofp: integer MVE only; softfp lets the compiler use the vector
    -- registers while calls pass arguments in core registers
    cflags = "-std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -mcpu=cortex-m55+nofp -mfloat-abi=softfp -mthumb "
      .. "-ffunction-sections -fdata-sections -ffreestanding",
    -- main is entered through kiln_mve_start.c, which switches the vector unit on
    ldflags = "-nostdlib -Wl,--gc-sections -Wl,-z,noexecstack -Wl,--wrap=main",
    -- the board under qemu-system-arm: arguments through semihosting (each
    -- as ",arg=WORD", the program's name first), the output on its stderr;
    -- -icount shift=0: one instruction a virtual nanosecond, so that the
    -- firmware's SysTick counts instructions (templates/firmware/clock.c)
    run = { command = "qemu-system-arm -M mps3-an547 -icount shift=0 -nographic -monitor none -serial none "
      .. "-semihosting-config enable=on,target=native{args} -kernel {image}", args = "semihosting", output = "stderr" },
  },

  -- code-size model for the memory report (arm-none-eabi-gcc -O2, fitted on
  -- stories260K and the synthetic model, the firmware harness included), and
  -- the stack reserved for the firmware (softmax keeps a row's exp values, 1 KB, on it)
  code_size = { base = 32200, per_function = 103, per_call = 54, stack = 4096 },
}
