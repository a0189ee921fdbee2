-- lua-seekdb inside a real nginx (Debian's nginx + ngx_lua, OpenResty's
-- LuaJIT): requests upsert and query through ngx.run_worker_thread, answers
-- and the table are checked, then 200 concurrent requests (loopback only).
-- `make test` runs this after the Lua 5.4 and LuaJIT suites.
local helper = require "helper"
local cjson = require "cjson"

local PORT = os.getenv("SEEKDB_NGINX_PORT") or "33880"
local BASE = "http://127.0.0.1:" .. PORT

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- curl: the body and the status code
local function http(method, path, body)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(body or "")
  f:close()
  local out = sh(("curl -s -X %s --data-binary @%s -w '\\n%%{http_code}' '%s%s'"):format(method, file, BASE, path))
  os.remove(file)
  local text, code = out:match("^(.*)\n(%d+)$")
  return text, tonumber(code)
end

describe("lua-seekdb inside nginx", function()
  local client, db
  local have = os.execute("command -v nginx >/dev/null && test -f /usr/lib/nginx/modules/ngx_http_lua_module.so")
  if not have then
    it("needs nginx and libnginx-mod-http-lua (make deps)", function() pending("nginx is not installed") end)
    return
  end

  setup(function()
    client, db = helper.fresh()
    assert(os.execute(("SEEKDB_TEST_DATABASE=%s SEEKDB_COLLECTION=web scripts/nginx-demo start >/dev/null"):format(db)),
      "nginx did not start: see .scratch/nginx/logs/error.log")
  end)
  teardown(function()
    os.execute("scripts/nginx-demo stop >/dev/null")
    helper.drop(client)
  end)

  it("upserts a JSON body and queries by vector", function()
    local body, code = http("POST", "/upsert", cjson.encode {
      ids = { "a", "b", "c" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } },
      documents = { "doc a", "doc b", "doc c" }, metadatas = { { k = 1 }, { k = 2 }, { k = 3 } } })
    assert.are.equal(200, code, body)
    assert.are.same({ ok = true }, cjson.decode(body))
    local q, qcode = http("GET", "/query?v=0,0.9,0.1&n=2")
    assert.are.equal(200, qcode, q)
    local r = cjson.decode(q)
    assert.are.same({ "b", "c" }, r.ids)
    assert.are.same({ "doc b", "doc c" }, r.documents)
    assert.are.same({ k = 2 }, r.metadatas[1])
    assert.is_true(r.distances[1] < r.distances[2])
    -- the table holds what the requests wrote
    local col = assert(client:get_collection("web"))
    local g = assert(col:get { ids = { "a", "c" }, include = { "documents", "embeddings" } })
    assert.are.same({ "doc a", "doc c" }, g.documents)
    helper.assert_vector({ 0, 0, 1 }, g.embeddings[2])
  end)

  it("writes a pipelined upsert of 3,000 rows (its sender thread inside nginx's thread pool)", function()
    local ids, vecs = {}, {}
    for i = 1, 3000 do ids[i], vecs[i] = "p" .. i, { i, 1, 0 } end
    local body, code = http("POST", "/upsert", cjson.encode { ids = ids, embeddings = vecs })
    assert.are.equal(200, code, body)
    local col = assert(client:get_collection("web"))
    local g = assert(col:get { ids = { "p1", "p3000" }, include = { "embeddings" } })
    assert.are.same({ "p1", "p3000" }, g.ids)
    helper.assert_vector({ 3000, 1, 0 }, g.embeddings[2])
    assert(col:delete { ids = ids })
  end)

  it("answers bad requests with the error", function()
    local body, code = http("POST", "/upsert", "{not json")
    assert.are.equal(400, code)
    assert.matches("not a JSON object", body)
    body, code = http("POST", "/upsert", cjson.encode { ids = { "x" }, embeddings = { { 1, 2 } } })
    assert.are.equal(400, code)
    assert.matches("embeddings%[1%] has 2 numbers; the collection's dimension is 3", cjson.decode(body).error)
    body, code = http("GET", "/query?v=1,2")
    assert.are.equal(400, code)
  end)

  it("serves 200 concurrent upserts, every one of them", function()
    local before = cjson.decode((http("GET", "/count"))).count
    -- 200 requests, 25 at a time, each its own id and vector
    local codes = sh(("seq 1 200 | xargs -P 25 -I{} curl -s -o /dev/null -w '%%{http_code}\\n' -X POST "
      .. "--data-binary '{\"ids\":\"n{}\",\"embeddings\":[{},1,0],\"metadatas\":{\"n\":{}}}' '%s/upsert'"):format(BASE))
    local ok, other = 0, {}
    for c in codes:gmatch("%d+") do
      if c == "200" then ok = ok + 1 else other[#other + 1] = c end
    end
    assert.are.equal(200, ok, "non-200 answers: " .. table.concat(other, " "))
    assert.are.equal(before + 200, cjson.decode((http("GET", "/count"))).count)
    local col = assert(client:get_collection("web"))
    assert.are.equal(before + 200, col:count())
    local r = assert(col:get { ids = "n57", include = { "metadatas", "embeddings" } })
    assert.are.same({ n = 57 }, r.metadatas[1])
    helper.assert_vector({ 57, 1, 0 }, r.embeddings[1])
  end)
end)
