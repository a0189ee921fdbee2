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

local loop = {}

local isyieldable = coroutine.isyieldable

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
local function settle(call, ok, ...)
  if ok then return ... end
  local err = ...
  if call:fail(err) then
    while call:resume() == "wait" do call:wait() end -- "done" raises err
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
  return { sliced = true, run = function(call) return drive(call, wait, pause) end }
end

--- A wait function of the program's own: `fn(fd, events, timeout)` with the
-- socket, "r"/"w"/"rw" and seconds (nil: none); `fd` nil means "only wait
-- for the time" (0: just let others run).
function loop.custom(fn)
  local function wait(call, fd, events, timeout) fn(fd, events, timeout) end
  local function pause() fn(nil, nil, 0) end
  return { sliced = true, run = function(call) return drive(call, wait, pause) end }
end

--- cqueues: the call is a pollable object (pollfd, events, timeout), so a
-- coroutine of a cqueues controller waits on it with cqueues.poll.
function loop.cqueues()
  local cqueues = require "cqueues"
  local function wait(call, fd, _, timeout)
    if not cqueues.running() then return call:wait() end
    if fd then
      if timeout then cqueues.poll(call, timeout) else cqueues.poll(call) end
      -- cqueues keeps a descriptor it polled registered until its next turn;
      -- the call may close this one (a timeout, the client's close): let go
      -- of it now, while it is open
      cqueues.cancel(fd)
    else
      cqueues.sleep(timeout or 0)
    end
  end
  local function pause()
    if cqueues.running() then cqueues.sleep(0) end
  end
  return { sliced = true, run = function(call) return drive(call, wait, pause) end }
end

--- luv (libuv): the coroutine that made the call yields; a poll handle on
-- the call's socket and a timer resume it. Outside a coroutine, or when the
-- loop is not running, the call waits in place.
function loop.luv()
  local uv = require "luv"
  return {
    sliced = true,
    run = function(call)
      local co, main = coroutine.running()
      if not co or main or not isyieldable() then return drive(call, wait_here, nothing) end
      local poll, poll_fd, timer
      local function sleep_until(fd, events, timeout)
        local woken = false
        local function wake()
          if woken then return end
          woken = true
          if poll then poll:stop() end
          timer:stop()
          local ok, err = coroutine.resume(co)
          if not ok then error(err, 0) end
        end
        timer = timer or uv.new_timer()
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
        if timeout or not fd then
          timer:start(math.floor((timeout or 0) * 1000 + 0.5), 0, wake)
        end
        coroutine.yield()
      end
      local function wait(_, fd, events, timeout) sleep_until(fd, events, timeout) end
      local function pause() sleep_until(nil, nil, 0) end
      local function close_handles(...)
        if poll then poll:close() end
        if timer then timer:close() end
        return ...
      end
      return close_handles(drive(call, wait, pause))
    end,
  }
end

-- ngx_lua's phases where ngx.sleep may yield to nginx.
local ngx_yields = { rewrite = true, access = true, content = true, timer = true,
                     ssl_cert = true, ssl_session_fetch = true, preread = true }

--- nginx (ngx_lua): nginx has no way to wait on a foreign socket, so the
-- request's coroutine sleeps (ngx.sleep: other requests run meanwhile) and
-- looks again, 0.5 ms first, up to every 5 ms for a slow statement. Where
-- ngx.sleep is not allowed (init phases), the call waits in place.
function loop.ngx()
  local ngx = rawget(_G, "ngx")
  return {
    sliced = true,
    run = function(call)
      if not ngx or not ngx_yields[ngx.get_phase()] then return drive(call, wait_here, nothing) end
      local delay = 0
      local function wait(_, fd, _, timeout)
        if not fd then
          delay = 0
          return ngx.sleep(timeout or 0)
        end
        local d = delay
        if timeout and timeout < d then d = timeout end
        ngx.sleep(d)
        delay = delay == 0 and 0.0005 or math.min(delay * 2, 0.005)
      end
      local function pause() ngx.sleep(0) end
      return drive(call, wait, pause)
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
