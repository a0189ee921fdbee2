local seekdb = require "seekdb"
local helper = require "helper"

describe("seekdb.Client", function()
  it("connects and identifies the server", function()
    local c = assert(seekdb.Client(helper.options()))
    local info = c:info()
    assert.truthy(info.dialect == "mariadb" or info.dialect == "seekdb")
    assert.is_string(info.version)
    assert.truthy(info.max_packet > 0)
    assert.matches("^seekdb client %(" .. info.dialect .. " dialect", tostring(c))
    c:close()
  end)

  it("returns nil, errmsg, errno, sqlstate when it cannot connect", function()
    local c, err, errno, sqlstate = seekdb.Client(helper.options { user = "nobody_here", password = "x" })
    assert.is_nil(c)
    assert.is_string(err)
    assert.are.equal(1045, errno)
    assert.are.equal("28000", sqlstate)
  end)

  it("reports an unknown database with the server's errno", function()
    local c, err, errno = seekdb.Client(helper.options { database = "no_such_db_here" })
    assert.is_nil(c)
    assert.matches("no_such_db_here", err)
    assert.are.equal(1049, errno)
  end)

  it("raises on options of the wrong type", function()
    assert.has_error(function() seekdb.Client(5) end, "bad argument #1 to 'Client' (table expected, got number)")
    assert.has_error(function() seekdb.Client(helper.options { port = "x" }) end)
    assert.has_error(function() seekdb.Client(helper.options { dialect = "oracle" }) end)
  end)

  it("takes a dialect override", function()
    local c = assert(seekdb.Client(helper.options { dialect = "seekdb" }))
    assert.are.equal("seekdb", c:info().dialect)
    c:close()
  end)

  it("closes, twice harmlessly, and refuses use after close", function()
    local c = assert(seekdb.Client(helper.options()))
    assert.is_false(c:is_closed())
    assert.is_true(c:close())
    assert.is_true(c:close())
    assert.is_true(c:is_closed())
    assert.are.equal("seekdb client (closed)", tostring(c))
    assert.has_error(function() c:list_collections() end, "attempt to use a closed seekdb client")
    assert.has_error(function() c:info() end, "attempt to use a closed seekdb client")
  end)

  it("says it is closed once a timed-out call closed it", function()
    local c = assert(seekdb.Client(helper.options { timeout = 0.2 }))
    -- the escape hatch's SQL has no server-side limit: the server still holds it
    local ok, err, errno = c:query("SELECT SLEEP(3)")
    assert.is_nil(ok)
    assert.matches("^timeout: query did not finish within", err)
    assert.are.equal(2013, errno)
    assert.is_true(c:is_closed())
    assert.has_error(function() c:query("SELECT 1") end)
  end)

  it("works as a to-be-closed variable (Lua 5.4)", function()
    if helper.luajit then return pending("no <close> in LuaJIT") end
    -- compiled at run time: LuaJIT cannot even parse <close>
    local seen = assert(load([[
      local seekdb, options = ...
      local seen
      do
        local c <close> = assert(seekdb.Client(options))
        seen = c
        assert(type(c:list_collections()) == "table")
      end
      return seen
    ]]))(seekdb, helper.options())
    assert.are.equal("seekdb client (closed)", tostring(seen))
  end)

  it("connects over a unix socket when given one", function()
    local socket = os.getenv("SEEKDB_TEST_SOCKET")
    if not socket or socket == "" then return pending("no socket for this server") end
    local c = assert(seekdb.Client(helper.options { socket = socket, host = "ignored" }))
    assert.matches(socket, tostring(c), 1, true)
    c:close()
  end)

  it("runs raw SQL through query", function()
    local c = assert(seekdb.Client(helper.options()))
    local rows = assert(c:query("SELECT 1 AS one, NULL AS nothing"))
    assert.are.equal("1", rows[1].one)
    assert.are.equal(seekdb.null, rows[1].nothing)
    local res, err, errno, sqlstate = c:query("SELEC nonsense")
    assert.is_nil(res)
    assert.matches("syntax", err)
    assert.are.equal(1064, errno)
    assert.are.equal("42000", sqlstate)
    assert.has_error(function() c:query(42) end, "bad argument #1 to 'query' (SQL string expected, got number)")
    c:close()
  end)

  it("is collected without being closed", function()
    local c = assert(seekdb.Client(helper.options()))
    c = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
  end)
end)
