/* The NN engine's graph (gspec/nn.h): architecture parsing, shapes, the
 * flat parameter and gradient arrays, initialisation, activations,
 * forward / backward orchestration and the worker pool.  The layer
 * kernels live in nn_layers.c behind nn_internal.h. */
#include "gspec/nn.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "nn_internal.h"
#include "util.h"
#include "yamltree.h"

#define NN_ALIGN 64
#define NN_MAX_THREADS 1024
#define NN_MAX_FEATURES (1L << 28) /* per-sample elements of one tensor */
#define NN_MAX_PARAMS ((size_t)1 << 31)

/* ---- Worker pool ------------------------------------------------------ */

typedef struct nn_pool
{
  int threads; /* workers, the calling thread included */
  pthread_t *tid;
  int started; /* threads created */
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  unsigned long gen; /* job generation */
  int quit;
  gs_nn_task_fn fn;
  void *arg;
  size_t n;
  atomic_size_t next;
  int running; /* workers still on the current job */
  int status;
  size_t status_i;
} nn_pool;

typedef struct nn_worker_arg
{
  nn_pool *pool;
  int index;
} nn_worker_arg;

static _Thread_local nn_pool *nn_tl_pool;
static _Thread_local int nn_tl_index;

static void
pool_run_tasks (nn_pool *p)
{
  for (;;)
    {
      size_t i = atomic_fetch_add (&p->next, 1);
      int rc;
      if (i >= p->n)
        break;
      rc = p->fn (p->arg, i);
      if (rc != GS_OK)
        {
          pthread_mutex_lock (&p->mu);
          if (p->status == GS_OK || i < p->status_i)
            {
              p->status = rc;
              p->status_i = i;
            }
          pthread_mutex_unlock (&p->mu);
        }
    }
}

static void *
pool_worker (void *varg)
{
  nn_worker_arg *wa = varg;
  nn_pool *p = wa->pool;
  unsigned long seen = 0;
  nn_tl_pool = p;
  nn_tl_index = wa->index;
  free (wa);
  pthread_mutex_lock (&p->mu);
  for (;;)
    {
      while (!p->quit && p->gen == seen)
        pthread_cond_wait (&p->go, &p->mu);
      if (p->quit)
        break;
      seen = p->gen;
      pthread_mutex_unlock (&p->mu);
      pool_run_tasks (p);
      pthread_mutex_lock (&p->mu);
      if (--p->running == 0)
        pthread_cond_signal (&p->done);
    }
  pthread_mutex_unlock (&p->mu);
  return NULL;
}

static void
pool_free (nn_pool *p)
{
  int i;
  if (!p)
    return;
  pthread_mutex_lock (&p->mu);
  p->quit = 1;
  pthread_cond_broadcast (&p->go);
  pthread_mutex_unlock (&p->mu);
  for (i = 0; i < p->started; i++)
    pthread_join (p->tid[i], NULL);
  pthread_cond_destroy (&p->go);
  pthread_cond_destroy (&p->done);
  pthread_mutex_destroy (&p->mu);
  free (p->tid);
  free (p);
}

/* A pool of `threads` workers (threads - 1 new threads); NULL for one. */
static int
pool_create (int threads, nn_pool **out)
{
  nn_pool *p;
  int i;
  *out = NULL;
  if (threads <= 1)
    return GS_OK;
  p = calloc (1, sizeof *p);
  if (!p)
    return gs_error (GS_ENOMEM, "out of memory for the NN worker pool");
  p->tid = calloc ((size_t)threads, sizeof *p->tid);
  if (!p->tid)
    {
      free (p);
      return gs_error (GS_ENOMEM, "out of memory for the NN worker pool");
    }
  p->threads = threads;
  atomic_init (&p->next, 0);
  pthread_mutex_init (&p->mu, NULL);
  pthread_cond_init (&p->go, NULL);
  pthread_cond_init (&p->done, NULL);
  for (i = 1; i < threads; i++)
    {
      nn_worker_arg *wa = malloc (sizeof *wa);
      if (!wa)
        {
          pool_free (p);
          return gs_error (GS_ENOMEM, "out of memory for the NN worker pool");
        }
      wa->pool = p;
      wa->index = i;
      if (pthread_create (&p->tid[p->started], NULL, pool_worker, wa) != 0)
        {
          free (wa);
          pool_free (p);
          return gs_error (GS_EFAILED,
                           "cannot start NN worker thread %d of "
                           "%d; use fewer threads",
                           i, threads - 1);
        }
      p->started++;
    }
  *out = p;
  return GS_OK;
}

static int
pool_parallel (void *vpool, size_t n, gs_nn_task_fn fn, void *arg)
{
  nn_pool *p = vpool;
  size_t i;
  int rc;
  if (!p || p->threads <= 1 || n <= 1)
    {
      for (i = 0; i < n; i++)
        if ((rc = fn (arg, i)) != GS_OK)
          return rc;
      return GS_OK;
    }
  pthread_mutex_lock (&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  atomic_store (&p->next, 0);
  p->status = GS_OK;
  p->status_i = 0;
  p->running = p->threads - 1;
  p->gen++;
  pthread_cond_broadcast (&p->go);
  pthread_mutex_unlock (&p->mu);
  pool_run_tasks (p);
  pthread_mutex_lock (&p->mu);
  while (p->running > 0)
    pthread_cond_wait (&p->done, &p->mu);
  rc = p->status;
  pthread_mutex_unlock (&p->mu);
  return rc;
}

static int
pool_thread_index (void *vpool)
{
  return vpool && nn_tl_pool == vpool ? nn_tl_index : 0;
}

/* ---- The network ------------------------------------------------------ */

struct gs_nn
{
  char *arch;
  int in_c, in_l;
  size_t n_layers;
  gs_nn_layer *layers;
  float *params, *grads; /* NN_ALIGN-aligned */
  size_t n_params;
  float *running; /* batchnorm running statistics: mean then var */
  size_t n_running;
  int threads;
  uint64_t seed;
  uint64_t step; /* forward passes made in a dropout mode */
  int mode;
  nn_pool *pool;
  /* activations */
  int cap;       /* samples the output buffers hold */
  int grad_cap;  /* samples the gradient buffers hold */
  int batch;     /* of the last forward; 0: none */
  gs_nn_ctx fwd; /* context of the last forward */
  float *input;  /* copy of the last forward's input */
  float *dinput; /* dL/dinput */
  float **act;   /* per layer: output */
  float **grad;  /* per layer: dL/doutput */
  size_t *scratch_size;
  int *prop; /* backward: layer runs */
  int *nuse; /* backward: running consumers of each layer's output, then
                of the network input (n_layers + 1) */
  int *reach; /* backward: a gradient reaches the layer's output */
  int *inj;   /* backward: index into the injected gradients, or -1 */
  size_t n_extra;                  /* `input` layers */
  size_t extra_idx[GS_NN_MAX_EXTRA]; /* their layer indices, in order */
};

static void *
nn_alloc (size_t bytes)
{
  size_t r;
  void *p;
  if (bytes > SIZE_MAX - NN_ALIGN)
    return NULL;
  r = (bytes + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
  if (r == 0)
    r = NN_ALIGN;
  p = aligned_alloc (NN_ALIGN, r);
  if (p)
    memset (p, 0, r);
  return p;
}

static size_t
sample_size (int c, int l)
{
  return (size_t)c * (size_t)l;
}

void
gs_nn_opts_init (gs_nn_opts *o)
{
  if (!o)
    return;
  memset (o, 0, sizeof *o);
  o->threads = 1;
  o->seed = 1;
}

/* ---- Architecture: option and type tables ------------------------------ */

typedef enum nn_opt_type
{
  OPT_INT,
  OPT_REAL,
  OPT_BOOL,
  OPT_INIT,
  OPT_MODE,
  OPT_WEIGHTS
} nn_opt_type;

typedef struct nn_opt
{
  const char *key;
  nn_opt_type type;
  double min, max; /* INT / REAL, inclusive */
  size_t offset;   /* into gs_nn_layer (int or double by type) */
} nn_opt;

enum
{
  O_OUT,
  O_KERNEL,
  O_STRIDE,
  O_PADDING,
  O_DILATION,
  O_OUTPUT_PADDING,
  O_BIAS,
  O_INIT,
  O_P,
  O_ALPHA,
  O_SLOPE,
  O_EPS,
  O_MOMENTUM,
  O_MODE,
  O_SCALE,
  O_SIZE,
  O_CHANNELS,
  O_LENGTH,
  O_WEIGHTS,
  O_N
};

#define BIT(o) (1u << (o))

/* Bounds keep every int product of the shape arithmetic (dilation x
 * kernel, length + 2 x padding, ...) far from overflow. */
static const nn_opt nn_opts[O_N] = {
  { "out", OPT_INT, 1, 1 << 24, offsetof (gs_nn_layer, out) },
  { "kernel", OPT_INT, 1, 1 << 16, offsetof (gs_nn_layer, kernel) },
  { "stride", OPT_INT, 1, 1 << 16, offsetof (gs_nn_layer, stride) },
  { "padding", OPT_INT, 0, 1 << 16, offsetof (gs_nn_layer, padding) },
  { "dilation", OPT_INT, 1, 1 << 12, offsetof (gs_nn_layer, dilation) },
  { "output_padding", OPT_INT, 0, 1 << 16,
    offsetof (gs_nn_layer, output_padding) },
  { "bias", OPT_BOOL, 0, 0, offsetof (gs_nn_layer, bias) },
  { "init", OPT_INIT, 0, 0, offsetof (gs_nn_layer, init) },
  { "p", OPT_REAL, 0, 0.999999, offsetof (gs_nn_layer, p) },
  { "alpha", OPT_REAL, 0, 1e6, offsetof (gs_nn_layer, alpha) },
  { "slope", OPT_REAL, -1e6, 1e6, offsetof (gs_nn_layer, alpha) },
  { "eps", OPT_REAL, 1e-30, 1, offsetof (gs_nn_layer, eps) },
  { "momentum", OPT_REAL, 0, 1, offsetof (gs_nn_layer, momentum) },
  { "mode", OPT_MODE, 0, 0, 0 },
  { "scale", OPT_INT, 1, 1 << 16, offsetof (gs_nn_layer, scale) },
  { "size", OPT_INT, 1, 1 << 24, offsetof (gs_nn_layer, size) },
  { "channels", OPT_INT, 1, 1 << 24, offsetof (gs_nn_layer, channels) },
  { "length", OPT_INT, 1, 1 << 24, offsetof (gs_nn_layer, length) },
  { "weights", OPT_WEIGHTS, -1e6, 1e6, 0 },
};

typedef struct nn_type
{
  const char *name;
  gs_nn_kind kind;
  unsigned allowed, required;
  int multi; /* 1: add / concat (>= 2 inputs, `inputs` required) */
} nn_type;

#define CONV_OPTS                                                              \
  (BIT (O_OUT) | BIT (O_KERNEL) | BIT (O_STRIDE) | BIT (O_PADDING)             \
   | BIT (O_DILATION) | BIT (O_BIAS) | BIT (O_INIT))
#define POOL_OPTS (BIT (O_KERNEL) | BIT (O_STRIDE) | BIT (O_PADDING))

static const nn_type nn_types[] = {
  { "conv1d", GS_NN_CONV1D, CONV_OPTS, BIT (O_OUT) | BIT (O_KERNEL), 0 },
  { "convtranspose1d", GS_NN_CONVT1D, CONV_OPTS | BIT (O_OUTPUT_PADDING),
    BIT (O_OUT) | BIT (O_KERNEL), 0 },
  { "maxpool1d", GS_NN_MAXPOOL1D, POOL_OPTS, BIT (O_KERNEL), 0 },
  { "avgpool1d", GS_NN_AVGPOOL1D, POOL_OPTS, BIT (O_KERNEL), 0 },
  { "globalavgpool", GS_NN_GAVGPOOL, 0, 0, 0 },
  { "globalmaxpool", GS_NN_GMAXPOOL, 0, 0, 0 },
  { "batchnorm1d", GS_NN_BATCHNORM1D, BIT (O_EPS) | BIT (O_MOMENTUM), 0, 0 },
  { "linear", GS_NN_LINEAR, BIT (O_OUT) | BIT (O_BIAS) | BIT (O_INIT),
    BIT (O_OUT), 0 },
  { "flatten", GS_NN_FLATTEN, 0, 0, 0 },
  { "dropout", GS_NN_DROPOUT_LAYER, BIT (O_P), 0, 0 },
  { "spatial_dropout", GS_NN_SPATIAL_DROPOUT, BIT (O_P), 0, 0 },
  { "relu", GS_NN_RELU, 0, 0, 0 },
  { "sigmoid", GS_NN_SIGMOID, 0, 0, 0 },
  { "elu", GS_NN_ELU, BIT (O_ALPHA), 0, 0 },
  { "leakyrelu", GS_NN_LEAKYRELU, BIT (O_SLOPE), 0, 0 },
  { "softmax", GS_NN_SOFTMAX, 0, 0, 0 },
  { "upsample", GS_NN_UPSAMPLE_NEAREST,
    BIT (O_MODE) | BIT (O_SCALE) | BIT (O_SIZE), 0, 0 },
  { "add", GS_NN_ADD, BIT (O_WEIGHTS), 0, 1 },
  { "concat", GS_NN_CONCAT, 0, 0, 1 },
  { "input", GS_NN_INPUT, BIT (O_CHANNELS) | BIT (O_LENGTH),
    BIT (O_CHANNELS) | BIT (O_LENGTH), 0 },
};

#define NN_N_TYPES (sizeof nn_types / sizeof nn_types[0])

static const char *
type_name (gs_nn_kind k)
{
  size_t i;
  if (k == GS_NN_UPSAMPLE_LINEAR)
    return "upsample";
  for (i = 0; i < NN_N_TYPES; i++)
    if (nn_types[i].kind == k)
      return nn_types[i].name;
  return "?";
}

/* "layer I (TYPE): FILE:LINE:COL: message" as a GS_ECONFIG error. */
static int layer_error (int index, const char *type, const gs_ynode *at,
                        const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
layer_error (int index, const char *type, const gs_ynode *at, const char *fmt,
             ...)
{
  char where[256], msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  gs_ynode_where (at, where, sizeof where);
  if (type)
    return gs_error (GS_ECONFIG, "layer %d (%s): %s: %s", index, type, where,
                     msg);
  return gs_error (GS_ECONFIG, "layer %d: %s: %s", index, where, msg);
}

static void
valid_options (const nn_type *t, gs__buf *b)
{
  int o;
  gs__buf_puts (b, "type, name, inputs");
  for (o = 0; o < O_N; o++)
    if (t->allowed & BIT (o))
      gs__buf_printf (b, ", %s", nn_opts[o].key);
}

static int
parse_option (gs_nn_layer *L, const nn_type *t, int o, const gs_ynode *v)
{
  const nn_opt *d = &nn_opts[o];
  char *base = (char *)L;
  const char *s;
  long lv;
  double dv;
  int rc = GS_OK, bv;
  switch (d->type)
    {
    case OPT_INT:
      rc = gs_ynode_as_long (v, d->key, (long)d->min, (long)d->max, &lv);
      if (rc == GS_OK)
        *(int *)(base + d->offset) = (int)lv;
      break;
    case OPT_REAL:
      rc = gs_ynode_as_double (v, d->key, d->min, d->max, &dv);
      if (rc == GS_OK)
        *(double *)(base + d->offset) = dv;
      break;
    case OPT_BOOL:
      rc = gs_ynode_as_bool (v, d->key, &bv);
      if (rc == GS_OK)
        *(int *)(base + d->offset) = bv;
      break;
    case OPT_INIT:
      rc = gs_ynode_as_string (v, d->key, &s);
      if (rc != GS_OK)
        break;
      if (strcmp (s, "he") == 0)
        L->init = GS_NN_INIT_HE;
      else if (strcmp (s, "glorot") == 0)
        L->init = GS_NN_INIT_GLOROT;
      else if (strcmp (s, "torch") == 0)
        L->init = GS_NN_INIT_TORCH;
      else
        return layer_error (L->index, t->name, v,
                            "init '%s' is unknown; valid: he, glorot, torch",
                            s);
      break;
    case OPT_WEIGHTS:
      {
        size_t k;
        if (v->kind != GS_YNODE_SEQUENCE || v->n < 2
            || v->n > GS_NN_MAX_INPUTS)
          return layer_error (L->index, t->name, v,
                              "weights must be a list of 2 to %d numbers, "
                              "one per input", GS_NN_MAX_INPUTS);
        for (k = 0; k < v->n && rc == GS_OK; k++)
          rc = gs_ynode_as_double (v->items[k], d->key, d->min, d->max,
                                   &L->weights[k]);
        L->n_weights = (int)v->n;
        break;
      }
    case OPT_MODE:
      rc = gs_ynode_as_string (v, d->key, &s);
      if (rc != GS_OK)
        break;
      if (strcmp (s, "nearest") == 0)
        L->kind = GS_NN_UPSAMPLE_NEAREST;
      else if (strcmp (s, "linear") == 0)
        L->kind = GS_NN_UPSAMPLE_LINEAR;
      else
        return layer_error (L->index, t->name, v,
                            "mode '%s' is unknown; valid: linear, nearest", s);
      break;
    }
  if (rc != GS_OK)
    return gs_error_prefix (GS_ECONFIG, "layer %d (%s)", L->index, t->name);
  return GS_OK;
}

static void
layer_defaults (gs_nn_layer *L, const nn_type *t, int index)
{
  memset (L, 0, sizeof *L);
  L->kind = t->kind;
  L->index = index;
  L->stride = 1;
  L->dilation = 1;
  L->bias = 1;
  L->init = GS_NN_INIT_HE;
  L->p = 0.5;
  L->alpha = t->kind == GS_NN_LEAKYRELU ? 0.01 : 1.0;
  L->eps = 1e-5;
  L->momentum = 0.1;
}

/* One entry of `inputs` to a producer index (-1: the network input). */
static int
resolve_input (const gs_nn_layer *layers, int index, const char *type,
               const gs_ynode *v, int *out)
{
  const char *s;
  long k;
  int j, rc;
  rc = gs_ynode_as_string (v, "inputs", &s);
  if (rc != GS_OK)
    return gs_error_prefix (GS_ECONFIG, "layer %d (%s)", index, type);
  if (strcmp (s, "input") == 0)
    {
      *out = -1;
      return GS_OK;
    }
  if (gs__parse_long (s, &k) == GS_OK)
    {
      if (k < 0 && k >= -(long)index - 1)
        {
          *out = index + (int)k;
          return GS_OK;
        }
      if (k >= 0 && k < index)
        {
          *out = (int)k;
          return GS_OK;
        }
      return layer_error (index, type, v,
                          "inputs entry %ld must be an earlier layer "
                          "(0..%d, or -1..-%d back), a layer name or "
                          "'input'",
                          k, index - 1, index + 1);
    }
  for (j = 0; j < index; j++)
    if (layers[j].name[0] && strcmp (layers[j].name, s) == 0)
      {
        *out = j;
        return GS_OK;
      }
  {
    gs__buf b;
    int any = 0;
    gs__buf_init (&b);
    for (j = 0; j < index; j++)
      if (layers[j].name[0])
        {
          gs__buf_printf (&b, "%s%s", any ? ", " : "", layers[j].name);
          any = 1;
        }
    rc = layer_error (index, type, v,
                      "inputs entry '%s' names no earlier layer (named "
                      "earlier layers: %s); use a name, an index or "
                      "'input'",
                      s, any && b.data ? b.data : "none");
    gs__buf_fini (&b);
    return rc;
  }
}

static int
parse_layer (gs_nn_layer *layers, int index, const gs_ynode *m)
{
  gs_nn_layer *L = &layers[index];
  const gs_ynode *tn, *v;
  const nn_type *t = NULL;
  const char *ts;
  unsigned seen = 0;
  size_t i, k;
  int o, rc;

  if (!m || m->kind != GS_YNODE_MAPPING)
    return layer_error (index, NULL, m,
                        "a layer must be a mapping with a 'type', e.g. "
                        "{type: conv1d, out: 16, kernel: 5}");
  tn = gs_ynode_get (m, "type");
  if (!tn)
    return layer_error (index, NULL, m, "missing 'type'");
  if ((rc = gs_ynode_as_string (tn, "type", &ts)) != GS_OK)
    return gs_error_prefix (rc, "layer %d", index);
  for (i = 0; i < NN_N_TYPES; i++)
    if (strcmp (nn_types[i].name, ts) == 0)
      t = &nn_types[i];
  if (!t)
    {
      gs__buf b;
      gs__buf_init (&b);
      for (i = 0; i < NN_N_TYPES; i++)
        gs__buf_printf (&b, "%s%s", i ? ", " : "", nn_types[i].name);
      rc = layer_error (index, NULL, tn, "unknown type '%s'; valid types: %s",
                        ts, b.data ? b.data : "");
      gs__buf_fini (&b);
      return rc;
    }
  layer_defaults (L, t, index);

  for (i = 0; i < m->n; i++)
    {
      const char *key = m->keys[i];
      v = m->items[i];
      if (strcmp (key, "type") == 0)
        continue;
      if (strcmp (key, "name") == 0)
        {
          const char *name;
          long dummy;
          if ((rc = gs_ynode_as_string (v, "name", &name)) != GS_OK)
            return gs_error_prefix (rc, "layer %d (%s)", index, t->name);
          if (!name[0] || strlen (name) >= sizeof L->name
              || strcmp (name, "input") == 0
              || gs__parse_long (name, &dummy) == GS_OK)
            return layer_error (index, t->name, v,
                                "name '%s' must be 1..%d characters, not "
                                "'input' nor a number",
                                name, (int)sizeof L->name - 1);
          for (k = 0; k < (size_t)index; k++)
            if (strcmp (layers[k].name, name) == 0)
              return layer_error (index, t->name, v,
                                  "name '%s' is already used by layer %d", name,
                                  (int)k);
          memcpy (L->name, name, strlen (name) + 1);
          continue;
        }
      if (strcmp (key, "inputs") == 0)
        continue; /* below, once the options are known */
      for (o = 0; o < O_N; o++)
        if ((t->allowed & BIT (o)) && strcmp (nn_opts[o].key, key) == 0)
          break;
      if (o == O_N)
        {
          gs__buf b;
          char where[256];
          gs__buf_init (&b);
          valid_options (t, &b);
          snprintf (where, sizeof where, "?");
          if (m->key_line)
            snprintf (where, sizeof where, "%s:%zu:%zu",
                      m->file ? m->file : "?", m->key_line[i],
                      m->key_column[i]);
          rc = gs_error (GS_ECONFIG,
                         "layer %d (%s): %s: unknown option '%s'; valid "
                         "options for %s: %s",
                         index, t->name, where, key, t->name,
                         b.data ? b.data : "");
          gs__buf_fini (&b);
          return rc;
        }
      if ((rc = parse_option (L, t, o, v)) != GS_OK)
        return rc;
      seen |= BIT (o);
    }
  for (o = 0; o < O_N; o++)
    if ((t->required & BIT (o)) && !(seen & BIT (o)))
      return layer_error (index, t->name, m, "missing option '%s'",
                          nn_opts[o].key);
  if ((t->kind == GS_NN_MAXPOOL1D || t->kind == GS_NN_AVGPOOL1D)
      && !(seen & BIT (O_STRIDE)))
    L->stride = L->kernel;
  if (strcmp (t->name, "upsample") == 0
      && !!(seen & BIT (O_SCALE)) == !!(seen & BIT (O_SIZE)))
    return layer_error (index, t->name, m,
                        "give exactly one of 'scale' (integer factor) and "
                        "'size' (output length)");

  /* Inputs. */
  v = gs_ynode_get (m, "inputs");
  if (t->kind == GS_NN_INPUT)
    {
      if (v)
        return layer_error (index, t->name, v,
                            "an input layer takes no 'inputs': it is fed "
                            "by the caller (gs_nn_forward_multi)");
      L->n_in = 0;
      return GS_OK;
    }
  if (!v)
    {
      if (t->multi)
        return layer_error (index, t->name, m,
                            "missing 'inputs' (2 to %d layers to combine)",
                            GS_NN_MAX_INPUTS);
      L->n_in = 1;
      L->in[0] = index - 1;
    }
  else
    {
      size_t n = v->kind == GS_YNODE_SEQUENCE ? v->n : 1;
      size_t lo = t->multi ? 2 : 1, hi = t->multi ? GS_NN_MAX_INPUTS : 1;
      if (v->kind == GS_YNODE_MAPPING || n < lo || n > hi)
        {
          if (v->kind == GS_YNODE_MAPPING)
            return layer_error (index, t->name, v,
                                "'inputs' must be a list of layers, not a "
                                "mapping");
          if (t->multi)
            return layer_error (index, t->name, v,
                                "'inputs' must list 2 to %d layers, got %zu",
                                GS_NN_MAX_INPUTS, n);
          return layer_error (index, t->name, v,
                              "'inputs' must name exactly one layer, got %zu",
                              n);
        }
      for (k = 0; k < n; k++)
        {
          const gs_ynode *e = v->kind == GS_YNODE_SEQUENCE ? v->items[k] : v;
          rc = resolve_input (layers, index, t->name, e, &L->in[k]);
          if (rc != GS_OK)
            return rc;
        }
      L->n_in = (int)n;
    }
  return GS_OK;
}

/* ---- Creation ----------------------------------------------------------- */

static void
init_params (gs_nn *nn)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  size_t i, j;
  if (!r)
    return;
  gsl_rng_set (r, (unsigned long)nn->seed);
  for (i = 0; i < nn->n_layers; i++)
    {
      gs_nn_layer *L = &nn->layers[i];
      double fan_in = 0, fan_out = 0, a;
      if (L->kind == GS_NN_BATCHNORM1D)
        {
          for (j = 0; j < L->n_w; j++)
            L->w[j] = 1.0f;
          for (j = 0; j < L->n_b; j++)
            L->b[j] = 0.0f;
          continue;
        }
      if (L->n_w == 0 && L->n_b == 0)
        continue;
      gs_nn_layer_fans (L, &fan_in, &fan_out);
      if (fan_in < 1)
        fan_in = 1;
      if (fan_out < 1)
        fan_out = 1;
      switch (L->init)
        {
        case GS_NN_INIT_HE:
          a = sqrt (2.0 / fan_in);
          for (j = 0; j < L->n_w; j++)
            L->w[j] = (float)gsl_ran_gaussian (r, a);
          break;
        case GS_NN_INIT_GLOROT:
          a = sqrt (6.0 / (fan_in + fan_out));
          for (j = 0; j < L->n_w; j++)
            L->w[j] = (float)(a * (2.0 * gsl_rng_uniform (r) - 1.0));
          break;
        case GS_NN_INIT_TORCH:
          a = 1.0 / sqrt (fan_in);
          for (j = 0; j < L->n_w; j++)
            L->w[j] = (float)(a * (2.0 * gsl_rng_uniform (r) - 1.0));
          for (j = 0; j < L->n_b; j++)
            L->b[j] = (float)(a * (2.0 * gsl_rng_uniform (r) - 1.0));
          break;
        }
    }
  gsl_rng_free (r);
}

static int
build (gs_nn *nn, const gs_ynode *root)
{
  size_t i, off, roff;
  int k, rc;
  if (!root || root->kind != GS_YNODE_SEQUENCE || root->n == 0)
    {
      char where[256];
      gs_ynode_where (root, where, sizeof where);
      return gs_error (GS_ECONFIG,
                       "%s: the architecture must be a non-empty "
                       "sequence of layers, e.g. [{type: conv1d, out: 16, "
                       "kernel: 5}, {type: relu}]",
                       where);
    }
  if (root->n > 100000)
    return gs_error (GS_ECONFIG,
                     "the architecture has %zu layers; at most "
                     "100000 are supported",
                     root->n);
  nn->n_layers = root->n;
  nn->layers = calloc (root->n, sizeof *nn->layers);
  if (!nn->layers)
    return gs_error (GS_ENOMEM, "out of memory for %zu layers", root->n);
  nn->n_params = 0;
  nn->n_running = 0;
  for (i = 0; i < root->n; i++)
    {
      gs_nn_layer *L = &nn->layers[i];
      size_t nw, nb, nr;
      if ((rc = parse_layer (nn->layers, (int)i, root->items[i])) != GS_OK)
        return rc;
      for (k = 0; k < L->n_in; k++)
        {
          int p = L->in[k];
          L->in_c[k] = p < 0 ? nn->in_c : nn->layers[p].c;
          L->in_l[k] = p < 0 ? nn->in_l : nn->layers[p].l;
        }
      if ((rc = gs_nn_layer_shape (L)) != GS_OK)
        return rc;
      if (L->kind == GS_NN_INPUT)
        {
          if (nn->n_extra == GS_NN_MAX_EXTRA)
            return gs_error (GS_ECONFIG,
                             "layer %d (input): at most %d input layers "
                             "are supported", (int)i, GS_NN_MAX_EXTRA);
          nn->extra_idx[nn->n_extra++] = i;
        }
      if (L->c < 1 || L->l < 1
          || (double)L->c * (double)L->l > (double)NN_MAX_FEATURES)
        return gs_error (GS_ECONFIG,
                         "layer %d (%s): output %d x %d is empty "
                         "or larger than %ld values per sample",
                         (int)i, type_name (L->kind), L->c, L->l,
                         NN_MAX_FEATURES);
      gs_nn_layer_param_sizes (L, &nw, &nb, &nr);
      if (nw > NN_MAX_PARAMS || nb > NN_MAX_PARAMS || nr > NN_MAX_PARAMS
          || nn->n_params + nw + nb > NN_MAX_PARAMS
          || nn->n_running + 2 * nr > NN_MAX_PARAMS)
        return gs_error (GS_ECONFIG,
                         "layer %d (%s): the network would have "
                         "more than %zu parameters",
                         (int)i, type_name (L->kind), NN_MAX_PARAMS);
      L->n_w = nw;
      L->n_b = nb;
      L->n_running = nr;
      nn->n_params += nw + nb;
      nn->n_running += 2 * nr;
    }
  nn->params = nn_alloc (nn->n_params * sizeof (float));
  nn->grads = nn_alloc (nn->n_params * sizeof (float));
  nn->running = nn_alloc (nn->n_running * sizeof (float));
  nn->act = calloc (nn->n_layers, sizeof *nn->act);
  nn->grad = calloc (nn->n_layers, sizeof *nn->grad);
  nn->scratch_size = calloc (nn->n_layers, sizeof *nn->scratch_size);
  nn->prop = calloc (nn->n_layers, sizeof *nn->prop);
  nn->nuse = calloc (nn->n_layers + 1, sizeof *nn->nuse);
  nn->reach = calloc (nn->n_layers, sizeof *nn->reach);
  nn->inj = calloc (nn->n_layers, sizeof *nn->inj);
  if (!nn->params || !nn->grads || !nn->running || !nn->act || !nn->grad
      || !nn->scratch_size || !nn->prop || !nn->nuse || !nn->reach
      || !nn->inj)
    return gs_error (GS_ENOMEM, "out of memory for %zu parameters",
                     nn->n_params);
  off = 0;
  roff = 0;
  for (i = 0; i < nn->n_layers; i++)
    {
      gs_nn_layer *L = &nn->layers[i];
      size_t j;
      L->w = L->n_w ? nn->params + off : NULL;
      L->dw = L->n_w ? nn->grads + off : NULL;
      off += L->n_w;
      L->b = L->n_b ? nn->params + off : NULL;
      L->db = L->n_b ? nn->grads + off : NULL;
      off += L->n_b;
      if (L->n_running)
        {
          L->running_mean = nn->running + roff;
          L->running_var = nn->running + roff + L->n_running;
          for (j = 0; j < L->n_running; j++)
            {
              L->running_mean[j] = 0.0f;
              L->running_var[j] = 1.0f;
            }
          roff += 2 * L->n_running;
        }
    }
  init_params (nn);
  return GS_OK;
}

int
gs_nn_create (const char *arch_yaml, int in_channels, int in_length,
              const gs_nn_opts *o, gs_nn **out)
{
  gs_nn_opts def;
  gs_ynode *root = NULL;
  gs_nn *nn;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_nn_create: NULL output");
  *out = NULL;
  if (!arch_yaml)
    return gs_error (GS_EINVAL, "gs_nn_create: NULL architecture");
  if (in_channels < 1 || in_length < 1
      || (double)in_channels * in_length > (double)NN_MAX_FEATURES)
    return gs_error (GS_EINVAL,
                     "gs_nn_create: input shape %d x %d must be "
                     "positive and at most %ld values",
                     in_channels, in_length, NN_MAX_FEATURES);
  if (!o)
    {
      gs_nn_opts_init (&def);
      o = &def;
    }
  if (o->threads < 1 || o->threads > NN_MAX_THREADS)
    return gs_error (GS_EINVAL,
                     "gs_nn_create: threads %d must be in "
                     "[1, %d]",
                     o->threads, NN_MAX_THREADS);
  nn = calloc (1, sizeof *nn);
  if (!nn)
    return gs_error (GS_ENOMEM, "out of memory for a network");
  nn->in_c = in_channels;
  nn->in_l = in_length;
  nn->seed = o->seed;
  nn->threads = 1;
  nn->mode = GS_NN_EVAL;
  nn->arch = gs__strdup (arch_yaml);
  if (!nn->arch)
    rc = gs_error (GS_ENOMEM, "out of memory for the architecture");
  else
    rc = gs_yaml_load_string (arch_yaml, "architecture", &root);
  if (rc == GS_OK)
    rc = build (nn, root);
  if (rc == GS_OK)
    rc = gs_nn_set_threads (nn, o->threads);
  gs_ynode_free (root);
  if (rc != GS_OK)
    {
      gs_nn_free (nn);
      return rc;
    }
  *out = nn;
  return GS_OK;
}

static void
free_activations (gs_nn *nn)
{
  size_t i;
  for (i = 0; i < nn->n_layers; i++)
    {
      free (nn->act ? nn->act[i] : NULL);
      free (nn->grad ? nn->grad[i] : NULL);
      if (nn->act)
        nn->act[i] = NULL;
      if (nn->grad)
        nn->grad[i] = NULL;
      if (nn->layers)
        {
          free (nn->layers[i].scratch);
          nn->layers[i].scratch = NULL;
        }
      if (nn->scratch_size)
        nn->scratch_size[i] = 0;
    }
  free (nn->input);
  free (nn->dinput);
  nn->input = nn->dinput = NULL;
  nn->cap = nn->grad_cap = 0;
  nn->batch = 0;
}

void
gs_nn_free (gs_nn *nn)
{
  if (!nn)
    return;
  pool_free (nn->pool);
  if (nn->layers)
    free_activations (nn);
  free (nn->layers);
  free (nn->act);
  free (nn->grad);
  free (nn->scratch_size);
  free (nn->prop);
  free (nn->nuse);
  free (nn->reach);
  free (nn->inj);
  free (nn->params);
  free (nn->grads);
  free (nn->running);
  free (nn->arch);
  free (nn);
}

int
gs_nn_clone (const gs_nn *nn, gs_nn **out)
{
  gs_nn_opts o;
  gs_nn *c;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_nn_clone: NULL output");
  *out = NULL;
  if (!nn)
    return gs_error (GS_EINVAL, "gs_nn_clone: NULL network");
  gs_nn_opts_init (&o);
  o.threads = nn->threads;
  o.seed = nn->seed;
  rc = gs_nn_create (nn->arch, nn->in_c, nn->in_l, &o, &c);
  if (rc != GS_OK)
    return rc;
  if (nn->n_params)
    {
      memcpy (c->params, nn->params, nn->n_params * sizeof (float));
      memcpy (c->grads, nn->grads, nn->n_params * sizeof (float));
    }
  if (nn->n_running)
    memcpy (c->running, nn->running, nn->n_running * sizeof (float));
  c->mode = nn->mode;
  c->step = nn->step;
  *out = c;
  return GS_OK;
}

int
gs_nn_set_threads (gs_nn *nn, int threads)
{
  nn_pool *p;
  size_t i;
  int rc;
  if (!nn)
    return gs_error (GS_EINVAL, "gs_nn_set_threads: NULL network");
  if (threads < 1 || threads > NN_MAX_THREADS)
    return gs_error (GS_EINVAL, "threads %d must be in [1, %d]", threads,
                     NN_MAX_THREADS);
  if (threads == nn->threads && (threads == 1 || nn->pool))
    return GS_OK;
  if ((rc = pool_create (threads, &p)) != GS_OK)
    return rc;
  pool_free (nn->pool);
  nn->pool = p;
  nn->threads = threads;
  /* Scratch depends on the thread count: regrown at the next forward,
   * which a backward must follow. */
  for (i = 0; i < nn->n_layers; i++)
    {
      free (nn->layers[i].scratch);
      nn->layers[i].scratch = NULL;
      nn->scratch_size[i] = 0;
    }
  nn->batch = 0;
  return GS_OK;
}

void
gs_nn_set_mode (gs_nn *nn, int mode)
{
  if (nn)
    nn->mode = mode & (GS_NN_TRAIN | GS_NN_BN_CUMULATIVE);
}

int
gs_nn_mode (const gs_nn *nn)
{
  return nn ? nn->mode : GS_NN_EVAL;
}

void
gs_nn_input_shape (const gs_nn *nn, int *channels, int *length)
{
  if (channels)
    *channels = nn->in_c;
  if (length)
    *length = nn->in_l;
}

void
gs_nn_output_shape (const gs_nn *nn, int *channels, int *length)
{
  const gs_nn_layer *L = &nn->layers[nn->n_layers - 1];
  if (channels)
    *channels = L->c;
  if (length)
    *length = L->l;
}

size_t
gs_nn_output_size (const gs_nn *nn)
{
  const gs_nn_layer *L = &nn->layers[nn->n_layers - 1];
  return sample_size (L->c, L->l);
}

size_t
gs_nn_n_layers (const gs_nn *nn)
{
  return nn ? nn->n_layers : 0;
}

const char *
gs_nn_arch (const gs_nn *nn)
{
  return nn ? nn->arch : NULL;
}

double
gs_nn_macs (const gs_nn *nn)
{
  double s = 0;
  size_t i;
  for (i = 0; i < nn->n_layers; i++)
    s += gs_nn_layer_macs (&nn->layers[i]);
  return s;
}

float *
gs_nn_params (gs_nn *nn, size_t *n)
{
  if (n)
    *n = nn->n_params;
  return nn->params;
}

float *
gs_nn_grads (gs_nn *nn, size_t *n)
{
  if (n)
    *n = nn->n_params;
  return nn->grads;
}

void
gs_nn_bn_reset_running (gs_nn *nn)
{
  size_t i;
  if (!nn)
    return;
  memset (nn->running, 0, nn->n_running * sizeof (float));
  for (i = 0; i < nn->n_layers; i++)
    nn->layers[i].bn_updates = 0;
}

void
gs_nn_zero_grad (gs_nn *nn)
{
  if (nn && nn->n_params)
    memset (nn->grads, 0, nn->n_params * sizeof (float));
}

int
gs_nn_layer_arrays (gs_nn *nn, size_t layer, float **weight, size_t *n_weight,
                    float **bias, size_t *n_bias, float **running_mean,
                    float **running_var, size_t *n_running)
{
  gs_nn_layer *L;
  if (!nn || layer >= nn->n_layers)
    return gs_error (GS_EINVAL,
                     "layer %zu does not exist (the network has "
                     "%zu)",
                     layer, nn ? nn->n_layers : 0);
  L = &nn->layers[layer];
  if (weight)
    *weight = L->w;
  if (n_weight)
    *n_weight = L->n_w;
  if (bias)
    *bias = L->b;
  if (n_bias)
    *n_bias = L->n_b;
  if (running_mean)
    *running_mean = L->running_mean;
  if (running_var)
    *running_var = L->running_var;
  if (n_running)
    *n_running = L->n_running;
  return GS_OK;
}

const char *
gs_nn_layer_type (const gs_nn *nn, size_t layer)
{
  if (!nn || layer >= nn->n_layers)
    return NULL;
  return type_name (nn->layers[layer].kind);
}

/* ---- Forward and backward ------------------------------------------------ */

static int
batch_bytes (int batch, int c, int l, size_t *bytes)
{
  size_t per = sample_size (c, l) * sizeof (float);
  *bytes = 0;
  if ((size_t)batch > SIZE_MAX / 2 / per)
    return gs_error (GS_ENOMEM,
                     "a batch of %d samples of %d x %d is too "
                     "large",
                     batch, c, l);
  *bytes = per * (size_t)batch;
  return GS_OK;
}

/* Output buffers for `batch` samples, scratch for this batch and thread
 * count. */
static int
ensure_forward (gs_nn *nn, int batch)
{
  size_t i, bytes;
  int rc;
  if (batch > nn->cap)
    {
      float *p;
      if ((rc = batch_bytes (batch, nn->in_c, nn->in_l, &bytes)) != GS_OK)
        return rc;
      p = nn_alloc (bytes);
      if (!p)
        return gs_error (GS_ENOMEM, "out of memory for a batch of %d", batch);
      free (nn->input);
      nn->input = p;
      for (i = 0; i < nn->n_layers; i++)
        {
          const gs_nn_layer *L = &nn->layers[i];
          if ((rc = batch_bytes (batch, L->c, L->l, &bytes)) != GS_OK)
            return rc;
          p = nn_alloc (bytes);
          if (!p)
            return gs_error (GS_ENOMEM,
                             "out of memory for layer %zu's "
                             "output (batch %d)",
                             i, batch);
          free (nn->act[i]);
          nn->act[i] = p;
        }
      nn->cap = batch;
    }
  for (i = 0; i < nn->n_layers; i++)
    {
      gs_nn_layer *L = &nn->layers[i];
      size_t need = gs_nn_layer_scratch (L, batch, nn->threads);
      if (need > nn->scratch_size[i])
        {
          void *s = nn_alloc (need);
          if (!s)
            return gs_error (GS_ENOMEM,
                             "out of memory for layer %zu's "
                             "scratch (%zu bytes)",
                             i, need);
          free (L->scratch);
          L->scratch = s;
          nn->scratch_size[i] = need;
        }
    }
  return GS_OK;
}

static int
ensure_backward (gs_nn *nn, int batch)
{
  size_t i, bytes;
  int rc;
  if (batch <= nn->grad_cap)
    return GS_OK;
  {
    float *p;
    if ((rc = batch_bytes (batch, nn->in_c, nn->in_l, &bytes)) != GS_OK)
      return rc;
    p = nn_alloc (bytes);
    if (!p)
      return gs_error (GS_ENOMEM, "out of memory for a batch of %d", batch);
    free (nn->dinput);
    nn->dinput = p;
    for (i = 0; i < nn->n_layers; i++)
      {
        const gs_nn_layer *L = &nn->layers[i];
        if ((rc = batch_bytes (batch, L->c, L->l, &bytes)) != GS_OK)
          return rc;
        p = nn_alloc (bytes);
        if (!p)
          return gs_error (GS_ENOMEM,
                           "out of memory for layer %zu's "
                           "gradient (batch %d)",
                           i, batch);
        free (nn->grad[i]);
        nn->grad[i] = p;
      }
  }
  nn->grad_cap = batch;
  return GS_OK;
}

static const float *
input_of (const gs_nn *nn, int producer)
{
  return producer < 0 ? nn->input : nn->act[producer];
}

static int
forward_impl (gs_nn *nn, const float *x, const float *const *extra,
              int batch, float *out)
{
  const float *xs[GS_NN_MAX_INPUTS];
  size_t i, e, bytes;
  int k, rc;
  if (!nn || !x)
    return gs_error (GS_EINVAL, "gs_nn_forward: NULL network or input");
  if (batch < 1)
    return gs_error (GS_EINVAL, "gs_nn_forward: batch %d must be >= 1", batch);
  if (nn->n_extra && !extra)
    return gs_error (GS_EINVAL, "gs_nn_forward: the network has %zu input "
                     "layers; feed them with gs_nn_forward_multi",
                     nn->n_extra);
  for (e = 0; e < nn->n_extra; e++)
    if (!extra[e])
      return gs_error (GS_EINVAL, "gs_nn_forward_multi: extra input %zu "
                       "(layer %zu) is NULL", e, nn->extra_idx[e]);
  nn->batch = 0;
  if ((rc = ensure_forward (nn, batch)) != GS_OK)
    return rc;
  if ((rc = batch_bytes (batch, nn->in_c, nn->in_l, &bytes)) != GS_OK)
    return rc;
  memcpy (nn->input, x, bytes);
  memset (&nn->fwd, 0, sizeof nn->fwd);
  nn->fwd.batch = batch;
  nn->fwd.mode = nn->mode;
  nn->fwd.seed = nn->seed;
  nn->fwd.step = nn->step;
  nn->fwd.parallel = pool_parallel;
  nn->fwd.pool = nn->pool;
  nn->fwd.threads = nn->threads;
  nn->fwd.thread_index = pool_thread_index;
  for (i = 0, e = 0; i < nn->n_layers; i++)
    {
      gs_nn_layer *L = &nn->layers[i];
      if (L->kind == GS_NN_INPUT)
        {
          batch_bytes (batch, L->c, L->l, &bytes);
          memcpy (nn->act[i], extra[e++], bytes);
          continue;
        }
      for (k = 0; k < L->n_in; k++)
        xs[k] = input_of (nn, L->in[k]);
      if ((rc = gs_nn_layer_forward (L, &nn->fwd, xs, nn->act[i])) != GS_OK)
        return rc;
    }
  if (nn->mode & GS_NN_DROPOUT)
    nn->step++;
  nn->batch = batch;
  if (out)
    {
      const gs_nn_layer *L = &nn->layers[nn->n_layers - 1];
      batch_bytes (batch, L->c, L->l, &bytes);
      memcpy (out, nn->act[nn->n_layers - 1], bytes);
    }
  return GS_OK;
}

int
gs_nn_forward (gs_nn *nn, const float *x, int batch, float *out)
{
  return forward_impl (nn, x, NULL, batch, out);
}

int
gs_nn_forward_multi (gs_nn *nn, const float *x, const float *const *extra,
                     int batch, float *out)
{
  return forward_impl (nn, x, extra, batch, out);
}

const float *
gs_nn_output (const gs_nn *nn)
{
  if (!nn || nn->batch == 0)
    return NULL;
  return nn->act[nn->n_layers - 1];
}

const float *
gs_nn_layer_output (const gs_nn *nn, size_t layer)
{
  if (!nn || nn->batch == 0 || layer >= nn->n_layers)
    return NULL;
  return nn->act[layer];
}

int
gs_nn_find_layer (const gs_nn *nn, const char *name, size_t *layer)
{
  size_t i;
  if (!nn || !name || !layer)
    return gs_error (GS_EINVAL, "gs_nn_find_layer: NULL argument");
  for (i = 0; i < nn->n_layers; i++)
    if (strcmp (nn->layers[i].name, name) == 0)
      {
        *layer = i;
        return GS_OK;
      }
  return gs_error (GS_EINVAL, "the network has no layer named '%s'", name);
}

void
gs_nn_layer_shape_of (const gs_nn *nn, size_t layer, int *channels,
                      int *length)
{
  const gs_nn_layer *L
      = nn && layer < nn->n_layers ? &nn->layers[layer] : NULL;
  if (channels)
    *channels = L ? L->c : 0;
  if (length)
    *length = L ? L->l : 0;
}

size_t
gs_nn_n_extra_inputs (const gs_nn *nn)
{
  return nn ? nn->n_extra : 0;
}

size_t
gs_nn_extra_input_layer (const gs_nn *nn, size_t k)
{
  return nn && k < nn->n_extra ? nn->extra_idx[k] : (size_t)-1;
}

/* Which layers run backward, and which input gradients each writes:
 *   prop[i]  the layer's backward delivers something wanted (it has
 *            parameters, or an input whose gradient is wanted);
 *   reach[i] a gradient arrives at its output (injected there, or from a
 *            running consumer);
 *   nuse[p]  running consumers of p's output (n_layers: the input).
 * A gradient with exactly one consumer and nothing injected is written
 * by that consumer (no zeroing); others are zeroed (or hold the injected
 * gradient) and accumulated. */
static int
backward_impl (gs_nn *nn, size_t n, const size_t *layers,
               const float *const *douts, float *dx, float *const *dextra)
{
  const float *xs[GS_NN_MAX_INPUTS];
  float *dxs[GS_NN_MAX_INPUTS];
  size_t i, e, bytes, N;
  int k, batch, rc;
  if (!nn || (n && (!layers || !douts)))
    return gs_error (GS_EINVAL, "gs_nn_backward: NULL network or "
                     "gradients");
  if (nn->batch == 0)
    return gs_error (GS_EINVAL,
                     "gs_nn_backward: no forward pass to differentiate; "
                     "call gs_nn_forward on the batch first (or the "
                     "thread count changed since)");
  N = nn->n_layers;
  for (i = 0; i < N; i++)
    nn->inj[i] = -1;
  for (i = 0; i < n; i++)
    {
      if (layers[i] >= N || !douts[i])
        return gs_error (GS_EINVAL, "gs_nn_backward_multi: gradient %zu "
                         "names layer %zu of %zu, or is NULL", i,
                         layers[i], N);
      if (nn->inj[layers[i]] >= 0)
        return gs_error (GS_EINVAL, "gs_nn_backward_multi: layer %zu is "
                         "given twice", layers[i]);
      nn->inj[layers[i]] = (int)i;
    }
  batch = nn->batch;
  if ((rc = ensure_backward (nn, batch)) != GS_OK)
    return rc;
  for (i = 0, e = 0; i < N; i++)
    {
      const gs_nn_layer *L = &nn->layers[i];
      int p = L->n_w + L->n_b > 0;
      if (L->kind == GS_NN_INPUT)
        {
          p = dextra && dextra[e] != NULL;
          e++;
        }
      for (k = 0; k < L->n_in && !p; k++)
        p = L->in[k] < 0 ? dx != NULL : nn->prop[L->in[k]];
      nn->prop[i] = p;
    }
  memset (nn->nuse, 0, (N + 1) * sizeof *nn->nuse);
  for (i = N; i-- > 0;)
    {
      const gs_nn_layer *L = &nn->layers[i];
      nn->reach[i] = nn->inj[i] >= 0 || nn->nuse[i] > 0;
      if (!nn->reach[i] || !nn->prop[i] || L->kind == GS_NN_INPUT)
        continue;
      for (k = 0; k < L->n_in; k++)
        {
          int q = L->in[k];
          if (q < 0 ? dx != NULL : nn->prop[q])
            nn->nuse[q < 0 ? N : (size_t)q]++;
        }
    }
  /* Gradient buffers: injected ones hold their gradient (consumers add
   * to it); those with one consumer are written by it; the rest are
   * zeroed. */
  for (i = 0; i < N; i++)
    {
      const gs_nn_layer *L = &nn->layers[i];
      if (!nn->prop[i] || (!nn->reach[i] && L->kind != GS_NN_INPUT))
        continue;
      batch_bytes (batch, L->c, L->l, &bytes);
      if (nn->inj[i] >= 0 && (nn->nuse[i] > 0 || L->kind == GS_NN_INPUT))
        memcpy (nn->grad[i], douts[nn->inj[i]], bytes);
      else if (nn->inj[i] < 0 && nn->nuse[i] != 1)
        memset (nn->grad[i], 0, bytes);
    }
  batch_bytes (batch, nn->in_c, nn->in_l, &bytes);
  if (dx && nn->nuse[N] != 1)
    memset (nn->dinput, 0, bytes);
  for (i = N; i-- > 0;)
    {
      gs_nn_layer *L = &nn->layers[i];
      const float *dy;
      if (!nn->prop[i] || !nn->reach[i] || L->kind == GS_NN_INPUT)
        continue;
      /* an injected gradient with no consumer is used in place */
      dy = nn->inj[i] >= 0 && nn->nuse[i] == 0 ? douts[nn->inj[i]]
                                                : nn->grad[i];
      nn->fwd.dx_fresh = 0;
      for (k = 0; k < L->n_in; k++)
        {
          int p = L->in[k];
          xs[k] = input_of (nn, p);
          if (p < 0)
            dxs[k] = dx ? nn->dinput : NULL;
          else
            dxs[k] = nn->prop[p] ? nn->grad[p] : NULL;
          if (dxs[k] && nn->nuse[p < 0 ? N : (size_t)p] == 1
              && (p < 0 || nn->inj[p] < 0))
            nn->fwd.dx_fresh |= 1u << k;
        }
      rc = gs_nn_layer_backward (L, &nn->fwd, xs, nn->act[i], dy, dxs);
      nn->fwd.dx_fresh = 0;
      if (rc != GS_OK)
        return rc;
    }
  if (dx)
    memcpy (dx, nn->dinput, bytes);
  for (e = 0; dextra && e < nn->n_extra; e++)
    if (dextra[e])
      {
        const gs_nn_layer *L = &nn->layers[nn->extra_idx[e]];
        batch_bytes (batch, L->c, L->l, &bytes);
        memcpy (dextra[e], nn->grad[nn->extra_idx[e]], bytes);
      }
  return GS_OK;
}

int
gs_nn_backward (gs_nn *nn, const float *dout, float *dx)
{
  size_t last;
  if (!nn || !dout)
    return gs_error (GS_EINVAL, "gs_nn_backward: NULL network or "
                     "gradient");
  last = nn->n_layers - 1;
  return backward_impl (nn, 1, &last, &dout, dx, NULL);
}

int
gs_nn_backward_multi (gs_nn *nn, size_t n, const size_t *layers,
                      const float *const *douts, float *dx,
                      float *const *dextra)
{
  return backward_impl (nn, n, layers, douts, dx, dextra);
}

/* ---- Inference on caller memory ----------------------------------------- */

static size_t
align_up (size_t n)
{
  return (n + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
}

/* Work layout: slack to align, then every layer's output for `batch`
 * samples, then one scratch area (the largest a layer needs with one
 * thread; inference keeps nothing for a backward pass). */
size_t
gs_nn_infer_bytes (const gs_nn *nn, int batch)
{
  size_t total = NN_ALIGN, scratch = 0, i;
  if (!nn || batch < 1)
    return 0;
  for (i = 0; i < nn->n_layers; i++)
    {
      const gs_nn_layer *L = &nn->layers[i];
      size_t per = sample_size (L->c, L->l) * sizeof (float);
      size_t s = gs_nn_layer_scratch (L, batch, 1);
      if ((size_t)batch > (SIZE_MAX / 4) / per)
        return 0;
      if (total > SIZE_MAX / 4 || s > SIZE_MAX / 4)
        return 0;
      total += align_up (per * (size_t)batch);
      if (s > scratch)
        scratch = s;
    }
  if (total > SIZE_MAX / 4)
    return 0;
  return total + align_up (scratch);
}

static int infer_impl (const gs_nn *nn, void *work, size_t work_bytes,
                       const float *x, const float *const *extra, int batch,
                       float *out);

int
gs_nn_infer (const gs_nn *nn, void *work, size_t work_bytes, const float *x,
             int batch, float *out)
{
  return infer_impl (nn, work, work_bytes, x, NULL, batch, out);
}

int
gs_nn_infer_multi (const gs_nn *nn, void *work, size_t work_bytes,
                   const float *x, const float *const *extra, int batch,
                   float *out)
{
  return infer_impl (nn, work, work_bytes, x, extra, batch, out);
}

static int
infer_impl (const gs_nn *nn, void *work, size_t work_bytes, const float *x,
            const float *const *extra, int batch, float *out)
{
  const float *xs[GS_NN_MAX_INPUTS];
  float **act;
  gs_nn_ctx ctx;
  gs_nn_layer L;
  size_t need, i, off, e;
  unsigned char *base;
  void *scratch;
  int k, rc;
  float *stack_act[16];
  if (!nn || !x || !out || (!work && work_bytes))
    return gs_error (GS_EINVAL, "gs_nn_infer: NULL network, input or "
                                "output");
  if (nn->n_extra && !extra)
    return gs_error (GS_EINVAL, "gs_nn_infer: the network has %zu input "
                     "layers; feed them with gs_nn_infer_multi",
                     nn->n_extra);
  for (e = 0; e < nn->n_extra; e++)
    if (!extra[e])
      return gs_error (GS_EINVAL, "gs_nn_infer_multi: extra input %zu is "
                       "NULL", e);
  if (batch < 1)
    return gs_error (GS_EINVAL, "gs_nn_infer: batch %d must be >= 1", batch);
  need = gs_nn_infer_bytes (nn, batch);
  if (need == 0 || work_bytes < need)
    return gs_error (GS_EINVAL,
                     "gs_nn_infer: the workspace has %zu bytes; a batch of "
                     "%d needs %zu (gs_nn_infer_bytes)",
                     work_bytes, batch, need);
  act = nn->n_layers <= 16 ? stack_act : malloc (nn->n_layers * sizeof *act);
  if (!act)
    return gs_error (GS_ENOMEM, "out of memory for %zu layer pointers",
                     nn->n_layers);
  base = work;
  off = (NN_ALIGN - (size_t)((uintptr_t)base % NN_ALIGN)) % NN_ALIGN;
  for (i = 0; i < nn->n_layers; i++)
    {
      const gs_nn_layer *P = &nn->layers[i];
      act[i] = (float *)(void *)(base + off);
      off += align_up (sample_size (P->c, P->l) * sizeof (float)
                       * (size_t)batch);
    }
  scratch = base + off;
  memset (&ctx, 0, sizeof ctx);
  ctx.batch = batch;
  ctx.mode = nn->mode & GS_NN_BN_BATCH;
  ctx.seed = nn->seed;
  ctx.step = nn->step;
  ctx.parallel = pool_parallel;
  ctx.pool = NULL;
  ctx.threads = 1;
  ctx.thread_index = pool_thread_index;
  rc = GS_OK;
  for (i = 0, e = 0; i < nn->n_layers && rc == GS_OK; i++)
    {
      /* A private copy of the layer: the shared one's scratch pointer and
       * parameters stay untouched (no update without GS_NN_BN_UPDATE). */
      L = nn->layers[i];
      if (L.kind == GS_NN_INPUT)
        {
          memcpy (act[i], extra[e++], sample_size (L.c, L.l)
                                          * sizeof (float) * (size_t)batch);
          continue;
        }
      L.scratch = scratch;
      for (k = 0; k < L.n_in; k++)
        xs[k] = L.in[k] < 0 ? x : act[L.in[k]];
      rc = gs_nn_layer_forward (&L, &ctx, xs, act[i]);
    }
  if (rc == GS_OK)
    {
      const gs_nn_layer *P = &nn->layers[nn->n_layers - 1];
      memcpy (out, act[nn->n_layers - 1],
              sample_size (P->c, P->l) * sizeof (float) * (size_t)batch);
    }
  if (act != stack_act)
    free (act);
  return rc;
}

size_t
gs_nn_snapshot (gs_nn *nn, float *buf, int restore)
{
  size_t np, i, off, nl = gs_nn_n_layers (nn);
  float *p = gs_nn_params (nn, &np);
  if (buf)
    {
      if (!restore)
        memcpy (buf, p, np * sizeof (float));
      else
        memcpy (p, buf, np * sizeof (float));
    }
  off = np;
  for (i = 0; i < nl; i++)
    {
      float *rm = NULL, *rv = NULL;
      size_t nr = 0;
      if (gs_nn_layer_arrays (nn, i, NULL, NULL, NULL, NULL, &rm, &rv, &nr)
              != GS_OK
          || nr == 0 || !rm || !rv)
        continue;
      if (buf)
        {
          if (!restore)
            {
              memcpy (buf + off, rm, nr * sizeof (float));
              memcpy (buf + off + nr, rv, nr * sizeof (float));
            }
          else
            {
              memcpy (rm, buf + off, nr * sizeof (float));
              memcpy (rv, buf + off + nr, nr * sizeof (float));
            }
        }
      off += 2 * nr;
    }
  return off;
}
