/* Training of the Interpolating AutoEncoder (gspec/iae.h,
 * gammabench-spec.md 5.3 and 8), on the NN engine's backward passes and
 * Adam.
 *
 * One step on a batch x (b x L x C, the layout of iae.h):
 *   x~ = x + noise (per sample and component: randn 10^(-snr/20)
 *        ||x|| / ||randn||, norms over the L channels; the target is the
 *        noisy x~ too, as the authors' code);
 *   Z = encode (x~) (one batch, batch statistics); E = encode (anchors)
 *        (their own batch: the anchor codes follow the weights);
 *   lambda = simplex (sum_l w_l (Z_l E_l^T) iG_l / den) with iG_l =
 *        inv (E_l E_l^T + reg_inv ||E_l E_l^T||_2 I), as iae.h documents;
 *   B_l = sum_k lambda_k E_{l,k};  x^ = decoder (B);
 *   loss = (1 + mu) (LossF (x^, x~) + mu sum_{r=0}^{N-1} rho_r
 *        LossF (Z_{N-1-r}, B_{N-1-r})),
 *   LossF (a, b) = mean over channels (components, or code channels) of
 *        log (mean over samples and positions of (a - b)^2).
 * The gradient is the full one: through the decoder and its extra
 * inputs, the barycentres (to lambda and to E), the simplex projection
 * (the exact piecewise-linear operations computed), the least-squares
 * weights (to Z and to E, the Gram inverse and its norm included), the
 * data encoder and a clone of the encoder that encodes the anchors (its
 * weights copied in before each step, its gradients added to the
 * encoder's).  The batchnorm layers use batch statistics and leave the
 * running statistics alone (the IAE never reads them).
 *
 * Reproducible: the shuffles and the noise come from one gsl_rng_mt19937
 * seeded with `seed`, drawn in a fixed order (per epoch: the permutation,
 * then per batch, sample, component and channel the normal deviates), and
 * the engine's sums do not depend on the thread count, so a seed gives
 * the same weights bit for bit at any `threads`. */
#ifndef GSPEC_IAE_TRAIN_H
#define GSPEC_IAE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/iae.h"

#ifdef __cplusplus
extern "C"
{
#endif

  /* Called after every `report_every` epochs (and after the last) with the
   * 1-based epoch, the epoch's mean training loss (over its batches,
   * weighted by their sizes) and the validation loss (NaN without a
   * validation set).  A non-zero return stops training after this epoch
   * (gs_iae_train still returns GS_OK and fits the bounds). */
  typedef int (*gs_iae_train_progress) (void *user, int epoch, double loss,
                                        double val_loss);

  typedef struct gs_iae_train_opts
  {
    int epochs;     /* default 25000 (spec 5.3; SemSun: 20000) */
    int batch_size; /* default 72 (SemSun: 36); capped at n */
    int accumulate; /* batches per optimiser step, default 1 (SemSun:
                       2); the losses are averaged over them, and an
                       epoch's last step may take fewer */
    double lr;      /* Adam learning rate, default 1e-3 */
    int noise;      /* 1 (default): Gaussian noise at snr_db */
    double snr_db;  /* default 40 (SemSun: 20) */
    double mu;      /* reg_parameter, default 1e-3 (SemSun individual
                       models: 3e-4) */
    /* rho_r, the weight of code level N-1-r in the loss (r = 0..N-1), or
     * NULL: the model's rho[0..N-2] and, for r = N-1, the authors' default
     * rho_latcon[N-1] (0.5, 0.1, 0.05, 0.01, 0.01, 0.005, 0.001, 0.001). */
    const double *loss_rho;
    uint64_t seed; /* default 1 */
    int threads;   /* engine workers, default 1; the networks keep
                      them after training */
    /* Optional validation set (n_val x L x C, noise-free), its loss
     * computed (no noise, batches of batch_size) when progress is called. */
    const float *val_x;
    int n_val;
    int report_every;               /* default 1 */
    gs_iae_train_progress progress; /* may be NULL */
    void *user;
    /* 1 (default): after training, set the model's bounds from the lambdas
     * of the training samples (see gs_iae_train). */
    int fit_bounds;
  } gs_iae_train_opts;

  void gs_iae_train_opts_init (gs_iae_train_opts *o);

  typedef struct gs_iae_train_report
  {
    int epochs;      /* epochs run */
    int steps;       /* optimiser steps */
    double loss;     /* last epoch's mean training loss */
    double val_loss; /* last validation loss, NaN without one */
    double seconds;  /* wall time of the epochs */
    double bounds[GS_IAE_MAX_ANCHORS][2]; /* as set on the model */
  } gs_iae_train_report;

  /* Trains m (from gs_iae_create, with its anchors) on n >= 1 samples x
   * (n x length x n_components, finite; length and n_components must be
   * the model's, GS_EBADLEN otherwise).  Errors: GS_EINVAL (NULL
   * arguments, n < 1, options out of range, naming the option), GS_EBADLEN,
   * GS_EBADDATA (non-finite data, or a loss that becomes non-finite,
   * naming the epoch), GS_ESING (anchor codes with a singular Gram
   * matrix), GS_ENOMEM.  On an error the weights are those of the last
   * completed step and the anchor codes are not updated.
   *
   * On success the encoder is back in batch-statistics mode, the anchor
   * codes are updated (gs_iae_update_codes), and, with fit_bounds, the
   * configuration's bounds become the per-anchor min / max of lambda over
   * the training samples as gs_iae_fast_interpolation gives them, each
   * sample encoded alone (batch of 1, as the authors' fast_interpolation
   * of one spectrum).  The authors fit each training spectrum by BSP
   * (100 AdamW epochs) instead; the encoder's lambdas are the cheaper
   * estimate of the same range (usually slightly narrower). */
  int gs_iae_train (gs_iae *m, const float *x, int n, int length,
                    int n_components, const gs_iae_train_opts *o,
                    gs_iae_train_report *rep);

  /* ---- One loss evaluation, for tests and custom loops --------------------
   */

  typedef struct gs_iae_trainer gs_iae_trainer;

  /* A training context for batches of up to max_batch samples: a clone of
   * the encoder for the anchors and the buffers of one step (o: NULL for
   * the defaults; its mu, loss_rho and threads are used).  m must outlive
   * it and not change shape. */
  int gs_iae_trainer_alloc (gs_iae *m, const gs_iae_train_opts *o,
                            int max_batch, gs_iae_trainer **out);
  void gs_iae_trainer_free (gs_iae_trainer *t); /* accepts NULL */

  /* The loss of one batch x (batch x L x C, used as given: add noise
   * before; it is the encoder's input and the target).  With grad_scale !=
   * 0, adds grad_scale x dloss/dparameter to the encoder's and the
   * decoder's gs_nn_grads (the anchor encoder's share included). */
  int gs_iae_trainer_loss (gs_iae_trainer *t, const float *x, int batch,
                           double grad_scale, double *loss);

  /* ---- GammaBench training families ---------------------------------------
   */

  /* out (n x length x n_nuclides) = the GammaBench steel-sphere signatures
   * (gs_gammabench_read_signature: 20 keV cut, pair sum, Am241 rule) at
   * thickness indices thickness[0..n-1] (0..95), channel cut at
   * max_channels[i] (NULL or 0: none), first `length` channels (1..1024),
   * each nuclide L1-normalised over them (as the authors' anchorpoints).
   * A nuclide with no counts in the first `length` channels is GS_EBADDATA.
   * SemSun's variant (18 keV offset, floor 1e-6 max) is not reproduced. */
  int gs_iae_family_gammabench (const char *root, const char *const *nuclides,
                                int n_nuclides, const size_t *max_channels,
                                int length, const int *thickness, int n,
                                float *out);

  /* anchors (2 x per floats) = the members of family (n x per floats,
   * e.g. from gs_iae_family_gammabench) at the smallest and the largest
   * of thickness[0..n) (the first on ties): the anchors gs_iae_create
   * takes for a family's thinnest and thickest members. */
  void gs_iae_family_anchors (const float *family, size_t per,
                              const int *thickness, int n, float *anchors);

  /* The SEMSUN paper's individual-model layout for cfg->length channels
   * (sets n_layers, fsize, fstride, fnum, rho): kernels 4 4 6 6 6 8,
   * strides 1 1 2 2 4 4, channels 12 12 12 16 16 16 from 200 channels on;
   * kernels 3 3 4 4 4 4 with stride 1 below (their Co57 model); rho 0.5
   * 0.1 0.05 0.01 0.01. */
  void gs_iae_individual_layout (gs_iae_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
