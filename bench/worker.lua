-- One Lua contender of the benchmark, in a process of its own (so that its CPU
-- time and peak RSS are its own). run.lua starts it as
--   lua5.4 bench/worker.lua <contender> <N> <idx|noidx> <name>
-- It makes the N rows, upserts them into the table of collection <name>
-- (timing only the upsert), checks the table, and prints one RESULT line.
--
-- Contenders:
--   seekdb     lua-seekdb, collection:upsert with all N rows in one call
--   seekdb500  lua-seekdb, collection:upsert in calls of 500 rows
--   seekdb_ef  lua-seekdb, documents only: a trivial Lua embedding function
--              hands back a precomputed vector per document
--   luasql     LuaSQL-mysql + lua-cjson: multi-row INSERT ... ON DUPLICATE KEY
--              UPDATE text, conn:escape, VEC_FromText('[..]'), 500 rows a
--              statement, one transaction
--   pyalgo     pyseekdb's algorithm over lua-seekdb's connection: per row a
--              SELECT, then an UPDATE or an INSERT, X'..' vectors, one
--              transaction
-- lua-seekdb makes its own table (create_collection with the index, CREATE
-- TABLE by hand without); run.lua makes the others' before starting them.

-- lua-seekdb from run.lua's copy of it (BENCH_MODULE_DIR), else the checkout's.
local module_dir = os.getenv("BENCH_MODULE_DIR")
if module_dir and module_dir ~= "" then
  package.path = ("bench/?.lua;%s/?.lua;%s/?/init.lua;"):format(module_dir, module_dir) .. package.path
  package.cpath = "bench/?.so;" .. module_dir .. "/?.so;" .. package.cpath
else
  package.path = "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
  package.cpath = "bench/?.so;./?.so;" .. package.cpath
end

local common = require "common"
local clock = require "benchclock"

local contender, N, mode, name = arg[1], tonumber(arg[2]), arg[3], arg[4]
assert(contender and N and (mode == "idx" or mode == "noidx") and name,
  "usage: worker.lua <contender> <N> <idx|noidx> <name>")
local tbl = common.table_of(name)
local BATCH = common.BATCH
local SPOT = N // 3 + 1 -- the row every contender's spot check reads back

-- Memory the Lua input takes: collectgarbage("count") around building it.
local function lua_kb()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

-- Builds the rows as plain lists; returns them and the KiB they take.
local function build_rows()
  local before = lua_kb()
  local ids, docs, metas, vecs = {}, {}, {}, {}
  local nextvec = common.vectors()
  for i = 1, N do
    ids[i], docs[i], metas[i] = common.id(i), common.document(i), common.metadata(i)
    vecs[i] = nextvec()
  end
  return ids, docs, metas, vecs, lua_kb() - before
end

-- Times f: wall seconds and CPU seconds (user+sys, getrusage) of this process.
-- (The system part goes to the RESULT line as cpu_sys.)
local cpu_sys
local function timed(f)
  local t0, c0, _, s0 = clock.now(), clock.cpu()
  f()
  local t1, c1, _, s1 = clock.now(), clock.cpu()
  cpu_sys = s1 - s0
  return t1 - t0, c1 - c0
end

local function check(cond, fmt, ...)
  if not cond then
    io.stderr:write(("%s N=%d %s: check failed: " .. fmt .. "\n"):format(contender, N, mode, ...))
    os.exit(3)
  end
end

local result

---------------------------------------------------------------------------
-- lua-seekdb
---------------------------------------------------------------------------

local function seekdb_client()
  local seekdb = require "seekdb"
  return seekdb, assert(seekdb.Client(common.conn_options()))
end

local function seekdb_collection(client, ef)
  if mode == "idx" then
    assert(client:create_collection { name = name, dimension = common.DIM, version = 1 })
  else
    assert(client:query(common.ddl_noindex(tbl)))
  end
  return assert(client:get_collection(name, { embedding_function = ef }))
end

-- What the module sent, from the server's session counters: how many INSERT
-- statements, and how many of them went through the binary protocol.
local function session_counts(client)
  local t = {}
  for _, r in ipairs(assert(client:query("SHOW SESSION STATUS WHERE Variable_name IN "
      .. "('Com_insert', 'Com_stmt_execute')"))) do
    t[r.Variable_name] = tonumber(r.Value)
  end
  return t
end

local function seekdb_verify(col)
  check(assert(col:count()) == N, "count %s, expected %d", tostring(col:count()), N)
  local got = assert(col:get { ids = { common.id(SPOT) }, include = { "documents", "metadatas" } })
  local _, doc, cat, score = common.expect(SPOT)
  check(got.ids[1] == common.id(SPOT), "row %d missing", SPOT)
  check(got.documents[1] == doc, "document of row %d: %s", SPOT, tostring(got.documents[1]))
  local m = got.metadatas[1]
  check(type(m) == "table" and m.category == cat and m.score == score, "metadata of row %d", SPOT)
end

-- `as_bytes`: each vector given as a seekdb.vector (float32s made once,
-- before the clock starts, as a program that holds its vectors as bytes has them).
local function run_seekdb(per_call, as_bytes)
  local seekdb, client = seekdb_client()
  local col = seekdb_collection(client)
  local before = lua_kb()
  local calls = {}
  local nextvec = common.vectors()
  for first = 1, N, per_call do
    local a = { ids = {}, documents = {}, metadatas = {}, embeddings = {} }
    for i = first, math.min(first + per_call - 1, N) do
      local k = i - first + 1
      a.ids[k], a.documents[k], a.metadatas[k] = common.id(i), common.document(i), common.metadata(i)
      a.embeddings[k] = as_bytes and seekdb.vector(nextvec()) or nextvec()
    end
    calls[#calls + 1] = a
  end
  local input_kb = lua_kb() - before
  local s0 = session_counts(client)
  local wall, cpu = timed(function()
    for c = 1, #calls do assert(col:upsert(calls[c])) end
  end)
  local rss = common.peak_rss_kb()
  local s1 = session_counts(client)
  seekdb_verify(col)
  client:close()
  result = { wall = wall, cpu = cpu, hwm_kb = rss, input_kb = input_kb, calls = #calls,
    com_insert = s1.Com_insert - s0.Com_insert,
    com_stmt_execute = s1.Com_stmt_execute - s0.Com_stmt_execute }
end

local function run_seekdb_ef()
  local _, client = seekdb_client()
  local ids, docs, metas, vecs, input_kb = build_rows()
  -- the "model": a lookup of the precomputed vector of each document
  local by_doc = {}
  for i = 1, N do by_doc[docs[i]] = vecs[i] end
  local ncalls, ndocs = 0, 0
  local function embed(documents)
    ncalls = ncalls + 1
    local out = {}
    for k = 1, #documents do out[k] = by_doc[documents[k]] end
    ndocs = ndocs + #documents
    return out
  end
  local col = seekdb_collection(client, embed)
  local wall, cpu = timed(function()
    assert(col:upsert { ids = ids, documents = docs, metadatas = metas })
  end)
  local rss = common.peak_rss_kb()
  check(ndocs == N, "the embedding function saw %d documents, expected %d", ndocs, N)
  seekdb_verify(col)
  client:close()
  result = { wall = wall, cpu = cpu, hwm_kb = rss, input_kb = input_kb, ef_calls = ncalls }
end

---------------------------------------------------------------------------
-- LuaSQL-mysql + lua-cjson: what a Lua user writes today
---------------------------------------------------------------------------

local function run_luasql()
  local driver = require "luasql.mysql"
  local cjson = require "cjson"
  local o = common.conn_options()
  local env = assert(driver.mysql())
  local conn = assert(env:connect(o.database, o.user, o.password, o.host, o.port))
  local ids, docs, metas, vecs, input_kb = build_rows()
  local head = "INSERT INTO `" .. tbl .. "` (_id, document, embedding, metadata) VALUES "
  local tail = " ON DUPLICATE KEY UPDATE document = VALUES(document), "
    .. "embedding = VALUES(embedding), metadata = VALUES(metadata)"
  local wall, cpu = timed(function()
    assert(conn:setautocommit(false))
    for first = 1, N, BATCH do
      local parts = {}
      for i = first, math.min(first + BATCH - 1, N) do
        parts[#parts + 1] = "('" .. conn:escape(ids[i]) .. "', '" .. conn:escape(docs[i])
          .. "', VEC_FromText('" .. cjson.encode(vecs[i]) .. "'), '"
          .. conn:escape(cjson.encode(metas[i])) .. "')"
      end
      assert(conn:execute(head .. table.concat(parts, ", ") .. tail))
    end
    assert(conn:commit())
  end)
  local rss = common.peak_rss_kb()
  assert(conn:setautocommit(true))
  local cur = assert(conn:execute("SELECT COUNT(*) FROM `" .. tbl .. "`"))
  local count = tonumber(cur:fetch())
  cur:close()
  check(count == N, "count %s, expected %d", tostring(count), N)
  local id, doc, cat, score = common.expect(SPOT)
  cur = assert(conn:execute("SELECT document, metadata FROM `" .. tbl .. "` WHERE _id = '"
    .. conn:escape(id) .. "'"))
  local gdoc, gmeta = cur:fetch()
  cur:close()
  check(gdoc == doc, "document of row %d: %s", SPOT, tostring(gdoc))
  local m = gmeta and cjson.decode(gmeta)
  check(m and m.category == cat and m.score == score, "metadata of row %d: %s", SPOT, tostring(gmeta))
  conn:close()
  env:close()
  result = { wall = wall, cpu = cpu, hwm_kb = rss, input_kb = input_kb }
end

---------------------------------------------------------------------------
-- pyseekdb's algorithm over lua-seekdb's connection
---------------------------------------------------------------------------

local ESC = { ["\\"] = "\\\\", ["'"] = "''" }
local function esc(s) return (s:gsub("[\\']", ESC)) end

-- json.dumps of a flat table (sorted keys), in Lua
local function json_flat(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do
    local v = t[k]
    local js = math.type(v) == "integer" and tostring(v)
      or type(v) == "number" and ("%.17g"):format(v)
      or '"' .. tostring(v):gsub('[\\"]', "\\%0") .. '"'
    out[i] = '"' .. k .. '": ' .. js
  end
  return "{" .. table.concat(out, ", ") .. "}"
end

local function run_pyalgo()
  local _, client = seekdb_client()
  local ids, docs, metas, vecs, input_kb = build_rows()
  local hex, pack = common.hex, common.pack_vector
  local updates, inserts = 0, 0
  local wall, cpu = timed(function()
    assert(client:query("START TRANSACTION"))
    for i = 1, N do
      local idx = "X'" .. hex(ids[i]) .. "'"
      local found = assert(client:query("SELECT _id FROM `" .. tbl .. "` WHERE _id = " .. idx))
      local vec = "X'" .. hex(pack(vecs[i])) .. "'"
      if #found > 0 then
        assert(client:query("UPDATE `" .. tbl .. "` SET document = '" .. esc(docs[i])
          .. "', embedding = " .. vec .. ", metadata = '" .. esc(json_flat(metas[i]))
          .. "' WHERE _id = " .. idx))
        updates = updates + 1
      else
        assert(client:query("INSERT INTO `" .. tbl .. "` (_id, document, embedding, metadata) VALUES ("
          .. idx .. ", '" .. esc(docs[i]) .. "', " .. vec .. ", '" .. esc(json_flat(metas[i])) .. "')"))
        inserts = inserts + 1
      end
    end
    assert(client:query("COMMIT"))
  end)
  local rss = common.peak_rss_kb()
  local rows = assert(client:query("SELECT COUNT(*) AS n FROM `" .. tbl .. "`"))
  check(tonumber(rows[1].n) == N, "count %s, expected %d", tostring(rows[1].n), N)
  local id, doc, cat, score = common.expect(SPOT)
  rows = assert(client:query("SELECT document, JSON_VALUE(metadata, '$.category') AS c, "
    .. "JSON_VALUE(metadata, '$.score') AS s FROM `" .. tbl .. "` WHERE _id = '" .. esc(id) .. "'"))
  check(rows[1] and rows[1].document == doc and rows[1].c == cat and tonumber(rows[1].s) == score,
    "row %d", SPOT)
  client:close()
  result = { wall = wall, cpu = cpu, hwm_kb = rss, input_kb = input_kb,
    inserts = inserts, updates = updates }
end

---------------------------------------------------------------------------

local runs = {
  seekdb = function() run_seekdb(N) end,
  seekdb500 = function() run_seekdb(BATCH) end,
  seekdb_bytes = function() run_seekdb(N, true) end,
  seekdb_ef = run_seekdb_ef,
  luasql = run_luasql,
  pyalgo = run_pyalgo,
}
assert(runs[contender], "unknown contender " .. contender)()
result.rows = N
result.cpu_sys = cpu_sys
common.result(result)
