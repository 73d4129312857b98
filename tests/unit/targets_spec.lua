-- Target rules: --target native's choice for a host, the CPU-flag check, and
-- rules files that are not tables or do not end.

local targets = require "emit.targets"
local support = require "support"
local fail = require "util.fail"

local function host(machine, flags)
  local set = {}
  for _, f in ipairs(flags) do set[f] = true end
  return { machine = machine, flags = set, known = true }
end

describe("target rules", function()
  after_each(function() support.cleanup() end)

  it("--target native takes the fastest target a host runs", function()
    local cases = {
      { "x86_64", { "sse2" }, "portable" },
      { "x86_64", { "avx2", "fma" }, "x86-avx2" },
      { "x86_64", { "avx2", "fma", "avx_vnni" }, "x86-avx2" },
      { "x86_64", { "avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni" }, "x86-vnni" },
      { "aarch64", { "asimd", "asimddp" }, "armv8-dot" },
      { "aarch64", { "asimd" }, "portable" },
      { "riscv64", { "avx2", "fma" }, "portable" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[3], targets.native(".", host(c[1], c[2])).name, c[1] .. " " .. table.concat(c[2], ","))
    end
  end)

  it("checks CPU flags only for code that runs on this machine", function()
    local vnni = targets.load(".", "x86-vnni")
    assert.are.same({ "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni" },
      targets.missing_flags(vnni, host("x86_64", { "avx2" })))
    -- armv8-dot runs under qemu-aarch64 on an x86 host: its flags are not the host's
    assert.are.same({}, targets.missing_flags(targets.load(".", "armv8-dot"), host("x86_64", {})))
  end)

  it("refuses a rules file that loops or is not a table, in one line", function()
    local dir = support.tmpdir()
    for name, text in pairs({ ["loop.lua"] = "while true do end", ["number.lua"] = "return 1",
      ["norun.lua"] = "return { name = 'x', summary = 's', dtypes = {}, runtime = {}, code_size = {}, build = {} }" }) do
      support.write(dir .. "/" .. name, text)
      local ok, err = pcall(targets.load, ".", dir .. "/" .. name)
      assert.is_false(ok)
      assert.is_true(fail.is(err), name .. ": " .. tostring(err))
      assert.matches("^" .. (dir .. "/" .. name):gsub("%p", "%%%0") .. ": ", tostring(err))
      assert.is_nil(tostring(err):find("\n"), name)
    end
  end)
end)
