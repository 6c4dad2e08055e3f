/* variability.moseva and variability.semsun-j: semi-blind unmixing whose
 * nuclide signatures move along the family of the authors' pretrained
 * Interpolating AutoEncoder (gammabench-spec.md 3.5 and 8), on the SDK
 * kits gspec/iae.h and gspec/semsun.h.
 *
 * The IAE.  The `iae` parameter names either an IAE model file of ours
 * (gs_iae_save_file) or the authors' export manifest `iae_weights.json`,
 * whose float32 blob `iae_weights.f32` lies beside it.  A leading
 * `${GSPEC_DATA}` is replaced by that environment variable (the default
 * points at the GammaBench reference export).  The model must have d = 2
 * anchors (thickness 0.001 mm and 30 mm for the shipped one) and as many
 * channels as the library.
 *
 * Mapping.  The IAE decodes all of its C nuclides; the kits work on
 * K = C + 1 columns in the IAE's order, background first.  Every library
 * nuclide (components 1..) must be one of the IAE's, matched by name; a
 * library nuclide the IAE does not know is refused in alloc (the kits
 * cannot hold a fixed column next to the decoded ones).  The start
 * signatures X0 are the library's columns (for GammaBench scenario 2 the
 * 0.001 mm signatures); an IAE nuclide absent from the library gets its
 * anchor-0 signature (normalised) and never enters a fit: its counts are
 * 0 (MoSeVa: a0 = 0 removes it from the candidates; SemSun-j: it is not
 * in the support).
 *
 * variability.moseva: gs_moseva per spectrum (P-OMP's forward / backward
 * search, every support fitted by BCD) at alpha = the experiment's
 * target_fpr unless the `alpha` parameter sets it; identifies the
 * selected support (the background always present), quantifies its
 * counts with Hessian standard deviations.
 *
 * variability.semsun-j: one BCD over every library component (SemSun
 * with the joint model, spec 8): counts of all columns, lambda started by
 * NMF_fixed_a + fast_interpolation, then BSP.  A quantifier: no presence
 * decision (an identification would need a calibrated test on top).
 *
 * Both report lambda_0 (the weight of the thin anchor: 1 = 0.001 mm, 0 =
 * 30 mm for the shipped IAE) and its standard deviation as extras.  No
 * training: the IAE is pretrained, so the methods have no train, save or
 * load.  Deterministic; analyze only reads the state and uses the
 * thread's workspace. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/iae.h"
#include "gspec/library.h"
#include "gspec/plugin.h"
#include "gspec/semsun.h"

#define SV_DATA_VAR "${GSPEC_DATA}"
#define SV_PATH_MAX 4096

typedef struct sv_params_t
{
  char iae[GS_PARAM_STRING_MAX];
  double alpha;      /* moseva: 0 = target_fpr */
  int turn;          /* moseva */
  double tol;        /* BCD: max (errA, errX) */
  int niter_max_out; /* BCD outer iterations */
  int niter_max_bsp; /* Brent iterations */
  double tol_bsp;    /* Brent's tolerance on lambda_0 */
  int n_grid;        /* BSP bracketing grid */
  int max_channels;  /* cut decoded columns at the spec's max channels */
  double fd_step;    /* Std: step in lambda_0 */
} sv_params_t;

typedef struct sv_state_t
{
  sv_params_t p;
  const char *id;
  const gs_library_view *lib;
  gs_iae *iae;
  size_t C, K;          /* IAE nuclides, K = C + 1 */
  size_t map[GS_SEMSUN_MAX_COLS]; /* library component -> design column */
  int in_lib[GS_SEMSUN_MAX_COLS]; /* design column used by the library */
  size_t max_ch[GS_SEMSUN_MAX_COLS];
  double *X0;           /* n_channels x K, row-major */
  gs_semsun_opts o;
  size_t ws_bytes;
} sv_state_t;

#define SV_COMMON_PARAMS(tol_def)                                            \
  { "iae", GS_PARAM_STRING, offsetof (sv_params_t, iae), 0, 0, 0,            \
    SV_DATA_VAR "/gammabench/reference/iae/iae_weights.json",                \
    "the pretrained IAE: our model file (gs_iae_save_file) or the "          \
    "authors' export manifest iae_weights.json (its .f32 beside it); a "     \
    "leading ${GSPEC_DATA} is that environment variable" },                  \
  { "tol", GS_PARAM_REAL, offsetof (sv_params_t, tol), tol_def, 0, 1, NULL,  \
    "BCD stops when max (errA, errX) <= tol" },                              \
  { "niter_max_out", GS_PARAM_INT, offsetof (sv_params_t, niter_max_out),    \
    30, 1, GS_SEMSUN_MAX_OUTER, NULL,                                        \
    "BCD outer iterations (counts step + lambda step) at most" },            \
  { "niter_max_bsp", GS_PARAM_INT, offsetof (sv_params_t, niter_max_bsp),    \
    100, 1, 10000, NULL, "Brent iterations of the lambda step" },            \
  { "tol_bsp", GS_PARAM_REAL, offsetof (sv_params_t, tol_bsp), 1e-5, 1e-14,  \
    0.1, NULL,                                                               \
    "Brent's interval tolerance on lambda_0 (the authors' 1e-8 is a "        \
    "relative tolerance on the cost: ~1e-5 on lambda_0)" },                  \
  { "n_grid", GS_PARAM_INT, offsetof (sv_params_t, n_grid), 11, 3, 1001,     \
    NULL, "points of the grid that brackets lambda_0 before Brent" },        \
  { "max_channels", GS_PARAM_BOOL, offsetof (sv_params_t, max_channels), 0,  \
    0, 0, NULL,                                                              \
    "zero each decoded signature from the spec's max channel on (Co60 "      \
    "800, Ba133 250, ...); off as in the authors' MoSeVa call" },            \
  { "fd_step", GS_PARAM_REAL, offsetof (sv_params_t, fd_step), 1e-2, 1e-6,   \
    0.1, NULL,                                                               \
    "standard deviations: central-difference step in lambda_0" }

static const gs_param_spec moseva_params[] = {
  SV_COMMON_PARAMS (1e-4),
  { "alpha", GS_PARAM_REAL, offsetof (sv_params_t, alpha), 0, 0, 0.49, NULL,
    "false-alarm level of the tests; 0 (default): the experiment's "
    "target_fpr" },
  { "turn", GS_PARAM_INT, offsetof (sv_params_t, turn), 2, 1, 3, NULL,
    "1 forward only; 2 + backward removal at alpha; 3 backward at 1e-3 "
    "then a second forward" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

static const gs_param_spec semsunj_params[] = {
  SV_COMMON_PARAMS (1e-6),
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

static const char *const moseva_extras[]
    = { "lambda0", "lambda0_std", "n_selected", "test_margin", "fits", NULL };
static const char *const semsunj_extras[]
    = { "lambda0", "lambda0_std", "iterations", NULL };

static int
sv_ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && strcmp (s + n - m, suffix) == 0;
}

static int
sv_file_exists (const char *path)
{
  FILE *f = fopen (path, "rb");
  if (!f)
    return 0;
  fclose (f);
  return 1;
}

/* Loads the IAE named by the `iae` parameter. */
static int
sv_load_iae (const char *id, const char *param, gs_iae **out)
{
  char path[SV_PATH_MAX], blob[SV_PATH_MAX];
  size_t nv = strlen (SV_DATA_VAR);
  int n;
  if (param[0] == '\0')
    return gs_host->error (GS_EINVAL,
                           "%s: parameter iae is empty; give the path of "
                           "an IAE model or of iae_weights.json",
                           id);
  if (strncmp (param, SV_DATA_VAR, nv) == 0)
    {
      const char *data = getenv ("GSPEC_DATA");
      if (!data || !*data)
        return gs_host->error (
            GS_ENOENT,
            "%s: parameter iae is '%s' but GSPEC_DATA is not set; set "
            "GSPEC_DATA to the shared data folder (the one holding "
            "gammabench/), or give iae the path of an IAE model or of "
            "iae_weights.json",
            id, param);
      n = snprintf (path, sizeof path, "%s%s", data, param + nv);
    }
  else
    n = snprintf (path, sizeof path, "%s", param);
  if (n < 0 || (size_t)n >= sizeof path)
    return gs_host->error (GS_EINVAL, "%s: parameter iae: path too long",
                           id);
  if (!sv_file_exists (path))
    return gs_host->error (GS_ENOENT,
                           "%s: IAE file '%s' (parameter iae) not found; "
                           "set GSPEC_DATA to the shared data folder or "
                           "give iae the path of an IAE model or of the "
                           "authors' iae_weights.json",
                           id, path);
  if (!sv_ends_with (path, ".json"))
    return gs_iae_load_file (path, out);
  memcpy (blob, path, (size_t)n - 5);
  memcpy (blob + n - 5, ".f32", 5);
  if (!sv_file_exists (blob))
    return gs_host->error (GS_ENOENT,
                           "%s: the IAE manifest '%s' (parameter iae) needs "
                           "its weights '%s' beside it; not found",
                           id, path, blob);
  return gs_iae_import_pretrained (path, blob, out);
}

static void
sv_free (void *vstate)
{
  sv_state_t *s = (sv_state_t *)vstate;
  gs_iae_free (s->iae);
  gs_host->free (s->X0);
  s->iae = NULL;
  s->X0 = NULL;
}

/* Loads the IAE, matches the library's nuclides to it, builds X0. */
static int
sv_alloc_common (sv_state_t *s, const char *id, const void *params,
                 const gs_setup *setup)
{
  const gs_library_view *lib = setup->library;
  const gs_iae_config *cfg;
  const float *anchors;
  size_t L, C, K, i, j, k;
  int rc;
  memcpy (&s->p, params, sizeof s->p);
  s->id = id;
  s->lib = lib;
  if (lib->n_components < 2 || !lib->names)
    return gs_host->error (GS_EINVAL,
                           "%s: the library needs a background and at "
                           "least one named nuclide (%zu components)",
                           id, lib->n_components);
  rc = sv_load_iae (id, s->p.iae, &s->iae);
  if (rc != GS_OK)
    return rc;
  cfg = gs_iae_get_config (s->iae);
  C = (size_t)cfg->n_components;
  K = C + 1;
  L = (size_t)cfg->length;
  if (cfg->n_anchors != 2 || K > GS_SEMSUN_MAX_COLS)
    return gs_host->error (GS_EUNSUPPORTED,
                           "%s: the IAE has %d anchors and %zu nuclides; "
                           "these methods need 2 anchors and at most %d "
                           "nuclides",
                           id, cfg->n_anchors, C, GS_SEMSUN_MAX_COLS - 1);
  if (lib->n_channels != L)
    return gs_host->error (GS_EUNSUPPORTED,
                           "%s: the library has %zu channels, the IAE %zu; "
                           "use a library on the IAE's channels (e.g. "
                           "GammaBench, 1024 channels)",
                           id, lib->n_channels, L);
  s->C = C;
  s->K = K;
  s->map[0] = 0;
  s->in_lib[0] = 1;
  for (j = 1; j < lib->n_components; j++)
    {
      const char *name = lib->names[j] ? lib->names[j] : "";
      for (k = 0; k < C && strcmp (cfg->names[k], name) != 0; k++)
        ;
      if (k == C)
        return gs_host->error (GS_EUNSUPPORTED,
                               "%s: library nuclide '%s' (component %zu) "
                               "is not one of the IAE's %zu nuclides (%s, "
                               "%s, ...); use a library of the IAE's "
                               "nuclides",
                               id, name, j, C, cfg->names[0],
                               C > 1 ? cfg->names[1] : "");
      if (s->in_lib[k + 1])
        return gs_host->error (GS_EINVAL,
                               "%s: library nuclide '%s' appears twice", id,
                               name);
      s->map[j] = k + 1;
      s->in_lib[k + 1] = 1;
    }
  for (k = 0; k < C; k++)
    s->max_ch[k] = s->p.max_channels ? gs_gammabench_max_channel (cfg->names[k]) : 0;
  s->X0 = (double *)gs_host->alloc (L * K * sizeof (double));
  if (!s->X0)
    return gs_host->error (GS_ENOMEM, "%s: X0 (%zu x %zu)", id, L, K);
  /* Library columns where the library has them, anchor 0 elsewhere. */
  anchors = gs_iae_anchors (s->iae);
  for (k = 0; k < C; k++)
    if (!s->in_lib[k + 1])
      {
        double sum = 0;
        for (i = 0; i < L; i++)
          sum += fabs ((double)anchors[i * C + k]);
        if (!(sum > 0))
          return gs_host->error (GS_EBADDATA,
                                 "%s: the IAE's anchor 0 of '%s' is zero",
                                 id, cfg->names[k]);
        for (i = 0; i < L; i++)
          s->X0[i * K + k + 1] = fabs ((double)anchors[i * C + k]) / sum;
      }
  for (j = 0; j < lib->n_components; j++)
    for (i = 0; i < L; i++)
      s->X0[i * K + s->map[j]] = lib->signatures[i * lib->n_components + j];
  gs_semsun_opts_init (&s->o);
  s->o.tol = s->p.tol;
  s->o.niter_max_out = s->p.niter_max_out;
  s->o.niter_max_bsp = s->p.niter_max_bsp;
  s->o.tol_bsp = s->p.tol_bsp;
  s->o.n_grid = s->p.n_grid;
  s->o.fd_step = s->p.fd_step;
  s->o.max_channels = s->p.max_channels ? s->max_ch : NULL;
  s->ws_bytes = gs_semsun_ws_bytes (s->iae, L);
  if (s->ws_bytes == 0)
    return gs_host->error (GS_EINVAL, "%s: no workspace size for the IAE",
                           id);
  gs_host->log (GS_LOG_DEBUG, id, "IAE %zu nuclides, library %zu of them",
                C, lib->n_components - 1);
  return GS_OK;
}

static size_t
sv_workspace_size (const void *vstate)
{
  return ((const sv_state_t *)vstate)->ws_bytes;
}

/* ---- variability.moseva ------------------------------------------------ */

static int
moseva_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  sv_state_t *s = (sv_state_t *)vstate;
  int rc = sv_alloc_common (s, "variability.moseva", params, setup);
  if (rc != GS_OK)
    return rc;
  s->o.alpha = s->p.alpha > 0 ? s->p.alpha : setup->target_fpr;
  s->o.turn = s->p.turn;
  if (!(s->o.alpha > 0 && s->o.alpha < 0.5))
    return gs_host->error (GS_EINVAL,
                           "variability.moseva: alpha %g must be in (0, "
                           "0.5); set the experiment's target_fpr or the "
                           "alpha parameter",
                           s->o.alpha);
  return GS_OK;
}

static int
moseva_analyze (const void *vstate, void *work, const double *y, size_t n,
                gs_result *res)
{
  const sv_state_t *s = (const sv_state_t *)vstate;
  size_t K = s->K, j, n_sel = 0;
  double a0[GS_SEMSUN_MAX_COLS], total = 0;
  gs_semsun_ws *w = NULL;
  gs_moseva_result r;
  int rc;
  rc = gs_semsun_ws_place (work, s->ws_bytes, s->iae, n, &w);
  if (rc != GS_OK)
    return rc;
  /* a0 marks the candidates (any positive value; the notebook's
   * sum / K): the library's nuclides. */
  for (j = 0; j < n; j++)
    total += y[j];
  for (j = 0; j < K; j++)
    a0[j] = s->in_lib[j] ? total / (double)K : 0;
  rc = gs_moseva (w, y, n, s->X0, K, a0, &s->o, &r, NULL);
  if (rc != GS_OK)
    return rc;
  for (j = 0; j < s->lib->n_components; j++)
    {
      size_t c = s->map[j];
      res->counts[j] = r.a[c];
      res->std[j] = r.std_status == GS_OK ? r.std[c] : (r.a[c] > 0 ? NAN : 0);
      res->present[j] = j == 0;
    }
  for (j = 0; j < r.n_support; j++)
    {
      size_t l;
      for (l = 0; l < s->lib->n_components; l++)
        if (s->map[l] == r.support[j])
          res->present[l] = 1;
    }
  for (j = 1; j < s->lib->n_components; j++)
    n_sel += res->present[j] == 1;
  /* With only the background selected, lambda is not estimated. */
  res->extras[0] = n_sel > 0 ? r.lambda[0] : NAN;
  res->extras[1] = n_sel > 0 && r.std_status == GS_OK ? r.std[K] : NAN;
  res->extras[2] = (double)n_sel;
  res->extras[3] = r.min_margin;
  res->extras[4] = (double)r.fits;
  return GS_OK;
}

static const gs_method_type moseva_type = {
  .struct_size = sizeof (gs_method_type),
  .id = "variability.moseva",
  .summary = "MoSeVa: P-OMP selection where every support is fitted with "
             "IAE signature variability (BCD); counts, Hessian std, lambda",
  .kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY | GS_KIND_VARIABILITY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = moseva_params,
  .params_size = sizeof (sv_params_t),
  .state_size = sizeof (sv_state_t),
  .extras = moseva_extras,
  .alloc = moseva_alloc,
  .free = sv_free,
  .workspace_size = sv_workspace_size,
  .analyze = moseva_analyze,
};

/* ---- variability.semsun-j ---------------------------------------------- */

static int
semsunj_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  return sv_alloc_common ((sv_state_t *)vstate, "variability.semsun-j",
                          params, setup);
}

static int
semsunj_analyze (const void *vstate, void *work, const double *y, size_t n,
                 gs_result *res)
{
  const sv_state_t *s = (const sv_state_t *)vstate;
  size_t K = s->K, j, ns = 0, support[GS_SEMSUN_MAX_COLS];
  double a0[GS_SEMSUN_MAX_COLS], std[GS_SEMSUN_MAX_COLS + 1], total = 0;
  gs_semsun_ws *w = NULL;
  gs_semsun_fit fit;
  int rc, rs;
  rc = gs_semsun_ws_place (work, s->ws_bytes, s->iae, n, &w);
  if (rc != GS_OK)
    return rc;
  for (j = 0; j < n; j++)
    total += y[j];
  for (j = 0; j < K; j++)
    {
      a0[j] = s->in_lib[j] ? total / (double)s->lib->n_components : 0;
      if (s->in_lib[j])
        support[ns++] = j;
    }
  rc = gs_semsun_bcd (w, y, n, s->X0, K, a0, support, ns, NULL, &s->o, &fit,
                      NULL);
  if (rc != GS_OK)
    return rc;
  rs = gs_semsun_std (w, y, n, s->X0, K, fit.a, fit.lambda, &s->o, std);
  for (j = 0; j < s->lib->n_components; j++)
    {
      size_t c = s->map[j];
      res->counts[j] = fit.a[c];
      res->std[j] = rs == GS_OK ? std[c] : (fit.a[c] > 0 ? NAN : 0);
    }
  res->extras[0] = fit.lambda[0];
  res->extras[1] = rs == GS_OK ? std[K] : NAN;
  res->extras[2] = (double)fit.iterations;
  return GS_OK;
}

static const gs_method_type semsunj_type = {
  .struct_size = sizeof (gs_method_type),
  .id = "variability.semsun-j",
  .summary = "SemSun-j: counts of every library component with IAE "
             "signature variability (BCD, joint model); Hessian std, lambda",
  .kinds = GS_KIND_QUANTIFY | GS_KIND_VARIABILITY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = semsunj_params,
  .params_size = sizeof (sv_params_t),
  .state_size = sizeof (sv_state_t),
  .extras = semsunj_extras,
  .alloc = semsunj_alloc,
  .free = sv_free,
  .workspace_size = sv_workspace_size,
  .analyze = semsunj_analyze,
};

GS_PLUGIN_DEFINE ("variability-semsun", "1.0.0", "MIT", &moseva_type,
                  &semsunj_type)
