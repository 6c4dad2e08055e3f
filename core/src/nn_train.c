/* NN training kit (gspec/nn.h): losses with their gradients, the Adam,
 * AdamW and SGD optimisers with PyTorch's update rules, learning-rate
 * schedules and early stopping.  Sums are accumulated in double. */
#include "gspec/nn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

/* ---- Losses ------------------------------------------------------------- */

double
gs_nn_loss_bce_logits (const float *z, const float *t, size_t n, float *d)
{
  double s = 0;
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++)
    {
      double zi = z[i], ti = t[i];
      /* max(z, 0) - z t + log(1 + exp(-|z|)) */
      s += (zi > 0 ? zi : 0) - zi * ti + log1p (exp (-fabs (zi)));
      if (d)
        {
          double sig
              = zi >= 0 ? 1 / (1 + exp (-zi)) : exp (zi) / (1 + exp (zi));
          d[i] = (float)((sig - ti) / (double)n);
        }
    }
  return s / (double)n;
}

double
gs_nn_loss_asymmetric (const float *z, const float *t, size_t n,
                       double gamma_neg, double gamma_pos, double clip,
                       double eps, float *d)
{
  double s = 0;
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++)
    {
      double zi = z[i], ti = t[i];
      /* p = sigmoid(z) and q = 1 - p, both computed without cancellation. */
      double p = zi >= 0 ? 1 / (1 + exp (-zi)) : exp (zi) / (1 + exp (zi));
      double q = zi >= 0 ? exp (-zi) / (1 + exp (-zi)) : 1 / (1 + exp (zi));
      double dp = p * q; /* dp/dz */
      /* The authors' probability shifting: p_m = max(p - clip, 0), so
       * that 1 - p_m = min(q + clip, 1). */
      double pm = clip > 0 ? (p > clip ? p - clip : 0) : p;
      double qm = clip > 0 ? (q + clip < 1 ? q + clip : 1) : q;
      double dpm = clip > 0 && p <= clip ? 0 : dp;
      double lp = log (p > eps ? p : eps);
      double lq = log (qm > eps ? qm : eps);
      double wp = gamma_pos != 0 ? pow (q, gamma_pos) : 1;
      double wn = gamma_neg != 0 ? pow (pm, gamma_neg) : 1;
      s += ti * lp * wp + (1 - ti) * lq * wn;
      if (d)
        {
          /* d/dz [t log p (1-p)^gp] = t [(1-p)^(gp+1) (p > eps)
           *                            - gp log p p (1-p)^gp] */
          double ga = (p > eps ? q * wp : 0) - gamma_pos * lp * p * wp;
          /* d/dz [(1-t) log(1-pm) pm^gn]
           *   = (1-t) dpm [-(1-pm > eps) pm^gn / (1-pm)
           *                + log(1-pm) gn pm^(gn-1)] */
          double gb = 0;
          if (dpm != 0)
            {
              gb = (qm > eps ? -wn / qm : 0);
              if (gamma_neg != 0 && pm > 0)
                gb += lq * gamma_neg * pow (pm, gamma_neg - 1);
              gb *= dpm;
            }
          d[i] = (float)(-(ti * ga + (1 - ti) * gb) / (double)n);
        }
    }
  return -s / (double)n;
}

double
gs_nn_loss_soft_ce (const float *z, const float *t, int batch, int classes,
                    float *d)
{
  double s = 0;
  int r, c;
  if (batch < 1 || classes < 1)
    return 0;
  for (r = 0; r < batch; r++)
    {
      const float *zr = z + (size_t)r * classes;
      const float *tr = t + (size_t)r * classes;
      double m = zr[0], se = 0, st = 0, lse;
      for (c = 1; c < classes; c++)
        if (zr[c] > m)
          m = zr[c];
      for (c = 0; c < classes; c++)
        {
          se += exp (zr[c] - m);
          st += tr[c];
        }
      lse = m + log (se);
      for (c = 0; c < classes; c++)
        s -= tr[c] * (zr[c] - lse);
      if (d)
        for (c = 0; c < classes; c++)
          d[(size_t)r * classes + c]
              = (float)((exp (zr[c] - lse) * st - tr[c]) / batch);
    }
  return s / batch;
}

double
gs_nn_loss_mse (const float *y, const float *t, size_t n, float *d)
{
  double s = 0;
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++)
    {
      double e = (double)y[i] - (double)t[i];
      s += e * e;
      if (d)
        d[i] = (float)(2 * e / (double)n);
    }
  return s / (double)n;
}

/* ---- Optimisers --------------------------------------------------------- */

struct gs_nn_optim
{
  gs_nn *nn;
  gs_nn_optim_opts o;
  size_t n;
  float *m, *v; /* first and second moments (SGD: momentum buffer in m) */
  long t;       /* steps taken */
  int epoch;
  double lr;
};

void
gs_nn_optim_opts_init (gs_nn_optim_opts *o, gs_nn_optim_kind kind)
{
  if (!o)
    return;
  memset (o, 0, sizeof *o);
  o->kind = kind;
  o->lr = 1e-3;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->weight_decay = kind == GS_NN_ADAMW ? 0.01 : 0;
  o->momentum = 0.9;
  o->schedule = GS_NN_LR_CONSTANT;
  o->step_size = 10;
  o->gamma = 0; /* 0: the schedule's default (0.1 step, 0.95 exp.) */
}

static int
check_opts (const gs_nn_optim_opts *o)
{
  if (o->kind != GS_NN_ADAM && o->kind != GS_NN_ADAMW && o->kind != GS_NN_SGD)
    return gs_error (GS_EINVAL,
                     "optimiser kind %d is unknown (0 adam, "
                     "1 adamw, 2 sgd)",
                     (int)o->kind);
  if (!(o->lr > 0) || !isfinite (o->lr))
    return gs_error (GS_EINVAL, "optimiser lr %g must be > 0", o->lr);
  if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
    return gs_error (GS_EINVAL, "optimiser betas %g, %g must be in [0, 1)",
                     o->beta1, o->beta2);
  if (!(o->eps > 0) || !isfinite (o->eps))
    return gs_error (GS_EINVAL, "optimiser eps %g must be > 0", o->eps);
  if (!(o->weight_decay >= 0) || !isfinite (o->weight_decay))
    return gs_error (GS_EINVAL, "optimiser weight_decay %g must be >= 0",
                     o->weight_decay);
  if (!(o->momentum >= 0 && o->momentum < 1))
    return gs_error (GS_EINVAL, "optimiser momentum %g must be in [0, 1)",
                     o->momentum);
  if (o->schedule != GS_NN_LR_CONSTANT && o->schedule != GS_NN_LR_STEP
      && o->schedule != GS_NN_LR_EXPONENTIAL)
    return gs_error (GS_EINVAL,
                     "learning-rate schedule %d is unknown (0 "
                     "constant, 1 step, 2 exponential)",
                     (int)o->schedule);
  if (o->schedule == GS_NN_LR_STEP && o->step_size < 1)
    return gs_error (GS_EINVAL, "step schedule: step_size %d must be >= 1",
                     o->step_size);
  if (!(o->gamma >= 0) || !isfinite (o->gamma))
    return gs_error (GS_EINVAL,
                     "schedule gamma %g must be > 0 (0: the "
                     "default)",
                     o->gamma);
  return GS_OK;
}

int
gs_nn_optim_create (gs_nn *nn, const gs_nn_optim_opts *o, gs_nn_optim **out)
{
  gs_nn_optim *opt;
  gs_nn_optim_opts def;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_nn_optim_create: NULL output");
  *out = NULL;
  if (!nn)
    return gs_error (GS_EINVAL, "gs_nn_optim_create: NULL network");
  if (!o)
    {
      gs_nn_optim_opts_init (&def, GS_NN_ADAM);
      o = &def;
    }
  if ((rc = check_opts (o)) != GS_OK)
    return rc;
  opt = calloc (1, sizeof *opt);
  if (!opt)
    return gs_error (GS_ENOMEM, "out of memory for an optimiser");
  opt->nn = nn;
  opt->o = *o;
  if (opt->o.gamma == 0)
    opt->o.gamma = o->schedule == GS_NN_LR_EXPONENTIAL ? 0.95 : 0.1;
  gs_nn_params (nn, &opt->n);
  opt->m = calloc (opt->n ? opt->n : 1, sizeof *opt->m);
  opt->v = calloc (opt->n ? opt->n : 1, sizeof *opt->v);
  if (!opt->m || !opt->v)
    {
      size_t n = opt->n;
      gs_nn_optim_free (opt);
      return gs_error (GS_ENOMEM,
                       "out of memory for the optimiser state "
                       "(%zu parameters)",
                       n);
    }
  opt->lr = o->lr;
  *out = opt;
  return GS_OK;
}

void
gs_nn_optim_free (gs_nn_optim *opt)
{
  if (!opt)
    return;
  free (opt->m);
  free (opt->v);
  free (opt);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)          \
    && !defined(__SANITIZE_ADDRESS__)
#define GS__NN_HOT                                                             \
  __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3",         \
                                 "default")))
#else
#define GS__NN_HOT
#endif

/* One Adam / AdamW update in float32 as PyTorch's (vectorised: the file is
 * built with -fno-math-errno): decay = 1 - lr wd for AdamW (1 for Adam),
 * l2 = wd for Adam's L2 penalty (0 for AdamW); step = lr / (1 - b1^t),
 * inv_sbc2 = 1 / sqrt(1 - b2^t). */
GS__NN_HOT static void
adam_update (float *restrict p, const float *restrict g, float *restrict m,
             float *restrict v, size_t n, float b1, float b2, float step,
             float inv_sbc2, float eps, float decay, float l2)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      float pi = p[i] * decay;
      float gi = g[i] + l2 * pi;
      float mi = b1 * m[i] + (1 - b1) * gi;
      float vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi - step * mi / (sqrtf (vi) * inv_sbc2 + eps);
    }
}

int
gs_nn_optim_step (gs_nn_optim *opt)
{
  const gs_nn_optim_opts *o;
  float *p, *g;
  size_t i, n;
  double lr, wd;
  if (!opt)
    return gs_error (GS_EINVAL, "gs_nn_optim_step: NULL optimiser");
  o = &opt->o;
  p = gs_nn_params (opt->nn, &n);
  g = gs_nn_grads (opt->nn, NULL);
  if (n != opt->n)
    return gs_error (GS_EINVAL,
                     "gs_nn_optim_step: the network has %zu "
                     "parameters, the optimiser %zu",
                     n, opt->n);
  opt->t++;
  lr = opt->lr;
  wd = o->weight_decay;
  if (o->kind == GS_NN_SGD)
    {
      for (i = 0; i < n; i++)
        {
          double gi = (double)g[i] + wd * p[i];
          if (o->momentum > 0)
            {
              /* PyTorch: the buffer starts as the first gradient. */
              gi = opt->t == 1 ? gi : o->momentum * opt->m[i] + gi;
              opt->m[i] = (float)gi;
            }
          p[i] = (float)(p[i] - lr * gi);
        }
      return GS_OK;
    }
  {
    double b1 = o->beta1, b2 = o->beta2;
    double bc1 = 1 - pow (b1, (double)opt->t);
    double bc2 = 1 - pow (b2, (double)opt->t);
    adam_update (p, g, opt->m, opt->v, n, (float)b1, (float)b2,
                 (float)(lr / bc1), (float)(1 / sqrt (bc2)), (float)o->eps,
                 o->kind == GS_NN_ADAMW ? (float)(1 - lr * wd) : 1.0f,
                 o->kind == GS_NN_ADAMW ? 0.0f : (float)wd);
  }
  return GS_OK;
}

void
gs_nn_optim_epoch (gs_nn_optim *opt)
{
  const gs_nn_optim_opts *o;
  if (!opt)
    return;
  o = &opt->o;
  opt->epoch++;
  switch (o->schedule)
    {
    case GS_NN_LR_CONSTANT:
      opt->lr = o->lr;
      break;
    case GS_NN_LR_STEP:
      opt->lr = o->lr * pow (o->gamma, (double)(opt->epoch / o->step_size));
      break;
    case GS_NN_LR_EXPONENTIAL:
      opt->lr = o->lr * pow (o->gamma, (double)opt->epoch);
      break;
    }
}

double
gs_nn_optim_lr (const gs_nn_optim *opt)
{
  return opt ? opt->lr : 0;
}

/* ---- Early stopping ----------------------------------------------------- */

void
gs_nn_early_stop_init (gs_nn_early_stop *e, int patience, double min_delta)
{
  if (!e)
    return;
  e->patience = patience;
  e->min_delta = min_delta;
  e->best = HUGE_VAL;
  e->best_epoch = -1;
  e->bad = 0;
  e->epoch = 0;
}

int
gs_nn_early_stop_update (gs_nn_early_stop *e, double val_loss, int *improved)
{
  int imp;
  if (improved)
    *improved = 0;
  if (!e)
    return 1;
  if (!isfinite (val_loss))
    {
      e->epoch++;
      e->bad++;
      return 1;
    }
  imp = val_loss < e->best - e->min_delta;
  if (imp)
    {
      e->best = val_loss;
      e->best_epoch = e->epoch;
      e->bad = 0;
    }
  else
    e->bad++;
  e->epoch++;
  if (improved)
    *improved = imp;
  return e->bad > 0 && e->bad >= e->patience;
}
