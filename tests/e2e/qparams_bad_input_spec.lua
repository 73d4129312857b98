-- Bad qparams (and the inputs calib and run read with them), on the synthetic
-- model: each is refused in one line naming the file and the field or
-- observer, exit 1 or 2 (never 70, an internal error), and an existing -o
-- output is left as it was. The cases go by class (every numeric field of
-- several kinds of observer, each way of being wrong), not by a list of
-- the values issue 15 happened to find.

local support = require "support"
local cjson = require "cjson"

local function assert_refused(err, code, ...)
  assert.is_true(code == 1 or code == 2, "exit " .. tostring(code) .. ": " .. err)
  -- under make test-sanitize, ASan says so when it returns NULL for an allocation too large
  err = err:gsub("^==%d+==WARNING: AddressSanitizer failed to allocate[^\n]*\n", "")
  assert.matches("^kiln: [^\n]+\n$", err)
  for _, fragment in ipairs({ ... }) do assert.matches(fragment, err, 1, true) end
end

-- One observer of each kind the planner lowers differently.
local OBSERVERS = {
  "model.embed_tokens.act_out", -- the embedding's multipliers
  "model.layers.0.input_layernorm.act_in", -- RMSNorm's input (its eps term)
  "model.layers.0.self_attn.softmax", -- 2^-31 * (1/s_probs)
  "model.layers.0.mlp.act_fn.act_in", -- sigmoid's exp table
  "model.layers.1.mlp_residual_out", -- an add
  "lm_head.act_out",
  "model.layers.0.self_attn.q_proj.weight", -- per channel
  "model.layers.0.post_attention_layernorm.weight", -- a norm's gamma
}

-- A field's value, or its first channel's for a per-channel observer.
local function set(o, field, v)
  if type(o[field]) == "table" then o[field][1] = v else o[field] = v end
end

describe("bad qparams", function()
  local dir, model, base, out
  local function setup_model()
    if model then return end
    dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir .. "/s")
    model = dir .. "/s/model.bin"
    base = dir .. "/q.json"
    support.kiln_ok("calib", model, "-z", dir .. "/s/tokenizer.bin", "--text", dir .. "/s/text.txt", "--samples", "2",
      "-o", base)
  end
  before_each(function()
    setup_model()
    out = dir .. "/out"
    os.execute("rm -rf " .. support.quote(out))
    os.execute("mkdir -p " .. support.quote(out))
    support.write(out .. "/.kiln-output", "") -- an earlier kiln output, with a file of the reader's in it
    support.write(out .. "/marker", "keep me")
  end)
  teardown(function() support.cleanup() end)

  local function unchanged()
    assert.are.equal("keep me", support.read(out .. "/marker"))
    local ok, listing = support.sh("ls -A " .. support.quote(out))
    assert.is_true(ok)
    assert.are.equal(".kiln-output\nmarker\n", listing)
  end

  -- gen with the base file changed by edit(doc); asserts the refusal
  local function refused(edit, ...)
    local doc = cjson.decode(support.read(base))
    edit(doc)
    local bad = dir .. "/bad.json"
    support.write(bad, cjson.encode(doc))
    local _, err, code = support.kiln_run("gen", model, "--qparams", bad, "-o", out)
    assert_refused(err, code, bad .. ": ", ...)
    unchanged()
    return err
  end

  it("the calibrated file itself is accepted (the cases below change one thing)", function()
    local _, err = support.kiln_ok("gen", model, "--qparams", base, "-o", out)
    assert.matches("kiln gen: out for portable", err, 1, true)
  end)

  it("scales that are not finite positive normal float32, or that the runtime cannot lower", function()
    local values = { 1e-30, 1e30, 1e10, 1e-10, 1e-40, 0, -1, "0.1", cjson.null, true, {} }
    for _, name in ipairs(OBSERVERS) do
      for _, v in ipairs(values) do
        refused(function(doc) set(doc.observers[name], "scale", v) end, name)
      end
      refused(function(doc) doc.observers[name].scale = nil end, name, "missing")
    end
  end)

  it("scales consistent with their min/max but whose multipliers the runtime cannot hold", function()
    -- each grid as wide as its range says: the reader takes it, the planner
    -- cannot lower the ratios to the next grid (2^-65 .. 2^31, RMSNorm's eps
    -- term, an add's 2^-33 .. 2^30)
    for _, name in ipairs({ "model.embed_tokens.act_out", "model.layers.0.mlp.act_fn.act_in",
      "model.layers.1.mlp_residual_out", "lm_head.act_out" }) do
      for _, s in ipairs({ 1e30, 1e20 }) do
        local err = refused(function(doc)
          local o = doc.observers[name]
          o.scale, o.min, o.max = s, -s * 32767, s * 32767
        end)
        assert.matches("the runtime", err, 1, true)
      end
    end
  end)

  it("a weight channel's scale of 1e10 or 1e30, with its range or without", function()
    local w = "model.layers.0.mlp.down_proj.weight"
    for _, s in ipairs({ 1e10, 1e30 }) do
      refused(function(doc) doc.observers[w].scale[3] = s end, w .. ": scale", "in channel 2")
      -- a range that gives that scale: the planner's multiplier for row 2 is refused
      local err = refused(function(doc)
        local o = doc.observers[w]
        o.scale[3], o.zero_point[3], o.min[3], o.max[3] = s, 0, 0, s * 255
      end, w)
      assert.matches("s_w[row 2]", err, 1, true)
    end
  end)

  it("lm_head.act_out at scale 1e10 (every logit 0, only token 0) is refused", function()
    refused(function(doc) doc.observers["lm_head.act_out"].scale = 1e10 end, "lm_head.act_out", "times")
  end)

  it("zero points that are not integers in the dtype's range, shown as the file has them", function()
    for _, name in ipairs({ "model.layers.0.self_attn.q_proj.weight", "lm_head.act_out" }) do
      for _, v in ipairs({ 1e20, -1e20, 0.5, 40000, -40000, "0", cjson.null, false }) do
        refused(function(doc) set(doc.observers[name], "zero_point", v) end, name, "zero_point")
      end
    end
    local err = refused(function(doc) doc.observers["lm_head.act_out"].zero_point = "0" end)
    assert.matches('zero_point "0" (a string)', err, 1, true)
  end)

  it("min/max that are missing, not numbers, or min > max", function()
    for _, name in ipairs(OBSERVERS) do
      for _, field in ipairs({ "min", "max" }) do
        for _, v in ipairs({ "a", cjson.null, true }) do
          refused(function(doc) set(doc.observers[name], field, v) end, name, field)
        end
        refused(function(doc) doc.observers[name][field] = nil end, name, field .. " is missing")
      end
      refused(function(doc)
        local o = doc.observers[name]
        local lo = type(o.min) == "table" and o.min[1] or o.min
        local hi = type(o.max) == "table" and o.max[1] or o.max
        set(o, "min", hi + 1)
        set(o, "max", lo - 1)
      end, name, "> max")
    end
  end)

  it("axis, dtype and qscheme of the wrong type, with a message that tells a string from a number", function()
    local w = "model.layers.0.self_attn.q_proj.weight"
    local err = refused(function(doc) doc.observers[w].axis = "0" end, w)
    assert.matches('axis "0" (a string)', err, 1, true)
    refused(function(doc) doc.observers[w].axis = 1 end, w, "axis 1")
    refused(function(doc) doc.observers["lm_head.act_out"].axis = 0 end, "lm_head.act_out", "per-tensor")
    refused(function(doc) doc.observers["lm_head.act_out"].dtype = { "int16" } end, "lm_head.act_out", "dtype")
    refused(function(doc) doc.observers["lm_head.act_out"].qscheme = 7 end, "lm_head.act_out", "qscheme")
  end)

  it("a model block whose values have another type than the model's", function()
    local err = refused(function(doc) doc.model.hidden = "48" end, "model.hidden")
    assert.matches('"48" (a string) in the file, but 48 in the model', err, 1, true)
    refused(function(doc) doc.model = "llama" end, "model")
    refused(function(doc) doc.model.sha256 = 12 end, "model.sha256")
  end)

  it("an observer of a layer the model does not have", function()
    refused(function(doc)
      doc.observers["model.layers.9.mlp.act_fn.act_in"] = doc.observers["model.layers.0.mlp.act_fn.act_in"]
    end, "model.layers.9.mlp.act_fn.act_in")
  end)

  it("an observer (or a field of one) given twice", function()
    local text = support.read(base)
    for _, key in ipairs({ "model.layers.0.mlp.act_fn.act_in", "scale" }) do
      -- the first entry of that key repeated right after itself
      local at = assert(text:find('"' .. key .. '": ', 1, true))
      local value_end = key == "scale" and text:find(",", at, true) or select(2, text:find("%b{}", at))
      local entry = text:sub(at, value_end)
      local bad = dir .. "/bad.json"
      support.write(bad, text:sub(1, value_end) .. (key == "scale" and " " or ", ") .. entry .. text:sub(value_end + 1))
      local _, err, code = support.kiln_run("gen", model, "--qparams", bad, "-o", out)
      assert_refused(err, code, bad .. ": " .. key .. ": appears twice")
      unchanged()
    end
  end)

  it("qparams made for another checkpoint: refused, or with --allow-other-checkpoint used and recorded", function()
    local other = dir .. "/other.bin"
    local bytes = support.read(model)
    -- the same shapes, one weight different
    support.write(other, bytes:sub(1, 40) .. string.pack("<f", 0.125) .. bytes:sub(45))
    local _, err, code = support.kiln_run("gen", other, "--qparams", base, "-o", out)
    assert_refused(err, code, base .. ": model.sha256: ", "--allow-other-checkpoint")
    unchanged()
    for _, verb in ipairs({ "run", "ppl", "eval" }) do
      local argv = { verb, other, "--qparams", base, "-z", dir .. "/s/tokenizer.bin" }
      if verb ~= "run" then argv[#argv + 1] = "--text"; argv[#argv + 1] = dir .. "/s/text.txt" end
      if verb == "run" then argv[#argv + 1] = "-n"; argv[#argv + 1] = "2" end
      local _, verr, vcode = support.kiln_run(table.unpack(argv))
      assert_refused(verr, vcode, base .. ": model.sha256: ")
    end
    local _, ok_err = support.kiln_ok("gen", other, "--qparams", base, "-o", out, "--allow-other-checkpoint")
    assert.matches("not this checkpoint", ok_err, 1, true)
    assert.matches("used with --allow-other-checkpoint", support.read(out .. "/kiln_model.h"), 1, true)
  end)
end)

describe("calib writes only what gen takes", function()
  after_each(function() support.cleanup() end)

  -- the synthetic model's weights through f (each float32 of the file after the header)
  local function transformed(dir, name, f)
    local bytes = support.read(dir .. "/s/model.bin")
    local parts = { bytes:sub(1, 28) }
    for i = 29, #bytes - 3, 4 do parts[#parts + 1] = string.pack("<f", f(string.unpack("<f", bytes, i))) end
    local path = dir .. "/" .. name
    support.write(path, table.concat(parts))
    return path
  end

  it("on an all-zero checkpoint and on weights scaled by 1e-20: a warning, then gen succeeds", function()
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir .. "/s")
    for name, f in pairs({ ["zero.bin"] = function() return 0.0 end, ["tiny.bin"] = function(x) return x * 1e-20 end }) do
      local m = transformed(dir, name, f)
      local q = dir .. "/" .. name .. ".json"
      local _, err = support.kiln_ok("calib", m, "-z", dir .. "/s/tokenizer.bin", "--text", dir .. "/s/text.txt",
        "--samples", "2", "--preset", "w8a8", "-o", q)
      assert.matches("warning: %d+ observers saw a degenerate range", err)
      support.kiln_ok("gen", m, "--qparams", q, "-o", dir .. "/out-" .. name)
    end
  end)

  it("a calibration gen could not lower is refused before anything is written", function()
    local dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir .. "/s")
    local m = transformed(dir, "huge.bin", function(x) return math.max(math.min(x * 1e36, 3e38), -3e38) end)
    local q = dir .. "/q.json"
    support.write(q, "keep me")
    local _, err, code = support.kiln_run("calib", m, "-z", dir .. "/s/tokenizer.bin", "--text", dir .. "/s/text.txt",
      "--samples", "2", "-o", q)
    -- the warning about degenerate ranges comes first; the refusal is the last line
    assert.is_true(code == 1, err)
    assert.matches("\nkiln: " .. m:gsub("%p", "%%%0") .. ": [^\n]+ is not written: [^\n]+\n$", err)
    assert.are.equal("keep me", support.read(q))
  end)
end)

describe("bad checkpoints and texts around qparams", function()
  local dir
  before_each(function()
    dir = support.tmpdir()
    support.kiln_ok("synth", "-o", dir .. "/s")
  end)
  after_each(function() support.cleanup() end)

  local function header(bytes) return { string.unpack("<i4i4i4i4i4i4i4", bytes) } end

  it("CRLF story separators, or a marker beside text, are refused naming the line", function()
    local q = dir .. "/q.json"
    support.write(q, "keep me")
    local crlf, inline = dir .. "/crlf.txt", dir .. "/inline.txt"
    support.write(crlf, "Once upon a time.\r\n<|endoftext|>\r\nTwo.\r\n")
    support.write(inline, "One.\n<|endoftext|> Two.\n")
    for path, fragment in pairs({ [crlf] = "line 2: CRLF", [inline] = "line 2: <|endoftext|> is not on a line" }) do
      local _, err, code = support.kiln_run("calib", dir .. "/s/model.bin", "-z", dir .. "/s/tokenizer.bin",
        "--text", path, "--samples", "1", "-o", q)
      assert_refused(err, code, path .. ": " .. fragment)
      local _, perr, pcode = support.kiln_run("ppl", dir .. "/s/model.bin", "-z", dir .. "/s/tokenizer.bin", "--text", path)
      assert_refused(perr, pcode, path .. ": " .. fragment)
    end
    assert.are.equal("keep me", support.read(q))
  end)

  it("NaN in the unused freq_cis tables", function()
    local m = dir .. "/s/model.bin"
    local bytes = support.read(m)
    local bad = dir .. "/nan.bin"
    support.write(bad, bytes:sub(1, #bytes - 4) .. string.pack("<I4", 0x7fc00000))
    local _, err, code = support.kiln_run("describe", bad)
    assert_refused(err, code, bad .. ": freq_cis_imag: ", "is nan")
  end)

  it("run on a header with seq_len 1e6 or vocab 1", function()
    local bytes = support.read(dir .. "/s/model.bin")
    local h = header(bytes)
    local dim, hid, layers, heads, kv, vocab, seq = table.unpack(h, 1, 7)
    local freq = seq * (dim // heads) * 4 -- both tables
    local long = dir .. "/long.bin"
    support.write(long, string.pack("<i4i4i4i4i4i4i4", dim, hid, layers, heads, kv, vocab, 1000000)
      .. bytes:sub(29, #bytes - freq) .. string.rep("\0", 1000000 * (dim // heads) * 4))
    local _, err, code = support.kiln_run("run", long, "-z", dir .. "/s/tokenizer.bin", "-n", "2")
    assert_refused(err, code, long .. ": max_seq: ")
    local one = dir .. "/one.bin"
    support.write(one, string.pack("<i4i4i4i4i4i4i4", dim, hid, layers, heads, kv, 1, seq) .. bytes:sub(29, 28 + dim * 4)
      .. bytes:sub(29 + vocab * dim * 4))
    local _, err2, code2 = support.kiln_run("run", one, "-z", dir .. "/s/tokenizer.bin", "-n", "2")
    assert_refused(err2, code2, one .. ": vocab: ")
  end)

  it("an empty -o names the option, not an empty file", function()
    local _, err, code = support.kiln_run("calib", dir .. "/s/model.bin", "-z", dir .. "/s/tokenizer.bin",
      "--text", dir .. "/s/text.txt", "-o", "")
    assert_refused(err, code, "-o: empty value")
  end)
end)
