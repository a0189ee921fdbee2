/* read_c: the plain-C limit of the read benchmark (issue 13).
 *
 * Runs the very statements lua-seekdb sends for a workload (bench/read.lua
 * writes them with core.sql, lua-seekdb's dry run, into a file) over MariaDB
 * Connector/C's text protocol: mysql_real_query, mysql_store_result (as
 * lua-seekdb does), every row fetched with mysql_fetch_row and
 * mysql_fetch_lengths.
 *
 *   read_c <statements file> <fetch|decode>
 *
 * fetch:  nothing decoded: the limit for any client.
 * decode: also what a C program needs to use the values: each `embedding`
 *         column copied into a float array of the result (float32 little-
 *         endian, as MariaDB sends VECTOR values), each `distance` parsed
 *         with strtod, COUNT(*) with strtoll. Documents and ids stay where
 *         Connector/C put them; metadata JSON is not parsed.
 *
 * The file: calls, each "C\n" then its statements, each "S <bytes>\n<SQL>\n".
 * The first call runs once untimed (warm-up); then all the calls are run in
 * order, timed. Connects like the Lua contenders (TCP to SEEKDB_TEST_HOST:
 * SEEKDB_TEST_PORT, database BENCH_DATABASE), then runs BENCH_SESSION_SQL
 * (the session setting lua-seekdb makes when it connects: SET SESSION
 * mhnsw_ef_search = ..., which decides how much work a vector search is).
 * Prints one line:
 *   RESULT calls=<n> cpu=<user+sys s> hwm_kb=<VmHWM> rows=<rows fetched>
 *          stmts=<statements> wall=<s> [check=<sum of decoded values>]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mysql.h>

#include "measure.h" /* now, cpu, peak_rss_kb */

static const char *env(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

static void die_my(MYSQL *my, const char *what) {
  fprintf(stderr, "read_c: %s: %s (%u)\n", what, mysql_error(my), mysql_errno(my));
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "read_c: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}


typedef struct stmt {
  char *sql;
  unsigned long len;
  int call_start; /* the first statement of a call */
} stmt_t;

static stmt_t *stmts;
static long nstmts, ncalls;

static void load(const char *path) {
  FILE *f = fopen(path, "rb");
  char head[64];
  long cap = 0;
  int next_starts = 0;
  if (!f) {
    perror(path);
    exit(2);
  }
  while (fgets(head, sizeof head, f)) {
    if (strcmp(head, "C\n") == 0) {
      next_starts = 1;
      ncalls++;
    } else if (head[0] == 'S' && head[1] == ' ') {
      unsigned long len = strtoul(head + 2, NULL, 10);
      if (nstmts == cap) stmts = xrealloc(stmts, sizeof *stmts * (size_t)(cap = cap ? 2 * cap : 64));
      stmts[nstmts].sql = xrealloc(NULL, len + 1);
      if (fread(stmts[nstmts].sql, 1, len + 1, f) != len + 1) {
        fprintf(stderr, "read_c: %s: short statement\n", path);
        exit(2);
      }
      stmts[nstmts].len = len;
      stmts[nstmts].call_start = next_starts;
      next_starts = 0;
      nstmts++;
    } else {
      fprintf(stderr, "read_c: %s: bad line %s", path, head);
      exit(2);
    }
  }
  fclose(f);
  if (ncalls == 0 || nstmts == 0 || !stmts[0].call_start) {
    fprintf(stderr, "read_c: %s: no calls\n", path);
    exit(2);
  }
}

static double check; /* keeps the decoded values alive */
static float *floats;
static size_t floats_cap;

/* One statement: sent, its result stored, every row fetched (and decoded). */
static long run_stmt(MYSQL *my, const stmt_t *s, int decode) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  long rows = 0;
  unsigned int nf, i, emb = ~0u, dist = ~0u, cnt = ~0u;
  size_t used = 0;
  if (mysql_real_query(my, s->sql, s->len)) die_my(my, "query");
  if (!(res = mysql_store_result(my))) {
    if (mysql_field_count(my)) die_my(my, "store_result");
    return 0;
  }
  nf = mysql_num_fields(res);
  if (decode) {
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    for (i = 0; i < nf; i++) {
      if (strcmp(fields[i].name, "embedding") == 0) emb = i;
      else if (strcmp(fields[i].name, "distance") == 0) dist = i;
      else if (strncmp(fields[i].name, "COUNT(", 6) == 0) cnt = i;
    }
  }
  while ((row = mysql_fetch_row(res)) != NULL) {
    unsigned long *len = mysql_fetch_lengths(res);
    rows++;
    if (!decode) continue;
    if (emb != ~0u && row[emb]) {
      size_t n = len[emb] / sizeof(float);
      if (used + n > floats_cap) floats = xrealloc(floats, sizeof(float) * (floats_cap = 2 * (used + n)));
      memcpy(floats + used, row[emb], n * sizeof(float));
      used += n;
    }
    if (dist != ~0u && row[dist]) check += strtod(row[dist], NULL);
    if (cnt != ~0u && row[cnt]) check += (double)strtoll(row[cnt], NULL, 10);
  }
  if (used) check += floats[used - 1];
  mysql_free_result(res);
  return rows;
}

int main(int argc, char **argv) {
  MYSQL *my;
  int decode;
  long i, rows = 0;
  double t0, t1, c0, c1;
  if (argc < 3 || (strcmp(argv[2], "fetch") != 0 && strcmp(argv[2], "decode") != 0)) {
    fprintf(stderr, "usage: read_c <statements file> <fetch|decode>\n");
    return 2;
  }
  decode = strcmp(argv[2], "decode") == 0;
  load(argv[1]);

  if (!(my = mysql_init(NULL))) die_my(my, "mysql_init");
  {
    unsigned int tcp = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(my, MYSQL_OPT_PROTOCOL, &tcp);
  }
  if (!mysql_real_connect(my, env("SEEKDB_TEST_HOST", "127.0.0.1"), env("SEEKDB_TEST_USER", "root"),
                          getenv("SEEKDB_TEST_PASSWORD") ? getenv("SEEKDB_TEST_PASSWORD") : "",
                          env("BENCH_DATABASE", "seekdb_bench_read"),
                          (unsigned int)strtol(env("SEEKDB_TEST_PORT", "2881"), NULL, 10), NULL, 0))
    die_my(my, "connect");
  if (mysql_set_character_set(my, "utf8mb4")) die_my(my, "utf8mb4");
  /* the session settings lua-seekdb makes at connect (read.lua passes them) */
  if (*env("BENCH_SESSION_SQL", "") && mysql_query(my, env("BENCH_SESSION_SQL", "")))
    die_my(my, "BENCH_SESSION_SQL");

  /* warm-up: the first call, untimed */
  for (i = 0; i < nstmts && (i == 0 || !stmts[i].call_start); i++) run_stmt(my, &stmts[i], decode);

  t0 = now(), c0 = cpu();
  for (i = 0; i < nstmts; i++) rows += run_stmt(my, &stmts[i], decode);
  t1 = now(), c1 = cpu();

  mysql_close(my);
  printf("RESULT calls=%ld check=%.3f cpu=%.6f hwm_kb=%ld rows=%ld stmts=%ld wall=%.6f\n", ncalls, check,
         c1 - c0, peak_rss_kb(), rows, nstmts, t1 - t0);
  return 0;
}
