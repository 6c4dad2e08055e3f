/* `gspec run`: an experiment config from start to report. */
#ifndef GSPEC_RUN_H
#define GSPEC_RUN_H

#include <stddef.h>

typedef struct gs_run_opts
{
  const char *config;
  char *const *overrides; /* --set k=v */
  size_t n_overrides;
  const char *out_dir;    /* --out, overrides outputs.dir */
  int threads;            /* --threads (-1: from the config) */
  int quiet;
} gs_run_opts;

/* Runs the experiment, writes DIR/results.json, DIR/summary.md and
 * DIR/predictions/<id>.csv, and prints the summary table on stdout.
 * Returns GS_OK when every method ran (a method whose spectra failed is
 * reported, not fatal). */
int gs_run (const gs_run_opts *o);

#endif
