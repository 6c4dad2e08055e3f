/* Conformance: every registered method (the build tree's plugins and the
 * fx_good fixture) goes through the same checks: parameter defaults in
 * range, alloc/free, training when needed, bad input rejected with an
 * error, determinism, and a model save/load round trip. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/synth.h"
#include "test_util.h"

/* A small library with Gaussian peaks on a smooth background. */
static gs_library *
toy_library (void)
{
  gs_library *lib = gs_library_alloc (128, 4);
  size_t i, j;
  for (i = 0; i < 128; i++)
    {
      double x = (double)i;
      lib->signatures[i * 4 + 0] = exp (-x / 60.0) + 0.01;
      for (j = 1; j < 4; j++)
        {
          double c = 25.0 * (double)j, d = (x - c) / 3.0;
          lib->signatures[i * 4 + j]
              = exp (-0.5 * d * d) + 0.2 * exp (-x / 30.0) * (x < c);
        }
    }
  gs_library_set_name (lib, 0, "background");
  gs_library_set_name (lib, 1, "A");
  gs_library_set_name (lib, 2, "B");
  gs_library_set_name (lib, 3, "C");
  gs_library_set_linear_grid (lib, 0, 5);
  gs_library_normalise (lib);
  return lib;
}

static gs_registry *
all_methods (void)
{
  gs_registry *reg = gs_registry_alloc ();
  char path[4096];
  gs_registry_load_dir (reg, GSPEC_PLUGIN_DIR);
  snprintf (path, sizeof path, "%s/fx_good.so", GSPEC_FIXTURE_DIR);
  gs_registry_load_file (reg, path);
  return reg;
}

static int
same_double (double a, double b)
{
  return (isnan (a) && isnan (b)) || a == b;
}

/* The toy training set with peak labels for peak-search methods: each
 * present component's signature maximum is a true peak (+- 2 channels). */
typedef struct peaky
{
  const gs_synth *s;
  const gs_library *lib;
} peaky;

static int
peaky_spectrum (void *ctx, size_t i, double *out)
{
  return gs_synth_spectrum (((const peaky *)ctx)->s, i, out);
}

static int
peaky_truth (void *ctx, size_t i, double *out)
{
  gs_dataset d = gs_synth_as_dataset (((const peaky *)ctx)->s);
  return d.truth (d.ctx, i, out);
}

static int
peaky_peaks (void *ctx, size_t i, gs_peak *out, size_t max, size_t *n)
{
  const peaky *p = (const peaky *)ctx;
  const gs_library *lib = p->lib;
  size_t K = lib->n_components, C = lib->n_channels, k, c, m = 0;
  double a[64];
  gs_dataset d = gs_synth_as_dataset (p->s);
  int rc;
  if (K > 64)
    return GS_EINVAL;
  if ((rc = d.truth (d.ctx, i, a)) != GS_OK)
    return rc;
  for (k = 1; k < K; k++)
    if (a[k] > 0)
      {
        size_t best = 0;
        for (c = 1; c < C; c++)
          if (lib->signatures[c * K + k] > lib->signatures[best * K + k])
            best = c;
        if (m < max)
          {
            const double *e = lib->energy_edges;
            out[m].centre_kev = 0.5 * (e[best] + e[best + 1]);
            out[m].left_kev = e[best >= 2 ? best - 2 : 0];
            out[m].right_kev = e[best + 3 <= C ? best + 3 : C];
            out[m].confidence = 1;
            out[m].component = (int)k;
          }
        m++;
      }
  /* By increasing energy, as the contract says. */
  for (k = 1; k < m && k < max; k++)
    for (c = k; c > 0 && out[c].centre_kev < out[c - 1].centre_kev; c--)
      {
        gs_peak t = out[c];
        out[c] = out[c - 1];
        out[c - 1] = t;
      }
  *n = m;
  return GS_OK;
}

static void
check_method (const gs_method_type *t, const gs_library *lib,
              const gs_synth *train, const gs_synth *test)
{
  gs_setup setup;
  gs_method *m = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
  gs_result *r1, *r2;
  size_t n = lib->n_channels, K = lib->n_components, ne, i, j;
  double *y = malloc (n * sizeof (double));
  double *bad = malloc ((n + 1) * sizeof (double));
  const gs_param_spec *p;
  void *params;
  int rc;
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (lib);
  setup.seed = 99;
  setup.target_fpr = 0.01;
  printf ("\n    %s", t->id);
  /* Defaults lie inside their ranges (the loader also checks). */
  for (p = t->params; p && p->name; p++)
    if (p->type == GS_PARAM_INT || p->type == GS_PARAM_REAL)
      CU_ASSERT (p->def >= p->min && p->def <= p->max);
  params = gs_params_alloc (t);
  CU_ASSERT_PTR_NOT_NULL_FATAL (params);
  /* Training budgets: the contract is checked, not the training (the
   * methods' own suites do that), so an `epochs` knob is set to 2. */
  for (p = t->params; p && p->name; p++)
    if (strcmp (p->name, "epochs") == 0 && p->type == GS_PARAM_INT)
      CU_ASSERT_EQUAL (gs_params_set (t, params, "epochs", "2", "conformance"),
                       GS_OK);
  rc = gs_method_alloc (t, params, &setup, &m);
  /* A method bound to a fixed model (the IAE methods: 1024 channels,
   * GammaBench nuclide names) may refuse the toy library, with a status
   * that says so and a message; its own suite checks it on real data. */
  if ((rc == GS_EUNSUPPORTED || rc == GS_ENOENT) && gs_last_error ()[0])
    {
      printf (" refuses the toy library (%s): %s", gs_strerror (rc),
              gs_last_error ());
      CU_ASSERT_PTR_NULL (m);
      gs_params_free (params);
      free (y);
      free (bad);
      return;
    }
  CU_ASSERT_EQUAL_FATAL (rc, GS_OK);
  rc = gs_method_alloc (t, params, &setup, &m2);
  CU_ASSERT_EQUAL_FATAL (rc, GS_OK);
  if (t->train)
    {
      gs_dataset d = gs_synth_as_dataset (train);
      peaky pk;
      pk.s = train;
      pk.lib = lib;
      if (t->kinds & GS_KIND_PEAKS)
        {
          d.ctx = &pk;
          d.spectrum = peaky_spectrum;
          d.truth = peaky_truth;
          d.peaks = peaky_peaks;
        }
      CU_ASSERT_EQUAL (gs_method_train (m, &d, NULL), GS_OK);
      CU_ASSERT_EQUAL (gs_method_train (m2, &d, NULL), GS_OK);
    }
  ne = gs_method_n_extras (t);
  r1 = gs_result_alloc (K, ne);
  r2 = gs_result_alloc (K, ne);
  /* Determinism: two instances, same inputs, identical outputs. */
  for (i = 0; i < test->n_spectra; i++)
    {
      gs_synth_spectrum (test, i, y);
      if (gs_method_analyze (m, NULL, y, n, r1) != GS_OK)
        continue; /* a method may refuse a spectrum, with a message */
      CU_ASSERT_EQUAL (gs_method_analyze (m2, NULL, y, n, r2), GS_OK);
      for (j = 0; j < K; j++)
        {
          CU_ASSERT (same_double (r1->counts[j], r2->counts[j]));
          CU_ASSERT (same_double (r1->std[j], r2->std[j]));
          CU_ASSERT (same_double (r1->score[j], r2->score[j]));
          CU_ASSERT_EQUAL (r1->present[j], r2->present[j]);
        }
      for (j = 0; j < ne; j++)
        CU_ASSERT (same_double (r1->extras[j], r2->extras[j]));
    }
  /* Bad input: an error with a message, never a crash. */
  gs_synth_spectrum (test, 0, y);
  memcpy (bad, y, n * sizeof (double));
  bad[n / 2] = NAN;
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, bad, n, r1), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "not a finite number");
  bad[n / 2] = -1;
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, bad, n, r1), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "negative");
  memset (bad, 0, n * sizeof (double));
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, bad, n, r1), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "all zero");
  memcpy (bad, y, n * sizeof (double));
  bad[n] = 1;
  rc = gs_method_analyze (m, NULL, bad, n + 1, r1);
  CU_ASSERT_NOT_EQUAL (rc, GS_OK);
  CU_ASSERT (gs_last_error ()[0] != '\0');
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, n - 1, r1), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, NULL, n, r1), GS_OK);
  /* Model round trip for trainable methods: same predictions. */
  if (t->save)
    {
      char *dir = gs_test_tmpdir ();
      char path[4096];
      gs_registry *reg = all_methods ();
      gs_library *lib2 = NULL;
      snprintf (path, sizeof path, "%s/model.gsm", dir);
      CU_ASSERT_EQUAL (gs_model_save (path, m, lib, NULL), GS_OK);
      CU_ASSERT_EQUAL (gs_model_load (path, reg, &m3, &lib2, NULL), GS_OK);
      if (m3)
        {
          gs_synth_spectrum (test, 1, y);
          CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, n, r1), GS_OK);
          CU_ASSERT_EQUAL (gs_method_analyze (m3, NULL, y, n, r2), GS_OK);
          for (j = 0; j < K; j++)
            CU_ASSERT (same_double (r1->counts[j], r2->counts[j]));
        }
      gs_method_free (m3);
      gs_library_free (lib2);
      /* A truncated model is refused, not half-loaded. */
      {
        FILE *f = fopen (path, "r+b");
        long size = 0;
        CU_ASSERT_PTR_NOT_NULL (f);
        if (f)
          {
            fseek (f, 0, SEEK_END);
            size = ftell (f);
            fclose (f);
          }
        CU_ASSERT_EQUAL (size > 4 && truncate (path, size - 4) == 0, 1);
        gs_library *lib3 = NULL;
        CU_ASSERT_NOT_EQUAL (gs_model_load (path, reg, &m4, &lib3, NULL),
                             GS_OK);
        CU_ASSERT_PTR_NULL (m4);
        CU_ASSERT_PTR_NULL (lib3);
      }
      gs_registry_free (reg);
      gs_test_rmtree (dir);
      free (dir);
    }
  gs_result_free (r1);
  gs_result_free (r2);
  gs_method_free (m);
  gs_method_free (m2);
  gs_params_free (params);
  free (y);
  free (bad);
}

static void
test_every_method (void)
{
  gs_registry *reg = all_methods ();
  gs_library *lib = toy_library ();
  gs_synth_opts o;
  gs_synth *train = NULL, *test = NULL;
  size_t i;
  CU_ASSERT_PTR_NOT_NULL_FATAL (lib);
  CU_ASSERT_EQUAL_FATAL (gs_library_check (lib), GS_OK);
  CU_ASSERT_FATAL (gs_registry_count (reg) >= 2);
  gs_synth_opts_init (&o);
  o.max_active = 3;
  o.n_spectra = 50;
  o.seed = 1;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &train), GS_OK);
  o.n_spectra = 20;
  o.seed = 2;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &test), GS_OK);
  for (i = 0; i < gs_registry_count (reg); i++)
    check_method (gs_registry_method (reg, i), lib, train, test);
  gs_synth_free (train);
  gs_synth_free (test);
  gs_library_free (lib);
  gs_registry_free (reg);
}

/* The engine gives identical predictions at 1 and 2 threads. */
static void
test_thread_invariance (void)
{
  gs_registry *reg = all_methods ();
  gs_library *lib = toy_library ();
  const gs_method_type *t = gs_registry_find (reg, "unmixing.nnpu");
  gs_synth_opts o;
  gs_synth *s = NULL;
  gs_method *m = NULL;
  gs_predictions *p1 = NULL, *p2 = NULL;
  gs_dataset d;
  gs_setup setup;
  CU_ASSERT_PTR_NOT_NULL_FATAL (t);
  gs_synth_opts_init (&o);
  o.max_active = 3;
  o.n_spectra = 64;
  o.seed = 5;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &s), GS_OK);
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (lib);
  CU_ASSERT_EQUAL_FATAL (gs_method_alloc (t, NULL, &setup, &m), GS_OK);
  d = gs_synth_as_dataset (s);
  CU_ASSERT_EQUAL (gs_engine_analyze (m, &d, 1, "t", &p1), GS_OK);
  CU_ASSERT_EQUAL (gs_engine_analyze (m, &d, 2, "t", &p2), GS_OK);
  CU_ASSERT_FATAL (p1 && p2);
  CU_ASSERT_EQUAL (
      memcmp (p1->counts, p2->counts, p1->n * p1->K * sizeof (double)), 0);
  CU_ASSERT_EQUAL (memcmp (p1->std, p2->std, p1->n * p1->K * sizeof (double)),
                   0);
  gs_predictions_free (p1);
  gs_predictions_free (p2);
  gs_method_free (m);
  gs_synth_free (s);
  gs_library_free (lib);
  gs_registry_free (reg);
}

void gs_test_register_conformance (void);
void
gs_test_register_conformance (void)
{
  CU_pSuite s = CU_add_suite ("conformance", NULL, NULL);
  CU_add_test (s, "every registered method", test_every_method);
  CU_add_test (s, "same results at 1 and 2 threads", test_thread_invariance);
}
