/* NNPU kit and plugin: the authors' reference outputs and closed forms. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/poisson.h"
#include "gspec/scenario.h"
#include "test_util.h"
#include "util.h"


static void
test_pomp_example_final_support (void)
{
  const char *data = gs_test_data_dir ("nnpu pomp_example");
  static const char *names[] = { "Co60",  "Ba133", "Co57", "Cs137",
                                 "Eu152", "Am241", "Y88",  "Bi207",
                                 "I123",  "I131",  "Tc99m", "Ga67" };
  static const size_t support[] = { 0, 4, 1, 11, 2 };
  double y[1024], exp_a[13], exp_std[13], a[5], sd[5];
  char *root, *path, *text = NULL;
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  gs_poisson_ws *w;
  gs_nnpu_info info;
  size_t i;
  if (!data)
    return;
  root = gs__path_join (data, "gammabench");
  path = gs__path_join (root, "reference/pomp_example.json");
  CU_ASSERT_EQUAL_FATAL (gs__read_file (path, &text, NULL), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_test_json_array (text, NULL, "y", y, 1024), 1024);
  CU_ASSERT_EQUAL_FATAL (gs_test_json_array (text, "\"expected\"", "a", exp_a, 13),
                         13);
  CU_ASSERT_EQUAL_FATAL (
      gs_test_json_array (text, "\"expected\"", "Std", exp_std, 13), 13);
  gs_gammabench_opts_init (&o, root);
  o.nuclides = names;
  o.n_nuclides = 12;
  o.thickness_index = 70;
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  w = gs_poisson_ws_alloc (1024, 13);
  CU_ASSERT_EQUAL (gs_nnpu (w, lib->signatures, 13, 1024, support, 5, y,
                            NULL, a, &info),
                   GS_OK);
  CU_ASSERT (info.converged);
  CU_ASSERT_EQUAL (gs_poisson_fisher_std (w, lib->signatures, 13, 1024,
                                          support, 5, a, sd),
                   GS_OK);
  for (i = 0; i < 5; i++)
    {
      double rc = gs_test_reldiff (a[i], exp_a[support[i]]);
      double rs = gs_test_reldiff (sd[i], exp_std[support[i]]);
      if (rc > 1e-6 || rs > 1e-6)
        printf ("\n  component %zu: a %.10g vs %.10g, std %.10g vs %.10g",
                support[i], a[i], exp_a[support[i]], sd[i],
                exp_std[support[i]]);
      CU_ASSERT (rc <= 1e-6);
      CU_ASSERT (rs <= 1e-6);
    }
  /* The stored LossList ends with the final support's divergence. */
  {
    double loss[8];
    size_t nl = gs_test_json_array (text, "\"expected\"", "LossList", loss, 8);
    CU_ASSERT_FATAL (nl >= 1);
    CU_ASSERT (gs_test_reldiff (info.loss, loss[nl - 1]) < 1e-9
               || gs_test_reldiff (info.loss, loss[nl - 2]) < 1e-9);
  }
  gs_poisson_ws_free (w);
  gs_library_free (lib);
  free (text);
  free (path);
  free (root);
}

/* One column: a = sum(y) / sum(X); Fisher std = sqrt(a / sum(X)) when
 * the column sums to 1... in general std = sqrt(a / c). */
static void
test_closed_form_single (void)
{
  double X[6] = { 0.1, 0.2, 0.3, 0.25, 0.1, 0.05 };
  double y[6] = { 3, 0, 7, 2, 0, 1 };
  double a, sd;
  gs_poisson_ws *w = gs_poisson_ws_alloc (6, 1);
  CU_ASSERT_EQUAL (gs_nnpu (w, X, 1, 6, NULL, 1, y, NULL, &a, NULL), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (a, 13.0, 1e-9);
  CU_ASSERT_EQUAL (gs_poisson_fisher_std (w, X, 1, 6, NULL, 1, &a, &sd),
                   GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (sd, sqrt (13.0), 1e-9);
  gs_poisson_ws_free (w);
}

/* Disjoint supports decouple: a_j = sum_{S_j} y / sum_{S_j} X_j.  A
 * component whose channels are empty sits at the bound 0. */
static void
test_closed_form_disjoint (void)
{
  /* 6 channels x 3 columns, row-major. */
  double X[18] = { 0.5, 0, 0,   0.3, 0, 0,   0.2, 0, 0,
                   0, 0.6, 0,   0, 0.4, 0,   0, 0, 1.0 };
  double y[6] = { 10, 6, 4, 24, 16, 0 };
  double a[3];
  gs_nnpu_info info;
  gs_poisson_ws *w = gs_poisson_ws_alloc (6, 3);
  CU_ASSERT_EQUAL (gs_nnpu (w, X, 3, 6, NULL, 3, y, NULL, a, &info), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (a[0], 20.0, 1e-8);
  CU_ASSERT_DOUBLE_EQUAL (a[1], 40.0, 1e-8);
  CU_ASSERT_DOUBLE_EQUAL (a[2], 0.0, 1e-8);
  /* At the optimum mu = y on every channel, so D = 0. */
  CU_ASSERT_DOUBLE_EQUAL (info.loss, 0.0, 1e-6);
  gs_poisson_ws_free (w);
}

/* Newton and the reference EM reach the same fixed point. */
static void
test_newton_matches_em (void)
{
  enum { N = 200, K = 5 };
  double *X = malloc (N * K * sizeof (double));
  double y[N], a[K], b[K], col[K] = { 0 };
  size_t i, j;
  int iters, trial;
  gs_poisson_ws *w = gs_poisson_ws_alloc (N, K);
  for (trial = 0; trial < 5; trial++)
    {
      unsigned long long s = 12345 + (unsigned long long)trial;
      for (j = 0; j < K; j++)
        col[j] = 0;
      for (i = 0; i < N; i++)
        for (j = 0; j < K; j++)
          {
            double c = (double)(i + 1) / N;
            s = gs__mix64 (s);
            X[i * K + j] = exp (-(c - 0.2 * (double)j) * (c - 0.2 * (double)j)
                                / 0.02)
                           + 0.05 * (double)(s % 1000) / 1000.0;
            col[j] += X[i * K + j];
          }
      for (i = 0; i < N; i++)
        for (j = 0; j < K; j++)
          X[i * K + j] /= col[j];
      for (i = 0; i < N; i++)
        {
          s = gs__mix64 (s);
          y[i] = (double)(s % (unsigned long long)(3 + 30 * X[i * K + 1] * N));
        }
      CU_ASSERT_EQUAL (gs_nnpu (w, X, K, N, NULL, K, y, NULL, a, NULL),
                       GS_OK);
      gs_nnpu_em (X, K, N, NULL, K, y, NULL, 200000, 1e-14, 0, b, &iters);
      for (j = 0; j < K; j++)
        CU_ASSERT (fabs (a[j] - b[j]) <= 1e-5 * (1 + fabs (b[j])));
    }
  free (X);
  gs_poisson_ws_free (w);
}

/* The divergence of spec 3.1, against a hand computation. */
static void
test_divergence (void)
{
  double X[2] = { 0.25, 0.75 };
  double y[2] = { 1, 2 };
  double a = 4; /* mu = 1, 3 */
  double want = (1 - 1 * log (1 + 1e-16) + 1 * log (1 + 1e-16) - 1)
                + (3 - 2 * log (3 + 1e-16) + 2 * log (2 + 1e-16) - 2);
  CU_ASSERT_DOUBLE_EQUAL (gs_poisson_divergence (X, 1, 2, NULL, 1, y, &a),
                          want, 1e-12);
}

/* A channel with counts that no column covers is an error, not NaN. */
static void
test_uncovered_channel (void)
{
  double X[3] = { 0.5, 0.5, 0.0 };
  double y[3] = { 1, 1, 5 };
  double a;
  gs_poisson_ws *w = gs_poisson_ws_alloc (3, 1);
  CU_ASSERT_EQUAL (gs_nnpu (w, X, 1, 3, NULL, 1, y, NULL, &a, NULL),
                   GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 2");
  gs_poisson_ws_free (w);
}

/* Two scenario-1 spectra on which an earlier Newton stopping rule looped
 * at the rounding level of the objective (decrement 3e-14, f ~ 1) until
 * max_iter: they must converge in a few iterations, to a point where the
 * KKT conditions hold (gradient ~0 on the free set, >= 0 at zero). */
static void
test_rounding_level_convergence (void)
{
  const char *data = gs_test_data_dir ("nnpu/rounding-level convergence");
  static const size_t rows[2] = { 18821, 21637 };
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  const gs_library *lib;
  gs_poisson_ws *w;
  double y[1024], a[16], mu[1024];
  char *root;
  size_t r, i, j, K;
  if (!data)
    return;
  root = gs__path_join (data, "gammabench");
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.seed = 14017000347531892834ULL; /* configs/scenario1.yaml's */
  o.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (s, &lib), GS_OK);
  K = lib->n_components;
  w = gs_poisson_ws_alloc (1024, K);
  for (r = 0; r < 2; r++)
    {
      gs_nnpu_info info;
      CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TEST, rows[r], y),
                       GS_OK);
      CU_ASSERT_EQUAL (gs_nnpu (w, lib->signatures, K, 1024, NULL, K, y,
                                NULL, a, &info),
                       GS_OK);
      CU_ASSERT (info.iterations < 50);
      for (i = 0; i < 1024; i++)
        {
          mu[i] = 0;
          for (j = 0; j < K; j++)
            mu[i] += lib->signatures[i * K + j] * a[j];
        }
      for (j = 0; j < K; j++)
        {
          double g = 0; /* d f / d a_j = sum_i X_ij (1 - y_i / mu_i) */
          for (i = 0; i < 1024; i++)
            g += lib->signatures[i * K + j]
                 * (1 - (y[i] > 0 ? y[i] / mu[i] : 0));
          CU_ASSERT (a[j] > 0 ? fabs (g) < 1e-6 : g > -1e-6);
        }
    }
  gs_poisson_ws_free (w);
  gs_scenario_free (s);
  free (root);
}

void gs_test_register_nnpu (void);
void
gs_test_register_nnpu (void)
{
  CU_pSuite s = CU_add_suite ("nnpu", NULL, NULL);
  CU_add_test (s, "pomp_example final support", test_pomp_example_final_support);
  CU_add_test (s, "closed form, one column", test_closed_form_single);
  CU_add_test (s, "closed form, disjoint columns", test_closed_form_disjoint);
  CU_add_test (s, "newton equals EM fixed point", test_newton_matches_em);
  CU_add_test (s, "divergence", test_divergence);
  CU_add_test (s, "uncovered channel", test_uncovered_channel);
  CU_add_test (s, "convergence at the rounding level",
               test_rounding_level_convergence);
}
