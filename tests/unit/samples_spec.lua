-- common.encode_prefix: the scoring verbs encode only as much of a story as
-- --max-tokens needs, and the tokens they keep are those of the whole story.

local support = require "support"
local native = require "kiln_native"
local common = require "cli.common"
local stories = require "read.stories"

-- A tokenizer that encodes one token per byte and records the longest text it saw.
local function counting_tokenizer()
  local t = { longest = 0 }
  function t:encode(text)
    self.longest = math.max(self.longest, #text)
    local ids = { 1 }
    for i = 1, #text do ids[#ids + 1] = text:byte(i) end
    return ids
  end
  return t
end

describe("common.encode_prefix", function()
  it("reads a bounded prefix of a huge story, cut between UTF-8 characters", function()
    local tok = counting_tokenizer()
    local story = ("é"):rep(20 * 1000 * 1000) -- 40 MB of two-byte characters
    local ids = common.encode_prefix(tok, story, 64)
    assert.is_true(#ids >= 65)
    assert.is_true(tok.longest <= 8 * (64 + 64), "encoded " .. tok.longest .. " bytes")
    assert.are.equal(0, tok.longest % 2) -- never half a character
  end)

  it("encodes a short story whole, and everything without a limit", function()
    local tok = counting_tokenizer()
    assert.are.equal(11, #common.encode_prefix(tok, "ten bytes!", 64))
    assert.are.equal(100001, #common.encode_prefix(tok, ("x"):rep(100000), nil))
  end)

  it("keeps the tokens of the whole story (stories260K's tokenizers on TinyStories)", function()
    if not support.needs_shared() then return end
    local text = table.concat(stories.read(support.models .. "/tinystories_valid_first100.txt"), " ")
    local desc = { vocab = 512, bos_id = 1, eos_id = 2 }
    for _, path in ipairs({ support.models .. "/tok512.bin", support.models .. "/hf/stories260K-fp32/tokenizer.json" }) do
      local tok = common.open_tokenizer(native, path, desc)
      local whole = tok:encode(text, true, false)
      for _, n in ipairs({ 2, 17, 128, 512, 2000 }) do
        local prefix = common.encode_prefix(tok, text, n)
        for i = 1, n do assert.are.equal(whole[i], prefix[i], path .. ": token " .. i .. " of " .. n) end
      end
    end
  end)
end)
