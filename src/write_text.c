/* Writing rows as SQL text: multi-row INSERTs with every value a literal
 * (X'..' for ids and vectors), each as long as the packet allows. The
 * seekdb dialect's way, and MariaDB's with text_protocol = true. */
#include "write.h"

void add_head(sbuf *s, const char *table, int cols) {
  sb_adds(s, "INSERT INTO ");
  sb_addident(s, table);
  sb_adds(s, " (_id");
  if (cols & COL_DOC) sb_adds(s, ",document");
  if (cols & COL_EMB) sb_adds(s, ",embedding");
  if (cols & COL_META) sb_adds(s, ",metadata");
  sb_addc(s, ')');
}

/* Only the columns the call gives are updated on an existing id. */
void add_tail(sbuf *s, int cols) {
  const char *sep = " ON DUPLICATE KEY UPDATE ";
  if (cols & COL_DOC) { sb_adds(s, sep); sb_adds(s, "document=VALUES(document)"); sep = ","; }
  if (cols & COL_EMB) { sb_adds(s, sep); sb_adds(s, "embedding=VALUES(embedding)"); sep = ","; }
  if (cols & COL_META) { sb_adds(s, sep); sb_adds(s, "metadata=VALUES(metadata)"); }
}

#define TAIL_MAX 128

static void add_row(op_t *op, batch_t *b, lua_Integer i, int cols) {
  sbuf *s = &op->sql;
  item_t *it = &b->items[i];
  sb_addc(s, '(');
  sb_addhex(s, it->id, it->idlen);
  if (cols & COL_DOC) {
    sb_addc(s, ',');
    if (it->doc) sb_addquoted(s, it->doc, it->doclen);
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
    else sb_addquoted(s, it->meta, it->meta_len);
  }
  sb_addc(s, ')');
}

static void text_next(lua_State *L, op_t *op);

/* After each statement: the next one, or the caller's piece. */
static void text_done(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  if (op->err || b->pos >= b->n) b->done(L, op);
  else text_next(L, op);
}

/* The next statement: rows from b->pos on while the packet allows. Built a
 * slice at a time (a statement may be as large as max_allowed_packet): the
 * rows so far stay in op->sql until it is sent. */
static void text_next(lua_State *L, op_t *op) {
  batch_t *b = op->state;
  sbuf *s = &op->sql;
  size_t limit = op_statement_limit(op), target = op_statement_target(op);
  int cols = b->cols | (b->no_vectors ? COL_EMB : 0);
  if (!b->text_rows) {
    s->len = 0;
    add_head(s, b->table, cols);
    sb_adds(s, " VALUES ");
  }
  for (; b->pos < b->n; b->pos++) {
    lua_Integer i = b->order[b->pos];
    size_t mark = s->len;
    if (b->items[i].skip) continue;
    if (b->text_rows > 0) sb_addc(s, ',');
    add_row(op, b, i, cols);
    if (s->len + TAIL_MAX > limit || (b->text_rows > 0 && s->len + TAIL_MAX > target)) {
      if (b->text_rows == 0) fail_row_too_big(L, op, b, i, s->len - mark);
      sb_truncate(s, mark);
      break;
    }
    if (++b->text_rows % 16 == 0 && b->pos + 1 < b->n && op_slice_over(op)) {
      b->pos++;
      op_yield(L, op, text_next);
      return;
    }
  }
  if (b->text_rows == 0) { /* only ids that update skips were left */
    s->len = 0;
    op->err = 0;
    b->done(L, op);
    return;
  }
  b->text_rows = 0;
  if (b->mode != MODE_ADD) add_tail(s, b->cols);
  op_sql(L, op, SQL_TRY | SQL_WARN | SQL_TIMED, text_done);
}

void write_text(lua_State *L, op_t *op, batch_t *b, op_fn done) {
  b->done = done;
  b->text_rows = 0;
  text_next(L, op);
}
