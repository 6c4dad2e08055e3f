/* P-OMP: Poisson orthogonal matching pursuit with likelihood-ratio tests
 * (gammabench-spec.md 3.3; phan2025 appendix), as a kit that any support
 * fit can drive: plain non-negative Poisson fits (unmixing.pomp), fits
 * with a gain shift (unmixing.pomp-shift option 1), fits with signature
 * variability (MoSeVa).
 *
 * Support I0 starts as {0} (the background, always present); candidates
 * I = 1..K-1 in index order.
 *   Forward: while I is not empty, DT = chi2_1 quantile at 1 - 2 alpha /
 *   |I| (gsl_cdf_chisq_Qinv); every candidate c is fitted on I0 + {c};
 *   j = argmin of the losses (the first on ties); if -2 (L_j - L0) > DT,
 *   c_j joins I0 (appended: I0 keeps the selection order) and leaves I;
 *   else stop.
 *   Backward (turn >= 2, and |I0| > 2): while |I0| > backward_min,
 *   DT = chi2_1 quantile at 1 - 2 alpha' / (|I| + 1) with alpha' = alpha
 *   (turn 2) or turn3_alpha (turn 3); every position p >= 1 of I0 is
 *   removed in turn and refitted; j = argmin; if 2 (L_j - L0) < DT the
 *   component goes back to I (appended) and I0 is refitted; else stop.
 *   Turn 3: when something was removed, the loss list restarts at L0 and
 *   the forward runs again at alpha.
 *
 * The spec's fits run the EM updates from a fixed start for a fixed
 * number of iterations; gs_pomp_nnpu_fit computes the maximum-likelihood
 * fit itself (what those iterations approach), warm-started, on the
 * channels with counts only, so it is exact where the reference stops
 * early: the identified sets can differ only where a test is borderline
 * (see gs_pomp_result.min_margin). */
#ifndef GSPEC_POMP_H
#define GSPEC_POMP_H

#include <stddef.h>

#include "gspec/poisson.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_POMP_MAX_COMPONENTS 64

/* The phase a step of the search belongs to. */
typedef enum gs_pomp_phase
{
  GS_POMP_FORWARD = 0,  /* the first forward */
  GS_POMP_BACKWARD = 1, /* backward removal (turn >= 2) */
  GS_POMP_FORWARD2 = 2  /* turn 3's second forward */
} gs_pomp_phase;

typedef struct gs_pomp_opts
{
  double alpha;       /* false-alarm level of the tests (default 0.01) */
  int turn;           /* 1 forward only; 2 + backward (default); 3 +
                         backward at turn3_alpha and a new forward */
  double turn3_alpha; /* backward level of turn 3 (default 1e-3;
                         pomp-shift uses alpha / 100) */
  size_t backward_min; /* the backward loop stops at this support size
                          (default 1: P-OMP; 2: P-OMP with drift and
                          MoSeVa never remove the last nuclide) */
  /* Optional speed-up for fits whose optimum is known to stay put: at the
   * current optimum a[0..n) on support[0..n), sets no_gain[j] = 1 for
   * every forward candidate cand[j] that cannot lower the loss (for a
   * convex fit: its partial derivative there is >= 0, so the extended
   * optimum is the current one with weight 0 and loss L0); those are not
   * fitted.  NULL: every candidate is fitted.  Gets the fit's ctx. */
  int (*screen) (void *ctx, const size_t *support, size_t n,
                 const double *a, const size_t *cand, size_t n_cand,
                 int *no_gain);
  /* Optional, stronger: upper bounds max_gain[j] >= 0 on the loss
   * decrease each candidate can bring from the current optimum (+inf:
   * unknown).  Candidates are then fitted in decreasing order of their
   * bound, and one whose bound cannot beat the best loss found so far is
   * not fitted (the argmin, first on ties in list order, is unchanged).
   * Gets the fit's ctx. */
  int (*bound) (void *ctx, const size_t *support, size_t n, const double *a,
                const size_t *cand, size_t n_cand, double *max_gain);
  /* 1 (default): every loss in loss_list is exact.  0: a forward step
   * whose candidates' bounds all stay below DT / 2 stops without fitting
   * any (the decision is the same); its loss_list entry is then the
   * bound L0 - max bound and min_margin a lower bound. */
  int exact_losses;
  /* 1: the removal test is |2 (L_j - L0)| < DT, as POMP_drift has it
   * (fits that re-estimate a shift are not nested: a removal can lower
   * the loss); 0 (default): 2 (L_j - L0) < DT, as POMP. */
  int backward_abs;
  /* Optional: called before the candidates of every step are fitted,
   * with the step's phase and the support the search holds (and its
   * weights), so that a fit can start from what the held support's fit
   * found (pomp-shift option 1: the shift).  The first fit, of {0}, is
   * made before any step (phase GS_POMP_FORWARD).  A non-zero return
   * stops the search with that status.  Gets the fit's ctx. */
  int (*step) (void *ctx, gs_pomp_phase phase, const size_t *support,
               size_t n, const double *a);
} gs_pomp_opts;

void gs_pomp_opts_init (gs_pomp_opts *o);

/* Fits y on the library columns support[0..n) (support[0] = 0, then the
 * nuclides in selection order).  warm is NULL or a start point aligned
 * with support (entries >= 0; a new column starts at 0).  Writes the
 * weights a[0..n) and the loss (the divergence D of spec 3.1 up to a
 * constant that is the same for every support of one spectrum). */
typedef int (*gs_pomp_fit_fn) (void *ctx, const size_t *support, size_t n,
                               const double *warm, double *a, double *loss);

typedef struct gs_pomp_result
{
  size_t n_components;
  size_t support[GS_POMP_MAX_COMPONENTS]; /* final I0, selection order */
  size_t n_support;
  double a[GS_POMP_MAX_COMPONENTS];       /* final weights per component
                                             (0 outside the support) */
  /* The spec's Alist: weights per component after the forward, after the
   * backward and after the turn-3 forward (each entry repeats the
   * previous one when that phase did not run).  The benchmark uses
   * alist[2]. */
  double alist[3][GS_POMP_MAX_COMPONENTS];
  double loss_list[2 * GS_POMP_MAX_COMPONENTS + 4];
  size_t n_loss;
  /* Procedure: components in the order they were added, then removed
   * ones. */
  size_t procedure[2 * GS_POMP_MAX_COMPONENTS];
  size_t n_procedure;
  /* The smallest |statistic - threshold| over the tests that decided
   * something: small values mark borderline decisions that another
   * optimiser's rounding can flip. */
  double min_margin;
  int fits;                               /* support fits made */
} gs_pomp_result;

/* Runs the search over K = n_components columns (2..64).  Errors of the
 * fit callback are returned as they are. */
int gs_pomp_search (size_t n_components, const gs_pomp_opts *opts,
                    gs_pomp_fit_fn fit, void *ctx, gs_pomp_result *res);

/* The chi-square threshold chi2_1 quantile at 1 - 2 alpha / n. */
double gs_pomp_threshold (double alpha, size_t n);

/* The plain fit: ctx is a gs_poisson_ws prepared for the spectrum with
 * gs_poisson_prepare on all K columns; its screen (for opts.screen). */
int gs_pomp_nnpu_fit (void *ctx, const size_t *support, size_t n,
                      const double *warm, double *a, double *loss);
int gs_pomp_nnpu_screen (void *ctx, const size_t *support, size_t n,
                         const double *a, const size_t *cand, size_t n_cand,
                         int *no_gain);
int gs_pomp_nnpu_bound (void *ctx, const size_t *support, size_t n,
                        const double *a, const size_t *cand, size_t n_cand,
                        double *max_gain);

/* The notebooks' post-processing of spec 3.4 on final weights a[0..K)
 * (a[0] the background, never touched): present[j] = 0 for a nuclide j
 * whose weight is not above frac x the total of all nuclides (frac > 0;
 * the 1 % rule, computed over all nuclides: the notebooks' sum that skips
 * the first nuclide is a quirk), and, when min_counts is not NULL, for one
 * with a[j] < m - 3 sqrt(m), m = min_counts[j] (the scenario-3 rule: a
 * nuclide the sampler puts in a spectrum has at least m expected counts).
 * Returns the number of nuclides cleared. */
size_t gs_pomp_postprocess (const double *a, size_t K, double frac,
                            const double *min_counts, int *present);

#ifdef __cplusplus
}
#endif
#endif
