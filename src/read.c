/* Reading collections back: get and count. Result rows become Lua tables:
 * ids as strings, documents as strings, metadata decoded from JSON, vectors as
 * arrays of numbers; SQL NULL is seekdb.null. */
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

enum { INC_DOC = 1, INC_META = 2, INC_EMB = 4 };

/* Stack slots of the get body. */
enum { A_NAME = 2, A_DIM = 3, A_ARGS = 4, S_IDS = 5, S_OUT, S_POS };

static int parse_include(lua_State *L, op_t *op) {
  static const char *const names[] = {"documents", "metadatas", "embeddings", NULL};
  int inc = 0;
  lua_Integer i, n;
  lua_getfield(L, A_ARGS, "include");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return INC_DOC | INC_META;
  }
  if (lua_type(L, -1) != LUA_TTABLE)
    op_argerror(L, op, 1, "include must be a list of \"documents\", \"metadatas\", \"embeddings\"");
  n = (lua_Integer)lua_rawlen(L, -1);
  for (i = 1; i <= n; i++) {
    const char *s;
    int k;
    lua_rawgeti(L, -1, i);
    s = lua_tostring(L, -1);
    for (k = 0; s && names[k] && strcmp(s, names[k]) != 0; k++) {}
    if (!s || !names[k])
      op_argerror(L, op, 1, "include[%I] must be \"documents\", \"metadatas\" or \"embeddings\"", i);
    inc |= 1 << k;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return inc;
}

static lua_Integer opt_count(lua_State *L, op_t *op, const char *key, lua_Integer def) {
  lua_Integer v = def;
  int isint = 1;
  lua_getfield(L, A_ARGS, key);
  if (!lua_isnil(L, -1)) v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < 0) op_argerror(L, op, 1, "%s must be a non-negative integer", key);
  lua_pop(L, 1);
  return v;
}

/* Pops the value on top into item k of the result list `name`. */
static void store(lua_State *L, const char *name, lua_Integer k) {
  lua_getfield(L, S_OUT, name);
  lua_insert(L, -2);
  lua_rawseti(L, -2, k);
  lua_pop(L, 1);
}

/* Appends one row's values to the result lists (ids, documents, ...). */
static void push_row(lua_State *L, op_t *op, MYSQL_ROW row, unsigned long *len, int inc, int dim,
                     lua_Integer k) {
  int col = 1;
  lua_pushlstring(L, row[0], len[0]);
  store(L, "ids", k);
  if (inc & INC_DOC) {
    if (row[col]) lua_pushlstring(L, row[col], len[col]);
    else pushnull(L);
    store(L, "documents", k);
    col++;
  }
  if (inc & INC_META) {
    if (!row[col]) pushnull(L);
    else if (!json_push(L, row[col], len[col]))
      op_fail(L, op, "the metadata of id '%s' is not valid JSON", row[0]);
    store(L, "metadatas", k);
    col++;
  }
  if (inc & INC_EMB) {
    if (!row[col]) pushnull(L);
    else if (!vec_push(L, row[col], len[col], dim))
      op_fail(L, op, "the embedding of id '%s' is not a vector of %d numbers", row[0], dim);
    store(L, "embeddings", k);
  }
}

static void new_output(lua_State *L, int inc) {
  lua_createtable(L, 0, 4);
  lua_newtable(L);
  lua_setfield(L, -2, "ids");
  if (inc & INC_DOC) { lua_newtable(L); lua_setfield(L, -2, "documents"); }
  if (inc & INC_META) { lua_newtable(L); lua_setfield(L, -2, "metadatas"); }
  if (inc & INC_EMB) { lua_newtable(L); lua_setfield(L, -2, "embeddings"); }
}

static void select_head(op_t *op, const char *table, int inc) {
  sb_adds(&op->sql, "SELECT _id");
  if (inc & INC_DOC) sb_adds(&op->sql, ",document");
  if (inc & INC_META) sb_adds(&op->sql, ",metadata");
  if (inc & INC_EMB) sb_adds(&op->sql, ",embedding");
  sb_adds(&op->sql, " FROM ");
  sb_addident(&op->sql, table);
}

/* Reads the rows of op->res into the output; with ids, remembers each id's
 * row number in S_POS so the result can follow the requested order. */
static lua_Integer fetch_rows(lua_State *L, op_t *op, int inc, int dim, lua_Integer k) {
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    push_row(L, op, row, len, inc, dim, ++k);
    if (!lua_isnil(L, S_POS)) {
      lua_pushlstring(L, row[0], len[0]);
      lua_pushinteger(L, k);
      lua_rawset(L, S_POS);
    }
  }
  op_free_result(op);
  return k;
}

/* The rows were read in the server's order; put them in the order of the
 * requested ids (each once), then apply offset and limit. */
static void reorder(lua_State *L, int inc, lua_Integer offset, lua_Integer limit) {
  static const char *const lists[] = {"ids", "documents", "metadatas", "embeddings"};
  static const int flags[] = {-1, INC_DOC, INC_META, INC_EMB};
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, S_IDS), k = 0, skip = offset;
  int out;
  new_output(L, inc);
  out = lua_gettop(L);
  for (i = 1; i <= n && k < limit; i++) {
    lua_Integer row;
    lua_rawgeti(L, S_IDS, i);
    lua_pushvalue(L, -1);
    row = lua_rawget(L, S_POS) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (row) { /* used once: a repeated id does not repeat the row */
      lua_pushboolean(L, 0);
      lua_rawset(L, S_POS);
    } else lua_pop(L, 1);
    if (!row || skip-- > 0) continue;
    k++;
    for (int f = 0; f < 4; f++) {
      if (f > 0 && !(inc & flags[f])) continue;
      lua_getfield(L, out, lists[f]);
      lua_getfield(L, S_OUT, lists[f]);
      lua_rawgeti(L, -1, row);
      lua_rawseti(L, -3, k);
      lua_pop(L, 2);
    }
  }
  lua_replace(L, S_OUT);
}

/* get(name, dimension, {ids=, include=, limit=, offset=}) */
static int get_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  int inc, dim = (int)luaL_checkinteger(L, A_DIM);
  lua_Integer limit, offset, n = 0, i = 0, k = 0;
  size_t lim = op->max_packet > 4096 ? op->max_packet - 1024 : op->max_packet / 2;
  op_table_name(L, op, A_NAME, table);
  if (lua_isnoneornil(L, A_ARGS)) { lua_settop(L, A_ARGS - 1); lua_newtable(L); }
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_ARGS);
  inc = parse_include(L, op);
  limit = opt_count(L, op, "limit", 100);
  offset = opt_count(L, op, "offset", 0);

  lua_getfield(L, A_ARGS, "ids"); /* S_IDS */
  if (lua_type(L, S_IDS) == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
  } else if (!lua_isnil(L, S_IDS) && lua_type(L, S_IDS) != LUA_TTABLE)
    op_argerror(L, op, 1, "ids must be a string or a list of strings, got %s", luaL_typename(L, S_IDS));
  new_output(L, inc); /* S_OUT */
  if (lua_isnil(L, S_IDS)) {
    lua_pushnil(L); /* S_POS: no reordering */
    select_head(op, table, inc);
    sb_adds(&op->sql, " LIMIT ");
    sb_addint(&op->sql, limit);
    sb_adds(&op->sql, " OFFSET ");
    sb_addint(&op->sql, offset);
    op_query_buf(L, op);
    fetch_rows(L, op, inc, dim, 0);
    lua_settop(L, S_OUT);
    return 1;
  }
  lua_newtable(L); /* S_POS */
  n = (lua_Integer)lua_rawlen(L, S_IDS);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, S_IDS, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      op_argerror(L, op, 1, "ids[%I] must be a string, got %s", i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  /* as many ids per SELECT as the packet allows */
  i = 1;
  while (i <= n) {
    lua_Integer first = i;
    select_head(op, table, inc);
    sb_adds(&op->sql, " WHERE _id IN (");
    for (; i <= n; i++) {
      size_t len;
      const char *id;
      lua_rawgeti(L, S_IDS, i);
      id = lua_tolstring(L, -1, &len);
      lua_pop(L, 1); /* still held by the ids list */
      if (i > first && op->sql.len + 2 * len + 16 > lim) break;
      if (i > first) sb_addc(&op->sql, ',');
      sb_addhex(&op->sql, id, len);
    }
    sb_addc(&op->sql, ')');
    op_query_buf(L, op);
    k = fetch_rows(L, op, inc, dim, k);
  }
  reorder(L, inc, offset, limit);
  lua_settop(L, S_OUT);
  return 1;
}

int read_get(lua_State *L) { return op_call(L, "get", get_body); }

static int count_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  MYSQL_ROW row;
  op_table_name(L, op, A_NAME, table);
  sb_adds(&op->sql, "SELECT COUNT(*) FROM ");
  sb_addident(&op->sql, table);
  op_query_buf(L, op);
  row = mysql_fetch_row(op->res);
  lua_pushinteger(L, row && row[0] ? (lua_Integer)strtoll(row[0], NULL, 10) : 0);
  return 1;
}

int read_count(lua_State *L) { return op_call(L, "count", count_body); }
