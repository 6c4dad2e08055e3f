/* `gspec run` / `train` / `generate`.
 *
 * The parent loads the config, the library and the datasets (a scenario's
 * tables; spectra are drawn on demand), then runs each method in a child
 * process (fork): it trains on the train set, calibrates a score method's
 * threshold on the validation set, analyses the test set and writes a
 * checkpoint.  The parent reads the checkpoints back, so a crash inside a
 * plugin only fails that method, and a rerun after an interruption reuses
 * every checkpoint whose key (data, method, plugin version, parameters,
 * seed, target, calibration) still matches. */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "checkpoint.h"
#include "engine.h"
#include "experiment.h"
#include "gspec/calibrate.h"
#include "gspec/core.h"
#include "gspec/metrics.h"
#include "gspec/scenario.h"
#include "gspec/spectra.h"
#include "gspec/synth.h"
#include "report.h"
#include "report_labelled.h"
#include "report_peaks.h"
#include "util.h"

#define NONE ((size_t)-1)

/* A scenario split seen through the method library's component order. */
typedef struct sc_view
{
  gs_scenario *s;
  gs_split split;
  const long *map; /* library component j -> scenario column, or -1 */
  size_t K;        /* library components */
} sc_view;

/* One dataset, materialised as a gs_dataset with truth. */
typedef struct run_data
{
  const char *name;
  gs_exp_role role;
  gs_synth *synth;
  gs_peakset *peakset;
  gs_spectra *spectra;
  gs_spectra_ds sds;
  sc_view sc;
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
  char key[17];
  int ran;
  int resumed;
  char *error;
  double median_s, p95_s, total_s;
  size_t n_spectra, n_failed;
  int has_ident, has_quant;
  gs_ident_metrics ident;
  gs_quant_metrics quant;
  gs_checkpoint ck; /* predictions, calibration, train time */
  int *ok;          /* n: spectrum analysed without error */
} run_method;

typedef struct run_ctx
{
  const gs_run_opts *o;
  gs_experiment *e;
  gs_library *lib_owned;
  const gs_library *lib;
  gs_photopeak *pk; /* the library's full-energy peaks (peak sets) */
  size_t n_pk;
  gs_scenario *sc;
  long *sc_map;
  run_data *data;
  size_t n_data, test, train, valid;
  gs_registry *reg;
  run_method *rm;
  size_t n_methods;
  int threads;
  char *out_dir;
  unsigned long long data_key;
  /* test-set breakdown (scenarios 2 and 3) */
  int *group;
  size_t G;
  double *group_value;
  const char *group_title;
} run_ctx;

/* ---- datasets ---------------------------------------------------------- */

static int
sc_spectrum (void *ctx, size_t i, double *out)
{
  const sc_view *v = (const sc_view *)ctx;
  return gs_scenario_spectrum (v->s, v->split, i, out);
}

static int
sc_truth (void *ctx, size_t i, double *out)
{
  const sc_view *v = (const sc_view *)ctx;
  const double *row = v->s->truth[v->split] + i * v->s->n_components;
  size_t j;
  for (j = 0; j < v->K; j++)
    out[j] = v->map[j] >= 0 ? row[v->map[j]] : 0.0;
  return GS_OK;
}

static int
load_scenario (run_ctx *c)
{
  gs_experiment *e = c->e;
  const gs_library *ref;
  size_t j, k, sp;
  int rc;
  static const char *const split_names[3] = { "train", "valid", "test" };
  static const gs_exp_role roles[3]
      = { GS_ROLE_TRAIN, GS_ROLE_VALID, GS_ROLE_TEST };
  rc = gs_scenario_generate (&e->scenario, &c->sc);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "%s: scenario %d", e->path,
                            (int)e->scenario.id);
  if (c->o->mode == GS_RUN_EVALUATE || c->o->mode == GS_RUN_TRAIN
      || c->o->mode == GS_RUN_GENERATE)
    {
      rc = gs_scenario_load_libraries (c->sc);
      if (rc != GS_OK)
        return rc;
    }
  rc = gs_scenario_reference_library (c->sc, &ref);
  if (rc != GS_OK)
    return rc;
  if (e->library)
    {
      rc = gs_library_load_node (e->library, e->dir, &c->lib_owned);
      if (rc != GS_OK)
        return rc;
      c->lib = c->lib_owned;
      if (c->lib->n_channels != ref->n_channels)
        return gs_error (GS_EBADLEN,
                         "%s: the library has %zu channels but the "
                         "scenario's spectra have %zu",
                         e->path, c->lib->n_channels, ref->n_channels);
    }
  else
    c->lib = ref;
  /* Library components onto scenario columns; every scenario component
   * must be in the library (else its counts could not be evaluated). */
  c->sc_map = malloc (c->lib->n_components * sizeof (long));
  if (!c->sc_map)
    return gs_error (GS_ENOMEM, "out of memory");
  for (j = 0; j < c->lib->n_components; j++)
    {
      c->sc_map[j] = -1;
      for (k = 0; k < c->sc->n_components; k++)
        if (strcmp (c->lib->names[j], c->sc->names[k]) == 0)
          c->sc_map[j] = (long)k;
    }
  for (k = 0; k < c->sc->n_components; k++)
    if (gs_library_find (c->lib, c->sc->names[k]) < 0)
      return gs_error (GS_ECONFIG,
                       "%s: scenario component '%s' is not in the library "
                       "(%s); use a library with every scenario nuclide",
                       e->path, c->sc->names[k],
                       c->lib->description ? c->lib->description : "?");
  c->n_data = 3;
  c->data = calloc (3, sizeof *c->data);
  if (!c->data)
    return gs_error (GS_ENOMEM, "out of memory");
  for (sp = 0; sp < 3; sp++)
    {
      run_data *d = &c->data[sp];
      d->name = split_names[sp];
      d->role = roles[sp];
      d->sc.s = c->sc;
      d->sc.split = (gs_split)sp;
      d->sc.map = c->sc_map;
      d->sc.K = c->lib->n_components;
      d->ds.struct_size = (uint32_t)sizeof d->ds;
      d->ds.n_spectra = c->sc->n[sp];
      d->ds.n_channels = c->lib->n_channels;
      d->ds.n_components = c->lib->n_components;
      d->ds.component_names = (const char *const *)c->lib->names;
      d->ds.ctx = &d->sc;
      d->ds.spectrum = sc_spectrum;
      d->ds.truth = sc_truth;
      d->has_truth = 1;
      d->truth_is_counts = 1;
    }
  c->train = 0;
  c->valid = c->sc->n[1] ? 1 : NONE;
  c->test = 2;
  if (c->sc->n[0] == 0)
    c->train = NONE;
  /* Test-set groups: the distinct thickness / shift indices, in order. */
  if (c->sc->lambda[2] && c->sc->n[2])
    {
      size_t n = c->sc->n[2], i, L = c->sc->n_libs;
      long *rank = malloc (L * sizeof (long));
      c->group = malloc (n * sizeof (int));
      c->group_value = malloc (L * sizeof (double));
      if (!rank || !c->group || !c->group_value)
        {
          free (rank);
          return gs_error (GS_ENOMEM, "out of memory");
        }
      for (k = 0; k < L; k++)
        rank[k] = 0;
      for (i = 0; i < n; i++)
        rank[c->sc->lambda[2][i]] = 1;
      for (k = 0; k < L; k++)
        if (rank[k])
          {
            c->group_value[c->G] = gs_scenario_lambda_value (c->sc, (int)k);
            rank[k] = (long)c->G++;
          }
      for (i = 0; i < n; i++)
        c->group[i] = (int)rank[c->sc->lambda[2][i]];
      c->group_title = gs_scenario_lambda_title (c->sc);
      free (rank);
    }
  return GS_OK;
}

/* Reads a dataset's sets, puts each on the library grid (rebinning those
 * with a calibration) and joins them. */
static int
read_sets (const run_ctx *c, const gs_exp_dataset *cf, gs_spectra **out)
{
  gs_spectra **parts = calloc (cf->n_paths, sizeof *parts);
  size_t j;
  int rc = GS_OK;
  if (!parts)
    return gs_error (GS_ENOMEM, "out of memory");
  for (j = 0; j < cf->n_paths && rc == GS_OK; j++)
    {
      gs_rebin_report rep;
      rc = gs_spectra_read (cf->paths[j], &parts[j]);
      if (rc == GS_OK)
        rc = gs_spectra_to_library_grid (parts[j], c->lib,
                                         (gs_rebin_mode)c->e->rebin_mode,
                                         &rep);
      if (rc == GS_OK && rep.input > 0)
        gs_log (GS_LOG_DEBUG, NULL,
                "%s: rebinned onto the library grid (%s), %.6g of %.6g "
                "counts below and %.6g above the grid",
                cf->paths[j],
                c->e->rebin_mode == GS_REBIN_LINEAR ? "linear" : "overlap",
                rep.underflow, rep.input, rep.overflow);
    }
  if (rc == GS_OK)
    {
      if (cf->n_paths == 1)
        {
          *out = parts[0];
          parts[0] = NULL;
        }
      else
        rc = gs_spectra_concat (parts, cf->n_paths, out);
    }
  for (j = 0; j < cf->n_paths; j++)
    gs_spectra_free (parts[j]);
  free (parts);
  return rc;
}

static int
load_datasets (run_ctx *c)
{
  gs_experiment *e = c->e;
  size_t i;
  int rc;
  /* Peak-labelled sets need the library's full-energy peaks: the same
   * build gives both. */
  for (i = 0; i < e->n_datasets && !e->datasets[i].peaks; i++)
    ;
  rc = i < e->n_datasets
           ? gs_library_peaks_node (e->library, e->dir, &c->lib_owned,
                                    &c->pk, &c->n_pk)
           : gs_library_load_node (e->library, e->dir, &c->lib_owned);
  if (rc != GS_OK)
    return rc;
  c->lib = c->lib_owned;
  c->data = calloc (e->n_datasets, sizeof *c->data);
  if (!c->data)
    return gs_error (GS_ENOMEM, "out of memory");
  c->n_data = e->n_datasets;
  for (i = 0; i < e->n_datasets; i++)
    {
      const gs_exp_dataset *cf = &e->datasets[i];
      run_data *d = &c->data[i];
      d->name = cf->name;
      d->role = cf->role;
      if (cf->role == GS_ROLE_TEST && c->test == NONE)
        c->test = i;
      if (cf->role == GS_ROLE_TRAIN && c->train == NONE)
        c->train = i;
      if (cf->role == GS_ROLE_VALID && c->valid == NONE)
        c->valid = i;
      if (cf->generated && cf->peaks)
        {
          rc = gs_peakset_create (c->lib, c->pk, c->n_pk, &cf->pk,
                                  &d->peakset);
          if (rc != GS_OK)
            return gs_error_prefix (rc, "dataset '%s'", cf->name);
          d->ds = gs_peakset_dataset (d->peakset);
          d->has_truth = 1;
          d->truth_is_counts = 1;
          continue;
        }
      if (cf->generated)
        {
          rc = gs_synth_generate (c->lib, &cf->gen, &d->synth);
          if (rc != GS_OK)
            return gs_error_prefix (rc, "dataset '%s'", cf->name);
          d->ds = gs_synth_as_dataset (d->synth);
          d->has_truth = 1;
          d->truth_is_counts = 1;
          continue;
        }
      rc = read_sets (c, cf, &d->spectra);
      if (rc != GS_OK)
        return gs_error_prefix (rc, "dataset '%s'", cf->name);
      rc = gs_spectra_ds_init (&d->sds, d->spectra, c->lib);
      if (rc != GS_OK)
        return gs_error_prefix (rc, "dataset '%s'", cf->name);
      if (d->sds.n_unknown)
        gs_log (GS_LOG_INFO, NULL,
                "dataset '%s': %zu of %zu spectra carry labels the library "
                "does not name (%s): %s",
                cf->name, d->sds.n_unknown, d->spectra->n_spectra,
                d->sds.unknown_names,
                cf->role == GS_ROLE_TEST
                    ? "they count as outliers in the evaluation"
                    : "left out of training and validation");
      if (cf->role != GS_ROLE_TEST && d->sds.n_unknown
          && (rc = gs_spectra_ds_known_only (&d->sds)) != GS_OK)
        return rc;
      d->ds = gs_spectra_ds_dataset (&d->sds);
      d->has_truth = d->sds.has_truth;
      d->truth_is_counts = d->sds.truth_is_counts;
    }
  if (c->test == NONE && c->o->mode == GS_RUN_EVALUATE)
    return gs_error (GS_ECONFIG,
                     "%s: no dataset has role 'test'; mark one 'role: "
                     "test'",
                     e->path);
  return GS_OK;
}

/* Writes a dataset as a labelled set: counts, labels of the present
 * components, counts_<name> truth columns and, for scenarios, the split
 * and the thickness or shift of every spectrum. */
static int
write_dataset (const run_ctx *c, const run_data *d, const char *dir)
{
  const gs_library *lib = c->lib;
  size_t n = d->ds.n_spectra, K = lib->n_components, i, j;
  gs_spectra *s;
  char *prefix = NULL;
  int rc = GS_OK, lam = d->sc.s && d->sc.s->lambda[d->sc.split];
  if (d->spectra)
    {
      /* A set read from files: as read (every row, its own labels, also
       * those the library lacks, and meta columns), on the library
       * grid. */
      prefix = gs__path_join (dir, d->name);
      rc = prefix ? gs_spectra_write_labelled (d->spectra, prefix)
                  : GS_ENOMEM;
      free (prefix);
      return rc;
    }
  s = gs_spectra_alloc (n ? n : 1, lib->n_channels);
  if (!s)
    return gs_error (GS_ENOMEM, "out of memory writing dataset '%s'",
                     d->name);
  s->n_spectra = n;
  s->labels = calloc (n ? n : 1, sizeof (char *));
  s->truth_names = calloc (K, sizeof (char *));
  s->truth = calloc ((n ? n : 1) * K, sizeof (double));
  if (lam)
    {
      s->n_meta = 1;
      s->meta_names = calloc (1, sizeof (char *));
      s->meta = calloc (n ? n : 1, sizeof (char *));
    }
  if (!s->labels || !s->truth_names || !s->truth
      || (lam && (!s->meta_names || !s->meta)))
    {
      gs_spectra_free (s);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  s->n_truth = K;
  for (j = 0; j < K; j++)
    s->truth_names[j] = gs__strdup (lib->names[j]);
  if (lam)
    s->meta_names[0] = gs__strdup (d->sc.s->id == GS_SCENARIO_DEFORMATION
                                       ? "thickness_mm"
                                       : "gain_shift_percent");
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
      if (lam)
        s->meta[i] = gs__asprintf (
            "%.6g", gs_scenario_lambda_value (
                        d->sc.s, d->sc.s->lambda[d->sc.split][i]));
    }
  if (rc == GS_OK)
    {
      prefix = gs__path_join (dir, d->name);
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
  gs_peakset_free (d->peakset);
  gs_spectra_ds_fini (&d->sds);
  gs_spectra_free (d->spectra);
}

/* ---- keys -------------------------------------------------------------- */

static void
fnv (unsigned long long *h, const void *p, size_t n)
{
  const unsigned char *s = (const unsigned char *)p;
  size_t i;
  for (i = 0; i < n; i++)
    {
      *h ^= s[i];
      *h *= 1099511628211ULL;
    }
}

static void
fnv_str (unsigned long long *h, const char *s)
{
  fnv (h, s ? s : "\x01", s ? strlen (s) + 1 : 1);
}

static void
hash_node (unsigned long long *h, const gs_ynode *n)
{
  size_t i;
  if (!n)
    {
      fnv_str (h, "~null");
      return;
    }
  switch (n->kind)
    {
    case GS_YNODE_SCALAR:
      fnv_str (h, "s");
      fnv_str (h, n->value);
      break;
    case GS_YNODE_SEQUENCE:
      fnv_str (h, "[");
      for (i = 0; i < n->n; i++)
        hash_node (h, n->items[i]);
      fnv_str (h, "]");
      break;
    default:
      fnv_str (h, "{");
      for (i = 0; i < n->n; i++)
        {
          fnv_str (h, n->keys[i]);
          hash_node (h, n->items[i]);
        }
      fnv_str (h, "}");
      break;
    }
}

/* What every method's results depend on apart from the method itself. */
static void
make_data_key (run_ctx *c)
{
  gs_experiment *e = c->e;
  unsigned long long h = 1469598103934665603ULL;
  char buf[64];
  size_t i;
  fnv_str (&h, "gspec-checkpoint-key 1");
  fnv_str (&h, gs_version ());
  snprintf (buf, sizeof buf, "%llu %.17g", (unsigned long long)e->seed,
            e->target_fpr);
  fnv_str (&h, buf);
  hash_node (&h, e->library);
  hash_node (&h, e->scenario_node);
  hash_node (&h, gs_ynode_get (e->root, "datasets"));
  hash_node (&h, e->calibration_node);
  /* Files read by path: their size and time too. */
  for (i = 0; !e->has_scenario && i < e->n_datasets; i++)
    {
      size_t j;
      for (j = 0; j < e->datasets[i].n_paths; j++)
        {
          struct stat st;
          if (stat (e->datasets[i].paths[j], &st) == 0)
            {
              snprintf (buf, sizeof buf, "%lld %lld",
                        (long long)st.st_size, (long long)st.st_mtime);
              fnv_str (&h, buf);
            }
        }
    }
  c->data_key = h;
}

static void
make_method_key (const run_ctx *c, run_method *r)
{
  unsigned long long h = c->data_key;
  gs__buf b;
  gs__buf_init (&b);
  gs_params_to_json (r->type, r->params, &b);
  fnv_str (&h, r->type->id);
  fnv_str (&h, r->plugin_version);
  fnv_str (&h, b.data ? b.data : "");
  gs__buf_fini (&b);
  snprintf (r->key, sizeof r->key, "%016llx", h);
}

/* ---- methods ----------------------------------------------------------- */

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

static const char *
plugin_version_of (const gs_registry *reg, const gs_method_type *t)
{
  size_t j;
  for (j = 0; j < gs_registry_count (reg); j++)
    if (gs_registry_method (reg, j) == t)
      return gs_registry_method_plugin (reg, j)->version;
  return "";
}

static int
resolve_methods (run_ctx *c)
{
  gs_experiment *e = c->e;
  size_t i, n;
  n = e->all_untrained ? gs_registry_count (c->reg) : e->n_methods;
  c->rm = calloc (n ? n : 1, sizeof *c->rm);
  if (!c->rm)
    return gs_error (GS_ENOMEM, "out of memory");
  if (e->all_untrained)
    {
      for (i = 0; i < gs_registry_count (c->reg); i++)
        {
          const gs_method_type *t = gs_registry_method (c->reg, i);
          run_method *r = &c->rm[c->n_methods];
          if (t->train || (t->kinds & GS_KIND_PEAKS))
            continue;
          r->type = t;
          r->plugin_version = gs_registry_method_plugin (c->reg, i)->version;
          r->params = gs_params_alloc (t);
          if (!r->params)
            return GS_ENOMEM;
          c->n_methods++;
        }
      return GS_OK;
    }
  for (i = 0; i < n; i++)
    {
      const gs_method_type *t = gs_registry_find (c->reg, e->methods[i].id);
      run_method *r = &c->rm[c->n_methods];
      char w[512];
      size_t j;
      int rc;
      gs_ynode_where (e->methods[i].node, w, sizeof w);
      if (!t)
        {
          gs__buf names;
          gs__buf_init (&names);
          for (j = 0; j < gs_registry_count (c->reg); j++)
            gs__buf_printf (&names, "%s%s", j ? ", " : "",
                            gs_registry_method (c->reg, j)->id);
          rc = gs_error (GS_ECONFIG,
                         "%s: unknown method '%s'; registered methods: %s",
                         w, e->methods[i].id,
                         names.data ? names.data : "(none)");
          gs__buf_fini (&names);
          return rc;
        }
      for (j = 0; j < c->n_methods; j++)
        if (c->rm[j].type == t)
          return gs_error (GS_ECONFIG,
                           "%s: method '%s' is listed twice; run variants "
                           "as separate configs",
                           w, t->id);
      r->type = t;
      r->node = e->methods[i].node;
      r->plugin_version = plugin_version_of (c->reg, t);
      r->params = gs_params_alloc (t);
      if (!r->params)
        return GS_ENOMEM;
      c->n_methods++;
      rc = apply_yaml_params (t, r->params, e->methods[i].params);
      if (rc != GS_OK)
        return rc;
      if (t->train && c->train == NONE && c->o->mode != GS_RUN_GENERATE)
        return gs_error (GS_ECONFIG,
                         "%s: method '%s' needs training, but no dataset "
                         "has role 'train'",
                         w, t->id);
    }
  if (c->o->method)
    {
      for (i = 0; i < c->n_methods; i++)
        if (strcmp (c->rm[i].type->id, c->o->method) == 0)
          break;
      if (i == c->n_methods)
        return gs_error (GS_ECONFIG, "--method %s: not in the config's "
                                     "methods",
                         c->o->method);
    }
  return GS_OK;
}

static int
run_selected (const run_ctx *c, const run_method *r)
{
  if (c->o->method && strcmp (r->type->id, c->o->method) != 0)
    return 0;
  if (c->o->mode == GS_RUN_TRAIN)
    return r->type->train != NULL
           || ((r->type->flags & GS_METHOD_SCORES) && c->o->method);
  return 1;
}

static char *
method_file (const run_ctx *c, const char *sub, const run_method *r,
             const char *ext)
{
  char *dir = gs__path_join (c->out_dir, sub);
  char *name = gs__asprintf ("%s%s", r->type->id, ext);
  char *p = (dir && name) ? gs__path_join (dir, name) : NULL;
  free (dir);
  free (name);
  return p;
}

/* Calibrates a score method on the validation set: fills ck->thresholds. */
static int
calibrate (const run_ctx *c, const gs_method *m, run_method *r)
{
  const gs_method_type *t = r->type;
  const run_data *v = &c->data[c->valid];
  gs_predictions *p = NULL;
  gs_calibrate_opts co;
  gs_calibration cal;
  size_t K = c->lib->n_components, i, rows = 0, n_grid;
  double *scores = NULL, *truth = NULL, *grid = NULL, g[3];
  int rc;
  rc = gs_engine_analyze (m, &v->ds, c->threads, "calibrate", &p);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "calibration on '%s'", v->name);
  scores = malloc ((p->n ? p->n : 1) * K * sizeof (double));
  truth = malloc ((p->n ? p->n : 1) * K * sizeof (double));
  r->ck.thresholds = malloc (K * sizeof (double));
  if (!scores || !truth || !r->ck.thresholds)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  for (i = 0; i < p->n; i++)
    {
      if (p->status[i] != GS_OK)
        continue;
      memcpy (scores + rows * K, p->score + i * K, K * sizeof (double));
      rc = v->ds.truth (v->ds.ctx, i, truth + rows * K);
      if (rc != GS_OK)
        goto done;
      rows++;
    }
  if (rows == 0)
    {
      rc = gs_error (GS_EFAILED, "calibration: the method failed on every "
                                 "validation spectrum");
      goto done;
    }
  memset (&co, 0, sizeof co);
  co.mode = c->e->calib_mode;
  co.target_fpr = c->e->target_fpr;
  co.per_component = c->e->calib_per_component;
  co.include_background = (t->flags & GS_METHOD_SCORES_BACKGROUND) != 0;
  if (c->e->calib_has_grid)
    memcpy (g, c->e->calib_grid, sizeof g);
  else if (co.include_background)
    g[0] = 0.001, g[1] = 0.101, g[2] = 51;
  else
    g[0] = 0.1, g[1] = 0.9, g[2] = 81;
  n_grid = (size_t)g[2];
  grid = malloc (n_grid * sizeof (double));
  if (!grid)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  gs_linspace (g[0], g[1], n_grid, grid);
  co.grid = grid;
  co.n_grid = n_grid;
  rc = gs_calibrate_thresholds (rows, K, scores, truth, &co,
                                r->ck.thresholds, &cal);
  if (rc != GS_OK)
    {
      gs_error_prefix (rc, "calibration");
      goto done;
    }
  r->ck.calibrated = 1;
  snprintf (r->ck.calib_mode, sizeof r->ck.calib_mode, "%s",
            co.mode == GS_CALIBRATE_GRID ? "grid" : "quantile");
  r->ck.valid_fpr = cal.fpr;
  r->ck.valid_n = cal.n;
done:
  gs_predictions_free (p);
  free (scores);
  free (truth);
  free (grid);
  return rc;
}

/* Everything one method does, in the child process: train, calibrate,
 * analyse the test set, write the checkpoint (or, in train mode, the
 * model). */
static int
compute_method (const run_ctx *c, run_method *r)
{
  const gs_method_type *t = r->type;
  gs_method *m = NULL;
  gs_setup setup;
  char *path = NULL;
  int rc;
  memset (&setup, 0, sizeof setup);
  setup.struct_size = (uint32_t)sizeof setup;
  setup.library = gs_library_as_view (c->lib);
  setup.seed = gs__mix64 (c->e->seed ^ 0x6d657468ULL);
  setup.target_fpr = c->e->target_fpr;
  rc = gs_method_alloc (t, r->params, &setup, &m);
  if (rc != GS_OK)
    return rc;
  if (t->train)
    {
      double t0 = gs__now ();
      rc = gs_method_train (m, &c->data[c->train].ds,
                            c->valid != NONE ? &c->data[c->valid].ds : NULL);
      if (rc != GS_OK)
        goto done;
      r->ck.train_seconds = gs__now () - t0;
    }
  if ((t->flags & GS_METHOD_SCORES) && (t->kinds & GS_KIND_IDENTIFY))
    {
      if (c->valid != NONE && c->data[c->valid].has_truth)
        {
          rc = calibrate (c, m, r);
          if (rc != GS_OK)
            goto done;
        }
      else
        gs_log (GS_LOG_WARN, t->id,
                "no validation set with truth: the method's own decisions "
                "are used, its threshold is not calibrated to the target "
                "FPR");
    }
  if (t->train || r->ck.calibrated)
    {
      gs_model_info info;
      char *mdir = gs__path_join (c->out_dir, "models");
      info.seed = setup.seed;
      info.target_fpr = setup.target_fpr;
      info.thresholds = r->ck.calibrated ? r->ck.thresholds : NULL;
      path = method_file (c, "models", r, ".gsm");
      rc = (!mdir || !path) ? gs_error (GS_ENOMEM, "out of memory")
                            : gs__mkdirs (mdir);
      free (mdir);
      if (rc == GS_OK && (t->train || c->o->mode == GS_RUN_TRAIN))
        rc = gs_model_save (path, m, c->lib, &info);
      free (path);
      path = NULL;
      if (rc != GS_OK)
        goto done;
    }
  if (c->o->mode == GS_RUN_TRAIN)
    goto done;
  rc = gs_engine_analyze (m, &c->data[c->test].ds, c->threads, "analyze",
                          &r->ck.p);
  if (rc != GS_OK)
    goto done;
  if (r->ck.calibrated)
    gs_predictions_apply_thresholds (r->ck.p, r->ck.thresholds);
  memcpy (r->ck.key, r->key, sizeof r->key);
  r->ck.method_id = t->id;
  path = method_file (c, "checkpoints", r, ".ckpt");
  rc = path ? gs_checkpoint_write (path, &r->ck)
            : gs_error (GS_ENOMEM, "out of memory");
done:
  free (path);
  gs_method_free (m);
  return rc;
}

/* Runs compute_method in a child process and waits for it. */
static int
compute_isolated (const run_ctx *c, run_method *r)
{
  char *errpath = method_file (c, "checkpoints", r, ".error");
  pid_t pid;
  int st, rc;
  if (!errpath)
    return gs_error (GS_ENOMEM, "out of memory");
  remove (errpath);
  fflush (NULL);
  pid = fork ();
  if (pid < 0)
    {
      rc = gs_error (GS_ECHILD, "cannot start a process for '%s': %s",
                     r->type->id, strerror (errno));
      free (errpath);
      return rc;
    }
  if (pid == 0)
    {
#ifdef __linux__
      prctl (PR_SET_PDEATHSIG, SIGKILL);
#endif
      rc = compute_method (c, r);
      if (rc != GS_OK)
        {
          const char *msg = gs_last_error ();
          gs__write_file_atomic (errpath, msg, strlen (msg));
        }
      fflush (NULL);
      _exit (rc == GS_OK ? 0 : 3);
    }
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      {
        rc = gs_error (GS_ECHILD, "lost the process of '%s': %s",
                       r->type->id, strerror (errno));
        free (errpath);
        return rc;
      }
  if (WIFSIGNALED (st))
    rc = gs_error (GS_ECHILD, "crashed: killed by signal %d (%s)",
                   WTERMSIG (st), strsignal (WTERMSIG (st)));
  else if (WEXITSTATUS (st) != 0)
    {
      char *msg = NULL;
      if (gs__read_file (errpath, &msg, NULL) == GS_OK && msg && *msg)
        rc = gs_error (GS_EFAILED, "%s", msg);
      else
        rc = gs_error (GS_ECHILD,
                       "its process exited with status %d without a "
                       "message (a crash caught by a handler, e.g. a "
                       "sanitizer: see the messages above)",
                       WEXITSTATUS (st));
      free (msg);
    }
  else
    rc = GS_OK;
  remove (errpath);
  free (errpath);
  return rc;
}

/* ---- metrics and reports ------------------------------------------------ */

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

static void
timings (run_method *r)
{
  const gs_predictions *p = r->ck.p;
  double *sorted = malloc ((p->n ? p->n : 1) * sizeof (double));
  size_t j;
  r->total_s = 0;
  if (!sorted)
    return;
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

/* The overall metrics of results.json (the report adds the breakdowns). */
static int
evaluate (run_method *r, const run_data *d, const double *truth_all)
{
  const gs_predictions *p = r->ck.p;
  size_t n = p->n, K = p->K, i, m = 0;
  double *truth, *counts;
  int *present;
  int rc = GS_OK, incl = (r->type->flags & GS_METHOD_SCORES_BACKGROUND) != 0;
  if (!d->has_truth)
    return GS_OK;
  truth = malloc ((n ? n : 1) * K * sizeof (double));
  counts = malloc ((n ? n : 1) * K * sizeof (double));
  present = malloc ((n ? n : 1) * K * sizeof (int));
  if (!truth || !counts || !present)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  for (i = 0; i < n; i++)
    {
      if (p->status[i] != GS_OK)
        continue;
      memcpy (truth + m * K, truth_all + i * K, K * sizeof (double));
      memcpy (counts + m * K, p->counts + i * K, K * sizeof (double));
      memcpy (present + m * K, p->present + i * K, K * sizeof (int));
      m++;
    }
  if (m == 0)
    goto done;
  if (r->type->kinds & GS_KIND_IDENTIFY)
    {
      rc = gs_metrics_identification (m, K, truth, present, incl, &r->ident);
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

static void
json_rate (gs__buf *b, const char *name, const gs_rate *r)
{
  gs__buf_json_string (b, name);
  gs__buf_puts (b, ": ");
  gs_report_json_rate (b, r);
}

static void
build_json (const run_ctx *c, const gs__buf *report, gs__buf *b)
{
  const gs_experiment *e = c->e;
  const gs_library *lib = c->lib;
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
                  (unsigned long long)e->seed, c->threads);
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
  gs__buf_puts (b, "]},\n");
  if (c->sc)
    gs__buf_printf (b,
                    "  \"scenario\": {\"id\": %d, \"seed\": %llu, "
                    "\"train\": %zu, \"valid\": %zu, \"test\": %zu},\n",
                    (int)c->sc->id, (unsigned long long)c->sc->seed,
                    c->sc->n[0], c->sc->n[1], c->sc->n[2]);
  gs__buf_puts (b, "  \"test_set\": {\"name\": ");
  gs__buf_json_string (b, c->data[c->test].name);
  gs__buf_printf (b, ", \"spectra\": %zu},\n  \"methods\": [\n",
                  c->data[c->test].ds.n_spectra);
  for (i = 0; i < c->n_methods; i++)
    {
      const run_method *r = &c->rm[i];
      gs__buf_puts (b, "    {\"id\": ");
      gs__buf_json_string (b, r->type->id);
      gs__buf_puts (b, ", \"plugin_version\": ");
      gs__buf_json_string (b, r->plugin_version ? r->plugin_version : "");
      gs__buf_puts (b, ", \"status\": ");
      gs__buf_json_string (b, r->ran ? "ok" : "failed");
      gs__buf_printf (b, ", \"resumed\": %s, \"key\": \"%s\"",
                      r->resumed ? "true" : "false", r->key);
      if (!r->ran)
        {
          gs__buf_puts (b, ", \"error\": ");
          gs__buf_json_string (b, r->error ? r->error : "");
        }
      gs__buf_puts (b, ", \"parameters\": ");
      gs_params_to_json (r->type, r->params, b);
      if (r->ran)
        {
          gs__buf_puts (b, ",\n     \"timings\": {\"train_seconds\": ");
          gs__buf_json_number (b, r->ck.train_seconds);
          gs__buf_puts (b, ", \"analyze_seconds_median\": ");
          gs__buf_json_number (b, r->median_s);
          gs__buf_puts (b, ", \"analyze_seconds_p95\": ");
          gs__buf_json_number (b, r->p95_s);
          gs__buf_puts (b, ", \"analyze_seconds_total_cpu\": ");
          gs__buf_json_number (b, r->total_s);
          gs__buf_printf (b, "},\n     \"spectra\": %zu, "
                             "\"failed_spectra\": %zu,\n     \"metrics\": {",
                          r->n_spectra, r->n_failed);
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
      gs__buf_printf (b, "}%s\n", i + 1 < c->n_methods ? "," : "");
    }
  gs__buf_puts (b, "  ],\n  \"report\": ");
  gs__buf_append (b, report->data ? report->data : "{}",
                  report->data ? report->len : 2);
  gs__buf_puts (b, "\n}\n");
}

/* Inserts `member` (a JSON value) as the last member `key` of the report
 * object in js. */
static void
json_insert_member (gs__buf *js, const char *key, const gs__buf *member)
{
  char *end = js->data ? strrchr (js->data, '}') : NULL;
  if (!end || member->failed)
    return;
  js->len = (size_t)(end - js->data);
  gs__buf_printf (js, ", \"%s\": ", key);
  gs__buf_append (js, member->data, member->len);
  gs__buf_puts (js, "}");
}

/* The peak-search section for a peak-labelled test set. */
static int
report_peaks (const run_ctx *c, const run_data *test, gs__buf *md,
              gs__buf *js)
{
  size_t n = test->ds.n_spectra, i, j, m = 0;
  gs_peak **truth = calloc (n ? n : 1, sizeof *truth);
  size_t *n_truth = calloc (n ? n : 1, sizeof *n_truth);
  double *gross = NULL, *snr = NULL;
  gs_peakrep_method *pm = calloc (c->n_methods ? c->n_methods : 1,
                                  sizeof *pm);
  gs_peakrep_input in;
  gs__buf pj;
  int rc = GS_OK;
  int (*peaks) (void *, size_t, gs_peak *, size_t, size_t *)
      = GS_DATASET_PEAKS (&test->ds);
  if (!truth || !n_truth || !pm)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  for (j = 0; j < c->n_methods; j++)
    if (c->rm[j].ran && (c->rm[j].type->kinds & GS_KIND_PEAKS))
      {
        pm[m].id = c->rm[j].type->id;
        pm[m].ok = c->rm[j].ok;
        pm[m].peaks = c->rm[j].ck.p->peaks;
        pm[m].n_peaks = c->rm[j].ck.p->n_peaks;
        pm[m].failed = !pm[m].ok;
        m++;
      }
  if (m == 0)
    goto done;
  for (i = 0; i < n && rc == GS_OK; i++)
    {
      size_t k = 0;
      rc = peaks (test->ds.ctx, i, NULL, 0, &k);
      if (rc == GS_OK && k
          && !(truth[i] = malloc (k * sizeof (gs_peak))))
        rc = gs_error (GS_ENOMEM, "out of memory");
      if (rc == GS_OK && k)
        rc = peaks (test->ds.ctx, i, truth[i], k, &n_truth[i]);
    }
  if (rc != GS_OK)
    goto done;
  if (test->peakset)
    {
      gross = malloc ((n ? n : 1) * sizeof *gross);
      snr = malloc ((n ? n : 1) * sizeof *snr);
      if (!gross || !snr)
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto done;
        }
      for (i = 0; i < n; i++)
        {
          gross[i] = gs_peakset_gross (test->peakset, i);
          snr[i] = gs_peakset_snr (test->peakset, i);
        }
    }
  memset (&in, 0, sizeof in);
  in.n = n;
  in.K = c->lib->n_components;
  in.names = (const char *const *)c->lib->names;
  in.truth = (const gs_peak *const *)truth;
  in.n_truth = n_truth;
  in.gross = gross;
  in.snr = snr;
  in.window = 0.02;
  in.methods = pm;
  in.n_methods = m;
  in.out_dir = c->out_dir;
  gs__buf_init (&pj);
  rc = gs_report_peaks (&in, md, &pj);
  if (rc == GS_OK)
    json_insert_member (js, "peaks", &pj);
  gs__buf_fini (&pj);
done:
  for (i = 0; truth && i < n; i++)
    free (truth[i]);
  free (truth);
  free (n_truth);
  free (gross);
  free (snr);
  free (pm);
  return rc;
}

/* The labelled-set sections (single-label accuracy, outliers), appended
 * to summary.md and as the report's "labelled" member. */
static int
report_labelled (const run_ctx *c, const run_data *test, gs__buf *md,
                 gs__buf *js)
{
  const gs_spectra *sp = test->spectra;
  const gs_exp_dataset *cf = &c->e->datasets[c->test];
  size_t n = sp->n_spectra, i, j;
  gs_lab_method *lm = calloc (c->n_methods ? c->n_methods : 1, sizeof *lm);
  const char **group_of = NULL;
  gs_lab_input in;
  gs__buf lj;
  int rc;
  char *end;
  if (!lm)
    return gs_error (GS_ENOMEM, "out of memory");
  if (cf->group_by)
    {
      group_of = calloc (n ? n : 1, sizeof *group_of);
      if (!group_of)
        {
          free (lm);
          return gs_error (GS_ENOMEM, "out of memory");
        }
      for (i = 0; i < n; i++)
        group_of[i] = gs_spectra_meta (sp, i, cf->group_by);
    }
  for (j = 0; j < c->n_methods; j++)
    {
      const run_method *r = &c->rm[j];
      gs_lab_method *m = &lm[j];
      m->id = r->type->id;
      m->failed = !r->ran || !r->ok;
      m->kinds = r->type->kinds;
      if (m->failed)
        continue;
      m->ok = r->ok;
      m->present = r->ck.p->present;
      m->score = r->ck.p->score;
      m->counts = r->ck.p->counts;
      m->n_extras = r->ck.p->n_extras;
      m->extra_names = r->type->extras;
      m->extras = r->ck.p->extras;
    }
  memset (&in, 0, sizeof in);
  in.n = n;
  in.K = c->lib->n_components;
  in.names = (const char *const *)c->lib->names;
  in.labels = (const char *const *)sp->labels;
  in.unknown = test->sds.unknown;
  in.n_unknown = test->sds.n_unknown;
  in.unknown_names = test->sds.unknown_names;
  in.group_title = cf->group_by;
  in.group_of = cf->group_by ? group_of : NULL;
  in.methods = lm;
  in.n_methods = c->n_methods;
  in.out_dir = c->out_dir;
  gs__buf_init (&lj);
  rc = gs_report_labelled (&in, md, &lj);
  /* Insert as the last member of the report object. */
  end = js->data ? strrchr (js->data, '}') : NULL;
  if (rc == GS_OK && end && !lj.failed)
    {
      js->len = (size_t)(end - js->data);
      gs__buf_puts (js, ", \"labelled\": ");
      gs__buf_append (js, lj.data, lj.len);
      gs__buf_puts (js, "}");
    }
  gs__buf_fini (&lj);
  free (group_of);
  free (lm);
  return rc;
}

static int
write_report (run_ctx *c)
{
  const run_data *test = &c->data[c->test];
  size_t n = test->ds.n_spectra, K = c->lib->n_components, i, j;
  double *truth = NULL;
  gs_report_method *rep = NULL;
  gs_report_input in;
  gs__buf md, js, b;
  char *path = NULL, caption[256];
  int rc = GS_OK;
  gs__buf_init (&md);
  gs__buf_init (&js);
  gs__buf_init (&b);
  if (test->has_truth)
    {
      truth = malloc ((n ? n : 1) * K * sizeof (double));
      if (!truth)
        return gs_error (GS_ENOMEM, "out of memory");
      for (i = 0; i < n && rc == GS_OK; i++)
        rc = test->ds.truth (test->ds.ctx, i, truth + i * K);
      if (rc != GS_OK)
        goto done;
    }
  rep = calloc (c->n_methods ? c->n_methods : 1, sizeof *rep);
  if (!rep)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  for (i = 0; i < c->n_methods; i++)
    {
      run_method *r = &c->rm[i];
      gs_report_method *q = &rep[i];
      q->id = r->type->id;
      q->kinds = r->type->kinds;
      q->include_background
          = (r->type->flags & GS_METHOD_SCORES_BACKGROUND) != 0;
      q->failed = !r->ran;
      q->error = r->error;
      q->resumed = r->resumed;
      if (!r->ran)
        continue;
      timings (r);
      r->n_spectra = r->ck.p->n;
      r->n_failed = r->ck.p->n_failed;
      r->ok = malloc ((n ? n : 1) * sizeof (int));
      if (!r->ok)
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto done;
        }
      for (j = 0; j < n; j++)
        r->ok[j] = r->ck.p->status[j] == GS_OK;
      if (truth && evaluate (r, test, truth) != GS_OK)
        gs_log (GS_LOG_WARN, r->type->id, "metrics not computed: %s",
                gs_last_error ());
      q->ok = r->ok;
      q->present = r->ck.p->present;
      q->counts = r->ck.p->counts;
      q->calibrated = r->ck.calibrated;
      q->calib_mode = r->ck.calib_mode;
      q->thresholds = r->ck.thresholds;
      q->valid_fpr = r->ck.valid_fpr;
      q->valid_n = r->ck.valid_n;
      q->train_seconds = r->ck.train_seconds;
      q->median_ms = 1e3 * r->median_s;
      q->p95_ms = 1e3 * r->p95_s;
      q->n_failed_spectra = r->n_failed;
    }
  memset (&in, 0, sizeof in);
  in.name = c->e->name;
  in.config = c->e->path;
  in.hash = c->e->hash;
  in.seed = (unsigned long long)c->e->seed;
  in.target_fpr = c->e->target_fpr;
  in.library = c->lib->description ? c->lib->description : "?";
  in.test_name = test->name;
  if (c->sc)
    {
      static const char *const what[4]
          = { "", "known signatures", "steel deformation (one thickness "
                                      "per spectrum)",
              "gain shift (-10 % to +10 %)" };
      snprintf (caption, sizeof caption,
                "Scenario %d: %s; %zu / %zu / %zu train / valid / test "
                "spectra, scenario seed %llu.",
                (int)c->sc->id, what[c->sc->id], c->sc->n[0], c->sc->n[1],
                c->sc->n[2], (unsigned long long)c->sc->seed);
      in.caption = caption;
    }
  in.n = n;
  in.K = K;
  in.names = (const char *const *)c->lib->names;
  in.truth = truth;
  in.truth_is_counts = test->truth_is_counts;
  in.group = c->group;
  in.G = c->G;
  in.group_value = c->group_value;
  in.group_title = c->group_title;
  in.methods = rep;
  in.n_methods = c->n_methods;
  in.out_dir = c->out_dir;
  in.plots = 1;
  rc = gs_report_write (&in, &md, &js);
  if (rc != GS_OK)
    goto done;
  if (test->spectra && test->spectra->labels && !test->truth_is_counts)
    rc = report_labelled (c, test, &md, &js);
  if (rc == GS_OK && GS_DATASET_PEAKS (&test->ds))
    rc = report_peaks (c, test, &md, &js);
  if (rc != GS_OK)
    goto done;
  build_json (c, &js, &b);
  path = gs__path_join (c->out_dir, "results.json");
  rc = b.failed ? gs_error (GS_ENOMEM, "out of memory")
                : gs__write_file_atomic (path, b.data, b.len);
  if (rc != GS_OK)
    goto done;
  free (path);
  path = gs__path_join (c->out_dir, "summary.md");
  rc = md.failed ? gs_error (GS_ENOMEM, "out of memory")
                 : gs__write_file_atomic (path, md.data, md.len);
  if (rc != GS_OK)
    goto done;
  if (!c->o->quiet)
    fputs (md.data, stdout);
  printf ("\nResults in %s/ (results.json, summary.md, tables/, plots/%s)\n",
          c->out_dir, c->e->write_predictions ? ", predictions/" : "");
done:
  free (path);
  free (truth);
  free (rep);
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  gs__buf_fini (&b);
  return rc;
}

/* ---- the commands ------------------------------------------------------- */

void
gs_run_opts_init (gs_run_opts *o)
{
  memset (o, 0, sizeof *o);
  o->threads = -1;
}

static void
ctx_free (run_ctx *c)
{
  size_t i;
  if (c->rm)
    for (i = 0; i < c->n_methods; i++)
      {
        gs_params_free (c->rm[i].params);
        free (c->rm[i].error);
        free (c->rm[i].ok);
        gs_checkpoint_fini (&c->rm[i].ck);
      }
  free (c->rm);
  free (c->pk);
  if (c->data)
    for (i = 0; i < c->n_data; i++)
      free_data (&c->data[i]);
  free (c->data);
  free (c->group);
  free (c->group_value);
  free (c->sc_map);
  gs_scenario_free (c->sc);
  gs_library_free (c->lib_owned);
  gs_registry_free (c->reg);
  free (c->out_dir);
  gs_experiment_free (c->e);
}

static int
generate (run_ctx *c)
{
  char *dir = gs__path_join (c->out_dir, "spectra");
  size_t i;
  int rc = dir ? gs__mkdirs (dir) : GS_ENOMEM;
  for (i = 0; rc == GS_OK && i < c->n_data; i++)
    {
      rc = write_dataset (c, &c->data[i], dir);
      if (rc == GS_OK)
        printf ("%s/%s.counts.npy + .meta.csv: %zu spectra (%s)\n", dir,
                c->data[i].name, c->data[i].ds.n_spectra,
                c->data[i].role == GS_ROLE_TRAIN   ? "train"
                : c->data[i].role == GS_ROLE_VALID ? "valid"
                                                   : "test");
    }
  free (dir);
  return rc;
}

/* Removes the temporary files (NAME.tmp.PID) that a killed run left in
 * dir, unless their process still runs. */
static void
remove_stale_temporaries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *ent;
  if (!d)
    return;
  while ((ent = readdir (d)) != NULL)
    {
      const char *t = strstr (ent->d_name, ".tmp.");
      char *end;
      long pid;
      if (!t)
        continue;
      pid = strtol (t + 5, &end, 10);
      if (*end || pid <= 0 || (kill ((pid_t)pid, 0) == 0 || errno != ESRCH))
        continue;
      {
        char *p = gs__path_join (dir, ent->d_name);
        if (p)
          remove (p);
        free (p);
      }
    }
  closedir (d);
}

/* One method: from its checkpoint when it matches, else computed. */
static void
do_method (run_ctx *c, run_method *r)
{
  char *ck = method_file (c, "checkpoints", r, ".ckpt");
  const run_data *test = c->test != NONE ? &c->data[c->test] : NULL;
  size_t E = 0;
  int rc;
  while (r->type->extras && r->type->extras[E])
    E++;
  make_method_key (c, r);
  if (!ck)
    {
      r->error = gs__strdup ("out of memory");
      return;
    }
  if (c->o->mode == GS_RUN_EVALUATE && !c->o->fresh)
    {
      rc = gs_checkpoint_read (ck, r->key, r->type->id, test->ds.n_spectra,
                               c->lib->n_components, E, &r->ck);
      if (rc == GS_OK)
        {
          r->ran = 1;
          r->resumed = 1;
          gs_log (GS_LOG_INFO, r->type->id, "resumed from %s", ck);
          free (ck);
          return;
        }
      if (rc != GS_ENOENT)
        gs_log (GS_LOG_WARN, r->type->id, "recomputing: %s",
                gs_last_error ());
    }
  remove (ck);
  rc = c->o->in_process ? compute_method (c, r) : compute_isolated (c, r);
  if (rc == GS_OK && c->o->mode == GS_RUN_EVALUATE)
    {
      if (!c->o->in_process)
        {
          gs_checkpoint_fini (&r->ck);
          rc = gs_checkpoint_read (ck, r->key, r->type->id,
                                   test->ds.n_spectra, c->lib->n_components,
                                   E, &r->ck);
        }
    }
  if (rc != GS_OK)
    {
      r->error = gs__strdup (gs_last_error ());
      gs_log (GS_LOG_ERROR, r->type->id, "failed: %s", r->error);
    }
  else
    r->ran = 1;
  free (ck);
}

int
gs_run (const gs_run_opts *o)
{
  run_ctx c;
  size_t i;
  int rc;
  char *sub = NULL;
  memset (&c, 0, sizeof c);
  c.o = o;
  c.test = c.train = c.valid = NONE;
  rc = gs_experiment_load (o->config, o->overrides, o->n_overrides, &c.e);
  if (rc != GS_OK)
    return rc;
  c.threads = o->threads >= 0 ? o->threads : c.e->threads;
  if (c.threads <= 0)
    c.threads = gs_engine_cpus ();
  c.out_dir = gs__strdup (o->out_dir ? o->out_dir : c.e->out_dir);
  rc = c.e->has_scenario ? load_scenario (&c) : load_datasets (&c);
  if (rc != GS_OK)
    goto done;
  make_data_key (&c);
  if ((rc = gs__mkdirs (c.out_dir)) != GS_OK)
    goto done;
  if (o->mode == GS_RUN_GENERATE)
    {
      rc = generate (&c);
      goto done;
    }
  c.reg = gs_registry_alloc ();
  if (!c.reg)
    {
      rc = GS_ENOMEM;
      goto done;
    }
  gs_registry_load_default (c.reg);
  if ((rc = resolve_methods (&c)) != GS_OK)
    goto done;
  sub = gs__path_join (c.out_dir, "checkpoints");
  if (!sub || (rc = gs__mkdirs (sub)) != GS_OK)
    {
      rc = sub ? rc : GS_ENOMEM;
      goto done;
    }
  remove_stale_temporaries (sub);
  if (c.e->write_spectra && o->mode == GS_RUN_EVALUATE)
    {
      char *sdir = gs__path_join (c.out_dir, "spectra");
      rc = sdir ? gs__mkdirs (sdir) : GS_ENOMEM;
      for (i = 0; rc == GS_OK && i < c.n_data; i++)
        rc = write_dataset (&c, &c.data[i], sdir);
      free (sdir);
      if (rc != GS_OK)
        goto done;
    }
  for (i = 0; i < c.n_methods; i++)
    if (run_selected (&c, &c.rm[i]))
      do_method (&c, &c.rm[i]);
  if (o->mode == GS_RUN_TRAIN)
    {
      size_t n_done = 0;
      for (i = 0; i < c.n_methods; i++)
        if (run_selected (&c, &c.rm[i]))
          {
            char *mp = method_file (&c, "models", &c.rm[i], ".gsm");
            n_done++;
            if (c.rm[i].ran)
              printf ("%s: model %s\n", c.rm[i].type->id, mp ? mp : "?");
            else
              printf ("%s: failed: %s\n", c.rm[i].type->id,
                      c.rm[i].error ? c.rm[i].error : "");
            free (mp);
          }
      if (n_done == 0)
        printf ("no trainable method in %s%s%s\n", c.e->path,
                o->method ? " matching --method " : "",
                o->method ? o->method : "");
    }
  else
    {
      if (c.e->write_predictions)
        {
          char *pdir = gs__path_join (c.out_dir, "predictions");
          if (!pdir || gs__mkdirs (pdir) != GS_OK)
            gs_log (GS_LOG_WARN, NULL, "predictions not written: %s",
                    gs_last_error ());
          for (i = 0; pdir && i < c.n_methods; i++)
            if (c.rm[i].ran)
              {
                char *pp = method_file (&c, "predictions", &c.rm[i], ".csv");
                if (!pp
                    || gs_predictions_write_csv (
                           c.rm[i].ck.p, (const char *const *)c.lib->names,
                           c.rm[i].type->extras, pp)
                           != GS_OK)
                  gs_log (GS_LOG_WARN, c.rm[i].type->id,
                          "predictions not written: %s", gs_last_error ());
                free (pp);
              }
          free (pdir);
        }
      rc = write_report (&c);
      if (rc != GS_OK)
        goto done;
    }
  for (i = 0; i < c.n_methods; i++)
    if (run_selected (&c, &c.rm[i]) && !c.rm[i].ran)
      rc = gs_error (GS_EFAILED, "method '%s' failed: %s", c.rm[i].type->id,
                     c.rm[i].error ? c.rm[i].error : "");
done:
  free (sub);
  ctx_free (&c);
  return rc;
}
