local uv = require "luv"
local seekdb = require "seekdb"

local client = assert(seekdb.Client { loop = "luv" })
if client:has_collection("notes") then assert(client:delete_collection("notes")) end
local notes = assert(client:create_collection { name = "notes", dimension = 3 })

local ticks, timer = 0, uv.new_timer()
timer:start(10, 10, function() ticks = ticks + 1 end)

-- calls made in a coroutine yield to libuv while they wait
coroutine.wrap(function()
  local ids, vectors = {}, {}
  for i = 1, 2000 do ids[i], vectors[i] = "note-" .. i, { i, i % 7, 1 } end
  assert(notes:upsert { ids = ids, embeddings = vectors })
  local near = assert(notes:query { query_embeddings = { 10, 3, 1 }, n_results = 3 })
  print("nearest: " .. table.concat(near.ids[1], " "))
  timer:stop()
  timer:close()
end)()
uv.run()

print(("%d notes; the timer fired %d times meanwhile"):format(notes:count(), ticks))
assert(client:delete_collection("notes"))
client:close()
