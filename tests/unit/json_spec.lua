-- The ordered JSON writer: key order, float32 text, escapes, determinism.

local json = require "util.json"
local cjson = require "cjson"

describe("json writer", function()
  it("keeps insertion order and indents objects", function()
    local o = json.object():set("b", 1):set("a", json.object():set("z", true):set("y", json.null))
    assert.are.equal('{\n  "b": 1,\n  "a": {\n    "z": true,\n    "y": null\n  }\n}\n', json.encode(o))
  end)

  it("writes float32 values as their shortest round-trip text", function()
    local f = string.unpack("<f", string.pack("<f", 0.1))
    assert.are.equal("[0.1, 4.050503e-05, 3, -2.5]\n",
      json.encode({ f, string.unpack("<f", string.pack("<f", 4.050503e-05)), 3, -2.5 }))
    -- a double that is not a float32 keeps all its digits
    assert.are.equal("0.10000000000000001\n", json.encode(0.1))
  end)

  it("escapes strings", function()
    assert.are.equal('"a\\"b\\\\c\\n\\u0001"\n', json.encode('a"b\\c\n\1'))
  end)

  it("refuses non-finite numbers", function()
    assert.has_error(function() json.encode(0 / 0) end)
    assert.has_error(function() json.encode(math.huge) end)
  end)

  it("round-trips through cjson", function()
    local o = json.object():set("list", { 1, 2, 3 }):set("nested", { json.object():set("k", "v") })
    assert.are.same({ list = { 1, 2, 3 }, nested = { { k = "v" } } }, cjson.decode(json.encode(o)))
  end)
end)
