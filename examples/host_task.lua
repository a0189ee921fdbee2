local seekdb = require "seekdb"

local client = assert(seekdb.Client { loop = "yield" })
if client:has_collection("notes") then assert(client:delete_collection("notes")) end
local notes = assert(client:create_collection { name = "notes", dimension = 3 })

local ids, vectors = {}, {}
for i = 1, 2000 do ids[i], vectors[i] = "note-" .. i, { i, i % 7, 1 } end
-- a task: each step runs the calls until they wait, or for about 0.5 ms
local task = seekdb.task(function()
  assert(notes:upsert { ids = ids, embeddings = vectors })
  return assert(notes:query { query_embeddings = { 10, 3, 1 }, n_results = 3 })
end)

local frames, worst = 0, 0
while true do
  local frame_ends = seekdb.now() + 1 / 60
  frames = frames + 1
  local cpu = os.clock()
  local done, near = task:step() -- once a frame
  worst = math.max(worst, os.clock() - cpu)
  if done then
    print("nearest: " .. table.concat(near.ids[1], " "))
    break
  end
  while seekdb.now() < frame_ends do end -- update and draw the frame here
end

print(("%d notes after %d frames; a step cost at most %.2f ms of CPU"):format(notes:count(), frames,
  worst * 1000))
assert(client:delete_collection("notes"))
client:close()
