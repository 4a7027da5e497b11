/* Shared by core/manifest*.c. */
#ifndef BERTH_MANIFEST_INTERNAL_H
#define BERTH_MANIFEST_INTERNAL_H

#include "berth/images.h"
#include "berth/interp.h"
#include "berth/manifest.h"
#include "berth/node.h"

/* The state of one load: where diagnostics go and what resolves paths
 * and variables. */
struct berth__reader {
  struct berth_diags *diags;
  struct berth_project *p;
  const char *dir;         /* project directory, absolute */
  struct berth_vars *vars; /* the .env file */
  bool compose;            /* reading a Compose file: Compose's units */
  bool oom;                /* an allocation failed somewhere */
  struct berth_strv off;   /* services left out by the active profiles */
  /* Services whose definition is already reported as unusable (empty,
   * not a mapping, an extends that cannot resolve): no further error that
   * only repeats it ("has neither image nor build"). */
  struct berth_strv unusable;
  /* The files being read through include and extends, outermost first
   * (a cycle is refused by naming them), and how many were read in all,
   * the same file once each time (bounded). */
  struct berth_strv loading;
  size_t files_read;
  /* What the trees of this load take (berth_node_size): every file read,
   * values grown by interpolation, services copied by extends. Bounded
   * by BERTH__MAX_TREES, so many files, or one base extended by
   * thousands of services, cannot exhaust memory. */
  size_t trees;
  bool trees_told; /* the bound was reported */
};

void berth__diag(struct berth__reader *r, enum berth_severity sev, const struct berth_node *at,
                 const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define berth__error(r, at, path, ...) berth__diag((r), BERTH_DIAG_ERROR, (at), (path), __VA_ARGS__)
#define berth__warn(r, at, path, ...)                                                              \
  berth__diag((r), BERTH_DIAG_WARNING, (at), (path), __VA_ARGS__)

/* Orders the diagnostics by file (in the order files first appear), line
 * and column, stably: the order the user reads them in, whatever order
 * the readers found them in. */
void berth__sort_diags(struct berth__reader *r);

/* Reports "file:line:col: message" (from node.c, interp.c) as a
 * positioned error. */
void berth__error_at_message(struct berth__reader *r, const char *file, const char *msg);

/* The known key closest to key (Levenshtein, at most 2 edits or a
 * quarter of its length), or NULL. keys is NULL-terminated. */
const char *berth__suggest(const char *key, const char *const *keys);

/* Files read through include and extends in one load, at most. */
#define BERTH__MAX_FILES 256
#define BERTH__MAX_TREES (128u << 20)
/* Charges size to r->trees; false (reported once, at at) past the
 * bound. what says what would grow: "extending base". */
bool berth__charge(struct berth__reader *r, size_t size, const struct berth_node *at,
                   const char *path, const char *what);

/* ---- the phases of a load, file by file ----
 * manifest.c: one file read (parse, interpolate, normalize, include,
 * extends); NULL with *err when the file cannot be read at all. */
struct berth_node *berth__load_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err);
/* manifest-units.c: the directory part of path ("." or "/" at the ends),
 * NULL on allocation failure. */
char *berth__dirname(const char *path);
/* manifest-merge.c: list forms (environment: [K=V], depends_on: [a]) as
 * maps, so that documents merge key by key. */
void berth__normalize_doc(struct berth__reader *r, struct berth_node *root);
/* Merges over into base the Compose way (depth 2 is a service's keys). */
void berth__merge_maps(struct berth__reader *r, struct berth_node *base, struct berth_node *over,
                       int depth);
void berth__resolve_includes(struct berth__reader *r, struct berth_node *root, const char *dir,
                             int depth, berth_err *err);
void berth__resolve_extends(struct berth__reader *r, struct berth_node *root, const char *dir,
                            int depth, berth_err *err);
/* manifest-check.c: the read model checked (cycles, paths, references),
 * and the services the active profiles leave out dropped. */
void berth__validate(struct berth__reader *r);
void berth__apply_profiles(struct berth__reader *r, const struct berth_load_opts *o);
/* That every uses: names an infra instance of the right kind. */
void berth__check_uses(struct berth__reader *r);

/* Reads the merged document into r->p (services, infra, networks, ...). */
void berth__read_project(struct berth__reader *r, const struct berth_node *root);

/* Absolute path of rel against dir (rel may be absolute, or start with
 * ~/). Lexically cleaned. NULL on allocation failure. */
char *berth__abspath(const char *dir, const char *rel);

/* Reads infra.<k> (n is its value) into r->p->infra (manifest-infra.c). */
void berth__read_infra(struct berth__reader *r, const struct berth_node *k,
                       const struct berth_node *n, const struct berth_image_refs *images);

/* ---- typed reads (manifest-value.c) ----
 * Each reports what is wrong at its node (with the key path, "a.b[3]")
 * and returns a default, so one load reports every problem. Allocation
 * failures set r->oom. */
#define BERTH__PATH_MAX 512

/* Builds "a.b[3]" style paths into a buffer of BERTH__PATH_MAX. */
const char *berth__pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *berth__strdup(struct berth__reader *r, const char *s);
struct berth_pos berth__pos_of(const struct berth_node *n);
/* Grows *vp (an array of *n elements of size sz) by one zeroed element
 * and returns it, or NULL (r->oom). */
void *berth__grow(struct berth__reader *r, void *vp, size_t *n, size_t sz);
void berth__strv_push(struct berth__reader *r, struct berth_strv *sv, const char *s);
void berth__kvv_set(struct berth__reader *r, struct berth_kvv *kv, const char *k, const char *v);
bool berth__is_scalar(const struct berth_node *n);
bool berth__want_scalar(struct berth__reader *r, const struct berth_node *n, const char *path,
                        const char *what);
/* NULL for null or absent. */
char *berth__read_str(struct berth__reader *r, const struct berth_node *n, const char *path);
bool berth__read_bool(struct berth__reader *r, const struct berth_node *n, const char *path,
                      bool def);
int64_t berth__read_int(struct berth__reader *r, const struct berth_node *n, const char *path,
                        int64_t min, int64_t max, int64_t def);
int64_t berth__read_duration(struct berth__reader *r, const struct berth_node *n, const char *path,
                             int64_t def);
/* Splits a command string the way Compose does (shell words, no shell). */
void berth__shell_split(struct berth__reader *r, const struct berth_node *n, const char *path,
                        struct berth_strv *out);
/* A list of strings; with string_ok a single string becomes [s] (or its
 * shell words with split). */
void berth__read_strv(struct berth__reader *r, const struct berth_node *n, const char *path,
                      struct berth_strv *out, bool string_ok, bool split);
/* {K: V}; with null_from_env a null value comes from the environment. */
void berth__read_kv(struct berth__reader *r, const struct berth_node *n, const char *path,
                    struct berth_kvv *out, bool null_from_env);
/* A key of a mapping: its reader, called with the key's value and path
 * ("services.api.image") and the object being filled; or no reader for a
 * key its caller reads itself. The one list of a mapping's keys: the
 * check of unknown keys and the reading both come from it. */
enum berth__key_flags {
  BERTH__KEY_UNSUPPORTED = 1 << 0, /* known, not supported yet: a warning, ignored */
};
struct berth__key {
  const char *name;
  void (*read)(struct berth__reader *r, void *obj, const struct berth_node *v, const char *path);
  unsigned flags; /* enum berth__key_flags */
};
/* Walks map against keys (ending with {NULL}): an unknown key is an error
 * with a suggestion among the supported names, an unsupported one a
 * warning, x- keys pass; non-string keys are errors. Then calls the
 * reader of every key present, in the table's order (not the document's,
 * so that env_file comes before environment whatever the file says). */
void berth__read_keys(struct berth__reader *r, const struct berth_node *map, const char *path,
                      const struct berth__key *keys, void *obj);
/* The same check alone, for lists of names (manifest-infra.c). */
void berth__check_keys(struct berth__reader *r, const struct berth_node *map, const char *path,
                       const char *const *known, const char *const *unsupported);
/* ---- a service's keys ----
 * Each reader is a struct berth__key reader whose object is a struct
 * berth__svc; manifest-service.c holds the table. */
struct berth__svc {
  struct berth_service *s;
  const struct berth_node *root; /* the document: declared networks, volumes, secrets */
  const struct berth_node *map;  /* the service's mapping */
};
typedef void berth__key_reader(struct berth__reader *r, void *obj, const struct berth_node *v,
                               const char *path);
berth__key_reader berth__read_ports;       /* manifest-ports.c */
berth__key_reader berth__read_volumes;     /* manifest-mounts.c */
berth__key_reader berth__read_secrets;     /* a service's secrets: */
berth__key_reader berth__read_configs;     /* a service's configs: */
berth__key_reader berth__read_depends_on;  /* manifest-deps.c */
berth__key_reader berth__read_healthcheck; /* Compose's */
berth__key_reader berth__read_probe;       /* berth's (not both) */
berth__key_reader berth__read_uses;
berth__key_reader berth__read_resources; /* manifest-runtime.c */
berth__key_reader berth__read_deploy;
berth__key_reader berth__read_cpus;      /* cpus: */
berth__key_reader berth__read_mem_limit; /* mem_limit: */
berth__key_reader berth__read_networks;
berth__key_reader berth__read_watch;   /* watch: */
berth__key_reader berth__read_develop; /* develop: {watch} (not with watch:) */
/* Reads services.<k> (n is its value) into r->p->services. */
/* manifest-kind.c: the official image's kind, or NULL; and a service's
 * kind and port from its image, command, entrypoint or healthcheck. */
const char *berth__kind_of_image(const char *image);
void berth__recognise_kind(struct berth__reader *r, struct berth_service *s);
void berth__read_service(struct berth__reader *r, const struct berth_node *root,
                         const struct berth_node *k, const struct berth_node *n);
/* The node as compact JSON text (x- keys, seeds:), NULL when out of
 * memory (manifest-read.c). */
char *berth__node_json(const struct berth_node *n);

/* map itself, or NULL (with an error unless it is null). */
const struct berth_node *berth__want_map(struct berth__reader *r, const struct berth_node *n,
                                         const char *path);

#endif
