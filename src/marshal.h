/* Pure marshalling between Lua values and what goes on the wire: float32
 * vectors and metadata JSON. Nothing here touches a connection, so the fuzzers
 * and golden tests can drive it directly. */
#ifndef SEEKDB_MARSHAL_H
#define SEEKDB_MARSHAL_H

#include "compat.h"
#include <cJSON.h>

#include "buffer.h"
#include "vocab.h"

/* vector.c (the statuses are in vocab.h) */
int vec_read(lua_State *L, int idx, int dim, float *out, lua_Integer *pos);
/* Pushes the message for a vector that vec_read refused: `what` names it
 * ("embeddings[3]"), the table is at idx. 1 when the mistake is misuse (a
 * wrong type: raise it), 0 when it is a bad value (return nil, err). */
int vec_message(lua_State *L, int idx, int status, const char *what, lua_Integer pos, int dim);
int seq_exact(lua_State *L, int idx, lua_Integer n);
int seq_exact_full(lua_State *L, int idx, lua_Integer n);
void vec_addhex(sbuf *b, const float *v, int dim);
int vec_push(lua_State *L, const char *data, size_t len, int dim, int text_ok);
int vec_parse_text(const char *s, size_t len, float *out, int dim);

/* json.c */
int utf8_valid(const char *s, size_t len);
typedef struct jenc {
  cJSON *root;        /* the tree being built: freed by the owner on any exit */
  char path[160];     /* where we are, e.g. metadatas[3].tags[2] */
  size_t pathlen;
  char err[320];
  int misuse;         /* the error is a wrong type (raised), not a bad value */
} jenc;
int meta_encode(lua_State *L, int idx, jenc *j, sbuf *out);
int json_encode(lua_State *L, int idx, jenc *j, sbuf *out);
int json_push(lua_State *L, const char *s, size_t len);
typedef struct jkey {
  const char *s;
  size_t len;
} jkey;
long keys_sorted(lua_State *L, int idx, jkey **out);

#endif
