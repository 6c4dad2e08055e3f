/* GammaBench scenarios (gammabench-spec.md 2.1-2.3): split sizes, table
 * statistics, determinism and, with the data, the per-row libraries. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/scenario.h"
#include "gspec/shift.h"
#include "gspec/status.h"
#include "test_util.h"

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov statistic of v[0..n-1] (sorted in place) against
 * U(lo, hi). */
static double
ks_uniform (double *v, size_t n, double lo, double hi)
{
  size_t i;
  double d = 0;
  qsort (v, n, sizeof *v, cmp_double);
  for (i = 0; i < n; i++)
    {
      double f = (v[i] - lo) / (hi - lo);
      double a = fabs (f - (double)i / (double)n);
      double b = fabs (f - (double)(i + 1) / (double)n);
      if (a > d)
        d = a;
      if (b > d)
        d = b;
    }
  return d;
}

static void
test_split_sizes (void)
{
  static const size_t cases[][4] = { { 200000, 128000, 32000, 40000 },
                                     { 1000, 640, 160, 200 },
                                     { 7, 4, 2, 1 },
                                     { 1, 1, 0, 0 } };
  size_t c;
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++)
    {
      gs_scenario_opts o;
      gs_scenario *s = NULL;
      gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
      o.n_spectra = cases[c][0];
      CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
      CU_ASSERT_EQUAL (s->n[0], cases[c][1]);
      CU_ASSERT_EQUAL (s->n[1], cases[c][2]);
      CU_ASSERT_EQUAL (s->n[2], cases[c][3]);
      gs_scenario_free (s);
    }
}

/* Scenario 1 over the default 200 000 rows against spec 2.1. */
static void
test_table_statistics (void)
{
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  size_t K, sp, i, j, count[5] = { 0 }, n_all = 0, n0 = 0, n1 = 0;
  double *logc0, *logc1, *bfrac1, mean = 0, d;
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.seed = 11;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_EQUAL_FATAL (s->n_components, 10);
  CU_ASSERT_PTR_NULL (s->lambda[0]);
  K = s->n_components;
  logc0 = malloc (200000 * sizeof *logc0);
  logc1 = malloc (200000 * sizeof *logc1);
  bfrac1 = malloc (200000 * sizeof *bfrac1);
  CU_ASSERT_FATAL (logc0 && logc1 && bfrac1);
  for (sp = 0; sp < 3; sp++)
    for (i = 0; i < s->n[sp]; i++)
      {
        const double *a = s->truth[sp] + i * K;
        size_t k = 0;
        double tot = 0;
        for (j = 0; j < K; j++)
          tot += a[j];
        for (j = 1; j < K; j++)
          k += a[j] > 0;
        CU_ASSERT_FATAL (k <= 4);
        count[k]++;
        n_all++;
        CU_ASSERT (tot <= 1e5 && tot >= 200 - (double)K);
        if (k == 0)
          logc0[n0++] = log10 (tot);
        else
          {
            /* Minimum counts (strict before truncation: >= after). */
            CU_ASSERT (a[0] >= 125);
            for (j = 1; j < K; j++)
              if (a[j] > 0)
                CU_ASSERT (a[j] >= ((j == 1 || j == 4 || j == 5) ? 100 : 50));
          }
        /* k = 1 with >= 1250 counts is never rejected (0.1 * 1250 > 125,
         * 0.1 * 1250 > 100), so there the weights are the raw draws. */
        if (k == 1 && tot >= 1250)
          {
            logc1[n1] = log10 (tot);
            bfrac1[n1++] = a[0] / tot;
          }
      }
  CU_ASSERT_EQUAL (n_all, 200000);
  /* Number of nuclides uniform on 0..4: 0.2 within 5 sigma (sigma =
   * sqrt(0.16 / 200000) = 0.00089). */
  for (j = 0; j < 5; j++)
    CU_ASSERT (fabs ((double)count[j] / (double)n_all - 0.2) < 0.0045);
  /* Pure background rows are never rejected: log10(total) ~ U(log10 200,
   * 5) up to the truncation (< 0.0022 in log10).  Mean within 5 sigma
   * (sigma = 1.301 / sqrt(12 n0) = 0.0019) plus the truncation; KS
   * distance below 2.5 / sqrt(n0) (p ~ 1e-5) plus the truncation. */
  for (i = 0; i < n0; i++)
    mean += logc0[i];
  mean /= (double)n0;
  CU_ASSERT (fabs (mean - (log10 (200.0) + 5) / 2) < 0.0095 + 0.0022);
  d = ks_uniform (logc0, n0, log10 (200.0), 5);
  CU_ASSERT (d < 2.5 / sqrt ((double)n0) + 0.0022);
  /* One-nuclide rows above 1250 counts: totals log-uniform on
   * [log10 1250, 5]; background fraction U(0.1, 0.9) (measured after
   * truncation: error < 2 / 1250). */
  CU_ASSERT (n1 > 20000);
  d = ks_uniform (logc1, n1, log10 (1250.0), 5);
  CU_ASSERT (d < 2.5 / sqrt ((double)n1) + 0.001);
  d = ks_uniform (bfrac1, n1, 0.1, 0.9);
  CU_ASSERT (d < 2.5 / sqrt ((double)n1) + 0.002);
  mean = 0;
  for (i = 0; i < n1; i++)
    mean += bfrac1[i];
  mean /= (double)n1;
  /* sigma = 0.8 / sqrt(12 n1) < 0.0016 */
  CU_ASSERT (fabs (mean - 0.5) < 0.008 + 0.0016);
  free (logc0);
  free (logc1);
  free (bfrac1);
  gs_scenario_free (s);
}

static void
test_thickness_split (void)
{
  int seen[96] = { 0 };
  size_t i;
  static const int val[15]
      = { 26, 33, 38, 42, 46, 50, 51, 52, 58, 66, 68, 69, 77, 78, 90 };
  static const int test[19] = { 4,  7,  15, 20, 22, 31, 34, 37, 39, 40,
                                43, 47, 49, 63, 67, 72, 75, 82, 89 };
  for (i = 0; i < 62; i++)
    seen[gs_scenario_thickness_train[i]]++;
  for (i = 0; i < 15; i++)
    seen[gs_scenario_thickness_val[i]]++;
  for (i = 0; i < 19; i++)
    seen[gs_scenario_thickness_test[i]]++;
  for (i = 0; i < 96; i++)
    CU_ASSERT_EQUAL (seen[i], 1);
  CU_ASSERT_EQUAL (gs_scenario_thickness_train[0], 0);
  CU_ASSERT_EQUAL (gs_scenario_thickness_train[61], 95);
  CU_ASSERT_EQUAL (memcmp (val, gs_scenario_thickness_val, sizeof val), 0);
  CU_ASSERT_EQUAL (memcmp (test, gs_scenario_thickness_test, sizeof test), 0);
}

/* Scenario 2 rows use their split's thicknesses (all of them); scenario 3
 * shift indices are uniform over 0..20. */
static void
test_lambdas (void)
{
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  size_t sp, i, cnt[GS_SCENARIO_N_SHIFTS] = { 0 }, n = 0;
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.n_spectra = 20000;
  o.seed = 5;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_EQUAL (s->n_components, 9);
  CU_ASSERT_STRING_EQUAL (s->names[8], "Tc99m");
  for (sp = 0; sp < 3; sp++)
    {
      const int *list = sp == 0   ? gs_scenario_thickness_train
                        : sp == 1 ? gs_scenario_thickness_val
                                  : gs_scenario_thickness_test;
      size_t nl = sp == 0 ? 62 : sp == 1 ? 15 : 19, l;
      int used[96] = { 0 };
      for (i = 0; i < s->n[sp]; i++)
        {
          int in = 0;
          for (l = 0; l < nl; l++)
            in |= list[l] == s->lambda[sp][i];
          CU_ASSERT (in);
          used[s->lambda[sp][i]] = 1;
        }
      for (l = 0; l < nl; l++)
        CU_ASSERT (used[list[l]]);
    }
  gs_scenario_free (s);
  gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
  o.seed = 6;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_EQUAL (s->n_components, 10);
  for (sp = 0; sp < 3; sp++)
    for (i = 0; i < s->n[sp]; i++)
      {
        CU_ASSERT_FATAL (s->lambda[sp][i] >= 0 && s->lambda[sp][i] <= 20);
        cnt[s->lambda[sp][i]]++;
        n++;
      }
  /* 1/21 within 5 sigma (sigma = sqrt(p (1-p) / 200000) = 0.00048). */
  for (i = 0; i < GS_SCENARIO_N_SHIFTS; i++)
    CU_ASSERT (fabs ((double)cnt[i] / (double)n - 1.0 / 21) < 0.0024);
  CU_ASSERT_EQUAL (gs_scenario_shift_alpha (0), -0.1);
  CU_ASSERT_EQUAL (gs_scenario_shift_alpha (10), 0.0);
  CU_ASSERT_EQUAL (gs_scenario_shift_alpha (13), 0.03);
  CU_ASSERT_EQUAL (gs_scenario_shift_alpha (20), 0.1);
  gs_scenario_free (s);
}

static void
test_determinism (void)
{
  gs_scenario_opts o;
  gs_scenario *a = NULL, *b = NULL;
  size_t sp;
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.n_spectra = 3000;
  o.seed = 42;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &a), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &b), 0);
  for (sp = 0; sp < 3; sp++)
    {
      CU_ASSERT_EQUAL (memcmp (a->truth[sp], b->truth[sp],
                               a->n[sp] * a->n_components * sizeof (double)),
                       0);
      CU_ASSERT_EQUAL (
          memcmp (a->lambda[sp], b->lambda[sp], a->n[sp] * sizeof (int)), 0);
    }
  /* The splits are different draws. */
  CU_ASSERT_NOT_EQUAL (memcmp (a->truth[0], a->truth[2],
                               100 * a->n_components * sizeof (double)),
                       0);
  gs_scenario_free (b);
  o.seed = 43;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &b), 0);
  CU_ASSERT_NOT_EQUAL (memcmp (a->truth[0], b->truth[0],
                               100 * a->n_components * sizeof (double)),
                       0);
  gs_scenario_free (a);
  gs_scenario_free (b);
}

static void
test_bad_options (void)
{
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  double y[1024];
  gs_scenario_opts_init (&o, (gs_scenario_id)4);
  CU_ASSERT_EQUAL (gs_scenario_generate (&o, &s), GS_EINVAL);
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.ratio[2] = 0.5;
  CU_ASSERT_EQUAL (gs_scenario_generate (&o, &s), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "sum to 1");
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.n_spectra = 10;
  o.sampler.max_active = 10; /* more than the 9 nuclides */
  CU_ASSERT_NOT_EQUAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_PTR_NULL (s);
  /* Tables without data: spectra need opts.root. */
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.n_spectra = 10;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TRAIN, 0, y), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "opts.root");
  CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TEST, 99, y), GS_EINVAL);
  gs_scenario_free (s);
}

static char *
gb_root (const char *test)
{
  const char *d = gs_test_data_dir (test);
  char *r;
  if (!d)
    return NULL;
  r = malloc (strlen (d) + sizeof "/gammabench");
  if (r)
    {
      memcpy (r, d, strlen (d));
      memcpy (r + strlen (d), "/gammabench", sizeof "/gammabench");
    }
  return r;
}

/* Spectra with the data: deterministic, Poisson around the row's counts,
 * and the per-row libraries are the right ones. */
static void
test_spectra (void)
{
  char *root = gb_root ("scenario: spectra");
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  gs_library *ref = NULL;
  const gs_library *lib;
  gs_gammabench_opts go;
  double y[1024], y2[1024], col[1024];
  size_t i, c, K;
  if (!root)
    return;
  /* Scenario 2: the cached library of a row is the loader's at its
   * thickness. */
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.n_spectra = 40;
  o.seed = 1;
  o.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  K = s->n_components;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_spectrum (s, GS_SPLIT_TEST, 3, y), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_spectrum (s, GS_SPLIT_TEST, 3, y2), 0);
  CU_ASSERT_EQUAL (memcmp (y, y2, sizeof y), 0);
  {
    double tot = 0, ya = 0;
    for (c = 0; c < K; c++)
      tot += s->truth[GS_SPLIT_TEST][3 * K + c];
    for (c = 0; c < 1024; c++)
      ya += y[c];
    /* Poisson total within 6 sigma (channels above a nuclide's cut
     * carry background only, so the mean is the row total). */
    CU_ASSERT (fabs (ya - tot) < 6 * sqrt (tot) + 1);
  }
  gs_gammabench_opts_init (&go, root);
  go.nuclides = s->names + 1;
  go.n_nuclides = K - 1;
  go.thickness_index = (size_t)s->lambda[GS_SPLIT_TEST][3];
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&go, &ref), 0);
  CU_ASSERT_EQUAL_FATAL (
      gs_scenario_library (s, s->lambda[GS_SPLIT_TEST][3], &lib), 0);
  CU_ASSERT_EQUAL (
      memcmp (lib->signatures, ref->signatures, 1024 * K * sizeof (double)), 0);
  gs_library_free (ref);
  ref = NULL;
  gs_scenario_free (s);

  /* Scenario 3: nuclide columns from the drift files, background shifted
   * by the particle operator (k = 10 keeps it). */
  gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
  o.n_spectra = 30;
  o.seed = 2;
  o.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  K = s->n_components;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_load_libraries (s), 0);
  for (i = 0; i < s->n[0]; i++)
    CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TRAIN, i, y), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, 0, &lib), 0);
  CU_ASSERT_EQUAL (gs_library_check (lib), 0);
  gs_gammabench_opts_init (&go, root);
  go.gain_shift_percent = -10;
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&go, &ref), 0);
  for (c = 0; c < 1024; c++)
    {
      size_t k;
      for (k = 1; k < K; k++)
        CU_ASSERT_EQUAL (lib->signatures[c * K + k],
                         ref->signatures[c * K + k]);
    }
  CU_ASSERT_EQUAL_FATAL (gs_gammabench_read_background (root, col), 0);
  {
    double t = gs_shift_numpy_sum (col, 1024, 1), cnt = 0;
    for (c = 0; c < 1024; c++)
      col[c] /= t;
    CU_ASSERT_EQUAL_FATAL (
        gs_shift_library_columns (col, 1, -0.1, 0, GS_SHIFT_ROUND, 0, col), 0);
    for (c = 0; c < 1024; c++)
      {
        CU_ASSERT_EQUAL (lib->signatures[c * K], col[c]);
        CU_ASSERT (col[c] > 0);
      }
    /* alpha0 = -0.10 stretches by 1.1: the 1460 keV K-40 peak (channel
     * 720) moves to about 1606 keV (channel 793). */
    for (c = 780; c < 805; c++)
      cnt += col[c];
    CU_ASSERT (cnt > 0);
  }
  gs_library_free (ref);
  gs_scenario_free (s);
  free (root);
}

/* ---------------------------------------------------------------------- */
/* The embedded source: libraries from the analytic model, no data.         */

static size_t
argmax_col (const gs_library *l, size_t j, size_t c0, size_t c1)
{
  size_t c, best = c0;
  for (c = c0; c < c1; c++)
    if (l->signatures[c * l->n_components + j]
        > l->signatures[best * l->n_components + j])
      best = c;
  return best;
}

/* Column j's weight in channels [0, c1). */
static double
low_fraction (const gs_library *l, size_t j, size_t c1)
{
  size_t c;
  double f = 0;
  for (c = 0; c < c1; c++)
    f += l->signatures[c * l->n_components + j];
  return f;
}

/* Channel of energy e on the 2 keV grid from 20 keV after the gain shift
 * E -> E (1 - alpha0) (spec 1.5). */
static size_t
shifted_channel (double e, double alpha)
{
  return (size_t)floor ((e * (1 - alpha) - 20) / 2);
}

/* Scenario 2 draws spectra with root NULL; attenuation grows with the
 * thickness index. */
static void
test_embedded_deformation (void)
{
  static const char *const bogus[] = { "NotANuclide" };
  static const int idx[3] = { 0, 40, 95 };
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  const gs_library *lib, *ref;
  double y[1024], am[3], ba[3];
  size_t i, c, K;
  long jam, jba;
  int t;
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  CU_ASSERT_EQUAL (o.source, GS_SCENARIO_GAMMABENCH);
  CU_ASSERT_EQUAL (o.embedded.n_channels, 1024);
  o.source = GS_SCENARIO_EMBEDDED;
  o.n_spectra = 40;
  o.seed = 1;
  /* Ignored: every library gets the scenario's nuclides. */
  o.embedded.nuclides = bogus;
  o.embedded.n_nuclides = 1;
  o.embedded.steel_mm = 50;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_PTR_NULL (s->root);
  CU_ASSERT_EQUAL (s->source, GS_SCENARIO_EMBEDDED);
  K = s->n_components;
  for (i = 0; i < 3; i++)
    {
      double tot = 0, ya = 0;
      CU_ASSERT_EQUAL_FATAL (gs_scenario_spectrum (s, GS_SPLIT_TEST, i, y), 0);
      for (c = 0; c < K; c++)
        tot += s->truth[GS_SPLIT_TEST][i * K + c];
      for (c = 0; c < 1024; c++)
        {
          CU_ASSERT (y[c] >= 0 && y[c] == floor (y[c]));
          ya += y[c];
        }
      /* Every column sums to 1 on the grid: Poisson total, 6 sigma. */
      CU_ASSERT (fabs (ya - tot) < 6 * sqrt (tot) + 1);
      CU_ASSERT_EQUAL_FATAL (
          gs_scenario_library (s, s->lambda[GS_SPLIT_TEST][i], &lib), 0);
      CU_ASSERT_EQUAL (lib->n_components, K);
      CU_ASSERT_EQUAL (gs_library_check (lib), 0);
    }
  /* Am241 (26.3, 33.2, 59.5 keV lines) lies wholly below 100 keV at any
   * thickness, so its below-100 keV fraction is 1; the share below 50 keV
   * (channels 0..14: the 26 keV line, attenuated faster than the 59.5 keV
   * one) falls.  Ba133 (31, 81 keV below 100; 276-384 keV above) loses
   * weight below 100 keV. */
  for (t = 0; t < 3; t++)
    {
      CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, idx[t], &lib), 0);
      jam = gs_library_find (lib, "Am241");
      jba = gs_library_find (lib, "Ba133");
      CU_ASSERT_FATAL (jam > 0 && jba > 0);
      CU_ASSERT (gs_library_find (lib, "I131") < 0);
      am[t] = low_fraction (lib, (size_t)jam, 15);
      ba[t] = low_fraction (lib, (size_t)jba, 40);
      CU_ASSERT (low_fraction (lib, (size_t)jam, 40) > 0.999);
      CU_ASSERT_EQUAL (gs_scenario_lambda_value (s, idx[t]),
                       gs_gammabench_thickness_mm[idx[t]]);
    }
  CU_ASSERT (am[0] > am[1] && am[1] > am[2]);
  CU_ASSERT (ba[0] > ba[1] && ba[1] > ba[2]);
  GS_ASSERT_CONTAINS (lib->description, "embedded model, steel 30 mm");
  /* The reference ("known signatures") library: thickness index 0. */
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (s, &ref), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, 0, &lib), 0);
  CU_ASSERT_PTR_EQUAL (ref, lib);
  GS_ASSERT_CONTAINS (ref->description, "embedded model, steel 0.001 mm");
  CU_ASSERT_STRING_EQUAL (gs_scenario_lambda_title (s), "steel thickness (mm)");
  CU_ASSERT (isnan (gs_scenario_lambda_value (s, 96)));
  CU_ASSERT (isnan (gs_scenario_lambda_value (s, -1)));
  gs_scenario_free (s);
}

/* Scenario 3: every column, background included, moves as E (1 - alpha0):
 * k = 0 (alpha0 = -0.10) up, k = 20 (+0.10) down, as the GammaBench drift
 * files do (spec 1.5: Cs137 in channel 353 / 320 / 287). */
static void
test_embedded_gain_shift (void)
{
  static const int ks[3] = { 0, 10, 20 };
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  const gs_library *lib, *ref, *l1;
  size_t pk[3], bk[3];
  long jcs;
  int t;
  gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
  o.source = GS_SCENARIO_EMBEDDED;
  o.n_spectra = 20;
  o.seed = 4;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_STRING_EQUAL (gs_scenario_lambda_title (s), "gain shift (%)");
  CU_ASSERT_EQUAL (gs_scenario_lambda_value (s, 0), -10.0);
  CU_ASSERT_EQUAL (gs_scenario_lambda_value (s, 13), 3.0);
  CU_ASSERT_EQUAL (gs_scenario_lambda_value (s, 20), 10.0);
  for (t = 0; t < 3; t++)
    {
      double a = gs_scenario_shift_alpha (ks[t]);
      size_t want = shifted_channel (661.657, a);
      size_t wbg = shifted_channel (1460.82, a);
      CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, ks[t], &lib), 0);
      CU_ASSERT_EQUAL (gs_library_check (lib), 0);
      jcs = gs_library_find (lib, "Cs137");
      CU_ASSERT_FATAL (jcs > 0);
      pk[t] = argmax_col (lib, (size_t)jcs, 0, 1024);
      /* The background's K-40 1461 keV peak (the largest line above
       * 1 MeV on the grid). */
      bk[t] = argmax_col (lib, 0, 450, 1024);
      CU_ASSERT (pk[t] + 1 >= want && pk[t] <= want + 1);
      CU_ASSERT (bk[t] + 1 >= wbg && bk[t] <= wbg + 1);
      if (pk[t] + 1 < want || pk[t] > want + 1 || bk[t] + 1 < wbg
          || bk[t] > wbg + 1)
        fprintf (stderr,
                 "\n  k = %d: Cs137 peak %zu (expected %zu), K-40 %zu "
                 "(expected %zu)\n",
                 ks[t], pk[t], want, bk[t], wbg);
      GS_ASSERT_CONTAINS (lib->description, "gain shift alpha0 = ");
    }
  /* Same direction as the GammaBench data: 353 > 320 > 287. */
  CU_ASSERT (pk[0] > pk[1] && pk[1] > pk[2]);
  CU_ASSERT (bk[0] > bk[1] && bk[1] > bk[2]);
  CU_ASSERT_EQUAL (shifted_channel (661.657, -0.10), 353);
  CU_ASSERT_EQUAL (shifted_channel (661.657, 0.0), 320);
  CU_ASSERT_EQUAL (shifted_channel (661.657, 0.10), 287);
  /* The reference library is shift index 10 (alpha0 = 0). */
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (s, &ref), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, 10, &lib), 0);
  CU_ASSERT_PTR_EQUAL (ref, lib);
  GS_ASSERT_CONTAINS (ref->description, "alpha0 = 0.00");
  /* All libraries, then every spectrum. */
  CU_ASSERT_EQUAL_FATAL (gs_scenario_load_libraries (s), 0);
  for (t = 0; t < (int)s->n[0]; t++)
    {
      double y[1024];
      CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TRAIN, (size_t)t, y),
                       0);
    }
  gs_scenario_free (s);
  /* Scenario 1: the only library is the reference one. */
  gs_scenario_opts_init (&o, GS_SCENARIO_KNOWN);
  o.source = GS_SCENARIO_EMBEDDED;
  o.n_spectra = 5;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_PTR_NULL (gs_scenario_lambda_title (s));
  CU_ASSERT (isnan (gs_scenario_lambda_value (s, 0)));
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (s, &ref), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_library (s, 0, &l1), 0);
  CU_ASSERT_PTR_EQUAL (ref, l1);
  CU_ASSERT_EQUAL (ref->n_components, 10);
  GS_ASSERT_CONTAINS (ref->description, "embedded model, steel 0.001 mm");
  gs_scenario_free (s);
}

/* The same options give bit-identical libraries and spectra. */
static void
test_embedded_determinism (void)
{
  gs_scenario_opts o;
  gs_scenario *a = NULL, *b = NULL;
  double ya[1024], yb[1024];
  size_t i, sp;
  gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
  o.source = GS_SCENARIO_EMBEDDED;
  o.n_spectra = 12;
  o.seed = 77;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &a), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &b), 0);
  for (sp = 0; sp < 3; sp++)
    for (i = 0; i < a->n[sp]; i++)
      {
        const gs_library *la, *lb;
        CU_ASSERT_EQUAL_FATAL (gs_scenario_spectrum (a, (gs_split)sp, i, ya),
                               0);
        CU_ASSERT_EQUAL_FATAL (gs_scenario_spectrum (b, (gs_split)sp, i, yb),
                               0);
        CU_ASSERT_EQUAL (memcmp (ya, yb, sizeof ya), 0);
        CU_ASSERT_EQUAL_FATAL (gs_scenario_library (a, a->lambda[sp][i], &la),
                               0);
        CU_ASSERT_EQUAL_FATAL (gs_scenario_library (b, b->lambda[sp][i], &lb),
                               0);
        CU_ASSERT_EQUAL (memcmp (la->signatures, lb->signatures,
                                 1024 * a->n_components * sizeof (double)),
                         0);
      }
  gs_scenario_free (a);
  gs_scenario_free (b);
}

static void
test_embedded_bad_options (void)
{
  gs_scenario_opts o;
  gs_scenario *s = NULL;
  const gs_library *lib;
  double y[1024];
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.source = (gs_scenario_source)7;
  o.n_spectra = 10;
  CU_ASSERT_EQUAL (gs_scenario_generate (&o, &s), GS_EINVAL);
  CU_ASSERT_PTR_NULL (s);
  GS_ASSERT_CONTAINS (gs_last_error (), "source 7 unknown");
  o.source = (gs_scenario_source)-1;
  CU_ASSERT_EQUAL (gs_scenario_generate (&o, &s), GS_EINVAL);
  /* A bad base detector option surfaces when a library is built, with the
   * scenario and library index in front. */
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.source = GS_SCENARIO_EMBEDDED;
  o.n_spectra = 10;
  o.embedded.fwhm_662 = 0.9;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &s), 0);
  CU_ASSERT_EQUAL (gs_scenario_spectrum (s, GS_SPLIT_TRAIN, 0, y), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "scenario 2, library");
  GS_ASSERT_CONTAINS (gs_last_error (), "fwhm_662");
  CU_ASSERT_EQUAL (gs_scenario_reference_library (s, &lib), GS_EINVAL);
  CU_ASSERT_PTR_NULL (lib);
  CU_ASSERT_EQUAL (gs_scenario_library (s, 96, &lib), GS_EINVAL);
  /* A source changed behind the API's back. */
  s->embedded.fwhm_662 = 0.07;
  s->source = (gs_scenario_source)5;
  CU_ASSERT_EQUAL (gs_scenario_library (s, 3, &lib), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "source 5 unknown");
  s->source = GS_SCENARIO_EMBEDDED;
  CU_ASSERT_EQUAL (gs_scenario_library (s, 3, &lib), 0);
  gs_scenario_free (s);
  CU_ASSERT_EQUAL (gs_scenario_reference_library (NULL, &lib), GS_EINVAL);
  CU_ASSERT_PTR_NULL (gs_scenario_lambda_title (NULL));
  CU_ASSERT (isnan (gs_scenario_lambda_value (NULL, 0)));
}

/* With the data: the GammaBench reference libraries, and the embedded
 * gain shift against the drift files (same Cs137 peak channel within
 * one). */
static void
test_embedded_vs_gammabench (void)
{
  char *root = gb_root ("scenario: embedded vs GammaBench");
  gs_scenario_opts o;
  gs_scenario *gb = NULL, *em = NULL;
  const gs_library *lg, *le;
  gs_library *ref = NULL;
  gs_gammabench_opts go;
  int k;
  if (!root)
    return;
  gs_scenario_opts_init (&o, GS_SCENARIO_DEFORMATION);
  o.n_spectra = 10;
  o.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &gb), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (gb, &lg), 0);
  gs_gammabench_opts_init (&go, root);
  go.nuclides = gb->names + 1;
  go.n_nuclides = gb->n_components - 1;
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&go, &ref), 0);
  CU_ASSERT_EQUAL (memcmp (lg->signatures, ref->signatures,
                           1024 * gb->n_components * sizeof (double)),
                   0);
  gs_library_free (ref);
  gs_scenario_free (gb);
  gb = NULL;

  gs_scenario_opts_init (&o, GS_SCENARIO_GAIN_SHIFT);
  o.n_spectra = 10;
  o.root = root;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &gb), 0);
  o.source = GS_SCENARIO_EMBEDDED;
  CU_ASSERT_EQUAL_FATAL (gs_scenario_generate (&o, &em), 0);
  CU_ASSERT_EQUAL_FATAL (gs_scenario_reference_library (gb, &lg), 0);
  GS_ASSERT_CONTAINS (lg->description, "alpha0 = 0.00");
  for (k = 0; k <= 20; k += 10)
    {
      long jg, je;
      size_t pg, pe;
      CU_ASSERT_EQUAL_FATAL (gs_scenario_library (gb, k, &lg), 0);
      CU_ASSERT_EQUAL_FATAL (gs_scenario_library (em, k, &le), 0);
      jg = gs_library_find (lg, "Cs137");
      je = gs_library_find (le, "Cs137");
      CU_ASSERT_FATAL (jg > 0 && je > 0);
      pg = argmax_col (lg, (size_t)jg, 0, 1024);
      pe = argmax_col (le, (size_t)je, 0, 1024);
      CU_ASSERT (pe + 1 >= pg && pe <= pg + 1);
      CU_ASSERT_EQUAL (pg, k == 0 ? 353 : k == 10 ? 320 : 287);
    }
  gs_scenario_free (gb);
  gs_scenario_free (em);
  free (root);
}

void gs_test_register_scenario (void);
void
gs_test_register_scenario (void)
{
  CU_pSuite s = CU_add_suite ("scenario", NULL, NULL);
  CU_add_test (s, "split sizes", test_split_sizes);
  CU_add_test (s, "table statistics (200000 rows)", test_table_statistics);
  CU_add_test (s, "thickness split", test_thickness_split);
  CU_add_test (s, "thickness and shift indices", test_lambdas);
  CU_add_test (s, "determinism", test_determinism);
  CU_add_test (s, "bad options", test_bad_options);
  CU_add_test (s, "spectra (data)", test_spectra);
  CU_add_test (s, "embedded: deformation without data",
               test_embedded_deformation);
  CU_add_test (s, "embedded: gain shift direction", test_embedded_gain_shift);
  CU_add_test (s, "embedded: determinism", test_embedded_determinism);
  CU_add_test (s, "embedded: bad options", test_embedded_bad_options);
  CU_add_test (s, "embedded vs GammaBench (data)", test_embedded_vs_gammabench);
}
