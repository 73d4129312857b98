-- review/line_diff.lua: its scripts are shortest (as GNU diff's count) and
-- its unified hunks apply with patch(1) to give the new file.

local support = require "support"
local line_diff = require "review.line_diff"

local function write(path, list)
  support.write(path, #list > 0 and (table.concat(list, "\n") .. "\n") or "")
end

describe("line diff", function()
  after_each(function() support.cleanup() end)

  it("random files: the hunks patch the old file into the new, with as few lines as diff", function()
    local dir = support.tmpdir()
    local rng = 12345
    local function rand(n) rng = (rng * 1103515245 + 12345) % 2147483648; return rng % n + 1 end
    for case = 1, 60 do
      local a, b = {}, {}
      for i = 1, rand(25) - 1 do a[i] = tostring(rand(5)) end
      for i = 1, rand(25) - 1 do b[i] = tostring(rand(5)) end
      write(dir .. "/a", a)
      write(dir .. "/b", b)
      local hunks = line_diff.unified { old = a, new = b, old_name = "a", new_name = "b" }
      support.write(dir .. "/p", hunks)
      os.execute("cp " .. dir .. "/a " .. dir .. "/x")
      if hunks ~= "" then
        local ok, out = support.sh("patch -s " .. dir .. "/x " .. dir .. "/p")
        assert.is_true(ok, "case " .. case .. ": " .. out .. hunks)
      end
      assert.are.equal(support.read(dir .. "/b"), support.read(dir .. "/x"), "case " .. case)
      local removed, added = line_diff.count(a, b)
      local _, gnu = support.sh("diff " .. dir .. "/a " .. dir .. "/b | grep -c '^[<>]'")
      assert.are.equal(tonumber(gnu), removed + added, "case " .. case)
    end
  end)

  it("compares the masked lines and prints the real ones", function()
    local old = { "a", "scale 1", "b" }
    local new = { "a", "scale 2", "b", "c" }
    local key = function(l) return (l:gsub("%d", "#")) end
    local ko, kn = {}, {}
    for i, l in ipairs(old) do ko[i] = key(l) end
    for i, l in ipairs(new) do kn[i] = key(l) end
    local hunks = line_diff.unified { old = old, new = new, old_key = ko, new_key = kn, old_name = "o", new_name = "n" }
    assert.are.equal("--- o\n+++ n\n@@ -1,3 +1,4 @@\n a\n scale 2\n b\n+c\n", hunks)
  end)
end)
