-- Calibration recipes: everything one `kiln calib` takes, as one Lua table
-- (run sandboxed like an overrides file; TICO keeps the same in YAML). A
-- recipe is a name (gen/calib/recipes/NAME.lua, shipped) or a file. Its
-- fields are the calib options' defaults; an option on the command line
-- still wins.
--
--   preset = "w8a8", observer = "percentile", percentile = 99.99,
--   share_grids = true, smoothquant = { alpha = 0.5 },
--   gptq = { block = 128, damp = 0.01, act_order = false },
--   mixed = 0.01, overrides = { ["mlp.down_proj.weight"] = { dtype = "uint4" } },
--   samples = 32, decode_steps = 8, decode_source = "float", max_tokens = 256,
--   summary = "one line on what it is for"

local fail = require "util.fail"
local files = require "util.files"
local sandbox = require "util.sandbox"
local observers = require "calib.observers"

local recipe = {}

-- The fields a recipe may set, and the check of each value.
local function is_string(v) return type(v) == "string" end
local function is_count(v) return math.type(v) == "integer" and v >= 0 end
local function is_positive(v) return math.type(v) == "integer" and v >= 1 end
local function is_boolean(v) return type(v) == "boolean" end
local function is_number(v) return type(v) == "number" and v == v and v > 0 and v < math.huge end
local function is_table(v) return type(v) == "table" end

recipe.FIELDS = {
  summary = { is_string, "a string" },
  preset = { is_string, "a preset name (w8a8, w8a16)" },
  observer = { is_string, "minmax, ema or percentile" },
  percentile = { is_number, "a number in (0, 100]" },
  share_grids = { is_boolean, "true or false" },
  smoothquant = { is_table, "a table { alpha = 0.5 }" },
  gptq = { is_table, "a table { block = 128, damp = 0.01, act_order = false }" },
  mixed = { is_number, "a KL budget (a positive number)" },
  overrides = { is_table, "an overrides table { [path] = { dtype = ... } }" },
  samples = { is_positive, "a positive integer" },
  decode_steps = { is_count, "an integer >= 0" },
  decode_source = { is_string, "float, quantized or none" },
  max_tokens = { is_positive, "a positive integer" },
  untied_kv = { is_boolean, "true or false" },
}

-- The file a recipe name or path stands for.
function recipe.path(root, name)
  if name:match("^[%w_%-]+$") then
    local shipped = root .. "/gen/calib/recipes/" .. name .. ".lua"
    if files.exists(shipped) then return shipped, name end
    fail.usage("--recipe: no shipped recipe '" .. name .. "' (" .. table.concat(recipe.names(root), ", ")
      .. "), and no file of that name")
  end
  if not files.exists(name) then fail.raise(name, "recipe", "not found") end
  return name, files.basename(name):gsub("%.lua$", "")
end

-- The shipped recipes' names, sorted.
function recipe.names(root)
  local out = {}
  local p = io.popen("ls " .. files.quote(root .. "/gen/calib/recipes") .. " 2>/dev/null")
  for line in p:lines() do
    local n = line:match("^([%w_%-]+)%.lua$")
    if n then out[#out + 1] = n end
  end
  p:close()
  table.sort(out)
  return out
end

-- load(root, name) -> { name, path, sha256, fields = { checked values } }
function recipe.load(root, name)
  local path, short = recipe.path(root, name)
  local value = sandbox.load(path, nil, "recipe")
  for key, v in pairs(value) do
    local field = recipe.FIELDS[key]
    if not field then
      local known = {}
      for k in pairs(recipe.FIELDS) do known[#known + 1] = k end
      table.sort(known)
      fail.raise(path, tostring(key), "unknown field (" .. table.concat(known, ", ") .. ")")
    end
    if not field[1](v) then fail.raise(path, key, "must be " .. field[2]) end
  end
  if value.overrides then value.overrides = observers.check_overrides(value.overrides, path .. " (overrides)") end
  if value.smoothquant then
    local a = value.smoothquant.alpha
    if a ~= nil and not (type(a) == "number" and a >= 0 and a <= 1) then
      fail.raise(path, "smoothquant.alpha", "must be a number in [0, 1]")
    end
  end
  return { name = short, path = path, sha256 = files.sha256(path), fields = value }
end

return recipe
