-- Loading steps shared by the verbs that run the model.

local fail = require "util.fail"
local files = require "util.files"
local checkpoint = require "read.checkpoint"
local tokenizer = require "read.tokenizer"
local tokenizer_json = require "read.tokenizer_json"
local stories = require "read.stories"
local token_lists = require "read.token_lists"
local float_model = require "model.float_model"

local common = {}

-- The float reference model of a checkpoint: { native, desc, observers, weights, ckpt }.
-- dtype: the --dtype override or nil.
function common.float_model(native, path, dtype)
  return float_model.load(native, checkpoint.open(path, dtype))
end

-- The file a tokenizer comes from: path itself (a tokenizer.json, told by
-- its contents, or a llama2.c tokenizer.bin), the tokenizer.json in the
-- folder path, or without a path the model folder's own tokenizer.json.
function common.tokenizer_path(path, model_path)
  if not path then
    local own = model_path and model_path:gsub("/+$", "") .. "/tokenizer.json"
    if not (own and files.exists(own)) then
      fail.usage("-z: the model has no tokenizer.json of its own; give a tokenizer")
    end
    return own
  elseif files.exists(path .. "/tokenizer.json") then
    return path .. "/tokenizer.json"
  end
  return path
end

-- The tokenizer of common.tokenizer_path(path, model_path). desc gives the
-- vocabulary size and the BOS and EOS ids (the model's config, as with
-- tokenizer.bin).
function common.open_tokenizer(native, path, desc, model_path)
  path = common.tokenizer_path(path, model_path)
  local f = io.open(path, "rb")
  local head = f and f:read(64) or ""
  if f then f:close() end
  if head:match("^%s*[{%[]") then -- JSON; a tokenizer.bin starts with a small int32
    return tokenizer_json.open(native, path, desc.vocab, { bos = desc.bos_id or 1, eos = desc.eos_id or 2 })
  end
  return tokenizer.open(path, desc.vocab)
end

function common.tokenizer(native, path, model, model_path)
  return common.open_tokenizer(native, path, model.desc, model_path)
end

-- Refuses, before any model is read, a command giving neither or both of
-- --text and --tokens.
function common.check_samples(opts)
  if (opts.text ~= nil) == (opts.tokens ~= nil) then fail.usage("give --text FILE or --tokens FILE (one of them)") end
end

-- Cuts every list longer than max_tokens; returns how many were cut.
local function truncate(lists, max_tokens)
  local cut = 0
  for i, ids in ipairs(lists) do
    if #ids > max_tokens then
      cut = cut + 1
      lists[i] = table.move(ids, 1, max_tokens, 1, {})
    end
  end
  return cut
end

-- Encodes (with BOS) only as much of a story as max_tokens needs: a prefix
-- of whole UTF-8 characters long enough for max_tokens + PREFIX_MARGIN
-- tokens, grown until it is, so a 50 MB story costs what its first tokens
-- cost. The margin keeps merges across the cut away from the tokens kept.
local PREFIX_MARGIN = 64
function common.encode_prefix(tok, text, max_tokens)
  if not max_tokens then return tok:encode(text, true, false) end
  local want = max_tokens + PREFIX_MARGIN
  local bytes = 8 * want
  while true do
    if bytes >= #text then return tok:encode(text, true, false) end
    while bytes > 1 and (text:byte(bytes + 1) or 0) & 0xC0 == 0x80 do bytes = bytes - 1 end
    local ids = tok:encode(text:sub(1, bytes), true, false)
    if #ids >= want then return ids end
    bytes = 2 * bytes
  end
end

-- The first count samples (all without count) of --text (its stories,
-- encoded with BOS by the model's tokenizer) or of --tokens (id lists, as
-- given), each cut to max_tokens; how many the file holds; where they came
-- from: { option = "text" or "tokens", path, tokenizer = its file or nil };
-- and how many were cut.
function common.samples(native, opts, desc, count, max_tokens)
  common.check_samples(opts)
  local lists, total, source
  if opts.tokens then
    lists = token_lists.read(opts.tokens, desc.vocab)
    total = #lists
    for i = (count or total) + 1, total do lists[i] = nil end
    source = { option = "tokens", path = opts.tokens }
  else
    local texts = stories.read(opts.text)
    local path = common.tokenizer_path(opts.tokenizer, opts.MODEL)
    local tok = common.open_tokenizer(native, path, desc)
    lists, total = {}, #texts
    for i = 1, math.min(total, count or total) do lists[i] = common.encode_prefix(tok, texts[i], max_tokens) end
    source = { option = "text", path = opts.text, tokenizer = path }
  end
  return lists, total, source, truncate(lists, max_tokens)
end

common.SAMPLE_OPTIONS = {
  { "--text", key = "text", metavar = "FILE", help = "stories, separated by <|endoftext|>" },
  { "--tokens", key = "tokens", metavar = "FILE",
    help = "samples as token ids instead of --text: one a line, space-separated, BOS included" },
}

-- Refuses a sample file with fewer than count samples (samples' total and source).
function common.require_samples(total, count, source)
  if total < count then
    local what = source.option == "text" and "stories" or "samples"
    fail.raise(source.path, what, string.format("has %d %s, fewer than --samples %d", total, what, count))
  end
end

-- Records where samples came from (samples' source) in a json object:
-- the file's name and sha256, and its tokenizer's.
function common.record_source(settings, source)
  local files = require "util.files"
  settings:set(source.option, files.basename(source.path)):set(source.option .. "_sha256", files.sha256(source.path))
  if source.tokenizer then
    settings:set("tokenizer", files.basename(source.tokenizer)):set("tokenizer_sha256", files.sha256(source.tokenizer))
  end
  return settings
end

-- The quantization specs of the verbs that resolve observers.
common.PRESET_OPTION = { "--preset", key = "preset", default = "w8a16", choices = { "w8a8", "w8a16" }, help = "TICO configuration" }
common.OVERRIDES_OPTION = { "--overrides", key = "overrides", metavar = "FILE", help = "Lua table of per-observer dtype/qscheme overrides" }

-- The tokens per story the scoring verbs take (--max-tokens): the option,
-- refused past the model's context, or by default DEFAULT_MAX_TOKENS cut to
-- the context, so a small model (the synthetic default, max_seq 128) needs
-- no option to fit.
common.DEFAULT_MAX_TOKENS = 512
function common.max_tokens(opts, max_seq)
  if opts.max_tokens == nil then return math.min(common.DEFAULT_MAX_TOKENS, max_seq) end
  if opts.max_tokens > max_seq then
    fail.usage(string.format("--max-tokens: %d exceeds the model's max_seq %d", opts.max_tokens, max_seq))
  end
  return opts.max_tokens
end
common.MAX_TOKENS_OPTION = { "--max-tokens", key = "max_tokens", type = "integer", min = 2, metavar = "N",
  unset_default = "512, or max_seq if smaller", help = "tokens per story, BOS included" }

-- The verbs that read qparams with a checkpoint: qparams whose model.sha256
-- is another checkpoint's are refused unless asked for (and then recorded
-- in the generated kiln_model.h).
common.ALLOW_OTHER_OPTION = { "--allow-other-checkpoint", key = "allow_other_checkpoint", type = "flag",
  help = "use qparams calibrated on another checkpoint (model.sha256 differs)" }

-- Options every model-running verb takes.
common.TOKENIZER_OPTION = { "-z", "--tokenizer", key = "tokenizer", metavar = "FILE",
  help = "tokenizer.json, llama2.c tokenizer.bin, or a folder with tokenizer.json (default: the model folder's)" }

-- The dtype the weights are held in, for every verb that reads a model.
common.DTYPE_OPTION = { "--dtype", key = "dtype", choices = checkpoint.DTYPES, metavar = "T",
  help = "hold the weights as fp32, fp16 or bf16 (default: as the checkpoint stores them)" }

-- Static shapes of the generated C, for the verbs that generate.
common.SHAPE_OPTIONS = {
  { "--prefill-len", key = "prefill_len", type = "integer", min = 1, metavar = "S", help = "static prefill block" },
  { "--append-len", key = "append_len", type = "integer", min = 1, metavar = "Q", help = "static append-prefill block" },
}
-- The verbs that write a directory replace only one kiln wrote, unless told.
common.FORCE_OPTION = { "--force", key = "force", type = "flag",
  help = "replace -o even if it is an existing directory kiln did not write" }
common.TARGET_OPTION = { "--target", key = "target", default = "portable", metavar = "T", help = "rules/T.lua" }

-- options(list, ...) -> list followed by the extra options
function common.options(list, ...)
  local out = table.move(list, 1, #list, 1, {})
  for _, extra in ipairs({ ... }) do
    for _, o in ipairs(extra) do out[#out + 1] = o end
  end
  return out
end

return common
