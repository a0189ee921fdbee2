--- How a call waits: one driver per host loop.
--
-- A call started with `conn:start(...)` says what it needs with
-- `call:resume()`: `"wait"` (on its socket, or only for a time), `"embed"`
-- (the embedding function must run on a list of texts), `"yield"` (its slice
-- of work is used up) or `"done"` with its results. A driver answers: it
-- waits the way its host does, and calls embedding functions from Lua, so
-- they may yield too (a cosocket, a cqueues socket, `coroutine.yield`).
--
-- Where the host cannot wait (no coroutine of the loop is running: a REPL,
-- an init phase), the call waits in place, as the blocking form does.
-- @module seekdb.loop

local core = require "seekdb.core"

local loop = {}

local isyieldable = coroutine.isyieldable
local sleep_here = core.sleep

-- Runs a started call to its end: its results, as the blocking form returns them.
local function finish(call, wait, pause, st, ...)
  if st == "done" then return ... end
  if st == "embed" then
    local fn, texts = ...
    return finish(call, wait, pause, call:resume(pcall(fn, texts)))
  end
  if st == "wait" then wait(call, ...) else pause(call) end
  return finish(call, wait, pause, call:resume())
end

local function start(call, wait, pause)
  return finish(call, wait, pause, call:resume())
end

-- An error raised out of the driver (its own code, the host's wait, a
-- finalizer that runs meanwhile, memory) must not leave the call
-- unfinished, its client busy: the call fails with it, ends in place (its
-- statement awaited, its transaction rolled back), and the error goes on.
-- Ending it is protected too: a finalizer may raise again in any of these
-- steps (LuaJIT runs them wherever the collector does), and each is taken
-- again until call:fail says the call has no end left to drive to (its
-- "done" raised err). The call's own deadline bounds the waits.
local SETTLE_STEPS = 100000

local function settle(call, ok, ...)
  if ok then return ... end
  local err = ...
  for _ = 1, SETTLE_STEPS do
    local asked, more = pcall(call.fail, call, err)
    if asked and not more then break end
    if asked then
      local resumed, st = pcall(call.resume, call)
      if resumed and st == "wait" then pcall(call.wait, call) end
    end
  end
  error(err, 0)
end

local function drive(call, wait, pause)
  return settle(call, pcall(start, call, wait, pause))
end

local function wait_here(call) call:wait() end
local function nothing() end

--- The blocking form, driven from Lua: waits in place, but the embedding
-- function is called from Lua (a coroutine's caller may yield inside it).
function loop.blocking()
  return {
    sliced = false,
    run = function(call) return drive(call, wait_here, nothing) end,
    -- every driver's sleep(seconds): a pause where no call runs (local mode
    -- waiting for its server to start), taken the way the host waits
    sleep = sleep_here,
  }
end

--- Each wait yields the running coroutine with no values; whoever resumes
-- it (a game loop, once a frame) lets the call go on. Outside a coroutine,
-- the call waits in place.
function loop.yield()
  local function wait(call)
    if isyieldable() then coroutine.yield() else call:wait() end
  end
  local function pause()
    if isyieldable() then coroutine.yield() end
  end
  return {
    sliced = true,
    run = function(call) return drive(call, wait, pause) end,
    sleep = function(seconds)
      if isyieldable() then coroutine.yield() else sleep_here(seconds) end
    end,
  }
end

--- A wait function of the program's own: `fn(fd, events, timeout)` with the
-- socket, "r"/"w"/"rw" and seconds (nil: none); `fd` nil means "only wait
-- for the time" (0: just let others run).
function loop.custom(fn)
  local function wait(call, fd, events, timeout) fn(fd, events, timeout) end
  local function pause() fn(nil, nil, 0) end
  return {
    sliced = true,
    run = function(call) return drive(call, wait, pause) end,
    sleep = function(seconds) fn(nil, nil, seconds) end,
  }
end

--- cqueues: the call is a pollable object (pollfd, events, timeout), so a
-- coroutine of a cqueues controller waits on it with cqueues.poll.
function loop.cqueues()
  local cqueues = require "cqueues"
  local current -- the call this client runs
  local function wait(call, fd, _, timeout)
    if not cqueues.running() then return call:wait() end
    if fd then
      if timeout then cqueues.poll(call, timeout) else cqueues.poll(call) end
      -- cqueues keeps a descriptor it polled registered until its next turn;
      -- the call may close this one (a timeout, the client's close): let go
      -- of it now, while it is open (closed under us, the call has no
      -- socket any more, and the number may be another's already)
      if call:pollfd() == fd then cqueues.cancel(fd) end
    else
      cqueues.sleep(timeout or 0)
    end
  end
  local function pause()
    if cqueues.running() then cqueues.sleep(0) end
  end
  local function done(...)
    current = nil
    return ...
  end
  return {
    sliced = true,
    run = function(call)
      current = call
      return done(drive(call, wait, pause))
    end,
    sleep = function(seconds)
      if cqueues.running() then cqueues.sleep(seconds) else sleep_here(seconds) end
    end,
    -- The client is closing (from another coroutine): the coroutine that
    -- waits on its socket wakes up, and cqueues lets go of the socket while
    -- it is still open (a descriptor closed under cqueues' poll fails the
    -- whole controller: "unable to update event disposition").
    stop_waiting = function()
      local fd = current and current:pollfd()
      if fd then cqueues.cancel(fd) end
    end,
  }
end

--- luv (libuv): the coroutine that made the call yields; a poll handle on
-- the call's socket and a timer resume it, or an idle handle when the call
-- only lets others run (the end of a slice). Outside a coroutine the call
-- waits in place.
function loop.luv()
  local uv = require "luv"
  local pack = table.pack or function(...) return { n = select("#", ...), ... } end
  local unpack = table.unpack or unpack
  local interrupt -- wakes the coroutine that waits, if one does
  return {
    sliced = true,
    run = function(call)
      local co, main = coroutine.running()
      if not co or main or not isyieldable() then return drive(call, wait_here, nothing) end
      local poll, poll_fd, timer, idle
      local function sleep_until(fd, events, timeout)
        local woken = false
        local function wake()
          if woken then return end
          woken = true
          interrupt = nil
          if poll then poll:stop() end
          if timer then timer:stop() end
          if idle then idle:stop() end
          local ok, err = coroutine.resume(co)
          if not ok then error(err, 0) end
        end
        interrupt = function()
          if poll then poll:stop() end -- while the socket is open
          idle = idle or uv.new_idle()
          idle:start(wake)
        end
        local ms = timeout and math.floor(timeout * 1000 + 0.5)
        if fd then
          if poll and poll_fd ~= fd then
            poll:close()
            poll = nil
          end
          if not poll then
            poll, poll_fd = uv.new_poll(fd), fd
          end
          poll:start(events == "rw" and "rw" or events, wake)
        end
        if not fd and (ms or 0) == 0 then
          -- one turn of the loop (its timers, its I/O), then on: a 0 ms timer
          -- would run again in the same pass over the timers (libuv before
          -- 1.45 runs every timer that is due when it looks, and its clock
          -- stands still meanwhile), starving the program's own timers
          idle = idle or uv.new_idle()
          idle:start(wake)
        elseif ms then
          timer = timer or uv.new_timer()
          timer:start(ms, 0, wake)
        end
        coroutine.yield()
      end
      local function wait(_, fd, events, timeout) sleep_until(fd, events, timeout) end
      local function pause() sleep_until(nil, nil, 0) end
      local r = pack(pcall(drive, call, wait, pause))
      interrupt = nil
      if poll then poll:close() end
      if timer then timer:close() end
      if idle then idle:close() end
      if not r[1] then error(r[2], 0) end
      return unpack(r, 2, r.n)
    end,
    -- The client is closing (from another coroutine, or a callback): the
    -- coroutine that waits on its socket is woken on the loop's next turn,
    -- and finds its call ended.
    stop_waiting = function()
      if interrupt then interrupt() end
    end,
    sleep = function(seconds)
      local co, main = coroutine.running()
      if not co or main or not isyieldable() then return sleep_here(seconds) end
      local timer = uv.new_timer()
      timer:start(math.floor(seconds * 1000 + 0.5), 0, function()
        timer:close()
        local ok, err = coroutine.resume(co)
        if not ok then error(err, 0) end
      end)
      coroutine.yield()
    end,
  }
end

-- ngx_lua's phases where ngx.sleep may yield to nginx.
local ngx_yields = { rewrite = true, access = true, content = true, timer = true,
                     ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true }

-- ngx.sleep counts whole milliseconds: less is 0, a 0 ms timer, for which
-- stock ngx_lua (without OpenResty's delayed-events patch to nginx) writes
-- a warning to the error log every time. Its waits are 1 ms at least.
local MS = 0.001

--- The longest the ngx driver sleeps between two looks at a slow statement
-- (seconds).
loop.ngx_max_sleep = 0.005

--- The name of an nginx `thread_pool` whose threads wait on the database
-- sockets for the ngx driver, each for a few milliseconds at a time (nil:
-- it only polls with timers). See loop.ngx.
loop.ngx_thread_pool = nil

local poll_fd -- ffi's poll, in a pool thread's LuaJIT

--- Runs in a pool thread (ngx.run_worker_thread): waits until the socket fd
-- is ready for events ("r", "w", "rw") or timeout seconds pass.
function loop.ngx_poll(fd, events, timeout)
  if not poll_fd then
    local ffi = require "ffi"
    pcall(ffi.cdef, "struct seekdb_pollfd { int fd; short events; short revents; };")
    pcall(ffi.cdef, "int poll(struct seekdb_pollfd *fds, unsigned long nfds, int timeout);")
    local p = ffi.new("struct seekdb_pollfd[1]")
    local C = ffi.C
    poll_fd = function(f, ev, ms)
      p[0].fd, p[0].revents = f, 0
      p[0].events = (ev:find("r", 1, true) and 1 or 0) + (ev:find("w", 1, true) and 4 or 0) -- POLLIN, POLLOUT
      return C.poll(p, 1, ms)
    end
  end
  poll_fd(fd, events or "r", math.floor((timeout or 0) * 1000 + 0.5))
  return true
end

local function post(_, sem) sem:post(1) end

-- the phases where ngx.run_worker_thread may be called
local ngx_threads = { rewrite = true, access = true, content = true }

--- nginx (ngx_lua): nginx cannot wait on a socket it did not open, so the
-- request's coroutine sleeps (ngx.sleep: other requests run meanwhile) and
-- looks again. Per statement: one turn of nginx's event loop first, then
-- sleeps of half the time the statement has taken so far, 1 ms at least
-- (nginx's timers count whole milliseconds) and loop.ngx_max_sleep (5 ms) at
-- most. Between slices of a long call's own work, one turn of the loop.
-- With loop.ngx_thread_pool set, a thread of that pool waits on the socket
-- for the first loop.ngx_max_sleep of each statement instead
-- (ngx.run_worker_thread): a fast statement wakes its request as soon as the
-- server answers; a slow one gives the thread back and is polled with
-- timers. Where ngx.sleep is not allowed (init phases, pool threads), the
-- call waits in place.
function loop.ngx()
  local ngx = rawget(_G, "ngx")
  return {
    sliced = true,
    run = function(call)
      local phase = ngx and ngx.get_phase and ngx.get_phase()
      if not ngx_yields[phase] then return drive(call, wait_here, nothing) end
      local sem, last
      -- one turn of the event loop: a 0 ms timer wakes this coroutine
      local function turn()
        sem = sem or require("ngx.semaphore").new()
        if ngx.timer.at(0, post, sem) then sem:wait(1) else ngx.sleep(MS) end
      end
      local function wait(_, fd, events, timeout, waited)
        if not fd then return ngx.sleep(math.max(timeout or 0, MS)) end
        waited = waited or 0
        local pool, span = loop.ngx_thread_pool, loop.ngx_max_sleep
        if pool and ngx_threads[phase] and span - waited >= MS then -- a pool thread waits for the first few ms
          local t = span - waited
          if timeout and timeout < t then t = timeout end
          local ok, err = ngx.run_worker_thread(pool, "seekdb.loop", "ngx_poll", fd, events, t)
          if ok then return end
          loop.ngx_thread_pool = nil
          ngx.log(ngx.WARN, "seekdb: waiting with timers: thread pool '", pool, "' failed: ", err)
        end
        if not last or waited < last then -- a new statement
          last = waited
          return turn()
        end
        last = waited
        local d = math.min(math.max(waited * 0.5, MS), loop.ngx_max_sleep)
        if timeout and timeout < d then d = math.max(timeout, MS) end
        ngx.sleep(d)
      end
      return drive(call, wait, turn)
    end,
    sleep = function(seconds)
      local phase = ngx and ngx.get_phase and ngx.get_phase()
      if ngx_yields[phase] then ngx.sleep(math.max(seconds, MS)) else sleep_here(seconds) end
    end,
  }
end

--- The driver for a client's `loop` option: nil (blocking), "cqueues",
-- "luv", "ngx", "yield", or a function (a wait of the program's own).
function loop.for_option(option)
  if option == nil or option == "blocking" then return nil end
  if type(option) == "function" then return loop.custom(option) end
  local make = ({ cqueues = loop.cqueues, luv = loop.luv, ngx = loop.ngx, yield = loop.yield })[option]
  if not make then return nil, "loop must be \"cqueues\", \"luv\", \"ngx\", \"yield\" or a function" end
  return make()
end

loop.drive = drive

return loop
