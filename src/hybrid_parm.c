/* hybrid_search's arguments, checked, and seekdb's search_parm built from
 * them with cJSON, the way pyseekdb's _build_search_parm builds it:
 *
 *   {"query": <query>, "knn": <knn or [knn, ...]>, "size": n_results,
 *    "rank": <rank as given>, "_source": ["_id", "document", "metadata", "embedding"]}
 *
 *   query:  where_document {$contains = s}  {"query_string": {"fields": ["document"], "query": s}}
 *           {$not_contains = s}             {"bool": {"must_not": [<query_string>]}}
 *           {$and = {{$contains = a}, ...}} one query_string, "a b ..." ({$or: "a OR b ..."})
 *           other $and/$or lists            {"bool": {"must"|"should": [...]}}
 *           with a where                    {"bool": {"must": [<document>], "filter": [<conditions>]}}
 *           a where alone                   its one condition, or {"bool": {"filter": [...]}}
 *   knn:    {"field": "embedding", "k": n, "query_vector": [...], "filter": [<conditions>]}
 *   where:  the field of key k is (JSON_EXTRACT(metadata, '$.k')) (a key that is
 *           not a plain name: '$."k"'); {k = v}, $eq: {"term": {f: v}};
 *           $ne: {"bool": {"must_not": [<term>]}}; $in: {"terms": {f: [...]}};
 *           $nin: {"bool": {"must_not": [<terms>]}}; $gt/$gte/$lt/$lte of one
 *           key: one {"range": {f: {"gt": v, ...}}}; $and: {"bool": {"must":
 *           [...]}}; $or: {"bool": {"should": [...]}}; $not: {"bool":
 *           {"must_not": [...]}}; several keys: one condition each.
 *
 * Where pyseekdb silently drops part of a filter (an $eq beside a range,
 * the items of a $and that are not $contains, an empty $in, the other keys
 * of a table that has $and), everything is kept here; an $or item or a $not
 * of several keys is wrapped in {"bool": {"must": [...]}} so that its keys
 * stay ANDed. Keys and operators are taken in byte order, so the same
 * arguments always give the same text.
 *
 * seekdb turns the JSON into SQL on the server (DBMS_HYBRID_SEARCH.GET_SQL),
 * and a field name goes into that SQL as written: so a metadata key with a
 * quote, a backslash or a control character is refused here, in both
 * dialects. The JSON text is made once and sent as one escaped literal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"

#define HP_MAX_DEPTH 32

/* ---- messages -------------------------------------------------------------- */

static int hp_argfail(hparm *h, const char *fmt, ...) {
  va_list ap;
  const char *msg;
  va_start(ap, fmt);
  msg = lua_pushvfstring(h->L, fmt, ap);
  va_end(ap);
  return op_argerror(h->L, h->op, 1, "%s %s", h->path, msg);
}

/* A bad value (invalid UTF-8, NaN): nil, err, as filters do. */
static int hp_valfail(hparm *h, const char *fmt, ...) {
  va_list ap;
  const char *msg;
  va_start(ap, fmt);
  msg = lua_pushvfstring(h->L, fmt, ap);
  va_end(ap);
  return op_fail(h->L, h->op, "%s %s", h->path, msg);
}

static size_t path_push(hparm *h, const char *s, lua_Integer i) {
  size_t mark = h->pathlen;
  int n = s ? snprintf(h->path + mark, sizeof h->path - mark, ".%s", s)
            : snprintf(h->path + mark, sizeof h->path - mark, "[%lld]", (long long)i);
  if (n > 0) h->pathlen += (size_t)n < sizeof h->path - mark ? (size_t)n : sizeof h->path - mark - 1;
  return mark;
}

static void path_set(hparm *h, const char *s) {
  snprintf(h->path, sizeof h->path, "%s", s);
  h->pathlen = strlen(h->path);
}

static void path_pop(hparm *h, size_t mark) {
  h->pathlen = mark;
  h->path[mark] = '\0';
}

/* ---- cJSON nodes, attached as soon as they are made ------------------------- */

static cJSON *oom(hparm *h) {
  op_fail(h->L, h->op, "not enough memory to build the search parameters");
  return NULL;
}

static cJSON *add_item(hparm *h, cJSON *parent, const char *key, cJSON *item) {
  if (!item) return oom(h);
  if (key) cJSON_AddItemToObject(parent, key, item);
  else cJSON_AddItemToArray(parent, item);
  return item;
}

static cJSON *add_object(hparm *h, cJSON *parent, const char *key) {
  return add_item(h, parent, key, cJSON_CreateObject());
}

static cJSON *add_array(hparm *h, cJSON *parent, const char *key) {
  return add_item(h, parent, key, cJSON_CreateArray());
}

static void add_int(hparm *h, cJSON *parent, const char *key, lua_Integer v) {
  char num[24];
  num[i64_digits(num, (long long)v)] = '\0';
  add_item(h, parent, key, cJSON_CreateRaw(num));
}

/* The Lua value at idx as JSON text (json.c: integers stay integers,
 * strings are checked UTF-8 and may hold NUL bytes). The text is made in
 * op->scratch, which the runtime frees whatever happens. */
static void add_value(hparm *h, cJSON *parent, const char *key, int idx) {
  sbuf *text = &h->op->scratch;
  jenc j;
  memset(&j, 0, sizeof j);
  text->len = 0;
  if (!json_encode(h->L, idx, &j, text)) hp_valfail(h, "%s", j.err[0] == ' ' ? j.err + 1 : j.err);
  sb_addc(text, '\0');
  add_item(h, parent, key, text->oom ? NULL : cJSON_CreateRaw(text->data));
}

/* {"bool": {<clause>: []}} appended to parent; returns the clause's list. */
static cJSON *add_bool(hparm *h, cJSON *parent, const char *key, const char *clause) {
  cJSON *b = add_object(h, add_object(h, parent, key), "bool");
  return add_array(h, b, clause);
}

/* The node at `at` in list, a {"bool": {"must": [...]}} built for several
 * conditions, becomes its single condition when it has only one. */
static void unwrap_single(cJSON *list, int at, cJSON *must) {
  if (cJSON_GetArraySize(must) == 1) {
    cJSON *only = cJSON_DetachItemFromArray(must, 0);
    cJSON_ReplaceItemInArray(list, at, only);
  }
}

/* ---- Lua helpers ----------------------------------------------------------------- */

static long sorted_keys(hparm *h, int idx, jkey **keys) {
  long n;
  luaL_checkstack(h->L, 8, "hybrid_search arguments");
  n = keys_sorted(h->L, idx, keys);
  if (n < 0) hp_argfail(h, "has a key that is not a string");
  return n;
}

static lua_Integer check_list(hparm *h, int idx, int allow_empty) {
  lua_Integer n;
  if (lua_type(h->L, idx) != LUA_TTABLE) hp_argfail(h, "must be a list, got %s", luaL_typename(h->L, idx));
  n = (lua_Integer)lua_rawlen(h->L, idx);
  if (!seq_exact(h->L, idx, n)) hp_argfail(h, "must be a list (keys 1..n)");
  if (n == 0 && !allow_empty) hp_argfail(h, "must not be empty");
  return n;
}

static int is_scalar(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN || isnull(L, idx);
}

/* A table that is no filter at all: nil or {}. */
static int no_filter(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return 1;
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_pushnil(L);
  if (!lua_next(L, idx)) return 1;
  lua_pop(L, 2);
  return 0;
}

/* ---- where ---------------------------------------------------------------------- */

/* The field name of metadata key k: (JSON_EXTRACT(metadata, '$.k')). It ends
 * up inside an SQL literal of the server's making, so nothing that could end
 * or escape that literal may be in it. */
static const char *field_name(hparm *h, const char *k, size_t len) {
  int plain = len > 0 && (k[0] == '_' || ((k[0] | 32) >= 'a' && (k[0] | 32) <= 'z'));
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '\'' || c == '"' || c == '\\' || c < 0x20)
      hp_argfail(h, "is a metadata key hybrid_search cannot name (it has a quote, backslash or control character)");
    if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) plain = 0;
  }
  if (len == 0 || !utf8_valid(k, len)) hp_argfail(h, "is not a usable metadata key (empty or not UTF-8)");
  if (k[0] == '-' && h->op->dialect == DIALECT_MARIADB) /* as filter.c: MariaDB finds no $."-..." member */
    hp_argfail(h, "is a metadata key a filter cannot name on MariaDB (it starts with '-')");
  return lua_pushfstring(h->L, plain ? "(JSON_EXTRACT(metadata, '$.%s'))" : "(JSON_EXTRACT(metadata, '$.\"%s\"'))", k);
}

/* {f: <scalar or list>} under "term"/"terms", appended to list. */
static void add_term(hparm *h, cJSON *list, const char *kind, const char *field, int v) {
  cJSON *t = add_object(h, add_object(h, list, NULL), kind);
  if (strcmp(kind, "terms") == 0) {
    lua_Integer n = check_list(h, v, 1);
    cJSON *values = add_array(h, t, field);
    for (lua_Integer i = 1; i <= n; i++) {
      size_t mark = path_push(h, NULL, i);
      lua_rawgeti(h->L, v, i);
      if (!is_scalar(h->L, -1)) hp_argfail(h, "must be a string, number, boolean or seekdb.null");
      add_value(h, values, NULL, lua_gettop(h->L));
      lua_pop(h->L, 1);
      path_pop(h, mark);
    }
  } else {
    if (!is_scalar(h->L, v))
      hp_argfail(h, "must be a string, number, boolean or seekdb.null, got %s", luaL_typename(h->L, v));
    add_value(h, t, field, v);
  }
}

/* {k = v} or {k = {ops}}: its conditions appended to list, the range
 * operators last, as one range (pyseekdb's order). */
static void field_conds(hparm *h, const char *k, size_t klen, int v, cJSON *list) {
  static const char *const ops[] = {"$eq", "$gt", "$gte", "$in", "$lt", "$lte", "$ne", "$nin", NULL};
  lua_State *L = h->L;
  const char *field = field_name(h, k, klen); /* pushed */
  cJSON *range = NULL;
  jkey *keys;
  long nk;
  if (is_scalar(L, v)) {
    add_term(h, list, "term", field, v);
    lua_pop(L, 1);
    return;
  }
  if (lua_type(L, v) != LUA_TTABLE) hp_argfail(h, "must be a value or a table of operators, got %s", luaL_typename(L, v));
  nk = sorted_keys(h, v, &keys);
  if (nk == 0) hp_argfail(h, "is an empty table of operators");
  for (int pass = 0; pass < 2; pass++) {
    for (long i = 0; i < nk; i++) {
      const char *op = keys[i].s;
      int o, val, is_range = op[0] == '$' && (op[1] == 'g' || op[1] == 'l');
      size_t mark;
      if (is_range != pass) continue;
      mark = path_push(h, op, 0);
      for (o = 0; ops[o] && strcmp(ops[o], op) != 0; o++) {}
      if (!ops[o]) hp_argfail(h, "is an unknown operator (use $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte)");
      lua_pushlstring(L, keys[i].s, keys[i].len);
      lua_rawget(L, v);
      val = lua_gettop(L);
      if (strcmp(op, "$eq") == 0) add_term(h, list, "term", field, val);
      else if (strcmp(op, "$in") == 0) add_term(h, list, "terms", field, val);
      else if (strcmp(op, "$ne") == 0 || strcmp(op, "$nin") == 0)
        add_term(h, add_bool(h, list, NULL, "must_not"), op[2] == 'e' ? "term" : "terms", field, val);
      else {
        int t = lua_type(L, val);
        if (t != LUA_TNUMBER && t != LUA_TSTRING)
          hp_argfail(h, "must be a number or a string, got %s", luaL_typename(L, val));
        if (!range) range = add_object(h, add_object(h, add_object(h, list, NULL), "range"), field);
        add_value(h, range, op + 1, val); /* "gt", "gte", "lt", "lte" */
      }
      lua_pop(L, 1);
      path_pop(h, mark);
    }
  }
  lua_pop(L, 2); /* keys, field */
}

static void where_conds(hparm *h, int idx, cJSON *list, int depth);

/* $and: every item's conditions in one must; $or: one should entry per item
 * (its conditions ANDed); $not: must_not of the conditions ANDed. */
static void logic_conds(hparm *h, const char *k, int v, cJSON *list, int depth) {
  lua_State *L = h->L;
  if (strcmp(k, "$not") == 0) {
    cJSON *not = add_bool(h, list, NULL, "must_not");
    cJSON *must = add_bool(h, not, NULL, "must");
    where_conds(h, v, must, depth + 1);
    unwrap_single(not, 0, must);
    return;
  }
  {
    lua_Integer n = check_list(h, v, 0);
    int is_and = strcmp(k, "$and") == 0;
    cJSON *clause = add_bool(h, list, NULL, is_and ? "must" : "should");
    for (lua_Integer i = 1; i <= n; i++) {
      size_t mark = path_push(h, NULL, i);
      lua_rawgeti(L, v, i);
      if (is_and) where_conds(h, lua_gettop(L), clause, depth + 1);
      else {
        int at = cJSON_GetArraySize(clause);
        cJSON *must = add_bool(h, clause, NULL, "must");
        where_conds(h, lua_gettop(L), must, depth + 1);
        unwrap_single(clause, at, must);
      }
      lua_pop(L, 1);
      path_pop(h, mark);
    }
  }
}

/* The conditions of the where table at idx, appended to list. */
static void where_conds(hparm *h, int idx, cJSON *list, int depth) {
  lua_State *L = h->L;
  jkey *keys;
  long nk;
  if (depth > HP_MAX_DEPTH) hp_argfail(h, "is nested too deeply");
  if (lua_type(L, idx) != LUA_TTABLE) hp_argfail(h, "must be a table, got %s", luaL_typename(L, idx));
  nk = sorted_keys(h, idx, &keys);
  if (nk == 0) hp_argfail(h, "is empty");
  for (long i = 0; i < nk; i++) {
    size_t mark = path_push(h, keys[i].s, 0);
    const char *k = keys[i].s;
    lua_pushlstring(L, k, keys[i].len);
    lua_rawget(L, idx);
    if (strcmp(k, "$and") == 0 || strcmp(k, "$or") == 0 || strcmp(k, "$not") == 0)
      logic_conds(h, k, lua_gettop(L), list, depth);
    else if (k[0] == '$') hp_argfail(h, "is an unknown operator (use $and, $or, $not or a metadata key)");
    else field_conds(h, k, keys[i].len, lua_gettop(L), list);
    lua_pop(L, 1);
    path_pop(h, mark);
  }
  lua_pop(L, 1); /* keys */
}

/* ---- where_document ------------------------------------------------------------- */

static const char *doc_string(hparm *h, int v, size_t *len) {
  const char *s;
  if (lua_type(h->L, v) != LUA_TSTRING) hp_argfail(h, "must be a string, got %s", luaL_typename(h->L, v));
  s = lua_tolstring(h->L, v, len);
  if (!utf8_valid(s, *len)) hp_valfail(h, "is a string that is not valid UTF-8");
  return s;
}

/* A text for MATCH's relevance (MariaDB): as filter.c sends $contains, with
 * '*' (truncation to InnoDB) made a space. */
static void add_words(hparm *h, const char *s, size_t len) {
  if (h->words->len) sb_addc(h->words, ' ');
  for (size_t i = 0; i < len; i++) sb_addc(h->words, s[i] == '*' ? ' ' : s[i]);
}

/* {"query_string": {"fields": ["document"], "query": <the string at v>}} */
static void add_query_string(hparm *h, cJSON *list, int v) {
  cJSON *qs = add_object(h, add_object(h, list, NULL), "query_string");
  add_item(h, add_array(h, qs, "fields"), NULL, cJSON_CreateString("document"));
  add_value(h, qs, "query", v);
}

/* 1 when the list at v holds only {$contains = <string>} tables: pyseekdb's
 * form, sent as one query_string. */
static int only_contains(lua_State *L, int v, lua_Integer n) {
  int top = lua_gettop(L), ok = 1;
  for (lua_Integer i = 1; ok && i <= n; i++) {
    lua_rawgeti(L, v, i);
    lua_pushnil(L);
    ok = lua_type(L, -2) == LUA_TTABLE && lua_next(L, -2);
    if (ok) { /* item, key, value */
      ok = lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "$contains") == 0 &&
           lua_type(L, -1) == LUA_TSTRING;
      lua_pop(L, 1);
      if (ok && lua_next(L, -2)) ok = 0; /* a second key */
    }
    lua_settop(L, top);
  }
  return ok;
}

static void doc_node(hparm *h, int idx, cJSON *list, int depth);

static void doc_key(hparm *h, const char *k, int v, cJSON *list, int depth) {
  lua_State *L = h->L;
  size_t len;
  if (strcmp(k, "$contains") == 0) {
    const char *s = doc_string(h, v, &len);
    add_words(h, s, len);
    add_query_string(h, list, v);
  } else if (strcmp(k, "$not_contains") == 0) {
    doc_string(h, v, &len);
    add_query_string(h, add_bool(h, list, NULL, "must_not"), v);
  } else if (strcmp(k, "$and") == 0 || strcmp(k, "$or") == 0) {
    int is_and = k[2] == 'n';
    lua_Integer n = check_list(h, v, 0);
    int top = lua_gettop(L);
    if (only_contains(L, v, n)) { /* one query_string: "a b" or "a OR b" */
      lua_pushliteral(L, "");
      for (lua_Integer i = 1; i <= n; i++) {
        size_t mark = path_push(h, NULL, i);
        const char *s;
        path_push(h, "$contains", 0);
        lua_rawgeti(L, v, i);
        lua_getfield(L, -1, "$contains");
        lua_remove(L, -2);
        s = doc_string(h, lua_gettop(L), &len);
        add_words(h, s, len);
        path_pop(h, mark);
        if (i > 1) {
          lua_pushstring(L, is_and ? " " : " OR ");
          lua_insert(L, -2);
          lua_concat(L, 3);
        } else lua_concat(L, 2);
      }
      add_query_string(h, list, lua_gettop(L));
      lua_settop(L, top);
      return;
    }
    lua_settop(L, top);
    {
      cJSON *clause = add_bool(h, list, NULL, is_and ? "must" : "should");
      for (lua_Integer i = 1; i <= n; i++) {
        size_t mark = path_push(h, NULL, i);
        lua_rawgeti(L, v, i);
        doc_node(h, lua_gettop(L), clause, depth + 1);
        lua_pop(L, 1);
        path_pop(h, mark);
      }
    }
  } else
    hp_argfail(h, "is an unknown operator (hybrid_search takes $contains, $not_contains, $and, $or)");
}

/* The where_document table at idx as one node appended to list: its only
 * key's, or {"bool": {"must": [...]}} of several. */
static void doc_node(hparm *h, int idx, cJSON *list, int depth) {
  lua_State *L = h->L;
  jkey *keys;
  long nk;
  int at = cJSON_GetArraySize(list);
  cJSON *must;
  if (depth > HP_MAX_DEPTH) hp_argfail(h, "is nested too deeply");
  if (lua_type(L, idx) != LUA_TTABLE) hp_argfail(h, "must be a table, got %s", luaL_typename(L, idx));
  nk = sorted_keys(h, idx, &keys);
  if (nk == 0) hp_argfail(h, "is empty");
  must = add_bool(h, list, NULL, "must");
  for (long i = 0; i < nk; i++) {
    size_t mark = path_push(h, keys[i].s, 0);
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, idx);
    doc_key(h, keys[i].s, lua_gettop(L), must, depth);
    lua_pop(L, 1);
    path_pop(h, mark);
  }
  unwrap_single(list, at, must);
  lua_pop(L, 1); /* keys */
}

/* ---- the parts ------------------------------------------------------------------ */

void hparm_query(hparm *h, int where_document, int where) {
  lua_State *L = h->L;
  int has_doc, has_where;
  cJSON *q, *b, *must, *filter;
  path_set(h, "query.where");
  if (!lua_isnil(L, where) && lua_type(L, where) != LUA_TTABLE)
    hp_argfail(h, "must be a table, got %s", luaL_typename(L, where));
  path_set(h, "query.where_document");
  if (!lua_isnil(L, where_document) && lua_type(L, where_document) != LUA_TTABLE)
    hp_argfail(h, "must be a table, got %s", luaL_typename(L, where_document));
  has_doc = !no_filter(L, where_document);
  has_where = !no_filter(L, where);
  if (!has_doc && !has_where)
    op_argerror(L, h->op, 1, "query needs where_document (a full-text search) or where (a metadata filter)");
  /* the general form, then pyseekdb's simpler ones */
  q = add_object(h, h->root, "query");
  b = add_object(h, q, "bool");
  must = add_array(h, b, "must");
  filter = add_array(h, b, "filter");
  if (has_doc) doc_node(h, where_document, must, 0);
  path_set(h, "query.where");
  if (has_where) where_conds(h, where, filter, 0);
  if (has_doc && cJSON_GetArraySize(filter) == 0) {
    cJSON_ReplaceItemInObjectCaseSensitive(h->root, "query", cJSON_DetachItemFromArray(must, 0));
  } else if (!has_doc && cJSON_GetArraySize(filter) == 1) {
    cJSON_ReplaceItemInObjectCaseSensitive(h->root, "query", cJSON_DetachItemFromArray(filter, 0));
  } else if (!has_doc) {
    cJSON_DeleteItemFromObjectCaseSensitive(b, "must");
  }
}

void hparm_knn_filter(hparm *h, int where) {
  lua_State *L = h->L;
  path_set(h, "knn.where");
  if (!lua_isnil(L, where) && lua_type(L, where) != LUA_TTABLE)
    hp_argfail(h, "must be a table, got %s", luaL_typename(L, where));
  if (!h->kfilter && !(h->kfilter = cJSON_CreateArray())) oom(h);
  if (!no_filter(L, where)) where_conds(h, where, h->kfilter, 0);
}

/* The shortest decimal text that reads back as the same float32. */
static void format_f32(char *buf, size_t size, float f) {
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, size, "%.*g", prec, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '.'; /* a locale's decimal comma */
}

void hparm_knn(hparm *h, const float *vecs, lua_Integer n, int dim, lua_Integer k) {
  cJSON *parent = h->root;
  const char *key = "knn";
  sbuf *text = &h->op->scratch;
  char num[32];
  if (n > 1) {
    parent = add_array(h, h->root, "knn");
    key = NULL;
  }
  for (lua_Integer q = 0; q < n; q++) {
    cJSON *knn = add_object(h, parent, key);
    add_item(h, knn, "field", cJSON_CreateString("embedding"));
    add_int(h, knn, "k", k);
    text->len = 0;
    sb_addc(text, '[');
    for (int i = 0; i < dim; i++) {
      if (i) sb_addc(text, ',');
      format_f32(num, sizeof num, vecs[q * dim + i]);
      sb_adds(text, num);
    }
    sb_addc(text, ']');
    sb_addc(text, '\0');
    add_item(h, knn, "query_vector", text->oom ? NULL : cJSON_CreateRaw(text->data));
    if (h->kfilter && cJSON_GetArraySize(h->kfilter) > 0)
      add_item(h, knn, "filter", cJSON_Duplicate(h->kfilter, 1));
  }
}

void hparm_rank(hparm *h, int rank, lua_Integer *window, lua_Integer *constant) {
  lua_State *L = h->L;
  jkey *keys;
  long nk;
  cJSON *rrf;
  *window = 60;
  *constant = 60;
  if (lua_isnil(L, rank)) return;
  path_set(h, "rank");
  if (lua_type(L, rank) != LUA_TTABLE) hp_argfail(h, "must be a table, got %s", luaL_typename(L, rank));
  nk = sorted_keys(h, rank, &keys);
  if (nk != 1 || strcmp(keys[0].s, "rrf") != 0)
    hp_argfail(h, "must be { rrf = { rank_window_size = n, rank_constant = n } } (rrf is the only method)");
  lua_pop(L, 1);
  lua_getfield(L, rank, "rrf");
  path_set(h, "rank.rrf");
  if (lua_type(L, -1) != LUA_TTABLE) hp_argfail(h, "must be a table, got %s", luaL_typename(L, -1));
  rrf = add_object(h, add_object(h, h->root, "rank"), "rrf");
  nk = sorted_keys(h, -1, &keys);
  for (long i = 0; i < nk; i++) {
    lua_Integer v;
    int isint, is_window = strcmp(keys[i].s, "rank_window_size") == 0;
    size_t mark = path_push(h, keys[i].s, 0);
    if (!is_window && strcmp(keys[i].s, "rank_constant") != 0)
      hp_argfail(h, "is not an rrf parameter (use rank_window_size, rank_constant)");
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, -3);
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < 1 || (is_window && v > HYBRID_WINDOW_MAX))
      hp_argfail(h, is_window ? "must be an integer from 1 to %d" : "must be a positive integer",
                 HYBRID_WINDOW_MAX);
    *(is_window ? window : constant) = v;
    add_int(h, rrf, keys[i].s, v);
    lua_pop(L, 1);
    path_pop(h, mark);
  }
  lua_pop(L, 2); /* keys, rrf */
}

void hparm_finish(hparm *h, lua_Integer size, int inc) {
  cJSON *source;
  add_int(h, h->root, "size", size);
  /* "rank" was added before "size" when given: pyseekdb's order is size, rank */
  if (cJSON_GetObjectItemCaseSensitive(h->root, "rank")) {
    cJSON *rank = cJSON_DetachItemFromObjectCaseSensitive(h->root, "rank");
    cJSON_AddItemToObject(h->root, "rank", rank);
  }
  source = add_array(h, h->root, "_source");
  add_item(h, source, NULL, cJSON_CreateString("_id"));
  if (inc & INC_DOC) add_item(h, source, NULL, cJSON_CreateString("document"));
  if (inc & INC_META) add_item(h, source, NULL, cJSON_CreateString("metadata"));
  if (inc & INC_EMB) add_item(h, source, NULL, cJSON_CreateString("embedding"));
}
