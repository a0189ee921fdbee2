-- The read benchmark of issue 13: lua-seekdb's query, get and count against
-- plain C doing the same statements and against LuaSQL + lua-cjson. `make
-- bench-read` (and `make bench`) runs it on the scratch MariaDB; by hand,
-- with a server running:
--
--   eval "$(scripts/testdb env)"; lua5.4 bench/read.lua [N ...]
--
-- For each N it makes collection read_<N> once with lua-seekdb's collection
-- API (pyseekdb's layout: vector index, cosine) and N rows of
-- bench/common.lua; every contender of that N reads that same table. Each
-- (operation, contender) runs in a process of its own: bench/read_c (the
-- statements lua-seekdb sends, from core.sql, lua-seekdb's dry run) or
-- bench/read_worker.lua. The workloads are in bench/readload.lua.
--
-- Environment (all optional):
--   BENCH_READ_N        the row counts, "1000 5000" (arguments win)
--   BENCH_READ_REPEAT   runs of each measurement, the contenders taking turns;
--                       the fastest (by wall time) counts (3)
--   BENCH_READ_OPS      only these operations (keys of bench/readload.lua)
--   BENCH_CONTENDERS    only these contenders (c c_dec seekdb seekdb_jit
--                       seekdb_bytes luasql)
--   BENCH_DATABASE      the database it makes and drops (seekdb_bench_read)
--   BENCH_READ_KEEP     set: the database is kept (for a profile by hand:
--                       bench/README.md)
--   BENCH_READ_OUT      the Markdown file whose "## Reads" section it
--                       rewrites (bench/results.md)
--   BENCH_MODULE        the Lua 5.4 seekdb/core.so (seekdb/core.so)
--   BENCH_MODULE_JIT    the LuaJIT one (build/luajit/seekdb/core.so); the
--                       LuaJIT contender is left out when it is missing
--   LUA, LUAJIT         the interpreters (lua5.4, luajit)
-- Figures only: nothing here fails on time.
local report = dofile("bench/report.lua") -- what the benchmark drivers share
local sh, getenv, words, shell_quote = report.sh, report.getenv, report.words, report.shell_quote
local loadavg, cpu_model, thousands, mib = report.loadavg, report.cpu_model, report.thousands, report.mib
local render_text, render_md = report.render_text, report.render_md
local function log(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

-- The modules under test are copied first (as run.lua does): a rebuild in the
-- checkout during the run cannot mix builds.
local TMP = sh("mktemp -d -t seekdb-readbench.XXXXXX")
assert(TMP:match("^/"), "mktemp -d failed")
local tmp_guard <close> = setmetatable({}, { __close = function() os.execute("rm -rf " .. TMP) end })
local MOD54 = getenv("BENCH_MODULE", "seekdb/core.so")
local MODJIT = getenv("BENCH_MODULE_JIT", "build/luajit/seekdb/core.so")
local function copy_module(so, dir)
  assert(os.execute(("mkdir -p %s/seekdb && cp -R lua/. %s/ && cp %s %s/seekdb/core.so"):format(dir, dir, so, dir)),
    "cannot copy the module " .. so .. ": run `make` first")
end
copy_module(MOD54, TMP .. "/lua5.4")
local have_jit = io.open(MODJIT) ~= nil
if have_jit then copy_module(MODJIT, TMP .. "/luajit") end
package.path = ("bench/?.lua;%s/lua5.4/?.lua;%s/lua5.4/?/init.lua;"):format(TMP, TMP) .. package.path
package.cpath = ("%s/lua5.4/?.so;bench/?.so;"):format(TMP) .. package.cpath

local common = require "common"
local load = require "readload"
local seekdb = require "seekdb"
local core = require "seekdb.core"

local Ns = {}
for _, w in ipairs(#arg > 0 and arg or words(getenv("BENCH_READ_N", "1000 5000"))) do
  local n = math.tointeger(tonumber(w))
  assert(n and n >= 100, "BENCH_READ_N: a row count of at least 100, not " .. tostring(w))
  Ns[#Ns + 1] = n
end
local REPEAT = math.tointeger(tonumber(getenv("BENCH_READ_REPEAT", "3")))
assert(REPEAT and REPEAT >= 1, "BENCH_READ_REPEAT: a count of runs")
local OPS = {}
do
  local only = getenv("BENCH_READ_OPS")
  local want = {}
  for _, k in ipairs(only and words(only) or {}) do
    assert(load.OP[k], "BENCH_READ_OPS: no operation " .. k); want[k] = true
  end
  for _, op in ipairs(load.OPS) do if not only or want[op.key] then OPS[#OPS + 1] = op end end
end
local ONLY
if getenv("BENCH_CONTENDERS") then
  ONLY = {}
  for _, k in ipairs(words(getenv("BENCH_CONTENDERS"))) do ONLY[k] = true end
end
local LUA, LUAJIT = getenv("LUA", "lua5.4"), getenv("LUAJIT", "luajit")
local OUT = getenv("BENCH_READ_OUT", "bench/results.md")
local DB = getenv("BENCH_DATABASE", "seekdb_bench_read")

-- The contenders, in the order of the tables; the ratios are to the first.
local CONTENDERS = {
  { key = "c", label = "plain C, fetch only (limit)" },
  { key = "c_dec", label = "plain C, floats decoded" },
  { key = "seekdb", label = "lua-seekdb, Lua 5.4", lua = LUA, dir = "lua5.4" },
  { key = "seekdb_jit", worker = "seekdb", label = "lua-seekdb, LuaJIT", lua = LUAJIT, dir = "luajit", jit = true },
  -- lua-seekdb with embeddings as bytes: runs once seekdb.vector exists (see
  -- bytes_args in bench/read_worker.lua for the one line to fill in)
  { key = "seekdb_bytes", label = "lua-seekdb, vectors as bytes", lua = LUA, dir = "lua5.4", bytes = true },
  { key = "luasql", label = "LuaSQL + lua-cjson", lua = LUA, dir = "lua5.4" },
}
local active = {}
for _, c in ipairs(CONTENDERS) do
  local skip = (ONLY and not ONLY[c.key]) or (c.jit and not have_jit) or (c.bytes and seekdb.vector == nil)
  if not skip then active[#active + 1] = c end
end

---------------------------------------------------------------------------
-- The database and the collections
---------------------------------------------------------------------------

local opts = common.conn_options()
opts.database = DB
local admin_opts = {}
for k, v in pairs(opts) do admin_opts[k] = v end
admin_opts.database = getenv("SEEKDB_TEST_DATABASE", "test")
do
  local admin = assert(seekdb.Client(admin_opts))
  assert(admin:query("DROP DATABASE IF EXISTS `" .. DB .. "`"))
  assert(admin:query("CREATE DATABASE `" .. DB .. "` DEFAULT CHARACTER SET utf8mb4"))
  admin:close()
end
local client = assert(seekdb.Client(opts))
-- lua-seekdb sets the HNSW search width of its session when it connects
-- (mhnsw_ef_search); the other contenders set the same, or their searches
-- would do less work than lua-seekdb's.
local ef_search = assert(client:query("SELECT @@SESSION.mhnsw_ef_search AS e"))[1].e
local SESSION_SQL = "SET SESSION mhnsw_ef_search = " .. assert(math.tointeger(tonumber(ef_search)))
local server_version = assert(client:query("SELECT VERSION() AS v"))[1].v
local server_settings = {}
for _, r in ipairs(assert(client:query("SHOW GLOBAL VARIABLES WHERE Variable_name IN "
    .. "('innodb_buffer_pool_size', 'mhnsw_max_cache_size', 'mhnsw_ef_search', 'max_allowed_packet')"))) do
  local v = tonumber(r.Value)
  server_settings[#server_settings + 1] = r.Variable_name .. "="
    .. (v and v >= 1048576 and ("%dM"):format(v // 1048576) or r.Value)
end
table.sort(server_settings)
local t_start, load_start = require("benchclock").now(), loadavg()

local ddl_text
for _, n in ipairs(Ns) do
  local t0 = os.time()
  local coll = assert(client:create_collection { name = load.collection_name(n), dimension = common.DIM, version = 1 })
  local nextvec = common.vectors()
  for first = 1, n, 1000 do
    local ids, docs, metas, vecs = {}, {}, {}, {}
    for i = first, math.min(n, first + 999) do
      ids[#ids + 1], docs[#docs + 1], metas[#metas + 1], vecs[#vecs + 1] =
        common.id(i), common.document(i), common.metadata(i), nextvec()
    end
    assert(coll:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs })
  end
  assert(coll:count() == n)
  ddl_text = ddl_text or assert(client:query("SHOW CREATE TABLE `" .. common.table_of(load.collection_name(n)) .. "`"))[1]["Create Table"]
  log("read benchmark: collection %s, %d rows, made in about %d s", load.collection_name(n), n, os.time() - t0)
end
local idx_desc = {}
for line in ddl_text:gmatch("[^\n]+") do
  if line:match("INDEX") or line:match("KEY") then idx_desc[#idx_desc + 1] = line:gsub("^%s+", ""):gsub(",$", "") end
end

-- The plain-C contender's statements: lua-seekdb's own, from its dry run.
local function statements_file(opkey, n)
  local path = ("%s/%s_%d.sql"):format(TMP, opkey, n)
  local f = assert(io.open(path, "wb"))
  local tbl = common.table_of(load.collection_name(n))
  for _, call in ipairs(load.calls(opkey, n)) do
    local stmts
    if call.method == "query" then stmts = core.sql("mariadb", "query", tbl, common.DIM, "cosine", call.args)
    elseif call.method == "get" then stmts = core.sql("mariadb", "get", tbl, common.DIM, call.args)
    else stmts = core.sql("mariadb", "count", tbl) end
    f:write("C\n")
    for _, s in ipairs(stmts) do f:write("S ", #s, "\n", s, "\n") end
  end
  f:close()
  return path
end

---------------------------------------------------------------------------
-- The runs
---------------------------------------------------------------------------

local parse_result = report.parse_result

local function run_once(c, opkey, n, sqlfile)
  local cmd
  if c.key == "c" or c.key == "c_dec" then
    cmd = ("BENCH_SESSION_SQL=%s BENCH_DATABASE=%s bench/read_c %s %s"):format(shell_quote(SESSION_SQL),
      shell_quote(DB), shell_quote(sqlfile),
      c.key == "c" and "fetch" or "decode")
  else
    cmd = ("BENCH_SESSION_SQL=%s BENCH_DATABASE=%s BENCH_MODULE_DIR=%s/%s %s bench/read_worker.lua %s %s %d"):format(
      shell_quote(SESSION_SQL), shell_quote(DB),
      TMP, c.dir, c.lua, c.worker or c.key, opkey, n)
  end
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  local r = parse_result(out)
  if not ok or not r then
    return { error = ("exit %s: %s"):format(tostring(code), (out:gsub("%s+$", ""):match("[^\n]*$"))) }
  end
  return r
end

local results = {} -- results[n][opkey][key]
for _, n in ipairs(Ns) do
  results[n] = {}
  for _, op in ipairs(OPS) do
    results[n][op.key] = {}
    local sqlfile = statements_file(op.key, n)
    for rep = 1, REPEAT do
      for _, c in ipairs(active) do
        local best = results[n][op.key][c.key]
        if not (best and best.error) then
          local r = run_once(c, op.key, n, sqlfile)
          if r.error then
            results[n][op.key][c.key] = r
            log("  N=%-6d %-34s %-30s FAILED: %s", n, op.label, c.label, r.error)
          else
            r.runs = (best and best.runs or 0) + 1
            if not best or r.wall < best.wall then results[n][op.key][c.key] = r else best.runs = r.runs end
            log("  N=%-6d %-34s %-30s %10.0f rows/s %8.1f calls/s  cpu %.3f s  rss %5.1f MiB (run %d)", n, op.label,
              c.label, r.rows / r.wall, r.calls / r.wall, r.cpu, r.hwm_kb / 1024, rep)
          end
        end
      end
    end
  end
end
local t_total, load_end = require("benchclock").now() - t_start, loadavg()
client:close()
if not getenv("BENCH_READ_KEEP") then
  local admin = assert(seekdb.Client(admin_opts))
  assert(admin:query("DROP DATABASE IF EXISTS `" .. DB .. "`"))
  admin:close()
end

---------------------------------------------------------------------------
-- The report
---------------------------------------------------------------------------

local function fmt_rate(x) return x >= 100 and thousands(x) or ("%.1f"):format(x) end

local tables = report.tables()
local new_table = tables.new
local notes = {}

for _, n in ipairs(Ns) do
  local t = new_table(("Reads, N = %s rows (384 floats, vector index)"):format(thousands(n)),
    { "operation", "contender", "calls/s", "rows/s", "x C", "rows/call", "CPU us/row", "CPU us/call",
      "peak RSS MiB", "runs" },
    { "l", "l", "r", "r", "r", "r", "r", "r", "r", "r" })
  for _, op in ipairs(OPS) do
    local base = results[n][op.key].c
    local base_rate = base and not base.error and base.rows / base.wall
    for _, c in ipairs(active) do
      local r = results[n][op.key][c.key]
      if r and r.error then
        t.rows[#t.rows + 1] = { op.label, c.label, "FAILED", "-", "-", "-", "-", "-", "-", "-" }
        notes[#notes + 1] = ("%s, %s, N = %d failed: %s"):format(c.label, op.label, n, r.error)
      elseif r then
        local rate = r.rows / r.wall
        t.rows[#t.rows + 1] = { op.label, c.label, fmt_rate(r.calls / r.wall), thousands(rate),
          base_rate and ("%.2f"):format(rate / base_rate) or "-", ("%.1f"):format(r.rows / r.calls),
          ("%.2f"):format(r.cpu / r.rows * 1e6), ("%.0f"):format(r.cpu / r.calls * 1e6),
          ("%.1f"):format(r.hwm_kb / 1024), tostring(r.runs) }
        if base and not base.error and r.rows ~= base.rows then
          notes[#notes + 1] = ("%s, %s, N = %d: %d rows in all, plain C fetched %d (the vector index's "
            .. "approximate answer can differ between statements)"):format(c.label, op.label, n, r.rows, base.rows)
        end
      end
    end
  end
end

-- The targets of issue 13 (figures, never a failure).
local targets = new_table("Targets of issue 13 (the fastest run of each; met or not, nothing fails)",
  { "N", "target", "figure", "met" }, { "r", "l", "r", "l" })
local function rate(n, op, key)
  local r = results[n][op] and results[n][op][key]
  return r and not r.error and r.rows / r.wall or nil
end
for _, n in ipairs(Ns) do
  for _, op in ipairs(OPS) do
    if op.key:match("^query") then
      for _, key in ipairs { "seekdb", "seekdb_jit" } do
        local a, b = rate(n, op.key, key), rate(n, op.key, "c")
        if a and b then
          targets.rows[#targets.rows + 1] = { thousands(n), ("%s: %s >= 0.9 x plain C"):format(op.label, key),
            ("%.2f"):format(a / b), a / b >= 0.9 and "yes" or "no" }
        end
      end
    end
  end
  for _, key in ipairs { "seekdb", "seekdb_jit" } do
    local a, b, l = rate(n, "get_all_emb", key), rate(n, "get_all_emb", "c"), rate(n, "get_all_emb", "luasql")
    if a and b then
      targets.rows[#targets.rows + 1] = { thousands(n), ("get with embeddings as Lua tables: %s >= 0.3 x plain C fetch-only"):format(key),
        ("%.2f"):format(a / b), a / b >= 0.3 and "yes" or "no" }
    end
    if a and l then
      targets.rows[#targets.rows + 1] = { thousands(n), ("get with embeddings as Lua tables: %s >= 5 x LuaSQL"):format(key),
        ("%.1f"):format(a / l), a / l >= 5 and "yes" or "no" }
    end
  end
  local a, b = rate(n, "get_all_emb", "seekdb_bytes"), rate(n, "get_all_emb", "c")
  if a and b then
    targets.rows[#targets.rows + 1] = { thousands(n), "get with embeddings as bytes >= 0.7 x plain C fetch-only",
      ("%.2f"):format(a / b), a / b >= 0.7 and "yes" or "no" }
  end
end

-- Flat per row as N grows: client CPU us per row of each contender.
if #Ns > 1 then
  local heads, align = { "operation", "contender" }, { "l", "l" }
  for _, n in ipairs(Ns) do heads[#heads + 1] = "N=" .. thousands(n); align[#align + 1] = "r" end
  local flat = new_table("Client CPU per row (microseconds) as N grows (flat: no work grows faster than the rows)",
    heads, align)
  for _, op in ipairs(OPS) do
    if op.key ~= "count" then
      for _, c in ipairs(active) do
        local row = { op.label, c.label }
        for _, n in ipairs(Ns) do
          local r = results[n][op.key][c.key]
          row[#row + 1] = r and not r.error and ("%.2f"):format(r.cpu / r.rows * 1e6) or "-"
        end
        flat.rows[#flat.rows + 1] = row
      end
    end
  end
end

do -- a table with no rows (operations or contenders left out) is not shown
  local kept = {}
  for _, t in ipairs(tables) do if #t.rows > 0 then kept[#kept + 1] = t end end
  tables = kept
end

local header = {
  ("Machine: %s cores (nproc), %s, %s MiB RAM; load average %s at the start, %s at the end. The "
    .. "machine is shared: other engineers' builds and tests ran on it too, so compare contenders "
    .. "within one table (they take turns), not with other runs."):format(sh("nproc"), cpu_model(),
    sh("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo"), load_start, load_end),
  ("Server: MariaDB %s on %s:%d over TCP (scratch server of scripts/testdb); lua-seekdb %s (core.so "
    .. "sha256 %s, checkout %s%s); %s; Connector/C %s."):format(server_version, opts.host, opts.port,
    seekdb._VERSION, sh("sha256sum " .. TMP .. "/lua5.4/seekdb/core.so"):sub(1, 12), sh("git rev-parse --short HEAD"),
    sh("git status --porcelain src lua") ~= "" and " + local changes" or "", sh(LUAJIT .. " -v"):match("^%S+ %S+") or "LuaJIT ?",
    sh("mariadb_config --cc_version")),
  "Server settings: " .. table.concat(server_settings, ", ") .. "; every contender's session: "
    .. SESSION_SQL .. " (what lua-seekdb sets when it connects; plain C and LuaSQL run it after connecting).",
  "Table: what client:create_collection makes (cosine): " .. table.concat(idx_desc, "; ")
    .. "; the rows of bench/common.lua (66-byte documents, 2-key metadata, 384 floats).",
  ("Every (operation, contender) runs in a process of its own on the same table; its first call runs "
    .. "once untimed, then all its calls are timed; CPU = user+sys of that process (getrusage) over the "
    .. "timed calls; peak RSS = its VmHWM. Each figure is the fastest of %d runs (by wall time; the "
    .. "contenders take turns). \"x C\" = rows/s against plain C fetch-only in the same run. A row is a "
    .. "row returned (count: the call). Total run time %.0f s."):format(REPEAT, t_total),
}
local CONTENDER_TEXT = {
  "plain C, fetch only (limit): bench/read_c.c runs the statements lua-seekdb sends (rendered by "
    .. "core.sql, its dry run) with mysql_real_query + mysql_store_result, every row fetched, nothing decoded.",
  "plain C, floats decoded: the same, and each embedding copied into a float array, distances by "
    .. "strtod, COUNT(*) by strtoll (metadata JSON not parsed).",
  "lua-seekdb, Lua 5.4 / LuaJIT: collection:query, :get, :count (results as Lua tables: metadata "
    .. "decoded, embeddings as arrays of numbers).",
  "LuaSQL + lua-cjson: luasql.mysql with the same statements, vectors as VEC_FromText('[..]') and "
    .. "VEC_ToText(embedding) + cjson.decode, metadata by cjson.decode, distances by tonumber, "
    .. "rows put in pyseekdb's lists (Lua 5.4).",
  "query: one statement per query vector (lua-seekdb sends them one after another); where = "
    .. "{category = \"c3\"} (1 row in 7); 300 calls of 1 vector, 20 calls of 16. get by ids: 100 "
    .. "calls of 100 ids. get all: limit = N, max(3, 25000/N) calls. count: 300 calls.",
}
if seekdb.vector == nil then
  CONTENDER_TEXT[#CONTENDER_TEXT + 1] = "lua-seekdb, vectors as bytes: not run (seekdb.vector is not in "
    .. "this checkout; see bytes_args in bench/read_worker.lua)."
end

-- fixed width, for the terminal
local text = {}
for _, h in ipairs(header) do text[#text + 1] = h end
text[#text + 1] = ""
for _, t in ipairs(tables) do text[#text + 1] = render_text(t); text[#text + 1] = "" end
for _, nte in ipairs(notes) do text[#text + 1] = "Note: " .. nte end
io.stdout:write(table.concat(text, "\n"), "\n")

-- The generated part of the "## Reads" section of OUT, between two markers;
-- the rest of the file (the upsert figures, the profile written by hand) stays.
local BEGIN, END = "<!-- reads: generated by bench/read.lua -->", "<!-- /reads -->"
local md = { BEGIN, "",
  ("Made by `make bench-read` (bench/read.lua, N = %s) on %s."):format(table.concat(Ns, ", "),
    os.date("!%Y-%m-%d %H:%M UTC")), "" }
for _, h in ipairs(header) do md[#md + 1] = "- " .. h end
md[#md + 1] = ""
for _, t in ipairs(tables) do md[#md + 1] = render_md(t); md[#md + 1] = "" end
md[#md + 1] = "Contenders and calls:"
md[#md + 1] = ""
for _, c in ipairs(CONTENDER_TEXT) do md[#md + 1] = "- " .. c end
if #notes > 0 then
  md[#md + 1] = ""
  md[#md + 1] = "Notes:"
  md[#md + 1] = ""
  for _, nte in ipairs(notes) do md[#md + 1] = "- " .. nte end
end
md[#md + 1] = ""
md[#md + 1] = END
local block = table.concat(md, "\n")

local f = io.open(OUT, "rb")
local old = f and f:read("a") or ""
if f then f:close() end
local s, e = old:find(BEGIN, 1, true)
local new
if s then
  local _, e2 = old:find(END, e, true)
  assert(e2, OUT .. ": the reads block has no end marker " .. END)
  new = old:sub(1, s - 1) .. block .. old:sub(e2 + 1)
elseif old:find("\n## Reads\n", 1, true) then
  local _, e2 = old:find("\n## Reads\n", 1, true)
  new = old:sub(1, e2) .. "\n" .. block .. "\n" .. old:sub(e2 + 1)
else
  new = old:gsub("\n*$", "\n") .. "\n## Reads\n\n" .. block .. "\n"
end
f = assert(io.open(OUT, "wb"))
f:write(new)
f:close()
log("written %s (%.0f s in all)", OUT, t_total)
