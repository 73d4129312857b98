-- Reader for story text files (TinyStories style): stories separated by
-- "\n<|endoftext|>\n", each stripped of surrounding white space; empty ones
-- are skipped. This is the split the reference perplexity uses.

local fail = require "util.fail"
local files = require "util.files"

local stories = {}

local MARKER = "<|endoftext|>"
local SEPARATOR = "\n" .. MARKER .. "\n"

-- A marker the split did not take (not on a line of its own: CRLF line
-- ends, text beside it) would silently join two stories into one: refused,
-- naming its line.
local function check_leftover(path, text, from, piece)
  local at = piece:find(MARKER, 1, true)
  if not at then return end
  local pos = from + at - 1
  local _, newlines = text:sub(1, pos):gsub("\n", "")
  local after = text:sub(pos + #MARKER, pos + #MARKER)
  fail.raise(path, "line " .. (newlines + 1), after == "\r"
    and "CRLF line ends: stories are separated by \\n<|endoftext|>\\n (convert the file, e.g. dos2unix)"
    or "<|endoftext|> is not on a line of its own, so it separates no stories")
end

function stories.read(path)
  local text = files.read(path)
  local nul = text:find("\0", 1, true)
  if nul then fail.raise(path, "byte " .. (nul - 1), "NUL byte: not a text file") end
  local list = {}
  text = text:gsub("\n<|endoftext|>[ \t]*$", "\n") -- a separator on the last line, with no newline after it
  local start = 1
  if text:sub(1, #MARKER + 1) == MARKER .. "\n" then start = #MARKER + 2 end -- a separator on the first line
  while true do
    local i, j = text:find(SEPARATOR, start, true)
    local piece = text:sub(start, (i or #text + 1) - 1)
    check_leftover(path, text, start, piece)
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
