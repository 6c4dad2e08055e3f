/* `gspec run`, `gspec train` and `gspec generate`: an experiment config
 * from its data to a report. */
#ifndef GSPEC_RUN_H
#define GSPEC_RUN_H

#include <stddef.h>

typedef enum gs_run_mode
{
  GS_RUN_EVALUATE = 0, /* train, calibrate, analyse the test set, report */
  GS_RUN_TRAIN = 1,    /* train (and calibrate) the trainable methods and
                          write DIR/models/<id>.gsm */
  GS_RUN_GENERATE = 2  /* write every dataset as a labelled set */
} gs_run_mode;

typedef struct gs_run_opts
{
  gs_run_mode mode;
  const char *config;
  char *const *overrides; /* --set k=v */
  size_t n_overrides;
  const char *out_dir;    /* --out, overrides outputs.dir */
  int threads;            /* --threads (-1: from the config) */
  int quiet;
  const char *method;     /* train: only this method id (NULL: all) */
  int in_process;         /* 1: no child process per method */
  int fresh;              /* 1: ignore existing checkpoints */
} gs_run_opts;

void gs_run_opts_init (gs_run_opts *o);

/* Runs the experiment in o->mode.  Evaluate writes DIR/results.json,
 * DIR/summary.md, DIR/tables/, DIR/plots/, DIR/predictions/<id>.csv,
 * DIR/models/<id>.gsm for trained methods and DIR/checkpoints/, and
 * prints the summary.  Each method runs in a child process (unless
 * in_process): a crash marks that method failed and the others go on.  A
 * method whose checkpoint matches (same data, method and parameters) is
 * not recomputed.  Returns GS_OK when every method ran. */
int gs_run (const gs_run_opts *o);

#endif
