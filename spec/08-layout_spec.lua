-- What lands on the server is pyseekdb's layout, so either side reads the
-- other's rows.
local seekdb = require "seekdb"
local helper = require "helper"

describe("the on-server layout", function()
  local client, dialect, col
  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
    col = assert(client:create_collection { name = "layout", dimension = 3 })
  end)
  teardown(function() helper.drop(client) end)

  it("is a c$v1$<name> table with pyseekdb's columns", function()
    local cols = {}
    for _, r in ipairs(assert(client:query("SHOW COLUMNS FROM `" .. col._table .. "`"))) do
      cols[#cols + 1] = r.Field .. " " .. r.Type:lower()
    end
    if dialect == "mariadb" then
      assert.are.same({ "_id varbinary(254)", "document longtext", "embedding vector(3)", "metadata longtext" }, cols)
    else
      assert.are.same("_id", cols[1]:match("^%S+"))
    end
  end)

  it("stores ids as bytes, vectors as float32 and metadata as JSON text", function()
    assert(col:upsert { ids = "ü-1", embeddings = { 1, -2, 0.5 }, documents = "text", metadatas = { b = 1, a = { true } } })
    local r = assert(client:query("SELECT HEX(_id) AS id, document, metadata, HEX(embedding) AS v FROM `" .. col._table .. "`"))[1]
    assert.are.equal("C3BC2D31", r.id)
    assert.are.equal("text", r.document)
    assert.are.equal('{"a":[true],"b":1}', r.metadata)
    if dialect == "mariadb" then assert.are.equal("0000803F000000C00000003F", r.v) end
  end)

  it("reads rows written the way pyseekdb writes them", function()
    if dialect ~= "mariadb" then return pending("MariaDB SQL") end
    -- pyseekdb: CAST(? AS BINARY) ids, json.dumps metadata (with spaces), X'..' vectors
    assert(client:query("INSERT INTO `" .. col._table .. [[` (_id, document, metadata, embedding) VALUES
      (CAST('py-1' AS BINARY), 'from python', '{"category": "AI", "score": 95, "tags": ["x", "y"], "r": 0.25, "n": null}',
       X'cdcccc3dcdcc4c3e9a99993e'),
      (CAST('py-2' AS BINARY), NULL, NULL, VEC_FromText('[1,2,3]'))]]))
    local r = assert(col:get { ids = { "py-2", "py-1" }, include = { "documents", "metadatas", "embeddings" } })
    assert.are.same({ "py-2", "py-1" }, r.ids)
    assert.are.same({ seekdb.null, "from python" }, r.documents)
    assert.are.same({ category = "AI", score = 95, tags = { "x", "y" }, r = 0.25, n = seekdb.null }, r.metadatas[2])
    assert.are.equal(seekdb.null, r.metadatas[1])
    helper.assert_vector({ 1, 2, 3 }, r.embeddings[1])
    helper.assert_vector({ 0.1, 0.2, 0.3 }, r.embeddings[2])
  end)

  it("finds a collection made by hand with pyseekdb's DDL", function()
    if dialect ~= "mariadb" then return pending("MariaDB SQL") end
    assert(client:query([[CREATE TABLE `c$v1$by_hand` (_id VARBINARY(254) PRIMARY KEY NOT NULL,
      document LONGTEXT, embedding VECTOR(5) NOT NULL, metadata JSON,
      VECTOR INDEX (embedding) DISTANCE=cosine)]]))
    local got = assert(client:get_collection("by_hand"))
    assert.are.same({ 5, "cosine" }, { got.dimension, got.distance })
    assert(got:upsert { ids = "a", embeddings = { 1, 2, 3, 4, 5 } })
    assert.are.equal(1, got:count())
  end)

  it("refuses a table that is not a collection", function()
    assert(client:query("CREATE TABLE `c$v1$plain` (id INT PRIMARY KEY)"))
    local got, err = client:get_collection("plain")
    assert.is_nil(got)
    assert.matches("is not a collection", err)
  end)
end)

describe("get", function()
  local client, col
  setup(function()
    client = helper.fresh()
    col = assert(client:create_collection { name = "g", dimension = 2 })
    local ids, vecs = {}, {}
    for i = 1, 20 do ids[i], vecs[i] = ("k%02d"):format(i), { i, -i } end
    assert(col:upsert { ids = ids, embeddings = vecs, documents = ids })
  end)
  teardown(function() helper.drop(client) end)

  it("returns the requested ids in the requested order, each once", function()
    local r = assert(col:get { ids = { "k05", "nope", "k01", "k05", "k20" } })
    assert.are.same({ "k05", "k01", "k20" }, r.ids)
    assert.are.same({ "k05", "k01", "k20" }, r.documents)
    assert.is_nil(r.embeddings)
  end)

  it("includes what is asked for", function()
    local r = assert(col:get { ids = "k03", include = { "embeddings" } })
    assert.are.same({ "k03" }, r.ids)
    assert.is_nil(r.documents)
    assert.is_nil(r.metadatas)
    helper.assert_vector({ 3, -3 }, r.embeddings[1])
    assert.has_error(function() col:get { include = { "distances" } } end)
  end)

  it("pages with limit and offset", function()
    assert.are.equal(100 > 20 and 20 or 100, #assert(col:get {}).ids)
    local r = assert(col:get { limit = 5, offset = 2 })
    assert.are.equal(5, #r.ids)
    local r2 = assert(col:get { ids = { "k01", "k02", "k03", "k04" }, limit = 2, offset = 1 })
    assert.are.same({ "k02", "k03" }, r2.ids)
    assert.has_error(function() col:get { limit = -1 } end)
  end)

  it("counts", function()
    assert.are.equal(20, col:count())
  end)

  it("refuses ids that are not a list", function()
    assert.has_error(function() col:get { ids = { x = "k01" } } end,
      "bad argument #1 to 'get' (ids must be a list with keys 1..n (no holes, no other keys))")
    assert.has_error(function() col:get { ids = { "k01", 2 } } end, "bad argument #1 to 'get' (ids[2] must be a string, got number)")
  end)
end)

describe("vectors from the server", function()
  local core = require "seekdb.core"
  it("decode from MariaDB's float32 bytes and seekdb's text", function()
    assert.are.same({ 1, -2, 0.5 }, core.decode_vector(helper.f32bytes(1, -2, 0.5), 3))
    assert.are.same({ 1, -2, 0.5 }, core.decode_vector("[1,-2,0.5]", 3, true))
    assert.are.same({ 1, 2 }, core.decode_vector("[ 1 , 2 ]", 2, true))
    assert.are.same({ helper.f32(1.5e-3), 2 }, core.decode_vector("[1.5e-3,2]", 2, true))
    assert.is_nil(core.decode_vector("[1,2]", 3, true))
    assert.is_nil(core.decode_vector("[1,,2]", 2, true))
    assert.is_nil(core.decode_vector("[1,2", 2, true))
    -- from MariaDB, bytes that happen to spell "[12]" are a float, not text
    local v = core.decode_vector("[12]", 1)
    assert.are.equal(1, #v)
    assert.is_true(v[1] > 8e17 and v[1] < 8.1e17)
    assert.is_nil(core.decode_vector("abc", 2))
    assert.is_nil(core.decode_vector(helper.f32bytes(1, 2), 3))
  end)
end)

describe("include", function()
  local client, col
  setup(function()
    client = helper.fresh()
    col = assert(client:create_collection { name = "inc", dimension = 2 })
    assert(col:upsert { ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } }, documents = { "A", "B" },
      metadatas = { { n = 1 }, { n = 2 } } })
  end)
  teardown(function() helper.drop(client) end)

  local function subsets(names)
    local out = { {} }
    for _, n in ipairs(names) do
      for i = 1, #out do
        local s = { helper.unpack(out[i]) }
        s[#s + 1] = n
        out[#out + 1] = s
      end
    end
    return out
  end

  it("gives get exactly the fields asked for, in every combination", function()
    for _, inc in ipairs(subsets { "documents", "metadatas", "embeddings" }) do
      local r = assert(col:get { ids = { "b", "a" }, include = inc })
      local keys = { "ids" }
      for _, k in ipairs(inc) do keys[#keys + 1] = k end
      local got = {}
      for k in pairs(r) do got[#got + 1] = k end
      table.sort(keys)
      table.sort(got)
      assert.are.same(keys, got)
      assert.are.same({ "b", "a" }, r.ids)
      if r.documents then assert.are.same({ "B", "A" }, r.documents) end
      if r.metadatas then assert.are.same({ { n = 2 }, { n = 1 } }, r.metadatas) end
      if r.embeddings then assert.are.same({ { 0, 1 }, { 1, 0 } }, r.embeddings) end
    end
  end)

  it("gives query exactly the fields asked for, in every combination", function()
    for _, inc in ipairs(subsets { "documents", "metadatas", "embeddings", "distances" }) do
      local r = assert(col:query { query_embeddings = { 1, 0 }, n_results = 2, include = inc })
      local keys = { "ids" }
      for _, k in ipairs(inc) do keys[#keys + 1] = k end
      local got = {}
      for k in pairs(r) do got[#got + 1] = k end
      table.sort(keys)
      table.sort(got)
      assert.are.same(keys, got)
      assert.are.same({ { "a", "b" } }, r.ids)
      if r.documents then assert.are.same({ { "A", "B" } }, r.documents) end
      if r.distances then assert.are.equal(0, r.distances[1][1]) end
    end
  end)
end)
