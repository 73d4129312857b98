-- The embedding's constants in a generated model: the token table's codes on
-- their own grids, each row's zero point, and the multipliers that take a
-- row to the first layer's input grid; shared with a tied classifier's
-- table when the two agree.

local qparams = require "calib.qparams"
local grids = require "plan.grids"
local fixed = require "plan.fixed"
local f32 = require "util.f32"

local embedding = {}

local function same_qparams(a, b)
  if a.dtype ~= b.dtype or type(a.scale) ~= type(b.scale) then return false end
  if type(a.scale) ~= "table" then return a.scale == b.scale and a.zero_point == b.zero_point end
  if #a.scale ~= #b.scale then return false end
  for r = 1, #a.scale do
    if a.scale[r] ~= b.scale[r] or a.zero_point[r] ~= b.zero_point[r] then return false end
  end
  return true
end

-- The embedding's constants: the table's codes on its own grids
-- (model.embed_tokens.weight, one per vocabulary row), each row's zero point,
-- and the multipliers that take a row to model.embed_tokens.act_out, layer
-- 0's input grid. A tied model whose classifier has the same qparams and
-- keeps its codes in rows shares the classifier's table (stored once).
function embedding.constants(consts, tensor, qp, desc, head_weight)
  local o = qp.observers["model.embed_tokens.weight"]
  local wg = grids.of(qp, "model.embed_tokens.weight")
  local act = grids.of(qp, "model.embed_tokens.act_out")
  local ctype = o.dtype == "int16" and "s16" or (qparams.DTYPES[o.dtype].signed and "s8" or "u8")
  local scales, zps = o.scale, o.zero_point
  if type(scales) ~= "table" then
    scales, zps = {}, {}
    for r = 1, desc.vocab do scales[r], zps[r] = o.scale, o.zero_point end
  end
  local table_name, zp_name, note
  if desc.tied_embeddings and head_weight and head_weight.layout == "rows" and head_weight.storage == ctype
    and same_qparams(o, qp.observers["lm_head.weight"]) then
    table_name, zp_name = head_weight.codes, head_weight.zp
    note = head_weight.codes .. ", the classifier's table (tied, same qparams)"
  else
    table_name = consts:packed("EMBEDDING", ctype, tensor:quantize(scales, zps, wg.qmin, wg.qmax, ctype),
      string.format("token embedding [%d][%d] on model.embed_tokens.weight: %s %s", desc.vocab, desc.hidden,
        o.dtype, o.qscheme), nil,
      { tensor = "model.embed_tokens.weight", dtype = o.dtype, shape = { desc.vocab, desc.hidden }, layout = "rows" })
    zp_name = consts:array("EMBEDDING_ZP", "s32", zps, "per-row zero points of model.embed_tokens.weight")
    note = "EMBEDDING"
  end
  local inv = f32.div(1.0, act.scale)
  local rqs = {}
  for r, s in ipairs(scales) do
    rqs[r] = fixed.rq(s * inv, not fixed.rq_fits(s * inv)
      and string.format("s_row[%d] * (1/s_act_out) of model.embed_tokens.weight", r - 1) or nil)
  end
  return {
    ctype = ctype, table = table_name, zp = zp_name, note = note,
    rq = consts:rq_array("EMBEDDING_RQ", rqs, "s_row * (1/s_act_out): model.embed_tokens.weight to .act_out"),
    grid = consts:grid("EMBEDDING_GRID", act),
  }
end

return embedding
