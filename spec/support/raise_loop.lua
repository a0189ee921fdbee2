-- Misuse errors raised by blocking calls, from a hot loop that LuaJIT
-- compiles: before the fix in call.c's raise_in, LuaJIT kept the call's own
-- thread as its current one after the error, and crashed (segfault) once
-- that thread was collected. Run by spec/17-loops_spec.lua as a process of
-- its own; prints "ok" and exits with 0.
local seekdb = require "seekdb"
local helper = require "helper"
local client = helper.fresh()
local col = assert(client:create_collection { name = "raise", dimension = 3 })
local junk = {}
for i = 1, 2000 do
  for _, method in ipairs { "upsert", "add" } do
    local ok = pcall(col[method], col, { ids = 7, embeddings = { 1, 2, 3 } })
    assert(not ok)
  end
  junk[i % 100 + 1] = { i } -- garbage, so that the collector runs
end
helper.drop(client)
print("ok")
