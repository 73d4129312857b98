-- Reader for token-id files (`--tokens`, TICO's calib_token_ids.txt): one
-- sample a line, its ids separated by white space; blank lines are skipped.

local fail = require "util.fail"
local files = require "util.files"

local token_lists = {}

-- read(path, vocab) -> { {ids...}, ... }; an id outside [0, vocab) or a word
-- that is not an integer is refused naming the line.
function token_lists.read(path, vocab)
  local lists, n = {}, 0
  for line in files.read(path):gmatch("[^\n]*") do
    n = n + 1
    if line:match("%S") then
      local ids = {}
      for word in line:gmatch("%S+") do
        local id = math.tointeger(tonumber(word))
        if not id or id < 0 or id >= vocab then
          fail.raise(path, "line " .. n, string.format("'%s' is not a token id of the model's %d", word, vocab))
        end
        ids[#ids + 1] = id
      end
      lists[#lists + 1] = ids
    end
  end
  if #lists == 0 then fail.raise(path, "tokens", "no samples") end
  return lists
end

return token_lists
