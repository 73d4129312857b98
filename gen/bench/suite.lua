-- The measurements of `kiln bench`, each against a limit of this machine
-- measured in the same run: read bandwidth (decode streams every weight byte
-- once), OpenBLAS's float prefill (the float reference path), llama2.c-class
-- end-to-end speed, the generator's own speed on a 1.1B-parameter model, and
-- the tokenizer's.
--
-- Every figure is a median over repetitions after a warm-up (kiln_host's
-- bench modes do that in C); the layer's measures and the bandwidth they are
-- compared with interleave over rounds. Models, qparams and builds live in a
-- scratch directory that is removed at the end.

local fail = require "util.fail"
local files = require "util.files"
local host = require "eval.host"
local checkpoint = require "read.checkpoint"
local float_model = require "model.float_model"
local generate = require "emit.generate"
local targets = require "emit.targets"
local checkpoints = require "bench.checkpoints"
local calibration = require "bench.calibration"
local tokenize = require "bench.tokenize"
local firmware = require "bench.firmware"

local suite = {}

suite.PRESETS = { "w8a8", "w8a16" }
-- stories260K's headline figure is w8a16, the preset that keeps its accuracy
suite.STORY_PRESETS = { "w8a16", "w8a8" }

-- TinyLlama-1.1B's decoder layer (the issue's "synthetic layer"): one layer,
-- a small vocabulary (only the layer is timed), a 1024-token cache.
suite.TINYLLAMA_LAYER = { dim = 2048, hidden_dim = 5632, n_layers = 1, n_heads = 32, n_kv_heads = 4, vocab = 512,
  seq_len = 1024 }
-- The whole TinyLlama-1.1B shape, for the generator's timing.
suite.TINYLLAMA = { dim = 2048, hidden_dim = 5632, n_layers = 22, n_heads = 32, n_kv_heads = 4, vocab = 32000,
  seq_len = 2048, shared_classifier = false }

suite.PREFILL = 128 -- rows of the timed prefill
suite.DECODE_PAST = 512 -- cached tokens behind the timed decode step
suite.FLUSH_MB = 1024 -- read between decode runs, so the weights come from memory
suite.STREAM_MB = 1024
suite.ROUNDS = 3 -- every measure is taken once a round, the rounds one after another

-- kiln bench --smoke: every step of the suite on small sizes, to check that
-- it runs (tests/e2e/bench_smoke_spec.lua); its figures mean nothing.
suite.SMOKE = {
  TINYLLAMA_LAYER = { dim = 128, hidden_dim = 256, n_layers = 1, n_heads = 4, n_kv_heads = 2, vocab = 512, seq_len = 64 },
  PREFILL = 8, FLUSH_MB = 1, STREAM_MB = 8, ROUNDS = 1,
}

-- Floating-point operations of one float prefill of S tokens through a layer
-- (no past): the seven linear layers and attention's two products, which the
-- float reference computes over every key (the mask is added, not skipped).
function suite.layer_prefill_flops(shape, S)
  local hd = shape.dim // shape.n_heads
  local q, kv = shape.n_heads * hd, shape.n_kv_heads * hd
  local linear = shape.dim * q * 2 + shape.dim * kv * 2 + 3 * shape.dim * shape.hidden_dim
  return 2 * S * linear + 2 * 2 * shape.n_heads * S * S * hd
end

-- Bytes of weights one decode step of a layer reads: its seven linear layers.
function suite.layer_weight_bytes(shape)
  local hd = shape.dim // shape.n_heads
  local q, kv = shape.n_heads * hd, shape.n_kv_heads * hd
  return shape.dim * q * 2 + shape.dim * kv * 2 + 3 * shape.dim * shape.hidden_dim
end

-- Runs of each measure in a round, for reps runs in all.
function suite.runs_per_round(reps)
  return math.max(1, (reps + suite.ROUNDS - 1) // suite.ROUNDS)
end

local function median(values)
  local v = table.move(values, 1, #values, 1, {})
  table.sort(v)
  local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or 0.5 * (v[n // 2] + v[n // 2 + 1])
end

-- Runs the built program of dir with args, as the target's rules say;
-- returns its `name value` lines as a table.
local function host_figures(dir, args, rules)
  local out = host.run(dir, args, nil, rules.build)
  local t = {}
  for name, value in out:gmatch("(%S+) (%S+)\n") do t[name] = tonumber(value) end
  return t
end

-- Generates and builds one model for the target into dir.
local function build(context, o)
  local g = generate.run {
    root = context.root, native = context.native, model_path = o.model, qparams_path = o.qparams,
    target = o.target, prefill_len = o.prefill_len, max_seq = o.max_seq, output = o.dir,
  }
  host.build(o.dir)
  return g
end

-- Wall time of a shell command, in seconds; fails with its output if it fails.
local function timed(native, cmd, log)
  local t0 = native.monotonic()
  local ok = os.execute(cmd .. " >" .. files.quote(log) .. " 2>&1")
  local dt = native.monotonic() - t0
  if not ok then fail.raise(nil, "bench", "command failed: " .. cmd .. "\n" .. files.read(log)) end
  return dt
end

local function progress(opts, text)
  if opts.verbose then io.stderr:write("kiln bench: ", text, "\n") end
end

-- run(context, opts) -> results: list of { name, value, label, unit, note }.
-- opts: target (rules name), reps, models (../shared/models or nil),
-- tokenizers (../shared/tokenizers or nil), skip_gen22, smoke (the sizes of
-- suite.SMOKE for this run, and no 22-layer models).
function suite.run(context, opts)
  if opts.smoke then
    local saved = {}
    for _, key in ipairs({ "TINYLLAMA_LAYER", "PREFILL", "FLUSH_MB", "STREAM_MB", "ROUNDS" }) do
      saved[key], suite[key] = suite[key], suite.SMOKE[key]
    end
    local unsmoked = setmetatable({ smoke = false, skip_gen22 = true }, { __index = opts })
    local result = table.pack(pcall(suite.run, context, unsmoked))
    for key, value in pairs(saved) do suite[key] = value end
    if not result[1] then error(result[2], 0) end
    return result[2]
  end
  local native = context.native
  local rules = targets.load(context.root, opts.target)
  local results = {}
  local function add(name, value, label, unit, note)
    results[#results + 1] = { name = name, value = value, label = label, unit = unit or "", note = note }
  end
  if rules.firmware then -- a board under its emulator: the firmware's own counts (bench/firmware.lua)
    firmware.run(context, opts, rules, add)
    return results
  end
  host.check_cpu(rules)
  local work = host.workspace()
  local ok, err = pcall(function()
    -- Prepare: the TinyLlama-shaped layer for both presets, its float model,
    -- and stories260K for both presets, all built before any timing.
    local layer = work .. "/tinyllama_layer.bin"
    progress(opts, "writing the TinyLlama-shaped layer")
    checkpoints.write(native, layer, suite.TINYLLAMA_LAYER, 11)
    local layer_dirs = {}
    for _, preset in ipairs(suite.PRESETS) do
      progress(opts, "calibrating and building the layer, " .. preset)
      local q = string.format("%s/layer_%s.json", work, preset)
      calibration.write(native, layer, preset, q, { samples = 2, tokens = 64, decode_steps = 4 })
      layer_dirs[preset] = work .. "/layer_" .. preset
      build(context, { model = layer, qparams = q, target = opts.target, prefill_len = suite.PREFILL,
        max_seq = suite.TINYLLAMA_LAYER.seq_len, dir = layer_dirs[preset] })
    end
    local model = float_model.load(native, checkpoint.open(layer), { max_seq = suite.PREFILL })
    local seed, xs = 2024, {}
    for i = 1, suite.PREFILL * suite.TINYLLAMA_LAYER.dim do
      seed = (seed * 1103515245 + 12345) % 2147483648
      xs[i] = (seed / 2147483648 - 0.5) * 2
    end
    local x, none = native.tensor(xs), native.tensor({})
    model.native:run_layer(0, x, 0, none, none) -- warm-up

    local models = opts.models
    local stories = models and files.exists(models .. "/stories260K.bin")
    local story_dirs, blocks = {}, {}
    if stories then
      local kiln = files.quote(context.root .. "/gen/kiln")
      for _, preset in ipairs(suite.STORY_PRESETS) do
        progress(opts, "calibrating and building stories260K, " .. preset)
        local q = string.format("%s/stories260K_%s.json", work, preset)
        timed(native, string.format("%s calib %s -z %s --text %s --samples 16 --decode-steps 8 --preset %s -o %s", kiln,
          files.quote(models .. "/stories260K.bin"), files.quote(models .. "/tok512.bin"),
          files.quote(models .. "/tinystories_valid_first100.txt"), preset, files.quote(q)), work .. "/calib.log")
        story_dirs[preset] = work .. "/stories260K_" .. preset
        blocks[preset] = build(context, { model = models .. "/stories260K.bin", qparams = q, target = opts.target,
          dir = story_dirs[preset] }).desc.prefill_len
      end
    else
      io.stderr:write("kiln bench: no stories260K.bin in " .. tostring(models) .. "; skipping its figures\n")
    end

    local token_cases = opts.tokenizers and tokenize.load(native, opts.tokenizers)
    if token_cases then
      tokenize.run(native, token_cases) -- warm-up
    else
      io.stderr:write("kiln bench: no byte-level goldens in " .. tostring(opts.tokenizers) .. "; skipping tokenize_mb_s\n")
    end

    -- Measure. The machine's speed drifts (other tenants): every measure is
    -- taken in each of several rounds, so that the two sides of a ratio, and
    -- every figure, see the same spells; each figure is the median of all.
    local samples = { stream = {}, stream4 = {}, blas = {}, fixed = {}, tokenize = {} }
    for _, preset in ipairs(suite.PRESETS) do samples[preset] = { decode = {}, prefill = {} } end
    for _, preset in ipairs(suite.STORY_PRESETS) do samples["stories " .. preset] = { decode = {}, prefill = {} } end
    local per_round = suite.runs_per_round(opts.reps)
    for round = 1, suite.ROUNDS do
      progress(opts, string.format("timing (round %d of %d)", round, suite.ROUNDS))
      local stream = host_figures(layer_dirs[suite.PRESETS[1]], string.format("bench-stream %d %d", suite.STREAM_MB, per_round),
        rules)
      table.insert(samples.stream, stream.stream_gbs)
      table.insert(samples.stream4, stream.stream4_gbs)
      for _, preset in ipairs(suite.PRESETS) do
        local f = host_figures(layer_dirs[preset], string.format("bench-layer 0 %d %d", per_round, suite.FLUSH_MB),
          rules)
        table.insert(samples[preset].decode, f.decode_us)
        table.insert(samples[preset].prefill, f.prefill_us)
      end
      -- the same layer in float32 through the float reference: with OpenBLAS's
      -- sgemm, and with kiln_matmul's fixed order (calibration's forward)
      for _, way in ipairs({ "blas", "fixed" }) do
        model.native:use_openblas(way == "blas")
        for _ = 1, per_round do
          local t0 = native.monotonic()
          model.native:run_layer(0, x, 0, none, none)
          table.insert(samples[way], native.monotonic() - t0)
        end
      end
      model.native:use_openblas(false)
      for _ = 1, token_cases and per_round or 0 do table.insert(samples.tokenize, tokenize.run(native, token_cases)) end
      if stories then
        for _, preset in ipairs(suite.STORY_PRESETS) do
          local f = host_figures(story_dirs[preset], string.format("bench-model 256 %d", per_round), rules)
          table.insert(samples["stories " .. preset].decode, f.decode_tok_s)
          table.insert(samples["stories " .. preset].prefill, f.prefill_tok_s)
        end
      end
    end
    model = nil
    collectgarbage()

    -- Report.
    local stream, stream4 = median(samples.stream), median(samples.stream4)
    add("stream_gbs", stream, "read bandwidth, one sequential stream (STREAM-like, " .. suite.STREAM_MB .. " MB)", "GB/s")
    add("stream4_gbs", stream4, "read bandwidth, four interleaved streams", "GB/s")
    local blas_us = 1e6 * median(samples.blas) / suite.PREFILL
    local bytes = suite.layer_weight_bytes(suite.TINYLLAMA_LAYER)
    for _, preset in ipairs(suite.PRESETS) do
      local decode_us = median(samples[preset].decode)
      add("decode_us_ctx" .. suite.DECODE_PAST .. "_" .. preset, decode_us,
        "TinyLlama layer, one decode step after " .. suite.DECODE_PAST .. " tokens, " .. preset, "us")
      add("prefill_us_per_token_s" .. suite.PREFILL .. "_" .. preset, median(samples[preset].prefill) / suite.PREFILL,
        "TinyLlama layer, prefill of " .. suite.PREFILL .. " tokens, per token, " .. preset, "us")
      add("decode_bw_fraction_" .. preset, (bytes / (stream * 1e3)) / decode_us,
        "decode speed / STREAM-like bandwidth, " .. preset, "", string.format("%.1f MB of weights a step", bytes / 1e6))
      add("decode_bw_fraction_stream4_" .. preset, (bytes / (stream4 * 1e3)) / decode_us,
        "decode speed / four-stream bandwidth, " .. preset, "")
    end
    add("openblas_prefill_us_per_token_s" .. suite.PREFILL, blas_us,
      "same layer in float32, OpenBLAS sgemm, per token", "us")
    local flops = suite.layer_prefill_flops(suite.TINYLLAMA_LAYER, suite.PREFILL)
    local fixed_gflops, blas_gflops = flops / median(samples.fixed) / 1e9, flops / median(samples.blas) / 1e9
    add("calib_gflops_tinyllama_layer", fixed_gflops, string.format("calibration's float forward (fixed order, %s), "
      .. "prefill of %d", native.matmul_kernels(), suite.PREFILL), "GFLOP/s")
    add("openblas_gflops_tinyllama_layer", blas_gflops, "the same with OpenBLAS's sgemm", "GFLOP/s")
    add("calib_vs_openblas_tinyllama_layer", fixed_gflops / blas_gflops, "fixed-order float forward / OpenBLAS", "x",
      "target >= 0.5")
    for _, preset in ipairs(suite.PRESETS) do
      add("prefill_speedup_vs_openblas_" .. preset, blas_us / (median(samples[preset].prefill) / suite.PREFILL),
        "prefill speed-up over OpenBLAS, " .. preset, "x")
    end
    if stories then
      for _, preset in ipairs(suite.STORY_PRESETS) do
        local suffix = preset == "w8a16" and "" or "_" .. preset
        add("stories260k_decode_tok_s" .. suffix, median(samples["stories " .. preset].decode),
          "stories260K decode, 256 tokens from BOS, " .. preset, "tok/s",
          preset == "w8a16" and "llama2.c run.c: about 13,000" or nil)
        add("stories260k_prefill_tok_s" .. suffix, median(samples["stories " .. preset].prefill),
          string.format("stories260K prefill of %d tokens, %s", blocks[preset], preset), "tok/s")
      end
    end

    if token_cases then
      add("tokenize_mb_s", median(samples.tokenize), "tokenizer.json encoding, byte-level goldens' texts", "MB/s",
        "goal >= 2")
    end

    -- calibration's memory on a bf16 TinyLlama-1.1B-shaped HF model: the
    -- weights stay mapped in bf16, so the peak RSS is the file plus buffers
    local tok32k = models and models .. "/tok32000.bin"
    if not opts.skip_gen22 and tok32k and files.exists(tok32k) then
      local dir = work .. "/tinyllama_bf16"
      files.make_dir(dir)
      progress(opts, "writing the 22-layer TinyLlama-shaped model, bf16 HF (2.2 GB)")
      checkpoints.write_hf(native, dir, suite.TINYLLAMA, 13, "bf16")
      progress(opts, "calibrating it under /usr/bin/time -v")
      local log = work .. "/calib_rss.log"
      timed(native, string.format("/usr/bin/time -v %s calib %s -z %s --text %s --samples 2 --decode-steps 2 "
        .. "--max-tokens 64 -o %s", files.quote(context.root .. "/gen/kiln"), files.quote(dir), files.quote(tok32k),
        files.quote(models .. "/tinystories_valid_first100.txt"), files.quote(work .. "/tinyllama_bf16.json")), log)
      local kb = tonumber(files.read(log):match("Maximum resident set size %(kbytes%): (%d+)"))
      local bytes = files.size(dir .. "/model.safetensors")
      add("calib_peak_rss_ratio_bf16", kb * 1024 / bytes, string.format(
        "kiln calib's peak RSS / file size, bf16 TinyLlama-1.1B (%.2f GB)", bytes / 1e9), "", "goal <= 1.25")
      os.execute("rm -rf " .. files.quote(dir))
    elseif not opts.skip_gen22 then
      io.stderr:write("kiln bench: no tok32000.bin in " .. tostring(models) .. "; skipping calib_peak_rss_ratio_bf16\n")
    end

    -- the generator on a 22-layer TinyLlama-1.1B-shaped model, weights as a blob
    if not opts.skip_gen22 then
      local big = work .. "/tinyllama_22L.bin"
      progress(opts, "writing the 22-layer TinyLlama-shaped model (4.4 GB)")
      checkpoints.write(native, big, suite.TINYLLAMA, 12)
      local q = work .. "/tinyllama_22L_w8a8.json"
      progress(opts, "calibrating it")
      calibration.write(native, big, "w8a8", q, { samples = 1, tokens = 8, decode_steps = 0 })
      collectgarbage()
      progress(opts, "timing kiln gen on it")
      local seconds = timed(native, string.format("%s gen %s --qparams %s --target %s --weights-blob -o %s",
        files.quote(context.root .. "/gen/kiln"), files.quote(big), files.quote(q), opts.target,
        files.quote(work .. "/tinyllama_22L")), work .. "/gen22.log")
      add("gen_seconds_tinyllama_22L", seconds, "kiln gen, 22-layer TinyLlama-1.1B shape, weights blob", "s")
    end
  end)
  host.cleanup(work)
  if not ok then error(err, 0) end
  return results
end

return suite
