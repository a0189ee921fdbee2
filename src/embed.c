/* Embedding functions are Lua functions: the core calls them with a list of
 * documents and checks what comes back before anything is written. */
#include "marshal.h"
#include "seekdb.h"

/* Calls fn (any callable) with the list at docs, whose first item is item
 * `first` of the caller's list `what` ("documents", "query_texts"), and
 * writes one float32 vector of dim per text to out. 1 on success; 0 with a
 * message pushed that says which item and what was wrong. */
int embed_call(lua_State *L, int fn, int docs, const char *what, lua_Integer first, int dim, float *out) {
  lua_Integer m = (lua_Integer)lua_rawlen(L, docs), k, pos = 0;
  int res, status;
  lua_pushvalue(L, fn);
  lua_pushvalue(L, docs);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    lua_pushfstring(L, "embedding function failed on %s[%I..%I]: %s", what, first, first + m - 1,
                    msg ? msg : luaL_typename(L, -1));
    lua_remove(L, -2);
    return 0;
  }
  res = lua_gettop(L);
  if (lua_type(L, res) != LUA_TTABLE || (lua_Integer)lua_rawlen(L, res) != m) {
    lua_pushfstring(L, "embedding function returned %s for %s[%I..%I]: it must return a "
                       "list of %I vectors, one per text",
                    lua_type(L, res) == LUA_TTABLE ? lua_pushfstring(L, "%I vectors", (lua_Integer)lua_rawlen(L, res))
                                                   : luaL_typename(L, res),
                    what, first, first + m - 1, m);
    return 0;
  }
  for (k = 1; k <= m; k++) {
    lua_rawgeti(L, res, k);
    status = vec_read(L, -1, dim, out + (k - 1) * dim, &pos);
    lua_pop(L, 1);
    if (status == VEC_LENGTH) {
      lua_pushfstring(L, "embedding function returned a vector of %I numbers for %s[%I]; "
                         "the collection's dimension is %d", pos, what, first + k - 1, dim);
      return 0;
    }
    if (status != VEC_OK) {
      lua_pushfstring(L, "embedding function returned a bad vector for %s[%I]: it %s",
                      what, first + k - 1, vec_status_text(status));
      return 0;
    }
  }
  lua_settop(L, res - 1);
  return 1;
}

/* core.embedding_dimension(fn) -> dimension | nil, err: calls fn once on a
 * sample text to learn its dimension, as pyseekdb does when a collection is
 * created with an embedding function and no dimension. */
int embed_probe(lua_State *L) {
  lua_Integer dim;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  lua_createtable(L, 1, 0);
  lua_pushliteral(L, "seekdb");
  lua_rawseti(L, 2, 1);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushnil(L);
    lua_pushfstring(L, "embedding function failed on a sample text: %s",
                    lua_isstring(L, -2) ? lua_tostring(L, -2) : luaL_typename(L, -2));
    return 2;
  }
  if (lua_type(L, 3) == LUA_TTABLE) lua_rawgeti(L, 3, 1);
  else lua_pushnil(L);
  dim = lua_type(L, 4) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, 4) : 0;
  if (dim < 1 || dim > 4096) {
    lua_pushnil(L);
    lua_pushliteral(L, "embedding function did not return a list with one vector of 1 to 4096 "
                       "numbers for a sample text");
    return 2;
  }
  {
    float *scratch = lua_newuserdatauv(L, (size_t)dim * sizeof *scratch, 0);
    lua_Integer pos = 0;
    int status = vec_read(L, 4, (int)dim, scratch, &pos);
    if (status != VEC_OK) {
      lua_pushnil(L);
      lua_pushfstring(L, "embedding function returned a bad vector for a sample text: it %s",
                      vec_status_text(status));
      return 2;
    }
  }
  lua_pushinteger(L, dim);
  return 1;
}
