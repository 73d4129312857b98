-- Command-line parsing for the verbs.
--
-- A verb declares its options as a list of specs:
--   { "-n", "--steps", key = "steps", type = "integer", default = 256, help = "..." }
--   { "--untied-kv", key = "untied_kv", type = "flag" }
-- and its positional arguments as names. parse() returns a table keyed by
-- spec.key (and by positional name) or raises a usage failure naming the option.

local fail = require "util.fail"

local args = {}

local function convert(spec, name, text)
  -- an empty path would name no file in the messages ("kiln: : cannot replace")
  if text == "" then fail.usage(name .. ": empty value") end
  if spec.type == "string" then return text end
  local n = tonumber(text)
  if n == nil then fail.usage(name .. ": expected a number, got '" .. text .. "'") end
  if spec.type == "integer" then
    if math.type(n) ~= "integer" then
      local i = math.tointeger(n)
      if i == nil then fail.usage(name .. ": expected an integer, got '" .. text .. "'") end
      n = i
    end
  end
  if n ~= n or n == math.huge or n == -math.huge then fail.usage(name .. ": expected a finite number, got '" .. text .. "'") end
  if spec.min and n < spec.min then
    fail.usage(name .. ": must be at least " .. spec.min .. ", got " .. text)
  end
  if spec.max and n > spec.max then
    fail.usage(name .. ": must be at most " .. spec.max .. ", got " .. text)
  end
  return n
end

local function check_choice(spec, name, value)
  if not spec.choices then return end
  for _, c in ipairs(spec.choices) do
    if c == value then return end
  end
  fail.usage(name .. ": expected one of " .. table.concat(spec.choices, ", ") .. ", got '" .. value .. "'")
end

-- parse(argv, verb) where verb = { options = {...}, positional = {"MODEL", ...} }.
-- With verb.rest = "NAME", positional arguments beyond those are collected in
-- result.rest; after "--" every argument is positional.
function args.parse(argv, verb)
  local by_name = {}
  local result = {}
  for _, spec in ipairs(verb.options or {}) do
    for _, name in ipairs(spec) do by_name[name] = spec end
    if spec.type == "flag" then
      result[spec.key] = false
    elseif spec.default ~= nil then
      result[spec.key] = spec.default
    end
  end
  local positional = {}
  local i = 1
  local options_end = false
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local spec = not options_end and by_name[name]
    if a == "--" and not options_end then
      options_end = true
    elseif options_end then
      positional[#positional + 1] = a
    elseif spec then
      if spec.type == "flag" then
        if inline then fail.usage(name .. ": takes no value") end
        result[spec.key] = true
      else
        local text = inline
        if text == nil then
          i = i + 1
          text = argv[i]
          if text == nil then fail.usage(name .. ": missing value") end
        end
        local value = convert({ type = spec.type or "string", min = spec.min, max = spec.max }, name, text)
        check_choice(spec, name, value)
        result[spec.key] = value
      end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      fail.usage("unknown option " .. a)
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  local names = verb.positional or {}
  if #positional > #names and not verb.rest then
    fail.usage("unexpected argument '" .. positional[#names + 1] .. "'")
  end
  if verb.rest then result.rest = table.move(positional, #names + 1, #positional, 1, {}) end
  for k, pname in ipairs(names) do
    if positional[k] == nil then fail.usage("missing " .. pname) end
    if positional[k] == "" then fail.usage(pname .. ": empty value") end
    result[pname] = positional[k]
  end
  for _, spec in ipairs(verb.options or {}) do
    if spec.required and result[spec.key] == nil then
      fail.usage("missing required option " .. spec[#spec])
    end
  end
  return result
end

-- One usage block for `kiln help VERB` and for usage failures.
function args.usage(verb_name, verb)
  local lines = { "usage: kiln " .. verb_name .. " " .. (verb.synopsis or ""), "" }
  if verb.summary then
    lines[#lines + 1] = verb.summary
    lines[#lines + 1] = ""
  end
  for _, spec in ipairs(verb.options or {}) do
    local names = table.concat(spec, ", ")
    if spec.type ~= "flag" then names = names .. " " .. (spec.metavar or "VALUE") end
    local help = spec.help or ""
    -- unset_default: applied by the verb itself (after a recipe), shown here
    local shown = spec.default
    if shown == nil then shown = spec.unset_default end
    if shown ~= nil then help = help .. " (default " .. tostring(shown) .. ")" end
    lines[#lines + 1] = string.format("  %-28s %s", names, help)
  end
  return table.concat(lines, "\n")
end

return args
