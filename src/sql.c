/* conn:sql(sql), client:query(sql) in Lua: the raw SQL escape hatch, shaped like lua-resty-mysql's
 * query: a statement with a result set gives a list of rows keyed by column
 * name (values are strings, SQL NULL is seekdb.null); any other statement
 * gives {affected_rows =, insert_id =, warning_count =}. For administration
 * and tests: collections are reached through their methods. */
#include "seekdb.h"

static int query_body(lua_State *L) {
  op_t *op = op_get(L);
  size_t len;
  const char *sql;
  MYSQL *my = op->conn->my;
  MYSQL_ROW row;
  MYSQL_FIELD *fields;
  unsigned int nf, f;
  lua_Integer k = 0;
  if (lua_type(L, 2) != LUA_TSTRING)
    op_argerror(L, op, 1, "SQL string expected, got %s", luaL_typename(L, 2));
  sql = lua_tolstring(L, 2, &len);
  op_exec(L, op, sql, len);
  op->res = mysql_store_result(my);
  if (!op->res) {
    if (mysql_field_count(my)) op_sqlfail(L, op);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)mysql_affected_rows(my));
    lua_setfield(L, -2, "affected_rows");
    lua_pushinteger(L, (lua_Integer)mysql_insert_id(my));
    lua_setfield(L, -2, "insert_id");
    lua_pushinteger(L, (lua_Integer)mysql_warning_count(my));
    lua_setfield(L, -2, "warning_count");
    return 1;
  }
  nf = mysql_num_fields(op->res);
  fields = mysql_fetch_fields(op->res);
  lua_newtable(L);
  while ((row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *lens = mysql_fetch_lengths(op->res);
    lua_createtable(L, 0, (int)nf);
    for (f = 0; f < nf; f++) {
      if (row[f]) lua_pushlstring(L, row[f], lens[f]);
      else pushnull(L);
      lua_setfield(L, -2, fields[f].name);
    }
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

int conn_query(lua_State *L) { return op_call(L, "query", query_body); }

/* Rows changed by the last statement (none in a dry run). */
unsigned long long op_affected(op_t *op) {
  return op->conn ? (unsigned long long)mysql_affected_rows(op->conn->my) : 0;
}
