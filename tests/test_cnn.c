/* The CNN plugins (plugins/ml/cnn.c) end to end on configs/cnn-smoke.yaml
 * (embedded scenario 1, tiny networks, no shared data): training,
 * calibration, the model files and `gspec analyze --model`; training
 * gives the same predictions at 1 and 2 training threads and at 1 and 2
 * host threads; bad architectures are refused with a message. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gspec/core.h"
#include "test_util.h"
#include "util.h"

static const char *const methods[] = { "ml.cnn-multi", "ml.cnn-mono",
                                       "ml.cnn-regress" };

/* The smoke config with every `threads: 2` replaced by `threads: N`. */
static char *
smoke_with_threads (const char *dir, int threads)
{
  char *text = gs_test_slurp (GSPEC_SOURCE_DIR "/configs", "cnn-smoke.yaml");
  char *p, *path;
  if (!text)
    return NULL;
  for (p = strstr (text, "threads: 2"); p; p = strstr (p + 1, "threads: 2"))
    p[9] = (char)('0' + threads);
  path = gs_test_write (dir, threads == 1 ? "cfg1.yaml" : "cfg2.yaml", text);
  free (text);
  return path;
}

static void
test_smoke (void)
{
  char *dir = gs_test_tmpdir ();
  char *c1 = smoke_with_threads (dir, 1), *c2 = smoke_with_threads (dir, 2);
  char *o1 = gs__path_join (dir, "a"), *o2 = gs__path_join (dir, "b");
  char *o3 = gs__path_join (dir, "c");
  char *m1, *m2, *m3, *res, name[128], cmd[4096];
  size_t i;
  int status;
  CU_ASSERT_PTR_NOT_NULL_FATAL (c1);
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  /* 1 training thread, 1 host thread; 2 and 2; 2 training threads with 1
     host thread */
  CU_ASSERT_EQUAL (gs_test_run_cfg (c1, o1, 1, 1), GS_OK);
  CU_ASSERT_EQUAL (gs_test_run_cfg (c2, o2, 2, 1), GS_OK);
  CU_ASSERT_EQUAL (gs_test_run_cfg (c2, o3, 1, 1), GS_OK);
  m1 = gs_test_metrics_of (o1);
  m2 = gs_test_metrics_of (o2);
  m3 = gs_test_metrics_of (o3);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m2);
  GS_ASSERT_CONTAINS (m1, "\"identification\"");
  GS_ASSERT_CONTAINS (m1, "\"quantification\""); /* the regression CNN */
  CU_ASSERT_STRING_EQUAL (m1, m2);
  CU_ASSERT_STRING_EQUAL (m2, m3);
  res = gs_test_slurp (o1, "results.json");
  for (i = 0; i < 3; i++)
    {
      snprintf (name, sizeof name, "predictions/%s.csv", methods[i]);
      CU_ASSERT (gs_test_same_file (o1, o2, name));
      snprintf (name, sizeof name, "models/%s.gsm", methods[i]);
      CU_ASSERT (gs_test_file_exists (o1, name));
      /* every method ran, trained and was calibrated */
      snprintf (name, sizeof name, "{\"id\": \"%s\"", methods[i]);
      GS_ASSERT_CONTAINS (res, name);
    }
  GS_ASSERT_CONTAINS (res, "\"status\": \"ok\"");
  CU_ASSERT_PTR_NULL (strstr (res, "\"status\": \"failed\""));
  free (res);
  /* The trained model analyses the generated test split exactly as the
     run did. */
  snprintf (cmd, sizeof cmd,
            "cd '%s' && '%s/gspec' generate cfg2.yaml --out gen --quiet > "
            "gen.log 2>&1 && '%s/gspec' analyze --model "
            "a/models/ml.cnn-regress.gsm --input gen/spectra/test --output "
            "an.csv --quiet > an.log 2>&1",
            dir, GSPEC_BUILD_DIR, GSPEC_BUILD_DIR);
  status = system (cmd);
  CU_ASSERT_EQUAL (status, 0);
  {
    char *a = gs_test_slurp (dir, "an.csv");
    char *b = gs_test_slurp (o1, "predictions/ml.cnn-regress.csv");
    CU_ASSERT_PTR_NOT_NULL (a);
    CU_ASSERT_PTR_NOT_NULL (b);
    if (a && b)
      CU_ASSERT_STRING_EQUAL (a, b);
    free (a);
    free (b);
  }
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (m1);
  free (m2);
  free (m3);
  free (c1);
  free (c2);
  free (o1);
  free (o2);
  free (o3);
  gs_test_rmtree (dir);
  free (dir);
}

/* A broken architecture: the method fails with a message naming the
 * problem; the run reports it and the others complete. */
static void
test_bad_architecture (void)
{
  static const char *const cfg
      = "name: badcnn\nseed: 1\ntarget_fpr: 0.01\n"
        "scenario: {id: 1, spectra: 300, source: embedded}\n"
        "methods:\n"
        "  - id: ml.cnn-multi\n"
        "    params: {architecture: '[{type: conv1d, out: 4, kernel: "
        "5000}]', epochs: 1}\n"
        "  - id: ml.cnn-regress\n"
        "    params: {architecture: '[{type: nosuch}]', epochs: 1}\n"
        "  - id: unmixing.nnpu\n";
  char *dir = gs_test_tmpdir ();
  char *path = gs_test_write (dir, "bad.yaml", cfg);
  char *out = gs__path_join (dir, "o"), *res;
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  gs_test_run_cfg (path, out, 1, 1);
  res = gs_test_slurp (out, "results.json");
  CU_ASSERT_PTR_NOT_NULL_FATAL (res);
  GS_ASSERT_CONTAINS (res, "kernel 5000");
  GS_ASSERT_CONTAINS (res, "nosuch");
  GS_ASSERT_CONTAINS (res, "\"id\": \"unmixing.nnpu\"");
  free (res);
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (path);
  free (out);
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_cnn (void);
void
gs_test_register_cnn (void)
{
  CU_pSuite s = CU_add_suite ("cnn", NULL, NULL);
  CU_add_test (s, "smoke: 3 CNNs, threads, model reuse", test_smoke);
  CU_add_test (s, "bad architecture", test_bad_architecture);
}
