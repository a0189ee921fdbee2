-- The request phase: never talks to the database itself (that would block
-- the whole nginx worker); it hands the work to the "seekdb" thread pool
-- and answers with what comes back.
local cjson = require "cjson"

local handler = {}

local function answer(status, body)
  ngx.status = status
  ngx.say(body)
end

-- Runs seekdb_worker[fn](...) in a pool thread: (json) or (nil, err).
local function run(fn, ...)
  local ok, json, err = ngx.run_worker_thread("seekdb", "seekdb_worker", fn, ...)
  if not ok then return answer(500, cjson.encode { error = tostring(json) }) end
  if not json then return answer(400, cjson.encode { error = err }) end
  answer(200, json)
end

function handler.upsert()
  if ngx.req.get_method() ~= "POST" then return ngx.exit(ngx.HTTP_NOT_ALLOWED) end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then return answer(400, cjson.encode { error = "a JSON body is needed" }) end
  run("upsert", body)
end

function handler.query()
  local args = ngx.req.get_uri_args()
  run("query", args.v, tonumber(args.n) or 10)
end

function handler.count()
  run("count")
end

return handler
