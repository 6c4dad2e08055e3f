/* ml.gammaflow: GAMMA_FLOW's supervised NMF (gamma_flow-spec.md D1).
 *
 * Training: the loading of component k is the mean of the training rows
 * in which k alone is present (its "pure" rows), divided by its integral
 * over the channels >= min_channel (channels below keep the same scale).
 * Scores of a spectrum y (raw counts) are the non-negative least-squares
 * coefficients of y on the loadings over the channels >= min_channel
 * (gs_nnls_gram on the precomputed G = L L^T), or the Poisson
 * maximum-likelihood ones (gs_nnpu); s_norm = s / sum |s| decides
 * presence (s_norm > min_score_norm).  The denoised spectrum is x_hat =
 * sum_k s_k L_k over all channels; its cosine (Pearson correlation) with
 * y, the explained variance and the Poisson deviance are the outlier
 * features.  The outlier thresholds are chosen in training by leaving
 * one class out at a time (D1 step 7), maximising (10 TNR + TPR) / 11.
 *
 * The library gives the component names (component 0 the background),
 * the channel count and the order; its signatures are not used: the
 * loadings replace them (the `signatures` callback exports them). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <gsl/gsl_cdf.h>

#include "gspec/metrics.h"
#include "gspec/nnls.h"
#include "gspec/plugin.h"
#include "gspec/poisson.h"

#define GF_ID "ml.gammaflow"
#define GF_FORMAT_VERSION 1
#define GF_COS_AUTO (-2.0)
#define GF_DEV_AUTO (-1.0)
/* Outlier-score weights of the threshold choice: gamma_flow balances 10
   known spectra per unknown one. */
#define GF_KNOWN_WEIGHT 10.0

typedef struct gf_params_t
{
  int min_channel;
  double min_score_norm;
  int fit;           /* GF_FIT_* */
  int outlier_score; /* GF_OUT_* */
  double cosine_threshold;
  double deviance_threshold;
} gf_params_t;

enum
{
  GF_FIT_NNLS = 0,
  GF_FIT_POISSON = 1
};

enum
{
  GF_OUT_COSINE = 0,
  GF_OUT_DEVIANCE = 1
};

/* Extras, in the order of gf_extras. */
enum
{
  X_COSINE,
  X_EV,
  X_DEVIANCE,
  X_DOF,
  X_P_VALUE,
  X_OS_COSINE,
  X_OS_DEVIANCE,
  X_OUTLIER,
  GF_N_EXTRAS
};

static const char *const gf_extras[] = { "cosine",
                                         "explained_variance",
                                         "deviance",
                                         "dof",
                                         "p_value",
                                         "outlier_score_cosine",
                                         "outlier_score_deviance",
                                         "outlier",
                                         NULL };

static const gs_param_spec gf_param_table[] = {
  { "min_channel", GS_PARAM_INT, offsetof (gf_params_t, min_channel), 7, 0,
    1000000, NULL,
    "channels below it are ignored by the fit (gamma_flow: not reliable); "
    "must be below the channel count" },
  { "min_score_norm", GS_PARAM_REAL, offsetof (gf_params_t, min_score_norm),
    0.1, 0, 1, NULL, "present when s_norm = s / sum |s| is strictly above it" },
  { "fit", GS_PARAM_ENUM, offsetof (gf_params_t, fit), GF_FIT_NNLS, 0, 0,
    "nnls|poisson",
    "nnls: gamma_flow's least-squares scores; poisson: Poisson maximum "
    "likelihood (NNPU) on the loadings" },
  { "outlier_score", GS_PARAM_ENUM, offsetof (gf_params_t, outlier_score),
    GF_OUT_COSINE, 0, 0, "cosine|deviance",
    "the score that sets the outlier extra: cosine (<= threshold; the "
    "default: leave-one-isotope-out AUC 0.975 against 0.937 on the "
    "measured gamma_flow data) or deviance per degree of freedom (>= "
    "threshold)" },
  { "cosine_threshold", GS_PARAM_REAL, offsetof (gf_params_t, cosine_threshold),
    GF_COS_AUTO, -2, 1, NULL,
    "outlier when cosine <= it; -2: chosen in training (leave one class "
    "out)" },
  { "deviance_threshold", GS_PARAM_REAL,
    offsetof (gf_params_t, deviance_threshold), GF_DEV_AUTO, -1, 1e12, NULL,
    "outlier when deviance / dof >= it; -1: chosen in training (leave one "
    "class out)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

typedef struct gf_state_t
{
  gf_params_t p;
  const gs_library_view *lib; /* host-owned */
  size_t C, K, m0;
  int trained;
  double *L;     /* K x C loadings, component-major */
  double *Lt;    /* C x K, the same channel-major (the NNPU design) */
  double *G;     /* K x K: sum over channels >= m0 of L_k L_l */
  double *total; /* K: sum over all channels of L_k */
  double *Q;     /* K (K + 1) / 2 rows of C - m0 values: L_a[i] L_b[i] for the
                    pair a >= b at row a (a + 1) / 2 + b, channels >= m0 (the
                    NNLS standard deviations' M = Q mu) */
  size_t *all;   /* 0..K-1 */
  double cos_thr, dev_thr; /* chosen in training or read from the model */
} gf_state_t;

/* A set of loadings to fit with: the columns cols[0..nc) and their
 * nc x nc Gram matrix. */
typedef struct gf_model
{
  size_t nc;
  const size_t *cols;
  const double *G;
} gf_model;

/* Outlier features of one fit. */
typedef struct gf_stats
{
  double cosine, ev, deviance, dof, p_value;
  size_t nnz;
} gf_stats;

/* Per-thread scratch, laid out in the host's workspace block. */
typedef struct gf_ws
{
  double *c, *s, *xhat, *M, *H, *T;
  size_t *P;
  void *nnls;
  size_t nnls_bytes;
  gs_poisson_ws *pws;
} gf_ws;

static size_t
gf_round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

static size_t
gf_ws_bytes (const gf_state_t *s)
{
  size_t K = s->K, C = s->C, b;
  b = 64 + 2 * gf_round64 (K * sizeof (double))
      + gf_round64 (C * sizeof (double))
      + 3 * gf_round64 (K * K * sizeof (double))
      + gf_round64 (K * sizeof (size_t))
      + gf_round64 (gs_nnls_gram_work_bytes (K));
  if (s->p.fit == GF_FIT_POISSON)
    b += gf_round64 (gs_poisson_ws_bytes (C - s->m0, K));
  return b;
}

static void
gf_ws_place (const gf_state_t *s, void *mem, gf_ws *w)
{
  size_t K = s->K, C = s->C;
  char *p = (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
  w->c = (double *)p;
  p += gf_round64 (K * sizeof (double));
  w->s = (double *)p;
  p += gf_round64 (K * sizeof (double));
  w->xhat = (double *)p;
  p += gf_round64 (C * sizeof (double));
  w->M = (double *)p;
  p += gf_round64 (K * K * sizeof (double));
  w->H = (double *)p;
  p += gf_round64 (K * K * sizeof (double));
  w->T = (double *)p;
  p += gf_round64 (K * K * sizeof (double));
  w->P = (size_t *)p;
  p += gf_round64 (K * sizeof (size_t));
  w->nnls = p;
  w->nnls_bytes = gs_nnls_gram_work_bytes (K);
  p += gf_round64 (w->nnls_bytes);
  w->pws = s->p.fit == GF_FIT_POISSON ? gs_poisson_ws_place (p, C - s->m0, K)
                                      : NULL;
}

/* Scores sc[0..nc) of y on the model's columns, channels >= m0. */
static int
gf_fit (const gf_state_t *s, const gf_model *m, gf_ws *w, const double *y,
        double *sc)
{
  size_t q, C = s->C, m0 = s->m0;
  int rc;
  if (s->p.fit == GF_FIT_NNLS)
    {
      for (q = 0; q < m->nc; q++)
        w->c[q] = cblas_ddot ((int)(C - m0), s->L + m->cols[q] * C + m0, 1,
                              y + m0, 1);
      rc = gs_nnls_gram (m->G, m->nc, w->c, NAN, NULL, w->nnls, w->nnls_bytes,
                         sc, NULL);
    }
  else
    {
      gs_nnpu_opts o;
      gs_nnpu_opts_init (&o);
      /* Started from the least-squares scores (a few Newton steps from
       * the optimum instead of a cold start; the same optimum). */
      for (q = 0; q < m->nc; q++)
        w->c[q] = cblas_ddot ((int)(C - m0), s->L + m->cols[q] * C + m0, 1,
                              y + m0, 1);
      rc = gs_nnls_gram (m->G, m->nc, w->c, NAN, NULL, w->nnls, w->nnls_bytes,
                         sc, NULL);
      if (rc != GS_OK && rc != GS_EMAXITER)
        return rc;
      o.warm_start = 1;
      o.init_new = 1;
      rc = gs_nnpu (w->pws, s->Lt + m0 * s->K, s->K, C - m0, m->cols, m->nc,
                    y + m0, &o, sc, NULL);
    }
  /* A fit that hit its iteration cap keeps its last feasible point. */
  return rc == GS_EMAXITER ? GS_OK : rc;
}

/* x_hat = sum_q sc[q] L_cols[q] over all channels, and the outlier
 * features of y against it. */
static void
gf_features (const gf_state_t *s, const gf_model *m, const double *sc,
             const double *y, double *xh, gf_stats *st)
{
  size_t C = s->C, m0 = s->m0, i, q, nnz = 0;
  double sy = 0, sx = 0, my, mx, syy = 0, sxx = 0, sxy = 0, srr = 0, dev = 0;
  memset (xh, 0, C * sizeof (double));
  for (q = 0; q < m->nc; q++)
    if (sc[q] > 0)
      {
        const double *l = s->L + m->cols[q] * C;
        double a = sc[q];
        nnz++;
        for (i = 0; i < C; i++)
          xh[i] += a * l[i];
      }
  for (i = 0; i < C; i++)
    {
      sy += y[i];
      sx += xh[i];
    }
  my = sy / (double)C;
  mx = sx / (double)C;
  for (i = 0; i < C; i++)
    {
      double dy = y[i] - my, dx = xh[i] - mx, d = dy - dx;
      syy += dy * dy;
      sxx += dx * dx;
      sxy += dy * dx;
      srr += d * d;
    }
  st->cosine = syy > 0 && sxx > 0 ? sxy / sqrt (syy * sxx) : NAN;
  /* sklearn's explained_variance_score (force_finite): 1 - Var (y -
     x_hat) / Var (y); a constant y gives 1 for a perfect fit, else 0. */
  st->ev = syy > 0 ? 1 - srr / syy : (srr == 0 ? 1 : 0);
  for (i = m0; i < C; i++)
    {
      double yi = y[i], mu = xh[i];
      if (yi > 0)
        {
          if (!(mu > 0))
            {
              dev = HUGE_VAL;
              break;
            }
          dev += yi * log (yi / mu) - (yi - mu);
        }
      else
        dev += mu;
    }
  dev = 2 * dev;
  st->deviance = dev > 0 ? dev : 0; /* rounding of a perfect fit */
  st->nnz = nnz;
  st->dof = (double)(C - m0) - (double)nnz; /* >= 1: checked in alloc */
  st->p_value
      = isinf (st->deviance) ? 0 : gsl_cdf_chisq_Q (st->deviance, st->dof);
}

/* The two outlier scores (higher = more outlying), made finite for the
 * threshold choice: a NaN cosine counts as -1, an infinite deviance as
 * DBL_MAX. */
static double
gf_score_cosine (const gf_stats *st)
{
  return isnan (st->cosine) ? 2 : 1 - st->cosine;
}

static double
gf_score_deviance (const gf_stats *st)
{
  double v = st->deviance / st->dof;
  return isfinite (v) ? v : DBL_MAX;
}

static double
gf_cos_threshold (const gf_state_t *s)
{
  return s->p.cosine_threshold == GF_COS_AUTO ? s->cos_thr
                                              : s->p.cosine_threshold;
}

static double
gf_dev_threshold (const gf_state_t *s)
{
  return s->p.deviance_threshold == GF_DEV_AUTO ? s->dev_thr
                                                : s->p.deviance_threshold;
}

/* ---------------------------------------------------------------------- */

static void
gf_free (void *vstate)
{
  gf_state_t *s = (gf_state_t *)vstate;
  gs_host->free (s->L);
  gs_host->free (s->Lt);
  gs_host->free (s->G);
  gs_host->free (s->total);
  gs_host->free (s->Q);
  gs_host->free (s->all);
  s->L = s->Lt = s->G = s->total = s->Q = NULL;
  s->all = NULL;
  s->trained = 0;
}

static int
gf_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  gf_state_t *s = (gf_state_t *)vstate;
  size_t k;
  memcpy (&s->p, params, sizeof s->p);
  s->lib = setup->library;
  s->C = s->lib->n_channels;
  s->K = s->lib->n_components;
  s->m0 = (size_t)s->p.min_channel;
  if (s->m0 >= s->C || s->C - s->m0 <= s->K)
    return gs_host->error (GS_EINVAL,
                           "min_channel = %d leaves %zu of the library's %zu "
                           "channels for %zu components; the fit needs more "
                           "channels than components: lower min_channel",
                           s->p.min_channel,
                           s->m0 < s->C ? s->C - s->m0 : (size_t)0, s->C, s->K);
  s->L = gs_host->alloc (s->K * s->C * sizeof (double));
  s->Lt = gs_host->alloc (s->K * s->C * sizeof (double));
  s->G = gs_host->alloc (s->K * s->K * sizeof (double));
  s->total = gs_host->alloc (s->K * sizeof (double));
  s->Q = gs_host->alloc (s->K * (s->K + 1) / 2 * (s->C - s->m0)
                         * sizeof (double));
  s->all = gs_host->alloc (s->K * sizeof (size_t));
  if (!s->L || !s->Lt || !s->G || !s->total || !s->Q || !s->all)
    {
      gf_free (s);
      return gs_host->error (GS_ENOMEM, "out of memory for %zu x %zu loadings",
                             s->K, s->C);
    }
  for (k = 0; k < s->K; k++)
    s->all[k] = k;
  return GS_OK;
}

/* Fills Lt, G and total from L. */
static void
gf_derive (gf_state_t *s)
{
  size_t K = s->K, C = s->C, m0 = s->m0, i, k, l;
  for (k = 0; k < K; k++)
    {
      double t = 0;
      for (i = 0; i < C; i++)
        {
          s->Lt[i * K + k] = s->L[k * C + i];
          t += s->L[k * C + i];
        }
      s->total[k] = t;
      for (l = 0; l <= k; l++)
        {
          double g = cblas_ddot ((int)(C - m0), s->L + k * C + m0, 1,
                                 s->L + l * C + m0, 1);
          double *q = s->Q + (k * (k + 1) / 2 + l) * (C - m0);
          s->G[k * K + l] = g;
          s->G[l * K + k] = g;
          for (i = m0; i < C; i++)
            q[i - m0] = s->L[k * C + i] * s->L[l * C + i];
        }
    }
}

/* The cut on pooled scores v[0..n) (higher = outlier; unk[i] marks the
 * unknown-class rows) that maximises (10 TNR + TPR) / 11 among the
 * midpoints between consecutive distinct values; ties keep the lowest
 * cut.  Returns 0 when there is no midpoint (all values equal). */
typedef struct gf_pair
{
  double v;
  size_t i;
  int unk;
} gf_pair;

static int
gf_pair_cmp (const void *a, const void *b)
{
  const gf_pair *x = (const gf_pair *)a, *y = (const gf_pair *)b;
  if (x->v != y->v)
    return x->v < y->v ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static int
gf_best_cut (gf_pair *pr, size_t n, double *cut, double *tpr, double *fpr)
{
  size_t i, n_unk = 0, n_known, unk_below = 0, known_below = 0;
  double best = -1;
  int found = 0;
  qsort (pr, n, sizeof *pr, gf_pair_cmp);
  for (i = 0; i < n; i++)
    n_unk += pr[i].unk != 0;
  n_known = n - n_unk;
  for (i = 0; i + 1 < n; i++)
    {
      double t, f, acc;
      if (pr[i].unk)
        unk_below++;
      else
        known_below++;
      if (!(pr[i + 1].v > pr[i].v))
        continue;
      t = n_unk ? (double)(n_unk - unk_below) / (double)n_unk : 0;
      f = n_known ? (double)(n_known - known_below) / (double)n_known : 0;
      acc = (GF_KNOWN_WEIGHT * (1 - f) + t) / (GF_KNOWN_WEIGHT + 1);
      if (acc > best)
        {
          best = acc;
          *cut = pr[i].v + 0.5 * (pr[i + 1].v - pr[i].v);
          *tpr = t;
          *fpr = f;
          found = 1;
        }
    }
  return found;
}

/* Leave one class out (D1 step 7): for every non-background class j,
 * the model without j analyses every pure row; rows of class j are the
 * unknowns.  Sets cos_thr and dev_thr and logs AUCs and rates. */
static int
gf_loo (gf_state_t *s, const gs_dataset *ds, const int *cls, size_t n_pure)
{
  size_t K = s->K, C = s->C, J = K - 1, nc = K - 1, i, j, q, r, n_pool, at = 0;
  size_t *cols = NULL;
  double *Gj = NULL, *y = NULL, *sc = NULL;
  double *vc = NULL, *vd = NULL;
  int *unk = NULL, rc = GS_OK;
  void *wsmem = NULL;
  gf_pair *pr = NULL;
  gf_ws w;
  if (K < 2)
    {
      s->cos_thr = -1;
      s->dev_thr = DBL_MAX;
      gs_host->log (GS_LOG_WARN, GF_ID,
                    "one component only: no class to leave out, no outlier "
                    "threshold chosen (nothing is flagged unless fixed by "
                    "parameters)");
      return GS_OK;
    }
  n_pool = J * n_pure;
  cols = gs_host->alloc (J * nc * sizeof (size_t));
  Gj = gs_host->alloc (J * nc * nc * sizeof (double));
  y = gs_host->alloc (C * sizeof (double));
  sc = gs_host->alloc (K * sizeof (double));
  vc = gs_host->alloc (n_pool * sizeof (double));
  vd = gs_host->alloc (n_pool * sizeof (double));
  unk = gs_host->alloc (n_pool * sizeof (int));
  pr = gs_host->alloc (n_pool * sizeof (gf_pair));
  wsmem = gs_host->alloc (gf_ws_bytes (s));
  if (!cols || !Gj || !y || !sc || !vc || !vd || !unk || !pr || !wsmem)
    {
      rc = gs_host->error (GS_ENOMEM,
                           "out of memory for the leave-one-out pool (%zu "
                           "fits)",
                           n_pool);
      goto done;
    }
  gf_ws_place (s, wsmem, &w);
  for (j = 0; j < J; j++)
    {
      size_t *cj = cols + j * nc;
      for (q = 0, r = 0; q < K; q++)
        if (q != j + 1)
          cj[r++] = q;
      for (q = 0; q < nc; q++)
        for (r = 0; r < nc; r++)
          Gj[j * nc * nc + q * nc + r] = s->G[cj[q] * K + cj[r]];
    }
  for (i = 0; i < ds->n_spectra; i++)
    {
      if (cls[i] < 0)
        continue;
      if ((rc = ds->spectrum (ds->ctx, i, y)) != GS_OK)
        goto done;
      for (j = 0; j < J; j++)
        {
          gf_model m = { nc, cols + j * nc, Gj + j * nc * nc };
          gf_stats st;
          rc = gf_fit (s, &m, &w, y, sc);
          /* A Poisson fit without support for some counted channel: the
             reduced model cannot explain the spectrum at all. */
          if (rc == GS_EBADDATA && s->p.fit == GF_FIT_POISSON)
            {
              memset (sc, 0, nc * sizeof (double));
              rc = GS_OK;
            }
          if (rc != GS_OK)
            goto done;
          gf_features (s, &m, sc, y, w.xhat, &st);
          vc[at] = gf_score_cosine (&st);
          vd[at] = gf_score_deviance (&st);
          unk[at] = cls[i] == (int)(j + 1);
          at++;
        }
      if (at % 4096 < J)
        gs_host->progress (GF_ID, "leave one class out", at, n_pool);
    }
  gs_host->progress (GF_ID, "leave one class out", n_pool, n_pool);
  {
    const double *vals[2] = { vc, vd };
    static const char *const what[2] = { "cosine", "deviance/dof" };
    int which;
    for (which = 0; which < 2; which++)
      {
        gs_auc auc;
        double cut = 0, tpr = 0, fpr = 0, thr;
        int arc = gs_metrics_auc (n_pool, vals[which], unk, 0.95, &auc);
        for (i = 0; i < n_pool; i++)
          {
            pr[i].v = vals[which][i];
            pr[i].i = i;
            pr[i].unk = unk[i];
          }
        if (!gf_best_cut (pr, n_pool, &cut, &tpr, &fpr))
          {
            cut = DBL_MAX;
            tpr = fpr = 0;
          }
        thr = which == 0 ? (cut == DBL_MAX ? -1 : 1 - cut) : cut;
        if (which == 0)
          s->cos_thr = thr;
        else
          s->dev_thr = thr;
        gs_host->log (GS_LOG_INFO, GF_ID,
                      "leave one class out, %s: ROC AUC %.4f [%.4f, %.4f] "
                      "(%zu unknown, %zu known fits); threshold %.6g (%s), "
                      "TPR %.4f, FPR %.4f at the 10:1 weighted optimum",
                      what[which], arc == GS_OK ? auc.auc : NAN,
                      arc == GS_OK ? auc.lo : NAN, arc == GS_OK ? auc.hi : NAN,
                      arc == GS_OK ? auc.n_pos : (size_t)0,
                      arc == GS_OK ? auc.n_neg : (size_t)0, thr,
                      which == 0 ? "outlier when cosine <= it"
                                 : "outlier when deviance/dof >= it",
                      tpr, fpr);
      }
  }
done:
  gs_host->free (cols);
  gs_host->free (Gj);
  gs_host->free (y);
  gs_host->free (sc);
  gs_host->free (vc);
  gs_host->free (vd);
  gs_host->free (unk);
  gs_host->free (pr);
  gs_host->free (wsmem);
  return rc;
}

static int
gf_train (void *vstate, const gs_dataset *ds, const gs_dataset *valid)
{
  gf_state_t *s = (gf_state_t *)vstate;
  size_t K = s->K, C = s->C, m0 = s->m0, i, k, n_pure = 0, n_multi = 0;
  size_t n_none = 0, n_fallback = 0, *count = NULL;
  double *sum = NULL, *y = NULL, *t = NULL;
  int *cls = NULL, rc = GS_OK;
  (void)valid; /* no tuning on a validation set */
  s->trained = 0;
  if (!ds || !ds->spectrum || !ds->truth || ds->n_spectra == 0)
    return gs_host->error (GS_EINVAL,
                           "no training set (or an empty one): ml.gammaflow "
                           "learns its loadings from labelled spectra");
  if (ds->n_channels != C || ds->n_components != K)
    return gs_host->error (GS_EBADLEN,
                           "training set has %zu channels and %zu components; "
                           "the library has %zu and %zu",
                           ds->n_channels, ds->n_components, C, K);
  if (ds->component_names && s->lib->names)
    for (k = 0; k < K; k++)
      if (ds->component_names[k] && s->lib->names[k]
          && strcmp (ds->component_names[k], s->lib->names[k]) != 0)
        return gs_host->error (GS_EINVAL,
                               "training set component %zu is '%s' but the "
                               "library's is '%s'; use the same components "
                               "in the same order",
                               k, ds->component_names[k], s->lib->names[k]);
  sum = gs_host->alloc (K * C * sizeof (double));
  count = gs_host->alloc (K * sizeof (size_t));
  y = gs_host->alloc (C * sizeof (double));
  t = gs_host->alloc (K * sizeof (double));
  cls = gs_host->alloc (ds->n_spectra * sizeof (int));
  if (!sum || !count || !y || !t || !cls)
    {
      rc = gs_host->error (GS_ENOMEM, "out of memory for %zu training rows",
                           ds->n_spectra);
      goto done;
    }
  memset (sum, 0, K * C * sizeof (double));
  memset (count, 0, K * sizeof (size_t));
  /* Pure rows: exactly one component present. */
  for (i = 0; i < ds->n_spectra; i++)
    {
      size_t n_present = 0, which = 0;
      if ((rc = ds->truth (ds->ctx, i, t)) != GS_OK)
        goto done;
      for (k = 0; k < K; k++)
        if (t[k] > 0)
          {
            n_present++;
            which = k;
          }
      cls[i] = n_present == 1 ? (int)which : -1;
      if (n_present == 1)
        n_pure++;
      else if (n_present == 0)
        n_none++;
      else
        n_multi++;
    }
  /* A class without a pure row (synthetic sets put background in every
     spectrum) takes the rows where it is the only component besides the
     background, with a warning: its loading then includes background. */
  for (i = 0; i < ds->n_spectra; i++)
    if (cls[i] >= 0)
      count[cls[i]]++;
  for (k = 1; k < K; k++)
    if (count[k] == 0)
      {
        size_t used = 0;
        for (i = 0; i < ds->n_spectra; i++)
          {
            size_t l, n_other = 0;
            if (cls[i] >= 0)
              continue;
            if ((rc = ds->truth (ds->ctx, i, t)) != GS_OK)
              goto done;
            if (!(t[k] > 0) || !(t[0] > 0))
              continue;
            for (l = 1; l < K; l++)
              n_other += l != k && t[l] > 0;
            if (n_other == 0)
              {
                cls[i] = (int)k;
                used++;
              }
          }
        if (used)
          {
            gs_host->log (GS_LOG_WARN, GF_ID,
                          "no training spectrum labelled only '%s': its "
                          "loading is the mean of %zu spectra of '%s' + "
                          "background (it includes background)",
                          s->lib->names[k], used, s->lib->names[k]);
            count[k] = used;
            n_fallback += used;
            n_pure += used;
            n_multi -= used;
          }
      }
  for (k = 0; k < K; k++)
    if (count[k] == 0)
      {
        rc = gs_host->error (GS_EINVAL,
                             "no training spectrum labelled only '%s' (nor "
                             "'%s' + background); ml.gammaflow needs pure "
                             "spectra of every library component: add them "
                             "to the training set or remove '%s' from the "
                             "library",
                             s->lib->names[k], s->lib->names[k],
                             s->lib->names[k]);
        goto done;
      }
  for (i = 0; i < ds->n_spectra; i++)
    {
      double *sk;
      size_t c;
      if (cls[i] < 0)
        continue;
      if ((rc = ds->spectrum (ds->ctx, i, y)) != GS_OK)
        goto done;
      sk = sum + (size_t)cls[i] * C;
      for (c = 0; c < C; c++)
        {
          if (!(y[c] >= 0) || !isfinite (y[c]))
            {
              rc = gs_host->error (GS_EBADDATA,
                                   "training spectrum %zu has %g in channel "
                                   "%zu; counts must be finite and >= 0",
                                   i, y[c], c);
              goto done;
            }
          sk[c] += y[c];
        }
      if (i % 4096 == 0)
        gs_host->progress (GF_ID, "loadings", i, ds->n_spectra);
    }
  for (k = 0; k < K; k++)
    {
      double integ = 0;
      size_t c;
      for (c = 0; c < C; c++)
        sum[k * C + c] /= (double)count[k];
      for (c = m0; c < C; c++)
        integ += fabs (sum[k * C + c]);
      if (!(integ > 0) || !isfinite (integ))
        {
          rc = gs_host->error (GS_EBADDATA,
                               "the mean training spectrum of '%s' (%zu "
                               "spectra) has integral %g above min_channel "
                               "= %zu; it needs counts there",
                               s->lib->names[k], count[k], integ, m0);
          goto done;
        }
      for (c = 0; c < C; c++)
        s->L[k * C + c] = sum[k * C + c] / integ;
    }
  gf_derive (s);
  for (k = 0; k < K; k++)
    gs_host->log (GS_LOG_INFO, GF_ID, "class '%s': %zu training spectra",
                  s->lib->names[k], count[k]);
  gs_host->log (GS_LOG_INFO, GF_ID,
                "%zu of %zu training spectra used (%zu of them '+ "
                "background' rows); skipped %zu with several components and "
                "%zu with none of the library's",
                n_pure, ds->n_spectra, n_fallback, n_multi, n_none);
  rc = gf_loo (s, ds, cls, n_pure);
  if (rc == GS_OK)
    s->trained = 1;
done:
  gs_host->free (sum);
  gs_host->free (count);
  gs_host->free (y);
  gs_host->free (t);
  gs_host->free (cls);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Model payload: text, one token per field, numbers in %.17g (exact
 * round trip):
 *   gammaflow-model 1
 *   channels C components K min_channel M
 *   cosine_threshold T deviance_threshold D
 *   loadings  (K lines of C values)
 *   end                                                                  */

static int
gf_save (const void *vstate, FILE *out)
{
  const gf_state_t *s = (const gf_state_t *)vstate;
  size_t k, i;
  if (!s->trained)
    return gs_host->error (GS_EINVAL,
                           "nothing to save: ml.gammaflow is not trained");
  if (fprintf (out,
               "gammaflow-model %d\nchannels %zu\ncomponents %zu\n"
               "min_channel %zu\ncosine_threshold %.17g\n"
               "deviance_threshold %.17g\nloadings\n",
               GF_FORMAT_VERSION, s->C, s->K, s->m0, s->cos_thr, s->dev_thr)
      < 0)
    return gs_host->error (GS_EIO, "cannot write the model payload");
  for (k = 0; k < s->K; k++)
    {
      for (i = 0; i < s->C; i++)
        if (fprintf (out, i ? " %.17g" : "%.17g", s->L[k * s->C + i]) < 0)
          return gs_host->error (GS_EIO, "cannot write the model payload");
      if (fputc ('\n', out) == EOF)
        return gs_host->error (GS_EIO, "cannot write the model payload");
    }
  if (fprintf (out, "end\n") < 0)
    return gs_host->error (GS_EIO, "cannot write the model payload");
  return GS_OK;
}

/* Reads one whitespace-delimited token (at most size - 1 bytes); 0 at end
 * of file or when the token is too long. */
static int
gf_token (FILE *in, char *buf, size_t size)
{
  size_t n = 0;
  int ch;
  do
    ch = fgetc (in);
  while (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r');
  while (ch != EOF && ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r')
    {
      if (n + 1 >= size)
        return 0;
      buf[n++] = (char)ch;
      ch = fgetc (in);
    }
  buf[n] = '\0';
  return n > 0;
}

static int
gf_expect (FILE *in, const char *word)
{
  char buf[64];
  if (!gf_token (in, buf, sizeof buf))
    return gs_host->error (
        GS_EFORMAT, "model payload ends before '%s' (truncated file?)", word);
  if (strcmp (buf, word) != 0)
    return gs_host->error (GS_EFORMAT,
                           "model payload has '%s' where '%s' was expected",
                           buf, word);
  return GS_OK;
}

static int
gf_number (FILE *in, const char *what, double *v)
{
  char buf[64], *end;
  if (!gf_token (in, buf, sizeof buf))
    return gs_host->error (
        GS_EFORMAT, "model payload ends before %s (truncated file?)", what);
  *v = strtod (buf, &end);
  if (end == buf || *end != '\0' || !isfinite (*v))
    return gs_host->error (GS_EFORMAT,
                           "model payload has '%s' for %s; a finite number "
                           "was expected",
                           buf, what);
  return GS_OK;
}

static int
gf_count (FILE *in, const char *key, size_t want)
{
  double v;
  int rc = gf_expect (in, key);
  if (rc == GS_OK)
    rc = gf_number (in, key, &v);
  if (rc != GS_OK)
    return rc;
  if (v != (double)want)
    return gs_host->error (GS_EFORMAT,
                           "the model has %s %g; this library and these "
                           "parameters give %zu",
                           key, v, want);
  return GS_OK;
}

static int
gf_load (void *vstate, FILE *in)
{
  gf_state_t *s = (gf_state_t *)vstate;
  size_t K = s->K, C = s->C, k, i;
  double v, cos_thr, dev_thr;
  char what[96];
  int rc;
  s->trained = 0;
  if ((rc = gf_expect (in, "gammaflow-model")) != GS_OK
      || (rc = gf_number (in, "the format version", &v)) != GS_OK)
    return rc;
  if (v != GF_FORMAT_VERSION)
    return gs_host->error (GS_EFORMAT,
                           "model payload version %g; this plugin reads "
                           "version %d",
                           v, GF_FORMAT_VERSION);
  if ((rc = gf_count (in, "channels", C)) != GS_OK
      || (rc = gf_count (in, "components", K)) != GS_OK
      || (rc = gf_count (in, "min_channel", s->m0)) != GS_OK
      || (rc = gf_expect (in, "cosine_threshold")) != GS_OK
      || (rc = gf_number (in, "cosine_threshold", &cos_thr)) != GS_OK
      || (rc = gf_expect (in, "deviance_threshold")) != GS_OK
      || (rc = gf_number (in, "deviance_threshold", &dev_thr)) != GS_OK
      || (rc = gf_expect (in, "loadings")) != GS_OK)
    return rc;
  for (k = 0; k < K; k++)
    {
      double integ = 0;
      for (i = 0; i < C; i++)
        {
          snprintf (what, sizeof what, "loading '%s', channel %zu",
                    s->lib->names[k], i);
          if ((rc = gf_number (in, what, &v)) != GS_OK)
            return rc;
          if (v < 0)
            return gs_host->error (GS_EFORMAT,
                                   "model payload has %g for %s; loadings "
                                   "are >= 0",
                                   v, what);
          s->L[k * C + i] = v;
          if (i >= s->m0)
            integ += v;
        }
      if (!(fabs (integ - 1) <= 1e-9))
        return gs_host->error (GS_EFORMAT,
                               "the model's loading '%s' integrates to %.17g "
                               "above min_channel, not 1: corrupt model",
                               s->lib->names[k], integ);
    }
  if ((rc = gf_expect (in, "end")) != GS_OK)
    return rc;
  s->cos_thr = cos_thr;
  s->dev_thr = dev_thr;
  gf_derive (s);
  s->trained = 1;
  return GS_OK;
}

/* ---------------------------------------------------------------------- */

static size_t
gf_workspace_size (const void *vstate)
{
  return gf_ws_bytes ((const gf_state_t *)vstate);
}

static int
gf_signatures (const void *vstate, double *out)
{
  const gf_state_t *s = (const gf_state_t *)vstate;
  size_t k, i;
  if (!s->trained)
    return gs_host->error (GS_EINVAL,
                           "ml.gammaflow is not trained: no loadings to "
                           "export (train it or load a model)");
  for (i = 0; i < s->C; i++)
    for (k = 0; k < s->K; k++)
      out[i * s->K + k] = s->L[k * s->C + i] / s->total[k];
  return GS_OK;
}

/* LAPACK (OpenBLAS), Fortran calling convention. */
void dpotrf_ (const char *uplo, const int *n, double *a, const int *lda,
              int *info);
void dpotri_ (const char *uplo, const int *n, double *a, const int *lda,
              int *info);

/* Standard deviations of the least-squares scores under Poisson noise at
 * the fitted mean, given the passive set P: Var s_P = H^-1 M H^-1 with
 * H = G_PP and M = sum_{i >= m0} mu_i L_P[i] L_P[i]^T (the sandwich of a
 * linear estimator; LAPACK's Cholesky inverse, BLAS products).  std = 0 off
 * the passive set; NaN when H is not positive definite. */
static void
gf_nnls_std (const gf_state_t *s, gf_ws *w, const double *sc, double *std)
{
  size_t K = s->K, C = s->C, m0 = s->m0, np = 0, a, b;
  size_t *P = w->P;
  int n_int, info = 0;
  for (a = 0; a < K; a++)
    {
      std[a] = 0;
      if (sc[a] > 0)
        P[np++] = a;
    }
  if (np == 0)
    return;
  for (a = 0; a < np; a++)
    for (b = 0; b <= a; b++) /* P[a] >= P[b] */
      {
        double m = cblas_ddot ((int)(C - m0),
                               s->Q + (P[a] * (P[a] + 1) / 2 + P[b]) * (C - m0),
                               1, w->xhat + m0, 1);
        w->H[a * np + b] = w->H[b * np + a] = s->G[P[a] * K + P[b]];
        w->M[a * np + b] = w->M[b * np + a] = m;
      }
  n_int = (int)np;
  dpotrf_ ("L", &n_int, w->H, &n_int, &info);
  if (info == 0)
    dpotri_ ("L", &n_int, w->H, &n_int, &info);
  if (info != 0)
    {
      for (a = 0; a < np; a++)
        std[P[a]] = NAN;
      return;
    }
  /* dpotri left H^-1 in one triangle (row-major upper): mirror it. */
  for (a = 0; a < np; a++)
    for (b = a + 1; b < np; b++)
      w->H[b * np + a] = w->H[a * np + b];
  /* T = M H^-1; Var_aa = (H^-1 T)_aa. */
  cblas_dsymm (CblasRowMajor, CblasLeft, CblasLower, (int)np, (int)np, 1.0,
               w->M, (int)np, w->H, (int)np, 0.0, w->T, (int)np);
  for (a = 0; a < np; a++)
    {
      double v = cblas_ddot ((int)np, w->H + a * np, 1, w->T + a, (int)np);
      std[P[a]] = sqrt (v > 0 ? v : 0);
    }
}

static int
gf_analyze (const void *vstate, void *work, const double *y, size_t n_channels,
            gs_result *res)
{
  const gf_state_t *s = (const gf_state_t *)vstate;
  size_t K = s->K, k;
  gf_model full;
  gf_stats st;
  gf_ws w;
  double sum = 0;
  int rc, outlier;
  if (!s->trained)
    return gs_host->error (GS_EINVAL,
                           "ml.gammaflow is not trained: train it (gspec "
                           "train / run with a train set) or load a model");
  if (n_channels != s->C)
    return gs_host->error (GS_EBADLEN,
                           "spectrum has %zu channels; the loadings have %zu",
                           n_channels, s->C);
  gf_ws_place (s, work, &w);
  full.nc = K;
  full.cols = s->all;
  full.G = s->G;
  if ((rc = gf_fit (s, &full, &w, y, w.s)) != GS_OK)
    return rc;
  for (k = 0; k < K; k++)
    sum += fabs (w.s[k]);
  gf_features (s, &full, w.s, y, w.xhat, &st);
  for (k = 0; k < K; k++)
    {
      double sn = sum > 0 ? w.s[k] / sum : 0;
      res->score[k] = sn;
      res->present[k] = sn > s->p.min_score_norm;
      res->counts[k] = w.s[k] * s->total[k];
    }
  if (s->p.fit == GF_FIT_NNLS)
    gf_nnls_std (s, &w, w.s, res->std);
  else
    {
      rc = gs_poisson_fisher_std (w.pws, s->Lt + s->m0 * K, K, s->C - s->m0,
                                  NULL, K, w.s, res->std);
      if (rc != GS_OK)
        for (k = 0; k < K; k++)
          res->std[k] = NAN;
    }
  for (k = 0; k < K; k++)
    res->std[k] *= s->total[k];
  res->extras[X_COSINE] = st.cosine;
  res->extras[X_EV] = st.ev;
  res->extras[X_DEVIANCE] = st.deviance;
  res->extras[X_DOF] = st.dof;
  res->extras[X_P_VALUE] = st.p_value;
  res->extras[X_OS_COSINE] = 1 - st.cosine;
  res->extras[X_OS_DEVIANCE] = st.deviance / st.dof;
  if (!(sum > 0))
    outlier = 1;
  else if (s->p.outlier_score == GF_OUT_COSINE)
    outlier = isnan (st.cosine) || st.cosine <= gf_cos_threshold (s);
  else
    outlier = st.deviance / st.dof >= gf_dev_threshold (s);
  res->extras[X_OUTLIER] = outlier;
  return GS_OK;
}

static const gs_method_type gf_type = {
  .struct_size = sizeof (gs_method_type),
  .id = GF_ID,
  .summary = "GAMMA_FLOW supervised NMF: class-mean loadings, NNLS scores, "
             "denoising and outlier scores",
  .kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = gf_param_table,
  .params_size = sizeof (gf_params_t),
  .state_size = sizeof (gf_state_t),
  .extras = gf_extras,
  .alloc = gf_alloc,
  .free = gf_free,
  .train = gf_train,
  .save = gf_save,
  .load = gf_load,
  .workspace_size = gf_workspace_size,
  .analyze = gf_analyze,
  .signatures = gf_signatures,
};

GS_PLUGIN_DEFINE ("ml-gammaflow", "1.0.0", "MIT", &gf_type)
