/* The NN engine (gspec/nn.h): architecture parsing and its errors,
 * initialisation, losses against closed forms and central differences,
 * optimiser steps against PyTorch's formulas, schedules, early stopping,
 * small problems learned to near-zero loss, model files (round trip and
 * corrupt input), batchnorm modes, determinism, thread-count invariance
 * and a whole-network gradient check. */
#include <CUnit/CUnit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/nn.h"
#include "gspec/status.h"
#include "test_util.h"

/* A network or NULL, printing the error. */
static gs_nn *
make_net (const char *arch, int c, int l, int threads, uint64_t seed)
{
  gs_nn_opts o;
  gs_nn *nn = NULL;
  int rc;
  gs_nn_opts_init (&o);
  o.threads = threads;
  o.seed = seed;
  rc = gs_nn_create (arch, c, l, &o, &nn);
  if (rc != GS_OK)
    fprintf (stderr, "\n  gs_nn_create: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  return nn;
}

/* The status and message of a create that must fail. */
static int
create_error (const char *arch, int c, int l, const char **msg)
{
  gs_nn *nn = NULL;
  int rc = gs_nn_create (arch, c, l, NULL, &nn);
  CU_ASSERT_PTR_NULL (nn);
  gs_nn_free (nn);
  *msg = gs_last_error ();
  return rc;
}

static void
fill_gauss (float *x, size_t n, double sd, unsigned long seed)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  size_t i;
  gsl_rng_set (r, seed);
  for (i = 0; i < n; i++)
    x[i] = (float)gsl_ran_gaussian (r, sd);
  gsl_rng_free (r);
}

/* ---- Architecture ------------------------------------------------------ */

static void
test_arch_valid (void)
{
  static const char *arch = "- {type: conv1d, out: 4, kernel: 5}\n"
                            "- {type: maxpool1d, kernel: 2}\n"
                            "- {type: batchnorm1d}\n"
                            "- {type: relu}\n"
                            "- {type: linear, out: 8}\n"
                            "- {type: dropout, p: 0.25}\n"
                            "- {type: linear, out: 3, init: glorot}\n";
  static const char *resid
      = "- {type: conv1d, out: 6, kernel: 3, padding: 1, name: stem}\n"
        "- {type: relu}\n"
        "- {type: conv1d, out: 6, kernel: 3, padding: 1}\n"
        "- {type: add, inputs: [stem, -1]}\n"
        "- {type: concat, inputs: [input, 3, -3], name: cat}\n"
        "- {type: upsample, mode: linear, scale: 2}\n"
        "- {type: upsample, size: 40}\n"
        "- {type: globalavgpool}\n"
        "- {type: flatten}\n";
  gs_nn *nn = make_net (arch, 1, 32, 1, 1);
  float *rm, *rv;
  size_t n, nr, i;
  int c, l;
  if (!nn)
    return;
  CU_ASSERT_EQUAL (gs_nn_n_layers (nn), 7);
  gs_nn_output_shape (nn, &c, &l);
  CU_ASSERT (c == 3 && l == 1);
  CU_ASSERT_EQUAL (gs_nn_output_size (nn), 3);
  gs_nn_input_shape (nn, &c, &l);
  CU_ASSERT (c == 1 && l == 32);
  /* conv 4x1x5 + 4; bn 4 + 4; linear 8 x (4 x 14) + 8; linear 3 x 8 + 3 */
  gs_nn_params (nn, &n);
  CU_ASSERT_EQUAL (n, 20 + 4 + 8 + 456 + 27);
  CU_ASSERT_STRING_EQUAL (gs_nn_layer_type (nn, 0), "conv1d");
  CU_ASSERT_STRING_EQUAL (gs_nn_layer_type (nn, 5), "dropout");
  CU_ASSERT_PTR_NULL (gs_nn_layer_type (nn, 7));
  CU_ASSERT_STRING_EQUAL (gs_nn_arch (nn), arch);
  CU_ASSERT_EQUAL (
      gs_nn_layer_arrays (nn, 2, NULL, NULL, NULL, NULL, &rm, &rv, &nr), GS_OK);
  CU_ASSERT_EQUAL (nr, 4);
  for (i = 0; i < nr; i++)
    CU_ASSERT (rm[i] == 0.0f && rv[i] == 1.0f);
  CU_ASSERT_EQUAL (
      gs_nn_layer_arrays (nn, 7, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      GS_EINVAL);
  CU_ASSERT (gs_nn_macs (nn) > 0);
  CU_ASSERT_EQUAL (gs_nn_mode (nn), GS_NN_EVAL);
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  CU_ASSERT_EQUAL (gs_nn_mode (nn), GS_NN_TRAIN);
  gs_nn_free (nn);

  nn = make_net (resid, 2, 20, 1, 1);
  if (!nn)
    return;
  gs_nn_output_shape (nn, &c, &l);
  /* concat: 2 (input) + 6 + 6 channels; globalavgpool; flatten */
  CU_ASSERT (c == 14 && l == 1);
  CU_ASSERT_STRING_EQUAL (gs_nn_layer_type (nn, 5), "upsample");
  CU_ASSERT_STRING_EQUAL (gs_nn_layer_type (nn, 6), "upsample");
  gs_nn_free (nn);
}

static void
test_arch_errors (void)
{
  const char *msg;
  CU_ASSERT_EQUAL (
      create_error ("- {type: relu}\n- {type: conv2d, out: 3}\n", 1, 8, &msg),
      GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1");
  GS_ASSERT_CONTAINS (msg, "unknown type 'conv2d'");
  GS_ASSERT_CONTAINS (msg, "conv1d, convtranspose1d");

  CU_ASSERT_EQUAL (
      create_error ("- {type: conv1d, out: 3, kernal: 3}\n", 1, 8, &msg),
      GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0 (conv1d)");
  GS_ASSERT_CONTAINS (msg, "unknown option 'kernal'");
  GS_ASSERT_CONTAINS (msg, "kernel, stride, padding");
  GS_ASSERT_CONTAINS (msg, "architecture:1:");

  CU_ASSERT_EQUAL (create_error ("- {type: relu, p: 0.5}\n", 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0 (relu)");
  GS_ASSERT_CONTAINS (msg, "unknown option 'p'");

  CU_ASSERT_EQUAL (create_error ("- {type: conv1d, kernel: 3}\n", 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0 (conv1d)");
  GS_ASSERT_CONTAINS (msg, "missing option 'out'");

  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n"
                                 "- {type: conv1d, out: 2, kernel: abc}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (conv1d)");
  GS_ASSERT_CONTAINS (msg, "'kernel' must be an integer");

  CU_ASSERT_EQUAL (
      create_error ("- {type: linear, out: 2, init: xavier}\n", 1, 8, &msg),
      GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0 (linear)");
  GS_ASSERT_CONTAINS (msg, "he, glorot, torch");

  CU_ASSERT_EQUAL (create_error ("- {type: relu, name: a}\n"
                                 "- {type: relu}\n"
                                 "- {type: add, inputs: [a, b]}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 2 (add)");
  GS_ASSERT_CONTAINS (msg, "'b'");
  GS_ASSERT_CONTAINS (msg, "named earlier layers: a");

  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n"
                                 "- {type: add, inputs: [0, 2]}\n"
                                 "- {type: relu}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (add)");
  GS_ASSERT_CONTAINS (msg, "earlier layer");

  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n"
                                 "- {type: add, inputs: [-3, 0]}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (add)");

  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n"
                                 "- {type: add, inputs: [0]}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (add)");
  GS_ASSERT_CONTAINS (msg, "2 to 8");

  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n- {type: add}\n", 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (add)");
  GS_ASSERT_CONTAINS (msg, "missing 'inputs'");

  CU_ASSERT_EQUAL (create_error ("- {type: relu, name: a}\n"
                                 "- {type: relu, name: a}\n",
                                 1, 8, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (relu)");
  GS_ASSERT_CONTAINS (msg, "already used");

  CU_ASSERT_EQUAL (
      create_error ("- {type: upsample, mode: cubic, scale: 2}\n", 1, 8, &msg),
      GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0 (upsample)");
  GS_ASSERT_CONTAINS (msg, "linear, nearest");

  CU_ASSERT_EQUAL (
      create_error ("- {type: upsample, scale: 2, size: 9}\n", 1, 8, &msg),
      GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "exactly one of 'scale'");

  /* Shapes: the kernel's check, naming the layer. */
  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n"
                                 "- {type: conv1d, out: 2, kernel: 20}\n",
                                 1, 12, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (conv1d)");
  CU_ASSERT_EQUAL (create_error ("- {type: conv1d, out: 2, kernel: 3}\n"
                                 "- {type: add, inputs: [input, 0]}\n",
                                 1, 12, &msg),
                   GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 1 (add)");

  CU_ASSERT_EQUAL (create_error ("{type: relu}\n", 1, 8, &msg), GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "sequence of layers");
  CU_ASSERT_EQUAL (create_error ("", 1, 8, &msg), GS_ECONFIG);
  CU_ASSERT_EQUAL (create_error ("- relu\n", 1, 8, &msg), GS_ECONFIG);
  GS_ASSERT_CONTAINS (msg, "layer 0");
  CU_ASSERT_EQUAL (create_error ("- [type: relu\n", 1, 8, &msg), GS_ECONFIG);
  CU_ASSERT_EQUAL (create_error ("- {type: relu}\n", 0, 8, &msg), GS_EINVAL);
}

/* ---- Initialisation -------------------------------------------------------
 */

static void
init_stats (gs_nn *nn, size_t layer, double *sd, double *absmax,
            double *bias_absmax)
{
  float *w, *b;
  size_t nw, nb, i;
  double s = 0, s2 = 0, m = 0, mb = 0;
  gs_nn_layer_arrays (nn, layer, &w, &nw, &b, &nb, NULL, NULL, NULL);
  for (i = 0; i < nw; i++)
    {
      s += w[i];
      s2 += (double)w[i] * w[i];
      m = fmax (m, fabs (w[i]));
    }
  for (i = 0; i < nb; i++)
    mb = fmax (mb, fabs (b[i]));
  *sd = sqrt (s2 / nw - (s / nw) * (s / nw));
  *absmax = m;
  *bias_absmax = mb;
}

static void
test_init (void)
{
  /* linear 256 -> 128: fan_in 256, fan_out 128. */
  gs_nn *he = make_net ("- {type: linear, out: 128}\n", 256, 1, 1, 7);
  gs_nn *gl
      = make_net ("- {type: linear, out: 128, init: glorot}\n", 256, 1, 1, 7);
  gs_nn *to
      = make_net ("- {type: linear, out: 128, init: torch}\n", 256, 1, 1, 7);
  gs_nn *he2 = make_net ("- {type: linear, out: 128}\n", 256, 1, 1, 7);
  gs_nn *he3 = make_net ("- {type: linear, out: 128}\n", 256, 1, 1, 8);
  double sd, mx, bmx;
  size_t n;
  if (!he || !gl || !to || !he2 || !he3)
    goto done;
  /* 32768 draws: the sample sd is within 2 % (about 5 standard errors). */
  init_stats (he, 0, &sd, &mx, &bmx);
  CU_ASSERT (fabs (sd / sqrt (2.0 / 256) - 1) < 0.02);
  CU_ASSERT (bmx == 0);
  init_stats (gl, 0, &sd, &mx, &bmx);
  CU_ASSERT (mx <= sqrt (6.0 / 384) && mx > 0.99 * sqrt (6.0 / 384));
  CU_ASSERT (fabs (sd / (sqrt (6.0 / 384) / sqrt (3.0)) - 1) < 0.02);
  CU_ASSERT (bmx == 0);
  init_stats (to, 0, &sd, &mx, &bmx);
  CU_ASSERT (mx <= 1 / 16.0 && mx > 0.99 / 16.0);
  CU_ASSERT (bmx > 0 && bmx <= 1 / 16.0);
  /* The seed decides. */
  gs_nn_params (he, &n);
  CU_ASSERT (memcmp (gs_nn_params (he, NULL), gs_nn_params (he2, NULL),
                     n * sizeof (float))
             == 0);
  CU_ASSERT (memcmp (gs_nn_params (he, NULL), gs_nn_params (he3, NULL),
                     n * sizeof (float))
             != 0);
done:
  gs_nn_free (he);
  gs_nn_free (gl);
  gs_nn_free (to);
  gs_nn_free (he2);
  gs_nn_free (he3);
}

/* ---- Losses ---------------------------------------------------------------
 */

typedef double (*loss_fn) (const float *z, const float *t, size_t n, float *d,
                           const void *ctx);

static double
call_bce (const float *z, const float *t, size_t n, float *d, const void *ctx)
{
  (void)ctx;
  return gs_nn_loss_bce_logits (z, t, n, d);
}

static double
call_mse (const float *z, const float *t, size_t n, float *d, const void *ctx)
{
  (void)ctx;
  return gs_nn_loss_mse (z, t, n, d);
}

static double
call_asl (const float *z, const float *t, size_t n, float *d, const void *ctx)
{
  const double *a = ctx;
  return gs_nn_loss_asymmetric (z, t, n, a[0], a[1], a[2], a[3], d);
}

static double
call_soft_ce (const float *z, const float *t, size_t n, float *d,
              const void *ctx)
{
  const int *classes = ctx;
  return gs_nn_loss_soft_ce (z, t, (int)(n / (size_t)*classes), *classes, d);
}

/* max |analytic - central difference| / max |central difference|; the
 * logits are multiples of 1/64, so z +- 2^-10 is exact in float and the
 * losses (accumulated in double) see exactly the perturbation. */
static double
grad_check (loss_fn f, const float *z0, const float *t, size_t n,
            const void *ctx)
{
  float z[64], d[64];
  double h = 1.0 / 1024, err = 0, big = 0;
  size_t i;
  memcpy (z, z0, n * sizeof *z);
  f (z, t, n, d, ctx);
  for (i = 0; i < n; i++)
    {
      double lp, lm, fd;
      z[i] = (float)(z0[i] + h);
      lp = f (z, t, n, NULL, ctx);
      z[i] = (float)(z0[i] - h);
      lm = f (z, t, n, NULL, ctx);
      z[i] = z0[i];
      fd = (lp - lm) / (2 * h);
      err = fmax (err, fabs (d[i] - fd));
      big = fmax (big, fabs (fd));
    }
  return err / big;
}

static void
test_losses (void)
{
  static const float z[12] = { -2.5f, -1.0f, -0.25f,    0.0f, 0.5f,   1.25f,
                               3.0f,  -4.0f, 0.015625f, 2.0f, -0.75f, 1.5f };
  static const float t[12] = { 0, 1, 0, 1, 1, 0, 1, 0, 0.5f, 1, 0.25f, 0 };
  float d[12], zz[4], tt[4];
  double v, exact, e;
  size_t i;
  int classes;

  /* BCE: closed form per element, and a stable form for large logits. */
  exact = 0;
  for (i = 0; i < 12; i++)
    {
      double p = 1 / (1 + exp (-(double)z[i]));
      exact -= t[i] * log (p) + (1 - t[i]) * log (1 - p);
    }
  exact /= 12;
  v = gs_nn_loss_bce_logits (z, t, 12, d);
  CU_ASSERT (gs_test_reldiff (v, exact) < 1e-12);
  for (i = 0; i < 12; i++)
    {
      double p = 1 / (1 + exp (-(double)z[i]));
      CU_ASSERT (fabs (d[i] - (p - t[i]) / 12) < 1e-8);
    }
  e = grad_check (call_bce, z, t, 12, NULL);
  CU_ASSERT (e < 1e-4);
  printf ("\n    bce: loss %.6f, gradient rel. error %.2e", v, e);
  zz[0] = 100;
  zz[1] = -100;
  zz[2] = 100;
  zz[3] = -100;
  tt[0] = 0;
  tt[1] = 0;
  tt[2] = 1;
  tt[3] = 1;
  v = gs_nn_loss_bce_logits (zz, tt, 4, d);
  CU_ASSERT (isfinite (v) && fabs (v - 200.0 / 4) < 1e-12);
  CU_ASSERT (fabs (d[0] - 0.25) < 1e-9 && fabs (d[3] + 0.25) < 1e-9);

  /* MSE. */
  v = gs_nn_loss_mse (z, t, 12, d);
  exact = 0;
  for (i = 0; i < 12; i++)
    exact += ((double)z[i] - t[i]) * ((double)z[i] - t[i]);
  CU_ASSERT (gs_test_reldiff (v, exact / 12) < 1e-12);
  e = grad_check (call_mse, z, t, 12, NULL);
  CU_ASSERT (e < 1e-4);
  printf (", mse %.2e", e);

  /* Asymmetric: with no focusing and no clip it is BCE (eps = 1e-8 does
   * not clamp at these logits). */
  {
    double a0[4] = { 0, 0, 0, 1e-8 }, a1[4] = { 4, 1, 0.05, 1e-8 };
    float d2[12];
    double bce = gs_nn_loss_bce_logits (z, t, 12, d2);
    v = gs_nn_loss_asymmetric (z, t, 12, 0, 0, 0, 1e-8, d);
    CU_ASSERT (gs_test_reldiff (v, bce) < 1e-12);
    for (i = 0; i < 12; i++)
      CU_ASSERT (fabs (d[i] - d2[i]) < 1e-8);
    e = grad_check (call_asl, z, t, 12, a0);
    CU_ASSERT (e < 1e-4);
    /* One element each, by hand: t = 1, z = 0: -log(0.5) 0.5^1;
     * t = 0, z = 0: p_m = 0.45, -log(0.55) 0.45^4. */
    zz[0] = 0;
    tt[0] = 1;
    v = gs_nn_loss_asymmetric (zz, tt, 1, 4, 1, 0.05, 1e-8, NULL);
    CU_ASSERT (gs_test_reldiff (v, -log (0.5) * 0.5) < 1e-12);
    tt[0] = 0;
    v = gs_nn_loss_asymmetric (zz, tt, 1, 4, 1, 0.05, 1e-8, NULL);
    CU_ASSERT (gs_test_reldiff (v, -log (0.55) * pow (0.45, 4)) < 1e-12);
    /* Below the clip a negative costs nothing. */
    zz[0] = -4;
    v = gs_nn_loss_asymmetric (zz, tt, 1, 4, 1, 0.05, 1e-8, d);
    CU_ASSERT (v == 0 && d[0] == 0);
    /* Focusing and clipping: the gradient of the loss as stated (no
     * element sits on the clip's kink at p = 0.05, z = -2.944). */
    e = grad_check (call_asl, z, t, 12, a1);
    CU_ASSERT (e < 1e-4);
    printf (", asymmetric %.2e", e);
  }

  /* Soft cross-entropy: 3 rows of 4 classes. */
  {
    static const float ts[12]
        = { 1, 0, 0, 0, 0.25f, 0.25f, 0.5f, 0, 0.1f, 0.2f, 0.3f, 0.4f };
    float zb[2] = { 1000, 0 }, tb[2] = { 0, 1 };
    exact = 0;
    for (i = 0; i < 3; i++)
      {
        double s = 0;
        size_t c;
        for (c = 0; c < 4; c++)
          s += exp (z[4 * i + c]);
        for (c = 0; c < 4; c++)
          exact -= ts[4 * i + c] * (z[4 * i + c] - log (s));
      }
    exact /= 3;
    v = gs_nn_loss_soft_ce (z, ts, 3, 4, d);
    CU_ASSERT (gs_test_reldiff (v, exact) < 1e-12);
    classes = 4;
    e = grad_check (call_soft_ce, z, ts, 12, &classes);
    CU_ASSERT (e < 1e-4);
    printf (", soft ce %.2e", e);
    v = gs_nn_loss_soft_ce (zb, tb, 1, 2, d);
    CU_ASSERT (isfinite (v) && fabs (v - 1000) < 1e-9);
    CU_ASSERT (fabs (d[0] - 1) < 1e-7 && fabs (d[1] + 1) < 1e-7);
  }
}

/* ---- Optimisers ------------------------------------------------------------
 */

static void
test_optimisers (void)
{
  static const float p0[8]
      = { 0.5f, -1.0f, 0.25f, 2.0f, -0.125f, 0.0f, 1.5f, -3.0f };
  static const float g1[8]
      = { 0.1f, -0.2f, 0.0f, 1.0f, -3.0f, 0.5f, 1e-3f, -0.05f };
  static const float g2[8]
      = { -0.3f, 0.2f, 0.7f, 1.0f, 2.0f, -0.5f, 0.0f, 0.25f };
  const float *gs[2] = { g1, g2 };
  int kind;
  for (kind = 0; kind < 3; kind++)
    {
      gs_nn *nn = make_net ("- {type: linear, out: 2}\n", 3, 1, 1, 1);
      gs_nn_optim_opts o;
      gs_nn_optim *opt = NULL;
      double m[8] = { 0 }, v[8] = { 0 }, p[8], err = 0;
      float *pp, *gg;
      size_t n, i;
      int t;
      if (!nn)
        return;
      gs_nn_optim_opts_init (&o, (gs_nn_optim_kind)kind);
      CU_ASSERT (o.lr == 1e-3 && o.beta1 == 0.9 && o.beta2 == 0.999
                 && o.eps == 1e-8 && o.momentum == 0.9);
      CU_ASSERT (o.weight_decay == (kind == GS_NN_ADAMW ? 0.01 : 0));
      o.lr = 0.01;
      o.weight_decay = 0.1;
      pp = gs_nn_params (nn, &n);
      gg = gs_nn_grads (nn, NULL);
      CU_ASSERT_EQUAL (n, 8);
      memcpy (pp, p0, sizeof p0);
      for (i = 0; i < 8; i++)
        p[i] = p0[i];
      CU_ASSERT_EQUAL (gs_nn_optim_create (nn, &o, &opt), GS_OK);
      for (t = 1; t <= 2; t++)
        {
          memcpy (gg, gs[t - 1], sizeof g1);
          CU_ASSERT_EQUAL (gs_nn_optim_step (opt), GS_OK);
          /* PyTorch's torch.optim.{Adam, AdamW, SGD} single-tensor
           * updates, in double. */
          for (i = 0; i < 8; i++)
            {
              double g = gs[t - 1][i];
              if (kind == GS_NN_SGD)
                {
                  g += 0.1 * p[i];
                  m[i] = t == 1 ? g : 0.9 * m[i] + g;
                  p[i] -= 0.01 * m[i];
                  continue;
                }
              if (kind == GS_NN_ADAMW)
                p[i] *= 1 - 0.01 * 0.1;
              else
                g += 0.1 * p[i];
              m[i] = 0.9 * m[i] + 0.1 * g;
              v[i] = 0.999 * v[i] + 0.001 * g * g;
              p[i] -= 0.01 / (1 - pow (0.9, t)) * m[i]
                      / (sqrt (v[i]) / sqrt (1 - pow (0.999, t)) + 1e-8);
            }
          for (i = 0; i < 8; i++)
            err = fmax (err, fabs (pp[i] - p[i]));
        }
      /* float storage of p, m and v: agreement to a few float ulps. */
      CU_ASSERT (err < 1e-6);
      printf ("%s%s max |p - formula| %.1e", kind ? ", " : "\n    ",
              kind == 0   ? "adam"
              : kind == 1 ? "adamw"
                          : "sgd",
              err);
      gs_nn_optim_free (opt);
      gs_nn_free (nn);
    }
}

static void
test_schedules (void)
{
  gs_nn *nn = make_net ("- {type: linear, out: 1}\n", 2, 1, 1, 1);
  gs_nn_optim_opts o;
  gs_nn_optim *opt = NULL;
  int e;
  if (!nn)
    return;
  gs_nn_optim_opts_init (&o, GS_NN_ADAM);
  o.lr = 0.1;
  gs_nn_optim_create (nn, &o, &opt);
  for (e = 0; e < 5; e++, gs_nn_optim_epoch (opt))
    CU_ASSERT (gs_nn_optim_lr (opt) == 0.1);
  gs_nn_optim_free (opt);

  o.schedule = GS_NN_LR_STEP;
  o.step_size = 3; /* gamma 0: the step default 0.1 */
  gs_nn_optim_create (nn, &o, &opt);
  for (e = 0; e < 10; e++, gs_nn_optim_epoch (opt))
    CU_ASSERT (gs_test_reldiff (gs_nn_optim_lr (opt), 0.1 * pow (0.1, e / 3))
               < 1e-14);
  gs_nn_optim_free (opt);

  o.schedule = GS_NN_LR_EXPONENTIAL; /* default gamma 0.95 */
  gs_nn_optim_create (nn, &o, &opt);
  for (e = 0; e < 10; e++, gs_nn_optim_epoch (opt))
    CU_ASSERT (gs_test_reldiff (gs_nn_optim_lr (opt), 0.1 * pow (0.95, e))
               < 1e-14);
  gs_nn_optim_free (opt);

  o.gamma = 0.5;
  gs_nn_optim_create (nn, &o, &opt);
  gs_nn_optim_epoch (opt);
  gs_nn_optim_epoch (opt);
  CU_ASSERT (gs_test_reldiff (gs_nn_optim_lr (opt), 0.025) < 1e-14);
  gs_nn_optim_free (opt);

  o.lr = -1;
  CU_ASSERT_EQUAL (gs_nn_optim_create (nn, &o, &opt), GS_EINVAL);
  CU_ASSERT_PTR_NULL (opt);
  gs_nn_free (nn);
}

static void
test_early_stop (void)
{
  static const double loss[8]
      = { 1.0, 0.9, 0.95, 0.89, 0.897, 0.92, 0.93, 0.5 };
  /* patience 3, min_delta 0.005: improvements at epochs 0, 1, 3 (0.89 <
   * 0.895); 0.897 is no improvement; stop after epoch 6 (3 bad). */
  static const int want_stop[7] = { 0, 0, 0, 0, 0, 0, 1 };
  static const int want_imp[7] = { 1, 1, 0, 1, 0, 0, 0 };
  gs_nn_early_stop e;
  int i, imp;
  gs_nn_early_stop_init (&e, 3, 0.005);
  CU_ASSERT (e.best == HUGE_VAL && e.epoch == 0 && e.bad == 0);
  for (i = 0; i < 7; i++)
    {
      CU_ASSERT_EQUAL (gs_nn_early_stop_update (&e, loss[i], &imp),
                       want_stop[i]);
      CU_ASSERT_EQUAL (imp, want_imp[i]);
    }
  CU_ASSERT (e.best == 0.89 && e.best_epoch == 3 && e.bad == 3 && e.epoch == 7);
  gs_nn_early_stop_init (&e, 10, 0);
  CU_ASSERT_EQUAL (gs_nn_early_stop_update (&e, 1.0, NULL), 0);
  CU_ASSERT_EQUAL (gs_nn_early_stop_update (&e, NAN, &imp), 1);
  CU_ASSERT_EQUAL (imp, 0);
}

/* ---- Learning ---------------------------------------------------------------
 */

static void
test_fit_regression (void)
{
  /* 16 samples of 1 x 8, random targets: 81 parameters interpolate them. */
  gs_nn *nn = make_net ("- {type: conv1d, out: 8, kernel: 3}\n"
                        "- {type: relu}\n"
                        "- {type: linear, out: 1}\n",
                        1, 8, 1, 3);
  gs_nn_optim_opts o;
  gs_nn_optim *opt = NULL;
  float x[16 * 8], t[16], y[16], d[16];
  double l0 = 0, l = 0;
  int it;
  if (!nn)
    return;
  fill_gauss (x, 16 * 8, 1, 11);
  fill_gauss (t, 16, 1, 12);
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  gs_nn_optim_opts_init (&o, GS_NN_ADAM);
  o.lr = 1e-2;
  gs_nn_optim_create (nn, &o, &opt);
  for (it = 0; it < 3000; it++)
    {
      CU_ASSERT_EQUAL_FATAL (gs_nn_forward (nn, x, 16, y), GS_OK);
      l = gs_nn_loss_mse (y, t, 16, d);
      if (it == 0)
        l0 = l;
      if (l < 1e-4 * l0)
        break;
      gs_nn_zero_grad (nn);
      CU_ASSERT_EQUAL_FATAL (gs_nn_backward (nn, d, NULL), GS_OK);
      gs_nn_optim_step (opt);
    }
  printf ("\n    mse %.4g -> %.3g after %d Adam steps", l0, l, it);
  CU_ASSERT (l < 1e-3 * l0);
  gs_nn_optim_free (opt);
  gs_nn_free (nn);
}

static void
test_fit_classification (void)
{
  /* Class 1: a bump in the middle of the signal; class 0: at the edges;
   * both with noise.  BCE on one logit. */
  gs_nn *nn = make_net ("- {type: conv1d, out: 4, kernel: 5, padding: 2}\n"
                        "- {type: relu}\n"
                        "- {type: maxpool1d, kernel: 2}\n"
                        "- {type: linear, out: 1}\n",
                        1, 16, 1, 5);
  gs_nn_optim_opts o;
  gs_nn_optim *opt = NULL;
  float x[32 * 16], t[32], y[32], d[32];
  double l = 0;
  int i, j, it, correct = 0;
  if (!nn)
    return;
  fill_gauss (x, 32 * 16, 0.3, 21);
  for (i = 0; i < 32; i++)
    {
      t[i] = (float)(i % 2);
      for (j = 0; j < 16; j++)
        if (i % 2 ? (j >= 6 && j < 10) : (j < 2 || j >= 14))
          x[i * 16 + j] += 1.0f;
    }
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  gs_nn_optim_opts_init (&o, GS_NN_ADAM);
  o.lr = 1e-2;
  gs_nn_optim_create (nn, &o, &opt);
  for (it = 0; it < 500; it++)
    {
      CU_ASSERT_EQUAL_FATAL (gs_nn_forward (nn, x, 32, y), GS_OK);
      l = gs_nn_loss_bce_logits (y, t, 32, d);
      gs_nn_zero_grad (nn);
      gs_nn_backward (nn, d, NULL);
      gs_nn_optim_step (opt);
    }
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_forward (nn, x, 32, y);
  for (i = 0; i < 32; i++)
    correct += (y[i] > 0) == (t[i] > 0.5f);
  printf ("\n    bce %.3g after 500 steps, accuracy %d/32", l, correct);
  CU_ASSERT_EQUAL (correct, 32);
  gs_nn_optim_free (opt);
  gs_nn_free (nn);
}

/* ---- Model files ------------------------------------------------------------
 */

static const char *bn_arch = "- {type: conv1d, out: 4, kernel: 3}\n"
                             "- {type: batchnorm1d}\n"
                             "- {type: relu}\n"
                             "- {type: dropout, p: 0.2}\n"
                             "- {type: linear, out: 3}\n";

/* A conv / batchnorm / linear net after `steps` Adam steps on a batch of
 * `batch` (2 x 12 inputs, MSE to fixed targets). */
static gs_nn *
trained_net (int threads, int steps, int batch, uint64_t seed)
{
  gs_nn *nn = make_net (bn_arch, 2, 12, threads, seed);
  gs_nn_optim_opts o;
  gs_nn_optim *opt = NULL;
  float *x, *t, *y, *d;
  int s;
  if (!nn)
    return NULL;
  x = malloc ((size_t)batch * 24 * sizeof *x);
  t = malloc ((size_t)batch * 3 * sizeof *t);
  y = malloc ((size_t)batch * 3 * sizeof *y);
  d = malloc ((size_t)batch * 3 * sizeof *d);
  fill_gauss (x, (size_t)batch * 24, 1, 31);
  fill_gauss (t, (size_t)batch * 3, 1, 32);
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  gs_nn_optim_opts_init (&o, GS_NN_ADAMW);
  o.lr = 1e-2;
  gs_nn_optim_create (nn, &o, &opt);
  for (s = 0; s < steps; s++)
    {
      CU_ASSERT_EQUAL (gs_nn_forward (nn, x, batch, y), GS_OK);
      gs_nn_loss_mse (y, t, (size_t)batch * 3, d);
      gs_nn_zero_grad (nn);
      CU_ASSERT_EQUAL (gs_nn_backward (nn, d, NULL), GS_OK);
      gs_nn_optim_step (opt);
    }
  gs_nn_optim_free (opt);
  free (x);
  free (t);
  free (y);
  free (d);
  return nn;
}

/* The model file of a network in memory (malloc'd). */
static unsigned char *
save_bytes (gs_nn *nn, size_t *len)
{
  FILE *f = tmpfile ();
  unsigned char *buf;
  long n;
  CU_ASSERT_FATAL (f != NULL);
  CU_ASSERT_EQUAL (gs_nn_save (nn, f), GS_OK);
  n = ftell (f);
  rewind (f);
  buf = malloc ((size_t)n);
  CU_ASSERT_EQUAL (fread (buf, 1, (size_t)n, f), (size_t)n);
  fclose (f);
  *len = (size_t)n;
  return buf;
}

static int
load_bytes (const unsigned char *buf, size_t len, gs_nn **out)
{
  FILE *f = tmpfile ();
  int rc;
  if (len)
    fwrite (buf, 1, len, f);
  rewind (f);
  rc = gs_nn_load (f, NULL, out);
  fclose (f);
  return rc;
}

static void
test_save_load (void)
{
  gs_nn *nn = trained_net (1, 5, 10, 9), *back = NULL;
  unsigned char *buf;
  float x[5 * 24], y1[15], y2[15], *rm1, *rv1, *rm2, *rv2;
  size_t len, n1, n2, nr1, nr2;
  if (!nn)
    return;
  buf = save_bytes (nn, &len);
  CU_ASSERT (memcmp (buf, "GSNN", 4) == 0);
  CU_ASSERT_EQUAL_FATAL (load_bytes (buf, len, &back), GS_OK);
  CU_ASSERT_STRING_EQUAL (gs_nn_arch (back), gs_nn_arch (nn));
  gs_nn_params (nn, &n1);
  gs_nn_params (back, &n2);
  CU_ASSERT_EQUAL (n1, n2);
  CU_ASSERT (memcmp (gs_nn_params (nn, NULL), gs_nn_params (back, NULL),
                     n1 * sizeof (float))
             == 0);
  gs_nn_layer_arrays (nn, 1, NULL, NULL, NULL, NULL, &rm1, &rv1, &nr1);
  gs_nn_layer_arrays (back, 1, NULL, NULL, NULL, NULL, &rm2, &rv2, &nr2);
  CU_ASSERT (nr1 == 4 && nr2 == 4);
  CU_ASSERT (memcmp (rm1, rm2, 4 * sizeof (float)) == 0);
  CU_ASSERT (memcmp (rv1, rv2, 4 * sizeof (float)) == 0);
  CU_ASSERT (rm1[0] != 0.0f && rv1[0] != 1.0f); /* trained */
  fill_gauss (x, 5 * 24, 1, 41);
  gs_nn_set_mode (nn, GS_NN_EVAL);
  CU_ASSERT_EQUAL (gs_nn_mode (back), GS_NN_EVAL);
  gs_nn_forward (nn, x, 5, y1);
  gs_nn_forward (back, x, 5, y2);
  CU_ASSERT (memcmp (y1, y2, sizeof y1) == 0);
  /* A clone computes the same and shares nothing mutable. */
  {
    gs_nn *c = NULL;
    float y3[15];
    CU_ASSERT_EQUAL (gs_nn_clone (nn, &c), GS_OK);
    gs_nn_forward (c, x, 5, y3);
    CU_ASSERT (memcmp (y1, y3, sizeof y1) == 0);
    gs_nn_params (c, NULL)[0] += 1.0f;
    gs_nn_forward (nn, x, 5, y3);
    CU_ASSERT (memcmp (y1, y3, sizeof y1) == 0);
    gs_nn_free (c);
  }
  free (buf);
  gs_nn_free (back);
  gs_nn_free (nn);
}

static void
put32 (unsigned char *p, unsigned v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* FNV-1a 64 of the bytes before the checksum, stored in the last 8. */
static void
reseal (unsigned char *buf, size_t len)
{
  unsigned long long h = 14695981039346656037ull;
  size_t i;
  for (i = 0; i + 8 < len; i++)
    {
      h ^= buf[i];
      h *= 1099511628211ull;
    }
  for (i = 0; i < 8; i++)
    buf[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void
expect_format_error (const unsigned char *buf, size_t len, const char *what)
{
  gs_nn *nn = NULL;
  CU_ASSERT_EQUAL (load_bytes (buf, len, &nn), GS_EFORMAT);
  CU_ASSERT_PTR_NULL (nn);
  GS_ASSERT_CONTAINS (gs_last_error (), what);
  gs_nn_free (nn);
}

static void
test_corrupt_files (void)
{
  gs_nn *nn = make_net (bn_arch, 2, 12, 1, 1);
  unsigned char *buf, *bad;
  size_t len, arch_len = strlen (bn_arch), cut[7], i;
  char want[64];
  if (!nn)
    return;
  buf = save_bytes (nn, &len);
  bad = malloc (len);
  /* 4 magic + 4 version + 4 length + text + 8 shape + 16 counts + floats
   * (conv 24 + 4, batchnorm 4 + 4 and running 4 + 4, linear 120 + 3) + 8
   * checksum. */
  CU_ASSERT_EQUAL (len, 36 + arch_len + 4 * (28 + 8 + 8 + 123) + 8);

  memcpy (bad, buf, len);
  bad[0] = 'X';
  expect_format_error (bad, len, "bad magic");
  memcpy (bad, buf, len);
  put32 (bad + 4, 2);
  expect_format_error (bad, len, "version 2 is unsupported");
  memcpy (bad, buf, len);
  put32 (bad + 8, 0xffffffffu);
  expect_format_error (bad, len, "architecture length");
  /* A flipped bit anywhere after the header fields is caught by the
   * checksum (or the truncation it causes). */
  for (i = 12; i < len; i += 37)
    {
      memcpy (bad, buf, len);
      bad[i] ^= 0x10;
      expect_format_error (bad, len, i < 12 + arch_len + 24 ? "" : "checksum");
    }
  memcpy (bad, buf, len);
  bad[len - 20] ^= 1;
  expect_format_error (bad, len, "checksum mismatch");
  memcpy (bad, buf, len);
  bad[len - 1] ^= 0x80;
  expect_format_error (bad, len, "checksum mismatch");

  cut[0] = 0;
  cut[1] = 3;
  cut[2] = 10;
  cut[3] = 12 + arch_len / 2;
  cut[4] = 12 + arch_len + 10;
  cut[5] = len / 2 + 40;
  cut[6] = len - 1;
  for (i = 0; i < 7; i++)
    {
      snprintf (want, sizeof want, "truncated at byte %zu", cut[i]);
      expect_format_error (buf, cut[i], want);
    }

  /* Hostile counts: implausible, or plausible but beyond the file's end
   * (read as data arrives: no allocation of the claimed size). */
  {
    size_t np_at = 12 + arch_len + 8;
    memcpy (bad, buf, len);
    put32 (bad + np_at + 4, 0x10);
    expect_format_error (bad, len, "implausible");
    memcpy (bad, buf, len);
    put32 (bad + np_at, 0x7ffffff0u);
    snprintf (want, sizeof want, "truncated at byte %zu", len);
    expect_format_error (bad, len, want);
  }
  /* A consistent file whose counts disagree with its architecture: one
   * parameter fewer (158 instead of 159). */
  {
    size_t np_at = 12 + arch_len + 8, sl = len - 4;
    unsigned char *s = malloc (sl);
    memcpy (s, buf, np_at);
    put32 (s + np_at, 158);
    memcpy (s + np_at + 4, buf + np_at + 4, 4);
    memcpy (s + np_at + 8, buf + np_at + 8, 8);
    memcpy (s + np_at + 16, buf + np_at + 16, sl - np_at - 16 - 8);
    reseal (s, sl);
    expect_format_error (s, sl, "differs from the architecture's");
    free (s);
  }
  /* A consistent file with a broken architecture. */
  {
    unsigned char *s = malloc (len);
    memcpy (s, buf, len);
    memcpy (s + 12, "- {type: conv9d", 15);
    reseal (s, len);
    expect_format_error (s, len, "architecture");
    /* ... and one with a NaN parameter. */
    memcpy (s, buf, len);
    memset (s + 12 + arch_len + 24, 0xff, 4);
    reseal (s, len);
    expect_format_error (s, len, "not finite");
    free (s);
  }
  free (bad);
  free (buf);
  gs_nn_free (nn);
}

/* ---- Batchnorm, determinism, threads ------------------------------------ */

static void
test_batchnorm_modes (void)
{
  gs_nn *nn = trained_net (1, 10, 8, 2);
  float x[8 * 24], yb[8 * 3], yt[8 * 3], y1[3];
  double diff = 0, maxabs = 0;
  int i, k;
  if (!nn)
    return;
  fill_gauss (x, 8 * 24, 1, 51);
  gs_nn_set_mode (nn, GS_NN_BN_BATCH);
  gs_nn_forward (nn, x, 8, yt);
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_forward (nn, x, 8, yb);
  CU_ASSERT (memcmp (yt, yb, sizeof yt) != 0);
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  gs_nn_forward (nn, x, 8, yt);
  CU_ASSERT (memcmp (yt, yb, sizeof yt) != 0);
  /* That pass updated the running statistics: EVAL outputs anew. */
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_forward (nn, x, 8, yb);
  /* EVAL: each sample alone gives its row of the batch.  The batched
   * product may block differently, so allow float rounding. */
  for (i = 0; i < 8; i++)
    {
      gs_nn_forward (nn, x + 24 * i, 1, y1);
      for (k = 0; k < 3; k++)
        {
          diff = fmax (diff, fabs (y1[k] - yb[3 * i + k]));
          maxabs = fmax (maxabs, fabs (yb[3 * i + k]));
        }
    }
  printf ("\n    eval alone vs in batch: max diff %.2e (outputs up to %.2f)",
          diff, maxabs);
  CU_ASSERT (diff <= 1e-6 * fmax (1, maxabs));
  /* BN_BATCH without BN_UPDATE leaves the running statistics alone. */
  {
    float *rm, *rv, save[8];
    size_t nr;
    gs_nn_layer_arrays (nn, 1, NULL, NULL, NULL, NULL, &rm, &rv, &nr);
    memcpy (save, rm, 4 * sizeof (float));
    memcpy (save + 4, rv, 4 * sizeof (float));
    gs_nn_set_mode (nn, GS_NN_BN_BATCH);
    gs_nn_forward (nn, x, 8, yt);
    CU_ASSERT (memcmp (save, rm, 4 * sizeof (float)) == 0);
    CU_ASSERT (memcmp (save + 4, rv, 4 * sizeof (float)) == 0);
    gs_nn_set_mode (nn, GS_NN_BN_BATCH | GS_NN_BN_UPDATE);
    gs_nn_forward (nn, x, 8, yt);
    CU_ASSERT (memcmp (save, rm, 4 * sizeof (float)) != 0);
  }
  gs_nn_free (nn);
}

static void
test_determinism (void)
{
  gs_nn *a = trained_net (1, 6, 12, 77), *b = trained_net (1, 6, 12, 77);
  gs_nn *c = trained_net (1, 6, 12, 78);
  size_t n;
  if (a && b && c)
    {
      gs_nn_params (a, &n);
      CU_ASSERT (memcmp (gs_nn_params (a, NULL), gs_nn_params (b, NULL),
                         n * sizeof (float))
                 == 0);
      CU_ASSERT (memcmp (gs_nn_params (a, NULL), gs_nn_params (c, NULL),
                         n * sizeof (float))
                 != 0);
    }
  gs_nn_free (a);
  gs_nn_free (b);
  gs_nn_free (c);
}

static void
test_thread_invariance (void)
{
  /* 28 samples: 4 chunks of GS_NN_CHUNK (8), the last one partial. */
  gs_nn *a = trained_net (1, 5, 28, 5), *b = trained_net (2, 5, 28, 5);
  gs_nn *c = trained_net (3, 5, 28, 5), *e = trained_net (8, 5, 28, 5);
  size_t n;
  if (a && b && c && e)
    {
      gs_nn_params (a, &n);
      CU_ASSERT (memcmp (gs_nn_params (a, NULL), gs_nn_params (b, NULL),
                         n * sizeof (float))
                 == 0);
      CU_ASSERT (memcmp (gs_nn_params (a, NULL), gs_nn_params (c, NULL),
                         n * sizeof (float))
                 == 0);
      /* More workers than chunks. */
      CU_ASSERT (memcmp (gs_nn_params (a, NULL), gs_nn_params (e, NULL),
                         n * sizeof (float))
                 == 0);
    }
  gs_nn_free (a);
  gs_nn_free (b);
  gs_nn_free (c);
  gs_nn_free (e);
}

/* ---- Inference on caller memory ------------------------------------------ */

typedef struct infer_job
{
  const gs_nn *nn;
  const float *x;
  const float *want;
  int same;
} infer_job;

static void *
infer_thread (void *arg)
{
  infer_job *j = arg;
  size_t wb = gs_nn_infer_bytes (j->nn, 8);
  unsigned char *work = malloc (wb + 3);
  float y[8 * 3];
  int r;
  j->same = work != NULL;
  for (r = 0; r < 50 && work; r++)
    {
      /* An odd offset: the workspace may have any alignment. */
      if (gs_nn_infer (j->nn, work + 3, wb, j->x, 8, y) != GS_OK
          || memcmp (y, j->want, sizeof y) != 0)
        j->same = 0;
    }
  free (work);
  return NULL;
}

static void
test_infer (void)
{
  gs_nn *nn = trained_net (2, 4, 8, 12);
  float x[8 * 24], yf[8 * 3], yi[8 * 3], *rm, *rv, save[8];
  size_t wb, nr;
  void *work;
  infer_job jobs[4];
  pthread_t tid[4];
  int i;
  if (!nn)
    return;
  fill_gauss (x, 8 * 24, 1, 71);
  wb = gs_nn_infer_bytes (nn, 8);
  CU_ASSERT (wb > 0);
  CU_ASSERT (gs_nn_infer_bytes (nn, 1) < wb);
  CU_ASSERT_EQUAL (gs_nn_infer_bytes (nn, 0), 0);
  work = malloc (wb);
  /* EVAL: equal to forward's. */
  gs_nn_set_mode (nn, GS_NN_EVAL);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 8, yf), GS_OK);
  CU_ASSERT_EQUAL (gs_nn_infer (nn, work, wb, x, 8, yi), GS_OK);
  CU_ASSERT (memcmp (yf, yi, sizeof yf) == 0);
  CU_ASSERT_EQUAL (gs_nn_infer (nn, work, wb - 1, x, 8, yi), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "gs_nn_infer_bytes");
  /* TRAIN: batch statistics, but no dropout and no running update: equal
   * to forward in GS_NN_BN_BATCH. */
  gs_nn_layer_arrays (nn, 1, NULL, NULL, NULL, NULL, &rm, &rv, &nr);
  memcpy (save, rm, 4 * sizeof (float));
  memcpy (save + 4, rv, 4 * sizeof (float));
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  CU_ASSERT_EQUAL (gs_nn_infer (nn, work, wb, x, 8, yi), GS_OK);
  CU_ASSERT (memcmp (save, rm, 4 * sizeof (float)) == 0);
  CU_ASSERT (memcmp (save + 4, rv, 4 * sizeof (float)) == 0);
  gs_nn_set_mode (nn, GS_NN_BN_BATCH);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 8, yf), GS_OK);
  CU_ASSERT (memcmp (yf, yi, sizeof yf) == 0);
  /* Four threads at once on the same network. */
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_forward (nn, x, 8, yf);
  for (i = 0; i < 4; i++)
    {
      jobs[i].nn = nn;
      jobs[i].x = x;
      jobs[i].want = yf;
      jobs[i].same = 0;
      CU_ASSERT_EQUAL (pthread_create (&tid[i], NULL, infer_thread, &jobs[i]),
                       0);
    }
  for (i = 0; i < 4; i++)
    {
      pthread_join (tid[i], NULL);
      CU_ASSERT (jobs[i].same);
    }
  free (work);
  gs_nn_free (nn);
}

/* ---- Whole-network gradients --------------------------------------------- */

/* L = sum r . forward(x), evaluated in double from the float outputs. */
static double
net_loss (gs_nn *nn, const float *x, int batch, const float *r, float *y)
{
  size_t i, n = (size_t)batch * gs_nn_output_size (nn);
  double s = 0;
  gs_nn_forward (nn, x, batch, y);
  for (i = 0; i < n; i++)
    s += (double)r[i] * y[i];
  return s;
}

/* Backward against central differences of forward for every parameter
 * and input: returns ||analytic - numeric|| / ||numeric|| over both. */
static double
net_grad_check (const char *arch, int c, int l, int batch, int mode)
{
  gs_nn *nn = make_net (arch, c, l, 1, 4);
  size_t np, nx = (size_t)batch * c * l, no, i;
  float *x, *r, *y, *dx, *p, *g;
  double h = 1e-3, num = 0, den = 0;
  if (!nn)
    return HUGE_VAL;
  no = (size_t)batch * gs_nn_output_size (nn);
  x = malloc (nx * sizeof *x);
  dx = malloc (nx * sizeof *dx);
  r = malloc (no * sizeof *r);
  y = malloc (no * sizeof *y);
  fill_gauss (x, nx, 1, 61);
  fill_gauss (r, no, 1, 62);
  gs_nn_set_mode (nn, mode);
  p = gs_nn_params (nn, &np);
  g = gs_nn_grads (nn, NULL);
  /* A first backward with other output gradients leaves other values in
   * the intermediate gradient buffers: the checked pass must overwrite
   * or zero every one of them (layers write single-consumer gradients
   * without zeroing). */
  fill_gauss (y, no, 1, 63);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, batch, NULL), GS_OK);
  CU_ASSERT_EQUAL (gs_nn_backward (nn, y, dx), GS_OK);
  gs_nn_zero_grad (nn);
  net_loss (nn, x, batch, r, y);
  CU_ASSERT_EQUAL (gs_nn_backward (nn, r, dx), GS_OK);
  for (i = 0; i < np + nx; i++)
    {
      float *v = i < np ? &p[i] : &x[i - np];
      float v0 = *v;
      double lp, lm, fd, an = i < np ? g[i] : dx[i - np];
      float vp = (float)(v0 + h), vm = (float)(v0 - h);
      *v = vp;
      lp = net_loss (nn, x, batch, r, y);
      *v = vm;
      lm = net_loss (nn, x, batch, r, y);
      *v = v0;
      fd = (lp - lm) / ((double)vp - (double)vm);
      num += (an - fd) * (an - fd);
      den += fd * fd;
    }
  free (x);
  free (dx);
  free (r);
  free (y);
  gs_nn_free (nn);
  return sqrt (num / den);
}

static void
test_gradient_check (void)
{
  double e1, e2, e3;
  /* conv + batchnorm (batch statistics) + relu + linear. */
  e1 = net_grad_check ("- {type: conv1d, out: 3, kernel: 3}\n"
                       "- {type: batchnorm1d}\n"
                       "- {type: relu}\n"
                       "- {type: linear, out: 2}\n",
                       2, 10, 4, GS_NN_BN_BATCH);
  /* A residual add and a concat: gradients from several consumers. */
  e2 = net_grad_check ("- {type: conv1d, out: 3, kernel: 3, padding: 1,"
                       " name: a}\n"
                       "- {type: elu}\n"
                       "- {type: conv1d, out: 3, kernel: 3, padding: 1}\n"
                       "- {type: add, inputs: [a, -1]}\n"
                       "- {type: concat, inputs: [input, -1, a]}\n"
                       "- {type: linear, out: 2}\n",
                       2, 8, 3, GS_NN_EVAL);
  /* Turner-like chain: leaky ReLU, max-pool, (inactive) dropout,
   * flatten, linear, each writing its single-consumer input gradient. */
  e3 = net_grad_check ("- {type: conv1d, out: 4, kernel: 3, padding: 1}\n"
                       "- {type: leakyrelu, slope: 0.1}\n"
                       "- {type: conv1d, out: 4, kernel: 3, padding: 1}\n"
                       "- {type: leakyrelu, slope: 0.1}\n"
                       "- {type: maxpool1d, kernel: 2}\n"
                       "- {type: spatial_dropout, p: 0.5}\n"
                       "- {type: linear, out: 6}\n"
                       "- {type: dropout, p: 0.5}\n"
                       "- {type: linear, out: 2}\n",
                       2, 12, 3, GS_NN_EVAL);
  printf ("\n    gradient rel. error: conv/bn/relu/linear %.2e, "
          "residual/concat %.2e, leaky/maxpool/dropout %.2e",
          e1, e2, e3);
  CU_ASSERT (e1 < 1e-3);
  CU_ASSERT (e2 < 1e-3);
  CU_ASSERT (e3 < 1e-3);
}

/* ---- Several inputs and outputs ------------------------------------ */

static const char *const multi_arch
    = "- {type: conv1d, out: 3, kernel: 3, padding: 1}\n"
      "- {type: elu, name: z1}\n"
      "- {type: input, name: b, channels: 3, length: 8}\n"
      "- {type: convtranspose1d, out: 3, kernel: 3, padding: 1, "
      "inputs: [b]}\n"
      "- {type: elu}\n"
      "- {type: add, inputs: [z1, -1], weights: [1.0, 0.5]}\n"
      "- {type: upsample, mode: linear, size: 12}\n"
      "- {type: linear, out: 2}\n";

/* L = r_out . output + r_z . z1 */
static double
multi_loss (gs_nn *nn, const float *x, const float *b, int batch,
            const float *ro, const float *rz, size_t zl)
{
  const float *ex[1] = { b };
  const float *z;
  size_t i, no = (size_t)batch * gs_nn_output_size (nn);
  double s = 0;
  CU_ASSERT_EQUAL (gs_nn_forward_multi (nn, x, ex, batch, NULL), GS_OK);
  for (i = 0; i < no; i++)
    s += (double)ro[i] * gs_nn_output (nn)[i];
  z = gs_nn_layer_output (nn, zl);
  for (i = 0; i < (size_t)batch * 3 * 8; i++)
    s += (double)rz[i] * z[i];
  return s;
}

/* Cumulative re-estimation: after a reset, the running statistics are
 * the plain averages of the batches' means and unbiased variances. */
static void
test_bn_cumulative (void)
{
  gs_nn *nn = make_net ("- {type: batchnorm1d, momentum: 0.3}\n", 2, 5, 1, 3);
  enum { B = 4, NB = 3 };
  float x[NB][B * 2 * 5], *rm = NULL, *rv = NULL;
  double want_m[2] = { 0, 0 }, want_v[2] = { 0, 0 };
  size_t nr = 0;
  int k, c, n, t;
  if (!nn)
    return;
  for (k = 0; k < NB; k++)
    {
      fill_gauss (x[k], B * 2 * 5, 1.0 + k, 80 + (unsigned long)k);
      for (c = 0; c < 2; c++)
        {
          double m = 0, v = 0;
          for (n = 0; n < B; n++)
            for (t = 0; t < 5; t++)
              m += x[k][(n * 2 + c) * 5 + t];
          m /= B * 5;
          for (n = 0; n < B; n++)
            for (t = 0; t < 5; t++)
              v += (x[k][(n * 2 + c) * 5 + t] - m)
                   * (x[k][(n * 2 + c) * 5 + t] - m);
          want_m[c] += m / NB;
          want_v[c] += v / (B * 5 - 1) / NB;
        }
    }
  /* some momentum updates first: the reset must forget them */
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x[0], B, NULL), GS_OK);
  gs_nn_bn_reset_running (nn);
  gs_nn_set_mode (nn, GS_NN_BN_BATCH | GS_NN_BN_UPDATE | GS_NN_BN_CUMULATIVE);
  CU_ASSERT_EQUAL (gs_nn_mode (nn),
                   GS_NN_BN_BATCH | GS_NN_BN_UPDATE | GS_NN_BN_CUMULATIVE);
  for (k = 0; k < NB; k++)
    CU_ASSERT_EQUAL (gs_nn_forward (nn, x[k], B, NULL), GS_OK);
  CU_ASSERT_EQUAL (gs_nn_layer_arrays (nn, 0, NULL, NULL, NULL, NULL, &rm,
                                       &rv, &nr),
                   GS_OK);
  CU_ASSERT_EQUAL_FATAL (nr, 2);
  for (c = 0; c < 2; c++)
    {
      CU_ASSERT (fabs (rm[c] - want_m[c]) < 1e-5 * (1 + fabs (want_m[c])));
      CU_ASSERT (fabs (rv[c] - want_v[c]) < 1e-5 * (1 + want_v[c]));
    }
  gs_nn_free (nn);
}

static void
test_multi_io (void)
{
  gs_nn *nn = make_net (multi_arch, 2, 8, 1, 5);
  enum { B = 3 };
  float x[B * 2 * 8], b[B * 3 * 8], ro[B * 2], rz[B * 3 * 8];
  float dx[B * 2 * 8], db[B * 3 * 8], yo[B * 2], yi[B * 2];
  float *dex[1] = { db };
  const float *douts[2] = { ro, rz }, *ex[1] = { b };
  size_t zl, last, ls[2], np, i;
  double num = 0, den = 0, h = 1e-3, err;
  float *p, *g;
  void *work;
  if (!nn)
    return;
  CU_ASSERT_EQUAL (gs_nn_n_extra_inputs (nn), 1);
  CU_ASSERT_EQUAL (gs_nn_extra_input_layer (nn, 0), 2);
  CU_ASSERT_EQUAL (gs_nn_find_layer (nn, "z1", &zl), GS_OK);
  CU_ASSERT_EQUAL (zl, 1);
  CU_ASSERT_EQUAL (gs_nn_find_layer (nn, "nope", &i), GS_EINVAL);
  last = gs_nn_n_layers (nn) - 1;
  ls[0] = last;
  ls[1] = zl;
  fill_gauss (x, sizeof x / sizeof *x, 1, 71);
  fill_gauss (b, sizeof b / sizeof *b, 1, 72);
  fill_gauss (ro, sizeof ro / sizeof *ro, 1, 73);
  fill_gauss (rz, sizeof rz / sizeof *rz, 1, 74);
  /* a network with input layers must be fed them */
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, B, NULL), GS_EINVAL);
  gs_nn_set_mode (nn, GS_NN_EVAL);
  p = gs_nn_params (nn, &np);
  g = gs_nn_grads (nn, NULL);
  gs_nn_zero_grad (nn);
  multi_loss (nn, x, b, B, ro, rz, zl);
  CU_ASSERT_EQUAL (gs_nn_backward_multi (nn, 2, ls, douts, dx, dex), GS_OK);
  for (i = 0; i < np + sizeof x / sizeof *x + sizeof b / sizeof *b; i++)
    {
      size_t nx = sizeof x / sizeof *x;
      float *v = i < np ? &p[i] : i < np + nx ? &x[i - np] : &b[i - np - nx];
      double an = i < np ? g[i] : i < np + nx ? dx[i - np] : db[i - np - nx];
      float v0 = *v, vp = (float)(v0 + h), vm = (float)(v0 - h);
      double lp, lm, fd;
      *v = vp;
      lp = multi_loss (nn, x, b, B, ro, rz, zl);
      *v = vm;
      lm = multi_loss (nn, x, b, B, ro, rz, zl);
      *v = v0;
      fd = (lp - lm) / ((double)vp - (double)vm);
      num += (an - fd) * (an - fd);
      den += fd * fd;
    }
  err = sqrt (num / den);
  printf ("\n    two inputs, gradients injected at two layers: rel. error "
          "%.2e",
          err);
  CU_ASSERT (err < 1e-3);
  /* const inference with the extra input equals forward */
  CU_ASSERT_EQUAL (gs_nn_forward_multi (nn, x, ex, B, yo), GS_OK);
  work = malloc (gs_nn_infer_bytes (nn, B));
  CU_ASSERT_EQUAL (gs_nn_infer_multi (nn, work, gs_nn_infer_bytes (nn, B), x,
                                      ex, B, yi),
                   GS_OK);
  CU_ASSERT (memcmp (yo, yi, sizeof yo) == 0);
  CU_ASSERT_EQUAL (gs_nn_infer (nn, work, gs_nn_infer_bytes (nn, B), x, B,
                                yi),
                   GS_EINVAL);
  free (work);
  /* injecting at the last layer only equals the plain backward */
  {
    float g1[64], dx1[B * 2 * 8];
    size_t n1 = np < 64 ? np : 64;
    gs_nn_zero_grad (nn);
    multi_loss (nn, x, b, B, ro, rz, zl);
    CU_ASSERT_EQUAL (gs_nn_backward (nn, ro, dx1), GS_OK);
    memcpy (g1, g, n1 * sizeof (float));
    gs_nn_zero_grad (nn);
    multi_loss (nn, x, b, B, ro, rz, zl);
    CU_ASSERT_EQUAL (gs_nn_backward_multi (nn, 1, &last, douts, dx, NULL),
                     GS_OK);
    CU_ASSERT (memcmp (g1, g, n1 * sizeof (float)) == 0);
    CU_ASSERT (memcmp (dx1, dx, sizeof dx) == 0);
    /* misuse: a layer twice, out of range */
    ls[1] = last;
    CU_ASSERT_EQUAL (gs_nn_backward_multi (nn, 2, ls, douts, dx, NULL),
                     GS_EINVAL);
    ls[1] = 99;
    CU_ASSERT_EQUAL (gs_nn_backward_multi (nn, 2, ls, douts, dx, NULL),
                     GS_EINVAL);
  }
  gs_nn_free (nn);
}

static void
test_multi_errors (void)
{
  static const char *const bad[] = {
    "- {type: input, channels: 2, length: 4, inputs: [input]}\n",
    "- {type: input, channels: 2}\n",
    "- {type: conv1d, out: 2, kernel: 1, name: a}\n"
    "- {type: add, inputs: [a, input], weights: [1, 2, 3]}\n",
    "- {type: conv1d, out: 2, kernel: 1, name: a}\n"
    "- {type: add, inputs: [a, input], weights: 2}\n",
  };
  static const char *const want[]
      = { "takes no 'inputs'", "missing option 'length'", "3 weights for 2",
          "weights must be a list" };
  size_t i;
  for (i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      gs_nn_opts o;
      gs_nn *nn = NULL;
      gs_nn_opts_init (&o);
      CU_ASSERT_EQUAL (gs_nn_create (bad[i], 2, 4, &o, &nn), GS_ECONFIG);
      CU_ASSERT_PTR_NULL (nn);
      if (!strstr (gs_last_error (), want[i]))
        printf ("\n    case %zu: '%s' lacks '%s'", i, gs_last_error (),
                want[i]);
      CU_ASSERT_PTR_NOT_NULL (strstr (gs_last_error (), want[i]));
    }
}

static void
test_misuse (void)
{
  gs_nn *nn = make_net ("- {type: linear, out: 2}\n", 3, 1, 1, 1);
  float x[3] = { 1, 2, 3 }, d[2] = { 1, 1 };
  if (!nn)
    return;
  CU_ASSERT_EQUAL (gs_nn_backward (nn, d, NULL), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 0, NULL), GS_EINVAL);
  CU_ASSERT_PTR_NULL (gs_nn_output (nn));
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 1, NULL), GS_OK);
  CU_ASSERT_PTR_NOT_NULL (gs_nn_output (nn));
  CU_ASSERT_EQUAL (gs_nn_set_threads (nn, 0), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_nn_set_threads (nn, 2), GS_OK);
  /* The thread count changed: the activations are gone. */
  CU_ASSERT_EQUAL (gs_nn_backward (nn, d, NULL), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 1, NULL), GS_OK);
  CU_ASSERT_EQUAL (gs_nn_backward (nn, d, NULL), GS_OK);
  /* Buffers regrow for a larger batch: 40 copies of x give 40 equal rows. */
  {
    float xs[40 * 3], ys[40 * 2], y1[2];
    int i, same = 1;
    for (i = 0; i < 40; i++)
      memcpy (xs + 3 * i, x, sizeof x);
    CU_ASSERT_EQUAL (gs_nn_forward (nn, x, 1, y1), GS_OK);
    CU_ASSERT_EQUAL (gs_nn_forward (nn, xs, 40, ys), GS_OK);
    for (i = 0; i < 40; i++)
      same &= memcmp (ys + 2 * i, y1, sizeof y1) == 0;
    CU_ASSERT (same);
    CU_ASSERT (memcmp (gs_nn_output (nn), ys, sizeof ys) == 0);
  }
  gs_nn_free (nn);
  gs_nn_free (NULL);
}

void gs_test_register_nn (void);

void
gs_test_register_nn (void)
{
  CU_pSuite s = CU_add_suite ("nn", NULL, NULL);
  CU_add_test (s, "architecture: valid networks", test_arch_valid);
  CU_add_test (s, "architecture: errors name the layer", test_arch_errors);
  CU_add_test (s, "initialisation he/glorot/torch", test_init);
  CU_add_test (s, "losses vs closed forms and differences", test_losses);
  CU_add_test (s, "adam/adamw/sgd vs PyTorch formulas", test_optimisers);
  CU_add_test (s, "learning-rate schedules", test_schedules);
  CU_add_test (s, "early stopping", test_early_stop);
  CU_add_test (s, "fit: regression to near-zero mse", test_fit_regression);
  CU_add_test (s, "fit: separable classes", test_fit_classification);
  CU_add_test (s, "model file round trip", test_save_load);
  CU_add_test (s, "corrupt model files", test_corrupt_files);
  CU_add_test (s, "batchnorm train vs eval", test_batchnorm_modes);
  CU_add_test (s, "determinism under a seed", test_determinism);
  CU_add_test (s, "thread-count invariance", test_thread_invariance);
  CU_add_test (s, "inference on caller memory", test_infer);
  CU_add_test (s, "whole-network gradient check", test_gradient_check);
  CU_add_test (s, "misuse", test_misuse);
  CU_add_test (s, "batchnorm cumulative re-estimation", test_bn_cumulative);
  CU_add_test (s, "several inputs and outputs", test_multi_io);
  CU_add_test (s, "input layers and weighted add: errors", test_multi_errors);
}
