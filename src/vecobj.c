/* seekdb.vector: a vector as float32s in a userdata, for programs that hold
 * vectors as bytes (a model's output, a file, a LuaJIT FFI array) and for
 * reads that should not build a Lua table per row.
 *
 *   seekdb.vector(bytes_or_table[, dim])  float32 little-endian bytes (a
 *       string whose length is a multiple of 4), a list of numbers, or a
 *       seekdb.vector (returned as it is); dim, when given, must match.
 *   #v          the dimension          v[i]       item i (1-based), or nil
 *   v:bytes()   the float32 LE bytes   v:table()  a new list of numbers
 *   v:pointer() the floats' address, a light userdata: LuaJIT code may
 *               ffi.cast("const float *", p) while v is alive
 *   tostring(v) "seekdb.vector(384): [0.1, 0.2, ...]"; v1 == v2 by value.
 *
 * Misuse (a wrong type, a length that is not float32s, 0 or more than
 * DIM_MAX_ANY of them) raises; a bad value (NaN, infinity, a number too
 * large for a float32, a dimension other than dim) returns nil, err, with
 * the words the writes use for the same mistakes (vec_status_text). The
 * floats are the userdata's own memory: there is nothing to release, so no
 * __gc or __close. Nothing here touches a connection (marshal.h): the
 * fuzzers drive it directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"

/* How many items tostring shows before "...". */
#define SHOW_ITEMS 8

static int vec_index(lua_State *L);
static int vec_len(lua_State *L);
static int vec_eq(lua_State *L);
static int vec_tostring(lua_State *L);

static int vec_bytes(lua_State *L);
static int vec_table(lua_State *L);
static int vec_pointer(lua_State *L);

static const luaL_Reg methods[] = {
  {"bytes", vec_bytes}, {"table", vec_table}, {"pointer", vec_pointer}, {NULL, NULL}};

/* Pushes the metatable, made the first time (so that the fuzzers, which do
 * not load the module, get the same type). */
static void push_metatable(lua_State *L) {
  if (luaL_newmetatable(L, VECTOR_MT)) {
    lua_pushliteral(L, VECTOR_MT);
    lua_setfield(L, -2, "__name"); /* LuaJIT's luaL_newmetatable does not set it */
    lua_createtable(L, 0, 3);
    luaL_setfuncs(L, methods, 0);
    lua_pushcclosure(L, vec_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, vec_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, vec_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushcfunction(L, vec_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "seekdb.vector");
    lua_setfield(L, -2, "__metatable"); /* getmetatable cannot reach the methods */
  }
}

vecobj_t *vecobj_new(lua_State *L, int dim) {
  vecobj_t *v = lua_newuserdatauv(L, sizeof *v + (size_t)dim * sizeof(float), 0);
  v->dim = dim;
  push_metatable(L);
  lua_setmetatable(L, -2);
  return v;
}

vecobj_t *vecobj_test(lua_State *L, int idx) {
  return luaL_testudata(L, idx, VECTOR_MT);
}

static vecobj_t *check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, VECTOR_MT);
}

int vecobj_push(lua_State *L, const char *data, size_t len, int dim, int text_ok) {
  vecobj_t *v;
  lua_Integer pos;
  if (dim <= 0) return 0;
  if (text_ok && len > 0 && data[0] == '[') {
    v = vecobj_new(L, dim);
    if (vec_parse_text(data, len, v->f, dim)) return 1;
    lua_pop(L, 1);
  }
  if (len != (size_t)dim * 4) return 0;
  v = vecobj_new(L, dim);
  vec_from_bytes(data, len, v->f, &pos); /* what the server holds, NaN or not (as vec_push) */
  return 1;
}

/* ---- the constructor ------------------------------------------------------------- */

static int bad_value(lua_State *L, const char *msg) {
  lua_pushnil(L);
  lua_pushfstring(L, "seekdb.vector: %s", msg);
  return 2;
}

static int from_bytes(lua_State *L, int has_dim, lua_Integer dim) {
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  lua_Integer n = (lua_Integer)(len / 4), pos = 0;
  vecobj_t *v;
  if (len % 4 != 0)
    return luaL_argerror(L, 1, lua_pushfstring(L, "%I bytes are not float32s: the length must be a multiple of 4",
                                               (lua_Integer)len));
  if (n == 0) return luaL_argerror(L, 1, "0 bytes: a vector has at least one float32 (4 bytes)");
  if (n > DIM_MAX_ANY)
    return luaL_argerror(L, 1, lua_pushfstring(L, "%I bytes are %I float32s; a vector has at most %d",
                                               (lua_Integer)len, n, DIM_MAX_ANY));
  if (has_dim && n != dim)
    return bad_value(L, lua_pushfstring(L, "bytes has %I numbers; the dimension asked for is %I", n, dim));
  v = vecobj_new(L, (int)n);
  if (vec_from_bytes(s, len, v->f, &pos) != VEC_OK)
    return bad_value(L, lua_pushfstring(L, "bytes %s (float32 %I, bytes %I..%I)", vec_status_text(VEC_NONFINITE),
                                        pos, 4 * pos - 3, 4 * pos));
  return 1;
}

static int from_table(lua_State *L, int has_dim, lua_Integer dim) {
  lua_Integer n = has_dim ? dim : (lua_Integer)lua_rawlen(L, 1), pos = 0;
  vecobj_t *v;
  int status;
  if (n == 0) return luaL_argerror(L, 1, "an empty list: a vector has at least one number");
  if (n > DIM_MAX_ANY)
    return luaL_argerror(L, 1, lua_pushfstring(L, "a list of %I numbers; a vector has at most %d", n, DIM_MAX_ANY));
  v = vecobj_new(L, (int)n);
  status = vec_read(L, 1, (int)n, v->f, &pos);
  if (status == VEC_LENGTH)
    return bad_value(L, lua_pushfstring(L, "list has %I numbers; the dimension asked for is %I", pos, n));
  if (status != VEC_OK) {
    if (vec_message(L, 1, status, "list", pos, (int)n)) return luaL_argerror(L, 1, lua_tostring(L, -1));
    return bad_value(L, lua_tostring(L, -1));
  }
  return 1;
}

int vecobj_ctor(lua_State *L) {
  int has_dim = !lua_isnoneornil(L, 2);
  lua_Integer dim = 0;
  vecobj_t *v;
  if (has_dim) {
    int isint = 0;
    dim = lua_tointegerx(L, 2, &isint);
    if (!isint || lua_type(L, 2) != LUA_TNUMBER || dim < 1 || dim > DIM_MAX_ANY)
      return luaL_argerror(L, 2, lua_pushfstring(L, "dimension must be an integer from 1 to %d", DIM_MAX_ANY));
  }
  lua_settop(L, 1);
  switch (lua_type(L, 1)) {
    case LUA_TSTRING: return from_bytes(L, has_dim, dim);
    case LUA_TTABLE: return from_table(L, has_dim, dim);
    case LUA_TUSERDATA:
      if ((v = vecobj_test(L, 1)) != NULL) { /* immutable: itself */
        if (has_dim && v->dim != dim)
          return bad_value(L, lua_pushfstring(L, "the vector has %d numbers; the dimension asked for is %I",
                                              v->dim, dim));
        return 1;
      }
      /* fall through */
    default:
      return luaL_argerror(L, 1, lua_pushfstring(L, "float32 bytes (a string), a list of numbers or a "
                                                    "seekdb.vector expected, got %s", luaL_typename(L, 1)));
  }
}

/* ---- methods and metamethods ------------------------------------------------------ */

/* v[i] is item i; a method's name gives the method; anything else nil. */
static int vec_index(lua_State *L) {
  vecobj_t *v = lua_touserdata(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (isint && i >= 1 && i <= v->dim) lua_pushnumber(L, v->f[i - 1]);
    else lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static int vec_len(lua_State *L) {
  lua_pushinteger(L, check(L, 1)->dim);
  return 1;
}

/* Equal when they hold the same numbers (0 == -0, as for Lua numbers). */
static int vec_eq(lua_State *L) {
  vecobj_t *a = vecobj_test(L, 1), *b = vecobj_test(L, 2);
  int i, eq = a && b && a->dim == b->dim;
  for (i = 0; eq && i < a->dim; i++) eq = a->f[i] == b->f[i];
  lua_pushboolean(L, eq);
  return 1;
}

/* The shortest decimal that reads back as the same float32. */
static void float_text(char *buf, size_t size, float f) {
  int prec;
  for (prec = 6; prec < 9; prec++) {
    snprintf(buf, size, "%.*g", prec, (double)f);
    if (strtof(buf, NULL) == f) return;
  }
  snprintf(buf, size, "%.9g", (double)f);
}

static int vec_tostring(lua_State *L) {
  vecobj_t *v = check(L, 1);
  luaL_Buffer b;
  char num[40];
  int i;
  luaL_buffinit(L, &b);
  snprintf(num, sizeof num, "seekdb.vector(%d): [", v->dim);
  luaL_addstring(&b, num);
  for (i = 0; i < v->dim && i < SHOW_ITEMS; i++) {
    if (i) luaL_addstring(&b, ", ");
    float_text(num, sizeof num, v->f[i]);
    luaL_addstring(&b, num);
  }
  if (v->dim > SHOW_ITEMS) luaL_addstring(&b, ", ...");
  luaL_addchar(&b, ']');
  luaL_pushresult(&b);
  return 1;
}

static int vec_bytes(lua_State *L) {
  vecobj_t *v = check(L, 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  lua_pushlstring(L, (const char *)v->f, (size_t)v->dim * 4); /* they are the bytes */
#else
  char *tmp = lua_newuserdatauv(L, (size_t)v->dim * 4, 0);
  vec_to_bytes(v->f, v->dim, tmp);
  lua_pushlstring(L, tmp, (size_t)v->dim * 4);
#endif
  return 1;
}

static int vec_table(lua_State *L) {
  vecobj_t *v = check(L, 1);
  int i;
  lua_createtable(L, v->dim, 0);
  for (i = 0; i < v->dim; i++) {
    lua_pushnumber(L, v->f[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int vec_pointer(lua_State *L) {
  lua_pushlightuserdata(L, check(L, 1)->f);
  return 1;
}
