-- The latency figures of the resumable runtime (issue 11): how much CPU one
-- step of a call costs the program that steps it, how long a host loop's
-- ticker waits while a client works in the same loop, and what the game loop
-- example pays per frame. Timing is measured here, never asserted in the
-- specs (spec/17-loops_spec.lua runs the same programs for their results).
-- `make bench-hosts` runs it on the scratch MariaDB (it starts and stops the
-- server); by hand, with a server running:
--
--   eval "$(scripts/testdb env)"; lua5.4 bench/hosts.lua
--
-- Three sections, each printed as it runs and written as Markdown to
-- bench/hosts.md:
--   a. worst step: calls of 50,000 items run as seekdb.task in a client with
--      loop = "yield", stepped by hand; os.clock around every step
--   b. ticker gaps: a 1 ms ticker under cqueues and under luv while a client
--      of that loop writes, queries and reads back 20,000 rows; and the same
--      ticker with no client at all (what the machine itself does to it)
--   c. examples/game_loop.lua, run as a program: its own figures
-- Each section names its target and says whether it was met. Nothing here
-- fails on time: the exit status says only whether something broke.
--
-- Environment (all optional):
--   BENCH_HOSTS_OUT     where the Markdown goes (bench/hosts.md)
--   BENCH_MODULE        the seekdb/core.so to measure (make bench-hosts: the
--                       one it built for $(LUA); else seekdb/core.so)
--   BENCH_DATABASE      the database it makes and drops (seekdb_bench_hosts)
--   BENCH_HOSTS_BARE_S  seconds of each bare ticker (5)
--   LUA                 the interpreter for the game loop (lua5.4)
-- The module under test is copied first and loaded from the copy (as
-- bench/run.lua does): a rebuild in the checkout meanwhile cannot crash the
-- run or mix two builds in one report.
local report = dofile("bench/report.lua") -- what the benchmark drivers share
local sh, getenv = report.sh, report.getenv

local MODULE_DIR = sh("mktemp -d -t seekdb-bench-hosts.XXXXXX")
assert(MODULE_DIR:match("^/"), "mktemp -d failed")
local MODULE_SO = getenv("BENCH_MODULE", "seekdb/core.so")
assert(os.execute(("cp -R lua/. %s/ && mkdir -p %s/seekdb && cp %s %s/seekdb/core.so")
  :format(MODULE_DIR, MODULE_DIR, MODULE_SO, MODULE_DIR)), "cannot copy the module: run `make` first")
local LUA_PATH = ("%s/?.lua;%s/?/init.lua;"):format(MODULE_DIR, MODULE_DIR)
local LUA_CPATH = MODULE_DIR .. "/?.so;"
package.path = LUA_PATH .. package.path
package.cpath = LUA_CPATH .. package.cpath

local seekdb = require "seekdb"
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local now = seekdb.now -- monotonic wall clock; os.clock is this process's CPU

local OUT = getenv("BENCH_HOSTS_OUT", "bench/hosts.md")
local DB = getenv("BENCH_DATABASE", "seekdb_bench_hosts")
local BARE_S = tonumber(getenv("BENCH_HOSTS_BARE_S", "5"))
local LUA = getenv("LUA", "lua5.4")

-- Targets (seconds): what spec 17 asserted before timing left the specs.
local STEP_TARGET, GAP_TARGET, GAME_TARGET = 0.010, 0.020, 0.005

local function log(fmt, ...) io.stdout:write(fmt:format(...), "\n"); io.stdout:flush() end
local function ms(s) return ("%.2f"):format(s * 1000) end
local function verdict(value, target) return value < target and "met" or "NOT met" end

-- Everything the Markdown gets, in order.
local md = {}
local function add(line) md[#md + 1] = line or "" end
local function add_table(heads, align, rows)
  add("| " .. table.concat(heads, " | ") .. " |")
  local sep = {}
  for i, a in ipairs(align) do sep[i] = a == "r" and "---:" or "---" end
  add("|" .. table.concat(sep, "|") .. "|")
  for _, row in ipairs(rows) do add("| " .. table.concat(row, " | ") .. " |") end
  add()
end

---------------------------------------------------------------------------
-- The machine
---------------------------------------------------------------------------

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function loadavg() return ((read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?") end

local function cpu_model()
  return ((read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"):gsub("%s+", " ")
end

-- Jiffies of the whole machine and of them stolen by the hypervisor
-- (/proc/stat): a virtual CPU taken away shows up in every figure here.
local function cpu_jiffies()
  local line = (read_file("/proc/stat") or ""):match("^cpu%s+([^\n]+)")
  if not line then return nil end
  local total, fields = 0, {}
  for n in line:gmatch("%d+") do
    fields[#fields + 1] = tonumber(n)
    total = total + tonumber(n)
  end
  return { total = total, idle = (fields[4] or 0) + (fields[5] or 0), steal = fields[8] or 0 }
end

-- The time the kernel kept this process waiting for a CPU (run_delay of
-- /proc/self/schedstat, seconds); 0 where it is not there. On a loaded
-- machine that is most of a long gap, and none of it is the client's doing.
local schedstat = io.open("/proc/self/schedstat")
if schedstat and not schedstat:read("*l") then schedstat = nil end
if schedstat then schedstat:setvbuf("no") end
local function run_delay()
  if not schedstat then return 0 end
  schedstat:seek("set", 0)
  return tonumber(schedstat:read("*l"):match("^%d+ (%d+)")) / 1e9
end

---------------------------------------------------------------------------
-- Connections and data
---------------------------------------------------------------------------

-- As the specs connect (spec/helper.lua): the socket when testdb names one.
local function options(extra)
  local o = {
    host = getenv("SEEKDB_TEST_HOST", "127.0.0.1"),
    port = tonumber(getenv("SEEKDB_TEST_PORT", "2881")),
    user = getenv("SEEKDB_TEST_USER", "root"),
    password = os.getenv("SEEKDB_TEST_PASSWORD") or "",
    socket = getenv("SEEKDB_TEST_SOCKET"),
    database = DB,
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- spec/helper.lua's helper.vectors: an LCG stream, n vectors of dim numbers
local function lcg_vectors(n, dim, seed)
  local x, out = seed, {}
  for i = 1, n do
    local v = {}
    for j = 1, dim do
      x = (x * 1103515245 + 12345) % 2147483648
      v[j] = x / 2147483648 - 0.5
    end
    out[i] = v
  end
  return out
end

-- A collection without its vector index: the server's HNSW work is not what
-- the worst step measures, and it makes 50,000-row writes slow.
local function plain_collection(client, name, dim)
  client:delete_collection(name)
  local col = assert(client:create_collection { name = name, dimension = dim })
  if client:info().dialect == "mariadb" then
    assert(client:query(("ALTER TABLE `%s` DROP INDEX idx_vec"):format(col._table)))
  end
  return col
end

local function percentile(list, p)
  if #list == 0 then return 0 end
  local s = {}
  for i = 1, #list do s[i] = list[i] end
  table.sort(s)
  return s[math.max(1, math.ceil(#s * p))]
end

---------------------------------------------------------------------------
-- a. Worst step of a resumable call
---------------------------------------------------------------------------

-- Runs fn as a seekdb.task, one step at a time as a game loop does, the GC
-- stopped (a collection cycle over the inputs' 50,000-item tables is not
-- the call's work). Returns the figures and fn's results.
local function stepped(fn)
  collectgarbage()
  collectgarbage("stop")
  -- The full cycle frees a great many small blocks into glibc's fastbins;
  -- the next malloc of 1 KB or more merges them all (malloc_consolidate),
  -- 12-15 ms here, and without this it fell in the call's first step in
  -- about one run in five (seen with perf). That is the GC's cost, paid now.
  local settle = ("x"):rep(4096)
  assert(#settle == 4096)
  local task = seekdb.task(fn)
  local f = { steps = 0, worst = 0, worst_at = 0, cpu = 0 }
  local w0 = now()
  local r
  repeat
    local c0 = os.clock()
    r = pack(task:step())
    local c = os.clock() - c0
    f.steps, f.cpu = f.steps + 1, f.cpu + c
    if c > f.worst then f.worst, f.worst_at = c, f.steps end
  until r[1]
  f.wall = now() - w0
  collectgarbage("restart")
  return f, unpack(r, 2, r.n)
end

local function section_steps(admin)
  local N, PAGE, GETS, QUERIES = 50000, 2000, 20000, 100
  local ids, metas, docs = {}, {}, {}
  local vecs = lcg_vectors(N, 4, 11)
  for i = 1, N do -- in reverse order, so that the sort has work to do
    ids[i] = ("id%06d"):format(N - i)
    metas[i] = { i = i }
    docs[i] = ("document %d "):format(i) .. ("x"):rep(1000)
  end
  -- half of the ids missing, each of those given twice
  local uids, umetas = {}, {}
  for i = 1, N do
    uids[i] = i % 2 == 0 and ids[i] or ("missing%06d"):format(i % 1000)
    umetas[i] = { u = i }
  end
  local half, hmetas = {}, {}
  for i = 1, N / 2 do half[i], hmetas[i] = ids[2 * i], { v = i } end

  local rows = {}
  local worst_all = 0
  for _, protocol in ipairs { "bulk", "text" } do
    local c = assert(seekdb.Client(options { loop = "yield", text_protocol = protocol == "text" }))
    local col = plain_collection(c, "steps_" .. protocol, 4)
    local function measure(label, fn, check)
      local f, res = stepped(fn)
      if check then check(res) end
      worst_all = math.max(worst_all, f.worst)
      log("  %-5s %-30s %7d steps, worst %6s ms CPU (step %d), mean %.3f ms, CPU %.2f s, wall %.2f s  %s",
        protocol, label, f.steps, ms(f.worst), f.worst_at, f.cpu / f.steps * 1000, f.cpu, f.wall,
        verdict(f.worst, STEP_TARGET))
      rows[#rows + 1] = { protocol, label, tostring(f.steps), ms(f.worst), tostring(f.worst_at),
        ("%.4f"):format(f.cpu / f.steps * 1000), ("%.2f"):format(f.cpu), ("%.2f"):format(f.wall),
        verdict(f.worst, STEP_TARGET) }
    end
    measure("upsert of 50,000", function()
      return assert(col:upsert { ids = ids, embeddings = vecs, metadatas = metas, documents = docs })
    end, function()
      local n = tonumber(assert(admin:query("SELECT COUNT(*) AS n FROM `" .. col._table .. "`"))[1].n)
      assert(n == N, ("upsert: %d rows, expected %d"):format(n, N))
    end)
    measure("update of 50,000, half missing", function()
      return assert(col:update { ids = uids, metadatas = umetas })
    end, function(res) assert(res.updated == N / 2, "update: " .. tostring(res.updated) .. " rows updated") end)
    measure("upsert of 25,000 without vectors", function()
      return assert(col:upsert { ids = half, metadatas = hmetas })
    end)
    measure("get of 20,000, pages of 2,000", function()
      local n = 0
      for offset = 0, GETS - 1, PAGE do
        local page = assert(col:get { limit = PAGE, offset = offset,
          include = { "documents", "metadatas", "embeddings" } })
        n = n + #page.ids
      end
      return n
    end, function(n) assert(n == GETS, ("get: %d rows, expected %d"):format(n, GETS)) end)
    measure("query x100 (n_results 10)", function()
      local n = 0
      for q = 1, QUERIES do
        local r = assert(col:query { query_embeddings = vecs[q * 37 % N + 1], n_results = 10 })
        n = n + #r.ids[1]
      end
      return n
    end, function(n) assert(n == QUERIES * 10, ("query: %d rows, expected %d"):format(n, QUERIES * 10)) end)
    assert(c:delete_collection("steps_" .. protocol))
    c:close()
  end
  return rows, worst_all
end

---------------------------------------------------------------------------
-- b. Ticker gaps under cqueues and luv
---------------------------------------------------------------------------

-- Records every gap between a ticker's ticks: whole (wall), without the time
-- spent waiting for a CPU (own), and the process's CPU in it (os.clock).
local function new_ticker()
  local t = { gaps = {}, owns = {}, worst = 0, worst_own = 0, worst_own_cpu = 0, worst_cpu = 0, started = now() }
  local last, last_q, last_c
  function t.tick()
    local w, q, c = now(), run_delay(), os.clock()
    if last then
      local gap, cpu = w - last, c - last_c
      local own = gap - (q - last_q)
      t.gaps[#t.gaps + 1], t.owns[#t.owns + 1] = gap, own
      if gap > t.worst then t.worst = gap end
      if own > t.worst_own then t.worst_own, t.worst_own_cpu = own, cpu end
      if cpu > t.worst_cpu then t.worst_cpu = cpu end
    end
    last, last_q, last_c = w, q, c
  end
  function t.finish() t.secs = now() - t.started end
  return t
end

-- Counts the calls that wait in place (call:wait, the process asleep in a
-- blocking read): inside a loop's coroutine every wait must go to the loop,
-- and one that does not would stretch a gap without any CPU.
local function count_waits_in_place(fn)
  local Call = debug.getregistry()["seekdb.Call"].__index
  local wait, n = Call.wait, 0
  Call.wait = function(...)
    n = n + 1
    return wait(...)
  end
  local r = pack(pcall(fn))
  Call.wait = wait
  if not r[1] then error(r[2], 0) end
  return n, unpack(r, 2, r.n)
end

-- The bare tickers: the same loops with nothing else in them.
local function bare_cqueues(secs)
  local cqueues = require "cqueues"
  local t = new_ticker()
  local cq = cqueues.new()
  cq:wrap(function()
    local stop = now() + secs
    while now() < stop do
      cqueues.sleep(0.001)
      t.tick()
    end
  end)
  assert(cq:loop())
  t.finish()
  return t
end

local function bare_luv(secs)
  local uv = require "luv"
  local t = new_ticker()
  local timer, stopper = uv.new_timer(), uv.new_timer()
  timer:start(1, 1, t.tick)
  stopper:start(math.floor(secs * 1000), 0, function()
    timer:stop(); timer:close(); stopper:close()
  end)
  uv.run()
  t.finish()
  return t
end

-- What the program does in its coroutine (spec 17's work()): upsert, the
-- queries, every row read back in pages (Connector/C reads a statement's
-- result set in one go once the server has sent it: no slice cuts it).
local function work(client, name, input)
  local col = assert(client:get_collection(name))
  local out = {}
  local t0 = now()
  assert(col:upsert { ids = input.ids, embeddings = input.vecs, metadatas = input.metas, documents = input.docs })
  out.upsert, t0 = now() - t0, now()
  for q = 1, #input.queries do
    assert(col:query { query_embeddings = input.queries[q], n_results = 10,
      where = q % 2 == 0 and { group = { ["$ne"] = 3 } } or nil })
  end
  out.query, t0 = now() - t0, now()
  out.rows = 0
  for offset = 0, #input.ids - 1, input.page do
    local page = assert(col:get { limit = input.page, offset = offset,
      include = { "documents", "metadatas", "embeddings" } })
    out.rows = out.rows + #page.ids
  end
  out.get = now() - t0
  return out
end

local function busy_cqueues(admin, input)
  local cqueues = require "cqueues"
  assert(admin:create_collection { name = "tick_cq", dimension = input.dim })
  local client = assert(seekdb.Client(options { loop = "cqueues" }))
  local t, out, done = new_ticker(), nil, false
  collectgarbage()
  collectgarbage()
  t.in_place = count_waits_in_place(function()
    local cq = cqueues.new()
    cq:wrap(function()
      while not done do
        cqueues.sleep(0.001)
        t.tick()
      end
    end)
    cq:wrap(function()
      out = work(client, "tick_cq", input)
      done = true
    end)
    assert(cq:loop())
  end)
  t.finish()
  client:close()
  assert(admin:delete_collection("tick_cq"))
  return t, out
end

local function busy_luv(admin, input)
  local uv = require "luv"
  assert(admin:create_collection { name = "tick_uv", dimension = input.dim })
  local client = assert(seekdb.Client(options { loop = "luv" }))
  local t, out, failed = new_ticker(), nil, nil
  collectgarbage()
  collectgarbage()
  t.in_place = count_waits_in_place(function()
    local timer = uv.new_timer()
    timer:start(1, 1, t.tick)
    local co = coroutine.create(function()
      local ok, err = pcall(function() out = work(client, "tick_uv", input) end)
      if not ok then failed = err end
      timer:stop()
      timer:close()
    end)
    assert(coroutine.resume(co))
    uv.run()
  end)
  assert(not failed, failed)
  t.finish()
  client:close()
  assert(admin:delete_collection("tick_uv"))
  return t, out
end

local function section_tickers(admin)
  local N, DIM, QUERIES, PAGE = 20000, 8, 100, 2000
  -- all different (helper.vectors repeats itself every 5,233 vectors of 8)
  local input = { ids = {}, vecs = {}, metas = {}, docs = {}, queries = {}, dim = DIM, page = PAGE }
  math.randomseed(1234)
  for i = 1, N do
    local v = {}
    for j = 1, DIM do v[j] = math.random() - 0.5 end
    input.vecs[i] = v
    input.ids[i] = ("row%05d"):format(i)
    input.metas[i] = { i = i, group = i % 10 }
    input.docs[i] = ("document %d"):format(i)
  end
  for q = 1, QUERIES do input.queries[q] = input.vecs[q * 37 % N + 1] end

  local rows, works, worst_own = {}, {}, 0
  local function report(label, client, t)
    local p99, p99own = percentile(t.gaps, 0.99), percentile(t.owns, 0.99)
    local v = client and verdict(t.worst_own, GAP_TARGET) or "(baseline)"
    local in_place = t.in_place and tostring(t.in_place) or "-"
    log("  %-8s %-10s %6d ticks in %5.1f s; worst gap %s ms; worst own %s ms (%s ms CPU in it); worst CPU in "
      .. "a gap %s ms; p99 %s ms (own %s ms); waits in place %s  %s", label, client and "client" or "no client",
      #t.gaps, t.secs, ms(t.worst), ms(t.worst_own), ms(t.worst_own_cpu), ms(t.worst_cpu), ms(p99), ms(p99own),
      in_place, v)
    rows[#rows + 1] = { label, client and "upsert, queries, get" or "none (bare ticker)", tostring(#t.gaps),
      ("%.1f"):format(t.secs), ms(t.worst), ms(t.worst_own), ms(t.worst_own_cpu), ms(t.worst_cpu), ms(p99),
      ms(p99own), in_place, v }
    if client then worst_own = math.max(worst_own, t.worst_own) end
  end
  report("cqueues", false, bare_cqueues(BARE_S))
  report("luv", false, bare_luv(BARE_S))
  for _, host in ipairs { { "cqueues", busy_cqueues }, { "luv", busy_luv } } do
    local t, out = host[2](admin, input)
    assert(out and out.rows == N, ("%s: read back %s rows, expected %d"):format(host[1], out and out.rows, N))
    report(host[1], true, t)
    log("  %-8s upsert of %d rows %.1f s, %d queries %.2f s, get of %d rows %.2f s", host[1], N, out.upsert,
      QUERIES, out.query, N, out.get)
    works[#works + 1] = { host[1], ("%.1f"):format(out.upsert), ("%.2f"):format(out.query), ("%.2f"):format(out.get) }
  end
  return rows, works, worst_own
end

---------------------------------------------------------------------------
-- c. The game loop example
---------------------------------------------------------------------------

local function section_game()
  local cmd = ("env SEEKDB_TEST_DATABASE=%s LUA_PATH='%s;' LUA_CPATH='%s;' %s examples/game_loop.lua 2>&1")
    :format(DB, LUA_PATH, LUA_CPATH, LUA)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  assert(ok, "examples/game_loop.lua failed:\n" .. out)
  local g = {}
  g.frames, g.secs, g.worst_frame, g.over = out:match("(%d+) frames in ([%d.]+) s, worst frame ([%d.]+) ms, (%d+) frames over")
  g.worst, g.mean, g.steps = out:match("client CPU per step: worst ([%d.]+) ms, mean ([%d.]+) ms over (%d+) steps")
  assert(g.frames and g.worst, "examples/game_loop.lua: figures not found in:\n" .. out)
  g.verdict = verdict(tonumber(g.worst) / 1000, GAME_TARGET)
  log("  %s frames in %s s, worst frame %s ms, %s frames over 18.3 ms; client CPU per step: worst %s ms, "
    .. "mean %s ms over %s steps  %s", g.frames, g.secs, g.worst_frame, g.over, g.worst, g.mean, g.steps, g.verdict)
  return g
end

---------------------------------------------------------------------------
-- The run
---------------------------------------------------------------------------

local function main()
  local admin_opts = options { database = getenv("SEEKDB_TEST_DATABASE", "test") }
  do
    local a = assert(seekdb.Client(admin_opts))
    assert(a:query("DROP DATABASE IF EXISTS `" .. DB .. "`"))
    assert(a:query("CREATE DATABASE `" .. DB .. "` DEFAULT CHARACTER SET utf8mb4"))
    a:close()
  end
  local admin = assert(seekdb.Client(options()))
  local server_version = assert(admin:query("SELECT VERSION() AS v"))[1].v
  local module_build = ("core.so sha256 %s, checkout %s%s"):format(
    sh("sha256sum " .. MODULE_DIR .. "/seekdb/core.so"):sub(1, 12), sh("git rev-parse --short HEAD"),
    sh("git status --porcelain src lua") ~= "" and " + local changes" or "")
  local load_start, jiffies_start, t_start = loadavg(), cpu_jiffies(), now()
  log("hosts benchmark: %s, server %s; load average %s", _VERSION .. (rawget(_G, "jit") and " (LuaJIT)" or ""),
    server_version, load_start)

  log("a. worst step (loop = \"yield\", seekdb.task stepped by hand, GC stopped; target < %s ms CPU)",
    ms(STEP_TARGET))
  local step_rows, worst_step = section_steps(admin)
  log("b. ticker gaps (1 ms ticker; target: worst gap not waiting for a CPU < %s ms)", ms(GAP_TARGET))
  local gap_rows, work_rows, worst_own = section_tickers(admin)
  log("c. examples/game_loop.lua (target: client CPU per step < %s ms)", ms(GAME_TARGET))
  local game = section_game()

  admin:close()
  do
    local a = assert(seekdb.Client(admin_opts))
    assert(a:query("DROP DATABASE IF EXISTS `" .. DB .. "`"))
    a:close()
  end
  local load_end, jiffies_end, t_total = loadavg(), cpu_jiffies(), now() - t_start
  -- how busy the machine was (this process, the server and anything else)
  -- and how much of it the hypervisor took
  local busy, steal = "?", "?"
  if jiffies_start and jiffies_end and jiffies_end.total > jiffies_start.total then
    local total = jiffies_end.total - jiffies_start.total
    busy = ("%.0f%%"):format(100 * (1 - (jiffies_end.idle - jiffies_start.idle) / total))
    steal = ("%.1f%%"):format(100 * (jiffies_end.steal - jiffies_start.steal) / total)
  end
  local own_cpu = os.clock()
  log("load average %s at the end; the cores %s busy, %s stolen; this process %.0f s of CPU; %.0f s in all",
    load_end, busy, steal, own_cpu, t_total)

  add("# Hosts benchmark: steps, ticker gaps, the game loop")
  add()
  add(("Made by bench/hosts.lua (`make bench-hosts`) on %s. Figures only: nothing here fails on time; "
    .. "each section states its target and whether this run met it."):format(os.date("!%Y-%m-%d %H:%M UTC")))
  add()
  add(("- Machine: %s cores (nproc), %s; load average %s at the start, %s at the end. During the run "
    .. "(/proc/stat) the cores were %s busy (this process took %.0f s of CPU in %.0f s; the rest is the "
    .. "server and anything else running) and %s of all CPU time was stolen by the hypervisor."):format(
    sh("nproc"), cpu_model(), load_start, load_end, busy, own_cpu, t_total, steal))
  add(("- Server: MariaDB %s (scratch server of scripts/testdb, %s). Client: lua-seekdb %s under %s (%s). "
    .. "Total run time %.0f s."):format(server_version, getenv("SEEKDB_TEST_SOCKET") and "unix socket" or "TCP",
    seekdb._VERSION, _VERSION .. (rawget(_G, "jit") and " / LuaJIT" or ""), module_build, t_total))
  add("- What bounds the figures: a step of a call is one slice (about 0.5 ms of the client's own work) "
    .. "and the loop's turn, plus what no slice can cut: Connector/C reads a statement's whole result set "
    .. "in one go once the server has sent it (about 1 ms per MB: reads go in pages of 2,000 rows; "
    .. "section a's pages carry 1 KB documents, about 2 MB each), and the Lua GC's steps, which run in "
    .. "whichever step allocates (stopped during section a's calls, running in b and c). A gap also holds "
    .. "the machine's own hiccups: the bare ticker, no client at all, shows them. Wall gaps on a loaded "
    .. "machine are mostly time spent waiting for a CPU (run_delay of /proc/self/schedstat), which the "
    .. "\"own\" figures leave out.")
  add()

  add(("## a. Worst step of a resumable call (target: < %s ms of CPU; %s)"):format(ms(STEP_TARGET),
    verdict(worst_step, STEP_TARGET)))
  add()
  add("A client with `loop = \"yield\"`; each call runs as `seekdb.task(fn)`, stepped by hand "
    .. "(`task:step()` until it returns true) with `os.clock` around every step; the GC stopped during "
    .. "the call. A collection of 4-dim vectors without its vector index (the HNSW inserts are the "
    .. "server's work, not the client's). Items: metadata `{i = i}`, documents of about 1 KB, ids in "
    .. "reverse order; the update gives 50,000 ids of which half are missing (each of those twice). "
    .. "\"bulk\" is the default protocol, \"text\" the client with `text_protocol = true`.")
  add()
  add_table({ "protocol", "call", "steps", "worst step ms CPU", "worst at step", "mean step ms CPU", "CPU s",
    "wall s", "target" }, { "l", "l", "r", "r", "r", "r", "r", "r", "l" }, step_rows)
  add("Most steps find the call waiting for the server and return at once: hence the many steps and the "
    .. "tiny mean. After the full GC before each call the allocator is settled by one 4 KB allocation: "
    .. "without it, glibc's malloc_consolidate (merging the small blocks the GC had just freed) put 12-15 ms "
    .. "into the call's first step in about one run in five. That is the GC's cost, not the call's; a "
    .. "program whose GC frees many small blocks at once pays it in its next allocation of 1 KB or more.")
  add()

  add(("## b. Ticker gaps (target: worst gap not waiting for a CPU < %s ms; %s)"):format(ms(GAP_TARGET),
    verdict(worst_own, GAP_TARGET)))
  add()
  add(("A ticker asking to run every millisecond (cqueues: a coroutine in `cqueues.sleep(0.001)`; luv: a "
    .. "`uv` timer of 1 ms) while a client of that loop (`loop = \"cqueues\"` / `\"luv\"`), in a coroutine "
    .. "of the same loop, upserts 20,000 rows of 8 dims (short documents, 2-key metadata) into a "
    .. "collection with its vector index, runs 100 queries (n_results 10, half with a `where`), and reads "
    .. "every row back in pages of 2,000 (documents, metadatas, embeddings). Gap = time between two ticks; "
    .. "own = the gap less the time the process waited for a CPU; CPU = the process's CPU in the gap. "
    .. "The bare tickers run %g s with no client at all: the machine's baseline."):format(BARE_S))
  add()
  add_table({ "loop", "client work", "ticks", "s", "worst gap ms", "worst own ms", "CPU in that gap ms",
    "worst CPU in a gap ms", "p99 gap ms", "p99 own ms", "waits in place", "target" },
    { "l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l" }, gap_rows)
  add("Own time that is neither CPU nor a wait for one is the process asleep: a wait in place (counted: "
    .. "there should be none) or the ticker's wake-up arriving late, which the bare tickers show the "
    .. "machine doing by itself (on a VM, its virtual CPU descheduled).")
  add()
  add("The client's work meanwhile (wall seconds):")
  add()
  add_table({ "loop", "upsert of 20,000", "100 queries", "get of 20,000" }, { "l", "r", "r", "r" }, work_rows)

  add(("## c. The game loop example (target: client CPU per step < %s ms; %s)"):format(ms(GAME_TARGET),
    game.verdict))
  add()
  add("`examples/game_loop.lua` run as it is: 60 frames a second, 10,000 players spawned in one upsert on "
    .. "one client (`loop = \"yield\"`, a task stepped once a frame), a query twice a second on a second "
    .. "client, then 4 rounds of saved moves. Its own figures:")
  add()
  add_table({ "frames", "s", "worst frame ms", "frames over 18.3 ms", "worst step ms CPU", "mean step ms CPU",
    "steps", "target" }, { "r", "r", "r", "r", "r", "r", "r", "l" },
    { { game.frames, game.secs, game.worst_frame, game.over, game.worst, game.mean, game.steps, game.verdict } })

  local f = assert(io.open(OUT, "w"))
  f:write(table.concat(md, "\n"), "\n")
  f:close()
  log("written %s", OUT)
end

local ok, err = xpcall(main, debug.traceback)
os.execute("rm -rf " .. MODULE_DIR)
if not ok then
  io.stderr:write("bench/hosts.lua: ", tostring(err), "\n")
  os.exit(1)
end
