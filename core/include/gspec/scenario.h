/* The GammaBench benchmark scenarios (gammabench-spec.md 2.1-2.3).
 *
 *   1 known signatures: 9 nuclides, steel thickness index 0 (0.001 mm);
 *   2 deformation: 8 nuclides (no I131), one thickness per spectrum drawn
 *     uniformly from its split's thickness indices (the seed-2 split);
 *   3 gain shift: 9 nuclides, one shift index k per spectrum, uniform over
 *     0..20 (alpha0 = -0.10 + 0.01 k, offset 0); the background is shifted
 *     too (GammaBench source: with the particle operator of gspec/shift.h;
 *     embedded source: by the model itself).
 *
 * A scenario is its tables (integer expected counts per component,
 * background first, plus the thickness or shift index per row) and its
 * seed.  Rows follow the sampler rules of gspec/synth.h; spectrum i of a
 * split is the Poisson draw of X_row a_i from (seed, split, i), so any
 * spectrum can be drawn on demand in any order.  The exact rows of the
 * original pickles cannot be regenerated (spec 2.4): the distribution is
 * the spec's, the random stream is gspec's.
 *
 * Libraries come from one of two sources:
 *   GS_SCENARIO_GAMMABENCH  the GammaBench Geant4 files (opts.root);
 *   GS_SCENARIO_EMBEDDED    the analytic detector model of gspec/library.h
 *     (gs_library_embedded), needing no data: scenario 1 uses steel_mm =
 *     gs_gammabench_thickness_mm[0] (0.001 mm); scenario 2 steel_mm =
 *     gs_gammabench_thickness_mm[lambda] (the same 96 values, 0.001 to
 *     30 mm, and the same seed-2 split); scenario 3 steel 0.001 mm and
 *     gain_shift = gs_scenario_shift_alpha (k), which the model applies
 *     to every column, the background included.
 * Sign convention of the gain shift: both GammaBench (spec 1.5, func(E,
 * alpha) = E (1 - alpha0)) and the embedded model (a deposit E is recorded
 * at E (1 - alpha)) map E to E (1 - alpha0), so alpha0 is passed to the
 * model unchanged: k = 0 (alpha0 = -0.10) stretches energies by 1.10 and
 * moves peaks up (the Cs137 662 keV peak to channel 353, about 728 keV),
 * k = 20 (alpha0 = +0.10) compresses them by 0.90 (channel 287). */
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

/* Where the libraries come from (see the top of this file). */
typedef enum gs_scenario_source
{
  GS_SCENARIO_GAMMABENCH = 0,
  GS_SCENARIO_EMBEDDED = 1
} gs_scenario_source;

typedef struct gs_scenario_opts
{
  gs_scenario_id id;
  size_t n_spectra; /* over the three splits; default 200000 */
  double ratio[3];  /* train, val, test; default 0.64, 0.16, 0.20 */
  /* With test_range_set (scenarios 2 and 3): the test split's thickness
   * (mm) or shift (%) is drawn uniformly from every value of the scenario
   * in [test_range[0], test_range[1]] (all 96 thicknesses, not only the
   * test split's; the 21 shifts): the robustness test sets of the
   * paper's Tables 2 and 4 (0.001-1 mm, -2..+2 %).  No value in the range
   * is an error. */
  int test_range_set;
  double test_range[2];
  /* Sampler rules (max_active, counts and background ranges, min_counts);
   * its n_spectra and seed are ignored.  Default gs_synth_opts_init. */
  gs_synth_opts sampler;
  uint64_t seed;
  /* Folder holding Simulation_steel_sphere/, drift_data/ and the
   * background (the gammabench folder); may be NULL when only the tables
   * are needed; not used by GS_SCENARIO_EMBEDDED.  Copied. */
  const char *root;
  gs_scenario_source source; /* default GS_SCENARIO_GAMMABENCH */
  /* Base detector options of GS_SCENARIO_EMBEDDED (grid, resolution);
   * default gs_embedded_opts_init.  Its nuclides, n_nuclides, steel_mm
   * and gain_shift are ignored: every library gets the scenario's
   * nuclides and the steel and shift of its thickness or shift index. */
  gs_embedded_opts embedded;
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
  gs_scenario_source source;
  gs_embedded_opts embedded; /* copy of opts.embedded; nuclides NULL (set
                                to names + 1 when a library is built) */
  gs_library **libs;        /* cache: [96] thickness or [21] shift or [1];
                               entries NULL until loaded */
  size_t n_libs;
} gs_scenario;

/* Draws the tables.  Split sizes: the cuts are round(r0 n) and
 * round((r0 + r1) n) (128000 / 32000 / 40000 for 200000).  Needs no data.
 * The caller frees with gs_scenario_free. */
int gs_scenario_generate (const gs_scenario_opts *o, gs_scenario **out);
void gs_scenario_free (gs_scenario *s);

/* Loads (once) every library the tables refer to, from s->root or the
 * embedded model (96 thickness or 21 shift libraries at most).  After it,
 * gs_scenario_spectrum only reads s and may run from several threads. */
int gs_scenario_load_libraries (gs_scenario *s);

/* The library of one thickness (scenario 2) or shift index (scenario 3;
 * 0 for scenario 1), loading it into the cache on first use. */
int gs_scenario_library (gs_scenario *s, int lambda, const gs_library **lib);

/* The library methods use by default, the "known signatures": scenario 1
 * its only library, scenario 2 thickness index 0 (0.001 mm), scenario 3
 * shift index 10 (alpha0 = 0).  Loads it into the cache on first use. */
int gs_scenario_reference_library (gs_scenario *s, const gs_library **lib);

/* What lambda (the thickness or shift index of a row) stands for:
 * "steel thickness (mm)" (scenario 2), "gain shift (%)" (scenario 3), NULL
 * for scenario 1 (no lambda). */
const char *gs_scenario_lambda_title (const gs_scenario *s);

/* The value of lambda in those units: gs_gammabench_thickness_mm[lambda]
 * (scenario 2) or 100 alpha0 = lambda - 10 (scenario 3, exact).  NAN for
 * scenario 1, a NULL s or lambda out of range. */
double gs_scenario_lambda_value (const gs_scenario *s, int lambda);

/* Writes spectrum i of a split (Poisson counts) into y: 1024 channels, or
 * opts.embedded.n_channels for the embedded source (1024 by default).
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
