-- A process of spec/19-concurrency: upserts (or deletes) overlapping ids of
-- one collection in random order, many calls, and reports how they went.
--   lua writer.lua <role: write|delete> <worker number> <calls> <ids> <go file> <options as Lua>
-- It connects, says "ready", waits for the go file (so that every worker
-- starts together), runs its calls, and prints one line per failed call and
-- "done <ok> <failed>" at the end.
local role, me, calls, nids, go, opts = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), arg[5], arg[6]
local seekdb = require "seekdb"
local options = assert(load("return " .. opts))()
local client = assert(seekdb.Client(options))
local col = assert(client:get_collection("race"))
io.write("ready\n")
io.flush()
while not io.open(go) do
  local t = seekdb.now()
  while seekdb.now() - t < 0.005 do end -- a short spin: no sleep(1) in plain Lua
end
math.randomseed(me * 7919)
local ok, failed = 0, 0
-- The deleter stays off the last 20 ids: rows are left whatever the order
-- in which the processes happen to finish (once, in a slow pass, the
-- deleter's last calls came after every write and emptied the table).
local range = role == "delete" and nids - 20 or nids
for c = 1, calls do
  local ids, docs, metas, vecs = {}, {}, {}, {}
  local pick, n = {}, 0
  while n < 20 do -- 20 distinct ids of the range, in random order
    local i = math.random(range)
    if not pick[i] then
      pick[i] = true
      n = n + 1
      ids[n] = ("id%03d"):format(i)
    end
  end
  local r, err, errno
  if role == "delete" then
    r, err, errno = col:delete { ids = { ids[1], ids[2], ids[3], ids[4], ids[5] } }
  else
    -- every field of a row says which call wrote it: a row mixed from two
    -- calls would show
    for k = 1, n do
      local tag = ("w%d:c%d"):format(me, c)
      docs[k] = tag
      metas[k] = { tag = tag }
      vecs[k] = { me, c, k }
    end
    r, err, errno = col:upsert { ids = ids, documents = docs, metadatas = metas, embeddings = vecs }
  end
  if r then ok = ok + 1 else
    failed = failed + 1
    io.write(("failed %s %s %s\n"):format(role, tostring(errno), tostring(err)))
  end
end
io.write(("done %d %d\n"):format(ok, failed))
client:close()
