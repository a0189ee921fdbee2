/* The call runtime: every method runs here, as a chain of continuations
 * ("pieces", see op_fn in seekdb.h) and non-blocking statements.
 *
 * A call is a userdata (seekdb.Call) holding the op, a Lua thread whose stack
 * keeps the method's slots between pieces, and the connection (kept alive).
 * The runtime runs pieces until the call needs something it cannot do at
 * once, and says what:
 *   - wait:  a statement is in flight; wait on the socket (pollfd, events,
 *            timeout), or only for a time (a backoff);
 *   - embed: the embedding function must be called on a list of texts;
 *   - yield: a resumable call used up its slice of work (game loops);
 *   - done:  the results, or the failure.
 * Two drivers answer: call_blocking here in C (poll(2), the embedding
 * function through lua_pcall), which is the plain blocking form; and the Lua
 * layer through call:resume(), which waits the way its host loop does and
 * calls embedding functions from Lua, so that they may yield.
 *
 * Statements go through MariaDB Connector/C's non-blocking API (the
 * connection has MYSQL_OPT_NONBLOCK), so a wait can always be bounded by the
 * call's deadline. While a statement is in flight, the op's `idle` piece may
 * do Lua work (a pipelined write collects its next rows): one thread, and
 * nothing but the runtime ever touches the connection.
 *
 * Every call ends through call_end: the statement in flight finished or
 * aborted, the prepared statement closed, an open transaction rolled back,
 * memory freed, the connection free for the next call. Nothing else clears
 * conn->call. A call that is abandoned (collected, its client closed, its
 * deadline passed while the server held it) cannot wait for the server: its
 * connection is closed, and the server rolls its transaction back. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seekdb.h"

enum { IO_NONE, IO_CONNECT, IO_QUERY, IO_STORE, IO_PREPARE, IO_EXECUTE, IO_STMT_CLOSE };
enum { STEP_DONE, STEP_WAIT, STEP_EMBED, STEP_YIELD };
enum { PHASE_RUN, PHASE_END, PHASE_OVER };

/* Seconds the clean-up of a call (closing its statement, ROLLBACK) may take
 * when the call itself has no time left. */
#define GRACE 5.0

typedef struct call {
  op_t op;
  lua_State *T;        /* the call's stack: the method's slots */
  int phase;           /* PHASE_RUN: pieces run; END: cleaning up; OVER */
  int failed;          /* a piece raised: the error is on T's top */
  int end_step;        /* how far the clean-up got */
  int sliced;          /* a resumable call: Lua work in slices */
  int timed_out;       /* the deadline or the library's timeout ended a wait */
  double io_began;     /* when the I/O in flight was started */
  double limit;        /* the seconds the deadline allows, for messages ... */
  const char *limit_option; /* ... and the client option that set them */
  double end_by;       /* the clean-up's own deadline */
  int running;         /* pieces are running (a finalizer may close the client meanwhile) */
  int delivered;       /* the results went to the caller */
  const char *abandoned; /* why the call was ended from outside, or NULL */
  int body_ref;        /* registry reference of pieces_body (pushed without allocating) */
  int io_ret;          /* results of the I/O functions */
  my_bool io_bret;
  MYSQL *io_my;
} call_t;

double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static call_t *op_call_of(op_t *op) { return (call_t *)op; } /* op is the first member */

/* ---- non-blocking I/O ---------------------------------------------------------- */

static MYSQL *op_mysql(op_t *op) { return op->conn ? op->conn->my : NULL; }

/* Starts (ready < 0) or continues the I/O in flight; returns what the library
 * waits for next, 0 when it is done. */
static int io_step(call_t *c, int ready) {
  op_t *op = &c->op;
  MYSQL *my = op_mysql(op);
  int st = 0, start = ready < 0;
  if (start) c->io_began = now_mono();
  switch (op->io) {
    case IO_CONNECT:
      st = start ? mysql_real_connect_start(&c->io_my, my, op->connect_socket ? NULL : op->connect_host,
                                            op->connect_user, op->connect_password, op->connect_db,
                                            op->connect_port, op->connect_socket, 0)
                 : mysql_real_connect_cont(&c->io_my, my, ready);
      break;
    case IO_QUERY:
      st = start ? mysql_real_query_start(&c->io_ret, my, op->sql.data, (unsigned long)op->sql.len)
                 : mysql_real_query_cont(&c->io_ret, my, ready);
      break;
    case IO_STORE:
      st = start ? mysql_store_result_start(&op->res, my) : mysql_store_result_cont(&op->res, my, ready);
      break;
    case IO_PREPARE:
      st = start ? mysql_stmt_prepare_start(&c->io_ret, op->stmt, op->sql.data, (unsigned long)op->sql.len)
                 : mysql_stmt_prepare_cont(&c->io_ret, op->stmt, ready);
      break;
    case IO_EXECUTE:
      st = start ? mysql_stmt_execute_start(&c->io_ret, op->stmt) : mysql_stmt_execute_cont(&c->io_ret, op->stmt, ready);
      break;
    case IO_STMT_CLOSE:
      st = start ? mysql_stmt_close_start(&c->io_bret, op->stmt) : mysql_stmt_close_cont(&c->io_bret, op->stmt, ready);
      break;
  }
  op->wait = st;
  op->io_until = 0;
  if (st & MYSQL_WAIT_TIMEOUT) op->io_until = now_mono() + mysql_get_timeout_value_ms(my) / 1000.0;
  return st;
}

/* Length of the printable UTF-8 character at s (n bytes left), 0 if there is
 * none: control characters (but tab and newline), C1 controls, overlong
 * forms, surrogates and bytes that start no character are not text. */
static size_t text_char(const unsigned char *s, size_t n) {
  unsigned int cp;
  size_t len, i;
  if (s[0] < 0x80) return (s[0] >= 0x20 && s[0] != 0x7f) || s[0] == '\t' || s[0] == '\n';
  if (s[0] >= 0xc2 && s[0] <= 0xdf) len = 2, cp = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef) len = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) len = 4, cp = s[0] & 0x07;
  else return 0;
  if (n < len) return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0x80 && cp <= 0x9f))
    return 0;
  return len;
}

/* A message as text: what a server (or something pretending to be one)
 * sent may be any bytes; those that are not printable UTF-8 become \xNN.
 * Cut at a character's end when out is full. */
static void copy_text(char *out, size_t size, const char *msg) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)msg;
  size_t n = strlen(msg), o = 0, k;
  while (n > 0) {
    k = text_char(s, n);
    if (k) {
      if (o + k >= size) break;
      memcpy(out + o, s, k);
      o += k;
      s += k;
      n -= k;
    } else {
      if (o + 4 >= size) break;
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[*s >> 4];
      out[o++] = hex[*s & 15];
      s++;
      n--;
    }
  }
  out[o] = '\0';
}

/* Records the outcome of the statement just finished: errno, SQLSTATE and
 * message, whichever handle has them. A SQLSTATE that is not five letters
 * or digits is HY000, the message is made text (copy_text). */
static void io_record(op_t *op, int failed) {
  const char *msg, *state;
  unsigned int no;
  MYSQL *my = op_mysql(op);
  if (!failed) {
    op->err = 0;
    return;
  }
  if (op->io == IO_PREPARE || op->io == IO_EXECUTE) {
    no = mysql_stmt_errno(op->stmt);
    msg = mysql_stmt_error(op->stmt);
    state = mysql_stmt_sqlstate(op->stmt);
  } else {
    no = mysql_errno(my);
    msg = mysql_error(my);
    state = mysql_sqlstate(my);
  }
  op_record_error(op, no, state, msg);
}

void op_record_error(op_t *op, unsigned int no, const char *state, const char *msg) {
  op->err = no ? no : CR_SERVER_LOST; /* a failure always has an errno */
  strcpy(op->errstate, "HY000");
  if (state && strlen(state) == 5) {
    int i;
    for (i = 0; i < 5 && (isdigit((unsigned char)state[i]) || isupper((unsigned char)state[i])); i++) {}
    if (i == 5) memcpy(op->errstate, state, 6);
  }
  copy_text(op->errmsg, sizeof op->errmsg, msg && *msg ? msg : "the server connection failed");
}

static void warn_show(lua_State *L, op_t *op);

/* The I/O just ended: what it produced, and what runs next. */
static void io_finished(call_t *c) {
  op_t *op = &c->op;
  MYSQL *my = op_mysql(op);
  int kind = op->io;
  op->io = IO_NONE;
  op->pending = PEND_NONE;
  switch (kind) {
    case IO_CONNECT:
      io_record(op, c->io_my == NULL);
      break;
    case IO_QUERY:
      io_record(op, c->io_ret != 0);
      if (!c->io_ret && (op->io_flags & SQL_RESULT)) { /* rows must be read, even to drop them */
        op->io = IO_STORE;
        op->pending = PEND_IO;
        if (io_step(c, -1)) return;
        io_finished(c);
        return;
      }
      break;
    case IO_STORE:
      io_record(op, !op->res && mysql_field_count(my) != 0);
      break;
    case IO_PREPARE:
    case IO_EXECUTE:
      io_record(op, c->io_ret != 0);
      break;
    case IO_STMT_CLOSE:
      op->stmt = NULL;
      return;
  }
  if (c->phase != PHASE_RUN) return;
  op->sql.len = 0;
  if (!op->err && (op->io_flags & SQL_WARN) && kind != IO_PREPARE && my && mysql_warning_count(my) > 0)
    op->next = warn_show; /* the result is not what it seems: say why */
}

/* Socket readiness now, as MYSQL_WAIT_* bits (0 when nothing is ready). */
static int poll_now(int fd, int want, int ms) {
  struct pollfd p;
  int r, ready = 0;
  p.fd = fd;
  p.events = (short)(((want & MYSQL_WAIT_READ) ? POLLIN : 0) | ((want & MYSQL_WAIT_WRITE) ? POLLOUT : 0) |
                     ((want & MYSQL_WAIT_EXCEPT) ? POLLPRI : 0));
  p.revents = 0;
  do r = poll(&p, 1, ms); while (r < 0 && errno == EINTR);
  if (r <= 0) return 0;
  if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= MYSQL_WAIT_READ;
  if (p.revents & (POLLOUT | POLLHUP | POLLERR)) ready |= MYSQL_WAIT_WRITE;
  if (p.revents & POLLPRI) ready |= MYSQL_WAIT_EXCEPT;
  return ready & (want | MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
}

/* When the current wait must end: the library's own timeout, the call's
 * deadline (or the clean-up's); 0 for none. */
static double wait_until(call_t *c) {
  op_t *op = &c->op;
  double until = op->pending == PEND_SLEEP ? op->wake : op->io_until;
  double limit = c->phase == PHASE_RUN ? op->deadline : c->end_by;
  if (limit > 0 && (until == 0 || limit < until)) until = limit;
  return until;
}

/* ---- ending a call ----------------------------------------------------------------- */

/* The connection cannot be trusted any more (a wait timed out in the middle
 * of a statement, the call was abandoned): close it. An operation the library
 * has suspended is first ended by telling it its wait timed out. */
static void conn_break(call_t *c, const char *why) {
  op_t *op = &c->op;
  conn_t *cn = op->conn;
  int guard = 0;
  MYSQL_STMT *st = op->stmt;
  while (op->io != IO_NONE && op->wait && guard++ < 16) io_step(c, MYSQL_WAIT_TIMEOUT);
  op->io = IO_NONE;
  op->wait = 0;
  op->stmt = NULL;
  if (cn && cn->my) {
    mysql_close(cn->my);
    cn->my = NULL;
    cn->closed_why = why;
  }
  /* mysql_close detaches statements without freeing them: this only frees */
  if (st) mysql_stmt_close(st);
  op->in_txn = 0;
}

static void release_memory(op_t *op) {
  op_free_result(op);
  if (op->release && op->state) op->release(op->state);
  free(op->state);
  op->state = NULL;
  sb_free(&op->sql);
  sb_free(&op->cond);
  sb_free(&op->scratch);
}

/* The one place a call ends: the connection is free again. */
static void call_over(lua_State *L, call_t *c) {
  op_t *op = &c->op;
  release_memory(op);
  if (op->conn && op->conn->call == (struct call *)c) op->conn->call = NULL;
  c->phase = PHASE_OVER;
  if (L && c->body_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, c->body_ref);
    c->body_ref = LUA_NOREF;
  }
}

/* The call cannot go on (collected, cancelled, its connection closed under
 * it). While its pieces run (a finalizer closed the client), only the
 * connection goes: the pieces find it closed and fail the usual way. */
static void call_abandon(lua_State *L, call_t *c, const char *why) {
  op_t *op = &c->op;
  if (c->phase == PHASE_OVER) return;
  if (op->conn && op->conn->my && (op->io != IO_NONE || op->stmt || op->in_txn)) conn_break(c, why);
  if (op->stmt) { /* its connection was closed already: only the memory is left */
    mysql_stmt_close(op->stmt);
    op->stmt = NULL;
  }
  if (c->running) return;
  c->abandoned = why;
  call_over(L, c);
}

void call_abandon_conn(lua_State *L, conn_t *cn, const char *why) {
  if (cn->call) call_abandon(L, (call_t *)cn->call, why);
}

/* The clean-up, a step at a time: 0 when it is over, else it started I/O. */
static int end_step(call_t *c) {
  op_t *op = &c->op;
  MYSQL *my = op_mysql(op);
  op_free_result(op);
  for (;;) {
    switch (c->end_step++) {
      case 0: /* the prepared statement */
        if (op->stmt && my) {
          op->io = IO_STMT_CLOSE;
          op->pending = PEND_IO;
          if (io_step(c, -1)) return 1;
          op->io = IO_NONE;
          op->pending = PEND_NONE;
        }
        op->stmt = NULL;
        break;
      case 1: /* a transaction the call did not commit */
        if (op->in_txn && my) {
          op->in_txn = 0;
          op->sql.len = 0;
          sb_adds(&op->sql, "ROLLBACK");
          if (op->sql.oom) break;
          op->io = IO_QUERY;
          op->io_flags = SQL_TRY;
          op->pending = PEND_IO;
          if (io_step(c, -1)) return 1;
          op->io = IO_NONE;
          op->pending = PEND_NONE;
        }
        break;
      default:
        return 0;
    }
  }
}

/* ---- running pieces ------------------------------------------------------------------ */

/* Every piece may push this many values without asking: slots left by the
 * pieces before it in this run would otherwise eat into Lua's minimum. A
 * call's stack stays far below Lua's limit, so failing to grow it is a
 * memory error (luaL_checkstack would call it a stack overflow). */
#define PIECE_STACK 40
static void room(lua_State *T) {
  if (!lua_checkstack(T, PIECE_STACK)) luaL_error(T, "not enough memory for a seekdb call");
}

/* Runs on T with the slots as arguments: the pieces that are due, or one
 * slice of idle work; returns the slots, so that they outlive it. */
static int pieces_body(lua_State *T) {
  call_t *c = lua_touserdata(T, 1);
  op_t *op;
  int idle = lua_toboolean(T, 2);
  if (!c) return 0; /* called with nothing: see running_here */
  op = &c->op;
  lua_remove(T, 1);
  lua_remove(T, 1);
  if (idle) { /* idle work beside a statement in flight */
    op_fn fn = op->idle;
    op->idle = NULL; /* it sets itself again when there is more */
    room(T);
    fn(T, op);
    return lua_gettop(T);
  }
  while (op->pending == PEND_NONE && !op->done) {
    op_fn fn = op->next;
    if (op->err && !(op->io_flags & SQL_TRY)) op_sqlfail(T, op);
    if (!fn) luaL_error(T, "seekdb: internal error: %s has nothing to do", op->fname);
    op->next = NULL;
    room(T);
    fn(T, op);
  }
  return lua_gettop(T);
}

/* LuaJIT (before 2.1-20231006; Debian bookworm's luajit2 is 2.1-20230119)
 * still records T as the running thread after lua_pcall(T) returns. An
 * error raised on L afterwards (a call's misuse error, re-raised) and caught
 * by a pcall leaves that record on T, and the next exit from compiled code
 * writes L's frame into T's stack: a crash in the collector later (LuaJIT
 * issue #1066, fixed upstream in September 2023). Entering the VM on L puts
 * the record back: a call of pieces_body with no arguments, which does
 * nothing, taken from the registry so that nothing is allocated. */
static void running_here(lua_State *L, call_t *c) {
#if LUA_VERSION_NUM < 502
  if (c->body_ref == LUA_NOREF || !lua_checkstack(L, 1)) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->body_ref);
  if (lua_pcall(L, 0, 0, 0) != 0) lua_pop(L, 1);
#else
  (void)L;
  (void)c;
#endif
}

/* Room on T for n more values. T runs no code of its own outside
 * lua_pcall, so a failure here cannot be raised there: the call is ended and
 * the memory error raised in L, whose caller is protected as usual. */
static void ensure(lua_State *L, call_t *c, int n) {
  if (lua_checkstack(c->T, n)) return;
  call_abandon(L, c, "a call on it ran out of memory");
  luaL_error(L, "not enough memory for a seekdb call");
}

/* Runs pieces (or an idle slice) under lua_pcall on T, the slots as
 * arguments. 0 if they raised: the error is on T's top, the call is ending. */
static int run_pieces(lua_State *L, call_t *c, int idle) {
  lua_State *T = c->T;
  int n = lua_gettop(T), status;
  ensure(L, c, 4);
  lua_rawgeti(T, LUA_REGISTRYINDEX, c->body_ref);
  lua_insert(T, 1);
  lua_pushlightuserdata(T, c);
  lua_insert(T, 2);
  lua_pushboolean(T, idle);
  lua_insert(T, 3);
  c->running = 1;
  status = lua_pcall(T, n + 2, LUA_MULTRET, 0);
  c->running = 0;
  running_here(L, c);
  if (status == LUA_OK && c->op.conn && !c->op.conn->my && c->op.conn->call == (struct call *)c &&
      c->op.io == IO_NONE && c->op.pending == PEND_IO)
    c->op.pending = PEND_NONE; /* closed under the piece: the next one finds out */
  if (status == LUA_OK) return 1;
  if (status != LUA_ERRRUN) c->op.failed = c->op.raise = 1; /* out of memory: raise it */
  c->failed = 1;
  c->phase = PHASE_END;
  c->end_by = now_mono() + GRACE;
  op_free_result(&c->op);
  c->op.pending = c->op.io != IO_NONE ? PEND_IO : PEND_NONE;
  return 0;
}

/* The piece that fails a call whose time is up. */
static void timeout_fail(lua_State *L, op_t *op) {
  call_t *c = op_call_of(op);
  op->err_no = CR_SERVER_LOST;
  strcpy(op->sqlstate, "HY000");
  if (c->limit_option && strcmp(c->limit_option, "connect_timeout") == 0)
    op_fail(L, op, "timeout: could not connect within %f s (the client's connect_timeout option): the "
                   "server did not answer in time", c->limit);
  if (op->conn && !op->conn->my)
    op_fail(L, op, "timeout: %s did not finish within %f s (the client's %s option) and the server "
                   "still held it; the connection was closed: open a new client", op->fname, c->limit,
            c->limit_option ? c->limit_option : "timeout");
  op_fail(L, op, "timeout: %s did not finish within %f s (the client's %s option); nothing was "
                 "changed", op->fname, c->limit, c->limit_option ? c->limit_option : "timeout");
}

/* The call's deadline passed while it waited. */
static void timed_out(call_t *c) {
  op_t *op = &c->op;
  c->timed_out = 1;
  if (c->phase != PHASE_RUN) { /* the clean-up itself hangs: give up the connection */
    conn_break(c, "the server did not answer while a call was being cleaned up");
    op->pending = PEND_NONE;
    return;
  }
  if (op->io != IO_NONE) conn_break(c, "a call timed out while the server held it");
  op->pending = PEND_NONE;
  op->done = 0;
  op->err = 0;
  op->idle = NULL;
  op->next = timeout_fail;
}

/* Advances the call as far as it goes without waiting. `ready`: the socket
 * events that occurred (MYSQL_WAIT_*), or -1 when the caller did not look. */
static int advance(lua_State *L, call_t *c, int ready) {
  op_t *op = &c->op;
  int ran = 0; /* a step runs at least one piece before its time is up: it always gets on */
  if (c->sliced && c->phase == PHASE_RUN) {
    double slice = op->conn ? op->conn->slice : 0.001;
    op->slice_end = slice > 0 ? now_mono() + slice : 0; /* 0: no slices */
  }
  for (;;) {
    if (c->phase == PHASE_OVER) return STEP_DONE;
    switch (op->pending) {
      case PEND_IO: {
        int r = ready >= 0 ? (ready & (op->wait | MYSQL_WAIT_TIMEOUT)) : 0;
        double until;
        ready = -1;
        if (!(r & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)) && op->conn && op->conn->my)
          r |= poll_now(mysql_get_socket(op->conn->my), op->wait, 0);
        if (!(r & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT))) {
          if (op->idle && c->phase == PHASE_RUN) {
            if (c->sliced && ran && op_slice_over(op)) return STEP_YIELD;
            run_pieces(L, c, 1);
            ran = 1;
            continue;
          }
          until = wait_until(c);
          if (until == 0 || now_mono() < until) return STEP_WAIT;
          if (c->phase == PHASE_RUN && op->deadline > 0 && now_mono() >= op->deadline) {
            timed_out(c);
            continue;
          }
          if (c->phase != PHASE_RUN && now_mono() >= c->end_by) {
            timed_out(c);
            continue;
          }
          /* the library's own timeout (read_timeout...): it fails the
           * statement and the connection, and says so */
          r = MYSQL_WAIT_TIMEOUT;
        }
        if (io_step(c, r)) continue;
        io_finished(c);
        continue;
      }
      case PEND_SLEEP:
        if (now_mono() < op->wake) return STEP_WAIT;
        op->pending = PEND_NONE;
        continue;
      case PEND_YIELD:
        op->pending = PEND_NONE;
        if (c->sliced) return STEP_YIELD;
        continue;
      case PEND_EMBED:
        return STEP_EMBED;
      default:
        break;
    }
    if (c->phase == PHASE_RUN && !op->done && op->next != timeout_fail && op->deadline > 0 &&
        now_mono() >= op->deadline) {
      timed_out(c);
      continue;
    }
    if (c->phase == PHASE_RUN && !op->done) {
      if (c->sliced && ran && op_slice_over(op) && op->next) return STEP_YIELD;
      run_pieces(L, c, 0);
      ran = 1;
      continue;
    }
    if (c->phase == PHASE_RUN) { /* done: clean up, keeping the results */
      c->phase = PHASE_END;
      c->end_by = now_mono() + GRACE;
    }
    if (end_step(c)) continue;
    call_over(L, c);
    return STEP_DONE;
  }
}

/* ---- what continuations ask for ------------------------------------------------------ */

static void start_io(lua_State *L, op_t *op, int kind, op_fn next) {
  call_t *c = op_call_of(op);
  (void)L;
  op->next = next;
  op->io = kind;
  op->pending = PEND_IO;
  op->err = 0;
  if (!io_step(c, -1)) io_finished(c);
}

/* Only statements the server can take: a clear error instead of a lost
 * connection ("server has gone away") for one over max_allowed_packet. */
static void check_size(lua_State *L, op_t *op) {
  size_t limit = op_statement_limit(op);
  op_check_sql(L, op);
  if (op->sql.len > limit)
    op_fail(L, op, "%s would send a statement of %I bytes, more than the server takes (max_allowed_packet "
                   "%I bytes, less %d for the packet's header): %s",
            op->fname, (lua_Integer)op->sql.len, (lua_Integer)op->max_packet, PACKET_MARGIN,
            op->too_big ? op->too_big : "pass less at a time");
}

/* With a deadline, MariaDB is told to give up on its own before it: the
 * statement's time and its lock waits end inside the call's time, and the
 * connection stays usable. Prepended to the statement in op->sql; a
 * statement that has a SET STATEMENT of its own (a query's mhnsw_ef_search)
 * gets the limits added to it (a SET STATEMENT inside another loses the
 * outer one's variables). */
static void limit_statement(op_t *op, int flags) {
  static const char set[] = "SET STATEMENT ";
  double left;
  char head[128];
  int n, lock, merge;
  size_t at;
  if (!(flags & SQL_TIMED) || op->deadline <= 0 || op->dialect != DIALECT_MARIADB) return;
  left = op->deadline - now_mono() - 0.05;
  if (left < 0.001) left = 0.001;
  lock = left < 1 ? 1 : left > 1e6 ? 1000000 : (int)left;
  merge = op->sql.len > sizeof set - 1 && memcmp(op->sql.data, set, sizeof set - 1) == 0;
  n = snprintf(head, sizeof head, merge ? "max_statement_time=%.3f, innodb_lock_wait_timeout=%d, "
                                        : "SET STATEMENT max_statement_time=%.3f, innodb_lock_wait_timeout=%d FOR ",
               left, lock);
  if (n <= 0 || (size_t)n >= sizeof head) return;
  if (op->sql.cap - op->sql.len < (size_t)n && !sb_grow(&op->sql, (size_t)n)) return;
  at = merge ? sizeof set - 1 : 0;
  memmove(op->sql.data + at + n, op->sql.data + at, op->sql.len - at);
  memcpy(op->sql.data + at, head, (size_t)n);
  op->sql.len += (size_t)n;
}

static void dry_collect(lua_State *L, op_t *op, op_fn next) {
  lua_pushlstring(L, op->sql.data ? op->sql.data : "", op->sql.len);
  lua_rawseti(L, op->dry_idx, (lua_Integer)lua_rawlen(L, op->dry_idx) + 1);
  op->sql.len = 0;
  op->err = 0;
  op->res = NULL;
  op->next = next;
}

static void check_open(lua_State *L, op_t *op) {
  if (!op->conn->my)
    op_fail(L, op, "the seekdb client was closed during %s%s%s", op->fname,
            op->conn->closed_why ? ": " : "", op->conn->closed_why ? op->conn->closed_why : "");
}

void op_sql(lua_State *L, op_t *op, int flags, op_fn next) {
  check_size(L, op);
  op->io_flags = flags;
  if (!op->conn) {
    dry_collect(L, op, next);
    return;
  }
  check_open(L, op);
  op_free_result(op);
  limit_statement(op, flags);
  op_check_sql(L, op);
  start_io(L, op, IO_QUERY, next);
}

/* Prepares op->sql as op->stmt (closing an earlier one first is the
 * caller's business: op_prepare replaces it only when there is none). */
void op_prepare(lua_State *L, op_t *op, op_fn next) {
  check_size(L, op);
  op->io_flags = SQL_TRY;
  if (!op->conn) {
    dry_collect(L, op, next);
    return;
  }
  check_open(L, op);
  limit_statement(op, SQL_TIMED);
  op_check_sql(L, op);
  if (!op->stmt && !(op->stmt = mysql_stmt_init(op->conn->my))) op_fail(L, op, "not enough memory");
  start_io(L, op, IO_PREPARE, next);
}

void op_execute(lua_State *L, op_t *op, op_fn next) {
  op->io_flags = SQL_TRY | SQL_WARN;
  if (!op->conn) {
    op->err = 0;
    op->next = next;
    return;
  }
  check_open(L, op);
  start_io(L, op, IO_EXECUTE, next);
}

void op_connect(lua_State *L, op_t *op, op_fn next) {
  op->io_flags = SQL_TRY;
  start_io(L, op, IO_CONNECT, next);
}

/* The list on top goes to the embedding function at slot ef; `next` finds
 * on top what it returned (op->embed_ok) or the error it raised. */
void op_embed(lua_State *L, op_t *op, int ef, op_fn next) {
  (void)L;
  op->ef = ef;
  op->next = next;
  op->pending = PEND_EMBED;
}

void op_yield(lua_State *L, op_t *op, op_fn next) {
  (void)L;
  op->next = next;
  op->pending = PEND_YIELD;
}

void op_sleep(lua_State *L, op_t *op, double seconds, op_fn next) {
  (void)L;
  op->next = next;
  op->wake = now_mono() + seconds;
  op->pending = op->conn ? PEND_SLEEP : PEND_NONE;
}

void op_return(lua_State *L, op_t *op, int nret) {
  (void)L;
  op->done = 1;
  op->nret = nret;
}

int op_slice_over(op_t *op) { return op->slice_end > 0 && now_mono() >= op->slice_end; }

double op_time_left(op_t *op) { return op->deadline > 0 ? op->deadline - now_mono() : 1e12; }

/* SHOW WARNINGS after a statement whose warnings change what it means (a
 * regular expression that hit the server's limits matches nothing). */
static void warn_fail(lua_State *L, op_t *op) {
  MYSQL_ROW row = op->res ? mysql_fetch_row(op->res) : NULL;
  if (!row || mysql_num_fields(op->res) < 3)
    op_fail(L, op, "%s: the server gave warnings; the call was undone", op->fname);
  op->err_no = row[1] ? (unsigned int)strtoul(row[1], NULL, 10) : 0;
  strcpy(op->sqlstate, "HY000");
  lua_pushfstring(L, "%s: the server warned \"%s\" (%s %s), so the result would not be what the call "
                     "asked for; nothing was changed",
                  op->fname, row[2] ? row[2] : "", row[0] ? row[0] : "Warning", row[1] ? row[1] : "");
  op->failed = 1;
  lua_error(L);
}

static void warn_show(lua_State *L, op_t *op) {
  op->sql.len = 0;
  sb_adds(&op->sql, "SHOW WARNINGS LIMIT 1");
  op_sql(L, op, SQL_RESULT, warn_fail);
}

/* ---- the call object ------------------------------------------------------------------ */

static call_t *call_check(lua_State *L, int idx) { return luaL_checkudata(L, idx, CALL_MT); }

/* A new call of m with L's values 1..top as its slots (slot 1: the
 * connection, or in a dry run whatever the method takes first). Pushes the
 * call. Everything that can fail is done before the connection is marked
 * busy; after that nothing raises until the runtime takes over. */
static call_t *call_new(lua_State *L, const method_t *m, conn_t *cn, int dialect) {
  int n = lua_gettop(L), i;
  call_t *c;
  lua_State *T;
  if (cn && cn->call)
    luaL_error(L, "the seekdb client is busy with another call (one call at a time per client: an "
                  "embedding function may not use the client that called it; a call left unfinished "
                  "frees it when cancelled or collected)");
  c = lua_newuserdatauv(L, sizeof *c, 1);
  memset(c, 0, sizeof *c);
  c->phase = PHASE_OVER; /* nothing to clean up until it is complete */
  c->body_ref = LUA_NOREF;
  luaL_setmetatable(L, CALL_MT);
  lua_createtable(L, 2, 0); /* the uservalue: the thread and slot 1 (the connection) */
  T = lua_newthread(L);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 2);
  compat_setuservalue(L, -2);
  if (!lua_checkstack(T, n + 8)) luaL_error(L, "not enough memory for a seekdb call");
  luaL_checkstack(L, n + 2, "seekdb call");
  for (i = 1; i <= n; i++) lua_pushvalue(L, i);
  lua_xmove(L, T, n);
  lua_pushcfunction(L, pieces_body);
  c->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  op_init(&c->op, cn, m->name, dialect);
  if (m->state_size && !(c->op.state = calloc(1, m->state_size))) {
    luaL_unref(L, LUA_REGISTRYINDEX, c->body_ref);
    c->body_ref = LUA_NOREF;
    luaL_error(L, "not enough memory");
  }
  c->op.release = m->release;
  c->op.next = m->start;
  c->T = T;
  c->op.rng = (unsigned int)((size_t)c >> 4) ^ (unsigned int)(unsigned long long)(now_mono() * 1e6);
  if (cn && cn->timeout > 0) {
    c->op.deadline = now_mono() + cn->timeout;
    c->limit = cn->timeout;
    c->limit_option = "timeout";
  }
  c->phase = PHASE_RUN;
  if (cn) cn->call = (struct call *)c;
  return c;
}

/* The results of an ended call pushed on L (the usual convention), or its
 * misuse error raised there. */
static int deliver(lua_State *L, call_t *c) {
  op_t *op = &c->op;
  lua_State *T = c->T;
  c->delivered = 1;
  if (c->abandoned) {
    lua_settop(T, 0);
    lua_pushnil(L);
    lua_pushfstring(L, "%s was ended before it finished: %s", op->fname, c->abandoned);
    lua_pushinteger(L, CR_SERVER_LOST);
    lua_pushliteral(L, "HY000");
    return 4;
  }
  if (!c->failed) {
    int n = op->nret;
    luaL_checkstack(L, n + 1, "seekdb results");
    lua_xmove(T, L, n);
    lua_settop(T, 0);
    return n;
  }
  lua_xmove(T, L, 1);
  lua_settop(T, 0);
  if (!op->failed || op->raise) return lua_error(L);
  luaL_checkstack(L, 4, "seekdb results");
  lua_pushnil(L);
  lua_insert(L, -2);
  if (!op->err_no) return 2;
  lua_pushinteger(L, op->err_no);
  if (op->sqlstate[0]) lua_pushstring(L, op->sqlstate);
  else lua_pushnil(L);
  return 4;
}

/* The embedding function at slot op->ef on the list on T's top, called from C. */
static void embed_here(lua_State *L, call_t *c) {
  lua_State *T = c->T;
  op_t *op = &c->op;
  ensure(L, c, 3);
  lua_pushvalue(T, op->ef);
  lua_pushvalue(T, -2);
  c->running = 1;
  op->embed_ok = lua_pcall(T, 1, 1, 0) == LUA_OK;
  c->running = 0;
  running_here(L, c);
  op->pending = PEND_NONE;
}

/* Waits in this thread for what the call waits for. */
static void wait_here(call_t *c) {
  op_t *op = &c->op;
  double until = wait_until(c), left;
  int ms = -1;
  if (until > 0) {
    left = until - now_mono();
    ms = left <= 0 ? 0 : left > 2e6 ? 2000000000 : (int)(left * 1000) + 1;
  }
  if (op->pending == PEND_IO && op->conn && op->conn->my) {
    poll_now(mysql_get_socket(op->conn->my), op->wait, ms); /* advance looks at what is ready */
  } else if (ms > 0) {
    struct timespec d;
    d.tv_sec = ms / 1000;
    d.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&d, &d) < 0 && errno == EINTR) {}
  }
}

/* Drives the call to its end in this thread. */
static int drive_here(lua_State *L, call_t *c) {
  for (;;) {
    switch (advance(L, c, -1)) {
      case STEP_DONE: return deliver(L, c);
      case STEP_EMBED: embed_here(L, c); break;
      case STEP_WAIT: wait_here(c); break;
      default: break;
    }
  }
}

int call_blocking(lua_State *L, const method_t *m) {
  return drive_here(L, call_new(L, m, conn_check(L, 1), 0));
}

int call_start(lua_State *L, const method_t *m, int sliced) {
  call_t *c = call_new(L, m, conn_check(L, 1), 0);
  c->sliced = sliced;
  c->op.sliced = sliced && c->op.conn->slice > 0;
  return 1;
}

int call_dry(lua_State *L, const method_t *m, int dialect) {
  return drive_here(L, call_new(L, m, NULL, dialect));
}

int call_connect(lua_State *L, const method_t *m, conn_t *cn, double limit, int resumable) {
  call_t *c = call_new(L, m, NULL, 0);
  c->op.conn = cn;
  cn->call = (struct call *)c;
  c->op.deadline = limit > 0 ? now_mono() + limit : 0;
  c->limit = limit;
  c->limit_option = "connect_timeout";
  if (resumable) {
    c->sliced = 1;
    return 1;
  }
  return drive_here(L, c);
}

static void push_events(lua_State *L, int w) {
  if (!w) lua_pushnil(L);
  else lua_pushstring(L, (w & MYSQL_WAIT_READ) && (w & MYSQL_WAIT_WRITE) ? "rw" : (w & MYSQL_WAIT_WRITE) ? "w" : "r");
}

/* Seconds until the current wait must end (nil: no limit; 0 between slices). */
static void push_timeout(lua_State *L, call_t *c) {
  double until;
  if (c->phase == PHASE_OVER || c->op.pending == PEND_YIELD || c->op.pending == PEND_NONE) {
    lua_pushnumber(L, 0);
    return;
  }
  until = wait_until(c);
  if (until > 0) {
    double left = until - now_mono();
    lua_pushnumber(L, left > 0 ? left : 0);
  } else lua_pushnil(L);
}

static int has_socket(call_t *c) {
  return c->phase != PHASE_OVER && c->op.pending == PEND_IO && c->op.conn && c->op.conn->my;
}

/* call:resume([ok, value]) -> "wait", fd, events, timeout, waited | "embed",
 * fn, texts | "yield" | "done", results... The Lua layer's driver: after
 * "embed" it passes what pcall(fn, texts) returned. `waited`: seconds the
 * I/O in flight has been waited for (nil when the call only waits for a
 * time), so that a driver that polls can back off per statement. */
static int call_resume(lua_State *L) {
  call_t *c = call_check(L, 1);
  op_t *op = &c->op;
  int st;
  if (c->delivered) return luaL_error(L, "this seekdb call has ended already");
  if (op->pending == PEND_EMBED && c->phase == PHASE_RUN) {
    if (lua_gettop(L) < 2) return luaL_error(L, "the call waits for what its embedding function returned");
    op->embed_ok = lua_toboolean(L, 2);
    lua_settop(L, 3);
    ensure(L, c, 1);
    lua_xmove(L, c->T, 1);
    op->pending = PEND_NONE;
  }
  lua_settop(L, 1);
  st = advance(L, c, -1);
  switch (st) {
    case STEP_DONE:
      lua_pushliteral(L, "done");
      return deliver(L, c) + 1;
    case STEP_EMBED:
      ensure(L, c, 2);
      lua_pushliteral(L, "embed");
      lua_pushvalue(c->T, op->ef);
      lua_pushvalue(c->T, -2);
      lua_xmove(c->T, L, 2);
      return 3;
    case STEP_YIELD:
      lua_pushliteral(L, "yield");
      return 1;
    default:
      lua_pushliteral(L, "wait");
      if (has_socket(c)) lua_pushinteger(L, mysql_get_socket(op->conn->my));
      else lua_pushnil(L);
      push_events(L, has_socket(c) ? op->wait : 0);
      push_timeout(L, c);
      if (has_socket(c)) lua_pushnumber(L, now_mono() - c->io_began);
      else lua_pushnil(L);
      return 5;
  }
}

/* cqueues' pollable protocol: call:pollfd(), call:events(), call:timeout() */
static int call_pollfd(lua_State *L) {
  call_t *c = call_check(L, 1);
  if (has_socket(c)) lua_pushinteger(L, mysql_get_socket(c->op.conn->my));
  else lua_pushnil(L);
  return 1;
}

static int call_events(lua_State *L) {
  call_t *c = call_check(L, 1);
  push_events(L, has_socket(c) ? c->op.wait : 0);
  return 1;
}

static int call_timeout(lua_State *L) {
  push_timeout(L, call_check(L, 1));
  return 1;
}

/* call:wait(): waits in this thread (the blocking form, driven from Lua). */
static int call_wait(lua_State *L) {
  call_t *c = call_check(L, 1);
  if (c->phase != PHASE_OVER) wait_here(c);
  return 0;
}

/* call:cancel(): ends the call now. Nothing is written: a statement in flight
 * cannot be waited for here, so the connection is closed (the server rolls
 * back); a call that was between statements only frees its client. */
static int call_cancel(lua_State *L) {
  call_t *c = call_check(L, 1);
  call_abandon(L, c, "it was cancelled");
  return 0;
}

/* call:fail(err): the driver met an error outside the call's pieces (raised
 * in its own Lua code, in a finalizer, out of memory): the call fails with
 * it instead of being left unfinished (its client busy, then closed when the
 * call is collected). Its statement in flight is awaited and its
 * transaction rolled back as for any failure; the driver then resumes it to
 * its end (waiting in place), where "done" raises err. A call that is ending
 * already ends as it was going to. Returns whether the call has an end to
 * be driven to (false once its results were delivered). */
static int call_fail(lua_State *L) {
  call_t *c = call_check(L, 1);
  op_t *op = &c->op;
  lua_settop(L, 2);
  lua_pushboolean(L, !c->delivered && !c->running);
  if (c->phase != PHASE_RUN || c->running) return 1;
  lua_pushvalue(L, 2);
  ensure(L, c, 1);
  lua_xmove(L, c->T, 1);
  c->failed = 1;
  op->failed = 0;
  op->raise = 1; /* deliver raises it again */
  op->idle = NULL;
  c->phase = PHASE_END;
  c->end_by = now_mono() + GRACE;
  op_free_result(op);
  op->pending = op->io != IO_NONE ? PEND_IO : PEND_NONE;
  return 1;
}

static int call_gc(lua_State *L) {
  call_t *c = call_check(L, 1);
  call_abandon(L, c, "a call on it was left unfinished in the middle of a statement");
  return 0;
}

static int call_tostring(lua_State *L) {
  call_t *c = call_check(L, 1);
  static const char *const what[] = {"running", "waiting for the server", "waiting for its embedding function",
                                     "between slices", "backing off"};
  lua_pushfstring(L, "seekdb call %s (%s)", c->op.fname ? c->op.fname : "?",
                  c->phase == PHASE_OVER ? "ended" : c->phase == PHASE_END ? "ending" : what[c->op.pending]);
  return 1;
}

void call_register(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"resume", call_resume}, {"pollfd", call_pollfd}, {"events", call_events},
    {"timeout", call_timeout}, {"wait", call_wait}, {"cancel", call_cancel}, {"fail", call_fail},
    {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", call_gc}, {"__close", call_gc}, {"__tostring", call_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, CALL_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
