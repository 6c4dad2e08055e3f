/* Semi-blind unmixing on an IAE: BSP, BCD, MoSeVa and their standard
 * deviations (gammabench-spec.md 3.5); see gspec/semsun.h. */
#include "gspec/semsun.h"

#include <cblas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/poisson.h"
#include "gspec/status.h"
#include "iae_internal.h"
#include "lapack.h"

#define KMAX GS_SEMSUN_MAX_COLS
#define GRID_MAX 1001
/* Decodes of grid points kept per call (the grid's t values repeat in
 * every BSP of a BCD or MoSeVa call with the same bounds). */
#define GRID_CACHE 16
/* The cost reported to Brent after an error (finite: GSL rejects
 * infinities); the error stops the search. */
#define BSP_FAIL 1e300

struct gs_semsun_ws
{
  const gs_iae *m;
  size_t L, C, K;
  void *iae_work;
  size_t iae_bytes;
  gs_poisson_ws *pw;
  float *xf, *xf2;      /* L x C each: decoder outputs */
  float *grid;          /* GRID_CACHE x L x C: decodes of grid points */
  double grid_t[GRID_CACHE]; /* their t */
  int n_cached;         /* valid entries (reset by every public call) */
  double *X[5];         /* L x K each: BCD's two iterates, MoSeVa's
                           candidate, best candidate and accepted fits */
  double *v0, *v1;      /* L each */
  double *stdw;         /* gs_semsun_std_work (L, C) */
  void *block;          /* malloc'd block (gs_semsun_ws_alloc) */
};

static size_t
round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

void
gs_semsun_opts_init (gs_semsun_opts *o)
{
  memset (o, 0, sizeof *o);
  o->t_lo = 0;
  o->t_hi = 1;
  o->n_grid = 11;
  o->tol_bsp = 1e-5;
  o->niter_max_bsp = 100;
  o->tol = 1e-4;
  o->niter_max_out = 30;
  o->em_tol = 1e-6;
  o->nmf_tol = 1e-6;
  o->nmf_max_iter = 100000;
  o->alpha = 0.01;
  o->turn = 2;
  o->turn3_alpha = 1e-3;
  o->fd_step = 1e-2;
}

/* ---- Workspace ----------------------------------------------------------- */

size_t
gs_semsun_std_work (size_t n_channels, size_t C)
{
  size_t L = n_channels, p = C + 2;
  return 3 * L * C + L * p + 3 * L + p * p;
}

size_t
gs_semsun_ws_bytes (const gs_iae *m, size_t n_channels)
{
  const gs_iae_config *cfg;
  size_t L, C, K, ib;
  if (!m)
    return 0;
  cfg = gs_iae_get_config (m);
  L = (size_t)cfg->length;
  C = (size_t)cfg->n_components;
  K = C + 1;
  if (n_channels != L || K > KMAX)
    return 0;
  ib = gs_iae_work_bytes (m, 1);
  if (ib == 0)
    return 0;
  return 64 + round64 (sizeof (gs_semsun_ws)) + round64 (ib)
         + round64 (gs_poisson_ws_bytes (L, K))
         + (2 + GRID_CACHE) * round64 (L * C * sizeof (float))
         + 5 * round64 (L * K * sizeof (double))
         + 2 * round64 (L * sizeof (double))
         + round64 (gs_semsun_std_work (L, C) * sizeof (double));
}

int
gs_semsun_ws_place (void *mem, size_t bytes, const gs_iae *m,
                    size_t n_channels, gs_semsun_ws **out)
{
  const gs_iae_config *cfg;
  size_t need, L, C, K, j;
  char *p;
  gs_semsun_ws *w;
  if (out)
    *out = NULL;
  if (!mem || !m || !out)
    return gs_error (GS_EINVAL, "gs_semsun_ws_place: NULL argument");
  cfg = gs_iae_get_config (m);
  if (cfg->n_anchors != 2)
    return gs_error (GS_EUNSUPPORTED,
                     "gs_semsun_ws_place: the IAE has %d anchors; semi-blind "
                     "unmixing supports models with 2 anchors only",
                     cfg->n_anchors);
  if (n_channels != (size_t)cfg->length)
    return gs_error (GS_EBADLEN,
                     "gs_semsun_ws_place: %zu channels, but the IAE decodes "
                     "%d; give spectra of the model's length",
                     n_channels, cfg->length);
  if ((size_t)cfg->n_components + 1 > KMAX)
    return gs_error (GS_EUNSUPPORTED,
                     "gs_semsun_ws_place: the IAE has %d components; at most "
                     "%d are supported",
                     cfg->n_components, KMAX - 1);
  need = gs_semsun_ws_bytes (m, n_channels);
  if (need == 0 || bytes < need)
    return gs_error (GS_EINVAL,
                     "gs_semsun_ws_place: %zu bytes given, %zu needed; size "
                     "the block with gs_semsun_ws_bytes",
                     bytes, need);
  L = n_channels;
  C = (size_t)cfg->n_components;
  K = C + 1;
  p = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
  w = (gs_semsun_ws *)p;
  memset (w, 0, sizeof *w);
  p += round64 (sizeof *w);
  w->m = m;
  w->L = L;
  w->C = C;
  w->K = K;
  w->iae_bytes = gs_iae_work_bytes (m, 1);
  w->iae_work = p;
  p += round64 (w->iae_bytes);
  w->pw = gs_poisson_ws_place (p, L, K);
  if (!w->pw)
    return gs_error (GS_EFAILED, "gs_semsun_ws_place: Poisson workspace");
  p += round64 (gs_poisson_ws_bytes (L, K));
  w->xf = (float *)p;
  p += round64 (L * C * sizeof (float));
  w->xf2 = (float *)p;
  p += round64 (L * C * sizeof (float));
  w->grid = (float *)p;
  p += GRID_CACHE * round64 (L * C * sizeof (float));
  for (j = 0; j < 5; j++)
    {
      w->X[j] = (double *)p;
      p += round64 (L * K * sizeof (double));
    }
  w->v0 = (double *)p;
  p += round64 (L * sizeof (double));
  w->v1 = (double *)p;
  p += round64 (L * sizeof (double));
  w->stdw = (double *)p;
  *out = w;
  return GS_OK;
}

int
gs_semsun_ws_alloc (const gs_iae *m, size_t n_channels, gs_semsun_ws **out)
{
  size_t bytes;
  void *mem;
  int rc;
  if (out)
    *out = NULL;
  if (!m || !out)
    return gs_error (GS_EINVAL, "gs_semsun_ws_alloc: NULL argument");
  bytes = gs_semsun_ws_bytes (m, n_channels);
  if (bytes == 0)
    return gs_semsun_ws_place (&bytes, 0, m, n_channels, out);
  mem = malloc (bytes);
  if (!mem)
    return gs_error (GS_ENOMEM, "gs_semsun_ws_alloc: %zu bytes", bytes);
  rc = gs_semsun_ws_place (mem, bytes, m, n_channels, out);
  if (rc != GS_OK)
    {
      free (mem);
      return rc;
    }
  (*out)->block = mem;
  return GS_OK;
}

void
gs_semsun_ws_free (gs_semsun_ws *w)
{
  if (w)
    free (w->block);
}

/* ---- Input checks -------------------------------------------------------- */

static int
check_sizes (const gs_semsun_ws *w, const char *fn, size_t n_channels,
             size_t K)
{
  if (!w)
    return gs_error (GS_EINVAL, "%s: NULL workspace", fn);
  if (n_channels != w->L)
    return gs_error (GS_EBADLEN,
                     "%s: %zu channels, but the workspace's IAE decodes %zu; "
                     "give spectra of the model's length",
                     fn, n_channels, w->L);
  if (K != w->K)
    return gs_error (GS_EBADLEN,
                     "%s: %zu columns, but the IAE has %zu components; give "
                     "the background then one column per component",
                     fn, K, w->C);
  return GS_OK;
}

static int
check_y (const char *fn, const double *y, size_t n)
{
  size_t i;
  double s = 0;
  if (!y)
    return gs_error (GS_EINVAL, "%s: NULL spectrum", fn);
  for (i = 0; i < n; i++)
    {
      if (!isfinite (y[i]) || y[i] < 0)
        return gs_error (GS_EBADDATA,
                         "%s: spectrum channel %zu is %g; counts must be "
                         "finite and >= 0",
                         fn, i, y[i]);
      s += y[i];
    }
  if (!(s > 0))
    return gs_error (GS_EBADDATA,
                     "%s: the spectrum is empty (all %zu channels are 0); "
                     "give a spectrum with counts",
                     fn, n);
  return GS_OK;
}

static int
check_X (const char *fn, const double *X, size_t L, size_t K)
{
  size_t i, k;
  if (!X)
    return gs_error (GS_EINVAL, "%s: NULL signatures", fn);
  for (i = 0; i < L; i++)
    for (k = 0; k < K; k++)
      if (!isfinite (X[i * K + k]) || X[i * K + k] < 0)
        return gs_error (GS_EBADDATA,
                         "%s: signature column %zu, channel %zu is %g; "
                         "signatures must be finite and >= 0",
                         fn, k, i, X[i * K + k]);
  return GS_OK;
}

static int
check_a (const char *fn, const double *a, size_t K)
{
  size_t k;
  if (!a)
    return gs_error (GS_EINVAL, "%s: NULL counts", fn);
  for (k = 0; k < K; k++)
    if (!isfinite (a[k]) || a[k] < 0)
      return gs_error (GS_EINVAL,
                       "%s: start count of component %zu is %g; give finite "
                       "values >= 0",
                       fn, k, a[k]);
  return GS_OK;
}

/* The bounds on t, from the options and optionally the model. */
static int
t_bounds (const gs_semsun_ws *w, const gs_semsun_opts *o, const char *fn,
          double *lo, double *hi)
{
  double l = o->t_lo, h = o->t_hi;
  if (!(l >= 0 && h <= 1 && l < h))
    return gs_error (GS_EINVAL,
                     "%s: lambda_0 bounds [%g, %g]; give 0 <= t_lo < t_hi "
                     "<= 1",
                     fn, l, h);
  if (o->use_model_bounds)
    {
      const gs_iae_config *c = gs_iae_get_config (w->m);
      l = fmax (l, fmax (c->bounds[0][0], 1 - c->bounds[1][1]));
      h = fmin (h, fmin (c->bounds[0][1], 1 - c->bounds[1][0]));
      if (!(l < h))
        return gs_error (GS_EINVAL,
                         "%s: the options' and the model's bounds on "
                         "lambda_0 do not overlap",
                         fn);
    }
  *lo = l;
  *hi = h;
  return GS_OK;
}

static int
check_opts (const gs_semsun_opts *o, const char *fn)
{
  if (!o)
    return gs_error (GS_EINVAL, "%s: NULL options", fn);
  if (o->n_grid < 3 || o->n_grid > GRID_MAX)
    return gs_error (GS_EINVAL, "%s: n_grid %d; give 3 to %d", fn,
                     o->n_grid, GRID_MAX);
  if (!(o->tol_bsp > 0) || o->niter_max_bsp < 1)
    return gs_error (GS_EINVAL,
                     "%s: tol_bsp %g, niter_max_bsp %d; give positive values",
                     fn, o->tol_bsp, o->niter_max_bsp);
  if (!(o->tol >= 0) || o->niter_max_out < 1
      || o->niter_max_out > GS_SEMSUN_MAX_OUTER)
    return gs_error (GS_EINVAL,
                     "%s: tol %g, niter_max_out %d; give tol >= 0 and 1 to "
                     "%d iterations",
                     fn, o->tol, o->niter_max_out, GS_SEMSUN_MAX_OUTER);
  if (o->em_iter < 0 || !(o->em_tol >= 0))
    return gs_error (GS_EINVAL, "%s: em_iter %d, em_tol %g; give values >= 0",
                     fn, o->em_iter, o->em_tol);
  if (!(o->nmf_tol >= 0) || o->nmf_max_iter < 1)
    return gs_error (GS_EINVAL,
                     "%s: nmf_tol %g, nmf_max_iter %d; give tol >= 0 and a "
                     "positive cap",
                     fn, o->nmf_tol, o->nmf_max_iter);
  if (!(o->alpha > 0 && o->alpha < 0.5) || o->turn < 1 || o->turn > 3
      || !(o->turn3_alpha > 0 && o->turn3_alpha < 0.5))
    return gs_error (GS_EINVAL,
                     "%s: alpha %g, turn %d, turn3_alpha %g; give levels in "
                     "(0, 0.5) and turn 1, 2 or 3",
                     fn, o->alpha, o->turn, o->turn3_alpha);
  if (!(o->fd_step > 0 && o->fd_step <= 0.1))
    return gs_error (GS_EINVAL, "%s: fd_step %g; give (0, 0.1]", fn,
                     o->fd_step);
  return GS_OK;
}

/* The checks every fit entry point starts with: workspace sizes,
 * options, spectrum, start signatures and start counts. */
static int
check_inputs (const gs_semsun_ws *w, const gs_semsun_opts *o, const char *fn,
              const double *y, size_t n_channels, const double *X,
              const double *a, size_t K)
{
  int rc = check_sizes (w, fn, n_channels, K);
  if (rc == GS_OK)
    rc = check_opts (o, fn);
  if (rc == GS_OK)
    rc = check_y (fn, y, n_channels);
  if (rc == GS_OK)
    rc = check_X (fn, X, n_channels, K);
  if (rc == GS_OK)
    rc = check_a (fn, a, K);
  return rc;
}

/* ---- Decoding ------------------------------------------------------------ */

/* The channel from which nuclide k is zeroed. */
static size_t
cut_of (const gs_semsun_ws *w, const gs_semsun_opts *o, size_t k)
{
  if (o && o->max_channels && o->max_channels[k] > 0
      && o->max_channels[k] < w->L)
    return o->max_channels[k];
  return w->L;
}

/* The decode of (t, 1 - t) in w->grid when it is there, else NULL. */
static const float *
cached_decode (const gs_semsun_ws *w, double t)
{
  size_t stride = round64 (w->L * w->C * sizeof (float)) / sizeof (float);
  int i;
  for (i = 0; i < w->n_cached; i++)
    if (w->grid_t[i] == t)
      return w->grid + (size_t)i * stride;
  return NULL;
}

/* X[:, 1..K) (row-major, ldx K) = xf (the decode at t), cut and
 * normalised; a column summing to 0 becomes 0 (GS_EBADDATA when it is in
 * `need`). */
static int
normalise_columns (gs_semsun_ws *w, const gs_semsun_opts *o, double t,
                   const float *xf, double *X, size_t ldx, size_t off,
                   const double *need, const char *fn)
{
  size_t L = w->L, C = w->C, i, k;
  double s[KMAX];
  for (k = 0; k < C; k++)
    s[k] = 0;
  for (k = 0; k < C; k++)
    {
      size_t cut = cut_of (w, o, k);
      for (i = 0; i < cut; i++)
        s[k] += xf[i * C + k];
    }
  for (k = 0; k < C; k++)
    {
      size_t cut = cut_of (w, o, k);
      double sc;
      if (!(s[k] > 0) || !isfinite (s[k]))
        {
          if (need && need[k] > 0)
            return gs_error (GS_EBADDATA,
                             "%s: component %zu decodes to a signature "
                             "summing to %g at lambda_0 = %g",
                             fn, k, s[k], t);
          sc = 0;
        }
      else
        sc = 1 / s[k];
      for (i = 0; i < L; i++)
        X[i * ldx + off + k] = i < cut ? xf[i * C + k] * sc : 0;
    }
  return GS_OK;
}

/* The same from a decode of (t, 1 - t). */
static int
decode_columns (gs_semsun_ws *w, const gs_semsun_opts *o, double t,
                double *X, size_t ldx, size_t off, const double *need,
                const char *fn)
{
  double lam[2];
  const float *xf = cached_decode (w, t);
  int rc;
  if (!xf)
    {
      lam[0] = t;
      lam[1] = 1 - t;
      rc = gs_iae_decode (w->m, w->iae_work, w->iae_bytes, lam, 1, w->xf);
      if (rc != GS_OK)
        return rc;
      xf = w->xf;
    }
  return normalise_columns (w, o, t, xf, X, ldx, off, need, fn);
}

/* ---- BSP ----------------------------------------------------------------- */

typedef struct bsp_ctx
{
  gs_semsun_ws *w;
  const gs_semsun_opts *o;
  const double *y, *bg, *a;
  size_t act[KMAX], n_act, cut[KMAX];
  int status, evals;
  /* The best point evaluated so far and its decode (in w->xf, w->xf2 or
   * the grid cache); scratch is the decode buffer it does not use. */
  int have_best, best_full;
  double best_t, best_f;
  const float *best_x;
  float *scratch;
  unsigned char need[KMAX]; /* the active components: all a Brent point's
                               decode must give */
} bsp_ctx;

/* The cost at t; grid points are decoded into the cache (when it has
 * room) and looked up there. */
static double
bsp_eval_at (bsp_ctx *c, double t, int grid)
{
  gs_semsun_ws *w = c->w;
  size_t L = w->L, C = w->C, i, q;
  double lam[2], s[KMAX], sc[KMAX], cost = 0;
  const float *x;
  int rc, full = 1;
  if (c->status != GS_OK)
    return BSP_FAIL;
  x = cached_decode (w, t);
  if (!x)
    {
      float *dst = c->scratch;
      if (grid && w->n_cached < GRID_CACHE)
        dst = w->grid
              + (size_t)w->n_cached
                    * (round64 (L * C * sizeof (float)) / sizeof (float));
      lam[0] = t;
      lam[1] = 1 - t;
      /* grid points serve every BSP of the call: all components */
      full = dst != c->scratch;
      rc = gs__iae_decode_some (w->m, w->iae_work, w->iae_bytes, lam,
                                full ? NULL : c->need, dst);
      c->evals++;
      if (rc != GS_OK)
        {
          c->status = rc;
          return BSP_FAIL;
        }
      if (dst != c->scratch)
        w->grid_t[w->n_cached++] = t;
      x = dst;
    }
  for (q = 0; q < c->n_act; q++)
    {
      size_t k = c->act[q];
      s[q] = 0;
      for (i = 0; i < c->cut[q]; i++)
        s[q] += x[i * C + k];
      if (!(s[q] > 0) || !isfinite (s[q]))
        {
          c->status = gs_error (GS_EBADDATA,
                                "BSP: active component %zu decodes to a "
                                "signature summing to %g at lambda_0 = %g",
                                k, s[q], t);
          return BSP_FAIL;
        }
      sc[q] = c->a[k] / s[q];
    }
  for (i = 0; i < L; i++)
    {
      double T = c->bg ? c->bg[i] : 0;
      for (q = 0; q < c->n_act; q++)
        if (i < c->cut[q])
          T += sc[q] * x[i * C + c->act[q]];
      if (T < 0)
        T = 0;
      cost += T - c->y[i] * log (T + 1e-10);
    }
  if (!c->have_best || cost < c->best_f)
    {
      c->have_best = 1;
      c->best_t = t;
      c->best_f = cost;
      c->best_x = x;
      c->best_full = full;
      if (x == c->scratch)
        c->scratch = c->scratch == w->xf ? w->xf2 : w->xf;
    }
  return cost;
}

static double
bsp_eval (double t, void *p)
{
  return bsp_eval_at ((bsp_ctx *)p, t, 0);
}

static int
bsp_setup (gs_semsun_ws *w, const char *fn, const double *y,
           size_t n_channels, const double *bg, const double *a,
           size_t n_nuclides, const gs_semsun_opts *o, bsp_ctx *c)
{
  size_t k, i;
  int rc = check_sizes (w, fn, n_channels, n_nuclides + 1);
  if (rc == GS_OK)
    rc = check_opts (o, fn);
  if (rc == GS_OK)
    rc = check_y (fn, y, n_channels);
  if (rc != GS_OK)
    return rc;
  if (!a)
    return gs_error (GS_EINVAL, "%s: NULL counts", fn);
  for (k = 0; k < n_nuclides; k++)
    if (!isfinite (a[k]))
      return gs_error (GS_EINVAL, "%s: count of component %zu is %g", fn, k,
                       a[k]);
  if (bg)
    for (i = 0; i < n_channels; i++)
      if (!isfinite (bg[i]))
        return gs_error (GS_EBADDATA, "%s: background term channel %zu is %g",
                         fn, i, bg[i]);
  memset (c, 0, sizeof *c);
  c->w = w;
  c->o = o;
  c->y = y;
  c->bg = bg;
  c->a = a;
  c->scratch = w->xf;
  for (k = 0; k < n_nuclides; k++)
    c->need[k] = a[k] > 0;
  for (k = 0; k < n_nuclides; k++)
    if (a[k] > 0)
      {
        c->cut[c->n_act] = cut_of (w, o, k);
        c->act[c->n_act++] = k;
      }
  return GS_OK;
}

/* Brent on the bracket (xl, xm, xh) with f (xm) below both ends. */
static int
brent (bsp_ctx *c, double xl, double fl, double xm, double fm, double xh,
       double fh, double *t, double *f)
{
  const gsl_min_fminimizer_type *T = gsl_min_fminimizer_brent;
  gsl_min_fminimizer *s;
  gsl_function F;
  int it, rc;
  F.function = bsp_eval;
  F.params = c;
  *t = xm;
  *f = fm;
  if (!(fm < fl && fm < fh))
    return GS_OK;
  s = gsl_min_fminimizer_alloc (T);
  if (!s)
    return gs_error (GS_ENOMEM, "BSP: Brent minimiser");
  rc = gsl_min_fminimizer_set_with_values (s, &F, xm, fm, xl, fl, xh, fh);
  for (it = 0; rc == GSL_SUCCESS && it < c->o->niter_max_bsp; it++)
    {
      rc = gsl_min_fminimizer_iterate (s);
      if (c->status != GS_OK || rc != GSL_SUCCESS)
        break;
      if (gsl_min_test_interval (gsl_min_fminimizer_x_lower (s),
                                 gsl_min_fminimizer_x_upper (s),
                                 c->o->tol_bsp, 0.0)
          == GSL_SUCCESS)
        break;
    }
  if (gsl_min_fminimizer_f_minimum (s) < *f)
    {
      *t = gsl_min_fminimizer_x_minimum (s);
      *f = gsl_min_fminimizer_f_minimum (s);
    }
  gsl_min_fminimizer_free (s);
  if (c->status != GS_OK)
    return c->status;
  if (rc != GSL_SUCCESS)
    return gs_error (GS_EFAILED, "BSP: Brent's method failed (%s)",
                     gsl_strerror (rc));
  return GS_OK;
}

/* The minimum over [lo, hi]: grid (with t0), then Brent, or bisection
 * towards a bound when the grid's best point is a bound. */
static int
bsp_minimise (bsp_ctx *c, double lo, double hi, const double *t0, double *t,
              double *f)
{
  double x[GRID_MAX + 1], fx[GRID_MAX + 1];
  int n = c->o->n_grid, m = 0, i, k, it, t0_at = -1;
  for (i = 0; i < n; i++)
    {
      double g = i == n - 1 ? hi : lo + (hi - lo) * i / (n - 1);
      if (t0 && *t0 > lo && *t0 < hi && (m == 0 || x[m - 1] < *t0)
          && *t0 < g)
        {
          t0_at = m;
          x[m++] = *t0;
        }
      x[m++] = g;
    }
  for (i = 0; i < m; i++)
    {
      fx[i] = bsp_eval_at (c, x[i], i != t0_at);
      if (c->status != GS_OK)
        return c->status;
    }
  k = 0;
  for (i = 1; i < m; i++)
    if (fx[i] < fx[k])
      k = i;
  if (k > 0 && k < m - 1)
    return brent (c, x[k - 1], fx[k - 1], x[k], fx[k], x[k + 1], fx[k + 1],
                  t, f);
  {
    /* Best point on a bound b, next grid point q: halve towards b until a
     * point beats b (then Brent on (b, point, q)) or the interval is
     * below the tolerance (b is the optimum). */
    double b = x[k], fb = fx[k], q = k == 0 ? x[1] : x[m - 2];
    double fq = k == 0 ? fx[1] : fx[m - 2];
    for (it = 0; it < 200 && fabs (q - b) > c->o->tol_bsp; it++)
      {
        double mid = 0.5 * (b + q), fm = bsp_eval (mid, c);
        if (c->status != GS_OK)
          return c->status;
        if (fm < fb)
          return k == 0 ? brent (c, b, fb, mid, fm, q, fq, t, f)
                        : brent (c, q, fq, mid, fm, b, fb, t, f);
        q = mid;
        fq = fm;
      }
    *t = b;
    *f = fb;
  }
  return GS_OK;
}

/* BSP; reset empties the grid cache (public entry points), xbest (may be
 * NULL) receives the decode at the result when it is still held (NULL
 * otherwise). */
static int
bsp_run (gs_semsun_ws *w, const double *y, size_t n_channels,
         const double *bg, const double *a, size_t n_nuclides,
         const double *lambda0, const gs_semsun_opts *o, double *lambda,
         double *cost, int *evals, int reset, const float **xbest)
{
  bsp_ctx c;
  double lo, hi, t, f, t0;
  int rc;
  if (evals)
    *evals = 0;
  if (xbest)
    *xbest = NULL;
  if (!lambda)
    return gs_error (GS_EINVAL, "gs_semsun_bsp: NULL lambda");
  rc = bsp_setup (w, "gs_semsun_bsp", y, n_channels, bg, a, n_nuclides, o,
                  &c);
  if (rc == GS_OK)
    rc = t_bounds (w, o, "gs_semsun_bsp", &lo, &hi);
  if (rc != GS_OK)
    return rc;
  if (reset)
    w->n_cached = 0;
  if (lambda0 && !(isfinite (lambda0[0])))
    return gs_error (GS_EINVAL, "gs_semsun_bsp: start lambda_0 is %g",
                     lambda0[0]);
  t0 = lambda0 ? fmin (fmax (lambda0[0], lo), hi) : 0;
  rc = bsp_minimise (&c, lo, hi, lambda0 ? &t0 : NULL, &t, &f);
  if (evals)
    *evals = c.evals;
  if (rc != GS_OK)
    return rc;
  lambda[0] = t;
  lambda[1] = 1 - t;
  if (cost)
    *cost = f;
  if (xbest && c.have_best && c.best_full && c.best_t == t)
    *xbest = c.best_x;
  return GS_OK;
}

int
gs_semsun_bsp (gs_semsun_ws *w, const double *y, size_t n_channels,
               const double *bg, const double *a, size_t n_nuclides,
               const double *lambda0, const gs_semsun_opts *o, double *lambda,
               double *cost, int *evals)
{
  return bsp_run (w, y, n_channels, bg, a, n_nuclides, lambda0, o, lambda,
                  cost, evals, 1, NULL);
}

int
gs_semsun_bsp_cost (gs_semsun_ws *w, const double *y, size_t n_channels,
                    const double *bg, const double *a, size_t n_nuclides,
                    const double *lambda, const gs_semsun_opts *o,
                    double *cost)
{
  bsp_ctx c;
  double f;
  int rc = bsp_setup (w, "gs_semsun_bsp_cost", y, n_channels, bg, a,
                      n_nuclides, o, &c);
  if (rc != GS_OK)
    return rc;
  if (!lambda || !cost || !isfinite (lambda[0]))
    return gs_error (GS_EINVAL, "gs_semsun_bsp_cost: NULL or non-finite "
                                "lambda");
  w->n_cached = 0;
  f = bsp_eval (lambda[0], &c);
  if (c.status != GS_OK)
    return c.status;
  *cost = f;
  return GS_OK;
}

/* ---- NMF_fixed_a --------------------------------------------------------- */

int
gs_semsun_nmf_fixed_a (const double *y, size_t n_channels, double *X,
                       size_t K, const double *a, double tol, int max_iter,
                       double *work, int *iters)
{
  size_t L = n_channels, i, k;
  double *mu = work, *col0 = work + L, s[KMAX];
  int it;
  if (iters)
    *iters = 0;
  if (!y || !X || !a || !work || K < 2 || K > KMAX || L == 0)
    return gs_error (GS_EINVAL, "gs_semsun_nmf_fixed_a: NULL argument or "
                                "bad sizes");
  for (i = 0; i < L; i++)
    col0[i] = X[i * K];
  for (it = 0; it < max_iter; it++)
    {
      double dn = 0, xn = 0;
      cblas_dgemv (CblasRowMajor, CblasNoTrans, (int)L, (int)K, 1.0, X,
                   (int)K, a, 1, 0.0, mu, 1);
      for (i = 0; i < L; i++)
        mu[i] = mu[i] > 0 ? y[i] / mu[i] : (y[i] > 0 ? 1.0 : 0.0);
      for (k = 0; k < K; k++)
        s[k] = 0;
      for (i = 0; i < L; i++)
        {
          s[0] += col0[i];
          for (k = 1; k < K; k++)
            s[k] += X[i * K + k] * mu[i];
        }
      for (k = 1; k < K; k++)
        if (!(s[k] > 0) || !isfinite (s[k]))
          return gs_error (GS_EBADDATA,
                           "NMF_fixed_a: column %zu vanished at step %d "
                           "(its support has no counts)",
                           k, it + 1);
      for (i = 0; i < L; i++)
        for (k = 0; k < K; k++)
          {
            double old = X[i * K + k];
            double v = k == 0 ? col0[i] / s[0] : old * mu[i] / s[k];
            dn += (v - old) * (v - old);
            xn += (old + 1e-10) * (old + 1e-10);
            X[i * K + k] = v;
          }
      if (iters)
        *iters = it + 1;
      if (sqrt (dn) / sqrt (xn) <= tol)
        break;
    }
  return GS_OK;
}

/* ---- BCD ----------------------------------------------------------------- */

static int
check_support (const char *fn, const size_t *support, size_t n, size_t K)
{
  size_t j, q;
  if (!support || n == 0 || n > K)
    return gs_error (GS_EINVAL, "%s: empty or NULL support (%zu entries)",
                     fn, n);
  for (j = 0; j < n; j++)
    {
      if (support[j] >= K)
        return gs_error (GS_EINVAL,
                         "%s: support entry %zu is component %zu, but there "
                         "are %zu (0 = background, 1..%zu nuclides)",
                         fn, j, support[j], K, K - 1);
      for (q = 0; q < j; q++)
        if (support[q] == support[j])
          return gs_error (GS_EINVAL, "%s: component %zu is twice in the "
                                      "support",
                           fn, support[j]);
    }
  return GS_OK;
}

static double
norm2 (const double *v, size_t n)
{
  return cblas_dnrm2 ((int)n, v, 1);
}

/* BCD on validated input. */
static int
bcd_run (gs_semsun_ws *w, const double *y, const double *X0,
         const double *a0, const size_t *S, size_t n, const double *lambda0,
         const gs_semsun_opts *o, gs_semsun_fit *fit, double *Xout)
{
  size_t L = w->L, K = w->K, C = w->C, LK = L * K, i, j;
  double *Xk = w->X[0], *Xp = w->X[1], *bg = w->v0;
  double a[KMAX], ap[KMAX], as[KMAX], d[KMAX], lam[2], lo, hi;
  double err = HUGE_VAL;
  int have_lam = lambda0 != NULL, ite = 0, rc;
  gs_nnpu_opts no;
  gs_nnpu_info info;
  rc = t_bounds (w, o, "gs_semsun_bcd", &lo, &hi);
  if (rc != GS_OK)
    return rc;
  memset (fit, 0, sizeof *fit);
  memcpy (Xk, X0, LK * sizeof *Xk);
  memcpy (a, a0, K * sizeof *a);
  if (have_lam)
    {
      lam[0] = lambda0[0];
      lam[1] = 1 - lambda0[0];
    }
  else
    lam[0] = lam[1] = 0.5;
  fit->loss[fit->n_loss++]
      = gs_poisson_divergence (X0, K, L, NULL, K, y, a0);
  gs_nnpu_opts_init (&no);
  no.warm_start = 1;
  no.init_new = 1;
  while (ite < o->niter_max_out && err > o->tol)
    {
      double na, nx, ex, ea;
      const float *xbest = NULL;
      int ev = 0;
      for (j = 0; j < n; j++)
        as[j] = a[S[j]];
      if (o->em_iter > 0)
        rc = gs_nnpu_em (Xk, K, L, S, n, y, as, o->em_iter, o->em_tol, 0, as,
                         NULL);
      else
        rc = gs_nnpu (w->pw, Xk, K, L, S, n, y, &no, as, &info);
      if (rc != GS_OK && rc != GS_EMAXITER)
        return gs_error_prefix (rc, "BCD, counts step %d", ite);
      for (j = 0; j < K; j++)
        ap[j] = 0;
      for (j = 0; j < n; j++)
        ap[S[j]] = as[j];
      for (i = 0; i < L; i++)
        bg[i] = Xk[i * K] * ap[0];
      if (ite == 0 && !have_lam)
        {
          memcpy (Xp, X0, LK * sizeof *Xp);
          rc = gs_semsun_nmf_fixed_a (y, L, Xp, K, ap, o->nmf_tol,
                                      o->nmf_max_iter, w->stdw,
                                      &fit->nmf_iters);
          if (rc != GS_OK)
            return gs_error_prefix (rc, "BCD initialisation");
          for (i = 0; i < L; i++)
            for (j = 0; j < C; j++)
              w->xf[i * C + j] = (float)Xp[i * K + 1 + j];
          rc = gs_iae_fast_interpolation (w->m, w->iae_work, w->iae_bytes,
                                          w->xf, 1, lam, NULL, NULL);
          if (rc != GS_OK)
            return gs_error_prefix (rc, "BCD initialisation");
          have_lam = 1;
        }
      lam[0] = fmin (fmax (lam[0], lo), hi);
      rc = bsp_run (w, y, L, bg, ap + 1, C, lam, o, lam, NULL, &ev, 0,
                    &xbest);
      fit->evals += ev;
      if (rc != GS_OK)
        return gs_error_prefix (rc, "BCD, lambda step %d", ite);
      for (i = 0; i < L; i++)
        Xp[i * K] = Xk[i * K];
      /* the columns at the new lambda: from BSP's decode of it */
      if (xbest)
        rc = normalise_columns (w, o, lam[0], xbest, Xp, K, 1, ap + 1,
                                "BCD");
      else
        {
          rc = decode_columns (w, o, lam[0], Xp, K, 1, ap + 1, "BCD");
          fit->evals++;
        }
      if (rc != GS_OK)
        return rc;
      for (j = 0; j < K; j++)
        d[j] = ap[j] - a[j];
      na = norm2 (a, K);
      ea = norm2 (d, K);
      ea = na > 0 ? ea / na : (ea > 0 ? HUGE_VAL : 0);
      nx = norm2 (Xk, LK);
      cblas_daxpy ((int)LK, -1.0, Xp, 1, Xk, 1); /* Xk - Xp */
      ex = norm2 (Xk, LK) / nx;
      err = fmax (ea, ex);
      {
        double *tmp = Xk;
        Xk = Xp;
        Xp = tmp;
      }
      memcpy (a, ap, K * sizeof *a);
      ite++;
      fit->loss[fit->n_loss++]
          = gs_poisson_divergence (Xk, K, L, S, n, y, as);
    }
  memcpy (fit->a, a, K * sizeof *a);
  fit->lambda[0] = lam[0];
  fit->lambda[1] = lam[1];
  fit->iterations = ite;
  fit->err = err;
  fit->converged = err <= o->tol;
  if (Xout)
    memcpy (Xout, Xk, LK * sizeof *Xk);
  return GS_OK;
}

int
gs_semsun_bcd (gs_semsun_ws *w, const double *y, size_t n_channels,
               const double *X0, size_t K, const double *a0,
               const size_t *support, size_t n_support, const double *lambda0,
               const gs_semsun_opts *o, gs_semsun_fit *fit, double *X)
{
  static const char fn[] = "gs_semsun_bcd";
  int rc = check_inputs (w, o, fn, y, n_channels, X0, a0, K);
  if (rc == GS_OK)
    rc = check_support (fn, support, n_support, K);
  if (rc != GS_OK)
    return rc;
  if (!fit)
    return gs_error (GS_EINVAL, "%s: NULL result", fn);
  if (lambda0 && !isfinite (lambda0[0]))
    return gs_error (GS_EINVAL, "%s: start lambda_0 is %g", fn, lambda0[0]);
  w->n_cached = 0;
  return bcd_run (w, y, X0, a0, support, n_support, lambda0, o, fit, X);
}

/* ---- MoSeVa -------------------------------------------------------------- */

double
gs_semsun_threshold (double alpha, size_t n, int df)
{
  return gsl_cdf_chisq_Qinv (2.0 * alpha / (double)n, df == 2 ? 2.0 : 1.0);
}

typedef struct moseva_state
{
  gs_semsun_ws *w;
  const double *y, *X0, *a0;
  const gs_semsun_opts *o;
  gs_moseva_result *r;
  size_t I0[KMAX], n0, cand_list[KMAX], n_cand;
  double L0;
  int have_lam;
  gs_semsun_fit cur, cand, best; /* accepted, candidate, best candidate */
  double *Xcur;                  /* accepted fit's signatures */
} moseva_state;

static void
push_loss (moseva_state *s, double L, const double *lambda)
{
  gs_moseva_result *r = s->r;
  if (r->n_loss < sizeof r->loss_list / sizeof r->loss_list[0])
    {
      r->lambda_list[r->n_loss] = lambda ? lambda[0] : NAN;
      r->loss_list[r->n_loss++] = L;
    }
}

static void
push_procedure (moseva_state *s, size_t c)
{
  gs_moseva_result *r = s->r;
  if (r->n_procedure < sizeof r->procedure / sizeof r->procedure[0])
    r->procedure[r->n_procedure++] = c;
}

static void
note_margin (moseva_state *s, double stat, double dt)
{
  if (fabs (stat - dt) < s->r->min_margin)
    s->r->min_margin = fabs (stat - dt);
}

/* Fits support S; keeps it in s->best (X in w->X[3]) when it beats *Lb. */
static int
fit_support (moseva_state *s, const size_t *S, size_t n, int first,
             double *Lb)
{
  gs_semsun_ws *w = s->w;
  double L;
  int rc = bcd_run (w, s->y, s->X0, s->a0, S, n,
                    s->have_lam ? s->cur.lambda : NULL, s->o, &s->cand,
                    w->X[2]);
  s->r->fits++;
  s->r->evals += s->cand.evals;
  if (rc != GS_OK)
    return rc;
  L = s->cand.loss[s->cand.n_loss - 1];
  if (first || L < *Lb)
    {
      double *t = w->X[2];
      *Lb = L;
      s->best = s->cand;
      w->X[2] = w->X[3];
      w->X[3] = t;
    }
  return GS_OK;
}

static void
accept_best (moseva_state *s)
{
  double *t = s->Xcur;
  s->cur = s->best;
  s->Xcur = s->w->X[3];
  s->w->X[3] = t;
  s->have_lam = 1;
}

static int
moseva_forward (moseva_state *s)
{
  size_t S[KMAX], q, bq = 0;
  int rc;
  while (s->n_cand > 0)
    {
      int df = s->n0 == 1 ? 2 : 1;
      double DT = gs_semsun_threshold (s->o->alpha, s->n_cand, df);
      double Lb = 0, stat;
      memcpy (S, s->I0, s->n0 * sizeof *S);
      for (q = 0; q < s->n_cand; q++)
        {
          double before = Lb;
          S[s->n0] = s->cand_list[q];
          rc = fit_support (s, S, s->n0 + 1, q == 0, &Lb);
          if (rc != GS_OK)
            return rc;
          if (q == 0 || Lb < before)
            bq = q;
        }
      push_loss (s, Lb, s->best.lambda);
      stat = -2 * (Lb - s->L0);
      note_margin (s, stat, DT);
      if (!(stat > DT))
        break;
      s->I0[s->n0++] = s->cand_list[bq];
      push_procedure (s, s->cand_list[bq]);
      memmove (s->cand_list + bq, s->cand_list + bq + 1,
               (s->n_cand - bq - 1) * sizeof *s->cand_list);
      s->n_cand--;
      s->L0 = Lb;
      accept_best (s);
    }
  return GS_OK;
}

static int
moseva_backward (moseva_state *s, int *removed)
{
  size_t S[KMAX], p, j, n, bp = 1;
  int rc;
  *removed = 0;
  while (s->n0 > 2)
    {
      double al = s->o->turn == 3 ? s->o->turn3_alpha : s->o->alpha;
      double DT = gs_semsun_threshold (al, s->n_cand + 1, 1), Lb = 0, stat;
      for (p = 1; p < s->n0; p++)
        {
          double before = Lb;
          for (j = 0, n = 0; j < s->n0; j++)
            if (j != p)
              S[n++] = s->I0[j];
          rc = fit_support (s, S, n, p == 1, &Lb);
          if (rc != GS_OK)
            return rc;
          if (p == 1 || Lb < before)
            bp = p;
        }
      stat = fabs (-2 * (Lb - s->L0));
      note_margin (s, stat, DT);
      if (!(stat < DT))
        break;
      s->cand_list[s->n_cand++] = s->I0[bp];
      push_procedure (s, s->I0[bp]);
      memmove (s->I0 + bp, s->I0 + bp + 1, (s->n0 - bp - 1) * sizeof *s->I0);
      s->n0--;
      s->L0 = Lb;
      accept_best (s);
      *removed = 1;
    }
  return GS_OK;
}

int
gs_moseva (gs_semsun_ws *w, const double *y, size_t n_channels,
           const double *X0, size_t K, const double *a0,
           const gs_semsun_opts *o, gs_moseva_result *res, double *X)
{
  static const char fn[] = "gs_moseva";
  moseva_state *s;
  size_t k, L;
  size_t zero = 0;
  gs_nnpu_info info;
  int rc = check_inputs (w, o, fn, y, n_channels, X0, a0, K), removed = 0;
  double lo, hi;
  if (rc == GS_OK)
    rc = t_bounds (w, o, fn, &lo, &hi);
  if (rc != GS_OK)
    return rc;
  if (!res)
    return gs_error (GS_EINVAL, "%s: NULL result", fn);
  s = calloc (1, sizeof *s);
  if (!s)
    return gs_error (GS_ENOMEM, "%s: search state", fn);
  w->n_cached = 0;
  L = n_channels;
  memset (res, 0, sizeof *res);
  res->n_components = K;
  res->min_margin = HUGE_VAL;
  s->w = w;
  s->y = y;
  s->X0 = X0;
  s->a0 = a0;
  s->o = o;
  s->r = res;
  s->Xcur = w->X[4];
  /* Start: the background alone, L0 = D (X0, a_init). */
  {
    gs_nnpu_opts no;
    double ab = 0;
    gs_nnpu_opts_init (&no);
    rc = gs_nnpu (w->pw, X0, K, L, &zero, 1, y, &no, &ab, &info);
    if (rc != GS_OK && rc != GS_EMAXITER)
      {
        free (s);
        return gs_error_prefix (rc, "%s: background fit", fn);
      }
    s->cur.a[0] = ab;
    s->cur.n_loss = 1;
    s->L0 = s->cur.loss[0] = gs_poisson_divergence (X0, K, L, &zero, 1, y,
                                                    &ab);
    memcpy (s->Xcur, X0, L * K * sizeof *X0);
  }
  s->I0[0] = 0;
  s->n0 = 1;
  for (k = 1; k < K; k++)
    if (a0[k] > 0)
      s->cand_list[s->n_cand++] = k;
  push_loss (s, s->L0, s->have_lam ? s->cur.lambda : NULL);
  rc = moseva_forward (s);
  if (rc == GS_OK)
    {
      memcpy (res->alist[0], s->cur.a, K * sizeof (double));
      if (o->turn >= 2)
        rc = moseva_backward (s, &removed);
    }
  if (rc == GS_OK)
    {
      memcpy (res->alist[1], s->cur.a, K * sizeof (double));
      if (o->turn == 3 && removed)
        {
          res->n_loss = 0;
          push_loss (s, s->L0, s->have_lam ? s->cur.lambda : NULL);
          rc = moseva_forward (s);
        }
    }
  if (rc != GS_OK)
    {
      free (s);
      return rc;
    }
  memcpy (res->alist[2], s->cur.a, K * sizeof (double));
  memcpy (res->support, s->I0, s->n0 * sizeof *s->I0);
  res->n_support = s->n0;
  memcpy (res->a, s->cur.a, K * sizeof (double));
  res->loss = s->L0;
  if (s->have_lam)
    {
      res->lambda[0] = s->cur.lambda[0];
      res->lambda[1] = s->cur.lambda[1];
    }
  res->std_status = gs_semsun_std (w, y, L, s->Xcur, K, res->a,
                                   s->have_lam ? res->lambda : NULL, o,
                                   res->std);
  if (res->std_status != GS_OK)
    for (k = 0; k <= K; k++)
      res->std[k] = NAN;
  if (X)
    memcpy (X, s->Xcur, L * K * sizeof *X);
  free (s);
  return GS_OK;
}

/* ---- Std ----------------------------------------------------------------- */

int
gs_semsun_std_family (gs_semsun_family_fn family, void *ctx, const double *y,
                      size_t n_channels, const double *bg, const double *a,
                      size_t C, double t, double h, double *work, double *std)
{
  static const char fn[] = "gs_semsun_std";
  size_t L = n_channels, K = C + 1, i, k, r, q, p = 0, pa;
  size_t idx[KMAX];
  double *x0 = work, *xm = x0 + L * C, *xp = xm + L * C;
  double *J = xp + L * C, *mu, *dmu, *d2mu, *H;
  int rc, nuc = 0, n_int, info = 0;
  if (!family || !y || !bg || !a || !work || !std || C + 1 > KMAX || L == 0)
    return gs_error (GS_EINVAL, "%s: NULL argument or bad sizes", fn);
  if (!(h > 0) || !isfinite (t))
    return gs_error (GS_EINVAL, "%s: step %g, t %g", fn, h, t);
  for (k = 0; k < K; k++)
    {
      std[k] = 0;
      if (a[k] > 0)
        {
          idx[p++] = k;
          nuc |= k > 0;
        }
    }
  std[K] = 0;
  pa = p;
  if (pa == 0)
    return gs_error (GS_EINVAL, "%s: no positive count", fn);
  p += nuc ? 1 : 0;
  mu = J + L * p;
  dmu = mu + L;
  d2mu = dmu + L;
  H = d2mu + L;
  rc = family (ctx, t, x0);
  if (rc == GS_OK && nuc)
    rc = family (ctx, t - h, xm);
  if (rc == GS_OK && nuc)
    rc = family (ctx, t + h, xp);
  if (rc != GS_OK)
    return rc;
  for (i = 0; i < L; i++)
    {
      double m = bg[i] * a[0], dm = 0, d2 = 0;
      for (k = 0; k < C; k++)
        if (a[k + 1] > 0)
          {
            m += a[k + 1] * x0[i * C + k];
            if (nuc)
              {
                dm += a[k + 1] * (xp[i * C + k] - xm[i * C + k]) / (2 * h);
                d2 += a[k + 1]
                      * (xp[i * C + k] - 2 * x0[i * C + k] + xm[i * C + k])
                      / (h * h);
              }
          }
      if (!(m > 0) && y[i] > 0)
        return gs_error (GS_EBADDATA,
                         "%s: the model is %g on channel %zu, which has "
                         "%g counts",
                         fn, m, i, y[i]);
      mu[i] = m;
      dmu[i] = dm;
      d2mu[i] = d2;
    }
  /* J (row-major L x p) scaled by sqrt (y) / mu: H = J^T J, then the
   * curvature terms. */
  for (i = 0; i < L; i++)
    {
      double sw = mu[i] > 0 ? sqrt (y[i]) / mu[i] : 0;
      for (q = 0; q < pa; q++)
        J[i * p + q]
            = sw * (idx[q] == 0 ? bg[i] : x0[i * C + idx[q] - 1]);
      if (nuc)
        J[i * p + pa] = sw * dmu[i];
    }
  n_int = (int)p;
  cblas_dsyrk (CblasColMajor, CblasLower, CblasNoTrans, n_int, (int)L, 1.0, J,
               n_int, 0.0, H, n_int);
  if (nuc)
    for (i = 0; i < L; i++)
      {
        double g = mu[i] > 0 ? 1 - y[i] / mu[i] : 1;
        for (q = 0; q < pa; q++)
          if (idx[q] > 0)
            {
              size_t c = idx[q] - 1;
              H[q * p + pa] += g * (xp[i * C + c] - xm[i * C + c]) / (2 * h);
            }
        H[pa * p + pa] += g * d2mu[i];
      }
  /* H is column-major lower: element (r, c), r >= c, at c p + r.  The
   * mixed terms were added at (pa, q): column q, row pa. */
  dpotrf_ ("L", &n_int, H, &n_int, &info);
  if (info == 0)
    dpotri_ ("L", &n_int, H, &n_int, &info);
  if (info != 0)
    return gs_error (GS_ESING,
                     "%s: the Hessian of the likelihood is not positive "
                     "definite (LAPACK info %d): the fit is not at a "
                     "strict minimum",
                     fn, info);
  for (r = 0; r < pa; r++)
    std[idx[r]] = sqrt (fmax (H[r * p + r], 0));
  if (nuc)
    std[K] = sqrt (fmax (H[pa * p + pa], 0));
  return GS_OK;
}

typedef struct iae_family
{
  gs_semsun_ws *w;
  const gs_semsun_opts *o;
} iae_family;

static int
iae_family_fn (void *ctx, double t, double *x)
{
  iae_family *f = (iae_family *)ctx;
  return decode_columns (f->w, f->o, t, x, f->w->C, 0, NULL, "Std");
}

int
gs_semsun_std (gs_semsun_ws *w, const double *y, size_t n_channels,
               const double *X0, size_t K, const double *a,
               const double *lambda, const gs_semsun_opts *o, double *std)
{
  static const char fn[] = "gs_semsun_std";
  iae_family f;
  size_t i, k;
  int rc = check_inputs (w, o, fn, y, n_channels, X0, a, K);
  if (rc != GS_OK)
    return rc;
  if (!std)
    return gs_error (GS_EINVAL, "%s: NULL output", fn);
  for (k = 1; k < K; k++)
    if (a[k] > 0 && (!lambda || !isfinite (lambda[0])))
      return gs_error (GS_EINVAL, "%s: nuclides are active but lambda is "
                                  "missing or not finite",
                       fn);
  for (i = 0; i < n_channels; i++)
    w->v1[i] = X0[i * K];
  w->n_cached = 0;
  f.w = w;
  f.o = o;
  return gs_semsun_std_family (iae_family_fn, &f, y, n_channels, w->v1, a,
                               K - 1, lambda ? lambda[0] : 0, o->fd_step,
                               w->stdw, std);
}
