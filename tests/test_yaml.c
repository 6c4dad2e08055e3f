/* Tests of the YAML tree: loading, positions, refusals, ${VAR} expansion,
 * --set overrides, schema checks and typed accessors. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "test_util.h"
#include "util.h"
#include "yamltree.h"

/* ---- Helpers ---------------------------------------------------------- */

/* Loads text as "cfg.yaml" and expects success. */
static gs_ynode *
load_ok (const char *text)
{
  gs_ynode *root = NULL;
  int rc = gs_yaml_load_string (text, "cfg.yaml", &root);
  if (rc != GS_OK)
    fprintf (stderr, "\n  unexpected error: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  CU_ASSERT_PTR_NOT_NULL (root);
  return root;
}

/* Loads text as "cfg.yaml", expects GS_ECONFIG and a message containing
 * `needle`. */
static void
load_fails (const char *text, const char *needle)
{
  gs_ynode *root = (gs_ynode *)1;
  int rc = gs_yaml_load_string (text, "cfg.yaml", &root);
  CU_ASSERT_EQUAL (rc, GS_ECONFIG);
  CU_ASSERT_PTR_NULL (root);
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
  if (rc == GS_OK)
    gs_ynode_free (root);
}

/* Applies an override and expects it to fail with `needle`. */
static void
set_fails (gs_ynode *root, const char *assignment, const char *needle)
{
  int rc = gs_yaml_apply_set (root, assignment);
  CU_ASSERT_EQUAL (rc, GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
}

static void
set_ok (gs_ynode *root, const char *assignment)
{
  int rc = gs_yaml_apply_set (root, assignment);
  if (rc != GS_OK)
    fprintf (stderr, "\n  unexpected error: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
}

/* The scalar text at a dotted path of keys (no indices), or NULL. */
static const char *
text_at (const gs_ynode *n, const char *k1, const char *k2)
{
  n = gs_ynode_get (n, k1);
  if (n && k2)
    n = gs_ynode_get (n, k2);
  return n && n->kind == GS_YNODE_SCALAR ? n->value : NULL;
}

/* ---- A schema like the experiment's ------------------------------------ */

static const gs_yschema method_keys[] = {
  { "id", GS_YS_STRING, 1, 1, 0, NULL, NULL, NULL, "the method id" },
  { "iterations", GS_YS_INT, 0, 1, 100, NULL, NULL, NULL, NULL },
  { "params", GS_YS_ANY, 0, 1, 0, NULL, NULL, NULL, NULL },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema method_item
    = { NULL, GS_YS_MAP, 0, 1, 0, NULL, method_keys, NULL, "a method" };

static const gs_yschema output_keys[] = {
  { "dir", GS_YS_STRING, 1, 1, 0, NULL, NULL, NULL, NULL },
  { "format", GS_YS_ENUM, 0, 1, 0, "json|csv", NULL, NULL, NULL },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema experiment_keys[] = {
  { "name", GS_YS_STRING, 1, 1, 0, NULL, NULL, NULL, "a short label" },
  { "seed", GS_YS_INT, 0, 0, 1000, NULL, NULL, NULL, "the random seed" },
  { "library", GS_YS_STRING, 1, 1, 0, NULL, NULL, NULL, NULL },
  { "tolerance", GS_YS_REAL, 0, 0, 0.5, NULL, NULL, NULL, NULL },
  { "scale", GS_YS_REAL, 0, 0, INFINITY, NULL, NULL, NULL, NULL },
  { "mode", GS_YS_ENUM, 0, 1, 0, "fast|exact|auto", NULL, NULL, NULL },
  { "verbose", GS_YS_BOOL, 0, 1, 0, NULL, NULL, NULL, NULL },
  { "methods", GS_YS_SEQ, 0, 1, 0, NULL, NULL, &method_item, NULL },
  { "outputs", GS_YS_SCALAR_OR_MAP, 0, 1, 0, NULL, output_keys, NULL,
    NULL },
  { "big", GS_YS_INT, 0, 0, 18446744073709551615.0, NULL, NULL, NULL,
    NULL },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema experiment
    = { "experiment", GS_YS_MAP, 1, 1, 0, NULL, experiment_keys, NULL,
        NULL };

static const char valid_config[] = "name: demo\n"
                                   "seed: 42\n"
                                   "library: lib.csv\n"
                                   "tolerance: 0.25\n"
                                   "mode: exact\n"
                                   "verbose: yes\n"
                                   "methods:\n"
                                   "  - id: unmixing.nnpu\n"
                                   "    iterations: 10\n"
                                   "    params: {anything: [1, 2]}\n"
                                   "  - id: peaks.simple\n"
                                   "outputs:\n"
                                   "  dir: out\n"
                                   "  format: csv\n";

/* Loads `text`, checks it against the experiment schema and expects a
 * message containing `needle`. */
static void
check_fails (const char *text, const char *needle)
{
  gs_ynode *root = load_ok (text);
  if (!root)
    return;
  CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
  gs_ynode_free (root);
}

/* ---- Loading ---------------------------------------------------------- */

static void
test_load_positions (void)
{
  gs_ynode *root = load_ok ("# comment\n"
                            "name: demo\n"
                            "quoted: \"null\"\n"
                            "empty:\n"
                            "list:\n"
                            "  - a\n"
                            "  - {k: v}\n");
  gs_ynode *n;
  char where[64];
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_EQUAL (root->kind, GS_YNODE_MAPPING);
  CU_ASSERT_EQUAL (root->n, 4);
  CU_ASSERT_STRING_EQUAL (root->keys[1], "quoted");
  CU_ASSERT_EQUAL (root->key_line[1], 3);
  CU_ASSERT_EQUAL (root->key_column[1], 1);
  CU_ASSERT_STRING_EQUAL (root->file, "cfg.yaml");

  n = gs_ynode_get (root, "name");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_STRING_EQUAL (n->value, "demo");
  CU_ASSERT_EQUAL (n->line, 2);
  CU_ASSERT_EQUAL (n->column, 7);
  CU_ASSERT_EQUAL (n->plain, 1);
  CU_ASSERT_PTR_EQUAL (n->file, root->file);

  n = gs_ynode_get (root, "quoted");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_STRING_EQUAL (n->value, "null");
  CU_ASSERT_EQUAL (n->plain, 0);

  n = gs_ynode_get (root, "empty");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_SCALAR);
  CU_ASSERT_STRING_EQUAL (n->value, "");
  CU_ASSERT_EQUAL (n->plain, 1);

  n = gs_ynode_get (root, "list");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_SEQUENCE);
  CU_ASSERT_EQUAL_FATAL (n->n, 2);
  CU_ASSERT_PTR_NULL (n->keys);
  CU_ASSERT_EQUAL (n->items[1]->kind, GS_YNODE_MAPPING);
  CU_ASSERT_EQUAL (n->items[1]->line, 7);
  CU_ASSERT_EQUAL (n->items[1]->column, 5);
  CU_ASSERT_STRING_EQUAL (text_at (n->items[1], "k", NULL), "v");
  gs_ynode_where (n->items[1], where, sizeof where);
  CU_ASSERT_STRING_EQUAL (where, "cfg.yaml:7:5");

  CU_ASSERT_PTR_NULL (gs_ynode_get (root, "missing"));
  CU_ASSERT_PTR_NULL (gs_ynode_get (n, "a"));
  CU_ASSERT_PTR_NULL (gs_ynode_get (NULL, "a"));
  gs_ynode_free (root);
  gs_ynode_free (NULL);
}

static void
test_load_file (void)
{
  char *dir = gs_test_tmpdir ();
  char *path, *missing;
  gs_ynode *root = NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL (dir);
  path = gs_test_write (dir, "cfg.yaml", "a: 1\nb:\n  c: [x, y]\n");
  CU_ASSERT_EQUAL (gs_yaml_load_file (path, &root), GS_OK);
  CU_ASSERT_PTR_NOT_NULL (root);
  if (root)
    {
      const gs_ynode *c = gs_ynode_get (gs_ynode_get (root, "b"), "c");
      CU_ASSERT_STRING_EQUAL (root->file, path);
      CU_ASSERT_PTR_NOT_NULL_FATAL (c);
      CU_ASSERT_EQUAL (c->line, 3);
      CU_ASSERT_EQUAL (c->column, 6);
      CU_ASSERT_PTR_EQUAL (c->file, root->file);
    }
  gs_ynode_free (root);
  free (path);

  /* A file with a NUL byte in it. */
  path = gs_test_write (dir, "nul.yaml", "a: 1\n");
  {
    FILE *f = fopen (path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    fwrite ("a: 1\nb: x\0y\n", 1, 12, f);
    fclose (f);
  }
  root = (gs_ynode *)1;
  CU_ASSERT_EQUAL (gs_yaml_load_file (path, &root), GS_ECONFIG);
  CU_ASSERT_PTR_NULL (root);
  GS_ASSERT_CONTAINS (gs_last_error (), "nul.yaml:2:5: invalid YAML: "
                                        "control characters are not "
                                        "allowed");
  free (path);

  missing = gs__path_join (dir, "nope.yaml");
  root = (gs_ynode *)1;
  CU_ASSERT_EQUAL (gs_yaml_load_file (missing, &root), GS_ENOENT);
  CU_ASSERT_PTR_NULL (root);
  GS_ASSERT_CONTAINS (gs_last_error (), missing);
  free (missing);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_empty_documents (void)
{
  static const char *texts[] = { "", "# only a comment\n", "\n\n  \n",
                                 "---\n", "--- ~\n", "---\n...\n" };
  size_t i;
  for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
    {
      gs_ynode *root = load_ok (texts[i]);
      CU_ASSERT_PTR_NOT_NULL_FATAL (root);
      CU_ASSERT_EQUAL (root->kind, GS_YNODE_MAPPING);
      CU_ASSERT_EQUAL (root->n, 0);
      CU_ASSERT_STRING_EQUAL (root->file, "cfg.yaml");
      CU_ASSERT (root->line >= 1 && root->column >= 1);
      gs_ynode_free (root);
    }
  /* A quoted "null" document is a string, not an empty mapping. */
  {
    gs_ynode *root = load_ok ("'~'\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    CU_ASSERT_EQUAL (root->kind, GS_YNODE_SCALAR);
    gs_ynode_free (root);
  }
}

static void
test_broken_yaml (void)
{
  load_fails ("a: 1\nb: [1, 2\nc: 3\n",
              "cfg.yaml:3:2: invalid YAML: did not find expected ',' or "
              "']' (while parsing a flow sequence at line 2, column 4)");
  load_fails ("a: 1\n  b: 2\n", "cfg.yaml:2:4: invalid YAML: mapping values "
                                "are not allowed in this context");
  load_fails ("a: \"abc\n", "cfg.yaml:2:1: invalid YAML: found unexpected "
                            "end of stream");
  load_fails ("a: 1\nb: \xff\n", "cfg.yaml:2:4: invalid YAML: invalid "
                                 "leading UTF-8 octet (byte value 0xFF)");
  load_fails ("a:\n\tb: 1\n", "cfg.yaml:2:1: invalid YAML: found "
                              "character that cannot start any token");
  load_fails ("a: !custom 1\n", "cfg.yaml:1:4: unsupported tag '!custom'");
  load_fails ("a: \"x\\0y\"\n",
              "cfg.yaml:1:4: value of 'a' contains a NUL character");
}

static void
test_duplicate_key (void)
{
  load_fails ("a: 1\nb: 2\na: 3\n", "cfg.yaml:3:1: duplicate key 'a' at "
                                    "the top level (first at line 1, "
                                    "column 1)");
  load_fails ("outer:\n  x: 1\n  y: 2\n  x: 3\n",
              "cfg.yaml:4:3: duplicate key 'x' in 'outer' (first at line "
              "2, column 3)");
  load_fails ("m: {k: 1, k: 2}\n", "cfg.yaml:1:11: duplicate key 'k'");
  /* The same key in different mappings is fine. */
  gs_ynode_free (load_ok ("a: {k: 1}\nb: {k: 2}\n"));
}

static void
test_duplicate_key_many (void)
{
  /* Many keys (hash table growth), the duplicate at the very end. */
  gs__buf b;
  size_t i;
  gs__buf_init (&b);
  for (i = 0; i < 5000; i++)
    gs__buf_printf (&b, "key%zu: %zu\n", i, i);
  CU_ASSERT_FALSE_FATAL (b.failed);
  {
    gs_ynode *root = load_ok (b.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    CU_ASSERT_EQUAL (root->n, 5000);
    CU_ASSERT_STRING_EQUAL (text_at (root, "key4321", NULL), "4321");
    gs_ynode_free (root);
  }
  gs__buf_puts (&b, "key1234: again\n");
  load_fails (b.data, "cfg.yaml:5001:1: duplicate key 'key1234' at the top "
                      "level (first at line 1235, column 1)");
  gs__buf_fini (&b);
}

static void
test_aliases_refused (void)
{
  load_fails ("base: &b {x: 1}\nother: *b\n",
              "cfg.yaml:1:7: anchors ('&b') are not supported");
  load_fails ("a: 1\nb: *nowhere\n",
              "cfg.yaml:2:4: aliases ('*nowhere') are not supported");
  load_fails ("list:\n  - &x 1\n", "cfg.yaml:2:5: anchors ('&x')");
}

static void
test_multiple_documents (void)
{
  load_fails ("a: 1\n---\nb: 2\n",
              "cfg.yaml:2:1: a second YAML document ('---')");
  load_fails ("---\na: 1\n...\n---\n",
              "cfg.yaml:4:1: a second YAML document");
}

static void
test_bad_keys (void)
{
  load_fails ("[a, b]: 1\n", "cfg.yaml:1:1: a sequence is used as a key at "
                             "the top level");
  load_fails ("m:\n  ? {x: 1}\n  : 2\n",
              "cfg.yaml:2:5: a mapping is used as a key in 'm'");
  load_fails ("m:\n  \"\": 2\n", "cfg.yaml:2:3: empty key in 'm'");
}

/* "[" * depth + "1" + "]" * depth. */
static char *
nested_flow (size_t depth)
{
  char *s = malloc (2 * depth + 2);
  size_t i;
  if (!s)
    return NULL;
  for (i = 0; i < depth; i++)
    {
      s[i] = '[';
      s[depth + 1 + i] = ']';
    }
  s[depth] = '1';
  s[2 * depth + 1] = '\0';
  return s;
}

static void
test_deep_nesting (void)
{
  char *s;
  gs_ynode *root;
  gs__buf b;
  size_t i;

  /* 64 levels are fine, 65 are refused, and so are 200000. */
  s = nested_flow (64);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  root = load_ok (s);
  CU_ASSERT_PTR_NOT_NULL (root);
  if (root)
    CU_ASSERT_EQUAL (root->kind, GS_YNODE_SEQUENCE);
  gs_ynode_free (root);
  free (s);
  s = nested_flow (65);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  load_fails (s, "cfg.yaml:1:65: nesting deeper than 64 levels");
  free (s);
  s = nested_flow (200000);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  load_fails (s, "nesting deeper than 64 levels");
  free (s);

  /* Block mappings: the 65th level is refused at its first key. */
  gs__buf_init (&b);
  for (i = 0; i < 65; i++)
    {
      size_t k;
      for (k = 0; k < i; k++)
        gs__buf_puts (&b, " ");
      gs__buf_printf (&b, "k%zu:\n", i);
    }
  gs__buf_puts (&b, "                                                    "
                    "              leaf: 1\n");
  CU_ASSERT_FALSE_FATAL (b.failed);
  load_fails (b.data, "cfg.yaml:65:65: nesting deeper than 64 levels");
  gs__buf_fini (&b);
}

static void
test_long_scalars (void)
{
  size_t n = 1u << 20, i;
  char *text = malloc (2 * n + 16);
  gs_ynode *root;
  CU_ASSERT_PTR_NOT_NULL_FATAL (text);
  /* A 1 MiB explicit key ("? key") and a 1 MiB value. */
  text[0] = '?';
  text[1] = ' ';
  for (i = 0; i < n; i++)
    {
      text[2 + i] = 'k';
      text[n + 5 + i] = (char)('a' + i % 26);
    }
  memcpy (text + n + 2, "\n: ", 3);
  memcpy (text + 2 * n + 5, "\n", 2);
  root = load_ok (text);
  if (root)
    {
      CU_ASSERT_EQUAL (root->n, 1);
      CU_ASSERT_EQUAL (strlen (root->keys[0]), n);
      CU_ASSERT_EQUAL (strlen (root->items[0]->value), n);
      CU_ASSERT_EQUAL (root->items[0]->line, 2);
      CU_ASSERT_EQUAL (root->items[0]->column, 3);
    }
  gs_ynode_free (root);

  /* An implicit key is limited to 1024 characters by YAML: refused with
   * the position where the ':' was found. */
  text[0] = 'k';
  text[n + 2] = ' ';
  load_fails (text, "cfg.yaml:1:1048580: invalid YAML: mapping values are "
                    "not allowed");

  /* A long value in an error message is shortened. */
  memcpy (text, "seed: ", 6);
  text[n - 1] = '\0';
  root = load_ok (text);
  if (root)
    {
      CU_ASSERT_EQUAL (gs_ynode_as_long (gs_ynode_get (root, "seed"), "seed",
                                         0, 10, NULL),
                       GS_ECONFIG);
      GS_ASSERT_CONTAINS (gs_last_error (), "got 'kkkkkkkkkk");
      GS_ASSERT_CONTAINS (gs_last_error (), "...'");
      CU_ASSERT (strlen (gs_last_error ()) < 200);
    }
  gs_ynode_free (root);
  free (text);
}

static uint64_t
next_random (uint64_t *state)
{
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

/* Every node of a loaded tree has a position and a file. */
static int
positions_ok (const gs_ynode *n, size_t depth)
{
  size_t i;
  if (!n || !n->file || n->line == 0 || n->column == 0 || depth > 64)
    return 0;
  if (n->kind == GS_YNODE_SCALAR)
    return n->value != NULL && n->n == 0;
  for (i = 0; i < n->n; i++)
    if (!positions_ok (n->items[i], depth + 1)
        || (n->kind == GS_YNODE_MAPPING && !n->keys[i]))
      return 0;
  return 1;
}

static void
test_hostile_inputs (void)
{
  static const char *pieces[] = {
    "a",    ":",      " ",     "\n",    "- ",     "[",    "]",   "{",
    "}",    ",",      "&x ",   "*x",    "\"",     "'",    "#",   "${GS_T_Y}",
    "$$",   "${",     "? ",    "|\n",   ">-\n",   "\t",   "!!str ", "!x ",
    "---",  "...",    "%YAML 1.1\n",  "\xff", "\xc3\xa9", "0", "1e999",
    "~",    "  ",     "seed",  "methods", "\\",  "\r\n", "<<: ", "\xef\xbb\xbf"
  };
  size_t npieces = sizeof pieces / sizeof pieces[0];
  uint64_t state = 0x9e3779b97f4a7c15u;
  gs__buf b;
  int iter, ok = 0, bad = 0;
  setenv ("GS_T_Y", "v", 1);
  gs__buf_init (&b);
  for (iter = 0; iter < 4000; iter++)
    {
      size_t len = next_random (&state) % 40, i;
      gs_ynode *root = NULL;
      int rc;
      b.len = 0;
      gs__buf_append (&b, "", 0);
      for (i = 0; i < len; i++)
        gs__buf_puts (&b, pieces[next_random (&state) % npieces]);
      if (b.failed)
        break;
      rc = gs_yaml_load_string (b.data, "fuzz", &root);
      if (rc == GS_OK)
        {
          ok++;
          CU_ASSERT_PTR_NOT_NULL (root);
          CU_ASSERT (positions_ok (root, 0));
          gs_yaml_check (root, &experiment, "experiment");
          gs_yaml_apply_set (root, "methods.0.id=x");
          gs_yaml_apply_set (root, "a.b=[1, {c: d}]");
          gs_ynode_free (root);
        }
      else
        {
          bad++;
          CU_ASSERT_EQUAL (rc, GS_ECONFIG);
          CU_ASSERT_PTR_NULL (root);
          CU_ASSERT (strncmp (gs_last_error (), "fuzz:", 5) == 0);
        }
    }
  CU_ASSERT_FALSE (b.failed);
  /* Both outcomes were exercised. */
  CU_ASSERT (ok > 100);
  CU_ASSERT (bad > 100);
  gs__buf_fini (&b);
  unsetenv ("GS_T_Y");
}

/* ---- ${VAR} expansion ------------------------------------------------- */

static void
expands_to (const char *in, const char *want)
{
  char *out = NULL;
  int rc = gs_yaml_expand_vars (in, &out);
  if (rc != GS_OK)
    fprintf (stderr, "\n  unexpected error: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (out);
  if (strcmp (out, want) != 0)
    fprintf (stderr, "\n  '%s' expanded to '%s', expected '%s'\n", in, out,
             want);
  CU_ASSERT_STRING_EQUAL (out, want);
  free (out);
}

static void
expand_fails (const char *in, const char *needle)
{
  char *out = (char *)1;
  CU_ASSERT_EQUAL (gs_yaml_expand_vars (in, &out), GS_ECONFIG);
  CU_ASSERT_PTR_NULL (out);
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
}

static void
test_expand_vars (void)
{
  setenv ("GS_T_SET", "hello", 1);
  setenv ("GS_T_EMPTY", "", 1);
  unsetenv ("GS_T_UNSET");
  expands_to ("plain text", "plain text");
  expands_to ("${GS_T_SET}", "hello");
  expands_to ("a/${GS_T_SET}/b${GS_T_SET}", "a/hello/bhello");
  expands_to ("${GS_T_UNSET:-fallback}", "fallback");
  expands_to ("${GS_T_SET:-fallback}", "hello");
  expands_to ("${GS_T_EMPTY:-fallback}", "fallback");
  expands_to ("[${GS_T_EMPTY}]", "[]");
  expands_to ("${GS_T_UNSET:-}", "");
  expands_to ("${GS_T_UNSET:-a b:c}", "a b:c");
  expands_to ("${GS_T_UNSET:-cost $$5}", "cost $5");
  expands_to ("$$", "$");
  expands_to ("$${GS_T_SET}", "${GS_T_SET}");
  expands_to ("$$$${GS_T_SET}", "$${GS_T_SET}");
  expands_to ("$$${GS_T_SET}", "$hello");
  expands_to ("price $5 and $HOME", "price $5 and $HOME");
  expands_to ("trailing $", "trailing $");
  expand_fails ("x ${GS_T_UNSET} y",
                "environment variable 'GS_T_UNSET' is not set");
  expand_fails ("${GS_T_UNSET}", "${GS_T_UNSET:-value}");
  expand_fails ("${GS_T_SET", "unterminated '${'");
  expand_fails ("${}", "invalid variable reference");
  expand_fails ("${1X}", "invalid variable reference");
  expand_fails ("${A-B}", "invalid variable reference at '${A-B}'");
  expand_fails ("${A:-${B}}", "nested references are not supported");
  unsetenv ("GS_T_SET");
  unsetenv ("GS_T_EMPTY");
}

static void
test_expand_in_tree (void)
{
  gs_ynode *root;
  setenv ("GS_T_DIR", "/data", 1);
  unsetenv ("GS_T_UNSET");
  root = load_ok ("path: ${GS_T_DIR}/x\n"
                  "quoted: \"${GS_T_DIR}\"\n"
                  "single: '$${GS_T_DIR}'\n"
                  "def: ${GS_T_UNSET:-none}\n"
                  "${GS_T_DIR}: key kept\n"
                  "list: [\"${GS_T_DIR}\"]\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_STRING_EQUAL (text_at (root, "path", NULL), "/data/x");
  CU_ASSERT_STRING_EQUAL (text_at (root, "quoted", NULL), "/data");
  CU_ASSERT_STRING_EQUAL (text_at (root, "single", NULL), "${GS_T_DIR}");
  CU_ASSERT_STRING_EQUAL (text_at (root, "def", NULL), "none");
  CU_ASSERT_STRING_EQUAL (text_at (root, "${GS_T_DIR}", NULL), "key kept");
  CU_ASSERT_PTR_NULL (gs_ynode_get (root, "/data"));
  CU_ASSERT_STRING_EQUAL (gs_ynode_get (root, "list")->items[0]->value,
                          "/data");
  gs_ynode_free (root);

  load_fails ("a: 1\nout:\n  dir: ${GS_T_UNSET}/run\n",
              "cfg.yaml:3:8: value of 'dir': environment variable "
              "'GS_T_UNSET' is not set");
  load_fails ("list:\n  - ok\n  - ${GS_T_UNSET}\n",
              "cfg.yaml:3:5: value of 'list[1]': environment variable "
              "'GS_T_UNSET'");
  unsetenv ("GS_T_DIR");
}

/* ---- Schema checks ---------------------------------------------------- */

static void
test_check_valid (void)
{
  gs_ynode *root = load_ok (valid_config);
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"), GS_OK);
  gs_ynode_free (root);

  /* outputs may be a scalar; big takes the full unsigned 64-bit range. */
  root = load_ok ("name: a\nlibrary: b\noutputs: out\n"
                  "big: 18446744073709551615\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"), GS_OK);
  gs_ynode_free (root);

  CU_ASSERT_EQUAL (gs_yaml_check (NULL, &experiment, "experiment"),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "missing 'experiment'");
}

static void
test_check_unknown_key (void)
{
  check_fails ("name: a\nlibrary: b\nseed: 1\n\n\n\n\n\n\n\n\n"
               "methds: []\n",
               "cfg.yaml:12:1: unknown key 'methds' in 'experiment'; valid "
               "keys: name, seed, library, tolerance, scale, mode, "
               "verbose, methods, outputs, big; did you mean 'methods'?");
  check_fails ("name: a\nlibrary: b\noutputs:\n  dir: x\n  fromat: csv\n",
               "cfg.yaml:5:3: unknown key 'fromat' in 'outputs'; valid "
               "keys: dir, format");
  check_fails ("name: a\nlibrary: b\nmethods:\n  - id: x\n    parms: 1\n",
               "cfg.yaml:5:5: unknown key 'parms' in 'methods[0]'; valid "
               "keys: id, iterations, params; did you mean 'params'?");
  /* No suggestion for a key that resembles nothing. */
  check_fails ("name: a\nlibrary: b\nzzzzzzzz: 1\n",
               "valid keys: name, seed");
  {
    gs_ynode *root = load_ok ("name: a\nlibrary: b\nzzzzzzzz: 1\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    gs_yaml_check (root, &experiment, "experiment");
    CU_ASSERT_PTR_NULL (strstr (gs_last_error (), "did you mean"));
    gs_ynode_free (root);
  }
}

static void
test_check_wrong_type (void)
{
  check_fails ("name: a\nlibrary: b\nmethods:\n  id: x\n",
               "cfg.yaml:4:3: 'methods' must be a sequence, got a mapping");
  check_fails ("name: a\nlibrary: b\noutputs: [a]\n",
               "cfg.yaml:3:10: 'outputs' must be a scalar or a mapping, got "
               "a sequence");
  check_fails ("name: [a]\nlibrary: b\n",
               "cfg.yaml:1:7: 'name' must be a string, got a sequence "
               "(a short label)");
  check_fails ("name: a\nlibrary: b\nmethods: [x]\n",
               "cfg.yaml:3:11: 'methods[0]' must be a mapping, got 'x' "
               "(a method)");
  check_fails ("name: a\nlibrary: b\nseed:\n",
               "cfg.yaml:3:6: 'seed' must be an integer in [0, 1000], got "
               "an empty value");
  {
    gs_ynode *root = load_ok ("- a\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"),
                     GS_ECONFIG);
    GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:1:1: 'experiment' must "
                                          "be a mapping, got a sequence");
    gs_ynode_free (root);
  }
}

static void
test_check_int_range (void)
{
  check_fails ("name: a\nlibrary: b\n\n\n\n\nseed:    abc\n",
               "cfg.yaml:7:10: 'seed' must be an integer in [0, 1000], got "
               "'abc' (the random seed)");
  check_fails ("name: a\nlibrary: b\nseed: 1001\n",
               "cfg.yaml:3:7: 'seed' must be an integer in [0, 1000], got "
               "'1001'");
  check_fails ("name: a\nlibrary: b\nseed: -1\n", "got '-1'");
  check_fails ("name: a\nlibrary: b\nseed: 1.5\n", "got '1.5'");
  check_fails ("name: a\nlibrary: b\nseed: 99999999999999999999999\n",
               "'seed' must be an integer in [0, 1000]");
  check_fails ("name: a\nlibrary: b\nbig: -1\n",
               "'big' must be an integer in [0, 18446744073709551615], got "
               "'-1'");
  check_fails ("name: a\nlibrary: b\nbig: 18446744073709551616\n",
               "'big' must be an integer in [0, 18446744073709551615]");
  check_fails ("name: a\nlibrary: b\nmethods:\n  - id: x\n    iterations: "
               "0\n",
               "cfg.yaml:5:17: 'methods[0].iterations' must be an integer "
               "in [1, 100], got '0'");
  /* The bounds themselves are accepted. */
  {
    gs_ynode *root = load_ok ("name: a\nlibrary: b\nseed: 1000\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"),
                     GS_OK);
    gs_ynode_free (root);
  }
}

static void
test_check_real_range (void)
{
  check_fails ("name: a\nlibrary: b\ntolerance: 0.75\n",
               "cfg.yaml:3:12: 'tolerance' must be a number in [0, 0.5], "
               "got '0.75'");
  check_fails ("name: a\nlibrary: b\ntolerance: fast\n",
               "'tolerance' must be a number in [0, 0.5], got 'fast'");
  check_fails ("name: a\nlibrary: b\ntolerance: .nan\n", "got '.nan'");
  check_fails ("name: a\nlibrary: b\nscale: -1e-9\n",
               "'scale' must be a number >= 0, got '-1e-9'");
  check_fails ("name: a\nlibrary: b\nscale: 1e999\n",
               "'scale' must be a number >= 0, got '1e999'");
  {
    gs_ynode *root = load_ok ("name: a\nlibrary: b\ntolerance: 0.5\n"
                              "scale: 1e300\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL (root);
    CU_ASSERT_EQUAL (gs_yaml_check (root, &experiment, "experiment"),
                     GS_OK);
    gs_ynode_free (root);
  }
}

static void
test_check_enum_bool (void)
{
  check_fails ("name: a\nlibrary: b\nmode: slow\n",
               "cfg.yaml:3:7: 'mode' must be one of: fast, exact, auto; got "
               "'slow'");
  check_fails ("name: a\nlibrary: b\nmode: exakt\n",
               "got 'exakt'; did you mean 'exact'?");
  check_fails ("name: a\nlibrary: b\nmode: Fast\n", "got 'Fast'");
  check_fails ("name: a\nlibrary: b\noutputs: {dir: x, format: xml}\n",
               "cfg.yaml:3:27: 'outputs.format' must be one of: json, csv; "
               "got 'xml'");
  check_fails ("name: a\nlibrary: b\nverbose: maybe\n",
               "cfg.yaml:3:10: 'verbose' must be true or false (or yes/no, "
               "on/off), got 'maybe'");
}

static void
test_check_missing_required (void)
{
  check_fails ("\n\n\nname: a\nseed: 3\n",
               "cfg.yaml:4:1: missing required key 'library' in "
               "'experiment'");
  check_fails ("library: b\n", "missing required key 'name' in "
                               "'experiment' (a short label)");
  check_fails ("name: a\nlibrary: b\noutputs:\n  format: csv\n",
               "cfg.yaml:4:3: missing required key 'dir' in 'outputs'");
  check_fails ("name: a\nlibrary: b\nmethods:\n  - id: x\n  - params: 1\n",
               "cfg.yaml:5:5: missing required key 'id' in 'methods[1]' "
               "(the method id)");
  /* An empty document misses everything, at 1:1. */
  check_fails ("", "cfg.yaml:1:1: missing required key 'name'");
}

static void
test_accessors (void)
{
  gs_ynode *root = load_ok ("n: 42\nx: 2.5\nb: off\ns: text\nm: {}\n");
  long l = 0;
  double d = 0;
  int flag = 1;
  const char *s = NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_EQUAL (gs_ynode_as_long (gs_ynode_get (root, "n"), "n", 0, 100,
                                     &l),
                   GS_OK);
  CU_ASSERT_EQUAL (l, 42);
  CU_ASSERT_EQUAL (gs_ynode_as_long (gs_ynode_get (root, "n"), "n", 0, 10,
                                     &l),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:1:4: 'n' must be an "
                                        "integer in [0, 10], got '42'");
  CU_ASSERT_EQUAL (l, 42);
  CU_ASSERT_EQUAL (gs_ynode_as_long (gs_ynode_get (root, "x"), "x", 1, 0,
                                     &l),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:2:4: 'x' must be an "
                                        "integer, got '2.5'");
  CU_ASSERT_EQUAL (gs_ynode_as_double (gs_ynode_get (root, "x"), "x", 0, 3,
                                       &d),
                   GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (d, 2.5, 0);
  CU_ASSERT_EQUAL (gs_ynode_as_double (gs_ynode_get (root, "x"), "x", 0, 1,
                                       &d),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "'x' must be a number in [0, 1], "
                                        "got '2.5'");
  CU_ASSERT_EQUAL (gs_ynode_as_bool (gs_ynode_get (root, "b"), "b", &flag),
                   GS_OK);
  CU_ASSERT_EQUAL (flag, 0);
  CU_ASSERT_EQUAL (gs_ynode_as_bool (gs_ynode_get (root, "s"), "s", &flag),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:4:4: 's' must be true or "
                                        "false");
  CU_ASSERT_EQUAL (gs_ynode_as_string (gs_ynode_get (root, "s"), "s", &s),
                   GS_OK);
  CU_ASSERT_STRING_EQUAL (s, "text");
  CU_ASSERT_EQUAL (gs_ynode_as_string (gs_ynode_get (root, "m"), "m", &s),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:5:4: 'm' must be a "
                                        "string, got a mapping");
  CU_ASSERT_EQUAL (gs_ynode_as_long (NULL, "seed", 0, 1, &l), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "missing value for 'seed'");
  gs_ynode_free (root);
}

/* ---- Overrides -------------------------------------------------------- */

static void
test_set_replace_create (void)
{
  gs_ynode *root = load_ok ("seed: 3\nout:\n  dir: a\n");
  const gs_ynode *n;
  char where[32];
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  set_ok (root, "seed=7");
  n = gs_ynode_get (root, "seed");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_STRING_EQUAL (n->value, "7");
  CU_ASSERT_STRING_EQUAL (n->file, "--set");
  CU_ASSERT_EQUAL (n->line, 0);
  CU_ASSERT_EQUAL (n->plain, 1);
  gs_ynode_where (n, where, sizeof where);
  CU_ASSERT_STRING_EQUAL (where, "--set");
  CU_ASSERT_EQUAL (root->n, 2);

  set_ok (root, "out.dir=b=c");
  CU_ASSERT_STRING_EQUAL (text_at (root, "out", "dir"), "b=c");
  set_ok (root, "out.format=csv");
  CU_ASSERT_STRING_EQUAL (text_at (root, "out", "format"), "csv");
  CU_ASSERT_EQUAL (gs_ynode_get (root, "out")->n, 2);
  set_ok (root, "new.deep.key='quoted: yes'");
  n = gs_ynode_get (gs_ynode_get (root, "new"), "deep");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_MAPPING);
  CU_ASSERT_STRING_EQUAL (n->file, "--set");
  CU_ASSERT_STRING_EQUAL (text_at (n, "key", NULL), "quoted: yes");
  CU_ASSERT_EQUAL (gs_ynode_get (n, "key")->plain, 0);
  set_ok (root, "empty=");
  n = gs_ynode_get (root, "empty");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_SCALAR);
  CU_ASSERT_STRING_EQUAL (n->value, "");
  /* A replaced value is checked like a loaded one, positioned at --set. */
  set_ok (root, "seed=abc");
  CU_ASSERT_EQUAL (gs_ynode_as_long (gs_ynode_get (root, "seed"), "seed", 0,
                                     9, NULL),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "--set: 'seed' must be an integer "
                                        "in [0, 9], got 'abc'");
  gs_ynode_free (root);
}

static void
test_set_flow_values (void)
{
  gs_ynode *root = load_ok ("methods: [a]\nm: 1\n");
  const gs_ynode *n;
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  set_ok (root, "methods=[1, 2, three]");
  n = gs_ynode_get (root, "methods");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_SEQUENCE);
  CU_ASSERT_EQUAL_FATAL (n->n, 3);
  CU_ASSERT_STRING_EQUAL (n->items[2]->value, "three");
  CU_ASSERT_STRING_EQUAL (n->items[2]->file, "--set");
  CU_ASSERT_EQUAL (n->items[2]->line, 0);
  set_ok (root, "m={a: 1, b: [x]}");
  n = gs_ynode_get (root, "m");
  CU_ASSERT_PTR_NOT_NULL_FATAL (n);
  CU_ASSERT_EQUAL (n->kind, GS_YNODE_MAPPING);
  CU_ASSERT_EQUAL (n->n, 2);
  CU_ASSERT_EQUAL (n->key_line[1], 0);
  CU_ASSERT_STRING_EQUAL (text_at (n, "a", NULL), "1");
  set_ok (root, "m.b.1=y");
  CU_ASSERT_EQUAL (gs_ynode_get (n, "b")->n, 2);
  gs_ynode_free (root);
}

static void
test_set_sequences (void)
{
  gs_ynode *root = load_ok ("methods:\n  - id: a\n  - id: b\nlist: [x]\n");
  const gs_ynode *m;
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  m = gs_ynode_get (root, "methods");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  set_ok (root, "methods.1.id=c");
  CU_ASSERT_STRING_EQUAL (text_at (m->items[1], "id", NULL), "c");
  set_ok (root, "methods.0.iterations=9");
  CU_ASSERT_STRING_EQUAL (text_at (m->items[0], "iterations", NULL), "9");
  set_ok (root, "methods.2.id=appended");
  CU_ASSERT_EQUAL_FATAL (m->n, 3);
  CU_ASSERT_STRING_EQUAL (text_at (m->items[2], "id", NULL), "appended");
  set_ok (root, "list.1=y");
  set_ok (root, "list.0=w");
  m = gs_ynode_get (root, "list");
  CU_ASSERT_EQUAL_FATAL (m->n, 2);
  CU_ASSERT_STRING_EQUAL (m->items[0]->value, "w");
  CU_ASSERT_STRING_EQUAL (m->items[1]->value, "y");

  set_fails (root, "methods.5.id=x",
             "--set 'methods.5.id=x': index '5' is out of range for "
             "'methods', which has 3 items; use 0 to 3, where 3 appends");
  set_fails (root, "methods.first.id=x",
             "--set 'methods.first.id=x': 'methods' is a sequence of 3 "
             "items, so the path part 'first' must be an index");
  set_fails (root, "methods.-1=x", "path part '-1' must be an index");
  set_fails (root, "list.0.k=v",
             "--set 'list.0.k=v': 'list.0' is a scalar ('w'), so it has no "
             "part 'k'");
  CU_ASSERT_EQUAL (gs_ynode_get (root, "methods")->n, 3);
  CU_ASSERT_EQUAL (m->n, 2);
  gs_ynode_free (root);
}

static void
test_set_errors (void)
{
  gs_ynode *root = load_ok ("a: 1\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  set_fails (root, "seed", "--set 'seed': expected PATH=VALUE");
  set_fails (root, "=3", "--set '=3': expected PATH=VALUE");
  set_fails (root, "a..b=1", "--set 'a..b=1': empty part in the path");
  set_fails (root, ".a=1", "empty part in the path");
  set_fails (root, "a.=1", "empty part in the path");
  set_fails (root, "x=[1, 2", "--set 'x=[1, 2': at the end of the value: "
                              "invalid YAML: did not find expected");
  set_fails (root, "x=k: v", "--set 'x=k: v': in the value at column 1: "
                             "the value is a block mapping");
  set_fails (root, "x=*ref", "aliases ('*ref') are not supported");
  set_fails (root, "x=@", "in the value at column 1: invalid YAML");
  unsetenv ("GS_T_UNSET");
  set_fails (root, "x=${GS_T_UNSET}",
             "environment variable 'GS_T_UNSET' is not set");
  /* Nothing was added by the failures. */
  CU_ASSERT_EQUAL (root->n, 1);
  CU_ASSERT_STRING_EQUAL (text_at (root, "a", NULL), "1");
  CU_ASSERT_EQUAL (gs_yaml_apply_set (NULL, "a=1"), GS_EINVAL);
  gs_ynode_free (root);
}

static void
test_set_depth (void)
{
  gs_ynode *root = load_ok ("a: 1\n");
  gs__buf b;
  char *value;
  size_t i;
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  gs__buf_init (&b);
  for (i = 0; i < 65; i++)
    gs__buf_puts (&b, i ? ".k" : "k");
  gs__buf_puts (&b, "=1");
  CU_ASSERT_FALSE_FATAL (b.failed);
  set_fails (root, b.data, "the path has 65 parts; at most 64 are allowed");
  /* 60 path parts plus a value nested 5 deep is 65 levels. */
  b.len = 0;
  for (i = 0; i < 60; i++)
    gs__buf_puts (&b, i ? ".k" : "k");
  gs__buf_puts (&b, "=");
  value = nested_flow (5);
  CU_ASSERT_PTR_NOT_NULL_FATAL (value);
  gs__buf_puts (&b, value);
  free (value);
  CU_ASSERT_FALSE_FATAL (b.failed);
  set_fails (root, b.data, "the value would sit 65 levels deep; at most 64");
  CU_ASSERT_EQUAL (root->n, 1);
  /* 59 path parts plus a value nested 5 deep: 64 levels are fine. */
  b.len = 0;
  for (i = 0; i < 59; i++)
    gs__buf_puts (&b, i ? ".k" : "k");
  gs__buf_puts (&b, "=[[[[[1]]]]]");
  CU_ASSERT_FALSE_FATAL (b.failed);
  set_ok (root, b.data);
  CU_ASSERT_EQUAL (root->n, 2);
  gs__buf_fini (&b);
  gs_ynode_free (root);
}

void gs_test_register_yaml (void);

void
gs_test_register_yaml (void)
{
  CU_pSuite s = CU_add_suite ("yaml", NULL, NULL);
  if (!s)
    return;
  CU_add_test (s, "load positions", test_load_positions);
  CU_add_test (s, "load file", test_load_file);
  CU_add_test (s, "empty documents", test_empty_documents);
  CU_add_test (s, "broken yaml", test_broken_yaml);
  CU_add_test (s, "duplicate key", test_duplicate_key);
  CU_add_test (s, "duplicate key among many", test_duplicate_key_many);
  CU_add_test (s, "aliases refused", test_aliases_refused);
  CU_add_test (s, "multiple documents", test_multiple_documents);
  CU_add_test (s, "bad keys", test_bad_keys);
  CU_add_test (s, "deep nesting", test_deep_nesting);
  CU_add_test (s, "long scalars", test_long_scalars);
  CU_add_test (s, "hostile inputs", test_hostile_inputs);
  CU_add_test (s, "expand vars", test_expand_vars);
  CU_add_test (s, "expand in tree", test_expand_in_tree);
  CU_add_test (s, "check valid", test_check_valid);
  CU_add_test (s, "check unknown key", test_check_unknown_key);
  CU_add_test (s, "check wrong type", test_check_wrong_type);
  CU_add_test (s, "check int range", test_check_int_range);
  CU_add_test (s, "check real range", test_check_real_range);
  CU_add_test (s, "check enum and bool", test_check_enum_bool);
  CU_add_test (s, "check missing required", test_check_missing_required);
  CU_add_test (s, "accessors", test_accessors);
  CU_add_test (s, "set replace and create", test_set_replace_create);
  CU_add_test (s, "set flow values", test_set_flow_values);
  CU_add_test (s, "set sequences", test_set_sequences);
  CU_add_test (s, "set errors", test_set_errors);
  CU_add_test (s, "set depth", test_set_depth);
}
