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

local seekdb = {
  _VERSION = core._VERSION,
  --- Stands for SQL NULL inside lists (a light userdata NULL: it equals
  -- lua-cjson's `cjson.null`, so decoded JSON can be passed straight in).
  null = core.null,
}

local DEFAULT_DIMENSION = 384 -- pyseekdb's default (all-MiniLM-L6-v2)
local DEFAULT_DISTANCE = "cosine"
local DEFAULT_CHUNK = 128

---------------------------------------------------------------------------
-- Embedding functions
---------------------------------------------------------------------------

local registry = {}

--- Registers an embedding function under a name, so that a collection can be
-- given `embedding_function = "name"`. The function receives a list of
-- documents and returns one vector (a list of numbers) per document.
function seekdb.register_embedding_function(name, fn)
  if type(name) ~= "string" then
    error("bad argument #1 to 'register_embedding_function' (string expected, got " .. type(name) .. ")", 2)
  end
  if fn ~= nil and type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("bad argument #2 to 'register_embedding_function' (function expected, got " .. type(fn) .. ")", 2)
  end
  registry[name] = fn
end

-- A name from the registry, or the function itself.
local function resolve_embedding(ef, fname)
  if type(ef) == "string" then
    local fn = registry[ef]
    if not fn then
      error(("bad argument #1 to '%s' (no embedding function registered as '%s': "
        .. "call seekdb.register_embedding_function first)"):format(fname, ef), 3)
    end
    return fn
  end
  return ef
end

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

local Collection = { __name = "seekdb.Collection" }
Collection.__index = Collection

local function new_collection(client, desc, ef, chunk)
  return setmetatable({
    client = client, -- keeps the connection alive as long as the collection
    name = desc.name,
    dimension = desc.dimension,
    distance = desc.distance,
    embedding_function = ef,
    embedding_chunk_size = chunk or DEFAULT_CHUNK,
  }, Collection)
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
  return self.client._conn:upsert(self.name, self.dimension, args, self.embedding_function,
    self.embedding_chunk_size)
end

--- The rows of the given ids (or the first `limit` rows):
-- `{ids = {...}, documents = {...}, metadatas = {...}[, embeddings = {...}]}`,
-- in the order of the requested ids, `seekdb.null` where the server has NULL.
-- `args`: `ids`, `include` (default `{"documents", "metadatas"}`), `limit`
-- (default 100), `offset` (default 0).
function Collection:get(args)
  return self.client._conn:get(self.name, self.dimension, args)
end

--- The number of rows.
function Collection:count()
  return self.client._conn:count(self.name)
end

---------------------------------------------------------------------------
-- Client
---------------------------------------------------------------------------

local Client = { __name = "seekdb.Client" }
Client.__index = Client

--- Connects to seekdb, OceanBase or MariaDB 11.7+.
-- Options (all optional): `host` (env SEEKDB_HOST or "127.0.0.1"), `port`
-- (2881), `user` ("root"), `password` (env SEEKDB_PASSWORD or ""), `database`
-- ("test"), `tenant` (login as user@tenant), `socket` (a unix socket path),
-- `connect_timeout`, `read_timeout`, `write_timeout` (seconds), `ssl`,
-- `ssl_verify`, `ssl_ca`, `ssl_capath`, `ssl_cert`, `ssl_key`, `ssl_cipher`,
-- `dialect` ("auto", "seekdb" or "mariadb"), `max_packet` (bytes per
-- statement, at most the server's max_allowed_packet).
-- @return a client, or `nil, errmsg, errno, sqlstate`
function seekdb.Client(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #1 to 'Client' (table expected, got " .. type(opts) .. ")", 2)
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.host = o.host or os.getenv("SEEKDB_HOST") or "127.0.0.1"
  o.port = o.port or 2881
  o.user = o.user or "root"
  o.password = o.password or os.getenv("SEEKDB_PASSWORD") or ""
  o.database = o.database or "test"
  if o.tenant then o.user = o.user .. "@" .. o.tenant end
  local conn, err, errno, sqlstate = core.connect(o)
  if not conn then return nil, err, errno, sqlstate end
  return setmetatable({ _conn = conn }, Client)
end

function Client:__tostring()
  return tostring(self._conn)
end

--- Closes the connection; calling it twice is harmless.
function Client:close()
  return self._conn:close()
end

Client.__close = Client.close

--- `{dialect = "seekdb"|"mariadb", version = "...", max_packet = n}`
function Client:info()
  return self._conn:info()
end

--- Runs one SQL statement: the escape hatch for administration and tests.
-- A result set comes back as a list of rows keyed by column name (values are
-- strings, SQL NULL is `seekdb.null`); other statements give
-- `{affected_rows =, insert_id =, warning_count =}`.
function Client:query(sql)
  return self._conn:query(sql)
end

local function dimension_for(ef, dimension)
  if dimension ~= nil then return dimension end
  if ef == nil then return DEFAULT_DIMENSION end
  return core.embedding_dimension(ef)
end

--- Creates a collection.
-- `opts`: `name`, `dimension` (default: what the embedding function returns
-- for a sample text, else 384), `distance` ("cosine", "l2" or
-- "inner_product"; MariaDB has no inner product), `embedding_function` (a
-- function or a registered name), `embedding_chunk_size` (documents per call
-- of the embedding function, default 128).
-- @return a collection, or `nil, errmsg, errno, sqlstate`
function Client:create_collection(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'create_collection' (table expected, got " .. type(opts) .. ")", 2)
  end
  local ef = resolve_embedding(opts.embedding_function, "create_collection")
  local dimension, err = dimension_for(ef, opts.dimension)
  if not dimension then return nil, err end
  local distance = opts.distance or DEFAULT_DISTANCE
  local ok, errmsg, errno, sqlstate = self._conn:create_collection(opts.name, dimension, distance)
  if not ok then return nil, errmsg, errno, sqlstate end
  return new_collection(self, { name = opts.name, dimension = dimension, distance = distance }, ef,
    opts.embedding_chunk_size)
end

--- An existing collection; `opts.embedding_function` attaches one.
-- @return a collection, or `nil, errmsg, errno, sqlstate`
function Client:get_collection(name, opts)
  opts = opts or {}
  local desc, err, errno, sqlstate = self._conn:describe_collection(name)
  if not desc then return nil, err, errno, sqlstate end
  return new_collection(self, desc, resolve_embedding(opts.embedding_function, "get_collection"),
    opts.embedding_chunk_size)
end

--- The collection if it exists, else a new one made from `opts`.
function Client:get_or_create_collection(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'get_or_create_collection' (table expected, got " .. type(opts) .. ")", 2)
  end
  local exists, err, errno, sqlstate = self._conn:has_collection(opts.name)
  if exists == nil then return nil, err, errno, sqlstate end
  if exists then return self:get_collection(opts.name, opts) end
  return self:create_collection(opts)
end

--- `true` if the collection exists, `false` if not (so not for assert()).
function Client:has_collection(name)
  return self._conn:has_collection(name)
end

--- All collections, sorted by name (a list of collection objects, as in pyseekdb).
function Client:list_collections()
  local names, err, errno, sqlstate = self._conn:list_collections()
  if not names then return nil, err, errno, sqlstate end
  local list = {}
  for i, name in ipairs(names) do
    list[i], err, errno, sqlstate = self:get_collection(name)
    if not list[i] then return nil, err, errno, sqlstate end
  end
  return list
end

--- Drops a collection and its data.
function Client:delete_collection(name)
  return self._conn:delete_collection(name)
end


return seekdb
