/* Report sections for labelled (measured) test sets: gamma_flow's
 * single-label accuracy (overall and per group, Wilson intervals,
 * confusion counts) and outlier detection against the labels the library
 * does not name.  Internal to libgspec. */
#ifndef GSPEC_REPORT_LABELLED_H
#define GSPEC_REPORT_LABELLED_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* A quantify-only method's nuclide counts as present when its share of
 * sum |counts| is above this (gamma_flow's min_scores_norm). */
#define GS_LAB_SHARE 0.1
/* Groups shown per table (further values are left out of the breakdown). */
#define GS_LAB_MAX_GROUPS 16

typedef struct gs_lab_method
{
  const char *id;
  int failed;
  uint32_t kinds;       /* GS_KIND_* */
  const int *ok;        /* n: analysed without error */
  const int *present;   /* n x K */
  const double *score;  /* n x K */
  const double *counts; /* n x K */
  size_t n_extras;
  const char *const *extra_names; /* n_extras names, or NULL */
  const double *extras;           /* n x n_extras */
} gs_lab_method;

typedef struct gs_lab_input
{
  size_t n, K;
  const char *const *names;  /* K component names, 0 = background */
  const char *const *labels; /* n label strings ("Cs137+background") */
  const int *unknown;        /* n flags (labels the library lacks) or NULL */
  size_t n_unknown;
  const char *unknown_names;   /* the unknown labels, ", "-joined */
  const char *group_title;     /* the meta column of group_of */
  const char *const *group_of; /* n group values, or NULL */
  const gs_lab_method *methods;
  size_t n_methods;
  const char *out_dir; /* tables/ goes under it; NULL: no files */
} gs_lab_input;

/* Appends the sections to *md and a JSON object {"single_label": {...},
 * "outliers": {...}} to *json; writes tables/single_label_confusion.csv. */
int gs_report_labelled (const gs_lab_input *in, gs__buf *md, gs__buf *json);

#endif
