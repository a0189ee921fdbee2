-- Concurrent writers and a deleter on overlapping ids (issue 10, item 9):
-- writes take their row locks in id order and, like deletes, run again after
-- a deadlock or lock wait timeout, so that none of the calls fails, and
-- every row holds what one call wrote.
local seekdb = require "seekdb"
local helper = require "helper"

local WRITERS, CALLS, IDS = 4, 40, 60

-- The workers run under the spec's own interpreter.
local function interpreter() return helper.luajit and "luajit" or "lua5.4" end

local function serialize(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = ("[%q] = %s"):format(k, type(v) == "string" and ("%q"):format(v) or tostring(v))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

describe("concurrent writers and a deleter", function()
  local client, db
  setup(function() client, db = helper.fresh() end)
  teardown(function() helper.drop(client) end)

  it("finish every call, and every row is what one call wrote", function()
    local col = assert(client:create_collection { name = "race", dimension = 3 })
    local go = os.tmpname()
    os.remove(go)
    local opts = helper.options { database = db }
    opts.loop = nil
    local path = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s;;' "):format(package.cpath:match("^[^;]+"))
    local procs = {}
    for w = 1, WRITERS + 1 do
      local role = w <= WRITERS and "write" or "delete"
      local cmd = ("%s%s spec/support/writer.lua %s %d %d %d %s %q"):format(path, interpreter(), role, w, CALLS,
        IDS, go, serialize(opts))
      procs[w] = assert(io.popen(cmd .. " 2>&1", "r"))
    end
    -- every worker connected: then all start at once
    for w, p in ipairs(procs) do assert.are.equal("ready", p:read("l"), "worker " .. w .. " did not start") end
    assert(io.open(go, "w")):close()
    local failures, total = {}, 0
    for w, p in ipairs(procs) do
      for line in p:lines() do
        local ok, failed = line:match("^done (%d+) (%d+)$")
        if ok then total = total + tonumber(ok)
        else failures[#failures + 1] = ("worker %d: %s"):format(w, line) end
      end
      p:close()
    end
    os.remove(go)
    assert.are.same({}, failures)
    assert.are.equal((WRITERS + 1) * CALLS, total)
    -- every row: document, metadata and vector from the same call
    local r = assert(col:get { limit = 1000, include = { "documents", "metadatas", "embeddings" } })
    assert.truthy(#r.ids >= 20, #r.ids .. " rows") -- the ids the deleter leaves alone, at least
    for i, id in ipairs(r.ids) do
      local tag = r.documents[i]
      local w, c = tag:match("^w(%d+):c(%d+)$")
      assert.truthy(w, id .. ": " .. tostring(tag))
      assert.are.equal(tag, r.metadatas[i].tag, id)
      assert.are.same({ tonumber(w), tonumber(c) }, { r.embeddings[i][1], r.embeddings[i][2] }, id)
    end
  end)
end)
