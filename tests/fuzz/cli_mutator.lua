-- Structure-aware fuzzing of the files the CLI reads that are not checkpoints
-- or tokenizers: qparams.json (`kiln gen --qparams`) and overrides (`kiln
-- calib --overrides`). From a valid qparams.json of the synthetic model (made
-- here with kiln synth and kiln calib), each case mutates one to three fields
-- (scales of 0, 1e-45, 1e30, NaN, wrong types, zero points of +-1e20, missing
-- keys, huge arrays, unknown observers, ...) or writes an overrides table
-- with odd values, runs kiln on it and checks the CLI's contract: exit status
-- 0, 1 or 2; on a refusal exactly one line on stderr starting "kiln: "; never
-- "kiln: internal error" (exit 70), a traceback, a signal or a hang. One
-- qparams case in --run (default 10; 0: none) goes through `kiln run` instead
-- of `kiln gen`: the generated C built and run on the host (under
-- KILN_HOST_CFLAGS, e.g. make test-sanitize's sanitizers, when it is set).
--
-- From the repository root:
--   lua5.4 tests/fuzz/cli_mutator.lua [--cases N] [--seconds S] [--seed K] [--save DIR] [--keep N] [--run N] [--verbose 1]
--   lua5.4 tests/fuzz/cli_mutator.lua --replay tests/fuzz/cli_corpus
-- (defaults 300 cases, no time limit, seed 1, DIR .build/fuzz/cli). The
-- first --keep (default 3) inputs of each failure class are saved in DIR
-- with the command and stderr beside them; the summary lists the classes.
-- Exits 1 when any case failed. `make fuzz` runs it (FUZZ_CLI_CASES).

local cjson = require "cjson"

local opts = { cases = 300, seconds = math.huge, seed = 1, save = ".build/fuzz/cli", keep = 3, verbose = 0, run = 10,
  replay = false }
do
  local i = 1
  while i <= #arg do
    local k, v = arg[i]:match("^%-%-(%w+)$"), arg[i + 1]
    if not k or opts[k] == nil or v == nil then
      io.stderr:write("usage: cli_mutator.lua [--cases N] [--seconds S] [--seed K] [--save DIR] [--keep N] [--run N] [--verbose 1] [--replay DIR]\n")
      os.exit(2)
    end
    opts[k] = (k == "save" or k == "replay") and v or assert(tonumber(v), arg[i] .. " takes a number")
    i = i + 2
  end
end
math.randomseed(math.tointeger(opts.seed) or 1)

local KILN = "gen/kiln"
local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd) return os.execute(cmd) end
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- A scratch folder with the synthetic model and a valid qparams.json.
local work = io.popen("mktemp -d /tmp/kiln-cli-fuzz.XXXXXX"):read("l")
local model, tok, text = work .. "/m/model.bin", work .. "/m/tokenizer.bin", work .. "/m/text.txt"
assert(sh(string.format("%s synth -o %s >/dev/null 2>&1", KILN, quote(work .. "/m"))), "kiln synth failed")
local CALIB = string.format("%s calib %s -z %s --text %s --samples 2 --decode-steps 1", KILN, quote(model), quote(tok),
  quote(text))
assert(sh(string.format("%s -o %s >/dev/null 2>&1", CALIB, quote(work .. "/base.json"))), "kiln calib failed")
local BASE_TEXT = read(work .. "/base.json")
local BASE = cjson.decode(BASE_TEXT)
local OBSERVERS = {}
for k in pairs(BASE.observers) do OBSERVERS[#OBSERVERS + 1] = k end
table.sort(OBSERVERS)

-- ---- JSON out, with tokens JSON has not (NaN, Infinity, 1e999) ----------

local RAW = setmetatable({}, { __mode = "k" })
local function raw(text) local t = {} RAW[t] = text return t end

local function encode(v, out)
  local kind = type(v)
  if v == cjson.null then out[#out + 1] = "null"
  elseif kind == "table" and RAW[v] then out[#out + 1] = RAW[v]
  elseif kind == "string" then out[#out + 1] = cjson.encode(v)
  elseif kind == "number" then
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  elseif kind == "boolean" then out[#out + 1] = tostring(v)
  elseif kind == "table" then
    local n = #v
    local is_array = n > 0 or next(v) == nil and getmetatable(v) == cjson.array_mt
    if is_array then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = cjson.encode(tostring(k)) .. ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    error("cannot encode " .. kind)
  end
end
local function to_json(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local function deep_copy(v)
  if type(v) ~= "table" or v == cjson.null then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return setmetatable(c, getmetatable(v))
end

local function pick(list) return list[math.random(#list)] end

-- ---- qparams.json mutations: each returns a short description -----------

local ODD_NUMBERS = {
  { 0, "0" }, { -0.0, "-0.0" }, { 1e-45, "1e-45" }, { 1e-300, "1e-300" }, { 1e30, "1e30" }, { 1e300, "1e300" },
  { -1, "-1" }, { -1e-7, "-1e-7" }, { 2 ^ 31, "2^31" }, { -2 ^ 31 - 1, "-2^31-1" }, { 1e20, "1e20" }, { -1e20, "-1e20" },
  { 0.5, "0.5" }, { 2 ^ 53, "2^53" }, { 65536, "65536" }, { -32769, "-32769" },
  { function() return raw("NaN") end, "NaN token" }, { function() return raw("Infinity") end, "Infinity token" },
  { function() return raw("1e999") end, "1e999" }, { function() return raw("-1e999") end, "-1e999" },
  { "NaN", "\"NaN\"" }, { "0.1", "\"0.1\"" }, { true, "true" }, { function() return cjson.null end, "null" },
  { function() return {} end, "{}" }, { function() return setmetatable({}, cjson.array_mt) end, "[]" },
  { function() return { 1, 2, 3 } end, "[1,2,3]" },
}
local function odd_value()
  local e = pick(ODD_NUMBERS)
  local v = e[1]
  if type(v) == "function" then v = v() end
  return v, e[2]
end

local DTYPES = { "int7", "", "uint0", "int64", "float32", "int4", "uint4", "int8", "uint8", "int16", "uint16", "INT8" }
local QSCHEMES = { "per_tensor_symm", "per_tensor_asymm", "per_channel_symm", "per_channel_asymm", "per_row", "", "symm" }

local function random_observer(doc)
  local name = pick(OBSERVERS)
  if type(doc.observers) ~= "table" or doc.observers == cjson.null then return name, nil end
  return name, doc.observers[name]
end

local FIELD_MUTATIONS = {
  -- a scalar field of one observer (or one element of its per-channel array)
  function(doc)
    local name, o = random_observer(doc)
    if type(o) ~= "table" then return "observer " .. name .. " (already gone)" end
    local field = pick({ "scale", "zero_point", "min", "max", "axis" })
    local v, what = odd_value()
    if type(o[field]) == "table" and #o[field] > 0 and math.random(2) == 1 then
      local i = math.random(#o[field])
      o[field][i] = v
      return string.format("%s.%s[%d] = %s", name, field, i, what)
    end
    o[field] = v
    return string.format("%s.%s = %s", name, field, what)
  end,
  -- dtype / qscheme
  function(doc)
    local name, o = random_observer(doc)
    if type(o) ~= "table" then return "observer " .. name .. " (already gone)" end
    if math.random(2) == 1 then
      o.dtype = pick(DTYPES)
      return string.format("%s.dtype = %q", name, o.dtype)
    end
    o.qscheme = pick(QSCHEMES)
    return string.format("%s.qscheme = %q", name, o.qscheme)
  end,
  -- a key missing
  function(doc)
    local name, o = random_observer(doc)
    if type(o) ~= "table" then return "observer " .. name .. " (already gone)" end
    local field = pick({ "dtype", "qscheme", "axis", "scale", "zero_point", "min", "max" })
    o[field] = nil
    return string.format("%s without %s", name, field)
  end,
  -- the observer missing, or of the wrong type
  function(doc)
    local name, o = random_observer(doc)
    if o == nil then return "observer " .. name .. " (already gone)" end
    local v, what = nil, "removed"
    if math.random(2) == 1 then v, what = odd_value() end
    doc.observers[name] = v
    return string.format("observer %s %s", name, what == "removed" and what or ("= " .. what))
  end,
  -- an unknown observer
  function(doc)
    local name = pick({ "model.layers.9.mlp.act_in", "model.layers.0.self_attn.nope", "", "lm_head", "model.layers.-1.cos" })
    if type(doc.observers) ~= "table" or doc.observers == cjson.null then return "observers (already gone)" end
    doc.observers[name] = deep_copy(doc.observers["model.cos"])
    return string.format("unknown observer %q", name)
  end,
  -- per-channel arrays of the wrong length (short, long, huge)
  function(doc)
    local name, o = random_observer(doc)
    if type(o) ~= "table" then return "observer " .. name .. " (already gone)" end
    local field = pick({ "scale", "zero_point", "min", "max" })
    local n = pick({ 0, 1, 2, 383, 385, 100000 })
    local t = setmetatable({}, cjson.array_mt)
    local x = type(o[field]) == "table" and o[field][1] or o[field]
    if type(x) ~= "number" then x = 0.01 end
    for i = 1, n do t[i] = x end
    o[field] = t
    return string.format("%s.%s = array of %d", name, field, n)
  end,
  -- the model's description, format and version
  function(doc)
    local field = pick({ "hidden", "intermediate", "heads", "kv_heads", "head_dim", "layers", "vocab", "dtype", "sha256",
      "arch", "file" })
    local v, what = odd_value()
    if math.random(3) == 1 then v, what = nil, "removed" end
    if type(doc.model) == "table" and doc.model ~= cjson.null then doc.model[field] = v end
    return string.format("model.%s %s", field, what == "removed" and what or ("= " .. what))
  end,
  function(doc)
    local field = pick({ "format", "version", "model", "observers", "calibration" })
    local v, what = odd_value()
    if math.random(3) == 1 then v, what = nil, "removed" end
    doc[field] = v
    return string.format("%s %s", field, what == "removed" and what or ("= " .. what))
  end,
  -- calibration fields gen may read
  function(doc)
    local field = pick({ "preset", "kv_cache", "profile", "decode_source", "overrides", "samples", "max_tokens" })
    local v, what = odd_value()
    if type(doc.calibration) == "table" and doc.calibration ~= cjson.null then doc.calibration[field] = v end
    return string.format("calibration.%s = %s", field, what)
  end,
}

-- Whole-text mutations of the valid file.
local TEXT_MUTATIONS = {
  function(s) local n = math.random(#s) return s:sub(1, n), "truncated at byte " .. n end,
  function() return "", "empty file" end,
  function(s) return s .. "{}", "trailing {}" end,
  function() return string.rep("[", 100000) .. string.rep("]", 100000), "100000 nested arrays" end,
  function(s)
    local name = pick(OBSERVERS)
    return s:gsub('"observers": {', '"observers": {\n    "' .. name .. '": {},', 1), "observer " .. name .. " twice"
  end,
  function(s) return s:gsub('"format"', '"format": "kiln-qparams", "format"', 1), "format twice" end,
  function(s) return "[" .. s .. "]", "an array of the document" end,
}

-- ---- edits: a mutated document as its differences from the valid one ------
-- (small files for tests/fuzz/cli_corpus, replayed on a fresh calibration)

local REMOVED = setmetatable({}, { __tostring = function() return "removed" end })

local function lua_value(v)
  if v == REMOVED then return "removed" end
  if v == cjson.null then return "null" end
  if type(v) == "table" and RAW[v] then return string.format("raw(%q)", RAW[v]) end
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v) end
  if type(v) == "table" then
    local parts, n = {}, #v
    for i = 1, n do parts[i] = lua_value(v[i]) end
    for k, x in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > n then parts[#parts + 1] = string.format("[%q] = %s", k, lua_value(x)) end
    end
    return (n == 0 and next(v) == nil and getmetatable(v) == cjson.array_mt) and "array()" or "{ " .. table.concat(parts, ", ") .. " }"
  end
  return tostring(v)
end

local function same(a, b)
  if type(a) ~= type(b) or type(a) ~= "table" or RAW[a] or RAW[b] then return a == b end
  return false
end

-- the edits that make b from a: { { path, value }, ... }
local function diff(a, b, path, out)
  if type(a) == "table" and type(b) == "table" and not RAW[a] and not RAW[b] and (#a == 0) == (#b == 0)
    and getmetatable(a) == getmetatable(b) then
    local keys = {}
    for k in pairs(a) do keys[#keys + 1] = k end
    for k in pairs(b) do if a[k] == nil then keys[#keys + 1] = k end end
    table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
    for _, k in ipairs(keys) do
      local p = table.move(path, 1, #path, 1, {})
      p[#p + 1] = k
      if b[k] == nil then out[#out + 1] = { p, REMOVED } else diff(a[k], b[k], p, out) end
    end
  elseif not same(a, b) then
    out[#out + 1] = { path, b }
  end
  return out
end

local function edits_source(what, edits)
  local lines = { "-- " .. what:gsub("\n", " "), "return {" }
  for _, e in ipairs(edits) do lines[#lines + 1] = string.format("  { %s, %s },", lua_value(e[1]), lua_value(e[2])) end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

local function apply_edits(doc, edits)
  for _, e in ipairs(edits) do
    local t, path = doc, e[1]
    for i = 1, #path - 1 do
      if type(t[path[i]]) ~= "table" then t[path[i]] = {} end
      t = t[path[i]]
    end
    if e[2] == REMOVED then t[path[#path]] = nil else t[path[#path]] = e[2] end
  end
  return doc
end

local function mutate_qparams()
  if math.random(8) == 1 then
    local text, what = pick(TEXT_MUTATIONS)(BASE_TEXT)
    return text, what
  end
  local doc = deep_copy(BASE)
  local whats = {}
  -- mostly one mutation: a second is often hidden behind the first's refusal
  for _ = 1, math.random(5) <= 3 and 1 or math.random(2, 3) do whats[#whats + 1] = pick(FIELD_MUTATIONS)(doc) end
  local what = table.concat(whats, "; ")
  return to_json(doc), what, edits_source(what, diff(BASE, doc, {}, {}))
end

-- ---- overrides files ----------------------------------------------------

local OVERRIDE_KEYS = { "self_attn.softmax", "mlp.act_in", "model.layers.0.mlp", "model.layers.1.mlp.down_proj.weight",
  "lm_head", "model.embed_tokens.weight", "self_attn", "", "model.layers.99.mlp", "nope.nope", "model", ".", "mlp." }
local OVERRIDE_VALUES = {
  'dtype = "uint8"', 'dtype = "int4"', 'dtype = "uint4"', 'dtype = "int16"', 'dtype = "int7"', 'dtype = ""', "dtype = 8",
  'dtype = "int8", qscheme = "per_channel_symm"', 'dtype = "uint8", qscheme = "per_tensor_symm"',
  'dtype = "int8", qscheme = "per_channel_asymm"', 'qscheme = "per_tensor_asymm"', 'observer = "minmax"',
  'observer = "percentile", percentile = 99.9', 'observer = "percentile", percentile = 0/0',
  'observer = "percentile", percentile = 1/0', 'observer = "percentile", percentile = -1',
  'observer = "percentile", percentile = 100', 'observer = "percentile", percentile = "99"',
  'observer = "percentile"', "percentile = 50", 'observer = "mse"', 'observer = "kl"', 'observer = ""',
  'observer = 1', 'dtype = "int8", observer = "percentile", percentile = 1e-300', "bits = 8",
  'dtype = {"int8"}', 'dtype = "int8", extra = true', "dtype = nil", "[1] = 2",
}
local OVERRIDE_FILES = {
  function() return "return 42", "returns 42" end,
  function() return "return nil", "returns nil" end,
  function() return "while true do end", "an endless loop" end,
  function() return "local t = {} for i = 1, 1e9 do t[i] = i end return t", "a long loop" end,
  function() return "return { oops", "syntax error" end,
  function() return "error('boom')", "raises a string" end,
  function() return "error({})", "raises a table" end,
  function() return "error(nil)", "raises nil" end,
  function() return "return os.exit(3)", "calls os (not in its environment)" end,
  function() return "local t = {} t.self = t return { ['mlp.act_in'] = t }", "a table holding itself" end,
  function() return "return { [{}] = { dtype = 'int8' } }", "a table key" end,
  function() return "return { [1.5] = { dtype = 'int8' } }", "a number key" end,
  function() return "return { ['" .. string.rep("x", 1000000) .. "'] = { dtype = 'int8' } }", "a key of 1 MB" end,
  function() return "return { ['mlp.act_in'] = { dtype = '" .. string.rep("i", 1000000) .. "' } }", "a dtype of 1 MB" end,
  function() return "return \"" .. string.rep("a", 100) .. "\"", "returns a string" end,
  function() return "\27Lua", "bytecode" end,
  function()
    local t = {}
    for i = 1, 20000 do t[i] = string.format("['model.layers.%d.mlp'] = { dtype = 'int8' }", i) end
    return "return {" .. table.concat(t, ",") .. "}", "20000 keys"
  end,
}

local function mutate_overrides()
  if math.random(4) == 1 then return pick(OVERRIDE_FILES)() end
  local entries, whats = {}, {}
  for _ = 1, math.random(3) do
    local key, value = pick(OVERRIDE_KEYS), pick(OVERRIDE_VALUES)
    entries[#entries + 1] = string.format("[%q] = { %s }", key, value)
    whats[#whats + 1] = string.format("%s = { %s }", key, value)
  end
  return "return { " .. table.concat(entries, ", ") .. " }", table.concat(whats, "; ")
end

-- ---- running kiln and judging what it did ---------------------------------

-- runs cmd with a time limit: exit status, stderr
local function run(cmd)
  local errf = work .. "/stderr"
  local ok, how, code = os.execute(string.format("timeout 120 sh -c %s >/dev/null 2>%s", quote(cmd), quote(errf)))
  local status = how == "exit" and code or 128 + code
  if ok then status = 0 end
  return status, read(errf) or ""
end

-- nil when kiln kept its contract, else the failure's class (what it did,
-- where, without the numbers that vary) and a line about it
local function judge(status, err)
  if status == 124 then return "hang (killed after 120 s)", "timeout" end
  if status > 128 then return "signal " .. (status - 128), err:match("[^\n]*") end
  local internal = err:match("kiln: internal error: ([^\n]*)")
  if internal or status == 70 then
    internal = internal or "?"
    -- where: the error's own position, else the first frame of kiln's in the traceback
    local where = internal:match("^([%w_/%.]+%.lua:%d+):") or err:match("\n%s+(gen/[%w_/%.]+%.lua:%d+):") or "?"
    local what = internal:gsub("^[%w_/%.]+%.lua:%d+: ", ""):gsub("%-?%d[%d%.]*e?[%-+]?%d*", "N"):gsub("'[^']*'", "'_'")
    return "internal error at " .. where .. ": " .. what:sub(1, 100), internal
  end
  if err:match("traceback") then return "traceback on stderr", err:match("[^\n]*") end
  if status ~= 0 and status ~= 1 and status ~= 2 then return "exit status " .. status, err:match("[^\n]*") end
  if status ~= 0 then
    local lines = select(2, err:gsub("\n", "\n"))
    if not err:match("^kiln: ") then return "refusal not starting \"kiln: \"", err:match("[^\n]*") end
    if lines ~= 1 or not err:match("\n$") then return "refusal of " .. lines .. " lines", err:match("[^\n]*") end
  end
  return nil
end

local classes, order = {}, {}
local ran, failed, refused, accepted = 0, 0, 0, 0
os.execute("mkdir -p " .. quote(opts.save))
local started = os.time()

-- --replay DIR: the saved cases instead of new ones (NAME.qparams.lua edits,
-- NAME.json qparams texts, NAME.overrides.lua files), each through gen (or
-- run, for NAME.run.*), calib for overrides.
local replay = {}
if opts.replay then
  local p = io.popen("ls " .. quote(opts.replay))
  for name in p:lines() do
    local path = opts.replay .. "/" .. name
    if name:match("%.qparams%.lua$") then
      local env = { raw = raw, null = cjson.null, removed = REMOVED,
        array = function() return setmetatable({}, cjson.array_mt) end }
      local edits = assert(loadfile(path, "t", env))()
      local text = read(path)
      replay[#replay + 1] = { kind = name:match("%.run%.") and "qparams-run" or "qparams", name = name,
        input = to_json(apply_edits(deep_copy(BASE), edits)), what = text:match("^%-%- ([^\n]*)") or name }
    elseif name:match("%.json$") then
      replay[#replay + 1] = { kind = name:match("%.run%.") and "qparams-run" or "qparams", name = name, input = read(path), what = name }
    elseif name:match("%.overrides%.lua$") then
      replay[#replay + 1] = { kind = "overrides", name = name, input = read(path), what = name }
    end
  end
  p:close()
  opts.cases, opts.keep, opts.verbose = #replay, 0, 1
end

for case = 1, math.tointeger(opts.cases) or 300 do
  if os.time() - started >= opts.seconds then break end
  local r = replay[case]
  local kind = r and r.kind or (math.random(4) == 1 and "overrides" or "qparams")
  local input, what, edits, cmd
  if kind ~= "overrides" then
    if r then input, what = r.input, r.what else input, what, edits = mutate_qparams() end
    write(work .. "/q.json", input)
    if kind == "qparams-run" or not r and opts.run > 0 and math.random(math.tointeger(opts.run) or 10) == 1 then
      kind = "qparams-run"
      cmd = string.format("%s run %s -z %s --qparams %s -n 3 -t 0", KILN, quote(model), quote(tok), quote(work .. "/q.json"))
    else
      cmd = string.format("%s gen %s --qparams %s -o %s", KILN, quote(model), quote(work .. "/q.json"), quote(work .. "/out"))
    end
  else
    if r then input, what = r.input, r.what else input, what = mutate_overrides() end
    write(work .. "/o.lua", input)
    cmd = string.format("%s --overrides %s -o %s && %s gen %s --qparams %s -o %s", CALIB, quote(work .. "/o.lua"),
      quote(work .. "/cq.json"), KILN, quote(model), quote(work .. "/cq.json"), quote(work .. "/out"))
    os.remove(work .. "/cq.json")
  end
  local status, err = run(cmd)
  ran = ran + 1
  local class, line = judge(status, err)
  if opts.verbose ~= 0 then
    print(string.format("%4d %-8s %-3d %s\n              %s", case, kind, status, what, (err:match("kiln: [^\n]*") or ""):sub(1, 160)))
  end
  if class then
    failed = failed + 1
    local c = classes[class]
    if not c then
      c = { count = 0, example = what, line = line, kind = kind }
      classes[class] = c
      order[#order + 1] = class
    end
    c.count = c.count + 1
    if c.count <= opts.keep then
      local base = string.format("%s/%s-%03d-%d", opts.save, kind, #order, c.count)
      -- a mutated qparams.json as its edits (a few lines), the rest as they are
      -- when small; the description is always there
      if edits and #edits <= 65536 then
        write(base .. (kind == "qparams-run" and ".run" or "") .. ".qparams.lua", edits)
      elseif #input <= 65536 then
        write(base .. (kind == "overrides" and ".overrides.lua" or kind == "qparams-run" and ".run.json" or ".json"), input)
      end
      write(base .. ".txt", string.format("mutation: %s\nclass: %s\ncommand: %s\nexit status: %d\nstderr:\n%s", what,
        class, cmd:gsub(work, "$WORK"), status, err))
    end
  elseif status == 0 then
    accepted = accepted + 1
  else
    refused = refused + 1
  end
end

os.execute("rm -rf " .. quote(work))
print(string.format("cli mutator: %d cases (seed %d, %d s): %d accepted, %d refused in one line, %d failed in %d classes",
  ran, opts.seed, os.time() - started, accepted, refused, failed, #order))
table.sort(order, function(a, b) return classes[a].count > classes[b].count end)
for _, class in ipairs(order) do
  local c = classes[class]
  print(string.format("  %4d  %s\n        e.g. (%s) %s", c.count, class, c.kind, c.example))
end
if failed > 0 and opts.keep > 0 then print("  inputs and stderr of each class: " .. opts.save) end
os.exit(failed == 0 and 0 or 1)
