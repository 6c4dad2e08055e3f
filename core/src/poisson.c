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
  double *Xp;    /* m x k compact design on channels with y > 0 */
  double *yp;    /* y on those channels */
  size_t *rows;  /* their channel indices */
  double *c;     /* column sums over all channels */
  double *mu, *mu_try, *r;
  double *a_try, *g, *d, *H, *W;
  size_t *freeidx;
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
         + 4 * round64 (n * sizeof (double)) + round64 (n * sizeof (size_t))
         + 4 * round64 (k * sizeof (double)) + round64 (k * k * sizeof (double))
         + round64 (k * sizeof (size_t)) + 64;
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
  GS__TAKE (Xp, double, n * k);
  GS__TAKE (W, double, n * k);
  GS__TAKE (yp, double, n);
  GS__TAKE (mu, double, n);
  GS__TAKE (mu_try, double, n);
  GS__TAKE (r, double, n);
  GS__TAKE (rows, size_t, n);
  GS__TAKE (c, double, k);
  GS__TAKE (a_try, double, k);
  GS__TAKE (g, double, k);
  GS__TAKE (d, double, k);
  GS__TAKE (H, double, k * k);
  GS__TAKE (freeidx, size_t, k);
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

/* Negative log-likelihood up to constants: c.a - sum_p y_p log mu_p. */
static double
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

/* mu = Xp a on the m compact rows; returns 0 if some mu_p <= 0. */
static int
forward (const gs_poisson_ws *w, size_t m, size_t k, const double *a,
         double *mu)
{
  size_t p;
  cblas_dgemv (CblasRowMajor, CblasNoTrans, (int)m, (int)k, 1.0, w->Xp,
               (int)k, a, 1, 0.0, mu, 1);
  for (p = 0; p < m; p++)
    if (!(mu[p] > 0))
      return 0;
  return 1;
}

int
gs_nnpu (gs_poisson_ws *w, const double *X, size_t ldx, size_t n_channels,
         const size_t *cols, size_t n_cols, const double *y,
         const gs_nnpu_opts *opts, double *a, gs_nnpu_info *info)
{
  gs_nnpu_opts def;
  size_t m = 0, k = n_cols, i, j, p;
  double ysum = 0, f, csum = 0;
  int it, converged = 0;
  if (!opts)
    {
      gs_nnpu_opts_init (&def);
      opts = &def;
    }
  if (!w || k == 0 || k > w->max_cols || n_channels > w->n_channels)
    return gs_error (GS_EINVAL,
                     "NNPU: %zu columns / %zu channels exceed the workspace "
                     "(%zu / %zu)",
                     k, n_channels, w ? w->max_cols : 0,
                     w ? w->n_channels : 0);
  /* Compact the design to the channels with counts. */
  for (j = 0; j < k; j++)
    w->c[j] = 0;
  for (i = 0; i < n_channels; i++)
    {
      const double *row = X + i * ldx;
      for (j = 0; j < k; j++)
        w->c[j] += row[colidx (cols, j)];
      if (!(y[i] >= 0) || !isfinite (y[i]))
        return gs_error (GS_EBADDATA, "NNPU: channel %zu has count %g", i,
                         y[i]);
      if (y[i] > 0)
        {
          double *dst = w->Xp + m * k;
          for (j = 0; j < k; j++)
            dst[j] = row[colidx (cols, j)];
          w->yp[m] = y[i];
          w->rows[m] = i;
          ysum += y[i];
          m++;
        }
    }
  for (j = 0; j < k; j++)
    {
      if (!(w->c[j] > 0))
        return gs_error (GS_EBADDATA,
                         "NNPU: selected column %zu (library column %zu) is "
                         "all zero",
                         j, colidx (cols, j));
      csum += w->c[j];
    }
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
          info->loss = gs_poisson_divergence (X, ldx, n_channels, cols, k,
                                              y, a);
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
  f = objective (w, m, k, a, w->mu);
  for (it = 0; it < opts->max_iter; it++)
    {
      size_t nf = 0, nb, q, r2;
      int info_lapack = 0, n_int, ok_step = 0;
      double dec = 0, t, eps;
      for (p = 0; p < m; p++)
        w->r[p] = w->yp[p] / w->mu[p];
      /* g = c - Xp^T r */
      cblas_dgemv (CblasRowMajor, CblasTrans, (int)m, (int)k, -1.0, w->Xp,
                   (int)k, w->r, 1, 0.0, w->g, 1);
      for (j = 0; j < k; j++)
        w->g[j] += w->c[j];
      /* Bertsekas' epsilon-active set: a variable near its bound with a
       * gradient pushing it there is not in the Newton system but is moved
       * to the bound along the arc; without it the iteration can zigzag
       * forever on a tiny positive coefficient.  eps is the size of the
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
      /* H_FF = W^T W with W_pq = Xp_p,F[q] sqrt(y_p) / mu_p. */
      for (p = 0; p < m; p++)
        {
          double s = sqrt (w->yp[p]) / w->mu[p];
          const double *src = w->Xp + p * k;
          double *dst = w->W + p * nf;
          for (q = 0; q < nf; q++)
            dst[q] = src[w->freeidx[q]] * s;
        }
      cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)nf, (int)m,
                   1.0, w->W, (int)nf, 0.0, w->H, (int)nf);
      for (q = 0; q < nf; q++)
        for (r2 = 0; r2 < q; r2++)
          w->H[q * nf + r2] = w->H[r2 * nf + q];
      for (q = 0; q < nf; q++)
        w->d[q] = -w->g[w->freeidx[q]];
      n_int = (int)nf;
      dpotrf_ ("L", &n_int, w->H, &n_int, &info_lapack);
      if (info_lapack != 0)
        {
          /* Collinear free columns: regularise and retry. */
          double tr = 0;
          for (p = 0; p < m; p++)
            {
              double s = w->yp[p] / (w->mu[p] * w->mu[p]);
              const double *src = w->Xp + p * k;
              for (q = 0; q < nf; q++)
                tr += src[w->freeidx[q]] * src[w->freeidx[q]] * s;
            }
          cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)nf,
                       (int)m, 1.0, w->W, (int)nf, 0.0, w->H, (int)nf);
          for (q = 0; q < nf; q++)
            {
              for (r2 = 0; r2 < q; r2++)
                w->H[q * nf + r2] = w->H[r2 * nf + q];
              w->H[q * nf + q] += 1e-10 * tr / (double)nf + 1e-300;
            }
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
      for (q = 0; q < nf; q++)
        dec -= w->g[w->freeidx[q]] * w->d[q];
      for (q = 0; q < nb; q++)
        {
          j = w->freeidx[k - 1 - q];
          dec += w->g[j] * a[j];
        }
      /* Converged when the Newton decrement is below the tolerance, or
       * below the rounding level of the objective, whose terms are of the
       * size of the total counts (a tighter test can loop forever on
       * steps that change f by nothing). */
      if (dec <= 2.0 * opts->tol * (1.0 + fabs (f))
          || dec <= 1e-14 * (1.0 + ysum))
        {
          converged = 1;
          break;
        }
      /* Projected backtracking line search (Armijo along the arc). */
      for (t = 1.0; t > 1e-20; t *= 0.5)
        {
          double slope = 0, f_try;
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
          if (f_try <= f + 1e-4 * slope
              || (t == 1.0 && f_try <= f + 1e-13 * (1.0 + fabs (f))
                  && dec < 1e-8 * (1.0 + fabs (f))))
            {
              memcpy (a, w->a_try, k * sizeof (double));
              memcpy (w->mu, w->mu_try, m * sizeof (double));
              f = f_try;
              ok_step = 1;
              break;
            }
        }
      if (!ok_step)
        {
          /* No decrease possible at machine precision: stationary. */
          converged = 1;
          break;
        }
    }
  if (info)
    {
      info->iterations = it;
      info->converged = converged;
      info->loss = gs_poisson_divergence (X, ldx, n_channels, cols, k, y, a);
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
