/* Shared declarations of the seekdb core: the connection, the per-call state
 * ("op"), the call runtime that runs it, and the methods each file gives.
 *
 * Layering (no file calls up into the one that calls it):
 *   core.c, conn.c              the module, the connection userdata, connecting
 *   collection.c write.c read.c query.c delete.c sql.c hybrid.c
 *                               the methods: each a chain of continuations
 *   collect.c write_text.c write_bulk.c sqlfrag.c filter.c embed.c tls.c hybrid_parm.c
 *                               what the methods are made of
 *   local.c                     local mode's setup statements (no connection)
 *   call.c                      the runtime: runs a call's continuations, its
 *                               statements (non-blocking), waits, deadlines
 *   op.c                        what a continuation uses: errors, checks
 *   buffer.c json.c vector.c vecobj.c vocab.c   marshalling, no connection (marshal.h)
 */
#ifndef SEEKDB_H
#define SEEKDB_H

#include "compat.h"
#include <mysql.h>

#include "buffer.h"
#include "vocab.h"

/* Only luaopen_seekdb_core leaves the shared object (-fvisibility=hidden). */
#define SEEKDB_API __attribute__((visibility("default")))

#define CONN_MT "seekdb.Connection"
#define CALL_MT "seekdb.Call"

enum dialect { DIALECT_SEEKDB = 1, DIALECT_MARIADB = 2 };

struct call;

typedef struct conn {
  MYSQL *my;                /* NULL once closed */
  struct call *call;        /* the call running on it (at most one), or NULL */
  int dialect;
  unsigned long max_packet; /* the server's max_allowed_packet, or a smaller option */
  int text_only;            /* option: never MariaDB's bulk protocol (tests, benchmarks) */
  int retries;              /* option: runs of a write again after a deadlock */
  int pipeline;             /* option: collect a write's rows while earlier ones are sent */
  double timeout;           /* option: seconds a call may take, 0: no limit */
  double slice;             /* option: seconds of work per step of a resumable call */
  int vectors;              /* option: reads return embeddings as seekdb.vector (1) or tables (0) */
  const char *closed_why;   /* static text: why the connection was closed under a call */
  char version[96];
  char where[200];          /* user@host:port/db, for __tostring */
} conn_t;

typedef struct op op_t;
/* A continuation: one piece of a method, run on the call's own Lua stack with
 * the method's slots at 1..top. It does Lua work, then asks the runtime for
 * what comes next (op_sql, op_embed, op_return...) and returns; the runtime
 * calls the next piece when that is done. It may raise at any point. */
typedef void (*op_fn)(lua_State *L, op_t *op);

/* What a call is waiting for (the runtime's, read by nobody else). */
enum { PEND_NONE, PEND_IO, PEND_EMBED, PEND_YIELD, PEND_SLEEP };

/* op_sql flags */
enum {
  SQL_RESULT = 1, /* the statement returns rows: keep them in op->res */
  SQL_TRY = 2,    /* a server error goes to the next piece (op->err), not failing the call */
  SQL_WARN = 4,   /* a warning fails the call: its result would not mean what it says */
  SQL_TIMED = 8   /* with a deadline, the server limits the statement (MariaDB) */
};

/* State of one call (upsert, get, ...). Everything in it is released by the
 * runtime on every exit, so a piece may simply raise. */
struct op {
  conn_t *conn;             /* NULL in a dry run (golden tests): statements are collected */
  const char *fname;        /* the method's name, for argument errors */
  int dialect;
  unsigned long max_packet;
  int failed;               /* the error was raised by op_fail: return nil, msg, ... */
  int raise;                /* the error is API misuse: re-raise it */
  unsigned int err_no;      /* of the failure */
  char sqlstate[6];
  int in_txn;               /* roll back on failure */
  int dry_idx;              /* dry run: stack slot of the table of statements */
  sbuf sql;                 /* the statement being built */
  sbuf cond;                /* a filter's condition, built once for many statements */
  sbuf scratch;             /* small temporary text (an operand before quoting) */
  const char *too_big;      /* what to do when a statement is too big (a hint) */
  int vec_obj;              /* rows_push: embeddings as seekdb.vector, not tables (vectors_parse) */
  MYSQL_RES *res;           /* the rows of the last SQL_RESULT statement */
  MYSQL_STMT *stmt;         /* a prepared statement (op_prepare); closed by the runtime */
  void *state;              /* the method's own state ... */
  void (*release)(void *);  /* ... and how to free it (memory only, no I/O) */
  /* the last statement (SQL_TRY) */
  unsigned int err;         /* its errno, 0 when it succeeded */
  char errstate[6];
  char errmsg[400];
  /* the runtime's (call.c) */
  op_fn next;               /* what runs when the pending thing is done */
  op_fn idle;               /* Lua work to do while a statement is in flight */
  int pending;              /* PEND_* */
  int io;                   /* the I/O in flight */
  int io_flags;             /* the statement's SQL_* flags */
  int wait;                 /* MYSQL_WAIT_* the library waits for */
  double io_until;          /* the library's own timeout for this wait, 0: none */
  double deadline;          /* CLOCK_MONOTONIC seconds the call must end by, 0: none */
  double wake;              /* PEND_SLEEP: until when */
  double slice_end;         /* when this step's Lua work should stop, 0: never */
  int sliced;               /* a resumable call: its statements are kept small (op_statement_target) */
  int ef;                   /* PEND_EMBED: slot of the embedding function */
  int embed_ok;             /* its call succeeded (result on top) or raised (error on top) */
  int done, nret;           /* op_return: the results are the top nret values */
  op_fn retry_again;        /* retry.c: where the transaction starts again */
  int lock_waits_retried;   /* retry.c: runs again after a lock wait timeout */
  double retry_backoff;
  unsigned int rng;         /* jitter for backoffs */
  const char *connect_host; /* the connect call's parameters */
  const char *connect_user, *connect_password, *connect_db, *connect_socket;
  unsigned int connect_port;
};

/* A method: how to start it and what state it needs. */
typedef struct method {
  const char *name;
  op_fn start;              /* the first piece: the method's arguments are at 1..top */
  size_t state_size;        /* zeroed memory for op->state, or 0 */
  void (*release)(void *);  /* frees what the state holds */
} method_t;

/* ---- call.c: the runtime ------------------------------------------------------- */
/* conn:<method>(...): runs the whole call here (blocking) and returns its results. */
int call_blocking(lua_State *L, const method_t *m);
/* conn:start(name, ...): a call object to drive step by step (resumable). */
int call_start(lua_State *L, const method_t *m, int sliced);
/* core.sql(dialect, name, ...): the call as a dry run, its statements collected. */
int call_dry(lua_State *L, const method_t *m, int dialect);
/* core.connect(opts[, resumable]): m starts with a new connection at slot 1. */
int call_connect(lua_State *L, const method_t *m, conn_t *c, double limit, int resumable);
void call_register(lua_State *L);
/* The connection is closing (close, __gc): end its call hard, if any. */
void call_abandon_conn(lua_State *L, conn_t *c, const char *why);
double now_mono(void);

/* What a continuation asks for next (each returns; `next` runs later). */
void op_sql(lua_State *L, op_t *op, int flags, op_fn next);
void op_prepare(lua_State *L, op_t *op, op_fn next);
void op_execute(lua_State *L, op_t *op, op_fn next);
void op_embed(lua_State *L, op_t *op, int ef, op_fn next);
void op_yield(lua_State *L, op_t *op, op_fn next);
void op_sleep(lua_State *L, op_t *op, double seconds, op_fn next);
void op_connect(lua_State *L, op_t *op, op_fn next);
void op_return(lua_State *L, op_t *op, int nret);
/* A failure as the next piece sees it (op->err, errstate, errmsg): a
 * SQLSTATE that is not five letters or digits becomes HY000, the message is
 * made text (what a hostile server sent may be any bytes). */
void op_record_error(op_t *op, unsigned int no, const char *state, const char *msg);
/* Is this step's time up? (Resumable calls do Lua work in slices.) */
int op_slice_over(op_t *op);
/* Seconds left before the call's deadline; a large number when it has none. */
double op_time_left(op_t *op);

/* ---- op.c: what continuations use ---------------------------------------------- */
void op_init(op_t *op, conn_t *c, const char *fname, int dialect);
conn_t *conn_check(lua_State *L, int idx);
size_t op_statement_limit(op_t *op);
/* How large a statement of many rows (or ids) should grow: the limit, or in
 * a resumable call about STATEMENT_TARGET bytes; one row may exceed it. */
size_t op_statement_target(op_t *op);
void op_check_fields(lua_State *L, op_t *op, int idx, const char *part, const char *const fields[]);
int op_fail(lua_State *L, op_t *op, const char *fmt, ...);
int op_argerror(lua_State *L, op_t *op, int arg, const char *fmt, ...);
int op_sqlfail(lua_State *L, op_t *op);
int op_sqlfail_as(lua_State *L, op_t *op, const char *fmt, ...);
void op_check_sql(lua_State *L, op_t *op);
void op_free_result(op_t *op);
void op_begin(lua_State *L, op_t *op, op_fn next);
void op_commit(lua_State *L, op_t *op, op_fn next);
void op_table(lua_State *L, op_t *op, int idx, char out[TABLE_NAME_SIZE]);
int op_dimension(lua_State *L, op_t *op, int idx);
void op_dry_begin(lua_State *L, op_t *op);
int op_dry_result(lua_State *L, op_t *op);
unsigned long long op_affected(op_t *op);
const char *valid_collection_name(const char *name, size_t len, size_t max);
int dialect_from_name(lua_State *L, int idx);
/* admin.c: whether the server is seekdb of at least that version (its
 * VERSION() says seekdb-v<x.y.z>); a dry run (no connection) says yes. */
int seekdb_at_least(const conn_t *c, int major, int minor, int patch);
const char *dialect_name(int dialect);

/* ---- conn.c ------------------------------------------------------------------------ */
int conn_open(lua_State *L);
void conn_register(lua_State *L);

/* ---- tls.c --------------------------------------------------------------------------- */
/* tls.c: the TLS options. tls_setup reads them from the options table at idx
 * (raising on misuse) and sets them on my before connecting. tls_check comes
 * right after mysql_real_connect (connected: it succeeded): 1 if the
 * connection may be used, else 0 with the reason in my's error. tls_info adds
 * tls (version or false) and tls_cipher to the table on top. */
void tls_setup(lua_State *L, int idx, MYSQL *my);
int tls_check(lua_State *L, int idx, MYSQL *my, int connected);
void tls_info(lua_State *L, MYSQL *my);

/* ---- the methods ---------------------------------------------------------------------- */
extern const method_t coll_create_method, coll_describe_method, coll_list_method, coll_has_method,
    coll_delete_method;
extern const method_t upsert_method, add_method, update_method;
extern const method_t delete_method, get_method, count_method, query_method, sql_method;
/* admin.c: databases, refresh_index; collection.c: fork */
extern const method_t db_create_method, db_get_method, db_list_method, db_delete_method, refresh_method;
extern const method_t coll_fork_method;
extern const method_t hybrid_search_method; /* hybrid.c */

/* ---- local.c: what local mode's bootstrap adds to a new data folder ------------------- */
int local_setup(lua_State *L);

/* ---- filter.c ------------------------------------------------------------------------- */
int filter_build(lua_State *L, op_t *op, int arg, int where, int where_document);

/* ---- embed.c: checking what goes to an embedding function and what it returned -------- */
lua_Integer embed_texts_check(lua_State *L, op_t *op, int slot, int ef, const char *name, const char *alt);
int embed_check(lua_State *L, int res, lua_Integer m, const char *what, lua_Integer first, int dim,
                float *out);
int embed_failed(lua_State *L, op_t *op, int idx, const char *what, lua_Integer first, lua_Integer last);
int embed_probe(lua_State *L);

/* ---- retry.c: running a write transaction again after a deadlock ----------------- */
/* Whether the failed statement (op->err) is worth a new attempt: a deadlock
 * or lock wait, retries left, time left for the backoff. If so, rolls back
 * and sleeps (jittered, doubling), then `again` runs; else 0. */
int retry_after(lua_State *L, op_t *op, int *attempt, op_fn again);

/* ---- sqlfrag.c: SQL pieces that reads, deletes and queries share ------------------- */
enum { INC_DOC = 1, INC_META = 2, INC_EMB = 4, INC_DIST = 8 };
int include_parse(lua_State *L, op_t *op, int args, int def, int allowed);
/* The `vectors` option of args ("table" or "vector"; the client's when
 * absent) into op->vec_obj. */
void vectors_parse(lua_State *L, op_t *op, int args);
/* Pushes an embedding column as a table or a seekdb.vector (op->vec_obj);
 * 0 when it is not a vector of dim numbers. */
int vec_push_as(lua_State *L, op_t *op, const char *data, size_t len, int dim, int text_ok);
lua_Integer opt_count(lua_State *L, op_t *op, int args, const char *key, lua_Integer def);
void rows_new(lua_State *L, int inc);
void rows_new_n(lua_State *L, int inc, lua_Integer n);
void rows_push(lua_State *L, op_t *op, int out, MYSQL_ROW row, unsigned long *len, int inc, int dim,
               lua_Integer k);
void select_head(op_t *op, int inc);
void select_from(op_t *op, const char *table);
void add_cond(op_t *op, int has_cond, int first);
void ids_list(lua_State *L, op_t *op, int idx);
int ids_check(lua_State *L, op_t *op, int idx, lua_Integer *seen);
void add_id_list(lua_State *L, op_t *op, int list, lua_Integer *next, size_t reserve);

/* The light userdata NULL, same value as lua-cjson's cjson.null. */
#define pushnull(L) lua_pushlightuserdata((L), NULL)
#define isnull(L, i) (lua_type((L), (i)) == LUA_TLIGHTUSERDATA && lua_touserdata((L), (i)) == NULL)

#endif
