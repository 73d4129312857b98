-- Real tokenizer.json files against Hugging Face tokenizers' own ids
-- (../shared/tokenizers: GPT-2-style and Llama 3-style byte-level BPE, and
-- stories260K's SentencePiece-style BPE), through `kiln encode`; and
-- stories260K's own tokenizer.json against tok512.bin through run, ppl and
-- calib. Pending without ../shared.

local support = require "support"
local native = require "kiln_native"
local cjson = require "cjson"
local tokenizer_json = require "read.tokenizer_json"

local TOKENIZERS = support.shared .. "/tokenizers"
local HF_MODEL = support.models .. "/hf/stories260K-fp32"
local TOK512 = support.models .. "/tok512.bin"
local STORIES = support.models .. "/tinystories_valid_first100.txt"

local GOLDENS = {
  { name = "bytebpe_gpt2_2048", tokenizer = TOKENIZERS .. "/bytebpe_gpt2_2048.tokenizer.json", byte_level = true },
  { name = "bytebpe_llama3_2048", tokenizer = TOKENIZERS .. "/bytebpe_llama3_2048.tokenizer.json", byte_level = true },
  { name = "stories260K_sp_bpe", tokenizer = HF_MODEL .. "/tokenizer.json" },
}

local function have(path)
  if support.exists(path) then return true end
  pending(path .. " is not there (../shared beside the checkout)")
  return false
end

local function goldens(name)
  local list = {}
  for line in io.lines(TOKENIZERS .. "/" .. name .. ".goldens.jsonl") do list[#list + 1] = cjson.decode(line) end
  return list
end

local ok = support.kiln_ok

describe("tokenizer.json against Hugging Face tokenizers", function()
  after_each(function() support.cleanup() end)

  for _, g in ipairs(GOLDENS) do
    it("kiln encode gives the golden ids on every line of " .. g.name, function()
      local golden = TOKENIZERS .. "/" .. g.name .. ".goldens.jsonl"
      if not (have(golden) and have(g.tokenizer)) then return end
      local lines = {}
      for line in ok("encode", g.tokenizer, "--vocab", "2048", "--jsonl", golden):gmatch("([^\n]*)\n") do
        lines[#lines + 1] = line
      end
      local want = goldens(g.name)
      assert.are.equal(#want, #lines)
      local wrong = {}
      for i, w in ipairs(want) do
        local ids = {}
        for j, id in ipairs(w.ids) do ids[j] = string.format("%d", id) end -- cjson's numbers are floats
        if lines[i] ~= table.concat(ids, " ") then wrong[#wrong + 1] = string.format("%q", w.text) end
      end
      assert.are.same({}, wrong)
      assert.is_true(#want > 100, #want .. " lines")
    end)
  end

  for _, g in ipairs(GOLDENS) do
    if g.byte_level then
      it("decodes every golden of " .. g.name .. " back to its text", function()
        if not have(g.tokenizer) then return end
        local tok = tokenizer_json.open(native, g.tokenizer)
        local differ = {}
        for _, w in ipairs(goldens(g.name)) do
          if tok:decode_ids(tok:encode(w.text)) ~= w.text then differ[#differ + 1] = string.format("%q", w.text) end
        end
        assert.are.same({}, differ)
        -- and through the CLI, for one line with a special token and one with emoji
        assert.are.equal("The end.<|endoftext|>Next\n", ok("decode", g.tokenizer,
          table.unpack((function()
            local ids = {}
            for id in ok("encode", g.tokenizer, "The end.<|endoftext|>Next"):gmatch("%d+") do ids[#ids + 1] = id end
            return ids
          end)())))
      end)
    end
  end
end)

describe("stories260K's tokenizer.json against tok512.bin", function()
  after_each(function() support.cleanup() end)

  it("kiln run prints the same text with the model's own tokenizer.json as with -z tok512.bin", function()
    if not (have(HF_MODEL .. "/tokenizer.json") and have(TOK512)) then return end
    local own = ok("run", HF_MODEL, "-t", "0", "-n", "200")
    assert.are.equal(ok("run", HF_MODEL, "-z", TOK512, "-t", "0", "-n", "200"), own)
    assert.are.equal(support.read(support.models .. "/stories260K_ref_t0_n200.txt"), own)
    local prompt = ok("run", HF_MODEL, "-z", HF_MODEL, "-t", "0", "-n", "40", "-i", "Once upon a time")
    assert.are.equal(ok("run", HF_MODEL, "-z", TOK512, "-t", "0", "-n", "40", "-i", "Once upon a time"), prompt)
  end)

  it("encodes the first 100 stories as tok512.bin does, and ppl and calib agree (--tokens too)", function()
    if not (have(HF_MODEL .. "/tokenizer.json") and have(TOK512) and have(STORIES)) then return end
    local dir = support.tmpdir()
    local stories = require("read.stories").read(STORIES)
    local lines = {}
    for i, s in ipairs(stories) do lines[i] = cjson.encode(s) end
    support.write(dir .. "/stories.jsonl", table.concat(lines, "\n") .. "\n")
    local ids = ok("encode", HF_MODEL, "--bos", "--jsonl", dir .. "/stories.jsonl")
    assert.are.equal(ok("encode", TOK512, "--vocab", "512", "--bos", "--jsonl", dir .. "/stories.jsonl"), ids)
    support.write(dir .. "/stories.tok", ids)

    local ppl = ok("ppl", HF_MODEL, "--text", STORIES)
    assert.matches("perplexity 3.5794\n", ppl, 1, true)
    assert.are.equal(ok("ppl", HF_MODEL, "-z", TOK512, "--text", STORIES), ppl)
    assert.are.equal(ok("ppl", HF_MODEL, "--tokens", dir .. "/stories.tok"), ppl)

    local function calib(name, ...)
      ok("calib", HF_MODEL, "--samples", "4", "--decode-steps", "2", "-o", dir .. "/" .. name .. ".json", ...)
      local text = support.read(dir .. "/" .. name .. ".json")
      local at = assert(text:find('"observers"', 1, true))
      return text:sub(at), cjson.decode(text).calibration
    end
    local own, own_settings = calib("own", "--text", STORIES)
    assert.are.equal(own, (calib("bin", "-z", TOK512, "--text", STORIES)))
    local tokens, tokens_settings = calib("tokens", "--tokens", dir .. "/stories.tok")
    assert.are.equal(own, tokens)
    -- the record says where the samples came from
    assert.matches("tokenizer.json", cjson.encode(own_settings), 1, true)
    assert.matches("stories.tok", cjson.encode(tokens_settings), 1, true)
  end)

  it("differs from run.c only on a leading space: run.c adds its dummy prefix anyway", function()
    if not (have(HF_MODEL .. "/tokenizer.json") and have(TOK512)) then return end
    local json_ids = ok("encode", HF_MODEL, "  two  spaces", "a  b")
    local bin_ids = ok("encode", TOK512, "--vocab", "512", "  two  spaces", "a  b")
    local j1, j2 = json_ids:match("^([^\n]*)\n([^\n]*)\n$")
    local b1, b2 = bin_ids:match("^([^\n]*)\n([^\n]*)\n$")
    assert.are.equal(j2, b2)
    assert.are.equal("410 " .. j1, b1)
  end)

  it("refuses what cannot be a tokenizer or a sample, in one line", function()
    if not have(HF_MODEL .. "/tokenizer.json") then return end
    local dir = support.tmpdir()
    local _, err, code = support.kiln_run("ppl", support.models .. "/stories260K.bin", "--text", STORIES)
    assert.are.equal(2, code)
    assert.matches("^kiln: %-z: the model has no tokenizer.json of its own", err)
    _, err, code = support.kiln_run("ppl", HF_MODEL)
    assert.are.equal(2, code)
    assert.matches("--text FILE or --tokens FILE", err, 1, true)
    _, err, code = support.kiln_run("encode", dir, "x") -- a folder without tokenizer.json
    assert.are.equal(1, code)
    assert.matches("^kiln: [^\n]*: cannot read: Is a directory\n$", err)
    support.write(dir .. "/bad.tok", "1 2 3\n1 512\n")
    _, err, code = support.kiln_run("ppl", HF_MODEL, "--tokens", dir .. "/bad.tok")
    assert.are.equal(1, code)
    assert.matches("^kiln: [^\n]*bad.tok: line 2: '512' is not a token id of the model's 512\n$", err)
    support.write(dir .. "/q.json", "keep me")
    _, err, code = support.kiln_run("calib", HF_MODEL, "--tokens", dir .. "/bad.tok", "-o", dir .. "/q.json")
    assert.are.equal(1, code)
    assert.are.equal("keep me", support.read(dir .. "/q.json"))
    assert.matches("line 2", err, 1, true)
  end)
end)
