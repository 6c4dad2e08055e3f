/* Threshold calibration against hand-computed cases. */
#include <CUnit/CUnit.h>
#include <math.h>

#include "gspec/calibrate.h"
#include "test_util.h"

/* Columns: background, A, B.  The per-spectrum maximum score over absent
 * evaluated components (background excluded) is
 * 0: A present, B absent 0.35        -> m = 0.35
 * 1: A absent 0.20, B absent 0.65    -> m = 0.65
 * 2: both present                    -> m = -inf (never a FP)
 * 3: A absent 0.45, B present        -> m = 0.45
 * so #FP(t) = #{m > t}: 3 for t < 0.35, 2 on [0.35, 0.45), 1 on
 * [0.45, 0.65), 0 from 0.65. */
static const double cal_truth[12] = { 100, 50, 0, 100, 0, 0,
                                      100, 50, 50, 100, 0, 50 };
static const double cal_scores[12] = { 0.99, 0.90, 0.35, 0.99, 0.20, 0.65,
                                       0.99, 0.80, 0.70, 0.99, 0.45, 0.95 };

static void
test_linspace (void)
{
  double g[81];
  gs_linspace (0.1, 0.9, 81, g);
  CU_ASSERT_DOUBLE_EQUAL (g[0], 0.1, 0);
  CU_ASSERT_DOUBLE_EQUAL (g[40], 0.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (g[80], 0.9, 0);
  gs_linspace (0.001, 0.101, 51, g);
  CU_ASSERT_DOUBLE_EQUAL (g[15], 0.031, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (g[50], 0.101, 0);
}

static void
test_grid_common (void)
{
  /* Grid 0.1, 0.2, ..., 0.9: #FP = 3,3,3,2,1,1,0,0,0 of 4. */
  double grid[9], t[3];
  gs_calibrate_opts o = { GS_CALIBRATE_GRID, 0.25, NULL, 9, 0, 0 };
  gs_calibration c;
  gs_linspace (0.1, 0.9, 9, grid);
  o.grid = grid;
  /* Target 0.25: FPR 1/4 first reached at 0.5 (index 4). */
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_EQUAL (c.grid_index, 4);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 0.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (t[2], 0.5, 1e-15);
  CU_ASSERT (isinf (t[0]) && t[0] > 0);
  CU_ASSERT_EQUAL (c.n_fp, 1);
  CU_ASSERT_DOUBLE_EQUAL (c.fpr, 0.25, 0);
  /* Target 0.375: FPR 0.5 (t = 0.4) and 0.25 (t = 0.5) are both 0.125
   * away (exact in binary); the first grid point wins: 0.4. */
  o.target_fpr = 0.375;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_EQUAL (c.grid_index, 3);
  CU_ASSERT_EQUAL (c.n_fp, 2);
  /* Target 0: the first t with no FP is 0.7. */
  o.target_fpr = 0;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_EQUAL (c.grid_index, 6);
  CU_ASSERT_EQUAL (c.n_fp, 0);
}

static void
test_grid_background (void)
{
  /* Regression-style: background evaluated.  Spectrum 0: background
   * present, A absent with weight 0.05; spectrum 1: background absent
   * with weight 0.03, A present.  m = {0.05, 0.03}; target 0.5 is met
   * for 0.03 <= t < 0.05, first on the grid linspace (0.001, 0.101, 51)
   * at index 15 (0.031). */
  const double truth[4] = { 10, 0, 0, 10 };
  const double sc[4] = { 0.95, 0.05, 0.03, 0.97 };
  double grid[51], t[2];
  gs_calibrate_opts o = { GS_CALIBRATE_GRID, 0.5, NULL, 51, 0, 1 };
  gs_calibration c;
  gs_linspace (0.001, 0.101, 51, grid);
  o.grid = grid;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (2, 2, sc, truth, &o, t, &c), 0);
  CU_ASSERT_EQUAL (c.grid_index, 15);
  CU_ASSERT_DOUBLE_EQUAL (t[0], grid[15], 0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], grid[15], 0);
  CU_ASSERT_EQUAL (c.n_fp, 1);
}

static void
test_quantile_common (void)
{
  double t[3];
  double tied[12];
  size_t i;
  gs_calibrate_opts o = { GS_CALIBRATE_QUANTILE, 0.25, NULL, 0, 0, 0 };
  gs_calibration c;
  /* Target 0.25 allows 1 FP spectrum of 4: t = second largest m = 0.45
   * (#{m > 0.45} = 1; any smaller t gives 2). */
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 0.45, 0);
  CU_ASSERT_EQUAL (c.n_fp, 1);
  /* Target 0: t = max m = 0.65, no FP. */
  o.target_fpr = 0;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[2], 0.65, 0);
  CU_ASSERT_EQUAL (c.n_fp, 0);
  /* Target 1: every spectrum may be a FP: t = -inf, and the 3 spectra
   * with an absent component are. */
  o.target_fpr = 1;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT (isinf (t[1]) && t[1] < 0);
  CU_ASSERT_EQUAL (c.n_fp, 3);
  /* Ties: spectrum 1's B score lowered to 0.45, so m = {0.35, 0.45, -inf,
   * 0.45}.  Target 0.25: the second largest is 0.45, and at t = 0.45 no
   * spectrum exceeds it: realised FPR 0 <= 0.25 (any t < 0.45 gives 2). */
  for (i = 0; i < 12; i++)
    tied[i] = cal_scores[i];
  tied[5] = 0.45;
  o.target_fpr = 0.25;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, tied, cal_truth, &o, t,
                                            &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 0.45, 0);
  CU_ASSERT_EQUAL (c.n_fp, 0);
}

static void
test_quantile_rounding (void)
{
  /* 100 spectra, one absent component each with score i + 1: target 0.29
   * (0.29 * 100 = 28.999... in binary) allows 29 FPs: t = 71, FPR 0.29. */
  double truth[200], sc[200], t[2];
  size_t i;
  gs_calibrate_opts o = { GS_CALIBRATE_QUANTILE, 0.29, NULL, 0, 0, 0 };
  gs_calibration c;
  for (i = 0; i < 100; i++)
    {
      truth[2 * i] = 10;
      truth[2 * i + 1] = 0;
      sc[2 * i] = 1;
      sc[2 * i + 1] = (double)(i + 1);
    }
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (100, 2, sc, truth, &o, t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 71, 0);
  CU_ASSERT_EQUAL (c.n_fp, 29);
  o.target_fpr = 0.01;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (100, 2, sc, truth, &o, t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 99, 0);
  CU_ASSERT_EQUAL (c.n_fp, 1);
}

static void
test_per_component (void)
{
  /* Target 1 - 0.75^2 = 0.4375 gives the Sidak share 0.25 per component
   * (K_eval = 2): 1 FP spectrum of 4 each.  A absent in spectra 1 (0.20)
   * and 3 (0.45): t_A = 0.20 (spectrum 3 stays a FP).  B absent in 0
   * (0.35) and 1 (0.65): t_B = 0.35 (spectrum 1).  Realised per-spectrum
   * FPR 2/4 = 0.5 > 0.4375: per-component shares do not guarantee it. */
  double t[3], grid[9];
  gs_calibrate_opts o = { GS_CALIBRATE_QUANTILE, 0.4375, NULL, 0, 1, 0 };
  gs_calibration c;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 0.20, 0);
  CU_ASSERT_DOUBLE_EQUAL (t[2], 0.35, 0);
  CU_ASSERT_EQUAL (c.n_fp, 2);
  /* Grid 0.1..0.9: A has #FP 2 at 0.1, 1 on 0.2..0.4 -> first 0.2 (the
   * point 0.2 is 0.2 exactly: 0.20 > 0.2 is false).  B: 2 at 0.1..0.3,
   * 1 on 0.4..0.6 -> 0.4. */
  gs_linspace (0.1, 0.9, 9, grid);
  o.mode = GS_CALIBRATE_GRID;
  o.grid = grid;
  o.n_grid = 9;
  CU_ASSERT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth, &o,
                                            t, &c),
                   0);
  CU_ASSERT_DOUBLE_EQUAL (t[1], 0.2, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (t[2], 0.4, 1e-15);
  CU_ASSERT_EQUAL (c.n_fp, 2);
}

static void
test_bad_input (void)
{
  double t[3], sc[12], grid[1] = { 0.5 };
  size_t i;
  gs_calibrate_opts o = { GS_CALIBRATE_GRID, 0.01, NULL, 0, 0, 0 };
  gs_calibration c;
  CU_ASSERT_NOT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth,
                                                &o, t, &c),
                       0);
  o.grid = grid;
  o.n_grid = 1;
  o.target_fpr = 1.5;
  CU_ASSERT_NOT_EQUAL (gs_calibrate_thresholds (4, 3, cal_scores, cal_truth,
                                                &o, t, &c),
                       0);
  o.target_fpr = 0.01;
  for (i = 0; i < 12; i++)
    sc[i] = cal_scores[i];
  sc[4] = NAN;
  CU_ASSERT_NOT_EQUAL (gs_calibrate_thresholds (4, 3, sc, cal_truth, &o, t,
                                                &c),
                       0);
  CU_ASSERT_NOT_EQUAL (gs_calibrate_thresholds (0, 3, sc, cal_truth, &o, t,
                                                &c),
                       0);
  CU_ASSERT_NOT_EQUAL (gs_calibrate_thresholds (4, 1, cal_scores, cal_truth,
                                                &o, t, &c),
                       0);
}

void gs_test_register_calibrate (void);
void
gs_test_register_calibrate (void)
{
  CU_pSuite s = CU_add_suite ("calibrate", NULL, NULL);
  CU_add_test (s, "linspace grids", test_linspace);
  CU_add_test (s, "grid, common threshold", test_grid_common);
  CU_add_test (s, "grid, background evaluated", test_grid_background);
  CU_add_test (s, "exact quantile, common threshold", test_quantile_common);
  CU_add_test (s, "exact quantile, rounding of target * n",
               test_quantile_rounding);
  CU_add_test (s, "per-component thresholds", test_per_component);
  CU_add_test (s, "bad input rejected", test_bad_input);
}
