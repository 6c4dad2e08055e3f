/* Internal IAE entry points shared with the semi-blind unmixing kit
 * (semsun.c); not part of the SDK. */
#ifndef GSPEC_IAE_INTERNAL_H
#define GSPEC_IAE_INTERNAL_H

#include "gspec/iae.h"

/* gs_iae_decode of one sample where only the components with need[c] != 0
 * must be right: the others may be left at 0 (the direct decoder skips
 * their last layer; the engine computes them anyway).  need NULL: all. */
int gs__iae_decode_some (const gs_iae *m, void *work, size_t work_bytes,
                         const double *lambda, const unsigned char *need,
                         float *x);

/* The direct decoder's ELU in place on x[0..n) (exported for its test:
 * within 2 ulp of alpha * expm1 for x <= 0, x unchanged above). */
void gs__iae_elu (float *x, size_t n, float alpha);

#endif
