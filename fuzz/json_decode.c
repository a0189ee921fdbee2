/* libFuzzer target: metadata JSON decoding (json_push in src/json.c), the
 * code that turns what the server sends back into Lua values.
 *
 * Each input is handed to json_push as is, in a fresh lua_State under
 * lua_pcall. Besides ASan/UBSan reports, the target checks json_push's
 * contract: it never raises (except on a Lua memory error), it pushes exactly
 * one value when it returns 1 and leaves the stack as it was when it
 * returns 0, and what it pushes is a JSON value: a string, a number, a
 * boolean, seekdb.null, or a table that is a list 1..n or has string keys
 * only. */
#include "common.h"
#include "../src/marshal.h"

typedef struct {
  const uint8_t *data;
  size_t size;
} input_t;

static void check_value(lua_State *L, int idx, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > 201) fz_fail("json_push built a value nested %d deep (its limit is 200)", depth);
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: case LUA_TNUMBER: case LUA_TBOOLEAN: return;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) != NULL) fz_fail("json_push pushed a light userdata other than null");
      return;
    case LUA_TTABLE: {
      lua_Integer n = (lua_Integer)lua_rawlen(L, idx), ints = 0, strs = 0;
      luaL_checkstack(L, 4, "check_value");
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) strs++;
        else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= n) ints++;
        else fz_fail("json_push built a table with a key that is neither a string nor 1..n");
        if (lua_isnil(L, -1)) fz_fail("json_push stored nil");
        check_value(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      if (ints && strs) fz_fail("json_push built a table that is both list and object");
      if (ints != 0 && ints != n) fz_fail("json_push built a list with holes");
      return;
    }
    default:
      fz_fail("json_push pushed a %s", luaL_typename(L, idx));
  }
}

static int run(lua_State *L) {
  input_t *in = lua_touserdata(L, 1);
  int top = lua_gettop(L), ok;
  ok = json_push(L, (const char *)in->data, in->size);
  if (ok != 0 && ok != 1) fz_fail("json_push returned %d", ok);
  if (lua_gettop(L) != top + ok)
    fz_fail("json_push returned %d but the stack grew by %d", ok, lua_gettop(L) - top);
  if (ok) check_value(L, -1, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  lua_State *L = luaL_newstate();
  if (!L) abort();
  fz_pcall(L, run, &in, 0);
  lua_close(L);
  return 0;
}
