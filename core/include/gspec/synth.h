/* Seeded synthetic mixtures drawn from a library (gammabench-spec.md 2.1
 * sampler and 2.3 synthesis).
 *
 * A synthetic set is its scenario table (integer expected counts per
 * component, background first) plus its seed: spectrum i is the Poisson
 * draw of X a_i with a generator seeded from (seed, i), so any spectrum
 * can be drawn on demand, in any order, from any thread, with the same
 * result. */
#ifndef GSPEC_SYNTH_H
#define GSPEC_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/library.h"
#include "gspec/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_synth_opts
{
  size_t n_spectra;
  int max_active;            /* nuclides per spectrum: uniform 0..max */
  double counts_min;         /* total counts, log-uniform in [min, max] */
  double counts_max;
  double background_min;     /* background weight U(min, max) */
  double background_max;
  /* Minimum expected counts per component (n_components values,
   * background first) for the rejection step; NULL: the spec's values by
   * nuclide name (background 125, Co60/Cs137/Eu152 100, others 50). */
  const double *min_counts;
  uint64_t seed;
} gs_synth_opts;

/* The sampler's minimum expected counts of a component by name (the
 * spec's: background 125, Co60, Cs137 and Eu152 100, others 50); the
 * scenario-3 post-processing of spec 3.4 uses them too. */
double gs_synth_min_counts_default (const char *name);

/* The spec's defaults: 0..4 nuclides, 200..1e5 counts, background
 * U(0.1, 0.9). */
void gs_synth_opts_init (gs_synth_opts *o);

typedef struct gs_synth
{
  const gs_library *lib; /* borrowed; must outlive the set */
  size_t n_spectra;
  size_t n_components;
  double *truth; /* n_spectra x n_components integer expected counts */
  uint64_t seed;
} gs_synth;

/* Draws the scenario table.  Needs at least one nuclide column when
 * max_active > 0.  The caller frees with gs_synth_free. */
int gs_synth_generate (const gs_library *lib, const gs_synth_opts *o,
                       gs_synth **out);
void gs_synth_free (gs_synth *s);

/* Writes spectrum i (Poisson counts) into y[lib->n_channels]. */
int gs_synth_spectrum (const gs_synth *s, size_t i, double *y);

/* A dataset view over the set (valid while s lives). */
gs_dataset gs_synth_as_dataset (const gs_synth *s);

#ifdef __cplusplus
}
#endif
#endif
