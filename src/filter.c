/* Filters: pyseekdb's `where` (metadata) and `where_document` operators,
 * translated to SQL conditions; every operand is a hex literal (_utf8mb4 X'..').
 *
 *   {k = v}, {k = {$eq = v}}     JSON_OVERLAPS(JSON_EXTRACT(metadata, '$.k'), [v])
 *   {k = {$ne = v}}              NOT JSON_OVERLAPS(...)
 *   {k = {$in = {...}}}          JSON_OVERLAPS(..., [...]); empty: FALSE
 *   {k = {$nin = {...}}}         NOT JSON_OVERLAPS(...); empty: TRUE
 *   {k = {$gt|$gte|$lt|$lte = v}} JSON_EXTRACT(metadata, '$.k') > v
 *                                (MariaDB: JSON_VALUE, whose scalar compares as SQL)
 *   {$and = {...}}, {$or = {...}}, {$not = {...}}; several keys: AND
 *   where_document: {$contains = s} MATCH(document) AGAINST (s IN NATURAL
 *   LANGUAGE MODE), {$not_contains = s}, {$regex = s} document REGEXP s,
 *   {$not_regex = s}, {$and = {...}}, {$or = {...}}.
 *
 * JSON_OVERLAPS makes $eq and $in match array-valued metadata too, as in
 * pyseekdb. A metadata key is one key, never a path: `a.b` means the key
 * "a.b", written as $."a.b". Keys are taken in byte order so the same filter
 * always gives the same SQL. A malformed filter raises an argument error that
 * names the place inside it, before any SQL. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "marshal.h"
#include "seekdb.h"

#define FILTER_MAX_DEPTH 32

typedef struct fctx {
  lua_State *L;
  op_t *op;
  int arg;
  sbuf *out;         /* op->cond */
  sbuf *tmp;         /* op->scratch: an operand's text before quoting */
  char path[200];
  size_t pathlen;
} fctx;

/* A bad value (not UTF-8, not finite): nil, err like any bad value. */
static int fvalue(fctx *f, const char *fmt, ...) {
  va_list ap;
  const char *msg;
  va_start(ap, fmt);
  msg = lua_pushvfstring(f->L, fmt, ap);
  va_end(ap);
  return op_fail(f->L, f->op, "%s %s", f->path, msg);
}

static int ffail(fctx *f, const char *fmt, ...) {
  va_list ap;
  const char *msg;
  va_start(ap, fmt);
  msg = lua_pushvfstring(f->L, fmt, ap);
  va_end(ap);
  return op_argerror(f->L, f->op, f->arg, "%s %s", f->path, msg);
}

static size_t path_push(fctx *f, const char *fmt, const char *s, lua_Integer i) {
  size_t mark = f->pathlen;
  int n = s ? snprintf(f->path + mark, sizeof f->path - mark, fmt, s)
            : snprintf(f->path + mark, sizeof f->path - mark, fmt, (long long)i);
  if (n > 0) f->pathlen += (size_t)n < sizeof f->path - mark ? (size_t)n : sizeof f->path - mark - 1;
  return mark;
}

static void path_pop(fctx *f, size_t mark) {
  f->pathlen = mark;
  f->path[mark] = '\0';
}

/* The keys of the table at idx in byte order (a userdata left on the stack). */
static long sorted_keys(fctx *f, int idx, jkey **keys) {
  long n;
  luaL_checkstack(f->L, 6, "filter");
  n = keys_sorted(f->L, idx, keys);
  if (n < 0) ffail(f, "has a key that is not a string");
  return n;
}

/* A list 1..n (n >= 1 unless allow_empty) of anything; its length. */
static lua_Integer check_list(fctx *f, int idx, int allow_empty) {
  lua_Integer n;
  if (lua_type(f->L, idx) != LUA_TTABLE) ffail(f, "must be a list, got %s", luaL_typename(f->L, idx));
  n = (lua_Integer)lua_rawlen(f->L, idx);
  if (!seq_exact(f->L, idx, n)) ffail(f, "must be a list (keys 1..n)");
  if (n == 0 && !allow_empty) ffail(f, "must not be empty");
  return n;
}

static void add_quoted(fctx *f, const char *s, size_t len) {
  sb_addquoted(f->out, s, len);
}

/* The JSON path of a metadata key, as an SQL literal. */
static void add_path(fctx *f, const char *k, size_t len) {
  int plain = len > 0 && (k[0] == '_' || ((k[0] | 32) >= 'a' && (k[0] | 32) <= 'z'));
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '"' || c == '\\' || c < 0x20)
      ffail(f, "is a metadata key a filter cannot name (it has a quote, backslash or control character)");
    if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) plain = 0;
  }
  if (len == 0 || !utf8_valid(k, len)) ffail(f, "is not a usable metadata key (empty or not UTF-8)");
  if (k[0] == '-' && f->op->dialect == DIALECT_MARIADB) /* MariaDB finds no $."-..." member */
    ffail(f, "is a metadata key a filter cannot name on MariaDB (it starts with '-')");
  f->tmp->len = 0;
  sb_adds(f->tmp, plain ? "$." : "$.\"");
  sb_add(f->tmp, k, len);
  if (!plain) sb_addc(f->tmp, '"');
  add_quoted(f, f->tmp->data, f->tmp->len);
}

static void add_extract(fctx *f, const char *fn, const char *k, size_t len) {
  sb_adds(f->out, fn);
  sb_adds(f->out, "(metadata, ");
  add_path(f, k, len);
  sb_addc(f->out, ')');
}

static int is_scalar(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN || isnull(L, idx);
}

/* JSON array of the operand (a scalar, or a list of scalars) as a literal. */
static void add_json_array(fctx *f, int idx, int is_list) {
  lua_State *L = f->L;
  jenc j;
  lua_Integer i, n = is_list ? (lua_Integer)lua_rawlen(L, idx) : 1;
  memset(&j, 0, sizeof j);
  f->tmp->len = 0;
  sb_addc(f->tmp, '[');
  for (i = 1; i <= n; i++) {
    int ok;
    if (is_list) lua_rawgeti(L, idx, i);
    else lua_pushvalue(L, idx);
    if (!is_scalar(L, -1)) {
      path_push(f, "[%lld]", NULL, i);
      ffail(f, "must be a string, number, boolean or seekdb.null");
    }
    if (i > 1) sb_addc(f->tmp, ',');
    ok = json_encode(L, -1, &j, f->tmp);
    lua_pop(L, 1);
    if (!ok) fvalue(f, "%s", j.err[0] == ' ' ? j.err + 1 : j.err);
  }
  sb_addc(f->tmp, ']');
  if (f->op->dialect == DIALECT_SEEKDB) sb_adds(f->out, "CAST(");
  add_quoted(f, f->tmp->data, f->tmp->len);
  if (f->op->dialect == DIALECT_SEEKDB) sb_adds(f->out, " AS JSON)");
}

/* A number or string as an SQL literal, for the range operators. */
static void add_scalar(fctx *f, int idx) {
  lua_State *L = f->L;
  char num[48];
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (!utf8_valid(s, len)) fvalue(f, "is a string that is not valid UTF-8");
    add_quoted(f, s, len);
  } else if (lua_isinteger(L, idx)) {
    sb_addint(f->out, (long long)lua_tointeger(L, idx));
  } else if (lua_type(L, idx) == LUA_TNUMBER) {
    double x = (double)lua_tonumber(L, idx);
    if (x != x || x - x != 0) fvalue(f, "is NaN or infinite");
    snprintf(num, sizeof num, "%.17g", x);
    for (char *c = num; *c; c++) if (*c == ',') *c = '.';
    sb_adds(f->out, num);
  } else
    ffail(f, "must be a number or a string, got %s", luaL_typename(L, idx));
}

static void field_op(fctx *f, const char *k, size_t klen, const char *opname, int v) {
  static const char *const ops[] = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", NULL};
  static const char *const sqlops[] = {NULL, NULL, NULL, NULL, " > ", " >= ", " < ", " <= "};
  int o;
  for (o = 0; ops[o] && strcmp(ops[o], opname) != 0; o++) {}
  if (!ops[o]) ffail(f, "is an unknown operator (use $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte)");
  if (o <= 3) {
    int is_list = o >= 2;
    if (is_list && check_list(f, v, 1) == 0) {
      sb_adds(f->out, o == 2 ? "FALSE" : "TRUE"); /* nothing is in {}; everything is not */
      return;
    }
    if (!is_list && !is_scalar(f->L, v))
      ffail(f, "must be a string, number, boolean or seekdb.null, got %s", luaL_typename(f->L, v));
    if (o == 1 || o == 3) sb_adds(f->out, "NOT ");
    sb_adds(f->out, "JSON_OVERLAPS(");
    add_extract(f, "JSON_EXTRACT", k, klen);
    sb_adds(f->out, ", ");
    add_json_array(f, v, is_list);
    sb_addc(f->out, ')');
    return;
  }
  add_extract(f, f->op->dialect == DIALECT_MARIADB ? "JSON_VALUE" : "JSON_EXTRACT", k, klen);
  sb_adds(f->out, sqlops[o]);
  add_scalar(f, v);
}

static void where_expr(fctx *f, int idx, int depth);

/* {$and = {...}} / {$or = {...}}: each item a filter of the same kind. */
static void combine(fctx *f, int list, const char *joiner, void (*expr)(fctx *, int, int), int depth) {
  lua_Integer i, n = check_list(f, list, 0);
  sb_addc(f->out, '(');
  for (i = 1; i <= n; i++) {
    size_t mark = path_push(f, "[%lld]", NULL, i);
    if (i > 1) sb_adds(f->out, joiner);
    lua_rawgeti(f->L, list, i);
    expr(f, lua_gettop(f->L), depth + 1);
    lua_pop(f->L, 1);
    path_pop(f, mark);
  }
  sb_addc(f->out, ')');
}

static void field_expr(fctx *f, const char *k, size_t klen, int v) {
  lua_State *L = f->L;
  jkey *keys;
  long nk;
  if (is_scalar(L, v)) {
    field_op(f, k, klen, "$eq", v);
    return;
  }
  if (lua_type(L, v) != LUA_TTABLE)
    ffail(f, "must be a value or a table of operators, got %s", luaL_typename(L, v));
  nk = sorted_keys(f, v, &keys);
  if (nk == 0) ffail(f, "is an empty table of operators");
  if (nk > 1) sb_addc(f->out, '(');
  for (long i = 0; i < nk; i++) {
    size_t mark = path_push(f, ".%s", keys[i].s, 0);
    if (i > 0) sb_adds(f->out, " AND ");
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, v);
    field_op(f, k, klen, keys[i].s, lua_gettop(L));
    lua_pop(L, 1);
    path_pop(f, mark);
  }
  if (nk > 1) sb_addc(f->out, ')');
  lua_pop(L, 1); /* keys */
}

/* The filter table at idx: each key (in byte order) through `one`, the
 * conditions joined by AND. */
typedef void (*key_fn)(fctx *f, const char *k, size_t klen, int v, int depth);

static void each_key(fctx *f, int idx, int depth, key_fn one) {
  lua_State *L = f->L;
  jkey *keys;
  long nk;
  if (depth > FILTER_MAX_DEPTH) ffail(f, "is nested too deeply");
  if (lua_type(L, idx) != LUA_TTABLE) ffail(f, "must be a table, got %s", luaL_typename(L, idx));
  nk = sorted_keys(f, idx, &keys);
  if (nk == 0) ffail(f, "is empty");
  if (nk > 1) sb_addc(f->out, '(');
  for (long i = 0; i < nk; i++) {
    size_t mark = path_push(f, ".%s", keys[i].s, 0);
    if (i > 0) sb_adds(f->out, " AND ");
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, idx);
    one(f, keys[i].s, keys[i].len, lua_gettop(L), depth);
    lua_pop(L, 1);
    path_pop(f, mark);
  }
  if (nk > 1) sb_addc(f->out, ')');
  lua_pop(L, 1); /* keys */
}

static void doc_expr(fctx *f, int idx, int depth);

static void where_key(fctx *f, const char *k, size_t klen, int v, int depth) {
  if (strcmp(k, "$and") == 0) combine(f, v, " AND ", where_expr, depth);
  else if (strcmp(k, "$or") == 0) combine(f, v, " OR ", where_expr, depth);
  else if (strcmp(k, "$not") == 0) {
    sb_adds(f->out, "NOT (");
    where_expr(f, v, depth + 1);
    sb_addc(f->out, ')');
  } else if (k[0] == '$') ffail(f, "is an unknown operator (use $and, $or, $not or a metadata key)");
  else field_expr(f, k, klen, v);
}

static void doc_key(fctx *f, const char *k, size_t klen, int v, int depth) {
  lua_State *L = f->L;
  int neg = strncmp(k, "$not_", 5) == 0;
  const char *base = k + (neg ? 5 : 1), *s; /* "contains" of "$contains" and "$not_contains" */
  size_t len;
  (void)klen;
  if (strcmp(k, "$and") == 0) {
    combine(f, v, " AND ", doc_expr, depth);
    return;
  }
  if (strcmp(k, "$or") == 0) {
    combine(f, v, " OR ", doc_expr, depth);
    return;
  }
  if (k[0] != '$' || (strcmp(base, "contains") != 0 && strcmp(base, "regex") != 0))
    ffail(f, "is an unknown operator (use $contains, $not_contains, $regex, $not_regex, $and, $or)");
  if (lua_type(L, v) != LUA_TSTRING) ffail(f, "must be a string, got %s", luaL_typename(L, v));
  s = lua_tolstring(L, v, &len);
  if (!utf8_valid(s, len)) fvalue(f, "is a string that is not valid UTF-8");
  if (neg) sb_adds(f->out, "NOT ");
  if (base[0] == 'c') {
    /* InnoDB's full-text parser takes '*' as truncation even here, and a
     * '*' after no word is a syntax error: words are what matters. */
    f->tmp->len = 0;
    sb_add(f->tmp, s, len);
    for (size_t c = 0; c < f->tmp->len; c++)
      if (f->tmp->data[c] == '*') f->tmp->data[c] = ' ';
    sb_adds(f->out, "MATCH(document) AGAINST (");
    add_quoted(f, f->tmp->data, f->tmp->len);
    sb_adds(f->out, " IN NATURAL LANGUAGE MODE)");
  } else {
    sb_adds(f->out, "(document REGEXP ");
    add_quoted(f, s, len);
    sb_addc(f->out, ')');
  }
}

static void where_expr(fctx *f, int idx, int depth) { each_key(f, idx, depth, where_key); }
static void doc_expr(fctx *f, int idx, int depth) { each_key(f, idx, depth, doc_key); }

/* Builds the condition of the filters at `where` and `where_document` (nil
 * when absent) into op->cond; 0 when there is none. `arg` is the argument
 * number that errors name. */
int filter_build(lua_State *L, op_t *op, int arg, int where, int where_document) {
  fctx f;
  int any = 0;
  memset(&f, 0, sizeof f);
  f.L = L;
  f.op = op;
  f.arg = arg;
  f.out = &op->cond;
  f.tmp = &op->scratch;
  op->cond.len = 0;
  if (!lua_isnoneornil(L, where)) {
    int empty;
    if (lua_type(L, where) != LUA_TTABLE)
      op_argerror(L, op, arg, "where must be a table, got %s", luaL_typename(L, where));
    lua_pushnil(L);
    empty = !lua_next(L, where);
    if (!empty) lua_pop(L, 2);
    if (!empty) {
      strcpy(f.path, "where");
      f.pathlen = 5;
      where_expr(&f, where, 0);
      any = 1;
    }
  }
  if (!lua_isnoneornil(L, where_document) && lua_type(L, where_document) == LUA_TTABLE) {
    lua_pushnil(L); /* {} is no filter, as for where */
    if (!lua_next(L, where_document)) goto done;
    lua_pop(L, 2);
  }
  if (!lua_isnoneornil(L, where_document)) {
    if (any) sb_adds(f.out, " AND ");
    strcpy(f.path, "where_document");
    f.pathlen = 14;
    doc_expr(&f, where_document, 0);
    any = 1;
  }
done:
  if (op->cond.oom || op->scratch.oom) op_fail(L, op, "not enough memory to build the filter");
  return any;
}
