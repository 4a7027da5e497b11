/* Local state in SQLite: generated secrets, run history, events. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/clock.h"
#include "berth/state.h"
#include "cleanup.h"

/* Concurrent berth processes wait this long for each other's write
 * transactions instead of failing with "database is locked". */
#define BUSY_TIMEOUT_MS 5000
#define SECRET_LEN 24

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

struct berth_state {
  sqlite3 *db;
  char *path;
};

/* Migration i takes a database from user_version i to i + 1. Append only:
 * a released entry never changes. */
static const char *const migrations[] = {
    "CREATE TABLE secrets (\n"
    "  project TEXT NOT NULL,\n"
    "  scope TEXT NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  value TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (project, scope, key)\n"
    ") WITHOUT ROWID;\n"
    /* AUTOINCREMENT: a pruned run's id is never handed out again. */
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  project TEXT NOT NULL,\n"
    "  command TEXT NOT NULL,\n"
    "  started_at INTEGER NOT NULL,\n"
    "  ended_at INTEGER,\n"
    "  exit_code INTEGER\n"
    ");\n"
    "CREATE INDEX runs_by_project ON runs (project, started_at);\n"
    "CREATE TABLE timings (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "  service TEXT NOT NULL,\n"
    "  phase TEXT NOT NULL,\n"
    "  ms INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX timings_by_run ON timings (run_id);\n"
    "CREATE TABLE events (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  project TEXT NOT NULL,\n"
    "  service TEXT,\n"
    "  kind TEXT NOT NULL,\n"
    "  message TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_by_project ON events (project, at);\n",
    /* 2: facts about engine objects worth remembering, e.g. that a
     * container's provisioning finished. */
    "CREATE TABLE marks (\n"
    "  project TEXT NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (project, key)\n"
    ") WITHOUT ROWID;\n",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int errc_of_sqlite(int rc) {
  switch (rc & 0xff) {
  case SQLITE_NOMEM:
    return BERTH_E_NOMEM;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return BERTH_E_TIMEOUT;
  case SQLITE_CONSTRAINT:
  case SQLITE_MISMATCH:
  case SQLITE_RANGE:
    return BERTH_E_INVALID;
  case SQLITE_TOOBIG:
    return BERTH_E_TOO_BIG;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_FULL:
  case SQLITE_AUTH:
    return BERTH_E_IO;
  default:
    return BERTH_E_FAILED;
  }
}

/* "<what>: <file>: <sqlite's message>", with the code mapped from rc. Call
 * right after the failing sqlite call, before anything resets the
 * connection's message. */
__attribute__((format(printf, 4, 5))) static int sql_fail(const struct berth_state *st, int rc,
                                                          berth_err *err, const char *fmt, ...) {
  const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_BUSY)
    berth_err_set(err, BERTH_E_TIMEOUT,
                  "%s: %s (another berth process held it for more than %d s; try again)", st->path,
                  msg, BUSY_TIMEOUT_MS / 1000);
  else
    berth_err_set(err, errc_of_sqlite(rc), "%s: %s", st->path, msg);
  _cleanup_free_ char *what = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&what, fmt, ap);
  va_end(ap);
  if (n < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return berth_err_wrap(err, "%s", what);
}

static int prepare(const struct berth_state *st, const char *sql, sqlite3_stmt **ret,
                   berth_err *err) {
  int rc = sqlite3_prepare_v2(st->db, sql, -1, ret, NULL);
  if (rc != SQLITE_OK)
    return sql_fail(st, rc, err, "preparing \"%.40s...\"", sql);
  return 0;
}

static int bind_text(const struct berth_state *st, sqlite3_stmt *stmt, int i, const char *s,
                     berth_err *err) {
  int rc = s ? sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i);
  if (rc != SQLITE_OK)
    return sql_fail(st, rc, err, "binding parameter %d", i);
  return 0;
}

static int bind_int64(const struct berth_state *st, sqlite3_stmt *stmt, int i, int64_t v,
                      berth_err *err) {
  int rc = sqlite3_bind_int64(stmt, i, v);
  if (rc != SQLITE_OK)
    return sql_fail(st, rc, err, "binding parameter %d", i);
  return 0;
}

/* Runs a statement that returns no rows. */
static int step_done(const struct berth_state *st, sqlite3_stmt *stmt, berth_err *err) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return sql_fail(st, rc, err, "running \"%.40s...\"", sqlite3_sql(stmt));
  return 0;
}

static int exec(const struct berth_state *st, const char *sql, berth_err *err) {
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return sql_fail(st, rc, err, "running \"%.40s...\"", sql);
  return 0;
}

/* Leaves a transaction that was not committed; used as a cleanup so every
 * early return rolls back. */
static void rollbackp(sqlite3 **db) {
  if (*db && !sqlite3_get_autocommit(*db))
    sqlite3_exec(*db, "ROLLBACK", NULL, NULL, NULL);
}
#define _cleanup_rollback_ _cleanup_(rollbackp)

/* BEGIN IMMEDIATE takes the write lock up front, so the busy timeout
 * applies; a deferred transaction upgrading to write could fail at once
 * with SQLITE_BUSY. */
static int begin_write(const struct berth_state *st, berth_err *err) {
  return exec(st, "BEGIN IMMEDIATE", err);
}

static int read_int(const struct berth_state *st, const char *sql, int *ret, berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  int r = prepare(st, sql, &stmt, err);
  if (r < 0)
    return r;
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return sql_fail(st, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, "running \"%s\"", sql);
  *ret = sqlite3_column_int(stmt, 0);
  return 0;
}

/* ---- the file and its directories ---- */

static int mkdir_parents(const char *file, const char *hint, berth_err *err) {
  _cleanup_free_ char *dir = strdup(file);
  if (!dir)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    if (mkdir(dir, 0700) == 0) {
      /* mkdir's mode is filtered by the umask; the chain must be 0700. */
      if (chmod(dir, 0700) < 0)
        return berth_err_set(err, BERTH_E_IO, "making %s private: %s%s", dir, strerror(errno),
                             hint);
    } else {
      int e = errno;
      struct stat sb;
      if (e != EEXIST)
        return berth_err_set(err, BERTH_E_IO, "creating directory %s: %s%s", dir, strerror(e),
                             hint);
      if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return berth_err_set(err, BERTH_E_IO, "creating directory %s: %s%s", dir, strerror(ENOTDIR),
                             hint);
    }
    *p = c;
    if (!c)
      return 0;
  }
}

/* Creates the database file 0600 before SQLite opens it, whatever the
 * umask: it holds credentials. SQLite gives the -wal and -shm files the
 * main file's mode. */
static int create_private_file(const char *path, const char *hint, berth_err *err) {
  _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    return berth_err_set(err, BERTH_E_IO, "creating %s: %s%s", path, strerror(errno), hint);
  struct stat sb;
  if (fstat(fd, &sb) < 0)
    return berth_err_errno(err, errno, "checking %s", path);
  if (!S_ISREG(sb.st_mode))
    return berth_err_set(err, BERTH_E_INVALID, "%s is not a regular file%s", path, hint);
  if ((sb.st_mode & 07777) != 0600 && sb.st_uid == geteuid() && fchmod(fd, 0600) < 0)
    return berth_err_errno(err, errno, "making %s private", path);
  return 0;
}

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static int default_path(char **ret, berth_err *err) {
  const char *dir;
  int n;
  if ((dir = env_nonempty("BERTH_STATE_DIR")))
    n = asprintf(ret, "%s/state.db", dir);
  else if ((dir = env_nonempty("XDG_STATE_HOME")) && dir[0] == '/') /* relative: invalid */
    n = asprintf(ret, "%s/berth/state.db", dir);
  else if ((dir = env_nonempty("HOME")))
    n = asprintf(ret, "%s/.local/state/berth/state.db", dir);
  else
    return berth_err_set(err, BERTH_E_INVALID,
                         "cannot tell where to keep berth's state: HOME is not set (set "
                         "BERTH_STATE_DIR to a writable directory)");
  if (n < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

/* ---- opening ---- */

static int use_wal(const struct berth_state *st, berth_err *err) {
  /* The mode is stored in the file: only the first open switches it. */
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  int r = prepare(st, "PRAGMA journal_mode", &stmt, err);
  if (r < 0)
    return r;
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return sql_fail(st, rc, err, "reading the journal mode");
  const char *current = (const char *)sqlite3_column_text(stmt, 0);
  if (current && !strcasecmp(current, "wal"))
    return 0;
  sqlite3_finalize(TAKE_PTR(stmt));

  if ((r = prepare(st, "PRAGMA journal_mode=WAL", &stmt, err)) < 0)
    return r;
  /* The switch needs an exclusive lock and SQLite fails it at once with
   * SQLITE_BUSY, without calling the busy handler, while another process
   * has the file open — two berths creating the state at the same moment.
   * Retry for as long as the busy timeout would wait. */
  for (int waited = 0;; waited += 10) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
      break;
    if ((rc & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
      return sql_fail(st, rc, err, "switching to write-ahead logging");
    sqlite3_reset(stmt);
    sqlite3_sleep(10);
  }
  const char *mode = (const char *)sqlite3_column_text(stmt, 0);
  if (!mode || strcasecmp(mode, "wal"))
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "%s: cannot use write-ahead logging (journal mode stays \"%s\"): keep "
                         "the state on a local file system (BERTH_STATE_DIR)",
                         st->path, mode ? mode : "?");
  return 0;
}

static int refuse_newer(const struct berth_state *st, int version, berth_err *err) {
  return berth_err_set(err, BERTH_E_UNSUPPORTED,
                       "%s has schema version %d, this berth knows versions up to %d: it was "
                       "written by a newer berth; upgrade berth",
                       st->path, version, SCHEMA_VERSION);
}

static int migrate(const struct berth_state *st, berth_err *err) {
  int version = 0;
  int r = read_int(st, "PRAGMA user_version", &version, err);
  if (r < 0)
    return r;
  if (version > SCHEMA_VERSION)
    return refuse_newer(st, version, err);
  /* One transaction per step; the version is read again under the write
   * lock because another berth may have migrated in between. */
  while (version < SCHEMA_VERSION) {
    _cleanup_rollback_ sqlite3 *txn = NULL;
    if ((r = begin_write(st, err)) < 0)
      return r;
    txn = st->db;
    if ((r = read_int(st, "PRAGMA user_version", &version, err)) < 0)
      return r;
    if (version > SCHEMA_VERSION)
      return refuse_newer(st, version, err);
    if (version < SCHEMA_VERSION) {
      char set_version[64];
      snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", version + 1);
      if (exec(st, migrations[version], err) < 0 || exec(st, set_version, err) < 0)
        return berth_err_wrap(err, "migrating the schema from version %d to %d", version,
                              version + 1);
      version++;
    }
    if ((r = exec(st, "COMMIT", err)) < 0)
      return r;
    txn = NULL;
  }
  return 0;
}

static void state_closep(struct berth_state **st) {
  berth_state_close(*st);
}

int berth_state_open(struct berth_state **ret, const char *path, berth_err *err) {
  _cleanup_(state_closep) struct berth_state *st = calloc(1, sizeof(*st));
  if (!st)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  const char *hint = "";
  int r;
  if (path) {
    if (!*path)
      return berth_err_set(err, BERTH_E_INVALID, "the state database path is empty");
    if (!(st->path = strdup(path)))
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  } else {
    if ((r = default_path(&st->path, err)) < 0)
      return r;
    hint = " (set BERTH_STATE_DIR to a writable directory)";
  }
  if (mkdir_parents(st->path, hint, err) < 0 || (create_private_file(st->path, hint, err)) < 0)
    return berth_err_wrap(err, "opening berth's state");

  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
  flags |= SQLITE_OPEN_EXRESCODE;
#endif
  int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
  if (rc != SQLITE_OK)
    return sql_fail(st, rc, err, "opening berth's state");
  sqlite3_extended_result_codes(st->db, 1);
  sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
  if (use_wal(st, err) < 0 ||
      (exec(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", err)) < 0 ||
      (migrate(st, err)) < 0)
    return berth_err_wrap(err, "opening berth's state");
  *ret = TAKE_PTR(st);
  return 0;
}

struct berth_state *berth_state_close(struct berth_state *st) {
  if (!st)
    return NULL;
  /* Every statement is finalized where it was prepared, so this cannot
   * be refused with SQLITE_BUSY. */
  sqlite3_close(st->db);
  free(st->path);
  free(st);
  return NULL;
}

const char *berth_state_path(const struct berth_state *st) {
  return st->path;
}

/* ---- secrets ---- */

/* 62 symbols; bytes >= 248 (4 * 62) are drawn again so every symbol is
 * equally likely. */
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define ALPHABET_LEN (sizeof(secret_alphabet) - 1)
#define ACCEPT_BELOW (256 - 256 % ALPHABET_LEN)

static int random_secret(char out[SECRET_LEN + 1], berth_err *err) {
  unsigned char pool[64];
  size_t n = 0;
  while (n < SECRET_LEN) {
    ssize_t got = getrandom(pool, sizeof(pool), 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return berth_err_errno(err, errno, "generating a secret (getrandom)");
    }
    for (ssize_t i = 0; i < got && n < SECRET_LEN; i++)
      if (pool[i] < ACCEPT_BELOW)
        out[n++] = secret_alphabet[pool[i] % ALPHABET_LEN];
  }
  out[n] = '\0';
  explicit_bzero(pool, sizeof(pool));
  return 0;
}

/* 1 and *ret set when the secret exists, 0 when it does not. */
static int secret_lookup(const struct berth_state *st, const char *project, const char *scope,
                         const char *key, char **ret, berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  int r;
  if ((r = prepare(st, "SELECT value FROM secrets WHERE project = ?1 AND scope = ?2 AND key = ?3",
                   &stmt, err)) < 0 ||
      (r = bind_text(st, stmt, 1, project, err)) < 0 ||
      (r = bind_text(st, stmt, 2, scope, err)) < 0 || (r = bind_text(st, stmt, 3, key, err)) < 0)
    return r;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return sql_fail(st, rc, err, "reading it");
  const char *value = (const char *)sqlite3_column_text(stmt, 0);
  if (!value)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (!(*ret = strdup(value)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 1;
}

static int secret_insert(const struct berth_state *st, const char *project, const char *scope,
                         const char *key, const char *value, berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  int r;
  if ((r = prepare(st,
                   "INSERT OR IGNORE INTO secrets (project, scope, key, value, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   &stmt, err)) < 0 ||
      (r = bind_text(st, stmt, 1, project, err)) < 0 ||
      (r = bind_text(st, stmt, 2, scope, err)) < 0 || (r = bind_text(st, stmt, 3, key, err)) < 0 ||
      (r = bind_text(st, stmt, 4, value, err)) < 0 ||
      (r = bind_int64(st, stmt, 5, berth_unix_ms(), err)) < 0)
    return r;
  return step_done(st, stmt, err);
}

static int secret_create(const struct berth_state *st, const char *project, const char *scope,
                         const char *key, char **ret, berth_err *err) {
  char fresh[SECRET_LEN + 1];
  int r = random_secret(fresh, err);
  if (r < 0)
    return r;
  _cleanup_rollback_ sqlite3 *txn = NULL;
  if ((r = begin_write(st, err)) < 0)
    goto out;
  txn = st->db;
  /* Under the write lock: whoever inserts first wins, everyone reads the
   * winner's value. */
  if ((r = secret_insert(st, project, scope, key, fresh, err)) < 0 ||
      (r = secret_lookup(st, project, scope, key, ret, err)) < 0)
    goto out;
  if (r == 0) {
    r = berth_err_set(err, BERTH_E_FAILED, "%s: the secret vanished right after it was stored",
                      st->path);
    goto out;
  }
  if ((r = exec(st, "COMMIT", err)) < 0) {
    free(TAKE_PTR(*ret));
    goto out;
  }
  txn = NULL;
out:
  explicit_bzero(fresh, sizeof(fresh));
  return r;
}

int berth_state_secret(struct berth_state *st, const char *project, const char *scope,
                       const char *key, char **ret, berth_err *err) {
  if (!project || !*project || !scope || !*scope || !key || !*key)
    return berth_err_set(err, BERTH_E_INVALID,
                         "a secret needs a project, a scope and a key (got \"%s\", \"%s\", \"%s\")",
                         project ? project : "", scope ? scope : "", key ? key : "");
  char *value = NULL;
  /* Most calls find the secret: read without taking the write lock. */
  int r = secret_lookup(st, project, scope, key, &value, err);
  if (r == 0)
    r = secret_create(st, project, scope, key, &value, err);
  if (r < 0)
    return berth_err_wrap(err, "getting the secret %s/%s/%s", project, scope, key);
  *ret = value;
  return 0;
}

int berth_state_forget_secrets(struct berth_state *st, const char *project, berth_err *err) {
  if (!project || !*project)
    return berth_err_set(err, BERTH_E_INVALID, "forgetting secrets needs a project name");
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st, "DELETE FROM secrets WHERE project = ?1", &stmt, err) < 0 ||
      bind_text(st, stmt, 1, project, err) < 0 || step_done(st, stmt, err) < 0)
    return berth_err_wrap(err, "forgetting the secrets of project %s", project);
  return 0;
}

/* ---- project locks ---- */

int berth_state_lock(struct berth_state *st, const char *project, void (*waiting)(void *), void *ud,
                     int *ret_fd, berth_err *err) {
  const char *db = berth_state_path(st);
  const char *slash = strrchr(db, '/');
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "%.*s/%s.lock", slash ? (int)(slash - db) : 1, slash ? db : ".", project) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_err_errno(err, errno, "%s", path);
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) {
      int e = errno;
      close(fd);
      return berth_err_errno(err, e, "locking %s", path);
    }
    if (waiting)
      waiting(ud);
    while (flock(fd, LOCK_EX) < 0) {
      if (errno != EINTR) {
        int e = errno;
        close(fd);
        return berth_err_errno(err, e, "locking %s", path);
      }
    }
  }
  *ret_fd = fd;
  return 0;
}

/* ---- marks ---- */

int berth_state_mark(struct berth_state *st, const char *project, const char *key, berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st, "INSERT OR REPLACE INTO marks (project, key, at) VALUES (?1, ?2, ?3)", &stmt,
              err) < 0 ||
      bind_text(st, stmt, 1, project, err) < 0 || bind_text(st, stmt, 2, key, err) < 0 ||
      bind_int64(st, stmt, 3, berth_unix_ms(), err) < 0 || step_done(st, stmt, err) < 0)
    return berth_err_wrap(err, "remembering %s", key);
  return 0;
}

int berth_state_marked(struct berth_state *st, const char *project, const char *key,
                       berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st, "SELECT 1 FROM marks WHERE project = ?1 AND key = ?2", &stmt, err) < 0 ||
      bind_text(st, stmt, 1, project, err) < 0 || bind_text(st, stmt, 2, key, err) < 0)
    return berth_err_wrap(err, "looking up %s", key);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc != SQLITE_DONE)
    return sql_fail(st, rc, err, "looking up %s", key);
  return 0;
}

/* ---- runs, timings, events ---- */

int berth_state_run_begin(struct berth_state *st, const char *project, const char *command,
                          int64_t *ret_run, berth_err *err) {
  if (!project || !command)
    return berth_err_set(err, BERTH_E_INVALID, "a run needs a project and a command");
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  /* RETURNING rather than sqlite3_last_insert_rowid(): right even when
   * another thread writes through the same connection. */
  if (prepare(st,
              "INSERT INTO runs (project, command, started_at) VALUES (?1, ?2, ?3) RETURNING id",
              &stmt, err) < 0 ||
      bind_text(st, stmt, 1, project, err) < 0 || bind_text(st, stmt, 2, command, err) < 0 ||
      bind_int64(st, stmt, 3, berth_unix_ms(), err) < 0)
    goto fail;
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    sql_fail(st, rc, err, "inserting the run");
    goto fail;
  }
  int64_t id = sqlite3_column_int64(stmt, 0);
  /* Stepping to the end commits, and reports a failed commit. */
  if (step_done(st, stmt, err) < 0)
    goto fail;
  *ret_run = id;
  return 0;
fail:
  return berth_err_wrap(err, "recording the start of %s in project %s", command, project);
}

int berth_state_run_end(struct berth_state *st, int64_t run, int exit_code, berth_err *err) {
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st, "UPDATE runs SET ended_at = ?1, exit_code = ?2 WHERE id = ?3", &stmt, err) < 0 ||
      bind_int64(st, stmt, 1, berth_unix_ms(), err) < 0 ||
      bind_int64(st, stmt, 2, exit_code, err) < 0 || bind_int64(st, stmt, 3, run, err) < 0 ||
      step_done(st, stmt, err) < 0)
    return berth_err_wrap(err, "recording the end of run %lld", (long long)run);
  if (sqlite3_changes(st->db) == 0)
    return berth_err_set(err, BERTH_E_NOT_FOUND,
                         "recording the end of run %lld: %s has no such run", (long long)run,
                         st->path);
  return 0;
}

int berth_state_timing(struct berth_state *st, int64_t run, const char *service, const char *phase,
                       int64_t ms, berth_err *err) {
  if (!service || !phase)
    return berth_err_set(err, BERTH_E_INVALID, "a timing needs a service and a phase");
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st, "INSERT INTO timings (run_id, service, phase, ms) VALUES (?1, ?2, ?3, ?4)", &stmt,
              err) < 0 ||
      bind_int64(st, stmt, 1, run, err) < 0 || bind_text(st, stmt, 2, service, err) < 0 ||
      bind_text(st, stmt, 3, phase, err) < 0 || bind_int64(st, stmt, 4, ms, err) < 0 ||
      step_done(st, stmt, err) < 0)
    return berth_err_wrap(err, "recording the %s time of %s for run %lld", phase, service,
                          (long long)run);
  return 0;
}

/* service NULL: an event about the whole project. */
int berth_state_event(struct berth_state *st, const char *project, const char *service,
                      const char *kind, const char *message, berth_err *err) {
  if (!project || !kind || !message)
    return berth_err_set(err, BERTH_E_INVALID, "an event needs a project, a kind and a message");
  _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
  if (prepare(st,
              "INSERT INTO events (project, service, kind, message, at) "
              "VALUES (?1, ?2, ?3, ?4, ?5)",
              &stmt, err) < 0 ||
      bind_text(st, stmt, 1, project, err) < 0 || bind_text(st, stmt, 2, service, err) < 0 ||
      bind_text(st, stmt, 3, kind, err) < 0 || bind_text(st, stmt, 4, message, err) < 0 ||
      bind_int64(st, stmt, 5, berth_unix_ms(), err) < 0 || step_done(st, stmt, err) < 0)
    return berth_err_wrap(err, "recording a %s event in project %s", kind, project);
  return 0;
}
