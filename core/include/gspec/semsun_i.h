/* SEMSUN-i: semi-blind unmixing with one IAE per nuclide (the SEMSUN
 * paper's individual models, gammabench-spec.md 8).
 *
 * Where SEMSUN-j (gs_semsun_bcd) moves every nuclide along one joint
 * family with a single lambda, SEMSUN-i gives nuclide k its own model
 * m_k (one component, d = 2 anchors, length L_k <= n_channels: its
 * signature from channel 0 up to L_k, typically its max channel) and its
 * own lambda_k.  Block coordinate descent:
 *
 *   repeat
 *     a <- the non-negative maximum-likelihood counts on every column of X
 *          (gs_nnpu; the authors' SemSun a-step fits all columns);
 *     for every nuclide k with a model and a_k > 1e-10, in column order:
 *       Bg = sum_{j != k} X_j a_j with the columns as updated so far;
 *       at the first iteration, lambda_k starts from the fast
 *       interpolation of (y - Bg)[0, L_k) (falls back to BSP's grid when
 *       that part has no counts);
 *       lambda_k <- BSP on y[0, L_k) with background Bg[0, L_k) and count
 *       a_k (gs_semsun_bsp: bounded minimisation over lambda_k);
 *       X[0, L_k), k <- decode_k (lambda_k), the channels from L_k on keep
 *       their values, and the column is renormalised to sum 1;
 *   until max (||a_new - a|| / ||a + 1e-10||, ||X_new - X||_F / ||X +
 *   1e-10||_F) <= tol or niter_max_out iterations.
 *
 * A nuclide without a model keeps its start signature (a fixed column).
 * Differences to the authors: the counts step is the exact ML fit; the
 * lambda step is GSL's bounded Brent on lambda_0 (the authors' SLSQP over
 * (amplitude, lambda) with the equality sum lambda = 1 reaches the same
 * one-dimensional optimum for d = 2; their amplitude only enters with
 * UpdateA); the iteration-0 start is fast_interpolation of (y - Bg) / a_k
 * (theirs passes the amplitude a_k, the same up to the encoder's
 * batchnorm, which removes scale). */
#ifndef GSPEC_SEMSUN_I_H
#define GSPEC_SEMSUN_I_H

#include <stddef.h>

#include "gspec/iae.h"
#include "gspec/semsun.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_semsun_i_ws gs_semsun_i_ws;

/* A workspace for K = C + 1 columns (column 0 the background) on
 * n_channels channels: models[k] (k = 0..C-1) is nuclide k's model (column
 * k + 1) or NULL (fixed column).  Every model must have one component,
 * d = 2 anchors and a length <= n_channels (GS_EUNSUPPORTED / GS_EBADLEN
 * naming the nuclide).  The models must outlive the workspace; one
 * workspace serves one thread. */
int gs_semsun_i_ws_alloc (const gs_iae *const *models, size_t C,
                          size_t n_channels, gs_semsun_i_ws **out);
void gs_semsun_i_ws_free (gs_semsun_i_ws *w); /* accepts NULL */

typedef struct gs_semsun_i_fit
{
  double a[GS_SEMSUN_MAX_COLS];         /* counts, K values */
  double lambda[GS_SEMSUN_MAX_COLS][2]; /* per nuclide (NaN: not fitted) */
  double loss[GS_SEMSUN_MAX_OUTER + 1]; /* D of the start, then after every
                                           outer iteration */
  size_t n_loss;
  int iterations;
  int converged;
  double err;
  int evals; /* decodes made by BSP */
} gs_semsun_i_fit;

/* SEMSUN-i on y (n_channels counts, finite, >= 0) from X0 (n_channels x
 * K row-major, finite, >= 0, nuclide columns summing to 1) and a0 (K
 * values >= 0; the counts step does not depend on it).  Uses o's BSP and
 * BCD fields (tol, niter_max_out, n_grid, tol_bsp, niter_max_bsp,
 * use_model_bounds, t_lo, t_hi; max_channels is ignored: a model's
 * length is its cut).  X (may be NULL) receives the final signatures. */
int gs_semsun_i_bcd (gs_semsun_i_ws *w, const double *y, size_t n_channels,
                     const double *X0, size_t K, const double *a0,
                     const gs_semsun_opts *o, gs_semsun_i_fit *fit,
                     double *X);

#ifdef __cplusplus
}
#endif
#endif
