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

dependencies = {
  "lua >= 5.4",
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
        "src/op.c",
        "src/query.c",
        "src/read.c",
        "src/retry.c",
        "src/sql.c",
        "src/sqlfrag.c",
        "src/tls.c",
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
