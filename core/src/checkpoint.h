/* Per-method checkpoints of `gspec run`: a finished method's predictions,
 * timings and calibration, written atomically (temporary file, fsync,
 * rename) and checked on reading (format, key, sizes, checksum), so an
 * interrupted run resumes from them and a damaged file is recomputed,
 * never trusted. */
#ifndef GSPEC_CHECKPOINT_H
#define GSPEC_CHECKPOINT_H

#include <stddef.h>

#include "engine.h"

typedef struct gs_checkpoint
{
  char key[17];          /* what was computed: data, method, parameters */
  const char *method_id;
  double train_seconds;
  int calibrated;
  char calib_mode[16];   /* "grid" / "quantile" */
  double valid_fpr;
  size_t valid_n;
  double *thresholds;    /* K values (NULL when not calibrated) */
  gs_predictions *p;
} gs_checkpoint;

/* Writes c to path (atomic). */
int gs_checkpoint_write (const char *path, const gs_checkpoint *c);

/* Reads path into *c (c->p and c->thresholds allocated, method_id
 * points into nothing: it is NULL after reading).  Returns GS_ENOENT when
 * the file is absent, GS_EFORMAT when it is damaged or truncated, and
 * GS_EINVAL when its key, method or sizes differ from
 * the expected ones (then it is stale). */
int gs_checkpoint_read (const char *path, const char *key,
                        const char *method_id, size_t n, size_t K,
                        size_t n_extras, gs_checkpoint *c);

void gs_checkpoint_fini (gs_checkpoint *c);

#endif
