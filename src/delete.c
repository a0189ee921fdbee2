/* collection:delete{ids =, where =, where_document =}: the rows matching all
 * that are given, in one transaction; returns how many were deleted. */
#include "seekdb.h"

static const char *const delete_fields[] = {"ids", "where", "where_document", NULL};

enum { A_TABLE = 2, A_ARGS = 3, S_IDS, S_WHERE, S_WDOC };

static int delete_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  lua_Integer next = 1, n;
  unsigned long long total = 0;
  int cond;
  op_table(L, op, A_TABLE, table);
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_ARGS);
  op_check_fields(L, op, A_ARGS, delete_fields);
  lua_getfield(L, A_ARGS, "ids");            /* S_IDS */
  lua_getfield(L, A_ARGS, "where");          /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document"); /* S_WDOC */
  if (lua_isnil(L, S_IDS) && lua_isnil(L, S_WHERE) && lua_isnil(L, S_WDOC))
    op_argerror(L, op, 1, "delete needs ids, where or where_document (to delete everything, "
                          "delete the collection)");
  if (!lua_isnil(L, S_IDS)) ids_list(L, op, S_IDS);
  cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  op_dry_begin(L, op);
  n = lua_isnil(L, S_IDS) ? 0 : (lua_Integer)lua_rawlen(L, S_IDS);
  if (!lua_isnil(L, S_IDS) && n == 0) { /* no ids: nothing matches */
    if (!op->conn) return op_dry_result(L, op);
    lua_pushinteger(L, 0);
    return 1;
  }
  op_begin(L, op);
  do {
    sb_adds(&op->sql, "DELETE");
    select_from(op, table);
    if (n > 0) {
      sb_adds(&op->sql, " WHERE ");
      add_id_list(L, op, S_IDS, &next, op->cond.len + 8);
    }
    add_cond(op, cond, n == 0);
    op_exec_buf(L, op);
    total += op_affected(op);
  } while (next <= n);
  op_commit(L, op);
  if (!op->conn) return op_dry_result(L, op);
  lua_pushinteger(L, (lua_Integer)total);
  return 1;
}

int delete_run(lua_State *L) { return op_call(L, "delete", delete_body); }
int delete_sql(lua_State *L) { return op_dry(L, "delete", delete_body); }
