/* Evaluation metrics (gammabench-spec.md section 6), with 95 % Wilson
 * intervals for every rate. */
#ifndef GSPEC_METRICS_H
#define GSPEC_METRICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A rate k/n with its Wilson score interval at the given confidence. */
typedef struct gs_rate
{
  size_t k, n;
  double value; /* k / n (NaN when n = 0) */
  double lo, hi;
} gs_rate;

/* Wilson score interval for k successes in n trials; conf e.g. 0.95.
 * n = 0 gives value/lo/hi = NaN. */
gs_rate gs_rate_wilson (size_t k, size_t n, double conf);

/* Identification over n spectra and K components (background = column
 * 0).  truth is n x K expected counts (> 0 means present); present is
 * n x K decisions (1 present; anything else absent).  The background is
 * excluded unless include_background.  Per spectrum (spec 6): wrong =
 * predicted set != true set; FP = some predicted component is absent;
 * FN = some present component is missed.  accuracy is the Hamming
 * accuracy over n x (evaluated components). */
typedef struct gs_ident_metrics
{
  gs_rate accuracy, ppr, fprr, fpr, fnr;
} gs_ident_metrics;

int gs_metrics_identification (size_t n, size_t K, const double *truth,
                               const int *present, int include_background,
                               gs_ident_metrics *out);

/* Quantification over n spectra and K components: mse = mean over n x K of
 * (w_hat - w)^2 with w = a / sum(a) and w_hat = c / sum(c) (c estimated
 * counts); rae = mean over pairs with a > 0 (background included) of
 * |c - a| / a.  Non-finite estimates are an error naming the spectrum. */
typedef struct gs_quant_metrics
{
  double mse_weights;
  double rae;
  size_t rae_pairs;
} gs_quant_metrics;

int gs_metrics_quantification (size_t n, size_t K, const double *truth,
                               const double *counts,
                               gs_quant_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
