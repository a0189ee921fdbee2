-- An embedding function written in Lua: a feature-hashing embedder, so it
-- needs no model file and no network. Registered under a name, it is stored
-- with the collection and attached again when another client opens it.
--
-- Run it against a server: export the SEEKDB_TEST_* variables of your server
-- (`eval "$(scripts/testdb env)"` for the scratch MariaDB), or rely on
-- seekdb.Client's defaults (127.0.0.1:2881, user root, database test), then
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="./?.so;;" lua5.4 examples/embedding.lua
-- (or, after `make luajit-module`, under LuaJIT with
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="build/luajit/?.so;;" luajit examples/embedding.lua)
-- It drops and makes the collection "hashed_notes".
local seekdb = require "seekdb"

---------------------------------------------------------------------------
-- The embedder
---------------------------------------------------------------------------

-- A small string hash: h = h * k + byte, modulo a prime p. Plain arithmetic
-- (no bit operators, every step exact in a double), so it gives the same
-- numbers under Lua 5.4 and LuaJIT, where OpenResty would run it. Two pairs
-- (k, p) give two unrelated hashes.
local function hash(s, k, p)
  local h = 0
  for i = 1, #s do h = (h * k + s:byte(i)) % p end
  return h
end

-- Words too common to tell documents apart: left out.
local STOP = {}
for w in ("a an and are at every for in is of on the to where"):gmatch("%a+") do STOP[w] = true end

-- The factory: gets the collection's embedding_function_properties and
-- returns the embedding function (a list of documents in, one vector per
-- document out). Each word (lowercased, stop words left out) is hashed into
-- one of `dim` buckets; a second hash decides whether it adds +1 or -1
-- there, so that collisions tend to cancel instead of piling up. The vector
-- is then scaled to length 1 (L2-normalised), as cosine distance wants.
local function hashing(properties)
  local dim = properties.dim or 64
  return function(documents)
    local vectors = {}
    for i, doc in ipairs(documents) do
      local v = {}
      for j = 1, dim do v[j] = 0 end
      for word in doc:lower():gmatch("%w+") do
        if not STOP[word] then
          local bucket = hash(word, 257, 1000000007) % dim + 1
          local sign = hash(word, 263, 998244353) % 2 == 0 and 1 or -1
          v[bucket] = v[bucket] + sign
        end
      end
      local norm = 0
      for j = 1, dim do norm = norm + v[j] * v[j] end
      norm = math.sqrt(norm)
      if norm > 0 then
        for j = 1, dim do v[j] = v[j] / norm end
      end
      vectors[i] = v
    end
    return vectors
  end
end

seekdb.register_embedding_function("hashing", hashing)

---------------------------------------------------------------------------
-- A collection that uses it
---------------------------------------------------------------------------

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

local options = {
  host = env("SEEKDB_TEST_HOST"),
  port = tonumber(env("SEEKDB_TEST_PORT")),
  user = env("SEEKDB_TEST_USER"),
  password = os.getenv("SEEKDB_TEST_PASSWORD"),
  database = env("SEEKDB_TEST_DATABASE"),
  socket = env("SEEKDB_TEST_SOCKET"),
}
local client = assert(seekdb.Client(options))
print(client)

local NAME = "hashed_notes"
local exists, err = client:has_collection(NAME) -- false means "no": not for assert()
assert(exists ~= nil, err)
if exists then assert(client:delete_collection(NAME)) end

local notes = assert(client:create_collection{
  name = NAME,
  embedding_function = "hashing",
  embedding_function_properties = { dim = 64 },
})
print(notes)

-- The name and the properties are what sdk_collections keeps.
local row = assert(client:query(
  ("SELECT settings FROM sdk_collections WHERE collection_name = '%s'"):format(NAME)))[1]
print("settings: " .. row.settings)
print()

-- Documents only: the embedding function makes the vectors.
local sentences = {
  "The knight rides north to the frozen castle",
  "A dragon sleeps on a pile of gold in the mountain",
  "Buy bread, milk and eggs at the market",
  "The market sells fresh bread every morning",
  "Lua tables are the only data structure in Lua",
  "LuaJIT compiles Lua code to fast machine code",
  "The castle gate opens at dawn for the knight",
  "Vector databases answer nearest neighbour queries",
  "An index makes nearest neighbour search fast",
  "The dragon burns the village near the mountain",
}
local ids = {}
for i = 1, #sentences do ids[i] = ("s%02d"):format(i) end
assert(notes:upsert{ ids = ids, documents = sentences })
print(("%d documents upserted"):format(notes:count()))
print()

-- A query by text goes through the same function.
local res = assert(notes:query{
  query_texts = { "where is the dragon", "fast Lua code", "fresh bread" },
  n_results = 3,
  include = { "documents", "distances" },
})
print(res) -- results print through seekdb.pretty

-- Or walk the result yourself: one inner list per query text, nearest first.
print()
for q, text in ipairs{ "where is the dragon", "fast Lua code", "fresh bread" } do
  print(("%q"):format(text))
  for k, id in ipairs(res.ids[q]) do
    print(("  %s  %.3f  %s"):format(id, res.distances[q][k], res.documents[q][k]))
  end
end
print()

---------------------------------------------------------------------------
-- Another client: the embedding function comes back by itself
---------------------------------------------------------------------------

local other = assert(seekdb.Client(options))
local again = assert(other:get_collection(NAME)) -- no embedding_function given
print(again)
print(seekdb.pretty(assert(again:query{
  query_texts = "the knight and the castle", n_results = 2, include = { "documents", "distances" },
})))
other:close()

---------------------------------------------------------------------------
-- Cleaning up
---------------------------------------------------------------------------

assert(client:delete_collection(NAME))
client:close()
print("dropped " .. NAME)
