#include "run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "experiment.h"
#include "gspec/core.h"
#include "gspec/metrics.h"
#include "gspec/spectra.h"
#include "gspec/synth.h"
#include "util.h"

/* One dataset, materialised as a gs_dataset with truth. */
typedef struct run_data
{
  const gs_exp_dataset *cfg;
  gs_synth *synth;
  gs_spectra *spectra;
  gs_spectra_ds sds;
  gs_dataset ds;
  int has_truth;
  int truth_is_counts;
} run_data;

typedef struct run_method
{
  const gs_method_type *type;
  void *params;
  const gs_ynode *node;
  const char *plugin_version;
  const char *plugin_path;
  int ran;
  int failed;
  char *error;
  double train_seconds;
  double median_s, p95_s, total_s;
  size_t n_spectra, n_failed;
  int has_ident, has_quant;
  gs_ident_metrics ident;
  gs_quant_metrics quant;
  int threads;
} run_method;

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
quantile_sorted (const double *v, size_t n, double q)
{
  double pos, frac;
  size_t i;
  if (n == 0)
    return NAN;
  pos = q * (double)(n - 1);
  i = (size_t)pos;
  frac = pos - (double)i;
  return i + 1 < n ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

static int
load_data (const gs_experiment *e, const gs_library *lib, size_t i,
           run_data *d)
{
  const gs_exp_dataset *c = &e->datasets[i];
  int rc;
  memset (d, 0, sizeof *d);
  d->cfg = c;
  if (c->generated)
    {
      rc = gs_synth_generate (lib, &c->gen, &d->synth);
      if (rc != GS_OK)
        return gs_error_prefix (rc, "dataset '%s'", c->name);
      d->ds = gs_synth_as_dataset (d->synth);
      d->has_truth = 1;
      d->truth_is_counts = 1;
      return GS_OK;
    }
  rc = gs_spectra_read (c->path, &d->spectra);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "dataset '%s'", c->name);
  if (d->spectra->n_channels != lib->n_channels)
    return gs_error (GS_EBADLEN,
                     "dataset '%s' (%s) has %zu channels but the library "
                     "has %zu; use a library on the same grid",
                     c->name, c->path, d->spectra->n_channels,
                     lib->n_channels);
  rc = gs_spectra_ds_init (&d->sds, d->spectra, lib);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "dataset '%s'", c->name);
  d->ds = gs_spectra_ds_dataset (&d->sds);
  d->has_truth = d->sds.has_truth;
  d->truth_is_counts = d->sds.truth_is_counts;
  return GS_OK;
}

/* Writes a dataset as a labelled set: counts, labels of the present
 * components and counts_<name> truth columns. */
static int
write_dataset (const gs_library *lib, const run_data *d, const char *dir)
{
  size_t n = d->ds.n_spectra, K = lib->n_components, i, j;
  gs_spectra *s = gs_spectra_alloc (n, lib->n_channels);
  char *prefix = NULL;
  int rc = GS_OK;
  if (!s)
    return gs_error (GS_ENOMEM, "out of memory writing dataset '%s'",
                     d->cfg->name);
  s->labels = calloc (n, sizeof (char *));
  s->truth_names = calloc (K, sizeof (char *));
  s->truth = calloc (n * K, sizeof (double));
  if (!s->labels || !s->truth_names || !s->truth)
    {
      gs_spectra_free (s);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  s->n_truth = K;
  for (j = 0; j < K; j++)
    s->truth_names[j] = gs__strdup (lib->names[j]);
  for (i = 0; i < n && rc == GS_OK; i++)
    {
      gs__buf lab;
      rc = d->ds.spectrum (d->ds.ctx, i, s->counts + i * lib->n_channels);
      if (rc == GS_OK && d->has_truth)
        rc = d->ds.truth (d->ds.ctx, i, s->truth + i * K);
      gs__buf_init (&lab);
      gs__buf_puts (&lab, "");
      for (j = 0; j < K; j++)
        if (s->truth[i * K + j] > 0)
          gs__buf_printf (&lab, "%s%s", lab.len ? "+" : "", lib->names[j]);
      s->labels[i] = lab.data;
    }
  if (rc == GS_OK)
    {
      prefix = gs__path_join (dir, d->cfg->name);
      rc = prefix ? gs_spectra_write_labelled (s, prefix) : GS_ENOMEM;
    }
  free (prefix);
  gs_spectra_free (s);
  return rc;
}

static void
free_data (run_data *d)
{
  gs_synth_free (d->synth);
  gs_spectra_ds_fini (&d->sds);
  gs_spectra_free (d->spectra);
}

static int
apply_yaml_params (const gs_method_type *t, void *params,
                   const gs_ynode *pm)
{
  size_t i;
  int rc;
  if (!pm)
    return GS_OK;
  for (i = 0; i < pm->n; i++)
    {
      char where[600];
      const gs_ynode *v = pm->items[i];
      snprintf (where, sizeof where, "%s:%zu:%zu", v->file,
                pm->key_line[i], pm->key_column[i]);
      if (v->kind != GS_YNODE_SCALAR)
        return gs_error (GS_ECONFIG,
                         "%s: parameter '%s' of '%s' must be a single "
                         "value",
                         where, pm->keys[i], t->id);
      rc = gs_params_set (t, params, pm->keys[i], v->value, where);
      if (rc != GS_OK)
        return rc;
    }
  return GS_OK;
}

static void
fmt_pct (char *buf, size_t size, const gs_rate *r)
{
  if (r->n == 0)
    snprintf (buf, size, "-");
  else
    snprintf (buf, size, "%.2f [%.2f, %.2f]", 100 * r->value, 100 * r->lo,
              100 * r->hi);
}

static void
json_rate (gs__buf *b, const char *name, const gs_rate *r)
{
  gs__buf_json_string (b, name);
  gs__buf_printf (b, ": {\"value\": ");
  gs__buf_json_number (b, r->value);
  gs__buf_printf (b, ", \"k\": %zu, \"n\": %zu, \"ci95\": [", r->k, r->n);
  gs__buf_json_number (b, r->lo);
  gs__buf_puts (b, ", ");
  gs__buf_json_number (b, r->hi);
  gs__buf_puts (b, "]}");
}

static void
build_summary (const gs_experiment *e, const gs_library *lib,
               const run_data *test, run_method *rm, size_t n, gs__buf *b)
{
  size_t i;
  char c1[64], c2[64], c3[64], c4[64];
  gs__buf_printf (b, "# %s\n\n", e->name);
  gs__buf_printf (b,
                  "Config `%s` (hash %s), seed %llu, library: %s "
                  "(%zu channels, %zu components), test set '%s' "
                  "(%zu spectra).\n\n",
                  e->path, e->hash, (unsigned long long)e->seed,
                  lib->description ? lib->description : "?",
                  lib->n_channels, lib->n_components, test->cfg->name,
                  test->ds.n_spectra);
  gs__buf_puts (b, "Rates in %, with 95 % Wilson intervals. Time: "
                   "analysis per spectrum, median / 95th percentile.\n\n");
  gs__buf_puts (b, "| method | PPR | FPR | FNR | accuracy | MSE weights "
                   "| RAE counts | ms/spectrum (med / p95) | status |\n");
  gs__buf_puts (b, "|---|---|---|---|---|---|---|---|---|\n");
  for (i = 0; i < n; i++)
    {
      run_method *r = &rm[i];
      if (!r->ran)
        {
          gs__buf_printf (b, "| %s | | | | | | | | failed: %s |\n",
                          r->type ? r->type->id : "?",
                          r->error ? r->error : "");
          continue;
        }
      if (r->has_ident)
        {
          fmt_pct (c1, sizeof c1, &r->ident.ppr);
          fmt_pct (c2, sizeof c2, &r->ident.fpr);
          fmt_pct (c3, sizeof c3, &r->ident.fnr);
          fmt_pct (c4, sizeof c4, &r->ident.accuracy);
        }
      else
        {
          snprintf (c1, sizeof c1, "-");
          snprintf (c2, sizeof c2, "-");
          snprintf (c3, sizeof c3, "-");
          snprintf (c4, sizeof c4, "-");
        }
      gs__buf_printf (b, "| %s | %s | %s | %s | %s | ", r->type->id, c1,
                      c2, c3, c4);
      if (r->has_quant)
        gs__buf_printf (b, "%.3e | %.2f %% | ", r->quant.mse_weights,
                        100 * r->quant.rae);
      else
        gs__buf_puts (b, "- | - | ");
      gs__buf_printf (b, "%.3f / %.3f | %s |\n", 1e3 * r->median_s,
                      1e3 * r->p95_s,
                      r->n_failed ? "some spectra failed" : "ok");
    }
}

static void
build_json (const gs_experiment *e, const gs_library *lib,
            const run_data *test, run_method *rm, size_t n, int threads,
            gs__buf *b)
{
  struct utsname u;
  char date[64];
  time_t now = time (NULL);
  size_t i;
  strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
  gs__buf_puts (b, "{\n  \"gspec_version\": ");
  gs__buf_json_string (b, gs_version ());
  gs__buf_puts (b, ",\n  \"date\": ");
  gs__buf_json_string (b, date);
  gs__buf_puts (b, ",\n  \"config\": {\"path\": ");
  gs__buf_json_string (b, e->path);
  gs__buf_puts (b, ", \"hash\": ");
  gs__buf_json_string (b, e->hash);
  gs__buf_puts (b, ", \"overrides\": [");
  for (i = 0; i < e->n_overrides; i++)
    {
      if (i)
        gs__buf_puts (b, ", ");
      gs__buf_json_string (b, e->overrides[i]);
    }
  gs__buf_puts (b, "], \"text\": ");
  gs__buf_json_string (b, e->text);
  gs__buf_printf (b, "},\n  \"name\": ");
  gs__buf_json_string (b, e->name);
  gs__buf_printf (b, ",\n  \"seed\": %llu,\n  \"threads\": %d,\n",
                  (unsigned long long)e->seed, threads);
  gs__buf_printf (b, "  \"target_fpr\": ");
  gs__buf_json_number (b, e->target_fpr);
  gs__buf_puts (b, ",\n  \"machine\": {");
  if (uname (&u) == 0)
    {
      gs__buf_puts (b, "\"system\": ");
      gs__buf_json_string (b, u.sysname);
      gs__buf_puts (b, ", \"release\": ");
      gs__buf_json_string (b, u.release);
      gs__buf_puts (b, ", \"arch\": ");
      gs__buf_json_string (b, u.machine);
      gs__buf_puts (b, ", ");
    }
  gs__buf_printf (b, "\"cpus\": %d},\n", gs_engine_cpus ());
  gs__buf_puts (b, "  \"library\": {\"description\": ");
  gs__buf_json_string (b, lib->description ? lib->description : "");
  gs__buf_printf (b, ", \"channels\": %zu, \"components\": [",
                  lib->n_channels);
  for (i = 0; i < lib->n_components; i++)
    {
      if (i)
        gs__buf_puts (b, ", ");
      gs__buf_json_string (b, lib->names[i]);
    }
  gs__buf_puts (b, "]},\n  \"test_set\": {\"name\": ");
  gs__buf_json_string (b, test->cfg->name);
  gs__buf_printf (b, ", \"spectra\": %zu},\n  \"methods\": [\n",
                  test->ds.n_spectra);
  for (i = 0; i < n; i++)
    {
      run_method *r = &rm[i];
      gs__buf_puts (b, "    {\"id\": ");
      gs__buf_json_string (b, r->type ? r->type->id : "?");
      gs__buf_puts (b, ", \"plugin_version\": ");
      gs__buf_json_string (b, r->plugin_version ? r->plugin_version : "");
      gs__buf_puts (b, ", \"status\": ");
      gs__buf_json_string (b, r->ran ? "ok" : "failed");
      if (!r->ran)
        {
          gs__buf_puts (b, ", \"error\": ");
          gs__buf_json_string (b, r->error ? r->error : "");
        }
      if (r->type && r->params)
        {
          gs__buf_puts (b, ", \"parameters\": ");
          gs_params_to_json (r->type, r->params, b);
        }
      if (r->ran)
        {
          gs__buf_puts (b, ",\n     \"timings\": {\"train_seconds\": ");
          gs__buf_json_number (b, r->train_seconds);
          gs__buf_puts (b, ", \"analyze_seconds_median\": ");
          gs__buf_json_number (b, r->median_s);
          gs__buf_puts (b, ", \"analyze_seconds_p95\": ");
          gs__buf_json_number (b, r->p95_s);
          gs__buf_puts (b, ", \"analyze_seconds_total_cpu\": ");
          gs__buf_json_number (b, r->total_s);
          gs__buf_printf (b, ", \"threads\": %d},\n     \"spectra\": %zu, "
                             "\"failed_spectra\": %zu,\n     \"metrics\": {",
                          r->threads, r->n_spectra, r->n_failed);
          if (r->has_ident)
            {
              gs__buf_puts (b, "\"identification\": {");
              json_rate (b, "accuracy", &r->ident.accuracy);
              gs__buf_puts (b, ", ");
              json_rate (b, "ppr", &r->ident.ppr);
              gs__buf_puts (b, ", ");
              json_rate (b, "fprr", &r->ident.fprr);
              gs__buf_puts (b, ", ");
              json_rate (b, "fpr", &r->ident.fpr);
              gs__buf_puts (b, ", ");
              json_rate (b, "fnr", &r->ident.fnr);
              gs__buf_puts (b, "}");
            }
          if (r->has_quant)
            {
              gs__buf_printf (b, "%s\"quantification\": {\"mse_weights\": ",
                              r->has_ident ? ", " : "");
              gs__buf_json_number (b, r->quant.mse_weights);
              gs__buf_puts (b, ", \"rae_counts\": ");
              gs__buf_json_number (b, r->quant.rae);
              gs__buf_printf (b, ", \"rae_pairs\": %zu}",
                              r->quant.rae_pairs);
            }
          gs__buf_puts (b, "}");
        }
      gs__buf_printf (b, "}%s\n", i + 1 < n ? "," : "");
    }
  gs__buf_puts (b, "  ]\n}\n");
}

/* Evaluates predictions against the truth of a dataset. */
static int
evaluate (run_method *r, const run_data *d, const gs_predictions *p)
{
  size_t n = p->n, K = p->K, i, m = 0;
  double *truth, *counts;
  int *present;
  int rc = GS_OK;
  if (!d->has_truth)
    return GS_OK;
  truth = malloc (n * K * sizeof (double));
  counts = malloc (n * K * sizeof (double));
  present = malloc (n * K * sizeof (int));
  if (!truth || !counts || !present)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  /* Spectra the method failed on are excluded (and counted). */
  for (i = 0; i < n; i++)
    {
      if (p->status[i] != GS_OK)
        continue;
      rc = d->ds.truth (d->ds.ctx, i, truth + m * K);
      if (rc != GS_OK)
        goto done;
      memcpy (counts + m * K, p->counts + i * K, K * sizeof (double));
      memcpy (present + m * K, p->present + i * K, K * sizeof (int));
      m++;
    }
  if (m == 0)
    goto done;
  if (r->type->kinds & GS_KIND_IDENTIFY)
    {
      rc = gs_metrics_identification (m, K, truth, present, 0, &r->ident);
      if (rc != GS_OK)
        goto done;
      r->has_ident = 1;
    }
  if ((r->type->kinds & GS_KIND_QUANTIFY) && d->truth_is_counts)
    {
      rc = gs_metrics_quantification (m, K, truth, counts, &r->quant);
      if (rc != GS_OK)
        goto done;
      r->has_quant = 1;
    }
done:
  free (truth);
  free (counts);
  free (present);
  return rc;
}

int
gs_run (const gs_run_opts *o)
{
  gs_experiment *e = NULL;
  gs_library *lib = NULL;
  gs_registry *reg = NULL;
  run_data *data = NULL;
  run_method *rm = NULL;
  size_t n_methods = 0, i, test_idx = (size_t)-1, train_idx = (size_t)-1,
         valid_idx = (size_t)-1;
  int rc, threads;
  char *out_dir = NULL, *pred_dir = NULL, *path = NULL;
  gs__buf b;

  gs__buf_init (&b);
  rc = gs_experiment_load (o->config, o->overrides, o->n_overrides, &e);
  if (rc != GS_OK)
    return rc;
  threads = o->threads >= 0 ? o->threads : e->threads;
  if (threads <= 0)
    threads = gs_engine_cpus ();
  out_dir = gs__strdup (o->out_dir ? o->out_dir : e->out_dir);
  rc = gs_library_load_node (e->library, e->dir, &lib);
  if (rc != GS_OK)
    goto done;
  data = calloc (e->n_datasets, sizeof *data);
  if (!data)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  for (i = 0; i < e->n_datasets; i++)
    {
      rc = load_data (e, lib, i, &data[i]);
      if (rc != GS_OK)
        goto done;
      if (e->datasets[i].role == GS_ROLE_TEST && test_idx == (size_t)-1)
        test_idx = i;
      if (e->datasets[i].role == GS_ROLE_TRAIN && train_idx == (size_t)-1)
        train_idx = i;
      if (e->datasets[i].role == GS_ROLE_VALID && valid_idx == (size_t)-1)
        valid_idx = i;
    }
  if (test_idx == (size_t)-1)
    {
      rc = gs_error (GS_ECONFIG, "%s: no dataset has role 'test'; mark one "
                                 "'role: test'",
                     e->path);
      goto done;
    }
  reg = gs_registry_alloc ();
  if (!reg)
    {
      rc = GS_ENOMEM;
      goto done;
    }
  gs_registry_load_default (reg);

  /* Resolve the methods before running anything: a typo fails fast. */
  n_methods = e->all_untrained ? gs_registry_count (reg) : e->n_methods;
  rm = calloc (n_methods ? n_methods : 1, sizeof *rm);
  if (!rm)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  if (e->all_untrained)
    {
      size_t k = 0;
      for (i = 0; i < gs_registry_count (reg); i++)
        {
          const gs_method_type *t = gs_registry_method (reg, i);
          if (t->train || (t->kinds & GS_KIND_PEAKS))
            continue;
          rm[k].type = t;
          rm[k].plugin_version = gs_registry_method_plugin (reg, i)->version;
          rm[k].params = gs_params_alloc (t);
          k++;
        }
      n_methods = k;
    }
  else
    for (i = 0; i < n_methods; i++)
      {
        const gs_method_type *t = gs_registry_find (reg, e->methods[i].id);
        size_t j;
        if (!t)
          {
            char w[512];
            gs__buf names;
            gs_ynode_where (e->methods[i].node, w, sizeof w);
            gs__buf_init (&names);
            for (j = 0; j < gs_registry_count (reg); j++)
              gs__buf_printf (&names, "%s%s", j ? ", " : "",
                              gs_registry_method (reg, j)->id);
            rc = gs_error (GS_ECONFIG,
                           "%s: unknown method '%s'; registered methods: %s",
                           w, e->methods[i].id,
                           names.data ? names.data : "(none)");
            gs__buf_fini (&names);
            goto done;
          }
        for (j = 0; j < gs_registry_count (reg); j++)
          if (gs_registry_method (reg, j) == t)
            rm[i].plugin_version
                = gs_registry_method_plugin (reg, j)->version;
        rm[i].type = t;
        rm[i].node = e->methods[i].node;
        rm[i].params = gs_params_alloc (t);
        if (!rm[i].params)
          {
            rc = GS_ENOMEM;
            goto done;
          }
        rc = apply_yaml_params (t, rm[i].params, e->methods[i].params);
        if (rc != GS_OK)
          goto done;
        if (t->train && train_idx == (size_t)-1)
          {
            char w[512];
            gs_ynode_where (e->methods[i].node, w, sizeof w);
            rc = gs_error (GS_ECONFIG,
                           "%s: method '%s' needs training, but no dataset "
                           "has role 'train'",
                           w, t->id);
            goto done;
          }
      }

  rc = gs__mkdirs (out_dir);
  if (rc != GS_OK)
    goto done;
  pred_dir = gs__path_join (out_dir, "predictions");
  if (e->write_predictions && (rc = gs__mkdirs (pred_dir)) != GS_OK)
    goto done;

  if (e->write_spectra)
    {
      char *sdir = gs__path_join (out_dir, "spectra");
      rc = sdir ? gs__mkdirs (sdir) : GS_ENOMEM;
      for (i = 0; rc == GS_OK && i < e->n_datasets; i++)
        rc = write_dataset (lib, &data[i], sdir);
      free (sdir);
      if (rc != GS_OK)
        goto done;
    }

  for (i = 0; i < n_methods; i++)
    {
      run_method *r = &rm[i];
      gs_method *m = NULL;
      gs_predictions *p = NULL;
      gs_setup setup;
      double t0;
      double *sorted;
      size_t j;
      memset (&setup, 0, sizeof setup);
      setup.struct_size = (uint32_t)sizeof setup;
      setup.library = gs_library_as_view (lib);
      setup.seed = gs__mix64 (e->seed ^ 0x6d657468ULL);
      setup.target_fpr = e->target_fpr;
      r->threads = threads;
      if (gs_method_alloc (r->type, r->params, &setup, &m) != GS_OK)
        {
          r->error = gs__strdup (gs_last_error ());
          gs_log (GS_LOG_ERROR, r->type->id, "%s", r->error);
          continue;
        }
      if (r->type->train)
        {
          t0 = gs__now ();
          if (gs_method_train (m, &data[train_idx].ds,
                               valid_idx != (size_t)-1 ? &data[valid_idx].ds
                                                       : NULL)
              != GS_OK)
            {
              r->error = gs__strdup (gs_last_error ());
              gs_log (GS_LOG_ERROR, r->type->id, "%s", r->error);
              gs_method_free (m);
              continue;
            }
          r->train_seconds = gs__now () - t0;
          {
            char *mdir = gs__path_join (out_dir, "models");
            char *mname = gs__asprintf ("%s.gsm", r->type->id);
            char *mpath = (mdir && mname) ? gs__path_join (mdir, mname)
                                          : NULL;
            if (!mpath || gs__mkdirs (mdir) != GS_OK
                || gs_model_save (mpath, m, lib) != GS_OK)
              gs_log (GS_LOG_WARN, r->type->id, "model not saved: %s",
                      gs_last_error ());
            free (mdir);
            free (mname);
            free (mpath);
          }
        }
      if (gs_engine_analyze (m, &data[test_idx].ds, threads, "analyze", &p)
          != GS_OK)
        {
          r->error = gs__strdup (gs_last_error ());
          gs_log (GS_LOG_ERROR, r->type->id, "%s", r->error);
          gs_method_free (m);
          continue;
        }
      r->ran = 1;
      r->n_spectra = p->n;
      r->n_failed = p->n_failed;
      if (p->n_failed)
        {
          for (j = 0; j < p->n && !p->errors[j]; j++)
            ;
          gs_log (GS_LOG_WARN, r->type->id,
                  "%zu of %zu spectra failed; first: %s", p->n_failed, p->n,
                  j < p->n ? p->errors[j] : "");
        }
      sorted = malloc (p->n * sizeof (double));
      if (sorted)
        {
          r->total_s = 0;
          for (j = 0; j < p->n; j++)
            {
              sorted[j] = p->seconds[j];
              r->total_s += p->seconds[j];
            }
          qsort (sorted, p->n, sizeof (double), cmp_double);
          r->median_s = quantile_sorted (sorted, p->n, 0.5);
          r->p95_s = quantile_sorted (sorted, p->n, 0.95);
          free (sorted);
        }
      if (evaluate (r, &data[test_idx], p) != GS_OK)
        gs_log (GS_LOG_WARN, r->type->id, "metrics not computed: %s",
                gs_last_error ());
      if (e->write_predictions)
        {
          char *name = gs__asprintf ("%s.csv", r->type->id);
          char *pp = name ? gs__path_join (pred_dir, name) : NULL;
          if (!pp
              || gs_predictions_write_csv (
                     p, (const char *const *)lib->names, r->type->extras, pp)
                     != GS_OK)
            gs_log (GS_LOG_WARN, r->type->id, "predictions not written: %s",
                    gs_last_error ());
          free (name);
          free (pp);
        }
      gs_predictions_free (p);
      gs_method_free (m);
    }

  build_json (e, lib, &data[test_idx], rm, n_methods, threads, &b);
  path = gs__path_join (out_dir, "results.json");
  rc = b.failed ? gs_error (GS_ENOMEM, "out of memory")
                : gs__write_file_atomic (path, b.data, b.len);
  if (rc != GS_OK)
    goto done;
  gs__buf_fini (&b);
  gs__buf_init (&b);
  build_summary (e, lib, &data[test_idx], rm, n_methods, &b);
  free (path);
  path = gs__path_join (out_dir, "summary.md");
  rc = b.failed ? gs_error (GS_ENOMEM, "out of memory")
                : gs__write_file_atomic (path, b.data, b.len);
  if (rc != GS_OK)
    goto done;
  fputs (b.data, stdout);
  printf ("\nResults in %s/ (results.json, summary.md%s)\n", out_dir,
          e->write_predictions ? ", predictions/" : "");
  for (i = 0; i < n_methods; i++)
    if (!rm[i].ran)
      rc = gs_error (GS_EFAILED, "method '%s' failed: %s",
                     rm[i].type ? rm[i].type->id : "?",
                     rm[i].error ? rm[i].error : "");
done:
  gs__buf_fini (&b);
  if (rm)
    for (i = 0; i < n_methods; i++)
      {
        gs_params_free (rm[i].params);
        free (rm[i].error);
      }
  free (rm);
  if (data)
    for (i = 0; i < e->n_datasets; i++)
      free_data (&data[i]);
  free (data);
  free (path);
  free (pred_dir);
  free (out_dir);
  gs_registry_free (reg);
  gs_library_free (lib);
  gs_experiment_free (e);
  return rc;
}
