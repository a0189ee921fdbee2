/* collection:upsert, add and update: Lua tables -> batched, atomic INSERTs.
 *
 * pyseekdb's semantics (one id or a list; an existing id is updated in the
 * given fields only, a new one is inserted; documents without embeddings go
 * through the embedding function; the same id twice: the last wins), done in
 * three steps:
 *   1. collect: check every item and gather ids, documents, vectors (as
 *      float32) and metadata (as JSON) before any SQL;
 *   2. embed:   documents without vectors go to the Lua embedding function in
 *      chunks, and what it returns is checked;
 *   3. write:   in one transaction, as few multi-row statements as the
 *      server's max_allowed_packet allows. Any failure rolls back (op_run).
 * On MariaDB's bulk protocol, an upsert or add of more than BULK_ROWS items
 * with vectors is pipelined: the first BULK_ROWS items are collected before
 * any SQL, the others while the server writes the rows before them
 * (sender.c). A bad item among those fails the call after some SQL was
 * sent, and the rollback still leaves nothing written. The client option
 * pipeline = false has every item checked before any SQL.
 * add is the same with a plain INSERT (an id that exists, or comes twice, is
 * an error); update first finds which ids exist (locked, FOR UPDATE), writes
 * only those, and returns the others.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "marshal.h"
#include "seekdb.h"

enum { COL_DOC = 1, COL_EMB = 2, COL_META = 4 };
enum { MODE_UPSERT, MODE_ADD, MODE_UPDATE };

/* Stack slots of the body: the method's arguments, then the fields of args,
 * then the ids seen so far (add). */
enum { A_TABLE = 2, A_DIM = 3, A_ARGS = 4, A_EF = 5, A_CHUNK = 6,
       F_IDS = 7, F_EMB, F_DOC, F_META, F_LAST = F_META, S_SEEN };

typedef struct item {
  const char *id, *doc; /* point into strings held by the args table; doc NULL: SQL NULL */
  size_t idlen, doclen;
  const char *meta;     /* its JSON, in the batch's arena; meta_null: SQL NULL */
  size_t meta_len;
  unsigned char meta_null, vec_null;
  unsigned char skip; /* update: the id is not in the collection */
} item_t;

typedef struct batch {
  int mode;
  lua_Integer n;
  int dim;
  int cols;           /* the columns the call sets */
  int list[F_LAST + 1]; /* per field slot: a list (1) or a single value (0) */
  item_t *items;
  float *vecs;        /* n * dim */
  float *zero;        /* see write_rows: MariaDB's NOT NULL placeholder */
  lua_Integer collected; /* items 0..collected-1 are checked and marshalled */
  sbuf meta;          /* one item's metadata JSON, then copied to metas */
  arena metas;        /* every item's metadata JSON: it does not move while sent */
  jenc json;          /* its tree is freed here if encoding is cut short */
  struct bulk *bulk;  /* MariaDB's bulk protocol, when the server has it */
  const char *table;  /* the collection's table, checked */
} batch_t;

/* Column-wise array binding (MariaDB Connector/C): per column an array of
 * pointers into the batch's own memory, lengths and NULL indicators. Two
 * sets of them: one is being sent while the other is filled. */
#define BULK_ROWS 1000
typedef struct bulk {
  MYSQL_STMT *stmt;
  sender_t send;
  MYSQL_BIND bind[2][4];
  const void *ptr[2][4][BULK_ROWS];
  unsigned long len[2][4][BULK_ROWS];
  char ind[2][4][BULK_ROWS];
} bulk_t;

static void bulk_free(bulk_t *k) {
  sender_wait(&k->send); /* the thread may still be using the statement */
  if (k->stmt) mysql_stmt_close(k->stmt);
  free(k);
}

static void batch_release(void *p) {
  batch_t *b = p;
  if (b->bulk) bulk_free(b->bulk);
  free(b->items);
  free(b->vecs);
  free(b->zero);
  sb_free(&b->meta);
  arena_free(&b->metas);
  cJSON_Delete(b->json.root);
}

static const char *const field_names[] = {"ids", "embeddings", "documents", "metadatas"};
#define FIELD_NAME(slot) field_names[(slot) - F_IDS]

/* "ids[3]" for an item of a list, "ids" for a single value. Written to the
 * caller's buffer, not the Lua stack, so it can sit beside stack-relative
 * arguments in one call. */
typedef char label_t[48];
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

static const char *label(label_t buf, batch_t *b, int slot, lua_Integer i) {
  label_to(buf, b, slot, i);
  return buf;
}

/* Pushes item i (0-based) of the field in slot. */
static void push_item(lua_State *L, batch_t *b, int slot, lua_Integer i) {
  if (b->list[slot]) lua_rawgeti(L, slot, i + 1);
  else lua_pushvalue(L, slot);
}

/* ---- 1. shapes and counts ---------------------------------------------------- */

/* Is the field a list of items, or one item? -1 when absent, else its count. */
static lua_Integer field_count(lua_State *L, op_t *op, batch_t *b, int slot) {
  int t = lua_type(L, slot), first;
  lua_Integer n;
  b->list[slot] = 0;
  if (t == LUA_TNIL) return -1;
  if (isnull(L, slot) && slot != F_IDS) return 1;
  if (t == LUA_TSTRING && (slot == F_IDS || slot == F_DOC)) return 1;
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
  if (!seq_exact_full(L, slot, n))
    op_argerror(L, op, 1, "%s must be a list with keys 1..n (no holes, no other keys)", FIELD_NAME(slot));
  /* a list of vectors holds tables: {"1", "2"} is not a vector of one id */
  if (slot == F_EMB && first != LUA_TTABLE && first != LUA_TLIGHTUSERDATA)
    op_argerror(L, op, 1, "embeddings[1] must be a list of numbers, got %s", lua_typename(L, first));
  b->list[slot] = 1;
  return n;
}

static void check_counts(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer n = field_count(L, op, b, F_IDS);
  int slot;
  if (n < 0) op_argerror(L, op, 1, "ids is required: an id or a list of ids");
  if (n == 0) op_fail(L, op, "ids is empty: pass at least one id");
  b->n = n;
  b->cols = 0;
  for (slot = F_EMB; slot <= F_META; slot++) {
    lua_Integer c = field_count(L, op, b, slot);
    if (c < 0) continue;
    if (c != n)
      op_fail(L, op, "%s has %I items but ids has %I: give one per id", FIELD_NAME(slot), c, n);
    b->cols |= slot == F_EMB ? COL_EMB : slot == F_DOC ? COL_DOC : COL_META;
  }
}

/* ---- 1. items ------------------------------------------------------------------ */

static void collect_id(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  label_t lb;
  item_t *it = &b->items[i];
  size_t max = op->dialect == DIALECT_MARIADB ? 254 : 512;
  push_item(L, b, F_IDS, i);
  if (lua_type(L, -1) != LUA_TSTRING)
    op_argerror(L, op, 1, "%s must be a string, got %s", label(lb, b, F_IDS, i), luaL_typename(L, -1));
  it->id = lua_tolstring(L, -1, &it->idlen);
  lua_pop(L, 1);
  if (it->idlen == 0) op_fail(L, op, "%s is an empty string", label(lb, b, F_IDS, i));
  if (it->idlen > max)
    op_fail(L, op, "%s is %I bytes long; a %s collection takes ids of at most %I bytes",
            label(lb, b, F_IDS, i), (lua_Integer)it->idlen, dialect_name(op->dialect), (lua_Integer)max);
  if (b->mode == MODE_ADD) {
    lua_pushlstring(L, it->id, it->idlen);
    if (lua_rawget(L, S_SEEN) != LUA_TNIL)
      op_fail(L, op, "%s ('%s') is the same id as ids[%I]: add inserts each id once",
              label(lb, b, F_IDS, i), it->id, lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_pushlstring(L, it->id, it->idlen);
    lua_pushinteger(L, i + 1);
    lua_rawset(L, S_SEEN);
  }
}

static void collect_doc(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  label_t lb;
  item_t *it = &b->items[i];
  push_item(L, b, F_DOC, i);
  it->doc = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    it->doc = lua_tolstring(L, -1, &it->doclen);
    if (!utf8_valid(it->doc, it->doclen))
      op_fail(L, op, "%s is not valid UTF-8 text", label(lb, b, F_DOC, i));
  } else if (!isnull(L, -1))
    op_argerror(L, op, 1, "%s must be a string or seekdb.null, got %s", label(lb, b, F_DOC, i),
                luaL_typename(L, -1));
  lua_pop(L, 1);
}

static void collect_vec(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  label_t lb;
  lua_Integer pos = 0;
  int status;
  push_item(L, b, F_EMB, i);
  b->items[i].vec_null = isnull(L, -1);
  if (b->items[i].vec_null) {
    if (op->dialect == DIALECT_MARIADB)
      op_fail(L, op, "%s is seekdb.null, but a MariaDB collection needs a vector in every row",
              label(lb, b, F_EMB, i));
    lua_pop(L, 1);
    return;
  }
  status = vec_read(L, -1, b->dim, b->vecs + i * b->dim, &pos);
  switch (status) {
    case VEC_OK: break;
    case VEC_NOTTABLE:
      op_argerror(L, op, 1, "%s must be a list of numbers, got %s", label(lb, b, F_EMB, i),
                  luaL_typename(L, -1));
      break;
    case VEC_NOTNUM:
      lua_rawgeti(L, -1, pos);
      op_argerror(L, op, 1, "%s[%I] must be a number, got %s", label(lb, b, F_EMB, i), pos,
                  luaL_typename(L, -1));
      break;
    case VEC_LENGTH:
      op_fail(L, op, "%s has %I numbers; the collection's dimension is %d", label(lb, b, F_EMB, i),
              pos, b->dim);
      break;
    case VEC_EXTRA:
      op_argerror(L, op, 1, "%s has keys besides 1..%d: a vector is a plain list of numbers",
                  label(lb, b, F_EMB, i), b->dim);
      break;
    default:
      op_fail(L, op, "%s[%I] is %s", label(lb, b, F_EMB, i), pos,
              status == VEC_NONFINITE ? "NaN or infinite" : "too large for a float32");
  }
  lua_pop(L, 1);
}

static void collect_meta(lua_State *L, op_t *op, batch_t *b, lua_Integer i) {
  item_t *it = &b->items[i];
  push_item(L, b, F_META, i);
  it->meta_null = isnull(L, -1);
  if (!it->meta_null) {
    b->json.pathlen = label_to(b->json.path, b, F_META, i);
    b->meta.len = 0;
    if (!meta_encode(L, -1, &b->json, &b->meta)) {
      if (b->json.misuse) op_argerror(L, op, 1, "%s", b->json.err);
      op_fail(L, op, "%s", b->json.err);
    }
    if (b->meta.oom || !(it->meta = arena_put(&b->metas, b->meta.data, b->meta.len)))
      op_fail(L, op, "not enough memory for the metadata");
    it->meta_len = b->meta.len;
  }
  lua_pop(L, 1);
}

/* Step 1's start: the fields' shapes and counts, and memory for the items. */
static void collect_begin(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer n = b->n;
  check_counts(L, op, b);
  if (b->n != n && n != 0)
    op_fail(L, op, "the input tables changed while the embedding function ran");
  if (!b->items && !(b->items = calloc((size_t)b->n, sizeof *b->items)))
    op_fail(L, op, "not enough memory for %I items", b->n);
  if ((b->cols & COL_EMB) && !b->vecs && !(b->vecs = malloc((size_t)b->n * b->dim * sizeof(float))))
    op_fail(L, op, "not enough memory for %I vectors", b->n);
  arena_free(&b->metas);
  b->collected = 0;
  lua_newtable(L);
  lua_replace(L, S_SEEN);
  luaL_checkstack(L, 8, "upsert");
}

/* The next item: checked, its vector as float32, its metadata as JSON. */
static void collect_next(lua_State *L, op_t *op, batch_t *b) {
  lua_Integer i = b->collected;
  collect_id(L, op, b, i);
  if (b->cols & COL_DOC) collect_doc(L, op, b, i);
  if (b->cols & COL_EMB) collect_vec(L, op, b, i);
  if (b->cols & COL_META) collect_meta(L, op, b, i);
  b->collected = i + 1;
}

/* Step 1's end: the items not collected yet, then what needs them all. */
static void collect_rest(lua_State *L, op_t *op, batch_t *b) {
  while (b->collected < b->n) collect_next(L, op, b);
  if (!b->cols)
    op_fail(L, op, "nothing to %s: pass embeddings, documents or metadatas with the ids", op->fname);
  if (b->mode == MODE_ADD && !(b->cols & (COL_EMB | COL_DOC)))
    op_fail(L, op, "add needs embeddings, or documents and an embedding function");
}

/* Step 1 whole, also run again after the embedding function (which could
 * have changed the input tables while it ran). */
static void collect(lua_State *L, op_t *op, batch_t *b) {
  collect_begin(L, op, b);
  collect_rest(L, op, b);
}

/* ---- 2. embedding -------------------------------------------------------------- */

static void embed_documents(lua_State *L, op_t *op, batch_t *b, lua_Integer chunk) {
  label_t lb;
  lua_Integer s, k;
  if (lua_isnil(L, A_EF))
    op_fail(L, op, "documents were given without embeddings and the collection has no embedding "
                   "function: pass embeddings = {...}, or give the collection an embedding_function");
  if (!(b->vecs = malloc((size_t)b->n * b->dim * sizeof(float))))
    op_fail(L, op, "not enough memory for %I vectors", b->n);
  for (s = 0; s < b->n; s += chunk) {
    lua_Integer m = b->n - s < chunk ? b->n - s : chunk;
    lua_createtable(L, (int)m, 0);
    for (k = 0; k < m; k++) {
      if (!b->items[s + k].doc)
        op_fail(L, op, "%s is seekdb.null, so there is no text to embed: pass embeddings for it",
                label(lb, b, F_DOC, s + k));
      push_item(L, b, F_DOC, s + k);
      lua_rawseti(L, -2, k + 1);
    }
    if (!embed_call(L, A_EF, lua_gettop(L), "documents", s + 1, b->dim, b->vecs + s * b->dim))
      op_fail(L, op, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  for (k = 0; k < b->n; k++) b->items[k].vec_null = 0;
}

/* ---- 3. writing ---------------------------------------------------------------- */

static void add_row(op_t *op, batch_t *b, lua_Integer i, int cols) {
  sbuf *s = &op->sql;
  item_t *it = &b->items[i];
  sb_addc(s, '(');
  sb_addhex(s, it->id, it->idlen);
  if (cols & COL_DOC) {
    sb_addc(s, ',');
    if (it->doc) sb_addquoted(s, it->doc, it->doclen, op->no_backslash);
    else sb_adds(s, "NULL");
  }
  if (cols & COL_EMB) {
    sb_addc(s, ',');
    if (b->zero) vec_addhex(s, b->zero, b->dim);
    else if (it->vec_null) sb_adds(s, "NULL");
    else vec_addhex(s, b->vecs + i * b->dim, b->dim);
  }
  if (cols & COL_META) {
    sb_addc(s, ',');
    if (it->meta_null) sb_adds(s, "NULL");
    else sb_addquoted(s, it->meta, it->meta_len, op->no_backslash);
  }
  sb_addc(s, ')');
}

static void add_head(sbuf *s, const char *table, int cols) {
  sb_adds(s, "INSERT INTO ");
  sb_addident(s, table);
  sb_adds(s, " (_id");
  if (cols & COL_DOC) sb_adds(s, ",document");
  if (cols & COL_EMB) sb_adds(s, ",embedding");
  if (cols & COL_META) sb_adds(s, ",metadata");
  sb_addc(s, ')');
}

/* Only the columns the call gives are updated on an existing id. */
static void add_tail(sbuf *s, int cols) {
  const char *sep = " ON DUPLICATE KEY UPDATE ";
  if (cols & COL_DOC) { sb_adds(s, sep); sb_adds(s, "document=VALUES(document)"); sep = ","; }
  if (cols & COL_EMB) { sb_adds(s, sep); sb_adds(s, "embedding=VALUES(embedding)"); sep = ","; }
  if (cols & COL_META) { sb_adds(s, sep); sb_adds(s, "metadata=VALUES(metadata)"); }
}

#define TAIL_MAX 128
#define PACKET_MARGIN 1024

/* Which ids are in the collection: SELECT ... FOR UPDATE in packet-sized
 * chunks, so they stay as they are until the transaction ends. Marks the
 * others `skip`; 0 when every id exists. A dry run assumes they all do. */
static int find_existing(lua_State *L, op_t *op, batch_t *b, const char *table) {
  sbuf *s = &op->sql;
  size_t limit = op_statement_limit(op);
  lua_Integer i = 0, k;
  MYSQL_ROW row;
  int missing = 0;
  int found;
  if (!op->conn) return 0;
  lua_createtable(L, 0, (int)(b->n < 1024 ? b->n : 1024));
  found = lua_gettop(L);
  while (i < b->n) {
    sb_adds(s, "SELECT _id FROM ");
    sb_addident(s, table);
    sb_adds(s, " WHERE _id IN (");
    for (k = i; i < b->n && (i == k || s->len + 2 * b->items[i].idlen + 32 < limit); i++) {
      if (i > k) sb_addc(s, ',');
      sb_addhex(s, b->items[i].id, b->items[i].idlen);
    }
    sb_adds(s, ") FOR UPDATE");
    op_query_buf(L, op);
    while ((row = mysql_fetch_row(op->res)) != NULL) {
      unsigned long *len = mysql_fetch_lengths(op->res);
      lua_pushlstring(L, row[0], len[0]);
      lua_pushboolean(L, 1);
      lua_rawset(L, found);
    }
    op_free_result(op);
  }
  for (i = 0; i < b->n; i++) {
    lua_pushlstring(L, b->items[i].id, b->items[i].idlen);
    b->items[i].skip = lua_rawget(L, found) == LUA_TNIL;
    missing |= b->items[i].skip;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return missing;
}

/* MariaDB refuses an INSERT that leaves the NOT NULL embedding out, even when
 * ON DUPLICATE KEY UPDATE would make it an update. So an upsert without
 * vectors there may only touch rows that exist. */
static void require_existing(lua_State *L, op_t *op, batch_t *b) {
  label_t lb;
  for (lua_Integer i = 0; i < b->n; i++)
    if (b->items[i].skip)
      op_fail(L, op, "%s ('%s') is not in the collection, and a new row of a MariaDB collection "
                     "needs an embedding: pass embeddings or documents for it",
              label(lb, b, F_IDS, i), b->items[i].id);
}

/* update's result: {updated = n, missing = {ids not in the collection}},
 * each id counted once however often the call names it. */
static void push_update_result(lua_State *L, batch_t *b) {
  lua_Integer i, updated = 0, m = 0;
  int seen, missing;
  lua_newtable(L);
  seen = lua_gettop(L);
  lua_createtable(L, 0, 2);
  lua_newtable(L);
  missing = lua_gettop(L);
  for (i = 0; i < b->n; i++) {
    lua_pushlstring(L, b->items[i].id, b->items[i].idlen);
    if (lua_rawget(L, seen) == LUA_TNIL) {
      lua_pushlstring(L, b->items[i].id, b->items[i].idlen);
      lua_pushboolean(L, 1);
      lua_rawset(L, seen);
      if (b->items[i].skip) {
        lua_pushlstring(L, b->items[i].id, b->items[i].idlen);
        lua_rawseti(L, missing, ++m);
      } else updated++;
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "missing");
  lua_pushinteger(L, updated);
  lua_setfield(L, -2, "updated");
  lua_remove(L, seen);
}

#define ER_DUP_ENTRY 1062

static void fail_row_too_big(lua_State *L, op_t *op, batch_t *b, lua_Integer i, size_t bytes) {
  label_t lb;
  op_fail(L, op, "%s: its row is %I bytes of SQL, more than the server's max_allowed_packet (%I) "
                 "allows", label(lb, b, F_IDS, i), (lua_Integer)bytes, (lua_Integer)op->max_packet);
}

static void check_write_error(lua_State *L, op_t *op, batch_t *b, unsigned int err, const char *msg) {
  if (err == ER_DUP_ENTRY && b->mode == MODE_ADD)
    op_sqlfail_as(L, op, "an id is already in the collection (add never overwrites: use upsert "
                         "or update): %s", msg);
  if (err) op_sqlfail_as(L, op, "%s", msg);
}

/* Text: multi-row INSERTs with every value a literal (X'..' for ids and
 * vectors), as long as the packet allows. */
static void write_text(lua_State *L, op_t *op, batch_t *b, const char *table, int cols) {
  sbuf *s = &op->sql;
  size_t limit = op_statement_limit(op);
  lua_Integer i = 0;
  while (i < b->n) {
    lua_Integer rows = 0;
    unsigned int err;
    add_head(s, table, cols);
    sb_adds(s, " VALUES ");
    for (; i < b->n; i++) {
      size_t mark = s->len;
      if (b->items[i].skip) continue;
      if (rows > 0) sb_addc(s, ',');
      add_row(op, b, i, cols);
      if (s->len + TAIL_MAX > limit) {
        if (rows == 0) fail_row_too_big(L, op, b, i, s->len - mark);
        sb_truncate(s, mark);
        break;
      }
      rows++;
    }
    if (rows == 0) { /* only ids that update skips were left */
      s->len = 0;
      break;
    }
    if (b->mode != MODE_ADD) add_tail(s, b->cols);
    err = op_try_buf(L, op);
    if (err) check_write_error(L, op, b, err, mysql_error(op->conn->my));
  }
}

/* MariaDB's bulk protocol (COM_STMT_BULK_EXECUTE) takes many rows of one
 * prepared statement in a packet, vectors as their float32 bytes straight
 * from the batch: no hex, no parsing of literals on the server. */
static int bulk_supported(op_t *op) {
  unsigned long caps = 0, ext = 0;
  const uint16_t one = 1;
  if (!op->conn || op->dialect != DIALECT_MARIADB) return 0;
  if (*(const unsigned char *)&one != 1) return 0; /* float32 bytes must be little-endian */
  if (mariadb_get_infov(op->conn->my, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) ||
      mariadb_get_infov(op->conn->my, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext))
    return 0;
  return !(caps & CLIENT_MYSQL) && (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
}

static void bulk_fail(lua_State *L, op_t *op, batch_t *b) {
  MYSQL_STMT *st = b->bulk->stmt;
  op->err_no = mysql_stmt_errno(st);
  strncpy(op->sqlstate, mysql_stmt_sqlstate(st), sizeof op->sqlstate - 1);
  if (op->err_no == ER_DUP_ENTRY && b->mode == MODE_ADD)
    op_fail(L, op, "an id is already in the collection (add never overwrites: use upsert or update): %s",
            mysql_stmt_error(st));
  op_fail(L, op, "%s", mysql_stmt_error(st));
}

/* Puts item i into row r of the bound arrays of set g; the bytes it sends. */
static size_t bulk_row(bulk_t *k, int g, batch_t *b, lua_Integer i, int r, int cols) {
  item_t *it = &b->items[i];
  size_t vbytes = (size_t)b->dim * sizeof(float), bytes = it->idlen + 16;
  int c = 0;
  k->ptr[g][c][r] = it->id, k->len[g][c][r] = (unsigned long)it->idlen, k->ind[g][c][r] = STMT_INDICATOR_NONE;
  if (cols & COL_DOC) {
    c++;
    k->ptr[g][c][r] = it->doc, k->len[g][c][r] = (unsigned long)it->doclen;
    k->ind[g][c][r] = it->doc ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
    bytes += it->doclen;
  }
  if (cols & COL_EMB) {
    c++;
    k->ptr[g][c][r] = b->zero ? b->zero : b->vecs + i * b->dim;
    k->len[g][c][r] = (unsigned long)vbytes;
    k->ind[g][c][r] = !b->zero && it->vec_null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
    bytes += vbytes;
  }
  if (cols & COL_META) {
    c++;
    k->ptr[g][c][r] = it->meta, k->len[g][c][r] = (unsigned long)it->meta_len;
    k->ind[g][c][r] = it->meta_null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
    bytes += it->meta_len;
  }
  return bytes;
}

/* Rows per execution. Pipelined, the last ones are smaller: the server's
 * work on the last execution is the one thing not overlapped. */
static unsigned int bulk_cap(int pipelined, lua_Integer left) {
  if (!pipelined || left >= 2 * BULK_ROWS) return BULK_ROWS;
  return left / 2 < 128 ? 128 : (unsigned int)(left / 2);
}

static void write_bulk(lua_State *L, op_t *op, batch_t *b, const char *table, int cols) {
  sbuf *s = &op->sql;
  size_t limit = op_statement_limit(op);
  lua_Integer i = 0;
  unsigned int ncols = 0, c;
  int g, pipelined = b->collected < b->n;
  bulk_t *k;
  if (b->bulk) { /* a retry: prepare afresh */
    bulk_free(b->bulk);
    b->bulk = NULL;
  }
  if (!(k = b->bulk = calloc(1, sizeof *k))) op_fail(L, op, "not enough memory");
  /* the statement, with one ? per column */
  add_head(s, table, cols);
  sb_adds(s, " VALUES (?");
  for (c = 1; c < 4; c++)
    if (cols & (1 << (c - 1))) sb_adds(s, ",?");
  sb_addc(s, ')');
  if (b->mode != MODE_ADD) add_tail(s, b->cols);
  op_check_sql(L, op);
  if (!(k->stmt = mysql_stmt_init(op->conn->my))) op_fail(L, op, "not enough memory");
  if (mysql_stmt_prepare(k->stmt, s->data, (unsigned long)s->len)) bulk_fail(L, op, b);
  s->len = 0;
  /* _id, then document, embedding, metadata as the call has them. All as
   * bytes (BLOB): a MYSQL_TYPE_STRING parameter is read in the session's
   * character_set_client, so after SET NAMES gbk the UTF-8 would be
   * converted (or refused); the utf8mb4 columns, JSON too, take bytes as
   * they are. */
  for (g = 0; g < 2; g++) {
    ncols = 0;
    k->bind[g][ncols++].buffer_type = MYSQL_TYPE_BLOB;
    if (cols & COL_DOC) k->bind[g][ncols++].buffer_type = MYSQL_TYPE_BLOB;
    if (cols & COL_EMB) k->bind[g][ncols++].buffer_type = MYSQL_TYPE_BLOB;
    if (cols & COL_META) k->bind[g][ncols++].buffer_type = MYSQL_TYPE_BLOB;
    for (c = 0; c < ncols; c++) {
      k->bind[g][c].buffer = (void *)k->ptr[g][c];
      k->bind[g][c].length = k->len[g][c];
      k->bind[g][c].u.indicator = k->ind[g][c];
    }
  }
  g = 0;
  while (i < b->n) {
    unsigned int rows = 0, cap = bulk_cap(pipelined, b->n - i);
    size_t bytes = 64;
    for (; i < b->n && rows < cap; i++) {
      size_t row;
      /* Lua only, never the connection: the sender may be using it. An
       * error here leaves by longjmp; batch_release waits for the sender. */
      if (i == b->collected) collect_next(L, op, b);
      if (b->items[i].skip) continue;
      row = bulk_row(k, g, b, i, (int)rows, cols);
      if (bytes + row > limit) {
        if (rows == 0) fail_row_too_big(L, op, b, i, row);
        break;
      }
      bytes += row;
      rows++;
    }
    if (rows == 0) break;
    if (sender_wait(&k->send)) bulk_fail(L, op, b); /* the execution before */
    if (mysql_stmt_attr_set(k->stmt, STMT_ATTR_ARRAY_SIZE, &rows) ||
        mysql_stmt_bind_param(k->stmt, k->bind[g]))
      bulk_fail(L, op, b);
    /* on a thread while there are items left to collect, else here */
    sender_start(&k->send, k->stmt, i < b->n && b->collected < b->n);
    g ^= 1;
  }
  if (sender_wait(&k->send)) bulk_fail(L, op, b);
}

static void write_rows(lua_State *L, op_t *op, batch_t *b, const char *table) {
  int cols = b->cols, no_vectors = op->dialect == DIALECT_MARIADB && !(b->cols & COL_EMB);
  op_begin(L, op);
  if (b->mode == MODE_UPDATE || (b->mode == MODE_UPSERT && no_vectors)) {
    int missing = find_existing(L, op, b, table);
    if (missing && b->mode == MODE_UPSERT) require_existing(L, op, b);
  }
  if (no_vectors) {
    /* Every row written exists and is locked, so the INSERT half never
     * happens; the column is listed (with a zero vector) only to satisfy
     * NOT NULL. */
    if (!b->zero && !(b->zero = calloc((size_t)b->dim, sizeof(float)))) op_fail(L, op, "not enough memory");
    cols |= COL_EMB;
  }
  if (bulk_supported(op) && !op->conn->text_only) write_bulk(L, op, b, table, cols);
  else write_text(L, op, b, table, cols);
  op_commit(L, op);
}

/* ---- 3c. retrying after a deadlock ------------------------------------------------- */

#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213

/* Called with write_body's stack slots 1..S_SEEN as its arguments, so that
 * items can still be collected (pipelined) with the same slot numbers. */
static int write_attempt(lua_State *L) {
  op_t *op = op_get(L);
  batch_t *b = op->state;
  write_rows(L, op, b, b->table);
  return 0;
}

/* A few milliseconds, doubling, with jitter so that the writers who
 * deadlocked do not meet again at once. */
static void backoff(int attempt) {
  struct timespec now, d;
  clock_gettime(CLOCK_MONOTONIC, &now);
  d.tv_sec = 0;
  d.tv_nsec = (long)((2L << attempt) * 1000000L + now.tv_nsec % 5000000L);
  nanosleep(&d, NULL);
}

/* Writes in a protected call of its own. InnoDB ends a deadlock by rolling
 * back one writer's whole transaction, and a lock wait timeout can happen
 * to anyone among concurrent writers: since the call is one transaction and
 * what its input became is kept (embedding functions have run; a pipelined
 * write collects only the items it did not reach), it is simply run again,
 * up to the client's deadlock_retries. */
static void write_retrying(lua_State *L, op_t *op, batch_t *b) {
  int attempt, k;
  if (!op->conn) {
    write_rows(L, op, b, b->table);
    return;
  }
  for (attempt = 0;; attempt++) {
    lua_pushlightuserdata(L, op);
    lua_pushcclosure(L, write_attempt, 1);
    for (k = 1; k <= S_SEEN; k++) lua_pushvalue(L, k);
    if (lua_pcall(L, S_SEEN, 0, 0) == LUA_OK) return;
    if (!op->failed || op->raise || attempt >= op->conn->retries ||
        (op->err_no != ER_LOCK_DEADLOCK && op->err_no != ER_LOCK_WAIT_TIMEOUT))
      lua_error(L); /* as it came */
    lua_pop(L, 1);
    op_free_result(op);
    mysql_query(op->conn->my, "ROLLBACK"); /* a lock wait timeout undid only its statement */
    op->in_txn = op->failed = 0;
    op->err_no = 0;
    op->sqlstate[0] = '\0';
    op->sql.len = 0;
    backoff(attempt);
  }
}

/* ---- the methods ------------------------------------------------------------------- */

/* Can the items be collected while the rows before them are sent? On
 * MariaDB's bulk protocol, for an upsert or add of more than one execution's
 * rows, with vectors: no embedding function to call, no ids to look up. */
static int pipelined(op_t *op, batch_t *b) {
  if (!op->conn || !op->conn->pipeline || op->conn->text_only || !bulk_supported(op)) return 0;
  return b->n > BULK_ROWS && b->mode != MODE_UPDATE && (b->cols & COL_EMB);
}

static const char *const write_fields[] = {"ids", "embeddings", "documents", "metadatas", NULL};

static int write_body(lua_State *L) {
  op_t *op = op_get(L);
  batch_t *b = op->state;
  char table[TABLE_NAME_SIZE];
  lua_Integer chunk;
  lua_settop(L, A_CHUNK);
  op_table(L, op, A_TABLE, table);
  b->dim = op_dimension(L, op, A_DIM);
  chunk = luaL_optinteger(L, A_CHUNK, 128);
  if (chunk < 1) op_argerror(L, op, 1, "embedding_chunk_size must be at least 1");
  if (lua_type(L, A_ARGS) != LUA_TTABLE)
    op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  op_check_fields(L, op, A_ARGS, write_fields);
  for (int f = 0; f < 4; f++) lua_getfield(L, A_ARGS, field_names[f]); /* F_IDS .. F_META */
  lua_pushnil(L); /* S_SEEN */
  op_dry_begin(L, op);

  collect_begin(L, op, b);
  if (pipelined(op, b)) /* the first execution's rows before any SQL, the rest as they are sent */
    while (b->collected < BULK_ROWS) collect_next(L, op, b);
  else collect_rest(L, op, b);
  if ((b->cols & COL_DOC) && !(b->cols & COL_EMB)) {
    embed_documents(L, op, b, chunk);
    collect(L, op, b); /* the callback ran Lua code: check the input again */
    b->cols |= COL_EMB;
  }
  b->table = table;
  write_retrying(L, op, b);
  if (b->mode == MODE_UPDATE) push_update_result(L, b);
  if (!op->conn) return op_dry_result(L, op);
  if (b->mode != MODE_UPDATE) lua_pushboolean(L, 1);
  return 1;
}

/* conn:upsert|add|update(table, dimension, args, embedding_function, chunk_size);
 * core.sql(dialect, "upsert"|..., nil, table, ...) runs the same without a server. */
static int write_run(lua_State *L, int mode, const char *fname, int dry) {
  op_t op;
  batch_t b;
  memset(&b, 0, sizeof b);
  b.mode = mode;
  if (dry) { /* core.sql(dialect, nil, table, dim, args, ef, chunk, max_packet) */
    op_init(&op, NULL, fname, dialect_from_name(L, 1));
    lua_remove(L, 1);
    if (lua_gettop(L) >= 7) op.max_packet = (unsigned long)luaL_checkinteger(L, 7);
    lua_settop(L, 6);
  } else
    op_init(&op, conn_check(L, 1), fname, 0);
  op.state = &b;
  op.release = batch_release;
  return op_run(L, &op, write_body);
}

int upsert_run(lua_State *L) { return write_run(L, MODE_UPSERT, "upsert", 0); }
int add_run(lua_State *L) { return write_run(L, MODE_ADD, "add", 0); }
int update_run(lua_State *L) { return write_run(L, MODE_UPDATE, "update", 0); }
int upsert_sql(lua_State *L) { return write_run(L, MODE_UPSERT, "upsert", 1); }
int add_sql(lua_State *L) { return write_run(L, MODE_ADD, "add", 1); }
int update_sql(lua_State *L) { return write_run(L, MODE_UPDATE, "update", 1); }
