/* Growable buffer and the SQL literal writers that use it. */
#include <stdlib.h>

#include "buffer.h"

int sb_grow(sbuf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (b->oom) return 0;
  if (extra > (size_t)-1 / 2 - b->len) goto fail;
  need = b->len + extra;
  cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  p = realloc(b->data, cap);
  if (!p) goto fail;
  b->data = p;
  b->cap = cap;
  return 1;
fail:
  b->oom = 1;
  return 0;
}

void sb_free(sbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

struct ablock {
  ablock *next;
  size_t len, cap;
  char data[];
};

#define ABLOCK_MIN (64 * 1024)

const char *arena_put(arena *a, const void *p, size_t n) {
  ablock *k = a->head;
  char *out;
  if (!k || k->cap - k->len < n) {
    size_t cap = n > ABLOCK_MIN ? n : ABLOCK_MIN;
    if (!(k = malloc(sizeof *k + cap))) return NULL;
    k->next = a->head, k->len = 0, k->cap = cap;
    a->head = k;
  }
  out = k->data + k->len;
  if (n) memcpy(out, p, n);
  k->len += n;
  return out;
}

void arena_free(arena *a) {
  while (a->head) {
    ablock *k = a->head;
    a->head = k->next;
    free(k);
  }
}

size_t u64_digits(char *out, unsigned long long u) {
  char tmp[20], *p = tmp + sizeof tmp;
  do *--p = (char)('0' + u % 10); while ((u /= 10) != 0);
  memcpy(out, p, (size_t)(tmp + sizeof tmp - p));
  return (size_t)(tmp + sizeof tmp - p);
}

size_t i64_digits(char *out, long long v) {
  if (v >= 0) return u64_digits(out, (unsigned long long)v);
  *out = '-';
  return 1 + u64_digits(out + 1, 0ULL - (unsigned long long)v);
}

void sb_addint(sbuf *b, long long v) {
  char tmp[24];
  sb_add(b, tmp, i64_digits(tmp, v));
}

void sb_addhex(sbuf *b, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *s = p;
  char *o;
  size_t i;
  if (b->cap - b->len < 2 * n + 3 && !sb_grow(b, 2 * n + 3)) return;
  o = b->data + b->len;
  *o++ = 'X';
  *o++ = '\'';
  for (i = 0; i < n; i++) {
    *o++ = digits[s[i] >> 4];
    *o++ = digits[s[i] & 15];
  }
  *o++ = '\'';
  b->len = (size_t)(o - b->data);
}

/* A string as _utf8mb4 X'<hex>'. Backslash escaping ('...') is only as safe
 * as the session charset lets it be: in GBK, Big5 or SJIS a byte 0x81-0xFE
 * takes the backslash after it as the second byte of one character, and the
 * quote it was escaping closes the literal. Hex digits mean the same in every
 * charset and sql_mode, and the introducer names the charset of the bytes, so
 * the server reads them as UTF-8 whatever character_set_connection is (and
 * gives the literal utf8mb4's default collation, as a plain literal has in a
 * utf8mb4 session), and NO_BACKSLASH_ESCAPES changes nothing. All statement
 * text is then ASCII. */
void sb_addquoted(sbuf *b, const char *s, size_t n) {
  sb_adds(b, "_utf8mb4 ");
  sb_addhex(b, s, n);
}

void sb_addident(sbuf *b, const char *s) {
  sb_addc(b, '`');
  sb_adds(b, s);
  sb_addc(b, '`');
}
