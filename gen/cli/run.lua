-- kiln run MODEL [-z TOKENIZER]: generate text like llama2.c's `run`.
--
-- Same options, same loop, same sampler and the same printing rules as
-- run.c, so `-t 0` reproduces its text byte for byte: one forward pass per
-- position, prompt tokens forced, generation stops at BOS or after -n steps.
-- With --qparams the tokens come from the generated C, built for --target
-- and run on the host or under its emulator, decoding greedily.

local fail = require "util.fail"
local common = require "cli.common"
local host = require "eval.host"

local verb = {
  summary = "generate text with the float reference model, like llama2.c's run",
  synopsis = "MODEL [-z TOKENIZER] [-i PROMPT] [-t TEMP] [-p TOPP] [-s SEED] [-n STEPS]",
  positional = { "MODEL" },
  options = {
    common.TOKENIZER_OPTION,
    { "-i", "--prompt", key = "prompt", default = "", metavar = "TEXT", help = "prompt" },
    { "-t", "--temperature", key = "temperature", type = "number", min = 0,
      help = "0 = greedy (default 1.0; 0 with --qparams)" },
    { "-p", "--topp", key = "topp", type = "number", default = 0.9, help = "nucleus sampling threshold" },
    { "-s", "--seed", key = "seed", type = "integer", default = 0, help = "random seed (0 = time)" },
    { "-n", "--steps", key = "steps", type = "integer", default = 256, min = 0, help = "positions to run (0 = max_seq)" },
    { "--qparams", key = "qparams", metavar = "FILE", help = "run the generated C of this calibration instead" },
    common.TARGET_OPTION,
    common.DTYPE_OPTION,
    common.ALLOW_OTHER_OPTION,
    { "--ids", key = "ids", type = "flag", help = "with --qparams: print the generated token ids, one line" },
  },
}

-- Prints the text of ids[first..] as run.c does, stopping at BOS.
local function print_pieces(tok, ids, first)
  local stream = tok:stream(ids[first - 1])
  for i = first, #ids do
    if ids[i] == tok.bos then break end -- BOS delimits sequences
    io.write(stream.push(ids[i]))
  end
  io.write(stream.finish(), "\n")
end

-- The generated C decodes greedily: the prompt, then steps - (prompt - 1) tokens.
local function run_generated(opts, context)
  if (opts.temperature or 0) ~= 0 then
    fail.usage("-t: the generated C decodes greedily; use -t 0 with --qparams")
  end
  host.with_model(context, { model_path = opts.MODEL, dtype = opts.dtype, qparams_path = opts.qparams,
    allow_other_checkpoint = opts.allow_other_checkpoint,
    target = opts.target },
    function(g, dir)
      local tok = common.tokenizer(context.native, opts.tokenizer, g.model, opts.MODEL)
      local steps = opts.steps
      if steps == 0 or steps > g.desc.max_seq then steps = g.desc.max_seq end
      local prompt = tok:encode(opts.prompt, true, false)
      if #prompt > steps then prompt = table.move(prompt, 1, steps, 1, {}) end
      local count = steps - #prompt + 1
      local ids = table.move(prompt, 1, #prompt, 1, {})
      local generated = {}
      if count > 0 then
        local out = host.run(dir, string.format("generate %d %s", count, table.concat(prompt, " ")), nil,
          g.rules.build)
        for id in out:match("^[^\n]*"):gmatch("%d+") do generated[#generated + 1] = math.tointeger(tonumber(id)) end
      end
      if opts.ids then
        print(table.concat(generated, " "))
        return
      end
      table.move(generated, 1, #generated, #ids + 1, ids)
      print_pieces(tok, ids, 2)
    end)
end

function verb.run(opts, context)
  if opts.qparams then return run_generated(opts, context) end
  opts.temperature = opts.temperature or 1.0
  local native = context.native
  local model = common.float_model(native, opts.MODEL, opts.dtype)
  local tok = common.tokenizer(native, opts.tokenizer, model, opts.MODEL)
  local steps = opts.steps
  if steps == 0 or steps > model.desc.max_seq then steps = model.desc.max_seq end
  local rng = opts.seed > 0 and opts.seed or os.time()

  local prompt = tok:encode(opts.prompt, true, false)
  if #prompt < 1 then fail.raise(nil, "prompt", "encodes to no tokens") end
  local token = prompt[1]
  local pos = 0
  local started
  local stream = tok:stream(token)
  while pos < steps do
    local logits = model.native:forward({ token }, pos, false)
    local next_token
    if pos < #prompt - 1 then
      next_token = prompt[pos + 2]
    else
      next_token, rng = native.sample(logits, opts.temperature, opts.topp, rng)
    end
    pos = pos + 1
    if next_token == tok.bos then break end -- BOS delimits sequences
    io.write(stream.push(next_token))
    io.flush()
    token = next_token
    started = started or os.clock()
  end
  io.write(stream.finish(), "\n")
  if pos > 1 and started then
    local seconds = os.clock() - started
    if seconds > 0 then io.stderr:write(string.format("achieved tok/s: %f\n", (pos - 1) / seconds)) end
  end
end

return verb
