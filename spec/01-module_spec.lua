local seekdb = require "seekdb"
local core = require "seekdb.core"

describe("the module", function()
  it("loads the C core under the Lua face", function()
    assert.is_string(seekdb._VERSION)
    assert.are.equal(core._VERSION, seekdb._VERSION)
    assert.is_function(seekdb.Client)
  end)

  it("has seekdb.null, a light userdata NULL like cjson.null", function()
    assert.are.equal("userdata", type(seekdb.null))
    assert.are.equal(core.null, seekdb.null)
    local ok, cjson = pcall(require, "cjson")
    if ok then assert.are.equal(cjson.null, seekdb.null) end
  end)

  it("checks the arguments of register_embedding_function", function()
    assert.has_error(function() seekdb.register_embedding_function(1, print) end,
      "bad argument #1 to 'register_embedding_function' (string expected, got number)")
    assert.has_error(function() seekdb.register_embedding_function("x", 5) end,
      "bad argument #2 to 'register_embedding_function' (function expected, got number)")
  end)
end)

describe("seekdb.pretty", function()
  it("renders values readably: keys in order, null, short vectors", function()
    assert.are.equal('{ a = 1, b = "x", c = null }', seekdb.pretty { b = "x", a = 1, c = seekdb.null })
    assert.are.equal("{ 1, 2, 3 }", seekdb.pretty { 1, 2, 3 })
    assert.are.equal("{ 1, 2, 3, 4, 5, 6, ... (8 numbers) }", seekdb.pretty { 1, 2, 3, 4, 5, 6, 7, 8 })
    assert.are.equal('{ ["odd key"] = true }', seekdb.pretty { ["odd key"] = true })
    assert.are.equal('"a\\nb"', seekdb.pretty "a\nb")
    local long = seekdb.pretty { ids = { "a", "b" }, documents = { "a rather long document text", "another long one here" } }
    assert.matches("^{\n  documents = ", long)
    local cyclic = {}
    cyclic.me = cyclic
    assert.matches("<cycle>", seekdb.pretty(cyclic))
  end)
end)
