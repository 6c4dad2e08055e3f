/* Metrics against hand-computed cases. */
#include <CUnit/CUnit.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gspec/metrics.h"
#include "gspec/status.h"
#include "test_util.h"

static void
test_wilson (void)
{
  /* 1 of 3 at 95 %: z = 1.959964, p = 1/3, den = 1 + z^2/3;
   * centre = (p + z^2/6) / den, half = z sqrt(p(1-p)/3 + z^2/36) / den
   * gives [0.0614919, 0.7923404]. */
  gs_rate r = gs_rate_wilson (1, 3, 0.95);
  CU_ASSERT_DOUBLE_EQUAL (r.value, 1.0 / 3.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (r.lo, 0.0614919, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL (r.hi, 0.7923404, 1e-6);
  /* 0 of 10: lower bound 0, upper z^2/(n+z^2) = 0.2775328. */
  r = gs_rate_wilson (0, 10, 0.95);
  CU_ASSERT_DOUBLE_EQUAL (r.lo, 0.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (r.hi, 0.2775328, 1e-6);
  r = gs_rate_wilson (0, 0, 0.95);
  CU_ASSERT (isnan (r.value));
}

static void
test_identification (void)
{
  /* Columns: background, A, B, C.  Spectra:
   * 0: truth {A},   pred {A, C}  -> FP only
   * 1: truth {A,B}, pred {A}     -> FN only
   * 2: truth {},    pred {}      -> correct
   * 3: truth {A},   pred {B}     -> FP and FN
   * The background column is ignored (pred says absent, truth present). */
  const double truth[16] = { 10, 5, 0, 0, 10, 5, 5, 0,
                             10, 0, 0, 0, 10, 5, 0, 0 };
  const int present[16] = { 0, 1, 0, 1, 0, 1, 0, 0,
                            0, 0, 0, 0, 0, 0, 1, 0 };
  gs_ident_metrics m;
  CU_ASSERT_EQUAL (gs_metrics_identification (4, 4, truth, present, 0, &m),
                   0);
  CU_ASSERT_EQUAL (m.ppr.k, 1);
  CU_ASSERT_EQUAL (m.fprr.k, 3);
  CU_ASSERT_EQUAL (m.fpr.k, 2);
  CU_ASSERT_EQUAL (m.fnr.k, 2);
  CU_ASSERT_EQUAL (m.ppr.n, 4);
  /* Hamming: 2 + 2 + 3 + 1 correct labels of 12. */
  CU_ASSERT_EQUAL (m.accuracy.k, 8);
  CU_ASSERT_EQUAL (m.accuracy.n, 12);
  /* With the background: every spectrum misses it. */
  CU_ASSERT_EQUAL (gs_metrics_identification (4, 4, truth, present, 1, &m),
                   0);
  CU_ASSERT_EQUAL (m.fnr.k, 4);
  CU_ASSERT_EQUAL (m.ppr.k, 0);
}

static void
test_quantification (void)
{
  const double truth[6] = { 50, 50, 0, 100, 0, 300 };
  const double est[6] = { 40, 60, 0, 100, 0, 300 };
  const double bad[6] = { 40, NAN, 0, 100, 0, 300 };
  gs_quant_metrics q;
  CU_ASSERT_EQUAL (gs_metrics_quantification (2, 3, truth, est, &q), 0);
  /* (0.1^2 + 0.1^2) / 6 */
  CU_ASSERT_DOUBLE_EQUAL (q.mse_weights, 0.02 / 6, 1e-15);
  /* pairs: 0.2, 0.2, 0, 0 */
  CU_ASSERT_EQUAL (q.rae_pairs, 4);
  CU_ASSERT_DOUBLE_EQUAL (q.rae, 0.1, 1e-15);
  CU_ASSERT_NOT_EQUAL (gs_metrics_quantification (2, 3, truth, bad, &q), 0);
}


/* The 4-spectrum case of test_identification, shared below.  Columns:
 * background, A, B, C.
 * 0: truth {A},   pred {A, C}  -> FP only, total 15
 * 1: truth {A,B}, pred {A}     -> FN only, total 20
 * 2: truth {},    pred {}      -> correct, total 10
 * 3: truth {A},   pred {B}     -> FP and FN, total 15 */
static const double id_truth[16] = { 10, 5, 0, 0, 10, 5, 5, 0,
                                     10, 0, 0, 0, 10, 5, 0, 0 };
static const int id_present[16] = { 0, 1, 0, 1, 0, 1, 0, 0,
                                    0, 0, 0, 0, 0, 0, 1, 0 };

static void
test_binomial_band (void)
{
  /* n = 100, p = 0.01: P(K<=0) = 0.99^100 = 0.3660, P(K<=1) = 0.7358,
   * P(K<=2) = 0.9206, P(K<=3) = 0.9816, P(K<=4) = 0.9966, so the 0.005,
   * 0.5, 0.995 quantiles are 0, 1, 4. */
  gs_binom_band b;
  double k, q2;
  size_t lo, hi, n;
  CU_ASSERT_EQUAL (gs_binomial_band (100, 0.01, 0.99, &b), 0);
  CU_ASSERT_EQUAL (b.lo, 0);
  CU_ASSERT_EQUAL (b.mid, 1);
  CU_ASSERT_EQUAL (b.hi, 4);
  CU_ASSERT (gsl_cdf_binomial_P (0, 0.01, 100) >= 0.005);
  CU_ASSERT (gsl_cdf_binomial_P (3, 0.01, 100) < 0.995);
  CU_ASSERT (gsl_cdf_binomial_P (4, 0.01, 100) >= 0.995);
  /* bdtrik: q below the CDF at 0 clamps to 0; the others solve
   * I_{1-p}(n-k, k+1) = q, checked with an independent beta call. */
  CU_ASSERT_DOUBLE_EQUAL (b.lo_c, 0.0, 0);
  CU_ASSERT (b.mid_c > 0 && b.mid_c < 1);
  CU_ASSERT (b.hi_c > 3 && b.hi_c < 4);
  CU_ASSERT_DOUBLE_EQUAL (gsl_sf_beta_inc (100 - b.hi_c, b.hi_c + 1, 0.99),
                          0.995, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (gsl_sf_beta_inc (100 - b.mid_c, b.mid_c + 1,
                                           0.99),
                          0.5, 1e-9);
  /* At an integer k the continued CDF is the binomial CDF, so q = P(K<=2)
   * inverts to k = 2. */
  q2 = gsl_cdf_binomial_P (2, 0.01, 100);
  CU_ASSERT_EQUAL (gs_binomial_quantile_continuous (q2, 100, 0.01, &k), 0);
  CU_ASSERT_DOUBLE_EQUAL (k, 2.0, 1e-8);
  /* The defining property of the discrete lower quantile where it is not
   * 0: P(K <= lo) >= 0.005 > P(K <= lo - 1). */
  for (n = 1000; n <= 40000; n *= 4)
    {
      lo = gs_binomial_quantile (0.005, n, 0.01);
      hi = gs_binomial_quantile (0.995, n, 0.01);
      CU_ASSERT (lo > 0);
      CU_ASSERT (gsl_cdf_binomial_P ((unsigned)lo, 0.01, (unsigned)n)
                 >= 0.005);
      CU_ASSERT (gsl_cdf_binomial_P ((unsigned)lo - 1, 0.01, (unsigned)n)
                 < 0.005);
      CU_ASSERT (gsl_cdf_binomial_P ((unsigned)hi, 0.01, (unsigned)n)
                 >= 0.995);
      CU_ASSERT (gsl_cdf_binomial_P ((unsigned)hi - 1, 0.01, (unsigned)n)
                 < 0.995);
      CU_ASSERT_EQUAL (gs_binomial_band (n, 0.01, 0.99, &b), 0);
      /* Discrete = ceil (continuous). */
      CU_ASSERT_DOUBLE_EQUAL (b.lo, ceil (b.lo_c), 0);
      CU_ASSERT_DOUBLE_EQUAL (b.hi, ceil (b.hi_c), 0);
    }
  CU_ASSERT_EQUAL (gs_binomial_band (0, 0.01, 0.99, &b), 0);
  CU_ASSERT_EQUAL (b.hi, 0);
  CU_ASSERT_NOT_EQUAL (gs_binomial_band (10, 1.5, 0.99, &b), 0);
}

static void
test_quantile_edges (void)
{
  const double v[5] = { 5, 1, 4, 2, 3 };
  const double tied[5] = { 1, 1, 1, 2, 1 };
  double e[5];
  /* Q = 2: quantiles 0, 0.5, 1 of 1..5 are 1, 3, 5; 3 goes to bin 0. */
  CU_ASSERT_EQUAL (gs_quantile_edges (5, v, 2, e), 0);
  CU_ASSERT_DOUBLE_EQUAL (e[0], 1, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[1], 3, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[2], 5, 0);
  CU_ASSERT_EQUAL (gs_bin_index (1, 2, e), 0);
  CU_ASSERT_EQUAL (gs_bin_index (3, 2, e), 0);
  CU_ASSERT_EQUAL (gs_bin_index (3.5, 2, e), 1);
  CU_ASSERT_EQUAL (gs_bin_index (9, 2, e), 1);
  /* Q = 4 over 1..5: edges 1, 2, 3, 4, 5. */
  CU_ASSERT_EQUAL (gs_quantile_edges (5, v, 4, e), 0);
  CU_ASSERT_DOUBLE_EQUAL (e[1], 2, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[3], 4, 0);
  CU_ASSERT_EQUAL (gs_bin_index (2, 4, e), 0);
  CU_ASSERT_EQUAL (gs_bin_index (5, 4, e), 3);
  /* Ties: edges 1, 1, 1, 1, 2; every 1 lands in bin 0, bins 1-2 empty. */
  CU_ASSERT_EQUAL (gs_quantile_edges (5, tied, 4, e), 0);
  CU_ASSERT_DOUBLE_EQUAL (e[3], 1, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[4], 2, 0);
  CU_ASSERT_EQUAL (gs_bin_index (1, 4, e), 0);
  CU_ASSERT_EQUAL (gs_bin_index (2, 4, e), 3);
  CU_ASSERT_NOT_EQUAL (gs_quantile_edges (0, v, 2, e), 0);
}

static void
test_recall_by_counts (void)
{
  /* Columns: background, A.  A counts 10, 20, 30, 40 predicted
   * 0, 1, 1, 1; a fifth spectrum without A (a false positive) is ignored.
   * Q = 2: edges 10, 25, 40; recall 1/2 and 2/2. */
  const double truth[10] = { 50, 10, 50, 20, 50, 30, 50, 40, 50, 0 };
  const int pred[10] = { 0, 0, 0, 1, 0, 1, 0, 1, 0, 1 };
  /* Ties: A counts 5, 5, 5, 9: Q = 3 edges 5, 5, 5, 9: bin 1 empty. */
  const double tied[8] = { 1, 5, 1, 5, 1, 5, 1, 9 };
  const int tpred[8] = { 0, 1, 0, 0, 0, 1, 0, 1 };
  double e[4];
  gs_rate r[3];
  CU_ASSERT_EQUAL (gs_metrics_recall_by_counts (5, 2, truth, pred, 1, 2, e,
                                                r),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (e[1], 25, 1e-12);
  CU_ASSERT_EQUAL (r[0].k, 1);
  CU_ASSERT_EQUAL (r[0].n, 2);
  CU_ASSERT_EQUAL (r[1].k, 2);
  CU_ASSERT_EQUAL (r[1].n, 2);
  CU_ASSERT_EQUAL (gs_metrics_recall_by_counts (4, 2, tied, tpred, 1, 3, e,
                                                r),
                   0);
  CU_ASSERT_EQUAL (r[0].k, 2);
  CU_ASSERT_EQUAL (r[0].n, 3);
  CU_ASSERT_EQUAL (r[1].n, 0);
  CU_ASSERT (isnan (r[1].value));
  CU_ASSERT_EQUAL (r[2].k, 1);
  CU_ASSERT_EQUAL (r[2].n, 1);
  /* A component absent from every spectrum is an error. */
  {
    const double none[4] = { 1, 0, 1, 0 };
    const int np[4] = { 0, 0, 0, 0 };
    CU_ASSERT_NOT_EQUAL (gs_metrics_recall_by_counts (2, 2, none, np, 1, 2,
                                                      e, r),
                         0);
  }
}

static void
test_by_group (void)
{
  /* Groups {0, 1, 0, 1}, G = 3: group 0 = spectra 0 (FP) and 2 (correct):
   * FP 1, FN 0, wrong 1, Hamming (2 + 3)/6; group 1 = spectra 1 (FN) and
   * 3 (FP+FN): FP 1, FN 2, wrong 2, Hamming (2 + 1)/6; group 2 empty.
   * Band for n = 2, p = 0.01: P(K<=0) = 0.9801, P(K<=1) = 0.9999, so
   * 0, 0, 1. */
  const int group[4] = { 0, 1, 0, 1 };
  const int bad[4] = { 0, 1, 3, 1 };
  gs_group_metrics g[3];
  CU_ASSERT_EQUAL (gs_metrics_by_group (4, 4, id_truth, id_present, 0,
                                        group, 3, 0.01, 0.99, g),
                   0);
  CU_ASSERT_EQUAL (g[0].n, 2);
  CU_ASSERT_EQUAL (g[0].m.fpr.k, 1);
  CU_ASSERT_EQUAL (g[0].m.fnr.k, 0);
  CU_ASSERT_EQUAL (g[0].m.fprr.k, 1);
  CU_ASSERT_EQUAL (g[0].m.accuracy.k, 5);
  CU_ASSERT_EQUAL (g[0].m.accuracy.n, 6);
  CU_ASSERT_EQUAL (g[1].m.fpr.k, 1);
  CU_ASSERT_EQUAL (g[1].m.fnr.k, 2);
  CU_ASSERT_EQUAL (g[1].m.ppr.k, 0);
  CU_ASSERT_EQUAL (g[1].m.accuracy.k, 3);
  CU_ASSERT_EQUAL (g[2].n, 0);
  CU_ASSERT (isnan (g[2].m.fpr.value));
  CU_ASSERT_DOUBLE_EQUAL (g[0].band.lo, 0, 0);
  CU_ASSERT_DOUBLE_EQUAL (g[0].band.mid, 0, 0);
  CU_ASSERT_DOUBLE_EQUAL (g[0].band.hi, 1, 0);
  CU_ASSERT_NOT_EQUAL (gs_metrics_by_group (4, 4, id_truth, id_present, 0,
                                            bad, 3, 0.01, 0.99, g),
                       0);
}

static void
test_by_counts_and_present (void)
{
  /* Totals 15, 20, 10, 15: Q = 3 edges are the 0, 1/3, 2/3, 1 quantiles
   * of {10, 15, 15, 20} = 10, 15, 15, 20.  Bin 0 = spectra 0, 2, 3 (FP in
   * 0 and 3), bin 1 empty, bin 2 = spectrum 1 (FN only). */
  double e[4];
  int lab[4];
  gs_group_metrics g[5];
  CU_ASSERT_EQUAL (gs_metrics_count_levels (4, 4, id_truth, 3, e, lab), 0);
  CU_ASSERT_EQUAL (lab[0], 0);
  CU_ASSERT_EQUAL (lab[1], 2);
  CU_ASSERT_EQUAL (lab[2], 0);
  CU_ASSERT_EQUAL (lab[3], 0);
  CU_ASSERT_EQUAL (gs_metrics_by_total_counts (4, 4, id_truth, id_present, 0,
                                               3, 0.01, 0.99, e, g),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (e[0], 10, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[1], 15, 0);
  CU_ASSERT_DOUBLE_EQUAL (e[3], 20, 0);
  CU_ASSERT_EQUAL (g[0].n, 3);
  CU_ASSERT_EQUAL (g[0].m.fpr.k, 2);
  CU_ASSERT_EQUAL (g[1].n, 0);
  CU_ASSERT (isnan (g[1].m.fpr.value));
  CU_ASSERT_EQUAL (g[2].n, 1);
  CU_ASSERT_EQUAL (g[2].m.fpr.k, 0);
  CU_ASSERT_EQUAL (g[2].m.fnr.k, 1);
  /* Number present (background excluded): 1, 2, 0, 1.
   * m = 0: spectrum 2; m = 1: spectra 0, 3 (FP 2, FN 1); m = 2:
   * spectrum 1 (FN); m = 3: none. */
  CU_ASSERT_EQUAL (gs_metrics_by_n_present (4, 4, id_truth, id_present, 0,
                                            0.01, 0.99, g),
                   0);
  CU_ASSERT_EQUAL (g[0].n, 1);
  CU_ASSERT_EQUAL (g[0].m.fpr.k, 0);
  CU_ASSERT_EQUAL (g[1].n, 2);
  CU_ASSERT_EQUAL (g[1].m.fpr.k, 2);
  CU_ASSERT_EQUAL (g[1].m.fnr.k, 1);
  CU_ASSERT_EQUAL (g[2].n, 1);
  CU_ASSERT_EQUAL (g[2].m.fnr.k, 1);
  CU_ASSERT_EQUAL (g[3].n, 0);
  /* With the background every spectrum has one more. */
  CU_ASSERT_EQUAL (gs_metrics_by_n_present (4, 4, id_truth, id_present, 1,
                                            0.01, 0.99, g),
                   0);
  CU_ASSERT_EQUAL (g[0].n, 0);
  CU_ASSERT_EQUAL (g[1].n, 1);
  CU_ASSERT_EQUAL (g[2].n, 2);
}

static void
test_relerr_by_counts (void)
{
  /* A counts 100, 200, 300, 400 estimated 110, 180, 300, 500; a fifth
   * spectrum without A is ignored.  Q = 2, edges 100, 250, 400.
   * Bin 0: signed {-0.1, 0.1}: quantiles -0.1 + 0.2 f = -0.09, 0, 0.09;
   * abs {0.1, 0.1}.  Bin 1: {0, 0.25}: 0.0125, 0.125, 0.2375 (both). */
  const double truth[10] = { 9, 100, 9, 200, 9, 300, 9, 400, 9, 0 };
  const double est[10] = { 9, 110, 9, 180, 9, 300, 9, 500, 9, 5 };
  const double tied[8] = { 9, 100, 9, 100, 9, 100, 9, 400 };
  const double nan_est[10] = { 9, 110, 9, NAN, 9, 300, 9, 500, 9, 5 };
  gs_relerr_bin b[3];
  CU_ASSERT_EQUAL (gs_metrics_relerr_by_counts (5, 2, truth, est, 1, 2, b),
                   0);
  CU_ASSERT_EQUAL (b[0].n, 2);
  CU_ASSERT_DOUBLE_EQUAL (b[0].hi, 250, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[0].signed_q[0], -0.09, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[0].signed_q[1], 0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[0].signed_q[2], 0.09, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[0].abs_q[0], 0.1, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[0].abs_q[2], 0.1, 1e-12);
  CU_ASSERT_EQUAL (b[1].n, 2);
  CU_ASSERT_DOUBLE_EQUAL (b[1].signed_q[0], 0.0125, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[1].signed_q[1], 0.125, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[1].abs_q[2], 0.2375, 1e-12);
  /* Ties 100, 100, 100, 400 in 3 bins: bin 1 is empty (NaN). */
  CU_ASSERT_EQUAL (gs_metrics_relerr_by_counts (4, 2, tied, est, 1, 3, b),
                   0);
  CU_ASSERT_EQUAL (b[0].n, 3);
  CU_ASSERT_EQUAL (b[1].n, 0);
  CU_ASSERT (isnan (b[1].signed_q[1]));
  CU_ASSERT_EQUAL (b[2].n, 1);
  CU_ASSERT_DOUBLE_EQUAL (b[2].signed_q[1], 0.25, 1e-12);
  CU_ASSERT_NOT_EQUAL (gs_metrics_relerr_by_counts (5, 2, truth, nan_est, 1,
                                                    2, b),
                       0);
}

static void
test_mcnemar (void)
{
  int a[40], bb[40], ok[4];
  size_t i;
  gs_mcnemar m;
  /* Perfect predictions of the shared case: only spectrum 2. */
  CU_ASSERT_EQUAL (gs_metrics_perfect (4, 4, id_truth, id_present, 0, ok),
                   0);
  CU_ASSERT (!ok[0] && !ok[1] && ok[2] && !ok[3]);
  /* b = 1, c = 5, 4 ties: exact, p = 2 (1 + 6) / 64 = 0.21875. */
  for (i = 0; i < 10; i++)
    {
      a[i] = i < 1 || i >= 6;
      bb[i] = i >= 1;
    }
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (10, a, bb, &m), 0);
  CU_ASSERT_EQUAL (m.b, 1);
  CU_ASSERT_EQUAL (m.c, 5);
  CU_ASSERT (m.exact);
  CU_ASSERT_DOUBLE_EQUAL (m.statistic, 1, 0);
  CU_ASSERT_DOUBLE_EQUAL (m.p_value, 14.0 / 64.0, 1e-12);
  /* b = c = 3: 2 P(X <= 3) = 2 * 42/64 > 1, capped at 1. */
  for (i = 0; i < 6; i++)
    {
      a[i] = i < 3;
      bb[i] = i >= 3;
    }
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (6, a, bb, &m), 0);
  CU_ASSERT_DOUBLE_EQUAL (m.p_value, 1, 0);
  /* No discordant pairs: p = 1. */
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (6, a, a, &m), 0);
  CU_ASSERT_EQUAL (m.b + m.c, 0);
  CU_ASSERT_DOUBLE_EQUAL (m.p_value, 1, 0);
  /* b = 20, c = 10: asymptotic, (|20 - 10| - 1)^2 / 30 = 2.7;
   * P(chi2_1 > x) = erfc (sqrt (x / 2)). */
  for (i = 0; i < 30; i++)
    {
      a[i] = i < 20;
      bb[i] = i >= 20;
    }
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (30, a, bb, &m), 0);
  CU_ASSERT (!m.exact);
  CU_ASSERT_DOUBLE_EQUAL (m.statistic, 2.7, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (m.p_value, erfc (sqrt (2.7 / 2)), 1e-12);
  /* Boundary: b + c = 24 is exact, 25 asymptotic. */
  for (i = 0; i < 25; i++)
    {
      a[i] = i < 12;
      bb[i] = i >= 12;
    }
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (24, a, bb, &m), 0);
  CU_ASSERT (m.exact);
  CU_ASSERT_EQUAL (gs_metrics_mcnemar (25, a, bb, &m), 0);
  CU_ASSERT (!m.exact);
  CU_ASSERT_EQUAL (m.b, 12);
  CU_ASSERT_EQUAL (m.c, 13);
  CU_ASSERT_DOUBLE_EQUAL (m.statistic, 0, 0);
  CU_ASSERT_DOUBLE_EQUAL (m.p_value, 1, 1e-12);
}

static void
test_component_accuracy (void)
{
  /* Background: truth present, never predicted -> 0/4.  A: truth
   * 1,1,0,1 pred 1,1,0,0 -> 3/4.  B: truth 0,1,0,0 pred 0,0,0,1 -> 2/4.
   * C: truth 0 everywhere, pred 1,0,0,0 -> 3/4. */
  gs_rate r[4];
  CU_ASSERT_EQUAL (gs_metrics_component_accuracy (4, 4, id_truth,
                                                  id_present, r),
                   0);
  CU_ASSERT_EQUAL (r[0].k, 0);
  CU_ASSERT_EQUAL (r[1].k, 3);
  CU_ASSERT_EQUAL (r[2].k, 2);
  CU_ASSERT_EQUAL (r[3].k, 3);
  CU_ASSERT_EQUAL (r[3].n, 4);
}

void gs_test_register_metrics (void);
/* AUC against its definition: every positive-negative pair (ties 1/2),
 * and DeLong's standard error from placements counted pair by pair. */
static void
brute_auc (size_t n, const double *x, const int *pos, double *auc, double *se)
{
  size_t i, j, n1 = 0, n0 = 0;
  double *v = malloc (n * sizeof *v), m10 = 0, m01 = 0, s10 = 0, s01 = 0;
  for (i = 0; i < n; i++)
    n1 += pos[i] != 0;
  n0 = n - n1;
  for (i = 0; i < n; i++)
    {
      double c = 0;
      for (j = 0; j < n; j++)
        if ((pos[i] != 0) != (pos[j] != 0))
          {
            double a = pos[i] ? x[i] : x[j], b = pos[i] ? x[j] : x[i];
            c += a > b ? 1 : a == b ? 0.5 : 0;
          }
      v[i] = c / (double)(pos[i] ? n0 : n1);
      if (pos[i])
        m10 += v[i];
      else
        m01 += v[i];
    }
  m10 /= (double)n1;
  m01 /= (double)n0;
  for (i = 0; i < n; i++)
    if (pos[i])
      s10 += (v[i] - m10) * (v[i] - m10);
    else
      s01 += (v[i] - m01) * (v[i] - m01);
  *auc = m10;
  *se = sqrt ((n1 > 1 ? s10 / (double)(n1 - 1) : 0) / (double)n1
              + (n0 > 1 ? s01 / (double)(n0 - 1) : 0) / (double)n0);
  free (v);
}

static void
test_auc (void)
{
  gs_auc a;
  /* Hand case with ties: pairs 1, 1, 1/2, 1, 1/2, 1 -> 5/6; DeLong's
   * variance 0.0208333/3 + 0.0555556/2 = 5/144. */
  {
    const double x[5] = { 0.9, 0.5, 0.5, 0.5, 0.1 };
    const int p[5] = { 1, 1, 1, 0, 0 };
    CU_ASSERT_EQUAL_FATAL (gs_metrics_auc (5, x, p, 0.95, &a), GS_OK);
    CU_ASSERT (fabs (a.auc - 5.0 / 6.0) < 1e-15);
    CU_ASSERT (fabs (a.se - sqrt (5.0) / 12.0) < 1e-15);
    CU_ASSERT (fabs (a.lo - (5.0 / 6.0 - 1.959963984540054 * sqrt (5.0) / 12.0))
               < 1e-12);
    CU_ASSERT_EQUAL (a.hi, 1.0); /* clipped */
    CU_ASSERT_EQUAL (a.n_pos, 3);
    CU_ASSERT_EQUAL (a.n_neg, 2);
  }
  /* Perfect, reversed, all tied. */
  {
    const double x[6] = { 5, 6, 7, 1, 2, 3 };
    const int p[6] = { 1, 1, 1, 0, 0, 0 }, q[6] = { 0, 0, 0, 1, 1, 1 };
    const double t[6] = { 2, 2, 2, 2, 2, 2 };
    CU_ASSERT_EQUAL (gs_metrics_auc (6, x, p, 0.95, &a), GS_OK);
    CU_ASSERT_EQUAL (a.auc, 1.0);
    CU_ASSERT_EQUAL (a.se, 0.0);
    CU_ASSERT_EQUAL (gs_metrics_auc (6, x, q, 0.95, &a), GS_OK);
    CU_ASSERT_EQUAL (a.auc, 0.0);
    CU_ASSERT_EQUAL (a.lo, 0.0);
    CU_ASSERT_EQUAL (gs_metrics_auc (6, t, p, 0.95, &a), GS_OK);
    CU_ASSERT_EQUAL (a.auc, 0.5);
    CU_ASSERT_EQUAL (a.se, 0.0);
  }
  /* Random scores with many ties (rounded), unbalanced classes: the
   * midrank computation equals the pairwise definition. */
  {
    gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
    size_t n = 401, i, rep;
    double *x = malloc (n * sizeof *x), ba, bs, worst = 0;
    int *p = malloc (n * sizeof *p);
    gsl_rng_set (r, 77);
    for (rep = 0; rep < 20; rep++)
      {
        for (i = 0; i < n; i++)
          {
            p[i] = gsl_rng_uniform (r) < 0.2 + 0.03 * (double)rep;
            x[i] = floor (10 * (gsl_ran_gaussian (r, 1.0) + (p[i] ? 0.8 : 0)))
                   / 10;
          }
        CU_ASSERT_EQUAL_FATAL (gs_metrics_auc (n, x, p, 0.9, &a), GS_OK);
        brute_auc (n, x, p, &ba, &bs);
        CU_ASSERT (fabs (a.auc - ba) < 1e-12);
        CU_ASSERT (fabs (a.se - bs) < 1e-12);
        if (fabs (a.auc - ba) > worst)
          worst = fabs (a.auc - ba);
        if (fabs (a.se - bs) > worst)
          worst = fabs (a.se - bs);
      }
    printf ("\n    AUC and DeLong se vs pairwise definition: worst %.1e",
            worst);
    free (x);
    free (p);
    gsl_rng_free (r);
  }
  /* Bad input. */
  {
    const double x[3] = { 1, NAN, 2 };
    const double y[3] = { 1, 2, 3 };
    const int p[3] = { 1, 0, 1 }, all[3] = { 1, 1, 1 };
    CU_ASSERT_EQUAL (gs_metrics_auc (3, x, p, 0.95, &a), GS_EBADDATA);
    GS_ASSERT_CONTAINS (gs_last_error (), "score 1");
    CU_ASSERT_EQUAL (gs_metrics_auc (3, y, all, 0.95, &a), GS_EINVAL);
    GS_ASSERT_CONTAINS (gs_last_error (), "0 negatives");
    CU_ASSERT_EQUAL (gs_metrics_auc (0, y, p, 0.95, &a), GS_EINVAL);
    CU_ASSERT_EQUAL (gs_metrics_auc (3, y, p, 1.0, &a), GS_EINVAL);
    CU_ASSERT_EQUAL (gs_metrics_auc (3, NULL, p, 0.95, &a), GS_EINVAL);
  }
}

void
gs_test_register_metrics (void)
{
  CU_pSuite s = CU_add_suite ("metrics", NULL, NULL);
  CU_add_test (s, "Wilson interval", test_wilson);
  CU_add_test (s, "identification per spectrum", test_identification);
  CU_add_test (s, "quantification", test_quantification);
  CU_add_test (s, "binomial band", test_binomial_band);
  CU_add_test (s, "quantile bin edges", test_quantile_edges);
  CU_add_test (s, "recall by counts", test_recall_by_counts);
  CU_add_test (s, "breakdown by group", test_by_group);
  CU_add_test (s, "FPR by counts and #present", test_by_counts_and_present);
  CU_add_test (s, "relative error by counts", test_relerr_by_counts);
  CU_add_test (s, "McNemar", test_mcnemar);
  CU_add_test (s, "per-component accuracy", test_component_accuracy);
  CU_add_test (s, "ROC AUC and DeLong's standard error", test_auc);
}
