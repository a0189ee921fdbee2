/* collection:query: nearest neighbours of one or more query vectors (or
 * texts, through the embedding function).
 *
 *   seekdb:  one statement per query, as pyseekdb sends it:
 *            SELECT ..., <fn>(embedding, X'..') AS distance FROM t [WHERE ...]
 *            ORDER BY <fn>(embedding, X'..') [DESC] APPROXIMATE LIMIT n
 *            fn = l2_distance | cosine_distance | inner_product
 *   MariaDB: fn = VEC_DISTANCE_EUCLIDEAN | VEC_DISTANCE_COSINE, and a query
 *            returns min(n, rows that match its filters), every time. Its
 *            vector index filters after its window of candidates, so:
 *            - no filter: ORDER BY <fn>(column, constant) LIMIT n, the form
 *              the index answers, mhnsw_ef_search at least n;
 *            - a filter: the index's w = max(100, 8n) nearest rows (ef
 *              max(400, 2w)) in
 *              a derived table with the filter's value, those that pass,
 *              nearest first (w > 500: costs more than a scan, scan at once);
 *            - a query either form answers short, again as an exact scan:
 *              ORDER BY <fn>(...)+0, which the index cannot serve.
 *            The queries of a call go in one statement (a UNION ALL of one
 *            derived table per query, tagged _q; up to 100 a statement and
 *            as max_allowed_packet allows). When some come back short, the
 *            call's queries are all asked again in one more statement, the
 *            short ones exactly: the rows of a call come from one read.
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
       S_QE, S_QT, S_WHERE, S_WDOC, S_VECS, S_OUT, S_DRY, S_INNERS, S_STAT };

/* Each query's rows so far and where it stands. */
enum { Q_TODO, Q_SENT, Q_DONE };
typedef struct qstat {
  lua_Integer k;
  int st;   /* Q_*: in this pass */
  int mode; /* M_*: how it is asked */
} qstat;

typedef struct query_state {
  char table[TABLE_NAME_SIZE];
  int dim, dist, inc, cond;
  lua_Integer n_results, nq, q, k;
  lua_Integer first, last; /* the queries of the statement in flight: [first, last) */
  int multi, mode;         /* its form: a UNION ALL of queries; M_INDEX, M_WINDOW or M_EXACT */
  lua_Integer window;      /* M_WINDOW: how many of the index's nearest rows are filtered */
  int pass, again;         /* 0, then 1 for the queries the index answered short */
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

/* The session's mhnsw_ef_search (conn.c sets it on connecting). */
#define SESSION_EF_SEARCH 64
/* A filtered query on MariaDB first takes a window of the WINDOW_FACTOR *
 * n_results (at least WINDOW_MIN) nearest rows from the index, searched with
 * mhnsw_ef_search = WINDOW_EF times the window, at least WINDOW_EF_MIN (the
 * deep end of an HNSW result is its least exact part: with ef = the window,
 * a filter keeping 5% had recall@10 0.86, with 2 x the window a filter
 * keeping 50% 0.96 to 0.99, measured in bench/recall.md), and filters those; a
 * window past WINDOW_MAX costs more than the exact scan (ef_search 1000 took 3
 * to 5 times the scan of 20,000 rows), so such a query scans at once. */
#define WINDOW_MIN 100
#define WINDOW_FACTOR 8
#define WINDOW_EF 2
#define WINDOW_EF_MIN 400
#define WINDOW_MAX 500
/* At most this many query vectors in one statement (each is a derived table
 * the server materializes); more go in further statements. */
#define QUERIES_PER_STATEMENT 100

/* How a statement asks: through the index; a window of the index's nearest
 * rows, filtered; an exact scan of the rows that pass the filter. */
enum { M_INDEX, M_WINDOW, M_EXACT };

/* One SELECT of query q (0-based) into op->sql, in its mode.
 * - multi: as one arm of a UNION ALL, in a derived table (MariaDB uses the
 *   vector index there, not in a parenthesised UNION arm) with the query's
 *   number as its last column _q.
 * - M_WINDOW: the window's rows with the filter's value as column _m, in a
 *   derived table, then those that pass, nearest first.
 * - M_EXACT: an ORDER BY the index cannot serve (the distance + 0), so that
 *   the server looks at every row that passes the filter. */
static void add_select(lua_State *L, op_t *op, query_state *s, lua_Integer q, int multi) {
  const char *fn = distance_function(op->dialect, s->dist);
  const float *v = (const float *)lua_touserdata(L, S_VECS) + q * s->dim;
  int mode = ((qstat *)lua_touserdata(L, S_STAT))[q].mode, window = mode == M_WINDOW;
  if (multi) sb_adds(&op->sql, q > s->first ? " UNION ALL SELECT * FROM (" : "SELECT * FROM (");
  if (window) sb_adds(&op->sql, "SELECT * FROM (");
  select_head(op, s->inc & ~INC_DIST);
  sb_addc(&op->sql, ',');
  add_distance(op, fn, v, s->dim);
  sb_adds(&op->sql, " AS distance");
  if (window) {
    sb_adds(&op->sql, ",(");
    sb_add(&op->sql, op->cond.data, op->cond.len);
    sb_adds(&op->sql, ") AS _m");
  } else if (multi && op->cond.len) {
    /* the arms of one UNION ALL have the same columns: an exact arm asked
     * again beside window arms gets an _m too */
    sb_adds(&op->sql, ",1 AS _m");
  }
  if (multi) {
    sb_adds(&op->sql, ",");
    sb_addint(&op->sql, q + 1);
    sb_adds(&op->sql, " AS _q");
  }
  select_from(op, s->table);
  if (!window) add_cond(op, s->cond, 1);
  sb_adds(&op->sql, " ORDER BY ");
  add_distance(op, fn, v, s->dim);
  if (mode == M_EXACT) sb_adds(&op->sql, "+0");
  if (s->dist == DIST_IP) sb_adds(&op->sql, " DESC");
  if (op->dialect == DIALECT_SEEKDB) sb_adds(&op->sql, " APPROXIMATE");
  sb_adds(&op->sql, " LIMIT ");
  if (window) {
    sb_addint(&op->sql, s->window < s->n_results ? s->n_results : s->window);
    sb_adds(&op->sql, ") AS _w WHERE _m ORDER BY distance LIMIT ");
  }
  sb_addint(&op->sql, s->n_results);
  if (multi) sb_adds(&op->sql, ") AS _t"); /* each arm is a scope of its own */
}

/* The rows of the statement into the inner lists of their queries
 * (S_INNERS[q]), then the next statement. */
static void query_rows(lua_State *L, op_t *op) {
  query_state *s = op->state;
  qstat *st = lua_touserdata(L, S_STAT);
  MYSQL_ROW row;
  unsigned int qcol = op->res ? mysql_num_fields(op->res) - 1 : 0;
  lua_Integer q;
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    q = s->first;
    if (s->multi) {
      char num[24];
      size_t n = len[qcol] < sizeof num ? len[qcol] : sizeof num - 1;
      memcpy(num, row[qcol] ? row[qcol] : "", n);
      num[n] = '\0';
      q = strtoll(num, NULL, 10) - 1;
      if (q < s->first || q >= s->last) op_fail(L, op, "the server answered a query that was not asked (%s)", num);
    }
    lua_rawgeti(L, S_INNERS, q + 1);
    rows_push(L, op, lua_gettop(L), row, len, s->inc | INC_DIST, s->dim, ++st[q].k);
    lua_pop(L, 1);
    if ((++s->k & 63) == 0 && op_slice_over(op)) {
      op_yield(L, op, query_rows);
      return;
    }
  }
  op_free_result(op);
  for (q = s->first; q < s->last; q++) {
    if (st[q].st != Q_SENT) continue;
    st[q].st = Q_DONE;
    /* the index came back short: the filter may match more rows than its
     * window holds, or n_results is past its window. Asked again exactly,
     * with the other queries of the call in the same statement: the call's
     * rows all come from one read. */
    if (st[q].mode != M_EXACT && op->conn && op->dialect == DIALECT_MARIADB && st[q].k < s->n_results) {
      st[q].mode = M_EXACT;
      s->again = 1;
    }
    lua_rawgeti(L, S_INNERS, q + 1);
    if (!(s->inc & INC_DIST)) {
      lua_pushnil(L);
      lua_setfield(L, -2, "distances");
    }
    add_inner(L, S_OUT, lua_gettop(L), q + 1);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, S_INNERS, q + 1);
  }
  s->q = s->last;
  query_next(L, op);
}

/* The next statement, or the result. On MariaDB the queries of a call go in
 * one statement (a UNION ALL of one derived table per query vector) as far
 * as max_allowed_packet allows; without a filter through the vector index
 * (mhnsw_ef_search at least n_results), with a filter, or for a query the
 * index answered short, as an exact scan. seekdb: one statement per query,
 * APPROXIMATE. */
static void query_next(lua_State *L, op_t *op) {
  query_state *s = op->state;
  qstat *st;
  lua_Integer q, todo = 0, ef;
  size_t limit, arm;
  int mariadb = op->dialect == DIALECT_MARIADB;
  if (lua_gettop(L) < S_OUT) {
    rows_new(L, s->inc); /* S_OUT */
    if (op->conn) lua_pushnil(L);
    else op_dry_begin(L, op); /* S_DRY */
    lua_createtable(L, (int)(s->nq < 1 << 20 ? s->nq : 0), 0); /* S_INNERS */
    st = lua_newuserdatauv(L, (size_t)s->nq * sizeof *st, 0); /* S_STAT */
    memset(st, 0, (size_t)s->nq * sizeof *st);
  }
  st = lua_touserdata(L, S_STAT);
  while (s->q < s->nq && st[s->q].st == Q_DONE) s->q++;
  if (s->q >= s->nq && s->again) { /* all again: the short ones exactly */
    s->again = 0;
    s->pass++;
    s->q = 0;
    for (q = 0; q < s->nq; q++) st[q].st = Q_TODO;
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
  for (q = s->q; q < s->nq; q++) todo += st[q].st != Q_DONE;
  s->mode = M_INDEX;
  ef = s->ef_search;
  if (mariadb) {
    s->window = s->n_results * WINDOW_FACTOR < WINDOW_MIN ? WINDOW_MIN : s->n_results * WINDOW_FACTOR;
    s->mode = !s->cond ? M_INDEX : s->window <= WINDOW_MAX ? M_WINDOW : M_EXACT;
    /* the index's window: at least the rows asked for */
    if (s->mode == M_WINDOW) {
      lua_Integer wef = s->window * WINDOW_EF < WINDOW_EF_MIN ? WINDOW_EF_MIN : s->window * WINDOW_EF;
      if (wef > ef) ef = wef;
    }
    if (s->mode == M_INDEX && s->n_results > (ef ? ef : SESSION_EF_SEARCH)) ef = s->n_results;
  }
  s->multi = mariadb && todo > 1;
  op->sql.len = 0;
  if (ef && s->mode != M_EXACT) { /* MariaDB keeps ef_search out of the index: per statement */
    sb_adds(&op->sql, "SET STATEMENT mhnsw_ef_search=");
    sb_addint(&op->sql, ef);
    sb_adds(&op->sql, " FOR ");
  }
  limit = op_statement_limit(op);
  arm = 2 * (8 * (size_t)s->dim + 64) + op->cond.len + 200;
  s->first = s->q;
  for (q = s->q; q < s->nq; q++) {
    if (st[q].st == Q_DONE) continue;
    if (s->pass == 0) st[q].mode = s->mode;
    if (q > s->first && (!s->multi || op->sql.len + arm + 32 > limit || q - s->first >= QUERIES_PER_STATEMENT))
      break;
    add_select(L, op, s, q, s->multi);
    rows_new(L, s->inc | INC_DIST); /* the distance column is always there */
    lua_rawseti(L, S_INNERS, q + 1);
    st[q].k = 0;
    st[q].st = Q_SENT;
  }
  s->last = q;
  if (s->multi) sb_adds(&op->sql, s->dist == DIST_IP ? " ORDER BY _q, distance DESC" : " ORDER BY _q, distance");
  s->k = 0;
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
