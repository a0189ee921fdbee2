local cqueues = require "cqueues"
local seekdb = require "seekdb"

-- SEEKDB_HOST, SEEKDB_PORT, SEEKDB_DATABASE... come from the environment
local client = assert(seekdb.Client { loop = "cqueues" })
-- in the main chunk, outside the controller, a call waits in place
if client:has_collection("notes") then assert(client:delete_collection("notes")) end
local notes = assert(client:create_collection { name = "notes", dimension = 3 })

local cq = cqueues.new()
local ticks, done = 0, false
cq:wrap(function() -- the rest of the program keeps running...
  while not done do
    cqueues.sleep(0.01)
    ticks = ticks + 1
  end
end)
cq:wrap(function() -- ...while the calls of this coroutine wait for the server
  local ids, vectors = {}, {}
  for i = 1, 2000 do ids[i], vectors[i] = "note-" .. i, { i, i % 7, 1 } end
  assert(notes:upsert { ids = ids, embeddings = vectors })
  local near = assert(notes:query { query_embeddings = { 10, 3, 1 }, n_results = 3 })
  print("nearest: " .. table.concat(near.ids[1], " "))
  done = true
end)
assert(cq:loop())

print(("%d notes; the ticker ticked %d times meanwhile"):format(notes:count(), ticks))
assert(client:delete_collection("notes"))
client:close()
