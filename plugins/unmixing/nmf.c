/* unmixing.nmf: joint non-negative estimation of counts and signatures
 * (the NMF baseline of the SEMSUN paper, phan2024 section 5).
 *
 * On one spectrum y, estimates both the counts a (K) and the signatures X
 * (n_channels x K, background first) by Lee & Seung's multiplicative
 * updates for the Poisson (KL) divergence of gammabench-spec.md 3.1,
 * without any constraint on the signatures beyond non-negativity and unit
 * column sums.  Start: X0 = the library, a0 = the NNPU solution on the
 * library (the SDK's gs_nnpu, as unmixing.nnpu).  One joint iteration:
 *
 *   X-update (a fixed, the X-update of the spec's NMF_fixed_a, 3.5):
 *       X_ij <- X_ij * y_i / (X a)_i      (= X_ij (y_i/(Xa)_i) a_j / a_j)
 *     for every nuclide column j >= 1 (and column 0 only when
 *     update_background), then each updated column is renormalised to sum
 *     1 and its count rescaled, a_j <- a_j * colsum_j, so that X a is
 *     unchanged by the renormalisation;
 *   a-update (X fixed, spec 3.2):  a <- a * X^T (y / (X a)).
 *
 * Both half-steps never increase the divergence (Lee & Seung's auxiliary
 * function; the renormalisation with its rescaling leaves X a as it is),
 * so D decreases monotonically.  Ending each iteration on the a-update
 * keeps sum(a) = sum(y), as for NNPU; starting with the X-update is the
 * natural order since a0 is already an a-update fixed point.  Channels
 * with (X a)_i = 0 (then y_i = 0) contribute nothing.  Stops when
 * max(||a_new - a|| / ||a||, ||X_new - X||_F / ||X||_F) <= tol or after
 * max_iter joint iterations (max_iter = 0 returns the NNPU counts).
 *
 * The problem is ill-posed (the paper: signatures poorly estimated, counts
 * biased); std is left NaN since the Fisher information of the fixed-X
 * model says nothing about the joint problem.  Extras: the iterations
 * done, the final divergence D(X, y, a), and the relative Frobenius change
 * of the nuclide columns and of the background column from the library. */
#include <math.h>
#include <string.h>

#include "gspec/plugin.h"
#include "gspec/poisson.h"

#define NMF_ID "unmixing.nmf"

typedef struct nmf_params_t
{
  int max_iter;
  double tol;
  int update_background;
} nmf_params_t;

typedef struct nmf_state_t
{
  nmf_params_t p;
  const gs_library_view *lib; /* host-owned; valid while the state lives */
} nmf_state_t;

static const gs_param_spec nmf_params[] = {
  { "max_iter", GS_PARAM_INT, offsetof (nmf_params_t, max_iter), 1000, 0,
    10000000, NULL,
    "joint (X, a) iteration limit; 0 returns the NNPU counts on the "
    "library" },
  { "tol", GS_PARAM_REAL, offsetof (nmf_params_t, tol), 1e-6, 1e-15, 1,
    NULL,
    "stop when max(||a_new-a||/||a||, ||X_new-X||_F/||X||_F) <= tol" },
  { "update_background", GS_PARAM_BOOL,
    offsetof (nmf_params_t, update_background), 0, 0, 0, NULL,
    "also update the background column 0 (default: kept fixed at the "
    "library's measured background)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

enum
{
  NMF_X_ITERATIONS,
  NMF_X_DIVERGENCE,
  NMF_X_SIGNATURE_CHANGE,
  NMF_X_BACKGROUND_CHANGE
};
static const char *const nmf_extras[] = { "iterations", "divergence",
                                          "signature_change",
                                          "background_change", NULL };

/* Workspace layout: the Poisson kit's workspace (for the NNPU start), then
 * X (n x K) and the NMF kit's work, all doubles. */
static size_t
nmf_ws_head (size_t n, size_t k)
{
  size_t b = gs_poisson_ws_bytes (n, k);
  return (b + 63) / 64 * 64;
}

static size_t
nmf_doubles (size_t n, size_t k)
{
  return n * k + gs_nmf_work_doubles (n, k);
}

static int
nmf_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  nmf_state_t *state = (nmf_state_t *)vstate;
  memcpy (&state->p, params, sizeof state->p);
  state->lib = setup->library; /* set: GS_METHOD_NEEDS_LIBRARY */
  if (state->lib->n_components < 1 || state->lib->n_channels < 1)
    return gs_host->error (GS_EINVAL, "the library is empty");
  return GS_OK;
}

static void
nmf_free (void *vstate)
{
  (void)vstate; /* nothing allocated inside the state */
}

static size_t
nmf_workspace_size (const void *vstate)
{
  const nmf_state_t *state = (const nmf_state_t *)vstate;
  size_t n = state->lib->n_channels, k = state->lib->n_components;
  return nmf_ws_head (n, k) + nmf_doubles (n, k) * sizeof (double);
}

/* Relative Frobenius distance of column range [j0, j1) of X from L. */
static double
nmf_col_change (const double *X, const double *L, size_t n, size_t k, size_t j0,
                size_t j1)
{
  double num = 0, den = 0;
  size_t i, j;
  for (i = 0; i < n; i++)
    for (j = j0; j < j1; j++)
      {
        double d = X[i * k + j] - L[i * k + j];
        num += d * d;
        den += L[i * k + j] * L[i * k + j];
      }
  if (den <= 0)
    return num > 0 ? INFINITY : 0.0;
  return sqrt (num / den);
}

static int
nmf_analyze (const void *vstate, void *vwork, const double *y,
             size_t n_channels, gs_result *res)
{
  const nmf_state_t *state = (const nmf_state_t *)vstate;
  const gs_library_view *lib = state->lib;
  size_t n = n_channels, k = lib->n_components;
  double *X, *a = res->counts;
  gs_poisson_ws *ws;
  gs_nnpu_opts o;
  gs_nnpu_info info;
  gs_nmf_opts no;
  int rc, it = 0;

  if (n != lib->n_channels)
    return gs_host->error (GS_EBADLEN,
                           "spectrum has %zu channels but the library has "
                           "%zu; rebin the spectrum to the library grid",
                           n, lib->n_channels);
  if (!vwork || !y)
    return gs_host->error (GS_EINVAL, "no workspace or no spectrum");
  ws = gs_poisson_ws_place (vwork, n, k);
  X = (double *)(void *)((unsigned char *)vwork + nmf_ws_head (n, k));

  /* Start: a0 = NNPU on the library (as unmixing.nnpu's default). */
  gs_nnpu_opts_init (&o);
  o.max_iter = 200;
  rc = gs_nnpu (ws, lib->signatures, k, n, NULL, k, y, &o, a, &info);
  if (rc != GS_OK && rc != GS_EMAXITER)
    return rc;
  memcpy (X, lib->signatures, n * k * sizeof (double));

  gs_nmf_opts_init (&no);
  no.max_iter = state->p.max_iter;
  no.tol = state->p.tol;
  no.update_background = state->p.update_background;
  rc = gs_nmf_poisson (y, n, X, k, a, &no, X + n * k, &it);
  if (rc != GS_OK)
    return rc;

  res->extras[NMF_X_ITERATIONS] = (double)it;
  res->extras[NMF_X_DIVERGENCE]
      = gs_poisson_divergence (X, k, n, NULL, k, y, a);
  res->extras[NMF_X_SIGNATURE_CHANGE]
      = k > 1 ? nmf_col_change (X, lib->signatures, n, k, 1, k) : 0.0;
  res->extras[NMF_X_BACKGROUND_CHANGE]
      = nmf_col_change (X, lib->signatures, n, k, 0, 1);
  /* std stays NaN: no meaningful Fisher std for the joint problem. */
  return GS_OK;
}

static const gs_method_type nmf_type = {
  .struct_size = sizeof (gs_method_type),
  .id = NMF_ID,
  .summary = "Joint NMF of counts and signatures (Lee-Seung Poisson "
             "updates from the library and NNPU; SEMSUN baseline; std "
             "not given)",
  .kinds = GS_KIND_QUANTIFY | GS_KIND_VARIABILITY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = nmf_params,
  .params_size = sizeof (nmf_params_t),
  .state_size = sizeof (nmf_state_t),
  .extras = nmf_extras,
  .alloc = nmf_alloc,
  .free = nmf_free,
  .workspace_size = nmf_workspace_size,
  .analyze = nmf_analyze,
};

GS_PLUGIN_DEFINE ("unmixing-nmf", "1.0.0", "MIT", &nmf_type)
