-- A game server loop: every tick some players move, and all the moves of the
-- tick go to the database in ONE upsert (ids "player-<n>", so a position is
-- updated in place). Every few ticks a player asks "who is near me?": a
-- nearest-neighbour query on positions, filtered to the player's zone.
--
--   eval "$(scripts/testdb env)"   # or export your server's SEEKDB_TEST_*
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="./?.so;;" lua5.4 examples/game_loop.lua
-- (LuaJIT too: LUA_CPATH="build/luajit/?.so;;" luajit examples/game_loop.lua)
-- It drops and makes the collection "players".
local seekdb = require "seekdb"

local PLAYERS, TICKS, QUERY_EVERY, MAP = 200, 20, 5, 100

-- Wall-clock time: LuaSocket's if it is installed (os.clock is CPU time,
-- which leaves out the time spent waiting for the server).
local ok, socket = pcall(require, "socket")
local now = ok and socket.gettime or os.clock

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end
local client = assert(seekdb.Client{
  host = env("SEEKDB_TEST_HOST"), port = tonumber(env("SEEKDB_TEST_PORT")),
  user = env("SEEKDB_TEST_USER"), password = os.getenv("SEEKDB_TEST_PASSWORD"),
  database = env("SEEKDB_TEST_DATABASE"), socket = env("SEEKDB_TEST_SOCKET"),
})
if client:has_collection("players") then assert(client:delete_collection("players")) end
-- A position is the embedding: x, y on the map and z the height.
local players = assert(client:create_collection{ name = "players", dimension = 3, distance = "l2" })

local function zone_of(x, y) -- four quadrants
  return (y < MAP / 2 and "north" or "south") .. (x < MAP / 2 and "west" or "east")
end
local function clamp(v) return math.max(0, math.min(MAP, v)) end

math.randomseed(42)
local pos = {}
for n = 1, PLAYERS do pos[n] = { math.random() * MAP, math.random() * MAP, 0 } end

for tick = 1, TICKS do
  local t0 = now()
  -- This tick's events: on the first tick everybody spawns, then about a
  -- third of the players move.
  local ids, embeddings, metadatas = {}, {}, {}
  for n = 1, PLAYERS do
    if tick == 1 or math.random() < 0.33 then
      local p = pos[n]
      p[1], p[2] = clamp(p[1] + math.random(-5, 5)), clamp(p[2] + math.random(-5, 5))
      p[3] = math.random(0, 3) -- jumping
      ids[#ids + 1] = "player-" .. n
      embeddings[#embeddings + 1] = { p[1], p[2], p[3] }
      metadatas[#metadatas + 1] = { player = n, zone = zone_of(p[1], p[2]), tick = tick }
    end
  end
  local t1 = now()
  assert(players:upsert{ ids = ids, embeddings = embeddings, metadatas = metadatas }) -- one call
  local t2 = now()
  print(("tick %2d: %3d events, upsert %6.2f ms (events built in %.2f ms)")
    :format(tick, #ids, (t2 - t1) * 1000, (t1 - t0) * 1000))

  if tick % QUERY_EVERY == 0 then
    local me = pos[1]
    local zone = zone_of(me[1], me[2])
    local t3 = now()
    local near = assert(players:query{
      query_embeddings = me,
      n_results = 4, -- me and my three nearest neighbours
      where = { zone = zone },
      include = { "metadatas", "distances" },
    })
    local t4 = now()
    local who = {}
    for i, id in ipairs(near.ids[1]) do
      if id ~= "player-1" then
        who[#who + 1] = ("%s (%.1f m, last moved tick %d)")
          :format(id, near.distances[1][i], near.metadatas[1][i].tick)
      end
    end
    print(("  player-1 at (%.0f, %.0f) in %s, query %.2f ms: near me %s")
      :format(me[1], me[2], zone, (t4 - t3) * 1000, table.concat(who, ", ")))
  end
end

print(("%d players in the collection after %d ticks"):format(players:count(), TICKS))
assert(client:delete_collection("players"))
client:close()
