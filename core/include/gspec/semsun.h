/* Semi-blind unmixing with signature variability (SemSun / MoSeVa,
 * gammabench-spec.md 3.5 and 8): the signatures of the nuclides are not
 * fixed but move along the family an IAE (gspec/iae.h) spans, indexed by
 * its barycentric weights lambda.
 *
 *   BSP     lambda step, counts a fixed: minimises over lambda
 *           cost = sum_j T_j - y_j log (T_j + 1e-10),
 *           T = max (Xhat (lambda) a + Bg, 0), Xhat = decode (lambda), each
 *           nuclide column zeroed from its max channel on (when given) and
 *           normalised to sum 1.
 *   BCD     block coordinate descent between the counts (non-negative
 *           Poisson fit on the active columns) and lambda (BSP); every
 *           nuclide column is replaced by the normalised decode (lambda).
 *   MoSeVa  model selection: P-OMP's forward / backward search
 *           (gspec/pomp.h) where each candidate support is fitted by BCD.
 *   Std     standard deviations of the counts and of lambda_0 from the
 *           inverse Hessian of the Poisson negative log-likelihood.
 *
 * Column conventions.  The design X is n_channels x K row-major (K = C +
 * 1): column 0 the background, column k + 1 the IAE's component k (same
 * nuclide order as the model, e.g. gs_library_load_gammabench with the
 * IAE's names).  n_channels must be the IAE's length L.
 *
 * lambda.  Only models with d = 2 anchors are supported (GS_EUNSUPPORTED
 * otherwise).  The authors minimise over p in [0, 1]^2 with L-BFGS-B and
 * map p to lambda = p + c (1 - |p|_1) / sum (iPhiE) with c the column sums
 * of the deepest level's Gram inverse, which keeps sum lambda = 1; for
 * d = 2 the image of [0, 1]^2 is exactly {(t, 1 - t), t in [0, 1]} (the
 * shipped model: lambda_0 = 0.557 + 0.443 p_0 - 0.557 p_1), so a bounded
 * one-dimensional minimisation over t (GSL's Brent) reaches the same
 * optimum.  Because the decoder computes in float32, the cost is smooth
 * only down to a relative jitter of about 1e-7: t is accurate to a few
 * 1e-4 on noisy spectra, better when the model fits the data exactly.
 *
 * Differences to the authors' code, all deliberate: the counts step is
 * the exact maximum-likelihood fit (gs_nnpu), where the authors stop
 * their EM updates after 1000 iterations or a relative change of 1e-6;
 * the backward search of MoSeVa passes the max channels too (the
 * authors' backward call omits them).  Their lambda step (L-BFGS-B with
 * forward differences of step 1e-4 on a float32 cost) can stop short of
 * the optimum: on the notebook's MoSeVa example their support
 * [0, 4, 1, 11, 2] ends at lambda_0 = 0.1139 (loss 486.6151), where the
 * profile likelihood still falls; BCD here reaches its stationary point
 * 0.0985 (loss 486.5890), and the borderline sixth step (I131) then
 * passes, as in the notebook's stored output.
 *
 * Speed.  Within one call (gs_moseva, gs_semsun_bcd, ...) the workspace
 * keeps the decodes of the first 16 grid points, which every BSP of the
 * call evaluates at the same t, and BCD takes its new columns from BSP's
 * decode of the optimum; results are those of decoding every time.
 *
 * Threads.  The IAE is only read.  A workspace (gs_semsun_ws) serves one
 * thread; it lives in caller memory of gs_semsun_ws_bytes bytes, so that
 * a method can keep one per thread.  No global state; deterministic. */
#ifndef GSPEC_SEMSUN_H
#define GSPEC_SEMSUN_H

#include <stddef.h>

#include "gspec/iae.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_SEMSUN_MAX_COLS 64   /* K = 1 + nuclides */
#define GS_SEMSUN_MAX_OUTER 512 /* niter_max_out */

typedef struct gs_semsun_opts
{
  /* BSP */
  double t_lo, t_hi;  /* bounds on lambda_0 (default 0, 1) */
  int use_model_bounds; /* 1: also intersect with the model's training
                           bounds (gs_iae_config.bounds) for lambda_0
                           and 1 - lambda_1 (default 0) */
  int n_grid;         /* points of the bracketing grid on [t_lo, t_hi],
                         3 to 1001 (default 11) */
  double tol_bsp;     /* Brent's interval tolerance on t (default 1e-5:
                         the authors' tol_BSP 1e-8 is L-BFGS-B's relative
                         tolerance on the cost, which for their spectra
                         is an interval of ~1e-5 on t; float32 decodes
                         resolve t to ~1e-4, and 1e-8 on t spends 60 %
                         of MoSeVa's decodes below that) */
  int niter_max_bsp;  /* Brent iterations (default 100) */
  const size_t *max_channels; /* NULL, or per nuclide (C values): zero
                                 the decoded column from this channel
                                 on (0: no cut) */
  /* BCD */
  double tol;         /* stop when max (errA, errX) <= tol (default 1e-4) */
  int niter_max_out;  /* outer iterations (default 30, at most
                         GS_SEMSUN_MAX_OUTER) */
  int em_iter;        /* counts step: 0 (default) the exact
                         maximum-likelihood fit (gs_nnpu); > 0 the
                         authors' EM updates (gs_nnpu_em) from the
                         previous counts, at most em_iter steps (they use
                         1000) */
  double em_tol;      /* their stopping tolerance (default 1e-6) */
  double nmf_tol;     /* NMF_fixed_a: stop at a relative change of X
                         <= nmf_tol (default 1e-6) */
  int nmf_max_iter;   /* its cap (default 100000; the authors' loop has
                         none) */
  /* MoSeVa */
  double alpha;       /* level of the tests (default 0.01) */
  int turn;           /* 1 forward, 2 + backward (default), 3 + backward
                         at turn3_alpha and a second forward */
  double turn3_alpha; /* default 1e-3 */
  double fd_step;     /* Std: step in lambda_0 of the central differences
                         (default 1e-3) */
} gs_semsun_opts;

void gs_semsun_opts_init (gs_semsun_opts *o);

typedef struct gs_semsun_ws gs_semsun_ws;

/* Bytes of a workspace for model m on n_channels channels (0 when the
 * sizes are invalid or overflow), and its placement in caller memory
 * (mem: at least that many bytes, any alignment; nothing to free beyond
 * the block).  GS_EBADLEN when n_channels is not the model's length,
 * GS_EUNSUPPORTED when the model has d != 2 anchors, GS_EINVAL when
 * bytes is too small.  The model must outlive the workspace. */
size_t gs_semsun_ws_bytes (const gs_iae *m, size_t n_channels);
int gs_semsun_ws_place (void *mem, size_t bytes, const gs_iae *m,
                        size_t n_channels, gs_semsun_ws **out);
/* The same on the heap; gs_semsun_ws_free accepts NULL. */
int gs_semsun_ws_alloc (const gs_iae *m, size_t n_channels,
                        gs_semsun_ws **out);
void gs_semsun_ws_free (gs_semsun_ws *w);

/* BSP: lambda (d = 2 doubles) minimising the cost above for counts
 * a[0..C) (nuclides only; entries <= 0 are inactive) and background
 * term bg[0..n_channels) (NULL: none).  lambda0 is the start (NULL: none;
 * its lambda_0 joins the grid, or is the centre of the bracket when
 * n_grid = 0).  The grid's best point is bracketed by its neighbours and
 * refined by gsl_min_fminimizer_brent; an optimum on a bound is found by
 * bisection towards it.  cost (may be NULL) receives the cost at lambda,
 * evals (may be NULL) the decodes made.  Errors: GS_EBADLEN, GS_EBADDATA
 * (non-finite or negative y, an active nuclide whose decoded column sums
 * to 0), GS_EINVAL (options). */
int gs_semsun_bsp (gs_semsun_ws *w, const double *y, size_t n_channels,
                   const double *bg, const double *a, size_t n_nuclides,
                   const double *lambda0, const gs_semsun_opts *o,
                   double *lambda, double *cost, int *evals);

/* The BSP cost at lambda (d doubles, finite), for tests and plots. */
int gs_semsun_bsp_cost (gs_semsun_ws *w, const double *y,
                        size_t n_channels, const double *bg,
                        const double *a, size_t n_nuclides,
                        const double *lambda, const gs_semsun_opts *o,
                        double *cost);

/* The authors' NMF_fixed_a: X (n_channels x K, in: the start, out: the
 * result) <- X (y / X a) row-wise, column 0 reset to its start, columns
 * renormalised to sum 1, until ||X_new - X||_F / ||X + 1e-10||_F <= tol
 * or max_iter steps.  A channel with X a = 0 gets the factor 0 when
 * y = 0 (the authors' 0/0 there is NaN).  *iters (may be NULL) receives
 * the steps made.  GS_EBADDATA when a column other than 0 vanishes. */
int gs_semsun_nmf_fixed_a (const double *y, size_t n_channels, double *X,
                           size_t K, const double *a, double tol,
                           int max_iter, double *work, int *iters);

/* One BCD fit. */
typedef struct gs_semsun_fit
{
  double a[GS_SEMSUN_MAX_COLS]; /* counts, 0 outside the support */
  double lambda[GS_IAE_MAX_ANCHORS];
  double loss[GS_SEMSUN_MAX_OUTER + 1]; /* D (spec 3.1) of the start, then
                                           after every outer iteration */
  size_t n_loss;
  int iterations;   /* outer iterations made */
  int converged;    /* err <= tol was reached */
  double err;       /* the last max (errA, errX) */
  int nmf_iters;    /* NMF_fixed_a steps of the initialisation (0: lambda0
                       was given) */
  int evals;        /* decodes made by BSP */
} gs_semsun_fit;

/* BCD (spec 3.5) on the columns support[0..n_support) of X0 (n_channels x
 * K, finite, >= 0; column 0 the background): from a = a0 (K values, >= 0)
 * and X = X0, each outer iteration fits the support's counts (warm
 * start), then, at the first iteration without lambda0, initialises
 * lambda by NMF_fixed_a + gs_iae_fast_interpolation of the nuclide
 * columns, then runs BSP with the background term X[:, 0] a_0 and
 * replaces every nuclide column by the normalised decode (lambda) (a
 * column that decodes to zero and is not in the support becomes zero).
 * Stops when max (errA, errX) <= tol or after niter_max_out iterations.
 * X (may be NULL) receives the final signatures (n_channels x K).
 * Support entries must be distinct and < K (GS_EINVAL otherwise). */
int gs_semsun_bcd (gs_semsun_ws *w, const double *y, size_t n_channels,
                   const double *X0, size_t K, const double *a0,
                   const size_t *support, size_t n_support,
                   const double *lambda0, const gs_semsun_opts *o,
                   gs_semsun_fit *fit, double *X);

/* The threshold of a test with df = 1 or 2 degrees of freedom: the chi2
 * quantile at 1 - 2 alpha / n (df = 1: as gs_pomp_threshold; df = 2:
 * -2 log (2 alpha / n)). */
double gs_semsun_threshold (double alpha, size_t n, int df);

typedef struct gs_moseva_result
{
  size_t n_components;                      /* K */
  size_t support[GS_SEMSUN_MAX_COLS];       /* Iden: selection order */
  size_t n_support;
  double a[GS_SEMSUN_MAX_COLS];             /* final counts */
  double lambda[GS_IAE_MAX_ANCHORS];        /* final lambda */
  double loss;                              /* final fit's loss */
  /* Counts after the forward, the backward and the turn-3 forward (an
   * entry repeats the previous one when its phase did not run). */
  double alist[3][GS_SEMSUN_MAX_COLS];
  /* LossList: L0, then the best candidate's loss of every forward step
   * (the last one rejected unless the candidates ran out); lambda_list:
   * that fit's lambda_0 (NaN for a loss without lambda). */
  double loss_list[2 * GS_SEMSUN_MAX_COLS + 4];
  double lambda_list[2 * GS_SEMSUN_MAX_COLS + 4];
  size_t n_loss;
  size_t procedure[2 * GS_SEMSUN_MAX_COLS]; /* added, then removed */
  size_t n_procedure;
  double min_margin; /* smallest |statistic - threshold| of the tests */
  /* Std: per component (0 outside the support), then lambda_0 at
   * std[K]; std_status is GS_OK or the status of gs_semsun_std (std then
   * holds NaN). */
  double std[GS_SEMSUN_MAX_COLS + 1];
  int std_status;
  int fits;  /* BCD fits */
  int evals; /* decodes */
} gs_moseva_result;

/* MoSeVa (spec 3.5) on y with the start signatures X0 (n_channels x K)
 * and start counts a0 (K values; components with a0_k = 0, k >= 1, are
 * not candidates).  Initial support {0} with its non-negative fit, L0 =
 * D (X0, a); forward: every candidate c joins the support in turn, fitted
 * by BCD from (X0, a0) and the accepted fit's lambda (none at the first
 * step); the best one is accepted when -2 (L_c - L0) exceeds the
 * threshold with df = 2 while only the background is selected (lambda is
 * estimated too) and df = 1 afterwards; the accepted fit's lambda then
 * starts the next step.  Backward (turn >= 2, at least 2 nuclides): the
 * removal of each selected nuclide is refitted; the best goes back when
 * |-2 (L_j - L0)| < threshold (df = 1); the last nuclide is never
 * removed.  X (may be NULL) receives the final signatures.  Std is
 * computed for the final fit.  Errors of BCD are returned as they are. */
int gs_moseva (gs_semsun_ws *w, const double *y, size_t n_channels,
               const double *X0, size_t K, const double *a0,
               const gs_semsun_opts *o, gs_moseva_result *res, double *X);

/* A family of nuclide signatures indexed by t = lambda_0: writes the
 * columns (n_channels x C, row-major, each normalised to sum 1) at t. */
typedef int (*gs_semsun_family_fn) (void *ctx, double t, double *x);

/* Std of (a on its positive entries, t) for mu = bg a_0 + sum_k a_{k+1}
 * x_k (t): the inverse of the Hessian H of sum_j mu_j - y_j log mu_j,
 * H = J^T diag (y / mu^2) J + sum_j (1 - y_j / mu_j) d2mu_j, the a-block
 * exact and the t-derivatives of the columns by central differences of
 * step h (x at t - h, t, t + h, clipped to [0, 1] by shifting the
 * stencil).  std (K + 1 values): sqrt (max (diag, 0)), 0 for a_k <= 0,
 * std[K] for t.  work: gs_semsun_std_work (n_channels, C) doubles.
 * GS_ESING when H is not positive definite, GS_EBADDATA when mu <= 0 on
 * a channel. */
size_t gs_semsun_std_work (size_t n_channels, size_t C);
int gs_semsun_std_family (gs_semsun_family_fn family, void *ctx,
                          const double *y, size_t n_channels,
                          const double *bg, const double *a, size_t C,
                          double t, double h, double *work, double *std);

/* The same for the IAE family (decode (t, 1 - t), max channels zeroed,
 * normalised) with background X0[:, 0] (X0: n_channels x K). */
int gs_semsun_std (gs_semsun_ws *w, const double *y, size_t n_channels,
                   const double *X0, size_t K, const double *a,
                   const double *lambda, const gs_semsun_opts *o,
                   double *std);

#ifdef __cplusplus
}
#endif
#endif
