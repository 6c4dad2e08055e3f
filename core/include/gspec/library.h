/* Spectral libraries: normalised signatures (channels x components,
 * component 0 = background), their names and the energy grid. */
#ifndef GSPEC_LIBRARY_H
#define GSPEC_LIBRARY_H

#include <stddef.h>

#include "gspec/plugin.h"
#include "gspec/rebin.h"
#include "gspec/spectra.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_library
{
  size_t n_channels;
  size_t n_components;
  double *signatures;   /* row-major n_channels x n_components, owned */
  char **names;         /* n_components strings, owned */
  double *energy_edges; /* n_channels + 1 increasing keV values, owned */
  char *description;    /* where it came from (one line), owned; may be NULL */
  gs_library_view view; /* what methods see; valid while the library
                           lives (set by gs_library_alloc) */
} gs_library;

/* Allocates a zero-filled library with n_channels x n_components and names
 * set to NULL.  Returns NULL (and sets the last error) when out of memory or
 * when a size is zero. */
gs_library *gs_library_alloc (size_t n_channels, size_t n_components);

/* Frees the library and everything it owns; accepts NULL. */
void gs_library_free (gs_library *lib);

/* Sets name i (copied). */
int gs_library_set_name (gs_library *lib, size_t i, const char *name);

/* Sets a uniform grid: edge k = offset_kev + k * kev_per_channel. */
int gs_library_set_linear_grid (gs_library *lib, double offset_kev,
                                double kev_per_channel);

/* Checks the invariants: finite non-negative signatures, every column
 * summing to 1 within 1e-9, names set and distinct, increasing edges.
 * Returns GS_EBADDATA with the offending column/channel otherwise. */
int gs_library_check (const gs_library *lib);

/* Divides every column by its sum; a zero-sum column is an error naming
 * the component. */
int gs_library_normalise (gs_library *lib);

/* Index of a component by name (case-sensitive), or -1. */
long gs_library_find (const gs_library *lib, const char *name);

/* The view handed to methods (gs_setup.library): valid while lib lives. */
const gs_library_view *gs_library_as_view (const gs_library *lib);

/* ---------------------------------------------------------------------- */
/* GammaBench (Geant4 NaI(Tl) signatures, gammabench-spec.md section 1).   */

typedef struct gs_gammabench_opts
{
  const char *root;          /* folder holding Simulation_steel_sphere/... */
  const char *const *nuclides; /* n_nuclides names, in column order */
  size_t n_nuclides;
  /* Per-nuclide max channel (zero from this channel on); NULL uses the
   * spec's table (Co60 800, Ba133 250, Co57 100, Cs137 400, Eu152 900,
   * Am241 50, Y88 1024, Bi207 800, I123 100, I131 500, Tc99m 100,
   * Ga67 250).  A value of 0 means no cut. */
  const size_t *max_channels;
  size_t thickness_index;    /* 0..95 in the sorted thickness list */
  int gain_shift_percent;    /* -10..10: use drift_data files (requires
                                thickness_index 0) */
  int apply_am241_rule;      /* 1: Am241 thickness >= 4.4 mm uses 4.0 mm */
} gs_gammabench_opts;

/* Fills opts with the defaults: the 9-nuclide scenario-1 list, spec max
 * channels, thickness index 0, no shift, Am241 rule on. */
void gs_gammabench_opts_init (gs_gammabench_opts *opts, const char *root);

/* Builds a 1024-channel, 2 keV (20..2068 keV) library: column 0 is the
 * measured background (first-two-channel fix applied), then the nuclides
 * in the given order.  Errors name the missing or malformed file. */
int gs_library_load_gammabench (const gs_gammabench_opts *opts,
                                gs_library **out);

/* Raw per-nuclide access: the 96 sorted thicknesses (mm) and one
 * signature (1024 channels, counts, not normalised) after the cut,
 * pair-sum, max-channel and Am241 rules.  out must hold 1024 doubles. */
extern const double gs_gammabench_thickness_mm[96];
/* The spec's max channel of a GammaBench nuclide (1.3): Co60 800, Ba133
 * 250, ...; 0 for a name that is not one of the 12. */
size_t gs_gammabench_max_channel (const char *nuclide);
int gs_gammabench_read_signature (const char *root, const char *nuclide,
                                  size_t thickness_index,
                                  int gain_shift_percent, size_t max_channel,
                                  int apply_am241_rule, double *out);

/* The measured background after the spec's processing (1024 channels, not
 * normalised, channels 0 and 1 = 0.1 * min(B[2:])). */
int gs_gammabench_read_background (const char *root, double *out);

/* ---------------------------------------------------------------------- */
/* The embedded default: an analytic 3"x3" NaI(Tl) detector model.        */

typedef struct gs_embedded_opts
{
  size_t n_channels;         /* default 1024 */
  double offset_kev;         /* low edge of channel 0; default 20 */
  double kev_per_channel;    /* default 2 */
  double fwhm_662;           /* relative FWHM at 662 keV; default 0.07 */
  double fwhm_exponent;      /* FWHM/E ~ E^-exponent; default 0.5 */
  const char *const *nuclides; /* NULL: the 9 GammaBench nuclides */
  size_t n_nuclides;
  double steel_mm;           /* steel shell thickness; default 0 */
  double gain_shift;         /* alpha: E -> E (1 - alpha); default 0 */
} gs_embedded_opts;

void gs_embedded_opts_init (gs_embedded_opts *opts);

/* Builds the library from the embedded line data and detector model:
 * column 0 the natural background (K-40, U and Th series, continuum),
 * then the nuclides in order.  Unknown nuclide names are an error listing
 * the known ones. */
int gs_library_embedded (const gs_embedded_opts *opts, gs_library **out);

/* One full-energy peak of the embedded model: the photopeak of one gamma
 * or X-ray line of a component (background lines included), its energy
 * and FWHM on the library grid's scale, and `share`, the fraction of the
 * component's normalised signature in that peak (a component with a
 * counts has a x share counts in it; a peak partly off the grid keeps its
 * whole share). */
typedef struct gs_photopeak
{
  size_t component;
  double energy_kev;
  double share;
  double fwhm_kev;
} gs_photopeak;

/* gs_library_embedded, and the list of its full-energy peaks in the
 * order the model adds them (*peaks malloc'd; free it). */
int gs_library_embedded_peaks (const gs_embedded_opts *opts, gs_library **out,
                               gs_photopeak **peaks, size_t *n_peaks);

/* Names of the nuclides the embedded line data knows, NULL-terminated. */
const char *const *gs_embedded_nuclides (void);

/* ---------------------------------------------------------------------- */
/* Grids and measured sets.                                                */

/* The quadratic calibration of the library's grid: GS_OK with *cal when
 * every edge k equals E(k - 0.5) of one quadratic calibration E (within
 * 1e-9 of the grid's span), GS_EINVAL otherwise (the grid is not
 * quadratic in the channel index). */
int gs_library_grid_calib (const gs_library *lib, gs_calib *cal);

/* Sets the edges from a calibration: edge k = E(k - 0.5); the
 * calibration must pass gs_calib_check for n_channels. */
int gs_library_set_calib_grid (gs_library *lib, const gs_calib *cal);

/* Puts a set read from a file onto the library's grid.  A set that
 * carries a calibration (meta columns cal_offset_keV, cal_slope_keV,
 * cal_quad_keV) is rebinned onto the grid's calibration
 * (gs_library_grid_calib) with `mode`, unless every spectrum already has
 * that calibration; a set without calibration must have the library's
 * channel count.  Errors name the set and say what to do; *report (may be
 * NULL) gets the rebin totals (zeros when nothing was rebinned). */
int gs_spectra_to_library_grid (gs_spectra *s, const gs_library *lib,
                                gs_rebin_mode mode, gs_rebin_report *report);

/* A library learnt from labelled sets (gamma_flow's supervised loadings,
 * gamma_flow-spec.md D1): column 0 "background" is the mean of the
 * spectra labelled exactly "background", column k the mean of those
 * labelled exactly nuclides[k-1]; each mean is normalised to sum 1 (the
 * library invariant; gamma_flow normalises above its min_channel, a
 * constant factor per column).  Every set is first put onto the grid of
 * `calib` with n_channels channels (gs_rebin, `mode`).  A component with
 * no spectrum is an error naming it and the sets. */
typedef struct gs_labelled_lib_opts
{
  const char *const *sets;     /* labelled set paths (NAME or NAME.counts.npy) */
  size_t n_sets;
  const char *const *nuclides; /* component names after the background */
  size_t n_nuclides;
  gs_calib calib;              /* the grid: E(ch) of channel centres */
  size_t n_channels;
  gs_rebin_mode mode;
} gs_labelled_lib_opts;

int gs_library_from_sets (const gs_labelled_lib_opts *opts, gs_library **out);

/* Writes the library as a self-contained library file (YAML, `source:
 * inline`: names, energy edges and every column, numbers as %.17g, so
 * gs_library_load_file reads back the same doubles), atomically. */
int gs_library_write_inline (const gs_library *lib, const char *path);

#ifdef __cplusplus
}
#endif
#endif
