-- Which runtime kernel computes an op, by the target's rules
-- (rules/<target>.lua, field kernels): the portable kiln_<op> unless the
-- rules name another, whose conditions (listed with it) then must hold.
-- Nothing here knows a target: only the conditions a rules file can state.

local grids = require "plan.grids"

local kernels = {}

-- The kernel for an elementwise op or row (rules.kernels[op] = "name").
function kernels.named(rules, op)
  local k = rules.kernels and rules.kernels[op]
  return type(k) == "string" and k or ("kiln_" .. op)
end

local function listed(list, v)
  if not list then return true end
  for _, item in ipairs(list) do
    if item == v then return true end
  end
  return false
end

-- An entry's condition on a size: { equal = a } or { multiple_of = m } or
-- { equal_or_multiple = { a, m } }, and { below = b }.
local function size_ok(cond, n)
  if not cond then return true end
  if cond.below and n >= cond.below then return false end
  if cond.equal and n ~= cond.equal then return false end
  if cond.multiple_of and n % cond.multiple_of ~= 0 then return false end
  if cond.equal_or_multiple and not (n == cond.equal_or_multiple[1] or n % cond.equal_or_multiple[2] == 0) then
    return false
  end
  return true
end

-- The linear kernel for an input grid, a weight storage, a row length and
-- the output multipliers: the first entry of rules.kernels.linear whose
-- conditions hold (act: input dtypes; weight: storages; act_within_int16;
-- n_in: the row length; rq_shift: {lo, hi} every multiplier's shift must
-- lie in), else the portable kiln_linear_<storage>.
function kernels.linear(rules, x_grid, storage, n_in, rqs)
  for _, k in ipairs(rules.kernels and rules.kernels.linear or {}) do
    local ok = listed(k.act, x_grid.dtype) and listed(k.weight, storage)
      and (grids.within_int16(x_grid) or not k.act_within_int16) and size_ok(k.n_in, n_in)
    if ok and k.rq_shift then
      for _, rq in ipairs(rqs) do
        if rq.shift < k.rq_shift[1] or rq.shift > k.rq_shift[2] then ok = false break end
      end
    end
    if ok then return k end
  end
  return { kernel = "kiln_linear_" .. storage }
end

-- The attention row kernels (rules.kernels.qk_row, pv_row, attention_row:
-- { kernel, head_dim = size condition }), else the portable ones. Row
-- kernels take codes within int16 of their zero points; pv kernels that
-- accumulate in int32 need non-negative probabilities whose codes cannot sum
-- past 2^16: at most 1 / s_p + n / 2 for n keys (each code rounds up by at
-- most half). Returns qk, pv and the whole-row kernel (or nil).
function kernels.attention(rules, desc, q, k, v, probs)
  local all = rules.kernels or {}
  local function usable(entry) return entry and size_ok(entry.head_dim, desc.head_dim) end
  local qk, pv = "kiln_qk_row", "kiln_pv_row"
  if usable(all.qk_row) and grids.within_int16(q) and grids.within_int16(k) then qk = all.qk_row.kernel end
  if usable(all.pv_row) and grids.within_int16(v) and probs.zero_point == 0
    and math.ceil(1 / probs.scale) + desc.max_seq / 2 < 65536 then pv = all.pv_row.kernel end
  local row
  if usable(all.attention_row) and qk ~= "kiln_qk_row" and pv ~= "kiln_pv_row" then row = all.attention_row.kernel end
  return qk, pv, row
end

return kernels
