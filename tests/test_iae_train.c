/* IAE training (gspec/iae_train.h).
 *
 * The analytic gradient of the full loss is checked against central
 * finite differences on a tiny model (C = 2, L = 40, N = 3 levels, d = 3
 * anchors, a large mu, loss weights and reg_inv so that the code terms,
 * the Gram inverse and its norm weigh in); a small family of smooth
 * Gaussian-peak spectra is learnt to better than 20 dB on held-out
 * members; two runs with one seed (1 and 2 threads) give the same bits;
 * bad input gets its error.  The GammaBench family helper is checked on
 * the data when present. */
#include <CUnit/CUnit.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/iae.h"
#include "gspec/iae_train.h"
#include "gspec/status.h"
#include "test_util.h"

void gs_test_register_iae_train (void);

#define TL 40 /* channels of the tiny model */
#define TC 2  /* components */

/* Component c of the family at parameter p in [0, 1]: a Gaussian peak
 * whose position and width move with p on a decaying continuum whose
 * slope moves too, L1-normalised; x is L x C. */
static void
family (double p, int L, int C, float *x)
{
  int c, j;
  for (c = 0; c < C; c++)
    {
      double pos = (0.35 + 0.15 * p + 0.1 * c) * L,
             w = 0.05 * L * (1 + 0.5 * p);
      double slope = (2.0 + 2.0 * p) / L, s = 0;
      for (j = 0; j < L; j++)
        {
          double v = exp (-0.5 * (j - pos) * (j - pos) / (w * w))
                     + 0.2 * exp (-slope * j);
          x[(size_t)j * C + c] = (float)v;
          s += v;
        }
      for (j = 0; j < L; j++)
        x[(size_t)j * C + c] = (float)(x[(size_t)j * C + c] / s);
    }
}

static void
tiny_config (gs_iae_config *cfg, int L, int d, int width)
{
  static const int fs[3] = { 4, 4, 4 }, st[3] = { 1, 2, 2 };
  int r;
  gs_iae_config_init (cfg);
  cfg->n_components = TC;
  strcpy (cfg->names[0], "a");
  strcpy (cfg->names[1], "b");
  cfg->length = L;
  cfg->n_layers = 3;
  for (r = 0; r < 3; r++)
    {
      cfg->fsize[r] = fs[r];
      cfg->fstride[r] = st[r];
      cfg->fnum[r] = width + r;
    }
  cfg->rho[0] = 0.5;
  cfg->rho[1] = 0.1;
  cfg->n_anchors = d;
}

/* A model whose anchors are the family at p = k / (d - 1). */
static gs_iae *
tiny_model (const gs_iae_config *cfg, unsigned long seed)
{
  int d = cfg->n_anchors, k;
  size_t CL = (size_t)cfg->length * cfg->n_components;
  float *a = malloc ((size_t)d * CL * sizeof *a);
  gs_nn_opts no;
  gs_iae *m = NULL;
  if (!a)
    return NULL;
  for (k = 0; k < d; k++)
    family ((double)k / (d - 1), cfg->length, cfg->n_components, a + k * CL);
  gs_nn_opts_init (&no);
  no.seed = seed;
  if (gs_iae_create (cfg, a, &no, &m) != GS_OK)
    printf ("\n  %s\n", gs_last_error ());
  free (a);
  return m;
}

/* ---- Gradient check ------------------------------------------------------ */

typedef struct gcheck
{
  gs_iae_trainer *t;
  const float *x;
  int batch;
} gcheck;

static double
loss_at (gcheck *g)
{
  double l = NAN;
  int rc = gs_iae_trainer_loss (g->t, g->x, g->batch, 0.0, &l);
  CU_ASSERT_EQUAL (rc, GS_OK);
  return l;
}

/* Central difference along parameter i of p (float): the actual float
 * steps are used as the denominator. */
static double
fd_param (gcheck *g, float *p, size_t i)
{
  float p0 = p[i];
  double h = 3e-3 * (fabs (p0) > 0.1 ? fabs (p0) : 0.1), lp, lm, hp, hm;
  p[i] = (float)(p0 + h);
  hp = p[i];
  lp = loss_at (g);
  p[i] = (float)(p0 - h);
  hm = p[i];
  lm = loss_at (g);
  p[i] = p0;
  return (lp - lm) / (hp - hm);
}

/* Directional derivative along v (in place on p, restored): returns the
 * finite difference and, in *an, sum_i g_i (p+_i - p-_i) / 2h-equivalent. */
static double
fd_direction (gcheck *g, float *p, const float *grad, size_t n, const double *v,
              double h, double *an)
{
  float *p0 = malloc (n * sizeof *p0);
  double *dp = malloc (n * sizeof *dp), lp, lm, s = 0;
  size_t i;
  if (!p0 || !dp)
    {
      free (p0);
      free (dp);
      return NAN;
    }
  memcpy (p0, p, n * sizeof *p);
  for (i = 0; i < n; i++)
    p[i] = (float)(p0[i] + h * v[i]);
  for (i = 0; i < n; i++)
    dp[i] = p[i];
  lp = loss_at (g);
  for (i = 0; i < n; i++)
    {
      p[i] = (float)(p0[i] - h * v[i]);
      dp[i] -= p[i];
    }
  lm = loss_at (g);
  memcpy (p, p0, n * sizeof *p);
  for (i = 0; i < n; i++)
    s += grad[i] * dp[i];
  *an = s;
  free (p0);
  free (dp);
  return lp - lm;
}

static void
check_net (gcheck *g, gs_nn *nn, const char *what, gsl_rng *rng)
{
  size_t n, i, k, worst = 0;
  float *p = gs_nn_params (nn, &n);
  float *grad = malloc (n * sizeof *grad);
  double *v = malloc (n * sizeof *v), gmax = 0, emax = 0, fd, an = 0;
  double *tried;
  if (!grad || !v)
    {
      free (grad);
      free (v);
      CU_FAIL ("out of memory");
      return;
    }
  memcpy (grad, gs_nn_grads (nn, NULL), n * sizeof *grad);
  for (i = 0; i < n; i++)
    if (fabs (grad[i]) > gmax)
      gmax = fabs (grad[i]);
  CU_ASSERT (gmax > 0);
  /* 40 parameters: the 20 largest gradients and 20 at random */
  tried = calloc (n, sizeof *tried);
  for (k = 0; k < 40 && tried; k++)
    {
      size_t j = 0;
      if (k < 20)
        {
          double best = -1;
          for (i = 0; i < n; i++)
            if (!tried[i] && fabs (grad[i]) > best)
              {
                best = fabs (grad[i]);
                j = i;
              }
        }
      else
        j = gsl_rng_uniform_int (rng, n);
      tried[j] = 1;
      fd = fd_param (g, p, j);
      if (fabs (fd - grad[j]) > emax)
        {
          emax = fabs (fd - grad[j]);
          worst = j;
        }
    }
  free (tried);
  printf ("\n  %s: %zu parameters, max |grad| %.4g, max |fd - grad| %.3g "
          "(parameter %zu: %.6g vs %.6g)",
          what, n, gmax, emax, worst, (double)grad[worst],
          fd_param (g, p, worst));
  /* tolerance: 2 % of the largest gradient component */
  CU_ASSERT (emax <= 2e-2 * gmax);
  /* the whole gradient along a random direction */
  for (i = 0; i < n; i++)
    v[i] = gsl_rng_uniform (rng) - 0.5;
  fd = fd_direction (g, p, grad, n, v, 1e-3, &an);
  printf ("; direction: fd %.6g, analytic %.6g", fd, an);
  CU_ASSERT (fabs (fd - an) <= 1e-2 * fabs (an) + 1e-6);
  free (grad);
  free (v);
}

static void
test_gradient (void)
{
  gs_iae_config cfg;
  gs_iae_train_opts o;
  gs_iae_trainer *t = NULL;
  const double lrho[3] = { 0.5, 0.3, 0.2 };
  gs_iae *m;
  gcheck g;
  gsl_rng *rng = gsl_rng_alloc (gsl_rng_mt19937);
  float x[6 * TL * TC];
  double l;
  int s;
  tiny_config (&cfg, TL, 3, 4);
  cfg.reg_inv = 0.05;
  m = tiny_model (&cfg, 7);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  /* samples between and beyond the anchors (the projection clips some) */
  for (s = 0; s < 6; s++)
    family (-0.1 + 0.23 * s, TL, TC, x + s * TL * TC);
  gs_iae_train_opts_init (&o);
  o.mu = 0.5;
  o.loss_rho = lrho;
  CU_ASSERT_EQUAL_FATAL (gs_iae_trainer_alloc (m, &o, 6, &t), GS_OK);
  gs_nn_zero_grad (gs_iae_encoder (m));
  gs_nn_zero_grad (gs_iae_decoder (m));
  CU_ASSERT_EQUAL (gs_iae_trainer_loss (t, x, 6, 1.0, &l), GS_OK);
  CU_ASSERT (isfinite (l));
  g.t = t;
  g.x = x;
  g.batch = 6;
  gsl_rng_set (rng, 3);
  check_net (&g, gs_iae_decoder (m), "decoder", rng);
  check_net (&g, gs_iae_encoder (m), "encoder", rng);
  gs_iae_trainer_free (t);
  gs_iae_free (m);
  gsl_rng_free (rng);
}

/* ---- Learning a family ------------------------------------------------- */

#define FL 64
#define N_TRAIN 17
#define N_TEST 8

typedef struct curve
{
  double first, last;
} curve;

static int
record (void *user, int epoch, double loss, double val)
{
  curve *c = user;
  (void)val;
  (void)epoch;
  if (!(c->first == c->first))
    c->first = loss;
  c->last = loss;
  return 0;
}

/* -10 log10 (||x - y||^2 / ||x||^2) */
static double
nmse_db (const float *x, const float *y, size_t n)
{
  double e = 0, s = 0;
  size_t j;
  for (j = 0; j < n; j++)
    {
      e += ((double)y[j] - x[j]) * ((double)y[j] - x[j]);
      s += (double)x[j] * x[j];
    }
  return -10 * log10 (e / s);
}

static void
test_learns_family (void)
{
  gs_iae_config cfg;
  gs_iae_train_opts o;
  gs_iae_train_report rep;
  curve cv = { NAN, NAN };
  size_t CL = FL * TC, bytes;
  float *xtr = malloc (N_TRAIN * CL * sizeof *xtr);
  float *xte = malloc (N_TEST * CL * sizeof *xte);
  float *rec = malloc (N_TEST * CL * sizeof *rec);
  double lam[2 * N_TEST], worst = HUGE_VAL, worst_best = HUGE_VAL, nmse;
  void *work;
  gs_iae *m;
  int i, k, rc;
  CU_ASSERT_PTR_NOT_NULL_FATAL (xtr && xte && rec);
  for (i = 0; i < N_TRAIN; i++)
    family ((double)i / (N_TRAIN - 1), FL, TC, xtr + i * CL);
  for (i = 0; i < N_TEST; i++)
    family ((i + 0.5) / N_TEST, FL, TC, xte + i * CL);
  tiny_config (&cfg, FL, 2, 8);
  m = tiny_model (&cfg, 11);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  gs_iae_train_opts_init (&o);
  o.epochs = 1500;
  o.batch_size = 9;
  o.lr = 5e-3;
  o.progress = record;
  o.user = &cv;
  o.val_x = xte;
  o.n_val = N_TEST;
  o.report_every = 10;
  rc = gs_iae_train (m, xtr, N_TRAIN, FL, TC, &o, &rep);
  if (rc != GS_OK)
    printf ("\n  %s\n", gs_last_error ());
  CU_ASSERT_EQUAL_FATAL (rc, GS_OK);
  bytes = gs_iae_work_bytes (m, N_TEST);
  work = malloc (bytes);
  CU_ASSERT_PTR_NOT_NULL_FATAL (work);
  for (i = 0; i < N_TEST; i++)
    {
      CU_ASSERT_EQUAL (gs_iae_fast_interpolation (m, work, bytes, xte + i * CL,
                                                  1, lam + 2 * i, rec + i * CL,
                                                  NULL),
                       GS_OK);
      nmse = nmse_db (xte + i * CL, rec + i * CL, CL);
      if (nmse < worst)
        worst = nmse;
      /* the best lambda on a grid: what the decoder can represent */
      nmse = -HUGE_VAL;
      for (k = 0; k <= 200; k++)
        {
          double lk[2] = { 1 - k / 200.0, k / 200.0 }, v;
          CU_ASSERT_EQUAL (gs_iae_decode (m, work, bytes, lk, 1, rec), GS_OK);
          v = nmse_db (xte + i * CL, rec, CL);
          if (v > nmse)
            nmse = v;
        }
      if (nmse < worst_best)
        worst_best = nmse;
    }
  printf ("\n  %d epochs (%.2f s), loss %.3f -> %.3f, val %.3f, held-out "
          "NMSE >= %.1f dB (fast interpolation), %.1f dB (best lambda), bounds "
          "[%.3f, %.3f] [%.3f, %.3f]",
          rep.epochs, rep.seconds, cv.first, rep.loss, rep.val_loss, worst,
          worst_best, rep.bounds[0][0], rep.bounds[0][1], rep.bounds[1][0],
          rep.bounds[1][1]);
  CU_ASSERT_EQUAL (rep.epochs, o.epochs);
  /* log-MSE loss: a factor 100 on the mean squared error at least */
  CU_ASSERT (rep.loss < cv.first - log (100.0));
  CU_ASSERT (worst > 20.0);
  CU_ASSERT (worst_best > 20.0);
  /* lambda moves with the parameter; the bounds hold the training range */
  CU_ASSERT (lam[0] > lam[2 * (N_TEST - 1)]);
  CU_ASSERT (rep.bounds[0][0] < rep.bounds[0][1]);
  CU_ASSERT (rep.bounds[0][0] >= 0 && rep.bounds[0][1] <= 1);
  CU_ASSERT_EQUAL (gs_iae_get_config (m)->bounds[1][1], rep.bounds[1][1]);
  free (work);
  free (xtr);
  free (xte);
  free (rec);
  gs_iae_free (m);
}

/* ---- Determinism ----------------------------------------------------------
 */

static float *
train_params (int threads, size_t *n)
{
  gs_iae_config cfg;
  gs_iae_train_opts o;
  float x[7 * TL * TC], *out = NULL, *pe, *pd;
  size_t ne, nd;
  gs_iae *m;
  int i;
  for (i = 0; i < 7; i++)
    family (i / 6.0, TL, TC, x + i * TL * TC);
  tiny_config (&cfg, TL, 2, 4);
  if (!(m = tiny_model (&cfg, 5)))
    return NULL;
  gs_iae_train_opts_init (&o);
  o.epochs = 6;
  o.batch_size = 3;
  o.accumulate = 2;
  o.snr_db = 30;
  o.seed = 42;
  o.threads = threads;
  if (gs_iae_train (m, x, 7, TL, TC, &o, NULL) == GS_OK)
    {
      pe = gs_nn_params (gs_iae_encoder (m), &ne);
      pd = gs_nn_params (gs_iae_decoder (m), &nd);
      if ((out = malloc ((ne + nd) * sizeof *out)))
        {
          memcpy (out, pe, ne * sizeof *out);
          memcpy (out + ne, pd, nd * sizeof *out);
          *n = ne + nd;
        }
    }
  else
    printf ("\n  %s\n", gs_last_error ());
  gs_iae_free (m);
  return out;
}

static void
test_deterministic (void)
{
  size_t n1 = 0, n2 = 0, n3 = 0;
  float *a = train_params (1, &n1), *b = train_params (1, &n2);
  float *c = train_params (2, &n3);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a && b && c);
  CU_ASSERT (n1 == n2 && n1 == n3 && n1 > 0);
  CU_ASSERT (memcmp (a, b, n1 * sizeof *a) == 0);
  CU_ASSERT (memcmp (a, c, n1 * sizeof *a) == 0);
  free (a);
  free (b);
  free (c);
}

/* ---- Bad input ----------------------------------------------------------- */

static void
test_bad_input (void)
{
  gs_iae_config cfg;
  gs_iae_train_opts o;
  gs_iae_trainer *t = NULL;
  float x[3 * TL * TC];
  double l;
  gs_iae *m;
  int i;
  for (i = 0; i < 3; i++)
    family (i / 2.0, TL, TC, x + i * TL * TC);
  tiny_config (&cfg, TL, 2, 4);
  m = tiny_model (&cfg, 5);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  gs_iae_train_opts_init (&o);
  o.epochs = 1;
  CU_ASSERT_EQUAL (gs_iae_train (NULL, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_iae_train (m, NULL, 3, TL, TC, &o, NULL), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 0, TL, TC, &o, NULL), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "0 samples");
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL - 1, TC, &o, NULL), GS_EBADLEN);
  GS_ASSERT_CONTAINS (gs_last_error (), "the model 40 x 2");
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, 1, &o, NULL), GS_EBADLEN);
  x[TL * TC + 5] = NAN;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "sample 1, channel 2, component 1");
  family (0.5, TL, TC, x + TL * TC);
  o.val_x = x;
  o.n_val = 2;
  x[7] = INFINITY;
  CU_ASSERT_EQUAL (gs_iae_train (m, x + TL * TC, 2, TL, TC, &o, NULL),
                   GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "validation");
  family (0, TL, TC, x);
  o.val_x = NULL;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "val_x");
  o.n_val = 0;
  o.epochs = 0;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "epochs");
  o.epochs = 1;
  o.lr = -1;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  o.lr = 1e-3;
  o.batch_size = 0;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  o.batch_size = 2;
  o.snr_db = NAN;
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_EINVAL);
  o.snr_db = 40;
  /* a model still trains after all the refusals */
  CU_ASSERT_EQUAL (gs_iae_train (m, x, 3, TL, TC, &o, NULL), GS_OK);
  /* the trainer */
  CU_ASSERT_EQUAL (gs_iae_trainer_alloc (NULL, &o, 2, &t), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_iae_trainer_alloc (m, &o, 0, &t), GS_EINVAL);
  CU_ASSERT_EQUAL_FATAL (gs_iae_trainer_alloc (m, &o, 2, &t), GS_OK);
  CU_ASSERT_EQUAL (gs_iae_trainer_loss (t, x, 3, 0, &l), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_iae_trainer_loss (t, x, 0, 0, &l), GS_EINVAL);
  x[0] = NAN;
  CU_ASSERT_EQUAL (gs_iae_trainer_loss (t, x, 2, 0, &l), GS_EBADDATA);
  gs_iae_trainer_free (t);
  gs_iae_trainer_free (NULL);
  gs_iae_free (m);
  /* the family helper */
  {
    const char *nu[1] = { "Co57" };
    int th[1] = { 96 };
    float f[100];
    CU_ASSERT_EQUAL (
        gs_iae_family_gammabench ("/nonexistent", nu, 1, NULL, 100, th, 1, f),
        GS_EINVAL);
    th[0] = 0;
    CU_ASSERT_EQUAL (
        gs_iae_family_gammabench ("/nonexistent", nu, 1, NULL, 1025, th, 1, f),
        GS_EBADLEN);
    CU_ASSERT_NOT_EQUAL (
        gs_iae_family_gammabench ("/nonexistent", nu, 1, NULL, 100, th, 1, f),
        GS_OK);
  }
}

/* ---- GammaBench family ---------------------------------------------------
 */

static void
test_family_gammabench (void)
{
  const char *d = gs_test_data_dir ("iae_train family");
  const char *nu[2] = { "Co57", "Cs137" };
  const size_t maxch[2] = { 100, 400 };
  const int th[2] = { 0, 95 };
  char root[4096];
  float *f;
  int i, c, j;
  if (!d)
    return;
  snprintf (root, sizeof root, "%s/gammabench", d);
  f = malloc (2 * 400 * 2 * sizeof *f);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL_FATAL (
      gs_iae_family_gammabench (root, nu, 2, maxch, 400, th, 2, f), GS_OK);
  for (i = 0; i < 2; i++)
    for (c = 0; c < 2; c++)
      {
        double s = 0;
        for (j = 0; j < 400; j++)
          {
            CU_ASSERT (f[(i * 400 + j) * 2 + c] >= 0);
            s += f[(i * 400 + j) * 2 + c];
          }
        CU_ASSERT_DOUBLE_EQUAL (s, 1.0, 1e-5);
      }
  /* the Co57 cut at channel 100 */
  for (j = 100; j < 400; j++)
    CU_ASSERT_EQUAL (f[j * 2], 0.0f);
  /* thick steel hardens the spectra: they differ */
  CU_ASSERT (fabs (f[10 * 2] - f[(400 + 10) * 2]) > 0);
  free (f);
}

void
gs_test_register_iae_train (void)
{
  CU_pSuite s = CU_add_suite ("iae_train", NULL, NULL);
  CU_add_test (s, "gradient of the full loss vs finite differences",
               test_gradient);
  CU_add_test (s, "learns a smooth family (held-out NMSE > 20 dB)",
               test_learns_family);
  CU_add_test (s, "deterministic at any thread count", test_deterministic);
  CU_add_test (s, "bad input", test_bad_input);
  CU_add_test (s, "GammaBench family", test_family_gammabench);
}
