/* failalloc: runs a Lua chunk in a fresh state whose allocator fails at the
 * Nth allocation, so specs can inject a memory error at every point of a
 * call into the seekdb core.
 *
 *   failalloc.run(code, n, path, cpath[, once]) -> status, message, allocations
 *     status: "ok", "error" (the chunk raised or returned nil, err: message)
 *     or "memory" (a Lua memory error reached the top)
 *   n = 0: never fail (counts the allocations the chunk makes); with `once`
 *   only allocation n fails (with Lua's retry after an emergency collection)
 *   and the rest succeed, so the code that handles the error runs too.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct limit {
  unsigned long count, fail_at;
  int once;
} limit_t;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  limit_t *l = ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (nsize > osize || ptr == NULL) { /* growing or new: may fail */
    l->count++;
    /* once: allocation n and the retry Lua makes after an emergency GC */
    if (l->fail_at && l->count >= l->fail_at && (!l->once || l->count <= l->fail_at + 1)) return NULL;
  }
  return realloc(ptr, nsize);
}

static int run(lua_State *L) {
  size_t len;
  const char *code = luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3), *cpath = luaL_checkstring(L, 4);
  limit_t lim = {0, 0, lua_toboolean(L, 5)};
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
  status = luaL_loadbuffer(T, code, len, "=failalloc");
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
