local seekdb = require "seekdb"
local helper = require "helper"

local function rows(col)
  local r = assert(col:get { limit = 1000, include = { "documents", "metadatas", "embeddings" } })
  local out = {}
  for i, id in ipairs(r.ids) do
    out[id] = { document = r.documents[i], metadata = r.metadatas[i], embedding = r.embeddings[i] }
  end
  return out
end

local function ones(dim)
  return function(docs)
    local out = {}
    for i, d in ipairs(docs) do
      out[i] = {}
      for j = 1, dim do out[i][j] = #d + j end
    end
    return out
  end
end

for _, protocol in ipairs { "bulk", "text" } do
  describe("writes (" .. protocol .. " protocol)", function()
    local client, dialect, col
    setup(function()
      client = helper.fresh { text_protocol = protocol == "text" }
      dialect = helper.dialect(client)
    end)
    teardown(function() helper.drop(client) end)
    before_each(function()
      client:delete_collection("w")
      col = assert(client:create_collection { name = "w", dimension = 2, embedding_function = ones(2) })
      assert(col:upsert { ids = { "a", "b" }, embeddings = { { 1, 0 }, { 0, 1 } }, documents = { "doc a", "doc b" },
        metadatas = { { n = 1 }, { n = 2 } } })
    end)

    describe("add", function()
      it("inserts new ids", function()
        assert.is_true(col:add { ids = { "c", "d" }, embeddings = { { 1, 1 }, { 2, 2 } }, metadatas = { { n = 3 }, { n = 4 } } })
        local r = rows(col)
        assert.are.equal(4, col:count())
        assert.are.same({ n = 4 }, r.d.metadata)
        helper.assert_vector({ 2, 2 }, r.d.embedding)
      end)

      it("embeds documents", function()
        assert(col:add { ids = "c", documents = "four" })
        helper.assert_vector({ 5, 6 }, rows(col).c.embedding)
      end)

      it("refuses an id that exists, writing nothing", function()
        local ok, err, errno, sqlstate = col:add { ids = { "c", "a" }, embeddings = { { 1, 1 }, { 2, 2 } } }
        assert.is_nil(ok)
        assert.matches("an id is already in the collection %(add never overwrites: use upsert or update%)", err)
        assert.matches("'a'", err)
        assert.are.equal(1062, errno)
        assert.are.equal("23000", sqlstate)
        assert.are.equal(2, col:count())
      end)

      it("refuses an id twice in one call, before any SQL", function()
        local ok, err = col:add { ids = { "c", "d", "c" }, embeddings = { { 1, 1 }, { 2, 2 }, { 3, 3 } } }
        assert.is_nil(ok)
        assert.are.equal("ids[3] ('c') is the same id as ids[1]: add inserts each id once", err)
        assert.are.equal(2, col:count())
      end)

      it("needs vectors", function()
        local plain = assert(client:create_collection { name = "plain", dimension = 2 })
        local ok, err = plain:add { ids = "x", metadatas = { a = 1 } }
        assert.is_nil(ok)
        assert.matches("add needs embeddings, or documents and an embedding function", err)
        assert(client:delete_collection("plain"))
      end)
    end)

    describe("update", function()
      it("changes only the given fields of existing ids and returns the missing ones", function()
        local res = assert(col:update { ids = { "a", "zz", "b", "zz" }, metadatas = { { n = 10 }, { n = 0 }, { n = 20 }, { n = 0 } } })
        assert.are.same({ updated = 2, missing = { "zz" } }, res)
        local r = rows(col)
        assert.are.equal(2, col:count())
        assert.are.same({ n = 10 }, r.a.metadata)
        assert.are.equal("doc a", r.a.document)
        helper.assert_vector({ 1, 0 }, r.a.embedding)
      end)

      it("re-embeds documents given without embeddings", function()
        assert.are.same({ updated = 1, missing = {} }, assert(col:update { ids = "b", documents = "longer doc" }))
        local r = rows(col)
        assert.are.equal("longer doc", r.b.document)
        helper.assert_vector({ 11, 12 }, r.b.embedding)
        assert.are.same({ n = 2 }, r.b.metadata)
      end)

      it("with only missing ids writes nothing", function()
        assert.are.same({ updated = 0, missing = { "x", "y" } },
          assert(col:update { ids = { "x", "y" }, embeddings = { { 1, 1 }, { 1, 1 } } }))
        assert.are.equal(2, col:count())
      end)

      it("is atomic", function()
        local ok, err = col:update { ids = { "a", "b" }, embeddings = { { 5, 5 }, { 1, 2, 3 } } }
        assert.is_nil(ok)
        assert.matches("embeddings%[2%] has 3 numbers", err)
        helper.assert_vector({ 1, 0 }, rows(col).a.embedding)
      end)
    end)

    describe("delete", function()
      before_each(function()
        assert(col:upsert { ids = { "c", "d" }, embeddings = { { 1, 1 }, { 2, 2 } },
          documents = { "the quick brown fox", "lazy dogs sleep" }, metadatas = { { n = 3, tag = "x" }, { n = 4, tag = "y" } } })
      end)

      it("deletes by ids and returns the count", function()
        assert.are.equal(2, col:delete { ids = { "a", "b", "nope" } })
        assert.are.same({ "c", "d" }, col:get {}.ids)
        assert.are.equal(0, col:delete { ids = {} })
        assert.are.equal(1, col:delete { ids = "c" })
      end)

      it("deletes by where and where_document", function()
        assert.are.equal(2, col:delete { where = { n = { ["$gte"] = 3 } } })
        assert.are.same({ "a", "b" }, col:get {}.ids)
        assert(col:upsert { ids = "e", embeddings = { 1, 1 }, documents = "the quick brown fox" })
        assert.are.equal(1, col:delete { where_document = { ["$contains"] = "quick" } })
        assert.are.equal(0, col:delete { ids = "a", where = { n = 99 } })
        assert.are.equal(2, col:count())
      end)

      it("needs something to match", function()
        assert.has_error(function() col:delete {} end,
          "bad argument #1 to 'delete' (delete needs ids, where or where_document (to delete everything, delete the collection))")
        assert.has_error(function() col:delete { id = "a" } end)
        assert.are.equal(4, col:count())
      end)
    end)

    it("peeks", function()
      local r = assert(col:peek(1))
      assert.are.equal(1, #r.ids)
      assert.is_table(r.embeddings[1])
      assert.are.equal(2, #col:peek().ids)
    end)
  end)
end
