/* The connection userdata: connecting (a call like any other, so that it can
 * run resumably too), identifying the server's dialect, closing, and the
 * metatable every connection method hangs off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seekdb.h"

/* Defaults when the options say nothing: a server that accepts and never
 * answers, or stops answering, must not hold a client forever. */
#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_READ_TIMEOUT 60
#define DEFAULT_WRITE_TIMEOUT 60
/* Runs of a transaction after a deadlock or lock wait timeout. MariaDB's
 * vector index deadlocks concurrent writers on its own graph pages whatever
 * order their rows come in: with backoffs doubling to half a second, ten
 * more runs see them through (spec/19: four writers and a deleter). */
#define DEFAULT_RETRIES 10
/* A resumable call's slice of Lua work per step (seconds of CPU). */
#define DEFAULT_SLICE 0.0005

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

static lua_Integer opt_integer(lua_State *L, const char *key, lua_Integer def, lua_Integer max) {
  lua_Integer v = def;
  lua_getfield(L, 1, key);
  if (!lua_isnil(L, -1)) {
    int ok;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < 0 || v > max) {
      lua_pushfstring(L, "option '%s' must be an integer from 0 to %I", key, max);
      luaL_argerror(L, 1, lua_tostring(L, -1));
    }
  }
  lua_pop(L, 1);
  return v;
}

/* Seconds, possibly fractional; 0 or false: none. */
static double opt_seconds(lua_State *L, const char *key, double def) {
  double v = def;
  lua_getfield(L, 1, key);
  if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) v = 0;
  else if (!lua_isnil(L, -1)) {
    v = lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : -1;
    if (!(v >= 0 && v <= 1e9)) {
      lua_pushfstring(L, "option '%s' must be a number of seconds (0 or false: no limit)", key);
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

/* Connector/C takes whole seconds; at least 1 when a limit is asked for. */
static void set_timeout(MYSQL *my, double secs, enum mysql_option o) {
  unsigned int v = secs <= 0 ? 0 : secs < 1 ? 1 : (unsigned int)(secs + 0.999);
  if (v) mysql_optionsv(my, o, &v);
}

/* ---- connecting: a call ------------------------------------------------------- */

/* The connect call's own state: copies of what it connects with (the options
 * table may change while a resumable connect waits). */
typedef struct connect_state {
  conn_t *c;
  int ok;
  char *host, *user, *password, *database, *socket;
} connect_state;

static void connect_release(void *p) {
  connect_state *s = p;
  if (s->c && !s->ok && s->c->my) { /* a failed connect leaves a closed client */
    mysql_close(s->c->my);
    s->c->my = NULL;
  }
  free(s->host);
  free(s->user);
  free(s->password);
  free(s->database);
  free(s->socket);
}

static void connected_done(lua_State *L, op_t *op) {
  connect_state *s = op->state;
  s->ok = 1;
  lua_pushvalue(L, 1); /* the connection */
  op_return(L, op, 1);
}

static void session_set(lua_State *L, op_t *op) {
  conn_t *c = op->conn;
  op_free_result(op);
  /* pyseekdb's HNSW default ef_search; MariaDB's 20 misses neighbours.
   * Best effort: a server without the variable searches as it does. */
  if (c->dialect == DIALECT_MARIADB) {
    op->sql.len = 0;
    sb_adds(&op->sql, "SET SESSION mhnsw_ef_search = 64");
    op_sql(L, op, SQL_TRY, connected_done);
    return;
  }
  connected_done(L, op);
}

static void identified_ob(lua_State *L, op_t *op) {
  conn_t *c = op->conn;
  if (op->err || !op->res || !mysql_fetch_row(op->res))
    op_fail(L, op, "server %s is neither seekdb/OceanBase nor MariaDB 11.7+: pass dialect = \"seekdb\" "
                   "or \"mariadb\" to use it anyway", c->version);
  c->dialect = DIALECT_SEEKDB;
  op->dialect = c->dialect;
  session_set(L, op);
}

/* The dialect from SELECT VERSION(): "...seekdb-v1.0..." is seekdb; an
 * OceanBase answers ob_version(); MariaDB needs 11.7 for vectors. */
static void identified(lua_State *L, op_t *op) {
  conn_t *c = op->conn;
  MYSQL_ROW row = op->res ? mysql_fetch_row(op->res) : NULL;
  int major = 0, minor = 0, forced = lua_tointeger(L, 3);
  if (op->err) op_sqlfail(L, op);
  if (!row || !row[0]) op_fail(L, op, "the server did not say its version");
  snprintf(c->version, sizeof c->version, "%s", row[0]);
  if (mysql_num_fields(op->res) > 1 && row[1]) {
    unsigned long mp = strtoul(row[1], NULL, 10);
    if (mp && (!c->max_packet || mp < c->max_packet)) c->max_packet = mp;
  }
  op_free_result(op);
  op->max_packet = c->max_packet;
  if (forced) c->dialect = forced;
  else if (strstr(c->version, "seekdb")) c->dialect = DIALECT_SEEKDB;
  else if (strstr(c->version, "MariaDB")) {
    sscanf(c->version, "%d.%d", &major, &minor);
    if (major < 11 || (major == 11 && minor < 7))
      op_fail(L, op, "MariaDB %s has no vector type: use MariaDB 11.7 or later, seekdb or OceanBase 4.3.5+",
              c->version);
    c->dialect = DIALECT_MARIADB;
  } else {
    op->sql.len = 0;
    sb_adds(&op->sql, "SELECT ob_version()");
    op_sql(L, op, SQL_RESULT | SQL_TRY, identified_ob);
    return;
  }
  op->dialect = c->dialect;
  session_set(L, op);
}

/* The connect's outcome as the handle has it now (tls.c may have put its
 * own words there). */
static void record_handle(op_t *op, MYSQL *my) {
  op_record_error(op, mysql_errno(my), mysql_sqlstate(my), mysql_error(my));
}

/* [connection, options, forced dialect] */
static void connected(lua_State *L, op_t *op) {
  if (!tls_check(L, 2, op->conn->my, op->err == 0)) record_handle(op, op->conn->my);
  if (op->err) op_sqlfail(L, op);
  op->sql.len = 0;
  sb_adds(&op->sql, "SELECT VERSION(), @@max_allowed_packet");
  op_sql(L, op, SQL_RESULT | SQL_TRY, identified);
}

static char *dup_opt(lua_State *L, op_t *op, const char *key) {
  char *d;
  lua_getfield(L, 2, key);
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return NULL;
  }
  if (!(d = strdup(lua_tostring(L, -1)))) op_fail(L, op, "not enough memory");
  lua_pop(L, 1);
  return d;
}

/* [connection, options, forced dialect] */
static void connect_start(lua_State *L, op_t *op) {
  connect_state *s = op->state;
  lua_Integer port;
  s->c = op->conn;
  s->host = dup_opt(L, op, "host");
  s->user = dup_opt(L, op, "user");
  s->password = dup_opt(L, op, "password");
  s->database = dup_opt(L, op, "database");
  s->socket = dup_opt(L, op, "socket");
  lua_getfield(L, 2, "port");
  port = lua_tointeger(L, -1);
  lua_pop(L, 1);
  op->connect_host = s->host;
  op->connect_user = s->user;
  op->connect_password = s->password;
  op->connect_db = s->database;
  op->connect_socket = s->socket;
  op->connect_port = (unsigned int)port;
  op_connect(L, op, connected);
}

static const method_t connect_method = {"connect", connect_start, sizeof(connect_state), connect_release};

/* The Lua layer fills in the defaults; here every option is taken as given,
 * and checked. */
static int open_conn(lua_State *L, int resumable) {
  static const char *const dialects[] = {"auto", "seekdb", "mariadb", NULL};
  int forced;
  lua_Integer port;
  double connect_timeout, read_timeout, write_timeout;
  my_bool no = 0;
  conn_t *c;
  const char *host, *user, *db, *sock;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  port = opt_integer(L, "port", 0, 65535);
  lua_getfield(L, 1, "dialect");
  for (forced = 0; !lua_isnil(L, -1) && dialects[forced] &&
                   !(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), dialects[forced]) == 0);
       forced++) {}
  if (!dialects[forced]) luaL_argerror(L, 1, "option 'dialect' must be \"auto\", \"seekdb\" or \"mariadb\"");
  if (lua_isnil(L, -1)) forced = 0;
  lua_pop(L, 1);
  host = opt_string(L, "host");
  user = opt_string(L, "user");
  db = opt_string(L, "database");
  sock = opt_string(L, "socket");
  opt_string(L, "password");
  connect_timeout = opt_seconds(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  read_timeout = opt_seconds(L, "read_timeout", DEFAULT_READ_TIMEOUT);
  write_timeout = opt_seconds(L, "write_timeout", DEFAULT_WRITE_TIMEOUT);

  /* A no-op in Connector/C 3, but the documented way to use the library from
   * a thread other than the one that initialised it (nginx worker threads). */
  mysql_thread_init();
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CONN_MT);
  c->max_packet = (unsigned long)opt_integer(L, "max_packet", 0, 1L << 30);
  c->text_only = opt_boolean(L, "text_protocol");
  c->retries = (int)opt_integer(L, "deadlock_retries", DEFAULT_RETRIES, 100);
  lua_getfield(L, 1, "pipeline");
  c->pipeline = lua_isnil(L, -1) || lua_toboolean(L, -1); /* on unless false */
  lua_pop(L, 1);
  c->timeout = opt_seconds(L, "timeout", 0);
  c->slice = opt_seconds(L, "slice", DEFAULT_SLICE);
  {
    const char *v = opt_string(L, "vectors");
    if (v && strcmp(v, "vector") != 0 && strcmp(v, "table") != 0)
      luaL_argerror(L, 1, "option 'vectors' must be \"table\" or \"vector\"");
    c->vectors = v && strcmp(v, "vector") == 0;
  }
  if (sock)
    snprintf(c->where, sizeof c->where, "%s@localhost/%s via %s", user ? user : "", db ? db : "", sock);
  else snprintf(c->where, sizeof c->where, "%s@%s:%u/%s", user ? user : "", host ? host : "localhost",
                (unsigned)port, db ? db : "");
  if (!(c->my = mysql_init(NULL))) return luaL_error(L, "not enough memory for a connection");
  mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  /* Reconnecting would silently drop an open transaction: a lost connection
   * stays lost, and the caller sees the error. */
  mysql_optionsv(c->my, MYSQL_OPT_RECONNECT, &no);
  /* Every statement runs through the non-blocking API (call.c): a wait is
   * always the runtime's, bounded by the call's deadline. */
  mysql_optionsv(c->my, MYSQL_OPT_NONBLOCK, 0);
  set_timeout(c->my, connect_timeout, MYSQL_OPT_CONNECT_TIMEOUT);
  set_timeout(c->my, read_timeout, MYSQL_OPT_READ_TIMEOUT);
  set_timeout(c->my, write_timeout, MYSQL_OPT_WRITE_TIMEOUT);
  tls_setup(L, 1, c->my);
  lua_insert(L, 1);             /* [conn, opts] */
  lua_pushinteger(L, forced);   /* [conn, opts, forced] */
  return call_connect(L, &connect_method, c, connect_timeout, resumable);
}

/* core.connect(opts[, resumable]): with resumable true, a call to drive
 * (call:resume) whose result is the connection. */
int conn_open(lua_State *L) {
  int resumable = lua_toboolean(L, 2);
  lua_settop(L, 1);
  return open_conn(L, resumable);
}

/* ---- the userdata ---------------------------------------------------------- */

static int conn_close(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  /* a call still running on it (another coroutine's, or the embedding
   * function's caller) ends: it finds the client closed */
  call_abandon_conn(L, c, "the client was closed");
  if (c->my) mysql_close(c->my);
  c->my = NULL;
  lua_pushboolean(L, 1);
  return 1;
}

static int conn_gc(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  call_abandon_conn(L, c, "the client was collected");
  if (c->my) mysql_close(c->my);
  c->my = NULL;
  return 0;
}

static int conn_tostring(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  if (!c->my) lua_pushfstring(L, "seekdb client (closed)");
  else if (!c->version[0]) lua_pushfstring(L, "seekdb client (connecting to %s)", c->where);
  else lua_pushfstring(L, "seekdb client (%s dialect, %s, %s)", dialect_name(c->dialect), c->version,
                       c->where);
  return 1;
}

/* info() -> {dialect=, version=, max_packet=, timeout=, tls=, tls_cipher=}:
 * what the Lua layer shows. */
static int conn_info(lua_State *L) {
  conn_t *c = conn_check(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, dialect_name(c->dialect));
  lua_setfield(L, -2, "dialect");
  lua_pushstring(L, c->version);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, (lua_Integer)c->max_packet);
  lua_setfield(L, -2, "max_packet");
  lua_pushnumber(L, c->timeout);
  lua_setfield(L, -2, "timeout");
  tls_info(L, c->my);
  return 1;
}

static int conn_isclosed(lua_State *L) {
  conn_t *c = luaL_checkudata(L, 1, CONN_MT);
  lua_pushboolean(L, c->my == NULL);
  return 1;
}

/* conn:set_timeout(seconds): the deadline of the calls that start after it. */
static int conn_set_timeout(lua_State *L) {
  conn_t *c = conn_check(L, 1);
  double v = lua_type(L, 2) == LUA_TBOOLEAN && !lua_toboolean(L, 2) ? 0 : luaL_checknumber(L, 2);
  luaL_argcheck(L, v >= 0 && v <= 1e9, 2, "a number of seconds (0 or false: no limit)");
  c->timeout = v;
  lua_pushboolean(L, 1);
  return 1;
}

/* The methods, for conn:<name>(...) (blocking) and conn:start(name, ...). */
static const method_t *const methods[] = {
  &coll_create_method, &coll_describe_method, &coll_list_method, &coll_has_method, &coll_delete_method,
  &upsert_method, &add_method, &update_method, &delete_method, &get_method, &count_method,
  &query_method, &sql_method,
  &coll_fork_method, &refresh_method, &db_create_method, &db_get_method, &db_list_method, &db_delete_method,
  &hybrid_search_method, NULL};

/* The name a method has on the connection (sql's is "sql"). */
static const char *conn_name(const method_t *m) {
  if (m == &coll_describe_method) return "describe_collection";
  if (m == &sql_method) return "sql";
  if (m == &coll_fork_method) return "fork_collection";
  return m->name;
}

static const method_t *find_method(const char *name) {
  for (int i = 0; methods[i]; i++)
    if (strcmp(conn_name(methods[i]), name) == 0) return methods[i];
  return NULL;
}

static int method_blocking(lua_State *L) {
  return call_blocking(L, lua_touserdata(L, lua_upvalueindex(1)));
}

/* conn:start(name, ...) -> a call (seekdb.Call) to drive with call:resume(). */
static int conn_start(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  const method_t *m = find_method(name);
  if (!m) return luaL_argerror(L, 2, lua_pushfstring(L, "no method '%s'", name));
  lua_remove(L, 2);
  return call_start(L, m, 1);
}

/* conn:start_plain(name, ...): the same without slices (the blocking form
 * driven from Lua, so that an embedding function may yield). */
static int conn_start_plain(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  const method_t *m = find_method(name);
  if (!m) return luaL_argerror(L, 2, lua_pushfstring(L, "no method '%s'", name));
  lua_remove(L, 2);
  return call_start(L, m, 0);
}

/* core.sql(dialect, method, ...): the statements a method would send. */
int conn_dry(lua_State *L) {
  int dialect = dialect_from_name(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const method_t *m = find_method(name);
  if (!m || m == &sql_method || m == &coll_describe_method || m == &coll_list_method || m == &coll_has_method ||
      m == &coll_delete_method)
    return luaL_argerror(L, 2, lua_pushfstring(L, "no method '%s'", name));
  lua_remove(L, 1);
  lua_remove(L, 1);
  lua_pushnil(L); /* where the connection would be */
  lua_insert(L, 1);
  return call_dry(L, m, dialect);
}

void conn_register(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"close", conn_close},
    {"is_closed", conn_isclosed},
    {"info", conn_info},
    {"set_timeout", conn_set_timeout},
    {"start", conn_start},
    {"start_plain", conn_start_plain},
    {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", conn_gc},
    {"__close", conn_gc},
    {"__tostring", conn_tostring},
    {NULL, NULL}};
  luaL_newmetatable(L, CONN_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, fns);
  for (int i = 0; methods[i]; i++) {
    lua_pushlightuserdata(L, (void *)methods[i]);
    lua_pushcclosure(L, method_blocking, 1);
    lua_setfield(L, -2, conn_name(methods[i]));
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
