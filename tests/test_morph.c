/* peaks.morph (plugins/peaks/morph.c).  The kernels directly (the plugin
 * source is included with MORPH_NO_ENTRY): Savitzky-Golay weights against
 * their closed forms, polynomials kept exactly (edges included), the
 * top-hat of a box on a ramp against its closed form and the van Herk
 * filters against the O(nL) definition.  Through the plugin API, on
 * synthetic NaI(Tl) spectra (1024 channels of 2 keV, exponential continuum,
 * Gaussian peaks with the YOLOSpecNN paper's FWHM model, Poisson noise
 * from GSL with fixed seeds): isolated strong peaks found within 2 % with
 * F1 = 1 when noiseless, the width screening, the Table 2 sweep beating
 * the defaults on the noisy validation set it was given, determinism,
 * the model file (round trip, corrupt, truncated) and bad input. */
#define MORPH_NO_ENTRY
#include "../plugins/peaks/morph.c"

#include <CUnit/CUnit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>

#include "gspec/core.h"
#include "gspec/library.h"
#include "test_util.h"

/* The kernels' host table (the plugin's own copy is set by its entry). */
GS_PLUGIN_HIDDEN const gs_host_api *gs_host = NULL;

enum
{
  MC = 1024, /* channels */
  MAX_PEAKS = 8
};
#define MKEV 2.0 /* keV per channel */

/* ---------------------------------------------------------------------- */
/* Kernels.                                                                */

/* Centre rows against the closed forms (w = 5 and 7, k = 2; k = 3 gives
 * the same centre row), every row summing to 1; quadratics (k = 2) and
 * quintics (k = 5) smoothed onto themselves at every channel. */
static void
test_sg (void)
{
  static const double w5[5] = { -3, 12, 17, 12, -3 };
  static const double w7[7] = { -2, 3, 6, 7, 6, 3, -2 };
  double H[49 * 49], y[200], s[200], worst = 0, scale = 0;
  size_t i, j;
  gs_host = gs_host_api_get ();
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (5, 2, H), GS_OK);
  for (j = 0; j < 5; j++)
    CU_ASSERT_DOUBLE_EQUAL (H[2 * 5 + j], w5[j] / 35, 1e-14);
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (5, 3, H), GS_OK);
  for (j = 0; j < 5; j++)
    CU_ASSERT_DOUBLE_EQUAL (H[2 * 5 + j], w5[j] / 35, 1e-14);
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (7, 2, H), GS_OK);
  for (j = 0; j < 7; j++)
    CU_ASSERT_DOUBLE_EQUAL (H[3 * 7 + j], w7[j] / 21, 1e-14);
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (25, 5, H), GS_OK);
  for (i = 0; i < 25; i++)
    {
      double sum = 0;
      for (j = 0; j < 25; j++)
        sum += H[i * 25 + j];
      CU_ASSERT_DOUBLE_EQUAL (sum, 1.0, 1e-12);
    }
  /* Quadratic, w = 5, k = 2. */
  for (i = 0; i < 200; i++)
    {
      double x = (double)i;
      y[i] = 40 + 0.7 * x - 0.004 * x * x;
      scale = fmax (scale, fabs (y[i]));
    }
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (5, 2, H), GS_OK);
  morph_sg_apply (H, 5, y, 200, s);
  for (i = 0; i < 200; i++)
    worst = fmax (worst, fabs (s[i] - y[i]));
  CU_ASSERT (worst <= 1e-12 * scale);
  printf ("\n  quadratic, w 5, k 2: max |s - y| / max |y| = %.2g",
          worst / scale);
  /* Quintic, w = 25, k = 5 (edges: the fit to the first / last 25). */
  worst = scale = 0;
  for (i = 0; i < 200; i++)
    {
      double x = ((double)i - 100) / 100;
      y[i] = 5 + x - 2 * x * x + 3 * pow (x, 3) - pow (x, 4) + 0.5 * pow (x, 5);
      scale = fmax (scale, fabs (y[i]));
    }
  CU_ASSERT_EQUAL_FATAL (morph_sg_hat (25, 5, H), GS_OK);
  morph_sg_apply (H, 25, y, 200, s);
  for (i = 0; i < 200; i++)
    worst = fmax (worst, fabs (s[i] - y[i]));
  CU_ASSERT (worst <= 1e-11 * scale);
  printf ("\n  quintic, w 25, k 5: max |s - y| / max |y| = %.2g\n",
          worst / scale);
}

/* The opening by its definition: s extended by its end values, the
 * largest min over the segments of L channels that contain i. */
static double
brute_open (const double *s, size_t n, size_t L, size_t i)
{
  long j, k, li = (long)i, ln = (long)n, lL = (long)L;
  double best = -HUGE_VAL;
  for (j = li - lL + 1; j <= li; j++)
    {
      double m = HUGE_VAL;
      for (k = j; k < j + lL; k++)
        m = fmin (m, s[k < 0 ? 0 : k >= ln ? ln - 1 : k]);
      best = fmax (best, m);
    }
  return best;
}

/* A box of 10 on channels 100 .. 105 of the ramp 0.5 i, L = 10: the
 * top-hat is 0 off the box and 0.5 i - 43 = 10 - 0.5 (106 - i) on it (the
 * opening there is the ramp at 106, where the segments that start in the
 * box leave it; the ends, extended by their values, give 0).  On a
 * falling ramp the mirror image.  Random data: the van Herk opening
 * equals the definition for several L. */
static void
test_tophat (void)
{
  enum
  {
    N = 300
  };
  double s[N], open[N], th[N], work[4 * (N + 2 * N)];
  size_t i, k;
  unsigned long u = 12345;
  static const size_t Ls[] = { 1, 2, 3, 7, 10, 16, 40, 299, 300 };
  for (i = 0; i < N; i++)
    s[i] = 0.5 * (double)i + (i >= 100 && i <= 105 ? 10 : 0);
  morph_tophat (s, N, 10, work, open, th);
  for (i = 0; i < N; i++)
    {
      double want = i >= 100 && i <= 105 ? 0.5 * (double)i - 43 : 0;
      CU_ASSERT_DOUBLE_EQUAL (th[i], want, 1e-12);
    }
  for (i = 0; i < N; i++)
    s[i] = 0.5 * (double)(N - 1 - i) + (i >= 194 && i <= 199 ? 10 : 0);
  morph_tophat (s, N, 10, work, open, th);
  for (i = 0; i < N; i++)
    {
      size_t mi = N - 1 - i;
      double want = mi >= 100 && mi <= 105 ? 0.5 * (double)mi - 43 : 0;
      CU_ASSERT_DOUBLE_EQUAL (th[i], want, 1e-12);
    }
  for (i = 0; i < N; i++)
    {
      u = u * 6364136223846793005UL + 1442695040888963407UL;
      s[i] = (double)(u >> 40) / 16777216.0 * 50 + 20 * sin (0.05 * i);
    }
  for (k = 0; k < sizeof Ls / sizeof Ls[0]; k++)
    {
      size_t bad = 0;
      morph_tophat (s, N, Ls[k], work, open, th);
      for (i = 0; i < N; i++)
        bad += open[i] != brute_open (s, N, Ls[k], i) || th[i] < 0
               || th[i] != s[i] - open[i];
      CU_ASSERT_EQUAL (bad, 0);
    }
}

/* ---------------------------------------------------------------------- */
/* Synthetic spectra.                                                      */

/* Expected counts: continuum c0 (exp (-E / 300) + 0.05 exp (-E / 3000))
 * (falling everywhere) and Gaussian peaks of the paper's NaI(Tl) FWHM,
 * integrated over each 2 keV channel. */
static void
model (double c0, const double *E, const double *area, size_t np, double *mu)
{
  gs_fwhm_model fm;
  size_t i, p;
  gs_fwhm_model_nai (&fm);
  for (i = 0; i < MC; i++)
    {
      double lo = MKEV * (double)i, hi = lo + MKEV, e = lo + 0.5 * MKEV;
      mu[i] = c0 * (exp (-e / 300) + 0.05 * exp (-e / 3000));
      for (p = 0; p < np; p++)
        {
          double sg = gs_fwhm_kev (&fm, E[p]) / (2 * sqrt (2 * log (2)));
          mu[i] += area[p] * 0.5
                   * (erf ((hi - E[p]) / (sg * M_SQRT2))
                      - erf ((lo - E[p]) / (sg * M_SQRT2)));
        }
    }
}

/* The true peak at E: +- one FWHM. */
static gs_peak
true_peak (double E)
{
  gs_fwhm_model fm;
  gs_peak p;
  double f;
  gs_fwhm_model_nai (&fm);
  f = gs_fwhm_kev (&fm, E);
  p.centre_kev = E;
  p.left_kev = E - f;
  p.right_kev = E + f;
  p.confidence = 1;
  p.component = -1;
  return p;
}

/* An in-memory labelled set. */
typedef struct mp_set
{
  size_t n, channels;
  double *Y;
  gs_peak *P; /* MAX_PEAKS per spectrum, by increasing energy */
  size_t *np;
  int labelled;
} mp_set;

static int
set_spectrum (void *ctx, size_t i, double *out)
{
  const mp_set *s = (const mp_set *)ctx;
  memcpy (out, s->Y + i * s->channels, s->channels * sizeof (double));
  return GS_OK;
}

static int
set_truth (void *ctx, size_t i, double *out)
{
  (void)ctx;
  (void)i;
  out[0] = 1;
  out[1] = 0;
  return GS_OK;
}

static int
set_peaks (void *ctx, size_t i, gs_peak *out, size_t max, size_t *n)
{
  const mp_set *s = (const mp_set *)ctx;
  size_t k;
  *n = s->np[i];
  for (k = 0; k < s->np[i] && k < max; k++)
    out[k] = s->P[i * MAX_PEAKS + k];
  return GS_OK;
}

static const char *const mp_names[2] = { "background", "X" };

static gs_dataset
set_dataset (mp_set *s)
{
  gs_dataset d;
  memset (&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.n_spectra = s->n;
  d.n_channels = s->channels;
  d.n_components = 2;
  d.component_names = mp_names;
  d.ctx = s;
  d.spectrum = set_spectrum;
  d.truth = set_truth;
  d.peaks = s->labelled ? set_peaks : NULL;
  return d;
}

/* n noisy spectra: 2 to 4 of the lines below (distinct), areas 300 to
 * 4000 counts, continuum c0 in 100 .. 600, Poisson noise (MT19937 seeded
 * with `seed`). */
static void
noisy_set (mp_set *s, size_t n, unsigned long seed)
{
  static const double lines[7]
      = { 59.5, 122.1, 364.5, 661.7, 1173.2, 1332.5, 1460.8 };
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  double mu[MC];
  size_t i, c;
  gsl_rng_set (r, seed);
  s->n = n;
  s->channels = MC;
  s->labelled = 1;
  s->Y = malloc (n * MC * sizeof *s->Y);
  s->P = malloc (n * MAX_PEAKS * sizeof *s->P);
  s->np = malloc (n * sizeof *s->np);
  for (i = 0; i < n; i++)
    {
      double E[4], A[4], c0 = 100 + 500 * gsl_rng_uniform (r);
      int used[7] = { 0 };
      size_t np = 2 + gsl_rng_uniform_int (r, 3), k = 0, l;
      while (k < np)
        {
          l = gsl_rng_uniform_int (r, 7);
          if (used[l])
            continue;
          used[l] = 1;
          k++;
        }
      for (l = 0, k = 0; l < 7; l++)
        if (used[l])
          {
            E[k] = lines[l];
            A[k] = 300 + 3700 * gsl_rng_uniform (r);
            s->P[i * MAX_PEAKS + k] = true_peak (E[k]);
            k++;
          }
      s->np[i] = np;
      model (c0, E, A, np, mu);
      for (c = 0; c < MC; c++)
        s->Y[i * MC + c] = (double)gsl_ran_poisson (r, mu[c]);
      s->Y[i * MC + MC / 2] += 1; /* never all zero */
    }
  gsl_rng_free (r);
}

static void
set_free (mp_set *s)
{
  free (s->Y);
  free (s->P);
  free (s->np);
}

/* ---------------------------------------------------------------------- */
/* The plugin.                                                             */

typedef struct mp_fixture
{
  gs_registry *reg;
  const gs_method_type *t;
  gs_library *lib;
  gs_setup setup;
} mp_fixture;

static gs_library *
mp_library (size_t channels)
{
  gs_library *lib = gs_library_alloc (channels, 2);
  size_t i;
  for (i = 0; i < channels * 2; i++)
    lib->signatures[i] = 1.0;
  gs_library_set_name (lib, 0, mp_names[0]);
  gs_library_set_name (lib, 1, mp_names[1]);
  gs_library_set_linear_grid (lib, 0, MKEV);
  gs_library_normalise (lib);
  return lib;
}

static int
fixture_init (mp_fixture *f)
{
  memset (f, 0, sizeof *f);
  gs_host = gs_host_api_get ();
  f->reg = gs_registry_alloc ();
  gs_registry_load_dir (f->reg, GSPEC_PLUGIN_DIR);
  f->t = gs_registry_find (f->reg, "peaks.morph");
  f->lib = mp_library (MC);
  f->setup.struct_size = sizeof f->setup;
  f->setup.library = gs_library_as_view (f->lib);
  f->setup.seed = 1;
  f->setup.target_fpr = 0.01;
  return f->t != NULL && f->lib != NULL;
}

static void
fixture_free (mp_fixture *f)
{
  gs_library_free (f->lib);
  gs_registry_free (f->reg);
}

/* A method with the parameters kv (name, value, ..., NULL) set, or NULL
 * (the status in *rc). */
static gs_method *
make_method_kv (mp_fixture *f, const char *const *kv, int *rc)
{
  void *p = gs_params_alloc (f->t);
  gs_method *m = NULL;
  for (; kv && kv[0]; kv += 2)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, kv[0], kv[1], "test"), GS_OK);
  *rc = gs_method_alloc (f->t, p, &f->setup, &m);
  gs_params_free (p);
  return *rc == GS_OK ? m : NULL;
}

/* A method with up to two parameters set, or NULL (the status in *rc). */
static gs_method *
make_method_rc (mp_fixture *f, const char *k1, const char *v1, const char *k2,
                const char *v2, int *rc)
{
  const char *kv[5] = { k1, v1, k2, v2, NULL };
  if (!k1)
    kv[0] = NULL;
  else if (!k2)
    kv[2] = NULL;
  return make_method_kv (f, kv, rc);
}

static gs_method *
make_method (mp_fixture *f, const char *k1, const char *v1, const char *k2,
             const char *v2)
{
  int rc;
  gs_method *m = make_method_rc (f, k1, v1, k2, v2, &rc);
  CU_ASSERT_EQUAL (rc, GS_OK);
  return m;
}

/* Detections of every spectrum of s (malloc'd copies in det[]). */
static void
detect_all (const gs_method *m, const mp_set *s, gs_peak_list *det)
{
  gs_result *r = gs_result_alloc (2, 0);
  void *work = NULL;
  size_t i;
  CU_ASSERT_EQUAL (gs_method_workspace_alloc (m, &work), GS_OK);
  for (i = 0; i < s->n; i++)
    {
      gs_peak *copy;
      CU_ASSERT_EQUAL (
          gs_method_analyze (m, work, s->Y + i * s->channels, s->channels, r),
          GS_OK);
      copy = malloc ((r->n_peaks ? r->n_peaks : 1) * sizeof *copy);
      if (r->n_peaks)
        memcpy (copy, r->peaks, r->n_peaks * sizeof *copy);
      det[i].peaks = copy;
      det[i].n = r->n_peaks;
    }
  gs_method_workspace_free (work);
  gs_result_free (r);
}

static void
free_lists (gs_peak_list *det, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free ((void *)det[i].peaks);
  free (det);
}

/* Metrics of method m on set s (2 % window). */
static gs_peak_metrics
score (const gs_method *m, const mp_set *s)
{
  gs_peak_list *truth = malloc (s->n * sizeof *truth);
  gs_peak_list *det = malloc (s->n * sizeof *det);
  gs_peak_metrics pm;
  size_t i;
  memset (&pm, 0, sizeof pm);
  for (i = 0; i < s->n; i++)
    {
      truth[i].peaks = s->P + i * MAX_PEAKS;
      truth[i].n = s->np[i];
    }
  detect_all (m, s, det);
  CU_ASSERT_EQUAL (gs_peaks_evaluate (s->n, truth, det, 0.02, &pm, NULL, NULL),
                   GS_OK);
  free (truth);
  free_lists (det, s->n);
  return pm;
}

/* Isolated strong peaks (122 .. 1800 keV, 2e4 counts each) on a
 * noiseless spectrum, default parameters: one detection per peak, each
 * within 2 % (and 1 channel) of the truth, inside its own boundaries,
 * with a confidence in (0, 1); F1 = 1 by gs_peaks_evaluate. */
static void
test_noiseless (void)
{
  static const double E[6] = { 122.1, 356.0, 661.7, 1000.0, 1460.8, 1800.0 };
  double A[6], mu[MC];
  mp_fixture f;
  mp_set s;
  gs_method *m;
  gs_peak_metrics pm;
  size_t k;
  CU_ASSERT_FATAL (fixture_init (&f));
  for (k = 0; k < 6; k++)
    A[k] = 2e4;
  model (3000, E, A, 6, mu);
  memset (&s, 0, sizeof s);
  s.n = 1;
  s.channels = MC;
  s.Y = mu;
  s.P = malloc (MAX_PEAKS * sizeof *s.P);
  s.np = malloc (sizeof *s.np);
  s.np[0] = 6;
  for (k = 0; k < 6; k++)
    s.P[k] = true_peak (E[k]);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  {
    gs_result *r = gs_result_alloc (2, 0);
    CU_ASSERT_EQUAL_FATAL (gs_method_analyze (m, NULL, mu, MC, r), GS_OK);
    CU_ASSERT_EQUAL (r->n_peaks, 6);
    printf ("\n ");
    for (k = 0; k < r->n_peaks && k < 6; k++)
      {
        const gs_peak *p = &r->peaks[k];
        CU_ASSERT (fabs (p->centre_kev - E[k]) <= 0.02 * E[k]);
        CU_ASSERT (fabs (p->centre_kev - E[k]) <= MKEV);
        CU_ASSERT (p->left_kev < p->centre_kev && p->centre_kev < p->right_kev);
        CU_ASSERT (p->confidence > 0 && p->confidence < 1);
        CU_ASSERT_EQUAL (p->component, -1);
        printf (" %.1f [%.0f, %.0f] %.4f;", p->centre_kev, p->left_kev,
                p->right_kev, p->confidence);
      }
    printf ("\n");
    gs_result_free (r);
  }
  pm = score (m, &s);
  CU_ASSERT_DOUBLE_EQUAL (pm.f1, 1.0, 0);
  CU_ASSERT_DOUBLE_EQUAL (pm.ap, 1.0, 0);
  gs_method_free (m);
  free (s.P);
  free (s.np);
  fixture_free (&f);
}

/* Width screening: a wide peak (661.7 keV) and a 3-channel bump at 1200
 * keV on a falling continuum, smoothing off (w = 3, k = 2 fits 3 points
 * exactly): min_width 2 keeps both, the bump exactly 3 channels (6 keV)
 * wide; min_width 4 and the default 14 keep the peak only. */
static void
test_min_width (void)
{
  static const double E[1] = { 661.7 }, A[1] = { 2e4 };
  static const char *const widths[3] = { "2", "4", "14" };
  static const size_t want[3] = { 2, 1, 1 };
  double mu[MC];
  mp_fixture f;
  size_t k;
  CU_ASSERT_FATAL (fixture_init (&f));
  model (3000, E, A, 1, mu);
  for (k = 600; k <= 602; k++)
    mu[k] += 200;
  for (k = 0; k < 3; k++)
    {
      const char *kv[7]
          = { "window", "3", "order", "2", "min_width", widths[k], NULL };
      int rc;
      gs_method *m = make_method_kv (&f, kv, &rc);
      gs_result *r = gs_result_alloc (2, 0);
      CU_ASSERT_FATAL (m != NULL);
      CU_ASSERT_EQUAL_FATAL (gs_method_analyze (m, NULL, mu, MC, r), GS_OK);
      CU_ASSERT_EQUAL (r->n_peaks, want[k]);
      if (r->n_peaks >= 1)
        CU_ASSERT (fabs (r->peaks[0].centre_kev - E[0]) <= MKEV);
      if (k == 0 && r->n_peaks == 2)
        {
          CU_ASSERT_DOUBLE_EQUAL (r->peaks[1].left_kev, 1200.0, 1e-9);
          CU_ASSERT_DOUBLE_EQUAL (r->peaks[1].right_kev, 1206.0, 1e-9);
          /* The continuum falls: the bump's first channel is highest. */
          CU_ASSERT_DOUBLE_EQUAL (r->peaks[1].centre_kev, 1201.0, 1e-9);
        }
      gs_result_free (r);
      gs_method_free (m);
    }
  fixture_free (&f);
}

/* The method's payload as text (malloc'd). */
static char *
payload (const gs_method *m)
{
  FILE *fp = tmpfile ();
  long len;
  char *buf;
  CU_ASSERT_FATAL (fp != NULL);
  CU_ASSERT_EQUAL (gs_method_save (m, fp), GS_OK);
  len = ftell (fp);
  buf = malloc ((size_t)len + 1);
  rewind (fp);
  CU_ASSERT_EQUAL (fread (buf, 1, (size_t)len, fp), (size_t)len);
  buf[len] = '\0';
  fclose (fp);
  return buf;
}

/* The sweep, given a noisy validation set (and an unlabelled training
 * set), picks parameters whose F1 on that set beats the defaults'; it
 * is deterministic; without labels, or with tune off, the parameters
 * stay; with labels on the training set only it tunes there. */
static void
test_tune (void)
{
  mp_fixture f;
  mp_set tr, va;
  gs_dataset dtr, dva;
  gs_method *def, *m, *m2;
  gs_peak_metrics p0, p1;
  char *text, *text2, *text_def;
  CU_ASSERT_FATAL (fixture_init (&f));
  noisy_set (&tr, 20, 7);
  tr.labelled = 0;
  noisy_set (&va, 60, 11);
  dtr = set_dataset (&tr);
  dva = set_dataset (&va);
  def = make_method (&f, "tune", "false", NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_train (def, &dtr, &dva), GS_OK);
  text_def = payload (def);
  CU_ASSERT_STRING_EQUAL (text_def, "peaks-morph-model 1\nwindow 25\norder "
                                    "5\ntophat_length 16\nmin_width 14\nend\n");
  p0 = score (def, &va);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &dtr, &dva), GS_OK);
  p1 = score (m, &va);
  text = payload (m);
  printf ("\n  defaults: F1 %.4f (P %.3f R %.3f) AP %.4f"
          "\n  tuned:    F1 %.4f (P %.3f R %.3f) AP %.4f\n  %s",
          p0.f1, p0.precision, p0.recall, p0.ap, p1.f1, p1.precision, p1.recall,
          p1.ap, text);
  CU_ASSERT (p1.f1 > p0.f1 + 0.02);
  CU_ASSERT (strcmp (text, text_def) != 0);
  /* Deterministic. */
  m2 = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_train (m2, &dtr, &dva), GS_OK);
  text2 = payload (m2);
  CU_ASSERT_STRING_EQUAL (text, text2);
  free (text2);
  gs_method_free (m2);
  /* No labels anywhere: unchanged. */
  m2 = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_train (m2, &dtr, NULL), GS_OK);
  text2 = payload (m2);
  CU_ASSERT_STRING_EQUAL (text2, text_def);
  free (text2);
  gs_method_free (m2);
  /* Labels on the training set only: tuned there (it is the same set). */
  m2 = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_train (m2, &dva, &dtr), GS_OK);
  text2 = payload (m2);
  CU_ASSERT_STRING_EQUAL (text2, text);
  free (text2);
  gs_method_free (m2);
  free (text);
  free (text_def);
  gs_method_free (m);
  gs_method_free (def);
  set_free (&tr);
  set_free (&va);
  fixture_free (&f);
}

/* Loads `text` (len bytes) into a fresh default method; returns the
 * status, the method in *out on success. */
static int
load_text (mp_fixture *f, const char *text, size_t len, gs_method **out)
{
  FILE *fp = tmpfile ();
  gs_method *m = make_method (f, NULL, NULL, NULL, NULL);
  int rc;
  fwrite (text, 1, len, fp);
  rewind (fp);
  rc = gs_method_load (m, fp);
  fclose (fp);
  if (out && rc == GS_OK)
    *out = m;
  else
    gs_method_free (m);
  return rc;
}

/* Round trip: the loaded method gives the same peaks bit for bit and
 * saves the same payload.  Truncated (every length), other versions, an
 * even window, order >= window, L beyond the channels and words are
 * refused with a message. */
static void
test_model_file (void)
{
  static const char *const bad[][2] = {
    { "peaks-morph-model 2\nwindow 9\norder 3\ntophat_length 8\nmin_width "
      "4\nend\n",
      "version 2" },
    { "peaks-morph-model 1\nwindow 10\norder 3\ntophat_length 8\nmin_width "
      "4\nend\n",
      "odd" },
    { "peaks-morph-model 1\nwindow 9\norder 9\ntophat_length 8\nmin_width "
      "4\nend\n",
      "order 9" },
    { "peaks-morph-model 1\nwindow 9\norder 3\ntophat_length 2000\n"
      "min_width 4\nend\n",
      "tophat_length 2000" },
    { "peaks-morph-model 1\nwindow 9\norder x\ntophat_length 8\nmin_width "
      "4\nend\n",
      "'x'" },
    { "peaks-morph-model 1\nwindow 9\norder 3\nlength 8\nmin_width 4\nend\n",
      "'length'" },
    { "peaks-morph-model 1\nwindow 9\norder 3\ntophat_length 8\nmin_width "
      "0\nend\n",
      "min_width 0" },
  };
  const char *good = "peaks-morph-model 1\nwindow 13\norder 3\n"
                     "tophat_length 8\nmin_width 5\nend\n";
  mp_fixture f;
  mp_set va;
  gs_method *a = NULL, *b = NULL;
  gs_peak_list *da, *db;
  char *text;
  size_t i, k, len = strlen (good), refused = 0;
  CU_ASSERT_FATAL (fixture_init (&f));
  noisy_set (&va, 10, 3);
  CU_ASSERT_EQUAL_FATAL (load_text (&f, good, len, &a), GS_OK);
  text = payload (a);
  CU_ASSERT_STRING_EQUAL (text, good);
  CU_ASSERT_EQUAL_FATAL (load_text (&f, text, strlen (text), &b), GS_OK);
  da = malloc (va.n * sizeof *da);
  db = malloc (va.n * sizeof *db);
  detect_all (a, &va, da);
  detect_all (b, &va, db);
  for (i = 0; i < va.n; i++)
    {
      CU_ASSERT_EQUAL (da[i].n, db[i].n);
      for (k = 0; k < da[i].n && k < db[i].n; k++)
        CU_ASSERT (memcmp (&da[i].peaks[k], &db[i].peaks[k],
                           offsetof (gs_peak, component) + sizeof (int))
                   == 0);
    }
  free_lists (da, va.n);
  free_lists (db, va.n);
  /* Every truncation (the last newline aside) is refused. */
  for (i = 0; i + 1 < len; i++)
    refused += load_text (&f, good, i, NULL) != GS_OK;
  CU_ASSERT_EQUAL (refused, len - 1);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      CU_ASSERT_EQUAL (load_text (&f, bad[i][0], strlen (bad[i][0]), NULL),
                       GS_EFORMAT);
      GS_ASSERT_CONTAINS (gs_last_error (), bad[i][1]);
    }
  free (text);
  gs_method_free (a);
  gs_method_free (b);
  set_free (&va);
  fixture_free (&f);
}

/* Bad parameters at alloc (even window, order >= window, L beyond the
 * channels), a spectrum of the wrong length, a labelled set of another
 * channel count. */
static void
test_bad_input (void)
{
  mp_fixture f;
  mp_set s;
  gs_dataset d;
  gs_method *m;
  gs_result *r = gs_result_alloc (2, 0);
  double y[MC + 1];
  int rc;
  size_t i;
  CU_ASSERT_FATAL (fixture_init (&f));
  CU_ASSERT (make_method_rc (&f, "window", "10", NULL, NULL, &rc) == NULL);
  CU_ASSERT_EQUAL (rc, GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "window 10 must be odd");
  CU_ASSERT (make_method_rc (&f, "window", "9", "order", "9", &rc) == NULL);
  CU_ASSERT_EQUAL (rc, GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "order 9");
  CU_ASSERT (make_method_rc (&f, "tophat_length", "1025", NULL, NULL, &rc)
             == NULL);
  CU_ASSERT_EQUAL (rc, GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "1024");
  m = make_method (&f, NULL, NULL, NULL, NULL);
  for (i = 0; i <= MC; i++)
    y[i] = 10;
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, MC + 1, r), GS_OK);
  GS_ASSERT_CONTAINS (gs_last_error (), "1025");
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, MC - 1, r), GS_OK);
  /* A flat spectrum has no peak. */
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, MC, r), GS_OK);
  CU_ASSERT_EQUAL (r->n_peaks, 0);
  noisy_set (&s, 2, 5);
  s.channels = 512;
  d = set_dataset (&s);
  CU_ASSERT_EQUAL (gs_method_train (m, &d, NULL), GS_EBADLEN);
  GS_ASSERT_CONTAINS (gs_last_error (), "512");
  set_free (&s);
  gs_method_free (m);
  gs_result_free (r);
  fixture_free (&f);
}

void gs_test_register_morph (void);
void
gs_test_register_morph (void)
{
  CU_pSuite s = CU_add_suite ("morph", NULL, NULL);
  CU_add_test (s, "Savitzky-Golay weights and polynomials", test_sg);
  CU_add_test (s, "top-hat: box on a ramp, van Herk vs definition",
               test_tophat);
  CU_add_test (s, "noiseless isolated peaks: F1 = 1", test_noiseless);
  CU_add_test (s, "false-peak screening by width", test_min_width);
  CU_add_test (s, "Table 2 sweep beats the defaults", test_tune);
  CU_add_test (s, "model file: round trip, truncated, corrupt",
               test_model_file);
  CU_add_test (s, "bad input", test_bad_input);
}
