-- The constants of a generated model, collected while planning: requantization
-- multipliers, grids, tables and RoPE rows (section "constants"), quantized
-- weights (section "weights"). Each is data — its kind, element type, values
-- and what it is for; emit/c_constants.lua writes them as C. Order is
-- insertion order, so the files come out the same for the same inputs.

local constants = {}
constants.__index = constants

local CTYPES = { u8 = "uint8_t", s8 = "int8_t", s16 = "int16_t", s32 = "int32_t", u32 = "uint32_t", s64 = "int64_t" }
local BYTES = { u8 = 1, s8 = 1, s16 = 2, s32 = 4, u32 = 4, s64 = 8 }
constants.CTYPES = CTYPES
constants.BYTES = BYTES

-- new(native, blob, measure_only) -> registry. With blob, weights go into one
-- binary blob (weights.bin) instead of C arrays. measure_only: the plan is
-- for its sizes and checks alone (generate.memory, calib's check before it
-- writes): the blob keeps no bytes and cached() keeps only its latest
-- entries, so a 1 GB model's weight codes are never all held at once.
function constants.new(native, blob, measure_only)
  return setmetatable({ native = native, list = {}, by_name = {}, bytes = { constants = 0, weights = 0 },
    blob = blob and { parts = {}, size = 0 } or nil, measure_only = measure_only }, constants)
end

-- Entries cached() keeps when measuring: two layers' weights (their
-- codes and packed forms), whose adapters are planned one after another.
local MEASURE_MEMO = 16

local BLOB_ALIGN = 64

-- c = { name, kind, ctype (a struct name or an element type of CTYPES),
--       count (elements of an array, or nil), values (by kind), key (what
--       must agree when the name comes again), note (comment or nil),
--       section ("constants" | "weights"), bytes }
local function add(self, c)
  c.section = c.section or "constants"
  local old = self.by_name[c.name]
  if old then
    assert(old.key == c.key and old.count == c.count, "constant " .. c.name .. " defined twice with different values")
    return c.name
  end
  self.by_name[c.name] = c
  self.list[#self.list + 1] = c
  self.bytes[c.section] = self.bytes[c.section] + c.bytes
  return c.name
end

local function key_of(...) return table.concat({ ... }, ",") end

-- A number as text that reads back to the same double (for comments).
function constants.real(x)
  for digits = 6, 17 do
    local s = string.format("%." .. digits .. "g", x)
    if tonumber(s) == x then return s end
  end
  return string.format("%.17g", x)
end

function constants:grid(name, g)
  return add(self, { name = name, kind = "grid", ctype = "kiln_grid", bytes = 12, grid = g,
    key = key_of(g.zero_point, g.qmin, g.qmax) })
end

function constants:rq(name, rq, note)
  return add(self, { name = name, kind = "rq", ctype = "kiln_rq", bytes = 8, rq = rq, what = note,
    key = key_of(rq.mult, rq.shift) })
end

function constants:rq_array(name, rqs, note)
  local parts = {}
  for i, rq in ipairs(rqs) do parts[i] = rq.mult .. "/" .. rq.shift end
  return add(self, { name = name, kind = "rq_array", ctype = "kiln_rq", count = #rqs, bytes = 8 * #rqs, rqs = rqs,
    note = note, key = table.concat(parts, ",") })
end

function constants:add_rq(name, p, note)
  return add(self, { name = name, kind = "add_rq", ctype = "kiln_add_rq", bytes = 16, add_rq = p, note = note,
    key = key_of(p.ma, p.mb, p.mc, p.shift) })
end

function constants:norm_rq(name, p, note)
  return add(self, { name = name, kind = "norm_rq", ctype = "kiln_norm_rq", bytes = 24, norm_rq = p, note = note,
    key = key_of(p.gain.mult, p.gain.shift, p.eps_term, p.frac_bits) })
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
    if self.measure_only then -- forget the oldest entries (recomputed, the same, if asked again)
      self.memo_order = self.memo_order or {}
      table.insert(self.memo_order, key)
      if #self.memo_order > MEASURE_MEMO then self.memo[table.remove(self.memo_order, 1)] = nil end
    end
  end
  return v
end

-- forget_cached(): drops what cached() holds (measuring: what later planning
-- will not ask for again).
function constants:forget_cached()
  self.memo, self.memo_order = nil, nil
end

-- Integer arrays: ctype "u8" | "s8" | "s16" | "s32" | "u32" | "s64".
function constants:array(name, ctype, values, note, section)
  return add(self, { name = name, kind = "array", ctype = ctype, count = #values, bytes = BYTES[ctype] * #values,
    values = values, note = note, section = section, key = table.concat(values, ",") })
end

-- Quantized weights (or tables) from a packed string (native tensor:quantize):
-- an array, or with a blob a pointer to its bytes in weights.bin. meta
-- (weights): what weights.bin's tensor index says of them (emit/weights_index.lua:
-- tensor, dtype, shape, layout, codes).
function constants:packed(name, ctype, packed, note, section, meta)
  local n = #packed // BYTES[ctype]
  local old = self.by_name[name]
  if old then -- the same weights, named again by another adapter
    assert(old.bytes == #packed, "constant " .. name .. " defined twice with different sizes")
    return name
  end
  if self.blob and (section or "weights") == "weights" then
    local b = self.blob
    local offset = b.size
    local pad = (BLOB_ALIGN - #packed % BLOB_ALIGN) % BLOB_ALIGN
    if not self.measure_only then
      b.parts[#b.parts + 1] = packed
      b.parts[#b.parts + 1] = string.rep("\0", pad)
    end
    b.size = b.size + #packed + pad
    return add(self, { name = name, kind = "blob", ctype = ctype, bytes = #packed, section = "weights", offset = offset,
      meta = meta, note = (note and (note .. ", ") or "") .. string.format("%d values at byte %d of weights.bin", n, offset) })
  end
  return add(self, { name = name, kind = "packed", ctype = ctype, count = n, bytes = #packed, packed = packed,
    note = note, section = section or "weights" })
end

function constants:exp_lut(name, lut, note)
  local lo = self:array(name .. "_LO", "u32", lut.lo, "exp(-j * step) in Q31, j = 0..255")
  local hi = false
  if lut.hi then hi = self:array(name .. "_HI", "u32", lut.hi, "exp(-256 * i * step) in Q31, i = 0..255") end
  return add(self, { name = name, kind = "exp_lut", ctype = "kiln_exp_lut", bytes = 16, lo = lo, hi = hi,
    max_d = lut.max_d, note = note, key = key_of(lo, tostring(hi), lut.max_d) })
end

-- The blob's bytes (weights.bin) as a list of strings to write in order
-- (never joined: a 1 GB string would be one more copy), and its constants
-- in the order of their bytes; or nil.
function constants:blob_parts()
  if not self.blob then return nil end
  local list = {}
  for _, c in ipairs(self.list) do
    if c.kind == "blob" then list[#list + 1] = c end
  end
  return self.blob.parts, list
end

return constants
