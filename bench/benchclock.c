/* benchclock: the two clocks the Lua contenders of the benchmark need and Lua
 * lacks. now(): a monotonic wall clock in seconds (os.time has whole seconds
 * only); cpu(): user + system CPU seconds of this process, from getrusage (the
 * same source as bench/bulk_upsert.c, microsecond resolution; also user and
 * system apart). Built by
 * `make bench` into bench/benchclock.so; not part of the module. */
#include <sys/resource.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* user + system, user, system */
static int l_cpu(lua_State *L) {
  struct rusage ru;
  lua_Number user, sys;
  getrusage(RUSAGE_SELF, &ru);
  user = (lua_Number)ru.ru_utime.tv_sec + (lua_Number)ru.ru_utime.tv_usec * 1e-6;
  sys = (lua_Number)ru.ru_stime.tv_sec + (lua_Number)ru.ru_stime.tv_usec * 1e-6;
  lua_pushnumber(L, user + sys);
  lua_pushnumber(L, user);
  lua_pushnumber(L, sys);
  return 3;
}

int luaopen_benchclock(lua_State *L) {
  static const luaL_Reg fns[] = {{"now", l_now}, {"cpu", l_cpu}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
