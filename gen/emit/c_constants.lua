-- The constants a plan collected (plan/constants.lua) as C: the definitions
-- of one section (constants.c or weights.c) and their declarations
-- (constants.h).

local constants = require "plan.constants"
local f32 = require "util.f32"

local c_constants = {}

local CTYPES, real = constants.CTYPES, constants.real

local function int_list(values, per_line, suffix)
  local lines, line = {}, {}
  for i, v in ipairs(values) do
    line[#line + 1] = string.format("%d%s,", v, suffix)
    if #line == per_line or i == #values then
      lines[#lines + 1] = "  " .. table.concat(line, " ")
      line = {}
    end
  end
  return table.concat(lines, "\n")
end

local function rq_rows(rqs)
  local items = {}
  for i, rq in ipairs(rqs) do items[i] = string.format("{ %d, %d },", rq.mult, rq.shift) end
  local lines = {}
  for i = 1, #items, 4 do lines[#lines + 1] = "  " .. table.concat(items, " ", i, math.min(i + 3, #items)) end
  return table.concat(lines, "\n")
end

-- Per kind: the C type, the initializer, the comment above and the one after.
local RENDER = {
  grid = function(c)
    local g = c.grid
    return string.format("{ %d, %d, %d }", g.zero_point, g.qmin, g.qmax),
      string.format("%s: %s, scale %s, zero point %d", g.path, g.dtype, f32.format(g.scale), g.zero_point)
  end,
  rq = function(c)
    return string.format("{ %d, %d }", c.rq.mult, c.rq.shift), nil, string.format("%s = %s", c.what, real(c.rq.real))
  end,
  rq_array = function(c) return "{\n" .. rq_rows(c.rqs) .. "\n}", c.note end,
  add_rq = function(c)
    local p, reals = c.add_rq, {}
    for i, r in ipairs(p.reals) do reals[i] = real(r) end
    return string.format("{ %d, %d, %d, %d }", p.ma, p.mb, p.mc, p.shift), c.note, "weights " .. table.concat(reals, ", ")
  end,
  norm_rq = function(c)
    local p = c.norm_rq
    return string.format("{ { %d, %d }, %dull, %d }", p.gain.mult, p.gain.shift, p.eps_term, p.frac_bits), c.note,
      "gain " .. real(p.gain.real)
  end,
  array = function(c)
    return "{\n" .. int_list(c.values, 12, c.ctype == "u32" and "u" or "") .. "\n}", c.note
  end,
  packed = function(c, native) return "{\n" .. native.c_array(c.packed, c.ctype, 16, "  ") .. "}", c.note end,
  blob = function(c)
    return string.format("(const %s *)(const void *)(kiln_weights_blob + %d)", CTYPES[c.ctype], c.offset), c.note
  end,
  exp_lut = function(c) return string.format("{ %s, %s, %d }", c.lo, c.hi or "NULL", c.max_d), c.note end,
}

local function ctype(c) return CTYPES[c.ctype] or c.ctype end
local function dims(c) return c.count and string.format("[%d]", c.count) or "" end

-- The definitions of one section; attribute (a linker-section attribute from
-- the target's rules, or "") follows each declarator.
function c_constants.definitions(consts, section, attribute)
  local out = {}
  for _, c in ipairs(consts.list) do
    if c.section == section then
      local init, note, trailer = RENDER[c.kind](c, consts.native)
      local pointer = c.kind == "blob"
      out[#out + 1] = string.format("%sconst %s %s%s%s%s = %s;%s", note and ("/* " .. note .. " */\n") or "",
        ctype(c), pointer and "*const " or "", c.name, dims(c), pointer and "" or (attribute or ""), init,
        trailer and (" /* " .. trailer .. " */") or "")
    end
  end
  return table.concat(out, "\n\n")
end

function c_constants.declarations(consts)
  local out = {}
  if consts.blob then out[1] = "extern const unsigned char kiln_weights_blob[]; /* weights.bin */" end
  for _, c in ipairs(consts.list) do
    out[#out + 1] = string.format("extern const %s %s%s%s;", ctype(c), c.kind == "blob" and "*const " or "", c.name, dims(c))
  end
  return table.concat(out, "\n")
end

return c_constants
