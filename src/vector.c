/* Vectors: Lua arrays of numbers <-> little-endian float32. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "marshal.h"

const char *vec_status_text(int status) {
  switch (status) {
    case VEC_NOTTABLE: return "is not a table of numbers";
    case VEC_LENGTH: return "has the wrong number of items";
    case VEC_NOTNUM: return "has an item that is not a number";
    case VEC_NONFINITE: return "has an item that is NaN or infinite";
    case VEC_RANGE: return "has an item too large for a float32";
    case VEC_EXTRA: return "has keys besides 1..n (a vector is a plain array)";
    default: return "is fine";
  }
}

int vec_message(lua_State *L, int idx, int status, const char *what, lua_Integer pos, int dim) {
  idx = lua_absindex(L, idx);
  switch (status) {
    case VEC_NOTTABLE:
      lua_pushfstring(L, "%s must be a list of numbers, got %s", what, luaL_typename(L, idx));
      return 1;
    case VEC_NOTNUM:
      lua_rawgeti(L, idx, pos);
      lua_pushfstring(L, "%s[%I] must be a number, got %s", what, pos, luaL_typename(L, -1));
      lua_remove(L, -2);
      return 1;
    case VEC_EXTRA:
      lua_pushfstring(L, "%s has keys besides 1..%d: a vector is a plain list of numbers", what, dim);
      return 1;
    case VEC_LENGTH:
      lua_pushfstring(L, "%s has %I numbers; the collection's dimension is %d", what, pos, dim);
      return 0;
    default:
      lua_pushfstring(L, "%s[%I] is %s", what, pos,
                      status == VEC_NONFINITE ? "NaN or infinite" : "too large for a float32");
      return 0;
  }
}

/* True when the table at idx has a border at n and no keys outside 1..n.
 * Holes inside 1..n are not looked for: every caller reads each item 1..n
 * and reports a nil one by its index, which says more than "has holes".
 * The fast answer asks lua_next for the key after n: in a plain array there
 * is none, and if there is a key we look at every key. It is not proof (keys
 * 1..n kept in the hash part may come after an extra key), so lists whose
 * extra keys would change what is written (ids...) use seq_exact_full. */
int seq_exact_full(lua_State *L, int idx, lua_Integer n) {
  lua_Integer count = 0;
  idx = lua_absindex(L, idx);
  if ((lua_Integer)lua_rawlen(L, idx) != n) return 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  return count <= n;
}

int seq_exact(lua_State *L, int idx, lua_Integer n) {
  int more;
  idx = lua_absindex(L, idx);
  /* LuaJIT keeps key 0 in the array part, before 1: look for it apart */
  lua_rawgeti(L, idx, 0);
  more = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (more) return 0;
  if (n == 0) {
    lua_pushnil(L);
    more = lua_next(L, idx);
    if (more) lua_pop(L, 2);
    return !more;
  }
  if ((lua_Integer)lua_rawlen(L, idx) != n) return 0;
  lua_pushinteger(L, n);
  if (!lua_next(L, idx)) return 1;
  lua_pop(L, 2);
  return seq_exact_full(L, idx, n);
}

/* Items are pushed VEC_RUN at a time and popped together: one settop per
 * run instead of one per item (this loop is most of an upsert's CPU). */
#define VEC_RUN 64

/* A seekdb.vector: its floats as they are (one memcpy), after the same
 * checks as a table's. Its constructor refused NaN and infinity, but LuaJIT
 * code may have written through v:pointer(): look again (a C loop, cheap
 * beside anything the write does with the row). */
static int vec_read_obj(const vecobj_t *v, int dim, float *out, lua_Integer *pos) {
  int i;
  if (v->dim != dim) {
    *pos = v->dim;
    return VEC_LENGTH;
  }
  for (i = 0; i < dim; i++)
    if (!isfinite(v->f[i])) {
      *pos = i + 1;
      return VEC_NONFINITE;
    }
  memcpy(out, v->f, (size_t)dim * sizeof *out);
  return VEC_OK;
}

int vec_read(lua_State *L, int idx, int dim, float *out, lua_Integer *pos) {
  int i, len, m, top, run;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) {
    const vecobj_t *v = lua_type(L, idx) == LUA_TUSERDATA ? vecobj_test(L, idx) : NULL;
    return v ? vec_read_obj(v, dim, out, pos) : VEC_NOTTABLE;
  }
  run = lua_checkstack(L, VEC_RUN) ? VEC_RUN : 1; /* 1: the stack cannot grow */
  len = (int)lua_rawlen(L, idx);
  m = len < dim ? len : dim;
  top = lua_gettop(L);
  /* one pass, the hot path of every upsert: each item's type (so {{1,2,3}}
   * is a nested table, not a vector of the wrong length), then its value */
  for (i = 1; i <= m; i++) {
    lua_Number x;
    if (lua_rawgeti(L, idx, i) != LUA_TNUMBER) { /* no "1.5" strings */
      lua_settop(L, top);
      *pos = i;
      return VEC_NOTNUM;
    }
    x = lua_tonumberx(L, -1, NULL);
    if (!(x >= -FLT_MAX && x <= FLT_MAX)) { /* NaN fails both */
      lua_settop(L, top);
      *pos = i;
      return isfinite(x) ? VEC_RANGE : VEC_NONFINITE;
    }
    out[i - 1] = (float)x;
    if (i % run == 0) lua_settop(L, top);
  }
  lua_settop(L, top);
  if (len < dim) { /* a hole (LuaJIT's border stops at it): name it */
    for (i = len + 1; i <= dim; i++) {
      lua_rawgeti(L, idx, i);
      if (!lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *pos = len + 1;
        return VEC_NOTNUM;
      }
      lua_pop(L, 1);
    }
  }
  if (len != dim) {
    *pos = len;
    return VEC_LENGTH;
  }
  if (!seq_exact(L, idx, dim)) return VEC_EXTRA;
  return VEC_OK;
}

/* Both servers take a VECTOR as the little-endian bytes of its float32s. */
void vec_addhex(sbuf *b, const float *v, int dim) {
  static const char digits[] = "0123456789abcdef";
  size_t need = (size_t)dim * 8 + 3;
  char *o;
  int i, k;
  if (b->cap - b->len < need && !sb_grow(b, need)) return;
  o = b->data + b->len;
  *o++ = 'X';
  *o++ = '\'';
  for (i = 0; i < dim; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    for (k = 0; k < 4; k++, u >>= 8) {
      *o++ = digits[(u >> 4) & 15];
      *o++ = digits[u & 15];
    }
  }
  *o++ = '\'';
  b->len = (size_t)(o - b->data);
}

/* Text form "[0.1,0.2]" as seekdb may send it: 1 when it holds exactly dim numbers. */
int vec_parse_text(const char *s, size_t len, float *out, int dim) {
  const char *p = s, *end = s + len;
  char tmp[64];
  int i = 0;
  while (p < end && (*p == ' ')) p++;
  if (p == end || *p++ != '[') return 0;
  for (;;) {
    size_t n = 0;
    char *stop;
    double x;
    while (p < end && *p == ' ') p++;
    if (p < end && *p == ']' && i == 0) { p++; break; }
    /* *p first: strchr would also find the set's own terminating NUL */
    while (p < end && n < sizeof tmp - 1 && *p && strchr("0123456789+-.eE", *p) != NULL)
      tmp[n++] = *p++;
    tmp[n] = '\0';
    if (n == 0 || i >= dim) return 0;
    x = strtod(tmp, &stop);
    if (*stop != '\0') return 0;
    out[i++] = (float)x;
    while (p < end && *p == ' ') p++;
    if (p < end && *p == ',') { p++; continue; }
    if (p < end && *p == ']') { p++; break; }
    return 0;
  }
  while (p < end && *p == ' ') p++;
  return p == end && i == dim;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_LE 1
#else
#define NATIVE_LE 0
#endif

static float le_float(const unsigned char *q) {
  uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

int vec_from_bytes(const char *s, size_t len, float *out, lua_Integer *pos) {
  size_t i, n = len / 4;
  if (NATIVE_LE) memcpy(out, s, n * 4);
  else
    for (i = 0; i < n; i++) out[i] = le_float((const unsigned char *)s + 4 * i);
  for (i = 0; i < n; i++)
    if (!isfinite(out[i])) {
      *pos = (lua_Integer)i + 1;
      return VEC_NONFINITE;
    }
  return VEC_OK;
}

void vec_to_bytes(const float *f, int n, char *b) {
  int i, k;
  if (NATIVE_LE) {
    memcpy(b, f, (size_t)n * 4);
    return;
  }
  for (i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &f[i], 4);
    for (k = 0; k < 4; k++, u >>= 8) *b++ = (char)(u & 255);
  }
}

/* Pushes a vector read from the server as a Lua array: float32 bytes, or,
 * when text_ok (seekdb may answer "[..]"), text. 0 when it is neither. A
 * MariaDB server always sends bytes: they may spell "[12]" by chance. */
int vec_push(lua_State *L, const char *data, size_t len, int dim, int text_ok) {
  int i;
  if (text_ok && len > 0 && data[0] == '[' && dim > 0) {
    /* scratch space owned by Lua, so nothing leaks if a push raises */
    float *tmp = lua_newuserdatauv(L, (size_t)dim * sizeof *tmp, 0);
    if (vec_parse_text(data, len, tmp, dim)) {
      lua_createtable(L, dim, 0);
      for (i = 0; i < dim; i++) {
        lua_pushnumber(L, tmp[i]);
        lua_rawseti(L, -2, i + 1);
      }
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 1);
  }
  if (dim <= 0 || len != (size_t)dim * 4) return 0;
  lua_createtable(L, dim, 0);
  for (i = 0; i < dim; i++) {
    lua_pushnumber(L, le_float((const unsigned char *)data + 4 * i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}
