-- The fuzzers' seeds and every input that once failed (tests/fuzz/corpus,
-- tests/fuzz/regressions) through their targets with the ordinary native
-- module: each is read or refused in one line, never an internal error.
-- (make test-sanitize replays them under the sanitizers too.)

local driver = assert(loadfile("tests/fuzz/driver.lua"))

local function files_under(dir)
  local list = {}
  local p = io.popen("find " .. dir .. " -type f 2>/dev/null | sort")
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

describe("fuzz corpora and regressions", function()
  local scratch = os.tmpname()
  os.remove(scratch)
  teardown(function() os.execute("rm -rf '" .. scratch .. "'") end)

  for _, target in ipairs({ "llama2c", "gguf", "safetensors", "hf", "tokenizer_bin", "tokenizer_json", "regex", "unicode",
    "bpe" }) do
    it(target .. ": read or refused in one line", function()
      local run = driver(".", target, scratch)
      local inputs = files_under("tests/fuzz/corpus/" .. target)
      assert.is_true(#inputs > 0)
      for _, f in ipairs(files_under("tests/fuzz/regressions/" .. target)) do inputs[#inputs + 1] = f end
      for _, path in ipairs(inputs) do
        local h = assert(io.open(path, "rb"))
        local data = h:read("a")
        h:close()
        local ok, message = run(data)
        assert(ok, path .. ": " .. tostring(message))
        if path:match("/corpus/") then assert.is_nil(message, path) end -- the seeds are valid
        if message then assert.matches("^[^\n]+$", message) end
      end
    end)
  end

  it("the CLI mutator's failing inputs (tests/fuzz/cli_corpus): each refused in one line", function()
    local p = io.popen("lua5.4 tests/fuzz/cli_mutator.lua --replay tests/fuzz/cli_corpus 2>&1")
    local out = p:read("a")
    p:close()
    assert.matches("0 accepted, (%d+) refused in one line, 0 failed", out)
    assert.is_nil(out:match(" 0 refused"), out)
  end)
end)
