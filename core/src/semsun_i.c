/* SEMSUN-i: block coordinate descent with one IAE per nuclide
 * (gspec/semsun_i.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/poisson.h"
#include "gspec/semsun_i.h"
#include "gspec/status.h"

#define SI_KMAX GS_SEMSUN_MAX_COLS

struct gs_semsun_i_ws
{
  size_t C, K, n;
  const gs_iae *m[SI_KMAX];   /* per nuclide, NULL: fixed column */
  size_t len[SI_KMAX];        /* its length L_k */
  gs_semsun_ws *bw[SI_KMAX];  /* its BSP workspace */
  gs_poisson_ws *pw;
  void *work;                 /* decode / fast interpolation workspace */
  size_t work_bytes;
  double *X[2];               /* n x K: current, next */
  double *bg, *yk;            /* n */
  float *xf;                  /* n: decode output / encode input */
};

void
gs_semsun_i_ws_free (gs_semsun_i_ws *w)
{
  size_t k;
  if (!w)
    return;
  for (k = 0; k < w->C; k++)
    gs_semsun_ws_free (w->bw[k]);
  gs_poisson_ws_free (w->pw);
  free (w->work);
  free (w->X[0]);
  free (w->X[1]);
  free (w->bg);
  free (w->yk);
  free (w->xf);
  free (w);
}

int
gs_semsun_i_ws_alloc (const gs_iae *const *models, size_t C,
                      size_t n_channels, gs_semsun_i_ws **out)
{
  gs_semsun_i_ws *w;
  size_t k, n = n_channels, K = C + 1;
  int rc;
  if (out)
    *out = NULL;
  if (!models || !out)
    return gs_error (GS_EINVAL, "gs_semsun_i_ws_alloc: NULL argument");
  if (C < 1 || K > SI_KMAX || n < 1 || n > (size_t)1 << 24)
    return gs_error (GS_EINVAL,
                     "gs_semsun_i_ws_alloc: %zu nuclides on %zu channels; "
                     "1 to %d nuclides and at least 1 channel are supported",
                     C, n, SI_KMAX - 1);
  w = (gs_semsun_i_ws *)calloc (1, sizeof *w);
  if (!w)
    return gs_error (GS_ENOMEM, "gs_semsun_i_ws_alloc: out of memory");
  w->C = C;
  w->K = K;
  w->n = n;
  for (k = 0; k < C; k++)
    {
      const gs_iae_config *cfg;
      size_t b;
      w->m[k] = models[k];
      if (!models[k])
        continue;
      cfg = gs_iae_get_config (models[k]);
      if (cfg->n_components != 1 || cfg->n_anchors != 2)
        {
          gs_semsun_i_ws_free (w);
          return gs_error (GS_EUNSUPPORTED,
                           "gs_semsun_i_ws_alloc: nuclide %zu's IAE (%s) "
                           "has %d components and %d anchors; SEMSUN-i "
                           "needs individual models (1 component, 2 "
                           "anchors)",
                           k, cfg->names[0], cfg->n_components,
                           cfg->n_anchors);
        }
      if ((size_t)cfg->length > n)
        {
          gs_semsun_i_ws_free (w);
          return gs_error (GS_EBADLEN,
                           "gs_semsun_i_ws_alloc: nuclide %zu's IAE (%s) "
                           "decodes %d channels, more than the %zu of the "
                           "spectra",
                           k, cfg->names[0], cfg->length, n);
        }
      w->len[k] = (size_t)cfg->length;
      rc = gs_semsun_ws_alloc (models[k], w->len[k], &w->bw[k]);
      if (rc != GS_OK)
        {
          gs_semsun_i_ws_free (w);
          return gs_error_prefix (rc, "gs_semsun_i_ws_alloc, nuclide %zu",
                                  k);
        }
      b = gs_iae_work_bytes (models[k], 1);
      if (b > w->work_bytes)
        w->work_bytes = b;
    }
  w->pw = gs_poisson_ws_alloc (n, K);
  w->work = w->work_bytes ? malloc (w->work_bytes) : NULL;
  w->X[0] = (double *)malloc (n * K * sizeof (double));
  w->X[1] = (double *)malloc (n * K * sizeof (double));
  w->bg = (double *)malloc (n * sizeof (double));
  w->yk = (double *)malloc (n * sizeof (double));
  w->xf = (float *)malloc (n * sizeof (float));
  if (!w->pw || (w->work_bytes && !w->work) || !w->X[0] || !w->X[1]
      || !w->bg || !w->yk || !w->xf)
    {
      gs_semsun_i_ws_free (w);
      return gs_error (GS_ENOMEM, "gs_semsun_i_ws_alloc: out of memory");
    }
  *out = w;
  return GS_OK;
}

static double
si_norm2 (const double *x, size_t n)
{
  double s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    s += x[i] * x[i];
  return sqrt (s);
}

/* Bg = X a without column c (every row), into w->bg. */
static void
si_background (gs_semsun_i_ws *w, const double *X, const double *a, size_t c)
{
  size_t i, j, K = w->K;
  for (i = 0; i < w->n; i++)
    {
      double s = 0;
      for (j = 0; j < K; j++)
        if (j != c)
          s += X[i * K + j] * a[j];
      w->bg[i] = s;
    }
}

/* Column c = nuclide k's decode at lambda on [0, L_k), the rest kept,
 * renormalised to sum 1. */
static int
si_set_column (gs_semsun_i_ws *w, size_t k, const double *lambda, double *X)
{
  size_t i, K = w->K, c = k + 1, L = w->len[k];
  double s = 0;
  int rc = gs_iae_decode (w->m[k], w->work, w->work_bytes, lambda, 1, w->xf);
  if (rc != GS_OK)
    return rc;
  for (i = 0; i < L; i++)
    X[i * K + c] = (double)w->xf[i];
  for (i = 0; i < w->n; i++)
    s += X[i * K + c];
  if (!(s > 0) || !isfinite (s))
    return gs_error (GS_EBADDATA,
                     "SEMSUN-i: nuclide %zu's signature decodes to a sum "
                     "of %g at lambda_0 = %g",
                     k, s, lambda[0]);
  for (i = 0; i < w->n; i++)
    X[i * K + c] /= s;
  return GS_OK;
}

static int
si_check (const gs_semsun_i_ws *w, const double *y, size_t n,
          const double *X0, size_t K, const double *a0,
          const gs_semsun_opts *o, const gs_semsun_i_fit *fit)
{
  size_t i;
  if (!w || !y || !X0 || !a0 || !o || !fit)
    return gs_error (GS_EINVAL, "gs_semsun_i_bcd: NULL argument");
  if (n != w->n || K != w->K)
    return gs_error (GS_EBADLEN,
                     "gs_semsun_i_bcd: %zu channels x %zu columns, but the "
                     "workspace was made for %zu x %zu",
                     n, K, w->n, w->K);
  if (o->niter_max_out < 1 || o->niter_max_out > GS_SEMSUN_MAX_OUTER
      || !(o->tol >= 0))
    return gs_error (GS_EINVAL,
                     "gs_semsun_i_bcd: niter_max_out %d must lie in 1..%d "
                     "and tol %g be >= 0",
                     o->niter_max_out, GS_SEMSUN_MAX_OUTER, o->tol);
  for (i = 0; i < n; i++)
    if (!isfinite (y[i]) || y[i] < 0)
      return gs_error (GS_EBADDATA,
                       "gs_semsun_i_bcd: channel %zu has %g counts; give "
                       "finite non-negative counts",
                       i, y[i]);
  for (i = 0; i < n * K; i++)
    if (!isfinite (X0[i]) || X0[i] < 0)
      return gs_error (GS_EBADDATA,
                       "gs_semsun_i_bcd: start signature %zu at channel %zu "
                       "is %g",
                       i % K, i / K, X0[i]);
  for (i = 0; i < K; i++)
    if (!isfinite (a0[i]) || a0[i] < 0)
      return gs_error (GS_EBADDATA, "gs_semsun_i_bcd: a0[%zu] = %g", i,
                       a0[i]);
  return GS_OK;
}

int
gs_semsun_i_bcd (gs_semsun_i_ws *w, const double *y, size_t n,
                 const double *X0, size_t K, const double *a0,
                 const gs_semsun_opts *o, gs_semsun_i_fit *fit, double *Xout)
{
  double *Xk, *Xp, a[SI_KMAX], ap[SI_KMAX], d[SI_KMAX], err = HUGE_VAL;
  double lam[SI_KMAX][2];
  gs_semsun_opts bo;
  gs_nnpu_opts no;
  gs_nnpu_info info;
  size_t i, j, k, C;
  int ite = 0, rc = si_check (w, y, n, X0, K, a0, o, fit);
  if (rc != GS_OK)
    return rc;
  C = w->C;
  Xk = w->X[0];
  Xp = w->X[1];
  bo = *o;
  bo.max_channels = NULL;
  memset (fit, 0, sizeof *fit);
  for (k = 0; k < C; k++)
    lam[k][0] = lam[k][1] = fit->lambda[k][0] = fit->lambda[k][1] = NAN;
  memcpy (Xk, X0, n * K * sizeof *Xk);
  memcpy (a, a0, K * sizeof *a);
  fit->loss[fit->n_loss++] = gs_poisson_divergence (X0, K, n, NULL, K, y, a0);
  gs_nnpu_opts_init (&no);
  while (ite < o->niter_max_out && err > o->tol)
    {
      double na, ea, nx, ex = 0;
      memcpy (ap, a, K * sizeof *ap);
      rc = gs_nnpu (w->pw, Xk, K, n, NULL, K, y, &no, ap, &info);
      if (rc != GS_OK && rc != GS_EMAXITER)
        return gs_error_prefix (rc, "SEMSUN-i, counts step %d", ite);
      memcpy (Xp, Xk, n * K * sizeof *Xp);
      for (k = 0; k < C; k++)
        {
          size_t L = w->len[k], c = k + 1;
          const double *start = NULL;
          int ev = 0;
          if (!w->m[k] || !(ap[c] > 1e-10))
            continue;
          si_background (w, Xp, ap, c);
          if (isfinite (lam[k][0]))
            start = lam[k];
          else
            {
              double s = 0;
              for (i = 0; i < L; i++)
                {
                  double v = (y[i] - w->bg[i]) / ap[c];
                  w->xf[i] = (float)v;
                  s += fabs (v);
                }
              if (s > 0
                  && gs_iae_fast_interpolation (w->m[k], w->work,
                                                w->work_bytes, w->xf, 1,
                                                lam[k], NULL, NULL)
                         == GS_OK
                  && isfinite (lam[k][0]))
                start = lam[k];
              gs_error_clear ();
            }
          rc = gs_semsun_bsp (w->bw[k], y, L, w->bg, ap + c, 1, start, &bo,
                              lam[k], NULL, &ev);
          fit->evals += ev;
          if (rc != GS_OK)
            return gs_error_prefix (rc, "SEMSUN-i, lambda step %d, nuclide "
                                        "%zu",
                                    ite, k);
          rc = si_set_column (w, k, lam[k], Xp);
          fit->evals++;
          if (rc != GS_OK)
            return rc;
        }
      for (j = 0; j < K; j++)
        d[j] = ap[j] - a[j];
      na = 0;
      for (j = 0; j < K; j++)
        na += (a[j] + 1e-10) * (a[j] + 1e-10);
      ea = si_norm2 (d, K) / sqrt (na);
      nx = 0;
      for (i = 0; i < n * K; i++)
        {
          double dx = Xp[i] - Xk[i];
          ex += dx * dx;
          nx += (Xk[i] + 1e-10) * (Xk[i] + 1e-10);
        }
      ex = sqrt (ex / nx);
      err = fmax (ea, ex);
      {
        double *t = Xk;
        Xk = Xp;
        Xp = t;
      }
      memcpy (a, ap, K * sizeof *a);
      ite++;
      fit->loss[fit->n_loss++] = gs_poisson_divergence (Xk, K, n, NULL, K, y,
                                                        a);
    }
  memcpy (fit->a, a, K * sizeof *a);
  for (k = 0; k < C; k++)
    {
      fit->lambda[k][0] = lam[k][0];
      fit->lambda[k][1] = lam[k][1];
    }
  fit->iterations = ite;
  fit->err = err;
  fit->converged = err <= o->tol;
  if (Xout)
    memcpy (Xout, Xk, n * K * sizeof *Xk);
  return GS_OK;
}
