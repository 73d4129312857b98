-- The constants of a generated model, collected while planning and written
-- apart from the code: requantization multipliers, grids, tables and RoPE
-- rows go to constants.c, quantized weights to weights.c. Each constant is
-- declared once in constants.h. Order is insertion order, so the files come
-- out the same for the same inputs.

local f32 = require "util.f32"

local constants = {}
constants.__index = constants

local CTYPES = { u8 = "uint8_t", s8 = "int8_t", s16 = "int16_t" }
constants.CTYPES = CTYPES

-- new(native) -> registry; native formats large integer arrays.
function constants.new(native)
  return setmetatable({ native = native, list = {}, by_name = {}, bytes = { constants = 0, weights = 0 } }, constants)
end

local function add(self, c)
  local old = self.by_name[c.name]
  if old then
    assert(old.def == c.def, "constant " .. c.name .. " defined twice with different values")
    return c.name
  end
  self.by_name[c.name] = c
  self.list[#self.list + 1] = c
  self.bytes[c.section] = self.bytes[c.section] + c.bytes
  return c.name
end

local function comment(text)
  return text and ("/* " .. text .. " */\n") or ""
end

local function int_list(values, per_line)
  local lines, line = {}, {}
  for i, v in ipairs(values) do
    line[#line + 1] = string.format("%d,", v)
    if #line == per_line or i == #values then
      lines[#lines + 1] = "  " .. table.concat(line, " ")
      line = {}
    end
  end
  return table.concat(lines, "\n")
end

-- A number as C text that reads back to the same double (for comments).
local function real(x)
  for digits = 6, 17 do
    local s = string.format("%." .. digits .. "g", x)
    if tonumber(s) == x then return s end
  end
  return string.format("%.17g", x)
end
constants.real = real

function constants:grid(name, g)
  return add(self, {
    name = name, section = "constants", bytes = 12,
    decl = "extern const kiln_grid " .. name .. ";",
    def = string.format("%sconst kiln_grid %s = { %d, %d, %d };",
      comment(string.format("%s: %s, scale %s, zero point %d", g.path, g.dtype, f32.format(g.scale), g.zero_point)),
      name, g.zero_point, g.qmin, g.qmax),
  })
end

function constants:rq(name, rq, note)
  return add(self, {
    name = name, section = "constants", bytes = 8,
    decl = "extern const kiln_rq " .. name .. ";",
    def = string.format("const kiln_rq %s = { %d, %d }; /* %s = %s */", name, rq.mult, rq.shift, note, real(rq.real)),
  })
end

function constants:rq_array(name, rqs, note)
  local items = {}
  for i, rq in ipairs(rqs) do items[i] = string.format("{ %d, %d },", rq.mult, rq.shift) end
  local lines = {}
  for i = 1, #items, 4 do lines[#lines + 1] = "  " .. table.concat(items, " ", i, math.min(i + 3, #items)) end
  return add(self, {
    name = name, section = "constants", bytes = 8 * #rqs,
    decl = string.format("extern const kiln_rq %s[%d];", name, #rqs),
    def = string.format("%sconst kiln_rq %s[%d] = {\n%s\n};", comment(note), name, #rqs, table.concat(lines, "\n")),
  })
end

function constants:add_rq(name, p, note)
  local reals = {}
  for i, r in ipairs(p.reals) do reals[i] = real(r) end
  return add(self, {
    name = name, section = "constants", bytes = 16,
    decl = "extern const kiln_add_rq " .. name .. ";",
    def = string.format("%sconst kiln_add_rq %s = { %d, %d, %d, %d }; /* weights %s */",
      comment(note), name, p.ma, p.mb, p.mc, p.shift, table.concat(reals, ", ")),
  })
end

function constants:norm_rq(name, p, note)
  return add(self, {
    name = name, section = "constants", bytes = 24,
    decl = "extern const kiln_norm_rq " .. name .. ";",
    def = string.format("%sconst kiln_norm_rq %s = { { %d, %d }, %dull, %d }; /* gain %s */",
      comment(note), name, p.gain.mult, p.gain.shift, p.eps_term, p.frac_bits, real(p.gain.real)),
  })
end

-- Integer arrays: ctype "u8" | "s8" | "s16" | "s32" | "u32".
local ARRAY_CTYPES = { u8 = "uint8_t", s8 = "int8_t", s16 = "int16_t", s32 = "int32_t", u32 = "uint32_t" }
local ARRAY_BYTES = { u8 = 1, s8 = 1, s16 = 2, s32 = 4, u32 = 4 }

function constants:array(name, ctype, values, note, section)
  local body = int_list(values, 12)
  if ctype == "u32" then body = body:gsub("(%d+),", "%1u,") end
  return add(self, {
    name = name, section = section or "constants", bytes = ARRAY_BYTES[ctype] * #values,
    decl = string.format("extern const %s %s[%d];", ARRAY_CTYPES[ctype], name, #values),
    def = string.format("%sconst %s %s[%d] = {\n%s\n};", comment(note), ARRAY_CTYPES[ctype], name, #values, body),
  })
end

-- Quantized weights (or tables) from a packed string (native tensor:quantize).
function constants:packed(name, ctype, packed, note, section)
  local n = #packed // ARRAY_BYTES[ctype]
  return add(self, {
    name = name, section = section or "weights", bytes = #packed,
    decl = string.format("extern const %s %s[%d];", ARRAY_CTYPES[ctype], name, n),
    def = string.format("%sconst %s %s[%d] = {\n%s};", comment(note), ARRAY_CTYPES[ctype], name, n,
      self.native.c_array(packed, ctype, 16, "  ")),
  })
end

function constants:exp_lut(name, lut, note)
  local lo = self:array(name .. "_LO", "u32", lut.lo, "exp(-j * step) in Q31, j = 0..255")
  local hi = "NULL"
  if lut.hi then hi = self:array(name .. "_HI", "u32", lut.hi, "exp(-256 * i * step) in Q31, i = 0..255") end
  return add(self, {
    name = name, section = "constants", bytes = 16,
    decl = "extern const kiln_exp_lut " .. name .. ";",
    def = string.format("%sconst kiln_exp_lut %s = { %s, %s, %d };", comment(note), name, lo, hi, lut.max_d),
  })
end

-- (declarations, definitions by section) for the emitter.
function constants:render(section)
  local out = {}
  for _, c in ipairs(self.list) do
    if c.section == section then out[#out + 1] = c.def end
  end
  return table.concat(out, "\n\n")
end

function constants:declarations()
  local out = {}
  for _, c in ipairs(self.list) do out[#out + 1] = c.decl end
  return table.concat(out, "\n")
end

return constants
