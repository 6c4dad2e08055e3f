#include "gspec/scenario.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/shift.h"
#include "gspec/status.h"
#include "util.h"

#define GS__SC_N_THICK 96
#define GS__SC_N_CHANNELS 1024

/* np.random.seed(2); t = arange(96); np.random.shuffle(t): train =
 * sort(t[:62]), val = sort(t[62:77]), test = sort(t[77:]).  Produced with
 * numpy 1.24.2 and identical to the lists published in spec 2.2. */
const int gs_scenario_thickness_train[62]
    = { 0,  1,  2,  3,  5,  6,  8,  9,  10, 11, 12, 13, 14, 16, 17, 18,
        19, 21, 23, 24, 25, 27, 28, 29, 30, 32, 35, 36, 41, 44, 45, 48,
        53, 54, 55, 56, 57, 59, 60, 61, 62, 64, 65, 70, 71, 73, 74, 76,
        79, 80, 81, 83, 84, 85, 86, 87, 88, 91, 92, 93, 94, 95 };
const int gs_scenario_thickness_val[15]
    = { 26, 33, 38, 42, 46, 50, 51, 52, 58, 66, 68, 69, 77, 78, 90 };
const int gs_scenario_thickness_test[19] = { 4,  7,  15, 20, 22, 31, 34,
                                             37, 39, 40, 43, 47, 49, 63,
                                             67, 72, 75, 82, 89 };

static const char *const gs__sc_names9[]
    = { "background", "Co60",  "Ba133", "Co57", "Cs137",
        "Eu152",      "Am241", "I123",  "I131", "Tc99m" };
static const char *const gs__sc_names8[]
    = { "background", "Co60",  "Ba133", "Co57", "Cs137",
        "Eu152",      "Am241", "I123",  "Tc99m" };

/* Stream numbers separating the lambda column and the splits. */
#define GS__SC_STREAM_SPLIT 0x5c3a0000ULL
#define GS__SC_STREAM_LAMBDA 0x1a3bd000ULL

double
gs_scenario_shift_alpha (int k)
{
  return (double)(k - 10) / 100.0;
}

void
gs_scenario_opts_init (gs_scenario_opts *o, gs_scenario_id id)
{
  memset (o, 0, sizeof *o);
  o->id = id;
  o->n_spectra = 200000;
  o->ratio[0] = 0.64;
  o->ratio[1] = 0.16;
  o->ratio[2] = 0.20;
  gs_synth_opts_init (&o->sampler);
  o->seed = 0;
  o->root = NULL;
  o->source = GS_SCENARIO_GAMMABENCH;
  gs_embedded_opts_init (&o->embedded);
}

static uint64_t
gs__sc_split_seed (uint64_t seed, int split)
{
  return gs__mix64 (gs__mix64 (seed) ^ (GS__SC_STREAM_SPLIT + (uint64_t)split));
}

/* The lambda values a split draws from (NULL, 0 for scenario 1). */
static const int *
gs__sc_lambdas (gs_scenario_id id, int split, size_t *n)
{
  static const int shifts[GS_SCENARIO_N_SHIFTS]
      = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10,
          11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
  *n = 0;
  if (id == GS_SCENARIO_GAIN_SHIFT)
    {
      *n = GS_SCENARIO_N_SHIFTS;
      return shifts;
    }
  if (id != GS_SCENARIO_DEFORMATION)
    return NULL;
  switch (split)
    {
    case GS_SPLIT_TRAIN:
      *n = 62;
      return gs_scenario_thickness_train;
    case GS_SPLIT_VAL:
      *n = 15;
      return gs_scenario_thickness_val;
    default:
      *n = 19;
      return gs_scenario_thickness_test;
    }
}

int
gs_scenario_generate (const gs_scenario_opts *o, gs_scenario **out)
{
  gs_scenario *s;
  gs_library *names_lib = NULL;
  size_t K, j, cut[4];
  int sp, rc = GS_OK;
  double r;
  if (!out)
    return gs_error (GS_EINVAL, "scenario: NULL output");
  *out = NULL;
  if (!o)
    return gs_error (GS_EINVAL, "scenario: NULL options");
  if (o->id < GS_SCENARIO_KNOWN || o->id > GS_SCENARIO_GAIN_SHIFT)
    return gs_error (GS_EINVAL, "scenario: id %d unknown (use 1, 2 or 3)",
                     (int)o->id);
  r = o->ratio[0] + o->ratio[1] + o->ratio[2];
  if (!(o->ratio[0] >= 0 && o->ratio[1] >= 0 && o->ratio[2] >= 0)
      || !(fabs (r - 1) < 1e-9))
    return gs_error (GS_EINVAL,
                     "scenario: split ratios %g, %g, %g must be >= 0 and "
                     "sum to 1",
                     o->ratio[0], o->ratio[1], o->ratio[2]);
  if (o->n_spectra == 0)
    return gs_error (GS_EINVAL, "scenario: n_spectra must be >= 1");
  if (o->source != GS_SCENARIO_GAMMABENCH && o->source != GS_SCENARIO_EMBEDDED)
    return gs_error (GS_EINVAL,
                     "scenario: library source %d unknown (0 GammaBench "
                     "data, 1 embedded model)",
                     (int)o->source);
  s = calloc (1, sizeof *s);
  if (!s)
    return gs_error (GS_ENOMEM, "out of memory");
  s->id = o->id;
  s->seed = o->seed;
  s->source = o->source;
  s->embedded = o->embedded;
  s->embedded.nuclides = NULL; /* set per library: never the caller's */
  s->embedded.n_nuclides = 0;
  s->names = o->id == GS_SCENARIO_DEFORMATION ? gs__sc_names8 : gs__sc_names9;
  s->n_components = o->id == GS_SCENARIO_DEFORMATION ? 9 : 10;
  s->n_libs = o->id == GS_SCENARIO_DEFORMATION  ? GS__SC_N_THICK
              : o->id == GS_SCENARIO_GAIN_SHIFT ? GS_SCENARIO_N_SHIFTS
                                                : 1;
  K = s->n_components;
  s->libs = calloc (s->n_libs, sizeof *s->libs);
  if (o->root)
    s->root = gs__strdup (o->root);
  if (!s->libs || (o->root && !s->root))
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  cut[0] = 0;
  cut[1] = (size_t)llround (o->ratio[0] * (double)o->n_spectra);
  cut[2] = (size_t)llround ((o->ratio[0] + o->ratio[1]) * (double)o->n_spectra);
  cut[3] = o->n_spectra;
  if (cut[1] > cut[3])
    cut[1] = cut[3];
  if (cut[2] > cut[3])
    cut[2] = cut[3];
  /* The sampler only needs the component names: a one-channel stand-in. */
  names_lib = gs_library_alloc (1, K);
  if (!names_lib)
    {
      rc = GS_ENOMEM;
      goto fail;
    }
  for (j = 0; j < K && rc == GS_OK; j++)
    rc = gs_library_set_name (names_lib, j, s->names[j]);
  if (rc != GS_OK)
    goto fail;
  for (sp = 0; sp < 3; sp++)
    {
      gs_synth_opts so = o->sampler;
      gs_synth *syn = NULL;
      size_t nl, i;
      const int *lam = gs__sc_lambdas (o->id, sp, &nl);
      int ranged[GS__SC_N_THICK];
      if (sp == GS_SPLIT_TEST && o->test_range_set && lam)
        {
          size_t L = s->n_libs, k2;
          nl = 0;
          for (k2 = 0; k2 < L; k2++)
            {
              double v = o->id == GS_SCENARIO_DEFORMATION
                             ? gs_gammabench_thickness_mm[k2]
                             : (double)((int)k2 - 10);
              if (v >= o->test_range[0] - 1e-9
                  && v <= o->test_range[1] + 1e-9)
                ranged[nl++] = (int)k2;
            }
          if (nl == 0)
            {
              rc = gs_error (GS_EINVAL,
                             "scenario %d: no %s in the test range [%g, %g]",
                             (int)o->id,
                             o->id == GS_SCENARIO_DEFORMATION
                                 ? "steel thickness (mm)"
                                 : "gain shift (%)",
                             o->test_range[0], o->test_range[1]);
              goto fail;
            }
          lam = ranged;
        }
      s->n[sp] = cut[sp + 1] - cut[sp];
      if (s->n[sp] == 0)
        continue;
      so.n_spectra = s->n[sp];
      so.seed = gs__sc_split_seed (o->seed, sp);
      rc = gs_synth_generate (names_lib, &so, &syn);
      if (rc != GS_OK)
        goto fail;
      s->truth[sp] = syn->truth; /* take ownership of the table */
      syn->truth = NULL;
      gs_synth_free (syn);
      if (lam)
        {
          /* lamb = choice(list_lamb), independent of the rest of the row:
           * its own stream. */
          gsl_rng *g = gsl_rng_alloc (gsl_rng_mt19937);
          s->lambda[sp] = malloc (s->n[sp] * sizeof (int));
          if (!g || !s->lambda[sp])
            {
              if (g)
                gsl_rng_free (g);
              rc = gs_error (GS_ENOMEM, "out of memory");
              goto fail;
            }
          gsl_rng_set (g, (unsigned long)gs__mix64 (gs__mix64 (so.seed)
                                                    ^ GS__SC_STREAM_LAMBDA));
          for (i = 0; i < s->n[sp]; i++)
            s->lambda[sp][i] = lam[gsl_rng_uniform_int (g, nl)];
          gsl_rng_free (g);
        }
    }
  gs_library_free (names_lib);
  *out = s;
  return GS_OK;
fail:
  gs_library_free (names_lib);
  gs_scenario_free (s);
  return rc;
}

void
gs_scenario_free (gs_scenario *s)
{
  size_t k;
  int sp;
  if (!s)
    return;
  for (sp = 0; sp < 3; sp++)
    {
      free (s->truth[sp]);
      free (s->lambda[sp]);
    }
  if (s->libs)
    for (k = 0; k < s->n_libs; k++)
      gs_library_free (s->libs[k]);
  free (s->libs);
  free (s->root);
  free (s);
}

/* Scenario 3's background at shift index k: XBkg = B / sum(B) (numpy sum),
 * then column 0 of get_X_drift_est (round rule, zeros -> min/100,
 * renormalised); k = 10 keeps XBkg itself, as data_drift does. */
static int
gs__sc_shifted_background (const char *root, int k, double *col)
{
  double tot;
  size_t c;
  int rc = gs_gammabench_read_background (root, col);
  if (rc != GS_OK)
    return rc;
  tot = gs_shift_numpy_sum (col, GS__SC_N_CHANNELS, 1);
  for (c = 0; c < GS__SC_N_CHANNELS; c++)
    col[c] /= tot;
  if (k == 10)
    return GS_OK;
  return gs_shift_library_columns (col, 1, gs_scenario_shift_alpha (k), 0,
                                   GS_SHIFT_ROUND, 0, col);
}

/* The GammaBench library of one index, from the data folder. */
static int
gs__sc_library_gammabench (gs_scenario *s, int lambda, gs_library **out)
{
  gs_gammabench_opts go;
  gs_library *l = NULL;
  int rc;
  *out = NULL;
  if (!s->root)
    return gs_error (GS_EINVAL,
                     "scenario %d: no data folder; set opts.root to the "
                     "gammabench folder to draw spectra (or use "
                     "GS_SCENARIO_EMBEDDED, which needs none)",
                     (int)s->id);
  gs_gammabench_opts_init (&go, s->root);
  go.nuclides = s->names + 1;
  go.n_nuclides = s->n_components - 1;
  if (s->id == GS_SCENARIO_DEFORMATION)
    go.thickness_index = (size_t)lambda;
  else if (s->id == GS_SCENARIO_GAIN_SHIFT)
    go.gain_shift_percent = lambda - 10;
  rc = gs_library_load_gammabench (&go, &l);
  if (rc == GS_OK && s->id == GS_SCENARIO_GAIN_SHIFT)
    {
      double col[GS__SC_N_CHANNELS];
      size_t c;
      rc = gs__sc_shifted_background (s->root, lambda, col);
      if (rc == GS_OK)
        {
          for (c = 0; c < GS__SC_N_CHANNELS; c++)
            l->signatures[c * l->n_components] = col[c];
          free (l->description);
          l->description = gs__asprintf (
              "GammaBench Geant4 NaI(Tl), thickness 0.001 mm, gain shift "
              "alpha0 = %.2f (background shifted by the particle operator)",
              gs_scenario_shift_alpha (lambda));
          if (!l->description)
            rc = gs_error (GS_ENOMEM, "out of memory");
        }
    }
  if (rc != GS_OK)
    {
      gs_library_free (l);
      return rc;
    }
  *out = l;
  return GS_OK;
}

/* The embedded-model library of one index: the steel of the thickness
 * (scenarios 1, 2) or the gain shift alpha0 of the shift index (scenario
 * 3).  Both conventions map E to E (1 - alpha0) (see scenario.h), so
 * alpha0 goes to the model unchanged; the model shifts every column, the
 * background included. */
static int
gs__sc_library_embedded (gs_scenario *s, int lambda, gs_library **out)
{
  gs_embedded_opts eo = s->embedded;
  gs_library *l = NULL;
  int rc;
  *out = NULL;
  eo.nuclides = s->names + 1;
  eo.n_nuclides = s->n_components - 1;
  eo.steel_mm = gs_gammabench_thickness_mm[0];
  eo.gain_shift = 0;
  if (s->id == GS_SCENARIO_DEFORMATION)
    eo.steel_mm = gs_gammabench_thickness_mm[lambda];
  else if (s->id == GS_SCENARIO_GAIN_SHIFT)
    eo.gain_shift = gs_scenario_shift_alpha (lambda);
  rc = gs_library_embedded (&eo, &l);
  if (rc != GS_OK)
    return rc;
  free (l->description);
  if (s->id == GS_SCENARIO_GAIN_SHIFT)
    l->description = gs__asprintf (
        "embedded model, steel %g mm, gain shift alpha0 = %.2f (every "
        "column shifted, background included; analytic 3\"x3\" NaI(Tl), "
        "FWHM %.3g%% at 662 keV)",
        eo.steel_mm, eo.gain_shift, 100 * eo.fwhm_662);
  else
    l->description = gs__asprintf (
        "embedded model, steel %g mm (analytic 3\"x3\" NaI(Tl), FWHM "
        "%.3g%% at 662 keV)",
        eo.steel_mm, 100 * eo.fwhm_662);
  if (!l->description)
    {
      gs_library_free (l);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  *out = l;
  return GS_OK;
}

int
gs_scenario_library (gs_scenario *s, int lambda, const gs_library **lib)
{
  gs_library *l = NULL;
  int rc;
  if (!s || !lib)
    return gs_error (GS_EINVAL, "scenario: NULL argument");
  *lib = NULL;
  if (lambda < 0 || (size_t)lambda >= s->n_libs)
    return gs_error (GS_EINVAL,
                     "scenario %d: library index %d out of range 0..%zu",
                     (int)s->id, lambda, s->n_libs - 1);
  if (s->libs[lambda])
    {
      *lib = s->libs[lambda];
      return GS_OK;
    }
  if (s->source == GS_SCENARIO_GAMMABENCH)
    rc = gs__sc_library_gammabench (s, lambda, &l);
  else if (s->source == GS_SCENARIO_EMBEDDED)
    rc = gs__sc_library_embedded (s, lambda, &l);
  else
    rc = gs_error (GS_EINVAL,
                   "scenario: library source %d unknown (0 GammaBench "
                   "data, 1 embedded model)",
                   (int)s->source);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "scenario %d, library %d", (int)s->id, lambda);
  s->libs[lambda] = l;
  *lib = l;
  return GS_OK;
}

int
gs_scenario_reference_library (gs_scenario *s, const gs_library **lib)
{
  if (!s || !lib)
    {
      if (lib)
        *lib = NULL;
      return gs_error (GS_EINVAL, "scenario: NULL argument");
    }
  return gs_scenario_library (s, s->id == GS_SCENARIO_GAIN_SHIFT ? 10 : 0, lib);
}

const char *
gs_scenario_lambda_title (const gs_scenario *s)
{
  if (!s)
    return NULL;
  if (s->id == GS_SCENARIO_DEFORMATION)
    return "steel thickness (mm)";
  if (s->id == GS_SCENARIO_GAIN_SHIFT)
    return "gain shift (%)";
  return NULL;
}

double
gs_scenario_lambda_value (const gs_scenario *s, int lambda)
{
  if (!s)
    return NAN;
  if (s->id == GS_SCENARIO_DEFORMATION && lambda >= 0
      && lambda < GS__SC_N_THICK)
    return gs_gammabench_thickness_mm[lambda];
  if (s->id == GS_SCENARIO_GAIN_SHIFT && lambda >= 0
      && lambda < GS_SCENARIO_N_SHIFTS)
    return (double)(lambda - 10);
  return NAN;
}

int
gs_scenario_load_libraries (gs_scenario *s)
{
  size_t i;
  int sp, rc;
  const gs_library *l;
  if (!s)
    return gs_error (GS_EINVAL, "scenario: NULL argument");
  if (s->id == GS_SCENARIO_KNOWN)
    return gs_scenario_library (s, 0, &l);
  for (sp = 0; sp < 3; sp++)
    for (i = 0; i < s->n[sp]; i++)
      if (!s->libs[s->lambda[sp][i]])
        {
          rc = gs_scenario_library (s, s->lambda[sp][i], &l);
          if (rc != GS_OK)
            return rc;
        }
  return GS_OK;
}

int
gs_scenario_spectrum (gs_scenario *s, gs_split split, size_t i, double *y)
{
  const gs_library *lib;
  gs_synth view;
  int rc;
  if (!s || !y)
    return gs_error (GS_EINVAL, "scenario: NULL argument");
  if ((int)split < 0 || (int)split > 2)
    return gs_error (GS_EINVAL,
                     "scenario: split %d unknown (0 train, 1 "
                     "val, 2 test)",
                     (int)split);
  if (i >= s->n[split])
    return gs_error (GS_EINVAL,
                     "scenario: spectrum %zu out of range (split %d has "
                     "%zu)",
                     i, (int)split, s->n[split]);
  rc = gs_scenario_library (s, s->lambda[split] ? s->lambda[split][i] : 0,
                            &lib);
  if (rc != GS_OK)
    return rc;
  /* The synth rule (Poisson of X a_i, generator from (seed, i)) on a
   * one-table view with this row's library and the split's seed. */
  memset (&view, 0, sizeof view);
  view.lib = lib;
  view.n_spectra = s->n[split];
  view.n_components = s->n_components;
  view.truth = s->truth[split];
  view.seed = gs__sc_split_seed (s->seed, (int)split);
  return gs_synth_spectrum (&view, i, y);
}
