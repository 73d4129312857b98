-- Reader for story text files (TinyStories style): stories separated by
-- "\n<|endoftext|>\n", each stripped of surrounding white space; empty ones
-- are skipped. This is the split the reference perplexity uses.

local fail = require "util.fail"
local files = require "util.files"

local stories = {}

local SEPARATOR = "\n<|endoftext|>\n"

function stories.read(path)
  local text = files.read(path)
  local nul = text:find("\0", 1, true)
  if nul then fail.raise(path, "byte " .. (nul - 1), "NUL byte: not a text file") end
  local list = {}
  local start = 1
  while true do
    local i, j = text:find(SEPARATOR, start, true)
    local piece = text:sub(start, (i or #text + 1) - 1)
    piece = piece:match("^%s*(.-)%s*$")
    if piece ~= "" then list[#list + 1] = piece end
    if not i then break end
    start = j + 1
  end
  if #list == 0 then
    fail.raise(path, "text", "no stories (expected text separated by \\n<|endoftext|>\\n)")
  end
  return list
end

return stories
