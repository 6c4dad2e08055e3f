/* `gspec study` (study.h): the SEMSUN paper's Monte-Carlo design.
 *
 * Data.  The signatures come from the GammaBench steel-sphere files
 * (gs_gammabench_read_signature: 1024 channels of 2 keV from 20 keV, each
 * nuclide cut at its max channel) and the measured background, all
 * normalised to sum 1.  The truth T has every nuclide at
 * truth_thickness_index, the start X0 at start_thickness_index; the
 * expected spectrum is total * (w_0 bkg + sum_k w_k T_k) and every
 * Monte-Carlo spectrum is a Poisson draw of it.  Spectrum i of level l
 * draws from its own generator (gsl_rng_mt19937 seeded from seed, l and
 * i), so the numbers do not depend on the thread count.
 *
 * Methods (each from X0; counts are compared with w_k * total):
 *   oracle    gs_nnpu with the true signatures;
 *   nnpu      gs_nnpu with the start signatures (no variability);
 *   nmf       gs_nmf_poisson from (X0, the nnpu counts);
 *   semsun-j  gs_semsun_bcd with a joint IAE on the support {background,
 *             the study's nuclides} (a model with more nuclides, such as
 *             the authors' 12-nuclide one, is used on its matching
 *             columns);
 *   semsun-i  gs_semsun_i_bcd with one IAE per nuclide.
 * NMSE (dB) = -10 log10 (||s - s_hat||^2 / ||s||^2) over the 1024
 * channels for every nuclide whose signature the method estimates. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "gspec/iae.h"
#include "gspec/library.h"
#include "gspec/poisson.h"
#include "gspec/semsun.h"
#include "gspec/semsun_i.h"
#include "gspec/status.h"
#include "study.h"
#include "util.h"
#include "yamltree.h"

#define ST_MAX_NUC 16
#define ST_MAX_LEVELS 8
#define ST_MAX_METHODS 8
#define ST_N 1024

typedef enum st_kind
{
  ST_ORACLE,
  ST_NNPU,
  ST_NMF,
  ST_SEMSUN_J,
  ST_SEMSUN_I
} st_kind;

static const char *const st_kind_names[]
    = { "oracle", "nnpu", "nmf", "semsun-j", "semsun-i" };

typedef struct st_method
{
  st_kind kind;
  char label[64];
  double tol;
  int niter_max_out, max_iter, n_grid;
  double tol_bsp;
  gs_iae *joint;          /* semsun-j */
  size_t map[ST_MAX_NUC]; /* semsun-j: study nuclide -> model comp */
  size_t Km;              /* semsun-j: model columns */
  double *X0m;            /* semsun-j: n x Km start */
  size_t maxch_m[GS_SEMSUN_MAX_COLS];
  gs_iae *ind[ST_MAX_NUC]; /* semsun-i */
  char source[4096];       /* model path(s), for the report */
} st_method;

typedef struct st_result
{
  double a[ST_MAX_NUC + 1];
  double nmse[ST_MAX_NUC];
  double lambda[ST_MAX_NUC];
  double seconds;
  int iterations;
  int status;
} st_result;

typedef struct st_study
{
  char cfgdir[4096]; /* relative paths are resolved from here */
  char name[128];
  unsigned long long seed;
  long spectra;
  size_t n_levels;
  double totals[ST_MAX_LEVELS];
  char root[4096];
  size_t C, K;
  char nuc[ST_MAX_NUC][32];
  double w[ST_MAX_NUC + 1];
  size_t maxch[ST_MAX_NUC];
  long truth_idx, start_idx;
  size_t n_methods;
  st_method m[ST_MAX_METHODS];
  double *T, *X0, *mu; /* n x K, n x K, n (expected shape, sums to 1) */
  st_result *res;      /* [level][method][spectrum] */
  int threads;
  /* work distribution */
  pthread_mutex_t lock;
  long next, done, total_tasks;
  int quiet, failed_rc;
  char failed_msg[512];
} st_study;

void
gs_study_opts_init (gs_study_opts *o)
{
  memset (o, 0, sizeof *o);
}

static st_result *
st_res (st_study *s, size_t level, size_t method, long i)
{
  return s->res
         + ((level * s->n_methods + method) * (size_t)s->spectra + (size_t)i);
}

/* ---- configuration ------------------------------------------------------ */

static const gs_yschema st_method_keys[] = {
  { "id", GS_YS_ENUM, 1, 0, 0, "oracle|nnpu|nmf|semsun-j|semsun-i", NULL, NULL,
    "the method" },
  { "label", GS_YS_STRING, 0, 0, 0, NULL, NULL, NULL, "name in the report" },
  { "iae", GS_YS_STRING, 0, 0, 0, NULL, NULL, NULL,
    "semsun-j: a joint IAE (our model file, or the authors' export "
    "iae_weights.json)" },
  { "models", GS_YS_SEQ, 0, 0, 0, NULL, NULL, NULL,
    "semsun-i: one IAE model file per nuclide, in the study's order" },
  { "tol", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL, "stopping tolerance" },
  { "niter_max_out", GS_YS_INT, 0, 1, GS_SEMSUN_MAX_OUTER, NULL, NULL, NULL,
    "outer iterations" },
  { "max_iter", GS_YS_INT, 0, 0, 10000000, NULL, NULL, NULL,
    "nmf: iterations" },
  { "n_grid", GS_YS_INT, 0, 3, 1001, NULL, NULL, NULL, "BSP grid" },
  { "tol_bsp", GS_YS_REAL, 0, 1e-15, 1, NULL, NULL, NULL,
    "Brent's interval tolerance on lambda_0 (default the library's, 1e-5)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};
static const gs_yschema st_method_schema
    = { "method", GS_YS_MAP, 0, 0, 0, NULL, st_method_keys, NULL, NULL };

static const gs_yschema st_study_keys[] = {
  { "name", GS_YS_STRING, 0, 0, 0, NULL, NULL, NULL, "study name" },
  { "seed", GS_YS_INT, 1, 0, 1e18, NULL, NULL, NULL, "random seed" },
  { "spectra", GS_YS_INT, 1, 1, 10000000, NULL, NULL, NULL,
    "Monte-Carlo spectra per level" },
  { "totals", GS_YS_SEQ, 1, 0, 0, NULL, NULL, NULL,
    "expected total counts of each level" },
  { "root", GS_YS_STRING, 1, 0, 0, NULL, NULL, NULL, "GammaBench data folder" },
  { "nuclides", GS_YS_SEQ, 1, 0, 0, NULL, NULL, NULL, "nuclides" },
  { "weights", GS_YS_SEQ, 1, 0, 0, NULL, NULL, NULL,
    "mixing weights, background first" },
  { "max_channels", GS_YS_SEQ, 0, 0, 0, NULL, NULL, NULL,
    "per nuclide: zero the signature from this channel on" },
  { "truth_thickness_index", GS_YS_INT, 1, 0, 95, NULL, NULL, NULL,
    "true thickness (index into the 96 steel thicknesses)" },
  { "start_thickness_index", GS_YS_INT, 1, 0, 95, NULL, NULL, NULL,
    "start thickness" },
  { "threads", GS_YS_INT, 0, 0, 1024, NULL, NULL, NULL, "threads" },
  { "methods", GS_YS_SEQ, 1, 0, 0, NULL, NULL, &st_method_schema, "methods" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};
static const gs_yschema st_outputs_keys[]
    = { { "dir", GS_YS_STRING, 0, 0, 0, NULL, NULL, NULL, "output folder" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema st_root_keys[]
    = { { "study", GS_YS_MAP, 1, 0, 0, NULL, st_study_keys, NULL,
          "the Monte-Carlo study" },
        { "outputs", GS_YS_MAP, 0, 0, 0, NULL, st_outputs_keys, NULL,
          "outputs" },
        { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL } };
static const gs_yschema st_root_schema
    = { "config", GS_YS_MAP, 1, 0, 0, NULL, st_root_keys, NULL, NULL };

static int
st_positioned (const gs_ynode *n, int rc, const char *fmt, const char *arg)
{
  char where[256];
  gs_ynode_where (n, where, sizeof where);
  return gs_error (rc, "%s: %s%s", where, fmt, arg ? arg : "");
}

/* path, resolved from the config's folder when relative, into out
 * (truncation: out is emptied, and the open that follows names it). */
static void
st_path (const st_study *s, const char *path, char *out, size_t size)
{
  size_t a = strlen (s->cfgdir), b = strlen (path);
  if (path[0] == '/' || a == 0)
    a = 0;
  if (a + b + 2 > size)
    {
      out[0] = 0;
      return;
    }
  if (a)
    {
      memcpy (out, s->cfgdir, a);
      out[a++] = '/';
    }
  memcpy (out + a, path, b + 1);
}

/* Loads an IAE: the authors' export (a .json with its .f32 beside) or our
 * model file. */
static int
st_load_iae (const char *path, gs_iae **out)
{
  size_t n = strlen (path);
  if (n > 5 && strcmp (path + n - 5, ".json") == 0)
    {
      char *f32 = gs__strdup (path);
      int rc;
      if (!f32)
        return gs_error (GS_ENOMEM, "out of memory");
      memcpy (f32 + n - 5, ".f32\0", 5);
      rc = gs_iae_import_pretrained (path, f32, out);
      free (f32);
      return rc;
    }
  return gs_iae_load_file (path, out);
}

static int
st_parse_method (st_study *s, const gs_ynode *mn, st_method *m)
{
  const char *id, *str;
  gs_ynode *v;
  long l;
  size_t k;
  int rc;
  memset (m, 0, sizeof *m);
  gs_ynode_as_string (gs_ynode_get (mn, "id"), "id", &id);
  for (k = 0; k < 5; k++)
    if (strcmp (id, st_kind_names[k]) == 0)
      m->kind = (st_kind)k;
  snprintf (m->label, sizeof m->label, "%s", id);
  if ((v = gs_ynode_get (mn, "label"))
      && gs_ynode_as_string (v, "label", &str) == GS_OK)
    snprintf (m->label, sizeof m->label, "%s", str);
  m->tol = m->kind == ST_NMF ? 1e-6 : m->kind == ST_SEMSUN_I ? 1e-5 : 1e-6;
  m->niter_max_out = 30;
  m->max_iter = 1000;
  m->n_grid = 11;
  {
    gs_semsun_opts d;
    gs_semsun_opts_init (&d);
    m->tol_bsp = d.tol_bsp; /* the library's (gspec/semsun.h) */
  }
  if ((v = gs_ynode_get (mn, "tol")))
    gs_ynode_as_double (v, "tol", 0, 1, &m->tol);
  if ((v = gs_ynode_get (mn, "tol_bsp")))
    gs_ynode_as_double (v, "tol_bsp", 1e-15, 1, &m->tol_bsp);
  if ((v = gs_ynode_get (mn, "niter_max_out"))
      && gs_ynode_as_long (v, "niter_max_out", 1, GS_SEMSUN_MAX_OUTER, &l)
             == GS_OK)
    m->niter_max_out = (int)l;
  if ((v = gs_ynode_get (mn, "max_iter"))
      && gs_ynode_as_long (v, "max_iter", 0, 10000000, &l) == GS_OK)
    m->max_iter = (int)l;
  if ((v = gs_ynode_get (mn, "n_grid"))
      && gs_ynode_as_long (v, "n_grid", 3, 1001, &l) == GS_OK)
    m->n_grid = (int)l;
  if (m->kind == ST_SEMSUN_J)
    {
      const gs_iae_config *cfg;
      size_t c, j, i, L;
      const float *anc;
      v = gs_ynode_get (mn, "iae");
      if (!v)
        return st_positioned (mn, GS_ECONFIG,
                              "semsun-j needs 'iae' (a joint IAE model "
                              "file or the authors' iae_weights.json)",
                              NULL);
      gs_ynode_as_string (v, "iae", &str);
      st_path (s, str, m->source, sizeof m->source);
      str = m->source;
      rc = st_load_iae (str, &m->joint);
      if (rc != GS_OK)
        return gs_error_prefix (rc, "semsun-j");
      cfg = gs_iae_get_config (m->joint);
      L = (size_t)cfg->length;
      if (L != ST_N || cfg->n_anchors != 2)
        return gs_error (GS_EUNSUPPORTED,
                         "semsun-j: the IAE %s decodes %zu channels with %d "
                         "anchors; the study needs %d channels and 2 "
                         "anchors",
                         str, L, cfg->n_anchors, ST_N);
      for (k = 0; k < s->C; k++)
        {
          for (c = 0; c < (size_t)cfg->n_components; c++)
            if (strcmp (cfg->names[c], s->nuc[k]) == 0)
              break;
          if (c == (size_t)cfg->n_components)
            return gs_error (GS_ECONFIG,
                             "semsun-j: the IAE %s has no component %s; "
                             "train a joint model on the study's nuclides",
                             str, s->nuc[k]);
          m->map[k] = c;
        }
      m->Km = (size_t)cfg->n_components + 1;
      m->X0m = (double *)calloc (ST_N * m->Km, sizeof (double));
      if (!m->X0m)
        return gs_error (GS_ENOMEM, "out of memory");
      /* Columns of the model's other nuclides: its anchor 0, normalised
       * (they never enter the support). */
      anc = gs_iae_anchors (m->joint);
      for (c = 0; c < (size_t)cfg->n_components; c++)
        {
          double sum = 0;
          for (i = 0; i < L; i++)
            sum += fabs (anc[i * (m->Km - 1) + c]);
          for (i = 0; i < L; i++)
            m->X0m[i * m->Km + c + 1]
                = sum > 0 ? fabs (anc[i * (m->Km - 1) + c]) / sum : 0;
        }
      for (i = 0; i < L; i++)
        {
          m->X0m[i * m->Km] = s->X0[i * s->K];
          for (k = 0; k < s->C; k++)
            m->X0m[i * m->Km + m->map[k] + 1] = s->X0[i * s->K + k + 1];
        }
      for (j = 0; j < (size_t)cfg->n_components; j++)
        m->maxch_m[j] = 0;
      for (k = 0; k < s->C; k++)
        m->maxch_m[m->map[k]] = s->maxch[k];
    }
  if (m->kind == ST_SEMSUN_I)
    {
      v = gs_ynode_get (mn, "models");
      if (!v || v->kind != GS_YNODE_SEQUENCE || v->n != s->C)
        return st_positioned (mn, GS_ECONFIG,
                              "semsun-i needs 'models': one IAE model file "
                              "per nuclide, in the order of 'nuclides'",
                              NULL);
      m->source[0] = 0;
      for (k = 0; k < s->C; k++)
        {
          const gs_iae_config *cfg;
          char pbuf[4096];
          gs_ynode_as_string (v->items[k], "models[]", &str);
          st_path (s, str, pbuf, sizeof pbuf);
          str = pbuf;
          rc = gs_iae_load_file (str, &m->ind[k]);
          if (rc != GS_OK)
            return gs_error_prefix (rc, "semsun-i, model of %s", s->nuc[k]);
          cfg = gs_iae_get_config (m->ind[k]);
          if (cfg->n_components != 1 || strcmp (cfg->names[0], s->nuc[k]))
            return gs_error (GS_ECONFIG,
                             "semsun-i: %s is a model of %s (%d "
                             "components), not an individual model of %s",
                             str, cfg->names[0], cfg->n_components, s->nuc[k]);
          if (k == 0)
            snprintf (m->source, sizeof m->source, "%s", str);
        }
    }
  return GS_OK;
}

static int
st_seq_doubles (const gs_ynode *n, const char *what, double min, double max,
                double *out, size_t cap, size_t *count)
{
  size_t i;
  *count = 0;
  if (!n || n->kind != GS_YNODE_SEQUENCE || n->n < 1 || n->n > cap)
    return st_positioned (n, GS_ECONFIG, "a non-empty list is needed for ",
                          what);
  for (i = 0; i < n->n; i++)
    {
      int rc = gs_ynode_as_double (n->items[i], what, min, max, &out[i]);
      if (rc != GS_OK)
        return rc;
    }
  *count = n->n;
  return GS_OK;
}

static int
st_load_data (st_study *s)
{
  double *buf = (double *)malloc (ST_N * sizeof (double));
  size_t i, k, K = s->K;
  int rc = GS_OK, pass;
  if (!buf)
    return gs_error (GS_ENOMEM, "out of memory");
  s->T = (double *)calloc (ST_N * K, sizeof (double));
  s->X0 = (double *)calloc (ST_N * K, sizeof (double));
  s->mu = (double *)calloc (ST_N, sizeof (double));
  if (!s->T || !s->X0 || !s->mu)
    {
      free (buf);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  rc = gs_gammabench_read_background (s->root, buf);
  for (pass = 0; rc == GS_OK && pass < 2; pass++)
    {
      double *X = pass ? s->X0 : s->T, sum = 0;
      for (i = 0; i < ST_N; i++)
        sum += buf[i];
      for (i = 0; i < ST_N; i++)
        X[i * K] = buf[i] / sum;
    }
  for (k = 0; rc == GS_OK && k < s->C; k++)
    for (pass = 0; rc == GS_OK && pass < 2; pass++)
      {
        double *X = pass ? s->X0 : s->T, sum = 0;
        rc = gs_gammabench_read_signature (
            s->root, s->nuc[k], (size_t)(pass ? s->start_idx : s->truth_idx), 0,
            s->maxch[k], 1, buf);
        if (rc != GS_OK)
          break;
        for (i = 0; i < ST_N; i++)
          sum += buf[i];
        if (!(sum > 0))
          rc = gs_error (GS_EBADDATA, "study: the %s signature is empty",
                         s->nuc[k]);
        for (i = 0; rc == GS_OK && i < ST_N; i++)
          X[i * K + k + 1] = buf[i] / sum;
      }
  free (buf);
  if (rc != GS_OK)
    return rc;
  for (i = 0; i < ST_N; i++)
    {
      double v = 0;
      for (k = 0; k < K; k++)
        v += s->w[k] * s->T[i * K + k];
      s->mu[i] = v;
    }
  return GS_OK;
}

static int
st_parse (st_study *s, const gs_ynode *root)
{
  const gs_ynode *st = gs_ynode_get (root, "study"), *v;
  const char *str;
  double tmp[ST_MAX_NUC + 1], wsum = 0;
  size_t n = 0, k;
  long l;
  int rc = gs_yaml_check (root, &st_root_schema, "config");
  if (rc != GS_OK)
    return rc;
  snprintf (s->name, sizeof s->name, "study");
  if ((v = gs_ynode_get (st, "name"))
      && gs_ynode_as_string (v, "name", &str) == GS_OK)
    snprintf (s->name, sizeof s->name, "%s", str);
  gs_ynode_as_long (gs_ynode_get (st, "seed"), "seed", 0, 1000000000000000000L,
                    &l);
  s->seed = (unsigned long long)l;
  gs_ynode_as_long (gs_ynode_get (st, "spectra"), "spectra", 1, 10000000,
                    &s->spectra);
  rc = st_seq_doubles (gs_ynode_get (st, "totals"), "totals", 1, 1e12,
                       s->totals, ST_MAX_LEVELS, &s->n_levels);
  if (rc != GS_OK)
    return rc;
  gs_ynode_as_string (gs_ynode_get (st, "root"), "root", &str);
  st_path (s, str, s->root, sizeof s->root);
  v = gs_ynode_get (st, "nuclides");
  if (!v || v->kind != GS_YNODE_SEQUENCE || v->n < 1 || v->n > ST_MAX_NUC)
    return st_positioned (v, GS_ECONFIG,
                          "'nuclides' must list 1 to 16 nuclides", NULL);
  s->C = v->n;
  s->K = s->C + 1;
  for (k = 0; k < s->C; k++)
    {
      gs_ynode_as_string (v->items[k], "nuclides[]", &str);
      snprintf (s->nuc[k], sizeof s->nuc[k], "%s", str);
      s->maxch[k] = ST_N;
    }
  rc = st_seq_doubles (gs_ynode_get (st, "weights"), "weights", 0, 1, s->w,
                       ST_MAX_NUC + 1, &n);
  if (rc != GS_OK)
    return rc;
  if (n != s->K)
    return st_positioned (gs_ynode_get (st, "weights"), GS_ECONFIG,
                          "'weights' needs one weight per nuclide plus the "
                          "background (first)",
                          NULL);
  for (k = 0; k < s->K; k++)
    wsum += s->w[k];
  if (fabs (wsum - 1) > 1e-9)
    return st_positioned (gs_ynode_get (st, "weights"), GS_ECONFIG,
                          "'weights' must sum to 1", NULL);
  for (k = 0; k < s->K; k++)
    if (!(s->w[k] > 0))
      return st_positioned (gs_ynode_get (st, "weights"), GS_ECONFIG,
                            "every weight must be positive (relative "
                            "errors divide by it)",
                            NULL);
  if ((v = gs_ynode_get (st, "max_channels")))
    {
      rc = st_seq_doubles (v, "max_channels", 1, ST_N, tmp, ST_MAX_NUC, &n);
      if (rc != GS_OK)
        return rc;
      if (n != s->C)
        return st_positioned (
            v, GS_ECONFIG, "'max_channels' needs one value per nuclide", NULL);
      for (k = 0; k < s->C; k++)
        s->maxch[k] = (size_t)tmp[k];
    }
  gs_ynode_as_long (gs_ynode_get (st, "truth_thickness_index"),
                    "truth_thickness_index", 0, 95, &s->truth_idx);
  gs_ynode_as_long (gs_ynode_get (st, "start_thickness_index"),
                    "start_thickness_index", 0, 95, &s->start_idx);
  if ((v = gs_ynode_get (st, "threads"))
      && gs_ynode_as_long (v, "threads", 0, 1024, &l) == GS_OK && !s->threads)
    s->threads = (int)l;
  rc = st_load_data (s);
  if (rc != GS_OK)
    return rc;
  v = gs_ynode_get (st, "methods");
  if (v->n < 1 || v->n > ST_MAX_METHODS)
    return st_positioned (v, GS_ECONFIG, "'methods' must list 1 to 8 methods",
                          NULL);
  s->n_methods = v->n;
  for (k = 0; k < v->n; k++)
    {
      rc = st_parse_method (s, v->items[k], &s->m[k]);
      if (rc != GS_OK)
        return rc;
    }
  return GS_OK;
}

/* ---- the Monte-Carlo loop ---------------------------------------------- */

typedef struct st_worker
{
  st_study *s;
  gs_poisson_ws *pw;
  gs_semsun_ws *jw[ST_MAX_METHODS];
  gs_semsun_i_ws *iw[ST_MAX_METHODS];
  double *y, *X, *work;
  gsl_rng *rng;
} st_worker;

static double
st_cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double
st_nmse (const double *s, size_t lds, const double *e, size_t lde)
{
  double num = 0, den = 0;
  size_t i;
  for (i = 0; i < ST_N; i++)
    {
      double d = s[i * lds] - e[i * lde];
      num += d * d;
      den += s[i * lds] * s[i * lds];
    }
  if (num <= 0)
    return INFINITY;
  return -10 * log10 (num / den);
}

static int
st_run_method (st_worker *wk, size_t mi, st_result *r)
{
  st_study *s = wk->s;
  st_method *m = &s->m[mi];
  size_t K = s->K, C = s->C, k;
  const double *y = wk->y;
  gs_nnpu_opts no;
  gs_nnpu_info info;
  gs_semsun_opts o;
  double a[GS_SEMSUN_MAX_COLS], sum = 0;
  int rc = GS_OK;
  for (k = 0; k < ST_N; k++)
    sum += y[k];
  for (k = 0; k < ST_MAX_NUC; k++)
    r->nmse[k] = r->lambda[k] = NAN;
  gs_nnpu_opts_init (&no);
  gs_semsun_opts_init (&o);
  o.tol = m->tol;
  o.niter_max_out = m->niter_max_out;
  o.n_grid = m->n_grid;
  o.tol_bsp = m->tol_bsp;
  switch (m->kind)
    {
    case ST_ORACLE:
    case ST_NNPU:
      rc = gs_nnpu (wk->pw, m->kind == ST_ORACLE ? s->T : s->X0, K, ST_N, NULL,
                    K, y, &no, a, &info);
      if (rc == GS_EMAXITER)
        rc = GS_OK;
      r->iterations = info.iterations;
      if (m->kind == ST_NNPU)
        for (k = 0; k < C; k++)
          r->nmse[k] = st_nmse (s->T + k + 1, K, s->X0 + k + 1, K);
      break;
    case ST_NMF:
      {
        gs_nmf_opts nm;
        memcpy (wk->X, s->X0, ST_N * K * sizeof (double));
        rc = gs_nnpu (wk->pw, s->X0, K, ST_N, NULL, K, y, &no, a, &info);
        if (rc == GS_EMAXITER)
          rc = GS_OK;
        gs_nmf_opts_init (&nm);
        nm.max_iter = m->max_iter;
        nm.tol = m->tol;
        if (rc == GS_OK)
          rc = gs_nmf_poisson (y, ST_N, wk->X, K, a, &nm, wk->work,
                               &r->iterations);
        for (k = 0; rc == GS_OK && k < C; k++)
          r->nmse[k] = st_nmse (s->T + k + 1, K, wk->X + k + 1, K);
        break;
      }
    case ST_SEMSUN_J:
      {
        gs_semsun_fit fit;
        size_t S[GS_SEMSUN_MAX_COLS], Km = m->Km;
        double a0[GS_SEMSUN_MAX_COLS];
        memset (a0, 0, sizeof a0);
        S[0] = 0;
        a0[0] = sum / (double)K;
        for (k = 0; k < C; k++)
          {
            S[k + 1] = m->map[k] + 1;
            a0[m->map[k] + 1] = sum / (double)K;
          }
        o.max_channels = m->maxch_m;
        rc = gs_semsun_bcd (wk->jw[mi], y, ST_N, m->X0m, Km, a0, S, C + 1, NULL,
                            &o, &fit, wk->X);
        if (rc != GS_OK)
          break;
        a[0] = fit.a[0];
        for (k = 0; k < C; k++)
          {
            a[k + 1] = fit.a[m->map[k] + 1];
            r->nmse[k] = st_nmse (s->T + k + 1, K, wk->X + m->map[k] + 1, Km);
          }
        r->lambda[0] = fit.lambda[0];
        r->iterations = fit.iterations;
        break;
      }
    case ST_SEMSUN_I:
      {
        gs_semsun_i_fit fit;
        double a0[GS_SEMSUN_MAX_COLS];
        for (k = 0; k < K; k++)
          a0[k] = sum / (double)K;
        rc = gs_semsun_i_bcd (wk->iw[mi], y, ST_N, s->X0, K, a0, &o, &fit,
                              wk->X);
        if (rc != GS_OK)
          break;
        memcpy (a, fit.a, K * sizeof (double));
        for (k = 0; k < C; k++)
          {
            r->nmse[k] = st_nmse (s->T + k + 1, K, wk->X + k + 1, K);
            r->lambda[k] = fit.lambda[k][0];
          }
        r->iterations = fit.iterations;
        break;
      }
    }
  r->status = rc;
  for (k = 0; k < K; k++)
    r->a[k] = rc == GS_OK ? a[k] : NAN;
  return rc;
}

static void
st_note_failure (st_study *s, int rc, const char *what)
{
  pthread_mutex_lock (&s->lock);
  if (!s->failed_rc)
    {
      s->failed_rc = rc;
      snprintf (s->failed_msg, sizeof s->failed_msg, "%s: %s", what,
                gs_last_error ());
    }
  pthread_mutex_unlock (&s->lock);
}

static void *
st_worker_main (void *arg)
{
  st_worker *wk = (st_worker *)arg;
  st_study *s = wk->s;
  for (;;)
    {
      long t, i;
      size_t level, mi, j;
      double scale;
      pthread_mutex_lock (&s->lock);
      t = s->next < s->total_tasks ? s->next++ : -1;
      pthread_mutex_unlock (&s->lock);
      if (t < 0)
        break;
      level = (size_t)(t / s->spectra);
      i = t % s->spectra;
      scale = s->totals[level];
      gsl_rng_set (wk->rng, (unsigned long)gs__mix64 (
                                s->seed * 0x9E3779B97F4A7C15ULL
                                ^ gs__mix64 (((unsigned long long)level << 40)
                                             + (unsigned long long)i)));
      for (j = 0; j < ST_N; j++)
        wk->y[j] = (double)gsl_ran_poisson (wk->rng, scale * s->mu[j]);
      for (mi = 0; mi < s->n_methods; mi++)
        {
          st_result *r = st_res (s, level, mi, i);
          double t0 = st_cpu_seconds ();
          int rc = st_run_method (wk, mi, r);
          r->seconds = st_cpu_seconds () - t0;
          if (rc != GS_OK)
            {
              char what[160];
              snprintf (what, sizeof what, "%s on spectrum %ld of total %g",
                        s->m[mi].label, i, scale);
              st_note_failure (s, rc, what);
            }
          gs_error_clear ();
        }
      pthread_mutex_lock (&s->lock);
      s->done++;
      if (!s->quiet && (s->done % 20 == 0 || s->done == s->total_tasks))
        fprintf (stderr, "\rgspec study: %ld / %ld spectra", s->done,
                 s->total_tasks);
      pthread_mutex_unlock (&s->lock);
    }
  return NULL;
}

static void
st_worker_free (st_worker *wk)
{
  size_t mi;
  gs_poisson_ws_free (wk->pw);
  for (mi = 0; mi < ST_MAX_METHODS; mi++)
    {
      gs_semsun_ws_free (wk->jw[mi]);
      gs_semsun_i_ws_free (wk->iw[mi]);
    }
  free (wk->y);
  free (wk->X);
  free (wk->work);
  if (wk->rng)
    gsl_rng_free (wk->rng);
}

static int
st_worker_init (st_study *s, st_worker *wk)
{
  size_t mi, Kmax = s->K;
  int rc;
  memset (wk, 0, sizeof *wk);
  wk->s = s;
  for (mi = 0; mi < s->n_methods; mi++)
    if (s->m[mi].kind == ST_SEMSUN_J && s->m[mi].Km > Kmax)
      Kmax = s->m[mi].Km;
  wk->pw = gs_poisson_ws_alloc (ST_N, Kmax);
  wk->y = (double *)malloc (ST_N * sizeof (double));
  wk->X = (double *)malloc (ST_N * Kmax * sizeof (double));
  wk->work
      = (double *)malloc (gs_nmf_work_doubles (ST_N, Kmax) * sizeof (double));
  wk->rng = gsl_rng_alloc (gsl_rng_mt19937);
  if (!wk->pw || !wk->y || !wk->X || !wk->work || !wk->rng)
    return gs_error (GS_ENOMEM, "study: out of memory");
  for (mi = 0; mi < s->n_methods; mi++)
    {
      st_method *m = &s->m[mi];
      if (m->kind == ST_SEMSUN_J)
        {
          rc = gs_semsun_ws_alloc (m->joint, ST_N, &wk->jw[mi]);
          if (rc != GS_OK)
            return rc;
        }
      else if (m->kind == ST_SEMSUN_I)
        {
          rc = gs_semsun_i_ws_alloc ((const gs_iae *const *)m->ind, s->C, ST_N,
                                     &wk->iw[mi]);
          if (rc != GS_OK)
            return rc;
        }
    }
  return GS_OK;
}

/* ---- statistics and report ---------------------------------------------- */

typedef struct st_q
{
  double med, q25, q75, q05, mean;
  size_t n;
} st_q;

static st_q
st_quantiles (double *v, size_t n)
{
  st_q q;
  size_t i, m = 0;
  double s = 0;
  memset (&q, 0, sizeof q);
  for (i = 0; i < n; i++)
    if (!isnan (v[i]))
      v[m++] = v[i];
  q.n = m;
  if (m == 0)
    {
      q.med = q.q25 = q.q75 = q.q05 = q.mean = NAN;
      return q;
    }
  gsl_sort (v, 1, m);
  q.med = gsl_stats_quantile_from_sorted_data (v, 1, m, 0.5);
  q.q25 = gsl_stats_quantile_from_sorted_data (v, 1, m, 0.25);
  q.q75 = gsl_stats_quantile_from_sorted_data (v, 1, m, 0.75);
  q.q05 = gsl_stats_quantile_from_sorted_data (v, 1, m, 0.05);
  for (i = 0; i < m; i++)
    s += isfinite (v[i]) ? v[i] : 0;
  q.mean = s / (double)m;
  return q;
}

static int
st_report (st_study *s, const char *dir, double wall)
{
  gs__buf md, js, csv;
  double *v = (double *)malloc ((size_t)s->spectra * sizeof (double));
  size_t level, mi, k;
  long i;
  char *path;
  int rc = GS_OK;
  if (!v)
    return gs_error (GS_ENOMEM, "out of memory");
  gs__buf_init (&md);
  gs__buf_init (&js);
  gs__buf_init (&csv);
  gs__buf_printf (&md, "# %s\n\n", s->name);
  gs__buf_printf (&md,
                  "Monte-Carlo study (the SEMSUN paper's section 5.1 design): "
                  "%ld spectra per level, seed %llu; background + ",
                  s->spectra, s->seed);
  for (k = 0; k < s->C; k++)
    gs__buf_printf (&md, "%s%s", s->nuc[k], k + 1 < s->C ? ", " : "");
  gs__buf_printf (&md, " with weights ");
  for (k = 0; k < s->K; k++)
    gs__buf_printf (&md, "%g%s", s->w[k], k + 1 < s->K ? ", " : "");
  gs__buf_printf (
      &md,
      "; true signatures at %.3g mm of steel, every method "
      "started from %.3g mm.  Wall time %.1f s on %d thread(s).\n\n",
      gs_gammabench_thickness_mm[s->truth_idx],
      gs_gammabench_thickness_mm[s->start_idx], wall, s->threads);
  gs__buf_printf (&js, "{\n  \"study\": ");
  gs__buf_json_string (&js, s->name);
  gs__buf_printf (&js,
                  ",\n  \"seed\": %llu,\n  \"spectra\": %ld,\n"
                  "  \"levels\": [\n",
                  s->seed, s->spectra);
  gs__buf_puts (&csv, "total,method,spectrum,status,seconds,iterations");
  for (k = 0; k < s->K; k++)
    gs__buf_printf (&csv, ",count_%s", k ? s->nuc[k - 1] : "background");
  for (k = 0; k < s->C; k++)
    gs__buf_printf (&csv, ",nmse_%s", s->nuc[k]);
  for (k = 0; k < s->C; k++)
    gs__buf_printf (&csv, ",lambda0_%s", s->nuc[k]);
  gs__buf_puts (&csv, "\n");
  for (level = 0; level < s->n_levels; level++)
    {
      double tot = s->totals[level];
      gs__buf_printf (&md,
                      "## Total %g counts\n\nNMSE (dB) of the estimated "
                      "signatures: median [25th, 5th percentile]\n\n| "
                      "method |",
                      tot);
      for (k = 0; k < s->C; k++)
        gs__buf_printf (&md, " %s |", s->nuc[k]);
      gs__buf_puts (&md, "\n|---|");
      for (k = 0; k < s->C; k++)
        gs__buf_puts (&md, "---|");
      gs__buf_puts (&md, "\n");
      gs__buf_printf (&js, "    {\"total\": %.17g, \"methods\": [\n", tot);
      for (mi = 0; mi < s->n_methods; mi++)
        {
          st_method *m = &s->m[mi];
          if (m->kind == ST_ORACLE)
            continue;
          gs__buf_printf (&md, "| %s |", m->label);
          for (k = 0; k < s->C; k++)
            {
              st_q q;
              for (i = 0; i < s->spectra; i++)
                v[i] = st_res (s, level, mi, i)->nmse[k];
              q = st_quantiles (v, (size_t)s->spectra);
              gs__buf_printf (&md, " %.1f [%.1f, %.1f] |", q.med, q.q25, q.q05);
            }
          gs__buf_puts (&md, "\n");
        }
      gs__buf_puts (&md, "\nRelative errors of the counts (%): median [25th, "
                         "75th percentile]\n\n| method | background |");
      for (k = 0; k < s->C; k++)
        gs__buf_printf (&md, " %s |", s->nuc[k]);
      gs__buf_puts (&md, " failed | CPU ms / spectrum | iterations "
                         "(median) |\n|---|---|");
      for (k = 0; k < s->C; k++)
        gs__buf_puts (&md, "---|");
      gs__buf_puts (&md, "---|---|---|\n");
      for (mi = 0; mi < s->n_methods; mi++)
        {
          st_method *m = &s->m[mi];
          double secs = 0;
          size_t failed = 0;
          st_q it;
          gs__buf_printf (&md, "| %s |", m->label);
          gs__buf_printf (&js, "      {\"method\": ");
          gs__buf_json_string (&js, m->label);
          gs__buf_printf (&js, ", \"kind\": \"%s\"", st_kind_names[m->kind]);
          if (m->source[0])
            {
              gs__buf_puts (&js, ", \"model\": ");
              gs__buf_json_string (&js, m->source);
            }
          gs__buf_puts (&js, ", \"relerr_percent\": {");
          for (k = 0; k < s->K; k++)
            {
              st_q q;
              double truth = s->w[k] * tot;
              for (i = 0; i < s->spectra; i++)
                v[i] = 100 * (st_res (s, level, mi, i)->a[k] - truth) / truth;
              q = st_quantiles (v, (size_t)s->spectra);
              gs__buf_printf (&md, " %.2f [%.2f, %.2f] |", q.med, q.q25, q.q75);
              gs__buf_printf (&js, "%s\"%s\": {\"median\": ", k ? ", " : "",
                              k ? s->nuc[k - 1] : "background");
              gs__buf_json_number (&js, q.med);
              gs__buf_puts (&js, ", \"q25\": ");
              gs__buf_json_number (&js, q.q25);
              gs__buf_puts (&js, ", \"q75\": ");
              gs__buf_json_number (&js, q.q75);
              gs__buf_puts (&js, ", \"mean\": ");
              gs__buf_json_number (&js, q.mean);
              gs__buf_puts (&js, "}");
            }
          gs__buf_puts (&js, "}, \"nmse_db\": {");
          for (k = 0; k < s->C; k++)
            {
              st_q q;
              for (i = 0; i < s->spectra; i++)
                v[i] = st_res (s, level, mi, i)->nmse[k];
              q = st_quantiles (v, (size_t)s->spectra);
              gs__buf_printf (&js, "%s\"%s\": {\"median\": ", k ? ", " : "",
                              s->nuc[k]);
              gs__buf_json_number (&js, q.med);
              gs__buf_puts (&js, ", \"q25\": ");
              gs__buf_json_number (&js, q.q25);
              gs__buf_puts (&js, ", \"q05\": ");
              gs__buf_json_number (&js, q.q05);
              gs__buf_puts (&js, "}");
            }
          for (i = 0; i < s->spectra; i++)
            {
              st_result *r = st_res (s, level, mi, i);
              secs += r->seconds;
              failed += r->status != GS_OK;
              v[i] = (double)r->iterations;
            }
          it = st_quantiles (v, (size_t)s->spectra);
          gs__buf_printf (&md, " %zu | %.2f | %.0f |\n", failed,
                          1e3 * secs / (double)s->spectra, it.med);
          gs__buf_printf (
              &js, "}, \"failed\": %zu, \"cpu_ms_per_spectrum\": ", failed);
          gs__buf_json_number (&js, 1e3 * secs / (double)s->spectra);
          gs__buf_printf (&js, "}%s\n", mi + 1 < s->n_methods ? "," : "");
          for (i = 0; i < s->spectra; i++)
            {
              st_result *r = st_res (s, level, mi, i);
              gs__buf_printf (&csv, "%.17g,%s,%ld,%d,%.6g,%d", tot, m->label, i,
                              r->status, r->seconds, r->iterations);
              for (k = 0; k < s->K; k++)
                gs__buf_printf (&csv, ",%.10g", r->a[k]);
              for (k = 0; k < s->C; k++)
                gs__buf_printf (&csv, ",%.6g", r->nmse[k]);
              for (k = 0; k < s->C; k++)
                gs__buf_printf (&csv, ",%.8g", r->lambda[k]);
              gs__buf_puts (&csv, "\n");
            }
        }
      gs__buf_puts (&md, "\n");
      gs__buf_printf (&js, "    ]}%s\n", level + 1 < s->n_levels ? "," : "");
    }
  gs__buf_puts (&md,
                "Counts are compared with the expected counts (weight x "
                "total).  NMSE = -10 log10(||s - s_hat||^2 / ||s||^2) over "
                "the 1024 channels; nnpu keeps the start signatures (its "
                "NMSE is that of the start), oracle the true ones.  "
                "Per-spectrum numbers: spectra.csv.\n");
  gs__buf_puts (&js, "  ]\n}\n");
  if (gs__mkdirs (dir) != GS_OK)
    rc = gs_error (GS_EIO, "study: cannot create %s", dir);
  if (rc == GS_OK && (path = gs__path_join (dir, "summary.md")))
    {
      rc = gs__write_file_atomic (path, md.data, md.len);
      free (path);
    }
  if (rc == GS_OK && (path = gs__path_join (dir, "results.json")))
    {
      rc = gs__write_file_atomic (path, js.data, js.len);
      free (path);
    }
  if (rc == GS_OK && (path = gs__path_join (dir, "spectra.csv")))
    {
      rc = gs__write_file_atomic (path, csv.data, csv.len);
      free (path);
    }
  if (rc == GS_OK && !s->quiet)
    fputs (md.data, stdout);
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  gs__buf_fini (&csv);
  free (v);
  return rc;
}

static void
st_free (st_study *s)
{
  size_t mi, k;
  for (mi = 0; mi < ST_MAX_METHODS; mi++)
    {
      gs_iae_free (s->m[mi].joint);
      free (s->m[mi].X0m);
      for (k = 0; k < ST_MAX_NUC; k++)
        gs_iae_free (s->m[mi].ind[k]);
    }
  free (s->T);
  free (s->X0);
  free (s->mu);
  free (s->res);
}

int
gs_study_run (const gs_study_opts *o)
{
  st_study *s;
  gs_ynode *root = NULL;
  const gs_ynode *out;
  const char *dir = NULL;
  st_worker *wk = NULL;
  pthread_t *tid = NULL;
  double t0;
  int rc, t, started = 0;
  if (!o || !o->config)
    return gs_error (GS_EINVAL, "study: no config");
  s = (st_study *)calloc (1, sizeof *s);
  if (!s)
    return gs_error (GS_ENOMEM, "out of memory");
  s->quiet = o->quiet;
  s->threads = o->threads;
  {
    char *d = gs__path_dirname (o->config);
    snprintf (s->cfgdir, sizeof s->cfgdir, "%s", d ? d : ".");
    free (d);
  }
  rc = gs_yaml_load_file (o->config, &root);
  for (t = 0; rc == GS_OK && t < o->n_overrides; t++)
    rc = gs_yaml_apply_set (root, o->overrides[t]);
  if (rc == GS_OK)
    rc = st_parse (s, root);
  if (rc != GS_OK)
    goto done;
  dir = o->out_dir;
  if (!dir && (out = gs_ynode_get (root, "outputs"))
      && (out = gs_ynode_get (out, "dir")))
    gs_ynode_as_string (out, "outputs.dir", &dir);
  if (!dir)
    dir = "outputs/study";
  if (s->threads <= 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      s->threads = n > 0 ? (int)n : 1;
    }
  s->total_tasks = (long)s->n_levels * s->spectra;
  if (s->threads > s->total_tasks)
    s->threads = (int)s->total_tasks;
  s->res = (st_result *)calloc (s->n_levels * s->n_methods * (size_t)s->spectra,
                                sizeof (st_result));
  wk = (st_worker *)calloc ((size_t)s->threads, sizeof *wk);
  tid = (pthread_t *)calloc ((size_t)s->threads, sizeof *tid);
  if (!s->res || !wk || !tid)
    {
      rc = gs_error (GS_ENOMEM, "study: out of memory");
      goto done;
    }
  for (t = 0; t < s->threads; t++)
    if ((rc = st_worker_init (s, &wk[t])) != GS_OK)
      goto done;
  pthread_mutex_init (&s->lock, NULL);
  t0 = gs__now ();
  for (t = 0; t < s->threads; t++)
    {
      if (pthread_create (&tid[t], NULL, st_worker_main, &wk[t]) != 0)
        {
          rc = gs_error (GS_ENOMEM, "study: cannot start thread %d", t);
          break;
        }
      started++;
    }
  for (t = 0; t < started; t++)
    pthread_join (tid[t], NULL);
  pthread_mutex_destroy (&s->lock);
  if (!s->quiet)
    fputc ('\n', stderr);
  if (rc != GS_OK)
    goto done;
  if (s->failed_rc && !s->quiet)
    fprintf (stderr,
             "gspec study: warning: some fits failed (counted in the "
             "report); the first: %s\n",
             s->failed_msg);
  rc = st_report (s, dir, gs__now () - t0);
done:
  if (wk)
    for (t = 0; t < s->threads; t++)
      st_worker_free (&wk[t]);
  free (wk);
  free (tid);
  st_free (s);
  free (s);
  gs_ynode_free (root);
  return rc;
}
