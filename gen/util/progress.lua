-- A progress bar on stderr, drawn only when stderr is a terminal (so logs and
-- pipes stay clean).

local progress = {}
progress.__index = progress

-- progress.new(native, label, total) -> bar; bar:step(n) advances, bar:done() ends the line.
function progress.new(native, label, total)
  local bar = setmetatable({ label = label, total = total, count = 0 }, progress)
  bar.enabled = native.isatty(2) and os.getenv("TERM") ~= "dumb"
  bar:draw()
  return bar
end

function progress:draw()
  if not self.enabled then return end
  local width = 30
  local filled = self.total > 0 and math.floor(width * self.count / self.total) or width
  io.stderr:write(string.format("\r%s [%s%s] %d/%d", self.label, string.rep("#", filled),
    string.rep(".", width - filled), self.count, self.total))
  io.stderr:flush()
end

function progress:step(n)
  self.count = math.min(self.total, self.count + (n or 1))
  self:draw()
end

function progress:done()
  if self.enabled then io.stderr:write("\n") end
end

return progress
