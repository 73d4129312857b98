-- The generator's side of the packed x86 linear kernels (kiln_rt_x86.h,
-- kiln_rt_x86_w4.h), for the rules files of the x86 targets (loaded with
-- runtime_lua): the weights' layouts, the rows the kernels take, each row's
-- zero-point terms that do not depend on x, and the runtime files of the
-- 4-bit kernels.

local packed = {}

-- blocks of 16 rows and 4 inputs, w - 128 as int8
packed.N16K4 = { name = "n16k4", ctype = "s8", block_rows = 16, group = 4, flip_sign = true,
  doc = "16 rows x 4 inputs, w - 128" }

-- the same blocks with 4-bit codes two a byte: a k step's 64 codes in 32
-- bytes, rows 0-7 of the block in the low nibbles, rows 8-15 in the high
-- ones; int4 codes offset binary (flip_sign: code + 8)
packed.N16K4_U4 = { name = "n16k4_nibbles", ctype = "u8", block_rows = 16, group = 4, nibbles = "halves",
  doc = "16 rows x 4 inputs, two codes a byte: rows 0-7 in the low nibbles, rows 8-15 in the high" }
packed.N16K4_S4 = { name = "n16k4_nibbles", ctype = "u8", block_rows = 16, group = 4, nibbles = "halves",
  flip_sign = true, doc = "16 rows x 4 inputs, two codes a byte, code + 8: rows 0-7 in the low nibbles, rows 8-15 "
    .. "in the high" }

-- rows whose int32 sums cannot overflow, in whole groups of 4
packed.ROWS = { multiple_of = 4, below = 65536 }

-- The weight formats the packed kernels take: the storage, its layout, the
-- kernels' name infix and the offset c they take off each code (the lanes
-- multiply w - c: 8-bit codes flipped to w - 128, uint4 nibbles as they
-- are, int4 nibbles holding w + 8).
local FORMATS = {
  { weight = "u8", layout = packed.N16K4, infix = "", offset = 128 },
  { weight = "u4", layout = packed.N16K4_U4, infix = "_u4", offset = 0 },
  { weight = "s4", layout = packed.N16K4_S4, infix = "_s4", offset = -8 },
}

-- n zx zw - zx sum_w; with two byte planes also - 256 * 128 * sum (w - c)
-- = - 32768 (sum_w - c n), for the format's offset c
function packed.bias_one_plane(n, zx, zw, sum_w) return n * zx * zw - zx * sum_w end
function packed.bias_two_planes(offset)
  return function(n, zx, zw, sum_w) return packed.bias_one_plane(n, zx, zw, sum_w) - 32768 * (sum_w - offset * n) end
end

-- The rules entries of the kernels <name>[_u4|_s4]_a8 (8-bit activations)
-- and _a16 (16-bit ones), for every weight format; planes: whether the a16
-- kernels split the activations into two byte planes (their bias, and
-- work: the planes' bytes per activation value) or multiply them as stored
-- (one exact product a code: the one-plane bias, no scratch). The kernels
-- requantize in vector lanes, so every shift lies in [1, 63].
local function entry(kernel, f, act, work, bias)
  return { kernel = kernel, act = act, weight = { f.weight }, template = "linear_packed", weight_layout = f.layout,
    n_in = packed.ROWS, rq_shift = { 1, 63 }, work = work, bias = bias }
end

local function entries(name, planes)
  local list = {}
  for i = 1, #FORMATS do -- a rules file's helper runs without the standard library: no ipairs
    local f = FORMATS[i]
    list[#list + 1] = entry(name .. f.infix .. "_a8", f, { "uint8", "uint4" }, planes and 1 or nil,
      packed.bias_one_plane)
    list[#list + 1] = entry(name .. f.infix .. "_a16", f, nil, planes and 2 or nil,
      planes and packed.bias_two_planes(f.offset) or packed.bias_one_plane)
  end
  return list
end

-- vpdpbusd kernels (kiln_linear_vnni_*, kiln_linear_avxvnni_*): activations as byte planes
function packed.linear_entries(name) return entries(name, true) end

-- kernels that widen the packed weights to int16 and multiply the
-- activations as stored (kiln_rt_avx2.h)
function packed.widened_entries(name) return entries(name, false) end

-- The runtime files a model with 4-bit linear weights adds (rules field
-- weight_runtime): the portable 4-bit kernels (rows whose length is no
-- multiple of 4 run them) and the target's own.
function packed.weight_runtime(kernel_file)
  local files = { "portable/kiln_rt_w4.h", "portable/kiln_linear_w4.c", "x86/kiln_rt_x86_w4.h", kernel_file }
  return { u4 = files, s4 = files }
end

return packed
