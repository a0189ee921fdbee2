-- One Lua contender of the read benchmark (issue 13), in a process of its own
-- (its CPU time and peak RSS are its own). bench/read.lua starts it as
--   <lua5.4|luajit> bench/read_worker.lua <contender> <operation> <N>
-- It makes the calls of bench/readload.lua for the operation on collection
-- read_<N>: the first once untimed (warm-up), then all of them timed, and
-- prints one line `RESULT calls=.. cpu=.. hwm_kb=.. rows=.. wall=..`.
--
-- Contenders:
--   seekdb        lua-seekdb: collection:query / get / count with the
--                 workload's arguments (Lua 5.4 or LuaJIT: whichever runs this)
--   seekdb_bytes  lua-seekdb with embeddings handed back as bytes (issue 13,
--                 item 3): see bytes_args below. read.lua runs it only when
--                 require("seekdb").vector exists.
--   luasql        LuaSQL-mysql + lua-cjson, as Lua users write it today: the
--                 same statements, but vectors sent as VEC_FromText('[..]')
--                 and read as VEC_ToText(embedding) + cjson.decode; metadata
--                 with cjson.decode, distances with tonumber; the rows put in
--                 pyseekdb's lists (ids, documents, metadatas, ...).
-- Lua 5.1 too (LuaJIT): no //, and the clocks come from FFI there.

local module_dir = os.getenv("BENCH_MODULE_DIR")
if module_dir and module_dir ~= "" then
  package.path = ("bench/?.lua;%s/?.lua;%s/?/init.lua;"):format(module_dir, module_dir) .. package.path
  package.cpath = module_dir .. "/?.so;bench/?.so;" .. package.cpath
else
  package.path = "bench/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
  package.cpath = "./?.so;bench/?.so;" .. package.cpath
end

local load = require "readload"

local contender, opkey, N = arg[1], arg[2], tonumber(arg[3])
assert(contender and load.OP[opkey] and N, "usage: read_worker.lua <contender> <operation> <N>")

-- now(): monotonic wall seconds; cpu(): user+sys seconds of this process (getrusage)
local clock
if jit then
  local ffi = require "ffi"
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } rb_timespec;
    typedef struct { long tv_sec; long tv_usec; } rb_timeval;
    typedef struct { rb_timeval ru_utime; rb_timeval ru_stime; long pad[14]; } rb_rusage;
    int clock_gettime(int clk, rb_timespec *ts);
    int getrusage(int who, rb_rusage *ru);
  ]]
  local ts, ru = ffi.new("rb_timespec"), ffi.new("rb_rusage")
  clock = {
    now = function()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
    end,
    cpu = function()
      ffi.C.getrusage(0, ru) -- RUSAGE_SELF
      return tonumber(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
        + tonumber(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6
    end,
  }
else
  clock = require "benchclock"
end

local function peak_rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) or 0
end

local opts = {
  host = os.getenv("SEEKDB_TEST_HOST") or "127.0.0.1",
  port = tonumber(os.getenv("SEEKDB_TEST_PORT") or "2881"),
  user = os.getenv("SEEKDB_TEST_USER") or "root",
  password = os.getenv("SEEKDB_TEST_PASSWORD") or "",
  database = os.getenv("BENCH_DATABASE") or "seekdb_bench_read",
}
local name = load.collection_name(N)
local calls = load.calls(opkey, N)
-- BENCH_READ_CALLS: this many calls (the workload's, repeated), for a profile
local ncalls = tonumber(os.getenv("BENCH_READ_CALLS") or "")
if ncalls then
  local base = calls
  calls = {}
  for i = 1, ncalls do calls[i] = base[(i - 1) % #base + 1] end
end

local function check(cond, fmt, ...)
  if not cond then
    io.stderr:write(("%s %s N=%d: check failed: " .. fmt .. "\n"):format(contender, opkey, N, ...))
    os.exit(3)
  end
end

-- Embeddings as bytes (issue 13, item 3, not in this checkout). The switch:
-- when seekdb.vector lands, make this return the arguments that ask get and
-- query for their embeddings as bytes (e.g. `args.include_as = "bytes"`, or
-- whatever the feature's option is), and `emb_len` below read the length of
-- one such vector. read.lua adds the contender by itself once
-- require("seekdb").vector exists.
local function bytes_args(args)
  local a = {}
  for k, v in pairs(args) do a[k] = v end
  a.vectors = "vector" -- embeddings come back as seekdb.vector (float32s, no Lua table)
  return a
end
local function emb_len(e)
  return #e -- a table's length, or a seekdb.vector's dimension
end

local run_call -- run_call(call) -> rows returned

if contender == "seekdb" or contender == "seekdb_bytes" then
  local seekdb = require "seekdb"
  local client = assert(seekdb.Client(opts))
  local coll = assert(client:get_collection(name))
  local as_bytes = contender == "seekdb_bytes"
  run_call = function(call)
    local args = as_bytes and bytes_args(call.args) or call.args
    if call.method == "query" then
      local r = assert(coll:query(args))
      local rows = 0
      for q = 1, #r.ids do rows = rows + #r.ids[q] end
      return rows
    elseif call.method == "get" then
      local r = assert(coll:get(args))
      if r.embeddings and r.embeddings[1] then check(emb_len(r.embeddings[1]) == load.DIM, "embedding length") end
      return #r.ids
    else
      check(assert(coll:count()) == N, "count")
      return 1
    end
  end
elseif contender == "luasql" then
  local luasql = require "luasql.mysql"
  local cjson = require "cjson"
  local env = assert(luasql.mysql())
  local conn = assert(env:connect(opts.database, opts.user, opts.password, opts.host, opts.port))
  assert(conn:execute("SET NAMES utf8mb4"))
  -- the session settings lua-seekdb makes when it connects (read.lua passes them)
  local session_sql = os.getenv("BENCH_SESSION_SQL")
  if session_sql and session_sql ~= "" then assert(conn:execute(session_sql)) end
  local tbl = "`c$v1$" .. name .. "`"
  -- the same WHERE as lua-seekdb's for {category = "c3"}, in plain text
  local where = " WHERE (JSON_OVERLAPS(JSON_EXTRACT(metadata, '$.category'), '[\"" .. load.WHERE.category .. "\"]'))"
  local decode, concat, tonumber = cjson.decode, table.concat, tonumber
  local function select_rows(sql, emb, dist)
    local cur = assert(conn:execute(sql))
    local ids, docs, metas, embs, dists = {}, {}, {}, {}, {}
    local row, n = {}, 0
    while cur:fetch(row, "n") do
      n = n + 1
      ids[n], docs[n], metas[n] = row[1], row[2], row[3] and decode(row[3])
      if emb then embs[n] = decode(row[4]) end
      if dist then dists[n] = tonumber(row[4]) end
    end
    cur:close()
    return { ids = ids, documents = docs, metadatas = metas, embeddings = emb and embs or nil,
      distances = dist and dists or nil }
  end
  run_call = function(call)
    local a = call.args
    if call.method == "query" then
      local rows, out = 0, { ids = {}, documents = {}, metadatas = {}, distances = {} }
      for q, v in ipairs(a.query_embeddings) do
        local vt = "VEC_FromText('[" .. concat(v, ",") .. "]')"
        local r = select_rows("SELECT _id,document,metadata,VEC_DISTANCE_COSINE(embedding, " .. vt
          .. ") AS distance FROM " .. tbl .. (a.where and where or "") .. " ORDER BY VEC_DISTANCE_COSINE(embedding, "
          .. vt .. ") LIMIT " .. a.n_results, false, true)
        out.ids[q], out.documents[q], out.metadatas[q], out.distances[q] = r.ids, r.documents, r.metadatas, r.distances
        rows = rows + #r.ids
      end
      return rows
    elseif call.method == "get" then
      local r
      if a.ids then
        local quoted = {}
        for i, id in ipairs(a.ids) do quoted[i] = "'" .. conn:escape(id) .. "'" end
        r = select_rows("SELECT _id,document,metadata FROM " .. tbl .. " WHERE _id IN (" .. concat(quoted, ",") .. ")")
      else
        local emb = a.include ~= nil
        r = select_rows("SELECT _id,document,metadata" .. (emb and ",VEC_ToText(embedding)" or "") .. " FROM "
          .. tbl .. " LIMIT " .. a.limit .. " OFFSET 0", emb)
        if emb and r.embeddings[1] then check(#r.embeddings[1] == load.DIM, "embedding length") end
      end
      return #r.ids
    else
      local cur = assert(conn:execute("SELECT COUNT(*) FROM " .. tbl))
      local n = tonumber(cur:fetch())
      cur:close()
      check(n == N, "count")
      return 1
    end
  end
else
  error("unknown contender " .. tostring(contender))
end

run_call(calls[1]) -- warm-up
local rows = 0
local t0, c0 = clock.now(), clock.cpu()
for i = 1, #calls do rows = rows + run_call(calls[i]) end
local t1, c1 = clock.now(), clock.cpu()
io.stdout:write(("RESULT calls=%d cpu=%.6f hwm_kb=%d rows=%d wall=%.6f\n"):format(#calls, c1 - c0,
  peak_rss_kb(), rows, t1 - t0))
io.stdout:flush()
