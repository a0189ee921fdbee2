--- lua-seekdb: the seekdb collection API for Lua 5.4 and LuaJIT.
--
-- @{Client} connects to seekdb, OceanBase 4.3.5+ or MariaDB 11.7+. Its
-- collections (@{Collection}) hold rows of an id, a document, a metadata
-- table and a vector, with pyseekdb's methods and on-server tables:
-- @{Collection:upsert}, @{Collection:add}, @{Collection:update},
-- @{Collection:delete}, @{Collection:get}, @{Collection:query} (nearest
-- vectors), @{Collection:hybrid_search}, filtered by @{where} and
-- @{where_document}.
--
-- **Return values** follow lua-resty-mysql: a result (or `true`) on success,
-- `nil, errmsg, errno, sqlstate` on a runtime failure (`errmsg` always a
-- string; `errno` and `sqlstate` where the server or Connector/C gave them).
-- So `assert(...)` works around every call, `has_collection`'s `false` aside.
-- A wrong argument (a wrong type, an unknown option, a malformed filter)
-- raises.
--
-- **The examples** (Usage) are programs that start with two names given:
--
--     local seekdb = require "seekdb"
--     -- host, port, user, password and database from SEEKDB_HOST,
--     -- SEEKDB_PORT, SEEKDB_USER, SEEKDB_PASSWORD, SEEKDB_DATABASE
--     local client = assert(seekdb.Client())
--
-- `make test` runs each of them in a process and a database of its own
-- against the test server (spec/23-docs_spec.lua), and checks that each
-- `print` shows what its `-->` comment says (`...` stands for any text).
--
-- The C core (`seekdb.core`) does the work: connections, argument checks,
-- SQL, batching, transactions, decoding rows, calling embedding functions.
-- This module is the readable face over it: @{Client}, @{Collection}, their
-- defaults, and the registry of named embedding functions. The README has
-- the longer story (servers and dialects, writes, timeouts, TLS, hosts).
-- @module seekdb
-- @usage
-- local fruits = assert(client:create_collection{ name = "fruits", dimension = 3 })
-- assert(fruits:upsert{
--   ids = { "apple", "banana", "cherry" },
--   embeddings = { { 1, 0, 0 }, { 0.8, 0.6, 0 }, { 0.9, 0, 0.4 } },
--   documents = { "red and crunchy", "yellow and soft", "small and dark red" },
--   metadatas = { { color = "red" }, { color = "yellow" }, { color = "red" } },
-- })
-- local near = assert(fruits:query{ query_embeddings = { 1, 0.1, 0 }, n_results = 2,
--   where = { color = "red" } })
-- print(near.ids[1][1], near.ids[1][2])   --> apple  cherry
-- print(near.documents[1][1])             --> red and crunchy
-- assert(client:delete_collection("fruits"))

local core = require "seekdb.core"
local loop = require "seekdb.loop"
local localserver = require "seekdb.localserver"

local seekdb = {
  --- The version of lua-seekdb (`"0.3.0"`): the C core's, which the
  -- versioned rockspec matches.
  _VERSION = core._VERSION,
  --- Stands for SQL NULL inside lists and results (a light userdata NULL:
  -- it equals lua-cjson's `cjson.null`, so decoded JSON can be passed
  -- straight in). `get` and `query` give it where the server has NULL.
  -- @usage
  -- local col = assert(client:create_collection{ name = "notes", dimension = 2 })
  -- assert(col:upsert{ ids = { "n1", "n2" }, embeddings = { { 1, 0 }, { 0, 1 } },
  --   documents = { "first", seekdb.null } })
  -- local rows = assert(col:get{ ids = { "n1", "n2" } })
  -- print(rows.documents[2] == seekdb.null)   --> true
  -- print(rows.metadatas[1] == seekdb.null)   --> true
  null = core.null,
}

--- Readable text of a value, as Lua: keys in order, `null` for
-- @{null}, long vectors shortened, clients and collections as they print.
-- It is also how results of `get` and `query` print (`tostring`).
-- @function pretty
-- @param value any value
-- @treturn string
-- @usage
-- print(seekdb.pretty{ b = 2, a = { 1, 2 }, c = seekdb.null })   --> { a = { 1, 2 }, b = 2, c = null }
-- print(seekdb.pretty{ 0.5, 1, 2, 3, 4, 5, 6, 7 })   --> { 0.5, 1, 2, 3, 4, 5, ... (8 numbers) }
seekdb.pretty = require "seekdb.pretty"

--- Seconds of a monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`): wall
-- time, where `os.clock` is the process's CPU time. For timing frames and
-- calls (examples/game_loop.lua).
-- @function now
-- @treturn number seconds since an arbitrary start
-- @usage
-- local started = seekdb.now()
-- assert(client:query("SELECT SLEEP(0.05)"))
-- print(seekdb.now() - started >= 0.05)   --> true
seekdb.now = core.now

--- A vector as float32s in C memory, accepted wherever a vector is (and
-- returned by get, query, peek and hybrid_search with `vectors = "vector"`,
-- or every read with the client option `vectors = "vector"`): no Lua table
-- per vector. Made from float32 little-endian bytes (a string whose length
-- is a multiple of 4), a list of numbers, or a vector (returned as it is);
-- `dim`, when given, must match. `#v` is the dimension, `v[i]` item `i`
-- (nil outside 1..#v), `v:bytes()` the float32 little-endian bytes,
-- `v:table()` a new list of numbers, `v:pointer()` the floats' address (a
-- light userdata: under LuaJIT `ffi.cast("const float *", v:pointer())`
-- reads them in place while `v` is alive; do not write through it). Two
-- vectors are `==` when their numbers are. A wrong type, a byte length that
-- is not a multiple of 4, 0 or more than 65,535 numbers raise; NaN,
-- infinity, a number too large for a float32 or a dimension other than
-- `dim` return `nil, errmsg`.
-- @function vector
-- @tparam string|{number,...}|vector bytes_or_table
-- @tparam[opt] integer dim the dimension it must have
-- @treturn[1] vector
-- @return[2] `nil, errmsg`
-- @usage
-- local v = assert(seekdb.vector{ 0.5, 0.25, 1.5 })
-- print(#v, v[1], v[3])   --> 3  0.5  1.5
-- local bytes = v:bytes()   -- float32 little-endian, as a model or a file gives them
-- print(#bytes, seekdb.vector(bytes) == v)   --> 12  true
-- print(seekdb.vector(bytes:sub(1, 4) .. "\0\0\128\127"))   --> nil  seekdb.vector: bytes has an item that is NaN or infinite (float32 2, bytes 5..8)
seekdb.vector = core.vector

--- Waits in place for some seconds (0 to 3600): the blocking form's pause.
-- It blocks a loop; under one, sleep the loop's way.
-- @function sleep
-- @tparam number seconds
seekdb.sleep = core.sleep

--- The metadata filter of @{Collection:get}, @{Collection:query},
-- @{Collection:delete} and @{Collection:hybrid_search} (`where = ...`),
-- pyseekdb's operators. In Lua an operator is a string key: `["$gt"]`.
--
-- | filter | matches rows whose metadata... |
-- |---|---|
-- | `{ k = v }` | has `v` at the key `k` (an implicit `$eq`) |
-- | `{ k = { ["$eq"] = v } }` | has `v` at `k` (a JSON array at `k` matches when one of its items does) |
-- | `{ k = { ["$ne"] = v } }` | has a value other than `v` at `k` |
-- | `{ k = { ["$in"] = { v1, v2 } } }` | has one of the values at `k` (`{}`: matches nothing) |
-- | `{ k = { ["$nin"] = { v1, v2 } } }` | has none of the values at `k` (`{}`: matches everything) |
-- | `{ k = { ["$gt"] = x } }` | has a value greater than `x` (a number or a string) |
-- | `{ k = { ["$gte"] = x } }`, `["$lt"]`, `["$lte"]` | greater or equal, less, less or equal |
-- | `{ k = { ["$gte"] = 1, ["$lt"] = 5 } }` | every operator given for the key |
-- | `{ k1 = v1, k2 = v2 }` | every key |
-- | `{ ["$and"] = { f1, f2 } }` | every filter of the list |
-- | `{ ["$or"] = { f1, f2 } }` | any filter of the list |
-- | `{ ["$not"] = f }` | not the filter `f` |
--
-- The values of `$eq`, `$ne`, `$in` and `$nin` are strings, numbers,
-- booleans or @{null} (JSON null). A key is one key, never a path
-- (`["a.b"]` is the key `a.b`). A key that a row's metadata lacks is SQL
-- NULL there: `$ne`, `$nin` and `$not` do not match such rows, as
-- `$eq` does not (pyseekdb's behaviour). `where = {}` is no filter. An
-- unknown operator, a value of the wrong type, an empty `$and`/`$or` list
-- or nesting deeper than 32 levels raises, naming the place
-- (`where.year.$gtt is an unknown operator ...`). The filter becomes SQL in
-- C, every text in it a hex literal (README: Filters).
-- @table where
-- @usage
-- local books = assert(client:create_collection{ name = "books", dimension = 2 })
-- assert(books:add{ ids = { "b1", "b2", "b3" }, embeddings = { { 1, 0 }, { 0, 1 }, { 1, 1 } },
--   metadatas = { { genre = "sf", year = 1965, tags = { "classic", "desert" } },
--                 { genre = "crime", year = 2005 }, { genre = "sf", year = 2011 } } })
-- local function ids(where) -- the sorted ids of the rows that match
--   local r = assert(books:get{ where = where, include = {} })
--   table.sort(r.ids)
--   return table.concat(r.ids, " ")
-- end
-- print(ids{ genre = "sf" })                                        --> b1 b3
-- print(ids{ tags = "classic" })                                    --> b1
-- print(ids{ year = { ["$gte"] = 2000, ["$lt"] = 2010 } })          --> b2
-- print(ids{ genre = { ["$in"] = { "crime", "poetry" } } })         --> b2
-- print(ids{ genre = { ["$nin"] = { "crime" } } })                  --> b1 b3
-- print(ids{ ["$or"] = { { year = 1965 }, { genre = "crime" } } })  --> b1 b2
-- print(ids{ ["$not"] = { genre = "sf" } })                         --> b2
-- print(pcall(books.get, books, { where = { year = { ["$gtt"] = 1 } } }))   --> false  ...unknown operator...

--- The document filter of @{Collection:get}, @{Collection:query} and
-- @{Collection:delete} (`where_document = ...`; @{Collection:hybrid_search}
-- takes `$contains`, `$not_contains`, `$and` and `$or`).
--
-- | filter | matches rows whose document... |
-- |---|---|
-- | `{ ["$contains"] = s }` | contains the words of `s`: a full-text match through the collection's FULLTEXT index, words and not substrings (on MariaDB: words of 3 letters or more, stop words left out, any case; several words: any of them) |
-- | `{ ["$not_contains"] = s }` | does not |
-- | `{ ["$regex"] = re }` | matches the regular expression (the server's `REGEXP`; case-insensitive on MariaDB) |
-- | `{ ["$not_regex"] = re }` | does not |
-- | `{ ["$and"] = { f1, f2 } }` | every filter of the list |
-- | `{ ["$or"] = { f1, f2 } }` | any filter of the list |
--
-- Several keys at one level must all match. A row whose document is NULL
-- matches neither `$contains` nor `$regex`. A regular expression that runs
-- into the server's limits fails the call (errno 1139) rather than leave
-- rows out.
-- @table where_document
-- @usage
-- local notes = assert(client:create_collection{ name = "notes", dimension = 2 })
-- assert(notes:add{ ids = { "n1", "n2", "n3" }, embeddings = { { 1, 0 }, { 0, 1 }, { 1, 1 } },
--   documents = { "Lua tables are maps", "vectors live in MariaDB", "LuaJIT traces loops" } })
-- local function ids(where_document)
--   local r = assert(notes:get{ where_document = where_document, include = {} })
--   table.sort(r.ids)
--   return table.concat(r.ids, " ")
-- end
-- print(ids{ ["$contains"] = "tables" })                   --> n1
-- print(ids{ ["$regex"] = "^lua" })                        --> n1 n3
-- print(ids{ ["$not_regex"] = "^lua" })                    --> n2
-- print(ids{ ["$and"] = { { ["$regex"] = "^lua" }, { ["$not_contains"] = "tables" } } })   --> n3

--- What @{Collection:get} and @{Collection:peek} return: one list per
-- included field, whose i-th item is the i-th row's. SQL NULL is
-- @{null}. It prints readably (@{pretty}).
-- @table GetResult
-- @tfield {string,...} ids the ids (always there)
-- @tfield {string|null,...} documents the documents (included by default)
-- @tfield {table|null,...} metadatas the metadata, decoded from JSON (included by default)
-- @tfield {{number,...},...} embeddings the vectors, with float32 precision (`include = {"embeddings"}`)

--- What @{Collection:query} and @{Collection:hybrid_search} return: the
-- fields of a @{GetResult}, each a list with one inner list per query
-- vector or text, in their order; rows nearest first. `ids[q][k]` is the
-- id of the k-th nearest row of query q. It prints readably.
-- @table QueryResult
-- @tfield {{string,...},...} ids the ids
-- @tfield {{number,...},...} distances the collection's distance (included by default): `l2`
-- (euclidean), `cosine` (1 - cosine similarity) or `inner_product` (the product itself: larger
-- is nearer, and rows come largest first). hybrid_search: the fused scores, larger is better.
-- @tfield {{string|null,...},...} documents the documents (included by default)
-- @tfield {{table|null,...},...} metadatas the metadata (included by default)
-- @tfield {{{number,...},...},...} embeddings the vectors (`include = {"embeddings"}`)

--- What @{Collection:update} returns.
-- @table UpdateResult
-- @tfield integer updated how many ids were written
-- @tfield {string,...} missing the ids given that are not in the collection (each once, in
-- the order given): not written, where pyseekdb says nothing

--- What @{Client:info} returns: what the client is connected to.
-- @table Info
-- @tfield string dialect `"seekdb"` (seekdb, OceanBase) or `"mariadb"`
-- @tfield string version the server's `SELECT VERSION()`
-- @tfield integer max_packet the largest statement sent, in bytes
-- @tfield number timeout seconds a call may take (0: no limit)
-- @tfield string|false tls the TLS version negotiated (`"TLSv1.3"`), or `false`
-- @tfield string tls_cipher the cipher negotiated (with TLS only)

--- The index configuration of a collection, as @{Collection:describe} and
-- `collection.configuration` give it, and the table form that
-- @{Client:create_collection} takes as `configuration` (or pyseekdb's
-- @{HNSWConfiguration} and @{Configuration}).
-- @table IndexConfiguration
-- @tfield integer dimension the vectors' dimension
-- @tfield string distance `"cosine"`, `"l2"` or `"inner_product"` (not on MariaDB)
-- @tfield table hnsw the vector index: `m` (neighbours per node; `M` too), `ef_construction`,
-- `ef_search` (candidates per search; on MariaDB at most 10,000), each an integer or nil
-- @tfield table fulltext the full-text index (seekdb): `parser` (`"ik"`, `"space"`,
-- `"ngram"`...) and `properties` (`{ngram_token_size = 2}`), or nil

--- What @{Collection:describe} returns (pyseekdb's and the JS SDK's
-- describe, with the configuration). A copy: changing it changes nothing.
-- @table Description
-- @tfield string name
-- @tfield string|nil id the 32 hex digits of a v2 collection's id in `sdk_collections`
-- @tfield integer version 1 (the table `c$v1$<name>`) or 2 (`c$v2$<id>`, listed in `sdk_collections`)
-- @tfield integer dimension
-- @tfield string distance
-- @tfield IndexConfiguration configuration
-- @tfield string|nil embedding_function the registered name of its embedding function (nil
-- for none, or for a plain function)

--- A database, as @{Client:get_database} and @{Client:list_databases} give
-- it (pyseekdb's Database). It prints as its name; two are equal when
-- their names and tenants are.
-- @table Database
-- @tfield string name
-- @tfield string charset
-- @tfield string collation
-- @tfield string|nil tenant the client's `tenant` option

-- Results of get, query and peek print readably; they are plain tables
-- otherwise (cjson.encode and table functions see nothing special).
local Result = { __name = "seekdb.Result", __tostring = seekdb.pretty }

local function result(r, ...)
  if type(r) == "table" then setmetatable(r, Result) end
  return r, ...
end

local DEFAULT_DIMENSION = 384 -- pyseekdb's default (all-MiniLM-L6-v2)
local DEFAULT_DISTANCE = "cosine"
local DEFAULT_CHUNK = 128
local SETTINGS_VERSION = 2 -- what pyseekdb writes in sdk_collections.settings

local function argerror(n, fname, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), (level or 1) + 1)
end

-- Methods called with '.' instead of ':' get self wrong: say so.
local function check_self(self, class, fname)
  if getmetatable(self) ~= class then
    error(("bad argument #1 to '%s' (%s expected, got %s: call it as x:%s(...))"):format(fname,
      class.__name, type(self), fname), 3)
  end
end

local function check_opts(opts, n, fname)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(n, fname, "table expected, got " .. type(opts), 3)
  end
end

-- Raises for a key of opts that is not in the list (level: the caller's
-- caller, or `level` levels above check_keys' caller; `what`: what takes
-- the options, fname by default).
local function check_keys(opts, list, n, fname, hint, level, what)
  local known = {}
  for _, k in ipairs(list) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] then
      local extra = hint and hint[k] or ""
      argerror(n, fname, ("unknown option '%s'%s: %s takes %s"):format(tostring(k), extra, what or fname,
        table.concat(list, ", ")), level or 3)
    end
  end
end

local function check_chunk(size, fname)
  if size ~= nil and (math.type and math.type(size) ~= "integer" or type(size) ~= "number"
      or size < 1 or size % 1 ~= 0) then
    argerror(1, fname, "embedding_chunk_size must be an integer of at least 1", 3)
  end
end

local function callable(f)
  return type(f) == "function" or (type(f) == "table" and (getmetatable(f) or {}).__call ~= nil)
end

-- Every method goes through here: the C core's blocking form, or a call
-- driven by the client's loop (seekdb.loop). A method that may call an
-- embedding function is driven from Lua even in the blocking form, so that
-- the function may yield when the caller runs in a coroutine.
local plain = loop.blocking()

local function run(client, method, ...)
  local conn, driver = client._conn, client._driver
  if driver then return driver.run(conn:start(method, ...)) end
  return conn[method](conn, ...)
end

local function run_ef(client, ef, method, ...)
  local conn, driver = client._conn, client._driver
  if driver then return driver.run(conn:start(method, ...)) end
  if ef ~= nil then return plain.run(conn:start_plain(method, ...)) end
  return conn[method](conn, ...)
end

-- -------------------------------------------------------------------------
-- Embedding functions
-- -------------------------------------------------------------------------

local registry = {}

--- Registers an embedding function factory under a name. A collection can
-- then be given `embedding_function = "name"` (with optional
-- `embedding_function_properties`): the factory is called with those
-- properties and returns the embedding function, which receives a list of
-- documents and returns one vector (a list of numbers) per document. The
-- name and properties are stored with a v2 collection, so
-- @{Client:get_collection} attaches the function again by itself (in any
-- program that registered the name). Embedding functions are called from
-- Lua: they may yield (an HTTP client of the program's loop).
-- @tparam string name the name stored with collections
-- @tparam function|nil factory `function(properties) return embedding_function end`;
-- nil removes the name
-- @raise when `name` is not a string or `factory` not callable
-- @usage
-- -- a toy factory: each letter's code is a coordinate (a real one calls a model)
-- seekdb.register_embedding_function("letters", function(properties)
--   local width = properties.dimension or 3
--   return function(documents)
--     local vectors = {}
--     for i, doc in ipairs(documents) do
--       local v = {}
--       for k = 1, width do v[k] = (doc:byte(k) or 0) / 255 end
--       vectors[i] = v
--     end
--     return vectors
--   end
-- end)
-- local notes = assert(client:create_collection{ name = "notes",
--   embedding_function = "letters", embedding_function_properties = { dimension = 4 } })
-- print(notes.dimension)   --> 4
-- assert(notes:upsert{ ids = { "n1", "n2" }, documents = { "apples", "pears" } })
-- -- the name is stored: the function comes back by itself
-- local again = assert(client:get_collection("notes"))
-- print(again:describe().embedding_function)   --> letters
-- print(assert(again:query{ query_texts = "apple", n_results = 1 }).ids[1][1])   --> n1
function seekdb.register_embedding_function(name, factory)
  if type(name) ~= "string" then
    argerror(1, "register_embedding_function", "string expected, got " .. type(name), 2)
  end
  if factory ~= nil and not callable(factory) then
    argerror(2, "register_embedding_function", "function expected, got " .. type(factory), 2)
  end
  registry[name] = factory
end

-- The embedding function a registered name stands for.
local function from_registry(name, properties, fname)
  local factory = registry[name]
  if not factory then
    argerror(1, fname, ("no embedding function registered as '%s': call "
      .. "seekdb.register_embedding_function first"):format(name), 4)
  end
  local ef = factory(properties or {})
  if not callable(ef) then
    error(("the factory of embedding function '%s' returned %s, not a function"):format(name, type(ef)), 4)
  end
  return ef
end

-- A persisted function whose name nobody registered: fails with a message
-- that says how to fix it, when (and only when) it is needed.
local function unregistered(name)
  return function()
    error(("the collection's embedding function '%s' is not registered: call "
      .. "seekdb.register_embedding_function('%s', factory)"):format(name, name), 0)
  end
end

-- -------------------------------------------------------------------------
-- Collection
-- -------------------------------------------------------------------------

--- A collection: rows of an id, a document, a metadata table and a vector,
-- in one table of the server. Made by @{Client:create_collection},
-- @{Client:get_collection}, @{Client:get_or_create_collection},
-- @{Client:list_collections} and @{Collection:fork}; it keeps its client
-- alive, and prints as `seekdb collection 'name' (dimension 3, l2 distance)`.
-- Its methods return `nil, errmsg, errno, sqlstate` on a runtime failure.
-- @type Collection
-- @tfield string name
-- @tfield integer dimension the vectors' dimension
-- @tfield string distance `"cosine"`, `"l2"` or `"inner_product"`
-- @tfield string|nil id the 32 hex digits of a v2 collection's id in `sdk_collections` (nil for v1)
-- @tfield integer version 1 or 2 (pyseekdb's two table layouts)
-- @tfield IndexConfiguration configuration its index configuration
-- @tfield function|nil embedding_function turns documents into vectors
-- @tfield integer embedding_chunk_size documents per call of the embedding function (128)
-- @tfield Client client the client it was made through
local Collection = { __name = "seekdb.Collection" }
Collection.__index = Collection

local function integer_in(v, lo, hi)
  return type(v) == "number" and v % 1 == 0 and v >= lo and v <= hi and v or nil
end

-- The configuration of a collection as its catalog settings and its table
-- say: `{dimension =, distance =, hnsw = {m =, ef_construction =,
-- ef_search =}, fulltext = {parser =, properties =}}`. Read from what this
-- module (and the JS SDK's legacy form) stores, `settings.configuration =
-- {hnsw = {...}, fulltextConfig = {analyzer =, properties =}}`, or from the
-- JS SDK 1.4's `settings.schema = {vectorIndex = {hnsw = {...}},
-- fulltextIndex = {analyzer =, properties =}}`. Dimension and distance are
-- always the table's (both SDKs read them there).
local function configuration_of(desc)
  local st = type(desc.settings) == "table" and desc.settings or {}
  local hnsw, ft
  local c = st.configuration
  if type(c) == "table" then
    if type(c.hnsw) == "table" then hnsw = c.hnsw
    elseif c.dimension ~= nil or c.m ~= nil or c.M ~= nil then hnsw = c end -- the JS SDK's HNSW-shaped form
    ft = type(c.fulltextConfig) == "table" and c.fulltextConfig or nil
  end
  local schema = st.schema
  if type(schema) == "table" then
    if not hnsw and type(schema.vectorIndex) == "table" and type(schema.vectorIndex.hnsw) == "table" then
      hnsw = schema.vectorIndex.hnsw
    end
    if not ft and type(schema.fulltextIndex) == "table" then ft = schema.fulltextIndex end
  end
  hnsw = hnsw or {}
  local conf = { dimension = desc.dimension, distance = desc.distance, hnsw = {
    m = integer_in(hnsw.m or hnsw.M, 1, 10000),
    ef_construction = integer_in(hnsw.ef_construction, 1, 100000),
    ef_search = integer_in(hnsw.ef_search, 1, 100000),
  } }
  if ft then
    local parser = ft.analyzer or ft.parser
    conf.fulltext = { parser = type(parser) == "string" and parser or nil,
      properties = type(ft.properties) == "table" and ft.properties or nil }
  end
  return conf
end

local function new_collection(client, desc, ef, chunk, ef_name)
  local configuration = configuration_of(desc)
  return setmetatable({
    client = client, -- keeps the connection alive as long as the collection
    name = desc.name,
    dimension = desc.dimension,
    distance = desc.distance,
    id = desc.id,           -- v2 collections: the id in sdk_collections
    version = desc.version, -- 1: table c$v1$<name>; 2: c$v2$<id>
    configuration = configuration,
    embedding_function = ef,
    embedding_chunk_size = chunk or DEFAULT_CHUNK,
    _table = desc.table,
    _settings = desc.settings,
    _ef_name = ef_name,
    -- MariaDB's ef_search is per statement (mhnsw_ef_search), at most 10,000
    _ef_search = integer_in(configuration.hnsw.ef_search, 1, 10000),
  }, Collection)
end

-- A collection object whose fields are all there, to be filled in when the
-- server has made the collection: nothing is allocated from then on (a
-- memory error then would report a failure for a collection that was made).
local PENDING = { name = false, dimension = false, distance = false, id = false, version = false, table = false }

local function fill_collection(col, desc)
  col.name, col.dimension, col.distance, col.id, col.version, col._table =
    desc.name, desc.dimension, desc.distance, desc.id, desc.version, desc.table
  return col
end

function Collection:__tostring()
  return ("seekdb collection '%s' (dimension %d, %s distance%s)"):format(self.name, self.dimension,
    self.distance, self.embedding_function and ", with an embedding function" or "")
end

--- Inserts new ids and updates existing ones, in one transaction (pyseekdb's
-- upsert). An existing id changes in the given fields only (a field is
-- replaced whole: metadata is not merged); a new id gets NULL where a field
-- is not given (on MariaDB a new id needs a vector). Each list has one item
-- per id; @{null} in a list stands for NULL; of an id given twice, the last
-- wins. Documents given without embeddings go through the collection's
-- embedding function. All or nothing: any failure writes nothing. Rows are
-- batched (MariaDB's bulk protocol, or multi-row SQL), never a statement
-- per row (README: Writes).
-- @tparam table args
-- @tparam string|{string,...} args.ids one id or a list of ids (non-empty strings of at most
-- 512 bytes, 254 on MariaDB)
-- @tparam[opt] {number,...}|{{number,...},...} args.embeddings one vector or one per id, of the
-- collection's dimension, finite numbers; a vector is a list of numbers or a @{vector}
-- @tparam[opt] string|{string|null,...} args.documents one document or one per id (UTF-8)
-- @tparam[opt] table|{table|null,...} args.metadatas one metadata table or one per id (string
-- keys; encoded as JSON: integers stay integers, a list becomes an array)
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument (a wrong type, an unknown field)
-- @usage
-- local fruits = assert(client:create_collection{ name = "fruits", dimension = 3 })
-- assert(fruits:upsert{
--   ids = { "apple", "pear" },
--   embeddings = { { 1, 0, 0 }, { 0, 1, 0 } },
--   documents = { "red and crunchy", "green and soft" },
--   metadatas = { { color = "red" }, { color = "green", price = 2 } },
-- })
-- -- pear exists: only its vector changes; plum is new, without a document
-- assert(fruits:upsert{ ids = { "pear", "plum" }, embeddings = { { 0, 1, 0.1 }, { 0, 0, 1 } } })
-- local rows = assert(fruits:get{ ids = { "pear", "plum" } })
-- print(rows.documents[1], rows.documents[2] == seekdb.null)   --> green and soft  true
-- print(rows.metadatas[1].price)   --> 2
-- -- a vector of the wrong dimension: nothing is written
-- print(fruits:upsert{ ids = "fig", embeddings = { 1, 2 } })   --> nil  ...dimension...
function Collection:upsert(args)
  check_self(self, Collection, "upsert")
  return run_ef(self.client, self.embedding_function, "upsert", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size)
end

--- Inserts new ids, in one transaction (pyseekdb's add): an id that exists
-- already, or comes twice, is an error (errno 1062 from the server, or
-- found before any SQL) and nothing is written. Takes what
-- @{Collection:upsert} takes; needs vectors: `embeddings`, or `documents`
-- and an embedding function.
-- @tparam table args
-- @tparam string|{string,...} args.ids one id or a list of ids (non-empty strings of at most
-- 512 bytes, 254 on MariaDB)
-- @tparam[opt] {number,...}|{{number,...},...} args.embeddings one vector or one per id, of the
-- collection's dimension, finite numbers; a vector is a list of numbers or a @{vector}
-- @tparam[opt] string|{string|null,...} args.documents one document or one per id (UTF-8)
-- @tparam[opt] table|{table|null,...} args.metadatas one metadata table or one per id (string
-- keys; encoded as JSON: integers stay integers, a list becomes an array)
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } } })
-- -- an id that is there already: nothing is written
-- local ok, err, errno = items:add{ ids = { "c", "a" }, embeddings = { { 1, 1 }, { 0, 0 } } }
-- print(ok, errno, items:count())   --> nil  1062  2
function Collection:add(args)
  check_self(self, Collection, "add")
  return run_ef(self.client, self.embedding_function, "add", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size)
end

--- Updates the given fields of ids that exist, in one transaction. Ids that
-- are not in the collection are not written, and are returned (pyseekdb
-- skips them silently). Documents given without embeddings are embedded
-- again through the collection's embedding function. Of an id given twice,
-- the last wins. Takes what @{Collection:upsert} takes (at least one of
-- `embeddings`, `documents` and `metadatas`).
-- @tparam table args
-- @tparam string|{string,...} args.ids one id or a list of ids (non-empty strings of at most
-- 512 bytes, 254 on MariaDB)
-- @tparam[opt] {number,...}|{{number,...},...} args.embeddings one vector or one per id, of the
-- collection's dimension, finite numbers; a vector is a list of numbers or a @{vector}
-- @tparam[opt] string|{string|null,...} args.documents one document or one per id (UTF-8)
-- @tparam[opt] table|{table|null,...} args.metadatas one metadata table or one per id (string
-- keys; encoded as JSON: integers stay integers, a list becomes an array)
-- @treturn[1] UpdateResult `{updated = n, missing = {ids...}}`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } } })
-- local r = assert(items:update{ ids = { "a", "zz" }, metadatas = { { n = 1 }, { n = 2 } } })
-- print(r.updated, r.missing[1])   --> 1  zz
-- print(assert(items:get{ ids = "a" }).metadatas[1].n)   --> 1
function Collection:update(args)
  check_self(self, Collection, "update")
  return result(run_ef(self.client, self.embedding_function, "update", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size))
end

--- Deletes the rows that match all of `ids`, `where` and `where_document`,
-- in one transaction. At least one of them is needed (`delete{}` raises:
-- to delete everything, delete the collection); `ids = {}` deletes nothing.
-- @tparam table args
-- @tparam[opt] string|{string,...} args.ids one id or a list
-- @tparam[opt] table args.where a metadata filter (@{where})
-- @tparam[opt] table args.where_document a document filter (@{where_document})
-- @treturn[1] integer how many rows were deleted
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument or filter, or none of the three
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b", "c" }, embeddings = { { 1, 0 }, { 0, 1 }, { 1, 1 } },
--   metadatas = { { n = 1 }, { n = 2 }, { n = 3 } } })
-- print(items:delete{ ids = { "a", "nope" } })            --> 1
-- print(items:delete{ where = { n = { ["$gte"] = 3 } } })  --> 1
-- print(items:count())                                    --> 1
function Collection:delete(args)
  check_self(self, Collection, "delete")
  return run(self.client, "delete", self._table, args)
end

--- Rows by ids and/or filters. With `ids` the rows come in the order of the
-- ids, each once, and ids that are not there are left out; without, in
-- the server's order (no ORDER BY). Every argument is optional, and so is
-- the table.
-- @tparam[opt] table args
-- @tparam[opt] string|{string,...} args.ids one id or a list
-- @tparam[opt] table args.where a metadata filter (@{where})
-- @tparam[opt] table args.where_document a document filter (@{where_document})
-- @tparam[opt={"documents","metadatas"}] {string,...} args.include the fields besides the ids:
-- `"documents"`, `"metadatas"`, `"embeddings"` (`{}`: the ids only)
-- @tparam[opt=100] integer args.limit at most this many rows
-- @tparam[opt=0] integer args.offset rows skipped first
-- @tparam[opt] string args.vectors `"vector"`: embeddings as @{vector} userdata, not tables;
-- `"table"`; the client's `vectors` option when absent
-- @treturn[1] GetResult `{ids = {...}, documents = {...}, metadatas = {...}, embeddings = {...}}`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument or filter
-- @usage
-- local fruits = assert(client:create_collection{ name = "fruits", dimension = 2 })
-- assert(fruits:add{ ids = { "apple", "pear", "plum" },
--   embeddings = { { 1, 0 }, { 0, 1 }, { 0.5, 0.5 } },
--   documents = { "red", "green", "purple" },
--   metadatas = { { price = 3 }, { price = 2 }, { price = 5 } } })
-- local rows = assert(fruits:get{ ids = { "plum", "nope", "apple" } })
-- print(rows.ids[1], rows.ids[2], #rows.ids)   --> plum  apple  2
-- print(rows.documents[1], rows.metadatas[1].price)   --> purple  5
-- -- a filter, only the vectors (float32)
-- local cheap = assert(fruits:get{ where = { price = { ["$lt"] = 3 } }, include = { "embeddings" } })
-- print(cheap.ids[1], #cheap.embeddings[1], cheap.documents)   --> pear  2  nil
function Collection:get(args)
  check_self(self, Collection, "get")
  return result(run(self.client, "get", self._table, self.dimension, args))
end

--- The nearest rows of one or more query vectors (or texts, through the
-- embedding function), nearest first, through the vector index (HNSW), so the
-- answer can be approximate. On MariaDB each query returns min(n_results,
-- rows that match its filters) rows: a filtered query filters a window of the
-- index's nearest rows, and a query answered short is asked again as an exact
-- scan; the query vectors of a call go in one statement. On seekdb, one
-- APPROXIMATE statement per query.
-- `n_results` beyond what the server's vector search answers (10,000 on
-- MariaDB, 16,384 on seekdb) is refused before any SQL.
-- @tparam table args
-- @tparam[opt] {number,...}|{{number,...},...} args.query_embeddings one vector or a list (a vector: a list of numbers or a @{vector})
-- @tparam[opt] string|{string,...} args.query_texts one text or a list, through the
-- collection's embedding function (this or `query_embeddings`, not both)
-- @tparam[opt=10] integer args.n_results rows per query, at least 1
-- @tparam[opt] table args.where a metadata filter (@{where})
-- @tparam[opt] table args.where_document a document filter (@{where_document})
-- @tparam[opt={"documents","metadatas","distances"}] {string,...} args.include the fields
-- besides the ids, also `"embeddings"`
-- @tparam[opt] string args.vectors `"vector"`: embeddings as @{vector} userdata, not tables;
-- `"table"`; the client's `vectors` option when absent
-- @treturn[1] QueryResult one inner list per query: `{ids = {{...}}, distances = {{...}}, ...}`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument or filter
-- @usage
-- local points = assert(client:create_collection{ name = "points", dimension = 2, distance = "l2" })
-- assert(points:add{ ids = { "p1", "p2", "p3" }, embeddings = { { 0, 0 }, { 3, 4 }, { 1, 1 } },
--   metadatas = { { kind = "a" }, { kind = "b" }, { kind = "b" } } })
-- local near = assert(points:query{ query_embeddings = { 0, 0 }, n_results = 2 })
-- print(near.ids[1][1], near.ids[1][2], ("%.3f"):format(near.distances[1][2]))   --> p1  p3  1.414
-- -- two queries, a filter, only ids and distances
-- local two = assert(points:query{ query_embeddings = { { 0, 0 }, { 3, 3 } }, n_results = 1,
--   where = { kind = "b" }, include = { "distances" } })
-- print(two.ids[1][1], two.ids[2][1], two.documents)   --> p3  p2  nil
function Collection:query(args)
  check_self(self, Collection, "query")
  return result(run_ef(self.client, self.embedding_function, "query", self._table, self.dimension,
    self.distance, args, self.embedding_function, self._ef_search))
end

--- Hybrid search (pyseekdb's): a full-text search and a vector search each
-- rank rows, and the rankings are fused by Reciprocal Rank Fusion: a row
-- scores the sum, over the rankings it is in, of `1 / (rank_constant +
-- rank)`. On seekdb the server fuses; on MariaDB lua-seekdb does (the
-- full-text ranking is InnoDB's relevance). Ties are broken by id.
-- @tparam table args
-- @tparam[opt] table args.query the full-text side: `where_document` (`$contains`,
-- `$not_contains`, `$and`/`$or` of them; @{where_document}) and/or `where` (@{where})
-- @tparam[opt] table args.knn the vector side: `query_embeddings` (one vector or a list) or
-- `query_texts`, `where`, `n_results` (how many nearest rows each vector ranks, 10)
-- @tparam[opt] table args.rank `{rrf = {rank_window_size = 60, rank_constant = 60}}`
-- (pyseekdb's defaults): rows each ranking contributes, and the damping of ranks
-- @tparam[opt=10] integer args.n_results rows returned
-- @tparam[opt={"documents","metadatas","distances"}] {string,...} args.include as in
-- @{Collection:query}
-- @tparam[opt] string args.vectors `"vector"`: embeddings as @{vector} userdata, not tables;
-- `"table"`; the client's `vectors` option when absent
-- @treturn[1] QueryResult one inner list, best first; `distances` are the fused scores
-- (larger is better)
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on a malformed argument, or neither `query` nor `knn`
-- @usage
-- local docs = assert(client:create_collection{ name = "docs", dimension = 2 })
-- assert(docs:add{ ids = { "d1", "d2", "d3" }, embeddings = { { 1, 0 }, { 0.7, 0.7 }, { 0, 1 } },
--   documents = { "lua tables and metatables", "vectors in mariadb", "lua coroutines yield" } })
-- local r = assert(docs:hybrid_search{
--   query = { where_document = { ["$contains"] = "lua" } },   -- ranks d1 and d3
--   knn = { query_embeddings = { 0, 1 }, n_results = 2 },      -- ranks d3, then d2
--   n_results = 3, include = { "distances" } })
-- print(r.ids[1][1], #r.ids[1])   --> d3  3
-- print(r.distances[1][1] > r.distances[1][2])   --> true
function Collection:hybrid_search(args)
  check_self(self, Collection, "hybrid_search")
  return result(run_ef(self.client, self.embedding_function, "hybrid_search", self._table, self.dimension,
    self.distance, args, self.embedding_function))
end

--- The number of rows.
-- @treturn[1] integer
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } } })
-- print(items:count())   --> 2
function Collection:count()
  check_self(self, Collection, "count")
  return run(self.client, "count", self._table)
end

--- What the collection is (pyseekdb's and the JS SDK's describe, with the
-- index configuration). A copy: changing it changes nothing.
-- @treturn Description `{name =, id =, version =, dimension =, distance =, configuration =,
-- embedding_function =}`
-- @usage
-- local col = assert(client:create_collection{ name = "tuned", dimension = 8, distance = "l2",
--   configuration = { hnsw = { m = 32, ef_search = 100 } } })
-- local d = col:describe()
-- print(d.name, d.version, d.dimension, d.distance, #d.id)   --> tuned  2  8  l2  32
-- print(d.configuration.hnsw.m, d.configuration.hnsw.ef_search)   --> 32  100
function Collection:describe()
  check_self(self, Collection, "describe")
  local function copy(t)
    if type(t) ~= "table" then return t end
    local out = {}
    for k, v in pairs(t) do out[k] = copy(v) end
    return out
  end
  return result({
    name = self.name, id = self.id, version = self.version, dimension = self.dimension,
    distance = self.distance, configuration = copy(self.configuration), embedding_function = self._ef_name,
  })
end

--- A new collection `name` with this one's rows, dimension, distance,
-- index configuration, catalog settings and embedding function; this one
-- is only read. The fork is a v2 collection. seekdb 1.1.0 and later copy
-- the table with `FORK TABLE`; MariaDB makes the new table like this one
-- and copies the rows in the transaction that registers it. A fork that
-- fails leaves nothing behind; a name that exists is errno 1050.
-- @tparam string|table name the new name, or `{name = ...}`
-- @treturn[1] Collection the new collection
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } } })
-- local copy = assert(items:fork("items_copy"))
-- assert(copy:delete{ ids = "a" })
-- print(copy.name, copy:count(), items:count())   --> items_copy  1  2
-- print(items:fork{ name = "items" })   --> nil  collection 'items' already exists  1050  42S01
function Collection:fork(name)
  check_self(self, Collection, "fork")
  if type(name) == "table" then
    check_keys(name, { "name" }, 1, "fork")
    name = name.name
  end
  local desc, err, errno, sqlstate = run(self.client, "fork_collection", self.name, self._table, name,
    self.dimension, self.distance)
  if not desc then return nil, err, errno, sqlstate end
  -- the server copied the source's catalog settings (a version 1 source has none)
  desc.settings = self.version == 2 and self._settings or { version = SETTINGS_VERSION }
  return new_collection(self.client, desc, self.embedding_function, self.embedding_chunk_size, self._ef_name)
end

--- Waits until the rows written so far are in the vector index. seekdb 1.3.0
-- and later build it in the background, so a query right after a write
-- may miss the rows just written: this sends `CALL
-- dbms_index_manager.refresh()`, as both SDKs do. Elsewhere (MariaDB, whose
-- INSERT writes the index; older seekdb; OceanBase) there is nothing to
-- wait for and it returns `true` at once, sending nothing.
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:upsert{ ids = "a", embeddings = { 1, 0 } })
-- print(items:refresh_index())   --> true
function Collection:refresh_index()
  check_self(self, Collection, "refresh_index")
  return run(self.client, "refresh_index")
end

--- The first `n` rows with everything included: `get{limit = n, include =
-- {"documents", "metadatas", "embeddings"}}`.
-- @tparam[opt=10] integer n
-- @tparam[opt] table opts `vectors` as in @{Collection:get}
-- @treturn[1] GetResult
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local items = assert(client:create_collection{ name = "items", dimension = 2 })
-- assert(items:add{ ids = { "a", "b", "c" }, embeddings = { { 1, 0 }, { 0, 1 }, { 1, 1 } } })
-- local some = assert(items:peek(2))
-- print(#some.ids, #some.embeddings[1])   --> 2  2
function Collection:peek(n, opts)
  check_self(self, Collection, "peek")
  if n ~= nil and (type(n) ~= "number" or n < 0 or n % 1 ~= 0) then
    argerror(1, "peek", "a non-negative integer expected, got " .. type(n), 2)
  end
  check_opts(opts, 2, "peek")
  if opts then check_keys(opts, { "vectors" }, 2, "peek") end
  return self:get { limit = n or 10, include = { "documents", "metadatas", "embeddings" },
    vectors = opts and opts.vectors }
end

--- @section end

-- -------------------------------------------------------------------------
-- Client
-- -------------------------------------------------------------------------

local Client = { __name = "seekdb.Client" }
Client.__index = Client

local CLIENT_HINTS = {
  databse = " (did you mean database?)",
  socket_path = " (did you mean socket?)",
}

-- The options seekdb.Client takes; any other key is a mistake (a typo would
-- otherwise be ignored).
local CLIENT_OPTIONS = {
  "host", "port", "user", "password", "database", "tenant", "socket",
  "connect_timeout", "read_timeout", "write_timeout", "timeout", "loop", "slice",
  "ssl", "ssl_verify", "ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher", "tls_version",
  "dialect", "max_packet", "text_protocol", "pipeline", "deadlock_retries",
  "path", "mariadbd", "local_idle", "vectors",
}

-- The options that make no sense for local mode's unix socket.
local NOT_LOCAL = { "host", "port", "socket", "ssl", "ssl_verify", "ssl_ca", "ssl_capath", "ssl_cert",
  "ssl_key", "ssl_cipher", "tls_version" }

local function getenv(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- pyseekdb's default folder for its embedded mode, and ours for local mode.
local DEFAULT_PATH = "./seekdb.db"

-- Where a connection value came from: "argument", the variable's name or
-- "default". Fills o[key] and from[key].
local function pick(o, from, key, env, default, convert)
  if o[key] ~= nil then
    from[key] = "argument"
    return
  end
  local v = getenv(env)
  if v ~= nil then
    o[key], from[key] = convert and convert(v) or v, env
    if o[key] == nil then argerror(1, "Client", env .. " must be a number, got '" .. v .. "'", 3) end
    return
  end
  o[key], from[key] = default, "default"
end

-- Local mode or a server: local mode when `path` (or SEEKDB_PATH) is given,
-- or when nothing names a server (no host, port or socket, as argument or
-- as SEEKDB_HOST, SEEKDB_PORT, SEEKDB_SOCKET): pyseekdb's rule.
local function local_path(o)
  if o.path ~= nil then
    if type(o.path) ~= "string" or o.path == "" then
      argerror(1, "Client", "option 'path' must be a folder name (a non-empty string)", 4)
    end
    for _, k in ipairs(NOT_LOCAL) do
      if o[k] ~= nil then
        argerror(1, "Client", "option '" .. k .. "' is for a server; 'path' is local mode (a private server "
          .. "reached through a unix socket in that folder): give one or the other", 4)
      end
    end
    return o.path, "argument"
  end
  if o.host ~= nil or o.port ~= nil or o.socket ~= nil or getenv("SEEKDB_HOST") or getenv("SEEKDB_PORT")
    or getenv("SEEKDB_SOCKET") then
    return nil
  end
  if getenv("SEEKDB_PATH") then return getenv("SEEKDB_PATH"), "SEEKDB_PATH" end
  return DEFAULT_PATH, "default"
end

local function told(from, key)
  local f = from[key]
  return f == "argument" and key .. " =" or f == "default" and "the default" or f
end

-- A failed connect, explained: what was tried, where each value came from,
-- and what to do. Only for failures to reach the server (2002 no socket,
-- 2003 no TCP answer, 2005 unknown host, 2006/2013 gone while connecting).
local UNREACHED = { [2002] = true, [2003] = true, [2005] = true, [2006] = true, [2013] = true }

local function explain(o, from, err, errno)
  if not UNREACHED[errno] then return err end
  if o.socket then
    return ("%s [tried the unix socket %s (from %s)]: is a server listening there? Give socket = (or "
      .. "SEEKDB_SOCKET) its socket, host = and port = for TCP, or path = for local mode"):format(
      err, o.socket, told(from, "socket"))
  end
  if o.host == "localhost" then
    return ("%s [host 'localhost' (from %s) means the default unix socket to MariaDB Connector/C, not TCP "
      .. "port %d]: use host = \"127.0.0.1\" for TCP, socket = for another socket, or path = for local mode"):format(
      err, told(from, "host"), o.port)
  end
  return ("%s [tried %s port %d: host from %s, port from %s]: is the server running there? Set host = and "
    .. "port = (or SEEKDB_HOST and SEEKDB_PORT) to reach yours, or use path = \"./mydb\" for local mode "
    .. "(a private server in that folder; see the README)"):format(err, o.host, o.port, told(from, "host"),
    told(from, "port"))
end

-- The socket of the local server for o.path: the running one, else one
-- started now (waiting the way the driver waits).
local function local_socket(o, driver, again)
  local sock = not again and localserver.running(o.path)
  if sock then return sock end
  local server, err = localserver.find_server(o.mariadbd)
  if not server then return nil, err end
  local idle = o.local_idle or tonumber(getenv("SEEKDB_LOCAL_IDLE") or "") or localserver.IDLE
  return localserver.start(o.path, server, idle, driver and driver.sleep or core.sleep)
end

local function connect(o, driver)
  if driver then return driver.run(core.connect(o, true)) end
  return core.connect(o)
end

-- Local mode's connect: to the folder's server, started if need be; once
-- more if it stopped between the look and the connect (its idle end).
local function connect_local(o, driver, from, tenant)
  local path, mariadbd, idle = o.path, o.mariadbd, o.local_idle
  o.path, o.mariadbd, o.local_idle = nil, nil, nil
  o.host, o.port = "localhost", 0
  local err, errno, sqlstate
  for try = 1, 2 do
    local sock
    sock, err = local_socket({ path = path, mariadbd = mariadbd, local_idle = idle }, driver, try > 1)
    if not sock then return nil, err end
    o.socket = sock
    local conn
    conn, err, errno, sqlstate = connect(o, driver)
    if conn then return setmetatable({ _conn = conn, _driver = driver, _tenant = tenant, _path = path }, Client) end
    if not UNREACHED[errno] then break end
  end
  return nil, ("local mode (%s, path from %s): %s"):format(path, told(from, "path"), err), errno, sqlstate
end

--- Connects to seekdb, OceanBase or MariaDB 11.7+, or in local mode to a
-- private server for a folder: one connection, one call
-- at a time (a second call while one runs raises).
--
-- Local mode or a server? `path` (or env `SEEKDB_PATH`) is local mode; so is
-- a call that names no server at all (no `host`, `port` or `socket`, and
-- none of `SEEKDB_HOST`, `SEEKDB_PORT`, `SEEKDB_SOCKET`): `seekdb.Client()`
-- is local mode in `./seekdb.db`, as pyseekdb's `Client()` is. A failed
-- connect says what was tried, where each value came from (argument,
-- environment, default) and what to do. The character set is
-- always utf8mb4. A lost connection is not reconnected (that would drop
-- the open transaction): the call fails with errno 2013 or 2006, and so
-- does every later one; make a new client.
-- @tparam[opt] table opts the options, each optional (any other key raises, naming the valid ones)
-- @tparam[opt] string opts.path local mode's folder (default: env `SEEKDB_PATH`, else
-- `"./seekdb.db"` when no server is named): the server running for it, or one started for
-- it (data in the folder, a unix socket, no TCP port); not with host, port, socket or TLS
-- options (README: Local mode)
-- @tparam[opt] string opts.mariadbd local mode's server binary (default: env
-- `SEEKDB_MARIADBD`, else a `mariadbd` 11.7+ on PATH, else `scripts/testdb fetch`'s copy)
-- @tparam[opt=30] number opts.local_idle seconds local mode's server stays up after its
-- last client has gone (env `SEEKDB_LOCAL_IDLE`), 1 to 86400
-- @tparam[opt] string opts.host the server's address (default: env `SEEKDB_HOST`, else
-- `"127.0.0.1"`); `"localhost"` means Connector/C's unix socket, not TCP
-- @tparam[opt] integer opts.port TCP port (default: env `SEEKDB_PORT`, else 2881)
-- @tparam[opt] string opts.user (default: env `SEEKDB_USER`, else `"root"`)
-- @tparam[opt] string opts.password (default: env `SEEKDB_PASSWORD`, else empty)
-- @tparam[opt] string opts.database the database of the collections (default: env
-- `SEEKDB_DATABASE`, else `"test"`)
-- @tparam[opt] string opts.tenant log in as `user@tenant` (seekdb, OceanBase)
-- @tparam[opt] string opts.socket a unix socket path, used instead of host and port
-- (default: env `SEEKDB_SOCKET`)
-- @tparam[opt=10] number opts.connect_timeout seconds to connect and log in
-- @tparam[opt=60] number opts.read_timeout seconds the server may stay silent during a
-- statement; then the call fails and the client is closed
-- @tparam[opt=60] number opts.write_timeout seconds the server may take to accept what is sent
-- @tparam[opt] number opts.timeout seconds a whole call may take, retries and lock waits
-- included (none by default; @{Client:set_timeout} changes it)
-- @tparam[opt] string|function opts.loop how calls wait: none (blocking), `"cqueues"`,
-- `"luv"`, `"ngx"`, `"yield"` (see @{task}), or a function `(fd, events, timeout)`
-- @tparam[opt=0.0005] number opts.slice under a `loop`, seconds of the client's own work
-- between two chances for the host to run
-- @tparam[opt=false] boolean opts.ssl TLS, or no connection and nothing sent (not even the user)
-- @tparam[opt=false] boolean opts.ssl_verify also check the server's certificate and name
-- @tparam[opt] string opts.ssl_ca the CA file that signed the server's certificate
-- @tparam[opt] string opts.ssl_capath a folder of CA files
-- @tparam[opt] string opts.ssl_cert a client certificate
-- @tparam[opt] string opts.ssl_key its key
-- @tparam[opt] string opts.ssl_cipher the ciphers allowed, by name, separated by colons
-- @tparam[opt] string opts.tls_version `"TLSv1.2"`, `"TLSv1.3"` or `"TLSv1.2,TLSv1.3"` (any
-- TLS option requires TLS, as `ssl` does)
-- @tparam[opt="auto"] string opts.dialect `"auto"` (from `SELECT VERSION()`), `"seekdb"`
-- or `"mariadb"`
-- @tparam[opt] integer opts.max_packet the largest statement to send, in bytes (at most the
-- server's `max_allowed_packet`, the default)
-- @tparam[opt=false] boolean opts.text_protocol `true`: write multi-row SQL text even where
-- MariaDB's bulk protocol is available
-- @tparam[opt=true] boolean opts.pipeline `false`: check every item of a large write before any
-- SQL instead of while earlier rows are sent
-- @tparam[opt=10] integer opts.deadlock_retries how many times a write is run again after a
-- deadlock, with a randomised backoff, within `timeout`
-- @tparam[opt="table"] string opts.vectors `"vector"`: reads return embeddings as @{vector}
-- userdata (a call's own `vectors` option wins)
-- @treturn[1] Client a client
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on an unknown option or one of the wrong type
-- @usage
-- -- host, port, user, password and database from the SEEKDB_* environment
-- local c = assert(seekdb.Client{ connect_timeout = 5, timeout = 30 })
-- print(c)   --> seekdb client (... dialect, ...)
-- print(c:info().timeout)   --> 30...
-- c:close()
-- -- a typo raises, naming the valid options
-- print(pcall(seekdb.Client, { databse = "test" }))   --> false  ...unknown option 'databse' (did you mean database?)...
function seekdb.Client(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "Client", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts or {}, CLIENT_OPTIONS, 1, "Client", CLIENT_HINTS)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if not ({ [true] = 1, auto = 1, seekdb = 1, mariadb = 1 })[o.dialect == nil or o.dialect] then
    argerror(1, "Client", "option 'dialect' must be \"auto\", \"seekdb\" or \"mariadb\"", 2)
  end
  local driver, why = loop.for_option(o.loop)
  if why then argerror(1, "Client", "option " .. why, 2) end
  o.loop = nil
  if o.local_idle ~= nil and not (type(o.local_idle) == "number" and o.local_idle >= 1 and o.local_idle <= 86400) then
    argerror(1, "Client", "option 'local_idle' must be a number of seconds, 1 to 86400", 2)
  end
  if o.mariadbd ~= nil and type(o.mariadbd) ~= "string" then
    argerror(1, "Client", "option 'mariadbd' must be the path of a mariadbd binary", 2)
  end
  local from = {}
  o.path, from.path = local_path(o)
  pick(o, from, "user", "SEEKDB_USER", "root")
  pick(o, from, "password", "SEEKDB_PASSWORD", "")
  pick(o, from, "database", "SEEKDB_DATABASE", "test")
  local tenant = o.tenant
  if o.tenant then o.user = o.user .. "@" .. o.tenant end
  o.tenant = nil
  if o.path then return connect_local(o, driver, from, tenant) end
  o.mariadbd, o.local_idle = nil, nil
  pick(o, from, "host", "SEEKDB_HOST", "127.0.0.1")
  pick(o, from, "port", "SEEKDB_PORT", 2881, tonumber)
  pick(o, from, "socket", "SEEKDB_SOCKET", nil)
  local conn, err, errno, sqlstate = connect(o, driver)
  if not conn then return nil, explain(o, from, err, errno), errno, sqlstate end
  return setmetatable({ _conn = conn, _driver = driver, _tenant = tenant }, Client)
end

--- A client: one connection to the server, made by @{seekdb.Client}. It
-- prints as what it is connected to, is closed by `close()`, by `local
-- client <close> = ...` (Lua 5.4) and when garbage-collected. It runs one
-- call at a time; each thread (and each coroutine that works concurrently)
-- makes its own. Its methods return `nil, errmsg, errno, sqlstate` on a
-- runtime failure; the databases' methods are @{AdminClient}'s too.
-- @type Client
function Client:__tostring()
  return tostring(self._conn)
end

--- Closes the connection; calling it twice is harmless. A call still running
-- on the client (in another coroutine) ends with an error, and nothing of
-- it is written. Every later call raises.
-- @treturn boolean `true`
-- @usage
-- local c = assert(seekdb.Client())
-- print(c:close(), c:close(), c:is_closed())   --> true  true  true
function Client:close()
  check_self(self, Client, "close")
  local driver = self._driver
  -- a coroutine waiting on the socket is woken first, while it is open
  if driver and driver.stop_waiting then driver.stop_waiting() end
  return self._conn:close()
end

Client.__close = Client.close

--- `true` once the client's connection is closed: by `close()`, or by a
-- call that timed out while the server held it (every later call raises).
-- A pool checks it before giving a client out again.
-- @treturn boolean
-- @usage
-- print(client:is_closed())   --> false
function Client:is_closed()
  check_self(self, Client, "is_closed")
  return self._conn:is_closed()
end

--- What the client is connected to.
-- @treturn Info `{dialect =, version =, max_packet =, timeout =, tls =, tls_cipher =}`
-- @usage
-- local info = client:info()
-- print(type(info.version), info.max_packet > 0, info.timeout)   --> string  true  0...
function Client:info()
  check_self(self, Client, "info")
  return result(self._conn:info())
end

--- Sets the `timeout` of the calls that start after it: seconds a whole
-- call may take, retries and lock waits included. On MariaDB the module's
-- statements tell the server the time left (`SET STATEMENT
-- max_statement_time=...`), so it gives up in time and the client stays
-- usable; a call that the server still holds when the time is up (raw SQL
-- of @{Client:query}, a server that does not answer) fails with errno 2013
-- and closes the client.
-- @tparam number|false seconds the limit; 0 or `false`: none
-- @treturn boolean `true`
-- @usage
-- local c = assert(seekdb.Client())
-- assert(c:set_timeout(0.3))
-- print(c:query("SELECT SLEEP(2)"))   --> nil  timeout: ...  2013  HY000
-- print(c:is_closed())   --> true
-- assert(client:set_timeout(false))
function Client:set_timeout(seconds)
  check_self(self, Client, "set_timeout")
  return self._conn:set_timeout(seconds)
end

--- Runs one SQL statement: the escape hatch for administration and tests.
-- @tparam string sql one statement
-- @treturn[1] table for a statement with a result set, a list of rows keyed by column name
-- (values are strings, SQL NULL is @{null}); for others, `{affected_rows =, insert_id =,
-- warning_count =}`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local rows = assert(client:query("SELECT 1 + 1 AS two, NULL AS nothing"))
-- print(rows[1].two, rows[1].nothing == seekdb.null)   --> 2  true
-- print(client:query("SELEC 1"))   --> nil  ...syntax...  1064  42000
function Client:query(sql)
  check_self(self, Client, "query")
  return result(run(self, "sql", sql))
end

-- The embedding function of create options, and what to persist of it.
local function embedding_of(opts, fname)
  local ef = opts.embedding_function
  if type(ef) == "string" then
    local properties = opts.embedding_function_properties or {}
    return from_registry(ef, properties, fname), { name = ef, properties = properties }
  end
  if ef ~= nil and not callable(ef) then
    argerror(1, fname, "embedding_function must be a function or a registered name, got " .. type(ef), 3)
  end
  return ef, nil
end

-- Text of an error value (a table's __tostring counts).
local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return "(an error value of type " .. type(e) .. ")"
end

-- What the embedding function's vectors are wide: it is called once on a
-- sample text (from Lua, so it may yield), as pyseekdb does.
local function probe_dimension(ef)
  local ok, vectors = pcall(ef, { "seekdb" })
  if not ok then return nil, "embedding function failed on a sample text: " .. error_text(vectors) end
  return core.embedding_dimension(vectors)
end

--- @section end

-- -------------------------------------------------------------------------
-- Configuration: pyseekdb's classes, and the table form
-- -------------------------------------------------------------------------

local HNSWConfiguration = { __name = "seekdb.HNSWConfiguration" }
local Configuration = { __name = "seekdb.Configuration" }
local FulltextIndexConfig = { __name = "seekdb.FulltextIndexConfig" }

local HNSW_DEFAULTS = { dimension = DEFAULT_DIMENSION, distance = DEFAULT_DISTANCE }
-- Reading an unset field gives pyseekdb's default (`m` reads `M`); what
-- create_collection uses is what was given (an unset dimension is learnt
-- from the embedding function, as without a configuration).
HNSWConfiguration.__index = function(self, k)
  if k == "m" then return rawget(self, "M") end
  return HNSW_DEFAULTS[k]
end
FulltextIndexConfig.__index = function(_, k) if k == "analyzer" then return "ik" end end

local HNSW_OPTIONS = { "dimension", "distance", "type", "lib", "M", "m", "ef_construction", "ef_search" }
local HNSW_UNSUPPORTED = " (pyseekdb's option for hnsw_bq/hnsw_sq indexes, not supported: lua-seekdb makes type = \"hnsw\")"
local HNSW_HINTS = { extra_info_max_size = HNSW_UNSUPPORTED, refine_k = HNSW_UNSUPPORTED,
  refine_type = HNSW_UNSUPPORTED, bq_bits_query = HNSW_UNSUPPORTED, bq_use_fht = HNSW_UNSUPPORTED,
  properties = " (not supported: name the option)" }

local function is_integer(v)
  return type(v) == "number" and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53
end

-- m and M name the same option: both given must agree.
local function one_m(t, fname, level)
  local m, M = rawget(t, "m"), rawget(t, "M")
  if m ~= nil and M ~= nil and m ~= M then
    argerror(1, fname, ("m = %s and M = %s disagree: give one"):format(tostring(m), tostring(M)), level + 1)
  end
  if M ~= nil then return M end
  return m
end

--- pyseekdb's `HNSWConfiguration(dimension, distance)`: the vector index of
-- a collection, for `configuration` of @{Client:create_collection}. Unset
-- fields read as pyseekdb's defaults (dimension 384, distance "cosine");
-- what create_collection uses is what was given. Also with names:
-- `seekdb.HNSWConfiguration{dimension = 128, distance = "l2", M = 16,
-- ef_construction = 200, ef_search = 64}` (`m` for `M` too).
-- @tparam[opt] integer|table dimension the dimension, or a table of the options
-- @tparam[opt] string distance `"cosine"`, `"l2"` or `"inner_product"`
-- @treturn table an HNSWConfiguration
-- @raise on an unknown option or a wrong value (pyseekdb's hnsw_sq/hnsw_bq options are not
-- supported)
-- @usage
-- local col = assert(client:create_collection{ name = "tuned",
--   configuration = seekdb.HNSWConfiguration{ dimension = 8, distance = "l2", M = 32, ef_search = 100 } })
-- print(col.dimension, col.distance, col.configuration.hnsw.m)   --> 8  l2  32
-- print(seekdb.HNSWConfiguration(16).distance)   --> cosine
function seekdb.HNSWConfiguration(dimension, distance)
  local t = dimension
  if type(dimension) ~= "table" then t = { dimension = dimension, distance = distance }
  elseif distance ~= nil then argerror(2, "HNSWConfiguration", "give a table of options, or dimension and distance", 2) end
  check_keys(t, HNSW_OPTIONS, 1, "HNSWConfiguration", HNSW_HINTS)
  if t.dimension ~= nil and not (is_integer(t.dimension) and t.dimension >= 1) then
    argerror(1, "HNSWConfiguration", "dimension must be a positive integer, got " .. tostring(t.dimension), 2)
  end
  if t.distance ~= nil and not ({ cosine = 1, l2 = 1, inner_product = 1 })[t.distance] then
    argerror(1, "HNSWConfiguration", "distance must be \"cosine\", \"l2\" or \"inner_product\", got "
      .. tostring(t.distance), 2)
  end
  if t.type ~= nil and t.type ~= "hnsw" then
    argerror(1, "HNSWConfiguration", "type must be \"hnsw\" (hnsw_sq and hnsw_bq are not supported)", 2)
  end
  if t.lib ~= nil and t.lib ~= "vsag" then argerror(1, "HNSWConfiguration", "lib must be \"vsag\"", 2) end
  for _, k in ipairs { "ef_construction", "ef_search" } do
    if t[k] ~= nil and not is_integer(t[k]) then
      argerror(1, "HNSWConfiguration", k .. " must be an integer, got " .. tostring(t[k]), 2)
    end
  end
  local M = one_m(t, "HNSWConfiguration", 2)
  if M ~= nil and not is_integer(M) then argerror(1, "HNSWConfiguration", "M must be an integer, got " .. tostring(M), 2) end
  return setmetatable({ dimension = t.dimension, distance = t.distance, M = M,
    ef_construction = t.ef_construction, ef_search = t.ef_search }, HNSWConfiguration)
end

--- pyseekdb's `FulltextIndexConfig(analyzer, properties)`: the full-text
-- index's parser (seekdb: "ik" by default; "space", "ngram", "ngram2",
-- "beng"...) and its properties (`{ngram_token_size = 2}`), for a
-- @{Configuration}. Also `seekdb.FulltextIndexConfig{analyzer = ...,
-- properties = {...}}`.
-- @tparam[opt] string|table analyzer the parser, or a table of the options
-- @tparam[opt] table properties the parser's properties
-- @treturn table a FulltextIndexConfig
-- @usage
-- local ft = seekdb.FulltextIndexConfig("ngram", { ngram_token_size = 2 })
-- print(ft.analyzer, ft.properties.ngram_token_size)   --> ngram  2
-- print(seekdb.FulltextIndexConfig().analyzer)   --> ik
function seekdb.FulltextIndexConfig(analyzer, properties)
  local t = analyzer
  if type(analyzer) ~= "table" then t = { analyzer = analyzer, properties = properties }
  elseif properties ~= nil then argerror(2, "FulltextIndexConfig", "give a table of options, or analyzer and properties", 2) end
  check_keys(t, { "analyzer", "properties" }, 1, "FulltextIndexConfig")
  if t.analyzer ~= nil and type(t.analyzer) ~= "string" then
    argerror(1, "FulltextIndexConfig", "analyzer must be a string, got " .. type(t.analyzer), 2)
  end
  if t.properties ~= nil and type(t.properties) ~= "table" then
    argerror(1, "FulltextIndexConfig", "properties must be a table, got " .. type(t.properties), 2)
  end
  return setmetatable({ analyzer = t.analyzer, properties = t.properties }, FulltextIndexConfig)
end

--- pyseekdb's `Configuration(hnsw, fulltext_config)`: an
-- @{HNSWConfiguration} and a @{FulltextIndexConfig}, both optional, for
-- `configuration` of @{Client:create_collection}. Also
-- `seekdb.Configuration{hnsw = ..., fulltext_config = ...}`.
-- @tparam[opt] table hnsw an HNSWConfiguration, or a table of both options
-- @tparam[opt] table fulltext_config a FulltextIndexConfig
-- @treturn table a Configuration
-- @usage
-- local col = assert(client:create_collection{ name = "tuned",
--   configuration = seekdb.Configuration(seekdb.HNSWConfiguration(4, "l2")) })
-- print(col.dimension, col.distance)   --> 4  l2
function seekdb.Configuration(hnsw, fulltext_config)
  local t = hnsw
  if type(hnsw) ~= "table" or getmetatable(hnsw) ~= nil then t = { hnsw = hnsw, fulltext_config = fulltext_config }
  elseif fulltext_config ~= nil then argerror(2, "Configuration", "give a table of options, or hnsw and fulltext_config", 2) end
  check_keys(t, { "hnsw", "fulltext_config" }, 1, "Configuration")
  if t.hnsw ~= nil and getmetatable(t.hnsw) ~= HNSWConfiguration then
    argerror(1, "Configuration", "hnsw must be a seekdb.HNSWConfiguration, got " .. type(t.hnsw), 2)
  end
  if t.fulltext_config ~= nil and getmetatable(t.fulltext_config) ~= FulltextIndexConfig then
    argerror(1, "Configuration", "fulltext_config must be a seekdb.FulltextIndexConfig, got " .. type(t.fulltext_config), 2)
  end
  return setmetatable({ hnsw = t.hnsw, fulltext_config = t.fulltext_config }, Configuration)
end

-- Any configuration as one flat table: {dimension, distance, m,
-- ef_construction, ef_search, parser, properties}, each possibly nil.
local function flat_configuration(c, fname)
  local mt = getmetatable(c)
  local function from_hnsw(h, out)
    out.dimension, out.distance = rawget(h, "dimension"), rawget(h, "distance")
    out.m, out.ef_construction, out.ef_search = rawget(h, "M"), rawget(h, "ef_construction"), rawget(h, "ef_search")
    return out
  end
  if mt == HNSWConfiguration then return from_hnsw(c, {}) end
  if mt == Configuration then
    local out = c.hnsw and from_hnsw(c.hnsw, {}) or {}
    if c.fulltext_config then out.parser, out.properties = c.fulltext_config.analyzer, c.fulltext_config.properties end
    return out
  end
  if type(c) ~= "table" or mt ~= nil then
    argerror(1, fname, "configuration must be a table, a seekdb.Configuration or a seekdb.HNSWConfiguration, got "
      .. type(c), 3)
  end
  check_keys(c, { "dimension", "distance", "hnsw", "fulltext" }, 1, fname, nil, 4, "configuration")
  local out = { dimension = c.dimension, distance = c.distance }
  if c.hnsw ~= nil then
    if type(c.hnsw) ~= "table" then argerror(1, fname, "configuration.hnsw must be a table, got " .. type(c.hnsw), 3) end
    check_keys(c.hnsw, { "m", "M", "ef_construction", "ef_search" }, 1, fname, HNSW_HINTS, 4, "configuration.hnsw")
    out.m, out.ef_construction, out.ef_search = one_m(c.hnsw, fname, 3), c.hnsw.ef_construction, c.hnsw.ef_search
  end
  if c.fulltext ~= nil then
    if type(c.fulltext) ~= "table" then
      argerror(1, fname, "configuration.fulltext must be a table, got " .. type(c.fulltext), 3)
    end
    check_keys(c.fulltext, { "parser", "properties" }, 1, fname, nil, 4, "configuration.fulltext")
    out.parser, out.properties = c.fulltext.parser, c.fulltext.properties
  end
  return out
end

--- @type Client

local CREATE_OPTIONS = { "name", "dimension", "distance", "configuration", "embedding_function",
  "embedding_function_properties", "embedding_chunk_size", "version" }
local GET_OPTIONS = { "embedding_function", "embedding_function_properties", "embedding_chunk_size" }
local GET_OR_CREATE_OPTIONS = CREATE_OPTIONS

-- One value from two places (the option and the configuration's): both
-- given must agree.
local function agree(top, conf, what, fname)
  if top ~= nil and conf ~= nil and top ~= conf then
    argerror(1, fname, ("%s = %s and configuration's %s = %s disagree: give one, or the same"):format(what,
      tostring(top), what, tostring(conf)), 3)
  end
  if top ~= nil then return top end
  return conf
end

--- Creates a collection (pyseekdb's create_collection). A v2 collection
-- (the default) is made table first, then its catalog row in a
-- transaction that locks the name: of several clients creating one name at
-- once exactly one wins, and an interrupted create leaves no half-made
-- collection. A collection of that name that exists already (v1 or v2) is
-- `nil, "collection 'x' already exists", 1050, "42S01"`.
-- @tparam table opts
-- @tparam string opts.name `^[A-Za-z0-9_]+$`, at most 512 characters (59 for version 1)
-- @tparam[opt] integer opts.dimension 1 to 16,313 on MariaDB, to 4,096 on seekdb (default:
-- the length of what the embedding function returns for a sample text, else 384)
-- @tparam[opt="cosine"] string opts.distance `"cosine"`, `"l2"` or `"inner_product"` (not on
-- MariaDB)
-- @tparam[opt] table opts.configuration the indexes' options: an @{IndexConfiguration} table
-- (`{hnsw = {m =, ef_construction =, ef_search =}, fulltext = {parser =, properties =}}`), or
-- @{Configuration} / @{HNSWConfiguration}; a dimension or distance given at both levels must
-- agree
-- @tparam[opt] function|string opts.embedding_function turns documents into vectors: a
-- function, or a name of @{register_embedding_function} (stored with the collection)
-- @tparam[opt={}] table opts.embedding_function_properties what the named factory is given
-- (stored too)
-- @tparam[opt=128] integer opts.embedding_chunk_size documents per call of the embedding function
-- @tparam[opt=2] integer opts.version 2 (pyseekdb's current layout, listed in
-- `sdk_collections`) or 1 (the table `c$v1$<name>`)
-- @treturn[1] Collection the new collection
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on an unknown option or a wrong value
-- @usage
-- local articles = assert(client:create_collection{ name = "articles", dimension = 3, distance = "l2" })
-- print(articles)   --> seekdb collection 'articles' (dimension 3, l2 distance)
-- print(articles.version, #articles.id, articles.embedding_chunk_size)   --> 2  32  128
-- print(client:create_collection{ name = "articles", dimension = 3 })   --> nil  collection 'articles' already exists  1050  42S01
-- -- no dimension: learnt from the embedding function (called once)
-- local texts = assert(client:create_collection{ name = "texts",
--   embedding_function = function(docs)
--     local out = {}
--     for i, d in ipairs(docs) do out[i] = { #d, d:byte(1) } end
--     return out
--   end })
-- print(texts.dimension)   --> 2
function Client:create_collection(opts)
  check_self(self, Client, "create_collection")
  if type(opts) ~= "table" then
    argerror(1, "create_collection", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts, CREATE_OPTIONS, 1, "create_collection", { dim = " (did you mean dimension?)" })
  check_chunk(opts.embedding_chunk_size, "create_collection")
  local conf = opts.configuration ~= nil and flat_configuration(opts.configuration, "create_collection") or {}
  local ef, persisted = embedding_of(opts, "create_collection")
  local dimension, err = agree(opts.dimension, conf.dimension, "dimension", "create_collection"), nil
  local distance = agree(opts.distance, conf.distance, "distance", "create_collection") or DEFAULT_DISTANCE
  if dimension == nil then
    if ef == nil then
      dimension = DEFAULT_DIMENSION
    else
      dimension, err = probe_dimension(ef)
      if not dimension then return nil, err end
    end
  end
  local settings = { version = SETTINGS_VERSION, embedding_function = persisted }
  local index
  if opts.configuration ~= nil then
    index = { m = conf.m, ef_construction = conf.ef_construction, ef_search = conf.ef_search,
      parser = conf.parser, properties = conf.properties }
    -- kept in the catalog as the JS SDK reads a configuration (hnsw, fulltextConfig)
    settings.configuration = {
      hnsw = { dimension = dimension, distance = distance, m = conf.m, ef_construction = conf.ef_construction,
        ef_search = conf.ef_search },
      fulltextConfig = (conf.parser or conf.properties) and { analyzer = conf.parser or "ik",
        properties = conf.properties or {} } or nil,
    }
  end
  -- the object is made before the server makes the collection: nothing is
  -- allocated after that (see PENDING)
  local col = new_collection(self, { name = false, dimension = dimension, distance = distance, id = false,
    version = false, table = false, settings = settings }, ef, opts.embedding_chunk_size, persisted and persisted.name)
  local desc, errmsg, errno, sqlstate = run(self, "create_collection", opts.name, dimension,
    distance, opts.version or 2, settings, index)
  if not desc then return nil, errmsg, errno, sqlstate end
  return fill_collection(col, desc)
end

-- The embedding function a collection's settings name: pyseekdb's
-- `embedding_function`, the JS SDK 1.4's `schema.vectorIndex.embeddingFunction`
-- or its older `embeddingFunction`.
local function stored_embedding(settings)
  if type(settings) ~= "table" then return nil end
  local e = settings.embedding_function
  if type(e) ~= "table" and type(settings.schema) == "table" and type(settings.schema.vectorIndex) == "table" then
    e = settings.schema.vectorIndex.embeddingFunction
  end
  if type(e) ~= "table" then e = settings.embeddingFunction end
  if type(e) == "table" and type(e.name) == "string" then return e end
  return nil
end

-- The embedding function of an existing collection: the persisted one
-- (attached again through the registry), or the one given; and its name.
local function attach_embedding(desc, opts)
  local stored = stored_embedding(desc.settings)
  local given = opts.embedding_function
  if not stored then
    return (embedding_of(opts, "get_collection")), nil, type(given) == "string" and given or nil
  end
  if given ~= nil and given ~= stored.name then
    return nil, ("collection '%s' was created with embedding function '%s': pass "
      .. "embedding_function = '%s', or none"):format(desc.name, stored.name, stored.name)
  end
  if not registry[stored.name] then return unregistered(stored.name), nil, stored.name end
  local properties = type(stored.properties) == "table" and stored.properties or {}
  return from_registry(stored.name, properties, "get_collection"), nil, stored.name
end

local function get_collection(self, name, opts)
  local desc, err, errno, sqlstate = run(self, "describe_collection", name)
  if not desc then return nil, err, errno, sqlstate end
  local ef, why, ef_name = attach_embedding(desc, opts)
  if why then return nil, why end
  return new_collection(self, desc, ef, opts.embedding_chunk_size, ef_name)
end

--- An existing collection, v1 or v2 (made by this module, pyseekdb or the JS
-- SDK): the dimension is read from its column, the distance from its
-- index. Its stored embedding function (a registered name) is attached
-- again; `opts.embedding_function` gives one to a collection that has none
-- stored (used, not stored; a different one than the stored is an error).
-- @tparam string name
-- @tparam[opt] table opts
-- @tparam[opt] function|string opts.embedding_function
-- @tparam[opt] table opts.embedding_function_properties
-- @tparam[opt=128] integer opts.embedding_chunk_size
-- @treturn[1] Collection
-- @return[2] `nil, errmsg, errno, sqlstate` (a missing collection: 1146, `"42S02"`)
-- @usage
-- assert(client:create_collection{ name = "articles", dimension = 3, distance = "l2" })
-- local articles = assert(client:get_collection("articles"))
-- print(articles.dimension, articles.distance)   --> 3  l2
-- print(client:get_collection("nope"))   --> nil  collection 'nope' does not exist  1146  42S02
function Client:get_collection(name, opts)
  check_self(self, Client, "get_collection")
  check_opts(opts, 2, "get_collection")
  opts = opts or {}
  check_keys(opts, GET_OPTIONS, 2, "get_collection")
  check_chunk(opts.embedding_chunk_size, "get_collection")
  return get_collection(self, name, opts)
end

local ER_TABLE_EXISTS = 1050

--- The collection if it exists (its dimension, distance and version are not
-- compared with `opts`), else a new one made from `opts`. Safe when two
-- clients race to create it: the loser gets the winner's collection.
-- @tparam table opts the options of @{Client:create_collection}
-- @treturn[1] Collection
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local a = assert(client:get_or_create_collection{ name = "notes", dimension = 2 })
-- local b = assert(client:get_or_create_collection{ name = "notes", dimension = 2 })
-- print(a.id == b.id)   --> true
function Client:get_or_create_collection(opts)
  check_self(self, Client, "get_or_create_collection")
  if type(opts) ~= "table" then
    argerror(1, "get_or_create_collection", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts, GET_OR_CREATE_OPTIONS, 1, "get_or_create_collection", { dim = " (did you mean dimension?)" })
  local exists, err, errno, sqlstate = run(self, "has_collection", opts.name)
  if exists == nil then return nil, err, errno, sqlstate end
  if not exists then
    local col
    col, err, errno, sqlstate = self:create_collection(opts)
    if col or errno ~= ER_TABLE_EXISTS then return col, err, errno, sqlstate end
  end
  return get_collection(self, opts.name, opts)
end

--- Whether the collection exists: `true` or `false` (so not for `assert`:
-- test for nil).
-- @tparam string name
-- @treturn[1] boolean
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- print(client:has_collection("notes"))   --> false
-- assert(client:create_collection{ name = "notes", dimension = 2 })
-- print(client:has_collection("notes"))   --> true
function Client:has_collection(name)
  check_self(self, Client, "has_collection")
  return run(self, "has_collection", name)
end

-- Errors that say the connection, not the collection, is the trouble.
local CONNECTION_ERRNO = { [2006] = true, [2013] = true, [2014] = true }

--- All collections, v1 and v2, sorted by name, as collection objects (as in
-- pyseekdb). Catalog rows that cannot be read as a collection (their table
-- is missing, their name odd) are skipped, as both pyseekdb and the JS SDK
-- do.
-- @treturn[1] {Collection,...}
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- assert(client:create_collection{ name = "b_notes", dimension = 2 })
-- assert(client:create_collection{ name = "a_notes", dimension = 2, version = 1 })
-- local list = assert(client:list_collections())
-- print(#list, list[1].name, list[1].version, list[2].name)   --> 2  a_notes  1  b_notes
function Client:list_collections()
  check_self(self, Client, "list_collections")
  local names, err, errno, sqlstate = run(self, "list_collections")
  if not names then return nil, err, errno, sqlstate end
  local list = {}
  for _, name in ipairs(names) do
    local col
    col, err, errno, sqlstate = get_collection(self, name, {})
    if col then list[#list + 1] = col
    elseif CONNECTION_ERRNO[errno] then return nil, err, errno, sqlstate end
  end
  return result(list)
end

--- Drops a collection and its data (and its row in `sdk_collections`).
-- @tparam string name
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- assert(client:create_collection{ name = "notes", dimension = 2 })
-- print(client:delete_collection("notes"), client:has_collection("notes"))   --> true  false
function Client:delete_collection(name)
  check_self(self, Client, "delete_collection")
  return run(self, "delete_collection", name)
end

--- How many collections @{Client:list_collections} lists (as pyseekdb
-- counts).
-- @treturn[1] integer
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- print(client:count_collection())   --> 0
function Client:count_collection()
  check_self(self, Client, "count_collection")
  local list, err, errno, sqlstate = self:list_collections()
  if not list then return nil, err, errno, sqlstate end
  return #list
end

-- -------------------------------------------------------------------------
-- Databases (pyseekdb's AdminClient; on a Client too)
-- -------------------------------------------------------------------------

-- A database, as pyseekdb's Database: name, charset, collation, and the
-- tenant where the client was given one. Prints as its name; two are equal
-- when their name and tenant are.
local Database = { __name = "seekdb.Database" }
Database.__tostring = function(d) return d.name end
Database.__eq = function(a, b) return a.name == b.name and a.tenant == b.tenant end

local function database(d, tenant)
  d.tenant = tenant
  return setmetatable(d, Database)
end

--- Creates a database (`CREATE DATABASE IF NOT EXISTS`: one that exists is
-- fine, as in pyseekdb). On an @{AdminClient} too.
-- @function create_database
-- @tparam string name `^[A-Za-z0-9_]+$` (pyseekdb's rule), at most 64 characters
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- assert(client:create_database("lseekdb_usage"))
-- local db = assert(client:get_database("lseekdb_usage"))
-- print(db.name, db.charset, tostring(db))   --> lseekdb_usage  utf8mb4  lseekdb_usage
-- print(client:get_database("lseekdb_nope"))   --> nil  database 'lseekdb_nope' does not exist  1049  42000
-- assert(client:delete_database("lseekdb_usage"))

--- The database `name`. On an @{AdminClient} too.
-- @function get_database
-- @tparam string name
-- @treturn[1] Database `{name =, charset =, collation =, tenant =}`
-- @return[2] `nil, errmsg, errno, sqlstate`: `nil, "database 'x' does not exist", 1049` when
-- there is none

--- The databases, sorted by name: all of them, or a page. On an
-- @{AdminClient} too.
-- @function list_databases
-- @tparam[opt] integer|table limit at most this many, or `{limit = n, offset = k}`
-- @tparam[opt] integer offset how many to skip first
-- @treturn[1] {Database,...}
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @usage
-- local all = assert(client:list_databases())
-- local page = assert(client:list_databases{ limit = 1 })
-- print(#all >= 2, #page, page[1].name == all[1].name)   --> true  1  true

--- Drops a database and everything in it (`DROP DATABASE IF EXISTS`: one
-- that does not exist is fine, as in pyseekdb). On an @{AdminClient} too.
-- @function delete_database
-- @tparam string name
-- @treturn[1] boolean `true`
-- @return[2] `nil, errmsg, errno, sqlstate`

-- The methods shared by Client and AdminClient (`self._tenant`: the
-- tenant option, if any).
local function database_methods(class)
  -- Creates a database (`CREATE DATABASE IF NOT EXISTS`: one that exists
  -- is fine, as in pyseekdb). Names match ^[A-Za-z0-9_]+$ (pyseekdb's rule),
  -- at most 64 characters.
  function class:create_database(name)
    check_self(self, class, "create_database")
    return run(self, "create_database", name)
  end

  -- The database `name`: `{name =, charset =, collation =, tenant =}`, or
  -- `nil, "database 'x' does not exist", 1049`.
  function class:get_database(name)
    check_self(self, class, "get_database")
    local d, err, errno, sqlstate = run(self, "get_database", name)
    if not d then return nil, err, errno, sqlstate end
    return database(d, self._tenant)
  end

  -- The databases, sorted by name: `list_databases{limit = n, offset = k}`
  -- (or `list_databases(n, k)`); all of them without a limit.
  function class:list_databases(limit, offset)
    check_self(self, class, "list_databases")
    if type(limit) == "table" then
      if offset ~= nil then argerror(2, "list_databases", "give {limit =, offset =}, or limit and offset", 2) end
      check_keys(limit, { "limit", "offset" }, 1, "list_databases")
      limit, offset = limit.limit, limit.offset
    end
    local list, err, errno, sqlstate = run(self, "list_databases", limit, offset)
    if not list then return nil, err, errno, sqlstate end
    for _, d in ipairs(list) do database(d, self._tenant) end
    return result(list)
  end

  -- Drops a database and everything in it (`DROP DATABASE IF EXISTS`: one
  -- that does not exist is fine, as in pyseekdb).
  function class:delete_database(name)
    check_self(self, class, "delete_database")
    return run(self, "delete_database", name)
  end
end

database_methods(Client)

--- @section end

local AdminClient = { __name = "seekdb.AdminClient" }
AdminClient.__index = AdminClient
database_methods(AdminClient)

--- pyseekdb's AdminClient: a connection for managing databases
-- (@{Client:create_database}, @{Client:get_database},
-- @{Client:list_databases}, @{Client:delete_database}). It takes the
-- options of @{seekdb.Client}, and connects to `information_schema` unless
-- `database` is given (as pyseekdb does). `AdminClient{ path = "./mydb" }`
-- is local mode's server of that folder, as pyseekdb's
-- `AdminClient(path=...)` is its embedded database.
-- @tparam[opt] table opts the options of @{seekdb.Client}
-- @treturn[1] AdminClient an admin client
-- @return[2] `nil, errmsg, errno, sqlstate`
-- @raise on an unknown option
-- @usage
-- local admin = assert(seekdb.AdminClient())
-- assert(admin:create_database("lseekdb_usage"))
-- print(admin:get_database("lseekdb_usage").name)   --> lseekdb_usage
-- assert(admin:delete_database("lseekdb_usage"))
-- print(admin:close())   --> true
function seekdb.AdminClient(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "AdminClient", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts or {}, CLIENT_OPTIONS, 1, "AdminClient", CLIENT_HINTS)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.database = o.database or "information_schema"
  local client, err, errno, sqlstate = seekdb.Client(o)
  if not client then return nil, err, errno, sqlstate end
  return setmetatable({ _conn = client._conn, _driver = client._driver, _tenant = client._tenant }, AdminClient)
end

--- An admin client (@{seekdb.AdminClient}): `create_database`,
-- `get_database`, `list_databases` and `delete_database` as on a
-- @{Client}, and these.
-- @type AdminClient
function AdminClient:__tostring()
  return "seekdb admin " .. tostring(self._conn)
end

--- Closes the connection; calling it twice is harmless.
-- @treturn boolean `true`
function AdminClient:close()
  check_self(self, AdminClient, "close")
  return self._conn:close()
end

AdminClient.__close = AdminClient.close

--- What the client is connected to (as @{Client:info}).
-- @treturn Info
function AdminClient:info()
  check_self(self, AdminClient, "info")
  return result(self._conn:info())
end

--- @section end

-- -------------------------------------------------------------------------
-- Tasks: calls a program resumes when it likes
-- -------------------------------------------------------------------------

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack

--- Runs `fn(...)` in a coroutine that the program resumes when it likes: a
-- game loop calls `task:step()` once a frame. With a client whose `loop`
-- is `"yield"`, each step runs the task's calls until they wait for the
-- server, or for about `slice` seconds (0.5 ms) of the client's own work,
-- and returns: a frame pays about half a millisecond for the database,
-- however large the call (README: Hosts; examples/game_loop.lua).
-- @tparam function fn the task, which makes its calls in place
-- @param ... fn's arguments
-- @treturn Task a task: `task:step()` returns `false` while it runs, then `true` and fn's
-- results (also on every later step); an error in fn is raised by `step`.
-- `task:done()` says whether it has finished.
-- @raise when fn is not callable
-- @usage
-- local game = assert(seekdb.Client{ loop = "yield" })
-- local moves = assert(game:create_collection{ name = "moves", dimension = 2 })
-- local task = seekdb.task(function(ids)
--   assert(moves:upsert{ ids = ids, embeddings = { { 1, 0 }, { 0, 1 } } })
--   return moves:count()
-- end, { "p1", "p2" })
-- local frames, done, count = 0, false, nil
-- repeat -- once a frame: update, draw, and one step of the task
--   frames = frames + 1
--   done, count = task:step()
-- until done
-- print(count, frames > 1, task:done())   --> 2  true  true
function seekdb.task(fn, ...)
  if not callable(fn) then argerror(1, "task", "function expected, got " .. type(fn), 2) end
  local args = pack(...)
  local co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  local task, results = {}, nil
  function task.step()
    if results then return true, unpack(results, 1, results.n) end
    local r = pack(coroutine.resume(co))
    if not r[1] then error(r[2], 0) end
    if coroutine.status(co) ~= "dead" then return false end
    results = pack(unpack(r, 2, r.n))
    return true, unpack(results, 1, results.n)
  end
  function task.done() return results ~= nil end
  return task
end

--- What @{task} returns.
-- @table Task
-- @tfield function step `task:step()`: one more step; `false` while the task runs, then
-- `true` and the function's results (again on later steps); an error in the function is
-- raised here
-- @tfield function done `task:done()`: `true` once the task has finished

return seekdb
