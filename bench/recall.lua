-- Recall of collection:query against brute force (issue 13, item 6), and the
-- time each query takes, with no filter and with filters keeping about 50%,
-- 5% and 0.5% of the rows; beside them what the vector index alone gives for
-- the same filtered statements (the measurements behind query's choice of an
-- exact scan for filtered queries on MariaDB). Writes bench/recall.md.
--
--   make bench-recall                       (20,000 rows x 128 dimensions)
--   eval "$(scripts/testdb env)"; lua5.4 bench/recall.lua [rows] [dim] [queries]
--
-- Figures only: nothing here fails on time or recall.
package.path = "lua/?.lua;" .. package.path
package.cpath = "./?.so;" .. package.cpath
local seekdb = require "seekdb"
local core = require "seekdb.core"

local N = tonumber(arg[1] or os.getenv("RECALL_N") or 20000)
local D = tonumber(arg[2] or os.getenv("RECALL_DIM") or 128)
local Q = tonumber(arg[3] or os.getenv("RECALL_QUERIES") or 40)
local K = 10
local OUT = os.getenv("RECALL_OUT") or "bench/recall.md"

local ok_socket, socket = pcall(require, "socket")
local now = ok_socket and socket.gettime or os.clock

local function env(k, d) local v = os.getenv(k); return v ~= nil and v ~= "" and v or d end
local client = assert(seekdb.Client {
  host = env("SEEKDB_TEST_HOST", "127.0.0.1"), port = tonumber(env("SEEKDB_TEST_PORT", "2881")),
  user = env("SEEKDB_TEST_USER", "root"), password = env("SEEKDB_TEST_PASSWORD", ""),
  database = env("SEEKDB_TEST_DATABASE", "test"), socket = os.getenv("SEEKDB_TEST_SOCKET") ~= "" and os.getenv("SEEKDB_TEST_SOCKET") or nil,
})

-- Data: 200 clusters (embeddings of real texts are clustered; uniform random
-- points in 128 dimensions are all about equally far apart, which no index
-- answers well), each row its cluster's centre plus Gaussian noise. Metadata
-- b = i % 200, independent of the cluster: b < 100 keeps 50%, b < 10 5%,
-- b == 0 0.5%.
local rng = 12345
local function rand() -- a small LCG: the same data under Lua 5.4 and LuaJIT
  rng = (rng * 1103515245 + 12345) % 2147483648
  return rng / 2147483648
end
local function gauss() return math.sqrt(-2 * math.log(rand() + 1e-12)) * math.cos(2 * math.pi * rand()) end
local centres = {}
for c = 1, 200 do
  local v = {}
  for j = 1, D do v[j] = rand() * 2 - 1 end
  centres[c] = v
end
local vecs, ids = {}, {}
for i = 1, N do
  local c, v = centres[1 + math.floor(rand() * 200)], {}
  for j = 1, D do v[j] = c[j] + 0.35 * gauss() end
  vecs[i], ids[i] = v, "r" .. i
end
local queries = {}
for q = 1, Q do
  local base, v = vecs[1 + math.floor(rand() * N)], {}
  for j = 1, D do v[j] = base[j] + 0.2 * gauss() end
  queries[q] = v
end

local name = "recall_bench"
client:delete_collection(name)
local t0 = now()
local col = assert(client:create_collection { name = name, dimension = D, distance = "l2" })
for s = 1, N, 1000 do
  local bi, be, bm = {}, {}, {}
  for i = s, math.min(N, s + 999) do
    bi[#bi + 1], be[#be + 1], bm[#bm + 1] = ids[i], vecs[i], { b = (i - 1) % 200 }
  end
  assert(col:upsert { ids = bi, embeddings = be, metadatas = bm })
end
local load_s = now() - t0

-- float32 as the server keeps them, for brute force
local f32 = string.pack and function(x) return (string.unpack("<f", string.pack("<f", x))) end or function(x) return x end
local function sqdist(a, b)
  local s = 0
  for j = 1, D do local d = a[j] - b[j]; s = s + d * d end
  return s
end
for i = 1, N do for j = 1, D do vecs[i][j] = f32(vecs[i][j]) end end
local qf = {}
for q = 1, Q do qf[q] = {}; for j = 1, D do qf[q][j] = f32(queries[q][j]) end end

local filters = {
  { label = "none (100%)", where = nil, keep = function() return true end },
  { label = "b < 100 (50%)", where = { b = { ["$lt"] = 100 } }, keep = function(i) return (i - 1) % 200 < 100 end },
  { label = "b < 10 (5%)", where = { b = { ["$lt"] = 10 } }, keep = function(i) return (i - 1) % 200 < 10 end },
  { label = "b == 0 (0.5%)", where = { b = 0 }, keep = function(i) return (i - 1) % 200 == 0 end },
}

-- the exact k nearest ids (and the k-th distance, so that ties count as hits)
local function truth(q, keep)
  local all = {}
  for i = 1, N do if keep(i) then all[#all + 1] = { i, sqdist(vecs[i], qf[q]) } end end
  table.sort(all, function(x, y) return x[2] < y[2] end)
  local set, kth = {}, all[math.min(K, #all)][2]
  for i = 1, math.min(K, #all) do set[ids[all[i][1]]] = true end
  return set, kth, math.min(K, #all)
end

local function recall_of(got, set, kth, want, q)
  local hit = 0
  for _, id in ipairs(got) do
    local i = tonumber(id:sub(2))
    if set[id] or sqdist(vecs[i], qf[q]) <= kth * (1 + 1e-6) then hit = hit + 1 end
  end
  return math.min(hit, want) / want
end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

-- the statement query would send, and the same with the index allowed
local function index_sql(q, where, ef)
  -- n_results 1000: query's exact form, then made the plain filtered ORDER BY ... LIMIT 10
  local s = core.sql("mariadb", "query", col._table, D, "l2", { query_embeddings = queries[q], n_results = 1000,
    include = {}, where = where })[1]
  s = s:gsub("%)%+0 LIMIT 1000$", ") LIMIT " .. K)
  return ("SET STATEMENT mhnsw_ef_search=%d FOR "):format(ef) .. s
end

local rows = {}
for _, f in ipairs(filters) do
  local rec, times, short = 0, {}, 0
  local irec, itimes, ishort = { [64] = 0, [1000] = 0 }, { [64] = {}, [1000] = {} }, { [64] = 0, [1000] = 0 }
  for q = 1, Q do
    local set, kth, want = truth(q, f.keep)
    local t = now()
    local r = assert(col:query { query_embeddings = queries[q], n_results = K, where = f.where, include = {} })
    times[#times + 1] = now() - t
    rec = rec + recall_of(r.ids[1], set, kth, want, q)
    if #r.ids[1] ~= want then short = short + 1 end
    if f.where then
      for ef in pairs(irec) do
        local t2 = now()
        local raw = assert(client:query(index_sql(q, f.where, ef)))
        itimes[ef][#itimes[ef] + 1] = now() - t2
        local got = {}
        for k, row in ipairs(raw) do got[k] = row._id end
        irec[ef] = irec[ef] + recall_of(got, set, kth, want, q)
        if #got ~= want then ishort[ef] = ishort[ef] + 1 end
      end
    end
  end
  local row = { f.label, rec / Q, median(times) * 1000, short }
  if f.where then
    for _, ef in ipairs { 64, 1000 } do
      row[#row + 1] = ("%.3f / %.1f ms / %d short"):format(irec[ef] / Q, median(itimes[ef]) * 1000, ishort[ef])
    end
  else
    row[5], row[6] = "(the same path)", "(the same path)"
  end
  rows[#rows + 1] = row
  io.stderr:write(("%-16s recall@%d %.3f  %.2f ms  short %d\n"):format(row[1], K, row[2], row[3], row[4]))
end

-- several query vectors in one call (one statement) against one call each
local batch = {}
for q = 1, math.min(16, Q) do batch[q] = queries[q] end
local function time_it(fn, reps)
  local best = math.huge
  for _ = 1, reps do
    local t = now(); fn(); best = math.min(best, now() - t)
  end
  return best
end
local multi = {}
for _, f in ipairs { filters[1], filters[3] } do
  local one = time_it(function()
    local r = assert(col:query { query_embeddings = batch, n_results = K, where = f.where, include = {} })
    assert(#r.ids == #batch)
  end, 5)
  local each = time_it(function()
    for q = 1, #batch do assert(col:query { query_embeddings = batch[q], n_results = K, where = f.where, include = {} }) end
  end, 5)
  multi[#multi + 1] = { f.label, one * 1000, each * 1000 }
end

if not os.getenv("RECALL_KEEP") then client:delete_collection(name) end
client:close()

local function read_file(p)
  local fh = io.open(p); if not fh then return nil end
  local s = fh:read("a"); fh:close(); return s
end
local cpu = ((read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"):gsub("%s+", " ")
local ncpu = select(2, (read_file("/proc/cpuinfo") or ""):gsub("processor%s*:", ""))
local mem = (read_file("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")
local out = {}
local function p(fmt, ...) out[#out + 1] = select("#", ...) > 0 and fmt:format(...) or fmt end
p("# Query recall (issue 13, item 6)")
p("")
p("Written by `make bench-recall` (bench/recall.lua) on %s UTC.", os.date("!%Y-%m-%d %H:%M"))
p("")
p("Machine: %s, %d CPUs, %.1f GiB RAM; server %s; client %s.", cpu, ncpu, (tonumber(mem) or 0) / 1048576,
  client and "MariaDB (scripts/testdb)" or "?", rawget(_G, "jit") and jit.version or _VERSION)
p("")
p("%d rows x %d dimensions (l2, vector index M=16, session mhnsw_ef_search 64), 200 Gaussian clusters; "
  .. "metadata `b = i %% 200`; %d query vectors near random rows; n_results = %d; loading took %.1f s. "
  .. "Recall@%d is against brute force over the same float32 vectors (a row as far as the k-th true "
  .. "neighbour counts as a hit: ties). Times are the median wall time of one call (one query vector).",
  N, D, Q, K, load_s, K)
p("")
p("| filter | recall@%d | ms per query | calls short of min(n, matches) | index only, ef 64: recall / ms / short | index only, ef 1000: recall / ms / short |", K)
p("|---|---:|---:|---:|---|---|")
for _, r in ipairs(rows) do p("| %s | %.3f | %.2f | %d | %s | %s |", r[1], r[2], r[3], r[4], r[5], r[6]) end
p("")
p("\"Index only\" is the plain filtered statement `WHERE <filter> ORDER BY <distance> LIMIT 10` through the "
  .. "vector index (what query sent before): MariaDB's index filters after its window, so selective filters come "
  .. "back short or far from the true nearest, and a wide window costs more than the scan. query sends an "
  .. "unfiltered query through the index (mhnsw_ef_search at least n_results), a filtered one as a window of the "
  .. "index's w = max(100, 8 x n_results) nearest rows (mhnsw_ef_search max(400, 2w)) filtered in a derived table, and asks again with an exact scan "
  .. "(ORDER BY distance + 0) any query that comes back with fewer than n_results rows; a window past 500 rows "
  .. "scans at once.")
p("")
p("%d query vectors in one call (one statement, a UNION ALL of one derived table per vector) against "
  .. "one call each (fastest of 5):", #batch)
p("")
p("| filter | one call, ms | %d calls, ms |", #batch)
p("|---|---:|---:|")
for _, r in ipairs(multi) do p("| %s | %.1f | %.1f |", r[1], r[2], r[3]) end
p("")
local text = table.concat(out, "\n")
print(text)
local fh = assert(io.open(OUT, "w"))
fh:write(text)
fh:close()
