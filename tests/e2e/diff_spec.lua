-- kiln diff and the git integration: a recalibration reads as observers
-- whose grids moved and no code, a template change as code alone, an
-- identical regeneration as nothing (exit 0), a weight change as a table of
-- tensors, also through git's textconv driver; and a one-observer change
-- in qparams.json changes only that observer's lines of the generated C.

local support = require "support"
local cjson = require "cjson"

local Q = "model.layers.1.mlp.down_proj.act_out"

-- The synthetic default model, written once for the whole file.
local synth
local function synthetic()
  if not synth then
    synth = support.tmpdir()
    support.kiln_ok("synth", "-o", synth .. "/m")
  end
  return synth .. "/m/model.bin"
end

-- A copy of qparams text at DIR/qparams.json (both sides of a comparison
-- keep the file's name, which the header records).
local function qparams_at(dir, text)
  os.execute("mkdir -p " .. support.quote(dir))
  support.write(dir .. "/qparams.json", text)
  return dir .. "/qparams.json"
end

-- text with the scale of one observer multiplied by factor.
local function scaled(text, path, factor)
  local at = assert(text:find('"' .. path .. '": {', 1, true), path)
  local s, e, value = text:find('"scale": ([-%d.e+]+)', at)
  return text:sub(1, s - 1) .. '"scale": ' .. string.format("%.8g", tonumber(value) * factor) .. text:sub(e + 1)
end

local function gen(model, q, out, ...)
  support.kiln_ok("gen", model, "--qparams", q, "-o", out, ...)
  return out
end

local function lines(path)
  local out = {}
  for l in (support.read(path)):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function tree_files(dir)
  local _, listing = support.sh("cd " .. support.quote(dir) .. " && find . -type f | sort")
  return listing
end

-- The definitions of a constants.c by name.
local function definitions(path)
  local out, order = {}, {}
  for block in (support.read(path) .. "\n\n"):gmatch("(.-)\n\n+") do
    local name = block:match("const [%w_]+ ([%w_]+)")
    if name then out[name] = block; order[#order + 1] = name end
  end
  return out, order
end

describe("kiln diff", function()
  teardown(function() support.cleanup() end)

  it("an identical regeneration: exit 0 and nothing printed", function()
    local dir = support.tmpdir()
    local q = qparams_at(dir .. "/q", support.read("out/synthetic.qparams.json"))
    local a, b = gen(synthetic(), q, dir .. "/a/m"), gen(synthetic(), q, dir .. "/b/m")
    local out, err, code = support.kiln_run("diff", a, b)
    assert.are.equal(0, code, err)
    assert.are.equal("", out)
    out = support.kiln_run("diff", a, b, "--json")
    assert.is_true(cjson.decode(out).identical)
    -- and against itself as qparams files
    out, err, code = support.kiln_run("diff", q, q)
    assert.are.equal(0, code, err)
    assert.are.equal("", out)
  end)

  it("bad input: one line, exit 2", function()
    local dir = support.tmpdir()
    local q = qparams_at(dir .. "/q", support.read("out/synthetic.qparams.json"))
    support.write(dir .. "/bad.json", "{ not json")
    for _, case in ipairs({ { dir .. "/none", q }, { q, dir .. "/bad.json" }, { dir, dir }, { "out/synthetic", q } }) do
      local out, err, code = support.kiln_run("diff", case[1], case[2])
      assert.are.equal(2, code, err)
      assert.are.equal("", out)
      assert.is_truthy(err:match("^kiln: [^\n]+\n$"), err)
    end
  end)

  it("one observer's scale changed: only its lines change, and diff names it", function()
    local dir = support.tmpdir()
    local text = support.read("out/synthetic.qparams.json")
    local a = gen(synthetic(), qparams_at(dir .. "/qa", text), dir .. "/a/m")
    local b = gen(synthetic(), qparams_at(dir .. "/qb", scaled(text, Q, 1.25)), dir .. "/b/m")
    assert.are.equal(tree_files(a), tree_files(b))
    -- no file gains or loses lines: nothing is renumbered or reflowed
    local changed = {}
    for f in tree_files(a):gmatch("%./([^\n]+)") do
      if f ~= "weights.bin" then
        local la, lb = lines(a .. "/" .. f), lines(b .. "/" .. f)
        assert.are.equal(#la, #lb, f)
        for i = 1, #la do
          if la[i] ~= lb[i] then changed[#changed + 1] = { file = f, line = i, old = la[i], new = lb[i] } end
        end
      end
    end
    local per_file = {}
    for _, c in ipairs(changed) do
      per_file[c.file] = (per_file[c.file] or 0) + 1
      if c.file == "layer_1.c" then
        -- the comments that state its grid
        assert.is_truthy(c.new:find(Q .. ": int16, scale ", 1, true), c.new)
      elseif c.file == "qparams.json" then
        assert.is_truthy(c.new:match('^%s*"scale": '), c.new)
      else
        assert.are.equal("constants.c", c.file, c.file .. ": " .. c.new)
      end
    end
    assert.are.equal(1, per_file["qparams.json"])
    assert.is_true((per_file["layer_1.c"] or 0) >= 1)
    -- in constants.c: its grid, the multiplier into it and the residual add that reads it
    local da, order_a = definitions(a .. "/constants.c")
    local db, order_b = definitions(b .. "/constants.c")
    assert.are.same(order_a, order_b)
    local moved = {}
    for _, name in ipairs(order_a) do
      if da[name] ~= db[name] then moved[#moved + 1] = name end
    end
    assert.are.same({ "L1_MLP_DOWN_PROJ_ACT_OUT_RQ", "L1_MLP_DOWN_PROJ_ACT_OUT", "L1_MLP_RESIDUAL_OUT_ADD" }, moved)

    local out, err, code = support.kiln_run("diff", a, b)
    assert.are.equal(1, code, err)
    assert.is_truthy(out:find("code: no change", 1, true), out)
    assert.is_truthy(out:find("constants: 3 of %d+ definitions changed value; added: none; removed: none"), out)
    assert.is_truthy(out:find("qparams: 1 of 139 observers changed", 1, true), out)
    assert.is_truthy(out:find("mlp.down_proj.act_out%s+int16/per_tensor_symm%s+scale [%d.e-]+ %-> [%d.e-]+ %(%+25%.00 %%%)"), out)
    assert.is_truthy(out:find("weights: no change", 1, true), out)
    assert.is_truthy(out:find("memory: no change", 1, true), out)
  end)

  it("--eval: both sides on the same stories, a tree as built the same as its qparams generated", function()
    local dir = support.tmpdir()
    local text = support.read("out/synthetic.qparams.json")
    local qa, qb = qparams_at(dir .. "/qa", text), qparams_at(dir .. "/qb", scaled(text, Q, 4))
    local a, b = gen(synthetic(), qa, dir .. "/a/m"), gen(synthetic(), qb, dir .. "/b/m")
    local m = synth .. "/m"
    local function eval(x, y)
      local out, err, code = support.kiln_run("diff", x, y, "--eval", m .. "/model.bin", "-z", m .. "/tokenizer.bin",
        "--text", m .. "/text.txt", "--stories", "3", "--max-tokens", "32")
      assert.are.equal(1, code, err)
      local rows = {}
      for name, old, new in out:gmatch("\n    (%a[%w_]+)%s+([%d.]+)%s+([%d.]+)") do rows[name] = { tonumber(old), tonumber(new) } end
      assert.is_truthy(out:find("\nbehaviour: 3 stories, %d+ positions of text.txt"), out)
      return rows
    end
    local trees, files = eval(a, b), eval(qa, qb)
    assert.are.same(trees, files)
    assert.is_true(trees.perplexity[1] > 1 and trees.kl_mean[2] >= 0, "perplexity and KL")
    assert.are_not.same(trees.kl_mean[1], trees.kl_mean[2]) -- a grid four times as coarse shows
  end)

  it("a layer's RoPE grid changed: its table is added, the others keep their names and bytes", function()
    local dir = support.tmpdir()
    local text = support.read("out/synthetic.qparams.json")
    local a = gen(synthetic(), qparams_at(dir .. "/qa", text), dir .. "/a/m")
    local b = gen(synthetic(), qparams_at(dir .. "/qb", scaled(text, "model.layers.0.cos", 1.25)), dir .. "/b/m")
    local da, order_a = definitions(a .. "/constants.c")
    local db = definitions(b .. "/constants.c")
    for _, name in ipairs(order_a) do
      assert.is_truthy(db[name], name)
      if name:match("^ROPE_") then assert.are.equal(da[name], db[name], name) end
    end
    local ma, mb = lines(a .. "/model.c"), lines(b .. "/model.c")
    local cos_a = table.concat(ma, "\n"):match("ROPE_COS%[KILN_LAYERS%] = { ([%w_]+), ([%w_]+) }")
    local cos_b0, cos_b1 = table.concat(mb, "\n"):match("ROPE_COS%[KILN_LAYERS%] = { ([%w_]+), ([%w_]+) }")
    assert.are.equal(cos_a, cos_b1) -- layer 1 keeps its table
    assert.are_not.equal(cos_a, cos_b0)
    assert.is_nil(da[cos_b0])
  end)

  it("a template change: code files only, constants unchanged", function()
    local dir = support.tmpdir()
    -- a checkout whose templates differ: the generator, runtime and rules
    -- linked from this one, templates/ a changed copy
    local root = dir .. "/kiln"
    local cwd = os.getenv("PWD")
    assert.is_true(os.execute("mkdir -p " .. root .. "/gen && for f in " .. cwd .. "/gen/*; do ln -s \"$f\" "
      .. root .. "/gen/; done && ln -s " .. cwd .. "/runtime " .. cwd .. "/rules " .. cwd .. "/.build " .. root
      .. "/ && cp -R " .. cwd .. "/templates " .. root .. "/templates"))
    local op = root .. "/templates/ops/rmsnorm.c"
    support.write(op, support.read(op):gsub("\n$", "\n  /* checked by the diff spec */\n"))
    local q = qparams_at(dir .. "/q", support.read("out/synthetic.qparams.json"))
    local a = gen(synthetic(), q, dir .. "/a/m")
    local ok, gen_err = support.sh(root .. "/gen/kiln gen " .. synthetic() .. " --qparams " .. q .. " -o " .. dir .. "/b/m")
    assert.is_true(ok, gen_err)
    local out, err, code = support.kiln_run("diff", a, dir .. "/b/m")
    assert.are.equal(1, code, err)
    local files = out:match("^code: 3 of %d+ files changed\n(.-)\n%-%-%- ")
    assert.is_truthy(files, out)
    local names = {}
    for f in files:gmatch("%s+(%S+)%s+changed") do names[#names + 1] = f end
    assert.are.same({ "head.c", "layer_0.c", "layer_1.c" }, names)
    assert.is_truthy(out:find("\n+  /* checked by the diff spec */\n", 1, true), out)
    assert.is_falsy(out:find("\n%-[^-]"), out) -- lines added, none removed
    assert.is_truthy(out:find("\nconstants: no change", 1, true), out)
    assert.is_truthy(out:find("\nqparams: no change", 1, true), out)
    assert.is_truthy(out:find("\nweights: no change", 1, true), out)
  end)

  it("a weight change with --weights-blob: the tensor table, and git diff through the textconv driver", function()
    local dir = support.tmpdir()
    local q = qparams_at(dir .. "/q", support.read("out/synthetic.qparams.json"))
    -- the checkpoint with layer 0's first q_proj row scaled
    local bin = support.read(synthetic())
    local dim, _, layers, _, _, vocab = string.unpack("<i4i4i4i4i4i4", bin)
    local at = 28 + 4 * (vocab * dim + layers * dim) -- llama2.c: embedding, attention norms, then wq
    local row = {}
    for i = 0, dim - 1 do row[#row + 1] = string.pack("<f", string.unpack("<f", bin, at + 4 * i + 1) * 1.3) end
    os.execute("mkdir -p " .. dir .. "/changed")
    support.write(dir .. "/changed/model.bin", bin:sub(1, at) .. table.concat(row) .. bin:sub(at + 4 * dim + 1))
    local a = gen(synthetic(), q, dir .. "/a/m", "--weights-blob")
    local b = gen(dir .. "/changed/model.bin", q, dir .. "/b/m", "--weights-blob", "--allow-other-checkpoint")
    local out, err, code = support.kiln_run("diff", a, b)
    assert.are.equal(1, code, err)
    assert.is_truthy(out:find("code: no change", 1, true), out)
    assert.is_truthy(out:find("qparams: no change", 1, true), out)
    local n, of, largest = out:match("\n    L0_ATTN_Q_PROJ_WEIGHT%s+model%.layers%.0%.self_attn%.q_proj%.weight%s+48x48%s+uint8"
      .. "%s+(%d+) %(%s*([%d.]+) %%%)%s+(%d+)\n")
    assert.is_truthy(n, out)
    assert.is_true(tonumber(n) > 0 and tonumber(n) <= dim, out)
    assert.is_true(tonumber(largest) > 0, out)
    assert.is_truthy(out:find("weights: 1 of %d+ tensors changed"), out)
    local doc = cjson.decode((support.kiln_run("diff", a, b, "--json")))
    assert.are.equal("L0_ATTN_Q_PROJ_WEIGHT", doc.weights.changed[1].name)
    assert.are.equal(tonumber(n), doc.weights.changed[1].codes_changed)

    -- textconv: the same sha256 from weights.bin and from the C arrays of a tree without a blob
    local conv = support.kiln_ok("textconv", a .. "/weights.bin")
    local c_tree = gen(synthetic(), q, dir .. "/c/m")
    local conv_c = support.kiln_ok("textconv", c_tree .. "/weights.c")
    local line = conv:match("\n(L0_ATTN_Q_PROJ_WEIGHT [^\n]+)")
    assert.is_truthy(line:match("^L0_ATTN_Q_PROJ_WEIGHT model%.layers%.0%.self_attn%.q_proj%.weight %[48x48%] uint8 %x+$"), line)
    assert.is_truthy(conv_c:find("\n" .. line .. "\n", 1, true), conv_c)
    assert.is_truthy(support.read(a .. "/.gitattributes"):find("\nweights.bin %-text diff=kiln\n"))

    -- git: the committed tree, then the new one over it
    local repo = dir .. "/repo"
    local kiln = os.getenv("PWD") .. "/gen/kiln textconv"
    local function git(args)
      local ok, text = support.sh("cd " .. repo .. " && git -c user.name=t -c user.email=t@t " .. args)
      assert.is_true(ok, text)
      return text
    end
    os.execute("mkdir -p " .. repo .. " && cp -R " .. a .. " " .. repo .. "/m")
    git("init -q . && git config diff.kiln.textconv " .. support.quote(kiln) .. " && git add -A && git commit -qm old")
    os.execute("rm -rf " .. repo .. "/m && cp -R " .. b .. " " .. repo .. "/m")
    git("add -A && git commit -qm new")
    local d = git("diff HEAD~1 HEAD -- m/weights.bin")
    assert.is_falsy(d:find("Binary files", 1, true), d)
    local old_sha = d:match("\n%-L0_ATTN_Q_PROJ_WEIGHT [^\n]* (%x+)\n")
    local new_sha = d:match("\n%+L0_ATTN_Q_PROJ_WEIGHT [^\n]* (%x+)\n")
    assert.is_truthy(old_sha and new_sha, d)
    assert.are_not.equal(old_sha, new_sha)
    local _, changed_lines = d:gsub("\n%+L", "")
    assert.are.equal(1, changed_lines, d) -- only that tensor
  end)

  it("two calibrations of stories260K: the observers that moved, no code", function()
    if not support.needs_shared() then return end
    local dir = support.tmpdir()
    local M = support.models
    local function calib(samples)
      local q = dir .. "/q" .. samples .. "/qparams.json"
      os.execute("mkdir -p " .. dir .. "/q" .. samples)
      support.kiln_ok("calib", M .. "/stories260K.bin", "-z", M .. "/tok512.bin", "--text",
        M .. "/tinystories_valid_first1000.txt", "--samples", tostring(samples), "--decode-steps", "2",
        "--max-tokens", "64", "-o", q)
      return q
    end
    local q16, q32 = calib(16), calib(32)
    local a = gen(M .. "/stories260K.bin", q16, dir .. "/a/stories260k")
    local b = gen(M .. "/stories260K.bin", q32, dir .. "/b/stories260k")
    local out, err, code = support.kiln_run("diff", a, b)
    assert.are.equal(1, code, err)
    assert.is_truthy(out:match("^code: no change %(%d+ files compared%)\n"), out)
    local changed = tonumber(out:match("\nqparams: (%d+) of 331 observers changed"))
    assert.is_true(changed and changed > 0, out)
    assert.is_truthy(out:find("\n  calibration.samples: 16 -> 32\n", 1, true), out)
    local _, rows = out:gsub("\n    [%w_.]+%s+int16/per_tensor_symm%s+scale [%d.e-]+ %-> [%d.e-]+ %([-+][%d.e+-]+ %%%)", "")
    assert.are.equal(changed, rows)
    assert.is_truthy(out:find("\n  total: " .. changed .. " observers changed, largest scale change [-+][%d.]+ %%"), out)
    assert.is_truthy(out:find("\nweights: no change", 1, true), out)
    -- the JSON says the same, and its relative changes are the scales'
    local doc = cjson.decode((support.kiln_run("diff", a, b, "--json")))
    assert.are.same({}, doc.code.changed)
    assert.are.equal(changed, doc.qparams.changed)
    for _, g in ipairs(doc.qparams.groups) do
      for _, r in ipairs(g.changed) do
        assert.is_true(math.abs(r.relative_scale_change - (r.scale[2] / r.scale[1] - 1)) < 1e-12, r.observer)
      end
    end
    -- the qparams files alone give the same observers
    local qout, _, qcode = support.kiln_run("diff", q16, q32)
    assert.are.equal(1, qcode)
    assert.is_truthy(qout:find("^qparams: " .. changed .. " of 331 observers changed"), qout)
  end)
end)
