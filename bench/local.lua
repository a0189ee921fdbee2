-- What local mode costs (issue 14): the time to a first client on a new
-- folder (its system tables made), on a folder with data whose server has
-- stopped, and on a running server; the server's memory; what the folder
-- holds. `make bench-local` runs it and writes bench/local.md; figures
-- only, never a failure on time. Each figure is the median of ROUNDS.
--   lua5.4 bench/local.lua [rounds]
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("BENCH_MODULE") and os.getenv("BENCH_MODULE"):gsub("seekdb/core%.so$", "?.so") .. ";"
  or "") .. "./?.so;" .. package.cpath
local seekdb = require "seekdb"

local ROUNDS = tonumber(arg[1]) or 5
local IDLE = 1

local sh = dofile("bench/report.lua").sh

local function read(path) -- a file's text, or nil
  local f = io.open(path, "rb")
  return f and f:read("*a")
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- Waits until the folder's server and its watchdog have stopped.
local processes = require("seekdb.localserver").processes
local function stopped(dir)
  local deadline = seekdb.now() + 60
  while processes(dir) or select(2, processes(dir)) do
    assert(seekdb.now() < deadline, "the server of " .. dir .. " did not stop")
    seekdb.sleep(0.05)
  end
end

local function timed(dir)
  local t = seekdb.now()
  local c = assert(seekdb.Client { path = dir, local_idle = IDLE })
  return seekdb.now() - t, c
end

local base = sh("mktemp -d"):gsub("%s+$", "")
local fresh, restart, attach, rss = {}, {}, {}, {}
local disk, files
for r = 1, ROUNDS do
  local dir = ("%s/db%d"):format(base, r)
  local t, c = timed(dir)
  fresh[r] = t
  local col = assert(c:create_collection { name = "notes", dimension = 4 })
  assert(col:upsert { ids = { "a" }, embeddings = { { 1, 2, 3, 4 } } })
  local pid = read(dir .. "/mariadbd.pid"):match("%d+")
  rss[r] = tonumber(read("/proc/" .. pid .. "/status"):match("VmRSS:%s*(%d+)")) / 1024
  local t2, d = timed(dir)
  attach[r] = t2
  d:close()
  c:close()
  stopped(dir)
  local t3, e = timed(dir)
  restart[r] = t3
  e:close()
  stopped(dir)
  if r == 1 then
    disk = sh(("du -sm %q | cut -f1"):format(dir)):gsub("%s+$", "")
    files = sh(("cd %q && ls | tr '\\n' ' '"):format(dir)):gsub("%s+$", "")
  end
end
os.execute(("rm -rf %q"):format(base))

local v = assert(seekdb.Client { path = base .. "-v", local_idle = IDLE })
local version = v:info().version
v:close()
local load = (read("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)")
local cpu = sh("nproc"):gsub("%s+$", "")
local lines = {
  "# Local mode: what it costs",
  "",
  ("`make bench-local` (bench/local.lua), %s, %s CPUs, load average %s; median of %d rounds;"):format(
    os.date("!%Y-%m-%d"), cpu, load, ROUNDS),
  ("server: %s."):format(version),
  "",
  "| what | figure |",
  "|---|---|",
  ("| first client on a new folder (system tables made, server started) | %.2f s |"):format(median(fresh)),
  ("| first client on a folder with data, its server stopped | %.2f s |"):format(median(restart)),
  ("| a client of a running server (files read, connected) | %.2f ms |"):format(median(attach) * 1000),
  ("| the server's resident memory, one small collection | %.0f MB |"):format(median(rss)),
  ("| the folder on disk, one small collection | %s MB |"):format(disk),
  ("| the folder's files (server stopped) | %s |"):format(files),
}
stopped(base .. "-v")
os.execute(("rm -rf %q"):format(base .. "-v"))
local text = table.concat(lines, "\n") .. "\n"
io.write(text)
local f = assert(io.open("bench/local.md", "w"))
f:write(text)
f:close()
