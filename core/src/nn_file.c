/* NN model files (gspec/nn.h gs_nn_save / gs_nn_load).
 *
 * Layout, all integers and floats little-endian:
 *   "GSNN"                    4 bytes magic
 *   u32 version               1
 *   u32 arch_len              bytes of architecture text (<= 1 MiB)
 *   arch_len bytes            the architecture YAML (no NUL)
 *   i32 in_channels, i32 in_length
 *   u64 n_params              trainable parameters
 *   u64 n_running             running-statistics values (mean + var)
 *   per layer: weight, bias, running mean, running var as float32
 *   u64 checksum              FNV-1a 64 of every byte before it
 * Reading never trusts a count before it is checked: the architecture
 * text is bounded, the values are read in chunks as they arrive, and the
 * counts must match the architecture's. */
#include "gspec/nn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

#define NN_FILE_VERSION 1u
#define NN_FILE_MAX_ARCH (1u << 20)
#define NN_FILE_MAX_DIM (1 << 28)
#define NN_FILE_MAX_VALUES ((uint64_t)1 << 31)
#define NN_FNV_OFFSET 14695981039346656037ull
#define NN_FNV_PRIME 1099511628211ull

static uint64_t
fnv1a (uint64_t h, const unsigned char *p, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      h ^= p[i];
      h *= NN_FNV_PRIME;
    }
  return h;
}

static void
put_u32 (unsigned char *p, uint32_t v)
{
  int i;
  for (i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64 (unsigned char *p, uint64_t v)
{
  int i;
  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32 (const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
         | (uint32_t)p[3] << 24;
}

static uint64_t
get_u64 (const unsigned char *p)
{
  return (uint64_t)get_u32 (p) | (uint64_t)get_u32 (p + 4) << 32;
}

/* ---- Writing ------------------------------------------------------------ */

typedef struct nn_writer
{
  FILE *f;
  uint64_t hash;
  int failed;
} nn_writer;

static void
w_bytes (nn_writer *w, const void *p, size_t n)
{
  if (w->failed || n == 0)
    return;
  w->hash = fnv1a (w->hash, p, n);
  if (fwrite (p, 1, n, w->f) != n)
    w->failed = 1;
}

static void
w_u32 (nn_writer *w, uint32_t v)
{
  unsigned char b[4];
  put_u32 (b, v);
  w_bytes (w, b, 4);
}

static void
w_u64 (nn_writer *w, uint64_t v)
{
  unsigned char b[8];
  put_u64 (b, v);
  w_bytes (w, b, 8);
}

static void
w_floats (nn_writer *w, const float *x, size_t n)
{
  unsigned char buf[4096];
  size_t i, k = 0;
  for (i = 0; i < n; i++)
    {
      uint32_t u;
      memcpy (&u, &x[i], 4);
      put_u32 (buf + k, u);
      k += 4;
      if (k == sizeof buf)
        {
          w_bytes (w, buf, k);
          k = 0;
        }
    }
  w_bytes (w, buf, k);
}

static int
all_finite (const float *x, size_t n, size_t *bad)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (!isfinite (x[i]))
      {
        *bad = i;
        return 0;
      }
  return 1;
}

int
gs_nn_save (const gs_nn *cnn, FILE *f)
{
  /* The accessors do not modify the network; they take a non-const one
   * because they hand out writable arrays. */
  gs_nn *nn = (gs_nn *)cnn;
  nn_writer w = { f, NN_FNV_OFFSET, 0 };
  const char *arch;
  size_t n_params, n_running = 0, i, bad, arch_len;
  float *params;
  int in_c, in_l;
  unsigned char sum[8];

  if (!nn || !f)
    return gs_error (GS_EINVAL, "gs_nn_save: NULL network or file");
  arch = gs_nn_arch (nn);
  arch_len = strlen (arch);
  if (arch_len > NN_FILE_MAX_ARCH)
    return gs_error (GS_EINVAL,
                     "gs_nn_save: the architecture text (%zu "
                     "bytes) is longer than %u bytes",
                     arch_len, NN_FILE_MAX_ARCH);
  params = gs_nn_params (nn, &n_params);
  if (!all_finite (params, n_params, &bad))
    return gs_error (GS_EBADDATA,
                     "gs_nn_save: parameter %zu is not finite "
                     "(%g); the model diverged",
                     bad, (double)params[bad]);
  for (i = 0; i < gs_nn_n_layers (nn); i++)
    {
      float *rm, *rv;
      size_t nr;
      gs_nn_layer_arrays (nn, i, NULL, NULL, NULL, NULL, &rm, &rv, &nr);
      if (nr && (!all_finite (rm, nr, &bad) || !all_finite (rv, nr, &bad)))
        return gs_error (GS_EBADDATA,
                         "gs_nn_save: layer %zu's running "
                         "statistics are not finite",
                         i);
      n_running += 2 * nr;
    }
  gs_nn_input_shape (nn, &in_c, &in_l);

  w_bytes (&w, "GSNN", 4);
  w_u32 (&w, NN_FILE_VERSION);
  w_u32 (&w, (uint32_t)arch_len);
  w_bytes (&w, arch, arch_len);
  w_u32 (&w, (uint32_t)in_c);
  w_u32 (&w, (uint32_t)in_l);
  w_u64 (&w, n_params);
  w_u64 (&w, n_running);
  for (i = 0; i < gs_nn_n_layers (nn); i++)
    {
      float *wt, *b, *rm, *rv;
      size_t nw, nb, nr;
      gs_nn_layer_arrays (nn, i, &wt, &nw, &b, &nb, &rm, &rv, &nr);
      w_floats (&w, wt, nw);
      w_floats (&w, b, nb);
      w_floats (&w, rm, nr);
      w_floats (&w, rv, nr);
    }
  put_u64 (sum, w.hash);
  if (!w.failed && fwrite (sum, 1, 8, f) != 8)
    w.failed = 1;
  if (w.failed || fflush (f) != 0)
    return gs_error (GS_EIO, "cannot write the model file (disk full?)");
  return GS_OK;
}

/* ---- Reading ------------------------------------------------------------ */

typedef struct nn_reader
{
  FILE *f;
  uint64_t hash;
  uint64_t pos; /* bytes read */
} nn_reader;

static int
r_bytes (nn_reader *r, void *p, size_t n, const char *what)
{
  size_t got = n ? fread (p, 1, n, r->f) : 0;
  r->hash = fnv1a (r->hash, p, got);
  r->pos += got;
  if (got != n)
    {
      if (ferror (r->f))
        return gs_error (GS_EIO, "model file: read error at byte %llu (%s)",
                         (unsigned long long)r->pos, what);
      return gs_error (GS_EFORMAT,
                       "model file: truncated at byte %llu "
                       "(reading %s)",
                       (unsigned long long)r->pos, what);
    }
  return GS_OK;
}

static int
r_u32 (nn_reader *r, uint32_t *v, const char *what)
{
  unsigned char b[4];
  int rc = r_bytes (r, b, 4, what);
  if (rc == GS_OK)
    *v = get_u32 (b);
  return rc;
}

static int
r_u64 (nn_reader *r, uint64_t *v, const char *what)
{
  unsigned char b[8];
  int rc = r_bytes (r, b, 8, what);
  if (rc == GS_OK)
    *v = get_u64 (b);
  return rc;
}

/* Reads n float32 values into a buffer that grows as data arrives (a
 * hostile count costs no more memory than the file's real size). */
static int
r_floats (nn_reader *r, uint64_t n, float **out)
{
  unsigned char buf[1 << 16];
  float *x = NULL;
  uint64_t have = 0, cap = 0;
  *out = NULL;
  while (have < n)
    {
      size_t k
          = (size_t)((n - have) * 4 < sizeof buf ? (n - have) * 4 : sizeof buf);
      size_t j;
      int rc;
      if (have + k / 4 > cap)
        {
          uint64_t nc = cap ? cap * 2 : 4096;
          float *nx;
          while (nc < have + k / 4)
            nc *= 2;
          if (nc > n)
            nc = n;
          nx = realloc (x, (size_t)nc * sizeof *x);
          if (!nx)
            {
              free (x);
              return gs_error (GS_ENOMEM,
                               "out of memory reading %llu "
                               "model values",
                               (unsigned long long)n);
            }
          x = nx;
          cap = nc;
        }
      if ((rc = r_bytes (r, buf, k, "the parameters")) != GS_OK)
        {
          free (x);
          return rc;
        }
      for (j = 0; j < k / 4; j++)
        {
          uint32_t u = get_u32 (buf + 4 * j);
          memcpy (&x[have + j], &u, 4);
        }
      have += k / 4;
    }
  *out = x;
  return GS_OK;
}

int
gs_nn_load (FILE *f, const gs_nn_opts *o, gs_nn **out)
{
  nn_reader r;
  unsigned char magic[4];
  uint32_t version, arch_len, uc, ul;
  uint64_t n_params, n_running, sum, expect;
  char *arch = NULL;
  float *vals = NULL;
  gs_nn *nn = NULL;
  size_t np, nr_total = 0, i, off, bad;
  int rc;

  if (!out)
    return gs_error (GS_EINVAL, "gs_nn_load: NULL output");
  *out = NULL;
  if (!f)
    return gs_error (GS_EINVAL, "gs_nn_load: NULL file");
  r.f = f;
  r.hash = NN_FNV_OFFSET;
  r.pos = 0;

  if ((rc = r_bytes (&r, magic, 4, "the magic")) != GS_OK)
    return rc;
  if (memcmp (magic, "GSNN", 4) != 0)
    return gs_error (GS_EFORMAT, "model file: bad magic (not a gspec NN "
                                 "model: expected \"GSNN\" at byte 0)");
  if ((rc = r_u32 (&r, &version, "the version")) != GS_OK)
    return rc;
  if (version != NN_FILE_VERSION)
    return gs_error (GS_EFORMAT,
                     "model file: format version %u is "
                     "unsupported (this gspec reads version %u)",
                     version, NN_FILE_VERSION);
  if ((rc = r_u32 (&r, &arch_len, "the architecture length")) != GS_OK)
    return rc;
  if (arch_len == 0 || arch_len > NN_FILE_MAX_ARCH)
    return gs_error (GS_EFORMAT,
                     "model file: architecture length %u at "
                     "byte 8 is not in [1, %u]",
                     arch_len, NN_FILE_MAX_ARCH);
  arch = malloc ((size_t)arch_len + 1);
  if (!arch)
    return gs_error (GS_ENOMEM, "out of memory reading a model file");
  if ((rc = r_bytes (&r, arch, arch_len, "the architecture")) != GS_OK)
    goto done;
  arch[arch_len] = '\0';
  if (strlen (arch) != arch_len)
    {
      rc = gs_error (GS_EFORMAT,
                     "model file: the architecture text holds a "
                     "NUL byte at byte %zu",
                     12 + strlen (arch));
      goto done;
    }
  if ((rc = r_u32 (&r, &uc, "the input shape")) != GS_OK
      || (rc = r_u32 (&r, &ul, "the input shape")) != GS_OK)
    goto done;
  if (uc < 1 || ul < 1 || uc > NN_FILE_MAX_DIM || ul > NN_FILE_MAX_DIM)
    {
      rc = gs_error (GS_EFORMAT,
                     "model file: input shape %u x %u is not "
                     "valid",
                     uc, ul);
      goto done;
    }
  if ((rc = r_u64 (&r, &n_params, "the parameter count")) != GS_OK
      || (rc = r_u64 (&r, &n_running, "the parameter count")) != GS_OK)
    goto done;
  if (n_params > NN_FILE_MAX_VALUES || n_running > NN_FILE_MAX_VALUES)
    {
      rc = gs_error (GS_EFORMAT,
                     "model file: parameter count %llu + %llu "
                     "is implausible (at most %llu each)",
                     (unsigned long long)n_params,
                     (unsigned long long)n_running,
                     (unsigned long long)NN_FILE_MAX_VALUES);
      goto done;
    }
  if ((rc = r_floats (&r, n_params + n_running, &vals)) != GS_OK)
    goto done;
  expect = r.hash;
  if ((rc = r_u64 (&r, &sum, "the checksum")) != GS_OK)
    goto done;
  if (sum != expect)
    {
      rc = gs_error (GS_EFORMAT,
                     "model file: checksum mismatch (stored "
                     "%016llx, computed %016llx over bytes 0..%llu): the "
                     "file is corrupt",
                     (unsigned long long)sum, (unsigned long long)expect,
                     (unsigned long long)(r.pos - 9));
      goto done;
    }

  rc = gs_nn_create (arch, (int)uc, (int)ul, o, &nn);
  if (rc == GS_ECONFIG || rc == GS_EINVAL)
    {
      rc = gs_error_prefix (GS_EFORMAT, "model file: its architecture");
      goto done;
    }
  if (rc != GS_OK)
    goto done;
  gs_nn_params (nn, &np);
  for (i = 0; i < gs_nn_n_layers (nn); i++)
    {
      size_t nr;
      gs_nn_layer_arrays (nn, i, NULL, NULL, NULL, NULL, NULL, NULL, &nr);
      nr_total += 2 * nr;
    }
  if (np != n_params || nr_total != n_running)
    {
      rc = gs_error (GS_EFORMAT,
                     "model file: parameter count %llu (+ %llu "
                     "running statistics) differs from the architecture's "
                     "%zu (+ %zu)",
                     (unsigned long long)n_params,
                     (unsigned long long)n_running, np, nr_total);
      goto done;
    }
  if (!all_finite (vals, np + nr_total, &bad))
    {
      rc = gs_error (GS_EFORMAT, "model file: value %zu is not finite", bad);
      goto done;
    }
  off = 0;
  for (i = 0; i < gs_nn_n_layers (nn); i++)
    {
      float *wt, *b, *rm, *rv;
      size_t nw, nb, nr, j;
      gs_nn_layer_arrays (nn, i, &wt, &nw, &b, &nb, &rm, &rv, &nr);
      if (nw)
        memcpy (wt, vals + off, nw * sizeof (float));
      off += nw;
      if (nb)
        memcpy (b, vals + off, nb * sizeof (float));
      off += nb;
      if (nr)
        {
          memcpy (rm, vals + off, nr * sizeof (float));
          memcpy (rv, vals + off + nr, nr * sizeof (float));
          for (j = 0; j < nr; j++)
            if (rv[j] < 0)
              {
                rc = gs_error (GS_EFORMAT,
                               "model file: layer %zu's running "
                               "variance %zu is negative (%g)",
                               i, j, (double)rv[j]);
                goto done;
              }
        }
      off += 2 * nr;
    }
  *out = nn;
  nn = NULL;
  rc = GS_OK;
done:
  gs_nn_free (nn);
  free (vals);
  free (arch);
  return rc;
}
