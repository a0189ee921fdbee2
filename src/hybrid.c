/* collection:hybrid_search{query =, knn =, rank =, n_results =, include =}:
 * a full-text search and a vector search, their rankings fused by
 * Reciprocal Rank Fusion (pyseekdb's collection.hybrid_search).
 *
 * seekdb fuses on the server, in three statements (what pyseekdb sends):
 *   SET @search_parm = '<search_parm JSON>'        (hybrid_parm.c)
 *   SELECT DBMS_HYBRID_SEARCH.GET_SQL('<table>', @search_parm) AS query_sql FROM dual
 *   <the SQL text that returned>                  rows: _id, _score, document, ...
 *
 * MariaDB has no such function; the same search is made from its pieces in
 * two statements:
 *   1. the rankings, one statement:
 *        SELECT * FROM (SELECT 0 AS part,_id,MATCH(document) AGAINST (<words>
 *          IN NATURAL LANGUAGE MODE) AS score FROM t WHERE (<where_document
 *          AND where>) ORDER BY score DESC,_id LIMIT <window>) AS ranked
 *        UNION ALL SELECT * FROM (SELECT 1 AS part,_id,VEC_DISTANCE_..(embedding,
 *          X'..') AS score FROM t WHERE (<knn.where>) ORDER BY VEC_DISTANCE_..(
 *          embedding, X'..') LIMIT <min(k, window)>) AS ranked [UNION ALL ... one
 *          per query vector]
 *      Each vector ranking keeps the form MariaDB's vector index answers
 *      (ORDER BY fn(column, constant) LIMIT n), in a derived table of its
 *      own: EXPLAIN shows idx_vec for each (spec/20-hybrid_spec.lua checks).
 *      A where-only query ranks its rows by _id (all score alike).
 *   2. the rows of the winners: SELECT _id[,document][,metadata][,embedding]
 *      FROM t WHERE _id IN (...), only when include asks for a column.
 *   Fusion here, in C: in each ranking a row's rank is its place (from 1)
 *   by score (text: relevance descending; vectors: distance ascending), ties
 *   by _id's bytes; a row's score is the sum over the rankings it is in of
 *   1 / (rank_constant + rank), added from its best rank to its worst, so
 *   that equal sets of ranks give bit-equal scores; rows by score
 *   descending, ties by _id's bytes ascending; the first n_results.
 *   Why two statements and not one: the fusion is exact and its ties are
 *   broken the same way every time (a SQL SUM of doubles adds in any
 *   order); the documents, metadata and embeddings travel only for the
 *   n_results winners, not for every ranked row; and each ranking stays a
 *   plain statement whose plan is the index's. The cost is one round trip.
 *
 * The result is query's shape with one inner list (pyseekdb's
 * _transform_sql_result): ids, documents, metadatas, embeddings as include
 * asks, and distances: the fused scores, larger is better. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hybrid.h"

static const char *const hybrid_fields[] = {"query", "knn", "rank", "n_results", "include", "vectors", NULL};
static const char *const query_fields[] = {"where_document", "where", "n_results", NULL};
static const char *const knn_fields[] = {"query_embeddings", "query_texts", "where", "n_results", NULL};

/* Stack slots. After S_VECS each dialect uses its own. */
enum { A_TABLE = 2, A_DIM, A_DIST, A_ARGS, A_EF,
       S_QUERY, S_KNN, S_RANK, S_QWDOC, S_QWHERE, S_KWHERE, S_QE, S_QT, S_NIL, S_DRY, S_VECS,
       S_HITS, S_WIN, S_SCORES, S_ROWS, S_POS };
#define S_INNER S_HITS /* seekdb: the rows as they come */

typedef struct hybrid_state {
  char table[TABLE_NAME_SIZE];
  int dim, dist, inc, has_query, has_knn, has_tcond, has_kcond;
  lua_Integer n_results, k, window, constant, nvec, next, nrows;
  hparm h;                 /* the search_parm (its cJSON trees are freed by release) */
  sbuf words, tcond, kcond;
  size_t filled;           /* MariaDB: ranked rows read so far */
  int col_id, col_score, col_doc, col_meta, col_emb; /* seekdb: columns of the server's SQL */
} hybrid_state;

static void hybrid_release(void *p) {
  hybrid_state *s = p;
  cJSON_Delete(s->h.root);
  cJSON_Delete(s->h.kfilter);
  sb_free(&s->words);
  sb_free(&s->tcond);
  sb_free(&s->kcond);
}

/* ---- arguments --------------------------------------------------------------------- */

/* query / knn: nil, or a table with only these fields. */
static int part_table(lua_State *L, op_t *op, int idx, const char *name, const char *const fields[]) {
  if (lua_isnil(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TTABLE)
    op_argerror(L, op, 1, "%s must be a table, got %s", name, luaL_typename(L, idx));
  op_check_fields(L, op, idx, name, fields);
  return 1;
}

/* A positive integer field of the table at idx, or def. */
static lua_Integer part_count(lua_State *L, op_t *op, int idx, const char *name, lua_Integer def) {
  lua_Integer v = def;
  int isint = 1;
  lua_getfield(L, idx, "n_results");
  if (!lua_isnil(L, -1)) {
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < 1)
      op_argerror(L, op, 1, "%s.n_results must be a positive integer", name);
  }
  lua_pop(L, 1);
  return v;
}

static void hybrid_go(lua_State *L, op_t *op);

/* knn.query_embeddings: one vector or a list of them, as float32 in a
 * userdata at S_VECS. */
static void read_vectors(lua_State *L, op_t *op, hybrid_state *s) {
  lua_Integer i, pos = 0;
  float *v;
  int single;
  single = vecobj_test(L, S_QE) != NULL; /* one seekdb.vector */
  if (!single && lua_type(L, S_QE) != LUA_TTABLE)
    op_argerror(L, op, 1, "knn.query_embeddings must be a vector or a list of vectors, got %s", luaL_typename(L, S_QE));
  if (!single) {
    lua_rawgeti(L, S_QE, 1);
    single = lua_type(L, -1) == LUA_TNUMBER;
    lua_pop(L, 1);
  }
  s->nvec = single ? 1 : (lua_Integer)lua_rawlen(L, S_QE);
  if (!single && !seq_exact_full(L, S_QE, s->nvec))
    op_argerror(L, op, 1, "knn.query_embeddings must be a vector or a list of vectors (keys 1..n)");
  if (s->nvec == 0) op_fail(L, op, "knn.query_embeddings is empty");
  v = lua_newuserdatauv(L, (size_t)s->nvec * s->dim * sizeof *v, 0); /* S_VECS */
  for (i = 1; i <= s->nvec; i++) {
    int status;
    if (single) lua_pushvalue(L, S_QE);
    else lua_rawgeti(L, S_QE, i);
    status = vec_read(L, -1, s->dim, v + (i - 1) * s->dim, &pos);
    if (status != VEC_OK) {
      const char *what = single ? "knn.query_embeddings" : lua_pushfstring(L, "knn.query_embeddings[%I]", i);
      if (vec_message(L, lua_gettop(L) - !single, status, what, pos, s->dim))
        op_argerror(L, op, 1, "%s", lua_tostring(L, -1));
      op_fail(L, op, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* [..., S_VECS, texts, what the embedding function returned] */
static void texts_embedded(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  if (!op->embed_ok) embed_failed(L, op, -1, "knn.query_texts", 1, s->nvec);
  if (!embed_check(L, lua_gettop(L), s->nvec, "knn.query_texts", 1, s->dim, lua_touserdata(L, S_VECS)))
    op_fail(L, op, "%s", lua_tostring(L, -1));
  lua_settop(L, S_VECS);
  hybrid_go(L, op);
}

/* knn.query_texts: checked, then to the embedding function. */
static void ask_embeddings(lua_State *L, op_t *op, hybrid_state *s) {
  s->nvec = embed_texts_check(L, op, S_QT, A_EF, "knn.query_texts", "knn.query_embeddings");
  lua_newuserdatauv(L, (size_t)s->nvec * s->dim * sizeof(float), 0); /* S_VECS */
  lua_pushvalue(L, S_QT);
  op_embed(L, op, A_EF, texts_embedded);
}

/* The condition filter.c built, kept: op->cond is built anew for each. */
static int keep_cond(op_t *op, int has, sbuf *to) {
  to->len = 0;
  if (has) sb_add(to, op->cond.data, op->cond.len);
  return has;
}

/* hybrid_search(table, dimension, distance, args, embedding_function) */
static void hybrid_start(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  op_table(L, op, A_TABLE, s->table);
  s->dim = op_dimension(L, op, A_DIM);
  s->dist = luaL_checkoption(L, A_DIST, "cosine", distance_names);
  if (lua_type(L, A_ARGS) != LUA_TTABLE) op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  lua_settop(L, A_EF);
  op_check_fields(L, op, A_ARGS, NULL, hybrid_fields);
  s->inc = include_parse(L, op, A_ARGS, INC_DOC | INC_META | INC_DIST, INC_DOC | INC_META | INC_EMB | INC_DIST);
  vectors_parse(L, op, A_ARGS);
  s->n_results = opt_count(L, op, A_ARGS, "n_results", 10);
  if (s->n_results < 1) op_argerror(L, op, 1, "n_results must be at least 1");
  lua_getfield(L, A_ARGS, "query"); /* S_QUERY */
  lua_getfield(L, A_ARGS, "knn");   /* S_KNN */
  lua_getfield(L, A_ARGS, "rank");  /* S_RANK */
  s->has_query = part_table(L, op, S_QUERY, "query", query_fields);
  s->has_knn = part_table(L, op, S_KNN, "knn", knn_fields);
  if (!s->has_query && !s->has_knn)
    op_argerror(L, op, 1, "hybrid_search needs query (a full-text search), knn (a vector search) or both");
  if (s->has_query) {
    lua_getfield(L, S_QUERY, "where_document"); /* S_QWDOC */
    lua_getfield(L, S_QUERY, "where");          /* S_QWHERE */
    part_count(L, op, S_QUERY, "query", 1);     /* pyseekdb's; it limits nothing there either */
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  if (s->has_knn) {
    lua_getfield(L, S_KNN, "where");            /* S_KWHERE */
    lua_getfield(L, S_KNN, "query_embeddings"); /* S_QE */
    lua_getfield(L, S_KNN, "query_texts");      /* S_QT */
    if (!lua_isnil(L, S_QE) && !lua_isnil(L, S_QT))
      op_argerror(L, op, 1, "knn takes query_embeddings or query_texts, not both");
    if (lua_isnil(L, S_QE) && lua_isnil(L, S_QT))
      op_argerror(L, op, 1, "knn needs query_embeddings or query_texts");
    s->k = part_count(L, op, S_KNN, "knn", 10);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lua_pushnil(L); /* S_NIL */
  /* every argument is checked before any SQL and before the embedding function */
  s->h.L = L;
  s->h.op = op;
  s->h.words = &s->words;
  if (!(s->h.root = cJSON_CreateObject())) op_fail(L, op, "not enough memory");
  if (s->has_query) hparm_query(&s->h, S_QWDOC, S_QWHERE);
  if (s->has_knn) hparm_knn_filter(&s->h, S_KWHERE);
  hparm_rank(&s->h, S_RANK, &s->window, &s->constant);
  if (op->dialect == DIALECT_MARIADB) {
    if (s->has_knn && s->dist == DIST_IP) op_fail(L, op, "MariaDB has no inner-product distance");
    op->too_big = "a filter this large does not fit in one statement: make it smaller (fewer $in values, "
                  "a shorter $contains)";
    if (s->has_query) s->has_tcond = keep_cond(op, filter_build(L, op, 1, S_QWHERE, S_QWDOC), &s->tcond);
    if (s->has_knn) s->has_kcond = keep_cond(op, filter_build(L, op, 1, S_KWHERE, S_NIL), &s->kcond);
    if (s->tcond.oom || s->kcond.oom || s->words.oom) op_fail(L, op, "not enough memory to build the filter");
  }
  lua_settop(L, S_NIL);
  if (op->conn) lua_pushnil(L); /* S_DRY */
  else op_dry_begin(L, op);
  if (s->has_knn && !lua_isnil(L, S_QT)) {
    ask_embeddings(L, op, s);
    return;
  }
  if (s->has_knn) read_vectors(L, op, s); /* S_VECS */
  else lua_pushnil(L);
  hybrid_go(L, op);
}

/* ---- the result ------------------------------------------------------------------------ */

/* The inner lists at idx ({ids = {...}, ...}) as the result: each in a list
 * of one, as query's one query. */
static void hybrid_return(lua_State *L, op_t *op, int idx) {
  static const char *const names[] = {"ids", "documents", "metadatas", "embeddings", "distances"};
  static const int flags[] = {0, INC_DOC, INC_META, INC_EMB, INC_DIST};
  hybrid_state *s = op->state;
  lua_createtable(L, 0, 5);
  for (int f = 0; f < 5; f++) {
    if (f > 0 && !(s->inc & flags[f])) continue;
    lua_createtable(L, 1, 0);
    lua_getfield(L, idx, names[f]);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, names[f]);
  }
  op_return(L, op, 1);
}

/* ---- seekdb: the server fuses -------------------------------------------------------- */

static void seekdb_rows(lua_State *L, op_t *op);

/* Pushes the column of row as a Lua value of its kind, seekdb.null if absent. */
static void push_column(lua_State *L, op_t *op, MYSQL_ROW row, unsigned long *len, int col, int kind, int dim) {
  if (col < 0 || !row[col]) {
    pushnull(L);
    return;
  }
  switch (kind) {
    case INC_META: {
      int ok = json_push(L, row[col], len[col]);
      if (ok < 0) op_fail(L, op, "the metadata of a row has an integer beyond 2^53, which LuaJIT cannot hold exactly");
      if (!ok) op_fail(L, op, "the metadata of a row is not valid JSON");
      break;
    }
    case INC_EMB:
      if (!vec_push_as(L, op, row[col], len[col], dim, 1))
        op_fail(L, op, "the embedding of a row is not a vector of %d numbers", dim);
      break;
    case INC_DIST:
      if (!lua_stringtonumber(L, row[col])) pushnull(L);
      break;
    default:
      lua_pushlstring(L, row[col], len[col]);
  }
}

static void append(lua_State *L, int lists, const char *name, lua_Integer k) {
  lua_getfield(L, lists, name);
  lua_insert(L, -2);
  lua_rawseti(L, -2, k);
  lua_pop(L, 1);
}

/* Which columns of the server's SQL hold what (by name, as pyseekdb reads them). */
static void seekdb_columns(op_t *op, hybrid_state *s) {
  static const char *const score_names[] = {"_distance", "distance", "_score", "score"};
  MYSQL_FIELD *fields = mysql_fetch_fields(op->res);
  int n = (int)mysql_num_fields(op->res), best = 99;
  s->col_id = s->col_score = s->col_doc = s->col_meta = s->col_emb = -1;
  for (int i = 0; i < n; i++) {
    const char *name = fields[i].name;
    if (strcasecmp(name, "_id") == 0 || (s->col_id < 0 && strcasecmp(name, "id") == 0)) s->col_id = i;
    else if (strcasecmp(name, "document") == 0) s->col_doc = i;
    else if (strcasecmp(name, "metadata") == 0) s->col_meta = i;
    else if (strcasecmp(name, "embedding") == 0) s->col_emb = i;
    for (int k = 0; k < 4; k++)
      if (strcasecmp(name, score_names[k]) == 0 && k < best) best = k, s->col_score = i;
  }
}

static void seekdb_rows(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  MYSQL_ROW row;
  if (lua_gettop(L) < S_INNER) {
    rows_new(L, s->inc | INC_DIST); /* S_INNER */
    s->nrows = 0;
    if (op->res) seekdb_columns(op, s);
    if (op->res && s->col_id < 0) op_fail(L, op, "the SQL of DBMS_HYBRID_SEARCH.GET_SQL returned no _id column");
  }
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    lua_Integer k = ++s->nrows;
    luaL_checkstack(L, 4, "result row");
    push_column(L, op, row, len, s->col_id, 0, s->dim);
    append(L, S_INNER, "ids", k);
    if (s->inc & INC_DOC) {
      push_column(L, op, row, len, s->col_doc, 0, s->dim);
      append(L, S_INNER, "documents", k);
    }
    if (s->inc & INC_META) {
      push_column(L, op, row, len, s->col_meta, INC_META, s->dim);
      append(L, S_INNER, "metadatas", k);
    }
    if (s->inc & INC_EMB) {
      push_column(L, op, row, len, s->col_emb, INC_EMB, s->dim);
      append(L, S_INNER, "embeddings", k);
    }
    push_column(L, op, row, len, s->col_score, INC_DIST, s->dim);
    append(L, S_INNER, "distances", k);
    if ((k & 63) == 0 && op_slice_over(op)) {
      op_yield(L, op, seekdb_rows);
      return;
    }
  }
  op_free_result(op);
  hybrid_return(L, op, S_INNER);
}

/* GET_SQL's answer: the statement to run (pyseekdb strips blanks and
 * quotes around it). It is the server's own SQL, run as it is. */
static void seekdb_run(lua_State *L, op_t *op) {
  MYSQL_ROW row;
  unsigned long *len;
  const char *q;
  size_t n;
  if (!op->conn) { /* a dry run: the first two statements are all there is */
    op_dry_result(L, op);
    return;
  }
  row = op->res ? mysql_fetch_row(op->res) : NULL;
  if (!row || !row[0]) {
    op_free_result(op);
    seekdb_rows(L, op); /* no SQL: no rows, as pyseekdb */
    return;
  }
  len = mysql_fetch_lengths(op->res);
  q = row[0];
  n = len[0];
  while (n > 0 && (q[0] == ' ' || q[0] == '\t' || q[0] == '\n' || q[0] == '\r' || q[0] == '\'' || q[0] == '"')) q++, n--;
  while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\n' || q[n - 1] == '\r' || q[n - 1] == ';' ||
                   q[n - 1] == '\'' || q[n - 1] == '"'))
    n--;
  if (!(n >= 6 && strncasecmp(q, "SELECT", 6) == 0) && !(n >= 4 && strncasecmp(q, "WITH", 4) == 0) &&
      !(n >= 1 && q[0] == '('))
    op_fail(L, op, "DBMS_HYBRID_SEARCH.GET_SQL did not return a SELECT statement");
  op->sql.len = 0;
  sb_add(&op->sql, q, n);
  op_sql(L, op, SQL_RESULT | SQL_TIMED, seekdb_rows);
}

static void seekdb_get_sql(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  op->sql.len = 0;
  sb_adds(&op->sql, "SELECT DBMS_HYBRID_SEARCH.GET_SQL(");
  sb_addquoted(&op->sql, s->table, strlen(s->table));
  sb_adds(&op->sql, ", @search_parm) AS query_sql FROM dual");
  op_sql(L, op, SQL_RESULT, seekdb_run);
}

/* The search_parm, complete now that the vectors are known, as the value of
 * a session variable: JSON-encoded once, quoted once. */
static void seekdb_search(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  char *json;
  if (s->has_knn) hparm_knn(&s->h, lua_touserdata(L, S_VECS), s->nvec, s->dim, s->k);
  hparm_finish(&s->h, s->n_results, s->inc);
  if (!(json = cJSON_PrintUnformatted(s->h.root))) op_fail(L, op, "not enough memory for the search parameters");
  op->sql.len = 0;
  sb_adds(&op->sql, "SET @search_parm = ");
  sb_addquoted(&op->sql, json, strlen(json));
  cJSON_free(json);
  cJSON_Delete(s->h.root);
  s->h.root = NULL;
  op_sql(L, op, 0, seekdb_get_sql);
}

/* ---- MariaDB: the fusion is made here --------------------------------------------------- */

typedef struct hit {
  const char *id;   /* in op->res, alive until the winners are copied out */
  size_t len;
  double v;         /* relevance or distance; then the fused score */
  lua_Integer part; /* 0: the full-text ranking; q: the ranking of query vector q */
  lua_Integer rank;
} hit;

static int id_cmp(const hit *a, const hit *b) {
  int c = memcmp(a->id, b->id, a->len < b->len ? a->len : b->len);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Each ranking in order: relevance descending, distance ascending, then _id. */
static int by_rank(const void *x, const void *y) {
  const hit *a = x, *b = y;
  if (a->part != b->part) return a->part < b->part ? -1 : 1;
  if (a->v != b->v) return (a->part == 0 ? a->v > b->v : a->v < b->v) ? -1 : 1;
  return id_cmp(a, b);
}

/* Each id's hits together, best rank first. */
static int by_id(const void *x, const void *y) {
  const hit *a = x, *b = y;
  int c = id_cmp(a, b);
  if (c) return c;
  return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Fused score descending, then _id. */
static int by_score(const void *x, const void *y) {
  const hit *a = x, *b = y;
  if (a->v != b->v) return a->v > b->v ? -1 : 1;
  return id_cmp(a, b);
}

/* Reciprocal Rank Fusion of the n hits: returns how many distinct rows,
 * their fused scores in hits[0..] (best first). */
static size_t fuse(hit *hits, size_t n, lua_Integer constant) {
  size_t i, out = 0;
  qsort(hits, n, sizeof *hits, by_rank);
  for (i = 0; i < n; i++) hits[i].rank = i > 0 && hits[i - 1].part == hits[i].part ? hits[i - 1].rank + 1 : 1;
  qsort(hits, n, sizeof *hits, by_id);
  for (i = 0; i < n;) {
    hit h = hits[i];
    double score = 0;
    for (; i < n && id_cmp(&hits[i], &h) == 0; i++) score += 1.0 / ((double)constant + (double)hits[i].rank);
    h.v = score;
    hits[out++] = h;
  }
  qsort(hits, out, sizeof *hits, by_score);
  return out;
}

static void maria_rows(lua_State *L, op_t *op);

/* The next SELECT of winners' rows (as many ids as fit in a statement). */
static void maria_fetch(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  op->sql.len = 0;
  select_head(op, s->inc);
  select_from(op, s->table);
  sb_adds(&op->sql, " WHERE ");
  add_id_list(L, op, S_WIN, &s->next, 0);
  op_sql(L, op, SQL_RESULT | SQL_WARN | SQL_TIMED, maria_rows);
}

/* The winners in fused order, with their rows' columns (rows deleted since
 * the rankings were read are left out). */
static void maria_finish(lua_State *L, op_t *op) {
  static const char *const names[] = {"documents", "metadatas", "embeddings"};
  static const int flags[] = {INC_DOC, INC_META, INC_EMB};
  hybrid_state *s = op->state;
  int fetched = !lua_isnil(L, S_POS);
  lua_Integer n = (lua_Integer)lua_rawlen(L, S_WIN), k = 0;
  int inner;
  rows_new(L, s->inc | INC_DIST);
  inner = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_Integer row = 0;
    lua_rawgeti(L, S_WIN, i);
    if (fetched) {
      lua_pushvalue(L, -1);
      lua_rawget(L, S_POS);
      row = lua_tointeger(L, -1);
      lua_pop(L, 1);
      if (!row) {
        lua_pop(L, 1);
        continue;
      }
    }
    k++;
    append(L, inner, "ids", k);
    for (int f = 0; fetched && f < 3; f++) {
      if (!(s->inc & flags[f])) continue;
      lua_getfield(L, S_ROWS, names[f]);
      lua_rawgeti(L, -1, row);
      lua_remove(L, -2);
      append(L, inner, names[f], k);
    }
    lua_rawgeti(L, S_SCORES, i);
    append(L, inner, "distances", k);
  }
  hybrid_return(L, op, inner);
}

static void maria_rows(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  MYSQL_ROW row;
  int n = 0;
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    rows_push(L, op, S_ROWS, row, len, s->inc & ~INC_DIST, s->dim, ++s->nrows);
    lua_pushlstring(L, row[0], len[0]);
    lua_pushinteger(L, s->nrows);
    lua_rawset(L, S_POS);
    if (++n == 64 && op_slice_over(op)) {
      op_yield(L, op, maria_rows);
      return;
    }
    if (n == 64) n = 0;
  }
  op_free_result(op);
  if (s->next <= (lua_Integer)lua_rawlen(L, S_WIN)) maria_fetch(L, op);
  else maria_finish(L, op);
}

/* The rankings' rows (part, _id, score) read into the hits at S_HITS, a
 * slice at a time; then fused, and the winners' rows asked for. */
static void maria_ranked(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  hit *hits;
  MYSQL_ROW row;
  size_t n, i;
  if (lua_gettop(L) < S_HITS) {
    size_t rows = op->res ? (size_t)mysql_num_rows(op->res) : 0;
    lua_newuserdatauv(L, (rows ? rows : 1) * sizeof(hit), 0); /* S_HITS */
    s->filled = 0;
  }
  hits = lua_touserdata(L, S_HITS);
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    hit *h = &hits[s->filled++];
    h->part = row[0] ? strtoll(row[0], NULL, 10) : 0;
    h->id = row[1];
    h->len = len[1];
    h->v = h->part == 0 ? -HUGE_VAL : HUGE_VAL; /* NULL or NaN: last */
    if (row[2] && lua_stringtonumber(L, row[2])) {
      double v = (double)lua_tonumber(L, -1);
      lua_pop(L, 1);
      if (v == v) h->v = v;
    }
    if ((s->filled & 63) == 0 && op_slice_over(op)) {
      op_yield(L, op, maria_ranked);
      return;
    }
  }
  n = fuse(hits, s->filled, s->constant);
  if ((lua_Integer)n > s->n_results) n = (size_t)s->n_results;
  lua_createtable(L, (int)n, 0); /* S_WIN: the ids, best first */
  lua_createtable(L, (int)n, 0); /* S_SCORES */
  for (i = 0; i < n; i++) {
    lua_pushlstring(L, hits[i].id, hits[i].len);
    lua_rawseti(L, S_WIN, (lua_Integer)i + 1);
    lua_pushnumber(L, (lua_Number)hits[i].v);
    lua_rawseti(L, S_SCORES, (lua_Integer)i + 1);
  }
  op_free_result(op); /* the hits' ids pointed into it */
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  if (n > 0 && (s->inc & (INC_DOC | INC_META | INC_EMB))) {
    rows_new(L, s->inc & ~INC_DIST); /* S_ROWS */
    lua_newtable(L);                 /* S_POS: id -> its row in S_ROWS */
    s->next = 1;
    s->nrows = 0;
    maria_fetch(L, op);
    return;
  }
  lua_pushnil(L);
  lua_pushnil(L);
  maria_finish(L, op);
}

static void add_distance(op_t *op, const char *fn, const float *v, int dim) {
  sb_adds(&op->sql, fn);
  sb_adds(&op->sql, "(embedding, ");
  vec_addhex(&op->sql, v, dim);
  sb_addc(&op->sql, ')');
}

static void add_where(op_t *op, int has, const sbuf *cond) {
  if (!has) return;
  sb_adds(&op->sql, " WHERE (");
  sb_add(&op->sql, cond->data, cond->len);
  sb_addc(&op->sql, ')');
}

/* Statement 1: every ranking, each a derived table of its own. */
static void maria_search(lua_State *L, op_t *op) {
  hybrid_state *s = op->state;
  const char *fn = distance_function(op->dialect, s->dist);
  const float *vecs = s->has_knn ? lua_touserdata(L, S_VECS) : NULL;
  lua_Integer k = s->k < s->window ? s->k : s->window;
  op->sql.len = 0;
  if (s->has_query) {
    sb_adds(&op->sql, "SELECT * FROM (SELECT 0 AS part,_id,");
    if (s->words.len) {
      sb_adds(&op->sql, "MATCH(document) AGAINST (");
      sb_addquoted(&op->sql, s->words.data, s->words.len);
      sb_adds(&op->sql, " IN NATURAL LANGUAGE MODE)");
    } else sb_addc(&op->sql, '0'); /* a where alone: every row alike, in _id order */
    sb_adds(&op->sql, " AS score");
    select_from(op, s->table);
    add_where(op, s->has_tcond, &s->tcond);
    sb_adds(&op->sql, s->words.len ? " ORDER BY score DESC,_id LIMIT " : " ORDER BY _id LIMIT ");
    sb_addint(&op->sql, s->window);
    sb_adds(&op->sql, ") AS ranked");
  }
  for (lua_Integer q = 1; s->has_knn && q <= s->nvec; q++) {
    const float *v = vecs + (q - 1) * s->dim;
    if (op->sql.len) sb_adds(&op->sql, " UNION ALL ");
    sb_adds(&op->sql, "SELECT * FROM (SELECT ");
    sb_addint(&op->sql, q);
    sb_adds(&op->sql, " AS part,_id,");
    add_distance(op, fn, v, s->dim);
    sb_adds(&op->sql, " AS score");
    select_from(op, s->table);
    add_where(op, s->has_kcond, &s->kcond);
    sb_adds(&op->sql, " ORDER BY ");
    add_distance(op, fn, v, s->dim);
    sb_adds(&op->sql, " LIMIT ");
    sb_addint(&op->sql, k);
    sb_adds(&op->sql, ") AS ranked"); /* each in a query block of its own */
  }
  op_sql(L, op, SQL_RESULT | SQL_WARN | SQL_TIMED, maria_ranked);
}

/* The arguments are checked and the vectors known: the dialect's statements. */
static void hybrid_go(lua_State *L, op_t *op) {
  if (op->dialect == DIALECT_SEEKDB) seekdb_search(L, op);
  else maria_search(L, op);
}

const method_t hybrid_search_method = {"hybrid_search", hybrid_start, sizeof(hybrid_state), hybrid_release};
