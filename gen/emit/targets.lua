-- Target rules: rules/<name>.lua, a table saying what the target can run,
-- how kiln should emit for it, how its C is built and run (see
-- rules/portable.lua). A rules file runs with nothing but runtime_lua(rel),
-- which loads a Lua helper from the target's runtime folder (runtime/<rel>).

local fail = require "util.fail"
local files = require "util.files"
local sandbox = require "util.sandbox"

local targets = {}

local REQUIRED = { "name", "summary", "dtypes", "runtime", "build", "code_size" }

-- What a rules file's words may hold. Build commands reach make and a shell
-- as text, and names are pasted into C and linker scripts, so every word is
-- checked against a plain alphabet: no quotes, $, ;, |, &, backquotes,
-- redirections, spaces inside a word or newlines.
local WORD = "^[%w_.,=+:/%-]+$"      -- a compiler flag or a command's argument
local TOOL = "^[%w_.+][%w_.+/%-]*$"  -- a program: a name or a path, not an option
local SECTION = "^[%w_.]+$"

local function check_words(path, field, text, allow_placeholders)
  if type(text) ~= "string" then fail.raise(path, field, "must be a string") end
  for word in text:gmatch("%S+") do
    local bare = allow_placeholders and word:gsub("{image}", "x"):gsub("{args}", "") or word
    if bare ~= "" and not bare:match(WORD) then
      fail.raise(path, field, string.format("%q: only letters, digits and _ . , = + : / - may appear in a word", word))
    end
  end
end

-- A relative path of plain names, none of them '.' or '..'.
local function is_relative(rel)
  if type(rel) ~= "string" or rel == "" or rel:sub(1, 1) == "/" or rel:sub(-1) == "/" then return false end
  for part in (rel .. "/"):gmatch("([^/]*)/") do
    if not part:match("^[%w_.%-]+$") or part == "." or part == ".." then return false end
  end
  return true
end

-- rel names a file inside root/dir: relative, no '..', and present.
local function check_inside(root, path, field, dir, rel)
  if not is_relative(rel) then
    fail.raise(path, field, string.format("%s: must be a relative path inside %s/ without '..'", tostring(rel), dir))
  end
  if not files.exists(root .. "/" .. dir .. "/" .. rel) then
    fail.raise(path, field, string.format("%s: no such file in %s/", rel, dir))
  end
end

local function check_list(root, path, field, list)
  if type(list) ~= "table" then fail.raise(path, field, "must be a list of runtime files") end
  for i, rel in ipairs(list) do check_inside(root, path, string.format("%s[%d]", field, i), "runtime", rel) end
end

-- Everything of a rules file that becomes a command, a path or a name in
-- the generated files.
local function check_rules(root, path, rules)
  if type(rules.name) ~= "string" or not rules.name:match("^[%w_%-]+$") then
    fail.raise(path, "name", "must be a name of letters, digits, _ and -")
  end
  check_list(root, path, "runtime", rules.runtime)
  if rules.weight_runtime ~= nil then
    if type(rules.weight_runtime) ~= "table" then fail.raise(path, "weight_runtime", "must be a table") end
    for storage, list in pairs(rules.weight_runtime) do check_list(root, path, "weight_runtime." .. tostring(storage), list) end
  end
  local build = rules.build
  if type(build) ~= "table" or type(build.run) ~= "table" or type(build.run.command) ~= "string" then
    fail.raise(path, "build.run.command", "missing: how the built program runs")
  end
  if type(build.cc) ~= "string" or not build.cc:match(TOOL) then
    fail.raise(path, "build.cc", string.format("%q: must be one program name or path", tostring(build.cc)))
  end
  check_words(path, "build.cflags", build.cflags)
  if build.ldflags ~= nil then check_words(path, "build.ldflags", build.ldflags) end
  check_words(path, "build.run.command", build.run.command, true)
  local first = build.run.command:match("^%s*(%S+)")
  if first and not first:match("^{image}") and not first:match(TOOL) then
    fail.raise(path, "build.run.command", string.format("%q: must start with a program or {image}", first))
  end
  if build.run.args ~= nil and build.run.args ~= "semihosting" then
    fail.raise(path, "build.run.args", "must be \"semihosting\" or absent")
  end
  if not is_relative(build.image) then
    fail.raise(path, "build.image", "must be a relative path inside the output without '..'")
  end
  if type(build.makefile) ~= "string" or not build.makefile:match("^[%w_.%-]+$") then
    fail.raise(path, "build.makefile", "must name a file in templates/")
  end
  check_inside(root, path, "build.makefile", "templates", build.makefile)
  for key, section in pairs(type(rules.sections) == "table" and rules.sections or {}) do
    if type(section) ~= "string" or not section:match(SECTION) then
      fail.raise(path, "sections." .. tostring(key), "must be a section name of letters, digits, _ and .")
    end
  end
  for key, region in pairs(type(rules.memory) == "table" and rules.memory or {}) do
    for _, f in ipairs({ "origin", "size" }) do
      local v = type(region) == "table" and region[f]
      if math.type(v) ~= "integer" or v < 0 or v >= 1 << 32 then
        fail.raise(path, string.format("memory.%s.%s", tostring(key), f), "must be an integer in [0, 2^32)")
      end
    end
  end
end

local function load_file(root, path)
  local env = {}
  function env.runtime_lua(rel)
    -- runs inside the sandbox, where strings have no pattern methods
    if type(rel) ~= "string" or not string.match(rel, "^[%w_%-/]+%.lua$") or string.find(rel, "..", 1, true) then
      fail.raise(path, "runtime_lua", "bad runtime path " .. tostring(rel))
    end
    local chunk, err = loadfile(root .. "/runtime/" .. rel, "t", {})
    if not chunk then fail.raise(path, "runtime_lua", err) end
    return chunk()
  end
  local rules = sandbox.load(path, env, "rules")
  for _, field in ipairs(REQUIRED) do
    if rules[field] == nil then fail.raise(path, field, "missing") end
  end
  check_rules(root, path, rules)
  rules.path = path
  return rules
end

-- The names of the rules files in rules/, sorted.
function targets.names(root)
  local p = io.popen("ls " .. files.quote(root .. "/rules") .. " 2>/dev/null")
  local known = {}
  for line in p:lines() do
    local n = line:match("^([%w_%-]+)%.lua$")
    if n then known[#known + 1] = n end
  end
  p:close()
  table.sort(known)
  return known
end

-- load(root, target) -> rules. target names rules/<target>.lua, or is the
-- path of a rules file of one's own (a board with another memory map).
-- "native" is the fastest target this host runs (targets.native), said once
-- on stderr.
local native_choice

function targets.load(root, name)
  if name == "native" then
    if not native_choice then
      native_choice = targets.native(root)
      io.stderr:write(string.format("kiln: --target native: %s (%s)\n", native_choice.name, native_choice.summary))
    end
    return native_choice
  end
  local path
  if name:match("%.lua$") then
    path = name
    if not files.exists(path) then fail.usage("--target: no rules file " .. path) end
  elseif not name:match("^[%w_%-]+$") then
    fail.usage("--target: bad name '" .. name .. "'")
  else
    path = root .. "/rules/" .. name .. ".lua"
  end
  if not files.exists(path) then
    fail.usage("--target: no rules for '" .. name .. "' (known: " .. table.concat(targets.names(root), ", ")
      .. ", native)")
  end
  return load_file(root, path)
end

-- This host: its machine (uname -m) and CPU flags (/proc/cpuinfo's flags or,
-- on Arm, Features).
function targets.host()
  local p = io.popen("uname -m 2>/dev/null")
  local machine = p and p:read("l") or ""
  if p then p:close() end
  local have = {}
  local f = io.open("/proc/cpuinfo", "r")
  if f then
    local text = f:read("a")
    f:close()
    local line = text:match("\nflags%s*:%s*([^\n]*)") or text:match("\nFeatures%s*:%s*([^\n]*)") or ""
    for flag in line:gmatch("%S+") do have[flag] = true end
  end
  return { machine = machine, flags = have, known = f ~= nil }
end

-- The CPU flags a target needs that this host lacks ({} when it runs here,
-- or when its code runs in an emulator: rules.machine is another machine).
function targets.missing_flags(rules, host)
  host = host or targets.host()
  local missing = {}
  if not rules.cpu_flags or not host.known or (rules.machine and rules.machine ~= host.machine) then return missing end
  for _, flag in ipairs(rules.cpu_flags) do
    if not host.flags[flag] then missing[#missing + 1] = flag end
  end
  return missing
end

-- The fastest target this host (targets.host(), or the one given) runs
-- natively: among the rules with a native_preference, those for its machine
-- (or any) whose CPU flags it has; the highest preference wins.
function targets.native(root, host)
  host = host or targets.host()
  local best
  for _, name in ipairs(targets.names(root)) do
    local rules = targets.load(root, name)
    if rules.native_preference and (rules.machine == nil or rules.machine == host.machine)
      and #targets.missing_flags(rules, host) == 0
      and (not best or rules.native_preference > best.native_preference) then
      best = rules
    end
  end
  return best or targets.load(root, "portable")
end

-- The command that runs the built program of dir (nil: the current
-- directory) with args, as the target's rules say (build.run: a command
-- with {image} and {args}; args "semihosting" passes each argument as
-- ",arg=WORD", the program's name first; output "stderr": the program's
-- output arrives on stderr); image: another image of the build than its own.
function targets.run_command(build, dir, args, image)
  local run = build.run
  local words = {}
  if run.args == "semihosting" then
    words[1] = ",arg=kiln"
    for word in args:gmatch("%S+") do words[#words + 1] = ",arg=" .. word end
  elseif args ~= "" then
    words[1] = " " .. args
  end
  image = image or build.image
  local values = { image = dir and (files.quote(dir) .. "/" .. image) or image, args = table.concat(words) }
  return (run.command:gsub("{(%w+)}", values))
end

return targets
