rockspec_format = "3.0"
package = "lua-seekdb"
version = "scm-1"

source = {
  url = "git+https://github.com/lua-seekdb/lua-seekdb",
  branch = "main",
}

description = {
  summary = "The seekdb collection API for Lua (seekdb, OceanBase, MariaDB 11.7+)",
  detailed = [[
    Collections of documents, metadata and vectors on seekdb, OceanBase 4.3.5+
    or MariaDB 11.7+, with pyseekdb's API and on-server table layout:
    Client, collections (v1 and v2), add/upsert/update/delete, get, query,
    filters and persisted embedding functions. The C core talks the MySQL
    protocol through MariaDB Connector/C.
  ]],
  homepage = "https://github.com/lua-seekdb/lua-seekdb",
  license = "Apache-2.0",
}

-- Lua 5.4, or LuaJIT 2.1 (Lua 5.1's ABI: src/compat.h fills in the 5.4 C API
-- it lacks). PUC Lua 5.1 to 5.3 are refused by the build (src/compat.h):
-- LuaRocks' version ranges cannot say "5.1 if it is LuaJIT". For LuaJIT,
-- point LuaRocks at its headers if they are not its 5.1 default:
--   luarocks --lua-version=5.1 make LUA_INCDIR=/usr/include/luajit-2.1
dependencies = {
  "lua >= 5.1",
}

-- `luarocks test` runs busted's specs (spec/, see .busted) against the
-- server that SEEKDB_TEST_HOST, SEEKDB_TEST_PORT... name (see the README,
-- "Testing against a real seekdb"). The module it loads is the one that
-- `luarocks make` has just built for that Lua in the checkout
-- (./seekdb/core.so), not the Lua 5.4 build of `make` (build/lua5.4), where
-- only `make`'s test helper failalloc.so is taken from (spec 15, Lua 5.4).
test_dependencies = {
  "busted",
}

test = {
  type = "busted",
  flags = { "--cpath=./?.so;build/lua5.4/?.so" },
}

-- Debian/Ubuntu: apt-get install libmariadb-dev libcjson-dev.
-- The headers are given with their subfolder (mariadb/mysql.h, cjson/cJSON.h)
-- so that the *_INCDIR found is the parent (/usr/include); the sources
-- include <mysql.h> and <cJSON.h>, hence the subfolders in incdirs below.
-- Elsewhere: luarocks make MARIADB_DIR=... CJSON_DIR=...
external_dependencies = {
  MARIADB = {
    header = "mariadb/mysql.h",
    library = "mariadb",
  },
  CJSON = {
    header = "cjson/cJSON.h",
    library = "cjson",
  },
}

build = {
  type = "builtin",
  modules = {
    seekdb = "lua/seekdb.lua",
    ["seekdb.pretty"] = "lua/seekdb/pretty.lua",
    ["seekdb.loop"] = "lua/seekdb/loop.lua",
    ["seekdb.localserver"] = "lua/seekdb/localserver.lua",
    ["seekdb.core"] = {
      sources = {
        "src/admin.c",
        "src/buffer.c",
        "src/call.c",
        "src/collect.c",
        "src/collection.c",
        "src/conn.c",
        "src/core.c",
        "src/delete.c",
        "src/embed.c",
        "src/filter.c",
        "src/hybrid.c",
        "src/hybrid_parm.c",
        "src/json.c",
        "src/local.c",
        "src/op.c",
        "src/query.c",
        "src/read.c",
        "src/retry.c",
        "src/sql.c",
        "src/sqlfrag.c",
        "src/tls.c",
        "src/vecobj.c",
        "src/vector.c",
        "src/vocab.c",
        "src/write.c",
        "src/write_bulk.c",
        "src/write_text.c",
      },
      libraries = { "mariadb", "cjson" },
      incdirs = {
        "src",
        "$(MARIADB_INCDIR)/mariadb",
        "$(CJSON_INCDIR)/cjson",
      },
      libdirs = {
        "$(MARIADB_LIBDIR)",
        "$(CJSON_LIBDIR)",
      },
    },
  },
}
