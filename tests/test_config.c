/* Experiment configs: schema errors name file:line:column and the key. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "gspec/core.h"
#include "run.h"
#include "test_util.h"
#include "util.h"

static const char *base_config
    = "name: t\n"
      "seed: 7\n"
      "library:\n"
      "  source: embedded\n"
      "  channels: 256\n"
      "  kev_per_channel: 8\n"
      "datasets:\n"
      "  - name: mix\n"
      "    generate: {n: 20, max_active: 2}\n"
      "methods:\n"
      "  - id: unmixing.nnpu\n"
      "    params: {solver: newton}\n";

/* base_config with the first `from` replaced by `to` (malloc'd). */
static char *
base_with (const char *from, const char *to)
{
  const char *p = strstr (base_config, from);
  CU_ASSERT_PTR_NOT_NULL_FATAL (p);
  return gs__asprintf ("%.*s%s%s", (int)(p - base_config), base_config, to,
                       p + strlen (from));
}

static int
load_text (const char *text, gs_experiment **e)
{
  char *dir = gs_test_tmpdir ();
  char *path = gs_test_write (dir, "cfg.yaml", text);
  int rc = gs_experiment_load (path, NULL, 0, e);
  free (path);
  gs_test_rmtree (dir);
  free (dir);
  return rc;
}

static void
test_valid (void)
{
  gs_experiment *e = NULL;
  CU_ASSERT_EQUAL_FATAL (load_text (base_config, &e), GS_OK);
  CU_ASSERT_STRING_EQUAL (e->name, "t");
  CU_ASSERT_EQUAL (e->seed, 7);
  CU_ASSERT_EQUAL (e->n_datasets, 1);
  CU_ASSERT_EQUAL (e->datasets[0].gen.n_spectra, 20);
  CU_ASSERT_EQUAL (e->datasets[0].gen.max_active, 2);
  CU_ASSERT_EQUAL (e->n_methods, 1);
  CU_ASSERT_STRING_EQUAL (e->methods[0].id, "unmixing.nnpu");
  CU_ASSERT_DOUBLE_EQUAL (e->target_fpr, 0.01, 0);
  gs_experiment_free (e);
}

static void
test_unknown_key (void)
{
  gs_experiment *e = NULL;
  char *text = gs__asprintf ("%sseeed: 3\n", base_config);
  CU_ASSERT_EQUAL (load_text (text, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:13:1");
  GS_ASSERT_CONTAINS (gs_last_error (), "'seeed'");
  GS_ASSERT_CONTAINS (gs_last_error (), "seed");
  CU_ASSERT_PTR_NULL (e);
  free (text);
}

static void
test_wrong_type (void)
{
  gs_experiment *e = NULL;
  char *text = base_with ("seed: 7", "seed: x");
  CU_ASSERT_EQUAL (load_text (text, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:2:");
  GS_ASSERT_CONTAINS (gs_last_error (), "'seed'");
  free (text);
}

static void
test_out_of_range (void)
{
  gs_experiment *e = NULL;
  char *text = gs__asprintf ("%starget_fpr: 1.5\n", base_config);
  CU_ASSERT_EQUAL (load_text (text, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:13:");
  GS_ASSERT_CONTAINS (gs_last_error (), "target_fpr");
  free (text);
}

static void
test_bad_enum (void)
{
  gs_experiment *e = NULL;
  char *text = base_with ("source: embedded", "source: embedxed");
  CU_ASSERT_EQUAL (load_text (text, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:4:");
  GS_ASSERT_CONTAINS (gs_last_error (), "gammabench");
  free (text);
}

static void
test_broken_yaml (void)
{
  gs_experiment *e = NULL;
  CU_ASSERT_NOT_EQUAL (load_text ("name: t\nseed: [1, 2\nlibrary: x\n", &e),
                       GS_OK);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:");
}

static void
test_missing_required (void)
{
  gs_experiment *e = NULL;
  CU_ASSERT_EQUAL (load_text ("name: t\nseed: 1\ndatasets: []\n"
                              "methods: all-untrained\n",
                              &e),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "library");
}

static void
test_dataset_needs_one_source (void)
{
  gs_experiment *e = NULL;
  char *text = gs__strdup (base_config);
  char *p = strstr (text, "    generate: {n: 20, max_active: 2}\n");
  char *t2;
  *p = '\0';
  t2 = gs__asprintf ("%s    path: a.npy\n    generate: {n: 2}\n%s", text,
                     strstr (base_config, "methods:"));
  CU_ASSERT_EQUAL (load_text (t2, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "exactly one of 'generate' or "
                                        "'path'");
  free (text);
  free (t2);
}

static void
test_set_override (void)
{
  char *dir = gs_test_tmpdir ();
  char *path = gs_test_write (dir, "cfg.yaml", base_config);
  char *sets[] = { "seed=11", "datasets.0.generate.n=5" };
  char *bad[] = { "datasets.0.generate.n=-4" };
  gs_experiment *e = NULL;
  CU_ASSERT_EQUAL_FATAL (gs_experiment_load (path, sets, 2, &e), GS_OK);
  CU_ASSERT_EQUAL (e->seed, 11);
  CU_ASSERT_EQUAL (e->datasets[0].gen.n_spectra, 5);
  gs_experiment_free (e);
  e = NULL;
  CU_ASSERT_EQUAL (gs_experiment_load (path, bad, 1, &e), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "generate.n");
  GS_ASSERT_CONTAINS (gs_last_error (), "'-4'");
  gs_test_rmtree (dir);
  free (dir);
  free (path);
}

/* Method parameters are checked against the method's table, with the
 * config position. */
static void
test_method_param_errors (void)
{
  char *dir = gs_test_tmpdir ();
  char *text = base_with ("solver: newton", "solvr: newton");
  char *path, *out;
  gs_run_opts o;
  path = gs_test_write (dir, "cfg.yaml", text);
  out = gs__path_join (dir, "out");
  memset (&o, 0, sizeof o);
  o.config = path;
  o.out_dir = out;
  o.threads = 1;
  o.quiet = 1;
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  CU_ASSERT_EQUAL (gs_run (&o), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:12:");
  GS_ASSERT_CONTAINS (gs_last_error (), "unknown parameter 'solvr'");
  GS_ASSERT_CONTAINS (gs_last_error (), "solver");
  /* An unknown method id lists the registered ones. */
  free (path);
  free (text);
  text = base_with ("unmixing.nnpu", "unmixing.nnpx");
  path = gs_test_write (dir, "cfg.yaml", text);
  o.config = path;
  CU_ASSERT_EQUAL (gs_run (&o), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg.yaml:11:");
  GS_ASSERT_CONTAINS (gs_last_error (), "unknown method 'unmixing.nnpx'");
  GS_ASSERT_CONTAINS (gs_last_error (), "unmixing.nnpu");
  unsetenv ("GSPEC_PLUGIN_PATH");
  gs_test_rmtree (dir);
  free (dir);
  free (path);
  free (out);
  free (text);
}

/* The acceptance case, through the real executable: quickstart plus one
 * unknown top-level key exits non-zero naming the key and its line; a
 * missing data file names its path. */
static void
test_cli_acceptance (void)
{
  char *dir = gs_test_tmpdir ();
  char *src = NULL, *text, *path, *cmd, *outp = NULL;
  size_t lines = 0;
  const char *q;
  int status;
  CU_ASSERT_EQUAL_FATAL (
      gs__read_file (GSPEC_SOURCE_DIR "/configs/quickstart.yaml", &src,
                     NULL),
      GS_OK);
  for (q = src; *q; q++)
    lines += *q == '\n';
  text = gs__asprintf ("%sextra_key: 1\n", src);
  /* Keep the relative library path working from the temp folder. */
  path = gs__path_join (GSPEC_SOURCE_DIR "/configs", "quickstart-bad.tmp.yaml");
  {
    FILE *f = fopen (path, "w");
    fputs (text, f);
    fclose (f);
  }
  cmd = gs__asprintf ("%s/gspec run %s --out %s/o --quiet > %s/log 2>&1",
                      GSPEC_BUILD_DIR, path, dir, dir);
  status = system (cmd);
  CU_ASSERT_NOT_EQUAL (status, 0);
  free (cmd);
  cmd = gs__asprintf ("%s/log", dir);
  gs__read_file (cmd, &outp, NULL);
  {
    char want[64];
    snprintf (want, sizeof want, ":%zu:1", lines + 1);
    GS_ASSERT_CONTAINS (outp, "'extra_key'");
    GS_ASSERT_CONTAINS (outp, want);
  }
  free (outp);
  outp = NULL;
  remove (path);
  free (path);
  free (text);
  free (cmd);
  /* A missing labelled set. */
  text = gs__asprintf ("name: t\nseed: 1\nlibrary: %s/configs/libraries/"
                       "embedded.yaml\ndatasets:\n  - name: d\n    path: "
                       "/nonexistent/folder/set.counts.npy\n"
                       "methods: all-untrained\n",
                       GSPEC_SOURCE_DIR);
  path = gs_test_write (dir, "cfg2.yaml", text);
  cmd = gs__asprintf ("%s/gspec run %s --out %s/o --quiet > %s/log 2>&1",
                      GSPEC_BUILD_DIR, path, dir, dir);
  status = system (cmd);
  CU_ASSERT_NOT_EQUAL (status, 0);
  free (cmd);
  cmd = gs__asprintf ("%s/log", dir);
  gs__read_file (cmd, &outp, NULL);
  GS_ASSERT_CONTAINS (outp, "/nonexistent/folder/set.counts.npy");
  free (outp);
  free (cmd);
  free (path);
  free (text);
  free (src);
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_config (void);
void
gs_test_register_config (void)
{
  CU_pSuite s = CU_add_suite ("config", NULL, NULL);
  CU_add_test (s, "valid config", test_valid);
  CU_add_test (s, "unknown key", test_unknown_key);
  CU_add_test (s, "wrong type", test_wrong_type);
  CU_add_test (s, "out of range", test_out_of_range);
  CU_add_test (s, "bad enum", test_bad_enum);
  CU_add_test (s, "broken YAML", test_broken_yaml);
  CU_add_test (s, "missing required key", test_missing_required);
  CU_add_test (s, "dataset source", test_dataset_needs_one_source);
  CU_add_test (s, "--set overrides", test_set_override);
  CU_add_test (s, "method parameters", test_method_param_errors);
  CU_add_test (s, "CLI acceptance", test_cli_acceptance);
}
