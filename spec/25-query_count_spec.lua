-- A query returns what it promises (issue 13, item 6): min(n_results, rows
-- that match its filters), every time, whatever the filter's selectivity;
-- the rows of an exact scan are the true nearest. And several query vectors
-- in one call go to the server as one statement (item 4).
local seekdb = require "seekdb"
local core = require "seekdb.core"
local helper = require "helper"

local N, DIM = 3000, 16
local vecs = helper.vectors(N, DIM, 4242)
local ids, metas, docs = {}, {}, {}
for i = 1, N do
  ids[i] = "r" .. i
  metas[i] = { b = (i - 1) % 200 }
  docs[i] = i % 150 == 7 and ("needle " .. i) or ("hay " .. i)
end
local f32 = {}
for i = 1, N do
  f32[i] = {}
  for j = 1, DIM do f32[i][j] = helper.f32(vecs[i][j]) end
end

-- the filters, each with the rows it keeps
local filters = {
  { label = "no filter", keep = function() return true end },
  { label = "50%", where = { b = { ["$lt"] = 100 } }, keep = function(i) return (i - 1) % 200 < 100 end },
  { label = "5%", where = { b = { ["$lt"] = 10 } }, keep = function(i) return (i - 1) % 200 < 10 end },
  { label = "0.5%", where = { b = 0 }, keep = function(i) return (i - 1) % 200 == 0 end },
  { label = "where_document, 20 rows", where_document = { ["$contains"] = "needle" },
    keep = function(i) return i % 150 == 7 end },
}
for _, f in ipairs(filters) do
  f.count = 0
  for i = 1, N do if f.keep(i) then f.count = f.count + 1 end end
end

local function l2(a, b)
  local s = 0
  for j = 1, DIM do s = s + (a[j] - b[j]) ^ 2 end
  return math.sqrt(s)
end

-- the sorted distances of the k nearest matching rows
local function brute(q, k, keep)
  local qf, d = {}, {}
  for j = 1, DIM do qf[j] = helper.f32(q[j]) end
  for i = 1, N do if keep(i) then d[#d + 1] = l2(f32[i], qf) end end
  table.sort(d)
  local out = {}
  for i = 1, math.min(k, #d) do out[i] = d[i] end
  return out, qf
end

-- The rows of one query are the true nearest: each matches the filter, none
-- twice, and their distances are brute force's, in order (ties allowed).
local function assert_exact(got_ids, got_d, q, k, keep)
  local want, qf = brute(q, k, keep)
  assert.are.equal(#want, #got_ids)
  local seen = {}
  for r, id in ipairs(got_ids) do
    local i = tonumber(id:sub(2))
    assert.is_true(keep(i), id .. " does not match the filter")
    assert.is_nil(seen[id], id .. " twice")
    seen[id] = true
    assert.is_true(math.abs(l2(f32[i], qf) - want[r]) < 1e-4, "row " .. r .. " is not the " .. r .. "th nearest")
    assert.is_true(math.abs(got_d[r] - want[r]) < 1e-4)
  end
end

-- Whatever the path: rows that match, each once, nearest first.
local function assert_rows(got_ids, got_d, keep)
  local seen = {}
  for r, id in ipairs(got_ids) do
    assert.is_true(keep(tonumber(id:sub(2))), id .. " does not match the filter")
    assert.is_nil(seen[id], id .. " twice")
    seen[id] = true
    if r > 1 then assert.is_true(got_d[r - 1] <= got_d[r]) end
  end
end

-- Where the answer is surely an exact scan on MariaDB: fewer matching rows
-- than asked for (the index comes back short, then the scan), or a filter
-- with n_results past the index's largest window (500 rows / 8).
local function exact_path(f, n)
  return f.count < n or ((f.where or f.where_document) and n >= 63)
end

local queries = helper.vectors(8, DIM, 777)

for _, loop in ipairs { "blocking", "yield" } do
  describe("query row counts (" .. loop .. ")", function()
    local client, col
    setup(function()
      client = helper.fresh(loop == "yield" and { loop = "yield" } or nil)
      col = assert(client:create_collection { name = "qcount", dimension = DIM, distance = "l2" })
      assert(col:upsert { ids = ids, embeddings = vecs, metadatas = metas, documents = docs })
    end)
    teardown(function() helper.drop(client) end)

    for _, f in ipairs(filters) do
      it("returns min(n_results, matching rows) with " .. f.label, function()
        for _, n in ipairs { 5, 10, 20, 1000, 4000 } do
          local want = math.min(n, f.count)
          for rep = 1, 3 do
            local q = queries[1 + (rep + n) % #queries]
            local r = assert(col:query { query_embeddings = q, n_results = n, where = f.where,
              where_document = f.where_document, include = { "distances" } })
            assert.are.equal(1, #r.ids)
            assert.are.equal(want, #r.ids[1], ("%s, n_results %d, try %d"):format(f.label, n, rep))
            assert.are.equal(want, #r.distances[1])
            -- a query the index answers short is an exact scan (a selective
            -- filter, n_results past the rows or past the window)
            assert_rows(r.ids[1], r.distances[1], f.keep)
            if exact_path(f, n) and helper.dialect(client) == "mariadb" then
              assert_exact(r.ids[1], r.distances[1], q, n, f.keep)
            end
          end
        end
      end)
    end

    it("answers several query vectors in one call, each with its own count", function()
      for _, f in ipairs(filters) do
        for _, n in ipairs { 10, 4000 } do
          local r = assert(col:query { query_embeddings = queries, n_results = n, where = f.where,
            where_document = f.where_document, include = n < 100 and { "distances", "documents", "metadatas" }
              or { "distances" } })
          assert.are.equal(#queries, #r.ids)
          for q = 1, #queries do
            assert.are.equal(math.min(n, f.count), #r.ids[q], ("%s, n_results %d, query %d"):format(f.label, n, q))
            for k, id in ipairs(n < 100 and r.ids[q] or {}) do
              local i = tonumber(id:sub(2))
              assert.are.equal(docs[i], r.documents[q][k])
              assert.are.equal(metas[i].b, r.metadatas[q][k].b)
            end
            assert_rows(r.ids[q], r.distances[q], f.keep)
            if exact_path(f, n) then
              assert_exact(r.ids[q], r.distances[q], queries[q], n, f.keep)
            end
          end
        end
      end
    end)

    it("sends a call's query vectors in one statement, and all of them again in one more when some are short",
      function()
      if helper.dialect(client) ~= "mariadb" then return end
      local function selects()
        return tonumber(assert(client:query("SHOW SESSION STATUS LIKE 'Com_select'"))[1].Value)
      end
      local before = selects()
      assert(col:query { query_embeddings = queries, n_results = 10, include = {} })
      assert.are.equal(1, selects() - before)
      before = selects()
      local r = assert(col:query { query_embeddings = queries, n_results = 30, include = {},
        where_document = filters[5].where_document })
      assert.are.equal(2, selects() - before)
      for q = 1, #queries do assert.are.equal(20, #r.ids[q]) end
    end)

    it("asks again, in one statement, a call whose windows answer some queries and not others", function()
      -- two clusters: rows near (1, 0) are "a", rows near (-1, 0) are "z";
      -- with `b = "a"`, the window of the query at (1, 0) holds its answer,
      -- the window at (-1, 0) holds no "a" row: asked again exactly, beside
      -- the first query's window (the arms of one UNION ALL)
      local two = assert(client:create_collection { name = "two_clusters", dimension = 2, distance = "l2" })
      local tids, tembs, tmetas = {}, {}, {}
      for i = 1, 400 do
        local side = i <= 200 and 1 or -1
        tids[i], tembs[i] = "t" .. i, { side + (i % 20) / 1000, (i % 13) / 1000 }
        tmetas[i] = { b = side == 1 and "a" or "z" }
      end
      assert(two:upsert { ids = tids, embeddings = tembs, metadatas = tmetas })
      local r = assert(two:query { query_embeddings = { { 1, 0 }, { -1, 0 } }, n_results = 10, where = { b = "a" },
        include = { "metadatas", "distances" } })
      for q = 1, 2 do
        assert.are.equal(10, #r.ids[q])
        for k = 1, 10 do assert.are.equal("a", r.metadatas[q][k].b) end
      end
      assert.is_true(r.distances[2][1] > 1.9) -- the "a" rows, seen from (-1, 0)
    end)

    it("answers more query vectors than one statement holds", function()
      local many = helper.vectors(130, DIM, 99)
      for _, f in ipairs { filters[1], filters[3], filters[5] } do
        local r = assert(col:query { query_embeddings = many, n_results = 30, where = f.where,
          where_document = f.where_document, include = { "distances" } })
        assert.are.equal(#many, #r.ids)
        for q = 1, #many do
          assert.are.equal(math.min(30, f.count), #r.ids[q], ("%s, query %d"):format(f.label, q))
          assert_rows(r.ids[q], r.distances[q], f.keep)
        end
      end
    end)

    it("leaves out distances when not included, and keeps errors as nil, err", function()
      local r = assert(col:query { query_embeddings = { queries[1], queries[2] }, n_results = 4000, include = {} })
      assert.is_nil(r.distances)
      assert.are.equal(N, #r.ids[1])
      assert.are.equal(N, #r.ids[2])
      local ok, err = col:query { query_embeddings = queries[1], n_results = 10, where = { b = { ["$lt"] = 1 } },
        where_document = { ["$regex"] = "(" } }
      assert.is_nil(ok)
      assert.is_string(err)
    end)
  end)
end

describe("query statements on MariaDB", function()
  it("sends the query vectors of a call in one statement", function()
    local s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { { 1 }, { 2 } }, include = {} })
    assert.are.equal(1, #s)
    assert.are.equal("SELECT * FROM (SELECT _id,VEC_DISTANCE_EUCLIDEAN(embedding, X'0000803f') AS distance,1 AS _q "
      .. "FROM `c$v1$c` ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, X'0000803f') LIMIT 10) AS _t UNION ALL "
      .. "SELECT * FROM (SELECT _id,VEC_DISTANCE_EUCLIDEAN(embedding, X'00000040') AS distance,2 AS _q "
      .. "FROM `c$v1$c` ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, X'00000040') LIMIT 10) AS _t "
      .. "ORDER BY _q, distance", s[1])
  end)

  it("filters a window of the index's nearest rows, scans exactly past it, widens ef_search to n_results", function()
    local s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {},
      where = { k = 1 } })
    assert.are.equal(1, #s)
    assert.are.equal("SET STATEMENT mhnsw_ef_search=400 FOR SELECT * FROM (SELECT _id,VEC_DISTANCE_EUCLIDEAN("
      .. "embedding, X'0000803f') AS distance,(JSON_OVERLAPS(JSON_EXTRACT(metadata, _utf8mb4 X'242e6b'), _utf8mb4 "
      .. "X'5b315d')) AS _m FROM `c$v1$c` ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, X'0000803f') LIMIT 100) AS _w "
      .. "WHERE _m ORDER BY distance LIMIT 10", s[1])
    s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {},
      where = { k = 1 }, n_results = 63 })
    assert.matches("ORDER BY VEC_DISTANCE_EUCLIDEAN%(embedding, X'0000803f'%)%+0 LIMIT 63$", s[1])
    assert.is_nil(s[1]:find("mhnsw_ef_search", 1, true))
    s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {},
      where = { k = 1 }, n_results = 62 })
    assert.matches("^SET STATEMENT mhnsw_ef_search=992 FOR SELECT %* FROM .* LIMIT 496%) AS _w WHERE _m ORDER BY "
      .. "distance LIMIT 62$", s[1])
    s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {}, n_results = 500 })
    assert.matches("^SET STATEMENT mhnsw_ef_search=500 FOR SELECT", s[1])
    s = core.sql("mariadb", "query", "c$v1$c", 1, "l2", { query_embeddings = { 1 }, include = {}, n_results = 500 },
      nil, 1000)
    assert.matches("^SET STATEMENT mhnsw_ef_search=1000 FOR SELECT", s[1])
  end)

  it("keeps seekdb's statements: one per query, APPROXIMATE", function()
    local s = core.sql("seekdb", "query", "c$v1$c", 1, "l2", { query_embeddings = { { 1 }, { 2 } }, include = {},
      where = { k = 1 } })
    assert.are.equal(2, #s)
    for _, st in ipairs(s) do
      assert.matches(" APPROXIMATE LIMIT 10$", st)
      assert.is_nil(st:find("UNION", 1, true))
    end
  end)
end)

-- silence "unused" for linters that read the spec
local _ = seekdb
