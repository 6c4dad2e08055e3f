/* Gain-shift estimation (gammabench-spec.md 3.6, phan2025 appendix A):
 * find_drift_spectrum and NNPU_drift of the authors' POMP_drift_algo.py,
 * on top of the particle operator of gspec/shift.h.
 *
 * A shift alpha = (alpha0, alpha1) maps an energy E to E (1 - alpha0) +
 * alpha1 (alpha0 a gain factor, alpha1 an offset in keV).  Spectra and
 * signatures are on the 1024-channel GammaBench grid (GS_SHIFT_N_CHANNELS,
 * channel j = [20 + 2 j, 22 + 2 j) keV); every function here refuses other
 * lengths with GS_EBADLEN.
 *
 * The optimiser is GSL's Nelder-Mead (gsl_multimin_fminimizer_nmsimplex2)
 * set up like scipy 1.10's minimize(method='Nelder-Mead', bounds, tol,
 * maxiter) that the reference uses; the differences that remain:
 *   - bounds: scipy clips every vertex it stores; GSL's simplex is not
 *     ours to clip, so the cost clips each trial point instead (the cost
 *     outside the box is the cost on its boundary) and the returned alpha
 *     is the clipped best vertex.  Same minimiser, other path.
 *   - initial simplex: scipy's (x0, x0 + 5 % of x0_k or 0.00025 along each
 *     axis, reflected at an upper bound and clipped).  Where clipping
 *     would leave a zero step (x0_k on its lower bound) scipy's simplex is
 *     flat along k and alpha_k can never move; here the step points into
 *     the box instead.
 *   - stopping: scipy stops when max |x_i - x_best| <= xatol over the
 *     vertices and max |f_i - f_best| <= fatol.  GSL exposes neither the
 *     vertices nor their values, only gsl_multimin_fminimizer_size (the
 *     RMS distance of the vertices from their centroid) and the best
 *     value: the run stops when size <= xtol and the best value has moved
 *     by at most ftol over the last three (n + 1) iterations.  This is
 *     looser than scipy's rule (an RMS instead of a max distance, the best
 *     value's progress instead of the spread of the values), so a run may
 *     stop some iterations earlier, within about xtol of scipy's point.
 *   - the moves: the coefficients are scipy's (reflection 1, expansion
 *     2, contraction 0.5, shrink 0.5), the acceptance tests differ in
 *     detail: GSL keeps an expansion that beats the best vertex (scipy:
 *     that beats the reflected point); when the reflected point is no
 *     better than the second-worst, GSL first puts it in place of the
 *     worst if it is no worse (so the contraction is an outside one, as
 *     scipy's would be) and keeps a contraction that is no worse than the
 *     worst vertex (scipy: than the reflected point, for an outside one).
 * On the reference example (pomp_drift_example.json) the shifts agree
 * with the authors' to 1e-3 and the counts to 0.25 %.
 *
 * NNPU_drift's inner fits are gspec's exact maximum-likelihood fits
 * (gs_nnpu, warm-started) instead of EM iterations stopped at a
 * tolerance: the alternation converges to the same point, in fewer and
 * faster steps. */
#ifndef GSPEC_DRIFT_H
#define GSPEC_DRIFT_H

#include <stddef.h>

#include "gspec/poisson.h"
#include "gspec/shift.h"

#ifdef __cplusplus
extern "C"
{
#endif

/* The 5 starting points of the reference: (-0.14, 0), (-0.07, 0), (0, 0),
 * (0.07, 0), (0.14, 0). */
#define GS_DRIFT_N_STARTS 5
  extern const double gs_drift_starts[GS_DRIFT_N_STARTS][2];

  typedef struct gs_drift_opts
  {
    double bounds[2][2]; /* [k] = {lower, upper} of alpha_k; default
                            {{-0.15, 0.15}, {-1, 1}}; lower < upper */
    int max_iter;        /* Nelder-Mead iterations (default 100) */
    double xtol;         /* simplex size for stopping (default 1e-4) */
    double ftol;         /* change of the best cost (default 1e-4) */
    double n_particles;  /* particles of the model spectrum, floor rule
                            (default 1e6) */
  } gs_drift_opts;

  void gs_drift_opts_init (gs_drift_opts *o);

  typedef struct gs_drift_info
  {
    double alpha[2]; /* the estimate (inside the bounds) */
    double cost;     /* cost at alpha */
    int evaluations; /* cost evaluations, the 5-point start included */
    int iterations;  /* Nelder-Mead iterations */
    int converged;   /* 1: stopped by the xtol/ftol rule; 0: max_iter */
  } gs_drift_info;

  /* find_drift_spectrum: the shift that best maps s_model onto s_obs.
   * cost(alpha) = sum_c s2_c - s1_c log(s2_c + 1e-16) - s1_c
   *               + s1_c log(s1_c + 1e-16),
   * s1 = s_obs, s2 = the particles of s_model (floor rule, o->n_particles)
   * moved by clip(alpha) and histogrammed, rescaled to sum(s_model).
   * alpha_start: the start (must be finite; clipped to the bounds), or NULL
   * for the best of gs_drift_starts (first on ties).  s_obs and s_model
   * have n_channels = 1024 finite non-negative entries, s_model a positive
   * sum.  Writes the estimate into info (required) and, when s_shifted is
   * not NULL, s2 at the estimate into s_shifted[0..1024).  opts may be NULL
   * (defaults).  Returns GS_OK whether or not the stopping rule was met
   * (see info->converged); GS_EINVAL for bad options or start, GS_EBADLEN,
   * GS_EBADDATA for bad spectra, GS_ENOMEM. */
  int gs_find_drift_spectrum (const double *s_obs, const double *s_model,
                              size_t n_channels, const double *alpha_start,
                              const gs_drift_opts *opts, double *s_shifted,
                              gs_drift_info *info);

  /* Scratch for gs_nnpu_drift: fits of up to max_cols columns on the
   * 1024-channel grid.  Not thread-safe (one per thread).  Placement in
   * caller memory as for gs_poisson_ws: a block of gs_drift_ws_bytes
   * (max_cols) bytes, laid out by gs_drift_ws_place; nothing to free. */
  typedef struct gs_drift_ws gs_drift_ws;

  size_t gs_drift_ws_bytes (size_t max_cols);
  gs_drift_ws *gs_drift_ws_place (void *mem, size_t max_cols);
  gs_drift_ws *gs_drift_ws_alloc (size_t max_cols);
  void gs_drift_ws_free (gs_drift_ws *w);

  typedef struct gs_nnpu_drift_opts
  {
    gs_drift_opts find; /* options of every find_drift_spectrum call */
    int max_outer;      /* alternations (niter_max_out, default 10) */
    double tol;         /* stop when err <= tol (default 1e-3, the value
                           POMP_drift passes) */
    int search_alpha0;  /* 1: first fit the 5 shifted libraries of
                           gs_drift_starts and keep the best divergence */
    double n_particles; /* particles per library column, round rule
                           (get_X_drift_est; default 1e6) */
    int warm_start;     /* 1: a holds a start point (entries >= 0) */
    int nnpu_max_iter;  /* Newton iterations per inner fit (default 200) */
    const double *search_libs; /* NULL (default), or the 5 shifted
                           libraries of the search, computed once for many
                           spectra: GS_DRIFT_N_STARTS consecutive 1024 x
                           n_cols row-major blocks, block s =
                           gs_shift_library_columns (X[:, cols], n_cols,
                           gs_drift_starts[s], GS_SHIFT_ROUND,
                           n_particles) (gs_drift_search_libraries) */
  } gs_nnpu_drift_opts;

  /* The 5 shifted libraries of search_alpha0 for the columns cols[0..k)
   * (NULL: 0..k-1) of the row-major 1024 x ldx X: out holds
   * GS_DRIFT_N_STARTS * 1024 * k doubles.  The same for every spectrum, so
   * a method computes them once (in its alloc) and passes them as
   * opts.search_libs. */
  int gs_drift_search_libraries (const double *X, size_t ldx,
                                 const size_t *cols, size_t k,
                                 double n_particles, double *out);

  void gs_nnpu_drift_opts_init (gs_nnpu_drift_opts *o);

  typedef struct gs_nnpu_drift_info
  {
    double alpha[2]; /* the shift estimate */
    double loss;     /* divergence D (spec 3.1) of y under
                        get_X_drift_est(X, alpha) a */
    int outer;       /* alternations made */
    int evaluations; /* find_drift cost evaluations, all calls */
    int converged;   /* 1: err <= tol; 0: max_outer reached (a and
                        alpha are the last iterate) */
  } gs_nnpu_drift_info;

  /* NNPU_drift: non-negative Poisson fit of y on the columns cols[0..n_cols)
   * of X (row-major 1024 x ldx, cols NULL for 0..n_cols-1; the first
   * selected column is the background: its exact zeros are replaced as
   * get_X_drift_est does) jointly with a gain shift:
   *   Xk = X[:, cols] (or, with search_alpha0, the best of the 5 shifted
   *   libraries); repeat at most max_outer times while err > tol:
   *     a = ML fit of y on Xk (warm-started from the current a);
   *     alpha = find_drift_spectrum(y, X[:, cols] a), started at
   *       alpha_start (or the 5-point start when NULL) the first time, at
   *       the current alpha afterwards;
   *     err = max(err_in, |yhat' - Xk a| / |Xk a|), yhat' the shifted
   *       model, err_in 0 when the inner fit converged (else infinite);
   *     Xk = get_X_drift_est(X[:, cols], alpha) (round rule).
   * Writes a[0..n_cols) and info (may be NULL); when Xk_out is not NULL,
   * the final Xk (1024 x n_cols, row-major, leading dimension n_cols).
   * y: 1024 finite non-negative counts.  alpha_start, when given, must be
   * finite.  Returns GS_OK (also when max_outer is reached, see
   * info->converged) or an error: GS_EINVAL, GS_EBADLEN, GS_EBADDATA (bad
   * counts, a zero column, a channel with counts no column covers), the
   * inner fit's errors. */
  int gs_nnpu_drift (gs_drift_ws *w, const double *X, size_t ldx,
                     size_t n_channels, const size_t *cols, size_t n_cols,
                     const double *y, const double *alpha_start,
                     const gs_nnpu_drift_opts *opts, double *a, double *Xk_out,
                     gs_nnpu_drift_info *info);

#ifdef __cplusplus
}
#endif
#endif
