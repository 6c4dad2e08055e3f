/* IAE training configs for `gspec train` (iae_jobs.h).
 *
 *   iae_training:
 *     root: ${GSPEC_DATA:-../../shared/data}/gammabench
 *     seed: 7
 *     thicknesses: scenario2-train   # or all, or a list of indices
 *     threads: 1                     # engine threads (same weights at any)
 *     models:
 *       - name: semsun
 *         kind: individual           # or joint
 *         nuclides: [Co60, Ba133, Co57, Cs137]
 *         max_channels: [800, 250, 100, 400]
 *         epochs: 3000               # + batch, lr, mu, snr_db, length,
 *                                    #   fsize, fstride, fnum, rho
 *   outputs: {dir: outputs/iae}
 *
 * Files: DIR/models/<name>.gsia (joint) or <name>-<nuclide>.gsia
 * (individual).  Architectures (defaults): joint models on 1024 channels
 * the authors' 12-nuclide one (kernels 4 4 6 6 6 6 8, strides 1 1 2 2 2 2
 * 2, channels 12 12 16 16 16 16 20, rho 0.5 0.1 0.05 0.01 0.01 0.005);
 * individual models cover channels 0 .. max channel - 1 with the SEMSUN
 * paper's individual layout (gs_iae_individual_layout).  Anchors:
 * the thinnest and the thickest training thickness.  Held-out thicknesses
 * (those not trained on) are reconstructed by fast interpolation and
 * their NMSE reported per nuclide (median, 25th and 75th percentiles), as
 * the SEMSUN paper's Table 1. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "gspec/iae.h"
#include "gspec/iae_train.h"
#include "gspec/library.h"
#include "gspec/scenario.h"
#include "gspec/status.h"
#include "iae_jobs.h"
#include "util.h"
#include "yamltree.h"

#define IJ_MAX_NUC 16
#define IJ_MAX_MODELS 16

int
gs_iae_jobs_detect (const char *config)
{
  gs_ynode *root = NULL;
  int found;
  if (gs_yaml_load_file (config, &root) != GS_OK)
    {
      gs_error_clear ();
      return 0;
    }
  found = root && root->kind == GS_YNODE_MAPPING
          && gs_ynode_get (root, "iae_training") != NULL;
  gs_ynode_free (root);
  return found;
}

static const gs_yschema ij_ints
    = { NULL, GS_YS_INT, 0, 1, 4096, NULL, NULL, NULL, "value" };
static const gs_yschema ij_reals
    = { NULL, GS_YS_REAL, 0, 0, 10, NULL, NULL, NULL, "value" };
static const gs_yschema ij_strings
    = { NULL, GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL, "nuclide" };

static const gs_yschema ij_model_keys[]
    = { { "name", GS_YS_STRING, 1, 0, -1, NULL, NULL, NULL,
          "file name stem of the model(s)" },
        { "kind", GS_YS_ENUM, 1, 0, -1, "joint|individual", NULL, NULL,
          "joint: one model for all nuclides; individual: one per nuclide" },
        { "nuclides", GS_YS_SEQ, 1, 0, -1, NULL, NULL, &ij_strings,
          "GammaBench nuclide names" },
        { "max_channels", GS_YS_SEQ, 0, 0, -1, NULL, NULL, &ij_ints,
          "per nuclide: zero its signature from this channel on (default: the "
          "spec's 12-nuclide list, 1024 for others)" },
        { "length", GS_YS_INT, 0, 8, 1024, NULL, NULL, NULL,
          "joint: channels modelled (default 1024)" },
        { "epochs", GS_YS_INT, 0, 1, 10000000, NULL, NULL, NULL, "epochs" },
        { "batch", GS_YS_INT, 0, 1, 100000, NULL, NULL, NULL, "batch size" },
        { "accumulate", GS_YS_INT, 0, 1, 1000, NULL, NULL, NULL,
          "batches per optimiser step" },
        { "lr", GS_YS_REAL, 0, 1e-8, 1, NULL, NULL, NULL,
          "Adam learning rate" },
        { "mu", GS_YS_REAL, 0, 0, 10, NULL, NULL, NULL,
          "weight of the latent-consistency term" },
        { "snr_db", GS_YS_REAL, 0, 0, 200, NULL, NULL, NULL,
          "training noise (dB); 0 turns the noise off" },
        { "fsize", GS_YS_SEQ, 0, 0, -1, NULL, NULL, &ij_ints, "kernel sizes" },
        { "fstride", GS_YS_SEQ, 0, 0, -1, NULL, NULL, &ij_ints, "strides" },
        { "fnum", GS_YS_SEQ, 0, 0, -1, NULL, NULL, &ij_ints, "channels" },
        { "rho", GS_YS_SEQ, 0, 0, -1, NULL, NULL, &ij_reals,
          "lateral weights (layers - 1 values)" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema ij_model_schema
    = { "model", GS_YS_MAP, 0, 0, 0, NULL, ij_model_keys, NULL, NULL };

static const gs_yschema ij_train_keys[]
    = { { "root", GS_YS_STRING, 1, 0, -1, NULL, NULL, NULL,
          "GammaBench data folder" },
        { "seed", GS_YS_INT, 0, 0, 9.2e18, NULL, NULL, NULL,
          "seed (default 1)" },
        { "thicknesses", GS_YS_ANY, 0, 0, -1, NULL, NULL, NULL,
          "scenario2-train (default), all, or a list of indices 0..95" },
        { "threads", GS_YS_INT, 0, 1, 1024, NULL, NULL, NULL,
          "engine threads (the weights do not depend on it)" },
        { "report_every", GS_YS_INT, 0, 1, 10000000, NULL, NULL, NULL,
          "epochs between loss reports (default epochs / 20)" },
        { "models", GS_YS_SEQ, 1, 0, -1, NULL, NULL, &ij_model_schema,
          "models to train" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema ij_outputs_keys[]
    = { { "dir", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL, "output folder" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema ij_root_keys[]
    = { { "name", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL, "name" },
        { "iae_training", GS_YS_MAP, 1, 0, 0, NULL, ij_train_keys, NULL,
          "IAE training" },
        { "outputs", GS_YS_MAP, 0, 0, 0, NULL, ij_outputs_keys, NULL,
          "outputs" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema ij_root_schema
    = { "config", GS_YS_MAP, 1, 0, 0, NULL, ij_root_keys, NULL, NULL };

typedef struct ij_ctx
{
  const char *label;
  int quiet, lines; /* lines: one line per report (parallel tasks) */
  gs__buf *curve;   /* JSON array of [epoch, loss] */
  int first;
} ij_ctx;

static int
ij_progress (void *user, int epoch, double loss, double val_loss)
{
  ij_ctx *c = (ij_ctx *)user;
  (void)val_loss;
  if (!c->quiet)
    fprintf (stderr, "%sgspec train: %s: epoch %d, loss %.4f%s",
             c->lines ? "" : "\r", c->label, epoch, loss,
             c->lines ? "\n" : "   ");
  gs__buf_printf (c->curve, "%s[%d, ", c->first ? "" : ", ", epoch);
  gs__buf_json_number (c->curve, loss);
  gs__buf_puts (c->curve, "]");
  c->first = 0;
  return 0;
}

static int
ij_list_ints (const gs_ynode *n, const char *what, int *out, int cap,
              int *count)
{
  size_t i;
  *count = 0;
  if (!n)
    return GS_OK;
  if (n->kind != GS_YNODE_SEQUENCE || n->n < 1 || n->n > (size_t)cap)
    {
      char where[256];
      gs_ynode_where (n, where, sizeof where);
      return gs_error (GS_ECONFIG, "%s: '%s' must list 1 to %d values", where,
                       what, cap);
    }
  for (i = 0; i < n->n; i++)
    {
      long v;
      int rc = gs_ynode_as_long (n->items[i], what, 0, 4096, &v);
      if (rc != GS_OK)
        return rc;
      out[i] = (int)v;
    }
  *count = (int)n->n;
  return GS_OK;
}

/* Median, 25th and 75th percentiles of v[0..n) (sorted in place). */
static void
ij_quartiles (double *v, size_t n, double *q)
{
  gsl_sort (v, 1, n);
  q[0] = gsl_stats_quantile_from_sorted_data (v, 1, n, 0.5);
  q[1] = gsl_stats_quantile_from_sorted_data (v, 1, n, 0.25);
  q[2] = gsl_stats_quantile_from_sorted_data (v, 1, n, 0.75);
}

typedef struct ij_job
{
  const char *root;
  uint64_t seed;
  int threads, report_every, quiet;
  const int *train_idx;
  int n_train;
  const int *held_idx;
  int n_held;
  const char *dir;
  int lines; /* tasks run in parallel: progress one line per report */
} ij_job;

/* One model to train (a joint model, or one nuclide of an individual
 * one), with its own report fragments: tasks run on worker threads and
 * the fragments are joined in config order. */
typedef struct ij_task
{
  const gs_ynode *mn;
  char *file;
  const char *names[IJ_MAX_NUC];
  size_t maxch[IJ_MAX_NUC];
  int C, L, individual, threads, rc;
  uint64_t seed;
  gs__buf md, js;
  char *err;
} ij_task;

/* Trains one model on nuclides names[0..C) (channels [0, L)), saves it to
 * DIR/models/<file>.gsia, reports. */
static int
ij_train_one (const ij_job *j, const gs_ynode *mn, const char *file,
              const char *const *names, int C, const size_t *maxch, int L,
              int individual, uint64_t seed, int threads, gs__buf *md,
              gs__buf *js)
{
  gs_iae_config cfg;
  gs_iae_train_opts to;
  gs_iae_train_report rep;
  gs_iae *m = NULL;
  gs_nn_opts no;
  float *fam = NULL, *anc = NULL, *xrec = NULL;
  double *nm = NULL, lam[GS_IAE_MAX_ANCHORS];
  const gs_ynode *v;
  size_t per = (size_t)L * (size_t)C, i;
  int k, t, cnt, ints[GS_IAE_MAX_LAYERS], rc;
  gs__buf curve;
  ij_ctx ctx;
  char *path = NULL, *mdir = NULL;
  void *work = NULL;
  size_t wb;
  long lv;
  double dv;

  gs_iae_config_init (&cfg);
  cfg.n_components = C;
  for (k = 0; k < C; k++)
    snprintf (cfg.names[k], sizeof cfg.names[k], "%s", names[k]);
  cfg.length = L;
  cfg.n_anchors = 2;
  if (individual)
    gs_iae_individual_layout (&cfg);
  else
    {
      static const int fs[7] = { 4, 4, 6, 6, 6, 6, 8 };
      static const int st[7] = { 1, 1, 2, 2, 2, 2, 2 };
      static const int fn[7] = { 12, 12, 16, 16, 16, 16, 20 };
      static const double rho[6] = { 0.5, 0.1, 0.05, 0.01, 0.01, 0.005 };
      cfg.n_layers = 7;
      for (k = 0; k < 7; k++)
        {
          cfg.fsize[k] = fs[k];
          cfg.fstride[k] = st[k];
          cfg.fnum[k] = fn[k];
        }
      for (k = 0; k < 6; k++)
        cfg.rho[k] = rho[k];
    }
  if ((rc = ij_list_ints (gs_ynode_get (mn, "fsize"), "fsize", ints,
                          GS_IAE_MAX_LAYERS, &cnt))
      != GS_OK)
    return rc;
  if (cnt)
    {
      cfg.n_layers = cnt;
      for (k = 0; k < cnt; k++)
        cfg.fsize[k] = ints[k];
    }
  if ((rc = ij_list_ints (gs_ynode_get (mn, "fstride"), "fstride", ints,
                          GS_IAE_MAX_LAYERS, &cnt))
      != GS_OK)
    return rc;
  for (k = 0; k < cnt; k++)
    cfg.fstride[k] = ints[k];
  if ((rc = ij_list_ints (gs_ynode_get (mn, "fnum"), "fnum", ints,
                          GS_IAE_MAX_LAYERS, &cnt))
      != GS_OK)
    return rc;
  for (k = 0; k < cnt; k++)
    cfg.fnum[k] = ints[k];
  if ((v = gs_ynode_get (mn, "rho")))
    for (i = 0; i < v->n && i < GS_IAE_MAX_LAYERS; i++)
      if ((rc = gs_ynode_as_double (v->items[i], "rho", 0, 10, &cfg.rho[i]))
          != GS_OK)
        return rc;
  rc = gs_iae_config_check (&cfg, NULL);
  if (rc != GS_OK)
    return gs_error_prefix (rc, "model %s", file);

  fam = (float *)malloc ((size_t)j->n_train * per * sizeof (float));
  anc = (float *)malloc (2 * per * sizeof (float));
  if (!fam || !anc)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  rc = gs_iae_family_gammabench (j->root, names, C, maxch, L, j->train_idx,
                                 j->n_train, fam);
  if (rc != GS_OK)
    goto done;
  gs_iae_family_anchors (fam, per, j->train_idx, j->n_train, anc);
  gs_nn_opts_init (&no);
  no.seed = seed;
  rc = gs_iae_create (&cfg, anc, &no, &m);
  if (rc != GS_OK)
    goto done;

  gs_iae_train_opts_init (&to);
  if (individual)
    {
      to.batch_size = 36;
      to.accumulate = 2;
      to.snr_db = 20;
      to.mu = 3e-4;
    }
  to.epochs = 3000;
  if ((v = gs_ynode_get (mn, "epochs"))
      && gs_ynode_as_long (v, "epochs", 1, 10000000, &lv) == GS_OK)
    to.epochs = (int)lv;
  if ((v = gs_ynode_get (mn, "batch"))
      && gs_ynode_as_long (v, "batch", 1, 100000, &lv) == GS_OK)
    to.batch_size = (int)lv;
  if ((v = gs_ynode_get (mn, "accumulate"))
      && gs_ynode_as_long (v, "accumulate", 1, 1000, &lv) == GS_OK)
    to.accumulate = (int)lv;
  if ((v = gs_ynode_get (mn, "lr"))
      && gs_ynode_as_double (v, "lr", 1e-8, 1, &dv) == GS_OK)
    to.lr = dv;
  if ((v = gs_ynode_get (mn, "mu"))
      && gs_ynode_as_double (v, "mu", 0, 10, &dv) == GS_OK)
    to.mu = dv;
  if ((v = gs_ynode_get (mn, "snr_db"))
      && gs_ynode_as_double (v, "snr_db", 0, 200, &dv) == GS_OK)
    {
      to.snr_db = dv;
      to.noise = dv > 0;
    }
  to.seed = seed ^ 0x5DEECE66DULL;
  to.threads = threads;
  to.report_every = j->report_every > 0 ? j->report_every
                    : to.epochs >= 20   ? to.epochs / 20
                                        : 1;
  gs__buf_init (&curve);
  ctx.label = file;
  ctx.quiet = j->quiet;
  ctx.lines = j->lines;
  ctx.curve = &curve;
  ctx.first = 1;
  to.progress = ij_progress;
  to.user = &ctx;
  rc = gs_iae_train (m, fam, j->n_train, L, C, &to, &rep);
  if (!j->quiet && !j->lines)
    fputc ('\n', stderr);
  if (rc != GS_OK)
    {
      gs__buf_fini (&curve);
      goto done;
    }

  /* Held-out thicknesses: fast interpolation, NMSE per nuclide. */
  wb = gs_iae_work_bytes (m, 1);
  work = malloc (wb ? wb : 1);
  xrec = (float *)malloc (per * sizeof (float));
  nm = (double *)malloc ((size_t)(j->n_held > 0 ? j->n_held : 1) * (size_t)C
                         * sizeof (double));
  free (fam);
  fam = (float *)malloc ((size_t)(j->n_held > 0 ? j->n_held : 1) * per
                         * sizeof (float));
  if (!work || !xrec || !nm || !fam)
    {
      gs__buf_fini (&curve);
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  if (j->n_held > 0)
    rc = gs_iae_family_gammabench (j->root, names, C, maxch, L, j->held_idx,
                                   j->n_held, fam);
  for (t = 0; rc == GS_OK && t < j->n_held; t++)
    {
      const float *x = fam + (size_t)t * per;
      rc = gs_iae_fast_interpolation (m, work, wb, x, 1, lam, xrec, NULL);
      for (k = 0; rc == GS_OK && k < C; k++)
        {
          double num = 0, den = 0;
          for (i = 0; i < (size_t)L; i++)
            {
              double d = (double)x[i * (size_t)C + (size_t)k]
                         - (double)xrec[i * (size_t)C + (size_t)k];
              num += d * d;
              den += (double)x[i * (size_t)C + (size_t)k]
                     * (double)x[i * (size_t)C + (size_t)k];
            }
          nm[(size_t)k * (size_t)j->n_held + (size_t)t]
              = num > 0 ? -10 * log10 (num / den) : 200;
        }
    }
  if (rc != GS_OK)
    {
      gs__buf_fini (&curve);
      goto done;
    }
  mdir = gs__path_join (j->dir, "models");
  if (!mdir || gs__mkdirs (mdir) != GS_OK)
    {
      gs__buf_fini (&curve);
      rc = gs_error (GS_EIO, "cannot create %s", mdir ? mdir : j->dir);
      goto done;
    }
  path = gs__asprintf ("%s/%s.gsia", mdir, file);
  rc = path ? gs_iae_save_file (m, path) : GS_ENOMEM;
  if (rc != GS_OK)
    {
      gs__buf_fini (&curve);
      goto done;
    }
  gs__buf_printf (md, "| %s | %s | %d | %d | %.1f | %.4f | [%.4f, %.4f] |",
                  file, individual ? "individual" : "joint", L, rep.epochs,
                  rep.seconds, rep.loss, rep.bounds[0][0], rep.bounds[0][1]);
  gs__buf_puts (js, "\n    {\"file\": ");
  gs__buf_json_string (js, path);
  gs__buf_printf (js,
                  ", \"kind\": \"%s\", \"length\": %d, \"epochs\": %d, "
                  "\"seconds\": ",
                  individual ? "individual" : "joint", L, rep.epochs);
  gs__buf_json_number (js, rep.seconds);
  gs__buf_puts (js, ", \"loss\": ");
  gs__buf_json_number (js, rep.loss);
  gs__buf_printf (js, ", \"bounds_lambda0\": [%.9g, %.9g], \"nmse_db\": {",
                  rep.bounds[0][0], rep.bounds[0][1]);
  for (k = 0; k < C; k++)
    {
      double q[3] = { NAN, NAN, NAN };
      if (j->n_held > 0)
        ij_quartiles (nm + (size_t)k * (size_t)j->n_held, (size_t)j->n_held, q);
      gs__buf_printf (md, " %s %.1f [%.1f, %.1f]%s", names[k], q[0], q[1], q[2],
                      k + 1 < C ? ";" : "");
      gs__buf_printf (js, "%s\"%s\": [", k ? ", " : "", names[k]);
      gs__buf_json_number (js, q[0]);
      gs__buf_puts (js, ", ");
      gs__buf_json_number (js, q[1]);
      gs__buf_puts (js, ", ");
      gs__buf_json_number (js, q[2]);
      gs__buf_puts (js, "]");
    }
  gs__buf_puts (md, " |\n");
  gs__buf_printf (js, "}, \"curve\": [%s]}", curve.data ? curve.data : "");
  gs__buf_fini (&curve);
  if (!j->quiet)
    fprintf (stderr, "gspec train: wrote %s (%.1f s)\n", path, rep.seconds);
done:
  free (path);
  free (mdir);
  free (work);
  free (xrec);
  free (nm);
  free (fam);
  free (anc);
  gs_iae_free (m);
  return rc;
}

static int
ij_thicknesses (const gs_ynode *n, int *idx, int *count)
{
  int i;
  *count = 0;
  if (!n
      || (n->kind == GS_YNODE_SCALAR
          && strcmp (n->value, "scenario2-train") == 0))
    {
      for (i = 0; i < 62; i++)
        idx[i] = gs_scenario_thickness_train[i];
      *count = 62;
      return GS_OK;
    }
  if (n->kind == GS_YNODE_SCALAR && strcmp (n->value, "all") == 0)
    {
      for (i = 0; i < 96; i++)
        idx[i] = i;
      *count = 96;
      return GS_OK;
    }
  if (n->kind == GS_YNODE_SEQUENCE && n->n >= 3 && n->n <= 96)
    {
      size_t k;
      for (k = 0; k < n->n; k++)
        {
          long v;
          int rc = gs_ynode_as_long (n->items[k], "thicknesses", 0, 95, &v);
          if (rc != GS_OK)
            return rc;
          idx[k] = (int)v;
        }
      *count = (int)n->n;
      return GS_OK;
    }
  {
    char where[256];
    gs_ynode_where (n, where, sizeof where);
    return gs_error (GS_ECONFIG,
                     "%s: 'thicknesses' must be scenario2-train, all, or a "
                     "list of 3 to 96 indices 0..95",
                     where);
  }
}

typedef struct ij_pool
{
  const ij_job *j;
  ij_task *tasks;
  int n, next;
  pthread_mutex_t lock;
} ij_pool;

static void *
ij_worker (void *arg)
{
  ij_pool *P = (ij_pool *)arg;
  for (;;)
    {
      ij_task *T;
      int i;
      pthread_mutex_lock (&P->lock);
      i = P->next++;
      pthread_mutex_unlock (&P->lock);
      if (i >= P->n)
        return NULL;
      T = &P->tasks[i];
      T->rc
          = ij_train_one (P->j, T->mn, T->file, T->names, T->C, T->maxch, T->L,
                          T->individual, T->seed, T->threads, &T->md, &T->js);
      if (T->rc != GS_OK)
        T->err = gs__strdup (gs_last_error ());
    }
}

/* Runs the tasks on min (threads, n) workers (each task's engine gets the
 * threads left over); the seeds are the tasks', so the models do not
 * depend on the split. */
static int
ij_run_tasks (ij_job *j, ij_task *tasks, int n)
{
  ij_pool P;
  pthread_t th[64];
  int w = j->threads < n ? j->threads : n, i, started = 0;
  if (w > 64)
    w = 64;
  if (w < 1)
    w = 1;
  j->lines = w > 1;
  for (i = 0; i < n; i++)
    tasks[i].threads = j->threads / w > 0 ? j->threads / w : 1;
  memset (&P, 0, sizeof P);
  P.j = j;
  P.tasks = tasks;
  P.n = n;
  pthread_mutex_init (&P.lock, NULL);
  for (i = 1; i < w; i++)
    if (pthread_create (&th[i], NULL, ij_worker, &P) == 0)
      started = i;
    else
      break;
  ij_worker (&P);
  for (i = 1; i <= started; i++)
    pthread_join (th[i], NULL);
  pthread_mutex_destroy (&P.lock);
  for (i = 0; i < n; i++)
    if (tasks[i].rc != GS_OK)
      return gs_error (tasks[i].rc, "%s",
                       tasks[i].err ? tasks[i].err : "training failed");
  return GS_OK;
}

int
gs_iae_jobs_run (const gs_run_opts *o)
{
  gs_ynode *root = NULL;
  const gs_ynode *tr, *v, *models;
  ij_job j;
  gs__buf md, js;
  ij_task *tasks = NULL;
  int train_idx[96], held_idx[96], in_train[96], n_train = 0, n_held = 0;
  int rc, t, trained = 0, n_tasks = 0, cap = 0;
  long lv;
  size_t mi;
  const char *dir = NULL;
  char *cfgdir = NULL, *rootpath = NULL, *p;

  memset (&j, 0, sizeof j);
  gs__buf_init (&md);
  gs__buf_init (&js);
  rc = gs_yaml_load_file (o->config, &root);
  for (mi = 0; rc == GS_OK && mi < o->n_overrides; mi++)
    rc = gs_yaml_apply_set (root, o->overrides[mi]);
  if (rc == GS_OK)
    rc = gs_yaml_check (root, &ij_root_schema, "config");
  if (rc != GS_OK)
    goto done;
  tr = gs_ynode_get (root, "iae_training");
  cfgdir = gs__path_dirname (o->config);
  v = gs_ynode_get (tr, "root");
  rootpath = v->value[0] == '/' || !cfgdir
                 ? gs__strdup (v->value)
                 : gs__asprintf ("%s/%s", cfgdir, v->value);
  j.root = rootpath;
  j.seed = 1;
  if ((v = gs_ynode_get (tr, "seed"))
      && gs_ynode_as_long (v, "seed", 0, 9200000000000000000L, &lv) == GS_OK)
    j.seed = (uint64_t)lv;
  j.threads = o->threads > 0 ? o->threads : 1;
  if (o->threads <= 0 && (v = gs_ynode_get (tr, "threads"))
      && gs_ynode_as_long (v, "threads", 1, 1024, &lv) == GS_OK)
    j.threads = (int)lv;
  if ((v = gs_ynode_get (tr, "report_every"))
      && gs_ynode_as_long (v, "report_every", 1, 10000000, &lv) == GS_OK)
    j.report_every = (int)lv;
  j.quiet = o->quiet;
  rc = ij_thicknesses (gs_ynode_get (tr, "thicknesses"), train_idx, &n_train);
  if (rc != GS_OK)
    goto done;
  memset (in_train, 0, sizeof in_train);
  for (t = 0; t < n_train; t++)
    in_train[train_idx[t]] = 1;
  for (t = 0; t < 96; t++)
    if (!in_train[t])
      held_idx[n_held++] = t;
  j.train_idx = train_idx;
  j.n_train = n_train;
  j.held_idx = held_idx;
  j.n_held = n_held;
  dir = o->out_dir;
  if (!dir && (v = gs_ynode_get (root, "outputs"))
      && (v = gs_ynode_get (v, "dir")))
    dir = v->value;
  if (!dir)
    dir = "outputs/iae";
  j.dir = dir;
  gs__buf_printf (&md,
                  "# IAE training (%s)\n\n%d training thicknesses, %d "
                  "held out; seed %llu.\n\n| model | kind | channels | "
                  "epochs | seconds | final loss | lambda_0 range | held-out "
                  "NMSE (dB): median [25th, 75th] |\n|---|---|---:|---:|---:|"
                  "---:|---|---|\n",
                  o->config, n_train, n_held, (unsigned long long)j.seed);
  gs__buf_puts (&js, "{\n  \"models\": [");
  models = gs_ynode_get (tr, "models");
  for (mi = 0; mi < models->n; mi++)
    {
      const gs_ynode *mn = models->items[mi], *nv;
      const char *name = gs_ynode_get (mn, "name")->value;
      const char *kind = gs_ynode_get (mn, "kind")->value;
      const char *names[IJ_MAX_NUC];
      size_t maxch[IJ_MAX_NUC], k, C;
      int mc[IJ_MAX_NUC], n_mc = 0, L = 1024, individual;
      if (o->method && strcmp (o->method, name) != 0)
        continue;
      individual = strcmp (kind, "individual") == 0;
      nv = gs_ynode_get (mn, "nuclides");
      C = nv->n;
      if (C < 1 || C > IJ_MAX_NUC || (!individual && C > GS_IAE_MAX_COMPONENTS))
        {
          char where[256];
          gs_ynode_where (nv, where, sizeof where);
          rc = gs_error (GS_ECONFIG, "%s: 'nuclides' must list 1 to %d names",
                         where, IJ_MAX_NUC);
          goto done;
        }
      rc = ij_list_ints (gs_ynode_get (mn, "max_channels"), "max_channels", mc,
                         IJ_MAX_NUC, &n_mc);
      if (rc != GS_OK)
        goto done;
      if (n_mc && (size_t)n_mc != C)
        {
          char where[256];
          gs_ynode_where (gs_ynode_get (mn, "max_channels"), where,
                          sizeof where);
          rc = gs_error (GS_ECONFIG,
                         "%s: 'max_channels' needs one value per nuclide",
                         where);
          goto done;
        }
      for (k = 0; k < C; k++)
        {
          names[k] = nv->items[k]->value;
          maxch[k]
              = n_mc ? (size_t)mc[k] : gs_gammabench_max_channel (names[k]);
          if (maxch[k] < 1 || maxch[k] > 1024)
            maxch[k] = 1024;
        }
      if ((v = gs_ynode_get (mn, "length"))
          && gs_ynode_as_long (v, "length", 8, 1024, &lv) == GS_OK)
        L = (int)lv;
      for (k = 0; k < (individual ? C : 1); k++)
        {
          ij_task *T;
          size_t q;
          if (n_tasks == cap)
            {
              ij_task *nt;
              cap = cap ? 2 * cap : 8;
              nt = (ij_task *)realloc (tasks, (size_t)cap * sizeof *tasks);
              if (!nt)
                {
                  rc = gs_error (GS_ENOMEM, "out of memory");
                  goto done;
                }
              tasks = nt;
            }
          T = &tasks[n_tasks];
          memset (T, 0, sizeof *T);
          gs__buf_init (&T->md);
          gs__buf_init (&T->js);
          n_tasks++;
          T->mn = mn;
          T->individual = individual;
          if (individual)
            {
              T->file = gs__asprintf ("%s-%s", name, names[k]);
              T->names[0] = names[k];
              T->maxch[0] = maxch[k];
              T->C = 1;
              T->L = (int)maxch[k];
              T->seed = j.seed + 1000003ULL * (mi + 1) + k;
            }
          else
            {
              T->file = gs__strdup (name);
              for (q = 0; q < C; q++)
                {
                  T->names[q] = names[q];
                  T->maxch[q] = maxch[q];
                }
              T->C = (int)C;
              T->L = L;
              T->seed = j.seed + 1000003ULL * (mi + 1);
            }
          if (!T->file)
            {
              rc = gs_error (GS_ENOMEM, "out of memory");
              goto done;
            }
          trained++;
        }
    }
  rc = ij_run_tasks (&j, tasks, n_tasks);
  if (rc != GS_OK)
    goto done;
  for (t = 0; t < n_tasks; t++)
    {
      gs__buf_puts (&md, tasks[t].md.data ? tasks[t].md.data : "");
      if (t)
        gs__buf_puts (&js, ",");
      gs__buf_puts (&js, tasks[t].js.data ? tasks[t].js.data : "");
    }
  if (o->method && !trained)
    {
      rc = gs_error (GS_ECONFIG, "no model named '%s' in %s", o->method,
                     o->config);
      goto done;
    }
  gs__buf_puts (&js, "\n  ]\n}\n");
  gs__buf_puts (&md, "\nNMSE = -10 log10(||s - s_hat||^2 / ||s||^2) of the "
                     "fast-interpolation reconstruction of each held-out "
                     "signature (the SEMSUN paper's Table 1).\n");
  p = gs__path_join (dir, "training.json");
  rc = p ? gs__write_file_atomic (p, js.data, js.len) : GS_ENOMEM;
  free (p);
  if (rc == GS_OK)
    {
      p = gs__path_join (dir, "summary.md");
      rc = p ? gs__write_file_atomic (p, md.data, md.len) : GS_ENOMEM;
      free (p);
    }
  if (rc == GS_OK && !o->quiet)
    fputs (md.data, stdout);
done:
  for (t = 0; t < n_tasks; t++)
    {
      free (tasks[t].file);
      free (tasks[t].err);
      gs__buf_fini (&tasks[t].md);
      gs__buf_fini (&tasks[t].js);
    }
  free (tasks);
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  free (cfgdir);
  free (rootpath);
  gs_ynode_free (root);
  return rc;
}
