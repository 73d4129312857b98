-- The model of tokenizer.json: BPE (vocab, ranked merges, byte_fallback,
-- fuse_unk, unk_token, ignore_merges) checked here, its merges run in C
-- (native bpe.c).

local fields = require "read.tokenizer_json.fields"

local bpe_model = {}

local present, refuse = fields.present, fields.refuse

local MODEL_FLAGS = { "byte_fallback", "fuse_unk", "ignore_merges" }

-- bpe_model.of(ctx, native, m) -> the native BPE, { [id] = token }
function bpe_model.of(ctx, native, m)
  if type(m) ~= "table" then refuse(ctx, "model", "missing") end
  if m.type ~= "BPE" then refuse(ctx, "model.type", string.format("%s is not supported (BPE)", tostring(m.type))) end
  if present(m.dropout) and m.dropout ~= 0 then refuse(ctx, "model.dropout", "BPE dropout is not supported") end
  for _, key in ipairs({ "continuing_subword_prefix", "end_of_word_suffix" }) do
    if present(m[key]) and m[key] ~= "" then refuse(ctx, "model." .. key, "is not supported") end
  end
  if type(m.vocab) ~= "table" then refuse(ctx, "model.vocab", "must be an object of token: id") end
  local vocab, by_id = {}, {}
  for token, id in pairs(m.vocab) do
    if type(token) ~= "string" or type(id) ~= "number" or id ~= math.floor(id) or id < 0 or id >= 1 << 24 then
      refuse(ctx, "model.vocab", string.format("entry %q: %s is not a token id", tostring(token), tostring(id)))
    end
    id = math.tointeger(id)
    if by_id[id] then refuse(ctx, "model.vocab", string.format("id %d is given to %q and %q", id, by_id[id], token)) end
    vocab[token], by_id[id] = id, token
  end
  if type(m.merges) ~= "table" then refuse(ctx, "model.merges", "must be a list") end
  local merges = {}
  for i, mg in ipairs(m.merges) do
    if type(mg) == "string" then -- the older "left right" form
      local a, b = mg:match("^(%S+) (%S+)$")
      if not a then refuse(ctx, string.format("model.merges[%d]", i - 1), "is not \"left right\"") end
      merges[i] = { a, b }
    elseif type(mg) == "table" and #mg == 2 and type(mg[1]) == "string" and type(mg[2]) == "string" then
      merges[i] = mg
    else
      refuse(ctx, string.format("model.merges[%d]", i - 1), "is not a pair of tokens")
    end
  end
  local unk
  if present(m.unk_token) then
    unk = vocab[m.unk_token]
    if not unk then refuse(ctx, "model.unk_token", string.format("%q is not in the vocab", tostring(m.unk_token))) end
  end
  local opts = { unk = unk }
  for _, key in ipairs(MODEL_FLAGS) do opts[key] = m[key] == true end
  local bpe, err = native.bpe(vocab, merges, opts)
  if not bpe then refuse(ctx, "model." .. err:match("^(%S+):"), err:gsub("^%S+: ", "")) end
  return bpe, by_id
end

return bpe_model
