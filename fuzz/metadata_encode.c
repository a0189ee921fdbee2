/* libFuzzer target: metadata JSON encoding (meta_encode and json_encode in
 * src/json.c), what upsert writes into the metadata column.
 *
 * The input is decoded with json_push; the value it gives (if any) is
 * encoded with json_encode and, when it is a table, with meta_encode. Checked,
 * besides ASan/UBSan/LeakSanitizer (the cJSON tree must be freed on every
 * path):
 *   - whether encoding succeeds is what an independent check of the value
 *     predicts: every string valid UTF-8 (checked here, not with the module's
 *     utf8_valid), no key with a NUL byte, every number finite, at most 32
 *     levels of tables; meta_encode also wants an object, never a list;
 *   - the text is valid UTF-8 with no raw control byte and cJSON parses it;
 *   - the round trip is stable: json_push(text) succeeds and encoding that
 *     again gives the very same bytes (keys are written sorted, so the text is
 *     deterministic);
 *   - meta_encode writes the same bytes as json_encode. */
#include <math.h>

#include <cJSON.h>

#include "common.h"
#include "../src/marshal.h"

#define MAX_DEPTH 32 /* src/json.c: JSON_MAX_DEPTH (MariaDB's JSON_VALID limit) */

typedef struct {
  const uint8_t *data;
  size_t size;
  jenc j;
  sbuf e1, e2, e3;
} state_t;

static int my_utf8(const char *str, size_t n) {
  static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i], cp;
    size_t k;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; }
    else return 0;
    if (n - i < k + 1) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += k + 1;
  }
  return 1;
}

/* Can the value at idx (which json_push built) be encoded? */
static int encodable(lua_State *L, int idx, int depth) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return lua_isinteger(L, idx) || isfinite(lua_tonumber(L, idx));
    case LUA_TBOOLEAN: case LUA_TLIGHTUSERDATA: return 1;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return my_utf8(s, n);
    }
    case LUA_TTABLE: {
      int ok = depth < MAX_DEPTH;
      luaL_checkstack(L, 4, "encodable");
      lua_pushnil(L);
      while (ok && lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
          size_t n;
          const char *k = lua_tolstring(L, -2, &n);
          ok = my_utf8(k, n) && !memchr(k, '\0', n);
        }
        ok = ok && encodable(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      if (!ok) lua_pop(L, 1); /* the key lua_next left */
      return ok;
    }
  }
  return 0;
}

static int is_object(lua_State *L, int idx) {
  int obj = 1;
  lua_pushnil(L);
  if (lua_next(L, idx)) {
    obj = lua_type(L, -2) == LUA_TSTRING; /* json_push never mixes the two */
    lua_pop(L, 2);
  }
  return obj;
}

static void reset_jenc(jenc *j) {
  memset(j, 0, sizeof *j);
  strcpy(j->path, "metadatas[1]");
  j->pathlen = strlen(j->path);
}

static void check_failed(jenc *j, const char *fn) {
  if (j->root) fz_fail("%s failed and left its cJSON tree behind", fn);
  if (!memchr(j->err, '\0', sizeof j->err)) fz_fail("%s: the error text is not terminated", fn);
  if (strlen(j->err) <= j->pathlen) fz_fail("%s failed without saying why", fn);
}

static int run(lua_State *L) {
  state_t *st = lua_touserdata(L, 1);
  int v, ok1, ok3, expect;
  cJSON *parsed;
  if (!json_push(L, (const char *)st->data, st->size)) return 0;
  v = lua_gettop(L);
  expect = encodable(L, v, 0);

  reset_jenc(&st->j);
  ok1 = json_encode(L, v, &st->j, &st->e1);
  if (lua_gettop(L) != v) fz_fail("json_encode changed the stack by %d", lua_gettop(L) - v);
  if (st->e1.oom) abort();
  if (ok1 != expect) {
    fz_dump("error", st->j.err, strlen(st->j.err));
    fz_fail("json_encode %s a value that %s be encoded", ok1 ? "accepted" : "refused",
            expect ? "can" : "cannot");
  }
  if (!ok1) check_failed(&st->j, "json_encode");
  else {
    if (st->j.root) fz_fail("json_encode succeeded and left its cJSON tree behind");
    if (!my_utf8(st->e1.data, st->e1.len)) fz_fail("json_encode wrote invalid UTF-8");
    for (size_t i = 0; i < st->e1.len; i++)
      if ((unsigned char)st->e1.data[i] < 0x20) {
        fz_dump("json", st->e1.data, st->e1.len);
        fz_fail("json_encode wrote a raw control byte at %zu", i);
      }
    parsed = cJSON_ParseWithLength(st->e1.data, st->e1.len);
    if (!parsed) {
      fz_dump("json", st->e1.data, st->e1.len);
      fz_fail("cJSON cannot parse what json_encode wrote");
    }
    cJSON_Delete(parsed);

    /* decode(encode(x)) encodes to the same bytes */
    if (!json_push(L, st->e1.data, st->e1.len)) {
      fz_dump("json", st->e1.data, st->e1.len);
      fz_fail("json_push cannot read what json_encode wrote");
    }
    reset_jenc(&st->j);
    if (!json_encode(L, -1, &st->j, &st->e2)) {
      fz_dump("json", st->e1.data, st->e1.len);
      fz_fail("json_encode refused its own output read back: %s", st->j.err);
    }
    if (st->e1.len != st->e2.len || memcmp(st->e1.data, st->e2.data, st->e1.len) != 0) {
      fz_dump("first ", st->e1.data, st->e1.len);
      fz_dump("second", st->e2.data, st->e2.len);
      fz_fail("the round trip is not stable: encode(decode(encode(x))) != encode(x)");
    }
    lua_pop(L, 1);
  }

  if (lua_type(L, v) == LUA_TTABLE) {
    int obj = is_object(L, v);
    reset_jenc(&st->j);
    ok3 = meta_encode(L, v, &st->j, &st->e3);
    if (lua_gettop(L) != v) fz_fail("meta_encode changed the stack by %d", lua_gettop(L) - v);
    if (ok3 != (ok1 && obj))
      fz_fail("meta_encode %s a %s that json_encode %s", ok3 ? "accepted" : "refused",
              obj ? "object" : "list", ok1 ? "accepted" : "refused");
    if (!ok3) {
      check_failed(&st->j, "meta_encode");
      if (!obj && !st->j.misuse) fz_fail("meta_encode refused a list but not as a wrong type");
    } else if (st->e3.len != st->e1.len || memcmp(st->e3.data, st->e1.data, st->e1.len) != 0)
      fz_fail("meta_encode and json_encode wrote different text");
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  state_t st;
  lua_State *L = luaL_newstate();
  if (!L) abort();
  memset(&st, 0, sizeof st);
  st.data = data;
  st.size = size;
  fz_pcall(L, run, &st, 0);
  cJSON_Delete(st.j.root);
  sb_free(&st.e1);
  sb_free(&st.e2);
  sb_free(&st.e3);
  lua_close(L);
  return 0;
}
