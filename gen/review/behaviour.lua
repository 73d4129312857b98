-- The behaviour part of a review (kiln diff --eval MODEL): both sides run
-- on the same stories against the same float model, perplexity, mean KL
-- and top-1 agreement side by side. A tree is built as it is (a copy, in a
-- scratch directory: its own templates and runtime, not today's); a
-- qparams file is generated first, as `kiln eval` does.

local fail = require "util.fail"
local files = require "util.files"
local common = require "cli.common"
local host = require "eval.host"
local metrics = require "eval.metrics"
local targets = require "emit.targets"

local behaviour = {}

-- The logits' grid of a tree, from its header (KILN_LOGITS_ZERO_POINT and the scale in its comment).
local function logits_grid(s)
  local h = s:read("kiln_model.h") or ""
  local scale = tonumber(h:match("real = %(code %- KILN_LOGITS_ZERO_POINT%) %* (%S+)"))
  local zp = s:macros().LOGITS_ZERO_POINT
  if not scale or not zp then fail.raise(s.path .. "/kiln_model.h", "KILN_LOGITS_ZERO_POINT", "no logits grid") end
  return { scale = scale, zero_point = zp }
end

-- The metrics of one generated tree (copied, built and run in work).
local function of_tree(context, s, model, ids, work, label)
  local rules = targets.load(context.root, s:target() or "portable")
  if rules.firmware then
    fail.usage("--eval: " .. s.path .. " is firmware (target " .. rules.name .. "); --eval runs host targets")
  end
  host.check_cpu(rules)
  local dir = work .. "/" .. label
  os.execute("mkdir -p " .. files.quote(dir) .. " && cp -R " .. files.quote(s.path) .. "/. " .. files.quote(dir)
    .. " && rm -rf " .. files.quote(dir .. "/build"))
  host.build(dir)
  return metrics.model({ native = context.native, model = model, desc = model.desc, dir = dir,
    logits_grid = logits_grid(s), runner = rules.build }, ids)
end

-- The metrics of a qparams file, generated for the host (portable) first.
local function of_qparams(context, opts, s, model, ids)
  return host.with_model(context, { model_path = opts.eval, qparams_path = s.path },
    function(g, dir)
      local grids = require "plan.grids"
      return metrics.model({ native = context.native, model = model, desc = model.desc, dir = dir,
        logits_grid = grids.of(g.qp, "lm_head.act_out"), runner = g.rules.build }, ids)
    end)
end

-- compare(context, opts, old, new) -> { text, json }.
function behaviour.compare(context, opts, old, new)
  local model = common.float_model(context.native, opts.eval)
  local max_tokens = common.max_tokens(opts, model.desc.max_seq)
  local ids = common.samples(context.native, { text = opts.text, tokens = opts.tokens, tokenizer = opts.tokenizer,
    MODEL = opts.eval }, model.desc, opts.stories, max_tokens)
  local work = host.workspace()
  local results = table.pack(pcall(function()
    local out = {}
    for i, s in ipairs({ old, new }) do
      out[i] = s.kind == "tree" and of_tree(context, s, model, ids, work, i == 1 and "old" or "new")
        or of_qparams(context, opts, s, model, ids)
    end
    return out
  end))
  host.cleanup(work)
  if not results[1] then error(results[2], 0) end
  local m = results[2]
  local lines = { string.format("behaviour: %d stories, %d positions of %s, against %s in float (perplexity %.4f)",
    m[2].stories, m[2].positions, files.basename(opts.text or opts.tokens), files.basename(opts.eval),
    m[2].perplexity_float),
    string.format("    %-16s %12s %12s", "", "old", "new") }
  local rows = { { "perplexity", "%.4f", "perplexity" }, { "kl_mean", "%.6f", "kl_mean" },
    { "top1_agreement", "%.4f", "top1_agreement" } }
  local json = require "util.json"
  local doc = json.object():set("stories", m[2].stories):set("positions", m[2].positions)
    :set("perplexity_float", m[2].perplexity_float)
  for _, r in ipairs(rows) do
    lines[#lines + 1] = string.format("    %-16s %12s %12s", r[1], string.format(r[2], m[1][r[3]]),
      string.format(r[2], m[2][r[3]]))
    doc:set(r[1], json.object():set("old", m[1][r[3]]):set("new", m[2][r[3]]))
  end
  return { text = table.concat(lines, "\n") .. "\n", json = doc }
end

return behaviour
