/* unmixing.pomp-shift: P-OMP with a gain shift (gammabench-spec.md 3.6,
 * phan2025 appendix A; the authors' POMP_drift).
 *
 * The signatures may be shifted in energy, E -> E (1 - alpha0) + alpha1,
 * by an unknown gain factor alpha0 and offset alpha1 (keV); the shift is
 * estimated with the particle operator and Nelder-Mead of gspec/drift.h.
 *   option 0: one NNPU_drift on the whole library (5-point search) gives
 *     alpha; the library is shifted by it and plain P-OMP runs on the
 *     shifted library (Std from the shifted library).
 *   option 1: P-OMP whose every support fit is an NNPU_drift on the
 *     support's columns (the reference's example): forward fits start the
 *     shift from the 5-point start, backward fits from the shift of the
 *     support the search holds (the search tells each step's phase and
 *     held support); the backward never removes the last nuclide, tests
 *     |2 dL| as POMP_drift does and runs at alpha / 100 for turn 3,
 *     whose second forward is plain P-OMP on the library shifted by the
 *     first forward's estimate.  Std from the unshifted library (as the
 *     reference).
 * alpha is the experiment's target false-positive rate (or the `alpha`
 * parameter): a statistical test, no host calibration.  Counts are the
 * final weights (the spec's Alist[2]); the shift of the final support is
 * reported in the extras.
 *
 * The shift operator is defined on the 1024-channel GammaBench grid
 * (channel j = [20 + 2 j, 22 + 2 j) keV); other libraries are accepted
 * but every spectrum is refused with GS_EUNSUPPORTED. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/drift.h"
#include "gspec/plugin.h"
#include "gspec/poisson.h"
#include "gspec/pomp.h"
#include "gspec/synth.h"

typedef struct ps_params_t
{
  int option;
  int turn;
  int max_outer;
  double tol;
  double particles;
  double alpha;
  int contribution_rule;
  double contribution;
  int min_count_rule;
} ps_params_t;

typedef struct ps_state_t
{
  ps_params_t p;
  double alpha;
  const gs_library_view *lib;
  double min_counts[GS_POMP_MAX_COMPONENTS]; /* min_count_rule's m */
  double *search_libs; /* option 0: the 5 shifted libraries of the
                          search, the same for every spectrum */
} ps_state_t;

/* One support fit of option 1, remembered for the backward start. */
typedef struct ps_fit_t
{
  uint64_t mask;
  double alpha[2];
  double loss;
} ps_fit_t;

/* The fit context of option 1. */
typedef struct ps_ctx_t
{
  gs_drift_ws *dws;
  const double *X;
  size_t K;
  const double *y;
  gs_nnpu_drift_opts o;
  ps_fit_t *fits; /* ring of the last cap fits */
  size_t cap, n_fits, head;
  gs_pomp_phase phase;
  uint64_t held;        /* the support the search holds */
  int have_fwd;         /* alpha_fwd set (first backward step seen) */
  double alpha_fwd[2];  /* the first forward's final shift */
  double particles;
  double *Xe;           /* turn 3: the library shifted by alpha_fwd */
  gs_poisson_ws *pws;   /* prepared on Xe for the second forward */
} ps_ctx_t;

static const gs_param_spec ps_params[] = {
  { "option", GS_PARAM_ENUM, offsetof (ps_params_t, option), 0, 0, 0, "0|1",
    "0: one shift for the whole library, then plain P-OMP on the shifted "
    "library; 1: a shift fitted with every support (slower, the "
    "reference's example)" },
  { "turn", GS_PARAM_INT, offsetof (ps_params_t, turn), 2, 1, 3, NULL,
    "1 forward only; 2 + backward removal at alpha; 3 backward at alpha / "
    "100 (option 1) or 1e-3 (option 0), then a second forward" },
  { "max_outer", GS_PARAM_INT, offsetof (ps_params_t, max_outer), 10, 1, 1000,
    NULL, "NNPU_drift alternations (fit the counts, fit the shift) per fit" },
  { "tol", GS_PARAM_REAL, offsetof (ps_params_t, tol), 1e-3, 0, 1, NULL,
    "NNPU_drift stops when the shifted model changes by <= tol "
    "(relative)" },
  { "particles", GS_PARAM_REAL, offsetof (ps_params_t, particles), 1e6, 1e3,
    1e9, NULL, "particles of the shift operator per spectrum or signature" },
  { "alpha", GS_PARAM_REAL, offsetof (ps_params_t, alpha), 0, 0, 0.49, NULL,
    "false-alarm level of the tests; 0 (default): the experiment's "
    "target_fpr" },
  { "contribution_rule", GS_PARAM_BOOL,
    offsetof (ps_params_t, contribution_rule), 0, 0, 0, NULL,
    "spec 3.4: drop a selected nuclide whose counts are not above "
    "`contribution` x the total counts of all nuclides" },
  { "contribution", GS_PARAM_REAL, offsetof (ps_params_t, contribution), 0.01,
    0, 1, NULL, "fraction used by contribution_rule (spec: 1 %)" },
  { "min_count_rule", GS_PARAM_BOOL, offsetof (ps_params_t, min_count_rule), 0,
    0, 0, NULL,
    "spec 3.4 (scenario 3): drop a selected nuclide with fewer than m - 3 "
    "sqrt(m) counts, m the sampler's minimum for it (100 for Co60, Cs137, "
    "Eu152, 50 otherwise)" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

static const char *const ps_extras[]
    = { "gain_shift", "offset", "deviance", "test_margin", "fits", NULL };

static int
ps_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  ps_state_t *s = (ps_state_t *)vstate;
  size_t j;
  memcpy (&s->p, params, sizeof s->p);
  s->lib = setup->library;
  s->alpha = s->p.alpha > 0 ? s->p.alpha : setup->target_fpr;
  if (!(s->alpha > 0 && s->alpha < 0.5))
    return gs_host->error (GS_EINVAL,
                           "unmixing.pomp-shift: alpha %g must be in (0, "
                           "0.5); set the experiment's target_fpr or the "
                           "alpha parameter",
                           s->alpha);
  if (s->lib->n_components < 2 || s->lib->n_components > GS_POMP_MAX_COMPONENTS)
    return gs_host->error (GS_EINVAL,
                           "unmixing.pomp-shift: the library has %zu "
                           "components; P-OMP needs 2..%d (background "
                           "first)",
                           s->lib->n_components, GS_POMP_MAX_COMPONENTS);
  for (j = 0; j < s->lib->n_components; j++)
    s->min_counts[j] = s->lib->names && s->lib->names[j]
                           ? gs_synth_min_counts_default (s->lib->names[j])
                           : 50;
  s->search_libs = NULL;
  if (s->p.option == 0 && s->lib->n_channels == GS_SHIFT_N_CHANNELS)
    {
      size_t K = s->lib->n_components;
      int rc;
      s->search_libs
          = malloc (GS_DRIFT_N_STARTS * GS_SHIFT_N_CHANNELS * K * sizeof (double));
      if (!s->search_libs)
        return gs_host->error (GS_ENOMEM,
                               "unmixing.pomp-shift: out of memory for the "
                               "shifted libraries");
      rc = gs_drift_search_libraries (s->lib->signatures, K, NULL, K,
                                      s->p.particles, s->search_libs);
      if (rc != GS_OK)
        {
          free (s->search_libs);
          s->search_libs = NULL;
          return rc;
        }
    }
  return GS_OK;
}

static void
ps_free (void *vstate)
{
  ps_state_t *s = (ps_state_t *)vstate;
  free (s->search_libs);
  s->search_libs = NULL;
}

/* Workspace: drift scratch, a Poisson workspace, the shifted library
 * (option 0) and the fit ring (option 1), each 64-byte aligned. */
static size_t
round64 (size_t n)
{
  return (n + 63) & ~(size_t)63;
}

static size_t
ps_ring_cap (size_t K)
{
  return 2 * K * K + K + 8;
}

static size_t
ps_workspace_size (const void *vstate)
{
  const ps_state_t *s = (const ps_state_t *)vstate;
  size_t K = s->lib->n_components;
  if (s->lib->n_channels != GS_SHIFT_N_CHANNELS)
    return 0;
  return 64 + round64 (gs_drift_ws_bytes (K))
         + round64 (gs_poisson_ws_bytes (GS_SHIFT_N_CHANNELS, K))
         + round64 (GS_SHIFT_N_CHANNELS * K * sizeof (double))
         + round64 (ps_ring_cap (K) * sizeof (ps_fit_t));
}

static uint64_t
ps_mask (const size_t *support, size_t n)
{
  uint64_t m = 0;
  size_t j;
  for (j = 0; j < n; j++)
    m |= (uint64_t)1 << support[j];
  return m;
}

static void
ps_remember (ps_ctx_t *c, uint64_t mask, const double *alpha, double loss)
{
  ps_fit_t *f = &c->fits[c->head];
  f->mask = mask;
  f->alpha[0] = alpha[0];
  f->alpha[1] = alpha[1];
  f->loss = loss;
  c->head = (c->head + 1) % c->cap;
  if (c->n_fits < c->cap)
    c->n_fits++;
}

static const ps_fit_t *ps_last_fit_of (const ps_ctx_t *c, uint64_t mask);

/* Option 1's step hook: the phase and the held support; on the first
 * backward step the held support's shift is the forward's final one
 * (the reference's X_est). */
static int
ps_step (void *vctx, gs_pomp_phase phase, const size_t *support, size_t n,
         const double *a)
{
  ps_ctx_t *c = (ps_ctx_t *)vctx;
  (void)a;
  c->held = ps_mask (support, n);
  if (phase != GS_POMP_FORWARD && !c->have_fwd)
    {
      const ps_fit_t *f = ps_last_fit_of (c, c->held);
      c->alpha_fwd[0] = f ? f->alpha[0] : 0;
      c->alpha_fwd[1] = f ? f->alpha[1] : 0;
      c->have_fwd = 1;
    }
  if (phase == GS_POMP_FORWARD2 && c->phase != GS_POMP_FORWARD2)
    {
      int rc = gs_shift_library_columns (c->X, c->K, c->alpha_fwd[0],
                                         c->alpha_fwd[1], GS_SHIFT_ROUND,
                                         c->particles, c->Xe);
      if (rc == GS_OK)
        rc = gs_poisson_prepare (c->pws, c->Xe, c->K, GS_SHIFT_N_CHANNELS,
                                 c->K, c->y);
      if (rc != GS_OK)
        return rc;
    }
  c->phase = phase;
  return GS_OK;
}

/* Option 1's support fit: NNPU_drift on the support's columns (forward:
 * 5-point start; backward: the held support's shift), or in turn 3's
 * second forward a plain fit on the shifted library. */
static int
ps_drift_fit (void *vctx, const size_t *support, size_t n, const double *warm,
              double *a, double *loss)
{
  ps_ctx_t *c = (ps_ctx_t *)vctx;
  gs_nnpu_drift_opts o = c->o;
  gs_nnpu_drift_info info;
  uint64_t mask = ps_mask (support, n);
  const double *start = NULL;
  int rc;
  if (c->phase == GS_POMP_FORWARD2)
    {
      rc = gs_pomp_nnpu_fit (c->pws, support, n, warm, a, loss);
      if (rc == GS_OK)
        ps_remember (c, mask, c->alpha_fwd, *loss);
      return rc;
    }
  if (c->phase == GS_POMP_BACKWARD)
    {
      const ps_fit_t *f = ps_last_fit_of (c, c->held);
      if (f)
        start = f->alpha;
    }
  if (warm)
    {
      memcpy (a, warm, n * sizeof (double));
      o.warm_start = 1;
    }
  rc = gs_nnpu_drift (c->dws, c->X, c->K, GS_SHIFT_N_CHANNELS, support, n, c->y,
                      start, &o, a, NULL, &info);
  if (rc != GS_OK)
    return rc;
  *loss = info.loss;
  ps_remember (c, mask, info.alpha, info.loss);
  return GS_OK;
}

/* The shift of the most recent fit of exactly `mask`. */
static const ps_fit_t *
ps_last_fit_of (const ps_ctx_t *c, uint64_t mask)
{
  size_t i;
  for (i = 0; i < c->n_fits; i++)
    {
      size_t k = (c->head + c->cap - 1 - i) % c->cap;
      if (c->fits[k].mask == mask)
        return &c->fits[k];
    }
  return NULL;
}

static int
ps_analyze (const void *vstate, void *work, const double *y, size_t n,
            gs_result *res)
{
  const ps_state_t *s = (const ps_state_t *)vstate;
  const gs_library_view *lib = s->lib;
  const size_t K = lib->n_components;
  char *p = (char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  gs_drift_ws *dws;
  gs_poisson_ws *pws;
  double *Xshift;
  ps_fit_t *ring;
  gs_nnpu_drift_opts dopts;
  gs_pomp_opts o;
  gs_pomp_result r;
  double std[GS_POMP_MAX_COMPONENTS], as[GS_POMP_MAX_COMPONENTS];
  double shift[2] = { 0, 0 }, deviance = NAN;
  const double *Xstd;
  size_t j;
  int rc;
  if (n != GS_SHIFT_N_CHANNELS || lib->n_channels != GS_SHIFT_N_CHANNELS)
    return gs_host->error (GS_EUNSUPPORTED,
                           "unmixing.pomp-shift: the particle gain-shift "
                           "operator needs the 1024-channel GammaBench grid "
                           "(2 keV channels from 20 keV); the library has "
                           "%zu channels",
                           lib->n_channels);
  if (!work)
    return gs_host->error (GS_ENOMEM, "unmixing.pomp-shift: no workspace");
  dws = gs_drift_ws_place (p, K);
  p += round64 (gs_drift_ws_bytes (K));
  pws = gs_poisson_ws_place (p, n, K);
  p += round64 (gs_poisson_ws_bytes (n, K));
  Xshift = (double *)p;
  p += round64 (n * K * sizeof (double));
  ring = (ps_fit_t *)p;
  if (!dws || !pws)
    return gs_host->error (GS_ENOMEM, "unmixing.pomp-shift: no workspace");
  gs_nnpu_drift_opts_init (&dopts);
  dopts.max_outer = s->p.max_outer;
  dopts.tol = s->p.tol;
  dopts.find.n_particles = s->p.particles;
  dopts.n_particles = s->p.particles;
  gs_pomp_opts_init (&o);
  o.alpha = s->alpha;
  o.turn = s->p.turn;
  if (s->p.option == 0)
    {
      gs_nnpu_drift_info info;
      dopts.search_alpha0 = 1;
      dopts.search_libs = s->search_libs;
      /* Xshift: the library shifted by the estimate (get_X_drift_est) */
      rc = gs_nnpu_drift (dws, lib->signatures, K, n, NULL, K, y, NULL, &dopts,
                          as, Xshift, &info);
      if (rc != GS_OK)
        return rc;
      shift[0] = info.alpha[0];
      shift[1] = info.alpha[1];
      rc = gs_poisson_prepare (pws, Xshift, K, n, K, y);
      if (rc != GS_OK)
        return rc;
      o.screen = gs_pomp_nnpu_screen;
      rc = gs_pomp_search (K, &o, gs_pomp_nnpu_fit, pws, &r);
      if (rc != GS_OK)
        return rc;
      Xstd = Xshift;
    }
  else
    {
      ps_ctx_t c;
      const ps_fit_t *f;
      memset (&c, 0, sizeof c);
      c.dws = dws;
      c.X = lib->signatures;
      c.K = K;
      c.y = y;
      c.o = dopts;
      c.fits = ring;
      c.cap = ps_ring_cap (K);
      c.phase = GS_POMP_FORWARD;
      c.particles = s->p.particles;
      c.Xe = Xshift;
      c.pws = pws;
      o.turn3_alpha = s->alpha / 100;
      o.backward_min = 2;
      o.backward_abs = 1;
      o.step = ps_step;
      rc = gs_pomp_search (K, &o, ps_drift_fit, &c, &r);
      if (rc != GS_OK)
        return rc;
      f = ps_last_fit_of (&c, ps_mask (r.support, r.n_support));
      if (f)
        {
          shift[0] = f->alpha[0];
          shift[1] = f->alpha[1];
          deviance = 2 * f->loss;
        }
      Xstd = lib->signatures; /* the reference's std_fisher(X_init) */
    }
  for (j = 0; j < r.n_support; j++)
    as[j] = r.a[r.support[j]];
  if (s->p.option == 0)
    deviance
        = 2
          * gs_poisson_divergence (Xshift, K, n, r.support, r.n_support, y, as);
  rc = gs_poisson_fisher_std (pws, Xstd, K, n, r.support, r.n_support, as, std);
  for (j = 0; j < K; j++)
    {
      res->counts[j] = r.a[j];
      res->std[j] = r.a[j] > 0 ? NAN : 0;
      res->present[j] = j == 0;
    }
  for (j = 0; j < r.n_support; j++)
    {
      size_t c = r.support[j];
      if (rc == GS_OK)
        res->std[c] = std[j];
      res->present[c] = 1;
    }
  gs_pomp_postprocess (r.a, K, s->p.contribution_rule ? s->p.contribution : 0,
                       s->p.min_count_rule ? s->min_counts : NULL,
                       res->present);
  res->extras[0] = shift[0];
  res->extras[1] = shift[1];
  res->extras[2] = deviance;
  res->extras[3] = r.min_margin;
  res->extras[4] = (double)r.fits;
  return GS_OK;
}

static const gs_method_type ps_type = {
  .struct_size = sizeof (gs_method_type),
  .id = "unmixing.pomp-shift",
  .summary = "P-OMP with a gain shift: nuclide selection by Poisson "
             "likelihood-ratio tests with the energy calibration fitted "
             "(particle shift, Nelder-Mead)",
  .kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY | GS_KIND_VARIABILITY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = ps_params,
  .params_size = sizeof (ps_params_t),
  .state_size = sizeof (ps_state_t),
  .extras = ps_extras,
  .alloc = ps_alloc,
  .free = ps_free,
  .workspace_size = ps_workspace_size,
  .analyze = ps_analyze,
};

GS_PLUGIN_DEFINE ("unmixing-pomp-shift", "1.0.0", "MIT", &ps_type)
