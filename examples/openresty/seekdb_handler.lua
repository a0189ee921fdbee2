-- The request phase talks to the database itself: every client of the pool
-- is made with loop = "ngx", so while a call waits on the server the request
-- sleeps (ngx.sleep) and the worker serves other requests. The embedding
-- function fetches vectors over HTTP with a cosocket, from the request's
-- own coroutine.
--
-- Routes (see nginx.conf):
--   POST /upsert   {ids, embeddings, documents, metadatas} (documents without
--                  embeddings go through the embedding function)
--   GET  /query    ?v=0.1,0.2,0.3 or ?text=..., &n=5, &where=<JSON filter>
--   GET  /count    the number of rows
--   GET  /ping     a round trip to the database (and how calls wait)
--   POST /embed    {texts} -> {embeddings}: the toy embedding service
--   POST /thread/upsert, GET /thread/count: the same in nginx's thread pool
--                  (seekdb_worker.lua)
-- /upsert, /query and /count take &timeout=<seconds> to lower the call's
-- time limit. Answers are JSON; errors are {"error": "..."} with 400 (bad
-- input), 502 (the embedding service failed), 503 (no database connection),
-- 504 (a time limit) or 500.
local seekdb = require "seekdb"
local cjson = require "cjson"
local decode = require("cjson.safe").decode
local Pool = require "seekdb_pool"
local toy = require "toy_embedding"

local handler = {}

local config = {
  collection = os.getenv("SEEKDB_COLLECTION") or "nginx_demo",
  embed_url = nil, -- set by handler.configure (nginx.conf's init_by_lua)
  timeout = tonumber(os.getenv("SEEKDB_TIMEOUT") or "") or 10,
  pool_size = tonumber(os.getenv("SEEKDB_POOL_SIZE") or "") or 8,
}

-- Environment values nginx passes on (`env` in nginx.conf): "" is unset.
local function env(name)
  local v = os.getenv(name)
  if v ~= "" then return v end
end

local pool -- this worker's, made on first use

local function get_pool()
  if not pool then
    pool = Pool.new {
      size = config.pool_size,
      client = {
        host = env("SEEKDB_HOST"), port = tonumber(env("SEEKDB_PORT") or ""), user = env("SEEKDB_USER"),
        password = env("SEEKDB_PASSWORD"), database = env("SEEKDB_DATABASE"), socket = env("SEEKDB_SOCKET"),
        timeout = config.timeout,
      },
    }
  end
  return pool
end

--- Called from init_by_lua: `embed_url` is where the embedding service is
-- (http://host:port/path); `wait_pool` names the thread_pool whose threads
-- wait on database sockets (seekdb.loop.ngx_thread_pool; nil or "": the
-- driver polls with timers only).
function handler.configure(opts)
  for k, v in pairs(opts) do config[k] = v end
  require("seekdb.loop").ngx_thread_pool = config.wait_pool ~= "" and config.wait_pool or nil
end

---------------------------------------------------------------------------
-- JSON answers
---------------------------------------------------------------------------

local function answer(status, json)
  json = json .. "\n"
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #json
  ngx.print(json)
  return ngx.exit(ngx.HTTP_OK)
end

local function fail(status, msg)
  return answer(status, cjson.encode { error = msg })
end

-- A list as a JSON array, empty or not (Debian's lua-cjson 2.1.0 has no
-- empty_array_mt: it writes an empty table as {}).
local function array(list)
  local parts = {}
  for i = 1, #list do parts[i] = cjson.encode(list[i]) end
  return "[" .. table.concat(parts, ",") .. "]"
end

-- What went wrong, as an HTTP status: errors without an errno are about the
-- input (the module checked it), except the embedding function's.
local TIMEOUT = { [1969] = true, [1205] = true } -- the server gave up within the call's time limit
local UNAVAILABLE = { [1040] = true, [1213] = true, [2002] = true, [2003] = true, [2005] = true,
                      [2006] = true, [2013] = true, [2014] = true }

local function status_of(err, errno)
  err = tostring(err)
  if not errno then return err:find("^embedding function") and 502 or 400 end
  if TIMEOUT[errno] or err:find("^timeout:") then return 504 end
  if UNAVAILABLE[errno] then return 503 end
  return 500
end

-- A call's results, or the error answered (the request ends there).
-- `limit`: the call's time limit, for the message of a 504.
local function check(limit, ok, res, err, errno)
  if not ok then -- it raised: a wrong argument is the input's fault
    local msg = tostring(res)
    if msg:find("bad argument", 1, true) then return fail(400, (msg:gsub("^.-(bad argument)", "%1"))) end
    ngx.log(ngx.ERR, "seekdb: ", msg)
    return fail(500, msg)
  end
  if res == nil then
    local status = status_of(err, errno)
    if status == 504 and not tostring(err):find("^timeout") then
      err = ("timeout: the server gave up within the call's time limit (%s s): %s"):format(limit, tostring(err))
    end
    return fail(status, err)
  end
  return res
end

---------------------------------------------------------------------------
-- The embedding function: a cosocket to the embedding service
---------------------------------------------------------------------------

-- POSTs {texts} to config.embed_url (HTTP/1.1, keep-alive) and returns the
-- vectors. Raises on failure: the call then fails with
-- "embedding function failed on ...: <what this raised>".
local function http_embed(texts)
  local host, port, path = (config.embed_url or ""):match("^http://([^:/]+):?(%d*)(/.*)$")
  if not host then error("no embedding service configured (embed_url)", 0) end
  port = tonumber(port) or 80
  local sock = ngx.socket.tcp()
  sock:settimeouts(2000, 5000, 10000)
  local ok, err = sock:connect(host, port)
  if not ok then error("embedding service " .. config.embed_url .. ": " .. err, 0) end
  local body = cjson.encode { texts = texts }
  ok, err = sock:send { "POST ", path, " HTTP/1.1\r\nHost: ", host, "\r\nContent-Type: application/json\r\n",
                        "Content-Length: ", tostring(#body), "\r\n\r\n", body }
  local line, status, length, close
  if ok then line, err = sock:receive("*l") end
  status = tonumber(line and line:match("^HTTP/1%.%d (%d+)") or "")
  while status do
    line, err = sock:receive("*l")
    if not line then status = nil break end
    if line == "" then break end
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    k = k and k:lower()
    if k == "content-length" then length = tonumber(v) end
    if k == "connection" and v:lower() == "close" then close = true end
  end
  local data
  if status and length then data, err = sock:receive(length) end
  if not data then
    sock:close()
    error("embedding service " .. config.embed_url .. ": no answer (" .. tostring(err or "bad response") .. ")", 0)
  end
  if close then sock:close() else sock:setkeepalive(30000, 16) end
  local res = decode(data)
  if status ~= 200 or type(res) ~= "table" or type(res.embeddings) ~= "table" then
    error(("embedding service answered %d: %s"):format(status, (data:sub(1, 200):gsub("%s+$", ""))), 0)
  end
  return res.embeddings
end

seekdb.register_embedding_function("toy3", function() return http_embed end)

---------------------------------------------------------------------------
-- Collections: one object per client of the pool (kept in its data table)
---------------------------------------------------------------------------

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack

-- Runs fn(client, data) with a client of the pool. A connection found lost
-- (the server restarted, or killed an idle session) costs no request: the
-- call runs once more on a new connection, which is safe because every
-- route here is idempotent (an upsert writes the same rows twice).
local function with_client(fn)
  local p = get_pool()
  local r = pack(p:call(fn))
  if r[1] == nil and (r[3] == 2006 or r[3] == 2013) and not tostring(r[2]):find("^timeout:") then
    r = pack(p:call(fn))
  end
  return unpack(r, 1, r.n)
end

-- Runs col[method](col, args) with a client of the pool.
local function on_collection(method, args, timeout)
  return with_client(function(client, data)
    if timeout then client:set_timeout(timeout) end
    local col = data.collection
    if not col then
      local err, errno
      col, err, errno = client:get_or_create_collection {
        name = config.collection, dimension = toy.DIMENSION, embedding_function = "toy3" }
      if not col then return nil, err, errno end
      data.collection = col
    end
    return col[method](col, args)
  end)
end

-- The request's &timeout=: seconds, at most the configured limit.
local function timeout_arg(args)
  if args.timeout == nil then return nil end
  local t = tonumber(args.timeout)
  if not t or t <= 0 then return fail(400, "timeout must be a positive number of seconds") end
  return math.min(t, config.timeout)
end

---------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------

function handler.upsert()
  if ngx.req.get_method() ~= "POST" then return fail(405, "POST a JSON object") end
  local timeout = timeout_arg(ngx.req.get_uri_args())
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  local req = body and decode(body)
  if type(req) ~= "table" or req[1] ~= nil then
    return fail(400, "the body is not a JSON object {ids, embeddings, documents, metadatas}")
  end
  check(timeout or config.timeout, pcall(on_collection, "upsert", req, timeout))
  return answer(200, '{"ok":true}')
end

function handler.query()
  local args = ngx.req.get_uri_args()
  local timeout = timeout_arg(args)
  local q = { include = { "documents", "metadatas", "distances" } }
  if type(args.v) == "string" then
    local vector = {}
    for x in args.v:gmatch("[^,]+") do vector[#vector + 1] = tonumber(x) or x end
    q.query_embeddings = vector
  elseif type(args.text) == "string" then
    q.query_texts = { args.text }
  else
    return fail(400, "give a vector (v=0.1,0.2,0.3) or a text (text=...)")
  end
  if args.n ~= nil then
    q.n_results = tonumber(args.n)
    if not q.n_results then return fail(400, "n must be a number") end
  end
  if args.where ~= nil then
    q.where = type(args.where) == "string" and decode(args.where)
    if type(q.where) ~= "table" then return fail(400, "where must be a JSON object") end
  end
  local res = check(timeout or config.timeout, pcall(on_collection, "query", q, timeout))
  return answer(200, ('{"ids":%s,"documents":%s,"metadatas":%s,"distances":%s}'):format(
    array(res.ids[1]), array(res.documents[1]), array(res.metadatas[1]), array(res.distances[1])))
end

function handler.count()
  local timeout = timeout_arg(ngx.req.get_uri_args())
  local n = check(timeout or config.timeout, pcall(on_collection, "count", nil, timeout))
  return answer(200, cjson.encode { count = n })
end

function handler.ping()
  local rows = check(config.timeout, pcall(with_client, function(client) return client:query("SELECT 1 AS one") end))
  -- how this worker's calls wait: in threads of this pool, or with timers
  local waits = require("seekdb.loop").ngx_thread_pool
  return answer(200, ('{"ok":%s,"waits":%s}'):format(tostring(rows[1].one == "1"),
    cjson.encode(waits and "thread_pool " .. waits or "timers")))
end

-- The toy embedding service (what a model server would be).
function handler.embed()
  ngx.req.read_body()
  local req = decode(ngx.req.get_body_data() or "")
  if type(req) ~= "table" or type(req.texts) ~= "table" then return fail(400, "POST {\"texts\": [...]}") end
  for _, t in ipairs(req.texts) do
    if type(t) ~= "string" then return fail(400, "texts must be strings") end
    if #t > 8192 then return fail(413, "a text is longer than the model takes (8192 bytes)") end
  end
  return answer(200, cjson.encode { embeddings = toy.embed(req.texts) })
end

-- /thread/upsert and /thread/count: the same calls in the "seekdb" thread
-- pool (seekdb_worker.lua), in the blocking form, with the embedding
-- computed in the pool thread.
local function in_thread(fn, ...)
  local ok, json, err, errno = ngx.run_worker_thread("seekdb", "seekdb_worker", fn, ...)
  if not ok then return check(config.timeout, false, json) end
  if not json then return fail(status_of(err, errno), err) end
  return answer(200, json)
end

function handler.thread_upsert()
  if ngx.req.get_method() ~= "POST" then return fail(405, "POST a JSON object") end
  ngx.req.read_body()
  return in_thread("upsert", ngx.req.get_body_data() or "")
end

function handler.thread_count()
  return in_thread("count")
end

-- For log_by_lua: a request killed in the middle of a call closes its client.
handler.reclaim = Pool.reclaim

return handler
