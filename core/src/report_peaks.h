/* The "Peak search" report section for peak-labelled test sets.
 * Internal to libgspec. */
#ifndef GSPEC_REPORT_PEAKS_H
#define GSPEC_REPORT_PEAKS_H

#include <stddef.h>

#include "gspec/peaks.h"
#include "util.h"

typedef struct gs_peakrep_method
{
  const char *id;
  int failed;
  const int *ok;         /* n: analysed without error */
  gs_peak *const *peaks; /* n lists of detections */
  const size_t *n_peaks;
} gs_peakrep_method;

typedef struct gs_peakrep_input
{
  size_t n, K;
  const char *const *names;    /* K component names */
  const gs_peak *const *truth; /* n lists of true peaks */
  const size_t *n_truth;
  const double *gross, *snr; /* n values for the breakdowns, or NULL */
  double window;             /* relative energy window (0.02) */
  const gs_peakrep_method *methods;
  size_t n_methods;
  const char *out_dir; /* tables/peaks_pr.csv; NULL: none */
} gs_peakrep_input;

/* Appends the section to *md and a JSON object {id: {...}} to *json. */
int gs_report_peaks (const gs_peakrep_input *in, gs__buf *md, gs__buf *json);

#endif
