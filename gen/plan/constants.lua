-- The constants of a generated model, collected while planning and written
-- apart from the code: requantization multipliers, grids, tables and RoPE
-- rows go to constants.c, quantized weights to weights.c. Each constant is
-- declared once in constants.h. Order is insertion order, so the files come
-- out the same for the same inputs.

local f32 = require "util.f32"

local constants = {}
constants.__index = constants

local CTYPES = { u8 = "uint8_t", s8 = "int8_t", s16 = "int16_t", s32 = "int32_t", u32 = "uint32_t", s64 = "int64_t" }
local BYTES = { u8 = 1, s8 = 1, s16 = 2, s32 = 4, u32 = 4, s64 = 8 }
constants.CTYPES = CTYPES

-- new(native, blob) -> registry; native formats large integer arrays. With
-- blob, weights go into one binary blob (weights.bin) instead of C arrays.
function constants.new(native, blob)
  return setmetatable({ native = native, list = {}, by_name = {}, bytes = { constants = 0, weights = 0 },
    blob = blob and { parts = {}, size = 0 } or nil }, constants)
end

local BLOB_ALIGN = 64

-- c = { name, ctype (C type), dims ("" or "[n]"), init (initializer text),
--       note (comment or nil), trailer (comment after the definition or nil),
--       section ("constants" | "weights"), bytes }
local function add(self, c)
  c.section = c.section or "constants"
  local old = self.by_name[c.name]
  if old then
    assert(old.init == c.init and old.dims == c.dims, "constant " .. c.name .. " defined twice with different values")
    return c.name
  end
  self.by_name[c.name] = c
  self.list[#self.list + 1] = c
  self.bytes[c.section] = self.bytes[c.section] + c.bytes
  return c.name
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
    name = name, ctype = "kiln_grid", dims = "", bytes = 12,
    init = string.format("{ %d, %d, %d }", g.zero_point, g.qmin, g.qmax),
    note = string.format("%s: %s, scale %s, zero point %d", g.path, g.dtype, f32.format(g.scale), g.zero_point),
  })
end

function constants:rq(name, rq, note)
  return add(self, {
    name = name, ctype = "kiln_rq", dims = "", bytes = 8,
    init = string.format("{ %d, %d }", rq.mult, rq.shift),
    trailer = string.format("%s = %s", note, real(rq.real)),
  })
end

function constants:rq_array(name, rqs, note)
  local items = {}
  for i, rq in ipairs(rqs) do items[i] = string.format("{ %d, %d },", rq.mult, rq.shift) end
  local lines = {}
  for i = 1, #items, 4 do lines[#lines + 1] = "  " .. table.concat(items, " ", i, math.min(i + 3, #items)) end
  return add(self, {
    name = name, ctype = "kiln_rq", dims = string.format("[%d]", #rqs), bytes = 8 * #rqs,
    init = "{\n" .. table.concat(lines, "\n") .. "\n}", note = note,
  })
end

function constants:add_rq(name, p, note)
  local reals = {}
  for i, r in ipairs(p.reals) do reals[i] = real(r) end
  return add(self, {
    name = name, ctype = "kiln_add_rq", dims = "", bytes = 16,
    init = string.format("{ %d, %d, %d, %d }", p.ma, p.mb, p.mc, p.shift),
    note = note, trailer = "weights " .. table.concat(reals, ", "),
  })
end

function constants:norm_rq(name, p, note)
  return add(self, {
    name = name, ctype = "kiln_norm_rq", dims = "", bytes = 24,
    init = string.format("{ { %d, %d }, %dull, %d }", p.gain.mult, p.gain.shift, p.eps_term, p.frac_bits),
    note = note, trailer = "gain " .. real(p.gain.real),
  })
end

-- cached(key, make) -> make()'s result, computed once per registry: the
-- adapters of a layer share their weights, which are quantized and packed
-- only for the first.
function constants:cached(key, make)
  self.memo = self.memo or {}
  local v = self.memo[key]
  if v == nil then
    v = make()
    self.memo[key] = v
  end
  return v
end

-- Integer arrays: ctype "u8" | "s8" | "s16" | "s32" | "u32" | "s64".
function constants:array(name, ctype, values, note, section)
  local body = int_list(values, 12)
  if ctype == "u32" then body = body:gsub("(%d+),", "%1u,") end
  return add(self, {
    name = name, ctype = CTYPES[ctype], dims = string.format("[%d]", #values), bytes = BYTES[ctype] * #values,
    init = "{\n" .. body .. "\n}", note = note, section = section,
  })
end

-- Quantized weights (or tables) from a packed string (native tensor:quantize).
function constants:packed(name, ctype, packed, note, section)
  local n = #packed // BYTES[ctype]
  local old = self.by_name[name]
  if old then -- the same weights, named again by another adapter
    assert(old.bytes == #packed, "constant " .. name .. " defined twice with different sizes")
    return name
  end
  if self.blob and (section or "weights") == "weights" then
    local b = self.blob
    local offset = b.size
    b.parts[#b.parts + 1] = packed
    local pad = (BLOB_ALIGN - #packed % BLOB_ALIGN) % BLOB_ALIGN
    b.parts[#b.parts + 1] = string.rep("\0", pad)
    b.size = b.size + #packed + pad
    return add(self, {
      name = name, ctype = CTYPES[ctype], dims = "", pointer = true, bytes = #packed, section = "weights",
      init = string.format("(const %s *)(const void *)(kiln_weights_blob + %d)", CTYPES[ctype], offset),
      note = (note and (note .. ", ") or "") .. string.format("%d values at byte %d of weights.bin", n, offset),
    })
  end
  return add(self, {
    name = name, ctype = CTYPES[ctype], dims = string.format("[%d]", n), bytes = #packed,
    init = "{\n" .. self.native.c_array(packed, ctype, 16, "  ") .. "}", note = note, section = section or "weights",
  })
end

function constants:exp_lut(name, lut, note)
  local lo = self:array(name .. "_LO", "u32", lut.lo, "exp(-j * step) in Q31, j = 0..255")
  local hi = "NULL"
  if lut.hi then hi = self:array(name .. "_HI", "u32", lut.hi, "exp(-256 * i * step) in Q31, i = 0..255") end
  return add(self, {
    name = name, ctype = "kiln_exp_lut", dims = "", bytes = 16,
    init = string.format("{ %s, %s, %d }", lo, hi, lut.max_d), note = note,
  })
end

-- The definitions of one section; attribute (a linker-section attribute from
-- the target's rules, or "") follows each declarator.
function constants:render(section, attribute)
  local out = {}
  for _, c in ipairs(self.list) do
    if c.section == section then
      out[#out + 1] = string.format("%sconst %s %s%s%s%s = %s;%s", c.note and ("/* " .. c.note .. " */\n") or "",
        c.ctype, c.pointer and "*const " or "", c.name, c.dims, c.pointer and "" or (attribute or ""), c.init,
        c.trailer and (" /* " .. c.trailer .. " */") or "")
    end
  end
  return table.concat(out, "\n\n")
end

function constants:declarations()
  local out = {}
  if self.blob then out[1] = "extern const unsigned char kiln_weights_blob[]; /* weights.bin */" end
  for _, c in ipairs(self.list) do
    out[#out + 1] = string.format("extern const %s %s%s%s;", c.ctype, c.pointer and "*const " or "", c.name, c.dims)
  end
  return table.concat(out, "\n")
end

-- The blob's bytes (weights.bin) as a list of strings to write in order
-- (never joined: a 1 GB string would be one more copy), or nil.
function constants:blob_parts()
  return self.blob and self.blob.parts or nil
end

return constants
