/* Collecting a write's items: Lua tables -> checked items.
 *
 * pyseekdb's shapes: ids is one id or a list; embeddings one vector or a
 * list; documents one string or a list; metadatas one table or a list; each
 * list as long as ids. Every item is checked before it is written; what the
 * batch keeps of it is its own (ids, documents and metadata JSON are copied
 * into the batch's arena, vectors become float32), so nothing the program
 * does with its tables meanwhile can reach memory the write still uses.
 *
 * Rows are written in the order of their ids (bytes), whatever the caller's
 * order: concurrent writers then take their row locks in the same order and
 * do not deadlock on each other. The sort is stable, so of an id given twice
 * the later item is written later, and wins, as in pyseekdb. Reading ids and
 * sorting them stop at the end of a slice and go on at the next call, like
 * collecting items, so a resumable call never holds its host for long. */
#include <stdlib.h>
#include <string.h>

#include "write.h"

static const char *const field_names[] = {"ids", "embeddings", "documents", "metadatas"};
#define FIELD_NAME(slot) field_names[(slot) - F_IDS]

/* How often a loop looks at the clock (a slice is a fraction of a ms). */
#define SLICE_CHECK 32

/* "ids[3]" for an item of a list, "ids" for a single value. Written to the
 * caller's buffer, not the Lua stack, so it can sit beside stack-relative
 * arguments in one call. */
static size_t label_to(char *buf, batch_t *b, int slot, lua_Integer i) {
  const char *name = FIELD_NAME(slot);
  size_t n = strlen(name);
  memcpy(buf, name, n);
  if (b->list[slot]) { /* no printf: metadata needs a label for every item */
    buf[n++] = '[';
    n += u64_digits(buf + n, (unsigned long long)(i + 1));
    buf[n++] = ']';
  }
  buf[n] = '\0';
  return n;
}

const char *field_label(char buf[48], batch_t *b, int slot, lua_Integer i) {
  label_to(buf, b, slot, i);
  return buf;
}

/* An item's id as text for a message (pushed: it lives on the stack). */
const char *id_text(lua_State *L, const item_t *it) {
  lua_pushlstring(L, it->id, it->idlen);
  return lua_tostring(L, -1);
}

/* Pushes item i (0-based) of the field in slot. */
void push_field_item(lua_State *L, batch_t *b, int slot, lua_Integer i) {
  if (b->list[slot]) lua_rawgeti(L, slot, i + 1);
  else lua_pushvalue(L, slot);
}

int fail_row_too_big(lua_State *L, op_t *op, batch_t *b, lua_Integer i, size_t bytes) {
  char lb[48];
  return op_fail(L, op, "%s: its row is %I bytes, more than one statement may carry (the server's "
                        "max_allowed_packet of %I bytes, less %d for the packet's header and the "
                        "statement around the row)",
                 field_label(lb, b, F_IDS, i), (lua_Integer)bytes, (lua_Integer)op->max_packet, PACKET_MARGIN);
}

/* ---- shapes and counts ---------------------------------------------------------- */

/* Is the field a list of items, or one item? -1 when absent, else its count. */
static lua_Integer field_count(lua_State *L, op_t *op, batch_t *b, int slot) {
  int t = lua_type(L, slot), first;
  lua_Integer n;
  b->list[slot] = 0;
  if (t == LUA_TNIL) return -1;
  if (isnull(L, slot) && slot != F_IDS) return 1;
  if (t == LUA_TSTRING && (slot == F_IDS || slot == F_DOC)) return 1;
  if (slot == F_EMB && t == LUA_TUSERDATA && vecobj_test(L, slot)) return 1; /* one seekdb.vector */
  if (t != LUA_TTABLE)
    op_argerror(L, op, 1, "%s must be %s, got %s", FIELD_NAME(slot),
                slot == F_IDS ? "a string or a list of strings"
                : slot == F_EMB ? "a vector or a list of vectors"
                : slot == F_DOC ? "a string or a list of strings"
                                : "a table or a list of tables",
                luaL_typename(L, slot));
  n = (lua_Integer)lua_rawlen(L, slot);
  lua_rawgeti(L, slot, 1);
  first = lua_type(L, -1);
  lua_pop(L, 1);
  /* one vector is a list of numbers; one metadata is a table with string keys */
  if (slot == F_EMB && first == LUA_TNUMBER) return 1;
  if (slot == F_META && !(n > 0 && (first == LUA_TTABLE || first == LUA_TLIGHTUSERDATA))) return 1;
  /* the quick look (a plain array passes at once); every key is looked at
   * by collect_keys, a slice at a time */
  if (!seq_exact(L, slot, n))
    op_argerror(L, op, 1, "%s must be a list with keys 1..n (no holes, no other keys)", FIELD_NAME(slot));
  /* a list of vectors holds tables: {"1", "2"} is not a vector of one id */
  if (slot == F_EMB && first != LUA_TTABLE && first != LUA_TLIGHTUSERDATA && first != LUA_TUSERDATA)
    op_argerror(L, op, 1, "embeddings[1] must be a list of numbers, got %s", lua_typename(L, first));
  b->list[slot] = 1;
  return n;
}

/* The fields' shapes and counts, and memory for the items. */
void collect_shape(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer n = field_count(L, op, b, F_IDS);
  int slot;
  if (n < 0) op_argerror(L, op, 1, "ids is required: an id or a list of ids");
  if (n == 0) op_fail(L, op, "ids is empty: pass at least one id");
  if (n > 0x7fffffff) op_fail(L, op, "ids has %I items: pass at most 2^31 - 1 in one call", n);
  b->n = b->count[F_IDS] = n;
  b->cols = 0;
  for (slot = F_EMB; slot <= F_META; slot++) {
    lua_Integer c = field_count(L, op, b, slot);
    if (c < 0) continue;
    b->count[slot] = c; /* one per id: collect_keys says so when it has looked at the keys */
    b->cols |= slot == F_EMB ? COL_EMB : slot == F_DOC ? COL_DOC : COL_META;
  }
  if (!b->cols)
    op_fail(L, op, "nothing to %s: pass embeddings, documents or metadatas with the ids", op->fname);
  if (b->mode == MODE_ADD && !(b->cols & (COL_EMB | COL_DOC)))
    op_fail(L, op, "add needs embeddings, or documents and an embedding function");
  if (!(b->items = calloc((size_t)n, sizeof *b->items)) || !(b->order = malloc((size_t)n * sizeof *b->order)) ||
      !(b->tmp = malloc((size_t)n * sizeof *b->tmp)))
    op_fail(L, op, "not enough memory for %I items", n);
  if ((b->cols & (COL_EMB | COL_DOC)) && !(b->vecs = malloc((size_t)n * b->dim * sizeof(float))))
    op_fail(L, op, "not enough memory for %I vectors", n);
  luaL_checkstack(L, 8, "upsert");
}

/* Every list has no keys but 1..n (what seq_exact_full checks), a slice at a
 * time: between steps, the key to go on from is on the stack's top. Then
 * each list must have one item per id. 1 when done, 0 at a slice's end. */
int collect_keys(lua_State *L, op_t *op, batch_t *b) {
  int slot;
  if (b->key_slot < F_IDS) b->key_slot = F_IDS;
  for (; b->key_slot <= F_LAST; b->key_slot++) {
    lua_Integer n = b->count[b->key_slot];
    slot = b->key_slot;
    if (!b->list[slot]) continue;
    if (!b->key_started) {
      lua_pushnil(L);
      b->key_started = 1;
    }
    while (lua_next(L, slot)) {
      lua_pop(L, 1);
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
        op_argerror(L, op, 1, "%s must be a list with keys 1..n (no holes, no other keys)", FIELD_NAME(slot));
      if (++b->keys_seen % 256 == 0 && op_slice_over(op)) return 0;
    }
    b->key_started = 0;
  }
  for (slot = F_EMB; slot <= F_LAST; slot++)
    if (b->count[slot] && b->count[slot] != b->n)
      op_fail(L, op, "%s has %I items but ids has %I: give one per id", FIELD_NAME(slot), b->count[slot], b->n);
  return 1;
}

/* ---- ids, and their order ----------------------------------------------------------- */

static const char *keep(lua_State *L, op_t *op, batch_t *b, const char *s, size_t len) {
  const char *copy = arena_put(&b->store, s, len ? len : 1);
  if (!copy) op_fail(L, op, "not enough memory for the items");
  return copy;
}

/* The id's first 8 bytes, big-endian (zeros after a shorter id): the sort's fast compare. */
static uint64_t id_key(const char *id, size_t len) {
  uint64_t key = 0;
  for (size_t k = 0; k < 8; k++) key = key << 8 | (k < len ? (unsigned char)id[k] : 0);
  return key;
}

static void read_id(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  char lb[48];
  item_t *it = &b->items[i];
  size_t max = op->dialect == DIALECT_MARIADB ? ID_MAX_MARIADB : ID_MAX_SEEKDB;
  const char *id;
  push_field_item(L, b, F_IDS, i);
  if (lua_type(L, -1) != LUA_TSTRING)
    op_argerror(L, op, 1, "%s must be a string, got %s", field_label(lb, b, F_IDS, i), luaL_typename(L, -1));
  id = lua_tolstring(L, -1, &it->idlen);
  if (it->idlen == 0) op_fail(L, op, "%s is an empty string", field_label(lb, b, F_IDS, i));
  if (it->idlen > max)
    op_fail(L, op, "%s is %I bytes long; a %s collection takes ids of at most %I bytes",
            field_label(lb, b, F_IDS, i), (lua_Integer)it->idlen, dialect_name(op->dialect), (lua_Integer)max);
  it->id = keep(L, op, b, id, it->idlen);
  lua_pop(L, 1);
  it->key = id_key(it->id, it->idlen);
}

/* Reads the ids (every one, before any item): 1 when done, 0 at a slice's end. */
int collect_ids(lua_State *L, op_t *op, batch_t *b) {
  while (b->ids_read < b->n) {
    read_id(L, op, b, b->ids_read);
    b->order[b->ids_read] = (uint32_t)b->ids_read;
    b->ids_read++;
    if (b->ids_read % SLICE_CHECK == 0 && op_slice_over(op)) return 0;
  }
  return 1;
}

/* Byte order of the ids; equal ids keep the caller's order (stable). */
static int id_before(const batch_t *b, uint32_t x, uint32_t y) {
  const item_t *p = &b->items[x], *q = &b->items[y];
  size_t n;
  int c;
  if (p->key != q->key) return p->key < q->key;
  n = p->idlen < q->idlen ? p->idlen : q->idlen;
  c = n > 8 ? memcmp(p->id + 8, q->id + 8, n - 8) : 0;
  if (c) return c < 0;
  if (p->idlen != q->idlen) return p->idlen < q->idlen;
  return x < y;
}

/* The byte order of an item's id against another id (<0, 0, >0). */
static int id_cmp(const item_t *p, const char *id, size_t len, uint64_t key) {
  size_t n = p->idlen < len ? p->idlen : len;
  int c;
  if (p->key != key) return p->key < key ? -1 : 1;
  c = n > 8 ? memcmp(p->id + 8, id + 8, n - 8) : 0;
  if (c) return c;
  return p->idlen == len ? 0 : p->idlen < len ? -1 : 1;
}

/* The first position in the sorted order whose item has this id, or -1. */
lua_Integer collect_find(batch_t *b, const char *id, size_t len) {
  uint64_t key = id_key(id, len);
  lua_Integer lo = 0, hi = b->n;
  while (lo < hi) {
    lua_Integer mid = lo + (hi - lo) / 2;
    if (id_cmp(&b->items[b->order[mid]], id, len, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < b->n && id_cmp(&b->items[b->order[lo]], id, len, key) == 0 ? lo : -1;
}

static void same_id_twice(lua_State *L, op_t *op, batch_t *b, uint32_t first, uint32_t second) {
  char lb[48];
  op_fail(L, op, "%s ('%s') is the same id as ids[%I]: add inserts each id once",
          field_label(lb, b, F_IDS, second), id_text(L, &b->items[second]), (lua_Integer)first + 1);
}

static int same_id(const item_t *p, const item_t *q) {
  return p->key == q->key && p->idlen == q->idlen && memcmp(p->id, q->id, p->idlen) == 0;
}

/* How many positions the sort handles between looks at the clock. */
#define SORT_CHECK 256

enum { SORT_CHECK_ORDER, SORT_MERGE, SORT_REPEATS, SORT_DONE };

static void merge_from(batch_t *b, lua_Integer lo) {
  lua_Integer n = b->n, w = b->sort_width;
  b->sort_pos = lo;
  b->sort_p = b->sort_k = lo;
  b->sort_q = lo + w < n ? lo + w : n;
}

/* A bottom-up merge sort of b->order, then a pass that finds ids given more
 * than once (adjacent now: an error for add, marked as repeats otherwise).
 * A slice at a time, each step's place kept in b (the pass's width, the
 * merge's positions), so that no step's work grows with the number of
 * items: 1 when done, 0 at a slice's end. */
int collect_sort(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer n = b->n, i;
  if (b->sort_stage == SORT_CHECK_ORDER) { /* already in order? (ids written in order often are) */
    for (i = b->sort_i > 1 ? b->sort_i : 1; i < n && !id_before(b, b->order[i], b->order[i - 1]); i++)
      if (i % SORT_CHECK == 0 && op_slice_over(op)) {
        b->sort_i = i + 1;
        return 0;
      }
    b->sort_i = 1;
    b->sort_stage = i >= n ? SORT_REPEATS : SORT_MERGE;
    b->sort_width = 1;
    merge_from(b, 0);
  }
  while (b->sort_stage == SORT_MERGE) {
    lua_Integer w = b->sort_width, lo = b->sort_pos;
    lua_Integer mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
    lua_Integer p = b->sort_p, q = b->sort_q, k = b->sort_k;
    const uint32_t *from = b->order;
    uint32_t *to = b->tmp;
    while (k < hi) {
      to[k++] = p < mid && (q >= hi || !id_before(b, from[q], from[p])) ? from[p++] : from[q++];
      if (k % SORT_CHECK == 0 && k < hi && op_slice_over(op)) {
        b->sort_p = p, b->sort_q = q, b->sort_k = k;
        return 0;
      }
    }
    if (hi < n) {
      merge_from(b, hi);
      if (hi % SORT_CHECK < 2 * w && op_slice_over(op)) return 0; /* short merges: look now and then */
      continue;
    }
    b->order = b->tmp; /* the pass is done: its output is the order */
    b->tmp = (uint32_t *)from;
    b->sort_width = 2 * w;
    merge_from(b, 0);
    if (b->sort_width >= n) b->sort_stage = SORT_REPEATS;
  }
  if (b->sort_stage == SORT_REPEATS) {
    for (i = b->sort_i > 1 ? b->sort_i : 1; i < n; i++) {
      item_t *p = &b->items[b->order[i - 1]], *q = &b->items[b->order[i]];
      if (same_id(p, q)) {
        if (b->mode == MODE_ADD) same_id_twice(L, op, b, b->order[i - 1], b->order[i]);
        q->repeat = 1; /* the sort is stable: the first of equal ids is the one given first */
      }
      if (i % SORT_CHECK == 0 && op_slice_over(op)) {
        b->sort_i = i + 1;
        return 0;
      }
    }
    b->sort_stage = SORT_DONE;
  }
  return 1;
}

/* ---- items ------------------------------------------------------------------------- */

static void collect_doc(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  char lb[48];
  item_t *it = &b->items[i];
  push_field_item(L, b, F_DOC, i);
  it->doc = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *doc = lua_tolstring(L, -1, &it->doclen);
    if (!utf8_valid(doc, it->doclen))
      op_fail(L, op, "%s is not valid UTF-8 text", field_label(lb, b, F_DOC, i));
    it->doc = keep(L, op, b, doc, it->doclen);
  } else if (!isnull(L, -1))
    op_argerror(L, op, 1, "%s must be a string or seekdb.null, got %s", field_label(lb, b, F_DOC, i),
                luaL_typename(L, -1));
  lua_pop(L, 1);
}

static void collect_vec(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  char lb[48];
  lua_Integer pos = 0;
  int status;
  push_field_item(L, b, F_EMB, i);
  b->items[i].vec_null = isnull(L, -1);
  if (b->items[i].vec_null) {
    if (op->dialect == DIALECT_MARIADB)
      op_fail(L, op, "%s is seekdb.null, but a MariaDB collection needs a vector in every row",
              field_label(lb, b, F_EMB, i));
    lua_pop(L, 1);
    return;
  }
  status = vec_read(L, -1, b->dim, b->vecs + i * b->dim, &pos);
  if (status != VEC_OK) {
    if (vec_message(L, -1, status, field_label(lb, b, F_EMB, i), pos, b->dim))
      op_argerror(L, op, 1, "%s", lua_tostring(L, -1));
    op_fail(L, op, "%s", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
}

static void collect_meta(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  item_t *it = &b->items[i];
  push_field_item(L, b, F_META, i);
  it->meta_null = isnull(L, -1);
  if (!it->meta_null) {
    b->json.pathlen = label_to(b->json.path, b, F_META, i);
    b->meta.len = 0;
    if (!meta_encode(L, -1, &b->json, &b->meta)) {
      if (b->json.misuse) op_argerror(L, op, 1, "%s", b->json.err);
      op_fail(L, op, "%s", b->json.err);
    }
    if (b->meta.oom || !(it->meta = arena_put(&b->store, b->meta.data, b->meta.len ? b->meta.len : 1)))
      op_fail(L, op, "not enough memory for the metadata");
    it->meta_len = b->meta.len;
  }
  lua_pop(L, 1);
}

/* The next item in writing order: checked, its vector as float32, its
 * metadata as JSON. Returns 0 when the slice is over afterwards. */
int collect_next(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer i = b->order[b->collected];
  if (b->cols & COL_DOC) collect_doc(L, op, b, i);
  if (b->cols & COL_EMB) collect_vec(L, op, b, i);
  if (b->cols & COL_META) collect_meta(L, op, b, i);
  b->collected++;
  return b->collected % SLICE_CHECK != 0 || !op_slice_over(op);
}

/* Collects up to position upto: 1 when there, 0 at a slice's end. */
int collect_upto(lua_State *L, op_t *op, batch_t *b, lua_Integer upto) {
  if (upto > b->n) upto = b->n;
  while (b->collected < upto)
    if (!collect_next(L, op, b) && b->collected < upto) return 0;
  return 1;
}
