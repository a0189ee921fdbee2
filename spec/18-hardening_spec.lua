-- Hardening (issue 10): each finding of the adversarial pass, shown against
-- the real server, or against a fake one where only a broken or hostile
-- server can play the part (spec/support/fake_server.lua, a separate process
-- on loopback). Nothing here waits a fixed time for something to happen: it
-- waits for what it can observe (a ready file, the server's processlist),
-- and its time bounds leave room for a loaded 2-core machine.
local seekdb = require "seekdb"
local helper = require "helper"
local socket = require "socket"

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = helper.unpack

-- ---- helpers -------------------------------------------------------------------

-- Waits until the file exists (a child process made it); its first line.
local function wait_file(path, seconds)
  local limit = seekdb.now() + (seconds or 60)
  while true do
    local f = io.open(path)
    if f then
      local line = f:read("*l")
      f:close()
      if line then return line end
    end
    assert(seekdb.now() < limit, "no file " .. path .. " after " .. (seconds or 60) .. " s")
    socket.sleep(0.01)
  end
end

-- A new file name in /tmp (the file is made, empty): children write names beside it.
local tmpname = os.tmpname

-- Starts a child in the background; its pid.
local function spawn(cmd)
  local p = assert(io.popen(cmd .. " >/dev/null 2>&1 & echo $!"))
  local pid = p:read("*l")
  p:close()
  assert(pid and pid:match("^%d+$"), "could not start " .. cmd)
  return pid
end

local function kill(pid)
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
end

-- A fake server (lua5.4 and lua-socket; no sanitizer preloaded into it):
-- its pid and port.
local function fake_server(mode, seed)
  local base = tmpname()
  local ready = base .. ".port"
  local pid = spawn(("env -u LD_PRELOAD lua5.4 spec/support/fake_server.lua %s %s %d"):format(mode, ready,
    seed or 1))
  local port = tonumber(wait_file(ready, 30))
  os.remove(ready)
  os.remove(base)
  return pid, port
end

-- The interpreter running the specs (children that load the module need its ABI).
local function interpreter() return helper.luajit and "luajit" or "lua5.4" end

-- A config file for a child (spec/support/*.lua): the module's paths, the
-- connection options, and more.
local function write_config(path, options, more)
  local o = helper.options(options)
  local f = assert(io.open(path, "w"))
  f:write(("return { path = %q, cpath = %q, options = { host = %q, port = %d, user = %q, password = %q, "
    .. "database = %q, socket = %s }"):format(package.path, package.cpath, o.host, o.port, o.user, o.password,
    o.database, o.socket and ("%q"):format(o.socket) or "nil"))
  for k, v in pairs(more or {}) do
    f:write((", %s = %s"):format(k, type(v) == "number" and tostring(v) or ("%q"):format(v)))
  end
  f:write(" }\n")
  f:close()
end

-- Is s printable UTF-8 text (tab and newline allowed)?
local function is_text(s)
  local i, n = 1, #s
  while i <= n do
    local b = s:byte(i)
    local len, min
    if b < 0x80 then
      if (b < 0x20 and b ~= 9 and b ~= 10) or b == 0x7f then return false, i end
      len = 1
    elseif b >= 0xc2 and b <= 0xdf then len, min = 2, 0xa0 -- no C1 controls
    elseif b >= 0xe0 and b <= 0xef then len = 3
    elseif b >= 0xf0 and b <= 0xf4 then len = 4
    else return false, i end
    if len > 1 then
      if i + len - 1 > n then return false, i end
      for k = i + 1, i + len - 1 do
        local c = s:byte(k)
        if c < 0x80 or c > 0xbf then return false, i end
      end
      if len == 2 and b == 0xc2 and s:byte(i + 1) < min then return false, i end
    end
    i = i + len
  end
  return true
end

local function elapsed_since(t0) return seekdb.now() - t0 end

local function tables(client)
  local out = {}
  for _, row in ipairs(assert(client:query("SHOW TABLES"))) do
    local _, name = next(row)
    out[#out + 1] = name
  end
  table.sort(out)
  return table.concat(out, " ")
end

local function catalog(client)
  local out = {}
  for _, row in ipairs(assert(client:query(
      "SELECT collection_id, collection_name, updated_at FROM sdk_collections ORDER BY collection_id"))) do
    out[#out + 1] = row.collection_id .. ":" .. row.collection_name .. ":" .. row.updated_at
  end
  return table.concat(out, " ")
end

-- Catalog rows without their table, and c$v2$ tables without a catalog row.
local function orphans(client)
  local rows = assert(client:query("SELECT c.collection_name AS n FROM sdk_collections c WHERE "
    .. "CONCAT('c$v2$', c.collection_id) NOT IN (SELECT table_name FROM information_schema.tables "
    .. "WHERE table_schema = DATABASE())"))
  local tabs = assert(client:query("SELECT table_name AS t FROM information_schema.tables WHERE "
    .. "table_schema = DATABASE() AND LEFT(table_name, 5) = 'c$v2$' AND SUBSTRING(table_name, 6) NOT IN "
    .. "(SELECT collection_id FROM sdk_collections)"))
  return #rows, #tabs
end

local function com(client, what)
  return tonumber(assert(client:query("SHOW SESSION STATUS LIKE 'Com_" .. what .. "'"))[1].Value)
end

-- ---- 1. hangs ------------------------------------------------------------------------

describe("1. hangs", function()
  local client, db, dialect
  setup(function()
    client, db = helper.fresh()
    dialect = helper.dialect(client)
  end)
  teardown(function() helper.drop(client) end)

  it("a server that accepts and never answers: Client{} fails within connect_timeout, clearly", function()
    local pid, port = fake_server("silent")
    finally(function() kill(pid) end)
    local t0 = seekdb.now()
    local c, err, errno = seekdb.Client { host = "127.0.0.1", port = port, connect_timeout = 2 }
    local took = elapsed_since(t0)
    assert.is_nil(c)
    assert.are.equal(2013, errno)
    assert.matches("connect", err)
    assert.matches("connect_timeout", err)
    assert.truthy(took >= 1.5 and took < 4.5, ("connect gave up after %.2f s"):format(took))
  end)

  it("a server that drips a byte a second: the call fails at its timeout, the client is closed", function()
    local pid, port = fake_server("drip")
    finally(function() kill(pid) end)
    local c = assert(seekdb.Client { host = "127.0.0.1", port = port, timeout = 3 })
    assert.are.equal("mariadb", c:info().dialect) -- the fake handshake passed
    local t0 = seekdb.now()
    local ok, err, errno, sqlstate = c:query("SELECT 1")
    local took = elapsed_since(t0)
    assert.is_nil(ok)
    assert.matches("^timeout: query did not finish within 3", err)
    assert.are.equal(2013, errno)
    assert.are.equal("HY000", sqlstate)
    assert.truthy(took >= 2.5 and took < 5, ("the call ended after %.2f s"):format(took))
    assert.are.equal("seekdb client (closed)", tostring(c))
    local ok2, raised = pcall(c.query, c, "SELECT 1")
    assert.is_false(ok2)
    assert.matches("attempt to use a closed seekdb client (it was closed because a call timed out while the "
      .. "server held it: open a new one)", raised, nil, true)
  end)

  describe("a write behind a row lock, innodb_lock_wait_timeout 50 s, timeout = 2", function()
    local col, holder, writer, wcol
    setup(function()
      if dialect ~= "mariadb" then return end
      col = assert(client:create_collection { name = "locked", dimension = 3 })
      assert(col:upsert { ids = { "a", "b" }, embeddings = { { 1, 2, 3 }, { 3, 2, 1 } },
        documents = { "document alpha", "document beta" } })
      holder = assert(seekdb.Client(helper.options { database = db }))
      writer = assert(seekdb.Client(helper.options { database = db, timeout = 2 }))
      wcol = assert(writer:get_collection("locked"))
    end)
    teardown(function()
      if holder then holder:close() end
      if writer then writer:close() end
    end)

    local cases = {
      { "upsert", function() return wcol:upsert { ids = { "a", "z" }, embeddings = { { 9, 9, 9 }, { 8, 8, 8 } } } end },
      { "add", function() return wcol:add { ids = { "a0", "a" }, embeddings = { { 9, 9, 9 }, { 8, 8, 8 } } } end },
      { "update", function() return wcol:update { ids = { "a", "b" }, embeddings = { { 7, 7, 7 }, { 6, 6, 6 } } } end },
      { "delete by ids", function() return wcol:delete { ids = { "a", "b" } } end },
      { "delete by filter", function() return wcol:delete { where_document = { ["$contains"] = "document" } } end },
    }
    for _, case in ipairs(cases) do
      it(case[1] .. ": an error within 2-3 s, nothing written, the client usable", function()
        if dialect ~= "mariadb" then return pending("MariaDB's SET STATEMENT") end
        assert.are.equal("50", assert(writer:query("SELECT @@innodb_lock_wait_timeout AS t"))[1].t)
        local before = assert(col:get { include = { "embeddings" } })
        assert(holder:query("START TRANSACTION"))
        assert(holder:query(("SELECT _id FROM `%s` WHERE _id = 'a' FOR UPDATE"):format(col._table)))
        local t0 = seekdb.now()
        local ok, err, errno = case[2]()
        local took = elapsed_since(t0)
        assert.is_nil(ok, case[1] .. " went through a held lock")
        assert.truthy(errno == 1205 or errno == 1969, tostring(errno) .. " " .. tostring(err))
        assert.truthy(took < 4, ("%s returned after %.2f s"):format(case[1], took))
        -- the client is usable at once, while the lock is still held
        assert.are.equal(2, wcol:count())
        assert(holder:query("ROLLBACK"))
        assert.are.same(before, assert(col:get { include = { "embeddings" } }))
      end)
    end

    it("once the lock is gone the same client writes", function()
      if dialect ~= "mariadb" then return pending("MariaDB's SET STATEMENT") end
      assert(wcol:upsert { ids = { "a", "z" }, embeddings = { { 9, 9, 9 }, { 8, 8, 8 } } })
      assert.are.equal(1, wcol:delete { ids = "z" })
    end)
  end)

  it("with a deadline, deadlock retries stop when the time is up", function()
    if dialect ~= "mariadb" then return pending("a trigger that SIGNALs a deadlock (MariaDB)") end
    local col = assert(client:create_collection { name = "deadlocks", dimension = 3 })
    assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1 } })
    -- every insert and delete "deadlocks" (errno 1213): each attempt fails at once
    assert(client:query(("CREATE TRIGGER dl_ins BEFORE INSERT ON `%s` FOR EACH ROW SIGNAL SQLSTATE "
      .. "'40001' SET MESSAGE_TEXT = 'a deadlock, again', MYSQL_ERRNO = 1213"):format(col._table)))
    assert(client:query(("CREATE TRIGGER dl_del BEFORE DELETE ON `%s` FOR EACH ROW SIGNAL SQLSTATE "
      .. "'40001' SET MESSAGE_TEXT = 'a deadlock, again', MYSQL_ERRNO = 1213"):format(col._table)))
    -- 100 retries would back off for half a minute; the deadline ends them
    local c = assert(seekdb.Client(helper.options { database = db, timeout = 2, deadlock_retries = 100 }))
    local dcol = assert(c:get_collection("deadlocks"))
    for _, call in ipairs {
      function() return dcol:upsert { ids = "new", embeddings = { 2, 2, 2 } } end,
      function() return dcol:delete { ids = "keep" } end,
    } do
      local rollbacks = com(c, "rollback")
      local t0 = seekdb.now()
      local ok, err, errno, sqlstate = call()
      local took = elapsed_since(t0)
      assert.is_nil(ok)
      assert.are.equal("a deadlock, again", err)
      assert.are.equal(1213, errno)
      assert.are.equal("40001", sqlstate)
      assert.truthy(took < 3.5, ("retried for %.2f s"):format(took))
      local runs = com(c, "rollback") - rollbacks
      assert.truthy(runs > 3 and runs < 60, runs .. " rollbacks") -- it did retry, and stopped
    end
    assert.are.equal(1, dcol:count())
    -- without a deadline: deadlock_retries runs again, no more
    local d = assert(seekdb.Client(helper.options { database = db, deadlock_retries = 3 }))
    local rollbacks = com(d, "rollback")
    local ok, _, errno = assert(d:get_collection("deadlocks")):upsert { ids = "new", embeddings = { 2, 2, 2 } }
    assert.is_nil(ok)
    assert.are.equal(1213, errno)
    assert.are.equal(3 + 1, com(d, "rollback") - rollbacks) -- 3 runs again, then the final rollback
    c:close()
    d:close()
  end)
end)

-- ---- 2. garbage ----------------------------------------------------------------------

describe("2. a server that answers with garbage", function()
  it("fails with a nonzero errno and a readable message, whatever the bytes", function()
    local pid, port = fake_server("garbage", 7)
    finally(function() kill(pid) end)
    local escaped = 0
    for i = 1, 40 do -- the odd ones raw bytes, the even ones an "error packet" of random bytes
      local c, err, errno, sqlstate = seekdb.Client { host = "127.0.0.1", port = port, connect_timeout = 5 }
      assert.is_nil(c)
      assert.is_string(err)
      assert.truthy(#err > 0)
      local ok, at = is_text(err)
      assert.is_true(ok, ("connection %d: byte %s of the message is not text: %q"):format(i, tostring(at), err))
      assert.is_number(errno)
      assert.truthy(errno > 0, "errno " .. tostring(errno))
      assert.matches("^[0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]$", sqlstate)
      if err:match("\\x%x%x") then escaped = escaped + 1 end
    end
    assert.truthy(escaped >= 10, escaped .. " messages had bytes escaped") -- the error packets' junk
  end)
end)

-- ---- 3. warnings ----------------------------------------------------------------------

describe("3. warnings change results", function()
  local client, col, dialect
  local DOC = ("a"):rep(40) .. "b" -- "(a+)+$" backtracks past MariaDB's regex match limit
  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
    col = assert(client:create_collection { name = "regex", dimension = 3 })
    assert(col:upsert { ids = { "slow", "plain" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 } },
      documents = { DOC, "plain text" } })
  end)
  teardown(function() helper.drop(client) end)

  it("the premise: the server warns 1139 and the row silently does not match", function()
    if dialect ~= "mariadb" then return pending("MariaDB's PCRE2 match limit") end
    local rows = assert(client:query(("SELECT '%s' REGEXP '(a+)+$' AS m"):format(DOC)))
    assert.are.equal("0", rows[1].m)
    local w = assert(client:query("SHOW WARNINGS"))
    assert.are.equal("1139", w[1].Code)
    assert.matches("match limit", w[1].Message)
  end)

  it("get, query and delete with that where_document fail with nil, err, 1139", function()
    if dialect ~= "mariadb" then return pending("MariaDB's PCRE2 match limit") end
    local re = { ["$regex"] = "(a+)+$" }
    local calls = {
      get = function() return col:get { where_document = re } end,
      ["get with ids"] = function() return col:get { ids = { "slow", "plain" }, where_document = re } end,
      query = function() return col:query { query_embeddings = { 1, 0, 0 }, where_document = re } end,
      ["query with $or"] = function()
        return col:query { query_embeddings = { 1, 0, 0 },
          where_document = { ["$or"] = { re, { ["$contains"] = "plain" } } } }
      end,
      delete = function() return col:delete { where_document = re } end,
      ["delete $not_regex"] = function() return col:delete { where_document = { ["$not_regex"] = "(a+)+$" } } end,
      ["delete with ids"] = function() return col:delete { ids = { "slow", "plain" }, where_document = { ["$not_regex"] = "(a+)+$" } } end,
    }
    for name, call in pairs(calls) do
      local res, err, errno = call()
      assert.is_nil(res, name .. " gave a result")
      assert.are.equal(1139, errno, name .. ": " .. tostring(err))
      assert.matches("match limit exceeded", err)
      assert.matches("nothing was changed", err)
    end
    assert.are.equal(2, col:count())
    local left = assert(col:get { ids = { "slow", "plain" } })
    assert.are.same({ "slow", "plain" }, left.ids)
    -- the same filter on documents that stay within the limit works
    local within = { ["$regex"] = "(t+)+$" }
    assert.are.same({ "plain" }, assert(col:get { ids = "plain", where_document = within }).ids)
    assert.are.equal(0, col:delete { ids = "plain", where_document = { ["$not_regex"] = "(t+)+$" } })
  end)
end)

-- ---- 4. the client never stays busy ---------------------------------------------------

describe("4. the client never stays busy", function()
  local client, db, col
  local function vectors(docs)
    local out = {}
    for i = 1, #docs do out[i] = { #docs[i], 1, 2 } end
    return out
  end
  setup(function()
    client, db = helper.fresh()
    col = assert(client:create_collection { name = "busy", dimension = 3, embedding_function = vectors })
    assert(col:upsert { ids = { "a", "b" }, documents = { "first", "second" } })
  end)
  teardown(function() helper.drop(client) end)

  local function works()
    assert.are.equal(2, assert(col:count()))
    assert.are.same({ "a" }, assert(col:get { ids = "a" }).ids)
  end

  it("an embedding function that raises a table", function()
    local bad = assert(client:get_collection("busy"))
    bad.embedding_function = function() error({ code = 42 }) end
    local ok, err = bad:upsert { ids = "x", documents = "x" }
    assert.is_nil(ok)
    assert.matches("embedding function failed on documents%[1..1%]: %(an error value of type table%)", err)
    works()
    ok, err = bad:query { query_texts = "x" }
    assert.is_nil(ok)
    assert.matches("query_texts", err)
    works()
    ok, err = client:create_collection { name = "probe", embedding_function = bad.embedding_function }
    assert.is_nil(ok)
    assert.matches("sample text", err)
    works()
  end)

  it("an args table whose __index raises (a string, a table)", function()
    for _, value in ipairs { "index boom", { "a table" } } do
      local args = setmetatable({}, { __index = function() error(value) end })
      for name, call in pairs {
        get = function() return col:get(args) end,
        query = function() return col:query(args) end,
        delete = function() return col:delete(args) end,
        upsert = function() return col:upsert(args) end,
        update = function() return col:update(args) end,
      } do
        local ok, err = pcall(call)
        assert.is_false(ok, name)
        if type(value) == "string" then assert.matches(value, err, nil, true)
        else assert.are.equal(value, err) end
        works()
      end
    end
  end)

  it("LuaJIT: a raised error leaves LuaJIT knowing which thread runs (its issue #1066)", function()
    if not helper.luajit then return pending("LuaJIT only") end
    -- a process of its own: it crashes when it fails
    local p = assert(io.popen(("luajit spec/support/jit_running_thread.lua '%s' 2>&1; echo \"rc=$?\"")
      :format(package.cpath)))
    local out = p:read("*a")
    p:close()
    assert.matches("survived\nrc=0\n$", out)
  end)

  it("metamethods of the lists inside the arguments", function()
    local angry = { __index = function() error("list boom") end, __len = function() error("len boom") end,
                    __pairs = function() error("pairs boom") end }
    for name, call in pairs {
      ids = function() return col:get { ids = setmetatable({ "a" }, angry) } end,
      embeddings = function() return col:upsert { ids = "a", embeddings = setmetatable({ 1, 2, 3 }, angry) } end,
      metadata = function() return col:upsert { ids = "a", metadatas = setmetatable({ k = 1 }, angry) } end,
      where = function() return col:get { where = setmetatable({ k = 1 }, angry) } end,
      query = function() return col:query { query_embeddings = setmetatable({ 1, 2, 3 }, angry) } end,
    } do
      local res = pack(pcall(call))
      assert.truthy(res[1] or type(res[2]) == "string", name) -- whatever it did, it said so
      works()
    end
  end)

  it("a __gc of garbage made during the call that raises (LuaJIT: raised wherever the collector runs)", function()
    -- in a process of its own (spec/support/gc_bombs.lua): under LuaJIT with
    -- its JIT off, which cannot unwind such errors out of compiled code
    local owner, dbg = helper.fresh()
    local base = tmpname()
    local config, out = base .. ".lua", base .. ".out"
    finally(function()
      os.remove(config)
      os.remove(out)
      os.remove(base)
      helper.drop(owner)
    end)
    write_config(config, { database = dbg }, { rounds = 150 })
    spawn(("%s %s spec/support/gc_bombs.lua %s %s"):format(interpreter(), helper.luajit and "-joff" or "",
      config, out))
    local line = wait_file(out, 300)
    assert.matches("^ok ", line)
    local bombs = tonumber(line:match("^ok (%d+)"))
    assert.truthy(bombs > 1000, line)
    if helper.luajit then -- the finalizers did raise inside the calls
      assert.truthy(line:match("raised=") or line:match("nil,err="), line)
    end
  end)
end)

-- ---- 5. big filters --------------------------------------------------------------------

describe("5. a big filter", function()
  local client, col, many
  setup(function()
    client = helper.fresh()
    col = assert(client:create_collection { name = "big", dimension = 3 })
    assert(col:upsert { ids = { "v1", "v750000", "v1500000", "other" },
      embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 1, 1 } },
      metadatas = { { k = "v1" }, { k = "v2" }, { k = "v3" }, { k = "none" } },
      documents = { "word one", "word two", "word three", "other" } })
    many = {}
    for i = 1, 1500000 do many[i] = "v" .. i end
  end)
  teardown(function()
    many = nil
    helper.drop(client)
    collectgarbage()
  end)

  local function usable()
    assert.are.equal(4, assert(col:count()))
    assert.are.same({ "other" }, assert(col:get { ids = "other", include = {} }).ids)
  end

  it("$in of 1.5 million strings: nil, err for get, query and delete; the connection stays usable", function()
    local where = { k = { ["$in"] = many } }
    for name, call in pairs {
      get = function() return col:get { where = where } end,
      query = function() return col:query { query_embeddings = { 1, 0, 0 }, where = where } end,
      delete = function() return col:delete { where = where } end,
    } do
      local ok, err = call()
      assert.is_nil(ok, name)
      assert.matches("more than the server takes %(max_allowed_packet", err)
      assert.matches("fewer %$in values", err)
      usable()
    end
  end)

  it("a 20 MB $contains: nil, err for get, query and delete; the connection stays usable", function()
    local text = ("word "):rep(4 * 1024 * 1024) -- 20 MiB
    for name, call in pairs {
      get = function() return col:get { where_document = { ["$contains"] = text } } end,
      query = function() return col:query { query_embeddings = { 1, 0, 0 }, where_document = { ["$contains"] = text } } end,
      delete = function() return col:delete { where_document = { ["$not_contains"] = text } } end,
    } do
      local ok, err = call()
      assert.is_nil(ok, name)
      assert.matches("more than the server takes", err)
      usable()
    end
  end)

  it("get and delete with 1.5 million ids: split into statements that fit, and right", function()
    local selects = com(client, "select")
    local got = assert(col:get { ids = many, include = { "metadatas" } })
    assert.are.same({ "v1", "v750000", "v1500000" }, got.ids) -- in the order asked for
    assert.are.same({ { k = "v1" }, { k = "v2" }, { k = "v3" } }, got.metadatas)
    -- split: a MiB of ids a statement (in bigger ones MariaDB's table of the
    -- IN list went to disk, and this get took 20 s instead of 1)
    assert.truthy(com(client, "select") - selects >= 20)
    local deletes = com(client, "delete")
    assert.are.equal(3, col:delete { ids = many })
    assert.truthy(com(client, "delete") - deletes >= 20)
    assert.are.same({ "other" }, assert(col:get { include = {} }).ids)
  end)
end)

-- ---- 6. create_collection interrupted ----------------------------------------------

describe("6. create_collection interrupted", function()
  local client, db, dialect
  setup(function()
    client, db = helper.fresh()
    dialect = helper.dialect(client)
    assert(client:create_collection { name = "first", dimension = 3 }) -- the catalog exists
  end)
  teardown(function() helper.drop(client) end)

  it("(a) a trigger on sdk_collections that SIGNALs: its errno and SQLSTATE, no row, no table", function()
    if dialect ~= "mariadb" then return pending("a MariaDB trigger") end
    local before_tables, before_rows = tables(client), catalog(client)
    assert(client:query("CREATE TRIGGER refuse BEFORE INSERT ON sdk_collections FOR EACH ROW "
      .. "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no new collections today', MYSQL_ERRNO = 1644"))
    finally(function() client:query("DROP TRIGGER IF EXISTS refuse") end)
    local col, err, errno, sqlstate = client:create_collection { name = "refused", dimension = 3 }
    assert.is_nil(col)
    assert.are.equal("no new collections today", err)
    assert.are.equal(1644, errno)
    assert.are.equal("45000", sqlstate)
    assert.are.equal(before_tables, tables(client))
    assert.are.equal(before_rows, catalog(client))
    assert.is_false(client:has_collection("refused"))
  end)

  it("(b) the connection killed while the create waits on the name's lock: 2013, then all is well", function()
    if dialect ~= "mariadb" then return pending("MariaDB's KILL CONNECTION") end
    local holder = assert(seekdb.Client(helper.options { database = db }))
    assert(holder:query("START TRANSACTION"))
    assert(holder:query("SELECT * FROM sdk_collections WHERE collection_name = 'killed' FOR UPDATE"))
    -- the creator runs a step at a time (loop = "yield"), so that this
    -- coroutine can watch the server meanwhile
    local creator = assert(seekdb.Client(helper.options { database = db, loop = "yield" }))
    local id = assert(creator:query("SELECT CONNECTION_ID() AS id"))[1].id
    local task = seekdb.task(function() return creator:create_collection { name = "killed", dimension = 3 } end)
    local limit = seekdb.now() + 60
    repeat -- until the server shows the create's INSERT waiting behind the lock
      assert.is_false(task:step(), "the create ended while the name was locked")
      local waiting = assert(holder:query("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id = "
        .. id .. " AND info LIKE 'INSERT INTO sdk_collections%'"))[1].n == "1"
      if not waiting then socket.sleep(0.01) end
      assert.truthy(seekdb.now() < limit, "the create never reached the lock")
    until waiting
    assert(holder:query("KILL CONNECTION " .. id))
    local r
    repeat r = pack(task:step()) until r[1]
    local _, col, err, errno, sqlstate = unpack(r, 1, 5)
    assert.is_nil(col)
    assert.are.equal(2013, errno, tostring(err))
    assert.are.equal("HY000", sqlstate)
    assert(holder:query("ROLLBACK"))
    -- what it left: at most its table, which no catalog row names (nobody lists it)
    local rows, tabs = orphans(holder)
    assert.are.equal(0, rows)
    assert.truthy(tabs <= 1)
    assert.is_false(holder:has_collection("killed"))
    local names = {}
    for _, c in ipairs(assert(holder:list_collections())) do names[#names + 1] = c.name end
    assert.are.same({ "first" }, names)
    local col2 = assert(holder:get_or_create_collection { name = "killed", dimension = 3 })
    assert(col2:upsert { ids = "k", embeddings = { 1, 2, 3 } })
    assert.are.equal(1, assert(holder:get_collection("killed")):count())
    assert(holder:delete_collection("killed"))
    holder:close()
  end)

  it("(c) a catalog row without its table (an older version's, pyseekdb's leftover)", function()
    local made = 0
    local function half(name, age)
      made = made + 1
      local id = ("%032d"):format(made)
      assert(client:query(("INSERT INTO sdk_collections (collection_id, collection_name, settings, created_at) "
        .. "VALUES ('%s', '%s', '{\"version\": 2}', NOW() - INTERVAL %d SECOND)"):format(id, name, age)))
      return id
    end
    half("old", 3600)
    half("old_too", 120)
    half("fresh", 0)
    for _, name in ipairs { "old", "old_too", "fresh" } do
      assert.is_false(client:has_collection(name))
      local col, err, errno = client:get_collection(name)
      assert.is_nil(col)
      assert.are.equal(1146, errno)
      assert.matches("collection '" .. name .. "' does not exist %(the catalog has a row for it without its table", err)
      assert.matches("delete_collection%('" .. name .. "'%) removes it", err)
    end
    local names = {}
    for _, c in ipairs(assert(client:list_collections())) do names[#names + 1] = c.name end
    assert.are.same({ "first" }, names)
    -- the old ones are replaced: by create and by get_or_create
    local old = assert(client:create_collection { name = "old", dimension = 3 })
    assert.are.equal("1", assert(client:query("SELECT COUNT(*) AS n FROM sdk_collections WHERE collection_name = 'old'"))[1].n)
    assert(old:upsert { ids = "o", embeddings = { 1, 2, 3 } })
    assert.are.equal(1, assert(client:get_collection("old")):count())
    assert(client:get_or_create_collection { name = "old_too", dimension = 3 })
    assert.are.equal("1", assert(client:query("SELECT COUNT(*) AS n FROM sdk_collections WHERE collection_name = 'old_too'"))[1].n)
    -- a fresh one may be another client's create in progress: left alone
    local before = catalog(client)
    local col, err, errno = client:create_collection { name = "fresh", dimension = 3 }
    assert.is_nil(col)
    assert.are.equal(1050, errno)
    assert.matches("already exists %(being created by another client right now%)", err)
    assert.is_nil((client:get_or_create_collection { name = "fresh", dimension = 3 }))
    assert.are.equal(before, catalog(client))
    -- delete_collection removes a half-made one
    assert.is_true(client:delete_collection("fresh"))
    assert.are.equal("0", assert(client:query("SELECT COUNT(*) AS n FROM sdk_collections WHERE collection_name = 'fresh'"))[1].n)
    assert.are.equal(0, (orphans(client))) -- no catalog row without its table
    assert(client:delete_collection("old"))
    assert(client:delete_collection("old_too"))
  end)

  describe("(d) pyseekdb's catalog layout (a name index that is not unique)", function()
    local c2, db2
    setup(function()
      c2, db2 = helper.fresh()
      -- as pyseekdb creates it (STRING is VARCHAR(512) on MariaDB)
      assert(c2:query("CREATE TABLE IF NOT EXISTS sdk_collections (collection_id CHAR(32) PRIMARY KEY "
        .. "DEFAULT (replace(uuid(), '-', '')), collection_name "
        .. (helper.dialect(c2) == "mariadb" and "VARCHAR(512)" or "STRING")
        .. ", settings JSON, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT "
        .. "CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, INDEX idx_name(collection_name))"))
    end)
    teardown(function() helper.drop(c2) end)

    it("creating an existing name fails with 'already exists' (1050) and touches nothing", function()
      local col = assert(c2:create_collection { name = "x", dimension = 3 })
      assert(col:upsert { ids = "a", embeddings = { 1, 2, 3 } })
      local before_tables, before_rows = tables(c2), catalog(c2)
      for _ = 1, 3 do
        local again, err, errno, sqlstate = c2:create_collection { name = "x", dimension = 3 }
        assert.is_nil(again)
        assert.are.equal("collection 'x' already exists", err)
        assert.are.equal(1050, errno)
        assert.are.equal("42S01", sqlstate)
      end
      assert.are.equal(before_tables, tables(c2))
      assert.are.equal(before_rows, catalog(c2))
      assert.are.equal(1, assert(c2:get_collection("x")):count())
      -- pyseekdb's index stays as it was
      local ddl = assert(c2:query("SHOW CREATE TABLE sdk_collections"))[1]["Create Table"]
      assert.matches("KEY `idx_name`", ddl)
      assert.not_matches("UNIQUE", ddl)
    end)

    it("4 processes create the same name at once: one wins, the others get 'already exists', no orphans", function()
      local base = tmpname()
      local config = base .. ".lua"
      write_config(config, { database = db2 }, { name = "race" })
      local go = base .. ".go"
      local pids, outs = {}, {}
      finally(function()
        for _, pid in ipairs(pids) do kill(pid) end
        for i = 1, 4 do
          os.remove(outs[i] or "")
          os.remove(base .. ".ready" .. i)
        end
        os.remove(config)
        os.remove(go)
        os.remove(base)
      end)
      for i = 1, 4 do
        outs[i] = base .. ".out" .. i
        pids[i] = spawn(("%s spec/support/create_racer.lua %s %s %s %s"):format(interpreter(), config,
          base .. ".ready" .. i, go, outs[i]))
      end
      for i = 1, 4 do wait_file(base .. ".ready" .. i) end -- all connected
      local g = assert(io.open(go, "w"))
      g:close()
      local won, exists, other = 0, 0, {}
      for i = 1, 4 do
        local line = wait_file(outs[i], 120)
        if line == "ok" then won = won + 1
        elseif line:match("^fail\t1050\tcollection 'race' already exists") then exists = exists + 1
        else other[#other + 1] = line end
      end
      assert.are.same({}, other)
      assert.are.equal(1, won)
      assert.are.equal(3, exists)
      assert.are.equal("1", assert(c2:query("SELECT COUNT(*) AS n FROM sdk_collections WHERE collection_name = 'race'"))[1].n)
      assert.are.same({ 0, 0 }, { orphans(c2) })
      assert(assert(c2:get_collection("race")):upsert { ids = "r", embeddings = { 1, 2, 3 } })
    end)
  end)
end)

-- ---- 7. wide vectors ---------------------------------------------------------------------

describe("7. collections wider than 4,096 dimensions (MariaDB)", function()
  local client, dialect
  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
  end)
  teardown(function() helper.drop(client) end)

  for _, dim in ipairs { 5000, 16313 } do
    it(dim .. " dimensions: create, upsert, get with embeddings, query, peek", function()
      if dialect ~= "mariadb" then return pending("MariaDB's VECTOR(16383)") end
      local col = assert(client:create_collection { name = "wide" .. dim, dimension = dim })
      assert.are.equal(dim, col.dimension)
      local vecs = helper.vectors(3, dim, dim)
      assert(col:upsert { ids = { "a", "b", "c" }, embeddings = vecs, documents = { "x", "y", "z" },
        metadatas = { { n = 1 }, { n = 2 }, { n = 3 } } })
      local got = assert(col:get { ids = { "b", "c" }, include = { "embeddings" } })
      helper.assert_vector(vecs[2], got.embeddings[1])
      helper.assert_vector(vecs[3], got.embeddings[2])
      local q = assert(col:query { query_embeddings = { vecs[3], vecs[1] }, n_results = 2 })
      assert.are.equal("c", q.ids[1][1])
      assert.are.equal("a", q.ids[2][1])
      assert.truthy(math.abs(q.distances[1][1]) < 1e-5)
      local p = assert(col:peek(5))
      assert.are.equal(3, #p.ids)
      assert.are.equal(dim, #p.embeddings[1])
      assert.are.equal(dim, assert(client:get_collection("wide" .. dim)).dimension)
      assert(client:delete_collection("wide" .. dim))
    end)
  end

  it("wider than MariaDB's rows allow: refused at create, before any SQL", function()
    if dialect ~= "mariadb" then return pending("MariaDB's limits") end
    local before = tables(client)
    for _, dim in ipairs { 16314, 16383, 16384 } do
      local col, err = client:create_collection { name = "too_wide", dimension = dim }
      assert.is_nil(col)
      assert.matches("dimension " .. dim .. " is out of range: a mariadb collection has 1 to 16313 dimensions", err)
      assert.matches("65,535 bytes a row", err)
    end
    assert.are.equal(before, tables(client))
  end)
end)

-- ---- 8. small ones -------------------------------------------------------------------------

describe("8. small ones", function()
  it("a port out of range raises", function()
    for _, port in ipairs { 99458, 65536, -1, 1.5 } do
      local ok, err = pcall(seekdb.Client, { port = port })
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'connect' (option 'port' must be an integer from 0 to 65535)", err, nil, true)
    end
  end)

  it("an embedding function that raises a table with __tostring: its text is in the message", function()
    local client = helper.fresh()
    finally(function() helper.drop(client) end)
    local raised = setmetatable({}, { __tostring = function() return "the model is asleep" end })
    local ef = function() error(raised) end
    local col = assert(client:create_collection { name = "ef", dimension = 3, embedding_function = ef })
    local ok, err = col:upsert { ids = "a", documents = "x" }
    assert.is_nil(ok)
    assert.are.equal("embedding function failed on documents[1..1]: the model is asleep", err)
    ok, err = col:query { query_texts = "x" }
    assert.is_nil(ok)
    assert.are.equal("embedding function failed on query_texts[1..1]: the model is asleep", err)
    ok, err = client:create_collection { name = "ef2", embedding_function = ef }
    assert.is_nil(ok)
    assert.are.equal("embedding function failed on a sample text: the model is asleep", err)
  end)

  it("a row too big for a statement: the message explains the 1,024-byte margin", function()
    local client, db = helper.fresh()
    finally(function() helper.drop(client) end)
    assert(client:create_collection { name = "rows", dimension = 3 })
    local small = assert(seekdb.Client(helper.options { database = db, max_packet = 65536 }))
    finally(function() small:close() end)
    local col = assert(small:get_collection("rows"))
    local ok, err = col:upsert { ids = { "fine", "huge" }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 } },
      documents = { "x", ("x"):rep(70000) } }
    assert.is_nil(ok)
    assert.matches("^ids%[2%]: its row is %d+ bytes, more than one statement may carry %(the "
      .. "server's max_allowed_packet of 65536 bytes, less 1024 for the packet's header and the statement "
      .. "around the row%)$", err)
    assert.are.equal(0, col:count())
  end)
end)
