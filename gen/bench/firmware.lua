-- kiln bench for a firmware target (rules.firmware): stories260K built for
-- the board and run under its emulator, 64 tokens decoded after BOS; the
-- firmware's own counts (templates/firmware/clock.c): core cycles from DWT
-- CYCCNT, or instructions from SysTick under QEMU's -icount shift=0. With
-- profile, a profile build's program-counter samples, summed per function
-- by the image's symbols (arm-none-eabi-nm), give each kernel's share.
-- With plugin, QEMU's TCG plugin (.build/kiln_insn_plugin.so, from
-- qemu_insn_plugin.c) counts every instruction the emulator runs, a block at
-- a time: the cross-check of the firmware's figure, and each function's
-- exact count.

local fail = require "util.fail"
local files = require "util.files"
local host = require "eval.host"
local generate = require "emit.generate"
local targets = require "emit.targets"

local firmware = {}

firmware.DECODED = 64 -- tokens decoded after BOS
firmware.PRESETS = { "w8a16", "w8a8" }
firmware.TOP = 8 -- functions listed in a profile

-- The `name value` lines of the firmware's output.
local function figures(out)
  local t = {}
  for name, value in out:gmatch("\n([%w_]+) (%d+)") do t[name] = tonumber(value) end
  return t
end

-- The image's functions: { { address, size, name } ... }, by address.
local function functions(elf)
  local syms = {}
  local p = io.popen("arm-none-eabi-nm -n -S --defined-only " .. files.quote(elf))
  for line in p:lines() do
    local a, size, kind, name = line:match("^(%x+) (%x+) (%a) (%S+)")
    if a and (kind == "t" or kind == "T") then syms[#syms + 1] = { tonumber(a, 16) & ~1, tonumber(size, 16), name } end
  end
  p:close()
  return syms
end

-- The name of the function holding address a ("other" outside them all).
local function function_at(syms, a)
  for _, s in ipairs(syms) do
    if a >= s[1] and a < s[1] + s[2] then return s[3] end
  end
  return "other"
end

-- { { name, share } ... } of a table name -> count, largest first.
local function ranked(by)
  local total = 0
  for _, n in pairs(by) do total = total + n end
  local list = {}
  for name, n in pairs(by) do list[#list + 1] = { name, n / math.max(total, 1), n } end
  table.sort(list, function(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end)
  return list
end

-- Per-function shares of a profile run's samples.
local function shares(elf, out)
  local syms, by = functions(elf), {}
  for a, n in out:gmatch("profile_address (%d+)\nprofile_samples (%d+)") do
    local name = function_at(syms, tonumber(a))
    by[name] = (by[name] or 0) + tonumber(n)
  end
  return ranked(by)
end

-- The plugin, built by `make native`.
local function plugin_path(context)
  local path = context.root .. "/.build/kiln_insn_plugin.so"
  if not files.exists(path) then fail.raise(path, "plugin", "missing: run make native") end
  return path
end

-- Runs the image with "generate STEPS 1" under the plugin: the total it
-- counted and the per-function counts of its blocks.
local function counted(context, dir, rules, syms, steps)
  local build = rules.build
  local qemu = build.run.command:match("^(qemu%-system%-%S+)")
  if not qemu then fail.raise(rules.name, "build.run.command", "--plugin needs a qemu-system command") end
  local blocks = dir .. "/insn_blocks.txt"
  local run = setmetatable({ command = build.run.command:gsub("^qemu%-system%-%S+", qemu .. " -plugin "
    .. files.quote(plugin_path(context)):gsub("%%", "%%%%") .. " -d plugin", 1) }, { __index = build.run })
  local out = host.run(dir, "generate " .. steps .. " 1", nil, setmetatable({ run = run }, { __index = build }),
    "KILN_INSN_OUT=" .. files.quote(blocks))
  local total = tonumber(out:match("kiln_insn_total (%d+)"))
  if not total then fail.raise(dir, "plugin", "no count in the output: " .. out:gsub("\n", " / ")) end
  local by = {}
  for line in io.lines(blocks) do
    local a, n, runs = line:match("^(%x+) (%d+) (%d+)$")
    local name = function_at(syms, tonumber(a, 16))
    by[name] = (by[name] or 0) + tonumber(n) * tonumber(runs)
  end
  os.remove(blocks)
  return total, by
end

-- The plugin's figures: decode instructions a token as the firmware counts
-- them (generate 64 minus generate 0, whose difference is the 64 decode steps
-- and their few harness instructions), its agreement with the firmware's
-- count, and each function's instructions a token.
local function plugin_figures(context, dir, rules, preset, firmware_count, add)
  local syms = functions(dir .. "/" .. rules.build.image)
  local t1, by1 = counted(context, dir, rules, syms, firmware.DECODED)
  local t0, by0 = counted(context, dir, rules, syms, 0)
  local per_token = (t1 - t0) / firmware.DECODED
  add("mcu_plugin_instructions_per_token_" .. preset, per_token,
    "stories260K decode, instructions a token (QEMU plugin), " .. preset, "")
  add("mcu_plugin_agreement_" .. preset, 100 * (firmware_count - per_token) / per_token,
    "firmware's count against the plugin's, " .. preset, "%")
  local diff = {}
  for name, n in pairs(by1) do diff[name] = (n - (by0[name] or 0)) / firmware.DECODED end
  for i, s in ipairs(ranked(diff)) do
    if i > firmware.TOP then break end
    add("mcu_insn_" .. preset .. "_" .. s[1], s[3], "instructions a token (plugin), " .. s[1] .. ", " .. preset, "")
  end
end

-- run(context, opts, rules, add): opts.models, opts.profile; add(name, value, label, unit, note).
function firmware.run(context, opts, rules, add)
  local models = opts.models
  if not (models and files.exists(models .. "/stories260K.bin")) then
    fail.raise(models, "stories260K.bin", "bench --target " .. rules.name .. " needs stories260K.bin")
  end
  local work = host.workspace()
  local ok, err = pcall(function()
    local kiln = files.quote(context.root .. "/gen/kiln")
    for _, preset in ipairs(firmware.PRESETS) do
      local q = string.format("%s/stories260K_%s.json", work, preset)
      local log = work .. "/calib.log"
      if not os.execute(string.format("%s calib %s -z %s --text %s --samples 16 --decode-steps 8 --preset %s -o %s >%s 2>&1",
        kiln, files.quote(models .. "/stories260K.bin"), files.quote(models .. "/tok512.bin"),
        files.quote(models .. "/tinystories_valid_first100.txt"), preset, files.quote(q), files.quote(log))) then
        fail.raise(nil, "bench", "calibration failed:\n" .. files.read(log))
      end
      local dir = work .. "/stories260K_" .. preset
      generate.run { root = context.root, native = context.native, model_path = models .. "/stories260K.bin",
        qparams_path = q, target = opts.target, output = dir }
      host.build(dir)
      local f = figures(host.run(dir, "generate " .. firmware.DECODED .. " 1", nil, rules.build))
      local unit = f.decode_cycles and "" or nil
      if not (f.cycles_per_token_decode and f.decode_tokens == firmware.DECODED) then
        fail.raise(dir, "firmware output", "no cycles_per_token_decode for " .. firmware.DECODED .. " tokens")
      end
      local what = rules.build.run.command:find("icount", 1, true) and "instructions (QEMU -icount)" or "cycles"
      add("mcu_instructions_per_token_" .. preset, f.cycles_per_token_decode,
        string.format("stories260K decode, %d tokens after BOS, %s a token, %s", firmware.DECODED, what, preset), unit)
      add("mcu_prefill_instructions_per_token_" .. preset, f.cycles_per_token_prefill,
        "stories260K prefill of BOS, " .. what .. ", " .. preset, unit)
      if rules.reference_clock_hz then
        add("mcu_tok_s_" .. preset, rules.reference_clock_hz / f.cycles_per_token_decode, string.format(
          "tok/s at %d MHz, one instruction a cycle, %s", rules.reference_clock_hz // 1000000, preset), "tok/s")
      end
      if opts.plugin then plugin_figures(context, dir, rules, preset, f.cycles_per_token_decode, add) end
      if opts.profile then
        local plog = dir .. "/profile.log"
        if not os.execute(string.format("make -s -C %s profile >%s 2>&1", files.quote(dir), files.quote(plog))) then
          fail.raise(dir, "profile build", files.read(plog))
        end
        local out = host.run(dir, "generate " .. firmware.DECODED .. " 1", nil,
          setmetatable({ image = "firmware-profile.elf" }, { __index = rules.build }))
        for i, s in ipairs(shares(dir .. "/firmware-profile.elf", out)) do
          if i > firmware.TOP then break end
          add("mcu_share_" .. preset .. "_" .. s[1], 100 * s[2], "share of samples, " .. s[1] .. ", " .. preset, "%")
        end
      end
    end
  end)
  host.cleanup(work)
  if not ok then error(err, 0) end
end

return firmware
