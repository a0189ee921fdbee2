/* collection:delete{ids =, where =, where_document =}: the rows matching all
 * that are given, in one transaction (run again after a deadlock, like
 * writes); returns how many were deleted. */
#include "seekdb.h"

static const char *const delete_fields[] = {"ids", "where", "where_document", NULL};

enum { A_TABLE = 2, A_ARGS = 3, S_IDS, S_WHERE, S_WDOC, S_DRY };

typedef struct delete_state {
  char table[TABLE_NAME_SIZE];
  int cond, attempt;
  lua_Integer next, n, checked;
  unsigned long long total;
} delete_state;

static void delete_begun(lua_State *L, op_t *op);

static void delete_again(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  d->next = 1;
  d->total = 0;
  op_begin(L, op, delete_begun);
}

static void delete_committed(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  if (op->err) {
    if (retry_after(L, op, &d->attempt, delete_again)) return;
    op_sqlfail(L, op);
  }
  op->in_txn = 0;
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  lua_pushinteger(L, (lua_Integer)d->total);
  op_return(L, op, 1);
}

/* After each DELETE: count, then the next ids or COMMIT. */
static void delete_done(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  if (op->err) {
    if (retry_after(L, op, &d->attempt, delete_again)) return;
    op_sqlfail(L, op);
  }
  d->total += op_affected(op);
  if (d->next <= d->n) delete_begun(L, op);
  else op_commit(L, op, delete_committed);
}

static void delete_begun(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  op->sql.len = 0;
  sb_adds(&op->sql, "DELETE");
  select_from(op, d->table);
  if (d->n > 0) {
    sb_adds(&op->sql, " WHERE ");
    add_id_list(L, op, S_IDS, &d->next, op->cond.len + 8);
  }
  add_cond(op, d->cond, d->n == 0);
  if (d->n == 0) d->next = 1; /* one statement */
  op_sql(L, op, SQL_TRY | SQL_WARN | SQL_TIMED, delete_done);
}

static void delete_ids_checked(lua_State *L, op_t *op);

static void delete_start(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  op_table(L, op, A_TABLE, d->table);
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_ARGS);
  op_check_fields(L, op, A_ARGS, NULL, delete_fields);
  lua_getfield(L, A_ARGS, "ids");            /* S_IDS */
  lua_getfield(L, A_ARGS, "where");          /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document"); /* S_WDOC */
  if (lua_isnil(L, S_IDS) && lua_isnil(L, S_WHERE) && lua_isnil(L, S_WDOC))
    op_argerror(L, op, 1, "delete needs ids, where or where_document (to delete everything, "
                          "delete the collection)");
  if (!lua_isnil(L, S_IDS)) ids_list(L, op, S_IDS);
  op->too_big = "a filter this large does not fit in one statement: make it smaller (fewer $in values, "
                "a shorter $contains or $regex)";
  d->cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  op_dry_begin(L, op); /* S_DRY */
  if (!lua_isnil(L, S_IDS)) lua_pushnil(L); /* where ids_check goes on from */
  delete_ids_checked(L, op);
}

/* The ids are checked (a slice at a time), then deleted. */
static void delete_ids_checked(lua_State *L, op_t *op) {
  delete_state *d = op->state;
  if (!lua_isnil(L, S_IDS) && !ids_check(L, op, S_IDS, &d->checked)) {
    op_yield(L, op, delete_ids_checked);
    return;
  }
  d->n = lua_isnil(L, S_IDS) ? 0 : (lua_Integer)lua_rawlen(L, S_IDS);
  if (!lua_isnil(L, S_IDS) && d->n == 0) { /* no ids: nothing matches */
    if (!op->conn) {
      op_dry_result(L, op);
      return;
    }
    lua_pushinteger(L, 0);
    op_return(L, op, 1);
    return;
  }
  delete_again(L, op);
}

const method_t delete_method = {"delete", delete_start, sizeof(delete_state), NULL};
