-- 4-bit Linear weights, stored two codes a byte, end to end. stories260K and
-- the synthetic model with every Linear weight uint4, and with every one
-- int4, each in one preset (so that both activation widths meet both weight
-- dtypes), generated for every target this host runs — portable and the x86
-- targets natively, armv8-dot under qemu-aarch64, the Cortex-M4 and Cortex-M55
-- firmware under qemu-system-arm — give the portable target's logits bytes over prefill,
-- append and decode adapters (the firmware: its tokens and last hidden
-- codes); the layers stay within 1 LSB of the exact fake-quant reference;
-- and each weight table takes half the bytes of the same table with 8-bit
-- weights, a row rounded up to a byte, in the memory report and in the linked
-- firmware image. The synthetic model's 8-bit twin is held to the same
-- bytes on every target, so a checkout without ../shared still tests them
-- all. A target the host cannot run is pending, with the reason.

local support = require "support"
local targets = require "emit.targets"
local host = require "eval.host"

local LINEARS = { "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
  "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "lm_head.weight" }
local HOST_TARGETS = { "portable", "x86-avx2", "x86-avx-vnni", "x86-vnni", "armv8-dot" }
-- a prompt whose ids are below both models' vocabularies (512 and 384)
local PROMPT = "1 317 269 368 302 263 377 267 265 282 295 333 326"
-- split 70 on stories of 40 and 90 tokens: a 40-row prefill; a 64-row prefill, a 6-row append, 20 decode steps
local SPLIT, LENGTHS = 70, { 40, 90 }

local CONFIGS = {
  { model = "stories260K", preset = "w8a16", dtype = "uint4" },
  { model = "stories260K", preset = "w8a8", dtype = "int4", qscheme = "per_channel_symm" },
  { model = "synthetic", preset = "w8a8", dtype = "uint4" },
  { model = "synthetic", preset = "w8a16", dtype = "int4", qscheme = "per_channel_asymm" },
}

local sh = support.sh

-- Why this host cannot run a target's code, or nil.
local function cannot_run(target)
  local rules = targets.load(".", target)
  local tools = { rules.build.cc, rules.build.run.command:match("^(%S+)") }
  for _, tool in ipairs(tools) do
    if tool ~= "{image}{args}" and not sh("command -v " .. tool) then return tool .. " is not installed" end
  end
  local ok, err = pcall(host.check_cpu, rules)
  if not ok then return tostring(err) end
  return support.missing_board(rules.build)
end

-- The model's files: stories260K from ../shared, the synthetic model written by kiln synth.
local function model_files(work, name)
  if name == "stories260K" then
    return { model = support.models .. "/stories260K.bin", tok = support.models .. "/tok512.bin",
      text = support.models .. "/tinystories_valid_first100.txt", vocab = 512, max_tokens = 512 }
  end
  local dir = work .. "/synthetic"
  if not support.exists(dir .. "/model.bin") then support.kiln_ok("synth", "-o", dir) end
  return { model = dir .. "/model.bin", tok = dir .. "/tokenizer.bin", text = dir .. "/text.txt", vocab = 384,
    max_tokens = 128 }
end

-- Stories for the host program's split mode: n, then n token ids (int32), BOS first.
local function stories(vocab)
  local parts, seed = {}, 7
  for _, n in ipairs(LENGTHS) do
    local ids = { 1 }
    for i = 2, n do
      seed = (seed * 1103515245 + 12345) % 2147483648
      ids[i] = 3 + seed % (vocab - 3)
    end
    parts[#parts + 1] = string.pack("<i4" .. string.rep("i4", n), n, table.unpack(ids))
  end
  return table.concat(parts)
end

-- The weight tables of a generated model's weights.c: { [key] = { bytes, rows, cols } }, keyed by the
-- weight's observer (any layout), or by the array's name for the embedding.
local SIZES = { uint8_t = 1, int8_t = 1, int16_t = 2, int32_t = 4 }
local function weight_tables(dir)
  local t = {}
  local text = support.read(dir .. "/weights.c")
  for note, ctype, name, count in text:gmatch("/%* ([^\n]-) %*/\nconst ([%w_]+) ([%w_]+)%[(%d+)%]") do
    local path, rows, cols = note:match("^(%S+%.weight): %a+%d+ per_[%a_]+, %[(%d+)%]%[(%d+)%]")
    t[path or name] = { bytes = SIZES[ctype] * tonumber(count), rows = tonumber(rows), cols = tonumber(cols) }
  end
  return t
end

local function macro(dir, name)
  return tonumber(support.read(dir .. "/kiln_model.h"):match("#define " .. name .. " (%d+)"))
end

describe("4-bit Linear weights", function()
  local work
  setup(function() work = support.tmpdir() end)
  teardown(function() support.cleanup() end)

  for _, c in ipairs(CONFIGS) do
    local label = string.format("%s, %s, every Linear weight %s", c.model, c.preset, c.dtype)
    local built, files, qp4, qp8 = {}, nil, nil, nil
    local function needs()
      return c.model ~= "stories260K" or support.needs_shared()
    end
    -- calibrates (4-bit and the preset's 8-bit weights) and generates for a target once, on first use
    local function generated(target)
      files = files or model_files(work, c.model)
      local base = string.format("%s/%s-%s-%s", work, c.model, c.preset, c.dtype)
      if not qp4 then
        local overrides = base .. ".lua"
        local lines = {}
        for _, w in ipairs(LINEARS) do
          lines[#lines + 1] = string.format('  ["%s"] = { dtype = "%s"%s },', w, c.dtype,
            c.qscheme and (', qscheme = "' .. c.qscheme .. '"') or "")
        end
        support.write(overrides, "return {\n" .. table.concat(lines, "\n") .. "\n}\n")
        local function calib(out, ...)
          support.kiln_ok("calib", files.model, "-z", files.tok, "--text", files.text, "--preset", c.preset,
            "--samples", "4", "--decode-steps", "4", "-o", out, ...)
          return out
        end
        qp8 = calib(base .. "-8bit.json")
        qp4 = calib(base .. ".json", "--overrides", overrides)
      end
      if not built[target] then
        local dir = base .. "-" .. target
        support.kiln_ok("gen", files.model, "--qparams", qp4, "--target", target, "-o", dir)
        support.kiln_ok("gen", files.model, "--qparams", qp8, "--target", target, "-o", dir .. "-8bit")
        built[target] = dir
      end
      return built[target]
    end
    local function make(dir, target)
      local ok, log = sh("make -C " .. dir)
      assert(ok, target .. ": " .. log)
    end
    local reference, reference8 -- portable's split output, 4-bit and 8-bit weights
    local function split(target, eight_bit)
      local dir = generated(target) .. (eight_bit and "-8bit" or "")
      make(dir, target)
      support.write(dir .. "/stories.bin", stories(files.vocab))
      local cmd = targets.run_command(targets.load(".", target).build, dir, "split " .. SPLIT)
      local f = assert(io.popen(cmd .. " <" .. dir .. "/stories.bin"))
      local out = f:read("a")
      assert(f:close(), cmd)
      return out
    end

    for _, target in ipairs(HOST_TARGETS) do
      it(label .. ": " .. target .. " gives portable's logits bytes", function()
        if not needs() then return end
        local why = cannot_run(target)
        if why then return pending(why) end
        reference = reference or split("portable")
        local n = 0
        for _, len in ipairs(LENGTHS) do n = n + len end
        assert.are.equal(2 * files.vocab * n, #reference)
        assert.is_true(split(target) == reference, target .. ": logits differ from portable's")
        assert.matches("kiln_linear_[%w_]*[us]4", support.read(generated(target) .. "/layer_0.c"))
        if c.model == "synthetic" then
          -- and the same model with 8-bit weights: without ../shared this is what tests every target
          reference8 = reference8 or split("portable", true)
          assert.is_true(split(target, true) == reference8, target .. ": 8-bit logits differ from portable's")
        end
      end)
    end

    for _, fw in ipairs({ "cortex-m4", "cortex-m55" }) do
      it(label .. ": the " .. fw .. " firmware gives portable's tokens and hidden codes", function()
        if not needs() then return end
        local why = cannot_run(fw)
        if why then return pending(why) end
        local function run(target, eight_bit)
          local dir = generated(target) .. (eight_bit and "-8bit" or "")
          make(dir, target)
          local ok, out = sh(targets.run_command(targets.load(".", target).build, dir, "generate 32 " .. PROMPT))
          assert(ok, target .. ": " .. out)
          return assert(out:match("^[%d ]+\nhidden[%d %-]+\n"), target .. ": " .. out)
        end
        assert.are.equal(run("portable"), run(fw))
        if c.model == "synthetic" then assert.are.equal(run("portable", true), run(fw, true)) end
        -- its weights section is the memory report's, to the byte
        local dir = generated(fw)
        local ok, out = sh("arm-none-eabi-size -A " .. dir .. "/firmware.elf")
        assert.is_true(ok, out)
        assert.are.equal(macro(dir, "KILN_WEIGHTS_BYTES"), tonumber(out:match("\n%.kiln_weights%s+(%d+)")))
      end)
    end

    it(label .. ": every layer within 1 LSB of the exact fake-quant reference", function()
      if not needs() then return end
      generated("portable")
      local out = support.kiln_ok("eval", files.model, "--qparams", qp4, "-z", files.tok, "--text", files.text,
        "--stories", "5", "--max-tokens", tostring(files.max_tokens))
      local within = tonumber(out:match("\nwithin_1lsb_min (%S+)"))
      assert.is_true(within >= 0.99, "within 1 LSB: " .. within)
      assert.is_true(tonumber(out:match("\nprefill_vs_decode_max_lsb (%S+)")) <= 1)
    end)

    it(label .. ": each weight table half the 8-bit one's bytes, on every target", function()
      if not needs() then return end
      for _, target in ipairs({ "portable", "x86-avx2", "x86-avx-vnni", "x86-vnni", "armv8-dot", "cortex-m4",
        "cortex-m55" }) do
        local dir = generated(target)
        local w4, w8 = weight_tables(dir), weight_tables(dir .. "-8bit")
        local total, halved = 0, 0
        for key, t in pairs(w4) do
          total = total + t.bytes
          local e = w8[key]
          if t.rows then -- a Linear weight: half its 8-bit table (rows, or rows padded to a block), a row rounded up
            halved = halved + 1
            assert.is_not_nil(e, key)
            assert.are.equal(e.bytes // t.cols * ((t.cols + 1) // 2), t.bytes, target .. " " .. key)
          elseif e then
            assert.are.equal(e.bytes, t.bytes, target .. " " .. key)
          else -- the embedding, which an 8-bit tied classifier's table served
            assert.are.equal("EMBEDDING", key, target)
          end
        end
        assert.is_true(halved >= 8, target .. ": " .. halved .. " Linear weight tables")
        assert.are.equal(total, macro(dir, "KILN_WEIGHTS_BYTES"), target)
      end
    end)
  end
end)
