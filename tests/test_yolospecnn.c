/* peaks.yolospecnn (plugins/peaks/yolospecnn.c): the loss and its
 * gradient against finite differences of a double-precision reference,
 * target encoding and NMS on hand cases, the decoding round trip, the
 * generated architecture, learning on synthetic spectra (1-3 Gaussian
 * peaks on an exponential continuum, Poisson noise) scored by
 * gs_peaks_evaluate, save/load and thread-count invariance, bad input,
 * and the plugin file itself through the loader.
 *
 * The plugin source is included (YSN_TESTING) to reach its static
 * internals; it then exports no entry and uses the host table set here. */
#include <CUnit/CUnit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gspec/core.h"
#include "gspec/peaks.h"
#include "test_util.h"

#define YSN_TESTING 1
#include "../plugins/peaks/yolospecnn.c"

static void
ysn_test_host (void)
{
  gs_core_init ();
  ysn__host = gs_host_api_get ();
}

/* ---- a library and a synthetic peak set ------------------------------ */

typedef struct tlib
{
  gs_library_view v;
  double *sig, *edges;
  const char *names[2];
} tlib;

/* C channels from 100 keV, 10 keV each; background + one flat column. */
static void
tlib_init (tlib *l, size_t C)
{
  size_t i;
  memset (l, 0, sizeof *l);
  l->sig = malloc (2 * C * sizeof *l->sig);
  l->edges = malloc ((C + 1) * sizeof *l->edges);
  for (i = 0; i < C; i++)
    l->sig[2 * i] = l->sig[2 * i + 1] = 1.0 / (double)C;
  for (i = 0; i <= C; i++)
    l->edges[i] = 100 + 10.0 * (double)i;
  l->names[0] = "background";
  l->names[1] = "flat";
  l->v.struct_size = sizeof l->v;
  l->v.n_channels = C;
  l->v.n_components = 2;
  l->v.signatures = l->sig;
  l->v.names = l->names;
  l->v.energy_edges = l->edges;
}

static void
tlib_fini (tlib *l)
{
  free (l->sig);
  free (l->edges);
}

typedef struct tset
{
  size_t C;
  const double *edges;
  unsigned long seed;
} tset;

#define TSET_MAX_PEAKS 3

/* Spectrum `index`: continuum B exp(-c / tau) plus 1-3 Gaussian peaks of
 * the NaI FWHM (gspec/peaks.h) at centres >= 2 FWHM apart, Poisson
 * noise.  Peaks: centre -+ FWHM.  Deterministic per index. */
static int
tset_make (const tset *t, size_t index, double *y, gs_peak *pk, size_t *np)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  gs_fwhm_model fm;
  double cen[TSET_MAX_PEAKS], fw[TSET_MAX_PEAKS], area[TSET_MAX_PEAKS];
  double B, tau;
  size_t n, k, c, tries = 0;
  gs_fwhm_model_nai (&fm);
  gsl_rng_set (r, t->seed * 1000003UL + index);
  n = 1 + gsl_rng_uniform_int (r, TSET_MAX_PEAKS);
  B = 200 + 800 * gsl_rng_uniform (r);
  tau = (double)t->C * (0.1 + 0.2 * gsl_rng_uniform (r));
  for (k = 0; k < n && tries < 1000; tries++)
    {
      /* centre channel in [0.1 C, 0.95 C) */
      double u = (double)t->C * (0.1 + 0.85 * gsl_rng_uniform (r));
      double e = ysn_chan_to_kev (t->edges, t->C, u);
      double f = gs_fwhm_kev (&fm, e) / 10.0; /* channels */
      size_t j;
      int ok = 1;
      for (j = 0; j < k; j++)
        if (fabs (u - cen[j]) < 2 * (f > fw[j] ? f : fw[j]))
          ok = 0;
      if (!ok)
        continue;
      cen[k] = u;
      fw[k] = f;
      area[k] = 1500 + 8000 * gsl_rng_uniform (r);
      k++;
    }
  n = k;
  for (c = 0; c < t->C; c++)
    {
      double mu = B * exp (-((double)c + 0.5) / tau) + 5;
      for (k = 0; k < n; k++)
        {
          double s = fw[k] / 2.3548, d = ((double)c + 0.5 - cen[k]) / s;
          mu += area[k] * exp (-0.5 * d * d) / (s * 2.5066282746310002);
        }
      y[c] = (double)gsl_ran_poisson (r, mu);
    }
  /* by increasing energy */
  for (k = 0; k < n; k++)
    {
      size_t j, m = k;
      double tmp;
      for (j = k + 1; j < n; j++)
        if (cen[j] < cen[m])
          m = j;
      tmp = cen[k], cen[k] = cen[m], cen[m] = tmp;
      tmp = fw[k], fw[k] = fw[m], fw[m] = tmp;
    }
  if (pk)
    for (k = 0; k < n; k++)
      {
        pk[k].centre_kev = ysn_chan_to_kev (t->edges, t->C, cen[k]);
        pk[k].left_kev = ysn_chan_to_kev (t->edges, t->C, cen[k] - fw[k]);
        pk[k].right_kev = ysn_chan_to_kev (t->edges, t->C, cen[k] + fw[k]);
        pk[k].confidence = 1;
        pk[k].component = -1;
      }
  *np = n;
  gsl_rng_free (r);
  return GS_OK;
}

static int
tset_spectrum (void *ctx, size_t index, double *out)
{
  size_t n;
  return tset_make ((const tset *)ctx, index, out, NULL, &n);
}

static int
tset_truth (void *ctx, size_t index, double *out)
{
  (void)ctx;
  (void)index;
  out[0] = 1;
  out[1] = 0;
  return GS_OK;
}

static int
tset_peaks (void *ctx, size_t index, gs_peak *out, size_t max, size_t *n)
{
  const tset *t = (const tset *)ctx;
  double *y = malloc (t->C * sizeof *y);
  gs_peak pk[TSET_MAX_PEAKS];
  size_t k;
  int rc;
  if (!y)
    return GS_ENOMEM;
  rc = tset_make (t, index, y, pk, n);
  for (k = 0; k < *n && k < max; k++)
    out[k] = pk[k];
  free (y);
  return rc;
}

static const char *const tset_names[] = { "background", "flat" };

static void
tset_dataset (gs_dataset *d, tset *t, size_t n, int with_peaks)
{
  memset (d, 0, sizeof *d);
  d->struct_size = sizeof *d;
  d->n_spectra = n;
  d->n_channels = t->C;
  d->n_components = 2;
  d->component_names = tset_names;
  d->ctx = t;
  d->spectrum = tset_spectrum;
  d->truth = tset_truth;
  d->peaks = with_peaks ? tset_peaks : NULL;
}

/* ---- loss and gradient --------------------------------------------------- */

static double
ref_sig (double z)
{
  return 1 / (1 + exp (-z));
}

/* Eqs. 6-9 in double, straight from the paper. */
static double
ref_loss (const double *z, const float *obj, const float *tx, const float *tw,
          int batch, size_t S, double lc, double ln)
{
  double L = 0;
  size_t b, i;
  for (b = 0; b < (size_t)batch; b++)
    for (i = 0; i < S; i++)
      {
        const double *zb = z + b * 3 * S;
        double x = ref_sig (zb[i]), w = ref_sig (zb[S + i]);
        double c = ref_sig (zb[2 * S + i]);
        double o = obj[b * S + i];
        L += lc * o
             * (pow (x - tx[b * S + i], 2)
                + pow (sqrt (w) - sqrt ((double)tw[b * S + i]), 2));
        L += lc * o * pow (c - 1, 2);
        L += ln * (1 - o) * c * c;
      }
  return L / batch;
}

static void
test_loss_gradient (void)
{
  enum
  {
    B = 3,
    S = 8
  };
  float z[B * 3 * S], d[B * 3 * S], obj[B * S], tx[B * S], tw[B * S];
  double zd[B * 3 * S], worst = 0, L, Lr;
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  size_t i;
  ysn_test_host ();
  gsl_rng_set (r, 7);
  for (i = 0; i < B * 3 * S; i++)
    {
      z[i] = (float)(3 * (2 * gsl_rng_uniform (r) - 1));
      zd[i] = z[i];
    }
  for (i = 0; i < B * S; i++)
    {
      obj[i] = gsl_rng_uniform (r) < 0.3 ? 1.0f : 0.0f;
      tx[i] = obj[i] > 0 ? (float)gsl_rng_uniform (r) : 0.0f;
      tw[i] = obj[i] > 0 ? (float)(0.005 + 0.05 * gsl_rng_uniform (r)) : 0.0f;
    }
  L = ysn_loss (z, obj, tx, tw, B, S, 1.0, 0.5, d);
  Lr = ref_loss (zd, obj, tx, tw, B, S, 1.0, 0.5);
  CU_ASSERT (fabs (L - Lr) <= 1e-6 * fabs (Lr));
  /* the loss alone gives the same value */
  CU_ASSERT_DOUBLE_EQUAL (ysn_loss (z, obj, tx, tw, B, S, 1.0, 0.5, NULL), L,
                          0);
  for (i = 0; i < B * 3 * S; i++)
    {
      double h = 1e-5, save = zd[i], lp, lm, fd, err;
      zd[i] = save + h;
      lp = ref_loss (zd, obj, tx, tw, B, S, 1.0, 0.5);
      zd[i] = save - h;
      lm = ref_loss (zd, obj, tx, tw, B, S, 1.0, 0.5);
      zd[i] = save;
      fd = (lp - lm) / (2 * h);
      err = fabs (fd - d[i]) / (fabs (fd) > 1e-3 ? fabs (fd) : 1e-3);
      if (err > worst)
        worst = err;
    }
  printf ("\n    loss %.6f, gradient vs finite differences: worst rel. "
          "error %.2e ",
          L, worst);
  CU_ASSERT (worst < 1e-4);
  gsl_rng_free (r);
}

/* ---- encoding, NMS, decoding --------------------------------------------- */

static void
test_encode (void)
{
  tlib l;
  const size_t C = 256, S = 64; /* cells of 4 channels */
  double u[4], w[4];
  float obj[64], tx[64], tw[64];
  size_t i, n1 = 0;
  ysn_test_host ();
  tlib_init (&l, C);
  /* channel <-> keV (edges 100 + 10 k) */
  CU_ASSERT_DOUBLE_EQUAL (ysn_kev_to_chan (l.edges, C, 1110), 101, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (ysn_kev_to_chan (l.edges, C, 1115), 101.5, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (ysn_chan_to_kev (l.edges, C, 101.5), 1115, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (ysn_kev_to_chan (l.edges, C, 50), 0, 0);
  CU_ASSERT_DOUBLE_EQUAL (ysn_kev_to_chan (l.edges, C, 9999), 256, 0);
  /* a peak at 1110 keV = channel 101, 100 keV wide = 10 channels */
  u[0] = ysn_kev_to_chan (l.edges, C, 1110);
  w[0]
      = ysn_kev_to_chan (l.edges, C, 1160) - ysn_kev_to_chan (l.edges, C, 1060);
  u[1] = 102.5; /* same cell 25: the first keeps it */
  w[1] = 20;
  u[2] = 255.5; /* the last cell */
  w[2] = 4;
  u[3] = 256; /* off the grid */
  w[3] = 4;
  ysn_encode (C, S, u, w, 4, obj, tx, tw);
  for (i = 0; i < S; i++)
    n1 += obj[i] > 0;
  CU_ASSERT_EQUAL (n1, 2);
  CU_ASSERT_EQUAL (obj[25], 1);
  CU_ASSERT_DOUBLE_EQUAL (tx[25], 0.25, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL (tw[25], 10.0 / 256, 1e-6);
  CU_ASSERT_EQUAL (obj[63], 1);
  CU_ASSERT_DOUBLE_EQUAL (tx[63], 0.875, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL (tw[63], 4.0 / 256, 1e-6);
  tlib_fini (&l);
}

static void
test_nms (void)
{
  ysn_cand c[5] = {
    { 55, 50, 60, 0.5 },  /* far away: kept */
    { 17, 12, 22, 0.8 },  /* IoU 8/12 with the first: suppressed */
    { 15, 10, 20, 0.9 },  /* the most confident: kept */
    { 24, 19, 29, 0.7 },  /* IoU 1/19 with [10, 20]: kept */
    { 56, 51, 61, 0.45 }, /* IoU 9/11 with [50, 60]: suppressed */
  };
  size_t n;
  CU_ASSERT_DOUBLE_EQUAL (ysn_iou (&c[2], &c[1]), 8.0 / 12, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (ysn_iou (&c[2], &c[3]), 1.0 / 19, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (ysn_iou (&c[2], &c[0]), 0, 0);
  n = ysn_nms (c, 5, 0.3);
  CU_ASSERT_EQUAL_FATAL (n, 3);
  CU_ASSERT_DOUBLE_EQUAL (c[0].centre, 15, 0);
  CU_ASSERT_DOUBLE_EQUAL (c[1].centre, 24, 0);
  CU_ASSERT_DOUBLE_EQUAL (c[2].centre, 55, 0);
  CU_ASSERT_DOUBLE_EQUAL (c[2].conf, 0.5, 0);
}

static float
logit (double p)
{
  p = p < 1e-6 ? 1e-6 : (p > 1 - 1e-6 ? 1 - 1e-6 : p);
  return (float)log (p / (1 - p));
}

/* Targets of the synthetic set written as network outputs decode to the
 * true peaks. */
static void
test_decode_roundtrip (void)
{
  const size_t C = 256, S = 64;
  tlib l;
  tset t;
  float obj[64], tx[64], tw[64], z[3 * 64];
  ysn_cand cand[64];
  double *y = malloc (C * sizeof *y), u[3], w[3], worst = 0;
  gs_peak pk[3];
  size_t idx, i, np, nd, checked = 0;
  ysn_test_host ();
  tlib_init (&l, C);
  t.C = C;
  t.edges = l.edges;
  t.seed = 3;
  for (idx = 0; idx < 200; idx++)
    {
      tset_make (&t, idx, y, pk, &np);
      for (i = 0; i < np; i++)
        {
          double lo = ysn_kev_to_chan (l.edges, C, pk[i].left_kev);
          u[i] = ysn_kev_to_chan (l.edges, C, pk[i].centre_kev);
          w[i] = ysn_kev_to_chan (l.edges, C, pk[i].right_kev) - lo;
        }
      ysn_encode (C, S, u, w, np, obj, tx, tw);
      for (i = 0; i < S; i++)
        {
          z[i] = logit (tx[i]);
          z[S + i] = logit (tw[i]);
          z[2 * S + i] = logit (obj[i] > 0 ? 0.99 : 0.001);
        }
      nd = ysn_decode (z, C, S, 0.01, 0.3, cand);
      CU_ASSERT_EQUAL (nd, np); /* the generator keeps peaks apart */
      for (i = 0; i < nd && i < np; i++)
        {
          double e = fabs (cand[i].centre - u[i]);
          if (e > worst)
            worst = e;
          CU_ASSERT (e < 1.0);
          CU_ASSERT (fabs ((cand[i].right - cand[i].left) - w[i]) < 1.0);
          CU_ASSERT_DOUBLE_EQUAL (cand[i].conf, 0.99, 1e-5);
          checked++;
        }
    }
  printf ("\n    %zu peaks round-tripped, worst centre error %.2e "
          "channels ",
          checked, worst);
  free (y);
  tlib_fini (&l);
}

/* ---- the method end to end ------------------------------------------- */

/* A method instance of ysn_type with params "k=v" pairs. */
static gs_method *
make_method (const tlib *l, uint64_t seed, const char *const *kv, size_t n)
{
  void *params = gs_params_alloc (&ysn_type);
  gs_setup setup;
  gs_method *m = NULL;
  size_t i;
  CU_ASSERT_PTR_NOT_NULL_FATAL (params);
  for (i = 0; i + 1 < 2 * n; i += 2)
    CU_ASSERT_EQUAL (
        gs_params_set (&ysn_type, params, kv[i], kv[i + 1], "test"), GS_OK);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = &l->v;
  setup.seed = seed;
  setup.target_fpr = 0.01;
  CU_ASSERT_EQUAL (gs_method_alloc (&ysn_type, params, &setup, &m), GS_OK);
  gs_params_free (params);
  return m;
}

/* Detections of spectra [0, n) of t: peaks appended to all->peaks, with
 * offsets.  Returns GS_OK. */
typedef struct dets
{
  gs_peak *p;
  size_t n, cap;
  size_t *off; /* n_spectra + 1 */
} dets;

static int
detect_all (const gs_method *m, tset *t, size_t n, dets *out)
{
  gs_result *r = gs_result_alloc (2, 0);
  void *work = NULL;
  double *y = malloc (t->C * sizeof *y);
  size_t i, k, np;
  int rc = gs_method_workspace_alloc (m, &work);
  memset (out, 0, sizeof *out);
  out->off = calloc (n + 1, sizeof *out->off);
  for (i = 0; i < n && rc == GS_OK; i++)
    {
      tset_make (t, i, y, NULL, &np);
      rc = gs_method_analyze (m, work, y, t->C, r);
      for (k = 0; k < r->n_peaks && rc == GS_OK; k++)
        {
          if (out->n == out->cap)
            {
              out->cap = 2 * out->cap + 64;
              out->p = realloc (out->p, out->cap * sizeof *out->p);
            }
          out->p[out->n++] = r->peaks[k];
        }
      out->off[i + 1] = out->n;
    }
  gs_method_workspace_free (work);
  gs_result_free (r);
  free (y);
  return rc;
}

static void
dets_free (dets *d)
{
  free (d->p);
  free (d->off);
}

static int
dets_equal (const dets *a, const dets *b, size_t n)
{
  return a->n == b->n && memcmp (a->off, b->off, (n + 1) * sizeof *a->off) == 0
         && (a->n == 0 || memcmp (a->p, b->p, a->n * sizeof *a->p) == 0);
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Scores detections against the set's true peaks. */
static int
score (tset *t, size_t n, const dets *d, gs_peak_metrics *pm)
{
  gs_peak_list *tl = calloc (n, sizeof *tl), *dl = calloc (n, sizeof *dl);
  gs_peak *tp = malloc (n * TSET_MAX_PEAKS * sizeof *tp);
  size_t i, np;
  int rc;
  for (i = 0; i < n; i++)
    {
      tset_peaks (t, i, tp + i * TSET_MAX_PEAKS, TSET_MAX_PEAKS, &np);
      tl[i].peaks = tp + i * TSET_MAX_PEAKS;
      tl[i].n = np;
      dl[i].peaks = d->p + d->off[i];
      dl[i].n = d->off[i + 1] - d->off[i];
    }
  rc = gs_peaks_evaluate (n, tl, dl, 0.02, pm, NULL, NULL);
  free (tl);
  free (dl);
  free (tp);
  return rc;
}

static char *
save_to_memory (const gs_method *m, size_t *len)
{
  char *buf = NULL;
  FILE *f = open_memstream (&buf, len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (gs_method_save (m, f), GS_OK);
  fclose (f);
  return buf;
}

/* Under AddressSanitizer (GSPEC_ASAN, about 15 times slower) the
 * training is cut to 400 spectra x 3 epochs and F1 is only printed. */
#if defined(__SANITIZE_ADDRESS__)
#define YSN_TEST_SMALL 1
#define YSN_TEST_TRAIN 400
#define YSN_TEST_EPOCHS "3"
#else
#define YSN_TEST_SMALL 0
#define YSN_TEST_TRAIN 2000
#define YSN_TEST_EPOCHS "12"
#endif

/* 2000 spectra of 256 channels, 64 cells, width 0.0625 (4, 8, 16, 32
 * channels), 12 epochs: F1 > 0.8 at the best confidence on 200 held-out
 * spectra (window 2 %); save/load gives bit-identical detections. */
static void
test_learn (void)
{
  const size_t C = 256, n_train = YSN_TEST_TRAIN, n_valid = 200;
  const size_t n_test = 200;
  static const char *const kv[]
      = { "width",         "0.0625", "cells",   "64", "epochs",
          YSN_TEST_EPOCHS, "batch",  "32",      "lr", "0.003",
          "max_shift",     "24",     "threads", "2" };
  tlib l;
  tset ttr, tva, tte;
  gs_dataset dtr, dva;
  gs_method *m, *m2;
  gs_peak_metrics pm;
  dets d1, d2;
  char *buf;
  size_t len;
  FILE *f;
  double t0;
  ysn_test_host ();
  gs_log_set_level (GS_LOG_WARN);
  tlib_init (&l, C);
  ttr.C = tva.C = tte.C = C;
  ttr.edges = tva.edges = tte.edges = l.edges;
  ttr.seed = 11;
  tva.seed = 12;
  tte.seed = 13;
  tset_dataset (&dtr, &ttr, n_train, 1);
  tset_dataset (&dva, &tva, n_valid, 1);
  m = make_method (&l, 5, kv, sizeof kv / sizeof kv[0] / 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  t0 = now_s ();
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &dtr, &dva), GS_OK);
  printf ("\n    trained %zu spectra x %s epochs in %.1f s; ", n_train,
          YSN_TEST_EPOCHS, now_s () - t0);
  CU_ASSERT_EQUAL_FATAL (detect_all (m, &tte, n_test, &d1), GS_OK);
  CU_ASSERT_EQUAL_FATAL (score (&tte, n_test, &d1, &pm), GS_OK);
  printf ("test: F1 %.3f @ %.3f (P %.3f, R %.3f), AP %.3f, %zu true, %zu "
          "detections ",
          pm.f1, pm.best_confidence, pm.precision, pm.recall, pm.ap, pm.n_true,
          pm.n_detections);
  if (!YSN_TEST_SMALL)
    CU_ASSERT (pm.f1 > 0.8);
  /* save / load: bit-identical detections */
  buf = save_to_memory (m, &len);
  m2 = make_method (&l, 99, kv, sizeof kv / sizeof kv[0] / 2);
  f = fmemopen (buf, len, "r");
  CU_ASSERT_EQUAL (gs_method_load (m2, f), GS_OK);
  fclose (f);
  CU_ASSERT_EQUAL (detect_all (m2, &tte, n_test, &d2), GS_OK);
  CU_ASSERT (dets_equal (&d1, &d2, n_test));
  /* a truncated model is refused */
  f = fmemopen (buf, len / 2, "r");
  CU_ASSERT_NOT_EQUAL (gs_method_load (m2, f), GS_OK);
  fclose (f);
  free (buf);
  dets_free (&d1);
  dets_free (&d2);
  gs_method_free (m);
  gs_method_free (m2);
  gs_log_set_level (GS_LOG_INFO);
  tlib_fini (&l);
}

/* The same seed gives the same model and detections at 1 and 2 training
 * threads (a short training). */
static void
test_threads (void)
{
  const size_t C = 256;
  const char *kv[]
      = { "width", "0.0625", "cells", "64", "epochs", "2", "threads", "1" };
  tlib l;
  tset ttr, tte;
  gs_dataset dtr;
  gs_method *m1, *m2;
  dets d1, d2;
  char *b1, *b2;
  size_t l1, l2;
  ysn_test_host ();
  gs_log_set_level (GS_LOG_WARN);
  tlib_init (&l, C);
  ttr.C = tte.C = C;
  ttr.edges = tte.edges = l.edges;
  ttr.seed = 21;
  tte.seed = 22;
  tset_dataset (&dtr, &ttr, 300, 1);
  m1 = make_method (&l, 8, kv, 4);
  kv[7] = "2";
  m2 = make_method (&l, 8, kv, 4);
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m1, &dtr, NULL), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m2, &dtr, NULL), GS_OK);
  b1 = save_to_memory (m1, &l1);
  b2 = save_to_memory (m2, &l2);
  CU_ASSERT (l1 == l2 && memcmp (b1, b2, l1) == 0);
  CU_ASSERT_EQUAL (detect_all (m1, &tte, 50, &d1), GS_OK);
  CU_ASSERT_EQUAL (detect_all (m2, &tte, 50, &d2), GS_OK);
  CU_ASSERT (dets_equal (&d1, &d2, 50));
  CU_ASSERT (d1.n > 0);
  dets_free (&d1);
  dets_free (&d2);
  free (b1);
  free (b2);
  gs_method_free (m1);
  gs_method_free (m2);
  gs_log_set_level (GS_LOG_INFO);
  tlib_fini (&l);
}

/* The architecture of the defaults at 1024 channels: ResNet-18 widths
 * 8..64, MSNN, 3 x 384 outputs; and the inference time (printed). */
static void
test_architecture_speed (void)
{
  const size_t C = 1024;
  const char *kv_ab[] = { "msnn", "false" };
  tlib l;
  gs_method *m, *mab;
  gs_result *r;
  void *work = NULL;
  double *y = malloc (C * sizeof *y), t0, dt;
  size_t i, reps = 300, np;
  int c, len;
  tset t;
  ysn_test_host ();
  tlib_init (&l, C);
  m = make_method (&l, 1, NULL, 0);
  mab = make_method (&l, 1, kv_ab, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m);
  CU_ASSERT_PTR_NOT_NULL_FATAL (mab);
  {
    /* gs_method keeps its state private: build one directly */
    ysn_state_t *st = calloc (1, sizeof *st);
    void *p = gs_params_alloc (&ysn_type);
    gs_setup setup = { sizeof setup, &l.v, 1, 0.01 };
    CU_ASSERT_EQUAL_FATAL (ysn_alloc (st, p, &setup), GS_OK);
    gs_nn_output_shape (st->nn, &c, &len);
    CU_ASSERT_EQUAL (st->S, 384);
    CU_ASSERT_EQUAL ((size_t)c * (size_t)len, 3 * 384);
    CU_ASSERT_PTR_NOT_NULL (strstr (st->arch, "out: 8, kernel: 7, stride: 2"));
    CU_ASSERT_PTR_NOT_NULL (strstr (st->arch, "out: 64, kernel: 3, stride: 2"));
    CU_ASSERT_PTR_NOT_NULL (strstr (st->arch, "concat, inputs: [ms1, ms3, "
                                              "ms5, ms7]"));
    printf ("\n    default network: %zu layers, %.2f M MACs per spectrum; ",
            gs_nn_n_layers (st->nn), gs_nn_macs (st->nn) * 1e-6);
    ysn_free (st);
    free (st);
    gs_params_free (p);
  }
  t.C = C;
  t.edges = l.edges;
  t.seed = 4;
  tset_make (&t, 0, y, NULL, &np);
  r = gs_result_alloc (2, 0);
  CU_ASSERT_EQUAL_FATAL (gs_method_workspace_alloc (m, &work), GS_OK);
  CU_ASSERT_EQUAL (gs_method_analyze (m, work, y, C, r), GS_OK);
  t0 = now_s ();
  for (i = 0; i < reps; i++)
    gs_method_analyze (m, work, y, C, r);
  dt = (now_s () - t0) / (double)reps;
  printf ("inference %.3f ms per 1024-channel spectrum (1 thread, "
          "untrained, %zu peaks above 0.01) ",
          dt * 1e3, r->n_peaks);
  gs_method_workspace_free (work);
  CU_ASSERT_EQUAL_FATAL (gs_method_workspace_alloc (mab, &work), GS_OK);
  t0 = now_s ();
  for (i = 0; i < reps; i++)
    gs_method_analyze (mab, work, y, C, r);
  printf ("(msnn=false: %.3f ms) ", (now_s () - t0) / (double)reps * 1e3);
  gs_method_workspace_free (work);
  gs_result_free (r);
  gs_method_free (m);
  gs_method_free (mab);
  free (y);
  tlib_fini (&l);
}

static void
test_bad_input (void)
{
  const size_t C = 256;
  const char *kv[] = { "width", "0.0625", "cells", "64", "epochs", "1" };
  tlib l, l2;
  tset t;
  gs_dataset d;
  gs_method *m;
  gs_result *r;
  ysn_state_t *st = calloc (1, sizeof *st);
  void *p = gs_params_alloc (&ysn_type), *work;
  double *y = calloc (C + 1, sizeof *y);
  gs_setup setup;
  FILE *f;
  size_t i;
  ysn_test_host ();
  tlib_init (&l, C);
  tlib_init (&l2, 128);
  for (i = 0; i <= C; i++)
    y[i] = 10;
  m = make_method (&l, 1, kv, 3);
  r = gs_result_alloc (2, 0);
  /* wrong channel count: the host and the plugin itself refuse it */
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, C + 1, r), GS_OK);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = &l.v;
  CU_ASSERT_EQUAL_FATAL (ysn_alloc (st, p, &setup), GS_OK);
  work = calloc (1, ysn_workspace_size (st));
  CU_ASSERT_EQUAL (ysn_analyze (st, work, y, C - 1, r), GS_EBADLEN);
  CU_ASSERT_EQUAL (ysn_analyze (st, work, y, C, r), GS_OK);
  free (work);
  /* a training set without peak labels, or of another channel count */
  t.C = C;
  t.edges = l.edges;
  t.seed = 1;
  tset_dataset (&d, &t, 10, 0);
  CU_ASSERT_EQUAL (gs_method_train (m, &d, NULL), GS_EINVAL);
  t.C = 128;
  t.edges = l2.edges;
  tset_dataset (&d, &t, 10, 1);
  CU_ASSERT_EQUAL (gs_method_train (m, &d, NULL), GS_EBADLEN);
  /* a model that is not one */
  f = fmemopen ((void *)"gspec-cnn 1 x 1 2 3\n", 20, "r");
  CU_ASSERT_EQUAL (gs_method_load (m, f), GS_EFORMAT);
  fclose (f);
  /* too many cells, too few channels */
  {
    ysn_state_t *s2 = calloc (1, sizeof *s2);
    CU_ASSERT_EQUAL (gs_params_set (&ysn_type, p, "cells", "300", "t"), GS_OK);
    CU_ASSERT_EQUAL (ysn_alloc (s2, p, &setup), GS_EINVAL);
    ysn_free (s2);
    free (s2);
  }
  ysn_free (st);
  free (st);
  gs_params_free (p);
  gs_result_free (r);
  gs_method_free (m);
  free (y);
  tlib_fini (&l);
  tlib_fini (&l2);
}

/* The built plugin file loads and registers the method. */
static void
test_plugin_file (void)
{
  gs_registry *reg = gs_registry_alloc ();
  const gs_method_type *t;
  ysn_test_host ();
  CU_ASSERT_EQUAL (
      gs_registry_load_file (reg, GSPEC_PLUGIN_DIR "/peaks_yolospecnn.so"),
      GS_OK);
  t = gs_registry_find (reg, YSN_ID);
  CU_ASSERT_PTR_NOT_NULL_FATAL (t);
  CU_ASSERT_EQUAL (t->kinds, GS_KIND_PEAKS);
  CU_ASSERT_EQUAL (t->flags, GS_METHOD_NEEDS_LIBRARY | GS_METHOD_STOCHASTIC);
  CU_ASSERT_EQUAL (gs_method_type_check (t), GS_OK);
  gs_registry_free (reg);
}

void gs_test_register_yolospecnn (void);
void
gs_test_register_yolospecnn (void)
{
  CU_pSuite s = CU_add_suite ("yolospecnn", NULL, NULL);
  CU_add_test (s, "loss and gradient vs finite differences",
               test_loss_gradient);
  CU_add_test (s, "target encoding", test_encode);
  CU_add_test (s, "1-D NMS", test_nms);
  CU_add_test (s, "decoding round trip", test_decode_roundtrip);
  CU_add_test (s, "architecture and inference time", test_architecture_speed);
  CU_add_test (s, "bad input", test_bad_input);
  CU_add_test (s, "plugin file", test_plugin_file);
  CU_add_test (s, "1 and 2 training threads", test_threads);
  CU_add_test (s, "learning: F1 > 0.8, save/load", test_learn);
}
