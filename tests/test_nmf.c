/* unmixing.nmf, through the plugin API (loaded from the build tree's
 * plugin folder like the conformance suite): fixed point, monotone
 * divergence, background kept, NNPU start, parameter table, host checks,
 * thread invariance. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/synth.h"
#include "test_util.h"

enum
{
  NMF_N = 128,
  NMF_K = 4
};

/* Extras, in the plugin's order. */
enum
{
  X_ITER,
  X_DIV,
  X_SIG,
  X_BKG
};

/* Gaussian peaks on a smooth background (the conformance suite's toy). */
static gs_library *
nmf_toy_library (void)
{
  gs_library *lib = gs_library_alloc (NMF_N, NMF_K);
  size_t i, j;
  for (i = 0; i < NMF_N; i++)
    {
      double x = (double)i;
      lib->signatures[i * NMF_K + 0] = exp (-x / 60.0) + 0.01;
      for (j = 1; j < NMF_K; j++)
        {
          double c = 25.0 * (double)j, d = (x - c) / 3.0;
          lib->signatures[i * NMF_K + j]
              = exp (-0.5 * d * d) + 0.2 * exp (-x / 30.0) * (x < c);
        }
    }
  gs_library_set_name (lib, 0, "background");
  gs_library_set_name (lib, 1, "A");
  gs_library_set_name (lib, 2, "B");
  gs_library_set_name (lib, 3, "C");
  gs_library_set_linear_grid (lib, 0, 5);
  gs_library_normalise (lib);
  return lib;
}

typedef struct nmf_fixture
{
  gs_registry *reg;
  const gs_method_type *t;
  gs_library *lib;
  gs_setup setup;
} nmf_fixture;

static int
nmf_fixture_init (nmf_fixture *f)
{
  memset (f, 0, sizeof *f);
  f->reg = gs_registry_alloc ();
  gs_registry_load_dir (f->reg, GSPEC_PLUGIN_DIR);
  f->t = gs_registry_find (f->reg, "unmixing.nmf");
  f->lib = nmf_toy_library ();
  f->setup.struct_size = sizeof f->setup;
  f->setup.library = gs_library_as_view (f->lib);
  f->setup.seed = 1;
  f->setup.target_fpr = 0.01;
  return f->t != NULL && f->lib != NULL;
}

static void
nmf_fixture_free (nmf_fixture *f)
{
  gs_library_free (f->lib);
  gs_registry_free (f->reg);
}

/* Analyses y with unmixing.nmf and up to two parameter settings. */
static int
nmf_run (nmf_fixture *f, const char *k1, const char *v1, const char *k2,
         const char *v2, const char *k3, const char *v3, const double *y,
         gs_result *res)
{
  void *p = gs_params_alloc (f->t);
  gs_method *m = NULL;
  int rc;
  if (k1)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, k1, v1, "test"), GS_OK);
  if (k2)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, k2, v2, "test"), GS_OK);
  if (k3)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, k3, v3, "test"), GS_OK);
  rc = gs_method_alloc (f->t, p, &f->setup, &m);
  CU_ASSERT_EQUAL (rc, GS_OK);
  if (rc == GS_OK)
    rc = gs_method_analyze (m, NULL, y, NMF_N, res);
  gs_method_free (m);
  gs_params_free (p);
  return rc;
}

/* A spectrum whose peaks are shifted and broadened against the library,
 * so that the signatures must deform: integer counts, some zeros. */
static void
nmf_deformed_spectrum (double *y)
{
  static const double a[NMF_K] = { 3000, 2000, 1500, 800 };
  double mu[NMF_N], s = 0;
  size_t i, j;
  for (i = 0; i < NMF_N; i++)
    {
      double x = (double)i;
      mu[i] = a[0] * (exp (-x / 50.0) + 0.01);
      for (j = 1; j < NMF_K; j++)
        {
          double c = 25.0 * (double)j + 1.5, d = (x - c) / 3.6;
          mu[i] += a[j] * 0.13
                   * (exp (-0.5 * d * d) + 0.25 * exp (-x / 30.0) * (x < c));
        }
      s += mu[i];
    }
  for (i = 0; i < NMF_N; i++)
    {
      /* deterministic "noise" */
      double v = mu[i] * 7300.0 / s * (1.0 + 0.15 * sin (1.7 * (double)i));
      y[i] = floor (v + 0.5);
    }
  y[NMF_N - 1] = 0;
  y[NMF_N - 2] = 0;
}

static double
sum_of (const double *v, size_t n)
{
  double s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    s += v[i];
  return s;
}

/* y = X a exactly, a > 0: the library is a fixed point. */
static void
test_nmf_fixed_point (void)
{
  static const double a[NMF_K] = { 500, 300, 200, 100 };
  nmf_fixture f;
  gs_result *r;
  double y[NMF_N], mu[NMF_N];
  size_t i, j;
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  for (i = 0; i < NMF_N; i++)
    {
      y[i] = 0;
      for (j = 0; j < NMF_K; j++)
        y[i] += f.lib->signatures[i * NMF_K + j] * a[j];
    }
  r = gs_result_alloc (NMF_K, 4);
  CU_ASSERT_EQUAL_FATAL (nmf_run (&f, NULL, NULL, NULL, NULL, NULL, NULL, y, r),
                         GS_OK);
  /* X stays the library (up to rounding), a the truth, so X a = y. */
  CU_ASSERT (r->extras[X_SIG] < 1e-9);
  CU_ASSERT_EQUAL (r->extras[X_BKG], 0.0);
  CU_ASSERT (r->extras[X_ITER] >= 1 && r->extras[X_ITER] <= 3);
  for (j = 0; j < NMF_K; j++)
    {
      CU_ASSERT (gs_test_reldiff (r->counts[j], a[j]) < 1e-6);
      CU_ASSERT (isnan (r->std[j]));
    }
  for (i = 0; i < NMF_N; i++)
    {
      mu[i] = 0;
      for (j = 0; j < NMF_K; j++)
        mu[i] += f.lib->signatures[i * NMF_K + j] * r->counts[j];
      CU_ASSERT (gs_test_reldiff (mu[i], y[i]) < 1e-6);
    }
  CU_ASSERT (fabs (r->extras[X_DIV]) < 1e-8);
  gs_result_free (r);
  nmf_fixture_free (&f);
}

/* D(X_k, y, a_k) never increases with the number of joint iterations. */
static void
test_nmf_monotone (void)
{
  nmf_fixture f;
  gs_result *r;
  double y[NMF_N], prev = INFINITY, d0 = 0, sy;
  char buf[16];
  int k;
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  nmf_deformed_spectrum (y);
  sy = sum_of (y, NMF_N);
  r = gs_result_alloc (NMF_K, 4);
  for (k = 0; k <= 20; k++)
    {
      double d;
      snprintf (buf, sizeof buf, "%d", k);
      CU_ASSERT_EQUAL_FATAL (
          nmf_run (&f, "max_iter", buf, "tol", "1e-15", NULL, NULL, y, r),
          GS_OK);
      d = r->extras[X_DIV];
      CU_ASSERT (isfinite (d));
      CU_ASSERT_EQUAL (r->extras[X_ITER], (double)k);
      if (d > prev * (1 + 1e-12) + 1e-12)
        printf ("\n  D after %d iterations %.15g > %.15g", k, d, prev);
      CU_ASSERT (d <= prev * (1 + 1e-12) + 1e-12);
      /* counts keep the spectrum's total, as NNPU's */
      CU_ASSERT (gs_test_reldiff (sum_of (r->counts, NMF_K), sy) < 1e-9);
      if (k == 0)
        d0 = d;
      prev = d;
    }
  /* the signatures moved and the fit improved markedly */
  CU_ASSERT (prev < 0.9 * d0);
  CU_ASSERT (r->extras[X_SIG] > 1e-3);
  gs_result_free (r);
  nmf_fixture_free (&f);
}

/* Column 0 is the library's background, bit for bit, unless asked. */
static void
test_nmf_background_fixed (void)
{
  nmf_fixture f;
  gs_result *r;
  double y[NMF_N];
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  nmf_deformed_spectrum (y);
  r = gs_result_alloc (NMF_K, 4);
  CU_ASSERT_EQUAL (nmf_run (&f, NULL, NULL, NULL, NULL, NULL, NULL, y, r),
                   GS_OK);
  CU_ASSERT_EQUAL (r->extras[X_BKG], 0.0);
  CU_ASSERT (r->extras[X_SIG] > 0);
  CU_ASSERT (r->extras[X_ITER] >= 1);
  CU_ASSERT (isnan (r->std[0]));
  CU_ASSERT_EQUAL (
      nmf_run (&f, "update_background", "true", NULL, NULL, NULL, NULL, y, r),
      GS_OK);
  CU_ASSERT (r->extras[X_BKG] > 0);
  CU_ASSERT (isfinite (r->extras[X_DIV]));
  gs_result_free (r);
  nmf_fixture_free (&f);
}

/* max_iter = 0 gives unmixing.nnpu's counts. */
static void
test_nmf_vs_nnpu (void)
{
  nmf_fixture f;
  const gs_method_type *tn;
  gs_method *mn = NULL;
  gs_result *r, *rn;
  double y[NMF_N];
  size_t j;
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  tn = gs_registry_find (f.reg, "unmixing.nnpu");
  CU_ASSERT_PTR_NOT_NULL_FATAL (tn);
  nmf_deformed_spectrum (y);
  r = gs_result_alloc (NMF_K, 4);
  rn = gs_result_alloc (NMF_K, gs_method_n_extras (tn));
  CU_ASSERT_EQUAL_FATAL (
      nmf_run (&f, "max_iter", "0", NULL, NULL, NULL, NULL, y, r), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (tn, NULL, &f.setup, &mn), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_analyze (mn, NULL, y, NMF_N, rn), GS_OK);
  for (j = 0; j < NMF_K; j++)
    CU_ASSERT (fabs (r->counts[j] - rn->counts[j])
               <= 1e-9 * fmax (1.0, fabs (rn->counts[j])));
  CU_ASSERT_EQUAL (r->extras[X_ITER], 0.0);
  CU_ASSERT_EQUAL (r->extras[X_SIG], 0.0);
  CU_ASSERT_EQUAL (r->extras[X_BKG], 0.0);
  gs_method_free (mn);
  gs_result_free (r);
  gs_result_free (rn);
  nmf_fixture_free (&f);
}

/* The table refuses bad values; the host refuses bad spectra. */
static void
test_nmf_bad_input (void)
{
  nmf_fixture f;
  gs_method *m = NULL;
  gs_result *r;
  void *p;
  double y[NMF_N + 1];
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  CU_ASSERT (f.t->kinds == (GS_KIND_QUANTIFY | GS_KIND_VARIABILITY));
  p = gs_params_alloc (f.t);
  CU_ASSERT_NOT_EQUAL (gs_params_set (f.t, p, "tol", "0", "t"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (f.t, p, "tol", "-1e-6", "t"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (f.t, p, "max_iter", "-1", "t"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (f.t, p, "max_iter", "1.5", "t"), GS_OK);
  CU_ASSERT_NOT_EQUAL (
      gs_params_set (f.t, p, "update_background", "maybe", "t"), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_params_set (f.t, p, "alpha", "1", "t"), GS_OK);
  CU_ASSERT_EQUAL (gs_params_set (f.t, p, "max_iter", "0", "t"), GS_OK);
  CU_ASSERT_EQUAL (gs_params_set (f.t, p, "tol", "1e-3", "t"), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (f.t, p, &f.setup, &m), GS_OK);
  r = gs_result_alloc (NMF_K, 4);
  nmf_deformed_spectrum (y);
  y[3] = NAN;
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, NMF_N, r), GS_EBADDATA);
  y[3] = -2;
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, NMF_N, r), GS_EBADDATA);
  memset (y, 0, sizeof y);
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, NMF_N, r), GS_EBADDATA);
  nmf_deformed_spectrum (y);
  y[NMF_N] = 1;
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, NMF_N + 1, r), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, NMF_N - 1, r), GS_OK);
  gs_result_free (r);
  gs_method_free (m);
  gs_params_free (p);
  nmf_fixture_free (&f);
}

/* Same predictions at 1 and 3 threads (per-thread workspaces, the state
 * untouched by analyze), and repeated analyses agree bit for bit. */
static void
test_nmf_threads (void)
{
  nmf_fixture f;
  gs_synth_opts o;
  gs_synth *s = NULL;
  gs_method *m = NULL;
  gs_predictions *p1 = NULL, *p2 = NULL;
  gs_dataset d;
  CU_ASSERT_FATAL (nmf_fixture_init (&f));
  gs_synth_opts_init (&o);
  o.max_active = 3;
  o.n_spectra = 24;
  o.seed = 11;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (f.lib, &o, &s), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (f.t, NULL, &f.setup, &m), GS_OK);
  d = gs_synth_as_dataset (s);
  CU_ASSERT_EQUAL (gs_engine_analyze (m, &d, 1, "t", &p1), GS_OK);
  CU_ASSERT_EQUAL (gs_engine_analyze (m, &d, 3, "t", &p2), GS_OK);
  CU_ASSERT_FATAL (p1 && p2);
  CU_ASSERT_EQUAL (
      memcmp (p1->counts, p2->counts, p1->n * p1->K * sizeof (double)), 0);
  CU_ASSERT_EQUAL (
      memcmp (p1->extras, p2->extras, p1->n * p1->n_extras * sizeof (double)),
      0);
  {
    size_t i;
    for (i = 0; i < p1->n; i++)
      CU_ASSERT_EQUAL (p1->status[i], GS_OK);
  }
  gs_predictions_free (p1);
  gs_predictions_free (p2);
  gs_method_free (m);
  gs_synth_free (s);
  nmf_fixture_free (&f);
}

void gs_test_register_nmf (void);
void
gs_test_register_nmf (void)
{
  CU_pSuite s = CU_add_suite ("nmf", NULL, NULL);
  CU_add_test (s, "library is a fixed point when y = X a",
               test_nmf_fixed_point);
  CU_add_test (s, "divergence non-increasing in iterations", test_nmf_monotone);
  CU_add_test (s, "background column kept", test_nmf_background_fixed);
  CU_add_test (s, "max_iter 0 gives the NNPU counts", test_nmf_vs_nnpu);
  CU_add_test (s, "bad parameters and input refused", test_nmf_bad_input);
  CU_add_test (s, "thread invariance", test_nmf_threads);
}
