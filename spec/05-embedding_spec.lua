local seekdb = require "seekdb"
local helper = require "helper"

-- An embedder of dimension 3 that records how it was called.
local function recorder(calls)
  return function(docs)
    calls[#calls + 1] = #docs
    local out = {}
    for i, d in ipairs(docs) do out[i] = { #d, i, 1 } end
    return out
  end
end

describe("embedding functions", function()
  local client
  setup(function() client = helper.fresh() end)
  teardown(function() helper.drop(client) end)

  local function collection(ef, chunk)
    client:delete_collection("emb")
    return assert(client:create_collection { name = "emb", dimension = 3, embedding_function = ef,
      embedding_chunk_size = chunk })
  end

  local function docs(n)
    local ids, d = {}, {}
    for i = 1, n do ids[i], d[i] = "id" .. i, ("doc %d"):format(i) end
    return ids, d
  end

  it("are called in chunks of embedding_chunk_size", function()
    local calls = {}
    local col = collection(recorder(calls), 2)
    local ids, d = docs(5)
    assert(col:upsert { ids = ids, documents = d })
    assert.are.same({ 2, 2, 1 }, calls)
    assert.are.equal(5, col:count())
  end)

  it("are not called when embeddings are given", function()
    local calls = {}
    local col = collection(recorder(calls))
    assert(col:upsert { ids = "a", documents = "text", embeddings = { 9, 9, 9 } })
    assert.are.same({}, calls)
    helper.assert_vector({ 9, 9, 9 }, col:get { ids = "a", include = { "embeddings" } }.embeddings[1])
  end)

  it("may be callable tables", function()
    local col = collection(setmetatable({}, { __call = function(_, d)
      local out = {}
      for i = 1, #d do out[i] = { 1, 2, 3 } end
      return out
    end }))
    assert(col:upsert { ids = "a", documents = "x" })
    assert.are.equal(1, col:count())
  end)

  -- each failure: nil and a message naming the document, nothing written, client usable
  local function fails(ef, pattern, n)
    local col = collection(ef, 2)
    assert(col:upsert { ids = "kept", embeddings = { 1, 1, 1 } })
    local ids, d = docs(n or 3)
    local ok, err = col:upsert { ids = ids, documents = d }
    assert.is_nil(ok)
    assert.matches(pattern, err)
    assert.are.equal(1, col:count())
    assert(col:upsert { ids = "after", embeddings = { 2, 2, 2 } })
  end

  it("that raise abort the call", function()
    fails(function(d) if #d == 1 then error("model exploded") end return recorder({})(d) end,
      "embedding function failed on documents%[3%.%.3%]: .*model exploded")
    fails(function() error({ code = 1 }) end,
      "embedding function failed on documents%[1%.%.2%]: %(an error value of type table%)")
    fails(function() error(setmetatable({}, { __tostring = function() return "model says no" end })) end,
      "embedding function failed on documents%[1%.%.2%]: model says no")
  end)

  it("that return the wrong shape abort the call", function()
    fails(function() return nil end, "returned nil for documents%[1%.%.2%]")
    fails(function() return { { 1, 2, 3 } } end, "returned 1 vectors for documents%[1%.%.2%].*list of 2 vectors")
    fails(function(d) local o = recorder({})(d); o[2] = { 1, 2 }; return o end,
      "returned a vector of 2 numbers for documents%[2%]; the collection's dimension is 3")
    fails(function(d) local o = recorder({})(d); o[1] = { 1, "x", 3 }; return o end,
      "bad vector for documents%[1%]: it has an item that is not a number")
    fails(function(d) local o = recorder({})(d); o[#o][2] = 0 / 0; return o end,
      "bad vector for documents%[2%]: it has an item that is NaN or infinite")
  end)

  it("may yield: the call goes on when its coroutine is resumed", function()
    -- a client whose loop yields too would hand its own yields to this coroutine
    if helper.loop == "yield" then return pending("the blocking form's case (loop = \"yield\" yields itself)") end
    local calls = {}
    local col = collection(function(d)
      calls[#calls + 1] = coroutine.yield("waiting for vectors") -- what the resumer passes in
      return recorder({})(d)
    end, 2)
    local ids, d = docs(3)
    local co = coroutine.create(function() return col:upsert { ids = ids, documents = d } end)
    local ok, said = coroutine.resume(co)
    assert.is_true(ok)
    assert.are.equal("waiting for vectors", said) -- suspended inside the embedding function
    assert.are.equal("suspended", coroutine.status(co))
    assert.is_true(select(2, coroutine.resume(co, "first")) == "waiting for vectors") -- the second chunk
    local done, result = coroutine.resume(co, "second")
    assert.is_true(done)
    assert.is_true(result)
    assert.are.same({ "first", "second" }, calls)
    assert.are.equal(3, col:count())
    -- a query's texts too
    co = coroutine.create(function() return col:query { query_texts = "doc 1", n_results = 1 } end)
    assert.are.equal("waiting for vectors", select(2, coroutine.resume(co)))
    local _, r = coroutine.resume(co, "q")
    assert.are.same({ { "id1" } }, r.ids)
  end)

  it("that use the same client get a clear error", function()
    local col
    col = collection(function(d)
      assert(col:count())
      return recorder({})(d)
    end)
    local ok, err = col:upsert { ids = "a", documents = "x" }
    assert.is_nil(ok)
    assert.matches("the seekdb client is busy", err)
    assert.are.equal(0, col:count())
    local ok2, err2 = pcall(client.close, client)
    assert.is_true(ok2, err2)
    client = helper.fresh()
  end)

  it("that close the client end the call, with nothing written", function()
    local col
    col = collection(function()
      col.client:close()
      return { { 1, 2, 3 } }
    end)
    local ok, err, errno = col:upsert { ids = "a", documents = "x" }
    assert.is_nil(ok)
    assert.matches("upsert was ended before it finished: the client was closed", err)
    assert.are.equal(2013, errno)
    assert.is_true(client._conn:is_closed())
    local db = helper.databases[client]
    local again = assert(seekdb.Client(helper.options { database = db }))
    assert.are.equal(0, assert(again:get_collection("emb")):count())
    helper.databases[again] = db
    client = again
  end)

  it("may change the input tables without harm: the call writes what it was given", function()
    local input
    for _, change in ipairs {
      function() input.documents[1] = nil; input.ids = { "other" } end,
      function() input.ids, input.documents = { "x" }, { "y" } end,
      function() table.remove(input.ids); table.remove(input.documents) end,
    } do
      local col = collection(function(d)
        change()
        collectgarbage()
        return recorder({})(d)
      end)
      input = { ids = { "a", "b" }, documents = { "one", "two" } }
      assert(col:upsert(input))
      local r = assert(col:get {})
      assert.are.same({ "a", "b" }, r.ids)
      assert.are.same({ "one", "two" }, r.documents)
    end
  end)

  it("refuse a null document that needs a vector", function()
    local col = collection(recorder({}))
    local ok, err = col:upsert { ids = { "a", "b" }, documents = { "x", seekdb.null } }
    assert.is_nil(ok)
    assert.matches("documents%[2%] is seekdb.null, so there is no text to embed", err)
    assert.are.equal(0, col:count())
  end)
end)
