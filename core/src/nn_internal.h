/* Inside the NN engine: the layer interface between the graph
 * (nn.c: architecture, shapes, parameters, threads, forward/backward
 * orchestration; nn_file.c; nn_train.c: losses, optimisers) and the layer
 * kernels (nn_layers.c).
 *
 * Contract of the kernels:
 *   - per-sample shapes: inputs in_c[i] x in_l[i], output c x l;
 *   - forward reads the inputs of `batch` samples and writes the output;
 *     it may keep what backward needs in the layer's scratch (sized by
 *     gs_nn_layer_scratch for that batch, owned by the graph, kept
 *     between forward and backward of the same batch);
 *   - backward ADDS dL/dinput into dx[i] (dx[i] NULL: not needed) and
 *     ADDS parameter gradients into dw / db;
 *   - heavy work is split into fixed chunks of GS_NN_CHUNK samples run
 *     through ctx->parallel; per-chunk partial results (weight
 *     gradients, batchnorm sums) are reduced in chunk order, so results do
 *     not depend on the thread count.  BLAS calls are single-threaded
 *     (the process sets OpenBLAS to 1 thread).
 *   - dropout masks come from gs_nn_hash_uniform (seed, step, layer,
 *     element), never from shared generator state. */
#ifndef GSPEC_NN_INTERNAL_H
#define GSPEC_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/nn.h"

#define GS_NN_MAX_INPUTS 8
#define GS_NN_CHUNK 8 /* samples per parallel chunk */

typedef enum gs_nn_kind
{
  GS_NN_CONV1D = 0,
  GS_NN_CONVT1D,
  GS_NN_MAXPOOL1D,
  GS_NN_AVGPOOL1D,
  GS_NN_GAVGPOOL,
  GS_NN_GMAXPOOL,
  GS_NN_BATCHNORM1D,
  GS_NN_LINEAR,
  GS_NN_FLATTEN,
  GS_NN_DROPOUT_LAYER, /* the mode bit GS_NN_DROPOUT is nn.h's */
  GS_NN_SPATIAL_DROPOUT,
  GS_NN_RELU,
  GS_NN_LEAKYRELU,
  GS_NN_ELU,
  GS_NN_SIGMOID,
  GS_NN_SOFTMAX,
  GS_NN_UPSAMPLE_LINEAR,
  GS_NN_UPSAMPLE_NEAREST,
  GS_NN_ADD,
  GS_NN_CONCAT,
  GS_NN_INPUT, /* an extra network input (no inputs of its own) */
  GS_NN_N_KINDS
} gs_nn_kind;

/* The type names of the architecture ("conv1d", ..., "upsample" maps to
 * the two upsample kinds by its mode). */
const char *gs_nn_kind_name (gs_nn_kind k);

typedef enum gs_nn_init
{
  GS_NN_INIT_HE = 0,
  GS_NN_INIT_GLOROT = 1,
  GS_NN_INIT_TORCH = 2
} gs_nn_init;

/* Runs fn(arg, i) for i = 0..n-1 on the network's threads (any order,
 * each i exactly once); returns the first non-zero status. */
typedef int (*gs_nn_task_fn) (void *arg, size_t i);
typedef struct gs_nn_ctx
{
  int batch;
  int mode;      /* GS_NN_* bits */
  uint64_t seed; /* dropout: the network's seed */
  uint64_t step; /* dropout: forward passes made in a dropout mode */
  int (*parallel) (void *pool, size_t n, gs_nn_task_fn fn, void *arg);
  void *pool;
  int threads;   /* workers in the pool (>= 1): per-thread buffers
                    (im2col) are indexed by thread_index */
  /* The calling worker's index 0..threads-1 (valid inside a task). */
  int (*thread_index) (void *pool);
  /* Backward: bit k set = dx[k] holds garbage (the layer writes it, or
   * zeroes it first); clear = the layer adds to dx[k]. */
  unsigned dx_fresh;
} gs_nn_ctx;

typedef struct gs_nn_layer
{
  gs_nn_kind kind;
  int index;               /* position in the network */
  char name[64];           /* "" when unnamed */
  /* options */
  int out;                 /* conv / convtranspose / linear */
  int kernel, stride, padding, dilation, output_padding;
  int bias;                /* 1: has a bias */
  gs_nn_init init;
  double p;                /* dropout probability */
  double alpha;            /* elu alpha, leakyrelu slope */
  double eps, momentum;    /* batchnorm */
  int scale, size;         /* upsample: scale factor or output length (one
                              of them > 0) */
  int channels, length;    /* input: the shape of one sample */
  int n_weights;           /* add: 0 (plain sum) or n_in coefficients */
  double weights[GS_NN_MAX_INPUTS];
  /* graph */
  int n_in;
  int in[GS_NN_MAX_INPUTS]; /* producer layer index, -1 = network input */
  int in_c[GS_NN_MAX_INPUTS], in_l[GS_NN_MAX_INPUTS];
  int c, l;                 /* output per sample */
  /* parameters: views into the network's flat arrays (NULL when none) */
  float *w, *b, *dw, *db;
  size_t n_w, n_b;
  float *running_mean, *running_var; /* batchnorm, n = channels */
  size_t n_running;
  long bn_updates; /* batchnorm: updates since the last reset
                      (GS_NN_BN_CUMULATIVE) */
  /* scratch for this batch (graph-owned) */
  void *scratch;
} gs_nn_layer;

/* Fills L->c and L->l from the inputs' shapes and checks options and
 * shapes: GS_ECONFIG with a message naming the layer ("layer %d (%s): ...")
 * and what to change. */
int gs_nn_layer_shape (gs_nn_layer *L);

/* Sizes of weights, bias and running statistics (after shape). */
void gs_nn_layer_param_sizes (const gs_nn_layer *L, size_t *n_w, size_t *n_b,
                              size_t *n_running);

/* fan_in, fan_out for initialisation (PyTorch's definitions). */
void gs_nn_layer_fans (const gs_nn_layer *L, double *fan_in,
                       double *fan_out);

/* Bytes of scratch forward + backward need for `batch` samples with
 * `threads` workers (per-thread im2col buffers, per-chunk partial
 * gradients, saved statistics, masks, argmax indices). */
size_t gs_nn_layer_scratch (const gs_nn_layer *L, int batch, int threads);

/* Multiply-accumulates per sample (0 for cheap layers). */
double gs_nn_layer_macs (const gs_nn_layer *L);

int gs_nn_layer_forward (gs_nn_layer *L, const gs_nn_ctx *ctx,
                         const float *const *x, float *y);
int gs_nn_layer_backward (gs_nn_layer *L, const gs_nn_ctx *ctx,
                          const float *const *x, const float *y,
                          const float *dy, float *const *dx);

/* A uniform [0, 1) draw that depends only on its arguments
 * (splitmix64-style hashing). */
double gs_nn_hash_uniform (uint64_t seed, uint64_t step, uint64_t layer,
                           uint64_t element);

#endif
