-- Opens a model checkpoint, whatever its format, told from the path's
-- contents (never its name): a folder with config.json is a Hugging Face
-- model (read.hf), a file starting "GGUF" is GGUF (read.gguf), anything else
-- a llama2.c legacy .bin (read.llama2c). Each reader returns the same shape of
-- object: { path, description, tensors, load(native, name) } with tensors
-- named as TICO/Hugging Face do, in kiln's conventions (rotate-half q/k rows).

local fail = require "util.fail"
local files = require "util.files"
local llama2c = require "read.llama2c"
local hf = require "read.hf"
local gguf = require "read.gguf"

local checkpoint = {}

checkpoint.FORMATS = "a llama2.c .bin, a GGUF file, or a Hugging Face folder with config.json"

-- "folder", "gguf", "safetensors", "file", or nil and the reason it cannot be read.
local function kind_of(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, (err or "?"):gsub("^[^:]*: ", "") end
  local head, rerr = f:read(16)
  f:close()
  if head == nil and rerr and rerr:match("Is a directory") then return "folder" end
  head = head or ""
  if head:sub(1, 4) == "GGUF" then return "gguf" end
  if #head >= 9 and head:sub(9, 9) == "{" then return "safetensors" end
  return "file"
end

checkpoint.DTYPES = { "fp32", "fp16", "bf16" }

local function open_as_stored(path)
  local kind, why = kind_of(path)
  if not kind then fail.raise(path, nil, "cannot open: " .. why) end
  if kind == "folder" then
    if not hf.is_folder(path) then
      fail.raise(path, nil, "a folder without config.json is not a model (" .. checkpoint.FORMATS .. ")")
    end
    return hf.open(path)
  elseif kind == "gguf" then
    return gguf.open(path)
  elseif kind == "safetensors" then
    fail.raise(path, nil, "a safetensors file is read from its Hugging Face folder: give the folder, with config.json")
  end
  return llama2c.open(path)
end

-- open(path [, dtype]) -> checkpoint. The weights are held in the dtype they
-- are stored in; dtype ("fp32", "fp16", "bf16": --dtype) overrides it, each
-- weight converted (rounded to nearest even) as it is loaded.
function checkpoint.open(path, dtype)
  local ckpt = open_as_stored(path)
  -- every reader's BOS/EOS ids must be tokens of the vocabulary: a prompt
  -- starts with BOS, and the executors refuse ids past the vocabulary
  local desc = ckpt.description
  for _, k in ipairs({ "bos_id", "eos_id" }) do
    local id, what = desc[k], k:sub(1, 3):upper()
    if id ~= nil and not (id >= 0 and id < desc.vocab) then
      fail.raise(path, "vocab", string.format("%d tokens, but the %s id is %d: the vocabulary must hold it", desc.vocab,
        what, id))
    end
  end
  if dtype and dtype ~= ckpt.description.dtype then
    local load = ckpt.load
    ckpt.load = function(self, native, name)
      local t = load(self, native, name)
      return t:dtype() == dtype and t or t:converted(dtype)
    end
    ckpt.description.stored_dtype = ckpt.description.dtype
    ckpt.description.dtype = dtype
  end
  return ckpt
end

-- The sha256 of one file of a model folder, by name (nil when the model has
-- no such file): what a file records when it names the weights file itself
-- (TICO-side exporters that hash model.safetensors), not kiln's folder digest.
function checkpoint.file_sha256(ckpt, name)
  if not ckpt.digest_files then return nil end
  for _, f in ipairs(ckpt:digest_files()) do
    if f == name then return files.sha256(ckpt.path .. "/" .. f) end
  end
  return nil
end

-- sha256 of the model: of its file, or for a folder of the list of its files' digests.
function checkpoint.sha256(ckpt)
  if not ckpt.digest_files then return files.sha256(ckpt.path) end
  local lines = {}
  for _, name in ipairs(ckpt:digest_files()) do
    lines[#lines + 1] = files.sha256(ckpt.path .. "/" .. name) .. "  " .. name
  end
  return files.sha256_of(table.concat(lines, "\n") .. "\n")
end

return checkpoint
