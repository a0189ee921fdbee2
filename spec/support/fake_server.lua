-- A broken or hostile server on loopback, for spec/18-hardening (never a
-- real database: it plays the parts a real one cannot be made to play).
--
--   lua5.4 spec/support/fake_server.lua MODE READY_FILE [SEED]
--
-- It listens on 127.0.0.1 (a port the system picks), writes the port to
-- READY_FILE (through a rename, so a reader never sees half of it) and serves
-- connections one after another until it is killed, or for 300 s at most.
-- MODE:
--   silent   accepts and never sends a byte
--   drip     a MariaDB handshake and an answer to the client's first two
--            statements (SELECT VERSION(), @@max_allowed_packet; SET
--            SESSION ...), then, for any later command, one byte a second
--            of a reply that never completes
--   garbage  answers each connection with random bytes instead of the
--            server's greeting (seeded: SEED + the connection's number);
--            every other connection gets a packet that starts with 0xFF
--            (an "error packet") full of random bytes, then the connection
--            is closed
local socket = require "socket"

local mode, ready_file, seed = arg[1], arg[2], tonumber(arg[3] or "1")
assert(mode and ready_file, "usage: fake_server.lua silent|drip|garbage READY_FILE [SEED]")

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local deadline = socket.gettime() + 300
server:settimeout(1)

do
  local tmp = ready_file .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(tmp, ready_file))
end

-- ---- the MySQL protocol, as little of it as the client needs ----------------

local function int(n, bytes)
  local t = {}
  for i = 1, bytes do
    t[i] = string.char(n % 256)
    n = n // 256
  end
  return table.concat(t)
end

local function packet(seq, body)
  return int(#body, 3) .. string.char(seq % 256) .. body
end

local function lenstr(s) return string.char(#s) .. s end -- strings under 251 bytes

-- Reads one client packet: its sequence number and body, or nil.
local function read_packet(c)
  local head = c:receive(4)
  if not head then return nil end
  local len = head:byte(1) + head:byte(2) * 256 + head:byte(3) * 65536
  local body = len > 0 and c:receive(len) or ""
  if not body then return nil end
  return head:byte(4), body
end

local CAPS = 0x00000001 | 0x00000008 | 0x00000200 | 0x00002000 | 0x00008000 | 0x00080000
local greeting = table.concat {
  "\10", "11.8.0-MariaDB-fake\0", int(7, 4), "abcdefgh", "\0",
  int(CAPS & 0xffff, 2), "\45", int(2, 2), int(CAPS >> 16, 2), "\21", ("\0"):rep(10),
  "ijklmnopqrst\0", "mysql_native_password\0",
}
local function ok_packet(seq) return packet(seq, "\0\0\0" .. int(2, 2) .. int(0, 2)) end
local function eof_packet(seq) return packet(seq, "\254" .. int(0, 2) .. int(2, 2)) end
local function column(seq, name)
  return packet(seq, lenstr("def") .. lenstr("") .. lenstr("") .. lenstr("") .. lenstr(name) .. lenstr("")
    .. "\12" .. int(33, 2) .. int(255, 4) .. "\253" .. int(0, 2) .. "\0" .. int(0, 2))
end
-- The answer to SELECT VERSION(), @@max_allowed_packet
local version_rows = table.concat {
  packet(1, "\2"), column(2, "VERSION()"), column(3, "@@max_allowed_packet"), eof_packet(4),
  packet(5, lenstr("11.8.0-MariaDB-fake") .. lenstr("16777216")), eof_packet(6),
}

local function handshake(c)
  assert(c:send(packet(0, greeting)))
  local seq = read_packet(c) -- the client's handshake response
  if not seq then return false end
  c:send(ok_packet(seq + 1))
  return true
end

local function serve_drip(c)
  if not handshake(c) then return end
  local n = 0
  while true do
    local _, body = read_packet(c)
    if not body then return end
    n = n + 1
    if n == 1 then c:send(version_rows)
    elseif n == 2 then c:send(ok_packet(1))
    else
      -- an OK packet said to be 1,000 bytes long, a byte a second
      local reply = int(1000, 3) .. "\1" .. ("\0"):rep(1000)
      for i = 1, #reply do
        if not c:send(reply:sub(i, i)) then return end
        socket.sleep(1)
      end
      return
    end
  end
end

local connections = 0
local function serve_garbage(c)
  connections = connections + 1
  math.randomseed(seed * 1000 + connections)
  local bytes = {}
  for i = 1, 200 do bytes[i] = string.char(math.random(0, 255)) end
  local junk = table.concat(bytes)
  if connections % 2 == 0 then
    junk = packet(0, "\255" .. junk) -- an error packet: errno, state and message are junk
  end
  c:send(junk)
end

local held = {}
while socket.gettime() < deadline do
  local c = server:accept()
  if c then
    c:settimeout(310)
    if mode == "silent" then
      held[#held + 1] = c -- kept open, never answered
    elseif mode == "drip" then
      serve_drip(c)
      c:close()
    elseif mode == "garbage" then
      serve_garbage(c)
      c:close()
    else
      error("unknown mode " .. tostring(mode))
    end
  end
end
