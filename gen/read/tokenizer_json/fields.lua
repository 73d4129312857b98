-- The fields of tokenizer.json as its reader checks them: refusals that name
-- the file and the field, and the components (normalizer, pre-tokenizer,
-- decoder) made by their "type" from a table of kinds.

local fail = require "util.fail"
local json = require "util.json"

local fields = {}

local NULL = json.decoded_null

function fields.present(v) return v ~= nil and v ~= NULL end
local present = fields.present

-- Refusals name the file and the field: ctx.path is the file, field e.g. "pre_tokenizer.type".
function fields.refuse(ctx, field, message) fail.raise(ctx.path, field, message) end
local refuse = fields.refuse

function fields.string_field(ctx, t, key, field)
  local v = t[key]
  if type(v) ~= "string" then refuse(ctx, field .. "." .. key, "must be a string") end
  return v
end

-- The component v (a normalizer, pre-tokenizer or decoder, at field) made by
-- kinds[v.type]; nil for null.
function fields.component_of(kinds, ctx, native, v, field)
  if not present(v) then return nil end
  if type(v) ~= "table" then refuse(ctx, field, "must be an object or null") end
  local make = kinds[v.type]
  if not make then refuse(ctx, field .. ".type", string.format("%s is not supported", tostring(v.type))) end
  return make(ctx, native, v, field)
end
local component_of = fields.component_of

-- The maker of a Sequence of kinds, listed under key: each applied in turn.
function fields.sequence_of(kinds, key)
  return function(ctx, native, v, field)
    if type(v[key]) ~= "table" then refuse(ctx, field .. "." .. key, "must be a list") end
    local list = {}
    for i, sub in ipairs(v[key]) do
      list[#list + 1] = component_of(kinds, ctx, native, sub, string.format("%s.%s[%d]", field, key, i - 1))
    end
    return function(x)
      for _, f in ipairs(list) do x = f(x) end
      return x
    end
  end
end

return fields
