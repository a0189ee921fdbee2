/* Local mode's server setup: what a new data folder gets, fed to the
 * server's --bootstrap run after its own system tables
 * (mariadb_system_tables*.sql of its share folder).
 *
 * Kept here, not in the Lua layer that runs the bootstrap, so that every
 * statement the module sends is in C. The server listens only on a unix
 * socket inside the folder (or in a 0700 folder of its own under /tmp), and
 * the folder is 0700: root without a password reaches it only as the
 * folder's owner. @auth_root_socket=NULL makes the system tables' data
 * script create the classic root accounts instead of a unix_socket-only
 * root@localhost, which would refuse every OS user but root. `test` is the
 * database seekdb.Client connects to by default. */
#include "seekdb.h"

static const char SETUP_HEAD[] =
  "CREATE DATABASE IF NOT EXISTS mysql;\n"
  "USE mysql;\n"
  "SET @auth_root_socket=NULL;\n";

static const char SETUP_TAIL[] = "CREATE DATABASE IF NOT EXISTS test;\n";

/* core.local_setup() -> head, tail: the statements before and after the
 * server's system tables in a new folder's bootstrap. */
int local_setup(lua_State *L) {
  lua_pushstring(L, SETUP_HEAD);
  lua_pushstring(L, SETUP_TAIL);
  return 2;
}
