-- lua-seekdb inside a real nginx (Debian's nginx + ngx_lua, OpenResty's
-- LuaJIT), one worker process: examples/openresty calls the module in the
-- request phase with loop = "ngx" clients from a per-worker pool. Answers and
-- table contents are checked; /ping must stay fast while other requests wait
-- on a slow statement and on a row lock; bad input, empty results, timeouts,
-- killed connections; 200 concurrent upserts (loopback only). The timing
-- checks run twice: with threads that wait on the sockets, and with timer
-- polls only. `make test` runs this after the Lua 5.4 and LuaJIT suites.
local helper = require "helper"
local seekdb = require "seekdb"
local cjson = require "cjson"
local socket = require "socket"

package.path = "examples/openresty/?.lua;" .. package.path
local toy = require "toy_embedding"

local PORT = tonumber(os.getenv("SEEKDB_NGINX_PORT") or "33880")
local ERROR_LOG = (os.getenv("SEEKDB_NGINX_DIR") or ".scratch/nginx") .. "/logs/error.log"

-- HTTP/1.0 over LuaSocket: send now, read the answer later.
local function send(method, path, body)
  local s = assert(socket.tcp())
  s:settimeout(60)
  body = body or ""
  local t0 = socket.gettime()
  assert(s:connect("127.0.0.1", PORT))
  assert(s:send(("%s %s HTTP/1.0\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s"):format(method, path, #body, body)))
  return { sock = s, t0 = t0 }
end

-- status, body, seconds taken, headers
local function finish(req)
  local data, _, partial = req.sock:receive("*a")
  local t = socket.gettime() - req.t0
  req.sock:close()
  data = data or partial
  local headers, body = data:match("^(.-)\r\n\r\n(.*)$")
  return tonumber(data:match("^HTTP/1%.%d (%d+)")), body, t, headers
end

local function http(method, path, body)
  return finish(send(method, path, body))
end

-- status, decoded JSON, raw text
local function json(method, path, body)
  if type(body) == "table" then body = cjson.encode(body) end
  local status, text, _, headers = http(method, path, body)
  assert.matches("Content%-Type: application/json", headers)
  return status, cjson.decode(text), text
end

local function urlencode(s)
  return (s:gsub("[^%w%-_.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Polls until check() says yes (observable state: a query on the server).
local function wait_for(what, check, seconds)
  local deadline = socket.gettime() + (seconds or 20)
  repeat
    local v = check()
    if v then return v end
    socket.sleep(0.01)
  until socket.gettime() > deadline
  error("gave up waiting for " .. what, 2)
end

local function rows(client, sql)
  return assert(client:query(sql))
end

local function ms_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = ("%.1f"):format(v) end
  return table.concat(out, " ")
end

describe("lua-seekdb inside nginx", function()
  local have = os.execute("command -v nginx >/dev/null && test -f /usr/lib/nginx/modules/ngx_http_lua_module.so")
  if not have then
    it("needs nginx and libnginx-mod-http-lua (make deps)", function() pending("nginx is not installed") end)
    return
  end

  local client, db, own_id

  local function start_nginx(wait_pool)
    assert(os.execute(("SEEKDB_NGINX_WORKERS=1 SEEKDB_TEST_DATABASE=%s SEEKDB_COLLECTION=web SEEKDB_WAIT_POOL=%s "
      .. "scripts/nginx-demo start >/dev/null"):format(db, wait_pool)), "nginx did not start: see " .. ERROR_LOG)
  end

  local function table_name()
    return assert(client:get_collection("web"))._table
  end

  -- A /query answer checked against the rows themselves: each distance is
  -- the cosine distance between the toy embedding of `text` (so the text
  -- went through the embedding function) and the row's stored vector, and
  -- each document is the row's. Which rows come is the vector index's
  -- approximate answer (seen: the stored text's own row second, once).
  local function check_query(r, text, n)
    assert.are.equal(n, #r.ids)
    local q = toy.embed({ text })[1]
    local g = assert(assert(client:get_collection("web")):get { ids = r.ids, include = { "documents", "embeddings" } })
    local at = {}
    for k, id in ipairs(g.ids) do at[id] = k end
    for i, id in ipairs(r.ids) do
      local k = assert(at[id], id)
      local v, dot, nq, nv = g.embeddings[k], 0, 0, 0
      for j = 1, #q do dot, nq, nv = dot + q[j] * v[j], nq + q[j] ^ 2, nv + v[j] ^ 2 end
      assert.is_true(math.abs(r.distances[i] - (1 - dot / math.sqrt(nq * nv))) < 1e-4, id)
      assert.are.equal(g.documents[k], r.documents[i])
    end
  end

  -- Connections of the nginx worker on the server (not this spec's own).
  local function nginx_sessions(where)
    return rows(client, ("SELECT ID, STATE FROM information_schema.PROCESSLIST WHERE DB = '%s' AND ID <> %d%s")
      :format(db, own_id, where and (" AND " .. where) or ""))
  end

  -- /ping answers (11 times, one worker) while one upsert waits in a
  -- trigger's SLEEP and another for a row that a second client holds FOR
  -- UPDATE, both seen still held on the server afterwards: the worker is
  -- blocked by neither. The times are printed (issue 11's target: 20 ms),
  -- not judged: a loaded machine is no defect of the module.
  local function ping_while_slow(mode)
    assert.are.equal(200, (json("GET", "/count"))) -- the collection exists, the worker has clients
    local t = table_name()
    assert(client:query("DROP TRIGGER IF EXISTS web_slow"))
    assert(client:query(("CREATE TRIGGER web_slow BEFORE INSERT ON `%s` FOR EACH ROW BEGIN "
      .. "IF NEW._id LIKE 'slow%%' THEN DO SLEEP(3); END IF; END"):format(t)))
    local col = assert(client:get_collection("web"))
    assert(col:upsert { ids = "held", embeddings = { 1, 1, 1 } })
    local holder = assert(seekdb.Client(helper.options { database = db }))
    local slow, locked
    local ok, err = pcall(function()
      assert(holder:query("BEGIN"))
      assert(holder:query(("SELECT _id FROM `%s` WHERE _id = 'held' FOR UPDATE"):format(t)))
      slow = send("POST", "/upsert", cjson.encode { ids = "slow-" .. mode, embeddings = { 1, 2, 3 } })
      locked = send("POST", "/upsert", cjson.encode { ids = "held", embeddings = { 3, 2, 1 } })
      local sleeping = "STATE = 'User sleep'"
      wait_for("the trigger's SLEEP on the server", function() return #nginx_sessions(sleeping) == 1 end)
      -- the upsert of the held row: its INSERT stays on the server until the
      -- holder lets go
      local waiting = "COMMAND <> 'Sleep' AND STATE <> 'User sleep' AND INFO LIKE '%INSERT INTO%'"
      wait_for("the upsert of the held row on the server", function() return #nginx_sessions(waiting) == 1 end)

      local times = {}
      for i = 1, 11 do
        local status, body, seconds = http("GET", "/ping")
        assert.are.equal(200, status, body)
        times[i] = seconds * 1000
      end
      -- both were still held while /ping answered
      assert.are.equal(1, #nginx_sessions(sleeping), "the SLEEP ended during the pings")
      assert.are.equal(1, #nginx_sessions(waiting), "the lock wait ended during the pings")
      print(("\n  /ping with a SLEEP and a lock wait in flight (%s): %s ms"):format(mode, ms_list(times)))
    end)
    holder:close() -- its transaction ends: the held row is free
    local status, body
    if locked then
      status, body = finish(locked)
      if ok then assert.are.equal(200, status, body) end
    end
    if slow then
      status, body = finish(slow)
      if ok then assert.are.equal(200, status, body) end
    end
    assert(client:query("DROP TRIGGER web_slow"))
    if not ok then error(err, 0) end
    local g = assert(col:get { ids = { "held", "slow-" .. mode }, include = { "embeddings" } })
    assert.are.same({ "held", "slow-" .. mode }, g.ids)
    helper.assert_vector({ 3, 2, 1 }, g.embeddings[1])
    assert(col:delete { ids = { "held", "slow-" .. mode } })
  end

  -- What nginx wrote to its error log: nothing at warn or above.
  local function assert_quiet_log()
    local f = assert(io.open(ERROR_LOG))
    local text = f:read("*a")
    f:close()
    local bad = {}
    for line in text:gmatch("[^\n]+") do
      if line:find("%[warn%]") or line:find("%[error%]") or line:find("%[crit%]") or line:find("%[alert%]")
        or line:find("%[emerg%]") then
        bad[#bad + 1] = line
      end
    end
    assert.are.same({}, bad)
  end

  setup(function()
    client, db = helper.fresh()
    own_id = tonumber(rows(client, "SELECT CONNECTION_ID() AS id")[1].id)
    start_nginx("seekdb_wait")
  end)
  teardown(function()
    os.execute("scripts/nginx-demo stop >/dev/null")
    helper.drop(client)
  end)

  it("upserts a JSON body and queries by vector", function()
    local status, r = json("POST", "/upsert", {
      ids = { "a", "b", "c" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } },
      documents = { "doc a", "doc b", "doc c" }, metadatas = { { k = 1 }, { k = 2 }, { k = 3 } } })
    assert.are.equal(200, status)
    assert.are.same({ ok = true }, r)
    status, r = json("GET", "/query?v=0,0.9,0.1&n=2")
    assert.are.equal(200, status)
    assert.are.same({ "b", "c" }, r.ids)
    assert.are.same({ "doc b", "doc c" }, r.documents)
    assert.are.same({ k = 2 }, r.metadatas[1])
    assert.is_true(r.distances[1] < r.distances[2])
    status, r = json("GET", "/count")
    assert.are.equal(200, status)
    assert.are.same({ count = 3 }, r)
    -- the table holds what the requests wrote
    local col = assert(client:get_collection("web"))
    local g = assert(col:get { ids = { "a", "c" }, include = { "documents", "embeddings" } })
    assert.are.same({ "doc a", "doc c" }, g.documents)
    helper.assert_vector({ 0, 0, 1 }, g.embeddings[2])
    -- how the worker waits
    status, r = json("GET", "/ping")
    assert.are.equal(200, status)
    assert.are.same({ ok = true, waits = "thread_pool seekdb_wait" }, r)
  end)

  it("embeds documents and query texts with an embedding function that uses a cosocket", function()
    local docs = { "red apple", "green pear", "blue sky over the sea" }
    local status, r = json("POST", "/upsert", { ids = { "e1", "e2", "e3" }, documents = docs })
    assert.are.equal(200, status, cjson.encode(r))
    -- the vectors are the embedding service's (the handler has no other way to make them)
    local col = assert(client:get_collection("web"))
    local g = assert(col:get { ids = { "e1", "e2", "e3" }, include = { "embeddings" } })
    local want = toy.embed(docs)
    for i = 1, 3 do helper.assert_vector(want[i], g.embeddings[i]) end
    -- query_texts go through it too
    status, r = json("GET", "/query?n=2&text=" .. urlencode("green pear"))
    assert.are.equal(200, status, cjson.encode(r))
    check_query(r, "green pear", 2)
    -- an embedding service that fails: 502 and what it said
    status, r = json("POST", "/upsert", { ids = "too-long", documents = ("x"):rep(9000) })
    assert.are.equal(502, status)
    assert.matches("^embedding function failed on documents%[1..1%]: embedding service answered 413", r.error)
    assert.is_nil(assert(col:get { ids = "too-long" }).ids[1])
  end)

  it("answers bad input with 400 and a JSON error", function()
    local cases = {
      { "POST", "/upsert", "{not json", "the body is not a JSON object" },
      { "POST", "/upsert", "[1, 2]", "the body is not a JSON object" },
      { "POST", "/upsert", '{"ids": "x", "embeddings": [1, 2]}', "embeddings has 2 numbers; the collection's dimension is 3" },
      { "POST", "/upsert", '{"ids": 5, "embeddings": [1, 2, 3]}', "ids must be a string or a list of strings, got number" },
      { "POST", "/upsert", '{"ids": "x", "embeddings": [1, 2, 3], "colour": 1}', "unknown field 'colour'" },
      { "POST", "/upsert", '{"embeddings": [1, 2, 3]}', "ids is required" },
      { "POST", "/upsert", '{"ids": [], "embeddings": []}', "ids is empty" },
      { "POST", "/upsert", '{"ids": "x", "embeddings": [1, "a", 3]}', "embeddings%[2%] must be a number" },
      { "POST", "/upsert?timeout=soon", "{}", "timeout must be a positive number" },
      { "GET", "/query", nil, "give a vector" },
      { "GET", "/query?v=1,2", nil, "query_embeddings%[1%] has 2 numbers" },
      { "GET", "/query?v=1,x,3", nil, "must be a number" },
      { "GET", "/query?v=1,0,0&n=many", nil, "n must be a number" },
      { "GET", "/query?v=1,0,0&n=-1", nil, "n_results must be a non%-negative integer" },
      { "GET", "/query?v=1,0,0&where=" .. urlencode("{nope"), nil, "where must be a JSON object" },
      { "GET", "/query?v=1,0,0&where=" .. urlencode('{"k": {"$near": 1}}'), nil, "unknown operator" },
    }
    for _, c in ipairs(cases) do
      local status, r = json(c[1], c[2], c[3])
      assert.are.equal(400, status, c[2] .. " " .. tostring(c[3]))
      assert.are.equal("string", type(r.error))
      assert.matches(c[4], r.error, 1, false)
    end
    local status, r = json("GET", "/upsert")
    assert.are.equal(405, status)
    assert.matches("POST", r.error)
    assert.are.equal(0, assert(assert(client:get_collection("web")):get { ids = "x" }).ids[1] and 1 or 0)
  end)

  it("writes empty result lists as []", function()
    local status, r, text = json("GET", "/query?v=1,0,0&where=" .. urlencode('{"k": 12345}'))
    assert.are.equal(200, status, text)
    assert.matches('"ids":%[%]', text)
    assert.matches('"documents":%[%]', text)
    assert.matches('"metadatas":%[%]', text)
    assert.matches('"distances":%[%]', text)
    assert.are.same({}, r.ids)
  end)

  it("answers /ping in under 20 ms while upserts wait on a slow statement and a row lock (thread waits)", function()
    ping_while_slow("thread waits")
  end)

  it("ends a call that runs out of time with 504 and a clear error; the worker's next request works", function()
    local t = table_name()
    local col = assert(client:get_collection("web"))
    assert(col:upsert { ids = "held2", embeddings = { 1, 1, 1 } })
    local holder = assert(seekdb.Client(helper.options { database = db }))
    assert(holder:query("BEGIN"))
    assert(holder:query(("SELECT _id FROM `%s` WHERE _id = 'held2' FOR UPDATE"):format(t)))
    local status, r = json("POST", "/upsert?timeout=0.5", { ids = "held2", embeddings = { 2, 2, 2 } })
    assert.are.equal(504, status)
    -- the module's own message (the handler adds its own only to an errno
    -- without one): what ran out, the limit, that nothing was changed
    assert.matches("^timeout: upsert did not finish within 0%.5 s .*nothing was changed", r.error)
    assert(holder:query("ROLLBACK"))
    holder:close()
    -- the next requests of the (only) worker work, the same row included
    status, r = json("GET", "/count")
    assert.are.equal(200, status)
    status, r = json("POST", "/upsert", { ids = "held2", embeddings = { 2, 2, 2 } })
    assert.are.equal(200, status, cjson.encode(r))
    helper.assert_vector({ 2, 2, 2 }, assert(col:get { ids = "held2", include = { "embeddings" } }).embeddings[1])
    assert(col:delete { ids = "held2" })
  end)

  it("loses no request when the server kills the pool's connections", function()
    -- a few requests at once: the pool holds several idle clients after them
    local reqs = {}
    for i = 1, 4 do reqs[i] = send("GET", "/query?v=1,0,0&n=1") end
    for i = 1, 4 do assert.are.equal(200, (finish(reqs[i]))) end
    local victims = nginx_sessions()
    assert.is_true(#victims >= 1)
    for _, s in ipairs(victims) do client:query("KILL CONNECTION " .. s.ID) end
    wait_for("the killed sessions to go", function() return #nginx_sessions() == 0 end)
    for _ = 1, 6 do
      local status, body = http("GET", "/count")
      assert.are.equal(200, status, body)
    end
  end)

  it("serves 200 concurrent upserts, every one of them", function()
    local before = select(2, json("GET", "/count")).count
    -- 200 requests, 25 at a time, each its own id and vector
    local t0, next_i, active, codes = socket.gettime(), 1, {}, {}
    local function start()
      if next_i > 200 then return end
      local i = next_i
      next_i = i + 1
      local req = send("POST", "/upsert", ('{"ids":"n%d","embeddings":[%d,1,0],"metadatas":{"n":%d}}'):format(i, i, i))
      req.sock:settimeout(0)
      req.chunks = {}
      active[req.sock] = req
    end
    for _ = 1, 25 do start() end
    local deadline = t0 + 120
    while next(active) and socket.gettime() < deadline do
      local list = {}
      for sock in pairs(active) do list[#list + 1] = sock end
      for _, sock in ipairs((socket.select(list, nil, 1))) do
        local req = active[sock]
        local data, err, partial = sock:receive(65536)
        req.chunks[#req.chunks + 1] = data or partial
        if err == "closed" then
          sock:close()
          active[sock] = nil
          codes[#codes + 1] = table.concat(req.chunks):match("^HTTP/1%.%d (%d+)") or "none"
          start()
        end
      end
    end
    local ok, other = 0, {}
    for _, c in ipairs(codes) do
      if c == "200" then ok = ok + 1 else other[#other + 1] = c end
    end
    assert.are.equal(200, ok, "non-200 answers: " .. table.concat(other, " "))
    print(("\n  200 upserts, 25 at a time, one worker: %.2f s"):format(socket.gettime() - t0))
    assert.are.equal(before + 200, select(2, json("GET", "/count")).count)
    local col = assert(client:get_collection("web"))
    assert.are.equal(before + 200, col:count())
    local r = assert(col:get { ids = "n57", include = { "metadatas", "embeddings" } })
    assert.are.same({ n = 57 }, r.metadatas[1])
    helper.assert_vector({ 57, 1, 0 }, r.embeddings[1])
  end)

  it("writes 3,000 rows in one request, in the request phase and in nginx's thread pool", function()
    local col = assert(client:get_collection("web"))
    for _, way in ipairs { "/upsert", "/thread/upsert" } do
      local ids, vecs = {}, {}
      for i = 1, 3000 do ids[i], vecs[i] = "p" .. i, { i, 1, 0 } end
      local status, body = http("POST", way, cjson.encode { ids = ids, embeddings = vecs })
      assert.are.equal(200, status, body)
      local g = assert(col:get { ids = { "p1", "p3000" }, include = { "embeddings" } })
      assert.are.same({ "p1", "p3000" }, g.ids)
      helper.assert_vector({ 3000, 1, 0 }, g.embeddings[2])
      assert.are.equal(3000, assert(col:delete { ids = ids }))
    end
    -- documents embedded in the pool thread: the same vectors as the service's
    local status, body = http("POST", "/thread/upsert", cjson.encode { ids = "t1", documents = "in a thread" })
    assert.are.equal(200, status, body)
    helper.assert_vector(toy.embed({ "in a thread" })[1],
      assert(col:get { ids = "t1", include = { "embeddings" } }).embeddings[1])
    status, body = http("GET", "/thread/count")
    assert.are.equal(200, status, body)
    assert.are.equal(col:count(), cjson.decode(body).count)
  end)

  it("writes nothing to the error log", function()
    assert_quiet_log()
  end)

  describe("with timer polls only (no thread pool waits on sockets)", function()
    setup(function() start_nginx("") end)

    it("says so on /ping, and answers queries", function()
      local status, r = json("GET", "/ping")
      assert.are.equal(200, status)
      assert.are.same({ ok = true, waits = "timers" }, r)
      status, r = json("GET", "/query?n=1&text=" .. urlencode("red apple"))
      assert.are.equal(200, status)
      check_query(r, "red apple", 1)
    end)

    it("answers /ping in under 20 ms while upserts wait on a slow statement and a row lock (timers)", function()
      ping_while_slow("timers")
    end)

    it("writes nothing to the error log", function()
      assert_quiet_log()
    end)
  end)
end)
