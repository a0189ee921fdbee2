-- The upsert benchmark of issue 4: lua-seekdb against the plain-C limit and
-- against what Lua users write today. `make bench` runs it on the scratch
-- MariaDB (it starts and stops the server); by hand, with a server running:
--
--   eval "$(scripts/testdb env)"; lua5.4 bench/run.lua [N ...]
--
-- Every contender runs in a process of its own (bench/worker.lua, or
-- bench/bulk_upsert for the C limit) on a fresh table of its own; this script
-- makes the tables, starts the processes, checks every table afterwards
-- (COUNT(*) and three rows read back, vectors included), and prints the table
-- of figures, also written as Markdown to bench/results.md.
--
-- Environment (all optional):
--   BENCH_N            the row counts, "1000 10000 100000" (arguments win)
--   BENCH_INDEX        "noidx idx": without and/or with the vector index
--   BENCH_SLOW_MAX     largest N for the one-row-at-a-time contender (10000)
--   BENCH_IDX_MAX      largest N on the table with the vector index (10000):
--                      MariaDB's HNSW at M=16 slows as the graph grows, and
--                      100,000 rows take each contender well over ten
--                      minutes on a 2-core machine
--   BENCH_REPEAT       runs of each measurement, each on a fresh table, the
--                      contenders taking turns; the fastest (by wall time)
--                      is reported (5): short runs are at the mercy of server
--                      stalls and other load
--   BENCH_REPEAT_MAX_S a run longer than this many seconds is not repeated (5)
--   BENCH_CONTENDERS   only these (keys: c seekdb seekdb500 seekdb_bytes luasql pyalgo seekdb_ef)
--   BENCH_DATABASE     the database it makes and drops (seekdb_bench)
--   BENCH_OUT          where the Markdown goes (bench/results.md)
--   BENCH_MODULE       the seekdb/core.so to measure (make bench: the one it
--                      built for $(LUA); else seekdb/core.so)
--   LUA                the interpreter for the workers (lua5.4)
-- The figures are printed, never judged: nothing here fails on time.
-- The module under test is copied first, and this script and every worker
-- load the copy: a rebuild of seekdb/core.so while the benchmark runs (other
-- work in the same checkout) cannot crash it or mix two builds in one table.
local report = dofile("bench/report.lua") -- what the benchmark drivers share
local sh, getenv, words, shell_quote = report.sh, report.getenv, report.words, report.shell_quote
local loadavg, cpu_model, thousands, mib = report.loadavg, report.cpu_model, report.thousands, report.mib
local render_text, render_md = report.render_text, report.render_md
local MODULE_DIR = sh("mktemp -d -t seekdb-bench.XXXXXX")
assert(MODULE_DIR:match("^/"), "mktemp -d failed")
-- removed when this chunk ends, by an error too
local module_copy <close> = setmetatable({}, {
  __close = function() os.execute("rm -rf " .. MODULE_DIR) end })
local MODULE_SO = os.getenv("BENCH_MODULE") or "seekdb/core.so" -- make bench: build/<lua>/seekdb/core.so
-- the whole Lua face (lua/seekdb.lua and lua/seekdb/*.lua), then the C core
assert(os.execute(("cp -R lua/. %s/ && mkdir -p %s/seekdb && cp %s %s/seekdb/core.so")
  :format(MODULE_DIR, MODULE_DIR, MODULE_SO, MODULE_DIR)), "cannot copy the module: run `make` first")
package.path = ("bench/?.lua;%s/?.lua;%s/?/init.lua;"):format(MODULE_DIR, MODULE_DIR) .. package.path
package.cpath = "bench/?.so;" .. MODULE_DIR .. "/?.so;" .. package.cpath

local common = require "common"
local seekdb = require "seekdb"
local clock = require "benchclock"
local module_build = ("core.so sha256 %s, %s, checkout %s%s"):format(
  sh("sha256sum " .. MODULE_DIR .. "/seekdb/core.so"):sub(1, 12),
  sh("date -u -r " .. MODULE_SO .. " '+built %Y-%m-%d %H:%M:%S UTC'"),
  sh("git rev-parse --short HEAD"), sh("git status --porcelain src lua") ~= "" and " + local changes" or "")

local Ns = {}
for _, w in ipairs(#arg > 0 and arg or words(getenv("BENCH_N", "1000 10000 100000"))) do
  local n = math.tointeger(tonumber(w))
  assert(n and n > 0, "BENCH_N: not a row count: " .. tostring(w))
  Ns[#Ns + 1] = n
end
local MODES = words(getenv("BENCH_INDEX", "noidx idx"))
for _, m in ipairs(MODES) do assert(m == "noidx" or m == "idx", "BENCH_INDEX: noidx or idx, not " .. m) end
local SLOW_MAX = tonumber(getenv("BENCH_SLOW_MAX", "10000"))
local IDX_MAX = tonumber(getenv("BENCH_IDX_MAX", "10000"))
local ONLY
if getenv("BENCH_CONTENDERS") then
  ONLY = {}
  for _, k in ipairs(words(getenv("BENCH_CONTENDERS"))) do ONLY[k] = true end
end
local REPEAT = math.tointeger(tonumber(getenv("BENCH_REPEAT", "5")))
assert(REPEAT and REPEAT >= 1, "BENCH_REPEAT: a count of runs")
local REPEAT_MAX_S = assert(tonumber(getenv("BENCH_REPEAT_MAX_S", "5")), "BENCH_REPEAT_MAX_S: seconds")
local LUA = getenv("LUA", "lua5.4")
local OUT = getenv("BENCH_OUT", "bench/results.md")
local DB = getenv("BENCH_DATABASE", "seekdb_bench")

-- The contenders, in the order of the table. The C limit runs first: the
-- others' ratios are to it.
local CONTENDERS = {
  { key = "c", label = "plain C bulk (limit)" },
  { key = "seekdb", label = "lua-seekdb, 1 call" },
  { key = "seekdb500", label = "lua-seekdb, 500/call" },
  { key = "seekdb_bytes", label = "lua-seekdb, 1 call, vectors as bytes" },
  { key = "luasql", label = "LuaSQL + lua-cjson" },
  { key = "pyalgo", label = "pyseekdb algorithm", slow = true },
  { key = "seekdb_ef", label = "lua-seekdb + Lua ef", only = "noidx" },
}

local function log(fmt, ...) io.stderr:write(fmt:format(...), "\n") end


---------------------------------------------------------------------------
-- The database, and the DDL of the tables with the index
---------------------------------------------------------------------------

local opts = common.conn_options()
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
local info = client:info()
local server_version = assert(client:query("SELECT VERSION() AS v"))[1].v
local server_settings = {}
for _, r in ipairs(assert(client:query("SHOW GLOBAL VARIABLES WHERE Variable_name IN "
    .. "('innodb_buffer_pool_size', 'innodb_flush_log_at_trx_commit', 'innodb_flush_method', "
    .. "'mhnsw_max_cache_size', 'max_allowed_packet')"))) do
  local v = tonumber(r.Value)
  server_settings[#server_settings + 1] = r.Variable_name .. "="
    .. (v and v >= 1048576 and ("%dM"):format(v // 1048576) or r.Value)
end
table.sort(server_settings)

-- With the index, every contender's table is exactly what
-- client:create_collection makes for lua-seekdb (whatever that is today).
local TEMPLATE = "bench_template"
assert(client:create_collection { name = TEMPLATE, dimension = common.DIM, version = 1 })
local ddl_idx_text = assert(client:query("SHOW CREATE TABLE `" .. common.table_of(TEMPLATE) .. "`"))[1]["Create Table"]
assert(client:delete_collection(TEMPLATE))
local function ddl_idx(tbl)
  local s, k = ddl_idx_text:gsub("`c%$v1%$" .. TEMPLATE .. "`", function() return "`" .. tbl .. "`" end, 1)
  assert(k == 1, "could not rename the template table in: " .. ddl_idx_text)
  return s
end
local idx_desc = {}
for line in ddl_idx_text:gmatch("[^\n]+") do
  if line:match("INDEX") or line:match("KEY") then idx_desc[#idx_desc + 1] = line:gsub("^%s+", ""):gsub(",$", "") end
end

---------------------------------------------------------------------------
-- Checking a contender's table from outside
---------------------------------------------------------------------------

-- COUNT(*) = N, and rows 1, N/2+1 and N as they were generated (document,
-- metadata, the vector to float32 rounding: LuaSQL's goes through decimal
-- text, so one float32 step of difference is allowed).
local function check_table(tbl, n)
  local rows = assert(client:query("SELECT COUNT(*) AS n FROM `" .. tbl .. "`"))
  if tonumber(rows[1].n) ~= n then return ("%s rows, expected %d"):format(rows[1].n, n) end
  for _, i in ipairs { 1, n // 2 + 1, n } do
    local id, doc, cat, score = common.expect(i)
    local r = assert(client:query("SELECT document, JSON_VALUE(metadata, '$.category') AS c, "
      .. "JSON_VALUE(metadata, '$.score') AS s, HEX(embedding) AS h FROM `" .. tbl
      .. "` WHERE _id = '" .. id .. "'"))[1]
    if not r then return "row " .. id .. " is missing" end
    if r.document ~= doc or r.c ~= cat or tonumber(r.s) ~= score then
      return ("row %s: document/metadata differ: %s %s %s"):format(id, r.document, r.c, r.s)
    end
    local bytes = r.h:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    local want = common.vector_of_row(i)
    if #bytes ~= 4 * common.DIM then return ("row %s: vector of %d bytes"):format(id, #bytes) end
    for j = 1, common.DIM do
      local got = string.unpack("<f", bytes, 4 * j - 3)
      if math.abs(got - common.f32(want[j])) > 1e-7 then
        return ("row %s: vector[%d] is %.9g, expected %.9g"):format(id, j, got, want[j])
      end
    end
  end
end

---------------------------------------------------------------------------
-- Running one contender
---------------------------------------------------------------------------

local parse_result = report.parse_result

local function run_once(c, n, mode)
  local name = ("%s_%s_%d"):format(c.key, mode, n)
  local tbl = common.table_of(name)
  assert(client:query("DROP TABLE IF EXISTS `" .. tbl .. "`"))
  local cmd
  if c.key == "c" then
    cmd = ("bench/bulk_upsert %s %d %d"):format(shell_quote(tbl), n, common.BATCH)
  else
    cmd = ("BENCH_MODULE_DIR=%s %s bench/worker.lua %s %d %s %s"):format(MODULE_DIR, LUA, c.key, n,
      mode, name)
  end
  if c.key == "c" or c.key == "luasql" or c.key == "pyalgo" then -- lua-seekdb makes its own
    assert(client:query(mode == "idx" and ddl_idx(tbl) or common.ddl_noindex(tbl)))
  end
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  local r = parse_result(out)
  if not ok or not r then
    r = { error = ("exit %s: %s"):format(tostring(code), (out:gsub("%s+$", ""):match("[^\n]*$"))) }
  else
    local bad = check_table(tbl, n)
    if bad then r = { error = "table check: " .. bad } end
  end
  assert(client:query("DROP TABLE IF EXISTS `" .. tbl .. "`"))
  return r
end

---------------------------------------------------------------------------
-- The runs
---------------------------------------------------------------------------

local results = {} -- results[mode][n][key]
local notes = {}
local t_start, load_start = clock.now(), loadavg()

log("upsert benchmark: N = %s, %s; server %s on %s:%d", table.concat(Ns, ", "),
  table.concat(MODES, " + "), server_version, opts.host, opts.port)
-- Per table layout and N, the contenders take turns (round robin), up to
-- BENCH_REPEAT times each: whatever the server is busy with in the background
-- (flushing the previous tables) falls on all of them alike. The fastest run
-- of each counts; a run longer than BENCH_REPEAT_MAX_S is not repeated.
for _, mode in ipairs(MODES) do
  results[mode] = {}
  for _, n in ipairs(Ns) do
    results[mode][n] = {}
    local todo = {}
    for _, c in ipairs(CONTENDERS) do
      if (not ONLY or ONLY[c.key]) and (not c.only or c.only == mode) then
        if mode == "idx" and n > IDX_MAX then
          notes[("N = %d skipped on the table with the vector index (above BENCH_IDX_MAX = %d: "
            .. "HNSW inserts at M=16 slow down as the graph grows)"):format(n, IDX_MAX)] = true
          log("  %-6s N=%-7d %-22s skipped (BENCH_IDX_MAX=%d)", mode, n, c.label, IDX_MAX)
        elseif c.slow and n > SLOW_MAX then
          notes[("%s skipped for N = %d (above BENCH_SLOW_MAX = %d: 2 round trips per row)")
            :format(c.label, n, SLOW_MAX)] = true
          log("  %-6s N=%-7d %-22s skipped (BENCH_SLOW_MAX=%d)", mode, n, c.label, SLOW_MAX)
        else
          todo[#todo + 1] = { c = c, runs = 0 }
        end
      end
    end
    for rep = 1, REPEAT do
      for _, t in ipairs(todo) do
        if not t.done then
          local r = run_once(t.c, n, mode)
          if r.error then
            t.best, t.done = r, true
            log("  %-6s N=%-7d %-22s FAILED: %s", mode, n, t.c.label, r.error)
          else
            t.runs = t.runs + 1
            if not t.best or r.wall < t.best.wall then t.best = r end
            t.done = r.wall > REPEAT_MAX_S
            log("  %-6s N=%-7d %-22s %9.0f rows/s  cpu %.3f s  wall %.3f s  rss %d MiB  (run %d)",
              mode, n, t.c.label, n / r.wall, r.cpu, r.wall, r.hwm_kb // 1024, rep)
          end
        end
      end
    end
    for _, t in ipairs(todo) do
      t.best.runs = t.runs
      results[mode][n][t.c.key] = t.best
    end
  end
end
local t_total, load_end = clock.now() - t_start, loadavg()
client:close()
do
  local admin = assert(seekdb.Client(admin_opts))
  assert(admin:query("DROP DATABASE IF EXISTS `" .. DB .. "`"))
  admin:close()
end

---------------------------------------------------------------------------
-- The report
---------------------------------------------------------------------------

-- A table: a title, the column heads, alignment per column ("l"/"r"), rows.
local tables = report.tables()
local new_table = tables.new
local MODE_LABEL = { noidx = "no index", idx = "vector index" }

local main = new_table("Upsert of N rows (384-dim float vectors, ~66-byte documents, 2-key metadata)",
  { "table", "N", "contender", "rows/s", "x C", "wall s", "CPU s", "CPU us/row", "peak RSS MiB",
    "input MiB", "RSS/input", "runs" },
  { "l", "r", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r" })
for _, mode in ipairs(MODES) do
  for _, n in ipairs(Ns) do
    local base = results[mode][n].c
    local base_rate = base and not base.error and n / base.wall
    for _, c in ipairs(CONTENDERS) do
      local r = results[mode][n][c.key]
      if r and r.error then
        main.rows[#main.rows + 1] = { MODE_LABEL[mode], thousands(n), c.label, "FAILED", "-", "-", "-",
          "-", "-", "-", "-", "-" }
        notes[("%s, %s, N = %d failed: %s"):format(c.label, MODE_LABEL[mode], n, r.error)] = true
      elseif r then
        local rate = n / r.wall
        main.rows[#main.rows + 1] = {
          MODE_LABEL[mode], thousands(n), c.label, thousands(rate),
          base_rate and ("%.2f"):format(rate / base_rate) or "-",
          ("%.3f"):format(r.wall), ("%.3f"):format(r.cpu), ("%.1f"):format(r.cpu / n * 1e6),
          mib(r.hwm_kb), r.input_kb and mib(r.input_kb) or "-",
          r.input_kb and ("%.2f"):format(r.hwm_kb / r.input_kb) or "-",
          tostring(r.runs),
        }
      end
    end
  end
end

-- lua-seekdb's client CPU per row as N grows: flat means no quadratic work.
local heads, align = { "contender", "table" }, { "l", "l" }
for _, n in ipairs(Ns) do heads[#heads + 1] = "N=" .. thousands(n); align[#align + 1] = "r" end
local flat = new_table("lua-seekdb client CPU per row (microseconds) as N grows", heads, align)
for _, key in ipairs { "seekdb", "seekdb500", "seekdb_bytes", "seekdb_ef" } do
  for _, mode in ipairs(MODES) do
    local row, any = { nil, MODE_LABEL[mode] }, false
    for _, c in ipairs(CONTENDERS) do if c.key == key then row[1] = c.label end end
    for _, n in ipairs(Ns) do
      local r = results[mode][n][key]
      if r and not r.error then
        row[#row + 1] = ("%.1f"):format(r.cpu / n * 1e6)
        any = true
      else
        row[#row + 1] = "-"
      end
    end
    if any then flat.rows[#flat.rows + 1] = row end
  end
end

-- The embedding callback: documents only through a trivial Lua function,
-- against the same rows with their embeddings given (both without index).
if results.noidx then
  local ef = new_table("Embedding callback overhead (no index; the Lua function returns a precomputed vector)",
    { "N", "CPU s, embeddings given", "CPU s, via Lua ef", "extra CPU us/doc", "rows/s given",
      "rows/s via ef", "ef calls" },
    { "r", "r", "r", "r", "r", "r", "r" })
  for _, n in ipairs(Ns) do
    local g, e = results.noidx[n].seekdb, results.noidx[n].seekdb_ef
    if g and e and not g.error and not e.error then
      ef.rows[#ef.rows + 1] = { thousands(n), ("%.3f"):format(g.cpu), ("%.3f"):format(e.cpu),
        ("%.1f"):format((e.cpu - g.cpu) / n * 1e6), thousands(n / g.wall), thousands(n / e.wall),
        tostring(e.ef_calls) }
    end
  end
  if #ef.rows == 0 then tables[#tables] = nil end
end

-- What lua-seekdb sent, from the server's session counters (without the
-- index: the same statements go out with it).
for _, key in ipairs { "seekdb", "seekdb500" } do
  local mode, parts = MODES[1], {}
  for _, n in ipairs(Ns) do
    local r = results[mode][n][key]
    if r and not r.error and r.com_insert then
      parts[#parts + 1] = ("N = %s: %d call(s), %d INSERT(s), %d prepared execute(s)"):format(
        thousands(n), r.calls, r.com_insert, r.com_stmt_execute)
    end
  end
  if #parts > 0 then
    notes[("lua-seekdb %s sent (server session counters): %s"):format(
      key == "seekdb" and "1 call" or "500/call", table.concat(parts, "; "))] = true
  end
end

local function first_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  if not p then return "?" end
  local s = p:read("l") or "?"
  p:close()
  return s
end

local header = {
  ("Machine: %s cores (nproc), %s, %s MiB RAM; load average %s at the start, %s at the end "
    .. "(the client, the server and anything else share the cores)"):format(first_line("nproc"),
    cpu_model(), (first_line("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo")), load_start,
    load_end),
  ("Server: MariaDB %s on %s:%d over TCP (scratch server of scripts/testdb), lua-seekdb %s "
    .. "(dialect %s; %s), Connector/C %s"):format(server_version, opts.host, opts.port, seekdb._VERSION,
    info.dialect, module_build, first_line("mariadb_config --cc_version")),
  "Server settings: " .. table.concat(server_settings, ", ") .. ".",
  "Table \"no index\": " .. common.ddl_noindex("t"):gsub("^CREATE TABLE `t` ", "") .. ".",
  "Table \"vector index\": what client:create_collection makes, for every contender: "
    .. table.concat(idx_desc, "; ") .. ".",
  ("Every contender: its own process and fresh table, the same rows; timed around the upsert only "
    .. "(not data generation or table creation); CPU = user+sys of the client process (getrusage) "
    .. "during the upsert; peak RSS = the process's VmHWM; input = Lua memory of the input tables "
    .. "(collectgarbage(\"count\") around building them). %s Total run time %.0f s."):format(
    REPEAT > 1 and ("Each figure: the fastest of up to %d runs (by wall time; the contenders take "
      .. "turns; a run longer than %g s is not repeated)."):format(REPEAT, REPEAT_MAX_S)
      or "One run per figure.",
    t_total),
}

local CONTENDER_TEXT = {
  "plain C bulk (limit): bench/bulk_upsert.c, Connector/C prepared INSERT ... ON DUPLICATE KEY "
    .. "UPDATE with array binding (STMT_ATTR_ARRAY_SIZE), float32 blobs, 500 rows an execute, one "
    .. "transaction.",
  "lua-seekdb, 1 call / 500/call: collection:upsert{ids, documents, metadatas, embeddings} with all "
    .. "rows in one call (pipelined above 1,000 rows: the next rows are read from Lua while the "
    .. "server takes the ones before), or in calls of 500 rows (each call its own transaction); "
    .. "'vectors as bytes': each vector a seekdb.vector, made before the clock starts.",
  "LuaSQL + lua-cjson: luasql.mysql, multi-row INSERT ... ON DUPLICATE KEY UPDATE text of 500 rows "
    .. "built with conn:escape and cjson.encode, vectors as VEC_FromText('[..]'), one transaction.",
  "pyseekdb algorithm: per row SELECT by id, then UPDATE or INSERT (2 round trips per row) over "
    .. "lua-seekdb's client:query, X'..' float32 vectors, one transaction.",
  "lua-seekdb + Lua ef: documents only; the collection's embedding function (Lua, called from C in "
    .. "chunks of 128) returns a precomputed vector per document.",
}

local note_list = {}
for k in pairs(notes) do note_list[#note_list + 1] = k end
table.sort(note_list)

-- fixed width, for the terminal
local text = {}
for _, h in ipairs(header) do text[#text + 1] = h end
text[#text + 1] = ""
for _, t in ipairs(tables) do
  text[#text + 1] = render_text(t, t == main)
  text[#text + 1] = ""
end
for _, c in ipairs(CONTENDER_TEXT) do text[#text + 1] = "* " .. c end
for _, n in ipairs(note_list) do text[#text + 1] = "Note: " .. n end
io.stdout:write(table.concat(text, "\n"), "\n")
io.stdout:flush()

local md = { "# Upsert benchmark (issue 4)", "",
  ("Made by `make BENCH_N=\"%s\" bench` (bench/run.lua) on %s."):format(table.concat(Ns, " "),
    os.date("!%Y-%m-%d %H:%M UTC")), "" }
for _, h in ipairs(header) do md[#md + 1] = "- " .. h end
md[#md + 1] = ""
for _, t in ipairs(tables) do
  md[#md + 1] = render_md(t)
  md[#md + 1] = ""
end
md[#md + 1] = "Contenders:"
md[#md + 1] = ""
for _, c in ipairs(CONTENDER_TEXT) do md[#md + 1] = "- " .. c end
if #note_list > 0 then
  md[#md + 1] = ""
  md[#md + 1] = "Notes:"
  md[#md + 1] = ""
  for _, n in ipairs(note_list) do md[#md + 1] = "- " .. n end
end
-- The read benchmark's section (bench/read.lua writes it) stays as it is.
local keep = ""
do
  local old = io.open(OUT, "rb")
  if old then
    local s = old:read("a")
    old:close()
    local at = s:find("\n## Reads\n", 1, true)
    if at then keep = "\n" .. s:sub(at + 1) end
  end
end
local f = assert(io.open(OUT, "w"))
f:write(table.concat(md, "\n"), "\n", keep)
f:close()
log("written %s (%.0f s in all)", OUT, t_total)
