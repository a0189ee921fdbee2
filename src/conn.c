/* The connection userdata: connecting, identifying the server's dialect,
 * closing, and the metatable every connection method hangs off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seekdb.h"

/* ---- options ------------------------------------------------------------- */

static const char *opt_string(lua_State *L, const char *key) {
  const char *s = NULL;
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1)) s = NULL;
  else if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
  else {
    lua_pushfstring(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
    luaL_argerror(L, 1, lua_tostring(L, -1));
  }
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

static lua_Integer opt_integer(lua_State *L, const char *key, lua_Integer def) {
  lua_Integer v = def;
  lua_getfield(L, 1, key);
  if (!lua_isnil(L, -1)) {
    int ok;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < 0) {
      lua_pushfstring(L, "option '%s' must be a non-negative integer", key);
      luaL_argerror(L, 1, lua_tostring(L, -1));
    }
  }
  lua_pop(L, 1);
  return v;
}

static int opt_boolean(lua_State *L, const char *key) {
  int v;
  lua_getfield(L, 1, key);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static void set_timeout(lua_State *L, MYSQL *my, const char *key, enum mysql_option o) {
  lua_Integer secs = opt_integer(L, key, 0);
  unsigned int v = (unsigned int)secs;
  if (secs > 0) mysql_optionsv(my, o, &v);
}

/* ---- identifying the server ---------------------------------------------- */

/* Runs a one-row query; fills out with the first column (and *num with the
 * second, when asked). 0 on error. */
static int query_row(MYSQL *my, const char *sql, char *out, size_t outsz, unsigned long *num) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  int ok = 0;
  if (mysql_query(my, sql) || !(res = mysql_store_result(my))) return 0;
  row = mysql_fetch_row(res);
  if (row && row[0]) {
    snprintf(out, outsz, "%s", row[0]);
    if (num && mysql_num_fields(res) > 1 && row[1]) *num = strtoul(row[1], NULL, 10);
    ok = 1;
  }
  mysql_free_result(res);
  return ok;
}

/* The dialect from SELECT VERSION(): "...seekdb-v1.0..." is seekdb; an
 * OceanBase answers ob_version(); MariaDB needs 11.7 for vectors.
 * 1 when usable; 0 with a message pushed; -1 when the query failed. */
static int identify(lua_State *L, conn_t *c, int forced) {
  char obv[64];
  int major = 0, minor = 0;
  if (!query_row(c->my, "SELECT VERSION(), @@max_allowed_packet", c->version, sizeof c->version,
                 &c->max_packet))
    return -1;
  if (forced) {
    c->dialect = forced;
    return 1;
  }
  if (strstr(c->version, "seekdb")) c->dialect = DIALECT_SEEKDB;
  else if (strstr(c->version, "MariaDB")) {
    sscanf(c->version, "%d.%d", &major, &minor);
    if (major < 11 || (major == 11 && minor < 7)) {
      lua_pushfstring(L, "MariaDB %s has no vector type: use MariaDB 11.7 or later, "
                         "seekdb or OceanBase 4.3.5+", c->version);
      return 0;
    }
    c->dialect = DIALECT_MARIADB;
  } else if (query_row(c->my, "SELECT ob_version()", obv, sizeof obv, NULL))
    c->dialect = DIALECT_SEEKDB;
  else {
    lua_pushfstring(L, "server %s is neither seekdb/OceanBase nor MariaDB 11.7+: pass "
                       "dialect = \"seekdb\" or \"mariadb\" to use it anyway", c->version);
    return 0;
  }
  return 1;
}

/* ---- the userdata ---------------------------------------------------------- */

static void conn_fail(lua_State *L, MYSQL *my, int *nret) {
  lua_pushnil(L);
  lua_pushstring(L, mysql_error(my));
  lua_pushinteger(L, mysql_errno(my));
  lua_pushstring(L, mysql_sqlstate(my));
  *nret = 4;
}

/* core.connect(opts) -> connection | nil, errmsg, errno, sqlstate. The Lua
 * layer fills in the defaults; here every option is taken as given. */
int conn_open(lua_State *L) {
  static const char *const dialects[] = {"auto", "seekdb", "mariadb", NULL};
  const char *host, *user, *password, *database, *socket;
  unsigned int port;
  int forced, known, text_only, pipeline, nret = 1;
  unsigned long max_packet;
  lua_Integer retries;
  my_bool no = 0;
  conn_t *c;

  luaL_checktype(L, 1, LUA_TTABLE);
  host = opt_string(L, "host");
  user = opt_string(L, "user");
  password = opt_string(L, "password");
  database = opt_string(L, "database");
  socket = opt_string(L, "socket");
  port = (unsigned int)opt_integer(L, "port", 0);
  max_packet = (unsigned long)opt_integer(L, "max_packet", 0);
  text_only = opt_boolean(L, "text_protocol");
  retries = opt_integer(L, "deadlock_retries", 4);
  lua_getfield(L, 1, "pipeline");
  pipeline = lua_isnil(L, -1) || lua_toboolean(L, -1); /* on unless false */
  lua_pop(L, 1);
  lua_getfield(L, 1, "dialect");
  for (forced = 0; !lua_isnil(L, -1) && dialects[forced] &&
                   !(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), dialects[forced]) == 0);
       forced++) {}
  if (!dialects[forced]) luaL_argerror(L, 1, "option 'dialect' must be \"auto\", \"seekdb\" or \"mariadb\"");
  if (lua_isnil(L, -1)) forced = 0;
  lua_pop(L, 1);

  /* A no-op in Connector/C 3, but the documented way to use the library from
   * a thread other than the one that initialised it (nginx worker threads). */
  mysql_thread_init();
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CONN_MT);
  if (!(c->my = mysql_init(NULL))) return luaL_error(L, "not enough memory for a connection");
  mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  /* Reconnecting would silently drop an open transaction: a lost connection
   * stays lost, and the caller sees the error. */
  mysql_optionsv(c->my, MYSQL_OPT_RECONNECT, &no);
  set_timeout(L, c->my, "connect_timeout", MYSQL_OPT_CONNECT_TIMEOUT);
  set_timeout(L, c->my, "read_timeout", MYSQL_OPT_READ_TIMEOUT);
  set_timeout(L, c->my, "write_timeout", MYSQL_OPT_WRITE_TIMEOUT);
  tls_setup(L, 1, c->my);

  if (!tls_check(L, 1, c->my,
                 mysql_real_connect(c->my, socket ? NULL : host, user, password, database, port, socket, 0) != NULL)) {
    conn_fail(L, c->my, &nret);
    goto cleanup;
  }
  known = identify(L, c, forced);
  if (known < 0) {
    conn_fail(L, c->my, &nret);
    goto cleanup;
  }
  if (known == 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    nret = 2;
    goto cleanup;
  }
  if (max_packet && max_packet < c->max_packet) c->max_packet = max_packet;
  c->text_only = text_only;
  c->retries = (int)retries;
  c->pipeline = pipeline;
  /* pyseekdb's HNSW default ef_search; MariaDB's 20 misses neighbours.
   * Best effort: a server without the variable searches as it does. */
  if (c->dialect == DIALECT_MARIADB) mysql_query(c->my, "SET SESSION mhnsw_ef_search = 64");
  if (socket)
    snprintf(c->where, sizeof c->where, "%s@localhost/%s via %s", user ? user : "",
             database ? database : "", socket);
  else snprintf(c->where, sizeof c->where, "%s@%s:%u/%s", user ? user : "", host ? host : "localhost",
                port, database ? database : "");
  return 1;

cleanup:
  mysql_close(c->my);
  c->my = NULL;
  return nret;
}

static int conn_close(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->my && c->busy)
    return luaL_error(L, "cannot close the seekdb client while a call on it is running "
                         "(from inside an embedding function?)");
  if (c->my) mysql_close(c->my);
  c->my = NULL;
  lua_pushboolean(L, 1);
  return 1;
}

static int conn_gc(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->my) mysql_close(c->my);
  c->my = NULL;
  return 0;
}

static int conn_tostring(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  if (!c->my) lua_pushfstring(L, "seekdb client (closed)");
  else lua_pushfstring(L, "seekdb client (%s dialect, %s, %s)", dialect_name(c->dialect), c->version,
                       c->where);
  return 1;
}

/* info() -> {dialect=, version=, max_packet=, tls=}: what the Lua layer shows. */
static int conn_info(lua_State *L) {
  conn_t *c = conn_check(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, dialect_name(c->dialect));
  lua_setfield(L, -2, "dialect");
  lua_pushstring(L, c->version);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, (lua_Integer)c->max_packet);
  lua_setfield(L, -2, "max_packet");
  tls_info(L, c->my);
  return 1;
}

static int conn_isclosed(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  lua_pushboolean(L, c->my == NULL);
  return 1;
}

void conn_register(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"close", conn_close},
    {"is_closed", conn_isclosed},
    {"info", conn_info},
    {"create_collection", coll_create},
    {"describe_collection", coll_describe},
    {"list_collections", coll_list},
    {"has_collection", coll_has},
    {"delete_collection", coll_delete},
    {"upsert", upsert_run},
    {"add", add_run},
    {"update", update_run},
    {"delete", delete_run},
    {"get", read_get},
    {"count", read_count},
    {"query", query_run},
    {"sql", conn_query},
    {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", conn_gc},
    {"__close", conn_gc},
    {"__tostring", conn_tostring},
    {NULL, NULL}};
  luaL_newmetatable(L, CONN_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
