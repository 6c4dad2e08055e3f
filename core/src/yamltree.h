/* A YAML document as a tree with source positions, built with libyaml.
 * Internal to the core: plugins never see YAML.
 *
 * Scalars keep their text after ${VAR} / ${VAR:-default} expansion (the
 * expansion applies to every plain, quoted or block scalar value, not to
 * keys).  Every node remembers file, line and column (1-based) of where it
 * starts, so that every error can say file:line:column.
 *
 * Nesting deeper than 64 mappings and sequences is refused, so the tree
 * functions recurse at most that deep.  Tags other than the YAML core ones
 * (!!str, !!int, ...) are refused; `!!str` or `!` makes a scalar
 * non-plain.  Empty keys and NUL characters (a "\0" escape) are
 * refused. */
#ifndef GSPEC_YAMLTREE_H
#define GSPEC_YAMLTREE_H

#include <stddef.h>

typedef enum gs_ynode_kind
{
  GS_YNODE_SCALAR = 1,
  GS_YNODE_SEQUENCE = 2,
  GS_YNODE_MAPPING = 3
} gs_ynode_kind;

typedef struct gs_ynode gs_ynode;

struct gs_ynode
{
  gs_ynode_kind kind;
  const char *file;     /* shared, owned by the root's document */
  size_t line, column;  /* 1-based start of the node */
  char *value;          /* SCALAR: expanded text; NULL otherwise */
  int plain;            /* SCALAR: 1 if unquoted (so `null`/`~` mean null) */
  size_t n;             /* SEQUENCE: items; MAPPING: pairs */
  gs_ynode **items;     /* SEQUENCE items, or MAPPING values */
  char **keys;          /* MAPPING keys (scalar keys only) */
  size_t *key_line, *key_column; /* MAPPING key positions */
};

/* Parses a file.  Errors (syntax, duplicate keys in one mapping, non-scalar
 * keys, anchors/aliases, an undefined ${VAR} with no default, multiple
 * documents) name file:line:column.  An empty file gives an empty
 * mapping, and so does a document that is only "---" or a plain null
 * ("~", "null").  The root may also be a scalar or a sequence (the schema
 * check then reports it).  *root is NULL on error. */
int gs_yaml_load_file (const char *path, gs_ynode **root);

/* Parses a string; `name` is used as the file name in messages. */
int gs_yaml_load_string (const char *text, const char *name,
                         gs_ynode **root);

/* Frees a tree returned by a load function; accepts NULL. */
void gs_ynode_free (gs_ynode *root);

/* The value of `key` in a mapping, or NULL. */
gs_ynode *gs_ynode_get (const gs_ynode *map, const char *key);

/* Expands ${VAR} and ${VAR:-default} in `in` using the environment.  `$$`
 * is a literal `$`.  Returns a malloc'd string in *out.  An unset VAR
 * without default, or an unterminated ${, is GS_ECONFIG with a message
 * naming the variable (the caller prefixes the position).
 * VAR is [A-Za-z_][A-Za-z0-9_]*; a `$` not followed by `{` or `$` (as in
 * "$HOME" or "$5") is kept as it is.  A set but empty VAR gives "" with
 * ${VAR} and the default with ${VAR:-default}, as in the shell.  The
 * default is literal text up to the first `}` (with `$$` read as `$`); a
 * `${` inside it is refused.  *out is NULL on error. */
int gs_yaml_expand_vars (const char *in, char **out);

/* Applies one command-line override "a.b.c=value" (or "list.2.key=v")
 * to the tree: existing scalars are replaced; missing mapping keys are
 * created (as scalars, or as mappings for intermediate path parts); a
 * numeric part indexes a sequence (index == length appends).  The value is
 * parsed as a YAML flow value, so "[1, 2]" and "{a: 1}" work.  Nodes
 * created here report file "--set" and line 0.  Errors name the override
 * and the failing path part.
 * The node at the last path part is replaced whatever its kind.  Keys that
 * contain '.' cannot be addressed.  A block value such as "k: v" is
 * refused (quote it to set that string); an empty value is an empty plain
 * scalar.  A path and value nesting deeper than 64 levels is refused.  On
 * a GS_ECONFIG error the tree is unchanged. */
int gs_yaml_apply_set (gs_ynode *root, const char *assignment);

/* ---- Schema checking ------------------------------------------------- */

typedef enum gs_yschema_type
{
  GS_YS_STRING = 1,  /* any scalar */
  GS_YS_INT = 2,     /* integer scalar, range-checked against min/max */
  GS_YS_REAL = 3,    /* real scalar, range-checked */
  GS_YS_BOOL = 4,    /* true/false/yes/no/on/off */
  GS_YS_ENUM = 5,    /* one of `choices` ("a|b|c") */
  GS_YS_MAP = 6,     /* mapping checked against `children` */
  GS_YS_SEQ = 7,     /* sequence; every item checked against `item` */
  GS_YS_ANY = 8,     /* anything (checked elsewhere, e.g. method params) */
  GS_YS_SCALAR_OR_MAP = 9 /* a scalar, or a mapping checked against
                             `children` */
} gs_yschema_type;

typedef struct gs_yschema gs_yschema;

struct gs_yschema
{
  const char *key;              /* mapping key; NULL ends a children table */
  gs_yschema_type type;
  int required;                 /* 1: missing key is an error */
  double min, max;              /* INT/REAL bounds (inclusive); ignored
                                   when min > max.  A zeroed row means
                                   [0, 0]: write 1, 0 for no bound.  An
                                   infinite or +-DBL_MAX bound gives a
                                   one-sided range. */
  const char *choices;          /* ENUM choices "a|b|c" */
  const gs_yschema *children;   /* MAP / SCALAR_OR_MAP: keys allowed;
                                   NULL: keys not checked */
  const gs_yschema *item;       /* SEQ: schema of every item (key unused);
                                   NULL: items not checked */
  const char *help;             /* shown in error messages */
};

/* Checks `node` against `schema` (a single entry describing the node).
 * The first problem is reported as, for example:
 *   cfg.yaml:12:3: unknown key 'methds' in 'experiment'; valid keys: name,
 *   seed, library, datasets, methods, outputs
 *   cfg.yaml:7:10: 'seed' must be an integer in [0, 18446744073709551615],
 *   got 'abc'
 *   cfg.yaml:3:1: missing required key 'library' in 'experiment'
 * `where` names the node (e.g. "experiment") in messages.  Returns
 * GS_OK or GS_ECONFIG.
 * Keys are checked in document order, then missing required keys.  Values are named by their path below the
 * checked node: "seed", "outputs.format", "methods[2].id".  Unknown keys
 * and enum values get a "did you mean" hint when one is close.  INT takes
 * decimal integers in [-2^63, 2^64 - 1]; REAL finite numbers; STRING any
 * scalar, the empty value included.  An empty value is not a mapping or a
 * sequence. */
int gs_yaml_check (const gs_ynode *node, const gs_yschema *schema,
                   const char *where);

/* Typed accessors with positioned errors ("file:line:col: 'key' must be
 * ..."). `what` names the value in the message. */
int gs_ynode_as_long (const gs_ynode *n, const char *what, long min,
                      long max, long *out);
int gs_ynode_as_double (const gs_ynode *n, const char *what, double min,
                        double max, double *out);
int gs_ynode_as_bool (const gs_ynode *n, const char *what, int *out);
/* Requires a scalar; returns its text (owned by the tree). */
int gs_ynode_as_string (const gs_ynode *n, const char *what,
                        const char **out);

/* Formats "file:line:column" of a node into buf ("--set" alone for nodes
 * made by gs_yaml_apply_set, "?" for NULL). */
void gs_ynode_where (const gs_ynode *n, char *buf, size_t size);

#endif
