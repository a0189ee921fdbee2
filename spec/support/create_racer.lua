-- One of several processes that create the same collection at once
-- (spec/18-hardening). Run with the spec's interpreter (the module's ABI):
--
--   lua5.4 spec/support/create_racer.lua CONFIG READY_FILE GO_FILE OUT_FILE
--
-- CONFIG is a Lua file returning { path =, cpath =, options =, name = }. The
-- racer connects, writes READY_FILE, waits for GO_FILE to appear, calls
-- create_collection{ name = name, dimension = 3 } and writes to OUT_FILE
-- (through a rename) "ok", or "fail<TAB>errno<TAB>message".
local config_file, ready_file, go_file, out_file = arg[1], arg[2], arg[3], arg[4]
local config = dofile(config_file)
package.path, package.cpath = config.path, config.cpath
local seekdb = require "seekdb"
local socket = require "socket"

local function write(path, text)
  local f = assert(io.open(path .. ".tmp", "w"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

local client, err = seekdb.Client(config.options)
if not client then
  write(out_file, "fail\t0\tconnect: " .. tostring(err))
  return
end
write(ready_file, "ready")
local deadline = seekdb.now() + 120
while not io.open(go_file) do
  if seekdb.now() > deadline then
    write(out_file, "fail\t0\tno go")
    return
  end
  socket.sleep(0.002)
end
local col, msg, errno = client:create_collection { name = config.name, dimension = 3 }
if col then write(out_file, "ok")
else write(out_file, ("fail\t%s\t%s"):format(tostring(errno), tostring(msg))) end
client:close()
