-- Target: Armv7E-M with the DSP extension and no FPU (Cortex-M4), bare
-- metal. kiln emits the firmware around the model (start-up, linker script,
-- semihosting output) and it runs under qemu-system-arm -M mps2-an386.
-- Linear layers use SMLAD on the codes as stored, their zero points folded
-- into per-row terms by the generator; the residual adds and attention rows
-- have DSP kernels; every kernel's requantization is the 32-bit one of
-- kiln_rt_target_requant.h. Results are bit-identical to the portable runtime.

local W4 = { "portable/kiln_rt_w4.h", "portable/kiln_linear_w4.c", "cortex-m4/kiln_rt_dsp_w4.h",
  "cortex-m4/kiln_linear_dsp_w4.c" }

-- each row's zero-point terms that do not depend on x, for the folded
-- kernels (kiln_linear_dsp.c): n zx zw - zx sum_w
local function folded_bias(n, zx, zw, sum_w) return n * zx * zw - zx * sum_w end

local function folded(kernel, weight)
  return { kernel = kernel, weight = { weight }, template = "linear_packed", n_in = { multiple_of = 4, below = 65536 },
    bias = folded_bias }
end

-- The rows of at most 256 inputs within int16 of their zero point, whose
-- sums fit int32 (kiln_linear_dsp.c's kiln_linear_dsp_[us]8_r4): weights in
-- blocks of 4 rows x 4 inputs, each row's 4 codes in the order 0, 2, 1, 3
-- (so that widening bytes 0, 2 and 1, 3 of the word meets the inputs as
-- stored), and a table of 4 int32 a row: the bias mod
-- 2^32 (the sum itself fits int32, so its parts may wrap), zw, the
-- multiplier, and (2 zy + 1) * 256 + shift - 33 (the shift in [33, 63]; zy
-- the output's zero point).
local function r4k4(ctype)
  return { name = "r4k4", ctype = ctype, block_rows = 4, group = 4, order = { 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11,
    12, 14, 13, 15 }, doc = "blocks of 4 rows x 4 inputs, each row's codes 0, 2, 1, 3" }
end

local function r4_terms(n, zx, zw, sum_w, mult, shift, zy)
  local b = folded_bias(n, zx, zw, sum_w)
  return (b + (1 << 31)) % (1 << 32) - (1 << 31), zw, mult, (2 * zy + 1) * 256 + shift - 33
end

-- The same rows for activation codes of 8 bits or fewer (|x| <= 255;
-- kiln_linear_dsp_[us]8_r4a8): each word two rows x two inputs, [r0 i0, r1
-- i0, r0 i1, r1 i1], so that the inputs are read as stored; rows 0, 2 of a
-- block as unsigned codes, rows 1, 3 as signed (u8: top bit flipped, w -
-- 128, that row's zw - 128; s8: rows 0, 2 flipped, w + 128, zw + 128).
local R4A8_ORDER = { 0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15 }
local function r4a8(ctype)
  local flip_at = {}
  for j = (ctype == "u8" and 1 or 0), 15, 2 do flip_at[#flip_at + 1] = j end
  return { name = "r4a8", ctype = ctype, block_rows = 4, group = 4, order = R4A8_ORDER, flip_at = flip_at,
    doc = "blocks of 4 rows x 4 inputs, words of rows 0,1 (2,3) x 2 inputs, rows 0,2 unsigned and 1,3 signed" }
end

local function r4a8_terms(signed)
  return function(n, zx, zw, sum_w, mult, shift, zy, row)
    local odd = row % 2 == 1
    local b, _, m, s = r4_terms(n, zx, zw, sum_w, mult, shift, zy)
    local c = signed and (odd and 0 or -128) or (odd and 128 or 0) -- what the stored code is off w
    return b, zw - c, m, s
  end
end

local function folded_r4a8(kernel, weight)
  return { kernel = kernel, act = { "uint8", "int8", "uint4", "int4" }, weight = { weight }, template = "linear_packed",
    weight_layout = r4a8(weight), n_in = { multiple_of = 4, below = 257 }, rq_shift = { 33, 63 },
    row_terms = { ctype = "s32", count = 4, make = r4a8_terms(weight == "s8") } }
end

local function folded_r4(kernel, weight)
  return { kernel = kernel, weight = { weight }, template = "linear_packed", weight_layout = r4k4(weight),
    act_within_int16 = true, n_in = { multiple_of = 4, below = 257 }, rq_shift = { 33, 63 },
    row_terms = { ctype = "s32", count = 4, make = r4_terms } }
end

return {
  name = "cortex-m4",
  summary = "Cortex-M4 (Armv7E-M + DSP, no FPU) firmware, run under qemu-system-arm -M mps2-an386",

  dtypes = {
    activation = { "uint8", "int8", "int16", "uint4", "int4" },
    linear_weight = { "uint8", "int8", "int16", "uint4", "int4" },
    norm_weight = { "uint8", "int8", "int16", "uint4", "int4" },
  },

  runtime = { "portable/kiln_rt.h", "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c",
    "cortex-m4/kiln_rt_target_requant.h", "cortex-m4/kiln_rt_dsp.h", "cortex-m4/kiln_linear_dsp.c",
    "cortex-m4/kiln_dsp_exp.h", "cortex-m4/kiln_attention_dsp.c", "cortex-m4/kiln_softmax_dsp.c",
    "cortex-m4/kiln_ops_dsp.c" },
  -- 4-bit linear weights, two codes a byte: their kernels, for the models that have them
  weight_runtime = { u4 = W4, s4 = W4 },

  kernels = {
    linear = {
      folded_r4a8("kiln_linear_dsp_u8_r4a8", "u8"),
      folded_r4a8("kiln_linear_dsp_s8_r4a8", "s8"),
      folded_r4("kiln_linear_dsp_u8_r4", "u8"),
      folded_r4("kiln_linear_dsp_s8_r4", "s8"),
      folded("kiln_linear_dsp_u8_folded", "u8"),
      folded("kiln_linear_dsp_s8_folded", "s8"),
      { kernel = "kiln_linear_dsp_u8", weight = { "u8" }, act_within_int16 = true },
      { kernel = "kiln_linear_dsp_s8", weight = { "s8" }, act_within_int16 = true },
      { kernel = "kiln_linear_dsp_u4", weight = { "u4" }, act_within_int16 = true },
      { kernel = "kiln_linear_dsp_s4", weight = { "s4" }, act_within_int16 = true },
    },
    -- attention rows (kiln_attention_dsp.c), for these head sizes
    qk_row = { kernel = "kiln_qk_row_dsp", head_dim = { multiple_of = 2, below = 257 } },
    pv_row = { kernel = "kiln_pv_row_dsp", head_dim = { multiple_of = 8, below = 257 } },
    -- requantization, the moves built on it, the products, RMSNorm and the
    -- sums (kiln_ops_dsp.c): any operands
    requant = "kiln_requant_dsp",
    take_half = "kiln_take_half_dsp",
    concat_halves = "kiln_concat_halves_dsp",
    heads_first = "kiln_heads_first_dsp",
    mul = "kiln_mul_dsp",
    mul_rows = "kiln_mul_rows_dsp",
    rmsnorm = "kiln_rmsnorm_dsp",
    add = "kiln_add_dsp",
    -- where both hold: the whole row in one call (logits, scores straight into exp values,
    -- probabilities, p . v), each requantization prepared once a row
    attention_row = { kernel = "kiln_attention_row_dsp", head_dim = { multiple_of = 8, below = 257 } },
    -- exp from the table, one reciprocal a row or a value, 32-bit words (kiln_softmax_dsp.c)
    softmax_row = "kiln_softmax_row_dsp",
    sigmoid = "kiln_sigmoid_dsp",
  },

  align_words = 2,

  -- linker sections: weights and constants in flash, arena and KV cache in RAM
  sections = { weights = ".kiln_weights", constants = ".kiln_constants", arena = ".kiln_arena", kv_cache = ".kiln_kv" },

  -- the board: MPS2 AN386's 4 MB code SSRAM (flash here) and 4 MB data SSRAM
  memory = {
    flash = { origin = 0x00000000, size = 4 * 1024 * 1024 },
    ram = { origin = 0x20000000, size = 4 * 1024 * 1024 },
  },

  -- kiln writes the firmware around the model (templates/firmware/)
  firmware = true,
  -- the clock kiln bench converts counts a token into tok/s at (an STM32F4's)
  reference_clock_hz = 168000000,
  build = {
    makefile = "Makefile.firmware.mk",
    image = "firmware.elf",
    cc = "arm-none-eabi-gcc",
    -- KILN_RT_TARGET_REQUANT: the runtime's requantization is kiln_rt_target_requant.h's
    cflags = "-std=c99 -Os -Wall -Wextra -Wpedantic -Werror -mcpu=cortex-m4 -mthumb -mfloat-abi=soft "
      .. "-ffunction-sections -fdata-sections -ffreestanding -DKILN_RT_TARGET_REQUANT",
    ldflags = "-nostdlib -Wl,--gc-sections -Wl,-z,noexecstack",
    -- the board under qemu-system-arm: arguments through semihosting (each
    -- as ",arg=WORD", the program's name first), the output on its stderr;
    -- -icount shift=0: one instruction a virtual nanosecond, so that the
    -- firmware's SysTick counts instructions (templates/firmware/clock.c)
    run = { command = "qemu-system-arm -M mps2-an386 -icount shift=0 -nographic -monitor none -serial none "
      .. "-semihosting-config enable=on,target=native{args} -kernel {image}", args = "semihosting", output = "stderr" },
  },

  -- code-size model for the memory report (arm-none-eabi-gcc -Os, fitted on
  -- stories260K and the synthetic model, the firmware harness included; the
  -- DSP kernels and their inlined requantization add 21.3 kB to the base), and
  -- the stack reserved for the firmware (stories260K uses about 1 kB)
  code_size = { base = 28410, per_function = 100, per_call = 52, stack = 2048 },
}
