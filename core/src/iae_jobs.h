/* `gspec train` on an IAE training config (a top-level `iae_training:`
 * block, e.g. configs/iae-semsun.yaml): trains Interpolating AutoEncoders
 * on the GammaBench steel-sphere signature family (gspec/iae_train.h),
 * joint (one model, one lambda for all nuclides) or individual (one model
 * per nuclide), writes each as an IAE model file (gs_iae_save_file) under
 * DIR/models/ and reports the loss curves and the reconstruction NMSE of
 * held-out thicknesses in DIR/training.json and DIR/summary.md. */
#ifndef GSPEC_IAE_JOBS_H
#define GSPEC_IAE_JOBS_H

#include "run.h"

/* 1 when the YAML file has a top-level `iae_training` key (0 when it
 * does not or cannot be read: gs_run then reports the problem). */
int gs_iae_jobs_detect (const char *config);

/* Runs the training config o->config (o->out_dir, o->overrides,
 * o->threads, o->quiet are honoured; o->method selects one model by
 * name). */
int gs_iae_jobs_run (const gs_run_opts *o);

#endif
