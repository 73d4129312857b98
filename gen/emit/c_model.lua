-- Emits the C of a whole model: one source per decoder layer (its prefill,
-- decode and append-prefill adapters side by side), the head, the model
-- driver, the constants and the weights apart from the code, the header
-- with the fixed API and the memory report, a Makefile and a host test
-- program. Returns the files as { [relative path] = contents }.

local rope = require "model.rope"
local fail = require "util.fail"
local layer_graph = require "graph.llama_layer"
local head_graph = require "graph.llama_head"
local adapter = require "plan.adapter"
local kernels = require "plan.kernels"
local grids = require "plan.grids"
local constants = require "plan.constants"
local embedding = require "plan.embedding"
local arena = require "plan.arena"
local template = require "emit.template"
local c_constants = require "emit.c_constants"
local targets = require "emit.targets"
local runtime_files = require "emit.runtime_files"
local f32 = require "util.f32"
local weights_index = require "emit.weights_index"

local c_model = {}

local ADAPTERS = { "prefill", "decode", "append" }

-- Adapter signatures: the fixed API of every layer. new_k/new_v are
-- [kv_heads][rows][head_dim] for the rows of this call; cache_k/cache_v are
-- the layer's cache, [kv_heads][max_seq][head_dim], holding past_len tokens.
local SIGNATURE = {
  prefill = "const int16_t *x, int32_t valid_len, const int16_t *cos, const int16_t *sin,\n"
    .. "    int16_t *y, int16_t *new_k, int16_t *new_v, int16_t *scratch",
  decode = "const int16_t *x, const int16_t *cos, const int16_t *sin,\n"
    .. "    const int16_t *cache_k, const int16_t *cache_v, int32_t past_len,\n"
    .. "    int16_t *y, int16_t *new_k, int16_t *new_v, int16_t *scratch",
  append = "const int16_t *x, int32_t valid_len, const int16_t *cos, const int16_t *sin,\n"
    .. "    const int16_t *cache_k, const int16_t *cache_v, int32_t past_len,\n"
    .. "    int16_t *y, int16_t *new_k, int16_t *new_v, int16_t *scratch",
  head = "const int16_t *x, int16_t *y, int16_t *scratch",
}
local PARAMS = {
  prefill = { "x", "valid_len", "cos", "sin", "y", "new_k", "new_v", "scratch" },
  decode = { "x", "cos", "sin", "cache_k", "cache_v", "past_len", "y", "new_k", "new_v", "scratch" },
  append = { "x", "valid_len", "cos", "sin", "cache_k", "cache_v", "past_len", "y", "new_k", "new_v", "scratch" },
  head = { "x", "y", "scratch" },
}
local ROWS = { prefill = "valid_len", decode = "1", append = "valid_len", head = "1" }
-- What each adapter checks before it touches memory (kiln_model.h): the rows
-- of the call against its static block, and the past against the cache
-- (valid_len first, so past_len's bound cannot overflow). The head takes no
-- length and returns nothing.
local CHECKS = {
  prefill = { why = "more rows than the static prefill block would write past y, new_k, new_v and scratch",
    cond = "valid_len < 1 || valid_len > KILN_PREFILL_LEN" },
  decode = { why = "the past and this row must fit the cache; a negative past leaves the softmax no key to divide by",
    cond = "past_len < 0 || past_len >= KILN_MAX_SEQ" },
  append = { why = "more rows than the static append block would overrun scratch; the past and the rows must fit "
      .. "the cache",
    cond = "valid_len < 1 || valid_len > KILN_APPEND_LEN || past_len < 0 || past_len > KILN_MAX_SEQ - valid_len" },
}

-- The op that reads an observer's grid, for messages: the weight's consumer,
-- or the node that writes the activation.
local ROLE_OP = { linear = "linear", norm = "rmsnorm", embedding = "embedding" }

local function check_target(rules, qp, entries)
  for _, e in ipairs(entries) do
    local o = qp.observers[e.path]
    local role = (e.role == "linear" or e.role == "embedding") and "linear_weight"
      or e.role == "norm" and "norm_weight" or "activation"
    local supported = rules.dtypes[role] or {}
    local ok = false
    for _, dt in ipairs(supported) do ok = ok or dt == o.dtype end
    if not ok then
      local op = ROLE_OP[e.role] or (e.node.op == "quant" and "requantize" or e.node.op)
      local what = role == "activation" and (o.dtype .. " activations") or (o.dtype .. " weights")
      fail.raise(qp.path, e.path, string.format("target %s cannot run %s with %s (it takes %s)", rules.name, op, what,
        table.concat(supported, ", ")))
    end
  end
end

-- The body of one adapter function from its plan; also returns the number
-- of kernel calls (for the code-size estimate).
-- A step variable as C: false is a null pointer, { per_row = n } is n
-- values for each row of the call.
local function c_value(v)
  if v == false then return "NULL" end
  if type(v) == "table" then return "rows * " .. v.per_row end
  return v
end

local function c_vars(vars)
  local out = {}
  for k, v in pairs(vars) do out[k] = c_value(v) end
  return out
end

local function render_function(root, name, kind, plan, words, trace)
  local lines, calls = {}, 0
  for _, b in ipairs(plan.buffers) do
    lines[#lines + 1] = string.format("  int16_t *const %s = scratch + %d; /* %d words */", b.name, b.offset, b.words)
  end
  local body = {}
  for _, s in ipairs(plan.steps) do
    local variant = kind == "head" and nil or kind
    local text, path = template.find(root, "ops", s.template, variant)
    body[#body + 1] = template.render(text, c_vars(s.vars), path)
    if s.template ~= "alias" then calls = calls + 1 end
    if trace and s.trace then
      body[#body + 1] = string.format('  kiln_trace("%s", %s, %s);\n', s.trace.obs, s.trace.ptr, c_value(s.trace.n))
    end
  end
  local code = table.concat(body)
  local prologue = {}
  local check = CHECKS[kind]
  if check then
    prologue[#prologue + 1] = string.format(
      "#ifndef KILN_UNCHECKED\n  /* %s */\n  if (%s)\n    return KILN_E_RANGE;\n#endif", check.why, check.cond)
  end
  prologue[#prologue + 1] = string.format("  const int32_t rows = %s;", ROWS[kind])
  for _, p in ipairs(PARAMS[kind]) do
    if p ~= "valid_len" and not (code .. table.concat(lines, "\n")):find("%f[%w_]" .. p .. "%f[^%w_]") then
      prologue[#prologue + 1] = string.format("  (void)%s;", p)
    end
  end
  if not code:find("%f[%w_]rows%f[^%w_]") then prologue[#prologue + 1] = "  (void)rows;" end
  return template.file(root, "adapter.c", {
    name = name,
    signature = SIGNATURE[kind],
    prologue = table.concat(prologue, "\n") .. (#lines > 0 and ("\n" .. table.concat(lines, "\n")) or ""),
    body = code,
    result = check and "kiln_status" or "void",
    epilogue = check and "  return KILN_OK;\n" or "",
    scratch_words = words,
  }), calls
end

local function section_attribute(name)
  return name and string.format(' __attribute__((section("%s")))', name) or ""
end

-- Code bytes of the generated model for a target: the runtime and driver,
-- plus each adapter and each kernel call, by the target's size model
-- (rules.code_size, measured with its compiler). An estimate.
local function code_estimate(rules, functions, calls)
  local m = rules.code_size
  return m.base + m.per_function * functions + m.per_call * calls
end

-- generate(spec) -> files. spec: { root, native, model (float_model), qp, desc,
-- rules, name, prefill_len, append_len, source = { model, qparams } [,
-- layer_input_grids = { [layer] = grid }] }. layer_input_grids gives chosen
-- layers another input grid than the previous layer's output, for running
-- them alone on outside inputs (kiln conform); the model as a whole is then
-- not consistent, so such a build serves only those layer runs.
function c_model.generate(spec)
  local root, native, desc, qp, rules = spec.root, spec.native, spec.desc, spec.qp, spec.rules
  local observers = require "calib.observers"
  check_target(rules, qp, observers.resolve(desc.layers, "w8a8"))
  local consts = constants.new(native, spec.blob, spec.measure_only)
  local out = {}
  local grid_of = grids.of
  grids.check_mask(qp, "model.causal_mask")

  -- KV cache formats: one per layer when new_k, present_key and past_key agree
  local untied = {}
  for l = 0, desc.layers - 1 do
    local p = string.format("model.layers.%d.self_attn.", l)
    for _, group in ipairs({ { "new_k", "present_key", "past_key" }, { "new_v", "present_value", "past_value" } }) do
      local first = grid_of(qp, p .. group[1])
      for i = 2, 3 do
        if not grids.same(first, grid_of(qp, p .. group[i])) then
          untied[#untied + 1] = string.format("layer %d: %s and %s", l, group[1], group[i])
        end
      end
    end
  end

  -- layers; storages: the weight storages of their linear layers (for the runtime they need)
  local layer_sources, scratch_words, functions_count, calls, storages = {}, 0, 0, 0, {}
  local function note_storages(plan)
    for _, wc in pairs(plan.weight_constants) do storages[wc.storage] = true end
  end
  local x_grid = grid_of(qp, "model.embed_tokens.act_out")
  local rope_grids = {}
  for l = 0, desc.layers - 1 do
    local prefix = string.format("model.layers.%d.", l)
    local functions = {}
    x_grid = spec.layer_input_grids and spec.layer_input_grids[l] or x_grid
    for _, kind in ipairs(ADAPTERS) do
      local block = kind == "prefill" and spec.prefill_len or kind == "append" and spec.append_len or 1
      local plan = adapter.build {
        graph = layer_graph, kind = kind, prefix = prefix, cname = "L" .. l, qp = qp, desc = desc, block = block,
        x_grid = x_grid, consts = consts, weights = spec.model.weights[l + 1], rules = rules, native = native,
      }
      local words = arena.place(plan.buffers, rules.align_words)
      note_storages(plan)
      scratch_words = math.max(scratch_words, words)
      local text, n = render_function(root, string.format("kiln_layer%d_%s", l, kind), kind, plan, words, spec.trace)
      functions[#functions + 1] = text
      functions_count, calls = functions_count + 1, calls + n
    end
    -- measuring keeps no weight codes: this layer's go now, not when the
    -- collector's pace gets to them (a 1 GB model's codes would pile up)
    if spec.measure_only then collectgarbage() end
    rope_grids[l + 1] = { cos = grid_of(qp, prefix .. "cos"), sin = grid_of(qp, prefix .. "sin") }
    layer_sources[#layer_sources + 1] = string.format("layer_%d.c", l)
    out[string.format("layer_%d.c", l)] = template.file(root, "layer.c", {
      title = string.format("Decoder layer %d of %s: prefill, decode and append-prefill.", l, spec.name),
      functions = table.concat(functions, "\n"),
    })
    x_grid = grid_of(qp, prefix .. "mlp_residual_out")
  end
  if spec.measure_only then consts:forget_cached(); collectgarbage() end -- the layers' codes, before the head's

  -- head: final norm and classifier on the last row
  local head_weights = {}
  for name, t in pairs(spec.model.head_weights) do head_weights[name] = t end
  local head_plan = adapter.build {
    graph = head_graph, kind = "head", prefix = "", cname = "HEAD", qp = qp, desc = desc, block = 1,
    x_grid = x_grid, consts = consts, weights = head_weights, rules = rules, native = native,
  }
  local head_words = arena.place(head_plan.buffers, rules.align_words)
  note_storages(head_plan)
  scratch_words = math.max(scratch_words, head_words)
  local head_text, head_calls = render_function(root, "kiln_head", "head", head_plan, head_words, spec.trace)
  functions_count, calls = functions_count + 1, calls + head_calls
  out["head.c"] = template.file(root, "layer.c", {
    title = "Model head of " .. spec.name .. ": final RMSNorm and classifier.",
    functions = head_text,
  })
  local logits_grid = head_plan.output_grids.y

  -- RoPE tables, as the layers are handed them: fake-quantized on the
  -- model's model.cos / model.sin, then quantized on the layer's cos / sin
  local cos_t, sin_t = native.rope_tables(desc.max_seq, desc.head_dim, rope.native(desc))
  local function model_level(t, path)
    local g = grid_of(qp, path)
    return t:fake_quant(g.scale, g.zero_point, g.qmin, g.qmax)
  end
  cos_t, sin_t = model_level(cos_t, "model.cos"), model_level(sin_t, "model.sin")
  -- one table per distinct grid, named after the grid and defined in the
  -- order of the names (not numbered in order of use), so a layer moving to
  -- another grid adds a table and leaves the others' names and places
  local cos_list, sin_list, wanted = {}, {}, {}
  local function name_of(g, which)
    local name = string.format("ROPE_%s_%s_%08X%s", which, g.dtype:upper(), f32.bits(g.scale),
      g.zero_point == 0 and "" or ("_ZP" .. tostring(g.zero_point):gsub("%-", "M")))
    if not wanted[name] then wanted[#wanted + 1] = name; wanted[name] = { g = g, which = which } end
    return name
  end
  for l = 1, desc.layers do
    cos_list[l], sin_list[l] = name_of(rope_grids[l].cos, "COS"), name_of(rope_grids[l].sin, "SIN")
  end
  table.sort(wanted)
  for _, name in ipairs(wanted) do
    local g, which = wanted[name].g, wanted[name].which
    consts:packed(name, "s16", (which == "COS" and cos_t or sin_t):quantize(g.scale, g.zero_point, g.qmin, g.qmax, "s16"),
      string.format("RoPE %s rows [%d][%d] on %s, after model.%s (sin pre-negated in the first half)",
        which:lower(), desc.max_seq, desc.head_dim, grids.note(g):gsub("^[^:]*: ", ""), which:lower()), "constants")
  end
  local embed = fail.within(qp.path, "model.embed_tokens.act_out", embedding.constants, consts, spec.model.embedding, qp, desc,
    head_plan.weight_constants["lm_head.weight"])

  local block = math.max(spec.prefill_len, spec.append_len)
  local kv_bytes = 2 * desc.layers * desc.kv_heads * desc.max_seq * desc.head_dim * 2
  local state_words = 2 * block * desc.hidden + 2 * desc.kv_heads * block * desc.head_dim + desc.hidden + desc.vocab
  local sections = rules.sections or {}
  local memory = rules.memory or {}
  local vars = {
    name = spec.name,
    source_model = spec.source.model,
    source_qparams = spec.source.qparams,
    target = rules.name,
    hidden = desc.hidden, intermediate = desc.intermediate, heads = desc.heads, kv_heads = desc.kv_heads,
    head_dim = desc.head_dim, layers = desc.layers, vocab = desc.vocab, max_seq = desc.max_seq,
    prefill_len = spec.prefill_len, append_len = spec.append_len, block = block,
    scratch_words = scratch_words,
    code_bytes = code_estimate(rules, functions_count, calls),
    kernel_calls = calls, adapter_functions = functions_count,
    weights_bytes = consts.bytes.weights,
    constants_bytes = consts.bytes.constants,
    arena_bytes = 2 * (scratch_words + state_words) + 4,
    kv_bytes = kv_bytes,
    stack_bytes = rules.code_size.stack,
    -- the firmware test program's static buffers (templates/firmware/firmware_main.c)
    cmdline_bytes = 2048,
    out_bytes = 16 * (desc.hidden + 16),
    prompt_tokens = 256,
    logits_zero_point = logits_grid.zero_point,
    logits_scale = constants.real(logits_grid.scale),
    logits_dtype = logits_grid.dtype,
    embed_ctype = constants.CTYPES[embed.ctype],
    embed_table = embed.table, embed_zp = embed.zp, embed_rq = embed.rq, embed_grid = embed.grid,
    embed_note = embed.note,
    prefill_fns = "", decode_fns = "", append_fns = "", prototypes = "",
    cos_tables = table.concat(cos_list, ", "),
    sin_tables = table.concat(sin_list, ", "),
    layer_sources = table.concat(layer_sources, " ") .. (spec.blob and " weights_blob.S" or ""),
    runtime_sources = "",
    trace_decl = spec.trace and "\n/* Trace build: every step reports its result (host evaluation only). */\n"
      .. "void kiln_trace(const char *observer, const int16_t *data, int32_t n);\n" or "",
    trace_impl = spec.trace and template.file(root, "trace.c", {}) or "",
    cc = rules.build.cc,
    cflags = rules.build.cflags,
    ldflags = rules.build.ldflags or "",
    run_command = targets.run_command(rules.build, nil, ""),
    run_profile_command = rules.firmware and targets.run_command(rules.build, nil, "", "firmware-profile.elf") or "",
    kv_section = section_attribute(sections.kv_cache),
    arena_section = section_attribute(sections.arena),
    constants_section = sections.constants or "",
    weights_section = sections.weights or "",
    kv_section_name = sections.kv_cache or "",
    arena_section_name = sections.arena or "",
    flash_origin = memory.flash and string.format("0x%08X", memory.flash.origin) or "",
    flash_size = memory.flash and memory.flash.size or "",
    ram_origin = memory.ram and string.format("0x%08X", memory.ram.origin) or "",
    ram_size = memory.ram and memory.ram.size or "",
    default_steps = 64,
  }
  -- a profile build's sample bins cover this much code (twice the estimate)
  vars.text_budget = 2 * vars.code_bytes
  -- (and the clock's few words, templates/firmware/clock.c)
  vars.harness_bytes = rules.firmware and (vars.cmdline_bytes + vars.out_bytes + 4 * vars.prompt_tokens + 24) or 0
  local flash = vars.code_bytes + vars.constants_bytes + vars.weights_bytes
  local ram = vars.arena_bytes + vars.kv_bytes + vars.stack_bytes + vars.harness_bytes
  for _, m in ipairs({ { "flash", flash }, { "ram", ram } }) do
    local budget = memory[m[1]] and memory[m[1]].size
    if budget and m[2] > budget then
      fail.raise(rules.path, "memory." .. m[1], string.format(
        "the model needs %d bytes of %s (code %d, constants %d, weights %d / arena %d, KV cache %d, stack %d), "
          .. "the target has %d; a smaller --max-seq or --prefill-len shrinks the RAM", m[2], m[1], vars.code_bytes,
        vars.constants_bytes, vars.weights_bytes, vars.arena_bytes, vars.kv_bytes, vars.stack_bytes, budget))
    end
  end
  local protos, pf, df, af = {}, {}, {}, {}
  for l = 0, desc.layers - 1 do
    for _, kind in ipairs(ADAPTERS) do
      protos[#protos + 1] = string.format("kiln_status kiln_layer%d_%s(%s);", l, kind, SIGNATURE[kind])
    end
    pf[#pf + 1] = string.format("kiln_layer%d_prefill", l)
    df[#df + 1] = string.format("kiln_layer%d_decode", l)
    af[#af + 1] = string.format("kiln_layer%d_append", l)
  end
  vars.prototypes = table.concat(protos, "\n")
  vars.prefill_fns, vars.decode_fns, vars.append_fns = table.concat(pf, ", "), table.concat(df, ", "), table.concat(af, ", ")
  vars.argmax_kernel = kernels.named(rules, "argmax")

  local runtime
  runtime, vars.runtime_sources, vars.runtime_includes = runtime_files.copy(root, rules, storages)
  for name, text in pairs(runtime) do out[name] = text end

  out["kiln_model.h"] = template.file(root, "kiln_model.h", vars)
  out["model.c"] = template.file(root, "model.c", vars)
  out["Makefile"] = template.file(root, rules.build.makefile, vars)
  if rules.firmware then
    for _, f in ipairs({ "startup.c", "semihosting.h", "semihosting.c", "clock.h", "clock.c", "firmware_main.c" }) do
      out["firmware/" .. f] = template.file(root, "firmware/" .. f, vars)
    end
    out["firmware/link.ld"] = template.render(template.find(root, "firmware", "link.ld"), vars, "link.ld")
  else
    out["host_main.c"] = template.file(root, "host_main.c", vars)
  end
  out["constants.h"] = template.file(root, "constants.h", { name = spec.name, declarations = c_constants.declarations(consts),
    runtime_includes = vars.runtime_includes })
  out["constants.c"] = template.file(root, "constants.c", { name = spec.name,
    definitions = c_constants.definitions(consts, "constants", section_attribute(sections.constants)) })
  out["weights.c"] = template.file(root, "weights.c", { name = spec.name,
    definitions = c_constants.definitions(consts, "weights", section_attribute(sections.weights)) })
  if spec.blob then
    local parts, list = consts:blob_parts()
    -- the tensors' bytes, then their index (emit/weights_index.lua)
    local blob = table.move(parts, 1, #parts, 1, {})
    blob[#blob + 1] = weights_index.encode(list, consts.blob.size)
    out["weights.bin"] = blob
    out["weights_blob.S"] = template.file(root, "weights_blob.S", { name = spec.name, bytes = consts.blob.size,
      section = sections.weights or ".rodata.kiln_weights" })
  end
  vars.untied = untied
  return out, vars
end

return c_model
