/* variability.semsun-i: semi-blind unmixing with one Interpolating
 * AutoEncoder per nuclide (the SEMSUN paper's individual models, spec 8),
 * on the SDK kits gspec/iae_train.h and gspec/semsun_i.h.
 *
 * Training (`gspec train` / `gspec run`).  The IAEs learn the signature
 * family, not the training spectra: for every library nuclide, the
 * GammaBench steel-sphere signatures (parameter `family`, a GammaBench
 * root; a leading ${GSPEC_DATA} is that environment variable) at the
 * thicknesses named by `thicknesses` (default `scenario2-train`: the 62
 * training thicknesses of scenario 2's seed-2 split, which hold both
 * extremes 0.001 and 30 mm; `all`: the 96; or a comma-separated list of
 * indices), cut at the nuclide's max channel (spec 1.3) and normalised.
 * The model of a nuclide covers channels 0 .. max channel - 1 (its
 * signature is zero beyond), its anchors are the family's thinnest and
 * thickest members, and its architecture is the SEMSUN paper's individual
 * one: kernels 4 4 6 6 6 8, strides 1 1 2 2 4 4, channels 12 12 12 16 16
 * 16 for 200 channels or more; for shorter ones (Co57, I123, Tc99m: 100;
 * Am241: 50) kernels 3 3 4 4 4 4 with stride 1, as the paper's Co57
 * model.  Training follows gs_iae_train (log loss with the latent term,
 * Gaussian noise at `snr_db`, Adam) with `epochs`, `batch`, `lr`, `mu`;
 * the seed is the experiment's.  The spectra handed to train are not read
 * (the log says so).  save / load write the models (gs_iae_save, one
 * after the other).
 *
 * Analysis: gs_semsun_i_bcd from the library's signatures (for GammaBench
 * scenario 2, the 0.001 mm ones): counts of every library component, each
 * nuclide's lambda_0 as an extra.  A quantifier, like semsun-j; no std
 * (the kit gives none for the per-nuclide problem).  A library nuclide
 * without a model (a name the family does not have) keeps its library
 * signature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/iae.h"
#include "gspec/iae_train.h"
#include "gspec/library.h"
#include "gspec/plugin.h"
#include "gspec/scenario.h"
#include "gspec/semsun.h"
#include "gspec/semsun_i.h"
#include "gspec/status.h"

#define SI_ID "variability.semsun-i"
#define SI_DATA_VAR "${GSPEC_DATA}"
#define SI_MAXC GS_SEMSUN_MAX_COLS
#define SI_MAGIC "GSSI"

typedef struct si_params_t
{
  char family[GS_PARAM_STRING_MAX];
  char thicknesses[GS_PARAM_STRING_MAX];
  int epochs;
  int batch;
  double lr;
  double mu;
  double snr_db;
  int threads;
  double tol;
  int niter_max_out;
  int niter_max_bsp;
  double tol_bsp;
  int n_grid;
} si_params_t;

typedef struct si_state_t
{
  si_params_t p;
  const gs_library_view *lib;
  uint64_t seed;
  size_t C; /* library nuclides */
  gs_iae *m[SI_MAXC];
  gs_semsun_opts o;
  int trained;
} si_state_t;

static const gs_param_spec si_params[]
    = { { "family", GS_PARAM_STRING, offsetof (si_params_t, family), 0, 0, 0,
          SI_DATA_VAR "/gammabench",
          "GammaBench root whose steel-sphere signatures the IAEs learn; a "
          "leading ${GSPEC_DATA} is that environment variable" },
        { "thicknesses", GS_PARAM_STRING, offsetof (si_params_t, thicknesses),
          0, 0, 0, "scenario2-train",
          "training thicknesses: scenario2-train (the 62 of the seed-2 split), "
          "all (96), or comma-separated indices 0..95" },
        { "epochs", GS_PARAM_INT, offsetof (si_params_t, epochs), 3000, 1,
          1000000, NULL, "training epochs per nuclide (SemSun: 20000)" },
        { "batch", GS_PARAM_INT, offsetof (si_params_t, batch), 36, 1, 100000,
          NULL, "batch size (SemSun: 36)" },
        { "lr", GS_PARAM_REAL, offsetof (si_params_t, lr), 1e-3, 1e-8, 1, NULL,
          "Adam learning rate" },
        { "mu", GS_PARAM_REAL, offsetof (si_params_t, mu), 3e-4, 0, 10, NULL,
          "weight of the latent-consistency term (SemSun individual: 3e-4)" },
        { "snr_db", GS_PARAM_REAL, offsetof (si_params_t, snr_db), 20, 0, 200,
          NULL, "training noise, signal-to-noise ratio in dB (SemSun: 20)" },
        { "threads", GS_PARAM_INT, offsetof (si_params_t, threads), 1, 1, 256,
          NULL,
          "engine threads for training (the weights do not depend on it)" },
        { "tol", GS_PARAM_REAL, offsetof (si_params_t, tol), 1e-5, 0, 1, NULL,
          "BCD stops when max (errA, errX) <= tol (SemSun-i: 1e-5)" },
        { "niter_max_out", GS_PARAM_INT, offsetof (si_params_t, niter_max_out),
          30, 1, GS_SEMSUN_MAX_OUTER, NULL, "BCD outer iterations at most" },
        { "niter_max_bsp", GS_PARAM_INT, offsetof (si_params_t, niter_max_bsp),
          100, 1, 10000, NULL, "Brent iterations of a lambda step" },
        { "tol_bsp", GS_PARAM_REAL, offsetof (si_params_t, tol_bsp), 1e-5,
          1e-14, 0.1, NULL,
          "Brent's interval tolerance on lambda_0 (the authors' 1e-8 is a "
          "relative tolerance on the cost: ~1e-5 on lambda_0)" },
        { "n_grid", GS_PARAM_INT, offsetof (si_params_t, n_grid), 11, 3, 1001,
          NULL, "points of the grid that brackets lambda_0 before Brent" },
        { NULL, 0, 0, 0, 0, 0, NULL, NULL } };

/* extras: lambda_0 of each nuclide would vary in number; the method
 * reports the iterations and the mean lambda_0 over the fitted nuclides. */
static const char *const si_extras[]
    = { "iterations", "lambda0_mean", "nuclides_fitted", NULL };

static int
si_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  si_state_t *s = (si_state_t *)vstate;
  const gs_library_view *lib = setup->library;
  memcpy (&s->p, params, sizeof s->p);
  s->lib = lib;
  s->seed = setup->seed;
  if (lib->n_components < 2 || !lib->names)
    return gs_host->error (GS_EINVAL,
                           SI_ID ": the library needs a background and at "
                                 "least one named nuclide (%zu components)",
                           lib->n_components);
  if (lib->n_components > SI_MAXC)
    return gs_host->error (GS_EUNSUPPORTED,
                           SI_ID ": %zu components; at most %d are "
                                 "supported",
                           lib->n_components, SI_MAXC);
  s->C = lib->n_components - 1;
  {
    size_t k, known = 0;
    for (k = 1; k < lib->n_components; k++)
      known += gs_gammabench_max_channel (lib->names[k]) > 0;
    if (!known)
      return gs_host->error (GS_EUNSUPPORTED,
                             SI_ID ": none of the library's nuclides (%s, "
                                   "...) is a GammaBench nuclide, and the "
                                   "IAEs learn GammaBench families; use a "
                                   "GammaBench library",
                             lib->names[1]);
  }
  gs_semsun_opts_init (&s->o);
  s->o.tol = s->p.tol;
  s->o.niter_max_out = s->p.niter_max_out;
  s->o.niter_max_bsp = s->p.niter_max_bsp;
  s->o.tol_bsp = s->p.tol_bsp;
  s->o.n_grid = s->p.n_grid;
  return GS_OK;
}

static void
si_free (void *vstate)
{
  si_state_t *s = (si_state_t *)vstate;
  size_t k;
  for (k = 0; k < SI_MAXC; k++)
    {
      gs_iae_free (s->m[k]);
      s->m[k] = NULL;
    }
}

/* The family root with ${GSPEC_DATA} expanded. */
static int
si_family_root (const si_state_t *s, char *out, size_t size)
{
  const char *p = s->p.family;
  size_t nv = strlen (SI_DATA_VAR);
  int n;
  if (strncmp (p, SI_DATA_VAR, nv) == 0)
    {
      const char *data = getenv ("GSPEC_DATA");
      if (!data || !*data)
        return gs_host->error (GS_ENOENT,
                               SI_ID ": parameter family is '%s' but "
                                     "GSPEC_DATA is not set; set it to the "
                                     "shared data folder or give family a "
                                     "GammaBench root",
                               p);
      n = snprintf (out, size, "%s%s", data, p + nv);
    }
  else
    n = snprintf (out, size, "%s", p);
  if (n < 0 || (size_t)n >= size)
    return gs_host->error (GS_EINVAL, SI_ID ": parameter family: path too "
                                            "long");
  return GS_OK;
}

/* Thickness indices of the `thicknesses` parameter, sorted as given. */
static int
si_thicknesses (const si_state_t *s, int *idx, int *n)
{
  const char *p = s->p.thicknesses;
  int i;
  *n = 0;
  if (strcmp (p, "scenario2-train") == 0)
    {
      for (i = 0; i < 62; i++)
        idx[i] = gs_scenario_thickness_train[i];
      *n = 62;
      return GS_OK;
    }
  if (strcmp (p, "all") == 0)
    {
      for (i = 0; i < 96; i++)
        idx[i] = i;
      *n = 96;
      return GS_OK;
    }
  while (*p)
    {
      char *end;
      long v = strtol (p, &end, 10);
      if (end == p || v < 0 || v > 95 || *n >= 96)
        return gs_host->error (GS_EINVAL,
                               SI_ID ": parameter thicknesses '%s': give "
                                     "scenario2-train, all, or "
                                     "comma-separated indices 0..95",
                               s->p.thicknesses);
      idx[(*n)++] = (int)v;
      p = end;
      while (*p == ',' || *p == ' ')
        p++;
    }
  if (*n < 3)
    return gs_host->error (GS_EINVAL,
                           SI_ID ": parameter thicknesses names %d "
                                 "thicknesses; at least 3 are needed (two "
                                 "anchors and something between)",
                           *n);
  return GS_OK;
}

static int
si_progress (void *user, int epoch, double loss, double val_loss)
{
  const char *name = (const char *)user;
  (void)val_loss;
  gs_host->log (GS_LOG_INFO, SI_ID, "%s: epoch %d, loss %.4f", name, epoch,
                loss);
  return 0;
}

static int
si_train (void *vstate, const gs_dataset *train, const gs_dataset *valid)
{
  si_state_t *s = (si_state_t *)vstate;
  char root[4096];
  int idx[96], n_idx, rc;
  size_t k;
  (void)valid;
  rc = si_family_root (s, root, sizeof root);
  if (rc == GS_OK)
    rc = si_thicknesses (s, idx, &n_idx);
  if (rc != GS_OK)
    return rc;
  gs_host->log (GS_LOG_INFO, SI_ID,
                "training %zu individual IAEs on %d thicknesses of the "
                "GammaBench family (the %zu training spectra are not used)",
                s->C, n_idx, train ? train->n_spectra : (size_t)0);
  for (k = 0; k < s->C; k++)
    {
      const char *name = s->lib->names[k + 1];
      const char *names[1];
      size_t mc = gs_gammabench_max_channel (name);
      int L = (int)mc;
      gs_iae_config cfg;
      gs_iae_train_opts to;
      gs_iae_train_report rep;
      float *fam, *anc;
      gs_iae_free (s->m[k]);
      s->m[k] = NULL;
      if (mc == 0)
        {
          gs_host->log (GS_LOG_INFO, SI_ID,
                        "%s is not a GammaBench nuclide: no model, its "
                        "library signature stays fixed",
                        name);
          continue;
        }
      if (mc > s->lib->n_channels)
        return gs_host->error (GS_EUNSUPPORTED,
                               SI_ID ": %s's model would decode %zu "
                                     "channels, the library has %zu",
                               name, mc, s->lib->n_channels);
      names[0] = name;
      fam = (float *)malloc ((size_t)n_idx * (size_t)L * sizeof (float));
      anc = (float *)malloc (2 * (size_t)L * sizeof (float));
      if (!fam || !anc)
        {
          free (fam);
          free (anc);
          return gs_host->error (GS_ENOMEM, SI_ID ": out of memory");
        }
      rc = gs_iae_family_gammabench (root, names, 1, &mc, L, idx, n_idx, fam);
      if (rc != GS_OK)
        {
          free (fam);
          free (anc);
          return gs_error_prefix (rc,
                                  SI_ID ": no GammaBench family for %s "
                                        "(library component %zu) under %s",
                                  name, k + 1, root);
        }
      gs_iae_family_anchors (fam, (size_t)L, idx, n_idx, anc);
      gs_iae_config_init (&cfg);
      cfg.n_components = 1;
      snprintf (cfg.names[0], sizeof cfg.names[0], "%s", name);
      cfg.length = L;
      cfg.n_anchors = 2;
      gs_iae_individual_layout (&cfg);
      {
        gs_nn_opts no;
        gs_nn_opts_init (&no);
        no.seed = s->seed + 7919 * (uint64_t)(k + 1);
        rc = gs_iae_create (&cfg, anc, &no, &s->m[k]);
      }
      if (rc == GS_OK)
        {
          gs_iae_train_opts_init (&to);
          to.epochs = s->p.epochs;
          to.batch_size = s->p.batch;
          to.lr = s->p.lr;
          to.mu = s->p.mu;
          to.snr_db = s->p.snr_db;
          to.seed = s->seed + 104729 * (uint64_t)(k + 1);
          to.threads = s->p.threads;
          to.report_every = s->p.epochs >= 10 ? s->p.epochs / 10 : 1;
          to.progress = si_progress;
          to.user = (void *)name;
          rc = gs_iae_train (s->m[k], fam, n_idx, L, 1, &to, &rep);
        }
      free (fam);
      free (anc);
      if (rc != GS_OK)
        return gs_error_prefix (rc, SI_ID ": training the IAE of %s", name);
      gs_host->log (GS_LOG_INFO, SI_ID,
                    "%s: %d channels, %d epochs in %.1f s, final loss %.4f, "
                    "lambda_0 in [%.4f, %.4f]",
                    name, L, rep.epochs, rep.seconds, rep.loss,
                    rep.bounds[0][0], rep.bounds[0][1]);
    }
  s->trained = 1;
  return GS_OK;
}

static int
si_save (const void *vstate, FILE *out)
{
  const si_state_t *s = (const si_state_t *)vstate;
  unsigned char hdr[8];
  size_t k;
  int rc;
  if (!s->trained)
    return gs_host->error (GS_EINVAL, SI_ID ": nothing trained to save");
  memcpy (hdr, SI_MAGIC, 4);
  hdr[4] = (unsigned char)(s->C & 0xff);
  hdr[5] = (unsigned char)((s->C >> 8) & 0xff);
  hdr[6] = hdr[7] = 0;
  if (fwrite (hdr, 1, 8, out) != 8)
    return gs_host->error (GS_EIO, SI_ID ": write failed");
  for (k = 0; k < s->C; k++)
    {
      unsigned char has = s->m[k] ? 1 : 0;
      if (fwrite (&has, 1, 1, out) != 1)
        return gs_host->error (GS_EIO, SI_ID ": write failed");
      if (has && (rc = gs_iae_save (s->m[k], out)) != GS_OK)
        return rc;
    }
  return GS_OK;
}

static int
si_load (void *vstate, FILE *in)
{
  si_state_t *s = (si_state_t *)vstate;
  unsigned char hdr[8];
  size_t k, C;
  int rc;
  if (fread (hdr, 1, 8, in) != 8 || memcmp (hdr, SI_MAGIC, 4) != 0)
    return gs_host->error (GS_EFORMAT,
                           SI_ID ": not a SEMSUN-i model (bad header)");
  C = (size_t)hdr[4] | ((size_t)hdr[5] << 8);
  if (C != s->C)
    return gs_host->error (GS_EFORMAT,
                           SI_ID ": the model holds %zu nuclides, the "
                                 "library %zu; use the library it was "
                                 "trained with",
                           C, s->C);
  for (k = 0; k < C; k++)
    {
      unsigned char has;
      gs_iae_free (s->m[k]);
      s->m[k] = NULL;
      if (fread (&has, 1, 1, in) != 1 || has > 1)
        return gs_host->error (GS_EFORMAT, SI_ID ": truncated model");
      if (!has)
        continue;
      rc = gs_iae_load (in, &s->m[k]);
      if (rc != GS_OK)
        return rc;
      if (gs_iae_get_config (s->m[k])->n_components != 1
          || strcmp (gs_iae_get_config (s->m[k])->names[0],
                     s->lib->names[k + 1])
                 != 0)
        return gs_host->error (GS_EFORMAT,
                               SI_ID ": model %zu is of %s, the library's "
                                     "component %zu is %s",
                               k, gs_iae_get_config (s->m[k])->names[0], k + 1,
                               s->lib->names[k + 1]);
    }
  s->trained = 1;
  return GS_OK;
}

static size_t
si_workspace_size (const void *vstate)
{
  (void)vstate;
  return 0; /* gs_semsun_i_ws is allocated per spectrum (its fits take
               tens of milliseconds or more: the allocation is noise) */
}

static int
si_analyze (const void *vstate, void *work, const double *y, size_t n,
            gs_result *res)
{
  const si_state_t *s = (const si_state_t *)vstate;
  const gs_library_view *lib = s->lib;
  size_t K = lib->n_components, k, nf = 0;
  double a0[SI_MAXC], total = 0, lsum = 0;
  gs_semsun_i_ws *w = NULL;
  gs_semsun_i_fit fit;
  int rc;
  (void)work;
  if (!s->trained)
    return gs_host->error (GS_EINVAL,
                           SI_ID ": no models; train the method first "
                                 "(gspec train) or load a model "
                                 "(--model)");
  if (n != lib->n_channels)
    return gs_host->error (GS_EBADLEN,
                           SI_ID ": spectrum has %zu channels, the library "
                                 "%zu",
                           n, lib->n_channels);
  rc = gs_semsun_i_ws_alloc ((const gs_iae *const *)s->m, s->C, n, &w);
  if (rc != GS_OK)
    return rc;
  for (k = 0; k < n; k++)
    total += y[k];
  for (k = 0; k < K; k++)
    a0[k] = total / (double)K;
  rc = gs_semsun_i_bcd (w, y, n, lib->signatures, K, a0, &s->o, &fit, NULL);
  gs_semsun_i_ws_free (w);
  if (rc != GS_OK)
    return rc;
  for (k = 0; k < K; k++)
    {
      res->counts[k] = fit.a[k];
      res->std[k] = NAN;
    }
  for (k = 0; k < s->C; k++)
    if (isfinite (fit.lambda[k][0]))
      {
        lsum += fit.lambda[k][0];
        nf++;
      }
  res->extras[0] = (double)fit.iterations;
  res->extras[1] = nf ? lsum / (double)nf : NAN;
  res->extras[2] = (double)nf;
  return GS_OK;
}

static const gs_method_type si_type = {
  .struct_size = sizeof (gs_method_type),
  .id = SI_ID,
  .summary = "SemSun-i: counts of every library component with one trained "
             "IAE per nuclide (BCD, individual lambdas)",
  .kinds = GS_KIND_QUANTIFY | GS_KIND_VARIABILITY,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = si_params,
  .params_size = sizeof (si_params_t),
  .state_size = sizeof (si_state_t),
  .extras = si_extras,
  .alloc = si_alloc,
  .free = si_free,
  .workspace_size = si_workspace_size,
  .train = si_train,
  .save = si_save,
  .load = si_load,
  .analyze = si_analyze,
};

GS_PLUGIN_DEFINE ("variability-semsun-i", "1.0.0", "MIT", &si_type)
