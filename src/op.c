/* Running one call on a connection.
 *
 * Every method that talks to the server runs its body through op_run: the body
 * executes under lua_pcall with the op as an upvalue, so it may raise at any
 * point (a failed statement, a bad item, even a memory error) and op_run still
 * frees the statement buffer and result, rolls back an open transaction and
 * clears the busy flag. Then it turns the error into the return convention:
 *   - op_fail (runtime failure):        nil, errmsg[, errno, sqlstate]
 *   - op_argerror or any other error:   raised again (misuse of the API)
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "seekdb.h"

conn_t *conn_check(lua_State *L, int idx) {
  conn_t *c = luaL_checkudata(L, idx, CONN_MT);
  if (!c->my) {
    lua_pushliteral(L, "attempt to use a closed seekdb client");
    lua_error(L);
  }
  return c;
}

void op_init(op_t *op, conn_t *c, const char *fname, int dialect) {
  memset(op, 0, sizeof *op);
  op->conn = c;
  op->fname = fname;
  op->dialect = c ? c->dialect : dialect;
  op->max_packet = c ? c->max_packet : 16UL << 20;
}

op_t *op_get(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

static void op_release(op_t *op) {
  op_free_result(op);
  if (op->release && op->state) op->release(op->state); /* closes statements before ROLLBACK */
  op->state = NULL;
  if (op->in_txn && op->conn && op->conn->my) {
    /* Best effort: on a lost connection the server has rolled back already. */
    mysql_query(op->conn->my, "ROLLBACK");
    op->in_txn = 0;
  }
  sb_free(&op->sql);
  sb_free(&op->cond);
  sb_free(&op->scratch);
  if (op->conn) op->conn->busy = 0;
}

int op_run(lua_State *L, op_t *op, lua_CFunction body) {
  int nargs = lua_gettop(L), status;
  if (op->conn) {
    unsigned int st = 0;
    if (op->conn->busy)
      return luaL_error(L, "the seekdb client is busy with another call "
                           "(an embedding function may not use the client that called it)");
    op->conn->busy = 1;
    /* Escaping depends on the session's sql_mode: read it for every call. */
    if (mariadb_get_infov(op->conn->my, MARIADB_CONNECTION_SERVER_STATUS, &st) == 0)
      op->no_backslash = (st & SERVER_STATUS_NO_BACKSLASH_ESCAPES) != 0;
  }
  lua_pushlightuserdata(L, op);
  lua_pushcclosure(L, body, 1);
  lua_insert(L, 1);
  status = lua_pcall(L, nargs, LUA_MULTRET, 0);
  op_release(op);
  if (status == LUA_OK) return lua_gettop(L);
  if (!op->failed || op->raise) return lua_error(L);
  lua_pushnil(L);
  lua_insert(L, -2);
  if (!op->err_no) return 2;
  lua_pushinteger(L, op->err_no);
  if (op->sqlstate[0]) lua_pushstring(L, op->sqlstate);
  else lua_pushnil(L);
  return 4;
}

/* The usual method: a body on the connection at index 1, no extra state. */
int op_call(lua_State *L, const char *fname, lua_CFunction body) {
  op_t op;
  op_init(&op, conn_check(L, 1), fname, 0);
  return op_run(L, &op, body);
}

/* The same body as a dry run, for golden tests: core.sql(dialect, method,
 * ...) calls this with the dialect at 1 and the method's arguments after it,
 * where the connection's method has them. */
int op_dry(lua_State *L, const char *fname, lua_CFunction body) {
  op_t op;
  op_init(&op, NULL, fname, dialect_from_name(L, 1));
  lua_remove(L, 1);
  return op_run(L, &op, body);
}

/* How long one statement may be: the packet less a margin for its header. */
size_t op_statement_limit(op_t *op) {
  return op->max_packet > 4096 ? op->max_packet - 1024 : op->max_packet / 2;
}

/* Refuses fields of an options table that the method does not know (a typo
 * like `metadata` for `metadatas` would otherwise be silently ignored). */
void op_check_fields(lua_State *L, op_t *op, int idx, const char *const fields[]) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int f = 0;
    while (k && fields[f] && strcmp(k, fields[f]) != 0) f++;
    if (!k || !fields[f]) {
      lua_pushliteral(L, "");
      for (f = 0; fields[f]; f++) lua_pushfstring(L, "%s%s", f ? ", " : "", fields[f]);
      lua_concat(L, f + 1);
      op_argerror(L, op, 1, "unknown field '%s': %s takes %s", k ? k : luaL_typename(L, -3), op->fname,
                  lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
}

int op_fail(lua_State *L, op_t *op, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  op->failed = 1;
  return lua_error(L);
}

int op_argerror(lua_State *L, op_t *op, int arg, const char *fmt, ...) {
  va_list ap;
  lua_pushfstring(L, "bad argument #%d to '%s' (", arg, op->fname);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushliteral(L, ")");
  lua_concat(L, 3);
  op->failed = op->raise = 1;
  return lua_error(L);
}

int op_sqlfail(lua_State *L, op_t *op) {
  MYSQL *my = op->conn->my;
  op->err_no = mysql_errno(my);
  strncpy(op->sqlstate, mysql_sqlstate(my), sizeof op->sqlstate - 1);
  return op_fail(L, op, "%s", mysql_error(my));
}

void op_check_sql(lua_State *L, op_t *op) {
  if (op->sql.oom) op_fail(L, op, "not enough memory to build the statement");
}

void op_exec(lua_State *L, op_t *op, const char *sql, size_t len) {
  if (!op->conn) { /* dry run: collect the statement */
    lua_pushlstring(L, sql, len);
    lua_rawseti(L, op->dry_idx, (lua_Integer)lua_rawlen(L, op->dry_idx) + 1);
    return;
  }
  if (mysql_real_query(op->conn->my, sql, (unsigned long)len)) op_sqlfail(L, op);
}

void op_exec_buf(lua_State *L, op_t *op) {
  op_check_sql(L, op);
  op_exec(L, op, op->sql.data, op->sql.len);
  op->sql.len = 0;
}

/* Runs the statement and keeps its result in op->res; a dry run collects the
 * statement and has no result (callers read nothing then). */
MYSQL_RES *op_query_buf(lua_State *L, op_t *op) {
  op_free_result(op);
  op_exec_buf(L, op);
  if (!op->conn) return NULL;
  op->res = mysql_store_result(op->conn->my);
  if (!op->res && mysql_field_count(op->conn->my)) op_sqlfail(L, op);
  return op->res;
}

void op_free_result(op_t *op) {
  if (op->res) mysql_free_result(op->res);
  op->res = NULL;
}

void op_begin(lua_State *L, op_t *op) {
  static const char sql[] = "START TRANSACTION";
  op_exec(L, op, sql, sizeof sql - 1);
  op->in_txn = 1;
}

void op_commit(lua_State *L, op_t *op) {
  static const char sql[] = "COMMIT";
  op_exec(L, op, sql, sizeof sql - 1);
  op->in_txn = 0;
}

/* NULL when the name is fine, else why not. */
const char *valid_collection_name(const char *name, size_t len) {
  size_t i;
  if (len == 0) return "it is empty";
  if (len > NAME_MAX_LEN) return "it is longer than 59 characters";
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_'))
      return "only letters, digits and _ are allowed";
  }
  return NULL;
}

/* The table of a collection, as create/describe gave it to the Lua layer:
 * c$v1$<name> (pyseekdb's first layout) or c$v2$<32 hex digits> (a collection
 * listed in sdk_collections). Anything else is refused before any SQL. */
void op_table(lua_State *L, op_t *op, int idx, char out[TABLE_NAME_SIZE]) {
  size_t len = 0, i;
  const char *t = NULL;
  int ok = 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    t = lua_tolstring(L, idx, &len);
    if (len > 5 && memcmp(t, "c$v1$", 5) == 0) ok = valid_collection_name(t + 5, len - 5) == NULL;
    else if (len == 37 && memcmp(t, "c$v2$", 5) == 0)
      for (ok = 1, i = 5; i < len; i++) ok &= isxdigit((unsigned char)t[i]) != 0;
  }
  if (!ok) op_argerror(L, op, 1, "not a collection's table (use the collection's methods)");
  memcpy(out, t, len + 1);
}

/* A collection's dimension, as the Lua layer passes it: 1..4096. */
int op_dimension(lua_State *L, op_t *op, int idx) {
  int isint;
  lua_Integer dim = lua_tointegerx(L, idx, &isint);
  if (!isint || lua_type(L, idx) != LUA_TNUMBER || dim < 1 || dim > 4096)
    op_argerror(L, op, 1, "not a collection's dimension (use the collection's methods)");
  return (int)dim;
}

/* Validates the collection name at idx and writes its v1 table name. */
void op_table_name(lua_State *L, op_t *op, int idx, char out[TABLE_NAME_SIZE]) {
  size_t len;
  const char *name, *why;
  if (lua_type(L, idx) != LUA_TSTRING)
    op_argerror(L, op, 1, "collection name must be a string, got %s", luaL_typename(L, idx));
  name = lua_tolstring(L, idx, &len);
  why = valid_collection_name(name, len);
  if (why)
    op_fail(L, op, "invalid collection name '%s': %s (names match ^[A-Za-z0-9_]+$, "
                   "at most 59 characters)", name, why);
  memcpy(out, "c$v1$", 5);
  memcpy(out + 5, name, len + 1);
}

int dialect_from_name(lua_State *L, int idx) {
  static const char *const names[] = {"seekdb", "mariadb", NULL};
  return luaL_checkoption(L, idx, NULL, names) + 1;
}

const char *dialect_name(int dialect) {
  return dialect == DIALECT_MARIADB ? "mariadb" : "seekdb";
}

/* A dry run (no connection) collects its statements in a new table. */
void op_dry_begin(lua_State *L, op_t *op) {
  if (op->conn) return;
  lua_newtable(L);
  op->dry_idx = lua_gettop(L);
}

int op_dry_result(lua_State *L, op_t *op) {
  lua_pushvalue(L, op->dry_idx);
  return 1;
}

/* Runs the statement in op->sql (storing a result, if any, in op->res);
 * the server's errno, or 0 on success. */
unsigned int op_try_buf(lua_State *L, op_t *op) {
  size_t len = op->sql.len;
  op_check_sql(L, op);
  op_free_result(op);
  op->sql.len = 0;
  if (!op->conn) {
    op_exec(L, op, op->sql.data, len);
    return 0;
  }
  if (mysql_real_query(op->conn->my, op->sql.data, (unsigned long)len)) return mysql_errno(op->conn->my);
  op->res = mysql_store_result(op->conn->my);
  if (!op->res && mysql_field_count(op->conn->my)) return mysql_errno(op->conn->my);
  return 0;
}

/* Fails with the last server error's errno and SQLSTATE but our own message. */
int op_sqlfail_as(lua_State *L, op_t *op, const char *fmt, ...) {
  va_list ap;
  MYSQL *my = op->conn->my;
  op->err_no = mysql_errno(my);
  strncpy(op->sqlstate, mysql_sqlstate(my), sizeof op->sqlstate - 1);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  op->failed = 1;
  return lua_error(L);
}
