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

#ifdef __cplusplus
}
#endif
#endif
