/* Writes and deletes run again after a deadlock or a lock wait timeout.
 *
 * InnoDB ends a deadlock by rolling back one writer's whole transaction, and
 * a lock wait timeout can happen to anyone among concurrent writers. A call
 * is one transaction and keeps what its input became (embedding functions
 * are not called again), so it simply runs again: ROLLBACK, a backoff with
 * jitter so that the writers who met do not meet again at once, then the
 * transaction from its start. Up to the client's deadlock_retries (a lock
 * wait timeout: once), and only while the call's deadline leaves time. */
#include "seekdb.h"

/* xorshift: the jitter needs no quality, only to differ between clients */
static double jitter(op_t *op) {
  unsigned int x = op->rng ? op->rng : 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  op->rng = x;
  return (double)(x % 1000) / 1000.0;
}

static void rolled_back(lua_State *L, op_t *op) {
  op_free_result(op);
  op_sleep(L, op, op->retry_backoff, op->retry_again);
}

int retry_after(lua_State *L, op_t *op, int *attempt, op_fn again) {
  double backoff;
  if (!op->conn || (op->err != ER_LOCK_DEADLOCK && op->err != ER_LOCK_WAIT_TIMEOUT)) return 0;
  if (*attempt >= op->conn->retries) return 0;
  /* A lock wait timeout means a lock was held for all of
   * innodb_lock_wait_timeout: one more try (a writer of the same rows may
   * have been slow), not ten of those waits. */
  if (op->err == ER_LOCK_WAIT_TIMEOUT && op->lock_waits_retried++ >= 1) return 0;
  /* 2, 4, 8... ms, up to 512, times 1 to 2 */
  backoff = (double)(2 << (*attempt < 8 ? *attempt : 8)) / 1000.0 * (1.0 + jitter(op));
  if (op_time_left(op) < backoff + 0.05) return 0;
  (*attempt)++;
  op->retry_again = again;
  op->retry_backoff = backoff;
  op->in_txn = 0;
  op->sql.len = 0;
  sb_adds(&op->sql, "ROLLBACK"); /* a lock wait timeout undid only its statement */
  op_sql(L, op, SQL_TRY, rolled_back);
  return 1;
}
