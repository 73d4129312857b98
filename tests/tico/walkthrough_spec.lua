-- `make test-tico`: the README's walk-through from a Hugging Face folder
-- through TICO 0.3.0 (prepare, calibration, convert; gen/tico/export_qparams.py)
-- to kiln's generated C and Cortex-M4 firmware, run as written; and the
-- exporter's qparams.json for both presets against TICO's own files in
-- ../shared/tico-golden. Needs the venv of `make tico-env` (PyPI: tico,
-- torch, transformers); without it every test here is pending.

local support = require "support"

local PYTHON = os.getenv("KILN_TICO_PYTHON")
local GOLDEN = support.shared .. "/tico-golden/stories260K"
local MODEL = support.models .. "/hf/stories260K-fp32"

local function ready()
  if not PYTHON or not support.exists(PYTHON) then
    pending("needs the TICO venv: run make test-tico (make tico-env installs tico, torch, transformers from PyPI)")
    return false
  end
  if not support.exists(GOLDEN .. "/w8a16/qparams.json") then
    pending("needs ../shared/tico-golden beside the checkout")
    return false
  end
  return true
end

-- The shell block that follows the walk-through's marker in README.md.
local function walkthrough()
  local readme = support.read("README.md")
  local at = assert(readme:find("<!-- tico walk-through -->", 1, true), "README.md has no TICO walk-through")
  return assert(readme:match("```sh\n(.-)```", at), "no sh block after the walk-through marker")
end

-- TICO's file and the exporter's agree within 1e-5 (torch's sums depend on
-- the CPU that ran it).
local function same_qparams(mine_path, tico_path)
  support.assert_same_qparams(support.read(mine_path), support.read(tico_path), 1e-5)
end

describe("TICO walk-through", function()
  after_each(function() support.cleanup() end)

  it("runs as the README writes it: TICO's qparams.json, the generated C, the firmware", function()
    if not ready() then return end
    local script = support.tmpdir() .. "/walkthrough.sh"
    support.write(script, "set -e\nexport PATH=\"$PATH\"\n" .. walkthrough())
    local ok, out = support.sh("bash " .. script)
    assert.is_true(ok, out)
    local W = walkthrough():match("W=(%S+)")
    same_qparams(W .. "/qparams.json", GOLDEN .. "/w8a16/qparams.json")
    -- the host run and the firmware run print the same greedy text
    local texts = {}
    for text in out:gmatch("(Once upon a time[^\n]*)") do texts[#texts + 1] = text end
    assert.is_true(#texts >= 2, out)
    assert.are.equal(texts[1], texts[#texts])
  end)

  it("exports w8a8 as TICO's PTQConfig() gives it", function()
    if not ready() then return end
    local out = support.tmpdir() .. "/w8a8.json"
    local ok, log = support.sh(string.format("%s gen/tico/export_qparams.py %s --preset w8a8 --tokens %s -o %s",
      support.quote(PYTHON), support.quote(MODEL), support.quote(GOLDEN .. "/w8a8/calib_token_ids.txt"), support.quote(out)))
    assert.is_true(ok, log)
    same_qparams(out, GOLDEN .. "/w8a8/qparams.json")
  end)
end)
