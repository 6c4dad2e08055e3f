/* A small neural-network engine for 1-D signals (issue 5): the CNN
 * plugins, the IAE and YOLOSpecNN all build on it; no plugin carries its
 * own.
 *
 * Tensors are flat float32 arrays, row-major (batch, channels, length):
 * element (n, c, l) of a batch of C x L samples is at (n C + c) L + l.  A
 * vector of F features is C = F, L = 1.
 *
 * A network is a list of layers described by an architecture: YAML text,
 * a sequence of mappings, one per layer, each with a `type` and its
 * options (gspec/nn.h documents them below).  Layers take the previous
 * layer's output, or the outputs named by `inputs` (residual add,
 * concatenation).  The last layer's output is the network's output.
 *
 *   - {type: conv1d, out: 32, kernel: 20}
 *   - {type: maxpool1d, kernel: 2}
 *   - {type: batchnorm1d}
 *   - {type: relu}
 *   - {type: linear, out: 128}      # flattens (C, L) channel-major
 *   - {type: dropout, p: 0.5}
 *   - {type: linear, out: 9}
 *
 * Layer types and options (defaults in brackets; PyTorch semantics):
 *   conv1d           out, kernel, stride [1], padding [0], dilation [1],
 *                    bias [true], init [he]
 *   convtranspose1d  out, kernel, stride [1], padding [0],
 *                    output_padding [0], dilation [1], bias [true],
 *                    init [he]; weights (in, out, kernel) as PyTorch
 *   maxpool1d        kernel, stride [kernel], padding [0] (floor mode)
 *   avgpool1d        kernel, stride [kernel], padding [0]
 *                    (count_include_pad)
 *   globalavgpool, globalmaxpool      (C, L) -> (C, 1)
 *   batchnorm1d      eps [1e-5], momentum [0.1]; per channel over batch
 *                    and length; running variance unbiased, as PyTorch
 *   linear           out, bias [true], init [he]; input (C, L) is read as
 *                    C L features
 *   flatten          (C, L) -> (C L, 1)
 *   dropout          p [0.5]: elements; spatial_dropout p [0.5]: whole
 *                    channels; both scale kept values by 1 / (1 - p)
 *   relu, sigmoid, elu (alpha [1]), leakyrelu (slope [0.01])
 *   softmax          over channels, at every position
 *   upsample         mode linear|nearest [nearest], scale (integer) or
 *                    size (output length); linear uses align_corners
 *   add              inputs (>= 2, same shape): their sum
 *   concat           inputs (>= 2, same length): channels stacked in order
 * Every layer may have a `name`; `inputs` lists names, layer indices
 * (0-based), negative offsets (-1 = the previous layer) or `input` (the
 * network input).  init: he (Kaiming normal, fan_in, gain sqrt 2),
 * glorot (Xavier uniform), torch (PyTorch's default: uniform
 * +/- 1 / sqrt(fan_in), biases too); biases start at 0 with he and
 * glorot.
 *
 * Parallelism: forward and backward split the batch into fixed chunks of
 * samples (independent of the thread count) run on the network's worker
 * threads with single-threaded BLAS; parameter gradients and batch
 * statistics are reduced chunk by chunk in chunk order.  Results are
 * therefore bit-identical at any thread count.  One network is used by
 * one thread at a time (it owns its activations); gs_nn_clone gives
 * inference copies that share nothing mutable. */
#ifndef GSPEC_NN_H
#define GSPEC_NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_nn gs_nn;

/* What forward does (gs_nn_set_mode). */
enum
{
  GS_NN_DROPOUT = 1,   /* dropout layers drop */
  GS_NN_BN_BATCH = 2,  /* batchnorm uses the batch's statistics */
  GS_NN_BN_UPDATE = 4, /* ... and updates its running statistics */
  GS_NN_TRAIN = 7,     /* training: all of the above */
  GS_NN_EVAL = 0,      /* inference: running statistics, no dropout */
  /* with GS_NN_BN_UPDATE: the running statistics become the plain
   * average over the batches since gs_nn_bn_reset_running (momentum
   * 1/k), for re-estimating them with fixed weights */
  GS_NN_BN_CUMULATIVE = 8
};

typedef struct gs_nn_opts
{
  int threads;   /* worker threads (default 1) */
  uint64_t seed; /* initialisation and dropout masks (default 1) */
} gs_nn_opts;

void gs_nn_opts_init (gs_nn_opts *o);

/* Builds a network for inputs of in_channels x in_length from an
 * architecture (YAML text, see above).  Errors name the layer and the
 * option ("layer 3 (conv1d): kernel 20 is longer than its input (12)")
 * with GS_ECONFIG; GS_ENOMEM.  Parameters are initialised from o->seed. */
int gs_nn_create (const char *arch_yaml, int in_channels, int in_length,
                  const gs_nn_opts *o, gs_nn **out);
void gs_nn_free (gs_nn *nn);

/* An independent copy (same architecture, parameters and mode; its own
 * activations), e.g. one per analysis thread. */
int gs_nn_clone (const gs_nn *nn, gs_nn **out);

/* Also drops the kept activations: a backward needs a forward made after
 * it. */
int gs_nn_set_threads (gs_nn *nn, int threads);
/* A new, cloned or loaded network starts in GS_NN_EVAL. */
void gs_nn_set_mode (gs_nn *nn, int mode); /* GS_NN_TRAIN, GS_NN_EVAL, or
                                              a combination of the bits */
int gs_nn_mode (const gs_nn *nn);

/* Shapes. */
void gs_nn_input_shape (const gs_nn *nn, int *channels, int *length);
void gs_nn_output_shape (const gs_nn *nn, int *channels, int *length);
size_t gs_nn_output_size (const gs_nn *nn); /* channels x length */
size_t gs_nn_n_layers (const gs_nn *nn);

/* The architecture as given (kept in model files). */
const char *gs_nn_arch (const gs_nn *nn);

/* Multiply-accumulates of one sample's forward pass. */
double gs_nn_macs (const gs_nn *nn);

/* All trainable parameters as one flat array (layer by layer: weights
 * then bias), and their gradients (same layout). */
float *gs_nn_params (gs_nn *nn, size_t *n);
float *gs_nn_grads (gs_nn *nn, size_t *n);
void gs_nn_zero_grad (gs_nn *nn);
/* Zeroes every batchnorm's running statistics and update count, to
 * re-estimate them for the current weights: forward equal-sized batches
 * in GS_NN_BN_BATCH | GS_NN_BN_UPDATE | GS_NN_BN_CUMULATIVE mode.  (With
 * momentum updates during training the running mean lags the moving
 * weights; evaluation-mode outputs then differ from batch-statistics
 * ones, most where a channel's mean is large against its spread.) */
void gs_nn_bn_reset_running (gs_nn *nn);

/* One layer's arrays, for importing weights: weight (conv: out x in x k;
 * convtranspose: in x out x k; linear: out x in; batchnorm: gamma),
 * bias (batchnorm: beta), running mean and variance (batchnorm only).
 * Any pointer may be NULL; absent arrays give NULL and 0. */
int gs_nn_layer_arrays (gs_nn *nn, size_t layer, float **weight,
                        size_t *n_weight, float **bias, size_t *n_bias,
                        float **running_mean, float **running_var,
                        size_t *n_running);

/* The weights and the batchnorm running statistics as one float array
 * (they belong together: weights restored without their statistics would
 * normalise with another epoch's), for keeping the best epoch.  restore
 * 0: network -> buf; 1: buf -> network; buf NULL: only count.  Returns
 * the number of floats. */
size_t gs_nn_snapshot (gs_nn *nn, float *buf, int restore);
const char *gs_nn_layer_type (const gs_nn *nn, size_t layer);

/* Forward pass of `batch` samples x (batch x in_channels x in_length);
 * out (batch x output size) may be NULL (the output stays inside for
 * gs_nn_output).  GS_EINVAL for batch < 1.  The activations are kept for
 * a following gs_nn_backward. */
int gs_nn_forward (gs_nn *nn, const float *x, int batch, float *out);
const float *gs_nn_output (const gs_nn *nn); /* of the last forward */

/* Inference that leaves the network untouched, for many threads at once
 * (the workspace of a method's analyze): gs_nn_infer_bytes (nn, batch)
 * bytes of caller memory (any alignment) hold the activations of up to
 * `batch` samples; gs_nn_infer runs the forward pass in the network's
 * current mode without dropout and without updating running statistics,
 * single-threaded, and writes batch x output size floats to out.  The
 * results equal gs_nn_forward's in that mode. */
size_t gs_nn_infer_bytes (const gs_nn *nn, int batch);
int gs_nn_infer (const gs_nn *nn, void *work, size_t work_bytes,
                 const float *x, int batch, float *out);

/* Backward pass after gs_nn_forward on the same batch: dout holds dL/d
 * output (batch x output size); parameter gradients are added to
 * gs_nn_grads; dx (batch x input size) receives dL/dx when not NULL.
 * GS_EINVAL when no forward preceded it. */
int gs_nn_backward (gs_nn *nn, const float *dout, float *dx);

/* ---- Several inputs and outputs ---------------------------------------
 * Extra inputs are layers `{type: input, name: b1, channels: C, length:
 * L}` (no inputs of their own; up to GS_NN_MAX_EXTRA), fed in the order
 * they appear; any layer's output can be read after a forward, and
 * backward can start from gradients at several layers (an encoder's
 * intermediate codes, a detector's heads).  `add` takes optional
 * `weights: [w0, w1, ...]` (y = sum w_i x_i). */
#define GS_NN_MAX_EXTRA 16
size_t gs_nn_n_extra_inputs (const gs_nn *nn);
size_t gs_nn_extra_input_layer (const gs_nn *nn, size_t k); /* its index */
int gs_nn_find_layer (const gs_nn *nn, const char *name, size_t *layer);
void gs_nn_layer_shape_of (const gs_nn *nn, size_t layer, int *channels,
                           int *length);
/* extra[k]: batch x that layer's channels x length (all of them). */
int gs_nn_forward_multi (gs_nn *nn, const float *x, const float *const *extra,
                         int batch, float *out);
int gs_nn_infer_multi (const gs_nn *nn, void *work, size_t work_bytes,
                       const float *x, const float *const *extra, int batch,
                       float *out);
/* Output of `layer` for the last forward's batch (NULL before one). */
const float *gs_nn_layer_output (const gs_nn *nn, size_t layer);
/* douts[i] = dL/d(output of layers[i]) (batch x its size; the last layer
 * need not be among them, a layer at most once); dx and dextra[k] (either
 * may be NULL, or hold NULL entries) receive the input gradients.  The
 * gradients meet as sums: injected ones add to what flows back from the
 * layer's consumers. */
int gs_nn_backward_multi (gs_nn *nn, size_t n, const size_t *layers,
                          const float *const *douts, float *dx,
                          float *const *dextra);

/* Model file: magic "GSNN", format version, the architecture text, the
 * input shape, the counts of parameters and of running statistics, then
 * every layer's parameters and running statistics as little-endian
 * float32 (finite; variances >= 0), and a checksum.  Load checks all of it
 * (GS_EFORMAT with what is wrong and where). */
int gs_nn_save (const gs_nn *nn, FILE *f);
int gs_nn_load (FILE *f, const gs_nn_opts *o, gs_nn **out);

/* ---- Losses --------------------------------------------------------- */
/* Each returns the loss (mean as stated) and, when d is not NULL, writes
 * its gradient with respect to the network output into d (same size). */

/* BCE with logits z against targets t in [0, 1]: mean over the n
 * elements (PyTorch BCEWithLogitsLoss), computed stably. */
double gs_nn_loss_bce_logits (const float *z, const float *t, size_t n,
                              float *d);

/* Asymmetric loss (Ridnik et al.; the authors' AsymmetricLoss): p =
 * sigmoid(z), p_neg = max(p - clip, 0) when clip > 0 (else p: easy
 * negatives with p < clip cost nothing);
 * L = -[t log(max(p, eps)) (1 - p)^gamma_pos
 *       + (1 - t) log(max(1 - p_neg, eps)) p_neg^gamma_neg],
 * mean over the n elements (the authors sum; gspec averages so that the
 * learning rate does not depend on the batch size: the spec's settings
 * gamma_neg = gamma_pos = clip = 0, eps = 1e-8 give clamped BCE).  d is
 * the exact derivative, focal weights included (the authors hold them
 * constant in backward; with gammas 0 both agree). */
double gs_nn_loss_asymmetric (const float *z, const float *t, size_t n,
                              double gamma_neg, double gamma_pos,
                              double clip, double eps, float *d);

/* Cross-entropy with soft targets: z and t are batch x classes, each row
 * of t a distribution; L = -mean over rows of sum t log softmax(z). */
double gs_nn_loss_soft_ce (const float *z, const float *t, int batch,
                           int classes, float *d);

/* Mean squared error over n elements. */
double gs_nn_loss_mse (const float *y, const float *t, size_t n, float *d);

/* ---- Optimisers and schedules ----------------------------------------- */

typedef enum gs_nn_optim_kind
{
  GS_NN_ADAM = 0,  /* L2 penalty added to the gradient (PyTorch Adam) */
  GS_NN_ADAMW = 1, /* decoupled weight decay (PyTorch AdamW) */
  GS_NN_SGD = 2    /* plain, with momentum */
} gs_nn_optim_kind;

typedef enum gs_nn_schedule
{
  GS_NN_LR_CONSTANT = 0,
  GS_NN_LR_STEP = 1,       /* lr x gamma every step_size epochs */
  GS_NN_LR_EXPONENTIAL = 2 /* lr x gamma every epoch */
} gs_nn_schedule;

typedef struct gs_nn_optim_opts
{
  gs_nn_optim_kind kind; /* default GS_NN_ADAM */
  double lr;             /* default 1e-3 */
  double beta1, beta2;   /* default 0.9, 0.999 */
  double eps;            /* default 1e-8 */
  double weight_decay;   /* default 0 (AdamW: 0.01) */
  double momentum;       /* SGD, default 0.9 */
  gs_nn_schedule schedule;
  int step_size;         /* epochs, default 10 */
  double gamma;          /* 0 (default): 0.1 (step), 0.95 (exponential) */
} gs_nn_optim_opts;

void gs_nn_optim_opts_init (gs_nn_optim_opts *o, gs_nn_optim_kind kind);

typedef struct gs_nn_optim gs_nn_optim;

int gs_nn_optim_create (gs_nn *nn, const gs_nn_optim_opts *o,
                        gs_nn_optim **out);
void gs_nn_optim_free (gs_nn_optim *opt);
/* One update from gs_nn_grads (the caller zeroes them before the next
 * batch). */
int gs_nn_optim_step (gs_nn_optim *opt);
/* Advances the learning-rate schedule by one epoch. */
void gs_nn_optim_epoch (gs_nn_optim *opt);
double gs_nn_optim_lr (const gs_nn_optim *opt);

/* Early stopping on the validation loss: stop after `patience` epochs
 * without an improvement larger than min_delta. */
typedef struct gs_nn_early_stop
{
  int patience;
  double min_delta;
  double best;    /* best loss so far (initialise with HUGE_VAL) */
  int best_epoch; /* 0-based; -1 before the first update */
  int bad;        /* epochs since the best */
  int epoch;      /* epochs seen */
} gs_nn_early_stop;

void gs_nn_early_stop_init (gs_nn_early_stop *e, int patience,
                            double min_delta);
/* Records an epoch's validation loss; returns 1 when training should stop
 * (also when the loss is not finite), 0 otherwise; *improved (may be
 * NULL) tells whether it is the new best. */
int gs_nn_early_stop_update (gs_nn_early_stop *e, double val_loss,
                             int *improved);

#ifdef __cplusplus
}
#endif
#endif
