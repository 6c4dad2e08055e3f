/* Threshold calibration of score-based identifiers to a target
 * per-spectrum false-positive rate (gammabench-spec.md 4.4), shared by
 * every method that outputs scores (classifier probabilities, regression
 * weights, test statistics).  Higher score = more likely present;
 * prediction is score > t. */
#ifndef GSPEC_CALIBRATE_H
#define GSPEC_CALIBRATE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gs_calibrate_mode
{
  /* The spec's rule: t* = grid[argmin (FPR(t) - target)^2], the first
   * grid point on ties. */
  GS_CALIBRATE_GRID = 0,
  /* Exact: the smallest t with FPR(t) <= target, from the order
   * statistics of the per-spectrum maximum score over absent
   * components; ties never push the realised FPR above the target. */
  GS_CALIBRATE_QUANTILE = 1
} gs_calibrate_mode;

typedef struct gs_calibrate_opts
{
  gs_calibrate_mode mode;
  double target_fpr;  /* per-spectrum FPR, e.g. 0.01 */
  const double *grid; /* GRID mode: n_grid thresholds (caller-owned) */
  size_t n_grid;
  /* 0: one threshold for all evaluated components (the spec).  1: one per
   * component, each calibrated so that the fraction of the n spectra in
   * which it is a false positive meets the Sidak share
   * 1 - (1 - target)^(1 / K_eval); the realised per-spectrum FPR is then
   * reported, not guaranteed. */
  int per_component;
  /* 0: column 0 (background) is not evaluated (classifiers, unmixing);
   * 1: it is (regression CNN, spec 4.4). */
  int include_background;
} gs_calibrate_opts;

typedef struct gs_calibration
{
  size_t n;          /* validation spectra */
  size_t n_fp;       /* spectra with >= 1 false positive at the result */
  double fpr;        /* n_fp / n: the realised validation FPR */
  size_t grid_index; /* GRID, common threshold: index of t*; else 0 */
} gs_calibration;

/* Fills numpy.linspace (a, b, m): a + i (b - a) / (m - 1), the last point
 * exactly b; m = 1 gives a.  The classifier grid is linspace (0.1, 0.9,
 * 81), the regression grid linspace (0.001, 0.101, 51). */
void gs_linspace (double a, double b, size_t m, double *out);

/* Calibrates on n validation spectra x K components.  scores and truth
 * are n x K row-major (truth > 0 means present); scores must be finite
 * for evaluated components.  thresholds (K entries, caller-owned) gets
 * the threshold of each evaluated component (the same value everywhere
 * for a common threshold) and +INFINITY for a column not evaluated.  In
 * QUANTILE mode a threshold can be -INFINITY when the target allows every
 * spectrum to be a false positive or no spectrum has an absent
 * component. */
int gs_calibrate_thresholds (size_t n, size_t K, const double *scores,
                             const double *truth,
                             const gs_calibrate_opts *opts,
                             double *thresholds, gs_calibration *out);

/* Per-spectrum FPR of the decisions score > thresholds[j] (evaluated
 * columns j >= 1, or >= 0 with include_background): the number of
 * spectra with some absent component scoring above its threshold. */
size_t gs_calibrate_count_fp (size_t n, size_t K, const double *scores,
                              const double *truth, int include_background,
                              const double *thresholds);

#ifdef __cplusplus
}
#endif
#endif
