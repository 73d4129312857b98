-- The microcontroller targets' kernels against the portable runtime, kernel by
-- kernel, bit for bit (tests/runtime/test_mcu_kernels.c), as firmware under
-- qemu-system-arm: every kernel a target's rules name (rules/<target>.lua,
-- kernels) on random and extreme inputs of what the rules and the generator
-- promise its call. The reference is the portable runtime compiled for the
-- same core without the target's KILN_RT_TARGET_REQUANT, linked into the
-- same image with its symbols renamed ref_kiln_*. What each entry takes (its
-- activation grids, row lengths, shifts, head sizes) is asked of the
-- generator's own kernel choice (plan/kernels.lua); the exp tables and
-- RMSNorm constants are the generator's own (plan/fixed.lua). A target this
-- host cannot build or run is pending, with the reason.

local support = require "support"
local targets = require "emit.targets"
local kernels = require "plan.kernels"
local fixed = require "plan.fixed"
local f32 = require "util.f32"

local TEST = "tests/runtime/test_mcu_kernels.c"
-- the portable runtime, the reference (kiln_linear_w4.c: the 4-bit kernels' reference too)
local PORTABLE = { "portable/kiln_rt_math.c", "portable/kiln_rt_ops.c", "portable/kiln_linear_w4.c" }
-- the elementwise ops a rules file may override by name (kernels[op] = "name")
local OPS = { "requant", "take_half", "concat_halves", "heads_first", "mul", "mul_rows", "add", "rmsnorm", "sigmoid",
  "softmax_row" }
local RUN_SECONDS = 120 -- a kernel that never returns fails the spec instead of hanging it

-- The activation grids test_mcu_kernels.c makes (its GRID_* bits); int16
-- apart by whether the zero point is 0 (codes within int16 of it).
local GRIDS = {
  { bit = 1, grid = { dtype = "uint8", qmin = 0, qmax = 255, zero_point = 128 } },
  { bit = 2, grid = { dtype = "int8", qmin = -128, qmax = 127, zero_point = 0 } },
  { bit = 4, grid = { dtype = "int16", qmin = -32768, qmax = 32767, zero_point = 0 } },
  { bit = 8, grid = { dtype = "int16", qmin = -32768, qmax = 32767, zero_point = 1 } },
  { bit = 16, grid = { dtype = "uint4", qmin = 0, qmax = 15, zero_point = 8 } },
  { bit = 32, grid = { dtype = "int4", qmin = -8, qmax = 7, zero_point = 0 } },
}
local TEMPLATES = { linear = "ROWS", linear_sums = "SUMS", linear_packed = "PACKED" }
local STORAGES = { "u8", "s8", "s16", "u4", "s4" }
local ROW_LENGTHS = { 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 252, 255,
  256, 257, 260, 511, 512, 513, 1024, 1028 }
local LONGEST = 16384 -- the longest rows of an entry that takes any (past 2^31 already)
local HEAD_DIMS = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 24, 31, 32, 33, 40, 48, 63, 64, 65, 72, 96, 100,
  127, 128, 129, 136, 192, 200, 248, 255, 256, 257, 264 }

local function tool(cc, name) return (cc:gsub("gcc$", name)) end

local function missing_tool(...)
  for _, t in ipairs({ ... }) do
    if not support.sh("command -v " .. t) then return t .. " is not installed" end
  end
end

-- The conditions of one linear entry, as the generator applies them: the
-- grid classes, row lengths (and the longest) and shifts it takes for a
-- storage.
local function linear_conditions(entry, storage)
  local alone = { kernels = { linear = { entry } } }
  local function takes(grid, n, shift) return kernels.linear(alone, grid, storage, n, { { shift = shift } }) == entry end
  -- a grid, a length and a shift it takes, found first: the other conditions are asked one at a time
  local grid, n, shift
  for _, g in ipairs(GRIDS) do
    for _, len in ipairs(ROW_LENGTHS) do
      for _, s in ipairs({ 40, 33, 20, 60 }) do
        if not grid and takes(g.grid, len, s) then grid, n, shift = g.grid, len, s end
      end
    end
  end
  assert(grid, entry.kernel .. ": no activation grid, row length and shift the test makes is taken")
  local mask, sizes, lo, hi = 0, {}, nil, nil
  for _, g in ipairs(GRIDS) do
    if takes(g.grid, n, shift) then mask = mask | g.bit end
  end
  for _, len in ipairs(ROW_LENGTHS) do
    if takes(grid, len, shift) then sizes[#sizes + 1] = len end
  end
  for s = 0, fixed.RQ_SHIFT_MAX do
    if takes(grid, n, s) then lo, hi = lo or s, s end
  end
  local longest = LONGEST
  if storage ~= "s16" and entry.n_in and entry.n_in.below then longest = math.min(entry.n_in.below - 1, 65535) end
  while longest > 0 and not takes(grid, longest, shift) do longest = longest - 1 end
  return mask, sizes, longest, lo, hi
end

-- rules/cortex-m4.lua's bias is n zx zw - zx sum_w; the C side makes that
-- one, so the rules' hook must be it.
local function check_bias(entry)
  local probes = { { 4, 3, 2, 10 }, { 65532, -32768, 255, 255 * 65532 }, { 12, 32767, -128, -1536 }, { 8, 0, 7, 9 } }
  for _, t in ipairs(probes) do
    local n, zx, zw, sw = table.unpack(t)
    assert(entry.bias(n, zx, zw, sw) == n * zx * zw - zx * sw, entry.kernel .. ": its bias is not n zx zw - zx sum_w, "
      .. "the one test_mcu_kernels.c makes")
  end
end

-- -DKILN_TEST_LINEAR: one LINEAR(...) for each entry and storage
local function linear_define(rules)
  local list, work = {}, 0
  for _, entry in ipairs(rules.kernels.linear or {}) do
    -- kernels on a weight layout of their own have their own test
    -- (cortex-m4's _r4 kernels: tests/runtime/test_linear_r4.c); the rest must be ones this file can make the inputs of
    if entry.weight_layout then goto next_entry end
    local template = TEMPLATES[entry.template or "linear"]
    assert(template, entry.kernel .. ": test_mcu_kernels.c knows no template " .. tostring(entry.template))
    if template == "PACKED" then check_bias(entry) end
    assert((template == "SUMS") == (entry.row_sums == true), entry.kernel .. ": row_sums and its template disagree")
    work = math.max(work, entry.work or 0)
    for _, storage in ipairs(entry.weight or STORAGES) do
      local mask, sizes, longest, lo, hi = linear_conditions(entry, storage)
      list[#list + 1] = string.format("LINEAR(%s, %s, %s, %d, %d, %d, %d, (%s))", entry.kernel, template, storage, mask,
        lo, hi, longest, table.concat(sizes, ", "))
    end
    ::next_entry::
  end
  return table.concat(list, " "), work
end

-- The head sizes the generator gives a target's qk and pv kernels.
local function head_dims(rules, which)
  local q = { dtype = "int16", qmin = -32768, qmax = 32767, zero_point = 0 }
  local probs = { zero_point = 0, scale = 1 / 255 }
  local dims = {}
  for _, d in ipairs(HEAD_DIMS) do
    local qk, pv = kernels.attention(rules, { head_dim = d, max_seq = 512 }, q, q, q, probs)
    if (which == "qk" and qk or pv) == rules.kernels[which .. "_row"].kernel then dims[#dims + 1] = d end
  end
  assert(#dims > 0, which .. "_row: no head size the test makes is taken")
  return "(" .. table.concat(dims, ", ") .. ")"
end

-- The -D defines of a target's kernels, and the kernels' names.
local function defines(rules)
  -- attention_row (cortex-m4) is qk_row, the mask's requant, softmax_row and
  -- pv_row in one call: not a case here yet; tests/e2e/targets_spec.lua
  -- holds it to portable's tokens and codes
  local known, out, names = { linear = true, qk_row = true, pv_row = true, attention_row = true }, {}, {}
  for _, op in ipairs(OPS) do known[op] = true end
  for key in pairs(rules.kernels or {}) do
    assert(known[key], "kernels." .. key .. ": test_mcu_kernels.c has no case for it yet")
  end
  for _, op in ipairs(OPS) do
    local name = rules.kernels[op]
    if type(name) == "string" then
      out[#out + 1] = "-DKILN_TEST_" .. op:upper() .. "=" .. name
      names[#names + 1] = name
    end
  end
  for _, which in ipairs({ "qk", "pv" }) do
    local entry = rules.kernels[which .. "_row"]
    if entry then
      out[#out + 1] = "-DKILN_TEST_" .. which:upper() .. "_ROW=" .. entry.kernel
      names[#names + 1] = entry.kernel
      out[#out + 1] = support.quote("-DKILN_TEST_" .. which:upper() .. "_DIMS=" .. head_dims(rules, which))
    end
  end
  local linear, work = linear_define(rules)
  if linear ~= "" then out[#out + 1] = support.quote("-DKILN_TEST_LINEAR=" .. linear) end
  if work > 0 then out[#out + 1] = "-DKILN_TEST_WORK_PER_VALUE=" .. work end
  for _, entry in ipairs(rules.kernels.linear or {}) do
    if not entry.weight_layout then names[#names + 1] = entry.kernel end
  end
  return table.concat(out, " "), names
end

local function c_array(values)
  local parts = {}
  for i, v in ipairs(values) do parts[i] = string.format("%du", v) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- exp tables of fixed.exp_lut for grids of 16, 256 and 65536 codes, each
-- over a few steps (scales), as softmax and sigmoid get them: tables that
-- end before 256 (no hi table), between 256 and 512, and further
local LUT_STEPS = { [15] = { 0.05, 0.4, 3.1 }, [255] = { 0.004, 0.0625, 0.31, 2.5 },
  [65535] = { 0.0001, 0.0007, 0.0045, 0.0123, 0.0371, 0.06, 0.25, 1.7 } }

-- RMSNorm constants of fixed.norm_rq, for rows of n values on an input grid
-- and gamma on its own, with scales and eps as models have them
local NORM_SIZES = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 48, 64, 100, 255, 256, 288, 768, 1024, 2048 }
local DTYPES = { uint8 = { 0, 255 }, int8 = { -128, 127 }, int16 = { -32768, 32767 }, uint4 = { 0, 15 }, int4 = { -8, 7 } }
local DTYPE_NAMES = { "uint8", "int8", "int16", "uint4", "int4" }

local function tables_header(rules)
  local lines = { "/* Made by tests/unit/mcu_kernels_spec.lua for " .. rules.name .. ". */" }
  local seen = {}
  for _, list in ipairs({ rules.runtime, rules.weight_runtime and rules.weight_runtime.u4 or {} }) do
    for _, f in ipairs(list) do
      local header = f:match("([^/]+%.h)$")
      if header and not f:match("^portable/") and not seen[header] then
        seen[header] = true
        lines[#lines + 1] = string.format('#include "%s"', header)
      end
    end
  end
  local luts = {}
  for _, span in ipairs({ 15, 255, 65535 }) do
    for _, step in ipairs(LUT_STEPS[span]) do
      local lut = fixed.exp_lut(step, span)
      local name = "LUT" .. #luts
      lines[#lines + 1] = string.format("static const uint32_t %s_LO[256] = %s;", name, c_array(lut.lo))
      if lut.hi then
        lines[#lines + 1] = string.format("static const uint32_t %s_HI[256] = %s;", name, c_array(lut.hi))
      end
      luts[#luts + 1] = string.format("{ { %s_LO, %s, %d }, %d }", name, lut.hi and name .. "_HI" or "NULL", lut.max_d,
        span)
    end
  end
  lines[#lines + 1] = "#define TEST_LUTS { " .. table.concat(luts, ", ") .. " }"
  -- a sequence of its own (an LCG), the same constants every run
  local seed = 20261202
  local function random(lo, hi)
    seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
    local u = (seed >> 11) / 2.0 ^ 52
    if not lo then return u end
    if not hi then lo, hi = 1, lo end
    return lo + math.floor(u * (hi - lo + 1))
  end
  local norms = {}
  local function grid(dtype)
    local lo, hi = DTYPES[dtype][1], DTYPES[dtype][2]
    local zp = dtype == "int16" and random(3) > 1 and 0 or ({ lo, hi, random(lo, hi) })[random(3)]
    return lo, hi, zp
  end
  for i = 1, 48 do
    local n = NORM_SIZES[(i - 1) % #NORM_SIZES + 1]
    local xd, gd = DTYPE_NAMES[random(5)], DTYPE_NAMES[random(5)]
    local xlo, xhi, xzp = grid(xd)
    local glo, ghi, gzp = grid(gd)
    local sx, sg, sy = 10 ^ (-4 + 4 * random()), 10 ^ (-3 + 3 * random()), 10 ^ (-3 + 3 * random())
    -- every other one a gain s_gamma sqrt(n) / s_out of any size kiln_rq takes
    -- (2^-40 to 2^31), so that the rows' multipliers take every shift
    if i % 2 == 0 then sg = 2 ^ (-40 + 70.9 * random()) * sy / math.sqrt(n) end
    local eps = ({ 0, 1e-5, 1e-6, 1e-2 })[random(4)]
    local ok, p = pcall(fixed.norm_rq, f32.round(sx), f32.round(sg), f32.div(1.0, f32.round(sy)), n, f32.round(eps),
      math.max(xhi - xzp, xzp - xlo))
    if ok then
      norms[#norms + 1] = string.format("{ %d, { %d, %d, %d }, { %d, %d, %d }, { { %d, %d }, UINT64_C(%d), %d } }",
        n, xzp, xlo, xhi, gzp, glo, ghi, p.gain.mult, p.gain.shift, p.eps_term, p.frac_bits)
    end
  end
  assert(#norms >= 24, "fixed.norm_rq refused most RMSNorm configurations")
  lines[#lines + 1] = "#define TEST_NORMS { " .. table.concat(norms, ", ") .. " }"
  return table.concat(lines, "\n") .. "\n"
end

-- The runtime's C files of a target (its runtime and 4-bit lists), as paths.
local function target_sources(rules)
  local files, seen = {}, {}
  for _, list in ipairs({ rules.runtime, rules.weight_runtime and rules.weight_runtime.u4 or {},
    rules.weight_runtime and rules.weight_runtime.s4 or {} }) do
    for _, f in ipairs(list) do
      if f:match("%.c$") and not seen[f] then seen[f], files[#files + 1] = true, "runtime/" .. f end
    end
  end
  return table.concat(files, " ")
end

local function include_dirs(rules)
  local dirs, seen = {}, {}
  for _, f in ipairs(rules.runtime) do
    local dir = f:match("^(.*)/")
    if dir and not seen[dir] then seen[dir], dirs[#dirs + 1] = true, "-Iruntime/" .. dir end
  end
  return table.concat(dirs, " ")
end

local function run_ok(cmd)
  local ok, log = support.sh(cmd)
  assert(ok, cmd .. "\n" .. (log or ""))
  return log
end

-- Builds the firmware for a target and runs it; returns its output.
local function build_and_run(name)
  local rules = targets.load(".", name)
  local build = rules.build
  local dir = support.tmpdir()
  support.kiln_ok("synth", "-o", dir)
  support.kiln_ok("gen", dir .. "/model.bin", "--qparams", "out/synthetic.qparams.json", "--target", name, "-o",
    dir .. "/fw")
  local fw = dir .. "/fw/firmware"
  support.write(dir .. "/test_mcu_tables.h", tables_header(rules))
  local includes = include_dirs(rules) .. " -Iruntime/portable -Itests/runtime -I" .. dir .. " -I" .. fw
  -- the reference: portable, without the target's requantization, its globals renamed ref_*
  local ref_flags = build.cflags:gsub("%-DKILN_RT_TARGET_REQUANT%S*", "")
  local objects = {}
  for i, f in ipairs(PORTABLE) do
    objects[i] = string.format("%s/ref%d.o", dir, i)
    run_ok(string.format("%s %s -Iruntime/portable -c runtime/%s -o %s", build.cc, ref_flags, f, objects[i]))
  end
  local ref = dir .. "/reference.o"
  run_ok(string.format("%s -nostdlib -r %s -o %s", build.cc, table.concat(objects, " "), ref))
  local symbols = run_ok(string.format("%s -g --defined-only --format=posix %s", tool(build.cc, "nm"), ref))
  local renames = {}
  for sym in symbols:gmatch("([%w_]+) [TDRB] ") do
    assert(sym:match("^kiln_"), "the portable runtime defines " .. sym .. ", which the reference would keep")
    renames[#renames + 1] = sym .. " ref_" .. sym
  end
  support.write(dir .. "/renames.txt", table.concat(renames, "\n") .. "\n")
  run_ok(string.format("%s --redefine-syms=%s/renames.txt %s", tool(build.cc, "objcopy"), dir, ref))
  local elf = dir .. "/test_mcu_kernels.elf"
  local flags, names = defines(rules)
  run_ok(string.format("%s %s %s %s %s %s %s/startup.c %s/semihosting.c %s/clock.c %s %s -T %s/link.ld -lgcc -o %s",
    build.cc, build.cflags, flags, includes, TEST, target_sources(rules), fw, fw, fw, ref, build.ldflags, fw,
    elf))
  local run = targets.run_command({ run = build.run, image = elf }, nil, "")
  local _, out = support.sh("timeout " .. RUN_SECONDS .. " " .. run)
  return out or "", names
end

describe("microcontroller kernels against the portable runtime", function()
  after_each(function() support.cleanup() end)

  for _, name in ipairs({ "cortex-m4", "cortex-m55" }) do
    it(name .. ": every kernel its rules name, bit for bit, as firmware under qemu-system-arm", function()
      local why = missing_tool("arm-none-eabi-gcc", "qemu-system-arm", "timeout")
        or support.missing_board(targets.load(".", name).build)
      if why then return pending(why) end
      local out, names = build_and_run(name)
      assert.is_nil(out:find("FAIL"), out)
      assert.matches("\nok\n$", "\n" .. out, out)
      for _, kernel in ipairs(names) do
        assert.is_truthy(("\n" .. out):find("\n" .. kernel .. " ok %d+\n"), kernel .. " did not run:\n" .. out)
      end
    end)
  end
end)
