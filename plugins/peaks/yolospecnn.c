/* peaks.yolospecnn: full-energy peak search as one-stage detection
 * (Zhang et al., YOLOSpecNN; /work/shared/papers/zhang-yolospecnn-...),
 * on the SDK's NN engine (gspec/nn.h).
 *
 * Input: the spectrum divided by its maximum (param input=max, the
 * paper's "normalised to its shape"), or log1p(y) divided by its maximum
 * (input=log).  Network (generated as nn.h YAML from the parameters,
 * ysn_build_arch):
 *   ResNet-18 1-D backbone: stem conv k7 s2 + BN + ReLU + max-pool k3 s2,
 *   4 stages x 2 basic blocks (conv3-BN-ReLU-conv3-BN + identity, or a
 *   1x1 stride-2 conv + BN projection; add; ReLU), widths
 *   64, 128, 256, 512 x `width`;
 *   MSNN (msnn=true): four parallel conv k1, k3, k5, k7 (same padding) +
 *   BN + ReLU of 128 x width channels each on the backbone's map, all of
 *   the backbone's length (so the paper's nearest upsampling to a common
 *   length is the identity here), concatenated (512 x width channels,
 *   like the backbone, so msnn=false, the ablation, has the same head);
 *   head: flatten -> linear -> 3 x S raw outputs, read as (3, S): x
 *   offset, width, confidence per cell.
 * Output activations: sigmoid on all three (the paper's eq. 5): the
 * offset x in [0, 1] within the cell, the width w as a fraction of the
 * whole spectrum (the maximum width is C channels), the confidence C.
 *
 * Cells: cell i covers channels [i C/S, (i+1) C/S) (C/S need not be an
 * integer).  Channel coordinates are continuous, u in [0, C], channel k
 * spanning [k, k+1) and energy_edges mapped piecewise linearly.  A true
 * peak (gs_dataset.peaks) puts obj = 1 in the cell holding its centre,
 * x = u S / C - cell, w = (right - left) / C; when two peaks fall in one
 * cell the first given (the lower energy) keeps it.
 *
 * Loss: the paper's eqs. 6-9, summed over cells and averaged over the
 * batch, with the confidence target 1 in obj cells and 0 elsewhere:
 *   L = sum_i obj_i lc [(x_i - x^_i)^2 + (sqrt w_i - sqrt w^_i)^2]
 *     + sum_i obj_i lc (C_i - 1)^2 + sum_i (1 - obj_i) ln C_i^2
 * (lc = lambda_coord = 1, ln = lambda_noobj = 0.5).
 *
 * Training: Adam, seeded shuffling; augmentation (training only): every
 * sample is displaced by a uniform integer d in [-max_shift, max_shift]
 * channels (vacated channels 0, peaks whose centre leaves the spectrum
 * dropped) and gets uniform noise U(-a, a) per channel, a ~ U(noise_min,
 * noise_max), added to the normalised spectrum.  With a validation set
 * the epoch of the lowest validation loss is kept.
 *
 * Decoding: every cell with confidence >= min_confidence is a candidate
 * (centre (i + x) C / S, boundaries centre -+ w C / 2, in channels, then
 * keV); 1-D non-maximum suppression keeps the more confident of two
 * candidates whose intervals have IoU > nms_iou.  Thresholding above
 * min_confidence is left to the metrics (P-R curves, AP). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gspec/nn.h"
#include "gspec/plugin.h"

#ifdef YSN_TESTING
/* tests/test_yolospecnn.c includes this file to reach the internals; it
 * sets the host table itself and exports no plugin entry. */
#define gs_host ysn__host
static const gs_host_api *ysn__host;
#endif

#define YSN_ID "peaks.yolospecnn"
#define YSN_ARCH_MAX 16384
#define YSN_VERSION 1

enum
{
  YSN_INPUT_MAX = 0,
  YSN_INPUT_LOG = 1
};

typedef struct ysn_params_t
{
  double width;
  int msnn;
  int cells;
  int input;
  int epochs;
  int batch;
  double lr;
  double weight_decay;
  double lambda_coord;
  double lambda_noobj;
  double noise_min;
  double noise_max;
  int max_shift;
  double min_confidence;
  double nms_iou;
  int bn_recompute;
  int threads;
  int max_train;
} ysn_params_t;

typedef struct ysn_state_t
{
  ysn_params_t p;
  const gs_library_view *lib;
  uint64_t seed;
  size_t C;           /* channels */
  size_t S;           /* cells */
  gs_nn *nn;          /* in GS_NN_EVAL outside train */
  size_t infer_bytes; /* gs_nn_infer_bytes (nn, 1) */
  char arch[YSN_ARCH_MAX];
} ysn_state_t;

#define P_OFF(f) offsetof (ysn_params_t, f)
static const gs_param_spec ysn_param_table[] = {
  { "width", GS_PARAM_REAL, P_OFF (width), 0.125, 0.01, 4, NULL,
    "channel factor of the ResNet-18 widths 64, 128, 256, 512 (0.125: "
    "8, 16, 32, 64)" },
  { "msnn", GS_PARAM_BOOL, P_OFF (msnn), 1, 0, 0, NULL,
    "multi-scale module (conv k1, k3, k5, k7, concatenated); false: the "
    "paper's ablation (backbone straight to the head)" },
  { "cells", GS_PARAM_INT, P_OFF (cells), 0, 0, 65536, NULL,
    "grid cells S (at most the channel count; 0: 3/8 of the channels, "
    "the paper's 384 at 1024)" },
  { "input", GS_PARAM_ENUM, P_OFF (input), 0, 0, 0, "max|log",
    "input normalisation: y / max(y), or log1p(y) / max(log1p(y))" },
  { "epochs", GS_PARAM_INT, P_OFF (epochs), 50, 1, 100000, NULL,
    "training epochs (with a validation set the best one is kept)" },
  { "batch", GS_PARAM_INT, P_OFF (batch), 32, 1, 65536, NULL,
    "mini-batch size" },
  { "lr", GS_PARAM_REAL, P_OFF (lr), 1e-3, 1e-8, 10, NULL,
    "Adam learning rate" },
  { "weight_decay", GS_PARAM_REAL, P_OFF (weight_decay), 0, 0, 1, NULL,
    "Adam L2 penalty" },
  { "lambda_coord", GS_PARAM_REAL, P_OFF (lambda_coord), 1, 0, 1000, NULL,
    "weight of the position, width and object-confidence terms (eqs. "
    "7-8)" },
  { "lambda_noobj", GS_PARAM_REAL, P_OFF (lambda_noobj), 0.5, 0, 1000, NULL,
    "weight of the confidence term of cells without a peak (eq. 9)" },
  { "noise_min", GS_PARAM_REAL, P_OFF (noise_min), 0.001, 0, 1, NULL,
    "augmentation: least amplitude a of the uniform noise U(-a, a) added "
    "to the normalised training spectra" },
  { "noise_max", GS_PARAM_REAL, P_OFF (noise_max), 0.02, 0, 1, NULL,
    "augmentation: largest noise amplitude (0: no noise)" },
  { "max_shift", GS_PARAM_INT, P_OFF (max_shift), 200, 0, 1000000, NULL,
    "augmentation: displace training spectra and their peaks by up to "
    "this many channels either way (0: none)" },
  { "min_confidence", GS_PARAM_REAL, P_OFF (min_confidence), 0.01, 0, 1, NULL,
    "cells below this confidence give no peak" },
  { "nms_iou", GS_PARAM_REAL, P_OFF (nms_iou), 0.3, 0, 1, NULL,
    "non-maximum suppression: of two peaks whose intervals overlap with "
    "IoU above this, keep the more confident" },
  { "bn_recompute", GS_PARAM_INT, P_OFF (bn_recompute), 50, 0, 1000000, NULL,
    "after every epoch, re-estimate the batchnorm running statistics as "
    "the plain average over this many training batches (0: keep the "
    "momentum averages)" },
  { "threads", GS_PARAM_INT, P_OFF (threads), 0, 0, 256, NULL,
    "training threads (0: the online CPUs); results do not depend on it" },
  { "max_train", GS_PARAM_INT, P_OFF (max_train), 0, 0, 2000000000, NULL,
    "use at most this many training spectra (0: all)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

/* ---- channel and energy coordinates ------------------------------------ */

/* Energy at the continuous channel coordinate u in [0, C] (clamped),
 * piecewise linear between the edges. */
static double
ysn_chan_to_kev (const double *edges, size_t C, double u)
{
  size_t k;
  if (!(u > 0))
    return edges[0];
  if (u >= (double)C)
    return edges[C];
  k = (size_t)u;
  return edges[k] + (u - (double)k) * (edges[k + 1] - edges[k]);
}

/* The inverse: channel coordinate of energy e (clamped to [0, C]). */
static double
ysn_kev_to_chan (const double *edges, size_t C, double e)
{
  size_t lo = 0, hi = C;
  if (!(e > edges[0]))
    return 0;
  if (e >= edges[C])
    return (double)C;
  while (hi - lo > 1) /* edges[lo] <= e < edges[hi] */
    {
      size_t mid = lo + (hi - lo) / 2;
      if (edges[mid] <= e)
        lo = mid;
      else
        hi = mid;
    }
  return (double)lo + (e - edges[lo]) / (edges[lo + 1] - edges[lo]);
}

/* ---- targets, loss, decoding ------------------------------------------- */

/* Writes the targets of one spectrum: obj, x, w (S each) from n peaks
 * given as centre coordinates u[] and widths wch[] in channels.  A centre
 * outside [0, C) is skipped; the first peak of a cell keeps it. */
static void
ysn_encode (size_t C, size_t S, const double *u, const double *wch, size_t n,
            float *obj, float *tx, float *tw)
{
  size_t i;
  memset (obj, 0, S * sizeof *obj);
  memset (tx, 0, S * sizeof *tx);
  memset (tw, 0, S * sizeof *tw);
  for (i = 0; i < n; i++)
    {
      double g = u[i] * (double)S / (double)C, w = wch[i] / (double)C;
      size_t cell;
      if (!(u[i] >= 0 && u[i] < (double)C))
        continue;
      cell = (size_t)g;
      if (cell >= S)
        cell = S - 1;
      if (obj[cell] > 0)
        continue;
      obj[cell] = 1;
      tx[cell] = (float)(g - (double)cell);
      tw[cell] = (float)(w < 0 ? 0 : (w > 1 ? 1 : w));
    }
}

static double
ysn_sigmoid (double z)
{
  return z >= 0 ? 1 / (1 + exp (-z)) : exp (z) / (1 + exp (z));
}

/* The loss of eqs. 6-9 for a batch of raw outputs z (batch x 3 S, per
 * sample x[S], w[S], C[S] before the sigmoid) against targets obj, tx,
 * tw (batch x S each): summed over cells, averaged over the batch.  d
 * (may be NULL) receives dL/dz. */
static double
ysn_loss (const float *z, const float *obj, const float *tx, const float *tw,
          int batch, size_t S, double lc, double ln, float *d)
{
  double sum = 0, inv = 1.0 / (double)batch;
  size_t b, i;
  for (b = 0; b < (size_t)batch; b++)
    {
      const float *zb = z + b * 3 * S;
      const float *ob = obj + b * S, *xb = tx + b * S, *wb = tw + b * S;
      float *db = d ? d + b * 3 * S : NULL;
      for (i = 0; i < S; i++)
        {
          double sx = ysn_sigmoid (zb[i]), sw = ysn_sigmoid (zb[S + i]);
          double sc = ysn_sigmoid (zb[2 * S + i]);
          if (ob[i] > 0)
            {
              double ex = sx - xb[i];
              double rw = sqrt (sw), ew = rw - sqrt ((double)wb[i]);
              double ec = sc - 1;
              sum += lc * (ex * ex + ew * ew + ec * ec);
              if (db)
                {
                  db[i] = (float)(inv * 2 * lc * ex * sx * (1 - sx));
                  /* d sqrt(sigmoid z) / dz = sqrt(s) (1 - s) / 2 */
                  db[S + i] = (float)(inv * lc * ew * rw * (1 - sw));
                  db[2 * S + i] = (float)(inv * 2 * lc * ec * sc * (1 - sc));
                }
            }
          else
            {
              sum += ln * sc * sc;
              if (db)
                {
                  db[i] = 0;
                  db[S + i] = 0;
                  db[2 * S + i] = (float)(inv * 2 * ln * sc * sc * (1 - sc));
                }
            }
        }
    }
  return sum * inv;
}

/* A decoded peak in channel coordinates. */
typedef struct ysn_cand
{
  double centre, left, right, conf;
} ysn_cand;

static double
ysn_iou (const ysn_cand *a, const ysn_cand *b)
{
  double lo = a->left > b->left ? a->left : b->left;
  double hi = a->right < b->right ? a->right : b->right;
  double inter = hi > lo ? hi - lo : 0;
  double uni = (a->right - a->left) + (b->right - b->left) - inter;
  return uni > 0 ? inter / uni : 0;
}

static int
ysn_by_conf_desc (const void *pa, const void *pb)
{
  const ysn_cand *a = (const ysn_cand *)pa, *b = (const ysn_cand *)pb;
  if (a->conf != b->conf)
    return a->conf > b->conf ? -1 : 1;
  if (a->centre != b->centre)
    return a->centre < b->centre ? -1 : 1;
  return 0;
}

static int
ysn_by_centre (const void *pa, const void *pb)
{
  const ysn_cand *a = (const ysn_cand *)pa, *b = (const ysn_cand *)pb;
  if (a->centre != b->centre)
    return a->centre < b->centre ? -1 : 1;
  return 0;
}

/* Sorts n candidates by decreasing confidence (ties: increasing centre)
 * and keeps, in that order, each whose IoU with every kept one is at
 * most iou_max; the kept ones end up first, by increasing centre.
 * Returns their number. */
static size_t
ysn_nms (ysn_cand *c, size_t n, double iou_max)
{
  size_t i, j, kept = 0;
  qsort (c, n, sizeof *c, ysn_by_conf_desc);
  for (i = 0; i < n; i++)
    {
      int keep = 1;
      for (j = 0; j < kept && keep; j++)
        if (ysn_iou (&c[i], &c[j]) > iou_max)
          keep = 0;
      if (keep)
        c[kept++] = c[i];
    }
  qsort (c, kept, sizeof *c, ysn_by_centre);
  return kept;
}

/* Candidates (S at most) of raw outputs z (3 S) with confidence >=
 * conf_min, in channel coordinates, then NMS; returns their number. */
static size_t
ysn_decode (const float *z, size_t C, size_t S, double conf_min, double iou_max,
            ysn_cand *c)
{
  double cw = (double)C / (double)S;
  size_t i, n = 0;
  for (i = 0; i < S; i++)
    {
      double conf = ysn_sigmoid (z[2 * S + i]), u, hw;
      if (!(conf >= conf_min))
        continue;
      u = ((double)i + ysn_sigmoid (z[i])) * cw;
      hw = 0.5 * ysn_sigmoid (z[S + i]) * (double)C;
      c[n].centre = u;
      c[n].left = u - hw;
      c[n].right = u + hw;
      c[n].conf = conf;
      n++;
    }
  return ysn_nms (c, n, iou_max);
}

/* The network input of one spectrum. */
static void
ysn_normalise (int mode, const double *y, size_t C, float *x)
{
  double mx = 0;
  size_t c;
  for (c = 0; c < C; c++)
    {
      double v = mode == YSN_INPUT_LOG ? log1p (y[c] > 0 ? y[c] : 0) : y[c];
      if (v > mx)
        mx = v;
    }
  for (c = 0; c < C; c++)
    {
      double v = mode == YSN_INPUT_LOG ? log1p (y[c] > 0 ? y[c] : 0) : y[c];
      x[c] = mx > 0 ? (float)(v / mx) : 0.0f;
    }
}

/* ---- architecture -------------------------------------------------------- */

static int ysn_appendf (char *buf, size_t cap, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
ysn_appendf (char *buf, size_t cap, const char *fmt, ...)
{
  size_t len = strlen (buf);
  va_list ap;
  int n;
  va_start (ap, fmt);
  n = vsnprintf (buf + len, cap - len, fmt, ap);
  va_end (ap);
  return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

static int
ysn_scaled (int base, double width)
{
  int c = (int)lround (base * width);
  return c < 1 ? 1 : c;
}

/* The network as nn.h YAML for S cells (3 S outputs). */
static int
ysn_build_arch (const ysn_params_t *p, size_t S, char *buf, size_t cap)
{
  static const int base[4] = { 64, 128, 256, 512 };
  static const int kern[4] = { 1, 3, 5, 7 };
  char prev[32] = "stem";
  int stage, blk, k, bad = 0, in_ch = ysn_scaled (64, p->width);
  buf[0] = 0;
  bad |= ysn_appendf (buf, cap,
                      "- {type: conv1d, out: %d, kernel: 7, stride: 2, "
                      "padding: 3, bias: false}\n"
                      "- {type: batchnorm1d}\n- {type: relu}\n"
                      "- {type: maxpool1d, kernel: 3, stride: 2, padding: 1, "
                      "name: stem}\n",
                      in_ch);
  for (stage = 0; stage < 4; stage++)
    for (blk = 0; blk < 2; blk++)
      {
        int c = ysn_scaled (base[stage], p->width);
        int stride = stage > 0 && blk == 0 ? 2 : 1;
        int proj = stride != 1 || c != in_ch;
        char name[32];
        snprintf (name, sizeof name, "s%db%d", stage + 1, blk + 1);
        bad |= ysn_appendf (
            buf, cap,
            "- {type: conv1d, out: %d, kernel: 3, stride: %d, padding: 1, "
            "bias: false, inputs: [%s]}\n"
            "- {type: batchnorm1d}\n- {type: relu}\n"
            "- {type: conv1d, out: %d, kernel: 3, padding: 1, bias: false}\n"
            "- {type: batchnorm1d, name: %sm}\n",
            c, stride, prev, c, name);
        if (proj)
          bad |= ysn_appendf (buf, cap,
                              "- {type: conv1d, out: %d, kernel: 1, stride: "
                              "%d, bias: false, inputs: [%s]}\n"
                              "- {type: batchnorm1d, name: %sp}\n",
                              c, stride, prev, name);
        bad |= ysn_appendf (buf, cap,
                            "- {type: add, inputs: [%sm, %s%s]}\n"
                            "- {type: relu, name: %s}\n",
                            name, proj ? name : prev, proj ? "p" : "", name);
        snprintf (prev, sizeof prev, "%s", name);
        in_ch = c;
      }
  if (p->msnn)
    {
      int m = ysn_scaled (128, p->width);
      for (k = 0; k < 4; k++)
        bad |= ysn_appendf (buf, cap,
                            "- {type: conv1d, out: %d, kernel: %d, padding: "
                            "%d, bias: false, inputs: [%s]}\n"
                            "- {type: batchnorm1d}\n- {type: relu, name: "
                            "ms%d}\n",
                            m, kern[k], kern[k] / 2, prev, kern[k]);
      bad |= ysn_appendf (buf, cap,
                          "- {type: concat, inputs: [ms1, ms3, ms5, ms7]}\n");
    }
  bad |= ysn_appendf (buf, cap, "- {type: linear, out: %zu, init: glorot}\n",
                      3 * S);
  return bad ? gs_host->error (GS_ECONFIG, YSN_ID ": architecture too long")
             : GS_OK;
}

/* ---- alloc / free -------------------------------------------------------- */

static int
ysn_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  ysn_state_t *s = (ysn_state_t *)vstate;
  gs_nn_opts no;
  int rc;
  memcpy (&s->p, params, sizeof s->p);
  s->lib = setup->library;
  s->seed = setup->seed;
  s->C = s->lib->n_channels;
  s->S = s->p.cells > 0 ? (size_t)s->p.cells
                        : (size_t)((double)s->C * 0.375 + 0.5);
  if (s->S < 1)
    s->S = 1;
  if (s->S > s->C)
    return gs_host->error (GS_EINVAL,
                           YSN_ID ": %zu cells for %zu channels; at most one "
                                  "cell per channel",
                           s->S, s->C);
  if (s->C < 32)
    return gs_host->error (GS_EINVAL,
                           YSN_ID ": the library has %zu channels; the "
                                  "ResNet-18 backbone needs at least 32",
                           s->C);
  if (s->p.noise_max < s->p.noise_min)
    return gs_host->error (GS_EINVAL,
                           YSN_ID ": noise_max %g is below noise_min %g",
                           s->p.noise_max, s->p.noise_min);
  rc = ysn_build_arch (&s->p, s->S, s->arch, sizeof s->arch);
  if (rc != GS_OK)
    return rc;
  gs_nn_opts_init (&no);
  no.seed = setup->seed ^ 0x796f6c6f7370ULL;
  rc = gs_nn_create (s->arch, 1, (int)s->C, &no, &s->nn);
  if (rc != GS_OK)
    return rc; /* the engine's message names the layer */
  gs_nn_set_mode (s->nn, GS_NN_EVAL);
  s->infer_bytes = gs_nn_infer_bytes (s->nn, 1);
  return GS_OK;
}

static void
ysn_free (void *vstate)
{
  ysn_state_t *s = (ysn_state_t *)vstate;
  gs_nn_free (s->nn);
  s->nn = NULL;
}

/* ---- training ------------------------------------------------------------ */

/* A set in memory: normalised spectra and true peaks in channels. */
typedef struct ysn_set
{
  size_t n;
  float *x;      /* n x C */
  size_t *off;   /* n + 1: peaks of spectrum i are [off[i], off[i+1]) */
  double *u, *w; /* centre coordinate and width in channels */
} ysn_set;

static void
ysn_set_free (ysn_set *d)
{
  free (d->x);
  free (d->off);
  free (d->u);
  free (d->w);
  memset (d, 0, sizeof *d);
}

static int
ysn_set_load (const ysn_state_t *s, const gs_dataset *ds, size_t max_n,
              ysn_set *d, const char *what)
{
  int (*peaks) (void *, size_t, gs_peak *, size_t, size_t *)
      = GS_DATASET_PEAKS (ds);
  const double *edges = s->lib->energy_edges;
  size_t i, j, n = ds->n_spectra, cap = 0, pcap = 64, np = 0;
  double *y = NULL;
  gs_peak *pk = NULL;
  int rc = GS_OK;
  memset (d, 0, sizeof *d);
  if (!peaks)
    return gs_host->error (GS_EINVAL,
                           YSN_ID ": the %s set has no peak labels "
                                  "(gs_dataset.peaks); the method learns from "
                                  "true peaks",
                           what);
  if (ds->n_channels != s->C)
    return gs_host->error (GS_EBADLEN,
                           YSN_ID ": the %s set has %zu channels; the library "
                                  "%zu",
                           what, ds->n_channels, s->C);
  if (max_n > 0 && n > max_n)
    n = max_n;
  y = malloc (s->C * sizeof *y);
  pk = malloc (pcap * sizeof *pk);
  d->x = malloc ((n > 0 ? n : 1) * s->C * sizeof (float));
  d->off = malloc ((n + 1) * sizeof *d->off);
  if (!y || !pk || !d->x || !d->off)
    {
      rc = gs_host->error (
          GS_ENOMEM, YSN_ID ": out of memory for %zu %s spectra", n, what);
      goto fail;
    }
  d->off[0] = 0;
  for (i = 0; i < n; i++)
    {
      size_t k = 0;
      if ((rc = ds->spectrum (ds->ctx, i, y)) != GS_OK
          || (rc = peaks (ds->ctx, i, pk, pcap, &k)) != GS_OK)
        goto fail;
      if (k > pcap)
        {
          gs_peak *t = realloc (pk, k * sizeof *pk);
          if (!t)
            {
              rc = gs_host->error (GS_ENOMEM, YSN_ID ": out of memory");
              goto fail;
            }
          pk = t;
          pcap = k;
          if ((rc = peaks (ds->ctx, i, pk, pcap, &k)) != GS_OK)
            goto fail;
        }
      ysn_normalise (s->p.input, y, s->C, d->x + i * s->C);
      if (np + k > cap)
        {
          size_t nc = 2 * cap + k + 64;
          double *tu = realloc (d->u, nc * sizeof *tu), *tw;
          if (tu)
            d->u = tu;
          tw = realloc (d->w, nc * sizeof *tw);
          if (tw)
            d->w = tw;
          if (!tu || !tw)
            {
              rc = gs_host->error (GS_ENOMEM, YSN_ID ": out of memory");
              goto fail;
            }
          cap = nc;
        }
      for (j = 0; j < k; j++)
        {
          double u = ysn_kev_to_chan (edges, s->C, pk[j].centre_kev);
          double l = ysn_kev_to_chan (edges, s->C, pk[j].left_kev);
          double r = ysn_kev_to_chan (edges, s->C, pk[j].right_kev);
          if (!(pk[j].centre_kev >= edges[0] && pk[j].centre_kev < edges[s->C]))
            continue; /* off the grid */
          d->u[np] = u;
          d->w[np] = r > l ? r - l : 0;
          np++;
        }
      d->off[i + 1] = np;
      if ((i + 1) % 4096 == 0 || i + 1 == n)
        gs_host->progress (YSN_ID, what, i + 1, n);
    }
  d->n = n;
  free (y);
  free (pk);
  return GS_OK;
fail:
  free (y);
  free (pk);
  ysn_set_free (d);
  return rc;
}

/* Training buffers for one batch. */
typedef struct ysn_batch
{
  float *x, *z, *d, *obj, *tx, *tw;
  double *u, *w; /* shifted peaks of one sample */
  size_t ucap;
} ysn_batch;

static void
ysn_batch_free (ysn_batch *b)
{
  free (b->x);
  free (b->z);
  free (b->d);
  free (b->obj);
  free (b->tx);
  free (b->tw);
  free (b->u);
  free (b->w);
}

static int
ysn_batch_alloc (ysn_batch *b, size_t bs, size_t C, size_t S, size_t ucap)
{
  memset (b, 0, sizeof *b);
  b->x = malloc (bs * C * sizeof (float));
  b->z = malloc (bs * 3 * S * sizeof (float));
  b->d = malloc (bs * 3 * S * sizeof (float));
  b->obj = malloc (bs * S * sizeof (float));
  b->tx = malloc (bs * S * sizeof (float));
  b->tw = malloc (bs * S * sizeof (float));
  b->ucap = ucap > 0 ? ucap : 1;
  b->u = malloc (b->ucap * sizeof (double));
  b->w = malloc (b->ucap * sizeof (double));
  return b->x && b->z && b->d && b->obj && b->tx && b->tw && b->u && b->w
             ? GS_OK
             : GS_ENOMEM;
}

/* Places sample `src` of d at slot k of the batch, augmented when rng is
 * not NULL. */
static void
ysn_fill (const ysn_state_t *s, const ysn_set *d, size_t src, size_t k,
          ysn_batch *b, gs_rng *rng)
{
  const float *x0 = d->x + src * s->C;
  float *x = b->x + k * s->C;
  size_t np = d->off[src + 1] - d->off[src], j;
  long shift = 0;
  size_t c;
  if (rng && s->p.max_shift > 0)
    {
      long m = s->p.max_shift < (int)s->C ? s->p.max_shift : (long)s->C - 1;
      shift = (long)(gs_host->rng_uniform (rng) * (double)(2 * m + 1)) - m;
      if (shift > m)
        shift = m;
    }
  for (c = 0; c < s->C; c++)
    {
      long from = (long)c - shift;
      x[c] = from >= 0 && from < (long)s->C ? x0[from] : 0.0f;
    }
  if (rng && s->p.noise_max > 0)
    {
      double a
          = s->p.noise_min
            + (s->p.noise_max - s->p.noise_min) * gs_host->rng_uniform (rng);
      for (c = 0; c < s->C; c++)
        x[c] += (float)(a * (2 * gs_host->rng_uniform (rng) - 1));
    }
  for (j = 0; j < np; j++)
    {
      b->u[j] = d->u[d->off[src] + j] + (double)shift;
      b->w[j] = d->w[d->off[src] + j];
    }
  /* ysn_encode drops centres that left [0, C) */
  ysn_encode (s->C, s->S, b->u, b->w, np, b->obj + k * s->S, b->tx + k * s->S,
              b->tw + k * s->S);
}

static double
ysn_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean loss over a set in inference mode (no augmentation). */
static int
ysn_eval_loss (ysn_state_t *s, const ysn_set *d, ysn_batch *b, int bs,
               double *out)
{
  double sum = 0;
  size_t i0, k;
  int rc;
  gs_nn_set_mode (s->nn, GS_NN_EVAL);
  for (i0 = 0; i0 < d->n; i0 += (size_t)bs)
    {
      int nb = (int)(d->n - i0 < (size_t)bs ? d->n - i0 : (size_t)bs);
      for (k = 0; k < (size_t)nb; k++)
        ysn_fill (s, d, i0 + k, k, b, NULL);
      if ((rc = gs_nn_forward (s->nn, b->x, nb, b->z)) != GS_OK)
        return rc;
      sum += ysn_loss (b->z, b->obj, b->tx, b->tw, nb, s->S, s->p.lambda_coord,
                       s->p.lambda_noobj, NULL)
             * nb;
    }
  *out = d->n ? sum / (double)d->n : NAN;
  return GS_OK;
}

/* Batchnorm running statistics re-estimated as the plain average over the
 * first bn_recompute full batches of the (unaugmented) training set. */
static int
ysn_recompute_bn (ysn_state_t *s, const ysn_set *tr, ysn_batch *b, int bs)
{
  size_t nbat = tr->n / (size_t)bs, k, i;
  int rc, nb = bs;
  if (s->p.bn_recompute <= 0 || tr->n == 0)
    return GS_OK;
  if (nbat > (size_t)s->p.bn_recompute)
    nbat = (size_t)s->p.bn_recompute;
  if (nbat == 0)
    {
      nbat = 1;
      nb = (int)tr->n;
    }
  if (nb < 2)
    return GS_OK;
  gs_nn_bn_reset_running (s->nn);
  gs_nn_set_mode (s->nn,
                  GS_NN_BN_BATCH | GS_NN_BN_UPDATE | GS_NN_BN_CUMULATIVE);
  for (k = 0; k < nbat; k++)
    {
      for (i = 0; i < (size_t)nb; i++)
        memcpy (b->x + i * s->C, tr->x + (k * (size_t)nb + i) * s->C,
                s->C * sizeof (float));
      if ((rc = gs_nn_forward (s->nn, b->x, nb, NULL)) != GS_OK)
        return rc;
    }
  gs_nn_set_mode (s->nn, GS_NN_EVAL);
  return GS_OK;
}

static size_t
ysn_max_peaks (const ysn_set *d)
{
  size_t i, m = 0;
  for (i = 0; i < d->n; i++)
    if (d->off[i + 1] - d->off[i] > m)
      m = d->off[i + 1] - d->off[i];
  return m;
}

static int
ysn_train_loop (ysn_state_t *s, const ysn_set *tr, const ysn_set *va)
{
  int bs = s->p.batch, epoch, rc = GS_OK, best_epoch = -1;
  size_t *perm = malloc ((tr->n > 0 ? tr->n : 1) * sizeof *perm), i;
  size_t mp = ysn_max_peaks (tr), nsnap = gs_nn_snapshot (s->nn, NULL, 0);
  double best_loss = HUGE_VAL;
  gs_nn_optim_opts oo;
  gs_nn_optim *opt = NULL;
  gs_rng *rng = NULL;
  float *best = NULL;
  ysn_batch b;
  if (va && ysn_max_peaks (va) > mp)
    mp = ysn_max_peaks (va);
  if ((size_t)bs > tr->n)
    bs = (int)tr->n;
  rc = ysn_batch_alloc (&b, (size_t)bs, s->C, s->S, mp);
  if (rc != GS_OK || !perm
      || (va && va->n > 0 && !(best = malloc (nsnap * sizeof (float)))))
    {
      rc = gs_host->error (GS_ENOMEM, YSN_ID ": out of memory for training");
      goto done;
    }
  gs_nn_optim_opts_init (&oo, GS_NN_ADAM);
  oo.lr = s->p.lr;
  oo.weight_decay = s->p.weight_decay;
  if ((rc = gs_nn_optim_create (s->nn, &oo, &opt)) != GS_OK)
    goto done;
  rng = gs_host->rng_alloc (s->seed, 0x79736e747261ULL);
  if (!rng)
    {
      rc = gs_host->error (GS_ENOMEM, YSN_ID ": out of memory");
      goto done;
    }
  for (i = 0; i < tr->n; i++)
    perm[i] = i;
  for (epoch = 0; epoch < s->p.epochs; epoch++)
    {
      double t0 = ysn_now (), sum = 0, vloss = NAN;
      size_t i0;
      for (i = tr->n; i > 1; i--) /* Fisher-Yates, seeded */
        {
          size_t j = (size_t)(gs_host->rng_uniform (rng) * (double)i), t;
          if (j >= i)
            j = i - 1;
          t = perm[i - 1];
          perm[i - 1] = perm[j];
          perm[j] = t;
        }
      gs_nn_set_mode (s->nn, GS_NN_TRAIN);
      for (i0 = 0; i0 < tr->n; i0 += (size_t)bs)
        {
          int nb = (int)(tr->n - i0 < (size_t)bs ? tr->n - i0 : (size_t)bs);
          size_t k;
          if (nb < 2 && tr->n >= 2)
            break; /* batchnorm needs two samples; drop a last single */
          for (k = 0; k < (size_t)nb; k++)
            ysn_fill (s, tr, perm[i0 + k], k, &b, rng);
          if ((rc = gs_nn_forward (s->nn, b.x, nb, b.z)) != GS_OK)
            goto done;
          sum += ysn_loss (b.z, b.obj, b.tx, b.tw, nb, s->S, s->p.lambda_coord,
                           s->p.lambda_noobj, b.d)
                 * nb;
          gs_nn_zero_grad (s->nn);
          if ((rc = gs_nn_backward (s->nn, b.d, NULL)) != GS_OK
              || (rc = gs_nn_optim_step (opt)) != GS_OK)
            goto done;
          gs_host->progress (YSN_ID, "train", i0 + (size_t)nb, tr->n);
        }
      if (!isfinite (sum))
        {
          rc = gs_host->error (GS_EFAILED,
                               YSN_ID ": the training loss diverged (epoch "
                                      "%d); lower the learning rate",
                               epoch + 1);
          goto done;
        }
      if ((rc = ysn_recompute_bn (s, tr, &b, bs)) != GS_OK)
        goto done;
      if (best)
        {
          if ((rc = ysn_eval_loss (s, va, &b, bs, &vloss)) != GS_OK)
            goto done;
          if (isfinite (vloss) && vloss < best_loss)
            {
              best_loss = vloss;
              best_epoch = epoch;
              gs_nn_snapshot (s->nn, best, 0);
            }
        }
      gs_host->log (GS_LOG_INFO, YSN_ID,
                    "epoch %d: loss %.5g, validation loss %.5g, %.2f s",
                    epoch + 1, sum / (double)tr->n, vloss, ysn_now () - t0);
      gs_nn_optim_epoch (opt);
    }
  if (best && best_epoch >= 0)
    {
      gs_nn_snapshot (s->nn, best, 1);
      gs_host->log (GS_LOG_INFO, YSN_ID,
                    "keeping epoch %d (validation loss %.5g)", best_epoch + 1,
                    best_loss);
    }
done:
  gs_nn_set_mode (s->nn, GS_NN_EVAL);
  gs_nn_optim_free (opt);
  if (rng)
    gs_host->rng_free (rng);
  ysn_batch_free (&b);
  free (perm);
  free (best);
  return rc;
}

static int
ysn_train (void *vstate, const gs_dataset *train, const gs_dataset *valid)
{
  ysn_state_t *s = (ysn_state_t *)vstate;
  ysn_set tr, va;
  int rc, threads = s->p.threads;
  if (threads <= 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      threads = n > 0 ? (int)(n < 64 ? n : 64) : 1;
    }
  memset (&va, 0, sizeof va);
  rc = ysn_set_load (s, train, (size_t)s->p.max_train, &tr, "train");
  if (rc != GS_OK)
    return rc;
  if (tr.n < 2)
    {
      ysn_set_free (&tr);
      return gs_host->error (
          GS_EINVAL, YSN_ID ": %zu training spectra; need at least 2", tr.n);
    }
  if (valid && (rc = ysn_set_load (s, valid, 0, &va, "valid")) != GS_OK)
    {
      ysn_set_free (&tr);
      return rc;
    }
  if ((rc = gs_nn_set_threads (s->nn, threads)) == GS_OK)
    rc = ysn_train_loop (s, &tr, valid ? &va : NULL);
  gs_nn_set_threads (s->nn, 1);
  ysn_set_free (&tr);
  ysn_set_free (&va);
  return rc;
}

/* ---- model file -------------------------------------------------------- */

static int
ysn_save (const void *vstate, FILE *out)
{
  const ysn_state_t *s = (const ysn_state_t *)vstate;
  if (fprintf (out, "gspec-yolospecnn %d %zu %zu %d %d %.17g\n", YSN_VERSION,
               s->C, s->S, s->p.msnn, s->p.input, s->p.width)
      < 0)
    return gs_host->error (GS_EIO, YSN_ID ": cannot write the model");
  return gs_nn_save (s->nn, out);
}

static int
ysn_load (void *vstate, FILE *in)
{
  ysn_state_t *s = (ysn_state_t *)vstate;
  size_t C, S;
  int version, msnn, input, c, l;
  double width;
  gs_nn *nn = NULL;
  int rc;
  if (fscanf (in, "gspec-yolospecnn %d %zu %zu %d %d %lg", &version, &C, &S,
              &msnn, &input, &width)
          != 6
      || fgetc (in) != '\n')
    return gs_host->error (GS_EFORMAT,
                           YSN_ID ": the model is not a YOLOSpecNN model (no "
                                  "'gspec-yolospecnn' header)");
  if (version != YSN_VERSION)
    return gs_host->error (GS_EFORMAT,
                           YSN_ID ": model version %d; this gspec reads %d",
                           version, YSN_VERSION);
  if (C != s->C || S != s->S || msnn != s->p.msnn || input != s->p.input
      || width != s->p.width)
    return gs_host->error (GS_EFORMAT,
                           YSN_ID ": the model is for %zu channels, %zu cells, "
                                  "msnn %d, input %d, width %g; the method has "
                                  "%zu, %zu, %d, %d, %g",
                           C, S, msnn, input, width, s->C, s->S, s->p.msnn,
                           s->p.input, s->p.width);
  if ((rc = gs_nn_load (in, NULL, &nn)) != GS_OK)
    return rc;
  gs_nn_input_shape (nn, &c, &l);
  if (c != 1 || (size_t)l != s->C || gs_nn_output_size (nn) != 3 * s->S
      || strcmp (gs_nn_arch (nn), s->arch) != 0)
    {
      gs_nn_free (nn);
      return gs_host->error (GS_EFORMAT,
                             YSN_ID ": the model's network (%d x %d -> %zu) is "
                                    "not the architecture of its parameters "
                                    "(1 x %zu -> %zu)",
                             c, l, gs_nn_output_size (nn), s->C, 3 * s->S);
    }
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_free (s->nn);
  s->nn = nn;
  s->infer_bytes = gs_nn_infer_bytes (nn, 1);
  return GS_OK;
}

/* ---- analysis ------------------------------------------------------------ */

/* Workspace: x (C floats), z (3 S floats), S candidates, the engine's
 * inference memory; each part 64-byte aligned. */
static size_t
ysn_align (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

static size_t
ysn_workspace_size (const void *vstate)
{
  const ysn_state_t *s = (const ysn_state_t *)vstate;
  return 64 + ysn_align (s->C * sizeof (float))
         + ysn_align (3 * s->S * sizeof (float))
         + ysn_align (s->S * sizeof (ysn_cand)) + s->infer_bytes;
}

static int
ysn_analyze (const void *vstate, void *work, const double *y, size_t n,
             gs_result *res)
{
  const ysn_state_t *s = (const ysn_state_t *)vstate;
  char *w = (char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  float *x = (float *)w;
  float *z = (float *)(w + ysn_align (s->C * sizeof (float)));
  ysn_cand *cand
      = (ysn_cand *)((char *)z + ysn_align (3 * s->S * sizeof (float)));
  void *nnw = (char *)cand + ysn_align (s->S * sizeof (ysn_cand));
  const double *edges = s->lib->energy_edges;
  size_t k, np;
  int rc;
  if (n != s->C)
    return gs_host->error (GS_EBADLEN,
                           YSN_ID ": the spectrum has %zu channels; the "
                                  "network takes %zu",
                           n, s->C);
  if (!work)
    return gs_host->error (GS_EINVAL, YSN_ID ": no workspace");
  ysn_normalise (s->p.input, y, n, x);
  rc = gs_nn_infer (s->nn, nnw, s->infer_bytes, x, 1, z);
  if (rc != GS_OK)
    return rc;
  np = ysn_decode (z, s->C, s->S, s->p.min_confidence, s->p.nms_iou, cand);
  for (k = 0; k < np; k++)
    {
      gs_peak pk;
      pk.centre_kev = ysn_chan_to_kev (edges, s->C, cand[k].centre);
      pk.left_kev = ysn_chan_to_kev (edges, s->C, cand[k].left);
      pk.right_kev = ysn_chan_to_kev (edges, s->C, cand[k].right);
      pk.confidence = cand[k].conf;
      pk.component = -1;
      if ((rc = gs_host->result_add_peak (res, &pk)) != GS_OK)
        return rc;
    }
  return GS_OK;
}

static const gs_method_type ysn_type = {
  .struct_size = sizeof (gs_method_type),
  .id = YSN_ID,
  .summary = "YOLOSpecNN: one-stage full-energy peak detection (ResNet-18 "
             "1-D + MSNN, 3 x S cell grid, NMS)",
  .kinds = GS_KIND_PEAKS,
  .flags = GS_METHOD_NEEDS_LIBRARY | GS_METHOD_STOCHASTIC,
  .params = ysn_param_table,
  .params_size = sizeof (ysn_params_t),
  .state_size = sizeof (ysn_state_t),
  .alloc = ysn_alloc,
  .free = ysn_free,
  .train = ysn_train,
  .save = ysn_save,
  .load = ysn_load,
  .workspace_size = ysn_workspace_size,
  .analyze = ysn_analyze,
};

#ifndef YSN_TESTING
GS_PLUGIN_DEFINE ("peaks-yolospecnn", "1.0.0", "MIT", &ysn_type)
#endif
