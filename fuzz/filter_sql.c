/* libFuzzer target: filter translation, metadata in INSERTs, identifier
 * validation and SQL escaping, through the module's own dry run
 * (core.sql, which builds the statements a method would send, without a
 * server).
 *
 * The input is decoded as JSON (json_push); when that gives a value, a Lua
 * driver running inside the fuzz state calls, for both dialects,
 *   core.sql(d, "get", "c$v1$t", 3, {where = value})
 *   core.sql(d, "get", "c$v1$t", 3, {where_document = value})
 *   core.sql(d, "get", "c$v1$t", 3, {where = value, where_document = value})
 *   core.sql(d, "get", "c$v1$t", 3, {ids = value})
 *   core.sql(d, "query", "c$v1$t", 3, "cosine", {query_embeddings = value})
 *   core.sql(d, "upsert", "c$v1$t", 2, {ids = "a", embeddings = {1, 2}, metadatas = value})
 *   core.sql(d, "hybrid_search", "c$v1$t", 3, "cosine", {...}) with the value
 *     as query.where, as query.where_document and where, as knn.where, as
 *     knn.query_embeddings, as rank, and (a string) as a $contains, a where
 *     value and a knn.where key
 * and, with the raw input (at most 100 bytes) as a name, whether or not it is
 * JSON,
 *   core.sql(d, "create_collection", name, 3, "cosine", 1)
 *   core.sql(d, "count", name)
 * all under pcall. Argument errors are expected; what is checked:
 *   - an error is a string and names the argument ("bad argument #1 to
 *     'get' (where..."); a raised error never comes from anywhere else;
 *   - every statement scans cleanly with MySQL's quoting rules: it does not
 *     end inside a literal, and outside literals there are only the module's
 *     own SQL words, numbers and punctuation (no comment, no ';', no piece of
 *     the input);
 *   - every literal is hex, X'..': no quoted '...' (or "...") string, whose
 *     meaning would depend on the session charset and sql_mode, is left. A
 *     text value is _utf8mb4 X'..'; the bare X'..' are ids and vectors;
 *   - get: one statement "SELECT _id,document,metadata FROM `c$v1$t`...
 *     LIMIT 100 OFFSET 0" whose literals (filter values and JSON paths) are
 *     all _utf8mb4 X'..' and hold valid UTF-8;
 *   - get with ids: one statement "... WHERE _id IN (X'..',...)" whose hex
 *     literals are the ids, in order (none for an empty list);
 *   - query: one statement per query vector (seekdb), or one UNION ALL of
 *     up to 100 of them (MariaDB), each vector's X'..' literals the
 *     little-endian float32 bytes of its numbers (computed here), so a value
 *     that is not a list of 3 finite float32-sized numbers (or a list of
 *     them) must have been refused;
 *   - upsert: START TRANSACTION, one INSERT, COMMIT; the metadata literal
 *     is _utf8mb4 X'..' whose bytes are exactly meta_encode of the item and
 *     read back as JSON;
 *   - hybrid_search, seekdb: SET @search_parm = _utf8mb4 X'..' (one literal)
 *     whose bytes are JSON that cJSON parses, whose keys are the search_parm's
 *     own words or field names that cannot end the '...' literal seekdb puts
 *     them in ((JSON_EXTRACT(metadata, '$.name')) or '$."..."' without quote,
 *     backslash or control character), size 10, _source of the default
 *     include, each query vector the float32 of its numbers; then exactly
 *     SELECT DBMS_HYBRID_SEARCH.GET_SQL(_utf8mb4 X'<table>', @search_parm) ...;
 *     MariaDB: one statement, a derived table per ranking joined by UNION
 *     ALL, each query vector's X'..' its float32 bytes (twice);
 *   - create_collection and count succeed exactly for the names (tables)
 *     that an independent check accepts, and put them in `...` unchanged;
 *   - sb_addquoted: exactly _utf8mb4 X'<hex of the input bytes>'. */
#include "common.h"
#include "../src/marshal.h"
#include "../src/seekdb.h"

int luaopen_seekdb_core(lua_State *L); /* src/core.c */

#define NAME_CAP 100

static const char driver[] =
  "local core, check = ...\n"
  "local T = 'c$v1$t'\n"
  "return function(value, has_value, name)\n"
  "  local item = value\n"
  "  if type(value) == 'table' and (type(value[1]) == 'table' or value[1] == core.null) then\n"
  "    item = value[1]\n"
  "  end\n"
  "  for _, d in ipairs{'seekdb', 'mariadb'} do\n"
  "    if has_value then\n"
  "      check('get', 'where', nil, pcall(core.sql, d, 'get', T, 3, {where = value}))\n"
  "      check('get', 'where_document', nil, pcall(core.sql, d, 'get', T, 3, {where_document = value}))\n"
  "      check('get', 'where', nil, pcall(core.sql, d, 'get', T, 3, {where = value, where_document = value}))\n"
  "      check('get', 'ids', value, pcall(core.sql, d, 'get', T, 3, {ids = value}))\n"
  "      check('query', 'query_embeddings', value,\n"
  "            pcall(core.sql, d, 'query', T, 3, 'cosine', {query_embeddings = value}))\n"
  "      check('upsert', 'metadatas', item,\n"
  "            pcall(core.sql, d, 'upsert', T, 2, {ids = 'a', embeddings = {1, 2}, metadatas = value}))\n"
  "      local function H(args) return pcall(core.sql, d, 'hybrid_search', T, 3, 'cosine', args) end\n"
  "      check('hybrid_search', 'query', nil, H{query = {where = value}})\n"
  "      check('hybrid_search', 'query', nil, H{query = {where_document = value, where = value}, n_results = 3})\n"
  "      check('hybrid_search', 'knn', nil, H{query = {where_document = {['$contains'] = 'a*b'}},\n"
  "                                           knn = {query_embeddings = {1, 2, 3}, where = value}})\n"
  "      check('hybrid_search', 'knn.query_embeddings', value, H{knn = {query_embeddings = value, n_results = 4}})\n"
  "      check('hybrid_search', 'rank', nil, H{query = {where = {k = 1}}, rank = value})\n"
  "      if type(value) == 'string' then\n"
  "        check('hybrid_search', 'query', nil, H{query = {where_document = {['$contains'] = value}, where = {k = value}},\n"
  "                                           knn = {query_embeddings = {{1, 2, 3}, {4, 5, 6}}, where = {[value] = value}}})\n"
  "      end\n"
  "    end\n"
  "    check('create_collection', name, nil, pcall(core.sql, d, 'create_collection', name, 3, 'cosine', 1))\n"
  "    check('count', name, nil, pcall(core.sql, d, 'count', name))\n"
  "  end\n"
  "end\n";

/* ---- independent identifier rules --------------------------------------------- */

static int name_ok(const char *s, size_t n) {
  if (n < 1 || n > 59) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return 1;
}

static int table_ok(const char *s, size_t n) {
  if (n > 5 && memcmp(s, "c$v1$", 5) == 0) return name_ok(s + 5, n - 5);
  if (n == 37 && memcmp(s, "c$v2$", 5) == 0) {
    for (size_t i = 5; i < n; i++)
      if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
  }
  return 0;
}

static int starts(const char *s, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

static int ends(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int utf8_ok(const char *str, size_t n) {
  static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i], cp;
    size_t k;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; }
    else return 0;
    if (n - i < k + 1) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += k + 1;
  }
  return 1;
}

/* ---- literals ------------------------------------------------------------------ */

#define INTRO "_utf8mb4 "
#define INTRO_LEN (sizeof INTRO - 1)
#define LITS_KEPT 256
typedef struct lits {
  lua_State *L;
  const char *stmt;   /* the statement scanned */
  int count;          /* literals ('...' and X'..') */
  int text;           /* of which text values: _utf8mb4 X'..' */
  const char *last;   /* the last one's hex digits */
  size_t last_len;
  int last_text;      /* the last one is a text value */
  const char *at[LITS_KEPT]; /* the first ones */
  size_t len[LITS_KEPT];
  int all_text;       /* every literal must be a text value (a get without ids) */
} lits_t;

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The bytes of the hex digits s[0..n) (checked to be hex, an even number)
 * pushed as a Lua string. */
static const char *push_unhex(lua_State *L, const char *s, size_t n, size_t *len) {
  luaL_Buffer b;
  if (n % 2) fz_fail("a X'..' literal has an odd number of hex digits");
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0) fz_fail("a X'..' literal has a non-hex digit");
    luaL_addchar(&b, (char)(hi << 4 | lo));
  }
  luaL_pushresult(&b);
  return lua_tolstring(L, -1, len);
}

/* Every literal must be X'..' (kind '\'' right after an X): a '...' string
 * would be read through the session charset and sql_mode, which is what a
 * GBK or SJIS session turns into an injection. */
static void on_literal(char kind, const char *s, size_t n, void *ud) {
  lits_t *l = ud;
  size_t off = (size_t)(s - l->stmt);
  int text;
  if (kind == '`') return; /* identifiers */
  if (kind != '\'' || off < 2 || (s[-2] != 'X' && s[-2] != 'x')) {
    fz_dump("literal", s, n);
    fz_fail("a quoted %c...%c string literal is left: every value must be X'..'", kind, kind);
  }
  text = off >= 2 + INTRO_LEN && memcmp(s - 2 - INTRO_LEN, INTRO, INTRO_LEN) == 0;
  if (l->count < LITS_KEPT) l->at[l->count] = s, l->len[l->count] = n;
  l->count++;
  l->text += text;
  l->last = s;
  l->last_len = n;
  l->last_text = text;
  if (l->all_text && !text) {
    fz_dump("literal", s, n);
    fz_fail("a literal of a get statement without ids is not a _utf8mb4 X'..' text value");
  }
  if (text) { /* the server reads it as utf8mb4: it must be UTF-8 */
    size_t len;
    const char *u = push_unhex(l->L, s, n, &len);
    if (!utf8_ok(u, len)) {
      fz_dump("literal", u, len);
      fz_fail("a _utf8mb4 X'..' literal is not valid UTF-8");
    }
    lua_pop(l->L, 1);
  } else { /* an id or a vector: any bytes; only the digits are checked */
    size_t len;
    push_unhex(l->L, s, n, &len);
    lua_pop(l->L, 1);
  }
}

/* ---- the checks ----------------------------------------------------------------- */

static void check_statement(lua_State *L, const char *method, lua_Integer i, lits_t *lits, int all_text) {
  size_t n;
  const char *s;
  char what[64];
  if (lua_type(L, -1) != LUA_TSTRING) fz_fail("%s: statement %lld is not a string", method, (long long)i);
  s = lua_tolstring(L, -1, &n);
  snprintf(what, sizeof what, "%s statement %lld", method, (long long)i);
  memset(lits, 0, sizeof *lits);
  lits->L = L;
  lits->stmt = s;
  lits->all_text = all_text;
  fz_check_sql(what, s, n, on_literal, lits);
}

static void check_get(lua_State *L, int stmts) {
  lits_t lits;
  size_t n;
  const char *s;
  if (lua_rawlen(L, stmts) != 1) fz_fail("get: %d statements, expected 1", (int)lua_rawlen(L, stmts));
  lua_rawgeti(L, stmts, 1);
  check_statement(L, "get", 1, &lits, 1);
  s = lua_tolstring(L, -1, &n);
  if (!starts(s, n, "SELECT _id,document,metadata FROM `c$v1$t`") || !ends(s, n, " LIMIT 100 OFFSET 0")) {
    fz_dump("statement", s, n);
    fz_fail("get: the statement does not have the shape SELECT _id ... FROM `c$v1$t` ... LIMIT 100 OFFSET 0");
  }
  lua_pop(L, 1);
}

static void check_upsert(lua_State *L, int stmts, int item) {
  static const char head[] = "INSERT INTO `c$v1$t` (_id,embedding,metadata) VALUES (X'61',X'0000803f00000040',";
  static const char tail[] = ") ON DUPLICATE KEY UPDATE embedding=VALUES(embedding),metadata=VALUES(metadata)";
  lits_t lits;
  size_t n;
  const char *s;
  if (lua_rawlen(L, stmts) != 3) fz_fail("upsert: %d statements, expected 3", (int)lua_rawlen(L, stmts));
  for (lua_Integer i = 1; i <= 3; i++) {
    lua_rawgeti(L, stmts, i);
    check_statement(L, "upsert", i, &lits, 0);
    s = lua_tolstring(L, -1, &n);
    if ((i == 1 && strcmp(s, "START TRANSACTION") != 0) || (i == 3 && strcmp(s, "COMMIT") != 0))
      fz_fail("upsert: statement %lld is '%s'", (long long)i, s);
    if (i == 2) {
      if (!starts(s, n, head) || !ends(s, n, tail)) {
        fz_dump("statement", s, n);
        fz_fail("upsert: the INSERT does not have the expected shape");
      }
      if (lits.text != (lits.count == 3) || (lits.count == 3 && !lits.last_text))
        fz_fail("upsert: %d text literals among %d; only the metadata is text", lits.text, lits.count);
      if (lits.count == 2) { /* metadata NULL */
        if (!ends(s, n, ",NULL) ON DUPLICATE KEY UPDATE embedding=VALUES(embedding),metadata=VALUES(metadata)") ||
            !isnull(L, item))
          fz_fail("upsert: metadata is neither a literal nor NULL for seekdb.null");
      } else if (lits.count == 3) {
        size_t len;
        const char *json;
        jenc j;
        sbuf want = SBUF_INIT;
        int v;
        /* the literal is the last thing before the tail */
        if (lits.last + lits.last_len + 1 != s + n - (sizeof tail - 1))
          fz_fail("upsert: the metadata literal is not where it belongs");
        json = push_unhex(L, lits.last, lits.last_len, &len);
        /* what the module encodes for the item is the literal's bytes */
        memset(&j, 0, sizeof j);
        if (lua_type(L, item) != LUA_TTABLE || !meta_encode(L, item, &j, &want)) {
          sb_free(&want);
          fz_fail("upsert wrote metadata for an item that meta_encode refuses");
        }
        if (want.len != len || memcmp(want.data, json, len) != 0) {
          fz_dump("literal  ", json, len);
          fz_dump("meta_encode", want.data, want.len);
          sb_free(&want);
          fz_fail("upsert: the metadata literal's bytes are not the JSON text");
        }
        sb_free(&want);
        v = lua_gettop(L);
        if (!json_push(L, json, len) || lua_type(L, -1) != LUA_TTABLE) {
          fz_dump("literal", json, len);
          fz_fail("upsert: the metadata literal is not a JSON object");
        }
        lua_settop(L, v - 1);
      } else
        fz_fail("upsert: the INSERT has %d literals", lits.count);
    }
    lua_pop(L, 1);
  }
}

static void hex_of(char *out, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
}

/* get{ids = value}: the ids are the value (a string) or its items 1..#value. */
static void check_get_ids(lua_State *L, int stmts, int value) {
  static const char head[] = "SELECT _id,document,metadata FROM `c$v1$t` WHERE _id IN (";
  lua_Integer n = lua_type(L, value) == LUA_TSTRING ? 1 : (lua_Integer)lua_rawlen(L, value);
  lits_t lits;
  size_t len, pos;
  const char *s;
  if ((lua_Integer)lua_rawlen(L, stmts) != (n > 0)) fz_fail("get ids: %d statements for %lld ids", (int)lua_rawlen(L, stmts), (long long)n);
  if (n == 0) return;
  lua_rawgeti(L, stmts, 1);
  check_statement(L, "get", 1, &lits, 0);
  s = lua_tolstring(L, -1, &len);
  if (lits.text) fz_fail("get ids: an id is written as text, not as X'..' bytes");
  if (!starts(s, len, head) || !ends(s, len, ")")) {
    fz_dump("statement", s, len);
    fz_fail("get ids: the statement does not have the shape SELECT ... WHERE _id IN (...)");
  }
  if (lits.count != n) fz_fail("get ids: %d literals for %lld ids", lits.count, (long long)n);
  pos = sizeof head - 1;
  for (lua_Integer i = 1; i <= n; i++) {
    size_t idlen;
    const char *id;
    char *hex;
    if (lua_type(L, value) == LUA_TSTRING) lua_pushvalue(L, value);
    else lua_rawgeti(L, value, i);
    if (lua_type(L, -1) != LUA_TSTRING) fz_fail("get accepted ids[%lld] that is a %s", (long long)i, luaL_typename(L, -1));
    id = lua_tolstring(L, -1, &idlen);
    /* X'<hex>' then ',' or ')' */
    if (pos + 2 * idlen + 3 >= len || s[pos] != 'X' || s[pos + 1] != '\'') fz_fail("get ids: id %lld is not X'..'", (long long)i);
    hex = malloc(2 * idlen + 1);
    if (!hex) abort();
    hex_of(hex, id, idlen);
    if (memcmp(s + pos + 2, hex, 2 * idlen) != 0 || s[pos + 2 + 2 * idlen] != '\'' ||
        s[pos + 3 + 2 * idlen] != (i < n ? ',' : ')'))
      fz_fail("get ids: id %lld is not written as its hex", (long long)i);
    free(hex);
    pos += 2 * idlen + 4;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The float32 bytes of the query vector at idx, as the module must pack it:
 * fails (the call should have been refused) if it is not 3 numbers. */
static void expect_vector(lua_State *L, int idx, lua_Integer q, char hex[25]) {
  unsigned char bytes[12];
  lua_Integer k = 0;
  if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != 3)
    fz_fail("query accepted query vector %lld that is not a list of 3 items", (long long)q);
  for (lua_Integer i = 1; i <= 3; i++) {
    float f;
    double x;
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TNUMBER) fz_fail("query accepted a %s in vector %lld", luaL_typename(L, -1), (long long)q);
    x = lua_tonumber(L, -1);
    if (!(x >= -3.4028234663852886e38 && x <= 3.4028234663852886e38))
      fz_fail("query accepted %g, which no float32 holds", x);
    f = (float)x;
    memcpy(bytes + 4 * (i - 1), &f, 4); /* little-endian hosts only, like the module */
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) k++, lua_pop(L, 1);
  if (k != 3) fz_fail("query accepted query vector %lld with keys besides 1..3", (long long)q);
  hex_of(hex, bytes, 12);
  hex[24] = '\0';
}

/* One query statement: seekdb's (or MariaDB's for a single vector), or
 * MariaDB's UNION ALL of the vectors first..last (1-based), each vector's
 * float32 bytes twice. */
static void check_query(lua_State *L, int stmts, int value) {
  lua_Integer n, q, first = 1, nst, i;
  int single;
  if (lua_type(L, value) != LUA_TTABLE) fz_fail("query accepted query_embeddings that is a %s", luaL_typename(L, value));
  lua_rawgeti(L, value, 1);
  single = lua_type(L, -1) == LUA_TNUMBER;
  lua_pop(L, 1);
  n = single ? 1 : (lua_Integer)lua_rawlen(L, value);
  nst = (lua_Integer)lua_rawlen(L, stmts);
  if (nst != n && nst != (n + 99) / 100)
    fz_fail("query: %d statements for %lld vectors", (int)nst, (long long)n);
  for (i = 1; i <= nst; i++) {
    lits_t lits;
    size_t len;
    const char *s;
    int multi;
    lua_Integer last;
    lua_rawgeti(L, stmts, i);
    check_statement(L, "query", i, &lits, 0);
    s = lua_tolstring(L, -1, &len);
    multi = starts(s, len, "SELECT * FROM (SELECT _id,document,metadata,");
    last = multi ? (first + 99 < n ? first + 99 : n) : first;
    if (multi ? !ends(s, len, " ORDER BY _q, distance")
              : !starts(s, len, "SELECT _id,document,metadata,") || !ends(s, len, " LIMIT 10")) {
      fz_dump("statement", s, len);
      fz_fail("query: the statement does not have the shape SELECT _id,... LIMIT 10 or a UNION ALL of them");
    }
    if (lits.count != 2 * (last - first + 1))
      fz_fail("query: %d literals, expected each of %lld vectors twice", lits.count, (long long)(last - first + 1));
    for (q = first; q <= last; q++) {
      char hex[25];
      if (single) lua_pushvalue(L, value);
      else lua_rawgeti(L, value, q);
      expect_vector(L, lua_gettop(L), q, hex);
      lua_pop(L, 1);
      for (int k = (int)(2 * (q - first)); k < 2 * (q - first) + 2; k++)
        if (k < LITS_KEPT && (lits.len[k] != 24 || memcmp(lits.at[k], hex, 24) != 0 || lits.at[k][-2] != 'X')) {
          fz_dump("literal", lits.at[k], lits.len[k]);
          fz_dump("expected", hex, 24);
          fz_fail("query: vector %lld is not packed as its float32 bytes", (long long)q);
        }
    }
    lua_pop(L, 1);
    first = last + 1;
  }
  if (first != n + 1) fz_fail("query: the statements hold %lld of %lld vectors", (long long)(first - 1), (long long)n);
}

/* ---- hybrid_search -------------------------------------------------------------- */

static const char *const parm_words[] = {
  "query", "knn", "size", "rank", "_source", "query_string", "fields", "bool", "must", "should", "must_not",
  "filter", "term", "terms", "range", "gt", "gte", "lt", "lte", "field", "k", "query_vector", "rrf",
  "rank_window_size", "rank_constant", NULL};

/* A field name of the search_parm. seekdb writes it into the SQL it makes,
 * as it is, with the member inside a '...' literal: only a plain name, or a
 * "..." member without a quote, a backslash or a control character, is safe
 * there. */
static int field_name_ok(const char *k, size_t n) {
  static const char head[] = "(JSON_EXTRACT(metadata, '$.", tail[] = "'))";
  size_t h = sizeof head - 1, t = sizeof tail - 1, m;
  const char *p;
  if (n <= h + t || memcmp(k, head, h) != 0 || memcmp(k + n - t, tail, t) != 0) return 0;
  p = k + h;
  m = n - h - t;
  if (p[0] == '"') {
    if (m < 3 || p[m - 1] != '"') return 0;
    for (size_t i = 1; i + 1 < m; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c == '\'' || c == '"' || c == '\\' || c < 0x20) return 0;
    }
    return 1;
  }
  if (!(isalpha((unsigned char)p[0]) || p[0] == '_')) return 0;
  for (size_t i = 0; i < m; i++)
    if (!(isalnum((unsigned char)p[i]) || p[i] == '_')) return 0;
  return 1;
}

static void walk_parm(cJSON *node) {
  for (cJSON *c = node->child; c; c = c->next) {
    if (cJSON_IsObject(node)) {
      const char *k = c->string;
      int w;
      for (w = 0; parm_words[w] && strcmp(parm_words[w], k) != 0; w++) {}
      if (!parm_words[w] && !field_name_ok(k, strlen(k))) {
        fz_dump("key", k, strlen(k));
        fz_fail("hybrid_search: a search_parm key is neither its own word nor a field name safe in seekdb's SQL");
      }
    }
    walk_parm(c);
  }
}

/* The query vectors of an accepted knn.query_embeddings: their float32 bytes
 * as hex (each checked to be 3 numbers), into hex[q] (at most 4 kept). */
static lua_Integer hybrid_vectors(lua_State *L, int value, char hex[4][25], float f[4][3]) {
  lua_Integer n, q;
  int single;
  if (lua_type(L, value) != LUA_TTABLE) fz_fail("hybrid_search accepted query_embeddings that is a %s", luaL_typename(L, value));
  lua_rawgeti(L, value, 1);
  single = lua_type(L, -1) == LUA_TNUMBER;
  lua_pop(L, 1);
  n = single ? 1 : (lua_Integer)lua_rawlen(L, value);
  for (q = 1; q <= n; q++) {
    char h[25];
    if (single) lua_pushvalue(L, value);
    else lua_rawgeti(L, value, q);
    expect_vector(L, lua_gettop(L), q, h);
    if (q <= 4) {
      memcpy(hex[q - 1], h, 25);
      for (int i = 0; i < 3; i++) {
        lua_rawgeti(L, -1, i + 1);
        f[q - 1][i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  return n;
}

static int count_of(const char *s, size_t n, const char *what) {
  int c = 0;
  size_t k = strlen(what);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(s + i, what, k) == 0) c++;
  return c;
}

static void check_hybrid(lua_State *L, int stmts, int value, const char *subject) {
  static const char set[] = "SET @search_parm = " INTRO "X'";
  int vectors = strcmp(subject, "knn.query_embeddings") == 0;
  char hex[4][25];
  float f[4][3];
  lua_Integer nvec = vectors ? hybrid_vectors(L, value, hex, f) : 0;
  lits_t lits;
  size_t n;
  const char *s;
  if (lua_rawlen(L, stmts) < 1) fz_fail("hybrid_search: no statement");
  lua_rawgeti(L, stmts, 1);
  check_statement(L, "hybrid_search", 1, &lits, 0);
  s = lua_tolstring(L, -1, &n);
  if (starts(s, n, "SET ")) { /* seekdb */
    size_t len;
    const char *json, *at;
    cJSON *root, *item;
    char *text;
    char want[128];
    if (lua_rawlen(L, stmts) != 2) fz_fail("hybrid_search (seekdb): %d statements, expected 2", (int)lua_rawlen(L, stmts));
    if (!starts(s, n, set) || lits.count != 1 || !lits.last_text || lits.last != s + sizeof set - 1 ||
        lits.last + lits.last_len + 1 != s + n) {
      fz_dump("statement", s, n);
      fz_fail("hybrid_search (seekdb): not SET @search_parm = _utf8mb4 X'..'");
    }
    json = push_unhex(L, lits.last, lits.last_len, &len);
    if (!(root = cJSON_ParseWithLength(json, len)) || !cJSON_IsObject(root)) {
      fz_dump("search_parm", json, len);
      fz_fail("hybrid_search (seekdb): the search_parm is not a JSON object");
    }
    walk_parm(root);
    item = cJSON_GetObjectItemCaseSensitive(root, "size");
    if (!cJSON_IsNumber(item) || item->valuedouble != 10) fz_fail("hybrid_search (seekdb): size is not 10");
    text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "_source"));
    if (!text || strcmp(text, "[\"_id\",\"document\",\"metadata\"]") != 0)
      fz_fail("hybrid_search (seekdb): _source is %s", text ? text : "missing");
    cJSON_free(text);
    cJSON_Delete(root);
    /* each query vector, as the text seekdb reads: the same float32 */
    at = json;
    for (lua_Integer q = 1; q <= nvec && q <= 4; q++) {
      char *end;
      at = strstr(at, "\"query_vector\":[");
      if (!at) fz_fail("hybrid_search (seekdb): no query_vector for vector %lld", (long long)q);
      at += 16;
      for (int i = 0; i < 3; i++) {
        float x = strtof(at, &end);
        if (end == at || memcmp(&x, &f[q - 1][i], sizeof x) != 0 || *end != (i < 2 ? ',' : ']')) {
          fz_dump("query_vector", at, strlen(at) < 80 ? strlen(at) : 80);
          fz_fail("hybrid_search (seekdb): vector %lld item %d is not its float32", (long long)q, i + 1);
        }
        at = end + 1;
      }
    }
    lua_pop(L, 2); /* the JSON, the statement */
    lua_rawgeti(L, stmts, 2);
    check_statement(L, "hybrid_search", 2, &lits, 0);
    s = lua_tolstring(L, -1, &n);
    snprintf(want, sizeof want, "SELECT DBMS_HYBRID_SEARCH.GET_SQL(" INTRO "X'%s', @search_parm) AS query_sql FROM dual",
             "632476312474"); /* c$v1$t */
    if (n != strlen(want) || memcmp(s, want, n) != 0) {
      fz_dump("statement", s, n);
      fz_fail("hybrid_search (seekdb): the second statement is not GET_SQL of the table");
    }
  } else { /* MariaDB: the rankings, in one statement */
    int parts = count_of(s, n, "SELECT * FROM (SELECT ");
    if (lua_rawlen(L, stmts) != 1) fz_fail("hybrid_search (MariaDB): %d statements, expected 1", (int)lua_rawlen(L, stmts));
    if (!starts(s, n, "SELECT * FROM (SELECT ") || !ends(s, n, ") AS ranked") ||
        count_of(s, n, " UNION ALL ") != parts - 1 || count_of(s, n, ") AS ranked") != parts) {
      fz_dump("statement", s, n);
      fz_fail("hybrid_search (MariaDB): not a UNION ALL of derived tables");
    }
    if (vectors) {
      if (parts != nvec) fz_fail("hybrid_search (MariaDB): %d rankings for %lld vectors", parts, (long long)nvec);
      for (int k = 0; k < lits.count && k < LITS_KEPT; k++)
        if (lits.len[k] != 24 || memcmp(lits.at[k], hex[k / 2], 24) != 0 || lits.at[k][-2] != 'X') {
          fz_dump("literal", lits.at[k], lits.len[k]);
          fz_fail("hybrid_search (MariaDB): vector %d is not packed as its float32 bytes", k / 2 + 1);
        }
    }
  }
  lua_pop(L, 1);
}

/* FUZZ_DEBUG=1 in the environment: print what each call gave (for replaying
 * one input by hand). */
static void debug_print(lua_State *L) {
  static int on = -1;
  if (on < 0) on = getenv("FUZZ_DEBUG") != NULL;
  if (!on) return;
  fprintf(stderr, "-- %s: ", lua_tostring(L, 1));
  if (!lua_toboolean(L, 4)) fprintf(stderr, "raised %s\n", lua_tostring(L, 5));
  else if (lua_isnil(L, 5)) fprintf(stderr, "nil, %s\n", lua_tostring(L, 6));
  else if (lua_istable(L, 5)) {
    fputc('\n', stderr);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, 5); i++) {
      size_t n;
      const char *s;
      lua_rawgeti(L, 5, i);
      s = lua_tolstring(L, -1, &n);
      fz_dump("  ", s ? s : "?", s ? n : 1);
      lua_pop(L, 1);
    }
  } else fprintf(stderr, "%s\n", luaL_typename(L, 5));
}

/* check(method, subject, item, pcall's results...) */
static int l_check(lua_State *L) {
  const char *method = luaL_checkstring(L, 1);
  size_t sublen;
  const char *subject = lua_tolstring(L, 2, &sublen);
  int ok = lua_toboolean(L, 4), is_name = strcmp(method, "create_collection") == 0,
      is_table = strcmp(method, "count") == 0;
  int valid = is_name ? name_ok(subject, sublen) : is_table ? table_ok(subject, sublen) : 1;
  debug_print(L);
  if (strcmp(method, "hybrid_search") == 0) {
    /* misuse names its part (query, knn or rank); a bad value too */
    static const char head[] = "bad argument #1 to 'hybrid_search' (";
    size_t mlen;
    const char *msg = lua_type(L, 5) == LUA_TSTRING ? lua_tolstring(L, 5, &mlen) : NULL;
    if (!ok || lua_isnil(L, 5)) {
      const char *part;
      if (ok) msg = lua_type(L, 6) == LUA_TSTRING ? lua_tolstring(L, 6, &mlen) : NULL;
      if (!msg) fz_fail("hybrid_search failed without a message");
      part = ok ? msg : starts(msg, mlen, head) ? msg + sizeof head - 1 : NULL;
      if (!part || !(strncmp(part, "query", 5) == 0 || strncmp(part, "knn", 3) == 0 || strncmp(part, "rank", 4) == 0)) {
        fz_dump("message", msg, mlen);
        fz_fail("hybrid_search %s an error that does not name query, knn or rank", ok ? "returned" : "raised");
      }
      return 0;
    }
    if (lua_type(L, 5) != LUA_TTABLE) fz_fail("hybrid_search returned a %s", luaL_typename(L, 5));
    check_hybrid(L, 5, 3, subject);
    return 0;
  }
  if (!ok) {
    const char *msg;
    char want[96];
    size_t mlen;
    if (lua_type(L, 5) != LUA_TSTRING) fz_fail("%s raised a %s, not a message", method, luaL_typename(L, 5));
    msg = lua_tolstring(L, 5, &mlen);
    if (is_name) fz_fail("create_collection raised: %s", msg);
    if (is_table) {
      if (valid) fz_fail("count refused the valid table name: %s", msg);
      snprintf(want, sizeof want, "bad argument #1 to 'count' (not a collection's table");
    } else
      snprintf(want, sizeof want, "bad argument #1 to '%s' (%s", method, subject);
    if (!starts(msg, mlen, want)) {
      fz_dump("message", msg, mlen);
      fz_fail("%s raised an error that does not start with \"%s\"", method, want);
    }
    return 0;
  }
  if (lua_isnil(L, 5)) { /* op_fail: nil, message */
    if (lua_type(L, 6) != LUA_TSTRING) fz_fail("%s returned nil without a message", method);
    /* a filter value that is not UTF-8 or not finite is a bad value: nil, err naming it */
    if (is_table || (strcmp(method, "get") == 0 &&
                     !(starts(lua_tostring(L, 6), lua_rawlen(L, 6), "where") &&
                       (strstr(lua_tostring(L, 6), "is a string that is not valid UTF-8") ||
                        strstr(lua_tostring(L, 6), "is NaN or infinite")))))
      fz_fail("%s failed: %s", method, lua_tostring(L, 6));
    if (is_name && valid) fz_fail("create_collection refused a valid name: %s", lua_tostring(L, 6));
    if (is_name && !starts(lua_tostring(L, 6), lua_rawlen(L, 6), "invalid collection name"))
      fz_fail("create_collection: unexpected failure %s", lua_tostring(L, 6));
    if (!is_name && !starts(lua_tostring(L, 6), lua_rawlen(L, 6), subject))
      fz_fail("%s failed with a message that does not name %s: %s", method, subject, lua_tostring(L, 6));
    return 0;
  }
  if (lua_type(L, 5) != LUA_TTABLE) fz_fail("%s returned a %s", method, luaL_typename(L, 5));
  if (!valid) fz_fail("%s accepted an invalid %s", method, is_name ? "collection name" : "table name");
  if (strcmp(method, "get") == 0 && strcmp(subject, "ids") == 0) check_get_ids(L, 5, 3);
  else if (strcmp(method, "get") == 0) check_get(L, 5);
  else if (strcmp(method, "query") == 0) check_query(L, 5, 3);
  else if (strcmp(method, "upsert") == 0) check_upsert(L, 5, 3);
  else {
    lits_t lits;
    char want[128];
    size_t n;
    const char *s;
    if (lua_rawlen(L, 5) != 1) fz_fail("%s: %d statements", method, (int)lua_rawlen(L, 5));
    lua_rawgeti(L, 5, 1);
    check_statement(L, method, 1, &lits, 0);
    if (lits.count) fz_fail("%s: the statement has %d literals, expected none", method, lits.count);
    s = lua_tolstring(L, -1, &n);
    if (is_name) snprintf(want, sizeof want, "CREATE TABLE `c$v1$%s` (", subject);
    else snprintf(want, sizeof want, "SELECT COUNT(*) FROM `%s`", subject);
    if (!starts(s, n, want) || (is_table && n != strlen(want))) {
      fz_dump("statement", s, n);
      fz_fail("%s: the statement does not start with %s", method, want);
    }
  }
  return 0;
}

static void count_literal(char kind, const char *s, size_t n, void *ud) {
  (void)kind, (void)s, (void)n;
  ++*(int *)ud;
}

/* sb_addquoted: _utf8mb4 X'<hex of exactly the input bytes>' (hex needs no
 * escaping in any sql_mode or charset). */
static void check_quoting(lua_State *L, const char *s, size_t n) {
  sbuf b[1] = {SBUF_INIT};
  int count = 0;
  size_t len;
  const char *back;
  sb_addquoted(&b[0], s, n);
  if (b[0].oom) abort();
  if (b[0].len != INTRO_LEN + 3 + 2 * n || memcmp(b[0].data, INTRO "X'", INTRO_LEN + 2) != 0) {
    fz_dump("literal", b[0].data, b[0].len);
    fz_fail("sb_addquoted did not write _utf8mb4 X'<2n hex digits>'");
  }
  /* the input need not be UTF-8 here (the module checks values before it
   * quotes them): the scan, the digits and the bytes they stand for */
  fz_check_sql("sb_addquoted", b[0].data, b[0].len, count_literal, &count);
  if (count != 1 || b[0].data[b[0].len - 1] != '\'') fz_fail("sb_addquoted did not write one literal");
  back = push_unhex(L, b[0].data + INTRO_LEN + 2, 2 * n, &len);
  if (len != n || memcmp(back, s, n) != 0) fz_fail("sb_addquoted: the hex is not the input bytes");
  lua_pop(L, 1);
  sb_free(&b[0]);
}

typedef struct {
  const uint8_t *data;
  size_t size;
} input_t;

static int run(lua_State *L) {
  input_t *in = lua_touserdata(L, 1);
  size_t name_len = in->size < NAME_CAP ? in->size : NAME_CAP;
  int has_value;
  luaL_requiref(L, "seekdb.core", luaopen_seekdb_core, 0); /* core */
  if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=driver") != LUA_OK) lua_error(L);
  lua_pushvalue(L, -2);
  lua_pushcfunction(L, l_check);
  lua_call(L, 2, 1); /* the driver's function */
  has_value = json_push(L, (const char *)in->data, in->size);
  if (!has_value) lua_pushnil(L);
  lua_pushboolean(L, has_value);
  lua_pushlstring(L, (const char *)in->data, name_len);
  lua_call(L, 3, 0);
  check_quoting(L, (const char *)in->data, in->size);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  lua_State *L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  fz_pcall(L, run, &in, 0);
  lua_close(L);
  return 0;
}
