-- RoPE's frequencies and their scalings (gen/model/rope.lua, runtime/float/
-- model.c) against transformers' formulas, written out here in float32 step
-- by step (each Python number rounded as it meets a float32 tensor); and the
-- config.json forms that select them.

local native = require "kiln_native"
local rope = require "model.rope"
local f32 = require "util.f32"
local detmath = require "util.detmath"

local R, M = f32.round, f32.mul

-- transformers' inv_freq for one index, then its scaling.
local function inv_freq(i, dim, desc)
  local e = f32.div(2 * i, dim)
  local inv = f32.div(1, R(detmath.exp(e * detmath.log(desc.rope_theta))))
  local s = desc.rope_scaling
  if not s then return inv end
  if s.type == "linear" then return f32.div(inv, s.factor) end
  local low_w, high_w = R(s.original_max_position_embeddings / s.low_freq_factor),
    R(s.original_max_position_embeddings / s.high_freq_factor)
  local wav = f32.div(R(2 * math.pi), inv)
  local scaled = wav > low_w and f32.div(inv, s.factor) or inv
  if wav < high_w or wav > low_w then return scaled end
  local smooth = f32.div(f32.sub(f32.div(s.original_max_position_embeddings, wav), s.low_freq_factor),
    R(s.high_freq_factor - s.low_freq_factor))
  return f32.add(f32.div(M(f32.sub(1, smooth), scaled), s.factor), M(smooth, scaled))
end

local CASES = {
  { name = "default", desc = { rope_theta = 10000.0 } },
  { name = "linear", desc = { rope_theta = 10000.0, rope_scaling = { type = "linear", factor = 4.0 } } },
  { name = "llama3", desc = { rope_theta = 500000.0, rope_scaling = { type = "llama3", factor = 32.0,
    low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192 } } },
}

describe("RoPE frequencies", function()
  for _, c in ipairs(CASES) do
    it("match transformers' " .. c.name .. " rope_type (sin of one position's angle, within 1e-6)", function()
      local dim, pos = 64, 7
      local _, sin = native.rope_tables(pos + 1, dim, rope.native(c.desc))
      for i = 0, dim // 2 - 1 do
        local angle = M(pos, inv_freq(i, dim, c.desc))
        local want = math.sin(angle)
        local got = sin:get(pos * dim + dim // 2 + i + 1) -- the second half holds +sin
        assert.is_true(math.abs(got - want) <= 1e-6 * math.max(1e-3, math.abs(want)),
          string.format("i=%d: %.9g, want %.9g", i, got, want))
      end
    end)
  end

  it("read rope_parameters (transformers 5) and rope_theta/rope_scaling (4.x) alike", function()
    local theta, s = rope.from_hf_config("c.json", { rope_parameters = { rope_theta = 5e5, rope_type = "llama3",
      factor = 8, low_freq_factor = 1, high_freq_factor = 4, original_max_position_embeddings = 8192 } })
    local theta4, s4 = rope.from_hf_config("c.json", { rope_theta = 5e5, rope_scaling = { type = "llama3",
      factor = 8, low_freq_factor = 1, high_freq_factor = 4, original_max_position_embeddings = 8192 } })
    assert.are.same({ theta, s }, { theta4, s4 })
    assert.are.equal(10000.0, (rope.from_hf_config("c.json", {})))
    assert.is_nil(select(2, rope.from_hf_config("c.json", { rope_parameters = { rope_type = "default" } })))
    local ok, err = pcall(rope.from_hf_config, "c.json", { rope_scaling = { rope_type = "llama3", factor = 8 } })
    assert.is_false(ok)
    assert.matches("c.json: rope_scaling.low_freq_factor: nil is not a positive number", tostring(err), 1, true)
  end)
end)
