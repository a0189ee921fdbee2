/* failalloc: runs a Lua chunk in a fresh state whose allocator fails at the
 * Nth allocation, so specs can inject a memory error at every point of a
 * call into the seekdb core.
 *
 *   failalloc.run(code, n, path, cpath[, once[, armed_later]]) -> status, message, allocations
 *     status: "ok", "error" (the chunk raised or returned nil, err: message)
 *     or "memory" (a Lua memory error reached the top)
 *   n = 0: never fail (counts the allocations the chunk makes); with `once`
 *   only allocation n fails (with Lua's retry after an emergency collection)
 *   and the rest succeed, so the code that handles the error runs too.
 *   With `armed_later`, allocations are counted (and fail) only after the
 *   chunk calls the global failalloc_arm(): what it does before (connect,
 *   find a collection) runs unharmed, and n counts from the call it tests.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct limit {
  unsigned long count, fail_at;
  int once, armed;
} limit_t;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  limit_t *l = ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (l->armed && (nsize > osize || ptr == NULL)) { /* growing or new: may fail */
    l->count++;
    /* once: allocation n and the retry Lua makes after an emergency GC */
    if (l->fail_at && l->count >= l->fail_at && (!l->once || l->count <= l->fail_at + 1)) return NULL;
  }
  return realloc(ptr, nsize);
}

static int arm(lua_State *T) {
  limit_t *l = lua_touserdata(T, lua_upvalueindex(1));
  l->count = 0;
  l->armed = 1;
  return 0;
}

static int run(lua_State *L) {
  size_t len;
  const char *code = luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3), *cpath = luaL_checkstring(L, 4);
  limit_t lim = {0, 0, lua_toboolean(L, 5), 1};
  lua_State *T = lua_newstate(limited_alloc, &lim);
  int status;
  if (!T) return luaL_error(L, "cannot make a state");
  luaL_openlibs(T);
  lua_getglobal(T, "package");
  lua_pushstring(T, path);
  lua_setfield(T, -2, "path");
  lua_pushstring(T, cpath);
  lua_setfield(T, -2, "cpath");
  lua_pop(T, 1);
  lua_pushlightuserdata(T, &lim);
  lua_pushcclosure(T, arm, 1);
  lua_setglobal(T, "failalloc_arm");
  status = luaL_loadbuffer(T, code, len, "=failalloc");
  lim.armed = !lua_toboolean(L, 6);
  lim.count = 0;
  lim.fail_at = (unsigned long)n; /* from here on */
  if (status == LUA_OK) status = lua_pcall(T, 0, 2, 0);
  lim.fail_at = 0;
  if (status == LUA_ERRMEM) lua_pushliteral(L, "memory");
  else if (status != LUA_OK || (lua_isnil(T, -2) && !lua_isnone(T, -2))) lua_pushliteral(L, "error");
  else lua_pushliteral(L, "ok");
  lua_pushstring(L, lua_tostring(T, -1) ? lua_tostring(T, -1) : "");
  lua_pushinteger(L, (lua_Integer)lim.count);
  lua_close(T);
  return 3;
}

int luaopen_failalloc(lua_State *L) {
  static const luaL_Reg funcs[] = {{"run", run}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
