-- The HTML and Markdown reports (eval.html_report, eval.md_report): what
-- they contain, counted by the ids and classes html_report.lua promises;
-- that they are deterministic, escaped and self-contained; that a real
-- browser (headless Chromium) renders them to a picture that is not blank;
-- and `kiln eval --html` on stories260K.

local support = require "support"
local fixture = require "report_fixture"
local html_report = require "eval.html_report"
local md_report = require "eval.md_report"

-- count(s, needle): plain (not pattern) occurrences.
local function count(s, needle)
  local n, at = 0, 1
  while true do
    local _, b = s:find(needle, at, true)
    if not b then return n end
    n, at = n + 1, b + 1
  end
end

-- element(s, open): the text from `open` to the first closing tag of its
-- kind after it (the reports nest no svg in an svg, nor a table in a table).
local function element(s, open)
  local a = s:find(open, 1, true)
  assert(a, "missing " .. open)
  local _, b = s:find("</" .. open:match("^<(%a+)") .. ">", a, true)
  return s:sub(a, b)
end

local function svg_open(class, id) return string.format('<svg class="plot %s" id="%s"', class, id) end

local BROWSER = "chromium --headless=new --no-sandbox --disable-gpu"

-- chromium's path, or nil (then the browser test is pending, never passed).
local function chromium()
  local ok, out = support.sh("command -v chromium")
  return ok and out:match("%S+") or nil
end

describe("html_report.ablation", function()
  local results = fixture.results()
  local page = html_report.ablation(results)
  local n_presets, n_sources = #fixture.PRESETS, #fixture.SOURCES

  it("has the setup and the summary table, a row per summary entry, and the verdicts", function()
    assert.are.equal(1, count(page, '<table id="setup">'))
    local summary = element(page, '<table id="summary">')
    assert.are.equal(#results.summary, count(summary, '<tr class="winner-'))
    assert.are.equal(#results.summary + 1, count(summary, "<tr"))
    for _, h in ipairs({ "float mean [min–max]", "quantized mean [min–max]", "winner", "difference", "spread" }) do
      assert.truthy(summary:find("<th>" .. h .. "</th>", 1, true), h)
    end
    local verdicts = element(page, '<ul id="verdicts">')
    assert.are.equal(#results.summary, count(verdicts, "<li>"))
    -- the fixture makes w8a8 a clear win and w8a16 a tie within the noise
    assert.truthy(verdicts:find("quantized beats float on decode KL by", 1, true))
    assert.truthy(verdicts:find("no winner on decode KL: the difference", 1, true))
  end)

  it("has one per-layer error chart per preset: 4 panels, a bar per layer and source, whiskers, a legend", function()
    assert.are.equal(n_presets, count(page, '<svg class="plot layer-errors"'))
    for _, preset in ipairs(fixture.PRESETS) do
      local chart = element(page, svg_open("layer-errors", "layer-errors-" .. preset))
      assert.are.equal(4, count(chart, '<g class="panel">'))
      assert.are.equal(4 * fixture.LAYERS * n_sources, count(chart, '<rect class="bar"'))
      assert.is_true(count(chart, 'class="whisker"') > 0)
      assert.are.equal(1, count(chart, '<g class="legend">'))
      for _, source in ipairs(fixture.SOURCES) do assert.truthy(chart:find(">" .. source .. "</text>", 1, true)) end
      assert.is_true(count(chart, '<line class="axis"') >= 8)
      assert.truthy(chart:find(">layer</text>", 1, true))
    end
  end)

  it("has a scatter plot per preset and source, with every point of the first repeat and the diagonal", function()
    assert.are.equal(n_presets * n_sources, count(page, '<svg class="plot scatter"'))
    for _, preset in ipairs(fixture.PRESETS) do
      for _, source in ipairs(fixture.SOURCES) do
        local plot = element(page, svg_open("scatter", "scatter-" .. preset .. "-" .. source))
        assert.are.equal(fixture.POINTS, count(plot, "<circle"))
        assert.are.equal(1, count(plot, 'class="diagonal"'))
        assert.truthy(plot:find(">float reference</text>", 1, true))
      end
    end
  end)

  it("has the perplexity and KL chart, prefill and decode apart, a dot per preset and source with its spread", function()
    assert.are.equal(1, count(page, '<svg class="plot model-metrics"'))
    local chart = element(page, svg_open("model-metrics", "model-metrics"))
    assert.are.equal(4, count(chart, '<g class="panel">'))
    assert.are.equal(4 * n_presets * n_sources, count(chart, "<circle"))
    assert.is_true(count(chart, 'class="whisker"') > 0)
    for _, title in ipairs({ "prefill positions: perplexity", "decode positions: perplexity",
      "prefill positions: mean KL", "decode positions: mean KL" }) do
      assert.truthy(chart:find(">" .. title .. "</text>", 1, true), title)
    end
  end)

  it("is self-contained: no script, no link, nothing fetched", function()
    for _, bad in ipairs({ "<script", "<link", "<img", "http:", "https:", "url(", "@import", "@font-face" }) do
      assert.is_nil(page:find(bad, 1, true), bad)
    end
  end)

  it("is deterministic: the same results give the same bytes", function()
    assert.are.equal(page, html_report.ablation(fixture.results()))
    assert.are.equal(md_report.ablation(results), md_report.ablation(fixture.results()))
  end)

  it("escapes text", function()
    local evil = fixture.results('m<i>&"x\'.bin')
    local text = html_report.ablation(evil)
    assert.is_nil(text:find("<i>", 1, true))
    assert.truthy(text:find("m&lt;i&gt;&amp;&quot;x&#39;.bin", 1, true))
    local md = md_report.ablation(fixture.results("a|b.bin"))
    assert.truthy(md:find("a\\|b.bin", 1, true))
  end)
end)

describe("md_report.ablation", function()
  local results = fixture.results()
  local md = md_report.ablation(results)

  it("has the summary table and a verdict per preset", function()
    assert.are.equal(1, count(md, "| preset | metric | better | float mean [min–max] | quantized mean [min–max] |"))
    assert.are.equal(#results.summary, count(md, "\n| w8a"))
    for _, preset in ipairs(fixture.PRESETS) do assert.truthy(md:find("\n### " .. preset .. "\n", 1, true)) end
    local w8a8 = md:match("### w8a8\n(.-)\n###")
    assert.truthy(w8a8:find("- quantized beats float on decode KL by %S+, above the spread %S+%."))
    local w8a16 = md:match("### w8a16\n(.*)$")
    assert.truthy(w8a16:find("- no winner on decode KL: the difference %S+ is within the spread %S+%."))
  end)
end)

describe("the ablation report in headless Chromium", function()
  local dir

  setup(function() dir = support.tmpdir() end)
  teardown(function() support.cleanup() end)

  it("renders every table and plot, and the screenshot is not blank", function()
    if not chromium() then
      pending("chromium is not installed (make deps installs it)")
      return
    end
    local page = dir .. "/index.html"
    support.write(page, html_report.ablation(fixture.results()))
    local run = "timeout 120 " .. BROWSER .. " --user-data-dir=" .. support.quote(dir .. "/profile")
    local url = support.quote("file://" .. page)

    local p = io.popen(run .. " --dump-dom " .. url .. " 2>/dev/null")
    local dom = p:read("a")
    p:close()
    assert.are.equal(1, count(dom, '<table id="setup">'))
    assert.are.equal(1, count(dom, '<table id="summary">'))
    assert.are.equal(#fixture.PRESETS, count(dom, '<svg class="plot layer-errors"'))
    assert.are.equal(#fixture.PRESETS * #fixture.SOURCES, count(dom, '<svg class="plot scatter"'))
    assert.are.equal(1, count(dom, '<svg class="plot model-metrics"'))

    local png = dir .. "/shot.png"
    local ok, out = support.sh(run .. " --screenshot=" .. support.quote(png) .. " --window-size=1200,2000 " .. url)
    assert.is_true(ok and support.exists(png), out)
    -- the PNG decoded by a helper on zlib (zlib1g-dev, in the Makefile's packages)
    local helper = dir .. "/png_colours"
    ok, out = support.sh("cc -std=c99 -O2 -Wall -Wextra -Werror -o " .. support.quote(helper)
      .. " tests/e2e/png_colours.c -lz")
    assert.is_true(ok, out)
    ok, out = support.sh(support.quote(helper) .. " " .. support.quote(png))
    assert.is_true(ok, out)
    local w, h, colours, other = out:match("^(%d+) (%d+) (%d+) (%d+)")
    assert.are.same({ 1200, 2000 }, { tonumber(w), tonumber(h) })
    -- a blank page is 1 colour; text, bars and their antialiasing give hundreds
    assert.is_true(tonumber(colours) >= 32, "colours: " .. out)
    assert.is_true(tonumber(other) >= 0.02 * 1200 * 2000, "pixels off the background: " .. out)
  end)
end)

describe("kiln eval --html on stories260K", function()
  local work

  setup(function() work = support.tmpdir() end)
  teardown(function() support.cleanup() end)

  it("writes index.html (the same bytes each run) with the metrics, the per-layer table and chart, and a scatter "
    .. "per layer and adapter", function()
    if not support.needs_shared() then return end
    local qp = work .. "/q.json"
    support.kiln_ok("calib", support.models .. "/stories260K.bin", "-z", support.models .. "/tok512.bin",
      "--text", support.models .. "/tinystories_valid_first100.txt", "--samples", "4", "-o", qp)
    local args = { "eval", support.models .. "/stories260K.bin", "--qparams", qp, "-z", support.models .. "/tok512.bin",
      "--text", support.models .. "/tinystories_valid_first100.txt", "--stories", "4" }
    local plain = support.kiln_ok(table.unpack(args))
    args[#args + 1], args[#args + 2] = "--html", work .. "/report"
    local with_html = support.kiln_ok(table.unpack(args))
    assert.are.equal(plain, with_html) -- the text report is unchanged
    local page = support.read(work .. "/report/index.html")
    args[#args] = work .. "/again"
    support.kiln_ok(table.unpack(args))
    assert.is_true(page == support.read(work .. "/again/index.html"), "a second run wrote other bytes")

    local n_layers = 5
    local adapters = { "prefill", "decode", "append" }
    assert.are.equal(1, count(page, '<table id="metrics">'))
    local perplexity = with_html:match("\nperplexity ([%d.]+)")
    assert.truthy(element(page, '<table id="metrics">'):find("<td>" .. perplexity:sub(1, 4), 1, true))
    assert.are.equal(n_layers * #adapters + 1, count(element(page, '<table id="layers">'), "<tr"))
    assert.are.equal(1, count(page, '<svg class="plot layer-errors"'))
    local chart = element(page, svg_open("layer-errors", "layer-errors"))
    assert.are.equal(6, count(chart, '<g class="panel">'))
    assert.are.equal(6 * n_layers * #adapters, count(chart, '<rect class="bar"'))
    assert.are.equal(n_layers * #adapters, count(page, '<svg class="plot scatter"'))
    for l = 0, n_layers - 1 do
      for _, adapter in ipairs(adapters) do
        local plot = element(page, svg_open("scatter", string.format("scatter-L%d-%s", l, adapter)))
        local points = count(plot, "<circle")
        assert.is_true(points > 0 and points <= 2000, string.format("layer %d %s: %d points", l, adapter, points))
      end
    end
  end)

  it("refuses --html DIR it cannot create, in one line, exit 1", function()
    if not support.needs_shared() then return end
    local qp = work .. "/q1.json"
    support.kiln_ok("calib", support.models .. "/stories260K.bin", "-z", support.models .. "/tok512.bin",
      "--text", support.models .. "/tinystories_valid_first100.txt", "--samples", "2", "-o", qp)
    support.write(work .. "/a_file", "not a directory")
    local _, err, code = support.kiln_run("eval", support.models .. "/stories260K.bin", "--qparams", qp, "-z",
      support.models .. "/tok512.bin", "--text", support.models .. "/tinystories_valid_first100.txt", "--stories", "2",
      "--layers-only", "--html", work .. "/a_file/report")
    assert.are.equal(1, code)
    assert.matches("^kiln: [^\n]*a_file/report: cannot create the directory\n$", err)
    assert.are.equal("not a directory", support.read(work .. "/a_file"))
  end)
end)
