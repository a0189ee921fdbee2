/* libFuzzer target: vector unpacking and packing (src/vector.c).
 *
 * The first byte picks the dimension (1..64); the rest is what a server could
 * send for an embedding column: float32 bytes (MariaDB) or text "[1,2,3]"
 * (seekdb). It goes to vec_parse_text (into a buffer of exactly dim floats, so
 * ASan sees any write past it) and to vec_push, and what comes back is packed
 * again with vec_read and vec_addhex. Checked, besides ASan/UBSan:
 *   - vec_push pushes one table of dim numbers when it returns 1, nothing
 *     when it returns 0; it never raises;
 *   - text it accepts is exactly what vec_parse_text accepts, with the same
 *     numbers;
 *   - bytes of length 4*dim that are not such text always decode, and
 *     vec_read + vec_addhex give the same bytes back (NaN aside: its payload
 *     may change going through a double);
 *   - vec_read says VEC_NONFINITE at the first NaN/inf and VEC_OK otherwise.
 * And the decoders of seekdb.vector (src/vecobj.c), on the same input:
 *   - vecobj_push accepts exactly what vec_push accepts, and its floats are
 *     the numbers of vec_push's table (bit for bit, NaN as NaN);
 *   - vec_from_bytes gives the bytes' floats and stops at the first NaN/inf;
 *   - seekdb.vector(rest) raises when the length is not 1..65535 float32s,
 *     returns nil, err exactly when a float is NaN/inf, else a vector whose
 *     bytes are the input; vec_read of it gives the same floats (one memcpy),
 *     or VEC_LENGTH for another dimension. */
#include <math.h>

#include "common.h"
#include "../src/marshal.h"

typedef struct {
  const uint8_t *data;
  size_t size;
} input_t;

/* The same floats, bit for bit (a NaN's payload may change through a double:
 * NaN matches NaN). */
static int same_float(float a, float b) {
  return isnan(a) ? isnan(b) : memcmp(&a, &b, 4) == 0;
}

static int ctor(lua_State *L) {
  lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
  lua_replace(L, 1);
  lua_settop(L, 1);
  return vecobj_ctor(L);
}

static void check_vecobj(lua_State *L, const char *rest, size_t len, int dim, int pushed) {
  int top = lua_gettop(L), obj, first_bad = 0, status;
  size_t n = len / 4;
  lua_Integer pos = 0;
  float *f = malloc(n ? n * sizeof *f : 1);
  if (!f) abort();
  /* vecobj_push against vec_push (whose table, when it made one, is on top) */
  obj = vecobj_push(L, rest, len, dim, 1);
  if (obj != pushed) fz_fail("vecobj_push returned %d, vec_push %d", obj, pushed);
  if (lua_gettop(L) != top + obj) fz_fail("vecobj_push returned %d but the stack grew by %d", obj, lua_gettop(L) - top);
  if (obj) {
    vecobj_t *v = vecobj_test(L, -1);
    if (!v || v->dim != dim) fz_fail("vecobj_push pushed something other than a vector of %d", dim);
    for (int i = 0; i < dim; i++) {
      lua_rawgeti(L, -2, i + 1);
      if (!same_float(v->f[i], (float)lua_tonumber(L, -1)))
        fz_fail("item %d: vecobj_push gave %g, vec_push %g", i + 1, v->f[i], lua_tonumber(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  /* vec_from_bytes on the whole float32s of the input */
  status = vec_from_bytes(rest, n * 4, f, &pos);
  for (size_t i = 0; i < n; i++) {
    float g;
    memcpy(&g, rest + 4 * i, 4);
    if (!isfinite(g) && !first_bad) first_bad = (int)i + 1;
    if (!first_bad && !same_float(f[i], g)) fz_fail("vec_from_bytes: float %zu differs", i + 1);
  }
  if (first_bad ? status != VEC_NONFINITE || pos != first_bad : status != VEC_OK)
    fz_fail("vec_from_bytes: status %d at %lld, first NaN/inf at %d", status, (long long)pos, first_bad);
  /* seekdb.vector(rest) */
  lua_pushcfunction(L, ctor);
  lua_pushlightuserdata(L, (void *)rest);
  lua_pushinteger(L, (lua_Integer)len);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
    if (len % 4 == 0 && n >= 1 && n <= DIM_MAX_ANY) fz_fail("seekdb.vector raised for %zu bytes: %s", len, lua_tostring(L, -1));
    if (!strstr(lua_tostring(L, -1), "bytes")) fz_fail("seekdb.vector's error does not name the length: %s", lua_tostring(L, -1));
  } else if (lua_isnil(L, -2)) {
    if (!first_bad) fz_fail("seekdb.vector refused finite float32s: %s", lua_tostring(L, -1));
  } else {
    vecobj_t *v = vecobj_test(L, -2);
    char *back;
    if (len % 4 != 0 || n == 0) fz_fail("seekdb.vector accepted %zu bytes", len);
    if (first_bad) fz_fail("seekdb.vector accepted a NaN/inf at float %d", first_bad);
    if (!v || (size_t)v->dim != n) fz_fail("seekdb.vector made something other than %zu floats", n);
    if (!(back = malloc(len))) abort();
    vec_to_bytes(v->f, v->dim, back);
    if (memcmp(back, rest, len) != 0) fz_fail("seekdb.vector's bytes are not its input");
    free(back);
    status = vec_read(L, -2, (int)n, f, &pos);
    if (status != VEC_OK || memcmp(f, v->f, len) != 0) fz_fail("vec_read of a vector: status %d", status);
    status = vec_read(L, -2, dim, f, &pos);
    if ((size_t)dim != n && (status != VEC_LENGTH || pos != (lua_Integer)n))
      fz_fail("vec_read of a vector of %zu for dim %d: status %d, pos %lld", n, dim, status, (long long)pos);
  }
  lua_settop(L, top);
  free(f);
}

static int run(lua_State *L) {
  input_t *in = lua_touserdata(L, 1);
  int dim = in->data[0] % 64 + 1, text_ok, pushed, top = lua_gettop(L), status;
  const char *rest = (const char *)in->data + 1;
  size_t len = in->size - 1;
  float *parsed = malloc((size_t)dim * sizeof *parsed);
  float *read = malloc((size_t)dim * sizeof *read);
  lua_Integer pos = -1;
  if (!parsed || !read) abort();

  text_ok = vec_parse_text(rest, len, parsed, dim);
  if (text_ok != 0 && text_ok != 1) fz_fail("vec_parse_text returned %d", text_ok);
  if (text_ok && memchr(rest, '[', len) == NULL) fz_fail("vec_parse_text accepted text without a '['");

  pushed = vec_push(L, rest, len, dim, 1);
  if (pushed != 0 && pushed != 1) fz_fail("vec_push returned %d", pushed);
  if (lua_gettop(L) != top + pushed)
    fz_fail("vec_push returned %d but the stack grew by %d", pushed, lua_gettop(L) - top);
  check_vecobj(L, rest, len, dim, pushed);
  if (!pushed) {
    /* nothing decodes only when it is neither text nor float32 bytes */
    if (len == (size_t)dim * 4) fz_fail("vec_push refused %zu bytes for dim %d", len, dim);
    if (text_ok && rest[0] == '[') fz_fail("vec_push refused text that vec_parse_text accepts");
    goto done;
  }
  if (!lua_istable(L, -1) || (lua_Integer)lua_rawlen(L, -1) != dim)
    fz_fail("vec_push pushed something other than a list of %d items", dim);

  status = vec_read(L, -1, dim, read, &pos);
  if (text_ok && rest[0] == '[') {
    /* the text path: the same numbers as vec_parse_text */
    for (int i = 0; i < dim; i++) {
      lua_rawgeti(L, -1, i + 1);
      if ((float)lua_tonumber(L, -1) != parsed[i] && !(isnan(parsed[i]) && isnan(lua_tonumber(L, -1))))
        fz_fail("item %d: vec_push gave %g, vec_parse_text %g", i + 1, lua_tonumber(L, -1), parsed[i]);
      lua_pop(L, 1);
    }
  } else {
    /* the binary path: it must have been exactly dim float32s */
    int first_bad = 0, has_nan = 0;
    if (len != (size_t)dim * 4) fz_fail("vec_push decoded %zu bytes as %d float32s", len, dim);
    for (int i = 0; i < dim; i++) {
      float f;
      memcpy(&f, rest + 4 * i, 4);
      if (!isfinite(f) && !first_bad) first_bad = i + 1;
      if (isnan(f)) has_nan = 1;
    }
    if (first_bad) {
      if (status != VEC_NONFINITE || pos != first_bad)
        fz_fail("vec_read: status %d at %lld, expected VEC_NONFINITE at %d", status, (long long)pos, first_bad);
    } else if (status != VEC_OK)
      fz_fail("vec_read refused finite float32s: %s (item %lld)", vec_status_text(status), (long long)pos);
    if (status == VEC_OK && !has_nan) {
      sbuf b = SBUF_INIT, want = SBUF_INIT;
      vec_addhex(&b, read, dim);
      sb_addhex(&want, rest, len);
      if (b.oom || want.oom) abort();
      if (b.len != want.len || memcmp(b.data, want.data, b.len) != 0) {
        fz_dump("vec_addhex", b.data, b.len);
        fz_dump("expected", want.data, want.len);
        fz_fail("float32 bytes do not survive vec_push + vec_read + vec_addhex");
      }
      sb_free(&b);
      sb_free(&want);
    }
  }
  if (status == VEC_OK) {
    /* vec_read must give what the table holds */
    for (int i = 0; i < dim; i++) {
      lua_rawgeti(L, -1, i + 1);
      if (read[i] != (float)lua_tonumber(L, -1)) fz_fail("vec_read item %d differs", i + 1);
      lua_pop(L, 1);
    }
  }
done:
  free(parsed);
  free(read);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  lua_State *L;
  if (size < 1) return 0;
  L = luaL_newstate();
  if (!L) abort();
  fz_pcall(L, run, &in, 0);
  lua_close(L);
  return 0;
}
