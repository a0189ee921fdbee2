-- The upsert examples of pyseekdb's documentation, in Lua.
--
-- `make demo` runs this in local mode (a private server for the folder
-- .scratch/demo.db). By hand, in local mode in ./seekdb.db, or on a server
-- named by SEEKDB_HOST, SEEKDB_PORT... (see seekdb.Client):
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="./?.so;;" lua5.4 examples/upsert.lua
local seekdb = require "seekdb"

-- A toy embedding function: each word is hashed to one of 8 numbers, which
-- counts it; the vector is then scaled to length 1. Like every embedding
-- function it gets a list of documents and returns one vector per document.
-- (A real application would call an embedding model here.)
local DIM = 8
local function hash_embed(documents)
  local vectors = {}
  for i, doc in ipairs(documents) do
    local v = {}
    for j = 1, DIM do v[j] = 0 end
    for word in doc:lower():gmatch("%w+") do
      local h = 2166136261 -- FNV-1a hash of the word
      for k = 1, #word do h = ((h ~ word:byte(k)) * 16777619) & 0xffffffff end
      v[h % DIM + 1] = v[h % DIM + 1] + 1
    end
    local norm = 0
    for j = 1, DIM do norm = norm + v[j] * v[j] end
    norm = norm > 0 and math.sqrt(norm) or 1
    for j = 1, DIM do v[j] = v[j] / norm end
    vectors[i] = v
  end
  return vectors
end

---------------------------------------------------------------------------
-- Printing what a collection holds
---------------------------------------------------------------------------

local function value_text(v)
  if v == seekdb.null then return "null" end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = tostring(k) .. "=" .. value_text(v[k]) end
  return "{" .. table.concat(parts, " ") .. "}"
end

local function vector_text(v)
  if v == seekdb.null then return "null" end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = ("%.3f"):format(x) end
  return "[" .. table.concat(parts, " ") .. "]"
end

local function show(collection)
  local n = assert(collection:count())
  local rows = assert(collection:get{ include = { "documents", "metadatas", "embeddings" } })
  print(("  %s: %d row%s"):format(collection.name, n, n == 1 and "" or "s"))
  local order = {}
  for i = 1, #rows.ids do order[i] = i end
  table.sort(order, function(a, b) return rows.ids[a] < rows.ids[b] end)
  for _, i in ipairs(order) do
    local doc = rows.documents[i]
    print(("    %-6s %-16s %-28s %s"):format(rows.ids[i],
      doc == seekdb.null and "null" or ("%q"):format(doc),
      value_text(rows.metadatas[i]), vector_text(rows.embeddings[i])))
  end
  print()
end

local function step(title)
  print("== " .. title)
end

---------------------------------------------------------------------------
-- Connecting and creating the two collections
---------------------------------------------------------------------------

-- With no options, seekdb.Client() goes where the environment says: a
-- server (SEEKDB_HOST, SEEKDB_PORT, SEEKDB_USER, SEEKDB_PASSWORD,
-- SEEKDB_DATABASE), or local mode's folder SEEKDB_PATH; with none of them
-- set, local mode in ./seekdb.db, as pyseekdb's Client() does.
local client = assert(seekdb.Client())
print(("Connected: %s"):format(tostring(client)))
print()

-- Start afresh. (has_collection answers false for "no": assert() would take
-- that for an error, so look at the error message instead.)
for _, name in ipairs{ "my_collection", "my_collection1" } do
  local exists, err = client:has_collection(name)
  assert(exists ~= nil, err)
  if exists then assert(client:delete_collection(name)) end
end
assert(client:create_collection{ name = "my_collection", dimension = 3, distance = "cosine" })
-- No dimension given: it is learnt by calling the embedding function once.
assert(client:create_collection{ name = "my_collection1", embedding_function = hash_embed })

-- As in pyseekdb's example: get the collections by name. An embedding
-- function is Lua code, so it is attached again when getting the collection.
local collection = assert(client:get_collection("my_collection"))
local collection1 = assert(client:get_collection("my_collection1", { embedding_function = hash_embed }))
print(("Created %s\n        %s"):format(tostring(collection), tostring(collection1)))
print()

---------------------------------------------------------------------------
-- pyseekdb's three upsert examples
---------------------------------------------------------------------------

step("Upsert single item (insert or update)")
assert(collection:upsert{
  ids = "item1",
  embeddings = { 0.1, 0.2, 0.3 },
  documents = "Document text",
  metadatas = { category = "AI", score = 95 },
})
show(collection)

step("Upsert multiple items (item1 is updated, item2 and item3 are new)")
assert(collection:upsert{
  ids = { "item1", "item2", "item3" },
  embeddings = {
    { 0.1, 0.2, 0.3 },
    { 0.4, 0.5, 0.6 },
    { 0.7, 0.8, 0.9 },
  },
  documents = { "Doc 1", "Doc 2", "Doc 3" },
  metadatas = {
    { category = "AI" },
    { category = "ML" },
    { category = "DL" },
  },
})
show(collection)

step("Upsert with documents only (embeddings from the embedding function)")
assert(collection1:upsert{
  ids = { "item1", "item2" },
  documents = { "Document 1", "Document 2" },
  metadatas = { { category = "AI" }, { category = "ML" } },
})
show(collection1)

---------------------------------------------------------------------------
-- Updating through upsert: only the given fields change
---------------------------------------------------------------------------

step("Upsert metadata only: item1 keeps its document and embedding")
assert(collection:upsert{
  ids = "item1",
  metadatas = { category = "AI", reviewed = true },
})
show(collection)

---------------------------------------------------------------------------
-- Cleaning up
---------------------------------------------------------------------------

assert(client:delete_collection("my_collection"))
assert(client:delete_collection("my_collection1"))
print(("Deleted both collections; %d left."):format(#assert(client:list_collections())))
client:close()
