/* The NN layer kernels (core/src/nn_layers.c) one layer at a time:
 * shapes and their errors, forward passes against hand-computed values
 * and double-precision reference loops, finite-difference gradient checks
 * of every kind (dL/dx and dL/dparams for L = sum r .* y, central
 * differences of the float forward, relative error < 1e-3), batchnorm
 * and dropout semantics, and bit-identical results at any thread count. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/nn.h"
#include "gspec/status.h"
#include "nn_internal.h"
#include "test_util.h"

#define GC_TOL 1e-3     /* gradient check: relative error */
#define BIG_BATCH (2 * GS_NN_CHUNK + 3) /* chunks smaller than the batch */

/* ---- Random numbers ------------------------------------------------- */

static uint64_t rng_state = 12345;

static double
rnd_u (void)
{
  uint64_t z = (rng_state += UINT64_C (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}

static double
rnd_n (void)
{
  return sqrt (-2 * log (rnd_u ())) * cos (6.283185307179586 * rnd_u ());
}

/* ---- A 2- or 3-thread pool for ctx->parallel -------------------------- */

static _Thread_local int tp_index;

typedef struct tp_run
{
  gs_nn_task_fn fn;
  void *arg;
  size_t n, next;
  int status;
  pthread_mutex_t mu;
} tp_run;

typedef struct tp_worker
{
  tp_run *run;
  int index;
} tp_worker;

static void *
tp_main (void *a)
{
  tp_worker *w = a;
  tp_run *r = w->run;
  tp_index = w->index;
  for (;;)
    {
      size_t i;
      int rc;
      pthread_mutex_lock (&r->mu);
      i = r->next++;
      pthread_mutex_unlock (&r->mu);
      if (i >= r->n)
        break;
      rc = r->fn (r->arg, i);
      if (rc)
        {
          pthread_mutex_lock (&r->mu);
          if (!r->status)
            r->status = rc;
          pthread_mutex_unlock (&r->mu);
        }
    }
  return NULL;
}

static int
tp_parallel (void *pool, size_t n, gs_nn_task_fn fn, void *arg)
{
  int T = *(const int *)pool, t;
  pthread_t tid[8];
  tp_worker w[8];
  tp_run r;
  r.fn = fn;
  r.arg = arg;
  r.n = n;
  r.next = 0;
  r.status = 0;
  pthread_mutex_init (&r.mu, NULL);
  for (t = 0; t < T; t++)
    {
      w[t].run = &r;
      w[t].index = t;
      pthread_create (&tid[t], NULL, tp_main, &w[t]);
    }
  for (t = 0; t < T; t++)
    pthread_join (tid[t], NULL);
  pthread_mutex_destroy (&r.mu);
  return r.status;
}

static int
tp_thread_index (void *pool)
{
  (void)pool;
  return tp_index;
}

static int tp_threads[9] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };

/* threads 0: no ctx->parallel (serial). */
static gs_nn_ctx
mkctx (int batch, int mode, int threads)
{
  gs_nn_ctx c;
  memset (&c, 0, sizeof c);
  c.batch = batch;
  c.mode = mode;
  c.seed = 42;
  c.step = 7;
  c.threads = threads > 0 ? threads : 1;
  if (threads > 0)
    {
      c.parallel = tp_parallel;
      c.pool = &tp_threads[threads];
      c.thread_index = tp_thread_index;
    }
  return c;
}

/* ---- A layer with its arrays ------------------------------------------ */

typedef struct tl
{
  gs_nn_layer L;
  float *params, *grads, *running;
  size_t n_params;
  void *scratch;
} tl;

static void
tl_init (tl *t, gs_nn_kind k, int in_c, int in_l)
{
  memset (t, 0, sizeof *t);
  t->L.kind = k;
  t->L.index = 3;
  t->L.n_in = 1;
  t->L.in[0] = -1;
  t->L.in_c[0] = in_c;
  t->L.in_l[0] = in_l;
  t->L.stride = 1;
  t->L.dilation = 1;
  t->L.bias = 1;
  t->L.eps = 1e-5;
  t->L.momentum = 0.1;
  t->L.alpha = k == GS_NN_LEAKYRELU ? 0.01 : 1.0;
  t->L.p = 0.5;
}

/* Shape, parameters (random), running statistics; returns the shape's
 * status. */
static int
tl_setup (tl *t)
{
  size_t nw, nb, nr, i;
  double fan_in, fan_out;
  int rc = gs_nn_layer_shape (&t->L);
  if (rc != GS_OK)
    return rc;
  gs_nn_layer_param_sizes (&t->L, &nw, &nb, &nr);
  gs_nn_layer_fans (&t->L, &fan_in, &fan_out);
  t->n_params = nw + nb;
  t->params = calloc (nw + nb + 1, sizeof (float));
  t->grads = calloc (nw + nb + 1, sizeof (float));
  t->running = calloc (2 * nr + 1, sizeof (float));
  if (nw)
    {
      t->L.w = t->params;
      t->L.dw = t->grads;
      t->L.n_w = nw;
    }
  if (nb)
    {
      t->L.b = t->params + nw;
      t->L.db = t->grads + nw;
      t->L.n_b = nb;
    }
  for (i = 0; i < nw; i++)
    t->params[i] = t->L.kind == GS_NN_BATCHNORM1D
                       ? (float)(1 + 0.3 * rnd_n ())
                       : (float)(rnd_n () / sqrt (fan_in > 0 ? fan_in : 1));
  for (i = 0; i < nb; i++)
    t->params[nw + i] = (float)(0.5 * rnd_n ());
  if (nr)
    {
      t->L.running_mean = t->running;
      t->L.running_var = t->running + nr;
      t->L.n_running = nr;
      for (i = 0; i < nr; i++)
        {
          t->running[i] = (float)(0.3 * rnd_n ());
          t->running[nr + i] = (float)(0.5 + rnd_u ());
        }
    }
  return GS_OK;
}

static void
tl_scratch (tl *t, int batch, int threads)
{
  size_t n = gs_nn_layer_scratch (&t->L, batch, threads > 0 ? threads : 1);
  free (t->scratch);
  t->scratch = n ? malloc (n) : NULL;
  if (n)
    memset (t->scratch, 0xA5, n); /* no reliance on zeroed scratch */
  t->L.scratch = t->scratch;
}

static void
tl_free (tl *t)
{
  free (t->params);
  free (t->grads);
  free (t->running);
  free (t->scratch);
  memset (t, 0, sizeof *t);
}

static size_t
tl_in_n (const tl *t, int i, int batch)
{
  return (size_t)batch * t->L.in_c[i] * t->L.in_l[i];
}

static size_t
tl_out_n (const tl *t, int batch)
{
  return (size_t)batch * t->L.c * t->L.l;
}

/* ---- Gradient check ------------------------------------------------- */

enum
{
  IN_NORMAL = 0,
  IN_AWAY0,    /* |x| >= 0.2: no kink of relu & co. within h */
  IN_SEPARATED /* distinct values 0.05 apart: no max-pool ties within h */
};

static void
fill_input (float *x, size_t n, int kind)
{
  size_t i;
  if (kind == IN_SEPARATED)
    {
      for (i = 0; i < n; i++)
        x[i] = (float)(((double)i - n / 2.0) * 0.05);
      for (i = n; i > 1; i--)
        {
          size_t k = (size_t)(rnd_u () * i);
          float v = x[i - 1];
          x[i - 1] = x[k];
          x[k] = v;
        }
      return;
    }
  for (i = 0; i < n; i++)
    {
      double v = rnd_n ();
      if (kind == IN_AWAY0)
        v = (v < 0 ? -1 : 1) * (0.2 + fabs (v));
      x[i] = (float)v;
    }
}

static double
loss_of (const float *y, const double *r, size_t n)
{
  double s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    s += r[i] * y[i];
  return s;
}

static double
relerr (const double *a, const double *ref, size_t n)
{
  double d = 0, s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    {
      d += (a[i] - ref[i]) * (a[i] - ref[i]);
      s += ref[i] * ref[i];
    }
  if (s == 0)
    return sqrt (d);
  return sqrt (d / s);
}

/* Numerical dL/dv for every element of v (float array of n) by central
 * differences of the float forward. */
static void
numgrad (tl *t, const gs_nn_ctx *ctx, const float **xs, float *y,
         const double *r, float *v, size_t n, double h, double *out)
{
  size_t i, ny = tl_out_n (t, ctx->batch);
  for (i = 0; i < n; i++)
    {
      float v0 = v[i], vp = (float)(v0 + h), vm = (float)(v0 - h);
      double lp, lm;
      v[i] = vp;
      gs_nn_layer_forward (&t->L, ctx, xs, y);
      lp = loss_of (y, r, ny);
      v[i] = vm;
      gs_nn_layer_forward (&t->L, ctx, xs, y);
      lm = loss_of (y, r, ny);
      v[i] = v0;
      out[i] = (lp - lm) / ((double)vp - (double)vm);
    }
}

static double gc_max[GS_NN_N_KINDS];

/* Checks dL/dx (every input) and dL/dparams of a set-up layer; prints and
 * asserts the relative errors. */
static void
gradcheck (tl *t, const char *what, int batch, int mode, int threads,
           int in_kind, double h)
{
  gs_nn_ctx ctx = mkctx (batch, mode, threads);
  const float *xs[GS_NN_MAX_INPUTS];
  float *x[GS_NN_MAX_INPUTS], *dx[GS_NN_MAX_INPUTS], *y, *dy;
  double *r, *ga, *gn, ex = 0, ep = 0;
  size_t ny = tl_out_n (t, batch), nmax = ny + t->n_params, i;
  int k, rc;
  for (k = 0; k < t->L.n_in; k++)
    if (tl_in_n (t, k, batch) > nmax)
      nmax = tl_in_n (t, k, batch);
  tl_scratch (t, batch, threads);
  for (k = 0; k < t->L.n_in; k++)
    {
      size_t n = tl_in_n (t, k, batch);
      x[k] = malloc (n * sizeof (float));
      dx[k] = malloc (n * sizeof (float));
      fill_input (x[k], n, in_kind);
      for (i = 0; i < n; i++)
        dx[k][i] = 0.5f;
      xs[k] = x[k];
    }
  y = malloc (ny * sizeof (float));
  dy = malloc (ny * sizeof (float));
  r = malloc (ny * sizeof (double));
  ga = malloc (nmax * sizeof (double));
  gn = malloc (nmax * sizeof (double));
  for (i = 0; i < ny; i++)
    {
      dy[i] = (float)rnd_n ();
      r[i] = dy[i];
    }
  for (i = 0; i < t->n_params; i++)
    t->grads[i] = 0.25f;

  rc = gs_nn_layer_forward (&t->L, &ctx, xs, y);
  CU_ASSERT_EQUAL_FATAL (rc, GS_OK);
  rc = gs_nn_layer_backward (&t->L, &ctx, xs, y, dy, dx);
  CU_ASSERT_EQUAL_FATAL (rc, GS_OK);

  for (k = 0; k < t->L.n_in; k++)
    {
      size_t n = tl_in_n (t, k, batch);
      double e;
      for (i = 0; i < n; i++)
        ga[i] = (double)dx[k][i] - 0.5;
      numgrad (t, &ctx, xs, y, r, x[k], n, h, gn);
      e = relerr (ga, gn, n);
      if (e > ex)
        ex = e;
    }
  if (t->n_params)
    {
      for (i = 0; i < t->n_params; i++)
        ga[i] = (double)t->grads[i] - 0.25;
      numgrad (t, &ctx, xs, y, r, t->params, t->n_params, h, gn);
      ep = relerr (ga, gn, t->n_params);
    }
  printf ("\n    gradcheck %-40s dx %.2e  dparams %.2e", what, ex, ep);
  if (!(ex < GC_TOL && ep < GC_TOL))
    fprintf (stderr, "\n  gradcheck %s failed: dx %.3e dparams %.3e\n",
             what, ex, ep);
  CU_ASSERT (ex < GC_TOL);
  CU_ASSERT (ep < GC_TOL);
  if (ex > gc_max[t->L.kind])
    gc_max[t->L.kind] = ex;
  if (ep > gc_max[t->L.kind])
    gc_max[t->L.kind] = ep;
  for (k = 0; k < t->L.n_in; k++)
    {
      free (x[k]);
      free (dx[k]);
    }
  free (y);
  free (dy);
  free (r);
  free (ga);
  free (gn);
}

/* ---- Kind names, sizes, hash ------------------------------------------ */

static void
test_names_sizes (void)
{
  int k, i;
  tl t;
  size_t nw, nb, nr;
  double fi, fo;
  for (k = 0; k < GS_NN_N_KINDS; k++)
    {
      const char *n = gs_nn_kind_name ((gs_nn_kind)k);
      CU_ASSERT (n && n[0]);
      for (i = 0; i < k; i++)
        if (k != GS_NN_UPSAMPLE_NEAREST)
          CU_ASSERT (strcmp (n, gs_nn_kind_name ((gs_nn_kind)i)) != 0);
    }
  CU_ASSERT_STRING_EQUAL (gs_nn_kind_name (GS_NN_CONVT1D),
                          "convtranspose1d");
  CU_ASSERT_STRING_EQUAL (gs_nn_kind_name (GS_NN_UPSAMPLE_LINEAR),
                          "upsample");

  tl_init (&t, GS_NN_CONV1D, 3, 20);
  t.L.out = 4;
  t.L.kernel = 5;
  CU_ASSERT_EQUAL (tl_setup (&t), GS_OK);
  gs_nn_layer_param_sizes (&t.L, &nw, &nb, &nr);
  gs_nn_layer_fans (&t.L, &fi, &fo);
  CU_ASSERT (nw == 60 && nb == 4 && nr == 0);
  CU_ASSERT (fi == 15 && fo == 20);
  CU_ASSERT (gs_nn_layer_macs (&t.L) == 4.0 * 3 * 5 * 16);
  tl_free (&t);

  tl_init (&t, GS_NN_CONVT1D, 3, 20);
  t.L.out = 4;
  t.L.kernel = 5;
  t.L.bias = 0;
  CU_ASSERT_EQUAL (tl_setup (&t), GS_OK);
  gs_nn_layer_param_sizes (&t.L, &nw, &nb, &nr);
  gs_nn_layer_fans (&t.L, &fi, &fo);
  CU_ASSERT (nw == 60 && nb == 0 && nr == 0);
  CU_ASSERT (fi == 20 && fo == 15); /* PyTorch: dim 1 of (in, out, k) */
  CU_ASSERT (gs_nn_layer_macs (&t.L) == 3.0 * 4 * 5 * 20);
  tl_free (&t);

  tl_init (&t, GS_NN_LINEAR, 3, 20);
  t.L.out = 7;
  CU_ASSERT_EQUAL (tl_setup (&t), GS_OK);
  gs_nn_layer_param_sizes (&t.L, &nw, &nb, &nr);
  CU_ASSERT (nw == 420 && nb == 7 && nr == 0);
  CU_ASSERT (t.L.c == 7 && t.L.l == 1);
  CU_ASSERT (gs_nn_layer_macs (&t.L) == 420);
  tl_free (&t);

  tl_init (&t, GS_NN_BATCHNORM1D, 6, 20);
  CU_ASSERT_EQUAL (tl_setup (&t), GS_OK);
  gs_nn_layer_param_sizes (&t.L, &nw, &nb, &nr);
  CU_ASSERT (nw == 6 && nb == 6 && nr == 6);
  tl_free (&t);

  tl_init (&t, GS_NN_RELU, 6, 20);
  CU_ASSERT_EQUAL (tl_setup (&t), GS_OK);
  gs_nn_layer_param_sizes (&t.L, &nw, &nb, &nr);
  CU_ASSERT (nw == 0 && nb == 0 && nr == 0);
  CU_ASSERT (gs_nn_layer_macs (&t.L) == 0);
  tl_free (&t);
}

static void
test_hash (void)
{
  double s = 0, u;
  int i, n = 100000;
  for (i = 0; i < n; i++)
    {
      u = gs_nn_hash_uniform (1, 2, 3, (uint64_t)i);
      CU_ASSERT (u >= 0 && u < 1);
      s += u;
    }
  /* mean of n uniforms: sd 0.289 / sqrt(n) = 9e-4; 5 sd */
  CU_ASSERT (fabs (s / n - 0.5) < 5 * 0.289 / sqrt (n));
  u = gs_nn_hash_uniform (1, 2, 3, 4);
  CU_ASSERT (u == gs_nn_hash_uniform (1, 2, 3, 4));
  CU_ASSERT (u != gs_nn_hash_uniform (2, 2, 3, 4));
  CU_ASSERT (u != gs_nn_hash_uniform (1, 3, 3, 4));
  CU_ASSERT (u != gs_nn_hash_uniform (1, 2, 4, 4));
  CU_ASSERT (u != gs_nn_hash_uniform (1, 2, 3, 5));
}

/* ---- Shapes and shape errors ----------------------------------------- */

typedef struct bad_case
{
  gs_nn_kind kind;
  int in_c, in_l, out, kernel, stride, padding, dilation, opad;
  double p, eps, momentum;
  int scale, size;
  const char *expect;
} bad_case;

static void
test_shape_errors (void)
{
  static const bad_case cases[] = {
    { GS_NN_CONV1D, 1, 12, 8, 20, 1, 0, 1, 0, 0, 0, 0, 0, 0,
      "layer 3 (conv1d): kernel 20 with dilation 1 needs an input of at "
      "least 20 samples, got 12" },
    { GS_NN_CONV1D, 1, 12, 8, 5, 1, 0, 3, 0, 0, 0, 0, 0, 0,
      "kernel 5 with dilation 3 needs an input of at least 13 samples" },
    { GS_NN_CONV1D, 1, 12, 0, 3, 1, 0, 1, 0, 0, 0, 0, 0, 0, "out = 0" },
    { GS_NN_CONV1D, 1, 12, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, "kernel = 0" },
    { GS_NN_CONV1D, 1, 12, 2, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, "stride = 0" },
    { GS_NN_CONV1D, 1, 12, 2, 3, 1, -1, 1, 0, 0, 0, 0, 0, 0,
      "padding = -1" },
    { GS_NN_CONV1D, 1, 12, 2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0,
      "dilation = 0" },
    { GS_NN_CONVT1D, 2, 12, 2, 3, 2, 0, 1, 2, 0, 0, 0, 0, 0,
      "output_padding 2 must be smaller than the stride (2) or the "
      "dilation (1)" },
    { GS_NN_CONVT1D, 2, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
      "leaves an output of -1 samples" },
    { GS_NN_MAXPOOL1D, 2, 3, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0,
      "layer 3 (maxpool1d): kernel 5 needs an input of at least 5" },
    { GS_NN_MAXPOOL1D, 2, 30, 0, 4, 4, 3, 1, 0, 0, 0, 0, 0, 0,
      "padding 3 is more than half the kernel" },
    { GS_NN_AVGPOOL1D, 2, 30, 0, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0,
      "layer 3 (avgpool1d): stride = 0" },
    { GS_NN_DROPOUT_LAYER, 2, 30, 0, 0, 1, 0, 1, 0, 1.0, 0, 0, 0, 0,
      "layer 3 (dropout): p = 1" },
    { GS_NN_SPATIAL_DROPOUT, 2, 30, 0, 0, 1, 0, 1, 0, -0.1, 0, 0, 0, 0,
      "p = -0.1" },
    { GS_NN_BATCHNORM1D, 2, 30, 0, 0, 1, 0, 1, 0, 0, 0.0, 0.1, 0, 0,
      "layer 3 (batchnorm1d): eps = 0" },
    { GS_NN_BATCHNORM1D, 2, 30, 0, 0, 1, 0, 1, 0, 0, 1e-5, 1.5, 0, 0,
      "momentum = 1.5" },
    { GS_NN_UPSAMPLE_LINEAR, 2, 30, 0, 0, 1, 0, 1, 0, 0, 0, 0, 2, 40,
      "layer 3 (upsample): give exactly one of scale" },
    { GS_NN_UPSAMPLE_NEAREST, 2, 30, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0,
      "give exactly one of scale" },
    { GS_NN_LINEAR, 2, 30, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0,
      "layer 3 (linear): out = 0" },
  };
  size_t i;
  tl t;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      const bad_case *c = &cases[i];
      int rc;
      tl_init (&t, c->kind, c->in_c, c->in_l);
      t.L.out = c->out;
      t.L.kernel = c->kernel;
      t.L.stride = c->stride;
      t.L.padding = c->padding;
      t.L.dilation = c->dilation;
      t.L.output_padding = c->opad;
      t.L.p = c->p;
      t.L.eps = c->eps;
      t.L.momentum = c->momentum;
      t.L.scale = c->scale;
      t.L.size = c->size;
      gs_error_clear ();
      rc = gs_nn_layer_shape (&t.L);
      if (rc != GS_ECONFIG)
        fprintf (stderr, "\n  case %zu (%s) accepted\n", i, c->expect);
      CU_ASSERT_EQUAL (rc, GS_ECONFIG);
      GS_ASSERT_CONTAINS (gs_last_error (), c->expect);
    }

  /* Inputs: count and shapes; the layer's name appears in messages. */
  tl_init (&t, GS_NN_ADD, 2, 10);
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "layer 3 (add): has 1 inputs");
  t.L.n_in = 2;
  t.L.in_c[1] = 2;
  t.L.in_l[1] = 11;
  strcpy (t.L.name, "skip1");
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "layer 3 (add 'skip1'): input 1 "
                                        "is 2 x 11 but input 0 is 2 x 10");
  t.L.in_l[1] = 10;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 2 && t.L.l == 10);
  tl_init (&t, GS_NN_CONCAT, 2, 10);
  t.L.n_in = 2;
  t.L.in_c[1] = 3;
  t.L.in_l[1] = 9;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "same length");
  t.L.in_l[1] = 10;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 5 && t.L.l == 10);
  tl_init (&t, GS_NN_RELU, 2, 10);
  t.L.n_in = 2;
  t.L.in_c[1] = 2;
  t.L.in_l[1] = 10;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "takes exactly one");

  /* Output lengths (PyTorch's formulas). */
  tl_init (&t, GS_NN_CONV1D, 2, 18);
  t.L.out = 3;
  t.L.kernel = 5;
  t.L.stride = 2;
  t.L.padding = 2;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 3 && t.L.l == 9);
  t.L.dilation = 3; /* (18 + 4 - 12 - 1) / 2 + 1 */
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.l == 5);
  tl_init (&t, GS_NN_CONVT1D, 2, 9);
  t.L.out = 3;
  t.L.kernel = 4;
  t.L.stride = 2;
  t.L.padding = 1;
  t.L.output_padding = 1;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 3 && t.L.l == 8 * 2 - 2 + 3 + 1 + 1);
  tl_init (&t, GS_NN_MAXPOOL1D, 2, 17);
  t.L.kernel = 2;
  t.L.stride = 2;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.l == 8); /* floor mode */
  tl_init (&t, GS_NN_UPSAMPLE_LINEAR, 2, 17);
  t.L.size = 40;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.l == 40);
  t.L.size = 0;
  t.L.scale = 3;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.l == 51);
  tl_init (&t, GS_NN_FLATTEN, 4, 17);
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 68 && t.L.l == 1);
  tl_init (&t, GS_NN_GMAXPOOL, 4, 17);
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (t.L.c == 4 && t.L.l == 1);
}

/* ---- Forward against hand values and reference loops ---------------- */

/* Runs one forward (serial) of a set-up layer. */
static int
run_fwd (tl *t, int batch, int mode, const float *x, float *y)
{
  gs_nn_ctx ctx = mkctx (batch, mode, 0);
  const float *xs[1] = { x };
  tl_scratch (t, batch, 1);
  return gs_nn_layer_forward (&t->L, &ctx, xs, y);
}

static void
ref_conv (const tl *t, int batch, const float *x, double *y)
{
  const gs_nn_layer *L = &t->L;
  int n, o, c, k, i, C = L->in_c[0], Lin = L->in_l[0];
  for (n = 0; n < batch; n++)
    for (o = 0; o < L->out; o++)
      for (i = 0; i < L->l; i++)
        {
          double s = L->bias ? L->b[o] : 0;
          for (c = 0; c < C; c++)
            for (k = 0; k < L->kernel; k++)
              {
                int pos = i * L->stride - L->padding + k * L->dilation;
                if (pos >= 0 && pos < Lin)
                  s += (double)L->w[((size_t)o * C + c) * L->kernel + k]
                       * x[((size_t)n * C + c) * Lin + pos];
              }
          y[((size_t)n * L->out + o) * L->l + i] = s;
        }
}

static void
ref_convt (const tl *t, int batch, const float *x, double *y)
{
  const gs_nn_layer *L = &t->L;
  int n, o, c, k, i, C = L->in_c[0], Lin = L->in_l[0], O = L->out;
  for (n = 0; n < batch; n++)
    for (o = 0; o < O; o++)
      for (i = 0; i < L->l; i++)
        y[((size_t)n * O + o) * L->l + i] = L->bias ? L->b[o] : 0;
  for (n = 0; n < batch; n++)
    for (c = 0; c < C; c++)
      for (i = 0; i < Lin; i++)
        for (o = 0; o < O; o++)
          for (k = 0; k < L->kernel; k++)
            {
              int pos = i * L->stride - L->padding + k * L->dilation;
              if (pos >= 0 && pos < L->l)
                y[((size_t)n * O + o) * L->l + pos]
                    += (double)x[((size_t)n * C + c) * Lin + i]
                       * L->w[((size_t)c * O + o) * L->kernel + k];
            }
}

static double
maxdiff (const float *a, const double *b, size_t n)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    if (fabs (a[i] - b[i]) > m)
      m = fabs (a[i] - b[i]);
  return m;
}

static void
test_conv_forward (void)
{
  static const int opts[][6] = {
    /* C, L, O, K, stride, padding, (dilation below) */
    { 1, 5, 1, 3, 1, 0 }, { 3, 17, 4, 3, 2, 1 }, { 2, 16, 3, 5, 1, 4 },
    { 4, 9, 5, 1, 1, 0 }, { 2, 23, 3, 4, 3, 3 },
  };
  static const int dil[] = { 1, 1, 2, 1, 2 };
  float x[5] = { 1, 2, 3, 4, 5 }, y[5];
  size_t i;
  tl t;

  /* By hand: kernel (1, 0, -1), bias 0.5, padding 1. */
  tl_init (&t, GS_NN_CONV1D, 1, 5);
  t.L.out = 1;
  t.L.kernel = 3;
  t.L.padding = 1;
  tl_setup (&t);
  t.L.w[0] = 1;
  t.L.w[1] = 0;
  t.L.w[2] = -1;
  t.L.b[0] = 0.5f;
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (t.L.l == 5);
  CU_ASSERT (y[0] == -1.5f && y[1] == -1.5f && y[2] == -1.5f
             && y[3] == -1.5f && y[4] == 4.5f);
  tl_free (&t);

  for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
    {
      int batch = BIG_BATCH, k;
      float *xx, *yy;
      double *ref;
      size_t nx, ny;
      for (k = 0; k < 2; k++)
        {
          tl_init (&t, k ? GS_NN_CONVT1D : GS_NN_CONV1D, opts[i][0],
                   opts[i][1]);
          t.L.out = opts[i][2];
          t.L.kernel = opts[i][3];
          t.L.stride = opts[i][4];
          t.L.padding = k ? opts[i][5] / 2 : opts[i][5];
          t.L.dilation = dil[i];
          t.L.output_padding = k && opts[i][4] > 1 ? 1 : 0;
          t.L.bias = (int)(i % 2 == 0);
          CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
          nx = tl_in_n (&t, 0, batch);
          ny = tl_out_n (&t, batch);
          xx = malloc (nx * sizeof (float));
          yy = malloc (ny * sizeof (float));
          ref = malloc (ny * sizeof (double));
          fill_input (xx, nx, IN_NORMAL);
          CU_ASSERT_EQUAL (run_fwd (&t, batch, 0, xx, yy), GS_OK);
          if (k)
            ref_convt (&t, batch, xx, ref);
          else
            ref_conv (&t, batch, xx, ref);
          CU_ASSERT (maxdiff (yy, ref, ny) < 1e-5);
          free (xx);
          free (yy);
          free (ref);
          tl_free (&t);
        }
    }

  /* convtranspose by hand: x (1, 2), w (1, 1), stride 2, output_padding
     1, bias 0.25: (1, 1, 2, 2, 0) + 0.25. */
  tl_init (&t, GS_NN_CONVT1D, 1, 2);
  t.L.out = 1;
  t.L.kernel = 2;
  t.L.stride = 2;
  t.L.output_padding = 1;
  tl_setup (&t);
  t.L.w[0] = t.L.w[1] = 1;
  t.L.b[0] = 0.25f;
  x[0] = 1;
  x[1] = 2;
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (t.L.l == 5);
  CU_ASSERT (y[0] == 1.25f && y[1] == 1.25f && y[2] == 2.25f
             && y[3] == 2.25f && y[4] == 0.25f);
  tl_free (&t);
}

/* Stride-1, dilation-1 conv1d (the direct kernel where the machine has
 * it) against the double reference: kernels, paddings, lengths and
 * channel counts that hit every edge and block remainder. */
static void
test_conv_direct_forward (void)
{
  static const int ks[] = { 1, 3, 7, 16, 20 };
  static const int os[] = { 1, 3, 8, 40, 64 };
  static const int cs[] = { 1, 2, 5, 17 };
  static const int ls[] = { 1, 5, 63, 64, 65, 1005 };
  size_t ik, ip, il, combo = 0;
  int bad = 0;
  for (ik = 0; ik < sizeof ks / sizeof ks[0]; ik++)
    for (ip = 0; ip < 3; ip++)
      for (il = 0; il < sizeof ls / sizeof ls[0]; il++, combo++)
        {
          int K = ks[ik], P = ip == 0 ? 0 : ip == 1 ? 3 : K - 1;
          int O = os[combo % 5], C = cs[combo % 4], Lin = ls[il];
          int batch = combo % 2 ? 19 : 1;
          float *xx, *yy;
          double *ref, m = 0, d;
          size_t nx, ny, i;
          tl t;
          if (Lin + 2 * P - K + 1 < 1)
            continue;
          if ((double)batch * O * C * K * Lin > 4e6)
            batch = 1;
          tl_init (&t, GS_NN_CONV1D, C, Lin);
          t.L.out = O;
          t.L.kernel = K;
          t.L.padding = P;
          t.L.bias = (int)(combo % 3 != 0);
          CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
          CU_ASSERT (t.L.l == Lin + 2 * P - K + 1);
          nx = tl_in_n (&t, 0, batch);
          ny = tl_out_n (&t, batch);
          xx = malloc (nx * sizeof (float));
          yy = malloc (ny * sizeof (float));
          ref = malloc (ny * sizeof (double));
          fill_input (xx, nx, IN_NORMAL);
          CU_ASSERT_EQUAL (run_fwd (&t, batch, 0, xx, yy), GS_OK);
          ref_conv (&t, batch, xx, ref);
          for (i = 0; i < ny; i++)
            if (fabs (ref[i]) > m)
              m = fabs (ref[i]);
          d = maxdiff (yy, ref, ny) / (m > 0 ? m : 1);
          if (!(d < 1e-5))
            {
              bad++;
              fprintf (stderr, "conv1d C%d O%d K%d P%d L%d batch %d: "
                       "relative error %g\n", C, O, K, P, Lin, batch, d);
            }
          free (xx);
          free (yy);
          free (ref);
          tl_free (&t);
        }
  CU_ASSERT_EQUAL (bad, 0);
}

static void
test_pool_forward (void)
{
  float x[5] = { 1, 5, 2, 8, 3 }, y[8], dy[8], dx[5];
  float tie[4] = { 2, 2, 2, 1 };
  const float *xs[1];
  float *dxs[1] = { dx };
  gs_nn_ctx ctx = mkctx (1, 0, 0);
  tl t;

  tl_init (&t, GS_NN_MAXPOOL1D, 1, 5);
  t.L.kernel = 3;
  t.L.stride = 2;
  t.L.padding = 1;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (t.L.l == 3 && y[0] == 5 && y[1] == 8 && y[2] == 8);
  tl_free (&t);

  /* Ties go to the first maximum. */
  tl_init (&t, GS_NN_MAXPOOL1D, 1, 4);
  t.L.kernel = 2;
  t.L.stride = 2;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, tie, y), GS_OK);
  dy[0] = 1;
  dy[1] = 10;
  memset (dx, 0, sizeof dx);
  xs[0] = tie;
  CU_ASSERT_EQUAL (gs_nn_layer_backward (&t.L, &ctx, xs, y, dy, dxs),
                   GS_OK);
  CU_ASSERT (dx[0] == 1 && dx[1] == 0 && dx[2] == 10 && dx[3] == 0);
  tl_free (&t);

  /* count_include_pad: padding counts as zeros in a divisor of k. */
  tl_init (&t, GS_NN_AVGPOOL1D, 1, 5);
  t.L.kernel = 3;
  t.L.stride = 2;
  t.L.padding = 1;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (fabs (y[0] - 2.0) < 1e-6 && fabs (y[1] - 5.0) < 1e-6
             && fabs (y[2] - 11.0 / 3) < 1e-6);
  tl_free (&t);

  tl_init (&t, GS_NN_GAVGPOOL, 1, 5);
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (fabs (y[0] - 19.0 / 5) < 1e-6);
  tl_free (&t);
  tl_init (&t, GS_NN_GMAXPOOL, 1, 5);
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x, y), GS_OK);
  CU_ASSERT (y[0] == 8);
  tl_free (&t);
}

static void
test_upsample_softmax (void)
{
  float x3[3] = { 1, 2, 3 }, xn[3] = { 10, 20, 30 }, y[64];
  float x4[4] = { 0, 1, 4, 9 };
  static const float nearest7[7] = { 10, 10, 10, 20, 20, 30, 30 };
  float *sx, *sy;
  int i, c, s, ok;
  tl t;

  tl_init (&t, GS_NN_UPSAMPLE_LINEAR, 1, 3);
  t.L.size = 5;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x3, y), GS_OK);
  for (i = 0; i < 5; i++)
    CU_ASSERT (fabs (y[i] - (1 + 0.5 * i)) < 1e-6);
  tl_free (&t);

  /* align_corners: src = t (in - 1) / (out - 1). */
  tl_init (&t, GS_NN_UPSAMPLE_LINEAR, 1, 4);
  t.L.scale = 3;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, x4, y), GS_OK);
  CU_ASSERT (t.L.l == 12);
  for (i = 0; i < 12; i++)
    {
      double src = i * 3.0 / 11, w;
      int i0 = (int)floor (src), i1 = i0 < 3 ? i0 + 1 : 3;
      w = src - i0;
      CU_ASSERT (fabs (y[i] - ((1 - w) * x4[i0] + w * x4[i1])) < 1e-5);
    }
  CU_ASSERT (y[0] == 0 && y[11] == 9);
  tl_free (&t);

  tl_init (&t, GS_NN_UPSAMPLE_NEAREST, 1, 3);
  t.L.size = 7;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, xn, y), GS_OK);
  CU_ASSERT (memcmp (y, nearest7, sizeof nearest7) == 0);
  tl_free (&t);
  tl_init (&t, GS_NN_UPSAMPLE_NEAREST, 1, 3);
  t.L.scale = 2;
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, 0, xn, y), GS_OK);
  CU_ASSERT (y[0] == 10 && y[1] == 10 && y[2] == 20 && y[3] == 20
             && y[4] == 30 && y[5] == 30);
  tl_free (&t);

  /* Softmax over channels: rows sum to 1, stable for large inputs,
     against a double reference. */
  tl_init (&t, GS_NN_SOFTMAX, 5, 6);
  tl_setup (&t);
  sx = malloc (3 * 30 * sizeof (float));
  sy = malloc (3 * 30 * sizeof (float));
  for (i = 0; i < 90; i++)
    sx[i] = (float)(3 * rnd_n () + (i % 7 == 0 ? 1000 : 0));
  CU_ASSERT_EQUAL (run_fwd (&t, 3, 0, sx, sy), GS_OK);
  ok = 1;
  for (s = 0; s < 3; s++)
    for (i = 0; i < 6; i++)
      {
        double sum = 0, m = -INFINITY, z = 0;
        for (c = 0; c < 5; c++)
          if (sx[(s * 5 + c) * 6 + i] > m)
            m = sx[(s * 5 + c) * 6 + i];
        for (c = 0; c < 5; c++)
          z += exp (sx[(s * 5 + c) * 6 + i] - m);
        for (c = 0; c < 5; c++)
          {
            double ref = exp (sx[(s * 5 + c) * 6 + i] - m) / z;
            float v = sy[(s * 5 + c) * 6 + i];
            sum += v;
            if (!isfinite (v) || fabs (v - ref) > 1e-6)
              ok = 0;
          }
        if (fabs (sum - 1) > 1e-6)
          ok = 0;
      }
  CU_ASSERT (ok);
  free (sx);
  free (sy);
  tl_free (&t);
}

/* ---- BatchNorm semantics ---------------------------------------------- */

static void
test_batchnorm (void)
{
  int batch = BIG_BATCH, C = 3, Lx = 6, n, c, i;
  size_t nx = (size_t)batch * C * Lx;
  float *x = malloc (nx * sizeof (float)), *y = malloc (nx * sizeof (float));
  float rm0[3], rv0[3];
  double mean[3], var[3];
  tl t;

  tl_init (&t, GS_NN_BATCHNORM1D, C, Lx);
  tl_setup (&t);
  for (i = 0; i < (int)nx; i++)
    x[i] = (float)(2 + 3 * rnd_n () + (i / Lx) % C);
  for (c = 0; c < C; c++)
    {
      double s = 0, s2 = 0;
      t.L.w[c] = 1;
      t.L.b[c] = 0;
      for (n = 0; n < batch; n++)
        for (i = 0; i < Lx; i++)
          s += x[(n * C + c) * Lx + i];
      mean[c] = s / (batch * Lx);
      for (n = 0; n < batch; n++)
        for (i = 0; i < Lx; i++)
          s2 += pow (x[(n * C + c) * Lx + i] - mean[c], 2);
      var[c] = s2 / (batch * Lx); /* biased */
      rm0[c] = t.L.running_mean[c];
      rv0[c] = t.L.running_var[c];
    }

  /* Training: zero mean and unit (biased) variance per channel; running
     statistics move by momentum towards the unbiased batch variance. */
  CU_ASSERT_EQUAL (run_fwd (&t, batch, GS_NN_TRAIN, x, y), GS_OK);
  for (c = 0; c < C; c++)
    {
      double s = 0, s2 = 0, m, v, M = batch * Lx;
      for (n = 0; n < batch; n++)
        for (i = 0; i < Lx; i++)
          s += y[(n * C + c) * Lx + i];
      m = s / M;
      for (n = 0; n < batch; n++)
        for (i = 0; i < Lx; i++)
          s2 += pow (y[(n * C + c) * Lx + i] - m, 2);
      v = s2 / M;
      CU_ASSERT (fabs (m) < 1e-5);
      CU_ASSERT (fabs (v - var[c] / (var[c] + 1e-5)) < 1e-5);
      CU_ASSERT (gs_test_reldiff (t.L.running_mean[c],
                                  0.9 * rm0[c] + 0.1 * mean[c]) < 1e-5);
      CU_ASSERT (gs_test_reldiff (t.L.running_var[c],
                                  0.9 * rv0[c] + 0.1 * var[c] * M / (M - 1))
                 < 1e-5);
    }

  /* Batch statistics without the update leave the running ones. */
  memcpy (rm0, t.L.running_mean, sizeof rm0);
  memcpy (rv0, t.L.running_var, sizeof rv0);
  CU_ASSERT_EQUAL (run_fwd (&t, batch, GS_NN_BN_BATCH, x, y), GS_OK);
  CU_ASSERT (memcmp (rm0, t.L.running_mean, sizeof rm0) == 0);
  CU_ASSERT (memcmp (rv0, t.L.running_var, sizeof rv0) == 0);

  /* Inference: the running statistics, gamma and beta. */
  for (c = 0; c < C; c++)
    {
      t.L.w[c] = (float)(1 + 0.5 * c);
      t.L.b[c] = (float)(0.1 * c - 0.2);
    }
  CU_ASSERT_EQUAL (run_fwd (&t, batch, GS_NN_EVAL, x, y), GS_OK);
  {
    double md = 0;
    for (n = 0; n < batch; n++)
      for (c = 0; c < C; c++)
        for (i = 0; i < Lx; i++)
          {
            size_t q = ((size_t)n * C + c) * Lx + i;
            double ref = (x[q] - (double)rm0[c])
                             / sqrt ((double)rv0[c] + 1e-5) * t.L.w[c]
                         + t.L.b[c];
            if (fabs (y[q] - ref) > md)
              md = fabs (y[q] - ref);
          }
    CU_ASSERT (md < 1e-5 * 10);
    CU_ASSERT (memcmp (rm0, t.L.running_mean, sizeof rm0) == 0);
  }

  /* One value per channel cannot give batch statistics. */
  tl_free (&t);
  tl_init (&t, GS_NN_BATCHNORM1D, 2, 1);
  tl_setup (&t);
  CU_ASSERT_EQUAL (run_fwd (&t, 1, GS_NN_TRAIN, x, y), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "more than one value per channel");
  CU_ASSERT_EQUAL (run_fwd (&t, 1, GS_NN_EVAL, x, y), GS_OK);
  tl_free (&t);
  free (x);
  free (y);
}

/* ---- Dropout ---------------------------------------------------------- */

static void
test_dropout (void)
{
  int batch = 4, C = 10, Lx = 500, spatial;
  size_t n = (size_t)batch * C * Lx, i, zeros, differ;
  float *x = malloc (n * sizeof (float)), *y = malloc (n * sizeof (float));
  float *y2 = malloc (n * sizeof (float)), *dy = malloc (n * sizeof (float));
  float *dx = malloc (n * sizeof (float));
  float *dxs[1] = { dx };
  const float *xs[1] = { x };
  double p = 0.3;
  tl t;

  for (i = 0; i < n; i++)
    {
      x[i] = (float)(0.5 + rnd_u ()); /* never 0 */
      dy[i] = (float)rnd_n ();
    }
  for (spatial = 0; spatial < 2; spatial++)
    {
      gs_nn_ctx ctx = mkctx (spatial ? 100 : batch, GS_NN_TRAIN, 0);
      int b = ctx.batch, Ls = spatial ? 20 : Lx;
      size_t units, nn = (size_t)b * C * Ls, ok = 1, expect_units;
      double sd;
      tl_init (&t, spatial ? GS_NN_SPATIAL_DROPOUT : GS_NN_DROPOUT_LAYER, C,
               Ls);
      t.L.p = p;
      tl_setup (&t);
      tl_scratch (&t, b, 1);
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y), GS_OK);
      zeros = 0;
      for (i = 0; i < nn; i++)
        if (y[i] == 0)
          zeros++;
        else if (y[i] != x[i] * (float)(1 / (1 - p)))
          ok = 0;
      CU_ASSERT (ok);
      /* Spatial: whole channels. */
      if (spatial)
        {
          size_t r, k;
          for (r = 0; r < (size_t)b * C; r++)
            for (k = 1; k < (size_t)Ls; k++)
              if ((y[r * Ls] == 0) != (y[r * Ls + k] == 0))
                ok = 0;
          CU_ASSERT (ok);
        }
      units = spatial ? zeros / Ls : zeros;
      expect_units = spatial ? (size_t)b * C : nn;
      sd = sqrt (expect_units * p * (1 - p));
      CU_ASSERT (fabs ((double)units - p * expect_units) < 5 * sd);

      /* Backward: dy through the kept values, scaled. */
      memset (dx, 0, nn * sizeof (float));
      CU_ASSERT_EQUAL (gs_nn_layer_backward (&t.L, &ctx, xs, y, dy, dxs),
                       GS_OK);
      ok = 1;
      for (i = 0; i < nn; i++)
        if (dx[i] != (y[i] == 0 ? 0.0f : dy[i] * (float)(1 / (1 - p))))
          ok = 0;
      CU_ASSERT (ok);

      /* Same (seed, step): same mask; next step: another. */
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y2), GS_OK);
      CU_ASSERT (memcmp (y, y2, nn * sizeof (float)) == 0);
      ctx.step++;
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y2), GS_OK);
      differ = 0;
      for (i = 0; i < nn; i++)
        if ((y[i] == 0) != (y2[i] == 0))
          differ++;
      CU_ASSERT (differ > nn / 10);

      /* Not in dropout mode, or p = 0: identity, also backward. */
      ctx.mode = GS_NN_EVAL;
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y2), GS_OK);
      CU_ASSERT (memcmp (x, y2, nn * sizeof (float)) == 0);
      memset (dx, 0, nn * sizeof (float));
      CU_ASSERT_EQUAL (gs_nn_layer_backward (&t.L, &ctx, xs, y2, dy, dxs),
                       GS_OK);
      CU_ASSERT (memcmp (dx, dy, nn * sizeof (float)) == 0);
      ctx.mode = GS_NN_TRAIN;
      t.L.p = 0;
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y2), GS_OK);
      CU_ASSERT (memcmp (x, y2, nn * sizeof (float)) == 0);
      tl_free (&t);
    }
  free (x);
  free (y);
  free (y2);
  free (dy);
  free (dx);
}

/* ---- Gradient checks ---------------------------------------------------- */

static void
test_grad_conv (void)
{
  /* C, L, O, K, stride, padding, dilation, bias, batch, threads */
  static const int cs[][10] = {
    { 3, 17, 4, 3, 1, 0, 1, 1, BIG_BATCH, 0 },
    { 3, 18, 4, 5, 2, 2, 1, 1, BIG_BATCH, 0 },
    { 2, 15, 3, 3, 1, 1, 2, 1, BIG_BATCH, 2 },
    { 4, 9, 5, 1, 1, 0, 1, 1, BIG_BATCH, 0 },
    { 2, 23, 3, 4, 3, 3, 2, 0, 3, 0 },
    { 1, 7, 2, 7, 1, 3, 1, 1, 2, 3 },
    /* stride 1, dilation 1 (the direct kernels where the machine has
       them): paddings 0, 3, K-1 and above K-1, odd lengths, channel
       counts that are not multiples of the vectors, batch 19 */
    { 5, 21, 17, 7, 1, 3, 1, 1, 19, 2 },
    { 3, 13, 37, 4, 1, 0, 1, 0, 19, 0 },
    { 2, 25, 6, 20, 1, 19, 1, 1, 3, 3 },
    { 3, 11, 5, 1, 1, 3, 1, 1, 19, 0 },
    { 17, 9, 3, 3, 1, 2, 1, 1, 5, 1 },
  };
  size_t i;
  char what[96];
  tl t;
  for (i = 0; i < sizeof cs / sizeof cs[0]; i++)
    {
      tl_init (&t, GS_NN_CONV1D, cs[i][0], cs[i][1]);
      t.L.out = cs[i][2];
      t.L.kernel = cs[i][3];
      t.L.stride = cs[i][4];
      t.L.padding = cs[i][5];
      t.L.dilation = cs[i][6];
      t.L.bias = cs[i][7];
      CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
      snprintf (what, sizeof what, "conv1d k%d s%d p%d d%d b%d n%d t%d",
                cs[i][3], cs[i][4], cs[i][5], cs[i][6], cs[i][7], cs[i][8],
                cs[i][9]);
      gradcheck (&t, what, cs[i][8], 0, cs[i][9], IN_NORMAL, 1e-2);
      tl_free (&t);
    }
}

static void
test_grad_convt (void)
{
  /* C, L, O, K, stride, padding, dilation, output_padding, bias, batch,
     threads */
  static const int cs[][11] = {
    { 3, 9, 2, 3, 1, 0, 1, 0, 1, BIG_BATCH, 0 },
    { 2, 8, 3, 4, 2, 1, 1, 1, 1, BIG_BATCH, 2 },
    { 2, 7, 2, 3, 3, 2, 2, 2, 1, BIG_BATCH, 0 },
    { 4, 6, 3, 1, 1, 0, 1, 0, 0, BIG_BATCH, 0 },
    { 3, 5, 2, 2, 2, 0, 1, 0, 0, 3, 3 },
  };
  size_t i;
  char what[96];
  tl t;
  for (i = 0; i < sizeof cs / sizeof cs[0]; i++)
    {
      tl_init (&t, GS_NN_CONVT1D, cs[i][0], cs[i][1]);
      t.L.out = cs[i][2];
      t.L.kernel = cs[i][3];
      t.L.stride = cs[i][4];
      t.L.padding = cs[i][5];
      t.L.dilation = cs[i][6];
      t.L.output_padding = cs[i][7];
      t.L.bias = cs[i][8];
      CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
      snprintf (what, sizeof what, "convtranspose1d k%d s%d p%d d%d op%d "
                "n%d", cs[i][3], cs[i][4], cs[i][5], cs[i][6], cs[i][7],
                cs[i][9]);
      gradcheck (&t, what, cs[i][9], 0, cs[i][10], IN_NORMAL, 1e-2);
      tl_free (&t);
    }
}

static void
test_grad_pool (void)
{
  /* kind, L, K, stride, padding */
  static const int cs[][5] = {
    { GS_NN_MAXPOOL1D, 17, 2, 2, 0 }, { GS_NN_MAXPOOL1D, 17, 3, 2, 1 },
    { GS_NN_MAXPOOL1D, 9, 4, 1, 2 },  { GS_NN_AVGPOOL1D, 17, 2, 2, 0 },
    { GS_NN_AVGPOOL1D, 17, 3, 2, 1 }, { GS_NN_AVGPOOL1D, 9, 4, 1, 2 },
  };
  size_t i;
  char what[96];
  tl t;
  for (i = 0; i < sizeof cs / sizeof cs[0]; i++)
    {
      tl_init (&t, (gs_nn_kind)cs[i][0], 3, cs[i][1]);
      t.L.kernel = cs[i][2];
      t.L.stride = cs[i][3];
      t.L.padding = cs[i][4];
      CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
      snprintf (what, sizeof what, "%s k%d s%d p%d L%d",
                gs_nn_kind_name (t.L.kind), cs[i][2], cs[i][3], cs[i][4],
                cs[i][1]);
      gradcheck (&t, what, 3, 0, 0, IN_SEPARATED, 1e-2);
      tl_free (&t);
    }
  tl_init (&t, GS_NN_GAVGPOOL, 3, 11);
  tl_setup (&t);
  gradcheck (&t, "globalavgpool", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_GMAXPOOL, 3, 11);
  tl_setup (&t);
  gradcheck (&t, "globalmaxpool", 3, 0, 0, IN_SEPARATED, 1e-2);
  tl_free (&t);
}

static void
test_grad_batchnorm (void)
{
  tl t;
  tl_init (&t, GS_NN_BATCHNORM1D, 3, 5);
  tl_setup (&t);
  gradcheck (&t, "batchnorm1d batch statistics", BIG_BATCH, GS_NN_BN_BATCH,
             0, IN_NORMAL, 1e-2);
  gradcheck (&t, "batchnorm1d batch statistics t2", BIG_BATCH,
             GS_NN_BN_BATCH, 2, IN_NORMAL, 1e-2);
  gradcheck (&t, "batchnorm1d running statistics", BIG_BATCH, GS_NN_EVAL,
             0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_BATCHNORM1D, 6, 1);
  tl_setup (&t);
  gradcheck (&t, "batchnorm1d features (L 1), batch 3", 3, GS_NN_BN_BATCH,
             0, IN_NORMAL, 1e-2);
  tl_free (&t);
}

static void
test_grad_linear (void)
{
  tl t;
  tl_init (&t, GS_NN_LINEAR, 3, 5);
  t.L.out = 7;
  tl_setup (&t);
  gradcheck (&t, "linear 15 -> 7", BIG_BATCH, 0, 0, IN_NORMAL, 1e-2);
  gradcheck (&t, "linear 15 -> 7 t3", BIG_BATCH, 0, 3, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_LINEAR, 2, 300);
  t.L.out = 3;
  t.L.bias = 0;
  tl_setup (&t);
  gradcheck (&t, "linear 600 -> 3 no bias", BIG_BATCH, 0, 2, IN_NORMAL,
             1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_FLATTEN, 3, 5);
  tl_setup (&t);
  gradcheck (&t, "flatten", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
}

static void
test_grad_elementwise (void)
{
  tl t;
  tl_init (&t, GS_NN_RELU, 3, 7);
  tl_setup (&t);
  gradcheck (&t, "relu", 3, 0, 0, IN_AWAY0, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_LEAKYRELU, 3, 7);
  t.L.alpha = 0.1;
  tl_setup (&t);
  gradcheck (&t, "leakyrelu 0.1", 3, 0, 0, IN_AWAY0, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_ELU, 3, 7);
  t.L.alpha = 1.3;
  tl_setup (&t);
  gradcheck (&t, "elu 1.3", 3, 0, 0, IN_AWAY0, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_SIGMOID, 3, 7);
  tl_setup (&t);
  gradcheck (&t, "sigmoid", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_SOFTMAX, 5, 4);
  tl_setup (&t);
  gradcheck (&t, "softmax", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_DROPOUT_LAYER, 3, 7);
  t.L.p = 0.3;
  tl_setup (&t);
  gradcheck (&t, "dropout 0.3", 3, GS_NN_TRAIN, 0, IN_NORMAL, 1e-2);
  gradcheck (&t, "dropout (eval)", 3, GS_NN_EVAL, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_SPATIAL_DROPOUT, 6, 7);
  t.L.p = 0.4;
  tl_setup (&t);
  gradcheck (&t, "spatial_dropout 0.4", 3, GS_NN_TRAIN, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
}

static void
test_grad_upsample_merge (void)
{
  /* kind, L, scale, size */
  static const int cs[][4] = {
    { GS_NN_UPSAMPLE_LINEAR, 7, 3, 0 },  { GS_NN_UPSAMPLE_LINEAR, 4, 0, 10 },
    { GS_NN_UPSAMPLE_LINEAR, 7, 0, 3 },  { GS_NN_UPSAMPLE_LINEAR, 1, 4, 0 },
    { GS_NN_UPSAMPLE_NEAREST, 5, 2, 0 }, { GS_NN_UPSAMPLE_NEAREST, 4, 0, 11 },
    { GS_NN_UPSAMPLE_NEAREST, 7, 0, 5 },
  };
  size_t i;
  char what[96];
  tl t;
  for (i = 0; i < sizeof cs / sizeof cs[0]; i++)
    {
      tl_init (&t, (gs_nn_kind)cs[i][0], 2, cs[i][1]);
      t.L.scale = cs[i][2];
      t.L.size = cs[i][3];
      CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
      snprintf (what, sizeof what, "upsample %s L%d -> %d",
                cs[i][0] == GS_NN_UPSAMPLE_LINEAR ? "linear" : "nearest",
                cs[i][1], t.L.l);
      gradcheck (&t, what, 3, 0, 0, IN_NORMAL, 1e-2);
      tl_free (&t);
    }
  tl_init (&t, GS_NN_ADD, 3, 6);
  t.L.n_in = 3;
  t.L.in_c[1] = t.L.in_c[2] = 3;
  t.L.in_l[1] = t.L.in_l[2] = 6;
  CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
  gradcheck (&t, "add (3 inputs)", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
  tl_init (&t, GS_NN_CONCAT, 2, 6);
  t.L.n_in = 3;
  t.L.in_c[1] = 1;
  t.L.in_c[2] = 4;
  t.L.in_l[1] = t.L.in_l[2] = 6;
  CU_ASSERT_EQUAL_FATAL (tl_setup (&t), GS_OK);
  gradcheck (&t, "concat (2 + 1 + 4 channels)", 3, 0, 0, IN_NORMAL, 1e-2);
  tl_free (&t);
}

/* Concat stacks channels in input order (forward by hand). */
static void
test_concat_order (void)
{
  float a[4] = { 1, 2, 3, 4 }, b[2] = { 5, 6 }, y[6];
  const float *xs[2] = { a, b };
  gs_nn_ctx ctx = mkctx (2, 0, 0);
  tl t;
  tl_init (&t, GS_NN_CONCAT, 1, 2);
  t.L.n_in = 2;
  t.L.in_c[1] = 1;
  t.L.in_l[1] = 1;
  t.L.in_l[0] = 1;
  t.L.in_c[0] = 2;
  tl_setup (&t);
  /* batch 2: a is 2 samples of 2 x 1, b 2 samples of 1 x 1 */
  CU_ASSERT_EQUAL (gs_nn_layer_forward (&t.L, &ctx, xs, y), GS_OK);
  CU_ASSERT (y[0] == 1 && y[1] == 2 && y[2] == 5 && y[3] == 3 && y[4] == 4
             && y[5] == 6);
  tl_free (&t);
}

/* ---- Thread invariance --------------------------------------------------- */

/* Forward + backward of a layer at 0 (serial), 2 and 3 threads: output,
 * dx, parameter gradients and running statistics bit-identical. */
static void
invariance (tl *t, int batch, int mode, const char *what)
{
  size_t nx = tl_in_n (t, 0, batch), ny = tl_out_n (t, batch), i;
  size_t nr = 2 * t->L.n_running;
  float *x = malloc (nx * sizeof (float)), *dy = malloc (ny * sizeof (float));
  float *y[3], *dx[3], *g[3], *run[3], *r0 = malloc ((nr + 1) * 4);
  int k, threads[3] = { 0, 2, 3 }, same = 1;
  const float *xs[1] = { x };
  fill_input (x, nx, IN_NORMAL);
  for (i = 0; i < ny; i++)
    dy[i] = (float)rnd_n ();
  memcpy (r0, t->running, nr * sizeof (float));
  for (k = 0; k < 3; k++)
    {
      gs_nn_ctx ctx = mkctx (batch, mode, threads[k]);
      float *dxs[1];
      y[k] = malloc (ny * sizeof (float));
      dx[k] = calloc (nx, sizeof (float));
      g[k] = malloc ((t->n_params + 1) * sizeof (float));
      run[k] = malloc ((nr + 1) * sizeof (float));
      dxs[0] = dx[k];
      memcpy (t->running, r0, nr * sizeof (float));
      memset (t->grads, 0, t->n_params * sizeof (float));
      tl_scratch (t, batch, threads[k]);
      CU_ASSERT_EQUAL (gs_nn_layer_forward (&t->L, &ctx, xs, y[k]), GS_OK);
      CU_ASSERT_EQUAL (
          gs_nn_layer_backward (&t->L, &ctx, xs, y[k], dy, dxs), GS_OK);
      memcpy (g[k], t->grads, t->n_params * sizeof (float));
      memcpy (run[k], t->running, nr * sizeof (float));
    }
  for (k = 1; k < 3; k++)
    if (memcmp (y[0], y[k], ny * 4) || memcmp (dx[0], dx[k], nx * 4)
        || memcmp (g[0], g[k], t->n_params * 4)
        || memcmp (run[0], run[k], nr * 4))
      same = 0;
  if (!same)
    fprintf (stderr, "\n  %s differs between thread counts\n", what);
  CU_ASSERT (same);
  for (k = 0; k < 3; k++)
    {
      free (y[k]);
      free (dx[k]);
      free (g[k]);
      free (run[k]);
    }
  free (x);
  free (dy);
  free (r0);
}

static void
test_thread_invariance (void)
{
  tl t;
  int batch = 4 * GS_NN_CHUNK + 5;
  tl_init (&t, GS_NN_CONV1D, 4, 40);
  t.L.out = 6;
  t.L.kernel = 5;
  t.L.stride = 2;
  t.L.padding = 2;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "conv1d");
  tl_free (&t);
  tl_init (&t, GS_NN_CONV1D, 4, 40);
  t.L.out = 6;
  t.L.kernel = 1;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "conv1d k1");
  tl_free (&t);
  tl_init (&t, GS_NN_CONV1D, 5, 70);
  t.L.out = 11;
  t.L.kernel = 7;
  t.L.padding = 3;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "conv1d stride 1");
  tl_free (&t);
  tl_init (&t, GS_NN_CONV1D, 17, 45);
  t.L.out = 37;
  t.L.kernel = 20;
  t.L.padding = 19;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "conv1d stride 1, k20 p19");
  tl_free (&t);
  tl_init (&t, GS_NN_CONVT1D, 4, 20);
  t.L.out = 3;
  t.L.kernel = 4;
  t.L.stride = 2;
  t.L.padding = 1;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "convtranspose1d");
  tl_free (&t);
  tl_init (&t, GS_NN_LINEAR, 4, 150);
  t.L.out = 9;
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "linear");
  tl_free (&t);
  tl_init (&t, GS_NN_BATCHNORM1D, 5, 30);
  tl_setup (&t);
  invariance (&t, batch, GS_NN_TRAIN, "batchnorm1d (train)");
  invariance (&t, batch, GS_NN_EVAL, "batchnorm1d (eval)");
  tl_free (&t);
}

/* Scratch stays bounded: no im2col of the whole batch. */
static void
test_scratch_bounded (void)
{
  tl t;
  size_t s8, s512, col;
  tl_init (&t, GS_NN_CONV1D, 32, 1000);
  t.L.out = 32;
  t.L.kernel = 20;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  col = (size_t)32 * 20 * t.L.l * sizeof (float);
  s8 = gs_nn_layer_scratch (&t.L, 8, 4);
  s512 = gs_nn_layer_scratch (&t.L, 512, 4);
  CU_ASSERT (s8 >= 4 * col);
  /* 4 im2col buffers and 64 chunks of weight gradients (20512 floats
     each, or 32 x 24 x 32 + 32 in the direct backward's padded layout,
     which also keeps one rearranged copy of the weights), plus
     alignment; far below an im2col of the whole batch. */
  CU_ASSERT (s512 < 4 * col + 64 * (24576 + 32) * 4 + 20480 * 4 + 64 * 66);
  CU_ASSERT (s512 < (size_t)512 * col / 50);
  tl_init (&t, GS_NN_LINEAR, 64, 120);
  t.L.out = 128;
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (gs_nn_layer_scratch (&t.L, 512, 4) == 0); /* no dW copies */
  tl_init (&t, GS_NN_RELU, 32, 1000);
  CU_ASSERT_EQUAL (gs_nn_layer_shape (&t.L), GS_OK);
  CU_ASSERT (gs_nn_layer_scratch (&t.L, 512, 4) == 0);
}

static void
test_report (void)
{
  int k;
  /* `input` layers compute nothing (the network copies the caller's
   * tensor): test_nn checks them through whole networks. */
  printf ("\n    max gradient-check relative error per kind:");
  for (k = 0; k < GS_NN_N_KINDS; k++)
    if (k != GS_NN_INPUT)
      printf ("\n      %-16s %.2e%s", gs_nn_kind_name ((gs_nn_kind)k),
            gc_max[k], k == GS_NN_UPSAMPLE_LINEAR ? " (linear)"
                       : k == GS_NN_UPSAMPLE_NEAREST ? " (nearest)" : "");
  printf ("\n");
  for (k = 0; k < GS_NN_N_KINDS; k++)
    if (k != GS_NN_INPUT)
      CU_ASSERT (gc_max[k] > 0); /* every kind was checked */
}

void gs_test_register_nn_layers (void);
void
gs_test_register_nn_layers (void)
{
  CU_pSuite s = CU_add_suite ("nn_layers", NULL, NULL);
  CU_add_test (s, "kind names, parameter sizes, fans, macs",
               test_names_sizes);
  CU_add_test (s, "dropout hash", test_hash);
  CU_add_test (s, "shapes and shape errors", test_shape_errors);
  CU_add_test (s, "conv1d / convtranspose1d forward vs references",
               test_conv_forward);
  CU_add_test (s, "conv1d stride 1 (direct) forward vs reference",
               test_conv_direct_forward);
  CU_add_test (s, "pooling forward by hand, first max on ties",
               test_pool_forward);
  CU_add_test (s, "upsample and softmax forward", test_upsample_softmax);
  CU_add_test (s, "concat channel order", test_concat_order);
  CU_add_test (s, "batchnorm training vs inference", test_batchnorm);
  CU_add_test (s, "dropout masks", test_dropout);
  CU_add_test (s, "gradcheck conv1d", test_grad_conv);
  CU_add_test (s, "gradcheck convtranspose1d", test_grad_convt);
  CU_add_test (s, "gradcheck pooling", test_grad_pool);
  CU_add_test (s, "gradcheck batchnorm1d", test_grad_batchnorm);
  CU_add_test (s, "gradcheck linear, flatten", test_grad_linear);
  CU_add_test (s, "gradcheck activations, softmax, dropout",
               test_grad_elementwise);
  CU_add_test (s, "gradcheck upsample, add, concat",
               test_grad_upsample_merge);
  CU_add_test (s, "bit-identical at 1, 2, 3 threads",
               test_thread_invariance);
  CU_add_test (s, "scratch bounded at batch 512", test_scratch_bounded);
  CU_add_test (s, "every kind gradient-checked", test_report);
}
