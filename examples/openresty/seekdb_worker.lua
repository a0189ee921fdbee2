-- The other way: calls run in nginx's thread pool (ngx.run_worker_thread),
-- in the blocking form, with one client per pool thread. The request phase
-- (seekdb_handler.lua) is the better place for database calls; this is for
-- work that would stall the event loop around them: here the embedding is
-- computed in place (a local model would be CPU-bound; a blocking library,
-- LuaSocket for one, cannot run on the event loop either).
--
-- Runs in the thread pool's own LuaJIT states: each thread loads this module
-- once and keeps its own client; a client is never shared between threads.
local seekdb = require "seekdb"
local cjson = require "cjson"
local toy = require "toy_embedding"

local worker = {}

-- The collection's embedding function, as this state computes it: the
-- same vectors as the handler's HTTP service, without a cosocket (there is
-- none in a pool thread).
seekdb.register_embedding_function("toy3", function() return toy.embed end)

local function env(name)
  local v = os.getenv(name)
  if v ~= "" then return v end
end

local collection -- this thread's

local function get_collection()
  if collection then return collection end
  local client, err, errno = seekdb.Client {
    host = env("SEEKDB_HOST"), port = tonumber(env("SEEKDB_PORT") or ""), user = env("SEEKDB_USER"),
    password = env("SEEKDB_PASSWORD"), database = env("SEEKDB_DATABASE"), socket = env("SEEKDB_SOCKET"),
    timeout = tonumber(env("SEEKDB_TIMEOUT") or "") or 10,
  }
  if not client then return nil, err, errno end
  local col
  col, err, errno = client:get_or_create_collection {
    name = env("SEEKDB_COLLECTION") or "nginx_demo", dimension = toy.DIMENSION, embedding_function = "toy3" }
  if not col then return nil, err, errno end
  collection = col
  return col
end

-- A lost connection is not reconnected inside a call (that could replay half
-- a transaction): forget the client, so the next call connects afresh.
-- Returns (json) or (nil, err, errno); raises on a wrong argument.
local function call(method, args)
  local col, err, errno = get_collection()
  if not col then return nil, err, errno end
  local res, errmsg
  res, errmsg, errno = col[method](col, args)
  if col.client:is_closed() or errno == 2006 or errno == 2013 then
    col.client:close()
    collection = nil
  end
  return res, errmsg, errno
end

-- POSTed JSON {ids, embeddings, documents, metadatas}
function worker.upsert(body)
  local ok, req = pcall(cjson.decode, body)
  if not ok or type(req) ~= "table" or req[1] ~= nil then
    return nil, "the body is not a JSON object {ids, embeddings, documents, metadatas}"
  end
  local done, err, errno = call("upsert", req)
  if not done then return nil, err, errno end
  return '{"ok":true}'
end

function worker.count()
  local n, err, errno = call("count")
  if not n then return nil, err, errno end
  return cjson.encode { count = n }
end

return worker
