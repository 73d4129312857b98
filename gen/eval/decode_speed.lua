-- How fast the generated C decodes on this host: the host program's greedy
-- generation of STEPS tokens after a one-token prompt, best of REPEATS
-- runs, in tokens per second (portable target, the build's own flags). For
-- comparing two calibrations of one model, not a benchmark (make bench).

local files = require "util.files"
local host = require "eval.host"

local decode_speed = {}

decode_speed.STEPS = 200
decode_speed.REPEATS = 3

-- measure(context, model_path, dtype, qparams_text) -> tokens per second
function decode_speed.measure(context, model_path, dtype, qparams_text)
  local work = host.workspace()
  local q = work .. "/qparams.json"
  files.write_atomic(q, qparams_text)
  local ok, result = pcall(host.with_model, context, { model_path = model_path, dtype = dtype, qparams_path = q },
    function(g, dir)
      local steps = math.min(decode_speed.STEPS, g.desc.max_seq - 1)
      local best = math.huge
      for _ = 1, decode_speed.REPEATS do
        local t0 = context.native.monotonic()
        host.run(dir, string.format("generate %d 1", steps), nil, g.rules.build)
        best = math.min(best, context.native.monotonic() - t0)
      end
      return steps / best
    end)
  host.cleanup(work)
  if not ok then error(result, 0) end
  return result
end

return decode_speed
