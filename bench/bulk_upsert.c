/* bulk_upsert: the limit of the upsert benchmark (contender 2 of issue 4).
 *
 * Plain C over MariaDB Connector/C: the same N rows as bench/common.lua makes,
 * upserted with one prepared
 *   INSERT INTO t (_id,document,embedding,metadata) VALUES (?,?,?,?)
 *   ON DUPLICATE KEY UPDATE document=VALUES(document),...
 * executed with column-wise array binding (STMT_ATTR_ARRAY_SIZE: MariaDB's
 * bulk protocol, COM_STMT_BULK_EXECUTE), 500 rows an execute, vectors bound
 * as their float32 bytes (MYSQL_TYPE_BLOB), all in one transaction.
 *
 *   bulk_upsert <table> <N> [rows per execute, 500]
 *
 * Connects like the Lua contenders: TCP to SEEKDB_TEST_HOST:SEEKDB_TEST_PORT
 * as SEEKDB_TEST_USER / SEEKDB_TEST_PASSWORD, database BENCH_DATABASE. The
 * table must exist (run.lua makes it). Times only the upsert (prepare, the
 * executes and COMMIT), checks the table afterwards (COUNT(*) = N and one row
 * read back), and prints one line:
 *   RESULT cpu=<user+sys s> hwm_kb=<VmHWM> rows=<N> wall=<s>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mysql.h>

#include "measure.h" /* now, cpu, peak_rss_kb */

#define DIM 384
#define SEED 12345

static const char *env(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

static void die_my(MYSQL *my, const char *what) {
  fprintf(stderr, "bulk_upsert: %s: %s (%u)\n", what, mysql_error(my), mysql_errno(my));
  exit(1);
}

static void die_stmt(MYSQL_STMT *st, const char *what) {
  fprintf(stderr, "bulk_upsert: %s: %s (%u)\n", what, mysql_stmt_error(st), mysql_stmt_errno(st));
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "bulk_upsert: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}


/* The rows, as bench/common.lua makes them (row i is 1-based). */
typedef struct rows {
  long n;
  char **id, **doc, **meta;
  unsigned long *idlen, *doclen, *metalen, *veclen;
  float *vec;   /* n * DIM */
  void **vecp;  /* per row: its DIM floats */
} rows_t;

static char *dupf(unsigned long *len, const char *fmt, long a, long b) {
  char tmp[256];
  int k = snprintf(tmp, sizeof tmp, fmt, a, b);
  char *s = xmalloc((size_t)k + 1);
  memcpy(s, tmp, (size_t)k + 1);
  *len = (unsigned long)k;
  return s;
}

static void make_rows(rows_t *r, long n) {
  uint64_t x = SEED;
  long i;
  int j;
  r->n = n;
  r->id = xmalloc(sizeof(char *) * (size_t)n);
  r->doc = xmalloc(sizeof(char *) * (size_t)n);
  r->meta = xmalloc(sizeof(char *) * (size_t)n);
  r->idlen = xmalloc(sizeof(unsigned long) * (size_t)n);
  r->doclen = xmalloc(sizeof(unsigned long) * (size_t)n);
  r->metalen = xmalloc(sizeof(unsigned long) * (size_t)n);
  r->veclen = xmalloc(sizeof(unsigned long) * (size_t)n);
  r->vecp = xmalloc(sizeof(void *) * (size_t)n);
  r->vec = xmalloc(sizeof(float) * DIM * (size_t)n);
  for (i = 0; i < n; i++) {
    long row = i + 1;
    float *v = r->vec + (size_t)i * DIM;
    r->id[i] = dupf(&r->idlen[i], "id-%ld", row, 0);
    r->doc[i] = dupf(&r->doclen[i], "document %06ld: the quick brown fox jumps over the lazy dog's bed",
                     row, 0);
    r->meta[i] = dupf(&r->metalen[i], "{\"category\": \"c%ld\", \"score\": %ld}", row % 7, row % 100);
    /* spec/helper.lua's helper.vectors: one LCG stream over the rows */
    for (j = 0; j < DIM; j++) {
      x = (x * 1103515245u + 12345u) % 2147483648u;
      v[j] = (float)((double)x / 2147483648.0 - 0.5);
    }
    r->vecp[i] = v;
    r->veclen[i] = sizeof(float) * DIM;
  }
}

static void upsert(MYSQL *my, const char *table, rows_t *r, long batch) {
  char sql[1024];
  MYSQL_STMT *st;
  MYSQL_BIND bind[4];
  long first;
  snprintf(sql, sizeof sql,
           "INSERT INTO `%s` (_id,document,embedding,metadata) VALUES (?,?,?,?) "
           "ON DUPLICATE KEY UPDATE document=VALUES(document),embedding=VALUES(embedding),"
           "metadata=VALUES(metadata)",
           table);
  if (mysql_query(my, "START TRANSACTION")) die_my(my, "START TRANSACTION");
  if (!(st = mysql_stmt_init(my))) die_my(my, "mysql_stmt_init");
  if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) die_stmt(st, "prepare");
  for (first = 0; first < r->n; first += batch) {
    unsigned int size = (unsigned int)(r->n - first < batch ? r->n - first : batch);
    memset(bind, 0, sizeof bind);
    /* column-wise: per column an array of pointers and an array of lengths */
    bind[0].buffer_type = MYSQL_TYPE_STRING;
    bind[0].buffer = r->id + first;
    bind[0].length = r->idlen + first;
    bind[1].buffer_type = MYSQL_TYPE_STRING;
    bind[1].buffer = r->doc + first;
    bind[1].length = r->doclen + first;
    bind[2].buffer_type = MYSQL_TYPE_BLOB;
    bind[2].buffer = r->vecp + first;
    bind[2].length = r->veclen + first;
    bind[3].buffer_type = MYSQL_TYPE_STRING;
    bind[3].buffer = r->meta + first;
    bind[3].length = r->metalen + first;
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size)) die_stmt(st, "STMT_ATTR_ARRAY_SIZE");
    if (mysql_stmt_bind_param(st, bind)) die_stmt(st, "bind_param");
    if (mysql_stmt_execute(st)) die_stmt(st, "execute");
  }
  mysql_stmt_close(st);
  if (mysql_query(my, "COMMIT")) die_my(my, "COMMIT");
}

/* COUNT(*) = N, and row N/3+1 (the Lua contenders' spot row) as written. */
static void verify(MYSQL *my, const char *table, rows_t *r) {
  char sql[512];
  MYSQL_RES *res;
  MYSQL_ROW row;
  unsigned long *len;
  long k = r->n / 3; /* 0-based index of row N/3+1 */
  long count;
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM `%s`", table);
  if (mysql_query(my, sql) || !(res = mysql_store_result(my))) die_my(my, "COUNT(*)");
  row = mysql_fetch_row(res);
  count = row && row[0] ? strtol(row[0], NULL, 10) : -1;
  mysql_free_result(res);
  if (count != r->n) {
    fprintf(stderr, "bulk_upsert: the table has %ld rows, expected %ld\n", count, r->n);
    exit(3);
  }
  snprintf(sql, sizeof sql,
           "SELECT document, JSON_VALUE(metadata, '$.category'), JSON_VALUE(metadata, '$.score'), "
           "embedding FROM `%s` WHERE _id = '%s'",
           table, r->id[k]);
  if (mysql_query(my, sql) || !(res = mysql_store_result(my))) die_my(my, "spot check");
  row = mysql_fetch_row(res);
  len = row ? mysql_fetch_lengths(res) : NULL;
  if (!row || !row[0] || strcmp(row[0], r->doc[k]) != 0 || !row[1] || !row[2] ||
      snprintf(sql, sizeof sql, "c%ld", (k + 1) % 7) < 0 || strcmp(row[1], sql) != 0 ||
      strtol(row[2], NULL, 10) != (k + 1) % 100 || !row[3] || len[3] != r->veclen[k] ||
      memcmp(row[3], r->vecp[k], r->veclen[k]) != 0) {
    fprintf(stderr, "bulk_upsert: row %s does not hold what was written\n", r->id[k]);
    exit(3);
  }
  mysql_free_result(res);
}

int main(int argc, char **argv) {
  const char *table;
  long n, batch;
  rows_t rows;
  MYSQL *my;
  double t0, t1, c0, c1;
  long hwm;
  if (argc < 3) {
    fprintf(stderr, "usage: bulk_upsert <table> <N> [rows per execute, 500]\n");
    return 2;
  }
  table = argv[1];
  n = strtol(argv[2], NULL, 10);
  batch = argc > 3 ? strtol(argv[3], NULL, 10) : 500;
  if (n <= 0 || batch <= 0) {
    fprintf(stderr, "bulk_upsert: N and the batch must be positive\n");
    return 2;
  }
  make_rows(&rows, n);

  if (!(my = mysql_init(NULL))) die_my(my, "mysql_init");
  {
    unsigned int tcp = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(my, MYSQL_OPT_PROTOCOL, &tcp);
  }
  if (!mysql_real_connect(my, env("SEEKDB_TEST_HOST", "127.0.0.1"), env("SEEKDB_TEST_USER", "root"),
                          getenv("SEEKDB_TEST_PASSWORD") ? getenv("SEEKDB_TEST_PASSWORD") : "",
                          env("BENCH_DATABASE", "seekdb_bench"),
                          (unsigned int)strtol(env("SEEKDB_TEST_PORT", "2881"), NULL, 10), NULL, 0))
    die_my(my, "connect");
  if (mysql_set_character_set(my, "utf8mb4")) die_my(my, "utf8mb4");

  t0 = now(), c0 = cpu();
  upsert(my, table, &rows, batch);
  t1 = now(), c1 = cpu();
  hwm = peak_rss_kb();

  verify(my, table, &rows);
  mysql_close(my);
  printf("RESULT cpu=%.6f hwm_kb=%ld rows=%ld wall=%.6f\n", c1 - c0, hwm, n, t1 - t0);
  return 0;
}
