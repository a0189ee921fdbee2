-- A game loop: a frame every 16.7 ms (60 per second), and the game's
-- database work done between frames, a slice at a time. The clients have
-- loop = "yield": inside a seekdb.task every wait for the server, and every
-- half millisecond of the client's own work, yields back to the loop, which
-- steps each task once a frame. So a frame pays about 0.5 ms of CPU for
-- the database, however large the call.
--
-- It spawns 10,000 players (one upsert of 10,000 rows, a task on one
-- client) and, on a second client, asks twice a second "who is near player
-- 1?" (a query, another task); once the players are there, it also saves
-- the moves of the players around player 1 (a small upsert). It prints the
-- worst frame time and what a step of a client cost the frame: its CPU
-- (os.clock) and its wall time. Every time of a frame is wall time, from
-- seekdb.now() (clock_gettime(CLOCK_MONOTONIC) in the module's C core):
-- os.clock is the process's CPU time, and measures nothing else here.
--
--   eval "$(scripts/testdb env)"   # or export your server's SEEKDB_TEST_*
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="./?.so;;" lua5.4 examples/game_loop.lua
-- (LuaJIT too: LUA_CPATH="build/luajit/?.so;;" luajit examples/game_loop.lua)
-- It drops and makes the collection "players". GAME_PLAYERS and
-- GAME_ROUNDS change the number of players and of rounds after the spawn.
local seekdb = require "seekdb"

local FRAME = 1 / 60 -- seconds
local PLAYERS = tonumber(os.getenv("GAME_PLAYERS") or "") or 10000
local ROUNDS = tonumber(os.getenv("GAME_ROUNDS") or "") or 4
local ACTIVE = 100 -- the players who move: player 1 and those around
local MAP = 1000

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end
local options = {
  host = env("SEEKDB_TEST_HOST"), port = tonumber(env("SEEKDB_TEST_PORT")),
  user = env("SEEKDB_TEST_USER"), password = os.getenv("SEEKDB_TEST_PASSWORD"),
  database = env("SEEKDB_TEST_DATABASE"), socket = env("SEEKDB_TEST_SOCKET"),
  loop = "yield", -- inside a task, every wait and every slice of work yields
}
-- One call at a time per client: a writer and a reader, so that a query
-- does not wait for the spawn to end.
local writer = assert(seekdb.Client(options))
local reader = assert(seekdb.Client(options))

-- Before the game starts (outside a task, calls wait in place).
if writer:has_collection("players") then assert(writer:delete_collection("players")) end
-- A position is the embedding: x, y on the map and z the height.
local players = assert(writer:create_collection{ name = "players", dimension = 3, distance = "l2" })
local seen = assert(reader:get_collection("players"))

local function zone_of(p) -- four quadrants
  return (p[2] < MAP / 2 and "north" or "south") .. (p[1] < MAP / 2 and "west" or "east")
end

math.randomseed(42)
local pos, moved = {}, {}
for n = 1, PLAYERS do
  -- the active players start around player 1
  pos[n] = n <= ACTIVE and { 500 + math.random(-50, 50), 500 + math.random(-50, 50), 0 }
    or { math.random() * MAP, math.random() * MAP, 0 }
end

-- The spawn's rows, made before the game starts: a task's own Lua work is
-- the frame's too, and only the client's is cut in slices.
local spawn_ids, spawn_vectors, spawn_meta = {}, {}, {}
for n = 1, PLAYERS do
  spawn_ids[n], spawn_vectors[n] = "player-" .. n, pos[n]
  spawn_meta[n] = { player = n, zone = zone_of(pos[n]) }
end

local function spawn()
  assert(players:upsert{ ids = spawn_ids, embeddings = spawn_vectors, metadatas = spawn_meta })
  return ("%d players spawned"):format(PLAYERS)
end

local function near_me()
  local me = pos[1]
  local near = assert(seen:query{ query_embeddings = me, n_results = 4, where = { zone = zone_of(me) },
    include = { "distances" } })
  local who = {}
  for i, id in ipairs(near.ids[1]) do
    if id ~= "player-1" then who[#who + 1] = ("%s %.0f m"):format(id, near.distances[1][i]) end
  end
  return ("player-1 at (%.0f, %.0f), near: %s"):format(me[1], me[2], #who > 0 and table.concat(who, ", ")
    or "nobody yet")
end

local function save_moves(ids, vectors, metadatas)
  assert(players:upsert{ ids = ids, embeddings = vectors, metadatas = metadatas })
  return ("%d moves saved"):format(#ids)
end

local now = seekdb.now -- wall time (os.clock is CPU time)
local started = now()
local frames, over_budget, worst_frame = 0, 0, 0
local steps, step_cpu, worst_step = 0, 0, 0 -- CPU of the client's steps
local step_wall, worst_step_wall = 0, 0     -- their wall time

-- A job: a task and what it is. Each is stepped once a frame.
local jobs = {}
local function start(slot, name, fn, ...)
  jobs[slot] = { name = name, task = seekdb.task(fn, ...), started = now() }
end
local function step(slot)
  local job = jobs[slot]
  if not job then return end
  local w0, c0 = now(), os.clock()
  local done, what = job.task:step() -- the client's slice: what this frame pays
  local cpu, wall = os.clock() - c0, now() - w0
  steps, step_cpu, step_wall = steps + 1, step_cpu + cpu, step_wall + wall
  if cpu > worst_step then worst_step = cpu end
  if wall > worst_step_wall then worst_step_wall = wall end
  if done then
    print(("%6.2f s  %-10s %6.0f ms  %s"):format(now() - started, job.name, (now() - job.started) * 1000, what))
    jobs[slot] = nil
    return true
  end
end

local spawned, rounds, next_round = false, 0, started
start("writer", "spawn", spawn)

while true do
  local frame_start = now()
  frames = frames + 1

  -- The game: some of the active players move.
  for _ = 1, 5 do
    local n = math.random(1, ACTIVE)
    local p = pos[n]
    p[1] = math.max(0, math.min(MAP, p[1] + math.random(-5, 5)))
    p[2] = math.max(0, math.min(MAP, p[2] + math.random(-5, 5)))
    moved[n] = true
  end
  if frame_start >= next_round then -- twice a second
    next_round = frame_start + 0.5
    if not jobs.reader then start("reader", "near me", near_me) end
    if spawned and not jobs.writer then
      local ids, vectors, metadatas = {}, {}, {}
      for n in pairs(moved) do
        ids[#ids + 1], vectors[#vectors + 1] = "player-" .. n, { pos[n][1], pos[n][2], pos[n][3] }
        metadatas[#metadatas + 1] = { player = n, zone = zone_of(pos[n]) }
      end
      moved = {}
      start("writer", "save moves", save_moves, ids, vectors, metadatas)
      rounds = rounds + 1
    end
  end

  -- The database: one step of each job.
  if step("writer") and not spawned then spawned = true end
  step("reader")
  if spawned and rounds >= ROUNDS and not jobs.writer and not jobs.reader then break end

  -- "Drawing" the frame: the rest of its 16.7 ms (a busy wait stands for
  -- the renderer and the wait for the display).
  while now() < frame_start + FRAME do end
  local took = now() - frame_start
  if took > worst_frame then worst_frame = took end
  if took > FRAME * 1.1 then over_budget = over_budget + 1 end
end

print(("%d frames in %.1f s, worst frame %.1f ms, %d frames over 18.3 ms"):format(frames, now() - started,
  worst_frame * 1000, over_budget))
print(("client CPU per step: worst %.2f ms, mean %.3f ms over %d steps"):format(worst_step * 1000,
  step_cpu / math.max(steps, 1) * 1000, steps))
print(("client wall time per step: worst %.2f ms, mean %.3f ms"):format(worst_step_wall * 1000,
  step_wall / math.max(steps, 1) * 1000))
print(("%d players in the collection"):format(assert(players:count())))
assert(writer:delete_collection("players"))
writer:close()
reader:close()
