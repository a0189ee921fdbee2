/* A prepared statement's execution on a thread of its own.
 *
 * A pipelined write (upsert.c) reads the next rows out of the Lua tables
 * while the server works on the rows before them: on two cores the client's
 * marshalling then costs no wall time. The rules that make it safe:
 *   - the thread runs Connector/C on the statement it was given and nothing
 *     else: never Lua, never another connection;
 *   - meanwhile the caller does not touch the connection, and the memory the
 *     bound rows point into stays where it is (the other set of bind arrays
 *     is filled; metadata lives in an arena);
 *   - whoever uses the connection next waits first: the next execution, an
 *     error path, closing the statement (batch_release), ROLLBACK after it.
 * Where no thread can be made, the statement runs in the caller's thread. */
#include <signal.h>

#include "seekdb.h"

static void *sender_main(void *p) {
  sender_t *s = p;
  mysql_thread_init(); /* Connector/C's per-thread setup (a no-op in 3.x) */
  s->rc = mysql_stmt_execute(s->stmt);
  mysql_thread_end();
  return NULL;
}

void sender_start(sender_t *s, MYSQL_STMT *stmt, int threaded) {
  pthread_attr_t attr;
  sigset_t all, old;
  s->stmt = stmt;
  s->rc = 0;
  s->running = 0;
  if (threaded && pthread_attr_init(&attr) == 0) {
    pthread_attr_setstacksize(&attr, 1 << 20);
    /* Signals stay with the application's own threads (nginx, lua.c's
     * SIGINT): the sender starts with all of them blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    s->running = pthread_create(&s->thread, &attr, sender_main, s) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (s->running) return;
  }
  s->rc = mysql_stmt_execute(stmt);
}

/* Waits for the execution; its result (0: done). Harmless when idle. */
int sender_wait(sender_t *s) {
  if (s->running) {
    pthread_join(s->thread, NULL);
    s->running = 0;
  }
  return s->rc;
}
