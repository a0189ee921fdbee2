-- Real programs on the resumable runtime (issue 11, part 3), under Lua 5.4
-- and LuaJIT: no step of a call does work that grows with the call; cqueues
-- and luv programs whose ticker keeps ticking while a client writes and
-- reads; an embedding function that fetches its vectors over HTTP; the game
-- loop example; the hard cases (a call abandoned, two calls at once, a close
-- or a KILL under a suspended call); timeouts in every mode; the README's
-- Hosts snippets.
--
-- Timing on a shared 2-core machine: no assertion here is on a raw wall
-- time that another process can stretch. CPU a step takes (os.clock) is the
-- process's own; a ticker's gap is counted without the time the kernel kept
-- the process waiting for a CPU (/proc/self/schedstat), and the raw gaps
-- are printed beside it.
local seekdb = require "seekdb"
local helper = require "helper"

-- This file picks each client's loop itself, and its blocking clients
-- (admin, dirty readers) must block even inside a loop's callbacks: in make
-- test's pass where every helper client has loop = "yield", it has nothing
-- more to show and is skipped.
if helper.loop then
  describe("hosts", function()
    it("runs in the blocking pass (its clients choose their loops)", function()
      pending("SEEKDB_TEST_LOOP=" .. helper.loop .. ": spec 17 runs in the other passes")
    end)
  end)
  return
end

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = helper.unpack

-- Under valgrind or a sanitizer the module runs many times slower: the
-- programs run smaller. Times are reported, never asserted: the targets
-- (a step's CPU, a ticker's gaps, a frame's share) are measured by
-- bench/hosts.lua, whose results are in bench/hosts.md. What is asserted
-- here is the shape: calls cut in many steps, tickers ticking during calls,
-- waits going to the loop, results equal to a blocking client's.
local preload = os.getenv("LD_PRELOAD") or ""
local instrumented = preload:find("vgpreload", 1, true) and "valgrind"
  or preload:find("asan", 1, true) and "AddressSanitizer" or nil

local function say(fmt, ...)
  io.stderr:write(("    [%s] " .. fmt .. "\n"):format(helper.luajit and "LuaJIT" or _VERSION, ...))
end

-- Runs fn(...) as a seekdb.task, one step at a time as a game loop does, and
-- measures the CPU time of each step: what a frame pays for the call.
-- Returns the worst step's CPU seconds, the number of steps, fn's results.
local function stepped(fn, ...)
  local task = seekdb.task(fn, ...)
  local worst, steps = 0, 0
  while true do
    local c0 = os.clock()
    local r = pack(task:step())
    local c = os.clock() - c0
    steps = steps + 1
    if c > worst then worst = c end
    if r[1] then return worst, steps, unpack(r, 2, r.n) end
  end
end

-- A collection without its vector index: the server's HNSW work is not what
-- these specs measure, and it makes large writes slow.
local function plain_collection(client, name, dim)
  client:delete_collection(name)
  local col = assert(client:create_collection { name = name, dimension = dim })
  if helper.dialect(client) == "mariadb" then
    assert(client:query(("ALTER TABLE `%s` DROP INDEX idx_vec"):format(col._table)))
  end
  return col
end

describe("slices: no step of a resumable call does work that grows with the call", function()
  -- Each call below has 50,000 items; in a client with loop = "yield" every
  -- step stops after about a slice (0.5 ms) of work. Before the pieces
  -- were cut in slices, one step of these calls took 17 to 36 ms of CPU
  -- (bench/hosts.md has the figures now). Here: every call is cut in many
  -- steps, and does what the blocking form does. The GC is stopped during
  -- each call: a collection cycle over the test's own tables is not the
  -- call's work.
  local N = instrumented and 2000 or 50000
  -- (instrumented, the calls are small enough to fit in a few slices)
  local MIN_STEPS = instrumented and 1 or 20
  local client, admin, ids, vecs, metas, docs
  setup(function()
    client = helper.fresh { loop = "yield" }
    admin = assert(seekdb.Client(helper.options { database = helper.databases[client] }))
    ids, metas, docs = {}, {}, {}
    vecs = helper.vectors(N, 4, 11)
    for i = 1, N do -- in reverse order, so that the sort has work to do
      ids[i] = ("id%06d"):format(N - i)
      metas[i] = { i = i }
      docs[i] = ("document %d "):format(i) .. ("x"):rep(1000)
    end
  end)
  teardown(function()
    admin:close()
    helper.drop(client)
  end)

  local function worst_step(label, fn, ...)
    collectgarbage()
    collectgarbage("stop")
    local r = pack(stepped(fn, ...))
    collectgarbage("restart")
    say("%-34s %6d steps, worst step %.2f ms of CPU", label, r[2], r[1] * 1000)
    assert.is_true(r[2] >= MIN_STEPS, ("%s: the call ran in %d steps"):format(label, r[2]))
    return unpack(r, 3, r.n)
  end

  for _, protocol in ipairs { "bulk", "text" } do
    it("upsert, update and upsert without vectors (" .. protocol .. " protocol)", function()
      local c = assert(seekdb.Client(helper.options { database = helper.databases[client], loop = "yield",
        text_protocol = protocol == "text" }))
      local col = plain_collection(c, "s" .. protocol, 4)
      worst_step(protocol .. " upsert", function()
        return assert(col:upsert { ids = ids, embeddings = vecs, metadatas = metas, documents = docs })
      end)
      assert.are.equal(N, admin:query("SELECT COUNT(*) AS n FROM `" .. col._table .. "`")[1].n + 0)
      -- half of the ids are missing, each given twice
      local uids, umetas = {}, {}
      for i = 1, N do
        uids[i] = i % 2 == 0 and ids[i] or ("missing%06d"):format(i % 1000)
        umetas[i] = { u = i }
      end
      local res = worst_step(protocol .. " update", function()
        return assert(col:update { ids = uids, metadatas = umetas })
      end)
      assert.are.equal(math.floor(N / 2), res.updated)
      assert.are.equal(500, #res.missing)
      assert.are.equal("missing000001", res.missing[1])
      local half, hmetas = {}, {}
      for i = 1, math.floor(N / 2) do half[i], hmetas[i] = ids[2 * i], { v = i } end
      worst_step(protocol .. " upsert without vectors", function()
        return assert(col:upsert { ids = half, metadatas = hmetas })
      end)
      local got = assert(admin:query("SELECT JSON_VALUE(metadata, '$.v') AS v FROM `" .. col._table
        .. "` WHERE _id = '" .. ids[2] .. "'"))
      assert.are.equal("1", got[1].v)
      c:close()
    end)
  end

  it("add finds an id given twice in a slice", function()
    -- 200,000 ids in reverse order: before, the first passes of the sort
    -- and the look for repeats ran in one step (16 ms)
    local M = instrumented and N or 200000
    local col = plain_collection(client, "sadd", 4)
    local twice, same = {}, {}
    for i = 1, M do twice[i], same[i] = ("id%06d"):format(M - i), vecs[1] end
    twice[M] = twice[M - 1000]
    local ok, err = worst_step("add with an id twice", function()
      return col:add { ids = twice, embeddings = same }
    end)
    assert.is_nil(ok)
    assert.matches(("ids%%[%d%%] %%('%s'%%) is the same id as ids%%[%d%%]"):format(M, twice[M], M - 1000), err)
    assert.are.equal(0, col:count())
  end)

  it("get and delete by ids", function()
    local col = plain_collection(client, "sget", 4)
    assert(admin:get_collection("sget"):upsert { ids = ids, embeddings = vecs })
    local want = {}
    for i = N, 1, -1 do want[#want + 1] = ids[i] end -- the ids in byte order, from the caller
    want[#want + 1] = "not there"
    local r = worst_step("get by ids", function()
      return assert(col:get { ids = want, limit = N, include = { "metadatas", "embeddings" } })
    end)
    assert.are.equal(N, #r.ids)
    assert.are.equal(want[1], r.ids[1])
    assert.are.equal(want[N], r.ids[N])
    local n = worst_step("delete by ids", function() return assert(col:delete { ids = want }) end)
    assert.are.equal(N, n)
  end)

  it("a slice of 1 ns stops at every check, and the results are the same", function()
    -- every place that looks at the clock yields: each piece goes on from
    -- where it stopped (the sort, the checks, the statements built in parts),
    -- and each step still gets on (before, a slice shorter than the time to
    -- the first look at the clock yielded at once, for ever)
    local c = assert(seekdb.Client(helper.options { database = helper.databases[client], loop = "yield",
      slice = 1e-9, text_protocol = true }))
    local col = plain_collection(c, "szero", 2)
    local M = 3000
    local zids, zvecs = {}, {}
    math.randomseed(5)
    for i = 1, M do
      zids[i] = ("z%d"):format(math.random(1, math.floor(M / 2))) -- many ids twice: the last one wins
      zvecs[i] = { i, -i }
    end
    local _, steps = stepped(function() return assert(col:upsert { ids = zids, embeddings = zvecs }) end)
    assert.is_true(steps > math.floor(M / 64))
    local last = {}
    for i = 1, M do last[zids[i]] = i end
    local distinct = {}
    for id in pairs(last) do distinct[#distinct + 1] = id end
    table.sort(distinct)
    local _, _, r = stepped(function()
      return assert(col:get { ids = distinct, limit = M, include = { "embeddings" } })
    end)
    assert.are.same(distinct, r.ids)
    for k, id in ipairs(distinct) do assert.are.equal(last[id], r.embeddings[k][1]) end
    local _, _, res = stepped(function()
      return assert(col:update { ids = zids, embeddings = zvecs })
    end)
    assert.are.same({ updated = #distinct, missing = {} }, res)
    c:close()
  end)

  it("a slice of 0 means no slices: a step ends only at a wait", function()
    -- (before, 0 made every step yield before doing anything: a call never ended)
    local c = assert(seekdb.Client(helper.options { database = helper.databases[client], loop = "yield", slice = 0 }))
    local col = plain_collection(c, "snone", 4)
    local M = math.min(N, 3000)
    local waits = 0
    local Call = debug.getregistry()["seekdb.Call"].__index
    local resume = Call.resume
    Call.resume = function(call, ...)
      local function count(st, ...)
        if st == "yield" then error("a call with slice = 0 yielded between slices") end
        if st == "wait" then waits = waits + 1 end
        return st, ...
      end
      return count(resume(call, ...))
    end
    local ok, err = pcall(function()
      local _, steps = stepped(function()
        return assert(col:upsert { ids = { unpack(ids, 1, M) }, embeddings = { unpack(vecs, 1, M) } })
      end)
      assert.is_true(steps <= waits + 1)
    end)
    Call.resume = resume
    assert(ok, err)
    assert.are.equal(M, col:count())
    c:close()
  end)
end)

---------------------------------------------------------------------------
-- Tickers: a host loop keeps its rhythm while a client writes and reads
---------------------------------------------------------------------------

-- The time the kernel kept this process waiting for a CPU (run_delay of
-- /proc/self/schedstat, seconds): on a loaded machine a ticker's gap is
-- mostly that, and none of it is the client's doing. 0 where it is not
-- there (the gaps are then counted whole).
local schedstat = io.open("/proc/self/schedstat")
if schedstat and not schedstat:read("l") then schedstat = nil end
if schedstat then schedstat:setvbuf("no") end
local function run_delay()
  if not schedstat then return 0 end
  schedstat:seek("set", 0)
  local delay = schedstat:read("l"):match("^%d+ (%d+)")
  return tonumber(delay) / 1e9
end

-- Records the gaps between a ticker's ticks: each gap whole (wall time),
-- without the time spent waiting for a CPU (own), and the process's CPU in
-- it (os.clock).
local function new_ticker()
  local t = { n = 0, worst = 0, worst_own = 0, worst_cpu = 0, started = seekdb.now() }
  local last, last_q, last_c
  function t.tick()
    local now, q, c = seekdb.now(), run_delay(), os.clock()
    if last then
      local gap, own, cpu = now - last, now - last - (q - last_q), c - last_c
      t.n = t.n + 1
      if gap > t.worst then t.worst = gap end
      if own > t.worst_own then t.worst_own = own end
      if cpu > t.worst_cpu then t.worst_cpu = cpu end
    end
    last, last_q, last_c = now, q, c
  end
  function t.report(label)
    local secs = seekdb.now() - t.started
    say("%s: %d ticks in %.1f s; worst gap %.1f ms, %.1f ms of it not waiting for a CPU, %.1f ms of CPU",
      label, t.n, secs, t.worst * 1000, t.worst_own * 1000, t.worst_cpu * 1000)
  end
  return t
end

-- Counts the calls that wait in place (call:wait): inside a loop's
-- coroutine every wait must go to the loop.
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
  return n
end

describe("tickers", function()
  -- 6,000 rows of 8 numbers into a collection with its vector index (the
  -- server's HNSW inserts take most of the time: 3 to 10 s on 2 shared
  -- cores), 100 queries, then every row read back in 3 pages, while a
  -- ticker asks to run every millisecond. The results must equal what a
  -- blocking client reads. 6,000 rows make calls of many statements,
  -- slices and pages, and thousands of ticks; more rows would add only the
  -- server's HNSW work (bench/hosts.lua runs the same loops on 20,000).
  --
  -- How a gap is bounded: the client's work runs in slices of 0.5 ms, its
  -- waits go to the loop, and no piece does work that grows with the call
  -- (the slices specs above). What remains in a gap is the loop's own turn,
  -- one slice and what cannot be cut: a statement's result set, which
  -- Connector/C reads in one go when the server has sent it all (about
  -- 1 ms a MB here: the rows are read back in pages of 2,000), and the Lua
  -- GC's steps, which run in whichever step allocates (the inputs are built
  -- before the ticker starts, so that their first traversal is not in a
  -- gap). bench/hosts.lua measures the gaps (bench/hosts.md); this spec
  -- checks that the ticker ticks all along and that the results are right.
  local N = instrumented and 2000 or 6000
  local DIM, QUERIES, PAGE = 8, 100, 2000
  local admin, db, ids, vecs, metas, docs, queries
  setup(function()
    admin, db = helper.fresh()
    ids, metas, docs, vecs = {}, {}, {}, {}
    -- vectors all different (helper.vectors repeats itself every 5,233
    -- vectors of 8 numbers: equal distances, whose order no query promises)
    math.randomseed(1234)
    for i = 1, N do
      local v = {}
      for j = 1, DIM do v[j] = math.random() - 0.5 end
      vecs[i] = v
    end
    for i = 1, N do
      ids[i] = ("row%05d"):format(i)
      metas[i] = { i = i, group = i % 10 }
      docs[i] = ("document %d"):format(i)
    end
    queries = {}
    for q = 1, QUERIES do queries[q] = vecs[q * 37 % N + 1] end
  end)
  teardown(function() helper.drop(admin) end)

  -- What the program does in its coroutine: upsert, queries, read back.
  local function work(client, name)
    local col = assert(client:get_collection(name))
    local out = { queries = {} }
    local t0 = seekdb.now()
    assert(col:upsert { ids = ids, embeddings = vecs, metadatas = metas, documents = docs })
    out.upsert = seekdb.now() - t0
    t0 = seekdb.now()
    for q = 1, QUERIES do
      out.queries[q] = assert(col:query { query_embeddings = queries[q], n_results = 10,
        where = q % 2 == 0 and { group = { ["$ne"] = 3 } } or nil })
    end
    out.query = seekdb.now() - t0
    -- read back in pages, as a program under a loop should: Connector/C
    -- reads a statement's result set in one go when the server has sent it
    -- (about 1 ms per MB here), which no slice can cut
    t0 = seekdb.now()
    out.rows = { ids = {}, documents = {}, metadatas = {}, embeddings = {} }
    for offset = 0, N - 1, PAGE do
      local page = assert(col:get { limit = PAGE, offset = offset, include = { "documents", "metadatas", "embeddings" } })
      for k, field in pairs(page) do
        local list = out.rows[k]
        for i = 1, #field do list[#list + 1] = field[i] end
      end
    end
    out.get = seekdb.now() - t0
    return out
  end

  -- The same reads through a blocking client, and the rows against the input.
  local function check_results(name, out, label)
    say("%s: upsert %.1f s, %d queries %.2f s, get of %d rows %.2f s", label, out.upsert, QUERIES, out.query,
      N, out.get)
    local col = assert(admin:get_collection(name))
    local rows = assert(col:get { limit = N, include = { "documents", "metadatas", "embeddings" } })
    assert.are.same({ ids = rows.ids, documents = rows.documents, metadatas = rows.metadatas,
      embeddings = rows.embeddings }, out.rows)
    -- The vector index's search is approximate, and MariaDB's can differ
    -- between the connection that wrote the rows and another (seen: the
    -- first row of one query, one row of another's ten). So each row the
    -- loop's client got is checked against the input itself: its document,
    -- metadata and filter, its cosine distance computed here (the order is
    -- the index's, which ranks by approximate distances: not always
    -- ascending in the exact ones); and the two clients' lists must mostly
    -- agree.
    local function cosine(a, b)
      local dot, na, nb = 0, 0, 0
      for j = 1, DIM do
        dot, na, nb = dot + a[j] * b[j], na + a[j] * a[j], nb + b[j] * b[j]
      end
      return 1 - dot / math.sqrt(na * nb)
    end
    local identical = 0
    for q = 1, QUERIES do
      local mine = out.queries[q]
      assert.are.equal(10, #mine.ids[1])
      for k, id in ipairs(mine.ids[1]) do
        local i = tonumber(id:match("^row(%d+)$"))
        assert.are.equal(docs[i], mine.documents[1][k])
        assert.are.same(metas[i], mine.metadatas[1][k])
        if q % 2 == 0 then assert.are_not.equal(3, metas[i].group) end
        local d = mine.distances[1][k]
        assert.is_true(math.abs(d - cosine(queries[q], vecs[i])) < 1e-4, ("query %d, %s: distance %.7g"):format(q, id, d))
      end
      local r = assert(col:query { query_embeddings = queries[q], n_results = 10,
        where = q % 2 == 0 and { group = { ["$ne"] = 3 } } or nil })
      if pcall(assert.are.same, r, mine) then identical = identical + 1 end
      local at, common = {}, 0
      for _, id in ipairs(r.ids[1]) do at[id] = true end
      for _, id in ipairs(mine.ids[1]) do if at[id] then common = common + 1 end end
      assert.is_true(common >= 5, ("query %d: %d rows of 10 in common with a blocking client's"):format(q, common))
    end
    say("%s: %d of %d queries gave exactly what a blocking client got", label, identical, QUERIES)
    assert.are.equal(N, #rows.ids)
    local at = {}
    for k, id in ipairs(rows.ids) do at[id] = k end
    for i = 1, N, 97 do
      local k = at[ids[i]]
      assert.are.equal(docs[i], rows.documents[k])
      assert.are.same(metas[i], rows.metadatas[k])
      helper.assert_vector(vecs[i], rows.embeddings[k])
    end
  end

  -- The ticker ticked all along (the gaps are bench/hosts.lua's to judge).
  local function check_gaps(t, label)
    t.report(label)
    assert.is_true(t.n >= 100, ("%s: %d ticks"):format(label, t.n))
  end

  it("cqueues: a ticker sleeping 1 ms keeps ticking", function()
    local cqueues = require "cqueues"
    assert(admin:create_collection { name = "cq", dimension = DIM })
    local client = assert(seekdb.Client(helper.options { database = db, loop = "cqueues" }))
    local t, out, done = new_ticker(), nil, false
    collectgarbage()
    collectgarbage()
    local waits = count_waits_in_place(function()
      local cq = cqueues.new()
      cq:wrap(function()
        while not done do
          cqueues.sleep(0.001)
          t.tick()
        end
      end)
      cq:wrap(function()
        out = work(client, "cq")
        done = true
      end)
      assert(cq:loop())
    end)
    assert.are.equal(0, waits)
    check_gaps(t, "cqueues")
    check_results("cq", out, "cqueues")
    client:close()
  end)

  it("luv: a uv timer of 1 ms keeps ticking", function()
    local uv = require "luv"
    assert(admin:create_collection { name = "uv", dimension = DIM })
    local client = assert(seekdb.Client(helper.options { database = db, loop = "luv" }))
    local t, out, failed = new_ticker(), nil, nil
    collectgarbage()
    collectgarbage()
    local waits = count_waits_in_place(function()
      local timer = uv.new_timer()
      timer:start(1, 1, t.tick)
      local co = coroutine.create(function()
        local ok, err = pcall(function() out = work(client, "uv") end)
        if not ok then failed = err end
        timer:stop()
        timer:close()
      end)
      assert(coroutine.resume(co))
      uv.run()
      assert.are.equal("dead", coroutine.status(co))
    end)
    assert(not failed, failed)
    assert.are.equal(0, waits)
    check_gaps(t, "luv")
    check_results("uv", out, "luv")
    client:close()
  end)
end)

describe("luv", function()
  it("the end of a slice lets the loop's timers run", function()
    -- libuv before 1.45 (Debian 12 has 1.44) runs every timer that is due
    -- when it looks, its clock standing still meanwhile: when the driver
    -- ended each slice with a 0 ms timer, a call's sliced work started from
    -- a timer all ran in one pass, and a 1 ms ticker saw nothing until it
    -- was over (checking the 50,000 items below: a gap of 95 ms). A slice
    -- ends with an idle handle now: one turn of the loop. The GC is stopped
    -- during the call: this is about the driver's turns, not the collector.
    local uv = require "luv"
    local admin, db = helper.fresh()
    local N = instrumented and 2000 or 50000
    plain_collection(admin, "fair", 4)
    local ids, metas = {}, {}
    for i = 1, N do ids[i], metas[i] = ("f%05d"):format(i), { i = i } end
    local vecs = helper.vectors(N, 4, 3)
    -- pipeline = false: every item is checked before any SQL, in slices
    local client = assert(seekdb.Client(helper.options { database = db, loop = "luv", pipeline = false }))
    local col = assert(client:get_collection("fair"))
    local t, ok = new_ticker(), nil
    local timer, starter = uv.new_timer(), uv.new_timer()
    collectgarbage()
    collectgarbage("stop")
    timer:start(1, 1, t.tick)
    local co = coroutine.create(function()
      ok = col:upsert { ids = ids, embeddings = vecs, metadatas = metas }
      collectgarbage("restart")
      timer:stop()
      timer:close()
    end)
    starter:start(1, 0, function() -- from a timer's callback, as a luv program's work often starts
      starter:close()
      assert(coroutine.resume(co))
    end)
    uv.run()
    collectgarbage("restart")
    assert.is_true(ok)
    assert.are.equal(N, admin:get_collection("fair"):count())
    t.report("luv, an upsert of " .. N .. " items checked first")
    assert.is_true(t.n >= 5, ("%d ticks during the call"):format(t.n))
    client:close()
    helper.drop(admin)
  end)
end)

---------------------------------------------------------------------------
-- An embedding function that fetches its vectors over HTTP, yielding
---------------------------------------------------------------------------

describe("an embedding function over HTTP under cqueues", function()
  local cqueues = require "cqueues"
  local socket = require "cqueues.socket"
  local cjson = require "cjson"
  local DIM = 8

  -- The "model": a pseudo-random direction from a hash of the text (exact
  -- in doubles, so the same under LuaJIT), far from every other text's.
  local function model(text)
    local h = 7
    for i = 1, #text do h = (h * 31 + text:byte(i)) % 2147483647 end
    local v = {}
    for j = 1, DIM do v[j] = (h * (j * 7919 + 1)) % 1000003 / 1000003 - 0.5 end
    return v
  end

  -- A small HTTP/1.1 server in a coroutine of cq: POST /embed with
  -- {"texts": [...]} answers {"embeddings": [[...], ...]} after 2 ms of
  -- "inference" (a sleep: other coroutines run meanwhile). One request per
  -- connection. Ends when stop() is called.
  local function serve(cq)
    local srv = assert(socket.listen { host = "127.0.0.1", port = 0 })
    assert(srv:listen())
    local _, _, port = srv:localname()
    local stats = { requests = 0, texts = 0 }
    local function handle(conn)
      conn:setmode("b", "b")
      local request = assert(conn:read("*l"))
      local len = 0
      while true do
        local h = assert(conn:read("*l")):gsub("\r$", "")
        if h == "" then break end
        len = tonumber(h:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")) or len
      end
      local body = cjson.decode((assert(conn:read(len))))
      assert(request:match("^POST /embed HTTP/1%.1"), request)
      cqueues.sleep(0.002)
      local out = {}
      for i, text in ipairs(body.texts) do out[i] = model(text) end
      stats.requests, stats.texts = stats.requests + 1, stats.texts + #body.texts
      local reply = cjson.encode { embeddings = out }
      assert(conn:write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        .. "Connection: close\r\n\r\n%s"):format(#reply, reply)))
      assert(conn:flush())
      conn:close()
    end
    cq:wrap(function()
      while true do
        local ok, conn = pcall(srv.accept, srv) -- ends when stop() closes srv
        if not ok or not conn then break end
        cq:wrap(handle, conn)
      end
    end)
    local function stop() srv:close() end
    return port, stats, stop
  end

  -- The embedding function: one POST per call, through a cqueues socket (it
  -- yields to the controller while it waits for the server).
  local function http_embedder(port)
    return function(texts)
      local conn = assert(socket.connect { host = "127.0.0.1", port = port })
      conn:setmode("b", "b")
      local body = cjson.encode { texts = texts }
      assert(conn:write(("POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\nConnection: close\r\n\r\n%s"):format(#body, body)))
      assert(conn:flush())
      local status = assert(conn:read("*l"))
      if not status:match("^HTTP/1%.1 200") then error("embedding server: " .. status) end
      local len
      while true do
        local h = assert(conn:read("*l")):gsub("\r$", "")
        if h == "" then break end
        len = tonumber(h:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")) or len
      end
      local reply = cjson.decode((assert(conn:read(len))))
      conn:close()
      return reply.embeddings
    end
  end

  local admin, db
  setup(function() admin, db = helper.fresh() end)
  teardown(function() helper.drop(admin) end)

  it("upsert with documents and query with query_texts, the ticker ticking", function()
    local N, CHUNK = instrumented and 300 or 2000, 100
    local ids, docs = {}, {}
    for i = 1, N do ids[i], docs[i] = ("doc%04d"):format(i), ("text number %d about %s"):format(i, ("lua"):rep(i % 5)) end
    local cq = cqueues.new()
    local port, stats, stop = serve(cq)
    local client = assert(seekdb.Client(helper.options { database = db, loop = "cqueues" }))
    local t, done, results = new_ticker(), false, {}
    collectgarbage()
    local waits = count_waits_in_place(function()
      cq:wrap(function()
        while not done do
          cqueues.sleep(0.001)
          t.tick()
        end
      end)
      cq:wrap(function()
        -- no dimension: it is learnt by calling the function once (over HTTP too)
        local col = assert(client:create_collection { name = "web", embedding_function = http_embedder(port),
          embedding_chunk_size = CHUNK })
        results.dimension = col.dimension
        assert(col:upsert { ids = ids, documents = docs })
        results.count = assert(col:count())
        results.query = assert(col:query { query_texts = { docs[7], docs[N - 3] }, n_results = 3 })
        done = true
        stop()
      end)
      assert(cq:loop())
    end)
    assert.are.equal(0, waits)
    assert.are.equal(DIM, results.dimension)
    assert.are.equal(N, results.count)
    -- each row found is checked against the input: its distance is the
    -- cosine distance between the model's vectors of the query's text and
    -- of the row's document (so the query's text went through the model,
    -- over HTTP). Which three rows come is the vector index's approximate
    -- answer (the text's own row, at distance 0, nearly always among them).
    local function cosine(a, b)
      local dot, na, nb = 0, 0, 0
      for j = 1, DIM do dot, na, nb = dot + a[j] * b[j], na + a[j] * a[j], nb + b[j] * b[j] end
      return 1 - dot / math.sqrt(na * nb)
    end
    for q, i in ipairs { 7, N - 3 } do
      assert.are.equal(3, #results.query.ids[q], seekdb.pretty(results.query))
      for k, id in ipairs(results.query.ids[q]) do
        local row = assert(tonumber(id:match("^doc(%d+)$")), id)
        local want = cosine(model(docs[i]), model(docs[row]))
        assert(math.abs(results.query.distances[q][k] - want) < 1e-4,
          ("query %d, %s: distance %.7g, expected %.7g"):format(q, id, results.query.distances[q][k], want))
        assert.are.equal(docs[row], results.query.documents[q][k])
      end
    end
    -- the probe, N / CHUNK chunks, one query call
    assert.are.equal(1 + N / CHUNK + 1, stats.requests)
    assert.are.equal(1 + N + 2, stats.texts)
    -- what was stored is what the server computed
    local row = assert(assert(admin:get_collection("web")):get { ids = ids[5], include = { "embeddings" } })
    helper.assert_vector(model(docs[5]), row.embeddings[1])
    t.report("cqueues + HTTP embeddings")
    assert.is_true(t.n >= 5, ("%d ticks"):format(t.n))
    client:close()
  end)
end)

---------------------------------------------------------------------------
-- The hard cases: each leaves nothing written and a clear error, and the
-- process and the client survive, or the client says it was closed
---------------------------------------------------------------------------

describe("hard cases", function()
  local cqueues = require "cqueues"
  local N = instrumented and 3000 or 5000 -- pipelined: executions of 1,000 rows
  local admin, dirty, db, ids, vecs
  setup(function()
    admin, db = helper.fresh()
    -- sees the rows of transactions that are still open: a call half-way
    dirty = assert(seekdb.Client(helper.options { database = db }))
    assert(dirty:query("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"))
    ids, vecs = {}, helper.vectors(N, 4, 9)
    for i = 1, N do ids[i] = ("h%05d"):format(i) end
  end)
  teardown(function()
    dirty:close()
    helper.drop(admin)
  end)

  -- What the server has, through the blocking admin client.
  local function count(name) return assert(assert(admin:get_collection(name)):count()) end

  -- The rows of the collection, those of open transactions included.
  local function dirty_rows(name)
    local col = assert(dirty:get_collection(name))
    return tonumber(assert(dirty:query("SELECT COUNT(*) AS n FROM `" .. col._table .. "`"))[1].n)
  end

  -- The last call a driver resumed (a hook on seekdb.Call's resume), to see
  -- what it is doing: tostring(call) says "waiting for the server", "between
  -- slices"...
  local last_call, resume
  before_each(function()
    local Call = debug.getregistry()["seekdb.Call"].__index
    resume = Call.resume
    Call.resume = function(call, ...)
      last_call = call
      return resume(call, ...)
    end
  end)
  after_each(function()
    debug.getregistry()["seekdb.Call"].__index.resume = resume
    last_call = nil
  end)

  -- In a cqueues coroutine: looks at the server until the call's open
  -- transaction holds rows (the call is half-way), letting others run.
  local function until_half_way(name)
    local deadline = seekdb.now() + 120
    while dirty_rows(name) == 0 do
      assert(seekdb.now() < deadline, "the call never got half-way")
      cqueues.sleep(0.005)
    end
  end

  it("a call abandoned half-way, its coroutine never resumed and collected: the client says it was closed", function()
    plain_collection(admin, "gone", 4)
    local client = assert(seekdb.Client(helper.options { database = db, loop = "yield" }))
    local col = assert(client:get_collection("gone"))
    local co = coroutine.create(function() return col:upsert { ids = ids, embeddings = vecs } end)
    -- a step at a time, until the server holds rows of its open transaction
    repeat assert(coroutine.resume(co)) until dirty_rows("gone") > 0 or coroutine.status(co) == "dead"
    assert.are.equal("suspended", coroutine.status(co))
    assert.are.equal("seekdb call upsert (waiting for the server)", tostring(last_call))
    last_call = nil
    co = nil
    collectgarbage()
    collectgarbage()
    -- the call closed its connection: the server rolled its transaction back
    assert.are.equal(0, count("gone"))
    local ok, err = pcall(col.count, col)
    assert.is_false(ok)
    assert.matches("closed seekdb client %(it was closed because a call on it was left unfinished in the "
      .. "middle of a statement: open a new one%)", err)
    client:close()
  end)

  it("a call abandoned between statements and collected: the client is usable afterwards", function()
    local col0 = plain_collection(admin, "kept", 4)
    assert(col0:upsert { ids = ids, embeddings = vecs })
    local client = assert(seekdb.Client(helper.options { database = db, loop = "yield", slice = 1e-9 }))
    local col = assert(client:get_collection("kept"))
    local co = coroutine.create(function() return col:get { limit = N, include = { "embeddings" } } end)
    -- until the rows are read (no statement in flight, no transaction) and
    -- it is decoding them, a few rows a step
    repeat assert(coroutine.resume(co))
    until tostring(last_call) == "seekdb call get (running)" or coroutine.status(co) == "dead"
    assert.are.equal("suspended", coroutine.status(co))
    co, last_call = nil, nil
    collectgarbage()
    collectgarbage()
    local task = seekdb.task(function() return col:count() end)
    local done, n
    repeat done, n = task:step() until done
    assert.are.equal(N, n)
    client:close()
  end)

  it("two calls at once on one client from two coroutines: the second is refused, the first completes", function()
    plain_collection(admin, "busy", 4)
    local client = assert(seekdb.Client(helper.options { database = db, loop = "cqueues" }))
    local col = assert(client:get_collection("busy"))
    local cq, started, first, second = cqueues.new(), false, nil, nil
    cq:wrap(function()
      started = true
      first = pack(col:upsert { ids = ids, embeddings = vecs })
    end)
    cq:wrap(function()
      while not started do cqueues.sleep(0) end
      -- the first coroutine runs again only when its call waits: it is in it
      second = pack(pcall(col.count, col))
    end)
    assert(cq:loop())
    assert.is_true(first[1], first[2])
    assert.is_false(second[1])
    assert.matches("the seekdb client is busy with another call %(one call at a time per client", second[2])
    assert.are.equal(N, count("busy"))
    assert.are.equal(N, client:get_collection("busy"):count()) -- still usable, outside the loop
    client:close()
  end)

  for _, loop in ipairs { "cqueues", "luv" } do
    it("a close from another coroutine while a call waits (" .. loop .. "): the call ends, nothing written", function()
      local name = "closed_" .. loop
      assert(admin:create_collection { name = name, dimension = 4 }) -- with its index: slow writes
      local client = assert(seekdb.Client(helper.options { database = db, loop = loop }))
      local col = assert(client:get_collection(name))
      local res
      local function writer() res = pack(col:upsert { ids = ids, embeddings = vecs }) end
      if loop == "cqueues" then
        local cq = cqueues.new()
        cq:wrap(writer)
        cq:wrap(function()
          until_half_way(name)
          client:close()
        end)
        assert(cq:loop(120))
      else
        local uv = require "luv"
        local poll = uv.new_timer()
        local co = coroutine.create(writer)
        assert(coroutine.resume(co))
        poll:start(5, 5, function() -- looks at the server until the call is half-way
          if dirty_rows(name) > 0 then
            poll:stop()
            poll:close()
            client:close()
          end
        end)
        uv.run()
        assert.are.equal("dead", coroutine.status(co))
      end
      assert.is_nil(res[1])
      assert.are.equal("upsert was ended before it finished: the client was closed", res[2])
      assert.are.equal(2013, res[3])
      assert.are.equal(0, count(name))
      local ok, err = pcall(col.count, col)
      assert.is_false(ok)
      assert.matches("attempt to use a closed seekdb client", err)
    end)
  end

  it("the connection killed from the server while a call waits: the call fails, nothing written", function()
    assert(admin:create_collection { name = "killed", dimension = 4 })
    local client = assert(seekdb.Client(helper.options { database = db, loop = "cqueues" }))
    local col = assert(client:get_collection("killed"))
    local cid = assert(client:query("SELECT CONNECTION_ID() AS id"))[1].id
    local res
    local cq = cqueues.new()
    cq:wrap(function() res = pack(col:upsert { ids = ids, embeddings = vecs }) end)
    cq:wrap(function()
      until_half_way("killed")
      assert(admin:query("KILL CONNECTION " .. cid))
    end)
    assert(cq:loop(120))
    assert.is_nil(res[1])
    assert.is_string(res[2])
    assert.truthy(res[3] == 2013 or res[3] == 2006 or res[3] == 1927, tostring(res[3]) .. " " .. res[2])
    assert.are.equal(0, count("killed"))
    -- a lost connection is not reconnected: every later call says so
    local ok, err, errno = col:count()
    assert.is_nil(ok)
    assert.truthy(errno == 2006 or errno == 2013, tostring(errno) .. " " .. tostring(err))
    client:close()
  end)
end)

---------------------------------------------------------------------------
-- Timeouts in every mode
---------------------------------------------------------------------------

describe("timeouts", function()
  local cqueues = require "cqueues"
  local uv = require "luv"
  local TIMEOUT = 1
  local admin, db
  setup(function()
    admin, db = helper.fresh()
    local col = assert(admin:create_collection { name = "slow", dimension = 2 })
    -- the row 'slow' takes 5 s to insert
    if helper.dialect(admin) == "mariadb" then
      assert(admin:query(("CREATE TRIGGER slow BEFORE INSERT ON `%s` FOR EACH ROW "
        .. "IF NEW._id = 'slow' THEN SET @s = SLEEP(5); END IF"):format(col._table)))
    end
  end)
  teardown(function() helper.drop(admin) end)

  -- Runs fn(client) the way `mode` runs calls; returns its results and the
  -- seconds it took.
  local function run(mode, fn)
    local client = assert(seekdb.Client(helper.options { database = db, timeout = TIMEOUT,
      loop = mode ~= "blocking" and mode or nil }))
    local r, t0 = nil, seekdb.now()
    if mode == "blocking" then
      r = pack(fn(client))
    elseif mode == "yield" then
      local task = seekdb.task(fn, client)
      repeat r = pack(task:step()) until r[1]
      r = pack(unpack(r, 2, r.n))
    elseif mode == "cqueues" then
      local cq = cqueues.new()
      cq:wrap(function() r = pack(fn(client)) end)
      assert(cq:loop())
    else
      local co = coroutine.create(function() r = pack(fn(client)) end)
      assert(coroutine.resume(co))
      uv.run()
      assert.are.equal("dead", coroutine.status(co))
    end
    return r, seekdb.now() - t0, client
  end

  for _, mode in ipairs { "blocking", "yield", "cqueues", "luv" } do
    it(mode .. ": a statement the server holds past the timeout (SELECT SLEEP(5))", function()
      local r, took, client = run(mode, function(c) return c:query("SELECT SLEEP(5) AS s") end)
      say("%s: SELECT SLEEP(5) with timeout = %d s ended after %.2f s", mode, TIMEOUT, took)
      assert.is_nil(r[1])
      assert.matches("^timeout: query did not finish within 1%.?0? s %(the client's timeout option%) and the "
        .. "server still held it; the connection was closed: open a new client", r[2])
      assert.are.equal(2013, r[3])
      assert.is_true(took >= TIMEOUT * 0.9 and took < TIMEOUT + 1.5, ("took %.2f s"):format(took))
      local ok, err = pcall(client.query, client, "SELECT 1")
      assert.is_false(ok)
      assert.matches("it was closed because a call timed out while the server held it", err)
    end)

    it(mode .. ": a write slowed by a trigger past the timeout: nothing written, the client still usable", function()
      if helper.dialect(admin) ~= "mariadb" then return pending("MariaDB's triggers and SET STATEMENT") end
      local r, took, client = run(mode, function(c)
        local col = assert(c:get_collection("slow"))
        return col:upsert { ids = { "a", "slow", "b" }, embeddings = { { 1, 1 }, { 2, 2 }, { 3, 3 } } }
      end)
      say("%s: an upsert held 5 s by a trigger, timeout = %d s, ended after %.2f s", mode, TIMEOUT, took)
      assert.is_nil(r[1])
      -- the server stopped the statement at the limit the deadline set
      assert.matches("^timeout: upsert did not finish within 1%.?0? s %(the client's timeout option%): the "
        .. "server stopped it %(.*max_statement_time.*%); nothing was changed", r[2])
      assert.are.equal(1969, r[3])
      assert.is_true(took >= TIMEOUT * 0.8 and took < TIMEOUT + 1.5, ("took %.2f s"):format(took))
      assert.are.equal(0, assert(admin:get_collection("slow")):count())
      assert.are.equal(0, assert(client:get_collection("slow")):count()) -- blocking here: outside a loop
      client:close()
    end)
  end
end)

---------------------------------------------------------------------------
-- The game loop example, run as a program
---------------------------------------------------------------------------

-- The interpreter running the specs, to run an example under it too.
local function interpreter()
  return helper.luajit and (os.getenv("LUAJIT") or "luajit") or (os.getenv("LUA") or "lua5.4")
end

-- Runs an example in a process of its own, on a database of its own; its
-- output and whether it exited with 0.
local function run_example(path, db, extra_env)
  local env = ("SEEKDB_TEST_DATABASE=%s LUA_PATH='%s' LUA_CPATH='%s' %s"):format(db, package.path,
    package.cpath, extra_env or "")
  -- valgrind's preload works only under valgrind; a sanitizer's is needed
  local prefix = instrumented == "valgrind" and "env -u LD_PRELOAD " or "env "
  local p = assert(io.popen(prefix .. env .. " " .. interpreter() .. " " .. path .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

describe("examples/game_loop.lua", function()
  it("draws its frames while 10,000 players are upserted and queried, a step of a client costing little CPU", function()
    local admin, db = helper.fresh()
    local out, ok = run_example("examples/game_loop.lua", db,
      instrumented and "GAME_PLAYERS=2000 GAME_ROUNDS=2" or nil)
    helper.drop(admin)
    assert(ok, out)
    local players = instrumented and 2000 or 10000
    assert.matches(players .. " players spawned", out, 1, true)
    assert.matches(players .. " players in the collection", out, 1, true)
    assert.matches("player%-1 at %(%d+, %d+%), near: player%-", out)
    local frames, secs, worst_frame = out:match("(%d+) frames in ([%d.]+) s, worst frame ([%d.]+) ms")
    local worst, mean, steps = out:match("client CPU per step: worst ([%d.]+) ms, mean ([%d.]+) ms over (%d+) steps")
    assert(worst, out)
    -- and their wall time (seekdb.now), which a frame pays
    assert.matches("client wall time per step: worst [%d.]+ ms, mean [%d.]+ ms", out)
    say("game loop: %s frames in %s s, worst frame %s ms; client CPU per step: worst %s ms, mean %s ms over %s steps",
      frames, secs, worst_frame, worst, mean, steps)
    -- a step is one slice (0.5 ms) and the loop's turn: bench/hosts.md
    -- has the figures; here, the clients ran in many steps between frames
    assert.is_true(tonumber(frames) >= 10 and tonumber(steps) >= 10, out)
  end)
end)

describe("errors raised by calls", function()
  it("from a loop that LuaJIT compiles do not crash it later", function()
    -- a process of its own: the crash, when there was one, was a segfault
    local out, ok = run_example("spec/support/raise_loop.lua", os.getenv("SEEKDB_TEST_DATABASE") or "test")
    assert(ok, out)
    assert.matches("ok\n$", out)
  end)
end)

---------------------------------------------------------------------------
-- README, Hosts: its examples are the files, and they run
---------------------------------------------------------------------------

describe("README, Hosts", function()
  local readme = assert(io.open("README.md")):read("*a")
  for _, name in ipairs { "host_cqueues", "host_luv", "host_task" } do
    it(name .. ".lua is in the README as it is, and runs", function()
      local path = "examples/" .. name .. ".lua"
      local file = assert(io.open(path)):read("*a")
      local block = readme:match("`" .. path:gsub("%p", "%%%0") .. "`.-```lua\n(.-)\n```")
      assert(block, "no ```lua block after `" .. path .. "` in README.md")
      assert.are.equal((file:gsub("\n$", "")), block)
      local admin, db = helper.fresh()
      local o = helper.options()
      -- the examples connect with seekdb.Client's own environment variables
      local out, ok = run_example(path, db, ("SEEKDB_HOST='%s' SEEKDB_PORT=%d SEEKDB_USER='%s' SEEKDB_PASSWORD='%s' "
        .. "SEEKDB_DATABASE=%s"):format(o.host, o.port, o.user, o.password, db))
      helper.drop(admin)
      assert(ok, out)
      -- three notes (which three is the vector index's approximate answer:
      -- note-10 first most of the time, note-20 first once in CI)
      assert.matches("^nearest: note%-%d+ note%-%d+ note%-%d+\n", out)
      assert.matches("\n2000 notes", out)
      say("%s: %s", path, (out:gsub("\n", " | ")))
    end)
  end
end)
