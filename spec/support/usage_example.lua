-- Runs one @usage example of the reference (spec/23-docs_spec.lua starts
-- it): `usage_example.lua CODE_FILE SOURCE_FILE`. The example is a program
-- given `seekdb` and `client` (seekdb.Client() on the SEEKDB_* environment,
-- as the reference says). Each `print` is checked against the example's
-- `-->` comments, in order: the values printed, tab-separated, against the
-- comment's text, any run of white space as one space, `...` for any text.
-- Prints "<<usage example ok>>" at the end when all went well.
local code_file, source = assert(arg[1]), assert(arg[2])
local f = assert(io.open(code_file))
local code = f:read("*a")
f:close()

local expected = {}
for line in (code .. "\n"):gmatch("(.-)\n") do
  local e = line:match("%-%->%s*(.-)%s*$")
  if e then expected[#expected + 1] = e end
end

local function squeeze(s)
  return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

local function pattern_of(text)
  local p = squeeze(text):gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("%%%.%%%.%%%.", ".-")
  return "^" .. p .. "$"
end

local printed = {}
local function print_(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  local line = table.concat(parts, "\t")
  printed[#printed + 1] = line
  io.write(line, "\n")
end

local seekdb = require "seekdb"
local client = assert(seekdb.Client())
local env = setmetatable({ seekdb = seekdb, client = client, print = print_ }, { __index = _G })
-- the example's lines keep their numbers in the source file
local first = tonumber(code:match("^%-%- line (%d+)\n")) or 1
local chunk = assert(load(("\n"):rep(first - 2) .. code, "@" .. source, "t", env))
chunk()

if #expected > 0 then
  local problems = {}
  if #printed ~= #expected then
    problems[#problems + 1] = ("%d lines printed, %d `-->` comments"):format(#printed, #expected)
  end
  for i = 1, math.min(#printed, #expected) do
    if not squeeze(printed[i]):find(pattern_of(expected[i])) then
      problems[#problems + 1] = ("print #%d showed %q, its comment says %q"):format(i, printed[i], expected[i])
    end
  end
  if #problems > 0 then error(table.concat(problems, "\n"), 0) end
end
if not client:is_closed() then client:close() end
io.write("<<usage example ok>>\n")
