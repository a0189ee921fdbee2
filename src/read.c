/* Reading collections back: get and count.
 *
 * get without ids is one SELECT ... LIMIT/OFFSET; with ids, as many
 * SELECT ... WHERE _id IN (...) as the packet size needs, the rows then put
 * in the order of the requested ids. Rows are decoded in slices in a
 * resumable call, so a large result does not hold its host for long. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

static const char *const list_names[] = {"ids", "documents", "metadatas", "embeddings", "distances"};
static const int list_flags[] = {0, INC_DOC, INC_META, INC_EMB, INC_DIST};

typedef struct get_state {
  char table[TABLE_NAME_SIZE];
  int inc, dim, cond;
  lua_Integer limit, offset, next, k, checked;
  int sorted;                /* reorder: the slot of the rows in the ids' order, 0 before */
  lua_Integer ri, rk, rskip; /* reorder: the next id, rows kept, rows still to skip (offset) */
} get_state;

static const char *const get_fields[] = {"ids", "where", "where_document", "include", "limit", "offset",
                                         "vectors", NULL};

/* Stack slots of get. */
enum { A_TABLE = 2, A_DIM = 3, A_ARGS = 4, S_IDS, S_WHERE, S_WDOC, S_OUT, S_POS, S_DRY };

static void get_select(lua_State *L, op_t *op);

/* The rows at S_OUT were read in the server's order; put them in the order
 * of the requested ids (each once), then apply offset and limit. A slice at
 * a time: 1 when done (the rows at S_OUT are in order), 0 at a slice's end. */
static int reorder(lua_State *L, op_t *op, get_state *g) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, S_IDS), seen = 0;
  if (!g->sorted) {
    rows_new_n(L, g->inc, n < g->limit ? n : g->limit);
    g->sorted = lua_gettop(L);
    g->ri = 1;
    g->rk = 0;
    g->rskip = g->offset;
  }
  for (; g->ri <= n && g->rk < g->limit; g->ri++) {
    lua_Integer row;
    if (++seen % 64 == 0 && op_slice_over(op)) return 0; /* after 63 ids: a step always gets on */
    lua_rawgeti(L, S_IDS, g->ri);
    lua_pushvalue(L, -1);
    row = lua_rawget(L, S_POS) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (row) { /* used once: a repeated id does not repeat the row */
      lua_pushboolean(L, 0);
      lua_rawset(L, S_POS);
    } else lua_pop(L, 1);
    if (!row || g->rskip-- > 0) continue;
    g->rk++;
    for (int f = 0; f < 5; f++) {
      if (f > 0 && !(g->inc & list_flags[f])) continue;
      lua_getfield(L, g->sorted, list_names[f]);
      lua_getfield(L, S_OUT, list_names[f]);
      lua_rawgeti(L, -1, row);
      lua_rawseti(L, -3, g->rk);
      lua_pop(L, 2);
    }
  }
  lua_replace(L, S_OUT);
  return 1;
}

static void get_finish(lua_State *L, op_t *op) {
  get_state *g = op->state;
  if (!lua_isnil(L, S_IDS) && !reorder(L, op, g)) {
    op_yield(L, op, get_finish);
    return;
  }
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  lua_pushvalue(L, S_OUT);
  op_return(L, op, 1);
}

/* Decodes the rows of the last SELECT into the lists at S_OUT, a slice at a
 * time; with ids, remembers each id's row number for reorder. */
static void get_rows(lua_State *L, op_t *op) {
  get_state *g = op->state;
  MYSQL_ROW row;
  int pos = lua_isnil(L, S_POS) ? 0 : S_POS, n = 0;
  if (!pos && g->k == 0 && op->res) { /* all the rows of one statement: room for them */
    rows_new_n(L, g->inc, (lua_Integer)mysql_num_rows(op->res));
    lua_replace(L, S_OUT);
  }
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    rows_push(L, op, S_OUT, row, len, g->inc, g->dim, ++g->k);
    if (pos) {
      lua_pushlstring(L, row[0], len[0]);
      lua_pushinteger(L, g->k);
      lua_rawset(L, pos);
    }
    if (++n == 64 && op_slice_over(op)) {
      op_yield(L, op, get_rows);
      return;
    }
    if (n == 64) n = 0;
  }
  op_free_result(op);
  if (!lua_isnil(L, S_IDS) && g->next <= (lua_Integer)lua_rawlen(L, S_IDS)) get_select(L, op);
  else get_finish(L, op);
}

/* The next SELECT: all rows (one statement), or the next ids. */
static void get_select(lua_State *L, op_t *op) {
  get_state *g = op->state;
  op->sql.len = 0;
  select_head(op, g->inc);
  select_from(op, g->table);
  if (lua_isnil(L, S_IDS)) {
    add_cond(op, g->cond, 1);
    sb_adds(&op->sql, " LIMIT ");
    sb_addint(&op->sql, g->limit);
    sb_adds(&op->sql, " OFFSET ");
    sb_addint(&op->sql, g->offset);
    g->next = 1;
  } else {
    sb_adds(&op->sql, " WHERE ");
    add_id_list(L, op, S_IDS, &g->next, op->cond.len + 8);
    add_cond(op, g->cond, 0);
  }
  op_sql(L, op, SQL_RESULT | SQL_WARN | SQL_TIMED, get_rows);
}

/* The ids are checked (a slice at a time), then read. */
static void get_ids_checked(lua_State *L, op_t *op) {
  get_state *g = op->state;
  if (!lua_isnil(L, S_IDS) && !ids_check(L, op, S_IDS, &g->checked)) {
    op_yield(L, op, get_ids_checked);
    return;
  }
  g->next = 1;
  if (!lua_isnil(L, S_IDS) && lua_rawlen(L, S_IDS) == 0) {
    get_finish(L, op);
    return;
  }
  get_select(L, op);
}

/* get(table, dimension, {ids=, where=, where_document=, include=, limit=, offset=}) */
static void get_start(lua_State *L, op_t *op) {
  get_state *g = op->state;
  op_table(L, op, A_TABLE, g->table);
  g->dim = op_dimension(L, op, A_DIM);
  if (lua_isnoneornil(L, A_ARGS)) {
    lua_settop(L, A_ARGS - 1);
    lua_newtable(L);
  }
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_ARGS);
  op_check_fields(L, op, A_ARGS, NULL, get_fields);
  g->inc = include_parse(L, op, A_ARGS, INC_DOC | INC_META, INC_DOC | INC_META | INC_EMB);
  vectors_parse(L, op, A_ARGS);
  g->limit = opt_count(L, op, A_ARGS, "limit", 100);
  g->offset = opt_count(L, op, A_ARGS, "offset", 0);
  lua_getfield(L, A_ARGS, "ids");            /* S_IDS */
  lua_getfield(L, A_ARGS, "where");          /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document"); /* S_WDOC */
  if (!lua_isnil(L, S_IDS)) ids_list(L, op, S_IDS);
  op->too_big = "a filter this large does not fit in one statement: make it smaller (fewer $in values, "
                "a shorter $contains or $regex)";
  g->cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  if (lua_isnil(L, S_IDS)) { /* S_OUT, S_POS: no reordering */
    rows_new(L, g->inc);
    lua_pushnil(L);
  } else { /* each id's row number, for reorder */
    lua_Integer n = (lua_Integer)lua_rawlen(L, S_IDS);
    rows_new_n(L, g->inc, n);
    lua_createtable(L, 0, n < INT_MAX ? (int)n : 0);
  }
  op_dry_begin(L, op); /* S_DRY */
  if (!lua_isnil(L, S_IDS)) lua_pushnil(L); /* where ids_check goes on from */
  get_ids_checked(L, op);
}

const method_t get_method = {"get", get_start, sizeof(get_state), NULL};

static void count_done(lua_State *L, op_t *op) {
  MYSQL_ROW row;
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  row = op->res ? mysql_fetch_row(op->res) : NULL;
  lua_pushinteger(L, row && row[0] ? (lua_Integer)strtoll(row[0], NULL, 10) : 0);
  op_return(L, op, 1);
}

static void count_start(lua_State *L, op_t *op) {
  char table[TABLE_NAME_SIZE];
  op_table(L, op, A_TABLE, table);
  op_dry_begin(L, op);
  sb_adds(&op->sql, "SELECT COUNT(*)");
  select_from(op, table);
  op_sql(L, op, SQL_RESULT | SQL_TIMED, count_done);
}

const method_t count_method = {"count", count_start, 0, NULL};
