-- examples/collection_api.lua, the file the README's API examples and their
-- output come from, runs to its end against the test server (in a database
-- of its own), so that the README cannot drift from what the API does.
local helper = require "helper"

describe("examples/collection_api.lua", function()
  it("runs to its end and prints what the README shows", function()
    -- written for Lua 5.4 (its integer and bitwise operators)
    if helper.luajit then return pending("Lua 5.4 only") end
    local client, db = helper.fresh()
    local env = {
      ("LUA_PATH=%q"):format("lua/?.lua;" .. package.path),
      ("LUA_CPATH=%q"):format(package.cpath),
      ("SEEKDB_TEST_DATABASE=%q"):format(db),
    }
    local cmd = table.concat(env, " ") .. " lua5.4 examples/collection_api.lua 2>&1"
    local pipe = assert(io.popen(cmd))
    local out = pipe:read("a")
    local ok, how, code = pipe:close()
    helper.drop(client)
    assert(ok, ("%s %s:\n%s"):format(how, tostring(code), out))
    -- a few of the lines the README shows
    for _, line in ipairs {
      "seekdb collection 'articles' (dimension 3, l2 distance)",
      "== fork\narticles_copy\t3\tl2\t2\t2\n1\t2\nnil\tcollection 'notes' already exists\t1050\t42S01",
      "== refresh_index\ntrue\na7",
      "nil\tdatabase 'lseekdb_example' does not exist\t1049\t42000",
      "== clean up\n0",
    } do
      assert.truthy(out:find(line, 1, true), "missing from the output: " .. line .. "\n" .. out)
    end
  end)
end)
