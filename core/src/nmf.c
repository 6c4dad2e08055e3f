/* Joint Poisson NMF of one spectrum (gspec/poisson.h): the SEMSUN paper's
 * NMF baseline, shared by unmixing.nmf and the SemSun study. */
#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "gspec/poisson.h"
#include "gspec/status.h"

void
gs_nmf_opts_init (gs_nmf_opts *o)
{
  o->max_iter = 1000;
  o->tol = 1e-6;
  o->update_background = 0;
}

size_t
gs_nmf_work_doubles (size_t n_channels, size_t k)
{
  return 2 * n_channels + 2 * k;
}

/* mu = X a; r_i = y_i / mu_i, 0 where mu_i <= 0 (then y_i = 0). */
static void
nmf_ratio (const double *X, size_t n, size_t k, const double *a,
           const double *y, double *mu, double *r)
{
  size_t i;
  cblas_dgemv (CblasRowMajor, CblasNoTrans, (int)n, (int)k, 1.0, X, (int)k, a,
               1, 0.0, mu, 1);
  for (i = 0; i < n; i++)
    r[i] = (mu[i] > 0 && y[i] > 0) ? y[i] / mu[i] : 0.0;
}

int
gs_nmf_poisson (const double *y, size_t n, double *X, size_t k, double *a,
                const gs_nmf_opts *o, double *work, int *iters)
{
  size_t i, j, j0;
  double *mu, *r, *t, *ap;
  int it = 0;

  if (iters)
    *iters = 0;
  if (!y || !X || !a || !o || !work)
    return gs_error (GS_EINVAL, "gs_nmf_poisson: NULL argument");
  if (n < 1 || k < 1 || n > (size_t)1 << 30 || k > (size_t)1 << 20)
    return gs_error (GS_EINVAL,
                     "gs_nmf_poisson: %zu channels x %zu columns; both "
                     "must be at least 1",
                     n, k);
  if (o->max_iter < 0 || !(o->tol > 0))
    return gs_error (GS_EINVAL,
                     "gs_nmf_poisson: max_iter %d must be >= 0 and tol %g "
                     "> 0",
                     o->max_iter, o->tol);
  j0 = o->update_background ? 0 : 1;
  mu = work;
  r = mu + n;
  t = r + n;
  ap = t + k;

  while (it < o->max_iter)
    {
      double xdiff = 0, xnorm = 0, adiff = 0, anorm = 0, err;
      memcpy (ap, a, k * sizeof (double));
      /* X-update with a fixed: X_ij *= r_i on the updated columns, then
       * renormalise each to sum 1 (its sum is t_j = (X^T r)_j) and move
       * the scale into a_j; the same pass forms the ratio of the a-update. */
      nmf_ratio (X, n, k, a, y, mu, r);
      cblas_dgemv (CblasRowMajor, CblasTrans, (int)n, (int)k, 1.0, X, (int)k, r,
                   1, 0.0, t, 1);
      for (j = j0; j < k; j++)
        if (a[j] > 0)
          a[j] = t[j] > 0 ? a[j] * t[j] : 0; /* 0: support only on
                                                 empty channels */
      for (i = 0; i < n; i++)
        {
          double m = 0;
          for (j = 0; j < k; j++)
            {
              double old = X[i * k + j];
              xnorm += old * old;
              if (j >= j0 && a[j] > 0)
                {
                  double v = old * r[i] / t[j];
                  xdiff += (v - old) * (v - old);
                  X[i * k + j] = v;
                }
              m += X[i * k + j] * a[j];
            }
          r[i] = (m > 0 && y[i] > 0) ? y[i] / m : 0.0;
        }
      /* a-update with X fixed (spec 3.2): a *= X^T (y / X a). */
      cblas_dgemv (CblasRowMajor, CblasTrans, (int)n, (int)k, 1.0, X, (int)k, r,
                   1, 0.0, t, 1);
      for (j = 0; j < k; j++)
        {
          a[j] *= t[j];
          adiff += (a[j] - ap[j]) * (a[j] - ap[j]);
          anorm += ap[j] * ap[j];
        }
      it++;
      err = sqrt (xdiff / (xnorm > 0 ? xnorm : 1));
      if (anorm > 0)
        err = fmax (err, sqrt (adiff / anorm));
      else if (adiff > 0)
        err = INFINITY;
      if (!isfinite (err))
        {
          if (iters)
            *iters = it;
          return gs_error (GS_EBADDATA,
                           "gs_nmf_poisson: the joint iteration diverged at "
                           "iteration %d",
                           it);
        }
      if (err <= o->tol)
        break;
    }
  if (iters)
    *iters = it;
  return GS_OK;
}
