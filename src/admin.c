/* Databases and index maintenance: what pyseekdb's AdminClient and
 * Collection.refresh_index do, as the same statements.
 *
 *   create_database(name)  CREATE DATABASE IF NOT EXISTS `name`
 *   get_database(name)     SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME,
 *                          DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA
 *                          WHERE SCHEMA_NAME = <name>
 *   list_databases(limit, offset)
 *                          the same for all, ORDER BY SCHEMA_NAME [LIMIT o, l]
 *   delete_database(name)  DROP DATABASE IF EXISTS `name`
 *   refresh_index()        CALL dbms_index_manager.refresh() on seekdb 1.3.0+
 *
 * pyseekdb and the JS SDK create and drop with IF [NOT] EXISTS: creating a
 * database that exists and deleting one that does not both succeed. Names
 * follow pyseekdb's rule for database names (^[A-Za-z0-9_]+$) and the
 * server's 64 characters, so that a name is always a plain identifier. A
 * listing is sorted by name (pyseekdb's is in the server's order), so that
 * limit and offset page through it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "seekdb.h"

#define ER_BAD_DB 1049

/* ---- the server's version ------------------------------------------------------- */

static const char *find_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return hay;
  return NULL;
}

static const char *digits(const char *p, long *out) {
  char *end;
  if (!isdigit((unsigned char)*p)) return NULL;
  *out = strtol(p, &end, 10);
  return end;
}

/* seekdb says "...seekdb-v1.3.0.0..." in VERSION() (the JS SDK's pattern:
 * seekdb, separators, an optional v, three numbers). Anything else (MariaDB,
 * an OceanBase that is not seekdb) is no seekdb at all. */
int seekdb_at_least(const conn_t *c, int major, int minor, int patch) {
  const char *p;
  long v[3];
  if (!c) return 1;
  if (c->dialect != DIALECT_SEEKDB || !(p = find_ci(c->version, "seekdb"))) return 0;
  p += 6;
  while (*p == '-' || *p == '_' || *p == ' ') p++;
  if (*p == 'v' || *p == 'V') p++;
  while (*p == '-' || *p == '_' || *p == ' ') p++;
  for (int i = 0; i < 3; i++) {
    if (i && *p++ != '.') return 0;
    if (!(p = digits(p, &v[i]))) return 0;
  }
  if (v[0] != major) return v[0] > major;
  if (v[1] != minor) return v[1] > minor;
  return v[2] >= patch;
}

/* ---- names ------------------------------------------------------------------------ */

/* The database name at idx: a string (else misuse), then pyseekdb's rule
 * (else a failure that says which). */
static const char *db_name(lua_State *L, op_t *op, int idx) {
  size_t len, i;
  const char *name;
  if (lua_type(L, idx) != LUA_TSTRING)
    op_argerror(L, op, 1, "database name must be a string, got %s", luaL_typename(L, idx));
  name = lua_tolstring(L, idx, &len);
  if (len == 0) op_fail(L, op, "invalid database name '': it is empty (names match ^[A-Za-z0-9_]+$, at most 64 characters)");
  if (len > DB_NAME_MAX)
    op_fail(L, op, "invalid database name '%s': it is longer than 64 characters (the server's limit)", name);
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
      op_fail(L, op, "invalid database name '%s': only letters, digits and _ are allowed (pyseekdb's rule: "
                     "^[A-Za-z0-9_]+$)", name);
  }
  return name;
}

static void done_true(lua_State *L, op_t *op) {
  if (op->err) op_sqlfail(L, op);
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  lua_pushboolean(L, 1);
  op_return(L, op, 1);
}

/* ---- create, delete -------------------------------------------------------------------- */

/* create_database(name) -> true | nil, err */
static void db_create_start(lua_State *L, op_t *op) {
  const char *name;
  lua_settop(L, 2);
  name = db_name(L, op, 2);
  op_dry_begin(L, op);
  sb_adds(&op->sql, "CREATE DATABASE IF NOT EXISTS ");
  sb_addident(&op->sql, name);
  op_sql(L, op, SQL_TRY, done_true);
}

const method_t db_create_method = {"create_database", db_create_start, 0, NULL};

/* delete_database(name) -> true | nil, err */
static void db_delete_start(lua_State *L, op_t *op) {
  const char *name;
  lua_settop(L, 2);
  name = db_name(L, op, 2);
  op_dry_begin(L, op);
  sb_adds(&op->sql, "DROP DATABASE IF EXISTS ");
  sb_addident(&op->sql, name);
  op_sql(L, op, SQL_TRY, done_true);
}

const method_t db_delete_method = {"delete_database", db_delete_start, 0, NULL};

/* ---- get, list ----------------------------------------------------------------------------- */

static void schemata_head(op_t *op) {
  sb_adds(&op->sql, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
                    "information_schema.SCHEMATA");
}

/* {name=, charset=, collation=} of a SCHEMATA row. */
static void push_database(lua_State *L, MYSQL_ROW row, unsigned long *len) {
  static const char *const keys[] = {"name", "charset", "collation"};
  lua_createtable(L, 0, 3);
  for (int i = 0; i < 3; i++) {
    if (!row[i]) continue;
    lua_pushlstring(L, row[i], len[i]);
    lua_setfield(L, -2, keys[i]);
  }
}

static void db_got(lua_State *L, op_t *op) {
  MYSQL_ROW row;
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  row = op->res ? mysql_fetch_row(op->res) : NULL;
  if (!row || !row[0]) {
    op->err_no = ER_BAD_DB;
    strcpy(op->sqlstate, "42000");
    op_fail(L, op, "database '%s' does not exist", lua_tostring(L, 2));
  }
  push_database(L, row, mysql_fetch_lengths(op->res));
  op_free_result(op);
  op_return(L, op, 1);
}

/* get_database(name) -> {name=, charset=, collation=} | nil, err */
static void db_get_start(lua_State *L, op_t *op) {
  const char *name;
  lua_settop(L, 2);
  name = db_name(L, op, 2);
  op_dry_begin(L, op);
  schemata_head(op);
  sb_adds(&op->sql, " WHERE SCHEMA_NAME = ");
  sb_addquoted(&op->sql, name, strlen(name));
  op_sql(L, op, SQL_RESULT, db_got);
}

const method_t db_get_method = {"get_database", db_get_start, 0, NULL};

static void db_listed(lua_State *L, op_t *op) {
  MYSQL_ROW row;
  lua_Integer k = 0;
  if (!op->conn) {
    op_dry_result(L, op);
    return;
  }
  lua_newtable(L);
  while (op->res && (row = mysql_fetch_row(op->res)) != NULL) {
    if (!row[0]) continue;
    push_database(L, row, mysql_fetch_lengths(op->res));
    lua_rawseti(L, -2, ++k);
  }
  op_free_result(op);
  op_return(L, op, 1);
}

/* A count argument: nil, or an integer of at least 0. */
static lua_Integer count_arg(lua_State *L, op_t *op, int idx, const char *what) {
  int isint;
  lua_Integer v;
  if (lua_isnoneornil(L, idx)) return -1;
  v = lua_tointegerx(L, idx, &isint);
  if (!isint || lua_type(L, idx) != LUA_TNUMBER || v < 0)
    op_argerror(L, op, 1, "%s must be an integer of at least 0", what);
  return v;
}

/* list_databases(limit, offset) -> {{name=, charset=, collation=}, ...} */
static void db_list_start(lua_State *L, op_t *op) {
  lua_Integer limit, offset;
  lua_settop(L, 3);
  limit = count_arg(L, op, 2, "limit");
  offset = count_arg(L, op, 3, "offset");
  op_dry_begin(L, op);
  schemata_head(op);
  sb_adds(&op->sql, " ORDER BY SCHEMA_NAME");
  if (limit >= 0 || offset > 0) {
    sb_adds(&op->sql, " LIMIT ");
    if (offset > 0) {
      sb_addint(&op->sql, offset);
      sb_adds(&op->sql, ", ");
    }
    if (limit >= 0) sb_addint(&op->sql, limit);
    else sb_adds(&op->sql, "18446744073709551615"); /* MySQL's "no limit", for an offset alone */
  }
  op_sql(L, op, SQL_RESULT, db_listed);
}

const method_t db_list_method = {"list_databases", db_list_start, 0, NULL};

/* ---- refresh_index ---------------------------------------------------------------------------- */

/* refresh_index() -> true | nil, err. seekdb 1.3.0 and later build HNSW
 * indexes in the background (sync_mode=async): rows written just before a
 * query may not be found by it until the build catches up, which the
 * procedure waits for. Elsewhere (MariaDB writes its index in the INSERT,
 * older seekdb and OceanBase have no such procedure) there is nothing to
 * refresh, as both SDKs decide by the version. */
static void refresh_start(lua_State *L, op_t *op) {
  lua_settop(L, 1);
  op_dry_begin(L, op);
  if (op->dialect != DIALECT_SEEKDB || !seekdb_at_least(op->conn, 1, 3, 0)) {
    op->err = 0;
    done_true(L, op);
    return;
  }
  sb_adds(&op->sql, "CALL dbms_index_manager.refresh()");
  op_sql(L, op, SQL_TRY | SQL_TIMED, done_true);
}

const method_t refresh_method = {"refresh_index", refresh_start, 0, NULL};
