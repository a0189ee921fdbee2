-- Finalizers that raise, run while calls are in progress (spec/18-hardening,
-- item 4). A process of its own, run with the spec's interpreter; under
-- LuaJIT with -joff: LuaJIT itself cannot unwind an error raised by a
-- finalizer out of compiled code (it crashes, with or without this module),
-- and the spec's own process has compiled code all over.
--
--   lua5.4 spec/support/gc_bombs.lua CONFIG OUT_FILE
--   luajit -joff spec/support/gc_bombs.lua CONFIG OUT_FILE
--
-- CONFIG is a Lua file returning { path =, cpath =, options =, rounds = }.
-- Each round upserts 30 documents through an embedding function that leaves
-- garbage whose __gc raises (LuaJIT raises such errors wherever the
-- collector happens to run: inside the call's pieces, in the driver between
-- them, in C code of the runtime; Lua 5.4 turns them into warnings), with a
-- collector that runs all the time; then, once the leftover finalizers
-- have run, the next calls must work. Writes OUT_FILE (through a rename):
-- "ok <bombs> <outcome>=<n>...", or "fail <why>".
local config_file, out_file = arg[1], arg[2]
local config = dofile(config_file)
package.path, package.cpath = config.path, config.cpath
local seekdb = require "seekdb"

local function write(text)
  local f = assert(io.open(out_file .. ".tmp", "w"))
  f:write(text, "\n")
  f:close()
  assert(os.rename(out_file .. ".tmp", out_file))
end

local bombs, k = 0, 0
local function bomb()
  bombs = bombs + 1
  if newproxy then -- LuaJIT: __gc on userdata only
    local p = newproxy(true)
    getmetatable(p).__gc = function() error("gc boom") end
    return p
  end
  return setmetatable({}, { __gc = function() error("gc boom") end })
end

local function vectors(docs)
  local out = {}
  for i = 1, #docs do out[i] = { #docs[i], 1, 2 } end
  return out
end

local function ef(docs)
  for _ = 1, k % 20 do bomb() end
  return vectors(docs)
end

local function main()
  local client = assert(seekdb.Client(config.options))
  local col = assert(client:create_collection { name = "bombs", dimension = 3, embedding_function = vectors })
  assert(col:upsert { ids = { "a", "b" }, documents = { "first", "second" } })
  local g = assert(client:get_collection("bombs", { embedding_function = ef, embedding_chunk_size = 7 }))
  local outcomes, written = {}, {}
  local function outcome(what, ok, res)
    what = what .. (ok and (res and "ok" or "nil,err") or "raised")
    outcomes[what] = (outcomes[what] or 0) + 1
  end
  local qargs = { query_texts = { "q", "r", "s" }, n_results = 5 }
  collectgarbage("setpause", 1)
  collectgarbage("setstepmul", 400)
  for round = 1, config.rounds do
    k = round
    local ids, docs = {}, {}
    for i = 1, 30 do ids[i], docs[i] = ("g%d_%d"):format(round, i), ("x"):rep(i) end
    local args = { ids = ids, documents = docs }
    written[round] = ids
    -- results into locals only (nothing allocated) until the finalizers
    -- left over have run (and raised) in collectgarbage, not in the next call
    local ok, res = pcall(g.upsert, g, args)
    while not pcall(collectgarbage) do end
    outcome("upsert:", ok, res)
    local ok2, n, err = pcall(g.count, g)
    if not ok2 or type(n) ~= "number" then
      error(("round %d: the call after an upsert failed: %s %s"):format(round, tostring(n), tostring(err)), 0)
    end
    ok, res = pcall(g.query, g, qargs)
    while not pcall(collectgarbage) do end
    outcome("query:", ok, res)
    local ok3, got, err3 = pcall(g.get, g, { ids = "a" })
    if not ok3 or type(got) ~= "table" then
      error(("round %d: the call after a query failed: %s %s"):format(round, tostring(got), tostring(err3)), 0)
    end
  end
  collectgarbage("setpause", 200)
  collectgarbage("setstepmul", 200)
  while not pcall(collectgarbage) do end
  -- all or nothing: each round's 30 rows are all there or none
  for round, ids in ipairs(written) do
    local n = #assert(g:get { ids = ids, include = {} }).ids
    if n ~= 0 and n ~= 30 then error(("round %d left %d of 30 rows"):format(round, n), 0) end
  end
  local list = {}
  for what, n in pairs(outcomes) do list[#list + 1] = what .. "=" .. n end
  table.sort(list)
  return ("ok %d %s"):format(bombs, table.concat(list, " "))
end

local ok, result = pcall(main)
while not pcall(collectgarbage) do end
write(ok and result or ("fail " .. tostring(result)))
