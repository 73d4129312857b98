-- The added tokens of tokenizer.json: read from its added_tokens list, and
-- split out of a text (lstrip, rstrip, single_word) before anything else
-- sees it; normalized ones are looked for in the normalized text.

local fields = require "read.tokenizer_json.fields"

local added_tokens = {}

local present, refuse = fields.present, fields.refuse

local function is_space(c)
  return c == " " or c == "\t" or c == "\n" or c == "\r" or c == "\v" or c == "\f"
end

-- Splits s at the added tokens of list (leftmost, longest at a position),
-- as tokenizers' AddedVocabulary does; returns pieces { text, first } and
-- tokens { id }.
function added_tokens.split(list, piece)
  if #list == 0 then return { piece } end
  local s, out, at = piece.text, {}, 1
  local pos = 1
  while pos <= #s do
    local best, best_a, best_b
    for _, tok in ipairs(list) do
      local a, b = s:find(tok.content, pos, true)
      if a and (not best_a or a < best_a or (a == best_a and b > best_b)) then best, best_a, best_b = tok, a, b end
    end
    if not best then break end
    local a, b = best_a, best_b
    local ok = true
    if best.single_word then
      local before, after = s:sub(a - 1, a - 1), s:sub(b + 1, b + 1)
      ok = (a == 1 or not before:match("[%w_]")) and (b == #s or not after:match("[%w_]"))
    end
    if ok then
      if best.lstrip then
        while a > at and is_space(s:sub(a - 1, a - 1)) do a = a - 1 end
      end
      if best.rstrip then
        while b < #s and is_space(s:sub(b + 1, b + 1)) do b = b + 1 end
      end
      if a > at then out[#out + 1] = { text = s:sub(at, a - 1), first = piece.first and at == 1 } end
      out[#out + 1] = { id = best.id }
      at = b + 1
      pos = at
    else
      pos = best_a + 1
    end
  end
  if at <= #s then out[#out + 1] = { text = s:sub(at), first = piece.first and at == 1 } end
  return out
end

-- Reads doc.added_tokens into by_id ({ [id] = token }, the vocab's) and the
-- two lists: raw (looked for in the text as it is) and normalized.
function added_tokens.read(ctx, doc, by_id, raw, normalized)
  if not present(doc.added_tokens) then return end
  if type(doc.added_tokens) ~= "table" then refuse(ctx, "added_tokens", "must be a list") end
  for i, a in ipairs(doc.added_tokens) do
    local field = string.format("added_tokens[%d]", i - 1)
    if type(a) ~= "table" or type(a.content) ~= "string" or a.content == "" or type(a.id) ~= "number" then
      refuse(ctx, field, "needs an id and a non-empty content")
    end
    local id = math.tointeger(a.id)
    if not id or id < 0 then refuse(ctx, field .. ".id", tostring(a.id) .. " is not a token id") end
    if by_id[id] and by_id[id] ~= a.content then
      refuse(ctx, field .. ".id", string.format("%d is %q in the vocab", id, by_id[id]))
    end
    by_id[id] = a.content
    local entry = { id = id, content = a.content, lstrip = a.lstrip == true, rstrip = a.rstrip == true,
      single_word = a.single_word == true }
    local list = (a.normalized == true and not a.special) and normalized or raw
    list[#list + 1] = entry
  end
end

return added_tokens
