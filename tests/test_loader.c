/* Loader and registry: real shared objects, broken on purpose. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "test_util.h"

static char *
fixture (const char *name)
{
  static char buf[4096];
  snprintf (buf, sizeof buf, "%s/%s.so", GSPEC_FIXTURE_DIR, name);
  return buf;
}

static void
test_no_entry (void)
{
  gs_registry *reg = gs_registry_alloc ();
  int rc = gs_registry_load_file (reg, fixture ("fx_noentry"));
  CU_ASSERT_EQUAL (rc, GS_EPLUGIN);
  GS_ASSERT_CONTAINS (gs_last_error (), "fx_noentry.so");
  GS_ASSERT_CONTAINS (gs_last_error (), "does not export gs_plugin_entry");
  CU_ASSERT_EQUAL (gs_registry_count (reg), 0);
  gs_registry_free (reg);
}

static void
test_abi_major (void)
{
  gs_registry *reg = gs_registry_alloc ();
  char want[64];
  int rc = gs_registry_load_file (reg, fixture ("fx_abi_major"));
  CU_ASSERT_EQUAL (rc, GS_EABI);
  GS_ASSERT_CONTAINS (gs_last_error (), "fx_abi_major.so");
  snprintf (want, sizeof want, "ABI %d.0", GS_ABI_MAJOR + 1);
  GS_ASSERT_CONTAINS (gs_last_error (), want);
  snprintf (want, sizeof want, "provides ABI %d.%d", GS_ABI_MAJOR,
            GS_ABI_MINOR);
  GS_ASSERT_CONTAINS (gs_last_error (), want);
  CU_ASSERT_PTR_NULL (gs_registry_find (reg, "test.abimajor"));
  gs_registry_free (reg);
}

static void
test_abi_minor (void)
{
  gs_registry *reg = gs_registry_alloc ();
  char want[64];
  int rc = gs_registry_load_file (reg, fixture ("fx_abi_minor"));
  CU_ASSERT_EQUAL (rc, GS_EABI);
  snprintf (want, sizeof want, "ABI %d.%d", GS_ABI_MAJOR, GS_ABI_MINOR + 1);
  GS_ASSERT_CONTAINS (gs_last_error (), want);
  GS_ASSERT_CONTAINS (gs_last_error (), "fx_abi_minor.so");
  CU_ASSERT_EQUAL (gs_registry_count (reg), 0);
  gs_registry_free (reg);
}

static void
test_duplicate_is_atomic (void)
{
  gs_registry *reg = gs_registry_alloc ();
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_dup_a")), GS_OK);
  CU_ASSERT_EQUAL (gs_registry_count (reg), 2);
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_dup_b")),
                   GS_EDUP);
  GS_ASSERT_CONTAINS (gs_last_error (), "fx_dup_b.so");
  GS_ASSERT_CONTAINS (gs_last_error (), "'test.dup'");
  /* Nothing of the refused plugin stays registered. */
  CU_ASSERT_PTR_NULL (gs_registry_find (reg, "test.dup-only-b"));
  CU_ASSERT_EQUAL (gs_registry_count (reg), 2);
  /* Loading the same file again is a no-op. */
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_dup_a")), GS_OK);
  CU_ASSERT_EQUAL (gs_registry_count (reg), 2);
  gs_registry_free (reg);
}

static void
test_bad_params (void)
{
  gs_registry *reg = gs_registry_alloc ();
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_bad_params")),
                   GS_EPLUGIN);
  GS_ASSERT_CONTAINS (gs_last_error (), "fx_bad_params.so");
  GS_ASSERT_CONTAINS (gs_last_error (), "'far'");
  GS_ASSERT_CONTAINS (gs_last_error (), "outside params_size");
  /* The valid method declared before the bad one is not registered. */
  CU_ASSERT_PTR_NULL (gs_registry_find (reg, "test.badparams-ok"));
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_bad_default")),
                   GS_EPLUGIN);
  GS_ASSERT_CONTAINS (gs_last_error (), "default 2.5 outside its range");
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_no_analyze")),
                   GS_EPLUGIN);
  GS_ASSERT_CONTAINS (gs_last_error (), "lacks a required callback");
  CU_ASSERT_EQUAL (gs_registry_count (reg), 0);
  gs_registry_free (reg);
}

static void
test_missing_file (void)
{
  gs_registry *reg = gs_registry_alloc ();
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, "/nonexistent/x.so"),
                   GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/x.so");
  gs_registry_free (reg);
}

/* A directory with good and broken plugins: the good ones load, each
 * broken one is refused with its own message. */
static void
test_load_dir_mixed (void)
{
  gs_registry *reg = gs_registry_alloc ();
  int refused;
  gs_log_set_level (GS_LOG_ERROR);
  refused = gs_registry_load_dir (reg, GSPEC_FIXTURE_DIR);
  gs_log_set_level (GS_LOG_INFO);
  /* abi_major, abi_minor, bad_default, bad_params, dup_b, no_analyze,
   * noentry are refused; dup_a and good load. */
  CU_ASSERT_EQUAL (refused, 7);
  CU_ASSERT_EQUAL (gs_registry_failure_count (reg), 7);
  CU_ASSERT_PTR_NOT_NULL (gs_registry_find (reg, "test.meanmix"));
  CU_ASSERT_PTR_NOT_NULL (gs_registry_find (reg, "test.dup"));
  CU_ASSERT_PTR_NULL (gs_registry_find (reg, "test.dup-only-b"));
  CU_ASSERT_EQUAL (gs_registry_count (reg), 3);
  gs_registry_free (reg);
}

static void
test_default_path (void)
{
  gs_registry *reg = gs_registry_alloc ();
  size_t i;
  int found = 0;
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  gs_registry_load_default (reg);
  unsetenv ("GSPEC_PLUGIN_PATH");
  for (i = 0; i < gs_registry_count (reg); i++)
    if (strcmp (gs_registry_method (reg, i)->id, "unmixing.nnpu") == 0)
      {
        found = 1;
        CU_ASSERT_PTR_NOT_NULL (strstr (gs_registry_method_path (reg, i),
                                        "unmixing_nnpu.so"));
        CU_ASSERT_STRING_EQUAL (gs_registry_method_plugin (reg, i)->name,
                                "unmixing-nnpu");
      }
  CU_ASSERT (found);
  gs_registry_free (reg);
}

/* Parameters: defaults, parsing, ranges, unknown names. */
static void
test_params (void)
{
  gs_registry *reg = gs_registry_alloc ();
  const gs_method_type *t;
  void *p;
  double v;
  char buf[64];
  CU_ASSERT_EQUAL (gs_registry_load_file (reg, fixture ("fx_good")), GS_OK);
  t = gs_registry_find (reg, "test.meanmix");
  CU_ASSERT_PTR_NOT_NULL_FATAL (t);
  p = gs_params_alloc (t);
  memcpy (&v, (char *)p + t->params[0].offset, sizeof v);
  CU_ASSERT_DOUBLE_EQUAL (v, 0.05, 0);
  CU_ASSERT_EQUAL (gs_params_set (t, p, "threshold", "0.25", "x"), GS_OK);
  gs_params_format (&t->params[0], p, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL (buf, "0.25");
  CU_ASSERT_EQUAL (gs_params_set (t, p, "threshold", "1.5", "cfg:3:4"),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "cfg:3:4");
  GS_ASSERT_CONTAINS (gs_last_error (), "[0, 1]");
  CU_ASSERT_EQUAL (gs_params_set (t, p, "threshold", "abc", "x"),
                   GS_ECONFIG);
  CU_ASSERT_EQUAL (gs_params_set (t, p, "treshold", "0.1", "--param"),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "unknown parameter 'treshold'");
  GS_ASSERT_CONTAINS (gs_last_error (), "valid parameters: threshold");
  gs_params_free (p);
  gs_registry_free (reg);
}

void gs_test_register_loader (void);
void
gs_test_register_loader (void)
{
  CU_pSuite s = CU_add_suite ("loader", NULL, NULL);
  CU_add_test (s, "no entry", test_no_entry);
  CU_add_test (s, "wrong ABI major", test_abi_major);
  CU_add_test (s, "newer ABI minor", test_abi_minor);
  CU_add_test (s, "duplicate id, atomic refusal", test_duplicate_is_atomic);
  CU_add_test (s, "bad parameter tables", test_bad_params);
  CU_add_test (s, "missing file", test_missing_file);
  CU_add_test (s, "directory with good and bad", test_load_dir_mixed);
  CU_add_test (s, "GSPEC_PLUGIN_PATH", test_default_path);
  CU_add_test (s, "parameter parsing", test_params);
}
