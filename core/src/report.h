/* Run reports: summary.md laid out like the benchmark paper's Tables 1-7
 * (phan2025, section 4), CSV tables, and gnuplot figures (SVG and PNG,
 * with their data and script beside them).  Internal to libgspec. */
#ifndef GSPEC_REPORT_H
#define GSPEC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/metrics.h"
#include "util.h"

/* One method's test-set outcome. */
typedef struct gs_report_method
{
  const char *id;
  int failed;          /* 1: the method did not produce results */
  const char *error;   /* why (e.g. "killed by signal 11 (Segmentation
                          fault)"); NULL when not failed */
  int resumed;         /* 1: results came from a checkpoint */
  uint32_t kinds;      /* GS_KIND_* of the method type */
  int include_background; /* identification evaluates column 0 too
                             (regression CNN, spec 6) */
  /* n x K arrays over the report's n test spectra (NULL when failed):
   * ok[i] = 1 when spectrum i has a result (spectra the method failed on
   * are 0 and excluded from every metric of this method). */
  const int *ok;
  const int *present;   /* decisions (1 present); used with IDENTIFY */
  const double *counts; /* estimated counts; used with QUANTIFY */
  /* Calibration of a score-based identifier (calibrated = 1): */
  int calibrated;
  const char *calib_mode;   /* "grid" or "quantile" */
  const double *thresholds; /* K entries (+inf for columns not evaluated) */
  double valid_fpr;         /* realised FPR on the validation set */
  size_t valid_n;
  /* Timings. */
  double train_seconds;
  double median_ms, p95_ms;
  size_t n_failed_spectra;
} gs_report_method;

typedef struct gs_report_input
{
  const char *name;     /* experiment name */
  const char *config;   /* config path */
  const char *hash;     /* config hash */
  unsigned long long seed;
  double target_fpr;
  const char *library;  /* library description */
  const char *test_name;
  const char *caption;  /* e.g. "Scenario 1: known signatures"; may be
                           NULL */
  size_t n, K;
  const char *const *names; /* K names, 0 = background */
  /* n x K true expected counts (scenario tables: integers); NULL when
   * the test set has no truth (then only timings are reported). */
  const double *truth;
  int truth_is_counts;  /* 0: truth only says present (> 0) / absent */
  /* Optional breakdown label per spectrum (thickness or shift index):
   * group[i] in [0, G); group_value[g] is what the axis shows (mm, %);
   * group_title names it ("steel thickness (mm)").  NULL / 0 when none. */
  const int *group;
  size_t G;
  const double *group_value;
  const char *group_title;
  const gs_report_method *methods;
  size_t n_methods;
  const char *out_dir;  /* tables/ and plots/ are written under it */
  int plots;            /* 1: draw figures with gnuplot when it is found */
} gs_report_input;

/* Computes every metric, appends summary.md's Markdown to *md and a JSON
 * object (the "report" member of results.json, without the key) to
 * *json, writes OUT/tables/<table>.csv and, with plots,
 * OUT/plots/<name>.dat, .gp, .svg and .png.  A missing gnuplot is not an
 * error: the .dat and .gp files are written and the summary says how to
 * draw them.  The
 * Markdown and JSON are deterministic (no dates, no timings other than
 * the methods' own). */
int gs_report_write (const gs_report_input *in, gs__buf *md, gs__buf *json);

/* A rate as JSON: {"value": v, "k": k, "n": n, "ci95": [lo, hi]}. */
void gs_report_json_rate (gs__buf *b, const gs_rate *r);

/* Writes OUT_DIR/tables/NAME from b (creating tables/), atomically. */
int gs_report_write_table (const char *out_dir, const char *name,
                           const gs__buf *b);

#endif
