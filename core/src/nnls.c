/* Non-negative least squares by the Lawson-Hanson active-set method.
 *
 * State: W = Q^T A (column-major copy of A, columns contiguous) and
 * q = Q^T b, for an orthogonal Q built from the reflections and rotations
 * applied so far.  perm[0..k) lists the passive columns in the order of
 * the triangular factor: the passive column at position p has its
 * diagonal in row p and zeros below it, so R z = q[0..k) gives the
 * least-squares solution on the passive set and, at that solution,
 * Q^T (b - A x) = (0, q[k..m)).  The gradient components of the other
 * columns are then w_j = W[k..m, j] . q[k..m).
 *
 * Main loop: the column with the largest w_j > tol enters (one
 * Householder reflection on rows k..m of every non-passive column and of
 * q), unless it is numerically dependent on the passive columns or its
 * tentative coefficient is not positive (Lawson & Hanson's two checks;
 * the next candidate is then tried).  Inner loop: while the passive
 * solution z has an entry <= 0, x moves towards z as far as feasibility
 * allows, the columns that reach 0 leave (Givens rotations restore the
 * triangle), and z is solved again. */
#include "gspec/nnls.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gspec/status.h"

void
gs_nnls_opts_init (gs_nnls_opts *o)
{
  if (o)
    memset (o, 0, sizeof *o);
}

/* Workspace layout: W (m n), q (m), w (n), z (n) doubles, perm (n
 * size_t), each rounded up to 64 bytes, plus 64 bytes to align the
 * start. */
static size_t
round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

size_t
gs_nnls_work_bytes (size_t m, size_t n)
{
  const size_t lim = SIZE_MAX / 64;
  if (m > lim / sizeof (double) || n > lim / sizeof (double)
      || (n != 0 && m > lim / sizeof (double) / n))
    return SIZE_MAX;
  return 64 + round64 (m * n * sizeof (double)) + round64 (m * sizeof (double))
         + 2 * round64 (n * sizeof (double)) + round64 (n * sizeof (size_t));
}

/* Dot product with four partial sums (same order on every machine). */
static double
dot (const double *u, const double *v, size_t len)
{
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4)
    {
      s0 += u[i] * v[i];
      s1 += u[i + 1] * v[i + 1];
      s2 += u[i + 2] * v[i + 2];
      s3 += u[i + 3] * v[i + 3];
    }
  for (; i < len; i++)
    s0 += u[i] * v[i];
  return (s0 + s1) + (s2 + s3);
}

/* Lawson-Hanson's inner step (both entry points): with z the
 * least-squares solution on the k passive columns perm[0..k), either z > 0
 * and x takes it (returns 1), or x moves towards z by the largest step
 * that keeps it feasible and the first passive entry to reach 0 is set to
 * exactly 0 (returns 0; the caller drops the zeros). */
static int
step_back (double *x, const double *z, const size_t *perm, size_t k)
{
  size_t pmin = k, r;
  double amin = 2;
  for (r = 0; r < k; r++)
    if (!(z[r] > 0))
      {
        double xc = x[perm[r]];
        double t = xc > 0 ? xc / (xc - z[r]) : 0;
        if (!(t >= 0))
          t = 0;
        if (t < amin)
          {
            amin = t;
            pmin = r;
          }
      }
  if (pmin == k)
    {
      for (r = 0; r < k; r++)
        x[perm[r]] = z[r];
      return 1;
    }
  for (r = 0; r < k; r++)
    x[perm[r]] += amin * (z[r] - x[perm[r]]);
  x[perm[pmin]] = 0;
  return 0;
}

/* Euclidean norm: the plain sum of squares when it is safely within
 * range, else scaled so that squares neither overflow nor underflow. */
static double
norm2 (const double *v, size_t len)
{
  double big = 0, s = dot (v, v, len);
  size_t i;
  if (s > 1e-280 && s < 1e280)
    return sqrt (s);
  for (i = 0; i < len; i++)
    if (fabs (v[i]) > big)
      big = fabs (v[i]);
  if (big == 0 || !isfinite (big))
    return big;
  s = 0;
  for (i = 0; i < len; i++)
    {
      double t = v[i] / big;
      s += t * t;
    }
  return big * sqrt (s);
}

/* The reflection H = I - v v^T / (-alpha v0) that maps rows k..m of the
 * entering column `col` onto alpha e_k: v = (v0, col[k+1..m)), v0 =
 * col[k] - alpha.  Applied to y (rows k..m): y += f v with f = v.y /
 * (alpha v0).  The tentative update of q[k] in entering_ok uses the same
 * expressions, so the accepted coefficient is the one tested. */
static double
reflect_factor (const double *col, double v0, double alpha, const double *y,
                size_t k, size_t m)
{
  double s = v0 * y[k] + dot (col + k + 1, y + k + 1, m - k - 1);
  return (s / alpha) / v0;
}

static void
reflect (const double *col, double v0, double alpha, double *y, size_t k,
         size_t m)
{
  double f = reflect_factor (col, v0, alpha, y, k, m);
  size_t i;
  if (f == 0)
    return;
  y[k] += f * v0;
  for (i = k + 1; i < m; i++)
    y[i] += f * col[i];
}

/* Lawson & Hanson's checks on a candidate column at pivot row k (< m):
 * its part outside the passive columns' span must not be negligible
 * next to the part inside (|alpha| at least ~200 eps of the norm of
 * rows 0..k), and its coefficient in the enlarged least-squares problem
 * must be > 0.  Returns 1 and the reflection's alpha and v0 when both
 * hold. */
static int
entering_ok (const double *col, const double *q, size_t k, size_t m,
             double *alpha_out, double *v0_out)
{
  double unorm = norm2 (col, k), sigma = norm2 (col + k, m - k);
  double alpha, v0, qk;
  if (!(sigma > 0) || !isfinite (sigma))
    return 0;
  alpha = col[k] > 0 ? -sigma : sigma;
  if (!(unorm + 0.01 * sigma > unorm))
    return 0;
  v0 = col[k] - alpha;
  qk = q[k] + reflect_factor (col, v0, alpha, q, k, m) * v0;
  if (!(qk / alpha > 0))
    return 0;
  *alpha_out = alpha;
  *v0_out = v0;
  return 1;
}

/* Moves the passive column at position r to the non-passive part
 * (position k - 1 after the shift) and restores the triangle: the
 * columns after r have moved one position left, so column perm[i] has a
 * subdiagonal entry in row i + 1, which a rotation of rows i, i + 1
 * removes (applied to every column from position i on, and to q;
 * columns before i are zero in both rows). */
static void
remove_passive (double *W, double *q, size_t *perm, size_t m, size_t n,
                size_t *k, size_t r)
{
  size_t c = perm[r], i, p;
  for (p = r; p + 1 < *k; p++)
    perm[p] = perm[p + 1];
  perm[*k - 1] = c;
  (*k)--;
  for (i = r; i < *k; i++)
    {
      double *ci = W + perm[i] * m;
      double h = hypot (ci[i], ci[i + 1]), cs, sn, t;
      if (h == 0)
        continue;
      cs = ci[i] / h;
      sn = ci[i + 1] / h;
      ci[i] = h;
      ci[i + 1] = 0;
      for (p = i + 1; p < n; p++)
        {
          double *cp = W + perm[p] * m;
          t = cs * cp[i] + sn * cp[i + 1];
          cp[i + 1] = cs * cp[i + 1] - sn * cp[i];
          cp[i] = t;
        }
      t = cs * q[i] + sn * q[i + 1];
      q[i + 1] = cs * q[i + 1] - sn * q[i];
      q[i] = t;
    }
}

/* z[0..k) = R^-1 q[0..k), R the passive triangle. */
static void
back_substitute (const double *W, const double *q, const size_t *perm, size_t m,
                 size_t k, double *z)
{
  size_t p, j;
  for (p = k; p-- > 0;)
    {
      double s = q[p];
      for (j = p + 1; j < k; j++)
        s -= W[perm[j] * m + p] * z[j];
      z[p] = s / W[perm[p] * m + p];
    }
}

static int
check_args (const double *A, size_t m, size_t n, size_t lda, const double *b,
            const gs_nnls_opts *opts, const void *work, size_t work_bytes,
            const double *x)
{
  size_t need;
  if (!A || !b || !x)
    return gs_error (GS_EINVAL,
                     "NNLS: %s is NULL; pass the m x n matrix A, the m "
                     "values b and room for the n results x",
                     !A   ? "A"
                     : !b ? "b"
                          : "x");
  if (m == 0 || n == 0)
    return gs_error (GS_EINVAL,
                     "NNLS: empty problem (m = %zu rows, n = %zu columns); "
                     "both must be at least 1",
                     m, n);
  if (lda < n)
    return gs_error (GS_EINVAL,
                     "NNLS: leading dimension lda = %zu is below the n = %zu "
                     "columns of the row-major A; pass lda >= n",
                     lda, n);
  if (n > (size_t)(INT_MAX / 3))
    return gs_error (GS_EINVAL, "NNLS: n = %zu columns exceed the supported %d",
                     n, INT_MAX / 3);
  if (opts && opts->max_iter < 0)
    return gs_error (GS_EINVAL,
                     "NNLS: max_iter = %d is negative; use 0 for the "
                     "default 3 n or a positive cap",
                     opts->max_iter);
  if (opts && !(opts->tol >= 0 && isfinite (opts->tol)))
    return gs_error (GS_EINVAL,
                     "NNLS: tol = %g must be finite and >= 0 (0: the "
                     "default)",
                     opts->tol);
  need = gs_nnls_work_bytes (m, n);
  if (need == SIZE_MAX)
    return gs_error (GS_EINVAL,
                     "NNLS: a %zu x %zu problem is too large for a "
                     "workspace",
                     m, n);
  if (!work || work_bytes < need)
    return gs_error (GS_EINVAL,
                     "NNLS: workspace of %zu bytes%s is too small for a %zu "
                     "x %zu problem: %zu bytes needed (gs_nnls_work_bytes)",
                     work ? work_bytes : (size_t)0, work ? "" : " (NULL)", m, n,
                     need);
  return GS_OK;
}

int
gs_nnls (const double *A, size_t m, size_t n, size_t lda, const double *b,
         const gs_nnls_opts *opts, void *work, size_t work_bytes, double *x,
         gs_nnls_info *info)
{
  double *W, *q, *w, *z, anorm = 0, tol, rnorm;
  size_t *perm, i, j, k = 0;
  char *p;
  int st, iter = 0, max_iter;

  st = check_args (A, m, n, lda, b, opts, work, work_bytes, x);
  if (st != GS_OK)
    return st;
  p = (char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  W = (double *)p;
  p += round64 (m * n * sizeof (double));
  q = (double *)p;
  p += round64 (m * sizeof (double));
  w = (double *)p;
  p += round64 (n * sizeof (double));
  z = (double *)p;
  p += round64 (n * sizeof (double));
  perm = (size_t *)p;

  /* Copy A column-major (w holds the column sums of |A|) and b. */
  for (j = 0; j < n; j++)
    w[j] = 0;
  for (i = 0; i < m; i++)
    {
      const double *ai = A + i * lda;
      for (j = 0; j < n; j++)
        {
          if (!isfinite (ai[j]))
            return gs_error (GS_EBADDATA,
                             "NNLS: A has %g at row %zu, column %zu (0-based);"
                             " every entry must be finite",
                             ai[j], i, j);
          W[j * m + i] = ai[j];
          w[j] += fabs (ai[j]);
        }
    }
  for (i = 0; i < m; i++)
    {
      if (!isfinite (b[i]))
        return gs_error (GS_EBADDATA,
                         "NNLS: b has %g at row %zu (0-based); every entry "
                         "must be finite",
                         b[i], i);
      q[i] = b[i];
    }
  for (j = 0; j < n; j++)
    if (w[j] > anorm)
      anorm = w[j];
  if (!isfinite (anorm) || !isfinite (norm2 (b, m)))
    return gs_error (GS_ERANGE,
                     "NNLS: the norm of %s overflows; rescale A and b",
                     isfinite (anorm) ? "b" : "A");
  tol = opts && opts->tol > 0
            ? opts->tol
            : 10 * DBL_EPSILON * anorm * (double)(m > n ? m : n);
  max_iter = opts && opts->max_iter > 0 ? opts->max_iter : 3 * (int)n;

  for (j = 0; j < n; j++)
    {
      x[j] = 0;
      perm[j] = j;
    }
  st = GS_OK;
  while (k < n && k < m)
    {
      size_t pos, best, c;
      double alpha = 0, v0 = 0;
      for (pos = k; pos < n; pos++)
        w[pos] = dot (W + perm[pos] * m + k, q + k, m - k);
      /* The entering column: the largest w_j > tol that passes the
         checks; a rejected candidate is skipped for this iteration. */
      for (;;)
        {
          double wmax = tol;
          best = n;
          for (pos = k; pos < n; pos++)
            if (w[pos] > wmax)
              {
                wmax = w[pos];
                best = pos;
              }
          if (best == n
              || entering_ok (W + perm[best] * m, q, k, m, &alpha, &v0))
            break;
          w[best] = -HUGE_VAL;
        }
      if (best == n)
        break;
      if (iter == max_iter)
        {
          st = GS_EMAXITER;
          break;
        }
      iter++;
      c = perm[best];
      perm[best] = perm[k];
      perm[k] = c;
      {
        double *col = W + c * m;
        for (pos = k + 1; pos < n; pos++)
          reflect (col, v0, alpha, W + perm[pos] * m, k, m);
        reflect (col, v0, alpha, q, k, m);
        col[k] = alpha;
        for (i = k + 1; i < m; i++)
          col[i] = 0;
      }
      k++;

      /* Inner loop: each pass either ends with z > 0 or removes at
         least one passive column, so it runs at most k times. */
      for (;;)
        {
          size_t r;
          back_substitute (W, q, perm, m, k, z);
          if (step_back (x, z, perm, k))
            break;
          for (r = k; r-- > 0;)
            if (!(x[perm[r]] > 0))
              {
                x[perm[r]] = 0;
                remove_passive (W, q, perm, m, n, &k, r);
              }
        }
    }

  /* The residual of the returned x, from the original A and b. */
  for (i = 0; i < m; i++)
    q[i] = b[i] - dot (A + i * lda, x, n);
  rnorm = norm2 (q, m);
  if (info)
    {
      info->iterations = iter;
      info->residual_norm = rnorm;
      info->n_passive = (int)k;
    }
  if (!isfinite (rnorm))
    return gs_error (GS_ERANGE,
                     "NNLS: the solution of the %zu x %zu problem overflows;"
                     " rescale A and b",
                     m, n);
  if (st == GS_EMAXITER)
    return gs_error (GS_EMAXITER,
                     "NNLS: max_iter = %d iterations reached on a %zu x %zu "
                     "problem before the optimality conditions held; x is "
                     "the last feasible iterate (raise max_iter)",
                     max_iter, m, n);
  return GS_OK;
}

/* ---------------------------------------------------------------------- */
/* Lawson-Hanson on the normal equations (gs_nnls_gram).
 *
 * State: perm[0..k) the passive columns in the order of the Cholesky
 * factor R (lower triangular, row p of R in R[p n .. p n + p]) of the
 * passive block G_PP = R R^T.  A column entering at position k adds one
 * row to R (forward substitution and one pivot); columns leaving make
 * the block be refactored from G (k is small).  The gradient is w = c -
 * G x, computed from G and the passive part of x. */

/* Workspace layout: R (n n), y (n), z (n), w (n) doubles, perm (n
 * size_t), each rounded up to 64 bytes, plus 64 bytes of alignment. */
size_t
gs_nnls_gram_work_bytes (size_t n)
{
  const size_t lim = SIZE_MAX / 64;
  if (n > lim / sizeof (double) || (n != 0 && n > lim / sizeof (double) / n))
    return SIZE_MAX;
  return 64 + round64 (n * n * sizeof (double))
         + 3 * round64 (n * sizeof (double)) + round64 (n * sizeof (size_t));
}

/* G[i][j] from the lower triangle. */
static double
gram_at (const double *G, size_t n, size_t i, size_t j)
{
  return i >= j ? G[i * n + j] : G[j * n + i];
}

/* Row p of R for column col against the passive columns perm[0..p):
 * R[p][r] = (G[col][perm[r]] - sum_{t<r} R[p][t] R[r][t]) / R[r][r], and
 * the pivot d = G[col][col] - sum R[p][r]^2.  Returns 1 and sets R[p][p]
 * = sqrt (d) when d exceeds the dependency level (100 n eps G[col][col]),
 * else 0 (R's row p is then scratch). */
static int
gram_factor_row (const double *G, size_t n, const size_t *perm, size_t p,
                 size_t col, double *R)
{
  double *rp = R + p * n, d = gram_at (G, n, col, col);
  size_t r, t;
  for (r = 0; r < p; r++)
    {
      const double *rr = R + r * n;
      double s = gram_at (G, n, col, perm[r]);
      for (t = 0; t < r; t++)
        s -= rp[t] * rr[t];
      rp[r] = s / rr[r];
      d -= rp[r] * rp[r];
    }
  if (!(d > 100 * (double)n * DBL_EPSILON * gram_at (G, n, col, col)))
    return 0;
  rp[p] = sqrt (d);
  return 1;
}

/* Forward substitution R y = c_P for positions 0..k. */
static void
gram_forward (const double *R, size_t n, const size_t *perm, size_t k,
              const double *c, double *y)
{
  size_t p, r;
  for (p = 0; p < k; p++)
    {
      const double *rp = R + p * n;
      double s = c[perm[p]];
      for (r = 0; r < p; r++)
        s -= rp[r] * y[r];
      y[p] = s / rp[p];
    }
}

/* Back substitution R^T z = y for positions 0..k. */
static void
gram_backward (const double *R, size_t n, size_t k, const double *y, double *z)
{
  size_t p, r;
  for (p = k; p-- > 0;)
    {
      double s = y[p];
      for (r = p + 1; r < k; r++)
        s -= R[r * n + p] * z[r];
      z[p] = s / R[p * n + p];
    }
}

/* Refactors the passive block perm[0..*k) from G.  A column whose pivot
 * falls to the dependency level leaves the passive set with x = 0 (it is
 * moved to position *k - 1 and *k shrinks). */
static void
gram_refactor (const double *G, size_t n, size_t *perm, size_t *k, double *R,
               double *x)
{
  size_t p = 0, q;
  while (p < *k)
    {
      if (gram_factor_row (G, n, perm, p, perm[p], R))
        {
          p++;
          continue;
        }
      {
        size_t col = perm[p];
        for (q = p; q + 1 < *k; q++)
          perm[q] = perm[q + 1];
        perm[*k - 1] = col;
        x[col] = 0;
        (*k)--;
      }
    }
}

static int
gram_check_args (const double *G, size_t n, const double *c, double btb,
                 const gs_nnls_opts *opts, const void *work, size_t work_bytes,
                 const double *x)
{
  size_t need, i, j;
  if (!G || !c || !x)
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): %s is NULL; pass the n x n matrix G = "
                     "A^T A, the n values c = A^T b and room for the n "
                     "results x",
                     !G   ? "G"
                     : !c ? "c"
                          : "x");
  if (n == 0)
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): empty problem (n = 0 unknowns); n must "
                     "be at least 1");
  if (n > (size_t)(INT_MAX / 3))
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): n = %zu unknowns exceed the supported %d", n,
                     INT_MAX / 3);
  if (opts && opts->max_iter < 0)
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): max_iter = %d is negative; use 0 for the "
                     "default 3 n or a positive cap",
                     opts->max_iter);
  if (opts && !(opts->tol >= 0 && isfinite (opts->tol)))
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): tol = %g must be finite and >= 0 (0: the "
                     "default)",
                     opts->tol);
  need = gs_nnls_gram_work_bytes (n);
  if (need == SIZE_MAX)
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): n = %zu unknowns is too large for a "
                     "workspace",
                     n);
  if (!work || work_bytes < need)
    return gs_error (GS_EINVAL,
                     "NNLS (Gram): workspace of %zu bytes%s is too small for "
                     "n = %zu: %zu bytes needed (gs_nnls_gram_work_bytes)",
                     work ? work_bytes : (size_t)0, work ? "" : " (NULL)", n,
                     need);
  for (i = 0; i < n; i++)
    {
      for (j = 0; j <= i; j++)
        if (!isfinite (G[i * n + j]))
          return gs_error (GS_EBADDATA,
                           "NNLS (Gram): G has %g at row %zu, column %zu "
                           "(0-based); every entry of the lower triangle "
                           "must be finite",
                           G[i * n + j], i, j);
      if (G[i * n + i] < 0)
        return gs_error (GS_EBADDATA,
                         "NNLS (Gram): G has %g on the diagonal at row %zu "
                         "(0-based); G = A^T A has a non-negative diagonal",
                         G[i * n + i], i);
      if (!isfinite (c[i]))
        return gs_error (GS_EBADDATA,
                         "NNLS (Gram): c has %g at row %zu (0-based); every "
                         "entry must be finite",
                         c[i], i);
    }
  if (!isnan (btb) && !(btb >= 0 && isfinite (btb)))
    return gs_error (GS_EBADDATA,
                     "NNLS (Gram): btb = %g; pass b^T b (finite, >= 0) or "
                     "NAN to skip the residual",
                     btb);
  return GS_OK;
}

int
gs_nnls_gram (const double *G, size_t n, const double *c, double btb,
              const gs_nnls_opts *opts, void *work, size_t work_bytes,
              double *x, gs_nnls_info *info)
{
  double *R, *y, *z, *w, gmax = 0, tol, rnorm = NAN;
  size_t *perm, j, k = 0;
  char *p;
  int st, iter = 0, max_iter, overflow = 0;

  st = gram_check_args (G, n, c, btb, opts, work, work_bytes, x);
  if (st != GS_OK)
    return st;
  p = (char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  R = (double *)p;
  p += round64 (n * n * sizeof (double));
  y = (double *)p;
  p += round64 (n * sizeof (double));
  z = (double *)p;
  p += round64 (n * sizeof (double));
  w = (double *)p;
  p += round64 (n * sizeof (double));
  perm = (size_t *)p;

  for (j = 0; j < n; j++)
    if (G[j * n + j] > gmax)
      gmax = G[j * n + j];
  tol = opts && opts->tol > 0 ? opts->tol : 10 * DBL_EPSILON * (double)n * gmax;
  max_iter = opts && opts->max_iter > 0 ? opts->max_iter : 3 * (int)n;

  for (j = 0; j < n; j++)
    {
      x[j] = 0;
      perm[j] = j;
    }
  st = GS_OK;
  while (k < n)
    {
      size_t pos, best, c_in, r;
      for (pos = k; pos < n; pos++)
        {
          size_t col = perm[pos];
          double s = c[col];
          for (r = 0; r < k; r++)
            s -= gram_at (G, n, col, perm[r]) * x[perm[r]];
          w[pos] = s;
        }
      /* The entering column: the largest w_j > tol whose pivot is above
         the dependency level and whose tentative coefficient (the last
         entry of the least-squares solution on P + {j}) is > 0. */
      gram_forward (R, n, perm, k, c, y);
      for (;;)
        {
          double wmax = tol;
          best = n;
          for (pos = k; pos < n; pos++)
            if (w[pos] > wmax)
              {
                wmax = w[pos];
                best = pos;
              }
          if (best == n)
            break;
          if (gram_factor_row (G, n, perm, k, perm[best], R))
            {
              const double *rk = R + k * n;
              double s = c[perm[best]];
              for (r = 0; r < k; r++)
                s -= rk[r] * y[r];
              if (s / rk[k] > 0)
                break;
            }
          w[best] = -HUGE_VAL;
        }
      if (best == n)
        break;
      if (iter == max_iter)
        {
          st = GS_EMAXITER;
          break;
        }
      iter++;
      /* Row k of R was computed for perm[best], which moves to k. */
      c_in = perm[best];
      perm[best] = perm[k];
      perm[k] = c_in;
      k++;

      /* Inner loop, as in gs_nnls: at most k passes. */
      for (;;)
        {
          gram_forward (R, n, perm, k, c, y);
          gram_backward (R, n, k, y, z);
          if (step_back (x, z, perm, k))
            break;
          {
            size_t k0 = k, q = 0;
            /* Drop the columns that reached 0, keeping the order of the
               others, then refactor the smaller block. */
            for (r = 0; r < k0; r++)
              if (x[perm[r]] > 0)
                {
                  size_t t = perm[q];
                  perm[q] = perm[r];
                  perm[r] = t;
                  q++;
                }
              else
                x[perm[r]] = 0;
            k = q;
            gram_refactor (G, n, perm, &k, R, x);
          }
        }
    }

  for (j = 0; j < n; j++)
    if (!isfinite (x[j]))
      overflow = 1;
  if (!isnan (btb) && !overflow)
    {
      double cx = 0, xgx = 0, r2;
      size_t i;
      for (i = 0; i < n; i++)
        {
          double gi = 0;
          if (x[i] == 0)
            continue;
          for (j = 0; j < n; j++)
            gi += gram_at (G, n, i, j) * x[j];
          xgx += x[i] * gi;
          cx += c[i] * x[i];
        }
      r2 = btb - 2 * cx + xgx;
      rnorm = sqrt (r2 > 0 ? r2 : 0);
      if (!isfinite (rnorm))
        overflow = 1;
    }
  if (info)
    {
      info->iterations = iter;
      info->residual_norm = rnorm;
      info->n_passive = (int)k;
    }
  if (overflow)
    return gs_error (GS_ERANGE,
                     "NNLS (Gram): the solution of the problem with n = %zu "
                     "unknowns overflows; rescale G and c",
                     n);
  if (st == GS_EMAXITER)
    return gs_error (GS_EMAXITER,
                     "NNLS (Gram): max_iter = %d iterations reached with n = "
                     "%zu unknowns before the optimality conditions held; x "
                     "is the last feasible iterate (raise max_iter)",
                     max_iter, n);
  return GS_OK;
}
