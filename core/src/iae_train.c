/* Training of the IAE (gspec/iae_train.h, gammabench-spec.md 5.3).
 *
 * The networks are the model's own (gs_iae_encoder, gs_iae_decoder); a
 * clone of the encoder encodes the anchors so that the data's and the
 * anchors' activations live side by side for the two backward passes.
 * Everything between the networks (Gram matrices, least-squares
 * weights, simplex projection, barycentres, losses) is computed here in
 * double, forward and backward, single-threaded in a fixed order. */
#include "gspec/iae_train.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/status.h"
#include "util.h"

#define ANCH GS_IAE_MAX_ANCHORS
#define LEV GS_IAE_MAX_LAYERS
/* A mean squared error below this counts as this in log (the log of an
 * exact zero would end training). */
#define MSE_FLOOR 1e-300

/* The authors' default rho_latcon: the loss weight of the shallowest
 * level when the model's rho (N - 1 values) does not give it. */
static const double authors_rho[LEV]
    = { 0.5, 0.1, 0.05, 0.01, 0.01, 0.005, 0.001, 0.001 };

void
gs_iae_train_opts_init (gs_iae_train_opts *o)
{
  if (!o)
    return;
  memset (o, 0, sizeof *o);
  o->epochs = 25000;
  o->batch_size = 72;
  o->accumulate = 1;
  o->lr = 1e-3;
  o->noise = 1;
  o->snr_db = 40;
  o->mu = 1e-3;
  o->seed = 1;
  o->threads = 1;
  o->report_every = 1;
  o->fit_bounds = 1;
}

static int
check_opts (const gs_iae_train_opts *o)
{
  if (o->epochs < 1)
    return gs_error (GS_EINVAL, "IAE training: epochs %d must be >= 1",
                     o->epochs);
  if (o->batch_size < 1)
    return gs_error (GS_EINVAL, "IAE training: batch_size %d must be >= 1",
                     o->batch_size);
  if (o->accumulate < 1)
    return gs_error (GS_EINVAL, "IAE training: accumulate %d must be >= 1",
                     o->accumulate);
  if (!(o->lr > 0 && o->lr <= 1))
    return gs_error (GS_EINVAL, "IAE training: lr %g must be in (0, 1]", o->lr);
  if (o->noise && !(o->snr_db > -100 && o->snr_db < 400))
    return gs_error (GS_EINVAL,
                     "IAE training: snr_db %g must be in (-100, 400) dB",
                     o->snr_db);
  if (!(o->mu >= 0 && o->mu <= 1e3))
    return gs_error (GS_EINVAL, "IAE training: mu %g must be in [0, 1e3]",
                     o->mu);
  if (o->threads < 1 || o->threads > 256)
    return gs_error (GS_EINVAL, "IAE training: threads %d must be in 1..256",
                     o->threads);
  if (o->report_every < 1)
    return gs_error (GS_EINVAL, "IAE training: report_every %d must be >= 1",
                     o->report_every);
  if (o->n_val < 0 || (o->n_val > 0 && !o->val_x))
    return gs_error (GS_EINVAL,
                     "IAE training: a validation set of %d samples needs "
                     "val_x",
                     o->n_val);
  return GS_OK;
}

/* ---- The training context -------------------------------------------- */

struct gs_iae_trainer
{
  gs_iae *m;
  gs_nn *enc, *dec, *aenc;
  int N, d, C, L, max_batch, simplex;
  size_t cs, dec_last;
  size_t off[LEV + 1];
  int lc[LEV], ll[LEV];
  double w[LEV];    /* interpolation weight of level l (before / den) */
  double den;       /* 1 + sum rho */
  double lrho[LEV]; /* loss weight of level l */
  double mu, reg_inv;
  float *xt;   /* max_batch x C x L: encoder input and target */
  float *at;   /* d x C x L: the anchors */
  float *bary; /* level-major: level l's batch x n_l at batch x off_l */
  float *gx;   /* max_batch x C x L */
  double *gxd; /* the same in double */
  float *gb;   /* like bary */
  float *gzf;  /* max_batch x cs */
  float *gef;  /* d x cs */
  double *gz;  /* max_batch x cs */
  double *ge;  /* d x cs */
  double *P;   /* N x max_batch x d: Z_l E_l^T */
  double *ig;  /* N x d x d */
  double *u;   /* N x d: top eigenvector of G_l */
  double *lraw, *lam, *glam, *mus; /* max_batch x d (mus x (2d + 1)) */
  int *kstar;
  gsl_eigen_symmv_workspace *eig;
};

void
gs_iae_trainer_free (gs_iae_trainer *t)
{
  if (!t)
    return;
  gs_nn_free (t->aenc);
  free (t->xt);
  free (t->at);
  free (t->bary);
  free (t->gx);
  free (t->gxd);
  free (t->gb);
  free (t->gzf);
  free (t->gef);
  free (t->gz);
  free (t->ge);
  free (t->P);
  free (t->ig);
  free (t->u);
  free (t->lraw);
  free (t->lam);
  free (t->glam);
  free (t->mus);
  free (t->kstar);
  if (t->eig)
    gsl_eigen_symmv_free (t->eig);
  free (t);
}

int
gs_iae_trainer_alloc (gs_iae *m, const gs_iae_train_opts *o, int max_batch,
                      gs_iae_trainer **out)
{
  gs_iae_train_opts def;
  const gs_iae_config *cfg;
  gs_iae_trainer *t;
  size_t B, CL, j, c, n_enc, n_aenc;
  int l, k, rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_iae_trainer_alloc: NULL output");
  *out = NULL;
  if (!m)
    return gs_error (GS_EINVAL, "gs_iae_trainer_alloc: NULL model");
  if (max_batch < 1)
    return gs_error (GS_EINVAL, "gs_iae_trainer_alloc: batch %d must be >= 1",
                     max_batch);
  if (!o)
    {
      gs_iae_train_opts_init (&def);
      o = &def;
    }
  if ((rc = check_opts (o)) != GS_OK)
    return rc;
  if (!(t = calloc (1, sizeof *t)))
    return gs_error (GS_ENOMEM, "out of memory for an IAE trainer");
  cfg = gs_iae_get_config (m);
  t->m = m;
  t->enc = gs_iae_encoder (m);
  t->dec = gs_iae_decoder (m);
  t->N = cfg->n_layers;
  t->d = cfg->n_anchors;
  t->C = cfg->n_components;
  t->L = cfg->length;
  t->max_batch = max_batch;
  t->simplex = cfg->projection == GS_IAE_PROJ_SIMPLEX;
  t->mu = o->mu;
  t->reg_inv = cfg->reg_inv;
  t->den = 1.0;
  for (l = 0; l < t->N; l++)
    {
      gs_iae_level_shape (m, l, &t->lc[l], &t->ll[l], &t->off[l]);
      /* level l < N - 1 is lateral l + 1 (rho[N - 2 - l]); level N - 1
       * the deepest (1); in the loss level N - 1 - r weighs rho_r */
      t->w[l] = l + 1 < t->N ? cfg->rho[t->N - 2 - l] : 1.0;
      if (l + 1 < t->N)
        t->den += cfg->rho[l];
    }
  for (l = 0; l < t->N; l++)
    {
      int r = t->N - 1 - l;
      double v = o->loss_rho    ? o->loss_rho[r]
                 : r + 1 < t->N ? cfg->rho[r]
                                : authors_rho[r];
      if (!isfinite (v) || v < 0)
        {
          gs_iae_trainer_free (t);
          return gs_error (GS_EINVAL,
                           "IAE training: loss_rho[%d] = %g must be finite "
                           "and >= 0",
                           r, v);
        }
      t->lrho[l] = v;
    }
  t->cs = gs_iae_code_size (m);
  t->off[t->N] = t->cs;
  t->dec_last = gs_nn_n_layers (t->dec) - 1;
  B = (size_t)max_batch;
  CL = (size_t)t->C * t->L;
  k = t->d;
  t->xt = malloc (B * CL * sizeof *t->xt);
  t->at = malloc ((size_t)k * CL * sizeof *t->at);
  t->bary = malloc (B * t->cs * sizeof *t->bary);
  t->gx = malloc (B * CL * sizeof *t->gx);
  t->gxd = malloc (B * CL * sizeof *t->gxd);
  t->gb = malloc (B * t->cs * sizeof *t->gb);
  t->gzf = malloc (B * t->cs * sizeof *t->gzf);
  t->gef = malloc ((size_t)k * t->cs * sizeof *t->gef);
  t->gz = malloc (B * t->cs * sizeof *t->gz);
  t->ge = malloc ((size_t)k * t->cs * sizeof *t->ge);
  t->P = malloc ((size_t)t->N * B * k * sizeof *t->P);
  t->ig = malloc ((size_t)t->N * k * k * sizeof *t->ig);
  t->u = malloc ((size_t)t->N * k * sizeof *t->u);
  t->lraw = malloc (B * k * sizeof *t->lraw);
  t->lam = malloc (B * k * sizeof *t->lam);
  t->glam = malloc (B * k * sizeof *t->glam);
  t->mus = malloc (B * (2 * (size_t)k + 1) * sizeof *t->mus);
  t->kstar = malloc (B * sizeof *t->kstar);
  t->eig = gsl_eigen_symmv_alloc ((size_t)k);
  if (!t->xt || !t->at || !t->bary || !t->gx || !t->gxd || !t->gb || !t->gzf
      || !t->gef || !t->gz || !t->ge || !t->P || !t->ig || !t->u || !t->lraw
      || !t->lam || !t->glam || !t->mus || !t->kstar || !t->eig)
    {
      gs_iae_trainer_free (t);
      return gs_error (GS_ENOMEM, "out of memory for an IAE trainer (batch %d)",
                       max_batch);
    }
  {
    const float *a = gs_iae_anchors (m);
    for (l = 0; l < k; l++)
      for (j = 0; j < (size_t)t->L; j++)
        for (c = 0; c < (size_t)t->C; c++)
          t->at[((size_t)l * t->C + c) * t->L + j]
              = a[((size_t)l * t->L + j) * t->C + c];
  }
  if ((rc = gs_nn_clone (t->enc, &t->aenc)) != GS_OK
      || (rc = gs_nn_set_threads (t->enc, o->threads)) != GS_OK
      || (rc = gs_nn_set_threads (t->dec, o->threads)) != GS_OK
      || (rc = gs_nn_set_threads (t->aenc, o->threads)) != GS_OK)
    {
      gs_iae_trainer_free (t);
      return gs_error_prefix (rc, "IAE trainer");
    }
  gs_nn_params (t->enc, &n_enc);
  gs_nn_params (t->aenc, &n_aenc);
  if (n_enc != n_aenc)
    {
      gs_iae_trainer_free (t);
      return gs_error (GS_EFAILED,
                       "IAE trainer: the encoder's clone has %zu "
                       "parameters, the encoder %zu",
                       n_aenc, n_enc);
    }
  gs_nn_set_mode (t->enc, GS_NN_BN_BATCH);
  gs_nn_set_mode (t->aenc, GS_NN_BN_BATCH);
  gs_nn_set_mode (t->dec, GS_NN_EVAL);
  *out = t;
  return GS_OK;
}

/* ---- Gram matrices ------------------------------------------------------ */

/* inv (A) of a symmetric positive definite d x d matrix by Cholesky, in
 * place; -1 when a pivot is not positive. */
static int
spd_inverse (double *A, int d)
{
  double Lw[ANCH * ANCH], Y[ANCH * ANCH];
  int i, j, k;
  for (j = 0; j < d; j++)
    {
      double s = A[j * d + j];
      for (k = 0; k < j; k++)
        s -= Lw[j * d + k] * Lw[j * d + k];
      if (!(s > 0) || !isfinite (s))
        return -1;
      Lw[j * d + j] = sqrt (s);
      for (i = j + 1; i < d; i++)
        {
          double v = A[i * d + j];
          for (k = 0; k < j; k++)
            v -= Lw[i * d + k] * Lw[j * d + k];
          Lw[i * d + j] = v / Lw[j * d + j];
        }
    }
  /* Y = L^-1 (lower), then A^-1 = Y^T Y */
  for (j = 0; j < d; j++)
    for (i = 0; i < d; i++)
      {
        double v = i == j ? 1.0 : 0.0;
        if (i < j)
          {
            Y[i * d + j] = 0;
            continue;
          }
        for (k = j; k < i; k++)
          v -= Lw[i * d + k] * Y[k * d + j];
        Y[i * d + j] = v / Lw[i * d + i];
      }
  for (i = 0; i < d; i++)
    for (j = 0; j < d; j++)
      {
        double v = 0;
        for (k = i > j ? i : j; k < d; k++)
          v += Y[k * d + i] * Y[k * d + j];
        A[i * d + j] = v;
      }
  return 0;
}

/* iG_l and the top eigenvector of G_l for every level from E (d x cs). */
static int
gram_forward (gs_iae_trainer *t, const float *E)
{
  int d = t->d, l, i, j;
  double G[ANCH * ANCH], A[ANCH * ANCH], ev[ANCH], vec[ANCH * ANCH];
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off, s;
      double norm = 0;
      int top = 0;
      gsl_matrix_view Av = gsl_matrix_view_array (A, (size_t)d, (size_t)d);
      gsl_matrix_view Vv = gsl_matrix_view_array (vec, (size_t)d, (size_t)d);
      gsl_vector_view evv = gsl_vector_view_array (ev, (size_t)d);
      for (i = 0; i < d; i++)
        for (j = 0; j <= i; j++)
          {
            const float *a = E + (size_t)i * t->cs + off;
            const float *b = E + (size_t)j * t->cs + off;
            double v = 0;
            for (s = 0; s < n; s++)
              v += (double)a[s] * b[s];
            G[i * d + j] = G[j * d + i] = v;
          }
      memcpy (A, G, sizeof (double) * (size_t)d * d);
      if (gsl_eigen_symmv (&Av.matrix, &evv.vector, &Vv.matrix, t->eig) != 0)
        return gs_error (GS_ESING,
                         "IAE training: no eigenvalues for the Gram "
                         "matrix of level %d",
                         l);
      for (i = 0; i < d; i++)
        if (fabs (ev[i]) > norm)
          {
            norm = fabs (ev[i]);
            top = i;
          }
      if (!(norm > 0) || !isfinite (norm))
        return gs_error (GS_ESING,
                         "IAE training: the anchors' codes at level %d are "
                         "all zero (or not finite)",
                         l);
      for (i = 0; i < d; i++)
        t->u[(size_t)l * d + i] = vec[i * d + top];
      memcpy (A, G, sizeof (double) * (size_t)d * d);
      for (i = 0; i < d; i++)
        A[i * d + i] += t->reg_inv * norm;
      if (spd_inverse (A, d) != 0)
        return gs_error (GS_ESING,
                         "IAE training: the Gram matrix of the anchors' "
                         "codes at level %d is not positive definite; the "
                         "anchors must differ, or raise reg_inv",
                         l);
      memcpy (t->ig + (size_t)l * d * d, A, sizeof (double) * (size_t)d * d);
    }
  return GS_OK;
}

/* ---- Simplex projection ------------------------------------------------ */

/* gs_iae_project_simplex's operations, recording mu before each of the
 * 2d steps and after the last (mus, 2d + 1 values) and the argmax. */
static void
simplex_forward (const double *in, double *out, size_t d, double *mus,
                 int *kstar)
{
  double mu = -HUGE_VAL, F;
  size_t k, it;
  *kstar = 0;
  for (k = 0; k < d; k++)
    if (in[k] > mu)
      {
        mu = in[k];
        *kstar = (int)k;
      }
  mu -= 1.0;
  mus[0] = mu;
  for (it = 0; it < 2 * d; it++)
    {
      F = 0;
      for (k = 0; k < d; k++)
        F += in[k] > mu ? in[k] : mu;
      F -= (double)d * mu + 1.0;
      mu += F / (double)d;
      mus[it + 1] = mu;
    }
  for (k = 0; k < d; k++)
    out[k] = (in[k] > mu ? in[k] : mu) - mu;
}

/* gin = (d out / d in)^T gout.  One step maps mu to mu + (sum_k max
 * (in_k, mu) - d mu - 1) / d, whose derivatives are [in_k > mu] / d
 * (in_k) and #{k: in_k <= mu} / d (mu); out_k = max (in_k, mu) - mu. */
static void
simplex_backward (const double *in, const double *gout, double *gin, size_t d,
                  const double *mus, int kstar)
{
  double mu = mus[2 * d], gmu = 0;
  size_t k, it;
  for (k = 0; k < d; k++)
    if (in[k] > mu)
      {
        gin[k] = gout[k];
        gmu -= gout[k];
      }
    else
      gin[k] = 0;
  for (it = 2 * d; it-- > 0;)
    {
      size_t nle = 0;
      mu = mus[it];
      for (k = 0; k < d; k++)
        if (in[k] > mu)
          gin[k] += gmu / (double)d;
        else
          nle++;
      gmu *= (double)nle / (double)d;
    }
  gin[kstar] += gmu;
}

/* ---- Loss -------------------------------------------------------------- */

/* LossF over `groups` channels of `len` values each, for `batch` samples
 * with strides: a at a + s * sa + c * len, b likewise.  With ga (may be
 * NULL) the gradient times scale is added at the same places (the
 * gradient with respect to b is its negative). */
static double
lossf (const float *a, size_t sa, const float *b, size_t sb, int batch,
       int groups, int len, double scale, double *ga, size_t sga)
{
  double total = 0, cnt = (double)batch * len;
  int c, s, j;
  for (c = 0; c < groups; c++)
    {
      double m = 0, f;
      for (s = 0; s < batch; s++)
        {
          const float *pa = a + (size_t)s * sa + (size_t)c * len;
          const float *pb = b + (size_t)s * sb + (size_t)c * len;
          for (j = 0; j < len; j++)
            {
              double e = (double)pa[j] - pb[j];
              m += e * e;
            }
        }
      m /= cnt;
      if (m < MSE_FLOOR)
        m = MSE_FLOOR;
      total += log (m);
      if (!ga)
        continue;
      f = scale * 2.0 / ((double)groups * m * cnt);
      for (s = 0; s < batch; s++)
        {
          const float *pa = a + (size_t)s * sa + (size_t)c * len;
          const float *pb = b + (size_t)s * sb + (size_t)c * len;
          double *g = ga + (size_t)s * sga + (size_t)c * len;
          for (j = 0; j < len; j++)
            g[j] += f * ((double)pa[j] - pb[j]);
        }
    }
  return total / groups;
}

/* Interpolation, projection and barycentres of one batch (Z: batch x cs
 * from the encoder, E: d x cs), into t->P, t->lraw, t->lam, t->bary. */
static void
interp_forward (gs_iae_trainer *t, const float *Z, const float *E, int batch)
{
  int d = t->d, l, s, k, j;
  size_t i;
  for (s = 0; s < batch; s++)
    for (k = 0; k < d; k++)
      t->lraw[(size_t)s * d + k] = 0;
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      const double *ig = t->ig + (size_t)l * d * d;
      double *P = t->P + (size_t)l * t->max_batch * d;
      for (s = 0; s < batch; s++)
        {
          const float *z = Z + (size_t)s * t->cs + off;
          for (k = 0; k < d; k++)
            {
              const float *e = E + (size_t)k * t->cs + off;
              double v = 0;
              for (i = 0; i < n; i++)
                v += (double)z[i] * e[i];
              P[(size_t)s * d + k] = v;
            }
          for (j = 0; j < d; j++)
            {
              double v = 0;
              for (k = 0; k < d; k++)
                v += P[(size_t)s * d + k] * ig[k * d + j];
              t->lraw[(size_t)s * d + j] += t->w[l] * v;
            }
        }
    }
  for (s = 0; s < batch; s++)
    {
      double *lr = t->lraw + (size_t)s * d, *la = t->lam + (size_t)s * d;
      for (k = 0; k < d; k++)
        lr[k] /= t->den;
      if (t->simplex)
        simplex_forward (lr, la, (size_t)d, t->mus + (size_t)s * (2 * d + 1),
                         &t->kstar[s]);
      else
        memcpy (la, lr, (size_t)d * sizeof *la);
    }
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      float *blk = t->bary + (size_t)batch * off;
      for (s = 0; s < batch; s++)
        {
          const double *la = t->lam + (size_t)s * d;
          for (i = 0; i < n; i++)
            {
              double v = 0;
              for (k = 0; k < d; k++)
                v += la[k] * E[(size_t)k * t->cs + off + i];
              blk[(size_t)s * n + i] = (float)v;
            }
        }
    }
}

/* Backward from t->gb (dloss/dB, level-major) to dloss/dZ, added to
 * t->gz, and dloss/dE, added to t->ge (both already hold the code
 * terms' share). */
static void
interp_backward (gs_iae_trainer *t, const float *Z, const float *E, int batch)
{
  int d = t->d, l, s, k, j, q;
  size_t i;
  double gl[ANCH];
  /* barycentres: B_l = lambda E_l */
  for (s = 0; s < batch; s++)
    for (k = 0; k < d; k++)
      t->glam[(size_t)s * d + k] = 0;
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      const float *gblk = t->gb + (size_t)batch * off;
      for (s = 0; s < batch; s++)
        {
          const float *g = gblk + (size_t)s * n;
          const double *la = t->lam + (size_t)s * d;
          for (k = 0; k < d; k++)
            {
              const float *e = E + (size_t)k * t->cs + off;
              double *ge = t->ge + (size_t)k * t->cs + off;
              double v = 0;
              for (i = 0; i < n; i++)
                {
                  v += (double)g[i] * e[i];
                  ge[i] += la[k] * g[i];
                }
              t->glam[(size_t)s * d + k] += v;
            }
        }
    }
  /* projection and mean: glam becomes d loss / d (sum_l w_l Lambda_l) */
  for (s = 0; s < batch; s++)
    {
      double *g = t->glam + (size_t)s * d;
      if (t->simplex)
        {
          simplex_backward (t->lraw + (size_t)s * d, g, gl, (size_t)d,
                            t->mus + (size_t)s * (2 * d + 1), t->kstar[s]);
          memcpy (g, gl, (size_t)d * sizeof *g);
        }
      for (k = 0; k < d; k++)
        g[k] /= t->den;
    }
  /* least squares: Lambda_l = P_l iG_l, P_l = Z_l E_l^T, iG_l = inv (A_l),
   * A_l = G_l + reg ||G_l||_2 I, G_l = E_l E_l^T */
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      const double *ig = t->ig + (size_t)l * d * d;
      const double *P = t->P + (size_t)l * t->max_batch * d;
      const double *u = t->u + (size_t)l * d;
      double gig[ANCH * ANCH] = { 0 }, tmp[ANCH * ANCH], gA[ANCH * ANCH];
      double gG[ANCH * ANCH], tr = 0;
      for (s = 0; s < batch; s++)
        {
          double gL[ANCH], gP[ANCH];
          const float *z = Z + (size_t)s * t->cs + off;
          double *gz = t->gz + (size_t)s * t->cs + off;
          for (k = 0; k < d; k++)
            gL[k] = t->w[l] * t->glam[(size_t)s * d + k];
          for (k = 0; k < d; k++)
            {
              double v = 0;
              for (j = 0; j < d; j++)
                v += gL[j] * ig[k * d + j];
              gP[k] = v;
              for (j = 0; j < d; j++)
                gig[k * d + j] += P[(size_t)s * d + k] * gL[j];
            }
          for (k = 0; k < d; k++)
            {
              const float *e = E + (size_t)k * t->cs + off;
              double *ge = t->ge + (size_t)k * t->cs + off;
              double p = gP[k];
              for (i = 0; i < n; i++)
                {
                  gz[i] += p * e[i];
                  ge[i] += p * z[i];
                }
            }
        }
      /* gA = -iG^T gig iG^T (iG symmetric) */
      for (k = 0; k < d; k++)
        for (j = 0; j < d; j++)
          {
            double v = 0;
            for (q = 0; q < d; q++)
              v += gig[k * d + q] * ig[q * d + j];
            tmp[k * d + j] = v;
          }
      for (k = 0; k < d; k++)
        for (j = 0; j < d; j++)
          {
            double v = 0;
            for (q = 0; q < d; q++)
              v += ig[k * d + q] * tmp[q * d + j];
            gA[k * d + j] = -v;
          }
      for (k = 0; k < d; k++)
        tr += gA[k * d + k];
      /* d ||G||_2 = u^T dG u (u the top eigenvector) */
      for (k = 0; k < d; k++)
        for (j = 0; j < d; j++)
          gG[k * d + j] = gA[k * d + j] + t->reg_inv * tr * u[k] * u[j];
      /* G_kj = E_k . E_j: dE_k += sum_j (gG_kj + gG_jk) E_j */
      for (k = 0; k < d; k++)
        {
          double *ge = t->ge + (size_t)k * t->cs + off;
          for (j = 0; j < d; j++)
            {
              const float *e = E + (size_t)j * t->cs + off;
              double f = gG[k * d + j] + gG[j * d + k];
              for (i = 0; i < n; i++)
                ge[i] += f * e[i];
            }
        }
    }
}

int
gs_iae_trainer_loss (gs_iae_trainer *t, const float *x, int batch,
                     double grad_scale, double *loss)
{
  const float *Z, *E, *xh;
  const float *extra[LEV];
  float *dextra[LEV];
  size_t n_enc, CL, i, j, c, s, n_p;
  float *pe, *pa;
  double lx, lz = 0, sc;
  int l, rc, grad = grad_scale != 0;
  if (!t || !x || !loss)
    return gs_error (GS_EINVAL, "gs_iae_trainer_loss: NULL argument");
  if (batch < 1 || batch > t->max_batch)
    return gs_error (GS_EINVAL,
                     "gs_iae_trainer_loss: batch %d must be in 1..%d", batch,
                     t->max_batch);
  if (!isfinite (grad_scale))
    return gs_error (GS_EINVAL, "gs_iae_trainer_loss: grad_scale %g",
                     grad_scale);
  CL = (size_t)t->C * t->L;
  for (s = 0; s < (size_t)batch; s++)
    for (j = 0; j < (size_t)t->L; j++)
      for (c = 0; c < (size_t)t->C; c++)
        {
          float v = x[(s * t->L + j) * t->C + c];
          if (!isfinite (v))
            return gs_error (GS_EBADDATA,
                             "IAE training: sample %zu, channel %zu, "
                             "component %zu is %g; give finite data",
                             s, j, c, (double)v);
          t->xt[(s * t->C + c) * t->L + j] = v;
        }
  /* the anchor encoder takes the encoder's current weights */
  pe = gs_nn_params (t->enc, &n_enc);
  pa = gs_nn_params (t->aenc, NULL);
  memcpy (pa, pe, n_enc * sizeof *pa);
  if ((rc = gs_nn_forward (t->aenc, t->at, t->d, NULL)) != GS_OK)
    return gs_error_prefix (rc, "IAE training: encoding the anchors");
  if ((rc = gs_nn_forward (t->enc, t->xt, batch, NULL)) != GS_OK)
    return gs_error_prefix (rc, "IAE training: encoder");
  E = gs_nn_output (t->aenc);
  Z = gs_nn_output (t->enc);
  if ((rc = gram_forward (t, E)) != GS_OK)
    return rc;
  interp_forward (t, Z, E, batch);
  for (l = 0; l + 1 < t->N; l++)
    extra[l] = t->bary + (size_t)batch * t->off[t->N - 2 - l];
  rc = gs_nn_forward_multi (t->dec, t->bary + (size_t)batch * t->off[t->N - 1],
                            extra, batch, NULL);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "IAE training: decoder");
  xh = gs_nn_output (t->dec);
  sc = grad_scale * (1.0 + t->mu);
  if (grad)
    {
      memset (t->gz, 0, (size_t)batch * t->cs * sizeof *t->gz);
      memset (t->ge, 0, (size_t)t->d * t->cs * sizeof *t->ge);
    }
  if (grad)
    memset (t->gxd, 0, (size_t)batch * CL * sizeof *t->gxd);
  lx = lossf (xh, CL, t->xt, CL, batch, t->C, t->L, sc, grad ? t->gxd : NULL,
              CL);
  if (grad)
    for (i = 0; i < (size_t)batch * CL; i++)
      t->gx[i] = (float)t->gxd[i];
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      const float *blk = t->bary + (size_t)batch * off;
      double w = t->lrho[l];
      if (w == 0)
        continue;
      lz += w
            * lossf (Z + off, t->cs, blk, n, batch, t->lc[l], t->ll[l],
                     sc * t->mu * w, grad ? t->gz + off : NULL, t->cs);
    }
  *loss = (1.0 + t->mu) * (lx + t->mu * lz);
  if (!grad)
    return GS_OK;
  /* decoder: gradients at its input and extra inputs */
  for (l = 0; l + 1 < t->N; l++)
    dextra[l] = t->gb + (size_t)batch * t->off[t->N - 2 - l];
  rc = gs_nn_backward_multi (t->dec, 1, &t->dec_last,
                             (const float *const *)&t->gx,
                             t->gb + (size_t)batch * t->off[t->N - 1], dextra);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "IAE training: decoder backward");
  /* the code terms' gradient with respect to B is minus theirs to Z */
  for (l = 0; l < t->N; l++)
    {
      size_t off = t->off[l], n = t->off[l + 1] - off;
      float *gblk = t->gb + (size_t)batch * off;
      if (t->lrho[l] == 0)
        continue;
      for (s = 0; s < (size_t)batch; s++)
        for (i = 0; i < n; i++)
          gblk[s * n + i]
              = (float)((double)gblk[s * n + i] - t->gz[s * t->cs + off + i]);
    }
  interp_backward (t, Z, E, batch);
  for (i = 0; i < (size_t)batch * t->cs; i++)
    t->gzf[i] = (float)t->gz[i];
  for (i = 0; i < (size_t)t->d * t->cs; i++)
    t->gef[i] = (float)t->ge[i];
  if ((rc = gs_nn_backward (t->enc, t->gzf, NULL)) != GS_OK)
    return gs_error_prefix (rc, "IAE training: encoder backward");
  gs_nn_zero_grad (t->aenc);
  if ((rc = gs_nn_backward (t->aenc, t->gef, NULL)) != GS_OK)
    return gs_error_prefix (rc, "IAE training: anchor encoder backward");
  {
    float *ge = gs_nn_grads (t->enc, &n_p), *ga = gs_nn_grads (t->aenc, NULL);
    for (i = 0; i < n_p; i++)
      ge[i] += ga[i];
  }
  return GS_OK;
}

/* ---- The training loop ------------------------------------------------ */

static int
check_data (const float *x, int n, size_t CL, int C, const char *what)
{
  size_t i;
  for (i = 0; i < (size_t)n * CL; i++)
    if (!isfinite (x[i]))
      return gs_error (GS_EBADDATA,
                       "IAE training: %s sample %zu, channel %zu, component "
                       "%zu is %g; give finite data",
                       what, i / CL, i % CL / (size_t)C, i % (size_t)C,
                       (double)x[i]);
  return GS_OK;
}

/* The mean loss of a noise-free set in batches of up to bs samples,
 * weighted by their sizes. */
static int
eval_loss (gs_iae_trainer *t, const float *x, int n, int bs, double *loss)
{
  size_t CL = (size_t)t->C * t->L;
  double sum = 0;
  int i, rc;
  for (i = 0; i < n; i += bs)
    {
      int b = n - i < bs ? n - i : bs;
      double l;
      if ((rc = gs_iae_trainer_loss (t, x + (size_t)i * CL, b, 0.0, &l))
          != GS_OK)
        return rc;
      sum += l * b;
    }
  *loss = sum / n;
  return GS_OK;
}

/* Batch q of an epoch: the samples perm[i0..i0+b-1], plus noise. */
static void
make_batch (const float *x, const int *perm, int i0, int b, int L, int C,
            const gs_iae_train_opts *o, gsl_rng *rng, double *r, float *xb)
{
  size_t CL = (size_t)C * L;
  double f = o->noise ? pow (10.0, -o->snr_db / 20.0) : 0;
  int q, c, j;
  for (q = 0; q < b; q++)
    {
      const float *src = x + (size_t)perm[i0 + q] * CL;
      float *dst = xb + (size_t)q * CL;
      memcpy (dst, src, CL * sizeof *dst);
      if (!o->noise)
        continue;
      for (c = 0; c < C; c++)
        {
          double nx = 0, nr = 0, a;
          for (j = 0; j < L; j++)
            {
              double v = src[(size_t)j * C + c];
              r[j] = gsl_ran_gaussian (rng, 1.0);
              nx += v * v;
              nr += r[j] * r[j];
            }
          a = nr > 0 ? f * sqrt (nx) / sqrt (nr) : 0;
          for (j = 0; j < L; j++)
            dst[(size_t)j * C + c] = (float)(src[(size_t)j * C + c] + a * r[j]);
        }
    }
}

/* Bounds: per anchor min / max of the fast-interpolation lambdas of the
 * training samples, one at a time. */
static int
fit_bounds (gs_iae *m, const float *x, int n, double (*bounds)[2])
{
  const gs_iae_config *cfg = gs_iae_get_config (m);
  size_t CL = (size_t)cfg->n_components * cfg->length;
  size_t bytes = gs_iae_work_bytes (m, 1);
  double lam[ANCH];
  void *work;
  int i, k, rc = GS_OK;
  if (bytes == 0 || !(work = malloc (bytes)))
    return gs_error (GS_ENOMEM, "out of memory for the IAE workspace");
  for (k = 0; k < cfg->n_anchors; k++)
    {
      bounds[k][0] = HUGE_VAL;
      bounds[k][1] = -HUGE_VAL;
    }
  for (i = 0; i < n && rc == GS_OK; i++)
    {
      rc = gs_iae_fast_interpolation (m, work, bytes, x + (size_t)i * CL, 1,
                                      lam, NULL, NULL);
      for (k = 0; rc == GS_OK && k < cfg->n_anchors; k++)
        {
          if (lam[k] < bounds[k][0])
            bounds[k][0] = lam[k];
          if (lam[k] > bounds[k][1])
            bounds[k][1] = lam[k];
        }
    }
  free (work);
  return rc == GS_OK ? GS_OK
                     : gs_error_prefix (rc,
                                        "IAE training: fitting the "
                                        "bounds (sample %d)",
                                        i - 1);
}

typedef struct train_run
{
  gs_iae_trainer *t;
  gs_nn_optim *oe, *od;
  gsl_rng *rng;
  int *perm;
  float *xb;
  double *r;
} train_run;

static void
train_run_fini (train_run *r)
{
  gs_iae_trainer_free (r->t);
  gs_nn_optim_free (r->oe);
  gs_nn_optim_free (r->od);
  if (r->rng)
    gsl_rng_free (r->rng);
  free (r->perm);
  free (r->xb);
  free (r->r);
}

static int
optim_step (train_run *r)
{
  int rc;
  if ((rc = gs_nn_optim_step (r->oe)) != GS_OK
      || (rc = gs_nn_optim_step (r->od)) != GS_OK)
    return gs_error_prefix (rc, "IAE training: optimiser");
  gs_nn_zero_grad (gs_iae_encoder (r->t->m));
  gs_nn_zero_grad (gs_iae_decoder (r->t->m));
  return GS_OK;
}

int
gs_iae_train (gs_iae *m, const float *x, int n, int length, int n_components,
              const gs_iae_train_opts *o, gs_iae_train_report *rep)
{
  gs_iae_train_opts def;
  gs_nn_optim_opts oo;
  const gs_iae_config *cfg;
  train_run R;
  size_t CL;
  double t0, lsum = 0, vloss = NAN;
  int bs, nb, e, q, i, rc, stop = 0, steps = 0, epochs = 0;
  memset (&R, 0, sizeof R);
  if (rep)
    {
      memset (rep, 0, sizeof *rep);
      rep->loss = rep->val_loss = NAN;
    }
  if (!m || !x)
    return gs_error (GS_EINVAL, "gs_iae_train: NULL model or data");
  if (!o)
    {
      gs_iae_train_opts_init (&def);
      o = &def;
    }
  if ((rc = check_opts (o)) != GS_OK)
    return rc;
  cfg = gs_iae_get_config (m);
  if (n < 1)
    return gs_error (GS_EINVAL, "IAE training: %d samples; give at least 1", n);
  if (length != cfg->length || n_components != cfg->n_components)
    return gs_error (GS_EBADLEN,
                     "IAE training: the data have %d channels x %d "
                     "components, the model %d x %d",
                     length, n_components, cfg->length, cfg->n_components);
  CL = (size_t)cfg->n_components * cfg->length;
  if ((rc = check_data (x, n, CL, n_components, "training")) != GS_OK
      || (o->n_val > 0
          && (rc
              = check_data (o->val_x, o->n_val, CL, n_components, "validation"))
                 != GS_OK))
    return rc;
  bs = o->batch_size < n ? o->batch_size : n;
  nb = (n + bs - 1) / bs;
  gs_nn_optim_opts_init (&oo, GS_NN_ADAM);
  oo.lr = o->lr;
  if ((rc = gs_iae_trainer_alloc (m, o, bs, &R.t)) != GS_OK
      || (rc = gs_nn_optim_create (gs_iae_encoder (m), &oo, &R.oe)) != GS_OK
      || (rc = gs_nn_optim_create (gs_iae_decoder (m), &oo, &R.od)) != GS_OK)
    {
      train_run_fini (&R);
      return rc;
    }
  R.rng = gsl_rng_alloc (gsl_rng_mt19937);
  R.perm = malloc ((size_t)n * sizeof *R.perm);
  R.xb = malloc ((size_t)bs * CL * sizeof *R.xb);
  R.r = malloc ((size_t)cfg->length * sizeof *R.r);
  if (!R.rng || !R.perm || !R.xb || !R.r)
    {
      train_run_fini (&R);
      return gs_error (GS_ENOMEM, "out of memory for IAE training");
    }
  gsl_rng_set (R.rng, (unsigned long)o->seed);
  for (i = 0; i < n; i++)
    R.perm[i] = i;
  gs_nn_zero_grad (gs_iae_encoder (m));
  gs_nn_zero_grad (gs_iae_decoder (m));
  t0 = gs__now ();
  for (e = 0; e < o->epochs && !stop; e++)
    {
      gsl_ran_shuffle (R.rng, R.perm, (size_t)n, sizeof *R.perm);
      lsum = 0;
      for (q = 0; q < nb; q++)
        {
          int i0 = q * bs, b = n - i0 < bs ? n - i0 : bs;
          double l;
          make_batch (x, R.perm, i0, b, cfg->length, cfg->n_components, o,
                      R.rng, R.r, R.xb);
          rc = gs_iae_trainer_loss (R.t, R.xb, b, 1.0 / o->accumulate, &l);
          if (rc == GS_OK && !isfinite (l))
            rc = gs_error (GS_EBADDATA,
                           "IAE training: the loss became %g at epoch %d, "
                           "batch %d; lower the learning rate",
                           l, e + 1, q + 1);
          if (rc == GS_OK && ((q + 1) % o->accumulate == 0 || q + 1 == nb))
            {
              rc = optim_step (&R);
              steps++;
            }
          if (rc != GS_OK)
            {
              train_run_fini (&R);
              return rc;
            }
          lsum += l * b;
        }
      lsum /= n;
      epochs = e + 1;
      if (o->progress && (epochs % o->report_every == 0 || epochs == o->epochs))
        {
          if (o->n_val > 0
              && (rc = eval_loss (R.t, o->val_x, o->n_val, bs, &vloss))
                     != GS_OK)
            {
              train_run_fini (&R);
              return rc;
            }
          stop = o->progress (o->user, epochs, lsum, vloss) != 0;
        }
    }
  if (rep)
    {
      rep->seconds = gs__now () - t0;
      rep->epochs = epochs;
      rep->steps = steps;
      rep->loss = lsum;
      rep->val_loss = vloss;
    }
  train_run_fini (&R);
  gs_nn_set_mode (gs_iae_encoder (m), GS_NN_BN_BATCH);
  gs_nn_set_mode (gs_iae_decoder (m), GS_NN_EVAL);
  if ((rc = gs_iae_update_codes (m)) != GS_OK)
    return gs_error_prefix (rc, "IAE training");
  if (o->fit_bounds)
    {
      double b[ANCH][2];
      /* iae.h has no setter for the bounds (kept for callers, unused by
       * the model's own computations); the configuration lives inside
       * the model, so writing it through the accessor is well defined. */
      gs_iae_config *wc = (gs_iae_config *)gs_iae_get_config (m);
      if ((rc = fit_bounds (m, x, n, b)) != GS_OK)
        return rc;
      memcpy (wc->bounds, b, (size_t)cfg->n_anchors * sizeof b[0]);
    }
  if (rep)
    memcpy (rep->bounds, cfg->bounds, sizeof rep->bounds);
  return GS_OK;
}

/* ---- GammaBench families ------------------------------------------------ */

void
gs_iae_family_anchors (const float *family, size_t per, const int *thickness,
                       int n, float *anchors)
{
  int i, lo = 0, hi = 0;
  for (i = 1; i < n; i++)
    {
      if (thickness[i] < thickness[lo])
        lo = i;
      if (thickness[i] > thickness[hi])
        hi = i;
    }
  memcpy (anchors, family + (size_t)lo * per, per * sizeof (float));
  memcpy (anchors + per, family + (size_t)hi * per, per * sizeof (float));
}

void
gs_iae_individual_layout (gs_iae_config *cfg)
{
  static const int fs_long[6] = { 4, 4, 6, 6, 6, 8 };
  static const int st_long[6] = { 1, 1, 2, 2, 4, 4 };
  static const int fs_short[6] = { 3, 3, 4, 4, 4, 4 };
  static const int fnum[6] = { 12, 12, 12, 16, 16, 16 };
  static const double rho[5] = { 0.5, 0.1, 0.05, 0.01, 0.01 };
  int r, L = cfg->length;
  cfg->n_layers = 6;
  for (r = 0; r < 6; r++)
    {
      cfg->fsize[r] = L >= 200 ? fs_long[r] : fs_short[r];
      cfg->fstride[r] = L >= 200 ? st_long[r] : 1;
      cfg->fnum[r] = fnum[r];
    }
  for (r = 0; r < 5; r++)
    cfg->rho[r] = rho[r];
}

int
gs_iae_family_gammabench (const char *root, const char *const *nuclides,
                          int n_nuclides, const size_t *max_channels,
                          int length, const int *thickness, int n, float *out)
{
  double sig[1024];
  int i, c, j, rc;
  if (!root || !nuclides || !thickness || !out)
    return gs_error (GS_EINVAL, "gs_iae_family_gammabench: NULL argument");
  if (n_nuclides < 1 || n_nuclides > GS_IAE_MAX_COMPONENTS)
    return gs_error (GS_EINVAL,
                     "gs_iae_family_gammabench: %d nuclides; give 1 to %d",
                     n_nuclides, GS_IAE_MAX_COMPONENTS);
  if (length < 1 || length > 1024)
    return gs_error (GS_EBADLEN,
                     "gs_iae_family_gammabench: length %d; give 1 to 1024 "
                     "channels",
                     length);
  if (n < 1)
    return gs_error (GS_EINVAL,
                     "gs_iae_family_gammabench: %d thicknesses; give at "
                     "least 1",
                     n);
  for (i = 0; i < n; i++)
    {
      if (thickness[i] < 0 || thickness[i] > 95)
        return gs_error (GS_EINVAL,
                         "gs_iae_family_gammabench: thickness index %d (entry "
                         "%d) is not in 0..95",
                         thickness[i], i);
      for (c = 0; c < n_nuclides; c++)
        {
          double s = 0;
          if (!nuclides[c])
            return gs_error (GS_EINVAL,
                             "gs_iae_family_gammabench: nuclide %d is NULL", c);
          rc = gs_gammabench_read_signature (
              root, nuclides[c], (size_t)thickness[i], 0,
              max_channels ? max_channels[c] : 0, 1, sig);
          if (rc != GS_OK)
            return rc;
          for (j = 0; j < length; j++)
            s += sig[j];
          if (!(s > 0) || !isfinite (s))
            return gs_error (GS_EBADDATA,
                             "gs_iae_family_gammabench: %s at thickness "
                             "index %d has no counts in its first %d "
                             "channels",
                             nuclides[c], thickness[i], length);
          for (j = 0; j < length; j++)
            out[((size_t)i * length + j) * n_nuclides + c]
                = (float)(sig[j] / s);
        }
    }
  return GS_OK;
}
