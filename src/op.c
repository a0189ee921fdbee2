/* What the pieces of a method use: the op's errors and checks.
 *
 * A piece runs under lua_pcall (call.c), so it may raise anywhere; the
 * runtime then ends the call (ROLLBACK, memory) and turns the error into the
 * return convention:
 *   - op_fail (runtime failure):        nil, errmsg[, errno, sqlstate]
 *   - op_argerror or any other error:   raised again (misuse of the API)
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "seekdb.h"

/* The connection at idx, open. A client closed by its owner is misuse; one
 * the runtime had to close (a timeout, an abandoned call) says why. */
conn_t *conn_check(lua_State *L, int idx) {
  conn_t *c = luaL_checkudata(L, idx, CONN_MT);
  if (!c->my) {
    if (c->closed_why)
      luaL_error(L, "attempt to use a closed seekdb client (it was closed because %s: open a new one)",
                 c->closed_why);
    luaL_error(L, "attempt to use a closed seekdb client");
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

/* How long one statement may be: the packet less its header (PACKET_MARGIN). */
size_t op_statement_limit(op_t *op) {
  return op->max_packet > 2 * PACKET_MARGIN ? op->max_packet - PACKET_MARGIN : op->max_packet / 2;
}

/* Connector/C sends a statement in one go while the socket takes it, and
 * building it is a pass over all its bytes: in a resumable call, statements
 * of about 1 MB (a millisecond or two of that work), not max_allowed_packet's
 * 16 MB or more in one step. */
#define STATEMENT_TARGET (1u << 20)

size_t op_statement_target(op_t *op) {
  size_t limit = op_statement_limit(op);
  return op->sliced && limit > STATEMENT_TARGET ? STATEMENT_TARGET : limit;
}

/* Refuses fields of an options table that the method does not know (a typo
 * like `metadata` for `metadatas` would otherwise be silently ignored). part
 * names a nested table (hybrid_search's "knn"), NULL for the arguments. */
void op_check_fields(lua_State *L, op_t *op, int idx, const char *part, const char *const fields[]) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int f = 0;
    while (k && fields[f] && strcmp(k, fields[f]) != 0) f++;
    if (!k || !fields[f]) {
      lua_pushliteral(L, "");
      for (f = 0; fields[f]; f++) lua_pushfstring(L, "%s%s", f ? ", " : "", fields[f]);
      lua_concat(L, f + 1);
      if (part)
        op_argerror(L, op, 1, "unknown field '%s' in %s: %s takes %s", k ? k : luaL_typename(L, -3), part, part,
                    lua_tostring(L, -1));
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

/* Fails with the last statement's error, as the server gave it. A statement
 * the server stopped at the limit that the call's deadline set
 * (SET STATEMENT max_statement_time, see limit_statement) is the call's
 * timeout, and says so. */
int op_sqlfail(lua_State *L, op_t *op) {
  if (op->err == ER_STATEMENT_TIMEOUT && op->deadline > 0 && op->conn)
    return op_sqlfail_as(L, op, "timeout: %s did not finish within %f s (the client's timeout option): the "
                                "server stopped it (%s); nothing was changed",
                         op->fname, op->conn->timeout, op->errmsg);
  return op_sqlfail_as(L, op, "%s", op->errmsg);
}

/* The same errno and SQLSTATE, our own words. */
int op_sqlfail_as(lua_State *L, op_t *op, const char *fmt, ...) {
  va_list ap;
  op->err_no = op->err;
  memcpy(op->sqlstate, op->errstate, sizeof op->sqlstate);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  op->failed = 1;
  return lua_error(L);
}

void op_check_sql(lua_State *L, op_t *op) {
  if (op->sql.oom) op_fail(L, op, "not enough memory to build the statement");
}

void op_free_result(op_t *op) {
  if (op->res) mysql_free_result(op->res);
  op->res = NULL;
}

void op_begin(lua_State *L, op_t *op, op_fn next) {
  op->sql.len = 0;
  sb_adds(&op->sql, "START TRANSACTION");
  op->in_txn = 1;
  op_sql(L, op, 0, next);
}

/* COMMIT, SQL_TRY: a deadlock can still end the transaction here. */
void op_commit(lua_State *L, op_t *op, op_fn next) {
  op->sql.len = 0;
  sb_adds(&op->sql, "COMMIT");
  op_sql(L, op, SQL_TRY, next);
}

/* NULL when the name is fine, else why not. */
const char *valid_collection_name(const char *name, size_t len, size_t max) {
  size_t i;
  if (len == 0) return "it is empty";
  if (len > max) return max == NAME_MAX_V1 ? "it is longer than 59 characters (the longest a version 1 "
                                             "collection's table allows)"
                                           : "it is longer than 512 characters";
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
    if (len > 5 && memcmp(t, "c$v1$", 5) == 0) ok = valid_collection_name(t + 5, len - 5, NAME_MAX_V1) == NULL;
    else if (len == 37 && memcmp(t, "c$v2$", 5) == 0)
      for (ok = 1, i = 5; i < len; i++) ok &= isxdigit((unsigned char)t[i]) != 0;
  }
  if (!ok) op_argerror(L, op, 1, "not a collection's table (use the collection's methods)");
  memcpy(out, t, len + 1);
}

/* A collection's dimension, as the Lua layer passes it: what the table says,
 * up to the widest vector any server allows. */
int op_dimension(lua_State *L, op_t *op, int idx) {
  int isint;
  lua_Integer dim = lua_tointegerx(L, idx, &isint);
  if (!isint || lua_type(L, idx) != LUA_TNUMBER || dim < 1 || dim > DIM_MAX_ANY)
    op_argerror(L, op, 1, "not a collection's dimension (use the collection's methods)");
  return (int)dim;
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
  op_return(L, op, 1);
  return 1;
}

/* Rows changed by the last statement (none in a dry run). */
unsigned long long op_affected(op_t *op) {
  return op->conn && op->conn->my ? (unsigned long long)mysql_affected_rows(op->conn->my) : 0;
}
