/* Poisson unmixing kit: non-negative Poisson maximum likelihood (NNPU),
 * the Poisson divergence and Fisher-information standard deviations.
 *
 * Model: y_i ~ Poisson(mu_i), mu = X a, a >= 0, X an n_channels x n_cols
 * design (columns of a library, row-major with leading dimension ldx,
 * column subset given by `cols`).  The estimator is the maximiser of the
 * Poisson likelihood under non-negativity: the fixed point of the EM
 * (multiplicative) updates of gammabench-spec.md section 3.2, reached here
 * by a projected Newton method on the free set (quadratic convergence),
 * using only the channels with y_i > 0 for the likelihood's data term.
 *
 * A workspace serves fits of up to max_cols columns on up to n_channels
 * channels; it is not thread-safe (one per thread). */
#ifndef GSPEC_POISSON_H
#define GSPEC_POISSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_poisson_ws gs_poisson_ws;

gs_poisson_ws *gs_poisson_ws_alloc (size_t n_channels, size_t max_cols);
void gs_poisson_ws_free (gs_poisson_ws *w);

/* Placement in caller memory (e.g. a method's per-thread workspace): a
 * block of gs_poisson_ws_bytes(n, k) bytes holds a workspace that
 * gs_poisson_ws_place lays out; nothing to free beyond the block. */
size_t gs_poisson_ws_bytes (size_t n_channels, size_t max_cols);
gs_poisson_ws *gs_poisson_ws_place (void *mem, size_t n_channels,
                                    size_t max_cols);

typedef struct gs_nnpu_opts
{
  int max_iter;       /* Newton iterations (default 200) */
  double tol;         /* stop when the Newton decrement lambda^2 is below
                         2 max (tol, 5e-15) (1 + sum y): the objective's
                         rounding level (default 1e-15) */
  const unsigned char *fixed; /* optional, per selected column: 1 keeps
                                 the start value (spec: estimed_aMVP = 0
                                 fixes column 0) */
  int warm_start;     /* 1: a holds a start point (entries >= 0) */
  int init_new;       /* with warm_start: columns starting at 0 start
                         instead at their weighted least-squares value
                         given the others (faster from a nested
                         support; the same optimum) */
} gs_nnpu_opts;

typedef struct gs_nnpu_info
{
  int iterations;
  double loss;        /* divergence D of section 3.1 at the solution */
  int converged;
} gs_nnpu_info;

void gs_nnpu_opts_init (gs_nnpu_opts *o);

/* Fits a[n_cols] >= 0 for y[n_channels] with columns cols[0..n_cols) of X
 * (row-major, leading dimension ldx).  `cols` may be NULL for 0..n_cols-1.
 * y must be finite and >= 0.  Returns GS_OK, GS_EMAXITER (a holds the
 * best point found, info->converged = 0), or an error for invalid input
 * (GS_EBADDATA when a channel with counts has no signature support). */
int gs_nnpu (gs_poisson_ws *w, const double *X, size_t ldx,
             size_t n_channels, const size_t *cols, size_t n_cols,
             const double *y, const gs_nnpu_opts *opts, double *a,
             gs_nnpu_info *info);

/* Many fits of one spectrum (model selection): gs_poisson_prepare
 * compacts the channels with counts of all n_cols columns of X once;
 * gs_nnpu_prepared then fits any column subset cols[0..k) (indices into
 * the prepared columns; NULL: 0..k-1) with the same contract as gs_nnpu,
 * its info->loss being the divergence D of spec 3.1 (without the 1e-16
 * inside the logarithm).  The prepared state stays valid until the next
 * gs_poisson_prepare or gs_nnpu on w. */
int gs_poisson_prepare (gs_poisson_ws *w, const double *X, size_t ldx,
                        size_t n_channels, size_t n_cols, const double *y);
int gs_nnpu_prepared (gs_poisson_ws *w, const size_t *cols, size_t k,
                      const gs_nnpu_opts *opts, double *a,
                      gs_nnpu_info *info);
/* D of spec 3.1 for weights a on the prepared columns cols[0..k). */
double gs_poisson_prepared_loss (const gs_poisson_ws *w, const size_t *cols,
                                 size_t k, const double *a);
/* g[j] = dD/da for the prepared columns cand[0..n_cand) at the point a on
 * cols[0..k): sum_i X_i,cand[j] (1 - y_i / mu_i).  GS_EBADDATA when a
 * channel with counts has mu = 0. */
int gs_poisson_gradient (gs_poisson_ws *w, const size_t *cols, size_t k,
                         const double *a, const size_t *cand,
                         size_t n_cand, double *g);

/* Upper bounds on the loss decrease that adding each candidate column
 * cand[j] to the support cols[0..k) can bring, from the optimum a of that
 * support: bound[j] = 0 when the candidate's derivative there is >= 0
 * (the optimum stays put), -lambda - log (1 - lambda) when the Newton
 * decrement lambda of the extended problem at (a, 0) is below 1 (the
 * negative Poisson log-likelihood is self-concordant when every count is
 * >= 1), +inf otherwise or when counts below 1 make the bound invalid. */
int gs_poisson_gain_bounds (gs_poisson_ws *w, const size_t *cols, size_t k,
                            const double *a, const size_t *cand,
                            size_t n_cand, double *bound);

/* The reference EM / multiplicative updates of spec section 3.2, exactly:
 * a <- a * X^T (y / X a) from a0 (ones/N when a0 is NULL), stopping when
 * mean(|a_new - a| / (a + 1e-10)) <= tol or after niter_max iterations.
 * Channels with X a = 0 and y = 0 contribute nothing.  Returns the number
 * of iterations in *iters.  For fidelity and benchmarks. */
int gs_nnpu_em (const double *X, size_t ldx, size_t n_channels,
                const size_t *cols, size_t n_cols, const double *y,
                const double *a0, int niter_max, double tol,
                int keep_first, double *a, int *iters);

/* Divergence of spec section 3.1:
 * D = sum_i (Xa)_i - y_i log((Xa)_i + 1e-16) + y_i log(y_i + 1e-16) - y_i */
double gs_poisson_divergence (const double *X, size_t ldx,
                              size_t n_channels, const size_t *cols,
                              size_t n_cols, const double *y,
                              const double *a);

/* Fisher standard deviations (spec section 3.3): over the columns with
 * a_j > 0, F_jk = sum_i X_ij X_ik / (X a)_i, std = sqrt(diag(F^-1));
 * std_j = 0 where a_j = 0.  GS_ESING when F is singular. */
int gs_poisson_fisher_std (gs_poisson_ws *w, const double *X, size_t ldx,
                           size_t n_channels, const size_t *cols,
                           size_t n_cols, const double *a, double *std);

/* Joint non-negative matrix factorisation of one spectrum (the NMF
 * baseline of the SEMSUN paper): counts a (k) and signatures X
 * (n_channels x k row-major, column 0 the background) by Lee & Seung's
 * multiplicative updates for the divergence above, from the caller's X
 * and a (in: the start, e.g. the library and its gs_nnpu counts; out: the
 * result).  One joint iteration: the X-update with a fixed, X_ij <- X_ij
 * y_i / (X a)_i, on every column j >= 1 with a_j > 0 (and column 0 when
 * update_background), each updated column renormalised to sum 1 with its
 * count rescaled (X a unchanged); then the a-update a <- a X^T (y / X a).
 * Both half-steps never increase D, and ending on the a-update keeps
 * sum a = sum y.  Stops when max (||a_new - a|| / ||a||, ||X_new - X||_F /
 * ||X||_F) <= tol or after max_iter iterations (0: returns at once).
 * work: gs_nmf_work_doubles (n_channels, k) doubles.  GS_EINVAL for
 * options or sizes, GS_EBADDATA when the iteration diverges.  *iters
 * (may be NULL) receives the iterations made. */
typedef struct gs_nmf_opts
{
  int max_iter;          /* default 1000 */
  double tol;            /* default 1e-6 */
  int update_background; /* default 0: column 0 stays as given */
} gs_nmf_opts;

void gs_nmf_opts_init (gs_nmf_opts *o);
size_t gs_nmf_work_doubles (size_t n_channels, size_t k);
int gs_nmf_poisson (const double *y, size_t n_channels, double *X, size_t k,
                    double *a, const gs_nmf_opts *o, double *work,
                    int *iters);

#ifdef __cplusplus
}
#endif
#endif
