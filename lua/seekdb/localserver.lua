--- Local mode: a private MariaDB server for a folder, as pyseekdb's
-- embedded `Client(path=...)` keeps a database in a folder.
--
-- `seekdb.Client{ path = "./mydb" }` finds the server already running for
-- that folder and connects to it, or starts one: data in `mydb/data`, a unix
-- socket inside the folder (no TCP port), the folder made 0700. A watchdog
-- process beside the server counts the connections on its socket
-- (`/proc/net/unix`) and stops it once none has been open for `local_idle`
-- seconds (30 by default). Starting and stopping hold `mydb/lock` (flock):
-- two processes never start two servers, and a watchdog never stops a
-- server that a starter has just found. A flock dies with its process, so a
-- killed starter leaves no lock behind; a killed server is noticed by its
-- watchdog, a killed watchdog by the next start (which watches the server
-- again).
--
-- The server binary: the `mariadbd` option, else `SEEKDB_MARIADBD`, else a
-- `mariadbd` 11.7+ on PATH (or in /usr/sbin, /usr/local/sbin), else the
-- copy that `scripts/testdb fetch` downloads from Debian trixie (in the
-- checkout's `.cache/`, in `SEEKDB_CACHE_DIR`, or in
-- `~/.cache/lua-seekdb`).
--
-- The work is done by a POSIX shell script (below) that runs in its own
-- process: the Lua side starts it in the background and waits for its
-- answer the way the client's loop waits, so a loop keeps running while a
-- server starts. Linux only (`/proc`).
-- @module seekdb.localserver

local core = require "seekdb.core"

local localserver = {}

--- Seconds a server with no client waits before it stops.
localserver.IDLE = 30

--- Seconds a start may take, waiting for another process's start included.
localserver.START_TIMEOUT = 60

local function shquote(s)
  return "'" .. (s:gsub("'", "'\\''")) .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function is_file(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function getenv(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- The state of a live process: nil when it is gone (or a zombie).
local function alive(pid)
  local stat = pid and read_file("/proc/" .. pid .. "/stat")
  local state = stat and stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z"
end

local function pid_in(path)
  return tonumber((read_file(path) or ""):match("^%s*(%d+)"))
end

--- The live processes of `dir`'s local server: `server, watchdog` (pids,
-- each nil when it is not running). For programs that watch a folder.
function localserver.processes(dir)
  local server, watchdog = pid_in(dir .. "/mariadbd.pid"), pid_in(dir .. "/watchdog.pid")
  return alive(server) and server or nil, alive(watchdog) and watchdog or nil
end

--- The socket of the server running for `dir` with its watchdog, or nil:
-- files only, no process started (what every client after the first does).
function localserver.running(dir)
  local pid = pid_in(dir .. "/mariadbd.pid")
  local sock = (read_file(dir .. "/socket") or ""):match("^([^\n]+)")
  if not (pid and sock and alive(pid) and alive(pid_in(dir .. "/watchdog.pid"))) then return nil end
  local cmdline = read_file("/proc/" .. pid .. "/cmdline") or ""
  if not cmdline:find("mariadbd", 1, true) then return nil end
  return sock
end

-- The folder of this file's checkout, if it is one: lua/seekdb/localserver.lua.
local function checkout_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  local file = src:sub(2)
  if file:match("^lua/seekdb/[^/]*$") then return "." end -- loaded by a relative path, from the checkout
  return file:match("^(.*)/lua/seekdb/[^/]*$")
end

-- Version of a mariadbd binary (major, minor), from `mariadbd --version`.
local function version_of(cmd)
  local p = io.popen(cmd .. " --version 2>/dev/null")
  if not p then return nil end
  local out = p:read("*a") or ""
  p:close()
  local major, minor = out:match("Ver%s+(%d+)%.(%d+)")
  return tonumber(major), tonumber(minor)
end

local function recent(major, minor)
  return major and (major > 11 or (major == 11 and minor >= 7))
end

-- The dynamic loader of a downloaded root (Debian trixie's glibc), if any.
local LOADERS = { "x86_64-linux-gnu/ld-linux-x86-64.so.2", "aarch64-linux-gnu/ld-linux-aarch64.so.1" }

-- How to run the server of a downloaded root: its own loader and libraries.
local function rooted(root)
  for _, l in ipairs(LOADERS) do
    local triplet = l:match("^[^/]+")
    if is_file(root .. "/usr/lib/" .. l) then
      local libs = root .. "/usr/lib/" .. triplet
      if is_file(root .. "/lib/" .. triplet .. "/libc.so.6") then libs = libs .. ":" .. root .. "/lib/" .. triplet end
      return {
        words = { root .. "/usr/lib/" .. l, "--library-path", libs, root .. "/usr/sbin/mariadbd" },
        share = root .. "/usr/share/mariadb",
        plugin = root .. "/usr/lib/mysql/plugin",
        from = root,
      }
    end
  end
end

local function installed(bin, from)
  local prefix = bin:match("^(.*)/s?bin/[^/]+$") or "/usr"
  local share = prefix .. "/share/mariadb"
  if not is_file(share .. "/mariadb_system_tables.sql") then share = "/usr/share/mariadb" end
  return { words = { bin }, share = share, from = from }
end

local HOW = "install MariaDB 11.7 or later (Debian trixie: apt-get install mariadb-server), or run "
  .. "`scripts/testdb fetch` in a lua-seekdb checkout (it downloads MariaDB 11.8 from Debian trixie; "
  .. "with SEEKDB_CACHE_DIR=~/.cache/lua-seekdb every program finds it), or name a mariadbd 11.7+ with "
  .. "the option mariadbd = or SEEKDB_MARIADBD"

--- How to run the server: `{words =, share =, plugin =, from =}`, or
-- `nil, errmsg` saying what was looked at and what to do.
function localserver.find_server(option)
  local named, from = option, "the option mariadbd"
  if not named then named, from = getenv("SEEKDB_MARIADBD"), "SEEKDB_MARIADBD" end
  if named then
    if not is_file(named) then return nil, ("%s = %s: no such file"):format(from, named) end
    local root = named:match("^(.*)/usr/sbin/mariadbd$")
    local server = root and root ~= "" and rooted(root) or installed(named, from)
    local words = {}
    for i, w in ipairs(server.words) do words[i] = shquote(w) end
    if not recent(version_of(table.concat(words, " "))) then
      return nil, ("%s = %s: not a MariaDB 11.7 or later (vectors need 11.7)"):format(from, named)
    end
    return server
  end
  local looked = {}
  local dirs = {}
  for d in (getenv("PATH") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
  dirs[#dirs + 1], dirs[#dirs + 2] = "/usr/sbin", "/usr/local/sbin"
  for _, d in ipairs(dirs) do
    local bin = d .. "/mariadbd"
    if is_file(bin) and not looked[bin] then
      looked[bin] = true
      if recent(version_of(shquote(bin))) then return installed(bin, "PATH") end
      looked[#looked + 1] = bin .. " (older than 11.7)"
    end
  end
  local caches = {}
  if getenv("SEEKDB_CACHE_DIR") then caches[#caches + 1] = getenv("SEEKDB_CACHE_DIR") end
  local checkout = checkout_root()
  if checkout then caches[#caches + 1] = checkout .. "/.cache" end
  local xdg = getenv("XDG_CACHE_HOME") or (getenv("HOME") and getenv("HOME") .. "/.cache")
  if xdg then caches[#caches + 1] = xdg .. "/lua-seekdb" end
  for _, c in ipairs(caches) do
    local root = c .. "/mariadb/root"
    if is_file(root .. "/usr/sbin/mariadbd") then
      local server = rooted(root)
      if server then return server end
    end
    looked[#looked + 1] = root
  end
  return nil, "local mode needs a MariaDB server binary and found none (looked for mariadbd on PATH, "
    .. "/usr/sbin, /usr/local/sbin" .. (#looked > 0 and ", " .. table.concat(looked, ", ") or "") .. "): " .. HOW
end

-- The script that attaches to or starts the server of a folder, in its own
-- process. Arguments: folder, idle seconds, share folder, plugin folder ("":
-- the server's own), then the words that run mariadbd. Environment:
-- SEEKDB_SETUP_HEAD/TAIL (the bootstrap statements, from the C core). Its
-- last line is `seekdb-local: ok <socket>` or `seekdb-local: error <why>`.
local START = [=[
set -u
dir=$1 idle=$2 share=$3 plugin=$4
shift 4
say() { printf 'seekdb-local: %s\n' "$*"; }
fail() { say "error $*"; exit 1; }
tail_of() { [ -f "$1" ] && tail -n 5 "$1" | tr '\n' ' '; }
alive() { # a live process (not a zombie)
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null || return 1
  [ "$st" != Z ]
}
is_server() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q mariadbd; }

mkdir -p "$dir" 2>/dev/null || fail "cannot make the folder $dir (path =)"
dir=$(cd "$dir" && pwd -P) || fail "cannot enter the folder $1 (path =)"
[ -w "$dir" ] || fail "the folder $dir is not writable (path =)"
chmod 700 "$dir" 2>/dev/null
command -v flock >/dev/null || fail "local mode needs flock(1) (Debian: util-linux)"
exec 9>>"$dir/lock" || fail "cannot open $dir/lock"
flock -w 50 9 || fail "another process has held $dir/lock for 50 s (starting or stopping its server); try again"

# the socket: in the folder, unless its path is too long for a unix socket
sock="$dir/mariadbd.sock"
case "$sock" in *[[:space:]]*) long=1 ;; *) long=0 ;; esac
if [ "$long" = 1 ] || [ ${#sock} -ge 100 ]; then
  sdir="${TMPDIR:-/tmp}/seekdb-$(id -u)-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
  mkdir -p "$sdir" && chmod 700 "$sdir" || fail "cannot make the socket folder $sdir"
  sock="$sdir/mariadbd.sock"
fi

spid=$(cat "$dir/mariadbd.pid" 2>/dev/null)
if is_server "$spid" && [ -S "$(cat "$dir/socket" 2>/dev/null)" ]; then
  sock=$(cat "$dir/socket")
  if ! alive "$(cat "$dir/watchdog.pid" 2>/dev/null)"; then # its watchdog was killed: watch it again
    (setsid sh -c "$SEEKDB_WATCHDOG" seekdb-watchdog "$dir" "$idle" "$sock" "$spid" 9>&- </dev/null >/dev/null 2>&1 &)
  fi
  : >"$dir/started"
  say "ok $sock"
  exit 0
fi

# not running: what a dead server or a killed process left is stale
rm -f "$dir/mariadbd.pid" "$dir/watchdog.pid" "$dir/socket" "$sock"
common="--no-defaults"
[ -f "$share/english/errmsg.sys" ] && common="$common --lc-messages-dir=$share"
[ -d "$share/charsets" ] && common="$common --character-sets-dir=$share/charsets"
[ -n "$plugin" ] && common="$common --plugin-dir=$plugin"
[ "$(id -u)" = 0 ] && common="$common --user=root"

if [ ! -d "$dir/data/mysql" ]; then
  for f in mariadb_system_tables.sql mariadb_performance_tables.sql mariadb_system_tables_data.sql; do
    [ -f "$share/$f" ] || fail "the server's $share/$f is missing"
  done
  rm -rf "$dir/data.new" && mkdir -p "$dir/data.new" || fail "cannot make $dir/data.new"
  # shellcheck disable=SC2086 # $common: options without spaces, split on purpose
  { printf '%s' "$SEEKDB_SETUP_HEAD"
    cat "$share/mariadb_system_tables.sql" "$share/mariadb_performance_tables.sql" \
        "$share/mariadb_system_tables_data.sql"
    printf '%s' "$SEEKDB_SETUP_TAIL"
  } | "$@" $common --datadir="$dir/data.new" --bootstrap --log-warnings=0 \
        --innodb-log-file-size=32M >"$dir/bootstrap.log" 2>&1 ||
    fail "the server could not set up $dir/data: $(tail_of "$dir/bootstrap.log")"
  mv "$dir/data.new" "$dir/data" || fail "cannot move $dir/data.new to $dir/data"
fi

[ -f "$dir/mariadbd.log" ] && mv -f "$dir/mariadbd.log" "$dir/mariadbd.log.1"
: >"$dir/mariadbd.log"
# shellcheck disable=SC2086
(setsid sh -c "$SEEKDB_WATCHDOG" seekdb-watchdog "$dir" "$idle" "$sock" "" "$@" $common \
   --datadir="$dir/data" --socket="$sock" --skip-networking --pid-file="$dir/mariadbd.pid" \
   --log-error="$dir/mariadbd.log" --innodb-log-file-size=32M 9>&- </dev/null >/dev/null 2>&1 &)
i=0
while [ $i -lt 300 ]; do
  spid=$(cat "$dir/mariadbd.pid" 2>/dev/null)
  if is_server "$spid" && [ -S "$sock" ] && grep -q 'ready for connections' "$dir/mariadbd.log"; then
    printf '%s\n' "$sock" >"$dir/socket"
    : >"$dir/started"
    say "ok $sock"
    exit 0
  fi
  if [ $i -gt 10 ] && ! alive "$(cat "$dir/watchdog.pid" 2>/dev/null)"; then
    fail "the server stopped while starting: $(tail_of "$dir/mariadbd.log") (log: $dir/mariadbd.log)"
  fi
  sleep 0.1
  i=$((i + 1))
done
fail "the server did not start within 30 s: $(tail_of "$dir/mariadbd.log") (log: $dir/mariadbd.log)"
]=]

-- The watchdog: runs the server (or watches the one whose pid it is given)
-- and stops it after `idle` seconds with no connection on its socket.
local WATCHDOG = [=[
set -u
dir=$1 idle=$2 sock=$3 spid=$4
shift 4
alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null || return 1
  [ "$st" != Z ]
}
users() { # connections the server has accepted on its socket (state 03: connected)
  awk -v p="$sock" '$6 == "03" && $8 == p { n++ } END { print n + 0 }' /proc/net/unix 2>/dev/null || echo 1
}
echo $$ >"$dir/watchdog.pid"
if [ -z "$spid" ]; then
  "$@" </dev/null >>"$dir/mariadbd.log" 2>&1 &
  spid=$!
fi
# A start (the time of $dir/started) counts as a client for a while (5 s,
# or idle + 1 if that is less): its starter connects right after, unseen if
# it is quick to leave again. No socket yet: still starting, for a minute at
# most; after that a missing socket (the folder deleted) is no client either.
grace=5
[ "$idle" -lt 4 ] && grace=$((idle + 1))
born=$(date +%s)
quiet=0
while alive "$spid"; do
  sleep 1
  now=$(date +%s)
  if [ ! -S "$sock" ] && [ $((now - born)) -lt 60 ]; then quiet=0; continue; fi
  if [ "$(users)" -gt 0 ]; then quiet=0; continue; fi
  if [ $((now - $(stat -c %Y "$dir/started" 2>/dev/null || echo 0))) -lt "$grace" ]; then quiet=0; continue; fi
  quiet=$((quiet + 1))
  [ "$quiet" -ge "$idle" ] || continue
  locked=1 # a folder that is gone: nobody starts a server there
  if [ -d "$dir" ]; then
    exec 8>>"$dir/lock"
    flock -n 8 || locked=0
  fi
  if [ "$locked" = 1 ]; then
    # The socket is renamed first: a client that read the folder's files just
    # now fails to connect and starts over (behind this lock) instead of
    # reaching a server about to stop; one that connected meanwhile is seen.
    moved=0
    [ -S "$sock" ] && mv -f "$sock" "$sock.closing" && moved=1
    sleep 0.2
    if [ "$(users)" -eq 0 ]; then
      kill -TERM "$spid" 2>/dev/null
      while alive "$spid"; do sleep 0.1; done
      rm -f "$dir/mariadbd.pid" "$dir/socket" "$dir/watchdog.pid" "$sock.closing"
      exit 0
    fi
    [ "$moved" = 1 ] && mv -f "$sock.closing" "$sock"
  fi
  exec 8>&-
  quiet=0
done
# the server ended on its own (a crash, a kill): the next start cleans up
[ "$(cat "$dir/watchdog.pid" 2>/dev/null)" = $$ ] && rm -f "$dir/watchdog.pid"
]=]

--- Runs the start script for `dir` in the background and waits for its
-- answer with `sleep(seconds)` (the client's loop's, or the blocking one).
-- @return the socket, or `nil, errmsg`
function localserver.start(dir, server, idle, sleep)
  local out = os.tmpname()
  local head, tail = core.local_setup()
  local words = {}
  for i, w in ipairs(server.words) do words[i] = shquote(w) end
  -- The server is a program of its own: a preload meant for this one (a
  -- sanitizer, valgrind's, an allocator) is not passed on to it.
  local cmd = table.concat({
    "env -u LD_PRELOAD", "SEEKDB_SETUP_HEAD=" .. shquote(head), "SEEKDB_SETUP_TAIL=" .. shquote(tail),
    "SEEKDB_WATCHDOG=" .. shquote(WATCHDOG), "sh -c", shquote(START), "seekdb-local",
    shquote(dir), ("%d"):format(math.ceil(idle)), shquote(server.share), shquote(server.plugin or ""),
    table.concat(words, " "), ">", shquote(out), "2>&1 </dev/null &",
  }, " ")
  os.execute(cmd)
  local deadline = core.now() + localserver.START_TIMEOUT
  local pause = 0.01
  while true do
    local text = read_file(out) or ""
    local sock = text:match("seekdb%-local: ok ([^\n]+)\n")
    local err = text:match("seekdb%-local: error ([^\n]+)\n")
    if sock or err then
      os.remove(out)
      if sock then return sock end
      return nil, "local mode (" .. dir .. "): " .. err
    end
    if core.now() > deadline then
      os.remove(out)
      return nil, ("local mode (%s): no answer from the start within %d s (see %s/mariadbd.log)"):format(
        dir, localserver.START_TIMEOUT, dir)
    end
    sleep(pause)
    if pause < 0.1 then pause = pause * 2 end
  end
end

return localserver
