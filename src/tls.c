/* TLS: making the ssl options mean what they say (issue 10).
 *
 * What Connector/C 3.3 does by itself, and why that is not enough:
 *   - MYSQL_OPT_SSL_ENFORCE only asks for TLS. When the server's greeting
 *     lacks CLIENT_SSL, send_client_reply_packet (plugins/auth/my_auth.c)
 *     goes on in plaintext, user name and password answer included, unless
 *     certificate verification (or a fingerprint) is set.
 *   - Over plaintext a server may switch the login to mysql_clear_password
 *     (or dialog, sha256_password, caching_sha2_password: the first two send
 *     the password as is, the others encrypt it with an RSA key that the
 *     server itself sends), and whoever answers gets the password.
 *   - ssl_cipher sets OpenSSL's TLS 1.2 list; TLS 1.3 suites are not chosen
 *     by TLS 1.2 names, so "AES128-SHA" still ends in TLS_AES_256_GCM_SHA384.
 *
 * What we do:
 *   - TLS required (ssl = true, or any other TLS option): our client
 *     authentication plugin, the "guard", becomes the first one. Connector/C
 *     runs it before it writes anything to the server (the handshake
 *     response, TLS included, goes out on the plugin's first write_packet).
 *     It refuses a server whose greeting offers no TLS; otherwise it sends an
 *     empty answer, which starts TLS, and the server then switches to the
 *     account's real plugin, inside TLS.
 *   - The guard does not run when the greeting lacks CLIENT_PLUGIN_AUTH
 *     (run_plugin_auth ignores MYSQL_DEFAULT_AUTH then). For that path
 *     certificate verification is set as well: send_client_reply_packet
 *     refuses a server without TLS when it is set. The guard turns it off
 *     again before its first write unless ssl_verify asked for it.
 *   - No TLS on TCP: MARIADB_OPT_RESTRICTED_AUTH names the plugins that keep
 *     the password to themselves; the others are refused before they run.
 *   - After connecting, tls_check compares what was negotiated with
 *     ssl_cipher and tls_version.
 *
 * No Lua is called from inside Connector/C: the guard only looks at the MYSQL
 * handle. The one piece of global state is the plugins' registration. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <errmsg.h>
#include <mysql/plugin_auth.h>

#include "seekdb.h"

/* Two names for one guard: with and without certificate verification. */
#define GUARD "seekdb_tls_guard"
#define GUARD_VERIFY "seekdb_tls_guard_verify"

/* The plugins that a TCP connection without TLS may use. Connector/C tests a
 * plugin name with strstr() on this text: no name left out may be a part of
 * it. Left out: mysql_clear_password and dialog (the password as is),
 * sha256_password and caching_sha2_password (RSA with the server's key). */
#define PLAINTEXT_PLUGINS "mysql_native_password,mysql_old_password,client_ed25519,parsec,auth_gssapi_client"

#define SQLSTATE_CLIENT "HY000" /* Connector/C's sqlstate for its own errors */

/* Debian's <mysql/client_plugin.h> includes <ma_compress.h>, which
 * libmariadb-dev does not ship, so the struct is spelled out here: it is
 * st_mysql_client_plugin_AUTHENTICATION, interface version 0x0100 (stable
 * since MySQL 5.5). */
struct guard_plugin {
  int type;
  unsigned int interface_version;
  const char *name, *author, *desc;
  unsigned int version[3];
  const char *license;
  void *mysql_api;
  int (*init)(char *, size_t, int, va_list);
  int (*deinit)(void);
  int (*options)(const char *option, const void *);
  int (*authenticate_user)(MYSQL_PLUGIN_VIO *vio, MYSQL *my);
};
#define AUTHENTICATION_PLUGIN 2 /* MYSQL_CLIENT_AUTHENTICATION_PLUGIN */
#define AUTHENTICATION_INTERFACE 0x0100

/* ---- errors ----------------------------------------------------------------- */

/* Records an error in the handle, where mysql_error/errno/sqlstate find it:
 * what a client plugin is documented to do (mysql/plugin_auth.h), and what
 * lets conn.c report every failure of a connect the same way. */
static void set_error(MYSQL *my, unsigned int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(my->net.last_error, sizeof my->net.last_error, fmt, ap);
  va_end(ap);
  my->net.last_errno = err;
  memcpy(my->net.sqlstate, SQLSTATE_CLIENT, sizeof SQLSTATE_CLIENT);
}

/* "host:port" or the socket path, for messages. */
static void server_name(const char *host, unsigned int port, const char *socket, char *out, size_t size) {
  if (socket) snprintf(out, size, "%s", socket);
  else snprintf(out, size, "%s:%u", host ? host : "localhost", port);
}

/* ---- the guard ---------------------------------------------------------------- */

static int guard(MYSQL_PLUGIN_VIO *vio, MYSQL *my, int verify) {
  char where[300];
  my_bool no = 0;
  server_name(my->host, my->port, my->unix_socket, where, sizeof where);
  if (!(my->server_capabilities & CLIENT_SSL)) {
    set_error(my, CR_SSL_CONNECTION_ERROR,
              "ssl = true: the server at %s does not offer TLS; nothing was sent (no credentials)", where);
    return CR_ERROR;
  }
  /* Verification was set only to make Connector/C refuse plaintext where
   * this plugin does not run; nobody asked for it. */
  if (!verify) mysql_optionsv(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &no);
  /* The first write sends the TLS request, starts TLS, then sends the user
   * name with an empty answer: the server asks for its real plugin next. */
  if (vio->write_packet(vio, NULL, 0)) return CR_ERROR;
  if (!mysql_get_ssl_cipher(my)) { /* cannot happen: CLIENT_SSL was on both sides */
    set_error(my, CR_SSL_CONNECTION_ERROR, "ssl = true: the connection to %s did not start TLS", where);
    return CR_ERROR;
  }
  return CR_OK;
}

static int guard_noverify(MYSQL_PLUGIN_VIO *vio, MYSQL *my) { return guard(vio, my, 0); }
static int guard_verify(MYSQL_PLUGIN_VIO *vio, MYSQL *my) { return guard(vio, my, 1); }

/* Connector/C keeps pointers to these and never writes to them. */
static const struct guard_plugin guards[] = {
  {AUTHENTICATION_PLUGIN, AUTHENTICATION_INTERFACE, GUARD, "lua-seekdb",
   "Refuses a server that offers no TLS, before anything is sent", {1, 0, 0}, "Apache-2.0",
   NULL, NULL, NULL, NULL, guard_noverify},
  {AUTHENTICATION_PLUGIN, AUTHENTICATION_INTERFACE, GUARD_VERIFY, "lua-seekdb",
   "Refuses a server that offers no TLS, before anything is sent", {1, 0, 0}, "Apache-2.0",
   NULL, NULL, NULL, NULL, guard_verify},
};

static pthread_once_t registered = PTHREAD_ONCE_INIT;

/* Once per process. Should it fail (out of memory), the guard's name is
 * unknown to Connector/C, which then falls back to a plugin that sends
 * nothing useful: with verification set, such connections fail closed. */
static void register_guards(void) {
  MYSQL *my = mysql_init(NULL);
  if (!my) return;
  for (size_t i = 0; i < sizeof guards / sizeof guards[0]; i++)
    mysql_client_register_plugin(my, (struct st_mysql_client_plugin *)(void *)&guards[i]);
  mysql_close(my);
}

/* ---- options -------------------------------------------------------------------- */

static const struct { const char *key; enum mysql_option o; } tls_files[] = {
  {"ssl_key", MYSQL_OPT_SSL_KEY}, {"ssl_cert", MYSQL_OPT_SSL_CERT},
  {"ssl_ca", MYSQL_OPT_SSL_CA}, {"ssl_capath", MYSQL_OPT_SSL_CAPATH},
  {"ssl_cipher", MYSQL_OPT_SSL_CIPHER}, {"tls_version", MARIADB_OPT_TLS_VERSION}, {NULL, 0}};

static const char *get_string(lua_State *L, int idx, const char *key) {
  const char *s = NULL;
  lua_getfield(L, idx, key);
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
  else if (!lua_isnil(L, -1)) {
    lua_pushfstring(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

static int get_boolean(lua_State *L, int idx, const char *key, int *given) {
  int v;
  lua_getfield(L, idx, key);
  v = lua_toboolean(L, -1);
  if (given) *given = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return v;
}

#define SEPARATORS ":,; " /* between the names of an OpenSSL cipher list */

/* Is item one of the names in list? */
static int in_list(const char *list, const char *item) {
  size_t n = strlen(item);
  while (*list) {
    size_t len = strcspn(list, SEPARATORS);
    if (len == n && memcmp(list, item, n) == 0) return 1;
    list += len;
    list += strspn(list, SEPARATORS);
  }
  return 0;
}

/* Connector/C finds the versions in tls_version with strstr and ignores the
 * rest: a typo would allow every version. Only TLS 1.2 and 1.3 are taken. */
static void check_version(lua_State *L, int idx, const char *v) {
  const char *p = v;
  int any = 0;
  while (*p) {
    size_t len = strcspn(p, SEPARATORS);
    if (len != 7 || (memcmp(p, "TLSv1.2", 7) != 0 && memcmp(p, "TLSv1.3", 7) != 0)) break;
    any = 1;
    p += len;
    p += strspn(p, SEPARATORS);
  }
  if (!any || *p) {
    lua_pushfstring(L, "option 'tls_version' must be \"TLSv1.2\", \"TLSv1.3\" or \"TLSv1.2,TLSv1.3\", got \"%s\"", v);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
}

/* The TLS option that makes TLS required, or NULL: ssl itself, or any other
 * (none of them means anything over plaintext). ssl = false with one of
 * them is a contradiction. */
static const char *tls_required(lua_State *L, int idx) {
  int given, ssl = get_boolean(L, idx, "ssl", &given);
  const char *other = get_boolean(L, idx, "ssl_verify", NULL) ? "ssl_verify" : NULL;
  for (int i = 0; !other && tls_files[i].key; i++)
    if (get_string(L, idx, tls_files[i].key)) other = tls_files[i].key;
  if (given && !ssl && other) {
    lua_pushfstring(L, "option 'ssl' is false but '%s' is given: TLS options need TLS", other);
    luaL_argerror(L, idx, lua_tostring(L, -1));
  }
  return ssl ? "ssl" : other;
}

/* A unix socket: given, or the default one that Connector/C uses for
 * "localhost". Nobody is in between there. */
static int local_socket(lua_State *L, int idx) {
  const char *host = get_string(L, idx, "host");
  return get_string(L, idx, "socket") || (host && strcmp(host, "localhost") == 0);
}

static void where_from_options(lua_State *L, int idx, char *out, size_t size) {
  lua_Integer port;
  lua_getfield(L, idx, "port");
  port = lua_tointeger(L, -1);
  lua_pop(L, 1);
  server_name(get_string(L, idx, "host"), (unsigned int)port, get_string(L, idx, "socket"), out, size);
}

/* ---- the interface ------------------------------------------------------------ */

void tls_setup(lua_State *L, int idx, MYSQL *my) {
  const char *version = get_string(L, idx, "tls_version");
  int verify = get_boolean(L, idx, "ssl_verify", NULL);
  my_bool yes = 1;
  if (version) check_version(L, idx, version);
  for (int i = 0; tls_files[i].key; i++) {
    const char *v = get_string(L, idx, tls_files[i].key);
    if (v) mysql_optionsv(my, tls_files[i].o, v);
  }
  if (tls_required(L, idx)) {
    pthread_once(&registered, register_guards);
    mysql_optionsv(my, MYSQL_OPT_SSL_ENFORCE, &yes);
    mysql_optionsv(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes); /* see the top */
    mysql_optionsv(my, MYSQL_DEFAULT_AUTH, verify ? GUARD_VERIFY : GUARD);
  } else if (!local_socket(L, idx))
    mysql_optionsv(my, MARIADB_OPT_RESTRICTED_AUTH, PLAINTEXT_PLUGINS);
}

/* Connector/C's words for a failed connect, where they mislead. */
static void explain_failure(lua_State *L, int idx, MYSQL *my) {
  char where[300];
  where_from_options(L, idx, where, sizeof where);
  if (mysql_errno(my) == CR_PLUGIN_NOT_ALLOWED)
    /* Only PLAINTEXT_PLUGINS sets a restriction, and Connector/C's message
     * names the greeting's plugin instead of the refused one. */
    set_error(my, CR_PLUGIN_NOT_ALLOWED,
              "the server at %s asked for the password in a form that anyone on the way could read "
              "(mysql_clear_password, dialog, sha256_password or caching_sha2_password) over a "
              "connection without TLS; refused, the password was not sent: use ssl = true "
              "(with ssl_verify = true to also authenticate the server) or a unix socket", where);
  else if (mysql_errno(my) == CR_SSL_CONNECTION_ERROR &&
           strstr(mysql_error(my), "SSL is required, but the server does not support it"))
    /* The refusal on the path where the guard does not run (see the top). */
    set_error(my, CR_SSL_CONNECTION_ERROR,
              "ssl = true: the server at %s does not offer TLS; nothing was sent (no credentials)", where);
}

int tls_check(lua_State *L, int idx, MYSQL *my, int connected) {
  const char *need, *cipher, *list, *version = NULL, *versions;
  char where[300];
  if (!connected) {
    explain_failure(L, idx, my);
    return 0;
  }
  if (!(need = tls_required(L, idx))) return 1;
  server_name(my->host, my->port, my->unix_socket, where, sizeof where);
  if (!(cipher = mysql_get_ssl_cipher(my))) { /* the guard makes sure of it; checked again */
    set_error(my, CR_SSL_CONNECTION_ERROR, "%s: the connection to %s is not encrypted", need, where);
    return 0;
  }
  mariadb_get_infov(my, MARIADB_CONNECTION_TLS_VERSION, &version);
  if (!version) version = "TLS";
  if ((list = get_string(L, idx, "ssl_cipher")) && !in_list(list, cipher)) {
    set_error(my, CR_SSL_CONNECTION_ERROR,
              "ssl_cipher: the server at %s negotiated %s with %s, which is not in \"%s\"; connection "
              "closed. TLS 1.3 suites are not chosen by TLS 1.2 cipher names: list TLS 1.3 suites "
              "(e.g. TLS_AES_128_GCM_SHA256) or set tls_version = \"TLSv1.2\"",
              where, version, cipher, list);
    return 0;
  }
  if ((versions = get_string(L, idx, "tls_version")) && !in_list(versions, version)) {
    set_error(my, CR_SSL_CONNECTION_ERROR,
              "tls_version: the server at %s negotiated %s, which is not in \"%s\"; connection closed",
              where, version, versions);
    return 0;
  }
  return 1;
}

void tls_info(lua_State *L, MYSQL *my) {
  const char *cipher = mysql_get_ssl_cipher(my), *version = NULL;
  if (cipher) {
    mariadb_get_infov(my, MARIADB_CONNECTION_TLS_VERSION, &version);
    lua_pushstring(L, version ? version : "TLS");
    lua_setfield(L, -2, "tls");
    lua_pushstring(L, cipher);
    lua_setfield(L, -2, "tls_cipher");
  } else {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "tls");
  }
}
