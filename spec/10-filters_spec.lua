-- Every filter operator, checked against a brute-force answer computed here
-- with SQL's three-valued logic (a missing key is NULL: neither = nor <>).
local seekdb = require "seekdb"
local helper = require "helper"

local NAMES = { "ann", "bob", "cy", "dee", "eve" }
local WORDS = { "alpha", "bravo", "charlie", "delta" }

local function dataset()
  local ids, vecs, docs, metas = {}, {}, {}, {}
  for i = 1, 40 do
    ids[i], vecs[i] = ("r%02d"):format(i), { i, 1 }
    docs[i] = ("doc %d %s"):format(i, WORDS[i % 4 + 1])
    local m = { name = NAMES[i % 5 + 1], even = i % 2 == 0, tags = { "t" .. i % 3, "u" .. i % 4 },
      ["a.b"] = i % 3, ["with space"] = "v" .. i % 2, ["ключ"] = i % 2 == 0 and "да" or "нет",
      price = i + 0.5 }
    if i % 7 ~= 0 then m.score = i % 10 end
    metas[i] = i == 13 and seekdb.null or m
  end
  return ids, vecs, docs, metas
end

-- three-valued evaluation of a where filter on one metadata table
local function overlaps(v, list)
  if v == nil then return nil end
  local vals = type(v) == "table" and v or { v }
  for _, x in ipairs(vals) do
    for _, y in ipairs(list) do if x == y then return true end end
  end
  return false
end
local function not3(x) if x == nil then return nil end return not x end
local function and3(a, b) if a == false or b == false then return false end if a == nil or b == nil then return nil end return true end
local function or3(a, b) if a == true or b == true then return true end if a == nil or b == nil then return nil end return false end

local eval
local function field(v, cond)
  if type(cond) ~= "table" then return overlaps(v, { cond }) end
  local r = true
  for op, x in pairs(cond) do
    local t
    if op == "$eq" then t = overlaps(v, { x })
    elseif op == "$ne" then t = not3(overlaps(v, { x }))
    elseif op == "$in" then t = #x == 0 and false or overlaps(v, x)
    elseif op == "$nin" then t = #x == 0 and true or not3(overlaps(v, x))
    elseif v == nil or type(v) ~= type(x) then t = nil
    elseif op == "$gt" then t = v > x
    elseif op == "$gte" then t = v >= x
    elseif op == "$lt" then t = v < x
    elseif op == "$lte" then t = v <= x end
    r = and3(r, t)
  end
  return r
end
function eval(where, meta)
  local r = true
  for k, c in pairs(where) do
    local t
    if k == "$and" then t = true; for _, w in ipairs(c) do t = and3(t, eval(w, meta)) end
    elseif k == "$or" then t = false; for _, w in ipairs(c) do t = or3(t, eval(w, meta)) end
    elseif k == "$not" then t = not3(eval(c, meta))
    else
      local v
      if meta ~= seekdb.null then v = meta[k] end
      t = field(v, c)
    end
    r = and3(r, t)
  end
  return r
end

describe("filters", function()
  local client, col, ids, docs, metas
  setup(function()
    client = helper.fresh()
    col = assert(client:create_collection { name = "f", dimension = 2 })
    local vecs
    ids, vecs, docs, metas = dataset()
    assert(col:upsert { ids = ids, embeddings = vecs, documents = docs, metadatas = metas })
  end)
  teardown(function() helper.drop(client) end)

  local function got(args)
    args.limit = 1000
    args.include = {}
    local r = assert(col:get(args))
    table.sort(r.ids)
    return r.ids
  end

  local function expected(pred)
    local out = {}
    for i, id in ipairs(ids) do if pred(i) then out[#out + 1] = id end end
    return out
  end

  local WHERE = {
    { name = "bob" },
    { score = 3 },
    { even = true },
    { tags = "t1" },
    { score = { ["$ne"] = 3 } },
    { name = { ["$in"] = { "ann", "eve", "nobody" } } },
    { tags = { ["$in"] = { "u2", "t0" } } },
    { name = { ["$nin"] = { "ann", "bob" } } },
    { score = { ["$in"] = {} } },
    { score = { ["$nin"] = {} } },
    { score = { ["$gt"] = 6 } },
    { score = { ["$gte"] = 6, ["$lt"] = 8 } },
    { price = { ["$lte"] = 10.5 } },
    { name = { ["$gt"] = "cy" } },
    { ["$and"] = { { even = false }, { score = { ["$lt"] = 4 } } } },
    { ["$or"] = { { name = "cy" }, { score = 9 }, { tags = "u3" } } },
    { ["$not"] = { score = { ["$gt"] = 2 } } },
    { ["$not"] = { ["$or"] = { { name = "ann" }, { name = "bob" } } } },
    { ["a.b"] = 2 },
    { ["with space"] = "v1", ["ключ"] = "да" },
    { ["ключ"] = { ["$ne"] = "да" } },
    { name = "dee", score = { ["$gte"] = 0 } },
  }

  for n, where in ipairs(WHERE) do
    it("where #" .. n .. " matches the brute-force answer", function()
      assert.are.same(expected(function(i) return eval(where, metas[i]) == true end), got { where = where })
    end)
  end

  it("where_document: $contains, $not_contains, $regex, $not_regex, $and, $or", function()
    local function has(i, w) return docs[i]:find(w, 1, true) ~= nil end
    assert.are.same(expected(function(i) return has(i, "bravo") end), got { where_document = { ["$contains"] = "bravo" } })
    assert.are.same(expected(function(i) return not has(i, "bravo") end), got { where_document = { ["$not_contains"] = "bravo" } })
    assert.are.same(expected(function(i) return docs[i]:match("^doc 1%d ") end), got { where_document = { ["$regex"] = "^doc 1[0-9] " } })
    assert.are.same(expected(function(i) return not docs[i]:match("a$") end), got { where_document = { ["$not_regex"] = "a$" } })
    assert.are.same(expected(function(i) return has(i, "delta") or has(i, "alpha") end),
      got { where_document = { ["$or"] = { { ["$contains"] = "delta" }, { ["$contains"] = "alpha" } } } })
    assert.are.same(expected(function(i) return has(i, "delta") and docs[i]:match("^doc 3") end),
      got { where_document = { ["$and"] = { { ["$contains"] = "delta" }, { ["$regex"] = "^doc 3" } } } })
  end)

  it("combines where, where_document and ids", function()
    assert.are.same(expected(function(i) return i <= 20 and eval({ even = true }, metas[i]) and docs[i]:find("charlie") end),
      got { ids = { helper.unpack(ids, 1, 20) }, where = { even = true }, where_document = { ["$contains"] = "charlie" } })
  end)

  it("takes hostile values as plain data", function()
    for _, v in ipairs { "'", "\\", "\"", "'; DROP TABLE x; --", "%", "_", "\0", "日本", "$.a", "]" } do
      assert.are.same({}, got { where = { name = v } })
      assert.are.same({}, got { where = { name = { ["$in"] = { v, "x" } } } })
      assert.are.same({}, got { where = { name = { ["$gt"] = v, ["$lt"] = v } } })
      assert.are.same({}, got { where_document = { ["$contains"] = v .. "zzz" } })
    end
    assert.are.equal(40, col:count())
  end)

  it("names the place of a malformed filter", function()
    local function raises(args, msg)
      local ok, err = pcall(col.get, col, args)
      assert.is_false(ok)
      assert.matches(msg, err, 1, true)
    end
    raises({ where = { score = { ["$gtt"] = 1 } } }, "where.score.$gtt is an unknown operator")
    raises({ where = { ["$and"] = {} } }, "where.$and must not be empty")
    raises({ where = { ["$or"] = { { a = 1 }, { b = { ["$in"] = "x" } } } } }, "where.$or[2].b.$in must be a list")
    raises({ where = { ["$nope"] = 1 } }, "where.$nope is an unknown operator")
    raises({ where = { a = { ["$gt"] = true } } }, "where.a.$gt must be a number or a string, got boolean")
    raises({ where = { a = { ["$in"] = { {} } } } }, "where.a.$in[1] must be a string, number, boolean or seekdb.null")
    raises({ where = { a = print } }, "where.a must be a value or a table of operators, got function")
    raises({ where = { ['say"hi'] = 1 } }, "is a metadata key a filter cannot name")
    raises({ where = { [1] = 1 } }, "where has a key that is not a string")
    raises({ where_document = { ["$contains"] = 5 } }, "where_document.$contains must be a string, got number")
    raises({ where_document = { ["$like"] = "x" } }, "where_document.$like is an unknown operator")
    raises({ where = "score > 1" }, "where must be a table, got string")
  end)

  it("filters deletes too", function()
    local c = helper.fresh()
    local d = assert(c:create_collection { name = "d", dimension = 2 })
    local i2, v2, d2, m2 = dataset()
    assert(d:upsert { ids = i2, embeddings = v2, documents = d2, metadatas = m2 })
    local n = #expected(function(i) return eval({ score = { ["$gt"] = 6 } }, metas[i]) == true end)
    assert.are.equal(n, d:delete { where = { score = { ["$gt"] = 6 } } })
    assert.are.equal(40 - n, d:count())
    helper.drop(c)
  end)
end)
