-- A fake MySQL server for spec/16-tls_spec.lua: it speaks just enough of the
-- protocol to see what a client sends to a server that offers no TLS.
--
--   lua fake_mysql.lua SCENARIO CAPTURE_FILE
--
-- It listens on a free port of 127.0.0.1 and prints "ready <port>" on stdout
-- (the spec blocks on that line), accepts one connection, sends a handshake
-- v10 greeting without CLIENT_SSL, then writes every byte it receives after
-- the greeting into CAPTURE_FILE, until the client closes the connection.
-- Last it prints "done <reason> <bytes received>" and exits.
--
-- SCENARIO:
--   plain     greeting with CLIENT_PLUGIN_AUTH (mysql_native_password)
--   clear     the same, and the first packet the client sends is answered
--             with an AuthSwitchRequest to mysql_clear_password
--   noplugin  greeting without CLIENT_PLUGIN_AUTH (the client then picks
--             its plugin by itself), answered as in clear
--
-- Lua 5.1 (LuaJIT) and 5.4; needs LuaSocket. Loopback only.
local socket = require "socket"

local scenario, capture_path = arg[1], arg[2]
assert(scenario == "plain" or scenario == "clear" or scenario == "noplugin", "unknown scenario")
assert(capture_path, "usage: fake_mysql.lua SCENARIO CAPTURE_FILE")

local TIMEOUT = 30 -- seconds: a bound on a broken test, not a way to wait

local function le(n, bytes)
  local t = {}
  for i = 1, bytes do
    t[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(t)
end

local function packet(seq, payload)
  return le(#payload, 3) .. string.char(seq) .. payload
end

-- Capability flags (mysql_com.h); CLIENT_SSL (2048) is never offered.
local LONG_PASSWORD, LONG_FLAG, CONNECT_WITH_DB = 1, 4, 8
local PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION = 512, 8192, 32768
local MULTI_STATEMENTS, MULTI_RESULTS, PLUGIN_AUTH = 65536, 131072, 524288

local function greeting(plugin_auth)
  local caps = LONG_PASSWORD + LONG_FLAG + CONNECT_WITH_DB + PROTOCOL_41 + TRANSACTIONS
    + SECURE_CONNECTION + MULTI_STATEMENTS + MULTI_RESULTS + (plugin_auth and PLUGIN_AUTH or 0)
  local scramble = "abcdefghijklmnopqrst" -- 20 bytes
  return packet(0, table.concat {
    "\10", "5.5.5-11.8.0-MariaDB-fake\0", le(42, 4),
    scramble:sub(1, 8), "\0",
    le(caps % 65536, 2), "\45", le(2, 2), le(math.floor(caps / 65536), 2),
    string.char(plugin_auth and 21 or 0), ("\0"):rep(10),
    scramble:sub(9), "\0",
    plugin_auth and "mysql_native_password\0" or "",
  })
end

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(TIMEOUT)
local _, port = server:getsockname()
io.stdout:write("ready ", port, "\n")
io.stdout:flush()

local client = assert(server:accept())
server:close()
client:settimeout(TIMEOUT)
assert(client:send(greeting(scenario ~= "noplugin")))

local capture = assert(io.open(capture_path, "wb"))
local received, switched, reason = "", false, nil
while true do
  local data, err, partial = client:receive(1)
  data = data or partial
  if data and #data > 0 then
    capture:write(data)
    capture:flush()
    received = received .. data
  end
  if err then
    reason = err -- "closed" when the client hung up
    break
  end
  -- The first whole packet is the handshake response: ask for the password.
  if not switched and scenario ~= "plain" and #received >= 4 then
    local b1, b2, b3, seq = received:byte(1, 4)
    if #received >= 4 + b1 + b2 * 256 + b3 * 65536 then
      switched = true
      assert(client:send(packet(seq + 1, "\254mysql_clear_password\0")))
    end
  end
end
capture:close()
client:close()
io.stdout:write("done ", reason, " ", #received, "\n")
