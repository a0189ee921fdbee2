/* Metadata: Lua tables -> JSON text (built with cJSON), JSON text -> Lua.
 *
 * Encoding keeps what a Lua user would expect to survive a round trip:
 * integers are written as integers (all 64 bits: cJSON's own numbers are
 * doubles, so numbers go in as raw text), floats as the shortest text that
 * reads back to the same double and always with a '.', strings as given
 * (valid UTF-8 is required, NUL bytes are escaped), a sequence 1..n as an
 * array, any other table as an object with string keys, {} as {}. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "marshal.h"
#include "seekdb.h"

/* MariaDB's JSON_VALID refuses documents nested deeper than 32 */
#define JSON_MAX_DEPTH 32

/* ---- UTF-8 --------------------------------------------------------------- */

int utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  while (s < end) {
    unsigned c = *s;
    size_t n;
    unsigned cp, min;
    if (c < 0x80) { s++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)(end - s) <= n) return 0;
    for (size_t i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    s += n + 1;
  }
  return 1;
}

/* ---- encoding ------------------------------------------------------------ */

static int jfail(jenc *j, const char *why) {
  snprintf(j->err, sizeof j->err, "%.*s %s", (int)j->pathlen, j->path, why);
  j->misuse = 0;
  return 0;
}

/* A wrong type (a function, a table that is neither list nor object): misuse. */
static int jfail_type(jenc *j, const char *why) {
  jfail(j, why);
  j->misuse = 1;
  return 0;
}

/* The path is built for every key of every metadata table, error or not:
 * plain copies, no printf. */
static void path_add(jenc *j, const char *s, size_t n) {
  size_t room = sizeof j->path - 1 - j->pathlen;
  if (n > room) n = room;
  memcpy(j->path + j->pathlen, s, n);
  j->pathlen += n;
  j->path[j->pathlen] = '\0';
}

static void path_push_key(jenc *j, const char *k, size_t len) {
  int ident = len > 0 && len < 40 && (isalpha((unsigned char)k[0]) || k[0] == '_');
  for (size_t i = 0; ident && i < len; i++)
    ident = isalnum((unsigned char)k[i]) || k[i] == '_';
  if (ident) {
    path_add(j, ".", 1);
    path_add(j, k, len);
  } else { /* at most 40 bytes, and not past a NUL: the path is C text */
    const char *nul;
    if (len > 40) len = 40;
    if ((nul = memchr(k, '\0', len)) != NULL) len = (size_t)(nul - k);
    path_add(j, "[\"", 2);
    path_add(j, k, len);
    path_add(j, "\"]", 2);
  }
}

static void path_push_index(jenc *j, lua_Integer i) {
  char tmp[24];
  size_t n = 1;
  tmp[0] = '[';
  n += u64_digits(tmp + 1, (unsigned long long)i); /* list indexes are positive */
  tmp[n++] = ']';
  path_add(j, tmp, n);
}

static void format_float(char *buf, size_t size, double x) {
  int prec;
  char *comma;
  for (prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  if ((comma = strchr(buf, ',')) != NULL) *comma = '.'; /* a locale's decimal comma */
  if (!strpbrk(buf, ".eE")) strcat(buf, ".0");        /* stays a float when read back */
}

/* A string with NUL bytes, which cJSON's C strings cannot carry: escape it ourselves. */
static cJSON *raw_string(const char *s, size_t len) {
  sbuf b = SBUF_INIT;
  cJSON *item;
  sb_addc(&b, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { sb_addc(&b, '\\'); sb_addc(&b, (char)c); }
    else if (c < 0x20) {
      char u[8];
      snprintf(u, sizeof u, "\\u%04x", c);
      sb_adds(&b, u);
    } else sb_addc(&b, (char)c);
  }
  sb_addc(&b, '"');
  sb_addc(&b, '\0');
  item = b.oom ? NULL : cJSON_CreateRaw(b.data);
  sb_free(&b);
  return item;
}

static int encode_value(lua_State *L, int idx, jenc *j, int depth, cJSON *parent,
                        const char *key);

/* 'a' for a sequence 1..n (n >= 1), 'o' for string keys only (or empty), 0 otherwise. */
static int table_kind(lua_State *L, int idx) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > 0 && seq_exact(L, idx, n)) return 'a';
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      return 0;
    }
  }
  return 'o';
}

/* Attaches item at once, so that everything built so far hangs off j->root.
 * Keys and strings are copied: Lua code run by an allocation (a finalizer)
 * could take them out of the table before the tree is printed. */
static int attach(jenc *j, cJSON *parent, const char *key, cJSON *item) {
  if (!item) return jfail(j, "could not be encoded: not enough memory");
  if (!parent) j->root = item;
  else if (key) cJSON_AddItemToObject(parent, key, item);
  else cJSON_AddItemToArray(parent, item);
  return 1;
}

static int key_cmp(const void *a, const void *b) {
  const jkey *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The string keys of the table at idx in byte order, in a userdata pushed on
 * the stack (owned by Lua, so nothing leaks if the caller raises). Their
 * strings stay alive as keys of the table. -1 if a key is not a string. */
long keys_sorted(lua_State *L, int idx, jkey **out) {
  size_t n = 0;
  jkey *keys;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
  }
  keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
  n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      return -1;
    }
    keys[n].s = lua_tolstring(L, -1, &keys[n].len);
    n++;
  }
  qsort(keys, n, sizeof *keys, key_cmp);
  *out = keys;
  return (long)n;
}

/* Keys in byte order, so that the same table always gives the same text
 * (Lua's iteration order changes from one process to the next). */
static int encode_object(lua_State *L, int idx, jenc *j, int depth, cJSON *node) {
  size_t mark = j->pathlen, i, n;
  jkey *keys;
  n = (size_t)keys_sorted(L, idx, &keys); /* table_kind checked: all strings */
  for (i = 0; i < n; i++) {
    int ok;
    path_push_key(j, keys[i].s, keys[i].len);
    if (!utf8_valid(keys[i].s, keys[i].len)) ok = jfail(j, "is a key that is not valid UTF-8");
    else if (memchr(keys[i].s, '\0', keys[i].len)) ok = jfail(j, "is a key with a NUL byte (not allowed in metadata keys)");
    else {
      lua_pushlstring(L, keys[i].s, keys[i].len);
      lua_rawget(L, idx);
      ok = encode_value(L, lua_gettop(L), j, depth + 1, node, keys[i].s);
      lua_pop(L, 1);
    }
    if (!ok) break;
    j->pathlen = mark;
  }
  lua_pop(L, 1); /* keys */
  return i == n;
}

static int encode_table(lua_State *L, int idx, jenc *j, int depth, cJSON *node) {
  size_t mark = j->pathlen;
  if (cJSON_IsArray(node)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      int ok;
      lua_rawgeti(L, idx, i);
      path_push_index(j, i);
      ok = encode_value(L, lua_gettop(L), j, depth + 1, node, NULL);
      lua_pop(L, 1);
      if (!ok) return 0;
      j->pathlen = mark;
    }
    return 1;
  }
  return encode_object(L, idx, j, depth, node);
}

static int encode_value(lua_State *L, int idx, jenc *j, int depth, cJSON *parent,
                        const char *key) {
  char num[64];
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) num[i64_digits(num, (long long)lua_tointeger(L, idx))] = '\0';
      else {
        double x = (double)lua_tonumber(L, idx);
        if (!isfinite(x)) return jfail(j, "is NaN or infinite (JSON has no such numbers)");
#if LUA_VERSION_NUM < 503
        /* LuaJIT: every number is a double, and an integral one past 2^53
         * may already have lost digits: refuse rather than round silently. */
        if (x == floor(x))
          return jfail(j, "is an integer beyond 2^53, which LuaJIT cannot hold exactly (pass it as a string)");
#endif
        format_float(num, sizeof num, x);
      }
      return attach(j, parent, key, cJSON_CreateRaw(num));
    case LUA_TBOOLEAN:
      return attach(j, parent, key, cJSON_CreateBool(lua_toboolean(L, idx)));
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (!utf8_valid(s, len)) return jfail(j, "is a string that is not valid UTF-8");
      return attach(j, parent, key, memchr(s, '\0', len) ? raw_string(s, len) : cJSON_CreateString(s));
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) return attach(j, parent, key, cJSON_CreateNull());
      break;
    case LUA_TTABLE: {
      int kind;
      cJSON *node;
      if (depth >= JSON_MAX_DEPTH)
        return jfail(j, "is nested more than 32 levels deep (is the table cyclic?)");
      luaL_checkstack(L, 8, "metadata nested too deeply");
      kind = table_kind(L, idx);
      if (!kind)
        return jfail_type(j, "is a table that is neither a list (keys 1..n) nor an object (string keys)");
      node = kind == 'a' ? cJSON_CreateArray() : cJSON_CreateObject();
      if (!attach(j, parent, key, node)) return 0;
      return encode_table(L, idx, j, depth, node);
    }
  }
  if (lua_type(L, idx) == LUA_TLIGHTUSERDATA)
    return jfail_type(j, "is a light userdata other than seekdb.null");
  snprintf(num, sizeof num, "is a %s, which metadata cannot hold", luaL_typename(L, idx));
  return jfail_type(j, num);
}

/* Appends the JSON text of any encodable value at idx to out (filters use it
 * for their operands). 0 with j->err set when it cannot be encoded. */
int json_encode(lua_State *L, int idx, jenc *j, sbuf *out) {
  char *text;
  int ok;
  idx = lua_absindex(L, idx);
  j->root = NULL;
  ok = encode_value(L, idx, j, 0, NULL, NULL);
  /* Straight into out when it fits in what out has room for, which is the
   * usual case: no buffer of cJSON's own to allocate and copy. */
  if (ok && (out->cap - out->len >= 256 || sb_grow(out, 256)) &&
      cJSON_PrintPreallocated(j->root, out->data + out->len,
                              (int)(out->cap - out->len < INT_MAX ? out->cap - out->len : INT_MAX), 0)) {
    out->len += strlen(out->data + out->len);
  } else if (ok) {
    text = cJSON_PrintUnformatted(j->root);
    if (text) sb_adds(out, text);
    else ok = jfail(j, "could not be encoded: not enough memory");
    cJSON_free(text);
  }
  cJSON_Delete(j->root);
  j->root = NULL;
  return ok;
}

/* Appends the JSON text of the metadata table at idx to out. 0 with j->err
 * set when it cannot be encoded. The caller has set j->path; j->root is the
 * caller's to free if this raises (only a Lua memory error can). */
int meta_encode(lua_State *L, int idx, jenc *j, sbuf *out) {
  idx = lua_absindex(L, idx);
  j->root = NULL;
  if (lua_type(L, idx) != LUA_TTABLE || table_kind(L, idx) != 'o')
    return jfail_type(j, "must be a table with string keys (or seekdb.null)");
  return json_encode(L, idx, j, out);
}

/* ---- decoding ------------------------------------------------------------ */
/* A small recursive decoder straight onto the Lua stack: numbers keep their
 * kind through lua_stringtonumber (integers exact to 64 bits), and nothing is
 * allocated outside Lua, so an error anywhere leaks nothing. */

typedef struct jdec {
  lua_State *L;
  const char *p, *end;
  int too_big; /* LuaJIT: an integer past 2^53 */
} jdec;

static void jd_ws(jdec *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
}

static int jd_hex4(jdec *d, unsigned *out) {
  unsigned v = 0;
  if (d->end - d->p < 4) return 0;
  for (int i = 0; i < 4; i++) {
    char c = *d->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void jd_utf8(luaL_Buffer *b, unsigned cp) {
  if (cp < 0x80) luaL_addchar(b, (char)cp);
  else if (cp < 0x800) {
    luaL_addchar(b, (char)(0xc0 | (cp >> 6)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    luaL_addchar(b, (char)(0xe0 | (cp >> 12)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
  } else {
    luaL_addchar(b, (char)(0xf0 | (cp >> 18)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3f)));
  }
}

static int jd_string(jdec *d) {
  luaL_Buffer b;
  d->p++; /* the opening quote */
  luaL_buffinit(d->L, &b);
  while (d->p < d->end) {
    const char *run = d->p;
    while (d->p < d->end && *d->p != '"' && *d->p != '\\') d->p++;
    luaL_addlstring(&b, run, (size_t)(d->p - run));
    if (d->p >= d->end) break;
    if (*d->p++ == '"') {
      luaL_pushresult(&b);
      return 1;
    }
    if (d->p >= d->end) break;
    switch (*d->p++) {
      case '"': luaL_addchar(&b, '"'); break;
      case '\\': luaL_addchar(&b, '\\'); break;
      case '/': luaL_addchar(&b, '/'); break;
      case 'b': luaL_addchar(&b, '\b'); break;
      case 'f': luaL_addchar(&b, '\f'); break;
      case 'n': luaL_addchar(&b, '\n'); break;
      case 'r': luaL_addchar(&b, '\r'); break;
      case 't': luaL_addchar(&b, '\t'); break;
      case 'u': {
        unsigned cp, lo;
        if (!jd_hex4(d, &cp)) goto bad;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (d->end - d->p < 6 || d->p[0] != '\\' || d->p[1] != 'u') goto bad;
          d->p += 2;
          if (!jd_hex4(d, &lo) || lo < 0xdc00 || lo > 0xdfff) goto bad;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) goto bad;
        jd_utf8(&b, cp);
        break;
      }
      default: goto bad;
    }
  }
bad:
  luaL_pushresult(&b);
  lua_pop(d->L, 1);
  return 0;
}

static int jd_number(jdec *d) {
  char tmp[64];
  size_t n = 0;
  while (d->p < d->end && *d->p && strchr("0123456789+-.eE", *d->p) && n < sizeof tmp - 1) tmp[n++] = *d->p++;
  tmp[n] = '\0';
  if (n == 0 || lua_stringtonumber(d->L, tmp) != n + 1) return 0;
#if LUA_VERSION_NUM < 503
  /* judged on the text: 2^53 + 1 would round to a double that looks fine */
  if (!strpbrk(tmp, ".eE")) {
    long long v;
    errno = 0;
    v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE || v > (long long)LUAJIT_EXACT_MAX || v < -(long long)LUAJIT_EXACT_MAX) {
      lua_pop(d->L, 1);
      d->too_big = 1;
      return 0;
    }
  }
#endif
  return 1;
}

static int jd_literal(jdec *d, const char *word, size_t len) {
  if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len) != 0) return 0;
  d->p += len;
  return 1;
}

static int jd_value(jdec *d, int depth);

static int jd_container(jdec *d, int depth, char close) {
  lua_Integer i = 0;
  lua_newtable(d->L);
  d->p++;
  jd_ws(d);
  if (d->p < d->end && *d->p == close) { d->p++; return 1; }
  for (;;) {
    jd_ws(d);
    if (close == '}') {
      if (d->p >= d->end || *d->p != '"' || !jd_string(d)) return 0;
      jd_ws(d);
      if (d->p >= d->end || *d->p++ != ':') return 0;
      if (!jd_value(d, depth + 1)) return 0;
      lua_rawset(d->L, -3);
    } else {
      if (!jd_value(d, depth + 1)) return 0;
      lua_rawseti(d->L, -2, ++i);
    }
    jd_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == close) { d->p++; return 1; }
    return 0;
  }
}

static int jd_value(jdec *d, int depth) {
  if (depth > 200) return 0;
  luaL_checkstack(d->L, 4, "JSON nested too deeply");
  jd_ws(d);
  if (d->p >= d->end) return 0;
  switch (*d->p) {
    case '{': return jd_container(d, depth, '}');
    case '[': return jd_container(d, depth, ']');
    case '"': return jd_string(d);
    case 't': if (!jd_literal(d, "true", 4)) return 0; lua_pushboolean(d->L, 1); return 1;
    case 'f': if (!jd_literal(d, "false", 5)) return 0; lua_pushboolean(d->L, 0); return 1;
    case 'n': if (!jd_literal(d, "null", 4)) return 0; pushnull(d->L); return 1;
    default: return jd_number(d);
  }
}

/* Pushes the value of the JSON text: 1; 0 (nothing pushed) if it is not
 * JSON; -1 under LuaJIT if it holds an integer that a double cannot. */
int json_push(lua_State *L, const char *s, size_t len) {
  jdec d = {L, s, s + len, 0};
  int top = lua_gettop(L);
  if (jd_value(&d, 0)) {
    jd_ws(&d);
    if (d.p == d.end) return 1;
  }
  lua_settop(L, top);
  return d.too_big ? -1 : 0;
}
