-- Collections as pyseekdb (since January 2026) and the JS SDK make them:
-- listed in sdk_collections, table c$v2$<id>, settings with the embedding
-- function's name and properties.
local seekdb = require "seekdb"
local helper = require "helper"

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

describe("v2 collections", function()
  local client, dialect
  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
    seekdb.register_embedding_function("hashing", hashing)
  end)
  teardown(function()
    seekdb.register_embedding_function("hashing", nil)
    helper.drop(client)
  end)

  it("are created by default, with a row in sdk_collections", function()
    local col = assert(client:create_collection { name = "books", dimension = 3 })
    assert.are.equal(2, col.version)
    assert.matches("^%x+$", col.id)
    assert.are.equal(32, #col.id)
    assert.are.equal("c$v2$" .. col.id, col._table)
    local row = assert(client:query("SELECT collection_id, collection_name, settings FROM sdk_collections"))[1]
    assert.are.same({ col.id, "books" }, { row.collection_id, row.collection_name })
    assert.are.equal('{"version":2}', row.settings)
    assert(col:upsert { ids = "a", embeddings = { 1, 2, 3 } })
    assert.are.equal(1, assert(client:get_collection("books")):count())
    assert(client:delete_collection("books"))
    assert.are.same({}, assert(client:query("SELECT * FROM sdk_collections")))
    assert.are.same({}, assert(client:query("SHOW TABLES LIKE 'c$v2$%'")))
  end)

  it("keep their embedding function's name and properties and get it back", function()
    local col = assert(client:create_collection { name = "persist", embedding_function = "hashing",
      embedding_function_properties = { dim = 6 } })
    assert.are.equal(6, col.dimension)
    local row = assert(client:query("SELECT settings FROM sdk_collections WHERE collection_name = 'persist'"))[1]
    assert.are.equal('{"embedding_function":{"name":"hashing","properties":{"dim":6}},"version":2}', row.settings)
    local other = assert(seekdb.Client(helper.options { database = helper.databases[client] }))
    local again = assert(other:get_collection("persist"))
    assert.is_function(again.embedding_function)
    assert(again:upsert { ids = { "x", "y" }, documents = { "hello world", "lua seekdb" } })
    local r = assert(again:query { query_texts = "hello world", n_results = 1 })
    assert.are.same({ { "x" } }, r.ids)
    -- the same name again is fine, another one is an error
    assert(other:get_collection("persist", { embedding_function = "hashing" }))
    local nope, err = other:get_collection("persist", { embedding_function = function() end })
    assert.is_nil(nope)
    assert.matches("was created with embedding function 'hashing'", err)
    other:close()
  end)

  it("say when a persisted embedding function is not registered", function()
    assert(client:create_collection { name = "orphan", embedding_function = "hashing" })
    seekdb.register_embedding_function("hashing", nil)
    local col = assert(client:get_collection("orphan"))
    local ok, err = col:upsert { ids = "a", documents = "text" }
    assert.is_nil(ok)
    assert.matches("embedding function 'hashing' is not registered: call seekdb.register_embedding_function", err)
    seekdb.register_embedding_function("hashing", hashing)
    assert(client:get_collection("orphan"):upsert { ids = "a", documents = "text" })
  end)

  it("live beside v1 collections: listed, found, deleted", function()
    assert(client:create_collection { name = "old_style", dimension = 2, version = 1 })
    assert(client:create_collection { name = "new_style", dimension = 2 })
    local names = {}
    for i, c in ipairs(assert(client:list_collections())) do names[i] = c.name .. ":" .. c.version end
    assert.is_true(table.concat(names, " "):find("new_style:2", 1, true) ~= nil)
    assert.is_true(table.concat(names, " "):find("old_style:1", 1, true) ~= nil)
    assert.is_true(client:has_collection("old_style"))
    assert.is_true(client:has_collection("new_style"))
    assert(client:delete_collection("old_style"))
    assert(client:delete_collection("new_style"))
    assert.is_false(client:has_collection("old_style"))
    assert.is_false(client:has_collection("new_style"))
  end)

  it("read tables written by hand the way pyseekdb writes them", function()
    if dialect ~= "mariadb" then return pending("MariaDB DDL") end
    local id = "0123456789abcdef0123456789abcdef"
    assert(client:query("CREATE TABLE IF NOT EXISTS sdk_collections (collection_id CHAR(32) PRIMARY KEY "
      .. "DEFAULT (replace(uuid(), '-', '')), collection_name VARCHAR(512), settings JSON, created_at TIMESTAMP "
      .. "DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, "
      .. "UNIQUE INDEX idx_name(collection_name))"))
    -- pyseekdb's json.dumps settings, with spaces and the JS SDK's "v2"
    assert(client:query("INSERT INTO sdk_collections (collection_id, collection_name, settings) VALUES ('" .. id
      .. [[', 'from_python', '{"version": "v2", "embedding_function": {"name": "hashing", "properties": {"dim": 4}}}')]]))
    assert(client:query("CREATE TABLE `c$v2$" .. id .. "` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, "
      .. "embedding VECTOR(4) NOT NULL, metadata JSON, VECTOR INDEX (embedding) DISTANCE=euclidean)"))
    assert(client:query("INSERT INTO `c$v2$" .. id .. [[` VALUES (CAST('k1' AS BINARY), 'doc one',
      X'0000803f000000000000000000000000', '{"lang": "py", "n": 1}')]]))
    local col = assert(client:get_collection("from_python"))
    assert.are.same({ 4, "l2", 2, id }, { col.dimension, col.distance, col.version, col.id })
    assert.is_function(col.embedding_function)
    local r = assert(col:get { ids = "k1", include = { "documents", "metadatas", "embeddings" } })
    assert.are.same({ "doc one" }, r.documents)
    assert.are.same({ lang = "py", n = 1 }, r.metadatas[1])
    helper.assert_vector({ 1, 0, 0, 0 }, r.embeddings[1])
    assert(col:upsert { ids = "k2", documents = "from lua" })
    assert.are.equal(2, col:count())
    assert(client:delete_collection("from_python"))
    assert.are.same({}, assert(client:query("SELECT * FROM sdk_collections WHERE collection_id = '" .. id .. "'")))
  end)

  it("survive two clients racing in get_or_create_collection", function()
    local db = helper.databases[client]
    local a = assert(seekdb.Client(helper.options { database = db }))
    local b = assert(seekdb.Client(helper.options { database = db }))
    -- b sees no collection, then a creates it: b's create fails on the unique name and b recovers
    assert.is_false(b:has_collection("race"))
    assert(a:create_collection { name = "race", dimension = 2 })
    local real_has = b._conn.has_collection
    local conn_mt = getmetatable(b._conn).__index
    conn_mt.has_collection = function() return false end -- b still believes it is not there
    local col, err = b:get_or_create_collection { name = "race", dimension = 2 }
    conn_mt.has_collection = real_has
    assert.is_truthy(col, err)
    assert.are.equal("race", col.name)
    assert.are.equal(1, #assert(client:query("SELECT * FROM sdk_collections WHERE collection_name = 'race'")))
    a:close()
    b:close()
  end)
end)
