/* Non-negative least squares: min ||A x - b||_2 subject to x >= 0, by the
 * active-set method of Lawson & Hanson (Solving Least Squares Problems,
 * 1974, chapter 23), the algorithm behind scipy.optimize.nnls.  The one
 * NNLS of the SDK: every method that needs one calls gs_nnls.
 *
 * The passive-set least-squares subproblems are solved through an
 * orthogonal factorisation kept up to date as columns enter (one
 * Householder reflection) and leave (Givens rotations); normal equations
 * are never formed.  Sequential and deterministic: the same inputs give
 * the same bits.  No allocation: the caller passes a workspace of
 * gs_nnls_work_bytes (m, n) bytes (any alignment), which a solve
 * overwrites; one workspace per thread. */
#ifndef GSPEC_NNLS_H
#define GSPEC_NNLS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C"
{
#endif

  typedef struct gs_nnls_opts
  {
    int max_iter; /* cap on the main-loop iterations (columns entering the
                     passive set); 0: 3 n, scipy's default.  Each one's
                     inner loop (steps back to the feasible region) is
                     bounded by the passive-set size. */
    double tol;   /* a column enters only when its gradient component
                     w_j = a_j^T (b - A x) exceeds tol; 0: 10 eps ||A||_1
                     max (m, n), ||A||_1 the largest column sum of |A| */
  } gs_nnls_opts;

  /* Sets the defaults (both fields 0). */
  void gs_nnls_opts_init (gs_nnls_opts *o);

  typedef struct gs_nnls_info
  {
    int iterations;       /* main-loop iterations made */
    double residual_norm; /* ||A x - b||_2 of the returned x */
    int n_passive;        /* entries of x that are > 0 */
  } gs_nnls_info;

  /* Workspace bytes for an m x n problem; SIZE_MAX when that overflows. */
  size_t gs_nnls_work_bytes (size_t m, size_t n);

  /* Solves min ||A x - b||_2 s.t. x >= 0.  A: m x n, row-major, leading
   * dimension lda >= n (entries past column n of a row are never read);
   * b: m; x: n outputs, not overlapping A, b or work.  opts may be NULL
   * (defaults); info may be NULL.  Entries of x are either exactly 0 or
   * > 0.  When A has dependent columns a solution with linearly
   * independent support is returned.
   *
   * Returns GS_OK; GS_EMAXITER when opts->max_iter main-loop iterations
   * did not reach the optimality conditions (x then holds the last
   * feasible iterate, the least-squares solution on its passive set, and
   * info is filled); GS_EINVAL for NULL pointers, m or n of 0, lda < n,
   * negative or non-finite options, or a workspace below
   * gs_nnls_work_bytes (m, n); GS_EBADDATA for a non-finite entry of A or
   * b (the message names its row and column); GS_ERANGE when the norm of
   * A, of b or of the residual overflows (rescale the problem).  Input
   * errors leave x and info unwritten. */
  int gs_nnls (const double *A, size_t m, size_t n, size_t lda, const double *b,
               const gs_nnls_opts *opts, void *work, size_t work_bytes,
               double *x, gs_nnls_info *info);

  /* Workspace bytes for gs_nnls_gram with n unknowns; SIZE_MAX when that
   * overflows. */
  size_t gs_nnls_gram_work_bytes (size_t n);

  /* The same Lawson-Hanson active-set method (same main loop, same
   * entering rule w = c - G x > tol, same inner loop stepping back to the
   * feasible region) on the normal equations: for many right-hand sides
   * b with one A, the caller forms G = A^T A (n x n) once and c = A^T b
   * per b.  The passive-set subproblems G_PP z = c_P are solved by a
   * Cholesky factorisation of the passive block (grown by one row when a
   * column enters, refactored when columns leave): O(n^3) per solve,
   * independent of the m rows of A.
   *
   * Conditioning is squared compared with gs_nnls (cond (G) = cond
   * (A)^2): x is accurate to about eps cond (A)^2 instead of eps cond
   * (A).  Use it for well-conditioned A (a handful of distinct spectral
   * signatures); gs_nnls stays the choice for ill-conditioned A.
   *
   * G: n x n row-major; only its lower triangle (G[i n + j], j <= i) is
   * read, so the output of a lower-triangle syrk will do; diagonal
   * entries must be >= 0.  c: n.  btb = b^T b, only used to fill
   * info->residual_norm = sqrt (max (0, btb - 2 c.x + x.G.x)); pass NAN
   * to skip (residual_norm is then NAN).  This residual loses accuracy
   * when the fit is close (the square root of a difference of large
   * numbers: absolute error about sqrt (eps btb)).
   *
   * Default tol (opts->tol = 0): 10 eps n max_i G_ii.  A column enters
   * only when, in addition, the part of it outside the span of the
   * passive columns is not negligible: its Cholesky pivot (the squared
   * norm of that part) must exceed 100 n eps G_jj (the rounding level of
   * the pivot's cancellation; an angle of about 1.5e-7 sqrt (n) to the
   * passive span), and its tentative coefficient must be > 0 (Lawson &
   * Hanson's two checks).  A passive column whose pivot falls below that
   * level when the block is refactored leaves the passive set with
   * x_j = 0: dependent columns give a solution with linearly independent
   * support, as gs_nnls does.  opts->max_iter as for gs_nnls.
   *
   * work: gs_nnls_gram_work_bytes (n) bytes, any alignment, overwritten;
   * one per thread.  Sequential and deterministic.  No allocation.
   *
   * Returns GS_OK; GS_EMAXITER (x the last feasible iterate, info
   * filled); GS_EINVAL for NULL pointers, n = 0, bad options or a small
   * workspace; GS_EBADDATA for a non-finite entry of G's lower triangle
   * or of c, a negative diagonal entry of G, or a btb that is neither
   * NAN nor finite and >= 0 (the message names the entry); GS_ERANGE
   * when x or the residual overflows.  Input errors leave x and info
   * unwritten. */
  int gs_nnls_gram (const double *G, size_t n, const double *c, double btb,
                    const gs_nnls_opts *opts, void *work, size_t work_bytes,
                    double *x, gs_nnls_info *info);

#ifdef __cplusplus
}
#endif
#endif
