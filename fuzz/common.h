/* Shared by the libFuzzer targets in fuzz/: failing loudly, a Lua state per
 * input, and an SQL scanner that knows MySQL's quoting rules.
 *
 * A target reports a bug by calling fz_fail(), which prints what went wrong
 * and abort()s: libFuzzer then saves the input as a crash reproducer. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/* ---- failing ------------------------------------------------------------- */

static __attribute__((unused)) void fz_dump(const char *label, const void *p, size_t n) {
  const unsigned char *s = p;
  fprintf(stderr, "%s (%zu bytes): \"", label, n);
  for (size_t i = 0; i < n && i < 2000; i++) {
    if (s[i] == '\\' || s[i] == '"') fprintf(stderr, "\\%c", s[i]);
    else if (s[i] >= 0x20 && s[i] < 0x7f) fputc(s[i], stderr);
    else fprintf(stderr, "\\x%02x", s[i]);
  }
  fprintf(stderr, n > 2000 ? "\"...\n" : "\"\n");
}

static __attribute__((unused)) void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static __attribute__((unused)) void fz_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\n==fuzz== CHECK FAILED: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

/* Runs f(L) with the light userdata ud under lua_pcall. The pure marshalling
 * functions only raise on a Lua memory error, which these small inputs never
 * cause, so any error from them is reported as a bug unless errors_ok. */
static __attribute__((unused)) void fz_pcall(lua_State *L, lua_CFunction f, void *ud, int errors_ok) {
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, ud);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    if (!errors_ok) {
      const char *msg = lua_tostring(L, -1);
      fz_fail("unexpected Lua error: %s", msg ? msg : "(not a string)");
    }
    lua_pop(L, 1);
  }
}

/* ---- SQL ------------------------------------------------------------------- */

/* Scans a statement the way MySQL/MariaDB tokenise it (sql_mode without
 * NO_BACKSLASH_ESCAPES or ANSI_QUOTES): '...' and "..." are strings in which
 * a backslash escapes the next byte and a doubled quote is a quote; `...` is
 * an identifier in which only a doubled backquote is one. For each literal,
 * cb(kind, start, len, ud) gets the raw text between the quotes (kind is the
 * quote character). Outside literals the text must be what the generators
 * write: words, numbers, ( ) , . = < > * + - @ and spaces, and never a comment
 * (--, #, / *), a statement separator (;), a control byte or a non-ASCII byte.
 * Returns NULL when the statement is well formed, else what is wrong, with
 * *at set to the offset. */
typedef void (*fz_lit_cb)(char kind, const char *s, size_t n, void *ud);

static const char *fz_sql_scan(const char *s, size_t n, size_t *at, fz_lit_cb cb, void *ud) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    *at = i;
    if (c == '\'' || c == '"' || c == '`') {
      size_t start = ++i;
      for (;;) {
        if (i >= n) return c == '`' ? "ends inside a `quoted` identifier" : "ends inside a string literal";
        if (s[i] == '\\' && c != '`') {
          i += 2;
          continue;
        }
        if ((unsigned char)s[i] == c) {
          if (i + 1 < n && (unsigned char)s[i + 1] == c) {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      if (cb) cb((char)c, s + start, i - start, ud);
      i++; /* the closing quote */
      continue;
    }
    if (c == '-' && i + 1 < n && s[i + 1] == '-') return "has -- (a comment) outside literals";
    if (c == '/' && i + 1 < n && s[i + 1] == '*') return "has /* (a comment) outside literals";
    if (c == '#') return "has # (a comment) outside literals";
    if (c == ';') return "has ; (a second statement) outside literals";
    if (!(isalnum(c) || c == '_' || c == ' ' || strchr("(),.=<>*+-@", c)) || c == 0)
      return "has a byte outside literals that no generator writes";
    i++;
  }
  return NULL;
}

/* The words outside literals must be SQL the module writes, never a piece
 * of the input: checked against this vocabulary (case-insensitive). */
static const char *const fz_vocab[] = {
  /* get / count / filters */
  "SELECT", "_id", "document", "metadata", "embedding", "FROM", "WHERE", "AND", "OR", "NOT",
  "JSON_OVERLAPS", "JSON_EXTRACT", "JSON_VALUE", "CAST", "AS", "JSON", "MATCH", "AGAINST", "IN",
  "NATURAL", "LANGUAGE", "MODE", "REGEXP", "TRUE", "FALSE", "LIMIT", "OFFSET", "X", "COUNT",
  /* upsert */
  "START", "TRANSACTION", "COMMIT", "INSERT", "INTO", "VALUES", "ON", "DUPLICATE", "KEY", "UPDATE",
  "NULL",
  /* query */
  "cosine_distance", "VEC_DISTANCE_COSINE", "ORDER", "BY", "APPROXIMATE",
  /* create_collection, both dialects */
  "CREATE", "TABLE", "varbinary", "PRIMARY", "string", "vector", "FULLTEXT", "INDEX", "idx_fts",
  "WITH", "PARSER", "ik", "idx_vec", "distance", "cosine", "l2", "inner_product", "type", "hnsw",
  "lib", "vsag", "ORGANIZATION", "HEAP", "LONGTEXT", "M", "euclidean", "DEFAULT", "CHARSET",
  "utf8mb4",
  /* the charset introducer of every text value: _utf8mb4 X'..' */
  "_utf8mb4",
  /* hybrid_search: seekdb's session variable and function, MariaDB's rankings */
  "SET", "search_parm", "DBMS_HYBRID_SEARCH", "GET_SQL", "query_sql", "dual", "UNION", "ALL", "DESC",
  "part", "score", "ranked",
  /* query on MariaDB: a UNION ALL of derived tables, a window filtered by _m */
  "_q", "_t", "_m", "_w", NULL};

static __attribute__((unused)) int fz_word_known(const char *w, size_t n) {
  for (int i = 0; fz_vocab[i]; i++)
    if (strlen(fz_vocab[i]) == n && strncasecmp(fz_vocab[i], w, n) == 0) return 1;
  return 0;
}

/* After fz_sql_scan: every word outside literals is in fz_vocab and every
 * number is a plain decimal (optionally with an exponent). A hex literal
 * X'..' must hold hex digits only. NULL when fine. */
static const char *fz_sql_words(const char *s, size_t n, size_t *at) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    *at = i;
    if (c == '\'' || c == '"' || c == '`') { /* skip the literal (already known to close) */
      i++;
      while (i < n) {
        if (s[i] == '\\' && c != '`') { i += 2; continue; }
        if ((unsigned char)s[i] == c) {
          if (i + 1 < n && (unsigned char)s[i + 1] == c) { i += 2; continue; }
          break;
        }
        i++;
      }
      i++;
      continue;
    }
    if (isdigit(c)) {
      while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')) i++;
      if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !isdigit((unsigned char)s[i])) return "has a malformed number";
        while (i < n && isdigit((unsigned char)s[i])) i++;
      }
      if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_')) return "has a number glued to a word";
      continue;
    }
    if (isalpha(c) || c == '_') {
      size_t w = i;
      while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_')) i++;
      if (!fz_word_known(s + w, i - w)) return "has a word outside literals that is not the module's SQL";
      if (i - w == 1 && (s[w] == 'X' || s[w] == 'x') && i < n && s[i] == '\'') {
        i++;
        while (i < n && s[i] != '\'') {
          if (!isxdigit((unsigned char)s[i])) return "has a X'..' literal with a non-hex digit";
          i++;
        }
        i++;
      }
      continue;
    }
    i++;
  }
  return NULL;
}

static __attribute__((unused)) void fz_check_sql(const char *what, const char *s, size_t n, fz_lit_cb cb, void *ud) {
  size_t at = 0;
  const char *why = fz_sql_scan(s, n, &at, cb, ud);
  if (!why) why = fz_sql_words(s, n, &at);
  if (why) {
    fz_dump("statement", s, n);
    fz_fail("%s: the statement %s (at byte %zu)", what, why, at);
  }
}

/* The bytes a MySQL '...' literal stands for (its raw text between the
 * quotes, as fz_sql_scan found it), appended to a Lua buffer. */
static __attribute__((unused)) void fz_sql_unescape(luaL_Buffer *b, const char *s, size_t n, char quote) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\' && i + 1 < n) {
      c = s[++i];
      switch (c) {
        case '0': luaL_addchar(b, '\0'); break;
        case 'n': luaL_addchar(b, '\n'); break;
        case 'r': luaL_addchar(b, '\r'); break;
        case 'Z': luaL_addchar(b, '\032'); break;
        case 'b': luaL_addchar(b, '\b'); break;
        case 't': luaL_addchar(b, '\t'); break;
        case '%': case '_': luaL_addchar(b, '\\'); luaL_addchar(b, c); break; /* kept as is */
        default: luaL_addchar(b, c);
      }
    } else if (c == quote && i + 1 < n && s[i + 1] == quote) {
      luaL_addchar(b, c);
      i++;
    } else
      luaL_addchar(b, c);
  }
}

#endif
