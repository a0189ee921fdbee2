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

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = helper.unpack

-- Under valgrind or a sanitizer the module runs many times slower: the
-- programs run smaller and their timing bounds are not asserted.
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
  -- step must stop after about a slice (0.5 ms) of work. Before the pieces
  -- were cut in slices, one step of these calls took 17 to 36 ms of CPU.
  -- The GC is stopped during each call: a collection cycle over the test's
  -- own 50,000-item tables is not the call's work. The bound (10 ms) is 20
  -- slices: a step's own work is under 5 ms here, the rest is margin for a
  -- loaded machine (the result set that Connector/C reads in one go when
  -- the server has sent it is the largest part; see README, Hosts).
  local N = instrumented and 2000 or 50000
  local BOUND = 0.010
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
    if not instrumented then
      assert.is_true(r[1] < BOUND, ("%s: a step took %.1f ms of CPU"):format(label, r[1] * 1000))
    end
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
