/* The Lua 5.4 C API the core uses, on Lua 5.1 / LuaJIT 2.1 as well.
 *
 * The sources are written against 5.4. LuaJIT 2.1 already has luaL_setfuncs,
 * luaL_setmetatable, luaL_newlib, lua_tonumberx and lua_tointegerx; what it
 * lacks is filled in here, each piece as small as our use of it allows.
 * Numbers there are doubles only: an integral double is an "integer" when it
 * is exact (|x| <= 2^53), see json.c for what that means for metadata. */
#ifndef SEEKDB_COMPAT_H
#define SEEKDB_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* Lua 5.4, or LuaJIT 2.1 (whose lauxlib.h has 5.2's luaL_newlib): the
 * rockspecs say `lua >= 5.1`, so a PUC Lua 5.1 to 5.3 build stops here with
 * a word rather than giving a module that fails to load. */
#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
#error "lua-seekdb needs Lua 5.4 or LuaJIT 2.1, and these are PUC Lua 5.1's headers: for LuaJIT, build with its headers (luarocks ... LUA_INCDIR=/usr/include/luajit-2.1)"
#elif LUA_VERSION_NUM == 502 || LUA_VERSION_NUM == 503
#error "lua-seekdb needs Lua 5.4 or LuaJIT 2.1, not Lua 5.2 or 5.3"
#endif

#if LUA_VERSION_NUM >= 504
#define compat_setuservalue(L, idx) lua_setiuservalue((L), (idx), 1)
#endif

#if LUA_VERSION_NUM < 502
#define compat_setuservalue(L, idx) lua_setfenv((L), (idx))

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LUAJIT_EXACT_MAX 9007199254740992.0 /* 2^53 */

#define lua_newuserdatauv(L, size, nuv) lua_newuserdata((L), (size))
#define lua_rawlen(L, idx) lua_objlen((L), (idx))

static inline int compat_absindex(lua_State *L, int idx) {
  return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex compat_absindex

static inline int compat_isinteger(lua_State *L, int idx) {
  lua_Number x;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  x = lua_tonumber(L, idx);
  return x == floor(x) && fabs(x) <= LUAJIT_EXACT_MAX;
}
#define lua_isinteger compat_isinteger

/* 5.3's lua_tointegerx: only numbers with an integral value */
static inline lua_Integer compat_tointegerx(lua_State *L, int idx, int *isnum) {
  int ok = 0;
  lua_Number x = lua_tonumberx(L, idx, &ok);
  ok = ok && x == floor(x) && fabs(x) <= LUAJIT_EXACT_MAX;
  if (isnum) *isnum = ok;
  return ok ? (lua_Integer)x : 0;
}
#define lua_tointegerx compat_tointegerx

/* 5.3+ return the type of what they push */
static inline int compat_rawget(lua_State *L, int idx) {
  lua_rawget(L, idx);
  return lua_type(L, -1);
}
#define lua_rawget compat_rawget
static inline int compat_rawgeti(lua_State *L, int idx, int n) {
  lua_rawgeti(L, idx, n);
  return lua_type(L, -1);
}
#define lua_rawgeti compat_rawgeti

/* A decimal number as Lua would read it; its length + 1, or 0. */
static inline size_t compat_stringtonumber(lua_State *L, const char *s) {
  char *end;
  double x = strtod(s, &end);
  if (end == s || *end != '\0') return 0;
  lua_pushnumber(L, x);
  return (size_t)(end - s) + 1;
}
#define lua_stringtonumber compat_stringtonumber

/* lua_pushfstring with 5.3's %I (a lua_Integer), which 5.1 does not know. */
static inline const char *compat_pushvfstring(lua_State *L, const char *fmt, va_list ap) {
  luaL_Buffer b;
  char tmp[64];
  luaL_buffinit(L, &b);
  for (;;) {
    const char *e = strchr(fmt, '%');
    if (!e) break;
    luaL_addlstring(&b, fmt, (size_t)(e - fmt));
    switch (e[1]) {
      case 's': {
        const char *s = va_arg(ap, const char *);
        luaL_addstring(&b, s ? s : "(null)");
        break;
      }
      case 'd': snprintf(tmp, sizeof tmp, "%d", va_arg(ap, int)); luaL_addstring(&b, tmp); break;
      case 'I': snprintf(tmp, sizeof tmp, "%lld", (long long)va_arg(ap, lua_Integer)); luaL_addstring(&b, tmp); break;
      case 'f': snprintf(tmp, sizeof tmp, "%.14g", va_arg(ap, double)); luaL_addstring(&b, tmp); break;
      case 'p': snprintf(tmp, sizeof tmp, "%p", va_arg(ap, void *)); luaL_addstring(&b, tmp); break;
      case 'c': luaL_addchar(&b, (char)va_arg(ap, int)); break;
      default: luaL_addchar(&b, '%'); break; /* "%%" */
    }
    fmt = e + 2;
  }
  luaL_addstring(&b, fmt);
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

static inline const char *compat_pushfstring(lua_State *L, const char *fmt, ...) {
  const char *s;
  va_list ap;
  va_start(ap, fmt);
  s = compat_pushvfstring(L, fmt, ap);
  va_end(ap);
  return s;
}
#define lua_pushvfstring compat_pushvfstring
#define lua_pushfstring compat_pushfstring

#endif /* LUA_VERSION_NUM < 502 */

#endif
