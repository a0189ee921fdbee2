/* conn:sql(sql), client:query(sql) in Lua: the raw SQL escape hatch, shaped
 * like lua-resty-mysql's query: a statement with a result set gives a list
 * of rows keyed by column name (values are strings, SQL NULL is
 * seekdb.null); any other statement gives {affected_rows =, insert_id =,
 * warning_count =}. For administration and tests: collections are reached
 * through their methods. */
#include "seekdb.h"

static void query_rows(lua_State *L, op_t *op) {
  MYSQL *my = op->conn->my;
  MYSQL_ROW row;
  MYSQL_FIELD *fields;
  unsigned int nf, f;
  lua_Integer k = 0;
  if (!op->res) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)mysql_affected_rows(my));
    lua_setfield(L, -2, "affected_rows");
    lua_pushinteger(L, (lua_Integer)mysql_insert_id(my));
    lua_setfield(L, -2, "insert_id");
    lua_pushinteger(L, (lua_Integer)mysql_warning_count(my));
    lua_setfield(L, -2, "warning_count");
    op_return(L, op, 1);
    return;
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
  op_return(L, op, 1);
}

static void query_start(lua_State *L, op_t *op) {
  size_t len;
  const char *sql;
  if (lua_type(L, 2) != LUA_TSTRING)
    op_argerror(L, op, 1, "SQL string expected, got %s", luaL_typename(L, 2));
  sql = lua_tolstring(L, 2, &len);
  sb_add(&op->sql, sql, len);
  op->too_big = "send a shorter statement";
  op_sql(L, op, SQL_RESULT, query_rows);
}

const method_t sql_method = {"query", query_start, 0, NULL};
