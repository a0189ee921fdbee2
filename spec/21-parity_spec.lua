-- Parity with pyseekdb and the JS SDK (issue 12): databases (AdminClient
-- and the same methods on a Client), count_collection, fork, refresh_index,
-- index configuration, the JS SDK 1.4's catalog settings, n_results limits,
-- strict AdminClient options. Every spec runs with a blocking client and
-- with a resumable one (loop = "yield", driven by seekdb.task), under
-- Lua 5.4 and LuaJIT; the seekdb dialect's SQL is pinned by golden tests at
-- the end (no seekdb server in CI).
local seekdb = require "seekdb"
local core = require "seekdb.core"
local helper = require "helper"

local unpack = helper.unpack
local function pack(...) return { n = select("#", ...), ... } end

-- A registered embedding function: `dim` numbers per text, from its words.
local function hashing(properties)
  local dim = properties.dim or 4
  return function(docs)
    local out = {}
    for i, d in ipairs(docs) do
      local v = {}
      for j = 1, dim do v[j] = 0 end
      for w in d:gmatch("%S+") do
        local h = 0
        for c in w:gmatch(".") do h = (h * 31 + c:byte()) % dim end
        v[h + 1] = v[h + 1] + 1
      end
      v[1] = v[1] + 0.5
      out[i] = v
    end
    return out
  end
end

-- Counters of the session's statements (MariaDB), to show that nothing was sent.
local function com(client, what)
  local rows = assert(client:query("SHOW SESSION STATUS LIKE 'Com_" .. what .. "'"))
  return tonumber(rows[1].Value)
end

local function tables(client, prefix)
  local n = 0
  for _, row in ipairs(assert(client:query("SHOW TABLES"))) do
    for _, name in pairs(row) do
      if name:sub(1, #prefix) == prefix then n = n + 1 end
    end
  end
  return n
end

local function catalog(client)
  local rows, err, errno = client:query("SELECT collection_name, settings FROM sdk_collections ORDER BY collection_name")
  if not rows and errno == 1146 then return {} end
  assert(rows, err)
  local out = {}
  for _, r in ipairs(rows) do out[r.collection_name] = r.settings end
  return out
end

local counter = 0
local function unique(prefix)
  counter = counter + 1
  return ("%s_%d_%d"):format(prefix, os.time(), counter)
end

for _, mode in ipairs { "blocking", "resumable" } do
  local resumable = mode == "resumable"
  local extra = resumable and { loop = "yield" } or nil

  -- Runs fn in the mode's way: directly, or in a task stepped until it ends.
  local function go(fn)
    if not resumable then return fn() end
    local task = seekdb.task(fn)
    local steps = 0
    while true do
      steps = steps + 1
      local r = pack(task.step())
      -- (steps may be 1: a call yields only when it has to wait, and a
      -- fast server may have answered before the call looks)
      if r[1] then return unpack(r, 2, r.n) end
    end
  end

  describe("parity (" .. mode .. ")", function()
    local client, dialect, db
    setup(function()
      client, db = helper.fresh(extra)
      dialect = helper.dialect(client)
      seekdb.register_embedding_function("hashing", hashing)
    end)
    teardown(function()
      seekdb.register_embedding_function("hashing", nil)
      helper.drop(client)
    end)
    after_each(function()
      for _, col in ipairs(assert(client:list_collections())) do assert(client:delete_collection(col.name)) end
    end)

    describe("databases", function()
      it("are created, found, listed and deleted through an AdminClient, as pyseekdb does", function()
        go(function()
          local o = helper.options(extra)
          o.database = nil -- AdminClient's default: information_schema
          local admin = assert(seekdb.AdminClient(o))
          assert.matches("/information_schema", tostring(admin))
          local name = unique("lseekdb_par_db")
          assert.is_true(admin:create_database(name))
          assert.is_true(admin:create_database(name)) -- IF NOT EXISTS, as pyseekdb and the JS SDK
          local d = assert(admin:get_database(name))
          assert.are.equal(name, d.name)
          assert.are.equal(name, tostring(d))
          assert.is_string(d.charset)
          assert.is_string(d.collation)
          assert.is_nil(d.tenant)
          assert.are.equal(d, assert(client:get_database(name))) -- pyseekdb's equality: name and tenant
          local all = assert(admin:list_databases())
          local names, found = {}, false
          for i, x in ipairs(all) do
            names[i] = x.name
            found = found or x.name == name
          end
          assert.is_true(found)
          local sorted = { unpack(names) }
          table.sort(sorted)
          assert.are.same(sorted, names)
          local page = assert(admin:list_databases { limit = 2, offset = 1 })
          assert.are.same({ names[2], names[3] }, { page[1].name, page[2].name })
          assert.are.equal(2, #page)
          assert.are.same(page, assert(admin:list_databases(2, 1)))
          assert.are.equal(#all - 1, #assert(admin:list_databases { offset = 1 }))
          assert.are.equal(0, #assert(admin:list_databases { limit = 0 }))
          assert.is_true(admin:delete_database(name))
          local none, err, errno, sqlstate = admin:get_database(name)
          assert.is_nil(none)
          assert.are.same({ "database '" .. name .. "' does not exist", 1049, "42000" }, { err, errno, sqlstate })
          assert.is_true(admin:delete_database(name)) -- IF EXISTS
          admin:close()
          admin:close()
        end)
      end)

      it("are managed from a Client too, whose collections live in one of them", function()
        go(function()
          local name = unique("lseekdb_par_db")
          assert.is_true(client:create_database(name))
          local other = assert(seekdb.Client(helper.options { database = name, loop = extra and extra.loop }))
          local col = assert(other:create_collection { name = "inside", dimension = 2 })
          assert(col:add { ids = "a", embeddings = { 1, 2 } })
          assert.are.equal(1, other:count_collection())
          other:close()
          assert.is_true(client:delete_database(name))
          assert.is_nil(client:get_database(name))
        end)
      end)

      it("carry the tenant a client logs in with (user@tenant), as pyseekdb's on OceanBase", function()
        if dialect ~= "mariadb" then return pending("a user named like a tenant login: MariaDB") end
        go(function()
          local made = client:query("CREATE USER IF NOT EXISTS 'lsk_par@tnt'@'%' IDENTIFIED BY 'pw_par'")
          if not made then return end -- no right to make users: nothing to show
          assert(client:query("GRANT SELECT ON *.* TO 'lsk_par@tnt'@'%'"))
          local t = assert(seekdb.Client(helper.options { user = "lsk_par", tenant = "tnt", password = "pw_par",
            database = db, loop = extra and extra.loop }))
          local d = assert(t:get_database(db))
          assert.are.same({ db, "tnt" }, { d.name, d.tenant })
          assert.are_not.equal(d, assert(client:get_database(db))) -- pyseekdb's equality: name and tenant
          assert.are.equal("tnt", assert(t:list_databases { limit = 1 })[1].tenant)
          t:close()
          assert(client:query("DROP USER 'lsk_par@tnt'@'%'"))
        end)
      end)

      it("refuse names outside pyseekdb's rule before any SQL, and wrong types", function()
        go(function()
          local before = assert(client:list_databases())
          for _, bad in ipairs { "", "a-b", "a b", "a`b", "x;DROP DATABASE test", "é", ("d"):rep(65), "a\0b" } do
            for _, method in ipairs { "create_database", "get_database", "delete_database" } do
              local ok, err = client[method](client, bad)
              assert.is_nil(ok)
              assert.matches("invalid database name", err)
            end
          end
          assert.matches("pyseekdb's rule: %^%[A%-Za%-z0%-9_%]%+%$", select(2, client:create_database("a-b")))
          assert.matches("longer than 64", select(2, client:create_database(("d"):rep(65))))
          assert.is_true(client:create_database(("d"):rep(64)))
          assert.is_true(client:delete_database(("d"):rep(64)))
          assert.are.equal(#before, #assert(client:list_databases()))
          assert.has_error(function() client:create_database(5) end,
            "bad argument #1 to 'create_database' (database name must be a string, got number)")
          assert.has_error(function() client:list_databases { limit = -1 } end)
          assert.has_error(function() client:list_databases { limit = 1.5 } end)
          assert.has_error(function() client:list_databases { lmit = 1 } end,
            "bad argument #1 to 'list_databases' (unknown option 'lmit': list_databases takes limit, offset)")
          assert.has_error(function() client.get_database("x") end)
        end)
      end)

      it("AdminClient takes Client's options and rejects unknown ones", function()
        go(function()
          assert.has_error(function() seekdb.AdminClient { hots = "127.0.0.1" } end,
            "bad argument #1 to 'AdminClient' (unknown option 'hots': AdminClient takes host, port, user, password, "
            .. "database, tenant, socket, connect_timeout, read_timeout, write_timeout, timeout, loop, slice, ssl, "
            .. "ssl_verify, ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher, tls_version, dialect, max_packet, "
            .. "text_protocol, pipeline, deadlock_retries, path, mariadbd, local_idle, vectors)")
          assert.has_error(function() seekdb.AdminClient { path = "./seekdb.db", port = 2881 } end)
          assert.has_error(function() seekdb.AdminClient "localhost" end,
            "bad argument #1 to 'AdminClient' (table expected, got string)")
          assert.has_error(function() seekdb.AdminClient { dialect = "oracle" } end)
          local admin = assert(seekdb.AdminClient(helper.options(extra)))
          assert.are.equal(dialect, admin:info().dialect)
          assert.is_nil(admin.create_collection) -- databases only, as pyseekdb's AdminClient
          admin:close()
          assert.has_error(function() admin:list_databases() end, "attempt to use a closed seekdb client")
          local o = helper.options { host = "127.0.0.1", port = 1, loop = extra and extra.loop }
          o.socket = nil
          local none, err = seekdb.AdminClient(o)
          assert.is_nil(none)
          assert.is_string(err)
        end)
      end)
    end)

    it("count_collection counts what list_collections lists", function()
      go(function()
        assert.are.equal(0, client:count_collection())
        assert(client:create_collection { name = "one", dimension = 2 })
        assert(client:create_collection { name = "two", dimension = 2, version = 1 })
        assert.are.equal(2, client:count_collection())
        assert.are.equal(#assert(client:list_collections()), client:count_collection())
      end)
    end)

    describe("configuration", function()
      it("sets the index (m, ef_search on MariaDB), is kept in the catalog and read back", function()
        go(function()
          local conf = { dimension = 3, distance = "l2", hnsw = { m = 8, ef_search = 77 } }
          if dialect ~= "mariadb" then conf.hnsw.ef_construction = 100 end
          local col = assert(client:create_collection { name = "tuned", configuration = conf })
          assert.are.same({ 3, "l2" }, { col.dimension, col.distance })
          local desc = col:describe()
          assert.are.same({ name = "tuned", id = col.id, version = 2, dimension = 3, distance = "l2",
            configuration = { dimension = 3, distance = "l2", hnsw = { m = 8, ef_search = 77,
              ef_construction = conf.hnsw.ef_construction } } }, desc)
          desc.configuration.hnsw.m = 99 -- a copy
          assert.are.equal(8, col.configuration.hnsw.m)
          if dialect == "mariadb" then
            local ddl = assert(client:query("SHOW CREATE TABLE `" .. col._table .. "`"))[1]["Create Table"]
            assert.matches("`M`='8' `DISTANCE`='euclidean'", ddl, 1, true)
          end
          assert.are.equal('{"configuration":{"hnsw":{"dimension":3,"distance":"l2",'
            .. (conf.hnsw.ef_construction and '"ef_construction":100,' or '') .. '"ef_search":77,"m":8}},"version":2}',
            catalog(client).tuned)
          local other = assert(seekdb.Client(helper.options { database = db, loop = extra and extra.loop }))
          local again = assert(other:get_collection("tuned"))
          assert.are.same(desc.configuration.hnsw.ef_search, again.configuration.hnsw.ef_search)
          assert.are.same(col:describe(), again:describe())
          -- queries run with the collection's ef_search, also under a deadline (one SET STATEMENT)
          assert(again:add { ids = { "a", "b", "c" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } } })
          assert.are.same({ { "b", "a" } }, assert(again:query { query_embeddings = { 0.1, 1, 0 }, n_results = 2,
            include = {} }).ids)
          other:set_timeout(20)
          assert.are.same({ { "c" } }, assert(again:query { query_embeddings = { 0, 0.1, 1 }, n_results = 1 }).ids)
          other:close()
          assert.are.equal(#assert(client:list_collections()), 1)
        end)
      end)

      it("takes pyseekdb's HNSWConfiguration(dimension, distance) and Configuration as written there", function()
        go(function()
          local col = assert(client:create_collection { name = "py1", configuration = seekdb.HNSWConfiguration(5, "l2") })
          assert.are.same({ 5, "l2" }, { col.dimension, col.distance })
          local h = seekdb.HNSWConfiguration { dimension = 4, distance = "cosine", M = 12, ef_search = 30 }
          assert.are.same({ 4, "cosine", 12, 12, 30 }, { h.dimension, h.distance, h.M, h.m, h.ef_search })
          col = assert(client:create_collection { name = "py2", configuration = seekdb.Configuration { hnsw = h } })
          assert.are.same({ 4, "cosine", 12, 30 }, { col.dimension, col.distance, col.configuration.hnsw.m,
            col.configuration.hnsw.ef_search })
          col = assert(client:create_collection { name = "py3", configuration = seekdb.Configuration(seekdb.HNSWConfiguration(6)) })
          assert.are.same({ 6, "cosine" }, { col.dimension, col.distance })
          -- pyseekdb's defaults when read; unset, the dimension is the embedding function's
          local empty = seekdb.HNSWConfiguration {}
          assert.are.same({ 384, "cosine" }, { empty.dimension, empty.distance })
          col = assert(client:create_collection { name = "py4", configuration = seekdb.HNSWConfiguration { m = 10 },
            embedding_function = "hashing", embedding_function_properties = { dim = 7 } })
          assert.are.same({ 7, "cosine", 10 }, { col.dimension, col.distance, col.configuration.hnsw.m })
          assert.are.equal("hashing", col:describe().embedding_function)
          assert(col:upsert { ids = "t", documents = "some words" })
          -- a FulltextIndexConfig is seekdb's only
          local ft = seekdb.FulltextIndexConfig("ngram", { ngram_token_size = 2 })
          assert.are.same({ "ngram", 2 }, { ft.analyzer, ft.properties.ngram_token_size })
          assert.are.equal("ik", seekdb.FulltextIndexConfig().analyzer)
          -- misuse raises, as pyseekdb's constructors do
          assert.has_error(function() seekdb.HNSWConfiguration(0) end)
          assert.has_error(function() seekdb.HNSWConfiguration(3, "manhattan") end)
          assert.has_error(function() seekdb.HNSWConfiguration { dimension = 3, type = "hnsw_bq" } end)
          assert.has_error(function() seekdb.HNSWConfiguration { dimension = 3, refine_k = 4 } end)
          assert.has_error(function() seekdb.HNSWConfiguration { m = 8, M = 9 } end)
          assert.has_error(function() seekdb.Configuration { hnsw = { dimension = 3 } } end)
          assert.has_error(function() seekdb.Configuration { fulltext = ft } end)
        end)
      end)

      it("agrees with the top-level dimension and distance, or raises", function()
        go(function()
          local col = assert(client:create_collection { name = "same", dimension = 3, distance = "l2",
            configuration = { dimension = 3, distance = "l2" } })
          assert.are.same({ 3, "l2" }, { col.dimension, col.distance })
          col = assert(client:create_collection { name = "mixed", dimension = 4, configuration = { distance = "l2" } })
          assert.are.same({ 4, "l2" }, { col.dimension, col.distance })
          assert.has_error(function()
            client:create_collection { name = "x", dimension = 3, configuration = { dimension = 4 } }
          end, "bad argument #1 to 'create_collection' (dimension = 3 and configuration's dimension = 4 disagree: "
            .. "give one, or the same)")
          assert.has_error(function()
            client:create_collection { name = "x", distance = "l2", configuration = seekdb.HNSWConfiguration(3, "cosine") }
          end, "bad argument #1 to 'create_collection' (distance = l2 and configuration's distance = cosine "
            .. "disagree: give one, or the same)")
          assert.is_false(client:has_collection("x"))
        end)
      end)

      it("refuses what the server cannot honour, before any SQL", function()
        go(function()
          local before = com(client, "create_table")
          local function refused(conf, pattern)
            local col, err = client:create_collection { name = "refused", configuration = conf }
            assert.is_nil(col)
            assert.matches(pattern, err)
          end
          if dialect == "mariadb" then
            refused({ dimension = 3, distance = "inner_product" }, "MariaDB has no inner%-product distance")
            refused({ hnsw = { ef_construction = 100 } }, "MariaDB cannot honour configuration.hnsw.ef_construction")
            refused({ fulltext = { parser = "ngram" } }, "MariaDB cannot honour configuration.fulltext %(parser 'ngram'%)")
            refused({ fulltext = { properties = { ngram_token_size = 2 } } },
              "MariaDB cannot honour configuration.fulltext.properties")
            refused(seekdb.Configuration { fulltext_config = seekdb.FulltextIndexConfig() }, "parser 'ik'")
            refused({ hnsw = { m = 2 } }, "configuration.hnsw.m = 2 is out of range: a mariadb collection takes 3 to 200")
            refused({ hnsw = { m = 201 } }, "takes 3 to 200")
            refused({ hnsw = { ef_search = 10001 } }, "configuration.hnsw.ef_search = 10001 is out of range")
          else
            refused({ hnsw = { m = 4 } }, "takes 5 to 128")
            refused({ hnsw = { ef_search = 1001 } }, "takes 1 to 1000")
            refused({ fulltext = { parser = "a b" } }, "not a parser name")
            refused({ fulltext = { parser = "ik", properties = { ik_mode = "x' OR '1" } } }, "plain word")
          end
          refused({ dimension = 0 }, "dimension 0 is out of range")
          refused({ hnsw = { ef_construction = 4 } }, "ef_construction")
          assert.are.equal(before, com(client, "create_table"))
          -- misuse raises
          for _, conf in ipairs {
            { hnsw = { m = "8" } }, { hnsw = 8 }, { hnsw = { efs = 1 } }, { fulltext = "ik" }, { dim = 3 },
            { hnsw = { extra_info_max_size = 1 } }, "cosine", { fulltext = { parser = 5 } },
            { fulltext = { properties = "x" } }, { hnsw = { ef_search = 1.5 } }, { dimension = "3" },
          } do
            assert.has_error(function() client:create_collection { name = "refused", configuration = conf } end)
          end
          assert.has_error(function()
            client:create_collection { name = "refused", configuration = { hnsw = { refine_k = 2 } } }
          end, "bad argument #1 to 'create_collection' (unknown option 'refine_k' (pyseekdb's option for "
            .. "hnsw_bq/hnsw_sq indexes, not supported: lua-seekdb makes type = \"hnsw\"): configuration.hnsw takes m, "
            .. "M, ef_construction, ef_search)")
          assert.is_false(client:has_collection("refused"))
          assert.are.equal(0, #assert(client:list_collections()))
        end)
      end)
    end)

    describe("fork", function()
      it("copies rows, dimension, distance, configuration, settings and embedding function; the original stays", function()
        go(function()
          local src = assert(client:create_collection { name = "src", distance = "l2", embedding_function = "hashing",
            embedding_function_properties = { dim = 5 }, configuration = { hnsw = { m = 9, ef_search = 40 } } })
          local docs = { "the first words", "more words here", "and the last" }
          assert(src:add { ids = { "a", "b", "c" }, documents = docs,
            metadatas = { { n = 1 }, { n = 2, tags = { "x" } }, { n = 3 } } })
          local fork = assert(src:fork("copy"))
          assert.are.same({ "copy", 5, "l2", 2 }, { fork.name, fork.dimension, fork.distance, fork.version })
          assert.are_not.equal(src.id, fork.id)
          assert.are.equal(src.embedding_function, fork.embedding_function)
          local sd, fd = src:describe(), fork:describe()
          sd.name, sd.id, fd.name, fd.id = nil, nil, nil, nil
          assert.are.same(sd, fd)
          local all = { "documents", "metadatas", "embeddings" }
          assert.are.same(assert(src:get { include = all }), assert(fork:get { include = all }))
          local cat = catalog(client)
          assert.are.equal(cat.src, cat.copy)
          if dialect == "mariadb" then
            local ddl = assert(client:query("SHOW CREATE TABLE `" .. fork._table .. "`"))[1]["Create Table"]
            assert.matches("`M`='9' `DISTANCE`='euclidean'", ddl, 1, true)
          end
          -- independent: writes to the fork leave the source as it was
          assert(fork:upsert { ids = "d", documents = "a fourth one" })
          assert.are.equal(1, fork:delete { ids = "a" })
          assert.are.equal(3, src:count())
          assert.are.same({ "a", "b", "c" }, assert(src:get {}).ids)
          -- from another client: the same collection, its embedding function attached by name
          local other = assert(seekdb.Client(helper.options { database = db, loop = extra and extra.loop }))
          local again = assert(other:get_collection("copy"))
          assert.are.same(fd, (function() local d = again:describe(); d.name, d.id = nil, nil; return d end)())
          assert.are.same({ { "d" } }, assert(again:query { query_texts = "a fourth one", n_results = 1 }).ids)
          other:close()
          -- the table form, and a fork of the fork
          local f2 = assert(fork:fork { name = "copy2" })
          assert.are.equal(3, f2:count())
          assert.are.equal(3, client:count_collection())
        end)
      end)

      it("makes a version 2 collection of a version 1 one, with a plain Lua embedding function kept", function()
        go(function()
          local ef = hashing { dim = 3 }
          local old = assert(client:create_collection { name = "old", version = 1, embedding_function = ef })
          assert(old:add { ids = { "x", "y" }, documents = { "one", "two words" } })
          local new = assert(old:fork("young"))
          assert.are.same({ 2, 3, ef }, { new.version, new.dimension, new.embedding_function })
          assert.are.equal('{"version":2}', catalog(client).young)
          assert.are.same(assert(old:get {}), assert(new:get {}))
          assert(new:upsert { ids = "z", documents = "three" })
          assert.are.equal(2, old:count())
          assert.are.equal(3, assert(client:get_collection("young", { embedding_function = ef })):count())
        end)
      end)

      it("refuses a name that exists, v1 or v2, and leaves nothing behind", function()
        go(function()
          local src = assert(client:create_collection { name = "fsrc", dimension = 2 })
          assert(src:add { ids = "a", embeddings = { 1, 2 } })
          assert(client:create_collection { name = "taken", dimension = 3 })
          assert(client:create_collection { name = "taken1", dimension = 3, version = 1 })
          local v2, v1, cat = tables(client, "c$v2$"), tables(client, "c$v1$"), catalog(client)
          for _, name in ipairs { "taken", "taken1", "fsrc" } do
            local col, err, errno, sqlstate = src:fork(name)
            assert.is_nil(col)
            assert.are.same({ "collection '" .. name .. "' already exists", 1050, "42S01" }, { err, errno, sqlstate })
          end
          assert.are.same({ v2, v1 }, { tables(client, "c$v2$"), tables(client, "c$v1$") })
          assert.are.same(cat, catalog(client))
          assert.are.equal(1, src:count())
        end)
      end)

      it("that fails after the rows were copied leaves nothing behind (a trigger refuses its catalog row)", function()
        if dialect ~= "mariadb" then return pending("MariaDB trigger syntax") end
        go(function()
          local src = assert(client:create_collection { name = "tsrc", dimension = 2 })
          local ids, vecs = {}, {}
          for i = 1, 50 do ids[i], vecs[i] = "r" .. i, { i, -i } end
          assert(src:add { ids = ids, embeddings = vecs })
          assert(client:query("CREATE TRIGGER no_forks BEFORE INSERT ON sdk_collections FOR EACH ROW "
            .. "IF NEW.collection_name = 'boom' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no forks today'; END IF"))
          local v2, cat = tables(client, "c$v2$"), catalog(client)
          local col, err, errno, sqlstate = src:fork("boom")
          assert.is_nil(col)
          assert.are.same({ "no forks today", 1644, "45000" }, { err, errno, sqlstate })
          assert.are.equal(v2, tables(client, "c$v2$"))
          assert.are.same(cat, catalog(client))
          assert.is_false(client:has_collection("boom"))
          assert.are.equal(50, src:count())
          assert(client:query("DROP TRIGGER no_forks"))
          local ok = assert(src:fork("boom"))
          assert.are.equal(50, ok:count())
        end)
      end)

      it("of a collection deleted meanwhile fails cleanly", function()
        go(function()
          local gone = assert(client:create_collection { name = "gone", dimension = 2 })
          local gone1 = assert(client:create_collection { name = "gone1", dimension = 2, version = 1 })
          assert(client:delete_collection("gone"))
          assert(client:delete_collection("gone1"))
          local v2 = tables(client, "c$v2$")
          for _, col in ipairs { gone, gone1 } do
            local f, err, errno = col:fork("orphan")
            assert.is_nil(f)
            assert.are.equal("collection '" .. col.name .. "' does not exist (it was to be forked into 'orphan')", err)
            assert.are.equal(1146, errno)
          end
          assert.are.equal(v2, tables(client, "c$v2$"))
          assert.is_false(client:has_collection("orphan"))
        end)
      end)

      it("checks its arguments", function()
        go(function()
          local src = assert(client:create_collection { name = "asrc", dimension = 2 })
          assert.matches("invalid collection name 'a b'", select(2, src:fork("a b")))
          assert.matches("invalid collection name", select(2, src:fork(("n"):rep(513))))
          assert.has_error(function() src:fork(5) end,
            "bad argument #1 to 'fork' (collection name must be a string, got number)")
          assert.has_error(function() src:fork { nam = "x" } end,
            "bad argument #1 to 'fork' (unknown option 'nam': fork takes name)")
          assert.has_error(function() src.fork("x") end)
          assert.are.equal(1, client:count_collection())
        end)
      end)
    end)

    it("refresh_index has nothing to refresh on MariaDB and says true", function()
      go(function()
        local col = assert(client:create_collection { name = "fresh", dimension = 2 })
        if dialect == "mariadb" then
          local calls = com(client, "call_procedure")
          assert.is_true(col:refresh_index())
          assert.are.equal(calls, com(client, "call_procedure"))
        else
          assert.is_true(col:refresh_index())
        end
        assert.has_error(function() col.refresh_index() end)
      end)
    end)

    it("reads catalog settings written by the JS SDK 1.4 and attaches its embedding function", function()
      if dialect ~= "mariadb" then return pending("MariaDB DDL") end
      go(function()
        local id = "00112233445566778899aabbccddeeff"
        -- the catalog as the JS SDK makes it (STRING is MariaDB's VARCHAR(512))
        assert(client:query("CREATE TABLE IF NOT EXISTS sdk_collections (collection_id CHAR(32) PRIMARY KEY DEFAULT "
          .. "(replace(uuid(), '-', '')), collection_name VARCHAR(512), settings JSON COMMENT \"Generated by SDK, don't "
          .. "modify\", created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP "
          .. "ON UPDATE CURRENT_TIMESTAMP, UNIQUE INDEX idx_name(collection_name)) COMMENT='Settings of collections "
          .. "created by SDK'"))
        -- JSON.stringify({ schema: schema.toMetadataJson(), version: "v2" }) of a createCollection
        local settings = '{"schema":{"fulltextIndex":{"analyzer":"ik","properties":{}},"vectorIndex":{"hnsw":'
          .. '{"dimension":4,"distance":"l2","ef_search":50},"embeddingFunction":{"name":"hashing","properties":'
          .. '{"dim":4}}}},"version":"v2"}'
        assert(client:query("INSERT INTO sdk_collections (collection_id, collection_name, settings) VALUES ('" .. id
          .. "', 'from_js', '" .. settings .. "')"))
        assert(client:query("CREATE TABLE `c$v2$" .. id .. "` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document "
          .. "LONGTEXT, embedding VECTOR(4) NOT NULL, metadata JSON, VECTOR INDEX (embedding) DISTANCE=euclidean)"))
        local col = assert(client:get_collection("from_js"))
        assert.is_function(col.embedding_function)
        assert.are.same({ name = "from_js", id = id, version = 2, dimension = 4, distance = "l2",
          embedding_function = "hashing", configuration = { dimension = 4, distance = "l2",
            hnsw = { ef_search = 50 }, fulltext = { parser = "ik", properties = {} } } }, col:describe())
        assert(col:upsert { ids = { "j1", "j2" }, documents = { "written from lua", "into a js collection" } })
        assert.are.same({ { "j2" } }, assert(col:query { query_texts = "into a js collection", n_results = 1 }).ids)
        assert.matches("was created with embedding function 'hashing'",
          select(2, client:get_collection("from_js", { embedding_function = function() end })))
        local listed = assert(client:list_collections())
        assert.are.same({ "from_js" }, { listed[1].name })
        assert.is_function(listed[1].embedding_function)
        -- a fork keeps the JS SDK's settings as they are
        local fork = assert(col:fork("from_js_fork"))
        assert.are.equal(settings:gsub("%s", ""), (catalog(client).from_js_fork:gsub("%s", "")))
        assert.are.equal("hashing", assert(client:get_collection("from_js_fork")):describe().embedding_function)
        assert.are.equal(2, fork:count())
        -- the JS SDK's older top-level embeddingFunction
        assert(client:query("UPDATE sdk_collections SET settings = '{\"embeddingFunction\":{\"name\":\"hashing\","
          .. "\"properties\":{\"dim\":4}},\"version\":\"v2\"}' WHERE collection_name = 'from_js'"))
        assert.are.equal("hashing", assert(client:get_collection("from_js")):describe().embedding_function)
      end)
    end)

    it("refuses n_results beyond what the server answers, before any SQL", function()
      go(function()
        local col = assert(client:create_collection { name = "big", dimension = 2 })
        assert(col:add { ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } } })
        local max = dialect == "mariadb" and 10000 or 16384
        local selects = com(client, "select")
        local r, err = col:query { query_embeddings = { 1, 0 }, n_results = max + 1 }
        assert.is_nil(r)
        assert.matches("n_results " .. (max + 1) .. " is more than", err)
        assert.matches("at most " .. max, err)
        assert.are.equal(selects, com(client, "select"))
        assert.are.same({ { "a", "b" } }, assert(col:query { query_embeddings = { 1, 0 }, n_results = max }).ids)
      end)
    end)
  end)
end

-- The seekdb dialect's statements (and MariaDB's where they differ), as in
-- spec/07: pinned for fixed inputs, no server needed.
describe("seekdb dialect SQL (parity)", function()
  local function lit(s)
    return "_utf8mb4 X'" .. s:gsub(".", function(c) return ("%02x"):format(c:byte()) end) .. "'"
  end
  local zero = ("0"):rep(32)
  local src = "0123456789abcdef0123456789abcdef"
  local catalog_ddl = "CREATE TABLE IF NOT EXISTS sdk_collections (collection_id CHAR(32) PRIMARY KEY DEFAULT "
    .. "(replace(uuid(), '-', '')), collection_name STRING, settings JSON COMMENT 'Generated by SDK, don''t modify', "
    .. "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE "
    .. "CURRENT_TIMESTAMP, UNIQUE INDEX idx_name(collection_name)) COMMENT='Settings of collections created by SDK'"
  local function lock(name)
    return "SELECT collection_id, created_at < NOW() - INTERVAL 60 SECOND FROM sdk_collections WHERE "
      .. "collection_name = " .. lit(name) .. " FOR UPDATE"
  end
  local function no_v1(name)
    return "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = "
      .. lit("c$v1$" .. name)
  end

  it("creates a collection with the configuration's index options, as pyseekdb writes them", function()
    local settings = { version = 2, configuration = { hnsw = { dimension = 3, distance = "cosine", m = 16,
      ef_construction = 200, ef_search = 64 }, fulltextConfig = { analyzer = "ngram", properties = { ngram_token_size = 2 } } } }
    assert.are.same({
      catalog_ddl,
      no_v1("books"),
      "CREATE TABLE `c$v2$" .. zero .. "` (_id varbinary(512) PRIMARY KEY NOT NULL, document string, embedding "
      .. "vector(3), metadata json, FULLTEXT INDEX idx_fts(document) WITH PARSER ngram PARSER_PROPERTIES="
      .. "(ngram_token_size=2), VECTOR INDEX idx_vec (embedding) with(distance=cosine, type=hnsw, lib=vsag, m=16, "
      .. "ef_construction=200, ef_search=64)) ORGANIZATION = HEAP",
      "START TRANSACTION",
      lock("books"),
      "INSERT INTO sdk_collections (collection_id, collection_name, settings) VALUES (" .. lit(zero) .. ","
      .. lit("books") .. "," .. lit('{"configuration":{"fulltextConfig":{"analyzer":"ngram","properties":'
      .. '{"ngram_token_size":2}},"hnsw":{"dimension":3,"distance":"cosine","ef_construction":200,"ef_search":64,'
      .. '"m":16}},"version":2}') .. ")",
      "COMMIT",
    }, core.sql("seekdb", "create_collection", "books", 3, "cosine", 2, settings, { m = 16, ef_construction = 200,
      ef_search = 64, parser = "ngram", properties = { ngram_token_size = 2 } }))
  end)

  it("writes parser properties in key order, words quoted, and nothing else changes without options", function()
    assert.are.same({
      "CREATE TABLE `c$v1$c` (_id varbinary(512) PRIMARY KEY NOT NULL, document string, embedding vector(2), "
      .. "metadata json, FULLTEXT INDEX idx_fts(document) WITH PARSER ik PARSER_PROPERTIES=(ik_mode='smart', "
      .. "z_flag=true), VECTOR INDEX idx_vec (embedding) with(distance=l2, type=hnsw, lib=vsag)) ORGANIZATION = HEAP",
    }, core.sql("seekdb", "create_collection", "c", 2, "l2", 1, nil, { properties = { z_flag = true, ik_mode = "smart" } }))
    assert.are.same(core.sql("seekdb", "create_collection", "c", 2, "l2", 1),
      core.sql("seekdb", "create_collection", "c", 2, "l2", 1, nil, {}))
    assert.are.same({
      "CREATE TABLE `c$v1$c` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, embedding VECTOR(2) NOT "
      .. "NULL, metadata JSON, FULLTEXT INDEX idx_fts (document), VECTOR INDEX idx_vec (embedding) M=8 "
      .. "DISTANCE=euclidean) DEFAULT CHARSET=utf8mb4",
    }, core.sql("mariadb", "create_collection", "c", 2, "l2", 1, nil, { m = 8, ef_search = 100 }))
  end)

  it("forks with FORK TABLE, then registers the fork with the source's settings", function()
    assert.are.same({
      catalog_ddl,
      no_v1("copy"),
      "FORK TABLE `c$v2$" .. src .. "` TO `c$v2$" .. zero .. "`",
      "START TRANSACTION",
      lock("copy"),
      "INSERT INTO sdk_collections (collection_id, collection_name, settings) SELECT " .. lit(zero) .. ","
      .. lit("copy") .. ", settings FROM sdk_collections WHERE collection_id = " .. lit(src),
      "COMMIT",
    }, core.sql("seekdb", "fork_collection", "books", "c$v2$" .. src, "copy", 3, "cosine"))
    -- a version 1 source has no settings: the fork gets a plain v2 collection's
    local v1 = core.sql("seekdb", "fork_collection", "books", "c$v1$books", "copy", 3, "cosine")
    assert.are.equal("FORK TABLE `c$v1$books` TO `c$v2$" .. zero .. "`", v1[3])
    assert.are.equal("INSERT INTO sdk_collections (collection_id, collection_name, settings) VALUES (" .. lit(zero)
      .. "," .. lit("copy") .. "," .. lit('{"version":2}') .. ")", v1[6])
  end)

  it("forks on MariaDB by a table LIKE the source and the rows copied in the registering transaction", function()
    local s = core.sql("mariadb", "fork_collection", "books", "c$v2$" .. src, "copy", 3, "l2")
    assert.are.same({
      "CREATE TABLE `c$v2$" .. zero .. "` LIKE `c$v2$" .. src .. "`",
      "START TRANSACTION",
      lock("copy"),
      "INSERT INTO `c$v2$" .. zero .. "` (_id, document, embedding, metadata) SELECT _id, document, embedding, "
      .. "metadata FROM `c$v2$" .. src .. "`",
      "INSERT INTO sdk_collections (collection_id, collection_name, settings) SELECT " .. lit(zero) .. ","
      .. lit("copy") .. ", settings FROM sdk_collections WHERE collection_id = " .. lit(src),
      "COMMIT",
    }, { unpack(s, 3) })
    assert.has_error(function() core.sql("seekdb", "fork_collection", "books", "books", "copy", 3, "l2") end)
  end)

  it("refreshes the index on seekdb (1.3.0+), and sends nothing on MariaDB", function()
    assert.are.same({ "CALL dbms_index_manager.refresh()" }, core.sql("seekdb", "refresh_index"))
    assert.are.same({}, core.sql("mariadb", "refresh_index"))
  end)

  it("manages databases with pyseekdb's statements (listings sorted)", function()
    assert.are.same({ "CREATE DATABASE IF NOT EXISTS `db_1`" }, core.sql("seekdb", "create_database", "db_1"))
    assert.are.same({ "DROP DATABASE IF EXISTS `db_1`" }, core.sql("seekdb", "delete_database", "db_1"))
    local head = "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
    assert.are.same({ head .. " WHERE SCHEMA_NAME = " .. lit("db_1") }, core.sql("seekdb", "get_database", "db_1"))
    assert.are.same({ head .. " ORDER BY SCHEMA_NAME" }, core.sql("seekdb", "list_databases"))
    assert.are.same({ head .. " ORDER BY SCHEMA_NAME LIMIT 10" }, core.sql("seekdb", "list_databases", 10))
    assert.are.same({ head .. " ORDER BY SCHEMA_NAME LIMIT 5, 10" }, core.sql("seekdb", "list_databases", 10, 5))
    assert.are.same({ head .. " ORDER BY SCHEMA_NAME LIMIT 5, 18446744073709551615" },
      core.sql("seekdb", "list_databases", nil, 5))
    assert.is_nil(core.sql("seekdb", "create_database", "db-1"))
  end)

  it("applies a MariaDB collection's ef_search to its queries; seekdb has it in the index", function()
    assert.are.same({ "SET STATEMENT mhnsw_ef_search=100 FOR SELECT _id,VEC_DISTANCE_EUCLIDEAN(embedding, X'0000803f') "
      .. "AS distance FROM `c$v1$c` ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, X'0000803f') LIMIT 10" },
      core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {} }, nil, 100))
    assert.are.same(core.sql("seekdb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 } }),
      core.sql("seekdb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 } }, nil, 100))
  end)

  it("refuses n_results beyond the server's cap (N_RESULTS_MAX in vocab.h)", function()
    local q = { query_embeddings = { 1 }, n_results = 16385 }
    local none, err = core.sql("seekdb", "query", "c$v1$c", 1, "l2", q)
    assert.is_nil(none)
    assert.matches("at most 16384: seekdb and OceanBase cap an approximate search's LIMIT %+ OFFSET at 16,384", err)
    q.n_results = 16384
    assert.matches("APPROXIMATE LIMIT 16384$", core.sql("seekdb", "query", "c$v1$c", 1, "l2", q)[1])
    q.n_results = 10001
    assert.matches("at most 10000", select(2, core.sql("mariadb", "query", "c$v1$c", 1, "l2", q)))
  end)
end)
