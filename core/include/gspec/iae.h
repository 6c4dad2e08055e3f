/* The Interpolating AutoEncoder (IAE) of the GammaBench authors
 * (gammabench-spec.md section 5), inference side, on the NN engine
 * (gspec/nn.h).
 *
 * An IAE describes a family of spectral signatures (here: 12 nuclides x
 * 1024 channels, for shielding thicknesses between two extremes) by the
 * barycentric weights lambda (d of them, d = number of anchors) of d
 * anchor signatures in the autoencoder's code spaces:
 *
 *   encode   X (L x C) -> codes Z_0..Z_{N-1}: Z_l = lateral encoder l+1
 *            (l < N - 1) or the last encoder (l = N - 1); every block is
 *            conv1d (no bias) -> batchnorm1d -> elu, and batchnorm uses
 *            the statistics of the batch encoded together, as the
 *            authors' code does (PyTorch training mode);
 *   interpolate  codes -> lambda: per level lambda_l = (Z_l E_l^T) iG_l
 *            with G_l = E_l E_l^T the Gram matrix of the anchors' codes
 *            (Frobenius products), iG_l = inv (G_l + reg_inv ||G_l||_2 I),
 *            then lambda = (lambda_{N-1} + sum_{r=1}^{N-1} rho_{r-1}
 *            lambda_{N-1-r}) / (1 + sum_{r=0}^{N-2} rho_r), then the
 *            projection on the simplex (gs_iae_project_simplex);
 *   decode   lambda -> barycentres B_l = sum_k lambda_k E_{l,k} -> X:
 *            X = B_{N-1}; for r = 0..N-2: X = upsample_linear(elu(convT_
 *            {r+1}(X)) + rho_r elu(convT_lat{r+1}(B_{N-2-r})), dims[N-1-r]);
 *            X = upsample_linear(elu(convT_N(X)), L); with nneg_output,
 *            X = X (X > 0).
 *
 * Layouts.  Spectra (inputs of encode and fast_interpolation, outputs of
 * decode) are row-major L x C per sample, channel j and component n at
 * j C + n: the authors' (L, C) order, and that of gs_library signatures.
 * Codes are one flat vector of gs_iae_code_size floats per sample: level
 * l (0..N-1, in the authors' encode() order: lateral codes 1..N-1, then
 * the deepest code) starts at its offset (gs_iae_level_shape) and holds
 * channels x length values in the engine's channel-major order (channel
 * c, position t at offset + c length + t).  lambda is d doubles per
 * sample.
 *
 * Threads.  A model is immutable once built (except gs_iae_set_nneg_output
 * and the weights reached through gs_iae_encoder / gs_iae_decoder, which
 * need gs_iae_update_codes afterwards); encode, decode, interpolate and
 * fast_interpolation take const models and caller workspaces, so one
 * model serves any number of threads, each with its own workspace. */
#ifndef GSPEC_IAE_H
#define GSPEC_IAE_H

#include <stddef.h>
#include <stdio.h>

#include "gspec/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* N <= 8: the engine's concat takes at most 8 inputs. */
#define GS_IAE_MAX_LAYERS 8      /* N: code levels */
#define GS_IAE_MAX_ANCHORS 16    /* d */
#define GS_IAE_MAX_COMPONENTS 64 /* C */
#define GS_IAE_NAME_MAX 32       /* component names, NUL included */

typedef enum gs_iae_projection
{
  GS_IAE_PROJ_NONE = 0,   /* lambda as the least-squares interpolator
                             gives it */
  GS_IAE_PROJ_SIMPLEX = 1 /* the authors' iterative simplex projection
                             (their nonneg_weights option) */
} gs_iae_projection;

typedef struct gs_iae_config
{
  int n_components; /* C: nuclides (input channels of the encoder) */
  char names[GS_IAE_MAX_COMPONENTS][GS_IAE_NAME_MAX];
  int length;                     /* L: energy channels */
  int n_layers;                   /* N: encoder blocks = code levels */
  int fsize[GS_IAE_MAX_LAYERS];   /* kernel of encoder block r + 1 */
  int fstride[GS_IAE_MAX_LAYERS]; /* its stride */
  int fnum[GS_IAE_MAX_LAYERS];    /* its output channels */
  double rho[GS_IAE_MAX_LAYERS];  /* rho[0..N-2]: lateral weights */
  int n_anchors;                  /* d >= 2 */
  double reg_inv;                 /* Gram regularisation (1e-6) */
  gs_iae_projection projection;
  int nneg_output;                      /* 1: decode returns X (X > 0) */
  double bn_eps;                        /* batchnorm eps (1e-5) */
  double elu_alpha;                     /* elu alpha (1) */
  double bounds[GS_IAE_MAX_ANCHORS][2]; /* per anchor min / max of lambda
                                           seen in training (kept for
                                           callers; not used here) */
} gs_iae_config;

typedef struct gs_iae gs_iae;

/* Defaults: reg_inv 1e-6, GS_IAE_PROJ_SIMPLEX, nneg_output 1, bn_eps
 * 1e-5, elu_alpha 1, bounds [0, 1]; the shape fields are zero (set
 * n_components, names, length, n_layers, fsize, fstride, fnum, rho and
 * n_anchors). */
void gs_iae_config_init (gs_iae_config *cfg);

/* Checks a configuration (sizes, every encoder length >= 1, names set,
 * distinct, without '$', '"' or a backslash); GS_ECONFIG naming the field
 * otherwise.  When dims is not NULL it receives the N + 1 lengths dims[0]
 * = L, dims[r] = length after encoder block r. */
int gs_iae_config_check (const gs_iae_config *cfg, int *dims);

/* A new model with freshly initialised weights (o: NULL for the engine's
 * defaults) and the given anchors (d x L x C, copied; finite), whose
 * codes are computed by encoding the anchors as one batch. */
int gs_iae_create (const gs_iae_config *cfg, const float *anchors,
                   const gs_nn_opts *o, gs_iae **out);
void gs_iae_free (gs_iae *m); /* accepts NULL */

/* Reads the authors' pretrained model as exported to a JSON manifest and
 * a little-endian float32 blob (gammabench-spec.md 5.4):
 * the configuration (nuclides, dims, nsize_fsize / fstride / fnum,
 * rho_latcon, reg_inv, mean_lambda, simplex, nonneg_weights, bounds,
 * bn_eps, elu_alpha), the conv / batchnorm / transposed-conv weights
 * (PyTorch's layouts are the engine's), `anchorpoints` (d, L, C) and,
 * when present, the anchor codes `PhiE_train_0..N-1` (all or none;
 * without them the anchors are encoded here).  `iPhiE_deepest`, when
 * present, must agree with the Gram inverse computed from the codes (to
 * 1e-3 relative).  Every tensor must be present once with its expected
 * shape, count = product of the shape, inside the blob, finite; the blob
 * must hold exactly the floats the manifest describes.  Errors name the
 * file and the tensor: GS_ENOENT, GS_EIO, GS_EFORMAT (manifest, sizes,
 * shapes), GS_EBADDATA (non-finite values), GS_EUNSUPPORTED (options
 * this port does not implement: mean_lambda false, the affine `simplex`
 * branch, conv biases, strided decoders).  The model starts with
 * nneg_output = 1, as the authors' notebooks set it after loading. */
int gs_iae_import_pretrained (const char *json_path, const char *f32_path,
                              gs_iae **out);

const gs_iae_config *gs_iae_get_config (const gs_iae *m);
/* Switches the output mask X (X > 0) of decode and fast_interpolation. */
void gs_iae_set_nneg_output (gs_iae *m, int on);

/* Codes: floats per sample, and level l's channels, length and offset
 * (GS_EINVAL for l out of range). */
size_t gs_iae_code_size (const gs_iae *m);
int gs_iae_level_shape (const gs_iae *m, int level, int *channels,
                        int *length, size_t *offset);
/* The anchors (d x L x C) and their codes (d x code size). */
const float *gs_iae_anchors (const gs_iae *m);
const float *gs_iae_anchor_codes (const gs_iae *m);
/* iG_l (d x d, row-major) of level l, or NULL. */
const double *gs_iae_gram_inverse (const gs_iae *m, int level);

/* The two networks, e.g. to read or change weights.  The encoder takes
 * C x L and gives the code vector; the decoder takes B_{N-1} and, as its
 * extra inputs in order, B_{N-2}, ..., B_0, and gives C x L
 * (channel-major, no output mask).  After changing weights or anchors,
 * gs_iae_update_codes re-encodes the anchors. */
gs_nn *gs_iae_encoder (gs_iae *m);
gs_nn *gs_iae_decoder (gs_iae *m);
int gs_iae_update_codes (gs_iae *m);

/* Workspace bytes (any alignment) for up to `batch` samples:
 * gs_iae_decode_bytes for gs_iae_decode alone, gs_iae_work_bytes for
 * every call below.  0 when batch < 1 or on overflow. */
size_t gs_iae_decode_bytes (const gs_iae *m, int batch);
size_t gs_iae_work_bytes (const gs_iae *m, int batch);

/* x (batch x L x C) from lambda (batch x d, finite; not required to lie
 * on the simplex): the barycentres of the anchor codes, then the
 * decoder, then the mask when nneg_output is set. */
int gs_iae_decode (const gs_iae *m, void *work, size_t work_bytes,
                   const double *lambda, int batch, float *x);

/* codes (batch x code size) of x (batch x L x C, finite), the batch
 * normalised together (batch statistics; with batch 1 the statistics are
 * over the positions of the one sample). */
int gs_iae_encode (const gs_iae *m, void *work, size_t work_bytes,
                   const float *x, int batch, float *codes);

/* lambda (batch x d) from codes (batch x code size): per-level
 * least-squares weights, their rho-weighted mean, then the projection of
 * the configuration.  Needs no workspace. */
int gs_iae_interpolate (const gs_iae *m, const float *codes, int batch,
                        double *lambda);

/* The authors' projection on the simplex (nonneg_weights): mu = max_k
 * lambda_k - 1; 2d times: F = sum_k max (lambda_k, mu) - d mu - 1,
 * mu += F / d; then lambda_k = max (lambda_k, mu) - mu.  Exactly 2d
 * steps, as in their code: the result is the Euclidean projection when
 * at most one weight is clipped or all stay (mu then converges in one
 * step); otherwise mu approaches it geometrically and the sum may miss 1
 * slightly (e.g. d = 3, (0.5, 0.4, -5) gives (0.55 + e, 0.45 + e, 0)
 * with e = 0.45 / 3^6). */
void gs_iae_project_simplex (double *lambda, size_t d);

/* The authors' fast_interpolation: A (batch x C) = per-sample, per-component
 * sums of |x| over the channels, encode x / A (one batch), interpolate,
 * decode, multiply by A.  lambda (batch x d) and, when not NULL, xrec
 * (batch x L x C) and amp (batch x C, doubles) receive the results.  A
 * component with a zero or non-finite sum is GS_EBADDATA. */
int gs_iae_fast_interpolation (const gs_iae *m, void *work, size_t work_bytes,
                               const float *x, int batch, double *lambda,
                               float *xrec, double *amp);

/* Model file (all little-endian):
 *   "GSIA", u32 version 1, u32 n, n bytes of configuration (JSON, the
 *   manifest's keys), u64 FNV-1a of the bytes so far;
 *   the encoder, then the decoder (gs_nn_save, each with its checksum);
 *   u64 count, count float32 (anchors d x L x C, then their codes d x
 *   code size), u64 FNV-1a of every byte of this layer (the networks'
 *   bytes excluded: they carry their own).
 * Load checks all of it, and that the networks are the ones the
 * configuration describes: GS_EFORMAT naming the part (the gs_iae_*_file
 * variants also name the file and refuse trailing bytes). */
int gs_iae_save (const gs_iae *m, FILE *f);
int gs_iae_load (FILE *f, gs_iae **out);
int gs_iae_save_file (const gs_iae *m, const char *path);
int gs_iae_load_file (const char *path, gs_iae **out);

#ifdef __cplusplus
}
#endif
#endif
