local seekdb = require "seekdb"
local helper = require "helper"

describe("metadata", function()
  local client, col
  setup(function()
    client = helper.fresh()
    col = assert(client:create_collection { name = "meta", dimension = 2 })
  end)
  teardown(function() helper.drop(client) end)

  local n = 0
  local function roundtrip(meta)
    n = n + 1
    local id = "m" .. n
    assert(col:upsert { ids = id, embeddings = { 1, 2 }, metadatas = meta })
    local r = assert(col:get { ids = id, include = { "metadatas" } })
    return r.metadatas[1], id
  end

  local function stored(id)
    return assert(client:query("SELECT metadata FROM `" .. col._table .. "` WHERE _id = '" .. id .. "'"))[1].metadata
  end

  it("keeps the values pyseekdb users rely on", function()
    for _, v in ipairs { "", "   ", "0", "false", "null", "{}" } do
      assert.are.same({ k = v }, roundtrip { k = v })
    end
    assert.are.same({}, roundtrip {})
    local m, id = roundtrip {}
    assert.are.same({}, m)
    assert.are.equal("{}", stored(id))
    assert.are.same({ key = seekdb.null }, roundtrip { key = seekdb.null })
  end)

  it("keeps integers as integers, all 64 bits (Lua 5.4)", function()
    if helper.luajit then return pending("LuaJIT has no integers") end
    local big = load("return 2 ^ 53 + 1 | 0")() -- LuaJIT cannot parse |
    local m = roundtrip { a = 0, b = -1, c = math.maxinteger, d = math.mininteger, e = big }
    assert.are.same({ a = 0, b = -1, c = math.maxinteger, d = math.mininteger, e = big }, m)
    for _, v in pairs(m) do assert.are.equal("integer", math.type(v)) end
  end)

  it("keeps floats exactly, and as floats (Lua 5.4)", function()
    if helper.luajit then return pending("LuaJIT has no integers") end
    local values = { 0.1, 1 / 3, -2.5e-300, 1e300, 1.0, -0.0, 123456789.125, 2 ^ 63 }
    local m = roundtrip { v = values }
    for i, x in ipairs(values) do
      assert.are.equal(x, m.v[i])
      assert.are.equal("float", math.type(m.v[i]))
    end
  end)

  it("keeps numbers exact up to 2^53 and refuses integers beyond (LuaJIT)", function()
    if not helper.luajit then return pending("LuaJIT only") end
    local values = { 0, -1, 2 ^ 53, -2 ^ 53, 0.1, 1 / 3, -2.5e-300, 123456789.125 }
    local m = roundtrip { v = values }
    for i, x in ipairs(values) do assert.are.equal(x, m.v[i]) end
    local ok, err = col:upsert { ids = "big", embeddings = { 1, 2 }, metadatas = { n = 2 ^ 53 + 2 } }
    assert.is_nil(ok)
    assert.matches("metadatas.n is an integer beyond 2%^53, which LuaJIT cannot hold exactly", err)
    -- written by someone else: refused on reading too, not rounded
    assert(client:query("INSERT INTO `" .. col._table .. [[` VALUES ('bigint', NULL, X'0000803f00000040',
      '{"n": 9007199254740993}')]]))
    local r, err2 = col:get { ids = "bigint" }
    assert.is_nil(r)
    assert.matches("has an integer beyond 2%^53, which LuaJIT cannot hold exactly", err2)
    assert(col:delete { ids = "bigint" })
  end)

  it("keeps booleans, nesting, lists and unicode", function()
    local meta = { yes = true, no = false, list = { 1, "two", { three = 3 } }, ["ключ"] = "значение ☃",
      deep = { a = { b = { c = { d = { e = "deep" } } } } }, tab = "a\tb\nc\"d\\e\0f" }
    assert.are.same(meta, roundtrip(meta))
  end)

  it("takes path-breaking keys as plain keys", function()
    local meta = { ["a.b"] = 1, ["$"] = 2, ['"'] = 3, ["]"] = 4, ["[0]"] = 5, ["'"] = 6, ["\\"] = 7, [""] = 8 }
    assert.are.same(meta, roundtrip(meta))
  end)

  it("refuses what JSON cannot hold", function()
    local cyclic = {}
    cyclic.self = cyclic
    local cases = {
      { { f = 0 / 0 }, "metadatas.f is NaN or infinite", false },
      { { f = -math.huge }, "metadatas.f is NaN or infinite", false },
      { { s = "\xff" }, "metadatas.s is a string that is not valid UTF%-8", false },
      { cyclic, "nested more than 32 levels deep %(is the table cyclic%?%)", false },
      { { co = coroutine.create(print) }, "metadatas.co is a thread", true },
      { { [true] = 1 }, "metadatas must be a table with string keys", true },
      { { x = { [2] = 1 } }, "metadatas.x is a table that is neither a list", true },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(col.upsert, col, { ids = "bad", embeddings = { 1, 2 }, metadatas = case[1] })
      if case[3] then
        assert.is_false(ok)
      else
        assert.is_true(ok)
        assert.is_nil(err)
        err = select(3, pcall(col.upsert, col, { ids = "bad", embeddings = { 1, 2 }, metadatas = case[1] }))
      end
      assert.matches(case[2], err)
    end
    assert.are.same({}, col:get { ids = "bad" }.ids)
  end)
end)
