-- make test-rock: run by lua5.4 and by luajit in a shell that has only
-- `luarocks path` for the tree (arg[1]) and / as its folder. The module must
-- load from that tree, Lua and C parts alike, and be the version of the
-- versioned rockspec (arg[2]).
local tree = assert(arg[1], "usage: rock_check.lua TREE VERSION")
local version = assert(arg[2], "usage: rock_check.lua TREE VERSION")
local seekdb = require "seekdb"
local function from_tree(name, path)
  local file = assert(package.searchpath(name, path), name .. " is not on the path")
  assert(file:sub(1, #tree + 1) == tree .. "/", ("%s loads from %s, not from the tree %s"):format(name, file, tree))
  return file
end
from_tree("seekdb", package.path)
from_tree("seekdb.pretty", package.path)
from_tree("seekdb.loop", package.path)
local core = from_tree("seekdb.core", package.cpath)
assert(seekdb._VERSION == version, ("seekdb._VERSION is %s, the rockspec's %s"):format(tostring(seekdb._VERSION), version))
assert(type(seekdb.now()) == "number" and type(seekdb.Client) == "function")
-- the C core at work without a server: the SQL of a count
assert(require("seekdb.core").sql("mariadb", "count", "c$v1$t")[1]:find("COUNT", 1, true))
print(("%s: seekdb %s, core from %s"):format(rawget(_G, "jit") and jit.version or _VERSION, seekdb._VERSION, core))
