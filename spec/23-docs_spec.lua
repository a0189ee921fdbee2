-- The reference's examples run (issue 14, item 5): every @usage block of
-- the documented Lua files is a program that `make docs` shows and this
-- spec runs, in a process and a database of its own, against the test
-- server; what it prints must be what its `-->` comments say
-- (spec/support/usage_example.lua).
local helper = require "helper"

local FILES = { "lua/seekdb.lua", "lua/seekdb/pretty.lua", "lua/seekdb/loop.lua" }

-- The @usage blocks of a file: {file =, line = (of the first code line), code =}.
local function usages(file)
  local f = assert(io.open(file))
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  local out, i = {}, 1
  while i <= #lines do
    if lines[i]:match("^%s*%-%-+%s*@usage%s*$") then
      local body, first = {}, i + 1
      i = i + 1
      -- the block: the comment lines up to the next tag or the comment's end
      while lines[i] and lines[i]:match("^%s*%-%-") and not lines[i]:match("^%s*%-%-+%s*@%a") do
        body[#body + 1] = lines[i]:gsub("^%s*%-%- ?", "", 1)
        i = i + 1
      end
      assert(#body > 0, file .. ":" .. first - 1 .. ": an empty @usage")
      out[#out + 1] = { file = file, line = first, code = table.concat(body, "\n") }
    else
      assert(not lines[i]:match("@usage"), file .. ":" .. i .. ": write @usage alone on its line, the code below it")
      i = i + 1
    end
  end
  return out
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local examples = {}
for _, file in ipairs(FILES) do
  for _, u in ipairs(usages(file)) do examples[#examples + 1] = u end
end

describe("the reference's @usage examples", function()
  it("are there, one for nearly every function of seekdb", function()
    local n = 0
    for _, u in ipairs(examples) do if u.file == "lua/seekdb.lua" then n = n + 1 end end
    assert.is_true(n >= 35, ("only %d @usage blocks in lua/seekdb.lua"):format(n))
  end)

  it("list every filter operator that src/filter.c knows", function()
    local f = assert(io.open("src/filter.c"))
    local c = f:read("*a")
    f:close()
    f = assert(io.open("lua/seekdb.lua"))
    local doc = f:read("*a")
    f:close()
    local n = 0
    for op in c:gmatch("%$[%a_]*%a") do
      n = n + 1
      assert(doc:find('["' .. op .. '"]', 1, true),
        op .. " is not in the reference's where or where_document table")
    end
    assert.is_true(n >= 15)
  end)

  for _, u in ipairs(examples) do
    it(("%s:%d runs and prints what its comments say"):format(u.file, u.line), function()
      local admin, db = helper.fresh()
      local o = helper.options()
      local tmp = os.tmpname()
      local f = assert(io.open(tmp, "w"))
      f:write("-- line ", u.line, "\n", u.code, "\n")
      f:close()
      local env = {
        "LUA_PATH=" .. shell_quote("lua/?.lua;lua/?/init.lua;" .. package.path),
        "LUA_CPATH=" .. shell_quote(package.cpath),
        "SEEKDB_HOST=" .. shell_quote(o.host), "SEEKDB_PORT=" .. shell_quote(o.port),
        "SEEKDB_USER=" .. shell_quote(o.user), "SEEKDB_PASSWORD=" .. shell_quote(o.password),
        "SEEKDB_DATABASE=" .. shell_quote(db),
      }
      local interpreter = helper.luajit and "luajit" or "lua5.4"
      local pipe = assert(io.popen(("env %s %s spec/support/usage_example.lua %s %s 2>&1"):format(
        table.concat(env, " "), interpreter, tmp, u.file)))
      local out = pipe:read("*a")
      pipe:close()
      os.remove(tmp)
      helper.drop(admin)
      assert(out:find("<<usage example ok>>", 1, true), ("%s:%d:\n%s"):format(u.file, u.line, out))
    end)
  end
end)
