-- Local mode (issue 14): seekdb.Client{ path = ... } starts or finds a
-- private server for a folder. Each spec works on a folder of its own and
-- waits on what it can see (the server's pid file, its process), never on a
-- fixed sleep. The server binary is the one `make test` has already
-- (scripts/testdb's download in .cache/, or a mariadbd 11.7+ on PATH).
local seekdb = require "seekdb"
local helper = require "helper"

local IDLE = 1 -- seconds: the servers of these specs stop soon after their last client

local preload = os.getenv("LD_PRELOAD") or ""
-- valgrind's preload works only under valgrind; a sanitizer's is needed
local env_prefix = preload:find("vgpreload", 1, true) and "env -u LD_PRELOAD " or "env "

local function interpreter()
  return helper.luajit and (os.getenv("LUAJIT") or "luajit") or (os.getenv("LUA") or "lua5.4")
end

local cwd = assert(os.getenv("PWD"))

-- package.path/cpath with the checkout's relative entries made absolute, so
-- that a child in another folder loads the same module
local function absolute(paths)
  return (paths:gsub("([^;]+)", function(p)
    if p:sub(1, 1) == "/" then return p end
    return cwd .. "/" .. p
  end))
end

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(path) -- a file's text, or nil
  local f = io.open(path, "rb")
  return f and f:read("*a")
end

local function pid_of(path) return tonumber((read(path) or ""):match("%d+")) end

-- the folder's live server and watchdog (pids or nil)
local processes = require("seekdb.localserver").processes

local function alive(pid)
  local stat = pid and read("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() Z")
end

-- Waits (up to `limit` seconds) until `fn()` is true; false if it never is.
local function until_true(fn, limit)
  local deadline = seekdb.now() + (limit or 30)
  while not fn() do
    if seekdb.now() > deadline then return false end
    seekdb.sleep(0.05)
  end
  return true
end

local folders = {} -- every folder a spec used: servers killed, folder removed at the end
local function new_folder()
  local f = os.tmpname()
  os.remove(f)
  folders[#folders + 1] = f .. ".d"
  return f .. ".d"
end

-- A folder's server stopped, by its watchdog (after IDLE) or by a kill.
local function stopped(dir)
  return until_true(function()
    local server, watchdog = processes(dir)
    return not server and not watchdog
  end, 60)
end

-- Runs Lua code in a child process (in folder `where`; `env`: env(1)'s
-- options, unsets first); its output and whether it exited with 0.
local function child(code, where, env)
  local cmd = ("cd %s && %s %s LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>&1"):format(shq(where or cwd), env_prefix,
    env or "", shq(absolute(package.path)), shq(absolute(package.cpath)), interpreter(), shq(code))
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  return out, p:close()
end

-- os.execute's success under Lua 5.4 (true) and LuaJIT (0); the command
-- runs without the sanitizers' or valgrind's preload (LeakSanitizer would
-- fail `cp` for its own leaks)
local function ran(cmd)
  local r = os.execute("env -u LD_PRELOAD sh -c " .. shq(cmd))
  return r == true or r == 0
end

local function kill(pid, signal)
  os.execute(("kill -%s %d 2>/dev/null"):format(signal or "KILL", pid))
end

describe("local mode", function()
  teardown(function()
    for _, dir in ipairs(folders) do
      for _, name in ipairs { "watchdog.pid", "mariadbd.pid" } do
        local pid = pid_of(dir .. "/" .. name)
        if alive(pid) then kill(pid) end
      end
      os.execute("rm -rf " .. shq(dir))
    end
  end)

  it("starts a server for a folder, stops it after its last client, and keeps the data", function()
    local dir = new_folder()
    local c = assert(seekdb.Client { path = dir, local_idle = IDLE })
    assert.matches("via " .. dir, tostring(c), 1, true)
    local col = assert(c:create_collection { name = "notes", dimension = 3 })
    assert(col:upsert { ids = { "a", "b" }, embeddings = { { 1, 0, 0 }, { 0, 1, 0 } }, documents = { "x", "y" } })
    local pid = pid_of(dir .. "/mariadbd.pid")
    assert.is_true(alive(pid))
    c:close()
    assert.is_true(stopped(dir), "the server did not stop after its last client")
    assert.is_nil(read(dir .. "/mariadbd.pid"))
    local again = assert(seekdb.Client { path = dir, local_idle = IDLE })
    assert.are_not.equal(pid, pid_of(dir .. "/mariadbd.pid"))
    local got = assert(assert(again:get_collection("notes")):get { ids = { "a", "b" } })
    assert.are.same({ "a", "b" }, got.ids)
    assert.are.same({ "x", "y" }, got.documents)
    again:close()
    assert.is_true(stopped(dir))
  end)

  it("serves several clients and processes from one server, started once", function()
    local dir = new_folder()
    local code = ([[
      local seekdb = require "seekdb"
      local c = assert(seekdb.Client { path = %q, local_idle = %d })
      local col = assert(c:get_or_create_collection { name = "shared", dimension = 2 })
      assert(col:upsert { ids = { "p" .. arg[1] }, embeddings = { { 1, 2 } } })
      print("ok")
    ]]):format(dir, IDLE)
    -- three processes at once on an empty folder: one server, one bootstrap
    local pipes = {}
    for i = 1, 3 do
      local cmd = ("%s LUA_PATH=%s LUA_CPATH=%s %s -e %s /dev/null %d 2>&1"):format(env_prefix,
        shq(absolute(package.path)), shq(absolute(package.cpath)), interpreter(), shq(code), i)
      pipes[i] = assert(io.popen(cmd))
    end
    local a = assert(seekdb.Client { path = dir, local_idle = IDLE })
    local b = assert(seekdb.Client { path = dir, local_idle = IDLE })
    for i = 1, 3 do
      assert.are.equal("ok\n", pipes[i]:read("*a"))
      pipes[i]:close()
    end
    local col = assert(a:get_collection("shared"))
    assert.are.equal(3, col:count())
    -- pyseekdb's AdminClient(path=...): the same folder's server
    local admin = assert(seekdb.AdminClient { path = dir, local_idle = IDLE })
    assert.are.equal("test", assert(admin:get_database("test")).name)
    admin:close()
    assert.are.equal(3, assert(assert(b:get_collection("shared")):count()))
    local log = read(dir .. "/mariadbd.log") or ""
    local _, starts = log:gsub("ready for connections", "")
    assert.are.equal(1, starts, "one server only")
    assert.is_nil(read(dir .. "/mariadbd.log.1"), "one server only")
    a:close()
    b:close()
    assert.is_true(stopped(dir))
  end)

  it("starts again after the server, its watchdog or a starter was killed", function()
    local dir = new_folder()
    local c = assert(seekdb.Client { path = dir, local_idle = IDLE })
    local col = assert(c:create_collection { name = "kept", dimension = 2 })
    assert(col:upsert { ids = { "k" }, embeddings = { { 1, 1 } } })
    c:close()
    -- the watchdog killed: the server lives on; the next client watches it again
    local watchdog, server = pid_of(dir .. "/watchdog.pid"), pid_of(dir .. "/mariadbd.pid")
    kill(watchdog)
    assert.is_true(until_true(function() return not alive(watchdog) end))
    c = assert(seekdb.Client { path = dir, local_idle = IDLE })
    assert.are.equal(server, pid_of(dir .. "/mariadbd.pid"))
    assert.is_true(until_true(function() return alive(pid_of(dir .. "/watchdog.pid")) end))
    -- the server killed under a client: the next client starts a new one
    -- (crash recovery keeps the committed row)
    kill(server)
    assert.is_true(until_true(function() return not alive(server) end))
    c:close()
    local d = assert(seekdb.Client { path = dir, local_idle = IDLE })
    assert.are_not.equal(server, pid_of(dir .. "/mariadbd.pid"))
    assert.are.equal(1, assert(assert(d:get_collection("kept")):count()))
    d:close()
    assert.is_true(stopped(dir))
    -- a starter killed while it held the lock: a flock dies with its
    -- process, nothing stale is left; a pid file naming another process is
    -- not mistaken for the server
    local lock = shq(dir .. "/lock")
    local p = assert(io.popen(("sh -c 'exec 9>>\"$1\"; flock 9; exec sleep 600' _ %s >/dev/null 2>&1 & echo $!")
      :format(lock)))
    local holder = tonumber(p:read("*l"))
    p:close()
    assert.is_true(until_true(function() return not ran("flock -n " .. lock .. " true") end))
    kill(holder)
    assert.is_true(until_true(function() return not alive(holder) end))
    local f = assert(io.open(dir .. "/mariadbd.pid", "w"))
    f:write("1\n")
    f:close()
    local e = assert(seekdb.Client { path = dir, local_idle = IDLE })
    assert.are.equal(1, assert(assert(e:get_collection("kept")):count()))
    e:close()
    assert.is_true(stopped(dir))
  end)

  it("says what to do when there is no server binary", function()
    local dir = new_folder()
    local c, err = seekdb.Client { path = dir, mariadbd = "/nonexistent/mariadbd" }
    assert.is_nil(c)
    assert.matches("the option mariadbd = /nonexistent/mariadbd: no such file", err, 1, true)
    -- no mariadbd anywhere: the module copied out of the checkout, no cache,
    -- a PATH without one
    local lib = new_folder()
    assert(ran(("mkdir -p %s/seekdb && cp lua/seekdb.lua %s/ && cp lua/seekdb/*.lua %s/seekdb/"):format(
      shq(lib), shq(lib), shq(lib))))
    local out = child(([[
      package.path = %q .. "/?.lua;" .. package.path
      local seekdb = require "seekdb"
      print(select(2, seekdb.Client { path = %q }))
    ]]):format(lib, dir), "/", "-u SEEKDB_CACHE_DIR -u XDG_CACHE_HOME -u SEEKDB_MARIADBD HOME="
      .. shq(lib) .. " PATH=/usr/bin:/bin")
    if out:find("found none", 1, true) then
      assert.matches("scripts/testdb fetch", out, 1, true)
      assert.matches("apt-get install mariadb-server", out, 1, true)
      assert.matches("SEEKDB_MARIADBD", out, 1, true)
    else -- this machine has a mariadbd 11.7+ in /usr/sbin: local mode found it
      assert.matches("^nil", out)
    end
  end)

  it("raises for options that do not go with a folder", function()
    assert.has_error(function() seekdb.Client { path = "x", host = "127.0.0.1" } end,
      "bad argument #1 to 'Client' (option 'host' is for a server; 'path' is local mode (a private server "
        .. "reached through a unix socket in that folder): give one or the other)")
    assert.has_error(function() seekdb.Client { path = "x", ssl = true } end)
    assert.has_error(function() seekdb.Client { path = "" } end,
      "bad argument #1 to 'Client' (option 'path' must be a folder name (a non-empty string))")
    assert.has_error(function() seekdb.Client { path = "x", local_idle = 0 } end,
      "bad argument #1 to 'Client' (option 'local_idle' must be a number of seconds, 1 to 86400)")
  end)

  it("is what Client() means with no server named, as in pyseekdb (./seekdb.db)", function()
    local where = new_folder()
    assert(ran("mkdir -p " .. shq(where)))
    local out, ok = child(([[
      local seekdb = require "seekdb"
      local c = assert(seekdb.Client { local_idle = %d })
      print(c:info().dialect)
      c:close()
    ]]):format(IDLE), where, "-u SEEKDB_HOST -u SEEKDB_PORT -u SEEKDB_SOCKET -u SEEKDB_PATH")
    assert.is_truthy(ok, out)
    assert.are.equal("mariadb\n", out)
    assert.is_truthy(read(where .. "/seekdb.db/socket") or read(where .. "/seekdb.db/lock"))
    -- SEEKDB_PATH names another folder
    out, ok = child(([[
      local seekdb = require "seekdb"
      local c = assert(seekdb.Client { local_idle = %d })
      print(tostring(c):match("via (%%S+)"))
    ]]):format(IDLE), where, "-u SEEKDB_HOST -u SEEKDB_PORT -u SEEKDB_SOCKET SEEKDB_PATH=other")
    assert.is_truthy(ok, out)
    assert.matches("/other/mariadbd.sock", out, 1, true)
    table.insert(folders, 1, where .. "/other")
    table.insert(folders, 1, where .. "/seekdb.db")
    assert.is_true(stopped(where .. "/seekdb.db"))
    assert.is_true(stopped(where .. "/other"))
  end)

  it("starts a server without blocking a loop (yield, cqueues)", function()
    local dir = new_folder()
    local yields = 0
    local co = coroutine.wrap(function()
      local c = assert(seekdb.Client { path = dir, local_idle = IDLE, loop = "yield" })
      local n = assert(assert(c:get_or_create_collection { name = "y", dimension = 2 }):count())
      c:close()
      return n
    end)
    local n = co()
    while n == nil do
      yields = yields + 1
      seekdb.sleep(0.005)
      n = co()
    end
    assert.are.equal(0, n)
    assert.is_true(yields > 10, "the start yielded to the loop while the server started")
    assert.is_true(stopped(dir))

    local cqueues = require "cqueues"
    local cq = cqueues.new()
    local ticks, done = 0, false
    local dir2 = new_folder()
    cq:wrap(function()
      local c = assert(seekdb.Client { path = dir2, local_idle = IDLE, loop = "cqueues" })
      assert(c:get_or_create_collection { name = "q", dimension = 2 })
      c:close()
      done = true
    end)
    cq:wrap(function()
      while not done do
        ticks = ticks + 1
        cqueues.sleep(0.01)
      end
    end)
    assert(cq:loop())
    assert.is_true(done)
    assert.is_true(ticks > 10, "the ticker ran while the server started")
    assert.is_true(stopped(dir2))
  end)
end)

describe("the README's examples in local mode", function()
  local readme = assert(read("README.md"))

  -- The first ```lua block after a heading.
  local function block(heading)
    local at = assert(readme:find("\n" .. heading .. "\n", 1, true), "no heading " .. heading)
    return assert(readme:match("```lua\n(.-)```", at), "no lua block after " .. heading)
  end

  local function squeeze(t) return (t:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end

  for _, heading in ipairs { "## Using it", "## Local mode" } do
    it(heading:sub(4) .. ": runs, and prints what its --> comments say", function()
      local code = block(heading)
      local where = new_folder()
      assert(ran("mkdir -p " .. shq(where)))
      table.insert(folders, 1, where .. "/mydb")
      local out, ok = child(code, where, "-u SEEKDB_HOST -u SEEKDB_PORT -u SEEKDB_SOCKET -u SEEKDB_PATH "
        .. "SEEKDB_LOCAL_IDLE=" .. IDLE)
      assert.is_truthy(ok, out)
      local printed = {}
      for line in out:gmatch("[^\n]+") do printed[#printed + 1] = squeeze(line) end
      local said = {}
      for comment in code:gmatch("%-%->%s*([^\n]*)") do said[#said + 1] = squeeze(comment) end
      assert.are.equal(#said, #printed, out)
      for i, p in ipairs(printed) do
        -- a comment may go on after the value ("0.40000000596046 (float32)")
        assert.are.equal(p, said[i]:sub(1, #p), ("line %d printed %q, its comment says %q"):format(i, p, said[i]))
      end
      assert.is_true(stopped(where .. "/mydb"))
    end)
  end
end)

describe("a failed connect", function()
  -- a TCP port with nothing listening: bound, never listened on
  local socket = require "socket"
  local s = assert(socket.tcp())
  assert(s:bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  teardown(function() s:close() end)

  it("says what it tried, where each value came from, and what to do", function()
    local c, err, errno = seekdb.Client { host = "127.0.0.1", port = tonumber(port), connect_timeout = 5 }
    assert.is_nil(c)
    assert.is_true(errno == 2002 or errno == 2003, "errno " .. tostring(errno))
    assert.matches(("[tried 127.0.0.1 port %d: host from host =, port from port =]"):format(port), err, 1, true)
    assert.matches("SEEKDB_PORT", err, 1, true)
    assert.matches('path = "./mydb" for local mode', err, 1, true)
    local out = child([[
      local seekdb = require "seekdb"
      print(select(2, seekdb.Client { connect_timeout = 5 }))
    ]], nil, ("-u SEEKDB_SOCKET SEEKDB_HOST=127.0.0.1 SEEKDB_PORT=%d"):format(port))
    assert.matches(("tried 127.0.0.1 port %d: host from SEEKDB_HOST, port from SEEKDB_PORT"):format(port), out, 1,
      true)
  end)

  it("explains host = 'localhost' (the default unix socket)", function()
    local c, err = seekdb.Client { host = "localhost", port = tonumber(port), connect_timeout = 5 }
    if c then -- this machine has a server on the default socket
      c:close()
      return
    end
    assert.matches("host 'localhost' (from host =) means the default unix socket", err, 1, true)
    assert.matches('host = "127.0.0.1" for TCP', err, 1, true)
  end)
end)
