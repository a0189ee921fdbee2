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
