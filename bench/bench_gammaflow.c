/* ml.gammaflow speed: analyze (scores, denoising and every outlier
 * extra) per measured spectrum on one thread, for fit nnls and fit
 * poisson, after training on gamma_flow's 4 simulated sets and the two
 * background sets, as the suite `gammaflow` does.
 *
 * usage: gspec_bench_gammaflow DATA_DIR REPS OUT_PREFIX
 * DATA_DIR holds gamma_flow/ (the labelled sets).  Writes
 * OUT_PREFIX.loadings.npy (K x C loadings, normalised above min_channel
 * 7) and OUT_PREFIX.spectra.npy (the measured spectra) for
 * bench/reference_gammaflow.py; prints microseconds per spectrum (best
 * of REPS passes) as NNLS_US and POISSON_US.  Finds the plugin through
 * GSPEC_PLUGIN_PATH. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/spectra.h"
#include "util.h"

enum
{
  C = 256,
  K = 5,
  M0 = 7
};

static const char *const names[K]
    = { "background", "Am241", "Co60", "Cs137", "Eu152" };

typedef struct set_t
{
  size_t n;
  double *Y, *T;
} set_t;

static int
set_spectrum (void *ctx, size_t i, double *out)
{
  memcpy (out, ((set_t *)ctx)->Y + i * C, C * sizeof (double));
  return GS_OK;
}

static int
set_truth (void *ctx, size_t i, double *out)
{
  memcpy (out, ((set_t *)ctx)->T + i * K, K * sizeof (double));
  return GS_OK;
}

/* Appends the labelled set DIR/gamma_flow/NAME to Y (and its truth from
 * the labels to T when T is not NULL). */
static int
append (const char *dir, const char *name, size_t *n, double **Y, double **T)
{
  char path[4096];
  gs_spectra *sp = NULL;
  size_t i, k;
  snprintf (path, sizeof path, "%s/gamma_flow/%s", dir, name);
  if (gs_spectra_read (path, &sp) != GS_OK || sp->n_channels != C)
    {
      fprintf (stderr, "%s: %s\n", path,
               sp ? "not 256 channels" : gs_last_error ());
      gs_spectra_free (sp);
      return 1;
    }
  *Y = realloc (*Y, (*n + sp->n_spectra) * C * sizeof (double));
  memcpy (*Y + *n * C, sp->counts, sp->n_spectra * C * sizeof (double));
  if (T)
    {
      *T = realloc (*T, (*n + sp->n_spectra) * K * sizeof (double));
      for (i = 0; i < sp->n_spectra; i++)
        for (k = 0; k < K; k++)
          {
            const char *l = sp->labels[i], *p = strstr (l, names[k]);
            size_t len = strlen (names[k]);
            (*T)[(*n + i) * K + k]
                = p && (p == l || p[-1] == '+')
                          && (p[len] == '\0' || p[len] == '+')
                      ? 1
                      : 0;
          }
    }
  *n += sp->n_spectra;
  gs_spectra_free (sp);
  return 0;
}

static double
time_fit (const gs_registry *reg, const gs_setup *setup, const gs_dataset *d,
          const char *fit, const double *Y, size_t n, int reps,
          const char *out_prefix)
{
  const gs_method_type *t = gs_registry_find (reg, "ml.gammaflow");
  void *p = gs_params_alloc (t), *work = NULL;
  gs_method *m = NULL;
  gs_result *r;
  double best = HUGE_VAL, sink = 0;
  size_t i;
  int rep;
  gs_params_set (t, p, "fit", fit, "bench");
  if (gs_method_alloc (t, p, setup, &m) != GS_OK
      || gs_method_train (m, d, NULL) != GS_OK
      || gs_method_workspace_alloc (m, &work) != GS_OK)
    {
      fprintf (stderr, "%s\n", gs_last_error ());
      exit (1);
    }
  if (out_prefix)
    {
      double sig[C * K], L[K * C], s[K];
      size_t k;
      char *path = gs__asprintf ("%s.loadings.npy", out_prefix);
      gs_method_signatures (m, K, sig);
      for (k = 0; k < K; k++)
        {
          s[k] = 0;
          for (i = M0; i < C; i++)
            s[k] += sig[i * K + k];
          for (i = 0; i < C; i++)
            L[k * C + i] = sig[i * K + k] / s[k];
        }
      gs_npy_write_matrix (path, L, K, C);
      free (path);
    }
  r = gs_result_alloc (K, gs_method_n_extras (t));
  for (rep = 0; rep < reps; rep++)
    {
      double t0 = gs__now (), dt;
      for (i = 0; i < n; i++)
        {
          if (gs_method_analyze (m, work, Y + i * C, C, r) != GS_OK)
            {
              fprintf (stderr, "spectrum %zu: %s\n", i, gs_last_error ());
              exit (1);
            }
          sink += r->extras[0];
        }
      dt = (gs__now () - t0) / (double)n;
      if (dt < best)
        best = dt;
    }
  if (sink == 12345.678)
    printf ("#");
  gs_result_free (r);
  gs_method_workspace_free (work);
  gs_method_free (m);
  gs_params_free (p);
  return 1e6 * best;
}

int
main (int argc, char **argv)
{
  static const char *const train[]
      = { "Am241_simulated",          "Co60_simulated",
          "Cs137_simulated",          "Eu152_simulated",
          "background_20240124_left", "background_20240124_right" };
  static const char *const measured[]
      = { "Am241",       "Co60-1", "Co60-2", "Cs137WenigBisKeinBlei",
          "Cs137inBlei", "Eu152" };
  gs_registry *reg;
  gs_library *lib;
  gs_setup setup;
  gs_dataset d;
  set_t tr = { 0, NULL, NULL };
  double *Y = NULL, us_nnls, us_pois;
  size_t n = 0, i, k;
  long reps;
  char name[256], *path;
  if (argc != 4 || gs__parse_long (argv[2], &reps) != GS_OK || reps < 1)
    {
      fprintf (stderr, "usage: %s DATA_DIR REPS OUT_PREFIX\n", argv[0]);
      return 2;
    }
  gs_core_init ();
  for (i = 0; i < 6; i++)
    if (append (argv[1], train[i], &tr.n, &tr.Y, &tr.T))
      return 1;
  for (i = 0; i < 6; i++)
    {
      snprintf (name, sizeof name, "%s_left", measured[i]);
      if (append (argv[1], name, &n, &Y, NULL))
        return 1;
      snprintf (name, sizeof name, "%s_right", measured[i]);
      if (append (argv[1], name, &n, &Y, NULL))
        return 1;
    }
  path = gs__asprintf ("%s.spectra.npy", argv[3]);
  gs_npy_write_matrix (path, Y, n, C);
  free (path);
  reg = gs_registry_alloc ();
  gs_registry_load_default (reg);
  if (!gs_registry_find (reg, "ml.gammaflow"))
    {
      fprintf (stderr, "ml.gammaflow not found (set GSPEC_PLUGIN_PATH)\n");
      return 3;
    }
  lib = gs_library_alloc (C, K);
  for (i = 0; i < C * K; i++)
    lib->signatures[i] = 1;
  for (k = 0; k < K; k++)
    gs_library_set_name (lib, k, names[k]);
  gs_library_set_linear_grid (lib, -12, 8.15);
  gs_library_normalise (lib);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (lib);
  setup.seed = 1;
  setup.target_fpr = 0.01;
  memset (&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.n_spectra = tr.n;
  d.n_channels = C;
  d.n_components = K;
  d.component_names = names;
  d.ctx = &tr;
  d.spectrum = set_spectrum;
  d.truth = set_truth;
  us_nnls = time_fit (reg, &setup, &d, "nnls", Y, n, (int)reps, argv[3]);
  us_pois = time_fit (reg, &setup, &d, "poisson", Y, n, (int)reps, NULL);
  printf ("ml.gammaflow analyze, %zu measured spectra x %d channels, %d "
          "components, 1 thread (best of %ld passes, all extras):\n",
          n, C, K, reps);
  printf ("  fit nnls    %8.3f us/spectrum\n", us_nnls);
  printf ("  fit poisson %8.3f us/spectrum\n", us_pois);
  printf ("NNLS_US %.6f\nPOISSON_US %.6f\n", us_nnls, us_pois);
  gs_library_free (lib);
  gs_registry_free (reg);
  free (tr.Y);
  free (tr.T);
  free (Y);
  return 0;
}
