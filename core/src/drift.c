/* Gain-shift estimation: find_drift_spectrum and NNPU_drift of
 * gammabench-spec.md 3.6 (see gspec/drift.h for the contracts and the
 * differences to scipy's Nelder-Mead). */
#include "gspec/drift.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

#define GS__DR_N GS_SHIFT_N_CHANNELS

const double gs_drift_starts[GS_DRIFT_N_STARTS][2]
    = { { -0.14, 0 }, { -0.07, 0 }, { 0, 0 }, { 0.07, 0 }, { 0.14, 0 } };

void
gs_drift_opts_init (gs_drift_opts *o)
{
  o->bounds[0][0] = -0.15;
  o->bounds[0][1] = 0.15;
  o->bounds[1][0] = -1.0;
  o->bounds[1][1] = 1.0;
  o->max_iter = 100;
  o->xtol = 1e-4;
  o->ftol = 1e-4;
  o->n_particles = GS_SHIFT_DEFAULT_PARTICLES;
}

static int
check_drift_opts (const gs_drift_opts *o)
{
  int k;
  for (k = 0; k < 2; k++)
    if (!isfinite (o->bounds[k][0]) || !isfinite (o->bounds[k][1])
        || !(o->bounds[k][0] < o->bounds[k][1]))
      return gs_error (GS_EINVAL,
                       "find_drift_spectrum: bounds of alpha%d = [%g, %g] "
                       "must be finite with lower < upper",
                       k, o->bounds[k][0], o->bounds[k][1]);
  if (o->max_iter < 0)
    return gs_error (GS_EINVAL,
                     "find_drift_spectrum: max_iter = %d is negative",
                     o->max_iter);
  if (!(o->xtol >= 0) || !(o->ftol >= 0))
    return gs_error (GS_EINVAL,
                     "find_drift_spectrum: xtol = %g and ftol = %g must be "
                     ">= 0",
                     o->xtol, o->ftol);
  if (!(o->n_particles >= 1) || !(o->n_particles <= 1e12))
    return gs_error (GS_EINVAL,
                     "find_drift_spectrum: n_particles = %g is outside "
                     "[1, 1e12]",
                     o->n_particles);
  return GS_OK;
}

static int
check_spectrum (const char *who, const char *what, const double *s,
                int need_positive_sum)
{
  size_t c;
  double tot = 0;
  if (!s)
    return gs_error (GS_EINVAL, "%s: %s is NULL", who, what);
  for (c = 0; c < GS__DR_N; c++)
    {
      if (!isfinite (s[c]) || s[c] < 0)
        return gs_error (GS_EBADDATA,
                         "%s: %s channel %zu is %g (counts must be finite "
                         "and >= 0)",
                         who, what, c, s[c]);
      tot += s[c];
    }
  if (need_positive_sum && !(tot > 0))
    return gs_error (GS_EBADDATA, "%s: %s is all zero", who, what);
  return GS_OK;
}

/* ---- find_drift_spectrum ------------------------------------------- */

/* log(h) for the small integers a histogram holds most of the time
 * (libm's values, computed once). */
#define GS__DR_LOG_TABLE 4096
static double log_table[GS__DR_LOG_TABLE];
static pthread_once_t log_table_once = PTHREAD_ONCE_INIT;

static void
log_table_init (void)
{
  size_t i;
  log_table[0] = 0;
  for (i = 1; i < GS__DR_LOG_TABLE; i++)
    log_table[i] = log ((double)i);
}

typedef struct drift_cost
{
  const double *s1; /* observed */
  const int *pos;   /* channels with s1 > 0 */
  size_t n_pos;
  double s1_pos;    /* sum of s1 over them */
  const gs_shift_prep *prep; /* particles of the model */
  int64_t *h;       /* histogram scratch */
  double total;     /* sum of the model */
  double const1;    /* sum (s1 log (s1 + 1e-16) - s1) */
  const double (*bounds)[2];
  int evaluations;
  int status; /* first error of gs_shift_histogram */
} drift_cost;

static double
clip (double v, const double b[2])
{
  return v < b[0] ? b[0] : (v > b[1] ? b[1] : v);
}

/* Shifted model s2 at alpha (already clipped); returns its histogram sum
 * (0 when every particle left the window). */
static double
drift_model (drift_cost *c, const double alpha[2])
{
  double htot = 0;
  size_t k;
  int rc = gs_shift_histogram_prepared (c->prep, alpha[0], alpha[1], c->h);
  if (rc != GS_OK)
    {
      if (c->status == GS_OK)
        c->status = rc;
      return 0;
    }
  for (k = 0; k < GS__DR_N; k++)
    htot += (double)c->h[k]; /* integers below 2^53: exact */
  return htot;
}

/* cost = sum s2 - s1 log(s2 + 1e-16) + const1 with s2 = h scale,
 * scale = total / sum(h): sum s2 = total, and log(h scale + 1e-16) is
 * taken as log h + log scale where h > 0 (h scale >= 1e-10 there, so the
 * 1e-16 is below the rounding) and log 1e-16 where h = 0; only the
 * channels with counts contribute. */
static double
drift_cost_at (drift_cost *c, const double x[2], double *s2)
{
  double alpha[2], htot, f = 0, scale, s1_hit = 0;
  size_t i, k;
  alpha[0] = clip (x[0], c->bounds[0]);
  alpha[1] = clip (x[1], c->bounds[1]);
  c->evaluations++;
  htot = drift_model (c, alpha);
  if (!(htot > 0))
    {
      /* Nothing left in the window: worse than any real fit, but finite
       * so that the simplex keeps working. */
      if (s2)
        memset (s2, 0, GS__DR_N * sizeof *s2);
      return 1e300;
    }
  scale = c->total / htot;
  if (s2)
    for (k = 0; k < GS__DR_N; k++)
      s2[k] = (double)c->h[k] * scale;
  for (i = 0; i < c->n_pos; i++)
    {
      int64_t h = c->h[c->pos[i]];
      double w = c->s1[c->pos[i]];
      if (h <= 0)
        continue;
      s1_hit += w;
      f -= w * (h < GS__DR_LOG_TABLE ? log_table[h] : log ((double)h));
    }
  f -= s1_hit * log (scale) + (c->s1_pos - s1_hit) * log (1e-16);
  return c->total + f + c->const1;
}

static double
drift_cost_gsl (const gsl_vector *v, void *params)
{
  double x[2];
  x[0] = gsl_vector_get (v, 0);
  x[1] = gsl_vector_get (v, 1);
  return drift_cost_at ((drift_cost *)params, x, NULL);
}

/* scipy's initial simplex step along k: 5 % of x0_k (0.00025 when x0_k
 * is 0), reflected at the upper bound, clipped; a zero step after
 * clipping points into the box instead (see gspec/drift.h). */
static double
initial_step (double x0, const double b[2])
{
  double v = x0 != 0 ? 1.05 * x0 : 0.00025, step;
  if (v > b[1])
    v = 2 * b[1] - v;
  v = clip (v, b);
  step = v - x0;
  if (step == 0)
    {
      double s = x0 != 0 ? 0.05 * fabs (x0) : 0.00025;
      step = x0 + s <= b[1] ? s : -s;
      if (x0 + step < b[0] || x0 + step > b[1])
        step = 0.5 * (b[1] - b[0]) * (x0 - b[0] < b[1] - x0 ? 1 : -1);
    }
  return step;
}

int
gs_find_drift_spectrum (const double *s_obs, const double *s_model,
                        size_t n_channels, const double *alpha_start,
                        const gs_drift_opts *opts, double *s_shifted,
                        gs_drift_info *info)
{
  gs_drift_opts def;
  drift_cost c;
  int64_t n[GS__DR_N], h[GS__DR_N];
  int pos[GS__DR_N];
  gs_shift_prep *prep = NULL;
  double x0[2], f0, hist[3];
  const gsl_multimin_fminimizer_type *T = gsl_multimin_fminimizer_nmsimplex2;
  gsl_multimin_fminimizer *m = NULL;
  gsl_multimin_function fn;
  gsl_vector *xv = NULL, *sv = NULL;
  size_t k;
  int rc, it, converged = 0;
  if (!opts)
    {
      gs_drift_opts_init (&def);
      opts = &def;
    }
  if (!info)
    return gs_error (GS_EINVAL, "find_drift_spectrum: info is NULL");
  memset (info, 0, sizeof *info);
  if (n_channels != GS__DR_N)
    return gs_error (GS_EBADLEN,
                     "find_drift_spectrum: %zu channels; the particle "
                     "shift needs the 1024-channel GammaBench grid",
                     n_channels);
  if ((rc = check_drift_opts (opts)) != GS_OK
      || (rc = check_spectrum ("find_drift_spectrum", "observed spectrum",
                               s_obs, 0))
             != GS_OK
      || (rc = check_spectrum ("find_drift_spectrum", "model spectrum", s_model,
                               1))
             != GS_OK)
    return rc;
  if (alpha_start && (!isfinite (alpha_start[0]) || !isfinite (alpha_start[1])))
    return gs_error (GS_EINVAL,
                     "find_drift_spectrum: start alpha = (%g, %g) is not "
                     "finite",
                     alpha_start[0], alpha_start[1]);
  rc = gs_shift_particles (s_model, GS_SHIFT_FLOOR, opts->n_particles, n);
  if (rc != GS_OK)
    return rc;
  prep = malloc (sizeof *prep);
  if (!prep)
    return gs_error (GS_ENOMEM, "find_drift_spectrum: out of memory");
  if ((rc = gs_shift_prepare (n, prep)) != GS_OK)
    {
      free (prep);
      return rc;
    }
  memset (&c, 0, sizeof c);
  c.s1 = s_obs;
  c.prep = prep;
  c.pos = pos;
  for (k = 0; k < GS__DR_N; k++)
    if (s_obs[k] > 0)
      {
        pos[c.n_pos++] = (int)k;
        c.s1_pos += s_obs[k];
      }
  pthread_once (&log_table_once, log_table_init);
  c.h = h;
  c.total = gs_shift_numpy_sum (s_model, GS__DR_N, 1);
  c.bounds = (const double (*)[2])opts->bounds;
  for (k = 0; k < GS__DR_N; k++)
    c.const1 += s_obs[k] * log (s_obs[k] + 1e-16) - s_obs[k];
  /* Start: the caller's point or the best of the five (first on ties). */
  if (alpha_start)
    {
      x0[0] = alpha_start[0];
      x0[1] = alpha_start[1];
      f0 = drift_cost_at (&c, x0, NULL);
    }
  else
    {
      f0 = HUGE_VAL;
      x0[0] = x0[1] = 0;
      for (k = 0; k < GS_DRIFT_N_STARTS; k++)
        {
          double f = drift_cost_at (&c, gs_drift_starts[k], NULL);
          if (f < f0)
            {
              f0 = f;
              x0[0] = gs_drift_starts[k][0];
              x0[1] = gs_drift_starts[k][1];
            }
        }
    }
  x0[0] = clip (x0[0], opts->bounds[0]);
  x0[1] = clip (x0[1], opts->bounds[1]);
  if (c.status != GS_OK)
    {
      free (prep);
      return c.status;
    }
  info->alpha[0] = x0[0];
  info->alpha[1] = x0[1];
  info->cost = f0;
  if (opts->max_iter > 0)
    {
      m = gsl_multimin_fminimizer_alloc (T, 2);
      xv = gsl_vector_alloc (2);
      sv = gsl_vector_alloc (2);
      if (!m || !xv || !sv)
        {
          rc = gs_error (GS_ENOMEM, "find_drift_spectrum: out of memory");
          goto done;
        }
      fn.n = 2;
      fn.f = drift_cost_gsl;
      fn.params = &c;
      for (k = 0; k < 2; k++)
        {
          gsl_vector_set (xv, k, x0[k]);
          gsl_vector_set (sv, k, initial_step (x0[k], opts->bounds[k]));
        }
      if (gsl_multimin_fminimizer_set (m, &fn, xv, sv) != GSL_SUCCESS)
        {
          rc = c.status != GS_OK
                   ? c.status
                   : gs_error (GS_EFAILED,
                               "find_drift_spectrum: Nelder-Mead set-up "
                               "failed");
          goto done;
        }
      hist[0] = hist[1] = hist[2] = HUGE_VAL;
      for (it = 0; it < opts->max_iter; it++)
        {
          double fb;
          int st = gsl_multimin_fminimizer_iterate (m);
          info->iterations = it + 1;
          if (c.status != GS_OK)
            {
              rc = c.status;
              goto done;
            }
          if (st != GSL_SUCCESS)
            break; /* cannot improve further (degenerate simplex) */
          fb = gsl_multimin_fminimizer_minimum (m);
          if (gsl_multimin_fminimizer_size (m) <= opts->xtol
              && fabs (hist[it % 3] - fb) <= opts->ftol)
            {
              converged = 1;
              break;
            }
          hist[it % 3] = fb;
        }
      if (gsl_multimin_fminimizer_minimum (m) < f0)
        {
          const gsl_vector *xb = gsl_multimin_fminimizer_x (m);
          info->alpha[0] = clip (gsl_vector_get (xb, 0), opts->bounds[0]);
          info->alpha[1] = clip (gsl_vector_get (xb, 1), opts->bounds[1]);
          info->cost = gsl_multimin_fminimizer_minimum (m);
        }
    }
  info->converged = converged;
  if (s_shifted)
    {
      int e = c.evaluations;
      drift_cost_at (&c, info->alpha, s_shifted);
      c.evaluations = e;
      if (c.status != GS_OK)
        {
          rc = c.status;
          goto done;
        }
    }
  rc = GS_OK;
done:
  info->evaluations = c.evaluations;
  gsl_multimin_fminimizer_free (m);
  gsl_vector_free (xv);
  gsl_vector_free (sv);
  free (prep);
  return rc;
}

/* ---- NNPU_drift ------------------------------------------------------ */

struct gs_drift_ws
{
  size_t max_cols;
  gs_poisson_ws *pws; /* inner fits */
  double *Xs;         /* 1024 x k: the selected columns, unshifted */
  double *Xk;         /* 1024 x k: the current shifted columns */
  double *Xt;         /* 1024 x k: a trial shift (5-point search) */
  double *model;      /* Xs a */
  double *yk;         /* Xk a */
  double *ynext;      /* the shifted model */
  double *at;         /* trial weights */
  double *ab;         /* best weights of the 5-point search */
  void *block;        /* malloc'd block (gs_drift_ws_alloc) */
};

static size_t
round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

size_t
gs_drift_ws_bytes (size_t max_cols)
{
  size_t k = max_cols;
  if (k == 0 || k > 4096)
    return 0;
  return round64 (sizeof (gs_drift_ws)) + 64
         + round64 (gs_poisson_ws_bytes (GS__DR_N, k))
         + 3 * round64 (GS__DR_N * k * sizeof (double))
         + 3 * round64 (GS__DR_N * sizeof (double))
         + 2 * round64 (k * sizeof (double));
}

gs_drift_ws *
gs_drift_ws_place (void *mem, size_t max_cols)
{
  size_t k = max_cols;
  char *p = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
  gs_drift_ws *w = (gs_drift_ws *)p;
  if (!mem || k == 0 || k > 4096)
    return NULL;
  memset (w, 0, sizeof *w);
  w->max_cols = k;
  p += round64 (sizeof *w);
  w->pws = gs_poisson_ws_place (p, GS__DR_N, k);
  if (!w->pws)
    return NULL;
  p += round64 (gs_poisson_ws_bytes (GS__DR_N, k));
#define GS__DR_TAKE(field, count)                                              \
  w->field = (double *)p;                                                      \
  p += round64 ((count) * sizeof (double))
  GS__DR_TAKE (Xs, GS__DR_N * k);
  GS__DR_TAKE (Xk, GS__DR_N * k);
  GS__DR_TAKE (Xt, GS__DR_N * k);
  GS__DR_TAKE (model, GS__DR_N);
  GS__DR_TAKE (yk, GS__DR_N);
  GS__DR_TAKE (ynext, GS__DR_N);
  GS__DR_TAKE (at, k);
  GS__DR_TAKE (ab, k);
#undef GS__DR_TAKE
  return w;
}

gs_drift_ws *
gs_drift_ws_alloc (size_t max_cols)
{
  size_t bytes = gs_drift_ws_bytes (max_cols);
  void *mem;
  gs_drift_ws *w;
  if (bytes == 0)
    {
      gs_error (GS_EINVAL, "drift workspace: %zu columns (1..4096)", max_cols);
      return NULL;
    }
  mem = malloc (bytes);
  if (!mem)
    {
      gs_error (GS_ENOMEM, "drift workspace: out of memory");
      return NULL;
    }
  w = gs_drift_ws_place (mem, max_cols);
  w->block = mem;
  return w;
}

void
gs_drift_ws_free (gs_drift_ws *w)
{
  if (w)
    free (w->block);
}

void
gs_nnpu_drift_opts_init (gs_nnpu_drift_opts *o)
{
  gs_drift_opts_init (&o->find);
  o->max_outer = 10;
  o->tol = 1e-3;
  o->search_alpha0 = 0;
  o->n_particles = GS_SHIFT_DEFAULT_PARTICLES;
  o->warm_start = 0;
  o->nnpu_max_iter = 200;
  o->search_libs = NULL;
}

int
gs_drift_search_libraries (const double *X, size_t ldx, const size_t *cols,
                           size_t k, double n_particles, double *out)
{
  double *Xs;
  size_t i, j, s;
  int rc = GS_OK;
  if (!X || !out || k == 0 || (!cols && k > ldx))
    return gs_error (GS_EINVAL,
                     "drift search libraries: need X, out and 1..%zu "
                     "columns (got %zu)",
                     ldx, k);
  for (j = 0; j < k; j++)
    if (cols && cols[j] >= ldx)
      return gs_error (GS_EINVAL,
                       "drift search libraries: column %zu (selected %zu) is "
                       "beyond the leading dimension %zu",
                       cols[j], j, ldx);
  Xs = malloc (GS__DR_N * k * sizeof *Xs);
  if (!Xs)
    return gs_error (GS_ENOMEM, "drift search libraries: out of memory");
  for (i = 0; i < GS__DR_N; i++)
    for (j = 0; j < k; j++)
      Xs[i * k + j] = X[i * ldx + (cols ? cols[j] : j)];
  for (s = 0; s < GS_DRIFT_N_STARTS && rc == GS_OK; s++)
    rc = gs_shift_library_columns (Xs, k, gs_drift_starts[s][0],
                                   gs_drift_starts[s][1], GS_SHIFT_ROUND,
                                   n_particles, out + s * GS__DR_N * k);
  free (Xs);
  return rc;
}

/* out = M a for a 1024 x k row-major M. */
static void
matvec (const double *M, size_t k, const double *a, double *out)
{
  size_t i, j;
  for (i = 0; i < GS__DR_N; i++)
    {
      const double *row = M + i * k;
      double s = 0;
      for (j = 0; j < k; j++)
        s += row[j] * a[j];
      out[i] = s;
    }
}

/* The inner fit: a = ML fit of y on M (1024 x k), warm-started from a.
 * *err_in = 0 when it converged, infinity at its iteration limit. */
static int
inner_fit (gs_drift_ws *w, const double *M, size_t k, const double *y,
           const gs_nnpu_drift_opts *o, double *a, double *err_in, double *loss)
{
  gs_nnpu_opts no;
  gs_nnpu_info ni;
  int rc;
  gs_nnpu_opts_init (&no);
  no.max_iter = o->nnpu_max_iter;
  no.warm_start = 1;
  rc = gs_nnpu (w->pws, M, k, GS__DR_N, NULL, k, y, &no, a, &ni);
  if (rc == GS_EMAXITER)
    {
      *err_in = HUGE_VAL;
      rc = GS_OK;
    }
  else
    *err_in = 0;
  if (loss)
    *loss = ni.loss;
  return rc;
}

int
gs_nnpu_drift (gs_drift_ws *w, const double *X, size_t ldx, size_t n_channels,
               const size_t *cols, size_t n_cols, const double *y,
               const double *alpha_start, const gs_nnpu_drift_opts *opts,
               double *a, double *Xk_out, gs_nnpu_drift_info *info)
{
  gs_nnpu_drift_opts def;
  gs_nnpu_drift_info inf;
  const size_t k = n_cols;
  double alpha[2] = { 0, 0 }, err = HUGE_VAL, ysum = 0;
  size_t i, j;
  int rc, it;
  if (!opts)
    {
      gs_nnpu_drift_opts_init (&def);
      opts = &def;
    }
  memset (&inf, 0, sizeof inf);
  if (info)
    memset (info, 0, sizeof *info);
  if (!w || !X || !a || k == 0 || k > w->max_cols)
    return gs_error (GS_EINVAL,
                     "NNPU_drift: need a workspace, X, a and 1..%zu columns "
                     "(got %zu)",
                     w ? w->max_cols : 0, k);
  if (n_channels != GS__DR_N)
    return gs_error (GS_EBADLEN,
                     "NNPU_drift: %zu channels; the particle shift needs "
                     "the 1024-channel GammaBench grid",
                     n_channels);
  if ((rc = check_drift_opts (&opts->find)) != GS_OK)
    return rc;
  if (opts->max_outer < 1 || !(opts->tol >= 0) || opts->nnpu_max_iter < 1
      || !(opts->n_particles >= 1) || !(opts->n_particles <= 1e12))
    return gs_error (GS_EINVAL,
                     "NNPU_drift: max_outer = %d, tol = %g, nnpu_max_iter "
                     "= %d, n_particles = %g (need >= 1, >= 0, >= 1, "
                     "[1, 1e12])",
                     opts->max_outer, opts->tol, opts->nnpu_max_iter,
                     opts->n_particles);
  if (alpha_start && (!isfinite (alpha_start[0]) || !isfinite (alpha_start[1])))
    return gs_error (GS_EINVAL,
                     "NNPU_drift: start alpha = (%g, %g) is not finite",
                     alpha_start[0], alpha_start[1]);
  if ((rc = check_spectrum ("NNPU_drift", "spectrum", y, 1)) != GS_OK)
    return rc;
  for (j = 0; j < k; j++)
    if (cols && cols[j] >= ldx)
      return gs_error (GS_EINVAL,
                       "NNPU_drift: column %zu (selected %zu) is beyond the "
                       "leading dimension %zu",
                       cols[j], j, ldx);
  if (!cols && k > ldx)
    return gs_error (GS_EINVAL,
                     "NNPU_drift: %zu columns exceed the leading dimension "
                     "%zu",
                     k, ldx);
  /* Gather the selected columns. */
  for (i = 0; i < GS__DR_N; i++)
    {
      const double *row = X + i * ldx;
      for (j = 0; j < k; j++)
        {
          double v = row[cols ? cols[j] : j];
          if (!isfinite (v) || v < 0)
            return gs_error (GS_EBADDATA,
                             "NNPU_drift: signature %zu, channel %zu is %g",
                             cols ? cols[j] : j, i, v);
          w->Xs[i * k + j] = v;
        }
      ysum += y[i];
    }
  /* Start: the caller's weights or sum(y) / N. */
  if (!opts->warm_start)
    for (j = 0; j < k; j++)
      a[j] = ysum / (double)k;
  else
    for (j = 0; j < k; j++)
      if (!isfinite (a[j]) || a[j] < 0)
        return gs_error (GS_EINVAL,
                         "NNPU_drift: start weight %zu is %g (need finite "
                         ">= 0)",
                         j, a[j]);
  memcpy (w->Xk, w->Xs, GS__DR_N * k * sizeof (double));
  if (opts->search_alpha0)
    {
      double best = HUGE_VAL;
      size_t s;
      for (s = 0; s < GS_DRIFT_N_STARTS; s++)
        {
          double e, loss;
          const double *Xt = w->Xt, *best_X = NULL;
          if (opts->search_libs)
            Xt = opts->search_libs + s * GS__DR_N * k;
          else
            {
              rc = gs_shift_library_columns (
                  w->Xs, k, gs_drift_starts[s][0], gs_drift_starts[s][1],
                  GS_SHIFT_ROUND, opts->n_particles, w->Xt);
              if (rc != GS_OK)
                return rc;
            }
          memcpy (w->at, a, k * sizeof (double));
          rc = inner_fit (w, Xt, k, y, opts, w->at, &e, &loss);
          if (rc != GS_OK)
            return rc;
          if (loss < best)
            {
              best = loss;
              alpha[0] = gs_drift_starts[s][0];
              alpha[1] = gs_drift_starts[s][1];
              best_X = Xt;
              memcpy (w->ab, w->at, k * sizeof (double));
            }
          if (best_X)
            memcpy (w->Xk, best_X, GS__DR_N * k * sizeof (double));
        }
      memcpy (a, w->ab, k * sizeof (double));
    }
  for (it = 0; it < opts->max_outer && err > opts->tol; it++)
    {
      gs_drift_info di;
      double err_in, num = 0, den = 0;
      const double *start = it == 0 ? alpha_start : alpha;
      rc = inner_fit (w, w->Xk, k, y, opts, a, &err_in, NULL);
      if (rc != GS_OK)
        return rc;
      matvec (w->Xk, k, a, w->yk);
      matvec (w->Xs, k, a, w->model);
      rc = gs_find_drift_spectrum (y, w->model, GS__DR_N, start, &opts->find,
                                   w->ynext, &di);
      inf.evaluations += di.evaluations;
      if (rc != GS_OK)
        return gs_error_prefix (rc, "NNPU_drift, alternation %d", it + 1);
      alpha[0] = di.alpha[0];
      alpha[1] = di.alpha[1];
      for (i = 0; i < GS__DR_N; i++)
        {
          double d = w->ynext[i] - w->yk[i];
          num += d * d;
          den += w->yk[i] * w->yk[i];
        }
      err = sqrt (num) / sqrt (den);
      if (err_in > err)
        err = err_in;
      rc = gs_shift_library_columns (w->Xs, k, alpha[0], alpha[1],
                                     GS_SHIFT_ROUND, opts->n_particles, w->Xk);
      if (rc != GS_OK)
        return rc;
      inf.outer = it + 1;
    }
  inf.converged = err <= opts->tol;
  inf.alpha[0] = alpha[0];
  inf.alpha[1] = alpha[1];
  inf.loss = gs_poisson_divergence (w->Xk, k, GS__DR_N, NULL, k, y, a);
  if (Xk_out)
    memcpy (Xk_out, w->Xk, GS__DR_N * k * sizeof (double));
  if (info)
    *info = inf;
  return GS_OK;
}
