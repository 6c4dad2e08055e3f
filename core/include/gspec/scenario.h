/* The GammaBench benchmark scenarios (gammabench-spec.md 2.1-2.3).
 *
 *   1 known signatures: 9 nuclides, steel thickness index 0 (0.001 mm);
 *   2 deformation: 8 nuclides (no I131), one thickness per spectrum drawn
 *     uniformly from its split's thickness indices (the seed-2 split);
 *   3 gain shift: 9 nuclides, one shift index k per spectrum, uniform over
 *     0..20 (alpha0 = -0.10 + 0.01 k, offset 0); the background is shifted
 *     too, with the particle operator of gspec/shift.h.
 *
 * A scenario is its tables (integer expected counts per component,
 * background first, plus the thickness or shift index per row) and its
 * seed.  Rows follow the sampler rules of gspec/synth.h; spectrum i of a
 * split is the Poisson draw of X_row a_i from (seed, split, i), so any
 * spectrum can be drawn on demand in any order.  The exact rows of the
 * original pickles cannot be regenerated (spec 2.4): the distribution is
 * the spec's, the random stream is gspec's. */
#ifndef GSPEC_SCENARIO_H
#define GSPEC_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/library.h"
#include "gspec/synth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gs_scenario_id
{
  GS_SCENARIO_KNOWN = 1,
  GS_SCENARIO_DEFORMATION = 2,
  GS_SCENARIO_GAIN_SHIFT = 3
} gs_scenario_id;

typedef enum gs_split
{
  GS_SPLIT_TRAIN = 0,
  GS_SPLIT_VAL = 1,
  GS_SPLIT_TEST = 2
} gs_split;

#define GS_SCENARIO_N_SHIFTS 21

typedef struct gs_scenario_opts
{
  gs_scenario_id id;
  size_t n_spectra; /* over the three splits; default 200000 */
  double ratio[3];  /* train, val, test; default 0.64, 0.16, 0.20 */
  /* Sampler rules (max_active, counts and background ranges, min_counts);
   * its n_spectra and seed are ignored.  Default gs_synth_opts_init. */
  gs_synth_opts sampler;
  uint64_t seed;
  /* Folder holding Simulation_steel_sphere/, drift_data/ and the
   * background (the gammabench folder); may be NULL when only the tables
   * are needed.  Copied. */
  const char *root;
} gs_scenario_opts;

void gs_scenario_opts_init (gs_scenario_opts *o, gs_scenario_id id);

typedef struct gs_scenario
{
  gs_scenario_id id;
  uint64_t seed;
  size_t n_components;      /* background + nuclides */
  const char *const *names; /* n_components names, static */
  size_t n[3];              /* rows per split */
  double *truth[3];         /* n[s] x n_components integer counts */
  int *lambda[3];           /* per row: thickness index (2), shift index
                               (3); NULL for scenario 1 */
  char *root;               /* copy of opts.root or NULL */
  gs_library **libs;        /* cache: [96] thickness or [21] shift or [1];
                               entries NULL until loaded */
  size_t n_libs;
} gs_scenario;

/* Draws the tables.  Split sizes: the cuts are round(r0 n) and
 * round((r0 + r1) n) (128000 / 32000 / 40000 for 200000).  Needs no data.
 * The caller frees with gs_scenario_free. */
int gs_scenario_generate (const gs_scenario_opts *o, gs_scenario **out);
void gs_scenario_free (gs_scenario *s);

/* Loads (once) every library the tables refer to, from s->root.  After it,
 * gs_scenario_spectrum only reads s and may run from several threads. */
int gs_scenario_load_libraries (gs_scenario *s);

/* The library of one thickness (scenario 2) or shift index (scenario 3;
 * 0 for scenario 1), loading it into the cache on first use. */
int gs_scenario_library (gs_scenario *s, int lambda, const gs_library **lib);

/* Writes spectrum i of a split (Poisson counts, 1024 channels) into y.
 * Loads the row's library on first use (not thread-safe then: call
 * gs_scenario_load_libraries first for concurrent draws). */
int gs_scenario_spectrum (gs_scenario *s, gs_split split, size_t i,
                          double *y);

/* The seed-2 thickness split of scenario 2 (spec 2.2): sorted indices. */
extern const int gs_scenario_thickness_train[62];
extern const int gs_scenario_thickness_val[15];
extern const int gs_scenario_thickness_test[19];

/* alpha0 of shift index k (0..20): round(-0.10 + 0.01 k, 2). */
double gs_scenario_shift_alpha (int k);

#ifdef __cplusplus
}
#endif
#endif
