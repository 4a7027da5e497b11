/* core/state.c: the SQLite state file, checked from the outside — modes on
 * disk, rows read back with sqlite3 directly, two processes racing. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/state.h"

#define SECRET_LEN 24
#define RACE_KEYS 40
#define RACE_ROUNDS 5

/* ---- helpers ---- */

struct fixture {
  char dir[256]; /* a fresh temporary directory */
  char *saved_env[4];
};

static const char *const env_names[] = {"BERTH_STATE_DIR", "XDG_STATE_HOME", "HOME", NULL};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  if (flag == FTW_DP || flag == FTW_D)
    chmod(path, 0700);
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof(f->dir), "%s/berth-state-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  for (int i = 0; env_names[i]; i++) {
    const char *v = getenv(env_names[i]);
    f->saved_env[i] = v ? strdup(v) : NULL;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  for (int i = 0; env_names[i]; i++) {
    if (f->saved_env[i])
      setenv(env_names[i], f->saved_env[i], 1);
    else
      unsetenv(env_names[i]);
    free(f->saved_env[i]);
  }
  nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static char *path_in(const struct fixture *f, const char *rel) {
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", f->dir, rel) > 0);
  return p;
}

static struct berth_state *open_in_dir(const char *dir) {
  setenv("BERTH_STATE_DIR", dir, 1);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  int r = berth_state_open(&st, NULL, &err);
  if (r < 0) {
    char *msg = berth_err_string(err);
    fail_msg("berth_state_open: %s", msg);
  }
  assert_null(err);
  return st;
}

static char *secret(struct berth_state *st, const char *project, const char *scope,
                    const char *key) {
  char *v = NULL;
  berth_err err = NULL;
  int r = berth_state_secret(st, project, scope, key, &v, &err);
  if (r < 0) {
    char *msg = berth_err_string(err);
    fail_msg("berth_state_secret: %s", msg);
  }
  assert_non_null(v);
  return v;
}

static mode_t mode_of(const char *path) {
  struct stat sb;
  if (stat(path, &sb) < 0)
    fail_msg("stat %s: %s", path, strerror(errno));
  return sb.st_mode & 07777;
}

static sqlite3 *db_open(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  return db;
}

static int64_t db_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

static char *db_text(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  const unsigned char *t = sqlite3_column_text(stmt, 0);
  char *v = t ? strdup((const char *)t) : NULL;
  sqlite3_finalize(stmt);
  return v;
}

static void db_exec(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_close(db);
}

/* ---- opening ---- */

static void test_open_in_state_dir(void **state) {
  struct fixture *f = *state;
  char *dir = path_in(f, "a/b/c");
  char *want = path_in(f, "a/b/c/state.db");
  struct berth_state *st = open_in_dir(dir);
  assert_string_equal(berth_state_path(st), want);
  assert_null(berth_state_close(st));

  sqlite3 *db = db_open(want);
  assert_int_equal(db_int(db, "PRAGMA user_version"), 2);
  char *mode = db_text(db, "PRAGMA journal_mode");
  assert_string_equal(mode, "wal");
  assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name "
                              "IN ('secrets', 'runs', 'timings', 'events')"),
                   4);
  free(mode);
  sqlite3_close(db);
  free(dir);
  free(want);
}

static void test_open_explicit_path_wins(void **state) {
  struct fixture *f = *state;
  char *envdir = path_in(f, "env");
  char *file = path_in(f, "x/y/mine.db");
  setenv("BERTH_STATE_DIR", envdir, 1);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_open(&st, file, &err), 0);
  assert_null(err);
  assert_string_equal(berth_state_path(st), file);
  char *v = secret(st, "p", "db", "password");
  berth_state_close(st);
  assert_int_equal(access(file, F_OK), 0);
  assert_int_equal(access(envdir, F_OK), -1); /* the environment was not used */
  free(v);
  free(file);
  free(envdir);
}

static void test_default_locations(void **state) {
  struct fixture *f = *state;
  berth_err err = NULL;
  struct berth_state *st = NULL;

  unsetenv("BERTH_STATE_DIR");
  char *xdg = path_in(f, "xdg");
  char *want = path_in(f, "xdg/berth/state.db");
  setenv("XDG_STATE_HOME", xdg, 1);
  assert_int_equal(berth_state_open(&st, NULL, &err), 0);
  assert_string_equal(berth_state_path(st), want);
  st = berth_state_close(st);
  free(want);

  /* A relative XDG_STATE_HOME is invalid per the spec: HOME is used. */
  setenv("XDG_STATE_HOME", "relative/dir", 1);
  char *home = path_in(f, "home");
  setenv("HOME", home, 1);
  want = path_in(f, "home/.local/state/berth/state.db");
  assert_int_equal(berth_state_open(&st, NULL, &err), 0);
  assert_string_equal(berth_state_path(st), want);
  st = berth_state_close(st);

  unsetenv("XDG_STATE_HOME");
  setenv("BERTH_STATE_DIR", "", 1); /* empty means unset */
  assert_int_equal(berth_state_open(&st, NULL, &err), 0);
  assert_string_equal(berth_state_path(st), want);
  st = berth_state_close(st);
  free(want);

  unsetenv("BERTH_STATE_DIR");
  unsetenv("HOME");
  assert_int_equal(berth_state_open(&st, NULL, &err), -BERTH_E_INVALID);
  assert_null(st);
  assert_non_null(strstr(err->msg, "BERTH_STATE_DIR"));
  berth_err_free(&err);
  free(home);
  free(xdg);
}

/* The file holds credentials: 0600 and its directories 0700 whatever the
 * umask, and SQLite's -wal and -shm files take the main file's mode. */
static void test_file_modes(void **state) {
  struct fixture *f = *state;
  static const mode_t umasks[] = {0, 022, 0277};
  for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
    char rel[32];
    snprintf(rel, sizeof(rel), "m%zu/home", i);
    char *home = path_in(f, rel);
    setenv("HOME", home, 1);
    unsetenv("BERTH_STATE_DIR");
    unsetenv("XDG_STATE_HOME");
    mode_t old = umask(umasks[i]);
    struct berth_state *st = NULL;
    berth_err err = NULL;
    int r = berth_state_open(&st, NULL, &err);
    char *v = r < 0 ? NULL : secret(st, "p", "s", "k"); /* writes: -wal and -shm exist */
    umask(old);
    assert_int_equal(r, 0);

    const char *db = berth_state_path(st);
    char *wal = NULL, *shm = NULL;
    assert_true(asprintf(&wal, "%s-wal", db) > 0);
    assert_true(asprintf(&shm, "%s-shm", db) > 0);
    assert_int_equal(mode_of(db), 0600);
    assert_int_equal(mode_of(wal), 0600);
    assert_int_equal(mode_of(shm), 0600);
    static const char *const dirs[] = {"/.local", "/.local/state", "/.local/state/berth"};
    for (size_t d = 0; d < 3; d++) {
      char *p = NULL;
      assert_true(asprintf(&p, "%s%s", home, dirs[d]) > 0);
      if (mode_of(p) != 0700)
        fail_msg("%s has mode %o under umask %o", p, mode_of(p), umasks[i]);
      free(p);
    }
    berth_state_close(st);
    free(v);
    free(wal);
    free(shm);
    free(home);
  }

  /* An existing file readable by others is made private again. */
  char *loose = path_in(f, "loose.db");
  int fd = open(loose, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  fchmod(fd, 0644);
  close(fd);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_open(&st, loose, &err), 0);
  assert_int_equal(mode_of(loose), 0600);
  berth_state_close(st);
  free(loose);
}

static void test_unwritable_location(void **state) {
  struct fixture *f = *state;
  /* A regular file where a directory should be: fails for root too. */
  char *file = path_in(f, "plain");
  close(open(file, O_CREAT | O_WRONLY, 0600));
  setenv("BERTH_STATE_DIR", file, 1);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_open(&st, NULL, &err), -BERTH_E_IO);
  assert_null(st);
  char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, file));
  assert_non_null(strstr(msg, "Not a directory"));
  assert_non_null(strstr(msg, "set BERTH_STATE_DIR to a writable directory"));
  free(msg);
  berth_err_free(&err);

  assert_int_equal(berth_state_open(&st, "/proc/berth-nowhere/state.db", &err), -BERTH_E_IO);
  msg = berth_err_string(err);
  assert_non_null(strstr(msg, "/proc/berth-nowhere"));
  free(msg);
  berth_err_free(&err);

  /* A directory the user may not write to: a child drops root if it has
   * it, since root writes anywhere. */
  char *ro = path_in(f, "readonly");
  assert_int_equal(mkdir(ro, 0755), 0);
  if (geteuid() != 0)
    assert_int_equal(chmod(ro, 0555), 0);
  else
    assert_int_equal(chmod(f->dir, 0755), 0); /* mkdtemp's 0700 would stop nobody earlier */
  char *target = path_in(f, "readonly/sub/state.db");
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
      _exit(100);
    berth_err e = NULL;
    struct berth_state *s = NULL;
    int r = berth_state_open(&s, target, &e);
    char *m = r < 0 ? berth_err_string(e) : NULL;
    if (m && write(pipefd[1], m, strlen(m)) < 0)
      _exit(101);
    free(m);
    berth_err_free(&e);
    berth_state_close(s);
    _exit(r < 0 ? -r : 0);
  }
  close(pipefd[1]);
  char buf[1024] = {0};
  ssize_t n = 0, got;
  while ((got = read(pipefd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
    n += got;
  close(pipefd[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), BERTH_E_IO);
  assert_non_null(strstr(buf, "readonly/sub"));
  assert_non_null(strstr(buf, "Permission denied"));
  free(target);
  free(ro);
  free(file);
}

static void test_not_a_database(void **state) {
  struct fixture *f = *state;
  char *file = path_in(f, "garbage.db");
  int fd = open(file, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  char junk[4096];
  memset(junk, 'x', sizeof(junk));
  assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
  close(fd);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_true(berth_state_open(&st, file, &err) < 0);
  assert_null(st);
  char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, file));
  assert_non_null(strstr(msg, "not a database"));
  free(msg);
  berth_err_free(&err);
  free(file);
}

/* ---- schema versions ---- */

static void test_newer_schema_refused(void **state) {
  struct fixture *f = *state;
  char *file = path_in(f, "future.db");
  db_exec(file, "PRAGMA journal_mode=WAL; CREATE TABLE t (x); PRAGMA user_version = 7;");
  chmod(file, 0600);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_open(&st, file, &err), -BERTH_E_UNSUPPORTED);
  assert_null(st);
  assert_int_equal(berth_err_code(err), BERTH_E_UNSUPPORTED);
  const char *root = berth_err_root_msg(err);
  assert_non_null(strstr(root, file));
  assert_non_null(strstr(root, "version 7"));
  assert_non_null(strstr(root, "up to 2"));
  assert_non_null(strstr(root, "upgrade berth"));
  berth_err_free(&err);

  /* Refused without being touched. */
  sqlite3 *db = db_open(file);
  assert_int_equal(db_int(db, "PRAGMA user_version"), 7);
  assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'secrets'"), 0);
  sqlite3_close(db);
  free(file);
}

static void test_migrates_empty_database(void **state) {
  struct fixture *f = *state;
  /* A database someone created at version 0 with a table of its own. */
  char *file = path_in(f, "old.db");
  db_exec(file, "CREATE TABLE unrelated (x); INSERT INTO unrelated VALUES (42);");
  struct berth_state *st = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_open(&st, file, &err), 0);
  berth_state_close(st);
  sqlite3 *db = db_open(file);
  assert_int_equal(db_int(db, "PRAGMA user_version"), 2);
  assert_int_equal(db_int(db, "SELECT x FROM unrelated"), 42);
  assert_int_equal(db_int(db, "SELECT count(*) FROM secrets"), 0);
  sqlite3_close(db);
  /* Opening again at the current version changes nothing. */
  assert_int_equal(berth_state_open(&st, file, &err), 0);
  berth_state_close(st);
  free(file);
}

/* ---- secrets ---- */

static void assert_secret_shape(const char *v) {
  assert_int_equal(strlen(v), SECRET_LEN);
  for (const char *p = v; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
      fail_msg("secret \"%s\" has '%c' outside [A-Za-z0-9]", v, *p);
}

static void test_marks(void **state) {
  const struct fixture *f = *state;
  const char *dir = f->dir;
  struct berth_state *st = open_in_dir(dir);
  berth_err err = NULL;
  assert_int_equal(berth_state_marked(st, "p", "provisioned:abc", &err), 0);
  assert_int_equal(berth_state_mark(st, "p", "provisioned:abc", &err), 0);
  assert_int_equal(berth_state_marked(st, "p", "provisioned:abc", &err), 1);
  /* Per project, and kept across a reopen. */
  assert_int_equal(berth_state_marked(st, "q", "provisioned:abc", &err), 0);
  berth_state_close(st);
  st = open_in_dir(dir);
  assert_int_equal(berth_state_marked(st, "p", "provisioned:abc", &err), 1);
  berth_state_close(st);
}

static void test_secret_stable_across_reopen(void **state) {
  struct fixture *f = *state;
  struct berth_state *st = open_in_dir(f->dir);
  char *first = secret(st, "shop", "db", "password");
  char *again = secret(st, "shop", "db", "password");
  assert_secret_shape(first);
  assert_string_equal(first, again);
  berth_state_close(st);

  st = open_in_dir(f->dir);
  char *reopened = secret(st, "shop", "db", "password");
  assert_string_equal(first, reopened);
  berth_state_close(st);

  char *file = path_in(f, "state.db");
  sqlite3 *db = db_open(file);
  char *stored = db_text(db, "SELECT value FROM secrets WHERE project = 'shop' AND scope = 'db' "
                             "AND key = 'password'");
  assert_string_equal(stored, first);
  assert_true(db_int(db, "SELECT created_at FROM secrets") > 1600000000000LL); /* unix ms */
  sqlite3_close(db);
  free(file);
  free(stored);
  free(first);
  free(again);
  free(reopened);
}

static void test_secrets_differ_by_key(void **state) {
  struct fixture *f = *state;
  struct berth_state *st = open_in_dir(f->dir);
  const char *const ids[][3] = {
      {"shop", "db", "password"}, {"shop", "db", "user"},   {"shop", "cache", "password"},
      {"blog", "db", "password"}, {"shop", "", "password"}, /* an empty scope: refused */
  };
  char *v[4];
  for (int i = 0; i < 4; i++) {
    v[i] = secret(st, ids[i][0], ids[i][1], ids[i][2]);
    assert_secret_shape(v[i]);
    for (int j = 0; j < i; j++)
      assert_string_not_equal(v[i], v[j]);
  }
  char *out = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_state_secret(st, ids[4][0], ids[4][1], ids[4][2], &out, &err),
                   -BERTH_E_INVALID);
  assert_null(out);
  berth_err_free(&err);
  for (int i = 0; i < 4; i++)
    free(v[i]);
  berth_state_close(st);
}

/* Many secrets: only [A-Za-z0-9], every symbol shows up, and no modulo
 * bias. Taking a random byte % 62 would make the first 8 symbols (A-H)
 * 5/4 as likely as the others; with 24000 draws the ratio of their mean
 * counts is 1.00 +- 0.02 when unbiased and 1.25 when biased. */
static void test_secret_charset(void **state) {
  struct fixture *f = *state;
  struct berth_state *st = open_in_dir(f->dir);
  enum { N = 1000 };
  int count[256] = {0};
  for (int i = 0; i < N; i++) {
    char key[16];
    snprintf(key, sizeof(key), "k%d", i);
    char *v = secret(st, "p", "s", key);
    assert_secret_shape(v);
    for (const char *p = v; *p; p++)
      count[(unsigned char)*p]++;
    free(v);
  }
  berth_state_close(st);
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  double first = 0, rest = 0;
  for (int i = 0; alphabet[i]; i++) {
    int c = count[(unsigned char)alphabet[i]];
    if (c == 0)
      fail_msg("'%c' never drawn in %d draws", alphabet[i], N * SECRET_LEN);
    if (i < 8)
      first += c / 8.0;
    else
      rest += c / 54.0;
  }
  if (first / rest > 1.12 || first / rest < 0.88)
    fail_msg("A-H drawn %.0f times on average, the others %.0f: biased", first, rest);
}

static void test_forget_secrets(void **state) {
  struct fixture *f = *state;
  struct berth_state *st = open_in_dir(f->dir);
  char *shop = secret(st, "shop", "db", "password");
  char *blog = secret(st, "blog", "db", "password");
  berth_err err = NULL;
  assert_int_equal(berth_state_forget_secrets(st, "shop", &err), 0);
  assert_null(err);
  char *shop2 = secret(st, "shop", "db", "password");
  char *blog2 = secret(st, "blog", "db", "password");
  assert_string_not_equal(shop, shop2);
  assert_string_equal(blog, blog2);
  /* Forgetting a project without secrets is not an error. */
  assert_int_equal(berth_state_forget_secrets(st, "nothing-here", &err), 0);
  berth_state_close(st);
  free(shop);
  free(shop2);
  free(blog);
  free(blog2);
}

/* Two processes open a fresh state directory at the same moment (racing
 * creation, the switch to WAL and the migration) and get-or-create the
 * same secrets: each key must come out the same in both. */
static void race_child(const char *dir, int go_fd, int out_fd) {
  char c;
  if (read(go_fd, &c, 1) < 0)
    _exit(90);
  setenv("BERTH_STATE_DIR", dir, 1);
  struct berth_state *st = NULL;
  berth_err err = NULL;
  if (berth_state_open(&st, NULL, &err) < 0) {
    char *m = berth_err_string(err);
    dprintf(out_fd, "ERROR %s\n", m);
    _exit(91);
  }
  for (int i = 0; i < RACE_KEYS; i++) {
    char key[16], *v = NULL;
    snprintf(key, sizeof(key), "k%d", i);
    if (berth_state_secret(st, "race", "db", key, &v, &err) < 0) {
      char *m = berth_err_string(err);
      dprintf(out_fd, "ERROR %s\n", m);
      _exit(92);
    }
    dprintf(out_fd, "%s\n", v);
    free(v);
  }
  berth_state_close(st);
  _exit(0);
}

static char *read_all(int fd) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  ssize_t got;
  while ((got = read(fd, buf + n, cap - 1 - n)) > 0) {
    n += got;
    if (n == cap - 1) {
      buf = realloc(buf, cap *= 2);
      assert_non_null(buf);
    }
  }
  buf[n] = '\0';
  return buf;
}

static void test_concurrent_get_or_create(void **state) {
  struct fixture *f = *state;
  for (int round = 0; round < RACE_ROUNDS; round++) {
    char rel[16];
    snprintf(rel, sizeof(rel), "race%d", round);
    char *dir = path_in(f, rel);
    int go[2];
    assert_int_equal(pipe(go), 0);
    int out[2][2];
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
      assert_int_equal(pipe(out[i]), 0);
      pid[i] = fork();
      assert_true(pid[i] >= 0);
      if (pid[i] == 0) {
        close(go[1]);
        close(out[i][0]);
        race_child(dir, go[0], out[i][1]);
      }
      close(out[i][1]);
    }
    close(go[0]);
    close(go[1]); /* both children's read() returns now */
    char *got[2];
    for (int i = 0; i < 2; i++) {
      got[i] = read_all(out[i][0]);
      close(out[i][0]);
      int status;
      assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child %d of round %d failed: %s", i, round, got[i]);
    }
    assert_int_equal(strlen(got[0]), (size_t)RACE_KEYS * (SECRET_LEN + 1));
    assert_string_equal(got[0], got[1]);

    /* And the parent, opening afterwards, sees the same. */
    struct berth_state *st = open_in_dir(dir);
    char *v = secret(st, "race", "db", "k0");
    assert_memory_equal(v, got[0], SECRET_LEN);
    sqlite3 *db = db_open(berth_state_path(st));
    assert_int_equal(db_int(db, "SELECT count(*) FROM secrets"), RACE_KEYS);
    sqlite3_close(db);
    berth_state_close(st);
    free(v);
    free(got[0]);
    free(got[1]);
    free(dir);
  }
}

/* ---- runs, timings, events ---- */

static void test_runs_timings_events(void **state) {
  struct fixture *f = *state;
  struct berth_state *st = open_in_dir(f->dir);
  berth_err err = NULL;
  int64_t run = 0, run2 = 0;
  assert_int_equal(berth_state_run_begin(st, "shop", "up", &run, &err), 0);
  assert_true(run > 0);
  assert_int_equal(berth_state_timing(st, run, "db", "create", 120, &err), 0);
  assert_int_equal(berth_state_timing(st, run, "db", "ready", 2400, &err), 0);
  assert_int_equal(berth_state_timing(st, run, "api", "start", 35, &err), 0);
  assert_int_equal(
      berth_state_event(st, "shop", "db", "probe-timeout", "pg_isready failed for 30 s", &err), 0);
  assert_int_equal(berth_state_event(st, "shop", NULL, "recreate", "berth.yaml changed", &err), 0);
  assert_int_equal(berth_state_run_end(st, run, 3, &err), 0);
  assert_int_equal(berth_state_run_begin(st, "shop", "down", &run2, &err), 0);
  assert_true(run2 > run);
  assert_null(err);

  /* Read back while berth still has the file open (WAL: readers welcome). */
  sqlite3 *db = db_open(berth_state_path(st));
  char sql[256];
  snprintf(sql, sizeof(sql),
           "SELECT project || ' ' || command || ' ' || exit_code FROM runs WHERE id = %lld",
           (long long)run);
  char *row = db_text(db, sql);
  assert_string_equal(row, "shop up 3");
  free(row);
  snprintf(sql, sizeof(sql),
           "SELECT ended_at >= started_at AND started_at > 1600000000000 "
           "FROM runs WHERE id = %lld",
           (long long)run);
  assert_int_equal(db_int(db, sql), 1);
  snprintf(sql, sizeof(sql),
           "SELECT ended_at IS NULL AND exit_code IS NULL FROM runs WHERE id = %lld",
           (long long)run2);
  assert_int_equal(db_int(db, sql), 1);

  snprintf(sql, sizeof(sql),
           "SELECT group_concat(service || ':' || phase || ':' || ms, ',') FROM "
           "(SELECT * FROM timings WHERE run_id = %lld ORDER BY rowid)",
           (long long)run);
  row = db_text(db, sql);
  assert_string_equal(row, "db:create:120,db:ready:2400,api:start:35");
  free(row);

  row = db_text(db, "SELECT group_concat(project || '|' || ifnull(service, '-') || '|' || kind || "
                    "'|' || message, ',') FROM (SELECT * FROM events ORDER BY id)");
  assert_string_equal(row, "shop|db|probe-timeout|pg_isready failed for 30 s,"
                           "shop|-|recreate|berth.yaml changed");
  free(row);
  assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE at > 1600000000000"), 2);
  sqlite3_close(db);

  /* Foreign keys are on: a timing for a run that does not exist fails. */
  assert_true(berth_state_timing(st, run2 + 100, "db", "start", 1, &err) < 0);
  char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, "FOREIGN KEY"));
  assert_non_null(strstr(msg, berth_state_path(st)));
  free(msg);
  berth_err_free(&err);

  assert_int_equal(berth_state_run_end(st, run2 + 100, 0, &err), -BERTH_E_NOT_FOUND);
  berth_err_free(&err);
  berth_state_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_in_state_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_explicit_path_wins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_locations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unwritable_location, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrates_empty_database, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_stable_across_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secrets_differ_by_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_charset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forget_secrets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_get_or_create, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runs_timings_events, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
