/* A growable byte buffer for building SQL text.
 *
 * Running out of memory is sticky: the first failed growth sets `oom` and every
 * later append does nothing, so a caller appends a whole statement and checks
 * once at the end instead of after every call. */
#ifndef SEEKDB_BUFFER_H
#define SEEKDB_BUFFER_H

#include <stddef.h>
#include <string.h>

typedef struct sbuf {
  char *data;
  size_t len, cap;
  int oom;
} sbuf;

#define SBUF_INIT {NULL, 0, 0, 0}

int sb_grow(sbuf *b, size_t extra);
void sb_free(sbuf *b);

static inline void sb_add(sbuf *b, const void *p, size_t n) {
  if (b->cap - b->len < n && !sb_grow(b, n)) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void sb_addc(sbuf *b, char c) {
  if (b->cap == b->len && !sb_grow(b, 1)) return;
  b->data[b->len++] = c;
}

static inline void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Drop what was appended after `mark` (a length read earlier). */
static inline void sb_truncate(sbuf *b, size_t mark) { if (mark < b->len) b->len = mark; }

void sb_addint(sbuf *b, long long v);
/* The decimal digits of u at out (at most 20, no NUL); how many. For text
 * made for every row (labels, metadata integers), where printf would show. */
size_t u64_digits(char *out, unsigned long long u);
/* The same for a signed v (at most 20 bytes with its '-'). */
size_t i64_digits(char *out, long long v);
/* X'...': any bytes, safe whatever the sql_mode or charset. */
void sb_addhex(sbuf *b, const void *p, size_t n);
/* A text value: _utf8mb4 X'...', whose meaning depends on neither the
 * session charset nor the sql_mode. s must be valid UTF-8. */
void sb_addquoted(sbuf *b, const char *s, size_t n);
/* `name` for an identifier already validated to contain no backquote. */
void sb_addident(sbuf *b, const char *s);

/* Bytes that stay where they are once stored: blocks chained, never moved
 * by realloc. A row's metadata lives here while another thread sends the
 * rows before it (see sender.c); freed all at once. */
typedef struct ablock ablock;
typedef struct arena {
  ablock *head;
} arena;

#define ARENA_INIT {NULL}

/* A copy of p[0..n) that does not move; NULL when memory runs out. */
const char *arena_put(arena *a, const void *p, size_t n);
void arena_free(arena *a);

#endif
