/* Shared declarations of the seekdb core: the connection, the per-call state
 * ("op") and the entry points each source file gives the others. */
#ifndef SEEKDB_H
#define SEEKDB_H

#include "compat.h"
#include <mysql.h>
#include <pthread.h>

#include "buffer.h"

#define CONN_MT "seekdb.Connection"

enum dialect { DIALECT_SEEKDB = 1, DIALECT_MARIADB = 2 };

/* Longest collection name: the table is `c$v1$<name>` and MySQL-family servers
 * allow 64 characters in a table name. */
#define NAME_MAX_LEN 59
#define TABLE_NAME_SIZE 72

typedef struct conn {
  MYSQL *my;                /* NULL once closed */
  int busy;                 /* a call is running (an embedding callback may re-enter) */
  int dialect;
  unsigned long max_packet; /* the server's max_allowed_packet, or a smaller option */
  int text_only;            /* option: never MariaDB's bulk protocol (tests, benchmarks) */
  int retries;              /* option: runs of a write again after a deadlock */
  int pipeline;             /* option: collect a write's rows while earlier ones are sent */
  char version[96];
  char where[200];          /* user@host:port/db, for __tostring */
} conn_t;

/* State of one call (upsert, get, ...). The body runs under lua_pcall; op_run
 * releases everything listed here on every exit, so a body may simply raise. */
typedef struct op {
  conn_t *conn;             /* NULL in a dry run (golden tests): statements are collected */
  const char *fname;        /* the method's name, for argument errors */
  int dialect;
  int no_backslash;         /* server runs with NO_BACKSLASH_ESCAPES */
  unsigned long max_packet;
  int failed;               /* the error was raised by op_fail: return nil, msg, ... */
  int raise;                /* the error is API misuse: re-raise it */
  unsigned int err_no;
  char sqlstate[6];
  int in_txn;               /* roll back on failure */
  int dry_idx;              /* dry run: stack index of the table of statements */
  sbuf sql;                 /* the statement being built */
  sbuf cond;                /* a filter's condition, built once for many statements */
  sbuf scratch;             /* small temporary text (an operand before quoting) */
  MYSQL_RES *res;           /* the result being read */
  void *state;              /* call-specific resources ... */
  void (*release)(void *);  /* ... and how to free them */
} op_t;

/* sender.c: one execution of a prepared statement, on a thread of its own
 * so that the caller can marshal the next rows meanwhile. */
typedef struct sender {
  MYSQL_STMT *stmt;
  int rc;                   /* mysql_stmt_execute's result */
  int running;              /* the thread has not been joined */
  pthread_t thread;
} sender_t;
void sender_start(sender_t *s, MYSQL_STMT *stmt, int threaded);
int sender_wait(sender_t *s);

/* op.c */
conn_t *conn_check(lua_State *L, int idx);
void op_init(op_t *op, conn_t *c, const char *fname, int dialect);
int op_run(lua_State *L, op_t *op, lua_CFunction body);
int op_call(lua_State *L, const char *fname, lua_CFunction body);
int op_dry(lua_State *L, const char *fname, lua_CFunction body);
size_t op_statement_limit(op_t *op);
void op_check_fields(lua_State *L, op_t *op, int idx, const char *const fields[]);
op_t *op_get(lua_State *L);
int op_fail(lua_State *L, op_t *op, const char *fmt, ...);
int op_argerror(lua_State *L, op_t *op, int arg, const char *fmt, ...);
void op_check_sql(lua_State *L, op_t *op);
void op_exec(lua_State *L, op_t *op, const char *sql, size_t len);
void op_exec_buf(lua_State *L, op_t *op);
MYSQL_RES *op_query_buf(lua_State *L, op_t *op);
void op_free_result(op_t *op);
void op_begin(lua_State *L, op_t *op);
void op_commit(lua_State *L, op_t *op);
void op_table_name(lua_State *L, op_t *op, int idx, char out[TABLE_NAME_SIZE]);
void op_table(lua_State *L, op_t *op, int idx, char out[TABLE_NAME_SIZE]);
int op_dimension(lua_State *L, op_t *op, int idx);
void op_dry_begin(lua_State *L, op_t *op);
int op_dry_result(lua_State *L, op_t *op);
unsigned int op_try_buf(lua_State *L, op_t *op);
int op_sqlfail(lua_State *L, op_t *op);
int op_sqlfail_as(lua_State *L, op_t *op, const char *fmt, ...);
const char *valid_collection_name(const char *name, size_t len);
int dialect_from_name(lua_State *L, int idx);
const char *dialect_name(int dialect);

/* conn.c */
int conn_open(lua_State *L);
void conn_register(lua_State *L);

/* tls.c: the TLS options. tls_setup reads them from the options table at idx
 * (raising on misuse) and sets them on my before connecting. tls_check comes
 * right after mysql_real_connect (connected: it succeeded): 1 if the
 * connection may be used, else 0 with the reason in my's error. tls_info adds
 * tls (version or false) and tls_cipher to the table on top. */
void tls_setup(lua_State *L, int idx, MYSQL *my);
int tls_check(lua_State *L, int idx, MYSQL *my, int connected);
void tls_info(lua_State *L, MYSQL *my);

/* collection.c */
int coll_create(lua_State *L);
int coll_describe(lua_State *L);
int coll_list(lua_State *L);
int coll_has(lua_State *L);
int coll_delete(lua_State *L);
int coll_create_sql(lua_State *L);

/* filter.c */
int filter_build(lua_State *L, op_t *op, int arg, int where, int where_document);

/* delete.c */
int delete_run(lua_State *L);
int delete_sql(lua_State *L);

/* query.c */
int query_run(lua_State *L);
int query_sql(lua_State *L);

/* upsert.c */
int upsert_run(lua_State *L);
int add_run(lua_State *L);
int update_run(lua_State *L);
int upsert_sql(lua_State *L);
int add_sql(lua_State *L);
int update_sql(lua_State *L);

/* embed.c */
int embed_call(lua_State *L, int fn, int docs, const char *what, lua_Integer first, int dim, float *out);
int embed_probe(lua_State *L);

/* sql.c */
int conn_query(lua_State *L);
unsigned long long op_affected(op_t *op);

/* read.c */
enum { INC_DOC = 1, INC_META = 2, INC_EMB = 4, INC_DIST = 8 };
int include_parse(lua_State *L, op_t *op, int args, int def, int allowed);
lua_Integer opt_count(lua_State *L, op_t *op, int args, const char *key, lua_Integer def);
void rows_new(lua_State *L, int inc);
void rows_push(lua_State *L, op_t *op, int out, MYSQL_ROW row, unsigned long *len, int inc, int dim,
               lua_Integer k);
void select_head(op_t *op, int inc);
void select_from(op_t *op, const char *table);
void add_cond(op_t *op, int has_cond, int first);
void ids_list(lua_State *L, op_t *op, int idx);
void add_id_list(lua_State *L, op_t *op, int list, lua_Integer *next, size_t reserve);
int read_get(lua_State *L);
int read_get_sql(lua_State *L);
int read_count(lua_State *L);
int read_count_sql(lua_State *L);

/* The light userdata NULL, same value as lua-cjson's cjson.null. */
#define pushnull(L) lua_pushlightuserdata((L), NULL)
#define isnull(L, i) (lua_type((L), (i)) == LUA_TLIGHTUSERDATA && lua_touserdata((L), (i)) == NULL)

#endif
