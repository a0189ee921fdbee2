--- lua-seekdb: the seekdb collection API for Lua.
--
-- The C core (`seekdb.core`) does the work: connections, argument checks,
-- SQL, batching, transactions, decoding rows, calling embedding functions.
-- This module is the readable face over it: `Client`, `Collection`, their
-- defaults, and the registry of named embedding functions.
--
-- Return values follow lua-resty-mysql: a result (or `true`) on success,
-- `nil, errmsg, errno, sqlstate` on a runtime failure. Passing the wrong type
-- of argument raises.
-- @module seekdb

local core = require "seekdb.core"
local loop = require "seekdb.loop"
local localserver = require "seekdb.localserver"

local seekdb = {
  _VERSION = core._VERSION,
  --- Stands for SQL NULL inside lists (a light userdata NULL: it equals
  -- lua-cjson's `cjson.null`, so decoded JSON can be passed straight in).
  null = core.null,
}

--- Readable text of a value (results, metadata...): see seekdb.pretty.
seekdb.pretty = require "seekdb.pretty"

--- Seconds of a monotonic clock (wall time, unlike os.clock's CPU time):
-- for timing frames and calls.
seekdb.now = core.now

--- Waits in place for some seconds (0 to 3600): the blocking form's pause.
-- It blocks a loop; under one, sleep the loop's way.
seekdb.sleep = core.sleep

-- Results of get, query and peek print readably; they are plain tables
-- otherwise (cjson.encode and table functions see nothing special).
local Result = { __name = "seekdb.Result", __tostring = seekdb.pretty }

local function result(r, ...)
  if type(r) == "table" then setmetatable(r, Result) end
  return r, ...
end

local DEFAULT_DIMENSION = 384 -- pyseekdb's default (all-MiniLM-L6-v2)
local DEFAULT_DISTANCE = "cosine"
local DEFAULT_CHUNK = 128
local SETTINGS_VERSION = 2 -- what pyseekdb writes in sdk_collections.settings

local function argerror(n, fname, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), (level or 1) + 1)
end

-- Methods called with '.' instead of ':' get self wrong: say so.
local function check_self(self, class, fname)
  if getmetatable(self) ~= class then
    error(("bad argument #1 to '%s' (%s expected, got %s: call it as x:%s(...))"):format(fname,
      class.__name, type(self), fname), 3)
  end
end

local function check_opts(opts, n, fname)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(n, fname, "table expected, got " .. type(opts), 3)
  end
end

-- Raises for a key of opts that is not in the list (level: the caller's
-- caller, or `level` levels above check_keys' caller; `what`: what takes
-- the options, fname by default).
local function check_keys(opts, list, n, fname, hint, level, what)
  local known = {}
  for _, k in ipairs(list) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] then
      local extra = hint and hint[k] or ""
      argerror(n, fname, ("unknown option '%s'%s: %s takes %s"):format(tostring(k), extra, what or fname,
        table.concat(list, ", ")), level or 3)
    end
  end
end

local function check_chunk(size, fname)
  if size ~= nil and (math.type and math.type(size) ~= "integer" or type(size) ~= "number"
      or size < 1 or size % 1 ~= 0) then
    argerror(1, fname, "embedding_chunk_size must be an integer of at least 1", 3)
  end
end

local function callable(f)
  return type(f) == "function" or (type(f) == "table" and (getmetatable(f) or {}).__call ~= nil)
end

-- Every method goes through here: the C core's blocking form, or a call
-- driven by the client's loop (seekdb.loop). A method that may call an
-- embedding function is driven from Lua even in the blocking form, so that
-- the function may yield when the caller runs in a coroutine.
local plain = loop.blocking()

local function run(client, method, ...)
  local conn, driver = client._conn, client._driver
  if driver then return driver.run(conn:start(method, ...)) end
  return conn[method](conn, ...)
end

local function run_ef(client, ef, method, ...)
  local conn, driver = client._conn, client._driver
  if driver then return driver.run(conn:start(method, ...)) end
  if ef ~= nil then return plain.run(conn:start_plain(method, ...)) end
  return conn[method](conn, ...)
end

---------------------------------------------------------------------------
-- Embedding functions
---------------------------------------------------------------------------

local registry = {}

--- Registers an embedding function factory under a name. A collection can
-- then be given `embedding_function = "name"` (with optional
-- `embedding_function_properties`): the factory is called with those
-- properties and returns the embedding function, which receives a list of
-- documents and returns one vector (a list of numbers) per document. The
-- name and properties are stored with a v2 collection, so `get_collection`
-- attaches the function again by itself. `nil` removes the name.
function seekdb.register_embedding_function(name, factory)
  if type(name) ~= "string" then
    argerror(1, "register_embedding_function", "string expected, got " .. type(name), 2)
  end
  if factory ~= nil and not callable(factory) then
    argerror(2, "register_embedding_function", "function expected, got " .. type(factory), 2)
  end
  registry[name] = factory
end

-- The embedding function a registered name stands for.
local function from_registry(name, properties, fname)
  local factory = registry[name]
  if not factory then
    argerror(1, fname, ("no embedding function registered as '%s': call "
      .. "seekdb.register_embedding_function first"):format(name), 4)
  end
  local ef = factory(properties or {})
  if not callable(ef) then
    error(("the factory of embedding function '%s' returned %s, not a function"):format(name, type(ef)), 4)
  end
  return ef
end

-- A persisted function whose name nobody registered: fails with a message
-- that says how to fix it, when (and only when) it is needed.
local function unregistered(name)
  return function()
    error(("the collection's embedding function '%s' is not registered: call "
      .. "seekdb.register_embedding_function('%s', factory)"):format(name, name), 0)
  end
end

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

local Collection = { __name = "seekdb.Collection" }
Collection.__index = Collection

local function integer_in(v, lo, hi)
  return type(v) == "number" and v % 1 == 0 and v >= lo and v <= hi and v or nil
end

-- The configuration of a collection as its catalog settings and its table
-- say: `{dimension =, distance =, hnsw = {m =, ef_construction =,
-- ef_search =}, fulltext = {parser =, properties =}}`. Read from what this
-- module (and the JS SDK's legacy form) stores, `settings.configuration =
-- {hnsw = {...}, fulltextConfig = {analyzer =, properties =}}`, or from the
-- JS SDK 1.4's `settings.schema = {vectorIndex = {hnsw = {...}},
-- fulltextIndex = {analyzer =, properties =}}`. Dimension and distance are
-- always the table's (both SDKs read them there).
local function configuration_of(desc)
  local st = type(desc.settings) == "table" and desc.settings or {}
  local hnsw, ft
  local c = st.configuration
  if type(c) == "table" then
    if type(c.hnsw) == "table" then hnsw = c.hnsw
    elseif c.dimension ~= nil or c.m ~= nil or c.M ~= nil then hnsw = c end -- the JS SDK's HNSW-shaped form
    ft = type(c.fulltextConfig) == "table" and c.fulltextConfig or nil
  end
  local schema = st.schema
  if type(schema) == "table" then
    if not hnsw and type(schema.vectorIndex) == "table" and type(schema.vectorIndex.hnsw) == "table" then
      hnsw = schema.vectorIndex.hnsw
    end
    if not ft and type(schema.fulltextIndex) == "table" then ft = schema.fulltextIndex end
  end
  hnsw = hnsw or {}
  local conf = { dimension = desc.dimension, distance = desc.distance, hnsw = {
    m = integer_in(hnsw.m or hnsw.M, 1, 10000),
    ef_construction = integer_in(hnsw.ef_construction, 1, 100000),
    ef_search = integer_in(hnsw.ef_search, 1, 100000),
  } }
  if ft then
    local parser = ft.analyzer or ft.parser
    conf.fulltext = { parser = type(parser) == "string" and parser or nil,
      properties = type(ft.properties) == "table" and ft.properties or nil }
  end
  return conf
end

local function new_collection(client, desc, ef, chunk, ef_name)
  local configuration = configuration_of(desc)
  return setmetatable({
    client = client, -- keeps the connection alive as long as the collection
    name = desc.name,
    dimension = desc.dimension,
    distance = desc.distance,
    id = desc.id,           -- v2 collections: the id in sdk_collections
    version = desc.version, -- 1: table c$v1$<name>; 2: c$v2$<id>
    configuration = configuration,
    embedding_function = ef,
    embedding_chunk_size = chunk or DEFAULT_CHUNK,
    _table = desc.table,
    _settings = desc.settings,
    _ef_name = ef_name,
    -- MariaDB's ef_search is per statement (mhnsw_ef_search), at most 10,000
    _ef_search = integer_in(configuration.hnsw.ef_search, 1, 10000),
  }, Collection)
end

-- A collection object whose fields are all there, to be filled in when the
-- server has made the collection: nothing is allocated from then on (a
-- memory error then would report a failure for a collection that was made).
local PENDING = { name = false, dimension = false, distance = false, id = false, version = false, table = false }

local function fill_collection(col, desc)
  col.name, col.dimension, col.distance, col.id, col.version, col._table =
    desc.name, desc.dimension, desc.distance, desc.id, desc.version, desc.table
  return col
end

function Collection:__tostring()
  return ("seekdb collection '%s' (dimension %d, %s distance%s)"):format(self.name, self.dimension,
    self.distance, self.embedding_function and ", with an embedding function" or "")
end

--- Inserts new ids and updates existing ones, in one transaction.
-- `args`: `ids` (a string or a list), and any of `embeddings` (a vector or a
-- list of vectors), `documents` (a string or a list) and `metadatas` (a table
-- or a list of tables). Only the given fields change on an existing id.
-- Documents without embeddings go through the collection's embedding function.
-- @return `true`, or `nil, errmsg, errno, sqlstate`
function Collection:upsert(args)
  check_self(self, Collection, "upsert")
  return run_ef(self.client, self.embedding_function, "upsert", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size)
end

--- Inserts new ids, in one transaction: an id that exists already, or comes
-- twice, is an error and nothing is written. Takes what upsert takes; needs
-- embeddings, or documents and an embedding function.
-- @return `true`, or `nil, errmsg, errno, sqlstate`
function Collection:add(args)
  check_self(self, Collection, "add")
  return run_ef(self.client, self.embedding_function, "add", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size)
end

--- Updates the given fields of ids that exist, in one transaction. Ids that
-- are not in the collection are skipped (as in pyseekdb) and returned.
-- @return `{updated = n, missing = {ids...}}`, or `nil, errmsg, errno, sqlstate`
function Collection:update(args)
  check_self(self, Collection, "update")
  return result(run_ef(self.client, self.embedding_function, "update", self._table, self.dimension, args,
    self.embedding_function, self.embedding_chunk_size))
end

--- Deletes the rows that match all of `ids`, `where` and `where_document`
-- (at least one is needed).
-- @return the number of rows deleted, or `nil, errmsg, errno, sqlstate`
function Collection:delete(args)
  check_self(self, Collection, "delete")
  return run(self.client, "delete", self._table, args)
end

--- Rows by ids and/or filters:
-- `{ids = {...}, documents = {...}, metadatas = {...}[, embeddings = {...}]}`,
-- in the order of the requested ids, `seekdb.null` where the server has NULL.
-- `args`: `ids`, `where`, `where_document`, `include` (default
-- `{"documents", "metadatas"}`), `limit` (default 100), `offset` (default 0).
function Collection:get(args)
  check_self(self, Collection, "get")
  return result(run(self.client, "get", self._table, self.dimension, args))
end

--- Nearest neighbours: `args.query_embeddings` (a vector or a list) or
-- `args.query_texts` (through the embedding function), `n_results` (10),
-- `where`, `where_document`, `include` (default `{"documents", "metadatas",
-- "distances"}`, plus `"embeddings"`). One inner list per query, nearest
-- first: `{ids = {{...}}, distances = {{...}}, ...}`.
function Collection:query(args)
  check_self(self, Collection, "query")
  return result(run_ef(self.client, self.embedding_function, "query", self._table, self.dimension,
    self.distance, args, self.embedding_function, self._ef_search))
end

--- Hybrid search: a full-text search (`args.query`: `where_document`,
-- `where`) and a vector search (`args.knn`: `query_embeddings` or
-- `query_texts`, `where`, `n_results`), their rankings fused by Reciprocal
-- Rank Fusion (`args.rank`, default `{rrf = {rank_window_size = 60,
-- rank_constant = 60}}`); `n_results` (10) rows, best first, with what
-- `include` asks for (default `{"documents", "metadatas", "distances"}`).
-- One inner list, like query's: `{ids = {{...}}, distances = {{...}}, ...}`;
-- distances are the fused scores (larger is better).
function Collection:hybrid_search(args)
  check_self(self, Collection, "hybrid_search")
  return result(run_ef(self.client, self.embedding_function, "hybrid_search", self._table, self.dimension,
    self.distance, args, self.embedding_function))
end

--- The number of rows.
function Collection:count()
  check_self(self, Collection, "count")
  return run(self.client, "count", self._table)
end

--- What the collection is: `{name =, id =, version =, dimension =,
-- distance =, configuration = {dimension =, distance =, hnsw = {m =,
-- ef_construction =, ef_search =}, fulltext = {parser =, properties =}},
-- embedding_function = <its registered name, or nil>}` (pyseekdb's and the
-- JS SDK's describe, with the configuration). A copy: changing it changes
-- nothing.
function Collection:describe()
  check_self(self, Collection, "describe")
  local function copy(t)
    if type(t) ~= "table" then return t end
    local out = {}
    for k, v in pairs(t) do out[k] = copy(v) end
    return out
  end
  return result({
    name = self.name, id = self.id, version = self.version, dimension = self.dimension,
    distance = self.distance, configuration = copy(self.configuration), embedding_function = self._ef_name,
  })
end

--- A new collection `name` (or `{name = ...}`) with this one's rows,
-- dimension, distance, index configuration, catalog settings and embedding
-- function; this one is left as it is. seekdb 1.1.0 and later copy the
-- table with FORK TABLE; MariaDB makes the new table like this one and copies
-- the rows in the transaction that registers it. A fork that fails leaves
-- nothing behind.
-- @return the new collection, or `nil, errmsg, errno, sqlstate`
function Collection:fork(name)
  check_self(self, Collection, "fork")
  if type(name) == "table" then
    check_keys(name, { "name" }, 1, "fork")
    name = name.name
  end
  local desc, err, errno, sqlstate = run(self.client, "fork_collection", self.name, self._table, name,
    self.dimension, self.distance)
  if not desc then return nil, err, errno, sqlstate end
  -- the server copied the source's catalog settings (a version 1 source has none)
  desc.settings = self.version == 2 and self._settings or { version = SETTINGS_VERSION }
  return new_collection(self.client, desc, self.embedding_function, self.embedding_chunk_size, self._ef_name)
end

--- Waits until rows written so far are in the vector index, where the
-- server builds it in the background (seekdb 1.3.0 and later: `CALL
-- dbms_index_manager.refresh()`). Elsewhere there is nothing to wait for
-- (MariaDB indexes a row in its INSERT) and it returns `true` at once.
function Collection:refresh_index()
  check_self(self, Collection, "refresh_index")
  return run(self.client, "refresh_index")
end

--- The first `n` rows (default 10) with everything included.
function Collection:peek(n)
  check_self(self, Collection, "peek")
  if n ~= nil and (type(n) ~= "number" or n < 0 or n % 1 ~= 0) then
    argerror(1, "peek", "a non-negative integer expected, got " .. type(n), 2)
  end
  return self:get { limit = n or 10, include = { "documents", "metadatas", "embeddings" } }
end

---------------------------------------------------------------------------
-- Client
---------------------------------------------------------------------------

local Client = { __name = "seekdb.Client" }
Client.__index = Client

local CLIENT_HINTS = {
  databse = " (did you mean database?)",
  socket_path = " (did you mean socket?)",
}

-- The options seekdb.Client takes; any other key is a mistake (a typo would
-- otherwise be ignored).
local CLIENT_OPTIONS = {
  "host", "port", "user", "password", "database", "tenant", "socket",
  "connect_timeout", "read_timeout", "write_timeout", "timeout", "loop", "slice",
  "ssl", "ssl_verify", "ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher", "tls_version",
  "dialect", "max_packet", "text_protocol", "pipeline", "deadlock_retries",
  "path", "mariadbd", "local_idle",
}

-- The options that make no sense for local mode's unix socket.
local NOT_LOCAL = { "host", "port", "socket", "ssl", "ssl_verify", "ssl_ca", "ssl_capath", "ssl_cert",
  "ssl_key", "ssl_cipher", "tls_version" }

local function getenv(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- pyseekdb's default folder for its embedded mode, and ours for local mode.
local DEFAULT_PATH = "./seekdb.db"

-- Where a connection value came from: "argument", the variable's name or
-- "default". Fills o[key] and from[key].
local function pick(o, from, key, env, default, convert)
  if o[key] ~= nil then
    from[key] = "argument"
    return
  end
  local v = getenv(env)
  if v ~= nil then
    o[key], from[key] = convert and convert(v) or v, env
    if o[key] == nil then argerror(1, "Client", env .. " must be a number, got '" .. v .. "'", 3) end
    return
  end
  o[key], from[key] = default, "default"
end

-- Local mode or a server: local mode when `path` (or SEEKDB_PATH) is given,
-- or when nothing names a server (no host, port or socket, as argument or
-- as SEEKDB_HOST, SEEKDB_PORT, SEEKDB_SOCKET): pyseekdb's rule.
local function local_path(o)
  if o.path ~= nil then
    if type(o.path) ~= "string" or o.path == "" then
      argerror(1, "Client", "option 'path' must be a folder name (a non-empty string)", 4)
    end
    for _, k in ipairs(NOT_LOCAL) do
      if o[k] ~= nil then
        argerror(1, "Client", "option '" .. k .. "' is for a server; 'path' is local mode (a private server "
          .. "reached through a unix socket in that folder): give one or the other", 4)
      end
    end
    return o.path, "argument"
  end
  if o.host ~= nil or o.port ~= nil or o.socket ~= nil or getenv("SEEKDB_HOST") or getenv("SEEKDB_PORT")
    or getenv("SEEKDB_SOCKET") then
    return nil
  end
  if getenv("SEEKDB_PATH") then return getenv("SEEKDB_PATH"), "SEEKDB_PATH" end
  return DEFAULT_PATH, "default"
end

local function told(from, key)
  local f = from[key]
  return f == "argument" and key .. " =" or f == "default" and "the default" or f
end

-- A failed connect, explained: what was tried, where each value came from,
-- and what to do. Only for failures to reach the server (2002 no socket,
-- 2003 no TCP answer, 2005 unknown host, 2006/2013 gone while connecting).
local UNREACHED = { [2002] = true, [2003] = true, [2005] = true, [2006] = true, [2013] = true }

local function explain(o, from, err, errno)
  if not UNREACHED[errno] then return err end
  if o.socket then
    return ("%s [tried the unix socket %s (from %s)]: is a server listening there? Give socket = (or "
      .. "SEEKDB_SOCKET) its socket, host = and port = for TCP, or path = for local mode"):format(
      err, o.socket, told(from, "socket"))
  end
  if o.host == "localhost" then
    return ("%s [host 'localhost' (from %s) means the default unix socket to MariaDB Connector/C, not TCP "
      .. "port %d]: use host = \"127.0.0.1\" for TCP, socket = for another socket, or path = for local mode"):format(
      err, told(from, "host"), o.port)
  end
  return ("%s [tried %s port %d: host from %s, port from %s]: is the server running there? Set host = and "
    .. "port = (or SEEKDB_HOST and SEEKDB_PORT) to reach yours, or use path = \"./mydb\" for local mode "
    .. "(a private server in that folder; see the README)"):format(err, o.host, o.port, told(from, "host"),
    told(from, "port"))
end

-- The socket of the local server for o.path: the running one, else one
-- started now (waiting the way the driver waits).
local function local_socket(o, driver, again)
  local sock = not again and localserver.running(o.path)
  if sock then return sock end
  local server, err = localserver.find_server(o.mariadbd)
  if not server then return nil, err end
  local idle = o.local_idle or tonumber(getenv("SEEKDB_LOCAL_IDLE") or "") or localserver.IDLE
  return localserver.start(o.path, server, idle, driver and driver.sleep or core.sleep)
end

local function connect(o, driver)
  if driver then return driver.run(core.connect(o, true)) end
  return core.connect(o)
end

-- Local mode's connect: to the folder's server, started if need be; once
-- more if it stopped between the look and the connect (its idle end).
local function connect_local(o, driver, from)
  local path, mariadbd, idle = o.path, o.mariadbd, o.local_idle
  o.path, o.mariadbd, o.local_idle = nil, nil, nil
  o.host, o.port = "localhost", 0
  local err, errno, sqlstate
  for try = 1, 2 do
    local sock
    sock, err = local_socket({ path = path, mariadbd = mariadbd, local_idle = idle }, driver, try > 1)
    if not sock then return nil, err end
    o.socket = sock
    local conn
    conn, err, errno, sqlstate = connect(o, driver)
    if conn then return setmetatable({ _conn = conn, _driver = driver, _path = path }, Client) end
    if not UNREACHED[errno] then break end
  end
  return nil, ("local mode (%s, path from %s): %s"):format(path, told(from, "path"), err), errno, sqlstate
end

--- Connects to seekdb, OceanBase or MariaDB 11.7+, or to the local mode's
-- private server of a folder.
-- Local mode: `path` (a folder; env SEEKDB_PATH): the server running for that
-- folder, or one started for it (data in the folder, a unix socket, no TCP
-- port; it stops `local_idle` seconds, env SEEKDB_LOCAL_IDLE or 30, after
-- its last client has gone), `mariadbd` (the server binary; env
-- SEEKDB_MARIADBD; else one on PATH, else `scripts/testdb fetch`'s copy).
-- Without `path`, `host`, `port` or `socket` (as arguments or SEEKDB_PATH,
-- SEEKDB_HOST, SEEKDB_PORT, SEEKDB_SOCKET) the client is in local mode in
-- `./seekdb.db`, pyseekdb's default.
-- Server options (all optional): `host` (env SEEKDB_HOST or `127.0.0.1`), `port`
-- (env SEEKDB_PORT or 2881), `user` (env SEEKDB_USER or `root`), `password`
-- (env SEEKDB_PASSWORD or empty), `database` (env SEEKDB_DATABASE or `test`),
-- `tenant` (login as user@tenant), `socket` (a unix socket path; env
-- SEEKDB_SOCKET),
-- `connect_timeout` (seconds, 10), `read_timeout` and `write_timeout`
-- (seconds the server may stay silent during a statement, 60 each),
-- `timeout` (seconds a whole call may take, across retries and lock waits;
-- none by default), `loop` (how calls wait: nil for the blocking form,
-- "cqueues", "luv", "ngx", "yield", or a function(fd, events, timeout)),
-- `slice` (seconds of work per step of a call under a loop, 0.0005), `ssl`
-- (TLS or no connection: nothing is sent to a server that offers no TLS),
-- `ssl_verify` (also check the server's certificate and name), `ssl_ca`,
-- `ssl_capath`, `ssl_cert`, `ssl_key`, `ssl_cipher` (the negotiated cipher
-- must be one of these names), `tls_version` ("TLSv1.2", "TLSv1.3" or
-- "TLSv1.2,TLSv1.3"); any TLS option requires TLS, as `ssl` does (see the
-- README, TLS), `dialect` ("auto", "seekdb" or "mariadb"), `max_packet`
-- (bytes per statement, at most the server's max_allowed_packet),
-- `text_protocol` (true: write with multi-row SQL text even where MariaDB's
-- faster bulk protocol is available), `pipeline` (false: check every item of
-- a large write before any SQL instead of while earlier rows are sent),
-- `deadlock_retries` (10).
-- @return a client, or `nil, errmsg, errno, sqlstate`
function seekdb.Client(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "Client", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts or {}, CLIENT_OPTIONS, 1, "Client", CLIENT_HINTS)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if not ({ [true] = 1, auto = 1, seekdb = 1, mariadb = 1 })[o.dialect == nil or o.dialect] then
    argerror(1, "Client", "option 'dialect' must be \"auto\", \"seekdb\" or \"mariadb\"", 2)
  end
  local driver, why = loop.for_option(o.loop)
  if why then argerror(1, "Client", "option " .. why, 2) end
  o.loop = nil
  if o.local_idle ~= nil and not (type(o.local_idle) == "number" and o.local_idle >= 1 and o.local_idle <= 86400) then
    argerror(1, "Client", "option 'local_idle' must be a number of seconds, 1 to 86400", 2)
  end
  if o.mariadbd ~= nil and type(o.mariadbd) ~= "string" then
    argerror(1, "Client", "option 'mariadbd' must be the path of a mariadbd binary", 2)
  end
  local from = {}
  o.path, from.path = local_path(o)
  pick(o, from, "user", "SEEKDB_USER", "root")
  pick(o, from, "password", "SEEKDB_PASSWORD", "")
  pick(o, from, "database", "SEEKDB_DATABASE", "test")
  local tenant = o.tenant
  if o.tenant then o.user = o.user .. "@" .. o.tenant end
  o.tenant = nil
  if o.path then return connect_local(o, driver, from) end
  o.mariadbd, o.local_idle = nil, nil
  pick(o, from, "host", "SEEKDB_HOST", "127.0.0.1")
  pick(o, from, "port", "SEEKDB_PORT", 2881, tonumber)
  pick(o, from, "socket", "SEEKDB_SOCKET", nil)
  local conn, err, errno, sqlstate = connect(o, driver)
  if not conn then return nil, explain(o, from, err, errno), errno, sqlstate end
  return setmetatable({ _conn = conn, _driver = driver, _tenant = tenant }, Client)
end

function Client:__tostring()
  return tostring(self._conn)
end

--- Closes the connection; calling it twice is harmless. A call still running
-- on the client (in another coroutine) ends with an error.
function Client:close()
  check_self(self, Client, "close")
  local driver = self._driver
  -- a coroutine waiting on the socket is woken first, while it is open
  if driver and driver.stop_waiting then driver.stop_waiting() end
  return self._conn:close()
end

Client.__close = Client.close

--- `true` once the client's connection is closed: by `close()`, or by a
-- call that timed out while the server held it (every later call raises).
-- A pool checks it before giving a client out again.
function Client:is_closed()
  check_self(self, Client, "is_closed")
  return self._conn:is_closed()
end

--- What the client is connected to: `{dialect =, version =, max_packet =,
-- timeout =, tls =, tls_cipher =}`.
function Client:info()
  check_self(self, Client, "info")
  return result(self._conn:info())
end

--- Sets the `timeout` (seconds a call may take; 0 or false: none) of the
-- calls that start after it.
function Client:set_timeout(seconds)
  check_self(self, Client, "set_timeout")
  return self._conn:set_timeout(seconds)
end

--- Runs one SQL statement: the escape hatch for administration and tests.
-- A result set comes back as a list of rows keyed by column name (values are
-- strings, SQL NULL is `seekdb.null`); other statements give
-- `{affected_rows =, insert_id =, warning_count =}`.
function Client:query(sql)
  check_self(self, Client, "query")
  return result(run(self, "sql", sql))
end

-- The embedding function of create options, and what to persist of it.
local function embedding_of(opts, fname)
  local ef = opts.embedding_function
  if type(ef) == "string" then
    local properties = opts.embedding_function_properties or {}
    return from_registry(ef, properties, fname), { name = ef, properties = properties }
  end
  if ef ~= nil and not callable(ef) then
    argerror(1, fname, "embedding_function must be a function or a registered name, got " .. type(ef), 3)
  end
  return ef, nil
end

-- Text of an error value (a table's __tostring counts).
local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return "(an error value of type " .. type(e) .. ")"
end

-- What the embedding function's vectors are wide: it is called once on a
-- sample text (from Lua, so it may yield), as pyseekdb does.
local function probe_dimension(ef)
  local ok, vectors = pcall(ef, { "seekdb" })
  if not ok then return nil, "embedding function failed on a sample text: " .. error_text(vectors) end
  return core.embedding_dimension(vectors)
end

---------------------------------------------------------------------------
-- Configuration: pyseekdb's classes, and the table form
---------------------------------------------------------------------------

local HNSWConfiguration = { __name = "seekdb.HNSWConfiguration" }
local Configuration = { __name = "seekdb.Configuration" }
local FulltextIndexConfig = { __name = "seekdb.FulltextIndexConfig" }

local HNSW_DEFAULTS = { dimension = DEFAULT_DIMENSION, distance = DEFAULT_DISTANCE }
-- Reading an unset field gives pyseekdb's default (`m` reads `M`); what
-- create_collection uses is what was given (an unset dimension is learnt
-- from the embedding function, as without a configuration).
HNSWConfiguration.__index = function(self, k)
  if k == "m" then return rawget(self, "M") end
  return HNSW_DEFAULTS[k]
end
FulltextIndexConfig.__index = function(_, k) if k == "analyzer" then return "ik" end end

local HNSW_OPTIONS = { "dimension", "distance", "type", "lib", "M", "m", "ef_construction", "ef_search" }
local HNSW_UNSUPPORTED = " (pyseekdb's option for hnsw_bq/hnsw_sq indexes, not supported: lua-seekdb makes type = \"hnsw\")"
local HNSW_HINTS = { extra_info_max_size = HNSW_UNSUPPORTED, refine_k = HNSW_UNSUPPORTED,
  refine_type = HNSW_UNSUPPORTED, bq_bits_query = HNSW_UNSUPPORTED, bq_use_fht = HNSW_UNSUPPORTED,
  properties = " (not supported: name the option)" }

local function is_integer(v)
  return type(v) == "number" and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53
end

-- m and M name the same option: both given must agree.
local function one_m(t, fname, level)
  local m, M = rawget(t, "m"), rawget(t, "M")
  if m ~= nil and M ~= nil and m ~= M then
    argerror(1, fname, ("m = %s and M = %s disagree: give one"):format(tostring(m), tostring(M)), level + 1)
  end
  if M ~= nil then return M end
  return m
end

--- pyseekdb's `HNSWConfiguration(dimension, distance)`: the vector index of
-- a collection. `seekdb.HNSWConfiguration(128, "l2")`, or with names:
-- `seekdb.HNSWConfiguration{dimension = 128, distance = "l2", M = 16,
-- ef_construction = 200, ef_search = 64}` (`m` for `M` too). Unset fields
-- read as pyseekdb's defaults (dimension 384, distance "cosine").
function seekdb.HNSWConfiguration(dimension, distance)
  local t = dimension
  if type(dimension) ~= "table" then t = { dimension = dimension, distance = distance }
  elseif distance ~= nil then argerror(2, "HNSWConfiguration", "give a table of options, or dimension and distance", 2) end
  check_keys(t, HNSW_OPTIONS, 1, "HNSWConfiguration", HNSW_HINTS)
  if t.dimension ~= nil and not (is_integer(t.dimension) and t.dimension >= 1) then
    argerror(1, "HNSWConfiguration", "dimension must be a positive integer, got " .. tostring(t.dimension), 2)
  end
  if t.distance ~= nil and not ({ cosine = 1, l2 = 1, inner_product = 1 })[t.distance] then
    argerror(1, "HNSWConfiguration", "distance must be \"cosine\", \"l2\" or \"inner_product\", got "
      .. tostring(t.distance), 2)
  end
  if t.type ~= nil and t.type ~= "hnsw" then
    argerror(1, "HNSWConfiguration", "type must be \"hnsw\" (hnsw_sq and hnsw_bq are not supported)", 2)
  end
  if t.lib ~= nil and t.lib ~= "vsag" then argerror(1, "HNSWConfiguration", "lib must be \"vsag\"", 2) end
  for _, k in ipairs { "ef_construction", "ef_search" } do
    if t[k] ~= nil and not is_integer(t[k]) then
      argerror(1, "HNSWConfiguration", k .. " must be an integer, got " .. tostring(t[k]), 2)
    end
  end
  local M = one_m(t, "HNSWConfiguration", 2)
  if M ~= nil and not is_integer(M) then argerror(1, "HNSWConfiguration", "M must be an integer, got " .. tostring(M), 2) end
  return setmetatable({ dimension = t.dimension, distance = t.distance, M = M,
    ef_construction = t.ef_construction, ef_search = t.ef_search }, HNSWConfiguration)
end

--- pyseekdb's `FulltextIndexConfig(analyzer, properties)`: the full-text
-- index's parser (seekdb: "ik" by default; "space", "ngram", "ngram2",
-- "beng"...) and its properties (`{ngram_token_size = 2}`). Also
-- `seekdb.FulltextIndexConfig{analyzer = ..., properties = {...}}`.
function seekdb.FulltextIndexConfig(analyzer, properties)
  local t = analyzer
  if type(analyzer) ~= "table" then t = { analyzer = analyzer, properties = properties }
  elseif properties ~= nil then argerror(2, "FulltextIndexConfig", "give a table of options, or analyzer and properties", 2) end
  check_keys(t, { "analyzer", "properties" }, 1, "FulltextIndexConfig")
  if t.analyzer ~= nil and type(t.analyzer) ~= "string" then
    argerror(1, "FulltextIndexConfig", "analyzer must be a string, got " .. type(t.analyzer), 2)
  end
  if t.properties ~= nil and type(t.properties) ~= "table" then
    argerror(1, "FulltextIndexConfig", "properties must be a table, got " .. type(t.properties), 2)
  end
  return setmetatable({ analyzer = t.analyzer, properties = t.properties }, FulltextIndexConfig)
end

--- pyseekdb's `Configuration(hnsw, fulltext_config)`: an HNSWConfiguration
-- and a FulltextIndexConfig, both optional. Also
-- `seekdb.Configuration{hnsw = ..., fulltext_config = ...}`.
function seekdb.Configuration(hnsw, fulltext_config)
  local t = hnsw
  if type(hnsw) ~= "table" or getmetatable(hnsw) ~= nil then t = { hnsw = hnsw, fulltext_config = fulltext_config }
  elseif fulltext_config ~= nil then argerror(2, "Configuration", "give a table of options, or hnsw and fulltext_config", 2) end
  check_keys(t, { "hnsw", "fulltext_config" }, 1, "Configuration")
  if t.hnsw ~= nil and getmetatable(t.hnsw) ~= HNSWConfiguration then
    argerror(1, "Configuration", "hnsw must be a seekdb.HNSWConfiguration, got " .. type(t.hnsw), 2)
  end
  if t.fulltext_config ~= nil and getmetatable(t.fulltext_config) ~= FulltextIndexConfig then
    argerror(1, "Configuration", "fulltext_config must be a seekdb.FulltextIndexConfig, got " .. type(t.fulltext_config), 2)
  end
  return setmetatable({ hnsw = t.hnsw, fulltext_config = t.fulltext_config }, Configuration)
end

-- Any configuration as one flat table: {dimension, distance, m,
-- ef_construction, ef_search, parser, properties}, each possibly nil.
local function flat_configuration(c, fname)
  local mt = getmetatable(c)
  local function from_hnsw(h, out)
    out.dimension, out.distance = rawget(h, "dimension"), rawget(h, "distance")
    out.m, out.ef_construction, out.ef_search = rawget(h, "M"), rawget(h, "ef_construction"), rawget(h, "ef_search")
    return out
  end
  if mt == HNSWConfiguration then return from_hnsw(c, {}) end
  if mt == Configuration then
    local out = c.hnsw and from_hnsw(c.hnsw, {}) or {}
    if c.fulltext_config then out.parser, out.properties = c.fulltext_config.analyzer, c.fulltext_config.properties end
    return out
  end
  if type(c) ~= "table" or mt ~= nil then
    argerror(1, fname, "configuration must be a table, a seekdb.Configuration or a seekdb.HNSWConfiguration, got "
      .. type(c), 3)
  end
  check_keys(c, { "dimension", "distance", "hnsw", "fulltext" }, 1, fname, nil, 4, "configuration")
  local out = { dimension = c.dimension, distance = c.distance }
  if c.hnsw ~= nil then
    if type(c.hnsw) ~= "table" then argerror(1, fname, "configuration.hnsw must be a table, got " .. type(c.hnsw), 3) end
    check_keys(c.hnsw, { "m", "M", "ef_construction", "ef_search" }, 1, fname, HNSW_HINTS, 4, "configuration.hnsw")
    out.m, out.ef_construction, out.ef_search = one_m(c.hnsw, fname, 3), c.hnsw.ef_construction, c.hnsw.ef_search
  end
  if c.fulltext ~= nil then
    if type(c.fulltext) ~= "table" then
      argerror(1, fname, "configuration.fulltext must be a table, got " .. type(c.fulltext), 3)
    end
    check_keys(c.fulltext, { "parser", "properties" }, 1, fname, nil, 4, "configuration.fulltext")
    out.parser, out.properties = c.fulltext.parser, c.fulltext.properties
  end
  return out
end

local CREATE_OPTIONS = { "name", "dimension", "distance", "configuration", "embedding_function",
  "embedding_function_properties", "embedding_chunk_size", "version" }
local GET_OPTIONS = { "embedding_function", "embedding_function_properties", "embedding_chunk_size" }
local GET_OR_CREATE_OPTIONS = CREATE_OPTIONS

-- One value from two places (the option and the configuration's): both
-- given must agree.
local function agree(top, conf, what, fname)
  if top ~= nil and conf ~= nil and top ~= conf then
    argerror(1, fname, ("%s = %s and configuration's %s = %s disagree: give one, or the same"):format(what,
      tostring(top), what, tostring(conf)), 3)
  end
  if top ~= nil then return top end
  return conf
end

--- Creates a collection.
-- `opts`: `name`, `dimension` (default: what the embedding function returns
-- for a sample text, else 384), `distance` ("cosine", "l2" or
-- "inner_product"; MariaDB has no inner product), `configuration` (the
-- indexes: `{dimension =, distance =, hnsw = {m =, ef_construction =,
-- ef_search =}, fulltext = {parser =, properties =}}`, or pyseekdb's
-- `seekdb.Configuration(...)` / `seekdb.HNSWConfiguration(...)`; a dimension
-- or distance given at both levels must be the same), `embedding_function`
-- (a function, or a registered name whose factory gets
-- `embedding_function_properties`; a name is stored with the collection),
-- `embedding_chunk_size` (documents per call of the embedding function, 128),
-- `version` (2, pyseekdb's current layout listed in sdk_collections; or 1,
-- the table `c$v1$<name>`).
-- @return a collection, or `nil, errmsg, errno, sqlstate`
function Client:create_collection(opts)
  check_self(self, Client, "create_collection")
  if type(opts) ~= "table" then
    argerror(1, "create_collection", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts, CREATE_OPTIONS, 1, "create_collection", { dim = " (did you mean dimension?)" })
  check_chunk(opts.embedding_chunk_size, "create_collection")
  local conf = opts.configuration ~= nil and flat_configuration(opts.configuration, "create_collection") or {}
  local ef, persisted = embedding_of(opts, "create_collection")
  local dimension, err = agree(opts.dimension, conf.dimension, "dimension", "create_collection"), nil
  local distance = agree(opts.distance, conf.distance, "distance", "create_collection") or DEFAULT_DISTANCE
  if dimension == nil then
    if ef == nil then
      dimension = DEFAULT_DIMENSION
    else
      dimension, err = probe_dimension(ef)
      if not dimension then return nil, err end
    end
  end
  local settings = { version = SETTINGS_VERSION, embedding_function = persisted }
  local index
  if opts.configuration ~= nil then
    index = { m = conf.m, ef_construction = conf.ef_construction, ef_search = conf.ef_search,
      parser = conf.parser, properties = conf.properties }
    -- kept in the catalog as the JS SDK reads a configuration (hnsw, fulltextConfig)
    settings.configuration = {
      hnsw = { dimension = dimension, distance = distance, m = conf.m, ef_construction = conf.ef_construction,
        ef_search = conf.ef_search },
      fulltextConfig = (conf.parser or conf.properties) and { analyzer = conf.parser or "ik",
        properties = conf.properties or {} } or nil,
    }
  end
  -- the object is made before the server makes the collection: nothing is
  -- allocated after that (see PENDING)
  local col = new_collection(self, { name = false, dimension = dimension, distance = distance, id = false,
    version = false, table = false, settings = settings }, ef, opts.embedding_chunk_size, persisted and persisted.name)
  local desc, errmsg, errno, sqlstate = run(self, "create_collection", opts.name, dimension,
    distance, opts.version or 2, settings, index)
  if not desc then return nil, errmsg, errno, sqlstate end
  return fill_collection(col, desc)
end

-- The embedding function a collection's settings name: pyseekdb's
-- `embedding_function`, the JS SDK 1.4's `schema.vectorIndex.embeddingFunction`
-- or its older `embeddingFunction`.
local function stored_embedding(settings)
  if type(settings) ~= "table" then return nil end
  local e = settings.embedding_function
  if type(e) ~= "table" and type(settings.schema) == "table" and type(settings.schema.vectorIndex) == "table" then
    e = settings.schema.vectorIndex.embeddingFunction
  end
  if type(e) ~= "table" then e = settings.embeddingFunction end
  if type(e) == "table" and type(e.name) == "string" then return e end
  return nil
end

-- The embedding function of an existing collection: the persisted one
-- (attached again through the registry), or the one given; and its name.
local function attach_embedding(desc, opts)
  local stored = stored_embedding(desc.settings)
  local given = opts.embedding_function
  if not stored then
    return (embedding_of(opts, "get_collection")), nil, type(given) == "string" and given or nil
  end
  if given ~= nil and given ~= stored.name then
    return nil, ("collection '%s' was created with embedding function '%s': pass "
      .. "embedding_function = '%s', or none"):format(desc.name, stored.name, stored.name)
  end
  if not registry[stored.name] then return unregistered(stored.name), nil, stored.name end
  local properties = type(stored.properties) == "table" and stored.properties or {}
  return from_registry(stored.name, properties, "get_collection"), nil, stored.name
end

local function get_collection(self, name, opts)
  local desc, err, errno, sqlstate = run(self, "describe_collection", name)
  if not desc then return nil, err, errno, sqlstate end
  local ef, why, ef_name = attach_embedding(desc, opts)
  if why then return nil, why end
  return new_collection(self, desc, ef, opts.embedding_chunk_size, ef_name)
end

--- An existing collection, v1 or v2. Its persisted embedding function is
-- attached again; `opts.embedding_function` gives one to a collection that
-- has none stored (passing a different one than the stored is an error).
-- @return a collection, or `nil, errmsg, errno, sqlstate`
function Client:get_collection(name, opts)
  check_self(self, Client, "get_collection")
  check_opts(opts, 2, "get_collection")
  opts = opts or {}
  check_keys(opts, GET_OPTIONS, 2, "get_collection")
  check_chunk(opts.embedding_chunk_size, "get_collection")
  return get_collection(self, name, opts)
end

local ER_TABLE_EXISTS = 1050

--- The collection if it exists, else a new one made from `opts`. Safe when
-- two clients race to create it: the loser gets the winner's collection.
function Client:get_or_create_collection(opts)
  check_self(self, Client, "get_or_create_collection")
  if type(opts) ~= "table" then
    argerror(1, "get_or_create_collection", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts, GET_OR_CREATE_OPTIONS, 1, "get_or_create_collection", { dim = " (did you mean dimension?)" })
  local exists, err, errno, sqlstate = run(self, "has_collection", opts.name)
  if exists == nil then return nil, err, errno, sqlstate end
  if not exists then
    local col
    col, err, errno, sqlstate = self:create_collection(opts)
    if col or errno ~= ER_TABLE_EXISTS then return col, err, errno, sqlstate end
  end
  return get_collection(self, opts.name, opts)
end

--- `true` if the collection exists, `false` if not (so not for assert()).
function Client:has_collection(name)
  check_self(self, Client, "has_collection")
  return run(self, "has_collection", name)
end

-- Errors that say the connection, not the collection, is the trouble.
local CONNECTION_ERRNO = { [2006] = true, [2013] = true, [2014] = true }

--- All collections, v1 and v2, sorted by name (a list of collection
-- objects, as in pyseekdb). Catalog rows that cannot be read as a
-- collection (their table is missing, their name odd) are skipped, as both
-- pyseekdb and the JS SDK do.
function Client:list_collections()
  check_self(self, Client, "list_collections")
  local names, err, errno, sqlstate = run(self, "list_collections")
  if not names then return nil, err, errno, sqlstate end
  local list = {}
  for _, name in ipairs(names) do
    local col
    col, err, errno, sqlstate = get_collection(self, name, {})
    if col then list[#list + 1] = col
    elseif CONNECTION_ERRNO[errno] then return nil, err, errno, sqlstate end
  end
  return result(list)
end

--- Drops a collection and its data (and its row in sdk_collections).
function Client:delete_collection(name)
  check_self(self, Client, "delete_collection")
  return run(self, "delete_collection", name)
end

--- How many collections `list_collections()` lists (as pyseekdb counts).
function Client:count_collection()
  check_self(self, Client, "count_collection")
  local list, err, errno, sqlstate = self:list_collections()
  if not list then return nil, err, errno, sqlstate end
  return #list
end

---------------------------------------------------------------------------
-- Databases (pyseekdb's AdminClient; on a Client too)
---------------------------------------------------------------------------

-- A database, as pyseekdb's Database: name, charset, collation, and the
-- tenant where the client was given one. Prints as its name; two are equal
-- when their name and tenant are.
local Database = { __name = "seekdb.Database" }
Database.__tostring = function(d) return d.name end
Database.__eq = function(a, b) return a.name == b.name and a.tenant == b.tenant end

local function database(d, tenant)
  d.tenant = tenant
  return setmetatable(d, Database)
end

-- The methods shared by Client and AdminClient (`self._tenant`: the
-- tenant option, if any).
local function database_methods(class)
  --- Creates a database (`CREATE DATABASE IF NOT EXISTS`: one that exists
  -- is fine, as in pyseekdb). Names match ^[A-Za-z0-9_]+$ (pyseekdb's rule),
  -- at most 64 characters.
  function class:create_database(name)
    check_self(self, class, "create_database")
    return run(self, "create_database", name)
  end

  --- The database `name`: `{name =, charset =, collation =, tenant =}`, or
  -- `nil, "database 'x' does not exist", 1049`.
  function class:get_database(name)
    check_self(self, class, "get_database")
    local d, err, errno, sqlstate = run(self, "get_database", name)
    if not d then return nil, err, errno, sqlstate end
    return database(d, self._tenant)
  end

  --- The databases, sorted by name: `list_databases{limit = n, offset = k}`
  -- (or `list_databases(n, k)`); all of them without a limit.
  function class:list_databases(limit, offset)
    check_self(self, class, "list_databases")
    if type(limit) == "table" then
      if offset ~= nil then argerror(2, "list_databases", "give {limit =, offset =}, or limit and offset", 2) end
      check_keys(limit, { "limit", "offset" }, 1, "list_databases")
      limit, offset = limit.limit, limit.offset
    end
    local list, err, errno, sqlstate = run(self, "list_databases", limit, offset)
    if not list then return nil, err, errno, sqlstate end
    for _, d in ipairs(list) do database(d, self._tenant) end
    return result(list)
  end

  --- Drops a database and everything in it (`DROP DATABASE IF EXISTS`: one
  -- that does not exist is fine, as in pyseekdb).
  function class:delete_database(name)
    check_self(self, class, "delete_database")
    return run(self, "delete_database", name)
  end
end

database_methods(Client)

local AdminClient = { __name = "seekdb.AdminClient" }
AdminClient.__index = AdminClient
database_methods(AdminClient)

--- pyseekdb's AdminClient: a connection for managing databases
-- (`create_database`, `get_database`, `list_databases`, `delete_database`,
-- `close`). It takes the options of `seekdb.Client`, and connects to
-- `information_schema` unless `database` is given (as pyseekdb does).
-- @return an admin client, or `nil, errmsg, errno, sqlstate`
function seekdb.AdminClient(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "AdminClient", "table expected, got " .. type(opts), 2)
  end
  check_keys(opts or {}, CLIENT_OPTIONS, 1, "AdminClient", CLIENT_HINTS)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.database = o.database or "information_schema"
  local client, err, errno, sqlstate = seekdb.Client(o)
  if not client then return nil, err, errno, sqlstate end
  return setmetatable({ _conn = client._conn, _driver = client._driver, _tenant = client._tenant }, AdminClient)
end

function AdminClient:__tostring()
  return "seekdb admin " .. tostring(self._conn)
end

--- Closes the connection; calling it twice is harmless.
function AdminClient:close()
  check_self(self, AdminClient, "close")
  return self._conn:close()
end

AdminClient.__close = AdminClient.close

--- What the client is connected to (as `Client:info()`).
function AdminClient:info()
  check_self(self, AdminClient, "info")
  return result(self._conn:info())
end

---------------------------------------------------------------------------
-- Tasks: calls a program resumes when it likes
---------------------------------------------------------------------------

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack

--- Runs `fn(...)` in a coroutine that the program resumes when it likes: a
-- game loop calls `task:step()` once a frame. With a client whose `loop`
-- is "yield", each step runs the call a slice at a time (about half a
-- millisecond of work) and returns. `task:step()` returns `false` while
-- the task runs, then `true` and fn's results; an error in fn is raised.
function seekdb.task(fn, ...)
  if not callable(fn) then argerror(1, "task", "function expected, got " .. type(fn), 2) end
  local args = pack(...)
  local co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  local task, results = {}, nil
  function task.step()
    if results then return true, unpack(results, 1, results.n) end
    local r = pack(coroutine.resume(co))
    if not r[1] then error(r[2], 0) end
    if coroutine.status(co) ~= "dead" then return false end
    results = pack(unpack(r, 2, r.n))
    return true, unpack(results, 1, results.n)
  end
  function task.done() return results ~= nil end
  return task
end

return seekdb
