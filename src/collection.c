/* Collections: their tables' DDL in each dialect, and finding, listing and
 * dropping them. The layout is pyseekdb's (`c$v1$<name>` with _id, document,
 * embedding, metadata) so that either side reads what the other wrote. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "seekdb.h"

#define DIM_MAX 4096

/* Server errors we turn into plain words (errno and SQLSTATE are kept). */
#define ER_TABLE_EXISTS 1050
#define ER_BAD_TABLE 1051
#define ER_NO_SUCH_TABLE 1146

static const char *const distances[] = {"cosine", "l2", "inner_product", NULL};
enum { DIST_COSINE, DIST_L2, DIST_IP };

static void ddl_create(sbuf *b, int dialect, const char *table, lua_Integer dim, int dist) {
  sb_adds(b, "CREATE TABLE ");
  sb_addident(b, table);
  if (dialect == DIALECT_SEEKDB) {
    /* exactly pyseekdb's DDL */
    sb_adds(b, " (_id varbinary(512) PRIMARY KEY NOT NULL, document string, embedding vector(");
    sb_addint(b, dim);
    sb_adds(b, "), metadata json, FULLTEXT INDEX idx_fts(document) WITH PARSER ik, "
               "VECTOR INDEX idx_vec (embedding) with(distance=");
    sb_adds(b, distances[dist]);
    sb_adds(b, ", type=hnsw, lib=vsag)) ORGANIZATION = HEAP");
  } else {
    /* MariaDB: a vector index needs a NOT NULL column and a key of at most
     * 256 bytes (VARBINARY(254) is the largest that fits). */
    sb_adds(b, " (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, embedding VECTOR(");
    sb_addint(b, dim);
    sb_adds(b, ") NOT NULL, metadata JSON, FULLTEXT INDEX idx_fts (document), "
               "VECTOR INDEX idx_vec (embedding) DISTANCE=");
    sb_adds(b, dist == DIST_L2 ? "euclidean" : "cosine");
    sb_adds(b, ") DEFAULT CHARSET=utf8mb4");
  }
}

/* create_collection(name, dimension, distance) -> true | nil, err */
static int create_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  lua_Integer dim;
  int dist, isint;
  unsigned int err;
  op_dry_begin(L, op);
  op_table_name(L, op, 2, table);
  dim = lua_tointegerx(L, 3, &isint);
  if (!isint || lua_type(L, 3) != LUA_TNUMBER) op_argerror(L, op, 1, "dimension must be an integer, got %s", luaL_typename(L, 3));
  if (dim < 1 || dim > DIM_MAX)
    op_fail(L, op, "dimension %I is out of range: a collection has 1 to 4096 dimensions", dim);
  dist = luaL_checkoption(L, 4, "cosine", distances);
  if (dist == DIST_IP && op->dialect == DIALECT_MARIADB)
    op_fail(L, op, "MariaDB has no inner-product distance: use distance = \"cosine\" or \"l2\"");
  ddl_create(&op->sql, op->dialect, table, dim, dist);
  err = op_try_buf(L, op);
  if (err == ER_TABLE_EXISTS) op_sqlfail_as(L, op, "collection '%s' already exists", lua_tostring(L, 2));
  if (err) op_sqlfail(L, op);
  if (!op->conn) return op_dry_result(L, op);
  lua_pushboolean(L, 1);
  return 1;
}

int coll_create(lua_State *L) { return op_call(L, "create_collection", create_body); }

/* core.sql_create(dialect, name, dimension, distance) -> {statements}: the DDL
 * without a server, for golden tests. */
int coll_sql_create(lua_State *L) {
  op_t op;
  op_init(&op, NULL, "sql_create", dialect_from_name(L, 1));
  return op_run(L, &op, create_body);
}

/* ---- describing ------------------------------------------------------------ */

static const char *find_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return hay;
  return NULL;
}

/* The dimension: `embedding` vector(N) in SHOW CREATE TABLE. */
static lua_Integer parse_dimension(const char *ddl) {
  const char *p = strstr(ddl, "`embedding`");
  if (!p) return 0;
  p += strlen("`embedding`");
  while (*p == ' ') p++;
  if (strncasecmp(p, "vector(", 7) != 0) return 0;
  return strtol(p + 7, NULL, 10);
}

/* The distance: distance=<d> inside seekdb's with(...), `DISTANCE`=<d> in
 * MariaDB's index. A vector index without one measures euclidean distance. */
static const char *parse_distance(const char *ddl) {
  const char *p = find_ci(ddl, "distance");
  char word[32];
  size_t n = 0;
  if (!p) return "l2";
  p += 8;
  while (*p == '`' || *p == ' ' || *p == '=' || *p == '\'' || *p == '"') p++;
  while (n < sizeof word - 1 && (isalnum((unsigned char)*p) || *p == '_')) word[n++] = (char)tolower((unsigned char)*p++);
  word[n] = '\0';
  if (strcmp(word, "cosine") == 0) return "cosine";
  if (strcmp(word, "ip") == 0 || strcmp(word, "inner_product") == 0) return "inner_product";
  return "l2";
}

/* describe_collection(name) -> {name=, dimension=, distance=} | nil, err */
static int describe_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  MYSQL_ROW row;
  lua_Integer dim;
  unsigned int err;
  op_table_name(L, op, 2, table);
  sb_adds(&op->sql, "SHOW CREATE TABLE ");
  sb_addident(&op->sql, table);
  err = op_try_buf(L, op);
  if (err == ER_NO_SUCH_TABLE) op_sqlfail_as(L, op, "collection '%s' does not exist", lua_tostring(L, 2));
  if (err) op_sqlfail(L, op);
  row = mysql_fetch_row(op->res);
  if (!row || mysql_num_fields(op->res) < 2 || !row[1])
    op_fail(L, op, "collection '%s': SHOW CREATE TABLE gave no answer", lua_tostring(L, 2));
  dim = parse_dimension(row[1]);
  if (dim <= 0)
    op_fail(L, op, "table %s is not a collection: it has no `embedding` vector column", table);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, dim);
  lua_setfield(L, -2, "dimension");
  lua_pushstring(L, parse_distance(row[1]));
  lua_setfield(L, -2, "distance");
  return 1;
}

int coll_describe(lua_State *L) { return op_call(L, "get_collection", describe_body); }

/* ---- listing ----------------------------------------------------------------- */

/* Collections are the tables named c$v1$...: compared by prefix, not LIKE,
 * so no pattern character in a name matters. */
static void select_tables(op_t *op, const char *exact) {
  sb_adds(&op->sql, "SELECT SUBSTRING(table_name, 6) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND ");
  if (exact) {
    sb_adds(&op->sql, "table_name = ");
    sb_addquoted(&op->sql, exact, strlen(exact), op->no_backslash);
  } else
    sb_adds(&op->sql, "LEFT(table_name, 5) = 'c$v1$'");
  sb_adds(&op->sql, " ORDER BY table_name");
}

static int list_body(lua_State *L) {
  op_t *op = op_get(L);
  MYSQL_ROW row;
  lua_Integer i = 0;
  select_tables(op, NULL);
  op_query_buf(L, op);
  lua_newtable(L);
  while ((row = mysql_fetch_row(op->res)) != NULL) {
    if (!row[0]) continue;
    lua_pushstring(L, row[0]);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

int coll_list(lua_State *L) { return op_call(L, "list_collections", list_body); }

static int has_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  op_table_name(L, op, 2, table);
  select_tables(op, table);
  op_query_buf(L, op);
  lua_pushboolean(L, mysql_num_rows(op->res) > 0);
  return 1;
}

int coll_has(lua_State *L) { return op_call(L, "has_collection", has_body); }

static int delete_body(lua_State *L) {
  op_t *op = op_get(L);
  char table[TABLE_NAME_SIZE];
  unsigned int err;
  op_table_name(L, op, 2, table);
  sb_adds(&op->sql, "DROP TABLE ");
  sb_addident(&op->sql, table);
  err = op_try_buf(L, op);
  if (err == ER_BAD_TABLE) op_sqlfail_as(L, op, "collection '%s' does not exist", lua_tostring(L, 2));
  if (err) op_sqlfail(L, op);
  lua_pushboolean(L, 1);
  return 1;
}

int coll_delete(lua_State *L) { return op_call(L, "delete_collection", delete_body); }
