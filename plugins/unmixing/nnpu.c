/* unmixing.nnpu: non-negative Poisson unmixing (gammabench-spec.md 3.2).
 *
 * Counts a >= 0 maximise the Poisson likelihood of y under mu = X a, with X
 * the whole library (background first).  Two solvers reach the same
 * estimator: "newton" (projected Newton on the free set, the default) and
 * "em" (the authors' multiplicative updates, for fidelity checks).
 * Standard deviations come from the Fisher information (spec 3.3).
 * Quantification only: no presence decision is made. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/plugin.h"
#include "gspec/poisson.h"

typedef struct nnpu_params_t
{
  int solver;   /* 0 newton, 1 em */
  int max_iter; /* newton iterations / em iterations */
  double tol;
  int fix_background;
} nnpu_params_t;

typedef struct nnpu_state_t
{
  nnpu_params_t p;
  const gs_library_view *lib;
} nnpu_state_t;


static const gs_param_spec nnpu_params[] = {
  { "solver", GS_PARAM_ENUM, offsetof (nnpu_params_t, solver), 0, 0, 0,
    "newton|em",
    "newton: projected Newton (fast, exact ML); em: the reference "
    "multiplicative updates" },
  { "max_iter", GS_PARAM_INT, offsetof (nnpu_params_t, max_iter), 1000, 1,
    1e7, NULL,
    "iteration limit (newton stops far earlier; em: the spec's 1000)" },
  { "tol", GS_PARAM_REAL, offsetof (nnpu_params_t, tol), 1e-6, 0, 1, NULL,
    "em: stop when mean relative change <= tol (newton converges to "
    "machine precision regardless)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

static int
nnpu_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  nnpu_state_t *state = (nnpu_state_t *)vstate;
  memcpy (&state->p, params, sizeof state->p);
  state->lib = setup->library;
  return GS_OK;
}

static void
nnpu_free (void *vstate)
{
  (void)vstate;
}

static size_t
nnpu_workspace_size (const void *vstate)
{
  const nnpu_state_t *state = (const nnpu_state_t *)vstate;
  return gs_poisson_ws_bytes (state->lib->n_channels,
                              state->lib->n_components);
}

static int
nnpu_analyze (const void *vstate, void *vwork, const double *y,
              size_t n_channels, gs_result *res)
{
  const nnpu_state_t *state = (const nnpu_state_t *)vstate;
  gs_poisson_ws *ws;
  const gs_library_view *lib = state->lib;
  size_t k = lib->n_components, j;
  int rc;
  if (n_channels != lib->n_channels)
    return gs_host->error (GS_EBADLEN,
                           "spectrum has %zu channels but the library has "
                           "%zu; rebin the spectrum to the library grid",
                           n_channels, lib->n_channels);
  ws = gs_poisson_ws_place (vwork, n_channels, k);
  if (state->p.solver == 1)
    {
      int iters;
      rc = gs_nnpu_em (lib->signatures, k, n_channels, NULL, k, y, NULL,
                       state->p.max_iter, state->p.tol, 0, res->counts,
                       &iters);
    }
  else
    {
      gs_nnpu_opts o;
      gs_nnpu_info info;
      gs_nnpu_opts_init (&o);
      o.max_iter = state->p.max_iter < 200 ? state->p.max_iter : 200;
      rc = gs_nnpu (ws, lib->signatures, k, n_channels, NULL, k, y,
                    &o, res->counts, &info);
    }
  if (rc != GS_OK)
    return rc;
  rc = gs_poisson_fisher_std (ws, lib->signatures, k, n_channels, NULL,
                              k, res->counts, res->std);
  if (rc == GS_ESING)
    for (j = 0; j < k; j++) /* undefined for collinear signatures */
      res->std[j] = NAN;
  else if (rc != GS_OK)
    return rc;
  return GS_OK;
}

static const gs_method_type nnpu_type = {
  .struct_size = sizeof (gs_method_type),
  .id = "unmixing.nnpu",
  .summary = "Non-negative Poisson unmixing of the whole library "
             "(maximum likelihood, Fisher standard deviations)",
  .kinds = GS_KIND_QUANTIFY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = nnpu_params,
  .params_size = sizeof (nnpu_params_t),
  .state_size = sizeof (nnpu_state_t),
  .alloc = nnpu_alloc,
  .free = nnpu_free,
  .workspace_size = nnpu_workspace_size,
  .analyze = nnpu_analyze,
};

GS_PLUGIN_DEFINE ("unmixing-nnpu", "1.0.0", "MIT", &nnpu_type)
