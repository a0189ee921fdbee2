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
/* float32 little-endian bytes (len / 4 of them) -> out; VEC_NONFINITE with
 * *pos (1-based) at the first NaN or infinity, else VEC_OK. */
int vec_from_bytes(const char *s, size_t len, float *out, lua_Integer *pos);
/* out (n floats) as float32 little-endian bytes into b (4 * n bytes). */
void vec_to_bytes(const float *f, int n, char *b);

/* vecobj.c: seekdb.vector, a userdata holding dim floats (native order,
 * which is little-endian on every machine the core is built for; the byte
 * conversions above say so for any other). Immutable from Lua; LuaJIT code
 * may reach the floats through v:pointer(). */
#define VECTOR_MT "seekdb.vector"
typedef struct vecobj {
  int dim;
  float f[];
} vecobj_t;
/* Pushes a new vector of dim floats (uninitialised) and returns it. */
vecobj_t *vecobj_new(lua_State *L, int dim);
/* The vector at idx, or NULL when it is something else. */
vecobj_t *vecobj_test(lua_State *L, int idx);
/* As vec_push, but pushes a seekdb.vector made straight from the bytes (or
 * text): no Lua table. 0 (nothing pushed) when it is neither. */
int vecobj_push(lua_State *L, const char *data, size_t len, int dim, int text_ok);
/* seekdb.vector(bytes_or_table[, dim]) */
int vecobj_ctor(lua_State *L);

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
