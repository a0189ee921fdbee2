/* The parts of upsert, add and update (write.c) share one batch:
 *   collect.c     Lua tables -> checked items (ids sorted, vectors as float32,
 *                 metadata as JSON, bytes copied into the batch's arena)
 *   write_text.c  multi-row INSERT statements with literal values
 *   write_bulk.c  MariaDB's bulk protocol: one prepared statement, arrays
 * write.c runs them in a transaction; the writers pull items they need that
 * are not collected yet through b->pull (a pipelined write). */
#ifndef SEEKDB_WRITE_H
#define SEEKDB_WRITE_H

#include <stdint.h>

#include "marshal.h"
#include "seekdb.h"

enum { COL_DOC = 1, COL_EMB = 2, COL_META = 4 };
enum { MODE_UPSERT, MODE_ADD, MODE_UPDATE };

/* Stack slots: the method's arguments, the fields of args, then the ids
 * found (update), the dry run's statements. */
enum { A_TABLE = 2, A_DIM = 3, A_ARGS = 4, A_EF = 5, A_CHUNK = 6,
       F_IDS = 7, F_EMB, F_DOC, F_META, F_LAST = F_META, S_FOUND, S_DRY };

/* Rows per execution of the bulk statement (and the items collected before
 * the first one when the write is pipelined). */
#define BULK_ROWS 1000

typedef struct item {
  const char *id, *doc; /* copies in the batch's arena; doc NULL: SQL NULL */
  size_t idlen, doclen;
  const char *meta;     /* its JSON, in the arena; meta_null: SQL NULL */
  size_t meta_len;
  uint64_t key;         /* the id's first 8 bytes, big-endian: the sort's fast compare */
  unsigned char meta_null, vec_null;
  unsigned char skip;   /* update: the id is not in the collection */
} item_t;

typedef struct batch batch_t;
typedef int (*pull_fn)(lua_State *L, op_t *op, batch_t *b);

struct batch {
  int mode;
  lua_Integer n;
  int dim;
  int cols;             /* the columns the call sets */
  int list[F_LAST + 1]; /* per field slot: a list (1) or a single value (0) */
  item_t *items;        /* in the caller's order */
  uint32_t *order;      /* item numbers in the order rows are written: by id */
  uint32_t *tmp;        /* the sort's other half */
  float *vecs;          /* n * dim, by item number */
  float *zero;          /* MariaDB's NOT NULL placeholder, see write.c */
  lua_Integer ids_read; /* ids 0..ids_read-1 are read */
  int sort_width;       /* the merge sort's progress (collect.c) */
  lua_Integer sort_pos;
  lua_Integer collected; /* items order[0..collected-1] are checked and marshalled */
  lua_Integer embedded; /* texts given to the embedding function so far */
  lua_Integer pos;      /* the writer's next position in order */
  lua_Integer text_rows; /* write_text.c: rows in the statement being built */
  int pipelined;        /* items are still being collected while rows are sent */
  int attempt;          /* runs of the transaction after the first */
  int no_vectors;       /* MariaDB upsert without vectors: only existing ids */
  lua_Integer chunk;    /* texts per call of the embedding function */
  pull_fn pull;         /* collects the next item (order[collected]); 0 when the slice is over */
  op_fn done;           /* what runs when the writer has written every row, or failed */
  sbuf meta;            /* one item's metadata JSON, before it goes to the arena */
  arena store;          /* ids, documents, metadata JSON: they never move */
  jenc json;            /* its tree is freed here if encoding is cut short */
  char table[TABLE_NAME_SIZE];
  struct bulk *bulk;    /* write_bulk.c's arrays */
};

/* collect.c */
const char *field_label(char buf[48], batch_t *b, int slot, lua_Integer i);
void collect_shape(lua_State *L, op_t *op, batch_t *b);
int collect_ids(lua_State *L, op_t *op, batch_t *b);
int collect_sort(lua_State *L, op_t *op, batch_t *b);
int collect_next(lua_State *L, op_t *op, batch_t *b);
int collect_upto(lua_State *L, op_t *op, batch_t *b, lua_Integer upto);
void push_field_item(lua_State *L, batch_t *b, int slot, lua_Integer i);
const char *id_text(lua_State *L, const item_t *it);

/* write_text.c, write_bulk.c: write every row from b->pos on, then `done`
 * runs; it also runs at once when a statement fails, with op->err set (the
 * caller decides: run the transaction again, or fail). */
void write_text(lua_State *L, op_t *op, batch_t *b, op_fn done);
void write_bulk(lua_State *L, op_t *op, batch_t *b, op_fn done);
int bulk_supported(op_t *op);
void bulk_free(batch_t *b);
/* write_text.c: INSERT INTO t (_id,...) and ON DUPLICATE KEY UPDATE ... */
void add_head(sbuf *s, const char *table, int cols);
void add_tail(sbuf *s, int cols);
/* the message of a row that does not fit in a packet */
int fail_row_too_big(lua_State *L, op_t *op, batch_t *b, lua_Integer i, size_t bytes);

#endif
