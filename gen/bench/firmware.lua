-- kiln bench for a firmware target (rules.firmware): stories260K built for
-- the board and run under its emulator, 64 tokens decoded after BOS; the
-- firmware's own counts (templates/firmware/clock.c): core cycles from DWT
-- CYCCNT, or instructions from SysTick under QEMU's -icount shift=0. With
-- profile, a profile build's program-counter samples, summed per function
-- by the image's symbols (arm-none-eabi-nm), give each kernel's share.

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

-- Per-function shares of a profile run's samples: { { name, share } ... }, largest first.
local function shares(elf, out)
  local syms = {}
  local p = io.popen("arm-none-eabi-nm -n -S --defined-only " .. files.quote(elf))
  for line in p:lines() do
    local a, size, kind, name = line:match("^(%x+) (%x+) (%a) (%S+)")
    if a and (kind == "t" or kind == "T") then syms[#syms + 1] = { tonumber(a, 16) & ~1, tonumber(size, 16), name } end
  end
  p:close()
  local by, total = {}, 0
  for a, n in out:gmatch("profile_address (%d+)\nprofile_samples (%d+)") do
    a, n = tonumber(a), tonumber(n)
    total = total + n
    local name = "other"
    for _, s in ipairs(syms) do
      if a >= s[1] and a < s[1] + s[2] then name = s[3] break end
    end
    by[name] = (by[name] or 0) + n
  end
  local list = {}
  for name, n in pairs(by) do list[#list + 1] = { name, n / math.max(total, 1) } end
  table.sort(list, function(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end)
  return list
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
