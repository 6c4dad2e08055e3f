/* The analysis engine: runs one method over many spectra on several
 * threads, collects predictions and timings, writes them. */
#ifndef GSPEC_ENGINE_H
#define GSPEC_ENGINE_H

#include <stddef.h>

#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/spectra.h"

typedef struct gs_predictions
{
  size_t n, K, n_extras;
  int *present;     /* n x K */
  double *score;    /* n x K */
  double *counts;   /* n x K */
  double *std;      /* n x K */
  double *extras;   /* n x n_extras */
  gs_peak **peaks;  /* n lists */
  size_t *n_peaks;
  double *seconds;  /* n analysis times */
  int *status;      /* n statuses (GS_OK or the error) */
  char **errors;    /* n messages (NULL when OK) */
  size_t n_failed;
} gs_predictions;

void gs_predictions_free (gs_predictions *p);

/* Replaces the decisions of the spectra analysed without error by
 * present = score > thresholds[j] for every column j whose threshold is
 * not +inf (calibrated score methods). */
void gs_predictions_apply_thresholds (gs_predictions *p,
                                      const double *thresholds);

/* Allocates predictions for n spectra, K components and ne extras: every
 * array allocated (peaks lists NULL, errors NULL, statuses GS_OK). */
gs_predictions *gs_predictions_alloc (size_t n, size_t K, size_t ne);

/* Analyses spectra 0..n-1 of `data` with m using `threads` threads
 * (0: one per CPU).  Spectrum i always gets the same result whatever the
 * thread count.  A spectrum that fails is recorded (status, message) and
 * the others continue.  `label` names the stage for the progress bar. */
int gs_engine_analyze (const gs_method *m, const gs_dataset *data,
                       int threads, const char *label,
                       gs_predictions **out);

/* Writes predictions as CSV: index,labels then count_<c> and std_<c> for
 * every component, then the extras, then peaks and error columns when
 * present.  Atomic (temporary file then rename). */
int gs_predictions_write_csv (const gs_predictions *p,
                              const char *const *names,
                              const char *const *extras, const char *path);
/* The same as a JSON array of objects. */
int gs_predictions_write_json (const gs_predictions *p,
                               const char *const *names,
                               const char *const *extras, const char *path);

/* A dataset over read spectra; truth (when the set has counts_<name>
 * columns or labels) is mapped onto the library's component names:
 * counts columns give counts, labels give 1 for present components.
 * has_truth reports whether any truth was found; rows with label names
 * that are not library components are flagged in `unknown`. */
typedef struct gs_spectra_ds
{
  const gs_spectra *s;
  size_t K;
  double *truth; /* n x K */
  int has_truth;
  int truth_is_counts;
  /* Labels that name no library component (other than "background"):
   * unknown[i] = 1 for such a row, whose truth keeps only its known
   * components.  Evaluations count these rows as outliers (nuclides never
   * seen in training).  NULL when every label is known. */
  int *unknown;
  size_t n_unknown;
  char *unknown_names; /* the distinct unknown labels, ", "-joined */
  /* With gs_spectra_ds_known_only: the dataset shows these rows only. */
  size_t *rows;
  size_t n_rows;
} gs_spectra_ds;

/* Restricts the gs_dataset view to the rows without unknown labels (for
 * training: a nuclide the library does not name cannot be learnt, and
 * its spectra must not pass for background). */
int gs_spectra_ds_known_only (gs_spectra_ds *ds);

int gs_spectra_ds_init (gs_spectra_ds *ds, const gs_spectra *s,
                        const gs_library *lib);
void gs_spectra_ds_fini (gs_spectra_ds *ds);
gs_dataset gs_spectra_ds_dataset (gs_spectra_ds *ds);

/* Number of online CPUs (at least 1). */
int gs_engine_cpus (void);

/* The progress hook (TTY bar on stderr); quiet disables it. */
void gs_engine_progress_enable (int enable);

/* Model files: a text header (format, method id, plugin version,
 * parameters, the library) then the method's own payload. */
typedef struct gs_model_info
{
  double target_fpr;   /* setup->target_fpr the method was made with */
  unsigned long long seed; /* setup->seed */
  /* Calibrated decision thresholds of a GS_METHOD_SCORES method (K
   * values, +inf for a column not evaluated), or NULL.  Loaded ones are
   * malloc'd; the caller frees them. */
  double *thresholds;
} gs_model_info;

/* info may be NULL (target 0.01, seed 0, no thresholds). */
int gs_model_save (const char *path, const gs_method *m,
                   const gs_library *lib, const gs_model_info *info);
int gs_model_load (const char *path, const gs_registry *reg,
                   gs_method **m, gs_library **lib, gs_model_info *info);

#endif
