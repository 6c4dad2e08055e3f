/* gs_nnls against references that share no code with it: the KKT
 * conditions and a brute-force search over supports (GSL's QR) on seeded
 * random problems, exact recovery, closed forms (one column, diagonal
 * and orthogonal A), unconstrained least squares (GSL), scipy's
 * documented example, the tolerance, bad input, the iteration cap, lda and
 * workspace handling.  Prints the time of 10 000 solves of a 256 x 5 problem
 * (no assertion on it). */
#include <CUnit/CUnit.h>
#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/nnls.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

#define NNLS_SEED 20240917UL

/* gs_nnls with a fresh malloc'd workspace. */
static int
nnls_solve (const double *A, size_t m, size_t n, size_t lda, const double *b,
            const gs_nnls_opts *o, double *x, gs_nnls_info *info)
{
  size_t nb = gs_nnls_work_bytes (m, n);
  void *work = malloc (nb);
  int st;
  CU_ASSERT_FATAL (work != NULL);
  st = gs_nnls (A, m, n, lda, b, o, work, nb, x, info);
  free (work);
  return st;
}

static double
vnorm (const double *v, size_t len)
{
  double s = 0;
  size_t i;
  for (i = 0; i < len; i++)
    s += v[i] * v[i];
  return sqrt (s);
}

static double
vmaxabs (const double *v, size_t len)
{
  double s = 0;
  size_t i;
  for (i = 0; i < len; i++)
    if (fabs (v[i]) > s)
      s = fabs (v[i]);
  return s;
}

/* ||A x - b||_2 in long double. */
static double
residual (const double *A, size_t m, size_t n, const double *b, const double *x)
{
  long double s = 0;
  size_t i, j;
  for (i = 0; i < m; i++)
    {
      long double r = -(long double)b[i];
      for (j = 0; j < n; j++)
        r += (long double)A[i * n + j] * x[j];
      s += r * r;
    }
  return (double)sqrtl (s);
}

/* KKT violation of x, relative to ||A||_F ||b||_2: with g = A^T (A x - b)
 * (long double), max over i of |g_i| where x_i > 0 and of max (0, -g_i)
 * where x_i = 0.  Returns +inf when some x_i < 0 or is not finite. */
static double
kkt_violation (const double *A, size_t m, size_t n, const double *b,
               const double *x)
{
  long double r[512];
  double af = vnorm (A, m * n), bn = vnorm (b, m), worst = 0;
  size_t i, j;
  CU_ASSERT_FATAL (m <= 512);
  for (j = 0; j < n; j++)
    if (!(x[j] >= 0) || !isfinite (x[j]))
      return HUGE_VAL;
  for (i = 0; i < m; i++)
    {
      r[i] = -(long double)b[i];
      for (j = 0; j < n; j++)
        r[i] += (long double)A[i * n + j] * x[j];
    }
  for (j = 0; j < n; j++)
    {
      long double g = 0;
      double v;
      for (i = 0; i < m; i++)
        g += (long double)A[i * n + j] * r[i];
      v = x[j] > 0 ? fabs ((double)g) : ((double)g < 0 ? -(double)g : 0);
      if (v > worst)
        worst = v;
    }
  if (af == 0 || bn == 0)
    return worst == 0 ? 0 : HUGE_VAL;
  return worst / (af * bn);
}

/* The reference optimum by enumeration (n <= 12): some optimal x has a
 * linearly independent support on which it is the unconstrained
 * least-squares solution with every coefficient > 0, and every such
 * candidate is feasible, so the smallest residual over the candidates is
 * the optimum.  Subproblems by GSL's Householder QR; supports whose R
 * has a diagonal below 1e-10 of its largest are skipped as dependent.
 * Returns the optimal residual norm and its x in xref. */
static double
brute_force (const double *A, size_t m, size_t n, const double *b, double *xref)
{
  double best = vnorm (b, m);
  unsigned long mask;
  size_t i, j;
  gsl_vector_const_view bv = gsl_vector_const_view_array (b, m);
  CU_ASSERT_FATAL (n <= 12);
  for (j = 0; j < n; j++)
    xref[j] = 0;
  for (mask = 1; mask < (1UL << n); mask++)
    {
      size_t k = 0, cols[12];
      gsl_matrix *M;
      gsl_vector *tau, *sol, *res;
      double dmax = 0, dmin = HUGE_VAL, rn;
      int feasible = 1;
      for (j = 0; j < n; j++)
        if (mask & (1UL << j))
          cols[k++] = j;
      if (k > m)
        continue;
      M = gsl_matrix_alloc (m, k);
      tau = gsl_vector_alloc (k);
      sol = gsl_vector_alloc (k);
      res = gsl_vector_alloc (m);
      for (i = 0; i < m; i++)
        for (j = 0; j < k; j++)
          gsl_matrix_set (M, i, j, A[i * n + cols[j]]);
      gsl_linalg_QR_decomp (M, tau);
      for (j = 0; j < k; j++)
        {
          double d = fabs (gsl_matrix_get (M, j, j));
          dmax = d > dmax ? d : dmax;
          dmin = d < dmin ? d : dmin;
        }
      if (dmax > 0 && dmin > 1e-10 * dmax)
        {
          gsl_linalg_QR_lssolve (M, tau, &bv.vector, sol, res);
          for (j = 0; j < k; j++)
            if (!(gsl_vector_get (sol, j) > 0))
              feasible = 0;
          rn = gsl_blas_dnrm2 (res);
          if (feasible && rn < best)
            {
              best = rn;
              for (j = 0; j < n; j++)
                xref[j] = 0;
              for (j = 0; j < k; j++)
                xref[cols[j]] = gsl_vector_get (sol, j);
            }
        }
      gsl_vector_free (res);
      gsl_vector_free (sol);
      gsl_vector_free (tau);
      gsl_matrix_free (M);
    }
  return best;
}

/* Random problem families. */
enum
{
  FAM_GAUSS,     /* Gaussian A and b */
  FAM_DEPENDENT, /* Gaussian A with a duplicated, a scaled duplicate and
                    a zero column; b at 1 or 1e8 */
  FAM_NEGATIVE,  /* b = A x+ - 3 a_j - 2 a_l + noise: b anti-correlated
                    with columns j and l */
  FAM_SPECTRA,   /* A >= 0 (peaks on a background), b = A x_true + noise,
                    x_true with zeros */
  FAM_COUNTS,    /* FAM_SPECTRA at 1e6 counts */
  N_FAM
};

static const char *fam_names[N_FAM]
    = { "gaussian", "dependent", "negative", "spectra", "counts" };

static void
make_problem (gsl_rng *r, int fam, size_t m, size_t n, double *A, double *b)
{
  size_t i, j;
  double xt[16];
  if (fam == FAM_SPECTRA || fam == FAM_COUNTS)
    {
      for (j = 0; j < n; j++)
        {
          double c = gsl_rng_uniform (r) * (double)m;
          double w = 1 + gsl_rng_uniform (r) * (double)m / 8;
          for (i = 0; i < m; i++)
            {
              double d = ((double)i - c) / w;
              A[i * n + j]
                  = exp (-0.5 * d * d)
                    + 0.05 * gsl_rng_uniform (r) * exp (-(double)i / (double)m);
            }
          xt[j] = gsl_rng_uniform (r) < 0.3 ? 0 : gsl_rng_uniform (r);
        }
      for (i = 0; i < m; i++)
        {
          double s = 0;
          for (j = 0; j < n; j++)
            s += A[i * n + j] * xt[j];
          b[i] = s + 0.05 * gsl_ran_gaussian (r, 1.0);
          if (fam == FAM_COUNTS)
            b[i] *= 1e6;
        }
      return;
    }
  for (i = 0; i < m * n; i++)
    A[i] = gsl_ran_gaussian (r, 1.0);
  if (fam == FAM_DEPENDENT && n >= 4)
    for (i = 0; i < m; i++)
      {
        A[i * n + 1] = A[i * n + 0];
        A[i * n + 2] = 2.5 * A[i * n + 3];
        A[i * n + n - 1] = 0;
      }
  if (fam == FAM_NEGATIVE)
    {
      size_t jn = gsl_rng_uniform_int (r, n), ln = gsl_rng_uniform_int (r, n);
      for (j = 0; j < n; j++)
        xt[j] = gsl_rng_uniform (r);
      for (i = 0; i < m; i++)
        {
          double s = 0;
          for (j = 0; j < n; j++)
            s += A[i * n + j] * xt[j];
          b[i] = s - 3 * A[i * n + jn] - 2 * A[i * n + ln]
                 + 0.1 * gsl_ran_gaussian (r, 1.0);
        }
      return;
    }
  for (i = 0; i < m; i++)
    b[i] = gsl_ran_gaussian (r, 1.0);
  /* Rounding noise in the gradients of the dependent columns then
     exceeds the default tol, so the dependency checks must act. */
  if (fam == FAM_DEPENDENT && gsl_rng_uniform (r) < 0.5)
    for (i = 0; i < m; i++)
      b[i] *= 1e8;
}

/* KKT on every problem, and the brute-force optimum: residual norms
 * within 1e-10 ||b|| (absolute, since the optimum can be 0), x within
 * 1e-8 of max |x_ref| where the optimum is unique (m >= n, no dependent
 * columns).  KKT tolerance: 1e-12 ||A||_F ||b||_2. */
static void
test_random_kkt (void)
{
  static const size_t shapes[][2]
      = { { 30, 6 }, { 256, 5 }, { 8, 8 },  { 10, 10 }, { 5, 9 },
          { 3, 10 }, { 60, 10 }, { 12, 4 }, { 40, 12 }, { 1, 4 } };
  const size_t n_shapes = sizeof shapes / sizeof shapes[0];
  const int reps = 12;
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double *A = malloc (256 * 12 * sizeof (double)), b[256], x[12], xref[12];
  double worst_kkt[N_FAM] = { 0 }, worst_res = 0, worst_x = 0;
  int max_iter_seen = 0, n_problems = 0, n_unique = 0, fam, rep;
  size_t s, j;
  gsl_rng_set (r, NNLS_SEED);
  for (fam = 0; fam < N_FAM; fam++)
    for (s = 0; s < n_shapes; s++)
      for (rep = 0; rep < reps; rep++)
        {
          size_t m = shapes[s][0], n = shapes[s][1];
          gs_nnls_info info;
          double kkt, rref, rdiff;
          int st;
          make_problem (r, fam, m, n, A, b);
          st = nnls_solve (A, m, n, n, b, NULL, x, &info);
          CU_ASSERT_EQUAL (st, GS_OK);
          if (st != GS_OK)
            printf ("\n  %s %zu x %zu rep %d: %s", fam_names[fam], m, n, rep,
                    gs_last_error ());
          n_problems++;
          if (info.iterations > max_iter_seen)
            max_iter_seen = info.iterations;
          kkt = kkt_violation (A, m, n, b, x);
          if (kkt > worst_kkt[fam])
            worst_kkt[fam] = kkt;
          CU_ASSERT (kkt <= 1e-12);
          if (!(kkt <= 1e-12))
            printf ("\n  %s %zu x %zu rep %d: KKT violation %.3g",
                    fam_names[fam], m, n, rep, kkt);
          /* info agrees with x */
          {
            int np = 0;
            for (j = 0; j < n; j++)
              np += x[j] > 0;
            CU_ASSERT_EQUAL (info.n_passive, np);
            CU_ASSERT (fabs (info.residual_norm - residual (A, m, n, b, x))
                       <= 1e-12 * (vnorm (b, m) + 1e-300));
          }
          if (n > 12)
            continue;
          rref = brute_force (A, m, n, b, xref);
          rdiff = fabs (info.residual_norm - rref) / vnorm (b, m);
          if (rdiff > worst_res)
            worst_res = rdiff;
          CU_ASSERT (rdiff <= 1e-10);
          if (!(rdiff <= 1e-10))
            printf ("\n  %s %zu x %zu rep %d: residual %.17g vs %.17g",
                    fam_names[fam], m, n, rep, info.residual_norm, rref);
          if (m >= n && fam != FAM_DEPENDENT)
            {
              double d = 0;
              for (j = 0; j < n; j++)
                if (fabs (x[j] - xref[j]) > d)
                  d = fabs (x[j] - xref[j]);
              d /= vmaxabs (xref, n) > 0 ? vmaxabs (xref, n) : 1;
              if (d > worst_x)
                worst_x = d;
              CU_ASSERT (d <= 1e-8);
              n_unique++;
            }
        }
  printf ("\n  %d problems (%d with a unique solution), max iterations %d;"
          "\n  worst KKT / (||A||_F ||b||):",
          n_problems, n_unique, max_iter_seen);
  for (fam = 0; fam < N_FAM; fam++)
    printf (" %s %.2g", fam_names[fam], worst_kkt[fam]);
  printf ("\n  worst |residual - brute force| / ||b|| %.2g, worst |x - x_ref| "
          "/ max |x_ref| %.2g\n",
          worst_res, worst_x);
  free (A);
  gsl_rng_free (r);
}

/* b = A x_true with x_true >= 0 (about a third zeros), A of full column
 * rank: x = x_true within 1e-10 of max |x_true|, residual ~ 0. */
static void
test_exact_recovery (void)
{
  static const size_t shapes[][2]
      = { { 256, 5 }, { 30, 6 }, { 12, 12 }, { 100, 20 }, { 7, 3 } };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double *A = malloc (256 * 20 * sizeof (double)), b[256], x[20], xt[20];
  double worst = 0;
  size_t s, i, j;
  int rep;
  gsl_rng_set (r, NNLS_SEED + 1);
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (rep = 0; rep < 20; rep++)
      {
        size_t m = shapes[s][0], n = shapes[s][1];
        gs_nnls_info info;
        double d = 0;
        for (i = 0; i < m * n; i++)
          A[i] = rep % 2 ? gsl_ran_gaussian (r, 1.0) : gsl_rng_uniform (r);
        for (j = 0; j < n; j++)
          xt[j] = gsl_rng_uniform (r) < 0.35 ? 0 : 0.1 + gsl_rng_uniform (r);
        xt[rep % n] = 1; /* not all zero */
        for (i = 0; i < m; i++)
          {
            b[i] = 0;
            for (j = 0; j < n; j++)
              b[i] += A[i * n + j] * xt[j];
          }
        CU_ASSERT_EQUAL (nnls_solve (A, m, n, n, b, NULL, x, &info), GS_OK);
        for (j = 0; j < n; j++)
          if (fabs (x[j] - xt[j]) > d)
            d = fabs (x[j] - xt[j]);
        d /= vmaxabs (xt, n);
        if (d > worst)
          worst = d;
        CU_ASSERT (d <= 1e-10);
        CU_ASSERT (info.residual_norm <= 1e-12 * vnorm (b, m));
      }
  printf ("\n  worst max |x - x_true| / max |x_true| %.2g\n", worst);
  free (A);
  gsl_rng_free (r);
}

/* n = 1: x = max (0, a.b / a.a), residual sqrt (b.b - x a.b); a = 0 and
 * b = 0 give x = 0. */
static void
test_closed_form_one_column (void)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double a[50], b[50], x, zero[50] = { 0 };
  gs_nnls_info info;
  int rep, n_pos = 0;
  gsl_rng_set (r, NNLS_SEED + 2);
  for (rep = 0; rep < 40; rep++)
    {
      size_t m = 1 + gsl_rng_uniform_int (r, 50), i;
      double ab = 0, aa = 0, bb = 0, want;
      for (i = 0; i < m; i++)
        {
          a[i] = gsl_ran_gaussian (r, 1.0);
          b[i] = gsl_ran_gaussian (r, 1.0);
          ab += a[i] * b[i];
          aa += a[i] * a[i];
          bb += b[i] * b[i];
        }
      want = ab > 0 ? ab / aa : 0;
      n_pos += want > 0;
      CU_ASSERT_EQUAL (nnls_solve (a, m, 1, 1, b, NULL, &x, &info), GS_OK);
      CU_ASSERT (fabs (x - want) <= 1e-14 * (fabs (want) + 1e-300)
                 || (want == 0 && x == 0));
      CU_ASSERT_EQUAL (info.n_passive, want > 0);
      CU_ASSERT (fabs (info.residual_norm - sqrt (bb - want * ab))
                 <= 1e-13 * sqrt (bb));
    }
  CU_ASSERT (n_pos > 5 && n_pos < 35); /* both branches exercised */
  /* a = 0: x = 0 with residual ||b||; b = 0: x = 0, no iteration. */
  CU_ASSERT_EQUAL (nnls_solve (zero, 50, 1, 1, b, NULL, &x, &info), GS_OK);
  CU_ASSERT_EQUAL (x, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, vnorm (b, 50), 1e-14);
  CU_ASSERT_EQUAL (nnls_solve (b, 50, 1, 1, zero, NULL, &x, &info), GS_OK);
  CU_ASSERT_EQUAL (x, 0.0);
  CU_ASSERT_EQUAL (info.iterations, 0);
  CU_ASSERT_EQUAL (info.residual_norm, 0.0);
  gsl_rng_free (r);
}

/* Diagonal A (m > n, signs mixed, extra rows): x_i = max (0, b_i / d_i).
 * Orthogonal columns q_i scaled by s_i (GSL's QR of a random matrix):
 * x_i = max (0, q_i.b / s_i).  Within 1e-13 of max |x|. */
static void
test_closed_form_orthogonal (void)
{
  enum
  {
    M = 40,
    N = 8
  };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double A[M * N], b[M], x[N], want[N];
  gsl_matrix *G = gsl_matrix_alloc (M, N), *Q = gsl_matrix_alloc (M, M);
  gsl_matrix *R = gsl_matrix_alloc (M, N);
  gsl_vector *tau = gsl_vector_alloc (N);
  int rep, n_zero = 0, n_pos = 0;
  size_t i, j;
  gsl_rng_set (r, NNLS_SEED + 3);
  for (rep = 0; rep < 20; rep++)
    {
      double s[N], d = 0;
      for (j = 0; j < N; j++)
        s[j] = (gsl_rng_uniform (r) < 0.3 ? -1 : 1)
               * (0.1 + 10 * gsl_rng_uniform (r));
      for (i = 0; i < M; i++)
        b[i] = gsl_ran_gaussian (r, 1.0);
      if (rep % 2 == 0)
        {
          memset (A, 0, sizeof A);
          for (j = 0; j < N; j++)
            {
              A[j * N + j] = s[j];
              want[j] = b[j] / s[j] > 0 ? b[j] / s[j] : 0;
            }
        }
      else
        {
          for (i = 0; i < M; i++)
            for (j = 0; j < N; j++)
              gsl_matrix_set (G, i, j, gsl_ran_gaussian (r, 1.0));
          gsl_linalg_QR_decomp (G, tau);
          gsl_linalg_QR_unpack (G, tau, Q, R);
          for (j = 0; j < N; j++)
            {
              double qb = 0;
              for (i = 0; i < M; i++)
                {
                  A[i * N + j] = s[j] * gsl_matrix_get (Q, i, j);
                  qb += gsl_matrix_get (Q, i, j) * b[i];
                }
              want[j] = qb / s[j] > 0 ? qb / s[j] : 0;
            }
        }
      CU_ASSERT_EQUAL (nnls_solve (A, M, N, N, b, NULL, x, NULL), GS_OK);
      for (j = 0; j < N; j++)
        {
          if (fabs (x[j] - want[j]) > d)
            d = fabs (x[j] - want[j]);
          n_zero += want[j] == 0;
          n_pos += want[j] > 0;
          CU_ASSERT (want[j] > 0 || x[j] == 0);
        }
      CU_ASSERT (d <= 1e-13 * vmaxabs (want, N));
    }
  CU_ASSERT (n_zero > 20 && n_pos > 20);
  gsl_vector_free (tau);
  gsl_matrix_free (R);
  gsl_matrix_free (Q);
  gsl_matrix_free (G);
  gsl_rng_free (r);
}

/* When the unconstrained least-squares solution (GSL QR) is > 0 it is
 * the NNLS solution: x within 1e-12 of max |x_ls|, every column
 * passive, the same residual within 1e-12 ||b|| (it can be ~0). */
static void
test_unconstrained_agreement (void)
{
  static const size_t shapes[][2] = { { 256, 5 }, { 50, 10 }, { 9, 9 } };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double worst = 0;
  size_t s, i, j;
  int rep;
  gsl_rng_set (r, NNLS_SEED + 4);
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (rep = 0; rep < 10; rep++)
      {
        size_t m = shapes[s][0], n = shapes[s][1];
        gsl_matrix *M = gsl_matrix_alloc (m, n);
        gsl_vector *tau = gsl_vector_alloc (n), *sol = gsl_vector_alloc (n);
        gsl_vector *res = gsl_vector_alloc (m), *bv = gsl_vector_alloc (m);
        double *A = malloc (m * n * sizeof (double)), x[10], d = 0, xmax;
        gs_nnls_info info;
        int all_pos = 1;
        for (i = 0; i < m * n; i++)
          A[i] = gsl_ran_gaussian (r, 1.0);
        for (i = 0; i < m; i++)
          {
            double v = 0.01 * gsl_ran_gaussian (r, 1.0);
            for (j = 0; j < n; j++)
              v += A[i * n + j] * (1 + (double)j / (double)n);
            gsl_vector_set (bv, i, v);
            for (j = 0; j < n; j++)
              gsl_matrix_set (M, i, j, A[i * n + j]);
          }
        gsl_linalg_QR_decomp (M, tau);
        gsl_linalg_QR_lssolve (M, tau, bv, sol, res);
        for (j = 0; j < n; j++)
          all_pos &= gsl_vector_get (sol, j) > 0;
        CU_ASSERT_FATAL (all_pos); /* the premise */
        CU_ASSERT_EQUAL (nnls_solve (A, m, n, n, bv->data, NULL, x, &info),
                         GS_OK);
        CU_ASSERT_EQUAL (info.n_passive, (int)n);
        xmax = gsl_vector_max (sol);
        for (j = 0; j < n; j++)
          if (fabs (x[j] - gsl_vector_get (sol, j)) > d)
            d = fabs (x[j] - gsl_vector_get (sol, j));
        d /= xmax;
        if (d > worst)
          worst = d;
        CU_ASSERT (d <= 1e-12);
        CU_ASSERT (fabs (info.residual_norm - gsl_blas_dnrm2 (res))
                   <= 1e-12 * gsl_blas_dnrm2 (bv));
        free (A);
        gsl_vector_free (bv);
        gsl_vector_free (res);
        gsl_vector_free (sol);
        gsl_vector_free (tau);
        gsl_matrix_free (M);
      }
  printf ("\n  worst max |x - x_ls| / max |x_ls| %.2g\n", worst);
  gsl_rng_free (r);
}

/* scipy.optimize.nnls's documented example: A = [[1, 0], [1, 0], [0, 1]],
 * b = [2, 1, 1] gives x = [1.5, 1], rnorm 0.7071067811865475; b = -1
 * gives x = 0, rnorm 1.7320508075688772. */
static void
test_scipy_example (void)
{
  const double A[6] = { 1, 0, 1, 0, 0, 1 };
  const double b1[3] = { 2, 1, 1 }, b2[3] = { -1, -1, -1 };
  double x[2];
  gs_nnls_info info;
  CU_ASSERT_EQUAL (nnls_solve (A, 3, 2, 2, b1, NULL, x, &info), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (x[0], 1.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (x[1], 1.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, 0.7071067811865475, 1e-15);
  CU_ASSERT_EQUAL (info.n_passive, 2);
  CU_ASSERT_EQUAL (info.iterations, 2);
  CU_ASSERT_EQUAL (nnls_solve (A, 3, 2, 2, b2, NULL, x, &info), GS_OK);
  CU_ASSERT_EQUAL (x[0], 0.0);
  CU_ASSERT_EQUAL (x[1], 0.0);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, 1.7320508075688772, 1e-15);
  CU_ASSERT_EQUAL (info.n_passive, 0);
}

/* The default tol sits at the rounding level: a gradient of 1e-12 on a
 * unit column (tol 10 eps 1 3 = 6.7e-15) lets the column enter; a user
 * tol of 1e-10 keeps it out, and so does the default for 1e-16. */
static void
test_tolerance (void)
{
  const double A[6] = { 1, 0, 0, 1, 0, 0 };
  double b[3] = { 1, 1e-12, 0.5 }, x[2];
  gs_nnls_opts o;
  gs_nnls_info info;
  CU_ASSERT_EQUAL (nnls_solve (A, 3, 2, 2, b, NULL, x, &info), GS_OK);
  CU_ASSERT_EQUAL (x[0], 1.0);
  CU_ASSERT_DOUBLE_EQUAL (x[1], 1e-12, 1e-24);
  CU_ASSERT_EQUAL (info.n_passive, 2);
  gs_nnls_opts_init (&o);
  o.tol = 1e-10;
  CU_ASSERT_EQUAL (nnls_solve (A, 3, 2, 2, b, &o, x, &info), GS_OK);
  CU_ASSERT_EQUAL (x[0], 1.0);
  CU_ASSERT_EQUAL (x[1], 0.0);
  CU_ASSERT_EQUAL (info.n_passive, 1);
  b[1] = 1e-16;
  CU_ASSERT_EQUAL (nnls_solve (A, 3, 2, 2, b, NULL, x, &info), GS_OK);
  CU_ASSERT_EQUAL (x[1], 0.0);
}

/* Each bad input: its status, a message naming the problem, x left
 * alone. */
static void
check_bad (int st, int want, const char *needle, const double *x, size_t n)
{
  size_t j;
  CU_ASSERT_EQUAL (st, want);
  GS_ASSERT_CONTAINS (gs_last_error (), "NNLS");
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
  for (j = 0; j < n; j++)
    CU_ASSERT_EQUAL (x[j], 7.0);
  gs_error_clear ();
}

static void
test_bad_input (void)
{
  enum
  {
    M = 5,
    N = 3
  };
  double A[M * N], b[M], x[N] = { 7, 7, 7 }, big[M * N];
  size_t need = gs_nnls_work_bytes (M, N), i;
  void *work = malloc (need);
  char needs[32];
  gs_nnls_opts o;
  for (i = 0; i < M * N; i++)
    {
      A[i] = (double)(i % 7) - 2;
      big[i] = 1e308;
    }
  for (i = 0; i < M; i++)
    b[i] = (double)i;
  gs_error_clear ();
  check_bad (gs_nnls (NULL, M, N, N, b, NULL, work, need, x, NULL), GS_EINVAL,
             "A is NULL", x, N);
  check_bad (gs_nnls (A, M, N, N, NULL, NULL, work, need, x, NULL), GS_EINVAL,
             "b is NULL", x, N);
  check_bad (gs_nnls (A, M, N, N, b, NULL, work, need, NULL, NULL), GS_EINVAL,
             "x is NULL", x, N);
  check_bad (gs_nnls (A, 0, N, N, b, NULL, work, need, x, NULL), GS_EINVAL,
             "m = 0", x, N);
  check_bad (gs_nnls (A, M, 0, N, b, NULL, work, need, x, NULL), GS_EINVAL,
             "n = 0", x, N);
  check_bad (gs_nnls (A, M, N, N - 1, b, NULL, work, need, x, NULL), GS_EINVAL,
             "lda = 2", x, N);
  snprintf (needs, sizeof needs, "%zu bytes needed", need);
  check_bad (gs_nnls (A, M, N, N, b, NULL, work, need - 1, x, NULL), GS_EINVAL,
             needs, x, N);
  check_bad (gs_nnls (A, M, N, N, b, NULL, NULL, need, x, NULL), GS_EINVAL,
             needs, x, N);
  CU_ASSERT (gs_nnls_work_bytes ((size_t)-1 / 2, 3) == (size_t)-1);
  gs_nnls_opts_init (&o);
  o.max_iter = -1;
  check_bad (gs_nnls (A, M, N, N, b, &o, work, need, x, NULL), GS_EINVAL,
             "max_iter = -1", x, N);
  gs_nnls_opts_init (&o);
  o.tol = -1e-3;
  check_bad (gs_nnls (A, M, N, N, b, &o, work, need, x, NULL), GS_EINVAL, "tol",
             x, N);
  o.tol = NAN;
  check_bad (gs_nnls (A, M, N, N, b, &o, work, need, x, NULL), GS_EINVAL, "tol",
             x, N);
  A[2 * N + 1] = NAN;
  check_bad (gs_nnls (A, M, N, N, b, NULL, work, need, x, NULL), GS_EBADDATA,
             "row 2, column 1", x, N);
  A[2 * N + 1] = 1;
  b[3] = HUGE_VAL;
  check_bad (gs_nnls (A, M, N, N, b, NULL, work, need, x, NULL), GS_EBADDATA,
             "row 3", x, N);
  b[3] = 3;
  check_bad (gs_nnls (big, M, N, N, b, NULL, work, need, x, NULL), GS_ERANGE,
             "rescale", x, N);
  /* The valid call succeeds with the same buffers. */
  CU_ASSERT_EQUAL (gs_nnls (A, M, N, N, b, NULL, work, need, x, NULL), GS_OK);
  free (work);
}

/* max_iter = 1 on a problem that needs more: GS_EMAXITER, one column
 * passive at its one-column least-squares value (the column with the
 * largest a_j.b), the message names the cap. */
static void
test_iteration_cap (void)
{
  /* Columns e1 + small, e2, e3; b = (1, 2, 3, 0). */
  const double A[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1, 0.1, 0.1 };
  const double b[4] = { 1, 2, 3, 0 };
  double x[3], want;
  gs_nnls_opts o;
  gs_nnls_info info;
  gs_nnls_opts_init (&o);
  o.max_iter = 1;
  CU_ASSERT_EQUAL (nnls_solve (A, 4, 3, 3, b, &o, x, &info), GS_EMAXITER);
  GS_ASSERT_CONTAINS (gs_last_error (), "max_iter = 1");
  CU_ASSERT_EQUAL (info.iterations, 1);
  CU_ASSERT_EQUAL (info.n_passive, 1);
  /* a_3.b = 3.0 is the largest: x_3 = 3 / 1.01. */
  want = 3.0 / 1.01;
  CU_ASSERT_EQUAL (x[0], 0.0);
  CU_ASSERT_EQUAL (x[1], 0.0);
  CU_ASSERT_DOUBLE_EQUAL (x[2], want, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, residual (A, 4, 3, b, x), 1e-15);
  o.max_iter = 0;
  CU_ASSERT_EQUAL (nnls_solve (A, 4, 3, 3, b, &o, x, &info), GS_OK);
  CU_ASSERT_EQUAL (info.iterations, 3);
  CU_ASSERT_EQUAL (info.n_passive, 3);
}

/* lda > n with NaN padding (never read), a misaligned workspace full of
 * NaN bytes, and repeated solves: the same bits as a compact, clean
 * call. */
static void
test_lda_work_determinism (void)
{
  enum
  {
    M = 64,
    N = 7,
    LDA = 11
  };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double A[M * N], Ap[M * LDA], b[M], x1[N], x2[N], x3[N];
  size_t need = gs_nnls_work_bytes (M, N), i, j;
  unsigned char *buf = malloc (need + 3);
  gs_nnls_info i1, i2, i3;
  gsl_rng_set (r, NNLS_SEED + 5);
  make_problem (r, FAM_NEGATIVE, M, N, A, b);
  for (i = 0; i < M; i++)
    for (j = 0; j < LDA; j++)
      Ap[i * LDA + j] = j < N ? A[i * N + j] : NAN;
  CU_ASSERT_EQUAL (nnls_solve (A, M, N, N, b, NULL, x1, &i1), GS_OK);
  memset (buf, 0xff, need + 3);
  CU_ASSERT_EQUAL (gs_nnls (Ap, M, N, LDA, b, NULL, buf + 3, need, x2, &i2),
                   GS_OK);
  CU_ASSERT_EQUAL (gs_nnls (Ap, M, N, LDA, b, NULL, buf + 3, need, x3, &i3),
                   GS_OK);
  CU_ASSERT (memcmp (x1, x2, sizeof x1) == 0);
  CU_ASSERT (memcmp (x1, x3, sizeof x1) == 0);
  CU_ASSERT_EQUAL (i1.iterations, i2.iterations);
  CU_ASSERT (i1.residual_norm == i2.residual_norm);
  CU_ASSERT (i1.n_passive > 0 && i1.n_passive < N); /* a real active set */
  free (buf);
  gsl_rng_free (r);
}

/* 10 000 solves of a 256 x 5 problem (GAMMA_FLOW's scoring size):
 * printed, not asserted. */
static void
test_timing (void)
{
  enum
  {
    M = 256,
    N = 5,
    NB = 64,
    REPS = 10000
  };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double *A = malloc (M * N * sizeof (double));
  double *B = malloc (NB * M * sizeof (double)), x[N], t0, t;
  size_t need = gs_nnls_work_bytes (M, N);
  void *work = malloc (need);
  long iters = 0, passive = 0;
  int k, fails = 0;
  gsl_rng_set (r, NNLS_SEED + 6);
  for (k = 0; k < NB; k++)
    make_problem (r, FAM_COUNTS, M, N, A, B + (size_t)k * M);
  t0 = gs__now ();
  for (k = 0; k < REPS; k++)
    {
      gs_nnls_info info = { 0, 0, 0 };
      fails += gs_nnls (A, M, N, N, B + (size_t)(k % NB) * M, NULL, work, need,
                        x, &info)
               != GS_OK;
      iters += info.iterations;
      passive += info.n_passive;
    }
  t = gs__now () - t0;
  CU_ASSERT_EQUAL (fails, 0);
  printf ("\n  %d solves of %d x %d: %.1f ms (%.2f us each; %.2f iterations,"
          " %.2f passive on average)\n",
          REPS, M, N, 1e3 * t, 1e6 * t / REPS, (double)iters / REPS,
          (double)passive / REPS);
  free (work);
  free (B);
  free (A);
  gsl_rng_free (r);
}

/* ---- gs_nnls_gram: the normal-equation entry point ------------------- */

/* gs_nnls_gram on A, b: G = A^T A (lower triangle only; the upper holds
 * NaN, which must never be read), c = A^T b, btb = b^T b, with a fresh
 * malloc'd workspace. */
static int
gram_solve (const double *A, size_t m, size_t n, const double *b,
            const gs_nnls_opts *o, double *x, gs_nnls_info *info)
{
  size_t nb = gs_nnls_gram_work_bytes (n), i, j, r;
  void *work = malloc (nb);
  double *G = malloc (n * n * sizeof (double)), c[64], btb = 0;
  int st;
  CU_ASSERT_FATAL (work != NULL && G != NULL && n <= 64);
  for (i = 0; i < n; i++)
    {
      for (j = 0; j < n; j++)
        {
          double s = 0;
          for (r = 0; r < m; r++)
            s += A[r * n + i] * A[r * n + j];
          G[i * n + j] = j <= i ? s : NAN;
        }
      c[i] = 0;
      for (r = 0; r < m; r++)
        c[i] += A[r * n + i] * b[r];
    }
  for (r = 0; r < m; r++)
    btb += b[r] * b[r];
  st = gs_nnls_gram (G, n, c, btb, o, work, nb, x, info);
  free (G);
  free (work);
  return st;
}

/* 2-norm condition number of A (GSL SVD); +inf when rank-deficient or
 * m < n. */
static double
cond2 (const double *A, size_t m, size_t n)
{
  gsl_matrix *U;
  gsl_matrix *V;
  gsl_vector *S, *wk;
  double cn;
  size_t i, j;
  if (m < n)
    return HUGE_VAL;
  U = gsl_matrix_alloc (m, n);
  V = gsl_matrix_alloc (n, n);
  S = gsl_vector_alloc (n);
  wk = gsl_vector_alloc (n);
  for (i = 0; i < m; i++)
    for (j = 0; j < n; j++)
      gsl_matrix_set (U, i, j, A[i * n + j]);
  gsl_linalg_SV_decomp (U, V, S, wk);
  cn = gsl_vector_get (S, n - 1) > 0
           ? gsl_vector_get (S, 0) / gsl_vector_get (S, n - 1)
           : HUGE_VAL;
  gsl_vector_free (wk);
  gsl_vector_free (S);
  gsl_matrix_free (V);
  gsl_matrix_free (U);
  return cn;
}

/* On the seeded random problems of test_random_kkt (same generator, same
 * seed, so the same problems): on well-conditioned ones (cond (A) <=
 * 1e3, m >= n, independent columns) x matches gs_nnls within 1e-9 of
 * max |x| and the KKT violation is <= 1e-12 (the bound of gs_nnls; its
 * error grows with cond^2 = 1e6 times eps); on every problem (dependent
 * columns, m < n, ill-conditioned) the solve succeeds, x >= 0, its
 * residual is within 1e-6 ||b|| of the brute-force optimum (the
 * normal equations square the conditioning) and info agrees with x:
 * n_passive = entries > 0, residual_norm within 1e-6 ||b|| of ||A x -
 * b|| (computed from b^T b - 2 c.x + x.G.x, so it carries an absolute
 * error of a few sqrt (eps) ||b|| on a close fit). */
static void
test_gram_random (void)
{
  static const size_t shapes[][2]
      = { { 30, 6 }, { 256, 5 }, { 8, 8 },  { 10, 10 }, { 5, 9 },
          { 3, 10 }, { 60, 10 }, { 12, 4 }, { 40, 12 }, { 1, 4 } };
  const size_t n_shapes = sizeof shapes / sizeof shapes[0];
  const int reps = 12;
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double *A = malloc (256 * 12 * sizeof (double)), b[256], x[12], xq[12];
  double xref[12], worst_x = 0, worst_kkt = 0, worst_res = 0, worst_info = 0;
  int fam, rep, n_well = 0, n_all = 0;
  size_t s, j;
  gsl_rng_set (r, NNLS_SEED);
  for (fam = 0; fam < N_FAM; fam++)
    for (s = 0; s < n_shapes; s++)
      for (rep = 0; rep < reps; rep++)
        {
          size_t m = shapes[s][0], n = shapes[s][1];
          gs_nnls_info info, iq;
          double bn, rref, d;
          int st, np = 0;
          make_problem (r, fam, m, n, A, b);
          bn = vnorm (b, m);
          st = gram_solve (A, m, n, b, NULL, x, &info);
          CU_ASSERT_EQUAL (st, GS_OK);
          if (st != GS_OK)
            {
              printf ("\n  %s %zu x %zu rep %d: %s", fam_names[fam], m, n, rep,
                      gs_last_error ());
              continue;
            }
          n_all++;
          for (j = 0; j < n; j++)
            {
              CU_ASSERT (x[j] >= 0 && isfinite (x[j]));
              np += x[j] > 0;
            }
          CU_ASSERT_EQUAL (info.n_passive, np);
          d = fabs (info.residual_norm - residual (A, m, n, b, x));
          if (d / bn > worst_info)
            worst_info = d / bn;
          CU_ASSERT (d <= 1e-6 * bn);
          rref = brute_force (A, m, n, b, xref);
          d = (residual (A, m, n, b, x) - rref) / bn;
          if (d > worst_res)
            worst_res = d;
          CU_ASSERT (d <= 1e-6);
          if (!(d <= 1e-6))
            printf ("\n  %s %zu x %zu rep %d: residual %.17g vs %.17g",
                    fam_names[fam], m, n, rep, residual (A, m, n, b, x),
                    rref);
          if (fam == FAM_DEPENDENT || !(cond2 (A, m, n) <= 1e3))
            continue;
          n_well++;
          CU_ASSERT_EQUAL (nnls_solve (A, m, n, n, b, NULL, xq, &iq), GS_OK);
          d = 0;
          for (j = 0; j < n; j++)
            if (fabs (x[j] - xq[j]) > d)
              d = fabs (x[j] - xq[j]);
          d /= vmaxabs (xq, n) > 0 ? vmaxabs (xq, n) : 1;
          if (d > worst_x)
            worst_x = d;
          CU_ASSERT (d <= 1e-9);
          CU_ASSERT_EQUAL (info.n_passive, iq.n_passive);
          d = kkt_violation (A, m, n, b, x);
          if (d > worst_kkt)
            worst_kkt = d;
          CU_ASSERT (d <= 1e-12);
        }
  CU_ASSERT (n_well > 200); /* the comparison covers most problems */
  printf ("\n  %d problems, %d well-conditioned: worst |x - x_qr| / max "
          "|x_qr| %.2g, KKT %.2g;\n  all: worst (residual - brute force) / "
          "||b|| %.2g, |info residual - ||Ax-b||| / ||b|| %.2g\n",
          n_all, n_well, worst_x, worst_kkt, worst_res, worst_info);
  free (A);
  gsl_rng_free (r);
}

/* Dependent columns: A = [a, a, 2.5 a, b2, 0] with b in their span.
 * gs_nnls_gram keeps an independent support (at most one of the three
 * copies), reaches the optimal residual (0 within 1e-7 ||b||) and the
 * fitted A x equals b.  A G that is not positive semi-definite on the
 * passive block (a pivot < 0) does not crash either. */
static void
test_gram_dependent (void)
{
  enum
  {
    M = 20,
    N = 5
  };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double A[M * N], b[M], x[N];
  gs_nnls_info info;
  size_t i;
  int rep;
  gsl_rng_set (r, NNLS_SEED + 7);
  for (rep = 0; rep < 20; rep++)
    {
      int copies;
      for (i = 0; i < M; i++)
        {
          double a = gsl_ran_gaussian (r, 1.0), c2 = gsl_ran_gaussian (r, 1.0);
          A[i * N + 0] = a;
          A[i * N + 1] = a;
          A[i * N + 2] = 2.5 * a;
          A[i * N + 3] = c2;
          A[i * N + 4] = 0;
          b[i] = 3 * a + 0.5 * c2;
        }
      CU_ASSERT_EQUAL (gram_solve (A, M, N, b, NULL, x, &info), GS_OK);
      copies = (x[0] > 0) + (x[1] > 0) + (x[2] > 0);
      CU_ASSERT_EQUAL (copies, 1);
      CU_ASSERT_EQUAL (x[4], 0.0);
      CU_ASSERT (info.n_passive == 2);
      CU_ASSERT (residual (A, M, N, b, x) <= 1e-7 * vnorm (b, M));
      CU_ASSERT_DOUBLE_EQUAL (x[0] + x[1] + 2.5 * x[2], 3.0, 1e-7);
      CU_ASSERT_DOUBLE_EQUAL (x[3], 0.5, 1e-7);
    }
  {
    /* Indefinite G: [[1, 2], [2, 1]], c = (1, 1): the second column has
       a negative pivot once the first is passive and is refused. */
    const double G[4] = { 1, NAN, 2, 1 }, c[2] = { 1, 1 };
    size_t nb = gs_nnls_gram_work_bytes (2);
    void *work = malloc (nb);
    CU_ASSERT_EQUAL (gs_nnls_gram (G, 2, c, NAN, NULL, work, nb, x, &info),
                     GS_OK);
    CU_ASSERT_EQUAL (info.n_passive, 1);
    CU_ASSERT (isnan (info.residual_norm));
    CU_ASSERT (x[0] == 1.0 || x[1] == 1.0);
    free (work);
  }
  gsl_rng_free (r);
}

/* Closed forms and info: n = 1 gives x = max (0, c / g) and residual
 * sqrt (btb - c^2 / g); scipy's example through the normal equations
 * (x = [1.5, 1], rnorm 1/sqrt 2, 2 iterations); c <= 0 everywhere gives
 * x = 0, no iteration, residual sqrt (btb); the iteration cap. */
static void
test_gram_info (void)
{
  const double A[6] = { 1, 0, 1, 0, 0, 1 }, b1[3] = { 2, 1, 1 };
  const double b2[3] = { -1, -1, -1 };
  const double Gc[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1, 0.1, 0.1 };
  const double bc[4] = { 1, 2, 3, 0 };
  double x[3], g = 4, c, G1[9];
  size_t nb = gs_nnls_gram_work_bytes (1);
  void *work = malloc (gs_nnls_gram_work_bytes (3));
  gs_nnls_info info;
  gs_nnls_opts o;
  c = 6;
  CU_ASSERT_EQUAL (gs_nnls_gram (&g, 1, &c, 10, NULL, work, nb, x, &info),
                   GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (x[0], 1.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, 1.0, 1e-15);
  CU_ASSERT_EQUAL (info.iterations, 1);
  CU_ASSERT_EQUAL (info.n_passive, 1);
  c = -6;
  CU_ASSERT_EQUAL (gs_nnls_gram (&g, 1, &c, 10, NULL, work, nb, x, &info),
                   GS_OK);
  CU_ASSERT_EQUAL (x[0], 0.0);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, sqrt (10.0), 1e-15);
  CU_ASSERT_EQUAL (info.iterations, 0);
  CU_ASSERT_EQUAL (info.n_passive, 0);
  CU_ASSERT_EQUAL (gram_solve (A, 3, 2, b1, NULL, x, &info), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (x[0], 1.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (x[1], 1.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, 0.7071067811865475, 1e-15);
  CU_ASSERT_EQUAL (info.iterations, 2);
  CU_ASSERT_EQUAL (info.n_passive, 2);
  CU_ASSERT_EQUAL (gram_solve (A, 3, 2, b2, NULL, x, &info), GS_OK);
  CU_ASSERT_EQUAL (x[0], 0.0);
  CU_ASSERT_EQUAL (x[1], 0.0);
  CU_ASSERT_DOUBLE_EQUAL (info.residual_norm, 1.7320508075688772, 1e-15);
  CU_ASSERT_EQUAL (info.iterations, 0);
  /* The iteration cap of test_iteration_cap, through G. */
  gs_nnls_opts_init (&o);
  o.max_iter = 1;
  CU_ASSERT_EQUAL (gram_solve (Gc, 4, 3, bc, &o, x, &info), GS_EMAXITER);
  GS_ASSERT_CONTAINS (gs_last_error (), "max_iter = 1");
  CU_ASSERT_EQUAL (info.iterations, 1);
  CU_ASSERT_EQUAL (info.n_passive, 1);
  CU_ASSERT_DOUBLE_EQUAL (x[2], 3.0 / 1.01, 1e-15);
  CU_ASSERT_EQUAL (x[0], 0.0);
  o.max_iter = 0;
  CU_ASSERT_EQUAL (gram_solve (Gc, 4, 3, bc, &o, x, &info), GS_OK);
  CU_ASSERT_EQUAL (info.iterations, 3);
  CU_ASSERT_EQUAL (info.n_passive, 3);
  /* A misaligned workspace full of NaN bytes: the same bits. */
  {
    unsigned char *buf = malloc (gs_nnls_gram_work_bytes (3) + 5);
    double x2[3];
    size_t i, j, r;
    for (i = 0; i < 3; i++)
      for (j = 0; j < 3; j++)
        {
          G1[i * 3 + j] = 0;
          for (r = 0; r < 4; r++)
            G1[i * 3 + j] += Gc[r * 3 + i] * Gc[r * 3 + j];
        }
    {
      double cc[3] = { 1.0, 2.0, 3.0 };
      memset (buf, 0xff, gs_nnls_gram_work_bytes (3) + 5);
      CU_ASSERT_EQUAL (gs_nnls_gram (G1, 3, cc, NAN, NULL, work,
                                     gs_nnls_gram_work_bytes (3), x, NULL),
                       GS_OK);
      CU_ASSERT_EQUAL (gs_nnls_gram (G1, 3, cc, NAN, NULL, buf + 5,
                                     gs_nnls_gram_work_bytes (3), x2, NULL),
                       GS_OK);
      CU_ASSERT (memcmp (x, x2, sizeof x) == 0);
    }
    free (buf);
  }
  free (work);
}

static void
check_bad_gram (int st, int want, const char *needle, const double *x,
                size_t n)
{
  size_t j;
  CU_ASSERT_EQUAL (st, want);
  GS_ASSERT_CONTAINS (gs_last_error (), "NNLS (Gram)");
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
  for (j = 0; j < n; j++)
    CU_ASSERT_EQUAL (x[j], 7.0);
  gs_error_clear ();
}

static void
test_gram_bad_input (void)
{
  enum
  {
    N = 3
  };
  double G[N * N] = { 2, 0, 0, 1, 3, 0, 0.5, 0.2, 1 }, c[N] = { 1, 2, 3 };
  double x[N] = { 7, 7, 7 };
  gs_nnls_info info = { -5, -5, -5 };
  size_t need = gs_nnls_gram_work_bytes (N);
  void *work = malloc (need);
  char needs[32];
  gs_nnls_opts o;
  gs_error_clear ();
  check_bad_gram (gs_nnls_gram (NULL, N, c, 1, NULL, work, need, x, &info),
                  GS_EINVAL, "G is NULL", x, N);
  check_bad_gram (gs_nnls_gram (G, N, NULL, 1, NULL, work, need, x, &info),
                  GS_EINVAL, "c is NULL", x, N);
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, work, need, NULL, &info),
                  GS_EINVAL, "x is NULL", x, N);
  check_bad_gram (gs_nnls_gram (G, 0, c, 1, NULL, work, need, x, &info),
                  GS_EINVAL, "n = 0", x, N);
  snprintf (needs, sizeof needs, "%zu bytes needed", need);
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, work, need - 1, x, &info),
                  GS_EINVAL, needs, x, N);
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, NULL, need, x, &info),
                  GS_EINVAL, needs, x, N);
  CU_ASSERT (gs_nnls_gram_work_bytes ((size_t)-1 / 4) == (size_t)-1);
  gs_nnls_opts_init (&o);
  o.max_iter = -2;
  check_bad_gram (gs_nnls_gram (G, N, c, 1, &o, work, need, x, &info),
                  GS_EINVAL, "max_iter = -2", x, N);
  gs_nnls_opts_init (&o);
  o.tol = HUGE_VAL;
  check_bad_gram (gs_nnls_gram (G, N, c, 1, &o, work, need, x, &info),
                  GS_EINVAL, "tol", x, N);
  G[2 * N + 1] = NAN;
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, work, need, x, &info),
                  GS_EBADDATA, "row 2, column 1", x, N);
  G[2 * N + 1] = 0.2;
  G[1 * N + 1] = -3;
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, work, need, x, &info),
                  GS_EBADDATA, "diagonal at row 1", x, N);
  G[1 * N + 1] = 3;
  c[2] = -HUGE_VAL;
  check_bad_gram (gs_nnls_gram (G, N, c, 1, NULL, work, need, x, &info),
                  GS_EBADDATA, "c has -inf at row 2", x, N);
  c[2] = 3;
  check_bad_gram (gs_nnls_gram (G, N, c, -1, NULL, work, need, x, &info),
                  GS_EBADDATA, "btb = -1", x, N);
  check_bad_gram (gs_nnls_gram (G, N, c, HUGE_VAL, NULL, work, need, x, &info),
                  GS_EBADDATA, "btb", x, N);
  CU_ASSERT_EQUAL (info.iterations, -5); /* info unwritten too */
  /* The upper triangle is never read: NaN there is fine. */
  G[0 * N + 1] = NAN;
  G[0 * N + 2] = NAN;
  G[1 * N + 2] = NAN;
  CU_ASSERT_EQUAL (gs_nnls_gram (G, N, c, 100, NULL, work, need, x, &info),
                   GS_OK);
  CU_ASSERT (x[0] >= 0 && x[1] >= 0 && x[2] >= 0);
  free (work);
}

/* 10 000 gs_nnls_gram solves of the 256 x 5 timing problem (G formed
 * once; c = A^T b per solve, included): printed, not asserted. */
static void
test_gram_timing (void)
{
  enum
  {
    M = 256,
    N = 5,
    NB = 64,
    REPS = 10000
  };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double *A = malloc (M * N * sizeof (double)), *At = malloc (M * N * 8);
  double *B = malloc (NB * M * sizeof (double)), x[N], G[N * N], c[N], t0, t;
  size_t need = gs_nnls_gram_work_bytes (N), i, j, q;
  void *work = malloc (need);
  int k, fails = 0;
  gsl_rng_set (r, NNLS_SEED + 6);
  for (k = 0; k < NB; k++)
    make_problem (r, FAM_COUNTS, M, N, A, B + (size_t)k * M);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      {
        G[i * N + j] = 0;
        for (q = 0; q < M; q++)
          G[i * N + j] += A[q * N + i] * A[q * N + j];
      }
  for (q = 0; q < M; q++)
    for (j = 0; j < N; j++)
      At[j * M + q] = A[q * N + j];
  t0 = gs__now ();
  for (k = 0; k < REPS; k++)
    {
      const double *b = B + (size_t)(k % NB) * M;
      for (j = 0; j < N; j++)
        {
          double s = 0;
          for (q = 0; q < M; q++)
            s += At[j * M + q] * b[q];
          c[j] = s;
        }
      fails += gs_nnls_gram (G, N, c, NAN, NULL, work, need, x, NULL) != GS_OK;
    }
  t = gs__now () - t0;
  CU_ASSERT_EQUAL (fails, 0);
  printf ("\n  %d Gram solves of %d x %d (c = A^T b included): %.1f ms (%.3f "
          "us each)\n",
          REPS, M, N, 1e3 * t, 1e6 * t / REPS);
  free (work);
  free (B);
  free (At);
  free (A);
  gsl_rng_free (r);
}

void gs_test_register_nnls (void);
void
gs_test_register_nnls (void)
{
  CU_pSuite s = CU_add_suite ("nnls", NULL, NULL);
  CU_add_test (s, "KKT and brute force, random problems", test_random_kkt);
  CU_add_test (s, "exact recovery", test_exact_recovery);
  CU_add_test (s, "closed form, one column", test_closed_form_one_column);
  CU_add_test (s, "closed form, diagonal and orthogonal A",
               test_closed_form_orthogonal);
  CU_add_test (s, "unconstrained least squares when positive",
               test_unconstrained_agreement);
  CU_add_test (s, "scipy's documented example", test_scipy_example);
  CU_add_test (s, "default and user tolerance", test_tolerance);
  CU_add_test (s, "bad input", test_bad_input);
  CU_add_test (s, "iteration cap", test_iteration_cap);
  CU_add_test (s, "lda, workspace, determinism", test_lda_work_determinism);
  CU_add_test (s, "timing, 10 000 solves of 256 x 5", test_timing);
  CU_add_test (s, "Gram: random problems against gs_nnls, KKT",
               test_gram_random);
  CU_add_test (s, "Gram: dependent columns", test_gram_dependent);
  CU_add_test (s, "Gram: closed forms, info, cap", test_gram_info);
  CU_add_test (s, "Gram: bad input", test_gram_bad_input);
  CU_add_test (s, "Gram: timing, 10 000 solves of 256 x 5", test_gram_timing);
}
