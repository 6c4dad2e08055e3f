/* The GammaBench authors' Interpolating AutoEncoder on the NN engine
 * (gspec/iae.h, gammabench-spec.md section 5).
 *
 * The encoder is one engine network whose output is every code level
 * flattened and concatenated (so a const gs_nn_infer gives all codes);
 * it runs with GS_NN_BN_BATCH (batch statistics, the authors' training
 * mode).  The decoder is one network with the deepest barycentre as its
 * input and the shallower ones as extra `input` layers.  The Gram
 * inverses of the anchors' codes are computed once, in double. */
#include "gspec/iae.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "iae_internal.h"
#include "lapack.h"
#include "util.h"
#include "yamltree.h"

#define IAE_ALIGN 64
#define IAE_FILE_VERSION 1u
#define IAE_FILE_MAX_CONFIG (1u << 20)
#define IAE_FNV_OFFSET 14695981039346656037ull
#define IAE_FNV_PRIME 1099511628211ull
#define IAE_MAX_DIM (1 << 24)

struct gs_iae
{
  gs_iae_config cfg;
  int dims[GS_IAE_MAX_LAYERS + 1];
  int lev_c[GS_IAE_MAX_LAYERS], lev_l[GS_IAE_MAX_LAYERS];
  size_t lev_off[GS_IAE_MAX_LAYERS + 1]; /* lev_off[N] = code size */
  char *enc_arch, *dec_arch;
  gs_nn *enc, *dec;
  float *anchors;        /* d x L x C */
  float *codes;          /* d x code size */
  double *ig;            /* N x d x d */
  struct iae_fast *fast; /* direct decoder (NULL: the engine's) */
};

/* ---- Configuration ------------------------------------------------------ */

void
gs_iae_config_init (gs_iae_config *cfg)
{
  int k;
  memset (cfg, 0, sizeof *cfg);
  cfg->reg_inv = 1e-6;
  cfg->projection = GS_IAE_PROJ_SIMPLEX;
  cfg->nneg_output = 1;
  cfg->bn_eps = 1e-5;
  cfg->elu_alpha = 1.0;
  for (k = 0; k < GS_IAE_MAX_ANCHORS; k++)
    {
      cfg->bounds[k][0] = 0.0;
      cfg->bounds[k][1] = 1.0;
    }
}

int
gs_iae_config_check (const gs_iae_config *cfg, int *dims)
{
  int d[GS_IAE_MAX_LAYERS + 1], r, i, j, N;
  if (!cfg)
    return gs_error (GS_EINVAL, "gs_iae_config_check: NULL configuration");
  N = cfg->n_layers;
  if (cfg->n_components < 1 || cfg->n_components > GS_IAE_MAX_COMPONENTS)
    return gs_error (GS_ECONFIG, "IAE: %d components; give 1 to %d",
                     cfg->n_components, GS_IAE_MAX_COMPONENTS);
  if (N < 2 || N > GS_IAE_MAX_LAYERS)
    return gs_error (GS_ECONFIG, "IAE: %d layers; give 2 to %d", N,
                     GS_IAE_MAX_LAYERS);
  if (cfg->n_anchors < 2 || cfg->n_anchors > GS_IAE_MAX_ANCHORS)
    return gs_error (GS_ECONFIG, "IAE: %d anchors; give 2 to %d",
                     cfg->n_anchors, GS_IAE_MAX_ANCHORS);
  if (cfg->length < 2 || cfg->length > IAE_MAX_DIM)
    return gs_error (GS_ECONFIG, "IAE: length %d; give 2 to %d channels",
                     cfg->length, IAE_MAX_DIM);
  for (i = 0; i < cfg->n_components; i++)
    {
      const char *a = cfg->names[i];
      size_t n = strnlen (a, GS_IAE_NAME_MAX);
      if (n == 0 || n == GS_IAE_NAME_MAX || strchr (a, '$') || strchr (a, '"')
          || strchr (a, '\\'))
        return gs_error (GS_ECONFIG,
                         "IAE: component %d has no name, a name of %d or "
                         "more characters, or one with '$', '\"' or '\\'",
                         i, GS_IAE_NAME_MAX);
      for (j = 0; j < i; j++)
        if (strcmp (a, cfg->names[j]) == 0)
          return gs_error (GS_ECONFIG,
                           "IAE: components %d and %d are both named '%s'", j,
                           i, a);
    }
  if (!(cfg->reg_inv >= 0 && cfg->reg_inv < 1))
    return gs_error (GS_ECONFIG, "IAE: reg_inv %g must be in [0, 1)",
                     cfg->reg_inv);
  if (!(cfg->bn_eps > 0 && cfg->bn_eps <= 1))
    return gs_error (GS_ECONFIG, "IAE: bn_eps %g must be in (0, 1]",
                     cfg->bn_eps);
  if (!(cfg->elu_alpha >= 0 && cfg->elu_alpha <= 1e6))
    return gs_error (GS_ECONFIG, "IAE: elu_alpha %g must be in [0, 1e6]",
                     cfg->elu_alpha);
  if (cfg->projection != GS_IAE_PROJ_NONE
      && cfg->projection != GS_IAE_PROJ_SIMPLEX)
    return gs_error (GS_ECONFIG, "IAE: unknown projection %d",
                     (int)cfg->projection);
  for (r = 0; r + 1 < N; r++)
    if (!isfinite (cfg->rho[r]) || fabs (cfg->rho[r]) > 1e6)
      return gs_error (GS_ECONFIG, "IAE: rho[%d] = %g must be finite", r,
                       cfg->rho[r]);
  d[0] = cfg->length;
  for (r = 0; r < N; r++)
    {
      if (cfg->fsize[r] < 1 || cfg->fstride[r] < 1 || cfg->fnum[r] < 1
          || cfg->fsize[r] > 4096 || cfg->fstride[r] > 4096
          || cfg->fnum[r] > 4096)
        return gs_error (GS_ECONFIG,
                         "IAE: layer %d has kernel %d, stride %d, %d "
                         "channels; each must be in 1..4096",
                         r + 1, cfg->fsize[r], cfg->fstride[r], cfg->fnum[r]);
      if (cfg->fsize[r] > d[r])
        return gs_error (GS_ECONFIG,
                         "IAE: layer %d's kernel %d is longer than its input "
                         "(%d positions); use fewer layers or smaller kernels",
                         r + 1, cfg->fsize[r], d[r]);
      d[r + 1] = (d[r] - cfg->fsize[r]) / cfg->fstride[r] + 1;
    }
  if (dims)
    memcpy (dims, d, (size_t)(N + 1) * sizeof *d);
  return GS_OK;
}

/* ---- Architectures ------------------------------------------------------ */

static char *
encoder_arch (const gs_iae_config *c)
{
  gs__buf b;
  int r, N = c->n_layers;
  gs__buf_init (&b);
  for (r = 1; r <= N; r++)
    {
      gs__buf_printf (&b,
                      "- {type: conv1d, name: e%d_conv, out: %d, kernel: %d, "
                      "stride: %d, bias: false",
                      r, c->fnum[r - 1], c->fsize[r - 1], c->fstride[r - 1]);
      if (r > 1)
        gs__buf_printf (&b, ", inputs: [e%d]", r - 1);
      gs__buf_printf (&b,
                      "}\n- {type: batchnorm1d, name: e%d_bn, eps: %.17g}"
                      "\n- {type: elu, name: e%d, alpha: %.17g}\n",
                      r, c->bn_eps, r, c->elu_alpha);
      if (r > 1)
        /* lateral r - 1: the shape of encoder r, on encoder r - 1 */
        gs__buf_printf (&b,
                        "- {type: conv1d, name: l%d_conv, out: %d, kernel: "
                        "%d, stride: %d, bias: false, inputs: [e%d]}\n"
                        "- {type: batchnorm1d, name: l%d_bn, eps: %.17g}\n"
                        "- {type: elu, name: l%d, alpha: %.17g}\n",
                        r - 1, c->fnum[r - 1], c->fsize[r - 1],
                        c->fstride[r - 1], r - 1, r - 1, c->bn_eps, r - 1,
                        c->elu_alpha);
    }
  for (r = 0; r < N; r++)
    {
      if (r + 1 < N)
        gs__buf_printf (&b, "- {type: flatten, name: f%d, inputs: [l%d]}\n", r,
                        r + 1);
      else
        gs__buf_printf (&b, "- {type: flatten, name: f%d, inputs: [e%d]}\n", r,
                        N);
    }
  gs__buf_puts (&b, "- {type: concat, name: codes, inputs: [");
  for (r = 0; r < N; r++)
    gs__buf_printf (&b, "%sf%d", r ? ", " : "", r);
  gs__buf_puts (&b, "]}\n");
  if (b.failed)
    {
      gs__buf_fini (&b);
      return NULL;
    }
  return b.data;
}

/* Input: B_{N-1}; extra inputs b1..b{N-1} = B_{N-2}..B_0. */
static char *
decoder_arch (const gs_iae_config *c, const int *dims)
{
  gs__buf b;
  int r, N = c->n_layers;
  gs__buf_init (&b);
  for (r = 0; r + 1 < N; r++)
    {
      int in_c = c->fnum[N - 1 - r], out_c = c->fnum[N - 2 - r];
      int k = c->fsize[N - 1 - r];
      if (r == 0)
        gs__buf_printf (&b,
                        "- {type: convtranspose1d, name: d%d_conv, out: "
                        "%d, kernel: %d, bias: false, inputs: [input]}\n",
                        r + 1, out_c, k);
      else
        gs__buf_printf (&b,
                        "- {type: convtranspose1d, name: d%d_conv, out: "
                        "%d, kernel: %d, bias: false, inputs: [u%d]}\n",
                        r + 1, out_c, k, r);
      gs__buf_printf (&b,
                      "- {type: elu, name: d%d, alpha: %.17g}\n"
                      "- {type: input, name: b%d, channels: %d, length: %d}\n"
                      "- {type: convtranspose1d, name: dl%d_conv, out: %d, "
                      "kernel: %d, bias: false, inputs: [b%d]}\n"
                      "- {type: elu, name: dl%d, alpha: %.17g}\n"
                      "- {type: add, name: a%d, inputs: [d%d, dl%d], "
                      "weights: [1, %.17g]}\n"
                      "- {type: upsample, name: u%d, mode: linear, size: %d}\n",
                      r + 1, c->elu_alpha, r + 1, in_c, dims[N - r], r + 1,
                      out_c, k, r + 1, r + 1, c->elu_alpha, r + 1, r + 1, r + 1,
                      c->rho[r], r + 1, dims[N - 1 - r]);
    }
  gs__buf_printf (&b,
                  "- {type: convtranspose1d, name: d%d_conv, out: %d, kernel: "
                  "%d, bias: false, inputs: [u%d]}\n"
                  "- {type: elu, name: d%d, alpha: %.17g}\n"
                  "- {type: upsample, name: out, mode: linear, size: %d}\n",
                  N, c->n_components, c->fsize[0], N - 1, N, c->elu_alpha,
                  dims[0]);
  if (b.failed)
    {
      gs__buf_fini (&b);
      return NULL;
    }
  return b.data;
}

/* ---- Direct decoder ------------------------------------------------------ */

/* The decoder's first transposed convolution and every lateral one act on
 * barycentres B_l = sum_k lambda_k E_{l,k}, before any non-linearity:
 * they are linear in lambda, so convT (B_l) = sum_k lambda_k convT
 * (E_{l,k}) with the anchors' terms computed once per model (in double;
 * the engine rounds B_l to float first, so the two agree to float
 * rounding).  The remaining transposed convolutions run as direct loops
 * over blocks of IAE_JB outputs (each output summed over input channels,
 * then taps, in float, in the same order on every machine), and ELU's
 * expm1 is evaluated in float, vectorised (within 2 ulp).  The
 * tables are rebuilt with the codes (iae_gram); a decode whose model's
 * first or lateral weights no longer match the snapshot taken then (the
 * weights changed without gs_iae_update_codes) uses the engine. */

#define IAE_JB 64 /* outputs per block of the direct convolution */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)            \
    && !defined(__SANITIZE_ADDRESS__)
#define IAE_HOT                                                                \
  __attribute__ ((                                                             \
      target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define IAE_HOT IAE_OPT
#endif
/* Unoptimised (sanitizer, debug) builds still optimise the kernels: at
 * -O0 the vector code runs ~50 times slower than the engine's sgemm. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE__)
#define IAE_OPT __attribute__ ((optimize ("O2")))
#else
#define IAE_OPT
#endif

typedef struct iae_stage
{
  int cin, lin;     /* input of the transposed convolution */
  int cout, k;      /* its outputs and kernel */
  int lout;         /* lin + k - 1 */
  int lpad;         /* lout rounded up to IAE_JB */
  int row;          /* padded input row: k - 1 zeros, lin values, zeros up
                       to lpad + k - 1 */
  int lup;          /* length after the upsampling */
  size_t layer;     /* the decoder's convT layer */
  size_t lat_layer; /* its lateral convT (not for the last stage) */
  float rho;        /* lateral weight */
  double *pre;      /* stage 0: d x cout x lout, convT of the anchors' codes */
  double *lat;      /* d x cout x lout: the lateral convT of the anchors'
                       codes (NULL for the last stage) */
  int *i0, *i1;     /* lup: upsampling sources */
  float *w, *wm;    /* lup: their weights (1 - w, w) */
} iae_stage;

typedef struct iae_fast
{
  int n, d;
  float alpha;
  iae_stage st[GS_IAE_MAX_LAYERS];
  float *snap; /* weights of the first and the lateral convT, as they
                  were when the tables were made */
  size_t n_snap;
  size_t xin_floats, h_floats; /* the work buffers */
  size_t work_floats;          /* per sample */
} iae_fast;

static void
iae_fast_free (iae_fast *f)
{
  int r;
  if (!f)
    return;
  for (r = 0; r < f->n; r++)
    {
      free (f->st[r].pre);
      free (f->st[r].lat);
      free (f->st[r].i0);
      free (f->st[r].i1);
      free (f->st[r].w);
      free (f->st[r].wm);
    }
  free (f->snap);
  free (f);
}

static int
iae_round_up (int n, int to)
{
  return (n + to - 1) / to * to;
}

/* out (cout x lout, += ) = convT (x: cin x lin) in double. */
static void
iae_convt_double (const float *w, int cin, int cout, int k, const float *x,
                  int lin, double *out)
{
  int c, o, kk, l, lout = lin + k - 1;
  for (c = 0; c < cin; c++)
    for (o = 0; o < cout; o++)
      for (kk = 0; kk < k; kk++)
        {
          double wv = w[((size_t)c * cout + o) * k + kk];
          double *y = out + (size_t)o * lout + kk;
          const float *xr = x + (size_t)c * lin;
          for (l = 0; l < lin; l++)
            y[l] += wv * xr[l];
        }
}

/* The layer's weights when it is a transposed convolution without bias of
 * cin x cout x k; NULL otherwise. */
static float *
iae_convt_weights (const gs_iae *m, size_t layer, int cin, int cout, int k)
{
  float *w = NULL, *b = NULL;
  size_t nw = 0, nb = 0;
  const char *type = gs_nn_layer_type (m->dec, layer);
  if (!type || strcmp (type, "convtranspose1d") != 0
      || gs_nn_layer_arrays (m->dec, layer, &w, &nw, &b, &nb, NULL, NULL, NULL)
             != GS_OK
      || nw != (size_t)cin * cout * k || nb != 0)
    return NULL;
  return w;
}

/* Builds m->fast from the decoder's weights and the anchors' codes; a
 * decoder this path does not describe leaves it NULL (the engine
 * decodes). */
static int
iae_fast_prepare (gs_iae *m)
{
  const gs_iae_config *c = &m->cfg;
  int N = c->n_layers, d = c->n_anchors, r, a, t;
  size_t cs = m->lev_off[N], xin = 0, h = 0, lat = 0, ns = 0;
  iae_fast *f;
  char name[32];
  iae_fast_free (m->fast);
  m->fast = NULL;
  if (!(f = calloc (1, sizeof *f)))
    return gs_error (GS_ENOMEM, "out of memory for the IAE decoder tables");
  f->n = N;
  f->d = d;
  f->alpha = (float)c->elu_alpha;
  for (r = 0; r < N; r++)
    {
      iae_stage *s = &f->st[r];
      s->cin = r == 0 ? m->lev_c[N - 1] : f->st[r - 1].cout;
      s->lin = r == 0 ? m->lev_l[N - 1] : f->st[r - 1].lup;
      s->cout = r + 1 < N ? c->fnum[N - 2 - r] : c->n_components;
      s->k = c->fsize[N - 1 - r];
      s->lout = s->lin + s->k - 1;
      s->lpad = iae_round_up (s->lout, IAE_JB);
      s->row = s->lpad + s->k - 1;
      s->lup = r + 1 < N ? m->dims[N - 1 - r] : m->dims[0];
      s->rho = r + 1 < N ? (float)c->rho[r] : 0.0f;
      snprintf (name, sizeof name, "d%d_conv", r + 1);
      if (gs_nn_find_layer (m->dec, name, &s->layer) != GS_OK
          || !iae_convt_weights (m, s->layer, s->cin, s->cout, s->k))
        goto unsupported;
      if (r + 1 < N)
        {
          int l = N - 2 - r;
          snprintf (name, sizeof name, "dl%d_conv", r + 1);
          if (m->lev_l[l] != s->lin
              || gs_nn_find_layer (m->dec, name, &s->lat_layer) != GS_OK
              || !iae_convt_weights (m, s->lat_layer, m->lev_c[l], s->cout,
                                     s->k))
            goto unsupported;
          ns += (size_t)m->lev_c[l] * s->cout * s->k;
          if ((size_t)s->cout * s->lout > lat)
            lat = (size_t)s->cout * s->lout;
        }
      if (r == 0)
        ns += (size_t)s->cin * s->cout * s->k;
      else if ((size_t)s->cin * s->row > xin)
        xin = (size_t)s->cin * s->row;
      if ((size_t)s->cout * s->lpad > h)
        h = (size_t)s->cout * s->lpad;
      if (r + 1 == N && (size_t)s->cout * s->lup > xin)
        xin = (size_t)s->cout * s->lup;
    }
  f->xin_floats = xin;
  f->h_floats = h;
  f->work_floats = xin + h + lat + 3 * IAE_ALIGN / sizeof (float);
  f->n_snap = ns;
  if (!(f->snap = malloc (ns * sizeof *f->snap)))
    goto nomem;
  ns = 0;
  for (r = 0; r < N; r++)
    {
      iae_stage *s = &f->st[r];
      size_t n = (size_t)d * s->cout * s->lout;
      if (r == 0)
        {
          const float *w
              = iae_convt_weights (m, s->layer, s->cin, s->cout, s->k);
          size_t nw = (size_t)s->cin * s->cout * s->k;
          if (!(s->pre = calloc (n, sizeof *s->pre)))
            goto nomem;
          for (a = 0; a < d; a++)
            iae_convt_double (w, s->cin, s->cout, s->k,
                              m->codes + (size_t)a * cs + m->lev_off[N - 1],
                              s->lin, s->pre + (size_t)a * s->cout * s->lout);
          memcpy (f->snap + ns, w, nw * sizeof *w);
          ns += nw;
        }
      if (r + 1 < N)
        {
          int l = N - 2 - r;
          const float *w
              = iae_convt_weights (m, s->lat_layer, m->lev_c[l], s->cout, s->k);
          size_t nw = (size_t)m->lev_c[l] * s->cout * s->k;
          if (!(s->lat = calloc (n, sizeof *s->lat)))
            goto nomem;
          for (a = 0; a < d; a++)
            iae_convt_double (w, m->lev_c[l], s->cout, s->k,
                              m->codes + (size_t)a * cs + m->lev_off[l], s->lin,
                              s->lat + (size_t)a * s->cout * s->lout);
          memcpy (f->snap + ns, w, nw * sizeof *w);
          ns += nw;
        }
      if (!(s->i0 = malloc ((size_t)s->lup * sizeof *s->i0))
          || !(s->i1 = malloc ((size_t)s->lup * sizeof *s->i1))
          || !(s->w = malloc ((size_t)s->lup * sizeof *s->w))
          || !(s->wm = malloc ((size_t)s->lup * sizeof *s->wm)))
        goto nomem;
      /* the engine's linear upsampling (align_corners) */
      for (t = 0; t < s->lup; t++)
        {
          double src
              = s->lup > 1 ? (double)t * (s->lout - 1) / (s->lup - 1) : 0.0;
          int i = (int)src;
          if (i > s->lout - 1)
            i = s->lout - 1;
          s->i0[t] = i;
          s->i1[t] = i < s->lout - 1 ? i + 1 : i;
          s->w[t] = (float)(src - i);
          s->wm[t] = 1.0f - s->w[t];
        }
    }
  m->fast = f;
  return GS_OK;
unsupported:
  iae_fast_free (f);
  return GS_OK;
nomem:
  iae_fast_free (f);
  return gs_error (GS_ENOMEM, "out of memory for the IAE decoder tables");
}

/* 1 when the first and lateral weights are those of the tables. */
static int
iae_fast_valid (const gs_iae *m)
{
  const iae_fast *f = m->fast;
  size_t ns = 0;
  int r;
  if (!f)
    return 0;
  for (r = 0; r < f->n; r++)
    {
      const iae_stage *s = &f->st[r];
      float *w = NULL;
      size_t nw = 0;
      if (r == 0)
        {
          gs_nn_layer_arrays (m->dec, s->layer, &w, &nw, NULL, NULL, NULL, NULL,
                              NULL);
          if (!w || ns + nw > f->n_snap
              || memcmp (w, f->snap + ns, nw * sizeof *w) != 0)
            return 0;
          ns += nw;
        }
      if (r + 1 < f->n)
        {
          gs_nn_layer_arrays (m->dec, s->lat_layer, &w, &nw, NULL, NULL, NULL,
                              NULL, NULL);
          if (!w || ns + nw > f->n_snap
              || memcmp (w, f->snap + ns, nw * sizeof *w) != 0)
            return 0;
          ns += nw;
        }
    }
  return ns == f->n_snap;
}

/* elu (x) = x for x > 0, alpha expm1 (x) otherwise, in float: x = n ln2
 * + r, |r| <= ln2 / 2 (Cody-Waite, ln2 split in 16 + 24 bits),
 * expm1 (x) = 2^n expm1 (r) + 2^n - 1 with expm1 (r) from its Taylor
 * series to r^7 (truncation < 2e-8 relative); within 2 ulp of the
 * correctly rounded expm1f (tests/test_iae.c checks it against libm's
 * expm1 over [-30, 0]).  Below -30 the result is -alpha (expm1 rounds to
 * -1 in float from -17.4). */
IAE_OPT static inline float
iae_expm1_neg (float v)
{
  float z, nf, r, p, sc, out;
  int32_t zb, sb;
  v = v < -30.0f ? -30.0f : v;
  z = v * 1.44269504f + 0x1.8p23f;
  nf = z - 0x1.8p23f;
  r = (v - nf * 0.693145751953125f) - nf * 1.42860677e-6f;
  p = r * (1.0f / 5040.0f) + (1.0f / 720.0f);
  p = p * r + (1.0f / 120.0f);
  p = p * r + (1.0f / 24.0f);
  p = p * r + (1.0f / 6.0f);
  p = p * r + 0.5f;
  p = p * r * r + r;
  memcpy (&zb, &z, sizeof zb);
  sb = (zb - 0x4B400000 + 127) * (1 << 23);
  memcpy (&sc, &sb, sizeof sc);
  out = sc * p + (sc - 1.0f);
  return out;
}

#if defined(__GNUC__)
#define IAE_VL 16 /* lanes of the vectorised expm1 */
typedef float iae_vf __attribute__ ((vector_size (4 * IAE_VL)));
typedef int32_t iae_vsi __attribute__ ((vector_size (4 * IAE_VL)));

/* iae_expm1_neg on IAE_VL lanes, the same operations (in place: vector
 * arguments by value would depend on the ABI). */
IAE_OPT static inline void
iae_expm1_neg_v (iae_vf *io)
{
  iae_vf v = *io, z, nf, r, p, sc, lo;
  iae_vsi m, zb;
  int q;
  for (q = 0; q < IAE_VL; q++)
    lo[q] = -30.0f;
  m = v < lo;
  v = (iae_vf)(((iae_vsi)lo & m) | ((iae_vsi)v & ~m));
  z = v * 1.44269504f + 0x1.8p23f;
  nf = z - 0x1.8p23f;
  r = (v - nf * 0.693145751953125f) - nf * 1.42860677e-6f;
  p = r * (1.0f / 5040.0f) + (1.0f / 720.0f);
  p = p * r + (1.0f / 120.0f);
  p = p * r + (1.0f / 24.0f);
  p = p * r + (1.0f / 6.0f);
  p = p * r + 0.5f;
  p = p * r * r + r;
  zb = (iae_vsi)z;
  sc = (iae_vf)((zb - 0x4B400000 + 127) * (1 << 23));
  *io = sc * p + (sc - 1.0f);
}
#endif

IAE_HOT static void
iae_elu (float *x, size_t n, float alpha)
{
  size_t i = 0;
#if defined(__GNUC__)
  for (; i + IAE_VL <= n; i += IAE_VL)
    {
      iae_vf v, e, zero;
      iae_vsi pos;
      int q;
      for (q = 0; q < IAE_VL; q++)
        zero[q] = 0.0f;
      memcpy (&v, x + i, sizeof v);
      pos = v > zero;
      for (q = 0; q < IAE_VL && pos[q]; q++)
        ;
      if (q == IAE_VL)
        continue; /* all positive: unchanged */
      e = (iae_vf)((iae_vsi)v & ~pos);
      iae_expm1_neg_v (&e);
      e = alpha * e;
      v = (iae_vf)(((iae_vsi)v & pos) | ((iae_vsi)e & ~pos));
      memcpy (x + i, &v, sizeof v);
    }
#endif
  for (; i < n; i++)
    {
      float v = x[i];
      x[i] = v > 0 ? v : alpha * iae_expm1_neg (v);
    }
}

void
gs__iae_elu (float *x, size_t n, float alpha)
{
  iae_elu (x, n, alpha);
}

/* out (n floats) = sum_k lambda_k P_k (P: d x n doubles), in double,
 * rounded. */
IAE_HOT static void
iae_combine (const double *P, size_t n, const double *lam, int d, float *out)
{
  size_t i;
  int k;
  if (d == 2)
    {
      const double *P1 = P + n, l0 = lam[0], l1 = lam[1];
      for (i = 0; i < n; i++)
        out[i] = (float)(l0 * P[i] + l1 * P1[i]);
      return;
    }
  for (i = 0; i < n; i++)
    {
      double v = 0;
      for (k = 0; k < d; k++)
        v += lam[k] * P[(size_t)k * n + i];
      out[i] = (float)v;
    }
}

/* y (cout rows of lpad) = convT (xp), xp: cin padded rows of s->row. */
#if defined(__GNUC__)
typedef float iae_v8f __attribute__ ((vector_size (32)));
#endif

IAE_HOT static void
iae_convt_direct (const iae_stage *s, const float *wt, const float *xp,
                  const unsigned char *need, float *y)
{
  int o, o2, c, kk, j0, K = s->k, cout = s->cout;
  for (o = 0; o < cout; o = o2 + 1)
    {
      /* two needed outputs per pass (each x vector loaded once for both) */
      if (need && !need[o])
        {
          o2 = o;
          continue;
        }
      for (o2 = o + 1; o2 < cout && need && !need[o2]; o2++)
        ;
      if (o2 >= cout)
        o2 = o;
      for (j0 = 0; j0 < s->lpad; j0 += IAE_JB / 2)
        {
#if defined(__GNUC__)
          iae_v8f a0[IAE_JB / 16], a1[IAE_JB / 16];
          int q;
          memset (a0, 0, sizeof a0);
          memset (a1, 0, sizeof a1);
          for (c = 0; c < s->cin; c++)
            {
              const float *xr = xp + (size_t)c * s->row + j0 + K - 1;
              const float *w0 = wt + ((size_t)c * cout + o) * K;
              const float *w1 = wt + ((size_t)c * cout + o2) * K;
              for (kk = 0; kk < K; kk++)
                {
                  float v0 = w0[kk], v1 = w1[kk];
                  for (q = 0; q < IAE_JB / 16; q++)
                    {
                      iae_v8f xv;
                      memcpy (&xv, xr - kk + 8 * q, sizeof xv);
                      a0[q] += v0 * xv;
                      a1[q] += v1 * xv;
                    }
                }
            }
          memcpy (y + (size_t)o * s->lpad + j0, a0, sizeof a0);
          if (o2 != o)
            memcpy (y + (size_t)o2 * s->lpad + j0, a1, sizeof a1);
#else
          float a0[IAE_JB / 2], a1[IAE_JB / 2];
          int q;
          memset (a0, 0, sizeof a0);
          memset (a1, 0, sizeof a1);
          for (c = 0; c < s->cin; c++)
            {
              const float *xr = xp + (size_t)c * s->row + j0 + K - 1;
              const float *w0 = wt + ((size_t)c * cout + o) * K;
              const float *w1 = wt + ((size_t)c * cout + o2) * K;
              for (kk = 0; kk < K; kk++)
                for (q = 0; q < IAE_JB / 2; q++)
                  {
                    a0[q] += w0[kk] * xr[q - kk];
                    a1[q] += w1[kk] * xr[q - kk];
                  }
            }
          memcpy (y + (size_t)o * s->lpad + j0, a0, sizeof a0);
          if (o2 != o)
            memcpy (y + (size_t)o2 * s->lpad + j0, a1, sizeof a1);
#endif
        }
    }
}

/* Rows (rows x ldh, first s->lout used) upsampled to s->lup into dst
 * rows of ldd at offset pad, zeros before (pad) and after up to ldd. */
IAE_HOT static void
iae_upsample_rows (const iae_stage *s, int rows, const float *h, int ldh,
                   float *dst, int ldd, int pad)
{
  const int *restrict i0 = s->i0, *restrict i1 = s->i1;
  const float *restrict w = s->w, *restrict wm = s->wm;
  int o, t, n = s->lup;
  for (o = 0; o < rows; o++)
    {
      const float *restrict hr = h + (size_t)o * ldh;
      float *restrict dr = dst + (size_t)o * ldd;
      for (t = 0; t < pad; t++)
        dr[t] = 0.0f;
      dr += pad;
      for (t = 0; t < n; t++)
        dr[t] = wm[t] * hr[i0[t]] + w[t] * hr[i1[t]];
      for (t = n; t < ldd - pad; t++)
        dr[t] = 0.0f;
    }
}

static float *
iae_align_floats (float *p)
{
  uintptr_t u = (uintptr_t)p;
  return (float *)(void *)((u + IAE_ALIGN - 1) / IAE_ALIGN * IAE_ALIGN);
}

/* h += rho l (n values), as the engine's weighted add. */
IAE_HOT static void
iae_add_scaled (float *restrict h, const float *restrict l, size_t n, float rho)
{
  size_t i;
  for (i = 0; i < n; i++)
    h[i] = h[i] + rho * l[i];
}

/* One sample: x (L x C) = decode (lambda), the mask when nneg_output,
 * times amp (C values) when not NULL.  need (NULL: all): the components
 * to compute; the others are 0.  work: f->work_floats floats. */
static void
iae_fast_decode (const gs_iae *m, const double *lam, float *work, float *x,
                 const double *amp, const unsigned char *need)
{
  const iae_fast *f = m->fast;
  int N = f->n, r, o;
  float *xin, *h, *lat;
  xin = iae_align_floats (work);
  h = iae_align_floats (xin + f->xin_floats);
  lat = iae_align_floats (h + f->h_floats);
  for (r = 0; r < N; r++)
    {
      const iae_stage *s = &f->st[r];
      size_t nl = (size_t)s->cout * s->lout;
      float *w = NULL;
      if (r == 0)
        {
          iae_combine (s->pre, nl, lam, f->d, lat);
          for (o = 0; o < s->cout; o++)
            memcpy (h + (size_t)o * s->lpad, lat + (size_t)o * s->lout,
                    (size_t)s->lout * sizeof *h);
        }
      else
        {
          gs_nn_layer_arrays (m->dec, s->layer, &w, NULL, NULL, NULL, NULL,
                              NULL, NULL);
          iae_convt_direct (s, w, xin, r + 1 < N ? NULL : need, h);
        }
      for (o = 0; o < s->cout; o++)
        if (r + 1 < N || !need || need[o])
          iae_elu (h + (size_t)o * s->lpad, (size_t)s->lout, f->alpha);
      if (r + 1 < N)
        {
          const iae_stage *nx = &f->st[r + 1];
          iae_combine (s->lat, nl, lam, f->d, lat);
          iae_elu (lat, nl, f->alpha);
          for (o = 0; o < s->cout; o++)
            iae_add_scaled (h + (size_t)o * s->lpad, lat + (size_t)o * s->lout,
                            (size_t)s->lout, s->rho);
          iae_upsample_rows (s, s->cout, h, s->lpad, xin, nx->row, nx->k - 1);
        }
      else
        {
          /* the output: upsample (C x L), then mask, scale and transpose
           * to L x C */
          size_t C = (size_t)s->cout, L = (size_t)s->lup, j;
          int nneg = m->cfg.nneg_output;
          for (o = 0; o < s->cout; o++)
            {
              float *xr = xin + (size_t)o * L;
              if (!need || need[o])
                iae_upsample_rows (s, 1, h + (size_t)o * s->lpad, s->lpad, xr,
                                   s->lup, 0);
              else
                memset (xr, 0, L * sizeof *xr);
            }
          for (j = 0; j < L; j++)
            for (o = 0; o < s->cout; o++)
              {
                float v = xin[(size_t)o * L + j];
                if (nneg && !(v > 0))
                  v = 0.0f;
                x[j * C + (size_t)o] = amp ? v * (float)amp[o] : v;
              }
        }
    }
}

/* ---- Model skeleton ------------------------------------------------------ */

void
gs_iae_free (gs_iae *m)
{
  if (!m)
    return;
  gs_nn_free (m->enc);
  gs_nn_free (m->dec);
  free (m->enc_arch);
  free (m->dec_arch);
  free (m->anchors);
  free (m->codes);
  free (m->ig);
  iae_fast_free (m->fast);
  free (m);
}

/* A model with its shapes, architectures and arrays, but no networks. */
static int
iae_alloc (const gs_iae_config *cfg, gs_iae **out)
{
  gs_iae *m;
  int rc, l, N, d;
  size_t C, L;
  *out = NULL;
  if ((rc = gs_iae_config_check (cfg, NULL)) != GS_OK)
    return rc;
  if (!(m = calloc (1, sizeof *m)))
    return gs_error (GS_ENOMEM, "out of memory for an IAE model");
  m->cfg = *cfg;
  gs_iae_config_check (cfg, m->dims);
  N = cfg->n_layers;
  d = cfg->n_anchors;
  for (l = 0; l < N; l++)
    {
      m->lev_c[l] = l + 1 < N ? cfg->fnum[l + 1] : cfg->fnum[N - 1];
      m->lev_l[l] = l + 1 < N ? m->dims[l + 2] : m->dims[N];
      m->lev_off[l + 1]
          = m->lev_off[l] + (size_t)m->lev_c[l] * (size_t)m->lev_l[l];
    }
  C = (size_t)cfg->n_components;
  L = (size_t)cfg->length;
  m->enc_arch = encoder_arch (cfg);
  m->dec_arch = decoder_arch (cfg, m->dims);
  m->anchors = malloc ((size_t)d * C * L * sizeof *m->anchors);
  m->codes = calloc ((size_t)d * m->lev_off[N], sizeof *m->codes);
  m->ig = calloc ((size_t)N * d * d, sizeof *m->ig);
  if (!m->enc_arch || !m->dec_arch || !m->anchors || !m->codes || !m->ig)
    {
      gs_iae_free (m);
      return gs_error (GS_ENOMEM, "out of memory for an IAE model");
    }
  *out = m;
  return GS_OK;
}

static int
iae_networks (gs_iae *m, const gs_nn_opts *o)
{
  int rc;
  rc = gs_nn_create (m->enc_arch, m->cfg.n_components, m->cfg.length, o,
                     &m->enc);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "IAE encoder");
  rc = gs_nn_create (m->dec_arch, m->lev_c[m->cfg.n_layers - 1],
                     m->lev_l[m->cfg.n_layers - 1], o, &m->dec);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "IAE decoder");
  gs_nn_set_mode (m->enc, GS_NN_BN_BATCH);
  gs_nn_set_mode (m->dec, GS_NN_EVAL);
  return GS_OK;
}

/* iG_l = inv (G_l + reg ||G_l||_2 I) for every level, in double. */
static int
iae_gram (gs_iae *m)
{
  int N = m->cfg.n_layers, d = m->cfg.n_anchors, l, i, j, info;
  size_t cs = m->lev_off[N], t;
  double G[GS_IAE_MAX_ANCHORS * GS_IAE_MAX_ANCHORS];
  double A[GS_IAE_MAX_ANCHORS * GS_IAE_MAX_ANCHORS];
  double eval[GS_IAE_MAX_ANCHORS];
  gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc ((size_t)d);
  if (!w)
    return gs_error (GS_ENOMEM, "out of memory for an eigen workspace");
  for (l = 0; l < N; l++)
    {
      size_t off = m->lev_off[l], n = m->lev_off[l + 1] - off;
      double norm = 0;
      gsl_matrix_view Av = gsl_matrix_view_array (A, (size_t)d, (size_t)d);
      gsl_vector_view ev = gsl_vector_view_array (eval, (size_t)d);
      for (i = 0; i < d; i++)
        for (j = 0; j <= i; j++)
          {
            const float *a = m->codes + (size_t)i * cs + off;
            const float *b = m->codes + (size_t)j * cs + off;
            double s = 0;
            for (t = 0; t < n; t++)
              s += (double)a[t] * b[t];
            G[i * d + j] = G[j * d + i] = s;
          }
      memcpy (A, G, sizeof (double) * (size_t)d * d);
      gsl_eigen_symm (&Av.matrix, &ev.vector, w);
      for (i = 0; i < d; i++)
        if (fabs (eval[i]) > norm)
          norm = fabs (eval[i]);
      if (!(norm > 0) || !isfinite (norm))
        {
          gsl_eigen_symm_free (w);
          return gs_error (GS_ESING,
                           "IAE: the anchors' codes at level %d are all "
                           "zero (or not finite); the interpolator needs "
                           "distinct, non-zero anchor codes",
                           l);
        }
      memcpy (A, G, sizeof (double) * (size_t)d * d);
      for (i = 0; i < d; i++)
        A[i * d + i] += m->cfg.reg_inv * norm;
      dpotrf_ ("L", &d, A, &d, &info);
      if (info == 0)
        dpotri_ ("L", &d, A, &d, &info);
      if (info != 0)
        {
          gsl_eigen_symm_free (w);
          return gs_error (
              GS_ESING,
              "IAE: the Gram matrix of the anchors' codes at "
              "level %d is not positive definite (Cholesky info %d); the "
              "anchors must differ, or raise reg_inv",
              l, info);
        }
      /* Column-major lower = row-major upper: mirror it. */
      for (i = 0; i < d; i++)
        for (j = 0; j < d; j++)
          m->ig[((size_t)l * d + i) * d + j]
              = i <= j ? A[i * d + j] : A[j * d + i];
    }
  gsl_eigen_symm_free (w);
  return iae_fast_prepare (m);
}

static int
check_finite_floats (const float *x, size_t n, const char *what)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return gs_error (GS_EBADDATA, "%s: value %zu is %g; give finite values",
                       what, i, (double)x[i]);
  return GS_OK;
}

int
gs_iae_create (const gs_iae_config *cfg, const float *anchors,
               const gs_nn_opts *o, gs_iae **out)
{
  gs_iae *m;
  size_t n;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_iae_create: NULL output");
  *out = NULL;
  if (!cfg || !anchors)
    return gs_error (GS_EINVAL, "gs_iae_create: NULL configuration or "
                                "anchors");
  if ((rc = iae_alloc (cfg, &m)) != GS_OK)
    return rc;
  n = (size_t)cfg->n_anchors * cfg->length * cfg->n_components;
  if ((rc = check_finite_floats (anchors, n, "IAE anchors")) != GS_OK
      || (rc = iae_networks (m, o)) != GS_OK)
    {
      gs_iae_free (m);
      return rc;
    }
  memcpy (m->anchors, anchors, n * sizeof *anchors);
  if ((rc = gs_iae_update_codes (m)) != GS_OK)
    {
      gs_iae_free (m);
      return rc;
    }
  *out = m;
  return GS_OK;
}

/* ---- Accessors ---------------------------------------------------------- */

const gs_iae_config *
gs_iae_get_config (const gs_iae *m)
{
  return m ? &m->cfg : NULL;
}

void
gs_iae_set_nneg_output (gs_iae *m, int on)
{
  if (m)
    m->cfg.nneg_output = on != 0;
}

size_t
gs_iae_code_size (const gs_iae *m)
{
  return m ? m->lev_off[m->cfg.n_layers] : 0;
}

int
gs_iae_level_shape (const gs_iae *m, int level, int *channels, int *length,
                    size_t *offset)
{
  if (!m || level < 0 || level >= m->cfg.n_layers)
    return gs_error (GS_EINVAL,
                     "gs_iae_level_shape: level %d is not in "
                     "0..%d",
                     level, m ? m->cfg.n_layers - 1 : -1);
  if (channels)
    *channels = m->lev_c[level];
  if (length)
    *length = m->lev_l[level];
  if (offset)
    *offset = m->lev_off[level];
  return GS_OK;
}

const float *
gs_iae_anchors (const gs_iae *m)
{
  return m ? m->anchors : NULL;
}

const float *
gs_iae_anchor_codes (const gs_iae *m)
{
  return m ? m->codes : NULL;
}

const double *
gs_iae_gram_inverse (const gs_iae *m, int level)
{
  if (!m || level < 0 || level >= m->cfg.n_layers)
    return NULL;
  return m->ig + (size_t)level * m->cfg.n_anchors * m->cfg.n_anchors;
}

gs_nn *
gs_iae_encoder (gs_iae *m)
{
  return m ? m->enc : NULL;
}

gs_nn *
gs_iae_decoder (gs_iae *m)
{
  return m ? m->dec : NULL;
}

/* ---- Workspaces -----------------------------------------------------------
 */

typedef struct iae_lay
{
  size_t xt, codes, amp, nnw, nnw_bytes, fast, total;
} iae_lay;

static size_t
iae_up (size_t n)
{
  return (n + IAE_ALIGN - 1) / IAE_ALIGN * IAE_ALIGN;
}

/* Offsets from a 64-byte aligned base: xt (batch x C x L floats), codes
 * (batch x code size floats; also the barycentres), amp (batch x C
 * doubles), the networks' workspace.  0 total on overflow. */
static void
iae_layout (const gs_iae *m, int batch, int full, iae_lay *s)
{
  size_t per_x, per_c, nb, eb = 0, db;
  memset (s, 0, sizeof *s);
  if (!m || batch < 1)
    return;
  per_x = (size_t)m->cfg.n_components * m->cfg.length * sizeof (float);
  per_c = m->lev_off[m->cfg.n_layers] * sizeof (float);
  if ((size_t)batch > (SIZE_MAX / 8) / (per_x + per_c + 64 * 8))
    return;
  db = gs_nn_infer_bytes (m->dec, batch);
  if (full)
    eb = gs_nn_infer_bytes (m->enc, batch);
  if (db == 0 || (full && eb == 0))
    return;
  nb = eb > db ? eb : db;
  s->xt = 0;
  s->codes = iae_up (per_x * (size_t)batch);
  s->amp = s->codes + iae_up (per_c * (size_t)batch);
  s->nnw
      = s->amp + iae_up ((size_t)batch * m->cfg.n_components * sizeof (double));
  s->nnw_bytes = nb;
  if (nb > SIZE_MAX / 4 || s->nnw > SIZE_MAX / 4)
    return;
  s->fast = s->nnw + iae_up (nb);
  s->total = s->fast + IAE_ALIGN;
  if (m->fast)
    s->total += iae_up (m->fast->work_floats * sizeof (float));
}

size_t
gs_iae_decode_bytes (const gs_iae *m, int batch)
{
  iae_lay s;
  iae_layout (m, batch, 0, &s);
  return s.total;
}

size_t
gs_iae_work_bytes (const gs_iae *m, int batch)
{
  iae_lay s;
  iae_layout (m, batch, 1, &s);
  return s.total;
}

typedef struct iae_bufs
{
  float *xt, *codes, *fast;
  double *amp;
  void *nnw;
  size_t nnw_bytes;
} iae_bufs;

static int
iae_bufs_get (const gs_iae *m, void *work, size_t work_bytes, int batch,
              int full, const char *who, iae_bufs *b)
{
  iae_lay s;
  unsigned char *base;
  if (!m || !work)
    return gs_error (GS_EINVAL, "%s: NULL model or workspace", who);
  if (batch < 1)
    return gs_error (GS_EINVAL, "%s: batch %d must be >= 1", who, batch);
  iae_layout (m, batch, full, &s);
  if (s.total == 0 || work_bytes < s.total)
    return gs_error (GS_EINVAL,
                     "%s: the workspace has %zu bytes; a batch of %d needs "
                     "%zu (%s)",
                     who, work_bytes, batch, s.total,
                     full ? "gs_iae_work_bytes" : "gs_iae_decode_bytes");
  base = work;
  base += (IAE_ALIGN - (size_t)((uintptr_t)base % IAE_ALIGN)) % IAE_ALIGN;
  b->xt = (float *)(void *)(base + s.xt);
  b->codes = (float *)(void *)(base + s.codes);
  b->amp = (double *)(void *)(base + s.amp);
  b->nnw = base + s.nnw;
  b->nnw_bytes = s.nnw_bytes;
  b->fast = (float *)(void *)(base + s.fast);
  return GS_OK;
}

/* ---- Decode ---------------------------------------------------------- */

/* Barycentres into b->codes (level-major: level l's batch x size block
 * at batch x offset_l), decoder into b->xt, then x (batch x L x C) with
 * the mask and, when amp is not NULL, times amp. */
static int
iae_decode_run (const gs_iae *m, const iae_bufs *b, const double *lambda,
                int batch, float *x, const double *amp)
{
  const float *extra[GS_IAE_MAX_LAYERS];
  int N = m->cfg.n_layers, d = m->cfg.n_anchors, l, s, k, rc;
  size_t cs = m->lev_off[N], C = (size_t)m->cfg.n_components;
  size_t L = (size_t)m->cfg.length, i, j, c;
  if (iae_fast_valid (m))
    {
      for (s = 0; s < batch; s++)
        iae_fast_decode (m, lambda + (size_t)s * d, b->fast,
                         x + (size_t)s * L * C,
                         amp ? amp + (size_t)s * C : NULL, NULL);
      return GS_OK;
    }
  for (l = 0; l < N; l++)
    {
      size_t off = m->lev_off[l], n = m->lev_off[l + 1] - off;
      float *blk = b->codes + (size_t)batch * off;
      for (s = 0; s < batch; s++)
        {
          const double *lam = lambda + (size_t)s * d;
          float *o = blk + (size_t)s * n;
          for (i = 0; i < n; i++)
            {
              double v = 0;
              for (k = 0; k < d; k++)
                v += lam[k] * m->codes[(size_t)k * cs + off + i];
              o[i] = (float)v;
            }
        }
    }
  for (k = 0; k + 1 < N; k++)
    extra[k] = b->codes + (size_t)batch * m->lev_off[N - 2 - k];
  rc = gs_nn_infer_multi (m->dec, b->nnw, b->nnw_bytes,
                          b->codes + (size_t)batch * m->lev_off[N - 1], extra,
                          batch, b->xt);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "IAE decoder");
  for (s = 0; s < batch; s++)
    {
      const float *y = b->xt + (size_t)s * C * L;
      float *o = x + (size_t)s * L * C;
      for (c = 0; c < C; c++)
        {
          float a = amp ? (float)amp[(size_t)s * C + c] : 1.0f;
          for (j = 0; j < L; j++)
            {
              float v = y[c * L + j];
              if (m->cfg.nneg_output && !(v > 0))
                v = 0.0f;
              o[j * C + c] = amp ? v * a : v;
            }
        }
    }
  return GS_OK;
}

static int
check_lambda (const gs_iae *m, const double *lambda, int batch, const char *who)
{
  size_t i, n = (size_t)batch * m->cfg.n_anchors;
  if (!lambda)
    return gs_error (GS_EINVAL, "%s: NULL lambda", who);
  for (i = 0; i < n; i++)
    if (!isfinite (lambda[i]) || fabs (lambda[i]) > 1e6)
      return gs_error (GS_EBADDATA,
                       "%s: lambda[%zu][%zu] = %g; give finite weights "
                       "(|lambda| <= 1e6)",
                       who, i / m->cfg.n_anchors, i % m->cfg.n_anchors,
                       lambda[i]);
  return GS_OK;
}

int
gs_iae_decode (const gs_iae *m, void *work, size_t work_bytes,
               const double *lambda, int batch, float *x)
{
  iae_bufs b;
  int rc;
  if ((rc = iae_bufs_get (m, work, work_bytes, batch, 0, "gs_iae_decode", &b))
      != GS_OK)
    return rc;
  if (!x)
    return gs_error (GS_EINVAL, "gs_iae_decode: NULL output");
  if ((rc = check_lambda (m, lambda, batch, "gs_iae_decode")) != GS_OK)
    return rc;
  return iae_decode_run (m, &b, lambda, batch, x, NULL);
}

int
gs__iae_decode_some (const gs_iae *m, void *work, size_t work_bytes,
                     const double *lambda, const unsigned char *need, float *x)
{
  iae_bufs b;
  int rc;
  if ((rc = iae_bufs_get (m, work, work_bytes, 1, 0, "gs_iae_decode", &b))
      != GS_OK)
    return rc;
  if (!x)
    return gs_error (GS_EINVAL, "gs_iae_decode: NULL output");
  if ((rc = check_lambda (m, lambda, 1, "gs_iae_decode")) != GS_OK)
    return rc;
  if (!iae_fast_valid (m))
    return iae_decode_run (m, &b, lambda, 1, x, NULL);
  iae_fast_decode (m, lambda, b.fast, x, NULL, need);
  return GS_OK;
}

/* ---- Encode and interpolate ------------------------------------------- */

static int
iae_encode_run (const gs_iae *m, const iae_bufs *b, int batch, float *codes)
{
  int rc = gs_nn_infer (m->enc, b->nnw, b->nnw_bytes, b->xt, batch, codes);
  return rc == GS_OK ? GS_OK : gs_error_prefix (rc, "IAE encoder");
}

int
gs_iae_encode (const gs_iae *m, void *work, size_t work_bytes, const float *x,
               int batch, float *codes)
{
  iae_bufs b;
  size_t C, L, s, j, c;
  int rc;
  if ((rc = iae_bufs_get (m, work, work_bytes, batch, 1, "gs_iae_encode", &b))
      != GS_OK)
    return rc;
  if (!x || !codes)
    return gs_error (GS_EINVAL, "gs_iae_encode: NULL input or output");
  C = (size_t)m->cfg.n_components;
  L = (size_t)m->cfg.length;
  if ((rc = check_finite_floats (x, (size_t)batch * C * L, "gs_iae_encode"))
      != GS_OK)
    return rc;
  for (s = 0; s < (size_t)batch; s++)
    for (j = 0; j < L; j++)
      for (c = 0; c < C; c++)
        b.xt[(s * C + c) * L + j] = x[(s * L + j) * C + c];
  return iae_encode_run (m, &b, batch, codes);
}

void
gs_iae_project_simplex (double *lambda, size_t d)
{
  double mu = -HUGE_VAL, F;
  size_t k, it;
  if (!lambda || d == 0)
    return;
  for (k = 0; k < d; k++)
    if (lambda[k] > mu)
      mu = lambda[k];
  mu -= 1.0;
  for (it = 0; it < 2 * d; it++)
    {
      F = 0;
      for (k = 0; k < d; k++)
        F += lambda[k] > mu ? lambda[k] : mu;
      F -= (double)d * mu + 1.0;
      mu += F / (double)d;
    }
  for (k = 0; k < d; k++)
    lambda[k] = (lambda[k] > mu ? lambda[k] : mu) - mu;
}

int
gs_iae_interpolate (const gs_iae *m, const float *codes, int batch,
                    double *lambda)
{
  int N, d, l, s, k, j;
  size_t cs, t;
  double den = 1.0;
  if (!m || !codes || !lambda)
    return gs_error (GS_EINVAL, "gs_iae_interpolate: NULL argument");
  if (batch < 1)
    return gs_error (GS_EINVAL, "gs_iae_interpolate: batch %d must be >= 1",
                     batch);
  N = m->cfg.n_layers;
  d = m->cfg.n_anchors;
  cs = m->lev_off[N];
  for (l = 0; l + 1 < N; l++)
    den += m->cfg.rho[l];
  for (s = 0; s < batch; s++)
    {
      const float *z = codes + (size_t)s * cs;
      double acc[GS_IAE_MAX_ANCHORS] = { 0 };
      for (t = 0; t < cs; t++)
        if (!isfinite (z[t]))
          return gs_error (GS_EBADDATA,
                           "gs_iae_interpolate: code %zu of sample %d is "
                           "%g; give finite codes",
                           t, s, (double)z[t]);
      for (l = 0; l < N; l++)
        {
          size_t off = m->lev_off[l], n = m->lev_off[l + 1] - off;
          const double *ig = m->ig + (size_t)l * d * d;
          double dot[GS_IAE_MAX_ANCHORS];
          /* level l < N - 1 is lateral l + 1, weighted by rho[N - 2 - l] */
          double w = l + 1 < N ? m->cfg.rho[N - 2 - l] : 1.0;
          for (k = 0; k < d; k++)
            {
              const float *e = m->codes + (size_t)k * cs + off;
              double v = 0;
              for (t = 0; t < n; t++)
                v += (double)z[off + t] * e[t];
              dot[k] = v;
            }
          for (j = 0; j < d; j++)
            {
              double v = 0;
              for (k = 0; k < d; k++)
                v += dot[k] * ig[k * d + j];
              acc[j] += w * v;
            }
        }
      for (j = 0; j < d; j++)
        lambda[(size_t)s * d + j] = acc[j] / den;
      if (m->cfg.projection == GS_IAE_PROJ_SIMPLEX)
        gs_iae_project_simplex (lambda + (size_t)s * d, (size_t)d);
    }
  return GS_OK;
}

int
gs_iae_fast_interpolation (const gs_iae *m, void *work, size_t work_bytes,
                           const float *x, int batch, double *lambda,
                           float *xrec, double *amp)
{
  iae_bufs b;
  size_t C, L, s, j, c;
  int rc;
  const char *who = "gs_iae_fast_interpolation";
  if ((rc = iae_bufs_get (m, work, work_bytes, batch, 1, who, &b)) != GS_OK)
    return rc;
  if (!x || !lambda)
    return gs_error (GS_EINVAL, "%s: NULL input or lambda", who);
  C = (size_t)m->cfg.n_components;
  L = (size_t)m->cfg.length;
  if ((rc = check_finite_floats (x, (size_t)batch * C * L, who)) != GS_OK)
    return rc;
  for (s = 0; s < (size_t)batch; s++)
    for (c = 0; c < C; c++)
      {
        double a = 0;
        float af;
        for (j = 0; j < L; j++)
          a += fabs ((double)x[(s * L + j) * C + c]);
        af = (float)a;
        if (!(af > 0) || !isfinite (af))
          return gs_error (GS_EBADDATA,
                           "%s: component %zu (%s) of sample %zu sums to %g; "
                           "every component needs a positive, finite sum",
                           who, c, m->cfg.names[c], s, a);
        b.amp[s * C + c] = af;
        for (j = 0; j < L; j++)
          b.xt[(s * C + c) * L + j] = x[(s * L + j) * C + c] / af;
      }
  if ((rc = iae_encode_run (m, &b, batch, b.codes)) != GS_OK)
    return rc;
  if ((rc = gs_iae_interpolate (m, b.codes, batch, lambda)) != GS_OK)
    return rc;
  if (amp)
    memcpy (amp, b.amp, (size_t)batch * C * sizeof *amp);
  if (!xrec)
    return GS_OK;
  return iae_decode_run (m, &b, lambda, batch, xrec, b.amp);
}

int
gs_iae_update_codes (gs_iae *m)
{
  size_t bytes;
  void *work;
  int rc, d;
  if (!m)
    return gs_error (GS_EINVAL, "gs_iae_update_codes: NULL model");
  d = m->cfg.n_anchors;
  bytes = gs_iae_work_bytes (m, d);
  if (bytes == 0 || !(work = malloc (bytes)))
    return gs_error (GS_ENOMEM, "out of memory for the IAE workspace");
  rc = gs_iae_encode (m, work, bytes, m->anchors, d, m->codes);
  free (work);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "encoding the IAE anchors");
  return iae_gram (m);
}

/* ---- Configuration from a manifest or a model file ----------------------- */

static int
cfg_error (const gs_ynode *n, int status, const char *fmt, const char *key)
{
  char w[512];
  gs_ynode_where (n, w, sizeof w);
  return gs_error (status, "%s: '%s' %s", w, key, fmt);
}

static const gs_ynode *
cfg_seq (const gs_ynode *root, const char *key)
{
  const gs_ynode *n = gs_ynode_get (root, key);
  return n && n->kind == GS_YNODE_SEQUENCE ? n : NULL;
}

static int
cfg_ints (const gs_ynode *root, const char *key, int *out, size_t n, long min,
          long max)
{
  const gs_ynode *s = cfg_seq (root, key);
  size_t i;
  char what[64];
  if (!s || s->n != n)
    {
      char msg[96];
      snprintf (msg, sizeof msg, "must be a list of %zu integers", n);
      return cfg_error (s ? s : root, GS_EFORMAT, msg, key);
    }
  for (i = 0; i < n; i++)
    {
      long v;
      int rc;
      snprintf (what, sizeof what, "%s[%zu]", key, i);
      if ((rc = gs_ynode_as_long (s->items[i], what, min, max, &v)) != GS_OK)
        return GS_EFORMAT;
      out[i] = (int)v;
    }
  return GS_OK;
}

static int
cfg_real (const gs_ynode *root, const char *key, int required, double min,
          double max, double *out)
{
  const gs_ynode *n = gs_ynode_get (root, key);
  if (!n)
    return required ? cfg_error (root, GS_EFORMAT, "is missing", key) : GS_OK;
  return gs_ynode_as_double (n, key, min, max, out) == GS_OK ? GS_OK
                                                             : GS_EFORMAT;
}

/* Python truthiness of a scalar (the authors' nonneg_weights = 'warm'). */
static int
cfg_truthy (const gs_ynode *root, const char *key, int dflt, int *out)
{
  const gs_ynode *n = gs_ynode_get (root, key);
  double v;
  int b;
  *out = dflt;
  if (!n)
    return GS_OK;
  if (n->kind != GS_YNODE_SCALAR)
    return cfg_error (n, GS_EFORMAT, "must be a scalar", key);
  if (n->plain
      && (strcmp (n->value, "null") == 0 || strcmp (n->value, "~") == 0))
    *out = 0;
  else if (n->plain && gs__parse_bool (n->value, &b) == GS_OK)
    *out = b;
  else if (n->plain && gs__parse_double (n->value, &v) == GS_OK)
    *out = v != 0;
  else
    *out = n->value[0] != '\0';
  return GS_OK;
}

/* d_hint > 0: the number of anchors the tensors show. */
static int
parse_config (const gs_ynode *root, int d_hint, gs_iae_config *cfg)
{
  const gs_ynode *s, *n;
  int dims[GS_IAE_MAX_LAYERS + 1], chk[GS_IAE_MAX_LAYERS + 1], rc, N, r, b;
  size_t i;
  gs_iae_config_init (cfg);
  if (!root || root->kind != GS_YNODE_MAPPING)
    return cfg_error (root, GS_EFORMAT, "must be a mapping", "(top level)");
  if ((n = gs_ynode_get (root, "format")))
    {
      const char *f;
      if (gs_ynode_as_string (n, "format", &f) != GS_OK
          || strcmp (f, "gspec-iae") != 0)
        return cfg_error (n, GS_EFORMAT, "must be \"gspec-iae\"", "format");
    }
  s = cfg_seq (root, "nuclides");
  if (!s || s->n < 1 || s->n > GS_IAE_MAX_COMPONENTS)
    return cfg_error (s ? s : root, GS_EFORMAT,
                      "must list 1 to 64 component names", "nuclides");
  cfg->n_components = (int)s->n;
  for (i = 0; i < s->n; i++)
    {
      const char *name;
      if (gs_ynode_as_string (s->items[i], "nuclides entry", &name) != GS_OK)
        return GS_EFORMAT;
      if (strlen (name) >= GS_IAE_NAME_MAX)
        return cfg_error (s->items[i], GS_EFORMAT,
                          "entries must be shorter than 32 characters",
                          "nuclides");
      memcpy (cfg->names[i], name, strlen (name) + 1);
    }
  s = cfg_seq (root, "nsize_fsize");
  if (!s || s->n < 2 || s->n > GS_IAE_MAX_LAYERS)
    return cfg_error (s ? s : root, GS_EFORMAT,
                      "must be a list of 2 to 8 kernel sizes", "nsize_fsize");
  N = cfg->n_layers = (int)s->n;
  if ((rc = cfg_ints (root, "nsize_fsize", cfg->fsize, (size_t)N, 1, 4096))
          != GS_OK
      || (rc
          = cfg_ints (root, "nsize_fstride", cfg->fstride, (size_t)N, 1, 4096))
             != GS_OK
      || (rc = cfg_ints (root, "nsize_fnum", cfg->fnum, (size_t)N, 1, 4096))
             != GS_OK
      || (rc = cfg_ints (root, "dims", dims, (size_t)N + 1, 1, IAE_MAX_DIM))
             != GS_OK)
    return rc;
  cfg->length = dims[0];
  s = cfg_seq (root, "rho_latcon");
  if (!s || s->n < (size_t)N - 1)
    {
      char msg[96];
      snprintf (msg, sizeof msg, "must list at least %d lateral weights",
                N - 1);
      return cfg_error (s ? s : root, GS_EFORMAT, msg, "rho_latcon");
    }
  for (r = 0; r + 1 < N; r++)
    if (gs_ynode_as_double (s->items[r], "rho_latcon entry", -1e6, 1e6,
                            &cfg->rho[r])
        != GS_OK)
      return GS_EFORMAT;
  if ((rc = cfg_real (root, "reg_inv", 1, 0, 0.999, &cfg->reg_inv)) != GS_OK
      || (rc = cfg_real (root, "bn_eps", 0, 1e-30, 1, &cfg->bn_eps)) != GS_OK
      || (rc = cfg_real (root, "elu_alpha", 0, 0, 1e6, &cfg->elu_alpha))
             != GS_OK)
    return rc;
  if ((rc = cfg_truthy (root, "mean_lambda", 1, &b)) != GS_OK)
    return rc;
  if (!b)
    return cfg_error (gs_ynode_get (root, "mean_lambda"), GS_EUNSUPPORTED,
                      "is false: per-level lambdas are not implemented "
                      "(only the authors' mean_lambda = True)",
                      "mean_lambda");
  if ((rc = cfg_truthy (root, "nonneg_weights", 0, &b)) != GS_OK)
    return rc;
  cfg->projection = b ? GS_IAE_PROJ_SIMPLEX : GS_IAE_PROJ_NONE;
  if ((rc = cfg_truthy (root, "simplex", 0, &b)) != GS_OK)
    return rc;
  if (b && cfg->projection == GS_IAE_PROJ_NONE)
    return cfg_error (gs_ynode_get (root, "simplex"), GS_EUNSUPPORTED,
                      "is true without nonneg_weights: the affine simplex "
                      "branch is not implemented",
                      "simplex");
  if ((rc = cfg_truthy (root, "nneg_output", 1, &cfg->nneg_output)) != GS_OK)
    return rc;
  if ((rc = cfg_truthy (root, "conv_bias", 0, &b)) != GS_OK)
    return rc;
  if (b)
    return cfg_error (gs_ynode_get (root, "conv_bias"), GS_EUNSUPPORTED,
                      "is true: convolution biases are not implemented",
                      "conv_bias");
  if ((n = gs_ynode_get (root, "decoder_stride")))
    {
      long v;
      if (gs_ynode_as_long (n, "decoder_stride", 1, 4096, &v) != GS_OK)
        return GS_EFORMAT;
      if (v != 1)
        return cfg_error (n, GS_EUNSUPPORTED,
                          "is not 1: strided decoders are not implemented",
                          "decoder_stride");
    }
  if ((n = gs_ynode_get (root, "upsample")))
    {
      const char *u;
      if (gs_ynode_as_string (n, "upsample", &u) != GS_OK)
        return GS_EFORMAT;
      if (strncmp (u, "linear", 6) != 0 || !strstr (u, "align_corners=True"))
        return cfg_error (n, GS_EUNSUPPORTED,
                          "must be \"linear, align_corners=True\"", "upsample");
    }
  cfg->n_anchors = d_hint;
  if ((n = gs_ynode_get (root, "n_anchors")))
    {
      long v;
      if (gs_ynode_as_long (n, "n_anchors", 2, GS_IAE_MAX_ANCHORS, &v) != GS_OK)
        return GS_EFORMAT;
      if (d_hint > 0 && v != d_hint)
        return cfg_error (n, GS_EFORMAT,
                          "disagrees with the anchors' "
                          "tensor",
                          "n_anchors");
      cfg->n_anchors = (int)v;
    }
  if (cfg->n_anchors < 2 || cfg->n_anchors > GS_IAE_MAX_ANCHORS)
    return cfg_error (root, GS_EFORMAT,
                      "must be 2 to 16 (from n_anchors or "
                      "the anchorpoints tensor)",
                      "n_anchors");
  if ((s = gs_ynode_get (root, "bounds")))
    {
      if (s->kind != GS_YNODE_SEQUENCE || s->n != (size_t)cfg->n_anchors)
        return cfg_error (s, GS_EFORMAT,
                          "must list one [min, max] per "
                          "anchor",
                          "bounds");
      for (i = 0; i < s->n; i++)
        {
          const gs_ynode *p = s->items[i];
          if (p->kind != GS_YNODE_SEQUENCE || p->n != 2)
            return cfg_error (p, GS_EFORMAT, "entries must be [min, max]",
                              "bounds");
          if (gs_ynode_as_double (p->items[0], "bounds min", -1e6, 1e6,
                                  &cfg->bounds[i][0])
                  != GS_OK
              || gs_ynode_as_double (p->items[1], "bounds max", -1e6, 1e6,
                                     &cfg->bounds[i][1])
                     != GS_OK)
            return GS_EFORMAT;
        }
    }
  if ((rc = gs_iae_config_check (cfg, chk)) != GS_OK)
    return gs_error_prefix (GS_EFORMAT, "%s", root->file ? root->file : "?");
  for (r = 0; r <= N; r++)
    if (chk[r] != dims[r])
      {
        char msg[160];
        snprintf (msg, sizeof msg,
                  "entry %d is %d, but the kernels and strides give %d", r,
                  dims[r], chk[r]);
        return cfg_error (gs_ynode_get (root, "dims"), GS_EFORMAT, msg, "dims");
      }
  return GS_OK;
}

static char *
config_json (const gs_iae *m)
{
  const gs_iae_config *c = &m->cfg;
  gs__buf b;
  int i, N = c->n_layers;
  gs__buf_init (&b);
  gs__buf_puts (&b, "{\n \"format\": \"gspec-iae\",\n \"nuclides\": [");
  for (i = 0; i < c->n_components; i++)
    {
      if (i)
        gs__buf_puts (&b, ", ");
      gs__buf_json_string (&b, c->names[i]);
    }
  gs__buf_puts (&b, "],\n \"dims\": [");
  for (i = 0; i <= N; i++)
    gs__buf_printf (&b, "%s%d", i ? ", " : "", m->dims[i]);
  gs__buf_puts (&b, "],\n \"nsize_fsize\": [");
  for (i = 0; i < N; i++)
    gs__buf_printf (&b, "%s%d", i ? ", " : "", c->fsize[i]);
  gs__buf_puts (&b, "],\n \"nsize_fstride\": [");
  for (i = 0; i < N; i++)
    gs__buf_printf (&b, "%s%d", i ? ", " : "", c->fstride[i]);
  gs__buf_puts (&b, "],\n \"nsize_fnum\": [");
  for (i = 0; i < N; i++)
    gs__buf_printf (&b, "%s%d", i ? ", " : "", c->fnum[i]);
  gs__buf_puts (&b, "],\n \"rho_latcon\": [");
  for (i = 0; i + 1 < N; i++)
    {
      if (i)
        gs__buf_puts (&b, ", ");
      gs__buf_json_number (&b, c->rho[i]);
    }
  gs__buf_puts (&b, "],\n \"reg_inv\": ");
  gs__buf_json_number (&b, c->reg_inv);
  gs__buf_printf (&b,
                  ",\n \"mean_lambda\": true,\n \"simplex\": %s,\n "
                  "\"nonneg_weights\": %s,\n \"nneg_output\": %s,\n "
                  "\"bn_eps\": ",
                  c->projection == GS_IAE_PROJ_SIMPLEX ? "true" : "false",
                  c->projection == GS_IAE_PROJ_SIMPLEX ? "true" : "false",
                  c->nneg_output ? "true" : "false");
  gs__buf_json_number (&b, c->bn_eps);
  gs__buf_puts (&b, ",\n \"elu_alpha\": ");
  gs__buf_json_number (&b, c->elu_alpha);
  gs__buf_printf (&b, ",\n \"n_anchors\": %d,\n \"bounds\": [", c->n_anchors);
  for (i = 0; i < c->n_anchors; i++)
    {
      gs__buf_puts (&b, i ? ", [" : "[");
      gs__buf_json_number (&b, c->bounds[i][0]);
      gs__buf_puts (&b, ", ");
      gs__buf_json_number (&b, c->bounds[i][1]);
      gs__buf_puts (&b, "]");
    }
  gs__buf_puts (&b, "]\n}\n");
  if (b.failed)
    {
      gs__buf_fini (&b);
      return NULL;
    }
  return b.data;
}

/* ---- Import of the authors' export --------------------------------------- */

typedef struct iae_tensor
{
  const char *name;
  const gs_ynode *node;
  size_t shape[4];
  int ndim;
  size_t offset, count;
  int used;
} iae_tensor;

typedef struct iae_import
{
  const char *json, *f32;
  iae_tensor *t;
  size_t n;
  const unsigned char *blob;
  size_t n_floats;
} iae_import;

static float
le_float (const unsigned char *p)
{
  uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
               | (uint32_t)p[3] << 24;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

static int
parse_tensors (iae_import *im, const gs_ynode *root)
{
  const gs_ynode *s = gs_ynode_get (root, "tensors");
  size_t i, j, k;
  char w[512];
  if (!s || s->kind != GS_YNODE_SEQUENCE || s->n == 0)
    return cfg_error (s ? s : root, GS_EFORMAT,
                      "must be a list of {name, shape, offset_floats, "
                      "count}",
                      "tensors");
  if (!(im->t = calloc (s->n, sizeof *im->t)))
    return gs_error (GS_ENOMEM, "out of memory for %zu tensors", s->n);
  im->n = s->n;
  for (i = 0; i < s->n; i++)
    {
      iae_tensor *t = &im->t[i];
      const gs_ynode *e = s->items[i], *sh;
      long v;
      size_t prod = 1;
      t->node = e;
      gs_ynode_where (e, w, sizeof w);
      if (e->kind != GS_YNODE_MAPPING || !gs_ynode_get (e, "name")
          || gs_ynode_as_string (gs_ynode_get (e, "name"), "name", &t->name)
                 != GS_OK)
        return gs_error (GS_EFORMAT, "%s: tensor %zu has no name", w, i);
      sh = gs_ynode_get (e, "shape");
      if (!sh || sh->kind != GS_YNODE_SEQUENCE || sh->n < 1 || sh->n > 4)
        return gs_error (GS_EFORMAT,
                         "%s: tensor '%s' needs a shape of 1 "
                         "to 4 sizes",
                         w, t->name);
      t->ndim = (int)sh->n;
      for (k = 0; k < sh->n; k++)
        {
          if (gs_ynode_as_long (sh->items[k], "shape entry", 1, IAE_MAX_DIM, &v)
              != GS_OK)
            return gs_error_prefix (GS_EFORMAT, "tensor '%s'", t->name);
          t->shape[k] = (size_t)v;
          prod *= (size_t)v;
        }
      if (!gs_ynode_get (e, "offset_floats") || !gs_ynode_get (e, "count"))
        return gs_error (GS_EFORMAT,
                         "%s: tensor '%s' needs offset_floats "
                         "and count",
                         w, t->name);
      if (gs_ynode_as_long (gs_ynode_get (e, "offset_floats"), "offset_floats",
                            0, 1L << 40, &v)
          != GS_OK)
        return gs_error_prefix (GS_EFORMAT, "tensor '%s'", t->name);
      t->offset = (size_t)v;
      if (gs_ynode_as_long (gs_ynode_get (e, "count"), "count", 1, 1L << 40, &v)
          != GS_OK)
        return gs_error_prefix (GS_EFORMAT, "tensor '%s'", t->name);
      t->count = (size_t)v;
      if (t->count != prod)
        return gs_error (GS_EFORMAT,
                         "%s: tensor '%s' has count %zu but its shape holds "
                         "%zu values",
                         w, t->name, t->count, prod);
      for (j = 0; j < i; j++)
        if (strcmp (im->t[j].name, t->name) == 0)
          return gs_error (GS_EFORMAT, "%s: tensor '%s' is listed twice", w,
                           t->name);
    }
  return GS_OK;
}

static iae_tensor *
find_tensor (iae_import *im, const char *name)
{
  size_t i;
  for (i = 0; i < im->n; i++)
    if (strcmp (im->t[i].name, name) == 0)
      return &im->t[i];
  return NULL;
}

/* The tensor `name` with the given shape (sizes ending with 0), checked
 * and marked used; its floats are read with le_float at
 * blob + 4 offset. */
static int
get_tensor (iae_import *im, const char *name, const size_t *shape,
            iae_tensor **out)
{
  iae_tensor *t = find_tensor (im, name);
  char want[96] = "", got[96] = "";
  int nd = 0, k, ok;
  size_t i;
  while (nd < 4 && shape[nd])
    nd++;
  if (!t)
    return gs_error (GS_EFORMAT,
                     "%s: tensor '%s' is missing; the manifest does not "
                     "describe this IAE (re-export it from the .pth file)",
                     im->json, name);
  ok = t->ndim == nd;
  for (k = 0; k < nd && ok; k++)
    ok = t->shape[k] == shape[k];
  if (!ok)
    {
      for (k = 0; k < nd; k++)
        snprintf (want + strlen (want), sizeof want - strlen (want), "%s%zu",
                  k ? ", " : "", shape[k]);
      for (k = 0; k < t->ndim; k++)
        snprintf (got + strlen (got), sizeof got - strlen (got), "%s%zu",
                  k ? ", " : "", t->shape[k]);
      return gs_error (GS_EFORMAT,
                       "%s: tensor '%s' has shape (%s); the configuration "
                       "needs (%s)",
                       im->json, name, got, want);
    }
  for (i = 0; i < t->count; i++)
    {
      float v = le_float (im->blob + 4 * (t->offset + i));
      if (!isfinite (v))
        return gs_error (GS_EBADDATA,
                         "%s: tensor '%s' value %zu (float %zu of the file) "
                         "is %g; the export is corrupt",
                         im->f32, name, i, t->offset + i, (double)v);
    }
  t->used = 1;
  *out = t;
  return GS_OK;
}

static int
load_into (iae_import *im, const char *name, const size_t *shape, float *dst,
           size_t n)
{
  iae_tensor *t;
  size_t i;
  int rc;
  if ((rc = get_tensor (im, name, shape, &t)) != GS_OK)
    return rc;
  if (t->count != n)
    return gs_error (GS_EFORMAT,
                     "%s: tensor '%s' holds %zu values; the "
                     "network layer has %zu",
                     im->json, name, t->count, n);
  for (i = 0; i < n; i++)
    dst[i] = le_float (im->blob + 4 * (t->offset + i));
  return GS_OK;
}

/* Conv weights (and batchnorm when bn) of PyTorch module `mod` into the
 * engine layers <layer>_conv and <layer>_bn. */
static int
import_block (iae_import *im, gs_nn *nn, const char *mod, const char *layer,
              int out, int in, int k, int bn)
{
  static const char *const part[4]
      = { "weight", "bias", "running_mean", "running_var" };
  char name[96], lname[64];
  size_t li, nw, nb, nr, i;
  float *a[4];
  int rc, p;
  snprintf (lname, sizeof lname, "%s_conv", layer);
  if ((rc = gs_nn_find_layer (nn, lname, &li)) != GS_OK
      || (rc = gs_nn_layer_arrays (nn, li, &a[0], &nw, NULL, NULL, NULL, NULL,
                                   NULL))
             != GS_OK)
    return rc;
  snprintf (name, sizeof name, "%s.0.weight", mod);
  rc = load_into (im, name,
                  (const size_t[]){ (size_t)out, (size_t)in, (size_t)k, 0 },
                  a[0], nw);
  if (rc != GS_OK || !bn)
    return rc;
  snprintf (lname, sizeof lname, "%s_bn", layer);
  if ((rc = gs_nn_find_layer (nn, lname, &li)) != GS_OK
      || (rc = gs_nn_layer_arrays (nn, li, &a[0], &nw, &a[1], &nb, &a[2], &a[3],
                                   &nr))
             != GS_OK)
    return rc;
  for (p = 0; p < 4; p++)
    {
      snprintf (name, sizeof name, "%s.1.%s", mod, part[p]);
      rc = load_into (im, name, (const size_t[]){ (size_t)out, 0 }, a[p],
                      p == 0   ? nw
                      : p == 1 ? nb
                               : nr);
      if (rc != GS_OK)
        return rc;
    }
  for (i = 0; i < nr; i++)
    if (a[3][i] < 0)
      return gs_error (GS_EBADDATA,
                       "%s: tensor '%s.1.running_var' value "
                       "%zu is negative",
                       im->f32, mod, i);
  return GS_OK;
}

static int
import_weights (iae_import *im, gs_iae *m)
{
  const gs_iae_config *c = &m->cfg;
  int N = c->n_layers, r, rc;
  char mod[64], layer[32];
  for (r = 1; r <= N; r++)
    {
      snprintf (mod, sizeof mod, "encoder%d", r);
      snprintf (layer, sizeof layer, "e%d", r);
      rc = import_block (im, m->enc, mod, layer, c->fnum[r - 1],
                         r == 1 ? c->n_components : c->fnum[r - 2],
                         c->fsize[r - 1], 1);
      if (rc != GS_OK)
        return rc;
      if (r < N)
        {
          snprintf (mod, sizeof mod, "encoder_lat%d", r);
          snprintf (layer, sizeof layer, "l%d", r);
          rc = import_block (im, m->enc, mod, layer, c->fnum[r], c->fnum[r - 1],
                             c->fsize[r], 1);
          if (rc != GS_OK)
            return rc;
        }
    }
  for (r = 0; r < N; r++)
    {
      int in = c->fnum[N - 1 - r];
      int out = r + 1 < N ? c->fnum[N - 2 - r] : c->n_components;
      int k = r + 1 < N ? c->fsize[N - 1 - r] : c->fsize[0];
      snprintf (mod, sizeof mod, "decoder%d", r + 1);
      snprintf (layer, sizeof layer, "d%d", r + 1);
      /* ConvTranspose1d weights are (in, out, k) in both */
      if ((rc = import_block (im, m->dec, mod, layer, in, out, k, 0)) != GS_OK)
        return rc;
      if (r + 1 < N)
        {
          snprintf (mod, sizeof mod, "decoder_lat%d", r + 1);
          snprintf (layer, sizeof layer, "dl%d", r + 1);
          if ((rc = import_block (im, m->dec, mod, layer, in, out, k, 0))
              != GS_OK)
            return rc;
        }
    }
  return GS_OK;
}

/* Anchors, anchor codes (PhiE_train_*, all or none) and the Gram
 * inverses, cross-checked with iPhiE_deepest when present. */
static int
import_codes (iae_import *im, gs_iae *m)
{
  const gs_iae_config *c = &m->cfg;
  int N = c->n_layers, d = c->n_anchors, l, k, present = 0, rc;
  size_t C = (size_t)c->n_components, L = (size_t)c->length;
  size_t cs = m->lev_off[N], i, t;
  char name[64];
  iae_tensor *tt;
  rc = load_into (im, "anchorpoints", (const size_t[]){ (size_t)d, L, C, 0 },
                  m->anchors, (size_t)d * L * C);
  if (rc != GS_OK)
    return rc;
  for (l = 0; l < N; l++)
    {
      snprintf (name, sizeof name, "PhiE_train_%d", l);
      present += find_tensor (im, name) != NULL;
    }
  if (present != 0 && present != N)
    return gs_error (GS_EFORMAT,
                     "%s: %d of the %d tensors PhiE_train_0..%d "
                     "are present; give all or none",
                     im->json, present, N, N - 1);
  for (l = 0; l < N && present; l++)
    {
      size_t Cl = (size_t)m->lev_c[l], Ll = (size_t)m->lev_l[l];
      snprintf (name, sizeof name, "PhiE_train_%d", l);
      rc = get_tensor (im, name, (const size_t[]){ (size_t)d, Ll, Cl, 0 }, &tt);
      if (rc != GS_OK)
        return rc;
      /* (d, L_l, C_l) to the engine's C_l x L_l */
      for (k = 0; k < d; k++)
        for (t = 0; t < Ll; t++)
          for (i = 0; i < Cl; i++)
            m->codes[(size_t)k * cs + m->lev_off[l] + i * Ll + t] = le_float (
                im->blob + 4 * (tt->offset + ((size_t)k * Ll + t) * Cl + i));
    }
  rc = present ? iae_gram (m) : gs_iae_update_codes (m);
  if (rc != GS_OK)
    return rc;
  if (find_tensor (im, "iPhiE_deepest"))
    {
      const double *ig = m->ig + (size_t)(N - 1) * d * d;
      double num = 0, den = 0;
      rc = get_tensor (im, "iPhiE_deepest",
                       (const size_t[]){ (size_t)d, (size_t)d, 0 }, &tt);
      if (rc != GS_OK)
        return rc;
      for (i = 0; i < (size_t)d * d; i++)
        {
          double v = le_float (im->blob + 4 * (tt->offset + i));
          num += (v - ig[i]) * (v - ig[i]);
          den += v * v;
        }
      if (!(num <= 1e-6 * den))
        return gs_error (GS_EBADDATA,
                         "%s: iPhiE_deepest differs from the inverse Gram "
                         "matrix of PhiE_train_%d by %.3g (relative); the "
                         "export is inconsistent",
                         im->json, N - 1, sqrt (num / (den > 0 ? den : 1)));
    }
  return GS_OK;
}

int
gs_iae_import_pretrained (const char *json_path, const char *f32_path,
                          gs_iae **out)
{
  iae_import im;
  gs_ynode *root = NULL;
  gs_iae_config cfg;
  gs_iae *m = NULL;
  iae_tensor *a;
  char *blob = NULL;
  size_t blen = 0, i, end = 0;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_iae_import_pretrained: NULL output");
  *out = NULL;
  if (!json_path || !f32_path)
    return gs_error (GS_EINVAL, "gs_iae_import_pretrained: NULL path");
  memset (&im, 0, sizeof im);
  im.json = json_path;
  im.f32 = f32_path;
  if ((rc = gs_yaml_load_file (json_path, &root)) != GS_OK)
    {
      /* a manifest that does not parse is malformed input */
      rc = gs_error_prefix (rc == GS_ECONFIG ? GS_EFORMAT : rc, "IAE manifest");
      goto done;
    }
  if (root->kind != GS_YNODE_MAPPING)
    {
      rc = gs_error (GS_EFORMAT,
                     "%s: the IAE manifest must be a JSON "
                     "object",
                     json_path);
      goto done;
    }
  if ((rc = parse_tensors (&im, root)) != GS_OK)
    goto done;
  a = find_tensor (&im, "anchorpoints");
  if (!a || a->ndim != 3)
    {
      rc = gs_error (GS_EFORMAT,
                     "%s: tensor 'anchorpoints' (anchors, "
                     "shape (d, L, C)) is missing or not 3-D",
                     json_path);
      goto done;
    }
  if ((rc = parse_config (
           root, (int)(a->shape[0] <= GS_IAE_MAX_ANCHORS ? a->shape[0] : 0),
           &cfg))
      != GS_OK)
    goto done;
  if ((rc = gs__read_file (f32_path, &blob, &blen)) != GS_OK)
    goto done;
  for (i = 0; i < im.n; i++)
    if (im.t[i].offset + im.t[i].count > end)
      end = im.t[i].offset + im.t[i].count;
  if (blen % 4 != 0 || blen / 4 != end)
    {
      rc = gs_error (GS_EFORMAT,
                     "%s: %zu bytes, but the manifest %s describes %zu "
                     "float32 values (%zu bytes); the files do not belong "
                     "together or one is truncated",
                     f32_path, blen, json_path, end, end * 4);
      goto done;
    }
  im.blob = (const unsigned char *)blob;
  im.n_floats = end;
  if ((rc = iae_alloc (&cfg, &m)) != GS_OK
      || (rc = iae_networks (m, NULL)) != GS_OK
      || (rc = import_weights (&im, m)) != GS_OK
      || (rc = import_codes (&im, m)) != GS_OK)
    goto done;
  for (i = 0; i < im.n; i++)
    if (!im.t[i].used)
      {
        rc = gs_error (GS_EFORMAT,
                       "%s: tensor '%s' is not part of this IAE (the "
                       "configuration has %d layers, %d anchors)",
                       json_path, im.t[i].name, cfg.n_layers, cfg.n_anchors);
        goto done;
      }
  m->cfg.nneg_output = 1;
  *out = m;
  m = NULL;
done:
  gs_iae_free (m);
  free (blob);
  free (im.t);
  gs_ynode_free (root);
  return rc;
}

/* ---- Model files ------------------------------------------------------------
 */

typedef struct iae_io
{
  FILE *f;
  uint64_t hash;
  uint64_t pos; /* bytes of this layer (networks excluded) */
  int failed;
} iae_io;

static void
io_put (iae_io *w, const void *p, size_t n)
{
  const unsigned char *b = p;
  size_t i;
  if (w->failed || n == 0)
    return;
  for (i = 0; i < n; i++)
    {
      w->hash ^= b[i];
      w->hash *= IAE_FNV_PRIME;
    }
  if (fwrite (p, 1, n, w->f) != n)
    w->failed = 1;
  w->pos += n;
}

static void
io_put_u32 (iae_io *w, uint32_t v)
{
  unsigned char b[4];
  int i;
  for (i = 0; i < 4; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  io_put (w, b, 4);
}

static void
io_put_u64 (iae_io *w, uint64_t v)
{
  unsigned char b[8];
  int i;
  for (i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  io_put (w, b, 8);
}

static void
io_put_floats (iae_io *w, const float *x, size_t n)
{
  unsigned char buf[4096];
  size_t i, k = 0;
  for (i = 0; i < n; i++)
    {
      uint32_t u;
      memcpy (&u, &x[i], 4);
      buf[k++] = (unsigned char)u;
      buf[k++] = (unsigned char)(u >> 8);
      buf[k++] = (unsigned char)(u >> 16);
      buf[k++] = (unsigned char)(u >> 24);
      if (k == sizeof buf || i + 1 == n)
        {
          io_put (w, buf, k);
          k = 0;
        }
    }
}

int
gs_iae_save (const gs_iae *m, FILE *f)
{
  iae_io w;
  char *cfg;
  size_t n;
  int rc;
  if (!m || !f)
    return gs_error (GS_EINVAL, "gs_iae_save: NULL model or file");
  if (!(cfg = config_json (m)))
    return gs_error (GS_ENOMEM, "out of memory for the IAE configuration");
  memset (&w, 0, sizeof w);
  w.f = f;
  w.hash = IAE_FNV_OFFSET;
  io_put (&w, "GSIA", 4);
  io_put_u32 (&w, IAE_FILE_VERSION);
  io_put_u32 (&w, (uint32_t)strlen (cfg));
  io_put (&w, cfg, strlen (cfg));
  free (cfg);
  io_put_u64 (&w, w.hash);
  if (w.failed)
    return gs_error (GS_EIO, "IAE model: write error in the header");
  if ((rc = gs_nn_save (m->enc, f)) != GS_OK)
    return gs_error_prefix (rc, "IAE model: encoder");
  if ((rc = gs_nn_save (m->dec, f)) != GS_OK)
    return gs_error_prefix (rc, "IAE model: decoder");
  n = (size_t)m->cfg.n_anchors
      * ((size_t)m->cfg.length * m->cfg.n_components
         + m->lev_off[m->cfg.n_layers]);
  io_put_u64 (&w, (uint64_t)n);
  io_put_floats (&w, m->anchors,
                 (size_t)m->cfg.n_anchors * m->cfg.length
                     * m->cfg.n_components);
  io_put_floats (&w, m->codes,
                 (size_t)m->cfg.n_anchors * m->lev_off[m->cfg.n_layers]);
  io_put_u64 (&w, w.hash);
  if (w.failed || fflush (f) != 0)
    return gs_error (GS_EIO, "IAE model: write error");
  return GS_OK;
}

static int
io_get (iae_io *r, void *p, size_t n, const char *what)
{
  const unsigned char *b = p;
  size_t got = fread (p, 1, n, r->f), i;
  if (got != n)
    return gs_error (GS_EFORMAT,
                     "IAE model: truncated in the %s (byte %llu of this "
                     "part); the file is incomplete",
                     what, (unsigned long long)(r->pos + got));
  for (i = 0; i < n; i++)
    {
      r->hash ^= b[i];
      r->hash *= IAE_FNV_PRIME;
    }
  r->pos += n;
  return GS_OK;
}

static int
io_get_u32 (iae_io *r, uint32_t *v, const char *what)
{
  unsigned char b[4];
  int rc = io_get (r, b, 4, what);
  *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16
       | (uint32_t)b[3] << 24;
  return rc;
}

static int
io_get_u64 (iae_io *r, uint64_t *v, const char *what)
{
  uint32_t lo = 0, hi = 0;
  int rc = io_get_u32 (r, &lo, what);
  if (rc == GS_OK)
    rc = io_get_u32 (r, &hi, what);
  *v = (uint64_t)lo | (uint64_t)hi << 32;
  return rc;
}

static int
io_check_sum (iae_io *r, const char *what)
{
  uint64_t want = r->hash, got;
  int rc = io_get_u64 (r, &got, what);
  if (rc != GS_OK)
    return rc;
  if (got != want)
    return gs_error (GS_EFORMAT,
                     "IAE model: the %s checksum does not "
                     "match; the file is corrupt",
                     what);
  return GS_OK;
}

static int
io_get_floats (iae_io *r, float *x, size_t n, const char *what)
{
  unsigned char buf[4096];
  size_t i = 0, k, m;
  int rc;
  while (i < n)
    {
      m = n - i < sizeof buf / 4 ? n - i : sizeof buf / 4;
      if ((rc = io_get (r, buf, 4 * m, what)) != GS_OK)
        return rc;
      for (k = 0; k < m; k++, i++)
        x[i] = le_float (buf + 4 * k);
    }
  return GS_OK;
}

static int
load_net (FILE *f, const char *arch, int c, int l, const char *what,
          gs_nn **out)
{
  int rc = gs_nn_load (f, NULL, out), ic, il;
  if (rc != GS_OK)
    return gs_error_prefix (rc == GS_ENOMEM ? rc : GS_EFORMAT, "IAE model: %s",
                            what);
  gs_nn_input_shape (*out, &ic, &il);
  if (strcmp (gs_nn_arch (*out), arch) != 0 || ic != c || il != l)
    return gs_error (GS_EFORMAT,
                     "IAE model: the %s is not the network the "
                     "configuration describes; the file is corrupt",
                     what);
  return GS_OK;
}

int
gs_iae_load (FILE *f, gs_iae **out)
{
  iae_io r;
  unsigned char magic[4];
  uint32_t version, n;
  uint64_t count, want;
  char *text = NULL;
  gs_ynode *root = NULL;
  gs_iae_config cfg;
  gs_iae *m = NULL;
  size_t na;
  int rc, N;
  if (!out)
    return gs_error (GS_EINVAL, "gs_iae_load: NULL output");
  *out = NULL;
  if (!f)
    return gs_error (GS_EINVAL, "gs_iae_load: NULL file");
  memset (&r, 0, sizeof r);
  r.f = f;
  r.hash = IAE_FNV_OFFSET;
  if ((rc = io_get (&r, magic, 4, "header")) != GS_OK)
    return rc;
  if (memcmp (magic, "GSIA", 4) != 0)
    return gs_error (GS_EFORMAT, "IAE model: bad magic (not a gspec IAE "
                                 "model file)");
  if ((rc = io_get_u32 (&r, &version, "header")) != GS_OK
      || (rc = io_get_u32 (&r, &n, "header")) != GS_OK)
    return rc;
  if (version != IAE_FILE_VERSION)
    return gs_error (GS_EFORMAT,
                     "IAE model: format version %u; this gspec "
                     "reads %u",
                     version, IAE_FILE_VERSION);
  if (n == 0 || n > IAE_FILE_MAX_CONFIG)
    return gs_error (GS_EFORMAT,
                     "IAE model: configuration of %u bytes "
                     "(1 to %u allowed); the file is corrupt",
                     n, IAE_FILE_MAX_CONFIG);
  if (!(text = malloc ((size_t)n + 1)))
    return gs_error (GS_ENOMEM, "out of memory for the IAE configuration");
  if ((rc = io_get (&r, text, n, "configuration")) != GS_OK
      || (rc = io_check_sum (&r, "header")) != GS_OK)
    goto done;
  text[n] = '\0';
  if (strlen (text) != n)
    {
      rc = gs_error (GS_EFORMAT, "IAE model: NUL byte in the configuration");
      goto done;
    }
  if ((rc = gs_yaml_load_string (text, "IAE model configuration", &root))
          != GS_OK
      || (rc = parse_config (root, 0, &cfg)) != GS_OK)
    {
      rc = gs_error_prefix (GS_EFORMAT, "IAE model");
      goto done;
    }
  if ((rc = iae_alloc (&cfg, &m)) != GS_OK)
    goto done;
  N = cfg.n_layers;
  if ((rc = load_net (f, m->enc_arch, cfg.n_components, cfg.length, "encoder",
                      &m->enc))
          != GS_OK
      || (rc = load_net (f, m->dec_arch, m->lev_c[N - 1], m->lev_l[N - 1],
                         "decoder", &m->dec))
             != GS_OK)
    goto done;
  gs_nn_set_mode (m->enc, GS_NN_BN_BATCH);
  gs_nn_set_mode (m->dec, GS_NN_EVAL);
  na = (size_t)cfg.n_anchors * cfg.length * cfg.n_components;
  want = (uint64_t)na + (uint64_t)cfg.n_anchors * m->lev_off[N];
  if ((rc = io_get_u64 (&r, &count, "anchors")) != GS_OK)
    goto done;
  if (count != want)
    {
      rc = gs_error (GS_EFORMAT,
                     "IAE model: %llu anchor values; the "
                     "configuration needs %llu; the file is corrupt",
                     (unsigned long long)count, (unsigned long long)want);
      goto done;
    }
  if ((rc = io_get_floats (&r, m->anchors, na, "anchors")) != GS_OK
      || (rc
          = io_get_floats (&r, m->codes, (size_t)cfg.n_anchors * m->lev_off[N],
                           "anchor codes"))
             != GS_OK
      || (rc = io_check_sum (&r, "data")) != GS_OK)
    goto done;
  if (check_finite_floats (m->anchors, na, "anchors") != GS_OK
      || check_finite_floats (m->codes, (size_t)cfg.n_anchors * m->lev_off[N],
                              "anchor codes")
             != GS_OK)
    {
      rc = gs_error_prefix (GS_EFORMAT, "IAE model");
      goto done;
    }
  if ((rc = iae_gram (m)) != GS_OK)
    goto done;
  *out = m;
  m = NULL;
done:
  gs_iae_free (m);
  gs_ynode_free (root);
  free (text);
  return rc;
}

int
gs_iae_save_file (const gs_iae *m, const char *path)
{
  char *tmp;
  FILE *f;
  int rc;
  if (!m || !path)
    return gs_error (GS_EINVAL, "gs_iae_save_file: NULL model or path");
  if (!(tmp = gs__asprintf ("%s.tmp", path)))
    return gs_error (GS_ENOMEM, "out of memory for a path");
  if (!(f = fopen (tmp, "wb")))
    {
      rc = gs_error (GS_EIO, "cannot create '%s'", tmp);
      free (tmp);
      return rc;
    }
  rc = gs_iae_save (m, f);
  if (fclose (f) != 0 && rc == GS_OK)
    rc = gs_error (GS_EIO, "cannot write '%s'", tmp);
  if (rc == GS_OK && rename (tmp, path) != 0)
    rc = gs_error (GS_EIO, "cannot rename '%s' to '%s'", tmp, path);
  if (rc != GS_OK)
    {
      remove (tmp);
      gs_error_prefix (rc, "%s", path);
    }
  free (tmp);
  return rc;
}

int
gs_iae_load_file (const char *path, gs_iae **out)
{
  FILE *f;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_iae_load_file: NULL output");
  *out = NULL;
  if (!path)
    return gs_error (GS_EINVAL, "gs_iae_load_file: NULL path");
  if (!(f = fopen (path, "rb")))
    return gs_error (GS_ENOENT, "cannot open IAE model '%s'", path);
  rc = gs_iae_load (f, out);
  if (rc == GS_OK && fgetc (f) != EOF)
    {
      gs_iae_free (*out);
      *out = NULL;
      rc = gs_error (GS_EFORMAT, "IAE model: bytes after the end; the file "
                                 "is corrupt");
    }
  fclose (f);
  if (rc != GS_OK)
    gs_error_prefix (rc, "%s", path);
  return rc;
}
