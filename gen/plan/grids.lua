-- Quantization grids as the planner sees them: an observer's dtype, scale,
-- zero point and clamp range, read from the qparams file; the reciprocal
-- every multiplier into a grid uses; the checks on the mask grid.

local fail = require "util.fail"
local qparams = require "calib.qparams"
local f32 = require "util.f32"

local grids = {}

grids.MASK_FILL = -120.0 -- PTQConfig.attention_mask_fill_value

-- The grid of an observer, from the qparams file.
function grids.of(qp, path)
  local o = qp.observers[path]
  local dt = qparams.DTYPES[o.dtype]
  return {
    path = path, dtype = o.dtype, scale = o.scale, zero_point = o.zero_point,
    qmin = dt.qmin, qmax = dt.qmax, per_channel = o.axis ~= nil,
  }
end

function grids.same(a, b)
  return not a.per_channel and not b.per_channel and a.dtype == b.dtype
    and a.scale == b.scale and a.zero_point == b.zero_point
end

-- TICO quantizes by multiplying with the float32 reciprocal of the scale
-- (tico-semantics.md §2.4), not by dividing; every multiplier into a grid uses
-- the same reciprocal, so the integer kernels round as TICO's fake quantization does.
function grids.reciprocal(g)
  return f32.div(1.0, g.scale)
end

-- One line for the comment above a step: observer, dtype, scale, zero point.
function grids.note(g)
  return string.format("%s: %s, scale %s, zero point %d", g.path, g.dtype, f32.format(g.scale), g.zero_point)
end

-- Whether every code minus the zero point fits int16 (what 16-bit kernels need).
function grids.within_int16(g)
  return g.qmin - g.zero_point >= -32768 and g.qmax - g.zero_point <= 32767
end

-- Storage of a weight grid's codes.
function grids.weight_ctype(dtype)
  if dtype == "int16" then return "s16" end
  return qparams.DTYPES[dtype].signed and "s8" or "u8"
end

-- How a linear weight of a dtype is stored: its name in rules and kernel
-- names (kiln_linear_<storage>) and its bits a code. 4-bit codes are stored
-- two a byte (plan/weights.lua) to halve the weights' flash.
function grids.weight_storage(dtype)
  if qparams.DTYPES[dtype].bits == 4 then return qparams.DTYPES[dtype].signed and "s4" or "u4", 4 end
  local ctype = grids.weight_ctype(dtype)
  return ctype, ctype == "s16" and 16 or 8
end

-- The mask is implicit in the generated C; each grid it passes (the model's
-- model.causal_mask, each layer's attn_mask and self_attn.attn_mask) must
-- still carry the fill value far enough below zero for masked scores to
-- vanish, as in TICO, and hold 0 exactly.
function grids.check_mask(qp, path)
  local gr = grids.of(qp, path)
  local q = qparams.quantize(grids.MASK_FILL, gr.scale, gr.zero_point, gr.qmin, gr.qmax)
  local fill = (q - gr.zero_point) * gr.scale
  if fill > -60 then
    fail.raise(qp.path, path, string.format(
      "the mask fill %g quantizes to %g on this grid; kiln's implicit mask needs it below -60", grids.MASK_FILL, fill))
  end
  if qparams.quantize(0.0, gr.scale, gr.zero_point, gr.qmin, gr.qmax) ~= gr.zero_point then
    fail.raise(qp.path, path, "0 is not exactly representable on the mask grid")
  end
end

return grids
