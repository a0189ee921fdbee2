/* The shared vocabulary's words that are data (see vocab.h). */
#include "seekdb.h"

const char *const distance_names[] = {"cosine", "l2", "inner_product", NULL};

/* seekdb's functions order by distance (inner_product by similarity, DESC);
 * MariaDB has no inner product. */
const char *distance_function(int dialect, int dist) {
  if (dialect == DIALECT_MARIADB) return dist == DIST_L2 ? "VEC_DISTANCE_EUCLIDEAN" : "VEC_DISTANCE_COSINE";
  return dist == DIST_L2 ? "l2_distance" : dist == DIST_IP ? "inner_product" : "cosine_distance";
}
