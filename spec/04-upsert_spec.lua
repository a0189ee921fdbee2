local seekdb = require "seekdb"
local helper = require "helper"

local ALL = { include = { "documents", "metadatas", "embeddings" } }

-- the rows of a collection keyed by id: {document=, metadata=, embedding=}
local function rows(col)
  local r = assert(col:get { limit = 100000, include = ALL.include })
  local out = {}
  for i, id in ipairs(r.ids) do
    out[id] = { document = r.documents[i], metadata = r.metadatas[i], embedding = r.embeddings[i] }
  end
  return out
end

for _, protocol in ipairs { "bulk", "text" } do
  describe("collection:upsert (" .. protocol .. " protocol)", function()
    local client, dialect, col
    setup(function()
      client = helper.fresh { text_protocol = protocol == "text" }
      dialect = helper.dialect(client)
    end)
    teardown(function() helper.drop(client) end)
    before_each(function()
      client:delete_collection("my_collection")
      col = assert(client:create_collection { name = "my_collection", dimension = 3, distance = "cosine" })
    end)

    describe("pyseekdb's examples", function()
      it("upserts a single item", function()
        assert.is_true(col:upsert { ids = "item1", embeddings = { 0.1, 0.2, 0.3 }, documents = "Document text",
          metadatas = { category = "AI", score = 95 } })
        local r = rows(col)
        assert.are.equal(1, col:count())
        assert.are.equal("Document text", r.item1.document)
        assert.are.same({ category = "AI", score = 95 }, r.item1.metadata)
        assert.are.equal("integer", helper.number_kind(r.item1.metadata.score))
        helper.assert_vector({ 0.1, 0.2, 0.3 }, r.item1.embedding)
      end)

      it("upserts multiple items, updating the one that exists", function()
        assert(col:upsert { ids = "item1", embeddings = { 0.1, 0.2, 0.3 }, documents = "Document text",
          metadatas = { category = "AI", score = 95 } })
        assert.is_true(col:upsert {
          ids = { "item1", "item2", "item3" },
          embeddings = { { 0.1, 0.2, 0.3 }, { 0.4, 0.5, 0.6 }, { 0.7, 0.8, 0.9 } },
          documents = { "Doc 1", "Doc 2", "Doc 3" },
          metadatas = { { category = "AI" }, { category = "ML" }, { category = "DL" } },
        })
        local r = rows(col)
        assert.are.equal(3, col:count())
        assert.are.same({ "Doc 1", { category = "AI" } }, { r.item1.document, r.item1.metadata })
        assert.are.same({ "Doc 2", { category = "ML" } }, { r.item2.document, r.item2.metadata })
        assert.are.same({ "Doc 3", { category = "DL" } }, { r.item3.document, r.item3.metadata })
        helper.assert_vector({ 0.4, 0.5, 0.6 }, r.item2.embedding)
        helper.assert_vector({ 0.7, 0.8, 0.9 }, r.item3.embedding)
      end)

      it("upserts documents only through the embedding function", function()
        local seen = {}
        local col1 = assert(client:create_collection { name = "my_collection1", embedding_function = function(docs)
          local out = {}
          for i, d in ipairs(docs) do
            seen[#seen + 1] = d
            out[i] = { #d, 1, 0.5 }
          end
          return out
        end })
        assert.are.equal(3, col1.dimension)
        seen = {}
        assert.is_true(col1:upsert { ids = { "item1", "item2" }, documents = { "Document 1", "Document 2" },
          metadatas = { { category = "AI" }, { category = "ML" } } })
        assert.are.same({ "Document 1", "Document 2" }, seen)
        local r = rows(col1)
        assert.are.same({ "Document 1", { category = "AI" } }, { r.item1.document, r.item1.metadata })
        helper.assert_vector({ 10, 1, 0.5 }, r.item1.embedding)
        helper.assert_vector({ 10, 1, 0.5 }, r.item2.embedding)
        assert(client:delete_collection("my_collection1"))
      end)
    end)

    describe("updates only the given fields", function()
      before_each(function()
        assert(col:upsert { ids = { "a", "b" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 } },
          documents = { "doc a", "doc b" }, metadatas = { { k = 1 }, { k = 2 } } })
      end)

      it("a metadata-only upsert keeps document and embedding", function()
        assert.is_true(col:upsert { ids = "a", metadatas = { k = 10, new = true } })
        local r = rows(col)
        assert.are.equal("doc a", r.a.document)
        assert.are.same({ k = 10, new = true }, r.a.metadata)
        helper.assert_vector({ 1, 0, 0 }, r.a.embedding)
        assert.are.same({ k = 2 }, r.b.metadata)
      end)

      it("an embeddings-only upsert keeps document and metadata", function()
        assert(col:upsert { ids = { "b" }, embeddings = { { 0, 0, 1 } } })
        local r = rows(col)
        assert.are.same({ "doc b", { k = 2 } }, { r.b.document, r.b.metadata })
        helper.assert_vector({ 0, 0, 1 }, r.b.embedding)
      end)

      it("a documents-and-embeddings upsert keeps metadata", function()
        assert(col:upsert { ids = "a", documents = "new a", embeddings = { 0, 1, 1 } })
        local r = rows(col)
        assert.are.same({ "new a", { k = 1 } }, { r.a.document, r.a.metadata })
      end)

      it("inserts new ids and updates old ones in one call", function()
        assert(col:upsert { ids = { "b", "c" }, embeddings = { { 1, 1, 1 }, { 2, 2, 2 } } })
        local r = rows(col)
        assert.are.equal(3, col:count())
        assert.are.same({ "doc b", { k = 2 } }, { r.b.document, r.b.metadata })
        helper.assert_vector({ 2, 2, 2 }, r.c.embedding)
        -- a new id gets NULL for the fields not given (pyseekdb's behaviour)
        assert.are.equal(seekdb.null, r.c.document)
        assert.are.equal(seekdb.null, r.c.metadata)
      end)

      it("sets NULL where seekdb.null is given", function()
        assert(col:upsert { ids = { "a", "b" }, documents = { seekdb.null, "still b" },
          metadatas = { { x = 1 }, seekdb.null }, embeddings = { { 1, 2, 3 }, { 3, 2, 1 } } })
        local r = rows(col)
        assert.are.equal(seekdb.null, r.a.document)
        assert.are.equal(seekdb.null, r.b.metadata)
        assert.are.equal("still b", r.b.document)
      end)
    end)

    it("lets the last of duplicate ids win", function()
      assert(col:upsert { ids = { "d", "e", "d" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } },
        documents = { "first", "e", "last" }, metadatas = { { n = 1 }, { n = 2 }, { n = 3 } } })
      local r = rows(col)
      assert.are.equal(2, col:count())
      assert.are.same({ "last", { n = 3 } }, { r.d.document, r.d.metadata })
      helper.assert_vector({ 0, 0, 1 }, r.d.embedding)
    end)

    it("refuses a new id without an embedding on MariaDB, writing nothing", function()
      if dialect ~= "mariadb" then return pending("MariaDB only") end
      assert(col:upsert { ids = "old", embeddings = { 1, 2, 3 } })
      local ok, err = col:upsert { ids = { "old", "brand-new" }, metadatas = { { a = 1 }, { a = 2 } } }
      assert.is_nil(ok)
      assert.matches("ids%[2%] %('brand%-new'%) is not in the collection", err)
      assert.are.same({ "old" }, assert(col:get {}).ids)
      assert.are.equal(seekdb.null, rows(col).old.metadata)
      local ok2, err2 = col:upsert { ids = "x", embeddings = seekdb.null }
      assert.is_nil(ok2)
      assert.matches("a MariaDB collection needs a vector in every row", err2)
    end)

    describe("refuses bad input before any SQL", function()
      local function refuses(args, pattern)
        local ok, err, errno = col:upsert(args)
        assert.is_nil(ok)
        assert.is_nil(errno)
        assert.matches(pattern, err)
        assert.are.equal(0, col:count())
      end

      it("with a message that names what is wrong", function()
        refuses({ ids = {}, embeddings = {} }, "ids is empty")
        refuses({ ids = "a" }, "nothing to upsert")
        refuses({ ids = { "a", "b" }, embeddings = { { 1, 2, 3 } } }, "embeddings has 1 items but ids has 2")
        refuses({ ids = { "a", "b" }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 } }, documents = { "x" } },
          "documents has 1 items but ids has 2")
        refuses({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { { x = 1 }, { x = 2 } } },
          "metadatas has 2 items but ids has 1")
        refuses({ ids = { "a", "b" }, embeddings = { { 1, 2, 3 }, { 1, 2 } } },
          "embeddings%[2%] has 2 numbers; the collection's dimension is 3")
        refuses({ ids = "a", embeddings = { 1, 2, 3, 4 } }, "embeddings has 4 numbers")
        refuses({ ids = "a", embeddings = { 1, 0 / 0, 3 } }, "embeddings%[2%] is NaN or infinite")
        refuses({ ids = "a", embeddings = { 1, math.huge, 3 } }, "embeddings%[2%] is NaN or infinite")
        refuses({ ids = "a", embeddings = { 1, 1e300, 3 } }, "too large for a float32")
        refuses({ ids = "a", documents = "no vectors" }, "no embedding function: pass embeddings")
        refuses({ ids = "", embeddings = { 1, 2, 3 } }, "ids is an empty string")
        refuses({ ids = { "a", ("x"):rep(513) }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 } } },
          "ids%[2%] is 513 bytes long")
        refuses({ ids = "a", embeddings = { 1, 2, 3 }, documents = "bad \xff utf8" }, "documents is not valid UTF%-8")
        refuses({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { x = 0 / 0 } }, "metadatas.x is NaN or infinite")
        refuses({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { ["k\0"] = 1 } }, "is a key with a NUL byte")
        refuses({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { x = "\xc3" } }, "metadatas.x is a string that is not valid UTF%-8")
      end)

      it("and raises on wrong types, naming the argument and item", function()
        local function raises(args, msg)
          local ok, err = pcall(col.upsert, col, args)
          assert.is_false(ok)
          assert.matches(msg, err, 1, true)
          assert.are.equal(0, col:count())
        end
        raises("ids", "bad argument #1 to 'upsert' (table expected, got string)")
        raises({ embeddings = { 1, 2, 3 } }, "bad argument #1 to 'upsert' (ids is required")
        raises({ ids = 7, embeddings = { 1, 2, 3 } }, "ids must be a string or a list of strings, got number")
        raises({ ids = { "a", 7 }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 } } }, "ids[2] must be a string, got number")
        raises({ ids = "a", embeddings = { 1, "2", 3 } }, "embeddings[2] must be a number, got string")
        raises({ ids = { "a" }, embeddings = { "x" } }, "embeddings[1] must be a list of numbers, got string")
        raises({ ids = "a", embeddings = "1,2,3" }, "embeddings must be a vector or a list of vectors, got string")
        raises({ ids = "a", documents = 5, embeddings = { 1, 2, 3 } }, "documents must be a string or a list of strings, got number")
        -- a hole: Lua 5.4 sees a border at 3 (then ids[2] is nil), LuaJIT at 1 (then key 3 is extra)
      raises({ ids = { "a", nil, "c" }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 }, { 1, 2, 3 } } },
        helper.luajit and "ids must be a list with keys 1..n" or "ids[2] must be a string, got nil")
        raises({ ids = { "a", x = "b" }, embeddings = { { 1, 2, 3 } } }, "ids must be a list with keys 1..n")
        raises({ ids = "a", embeddings = { 1, 2, 3, x = 4 } }, "embeddings has keys besides 1..3")
        raises({ ids = "a", embedings = { 1, 2, 3 } }, "unknown field 'embedings'")
        raises({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { f = print } }, "metadatas.f is a function")
        raises({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { [1.5] = 1 } }, "metadatas must be a table with string keys")
        raises({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { x = { 1, nil, 3 } } }, helper.luajit and "metadatas.x is a table that is neither a list" or "metadatas.x[2] is a nil, which metadata cannot hold")
        raises({ ids = "a", embeddings = { 1, 2, 3 }, metadatas = { x = { 1, y = 2 } } }, "metadatas.x is a table that is neither a list")
      end)
    end)

    it("round-trips quotes, backslashes, NUL bytes and unicode in ids, documents and metadata", function()
      local nasty = { "it's", 'say "hi"', "back\\slash", "nul\0byte", "ctrl\26z\r\n", "日本語 ☃ 🎉",
        "'; DROP TABLE t; --", "%_%", "\\'", "/*c*/", "$.a[0]" }
      local ids, docs, metas, vecs = {}, {}, {}, {}
      for i, s in ipairs(nasty) do
        ids[i], docs[i], vecs[i] = s, s, { i, 0, 1 }
        -- keys may be anything but NUL bytes (cJSON keys are C strings)
        metas[i] = { [s:gsub("%z", "0")] = s, nested = { s, { deep = s } } }
      end
      assert(col:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      local r = assert(col:get { ids = ids, include = ALL.include })
      assert.are.same(ids, r.ids)
      assert.are.same(docs, r.documents)
      assert.are.same(metas, r.metadatas)
      -- ids are stored as their bytes
      local hex = assert(client:query("SELECT HEX(_id) AS h FROM `" .. col._table .. "` WHERE _id = X'"
        .. ("nul\0byte"):gsub(".", function(c) return ("%02X"):format(c:byte()) end) .. "'"))
      assert.are.equal("6E756C0062797465", hex[1].h)
    end)

    it("writes nothing when a bad item comes at the end of 1,000", function()
      assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1 }, documents = "kept" })
      local ids, vecs = {}, {}
      for i = 1, 1000 do ids[i], vecs[i] = "r" .. i, { i, 0, 0 } end
      vecs[1000] = { 1, 2 }
      local ok, err = col:upsert { ids = ids, embeddings = vecs }
      assert.is_nil(ok)
      assert.matches("embeddings%[1000%]", err)
      assert.are.equal(1, col:count())
    end)

    -- More than one execution's rows (1,000) on MariaDB's bulk protocol: the
    -- first 1,000 items are checked before any SQL, the others while the rows
    -- before them are written (pipeline). A bad one there is still nothing
    -- written, with the same message; pipeline = false checks all first.
    describe("a bad item in a call of 3,000 rows", function()
      local function big(bad)
        local ids, vecs = {}, {}
        for i = 1, 3000 do ids[i], vecs[i] = "r" .. i, { i, 0, 0 } end
        bad(ids, vecs)
        return { ids = ids, embeddings = vecs }
      end
      local function inserts(c) return dialect == "mariadb" and helper.com_insert(c) or 0 end

      it("writes nothing and says which item, pipelined or not", function()
        assert(col:upsert { ids = "keep", embeddings = { 1, 1, 1 }, documents = "kept" })
        local db = assert(client:query("SELECT DATABASE() AS d"))[1].d
        local checked_first = assert(seekdb.Client(helper.options { database = db, pipeline = false,
          text_protocol = protocol == "text" }))
        local col2 = assert(checked_first:get_collection("my_collection"))
        for _, case in ipairs {
          { function(_, v) v[3000] = { 1, 2 } end, "embeddings%[3000%] has 2 numbers", true },
          { function(_, v) v[2500][2] = 0 / 0 end, "embeddings%[2500%]%[2%] is NaN or infinite", true },
          -- ids are all read (and sorted) before any SQL, pipelined or not
          { function(i) i[1001] = "" end, "ids%[1001%] is an empty string", false },
        } do
          local before, before2 = inserts(client), inserts(checked_first)
          local ok, err, errno = col:upsert(big(case[1]))
          assert.is_nil(ok)
          assert.matches(case[2], err)
          assert.is_nil(errno)
          assert.are.equal(1, col:count())
          if dialect == "mariadb" and protocol == "bulk" and case[3] then
            assert.truthy(helper.com_insert(client) - before > 0, "the first rows were sent, then rolled back")
          elseif dialect == "mariadb" then
            assert.are.equal(0, helper.com_insert(client) - before, "refused before any SQL")
          end
          ok, err = col2:upsert(big(case[1]))
          assert.is_nil(ok)
          assert.matches(case[2], err)
          assert.are.equal(0, inserts(checked_first) - before2, "pipeline = false: refused before any SQL")
          assert.are.equal(1, col:count())
        end
        -- a wrong type raises, as it does in a small call
        local args = big(function(i) i[2000] = 2000 end)
        assert.has_error(function() col:upsert(args) end, "bad argument #1 to 'upsert' (ids[2000] must be a string, got number)")
        assert.are.equal(1, col:count())
        -- add: an id twice, the second time after the first 1,000
        local ok, err = col:add(big(function(i) i[2999] = "r7" end))
        assert.is_nil(ok)
        assert.matches("ids%[2999%] %('r7'%) is the same id as ids%[7%]", err)
        assert.are.equal(1, col:count())
        -- and then the whole call goes through
        assert.is_true(col:upsert(big(function() end)))
        assert.are.equal(3001, col:count())
        checked_first:close()
      end)

      it("is run again after a lock wait timeout, pipelined or not", function()
        if dialect ~= "mariadb" then return pending("MariaDB's lock waits") end
        local args = big(function() end)
        assert(col:upsert { ids = "r2500", embeddings = { 9, 9, 9 }, documents = "old" })
        local db = assert(client:query("SELECT DATABASE() AS d"))[1].d
        local function open(extra)
          extra.database, extra.text_protocol = db, protocol == "text"
          local c = assert(seekdb.Client(helper.options(extra)))
          assert(c:query("SET SESSION innodb_lock_wait_timeout = 1"))
          return c
        end
        -- a second client holds row r2500 until the spec lets it go
        local holder, watcher = open {}, open {}
        assert(holder:query("START TRANSACTION"))
        assert(holder:query("SELECT _id FROM `" .. col._table .. "` WHERE _id = 'r2500' FOR UPDATE"))
        -- a client that does not retry fails after its lock wait (1205), writing nothing
        local no_retry = open { deadlock_retries = 0 }
        local ok, err, errno = assert(no_retry:get_collection("my_collection")):upsert(args)
        assert.is_nil(ok)
        assert.are.equal(1205, errno, err)
        assert.are.equal(1, col:count())
        no_retry:close()
        -- one that retries, driven a step at a time (loop = "yield"): the lock
        -- is let go once the server has counted its first wait (which timed
        -- out) and it waits again, in its second attempt
        local stepper = open { loop = "yield" }
        local scol = assert(stepper:get_collection("my_collection"))
        local function lock_waits()
          return tonumber(assert(watcher:query("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'"))[1].Value)
        end
        local function waiting_now()
          return #assert(watcher:query("SELECT 1 FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' "
            .. "AND trx_mysql_thread_id <> CONNECTION_ID()")) > 0
        end
        local before, waits0 = inserts(stepper), lock_waits()
        local task = seekdb.task(function() return scol:upsert(args) end)
        local give_up = seekdb.now() + 60
        repeat
          assert.is_false(task:step(), "the call ended while the row was still held")
          assert.truthy(seekdb.now() < give_up, "the call never waited twice for the lock")
        until lock_waits() >= waits0 + 2 and waiting_now()
        assert(holder:query("COMMIT"))
        local done, result, err2
        repeat
          done, result, err2 = task:step()
          assert.truthy(seekdb.now() < give_up, "the call did not end after the lock was let go")
        until done
        assert.is_true(result, err2)
        if protocol == "bulk" then
          assert.truthy(helper.com_insert(stepper) - before > 3, "sent again from the first row")
        end
        stepper:close()
        holder:close()
        watcher:close()
        assert.are.equal(3000, col:count())
        local r = assert(col:get { ids = { "r1", "r2500", "r3000" }, include = { "documents", "embeddings" } })
        assert.are.same({ "r1", "r2500", "r3000" }, r.ids)
        assert.are.same({ seekdb.null, "old", seekdb.null }, r.documents) -- only the given fields change
        helper.assert_vector({ 2500, 0, 0 }, r.embeddings[2])
      end)
    end)

    it("rolls back every statement when the server fails in the middle", function()
      if dialect ~= "mariadb" then return pending("uses a MariaDB trigger") end
      local small = helper.fresh { max_packet = 8192, text_protocol = protocol == "text" }
      local c = assert(small:create_collection { name = "t", dimension = 3 })
      assert(c:upsert { ids = "keep", embeddings = { 1, 1, 1 } })
      assert(small:query([[CREATE TRIGGER poison BEFORE INSERT ON `]] .. c._table .. [[` FOR EACH ROW
        IF NEW._id = 'zpoison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned row'; END IF]]))
      local ids, vecs = {}, {}
      for i = 1, 1000 do ids[i], vecs[i] = "r" .. i, { i, 0, 0 } end
      ids[1] = "zpoison" -- rows go in the order of their ids: this one last
      local before = helper.com_insert(small)
      local ok, err, errno, sqlstate = c:upsert { ids = ids, embeddings = vecs }
      assert.is_nil(ok)
      assert.are.equal("poisoned row", err)
      assert.are.equal(1644, errno)
      assert.are.equal("45000", sqlstate)
      assert.truthy(helper.com_insert(small) - before >= 3, "several statements ran before the failure")
      assert.are.equal(1, c:count())
      -- and the client goes on working
      assert(c:upsert { ids = "after", embeddings = { 2, 2, 2 } })
      assert.are.equal(2, c:count())
      helper.drop(small)
    end)

    it("splits 10,000 rows of 384 dimensions over several statements", function()
      -- no vector index: this is about splitting, and HNSW inserts are slow
      assert(client:query("CREATE TABLE `c$v1$big` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, "
        .. "embedding VECTOR(384) NOT NULL, metadata JSON) DEFAULT CHARSET=utf8mb4"))
      local big = assert(client:get_collection("big"))
      local n = 10000
      local ids, vecs, docs, metas = {}, helper.vectors(n, 384), {}, {}
      for i = 1, n do
        ids[i] = "id-" .. i
        docs[i] = ("document number %d of the big upsert"):format(i)
        metas[i] = { category = "c" .. (i % 7), score = i % 100 }
      end
      local before = dialect == "mariadb" and helper.com_insert(client)
      assert.is_true(big:upsert { ids = ids, embeddings = vecs, documents = docs, metadatas = metas })
      if before then
        local statements = helper.com_insert(client) - before
        assert.truthy(statements >= 2, "expected several INSERT statements, got " .. statements)
      end
      assert.are.equal(n, big:count())
      local r = assert(big:get { ids = { "id-1", "id-5000", "id-10000" }, include = ALL.include })
      assert.are.same({ "id-1", "id-5000", "id-10000" }, r.ids)
      assert.are.same({ category = "c4", score = 0 }, r.metadatas[3])
      helper.assert_vector(vecs[5000], r.embeddings[2])
      assert(client:delete_collection("big"))
    end)

    it("refuses a row larger than the packet, writing nothing", function()
      local small = helper.fresh { max_packet = 4096, text_protocol = protocol == "text" }
      local c = assert(small:create_collection { name = "t", dimension = 3 })
      local ok, err = c:upsert { ids = { "a", "b" }, embeddings = { { 1, 2, 3 }, { 1, 2, 3 } },
        documents = { "short", ("x"):rep(10000) } }
      assert.is_nil(ok)
      assert.matches("ids%[2%]: its row is %d+ bytes, more than one statement may carry %(the server's "
        .. "max_allowed_packet of 4096 bytes, less 1024 for the packet's header", err)
      assert.are.equal(0, c:count())
      helper.drop(small)
    end)
  end)
end
