/* Gain-shift kit (gspec/drift.h) and the unmixing.pomp-shift plugin: a
 * known shift recovered, bounds, bad input, and the authors' P-OMP with
 * gain shift example (pomp_drift_example.json). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "gspec/drift.h"
#include "gspec/library.h"
#include "gspec/scenario.h"
#include "gspec/shift.h"
#include "test_util.h"
#include "util.h"

#define N GS_SHIFT_N_CHANNELS

/* A mixture on the embedded library (no data needed): background,
 * Co60, Ba133, Cs137, scaled to 1e5 counts. */
static int
embedded_model (double *s)
{
  gs_embedded_opts eo;
  gs_library *lib = NULL;
  static const double w[] = { 5e4, 1e4, 2e4, 0, 1.5e4, 0, 0, 0, 0, 0 };
  size_t i, j, K;
  double tot = 0;
  gs_embedded_opts_init (&eo);
  if (gs_library_embedded (&eo, &lib) != GS_OK)
    return -1;
  K = lib->n_components;
  for (i = 0; i < N; i++)
    {
      s[i] = 0;
      for (j = 0; j < K && j < 10; j++)
        s[i] += lib->signatures[i * K + j] * w[j];
      tot += s[i];
    }
  for (i = 0; i < N; i++)
    s[i] *= 1e5 / tot;
  gs_library_free (lib);
  return 0;
}

/* observed = the model shifted by the particle operator (round rule),
 * scaled to `total` counts, no noise. */
static void
shifted_observation (const double *s, double a0, double a1, double total,
                     double *obs)
{
  double sum = 0;
  size_t i;
  CU_ASSERT_EQUAL_FATAL (gs_shift_spectrum (s, a0, a1, GS_SHIFT_ROUND, 0, obs),
                         GS_OK);
  for (i = 0; i < N; i++)
    sum += obs[i];
  for (i = 0; i < N; i++)
    obs[i] *= total / sum;
}

static void
test_find_known_shift (void)
{
  double s[N], obs[N], sh[N], scaled[N], ssum = 0, osum = 0, tot = 0;
  gs_drift_info info;
  size_t i;
  CU_ASSERT_EQUAL_FATAL (embedded_model (s), 0);
  shifted_observation (s, 0.05, 0.3, 1e5, obs);
  /* The model at the observation's scale (s2 keeps sum(s_model)). */
  for (i = 0; i < N; i++)
    tot += s[i];
  for (i = 0; i < N; i++)
    {
      scaled[i] = s[i] * 1e5 / tot;
      ssum += scaled[i];
      osum += obs[i];
    }
  CU_ASSERT_EQUAL (
      gs_find_drift_spectrum (obs, scaled, N, NULL, NULL, sh, &info), GS_OK);
  printf ("\n    alpha (%.6f, %.4f) cost %.4f, %d evaluations, %d "
          "iterations%s",
          info.alpha[0], info.alpha[1], info.cost, info.evaluations,
          info.iterations, info.converged ? "" : " (max_iter)");
  CU_ASSERT (fabs (info.alpha[0] - 0.05) <= 2e-3);
  CU_ASSERT (fabs (info.alpha[1] - 0.3) <= 0.05);
  CU_ASSERT (info.evaluations > 5);
  /* s_shifted keeps the model's total and matches the observation. */
  {
    double shsum = 0, dev = 0;
    for (i = 0; i < N; i++)
      {
        shsum += sh[i];
        dev += fabs (sh[i] - obs[i]);
      }
    CU_ASSERT (fabs (shsum - ssum) <= 1e-9 * ssum);
    CU_ASSERT (dev <= 2e-3 * osum);
  }
  /* A warm start near the answer ends at the same place.  (From alpha1 =
   * 0 the first simplex step along alpha1 is 0.00025 keV, as in scipy,
   * and the offset hardly moves: a start needs a non-zero offset.) */
  {
    const double start[2] = { 0.045, 0.25 };
    gs_drift_info w;
    CU_ASSERT_EQUAL (
        gs_find_drift_spectrum (obs, scaled, N, start, NULL, NULL, &w), GS_OK);
    CU_ASSERT (fabs (w.alpha[0] - 0.05) <= 2e-3);
    CU_ASSERT (fabs (w.alpha[1] - 0.3) <= 0.05);
  }
}

/* Truth outside the box: the estimate sits on the bound, never beyond. */
static void
test_find_bounds (void)
{
  double s[N], obs[N];
  gs_drift_info info;
  gs_drift_opts o;
  CU_ASSERT_EQUAL_FATAL (embedded_model (s), 0);
  shifted_observation (s, 0.2, 0.0, 1e5, obs);
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, NULL, NULL, &info),
                   GS_OK);
  CU_ASSERT (info.alpha[0] <= 0.15 && info.alpha[0] >= 0.15 - 2e-3);
  CU_ASSERT (info.alpha[1] >= -1 && info.alpha[1] <= 1);
  /* A start on the lower bound still moves (scipy's simplex would be
   * flat there), and a start outside the box is clipped. */
  shifted_observation (s, -0.12, 0.0, 1e5, obs);
  {
    const double start[2] = { -0.15, 0 }, outside[2] = { -0.5, 7 };
    CU_ASSERT_EQUAL (
        gs_find_drift_spectrum (obs, s, N, start, NULL, NULL, &info), GS_OK);
    CU_ASSERT (fabs (info.alpha[0] + 0.12) <= 2e-3);
    CU_ASSERT_EQUAL (
        gs_find_drift_spectrum (obs, s, N, outside, NULL, NULL, &info), GS_OK);
    CU_ASSERT (info.alpha[0] >= -0.15 && info.alpha[0] <= 0.15);
    CU_ASSERT (info.alpha[1] >= -1 && info.alpha[1] <= 1);
    CU_ASSERT (fabs (info.alpha[0] + 0.12) <= 2e-3);
  }
  /* Narrower bounds are honoured too. */
  gs_drift_opts_init (&o);
  o.bounds[0][0] = -0.05;
  o.bounds[0][1] = 0.05;
  o.bounds[1][0] = -0.5;
  o.bounds[1][1] = 0.5;
  shifted_observation (s, 0.08, 0.9, 1e5, obs);
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, &o, NULL, &info),
                   GS_OK);
  CU_ASSERT (info.alpha[0] >= -0.05 && info.alpha[0] <= 0.05);
  CU_ASSERT (info.alpha[1] >= -0.5 && info.alpha[1] <= 0.5);
  CU_ASSERT (info.alpha[0] >= 0.05 - 2e-3);
}

static void
test_find_bad_input (void)
{
  double s[N], obs[N];
  gs_drift_info info;
  gs_drift_opts o;
  const double nan_start[2] = { NAN, 0 }, inf_start[2] = { 0, INFINITY };
  CU_ASSERT_EQUAL_FATAL (embedded_model (s), 0);
  memcpy (obs, s, sizeof obs);
  CU_ASSERT_EQUAL (
      gs_find_drift_spectrum (obs, s, N, nan_start, NULL, NULL, &info),
      GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "not finite");
  CU_ASSERT_EQUAL (
      gs_find_drift_spectrum (obs, s, N, inf_start, NULL, NULL, &info),
      GS_EINVAL);
  CU_ASSERT_EQUAL (
      gs_find_drift_spectrum (obs, s, N - 1, NULL, NULL, NULL, &info),
      GS_EBADLEN);
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, NULL, NULL, NULL),
                   GS_EINVAL);
  gs_drift_opts_init (&o);
  o.bounds[0][0] = 0.2; /* lower > upper */
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, &o, NULL, &info),
                   GS_EINVAL);
  gs_drift_opts_init (&o);
  o.n_particles = NAN;
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, &o, NULL, &info),
                   GS_EINVAL);
  gs_drift_opts_init (&o);
  o.max_iter = -1;
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, &o, NULL, &info),
                   GS_EINVAL);
  obs[7] = NAN;
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, NULL, NULL, &info),
                   GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 7");
  memcpy (obs, s, sizeof obs);
  memset (s, 0, sizeof s);
  CU_ASSERT_EQUAL (gs_find_drift_spectrum (obs, s, N, NULL, NULL, NULL, &info),
                   GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "all zero");
}

/* NNPU_drift on the embedded library: a mixture shifted by the model's own
 * gain shift is unmixed with the shift and the counts recovered. */
static void
test_nnpu_drift_embedded (void)
{
  gs_embedded_opts eo;
  gs_library *lib0 = NULL, *lib1 = NULL;
  static const double w[] = { 3e4, 6e3, 8e3, 0, 5e3, 0, 0, 0, 0, 0 };
  static const size_t cols[] = { 0, 1, 2, 4 };
  double y[N], a[4], a2[4];
  gs_drift_ws *ws;
  gs_nnpu_drift_opts o;
  gs_nnpu_drift_info info;
  size_t i, j, K;
  gs_embedded_opts_init (&eo);
  CU_ASSERT_EQUAL_FATAL (gs_library_embedded (&eo, &lib0), GS_OK);
  eo.gain_shift = -0.06;
  CU_ASSERT_EQUAL_FATAL (gs_library_embedded (&eo, &lib1), GS_OK);
  K = lib0->n_components;
  for (i = 0; i < N; i++)
    {
      y[i] = 0;
      for (j = 0; j < 10 && j < K; j++)
        y[i] += lib1->signatures[i * K + j] * w[j];
      y[i] = floor (y[i] + 0.5);
    }
  ws = gs_drift_ws_alloc (K);
  CU_ASSERT_PTR_NOT_NULL_FATAL (ws);
  gs_nnpu_drift_opts_init (&o);
  o.search_alpha0 = 1;
  CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y, NULL,
                                  &o, a, NULL, &info),
                   GS_OK);
  printf ("\n    alpha (%.5f, %.3f), %d alternations, %d evaluations, "
          "a = %.0f %.0f %.0f %.0f",
          info.alpha[0], info.alpha[1], info.outer, info.evaluations, a[0],
          a[1], a[2], a[3]);
  CU_ASSERT (info.converged);
  CU_ASSERT (fabs (info.alpha[0] + 0.06) <= 3e-3);
  for (j = 0; j < 4; j++)
    CU_ASSERT (fabs (a[j] - w[cols[j]]) <= 0.03 * w[cols[j]]);
  /* Warm-started at its own answer without the search: the same fit. */
  memcpy (a2, a, sizeof a);
  o.search_alpha0 = 0;
  o.warm_start = 1;
  CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y,
                                  info.alpha, &o, a2, NULL, &info),
                   GS_OK);
  CU_ASSERT (fabs (info.alpha[0] + 0.06) <= 3e-3);
  for (j = 0; j < 4; j++)
    CU_ASSERT (fabs (a2[j] - a[j]) <= 0.01 * a[j]);
  /* Bad input. */
  {
    const double bad_alpha[2] = { 0, NAN };
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y,
                                    bad_alpha, &o, a2, NULL, &info),
                     GS_EINVAL);
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N - 2, cols, 4, y,
                                    NULL, &o, a2, NULL, &info),
                     GS_EBADLEN);
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, K + 1, y,
                                    NULL, &o, a2, NULL, &info),
                     GS_EINVAL);
    o.max_outer = 0;
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y,
                                    NULL, &o, a2, NULL, &info),
                     GS_EINVAL);
    gs_nnpu_drift_opts_init (&o);
    a2[1] = -1;
    o.warm_start = 1;
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y,
                                    NULL, &o, a2, NULL, &info),
                     GS_EINVAL);
    o.warm_start = 0;
    y[3] = -2;
    CU_ASSERT_EQUAL (gs_nnpu_drift (ws, lib0->signatures, K, N, cols, 4, y,
                                    NULL, &o, a2, NULL, &info),
                     GS_EBADDATA);
  }
  gs_drift_ws_free (ws);
  gs_library_free (lib0);
  gs_library_free (lib1);
}

/* ---- unmixing.pomp-shift ----------------------------------------------- */


typedef struct drift_example
{
  double y[N];
  double a[10], std[10], iden[10], alpha[16], loss[16];
  size_t n_iden, n_alpha, n_loss;
  gs_scenario *scen;
  const gs_library *lib;
  gs_registry *reg;
  const gs_method_type *t;
} drift_example;

/* The reference example and its library X0 (scenario 3, shift index 10);
 * 0 when the data is missing (the caller skips). */
static int
drift_example_load (drift_example *e, const char *test)
{
  const char *data = gs_test_data_dir (test);
  char *root, *path, *text = NULL;
  gs_scenario_opts so;
  if (!data)
    return 0;
  memset (e, 0, sizeof *e);
  root = gs__path_join (data, "gammabench");
  path = gs__path_join (root, "reference/pomp_drift_example.json");
  CU_ASSERT_EQUAL_FATAL (gs__read_file (path, &text, NULL), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_test_json_array (text, NULL, "y", e->y, N), N);
  CU_ASSERT_EQUAL_FATAL (gs_test_json_array (text, "\"expected\"", "a", e->a, 10), 10);
  CU_ASSERT_EQUAL_FATAL (gs_test_json_array (text, "\"expected\"", "Std", e->std, 10),
                         10);
  e->n_iden = gs_test_json_array (text, "\"expected\"", "Iden", e->iden, 10);
  CU_ASSERT_EQUAL_FATAL (e->n_iden, 5);
  e->n_alpha = gs_test_json_array (text, "\"expected\"", "Alpha_per_accepted_step",
                           e->alpha, 16);
  CU_ASSERT_EQUAL_FATAL (e->n_alpha, 10);
  e->n_loss = gs_test_json_array (text, "\"expected\"", "LossList", e->loss, 16);
  CU_ASSERT_FATAL (e->n_loss >= e->n_iden);
  gs_scenario_opts_init (&so, GS_SCENARIO_GAIN_SHIFT);
  so.n_spectra = 10;
  so.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&so, &e->scen), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_library (e->scen, 10, &e->lib), GS_OK);
  CU_ASSERT_EQUAL_FATAL (e->lib->n_components, 10);
  e->reg = gs_registry_alloc ();
  gs_registry_load_dir (e->reg, GSPEC_PLUGIN_DIR);
  e->t = gs_registry_find (e->reg, "unmixing.pomp-shift");
  CU_ASSERT_PTR_NOT_NULL_FATAL (e->t);
  free (text);
  free (path);
  free (root);
  return 1;
}

static void
drift_example_free (drift_example *e)
{
  gs_registry_free (e->reg);
  gs_scenario_free (e->scen);
}

/* Runs the plugin with option `opt` and `turn` on the example; returns
 * the result (caller frees). */
static gs_result *
drift_example_run (drift_example *e, const char *opt, const char *turn)
{
  gs_setup setup;
  gs_method *m = NULL;
  gs_result *r;
  void *params = gs_params_alloc (e->t);
  int rc;
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (e->lib);
  setup.seed = 1;
  setup.target_fpr = 0.01;
  CU_ASSERT_EQUAL (gs_params_set (e->t, params, "option", opt, "test"), GS_OK);
  CU_ASSERT_EQUAL (gs_params_set (e->t, params, "turn", turn, "test"), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (e->t, params, &setup, &m), GS_OK);
  r = gs_result_alloc (10, gs_method_n_extras (e->t));
  rc = gs_method_analyze (m, NULL, e->y, N, r);
  if (rc != GS_OK)
    printf ("\n    %s", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  gs_method_free (m);
  gs_params_free (params);
  return r;
}

static void
report_example (const char *label, const drift_example *e, const gs_result *r)
{
  size_t j;
  printf ("\n    %s: shift (%.8f, %.8f), deviance %.4f, %g fits", label,
          r->extras[0], r->extras[1], r->extras[2], r->extras[4]);
  printf ("\n      present");
  for (j = 0; j < 10; j++)
    printf (" %d", r->present[j]);
  for (j = 0; j < 10; j++)
    if (r->present[j] == 1 || e->a[j] > 0)
      printf ("\n      %zu: counts %.4f (ref %.4f, %+.3f %%) std %.4f "
              "(ref %.4f)",
              j, r->counts[j], e->a[j],
              e->a[j] > 0 ? 100 * (r->counts[j] / e->a[j] - 1) : 0.0, r->std[j],
              e->std[j]);
}

/* POMP_drift(y, X0, fpr=0.01, turn=2, option=1): the authors' identified
 * set, counts within 1 %, the last shift within 1e-3. */
static void
test_plugin_example_option1 (void)
{
  drift_example e;
  gs_result *r;
  size_t j;
  int expected[10] = { 0 };
  if (!drift_example_load (&e, "drift: pomp_drift_example option 1"))
    return;
  r = drift_example_run (&e, "1", "2");
  report_example ("option 1", &e, r);
  for (j = 0; j < e.n_iden; j++)
    expected[(size_t)e.iden[j]] = 1;
  for (j = 0; j < 10; j++)
    {
      CU_ASSERT_EQUAL (r->present[j], expected[j]);
      if (e.a[j] > 0)
        {
          CU_ASSERT (fabs (r->counts[j] - e.a[j]) <= 0.01 * e.a[j]);
          CU_ASSERT (fabs (r->std[j] - e.std[j]) <= 0.01 * e.std[j]);
        }
      else
        {
          CU_ASSERT_EQUAL (r->counts[j], 0);
        }
    }
  CU_ASSERT (fabs (r->extras[0] - e.alpha[e.n_alpha - 2]) <= 1e-3);
  /* The final support's divergence is the last accepted LossList entry
   * (the fits differ only by the shift's Nelder-Mead path). */
  CU_ASSERT (fabs (r->extras[2] / 2 - e.loss[e.n_iden - 1]) <= 0.5);
  gs_result_free (r);
  drift_example_free (&e);
}

/* Option 0 (one shift, then plain P-OMP) on the same spectrum. */
static void
test_plugin_example_option0 (void)
{
  drift_example e;
  gs_result *r;
  size_t j;
  int expected[10] = { 0 };
  if (!drift_example_load (&e, "drift: pomp_drift_example option 0"))
    return;
  r = drift_example_run (&e, "0", "2");
  report_example ("option 0", &e, r);
  /* Turn 3 removes nothing here, so it gives the same answer. */
  {
    gs_result *r3 = drift_example_run (&e, "0", "3");
    for (j = 0; j < 10; j++)
      {
        CU_ASSERT_EQUAL (r3->present[j], r->present[j]);
        CU_ASSERT_EQUAL (r3->counts[j], r->counts[j]);
      }
    gs_result_free (r3);
  }
  for (j = 0; j < e.n_iden; j++)
    expected[(size_t)e.iden[j]] = 1;
  for (j = 0; j < 10; j++)
    {
      CU_ASSERT_EQUAL (r->present[j], expected[j]);
      if (e.a[j] > 0)
        CU_ASSERT (fabs (r->counts[j] - e.a[j]) <= 0.03 * e.a[j]);
    }
  CU_ASSERT (fabs (r->extras[0] - e.alpha[e.n_alpha - 2]) <= 3e-3);
  gs_result_free (r);
  drift_example_free (&e);
}

/* Same spectrum, same answer: two instances, and one workspace reused
 * between spectra, give bit-identical results. */
static void
test_plugin_deterministic (void)
{
  drift_example e;
  gs_setup setup;
  gs_method *m1 = NULL, *m2 = NULL;
  gs_result *r1, *r2;
  void *params, *work = NULL;
  double y2[N];
  size_t j, k;
  if (!drift_example_load (&e, "drift: pomp-shift determinism"))
    return;
  params = gs_params_alloc (e.t);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (e.lib);
  setup.target_fpr = 0.01;
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (e.t, params, &setup, &m1), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (e.t, params, &setup, &m2), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_workspace_alloc (m1, &work), GS_OK);
  r1 = gs_result_alloc (10, gs_method_n_extras (e.t));
  r2 = gs_result_alloc (10, gs_method_n_extras (e.t));
  for (j = 0; j < N; j++)
    y2[j] = floor (e.y[j] * 0.5);
  CU_ASSERT_EQUAL (gs_method_analyze (m1, work, y2, N, r1), GS_OK);
  CU_ASSERT_EQUAL (gs_method_analyze (m1, work, e.y, N, r1), GS_OK);
  CU_ASSERT_EQUAL (gs_method_analyze (m2, NULL, e.y, N, r2), GS_OK);
  for (j = 0; j < 10; j++)
    {
      CU_ASSERT_EQUAL (r1->present[j], r2->present[j]);
      CU_ASSERT_EQUAL (memcmp (&r1->counts[j], &r2->counts[j], sizeof (double)),
                       0);
      CU_ASSERT_EQUAL (memcmp (&r1->std[j], &r2->std[j], sizeof (double)), 0);
    }
  for (k = 0; k < r1->n_extras; k++)
    CU_ASSERT_EQUAL (memcmp (&r1->extras[k], &r2->extras[k], sizeof (double)),
                     0);
  gs_result_free (r1);
  gs_result_free (r2);
  gs_method_workspace_free (work);
  gs_method_free (m1);
  gs_method_free (m2);
  gs_params_free (params);
  drift_example_free (&e);
}

/* Parameters out of range are refused by the host's table; a library off
 * the GammaBench grid is refused per spectrum, with a message. */
static void
test_plugin_bad_input (void)
{
  gs_registry *reg = gs_registry_alloc ();
  const gs_method_type *t;
  void *params;
  gs_library *lib;
  gs_setup setup;
  gs_method *m = NULL;
  gs_result *r;
  double y[64];
  size_t i;
  gs_registry_load_dir (reg, GSPEC_PLUGIN_DIR);
  t = gs_registry_find (reg, "unmixing.pomp-shift");
  CU_ASSERT_PTR_NOT_NULL_FATAL (t);
  params = gs_params_alloc (t);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "option", "2", "test"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "turn", "4", "test"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "turn", "0", "test"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "max_outer", "0", "test"),
                       GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "tol", "-1", "test"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "tol", "nan", "test"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "particles", "10", "test"),
                       GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (t, params, "alpha", "0.7", "test"),
                       GS_OK);
  /* A 64-channel library: alloc works, analyze refuses. */
  lib = gs_library_alloc (64, 3);
  for (i = 0; i < 64; i++)
    {
      lib->signatures[i * 3 + 0] = 1;
      lib->signatures[i * 3 + 1] = i < 32 ? 1 : 0.1;
      lib->signatures[i * 3 + 2] = i < 32 ? 0.1 : 1;
      y[i] = 5;
    }
  gs_library_set_name (lib, 0, "background");
  gs_library_set_name (lib, 1, "A");
  gs_library_set_name (lib, 2, "B");
  gs_library_set_linear_grid (lib, 20, 2);
  gs_library_normalise (lib);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (lib);
  setup.target_fpr = 0.01;
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (t, params, &setup, &m), GS_OK);
  r = gs_result_alloc (3, gs_method_n_extras (t));
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, 64, r), GS_EUNSUPPORTED);
  GS_ASSERT_CONTAINS (gs_last_error (), "1024-channel");
  gs_method_free (m);
  /* target_fpr out of P-OMP's range. */
  setup.target_fpr = 0.6;
  CU_ASSERT_NOT_EQUAL (gs_method_alloc (t, params, &setup, &m), GS_OK);
  gs_result_free (r);
  gs_library_free (lib);
  gs_params_free (params);
  gs_registry_free (reg);
}

void gs_test_register_drift (void);
void
gs_test_register_drift (void)
{
  CU_pSuite s = CU_add_suite ("drift", NULL, NULL);
  CU_add_test (s, "find_drift_spectrum recovers a known shift",
               test_find_known_shift);
  CU_add_test (s, "find_drift_spectrum respects the bounds", test_find_bounds);
  CU_add_test (s, "find_drift_spectrum bad input", test_find_bad_input);
  CU_add_test (s, "NNPU_drift on the embedded library",
               test_nnpu_drift_embedded);
  CU_add_test (s, "pomp-shift: reference example, option 1",
               test_plugin_example_option1);
  CU_add_test (s, "pomp-shift: reference example, option 0",
               test_plugin_example_option0);
  CU_add_test (s, "pomp-shift: deterministic, workspace reuse",
               test_plugin_deterministic);
  CU_add_test (s, "pomp-shift: bad input", test_plugin_bad_input);
}
