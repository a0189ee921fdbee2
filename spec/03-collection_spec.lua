local seekdb = require "seekdb"
local helper = require "helper"

describe("collections", function()
  local client, dialect
  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
  end)
  teardown(function() helper.drop(client) end)

  it("are created, found, listed and deleted", function()
    local col = assert(client:create_collection { name = "books", dimension = 3, distance = "l2" })
    assert.are.same({ "books", 3, "l2" }, { col.name, col.dimension, col.distance })
    assert.are.equal("seekdb collection 'books' (dimension 3, l2 distance)", tostring(col))
    assert.is_true(client:has_collection("books"))
    local again = assert(client:get_collection("books"))
    assert.are.same({ "books", 3, "l2" }, { again.name, again.dimension, again.distance })
    local list = assert(client:list_collections())
    assert.are.equal(1, #list)
    assert.are.equal("books", list[1].name)
    assert.is_true(client:delete_collection("books"))
    assert.is_false(client:has_collection("books"))
  end)

  it("default to cosine distance and read it back", function()
    local col = assert(client:create_collection { name = "cos", dimension = 5 })
    assert.are.equal("cosine", col.distance)
    assert.are.equal("cosine", assert(client:get_collection("cos")).distance)
    assert(client:delete_collection("cos"))
  end)

  it("use dimension 384 when there is neither a dimension nor an embedding function", function()
    local col = assert(client:create_collection { name = "d384" })
    assert.are.equal(384, col.dimension)
    assert(client:delete_collection("d384"))
  end)

  it("learn the dimension from the embedding function", function()
    local calls = 0
    local col = assert(client:create_collection { name = "probe", embedding_function = function(docs)
      calls = calls + 1
      local out = {}
      for i = 1, #docs do out[i] = { 1, 2, 3, 4, 5, 6, 7 } end
      return out
    end })
    assert.are.equal(7, col.dimension)
    assert.are.equal(1, calls)
    assert.are.equal(7, assert(client:get_collection("probe")).dimension)
    assert(client:delete_collection("probe"))
  end)

  it("report a failing embedding function at create time", function()
    local col, err = client:create_collection { name = "probe2", embedding_function = function() error("no model") end }
    assert.is_nil(col)
    assert.matches("embedding function failed on a sample text: .*no model", err)
    assert.is_false(client:has_collection("probe2"))
  end)

  it("refuse bad names before any SQL", function()
    for _, name in ipairs { "", "a b", "a-b", "x;DROP TABLE t", "a`b", "é", ("x"):rep(513), "a\0b" } do
      local col, err = client:create_collection { name = name, dimension = 3 }
      assert.is_nil(col)
      assert.matches("invalid collection name", err)
      assert.matches("invalid collection name", select(2, client:get_collection(name)))
      assert.matches("invalid collection name", select(2, client:delete_collection(name)))
    end
    assert.are.equal(0, #assert(client:list_collections()))
    assert.has_error(function() client:create_collection { name = 5, dimension = 3 } end)
  end)

  it("refuse bad dimensions and distances", function()
    assert.matches("dimension 0 is out of range", select(2, client:create_collection { name = "x", dimension = 0 }))
    local too_wide = dialect == "mariadb" and 16384 or 4097
    assert.matches("dimension " .. too_wide .. " is out of range",
      select(2, client:create_collection { name = "x", dimension = too_wide }))
    assert.has_error(function() client:create_collection { name = "x", dimension = "3" } end)
    assert.has_error(function() client:create_collection { name = "x", dimension = 3, distance = "manhattan" } end)
  end)

  it("take long names as pyseekdb does: up to 512 characters in version 2, 59 in version 1", function()
    local long = ("n"):rep(512)
    local col = assert(client:create_collection { name = long, dimension = 2 })
    assert.are.equal(long, col.name)
    assert(col:upsert { ids = "a", embeddings = { 1, 2 } })
    assert.are.equal(1, assert(client:get_collection(long)):count())
    local names = {}
    for _, c in ipairs(assert(client:list_collections())) do names[#names + 1] = c.name end
    assert.are.same({ long }, names)
    assert.matches("longer than 59", select(2, client:create_collection { name = ("v"):rep(60), dimension = 2, version = 1 }))
    assert(client:delete_collection(long))
  end)

  it("say clearly that MariaDB has no inner product", function()
    if dialect ~= "mariadb" then return pending("MariaDB only") end
    local col, err = client:create_collection { name = "ip", dimension = 3, distance = "inner_product" }
    assert.is_nil(col)
    assert.matches("MariaDB has no inner%-product distance", err)
  end)

  it("report a duplicate and a missing collection with the server's errno", function()
    assert(client:create_collection { name = "dup", dimension = 3 })
    local col, err, errno = client:create_collection { name = "dup", dimension = 3 }
    assert.is_nil(col)
    assert.are.equal("collection 'dup' already exists", err)
    assert.are.equal(1050, errno) -- whatever the catalog's layout
    assert.are.equal("collection 'dup' already exists",
      select(2, client:create_collection { name = "dup", dimension = 3, version = 1 }))
    assert(client:create_collection { name = "dup1", dimension = 3, version = 1 })
    local _, err1, errno1 = client:create_collection { name = "dup1", dimension = 3, version = 1 }
    assert.are.equal("collection 'dup1' already exists", err1)
    assert.are.equal(1050, errno1)
    assert.are.equal("collection 'dup1' already exists", select(2, client:create_collection { name = "dup1", dimension = 3 }))
    assert(client:delete_collection("dup1"))
    assert(client:delete_collection("dup"))
    local _, err2, errno2 = client:get_collection("dup")
    assert.are.equal("collection 'dup' does not exist", err2)
    assert.are.equal(1146, errno2)
    local _, err3, errno3 = client:delete_collection("dup")
    assert.are.equal("collection 'dup' does not exist", err3)
    assert.are.equal(1051, errno3)
  end)

  it("get_or_create returns the existing one or makes it", function()
    local a = assert(client:get_or_create_collection { name = "goc", dimension = 4 })
    assert.are.equal(4, a.dimension)
    assert(a:upsert { ids = "x", embeddings = { 1, 2, 3, 4 } })
    local b = assert(client:get_or_create_collection { name = "goc", dimension = 4 })
    assert.are.equal(1, b:count())
    assert(client:delete_collection("goc"))
  end)

  it("take registered embedding functions by name", function()
    seekdb.register_embedding_function("ones3", function()
      return function(docs)
        local out = {}
        for i = 1, #docs do out[i] = { 1, 1, 1 } end
        return out
      end
    end)
    local col = assert(client:create_collection { name = "named", embedding_function = "ones3" })
    assert.are.equal(3, col.dimension)
    assert(col:upsert { ids = "a", documents = "hello" })
    local got = assert(client:get_collection("named", { embedding_function = "ones3" }))
    assert(got:upsert { ids = "b", documents = "again" })
    assert.are.equal(2, got:count())
    assert.has_error(function() client:create_collection { name = "x", embedding_function = "nope" } end)
    assert(client:delete_collection("named"))
  end)

  it("keep their client alive", function()
    local c = helper.fresh()
    local col = assert(c:create_collection { name = "alive", dimension = 2 })
    local db = helper.databases[c]
    c = nil -- luacheck: ignore
    collectgarbage()
    assert(col:upsert { ids = "a", embeddings = { 1, 2 } })
    assert.are.equal(1, col:count())
    col.client:query("DROP DATABASE " .. db)
    col.client:close()
    assert.has_error(function() col:count() end, "attempt to use a closed seekdb client")
  end)
end)
