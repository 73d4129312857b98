-- The qparams part of a review: every observer whose grid changed (dtype,
-- qscheme, scale, zero point), with the relative change of its scale and
-- how far the ends of its grid moved, in steps (LSBs) of the old grid;
-- grouped by layer (the model level, each decoder layer, the head), the
-- largest change first within each; then a one-line total. The
-- calibration's own settings that differ are listed above.

local qparams = require "calib.qparams"
local json_null = require("util.json").decoded_null

local qparams_diff = {}

-- The group of an observer (its layer) and its family (the path below it).
local function place(path)
  local l, rest = path:match("^model%.layers%.(%d+)%.(.+)$")
  if l then return tonumber(l) + 1, "layer " .. l, rest end
  if path:match("^lm_head%.") or path:match("^model%.norm%.") then return math.huge, "head", path end
  return 0, "model", path:gsub("^model%.", "")
end

local function list_of(v, n)
  if type(v) == "table" then return v end
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

-- The real values at a grid's two ends: (qmin - zp) * s and (qmax - zp) * s.
local function ends(dtype, s, zp)
  local d = qparams.DTYPES[dtype]
  if not d then return nil end
  return (d.qmin - zp) * s, (d.qmax - zp) * s
end

-- One observer's change, or nil when its grid is the same. Per-channel
-- grids: the channel whose scale moved most stands for the observer.
local function compare_observer(path, a, b)
  local n = math.max(type(a.scale) == "table" and #a.scale or 1, type(b.scale) == "table" and #b.scale or 1)
  local sa, sb = list_of(a.scale, n), list_of(b.scale, n)
  local za, zb = list_of(a.zero_point, n), list_of(b.zero_point, n)
  local same = a.dtype == b.dtype and a.qscheme == b.qscheme and #sa == #sb
  local worst, channels = nil, 0
  for i = 1, math.min(#sa, #sb) do
    if sa[i] ~= sb[i] or za[i] ~= zb[i] then
      same, channels = false, channels + 1
      local rel = sa[i] ~= 0 and (sb[i] / sa[i] - 1) or math.huge
      if not worst or math.abs(rel) > math.abs(worst.rel) then worst = { i = i, rel = rel } end
    end
  end
  if same then return nil end
  local i = worst and worst.i or 1
  local c = { path = path, dtype = { a.dtype, b.dtype }, qscheme = { a.qscheme, b.qscheme },
    scale = { sa[i], sb[i] }, zero_point = { za[i], zb[i] }, rel = worst and worst.rel or 0,
    channels = n > 1 and { changed = channels, of = n, worst = i - 1 } or nil }
  local lo_a, hi_a = ends(a.dtype, sa[i], za[i])
  local lo_b, hi_b = ends(b.dtype, sb[i], zb[i])
  if lo_a and lo_b and sa[i] ~= 0 then c.lsb = { (lo_b - lo_a) / sa[i], (hi_b - hi_a) / sa[i] } end
  return c
end

-- compare(old, new) -> { groups = { { name, changed = { ... }, of } },
-- added, removed (paths), changed (count), observers (count on the new
-- side), calibration = { { key, old, new } }, largest (a change) }.
-- old, new: decoded qparams files.
function qparams_diff.compare(old, new)
  local r = { groups = {}, added = {}, removed = {}, changed = 0, observers = 0, calibration = {} }
  local by_group = {}
  local function group(path)
    local order, name = place(path)
    if not by_group[name] then
      by_group[name] = { name = name, order = order, changed = {}, of = 0 }
      r.groups[#r.groups + 1] = by_group[name]
    end
    return by_group[name]
  end
  local paths = {}
  for path in pairs(new.observers) do paths[#paths + 1] = path end
  table.sort(paths)
  for _, path in ipairs(paths) do
    r.observers = r.observers + 1
    local g = group(path)
    g.of = g.of + 1
    local a = old.observers[path]
    if not a then
      r.added[#r.added + 1] = path
    else
      local c = compare_observer(path, a, new.observers[path])
      if c then
        local _, _, family = place(path)
        c.family = family
        g.changed[#g.changed + 1] = c
        r.changed = r.changed + 1
        if not r.largest or math.abs(c.rel) > math.abs(r.largest.rel) then r.largest = c end
      end
    end
  end
  for path in pairs(old.observers) do
    if not new.observers[path] then r.removed[#r.removed + 1] = path end
  end
  table.sort(r.removed)
  table.sort(r.groups, function(x, y) return x.order < y.order end)
  for _, g in ipairs(r.groups) do
    table.sort(g.changed, function(x, y)
      if math.abs(x.rel) ~= math.abs(y.rel) then return math.abs(x.rel) > math.abs(y.rel) end
      return x.path < y.path
    end)
  end
  local ca, cb = old.calibration or {}, new.calibration or {}
  local keys, seen = {}, {}
  for _, t in ipairs({ ca, cb }) do
    for k, v in pairs(t) do
      if not seen[k] and type(v) ~= "table" then seen[k] = true; keys[#keys + 1] = k end
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if ca[k] ~= cb[k] and not tostring(k):match("_sha256$") then
      r.calibration[#r.calibration + 1] = { key = k, old = ca[k], new = cb[k] }
    end
  end
  return r
end

function qparams_diff.same(r)
  return r.changed == 0 and #r.added == 0 and #r.removed == 0 and #r.calibration == 0
end

-- A relative change in percent; one too small for two decimals (a float32
-- rounding apart) keeps two significant digits rather than read as 0.
local function percent(rel)
  if rel == math.huge then return "from 0" end
  if rel ~= 0 and math.abs(rel) < 5e-5 then return string.format("%+.1e %%", 100 * rel) end
  return string.format("%+.2f %%", 100 * rel)
end

local function pair(p, fmt)
  if p[1] == p[2] then return string.format(fmt, p[1]) end
  return string.format(fmt .. " -> " .. fmt, p[1], p[2])
end

-- A calibration setting as written (JSON's numbers come back as floats).
local function value(v)
  if v == nil or v == json_null then return "null" end
  return tostring(math.type(v) == "float" and math.tointeger(v) or v)
end

local function row(c)
  local grid = pair(c.dtype, "%s") .. "/" .. pair(c.qscheme, "%s")
  local s = string.format("    %-34s %-26s scale %.8g -> %.8g (%s)  zp %s", c.family, grid, c.scale[1], c.scale[2],
    percent(c.rel), pair(c.zero_point, "%d"))
  if c.lsb then s = s .. string.format("  ends %+.1f / %+.1f LSB", c.lsb[1], c.lsb[2]) end
  if c.channels then
    s = s .. string.format("  (%d of %d channels; channel %d shown)", c.channels.changed, c.channels.of, c.channels.worst)
  end
  return s
end

-- text(result) -> the part as printed.
function qparams_diff.text(r)
  if qparams_diff.same(r) then return string.format("qparams: no change (%d observers)\n", r.observers) end
  local out = { string.format("qparams: %d of %d observers changed", r.changed, r.observers) }
  for _, c in ipairs(r.calibration) do
    out[#out + 1] = string.format("  calibration.%s: %s -> %s", c.key, value(c.old), value(c.new))
  end
  for _, g in ipairs(r.groups) do
    if #g.changed > 0 then
      out[#out + 1] = string.format("  %s: %d of %d changed", g.name, #g.changed, g.of)
      for _, c in ipairs(g.changed) do out[#out + 1] = row(c) end
    end
  end
  for _, p in ipairs(r.added) do out[#out + 1] = "  added: " .. p end
  for _, p in ipairs(r.removed) do out[#out + 1] = "  removed: " .. p end
  local total = string.format("  total: %d observers changed", r.changed)
  if r.largest then
    total = total .. string.format(", largest scale change %s (%s)", percent(r.largest.rel), r.largest.path)
  end
  if #r.added + #r.removed > 0 then total = total .. string.format(", %d added, %d removed", #r.added, #r.removed) end
  out[#out + 1] = total
  return table.concat(out, "\n") .. "\n"
end

function qparams_diff.json(r, json)
  local groups = {}
  for _, g in ipairs(r.groups) do
    local rows = {}
    for _, c in ipairs(g.changed) do
      local o = json.object():set("observer", c.path):set("dtype", c.dtype):set("qscheme", c.qscheme)
        :set("scale", c.scale):set("relative_scale_change", c.rel ~= math.huge and c.rel or json.null)
        :set("zero_point", c.zero_point):set("ends_moved_lsb", c.lsb or json.null)
      if c.channels then
        o:set("channels_changed", c.channels.changed):set("channels", c.channels.of):set("channel_shown", c.channels.worst)
      end
      rows[#rows + 1] = o
    end
    groups[#groups + 1] = json.object():set("group", g.name):set("observers", g.of):set("changed", rows)
  end
  local calib = {}
  for _, c in ipairs(r.calibration) do
    local function plain(v) return (v == nil or v == json_null) and json.null or v end
    calib[#calib + 1] = json.object():set("key", c.key):set("old", plain(c.old)):set("new", plain(c.new))
  end
  return json.object():set("observers", r.observers):set("changed", r.changed):set("groups", groups)
    :set("added", r.added):set("removed", r.removed):set("calibration", calib)
end

return qparams_diff
