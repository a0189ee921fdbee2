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
 *   - vec_read says VEC_NONFINITE at the first NaN/inf and VEC_OK otherwise. */
#include <math.h>

#include "common.h"
#include "../src/marshal.h"

typedef struct {
  const uint8_t *data;
  size_t size;
} input_t;

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
