/* The layer kernels of the NN engine (nn_internal.h): shapes, parameter
 * sizes, scratch, forward and backward of every layer kind, with PyTorch
 * semantics.
 *
 * Convolutions and linear layers go through single-threaded cblas_sgemm:
 * a convolution unfolds one sample at a time into a per-thread im2col
 * buffer (in_c k x l_out), so memory does not grow with the batch beyond
 * the per-chunk weight gradients.  Work on the batch is split into chunks
 * of GS_NN_CHUNK samples run through ctx->parallel; weight gradients and
 * batchnorm sums are computed per chunk (or per fixed block of weights)
 * and reduced in chunk order, so results are bit-identical at any thread
 * count.  Nothing is allocated in forward or backward: every buffer lives
 * in the layer's scratch, laid out by nn_layout below. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gspec/nn.h"
#include "gspec/status.h"
#include "nn_internal.h"

/* The direct conv1d kernel (below) needs GCC's per-function targets. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_DC_X86 1
#include <immintrin.h>
#endif

#define NN_ALIGN 64
#define NN_LINEAR_BLOCK 256 /* weight columns per linear dW task */
#define NN_REDUCE_BLOCK 4096 /* elements per reduction task */

/* ---- Names ---------------------------------------------------------- */

static const char *const nn_kind_names[GS_NN_N_KINDS] = {
  [GS_NN_CONV1D] = "conv1d",
  [GS_NN_CONVT1D] = "convtranspose1d",
  [GS_NN_MAXPOOL1D] = "maxpool1d",
  [GS_NN_AVGPOOL1D] = "avgpool1d",
  [GS_NN_GAVGPOOL] = "globalavgpool",
  [GS_NN_GMAXPOOL] = "globalmaxpool",
  [GS_NN_BATCHNORM1D] = "batchnorm1d",
  [GS_NN_LINEAR] = "linear",
  [GS_NN_FLATTEN] = "flatten",
  [GS_NN_DROPOUT_LAYER] = "dropout",
  [GS_NN_SPATIAL_DROPOUT] = "spatial_dropout",
  [GS_NN_RELU] = "relu",
  [GS_NN_LEAKYRELU] = "leakyrelu",
  [GS_NN_ELU] = "elu",
  [GS_NN_SIGMOID] = "sigmoid",
  [GS_NN_SOFTMAX] = "softmax",
  [GS_NN_UPSAMPLE_LINEAR] = "upsample",
  [GS_NN_UPSAMPLE_NEAREST] = "upsample",
  [GS_NN_ADD] = "add",
  [GS_NN_CONCAT] = "concat",
  [GS_NN_INPUT] = "input",
};

const char *
gs_nn_kind_name (gs_nn_kind k)
{
  if ((int)k < 0 || k >= GS_NN_N_KINDS)
    return "unknown";
  return nn_kind_names[k];
}

/* ---- Dropout hash ----------------------------------------------------- */

static uint64_t
nn_mix (uint64_t z)
{
  z += UINT64_C (0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

double
gs_nn_hash_uniform (uint64_t seed, uint64_t step, uint64_t layer,
                    uint64_t element)
{
  uint64_t h = nn_mix (seed);
  h = nn_mix (h ^ step);
  h = nn_mix (h ^ layer);
  h = nn_mix (h ^ element);
  return (double)(h >> 11) * 0x1.0p-53;
}

/* ---- Geometry --------------------------------------------------------- */

/* A convolution seen as im2col + GEMM.  For conv1d the signal that is
 * unfolded is the input (C x Lin, columns Lout); for convtranspose1d it is
 * the output (O x Lout, columns Lin). */
typedef struct nn_conv
{
  int C, Lin, O, Lout, K, S, P, D;
  size_t nw, nb;
  int trivial; /* kernel 1, stride 1, no padding: no im2col */
  int direct;  /* conv1d forward by the direct kernel (no im2col) */
} nn_conv;

/* Whether conv1d forward uses the direct kernel rather than im2col +
 * sgemm.  This depends on the layer's shape and the machine alone, never
 * on the batch or the number of threads, so gs_nn_infer and gs_nn_forward
 * agree bit for bit at any thread count.  Stride 1 and dilation 1 only
 * (any kernel and padding), on x86-64 with AVX2 + FMA or AVX-512.  On an
 * AVX-512 machine the AVX-512 kernel measured 1.2-3x faster than im2col +
 * single-threaded OpenBLAS on every shape tried (kernels 1-20, 1-512
 * channels, lengths 2-1024; 2-3x on our CNNs' layers), the AVX2 kernel
 * 1.1-2x on our layers (within +-20% on a few small odd shapes); a 4-wide
 * SSE kernel was 3-4x slower than sgemm, so other machines keep im2col. */
static int
nn_conv_direct (const nn_conv *g)
{
  if (g->S != 1 || g->D != 1)
    return 0;
#ifdef NN_DC_X86
  return __builtin_cpu_supports ("x86-64-v3") != 0;
#else
  return 0;
#endif
}

static void
nn_conv_geom (const gs_nn_layer *L, nn_conv *g)
{
  g->C = L->in_c[0];
  g->Lin = L->in_l[0];
  g->O = L->out;
  g->Lout = L->l;
  g->K = L->kernel;
  g->S = L->stride;
  g->P = L->padding;
  g->D = L->dilation;
  g->nw = (size_t)g->O * g->C * g->K;
  g->nb = L->bias ? (size_t)g->O : 0;
  g->trivial = g->K == 1 && g->S == 1 && g->P == 0
               && (L->kind == GS_NN_CONV1D || L->output_padding == 0);
  g->direct = L->kind == GS_NN_CONV1D && nn_conv_direct (g);
}

static size_t nn_dc_row (const nn_conv *g);
static size_t nn_db_col (const nn_conv *g);
static size_t nn_db_part (const nn_conv *g);

static size_t
nn_in_size (const gs_nn_layer *L, int i)
{
  return (size_t)L->in_c[i] * L->in_l[i];
}

static size_t
nn_out_size (const gs_nn_layer *L)
{
  return (size_t)L->c * L->l;
}

/* ---- Shapes ----------------------------------------------------------- */

#define NN_BAD(L, ...) nn_bad (L, __VA_ARGS__)

static int nn_bad (const gs_nn_layer *L, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
nn_bad (const gs_nn_layer *L, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (L->name[0])
    return gs_error (GS_ECONFIG, "layer %d (%s '%s'): %s", L->index,
                     gs_nn_kind_name (L->kind), L->name, msg);
  return gs_error (GS_ECONFIG, "layer %d (%s): %s", L->index,
                   gs_nn_kind_name (L->kind), msg);
}

static int
nn_check_conv_opts (const gs_nn_layer *L)
{
  if (L->out < 1)
    return NN_BAD (L, "out = %d; give the number of output channels "
                   "(out >= 1)", L->out);
  if (L->kernel < 1)
    return NN_BAD (L, "kernel = %d; the kernel size must be >= 1",
                   L->kernel);
  if (L->stride < 1)
    return NN_BAD (L, "stride = %d; the stride must be >= 1", L->stride);
  if (L->dilation < 1)
    return NN_BAD (L, "dilation = %d; the dilation must be >= 1",
                   L->dilation);
  if (L->padding < 0)
    return NN_BAD (L, "padding = %d; the padding must be >= 0",
                   L->padding);
  return GS_OK;
}

static int
nn_check_pool_opts (const gs_nn_layer *L)
{
  if (L->kernel < 1)
    return NN_BAD (L, "kernel = %d; the kernel size must be >= 1",
                   L->kernel);
  if (L->stride < 1)
    return NN_BAD (L, "stride = %d; the stride must be >= 1", L->stride);
  if (L->padding < 0)
    return NN_BAD (L, "padding = %d; the padding must be >= 0",
                   L->padding);
  if (L->padding > L->kernel / 2)
    return NN_BAD (L, "padding %d is more than half the kernel (%d); use "
                   "padding <= %d", L->padding, L->kernel, L->kernel / 2);
  return GS_OK;
}

int
gs_nn_layer_shape (gs_nn_layer *L)
{
  int i, Lin, Cin, need, rc;
  long lo;
  int multi = L->kind == GS_NN_ADD || L->kind == GS_NN_CONCAT;

  if ((int)L->kind < 0 || L->kind >= GS_NN_N_KINDS)
    return gs_error (GS_ECONFIG, "layer %d: unknown layer kind %d",
                     L->index, (int)L->kind);
  if (L->kind == GS_NN_INPUT)
    {
      if (L->n_in != 0 || L->channels < 1 || L->length < 1)
        return NN_BAD (L, "an input layer takes no inputs and needs "
                       "channels >= 1 and length >= 1 (got %d x %d)",
                       L->channels, L->length);
      L->c = L->channels;
      L->l = L->length;
      return GS_OK;
    }
  if (multi && (L->n_in < 2 || L->n_in > GS_NN_MAX_INPUTS))
    return NN_BAD (L, "has %d inputs; list 2 to %d layers in `inputs`",
                   L->n_in, GS_NN_MAX_INPUTS);
  if (!multi && L->n_in != 1)
    return NN_BAD (L, "has %d inputs but takes exactly one; list one "
                   "layer in `inputs` or leave it out", L->n_in);
  for (i = 0; i < L->n_in; i++)
    if (L->in_c[i] < 1 || L->in_l[i] < 1)
      return NN_BAD (L, "input %d has shape %d x %d; every input needs "
                     ">= 1 channel and >= 1 sample", i, L->in_c[i],
                     L->in_l[i]);
  Cin = L->in_c[0];
  Lin = L->in_l[0];

  switch (L->kind)
    {
    case GS_NN_CONV1D:
      if ((rc = nn_check_conv_opts (L)) != GS_OK)
        return rc;
      need = L->dilation * (L->kernel - 1) + 1;
      if (Lin + 2 * L->padding < need)
        {
          if (L->padding)
            return NN_BAD (L, "kernel %d with dilation %d spans %d samples "
                           "but the input has %d (+ 2 x padding %d); use "
                           "a smaller kernel or dilation, more padding, or "
                           "a longer input", L->kernel, L->dilation, need,
                           Lin, L->padding);
          return NN_BAD (L, "kernel %d with dilation %d needs an input of "
                         "at least %d samples, got %d; use a smaller "
                         "kernel or dilation, padding, or a longer input",
                         L->kernel, L->dilation, need, Lin);
        }
      L->c = L->out;
      L->l = (Lin + 2 * L->padding - need) / L->stride + 1;
      break;
    case GS_NN_CONVT1D:
      if ((rc = nn_check_conv_opts (L)) != GS_OK)
        return rc;
      if (L->output_padding < 0)
        return NN_BAD (L, "output_padding = %d; it must be >= 0",
                       L->output_padding);
      if (L->output_padding >= L->stride
          && L->output_padding >= L->dilation)
        return NN_BAD (L, "output_padding %d must be smaller than the "
                       "stride (%d) or the dilation (%d)",
                       L->output_padding, L->stride, L->dilation);
      lo = (long)(Lin - 1) * L->stride - 2L * L->padding
           + (long)L->dilation * (L->kernel - 1) + L->output_padding + 1;
      if (lo < 1)
        return NN_BAD (L, "padding %d leaves an output of %ld samples; use "
                       "less padding (the output length is (in - 1) "
                       "stride - 2 padding + dilation (kernel - 1) + "
                       "output_padding + 1)", L->padding, lo);
      if (lo > INT32_MAX)
        return NN_BAD (L, "the output of %ld samples is too long", lo);
      L->c = L->out;
      L->l = (int)lo;
      break;
    case GS_NN_MAXPOOL1D:
    case GS_NN_AVGPOOL1D:
      if ((rc = nn_check_pool_opts (L)) != GS_OK)
        return rc;
      if (Lin + 2 * L->padding < L->kernel)
        return NN_BAD (L, "kernel %d needs an input of at least %d samples "
                       "(with padding %d), got %d; use a smaller kernel or "
                       "fewer pooling layers before it", L->kernel,
                       L->kernel - 2 * L->padding, L->padding, Lin);
      L->c = Cin;
      L->l = (Lin + 2 * L->padding - L->kernel) / L->stride + 1;
      break;
    case GS_NN_GAVGPOOL:
    case GS_NN_GMAXPOOL:
      L->c = Cin;
      L->l = 1;
      break;
    case GS_NN_BATCHNORM1D:
      if (!(L->eps > 0) || !isfinite (L->eps))
        return NN_BAD (L, "eps = %g; it must be > 0 (default 1e-5)",
                       L->eps);
      if (!(L->momentum >= 0 && L->momentum <= 1))
        return NN_BAD (L, "momentum = %g; it must lie in [0, 1] (default "
                       "0.1)", L->momentum);
      L->c = Cin;
      L->l = Lin;
      break;
    case GS_NN_LINEAR:
      if (L->out < 1)
        return NN_BAD (L, "out = %d; give the number of output features "
                       "(out >= 1)", L->out);
      if ((size_t)Cin * Lin > INT32_MAX)
        return NN_BAD (L, "input of %d x %d features is too large", Cin,
                       Lin);
      L->c = L->out;
      L->l = 1;
      break;
    case GS_NN_FLATTEN:
      if ((size_t)Cin * Lin > INT32_MAX)
        return NN_BAD (L, "input of %d x %d features is too large", Cin,
                       Lin);
      L->c = Cin * Lin;
      L->l = 1;
      break;
    case GS_NN_DROPOUT_LAYER:
    case GS_NN_SPATIAL_DROPOUT:
      if (!(L->p >= 0 && L->p < 1))
        return NN_BAD (L, "p = %g; the drop probability must lie in "
                       "[0, 1)", L->p);
      L->c = Cin;
      L->l = Lin;
      break;
    case GS_NN_LEAKYRELU:
    case GS_NN_ELU:
      if (!isfinite (L->alpha))
        return NN_BAD (L, "%s = %g is not finite",
                       L->kind == GS_NN_ELU ? "alpha" : "slope", L->alpha);
      L->c = Cin;
      L->l = Lin;
      break;
    case GS_NN_RELU:
    case GS_NN_SIGMOID:
    case GS_NN_SOFTMAX:
      L->c = Cin;
      L->l = Lin;
      break;
    case GS_NN_UPSAMPLE_LINEAR:
    case GS_NN_UPSAMPLE_NEAREST:
      if (L->scale < 0 || L->size < 0)
        return NN_BAD (L, "scale = %d, size = %d; neither may be negative",
                       L->scale, L->size);
      if ((L->scale > 0) == (L->size > 0))
        return NN_BAD (L, "give exactly one of scale (an integer factor) "
                       "and size (the output length)%s",
                       L->scale > 0 ? ", not both" : "");
      if (L->scale > 0 && (long)L->scale * Lin > INT32_MAX)
        return NN_BAD (L, "scale %d makes the output too long", L->scale);
      L->c = Cin;
      L->l = L->scale > 0 ? L->scale * Lin : L->size;
      break;
    case GS_NN_ADD:
      for (i = 1; i < L->n_in; i++)
        if (L->in_c[i] != Cin || L->in_l[i] != Lin)
          return NN_BAD (L, "input %d is %d x %d but input 0 is %d x %d; "
                         "add needs inputs of the same shape", i,
                         L->in_c[i], L->in_l[i], Cin, Lin);
      if (L->n_weights != 0 && L->n_weights != L->n_in)
        return NN_BAD (L, "has %d weights for %d inputs; give one weight "
                       "per input or none", L->n_weights, L->n_in);
      L->c = Cin;
      L->l = Lin;
      break;
    case GS_NN_CONCAT:
      {
        long c = 0;
        for (i = 0; i < L->n_in; i++)
          {
            if (L->in_l[i] != Lin)
              return NN_BAD (L, "input %d has length %d but input 0 has "
                             "%d; concat stacks channels of inputs of the "
                             "same length", i, L->in_l[i], Lin);
            c += L->in_c[i];
          }
        if (c > INT32_MAX)
          return NN_BAD (L, "%ld channels are too many", c);
        L->c = (int)c;
        L->l = Lin;
      }
      break;
    default:
      return NN_BAD (L, "unknown layer kind");
    }
  if (L->c < 1 || L->l < 1)
    return NN_BAD (L, "the output shape %d x %d is empty", L->c, L->l);
  return GS_OK;
}

void
gs_nn_layer_param_sizes (const gs_nn_layer *L, size_t *n_w, size_t *n_b,
                         size_t *n_running)
{
  size_t w = 0, b = 0, r = 0;
  switch (L->kind)
    {
    case GS_NN_CONV1D:
    case GS_NN_CONVT1D:
      w = (size_t)L->out * L->in_c[0] * L->kernel;
      b = L->bias ? (size_t)L->out : 0;
      break;
    case GS_NN_LINEAR:
      w = (size_t)L->out * nn_in_size (L, 0);
      b = L->bias ? (size_t)L->out : 0;
      break;
    case GS_NN_BATCHNORM1D:
      w = b = r = (size_t)L->in_c[0];
      break;
    default:
      break;
    }
  if (n_w)
    *n_w = w;
  if (n_b)
    *n_b = b;
  if (n_running)
    *n_running = r;
}

void
gs_nn_layer_fans (const gs_nn_layer *L, double *fan_in, double *fan_out)
{
  double fi = 0, fo = 0;
  switch (L->kind)
    {
    case GS_NN_CONV1D:
      fi = (double)L->in_c[0] * L->kernel;
      fo = (double)L->out * L->kernel;
      break;
    case GS_NN_CONVT1D:
      /* PyTorch computes fans from the weight (in, out, k): dimension 1
         (out) is its "fan in". */
      fi = (double)L->out * L->kernel;
      fo = (double)L->in_c[0] * L->kernel;
      break;
    case GS_NN_LINEAR:
      fi = (double)nn_in_size (L, 0);
      fo = L->out;
      break;
    case GS_NN_BATCHNORM1D:
      fi = fo = L->in_c[0];
      break;
    default:
      break;
    }
  if (fan_in)
    *fan_in = fi;
  if (fan_out)
    *fan_out = fo;
}

double
gs_nn_layer_macs (const gs_nn_layer *L)
{
  switch (L->kind)
    {
    case GS_NN_CONV1D:
      return (double)L->out * L->in_c[0] * L->kernel * L->l;
    case GS_NN_CONVT1D:
      return (double)L->in_c[0] * L->out * L->kernel * L->in_l[0];
    case GS_NN_LINEAR:
      return (double)L->out * nn_in_size (L, 0);
    case GS_NN_BATCHNORM1D:
      return (double)L->c * L->l;
    default:
      return 0;
    }
}

/* ---- Scratch ---------------------------------------------------------- */

/* Offsets (bytes) into a layer's scratch.  The layout only grows with the
 * batch, so scratch sized for a larger batch also fits a smaller one. */
typedef struct nn_lay
{
  size_t col;     /* per-thread im2col buffers */
  size_t col_str; /* bytes per thread */
  size_t wt;      /* direct conv backward: rearranged weights */
  size_t part;    /* per-chunk partial gradients / sums */
  size_t part_str; /* bytes per chunk */
  size_t stat;    /* batchnorm statistics (double) */
  size_t idx;     /* argmax (int32) */
  size_t mask;    /* dropout mask (bytes) */
  size_t total;
} nn_lay;

static size_t
nn_align (size_t n)
{
  return (n + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
}

static size_t
nn_lay_take (size_t *total, size_t bytes)
{
  size_t o = *total;
  *total += nn_align (bytes);
  return o;
}

static size_t
nn_chunks (int batch)
{
  return batch > 0 ? ((size_t)batch + GS_NN_CHUNK - 1) / GS_NN_CHUNK : 0;
}

/* Header: one int of flags written by forward for backward. */
enum
{
  NN_F_ACTIVE = 1, /* dropout dropped */
  NN_F_BATCH = 2   /* batchnorm normalised with batch statistics */
};

static void
nn_layout (const gs_nn_layer *L, int batch, int threads, nn_lay *s)
{
  size_t t = 0, nb = batch > 0 ? (size_t)batch : 0;
  size_t nt = threads > 0 ? (size_t)threads : 1, nch = nn_chunks (batch);
  nn_conv g;
  memset (s, 0, sizeof *s);
  switch (L->kind)
    {
    case GS_NN_CONV1D:
    case GS_NN_CONVT1D:
      nn_conv_geom (L, &g);
      if (!g.trivial || g.direct)
        {
          size_t cols = L->kind == GS_NN_CONV1D
                            ? (size_t)g.C * g.K * g.Lout
                            : (size_t)g.O * g.K * g.Lin;
          if (g.direct && (size_t)g.C * nn_dc_row (&g) > cols)
            cols = (size_t)g.C * nn_dc_row (&g);
          if (g.direct && nn_db_col (&g) > cols)
            cols = nn_db_col (&g);
          s->col_str = nn_align (cols * sizeof (float));
          s->col = nn_lay_take (&t, nt * s->col_str);
        }
      if (g.direct)
        s->wt = nn_lay_take (&t, g.nw * sizeof (float));
      s->part_str = nn_align ((g.nw + g.nb) * sizeof (float));
      if (g.direct && nn_db_part (&g) * sizeof (float) > s->part_str)
        s->part_str = nn_align (nn_db_part (&g) * sizeof (float));
      s->part = nn_lay_take (&t, nch * s->part_str);
      break;
    case GS_NN_MAXPOOL1D:
    case GS_NN_GMAXPOOL:
      s->idx = nn_lay_take (&t, nb * nn_out_size (L) * sizeof (int32_t));
      break;
    case GS_NN_BATCHNORM1D:
      t = NN_ALIGN; /* flags */
      s->stat = nn_lay_take (&t, 6 * (size_t)L->c * sizeof (double));
      s->part_str = nn_align (2 * (size_t)L->c * sizeof (double));
      s->part = nn_lay_take (&t, nch * s->part_str);
      break;
    case GS_NN_DROPOUT_LAYER:
      t = NN_ALIGN;
      s->mask = nn_lay_take (&t, nb * nn_out_size (L));
      break;
    case GS_NN_SPATIAL_DROPOUT:
      t = NN_ALIGN;
      s->mask = nn_lay_take (&t, nb * (size_t)L->c);
      break;
    default:
      break;
    }
  s->total = t;
}

size_t
gs_nn_layer_scratch (const gs_nn_layer *L, int batch, int threads)
{
  nn_lay s;
  nn_layout (L, batch, threads, &s);
  return s.total;
}

/* ---- Tasks ------------------------------------------------------------ */

typedef struct nn_job
{
  gs_nn_layer *L;
  const gs_nn_ctx *ctx;
  nn_lay lay;
  char *scr;
  int batch;
  const float *x;
  float *y;
  const float *dy;
  float *dx;
  nn_conv g;
  int par; /* running through ctx->parallel */
  int bwd; /* elementwise tasks: backward */
  int assign; /* backward: write dx (it holds garbage) rather than add */
} nn_job;

static int
nn_job_init (nn_job *j, gs_nn_layer *L, const gs_nn_ctx *ctx)
{
  memset (j, 0, sizeof *j);
  j->L = L;
  j->ctx = ctx;
  j->batch = ctx->batch;
  nn_layout (L, ctx->batch, ctx->threads, &j->lay);
  j->scr = L->scratch;
  if (j->lay.total > 0 && !j->scr)
    return gs_error (GS_EINVAL, "layer %d (%s): no scratch for a batch of "
                     "%d (%zu bytes needed)", L->index,
                     gs_nn_kind_name (L->kind), ctx->batch, j->lay.total);
  return GS_OK;
}

static int
nn_run (nn_job *j, size_t n, gs_nn_task_fn fn)
{
  size_t i;
  int rc;
  if (n > 1 && j->ctx->parallel)
    {
      j->par = 1;
      rc = j->ctx->parallel (j->ctx->pool, n, fn, j);
      j->par = 0;
      return rc;
    }
  for (i = 0; i < n; i++)
    if ((rc = fn (j, i)) != GS_OK)
      return rc;
  return GS_OK;
}

/* The calling worker's im2col buffer. */
static float *
nn_thread_col (const nn_job *j)
{
  int t = 0, nt = j->ctx->threads > 0 ? j->ctx->threads : 1;
  if (j->par && j->ctx->thread_index)
    t = j->ctx->thread_index (j->ctx->pool);
  if (t < 0 || t >= nt)
    return NULL;
  return (float *)(j->scr + j->lay.col + (size_t)t * j->lay.col_str);
}

static int
nn_bad_thread (const nn_job *j)
{
  return gs_error (GS_EFAILED, "layer %d (%s): worker index out of range "
                   "0..%d", j->L->index, gs_nn_kind_name (j->L->kind),
                   j->ctx->threads - 1);
}

static void
nn_chunk_range (const nn_job *j, size_t ch, int *n0, int *n1)
{
  *n0 = (int)(ch * GS_NN_CHUNK);
  *n1 = *n0 + GS_NN_CHUNK;
  if (*n1 > j->batch)
    *n1 = j->batch;
}

static size_t nn_db_index (const nn_conv *g, size_t i);

/* Reduces the per-chunk partial gradients in chunk order into L->dw and
 * L->db, one fixed block of elements per task. */
static int
nn_reduce_task (void *arg, size_t blk)
{
  nn_job *j = arg;
  size_t nw = j->g.nw, n = nw + j->g.nb, nch = nn_chunks (j->batch);
  size_t i0 = blk * NN_REDUCE_BLOCK, i1 = i0 + NN_REDUCE_BLOCK, i, ch;
  if (i1 > n)
    i1 = n;
  for (i = i0; i < i1; i++)
    {
      float s = 0;
      float *dst = i < nw ? &j->L->dw[i] : &j->L->db[i - nw];
      size_t src = i;
      if (j->g.direct && j->L->kind == GS_NN_CONV1D)
        src = nn_db_index (&j->g, i);
      for (ch = 0; ch < nch; ch++)
        s += ((const float *)(j->scr + j->lay.part
                              + ch * j->lay.part_str))[src];
      *dst += s;
    }
  return GS_OK;
}

static int
nn_reduce_parts (nn_job *j)
{
  size_t n = j->g.nw + j->g.nb;
  return nn_run (j, (n + NN_REDUCE_BLOCK - 1) / NN_REDUCE_BLOCK,
                 nn_reduce_task);
}

/* ---- im2col ----------------------------------------------------------- */

/* Columns t in [*t0, *t1) read signal position t s + off inside [0, lsig). */
static void
nn_valid_range (int lsig, int lcol, int s, int off, int *t0, int *t1)
{
  long lo = off >= 0 ? 0 : ((long)-off + s - 1) / s;
  long hi = (long)lsig - 1 - off < 0 ? 0 : ((long)lsig - 1 - off) / s + 1;
  if (lo > lcol)
    lo = lcol;
  if (hi > lcol)
    hi = lcol;
  if (hi < lo)
    hi = lo;
  *t0 = (int)lo;
  *t1 = (int)hi;
}

/* col[(c k + kk) lcol + t] = src[c, t s - p + kk d] (0 outside). */
static void
nn_im2col (const float *src, int ch, int lsig, int lcol, int k, int s,
           int p, int d, float *col)
{
  int c, kk, t, t0, t1;
  for (c = 0; c < ch; c++)
    for (kk = 0; kk < k; kk++)
      {
        float *row = col + ((size_t)c * k + kk) * lcol;
        int off = kk * d - p;
        const float *xs = src + (size_t)c * lsig + off;
        nn_valid_range (lsig, lcol, s, off, &t0, &t1);
        for (t = 0; t < t0; t++)
          row[t] = 0;
        if (s == 1)
          memcpy (row + t0, xs + t0, (size_t)(t1 - t0) * sizeof (float));
        else
          for (t = t0; t < t1; t++)
            row[t] = xs[(long)t * s];
        for (t = t1; t < lcol; t++)
          row[t] = 0;
      }
}

/* dst[c, t s - p + kk d] += col[(c k + kk) lcol + t]. */
static void
nn_col2im (const float *col, int ch, int lsig, int lcol, int k, int s,
           int p, int d, float *dst)
{
  int c, kk, t, t0, t1;
  for (c = 0; c < ch; c++)
    for (kk = 0; kk < k; kk++)
      {
        const float *row = col + ((size_t)c * k + kk) * lcol;
        int off = kk * d - p;
        float *xs = dst + (size_t)c * lsig + off;
        nn_valid_range (lsig, lcol, s, off, &t0, &t1);
        for (t = t0; t < t1; t++)
          xs[(long)t * s] += row[t];
      }
}

/* ---- direct conv1d ---------------------------------------------------- */

/* Stride-1, dilation-1 conv1d without im2col: the input of one sample is
 * copied into zero-padded rows (C x lp, sample i at column P + i), and
 * register tiles of OB output channels x NV vectors of output positions
 * accumulate b[o] + sum_c sum_k w[o][c][k] xp[c][t + k] in that order, so
 * that the rows need no edge tests.  The kernel is compiled for AVX-512
 * (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline, and picked once
 * per machine; which layers use it depends only on their shape (see
 * nn_conv_direct), so results do not depend on the batch or the number
 * of threads.  The last bits can differ between machines with different
 * vector units. */

#define NN_DC_PAD 16 /* row slack: widest vector, in floats */

/* One tile: outputs y[i ly + t] for i < OB, t < nt (nt <= NV VL); xp and
 * y point at the tile's first column. */
#define NN_DC_TILE(NAME, ATTR, V, VL, LOADU, STOREU, SET1, FMA, OB, NV)    \
  static inline __attribute__ ((always_inline)) ATTR void NAME (          \
      const float *xp, size_t lp, int C, int K, const float *w, size_t ck, \
      const float *b, float *y, size_t ly, int nt, int add)                \
  {                                                                        \
    V acc[OB][NV];                                                         \
    int c, k, i, v;                                                        \
    if (add && nt == NV * VL)                                              \
      for (i = 0; i < OB; i++)                                             \
        for (v = 0; v < NV; v++)                                           \
          acc[i][v] = LOADU (y + (size_t)i * ly + v * VL);                 \
    else if (add)                                                          \
      for (i = 0; i < OB; i++)                                             \
        {                                                                  \
          float tmp[NV * VL];                                              \
          memset (tmp, 0, sizeof tmp);                                     \
          memcpy (tmp, y + (size_t)i * ly, (size_t)nt * sizeof (float));   \
          for (v = 0; v < NV; v++)                                         \
            acc[i][v] = LOADU (tmp + v * VL);                              \
        }                                                                  \
    else                                                                   \
      for (i = 0; i < OB; i++)                                             \
        for (v = 0; v < NV; v++)                                           \
          acc[i][v] = SET1 (b ? b[i] : 0.0f);                              \
    for (c = 0; c < C; c++)                                                \
      {                                                                    \
        const float *xr = xp + (size_t)c * lp;                             \
        const float *wr = w + (size_t)c * K;                               \
        for (k = 0; k < K; k++)                                            \
          {                                                                \
            V xv[NV];                                                      \
            for (v = 0; v < NV; v++)                                       \
              xv[v] = LOADU (xr + k + v * VL);                             \
            for (i = 0; i < OB; i++)                                       \
              {                                                            \
                V wv = SET1 (wr[(size_t)i * ck + k]);                      \
                for (v = 0; v < NV; v++)                                   \
                  acc[i][v] = FMA (wv, xv[v], acc[i][v]);                  \
              }                                                            \
          }                                                                \
      }                                                                    \
    if (nt == NV * VL)                                                     \
      {                                                                    \
        for (i = 0; i < OB; i++)                                           \
          for (v = 0; v < NV; v++)                                         \
            STOREU (y + (size_t)i * ly + v * VL, acc[i][v]);               \
      }                                                                    \
    else                                                                   \
      for (i = 0; i < OB; i++)                                             \
        {                                                                  \
          float tmp[NV * VL];                                              \
          for (v = 0; v < NV; v++)                                         \
            STOREU (tmp + v * VL, acc[i][v]);                              \
          memcpy (y + (size_t)i * ly, tmp, (size_t)nt * sizeof (float));   \
        }                                                                  \
  }

/* y[o][t] for one sample from the padded rows xp (C x lp). */
#define NN_DC_KERNEL(SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, OB, NV)   \
  NN_DC_TILE (nn_dc_tile_a##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA,    \
              OB, NV)                                                      \
  NN_DC_TILE (nn_dc_tile_b##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA,    \
              OB, 1)                                                       \
  NN_DC_TILE (nn_dc_tile_c##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, 1, \
              NV)                                                          \
  NN_DC_TILE (nn_dc_tile_d##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, 1, \
              1)                                                           \
  static ATTR void nn_dc_kernel##SUF (const float *xp, size_t lp, int C,   \
                                      int K, const float *w,               \
                                      const float *b, int O, int Lout,     \
                                      float *y, int add)                   \
  {                                                                        \
    size_t ck = (size_t)C * K, ly = (size_t)Lout;                          \
    int o = 0, t;                                                          \
    for (; o + (OB) <= O; o += (OB))                                       \
      {                                                                    \
        const float *wo = w + (size_t)o * ck, *bo = b ? b + o : NULL;      \
        float *yo = y + (size_t)o * ly;                                    \
        for (t = 0; t + (NV) * (VL) <= Lout; t += (NV) * (VL))             \
          nn_dc_tile_a##SUF (xp + t, lp, C, K, wo, ck, bo, yo + t, ly,     \
                             (NV) * (VL), add);                            \
        for (; t < Lout; t += (VL))                                        \
          nn_dc_tile_b##SUF (xp + t, lp, C, K, wo, ck, bo, yo + t, ly,     \
                             Lout - t < (VL) ? Lout - t : (VL), add);      \
      }                                                                    \
    for (; o < O; o++)                                                     \
      {                                                                    \
        const float *wo = w + (size_t)o * ck, *bo = b ? b + o : NULL;      \
        float *yo = y + (size_t)o * ly;                                    \
        for (t = 0; t + (NV) * (VL) <= Lout; t += (NV) * (VL))             \
          nn_dc_tile_c##SUF (xp + t, lp, C, K, wo, ck, bo, yo + t, ly,     \
                             (NV) * (VL), add);                            \
        for (; t < Lout; t += (VL))                                        \
          nn_dc_tile_d##SUF (xp + t, lp, C, K, wo, ck, bo, yo + t, ly,     \
                             Lout - t < (VL) ? Lout - t : (VL), add);      \
      }                                                                    \
  }

#ifdef NN_DC_X86
#define NN_ATTR_V3 __attribute__ ((target ("arch=x86-64-v3")))
#define NN_ATTR_V4 __attribute__ ((target ("arch=x86-64-v4")))
NN_DC_KERNEL (_v3, NN_ATTR_V3, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_set1_ps, _mm256_fmadd_ps, 4, 3)
NN_DC_KERNEL (_v4, NN_ATTR_V4, __m512, 16, _mm512_loadu_ps,
              _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, 8, 3)
#endif

/* Only called where nn_conv_direct said yes (so on x86-64-v3 or v4). */
static void
nn_dc_kernel (const float *xp, size_t lp, int C, int K, const float *w,
              const float *b, int O, int Lout, float *y, int add)
{
#ifdef NN_DC_X86
  if (__builtin_cpu_supports ("x86-64-v4"))
    nn_dc_kernel_v4 (xp, lp, C, K, w, b, O, Lout, y, add);
  else
    nn_dc_kernel_v3 (xp, lp, C, K, w, b, O, Lout, y, add);
#else
  (void)xp, (void)lp, (void)C, (void)K, (void)w, (void)b, (void)O;
  (void)Lout, (void)y, (void)add;
#endif
}

/* Floats per padded input row of the direct kernel. */
static size_t
nn_dc_row (const nn_conv *g)
{
  size_t lo = ((size_t)g->Lout + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
  size_t lp = lo + (size_t)g->K - 1;
  if (lp < (size_t)g->P + g->Lin)
    lp = (size_t)g->P + g->Lin;
  return (lp + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
}

/* Copies one sample (C x Lin) into the zero-padded rows xp (C x lp). */
static void
nn_dc_pad (const nn_conv *g, const float *x, size_t lp, float *xp)
{
  int c;
  for (c = 0; c < g->C; c++)
    {
      float *r = xp + (size_t)c * lp;
      memset (r, 0, (size_t)g->P * sizeof (float));
      memcpy (r + g->P, x + (size_t)c * g->Lin,
              (size_t)g->Lin * sizeof (float));
      memset (r + g->P + g->Lin, 0,
              (lp - g->P - g->Lin) * sizeof (float));
    }
}


/* ---- direct conv1d backward ------------------------------------------ */

/* The backward of the layers that use the direct forward (same shapes):
 *   dX: a full correlation of dY with the flipped weights, by the forward
 *       kernel (nn_dc_kernel in add mode) on dY copied into zero-padded
 *       rows (O x lpx, dY[o][t] at column K-1-P+t) with the weights
 *       rearranged once per call to wt[c][o][k] = w[o][c][K-1-k];
 *   dW: per sample, dY is transposed to dyt[t][o] (o padded with zeros to
 *       a whole number of the widest vectors, NN_DC_PAD) and register
 *       tiles of OV vectors of output channels x KB taps accumulate
 *       dW[o][c][k] += sum_t dyt[t][o] xp[c][t + k] in t order into the
 *       chunk's partial buffer, kept as pwt[c][k][o] (k padded to
 *       NN_DW_KPAD, o to opad) and reduced in chunk order.
 * Each sum's order depends only on the shapes, never on the batch or the
 * number of threads. */

#define NN_DW_KPAD 8 /* taps padded to a multiple of the widest KB */

static size_t
nn_db_opad (const nn_conv *g)
{
  return ((size_t)g->O + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
}

static size_t
nn_db_kpad (const nn_conv *g)
{
  return ((size_t)g->K + NN_DW_KPAD - 1) / NN_DW_KPAD * NN_DW_KPAD;
}

/* Floats per padded input row for dW (taps read up to Lout - 1 + kpad - 1). */
static size_t
nn_db_xrow (const nn_conv *g)
{
  size_t lp = nn_dc_row (g), need = (size_t)g->Lout + nn_db_kpad (g) - 1;
  if (lp < need)
    lp = need;
  return (lp + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
}

/* Floats per padded dY row for dX (outputs Lin, read up to
 * roundup (Lin) + K - 1). */
static size_t
nn_db_yrow (const nn_conv *g)
{
  size_t lo = ((size_t)g->Lin + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
  size_t lp = lo + (size_t)g->K - 1;
  long need = (long)g->K - 1 - g->P + g->Lout;
  if (need > 0 && lp < (size_t)need)
    lp = (size_t)need;
  return (lp + NN_DC_PAD - 1) / NN_DC_PAD * NN_DC_PAD;
}

/* Floats of the per-thread buffer the direct backward needs: xp, dyt, dyp. */
static size_t
nn_db_col (const nn_conv *g)
{
  return (size_t)g->C * nn_db_xrow (g) + (size_t)g->Lout * nn_db_opad (g)
         + (size_t)g->O * nn_db_yrow (g);
}

/* Floats of one chunk's partial gradients in the direct layout. */
static size_t
nn_db_part (const nn_conv *g)
{
  return (size_t)g->C * nn_db_kpad (g) * nn_db_opad (g) + g->nb;
}

/* dyp[o][j] = dy[o][j - (K-1-P)] (0 outside). */
static void
nn_db_pad_dy (const nn_conv *g, const float *dy, size_t lpx, float *dyp)
{
  long sh = (long)g->K - 1 - g->P;
  long j0 = sh > 0 ? sh : 0, j1 = sh + g->Lout;
  int o;
  if (j1 > (long)lpx)
    j1 = (long)lpx;
  if (j1 < j0)
    j1 = j0;
  for (o = 0; o < g->O; o++)
    {
      float *r = dyp + (size_t)o * lpx;
      memset (r, 0, (size_t)j0 * sizeof (float));
      memcpy (r + j0, dy + (size_t)o * g->Lout + (j0 - sh),
              (size_t)(j1 - j0) * sizeof (float));
      memset (r + j1, 0, (lpx - (size_t)j1) * sizeof (float));
    }
}

/* dyt[t][o] = dy[o][t], o < opad (0 beyond O). */
static void
nn_db_trans_dy (const nn_conv *g, const float *dy, size_t opad, float *dyt)
{
  int o, t, o0, t0;
  for (t = 0; t < g->Lout; t++)
    memset (dyt + (size_t)t * opad + g->O, 0,
            (opad - (size_t)g->O) * sizeof (float));
  /* in 16 x 16 tiles: both sides stay in a few cache lines */
  for (o0 = 0; o0 < g->O; o0 += 16)
    for (t0 = 0; t0 < g->Lout; t0 += 16)
      {
        int o1 = o0 + 16 < g->O ? o0 + 16 : g->O;
        int t1 = t0 + 16 < g->Lout ? t0 + 16 : g->Lout;
        for (o = o0; o < o1; o++)
          {
            const float *r = dy + (size_t)o * g->Lout;
            for (t = t0; t < t1; t++)
              dyt[(size_t)t * opad + o] = r[t];
          }
      }
}

/* pb[o] += sum_t dy[o Lout + t], each row summed from 0 in t order. */
static void
nn_bias_rows (const float *dy, int O, int Lout, float *pb)
{
  int o, t;
  for (o = 0; o < O; o++)
    {
      const float *r = dy + (size_t)o * Lout;
      float s = 0;
      for (t = 0; t < Lout; t++)
        s += r[t];
      pb[o] += s;
    }
}

/* pb[o] += sum_t dyt[t opad + o], each sum from 0 in t order (the same
 * additions as a row sum of dY), vectorised across o. */
static void
nn_db_bias (const float *restrict dyt, size_t opad, int Lout, int O,
            float *restrict pb)
{
  float acc[64];
  int o0, o, t, w;
  for (o0 = 0; o0 < O; o0 += 64)
    {
      w = O - o0 < 64 ? O - o0 : 64;
      for (o = 0; o < w; o++)
        acc[o] = 0.0f;
      for (t = 0; t < Lout; t++)
        {
          const float *r = dyt + (size_t)t * opad + o0;
          for (o = 0; o < w; o++)
            acc[o] += r[o];
        }
      for (o = 0; o < w; o++)
        pb[o0 + o] += acc[o];
    }
}

/* pw[kk opad + v VL ..] += sum_t xr[t + kk] dyt[t opad + v VL ..]. */
#define NN_DW_TILE(NAME, ATTR, V, VL, LOADU, STOREU, SET1, FMA, OV, KB)    \
  static ATTR void NAME (const float *xr, const float *dyt, size_t opad,  \
                         int Lout, float *pw)                             \
  {                                                                        \
    V acc[KB][OV];                                                         \
    int t, kk, v;                                                          \
    for (kk = 0; kk < KB; kk++)                                            \
      for (v = 0; v < OV; v++)                                             \
        acc[kk][v] = LOADU (pw + (size_t)kk * opad + v * VL);              \
    for (t = 0; t < Lout; t++)                                             \
      {                                                                    \
        V d[OV];                                                           \
        const float *dr = dyt + (size_t)t * opad;                          \
        for (v = 0; v < OV; v++)                                           \
          d[v] = LOADU (dr + v * VL);                                      \
        for (kk = 0; kk < KB; kk++)                                        \
          {                                                                \
            V xv = SET1 (xr[t + kk]);                                      \
            for (v = 0; v < OV; v++)                                       \
              acc[kk][v] = FMA (xv, d[v], acc[kk][v]);                     \
          }                                                                \
      }                                                                    \
    for (kk = 0; kk < KB; kk++)                                            \
      for (v = 0; v < OV; v++)                                             \
        STOREU (pw + (size_t)kk * opad + v * VL, acc[kk][v]);              \
  }

#define NN_DW_KERNEL(SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, KB)       \
  NN_DW_TILE (nn_dw_tile3##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, 3,  \
              KB)                                                          \
  NN_DW_TILE (nn_dw_tile2##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, 2,  \
              KB)                                                          \
  NN_DW_TILE (nn_dw_tile1##SUF, ATTR, V, VL, LOADU, STOREU, SET1, FMA, 1,  \
              KB)                                                          \
  static ATTR void nn_dw_kernel##SUF (const float *xp, size_t lp, int C,   \
                                      int K, size_t kpad,                  \
                                      const float *dyt, size_t opad,       \
                                      int Lout, float *pwt)                \
  {                                                                        \
    size_t nv = opad / (VL), o0 = 0;                                       \
    int c, k0;                                                             \
    while (o0 < nv)                                                        \
      {                                                                    \
        size_t ov = nv - o0 >= 3 ? 3 : nv - o0;                            \
        for (c = 0; c < C; c++)                                            \
          for (k0 = 0; k0 < K; k0 += (KB))                                 \
            {                                                              \
              const float *xr = xp + (size_t)c * lp + k0;                  \
              const float *d = dyt + o0 * (VL);                            \
              float *pw = pwt + ((size_t)c * kpad + k0) * opad + o0 * (VL); \
              if (ov == 3)                                                 \
                nn_dw_tile3##SUF (xr, d, opad, Lout, pw);                  \
              else if (ov == 2)                                            \
                nn_dw_tile2##SUF (xr, d, opad, Lout, pw);                  \
              else                                                         \
                nn_dw_tile1##SUF (xr, d, opad, Lout, pw);                  \
            }                                                              \
        o0 += ov;                                                          \
      }                                                                    \
  }

#ifdef NN_DC_X86
NN_DW_KERNEL (_v3, NN_ATTR_V3, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_set1_ps, _mm256_fmadd_ps, 4)
NN_DW_KERNEL (_v4, NN_ATTR_V4, __m512, 16, _mm512_loadu_ps,
              _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, 8)
#endif

static void
nn_dw_kernel (const float *xp, size_t lp, int C, int K, size_t kpad,
              const float *dyt, size_t opad, int Lout, float *pwt)
{
#ifdef NN_DC_X86
  if (__builtin_cpu_supports ("x86-64-v4"))
    nn_dw_kernel_v4 (xp, lp, C, K, kpad, dyt, opad, Lout, pwt);
  else
    nn_dw_kernel_v3 (xp, lp, C, K, kpad, dyt, opad, Lout, pwt);
#else
  (void)xp, (void)lp, (void)C, (void)K, (void)kpad, (void)dyt, (void)opad;
  (void)Lout, (void)pwt;
#endif
}

/* Where element i of dw (o C K + c K + k) or db (nw + o) lies in a chunk's
 * partial buffer in the direct layout. */
static size_t
nn_db_index (const nn_conv *g, size_t i)
{
  size_t CK = (size_t)g->C * g->K, opad = nn_db_opad (g);
  size_t kpad = nn_db_kpad (g), o, r;
  if (i >= g->nw)
    return (size_t)g->C * kpad * opad + (i - g->nw);
  o = i / CK;
  r = i % CK;
  return ((r / g->K) * kpad + r % g->K) * opad + o;
}

/* wt[c][o][k] = w[o][c][K-1-k]. */
static void
nn_db_weights (const nn_conv *g, const float *w, float *wt)
{
  int o, c, k;
  for (c = 0; c < g->C; c++)
    for (o = 0; o < g->O; o++)
      for (k = 0; k < g->K; k++)
        wt[((size_t)c * g->O + o) * g->K + k]
            = w[((size_t)o * g->C + c) * g->K + g->K - 1 - k];
}

/* One chunk of the direct conv1d backward. */
static int
nn_conv_bwd_direct (nn_job *j, size_t ch, float *col, float *pw)
{
  const nn_conv *g = &j->g;
  const gs_nn_layer *L = j->L;
  size_t lx = nn_db_xrow (g), ly = nn_db_yrow (g), opad = nn_db_opad (g);
  size_t kpad = nn_db_kpad (g);
  float *xp = col, *dyt = xp + (size_t)g->C * lx;
  float *dyp = dyt + (size_t)g->Lout * opad;
  const float *wt = (const float *)(j->scr + j->lay.wt);
  int n0, n1, n;
  int want_w = L->dw != NULL, want_b = L->bias && L->db != NULL;
  float *pb = pw ? pw + (size_t)g->C * kpad * opad : NULL;
  nn_chunk_range (j, ch, &n0, &n1);
  for (n = n0; n < n1; n++)
    {
      const float *x = j->x + (size_t)n * g->C * g->Lin;
      const float *dy = j->dy + (size_t)n * g->O * g->Lout;
      if (j->dx)
        {
          nn_db_pad_dy (g, dy, ly, dyp);
          nn_dc_kernel (dyp, ly, g->O, g->K, wt, NULL, g->C, g->Lin,
                        j->dx + (size_t)n * g->C * g->Lin, !j->assign);
        }
      if (want_w)
        {
          nn_dc_pad (g, x, lx, xp);
          nn_db_trans_dy (g, dy, opad, dyt);
          nn_dw_kernel (xp, lx, g->C, g->K, kpad, dyt, opad, g->Lout, pw);
          if (want_b)
            nn_db_bias (dyt, opad, g->Lout, g->O, pb);
        }
      else if (want_b)
        nn_bias_rows (dy, g->O, g->Lout, pb);
    }
  return GS_OK;
}

/* ---- conv1d ----------------------------------------------------------- */

static int
nn_conv_fwd_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const nn_conv *g = &j->g;
  const gs_nn_layer *L = j->L;
  int n0, n1, n, o, t;
  size_t CK = (size_t)g->C * g->K;
  float *col = NULL;
  if ((!g->trivial || g->direct) && !(col = nn_thread_col (j)))
    return nn_bad_thread (j);
  nn_chunk_range (j, ch, &n0, &n1);
  for (n = n0; n < n1; n++)
    {
      const float *x = j->x + (size_t)n * g->C * g->Lin;
      float *y = j->y + (size_t)n * g->O * g->Lout;
      float beta = 0;
      if (g->direct)
        {
          size_t lp = nn_dc_row (g);
          nn_dc_pad (g, x, lp, col);
          nn_dc_kernel (col, lp, g->C, g->K, L->w, L->bias ? L->b : NULL,
                        g->O, g->Lout, y, 0);
          continue;
        }
      if (L->bias)
        {
          for (o = 0; o < g->O; o++)
            for (t = 0; t < g->Lout; t++)
              y[(size_t)o * g->Lout + t] = L->b[o];
          beta = 1;
        }
      if (g->trivial)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, g->O,
                     g->Lout, g->C, 1.0f, L->w, g->C, x, g->Lin, beta, y,
                     g->Lout);
      else
        {
          nn_im2col (x, g->C, g->Lin, g->Lout, g->K, g->S, g->P, g->D, col);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, g->O,
                       g->Lout, (int)CK, 1.0f, L->w, (int)CK, col, g->Lout,
                       beta, y, g->Lout);
        }
    }
  return GS_OK;
}

static int
nn_conv_bwd_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const nn_conv *g = &j->g;
  const gs_nn_layer *L = j->L;
  int n0, n1, n;
  size_t CK = (size_t)g->C * g->K;
  float *col = NULL, *pw = NULL, *pb = NULL;
  int want_w = L->dw != NULL, want_b = L->bias && L->db != NULL;
  if ((!g->trivial || g->direct) && !(col = nn_thread_col (j)))
    return nn_bad_thread (j);
  if (want_w || want_b)
    {
      pw = (float *)(j->scr + j->lay.part + ch * j->lay.part_str);
      pb = pw + g->nw;
      memset (pw, 0, (g->direct ? nn_db_part (g) : g->nw + g->nb)
                         * sizeof (float));
    }
  if (g->direct)
    return nn_conv_bwd_direct (j, ch, col, pw);
  nn_chunk_range (j, ch, &n0, &n1);
  for (n = n0; n < n1; n++)
    {
      const float *x = j->x + (size_t)n * g->C * g->Lin;
      const float *dy = j->dy + (size_t)n * g->O * g->Lout;
      if (j->dx)
        {
          float *dx = j->dx + (size_t)n * g->C * g->Lin;
          if (g->trivial)
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, g->C,
                         g->Lout, g->O, 1.0f, L->w, g->C, dy, g->Lout, 1.0f,
                         dx, g->Lin);
          else
            {
              cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)CK,
                           g->Lout, g->O, 1.0f, L->w, (int)CK, dy, g->Lout,
                           0.0f, col, g->Lout);
              nn_col2im (col, g->C, g->Lin, g->Lout, g->K, g->S, g->P, g->D,
                         dx);
            }
        }
      if (want_w)
        {
          if (g->trivial)
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, g->O, g->C,
                         g->Lout, 1.0f, dy, g->Lout, x, g->Lin, 1.0f, pw,
                         g->C);
          else
            {
              nn_im2col (x, g->C, g->Lin, g->Lout, g->K, g->S, g->P, g->D,
                         col);
              cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, g->O,
                           (int)CK, g->Lout, 1.0f, dy, g->Lout, col,
                           g->Lout, 1.0f, pw, (int)CK);
            }
        }
      if (want_b)
        nn_bias_rows (dy, g->O, g->Lout, pb);
    }
  return GS_OK;
}

/* ---- convtranspose1d -------------------------------------------------- */

static int
nn_convt_fwd_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const nn_conv *g = &j->g;
  const gs_nn_layer *L = j->L;
  int n0, n1, n, o, t;
  size_t OK = (size_t)g->O * g->K;
  float *col = NULL;
  if (!g->trivial && !(col = nn_thread_col (j)))
    return nn_bad_thread (j);
  nn_chunk_range (j, ch, &n0, &n1);
  for (n = n0; n < n1; n++)
    {
      const float *x = j->x + (size_t)n * g->C * g->Lin;
      float *y = j->y + (size_t)n * g->O * g->Lout;
      for (o = 0; o < g->O; o++)
        {
          float b = L->bias ? L->b[o] : 0.0f;
          for (t = 0; t < g->Lout; t++)
            y[(size_t)o * g->Lout + t] = b;
        }
      if (g->trivial)
        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, g->O, g->Lin,
                     g->C, 1.0f, L->w, g->O, x, g->Lin, 1.0f, y, g->Lout);
      else
        {
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)OK,
                       g->Lin, g->C, 1.0f, L->w, (int)OK, x, g->Lin, 0.0f,
                       col, g->Lin);
          nn_col2im (col, g->O, g->Lout, g->Lin, g->K, g->S, g->P, g->D, y);
        }
    }
  return GS_OK;
}

static int
nn_convt_bwd_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const nn_conv *g = &j->g;
  const gs_nn_layer *L = j->L;
  int n0, n1, n;
  size_t OK = (size_t)g->O * g->K;
  float *col = NULL, *pw = NULL, *pb = NULL;
  int want_w = L->dw != NULL, want_b = L->bias && L->db != NULL;
  if (!g->trivial && !(col = nn_thread_col (j)))
    return nn_bad_thread (j);
  if (want_w || want_b)
    {
      pw = (float *)(j->scr + j->lay.part + ch * j->lay.part_str);
      pb = pw + g->nw;
      memset (pw, 0, (g->nw + g->nb) * sizeof (float));
    }
  nn_chunk_range (j, ch, &n0, &n1);
  for (n = n0; n < n1; n++)
    {
      const float *x = j->x + (size_t)n * g->C * g->Lin;
      const float *dy = j->dy + (size_t)n * g->O * g->Lout;
      const float *dcol = dy;
      if (!j->dx && !want_w && !want_b)
        continue;
      if (!g->trivial && (j->dx || want_w))
        {
          nn_im2col (dy, g->O, g->Lout, g->Lin, g->K, g->S, g->P, g->D, col);
          dcol = col;
        }
      if (j->dx)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, g->C,
                     g->Lin, (int)OK, 1.0f, L->w, (int)OK, dcol, g->Lin,
                     1.0f, j->dx + (size_t)n * g->C * g->Lin, g->Lin);
      if (want_w)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, g->C, (int)OK,
                     g->Lin, 1.0f, x, g->Lin, dcol, g->Lin, 1.0f, pw,
                     (int)OK);
      if (want_b)
        nn_bias_rows (dy, g->O, g->Lout, pb);
    }
  return GS_OK;
}

/* ---- linear ----------------------------------------------------------- */

static int
nn_linear_fwd_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  int n0, n1, n, F = (int)nn_in_size (L, 0), O = L->out;
  float beta = 0;
  nn_chunk_range (j, ch, &n0, &n1);
  if (L->bias)
    {
      for (n = n0; n < n1; n++)
        memcpy (j->y + (size_t)n * O, L->b, (size_t)O * sizeof (float));
      beta = 1;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n1 - n0, O, F, 1.0f,
               j->x + (size_t)n0 * F, F, L->w, F, beta,
               j->y + (size_t)n0 * O, O);
  return GS_OK;
}

static int
nn_linear_dx_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  int n0, n1, F = (int)nn_in_size (L, 0), O = L->out;
  nn_chunk_range (j, ch, &n0, &n1);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n1 - n0, F, O,
               1.0f, j->dy + (size_t)n0 * O, O, L->w, F,
               j->assign ? 0.0f : 1.0f, j->dx + (size_t)n0 * F, F);
  return GS_OK;
}

/* dW[:, block] += dY^T X[:, block] over the whole batch: each weight is
 * always computed by the same call, whatever the thread count. */
static int
nn_linear_dw_task (void *arg, size_t blk)
{
  nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  int F = (int)nn_in_size (L, 0), O = L->out;
  int f0 = (int)(blk * NN_LINEAR_BLOCK), fw = F - f0;
  if (fw > NN_LINEAR_BLOCK)
    fw = NN_LINEAR_BLOCK;
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, O, fw, j->batch,
               1.0f, j->dy, O, j->x + f0, F, 1.0f, L->dw + f0, F);
  return GS_OK;
}

/* ---- elementwise layers in parallel chunks ---------------------------- */

/* Leaky/plain ReLU, dropout and maxpool (kernel 2, stride 2, no padding
 * being the common case) forward and backward, one chunk of GS_NN_CHUNK
 * samples per task: every element is computed the same way whatever the
 * chunking, so results do not depend on the thread count. */
/* The elementwise loops, on restrict pointers so that they vectorise
 * (both arms computed: under -ftrapping-math a conditional multiply
 * would not be if-converted); `as` 1 writes the input gradient, 0 adds
 * to it. */
static void
nn_ew_relu_f (const float *restrict x, float *restrict y, size_t n, float a,
              int leaky)
{
  size_t e;
  if (leaky)
    for (e = 0; e < n; e++)
      {
        float v = x[e], m = a * v;
        y[e] = v > 0 ? v : m;
      }
  else
    for (e = 0; e < n; e++)
      y[e] = x[e] > 0 ? x[e] : 0.0f;
}

static void
nn_ew_relu_b (const float *restrict x, const float *restrict dy,
              float *restrict d, size_t n, float a, int leaky, int as)
{
  size_t e;
  if (leaky && as)
    for (e = 0; e < n; e++)
      {
        float g = dy[e], m = a * g;
        d[e] = x[e] > 0 ? g : m;
      }
  else if (leaky)
    for (e = 0; e < n; e++)
      {
        float g = dy[e], m = a * g;
        d[e] += x[e] > 0 ? g : m;
      }
  else if (as)
    for (e = 0; e < n; e++)
      d[e] = x[e] > 0 ? dy[e] : 0.0f;
  else
    for (e = 0; e < n; e++)
      d[e] += x[e] > 0 ? dy[e] : 0.0f;
}

/* y = m ? x * scale : 0 (m one mask byte per element). */
static void
nn_ew_mask (const unsigned char *restrict m, const float *restrict x,
            float *restrict y, size_t n, float scale, int as)
{
  size_t e;
  if (as)
    for (e = 0; e < n; e++)
      {
        float v = x[e] * scale;
        y[e] = m[e] ? v : 0.0f;
      }
  else
    for (e = 0; e < n; e++)
      {
        float v = x[e] * scale;
        y[e] += m[e] ? v : 0.0f;
      }
}

/* y = x * scale (keep) or 0 (drop), a row at a time. */
static void
nn_ew_row (int keep, const float *restrict x, float *restrict y, size_t n,
           float scale, int as)
{
  size_t e;
  if (!keep)
    {
      if (as)
        memset (y, 0, n * sizeof (float));
      return;
    }
  if (as)
    for (e = 0; e < n; e++)
      y[e] = x[e] * scale;
  else
    for (e = 0; e < n; e++)
      y[e] += x[e] * scale;
}

static int
nn_ew_task (void *arg, size_t ch)
{
  const nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  size_t per = nn_out_size (L), e0, e1, e;
  const float *x = j->x, *dy = j->dy;
  float *y = j->y, *d = j->dx;
  int n0, n1;
  nn_chunk_range (j, ch, &n0, &n1);
  e0 = (size_t)n0 * per;
  e1 = (size_t)n1 * per;
  switch (L->kind)
    {
    case GS_NN_RELU:
    case GS_NN_LEAKYRELU:
      {
        int leaky = L->kind == GS_NN_LEAKYRELU;
        float a = (float)L->alpha;
        if (!j->bwd)
          nn_ew_relu_f (x + e0, y + e0, e1 - e0, a, leaky);
        else
          nn_ew_relu_b (x + e0, dy + e0, d + e0, e1 - e0, a, leaky,
                        j->assign);
        break;
      }
    case GS_NN_DROPOUT_LAYER:
    case GS_NN_SPATIAL_DROPOUT:
      {
        unsigned char *mask = (unsigned char *)(j->scr + j->lay.mask);
        size_t Lx = L->kind == GS_NN_DROPOUT_LAYER ? 1 : (size_t)L->l;
        float scale = (float)(1.0 / (1.0 - L->p));
        const float *src = j->bwd ? dy : x;
        float *dst = j->bwd ? d : y;
        int as = j->bwd ? j->assign : 1;
        if (!j->bwd)
          for (e = e0 / Lx; e < e1 / Lx; e++)
            mask[e] = gs_nn_hash_uniform (j->ctx->seed, j->ctx->step,
                                          (uint64_t)L->index, e)
                      >= L->p;
        if (Lx == 1)
          nn_ew_mask (mask + e0, src + e0, dst + e0, e1 - e0, scale, as);
        else
          for (e = e0; e < e1; e += Lx)
            nn_ew_row (mask[e / Lx], src + e, dst + e, Lx, scale, as);
        break;
      }
    case GS_NN_MAXPOOL1D:
      {
        int Lin = L->in_l[0], Lo = L->l, K = L->kernel, S = L->stride;
        int P = L->padding, t, i;
        size_t r0 = (size_t)n0 * L->c, r1 = (size_t)n1 * L->c, r;
        int32_t *idx = (int32_t *)(j->scr + j->lay.idx);
        if (j->bwd)
          {
            for (r = r0; r < r1; r++)
              {
                const int32_t *ix = idx + r * Lo;
                const float *g = dy + r * Lo;
                float *dr = d + r * Lin;
                if (j->assign)
                  memset (dr, 0, (size_t)Lin * sizeof (float));
                for (t = 0; t < Lo; t++)
                  dr[ix[t]] += g[t];
              }
            break;
          }
        for (r = r0; r < r1; r++)
          {
            const float *xr = x + r * Lin;
            float *yr = y + r * Lo;
            int32_t *ix = idx + r * Lo;
            if (K == 2 && S == 2 && P == 0 && 2 * Lo <= Lin)
              {
                for (t = 0; t < Lo; t++)
                  {
                    float a = xr[2 * t], b = xr[2 * t + 1];
                    int bb = b > a;
                    yr[t] = bb ? b : a;
                    ix[t] = 2 * t + bb;
                  }
                continue;
              }
            for (t = 0; t < Lo; t++)
              {
                int s0 = t * S - P, s1 = s0 + K, best = -1;
                float m = -INFINITY;
                if (s0 < 0)
                  s0 = 0;
                if (s1 > Lin)
                  s1 = Lin;
                for (i = s0; i < s1; i++)
                  if (xr[i] > m || best < 0)
                    {
                      m = xr[i];
                      best = i;
                    }
                yr[t] = m;
                ix[t] = best;
              }
          }
        break;
      }
    default:
      break;
    }
  return GS_OK;
}

/* ---- batchnorm1d ------------------------------------------------------ */

/* stat: mean[C], invstd[C] used to normalise; sdy[C], sdyx[C]; bmean[C],
 * bvar[C] (batch statistics). */
typedef struct nn_bn_stat
{
  double *mean, *invstd, *sdy, *sdyx, *bmean, *bvar;
} nn_bn_stat;

static void
nn_bn_stats (const nn_job *j, nn_bn_stat *s)
{
  size_t C = (size_t)j->L->c;
  double *b = (double *)(j->scr + j->lay.stat);
  s->mean = b;
  s->invstd = b + C;
  s->sdy = b + 2 * C;
  s->sdyx = b + 3 * C;
  s->bmean = b + 4 * C;
  s->bvar = b + 5 * C;
}

static double *
nn_bn_part (const nn_job *j, size_t ch)
{
  return (double *)(j->scr + j->lay.part + ch * j->lay.part_str);
}

/* Pass 1: per-chunk sums of x. */
static int
nn_bn_sum_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  int C = j->L->c, Lx = j->L->l, n0, n1, n, c, t;
  double *p = nn_bn_part (j, ch);
  nn_chunk_range (j, ch, &n0, &n1);
  for (c = 0; c < C; c++)
    {
      double s = 0;
      for (n = n0; n < n1; n++)
        {
          const float *x = j->x + ((size_t)n * C + c) * Lx;
          for (t = 0; t < Lx; t++)
            s += x[t];
        }
      p[c] = s;
    }
  return GS_OK;
}

/* Pass 2: per-chunk sums of (x - mean)^2. */
static int
nn_bn_var_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  int C = j->L->c, Lx = j->L->l, n0, n1, n, c, t;
  double *p = nn_bn_part (j, ch);
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  nn_chunk_range (j, ch, &n0, &n1);
  for (c = 0; c < C; c++)
    {
      double s = 0, m = st.bmean[c];
      for (n = n0; n < n1; n++)
        {
          const float *x = j->x + ((size_t)n * C + c) * Lx;
          for (t = 0; t < Lx; t++)
            {
              double d = x[t] - m;
              s += d * d;
            }
        }
      p[c] = s;
    }
  return GS_OK;
}

static int
nn_bn_norm_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  int C = L->c, Lx = L->l, n0, n1, n, c, t;
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  nn_chunk_range (j, ch, &n0, &n1);
  for (c = 0; c < C; c++)
    {
      double gam = L->w ? L->w[c] : 1.0, bet = L->b ? L->b[c] : 0.0;
      float a = (float)(gam * st.invstd[c]), m = (float)st.mean[c];
      float b = (float)bet;
      for (n = n0; n < n1; n++)
        {
          const float *x = j->x + ((size_t)n * C + c) * Lx;
          float *y = j->y + ((size_t)n * C + c) * Lx;
          for (t = 0; t < Lx; t++)
            y[t] = (x[t] - m) * a + b;
        }
    }
  return GS_OK;
}

/* Per-chunk sums of dy and dy xhat. */
static int
nn_bn_dsum_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  int C = j->L->c, Lx = j->L->l, n0, n1, n, c, t;
  double *p = nn_bn_part (j, ch);
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  nn_chunk_range (j, ch, &n0, &n1);
  for (c = 0; c < C; c++)
    {
      double s = 0, sx = 0, m = st.mean[c], is = st.invstd[c];
      for (n = n0; n < n1; n++)
        {
          const float *x = j->x + ((size_t)n * C + c) * Lx;
          const float *dy = j->dy + ((size_t)n * C + c) * Lx;
          for (t = 0; t < Lx; t++)
            {
              s += dy[t];
              sx += dy[t] * ((x[t] - m) * is);
            }
        }
      p[c] = s;
      p[C + c] = sx;
    }
  return GS_OK;
}

static int
nn_bn_dx_task (void *arg, size_t ch)
{
  nn_job *j = arg;
  const gs_nn_layer *L = j->L;
  int C = L->c, Lx = L->l, n0, n1, n, c, t;
  int batch_mode = (*(const int *)j->scr & NN_F_BATCH) != 0;
  double M = (double)j->batch * Lx;
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  nn_chunk_range (j, ch, &n0, &n1);
  for (c = 0; c < C; c++)
    {
      double gam = L->w ? L->w[c] : 1.0;
      float k1 = (float)(gam * st.invstd[c]);
      float m = (float)st.mean[c], is = (float)st.invstd[c];
      float a = batch_mode ? (float)(st.sdy[c] / M) : 0.0f;
      float b = batch_mode ? (float)(st.sdyx[c] / M) : 0.0f;
      for (n = n0; n < n1; n++)
        {
          const float *x = j->x + ((size_t)n * C + c) * Lx;
          const float *dy = j->dy + ((size_t)n * C + c) * Lx;
          float *dx = j->dx + ((size_t)n * C + c) * Lx;
          for (t = 0; t < Lx; t++)
            {
              float xh = (x[t] - m) * is;
              dx[t] += k1 * (dy[t] - a - xh * b);
            }
        }
    }
  return GS_OK;
}

/* GS_NN_BN_BATCH normalises with the batch's statistics (biased
 * variance); GS_NN_BN_UPDATE moves the running statistics towards the
 * batch's (unbiased variance), after the normalising statistics are
 * taken, so UPDATE alone normalises with the running statistics from
 * before the update. */
static int
nn_bn_forward (nn_job *j)
{
  gs_nn_layer *L = j->L;
  int mode = j->ctx->mode, C = L->c, c, rc;
  size_t nch = nn_chunks (j->batch), k;
  double M = (double)j->batch * L->l;
  int *flags = (int *)j->scr;
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  *flags = 0;
  if (mode & (GS_NN_BN_BATCH | GS_NN_BN_UPDATE))
    {
      if (M < 2)
        return gs_error (GS_EINVAL, "layer %d (batchnorm1d): batch "
                         "statistics need more than one value per channel "
                         "(batch %d x length %d); use a larger batch or "
                         "evaluation mode", L->index, j->batch, L->l);
      if ((rc = nn_run (j, nch, nn_bn_sum_task)) != GS_OK)
        return rc;
      for (c = 0; c < C; c++)
        {
          double s = 0;
          for (k = 0; k < nch; k++)
            s += nn_bn_part (j, k)[c];
          st.bmean[c] = s / M;
        }
      if ((rc = nn_run (j, nch, nn_bn_var_task)) != GS_OK)
        return rc;
      for (c = 0; c < C; c++)
        {
          double s = 0;
          for (k = 0; k < nch; k++)
            s += nn_bn_part (j, k)[c];
          st.bvar[c] = s / M;
        }
    }
  for (c = 0; c < C; c++)
    if (mode & GS_NN_BN_BATCH)
      {
        st.mean[c] = st.bmean[c];
        st.invstd[c] = 1.0 / sqrt (st.bvar[c] + L->eps);
      }
    else
      {
        st.mean[c] = L->running_mean ? L->running_mean[c] : 0.0;
        st.invstd[c]
            = 1.0 / sqrt ((L->running_var ? L->running_var[c] : 1.0) + L->eps);
      }
  if (mode & GS_NN_BN_BATCH)
    *flags |= NN_F_BATCH;
  if ((mode & GS_NN_BN_UPDATE) && L->running_mean && L->running_var)
    for (c = 0, L->bn_updates++; c < C; c++)
      {
        double m = (mode & GS_NN_BN_CUMULATIVE) ? 1.0 / (double)L->bn_updates
                                                : L->momentum;
        L->running_mean[c]
            = (float)((1 - m) * L->running_mean[c] + m * st.bmean[c]);
        L->running_var[c] = (float)((1 - m) * L->running_var[c]
                                    + m * st.bvar[c] * M / (M - 1));
      }
  return nn_run (j, nch, nn_bn_norm_task);
}

static int
nn_bn_backward (nn_job *j)
{
  gs_nn_layer *L = j->L;
  int C = L->c, c, rc;
  size_t nch = nn_chunks (j->batch), k;
  int batch_mode = (*(const int *)j->scr & NN_F_BATCH) != 0;
  nn_bn_stat st;
  nn_bn_stats (j, &st);
  if (batch_mode || L->dw || L->db)
    {
      if ((rc = nn_run (j, nch, nn_bn_dsum_task)) != GS_OK)
        return rc;
      for (c = 0; c < C; c++)
        {
          double s = 0, sx = 0;
          for (k = 0; k < nch; k++)
            {
              s += nn_bn_part (j, k)[c];
              sx += nn_bn_part (j, k)[C + c];
            }
          st.sdy[c] = s;
          st.sdyx[c] = sx;
          if (L->dw)
            L->dw[c] += (float)sx;
          if (L->db)
            L->db[c] += (float)s;
        }
    }
  if (j->dx)
    return nn_run (j, nch, nn_bn_dx_task);
  return GS_OK;
}

/* ---- Pooling ---------------------------------------------------------- */

static void
nn_avgpool_fwd (const nn_job *j)
{
  const gs_nn_layer *L = j->L;
  int Lin = L->in_l[0], Lo = L->l, K = L->kernel, S = L->stride;
  int P = L->padding, t, i;
  size_t rows = (size_t)j->batch * L->c, r;
  float inv = 1.0f / (float)K;
  for (r = 0; r < rows; r++)
    {
      const float *x = j->x + r * Lin;
      float *y = j->y + r * Lo;
      for (t = 0; t < Lo; t++)
        {
          int s0 = t * S - P, s1 = s0 + K;
          float s = 0;
          if (s0 < 0)
            s0 = 0;
          if (s1 > Lin)
            s1 = Lin;
          for (i = s0; i < s1; i++)
            s += x[i];
          y[t] = s * inv;
        }
    }
}

static void
nn_avgpool_bwd (const nn_job *j)
{
  const gs_nn_layer *L = j->L;
  int Lin = L->in_l[0], Lo = L->l, K = L->kernel, S = L->stride;
  int P = L->padding, t, i;
  size_t rows = (size_t)j->batch * L->c, r;
  float inv = 1.0f / (float)K;
  for (r = 0; r < rows; r++)
    {
      float *dx = j->dx + r * Lin;
      const float *dy = j->dy + r * Lo;
      for (t = 0; t < Lo; t++)
        {
          int s0 = t * S - P, s1 = s0 + K;
          float g = dy[t] * inv;
          if (s0 < 0)
            s0 = 0;
          if (s1 > Lin)
            s1 = Lin;
          for (i = s0; i < s1; i++)
            dx[i] += g;
        }
    }
}

/* ---- Upsampling ------------------------------------------------------- */

/* Linear, align_corners: output t reads input i0 (1 - w) + i1 w. */
static void
nn_upl_coord (int Lin, int Lo, int t, int *i0, int *i1, float *w)
{
  double src = Lo > 1 ? (double)t * (Lin - 1) / (Lo - 1) : 0.0;
  int i = (int)src;
  if (i > Lin - 1)
    i = Lin - 1;
  *i0 = i;
  *i1 = i < Lin - 1 ? i + 1 : i;
  *w = (float)(src - i);
}

/* Nearest (PyTorch): floor(t in / out). */
static int
nn_upn_src (int Lin, int Lo, int t)
{
  long s = (long)((int64_t)t * Lin / Lo);
  return s > Lin - 1 ? Lin - 1 : (int)s;
}

/* ---- Forward / backward dispatch --------------------------------------- */

static size_t
nn_total (const nn_job *j, size_t per_sample)
{
  return (size_t)j->batch * per_sample;
}

int
gs_nn_layer_forward (gs_nn_layer *L, const gs_nn_ctx *ctx,
                     const float *const *x, float *y)
{
  nn_job j;
  int rc, i;
  size_t n, e, r;
  if (!ctx || !x || !y || ctx->batch < 1)
    return gs_error (GS_EINVAL, "layer %d (%s): forward needs a context, "
                     "inputs, an output and batch >= 1", L->index,
                     gs_nn_kind_name (L->kind));
  for (i = 0; i < L->n_in; i++)
    if (!x[i])
      return gs_error (GS_EINVAL, "layer %d (%s): input %d is NULL",
                       L->index, gs_nn_kind_name (L->kind), i);
  if ((rc = nn_job_init (&j, L, ctx)) != GS_OK)
    return rc;
  j.x = x[0];
  j.y = y;
  n = nn_total (&j, nn_out_size (L));
  switch (L->kind)
    {
    case GS_NN_CONV1D:
      nn_conv_geom (L, &j.g);
      return nn_run (&j, nn_chunks (j.batch), nn_conv_fwd_task);
    case GS_NN_CONVT1D:
      nn_conv_geom (L, &j.g);
      return nn_run (&j, nn_chunks (j.batch), nn_convt_fwd_task);
    case GS_NN_LINEAR:
      return nn_run (&j, nn_chunks (j.batch), nn_linear_fwd_task);
    case GS_NN_BATCHNORM1D:
      return nn_bn_forward (&j);
    case GS_NN_MAXPOOL1D:
      return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
    case GS_NN_AVGPOOL1D:
      nn_avgpool_fwd (&j);
      return GS_OK;
    case GS_NN_GAVGPOOL:
    case GS_NN_GMAXPOOL:
      {
        int Lin = L->in_l[0], t;
        int32_t *idx = (int32_t *)(j.scr + j.lay.idx);
        for (r = 0; r < n; r++)
          {
            const float *xr = j.x + r * Lin;
            if (L->kind == GS_NN_GAVGPOOL)
              {
                double s = 0;
                for (t = 0; t < Lin; t++)
                  s += xr[t];
                y[r] = (float)(s / Lin);
              }
            else
              {
                int best = 0;
                for (t = 1; t < Lin; t++)
                  if (xr[t] > xr[best])
                    best = t;
                y[r] = xr[best];
                idx[r] = best;
              }
          }
        return GS_OK;
      }
    case GS_NN_FLATTEN:
      memmove (y, j.x, n * sizeof (float));
      return GS_OK;
    case GS_NN_DROPOUT_LAYER:
    case GS_NN_SPATIAL_DROPOUT:
      {
        int *flags = (int *)j.scr;
        unsigned char *mask = (unsigned char *)(j.scr + j.lay.mask);
        size_t Lx = L->kind == GS_NN_DROPOUT_LAYER ? 1 : (size_t)L->l;
        float scale;
        *flags = 0;
        if (!(ctx->mode & GS_NN_DROPOUT) || L->p <= 0)
          {
            if (y != j.x)
              memmove (y, j.x, n * sizeof (float));
            return GS_OK;
          }
        *flags = NN_F_ACTIVE;
        (void)mask, (void)Lx, (void)scale;
        return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
      }
    case GS_NN_RELU:
    case GS_NN_LEAKYRELU:
      return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
    case GS_NN_ELU:
      {
        float a = (float)L->alpha;
        for (e = 0; e < n; e++)
          y[e] = j.x[e] > 0 ? j.x[e] : a * expm1f (j.x[e]);
        return GS_OK;
      }
    case GS_NN_SIGMOID:
      for (e = 0; e < n; e++)
        {
          float v = j.x[e];
          if (v >= 0)
            y[e] = 1.0f / (1.0f + expf (-v));
          else
            {
              float z = expf (v);
              y[e] = z / (1.0f + z);
            }
        }
      return GS_OK;
    case GS_NN_SOFTMAX:
      {
        int C = L->c, Lx = L->l, c, t;
        size_t s;
        for (s = 0; s < (size_t)j.batch; s++)
          for (t = 0; t < Lx; t++)
            {
              const float *xs = j.x + s * C * Lx + t;
              float *ys = y + s * C * Lx + t;
              float m = xs[0];
              double sum = 0;
              for (c = 1; c < C; c++)
                if (xs[(size_t)c * Lx] > m)
                  m = xs[(size_t)c * Lx];
              for (c = 0; c < C; c++)
                {
                  float z = expf (xs[(size_t)c * Lx] - m);
                  ys[(size_t)c * Lx] = z;
                  sum += z;
                }
              for (c = 0; c < C; c++)
                ys[(size_t)c * Lx] = (float)(ys[(size_t)c * Lx] / sum);
            }
        return GS_OK;
      }
    case GS_NN_UPSAMPLE_LINEAR:
    case GS_NN_UPSAMPLE_NEAREST:
      {
        int Lin = L->in_l[0], Lo = L->l, t, i0, i1;
        size_t rows = (size_t)j.batch * L->c;
        float w;
        for (r = 0; r < rows; r++)
          {
            const float *xr = j.x + r * Lin;
            float *yr = y + r * Lo;
            for (t = 0; t < Lo; t++)
              if (L->kind == GS_NN_UPSAMPLE_NEAREST)
                yr[t] = xr[nn_upn_src (Lin, Lo, t)];
              else
                {
                  nn_upl_coord (Lin, Lo, t, &i0, &i1, &w);
                  yr[t] = (1.0f - w) * xr[i0] + w * xr[i1];
                }
          }
        return GS_OK;
      }
    case GS_NN_ADD:
      if (L->n_weights)
        {
          /* y = sum_i w_i x_i, in input order (exact for weights 1) */
          float w0 = (float)L->weights[0];
          for (e = 0; e < n; e++)
            y[e] = w0 * x[0][e];
          for (i = 1; i < L->n_in; i++)
            {
              float w = (float)L->weights[i];
              for (e = 0; e < n; e++)
                y[e] += w * x[i][e];
            }
          return GS_OK;
        }
      memmove (y, x[0], n * sizeof (float));
      for (i = 1; i < L->n_in; i++)
        for (e = 0; e < n; e++)
          y[e] += x[i][e];
      return GS_OK;
    case GS_NN_CONCAT:
      {
        size_t s, off = 0;
        for (s = 0; s < (size_t)j.batch; s++)
          for (i = 0; i < L->n_in; i++)
            {
              size_t m = nn_in_size (L, i);
              memcpy (y + off, x[i] + s * m, m * sizeof (float));
              off += m;
            }
        return GS_OK;
      }
    default:
      return gs_error (GS_EINVAL, "layer %d: unknown layer kind %d",
                       L->index, (int)L->kind);
    }
}

int
gs_nn_layer_backward (gs_nn_layer *L, const gs_nn_ctx *ctx,
                      const float *const *x, const float *y,
                      const float *dy, float *const *dx)
{
  nn_job j;
  int rc, i;
  size_t n, e, r;
  float *d;
  if (!ctx || !x || !dy || !dx || ctx->batch < 1)
    return gs_error (GS_EINVAL, "layer %d (%s): backward needs a context, "
                     "inputs, dL/doutput and batch >= 1", L->index,
                     gs_nn_kind_name (L->kind));
  if ((rc = nn_job_init (&j, L, ctx)) != GS_OK)
    return rc;
  j.x = x[0];
  j.dy = dy;
  j.dx = d = dx[0];
  n = nn_total (&j, nn_out_size (L));
  if (ctx->dx_fresh)
    {
      /* Kinds that can write their input gradient do; the others add to
       * a zeroed one. */
      switch (L->n_in == 1 && d ? L->kind : GS_NN_ADD)
        {
        case GS_NN_RELU:
        case GS_NN_LEAKYRELU:
        case GS_NN_MAXPOOL1D:
        case GS_NN_DROPOUT_LAYER:
        case GS_NN_SPATIAL_DROPOUT:
        case GS_NN_LINEAR:
          j.assign = 1;
          break;
        case GS_NN_CONV1D:
          nn_conv_geom (L, &j.g);
          j.assign = j.g.direct;
          break;
        default:
          break;
        }
      for (i = 0; i < L->n_in && !j.assign; i++)
        if ((ctx->dx_fresh >> i & 1u) && dx[i])
          memset (dx[i], 0, nn_total (&j, nn_in_size (L, i))
                                * sizeof (float));
    }
  switch (L->kind)
    {
    case GS_NN_CONV1D:
    case GS_NN_CONVT1D:
      nn_conv_geom (L, &j.g);
      if (j.g.direct && j.dx)
        nn_db_weights (&j.g, L->w, (float *)(j.scr + j.lay.wt));
      rc = nn_run (&j, nn_chunks (j.batch), L->kind == GS_NN_CONV1D
                                                ? nn_conv_bwd_task
                                                : nn_convt_bwd_task);
      if (rc == GS_OK && (L->dw || (L->bias && L->db)))
        {
          if (!L->dw || !(L->bias ? L->db != NULL : 1))
            return gs_error (GS_EINVAL, "layer %d (%s): weight and bias "
                             "gradients must both be present", L->index,
                             gs_nn_kind_name (L->kind));
          rc = nn_reduce_parts (&j);
        }
      return rc;
    case GS_NN_LINEAR:
      {
        int O = L->out;
        if (d && (rc = nn_run (&j, nn_chunks (j.batch), nn_linear_dx_task))
                     != GS_OK)
          return rc;
        if (L->dw)
          {
            size_t F = nn_in_size (L, 0);
            rc = nn_run (&j, (F + NN_LINEAR_BLOCK - 1) / NN_LINEAR_BLOCK,
                         nn_linear_dw_task);
            if (rc != GS_OK)
              return rc;
          }
        if (L->bias && L->db)
          for (i = 0; i < O; i++)
            {
              float s = 0;
              int k;
              for (k = 0; k < j.batch; k++)
                s += dy[(size_t)k * O + i];
              L->db[i] += s;
            }
        return GS_OK;
      }
    case GS_NN_BATCHNORM1D:
      return nn_bn_backward (&j);
    default:
      break;
    }

  /* The rest have no parameters: nothing to do without dx. */
  if (L->kind != GS_NN_ADD && L->kind != GS_NN_CONCAT && !d)
    return GS_OK;
  switch (L->kind)
    {
    case GS_NN_MAXPOOL1D:
      j.bwd = 1;
      return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
    case GS_NN_AVGPOOL1D:
      nn_avgpool_bwd (&j);
      return GS_OK;
    case GS_NN_GAVGPOOL:
    case GS_NN_GMAXPOOL:
      {
        int Lin = L->in_l[0], t;
        const int32_t *idx = (const int32_t *)(j.scr + j.lay.idx);
        for (r = 0; r < n; r++)
          if (L->kind == GS_NN_GAVGPOOL)
            {
              float g = dy[r] / (float)Lin;
              for (t = 0; t < Lin; t++)
                d[r * Lin + t] += g;
            }
          else
            d[r * Lin + idx[r]] += dy[r];
        return GS_OK;
      }
    case GS_NN_FLATTEN:
      for (e = 0; e < n; e++)
        d[e] += dy[e];
      return GS_OK;
    case GS_NN_DROPOUT_LAYER:
    case GS_NN_SPATIAL_DROPOUT:
      {
        const unsigned char *mask
            = (const unsigned char *)(j.scr + j.lay.mask);
        size_t Lx = L->kind == GS_NN_DROPOUT_LAYER ? 1 : (size_t)L->l;
        float scale = (float)(1.0 / (1.0 - L->p));
        if (!(*(const int *)j.scr & NN_F_ACTIVE) && j.assign)
          memcpy (d, dy, n * sizeof (float));
        else if (!(*(const int *)j.scr & NN_F_ACTIVE))
          for (e = 0; e < n; e++)
            d[e] += dy[e];
        else
          {
            (void)mask, (void)Lx, (void)scale;
            j.bwd = 1;
            return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
          }
        return GS_OK;
      }
    case GS_NN_RELU:
    case GS_NN_LEAKYRELU:
      j.bwd = 1;
      return nn_run (&j, nn_chunks (j.batch), nn_ew_task);
    case GS_NN_ELU:
      {
        float a = (float)L->alpha;
        for (e = 0; e < n; e++)
          d[e] += j.x[e] > 0 ? dy[e] : dy[e] * a * expf (j.x[e]);
        return GS_OK;
      }
    case GS_NN_SIGMOID:
      if (!y)
        break;
      for (e = 0; e < n; e++)
        d[e] += dy[e] * y[e] * (1.0f - y[e]);
      return GS_OK;
    case GS_NN_SOFTMAX:
      {
        int C = L->c, Lx = L->l, c, t;
        size_t s;
        if (!y)
          break;
        for (s = 0; s < (size_t)j.batch; s++)
          for (t = 0; t < Lx; t++)
            {
              size_t base = s * C * Lx + t;
              double dot = 0;
              for (c = 0; c < C; c++)
                dot += (double)dy[base + (size_t)c * Lx]
                       * y[base + (size_t)c * Lx];
              for (c = 0; c < C; c++)
                {
                  size_t q = base + (size_t)c * Lx;
                  d[q] += y[q] * (float)(dy[q] - dot);
                }
            }
        return GS_OK;
      }
    case GS_NN_UPSAMPLE_LINEAR:
    case GS_NN_UPSAMPLE_NEAREST:
      {
        int Lin = L->in_l[0], Lo = L->l, t, i0, i1;
        size_t rows = (size_t)j.batch * L->c;
        float w;
        for (r = 0; r < rows; r++)
          {
            float *dr = d + r * Lin;
            const float *gr = dy + r * Lo;
            for (t = 0; t < Lo; t++)
              if (L->kind == GS_NN_UPSAMPLE_NEAREST)
                dr[nn_upn_src (Lin, Lo, t)] += gr[t];
              else
                {
                  nn_upl_coord (Lin, Lo, t, &i0, &i1, &w);
                  dr[i0] += (1.0f - w) * gr[t];
                  dr[i1] += w * gr[t];
                }
          }
        return GS_OK;
      }
    case GS_NN_ADD:
      for (i = 0; i < L->n_in; i++)
        if (dx[i] && L->n_weights)
          {
            float w = (float)L->weights[i];
            for (e = 0; e < n; e++)
              dx[i][e] += w * dy[e];
          }
        else if (dx[i])
          for (e = 0; e < n; e++)
            dx[i][e] += dy[e];
      return GS_OK;
    case GS_NN_CONCAT:
      {
        size_t s, off = 0, q;
        for (s = 0; s < (size_t)j.batch; s++)
          for (i = 0; i < L->n_in; i++)
            {
              size_t m = nn_in_size (L, i);
              if (dx[i])
                for (q = 0; q < m; q++)
                  dx[i][s * m + q] += dy[off + q];
              off += m;
            }
        return GS_OK;
      }
    default:
      return gs_error (GS_EINVAL, "layer %d: unknown layer kind %d",
                       L->index, (int)L->kind);
    }
  return gs_error (GS_EINVAL, "layer %d (%s): backward needs the forward "
                   "output", L->index, gs_nn_kind_name (L->kind));
}
