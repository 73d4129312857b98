-- Static scratch memory: each buffer of a plan lives from the step that
-- writes it first to the step that reads it last; buffers whose lifetimes do
-- not overlap share memory. First fit, in order of first use, aligned.

local arena = {}

-- place(buffers, align) -> total words; sets buffer.offset.
function arena.place(buffers, align)
  local placed, total = {}, 0
  local order = {}
  for i, b in ipairs(buffers) do order[i] = b end
  table.sort(order, function(a, b)
    if a.first ~= b.first then return a.first < b.first end
    return a.name < b.name
  end)
  for _, b in ipairs(order) do
    local live = {}
    for _, p in ipairs(placed) do
      if not (p.last < b.first or b.last < p.first) then live[#live + 1] = p end
    end
    table.sort(live, function(x, y) return x.offset < y.offset end)
    local offset = 0
    for _, p in ipairs(live) do
      if offset + b.words <= p.offset then break end
      offset = math.max(offset, p.offset + p.words)
      offset = (offset + align - 1) // align * align
    end
    b.offset = offset
    placed[#placed + 1] = b
    total = math.max(total, offset + b.words)
  end
  return (total + align - 1) // align * align
end

return arena
