#include "gspec/synth.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Stream numbers that separate the table's draws from the spectra's. */
#define GS__STREAM_TABLE 0x7ab1e000ULL
#define GS__STREAM_SPECTRUM 0x5bec0000ULL

void
gs_synth_opts_init (gs_synth_opts *o)
{
  memset (o, 0, sizeof *o);
  o->n_spectra = 1000;
  o->max_active = 4;
  o->counts_min = 200;
  o->counts_max = 1e5;
  o->background_min = 0.1;
  o->background_max = 0.9;
  o->seed = 0;
}

static gsl_rng *
rng_for (uint64_t seed, uint64_t stream)
{
  gsl_rng *r = gsl_rng_alloc (gsl_rng_mt19937);
  if (r)
    gsl_rng_set (r, (unsigned long)gs__mix64 (gs__mix64 (seed) ^ stream));
  return r;
}

double
gs_synth_min_counts_default (const char *name)
{
  if (strcmp (name, "background") == 0)
    return 125;
  if (strcmp (name, "Co60") == 0 || strcmp (name, "Cs137") == 0
      || strcmp (name, "Eu152") == 0)
    return 100;
  return 50;
}

int
gs_synth_generate (const gs_library *lib, const gs_synth_opts *o,
                   gs_synth **out)
{
  size_t K = lib->n_components, nn = K - 1, i, j;
  gs_synth *s;
  gsl_rng *r;
  double *minc, *a;
  size_t *perm;
  *out = NULL;
  if (o->n_spectra == 0)
    return gs_error (GS_EINVAL, "a synthetic set needs n_spectra >= 1");
  if (o->max_active < 0 || (size_t)o->max_active > nn)
    return gs_error (GS_EINVAL,
                     "max_active = %d but the library has %zu nuclides",
                     o->max_active, nn);
  if (!(o->counts_min > 0) || !(o->counts_max >= o->counts_min))
    return gs_error (GS_EINVAL,
                     "total counts range [%g, %g] is invalid (need 0 < min "
                     "<= max)",
                     o->counts_min, o->counts_max);
  if (!(o->background_min >= 0) || !(o->background_max <= 1)
      || !(o->background_min <= o->background_max))
    return gs_error (GS_EINVAL,
                     "background weight range [%g, %g] must lie in [0, 1]",
                     o->background_min, o->background_max);
  s = calloc (1, sizeof *s);
  minc = malloc (K * sizeof *minc);
  a = malloc (K * sizeof *a);
  perm = malloc (K * sizeof *perm);
  r = rng_for (o->seed, GS__STREAM_TABLE);
  if (!s || !minc || !a || !perm || !r)
    goto nomem;
  s->truth = calloc (o->n_spectra * K, sizeof (double));
  if (!s->truth)
    goto nomem;
  s->lib = lib;
  s->n_spectra = o->n_spectra;
  s->n_components = K;
  s->seed = o->seed;
  for (j = 0; j < K; j++)
    minc[j] = o->min_counts ? o->min_counts[j]
                            : gs_synth_min_counts_default (lib->names[j]);
  for (i = 0; i < o->n_spectra; i++)
    {
      int k = (int)gsl_rng_uniform_int (r, (unsigned long)o->max_active + 1);
      double counting;
      int tries = 0;
      for (;;)
        {
          counting = pow (10.0, log10 (o->counts_min)
                                    + gsl_rng_uniform (r)
                                          * (log10 (o->counts_max)
                                             - log10 (o->counts_min)));
          memset (a, 0, K * sizeof *a);
          if (k == 0)
            {
              a[0] = 1;
              break;
            }
          else
            {
              double sum = 0;
              int ok = 1;
              for (j = 0; j < nn; j++)
                perm[j] = j + 1;
              /* k distinct nuclides, uniformly (partial Fisher-Yates). */
              for (j = 0; j < (size_t)k; j++)
                {
                  size_t pick
                      = j + gsl_rng_uniform_int (r, (unsigned long)(nn - j));
                  size_t t = perm[j];
                  perm[j] = perm[pick];
                  perm[pick] = t;
                }
              a[0] = o->background_min
                     + gsl_rng_uniform (r)
                           * (o->background_max - o->background_min);
              for (j = 0; j < (size_t)k; j++)
                {
                  a[perm[j]] = gsl_rng_uniform_pos (r);
                  sum += a[perm[j]];
                }
              for (j = 1; j < K; j++)
                a[j] = a[j] / sum * (1 - a[0]);
              for (j = 0; j < K; j++)
                if (a[j] > 0 && !(a[j] * counting > minc[j]))
                  ok = 0;
              if (ok)
                break;
            }
          if (++tries > 100000)
            {
              free (minc);
              free (a);
              free (perm);
              gsl_rng_free (r);
              gs_synth_free (s);
              return gs_error (GS_EINVAL,
                               "the minimum counts cannot be met for %d "
                               "nuclides within [%g, %g] total counts; "
                               "raise counts_max or lower max_active",
                               k, o->counts_min, o->counts_max);
            }
        }
      for (j = 0; j < K; j++)
        s->truth[i * K + j] = floor (a[j] * counting);
    }
  free (minc);
  free (a);
  free (perm);
  gsl_rng_free (r);
  *out = s;
  return GS_OK;
nomem:
  free (minc);
  free (a);
  free (perm);
  if (r)
    gsl_rng_free (r);
  gs_synth_free (s);
  return gs_error (GS_ENOMEM, "out of memory generating %zu spectra",
                   o->n_spectra);
}

void
gs_synth_free (gs_synth *s)
{
  if (!s)
    return;
  free (s->truth);
  free (s);
}

int
gs_synth_spectrum (const gs_synth *s, size_t i, double *y)
{
  const gs_library *lib = s->lib;
  size_t K = lib->n_components, c, j;
  const double *a;
  gsl_rng *r;
  if (i >= s->n_spectra)
    return gs_error (GS_EINVAL, "spectrum index %zu out of range (%zu)", i,
                     s->n_spectra);
  r = rng_for (s->seed, GS__STREAM_SPECTRUM + i);
  if (!r)
    return gs_error (GS_ENOMEM, "out of memory");
  a = s->truth + i * K;
  for (c = 0; c < lib->n_channels; c++)
    {
      const double *row = lib->signatures + c * K;
      double mu = 0;
      for (j = 0; j < K; j++)
        mu += row[j] * a[j];
      y[c] = mu > 0 ? (double)gsl_ran_poisson (r, mu) : 0.0;
    }
  gsl_rng_free (r);
  return GS_OK;
}

static int
ds_spectrum (void *ctx, size_t index, double *out)
{
  return gs_synth_spectrum ((const gs_synth *)ctx, index, out);
}

static int
ds_truth (void *ctx, size_t index, double *out)
{
  const gs_synth *s = (const gs_synth *)ctx;
  if (index >= s->n_spectra)
    return gs_error (GS_EINVAL, "index %zu out of range", index);
  memcpy (out, s->truth + index * s->n_components,
          s->n_components * sizeof (double));
  return GS_OK;
}

gs_dataset
gs_synth_as_dataset (const gs_synth *s)
{
  gs_dataset d;
  memset (&d, 0, sizeof d);
  d.struct_size = (uint32_t)sizeof d;
  d.n_spectra = s->n_spectra;
  d.n_channels = s->lib->n_channels;
  d.n_components = s->n_components;
  d.component_names = (const char *const *)s->lib->names;
  d.ctx = (void *)s;
  d.spectrum = ds_spectrum;
  d.truth = ds_truth;
  return d;
}
