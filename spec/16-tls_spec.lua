-- TLS (issue 10): ssl = true means TLS or nothing sent; no password goes out
-- in clear over TCP; ssl_cipher and tls_version are kept or the connection
-- is refused; info() says what was negotiated.
--
-- "Fake" servers are spec/support/fake_mysql.lua, a separate process on
-- 127.0.0.1 (the client's connect blocks): it offers no TLS and records every
-- byte it receives. The spec waits on what it prints (its "ready" line, then
-- its exit), never on a clock.
local seekdb = require "seekdb"
local helper = require "helper"

local LUA = helper.luajit and "luajit" or "lua5.4"
local USER, PASSWORD = "alice_tls", "S3cret-pw-of-alice"
local CR_SSL_CONNECTION_ERROR, CR_PLUGIN_NOT_ALLOWED = 2026, 5010

-- Starts a fake server; returns its port and a function that waits for its
-- exit and returns its last line and the bytes it received.
local function fake(scenario)
  local capture = os.tmpname()
  -- not under a sanitizer's LD_PRELOAD (make test-asan): it is plain Lua
  local p = assert(io.popen(("exec env -u LD_PRELOAD %s spec/support/fake_mysql.lua %s %s")
    :format(LUA, scenario, capture)))
  local line = p:read("*l")
  local port = tonumber(line and line:match("^ready (%d+)$"))
  local finished
  local function wait()
    if finished then return finished[1], finished[2] end
    local last = p:read("*a")
    p:close()
    local f = io.open(capture, "rb")
    local bytes = f and f:read("*a") or ""
    if f then f:close() end
    os.remove(capture)
    finished = { last, bytes }
    return last, bytes
  end
  if not port then
    wait()
    error("the fake server did not start: " .. tostring(line))
  end
  finally(wait) -- a failed assertion must not leave it waiting for a client
  return port, wait
end

local function fake_options(port, extra)
  local o = { host = "127.0.0.1", port = port, user = USER, password = PASSWORD, database = "test",
              connect_timeout = 10, read_timeout = 10, write_timeout = 10 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- The real test server over TCP (helper.options prefers the scratch server's
-- socket).
local function tcp(extra)
  local o = helper.options(extra)
  o.socket = nil
  return o
end

local function no_tls_message(port)
  return ("ssl = true: the server at 127.0.0.1:%d does not offer TLS; nothing was sent (no credentials)")
    :format(port)
end

describe("ssl = true against a server that offers no TLS", function()
  for _, scenario in ipairs { "plain", "clear", "noplugin" } do
    it("is refused before a single byte is sent (" .. scenario .. ")", function()
      local port, wait = fake(scenario)
      local c, err, errno, sqlstate = seekdb.Client(fake_options(port, { ssl = true }))
      local last, bytes = wait()
      assert.is_nil(c)
      assert.are.equal(no_tls_message(port), err)
      assert.are.equal(CR_SSL_CONNECTION_ERROR, errno)
      assert.are.equal("HY000", sqlstate)
      assert.are.equal("done closed 0\n", last)
      assert.are.equal("", bytes)
    end)
  end

  it("is refused as well when TLS is asked for by another option", function()
    for _, extra in ipairs { { ssl_verify = true }, { tls_version = "TLSv1.3" }, { ssl_cipher = "AES128-SHA" } } do
      local port, wait = fake("clear")
      local c, err, errno = seekdb.Client(fake_options(port, extra))
      local last, bytes = wait()
      assert.is_nil(c)
      assert.are.equal(no_tls_message(port), err)
      assert.are.equal(CR_SSL_CONNECTION_ERROR, errno)
      assert.are.equal("done closed 0\n", last)
      assert.are.equal("", bytes)
    end
  end)
end)

describe("without TLS, over TCP", function()
  for _, scenario in ipairs { "clear", "noplugin" } do
    it("never sends the password when the server asks for it in clear (" .. scenario .. ")", function()
      local port, wait = fake(scenario)
      local c, err, errno, sqlstate = seekdb.Client(fake_options(port))
      local last, bytes = wait()
      assert.is_nil(c)
      assert.are.equal(CR_PLUGIN_NOT_ALLOWED, errno)
      assert.are.equal("HY000", sqlstate)
      assert.matches(("the server at 127.0.0.1:%d asked for the password"):format(port), err, 1, true)
      assert.matches("mysql_clear_password", err, 1, true)
      assert.matches("the password was not sent: use ssl = true", err, 1, true)
      assert.matches("^done closed %d+\n$", last)
      -- The fake did get the login (so it did ask for the password) ...
      assert.truthy(bytes:find(USER, 1, true))
      -- ... and not the password
      assert.is_nil(bytes:find(PASSWORD, 1, true))
    end)
  end

  it("logs in with a password as before (mysql_native_password)", function()
    local admin = assert(seekdb.Client(helper.options()))
    if helper.dialect(admin) ~= "mariadb" or not os.getenv("SEEKDB_TEST_SOCKET") then
      admin:close()
      return pending("scratch MariaDB only")
    end
    assert(admin:query("CREATE USER 'tls_native'@'%' IDENTIFIED BY 'native-pw'"))
    assert(admin:query("GRANT SELECT ON test.* TO 'tls_native'@'%'"))
    finally(function()
      admin:query("DROP USER 'tls_native'@'%'")
      admin:close()
    end)
    local c = assert(seekdb.Client(tcp { user = "tls_native", password = "native-pw" }))
    assert.is_false(c:info().tls)
    c:close()
    local none, err, errno = seekdb.Client(tcp { user = "tls_native", password = "wrong" })
    assert.is_nil(none)
    assert.matches("Access denied", err)
    assert.are.equal(1045, errno)
  end)
end)

describe("TLS against the test server", function()
  local first -- the first TLS connection's info, to skip what the server cannot do
  setup(function()
    local c = seekdb.Client(tcp { ssl = true })
    if c then
      first = c:info()
      c:close()
    end
  end)

  local function scratch()
    return os.getenv("SEEKDB_TEST_SOCKET") and first and first.dialect == "mariadb"
  end

  it("ssl = true is encrypted, and info() says with what", function()
    if not first then return pending("the test server offers no TLS") end
    local c = assert(seekdb.Client(tcp { ssl = true }))
    local info = c:info()
    assert.matches("^TLSv1%.[23]$", info.tls)
    assert.is_string(info.tls_cipher)
    assert.matches("tls = \"" .. info.tls .. "\"", tostring(info), 1, true)
    if info.dialect == "mariadb" then -- the server's view
      local rows = assert(c:query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')"))
      local status = {}
      for _, row in ipairs(rows) do status[row.Variable_name] = row.Value end
      assert.are.equal(info.tls, status.Ssl_version)
      assert.are.equal(info.tls_cipher, status.Ssl_cipher)
    end
    c:close()
  end)

  it("without TLS options the connection is plain: info().tls is false", function()
    local c = assert(seekdb.Client(tcp()))
    assert.is_false(c:info().tls)
    assert.is_nil(c:info().tls_cipher)
    c:close()
  end)

  it("logs in inside TLS with and without a password, and refuses a wrong one", function()
    if not scratch() then return pending("scratch MariaDB only") end
    local admin = assert(seekdb.Client(helper.options()))
    -- REQUIRE SSL: the server itself refuses this user over plaintext
    assert(admin:query("CREATE USER 'tls_user'@'%' IDENTIFIED BY 'tls-pw' REQUIRE SSL"))
    assert(admin:query("CREATE USER 'tls_nopw'@'%' REQUIRE SSL"))
    assert(admin:query("GRANT SELECT ON test.* TO 'tls_user'@'%', 'tls_nopw'@'%'"))
    finally(function()
      admin:query("DROP USER 'tls_user'@'%'")
      admin:query("DROP USER 'tls_nopw'@'%'")
      admin:close()
    end)
    for _, who in ipairs { { "tls_user", "tls-pw" }, { "tls_nopw", "" } } do
      local c = assert(seekdb.Client(tcp { user = who[1], password = who[2], ssl = true }))
      assert.are.equal(who[1], assert(c:query("SELECT CURRENT_USER() AS u"))[1].u:match("^[^@]+"))
      assert.is_string(c:info().tls)
      c:close()
      local plain, _, errno = seekdb.Client(tcp { user = who[1], password = who[2] })
      assert.is_nil(plain)
      assert.are.equal(1045, errno)
    end
    local none, err, errno = seekdb.Client(tcp { user = "tls_user", password = "wrong", ssl = true })
    assert.is_nil(none)
    assert.matches("Access denied", err)
    assert.are.equal(1045, errno)
  end)

  it("ssl_verify with ssl_ca = SEEKDB_TEST_SSL_CA authenticates the server", function()
    local ca = os.getenv("SEEKDB_TEST_SSL_CA")
    if not ca or ca == "" then return pending("SEEKDB_TEST_SSL_CA is not set") end
    local c = assert(seekdb.Client(tcp { ssl_verify = true, ssl_ca = ca }))
    assert.is_string(c:info().tls)
    c:close()
  end)

  it("ssl_verify refuses a certificate that the CA did not sign", function()
    if not scratch() or not os.getenv("SEEKDB_TEST_SSL_CA") then return pending("scratch MariaDB only") end
    -- the scratch server's CA is made at every start: no other CA signs it
    local none, err, errno, sqlstate = seekdb.Client(tcp { ssl_verify = true })
    assert.is_nil(none)
    assert.matches("certificate", err)
    assert.are.equal(CR_SSL_CONNECTION_ERROR, errno)
    assert.are.equal("HY000", sqlstate)
  end)

  it("ssl_verify checks the name; ssl_ca alone checks only the chain", function()
    local ca = os.getenv("SEEKDB_TEST_SSL_CA")
    if not scratch() or not ca or ca == "" then return pending("scratch MariaDB only") end
    -- The same server under a name its certificate does not have: the IPv4-mapped IPv6
    -- address of 127.0.0.1 (the certificate has IP:127.0.0.1 and IP:::1)
    local mapped = tcp { host = "::ffff:127.0.0.1", ssl_ca = ca }
    local c = seekdb.Client(mapped)
    if not c then return pending("no IPv4-mapped IPv6 addresses here") end
    assert.is_string(c:info().tls)
    c:close()
    mapped.ssl_verify = true
    local none, err, errno = seekdb.Client(mapped)
    assert.is_nil(none)
    assert.are.equal("TLS/SSL error: Validation of SSL server certificate failed", err)
    assert.are.equal(CR_SSL_CONNECTION_ERROR, errno)
  end)

  it("ssl = true over the unix socket is TLS too", function()
    local socket = os.getenv("SEEKDB_TEST_SOCKET")
    if not socket or socket == "" or not scratch() then return pending("scratch MariaDB only") end
    local c = assert(seekdb.Client(helper.options { ssl = true }))
    assert.matches(socket, tostring(c), 1, true)
    assert.is_string(c:info().tls)
    c:close()
  end)

  it("ssl_cipher that TLS 1.3 does not choose fails clearly", function()
    if not first or first.tls ~= "TLSv1.3" then return pending("the test server does not speak TLS 1.3") end
    local none, err, errno, sqlstate = seekdb.Client(tcp { ssl_cipher = "AES128-SHA" })
    assert.is_nil(none)
    assert.matches("^ssl_cipher: the server at [^ ]+ negotiated TLSv1%.3 with [%w_]+, which is not in \"AES128%-SHA\"", err)
    assert.matches("TLS 1.3 suites are not chosen by TLS 1.2 cipher names", err, 1, true)
    assert.matches("tls_version = \"TLSv1.2\"", err, 1, true)
    assert.are.equal(CR_SSL_CONNECTION_ERROR, errno)
    assert.are.equal("HY000", sqlstate)
  end)

  it("ssl_cipher is kept when it names what was negotiated", function()
    if not first then return pending("the test server offers no TLS") end
    local c = assert(seekdb.Client(tcp { ssl_cipher = first.tls_cipher }))
    assert.are.equal(first.tls_cipher, c:info().tls_cipher)
    c:close()
  end)

  it("tls_version picks the version, and ssl_cipher then works for TLS 1.2", function()
    if not scratch() then return pending("scratch MariaDB only") end
    local c = assert(seekdb.Client(tcp { tls_version = "TLSv1.3" }))
    assert.are.equal("TLSv1.3", c:info().tls)
    c:close()
    -- the scratch certificate has an EC key: ECDHE-ECDSA suites
    local suites = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"
    c = assert(seekdb.Client(tcp { tls_version = "TLSv1.2", ssl_cipher = suites }))
    assert.are.equal("TLSv1.2", c:info().tls)
    assert.are.equal("ECDHE-ECDSA-AES128-GCM-SHA256", c:info().tls_cipher)
    c:close()
  end)
end)

describe("TLS options misused", function()
  it("an unknown tls_version raises, naming the option", function()
    for _, v in ipairs { "TLSv1.9", "tlsv1.3", "TLSv1.1", "", "TLSv1.2,TLSv1.4" } do
      assert.has_error(function() seekdb.Client(tcp { tls_version = v }) end,
        ("bad argument #1 to 'connect' (option 'tls_version' must be \"TLSv1.2\", \"TLSv1.3\" or "
          .. "\"TLSv1.2,TLSv1.3\", got \"%s\")"):format(v))
    end
    assert.has_error(function() seekdb.Client(tcp { tls_version = 1.3 }) end,
      "bad argument #1 to 'connect' (option 'tls_version' must be a string, got number)")
  end)

  it("ssl = false with a TLS option raises", function()
    assert.has_error(function() seekdb.Client(tcp { ssl = false, ssl_ca = "ca.pem" }) end,
      "bad argument #1 to 'connect' (option 'ssl' is false but 'ssl_ca' is given: TLS options need TLS)")
  end)
end)
