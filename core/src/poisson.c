/* Non-negative Poisson maximum likelihood by projected Newton. */
#include "gspec/poisson.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "lapack.h"

struct gs_poisson_ws
{
  size_t n_channels, max_cols;
  double *Xall;  /* column-major: column j of the prepared columns at
                    Xall + j m, rows = the channels with counts */
  double *call;  /* their column sums over all channels */
  size_t n_prep, m; /* prepared columns, channels with counts */
  double ysum, dconst; /* sum y; sum (y log (y + 1e-16) - y) */
  double ymin;   /* smallest positive count */
  double *yp;    /* y on those channels */
  size_t *rows;  /* their channel indices */
  double *c;     /* column sums over all channels */
  double *mu, *mu_try, *r;
  double *a_try, *g, *g_new, *d, *H, *W;
  size_t *freeidx;
  const double **colp; /* the fit's columns in Xall */
  void *block; /* malloc'd block when made by gs_poisson_ws_alloc */
};

/* Layout of a workspace in one block: the struct, then the arrays, each
 * rounded up to 64 bytes. */
static size_t
round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

size_t
gs_poisson_ws_bytes (size_t n_channels, size_t max_cols)
{
  size_t n = n_channels, k = max_cols;
  return round64 (sizeof (gs_poisson_ws)) + 2 * round64 (n * k * sizeof (double))
         + round64 (k * sizeof (double))
         + 4 * round64 (n * sizeof (double)) + round64 (n * sizeof (size_t))
         + 5 * round64 (k * sizeof (double)) + round64 (k * k * sizeof (double))
         + round64 (k * sizeof (size_t)) + round64 (k * sizeof (double *))
         + 64;
}

gs_poisson_ws *
gs_poisson_ws_place (void *mem, size_t n_channels, size_t max_cols)
{
  size_t n = n_channels, k = max_cols;
  char *p = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
  gs_poisson_ws *w = (gs_poisson_ws *)p;
  if (!mem || n == 0 || k == 0 || k > 4096)
    return NULL;
  memset (w, 0, sizeof *w);
  p += round64 (sizeof *w);
#define GS__TAKE(field, type, count)                                         \
  w->field = (type *)p;                                                      \
  p += round64 ((count) * sizeof (type))
  GS__TAKE (Xall, double, n * k);
  GS__TAKE (call, double, k);
  GS__TAKE (W, double, n * k);
  GS__TAKE (yp, double, n);
  GS__TAKE (mu, double, n);
  GS__TAKE (mu_try, double, n);
  GS__TAKE (r, double, n);
  GS__TAKE (rows, size_t, n);
  GS__TAKE (c, double, k);
  GS__TAKE (a_try, double, k);
  GS__TAKE (g, double, k);
  GS__TAKE (g_new, double, k);
  GS__TAKE (d, double, k);
  GS__TAKE (H, double, k * k);
  GS__TAKE (freeidx, size_t, k);
  GS__TAKE (colp, const double *, k);
#undef GS__TAKE
  w->n_channels = n;
  w->max_cols = k;
  return w;
}

gs_poisson_ws *
gs_poisson_ws_alloc (size_t n_channels, size_t max_cols)
{
  void *mem;
  gs_poisson_ws *w;
  if (n_channels == 0 || max_cols == 0 || max_cols > 4096)
    {
      gs_error (GS_EINVAL, "Poisson workspace needs 1..4096 columns and at "
                           "least one channel");
      return NULL;
    }
  mem = malloc (gs_poisson_ws_bytes (n_channels, max_cols));
  if (!mem)
    {
      gs_error (GS_ENOMEM, "out of memory allocating a Poisson workspace");
      return NULL;
    }
  w = gs_poisson_ws_place (mem, n_channels, max_cols);
  w->block = mem;
  return w;
}

void
gs_poisson_ws_free (gs_poisson_ws *w)
{
  if (w)
    free (w->block);
}

void
gs_nnpu_opts_init (gs_nnpu_opts *o)
{
  memset (o, 0, sizeof *o);
  o->max_iter = 200;
  o->tol = 1e-15;
}

static size_t
colidx (const size_t *cols, size_t j)
{
  return cols ? cols[j] : j;
}

#define GS__GAIN_KMAX 65

/* The fitting loops are compiled twice on x86-64, for the baseline and
 * for AVX2 + FMA (x86-64-v3), and the loader picks one per machine
 * (GCC target_clones / ifunc): the same code, 4-wide.  Results are
 * reproducible on a given machine at any thread count; the last bits can
 * differ between machines with and without AVX2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)         \
    && !defined(__SANITIZE_ADDRESS__)
#define GS__HOT __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#else
#define GS__HOT
#endif

/* Dot products with four partial sums (so that the compiler can use
 * vector registers without reassociating a single sum). */
#if defined(__GNUC__)
#define GS__INLINE static inline __attribute__ ((always_inline))
#else
#define GS__INLINE static inline
#endif

GS__INLINE double
dot2 (const double *x, const double *y, size_t m)
{
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t p = 0;
  for (; p + 4 <= m; p += 4)
    {
      s0 += x[p] * y[p];
      s1 += x[p + 1] * y[p + 1];
      s2 += x[p + 2] * y[p + 2];
      s3 += x[p + 3] * y[p + 3];
    }
  for (; p < m; p++)
    s0 += x[p] * y[p];
  return (s0 + s1) + (s2 + s3);
}

GS__INLINE double
dot3 (const double *x, const double *y, const double *z, size_t m)
{
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t p = 0;
  for (; p + 4 <= m; p += 4)
    {
      s0 += x[p] * y[p] * z[p];
      s1 += x[p + 1] * y[p + 1] * z[p + 1];
      s2 += x[p + 2] * y[p + 2] * z[p + 2];
      s3 += x[p + 3] * y[p + 3] * z[p + 3];
    }
  for (; p < m; p++)
    s0 += x[p] * y[p] * z[p];
  return (s0 + s1) + (s2 + s3);
}

/* Negative log-likelihood up to constants: c.a - sum_p y_p log mu_p. */
GS__INLINE double
objective (const gs_poisson_ws *w, size_t m, size_t k, const double *a,
           const double *mu)
{
  double f = 0;
  size_t j, p;
  for (j = 0; j < k; j++)
    f += w->c[j] * a[j];
  for (p = 0; p < m; p++)
    f -= w->yp[p] * log (mu[p]);
  return f;
}

/* mu = sum_j a_j col_j on the m compact rows; returns 0 if some
 * mu_p <= 0. */
GS__INLINE int
forward (const gs_poisson_ws *w, size_t m, size_t k, const double *a,
         double *mu)
{
  size_t p, j;
  int ok = 1;
  for (p = 0; p < m; p++)
    mu[p] = 0;
  for (j = 0; j < k; j++)
    {
      const double *x = w->colp[j];
      double aj = a[j];
      if (aj == 0)
        continue;
      for (p = 0; p < m; p++)
        mu[p] += aj * x[p];
    }
  for (p = 0; p < m; p++)
    ok &= mu[p] > 0;
  return ok;
}

/* r = y / mu, g_j = c_j - col_j . r */
GS__INLINE void
gradient (gs_poisson_ws *w, size_t m, size_t k, const double *mu, double *r,
          double *g)
{
  size_t p, j;
  for (p = 0; p < m; p++)
    r[p] = w->yp[p] / mu[p];
  for (j = 0; j < k; j++)
    g[j] = w->c[j] - dot2 (w->colp[j], r, m);
}

/* Compacts the channels with counts of columns cols[0..n_cols) of X. */
static int
prepare (gs_poisson_ws *w, const double *X, size_t ldx, size_t n_channels,
         const size_t *cols, size_t k, const double *y)
{
  size_t i, j, m = 0;
  double ysum = 0, dconst = 0;
  if (!w || k == 0 || k > w->max_cols || n_channels > w->n_channels)
    return gs_error (GS_EINVAL,
                     "NNPU: %zu columns / %zu channels exceed the workspace "
                     "(%zu / %zu)",
                     k, n_channels, w ? w->max_cols : 0,
                     w ? w->n_channels : 0);
  for (j = 0; j < k; j++)
    w->call[j] = 0;
  for (i = 0; i < n_channels; i++)
    {
      const double *row = X + i * ldx;
      for (j = 0; j < k; j++)
        w->call[j] += row[colidx (cols, j)];
      if (!(y[i] >= 0) || !isfinite (y[i]))
        return gs_error (GS_EBADDATA, "NNPU: channel %zu has count %g", i,
                         y[i]);
      if (y[i] > 0)
        {
          w->yp[m] = y[i];
          w->rows[m] = i;
          ysum += y[i];
          dconst += y[i] * log (y[i] + 1e-16) - y[i];
          m++;
        }
    }
  for (i = 0; i < m; i++)
    {
      const double *row = X + w->rows[i] * ldx;
      for (j = 0; j < k; j++)
        w->Xall[j * m + i] = row[colidx (cols, j)];
    }
  w->ymin = INFINITY;
  for (i = 0; i < m; i++)
    if (w->yp[i] < w->ymin)
      w->ymin = w->yp[i];
  w->n_prep = k;
  w->m = m;
  w->ysum = ysum;
  w->dconst = dconst;
  return GS_OK;
}

int
gs_poisson_prepare (gs_poisson_ws *w, const double *X, size_t ldx,
                    size_t n_channels, size_t n_cols, const double *y)
{
  return prepare (w, X, ldx, n_channels, NULL, n_cols, y);
}

double
gs_poisson_prepared_loss (const gs_poisson_ws *w, const size_t *cols,
                          size_t k, const double *a)
{
  size_t p, j, m = w->m;
  double f = w->dconst;
  for (j = 0; j < k; j++)
    f += w->call[colidx (cols, j)] * a[j];
  for (p = 0; p < m; p++)
    {
      double mu = 0;
      for (j = 0; j < k; j++)
        mu += w->Xall[colidx (cols, j) * m + p] * a[j];
      f -= w->yp[p] * log (mu + 1e-16);
    }
  return f;
}

/* colp, mu and r = y / mu on the prepared columns cols[0..k) at a;
 * returns 0 when some channel with counts has mu <= 0. */
GS__INLINE int
point (gs_poisson_ws *w, const size_t *cols, size_t k, const double *a)
{
  size_t p, j, m = w->m;
  for (j = 0; j < k; j++)
    w->colp[j] = w->Xall + colidx (cols, j) * m;
  if (!forward (w, m, k, a, w->mu))
    return 0;
  for (p = 0; p < m; p++)
    w->r[p] = w->yp[p] / w->mu[p];
  return 1;
}

int
gs_poisson_gradient (gs_poisson_ws *w, const size_t *cols, size_t k,
                     const double *a, const size_t *cand, size_t n_cand,
                     double *g)
{
  size_t p, j, m = w->m;
  if (k > w->max_cols)
    return gs_error (GS_EINVAL, "NNPU gradient: %zu columns", k);
  if (!point (w, cols, k, a))
    {
      for (p = 0; p < m && w->mu[p] > 0; p++)
        ;
      return gs_error (GS_EBADDATA,
                       "NNPU gradient: channel %zu has counts but no model",
                       w->rows[p < m ? p : 0]);
    }
  for (j = 0; j < n_cand; j++)
    g[j] = w->call[cand[j]] - dot2 (w->Xall + cand[j] * m, w->r, m);
  return GS_OK;
}

GS__HOT int
gs_poisson_gain_bounds (gs_poisson_ws *w, const size_t *cols, size_t k,
                        const double *a, const size_t *cand, size_t n_cand,
                        double *bound)
{
  size_t p, j, q, r2, m = w->m, n = k + 1;
  double *S = w->W, *H = w->H, *g = w->g_new, base_g[GS__GAIN_KMAX];
  int n_int = (int)n, info = 0, one = 1;
  for (j = 0; j < n_cand; j++)
    bound[j] = INFINITY;
  if (!(w->ymin >= 1) || k + 1 > w->max_cols || k + 1 > GS__GAIN_KMAX
      || m == 0)
    return GS_OK; /* no bound without integer-like counts */
  if (!point (w, cols, k, a))
    return GS_OK;
  for (p = 0; p < m; p++)
    S[p] = w->r[p] / w->mu[p];
  for (j = 0; j < k; j++)
    base_g[j] = w->call[colidx (cols, j)] - dot2 (w->colp[j], w->r, m);
  for (q = 0; q < n_cand; q++)
    {
      const double *xc = w->Xall + cand[q] * m;
      double lambda, gc = w->call[cand[q]] - dot2 (xc, w->r, m), quad = 0;
      if (!(gc < 0))
        {
          bound[q] = 0; /* the optimum stays put */
          continue;
        }
      /* H over the base columns and the candidate, at (a, 0). */
      w->colp[k] = xc;
      for (j = 0; j < n; j++)
        for (r2 = j; r2 < n; r2++)
          {
            double h = dot3 (S, w->colp[j], w->colp[r2], m);
            H[j * n + r2] = h;
            H[r2 * n + j] = h;
          }
      for (j = 0; j < k; j++)
        g[j] = base_g[j];
      g[k] = gc;
      memcpy (w->d, g, n * sizeof (double));
      dpotrf_ ("L", &n_int, H, &n_int, &info);
      if (info == 0)
        dpotrs_ ("L", &n_int, &one, H, &n_int, w->d, &n_int, &info);
      if (info != 0)
        continue;
      for (j = 0; j < n; j++)
        quad += g[j] * w->d[j];
      lambda = sqrt (quad > 0 ? quad : 0);
      /* Self-concordance (counts >= 1): f(x) - f* <= -lambda - log (1 -
       * lambda) for lambda < 1; no bound beyond. */
      if (lambda < 1)
        bound[q] = -lambda - log1p (-lambda);
    }
  return GS_OK;
}

int
gs_nnpu (gs_poisson_ws *w, const double *X, size_t ldx, size_t n_channels,
         const size_t *cols, size_t n_cols, const double *y,
         const gs_nnpu_opts *opts, double *a, gs_nnpu_info *info)
{
  int rc = prepare (w, X, ldx, n_channels, cols, n_cols, y);
  if (rc != GS_OK)
    return rc;
  rc = gs_nnpu_prepared (w, NULL, n_cols, opts, a, info);
  if (info && (rc == GS_OK || rc == GS_EMAXITER))
    info->loss = gs_poisson_divergence (X, ldx, n_channels, cols, n_cols, y,
                                        a);
  return rc;
}

GS__HOT int
gs_nnpu_prepared (gs_poisson_ws *w, const size_t *cols, size_t k,
                  const gs_nnpu_opts *opts, double *a, gs_nnpu_info *info)
{
  gs_nnpu_opts def;
  size_t m, i, j, p;
  double ysum, f, csum = 0;
  int it, converged = 0;
  if (!opts)
    {
      gs_nnpu_opts_init (&def);
      opts = &def;
    }
  if (!w || k == 0 || k > w->max_cols)
    return gs_error (GS_EINVAL, "NNPU: %zu columns exceed the workspace",
                     k);
  m = w->m;
  ysum = w->ysum;
  for (j = 0; j < k; j++)
    {
      size_t cj = colidx (cols, j);
      if (cj >= w->n_prep)
        return gs_error (GS_EINVAL,
                         "NNPU: column %zu was not prepared (%zu columns)",
                         cj, w->n_prep);
      w->c[j] = w->call[cj];
      if (!(w->c[j] > 0))
        return gs_error (GS_EBADDATA,
                         "NNPU: selected column %zu (library column %zu) is "
                         "all zero",
                         j, cj);
      csum += w->c[j];
    }
  for (j = 0; j < k; j++)
    w->colp[j] = w->Xall + colidx (cols, j) * m;
  (void)i;
  if (m == 0)
    {
      /* No counts: the maximum likelihood is a = 0 for free columns. */
      for (j = 0; j < k; j++)
        if (!(opts->fixed && opts->fixed[j] && opts->warm_start))
          a[j] = 0.0;
      if (info)
        {
          info->iterations = 0;
          info->converged = 1;
          info->loss = gs_poisson_prepared_loss (w, cols, k, a);
        }
      return GS_OK;
    }
  /* Start: the caller's point, or uniform with sum(c a) = sum(y). */
  if (!opts->warm_start)
    for (j = 0; j < k; j++)
      a[j] = ysum / csum;
  else
    for (j = 0; j < k; j++)
      if (!(a[j] >= 0) || !isfinite (a[j]))
        a[j] = ysum / csum;
  if (!forward (w, m, k, a, w->mu))
    {
      /* The warm start leaves a channel with counts unexplained: restart
       * from the uniform point (fixed columns keep their value). */
      for (j = 0; j < k; j++)
        if (!(opts->fixed && opts->fixed[j]))
          a[j] = ysum / csum;
      if (!forward (w, m, k, a, w->mu))
        {
          for (p = 0; p < m; p++)
            if (!(w->mu[p] > 0))
              break;
          return gs_error (GS_EBADDATA,
                           "NNPU: channel %zu has %g counts but none of the "
                           "selected signatures covers it",
                           w->rows[p < m ? p : 0], w->yp[p < m ? p : 0]);
        }
    }
  /* A column warm-started at 0 (a nested support's new column) first
   * gets its one-dimensional optimum with the others fixed: from exactly
   * 0, Newton grows such a column only geometrically (the curvature
   * y / mu^2 is huge where the base model is small).  The 1-D condition
   * S(t) = sum_p y_p x_p / (mu_p + t x_p) = c_j is solved by Newton on
   * 1 / S, which is nearly linear in t (exactly so for one channel). */
  if (opts->warm_start && opts->init_new)
    for (j = 0; j < k; j++)
      {
        const double *x = w->colp[j];
        double t = 0;
        int it1;
        if (a[j] != 0 || (opts->fixed && opts->fixed[j]))
          continue;
        for (it1 = 0; it1 < 8; it1++)
          {
            double S = 0, dS = 0, step;
            for (p = 0; p < m; p++)
              {
                double q = x[p] / (w->mu[p] + t * x[p]);
                S += w->yp[p] * q;
                dS += w->yp[p] * q * q;
              }
            if (!(S > w->c[j]) || !(dS > 0))
              break;
            step = S * (S / w->c[j] - 1) / dS;
            t += step;
            if (step <= 1e-3 * t)
              break;
          }
        if (t > 0 && isfinite (t))
          {
            a[j] = t;
            for (p = 0; p < m; p++)
              w->mu[p] += t * x[p];
          }
      }
  /* r = y / mu and g = c - X^T r at the current point. */
  gradient (w, m, k, w->mu, w->r, w->g);
  f = NAN; /* the objective is only evaluated when a step needs it */
  for (it = 0; it < opts->max_iter; it++)
    {
      size_t nf = 0, nb, q, r2;
      int info_lapack = 0, n_int, ok_step = 0;
      double dec = 0, t, eps, slope, slope_new;
      /* Bertsekas' epsilon-active set: a variable near its bound with a
       * gradient pushing it there is not in the Newton system but is moved
       * to the bound along the arc; without it the iteration can zigzag
       * on a tiny positive coefficient.  eps is the size of the
       * projected-gradient step, capped. */
      eps = 0;
      for (j = 0; j < k; j++)
        if (!(opts->fixed && opts->fixed[j]))
          {
            double pj = a[j] - (a[j] - w->g[j] > 0 ? a[j] - w->g[j] : 0);
            eps += pj * pj;
          }
      eps = sqrt (eps);
      if (eps > 1e-3)
        eps = 1e-3;
      nb = 0;
      for (j = 0; j < k; j++)
        {
          if (opts->fixed && opts->fixed[j])
            continue;
          if (a[j] <= 0 && w->g[j] >= 0)
            continue; /* active bound */
          if (a[j] <= eps && w->g[j] > 0)
            {
              w->freeidx[k - 1 - nb++] = j; /* to the bound */
              continue;
            }
          w->freeidx[nf++] = j;
        }
      if (nf == 0 && nb == 0)
        {
          converged = 1;
          break;
        }
      /* H_FF = sum_p (y_p / mu_p^2) x_pF x_pF^T. */
      for (p = 0; p < m; p++)
        w->W[p] = w->r[p] / w->mu[p];
      for (q = 0; q < nf; q++)
        for (r2 = q; r2 < nf; r2++)
          {
            double h = dot3 (w->W, w->colp[w->freeidx[q]],
                             w->colp[w->freeidx[r2]], m);
            w->H[q * nf + r2] = h;
            w->H[r2 * nf + q] = h;
          }
      for (q = 0; q < nf; q++)
        w->d[q] = -w->g[w->freeidx[q]];
      n_int = (int)nf;
      if (nf > 0)
        {
          memcpy (w->W, w->H, nf * nf * sizeof (double));
          dpotrf_ ("L", &n_int, w->H, &n_int, &info_lapack);
          if (info_lapack != 0)
            {
              /* Collinear free columns: regularise and retry. */
              double tr = 0;
              memcpy (w->H, w->W, nf * nf * sizeof (double));
              for (q = 0; q < nf; q++)
                tr += w->H[q * nf + q];
              for (q = 0; q < nf; q++)
                w->H[q * nf + q] += 1e-10 * tr / (double)nf + 1e-300;
              dpotrf_ ("L", &n_int, w->H, &n_int, &info_lapack);
            }
          if (info_lapack == 0)
            {
              int one = 1;
              dpotrs_ ("L", &n_int, &one, w->H, &n_int, w->d, &n_int,
                       &info_lapack);
            }
          if (info_lapack != 0)
            {
              /* Fall back to an EM step, which always decreases f. */
              for (q = 0; q < nf; q++)
                {
                  j = w->freeidx[q];
                  w->d[q] = a[j] * (w->c[j] - w->g[j]) / w->c[j] - a[j];
                }
            }
        }
      for (q = 0; q < nf; q++)
        dec -= w->g[w->freeidx[q]] * w->d[q];
      for (q = 0; q < nb; q++)
        {
          j = w->freeidx[k - 1 - q];
          dec += w->g[j] * a[j];
        }
      /* Converged when the Newton decrement is below the tolerance or
       * near the rounding level of the objective, a sum of m terms of the
       * size of the counts (a tighter test can loop forever on steps that
       * change f by nothing). */
      if (dec <= (2.0 * opts->tol > 1e-14 ? 2.0 * opts->tol : 1e-14)
                     * (1.0 + ysum))
        {
          converged = 1;
          break;
        }
      /* The full step first.  The objective is convex along the step s,
       * so phi(1) <= phi(0) + phi'(1): when the directional derivative at
       * the new point satisfies g_new . s <= 1e-4 g . s, the Armijo
       * condition holds without evaluating a logarithm; the new gradient
       * is the next iteration's anyway. */
      memcpy (w->a_try, a, k * sizeof (double));
      slope = 0;
      for (q = 0; q < nf; q++)
        {
          j = w->freeidx[q];
          w->a_try[j] = a[j] + w->d[q];
          if (w->a_try[j] < 0)
            w->a_try[j] = 0;
          slope += w->g[j] * (w->a_try[j] - a[j]);
        }
      for (q = 0; q < nb; q++)
        {
          j = w->freeidx[k - 1 - q];
          w->a_try[j] = 0;
          slope -= w->g[j] * a[j];
        }
      if (slope < 0 && forward (w, m, k, w->a_try, w->mu_try))
        {
          gradient (w, m, k, w->mu_try, w->W, w->g_new);
          slope_new = 0;
          for (j = 0; j < k; j++)
            slope_new += w->g_new[j] * (w->a_try[j] - a[j]);
          if (slope_new <= 1e-4 * slope)
            {
              memcpy (w->g, w->g_new, k * sizeof (double));
              memcpy (a, w->a_try, k * sizeof (double));
              memcpy (w->mu, w->mu_try, m * sizeof (double));
              memcpy (w->r, w->W, m * sizeof (double));
              f = NAN;
              continue;
            }
        }
      /* Projected backtracking line search on the objective. */
      if (isnan (f))
        f = objective (w, m, k, a, w->mu);
      {
        for (t = 1.0; t > 1e-20; t *= 0.5)
          {
            double f_try;
            slope = 0;
            memcpy (w->a_try, a, k * sizeof (double));
            for (q = 0; q < nf; q++)
              {
                j = w->freeidx[q];
                w->a_try[j] = a[j] + t * w->d[q];
                if (w->a_try[j] < 0)
                  w->a_try[j] = 0;
                slope += w->g[j] * (w->a_try[j] - a[j]);
              }
            for (q = 0; q < nb; q++)
              {
                j = w->freeidx[k - 1 - q];
                w->a_try[j] = a[j] * (1.0 - t);
                slope += w->g[j] * (w->a_try[j] - a[j]);
              }
            if (!forward (w, m, k, w->a_try, w->mu_try))
              continue;
            f_try = objective (w, m, k, w->a_try, w->mu_try);
            if (f_try <= f + 1e-4 * slope && f_try < f)
              {
                memcpy (a, w->a_try, k * sizeof (double));
                memcpy (w->mu, w->mu_try, m * sizeof (double));
                f = f_try;
                ok_step = 1;
                break;
              }
          }
      }
      if (!ok_step)
        {
          /* No decrease possible at machine precision: stationary. */
          converged = 1;
          break;
        }
      gradient (w, m, k, w->mu, w->r, w->g);
    }
  if (info)
    {
      info->iterations = it;
      info->converged = converged;
      info->loss = w->dconst + objective (w, m, k, a, w->mu);
    }
  return converged ? GS_OK
                   : gs_error (GS_EMAXITER,
                               "NNPU did not converge in %d Newton "
                               "iterations",
                               opts->max_iter);
}

int
gs_nnpu_em (const double *X, size_t ldx, size_t n_channels,
            const size_t *cols, size_t n_cols, const double *y,
            const double *a0, int niter_max, double tol, int keep_first,
            double *a, int *iters)
{
  double *mu = malloc (n_channels * sizeof (double));
  double *an = malloc (n_cols * sizeof (double));
  size_t i, j;
  int it = 0;
  double err = 1.0;
  if (!mu || !an)
    {
      free (mu);
      free (an);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  for (j = 0; j < n_cols; j++)
    a[j] = a0 ? a0[j] : 1.0 / (double)n_cols;
  while (it < niter_max && err > tol)
    {
      for (i = 0; i < n_channels; i++)
        {
          const double *row = X + i * ldx;
          double s = 0;
          for (j = 0; j < n_cols; j++)
            s += row[colidx (cols, j)] * a[j];
          mu[i] = s;
        }
      for (j = 0; j < n_cols; j++)
        an[j] = 0;
      for (i = 0; i < n_channels; i++)
        {
          const double *row = X + i * ldx;
          double r;
          if (y[i] == 0)
            continue;
          r = y[i] / mu[i];
          for (j = 0; j < n_cols; j++)
            an[j] += row[colidx (cols, j)] * r;
        }
      err = 0;
      for (j = 0; j < n_cols; j++)
        {
          an[j] *= a[j];
          if (keep_first && j == 0)
            an[j] = a[j];
          err += fabs (an[j] - a[j]) / (a[j] + 1e-10);
        }
      err /= (double)n_cols;
      memcpy (a, an, n_cols * sizeof (double));
      it++;
    }
  free (mu);
  free (an);
  if (iters)
    *iters = it;
  return GS_OK;
}

double
gs_poisson_divergence (const double *X, size_t ldx, size_t n_channels,
                       const size_t *cols, size_t n_cols, const double *y,
                       const double *a)
{
  double D = 0;
  size_t i, j;
  for (i = 0; i < n_channels; i++)
    {
      const double *row = X + i * ldx;
      double mu = 0;
      for (j = 0; j < n_cols; j++)
        mu += row[colidx (cols, j)] * a[j];
      D += mu;
      if (y[i] > 0)
        D += -y[i] * log (mu + 1e-16) + y[i] * log (y[i] + 1e-16) - y[i];
    }
  return D;
}

int
gs_poisson_fisher_std (gs_poisson_ws *w, const double *X, size_t ldx,
                       size_t n_channels, const size_t *cols, size_t n_cols,
                       const double *a, double *std)
{
  size_t i, j, q, nf = 0;
  int n_int, info = 0;
  if (!w || n_cols > w->max_cols || n_channels > w->n_channels)
    return gs_error (GS_EINVAL, "Fisher std: sizes exceed the workspace");
  for (j = 0; j < n_cols; j++)
    {
      std[j] = 0;
      if (a[j] > 0)
        w->freeidx[nf++] = j;
    }
  if (nf == 0)
    return GS_OK;
  /* W_iq = X_i,F[q] / sqrt(mu_i) over channels with mu_i > 0. */
  {
    size_t m = 0;
    for (i = 0; i < n_channels; i++)
      {
        const double *row = X + i * ldx;
        double mu = 0, s;
        for (q = 0; q < nf; q++)
          mu += row[colidx (cols, w->freeidx[q])] * a[w->freeidx[q]];
        if (!(mu > 0))
          continue;
        s = 1.0 / sqrt (mu);
        for (q = 0; q < nf; q++)
          w->W[m * nf + q] = row[colidx (cols, w->freeidx[q])] * s;
        m++;
      }
    cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)nf, (int)m, 1.0,
                 w->W, (int)nf, 0.0, w->H, (int)nf);
  }
  n_int = (int)nf;
  /* Row-major upper == column-major lower. */
  dpotrf_ ("L", &n_int, w->H, &n_int, &info);
  if (info == 0)
    dpotri_ ("L", &n_int, w->H, &n_int, &info);
  if (info != 0)
    return gs_error (GS_ESING,
                     "Fisher information is singular (the active "
                     "signatures are collinear)");
  for (q = 0; q < nf; q++)
    {
      double v = w->H[q * nf + q];
      std[w->freeidx[q]] = v > 0 ? sqrt (v) : 0;
    }
  return GS_OK;
}
