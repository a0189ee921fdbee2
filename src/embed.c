/* Embedding functions are Lua functions. The runtime calls them (from C in
 * the blocking form, from Lua in a resumable call, where they may yield);
 * here is what is checked of them: what they returned, and what they raised. */
#include "marshal.h"
#include "seekdb.h"

/* Checks what the embedding function returned (at res) for m texts, item
 * `first` on of the caller's list `what` ("documents", "query_texts"), and
 * writes one float32 vector of dim per text to out. 1 on success; 0 with a
 * message pushed that says which item and what was wrong. */
int embed_check(lua_State *L, int res, lua_Integer m, const char *what, lua_Integer first, int dim, float *out) {
  lua_Integer k, pos = 0;
  int status;
  res = lua_absindex(L, res);
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
  return 1;
}

/* Text of an error value: a string, or what tostring (its __tostring) makes
 * of anything else, so that an error object raised as a table keeps its say. */
static const char *error_text(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
  if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
  return lua_pushfstring(L, "(an error value of type %s)", luaL_typename(L, idx));
}

/* The embedding function raised the value at idx for items first..last of
 * `what`: the call fails with what it said. */
int embed_failed(lua_State *L, op_t *op, int idx, const char *what, lua_Integer first, lua_Integer last) {
  const char *msg = error_text(L, idx);
  return op_fail(L, op, "embedding function failed on %s[%I..%I]: %s", what, first, last, msg);
}

/* core.embedding_dimension(vectors) -> dimension | nil, err: checks what an
 * embedding function returned for one sample text (the Lua layer called it,
 * as pyseekdb does when a collection is created with an embedding function
 * and no dimension) and says how wide its vectors are. */
int embed_probe(lua_State *L) {
  lua_Integer dim;
  lua_settop(L, 1);
  if (lua_type(L, 1) == LUA_TTABLE) lua_rawgeti(L, 1, 1);
  else lua_pushnil(L);
  dim = lua_type(L, 2) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, 2) : 0;
  if (lua_type(L, 2) == LUA_TUSERDATA && vecobj_test(L, 2)) dim = vecobj_test(L, 2)->dim;
  if (dim < 1 || dim > DIM_MAX_MARIADB) {
    lua_pushnil(L);
    lua_pushfstring(L, "embedding function did not return a list with one vector of 1 to %d "
                       "numbers for a sample text", DIM_MAX_MARIADB);
    return 2;
  }
  {
    float *scratch = lua_newuserdatauv(L, (size_t)dim * sizeof *scratch, 0);
    lua_Integer pos = 0;
    int status = vec_read(L, 2, (int)dim, scratch, &pos);
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

/* A query_texts list (a string is a list of one), checked for the embedding
 * function at slot ef: its length. name is the argument's name in messages,
 * alt what to pass instead when there is no embedding function. */
lua_Integer embed_texts_check(lua_State *L, op_t *op, int slot, int ef, const char *name, const char *alt) {
  lua_Integer i, n;
  if (lua_type(L, slot) == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, slot);
    lua_rawseti(L, -2, 1);
    lua_replace(L, slot);
  }
  if (lua_type(L, slot) != LUA_TTABLE)
    op_argerror(L, op, 1, "%s must be a string or a list of strings, got %s", name, luaL_typename(L, slot));
  n = (lua_Integer)lua_rawlen(L, slot);
  if (!seq_exact_full(L, slot, n)) op_argerror(L, op, 1, "%s must be a list with keys 1..n", name);
  if (n == 0) op_fail(L, op, "%s is empty", name);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, slot, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      op_argerror(L, op, 1, "%s[%I] must be a string, got %s", name, i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  if (lua_isnil(L, ef))
    op_fail(L, op, "%s need the collection's embedding function, and it has none: "
                   "pass %s, or give the collection an embedding_function", name, alt);
  return n;
}
