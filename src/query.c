/* collection:query: nearest neighbours of one or more query vectors (or
 * texts, through the embedding function), one statement per query:
 *
 *   seekdb:  SELECT ..., <fn>(embedding, X'..') AS distance FROM t [WHERE ...]
 *            ORDER BY <fn>(embedding, X'..') [DESC] APPROXIMATE LIMIT n
 *            fn = l2_distance | cosine_distance | inner_product
 *   MariaDB: the same with VEC_DISTANCE_EUCLIDEAN | VEC_DISTANCE_COSINE and no
 *            APPROXIMATE: ORDER BY <fn>(column, constant) LIMIT n is what
 *            MariaDB's vector index answers.
 *
 * An inner product is larger the more similar the vectors are, so that
 * distance orders DESC: the nearest row still comes first. The result has one
 * inner list per query. */
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

static const char *const query_fields[] = {"query_embeddings", "query_texts", "n_results", "where",
                                           "where_document", "include", NULL};
static const char *const distances[] = {"cosine", "l2", "inner_product", NULL};

enum { A_TABLE = 2, A_DIM = 3, A_DIST = 4, A_ARGS = 5, A_EF = 6,
       S_QE, S_QT, S_WHERE, S_WDOC, S_VECS, S_OUT };

/* The query vectors, as float32 in a userdata at S_VECS; their count. */
static lua_Integer query_vectors(lua_State *L, op_t *op, int dim) {
  lua_Integer n, i, pos = 0;
  float *v;
  int single, status;
  if (!lua_isnil(L, S_QE) && !lua_isnil(L, S_QT))
    op_argerror(L, op, 1, "give query_embeddings or query_texts, not both");
  if (!lua_isnil(L, S_QT)) {
    if (lua_type(L, S_QT) == LUA_TSTRING) {
      lua_createtable(L, 1, 0);
      lua_pushvalue(L, S_QT);
      lua_rawseti(L, -2, 1);
      lua_replace(L, S_QT);
    }
    if (lua_type(L, S_QT) != LUA_TTABLE)
      op_argerror(L, op, 1, "query_texts must be a string or a list of strings, got %s", luaL_typename(L, S_QT));
    n = (lua_Integer)lua_rawlen(L, S_QT);
    if (!seq_exact_full(L, S_QT, n)) op_argerror(L, op, 1, "query_texts must be a list with keys 1..n");
    if (n == 0) op_fail(L, op, "query_texts is empty");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, S_QT, i);
      if (lua_type(L, -1) != LUA_TSTRING)
        op_argerror(L, op, 1, "query_texts[%I] must be a string, got %s", i, luaL_typename(L, -1));
      lua_pop(L, 1);
    }
    if (lua_isnil(L, A_EF))
      op_fail(L, op, "query_texts need the collection's embedding function, and it has none: "
                     "pass query_embeddings, or give the collection an embedding_function");
    v = lua_newuserdatauv(L, (size_t)n * dim * sizeof *v, 0); /* S_VECS */
    if (!embed_call(L, A_EF, S_QT, "query_texts", 1, dim, v)) op_fail(L, op, "%s", lua_tostring(L, -1));
    return n;
  }
  if (lua_type(L, S_QE) != LUA_TTABLE)
    op_argerror(L, op, 1, lua_isnil(L, S_QE) ? "query needs query_embeddings or query_texts"
                                              : "query_embeddings must be a vector or a list of vectors");
  lua_rawgeti(L, S_QE, 1);
  single = lua_type(L, -1) == LUA_TNUMBER;
  lua_pop(L, 1);
  n = single ? 1 : (lua_Integer)lua_rawlen(L, S_QE);
  if (!single && !seq_exact_full(L, S_QE, n))
    op_argerror(L, op, 1, "query_embeddings must be a vector or a list of vectors (keys 1..n)");
  if (n == 0) op_fail(L, op, "query_embeddings is empty");
  v = lua_newuserdatauv(L, (size_t)n * dim * sizeof *v, 0); /* S_VECS */
  for (i = 1; i <= n; i++) {
    if (single) lua_pushvalue(L, S_QE);
    else lua_rawgeti(L, S_QE, i);
    status = vec_read(L, -1, dim, v + (i - 1) * dim, &pos);
    if (status == VEC_LENGTH)
      op_fail(L, op, "query_embeddings[%I] has %I numbers; the collection's dimension is %d", i, pos, dim);
    if (status == VEC_NONFINITE || status == VEC_RANGE)
      op_fail(L, op, "query_embeddings[%I][%I] is %s", i, pos,
              status == VEC_NONFINITE ? "NaN or infinite" : "too large for a float32");
    if (status == VEC_NOTNUM) {
      lua_rawgeti(L, -1, pos);
      op_argerror(L, op, 1, "query_embeddings[%I][%I] must be a number, got %s", i, pos, luaL_typename(L, -1));
    }
    if (status != VEC_OK) op_argerror(L, op, 1, "query_embeddings[%I] %s", i, vec_status_text(status));
    lua_pop(L, 1);
  }
  return n;
}

static void add_distance(op_t *op, const char *fn, const float *v, int dim) {
  sb_adds(&op->sql, fn);
  sb_adds(&op->sql, "(embedding, ");
  vec_addhex(&op->sql, v, dim);
  sb_addc(&op->sql, ')');
}

/* Moves each list of the rows at from into item q of the same list at out. */
static void add_inner(lua_State *L, int out, int from, lua_Integer q) {
  lua_pushnil(L);
  while (lua_next(L, from)) {
    lua_pushvalue(L, -2);
    lua_rawget(L, out);
    lua_insert(L, -2);
    lua_rawseti(L, -2, q);
    lua_pop(L, 1);
  }
}

/* query(table, dimension, distance, args, embedding_function) */
static int query_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  int dim, dist, inc, cond;
  lua_Integer n_results, nq, q;
  const float *vecs;
  const char *fn;
  op_table(L, op, A_TABLE, table);
  dim = op_dimension(L, op, A_DIM);
  dist = luaL_checkoption(L, A_DIST, "cosine", distances);
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_EF);
  op_check_fields(L, op, A_ARGS, query_fields);
  inc = include_parse(L, op, A_ARGS, INC_DOC | INC_META | INC_DIST, INC_DOC | INC_META | INC_EMB | INC_DIST);
  n_results = opt_count(L, op, A_ARGS, "n_results", 10);
  if (n_results < 1) op_argerror(L, op, 1, "n_results must be at least 1");
  if (dist == 2 && op->dialect == DIALECT_MARIADB)
    op_fail(L, op, "MariaDB has no inner-product distance");
  fn = op->dialect == DIALECT_MARIADB ? (dist == 1 ? "VEC_DISTANCE_EUCLIDEAN" : "VEC_DISTANCE_COSINE")
                                      : (dist == 1 ? "l2_distance" : dist == 2 ? "inner_product" : "cosine_distance");
  lua_getfield(L, A_ARGS, "query_embeddings"); /* S_QE */
  lua_getfield(L, A_ARGS, "query_texts");      /* S_QT */
  lua_getfield(L, A_ARGS, "where");            /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document");   /* S_WDOC */
  nq = query_vectors(L, op, dim);              /* S_VECS */
  vecs = lua_touserdata(L, S_VECS);
  cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  rows_new(L, inc); /* S_OUT */
  op_dry_begin(L, op);
  for (q = 1; q <= nq; q++) {
    const float *v = vecs + (q - 1) * dim;
    MYSQL_ROW row;
    lua_Integer k = 0;
    int inner;
    select_head(op, inc & ~INC_DIST);
    sb_addc(&op->sql, ',');
    add_distance(op, fn, v, dim);
    sb_adds(&op->sql, " AS distance");
    select_from(op, table);
    add_cond(op, cond, 1);
    sb_adds(&op->sql, " ORDER BY ");
    add_distance(op, fn, v, dim);
    if (dist == 2) sb_adds(&op->sql, " DESC");
    if (op->dialect == DIALECT_SEEKDB) sb_adds(&op->sql, " APPROXIMATE");
    sb_adds(&op->sql, " LIMIT ");
    sb_addint(&op->sql, n_results);
    op_query_buf(L, op);
    rows_new(L, inc | INC_DIST); /* the distance column is always there */
    inner = lua_gettop(L);
    while (op->res && (row = mysql_fetch_row(op->res)) != NULL)
      rows_push(L, op, inner, row, mysql_fetch_lengths(op->res), inc | INC_DIST, dim, ++k);
    op_free_result(op);
    if (!(inc & INC_DIST)) {
      lua_pushnil(L);
      lua_setfield(L, inner, "distances");
    }
    add_inner(L, S_OUT, inner, q);
    lua_pop(L, 1);
  }
  if (!op->conn) return op_dry_result(L, op);
  lua_pushvalue(L, S_OUT);
  return 1;
}

int query_run(lua_State *L) { return op_call(L, "query", query_body); }
int query_sql(lua_State *L) { return op_dry(L, "query", query_body); }
