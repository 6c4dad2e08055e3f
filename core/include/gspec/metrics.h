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


/* Binomial band for the number of false-positive spectra among n when
 * each is a false positive with probability p (spec 6: scipy
 * bdtrik([0.005, 0.5, 0.995], n, p) for conf = 0.99).  lo/mid/hi are the
 * discrete quantiles at q = (1 - conf) / 2, 0.5, (1 + conf) / 2: the
 * smallest integer k with P(K <= k) >= q (gsl_cdf_binomial_P).  lo_c,
 * mid_c, hi_c are what bdtrik returns: the real k in [0, n] solving
 * I_{1-p}(n - k, k + 1) = q (the binomial CDF continued to real k through
 * the regularized incomplete beta), clamped to 0 when q <= (1-p)^n as
 * scipy does.  Discrete k = ceil of the continuous one up to rounding.
 * All values are counts; divide by n for rates. */
typedef struct gs_binom_band
{
  size_t n;
  double p;
  double lo, mid, hi;
  double lo_c, mid_c, hi_c;
} gs_binom_band;

/* Smallest integer k in [0, n] with P(K <= k) >= q, K ~ Bin(n, p). */
size_t gs_binomial_quantile (double q, size_t n, double p);

/* The real k in [0, n] with I_{1-p}(n - k, k + 1) = q (scipy bdtrik),
 * by Brent root finding; 0 when the CDF at 0 already exceeds q. */
int gs_binomial_quantile_continuous (double q, size_t n, double p,
                                     double *k);

/* Fills *out for n trials, rate p and two-sided confidence conf.
 * n = 0 gives all-zero counts. */
int gs_binomial_band (size_t n, double p, double conf, gs_binom_band *out);

/* Default number of count-quantile bins of the recall figure. */
#define GS_RECALL_BINS_DEFAULT 20
/* Default number of total-count levels (3 equal-population bins). */
#define GS_COUNT_LEVELS_DEFAULT 3

/* Equal-population bin edges of m values: edges[b] is the b/Q quantile of
 * the values (linear interpolation between order statistics, numpy's
 * default), b = 0..Q; edges has Q + 1 entries.  A value x falls in bin b
 * when edges[b] < x <= edges[b+1] (bin 0 also takes x = edges[0]), the
 * pandas.qcut convention; tied values can leave bins empty. */
int gs_quantile_edges (size_t m, const double *values, size_t Q,
                       double *edges);

/* Bin index of x for edges from gs_quantile_edges (Q bins); values
 * outside [edges[0], edges[Q]] are clamped to the end bins. */
size_t gs_bin_index (double x, size_t Q, const double *edges);

/* Recall of component k against its true counts (spec 6, recall figure):
 * among spectra with truth[i*K+k] > 0, Q equal-population bins of those
 * counts; recall[b] is the fraction predicted present (present == 1) in
 * bin b with its 95 % Wilson interval (NaN for an empty bin).  edges has
 * Q + 1 entries, recall Q.  No spectrum containing k is an error. */
int gs_metrics_recall_by_counts (size_t n, size_t K, const double *truth,
                                 const int *present, size_t k, size_t Q,
                                 double *edges, gs_rate *recall);

/* Identification metrics of one group of spectra, with the binomial band
 * of the number of FP spectra at the target per-spectrum FPR. */
typedef struct gs_group_metrics
{
  size_t n;             /* spectra in the group */
  gs_ident_metrics m;   /* rates are NaN for an empty group */
  gs_binom_band band;   /* band for m.fpr.k at target_fpr */
} gs_group_metrics;

/* Breakdown by an integer label per spectrum (thickness index, shift
 * index, count level...): group[i] in [0, G) is required; out has G
 * entries; groups without spectra get n = 0 and NaN rates.  Evaluated
 * components and definitions as in gs_metrics_identification.  band_conf
 * is the band's confidence (0.99 in the spec). */
int gs_metrics_by_group (size_t n, size_t K, const double *truth,
                         const int *present, int include_background,
                         const int *group, size_t G, double target_fpr,
                         double band_conf, gs_group_metrics *out);

/* Count-level label of each spectrum: Q equal-population bins of its
 * true total sum_j truth[i*K+j] (all K columns, background included, as
 * the notebooks' "sum of scenario counts").  edges has Q + 1 entries,
 * labels n; labels can be combined with others (e.g. thickness * Q +
 * level) for gs_metrics_by_group. */
int gs_metrics_count_levels (size_t n, size_t K, const double *truth,
                             size_t Q, double *edges, int *labels);

/* Per-spectrum FPR (and the other rates) in Q equal-population bins of
 * the true total counts (gs_metrics_count_levels); edges Q + 1, out Q. */
int gs_metrics_by_total_counts (size_t n, size_t K, const double *truth,
                                const int *present, int include_background,
                                size_t Q, double target_fpr,
                                double band_conf, double *edges,
                                gs_group_metrics *out);

/* The same against the number of present evaluated components: out has
 * K + 1 entries, out[m] for spectra with m true components (background
 * counted only with include_background). */
int gs_metrics_by_n_present (size_t n, size_t K, const double *truth,
                             const int *present, int include_background,
                             double target_fpr, double band_conf,
                             gs_group_metrics *out);

/* Relative error of component k against its true counts a > 0: signed
 * (c - a) / a and absolute |c - a| / a, in Q equal-population bins of a,
 * with the 5 %, 50 % and 95 % quantiles per bin
 * (gsl_stats_quantile_from_sorted_data; NaN for an empty bin). */
typedef struct gs_relerr_bin
{
  double lo, hi;
  size_t n;
  double signed_q[3]; /* 5, 50, 95 % of (c - a) / a */
  double abs_q[3];    /* 5, 50, 95 % of |c - a| / a */
} gs_relerr_bin;

int gs_metrics_relerr_by_counts (size_t n, size_t K, const double *truth,
                                 const double *counts, size_t k, size_t Q,
                                 gs_relerr_bin *out);

/* correct[i] = 1 when spectrum i is a perfect prediction (predicted set ==
 * true set over the evaluated components), else 0. */
int gs_metrics_perfect (size_t n, size_t K, const double *truth,
                        const int *present, int include_background,
                        int *correct);

/* McNemar's paired test of two methods on per-spectrum perfect
 * predictions: b = A right and B wrong, c = A wrong and B right.  When
 * b + c < 25 the exact two-sided binomial test: statistic = min(b, c),
 * p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2) (p = 1 for
 * b + c = 0); otherwise statistic = (|b - c| - 1)^2 / (b + c) with the
 * continuity correction and p = P(chi2_1 > statistic). */
typedef struct gs_mcnemar
{
  size_t b, c;
  double statistic;
  double p_value;
  int exact;
} gs_mcnemar;

int gs_metrics_mcnemar (size_t n, const int *correct_a,
                        const int *correct_b, gs_mcnemar *out);

/* Per-component accuracy (TN_k + TP_k) / n for every column k of K
 * (background included; callers skip it if they wish); out has K. */
int gs_metrics_component_accuracy (size_t n, size_t K, const double *truth,
                                   const int *present, gs_rate *out);

/* Area under the ROC curve of a score against a binary truth (outlier
 * detection, detection scores): AUC = P(score of a positive > score of a
 * negative) + P(tie) / 2, from midranks (Mann-Whitney).  se is DeLong's
 * standard error (DeLong, DeLong & Clarke-Pearson 1988: the variances of
 * the per-case placement values, from the same midranks); lo / hi the
 * normal interval auc -+ z se at confidence conf, clipped to [0, 1].
 * positive[i] != 0 marks the positives.  Non-finite scores are an error
 * naming the index; so are fewer than one positive or one negative. */
typedef struct gs_auc
{
  double auc, se, lo, hi;
  size_t n_pos, n_neg;
} gs_auc;

int gs_metrics_auc (size_t n, const double *score, const int *positive,
                    double conf, gs_auc *out);

#ifdef __cplusplus
}
#endif
#endif
