#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void gs__set_progress_hook (void (*hook) (const char *, const char *, size_t,
                                          size_t));

int
gs_engine_cpus (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* ---- Progress bar ----------------------------------------------------- */

static pthread_mutex_t gs__progress_lock = PTHREAD_MUTEX_INITIALIZER;

static void
tty_progress (const char *who, const char *stage, size_t done, size_t total)
{
  static double last;
  double now = gs__now ();
  int width = 30, filled;
  if (total == 0)
    return;
  pthread_mutex_lock (&gs__progress_lock);
  if (done < total && now - last < 0.1)
    {
      pthread_mutex_unlock (&gs__progress_lock);
      return;
    }
  last = now;
  filled = (int)((double)width * (double)done / (double)total);
  fprintf (stderr, "\r%-24.24s %-10.10s [", who ? who : "", stage);
  for (int i = 0; i < width; i++)
    fputc (i < filled ? '#' : ' ', stderr);
  fprintf (stderr, "] %zu/%zu%s", done, total, done >= total ? "\n" : "");
  fflush (stderr);
  pthread_mutex_unlock (&gs__progress_lock);
}

void
gs_engine_progress_enable (int enable)
{
  gs__set_progress_hook (enable && isatty (2) ? tty_progress : NULL);
}

/* ---- Predictions ------------------------------------------------------ */

void
gs_predictions_free (gs_predictions *p)
{
  size_t i;
  if (!p)
    return;
  if (p->peaks)
    for (i = 0; i < p->n; i++)
      free (p->peaks[i]);
  if (p->errors)
    for (i = 0; i < p->n; i++)
      free (p->errors[i]);
  free (p->peaks);
  free (p->n_peaks);
  free (p->errors);
  free (p->present);
  free (p->score);
  free (p->counts);
  free (p->std);
  free (p->extras);
  free (p->seconds);
  free (p->status);
  free (p);
}

void
gs_predictions_apply_thresholds (gs_predictions *p, const double *thr)
{
  size_t i, j, K = p->K;
  for (i = 0; i < p->n; i++)
    if (p->status[i] == GS_OK)
      for (j = 0; j < K; j++)
        if (!(isinf (thr[j]) && thr[j] > 0))
          p->present[i * K + j] = p->score[i * K + j] > thr[j];
}

gs_predictions *
gs_predictions_alloc (size_t n, size_t K, size_t ne)
{
  gs_predictions *p = calloc (1, sizeof *p);
  if (!p)
    return NULL;
  p->n = n;
  p->K = K;
  p->n_extras = ne;
  p->present = calloc (n * K, sizeof (int));
  p->score = calloc (n * K, sizeof (double));
  p->counts = calloc (n * K, sizeof (double));
  p->std = calloc (n * K, sizeof (double));
  p->extras = calloc (n * (ne ? ne : 1), sizeof (double));
  p->peaks = calloc (n, sizeof (gs_peak *));
  p->n_peaks = calloc (n, sizeof (size_t));
  p->seconds = calloc (n, sizeof (double));
  p->status = calloc (n, sizeof (int));
  p->errors = calloc (n, sizeof (char *));
  if (!p->present || !p->score || !p->counts || !p->std || !p->extras
      || !p->peaks || !p->n_peaks || !p->seconds || !p->status
      || !p->errors)
    {
      gs_predictions_free (p);
      return NULL;
    }
  return p;
}

typedef struct worker_t
{
  const gs_method *m;
  const gs_dataset *data;
  gs_predictions *p;
  size_t first, stride;
  int rc;
  char err[1024];
  const char *label;
  size_t *done;
} worker_t;

static pthread_mutex_t gs__done_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
worker_main (void *arg)
{
  worker_t *w = (worker_t *)arg;
  gs_predictions *p = w->p;
  size_t K = p->K, ne = p->n_extras, i;
  double *y = malloc (w->data->n_channels * sizeof (double));
  gs_result *res = gs_result_alloc (K, ne);
  void *work = NULL;
  const gs_method_type *t = gs_method_type_of (w->m);
  w->rc = GS_OK;
  if (!y || !res || gs_method_workspace_alloc (w->m, &work) != GS_OK)
    {
      w->rc = GS_ENOMEM;
      snprintf (w->err, sizeof w->err, "out of memory in a worker");
      goto done;
    }
  for (i = w->first; i < p->n; i += w->stride)
    {
      double t0;
      int rc = w->data->spectrum (w->data->ctx, i, y);
      if (rc != GS_OK)
        {
          /* The data source failed: this is fatal for the run. */
          w->rc = rc;
          snprintf (w->err, sizeof w->err, "spectrum %zu: %s", i,
                    gs_last_error ());
          goto done;
        }
      t0 = gs__now ();
      rc = gs_method_analyze (w->m, work, y, w->data->n_channels, res);
      p->seconds[i] = gs__now () - t0;
      p->status[i] = rc;
      if (rc != GS_OK)
        {
          size_t j;
          p->errors[i] = gs__strdup (gs_last_error ());
          for (j = 0; j < K; j++)
            {
              p->present[i * K + j] = -1;
              p->score[i * K + j] = NAN;
              p->counts[i * K + j] = NAN;
              p->std[i * K + j] = NAN;
            }
          for (j = 0; j < ne; j++)
            p->extras[i * (ne ? ne : 1) + j] = NAN;
        }
      else
        {
          memcpy (p->present + i * K, res->present, K * sizeof (int));
          memcpy (p->score + i * K, res->score, K * sizeof (double));
          memcpy (p->counts + i * K, res->counts, K * sizeof (double));
          memcpy (p->std + i * K, res->std, K * sizeof (double));
          if (ne)
            memcpy (p->extras + i * ne, res->extras, ne * sizeof (double));
          if (res->n_peaks)
            {
              p->peaks[i] = malloc (res->n_peaks * sizeof (gs_peak));
              if (p->peaks[i])
                {
                  memcpy (p->peaks[i], res->peaks,
                          res->n_peaks * sizeof (gs_peak));
                  p->n_peaks[i] = res->n_peaks;
                }
            }
        }
      pthread_mutex_lock (&gs__done_lock);
      (*w->done)++;
      if ((*w->done & 63) == 0 || *w->done == p->n)
        gs_host_api_get ()->progress (t->id, w->label, *w->done, p->n);
      pthread_mutex_unlock (&gs__done_lock);
    }
done:
  gs_method_workspace_free (work);
  gs_result_free (res);
  free (y);
  return NULL;
}

int
gs_engine_analyze (const gs_method *m, const gs_dataset *data, int threads,
                   const char *label, gs_predictions **out)
{
  const gs_method_type *t = gs_method_type_of (m);
  size_t K = data->n_components, ne = gs_method_n_extras (t), i;
  size_t done = 0;
  gs_predictions *p;
  worker_t *w;
  pthread_t *tid;
  int nt = threads > 0 ? threads : gs_engine_cpus (), rc = GS_OK;
  *out = NULL;
  if (data->n_spectra == 0)
    return gs_error (GS_EINVAL, "no spectra to analyse");
  if ((size_t)nt > data->n_spectra)
    nt = (int)data->n_spectra;
  p = gs_predictions_alloc (data->n_spectra, K, ne);
  w = calloc ((size_t)nt, sizeof *w);
  tid = calloc ((size_t)nt, sizeof *tid);
  if (!p || !w || !tid)
    {
      gs_predictions_free (p);
      free (w);
      free (tid);
      return gs_error (GS_ENOMEM, "out of memory for %zu predictions",
                       data->n_spectra);
    }
  for (i = 0; i < (size_t)nt; i++)
    {
      w[i].m = m;
      w[i].data = data;
      w[i].p = p;
      w[i].first = i;
      w[i].stride = (size_t)nt;
      w[i].label = label ? label : "analyze";
      w[i].done = &done;
    }
  if (nt == 1)
    worker_main (&w[0]);
  else
    {
      for (i = 0; i < (size_t)nt; i++)
        if (pthread_create (&tid[i], NULL, worker_main, &w[i]) != 0)
          {
            size_t j;
            for (j = 0; j < i; j++)
              pthread_join (tid[j], NULL);
            gs_predictions_free (p);
            free (w);
            free (tid);
            return gs_error (GS_EFAILED, "cannot start worker threads");
          }
      for (i = 0; i < (size_t)nt; i++)
        pthread_join (tid[i], NULL);
    }
  for (i = 0; i < (size_t)nt; i++)
    if (w[i].rc != GS_OK && rc == GS_OK)
      rc = gs_error (w[i].rc, "%s", w[i].err);
  free (w);
  free (tid);
  if (rc != GS_OK)
    {
      gs_predictions_free (p);
      return rc;
    }
  for (i = 0; i < p->n; i++)
    p->n_failed += p->status[i] != GS_OK;
  *out = p;
  return GS_OK;
}

/* ---- Writers ---------------------------------------------------------- */

static void
csv_field (gs__buf *b, const char *s)
{
  int quote = strpbrk (s, ",\"\n\r") != NULL;
  const char *p;
  if (!quote)
    {
      gs__buf_puts (b, s);
      return;
    }
  gs__buf_puts (b, "\"");
  for (p = s; *p; p++)
    {
      if (*p == '"')
        gs__buf_puts (b, "\"\"");
      else
        gs__buf_append (b, p, 1);
    }
  gs__buf_puts (b, "\"");
}

static void
csv_num (gs__buf *b, double v)
{
  if (isfinite (v))
    gs__buf_printf (b, "%.10g", v);
}

static void
labels_of (const gs_predictions *p, size_t i, const char *const *names,
           gs__buf *b)
{
  size_t j;
  int first = 1;
  for (j = 0; j < p->K; j++)
    if (p->present[i * p->K + j] == 1)
      {
        if (!first)
          gs__buf_puts (b, "+");
        gs__buf_puts (b, names[j]);
        first = 0;
      }
}

int
gs_predictions_write_csv (const gs_predictions *p, const char *const *names,
                          const char *const *extras, const char *path)
{
  gs__buf b;
  size_t i, j, K = p->K, ne = p->n_extras;
  int any_peaks = 0, rc;
  for (i = 0; i < p->n; i++)
    any_peaks |= p->n_peaks[i] > 0;
  gs__buf_init (&b);
  gs__buf_puts (&b, "index,labels");
  for (j = 0; j < K; j++)
    gs__buf_printf (&b, ",count_%s", names[j]);
  for (j = 0; j < K; j++)
    gs__buf_printf (&b, ",std_%s", names[j]);
  for (j = 0; j < ne; j++)
    gs__buf_printf (&b, ",%s", extras[j]);
  if (any_peaks)
    gs__buf_puts (&b, ",peaks");
  if (p->n_failed)
    gs__buf_puts (&b, ",error");
  gs__buf_puts (&b, "\n");
  for (i = 0; i < p->n; i++)
    {
      gs__buf lab;
      gs__buf_printf (&b, "%zu,", i);
      gs__buf_init (&lab);
      gs__buf_puts (&lab, "");
      labels_of (p, i, names, &lab);
      csv_field (&b, lab.data ? lab.data : "");
      gs__buf_fini (&lab);
      for (j = 0; j < K; j++)
        {
          gs__buf_puts (&b, ",");
          csv_num (&b, p->counts[i * K + j]);
        }
      for (j = 0; j < K; j++)
        {
          gs__buf_puts (&b, ",");
          csv_num (&b, p->std[i * K + j]);
        }
      for (j = 0; j < ne; j++)
        {
          gs__buf_puts (&b, ",");
          csv_num (&b, p->extras[i * ne + j]);
        }
      if (any_peaks)
        {
          size_t q;
          gs__buf_puts (&b, ",");
          for (q = 0; q < p->n_peaks[i]; q++)
            {
              const gs_peak *pk = &p->peaks[i][q];
              gs__buf_printf (&b, "%s%.3f:%.3f:%.3f:%.4f", q ? ";" : "",
                              pk->centre_kev, pk->left_kev, pk->right_kev,
                              pk->confidence);
            }
        }
      if (p->n_failed)
        {
          gs__buf_puts (&b, ",");
          if (p->errors[i])
            csv_field (&b, p->errors[i]);
        }
      gs__buf_puts (&b, "\n");
    }
  if (b.failed)
    {
      gs__buf_fini (&b);
      return gs_error (GS_ENOMEM, "out of memory writing '%s'", path);
    }
  rc = gs__write_file_atomic (path, b.data, b.len);
  gs__buf_fini (&b);
  return rc;
}

int
gs_predictions_write_json (const gs_predictions *p, const char *const *names,
                           const char *const *extras, const char *path)
{
  gs__buf b;
  size_t i, j, K = p->K, ne = p->n_extras;
  int rc;
  gs__buf_init (&b);
  gs__buf_puts (&b, "[\n");
  for (i = 0; i < p->n; i++)
    {
      gs__buf lab;
      gs__buf_printf (&b, "  {\"index\": %zu, \"labels\": ", i);
      gs__buf_init (&lab);
      gs__buf_puts (&lab, "");
      labels_of (p, i, names, &lab);
      gs__buf_json_string (&b, lab.data ? lab.data : "");
      gs__buf_fini (&lab);
      gs__buf_puts (&b, ", \"components\": {");
      for (j = 0; j < K; j++)
        {
          gs__buf_printf (&b, "%s", j ? ", " : "");
          gs__buf_json_string (&b, names[j]);
          gs__buf_puts (&b, ": {\"present\": ");
          gs__buf_puts (&b, p->present[i * K + j] == 1   ? "true"
                            : p->present[i * K + j] == 0 ? "false"
                                                         : "null");
          gs__buf_puts (&b, ", \"score\": ");
          gs__buf_json_number (&b, p->score[i * K + j]);
          gs__buf_puts (&b, ", \"count\": ");
          gs__buf_json_number (&b, p->counts[i * K + j]);
          gs__buf_puts (&b, ", \"std\": ");
          gs__buf_json_number (&b, p->std[i * K + j]);
          gs__buf_puts (&b, "}");
        }
      gs__buf_puts (&b, "}, \"extras\": {");
      for (j = 0; j < ne; j++)
        {
          gs__buf_printf (&b, "%s", j ? ", " : "");
          gs__buf_json_string (&b, extras[j]);
          gs__buf_puts (&b, ": ");
          gs__buf_json_number (&b, p->extras[i * ne + j]);
        }
      gs__buf_puts (&b, "}, \"peaks\": [");
      for (j = 0; j < p->n_peaks[i]; j++)
        {
          const gs_peak *pk = &p->peaks[i][j];
          gs__buf_printf (&b,
                          "%s{\"centre_kev\": %.6g, \"left_kev\": %.6g, "
                          "\"right_kev\": %.6g, \"confidence\": %.6g, "
                          "\"component\": %d}",
                          j ? ", " : "", pk->centre_kev, pk->left_kev,
                          pk->right_kev, pk->confidence, pk->component);
        }
      gs__buf_puts (&b, "], \"error\": ");
      if (p->errors[i])
        gs__buf_json_string (&b, p->errors[i]);
      else
        gs__buf_puts (&b, "null");
      gs__buf_printf (&b, "}%s\n", i + 1 < p->n ? "," : "");
    }
  gs__buf_puts (&b, "]\n");
  if (b.failed)
    {
      gs__buf_fini (&b);
      return gs_error (GS_ENOMEM, "out of memory writing '%s'", path);
    }
  rc = gs__write_file_atomic (path, b.data, b.len);
  gs__buf_fini (&b);
  return rc;
}

/* ---- Read spectra as a dataset ---------------------------------------- */

static int
sds_spectrum (void *ctx, size_t index, double *out)
{
  gs_spectra_ds *ds = (gs_spectra_ds *)ctx;
  if (index >= (ds->rows ? ds->n_rows : ds->s->n_spectra))
    return gs_error (GS_EINVAL, "index %zu out of range", index);
  if (ds->rows)
    index = ds->rows[index];
  memcpy (out, ds->s->counts + index * ds->s->n_channels,
          ds->s->n_channels * sizeof (double));
  return GS_OK;
}

static int
sds_truth (void *ctx, size_t index, double *out)
{
  gs_spectra_ds *ds = (gs_spectra_ds *)ctx;
  if (!ds->has_truth)
    return gs_error (GS_EUNSUPPORTED, "this set carries no truth");
  if (index >= (ds->rows ? ds->n_rows : ds->s->n_spectra))
    return gs_error (GS_EINVAL, "index %zu out of range", index);
  if (ds->rows)
    index = ds->rows[index];
  memcpy (out, ds->truth + index * ds->K, ds->K * sizeof (double));
  return GS_OK;
}

/* Flags row i as holding the unknown label `name` and adds the name to
 * the list once. */
static int
note_unknown (gs_spectra_ds *ds, size_t n, size_t i, const char *name)
{
  size_t len = strlen (name);
  const char *p;
  if (!ds->unknown && !(ds->unknown = calloc (n, sizeof (int))))
    return gs_error (GS_ENOMEM, "out of memory");
  if (!ds->unknown[i])
    ds->n_unknown++;
  ds->unknown[i] = 1;
  for (p = ds->unknown_names; p && (p = strstr (p, name)) != NULL; p += len)
    if ((p == ds->unknown_names || p[-1] == ' ')
        && (p[len] == ',' || p[len] == '\0'))
      return GS_OK;
  p = ds->unknown_names;
  ds->unknown_names = p ? gs__asprintf ("%s, %s", p, name) : gs__strdup (name);
  free ((char *)p);
  return ds->unknown_names ? GS_OK : gs_error (GS_ENOMEM, "out of memory");
}

int
gs_spectra_ds_init (gs_spectra_ds *ds, const gs_spectra *s,
                    const gs_library *lib)
{
  size_t i, j, K = lib->n_components;
  memset (ds, 0, sizeof *ds);
  ds->s = s;
  ds->K = K;
  ds->truth = calloc (s->n_spectra * K, sizeof (double));
  if (!ds->truth)
    return gs_error (GS_ENOMEM, "out of memory");
  if (s->n_truth)
    {
      for (j = 0; j < s->n_truth; j++)
        {
          long c = gs_library_find (lib, s->truth_names[j]);
          if (c < 0)
            continue;
          for (i = 0; i < s->n_spectra; i++)
            ds->truth[i * K + (size_t)c] = s->truth[i * s->n_truth + j];
          ds->has_truth = 1;
          ds->truth_is_counts = 1;
        }
    }
  else if (s->labels)
    {
      for (i = 0; i < s->n_spectra; i++)
        {
          const char *p = s->labels[i];
          while (p && *p)
            {
              const char *plus = strchr (p, '+');
              size_t len = plus ? (size_t)(plus - p) : strlen (p);
              char *name = gs__strndup (p, len);
              long c = name ? gs_library_find (lib, name) : -1;
              if (!name)
                {
                  gs_spectra_ds_fini (ds);
                  return gs_error (GS_ENOMEM, "out of memory");
                }
              if (c < 0 && strcmp (name, "background") != 0 && *name)
                {
                  int rc = note_unknown (ds, s->n_spectra, i, name);
                  if (rc != GS_OK)
                    {
                      free (name);
                      gs_spectra_ds_fini (ds);
                      return rc;
                    }
                }
              if (c >= 0)
                ds->truth[i * K + (size_t)c] = 1.0;
              free (name);
              p = plus ? plus + 1 : NULL;
            }
        }
      ds->has_truth = 1;
    }
  return GS_OK;
}

void
gs_spectra_ds_fini (gs_spectra_ds *ds)
{
  free (ds->truth);
  ds->truth = NULL;
  free (ds->unknown);
  ds->unknown = NULL;
  free (ds->unknown_names);
  ds->unknown_names = NULL;
  free (ds->rows);
  ds->rows = NULL;
  ds->n_rows = 0;
}

int
gs_spectra_ds_known_only (gs_spectra_ds *ds)
{
  size_t i, n = ds->s->n_spectra;
  free (ds->rows);
  ds->rows = malloc ((n ? n : 1) * sizeof *ds->rows);
  if (!ds->rows)
    return gs_error (GS_ENOMEM, "out of memory");
  ds->n_rows = 0;
  for (i = 0; i < n; i++)
    if (!ds->unknown || !ds->unknown[i])
      ds->rows[ds->n_rows++] = i;
  return GS_OK;
}

gs_dataset
gs_spectra_ds_dataset (gs_spectra_ds *ds)
{
  gs_dataset d;
  memset (&d, 0, sizeof d);
  d.struct_size = (uint32_t)sizeof d;
  d.n_spectra = ds->rows ? ds->n_rows : ds->s->n_spectra;
  d.n_channels = ds->s->n_channels;
  d.n_components = ds->K;
  d.ctx = ds;
  d.spectrum = sds_spectrum;
  d.truth = sds_truth;
  return d;
}
