-- The generator's side of the packed x86 linear kernels (kiln_rt_x86.h),
-- for the rules files of the x86 targets (loaded with runtime_lua): the
-- weights' layout, the rows the kernels take, and each row's zero-point
-- terms that do not depend on x.

local packed = {}

-- blocks of 16 rows and 4 inputs, w - 128 as int8
packed.N16K4 = { name = "n16k4", ctype = "s8", block_rows = 16, group = 4, flip_sign = true,
  doc = "16 rows x 4 inputs, w - 128" }

-- rows whose int32 sums cannot overflow, in whole groups of 4
packed.ROWS = { multiple_of = 4, below = 65536 }

-- n zx zw - zx sum_w; with two byte planes also - 256 * 128 (sum_w - 128 n)
function packed.bias_one_plane(n, zx, zw, sum_w) return n * zx * zw - zx * sum_w end
function packed.bias_two_planes(n, zx, zw, sum_w)
  return packed.bias_one_plane(n, zx, zw, sum_w) - 32768 * (sum_w - 128 * n)
end

-- The rules entries of a pair of kernels <name>_a8 (8-bit activations in one
-- byte plane) and <name>_a16 (16-bit ones in two); work: the planes' bytes
-- per activation value; the kernels requantize in vector lanes, so every
-- shift lies in [1, 63].
function packed.linear_entries(name)
  return {
    { kernel = name .. "_a8", act = { "uint8", "uint4" }, weight = { "u8" }, template = "linear_packed",
      weight_layout = packed.N16K4, n_in = packed.ROWS, rq_shift = { 1, 63 }, work = 1, bias = packed.bias_one_plane },
    { kernel = name .. "_a16", weight = { "u8" }, template = "linear_packed",
      weight_layout = packed.N16K4, n_in = packed.ROWS, rq_shift = { 1, 63 }, work = 2, bias = packed.bias_two_planes },
  }
end

-- The entries of a pair of kernels that widen the packed weights to int16
-- and multiply the activations as stored (kiln_rt_avx2.h): one exact
-- product a code, so both take the one-plane bias, and no scratch.
function packed.widened_entries(name)
  return {
    { kernel = name .. "_a8", act = { "uint8", "uint4" }, weight = { "u8" }, template = "linear_packed",
      weight_layout = packed.N16K4, n_in = packed.ROWS, rq_shift = { 1, 63 }, bias = packed.bias_one_plane },
    { kernel = name .. "_a16", weight = { "u8" }, template = "linear_packed",
      weight_layout = packed.N16K4, n_in = packed.ROWS, rq_shift = { 1, 63 }, bias = packed.bias_one_plane },
  }
end

return packed
