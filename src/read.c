/* Reading collections back: get and count, and the row decoding that query
 * shares. Result rows become Lua tables: ids and documents as strings,
 * metadata decoded from JSON, vectors as arrays of numbers, distances as
 * numbers; SQL NULL is seekdb.null. */
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

static const char *const include_names[] = {"documents", "metadatas", "embeddings", "distances", NULL};
static const char *const list_names[] = {"ids", "documents", "metadatas", "embeddings", "distances"};
static const int list_flags[] = {0, INC_DOC, INC_META, INC_EMB, INC_DIST};

/* The include list in args (or def when absent), as INC_* flags; `allowed`
 * says which names this method takes. */
int include_parse(lua_State *L, op_t *op, int args, int def, int allowed) {
  int inc = 0;
  lua_Integer i, n;
  lua_getfield(L, args, "include");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  if (lua_type(L, -1) != LUA_TTABLE)
    op_argerror(L, op, 1, "include must be a list of field names, got %s", luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (!seq_exact_full(L, -1, n)) op_argerror(L, op, 1, "include must be a list with keys 1..n");
  for (i = 1; i <= n; i++) {
    const char *s;
    int k;
    lua_rawgeti(L, -1, i);
    s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (k = 0; s && include_names[k] && strcmp(s, include_names[k]) != 0; k++) {}
    if (!s || !include_names[k] || !(allowed & (1 << k)))
      op_argerror(L, op, 1, "include[%I] must be one of%s%s%s%s", i,
                  allowed & INC_DOC ? " \"documents\"" : "", allowed & INC_META ? " \"metadatas\"" : "",
                  allowed & INC_EMB ? " \"embeddings\"" : "", allowed & INC_DIST ? " \"distances\"" : "");
    inc |= 1 << k;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return inc;
}

/* A non-negative integer field of args, or def. */
lua_Integer opt_count(lua_State *L, op_t *op, int args, const char *key, lua_Integer def) {
  lua_Integer v = def;
  int isint = 1;
  lua_getfield(L, args, key);
  if (!lua_isnil(L, -1)) {
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < 0)
      op_argerror(L, op, 1, "%s must be a non-negative integer", key);
  }
  lua_pop(L, 1);
  return v;
}

/* Pushes {ids = {}, documents = {}, ...}: one list per included field. */
void rows_new(lua_State *L, int inc) {
  lua_createtable(L, 0, 5);
  for (int f = 0; f < 5; f++) {
    if (f > 0 && !(inc & list_flags[f])) continue;
    lua_newtable(L);
    lua_setfield(L, -2, list_names[f]);
  }
}

/* Pops the value on top into item k of the list `name` of the rows at out. */
static void store(lua_State *L, int out, const char *name, lua_Integer k) {
  lua_getfield(L, out, name);
  lua_insert(L, -2);
  lua_rawseti(L, -2, k);
  lua_pop(L, 1);
}

/* Appends one result row as item k of the rows at out. The columns are those
 * of select_head, in its order. */
void rows_push(lua_State *L, op_t *op, int out, MYSQL_ROW row, unsigned long *len, int inc, int dim,
               lua_Integer k) {
  int col = 1;
  luaL_checkstack(L, 4, "result row");
  lua_pushlstring(L, row[0], len[0]);
  store(L, out, "ids", k);
  if (inc & INC_DOC) {
    if (row[col]) lua_pushlstring(L, row[col], len[col]);
    else pushnull(L);
    store(L, out, "documents", k);
    col++;
  }
  if (inc & INC_META) {
    int ok = row[col] ? json_push(L, row[col], len[col]) : 1;
    if (!row[col]) pushnull(L);
    else if (ok < 0)
      op_fail(L, op, "the metadata of id '%s' has an integer beyond 2^53, which LuaJIT cannot hold exactly", row[0]);
    else if (!ok)
      op_fail(L, op, "the metadata of id '%s' is not valid JSON", row[0]);
    store(L, out, "metadatas", k);
    col++;
  }
  if (inc & INC_EMB) {
    if (!row[col]) pushnull(L);
    else if (!vec_push(L, row[col], len[col], dim, op->dialect == DIALECT_SEEKDB))
      op_fail(L, op, "the embedding of id '%s' is not a vector of %d numbers", row[0], dim);
    store(L, out, "embeddings", k);
    col++;
  }
  if (inc & INC_DIST) {
    if (!row[col] || !lua_stringtonumber(L, row[col])) pushnull(L);
    store(L, out, "distances", k);
  }
}

/* SELECT _id[,document][,metadata][,embedding] */
void select_head(op_t *op, int inc) {
  sb_adds(&op->sql, "SELECT _id");
  if (inc & INC_DOC) sb_adds(&op->sql, ",document");
  if (inc & INC_META) sb_adds(&op->sql, ",metadata");
  if (inc & INC_EMB) sb_adds(&op->sql, ",embedding");
}

void select_from(op_t *op, const char *table) {
  sb_adds(&op->sql, " FROM ");
  sb_addident(&op->sql, table);
}

/* Appends " WHERE (cond)" or " AND (cond)" when a filter was built. */
void add_cond(op_t *op, int has_cond, int first) {
  if (!has_cond) return;
  sb_adds(&op->sql, first ? " WHERE (" : " AND (");
  sb_add(&op->sql, op->cond.data, op->cond.len);
  sb_addc(&op->sql, ')');
}

/* The ids field at idx as a list: a string becomes {string}; each item must
 * be a string. Replaces the value at idx. */
void ids_list(lua_State *L, op_t *op, int idx) {
  lua_Integer i, n;
  if (lua_type(L, idx) == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
    lua_replace(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    op_argerror(L, op, 1, "ids must be a string or a list of strings, got %s", luaL_typename(L, idx));
  n = (lua_Integer)lua_rawlen(L, idx);
  if (!seq_exact_full(L, idx, n)) op_argerror(L, op, 1, "ids must be a list with keys 1..n (no holes, no other keys)");
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      op_argerror(L, op, 1, "ids[%I] must be a string, got %s", i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
}

/* Appends "_id IN (X'..',...)" with ids list[*next ..] while the statement
 * stays under the packet size (at least one id); advances *next. */
void add_id_list(lua_State *L, op_t *op, int list, lua_Integer *next, size_t reserve) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, list), first = *next;
  size_t limit = op_statement_limit(op);
  sb_adds(&op->sql, "_id IN (");
  for (; *next <= n; (*next)++) {
    size_t len;
    const char *id;
    lua_rawgeti(L, list, *next);
    id = lua_tolstring(L, -1, &len);
    lua_pop(L, 1); /* still held by the list */
    if (*next > first && op->sql.len + 2 * len + 8 + reserve > limit) break;
    if (*next > first) sb_addc(&op->sql, ',');
    sb_addhex(&op->sql, id, len);
  }
  sb_addc(&op->sql, ')');
}

/* Reads the rows of op->res into the rows at out from item k+1 on; with
 * ids, remembers each id's row number in pos so the result can follow the
 * requested order. Returns the last item number. */
static lua_Integer fetch_rows(lua_State *L, op_t *op, int out, int pos, int inc, int dim,
                              lua_Integer k) {
  MYSQL_ROW row;
  if (!op->res) return k; /* dry run */
  while ((row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    rows_push(L, op, out, row, len, inc, dim, ++k);
    if (pos) {
      lua_pushlstring(L, row[0], len[0]);
      lua_pushinteger(L, k);
      lua_rawset(L, pos);
    }
  }
  op_free_result(op);
  return k;
}

/* The rows at out were read in the server's order; put them in the order of
 * the requested ids (each once), then apply offset and limit. */
static void reorder(lua_State *L, int ids, int out, int pos, int inc, lua_Integer offset,
                    lua_Integer limit) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, ids), k = 0, skip = offset;
  int sorted;
  rows_new(L, inc);
  sorted = lua_gettop(L);
  for (i = 1; i <= n && k < limit; i++) {
    lua_Integer row;
    lua_rawgeti(L, ids, i);
    lua_pushvalue(L, -1);
    row = lua_rawget(L, pos) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (row) { /* used once: a repeated id does not repeat the row */
      lua_pushboolean(L, 0);
      lua_rawset(L, pos);
    } else lua_pop(L, 1);
    if (!row || skip-- > 0) continue;
    k++;
    for (int f = 0; f < 5; f++) {
      if (f > 0 && !(inc & list_flags[f])) continue;
      lua_getfield(L, sorted, list_names[f]);
      lua_getfield(L, out, list_names[f]);
      lua_rawgeti(L, -1, row);
      lua_rawseti(L, -3, k);
      lua_pop(L, 2);
    }
  }
  lua_replace(L, out);
}

static const char *const get_fields[] = {"ids", "where", "where_document", "include", "limit", "offset", NULL};

/* Stack slots of the get body. */
enum { A_TABLE = 2, A_DIM = 3, A_ARGS = 4, S_IDS, S_WHERE, S_WDOC, S_OUT, S_POS };

/* get(table, dimension, {ids=, where=, where_document=, include=, limit=, offset=}) */
static int get_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  int inc, dim, cond;
  lua_Integer limit, offset, next = 1;
  op_table(L, op, A_TABLE, table);
  dim = op_dimension(L, op, A_DIM);
  if (lua_isnoneornil(L, A_ARGS)) {
    lua_settop(L, A_ARGS - 1);
    lua_newtable(L);
  }
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_ARGS);
  op_check_fields(L, op, A_ARGS, get_fields);
  inc = include_parse(L, op, A_ARGS, INC_DOC | INC_META, INC_DOC | INC_META | INC_EMB);
  limit = opt_count(L, op, A_ARGS, "limit", 100);
  offset = opt_count(L, op, A_ARGS, "offset", 0);
  lua_getfield(L, A_ARGS, "ids");            /* S_IDS */
  lua_getfield(L, A_ARGS, "where");          /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document"); /* S_WDOC */
  if (!lua_isnil(L, S_IDS)) ids_list(L, op, S_IDS);
  cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  rows_new(L, inc); /* S_OUT */
  if (lua_isnil(L, S_IDS)) {
    lua_pushnil(L); /* S_POS: no reordering */
    op_dry_begin(L, op);
    select_head(op, inc);
    select_from(op, table);
    add_cond(op, cond, 1);
    sb_adds(&op->sql, " LIMIT ");
    sb_addint(&op->sql, limit);
    sb_adds(&op->sql, " OFFSET ");
    sb_addint(&op->sql, offset);
    op_query_buf(L, op);
    fetch_rows(L, op, S_OUT, 0, inc, dim, 0);
  } else {
    lua_Integer k = 0, n = (lua_Integer)lua_rawlen(L, S_IDS);
    lua_newtable(L); /* S_POS */
    op_dry_begin(L, op);
    while (next <= n) { /* as many ids per SELECT as the packet allows */
      select_head(op, inc);
      select_from(op, table);
      sb_adds(&op->sql, " WHERE ");
      add_id_list(L, op, S_IDS, &next, op->cond.len + 8);
      add_cond(op, cond, 0);
      op_query_buf(L, op);
      k = fetch_rows(L, op, S_OUT, S_POS, inc, dim, k);
    }
    reorder(L, S_IDS, S_OUT, S_POS, inc, offset, limit);
  }
  if (!op->conn) return op_dry_result(L, op);
  lua_pushvalue(L, S_OUT);
  return 1;
}

int read_get(lua_State *L) { return op_call(L, "get", get_body); }
int read_get_sql(lua_State *L) { return op_dry(L, "get", get_body); }

static int count_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  MYSQL_ROW row;
  op_table(L, op, A_TABLE, table);
  op_dry_begin(L, op);
  sb_adds(&op->sql, "SELECT COUNT(*)");
  select_from(op, table);
  op_query_buf(L, op);
  if (!op->conn) return op_dry_result(L, op);
  row = mysql_fetch_row(op->res);
  lua_pushinteger(L, row && row[0] ? (lua_Integer)strtoll(row[0], NULL, 10) : 0);
  return 1;
}

int read_count(lua_State *L) { return op_call(L, "count", count_body); }
int read_count_sql(lua_State *L) { return op_dry(L, "count", count_body); }
