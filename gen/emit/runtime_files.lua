-- The runtime files copied beside a generated model: the target's own
-- (rules.runtime), then those its rules add for each storage of linear
-- weights the model has (rules.weight_runtime: the 4-bit kernels, which a
-- model with 8-bit weights does not carry). Returns the files as
-- { [relative path] = contents }, the C sources for the Makefile and the
-- #include lines of the kernels' interfaces (kiln_rt*.h).

local files = require "util.files"

local runtime_files = {}

-- The rules' files for a set of storages ({ u4 = true, ... }), in order:
-- rules.runtime first, then each storage's in the order of their names;
-- a file listed twice is copied once.
function runtime_files.list(rules, storages)
  local list, seen = {}, {}
  local function add(rel)
    if not seen[rel] then
      seen[rel] = true
      list[#list + 1] = rel
    end
  end
  for _, rel in ipairs(rules.runtime) do add(rel) end
  local names = {}
  for storage in pairs(storages) do names[#names + 1] = storage end
  table.sort(names)
  for _, storage in ipairs(names) do
    for _, rel in ipairs(rules.weight_runtime and rules.weight_runtime[storage] or {}) do add(rel) end
  end
  return list
end

function runtime_files.copy(root, rules, storages)
  local out, sources, includes = {}, {}, {}
  for _, rel in ipairs(runtime_files.list(rules, storages)) do
    local base = files.basename(rel)
    out["runtime/" .. base] = files.read(root .. "/runtime/" .. rel)
    if base:match("%.c$") then sources[#sources + 1] = "runtime/" .. base end
    -- the kernels' interfaces (kiln_rt*.h); other headers are their internals
    if base:match("^kiln_rt.*%.h$") then includes[#includes + 1] = '#include "runtime/' .. base .. '"' end
  end
  return out, table.concat(sources, " "), table.concat(includes, "\n")
end

return runtime_files
