/* The words every part of the core shares: server error numbers, limits,
 * distance names, vector messages. One home each, so that two files can
 * never disagree about what 1062 means or how wide a vector may be. */
#ifndef SEEKDB_VOCAB_H
#define SEEKDB_VOCAB_H

/* ---- server and client error numbers we act on ------------------------------ */
#define ER_TABLE_EXISTS 1050
#define ER_BAD_TABLE 1051
#define ER_DUP_ENTRY 1062
#define ER_NO_SUCH_TABLE 1146
#define ER_LOCK_WAIT_TIMEOUT 1205
#define ER_LOCK_DEADLOCK 1213
#define ER_STATEMENT_TIMEOUT 1969 /* MariaDB's max_statement_time */
#define CR_SERVER_GONE 2006
#define CR_SERVER_LOST 2013
#define CR_COMMANDS_OUT_OF_SYNC 2014

/* ---- limits -------------------------------------------------------------------- */
/* A vector column: MariaDB allows VECTOR(16383), but a row's columns other
 * than BLOBs must fit in 65,535 bytes: 4 bytes a dimension (and 2 of
 * length), the _id's 254 (and 2), the two BLOB columns' 12 each and a byte
 * of NULL flags leave 16313 dimensions. seekdb/OceanBase collections are
 * made with at most 4096 (pyseekdb's range). Reading and writing accept
 * whatever an existing table says, up to the widest any server allows. */
#define DIM_MAX_MARIADB 16313
#define DIM_MAX_SEEKDB 4096
#define DIM_MAX_ANY 65535
/* Longest v1 collection name: the table is `c$v1$<name>` and MySQL-family
 * servers allow 64 characters in a table name. v2 names only live in the
 * catalog (their table is c$v2$<id>): pyseekdb allows 512. */
#define NAME_MAX_V1 59
#define NAME_MAX_V2 512
#define TABLE_NAME_SIZE 72
/* Bytes of a packet that are not the statement: its header and the command
 * byte, with room to spare. A statement may be max_allowed_packet less this. */
#define PACKET_MARGIN 1024
/* Bytes of ids in one statement's _id IN (...) list. MariaDB turns an IN
 * list of 1,000 values or more into a table of its own; past tmp_table_size
 * (16 MiB) that table goes to disk in tmpdir, and a get of 1.5 million ids
 * in 16 MiB statements took 20 s instead of 3. A MiB of ids keeps it in
 * memory whatever their length. */
#define ID_LIST_BYTES (1UL << 20)
/* Ids: the primary key is VARBINARY(254) on MariaDB (a vector index allows
 * a key of at most 256 bytes), varbinary(512) on seekdb (pyseekdb's DDL). */
#define ID_MAX_MARIADB 254
#define ID_MAX_SEEKDB 512
/* n_results: the most rows one vector search may ask for. seekdb/OceanBase
 * cap an approximate search's LIMIT + OFFSET at 16,384 (pyseekdb's
 * _MAX_N_RESULTS). MariaDB's vector index looks at most 10,000 candidates
 * at a time (max_ef in sql/vector_mhnsw.cc, the ceiling of mhnsw_ef_search):
 * a larger LIMIT is answered by further searches that miss rows (measured:
 * 24,977 of 25,000 for LIMIT 25000). Shared by query and hybrid_search. */
#define N_RESULTS_MAX_SEEKDB 16384
#define N_RESULTS_MAX_MARIADB 10000
#define N_RESULTS_MAX(dialect) ((dialect) == DIALECT_MARIADB ? N_RESULTS_MAX_MARIADB : N_RESULTS_MAX_SEEKDB)
/* HNSW index options, as each server takes them: seekdb's ranges are
 * pyseekdb's (configuration.py) and the JS SDK's (validateHnsw); MariaDB's
 * are its own (M 3..200; mhnsw_ef_search 1..10000, set per statement). */
#define HNSW_M_MIN_SEEKDB 5
#define HNSW_M_MAX_SEEKDB 128
#define HNSW_M_MIN_MARIADB 3
#define HNSW_M_MAX_MARIADB 200
#define HNSW_EFC_MIN 5
#define HNSW_EFC_MAX 1000
#define HNSW_EFS_MAX_SEEKDB 1000
#define HNSW_EFS_MAX_MARIADB 10000
/* Database names: pyseekdb's rule (^[A-Za-z0-9_]+$, validators.py) and the
 * server's 64 characters. */
#define DB_NAME_MAX 64

/* ---- distances ------------------------------------------------------------------ */
enum distance { DIST_COSINE, DIST_L2, DIST_IP };
/* NULL-terminated, in enum order: for luaL_checkoption and messages */
extern const char *const distance_names[];
/* The SQL function measuring that distance in a dialect (vocab.c). */
const char *distance_function(int dialect, int dist);

/* ---- vectors --------------------------------------------------------------------- */
enum vec_status {
  VEC_OK = 0,
  VEC_NOTTABLE, /* not a table */
  VEC_LENGTH,   /* wrong number of items; *pos gets the count found */
  VEC_NOTNUM,   /* item *pos is not a number */
  VEC_NONFINITE,/* item *pos is NaN or infinite */
  VEC_RANGE,    /* item *pos does not fit a float32 */
  VEC_EXTRA     /* keys besides 1..dim */
};
/* "is not a table of numbers"...: what is wrong, after the item's name */
const char *vec_status_text(int status);

#endif
