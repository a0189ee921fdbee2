-- A small pool of seekdb clients for one nginx worker process.
--
-- A client runs one call at a time, and a request that waits on the database
-- gives the worker back to other requests meanwhile (loop = "ngx"), so a
-- worker needs as many clients as it has requests inside a call at once.
-- This pool makes them on demand, up to `size`; a request that finds them
-- all lent waits (an ngx.semaphore, in the order requests came) up to
-- `wait_timeout` seconds. A client comes back after the call, unless a
-- timeout closed it or its connection was lost: then it is dropped (with
-- every idle client, for a lost connection), and the next request connects
-- afresh. Clients left idle longer than `idle_timeout` are closed.
--
-- Every worker has its own Lua state, hence its own pool: nginx holds at
-- most `size` connections per worker process. Use it where ngx.sleep may
-- yield (rewrite, access, content, timers); ngx.semaphore cannot wait in the
-- init phases.
local seekdb = require "seekdb"
local semaphore = require "ngx.semaphore"

local Pool = {}
Pool.__index = Pool

-- errnos that say the connection, not the call, is broken
local LOST = { [2006] = true, [2013] = true, [2014] = true, [2055] = true }

local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack

--- pool.new{ client = {seekdb.Client options}, size = 8, wait_timeout = 5,
-- idle_timeout = 60 }: `loop = "ngx"` is added to the client options.
function Pool.new(opts)
  local client = { loop = "ngx" }
  for k, v in pairs(opts.client or {}) do client[k] = v end
  local size = opts.size or 8
  return setmetatable({
    options = client,
    size = size,
    wait_timeout = opts.wait_timeout or 5,
    idle_timeout = opts.idle_timeout or 60,
    slots = assert(semaphore.new(size)),
    idle = {}, -- {client, since}, the most recently used last
    lent = 0,
    data = {}, -- client -> a table of the caller's, forgotten with the client
  }, Pool)
end

-- The clients this request took and has not given back (the log phase
-- closes them: see Pool:reclaim).
local function lent_list()
  local ok, ctx = pcall(function() return ngx.ctx end)
  if not ok then return nil end
  ctx.seekdb_lent = ctx.seekdb_lent or {}
  return ctx.seekdb_lent
end

-- Closes a client and forgets it.
local function drop(self, client)
  self.data[client] = nil
  client:close()
end

--- A client: an idle one, else a new connection. Waits for a free slot.
-- @return client and a table for what the caller keeps with this client (its
-- collection objects: they hold the client), or nil, errmsg, errno
function Pool:get()
  local ok, err = self.slots:wait(self.wait_timeout)
  if not ok then
    return nil, ("all %d database clients of this nginx worker are busy (waited %s s: %s)"):format(
      self.size, self.wait_timeout, err), 1040 -- the server's errno for "too many connections"
  end
  local now, client = ngx.now(), nil
  while #self.idle > 0 do
    local entry = table.remove(self.idle)
    if now - entry.since <= self.idle_timeout then
      client = entry.client
      break
    end
    drop(self, entry.client)
  end
  if not client then
    local errmsg, errno
    ok, client, errmsg, errno = pcall(seekdb.Client, self.options)
    if not ok or not client then
      self.slots:post(1)
      if not ok then error(client, 0) end
      return nil, errmsg, errno
    end
  end
  self.lent = self.lent + 1
  self.data[client] = self.data[client] or {}
  local lent = lent_list()
  if lent then lent[client] = self end
  return client, self.data[client]
end

--- Gives a client back. `errno`: what its last call returned; a lost
-- connection, or one a timeout closed, is dropped instead of kept.
function Pool:put(client, errno)
  local lent = lent_list()
  if lent then lent[client] = nil end
  self.lent = self.lent - 1
  local now = ngx.now()
  if client:is_closed() then -- close(), or a timeout closed it
    drop(self, client)
  elseif LOST[errno] then
    -- the server went away or killed the session: the idle clients most
    -- likely share its fate (a restart, a wait_timeout), so they go too
    drop(self, client)
    for i = #self.idle, 1, -1 do
      drop(self, self.idle[i].client)
      self.idle[i] = nil
    end
  else
    client:set_timeout(self.options.timeout or 0) -- a request may have lowered it
    self.idle[#self.idle + 1] = { client = client, since = now }
  end
  -- the least recently used idle client, if it has been idle too long
  local oldest = self.idle[1]
  if oldest and now - oldest.since > self.idle_timeout then
    table.remove(self.idle, 1)
    drop(self, oldest.client)
  end
  self.slots:post(1)
end

--- Runs fn(client, data, ...) with a client of the pool (and its data
-- table, see get) and gives it back, even when fn raises (the error goes
-- on). Returns what fn returns: results, or nil, errmsg, errno, sqlstate.
function Pool:call(fn, ...)
  local client, data, errno = self:get()
  if not client then return nil, data, errno end
  local r = pack(pcall(fn, client, data, ...))
  self:put(client, r[1] and r[2] == nil and r[4] or nil)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

--- For log_by_lua: a request that ended while a call was in flight (its
-- coroutine was killed: ngx.exit from another light thread, a client abort
-- with lua_check_client_abort on) never gave its client back. Closing it
-- ends the call (the server rolls back what it had begun) and frees the slot.
function Pool.reclaim()
  local ctx = ngx.ctx
  local lent = ctx.seekdb_lent
  if not lent then return end
  ctx.seekdb_lent = nil
  for client, pool in pairs(lent) do
    drop(pool, client)
    pool.lent = pool.lent - 1
    pool.slots:post(1)
  end
end

--- {size =, lent =, idle =}: for a status page.
function Pool:stats()
  return { size = self.size, lent = self.lent, idle = #self.idle }
end

return Pool
