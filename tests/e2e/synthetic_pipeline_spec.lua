-- The demo's fallback path: the synthetic default model through every verb.
-- It needs nothing from ../shared, so it runs everywhere.

local support = require "support"
local cjson = require "cjson"

describe("synthetic default model through the pipeline", function()
  after_each(function() support.cleanup() end)

  it("describes, runs, scores and calibrates", function()
    local dir = support.tmpdir()
    local _, err, code = support.kiln_run("synth", "-o", dir)
    assert.are.equal(0, code, err)
    local model, tok, text = dir .. "/model.bin", dir .. "/tokenizer.bin", dir .. "/text.txt"

    local out
    out, err, code = support.kiln_run("describe", model)
    assert.are.equal(0, code, err)
    local desc = load(out, "description", "t", {})()
    assert.are.same({ 48, 4, 2, 12, 2 }, { desc.hidden, desc.heads, desc.kv_heads, desc.head_dim, desc.layers })

    -- greedy generation is deterministic
    local first
    first, err, code = support.kiln_run("run", model, "-z", tok, "-t", "0", "-n", "32")
    assert.are.equal(0, code, err)
    assert.are.equal(first, (support.kiln_run("run", model, "-z", tok, "-t", "0", "-n", "32")))

    out, err, code = support.kiln_run("ppl", model, "-z", tok, "--text", text, "--max-tokens", "128")
    assert.are.equal(0, code, err)
    local ppl = tonumber(out:match("perplexity (%S+)\n$"))
    -- random weights: confidently wrong, but a finite, positive score
    assert.is_true(ppl > 1 and ppl < math.huge, tostring(ppl))

    local q = dir .. "/q.json"
    _, err, code = support.kiln_run("calib", model, "-z", tok, "--text", text, "--samples", "8",
      "--decode-steps", "4", "--preset", "w8a8", "-o", q)
    assert.are.equal(0, code, err)
    local doc = cjson.decode(support.read(q))
    local n = 0
    for _ in pairs(doc.observers) do n = n + 1 end
    assert.are.equal(2 * 64 + 11, n)
    assert.are.equal(8 * 4, doc.calibration.decode_tokens)
  end)

  -- the verbs the stories260K specs cover, on the model a checkout alone has
  it("encodes and decodes with its tokenizer, and ablates calibration choices", function()
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir)
    local model, tok, text = dir .. "/model.bin", dir .. "/tokenizer.bin", dir .. "/text.txt"
    local ids = support.kiln_ok("encode", tok, "--vocab", "384", "Once upon a time")
    assert.matches("^[%d ]+\n$", ids)
    local args = { "decode", tok, "--vocab", "384" }
    for id in ids:gmatch("%d+") do args[#args + 1] = id end
    assert.are.equal(" Once upon a time", (support.kiln_ok(table.unpack(args))):gsub("\n$", ""))
    local out = dir .. "/ablate"
    local report = support.kiln_ok("ablate", model, "-z", tok, "--calib-text", text, "--eval-text", text,
      "--calib-range", "0:6", "--eval-range", "6:10", "--samples", "2", "--repeats", "2", "--decode-steps", "2",
      "--max-tokens", "48", "--prompt-len", "16", "-o", out)
    assert.matches("no winner", report)
    local results = cjson.decode(support.read(out .. "/results.json"))
    assert.is_true(#results.runs == 8, "runs: " .. #results.runs) -- 2 presets x 2 sources x 2 repeats
    assert.is_true(support.exists(out .. "/index.html"))
  end)
end)
