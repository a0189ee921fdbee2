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
                                           "where_document", "include", "vectors", NULL};

enum { A_TABLE = 2, A_DIM = 3, A_DIST = 4, A_ARGS = 5, A_EF = 6, A_EFS = 7,
       S_QE, S_QT, S_WHERE, S_WDOC, S_VECS, S_OUT, S_DRY, S_INNER };

typedef struct query_state {
  char table[TABLE_NAME_SIZE];
  int dim, dist, inc, cond;
  lua_Integer n_results, nq, q, k;
  lua_Integer ef_search;  /* MariaDB: the collection's configuration.hnsw.ef_search, 0: the session's */
} query_state;

static void query_next(lua_State *L, op_t *op);

/* The query vectors of query_embeddings, as float32 in a userdata at S_VECS. */
static void read_vectors(lua_State *L, op_t *op, query_state *s) {
  lua_Integer i, pos = 0;
  float *v;
  int single;
  char what[48];
  single = vecobj_test(L, S_QE) != NULL; /* one seekdb.vector */
  if (!single && lua_type(L, S_QE) != LUA_TTABLE)
    op_argerror(L, op, 1, lua_isnil(L, S_QE) ? "query needs query_embeddings or query_texts"
                                              : "query_embeddings must be a vector or a list of vectors");
  if (!single) {
    lua_rawgeti(L, S_QE, 1);
    single = lua_type(L, -1) == LUA_TNUMBER;
    lua_pop(L, 1);
  }
  s->nq = single ? 1 : (lua_Integer)lua_rawlen(L, S_QE);
  if (!single && !seq_exact_full(L, S_QE, s->nq))
    op_argerror(L, op, 1, "query_embeddings must be a vector or a list of vectors (keys 1..n)");
  if (s->nq == 0) op_fail(L, op, "query_embeddings is empty");
  v = lua_newuserdatauv(L, (size_t)s->nq * s->dim * sizeof *v, 0); /* S_VECS */
  for (i = 1; i <= s->nq; i++) {
    int status;
    if (single) lua_pushvalue(L, S_QE);
    else lua_rawgeti(L, S_QE, i);
    status = vec_read(L, -1, s->dim, v + (i - 1) * s->dim, &pos);
    if (status != VEC_OK) {
      memcpy(what, "query_embeddings[", 17);
      what[17 + u64_digits(what + 17, (unsigned long long)i)] = '\0';
      strcat(what, "]");
      if (vec_message(L, -1, status, what, pos, s->dim)) op_argerror(L, op, 1, "%s", lua_tostring(L, -1));
      op_fail(L, op, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* The query_texts list, checked; the embedding function is asked for it. */
static void query_embedded(lua_State *L, op_t *op);

static void ask_embeddings(lua_State *L, op_t *op, query_state *s) {
  s->nq = embed_texts_check(L, op, S_QT, A_EF, "query_texts", "query_embeddings");
  lua_newuserdatauv(L, (size_t)s->nq * s->dim * sizeof(float), 0); /* S_VECS */
  lua_pushvalue(L, S_QT);
  op_embed(L, op, A_EF, query_embedded);
}

/* [..., S_VECS, texts, what the embedding function returned] */
static void query_embedded(lua_State *L, op_t *op) {
  query_state *s = op->state;
  if (!op->embed_ok) embed_failed(L, op, -1, "query_texts", 1, s->nq);
  if (!embed_check(L, lua_gettop(L), s->nq, "query_texts", 1, s->dim, lua_touserdata(L, S_VECS)))
    op_fail(L, op, "%s", lua_tostring(L, -1));
  lua_settop(L, S_VECS);
  query_next(L, op);
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

/* The rows of query q into its inner lists (S_INNER), then the next query. */
static void query_rows(lua_State *L, op_t *op) {
  query_state *s = op->state;
  MYSQL_ROW row;
  if (lua_gettop(L) < S_INNER) {
    rows_new(L, s->inc | INC_DIST); /* S_INNER: the distance column is always there */
    s->k = 0;
  }
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    rows_push(L, op, S_INNER, row, mysql_fetch_lengths(op->res), s->inc | INC_DIST, s->dim, ++s->k);
    if ((s->k & 63) == 0 && op_slice_over(op)) {
      op_yield(L, op, query_rows);
      return;
    }
  }
  op_free_result(op);
  if (!(s->inc & INC_DIST)) {
    lua_pushnil(L);
    lua_setfield(L, S_INNER, "distances");
  }
  add_inner(L, S_OUT, S_INNER, s->q);
  lua_settop(L, S_DRY);
  query_next(L, op);
}

/* The statement of the next query vector, or the result. */
static void query_next(lua_State *L, op_t *op) {
  query_state *s = op->state;
  const char *fn = distance_function(op->dialect, s->dist);
  const float *v;
  if (lua_gettop(L) < S_OUT) {
    rows_new(L, s->inc); /* S_OUT */
    if (op->conn) lua_pushnil(L);
    else op_dry_begin(L, op); /* S_DRY */
  }
  if (s->q >= s->nq) {
    if (!op->conn) {
      op_dry_result(L, op);
      return;
    }
    lua_pushvalue(L, S_OUT);
    op_return(L, op, 1);
    return;
  }
  v = (const float *)lua_touserdata(L, S_VECS) + s->q * s->dim;
  s->q++;
  op->sql.len = 0;
  if (s->ef_search) { /* MariaDB keeps ef_search out of the index: per statement */
    sb_adds(&op->sql, "SET STATEMENT mhnsw_ef_search=");
    sb_addint(&op->sql, s->ef_search);
    sb_adds(&op->sql, " FOR ");
  }
  select_head(op, s->inc & ~INC_DIST);
  sb_addc(&op->sql, ',');
  add_distance(op, fn, v, s->dim);
  sb_adds(&op->sql, " AS distance");
  select_from(op, s->table);
  add_cond(op, s->cond, 1);
  sb_adds(&op->sql, " ORDER BY ");
  add_distance(op, fn, v, s->dim);
  if (s->dist == DIST_IP) sb_adds(&op->sql, " DESC");
  if (op->dialect == DIALECT_SEEKDB) sb_adds(&op->sql, " APPROXIMATE");
  sb_adds(&op->sql, " LIMIT ");
  sb_addint(&op->sql, s->n_results);
  op_sql(L, op, SQL_RESULT | SQL_WARN | SQL_TIMED, query_rows);
}

/* query(table, dimension, distance, args, embedding_function, ef_search) */
static void query_start(lua_State *L, op_t *op) {
  query_state *s = op->state;
  op_table(L, op, A_TABLE, s->table);
  s->dim = op_dimension(L, op, A_DIM);
  s->dist = luaL_checkoption(L, A_DIST, "cosine", distance_names);
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_EFS);
  if (!lua_isnil(L, A_EFS)) {
    int isint;
    s->ef_search = lua_tointegerx(L, A_EFS, &isint);
    if (!isint || lua_type(L, A_EFS) != LUA_TNUMBER || s->ef_search < 1 || s->ef_search > HNSW_EFS_MAX_MARIADB)
      op_argerror(L, op, 1, "not a collection's ef_search (use the collection's methods)");
    if (op->dialect != DIALECT_MARIADB) s->ef_search = 0; /* seekdb has it in the index */
  }
  op_check_fields(L, op, A_ARGS, NULL, query_fields);
  s->inc = include_parse(L, op, A_ARGS, INC_DOC | INC_META | INC_DIST, INC_DOC | INC_META | INC_EMB | INC_DIST);
  vectors_parse(L, op, A_ARGS);
  s->n_results = opt_count(L, op, A_ARGS, "n_results", 10);
  if (s->n_results < 1) op_argerror(L, op, 1, "n_results must be at least 1");
  if (s->n_results > N_RESULTS_MAX(op->dialect))
    op_fail(L, op, "n_results %I is more than %s: ask for fewer, or page through the rows with get{limit, offset}",
            s->n_results, op->dialect == DIALECT_MARIADB
                ? "MariaDB's vector search answers (at most 10000: its index looks at 10,000 candidates at a "
                  "time, and beyond that rows go missing)"
                : "seekdb's vector search answers (at most 16384: seekdb and OceanBase cap an approximate "
                  "search's LIMIT + OFFSET at 16,384)");
  if (s->dist == DIST_IP && op->dialect == DIALECT_MARIADB)
    op_fail(L, op, "MariaDB has no inner-product distance");
  lua_getfield(L, A_ARGS, "query_embeddings"); /* S_QE */
  lua_getfield(L, A_ARGS, "query_texts");      /* S_QT */
  lua_getfield(L, A_ARGS, "where");            /* S_WHERE */
  lua_getfield(L, A_ARGS, "where_document");   /* S_WDOC */
  if (!lua_isnil(L, S_QE) && !lua_isnil(L, S_QT))
    op_argerror(L, op, 1, "give query_embeddings or query_texts, not both");
  op->too_big = "a filter this large does not fit in one statement: make it smaller (fewer $in values, "
                "a shorter $contains or $regex)";
  s->cond = filter_build(L, op, 1, S_WHERE, S_WDOC);
  if (!lua_isnil(L, S_QT)) {
    ask_embeddings(L, op, s);
    return;
  }
  read_vectors(L, op, s); /* S_VECS */
  query_next(L, op);
}

const method_t query_method = {"query", query_start, sizeof(query_state), NULL};
