-- collection:hybrid_search. The seekdb dialect's statements are pinned by
-- golden tests (no seekdb server runs here; through SEEKDB_TEST_HOST the
-- rest runs against one too). Against MariaDB every result is checked
-- against a fusion computed here, by brute force, from the two rankings
-- read with plain queries.
local seekdb = require "seekdb"
local core = require "seekdb.core"
local helper = require "helper"

-- A string value as every statement carries it.
local function lit(s)
  return "_utf8mb4 X'" .. s:gsub(".", function(c) return ("%02x"):format(c:byte()) end) .. "'"
end

local function sql(dialect, args, ef, dim, distance)
  return core.sql(dialect, "hybrid_search", "c$v1$c", dim or 3, distance or "cosine", args, ef)
end

-- The JSON of a SET @search_parm statement.
local function parm(stmt)
  local hex = stmt:match("^SET @search_parm = _utf8mb4 X'(%x*)'$")
  assert(hex, "not a SET @search_parm statement: " .. tostring(stmt))
  return (hex:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local GET_SQL = "SELECT DBMS_HYBRID_SEARCH.GET_SQL(" .. lit("c$v1$c") .. ", @search_parm) AS query_sql FROM dual"
local F = function(k) return "(JSON_EXTRACT(metadata, '$." .. k .. "'))" end

describe("hybrid_search's seekdb statements (golden)", function()
  it("sends pyseekdb's three statements: SET @search_parm, GET_SQL, then its SQL", function()
    -- pyseekdb's documented example; the third statement is the server's answer
    local s = sql("seekdb", {
      query = { where_document = { ["$contains"] = "machine learning" }, where = { category = { ["$eq"] = "science" } } },
      knn = { query_embeddings = { 0.1, 0.2, 0.3 }, where = { year = { ["$gte"] = 2020 } }, n_results = 10 },
      rank = { rrf = {} },
      n_results = 5,
      include = { "documents", "metadatas", "embeddings" },
    })
    assert.are.same({
      "SET @search_parm = " .. lit('{"query":{"bool":{"must":[{"query_string":{"fields":["document"],'
        .. '"query":"machine learning"}}],"filter":[{"term":{"' .. F("category") .. '":"science"}}]}},'
        .. '"knn":{"field":"embedding","k":10,"query_vector":[0.1,0.2,0.3],"filter":[{"range":{"'
        .. F("year") .. '":{"gte":2020}}}]},"size":5,"rank":{"rrf":{}},'
        .. '"_source":["_id","document","metadata","embedding"]}'),
      GET_SQL,
    }, s)
  end)

  it("defaults: k 10, size 10, no rank (the server's), _source of documents and metadatas", function()
    assert.are.equal('{"query":{"query_string":{"fields":["document"],"query":"x"}},"knn":{"field":"embedding",'
      .. '"k":10,"query_vector":[1,0.5,-2.25]},"size":10,"_source":["_id","document","metadata"]}',
      parm(sql("seekdb", { query = { where_document = { ["$contains"] = "x" } }, knn = { query_embeddings = { 1, 0.5, -2.25 } } })[1]))
    -- rank as given, after size (pyseekdb's order); only the ids asked for
    assert.are.equal('{"knn":{"field":"embedding","k":3,"query_vector":[1,2,3]},"size":2,'
      .. '"rank":{"rrf":{"rank_constant":20,"rank_window_size":100}},"_source":["_id"]}',
      parm(sql("seekdb", { knn = { query_embeddings = { { 1, 2, 3 } }, n_results = 3 }, n_results = 2, include = {},
        rank = { rrf = { rank_window_size = 100, rank_constant = 20 } } })[1]))
  end)

  it("translates where like pyseekdb: term, terms, range, bool", function()
    local function q(where) return parm(sql("seekdb", { query = { where = where } })[1]):match('^{"query":(.*),"size":10,') end
    assert.are.equal('{"term":{"' .. F("k") .. '":"v"}}', q { k = "v" })
    assert.are.equal('{"term":{"' .. F("k") .. '":true}}', q { k = { ["$eq"] = true } })
    assert.are.equal('{"term":{"' .. F("k") .. '":null}}', q { k = seekdb.null })
    assert.are.equal('{"terms":{"' .. F("k") .. '":[1,"b",2.5]}}', q { k = { ["$in"] = { 1, "b", 2.5 } } })
    assert.are.equal('{"terms":{"' .. F("k") .. '":[]}}', q { k = { ["$in"] = {} } })
    assert.are.equal('{"bool":{"must_not":[{"term":{"' .. F("k") .. '":1}}]}}', q { k = { ["$ne"] = 1 } })
    assert.are.equal('{"bool":{"must_not":[{"terms":{"' .. F("k") .. '":["a"]}}]}}', q { k = { ["$nin"] = { "a" } } })
    assert.are.equal('{"range":{"' .. F("k") .. '":{"gt":1,"lte":"m"}}}', q { k = { ["$gt"] = 1, ["$lte"] = "m" } })
    -- an $eq beside a range is kept (pyseekdb drops it), the range comes last
    assert.are.equal('{"bool":{"filter":[{"term":{"' .. F("k") .. '":5}},{"range":{"' .. F("k")
      .. '":{"lt":9}}}]}}', q { k = { ["$eq"] = 5, ["$lt"] = 9 } })
    -- several keys: one condition each, in byte order
    assert.are.equal('{"bool":{"filter":[{"term":{"' .. F("a") .. '":1}},{"term":{"' .. F("b") .. '":2}}]}}',
      q { b = 2, a = 1 })
    assert.are.equal('{"bool":{"must":[{"term":{"' .. F("a") .. '":1}},{"range":{"' .. F("b") .. '":{"gte":2}}}]}}',
      q { ["$and"] = { { a = 1 }, { b = { ["$gte"] = 2 } } } })
    -- an $or item of several keys stays ANDed
    assert.are.equal('{"bool":{"should":[{"term":{"' .. F("a") .. '":1}},{"bool":{"must":[{"term":{"' .. F("b")
      .. '":2}},{"term":{"' .. F("c") .. '":3}}]}}]}}', q { ["$or"] = { { a = 1 }, { b = 2, c = 3 } } })
    assert.are.equal('{"bool":{"must_not":[{"term":{"' .. F("a") .. '":1}}]}}', q { ["$not"] = { a = 1 } })
    -- keys that are not plain names are quoted members of the path
    assert.are.equal('{"term":{"(JSON_EXTRACT(metadata, \'$.\\"a.b c\\"\'))":1}}', q { ["a.b c"] = 1 })
    assert.are.equal('{"term":{"(JSON_EXTRACT(metadata, \'$.\\"ключ\\"\'))":1}}', q { ["ключ"] = 1 })
  end)

  it("translates where_document like pyseekdb: query_string, joined $and/$or, must_not", function()
    local function q(wd, where)
      return parm(sql("seekdb", { query = { where_document = wd, where = where } })[1]):match('^{"query":(.*),"size":10,')
    end
    local function qs(s) return '{"query_string":{"fields":["document"],"query":"' .. s .. '"}}' end
    assert.are.equal(qs("a b"), q { ["$and"] = { { ["$contains"] = "a" }, { ["$contains"] = "b" } } })
    assert.are.equal(qs("a OR b OR c"), q { ["$or"] = { { ["$contains"] = "a" }, { ["$contains"] = "b" }, { ["$contains"] = "c" } } })
    assert.are.equal('{"bool":{"must_not":[' .. qs("x") .. ']}}', q { ["$not_contains"] = "x" })
    -- lists that are not only $contains keep their items (pyseekdb drops them)
    assert.are.equal('{"bool":{"should":[' .. qs("a") .. ',{"bool":{"must_not":[' .. qs("b") .. ']}}]}}',
      q { ["$or"] = { { ["$contains"] = "a" }, { ["$not_contains"] = "b" } } })
    assert.are.equal('{"bool":{"must":[' .. qs("a") .. ',{"bool":{"must_not":[' .. qs("b") .. ']}}]}}',
      q { ["$contains"] = "a", ["$not_contains"] = "b" })
    assert.are.equal('{"bool":{"must":[' .. qs("a") .. '],"filter":[{"term":{"' .. F("k") .. '":1}}]}}',
      q({ ["$contains"] = "a" }, { k = 1 }))
  end)

  it("makes one knn per query vector, and embeds query_texts", function()
    local calls = {}
    local ef = function(texts)
      calls[#calls + 1] = texts
      local out = {}
      for i, t in ipairs(texts) do out[i] = { #t, 0, 1 } end
      return out
    end
    local p = parm(sql("seekdb", { knn = { query_texts = { "ab", "abcd" }, where = { k = 1 }, n_results = 4 } }, ef)[1])
    assert.are.same({ { "ab", "abcd" } }, calls)
    local filter = '"filter":[{"term":{"' .. F("k") .. '":1}}]'
    assert.are.equal('{"knn":[{"field":"embedding","k":4,"query_vector":[2,0,1],' .. filter .. '},{"field":"embedding",'
      .. '"k":4,"query_vector":[4,0,1],' .. filter .. '}],"size":10,"_source":["_id","document","metadata"]}', p)
    -- float32 values, written as the shortest text that reads back the same
    assert.matches('"query_vector":%[0%.1,1e%-07,3%.4028235e%+38%]',
      parm(sql("seekdb", { knn = { query_embeddings = { 0.1, 1e-7, 3.4028234663852886e38 } } })[1]))
  end)

  it("escapes once: JSON text in one literal, whatever the strings hold", function()
    local nasty = "it's \"q\" \\ back\0nul\n' OR 1=1 -- "
    local s = sql("seekdb", { query = { where_document = { ["$contains"] = nasty }, where = { k = nasty } } })
    assert.are.equal(2, #s)
    assert.matches("^SET @search_parm = _utf8mb4 X'%x+'$", s[1])
    local json = parm(s[1])
    assert.are.equal('{"query":{"bool":{"must":[{"query_string":{"fields":["document"],"query":'
      .. '"it\'s \\"q\\" \\\\ back\\u0000nul\\u000a\' OR 1=1 -- "}}],"filter":[{"term":{"' .. F("k")
      .. '":"it\'s \\"q\\" \\\\ back\\u0000nul\\u000a\' OR 1=1 -- "}}]}},"size":10,"_source":["_id","document","metadata"]}', json)
    assert.are.equal(GET_SQL, s[2])
    -- a v2 table name, quoted the same way
    assert.are.equal("SELECT DBMS_HYBRID_SEARCH.GET_SQL(" .. lit("c$v2$" .. ("ab"):rep(16)) .. ", @search_parm) AS query_sql FROM dual",
      core.sql("seekdb", "hybrid_search", "c$v2$" .. ("ab"):rep(16), 1, "l2", { knn = { query_embeddings = { 1 } } })[2])
  end)

  it("refuses the metadata keys that could end the server's SQL literal, in both dialects", function()
    for _, d in ipairs { "seekdb", "mariadb" } do
      for _, k in ipairs { "it's", 'a"b', "a\\b", "a\nb", "" } do
        local ok, err = pcall(sql, d, { query = { where = { [k] = 1 } } })
        assert.is_false(ok)
        assert.matches("query%.where%..*metadata key", err)
      end
      assert.is_true(pcall(sql, d, { query = { where = { ["a b.c$"] = 1 } } }))
    end
    local ok, err = pcall(sql, "mariadb", { knn = { query_embeddings = { 1, 2, 3 }, where = { ["-x"] = 1 } } })
    assert.is_false(ok)
    assert.matches("knn%.where%.%-x is a metadata key a filter cannot name on MariaDB", err)
  end)

  it("ranks on MariaDB in one statement: a derived table per ranking", function()
    local v1, v2 = "X'0000803f0000000000000000'", "X'000000000000803f00000000'"
    assert.are.same({
      "SELECT * FROM (SELECT 0 AS part,_id,MATCH(document) AGAINST (" .. lit("a b") .. " IN NATURAL LANGUAGE MODE) AS score "
      .. "FROM `c$v1$c` WHERE ((MATCH(document) AGAINST (" .. lit("a") .. " IN NATURAL LANGUAGE MODE) OR MATCH(document) "
      .. "AGAINST (" .. lit("b") .. " IN NATURAL LANGUAGE MODE))) ORDER BY score DESC,_id LIMIT 5) AS ranked UNION ALL "
      .. "SELECT * FROM (SELECT 1 AS part,_id,VEC_DISTANCE_EUCLIDEAN(embedding, " .. v1 .. ") AS score FROM `c$v1$c` "
      .. "WHERE (JSON_OVERLAPS(JSON_EXTRACT(metadata, " .. lit("$.k") .. "), " .. lit("[1]") .. ")) "
      .. "ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, " .. v1 .. ") LIMIT 3) AS ranked UNION ALL "
      .. "SELECT * FROM (SELECT 2 AS part,_id,VEC_DISTANCE_EUCLIDEAN(embedding, " .. v2 .. ") AS score FROM `c$v1$c` "
      .. "WHERE (JSON_OVERLAPS(JSON_EXTRACT(metadata, " .. lit("$.k") .. "), " .. lit("[1]") .. ")) "
      .. "ORDER BY VEC_DISTANCE_EUCLIDEAN(embedding, " .. v2 .. ") LIMIT 3) AS ranked",
    }, sql("mariadb", {
      query = { where_document = { ["$or"] = { { ["$contains"] = "a" }, { ["$contains"] = "b" } } } },
      knn = { query_embeddings = { { 1, 0, 0 }, { 0, 1, 0 } }, where = { k = 1 }, n_results = 3 },
      rank = { rrf = { rank_window_size = 5 } },
    }, nil, 3, "l2"))
    -- a where alone ranks by _id; knn's k is cut to the window
    assert.are.same({
      "SELECT * FROM (SELECT 0 AS part,_id,0 AS score FROM `c$v1$c` WHERE (JSON_VALUE(metadata, " .. lit("$.n")
      .. ") > 1) ORDER BY _id LIMIT 2) AS ranked UNION ALL SELECT * FROM (SELECT 1 AS part,_id,VEC_DISTANCE_COSINE("
      .. "embedding, X'0000803f') AS score FROM `c$v1$c` ORDER BY VEC_DISTANCE_COSINE(embedding, X'0000803f') LIMIT 2) AS ranked",
    }, core.sql("mariadb", "hybrid_search", "c$v1$c", 1, "cosine", {
      query = { where = { n = { ["$gt"] = 1 } } }, knn = { query_embeddings = { 1 }, n_results = 50 },
      rank = { rrf = { rank_window_size = 2 } } }))
  end)
end)

describe("hybrid_search's arguments", function()
  local function raises(args, pattern, dialect)
    for _, d in ipairs(dialect and { dialect } or { "seekdb", "mariadb" }) do
      local ok, err = pcall(sql, d, args)
      assert(not ok, "accepted: " .. d)
      assert(tostring(err):find(pattern), ("%s: %q does not match %q"):format(d, tostring(err), pattern))
      assert.matches("^bad argument #1 to 'hybrid_search'", err)
    end
  end
  local Q = { where_document = { ["$contains"] = "x" } }
  local K = { query_embeddings = { 1, 2, 3 } }

  it("raises for misuse, naming the place", function()
    raises({}, "needs query %(a full%-text search%), knn %(a vector search%) or both")
    raises({ query = {} }, "query needs where_document %(a full%-text search%) or where")
    raises({ query = { where = {}, where_document = {} } }, "query needs where_document")
    raises({ knn = {} }, "knn needs query_embeddings or query_texts")
    raises({ knn = { where = { a = 1 } } }, "knn needs query_embeddings or query_texts")
    raises({ knn = { query_embeddings = { 1, 2, 3 }, query_texts = "x" } }, "not both")
    raises({ query = Q, bogus = 1 }, "unknown field 'bogus': hybrid_search takes query, knn, rank, n_results, include")
    raises({ query = { where_document = { ["$contains"] = "x" }, limit = 3 } }, "unknown field 'limit' in query: query takes where_document, where, n_results")
    raises({ knn = { query_embeddings = { 1, 2, 3 }, boost = 2 } }, "unknown field 'boost' in knn")
    raises({ query = "x" }, "query must be a table, got string")
    raises({ knn = { 1, 2, 3 } }, "unknown field 'number' in knn")
    raises({ query = Q, n_results = 0 }, "n_results must be at least 1")
    raises({ query = Q, n_results = 1.5 }, "n_results must be a non%-negative integer")
    raises({ knn = { query_embeddings = { 1, 2, 3 }, n_results = 0 } }, "knn%.n_results must be a positive integer")
    raises({ query = { where_document = { ["$contains"] = "x" }, n_results = "3" } }, "query%.n_results must be a positive integer")
    raises({ query = Q, include = { "ids" } }, "include%[1%] must be one of")
    raises({ query = Q, rank = { rrf = { rank_window_size = 0 } } }, "rank%.rrf%.rank_window_size must be an integer from 1 to 16384")
    raises({ query = Q, rank = { rrf = { rank_window_size = 16385 } } }, "from 1 to 16384")
    raises({ query = Q, rank = { rrf = { rank_constant = -1 } } }, "rank%.rrf%.rank_constant must be a positive integer")
    raises({ query = Q, rank = { rrf = { k = 1 } } }, "rank%.rrf%.k is not an rrf parameter")
    raises({ query = Q, rank = { linear = {} } }, "rank must be { rrf = ")
    raises({ query = Q, rank = "rrf" }, "rank must be a table")
    raises({ query = { where_document = { ["$regex"] = "x" } } }, "query%.where_document%.%$regex is an unknown operator")
    raises({ query = { where_document = "x" } }, "query%.where_document must be a table, got string")
    raises({ query = { where_document = { ["$contains"] = 1 } } }, "query%.where_document%.%$contains must be a string, got number")
    raises({ query = { where_document = { ["$and"] = {} } } }, "query%.where_document%.%$and must not be empty")
    raises({ query = { where = { k = { ["$gtt"] = 1 } } } }, "query%.where%.k%.%$gtt is an unknown operator")
    raises({ query = { where = { k = { [""] = 1, ["$gte"] = 1 } } } }, "query%.where%.k%. is an unknown operator") -- fuzz: hybrid_empty_op
    raises({ query = { where = { ["$or"] = { { a = 1 }, { b = { ["$in"] = 2 } } } } } }, "query%.where%.%$or%[2%]%.b%.%$in must be a list, got number")
    raises({ knn = { query_embeddings = { 1, 2, 3 }, where = { k = {} } } }, "knn%.where%.k is an empty table of operators")
    raises({ knn = { query_embeddings = { 1, 2, 3 }, where = { k = { ["$gt"] = true } } } }, "knn%.where%.k%.%$gt must be a number or a string")
    raises({ knn = { query_embeddings = "x" } }, "knn%.query_embeddings must be a vector or a list of vectors")
    raises({ knn = { query_embeddings = { { 1, 2, "x" } } } }, "knn%.query_embeddings%[1%]%[3%] must be a number")
    raises({ knn = { query_texts = { 1 } } }, "knn%.query_texts%[1%] must be a string")
    local deep = { k = 1 }
    for _ = 1, 40 do deep = { ["$not"] = deep } end
    raises({ query = { where = deep } }, "is nested too deeply")
  end)

  it("returns nil, err for bad values, before any SQL", function()
    for _, d in ipairs { "seekdb", "mariadb" } do
      local function fails(args, pattern)
        local r, err = sql(d, args)
        assert.is_nil(r)
        assert.matches(pattern, err)
      end
      fails({ knn = { query_embeddings = { 1, 2 } } }, "knn%.query_embeddings has 2 numbers; the collection's dimension is 3")
      fails({ knn = { query_embeddings = {} } }, "knn%.query_embeddings is empty")
      fails({ knn = { query_embeddings = { 0 / 0, 1, 2 } } }, "NaN or infinite")
      fails({ knn = { query_texts = "x" } }, "knn%.query_texts need the collection's embedding function")
      fails({ query = { where_document = { ["$contains"] = "\255" } } }, "query%.where_document%.%$contains is a string that is not valid UTF%-8")
      fails({ query = { where = { k = { ["$in"] = { "a", "\192" } } } } }, "query%.where%.k%.%$in%[2%] is a string that is not valid UTF%-8")
      fails({ knn = { query_embeddings = { 1, 2, 3 }, where = { k = 1 / 0 } } }, "knn%.where%.k is NaN or infinite")
      fails({ knn = { query_texts = "x" } }, "embedding function")
    end
    local r, err = sql("mariadb", { knn = K }, nil, 3, "inner_product")
    assert.is_nil(r)
    assert.matches("MariaDB has no inner%-product distance", err)
    -- a full-text search alone does not need the distance
    assert.are.equal(1, #sql("mariadb", { query = Q }, nil, 3, "inner_product"))
  end)
end)

---------------------------------------------------------------------------
-- Against the server
---------------------------------------------------------------------------

-- _id order (VARBINARY): bytes, then length.
local function id_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local WORDS = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel" }

describe("collection:hybrid_search", function()
  local client, dialect
  local col, ids, vecs, docs, metas
  local DIM = 4

  setup(function()
    client = helper.fresh()
    dialect = helper.dialect(client)
    col = assert(client:create_collection { name = "hyb", dimension = DIM, distance = "l2" })
    ids, vecs, docs, metas = {}, helper.vectors(60, DIM, 2024), {}, {}
    for i = 1, 60 do
      -- ids whose byte order differs from their number; documents that tie
      ids[i] = ("%s%02d"):format(string.char(122 - i % 7), i)
      local a, b = WORDS[i % 8 + 1], WORDS[(i * 3) % 8 + 1]
      docs[i] = i % 5 == 0 and (a .. " " .. a .. " " .. b) or (a .. " " .. b .. " note")
      metas[i] = { n = i % 4, even = i % 2 == 0, tag = WORDS[i % 3 + 1] }
    end
    assert(col:add { ids = ids, embeddings = vecs, documents = docs, metadatas = metas })
  end)
  teardown(function() helper.drop(client) end)

  -- The full-text ranking, read with plain statements: the rows the filters
  -- match (get), by relevance (MATCH over every row) descending, then _id.
  local function text_ranking(q, window)
    local words = {}
    local function collect(wd)
      for k, v in pairs(wd or {}) do
        if k == "$contains" then words[#words + 1] = (v:gsub("%*", " ")) end
        if k == "$and" or k == "$or" then for _, item in ipairs(v) do collect(item) end end
      end
    end
    collect(q.where_document)
    local text = table.concat(words, " ")
    local rel = {}
    if text ~= "" then
      for _, row in ipairs(assert(client:query(("SELECT _id, MATCH(document) AGAINST ('%s' IN NATURAL LANGUAGE MODE) AS s "
        .. "FROM `%s`"):format(text, col._table)))) do
        rel[row._id] = tonumber(row.s)
      end
    end
    local match = assert(col:get { where = q.where, where_document = q.where_document, include = {}, limit = 100000 })
    local list = {}
    for _, id in ipairs(match.ids) do list[#list + 1] = { id = id, v = rel[id] or 0 } end
    table.sort(list, function(x, y)
      if x.v ~= y.v then return x.v > y.v end
      return id_less(x.id, y.id)
    end)
    local out = {}
    for i = 1, math.min(window, #list) do out[i] = list[i].id end
    return out
  end

  -- The vector ranking: query's nearest rows (exact on so few rows), by
  -- distance, then _id.
  local function vector_ranking(v, where, n)
    local r = assert(col:query { query_embeddings = v, where = where, n_results = n, include = { "distances" } })
    local list = {}
    for i, id in ipairs(r.ids[1]) do list[i] = { id = id, v = r.distances[1][i] } end
    table.sort(list, function(x, y)
      if x.v ~= y.v then return x.v < y.v end
      return id_less(x.id, y.id)
    end)
    local out = {}
    for i, e in ipairs(list) do out[i] = e.id end
    return out
  end

  -- Reciprocal Rank Fusion by brute force: each row's 1/(c + rank), added
  -- from its best rank to its worst; by score, then _id.
  local function fuse(rankings, constant, n)
    local ranks = {}
    for _, ranking in ipairs(rankings) do
      for r, id in ipairs(ranking) do
        ranks[id] = ranks[id] or {}
        table.insert(ranks[id], r)
      end
    end
    local all = {}
    for id, rs in pairs(ranks) do
      table.sort(rs)
      local score = 0
      for _, r in ipairs(rs) do score = score + 1 / (constant + r) end
      all[#all + 1] = { id = id, score = score }
    end
    table.sort(all, function(x, y)
      if x.score ~= y.score then return x.score > y.score end
      return id_less(x.id, y.id)
    end)
    local out_ids, out_scores = {}, {}
    for i = 1, math.min(n, #all) do out_ids[i], out_scores[i] = all[i].id, all[i].score end
    return out_ids, out_scores
  end

  local function expected(args)
    local rrf = args.rank and args.rank.rrf or {}
    local window, constant = rrf.rank_window_size or 60, rrf.rank_constant or 60
    local rankings = {}
    if args.query then rankings[#rankings + 1] = text_ranking(args.query, window) end
    if args.knn then
      local qe = args.knn.query_embeddings
      if type(qe[1]) == "number" then qe = { qe } end
      for _, v in ipairs(qe) do
        rankings[#rankings + 1] = vector_ranking(v, args.knn.where, math.min(args.knn.n_results or 10, window))
      end
    end
    return fuse(rankings, constant, args.n_results or 10)
  end

  local function check(args)
    if dialect ~= "mariadb" then -- seekdb fuses its own rankings: only the shape is known here
      local r = assert(col:hybrid_search(args))
      assert.is_true(#r.ids[1] <= (args.n_results or 10))
      for k = 2, #r.distances[1] do assert.is_true(r.distances[1][k - 1] >= r.distances[1][k]) end
      return r
    end
    local want_ids, want_scores = expected(args)
    local r = assert(col:hybrid_search(args))
    assert.are.same(want_ids, r.ids[1])
    assert.are.same(want_scores, r.distances[1]) -- bit for bit: the same ranks summed in the same order
    return r
  end

  it("fuses a full-text and a vector ranking as RRF by brute force does", function()
    local r = check { query = { where_document = { ["$contains"] = "alpha" } }, knn = { query_embeddings = vecs[7] } }
    assert.are.equal(10, #r.ids[1])
    -- documents and metadata are the rows'
    local byid = {}
    for i, id in ipairs(ids) do byid[id] = i end
    for k, id in ipairs(r.ids[1]) do
      assert.are.equal(docs[byid[id]], r.documents[1][k])
      assert.are.same(metas[byid[id]], r.metadatas[1][k])
    end
    assert.is_nil(r.embeddings)
    -- best first, scores at most 2/(60+1)
    for k = 2, #r.distances[1] do assert.is_true(r.distances[1][k - 1] >= r.distances[1][k]) end
    if dialect == "mariadb" then assert.is_true(r.distances[1][1] <= 2 / 61) end
  end)

  it("applies each side's own where, a window and a constant", function()
    check {
      query = { where_document = { ["$contains"] = "bravo charlie" }, where = { n = { ["$in"] = { 1, 2 } } } },
      knn = { query_embeddings = vecs[20], where = { n = { ["$ne"] = 1 } }, n_results = 8 },
      rank = { rrf = { rank_window_size = 5, rank_constant = 1 } },
      n_results = 7,
    }
    check {
      query = { where_document = { ["$and"] = { { ["$contains"] = "delta" }, { ["$not_contains"] = "echo" } } },
        where = { even = true } },
      knn = { query_embeddings = vecs[3], where = { ["$or"] = { { tag = "alpha" }, { n = { ["$gte"] = 3 } } } } },
      n_results = 60,
    }
    -- a knn filter that nothing matches: the text ranking alone
    local r = check { query = { where_document = { ["$contains"] = "golf" } },
      knn = { query_embeddings = vecs[1], where = { tag = "nothing" } } }
    assert.is_true(#r.ids[1] > 0)
  end)

  it("ranks a where-only query by _id, and ties by _id everywhere", function()
    if dialect ~= "mariadb" then return pending("MariaDB's fusion (seekdb ranks on the server)") end
    local r = check { query = { where = { n = 2 } }, knn = { query_embeddings = vecs[9] }, n_results = 20 }
    -- rows tied on relevance (the same document) are in _id order
    local tied = check { query = { where_document = { ["$contains"] = "hotel" } }, n_results = 60 }
    for k = 2, #tied.ids[1] do
      if tied.distances[1][k] == tied.distances[1][k - 1] then assert.is_true(id_less(tied.ids[1][k - 1], tied.ids[1][k])) end
    end
    assert.is_true(#r.ids[1] == 20)
    -- two rows with the same ranks in different rankings tie; _id decides
    local a = check { knn = { query_embeddings = { vecs[2], vecs[1] }, n_results = 1 }, n_results = 4 }
    assert.are.equal(2, #a.ids[1])
    assert.are.equal(a.distances[1][1], a.distances[1][2])
    assert.are.same(id_less(ids[1], ids[2]) and { ids[1], ids[2] } or { ids[2], ids[1] }, a.ids[1])
  end)

  it("takes a full-text search alone, a vector search alone, several query vectors", function()
    local t = check { query = { where_document = { ["$or"] = { { ["$contains"] = "alpha" }, { ["$contains"] = "echo" } } } } }
    if dialect == "mariadb" then
      for k, s in ipairs(t.distances[1]) do assert.are.equal(1 / (60 + k), s) end
    end
    local v = check { knn = { query_embeddings = vecs[30], n_results = 5 } }
    assert.are.equal(5, #v.ids[1])
    assert.are.equal(ids[30], v.ids[1][1])
    check { knn = { query_embeddings = { vecs[4], vecs[40], vecs[50] }, n_results = 6 }, n_results = 12 }
    check { query = { where_document = { ["$contains"] = "foxtrot" } },
      knn = { query_embeddings = { vecs[5], vecs[6] } }, rank = { rrf = { rank_constant = 3 } } }
  end)

  it("gives what include asks for", function()
    local args = { query = { where_document = { ["$contains"] = "charlie" } }, knn = { query_embeddings = vecs[11] }, n_results = 4 }
    local full = assert(col:hybrid_search(args))
    local cases = {
      [{ "documents" }] = { ids = true, documents = true },
      [{ "metadatas", "embeddings" }] = { ids = true, metadatas = true, embeddings = true },
      [{ "distances" }] = { ids = true, distances = true },
      [{}] = { ids = true },
      [{ "embeddings", "documents", "metadatas", "distances" }] =
        { ids = true, documents = true, metadatas = true, embeddings = true, distances = true },
    }
    local want = assert(col:get { ids = full.ids[1], include = { "documents", "metadatas", "embeddings" } })
    for include, fields in pairs(cases) do
      args.include = include
      local r = assert(col:hybrid_search(args))
      local got = {}
      for k in pairs(r) do got[k] = true end
      assert.are.same(fields, got)
      assert.are.same(full.ids, r.ids)
      if fields.documents then assert.are.same({ want.documents }, r.documents) end
      if fields.metadatas then assert.are.same({ want.metadatas }, r.metadatas) end
      if fields.embeddings then assert.are.same({ want.embeddings }, r.embeddings) end
      if fields.distances then assert.are.same(full.distances, r.distances) end
    end
    -- the result prints readably, as query's
    assert.matches("^{", tostring(full))
  end)

  it("returns empty lists when nothing matches", function()
    local r = assert(col:hybrid_search { query = { where_document = { ["$contains"] = "zulu" } } })
    assert.are.same({ ids = { {} }, documents = { {} }, metadatas = { {} }, distances = { {} } }, r)
    r = assert(col:hybrid_search { query = { where = { n = 99 } }, knn = { query_embeddings = vecs[1], where = { n = 99 } },
      include = { "embeddings" } })
    assert.are.same({ ids = { {} }, embeddings = { {} } }, r)
  end)

  it("embeds knn.query_texts through the collection's embedding function", function()
    local seen = {}
    local function embed(texts)
      seen[#seen + 1] = texts
      local out = {}
      for i, t in ipairs(texts) do
        local v = { 0, 0, 0, 0 }
        for w in t:gmatch("%a+") do
          for j, word in ipairs(WORDS) do if word == w then v[j % 4 + 1] = v[j % 4 + 1] + 1 end end
        end
        out[i] = v
      end
      return out
    end
    local c = assert(client:create_collection { name = "hyb_ef", embedding_function = embed, distance = "l2" })
    assert.are.equal(4, c.dimension)
    assert(c:add { ids = ids, documents = docs, metadatas = metas })
    seen = {}
    local r = assert(c:hybrid_search { query = { where_document = { ["$contains"] = "alpha" } },
      knn = { query_texts = "alpha bravo", n_results = 5 }, n_results = 5 })
    assert.are.same({ { "alpha bravo" } }, seen)
    local same = assert(c:hybrid_search { query = { where_document = { ["$contains"] = "alpha" } },
      knn = { query_embeddings = embed { "alpha bravo" }[1], n_results = 5 }, n_results = 5 })
    assert.are.same(same, r)
    -- a list of texts: one ranking each
    seen = {}
    assert(c:hybrid_search { knn = { query_texts = { "golf", "hotel echo" } } })
    assert.are.same({ { "golf", "hotel echo" } }, seen)
    -- without an embedding function: nil, err
    local plain = assert(client:get_collection("hyb_ef"))
    local none, err = plain:hybrid_search { knn = { query_texts = "alpha" } }
    assert.is_nil(none)
    assert.matches("knn%.query_texts need the collection's embedding function", err)
    -- an embedding function that fails, or returns the wrong shape
    local bad = assert(client:get_collection("hyb_ef", { embedding_function = function() error("model down") end }))
    none, err = bad:hybrid_search { knn = { query_texts = "alpha" } }
    assert.is_nil(none)
    assert.matches("embedding function failed on knn%.query_texts%[1%.%.1%]: .*model down", err)
    local short = assert(client:get_collection("hyb_ef", { embedding_function = function() return { { 1 } } end }))
    none, err = short:hybrid_search { knn = { query_texts = "alpha" } }
    assert.is_nil(none)
    assert.matches("vector of 1 numbers for knn%.query_texts%[1%]", err)
    assert(client:delete_collection("hyb_ef"))
  end)

  it("raises for misuse on a real collection too, and works with a timeout", function()
    assert.has_error(function() col:hybrid_search {} end,
      "bad argument #1 to 'hybrid_search' (hybrid_search needs query (a full-text search), knn (a vector search) or both)")
    assert.has_error(function() col:hybrid_search() end, "bad argument #1 to 'hybrid_search' (table expected, got nil)")
    assert.has_error(function() col.hybrid_search({}, {}) end)
    local args = { query = { where_document = { ["$contains"] = "alpha" } }, knn = { query_embeddings = vecs[2] } }
    local want = assert(col:hybrid_search(args))
    client:set_timeout(30) -- statements limited by SET STATEMENT max_statement_time on MariaDB
    local got = assert(col:hybrid_search(args))
    client:set_timeout(0)
    assert.are.same(want, got)
  end)

  it("keeps every vector ranking on MariaDB's vector index (EXPLAIN)", function()
    if dialect ~= "mariadb" then return pending("MariaDB's plans") end
    local big = assert(client:create_collection { name = "hyb_big", dimension = 16, distance = "cosine" })
    local n, bids, bdocs, bmetas = 3000, {}, {}, {}
    for i = 1, n do bids[i], bdocs[i], bmetas[i] = "b" .. i, WORDS[i % 8 + 1] .. " " .. WORDS[i % 5 + 1], { k = i % 3 } end
    assert(big:add { ids = bids, embeddings = helper.vectors(n, 16, 99), documents = bdocs, metadatas = bmetas })
    local qv = helper.vectors(2, 16, 5)
    local stmt = core.sql("mariadb", "hybrid_search", big._table, 16, "cosine", {
      query = { where_document = { ["$contains"] = "alpha" } },
      knn = { query_embeddings = qv, where = { k = { ["$ne"] = 1 } } } })[1]
    local vec, fts = 0, 0
    for _, row in ipairs(assert(client:query("EXPLAIN " .. stmt))) do
      if row.key == "idx_vec" then vec = vec + 1 end
      if row.type == "fulltext" and row.key == "idx_fts" then fts = fts + 1 end
      assert.are_not.equal("ALL", row.table:find("^c%$") and row.type or nil, "a ranking scans the table")
    end
    assert.are.equal(2, vec)
    assert.are.equal(1, fts)
    -- and each vector ranking reads only about its rows from the index
    for _, row in ipairs(assert(client:query("ANALYZE " .. stmt))) do
      if row.key == "idx_vec" then assert.is_true(tonumber(row.r_rows) < 100, "read " .. row.r_rows .. " rows") end
    end
    assert(client:delete_collection("hyb_big"))
  end)

  it("runs resumably: loop = \"yield\" through seekdb.task, and a loop function", function()
    local args = { query = { where_document = { ["$contains"] = "alpha" } },
      knn = { query_embeddings = { vecs[1], vecs[2] } }, n_results = 15, include = { "documents", "embeddings", "distances" } }
    local want = assert(col:hybrid_search(args))
    local db = helper.databases[client]
    local yc = assert(seekdb.Client(helper.options { database = db, loop = "yield" }))
    local ycol = assert(yc:get_collection("hyb"))
    -- each wait, and each slice of work, is a step of the task (a statement
    -- the server answers before the call looks needs none: over a few calls,
    -- some do)
    local steps, done, got = 0, false, nil
    for _ = 1, 50 do
      local task = seekdb.task(function() return ycol:hybrid_search(args) end)
      steps = 0
      repeat
        steps = steps + 1
        done, got = task.step()
      until done or steps > 100000
      assert.is_true(done)
      assert.are.same(want, got)
      if steps > 1 then break end
    end
    assert.is_true(steps > 1, steps .. " steps")
    local task
    -- texts embedded by a function that yields (inside the task's coroutine)
    local ef = function(texts)
      coroutine.yield()
      local out = {}
      for i in ipairs(texts) do out[i] = vecs[7] end
      return out
    end
    local ecol = assert(yc:get_collection("hyb", { embedding_function = ef }))
    task = seekdb.task(function()
      return ecol:hybrid_search { knn = { query_texts = "anything", n_results = 3 }, include = {} }
    end)
    repeat done, got = task.step() until done
    assert.are.same(assert(col:hybrid_search { knn = { query_embeddings = vecs[7], n_results = 3 }, include = {} }), got)
    yc:close()
    -- a wait function of the program's own
    local waits = 0
    local fc = assert(seekdb.Client(helper.options { database = db, loop = function() waits = waits + 1 end }))
    local fcol = assert(fc:get_collection("hyb"))
    -- (a statement the server answers before the call looks needs no wait:
    -- over a few calls, some do)
    for _ = 1, 50 do
      assert.are.same(want, assert(fcol:hybrid_search(args)))
      if waits > 0 then break end
    end
    assert.is_true(waits > 0)
    fc:close()
  end)
end)
