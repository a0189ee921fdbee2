-- Faults: a killed connection, an aborted statement, a small packet limit,
-- memory errors at every allocation. After each: nothing half-written, and
-- the next call (on a new client where the old one is gone) works.
local seekdb = require "seekdb"
local helper = require "helper"

local function rows(n, dim, prefix)
  local ids, vecs, metas = {}, helper.vectors(n, dim, 5), {}
  for i = 1, n do ids[i], metas[i] = (prefix or "r") .. i, { i = i } end
  return ids, vecs, metas
end

for _, protocol in ipairs { "bulk", "text" } do
  describe("faults (" .. protocol .. " protocol)", function()
    local client, dialect
    setup(function()
      client = helper.fresh { text_protocol = protocol == "text" }
      dialect = helper.dialect(client)
    end)
    teardown(function() helper.drop(client) end)

    local function slow_row_trigger(c, col, id, seconds)
      assert(c:query(("CREATE TRIGGER slow BEFORE INSERT ON `%s` FOR EACH ROW "
        .. "IF NEW._id = '%s' THEN SET @s = SLEEP(%d); END IF"):format(col._table, id, seconds)))
    end

    it("a connection killed in the middle of an upsert: nil, errno, nothing written", function()
      if dialect ~= "mariadb" or not os.getenv("SEEKDB_TEST_SOCKET") then return pending("scratch MariaDB only") end
      local c, db = helper.fresh { max_packet = 65536, text_protocol = protocol == "text" }
      local col = assert(c:create_collection { name = "k", dimension = 8, version = 1 })
      assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1, 1, 1, 1, 1, 1 } })
      slow_row_trigger(c, col, "r1500", 10)
      local cid = assert(c:query("SELECT CONNECTION_ID() AS id"))[1].id
      -- from a second process (not under a sanitizer's LD_PRELOAD), once the
      -- server shows the connection in row r1500's SLEEP: the upsert is then
      -- half-way whatever the machine's speed
      os.execute(("(env -u LD_PRELOAD sh -c 'for i in $(seq 600); do "
        .. "scripts/testdb sql \"SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s\" "
        .. "| grep -q \"User sleep\" && break; sleep 0.05; done; "
        .. "scripts/testdb sql \"KILL CONNECTION %s\"') >/dev/null 2>&1 &"):format(cid, cid))
      local ids, vecs = rows(2000, 8)
      local ok, err, errno = col:upsert { ids = ids, embeddings = vecs }
      assert.is_nil(ok)
      assert.is_string(err)
      assert.truthy(errno == 2013 or errno == 2006 or errno == 1927, tostring(errno) .. " " .. err)
      -- the server rolled the transaction back; a lost connection is not reconnected
      local ok2, err2, errno2 = col:count()
      assert.is_nil(ok2)
      assert.truthy(errno2 == 2006 or errno2 == 2013 or errno2 == 1927, tostring(errno2) .. " " .. tostring(err2))
      local fresh = assert(seekdb.Client(helper.options { database = db }))
      local again = assert(fresh:get_collection("k"))
      assert.are.equal(1, again:count())
      assert(again:upsert { ids = "after", embeddings = { 2, 2, 2, 2, 2, 2, 2, 2 } })
      assert.are.equal(2, again:count())
      fresh:close()
      helper.drop(c)
    end)

    it("a statement aborted by max_statement_time: nil, its errno, nothing written, client usable", function()
      if dialect ~= "mariadb" then return pending("MariaDB's max_statement_time") end
      local col = assert(client:create_collection { name = "t" .. protocol, dimension = 8, version = 1 })
      assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1, 1, 1, 1, 1, 1 } })
      slow_row_trigger(client, col, "r900", 3)
      assert(client:query("SET SESSION max_statement_time = 0.5"))
      local ids, vecs = rows(1000, 8)
      local ok, err, errno, sqlstate = col:upsert { ids = ids, embeddings = vecs }
      assert(client:query("SET SESSION max_statement_time = 0"))
      assert.is_nil(ok)
      assert.matches("max_statement_time", err)
      assert.are.equal(1969, errno)
      assert.are.equal("70100", sqlstate)
      assert.are.equal(1, col:count())
      assert(col:upsert { ids = "after", embeddings = { 2, 2, 2, 2, 2, 2, 2, 2 } })
      assert.are.equal(2, col:count())
    end)

    it("a server max_allowed_packet far below the call: split, still atomic", function()
      if dialect ~= "mariadb" or not os.getenv("SEEKDB_TEST_SOCKET") then return pending("scratch MariaDB only") end
      local old = assert(client:query("SELECT @@global.max_allowed_packet AS v"))[1].v
      assert(client:query("SET GLOBAL max_allowed_packet = 65536"))
      finally(function() client:query("SET GLOBAL max_allowed_packet = " .. old) end)
      local c, db = helper.fresh { text_protocol = protocol == "text" }
      assert.are.equal(65536, c:info().max_packet)
      local col = assert(c:create_collection { name = "p", dimension = 384, version = 1 })
      local ids, vecs, metas = rows(500, 384)
      local before = helper.com_insert(c)
      assert(col:upsert { ids = ids, embeddings = vecs, metadatas = metas })
      assert.truthy(helper.com_insert(c) - before >= 10)
      assert.are.equal(500, col:count())
      -- and the same with a failure at the very end: none of the new rows stay
      assert(c:query(("CREATE TRIGGER poison BEFORE INSERT ON `%s` FOR EACH ROW IF NEW._id = 'x500' "
        .. "THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned'; END IF"):format(col._table)))
      local ids2, vecs2 = rows(500, 384, "x")
      local ok, err = col:upsert { ids = ids2, embeddings = vecs2 }
      assert.is_nil(ok)
      assert.are.equal("poisoned", err)
      assert.are.equal(500, col:count())
      helper.drop(c)
      assert(db)
    end)
  end)
end

describe("memory errors inside the core", function()
  -- LuaJIT on x86_64 makes no state with a custom allocator (lua_newstate)
  if helper.luajit then return end
  local failalloc = require "failalloc"
  local client, db, col
  setup(function()
    client, db = helper.fresh()
    col = assert(client:create_collection { name = "mem", dimension = 4, version = 1 })
    assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1, 1 } })
  end)
  teardown(function() helper.drop(client) end)

  local function chunk(protocol)
    local o = helper.options { database = db, text_protocol = protocol == "text" }
    return ([[
      local seekdb = require "seekdb"
      local c, err = seekdb.Client { host = %q, port = %d, user = %q, password = %q, database = %q,
        socket = %s, text_protocol = %s }
      if not c then return nil, err end
      local col, err2 = c:get_collection("mem")
      if not col then return nil, err2 end
      local ids, vecs, metas, docs = {}, {}, {}, {}
      for i = 1, 40 do
        ids[i], vecs[i], docs[i] = "m" .. i, { i, 1, 2, 3 }, "document " .. i
        metas[i] = { n = i, tags = { "a", "b" }, nested = { x = i / 3 } }
      end
      local q = col:query { query_embeddings = { 1, 1, 2, 3 }, n_results = 3, where = { n = { ["$gt"] = 3 } } }
      -- last, so that "ok" means exactly that the upsert committed
      return col:upsert { ids = ids, embeddings = vecs, metadatas = metas, documents = docs }
    ]]):format(o.host, o.port, o.user, o.password, o.database, o.socket and ("%q"):format(o.socket) or "nil",
      tostring(o.text_protocol))
  end

  for _, case in ipairs { { "bulk", false }, { "text", false }, { "bulk", true }, { "text", true } } do
    local protocol, once = case[1], case[2]
    it(("fail cleanly at every allocation of an upsert (%s protocol, %s)"):format(protocol,
      once and "one allocation fails" or "all allocations fail from there on"), function()
      local code = chunk(protocol)
      local status, msg, total = failalloc.run(code, 0, package.path, package.cpath)
      assert.are.equal("ok", status, msg)
      assert.are.equal(41, col:count())
      assert(col:delete { where = { n = { ["$gte"] = 1 } } })
      local step = math.max(1, math.floor(total / 250))
      local outcomes = {}
      for n = 1, total, step do
        local st, m = failalloc.run(code, n, package.path, package.cpath, once)
        outcomes[st] = (outcomes[st] or 0) + 1
        assert.truthy(st == "ok" or st == "memory" or m:match("memory"), st .. ": " .. m)
        local count = col:count()
        if st == "ok" then
          assert.are.equal(41, count)
          assert(col:delete { where = { n = { ["$gte"] = 1 } } })
        else
          assert.are.equal(1, count, "allocation " .. n .. " left rows behind: " .. m)
        end
      end
      assert.truthy((outcomes.memory or 0) + (outcomes.error or 0) > 0)
    end)
  end
end)

describe("memory errors inside every method", function()
  -- LuaJIT on x86_64 makes no state with a custom allocator (lua_newstate)
  if helper.luajit then return end
  local failalloc = require "failalloc"
  local client, db, col, prelude, rows
  local table_name
  setup(function()
    client, db = helper.fresh()
    col = assert(client:create_collection { name = "sweep", dimension = 4 })
    table_name = col._table
    local ids, vecs, metas, docs = {}, {}, {}, {}
    for i = 1, 40 do
      ids[i], vecs[i], docs[i], metas[i] = "m" .. i, { i, 1, 2, 3 }, "document " .. i, { n = i, tags = { "a", "b" } }
    end
    rows = { ids = ids, embeddings = vecs, metadatas = metas, documents = docs }
    assert(col:upsert(rows))
    assert(client:create_collection { name = "doomed", dimension = 4 })
    local o = helper.options { database = db }
    -- connecting and finding the collection run unharmed (failalloc_arm):
    -- the allocations counted, and failed, are the method's
    prelude = ([[
      local seekdb = require "seekdb"
      local c, err = seekdb.Client { host = %q, port = %d, user = %q, password = %q, database = %q, socket = %s }
      if not c then error("connect: " .. tostring(err)) end
      local col = assert(c:get_collection("sweep"))
      failalloc_arm()
    ]]):format(o.host, o.port, o.user, o.password, o.database, o.socket and ("%q"):format(o.socket) or "nil")
  end)
  teardown(function() helper.drop(client) end)

  -- Catalog rows without their table, c$v2$ tables without a catalog row.
  local function orphans()
    local r = assert(client:query("SELECT COUNT(*) AS n FROM sdk_collections WHERE CONCAT('c$v2$', collection_id) "
      .. "NOT IN (SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE())"))[1].n
    local t = assert(client:query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = "
      .. "DATABASE() AND LEFT(table_name, 5) = 'c$v2$' AND SUBSTRING(table_name, 6) NOT IN (SELECT "
      .. "collection_id FROM sdk_collections)"))[1].n
    return tonumber(r), tonumber(t)
  end

  local function unchanged()
    assert.are.equal(40, col:count())
  end

  -- Each method: its call (after the prelude), and what the database must
  -- look like after a run that failed (before) and one that succeeded
  -- (after, which also puts things back as they were).
  local methods = {
    { "get", [[return col:get { ids = { "m1", "m2", "m3", "zz" }, where = { n = { ["$gte"] = 2 } },
        include = { "documents", "metadatas", "embeddings" } }]] },
    { "query", [[return col:query { query_embeddings = { { 1, 1, 2, 3 }, { 5, 1, 2, 3 } }, n_results = 3,
        where = { n = { ["$gt"] = 3 } }, where_document = { ["$contains"] = "document" } }]] },
    { "count", [[return col:count()]] },
    { "get_collection", [[return c:get_collection("sweep")]] },
    { "list_collections", [[return c:list_collections()]] },
    { "has_collection", [[return c:has_collection("sweep")]] },
    { "query SQL", "return c:query('SELECT _id, document FROM `" .. "%s" .. "` ORDER BY _id LIMIT 20')" },
    { "delete", [[return col:delete { where = { n = { ["$gte"] = 1 } } }]],
      before = unchanged,
      after = function()
        assert.are.equal(0, col:count())
        assert(col:upsert(rows))
      end },
    { "create_collection", [[return c:create_collection { name = "made", dimension = 4 }]],
      before = function() assert.is_false(client:has_collection("made")) end,
      after = function()
        assert.are.equal(0, assert(client:get_collection("made")):count())
        assert(client:delete_collection("made"))
      end },
    { "delete_collection", [[return c:delete_collection("doomed")]],
      before = function() assert.are.equal(0, assert(client:get_collection("doomed")):count()) end,
      after = function()
        assert.is_false(client:has_collection("doomed"))
        assert(client:create_collection { name = "doomed", dimension = 4 })
      end },
  }

  for _, m in ipairs(methods) do
    local name = m[1]
    for _, once in ipairs { true, false } do
      it(("%s fails cleanly at every allocation (%s)"):format(name, once and "one allocation fails"
        or "all allocations fail from there on"), function()
        local code = prelude .. m[2]:gsub("%%s", table_name)
        local before, after = m.before or unchanged, m.after or unchanged
        local status, msg, total = failalloc.run(code, 0, package.path, package.cpath, false, true)
        assert.are.equal("ok", status, msg)
        after()
        assert.truthy(total > 0)
        local outcomes = {}
        for n = 1, total + 1 do -- every allocation, and one past the last
          local st, err = failalloc.run(code, n, package.path, package.cpath, once, true)
          outcomes[st] = (outcomes[st] or 0) + 1
          assert.truthy(st == "ok" or st == "memory" or err:match("memory"),
            ("allocation %d: %s: %s"):format(n, st, err))
          if st == "ok" then after() else before() end
          assert.are.same({ 0, 0 }, { orphans() }, "allocation " .. n .. " left a half collection")
          -- the next call, on a fresh client (a fresh state), in that state, works
          local st2, err2 = failalloc.run(code, 0, package.path, package.cpath, false, true)
          assert.are.equal("ok", st2, ("after allocation %d: %s"):format(n, err2))
          after()
        end
        assert.truthy((outcomes.memory or 0) + (outcomes.error or 0) > 0)
      end)
    end
  end
end)
