-- The float reference on stories260K against llama2.c's run.c: text byte for
-- byte, logits within 1e-4, and the reference perplexity.

local support = require "support"
local native = require "kiln_native"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"

local function greedy_ids()
  for line in io.lines(support.models .. "/stories260K_ref_token_ids.txt") do
    local s = line:match("^greedy_ids_from_bos: (.*)$")
    if s then
      local ids = {}
      for x in s:gmatch("%d+") do ids[#ids + 1] = tonumber(x) end
      return ids
    end
  end
end

describe("float reference on stories260K", function()
  after_each(function() support.cleanup() end)

  it("prints run.c's greedy text for -t 0 -n 200, byte for byte", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("run", MODEL, "-z", TOK, "-t", "0", "-n", "200")
    assert.are.equal(0, code, err)
    assert.are.equal(support.read(support.models .. "/stories260K_ref_t0_n200.txt"), out)
  end)

  it("stops at BOS like run.c (-n 512 ends after 346 steps)", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("run", MODEL, "-z", TOK, "-t", "0", "-n", "512", "-i", "Once upon a time")
    assert.are.equal(0, code, err)
    assert.are.equal(support.read(support.models .. "/stories260K_ref_t0_n512.txt"), out)
  end)

  it("samples like run.c with -t 1 -p 0.9 -s 133742", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("run", MODEL, "-z", TOK, "-t", "1.0", "-p", "0.9", "-s", "133742")
    assert.are.equal(0, code, err)
    assert.are.equal(support.read(support.models .. "/stories260K_ref_t1_p0.9_s133742.txt"), out)
  end)

  it("matches run.c's logits at positions 0-31 within 1e-4", function()
    if not support.needs_shared() then return end
    local model = float_model.load(native, checkpoint.open(MODEL))
    local ids = greedy_ids()
    local ref = support.read(support.models .. "/stories260K_ref_logits_pos0-31.f32")
    local worst_step, worst_prefill = 0, 0
    -- token by token, as run.c runs
    for p = 0, 31 do
      local logits = model.native:forward({ ids[p + 1] }, p, false):to_table()
      for j = 1, 512 do
        local r = string.unpack("<f", ref, (p * 512 + j - 1) * 4 + 1)
        worst_step = math.max(worst_step, math.abs(r - logits[j]))
      end
    end
    -- and as one 32-token prefill
    local logits = model.native:forward(table.move(ids, 1, 32, 1, {}), 0, true):to_table()
    for i = 1, 32 * 512 do
      local r = string.unpack("<f", ref, (i - 1) * 4 + 1)
      worst_prefill = math.max(worst_prefill, math.abs(r - logits[i]))
    end
    assert.is_true(worst_step < 1e-4, "token by token: max |diff| " .. worst_step)
    assert.is_true(worst_prefill < 1e-4, "prefill: max |diff| " .. worst_prefill)
  end)

  it("has the reference perplexity on the first 100 validation stories", function()
    if not support.needs_shared() then return end
    local out, err, code = support.kiln_run("ppl", MODEL, "-z", TOK,
      "--text", support.models .. "/tinystories_valid_first100.txt")
    assert.are.equal(0, code, err)
    local last = out:match("([^\n]*)\n$")
    local ppl = tonumber(last:match("^perplexity (%S+)$"))
    assert.is_number(ppl, "last line: " .. tostring(last))
    assert.is_true(math.abs(ppl - 3.5794) <= 0.005, "perplexity " .. ppl)
    assert.matches("predicted_tokens 32997\n", out, 1, true)
  end)
end)
