-- The layer description: what kiln knows about a model's shape, as a Lua table.
--
-- `kiln describe MODEL` prints it; a human may write one by hand. Keys, in the
-- order they are printed:

local description = {}

description.FIELDS = {
  { "arch",            "model family (llama)" },
  { "hidden",          "hidden size D" },
  { "intermediate",    "MLP intermediate size I" },
  { "heads",           "attention heads H" },
  { "kv_heads",        "key/value heads Hk (GQA when < heads)" },
  { "head_dim",        "per-head size d" },
  { "layers",          "decoder layers" },
  { "vocab",           "vocabulary size" },
  { "rms_eps",         "RMSNorm epsilon" },
  { "rope_theta",      "RoPE base" },
  { "rope_scaling",    "RoPE frequency scaling (transformers' rope_type), if any" },
  { "max_seq",         "longest sequence (static KV cache capacity)" },
  { "prefill_len",     "static prefill block S" },
  { "append_len",      "static append-prefill block Q" },
  { "tied_embeddings", "classifier shares the token embedding" },
  { "bos_id",          "beginning-of-sequence token id" },
  { "eos_id",          "end-of-sequence token id" },
  { "dtype",           "weight dtype as kiln holds them (the checkpoint's, or --dtype)" },
  { "weights",         "where the weights are" },
}

-- Static shapes the generator uses unless told otherwise: small blocks, since
-- a prefill buffer of max_seq tokens does not fit a microcontroller.
function description.with_static_shapes(desc)
  desc.prefill_len = desc.prefill_len or math.min(64, desc.max_seq)
  desc.append_len = desc.append_len or math.min(8, desc.max_seq)
  return desc
end

local function literal(v)
  local kind = type(v)
  if kind == "string" then return string.format("%q", v) end
  if kind == "boolean" then return tostring(v) end
  if math.type(v) == "integer" then return string.format("%d", v) end
  for digits = 6, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then
      if not s:find("[%.eEn]") then s = s .. ".0" end
      return s
    end
  end
  return string.format("%.17g", v)
end

local function render_table(t, indent)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = string.format("%s%s = %s,", indent, k, literal(t[k]))
  end
  return "{\n" .. table.concat(parts, "\n") .. "\n" .. indent:sub(3) .. "}"
end

-- render(desc, source) -> Lua source text that evaluates to desc.
function description.render(desc, source)
  local lines = { "-- kiln layer description" .. (source and (" of " .. source) or ""), "return {" }
  for _, f in ipairs(description.FIELDS) do
    local key, doc = f[1], f[2]
    local v = desc[key]
    if v ~= nil then
      if type(v) == "table" then
        lines[#lines + 1] = string.format("  %s = -- %s\n  %s,", key, doc, render_table(v, "    "))
      else
        lines[#lines + 1] = string.format("  %s = %s, -- %s", key, literal(v), doc)
      end
    end
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

return description
