/***
 * The C core of lua-seekdb: connections, argument checks, SQL, batching,
 * transactions, decoding rows, calling embedding functions.
 *
 * `require "seekdb.core"` loads it (its C entry point is
 * `luaopen_seekdb_core`). Applications use @{seekdb}, the readable face over
 * these functions. The connection that `connect` returns is a userdata whose
 * methods (`upsert`, `get`, `query`... taking the collection's table name,
 * and its dimension where needed, before the collection method's arguments)
 * the Lua layer calls. A connection belongs to one thread: in nginx, each
 * `ngx.run_worker_thread` call makes its own.
 * @module seekdb.core
 */

/***
 * Connects to a server. @{seekdb.Client} fills in the defaults (host, port,
 * user, password, database, `user@tenant`) and calls this.
 * @function connect
 * @tparam table opts the options of @{seekdb.Client}
 * @tparam[opt] boolean resumable `true`: return a call (`seekdb.Call`) to
 *   drive with `call:resume()` (see @{seekdb.loop}), whose result is the
 *   connection
 * @return a connection, or `nil, errmsg, errno, sqlstate`
 */

/***
 * Stands for SQL NULL inside lists: a light userdata NULL, so it equals
 * lua-cjson's `cjson.null`. The same value as @{seekdb.null}.
 * @class field
 * @name null
 */

/***
 * The dimension of an embedding function, from what it returned for one
 * sample text (the Lua layer calls it, as pyseekdb does for a collection
 * created with an embedding function and no dimension).
 * @function embedding_dimension
 * @tparam table vectors what the function returned for `{"seekdb"}`
 * @treturn[1] integer the length of its one vector, 1 to 16313
 * @return[2] `nil, errmsg` when it is not one proper vector
 */

/***
 * Seconds of a monotonic clock (`CLOCK_MONOTONIC`): wall time, unlike
 * `os.clock`. Also `seekdb.now`.
 * @function now
 * @treturn number seconds
 */

/***
 * What a method of the connection would send, without a server: the golden
 * tests of each dialect's SQL use it.
 * @function sql
 * @tparam string dialect `"seekdb"` or `"mariadb"`
 * @tparam string method `"create_collection"`, `"upsert"`, `"add"`,
 *   `"update"`, `"delete"`, `"get"`, `"count"` or `"query"` (and the
 *   methods added since: the golden tests use them all)
 * @param ... the method's arguments, after the connection
 * @treturn {string,...} the statements, in order
 * @raise when `method` is not one of those, or its arguments are wrong
 */

/***
 * Decodes a vector as a server sends it: float32 bytes (MariaDB), or, with
 * `text` true, also the text `"[1,2]"` that seekdb may send.
 * @function decode_vector
 * @tparam string data the column's value
 * @tparam integer dim the number of numbers expected, 1 to 65535
 * @tparam[opt] boolean text accept the text form too
 * @treturn {number,...}|nil the numbers, or `nil` when `data` is not a
 *   vector of `dim` numbers
 */
#include <errno.h>
#include <time.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

int conn_dry(lua_State *L);

/* core.decode_vector(data, dim[, text[, as_vector]]) -> {numbers} | nil: a
 * vector as a server sends it, float32 bytes (MariaDB), or with `text` true
 * also the text "[1,2]" seekdb may send; a seekdb.vector with as_vector. */
static int core_decode_vector(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer dim = luaL_checkinteger(L, 2);
  luaL_argcheck(L, dim >= 1 && dim <= DIM_MAX_ANY, 2, "dimension out of range");
  if (!(lua_toboolean(L, 4) ? vecobj_push : vec_push)(L, s, len, (int)dim, lua_toboolean(L, 3))) lua_pushnil(L);
  return 1;
}

/* core.now() -> seconds of a monotonic clock (CLOCK_MONOTONIC): wall time
 * for timing frames and calls, which os.clock (CPU time) is not. */
static int core_now(lua_State *L) {
  lua_pushnumber(L, now_mono());
  return 1;
}

/* core.sleep(seconds): waits in place (nanosleep, resumed after signals).
 * The blocking form's pause where no call runs: local mode waiting for its
 * server to start. Under a loop the Lua layer sleeps the loop's way. */
static int core_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec d;
  luaL_argcheck(L, s >= 0 && s <= 3600, 1, "seconds must be 0 to 3600");
  d.tv_sec = (time_t)s;
  d.tv_nsec = (long)((s - (lua_Number)d.tv_sec) * 1e9);
  while (nanosleep(&d, &d) < 0 && errno == EINTR) {}
  return 0;
}

SEEKDB_API int luaopen_seekdb_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"connect", conn_open},
    {"embedding_dimension", embed_probe},
    {"sql", conn_dry},
    {"decode_vector", core_decode_vector},
    {"vector", vecobj_ctor},
    {"now", core_now},
    {"sleep", core_sleep},
    {"local_setup", local_setup},
    {NULL, NULL}};
  /* Once per process, before any thread makes a connection; never ended from
   * a __gc, since other states may still use the library. */
  if (mysql_library_init(0, NULL, NULL)) return luaL_error(L, "could not initialise MariaDB Connector/C");
  conn_register(L);
  call_register(L);
  luaL_newlib(L, funcs);
  pushnull(L);
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "0.3.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
