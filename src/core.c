/* luaopen_seekdb_core: the C core of lua-seekdb.
 *
 *   core.connect(opts)          -> connection | nil, errmsg, errno, sqlstate
 *   core.null                   -> light userdata NULL (equals cjson.null)
 *   core.embedding_dimension(f) -> dimension | nil, errmsg
 *   core.sql_create(...), core.sql_upsert(...): the statements, without a
 *     server, for golden tests of the seekdb dialect.
 */
#include "seekdb.h"

int luaopen_seekdb_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"connect", conn_open},
    {"embedding_dimension", embed_probe},
    {"sql_create", coll_sql_create},
    {"sql_upsert", upsert_sql},
    {NULL, NULL}};
  /* Once per process, before any thread makes a connection; never ended from
   * a __gc, since other states may still use the library. */
  if (mysql_library_init(0, NULL, NULL)) return luaL_error(L, "could not initialise MariaDB Connector/C");
  conn_register(L);
  luaL_newlib(L, funcs);
  pushnull(L);
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
