/* Checkpoint files.
 *
 *   gspec-checkpoint 1
 *   key <16 hex>
 *   method <id>
 *   sizes <n> <K> <n_extras>
 *   train_seconds <value>
 *   calibration <0|1> <mode> <valid_fpr> <valid_n>
 *   end
 * then binary (this machine's byte order; a checkpoint is only read back
 * by the run that wrote it): int32 status[n], int32 present[n K], float64
 * score[n K], counts[n K], std[n K], extras[n E], seconds[n],
 * thresholds[K], uint64 n_peaks[n] and 5 float64 per peak (centre, left,
 * right, confidence, component), uint32 length + bytes of each failed
 * spectrum's message, and last the FNV-1a 64 checksum of everything
 * before it. */
#include "checkpoint.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define GS__CKPT_MAGIC "gspec-checkpoint 1\n"

static uint64_t
fnv64 (const unsigned char *d, size_t n)
{
  uint64_t h = 1469598103934665603ULL;
  size_t i;
  for (i = 0; i < n; i++)
    {
      h ^= d[i];
      h *= 1099511628211ULL;
    }
  return h;
}

static void
put (gs__buf *b, const void *v, size_t size)
{
  gs__buf_append (b, (const char *)v, size);
}

int
gs_checkpoint_write (const char *path, const gs_checkpoint *c)
{
  const gs_predictions *p = c->p;
  size_t n = p->n, K = p->K, E = p->n_extras, i, j;
  gs__buf b;
  uint64_t h;
  int rc;
  gs__buf_init (&b);
  gs__buf_printf (&b,
                  GS__CKPT_MAGIC "key %s\nmethod %s\nsizes %zu %zu %zu\n"
                                 "train_seconds %.17g\ncalibration %d %s "
                                 "%.17g %zu\nend\n",
                  c->key, c->method_id, n, K, E, c->train_seconds,
                  c->calibrated, c->calib_mode[0] ? c->calib_mode : "-",
                  c->valid_fpr, c->valid_n);
  for (i = 0; i < n; i++)
    {
      int32_t v = p->status[i];
      put (&b, &v, sizeof v);
    }
  for (i = 0; i < n * K; i++)
    {
      int32_t v = p->present[i];
      put (&b, &v, sizeof v);
    }
  put (&b, p->score, n * K * sizeof (double));
  put (&b, p->counts, n * K * sizeof (double));
  put (&b, p->std, n * K * sizeof (double));
  put (&b, p->extras, n * E * sizeof (double));
  put (&b, p->seconds, n * sizeof (double));
  for (j = 0; j < K; j++)
    {
      double t = c->thresholds ? c->thresholds[j] : NAN;
      put (&b, &t, sizeof t);
    }
  for (i = 0; i < n; i++)
    {
      uint64_t np = p->n_peaks[i];
      put (&b, &np, sizeof np);
      for (j = 0; j < p->n_peaks[i]; j++)
        {
          const gs_peak *pk = &p->peaks[i][j];
          double v[5];
          v[0] = pk->centre_kev;
          v[1] = pk->left_kev;
          v[2] = pk->right_kev;
          v[3] = pk->confidence;
          v[4] = pk->component;
          put (&b, v, sizeof v);
        }
    }
  for (i = 0; i < n; i++)
    if (p->status[i] != GS_OK)
      {
        const char *m = p->errors[i] ? p->errors[i] : "";
        uint32_t len = (uint32_t)strlen (m);
        put (&b, &len, sizeof len);
        put (&b, m, len);
      }
  if (b.failed)
    {
      gs__buf_fini (&b);
      return gs_error (GS_ENOMEM, "out of memory writing checkpoint");
    }
  h = fnv64 ((const unsigned char *)b.data, b.len);
  put (&b, &h, sizeof h);
  rc = b.failed ? gs_error (GS_ENOMEM, "out of memory")
                : gs__write_file_atomic (path, b.data, b.len);
  gs__buf_fini (&b);
  return rc;
}

typedef struct reader
{
  const unsigned char *d;
  size_t len, pos;
} reader;

static int
get (reader *r, void *out, size_t size)
{
  if (size > r->len - r->pos)
    return 0;
  memcpy (out, r->d + r->pos, size);
  r->pos += size;
  return 1;
}

void
gs_checkpoint_fini (gs_checkpoint *c)
{
  gs_predictions_free (c->p);
  free (c->thresholds);
  c->p = NULL;
  c->thresholds = NULL;
}

int
gs_checkpoint_read (const char *path, const char *key, const char *method_id,
                    size_t n, size_t K, size_t E, gs_checkpoint *c)
{
  char *data = NULL, *end, method[256], mode[16];
  size_t len, fn, fK, fE, i, j, hdr;
  uint64_t h;
  reader r;
  gs_predictions *p;
  int rc = GS_EFORMAT, cal;
  memset (c, 0, sizeof *c);
  {
    FILE *f = fopen (path, "rb");
    if (!f)
      return GS_ENOENT;
    fclose (f);
  }
  if (gs__read_file (path, &data, &len) != GS_OK)
    return gs_error (GS_EIO, "cannot read checkpoint '%s'", path);
  if (len < sizeof h + strlen (GS__CKPT_MAGIC)
      || memcmp (data, GS__CKPT_MAGIC, strlen (GS__CKPT_MAGIC)) != 0)
    goto bad;
  memcpy (&h, data + len - sizeof h, sizeof h);
  if (h != fnv64 ((const unsigned char *)data, len - sizeof h))
    goto bad;
  end = strstr (data, "\nend\n");
  if (!end)
    goto bad;
  hdr = (size_t)(end - data) + 5;
  end[1] = '\0';
  if (sscanf (data + strlen (GS__CKPT_MAGIC),
              "key %16s\nmethod %255s\nsizes %zu %zu %zu\ntrain_seconds "
              "%lf\ncalibration %d %15s %lf %zu",
              c->key, method, &fn, &fK, &fE, &c->train_seconds, &cal, mode,
              &c->valid_fpr, &c->valid_n)
      != 10)
    goto bad;
  if (strcmp (c->key, key) != 0 || strcmp (method, method_id) != 0
      || fn != n || fK != K || fE != E)
    {
      free (data);
      return gs_error (GS_EINVAL,
                       "checkpoint '%s' is for other data or parameters",
                       path);
    }
  c->calibrated = cal;
  snprintf (c->calib_mode, sizeof c->calib_mode, "%s",
            strcmp (mode, "-") ? mode : "");
  p = c->p = gs_predictions_alloc (n, K, E);
  c->thresholds = malloc ((K ? K : 1) * sizeof (double));
  if (!p || !c->thresholds)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  r.d = (const unsigned char *)data;
  r.len = len - sizeof h;
  r.pos = hdr;
  for (i = 0; i < n; i++)
    {
      int32_t v;
      if (!get (&r, &v, sizeof v))
        goto bad;
      p->status[i] = v;
    }
  for (i = 0; i < n * K; i++)
    {
      int32_t v;
      if (!get (&r, &v, sizeof v))
        goto bad;
      p->present[i] = v;
    }
  if (!get (&r, p->score, n * K * sizeof (double))
      || !get (&r, p->counts, n * K * sizeof (double))
      || !get (&r, p->std, n * K * sizeof (double))
      || !get (&r, p->extras, n * E * sizeof (double))
      || !get (&r, p->seconds, n * sizeof (double))
      || !get (&r, c->thresholds, K * sizeof (double)))
    goto bad;
  if (!c->calibrated)
    {
      free (c->thresholds);
      c->thresholds = NULL;
    }
  for (i = 0; i < n; i++)
    {
      uint64_t np;
      if (!get (&r, &np, sizeof np) || np > (r.len - r.pos) / 40)
        goto bad;
      p->n_peaks[i] = (size_t)np;
      if (np == 0)
        continue;
      p->peaks[i] = malloc ((size_t)np * sizeof (gs_peak));
      if (!p->peaks[i])
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto fail;
        }
      for (j = 0; j < np; j++)
        {
          double v[5];
          if (!get (&r, v, sizeof v))
            goto bad;
          p->peaks[i][j].centre_kev = v[0];
          p->peaks[i][j].left_kev = v[1];
          p->peaks[i][j].right_kev = v[2];
          p->peaks[i][j].confidence = v[3];
          p->peaks[i][j].component = (int)v[4];
        }
    }
  for (i = 0; i < n; i++)
    if (p->status[i] != GS_OK)
      {
        uint32_t l;
        if (!get (&r, &l, sizeof l) || l > r.len - r.pos)
          goto bad;
        p->errors[i] = gs__strndup ((const char *)r.d + r.pos, l);
        r.pos += l;
        p->n_failed++;
      }
  if (r.pos != r.len)
    goto bad;
  free (data);
  return GS_OK;
bad:
  rc = gs_error (GS_EFORMAT, "checkpoint '%s' is damaged or truncated",
                 path);
fail:
  free (data);
  gs_checkpoint_fini (c);
  return rc;
}
