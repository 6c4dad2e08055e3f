/* ml.gammaflow (plugins/ml/gammaflow.c) through the plugin API, against
 * references computed here from the definitions: loadings as normalised
 * class means, exact scores and counts on noiseless mixtures (NNLS and
 * Poisson fits), the 0.1 presence rule, signatures and reconstruction,
 * cosine / explained variance / deviance / p-value from their formulas
 * (the p-value from the closed-form chi-square recurrence), model round
 * trip and corrupt models, bad input, the leave-one-class-out outlier
 * threshold; on gamma_flow's data (GSPEC_DATA) the scores against
 * gs_nnls (QR) and the single-label accuracy on Am241_left. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/nnls.h"
#include "gspec/spectra.h"
#include "test_util.h"
#include "util.h"

enum
{
  GF_C = 96,
  GF_K = 4,
  GF_M0 = 7,
  GF_ROWS = 6 /* pure rows per class */
};

/* Extras, in the plugin's order. */
enum
{
  X_COSINE,
  X_EV,
  X_DEVIANCE,
  X_DOF,
  X_P_VALUE,
  X_OS_COSINE,
  X_OS_DEVIANCE,
  X_OUTLIER,
  N_EXTRAS
};

/* An in-memory labelled set. */
typedef struct gf_set
{
  size_t n, C, K;
  double *Y, *T;
} gf_set;

static int
set_spectrum (void *ctx, size_t i, double *out)
{
  const gf_set *s = (const gf_set *)ctx;
  memcpy (out, s->Y + i * s->C, s->C * sizeof (double));
  return GS_OK;
}

static int
set_truth (void *ctx, size_t i, double *out)
{
  const gf_set *s = (const gf_set *)ctx;
  memcpy (out, s->T + i * s->K, s->K * sizeof (double));
  return GS_OK;
}

static gs_dataset
set_dataset (gf_set *s, const char *const *names)
{
  gs_dataset d;
  memset (&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.n_spectra = s->n;
  d.n_channels = s->C;
  d.n_components = s->K;
  d.component_names = names;
  d.ctx = s;
  d.spectrum = set_spectrum;
  d.truth = set_truth;
  return d;
}

/* The toy library's shapes (before normalisation): a decaying
 * background and three Gaussian peaks with a small Compton shelf. */
static double
toy_shape (size_t k, size_t i)
{
  double x = (double)i;
  if (k == 0)
    return 40 * exp (-x / 50) + 5;
  {
    double c = 20.0 + 22.0 * (double)k, d = (x - c) / 3.0;
    return 200 * exp (-0.5 * d * d) + 8 * (x < c) * exp (-x / 40);
  }
}

static const char *const toy_names[GF_K] = { "background", "A", "B", "C" };

static gs_library *
toy_library (void)
{
  gs_library *lib = gs_library_alloc (GF_C, GF_K);
  size_t i, k;
  for (i = 0; i < GF_C; i++)
    for (k = 0; k < GF_K; k++)
      lib->signatures[i * GF_K + k] = 1.0; /* unused by the method */
  for (k = 0; k < GF_K; k++)
    gs_library_set_name (lib, k, toy_names[k]);
  gs_library_set_linear_grid (lib, 0, 8);
  gs_library_normalise (lib);
  return lib;
}

/* Training rows: GF_ROWS pure rows per class, mean (30 + 7 r) times the
 * class shape, with a deterministic Poisson-sized ripple (+- sqrt of the
 * mean, clipped at 0); 3 mixtures (A + B) and 2 rows with no library
 * component (skipped).  skip_class >= 0 leaves that class out. */
static void
toy_training (gf_set *s, int skip_class)
{
  size_t k, r, i, row = 0;
  s->C = GF_C;
  s->K = GF_K;
  s->n = GF_K * GF_ROWS + 5;
  s->Y = calloc (s->n * GF_C, sizeof (double));
  s->T = calloc (s->n * GF_K, sizeof (double));
  for (k = 0; k < GF_K; k++)
    {
      if ((int)k == skip_class)
        continue;
      for (r = 0; r < GF_ROWS; r++, row++)
        {
          for (i = 0; i < GF_C; i++)
            {
              double mu = (30.0 + 7.0 * (double)r) * toy_shape (k, i);
              double v = mu + sqrt (mu) * sin (0.7 * (double)(i * (r + 1)));
              s->Y[row * GF_C + i] = v > 0 ? v : 0;
            }
          s->T[row * GF_K + k] = 1000;
        }
    }
  for (r = 0; r < 3; r++, row++)
    {
      for (i = 0; i < GF_C; i++)
        s->Y[row * GF_C + i] = 50 * (toy_shape (1, i) + toy_shape (2, i));
      s->T[row * GF_K + 1] = s->T[row * GF_K + 2] = 500;
    }
  for (r = 0; r < 2; r++, row++)
    for (i = 0; i < GF_C; i++)
      s->Y[row * GF_C + i] = 100 + (double)i;
  s->n = row;
}

/* Hand loadings from the training rows: class means divided by their
 * integral over channels >= GF_M0. */
static void
toy_loadings (const gf_set *s, double *L)
{
  size_t k, i, r, n;
  for (k = 0; k < GF_K; k++)
    {
      double integ = 0;
      n = 0;
      for (i = 0; i < GF_C; i++)
        L[k * GF_C + i] = 0;
      for (r = 0; r < s->n; r++)
        {
          size_t np = 0, j;
          for (j = 0; j < GF_K; j++)
            np += s->T[r * GF_K + j] > 0;
          if (np != 1 || !(s->T[r * GF_K + k] > 0))
            continue;
          n++;
          for (i = 0; i < GF_C; i++)
            L[k * GF_C + i] += s->Y[r * GF_C + i];
        }
      for (i = 0; i < GF_C; i++)
        L[k * GF_C + i] /= (double)n;
      for (i = GF_M0; i < GF_C; i++)
        integ += fabs (L[k * GF_C + i]);
      for (i = 0; i < GF_C; i++)
        L[k * GF_C + i] /= integ;
    }
}

typedef struct gf_fixture
{
  gs_registry *reg;
  const gs_method_type *t;
  gs_library *lib;
  gs_setup setup;
} gf_fixture;

static int
fixture_init (gf_fixture *f, gs_library *lib)
{
  memset (f, 0, sizeof *f);
  f->reg = gs_registry_alloc ();
  gs_registry_load_dir (f->reg, GSPEC_PLUGIN_DIR);
  f->t = gs_registry_find (f->reg, "ml.gammaflow");
  f->lib = lib;
  f->setup.struct_size = sizeof f->setup;
  f->setup.library = gs_library_as_view (lib);
  f->setup.seed = 1;
  f->setup.target_fpr = 0.01;
  return f->t != NULL && lib != NULL;
}

static void
fixture_free (gf_fixture *f)
{
  gs_library_free (f->lib);
  gs_registry_free (f->reg);
}

/* A method with up to two parameters set. */
static gs_method *
make_method (gf_fixture *f, const char *k1, const char *v1, const char *k2,
             const char *v2)
{
  void *p = gs_params_alloc (f->t);
  gs_method *m = NULL;
  if (k1)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, k1, v1, "test"), GS_OK);
  if (k2)
    CU_ASSERT_EQUAL (gs_params_set (f->t, p, k2, v2, "test"), GS_OK);
  CU_ASSERT_EQUAL (gs_method_alloc (f->t, p, &f->setup, &m), GS_OK);
  gs_params_free (p);
  return m;
}

static double
maxabs (const double *v, size_t n)
{
  double s = 0;
  size_t i;
  for (i = 0; i < n; i++)
    s = fabs (v[i]) > s ? fabs (v[i]) : s;
  return s;
}

/* Q(D, nu) = P(chi2_nu > D) by the closed forms Q(D, 1) = erfc (sqrt
 * (D / 2)), Q(D, 2) = exp (-D / 2) and the recurrence Q(D, nu + 2) =
 * Q(D, nu) + (D/2)^(nu/2) exp (-D/2) / Gamma (nu/2 + 1), in long double. */
static double
chisq_q_closed (double D, int nu)
{
  long double h = (long double)D / 2, q;
  int k = nu % 2 ? 1 : 2;
  q = nu % 2 ? (long double)erfc (sqrt ((double)h)) : expl (-h);
  for (; k < nu; k += 2)
    q += expl ((long double)k / 2 * logl (h) - h
               - lgammal ((long double)k / 2 + 1));
  return (double)q;
}

/* Noiseless mixtures y = sum a_k L_k from the hand loadings: scores a
 * (NNLS and Poisson fits) within 1e-9 of max a, counts a_k sum_i L_k,
 * s_norm = a / sum a; the component at 5.3 % (below 0.1) absent, the
 * zero one absent, the others present; signatures = L_k / sum L_k within
 * 1e-12 and the reconstruction sum counts_k sig_k = y within 1e-9;
 * cosine 1, explained variance 1, deviance ~0 and dof = 89 - 3. */
static void
test_noiseless (void)
{
  gf_fixture f;
  gf_set s;
  gs_dataset d;
  double L[GF_K * GF_C], y[GF_C], sig[GF_C * GF_K], tot[GF_K];
  const double a[GF_K] = { 3000, 1500, 0, 250 };
  const char *fits[2] = { "nnls", "poisson" };
  size_t i, k;
  int fi;
  CU_ASSERT_FATAL (fixture_init (&f, toy_library ()));
  toy_training (&s, -1);
  toy_loadings (&s, L);
  d = set_dataset (&s, toy_names);
  for (k = 0; k < GF_K; k++)
    {
      tot[k] = 0;
      for (i = 0; i < GF_C; i++)
        tot[k] += L[k * GF_C + i];
    }
  for (i = 0; i < GF_C; i++)
    {
      y[i] = 0;
      for (k = 0; k < GF_K; k++)
        y[i] += a[k] * L[k * GF_C + i];
    }
  for (fi = 0; fi < 2; fi++)
    {
      gs_method *m = make_method (&f, "fit", fits[fi], NULL, NULL);
      gs_result *r = gs_result_alloc (GF_K, N_EXTRAS);
      double worst = 0, rec = 0, sum_a = 4750;
      CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
      CU_ASSERT_EQUAL_FATAL (gs_method_signatures (m, GF_K, sig), GS_OK);
      for (i = 0; i < GF_C; i++)
        for (k = 0; k < GF_K; k++)
          {
            double want = L[k * GF_C + i] / tot[k];
            CU_ASSERT (fabs (sig[i * GF_K + k] - want)
                       <= 1e-12 * want + 1e-300);
          }
      CU_ASSERT_EQUAL_FATAL (gs_method_analyze (m, NULL, y, GF_C, r), GS_OK);
      for (k = 0; k < GF_K; k++)
        {
          double sc = r->counts[k] / tot[k];
          if (fabs (sc - a[k]) > worst)
            worst = fabs (sc - a[k]);
          CU_ASSERT (fabs (r->counts[k] - a[k] * tot[k])
                     <= 1e-9 * 3000 * tot[k]);
          CU_ASSERT (fabs (r->score[k] - a[k] / sum_a) <= 1e-9);
          CU_ASSERT (r->std[k] >= 0 || isnan (r->std[k]));
        }
      CU_ASSERT (worst <= 1e-9 * 3000);
      CU_ASSERT_EQUAL (r->present[0], 1);
      CU_ASSERT_EQUAL (r->present[1], 1);
      CU_ASSERT_EQUAL (r->present[2], 0);
      CU_ASSERT_EQUAL (r->present[3], 0); /* 5.3 % < 10 % */
      for (i = 0; i < GF_C; i++)
        {
          double x = 0;
          for (k = 0; k < GF_K; k++)
            x += r->counts[k] * sig[i * GF_K + k];
          if (fabs (x - y[i]) > rec)
            rec = fabs (x - y[i]);
        }
      CU_ASSERT (rec <= 1e-9 * maxabs (y, GF_C));
      CU_ASSERT_DOUBLE_EQUAL (r->extras[X_COSINE], 1.0, 1e-12);
      CU_ASSERT_DOUBLE_EQUAL (r->extras[X_EV], 1.0, 1e-12);
      CU_ASSERT (r->extras[X_DEVIANCE] >= 0 && r->extras[X_DEVIANCE] <= 1e-8);
      /* NNPU leaves the zero component at ~1e-6 (its boundary
         optimum to the solver's accuracy): one dof less there. */
      if (fi == 0)
        CU_ASSERT_DOUBLE_EQUAL (r->extras[X_DOF], GF_C - GF_M0 - 3.0, 0);
      if (fi == 1)
        CU_ASSERT (r->extras[X_DOF] == GF_C - GF_M0 - 3.0
                   || r->extras[X_DOF] == GF_C - GF_M0 - 4.0);
      CU_ASSERT_DOUBLE_EQUAL (r->extras[X_P_VALUE], 1.0, 1e-9);
      CU_ASSERT_EQUAL (r->extras[X_OUTLIER], 0.0);
      printf ("\n  %s: worst |s - a| %.2g, reconstruction %.2g, deviance %.2g",
              fits[fi], worst, rec, r->extras[X_DEVIANCE]);
      gs_result_free (r);
      gs_method_free (m);
    }
  printf ("\n");
  free (s.Y);
  free (s.T);
  fixture_free (&f);
}

/* A noisy spectrum: cosine, explained variance, deviance and p-value
 * from their definitions on y and x_hat = sum counts_k sig_k (1e-9
 * relative; p-value against the closed-form recurrence, 1e-9 relative),
 * the NNLS scores against gs_nnls (QR) on the same A and b (1e-9 of max
 * s), outlier scores = 1 - cosine and deviance / dof.  A spectrum with
 * counts only below min_channel: all scores 0, nothing present, cosine
 * NaN, flagged.  A wrong channel count is refused. */
static void
test_features (void)
{
  gf_fixture f;
  gf_set s;
  gs_dataset d;
  gs_method *m;
  gs_result *r = gs_result_alloc (GF_K, N_EXTRAS);
  double y[GF_C + 1], sig[GF_C * GF_K], xh[GF_C], A[GF_C * GF_K], sq[GF_K];
  double my = 0, mx = 0, syy = 0, sxx = 0, sxy = 0, srr = 0, dev = 0;
  double want, sumsig[GF_K];
  size_t i, k;
  void *work;
  CU_ASSERT_FATAL (fixture_init (&f, toy_library ()));
  toy_training (&s, -1);
  d = set_dataset (&s, toy_names);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_method_signatures (m, GF_K, sig), GS_OK);
  for (i = 0; i < GF_C; i++)
    {
      double mu
          = 20 * toy_shape (0, i) + 9 * toy_shape (2, i) + 3 * toy_shape (3, i);
      y[i] = floor (mu + sqrt (mu) * sin (1.3 * (double)i) + 0.5);
      if (y[i] < 0)
        y[i] = 0;
    }
  y[50] = 0; /* a zero channel in the fit range */
  CU_ASSERT_EQUAL_FATAL (gs_method_analyze (m, NULL, y, GF_C, r), GS_OK);
  for (i = 0; i < GF_C; i++)
    {
      xh[i] = 0;
      for (k = 0; k < GF_K; k++)
        xh[i] += r->counts[k] * sig[i * GF_K + k];
      my += y[i] / GF_C;
      mx += xh[i] / GF_C;
    }
  for (i = 0; i < GF_C; i++)
    {
      syy += (y[i] - my) * (y[i] - my);
      sxx += (xh[i] - mx) * (xh[i] - mx);
      sxy += (y[i] - my) * (xh[i] - mx);
      srr += ((y[i] - xh[i]) - (my - mx)) * ((y[i] - xh[i]) - (my - mx));
      if (i >= GF_M0)
        dev += y[i] > 0 ? 2 * (y[i] * log (y[i] / xh[i]) - (y[i] - xh[i]))
                        : 2 * xh[i];
    }
  CU_ASSERT (gs_test_reldiff (r->extras[X_COSINE], sxy / sqrt (syy * sxx))
             <= 1e-9);
  CU_ASSERT (gs_test_reldiff (r->extras[X_EV], 1 - srr / syy) <= 1e-9);
  CU_ASSERT (gs_test_reldiff (r->extras[X_DEVIANCE], dev) <= 1e-9);
  CU_ASSERT (r->extras[X_DOF] >= GF_C - GF_M0 - GF_K);
  want = chisq_q_closed (r->extras[X_DEVIANCE], (int)r->extras[X_DOF]);
  CU_ASSERT (gs_test_reldiff (r->extras[X_P_VALUE], want) <= 1e-9);
  CU_ASSERT (gs_test_reldiff (chisq_q_closed (3.0, 2), exp (-1.5)) <= 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (r->extras[X_OS_COSINE], 1 - r->extras[X_COSINE],
                          1e-15);
  CU_ASSERT_DOUBLE_EQUAL (r->extras[X_OS_DEVIANCE],
                          r->extras[X_DEVIANCE] / r->extras[X_DOF], 1e-12);
  printf ("\n  noisy: cosine %.6f, EV %.6f, deviance %.3f on %g dof, p %.3g "
          "(closed form %.3g)",
          r->extras[X_COSINE], r->extras[X_EV], r->extras[X_DEVIANCE],
          r->extras[X_DOF], r->extras[X_P_VALUE], want);
  /* Scores against gs_nnls on A = L^T[m0:], b = y[m0:]; L_k = sig_k /
     sum_{i >= m0} sig_k and s_k = counts_k sum_{i >= m0} sig_k. */
  for (k = 0; k < GF_K; k++)
    {
      sumsig[k] = 0;
      for (i = GF_M0; i < GF_C; i++)
        sumsig[k] += sig[i * GF_K + k];
    }
  for (i = GF_M0; i < GF_C; i++)
    for (k = 0; k < GF_K; k++)
      A[(i - GF_M0) * GF_K + k] = sig[i * GF_K + k] / sumsig[k];
  work = malloc (gs_nnls_work_bytes (GF_C - GF_M0, GF_K));
  CU_ASSERT_EQUAL (gs_nnls (A, GF_C - GF_M0, GF_K, GF_K, y + GF_M0, NULL, work,
                            gs_nnls_work_bytes (GF_C - GF_M0, GF_K), sq, NULL),
                   GS_OK);
  free (work);
  for (k = 0; k < GF_K; k++)
    CU_ASSERT (fabs (r->counts[k] * sumsig[k] - sq[k])
               <= 1e-9 * maxabs (sq, GF_K));
  /* Counts only below min_channel: nothing to fit. */
  memset (y, 0, sizeof y);
  for (i = 0; i < GF_M0; i++)
    y[i] = 10;
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, GF_C, r), GS_OK);
  for (k = 0; k < GF_K; k++)
    {
      CU_ASSERT_EQUAL (r->score[k], 0.0);
      CU_ASSERT_EQUAL (r->present[k], 0);
      CU_ASSERT_EQUAL (r->counts[k], 0.0);
    }
  CU_ASSERT (isnan (r->extras[X_COSINE]));
  CU_ASSERT_EQUAL (r->extras[X_OUTLIER], 1.0);
  /* Wrong channel count. */
  y[GF_C] = 1;
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, GF_C + 1, r), GS_OK);
  GS_ASSERT_CONTAINS (gs_last_error (), "97");
  CU_ASSERT_NOT_EQUAL (gs_method_analyze (m, NULL, y, GF_C - 1, r), GS_OK);
  printf ("\n");
  gs_result_free (r);
  gs_method_free (m);
  free (s.Y);
  free (s.T);
  fixture_free (&f);
}

/* Bytes of a FILE written by the method's save (the payload only). */
static char *
saved_payload (const gs_method *m, long *len)
{
  FILE *f = tmpfile ();
  char *buf;
  CU_ASSERT_FATAL (f != NULL);
  CU_ASSERT_EQUAL (gs_method_save (m, f), GS_OK);
  *len = ftell (f);
  buf = malloc ((size_t)*len + 1);
  rewind (f);
  CU_ASSERT_EQUAL (fread (buf, 1, (size_t)*len, f), (size_t)*len);
  buf[*len] = '\0';
  fclose (f);
  return buf;
}

/* Loads `len` bytes of `text` into a fresh method; returns the status. */
static int
load_bytes (gf_fixture *f, const char *text, size_t len, gs_method **out)
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

/* text with the index-th number after "loadings" replaced by word, into
 * out (room for strlen (text) + 64). */
static void
replace_loading (const char *text, int index, const char *word, char *out)
{
  const char *p = strstr (text, "loadings\n") + 9, *e;
  int i;
  for (i = 0; i < index; i++)
    p = strchr (p, ' ') + 1;
  e = strchr (p, ' ');
  snprintf (out, strlen (text) + 64, "%.*s%s%s", (int)(p - text), text, word,
            e);
}

/* Save / load: bit-identical results (counts, std, scores, extras) on
 * noisy spectra; a truncated payload (every 97th length) and corrupt
 * ones (a word, a negative loading, another channel count, a loading
 * not normalised) are refused with a message; an untrained method
 * refuses analyze; a training set without class 'B' is refused naming
 * it. */
static void
test_model_file (void)
{
  gf_fixture f;
  gf_set s, s2;
  gs_dataset d;
  gs_method *m, *m2 = NULL;
  gs_result *r1 = gs_result_alloc (GF_K, N_EXTRAS);
  gs_result *r2 = gs_result_alloc (GF_K, N_EXTRAS);
  double y[GF_C];
  char *text, *bad;
  long len, cut;
  size_t i, j;
  int n_trunc = 0;
  CU_ASSERT_FATAL (fixture_init (&f, toy_library ()));
  toy_training (&s, -1);
  d = set_dataset (&s, toy_names);
  m = make_method (&f, "outlier_score", "cosine", NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, s.Y, GF_C, r1), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "not trained");
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
  text = saved_payload (m, &len);
  GS_ASSERT_CONTAINS (text, "gammaflow-model 1");
  gs_method_free (m);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
  CU_ASSERT_EQUAL_FATAL (load_bytes (&f, text, (size_t)len, &m2), GS_OK);
  for (j = 0; j < s.n; j++)
    {
      for (i = 0; i < GF_C; i++)
        y[i] = floor (s.Y[j * GF_C + i] * (1 + 0.2 * sin ((double)(i + j))));
      CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, GF_C, r1), GS_OK);
      CU_ASSERT_EQUAL (gs_method_analyze (m2, NULL, y, GF_C, r2), GS_OK);
      CU_ASSERT (memcmp (r1->counts, r2->counts, GF_K * sizeof (double)) == 0);
      CU_ASSERT (memcmp (r1->std, r2->std, GF_K * sizeof (double)) == 0);
      CU_ASSERT (memcmp (r1->score, r2->score, GF_K * sizeof (double)) == 0);
      CU_ASSERT (memcmp (r1->extras, r2->extras, N_EXTRAS * sizeof (double))
                 == 0);
    }
  gs_method_free (m2);
  for (cut = 0; cut < len - 1; cut += 97)
    {
      n_trunc++;
      CU_ASSERT_NOT_EQUAL (load_bytes (&f, text, (size_t)cut, NULL), GS_OK);
      CU_ASSERT (gs_last_error ()[0] != '\0');
    }
  CU_ASSERT (n_trunc > 50);
  bad = malloc ((size_t)len + 64);
  /* a word in place of a loading above min_channel, a negative one, one
     scaled (the loading no longer integrates to 1) */
  replace_loading (text, 10, "abc", bad);
  CU_ASSERT_EQUAL (load_bytes (&f, bad, strlen (bad), NULL), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "'abc'");
  replace_loading (text, 10, "-1e-3", bad);
  CU_ASSERT_EQUAL (load_bytes (&f, bad, strlen (bad), NULL), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), ">= 0");
  replace_loading (text, 10, "1000", bad);
  CU_ASSERT_EQUAL (load_bytes (&f, bad, strlen (bad), NULL), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "corrupt");
  {
    const char *p = strstr (text, "channels 96");
    CU_ASSERT_FATAL (p != NULL);
    snprintf (bad, (size_t)len + 64, "%.*schannels 95%s", (int)(p - text), text,
              p + 11);
    CU_ASSERT_EQUAL (load_bytes (&f, bad, strlen (bad), NULL), GS_EFORMAT);
    GS_ASSERT_CONTAINS (gs_last_error (), "channels 95");
  }
  free (bad);
  free (text);
  gs_method_free (m);
  /* A class missing from the training set. */
  toy_training (&s2, 2);
  d = set_dataset (&s2, toy_names);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  CU_ASSERT_EQUAL (gs_method_train (m, &d, NULL), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (),
                      "no training spectrum labelled only 'B'");
  gs_method_free (m);
  free (s2.Y);
  free (s2.T);
  gs_result_free (r1);
  gs_result_free (r2);
  free (s.Y);
  free (s.T);
  fixture_free (&f);
}

/* The leave-one-class-out thresholds: spectra of an unseen shape (a
 * peak at channel 80, not in the library, on background, with as many
 * counts as the training classes' peaks: the deviance per dof of a
 * model mismatch grows with the counts, so its threshold is only
 * meaningful at the training count level) are flagged
 * (at least 90 % of 40), noisy mixtures of known classes mostly not
 * (at most 10 % of 40), with either outlier score. */
static void
test_outlier (void)
{
  gf_fixture f;
  gf_set s;
  gs_dataset d;
  const char *modes[2] = { "cosine", "deviance" };
  int mi;
  CU_ASSERT_FATAL (fixture_init (&f, toy_library ()));
  toy_training (&s, -1);
  d = set_dataset (&s, toy_names);
  for (mi = 0; mi < 2; mi++)
    {
      gs_method *m = make_method (&f, "outlier_score", modes[mi], NULL, NULL);
      gs_result *r = gs_result_alloc (GF_K, N_EXTRAS);
      double y[GF_C];
      int flag_unseen = 0, flag_known = 0, j;
      size_t i;
      CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
      for (j = 0; j < 40; j++)
        {
          double amp = 20 + (double)j;
          for (i = 0; i < GF_C; i++)
            {
              double dd = ((double)i - 80) / 2.5;
              double mu
                  = amp * toy_shape (0, i) + amp * 400 * exp (-0.5 * dd * dd);
              y[i] = floor (mu + sqrt (mu) * sin (0.9 * (double)(i + j)) + 0.5);
            }
          CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, GF_C, r), GS_OK);
          flag_unseen += r->extras[X_OUTLIER] == 1;
          for (i = 0; i < GF_C; i++)
            {
              double mu = amp * toy_shape (0, i)
                          + (double)(j % 7) * toy_shape (1 + (size_t)j % 3, i)
                          + 10 * toy_shape (1 + (size_t)(j + 1) % 3, i);
              y[i] = floor (mu + sqrt (mu) * sin (0.9 * (double)(i + j)) + 0.5);
            }
          CU_ASSERT_EQUAL (gs_method_analyze (m, NULL, y, GF_C, r), GS_OK);
          flag_known += r->extras[X_OUTLIER] == 1;
        }
      printf ("\n  %s rule: %d / 40 unseen flagged, %d / 40 known flagged",
              modes[mi], flag_unseen, flag_known);
      CU_ASSERT (flag_unseen >= 36);
      CU_ASSERT (flag_known <= 4);
      gs_result_free (r);
      gs_method_free (m);
    }
  printf ("\n");
  free (s.Y);
  free (s.T);
  fixture_free (&f);
}

/* ---- gamma_flow's data ------------------------------------------------ */

static const char *const gf_iso[5]
    = { "background", "Am241", "Co60", "Cs137", "Eu152" };

/* Component index of one label token, or -1. */
static int
iso_index (const char *tok, size_t len)
{
  int k;
  for (k = 0; k < 5; k++)
    if (strlen (gf_iso[k]) == len && strncmp (gf_iso[k], tok, len) == 0)
      return k;
  return -1;
}

/* Truth row from a label "Am241+background": 1 for each named
 * component. */
static void
label_truth (const char *label, double *t)
{
  const char *p = label;
  memset (t, 0, 5 * sizeof (double));
  while (p && *p)
    {
      const char *e = strchr (p, '+');
      size_t len = e ? (size_t)(e - p) : strlen (p);
      int k = iso_index (p, len);
      if (k >= 0)
        t[k] = 1;
      p = e ? e + 1 : NULL;
    }
}

static void
test_real_data (void)
{
  static const char *const train_files[]
      = { "Am241_simulated",          "Co60_simulated",
          "Cs137_simulated",          "Eu152_simulated",
          "background_20240124_left", "background_20240124_right" };
  const char *dir = gs_test_data_dir ("gammaflow real data");
  gs_library *lib;
  gf_fixture f;
  gf_set s;
  gs_dataset d;
  gs_method *m;
  gs_result *r;
  gs_spectra *am = NULL;
  double sig[256 * 5], sumsig[5], A[256 * 5], sq[5], worst = 0;
  size_t fi, i, k, total = 0, C = 256, correct = 0;
  void *work;
  char path[4096];
  if (!dir)
    return;
  s.n = 0;
  s.C = C;
  s.K = 5;
  s.Y = NULL;
  s.T = NULL;
  for (fi = 0; fi < 6; fi++)
    {
      gs_spectra *sp = NULL;
      snprintf (path, sizeof path, "%s/gamma_flow/%s", dir, train_files[fi]);
      CU_ASSERT_EQUAL_FATAL (gs_spectra_read (path, &sp), GS_OK);
      CU_ASSERT_EQUAL_FATAL (sp->n_channels, C);
      s.Y = realloc (s.Y, (total + sp->n_spectra) * C * sizeof (double));
      s.T = realloc (s.T, (total + sp->n_spectra) * 5 * sizeof (double));
      memcpy (s.Y + total * C, sp->counts, sp->n_spectra * C * sizeof (double));
      for (i = 0; i < sp->n_spectra; i++)
        label_truth (sp->labels[i], s.T + (total + i) * 5);
      total += sp->n_spectra;
      gs_spectra_free (sp);
    }
  s.n = total;
  lib = gs_library_alloc (C, 5);
  for (i = 0; i < C * 5; i++)
    lib->signatures[i] = 1;
  for (k = 0; k < 5; k++)
    gs_library_set_name (lib, k, gf_iso[k]);
  gs_library_set_linear_grid (lib, -12, 8.15);
  gs_library_normalise (lib);
  CU_ASSERT_FATAL (fixture_init (&f, lib));
  d = set_dataset (&s, gf_iso);
  m = make_method (&f, NULL, NULL, NULL, NULL);
  {
    double t0 = gs__now ();
    CU_ASSERT_EQUAL_FATAL (gs_method_train (m, &d, NULL), GS_OK);
    printf ("\n  trained on %zu spectra in %.2f s", total, gs__now () - t0);
  }
  CU_ASSERT_EQUAL_FATAL (gs_method_signatures (m, 5, sig), GS_OK);
  for (k = 0; k < 5; k++)
    {
      sumsig[k] = 0;
      for (i = GF_M0; i < C; i++)
        sumsig[k] += sig[i * 5 + k];
    }
  for (i = GF_M0; i < C; i++)
    for (k = 0; k < 5; k++)
      A[(i - GF_M0) * 5 + k] = sig[i * 5 + k] / sumsig[k];
  snprintf (path, sizeof path, "%s/gamma_flow/Am241_left", dir);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (path, &am), GS_OK);
  r = gs_result_alloc (5, N_EXTRAS);
  work = malloc (gs_nnls_work_bytes (C - GF_M0, 5));
  for (i = 0; i < am->n_spectra; i++)
    {
      const double *y = am->counts + i * C;
      double t[5];
      int truth = 0, pred = 0;
      double best = -1;
      CU_ASSERT_EQUAL_FATAL (gs_method_analyze (m, NULL, y, C, r), GS_OK);
      if (i < 200)
        {
          double d1 = 0;
          CU_ASSERT_EQUAL (gs_nnls (A, C - GF_M0, 5, 5, y + GF_M0, NULL, work,
                                    gs_nnls_work_bytes (C - GF_M0, 5), sq,
                                    NULL),
                           GS_OK);
          for (k = 0; k < 5; k++)
            if (fabs (r->counts[k] * sumsig[k] - sq[k]) > d1)
              d1 = fabs (r->counts[k] * sumsig[k] - sq[k]);
          d1 /= maxabs (sq, 5);
          if (d1 > worst)
            worst = d1;
          CU_ASSERT (d1 <= 1e-8);
        }
      label_truth (am->labels[i], t);
      for (k = 1; k < 5; k++)
        if (t[k] > 0)
          {
            truth = (int)k;
            break;
          }
      for (k = 1; k < 5; k++)
        if (r->present[k] == 1 && r->score[k] > best)
          {
            best = r->score[k];
            pred = (int)k;
          }
      correct += pred == truth;
    }
  printf ("\n  200 spectra: worst |s - s_qr| / max |s_qr| %.2g;"
          "\n  Am241_left single-label accuracy %.1f %% (%zu / %zu)\n",
          worst, 100.0 * (double)correct / (double)am->n_spectra, correct,
          am->n_spectra);
  CU_ASSERT (correct * 2 > am->n_spectra);
  free (work);
  gs_result_free (r);
  gs_spectra_free (am);
  gs_method_free (m);
  free (s.Y);
  free (s.T);
  fixture_free (&f);
}

void gs_test_register_gammaflow (void);
void
gs_test_register_gammaflow (void)
{
  CU_pSuite s = CU_add_suite ("gammaflow", NULL, NULL);
  CU_add_test (s, "noiseless mixtures: loadings, counts, presence",
               test_noiseless);
  CU_add_test (s, "features against their formulas, gs_nnls, bad input",
               test_features);
  CU_add_test (s, "model file: round trip, truncated, corrupt",
               test_model_file);
  CU_add_test (s, "leave-one-class-out outlier threshold", test_outlier);
  CU_add_test (s, "gamma_flow data: scores vs gs_nnls, accuracy",
               test_real_data);
}
