/* Writing rows with MariaDB's bulk protocol (COM_STMT_BULK_EXECUTE): many
 * rows of one prepared statement in a packet, column-wise arrays pointing
 * into the batch's own memory (vectors as their float32 bytes: no hex, no
 * parsing of literals on the server).
 *
 * While an execution is in flight, the runtime lets the writer collect the
 * items after it (op->idle): a pipelined write marshals its next rows while
 * the server works on the ones before, on one thread. The arrays are filled
 * only between executions; what they point to (arena, vectors) never moves. */
#include <stdlib.h>
#include <string.h>

#include "write.h"

typedef struct bulk {
  int prepared;      /* op->stmt holds this attempt's statement */
  unsigned int ncols;
  MYSQL_BIND bind[4];
  const void *ptr[4][BULK_ROWS];
  unsigned long len[4][BULK_ROWS];
  char ind[4][BULK_ROWS];
} bulk_t;

void bulk_free(batch_t *b) {
  free(b->bulk);
  b->bulk = NULL;
}

/* MariaDB's bulk protocol, when the server has it (and float32 bytes are
 * little-endian here). */
int bulk_supported(op_t *op) {
  unsigned long caps = 0, ext = 0;
  const unsigned short one = 1;
  if (!op->conn || !op->conn->my || op->dialect != DIALECT_MARIADB) return 0;
  if (*(const unsigned char *)&one != 1) return 0;
  if (mariadb_get_infov(op->conn->my, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) ||
      mariadb_get_infov(op->conn->my, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext))
    return 0;
  return !(caps & CLIENT_MYSQL) && (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
}

/* Puts item i into row r of the arrays; the bytes it sends. */
static size_t bulk_row(bulk_t *k, batch_t *b, lua_Integer i, int r, int cols) {
  item_t *it = &b->items[i];
  size_t vbytes = (size_t)b->dim * sizeof(float), bytes = it->idlen + 16;
  int c = 0;
  k->ptr[c][r] = it->id, k->len[c][r] = (unsigned long)it->idlen, k->ind[c][r] = STMT_INDICATOR_NONE;
  if (cols & COL_DOC) {
    c++;
    k->ptr[c][r] = it->doc, k->len[c][r] = (unsigned long)it->doclen;
    k->ind[c][r] = it->doc ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
    bytes += it->doclen;
  }
  if (cols & COL_EMB) {
    c++;
    k->ptr[c][r] = b->zero ? b->zero : b->vecs + i * b->dim;
    k->len[c][r] = (unsigned long)vbytes;
    k->ind[c][r] = !b->zero && it->vec_null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
    bytes += vbytes;
  }
  if (cols & COL_META) {
    c++;
    k->ptr[c][r] = it->meta, k->len[c][r] = (unsigned long)it->meta_len;
    k->ind[c][r] = it->meta_null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
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

static void bulk_next(lua_State *L, op_t *op);

/* Idle work while an execution is in flight: collect the items after it. */
static void collect_ahead(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  int i;
  for (i = 0; i < 64 && b->collected < b->n; i++)
    if (!b->pull(L, op, b)) break;
  if (b->collected < b->n) op->idle = collect_ahead;
}

/* After an execution: the next one, or the caller's piece. */
static void bulk_executed(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  op->idle = NULL;
  if (op->err || b->pos >= b->n) b->done(L, op);
  else bulk_next(L, op);
}

/* Fills the arrays from b->pos on and starts their execution. Items not
 * collected yet are pulled first (a slice at a time in a resumable call). */
static void bulk_next(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  bulk_t *k = b->bulk;
  int cols = b->cols | (b->no_vectors ? COL_EMB : 0);
  size_t limit = op_statement_limit(op), target = op_statement_target(op), bytes = 64;
  unsigned int rows = 0, cap = bulk_cap(b->pipelined, b->n - b->pos), c;
  lua_Integer need = b->pos + cap < b->n ? b->pos + cap : b->n;
  while (b->collected < need)
    if (!b->pull(L, op, b) && b->collected < need) {
      op_yield(L, op, bulk_next);
      return;
    }
  for (; b->pos < need; b->pos++) {
    lua_Integer i = b->order[b->pos];
    size_t row;
    if (b->items[i].skip) continue;
    row = bulk_row(k, b, i, (int)rows, cols);
    if (bytes + row > limit || (rows > 0 && bytes + row > target)) {
      if (rows == 0) fail_row_too_big(L, op, b, i, row);
      break;
    }
    bytes += row;
    rows++;
  }
  if (rows == 0) {
    op->err = 0;
    b->done(L, op);
    return;
  }
  for (c = 0; c < k->ncols; c++) {
    k->bind[c].buffer = (void *)k->ptr[c];
    k->bind[c].length = k->len[c];
    k->bind[c].u.indicator = k->ind[c];
  }
  if (op->conn && (mysql_stmt_attr_set(op->stmt, STMT_ATTR_ARRAY_SIZE, &rows) ||
                   mysql_stmt_bind_param(op->stmt, k->bind)))
    op_fail(L, op, "%s", mysql_stmt_error(op->stmt));
  if (b->collected < b->n) op->idle = collect_ahead;
  op_execute(L, op, bulk_executed);
}

static void bulk_prepared(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (op->err) {
    b->done(L, op);
    return;
  }
  b->bulk->prepared = 1;
  bulk_next(L, op);
}

void write_bulk(lua_State *L, op_t *op, batch_t *b, op_fn done) {
  sbuf *s = &op->sql;
  int cols = b->cols | (b->no_vectors ? COL_EMB : 0);
  bulk_t *k;
  unsigned int c;
  b->done = done;
  if (!b->bulk && !(b->bulk = calloc(1, sizeof *b->bulk))) op_fail(L, op, "not enough memory");
  k = b->bulk;
  /* _id, then document, embedding, metadata as the call has them. All as
   * bytes (BLOB): a MYSQL_TYPE_STRING parameter is read in the session's
   * character_set_client, so after SET NAMES gbk the UTF-8 would be
   * converted (or refused); the utf8mb4 columns, JSON too, take bytes as
   * they are. */
  k->ncols = 0;
  memset(k->bind, 0, sizeof k->bind);
  k->bind[k->ncols++].buffer_type = MYSQL_TYPE_BLOB;
  if (cols & COL_DOC) k->bind[k->ncols++].buffer_type = MYSQL_TYPE_BLOB;
  if (cols & COL_EMB) k->bind[k->ncols++].buffer_type = MYSQL_TYPE_BLOB;
  if (cols & COL_META) k->bind[k->ncols++].buffer_type = MYSQL_TYPE_BLOB;
  /* a new attempt (after a deadlock) prepares again: its time limits are new */
  s->len = 0;
  add_head(s, b->table, cols);
  sb_adds(s, " VALUES (?");
  for (c = 1; c < k->ncols; c++) sb_adds(s, ",?");
  sb_addc(s, ')');
  if (b->mode != MODE_ADD) add_tail(s, b->cols);
  k->prepared = 0;
  op_prepare(L, op, bulk_prepared);
}
