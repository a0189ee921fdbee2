-- Every collection method of lua-seekdb, one after the other. The README's
-- examples are taken from this file, and the output it shows is this file's.
--
-- Run it against a server: export the SEEKDB_TEST_* variables of your server
-- (`eval "$(scripts/testdb env)"` for the scratch MariaDB), or rely on
-- seekdb.Client's defaults (127.0.0.1:2881, user root, database test), then
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="./?.so;;" lua5.4 examples/collection_api.lua
-- It drops and makes the collections articles, notes, plain, legacy, tuned,
-- py_style and articles_copy, and makes and drops the database
-- lseekdb_example.
local seekdb = require "seekdb"

---------------------------------------------------------------------------
-- show(v): prints a value as Lua. Keys are sorted (ids, documents,
-- metadatas, embeddings, distances first), floats have 4 significant digits,
-- SQL NULL prints as null.
---------------------------------------------------------------------------

local FIRST = { ids = 1, documents = 2, metadatas = 3, embeddings = 4, distances = 5 }

local function text(v)
  if v == seekdb.null then return "null" end
  if type(v) == "string" then return ("%q"):format(v) end
  if math.type(v) == "float" then return ("%.4g"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  if next(v) == nil then return "{}" end
  local parts = {}
  if #v > 0 then
    for i, x in ipairs(v) do parts[i] = text(x) end
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local fa, fb = FIRST[a] or 99, FIRST[b] or 99
      if fa ~= fb then return fa < fb end
      return tostring(a) < tostring(b)
    end)
    for i, k in ipairs(keys) do parts[i] = tostring(k) .. " = " .. text(v[k]) end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function show(v)
  if type(v) == "table" and #v == 0 and next(v) ~= nil then
    -- a result table: one line per field
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return (FIRST[a] or 99) < (FIRST[b] or 99) or
      ((FIRST[a] or 99) == (FIRST[b] or 99) and a < b) end)
    print("{")
    for _, k in ipairs(keys) do print(("  %s = %s,"):format(k, text(v[k]))) end
    print("}")
  else
    print(text(v))
  end
end

local function section(title)
  print()
  print("== " .. title)
end

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

---------------------------------------------------------------------------
-- Connecting
---------------------------------------------------------------------------

section("connect")
-- options for seekdb.Client (nil means seekdb.Client's default)
local options = {
  host = env("SEEKDB_TEST_HOST"),
  port = tonumber(env("SEEKDB_TEST_PORT")),
  user = env("SEEKDB_TEST_USER"),
  password = os.getenv("SEEKDB_TEST_PASSWORD"),
  database = env("SEEKDB_TEST_DATABASE"),
  socket = env("SEEKDB_TEST_SOCKET"),
}
local client = assert(seekdb.Client(options))
print(client:info().dialect)

local NAMES = { "articles", "notes", "plain", "legacy", "tuned", "py_style", "articles_copy" }
for _, name in ipairs(NAMES) do
  local exists, err = client:has_collection(name)
  assert(exists ~= nil, err)
  if exists then assert(client:delete_collection(name)) end
end

---------------------------------------------------------------------------
-- create_collection, add
---------------------------------------------------------------------------

section("create_collection")
local articles = assert(client:create_collection{
  name = "articles", dimension = 3, distance = "l2" })
print(articles)
print(articles.version, #articles.id, articles.embedding_chunk_size)

section("add")
assert(articles:add{
  ids = { "a1", "a2", "a3", "a4", "a5" },
  embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 1, 0 }, { 0.9, 0.1, 0 } },
  documents = {
    "Lua is a small embeddable scripting language",
    "MariaDB stores vectors next to relational data",
    "An HNSW index answers nearest neighbour queries",
    "Embedding Lua in a C program takes a few calls",
    "LuaJIT compiles Lua to machine code",
  },
  metadatas = {
    { topic = "lua", year = 2024, tags = { "language", "c" } },
    { topic = "db", year = 2023 },
    { topic = "db", year = 2025, tags = { "index" } },
    { topic = "lua", year = 2022, tags = { "c" } },
    { topic = "lua", year = 2021, draft = true },
  },
})
print(articles:count())

-- an id that is in the collection already: nothing is written
print(articles:add{ ids = { "a6", "a1" }, embeddings = { { 1, 2, 3 }, { 4, 5, 6 } } })
-- the same id twice in one call
print(articles:add{ ids = { "a6", "a6" }, embeddings = { { 1, 2, 3 }, { 4, 5, 6 } } })
-- no vectors and no embedding function
print(articles:add{ ids = "a6", documents = "no vector" })
print(articles:count())

---------------------------------------------------------------------------
-- upsert, update
---------------------------------------------------------------------------

section("upsert")
-- a6 is new (no document: NULL); a5 exists and keeps its document
assert(articles:upsert{
  ids = { "a6", "a5" },
  embeddings = { { 0, 0.5, 0.5 }, { 0.9, 0.1, 0 } },
  metadatas = { { topic = "db", year = 2020 }, { topic = "lua", year = 2021 } },
})
show(assert(articles:get{ ids = { "a5", "a6" } }))

section("update")
show(assert(articles:update{
  ids = { "a6", "a9" },
  documents = { "Filters run inside the database", "a9 is not there" },
  embeddings = { { 0, 0.6, 0.4 }, { 1, 1, 1 } },
}))
show(assert(articles:get{ ids = "a6" }))

---------------------------------------------------------------------------
-- get, count, peek
---------------------------------------------------------------------------

section("get")
-- rows in the order of the ids; ids that are not there are left out
show(assert(articles:get{ ids = { "a3", "zz", "a1" } }))
-- a filter, only the metadata, a page of the result
show(assert(articles:get{
  where = { topic = "lua" }, include = { "metadatas" }, limit = 2, offset = 1 }))
-- vectors come back with float32 precision
local r = assert(articles:get{ ids = "a5", include = { "embeddings" } })
print(r.embeddings[1][1], #r.embeddings[1])

section("count and peek")
print(articles:count())
show(assert(articles:peek(2)))

---------------------------------------------------------------------------
-- query
---------------------------------------------------------------------------

section("query")
-- one query vector: lists with one inner list, nearest first
show(assert(articles:query{ query_embeddings = { 1, 0.2, 0 }, n_results = 3 }))
-- two query vectors, a filter, only ids and distances
show(assert(articles:query{
  query_embeddings = { { 1, 0.1, 0 }, { 0, 0, 1 } },
  n_results = 2,
  where = { topic = "db" },
  include = { "distances" },
}))

---------------------------------------------------------------------------
-- hybrid_search
---------------------------------------------------------------------------

section("hybrid_search")
-- a full-text search and a vector search, their rankings fused (RRF):
-- rows that both find come first; distances are the fused scores
show(assert(articles:hybrid_search{
  query = { where_document = { ["$contains"] = "Lua" } },
  knn = { query_embeddings = { 0, 0.9, 0.3 } },
  n_results = 3,
}))
-- each side with its own filter, pyseekdb's rank (its defaults), ids and scores
show(assert(articles:hybrid_search{
  query = { where_document = { ["$contains"] = "vectors index" }, where = { topic = "db" } },
  knn = { query_embeddings = { 1, 0.1, 0 }, where = { year = { ["$gte"] = 2022 } }, n_results = 2 },
  rank = { rrf = { rank_window_size = 60, rank_constant = 60 } },
  include = { "distances" },
}))

---------------------------------------------------------------------------
-- filters
---------------------------------------------------------------------------

section("where")
local function ids(args) -- the sorted ids that get returns for a filter
  args.include = {}
  local res = assert(articles:get(args))
  table.sort(res.ids)
  return "[" .. table.concat(res.ids, " ") .. "]"
end
print(ids{ where = { topic = "lua" } })
print(ids{ where = { tags = "c" } })                          -- array metadata
print(ids{ where = { year = { ["$gte"] = 2023, ["$lt"] = 2025 } } })
print(ids{ where = { topic = { ["$in"] = { "db", "misc" } } } })
print(ids{ where = { topic = { ["$in"] = {} } } })
print(ids{ where = { ["$or"] = { { year = 2020 }, { tags = "index" } } } })
print(ids{ where = { topic = "lua", year = { ["$ne"] = 2024 } } })
print(ids{ where = { ["$not"] = { year = { ["$gte"] = 2023 } } } })
print(ids{ where = { tags = { ["$ne"] = "c" } } })            -- rows without tags: no
print(ids{ where = { tags = { ["$nin"] = { "index" } } } })   -- nor here

section("where_document")
print(ids{ where_document = { ["$contains"] = "lua" } })
print(ids{ where_document = { ["$contains"] = "vectors index" } })
print(ids{ where_document = { ["$contains"] = "C" } })        -- too short to be indexed
print(ids{ where_document = { ["$regex"] = "^lua" } })
print(ids{ where_document = { ["$not_regex"] = "lua|hnsw" } })
print(ids{ where = { topic = "lua" },
  where_document = { ["$and"] = { { ["$contains"] = "Lua" }, { ["$not_contains"] = "LuaJIT" } } } })

section("malformed filters")
print(pcall(articles.get, articles, { where = { year = { ["$gtt"] = 2000 } } }))
print(pcall(articles.get, articles, { where = { ["$or"] = { { topic = "db" }, { year = { ["$in"] = 2020 } } } } }))

---------------------------------------------------------------------------
-- delete
---------------------------------------------------------------------------

section("delete")
print(articles:delete{ ids = { "a6", "nope" } })
print(articles:delete{ where = { year = { ["$lt"] = 2023 } } })
print(articles:delete{ ids = { "a1", "a2" }, where_document = { ["$contains"] = "MariaDB" } })
print(pcall(articles.delete, articles, {}))
print(articles:count())

---------------------------------------------------------------------------
-- Embedding functions
---------------------------------------------------------------------------

section("embedding functions")
-- A factory gets the properties stored with the collection and returns an
-- embedding function: a list of documents in, one vector per document out.
-- This one hashes each word (FNV-1a) to one of `dim` numbers and counts it.
local function hashing(properties)
  local dim = properties.dim or 8
  return function(documents)
    local vectors = {}
    for i, doc in ipairs(documents) do
      local v = {}
      for j = 1, dim do v[j] = 0 end
      for word in doc:lower():gmatch("%w+") do
        local h = 2166136261
        for k = 1, #word do h = ((h ~ word:byte(k)) * 16777619) & 0xffffffff end
        v[h % dim + 1] = v[h % dim + 1] + 1
      end
      vectors[i] = v
    end
    return vectors
  end
end
seekdb.register_embedding_function("hashing", hashing)

local notes = assert(client:create_collection{
  name = "notes",
  embedding_function = "hashing",
  embedding_function_properties = { dim = 16 },
})
print(notes.dimension, notes.distance)
print(assert(client:query("SELECT settings FROM sdk_collections WHERE collection_name = 'notes'"))[1].settings)

assert(notes:add{
  ids = { "n1", "n2", "n3" },
  documents = { "buy milk and bread", "vector index tuning notes", "read the MariaDB vector docs" },
})

-- update re-embeds documents given without embeddings
local before = assert(notes:get{ ids = "n1", include = { "embeddings" } }).embeddings[1]
show(assert(notes:update{ ids = "n1", documents = "buy oat milk and rye bread" }))
local after = assert(notes:get{ ids = "n1", include = { "embeddings" } }).embeddings[1]
print(table.concat(before, " ") ~= table.concat(after, " "))

-- another client: the stored name and properties bring the function back
local other = assert(seekdb.Client(options))
local again = assert(other:get_collection("notes"))
show(assert(again:query{ query_texts = "vector docs", n_results = 2, include = { "documents" } }))
-- knn.query_texts go through the collection's embedding function too
show(assert(again:hybrid_search{ query = { where_document = { ["$contains"] = "milk" } },
  knn = { query_texts = "vector docs" }, n_results = 2, include = { "documents" } }))
-- a different function for a collection that has one stored is an error
print(other:get_collection("notes", { embedding_function = function() end }))

-- a stored name that is not registered fails only when it is needed
seekdb.register_embedding_function("hashing", nil)
local orphan = assert(other:get_collection("notes"))
print(orphan:count())
print(orphan:query{ query_texts = "milk" })
seekdb.register_embedding_function("hashing", hashing)
other:close()

-- a plain function is used, but not stored: give it again to get_collection
assert(client:create_collection{ name = "plain", embedding_function = hashing{ dim = 4 } })
print(assert(client:query("SELECT settings FROM sdk_collections WHERE collection_name = 'plain'"))[1].settings)
print(client:get_collection("plain").embedding_function)
print(client:get_collection("plain", { embedding_function = hashing{ dim = 4 } }).dimension)

---------------------------------------------------------------------------
-- v1 and v2 collections
---------------------------------------------------------------------------

section("v1 and v2 collections")
assert(client:create_collection{ name = "legacy", dimension = 2, version = 1 })
for _, c in ipairs(assert(client:list_collections())) do
  print(c.name, c.version, c.dimension, c.distance)
end
for _, row in ipairs(assert(client:query("SHOW TABLES"))) do
  local name = select(2, next(row))
  print((name:gsub(("%x"):rep(32), "<32 hex digits>")))
end

-- get_or_create_collection: here the collection exists, so it is opened
local same = assert(client:get_or_create_collection{ name = "articles", dimension = 3, distance = "l2" })
print(same.id == articles.id, same:count())

print(client:count_collection())

---------------------------------------------------------------------------
-- Configuration, describe
---------------------------------------------------------------------------

section("configuration")
-- the indexes' options; on MariaDB: m (the HNSW graph's M) and ef_search
-- (applied to the collection's queries)
local tuned = assert(client:create_collection{
  name = "tuned",
  configuration = { dimension = 3, distance = "l2", hnsw = { m = 12, ef_search = 100 } },
})
local about = tuned:describe()
about.id = nil -- 32 random hex digits
show(about)
print(assert(client:query("SELECT settings FROM sdk_collections WHERE collection_name = 'tuned'"))[1].settings)
-- pyseekdb's spelling
local py_style = assert(client:create_collection{
  name = "py_style", configuration = seekdb.HNSWConfiguration(3, "cosine") })
print(py_style.dimension, py_style.distance)
-- the same dimension at both levels is fine, two different ones raise
print(pcall(client.create_collection, client, { name = "x", dimension = 3,
  configuration = { dimension = 4 } }))
if client:info().dialect == "mariadb" then
  -- what MariaDB cannot honour is refused before any SQL
  print(client:create_collection{ name = "x", configuration = { hnsw = { ef_construction = 200 } } })
  print(client:create_collection{ name = "x",
    configuration = seekdb.Configuration{ fulltext_config = seekdb.FulltextIndexConfig("ngram") } })
end

---------------------------------------------------------------------------
-- fork, refresh_index, n_results
---------------------------------------------------------------------------

section("fork")
local copy = assert(articles:fork("articles_copy"))
print(copy.name, copy.dimension, copy.distance, copy:count(), articles:count())
assert(copy:delete{ ids = "a3" })
print(copy:count(), articles:count())
-- a name that is taken: nothing is made
print(articles:fork{ name = "notes" })

section("refresh_index")
-- seekdb 1.3.0+ builds its HNSW index in the background: wait for it
-- before querying rows just written. MariaDB has nothing to wait for.
assert(articles:upsert{ ids = "a7", embeddings = { 5, 5, 5 } })
print(articles:refresh_index())
print(articles:query{ query_embeddings = { 5, 5, 4 }, n_results = 1, include = {} }.ids[1][1])

section("n_results")
print(articles:query{ query_embeddings = { 1, 0, 0 }, n_results = 20000 })

---------------------------------------------------------------------------
-- Databases
---------------------------------------------------------------------------

section("databases")
-- AdminClient: Client's options; it connects to information_schema
local admin_options = {}
for k, v in pairs(options) do admin_options[k] = v end
admin_options.database = nil
local admin = assert(seekdb.AdminClient(admin_options))
assert(admin:create_database("lseekdb_example"))
local db = assert(admin:get_database("lseekdb_example"))
print(db, db.name, db.charset)
-- sorted by name; limit and offset page through them
print(#assert(admin:list_databases{ limit = 2, offset = 1 }))
print(admin:get_database("lseekdb-example"))
assert(admin:delete_database("lseekdb_example"))
print(admin:get_database("lseekdb_example"))
admin:close()
-- a Client has the same four methods
print(client:get_database(options.database or "test").name == (options.database or "test"))

---------------------------------------------------------------------------
-- Cleaning up
---------------------------------------------------------------------------

section("clean up")
for _, name in ipairs(NAMES) do
  assert(client:delete_collection(name))
end
print(#assert(client:list_collections()))
client:close()
