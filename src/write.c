/* collection:upsert, add and update: Lua tables -> one atomic transaction.
 *
 * pyseekdb's semantics (one id or a list; an existing id is updated in the
 * given fields only, a new one is inserted; documents without embeddings go
 * through the embedding function; the same id twice: the last wins), in
 * pieces that a resumable call runs a slice at a time:
 *   1. collect (collect.c): read and sort the ids, then check every item and
 *      keep it as the batch's own (vectors as float32, metadata as JSON);
 *   2. embed:   documents without vectors go to the embedding function in
 *      chunks, and what it returns is checked;
 *   3. write:   in one transaction, as few statements as the server's
 *      max_allowed_packet allows: MariaDB's bulk protocol (write_bulk.c) or
 *      multi-row INSERTs (write_text.c). Any failure rolls back.
 * On the bulk protocol, an upsert or add of more than BULK_ROWS items with
 * vectors is pipelined: the first BULK_ROWS items are collected before any
 * SQL, the others while the server works on the rows before them. A bad
 * item among those fails the call after some SQL was sent, and the rollback
 * still leaves nothing written. The client option pipeline = false has
 * every item checked before any SQL.
 * add is the same with a plain INSERT (an id that exists, or comes twice, is
 * an error); update first finds which ids exist (locked, FOR UPDATE), writes
 * only those, and returns the others. A deadlock runs the transaction again
 * (retry.c) with what was collected. */
#include <stdlib.h>
#include <string.h>

#include "write.h"

static void batch_release(void *p) {
  batch_t *b = p;
  bulk_free(b);
  free(b->items);
  free(b->order);
  free(b->tmp);
  free(b->vecs);
  free(b->zero);
  sb_free(&b->meta);
  arena_free(&b->store);
  cJSON_Delete(b->json.root);
}

static void write_begin(lua_State *L, op_t *op);
static void embed_chunk(lua_State *L, op_t *op);

/* ---- 1. collecting ---------------------------------------------------------------- */

/* Can the items be collected while the rows before them are sent? On
 * MariaDB's bulk protocol, for an upsert or add of more than one execution's
 * rows, with vectors: no embedding function to call, no ids to look up. */
static int pipelined(op_t *op, batch_t *b) {
  if (!op->conn || !op->conn->pipeline || op->conn->text_only || !bulk_supported(op)) return 0;
  return b->n > BULK_ROWS && b->mode != MODE_UPDATE && (b->cols & COL_EMB);
}

static void write_collect(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (!collect_upto(L, op, b, b->pipelined ? BULK_ROWS : b->n)) {
    op_yield(L, op, write_collect);
    return;
  }
  if ((b->cols & COL_DOC) && !(b->cols & COL_EMB)) {
    if (lua_isnil(L, A_EF))
      op_fail(L, op, "documents were given without embeddings and the collection has no embedding "
                     "function: pass embeddings = {...}, or give the collection an embedding_function");
    embed_chunk(L, op);
    return;
  }
  op_begin(L, op, write_begin);
}

static void write_sort(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (!collect_sort(L, op, b)) {
    op_yield(L, op, write_sort);
    return;
  }
  b->pipelined = pipelined(op, b);
  write_collect(L, op);
}

static void write_ids(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (!collect_ids(L, op, b)) {
    op_yield(L, op, write_ids);
    return;
  }
  write_sort(L, op);
}

static void write_keys(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (!collect_keys(L, op, b)) {
    op_yield(L, op, write_keys);
    return;
  }
  write_ids(L, op);
}

/* ---- 2. embedding ----------------------------------------------------------------- */

static void embed_chunk(lua_State *L, op_t *op);

/* [..., texts, what the embedding function returned] */
static void embedded(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  lua_Integer s = b->embedded, m = (lua_Integer)lua_rawlen(L, -2);
  if (!op->embed_ok) embed_failed(L, op, -1, "documents", s + 1, s + m);
  if (!embed_check(L, -1, m, "documents", s + 1, b->dim, b->vecs + s * b->dim)) op_fail(L, op, "%s", lua_tostring(L, -1));
  lua_pop(L, 2);
  b->embedded += m;
  embed_chunk(L, op);
}

/* The next chunk of documents (in the caller's order), or on to writing. */
static void embed_chunk(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  char lb[48];
  lua_Integer s = b->embedded, m, k;
  if (s >= b->n) {
    for (k = 0; k < b->n; k++) b->items[k].vec_null = 0;
    b->cols |= COL_EMB;
    op_begin(L, op, write_begin);
    return;
  }
  m = b->n - s < b->chunk ? b->n - s : b->chunk;
  lua_createtable(L, (int)m, 0);
  for (k = 0; k < m; k++) {
    item_t *it = &b->items[s + k];
    if (!it->doc)
      op_fail(L, op, "%s is seekdb.null, so there is no text to embed: pass embeddings for it",
              field_label(lb, b, F_DOC, s + k));
    lua_pushlstring(L, it->doc, it->doclen);
    lua_rawseti(L, -2, k + 1);
  }
  op_embed(L, op, A_EF, embedded);
}

/* ---- 3. writing ------------------------------------------------------------------- */

static void write_begin_again(lua_State *L, op_t *op);

/* A statement of the transaction failed (op->err): run it all again after a
 * deadlock, else fail as the server said. */
static void write_error(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (retry_after(L, op, &b->attempt, write_begin_again)) return;
  if (op->err == ER_DUP_ENTRY && b->mode == MODE_ADD)
    op_sqlfail_as(L, op, "an id is already in the collection (add never overwrites: use upsert or "
                         "update): %s", op->errmsg);
  op_sqlfail(L, op);
}

/* How many items a loop handles between looks at the clock. */
#define SLICE_CHECK 64

/* update's result, {updated = n, missing = {ids not in the collection}}: each
 * id counted once however often the call names it (its first item, in the
 * order given), built a slice at a time in S_MISSING. */
static void update_result(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (lua_isnil(L, S_MISSING)) {
    lua_newtable(L);
    lua_replace(L, S_MISSING);
    b->pos = b->updated = 0;
  }
  for (; b->pos < b->n; b->pos++) {
    const item_t *it = &b->items[b->pos];
    if (it->repeat) continue;
    if (!it->skip) b->updated++;
    else {
      lua_pushlstring(L, it->id, it->idlen);
      lua_rawseti(L, S_MISSING, (lua_Integer)lua_rawlen(L, S_MISSING) + 1);
    }
    if (b->pos % SLICE_CHECK == 0 && op_slice_over(op)) {
      b->pos++;
      op_yield(L, op, update_result);
      return;
    }
  }
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, S_MISSING);
  lua_setfield(L, -2, "missing");
  lua_pushinteger(L, b->updated);
  lua_setfield(L, -2, "updated");
  op_return(L, op, 1);
}

static void write_committed(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (op->err) {
    write_error(L, op);
    return;
  }
  op->in_txn = 0;
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  if (b->mode == MODE_UPDATE) {
    update_result(L, op);
    return;
  }
  lua_pushboolean(L, 1);
  op_return(L, op, 1);
}

/* The writer is done: every row written, or a statement failed. */
static void write_done(lua_State *L, op_t *op) {
  if (op->err) {
    write_error(L, op);
    return;
  }
  op_commit(L, op, write_committed);
}

static void write_rows(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  b->pos = 0;
  b->text_rows = 0;
  if (b->no_vectors) {
    /* Every row written exists and is locked, so the INSERT half never
     * happens; the column is listed (with a zero vector) only to satisfy
     * MariaDB's NOT NULL. */
    if (!b->zero && !(b->zero = calloc((size_t)b->dim, sizeof(float)))) op_fail(L, op, "not enough memory");
  }
  if (bulk_supported(op) && !op->conn->text_only) write_bulk(L, op, b, write_done);
  else write_text(L, op, b, write_done);
}

/* MariaDB refuses an INSERT that leaves the NOT NULL embedding out, even when
 * ON DUPLICATE KEY UPDATE would make it an update. So an upsert without
 * vectors there may only touch rows that exist. */
static void require_existing(lua_State *L, op_t *op, batch_t *b) {
  char lb[48];
  for (lua_Integer i = 0; i < b->n; i++)
    if (b->items[i].skip)
      op_fail(L, op, "%s ('%s') is not in the collection, and a new row of a MariaDB collection "
                     "needs an embedding: pass embeddings or documents for it",
              field_label(lb, b, F_IDS, i), id_text(L, &b->items[i]));
}

static void find_next(lua_State *L, op_t *op);

/* The ids one SELECT ... FOR UPDATE found: their items (every one with that
 * id: they are together in the sorted order) are not skipped. A slice at a
 * time: the rows stay in op->res until they are all seen. */
static void find_rows(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  MYSQL_ROW row;
  int k = 0;
  if (op->err) {
    write_error(L, op);
    return;
  }
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(op->res);
    lua_Integer p = row[0] ? collect_find(b, row[0], len[0]) : -1;
    for (; p >= 0 && p < b->n; p++) {
      item_t *it = &b->items[b->order[p]];
      if (it->idlen != len[0] || memcmp(it->id, row[0], len[0]) != 0) break;
      it->skip = 0;
    }
    if (++k % SLICE_CHECK == 0 && op_slice_over(op)) {
      op_yield(L, op, find_rows);
      return;
    }
  }
  op_free_result(op);
  if (b->pos < b->n) {
    find_next(L, op);
    return;
  }
  if (b->mode == MODE_UPSERT) require_existing(L, op, b);
  write_rows(L, op);
}

/* Which ids are in the collection: SELECT ... FOR UPDATE in packet-sized
 * chunks (in id order, like the writes), so they stay as they are until the
 * transaction ends. */
static void find_next(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  sbuf *s = &op->sql;
  size_t limit = op_statement_target(op) - 256;
  lua_Integer k = b->pos;
  s->len = 0;
  sb_adds(s, "SELECT _id FROM ");
  sb_addident(s, b->table);
  sb_adds(s, " WHERE _id IN (");
  for (; b->pos < b->n && (b->pos == k || s->len + 2 * b->items[b->order[b->pos]].idlen + 32 < limit); b->pos++) {
    const item_t *it = &b->items[b->order[b->pos]];
    if (b->pos > k) sb_addc(s, ',');
    sb_addhex(s, it->id, it->idlen);
  }
  sb_adds(s, ") FOR UPDATE");
  op_sql(L, op, SQL_RESULT | SQL_TRY | SQL_TIMED, find_rows);
}

/* In the transaction (START TRANSACTION done). */
static void write_begin(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  b->no_vectors = op->dialect == DIALECT_MARIADB && !(b->cols & COL_EMB);
  if (op->conn && (b->mode == MODE_UPDATE || (b->mode == MODE_UPSERT && b->no_vectors))) {
    for (lua_Integer i = 0; i < b->n; i++) b->items[i].skip = 1; /* until found */
    b->pos = 0;
    find_next(L, op);
    return;
  }
  write_rows(L, op);
}

static void write_begin_again(lua_State *L, op_t *op) {
  op_begin(L, op, write_begin);
}

/* ---- the methods ------------------------------------------------------------------- */

static const char *const write_fields[] = {"ids", "embeddings", "documents", "metadatas", NULL};

/* conn:upsert|add|update(table, dimension, args, embedding_function, chunk_size);
 * core.sql(dialect, "upsert"|..., nil, table, dim, args, ef, chunk[, max_packet])
 * runs the same without a server. */
static void write_start(lua_State *L, op_t *op, int mode) {
  batch_t *b = op->state;
  b->mode = mode;
  if (!op->conn && lua_gettop(L) >= 7) op->max_packet = (unsigned long)luaL_checkinteger(L, 7);
  lua_settop(L, A_CHUNK);
  op_table(L, op, A_TABLE, b->table);
  b->dim = op_dimension(L, op, A_DIM);
  b->chunk = luaL_optinteger(L, A_CHUNK, 128);
  if (b->chunk < 1) op_argerror(L, op, 1, "embedding_chunk_size must be at least 1");
  if (lua_type(L, A_ARGS) != LUA_TTABLE)
    op_argerror(L, op, 1, "table expected, got %s", luaL_typename(L, A_ARGS));
  op_check_fields(L, op, A_ARGS, NULL, write_fields);
  lua_getfield(L, A_ARGS, "ids");        /* F_IDS */
  lua_getfield(L, A_ARGS, "embeddings"); /* F_EMB */
  lua_getfield(L, A_ARGS, "documents");  /* F_DOC */
  lua_getfield(L, A_ARGS, "metadatas");  /* F_META */
  lua_pushnil(L);                        /* S_MISSING */
  if (op->conn) lua_pushnil(L);
  else op_dry_begin(L, op);              /* S_DRY */
  collect_shape(L, op, b);
  b->pull = collect_next;
  write_keys(L, op);
}

static void upsert_start(lua_State *L, op_t *op) { write_start(L, op, MODE_UPSERT); }
static void add_start(lua_State *L, op_t *op) { write_start(L, op, MODE_ADD); }
static void update_start(lua_State *L, op_t *op) { write_start(L, op, MODE_UPDATE); }

const method_t upsert_method = {"upsert", upsert_start, sizeof(batch_t), batch_release};
const method_t add_method = {"add", add_start, sizeof(batch_t), batch_release};
const method_t update_method = {"update", update_start, sizeof(batch_t), batch_release};
