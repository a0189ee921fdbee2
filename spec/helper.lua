-- Shared by the specs: a client on a fresh database of the real test server
-- (the scratch MariaDB that `make test` starts, or SEEKDB_TEST_HOST).
local seekdb = require "seekdb"
local assert = require "luassert"

local helper = {}

function helper.options(extra)
  local socket = os.getenv("SEEKDB_TEST_SOCKET")
  local o = {
    host = os.getenv("SEEKDB_TEST_HOST") or "127.0.0.1",
    port = tonumber(os.getenv("SEEKDB_TEST_PORT") or "2881"),
    user = os.getenv("SEEKDB_TEST_USER") or "root",
    password = os.getenv("SEEKDB_TEST_PASSWORD") or "",
    database = os.getenv("SEEKDB_TEST_DATABASE") or "test",
    socket = socket ~= "" and socket or nil,
    -- SEEKDB_TEST_LOOP=yield (make test's resumable pass): every call of the
    -- suite runs through conn:start/call:resume, a slice at a time, its
    -- embedding functions called from Lua; outside a coroutine each wait
    -- happens in place, so the specs read as they do in the blocking form
    loop = os.getenv("SEEKDB_TEST_LOOP") ~= "" and os.getenv("SEEKDB_TEST_LOOP") or nil,
  }
  -- SEEKDB_TEST_PATH (make test's local-mode pass): the same specs on local
  -- mode's server of that folder, unless a spec names a server of its own
  local path = os.getenv("SEEKDB_TEST_PATH")
  if path and path ~= "" and not (extra and (extra.host or extra.port or extra.socket)) then
    o.host, o.port, o.socket, o.path = nil, nil, nil, path
  end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- The suite's pass: "blocking", or the loop every client of it uses.
helper.loop = os.getenv("SEEKDB_TEST_LOOP") ~= "" and os.getenv("SEEKDB_TEST_LOOP") or nil

local counter = 0

-- A client on a database of its own; helper.drop(client) removes it.
-- `server` (optional) names another server than the test server: options
-- such as host, port and socket, used for the database and the client.
function helper.fresh(extra, server)
  local admin = assert(seekdb.Client(helper.options(server)))
  local db, ok, err, errno
  repeat -- busted loads this file afresh for every spec file: names may meet
    counter = counter + 1
    db = ("lseekdb_%d_%d_%d"):format(os.time(), math.floor(os.clock() * 1e6), counter)
    ok, err, errno = admin:query("CREATE DATABASE " .. db .. " DEFAULT CHARACTER SET utf8mb4")
  until ok or errno ~= 1007
  assert(ok, err)
  admin:close()
  local o = { database = db }
  for k, v in pairs(server or {}) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  local client = assert(seekdb.Client(helper.options(o)))
  helper.databases = helper.databases or {}
  helper.databases[client] = db
  helper.servers = helper.servers or {}
  helper.servers[client] = server
  return client, db
end

function helper.drop(client)
  local db = helper.databases and helper.databases[client]
  if not db then return end
  client:close()
  local admin = assert(seekdb.Client(helper.options(helper.servers[client])))
  assert(admin:query("DROP DATABASE " .. db))
  admin:close()
end

function helper.dialect(client)
  return client:info().dialect
end

-- The specs run under Lua 5.4 and LuaJIT: the few differences, in one place.
helper.luajit = rawget(_G, "jit") ~= nil
helper.unpack = table.unpack or unpack

-- float32 rounding, to compare what comes back with what went in
if string.pack then
  function helper.f32(x)
    return (string.unpack("<f", string.pack("<f", x)))
  end
  function helper.f32bytes(...)
    return string.pack(("<" .. ("f"):rep(select("#", ...))), ...)
  end
else
  local ffi = require "ffi"
  local box = ffi.new("float[1]")
  function helper.f32(x)
    box[0] = x
    return tonumber(box[0])
  end
  function helper.f32bytes(...)
    local n = select("#", ...)
    local a = ffi.new("float[?]", n, ...)
    return ffi.string(a, 4 * n)
  end
end

-- "integer" or "float" on Lua 5.4; on LuaJIT every number is a double
function helper.number_kind(x)
  if math.type then return math.type(x) end
  return x == math.floor(x) and "integer" or "float"
end

function helper.assert_vector(expected, actual)
  assert.are.equal(#expected, #actual)
  for i = 1, #expected do
    assert.are.equal(helper.f32(expected[i]), actual[i])
  end
end

-- deterministic pseudo-random vectors
function helper.vectors(n, dim, seed)
  local x = seed or 12345
  local out = {}
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

-- Per statement counts of the session, from the server (MariaDB).
function helper.com_insert(client)
  local rows = assert(client:query("SHOW SESSION STATUS LIKE 'Com_insert'"))
  return tonumber(rows[1].Value)
end

return helper
