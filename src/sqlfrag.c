/* SQL pieces and row decoding that get, query and delete share: the include
 * list, the SELECT head, filters' conditions, id lists, and result rows as
 * Lua tables (ids and documents as strings, metadata decoded from JSON,
 * vectors as arrays of numbers, distances as numbers; SQL NULL is
 * seekdb.null). */
#include <limits.h>
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

void vectors_parse(lua_State *L, op_t *op, int args) {
  const char *s;
  op->vec_obj = op->conn ? op->conn->vectors : 0;
  lua_getfield(L, args, "vectors");
  s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (s && strcmp(s, "vector") == 0) op->vec_obj = 1;
  else if (s && strcmp(s, "table") == 0) op->vec_obj = 0;
  else if (!lua_isnil(L, -1))
    op_argerror(L, op, 1, "vectors must be \"table\" or \"vector\", got %s",
                s ? lua_pushfstring(L, "\"%s\"", s) : luaL_typename(L, -1));
  lua_pop(L, 1);
}

int vec_push_as(lua_State *L, op_t *op, const char *data, size_t len, int dim, int text_ok) {
  return op->vec_obj ? vecobj_push(L, data, len, dim, text_ok) : vec_push(L, data, len, dim, text_ok);
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

/* Pushes {ids = {}, documents = {}, ...}: one list per included field, with
 * room for n rows (a list grown a row at a time is copied whole each time it
 * doubles: one step of a resumable call would pay for all the rows before). */
void rows_new_n(lua_State *L, int inc, lua_Integer n) {
  int narr = n > 0 && n < INT_MAX ? (int)n : 0;
  lua_createtable(L, 0, 5);
  for (int f = 0; f < 5; f++) {
    if (f > 0 && !(inc & list_flags[f])) continue;
    lua_createtable(L, narr, 0);
    lua_setfield(L, -2, list_names[f]);
  }
}

void rows_new(lua_State *L, int inc) { rows_new_n(L, inc, 0); }

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
    else if (!vec_push_as(L, op, row[col], len[col], dim, op->dialect == DIALECT_SEEKDB))
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

/* The ids field at idx as a list: a string becomes {string}. Replaces the
 * value at idx. The list's keys and items are checked by ids_check. */
void ids_list(lua_State *L, op_t *op, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
    lua_replace(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    op_argerror(L, op, 1, "ids must be a string or a list of strings, got %s", luaL_typename(L, idx));
}

/* The list of ids at idx has keys 1..n only and a string at each, a slice
 * at a time (one pass with lua_next): push nil before the first call;
 * between calls the key to go on from stays on the stack's top. `seen`
 * counts the keys (0 to start). 1 when done, 0 at a slice's end. */
int ids_check(lua_State *L, op_t *op, int idx, lua_Integer *seen) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);
  int bad = 0;
  while (lua_next(L, idx)) {
    bad = lua_type(L, -1) != LUA_TSTRING;
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
      op_argerror(L, op, 1, "ids must be a list with keys 1..n (no holes, no other keys)");
    if (bad) {
      lua_pop(L, 1);
      break;
    }
    if (++*seen % 256 == 0 && op_slice_over(op)) return 0;
  }
  if (!bad && *seen == n) return 1;
  for (i = 1; i <= n; i++) { /* an item that is not a string, or a hole: the first one */
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      op_argerror(L, op, 1, "ids[%I] must be a string, got %s", i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  return 1;
}

/* Appends "_id IN (X'..',...)" with ids list[*next ..] while the statement
 * stays under the packet size and the list under ID_LIST_BYTES (at least
 * one id); advances *next. */
void add_id_list(lua_State *L, op_t *op, int list, lua_Integer *next, size_t reserve) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, list), first = *next;
  size_t limit = op_statement_target(op), cap = op->sql.len + reserve + ID_LIST_BYTES;
  if (cap < limit) limit = cap;
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

