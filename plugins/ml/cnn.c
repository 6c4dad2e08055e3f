/* The 1-D CNNs of the benchmark paper (gammabench-spec.md 4; phan2025;
 * Turner et al. 2021), on the SDK's NN engine (gspec/nn.h):
 *   ml.cnn-multi    multi-label: one network, a sigmoid per nuclide
 *                   (asymmetric loss with the spec's settings = clamped
 *                   BCE, or BCE with logits)
 *   ml.cnn-mono     binary relevance: one network per nuclide, same
 *                   architecture, BCE with logits
 *   ml.cnn-regress  mixing weights: softmax over background + nuclides,
 *                   soft-target cross-entropy against a / sum(a);
 *                   counts = weights x total counts
 * Input y / sum(y).  Scores are probabilities (regress: weights, the
 * background included); the host calibrates the thresholds on the
 * validation set (GS_METHOD_SCORES, spec 4.4).
 *
 * Architectures (param `preset`, every knob overridable):
 *   cpu     conv 32/k20, 64/k16, 64/k16, each max-pool 2 + batchnorm +
 *           ReLU (the spec's block order: conv, pool, BN, ReLU); FC 128,
 *           dropout 0.5 (32.5 M multiply-adds per spectrum)
 *   spec    the notebooks' default_config: conv 256/k20, 128/k16,
 *           256/k16, pool 2; FC 150, 100; dropout 0.5; lr 4.77e-5
 *   turner  Turner et al.'s reference model: 3 modules of two conv 40/k7
 *           (same padding) + leaky ReLU 0.1, max-pool 2, spatial dropout
 *           0.5; dense 700 + leaky ReLU + dropout 0.5
 * or `architecture`: a YAML flow list of layers (gspec/nn.h) without the
 * output layer, which the plugin appends. */
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

#define CNN_MAX_CONV 6
#define CNN_MAX_FC 3
#define CNN_MAX_NETS 64
#define CNN_ARCH_MAX 8192

enum
{
  CNN_MULTI = 0,
  CNN_MONO = 1,
  CNN_REGRESS = 2
};

enum
{
  PRESET_CPU = 0,
  PRESET_SPEC = 1,
  PRESET_TURNER = 2
};

typedef struct cnn_params_t
{
  int preset;
  char architecture[GS_PARAM_STRING_MAX];
  int n_conv;
  int layer_size[CNN_MAX_CONV];
  int kernel[CNN_MAX_CONV];
  int stride[CNN_MAX_CONV];
  int max_pool[CNN_MAX_CONV];
  int n_fc;
  int layer_fn_size[CNN_MAX_FC];
  double dropout;
  int epochs;
  int batch;
  double lr;
  int optimizer;
  double weight_decay;
  int schedule;
  double lr_gamma;
  int lr_step;
  int patience;
  int restore_best;
  int bn_recompute;
  int loss;
  int threads;
  int max_train;
} cnn_params_t;

typedef struct cnn_state_t
{
  cnn_params_t p;
  int kind;                   /* CNN_MULTI / MONO / REGRESS */
  const char *id;
  const gs_library_view *lib;
  uint64_t seed;
  size_t K;                   /* components, background first */
  size_t L;                   /* channels */
  size_t n_nets, n_out;       /* networks, outputs per network */
  gs_nn *nets[CNN_MAX_NETS];
  char arch[CNN_ARCH_MAX];
} cnn_state_t;

#define P_OFF(f) offsetof (cnn_params_t, f)
#define CONV_PARAMS(i)                                                         \
  { "layer_size_" #i, GS_PARAM_INT, P_OFF (layer_size[i - 1]), 0, 0, 4096,     \
    NULL, "channels of conv layer " #i " (0: the preset's)" },                 \
      { "kernel_" #i, GS_PARAM_INT, P_OFF (kernel[i - 1]), 0, 0, 1024, NULL,   \
        "kernel of conv layer " #i " (0: the preset's)" },                     \
      { "stride_" #i, GS_PARAM_INT, P_OFF (stride[i - 1]), 0, 0, 64, NULL,     \
        "stride of conv layer " #i " (0: the preset's, 1)" },                  \
      { "max_pool_" #i, GS_PARAM_INT, P_OFF (max_pool[i - 1]), 0, 0, 64,       \
        NULL, "max-pool size after conv layer " #i " (0: the preset's; 1: "    \
              "none)" }

static const gs_param_spec cnn_params[] = {
  { "preset", GS_PARAM_ENUM, P_OFF (preset), 0, 0, 0, "cpu|spec|turner",
    "architecture and training defaults: cpu (32.5 M MACs), spec (the "
    "notebooks' default_config), turner (Turner et al. 2021)" },
  { "architecture", GS_PARAM_STRING, P_OFF (architecture), 0, 0, 0, NULL,
    "a YAML flow list of layers (gspec/nn.h) replacing the preset's hidden "
    "layers; the output layer is appended" },
  { "n_conv", GS_PARAM_INT, P_OFF (n_conv), 0, 0, CNN_MAX_CONV, NULL,
    "conv layers (turner: modules) (0: the preset's)" },
  CONV_PARAMS (1),
  CONV_PARAMS (2),
  CONV_PARAMS (3),
  CONV_PARAMS (4),
  CONV_PARAMS (5),
  CONV_PARAMS (6),
  { "n_fc", GS_PARAM_INT, P_OFF (n_fc), -1, -1, CNN_MAX_FC, NULL,
    "hidden fully-connected layers (-1: the preset's)" },
  { "layer_fn_size_1", GS_PARAM_INT, P_OFF (layer_fn_size[0]), 0, 0, 100000,
    NULL, "units of hidden FC layer 1 (0: the preset's)" },
  { "layer_fn_size_2", GS_PARAM_INT, P_OFF (layer_fn_size[1]), 0, 0, 100000,
    NULL, "units of hidden FC layer 2 (0: the preset's)" },
  { "layer_fn_size_3", GS_PARAM_INT, P_OFF (layer_fn_size[2]), 0, 0, 100000,
    NULL, "units of hidden FC layer 3 (0: the preset's)" },
  { "dropout", GS_PARAM_REAL, P_OFF (dropout), -1, -1, 0.95, NULL,
    "dropout after each hidden FC layer (turner: also spatial dropout); "
    "-1: the preset's 0.5" },
  { "epochs", GS_PARAM_INT, P_OFF (epochs), 150, 1, 100000, NULL,
    "maximum epochs (early stopping usually ends sooner)" },
  { "batch", GS_PARAM_INT, P_OFF (batch), 0, 0, 65536, NULL,
    "mini-batch size (0: the preset's: 512, turner 32)" },
  { "lr", GS_PARAM_REAL, P_OFF (lr), 0, 0, 10, NULL,
    "learning rate (0: the preset's: cpu 1e-3, spec 4.77e-5, turner "
    "1e-3)" },
  { "optimizer", GS_PARAM_ENUM, P_OFF (optimizer), 0, 0, 0, "adam|adamw",
    "Adam (the spec's) or AdamW" },
  { "weight_decay", GS_PARAM_REAL, P_OFF (weight_decay), 0, 0, 1, NULL,
    "L2 (adam) or decoupled (adamw) weight decay" },
  { "schedule", GS_PARAM_ENUM, P_OFF (schedule), 0, 0, 0,
    "constant|step|exponential", "learning-rate schedule per epoch" },
  { "lr_gamma", GS_PARAM_REAL, P_OFF (lr_gamma), 0.1, 0, 1, NULL,
    "factor of the step / exponential schedule" },
  { "lr_step", GS_PARAM_INT, P_OFF (lr_step), 10, 1, 100000, NULL,
    "epochs between steps of the step schedule" },
  { "patience", GS_PARAM_INT, P_OFF (patience), -1, -1, 100000, NULL,
    "early stopping on the validation loss after this many epochs "
    "without improvement (-1: the spec's, 5; mono-label 3)" },
  { "restore_best", GS_PARAM_BOOL, P_OFF (restore_best), 0, 0, 0, NULL,
    "keep the weights of the best validation epoch (the spec keeps the "
    "last)" },
  { "bn_recompute", GS_PARAM_INT, P_OFF (bn_recompute), 100, 0, 1000000,
    NULL,
    "after every epoch, re-estimate the batchnorm running statistics as "
    "the plain average over this many training batches (fixed order) "
    "with the epoch's final weights (0: keep the momentum averages, as "
    "PyTorch; those lag the weights at high learning rates)" },
  { "loss", GS_PARAM_ENUM, P_OFF (loss), 0, 0, 0, "asymmetric|bce",
    "multi-label loss: the authors' AsymmetricLoss (gammas 0, clip 0 = "
    "BCE on probabilities clamped at 1e-8) or BCE with logits" },
  { "threads", GS_PARAM_INT, P_OFF (threads), 0, 0, 256, NULL,
    "training threads (0: the online CPUs); results do not depend on it" },
  { "max_train", GS_PARAM_INT, P_OFF (max_train), 0, 0, 2000000000, NULL,
    "use at most this many training spectra (0: all)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

/* ---- architectures ---------------------------------------------------- */

typedef struct preset_t
{
  int n_conv, size[CNN_MAX_CONV], kernel[CNN_MAX_CONV], pool[CNN_MAX_CONV];
  int n_fc, fc[CNN_MAX_FC];
  double dropout, lr;
  int batch;
} preset_t;

static const preset_t presets[3] = {
  { 3, { 32, 64, 64, 64, 64, 64 }, { 20, 16, 16, 16, 16, 16 },
    { 2, 2, 2, 2, 2, 2 }, 1, { 128, 100, 100 }, 0.5, 1e-3, 512 },
  { 3, { 256, 128, 256, 256, 256, 256 }, { 20, 16, 16, 16, 16, 16 },
    { 2, 2, 2, 2, 2, 2 }, 2, { 150, 100, 100 }, 0.5, 4.768552885534946e-05,
    512 },
  { 3, { 40, 40, 40, 40, 40, 40 }, { 7, 7, 7, 7, 7, 7 }, { 2, 2, 2, 2, 2, 2 },
    1, { 700, 100, 100 }, 0.5, 1e-3, 32 },
};

static int
appendf (char *buf, size_t cap, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
appendf (char *buf, size_t cap, const char *fmt, ...)
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
pick (int v, int preset)
{
  return v > 0 ? v : preset;
}

/* The hidden layers as YAML (block list), then the output layer. */
static int
build_arch (const cnn_state_t *s, size_t n_out, char *buf, size_t cap)
{
  const cnn_params_t *p = &s->p;
  const preset_t *pr = &presets[p->preset];
  int n_conv = pick (p->n_conv, pr->n_conv);
  int n_fc = p->n_fc >= 0 ? p->n_fc : pr->n_fc;
  double drop = p->dropout >= 0 ? p->dropout : pr->dropout;
  int i, bad = 0;
  buf[0] = 0;
  if (p->architecture[0])
    {
      /* a flow list "[{...}, {...}]": one item per line is not needed,
         the output layer is appended to the same list */
      const char *a = p->architecture;
      size_t len = strlen (a);
      while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\n'))
        len--;
      if (len < 2 || a[0] != '[' || a[len - 1] != ']')
        return gs_host->error (GS_ECONFIG,
                               "%s: architecture must be a YAML flow list "
                               "'[{type: conv1d, out: 8, kernel: 5}, ...]' "
                               "(got '%s')",
                               s->id, a);
      bad |= appendf (buf, cap, "%.*s%s{type: linear, out: %zu, init: "
                                "glorot}]",
                      (int)(len - 1), a, len > 2 ? ", " : "", n_out);
      return bad ? gs_host->error (GS_ECONFIG, "%s: architecture too long",
                                   s->id)
                 : GS_OK;
    }
  for (i = 0; i < n_conv; i++)
    {
      int c = pick (p->layer_size[i], pr->size[i]);
      int k = pick (p->kernel[i], pr->kernel[i]);
      int st = pick (p->stride[i], 1);
      int mp = pick (p->max_pool[i], pr->pool[i]);
      if (p->preset == PRESET_TURNER)
        {
          int j;
          for (j = 0; j < 2; j++)
            bad |= appendf (buf, cap,
                            "- {type: conv1d, out: %d, kernel: %d, stride: "
                            "%d, padding: %d}\n- {type: leakyrelu, slope: "
                            "0.1}\n",
                            c, k, j == 0 ? st : 1, (k - 1) / 2);
          if (mp > 1)
            bad |= appendf (buf, cap, "- {type: maxpool1d, kernel: %d}\n", mp);
          if (drop > 0)
            bad |= appendf (buf, cap, "- {type: spatial_dropout, p: %g}\n",
                            drop);
        }
      else
        {
          bad |= appendf (buf, cap,
                          "- {type: conv1d, out: %d, kernel: %d, stride: "
                          "%d}\n",
                          c, k, st);
          if (mp > 1)
            bad |= appendf (buf, cap, "- {type: maxpool1d, kernel: %d}\n", mp);
          bad |= appendf (buf, cap, "- {type: batchnorm1d}\n- {type: relu}\n");
        }
    }
  for (i = 0; i < n_fc; i++)
    {
      int u = pick (p->layer_fn_size[i], pr->fc[i]);
      bad |= appendf (buf, cap, "- {type: linear, out: %d}\n- {type: %s}\n", u,
                      p->preset == PRESET_TURNER ? "leakyrelu, slope: 0.1"
                                                 : "relu");
      if (drop > 0)
        bad |= appendf (buf, cap, "- {type: dropout, p: %g}\n", drop);
    }
  bad |= appendf (buf, cap, "- {type: linear, out: %zu, init: glorot}\n",
                  n_out);
  return bad ? gs_host->error (GS_ECONFIG, "%s: architecture too long", s->id)
             : GS_OK;
}

/* ---- alloc / free ------------------------------------------------------ */

static int
cnn_alloc_kind (void *vstate, const void *params, const gs_setup *setup,
                int kind, const char *id)
{
  cnn_state_t *s = (cnn_state_t *)vstate;
  gs_nn_opts no;
  size_t j;
  int rc;
  memcpy (&s->p, params, sizeof s->p);
  s->kind = kind;
  s->id = id;
  s->lib = setup->library;
  s->seed = setup->seed;
  s->K = s->lib->n_components;
  s->L = s->lib->n_channels;
  if (s->K < 2)
    return gs_host->error (GS_EINVAL,
                           "%s: the library has %zu components; need the "
                           "background and at least one nuclide",
                           id, s->K);
  if (kind == CNN_MONO && s->K - 1 > CNN_MAX_NETS)
    return gs_host->error (GS_EINVAL, "%s: %zu nuclides; at most %d", id,
                           s->K - 1, CNN_MAX_NETS);
  s->n_nets = kind == CNN_MONO ? s->K - 1 : 1;
  s->n_out = kind == CNN_MULTI ? s->K - 1 : (kind == CNN_MONO ? 1 : s->K);
  rc = build_arch (s, s->n_out, s->arch, sizeof s->arch);
  if (rc != GS_OK)
    return rc;
  gs_nn_opts_init (&no);
  for (j = 0; j < s->n_nets; j++)
    {
      no.seed = setup->seed ^ (0x9e3779b97f4a7c15ULL * (j + 1));
      rc = gs_nn_create (s->arch, 1, (int)s->L, &no, &s->nets[j]);
      if (rc != GS_OK)
        return rc; /* the engine's message names the layer */
      gs_nn_set_mode (s->nets[j], GS_NN_EVAL);
    }
  return GS_OK;
}

static void
cnn_free (void *vstate)
{
  cnn_state_t *s = (cnn_state_t *)vstate;
  size_t j;
  for (j = 0; j < CNN_MAX_NETS; j++)
    {
      gs_nn_free (s->nets[j]);
      s->nets[j] = NULL;
    }
}

/* ---- training ---------------------------------------------------------- */

typedef struct set_t
{
  size_t n;
  float *x; /* n x L, y / sum(y) */
  float *t; /* n x K: truth (counts) */
} set_t;

static void
set_free (set_t *d)
{
  free (d->x);
  free (d->t);
  memset (d, 0, sizeof *d);
}

static int
set_load (const cnn_state_t *s, const gs_dataset *ds, size_t max_n, set_t *d,
          const char *what)
{
  size_t i, c, n = ds->n_spectra;
  double *y = malloc (s->L * sizeof *y), *tr = malloc (s->K * sizeof *tr);
  memset (d, 0, sizeof *d);
  if (max_n > 0 && n > max_n)
    n = max_n;
  if (ds->n_channels != s->L || ds->n_components != s->K)
    {
      free (y);
      free (tr);
      return gs_host->error (GS_EBADLEN,
                             "%s: the %s set has %zu channels and %zu "
                             "components; the library %zu and %zu",
                             s->id, what, ds->n_channels, ds->n_components,
                             s->L, s->K);
    }
  d->x = malloc (n * s->L * sizeof (float));
  d->t = malloc (n * s->K * sizeof (float));
  if (!y || !tr || !d->x || !d->t)
    {
      free (y);
      free (tr);
      set_free (d);
      return gs_host->error (GS_ENOMEM,
                             "%s: out of memory for %zu %s spectra (%.0f MB)",
                             s->id, n, what,
                             (double)n * (double)(s->L + s->K) * 4e-6);
    }
  for (i = 0; i < n; i++)
    {
      double tot = 0;
      int rc = ds->spectrum (ds->ctx, i, y);
      if (rc == GS_OK)
        rc = ds->truth (ds->ctx, i, tr);
      if (rc != GS_OK)
        {
          free (y);
          free (tr);
          set_free (d);
          return rc;
        }
      for (c = 0; c < s->L; c++)
        tot += y[c];
      for (c = 0; c < s->L; c++)
        d->x[i * s->L + c] = tot > 0 ? (float)(y[c] / tot) : 0.0f;
      for (c = 0; c < s->K; c++)
        d->t[i * s->K + c] = (float)tr[c];
      if ((i + 1) % 4096 == 0 || i + 1 == n)
        gs_host->progress (s->id, what, i + 1, n);
    }
  d->n = n;
  free (y);
  free (tr);
  return GS_OK;
}

/* Targets of network `net` for sample i. */
static void
targets (const cnn_state_t *s, const set_t *d, size_t i, size_t net, float *t)
{
  const float *tr = d->t + i * s->K;
  size_t j;
  if (s->kind == CNN_MULTI)
    for (j = 1; j < s->K; j++)
      t[j - 1] = tr[j] > 0 ? 1.0f : 0.0f;
  else if (s->kind == CNN_MONO)
    t[0] = tr[net + 1] > 0 ? 1.0f : 0.0f;
  else
    {
      double tot = 0;
      for (j = 0; j < s->K; j++)
        tot += tr[j];
      for (j = 0; j < s->K; j++)
        t[j] = tot > 0 ? (float)(tr[j] / tot) : 0.0f;
    }
}

static double
loss_of (const cnn_state_t *s, const float *z, const float *t, int batch,
         float *d)
{
  size_t n = (size_t)batch * s->n_out;
  if (s->kind == CNN_REGRESS)
    return gs_nn_loss_soft_ce (z, t, batch, (int)s->n_out, d);
  if (s->kind == CNN_MULTI && s->p.loss == 0)
    return gs_nn_loss_asymmetric (z, t, n, 0, 0, 0, 1e-8, d);
  return gs_nn_loss_bce_logits (z, t, n, d);
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean loss of network `net` over a set, inference mode. */
static int
eval_loss (cnn_state_t *s, size_t net, const set_t *d, float *xb, float *tb,
           float *zb, int bs, double *out)
{
  gs_nn *nn = s->nets[net];
  double sum = 0;
  size_t i0;
  int rc;
  gs_nn_set_mode (nn, GS_NN_EVAL);
  for (i0 = 0; i0 < d->n; i0 += (size_t)bs)
    {
      int b = (int)(d->n - i0 < (size_t)bs ? d->n - i0 : (size_t)bs), k;
      memcpy (xb, d->x + i0 * s->L, (size_t)b * s->L * sizeof (float));
      for (k = 0; k < b; k++)
        targets (s, d, i0 + (size_t)k, net, tb + (size_t)k * s->n_out);
      rc = gs_nn_forward (nn, xb, b, zb);
      if (rc != GS_OK)
        return rc;
      sum += loss_of (s, zb, tb, b, NULL) * b;
    }
  *out = d->n ? sum / (double)d->n : NAN;
  return GS_OK;
}

/* The batchnorm running statistics as the plain average of the batch
 * statistics over the first bn_recompute full batches of the training
 * set (or the whole set as one batch when it is smaller than a batch),
 * for the current weights. */
static int
recompute_bn (cnn_state_t *s, gs_nn *nn, const set_t *tr, float *xb, int bs)
{
  size_t nbat = tr->n / (size_t)bs, k;
  int rc, b = bs;
  if (s->p.bn_recompute <= 0 || tr->n == 0)
    return GS_OK;
  if (nbat > (size_t)s->p.bn_recompute)
    nbat = (size_t)s->p.bn_recompute;
  if (nbat == 0)
    {
      nbat = 1;
      b = (int)tr->n;
    }
  if (b < 2)
    return GS_OK;
  gs_nn_bn_reset_running (nn);
  gs_nn_set_mode (nn, GS_NN_BN_BATCH | GS_NN_BN_UPDATE | GS_NN_BN_CUMULATIVE);
  for (k = 0; k < nbat; k++)
    {
      memcpy (xb, tr->x + k * (size_t)b * s->L,
              (size_t)b * s->L * sizeof (float));
      if ((rc = gs_nn_forward (nn, xb, b, NULL)) != GS_OK)
        return rc;
    }
  gs_nn_set_mode (nn, GS_NN_EVAL);
  return GS_OK;
}

static int
train_net (cnn_state_t *s, size_t net, const set_t *tr, const set_t *va)
{
  const preset_t *pr = &presets[s->p.preset];
  gs_nn *nn = s->nets[net];
  gs_nn_optim_opts oo;
  gs_nn_optim *opt = NULL;
  gs_nn_early_stop es;
  gs_rng *rng = NULL;
  int bs = s->p.batch > 0 ? s->p.batch : pr->batch, epoch, rc = GS_OK;
  int patience = s->p.patience >= 0 ? s->p.patience
                                    : (s->kind == CNN_MONO ? 3 : 5);
  size_t *perm = malloc (tr->n * sizeof *perm), i;
  size_t nb = (size_t)bs * s->n_out;
  float *xb = malloc ((size_t)bs * s->L * sizeof (float));
  float *tb = malloc (nb * sizeof (float)), *zb = malloc (nb * sizeof (float));
  float *db = malloc (nb * sizeof (float)), *best = NULL;
  size_t nsnap = gs_nn_snapshot (nn, NULL, 0);
  if (!perm || !xb || !tb || !zb || !db)
    {
      rc = gs_host->error (GS_ENOMEM, "%s: out of memory for training",
                           s->id);
      goto done;
    }
  if (s->p.restore_best && !(best = malloc (nsnap * sizeof (float))))
    {
      rc = gs_host->error (GS_ENOMEM, "%s: out of memory", s->id);
      goto done;
    }
  gs_nn_optim_opts_init (&oo, s->p.optimizer == 1 ? GS_NN_ADAMW : GS_NN_ADAM);
  oo.lr = s->p.lr > 0 ? s->p.lr : pr->lr;
  oo.weight_decay = s->p.weight_decay;
  oo.schedule = (gs_nn_schedule)s->p.schedule;
  oo.gamma = s->p.lr_gamma;
  oo.step_size = s->p.lr_step;
  if ((rc = gs_nn_optim_create (nn, &oo, &opt)) != GS_OK)
    goto done;
  gs_nn_early_stop_init (&es, patience, 0);
  rng = gs_host->rng_alloc (s->seed, 0x747261696eULL + net);
  if (!rng)
    {
      rc = gs_host->error (GS_ENOMEM, "%s: out of memory", s->id);
      goto done;
    }
  for (i = 0; i < tr->n; i++)
    perm[i] = i;
  for (epoch = 0; epoch < s->p.epochs; epoch++)
    {
      double t0 = now_s (), sum = 0, vloss = NAN;
      size_t i0;
      int improved = 0, stop = 0;
      /* Fisher-Yates with the seeded generator */
      for (i = tr->n; i > 1; i--)
        {
          size_t j = (size_t)(gs_host->rng_uniform (rng) * (double)i), t;
          if (j >= i)
            j = i - 1;
          t = perm[i - 1];
          perm[i - 1] = perm[j];
          perm[j] = t;
        }
      gs_nn_set_mode (nn, GS_NN_TRAIN);
      for (i0 = 0; i0 < tr->n; i0 += (size_t)bs)
        {
          int b = (int)(tr->n - i0 < (size_t)bs ? tr->n - i0 : (size_t)bs), k;
          for (k = 0; k < b; k++)
            {
              size_t src = perm[i0 + (size_t)k];
              memcpy (xb + (size_t)k * s->L, tr->x + src * s->L,
                      s->L * sizeof (float));
              targets (s, tr, src, net, tb + (size_t)k * s->n_out);
            }
          if ((rc = gs_nn_forward (nn, xb, b, zb)) != GS_OK)
            goto done;
          sum += loss_of (s, zb, tb, b, db) * b;
          gs_nn_zero_grad (nn);
          if ((rc = gs_nn_backward (nn, db, NULL)) != GS_OK
              || (rc = gs_nn_optim_step (opt)) != GS_OK)
            goto done;
          gs_host->progress (s->id, "train", i0 + (size_t)b, tr->n);
        }
      if ((rc = recompute_bn (s, nn, tr, xb, bs)) != GS_OK)
        goto done;
      if (va && va->n > 0)
        {
          rc = eval_loss (s, net, va, xb, tb, zb, bs, &vloss);
          if (rc != GS_OK)
            goto done;
          stop = gs_nn_early_stop_update (&es, vloss, &improved);
          if (improved && best)
            gs_nn_snapshot (nn, best, 0);
        }
      if (va && va->n > 0)
        gs_host->log (GS_LOG_INFO, s->id,
                      "net %zu/%zu epoch %d: loss %.5g, validation loss "
                      "%.5g, lr %.3g, %.1f s",
                      net + 1, s->n_nets, epoch + 1, sum / (double)tr->n,
                      vloss, gs_nn_optim_lr (opt), now_s () - t0);
      else
        gs_host->log (GS_LOG_INFO, s->id,
                      "net %zu/%zu epoch %d: loss %.5g (no validation set), "
                      "lr %.3g, %.1f s",
                      net + 1, s->n_nets, epoch + 1, sum / (double)tr->n,
                      gs_nn_optim_lr (opt), now_s () - t0);
      if (!isfinite (sum))
        {
          rc = gs_host->error (GS_EFAILED,
                               "%s: the training loss diverged (epoch %d); "
                               "lower the learning rate",
                               s->id, epoch + 1);
          goto done;
        }
      if (stop)
        break;
      gs_nn_optim_epoch (opt);
    }
  if (best && es.best_epoch >= 0 && isfinite (es.best))
    {
      gs_nn_snapshot (nn, best, 1);
      gs_host->log (GS_LOG_INFO, s->id,
                    "net %zu/%zu: keeping epoch %d (validation loss %.5g)",
                    net + 1, s->n_nets, es.best_epoch + 1, es.best);
    }
done:
  gs_nn_set_mode (nn, GS_NN_EVAL);
  gs_nn_optim_free (opt);
  if (rng)
    gs_host->rng_free (rng);
  free (perm);
  free (xb);
  free (tb);
  free (zb);
  free (db);
  free (best);
  return rc;
}

static int
cnn_train (void *vstate, const gs_dataset *train, const gs_dataset *valid)
{
  cnn_state_t *s = (cnn_state_t *)vstate;
  set_t tr, va;
  size_t j;
  int rc, threads = s->p.threads;
  if (threads <= 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      threads = n > 0 ? (int)(n < 64 ? n : 64) : 1;
    }
  memset (&va, 0, sizeof va);
  rc = set_load (s, train, (size_t)s->p.max_train, &tr, "train");
  if (rc != GS_OK)
    return rc;
  if (valid && (rc = set_load (s, valid, 0, &va, "valid")) != GS_OK)
    {
      set_free (&tr);
      return rc;
    }
  for (j = 0; j < s->n_nets && rc == GS_OK; j++)
    {
      gs_nn_set_threads (s->nets[j], threads);
      rc = train_net (s, j, &tr, valid ? &va : NULL);
      gs_nn_set_threads (s->nets[j], 1);
    }
  set_free (&tr);
  set_free (&va);
  return rc;
}

/* ---- model file -------------------------------------------------------- */

static int
cnn_save (const void *vstate, FILE *out)
{
  const cnn_state_t *s = (const cnn_state_t *)vstate;
  size_t j;
  if (fprintf (out, "gspec-cnn 1 %s %zu %zu %zu\n", s->id, s->n_nets, s->K,
               s->L)
      < 0)
    return gs_host->error (GS_EIO, "%s: cannot write the model", s->id);
  for (j = 0; j < s->n_nets; j++)
    {
      int rc = gs_nn_save (s->nets[j], out);
      if (rc != GS_OK)
        return rc;
    }
  return GS_OK;
}

static int
cnn_load (void *vstate, FILE *in)
{
  cnn_state_t *s = (cnn_state_t *)vstate;
  char id[64];
  size_t n_nets, K, L, j;
  int version;
  if (fscanf (in, "gspec-cnn %d %63s %zu %zu %zu", &version, id, &n_nets, &K,
              &L)
          != 5
      || fgetc (in) != '\n')
    return gs_host->error (GS_EFORMAT,
                           "%s: the model is not a gspec CNN model (no "
                           "'gspec-cnn' header)",
                           s->id);
  if (version != 1)
    return gs_host->error (GS_EFORMAT,
                           "%s: CNN model version %d; this gspec reads 1",
                           s->id, version);
  if (strcmp (id, s->id) != 0 || n_nets != s->n_nets || K != s->K || L != s->L)
    return gs_host->error (GS_EFORMAT,
                           "%s: the model is a %s with %zu networks for %zu "
                           "components x %zu channels; this method needs %zu "
                           "networks, %zu x %zu",
                           s->id, id, n_nets, K, L, s->n_nets, s->K, s->L);
  for (j = 0; j < s->n_nets; j++)
    {
      gs_nn *nn = NULL;
      size_t oc;
      int rc = gs_nn_load (in, NULL, &nn), c, l;
      if (rc != GS_OK)
        return rc;
      gs_nn_input_shape (nn, &c, &l);
      oc = gs_nn_output_size (nn);
      if (c != 1 || (size_t)l != s->L || oc != s->n_out)
        {
          gs_nn_free (nn);
          return gs_host->error (GS_EFORMAT,
                                 "%s: network %zu of the model takes %d x %d "
                                 "and gives %zu outputs; need 1 x %zu -> %zu",
                                 s->id, j + 1, c, l, oc, s->L, s->n_out);
        }
      gs_nn_set_mode (nn, GS_NN_EVAL);
      gs_nn_free (s->nets[j]);
      s->nets[j] = nn;
    }
  return GS_OK;
}

/* ---- analysis ---------------------------------------------------------- */

static size_t
cnn_workspace_size (const void *vstate)
{
  const cnn_state_t *s = (const cnn_state_t *)vstate;
  size_t j, m = 0;
  for (j = 0; j < s->n_nets; j++)
    {
      size_t b = gs_nn_infer_bytes (s->nets[j], 1);
      if (b > m)
        m = b;
    }
  return m + (s->L + s->K + 64) * sizeof (float) + 64;
}

static int
cnn_analyze (const void *vstate, void *work, const double *y, size_t n,
             gs_result *res)
{
  const cnn_state_t *s = (const cnn_state_t *)vstate;
  size_t wbytes = cnn_workspace_size (vstate), j, c;
  float *x = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  float *z = x + s->L;
  void *nnw = z + s->K + 16;
  size_t nnw_bytes = wbytes - (size_t)((char *)nnw - (char *)work);
  double tot = 0;
  if (n != s->L)
    return gs_host->error (GS_EBADLEN,
                           "%s: the spectrum has %zu channels; the network "
                           "takes %zu",
                           s->id, n, s->L);
  for (c = 0; c < n; c++)
    tot += y[c];
  for (c = 0; c < n; c++)
    x[c] = (float)(y[c] / tot);
  for (j = 0; j < s->n_nets; j++)
    {
      int rc = gs_nn_infer (s->nets[j], nnw, nnw_bytes, x, 1,
                            z + j * s->n_out);
      if (rc != GS_OK)
        return rc;
    }
  if (s->kind == CNN_REGRESS)
    {
      double mx = -HUGE_VAL, sum = 0;
      for (j = 0; j < s->K; j++)
        if (z[j] > mx)
          mx = z[j];
      for (j = 0; j < s->K; j++)
        sum += exp (z[j] - mx);
      for (j = 0; j < s->K; j++)
        {
          double w = exp (z[j] - mx) / sum;
          res->score[j] = w;
          res->counts[j] = w * tot;
          res->present[j] = w >= 0.01;
        }
      res->present[0] = 1;
      return GS_OK;
    }
  res->present[0] = 1;
  for (j = 1; j < s->K; j++)
    {
      double p = 1.0 / (1.0 + exp (-(double)z[j - 1]));
      res->score[j] = p;
      res->present[j] = p > 0.5;
    }
  return GS_OK;
}

/* ---- the three method types --------------------------------------------- */

static int
multi_alloc (void *st, const void *p, const gs_setup *setup)
{
  return cnn_alloc_kind (st, p, setup, CNN_MULTI, "ml.cnn-multi");
}
static int
mono_alloc (void *st, const void *p, const gs_setup *setup)
{
  return cnn_alloc_kind (st, p, setup, CNN_MONO, "ml.cnn-mono");
}
static int
regress_alloc (void *st, const void *p, const gs_setup *setup)
{
  return cnn_alloc_kind (st, p, setup, CNN_REGRESS, "ml.cnn-regress");
}

#define CNN_TYPE(var, id_, summary_, kinds_, flags_, alloc_)                   \
  static const gs_method_type var = {                                          \
    .struct_size = sizeof (gs_method_type),                                    \
    .id = id_,                                                                 \
    .summary = summary_,                                                       \
    .kinds = kinds_,                                                           \
    .flags = GS_METHOD_NEEDS_LIBRARY | GS_METHOD_STOCHASTIC | (flags_),        \
    .params = cnn_params,                                                      \
    .params_size = sizeof (cnn_params_t),                                      \
    .state_size = sizeof (cnn_state_t),                                        \
    .alloc = alloc_,                                                           \
    .free = cnn_free,                                                          \
    .train = cnn_train,                                                        \
    .save = cnn_save,                                                          \
    .load = cnn_load,                                                          \
    .workspace_size = cnn_workspace_size,                                      \
    .analyze = cnn_analyze,                                                    \
  }

CNN_TYPE (multi_type, "ml.cnn-multi",
          "1-D CNN, multi-label: a sigmoid per nuclide (spec 4), thresholds "
          "calibrated on validation",
          GS_KIND_IDENTIFY, GS_METHOD_SCORES, multi_alloc);
CNN_TYPE (mono_type, "ml.cnn-mono",
          "1-D CNNs, binary relevance: one network per nuclide (spec 4.3)",
          GS_KIND_IDENTIFY, GS_METHOD_SCORES, mono_alloc);
CNN_TYPE (regress_type, "ml.cnn-regress",
          "1-D CNN regression of the mixing weights (softmax over background "
          "+ nuclides); identification by a calibrated weight threshold",
          GS_KIND_IDENTIFY | GS_KIND_QUANTIFY,
          GS_METHOD_SCORES | GS_METHOD_SCORES_BACKGROUND, regress_alloc);

GS_PLUGIN_DEFINE ("ml-cnn", "1.0.0", "MIT", &multi_type, &mono_type,
                  &regress_type)
