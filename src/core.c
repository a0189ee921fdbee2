/* luaopen_seekdb_core: the C core of lua-seekdb.
 *
 *   core.connect(opts)          -> connection | nil, errmsg, errno, sqlstate
 *   core.null                   -> light userdata NULL (equals cjson.null)
 *   core.embedding_dimension(f) -> dimension | nil, errmsg
 *   core.decode_vector(data, dim) -> {numbers} | nil
 *   core.sql(dialect, method, ...) -> {statements}: what a method of the
 *     connection would send, without a server (golden tests of the seekdb
 *     dialect). The arguments are the method's, after the connection.
 */
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

static int core_sql(lua_State *L) {
  static const luaL_Reg dry[] = {
    {"create_collection", coll_create_sql},
    {"upsert", upsert_sql}, {"add", add_sql}, {"update", update_sql},
    {"delete", delete_sql}, {"get", read_get_sql}, {"count", read_count_sql},
    {"query", query_sql},
    {NULL, NULL}};
  const char *method = luaL_checkstring(L, 2);
  for (int i = 0; dry[i].name; i++)
    if (strcmp(dry[i].name, method) == 0) {
      lua_remove(L, 2);
      lua_pushnil(L); /* where the connection would be */
      lua_insert(L, 2);
      return dry[i].func(L);
    }
  return luaL_argerror(L, 2, lua_pushfstring(L, "no method '%s'", method));
}

/* core.decode_vector(data, dim) -> {numbers} | nil: a vector as a server sends
 * it, float32 bytes (MariaDB) or text "[1,2]" (seekdb). */
static int core_decode_vector(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer dim = luaL_checkinteger(L, 2);
  luaL_argcheck(L, dim >= 1 && dim <= 65536, 2, "dimension out of range");
  if (!vec_push(L, s, len, (int)dim)) lua_pushnil(L);
  return 1;
}

int luaopen_seekdb_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"connect", conn_open},
    {"embedding_dimension", embed_probe},
    {"sql", core_sql},
    {"decode_vector", core_decode_vector},
    {NULL, NULL}};
  /* Once per process, before any thread makes a connection; never ended from
   * a __gc, since other states may still use the library. */
  if (mysql_library_init(0, NULL, NULL)) return luaL_error(L, "could not initialise MariaDB Connector/C");
  conn_register(L);
  luaL_newlib(L, funcs);
  pushnull(L);
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "0.2.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
