-- Vectors as bytes (issue 13, item 3): seekdb.vector, float32s in a
-- userdata, accepted wherever a vector is (upsert, add, update, query,
-- hybrid_search, what an embedding function returns) and returned by get,
-- query, peek and hybrid_search on request (`vectors = "vector"`, or the
-- client option). Every method in the blocking form and under
-- loop = "yield"; hostile byte lengths; under LuaJIT the floats through FFI.
local seekdb = require "seekdb"
local core = require "seekdb.core"
local helper = require "helper"

local DIM = 4
local unpack = table.unpack or unpack

-- float32 little-endian bytes of a list of numbers: string.pack where there
-- is one (Lua 5.4), else by hand (LuaJIT), so that the bytes do not come
-- from the code under test.
local function f32(t)
  if string.pack then return string.pack("<" .. ("f"):rep(#t), unpack(t)) end
  local ffi = require "ffi"
  local buf = ffi.new("float[?]", #t, t)
  return ffi.string(buf, 4 * #t) -- x86 and ARM are little-endian
end

local function is_vector(v)
  return type(v) == "userdata" and tostring(v):match("^seekdb%.vector%(") ~= nil
end

-- A result with every seekdb.vector turned into a table (to compare).
local function tables(x)
  if is_vector(x) then return x:table() end
  if type(x) ~= "table" then return x end
  local out = {}
  for k, v in pairs(x) do out[k] = tables(v) end
  return out
end

-- Some vector of the collection's dimension, as a float32 would hold it.
local function vec(i)
  return { i / 8, -i / 4, 1 + i / 16, i }
end

describe("seekdb.vector", function()
  it("is made from float32 little-endian bytes, a list or a vector", function()
    local b = "\0\0\128\63" .. "\0\0\0\192" .. "\0\0\0\63" -- 1, -2, 0.5
    local v = assert(seekdb.vector(b))
    assert.are.equal(3, #v)
    assert.are.equal(1, v[1]); assert.are.equal(-2, v[2]); assert.are.equal(0.5, v[3])
    assert.is_nil(v[0]); assert.is_nil(v[4]); assert.is_nil(v[1.5]); assert.is_nil(v.nothing)
    assert.are.equal(b, v:bytes())
    assert.are.same({ 1, -2, 0.5 }, v:table())
    assert.are.equal(v, assert(seekdb.vector { 1, -2, 0.5 }))
    assert.are.equal(v, assert(seekdb.vector(b, 3)))
    assert.are.equal(v, seekdb.vector(v)) -- itself
    assert.are_not.equal(v, assert(seekdb.vector { 1, -2, 0.25 }))
    assert.are_not.equal(v, assert(seekdb.vector { 1, -2 }))
    assert.are.equal(f32 { 0.1, 0.2 }, assert(seekdb.vector { 0.1, 0.2 }):bytes())
    assert.are.equal("seekdb.vector(3): [1, -2, 0.5]", tostring(v))
    assert.are.equal("seekdb.vector(10): [0.1, 0.2, 0, 0, 0, 0, 0, 0, ...]",
      tostring(assert(seekdb.vector { 0.1, 0.2, 0, 0, 0, 0, 0, 0, 0, 0 })))
    assert.are.equal("seekdb.vector", getmetatable(v))
    assert.is_true(v:pointer() ~= nil and type(v:pointer()) == "userdata")
  end)

  it("raises for lengths that are not float32s, naming the length; 0 and too many too", function()
    for _, n in ipairs { 1, 3, 5, 7, 1537 } do
      local ok, err = pcall(seekdb.vector, ("\0"):rep(n))
      assert.is_false(ok)
      assert.matches(("^bad argument #1 to '.-' %%(%d bytes are not float32s: the length must be a multiple of 4%%)$")
        :format(n), err)
    end
    assert.has_error(function() seekdb.vector("") end)
    local ok, err = pcall(seekdb.vector, "")
    assert.is_false(ok); assert.matches("0 bytes: a vector has at least one float32", err)
    ok, err = pcall(seekdb.vector, ("\0"):rep(4 * 65536))
    assert.is_false(ok); assert.matches("262144 bytes are 65536 float32s; a vector has at most 65535", err, 1, true)
    ok, err = pcall(seekdb.vector, {})
    assert.is_false(ok); assert.matches("an empty list", err)
    ok, err = pcall(seekdb.vector, { 1, "2" })
    assert.is_false(ok); assert.matches("list[2] must be a number, got string", err, 1, true)
    ok, err = pcall(seekdb.vector, 42)
    assert.is_false(ok); assert.matches("got number", err)
    ok, err = pcall(seekdb.vector, io.stdout)
    assert.is_false(ok); assert.matches("got userdata", err)
    ok, err = pcall(seekdb.vector, "abcd", 0)
    assert.is_false(ok); assert.matches("dimension must be an integer from 1 to 65535", err)
    ok, err = pcall(seekdb.vector, "abcd", 1.5)
    assert.is_false(ok)
    -- the largest allowed is fine
    assert.are.equal(65535, #assert(seekdb.vector(("\0"):rep(4 * 65535))))
  end)

  it("returns nil, err for NaN, infinity, too large a number and a dimension other than asked", function()
    local inf, ninf, nan = "\0\0\128\127", "\0\0\128\255", "\0\0\192\127"
    local one = "\0\0\128\63"
    for _, case in ipairs { { inf, 1 }, { one .. ninf, 2 }, { one .. one .. nan, 3 } } do
      local v, err = seekdb.vector(case[1])
      assert.is_nil(v)
      assert.are.equal(("seekdb.vector: bytes has an item that is NaN or infinite (float32 %d, bytes %d..%d)")
        :format(case[2], 4 * case[2] - 3, 4 * case[2]), err)
    end
    local v, err = seekdb.vector { 1, 0 / 0 }
    assert.is_nil(v); assert.are.equal("seekdb.vector: list[2] is NaN or infinite", err)
    v, err = seekdb.vector { 1e39 }
    assert.is_nil(v); assert.are.equal("seekdb.vector: list[1] is too large for a float32", err)
    v, err = seekdb.vector(one, 2)
    assert.is_nil(v); assert.are.equal("seekdb.vector: bytes has 1 numbers; the dimension asked for is 2", err)
    v, err = seekdb.vector({ 1, 2, 3 }, 2)
    assert.is_nil(v); assert.are.equal("seekdb.vector: list has 3 numbers; the dimension asked for is 2", err)
  end)

  it("decodes what a server sends, float32 bytes or seekdb's text, with no table", function()
    local v = core.decode_vector(f32 { 1, 2.5, -3 }, 3, false, true)
    assert.is_true(is_vector(v)); assert.are.same({ 1, 2.5, -3 }, v:table())
    v = core.decode_vector("[1, 2.5,-3]", 3, true, true)
    assert.is_true(is_vector(v)); assert.are.same({ 1, 2.5, -3 }, v:table())
    assert.is_nil(core.decode_vector("[1,2]", 3, true, true))
    assert.is_nil(core.decode_vector(("\0"):rep(11), 3, false, true))
    assert.is_nil(core.decode_vector("", 3, false, true))
  end)

  it("makes the same statements as tables do, in both dialects (golden)", function()
    local t = { { 0.1, 0.2, 0.3 }, { -1, 2.5, 1e-3 } }
    local v = { assert(seekdb.vector(f32(t[1]))), assert(seekdb.vector(t[2])) }
    for _, d in ipairs { "seekdb", "mariadb" } do
      assert.are.same(core.sql(d, "upsert", "c$v1$c", 3, { ids = { "a", "b" }, embeddings = t }),
        core.sql(d, "upsert", "c$v1$c", 3, { ids = { "a", "b" }, embeddings = { v[1], t[2] } }))
      assert.are.same(core.sql(d, "upsert", "c$v1$c", 3, { ids = "a", embeddings = t[1] }),
        core.sql(d, "upsert", "c$v1$c", 3, { ids = "a", embeddings = v[1] }))
      assert.are.same(core.sql(d, "query", "c$v1$c", 3, "l2", { query_embeddings = t }),
        core.sql(d, "query", "c$v1$c", 3, "l2", { query_embeddings = v }))
      assert.are.same(core.sql(d, "query", "c$v1$c", 3, "l2", { query_embeddings = t[2] }),
        core.sql(d, "query", "c$v1$c", 3, "l2", { query_embeddings = v[2] }))
    end
    assert.are.same(core.sql("seekdb", "hybrid_search", "c$v1$c", 3, "cosine", { knn = { query_embeddings = t[1] } }),
      core.sql("seekdb", "hybrid_search", "c$v1$c", 3, "cosine", { knn = { query_embeddings = v[1] } }))
    assert.are.same(core.sql("seekdb", "hybrid_search", "c$v1$c", 3, "cosine", { knn = { query_embeddings = t } }),
      core.sql("seekdb", "hybrid_search", "c$v1$c", 3, "cosine", { knn = { query_embeddings = v } }))
  end)

  if jit then
    it("gives LuaJIT the floats through FFI, without a copy", function()
      local ffi = require "ffi"
      local v = assert(seekdb.vector(f32 { 0.5, 1.5, -2 }))
      local p = ffi.cast("const float *", v:pointer())
      assert.are.equal(0.5, p[0]); assert.are.equal(1.5, p[1]); assert.are.equal(-2, p[2])
      assert.are.equal(v:pointer(), v:pointer()) -- the same memory each time
      local w = ffi.cast("float *", v:pointer())
      w[1] = 4 -- (documented as read-only; a program that writes sees it)
      assert.are.equal(4, v[2])
    end)
  end
end)

for _, mode in ipairs { "blocking", "yield" } do
  describe("vectors as bytes (" .. mode .. ")", function()
    local client, col
    setup(function() client = helper.fresh(mode == "yield" and { loop = "yield" } or nil) end)
    teardown(function() helper.drop(client) end)
    before_each(function()
      client:delete_collection("vb")
      col = assert(client:create_collection { name = "vb", dimension = DIM, distance = "l2" })
    end)

    it("upsert, add and update take vectors, alone or mixed with tables", function()
      assert(col:upsert { ids = { "a", "b", "c" },
        embeddings = { assert(seekdb.vector(f32(vec(1)))), vec(2), assert(seekdb.vector(vec(3))) },
        documents = { "A", "B", "C" } })
      assert(col:upsert { ids = "d", embeddings = assert(seekdb.vector(f32(vec(4)))) }) -- one vector, one row
      assert(col:add { ids = { "e" }, embeddings = { assert(seekdb.vector(f32(vec(5)))) } })
      assert(col:add { ids = "f", embeddings = assert(seekdb.vector(f32(vec(6)))) })
      assert(col:update { ids = { "a" }, embeddings = { assert(seekdb.vector(f32(vec(7)))) } })
      local r = assert(col:get { ids = { "a", "b", "c", "d", "e", "f" }, include = { "embeddings" } })
      local want = {}
      for i, k in ipairs { 7, 2, 3, 4, 5, 6 } do want[i] = assert(seekdb.vector(vec(k))):table() end
      assert.are.same(want, r.embeddings)
    end)

    it("writes the same rows through the text protocol", function()
      local c2 = assert(seekdb.Client(helper.options { database = helper.databases[client], text_protocol = true,
        loop = mode == "yield" and "yield" or nil }))
      local col2 = assert(c2:get_collection("vb"))
      assert(col2:upsert { ids = { "t1", "t2" }, embeddings = { assert(seekdb.vector(f32(vec(1)))), vec(2) } })
      assert(col2:upsert { ids = "t3", embeddings = assert(seekdb.vector(f32 { 0.1, 0.2, 0.3, 0.4 })) })
      local r = assert(col:get { ids = { "t1", "t2", "t3" }, include = { "embeddings" }, vectors = "vector" })
      assert.are.equal(assert(seekdb.vector(vec(1))), r.embeddings[1])
      assert.are.equal(assert(seekdb.vector(vec(2))), r.embeddings[2])
      assert.are.equal(f32 { 0.1, 0.2, 0.3, 0.4 }, r.embeddings[3]:bytes()) -- the same float32 bits
      c2:close()
    end)

    it("get and peek return vectors on request, the same numbers as tables", function()
      local ids, embs = {}, {}
      for i = 1, 20 do ids[i], embs[i] = ("id%02d"):format(i), vec(i) end
      assert(col:upsert { ids = ids, embeddings = embs, documents = ids })
      local as_tables = assert(col:get { include = { "documents", "embeddings" } })
      local as_vectors = assert(col:get { include = { "documents", "embeddings" }, vectors = "vector" })
      for i = 1, 20 do assert.is_true(is_vector(as_vectors.embeddings[i])) end
      assert.are.same(as_tables, tables(as_vectors))
      local by_id = assert(col:get { ids = { "id03", "id01" }, include = { "embeddings" }, vectors = "vector" })
      assert.are.same({ "id03", "id01" }, by_id.ids)
      assert.are.equal(assert(seekdb.vector(vec(3))), by_id.embeddings[1])
      assert.are.same(as_tables, tables(assert(col:get { include = { "documents", "embeddings" }, vectors = "table" })))
      local p = assert(col:peek(3, { vectors = "vector" }))
      assert.are.equal(3, #p.embeddings)
      assert.is_true(is_vector(p.embeddings[1]))
      assert.are.same(tables(p), assert(col:peek(3)))
      -- a vector read back goes back in as it is
      assert(col:upsert { ids = "copy", embeddings = p.embeddings[1] })
      assert.are.same(tables(p.embeddings[1]), assert(col:get { ids = "copy", include = { "embeddings" } }).embeddings[1])
      -- misuse raises
      assert.has_error(function() col:get { vectors = "bytes" } end)
      assert.has_error(function() col:peek(1, { vector = "vector" }) end)
      assert.has_error(function() col:peek(1, 5) end)
    end)

    it("query takes vectors as query_embeddings and returns vectors on request", function()
      local ids, embs = {}, {}
      for i = 1, 10 do ids[i], embs[i] = "q" .. i, vec(i) end
      assert(col:upsert { ids = ids, embeddings = embs })
      local want = assert(col:query { query_embeddings = vec(3), n_results = 3, include = { "embeddings", "distances" } })
      local one = assert(col:query { query_embeddings = assert(seekdb.vector(f32(vec(3)))), n_results = 3,
        include = { "embeddings", "distances" } })
      assert.are.same(want, one)
      local many = assert(col:query { query_embeddings = { assert(seekdb.vector(vec(3))), vec(8) }, n_results = 3,
        include = { "embeddings", "distances" }, vectors = "vector" })
      assert.are.equal(2, #many.ids)
      -- the same rows with the same vectors (by id: near ties may come in
      -- another order from another statement, the index being approximate)
      local function by_id(r_ids, r_embs)
        local t = {}
        for k, id in ipairs(r_ids) do t[id] = r_embs[k] end
        return t
      end
      assert.is_true(is_vector(many.embeddings[1][1]))
      assert.are.same(by_id(want.ids[1], want.embeddings[1]), by_id(many.ids[1], tables(many.embeddings[1])))
      assert.are.equal("q8", many.ids[2][1])
      -- a vector of another dimension: nil, err naming it
      local r, err = col:query { query_embeddings = assert(seekdb.vector { 1, 2, 3 }), n_results = 1 }
      assert.is_nil(r); assert.are.equal("query_embeddings[1] has 3 numbers; the collection's dimension is 4", err)
      r, err = col:query { query_embeddings = { vec(1), assert(seekdb.vector { 1, 2 }) }, n_results = 1 }
      assert.is_nil(r); assert.are.equal("query_embeddings[2] has 2 numbers; the collection's dimension is 4", err)
    end)

    it("hybrid_search takes a vector for knn and returns vectors on request", function()
      local ids, embs, docs = {}, {}, {}
      for i = 1, 8 do ids[i], embs[i], docs[i] = "h" .. i, vec(i), "word" .. i .. " common" end
      assert(col:upsert { ids = ids, embeddings = embs, documents = docs })
      local args = function(q, v)
        return { query = { where_document = { ["$contains"] = "common" } },
          knn = { query_embeddings = q, n_results = 5 }, n_results = 4, include = { "embeddings", "distances" },
          vectors = v }
      end
      local want = assert(col:hybrid_search(args(vec(2))))
      local got = assert(col:hybrid_search(args(assert(seekdb.vector(f32(vec(2)))), "vector")))
      local first = got.embeddings[1]
      if type(first) == "table" and not is_vector(first) then first = first[1] end
      assert.is_true(is_vector(first))
      assert.are.same(want, tables(got))
      local r, err = col:hybrid_search(args(assert(seekdb.vector { 1, 2 })))
      assert.is_nil(r); assert.matches("knn.query_embeddings has 2 numbers; the collection's dimension is 4", err, 1, true)
    end)

    it("the client option returns vectors from every read; a call may ask for tables", function()
      assert(col:upsert { ids = { "x", "y" }, embeddings = { vec(1), vec(2) } })
      local c2 = assert(seekdb.Client(helper.options { database = helper.databases[client], vectors = "vector",
        loop = mode == "yield" and "yield" or nil }))
      local col2 = assert(c2:get_collection("vb"))
      assert.is_true(is_vector(assert(col2:get { include = { "embeddings" } }).embeddings[1]))
      assert.is_true(is_vector(assert(col2:peek(1)).embeddings[1]))
      assert.is_true(is_vector(assert(col2:query { query_embeddings = vec(1), n_results = 1,
        include = { "embeddings" } }).embeddings[1][1]))
      assert.are.equal("table", type(assert(col2:get { include = { "embeddings" }, vectors = "table" }).embeddings[1]))
      c2:close()
      assert.has_error(function() seekdb.Client(helper.options { vectors = "bytes" }) end)
    end)

    it("an embedding function may return vectors", function()
      local calls = 0
      local function ef(texts)
        calls = calls + 1
        local out = {}
        for i, t in ipairs(texts) do
          local v = { #t, i, 1, 0.5 }
          out[i] = i % 2 == 0 and v or assert(seekdb.vector(f32(v)))
        end
        return out
      end
      client:delete_collection("vb_ef")
      local c = assert(client:create_collection { name = "vb_ef", embedding_function = ef })
      assert.are.equal(4, c.dimension) -- probed from a vector
      assert(c:upsert { ids = { "a", "bb", "ccc" }, documents = { "a", "bb", "ccc" } })
      local r = assert(c:get { include = { "embeddings" }, vectors = "vector" })
      assert.are.same({ { 1, 1, 1, 0.5 }, { 2, 2, 1, 0.5 }, { 3, 3, 1, 0.5 } }, tables(r.embeddings))
      local q = assert(c:query { query_texts = { "ccccc" }, n_results = 1 }) -- {5, 1, 1, 0.5}
      assert.are.same({ { "ccc" } }, q.ids)
      assert(c:hybrid_search { knn = { query_texts = "ccc" }, n_results = 1 })
      -- a vector of the wrong dimension: nil, err naming the item
      local bad = assert(client:create_collection { name = "vb_bad", dimension = 4,
        embedding_function = function(texts)
          local out = {}
          for i = 1, #texts do out[i] = assert(seekdb.vector { 1, 2, 3 }) end
          return out
        end })
      local ok, err = bad:upsert { ids = { "a" }, documents = { "x" } }
      assert.is_nil(ok)
      assert.are.equal("embedding function returned a vector of 3 numbers for documents[1]; the collection's dimension is 4", err)
      client:delete_collection("vb_bad")
    end)

    it("refuses hostile vectors: other dimensions, other userdata, NaN written through FFI", function()
      local ok, err = col:upsert { ids = { "a", "b" }, embeddings = { vec(1), assert(seekdb.vector { 1, 2, 3 }) } }
      assert.is_nil(ok); assert.are.equal("embeddings[2] has 3 numbers; the collection's dimension is 4", err)
      ok, err = col:upsert { ids = "a", embeddings = assert(seekdb.vector(("\0"):rep(4 * 5))) }
      assert.is_nil(ok); assert.are.equal("embeddings has 5 numbers; the collection's dimension is 4", err)
      ok, err = col:upsert { ids = "a", embeddings = assert(seekdb.vector(("\0"):rep(4 * 65535))) }
      assert.is_nil(ok); assert.are.equal("embeddings has 65535 numbers; the collection's dimension is 4", err)
      assert.has_error(function() col:upsert { ids = "a", embeddings = io.stdout } end)
      assert.has_error(function() col:upsert { ids = { "a" }, embeddings = { io.stdout } } end)
      assert.are.equal(0, assert(col:count()))
      if jit then
        local ffi = require "ffi"
        local v = assert(seekdb.vector(vec(1)))
        ffi.cast("float *", v:pointer())[2] = 0 / 0
        ok, err = col:upsert { ids = "a", embeddings = v }
        assert.is_nil(ok); assert.are.equal("embeddings[3] is NaN or infinite", err)
        ok, err = col:query { query_embeddings = v }
        assert.is_nil(ok); assert.are.equal("query_embeddings[1][3] is NaN or infinite", err)
        assert.are.equal(0, assert(col:count()))
      end
    end)
  end)
end
