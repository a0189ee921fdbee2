-- Hostile strings (spec/hostile_corpus.lua) as ids, documents, metadata keys
-- and values, filter values and collection names. Data must come back byte
-- for byte or be refused with a clear nil, err before any SQL; no statement
-- may ever fail with a syntax error; no table but the collection's may
-- change. Run with each write path (MariaDB's bulk protocol and SQL text) and
-- with the session in sql_mode NO_BACKSLASH_ESCAPES,ANSI_QUOTES, where
-- quoting works differently; then again in sessions whose charset is GBK,
-- Big5, SJIS or CP932 (where a byte 0x81-0xFE can swallow the backslash
-- after it) and on a latin1 server that ignores the charset the client asks
-- for (a second scratch server, started here).
local seekdb = require "seekdb"
local helper = require "helper"
local corpus = require "hostile_corpus"

local ALL = { "documents", "metadatas", "embeddings" }
local ER_PARSE_ERROR = 1064
local LONGEST_ROW = 4096 -- the longest string stored in the filter collection

local unpack = helper.unpack
local function pack(...) return { n = select("#", ...), ... } end

-- Strict UTF-8, as the module checks it (no overlongs, surrogates or code
-- points past U+10FFFF); by hand, since LuaJIT has no utf8 library.
local utf8_seen = {}
local function valid_utf8(s)
  local known = utf8_seen[s]
  if known ~= nil then return known end
  local i, n, ok = 1, #s, true
  while ok and i <= n do
    local c = s:byte(i)
    if c < 0x80 then
      i = i + 1
    else
      local len, cp, min
      if c >= 0xc2 and c <= 0xdf then len, cp, min = 1, c - 0xc0, 0x80
      elseif c >= 0xe0 and c <= 0xef then len, cp, min = 2, c - 0xe0, 0x800
      elseif c >= 0xf0 and c <= 0xf4 then len, cp, min = 3, c - 0xf0, 0x10000
      else ok = false end
      if ok and i + len > n then ok = false end
      for k = 1, ok and len or 0 do
        local b = s:byte(i + k)
        if b < 0x80 or b > 0xbf then ok = false break end
        cp = cp * 64 + (b - 0x80)
      end
      if ok and (cp < min or cp > 0x10ffff or (cp >= 0xd800 and cp <= 0xdfff)) then ok = false end
      i = i + (len or 0) + 1
    end
  end
  utf8_seen[s] = ok
  return ok
end

-- The float32 whose little-endian bytes are b (4 bytes).
local float_of
if string.unpack then
  float_of = function(b) return (string.unpack("<f", b)) end
else
  local ffi = require "ffi"
  local box = ffi.new("float[1]")
  float_of = function(b)
    ffi.copy(box, b, 4)
    return tonumber(box[0])
  end
end

-- A short, printable name of a corpus string for failure messages.
local function show(s)
  local t = s:sub(1, 32):gsub("[^\32-\126]", function(c) return ("\\x%02x"):format(c:byte()) end)
  return ('"%s"%s (%d bytes)'):format(t, #s > 32 and "..." or "", #s)
end

-- Failures are gathered over a whole loop and reported together, so that one
-- run lists every string that misbehaves, not only the first.
local function failures()
  local list = {}
  return list, function(s, fmt, ...)
    list[#list + 1] = show(s) .. ": " .. fmt:format(...)
  end
end

local function none(list)
  local n = #list
  if n > 40 then
    for i = n, 41, -1 do list[i] = nil end
    list[41] = ("... and %d more"):format(n - 40)
  end
  assert(n == 0, n .. " failures:\n  " .. table.concat(list, "\n  "))
end

-- Puts a recorder between the client and its connection: every call that
-- returns nil, err, errno is logged, and every error raised.
local function watch(client)
  local real = client._conn
  local log = { failures = {}, raised = {} }
  client._conn = setmetatable({}, {
    __index = function(_, name)
      local f = real[name]
      if type(f) ~= "function" then return f end
      return function(_, ...)
        local r = pack(pcall(f, real, ...))
        if not r[1] then
          log.raised[#log.raised + 1] = { call = name, msg = tostring(r[2]) }
          error(r[2], 0)
        end
        if r[2] == nil and r.n >= 3 then
          log.failures[#log.failures + 1] = { call = name, msg = r[3], errno = r[4], sqlstate = r[5] }
        end
        return unpack(r, 2, r.n)
      end
    end,
    __tostring = function() return tostring(real) end,
  })
  return log
end

-- The ids of the rows of a model (id -> {metadata=...}) whose metadata.v is s, sorted.
local function holders_in(model, s)
  local out = {}
  for id, row in pairs(model) do
    if type(row.metadata) == "table" and row.metadata.v == s then out[#out + 1] = id end
  end
  table.sort(out)
  return out
end

local function sorted_ids(r)
  local ids = { unpack(r.ids) }
  table.sort(ids)
  return ids
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function list_of(ids)
  local t = {}
  for i, id in ipairs(ids) do t[i] = show(id) end
  return "{" .. table.concat(t, ", ") .. "}"
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02X"):format(c:byte()) end))
end

local function storable_key(s)
  return valid_utf8(s) and not s:find("\0", 1, true)
end

-- Filter values longer than LONGEST_ROW (none of the filter collection's
-- rows can hold them) are looked for in a small collection of their own,
-- "long_filters": the server compares a value with every row it scans, and
-- a JSON_OVERLAPS of the 1 MiB string parses it again for each row (3.6 s
-- a filter over the thousand rows of "filters"). Its rows: for each long
-- valid string, one holding its first LONGEST_ROW bytes (cut back to whole
-- characters) as document and metadata.v, a near miss its own value must
-- not match; and one row without v. What each spec checks of a long value
-- (refused or not, which rows match, no syntax error) is checked there.
local function long_filter_rows()
  local ids, docs, metas, vecs = {}, {}, {}, {}
  for i, s in ipairs(corpus) do
    if valid_utf8(s) and #s > LONGEST_ROW then
      local cut = LONGEST_ROW
      while not valid_utf8(s:sub(1, cut)) do cut = cut - 1 end
      local p = s:sub(1, cut)
      ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "f:" .. i, p, { v = p }, { 1, i }
    end
  end
  ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "no v", "key", { k = "K" }, { 2, 1 }
  return ids, docs, metas, vecs
end

local function questions(client)
  return tonumber(assert(client:query("SHOW SESSION STATUS LIKE 'Questions'"))[1].Value)
end

-- Runs f and says how many statements it sent to the server.
local function statements(client, f)
  local before = questions(client)
  local r = pack(f())
  return questions(client) - before - 1, unpack(r, 1, r.n)
end

local MODES = {
  { name = "bulk protocol", text = false, filters = true },
  { name = "text protocol", text = true },
  { name = "bulk protocol, sql_mode NO_BACKSLASH_ESCAPES", text = false, sql_mode = "NO_BACKSLASH_ESCAPES" },
  { name = "text protocol, sql_mode NO_BACKSLASH_ESCAPES,ANSI_QUOTES", text = true,
    sql_mode = "NO_BACKSLASH_ESCAPES,ANSI_QUOTES", filters = true },
}

describe("the hostile corpus", function()
  it("has at least 200 distinct strings of every kind", function()
    local seen, kinds = {}, {}
    for _, s in ipairs(corpus) do
      assert.is_nil(seen[s], "duplicate " .. show(s))
      seen[s] = true
      if not valid_utf8(s) then kinds.invalid_utf8 = true end
      if s:find("\0", 1, true) then kinds.nul = true end
      if s:find("\26", 1, true) then kinds.ctrl_z = true end
      if #s >= 1024 * 1024 then kinds.mebibyte = true end
      if #s > 254 and #s < 1024 * 1024 then kinds.long = true end
      if s == "" then kinds.empty = true end
    end
    assert.truthy(#corpus >= 200, #corpus .. " strings")
    assert.are.same({ invalid_utf8 = true, nul = true, ctrl_z = true, mebibyte = true, long = true, empty = true },
      kinds)
  end)
end)

for _, mode in ipairs(MODES) do
  describe("hostile strings (" .. mode.name .. ")", function()
    local client, log, col, fcol, lcol, db, dialect
    local model = {}          -- id -> {document=, metadata=, embedding=}: what col must hold
    local fmodel = {}         -- the same for fcol, the collection of the filter specs
    local lmodel = {}         -- and for lcol, where the filter values longer than LONGEST_ROW look
    local before = {}         -- the database outside the collection, at the start
    local max_id

    local function snapshot()
      local s = { tables = {}, checksums = {}, catalog = {}, databases = {} }
      for _, row in ipairs(assert(client:query("SHOW TABLES"))) do
        local _, name = next(row)
        s.tables[#s.tables + 1] = name
      end
      table.sort(s.tables)
      for _, row in ipairs(assert(client:query("CHECKSUM TABLE sentinel, sdk_collections"))) do
        s.checksums[row.Table] = row.Checksum
      end
      for _, row in ipairs(assert(client:query("SELECT collection_name FROM sdk_collections ORDER BY 1"))) do
        s.catalog[#s.catalog + 1] = row.collection_name
      end
      -- this database and the default one are still there (others come and
      -- go: specs may run side by side on the same server)
      for _, name in ipairs { db, "test" } do
        s.databases[name] = #assert(client:query("SHOW DATABASES LIKE '" .. name .. "'"))
      end
      s.sentinel = assert(client:query("SELECT id, v FROM sentinel ORDER BY id"))
      return s
    end

    -- expects a refusal: nil, a message matching pattern, no errno, no SQL
    local function refused(bad, s, pattern, f)
      local n, ok, err, errno = statements(client, f)
      if ok ~= nil then return bad(s, "was accepted, expected a refusal matching %q", pattern) end
      if type(err) ~= "string" or not err:find(pattern) then
        return bad(s, "refused with %q, expected a message matching %q", tostring(err), pattern)
      end
      if errno ~= nil then return bad(s, "refused by the server (errno %s), not before any SQL", tostring(errno)) end
      if n ~= 0 then return bad(s, "refused after %d statements, not before any SQL", n) end
    end

    setup(function()
      client, db = helper.fresh { text_protocol = mode.text }
      dialect = helper.dialect(client)
      max_id = dialect == "mariadb" and 254 or 512
      if mode.sql_mode then
        assert(client:query("SET SESSION sql_mode = CONCAT(@@sql_mode, '," .. mode.sql_mode .. "')"))
      end
      assert(client:query("CREATE TABLE sentinel (id INT PRIMARY KEY, v VARCHAR(100)) DEFAULT CHARSET=utf8mb4"))
      assert(client:query("INSERT INTO sentinel VALUES (1, 'intact'), (2, 'still intact')"))
      col = assert(client:create_collection { name = "hostile", dimension = 2 })
      fcol = assert(client:create_collection { name = "filters", dimension = 2 })
      lcol = assert(client:create_collection { name = "long_filters", dimension = 2 })
      before = snapshot()
      log = watch(client)
    end)
    teardown(function() helper.drop(client) end)

    it("runs in the sql_mode it says", function()
      local m = assert(client:query("SELECT @@SESSION.sql_mode AS m"))[1].m
      for word in ("NO_BACKSLASH_ESCAPES,ANSI_QUOTES"):gmatch("[%w_]+") do
        assert.are.equal((mode.sql_mode or ""):find(word, 1, true) ~= nil, m:find(word, 1, true) ~= nil)
      end
    end)

    it("takes each string as an id, byte for byte, or refuses it before any SQL", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        local args = { ids = s, embeddings = { i, 1 } }
        if #s == 0 then
          refused(fail, s, "ids is an empty string", function() return col:upsert(args) end)
        elseif #s > max_id then
          refused(fail, s, ("ids is %d bytes long; a %s collection takes ids of at most %d bytes")
            :format(#s, dialect, max_id), function() return col:upsert(args) end)
        else
          local ok, err, errno = col:upsert(args)
          if not ok then
            fail(s, "upsert failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            model[s] = { document = seekdb.null, metadata = seekdb.null, embedding = { i, 1 } }
            local r, gerr = col:get { ids = s, include = ALL }
            if not r then fail(s, "get failed: %s", tostring(gerr))
            elseif #r.ids ~= 1 or r.ids[1] ~= s then
              fail(s, "get returned %d ids, the first %s", #r.ids, r.ids[1] and show(r.ids[1]) or "none")
            elseif r.embeddings[1][1] ~= i then
              fail(s, "came back with the vector of another id (%s)", tostring(r.embeddings[1][1]))
            end
          end
        end
      end
      none(bad)
      -- each id is its own row: no two of them collided (case, padding, NUL)
      local n = 0
      for _ in pairs(model) do n = n + 1 end
      assert.are.equal(n, col:count())
    end)

    it("takes all the ids in one call, and gives them back in the order asked", function()
      local ids, docs, metas, vecs = {}, {}, {}, {}
      for i, s in ipairs(corpus) do
        if #s > 0 and #s <= max_id then
          ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = s, "id #" .. i, { id = i }, { i, 2 }
        end
      end
      assert.is_true(col:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      for k, s in ipairs(ids) do
        model[s] = { document = docs[k], metadata = metas[k], embedding = vecs[k] }
      end
      local r = assert(col:get { ids = ids, include = ALL, limit = #ids })
      assert.are.same(ids, r.ids)
      assert.are.same(docs, r.documents)
      assert.are.same(metas, r.metadatas)
      -- and backwards, through the filter-less read of everything
      local rev = {}
      for k = #ids, 1, -1 do rev[#rev + 1] = ids[k] end
      assert.are.same(rev, assert(col:get { ids = rev, include = {}, limit = #ids }).ids)
    end)

    it("refuses a whole batch when one id in it cannot be stored", function()
      local n = col:count()
      for _, badid in ipairs { "", ("x"):rep(max_id + 1) } do
        local ids, vecs = {}, {}
        for i = 1, 20 do ids[i], vecs[i] = "fresh " .. corpus[i], { i, 3 } end
        ids[21], vecs[21] = badid, { 0, 3 }
        local count, ok, err, errno = statements(client, function() return col:upsert { ids = ids, embeddings = vecs } end)
        assert.is_nil(ok)
        assert.matches("ids%[21%]", err)
        assert.is_nil(errno)
        assert.are.equal(0, count)
      end
      assert.are.equal(n, col:count())
    end)

    it("updates, adds and deletes by hostile ids", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        if #s > 0 and #s <= max_id then
          local r, err = col:update { ids = s, metadatas = { updated = i } }
          if not r then fail(s, "update failed: %s", tostring(err))
          elseif r.updated ~= 1 or #r.missing ~= 0 then fail(s, "update found %d rows", r.updated)
          else model[s].metadata = { updated = i } end
          local ok, aerr, errno = col:add { ids = s, embeddings = { 9, 9 } }
          if ok then fail(s, "add of an existing id succeeded")
          elseif errno ~= 1062 or not tostring(aerr):find("an id is already in the collection", 1, true) then
            fail(s, "add of an existing id: %s (errno %s), expected errno 1062", tostring(aerr), tostring(errno))
          end
        end
      end
      none(bad)
      -- an update of ids that are not there names them, byte for byte
      local missing = {}
      for _, s in ipairs(corpus) do
        if #s > 0 and #s < max_id and not model["\0" .. s] then missing[#missing + 1] = "\0" .. s end
      end
      local r = assert(col:update { ids = missing, metadatas = (function()
        local m = {}
        for k = 1, #missing do m[k] = { gone = true } end
        return m
      end)() })
      assert.are.equal(0, r.updated)
      assert.are.same(missing, r.missing)
      -- delete one id at a time, then put it back
      local gone = 0
      for _, s in ipairs(corpus) do
        if model[s] and #s % 3 == 0 then
          local n, err = col:delete { ids = s }
          if n ~= 1 then bad[#bad + 1] = show(s) .. ": delete by id gave " .. tostring(n) .. " " .. tostring(err) end
          gone = gone + 1
          model[s] = nil
        end
      end
      none(bad)
      assert.truthy(gone > 10)
    end)

    it("takes each string as a document: valid UTF-8 exactly, anything else refused", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        local id = "doc:" .. i
        local args = { ids = id, documents = s, embeddings = { i, 4 } }
        if not valid_utf8(s) then
          refused(fail, s, "^documents is not valid UTF%-8 text", function() return col:upsert(args) end)
        else
          local ok, err, errno = col:upsert(args)
          if not ok then fail(s, "upsert failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            model[id] = { document = s, metadata = seekdb.null, embedding = { i, 4 } }
            local r = col:get { ids = id }
            if not r or r.documents[1] ~= s then
              fail(s, "came back as %s", r and type(r.documents[1]) == "string" and show(r.documents[1]) or "nothing")
            end
          end
        end
      end
      none(bad)
    end)

    it("takes all valid documents in one call, also split over many small statements", function()
      local small = helper.fresh { max_packet = 16384, text_protocol = mode.text }
      if mode.sql_mode then
        assert(small:query("SET SESSION sql_mode = CONCAT(@@sql_mode, '," .. mode.sql_mode .. "')"))
      end
      local slog = watch(small)
      local c = assert(small:create_collection { name = "docs", dimension = 2 })
      for _, limit in ipairs { math.huge, 4000 } do
        local target = limit == math.huge and col or c
        local ids, docs, vecs = {}, {}, {}
        for i, s in ipairs(corpus) do
          if valid_utf8(s) and #s <= limit then
            ids[#ids + 1], docs[#ids + 1], vecs[#ids + 1] = "docs:" .. i, s, { i, 5 }
          end
        end
        assert.is_true(target:upsert { ids = ids, documents = docs, embeddings = vecs })
        if target == col then
          for k, id in ipairs(ids) do model[id] = { document = docs[k], metadata = seekdb.null, embedding = vecs[k] } end
        end
        local r = assert(target:get { ids = ids, limit = #ids, include = { "documents" } })
        assert.are.same(ids, r.ids)
        for k = 1, #docs do
          assert(r.documents[k] == docs[k], "document of " .. ids[k] .. " differs: " .. show(docs[k]))
        end
      end
      assert.are.same({}, slog.failures)
      helper.drop(small)
    end)

    it("takes each string as a metadata value, exactly, or refuses invalid UTF-8", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        local id = "val:" .. i
        local meta = { v = s, list = { s, { s } } }
        local args = { ids = id, metadatas = meta, embeddings = { i, 6 } }
        if not valid_utf8(s) then
          refused(fail, s, "^metadatas%.list%[1%] is a string that is not valid UTF%-8", function() return col:upsert(args) end)
        else
          local ok, err, errno = col:upsert(args)
          if not ok then fail(s, "upsert failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            model[id] = { document = seekdb.null, metadata = meta, embedding = { i, 6 } }
            local r = col:get { ids = id }
            local m = r and r.metadatas[1]
            if type(m) ~= "table" or m.v ~= s or type(m.list) ~= "table" or m.list[1] ~= s
              or type(m.list[2]) ~= "table" or m.list[2][1] ~= s then
              fail(s, "came back as %s", type(m) == "table" and type(m.v) == "string" and show(m.v) or tostring(m))
            end
          end
        end
      end
      none(bad)
    end)

    it("takes each string as a metadata key, exactly, or refuses NUL bytes and invalid UTF-8", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        local id = "key:" .. i
        local meta = { [s] = "K", nested = { [s] = i } }
        local args = { ids = id, metadatas = meta, embeddings = { i, 7 } }
        if not valid_utf8(s) then
          refused(fail, s, "is a key that is not valid UTF%-8", function() return col:upsert(args) end)
        elseif s:find("\0", 1, true) then
          refused(fail, s, "is a key with a NUL byte", function() return col:upsert(args) end)
        else
          local ok, err, errno = col:upsert(args)
          if not ok then fail(s, "upsert failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            model[id] = { document = seekdb.null, metadata = meta, embedding = { i, 7 } }
            local r = col:get { ids = id }
            local m = r and r.metadatas[1]
            local keys = {}
            for k in pairs(type(m) == "table" and m or {}) do keys[#keys + 1] = show(k) end
            if type(m) ~= "table" or m[s] ~= "K" or type(m.nested) ~= "table" or m.nested[s] ~= i
              or #keys ~= 2 then
              fail(s, "came back with the keys %s", table.concat(keys, ", "))
            end
          end
        end
      end
      none(bad)
    end)

    -- Filters run on a collection of their own: a row per valid string s with
    -- s as its document and as metadata.v ("f:<i>"), and a row per usable key
    -- with {[s] = "K"} ("k:<i>"). The longest strings are left out of the rows
    -- (every filter scans them all) but not out of the filter values: as
    -- values, they look in lcol (long_filter_rows).
    local function on(s)
      if #s > LONGEST_ROW then return lcol, lmodel end
      return fcol, fmodel
    end

    -- reads do not depend on the write protocol, and filters are quoted the
    -- same way whatever the protocol: they run in the first and last modes
    local fit = mode.filters and it or function() end

    it("writes the rows the filters look for", function()
      local ids, docs, metas, vecs = {}, {}, {}, {}
      for i, s in ipairs(corpus) do
        if valid_utf8(s) and #s <= LONGEST_ROW then
          ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "f:" .. i, s, { v = s }, { 1, i }
        end
        if storable_key(s) and #s <= 4096 then
          ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "k:" .. i, "key", { [s] = "K" }, { 2, i }
        end
      end
      assert.is_true(fcol:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      for k, id in ipairs(ids) do fmodel[id] = { document = docs[k], metadata = metas[k], embedding = vecs[k] } end
      assert.are.equal(#ids, fcol:count())
      ids, docs, metas, vecs = long_filter_rows()
      assert.is_true(lcol:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      for k, id in ipairs(ids) do lmodel[id] = { document = docs[k], metadata = metas[k], embedding = vecs[k] } end
      assert.are.equal(#ids, lcol:count())
    end)

    fit("takes each string as a value of $eq, $in, $ne and $gt/$lt in where", function()
      local bad, fail = failures()
      local with_v = {} -- per model: its rows that have a v
      for _, m in ipairs { fmodel, lmodel } do
        with_v[m] = 0
        for _, row in pairs(m) do
          if row.metadata.v ~= nil then with_v[m] = with_v[m] + 1 end
        end
      end
      for _, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          local with_v = with_v[fmodel]
          local want = holders_in(fmodel, s)
          local filters = {
            { where = { v = s } },
            { where = { v = { ["$in"] = { s, "\0no such value" } } } },
            { where = { v = { ["$ne"] = s } } },
            { where = { v = { ["$nin"] = { "\0no such value", s } } } },
            { where = { v = { ["$gte"] = s, ["$lte"] = s } } },
            { where = { ["$not"] = { v = { ["$gt"] = s } } } },
          }
          for f, args in ipairs(filters) do
            args.limit, args.include = 100000, {}
            local ok, r, err, errno = pcall(fcol.get, fcol, args)
            if not ok then fail(s, "filter #%d raised: %s", f, tostring(r))
            elseif not r then fail(s, "filter #%d failed: %s (errno %s)", f, tostring(err), tostring(errno))
            else
              local got = sorted_ids(r)
              if f <= 2 and not same(got, want) then
                fail(s, "filter #%d matched %s, expected %s", f, list_of(got), list_of(want))
              elseif (f == 3 or f == 4) and #got ~= with_v - #want then
                -- every row with a v other than s; none of the rows without v
                fail(s, "filter #%d matched %d rows, expected %d", f, #got, with_v - #want)
              elseif f >= 5 then
                local has = {}
                for _, id in ipairs(got) do has[id] = true end
                for _, id in ipairs(want) do
                  if not has[id] then fail(s, "filter #%d misses %s, which holds the value itself", f, id) end
                end
              end
            end
          end
        end
      end
      none(bad)
    end)

    -- A value that cannot be valid is a value problem, like invalid UTF-8 in
    -- a document: nil, err before any SQL, as upsert does; not a raise.
    fit("refuses invalid UTF-8 filter values with nil, err before any SQL", function()
      local bad, fail = failures()
      for _, s in ipairs(corpus) do
        if not valid_utf8(s) then
          local filters = {
            { where = { v = s } },
            { where = { v = { ["$in"] = { "x", s } } } },
            { where = { v = { ["$gt"] = s } } },
            { where_document = { ["$contains"] = s } },
            { where_document = { ["$regex"] = s } },
          }
          for f, args in ipairs(filters) do
            local ok, r, err, errno
            local n = statements(client, function()
              ok, r, err, errno = pcall(fcol.get, fcol, args)
            end)
            if not ok then fail(s, "filter #%d raised: %s", f, tostring(r))
            elseif r ~= nil or errno ~= nil or not tostring(err):find("not valid UTF%-8") then
              fail(s, "filter #%d gave %s, %s (errno %s); expected nil, \"... not valid UTF-8\"", f,
                tostring(r), tostring(err), tostring(errno))
            elseif n ~= 0 then fail(s, "filter #%d was refused after %d statements", f, n) end
          end
        end
      end
      none(bad)
    end)

    fit("takes each string as a metadata key in where, or refuses the keys a filter cannot name", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        local ok, r, err, errno = pcall(fcol.get, fcol, { where = { [s] = "K" }, include = {}, limit = 100000 })
        if s == "" or s:find('["\\%z\1-\31]') or not valid_utf8(s)
            or (dialect == "mariadb" and s:sub(1, 1) == "-") then -- MariaDB finds no $."-..." member
          -- documented: a filter cannot name these keys (and says so)
          if ok then fail(s, "a key a filter cannot name was accepted: %s", tostring(r and #r.ids or err))
          elseif not tostring(r):find("is a metadata key a filter cannot name", 1, true)
            and not tostring(r):find("is not a usable metadata key", 1, true) then
            fail(s, "refused with %s", tostring(r))
          end
        elseif s:sub(1, 1) == "$" then
          if ok or not tostring(r):find("is an unknown operator", 1, true) then
            fail(s, "a key starting with $ gave %s", tostring(ok and (r and #r.ids or err) or r))
          end
        elseif not ok then fail(s, "raised: %s", tostring(r))
        elseif not r then fail(s, "failed: %s (errno %s)", tostring(err), tostring(errno))
        else
          local want = fmodel["k:" .. i] and { "k:" .. i } or {}
          if s == "v" then want = nil end -- that key is everywhere
          if want and not same(sorted_ids(r), want) then
            fail(s, "matched %s, expected %s", list_of(sorted_ids(r)), list_of(want))
          end
        end
      end
      none(bad)
    end)

    fit("takes each string in where_document: $contains, $not_contains, $regex, $not_regex", function()
      local bad, fail = failures()
      local totals = { [fcol] = fcol:count(), [lcol] = lcol:count() }
      for _, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          local total = totals[fcol]
          for _, op in ipairs { "$contains", "$not_contains", "$regex", "$not_regex" } do
            local ok, r, err, errno = pcall(fcol.get, fcol, { where_document = { [op] = s }, include = {}, limit = 100000 })
            if not ok then fail(s, "%s raised: %s", op, tostring(r))
            elseif r == nil then
              -- only a regex may fail, and only with the server's regex error
              if not op:find("regex") or errno == nil or errno == ER_PARSE_ERROR then
                fail(s, "%s failed: %s (errno %s)", op, tostring(err), tostring(errno))
              end
            else
              for _, id in ipairs(r.ids) do
                if not fmodel[id] then fail(s, "%s matched %s, which is not in the collection", op, show(id)) end
              end
              if #r.ids > total then fail(s, "%s matched %d rows of %d", op, #r.ids, total) end
            end
          end
        end
      end
      none(bad)
    end)

    -- hybrid_search sends the same strings two ways: into seekdb's
    -- search_parm JSON (golden and fuzzed: spec/20-hybrid, fuzz/filter_sql)
    -- and, here, into MariaDB's ranking statement.
    fit("takes each string as hybrid_search's $contains, where values and metadata keys", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        if valid_utf8(s) then
          local vcol, vmodel = on(s) -- where s is a value
          local function found_only(what, r, holds)
            for _, id in ipairs(r.ids[1]) do
              if not vmodel[id] then fail(s, "%s found %s, which is not in the collection", what, show(id))
              elseif holds and vmodel[id].metadata.v ~= s then fail(s, "%s found %s, which does not hold it", what, show(id)) end
            end
          end
          local function run(what, args)
            local ok, r, err, errno = pcall(vcol.hybrid_search, vcol, args)
            if not ok then fail(s, "%s raised: %s", what, tostring(r))
            elseif not r then fail(s, "%s failed: %s (errno %s)", what, tostring(err), tostring(errno)) end
            return ok and r or nil
          end
          -- s on both sides: every row found holds it
          local r = run("contains + where", {
            query = { where_document = { ["$contains"] = s }, where = { v = s } },
            knn = { query_embeddings = { 1, i }, where = { v = { ["$in"] = { s, "\0no such value" } } }, n_results = 5 },
            include = { "metadatas" } })
          if r then found_only("contains + where", r, true) end
          r = run("$or of $contains", { query = { where_document = { ["$or"] = { { ["$contains"] = s },
            { ["$contains"] = s .. " x" } } } }, n_results = 3, include = {} })
          if r then found_only("$or of $contains", r) end
          r = run("$not_contains + range", { query = { where_document = { ["$not_contains"] = s },
            where = { v = { ["$gte"] = s, ["$lte"] = s } } }, knn = { query_embeddings = { 2, i } }, include = {} })
          if r then found_only("$not_contains + range", r) end
        else
          for f, args in ipairs {
            { query = { where_document = { ["$contains"] = s } } },
            { query = { where = { v = s } } },
            { knn = { query_embeddings = { 1, 1 }, where = { v = { ["$nin"] = { "x", s } } } } },
          } do
            local ok, r, err, errno
            local n = statements(client, function() ok, r, err, errno = pcall(fcol.hybrid_search, fcol, args) end)
            if not ok then fail(s, "hybrid filter #%d raised: %s", f, tostring(r))
            elseif r ~= nil or errno ~= nil or not tostring(err):find("not valid UTF%-8") then
              fail(s, "hybrid filter #%d gave %s, %s (errno %s); expected nil, \"... not valid UTF-8\"", f,
                tostring(r), tostring(err), tostring(errno))
            elseif n ~= 0 then fail(s, "hybrid filter #%d was refused after %d statements", f, n) end
          end
        end
        -- s as a metadata key, in query.where (ranked by _id) and knn.where
        for _, side in ipairs { "query", "knn" } do
          local args = side == "query" and { query = { where = { [s] = "K" } }, include = {} }
            or { knn = { query_embeddings = { 2, i }, where = { [s] = "K" } }, include = {} }
          local ok, r, err, errno = pcall(fcol.hybrid_search, fcol, args)
          if s:sub(1, 1) == "$" then
            if ok or not tostring(r):find("is an unknown operator", 1, true) then
              fail(s, "%s: a key starting with $ gave %s", side, tostring(ok and (r and #r.ids[1] or err) or r))
            end
          elseif s == "" or s:find("['\"\\%z\1-\31]") or not valid_utf8(s)
              or (dialect == "mariadb" and s:sub(1, 1) == "-") then
            if ok then fail(s, "%s: a key hybrid_search cannot name was accepted", side)
            elseif not tostring(r):find("metadata key", 1, true) then fail(s, "%s: refused with %s", side, tostring(r)) end
          elseif not ok then fail(s, "%s: raised: %s", side, tostring(r))
          elseif not r then fail(s, "%s: failed: %s (errno %s)", side, tostring(err), tostring(errno))
          elseif s ~= "v" then
            -- the where-only ranking is exact; the vector index may miss the
            -- one row a filter this narrow leaves (as query's may)
            local want = fmodel["k:" .. i] and { "k:" .. i } or {}
            if not same(r.ids[1], want) and (side == "query" or #r.ids[1] > 0) then
              fail(s, "%s: matched %s, expected %s", side, list_of(r.ids[1]), list_of(want))
            end
          end
        end
      end
      none(bad)
    end)

    fit("takes each string as a filter of query and delete", function()
      local bad, fail = failures()
      for _, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          local r, err, errno = fcol:query { query_embeddings = { 1, 1 }, n_results = 5, where = { v = s },
            where_document = { ["$not_contains"] = s } }
          if not r then fail(s, "query failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            for _, id in ipairs(r.ids[1]) do
              if fmodel[id].metadata.v ~= s then fail(s, "query matched %s", show(id)) end
            end
          end
        end
      end
      -- delete by the value: exactly the rows that hold it
      for _, s in ipairs(corpus) do
        if valid_utf8(s) and #s % 2 == 1 then
          local fcol, fmodel = on(s)
          local want = holders_in(fmodel, s)
          local n, err, errno = fcol:delete { where = { v = s } }
          if n ~= #want then
            fail(s, "delete by where matched %s rows, expected %d (%s, errno %s)", tostring(n), #want,
              tostring(err), tostring(errno))
          end
          for _, id in ipairs(want) do fmodel[id] = nil end
        end
      end
      none(bad)
    end)

    it("refuses every collection name outside ^[A-Za-z0-9_]+$ before any SQL", function()
      local bad, fail = failures()
      for _, s in ipairs(corpus) do
        if s:match("^[A-Za-z0-9_]+$") and #s <= 512 then
          if #s > 59 then -- a version 2 name, too long for a version 1 table
            refused(fail, s, "^invalid collection name", function()
              return client:create_collection { name = s, dimension = 2, version = 1 }
            end)
          end
          for _, version in ipairs(#s <= 59 and { 1, 2 } or { 2 }) do
            local c, err = client:create_collection { name = s, dimension = 2, version = version }
            if not c then fail(s, "create (v%d) failed: %s", version, tostring(err))
            else
              if not client:has_collection(s) then fail(s, "has_collection (v%d) says no", version) end
              local again, gerr = client:get_collection(s)
              if not again or again.name ~= s then fail(s, "get_collection (v%d) failed: %s", version, tostring(gerr)) end
              if not client:delete_collection(s) then fail(s, "delete (v%d) failed", version) end
            end
          end
        else
          local pattern = "^invalid collection name"
          refused(fail, s, pattern, function() return client:create_collection { name = s, dimension = 2 } end)
          refused(fail, s, pattern, function() return client:create_collection { name = s, dimension = 2, version = 1 } end)
          refused(fail, s, pattern, function() return client:get_collection(s) end)
          refused(fail, s, pattern, function() return client:has_collection(s) end)
          refused(fail, s, pattern, function() return client:delete_collection(s) end)
          refused(fail, s, pattern, function() return client:get_or_create_collection { name = s, dimension = 2 } end)
        end
      end
      none(bad)
      local names = {}
      for _, c in ipairs(assert(client:list_collections())) do names[#names + 1] = c.name end
      assert.are.same({ "filters", "hostile", "long_filters" }, names)
    end)

    it("never sent a statement with a syntax error, and changed no other table", function()
      local syntax = {}
      for _, f in ipairs(log.failures) do
        if f.errno == ER_PARSE_ERROR or tostring(f.msg):find("SQL syntax", 1, true) then
          syntax[#syntax + 1] = f.call .. ": " .. tostring(f.msg):sub(1, 200)
        end
      end
      for _, r in ipairs(log.raised) do
        if r.msg:find("SQL syntax", 1, true) then syntax[#syntax + 1] = r.call .. " raised: " .. r.msg:sub(1, 200) end
      end
      assert.are.same({}, syntax)
      -- the only server errors on the way were the expected ones
      local errnos = {}
      for _, f in ipairs(log.failures) do
        if f.errno then errnos[f.errno] = true end
      end
      errnos[1062] = nil -- add of an id that exists
      errnos[1139] = nil -- a regex the server cannot compile
      assert.are.same({}, errnos)
      assert.are.same(before, snapshot())
      assert.are.same({ { id = "1", v = "intact" }, { id = "2", v = "still intact" } },
        assert(client:query("SELECT id, v FROM sentinel ORDER BY id")))
    end)

    it("holds exactly what was written", function()
      local bad, fail = failures()
      for _, c in ipairs { { col, model }, { fcol, fmodel }, { lcol, lmodel } } do
        local coll, want_rows = c[1], c[2]
        local r = assert(coll:get { limit = 1000000, include = ALL })
        local got, n = {}, 0
        for i, id in ipairs(r.ids) do
          got[id] = { document = r.documents[i], metadata = r.metadatas[i], embedding = r.embeddings[i] }
        end
        for id, want in pairs(want_rows) do
          n = n + 1
          local row = got[id]
          if not row then fail(id, "is missing from %s", coll.name)
          else
            if row.document ~= want.document then fail(id, "has another document") end
            if not pcall(assert.are.same, want.metadata, row.metadata) then fail(id, "has other metadata") end
            if row.embedding[1] ~= want.embedding[1] or row.embedding[2] ~= want.embedding[2] then
              fail(id, "has another embedding")
            end
          end
        end
        for id in pairs(got) do
          if not want_rows[id] then fail(id, "is in %s but was never written (or was deleted)", coll.name) end
        end
        if n ~= #r.ids or n ~= coll:count() then
          fail(coll.name, "holds %d rows (count %s), expected %d", #r.ids, tostring(coll:count()), n)
        end
      end
      none(bad)
    end)
  end)
end

-- ---- the same strings in other charsets -------------------------------------------
--
-- The statements the module writes must mean the same whatever the session
-- charset: a text value is _utf8mb4 X'<hex>', and MariaDB's bulk protocol
-- binds documents and metadata as bytes. Here the writing clients run in
-- GBK, Big5, SJIS and CP932 sessions (SET NAMES after connecting), and on a
-- server whose default charset is latin1 and which ignores the charset the
-- client asks for. A second client on the same database, in utf8mb4, reads
-- back what was stored: rows read inside those sessions come converted to
-- the session charset by the server, so they are compared by id only.

-- The second scratch server: scripts/testdb with a name and a port of its own
-- (SEEKDB_TEST_LATIN1_PORT, else the test server's port + 1).
local LATIN1 = {
  name = "latin1-nohandshake",
  args = "--character-set-server=latin1 --collation-server=latin1_swedish_ci "
    .. "--skip-character-set-client-handshake",
  port = tonumber(os.getenv("SEEKDB_TEST_LATIN1_PORT") or "")
    or tonumber(os.getenv("SEEKDB_TEST_PORT") or "33806") + 1,
}

-- Runs scripts/testdb for that server (never under a sanitizer's LD_PRELOAD,
-- and without the test server's variables, which would make it look like an
-- external server); its exit status and output.
local function testdb(command)
  local out = os.tmpname()
  local r = os.execute(("env -u LD_PRELOAD -u SEEKDB_TEST_HOST -u SEEKDB_TEST_SOCKET SEEKDB_SCRATCH_NAME=%s "
    .. "SEEKDB_TEST_PORT=%d SEEKDB_SCRATCH_ARGS='%s' scripts/testdb %s >%s 2>&1")
    :format(LATIN1.name, LATIN1.port, LATIN1.args, command, out))
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  os.remove(out)
  return r == true or r == 0, text
end

local CHARSETS = {
  { name = "SET NAMES gbk", names = "gbk" },
  { name = "SET NAMES big5", names = "big5" },
  { name = "SET NAMES sjis", names = "sjis" },
  { name = "SET NAMES cp932", names = "cp932" },
  { name = "a latin1 server that ignores the client's utf8mb4", names = "latin1", server = LATIN1 },
}

for _, cs in ipairs(CHARSETS) do
  describe("hostile strings (" .. cs.name .. ")", function()
    local skip                 -- why these specs cannot run here, or nil
    local server               -- connection options of the latin1 server, or nil
    local writers, reader, logs = {}, nil, {}
    local col, fcol, lcol, rcol, rfcol, rlcol, db, dialect
    local model, fmodel, lmodel = {}, {}, {}
    local before

    -- a client on the collections' database (not its own)
    local function connect(extra)
      local o = { database = db }
      for k, v in pairs(server or {}) do o[k] = v end
      for k, v in pairs(extra or {}) do o[k] = v end
      return assert(seekdb.Client(helper.options(o)))
    end

    local function charsets(client)
      return assert(client:query("SELECT @@character_set_client AS client, @@character_set_connection AS connection, "
        .. "@@character_set_results AS results"))[1]
    end

    local function snapshot(client)
      local s = { checksums = {}, tables = {} }
      for _, row in ipairs(assert(client:query("SHOW TABLES"))) do
        local _, name = next(row)
        s.tables[#s.tables + 1] = name
      end
      table.sort(s.tables)
      for _, row in ipairs(assert(client:query("CHECKSUM TABLE sentinel, sdk_collections"))) do
        s.checksums[row.Table] = row.Checksum
      end
      s.sentinel = assert(client:query("SELECT id, HEX(v) AS v FROM sentinel ORDER BY id"))
      return s
    end

    setup(function()
      if cs.server then
        if os.getenv("SEEKDB_TEST_HOST") and (os.getenv("SEEKDB_TEST_SOCKET") or "") == "" then
          skip = "needs a second scratch server (scripts/testdb), and SEEKDB_TEST_HOST names an external one"
          return
        end
        local ok, out = testdb("start")
        assert(ok, "scripts/testdb could not start the latin1 server:\n" .. out)
        ok, out = testdb("env")
        local socket = assert(out:match("export SEEKDB_TEST_SOCKET=([^\n]+)"), out)
        server = { host = "127.0.0.1", port = LATIN1.port, socket = socket }
      end
      local bulk
      bulk, db = helper.fresh({ text_protocol = false }, server)
      dialect = helper.dialect(bulk)
      writers.bulk, writers.text = bulk, connect { text_protocol = true }
      for _, w in pairs(writers) do
        if not cs.server then
          local ok, err = w:query("SET NAMES " .. cs.names)
          if not ok then skip = "the server has no charset " .. cs.names .. ": " .. tostring(err) end
        end
      end
      reader = connect()
      assert(reader:query("SET NAMES utf8mb4")) -- the latin1 server ignored what the client asked
      assert(bulk:query("CREATE TABLE sentinel (id INT PRIMARY KEY, v VARCHAR(100)) DEFAULT CHARSET=utf8mb4"))
      assert(reader:query("INSERT INTO sentinel VALUES (1, 'intact \u{4E2D}\u{8868}'), (2, 'still intact')"))
      col = assert(bulk:create_collection { name = "hostile", dimension = 2 })
      fcol = assert(bulk:create_collection { name = "filters", dimension = 2 })
      lcol = assert(bulk:create_collection { name = "long_filters", dimension = 2 })
      rcol, rfcol = assert(reader:get_collection("hostile")), assert(reader:get_collection("filters"))
      rlcol = assert(reader:get_collection("long_filters"))
      before = snapshot(reader)
      logs.bulk, logs.text = watch(writers.bulk), watch(writers.text)
    end)

    teardown(function()
      if writers.text then writers.text:close() end
      if reader then reader:close() end
      if writers.bulk then helper.drop(writers.bulk) end
      if server then
        local ok, out = testdb("stop")
        assert(ok, "scripts/testdb could not stop the latin1 server:\n" .. out)
      end
    end)

    -- where a filter value looks: lcol if it is longer than LONGEST_ROW
    -- (long_filter_rows), else fcol
    local function on(s)
      if #s > LONGEST_ROW then return lcol, lmodel end
      return fcol, fmodel
    end

    -- `it` that says why it cannot run here instead
    local function cit(name, f)
      it(name, function()
        if skip then return pending(skip) end
        return f()
      end)
    end

    cit("runs in the charset it says, and reads back in utf8mb4", function()
      for _, w in pairs(writers) do
        assert.are.same({ client = cs.names, connection = cs.names, results = cs.names }, charsets(w))
      end
      assert.are.same({ client = "utf8mb4", connection = "utf8mb4", results = "utf8mb4" }, charsets(reader))
    end)

    -- documents and metadata (values, lists and keys) of every valid string,
    -- in one call per protocol, then updated; read back in utf8mb4
    for _, protocol in ipairs { "bulk", "text" } do
      cit("stores documents and metadata byte for byte through the " .. protocol .. " protocol", function()
        local w, prefix = writers[protocol], protocol:sub(1, 1) .. ":"
        local wcol = protocol == "bulk" and col or assert(w:get_collection("hostile"))
        local ids, docs, metas, vecs = {}, {}, {}, {}
        for i, s in ipairs(corpus) do
          if valid_utf8(s) then
            -- (the 1 MiB string as metadata, in hex, four times, would pass max_allowed_packet)
            local meta = #s <= 65536 and { v = s, list = { s, { s } } } or { v = "long" }
            if storable_key(s) and s ~= "v" and s ~= "list" and #s <= 65536 then meta[s] = i end
            ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = prefix .. i, s, meta, { i, 1 }
          end
        end
        local function prepares()
          return tonumber(assert(w:query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'"))[1].Value)
        end
        local p0 = prepares()
        assert.is_true(wcol:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
        -- and an update of every other row's metadata (INSERT ... ON DUPLICATE KEY UPDATE)
        local uids, umetas = {}, {}
        for k = 1, #ids, 2 do
          uids[#uids + 1], umetas[#uids + 1] = ids[k], #docs[k] <= 65536 and { v = docs[k], updated = { docs[k] } }
            or { updated = true }
          metas[k] = umetas[#uids]
        end
        local r = assert(wcol:update { ids = uids, metadatas = umetas })
        assert.are.equal(#uids, r.updated)
        -- the bulk client did use MariaDB's bulk protocol (prepared statements), the text client did not
        if protocol == "bulk" and dialect == "mariadb" then assert.truthy(prepares() > p0 + 1)
        else assert.are.equal(p0, prepares()) end
        for k, id in ipairs(ids) do model[id] = { document = docs[k], metadata = metas[k], embedding = vecs[k] } end
        local back = assert(rcol:get { ids = ids, include = ALL, limit = #ids })
        assert.are.same(ids, back.ids)
        local bad, fail = failures()
        for k = 1, #ids do
          if back.documents[k] ~= docs[k] then
            fail(docs[k], "was stored as the document %s", show(tostring(back.documents[k])))
          end
          if not pcall(assert.are.same, metas[k], back.metadatas[k]) then
            fail(docs[k], "was stored as other metadata")
          end
        end
        -- and the bytes themselves, as the server holds them, without the module's reading
        local raw = assert(reader:query("SELECT _id, HEX(document) AS d, HEX(JSON_UNQUOTE(JSON_EXTRACT(metadata, "
          .. "'$.list[1][0]'))) AS v FROM `" .. col._table .. "` WHERE _id LIKE '" .. prefix .. "%'"))
        assert.are.equal(#ids, #raw)
        local index = {}
        for k, id in ipairs(ids) do index[id] = k end
        for _, row in ipairs(raw) do
          local k = assert(index[row._id], row._id)
          if row.d ~= hex(docs[k]) then fail(docs[k], "is stored as the document bytes %s", row.d:sub(1, 64)) end
          local v = metas[k].list and metas[k].list[2][1] -- updated rows have no list
          if v and row.v ~= hex(v) then fail(docs[k], "is stored as the metadata bytes %s", tostring(row.v):sub(1, 64)) end
        end
        none(bad)
      end)
    end

    cit("writes the rows the filters look for", function()
      local ids, docs, metas, vecs = {}, {}, {}, {}
      for i, s in ipairs(corpus) do
        if valid_utf8(s) and #s <= LONGEST_ROW then
          ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "f:" .. i, s, { v = s }, { 1, i }
        end
        if storable_key(s) and #s <= LONGEST_ROW and s ~= "v" then
          ids[#ids + 1], docs[#ids + 1], metas[#ids + 1], vecs[#ids + 1] = "k:" .. i, "key", { [s] = "K" }, { 2, i }
        end
      end
      assert.is_true(fcol:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      for k, id in ipairs(ids) do fmodel[id] = { document = docs[k], metadata = metas[k], embedding = vecs[k] } end
      assert.are.equal(#ids, fcol:count())
      ids, docs, metas, vecs = long_filter_rows()
      assert.is_true(lcol:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
      for k, id in ipairs(ids) do lmodel[id] = { document = docs[k], metadata = metas[k], embedding = vecs[k] } end
      assert.are.equal(#ids, rlcol:count())
    end)

    -- Each of the three literal writers of a where filter: the JSON array of
    -- $eq (and $in, $ne, $nin), the scalar of $gt/$gte/$lt/$lte, the JSON path
    -- of a key. Only ids are compared: they are VARBINARY, which no charset
    -- converts.
    cit("matches exactly the rows a where filter names, and no other", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          local want = holders_in(fmodel, s)
          local filters = {
            { where = { v = s } },
            { where = { v = { ["$gte"] = s, ["$lte"] = s } } },
          }
          if storable_key(s) and s ~= "v" and s ~= "" and not s:find('["\\%c]') and s:sub(1, 1) ~= "$"
            and s:sub(1, 1) ~= "-" then
            filters[3] = { where = { [s] = "K" } }
          end
          for f, args in pairs(filters) do
            args.limit, args.include = 100000, {}
            local ok, r, err, errno = pcall(fcol.get, fcol, args)
            if not ok then fail(s, "filter #%d raised: %s", f, tostring(r))
            elseif not r then fail(s, "filter #%d failed: %s (errno %s)", f, tostring(err), tostring(errno))
            else
              local got = sorted_ids(r)
              if f == 1 and not same(got, want) then
                fail(s, "$eq matched %s, expected %s", list_of(got), list_of(want))
              elseif f == 2 then
                -- equal under the collation: never a row without v, always the holders
                local has = {}
                for _, id in ipairs(got) do
                  has[id] = true
                  if fmodel[id].metadata.v == nil then fail(s, "$gte/$lte matched %s, which has no v", id) end
                end
                for _, id in ipairs(want) do
                  if not has[id] then fail(s, "$gte/$lte misses %s, which holds the value itself", id) end
                end
              elseif f == 3 and not same(got, fmodel["k:" .. i] and { "k:" .. i } or {}) then
                fail(s, "as a key matched %s", list_of(got))
              end
            end
          end
        end
      end
      none(bad)
    end)

    cit("matches only rows of the collection with where_document", function()
      local bad, fail = failures()
      for _, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          for _, op in ipairs { "$contains", "$not_regex" } do
            local ok, r, err, errno = pcall(fcol.get, fcol, { where_document = { [op] = s }, include = {}, limit = 100000 })
            if not ok then fail(s, "%s raised: %s", op, tostring(r))
            elseif r == nil then
              if not op:find("regex") or errno == nil or errno == ER_PARSE_ERROR then
                fail(s, "%s failed: %s (errno %s)", op, tostring(err), tostring(errno))
              end
            else
              for _, id in ipairs(r.ids) do
                if not fmodel[id] then fail(s, "%s matched %s, which is not in the collection", op, show(id)) end
              end
            end
          end
        end
      end
      none(bad)
    end)

    -- hybrid_search's own literals (MATCH's relevance text beside the filters')
    cit("hybrid_search finds exactly the rows a where names, and only rows holding it", function()
      local bad, fail = failures()
      for i, s in ipairs(corpus) do
        if valid_utf8(s) then
          local fcol, fmodel = on(s)
          local want = holders_in(fmodel, s)
          for f, args in ipairs {
            { query = { where = { v = s } }, n_results = 1000 },
            { query = { where_document = { ["$contains"] = s }, where = { v = s } },
              knn = { query_embeddings = { 1, i }, where = { v = s } }, n_results = 1000 },
          } do
            args.include = {}
            local ok, r, err, errno = pcall(fcol.hybrid_search, fcol, args)
            if not ok then fail(s, "hybrid #%d raised: %s", f, tostring(r))
            elseif not r then fail(s, "hybrid #%d failed: %s (errno %s)", f, tostring(err), tostring(errno))
            else
              local got = { unpack(r.ids[1]) }
              table.sort(got)
              if f == 1 and #want <= 60 and not same(got, want) then
                fail(s, "hybrid where matched %s, expected %s", list_of(got), list_of(want))
              end
              for _, id in ipairs(got) do
                if not fmodel[id] or fmodel[id].metadata.v ~= s then fail(s, "hybrid #%d found %s", f, show(id)) end
              end
            end
          end
        end
      end
      none(bad)
    end)

    cit("queries and deletes exactly the rows a filter names", function()
      local bad, fail = failures()
      for _, s in ipairs(corpus) do
        if valid_utf8(s) and #s % 2 == 0 then
          local fcol, fmodel = on(s)
          local r, err, errno = fcol:query { query_embeddings = { 1, 1 }, n_results = 5, where = { v = s },
            include = { "distances" } }
          if not r then fail(s, "query failed: %s (errno %s)", tostring(err), tostring(errno))
          else
            for _, id in ipairs(r.ids[1]) do
              if fmodel[id].metadata.v ~= s then fail(s, "query matched %s", show(id)) end
            end
          end
        end
      end
      local left = { [fmodel] = 0, [lmodel] = 0 } -- rows left, per model
      for m in pairs(left) do
        for _ in pairs(m) do left[m] = left[m] + 1 end
      end
      for _, s in ipairs(corpus) do
        if valid_utf8(s) and #s % 2 == 1 then
          local fcol, fmodel = on(s)
          local want = holders_in(fmodel, s)
          local n, err, errno = fcol:delete { where = { v = s } }
          if n ~= #want then
            fail(s, "delete by where matched %s rows, expected %d (%s, errno %s)", tostring(n), #want,
              tostring(err), tostring(errno))
          end
          for _, id in ipairs(want) do fmodel[id] = nil end
          left[fmodel] = left[fmodel] - #want
        end
      end
      none(bad)
      assert.are.equal(left[fmodel], fcol:count())
      assert.are.equal(left[fmodel], rfcol:count())
      assert.are.equal(left[lmodel], lcol:count())
      assert.are.equal(left[lmodel], rlcol:count())
    end)

    -- issue 10: in a GBK session this deleted every row
    cit("deletes nothing with $gt of a string whose lead byte ate the escaping backslash", function()
      local c = assert(writers.bulk:create_collection { name = "issue10", dimension = 2 })
      assert(c:upsert { ids = { "a", "b", "c" }, embeddings = { { 1, 2 }, { 3, 4 }, { 5, 6 } },
        metadatas = { { k = "x" }, { k = "y" }, { k = "z" } } })
      for _, w in pairs(writers) do
        local wc = assert(w:get_collection("issue10"))
        for _, s in ipairs { "\u{4E2D}' OR 1=1) -- ", "\u{4E01}' OR 1=1) -- ", "\u{4E2D}\\' OR 1=1) -- " } do
          assert.are.same({}, assert(wc:get { where = { k = { ["$gt"] = s } }, include = {} }).ids)
          assert.are.equal(0, assert(wc:delete { where = { k = { ["$gt"] = s } } }))
          assert.are.equal(0, assert(wc:delete { where_document = { ["$contains"] = s }, ids = "zz" }))
        end
        assert.are.equal(3, wc:count())
      end
      assert(writers.bulk:delete_collection("issue10"))
    end)

    cit("never sent a statement with a syntax error, and changed no other table", function()
      local syntax, errnos = {}, {}
      for _, log in pairs(logs) do
        for _, f in ipairs(log.failures) do
          if f.errno == ER_PARSE_ERROR or tostring(f.msg):find("SQL syntax", 1, true) then
            syntax[#syntax + 1] = f.call .. ": " .. tostring(f.msg):sub(1, 200)
          end
          if f.errno then errnos[f.errno] = true end
        end
        for _, r in ipairs(log.raised) do
          if r.msg:find("SQL syntax", 1, true) then syntax[#syntax + 1] = r.call .. " raised: " .. r.msg:sub(1, 200) end
        end
      end
      assert.are.same({}, syntax)
      errnos[1139] = nil -- a regex the server cannot compile
      assert.are.same({}, errnos)
      assert.are.same(before, snapshot(reader))
    end)

    cit("holds exactly what was written, read back in utf8mb4", function()
      local bad, fail = failures()
      for _, c in ipairs { { rcol, model }, { rfcol, fmodel }, { rlcol, lmodel } } do
        local coll, want_rows = c[1], c[2]
        local r = assert(coll:get { limit = 1000000, include = ALL })
        local got, n = {}, 0
        for i, id in ipairs(r.ids) do
          got[id] = { document = r.documents[i], metadata = r.metadatas[i], embedding = r.embeddings[i] }
        end
        for id, want in pairs(want_rows) do
          n = n + 1
          local row = got[id]
          if not row then fail(id, "is missing from %s", coll.name)
          else
            if row.document ~= want.document then fail(id, "has another document") end
            if not pcall(assert.are.same, want.metadata, row.metadata) then fail(id, "has other metadata") end
            if row.embedding[1] ~= want.embedding[1] or row.embedding[2] ~= want.embedding[2] then
              fail(id, "has another embedding")
            end
          end
        end
        for id in pairs(got) do
          if not want_rows[id] then fail(id, "is in %s but was never written (or was deleted)", coll.name) end
        end
        if n ~= #r.ids then fail(coll.name, "holds %d rows, expected %d", #r.ids, n) end
      end
      none(bad)
    end)
  end)
end

describe("vectors whose float32 bytes look like text", function()
  local client
  setup(function() client = helper.fresh() end)
  teardown(function() helper.drop(client) end)

  -- A MariaDB vector comes back as its float32 bytes; bytes that happen to
  -- spell "[12]" are still those floats, not the text of a vector.
  it("round-trip as the numbers they are", function()
    local cases = {
      { 1, { float_of("[12]") } },
      { 2, { float_of("[1.0"), float_of(",2.]") } },
      { 2, { float_of("[ 1,"), float_of(" 2 ]") } },
      { 3, { float_of("[1,2"), float_of(",3] "), 0.5 } },
    }
    for k, case in ipairs(cases) do
      local dim, vec = case[1], case[2]
      local name = "v" .. k
      local c = assert(client:create_collection { name = name, dimension = dim })
      assert(c:upsert { ids = "x", embeddings = vec })
      local got = assert(c:get { ids = "x", include = { "embeddings" } }).embeddings[1]
      helper.assert_vector(vec, got)
      local q = assert(c:query { query_embeddings = vec, n_results = 1, include = { "embeddings" } })
      helper.assert_vector(vec, q.embeddings[1][1])
    end
  end)
end)
