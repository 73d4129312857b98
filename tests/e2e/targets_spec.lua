-- The targets: portable on the host, armv8-dot under qemu-aarch64 and the
-- Cortex-M4 and Cortex-M55 firmware under qemu-system-arm produce the same
-- tokens and the same final hidden codes; each firmware is integer-only and
-- its memory report matches the linked image. A firmware whose board this
-- host's qemu-system-arm lacks is pending, with the reason.

local support = require "support"
local targets = require "emit.targets"

local MODEL = support.models .. "/stories260K.bin"
local TOK = support.models .. "/tok512.bin"
local TEXT = support.models .. "/tinystories_valid_first100.txt"
-- "Lily and Ben went to the park." as llama2.c encodes it
local PROMPT = "1 317 269 368 302 263 377 267 265 282 295 433 426"
local TARGETS = { "portable", "armv8-dot", "cortex-m4", "cortex-m55" }
local FIRMWARE = { "cortex-m4", "cortex-m55" }

local sh = support.sh

-- Runs a built model's test program on its target, as its rules say: stdout (ids line, hidden line, ...).
local function run_target(target, dir, args)
  local cmd = targets.run_command(targets.load(".", target).build, dir, args)
  local ok, out = sh(cmd) -- stdout and stderr: the firmware's output arrives on stderr
  assert(ok, cmd .. ": " .. out)
  return out
end

-- Why this host cannot run a target's firmware, or nil.
local function cannot_run(target)
  return support.missing_board(targets.load(".", target).build)
end

local function macros(dir)
  local m = {}
  for name, value in support.read(dir .. "/kiln_model.h"):gmatch("#define (KILN_[%u_]+) (%d+)") do
    m[name] = tonumber(value)
  end
  return m
end

describe("targets on stories260K", function()
  local work
  local qp, dirs = {}, {}

  setup(function()
    work = support.tmpdir()
    if not support.have_shared() then return end
    for _, preset in ipairs({ "w8a16", "w8a8" }) do
      qp[preset] = support.calibrate(work, preset)
      for _, target in ipairs(TARGETS) do
        local dir = string.format("%s/%s-%s", work, preset, target)
        local _, gerr, gcode = support.kiln_run("gen", MODEL, "--qparams", qp[preset], "--target", target, "-o", dir)
        assert(gcode == 0, gerr)
        -- each target's own compiler, at -std=c99 -Wall -Wextra -Wpedantic -Werror (rules/<target>.lua)
        local ok, log = sh("make -C " .. dir)
        assert(ok, target .. ": " .. log)
        dirs[preset .. target] = dir
      end
    end
  end)
  teardown(function() support.cleanup() end)

  -- The targets this host runs, and why it skips the others (nil: none).
  local function runnable()
    local list, why = {}, nil
    for _, target in ipairs(TARGETS) do
      local reason = cannot_run(target)
      if reason then why = why or reason else list[#list + 1] = target end
    end
    return list, why
  end

  for _, preset in ipairs({ "w8a16", "w8a8" }) do
    it("gives identical tokens and final hidden codes on every target (" .. preset .. ")", function()
      if not support.needs_shared() then return end
      local list, why = runnable()
      local reference
      for _, target in ipairs(list) do
        local out = run_target(target, dirs[preset .. target], "generate 64 " .. PROMPT)
        local ids, hidden = out:match("^([%d ]+)\nhidden([%d %-]+)\n")
        assert.is_string(ids, target .. ": " .. out)
        local n = 0
        for _ in ids:gmatch("%d+") do n = n + 1 end
        assert.are.equal(64, n, target)
        if reference then
          assert.are.equal(reference.ids, ids, target .. " tokens")
          assert.are.equal(reference.hidden, hidden, target .. " hidden")
        else
          reference = { ids = ids, hidden = hidden }
        end
      end
      if why then pending(why) end
    end)
  end

  it("kiln run --target T --ids prints the same ids for every target", function()
    if not support.needs_shared() then return end
    local list, why = runnable()
    local first
    for _, target in ipairs(list) do
      local out, err, code = support.kiln_run("run", MODEL, "-z", TOK, "--qparams", qp.w8a16, "--target", target,
        "-n", "33", "--ids")
      assert.are.equal(0, code, err)
      assert.matches("^[%d ]+\n$", out)
      first = first or out
      assert.are.equal(first, out, target)
    end
    if why then pending(why) end
  end)

  for _, fw in ipairs(FIRMWARE) do
    it(fw .. ": links an integer-only firmware image: no soft-float, libm, malloc or stdio", function()
      if not support.needs_shared() then return end
      for _, preset in ipairs({ "w8a16", "w8a8" }) do
        local ok, syms = sh("arm-none-eabi-nm " .. dirs[preset .. fw] .. "/firmware.elf")
        assert.is_true(ok, syms)
        for sym in syms:gmatch("%s%a%s+([%w_]+)\n") do
          local bad = sym:match("^__aeabi_[fd]") or sym:match("^__aeabi_[iul]+2[fd]") or sym:match("^__.*[sd]f[23]$")
            or sym:match("^__.*[sd]f[sd]i") or sym:match("^__.*float") or sym:match("^__.*fix")
          local named = { malloc = 1, free = 1, calloc = 1, realloc = 1, printf = 1, puts = 1, fwrite = 1, fputs = 1,
            exp = 1, expf = 1, sqrt = 1, sqrtf = 1, pow = 1, powf = 1, log = 1, logf = 1, sin = 1, cos = 1, sinf = 1,
            cosf = 1, floor = 1, floorf = 1, rint = 1, rintf = 1, lrint = 1, _sbrk = 1, __errno = 1 }
          assert.is_falsy(bad or named[sym], "the firmware image contains " .. sym)
        end
      end
    end)

    it(fw .. ": reports memory that agrees with arm-none-eabi-size within 5 %", function()
      if not support.needs_shared() then return end
      for _, preset in ipairs({ "w8a16", "w8a8" }) do
        local dir = dirs[preset .. fw]
        local m = macros(dir)
        local ok, out = sh("arm-none-eabi-size -A " .. dir .. "/firmware.elf")
        assert.is_true(ok, out)
        local size = {}
        for name, bytes in out:gmatch("\n(%.[%w_]+)%s+(%d+)") do size[name] = tonumber(bytes) end
        local function close(what, reported, actual)
          assert.is_true(math.abs(reported - actual) <= 0.05 * actual,
            string.format("%s %s: reported %d, image %d", preset, what, reported, actual))
        end
        close("code", m.KILN_CODE_BYTES, size[".text"])
        close("constants", m.KILN_CONSTANTS_BYTES, size[".kiln_constants"])
        close("weights", m.KILN_WEIGHTS_BYTES, size[".kiln_weights"])
        close("flash", m.KILN_CODE_BYTES + m.KILN_CONSTANTS_BYTES + m.KILN_WEIGHTS_BYTES,
          size[".text"] + size[".kiln_constants"] + size[".kiln_weights"] + size[".data"])
        close("arena", m.KILN_ARENA_BYTES, size[".kiln_arena"])
        close("KV cache", m.KILN_KV_CACHE_BYTES, size[".kiln_kv"])
        close("stack", m.KILN_STACK_BYTES, size[".stack"])
        close("RAM", m.KILN_ARENA_BYTES + m.KILN_KV_CACHE_BYTES + m.KILN_STACK_BYTES + m.KILN_HARNESS_RAM_BYTES,
          size[".data"] + size[".bss"] + size[".kiln_arena"] + size[".kiln_kv"] + size[".stack"])
        -- and the stack estimate holds: the firmware measures its high-water mark
        local why = cannot_run(fw)
        if why then return pending(why) end
        local used = tonumber(run_target(fw, dir, "generate 16 " .. PROMPT):match("\nstack (%d+)\n"))
        assert.is_true(used > 0 and used <= m.KILN_STACK_BYTES, "stack used " .. tostring(used))
      end
    end)
  end

  -- the Helium kernels for the weight storages stories260K's presets do not
  -- use: int8 (every Linear weight, symmetric) and int16 (two of them)
  it("cortex-m55: int8 and int16 weights give portable's tokens and hidden codes", function()
    if not support.needs_shared() then return end
    local why = cannot_run("cortex-m55")
    if why then return pending(why) end
    local linears = { "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
      "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
      "lm_head.weight" }
    local int8 = {}
    for _, w in ipairs(linears) do
      int8[#int8 + 1] = string.format('["%s"] = { dtype = "int8", qscheme = "per_channel_symm" }', w)
    end
    local cases = {
      { name = "int8", preset = "w8a8", kernel = "kiln_linear_mve_s8",
        overrides = "return { " .. table.concat(int8, ", ") .. " }" },
      { name = "int16", preset = "w8a16", kernel = "kiln_linear_mve_s16",
        overrides = 'return { ["mlp.down_proj.weight"] = { dtype = "int16" }, '
          .. '["self_attn.q_proj.weight"] = { dtype = "int16" } }' },
    }
    for _, c in ipairs(cases) do
      local overrides, q = work .. "/" .. c.name .. ".lua", work .. "/" .. c.name .. ".json"
      support.write(overrides, c.overrides)
      local _, err, code = support.kiln_run("calib", MODEL, "-z", TOK, "--text", TEXT, "--samples", "2", "--preset",
        c.preset, "--overrides", overrides, "-o", q)
      assert.are.equal(0, code, err)
      local outs = {}
      for _, target in ipairs({ "portable", "cortex-m55" }) do
        local dir = string.format("%s/%s-%s", work, c.name, target)
        local _, gerr, gcode = support.kiln_run("gen", MODEL, "--qparams", q, "--target", target, "-o", dir)
        assert.are.equal(0, gcode, gerr)
        local ok, log = sh("make -C " .. dir)
        assert(ok, target .. ": " .. log)
        outs[target] = run_target(target, dir, "generate 16 " .. PROMPT):match("^[%d ]+\nhidden[%d %-]+\n")
        if target == "cortex-m55" then assert.matches(c.kernel, support.read(dir .. "/layer_0.c")) end
      end
      assert.is_string(outs.portable)
      assert.are.equal(outs.portable, outs["cortex-m55"], c.name)
    end
  end)

  it("refuses a dtype the target cannot run, naming the op and the dtype", function()
    if not support.needs_shared() then return end
    local overrides = work .. "/int16-weights.lua"
    support.write(overrides, 'return { ["mlp.down_proj.weight"] = { dtype = "int16" } }')
    local q = work .. "/int16-weights.json"
    local _, err, code = support.kiln_run("calib", MODEL, "-z", TOK, "--text", TEXT, "--samples", "2",
      "--overrides", overrides, "-o", q)
    assert.are.equal(0, code, err)
    local _, gerr, gcode = support.kiln_run("gen", MODEL, "--qparams", q, "--target", "armv8-dot", "-o", work .. "/no")
    assert.are.equal(1, gcode)
    assert.matches("^kiln: [^\n]*model%.layers%.0%.mlp%.down_proj%.weight: target armv8%-dot cannot run linear with "
      .. "int16 weights[^\n]*\n$", gerr)
    assert.is_false(support.exists(work .. "/no/Makefile"))
  end)

  it("refuses a model larger than the target's memory", function()
    if not support.needs_shared() then return end
    local board = work .. "/small-board.lua"
    local rules = support.read("rules/cortex-m4.lua"):gsub("ram = { origin = 0x20000000, size = 4 %* 1024 %* 1024 }",
      "ram = { origin = 0x20000000, size = 256 * 1024 }")
    support.write(board, rules)
    local _, err, code = support.kiln_run("gen", MODEL, "--qparams", qp.w8a16, "--target", board, "-o", work .. "/big")
    assert.are.equal(1, code)
    assert.matches("memory%.ram: the model needs %d+ bytes of ram", err)
    -- a shorter KV cache fits
    local _, err2, code2 = support.kiln_run("gen", MODEL, "--qparams", qp.w8a16, "--target", board, "--max-seq", "128",
      "--prefill-len", "16", "-o", work .. "/small")
    assert.are.equal(0, code2, err2)
  end)
end)
