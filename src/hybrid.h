/* collection:hybrid_search, shared by hybrid.c (the method, both dialects)
 * and hybrid_parm.c (the arguments checked, and seekdb's search_parm JSON
 * built from them). */
#ifndef SEEKDB_HYBRID_H
#define SEEKDB_HYBRID_H

#include "marshal.h"
#include "seekdb.h"

/* Building the search_parm. Every cJSON node is attached to `root` (or to
 * `kfilter`) as soon as it is made, so that a piece that raises half-way
 * leaks nothing: the method's release frees both. */
typedef struct hparm {
  lua_State *L;
  op_t *op;
  cJSON *root;        /* {"query": ..., "knn": ..., "size": n, "rank": ..., "_source": [...]} */
  cJSON *kfilter;     /* knn's "filter": the conditions of knn.where, copied into each knn */
  sbuf *words;        /* every $contains text, space separated: MariaDB's MATCH relevance */
  char path[200];     /* where in the arguments we are, for messages: query.where.k.$in[2] */
  size_t pathlen;
} hparm;

/* Checks query = {where_document =, where =, n_results =} (the table at
 * idx) and adds "query" to h->root. */
void hparm_query(hparm *h, int where_document, int where);
/* Checks knn.where (nil or a table at where) into h->kfilter. */
void hparm_knn_filter(hparm *h, int where);
/* Adds "knn": one object per query vector (a list of them for several). */
void hparm_knn(hparm *h, const float *vecs, lua_Integer n, int dim, lua_Integer k);
/* Checks rank = {rrf = {rank_window_size =, rank_constant =}} at idx (nil:
 * pyseekdb's defaults, 60 and 60) into *window and *constant; adds "rank"
 * as it was given. */
void hparm_rank(hparm *h, int rank, lua_Integer *window, lua_Integer *constant);
/* Adds "size" and "_source" (the columns include asks for, INC_*). */
void hparm_finish(hparm *h, lua_Integer size, int inc);

/* Largest rank_window_size: seekdb's limit on LIMIT + OFFSET of an
 * approximate search; it also bounds what MariaDB's fusion holds. */
#define HYBRID_WINDOW_MAX 16384

#endif
