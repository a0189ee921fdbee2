-- Runs in the thread pool's own LuaJIT states (ngx.run_worker_thread): the
-- blocking calls happen here. Each thread loads this module once and keeps
-- its own client: a client is never shared between threads.
local seekdb = require "seekdb"
local cjson = require "cjson"

local worker = {}

local DIMENSION = 3
local collection -- this thread's

local function get_collection()
  if collection then return collection end
  local client, err = seekdb.Client {
    host = os.getenv("SEEKDB_HOST"), port = tonumber(os.getenv("SEEKDB_PORT") or ""),
    user = os.getenv("SEEKDB_USER"), password = os.getenv("SEEKDB_PASSWORD"),
    database = os.getenv("SEEKDB_DATABASE"), socket = os.getenv("SEEKDB_SOCKET"),
  }
  if not client then return nil, err end
  local col
  col, err = client:get_or_create_collection {
    name = os.getenv("SEEKDB_COLLECTION") or "nginx_demo", dimension = DIMENSION }
  if not col then return nil, err end
  collection = col
  return col
end

-- A lost connection is not reconnected inside a call (that could replay half
-- a transaction): forget the client, so the next call connects afresh.
local function call(method, args)
  local col, err = get_collection()
  if not col then return nil, err end
  local res, errmsg, errno = col[method](col, args)
  if not res and (errno == 2006 or errno == 2013) then collection = nil end
  return res, errmsg
end

function worker.upsert(body)
  local ok, req = pcall(cjson.decode, body)
  if not ok or type(req) ~= "table" then return nil, "the body is not a JSON object" end
  local done, err = call("upsert", { ids = req.ids, embeddings = req.embeddings,
    documents = req.documents, metadatas = req.metadatas })
  if not done then return nil, err end
  return cjson.encode { ok = true }
end

function worker.query(v, n)
  local vector = {}
  for x in tostring(v or ""):gmatch("[^,]+") do vector[#vector + 1] = tonumber(x) end
  if #vector ~= DIMENSION then return nil, ("v must be %d comma-separated numbers"):format(DIMENSION) end
  local res, err = call("query", { query_embeddings = vector, n_results = n,
    include = { "documents", "metadatas", "distances" } })
  if not res then return nil, err end
  return cjson.encode { ids = res.ids[1], documents = res.documents[1], metadatas = res.metadatas[1],
    distances = res.distances[1] }
end

function worker.count()
  local col, err = get_collection()
  if not col then return nil, err end
  local n, errmsg = col:count()
  if not n then return nil, errmsg end
  return cjson.encode { count = n }
end

return worker
