/* P-OMP search (gammabench-spec.md 3.3); see gspec/pomp.h. */
#include "gspec/pomp.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

#include "gspec/status.h"

#define KMAX GS_POMP_MAX_COMPONENTS

void
gs_pomp_opts_init (gs_pomp_opts *o)
{
  memset (o, 0, sizeof *o);
  o->alpha = 0.01;
  o->turn = 2;
  o->turn3_alpha = 1e-3;
  o->backward_min = 1;
  o->exact_losses = 1;
}

double
gs_pomp_threshold (double alpha, size_t n)
{
  return gsl_cdf_chisq_Qinv (2.0 * alpha / (double)n, 1.0);
}

/* The search state. */
typedef struct pomp_state
{
  size_t K;
  size_t I0[KMAX], n0; /* support, selection order */
  size_t I[KMAX], nI;  /* candidates, list order */
  double w[KMAX];      /* weights on I0 */
  double L0;
  gs_pomp_fit_fn fit;
  void *ctx;
  const gs_pomp_opts *o;
  gs_pomp_result *r;
  gs_pomp_phase phase;
} pomp_state;

static void
note_margin (pomp_state *s, double stat, double dt)
{
  double m = fabs (stat - dt);
  if (m < s->r->min_margin)
    s->r->min_margin = m;
}

static void
push_loss (pomp_state *s, double L)
{
  if (s->r->n_loss < sizeof s->r->loss_list / sizeof s->r->loss_list[0])
    s->r->loss_list[s->r->n_loss++] = L;
}

static void
push_procedure (pomp_state *s, size_t c)
{
  if (s->r->n_procedure
      < sizeof s->r->procedure / sizeof s->r->procedure[0])
    s->r->procedure[s->r->n_procedure++] = c;
}

static void
scatter (const pomp_state *s, double *out)
{
  size_t j;
  for (j = 0; j < s->K; j++)
    out[j] = 0;
  for (j = 0; j < s->n0; j++)
    out[s->I0[j]] = s->w[j];
}

static int
forward (pomp_state *s)
{
  size_t sup[KMAX], q, qq, best = 0, order[KMAX];
  double a[KMAX], a_best[KMAX], warm[KMAX], gain[KMAX];
  int no_gain[KMAX];
  int rc;
  while (s->nI > 0)
    {
      double dt = gs_pomp_threshold (s->o->alpha, s->nI), Lbest = INFINITY;
      double max_gain = 0;
      int have = 0;
      if (s->o->step
          && (rc = s->o->step (s->ctx, s->phase, s->I0, s->n0, s->w)) != GS_OK)
        return rc;
      memcpy (sup, s->I0, s->n0 * sizeof (size_t));
      memcpy (warm, s->w, s->n0 * sizeof (double));
      warm[s->n0] = 0;
      for (q = 0; q < s->nI; q++)
        {
          no_gain[q] = 0;
          gain[q] = INFINITY;
          order[q] = q;
        }
      if (s->o->screen)
        {
          rc = s->o->screen (s->ctx, s->I0, s->n0, s->w, s->I, s->nI,
                             no_gain);
          if (rc != GS_OK)
            return rc;
        }
      if (s->o->bound)
        {
          rc = s->o->bound (s->ctx, s->I0, s->n0, s->w, s->I, s->nI, gain);
          if (rc != GS_OK)
            return rc;
          for (q = 0; q < s->nI; q++)
            {
              if (gain[q] <= 0)
                no_gain[q] = 1;
              if (!no_gain[q] && gain[q] > max_gain)
                max_gain = gain[q];
            }
          /* Most promising first (stable: list order on equal bounds). */
          for (q = 1; q < s->nI; q++)
            {
              size_t v = order[q];
              for (qq = q; qq > 0 && gain[order[qq - 1]] < gain[v]; qq--)
                order[qq] = order[qq - 1];
              order[qq] = v;
            }
          if (!s->o->exact_losses && !(2.0 * max_gain > dt))
            {
              /* No candidate can pass the test: stop without fits. */
              push_loss (s, s->L0 - max_gain);
              note_margin (s, 2.0 * max_gain, dt);
              break;
            }
        }
      for (qq = 0; qq < s->nI; qq++)
        {
          double L;
          q = order[qq];
          if (no_gain[q])
            {
              /* The optimum stays at the current point: loss L0. */
              L = s->L0;
              memcpy (a, s->w, s->n0 * sizeof (double));
              a[s->n0] = 0;
            }
          else if (have && s->L0 - gain[q] > Lbest)
            continue; /* provably worse than the best so far */
          else
            {
              sup[s->n0] = s->I[q];
              memcpy (a, warm, (s->n0 + 1) * sizeof (double));
              rc = s->fit (s->ctx, sup, s->n0 + 1, warm, a, &L);
              if (rc != GS_OK)
                return rc;
              s->r->fits++;
            }
          /* argmin, the first in list order on ties */
          if (!have || L < Lbest || (L == Lbest && q < best))
            {
              have = 1;
              Lbest = L;
              best = q;
              memcpy (a_best, a, (s->n0 + 1) * sizeof (double));
            }
        }
      push_loss (s, Lbest);
      note_margin (s, -2.0 * (Lbest - s->L0), dt);
      if (!(-2.0 * (Lbest - s->L0) > dt))
        break;
      s->I0[s->n0] = s->I[best];
      memcpy (s->w, a_best, (s->n0 + 1) * sizeof (double));
      s->n0++;
      push_procedure (s, s->I[best]);
      memmove (s->I + best, s->I + best + 1,
               (s->nI - best - 1) * sizeof (size_t));
      s->nI--;
      s->L0 = Lbest;
    }
  return GS_OK;
}

/* Returns the number of components removed, or a negative status. */
static int
backward (pomp_state *s, int *removed)
{
  size_t sup[KMAX], p, q, best = 0;
  double a[KMAX], a_best[KMAX], warm[KMAX];
  int rc;
  *removed = 0;
  if (s->n0 <= 2)
    return GS_OK;
  while (s->n0 > s->o->backward_min && s->n0 > 1)
    {
      double alpha = s->o->turn == 3 ? s->o->turn3_alpha : s->o->alpha;
      double dt = gs_pomp_threshold (alpha, s->nI + 1), Lbest = INFINITY;
      double stat;
      int have = 0;
      if (s->o->step
          && (rc = s->o->step (s->ctx, GS_POMP_BACKWARD, s->I0, s->n0, s->w))
                 != GS_OK)
        return rc;
      for (p = 1; p < s->n0; p++)
        {
          size_t n = 0;
          double L;
          for (q = 0; q < s->n0; q++)
            if (q != p)
              {
                sup[n] = s->I0[q];
                warm[n] = s->w[q];
                n++;
              }
          memcpy (a, warm, n * sizeof (double));
          rc = s->fit (s->ctx, sup, n, warm, a, &L);
          if (rc != GS_OK)
            return rc;
          s->r->fits++;
          if (!have || L < Lbest)
            {
              have = 1;
              Lbest = L;
              best = p;
              memcpy (a_best, a, n * sizeof (double));
            }
        }
      stat = 2.0 * (Lbest - s->L0);
      if (s->o->backward_abs)
        stat = fabs (stat);
      note_margin (s, stat, dt);
      if (!(stat < dt))
        break;
      s->I[s->nI++] = s->I0[best];
      push_procedure (s, s->I0[best]);
      memmove (s->I0 + best, s->I0 + best + 1,
               (s->n0 - best - 1) * sizeof (size_t));
      s->n0--;
      memcpy (s->w, a_best, s->n0 * sizeof (double));
      s->L0 = Lbest;
      (*removed)++;
    }
  return GS_OK;
}

int
gs_pomp_search (size_t K, const gs_pomp_opts *opts, gs_pomp_fit_fn fit,
                void *ctx, gs_pomp_result *r)
{
  gs_pomp_opts def;
  pomp_state s;
  size_t j;
  int rc, removed = 0;
  if (!opts)
    {
      gs_pomp_opts_init (&def);
      opts = &def;
    }
  if (!fit || !r)
    return gs_error (GS_EINVAL, "P-OMP: NULL fit or result");
  if (K < 2 || K > KMAX)
    return gs_error (GS_EINVAL,
                     "P-OMP: %zu components; need 2..%d (background and "
                     "at least one nuclide)",
                     K, KMAX);
  if (!(opts->alpha > 0 && opts->alpha < 0.5) || opts->turn < 1
      || opts->turn > 3 || !(opts->turn3_alpha > 0 && opts->turn3_alpha < 0.5))
    return gs_error (GS_EINVAL,
                     "P-OMP: alpha %g and turn-3 alpha %g must be in (0, "
                     "0.5), turn %d in 1..3",
                     opts->alpha, opts->turn3_alpha, opts->turn);
  memset (r, 0, sizeof *r);
  memset (&s, 0, sizeof s);
  r->n_components = K;
  r->min_margin = INFINITY;
  s.K = K;
  s.fit = fit;
  s.ctx = ctx;
  s.o = opts;
  s.r = r;
  s.I0[0] = 0;
  s.n0 = 1;
  for (j = 1; j < K; j++)
    s.I[s.nI++] = j;
  rc = fit (ctx, s.I0, 1, NULL, s.w, &s.L0);
  if (rc != GS_OK)
    return rc;
  r->fits++;
  push_loss (&s, s.L0);
  rc = forward (&s);
  if (rc != GS_OK)
    return rc;
  scatter (&s, r->alist[0]);
  if (opts->turn >= 2)
    {
      rc = backward (&s, &removed);
      if (rc != GS_OK)
        return rc;
    }
  scatter (&s, r->alist[1]);
  if (opts->turn == 3 && removed)
    {
      r->n_loss = 0;
      push_loss (&s, s.L0);
      s.phase = GS_POMP_FORWARD2;
      rc = forward (&s);
      if (rc != GS_OK)
        return rc;
    }
  scatter (&s, r->alist[2]);
  memcpy (r->a, r->alist[2], K * sizeof (double));
  memcpy (r->support, s.I0, s.n0 * sizeof (size_t));
  r->n_support = s.n0;
  return GS_OK;
}

int
gs_pomp_nnpu_fit (void *ctx, const size_t *support, size_t n,
                  const double *warm, double *a, double *loss)
{
  gs_poisson_ws *w = (gs_poisson_ws *)ctx;
  gs_nnpu_opts o;
  gs_nnpu_info info;
  size_t j;
  int rc;
  gs_nnpu_opts_init (&o);
  if (warm)
    {
      o.warm_start = 1;
      o.init_new = 1;
      for (j = 0; j < n; j++)
        a[j] = warm[j];
    }
  rc = gs_nnpu_prepared (w, support, n, &o, a, &info);
  if (rc != GS_OK)
    return rc;
  *loss = info.loss;
  return GS_OK;
}

int
gs_pomp_nnpu_screen (void *ctx, const size_t *support, size_t n,
                     const double *a, const size_t *cand, size_t n_cand,
                     int *no_gain)
{
  double g[KMAX];
  size_t j;
  int rc = gs_poisson_gradient ((gs_poisson_ws *)ctx, support, n, a, cand,
                                n_cand, g);
  if (rc != GS_OK)
    return rc;
  for (j = 0; j < n_cand; j++)
    no_gain[j] = g[j] >= 0;
  return GS_OK;
}

int
gs_pomp_nnpu_bound (void *ctx, const size_t *support, size_t n,
                    const double *a, const size_t *cand, size_t n_cand,
                    double *max_gain)
{
  return gs_poisson_gain_bounds ((gs_poisson_ws *)ctx, support, n, a, cand,
                                 n_cand, max_gain);
}

size_t
gs_pomp_postprocess (const double *a, size_t K, double frac,
                     const double *min_counts, int *present)
{
  double tot = 0;
  size_t j, cleared = 0;
  for (j = 1; j < K; j++)
    tot += a[j];
  for (j = 1; j < K; j++)
    {
      int drop = 0;
      if (!present[j])
        continue;
      if (frac > 0 && !(a[j] > frac * tot))
        drop = 1;
      if (min_counts
          && a[j] < min_counts[j] - 3.0 * sqrt (min_counts[j]))
        drop = 1;
      if (drop)
        {
          present[j] = 0;
          cleared++;
        }
    }
  return cleared;
}
