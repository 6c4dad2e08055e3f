/* `gspec run` end to end: scenario configs, thread-count invariance,
 * per-method processes (a crashing plugin), checkpoints and resume after
 * kill -9, calibration of score methods, `gspec train` / `generate` and
 * `analyze --model`.  The run fixtures (tests/fixtures/fx_run.c) are
 * found through GSPEC_PLUGIN_PATH. */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gspec/core.h"
#include "run.h"
#include "test_util.h"
#include "util.h"

#define FX_RUN_DIR GSPEC_FIXTURE_DIR "/run:" GSPEC_PLUGIN_DIR

/* An embedded scenario (no shared data needed). */
static const char *const cfg_embedded
    = "name: runtest\n"
      "seed: 11\n"
      "target_fpr: 0.05\n"
      "scenario:\n"
      "  id: 3\n"
      "  source: embedded\n"
      "  spectra: 500\n"
      "calibration:\n"
      "  mode: quantile\n"
      "methods:\n"
      "  - id: unmixing.nnpu\n"
      "  - id: test.cosine\n";

static void
test_threads_invariant (void)
{
  char *dir = gs_test_tmpdir ();
  char *cfg = gs_test_write (dir, "cfg.yaml", cfg_embedded);
  char *o1 = gs__path_join (dir, "t1"), *o2 = gs__path_join (dir, "t2");
  char *o3 = gs__path_join (dir, "t1b"), *m1, *m2, *m3, *res;
  setenv ("GSPEC_PLUGIN_PATH", FX_RUN_DIR, 1);
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, o1, 1, 0), GS_OK);
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, o2, 2, 0), GS_OK);
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, o3, 1, 0), GS_OK);
  m1 = gs_test_metrics_of (o1);
  m2 = gs_test_metrics_of (o2);
  m3 = gs_test_metrics_of (o3);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m2);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m3);
  GS_ASSERT_CONTAINS (m1, "\"identification\"");
  GS_ASSERT_CONTAINS (m1, "\"quantification\"");
  CU_ASSERT_STRING_EQUAL (m1, m2);
  CU_ASSERT_STRING_EQUAL (m1, m3);
  CU_ASSERT (gs_test_same_file (o1, o2, "predictions/unmixing.nnpu.csv"));
  CU_ASSERT (gs_test_same_file (o1, o2, "predictions/test.cosine.csv"));
  CU_ASSERT (gs_test_same_file (o1, o2, "tables/identification.csv"));
  /* The score method was calibrated on the validation split (quantile
   * mode never exceeds the target there). */
  res = gs_test_slurp (o1, "results.json");
  GS_ASSERT_CONTAINS (res, "\"scenario\": {\"id\": 3");
  GS_ASSERT_CONTAINS (res, "\"calibration\"");
  free (res);
  res = gs_test_slurp (o1, "summary.md");
  GS_ASSERT_CONTAINS (res, "| | Accuracy | PPR | FPrR | FPR | FNR |");
  GS_ASSERT_CONTAINS (res, "quantile");
  free (res);
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (m1);
  free (m2);
  free (m3);
  free (o1);
  free (o2);
  free (o3);
  free (cfg);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_crash_isolated (void)
{
  char *dir = gs_test_tmpdir ();
  char *text = gs__asprintf ("%s  - id: test.crash\n    params: {how: abort, "
                             "after: 3}\n",
                             cfg_embedded);
  char *cfg = gs_test_write (dir, "cfg.yaml", text);
  char *out = gs__path_join (dir, "out"), *res, *md;
  setenv ("GSPEC_PLUGIN_PATH", FX_RUN_DIR, 1);
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, out, 2, 0), GS_EFAILED);
  GS_ASSERT_CONTAINS (gs_last_error (), "test.crash");
  res = gs_test_slurp (out, "results.json");
  md = gs_test_slurp (out, "summary.md");
  CU_ASSERT_PTR_NOT_NULL_FATAL (res);
  CU_ASSERT_PTR_NOT_NULL_FATAL (md);
  GS_ASSERT_CONTAINS (res, "killed by signal 6");
  GS_ASSERT_CONTAINS (md, "killed by signal 6");
  /* The other methods are complete. */
  GS_ASSERT_CONTAINS (res, "{\"id\": \"unmixing.nnpu\", \"plugin_version\"");
  CU_ASSERT_PTR_NULL (strstr (res, "\"unmixing.nnpu\", \"plugin_version\": "
                                   "\"1.0.0\", \"status\": \"failed\""));
  {
    char *p = gs_test_slurp (out, "predictions/unmixing.nnpu.csv");
    char *q = gs_test_slurp (out, "predictions/test.cosine.csv");
    size_t lines = 0;
    const char *s;
    CU_ASSERT_PTR_NOT_NULL (p);
    CU_ASSERT_PTR_NOT_NULL (q);
    for (s = p; s && *s; s++)
      lines += *s == '\n';
    CU_ASSERT_EQUAL (lines, 101); /* header + 20 % of 500 */
    free (p);
    free (q);
  }
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (res);
  free (md);
  free (out);
  free (cfg);
  free (text);
  gs_test_rmtree (dir);
  free (dir);
}


/* Starts `gspec run CFG --out OUT --quiet` and kills it (kill -9) once
 * the nnpu checkpoint exists. */
static int
run_and_kill (const char *cfg, const char *out)
{
  pid_t pid = fork ();
  int st, waited = 0;
  if (pid == 0)
    {
      freopen ("/dev/null", "w", stdout);
      execl (GSPEC_BUILD_DIR "/gspec", "gspec", "run", cfg, "--out", out,
             "--quiet", "--threads", "1", (char *)NULL);
      _exit (127);
    }
  if (pid < 0)
    return -1;
  while (!gs_test_file_exists (out, "checkpoints/unmixing.nnpu.ckpt")
         && waited < 60000)
    {
      struct timespec ts = { 0, 5000000L };
      nanosleep (&ts, NULL);
      waited += 5;
      if (waitpid (pid, &st, WNOHANG) == pid)
        return -2; /* finished before we could kill it */
    }
  kill (pid, SIGKILL);
  waitpid (pid, &st, 0);
  return WIFSIGNALED (st) && WTERMSIG (st) == SIGKILL ? 0 : -3;
}

static void
test_resume_after_kill (void)
{
  char *dir = gs_test_tmpdir ();
  char *text = gs__asprintf ("%s  - id: test.sleep\n    params: {ms: 20}\n",
                             cfg_embedded);
  char *cfg = gs_test_write (dir, "cfg.yaml", text);
  char *out = gs__path_join (dir, "killed");
  char *ref = gs__path_join (dir, "ref"), *m1, *m2, *res;
  setenv ("GSPEC_PLUGIN_PATH", FX_RUN_DIR, 1);
  CU_ASSERT_EQUAL_FATAL (run_and_kill (cfg, out), 0);
  CU_ASSERT (gs_test_file_exists (out, "checkpoints/unmixing.nnpu.ckpt"));
  CU_ASSERT (!gs_test_file_exists (out, "checkpoints/test.sleep.ckpt"));
  CU_ASSERT (!gs_test_file_exists (out, "results.json"));
  /* A temporary file of a dead writer is cleaned up on resume. */
  free (gs_test_write (out, "checkpoints/test.sleep.ckpt.tmp.999999999",
                       "partial"));
  /* The same command again resumes and finishes. */
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, out, 1, 0), GS_OK);
  CU_ASSERT (!gs_test_file_exists (out, "checkpoints/test.sleep.ckpt.tmp.999999999"));
  res = gs_test_slurp (out, "results.json");
  GS_ASSERT_CONTAINS (res, "\"unmixing.nnpu\", \"plugin_version\"");
  GS_ASSERT_CONTAINS (res, "\"status\": \"ok\", \"resumed\": true");
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, ref, 2, 0), GS_OK);
  m1 = gs_test_metrics_of (out);
  m2 = gs_test_metrics_of (ref);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m2);
  CU_ASSERT_STRING_EQUAL (m1, m2);
  CU_ASSERT (gs_test_same_file (out, ref, "predictions/unmixing.nnpu.csv"));
  CU_ASSERT (gs_test_same_file (out, ref, "predictions/test.sleep.csv"));
  free (m1);
  /* A damaged checkpoint is recomputed, never trusted. */
  {
    char *ck = gs__path_join (out, "checkpoints/unmixing.nnpu.ckpt");
    char *data = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL (gs__read_file (ck, &data, &len), GS_OK);
    CU_ASSERT_EQUAL (gs__write_file_atomic (ck, data, len / 2), GS_OK);
    free (data);
    free (ck);
  }
  CU_ASSERT_EQUAL (gs_test_run_cfg (cfg, out, 2, 0), GS_OK);
  free (res);
  res = gs_test_slurp (out, "results.json");
  GS_ASSERT_CONTAINS (res, "\"status\": \"ok\", \"resumed\": false");
  m1 = gs_test_metrics_of (out);
  CU_ASSERT_STRING_EQUAL (m1, m2);
  /* A changed parameter of one method recomputes only that one. */
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (res);
  free (m1);
  free (m2);
  free (out);
  free (ref);
  free (cfg);
  free (text);
  gs_test_rmtree (dir);
  free (dir);
}

/* gspec generate + train + analyze --model: the thresholds calibrated by
 * train are applied by analyze and agree with run's decisions. */
static void
test_train_generate_analyze (void)
{
  char *dir = gs_test_tmpdir ();
  char *cfg = gs_test_write (dir, "cfg.yaml", cfg_embedded);
  char cmd[4096];
  char *model, *a, *b;
  int status;
  setenv ("GSPEC_PLUGIN_PATH", FX_RUN_DIR, 1);
  snprintf (cmd, sizeof cmd,
            "cd '%s' && '%s/gspec' generate cfg.yaml --out gen > gen.log "
            "2>&1 && '%s/gspec' train cfg.yaml --method test.cosine --out "
            "tr > tr.log 2>&1 && '%s/gspec' run cfg.yaml --out run --quiet "
            "> run.log 2>&1 && '%s/gspec' analyze --model "
            "tr/models/test.cosine.gsm --input gen/spectra/test --output "
            "an.csv --quiet > an.log 2>&1",
            dir, GSPEC_BUILD_DIR, GSPEC_BUILD_DIR, GSPEC_BUILD_DIR,
            GSPEC_BUILD_DIR);
  status = system (cmd);
  CU_ASSERT_EQUAL (status, 0);
  CU_ASSERT (gs_test_file_exists (dir, "gen/spectra/train.counts.npy"));
  CU_ASSERT (gs_test_file_exists (dir, "gen/spectra/valid.meta.csv"));
  model = gs_test_slurp (dir, "tr/models/test.cosine.gsm");
  CU_ASSERT_PTR_NOT_NULL_FATAL (model);
  GS_ASSERT_CONTAINS (model, "\nthreshold 1 ");
  free (model);
  a = gs_test_slurp (dir, "gen/spectra/test.meta.csv");
  GS_ASSERT_CONTAINS (a, "gain_shift_percent");
  free (a);
  /* Same labels column (index,labels,...) in analyze and run. */
  a = gs_test_slurp (dir, "an.csv");
  b = gs_test_slurp (dir, "run/predictions/test.cosine.csv");
  CU_ASSERT_PTR_NOT_NULL (a);
  CU_ASSERT_PTR_NOT_NULL (b);
  if (a && b)
    CU_ASSERT_STRING_EQUAL (a, b);
  free (a);
  free (b);
  /* Bad usage is refused with a message. */
  snprintf (cmd, sizeof cmd,
            "cd '%s' && '%s/gspec' train cfg.yaml --method no.such --out x "
            "> bad.log 2>&1",
            dir, GSPEC_BUILD_DIR);
  status = system (cmd);
  CU_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) != 0);
  a = gs_test_slurp (dir, "bad.log");
  GS_ASSERT_CONTAINS (a, "--method no.such");
  free (a);
  unsetenv ("GSPEC_PLUGIN_PATH");
  free (cfg);
  gs_test_rmtree (dir);
  free (dir);
}

/* The shipped scenario-1 smoke config on the GammaBench data: identical
 * metrics twice and at 1 and 2 threads. */
static void
test_scenario1_smoke (void)
{
  const char *data = gs_test_data_dir ("run/scenario1-smoke");
  char *dir, *o1, *o2, *m1, *m2;
  if (!data)
    return;
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  dir = gs_test_tmpdir ();
  o1 = gs__path_join (dir, "a");
  o2 = gs__path_join (dir, "b");
  CU_ASSERT_EQUAL (gs_test_run_cfg (GSPEC_SOURCE_DIR "/configs/scenario1-smoke.yaml",
                            o1, 1, 0),
                   GS_OK);
  CU_ASSERT_EQUAL (gs_test_run_cfg (GSPEC_SOURCE_DIR "/configs/scenario1-smoke.yaml",
                            o2, 2, 1),
                   GS_OK);
  m1 = gs_test_metrics_of (o1);
  m2 = gs_test_metrics_of (o2);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m2);
  GS_ASSERT_CONTAINS (m1, "\"quantification\"");
  CU_ASSERT_STRING_EQUAL (m1, m2);
  free (m1);
  free (m2);
  free (o1);
  free (o2);
  unsetenv ("GSPEC_PLUGIN_PATH");
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_run (void);
void
gs_test_register_run (void)
{
  CU_pSuite s = CU_add_suite ("run", NULL, NULL);
  CU_add_test (s, "same numbers at 1 and 2 threads, twice",
               test_threads_invariant);
  CU_add_test (s, "a crashing plugin fails alone", test_crash_isolated);
  CU_add_test (s, "resume after kill -9", test_resume_after_kill);
  CU_add_test (s, "generate, train, analyze --model",
               test_train_generate_analyze);
  CU_add_test (s, "scenario1-smoke (GammaBench)", test_scenario1_smoke);
}
