/* Peak-labelled spectra (gspec/peaks.h): the YOLOSpecNN paper's Table 1
 * generator on a library with known full-energy peaks. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/peaks.h"
#include "gspec/status.h"
#include "util.h"

#define PS_STREAM_TABLE 0x7ab1e0ULL
#define PS_STREAM_SPECTRUM 0x5bec0000ULL

struct gs_peakset
{
  const gs_library *lib;
  const gs_photopeak *pk;
  size_t n_pk;
  gs_peakset_opts o;
  double *a;     /* n x K expected counts */
  double *gross; /* n */
  double *snr;   /* n */
};

void
gs_peakset_opts_init (gs_peakset_opts *o)
{
  memset (o, 0, sizeof *o);
  o->n_spectra = 1000;
  o->counts_min = 1e3;
  o->counts_max = 1e5;
  o->snr_min = 0.1;
  o->snr_max = 1.0;
  o->nuclides_min = 1;
  o->nuclides_max = 5;
  o->ratio_min = 0.1;
  o->ratio_max = 0.5;
  o->min_significance = 3.0;
  o->half_width_fwhm = 1.0;
  o->merge_fwhm = 1.0;
}

static gsl_rng *
rng_for (unsigned long long seed, unsigned long long stream)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  if (r)
    gsl_rng_set (r, (unsigned long)gs__mix64 (gs__mix64 (seed) ^ stream));
  return r;
}

static int
check_opts (const gs_library *lib, const gs_peakset_opts *o)
{
  size_t K = lib->n_components;
  if (o->n_spectra == 0)
    return gs_error (GS_EINVAL, "peak set: n_spectra must be >= 1");
  if (!(o->counts_min >= 1) || !(o->counts_max >= o->counts_min)
      || !isfinite (o->counts_max))
    return gs_error (GS_EINVAL,
                     "peak set: gross counts range [%g, %g] must satisfy "
                     "1 <= min <= max < inf",
                     o->counts_min, o->counts_max);
  if (!(o->snr_min > 0) || !(o->snr_max >= o->snr_min) || o->snr_max > 1)
    return gs_error (GS_EINVAL,
                     "peak set: SNR range [%g, %g] must lie in (0, 1]",
                     o->snr_min, o->snr_max);
  if (K < 2 || o->nuclides_min < 1 || o->nuclides_max < o->nuclides_min
      || (size_t)o->nuclides_max > K - 1)
    return gs_error (GS_EINVAL,
                     "peak set: %d..%d nuclides per spectrum, but the "
                     "library has %zu nuclides besides the background",
                     o->nuclides_min, o->nuclides_max, K - 1);
  if (!(o->ratio_min > 0) || !(o->ratio_max >= o->ratio_min))
    return gs_error (GS_EINVAL,
                     "peak set: ratio range [%g, %g] must satisfy "
                     "0 < min <= max",
                     o->ratio_min, o->ratio_max);
  if (!(o->min_significance >= 0) || !(o->half_width_fwhm > 0)
      || !(o->merge_fwhm >= 0))
    return gs_error (GS_EINVAL,
                     "peak set: min_significance >= 0, half_width_fwhm > 0 "
                     "and merge_fwhm >= 0 are required");
  return GS_OK;
}

int
gs_peakset_create (const gs_library *lib, const gs_photopeak *pk, size_t n_pk,
                   const gs_peakset_opts *o, gs_peakset **out)
{
  gs_peakset *s;
  gsl_rng *r;
  size_t K, i, j, n;
  size_t *perm;
  double *w;
  int rc;
  *out = NULL;
  if (!lib || (!pk && n_pk) || !o)
    return gs_error (GS_EINVAL, "peak set: NULL library, peaks or options");
  if ((rc = check_opts (lib, o)) != GS_OK)
    return rc;
  for (i = 0; i < n_pk; i++)
    if (pk[i].component >= lib->n_components || !(pk[i].share >= 0)
        || !(pk[i].fwhm_kev > 0) || !isfinite (pk[i].energy_kev))
      return gs_error (GS_EINVAL,
                       "peak set: full-energy peak %zu (component %zu, %g "
                       "keV, share %g, FWHM %g keV) is not valid for a "
                       "library of %zu components",
                       i, pk[i].component, pk[i].energy_kev, pk[i].share,
                       pk[i].fwhm_kev, lib->n_components);
  K = lib->n_components;
  n = o->n_spectra;
  s = calloc (1, sizeof *s);
  perm = malloc ((K - 1) * sizeof *perm);
  w = malloc (K * sizeof *w);
  r = rng_for (o->seed, PS_STREAM_TABLE);
  if (s)
    {
      s->a = calloc (n * K, sizeof *s->a);
      s->gross = malloc (n * sizeof *s->gross);
      s->snr = malloc (n * sizeof *s->snr);
    }
  if (!s || !perm || !w || !r || !s->a || !s->gross || !s->snr)
    {
      gs_peakset_free (s);
      free (perm);
      free (w);
      if (r)
        gsl_rng_free (r);
      return gs_error (GS_ENOMEM,
                       "out of memory for a peak set of %zu "
                       "spectra",
                       n);
    }
  s->lib = lib;
  s->pk = pk;
  s->n_pk = n_pk;
  s->o = *o;
  for (i = 0; i < n; i++)
    {
      double lg = log (o->counts_min), hg = log (o->counts_max);
      double gross = exp (lg + (hg - lg) * gsl_rng_uniform (r));
      double snr = o->snr_min + (o->snr_max - o->snr_min) * gsl_rng_uniform (r);
      int m = o->nuclides_min
              + (int)gsl_rng_uniform_int (
                  r, (unsigned long)(o->nuclides_max - o->nuclides_min + 1));
      double tot = 0, src = snr * gross;
      double *a = s->a + i * K;
      for (j = 0; j < K - 1; j++)
        perm[j] = j + 1;
      /* m distinct nuclides: a partial Fisher-Yates shuffle. */
      for (j = 0; j < (size_t)m; j++)
        {
          size_t t = j + gsl_rng_uniform_int (r, (unsigned long)(K - 1 - j));
          size_t v = perm[t];
          perm[t] = perm[j];
          perm[j] = v;
          w[j] = o->ratio_min
                 + (o->ratio_max - o->ratio_min) * gsl_rng_uniform (r);
          tot += w[j];
        }
      for (j = 0; j < (size_t)m; j++)
        a[perm[j]] = src * w[j] / tot;
      a[0] = gross - src;
      s->gross[i] = gross;
      s->snr[i] = snr;
    }
  gsl_rng_free (r);
  free (perm);
  free (w);
  *out = s;
  return GS_OK;
}

void
gs_peakset_free (gs_peakset *s)
{
  if (!s)
    return;
  free (s->a);
  free (s->gross);
  free (s->snr);
  free (s);
}

double
gs_peakset_gross (const gs_peakset *s, size_t i)
{
  return i < s->o.n_spectra ? s->gross[i] : NAN;
}

double
gs_peakset_snr (const gs_peakset *s, size_t i)
{
  return i < s->o.n_spectra ? s->snr[i] : NAN;
}

/* Expected counts of the whole noise-free spectrum i in [lo, hi) keV
 * (channels by their centres). */
static double
expected_in (const gs_peakset *s, size_t i, double lo, double hi)
{
  const gs_library *lib = s->lib;
  size_t K = lib->n_components, c, j;
  const double *a = s->a + i * K;
  double sum = 0;
  for (c = 0; c < lib->n_channels; c++)
    {
      double e = 0.5 * (lib->energy_edges[c] + lib->energy_edges[c + 1]);
      if (e < lo || e >= hi)
        continue;
      for (j = 0; j < K; j++)
        sum += a[j] * lib->signatures[c * K + j];
    }
  return sum;
}

/* A candidate peak while merging. */
typedef struct cand
{
  double e, n, fwhm, strongest;
  int comp;
} cand;

static int
by_energy (const void *x, const void *y)
{
  double a = ((const cand *)x)->e, b = ((const cand *)y)->e;
  return a < b ? -1 : a > b ? 1 : 0;
}

int
gs_peakset_peaks (const gs_peakset *s, size_t i, gs_peak *out, size_t max,
                  size_t *n)
{
  const gs_library *lib = s->lib;
  size_t K = lib->n_components, p, m = 0, q, kept = 0;
  const double *a;
  double e_lo, e_hi;
  cand *c;
  if (i >= s->o.n_spectra)
    return gs_error (GS_EINVAL, "peak set: spectrum %zu out of range (%zu)", i,
                     s->o.n_spectra);
  a = s->a + i * K;
  e_lo = lib->energy_edges[0];
  e_hi = lib->energy_edges[lib->n_channels];
  c = malloc ((s->n_pk ? s->n_pk : 1) * sizeof *c);
  if (!c)
    return gs_error (GS_ENOMEM, "out of memory");
  for (p = 0; p < s->n_pk; p++)
    {
      const gs_photopeak *k = &s->pk[p];
      double cnt = a[k->component] * k->share;
      if (!(cnt > 0) || k->energy_kev < e_lo || k->energy_kev >= e_hi)
        continue;
      c[m].e = k->energy_kev;
      c[m].n = cnt;
      c[m].fwhm = k->fwhm_kev;
      c[m].strongest = cnt;
      c[m].comp = (int)k->component;
      m++;
    }
  qsort (c, m, sizeof *c, by_energy);
  /* Merge neighbours of one component closer than merge_fwhm FWHM. */
  for (p = 0, q = 0; p < m; p++)
    {
      if (q > 0 && c[q - 1].comp == c[p].comp
          && c[p].e - c[q - 1].e < s->o.merge_fwhm * c[q - 1].fwhm)
        {
          cand *t = &c[q - 1];
          double nn = t->n + c[p].n;
          t->e = (t->e * t->n + c[p].e * c[p].n) / nn;
          t->fwhm = (t->fwhm * t->n + c[p].fwhm * c[p].n) / nn;
          t->n = nn;
          continue;
        }
      c[q++] = c[p];
    }
  m = q;
  for (p = 0; p < m; p++)
    {
      double hw = s->o.half_width_fwhm * c[p].fwhm;
      double all = expected_in (s, i, c[p].e - hw, c[p].e + hw);
      /* The peak's own counts inside +- hw (a Gaussian's share). */
      double sigma = c[p].fwhm / (2.0 * sqrt (2.0 * log (2.0)));
      double inside = c[p].n * erf (hw / (sigma * sqrt (2.0)));
      if (inside < s->o.min_significance * sqrt (all > inside ? all : inside))
        continue;
      if (kept < max)
        {
          gs_peak *o = &out[kept];
          o->centre_kev = c[p].e;
          o->left_kev = c[p].e - hw;
          o->right_kev = c[p].e + hw;
          o->confidence = 1.0;
          o->component = c[p].comp;
        }
      kept++;
    }
  free (c);
  *n = kept;
  return GS_OK;
}

static int
ds_spectrum (void *ctx, size_t i, double *y)
{
  const gs_peakset *s = (const gs_peakset *)ctx;
  const gs_library *lib = s->lib;
  size_t K = lib->n_components, c, j;
  const double *a;
  gsl_rng *r;
  if (i >= s->o.n_spectra)
    return gs_error (GS_EINVAL, "peak set: spectrum %zu out of range (%zu)", i,
                     s->o.n_spectra);
  r = rng_for (s->o.seed, PS_STREAM_SPECTRUM + i);
  if (!r)
    return gs_error (GS_ENOMEM, "out of memory");
  a = s->a + i * K;
  for (c = 0; c < lib->n_channels; c++)
    {
      double mu = 0;
      for (j = 0; j < K; j++)
        mu += lib->signatures[c * K + j] * a[j];
      y[c] = mu > 0 ? (double)gsl_ran_poisson (r, mu) : 0.0;
    }
  gsl_rng_free (r);
  return GS_OK;
}

static int
ds_truth (void *ctx, size_t i, double *out)
{
  const gs_peakset *s = (const gs_peakset *)ctx;
  size_t K = s->lib->n_components;
  if (i >= s->o.n_spectra)
    return gs_error (GS_EINVAL, "peak set: spectrum %zu out of range (%zu)", i,
                     s->o.n_spectra);
  memcpy (out, s->a + i * K, K * sizeof *out);
  return GS_OK;
}

static int
ds_peaks (void *ctx, size_t i, gs_peak *out, size_t max, size_t *n)
{
  return gs_peakset_peaks ((const gs_peakset *)ctx, i, out, max, n);
}

gs_dataset
gs_peakset_dataset (gs_peakset *s)
{
  gs_dataset d;
  memset (&d, 0, sizeof d);
  d.struct_size = (uint32_t)sizeof d;
  d.n_spectra = s->o.n_spectra;
  d.n_channels = s->lib->n_channels;
  d.n_components = s->lib->n_components;
  d.component_names = (const char *const *)s->lib->names;
  d.ctx = s;
  d.spectrum = ds_spectrum;
  d.truth = ds_truth;
  d.peaks = ds_peaks;
  return d;
}
