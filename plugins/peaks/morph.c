/* peaks.morph: the morphological full-energy peak search that the
 * YOLOSpecNN paper (shared/papers/zhang-yolospecnn-peak-search.txt,
 * section IV.B, "MorPh", after Luo et al.) uses as its baseline:
 *
 *  1. Savitzky-Golay smoothing, window w (odd) and polynomial order k.
 *     The weights are the rows of the least-squares hat matrix of a
 *     degree-k polynomial on w equally spaced points, from GSL's
 *     Householder QR of the Vandermonde matrix, computed once per (w, k)
 *     (in alloc, load and train).  Interior channels use the centre row;
 *     the first and last (w - 1) / 2 channels take the value at their
 *     position of the polynomial fitted to the first / last w channels.
 *  2. White top-hat: th = s - opening (s), the opening (erosion, then
 *     dilation) by a flat segment of L channels, the spectrum extended by
 *     L - 1 copies of its end values (so that the falling low-energy end
 *     is no peak).  Both passes are van Herk/Gil-Werman running min / max
 *     filters: O(n) whatever L (3 comparisons per channel and pass).
 *  3. False-peak screening: th splits into maximal runs of channels with
 *     th > 1e-9 max |s| (the opening copies values of s, so th is exactly
 *     0 where the segment touches; the tolerance only absorbs rounding).
 *     A run narrower than W_T channels is a false peak.  Each other run
 *     gives one peak: centre at the middle of the channel where th is
 *     largest, left / right at the run's outer channel edges (keV from the
 *     library's energy_edges), component -1.
 *
 * Confidence.  The paper gives MorPh none (it plots the method as points
 * from its parameter sweep, Table 3 has no AP).  Here each peak gets the
 * significance of its net area, z = A / sqrt (A + B), A the top-hat area
 * of the run and B the opening's area under it (the baseline; both in
 * counts of the smoothed spectrum), mapped to (0, 1) by z / (1 + z).  It
 * is monotone in z, so the host can draw a P-R curve and an AP; at the
 * lowest threshold the detections are exactly the paper's.  The value
 * assumes spectra in counts (Poisson): rescaled spectra keep the order
 * within one spectrum, not across spectra.
 *
 * Training.  With tune (the default) and peak labels (gs_dataset.peaks on
 * the validation set, else on the training set), train sweeps the paper's
 * Table 2 ranges (w 9..49, k 3, 5, 7, L 4..40, W_T 2..15; its lines
 * 275-280) on a grid, w and L in steps of 4 and W_T in steps of 1, over
 * the first max_tune_spectra labelled spectra, and keeps the configuration
 * with the best F1 of gs_peaks_evaluate (2 % window).  The parameters in
 * use are scored first and are replaced only by a strictly better F1, so
 * tuning never does worse on the tuning set.  The model file holds the
 * four chosen values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "gspec/peaks.h"
#include "gspec/plugin.h"

#define MORPH_ID "peaks.morph"
#define MORPH_FORMAT_VERSION 1
/* Relative tolerance of the top-hat runs (times max |s|). */
#define MORPH_TOL 1e-9
/* The relative energy window of the F1 used for tuning (the paper's 2 %). */
#define MORPH_WINDOW 0.02

typedef struct morph_params_t
{
  int window;
  int order;
  int tophat_length;
  int min_width;
  int tune;
  int max_tune_spectra;
} morph_params_t;

/* The four values the method runs with. */
typedef struct morph_config
{
  int window, order, length, min_width;
} morph_config;

typedef struct morph_state_t
{
  morph_params_t p;
  morph_config cfg; /* the parameters, or what train / load chose */
  const gs_library_view *lib;
  size_t n;    /* channels */
  double *hat; /* cfg.window x cfg.window Savitzky-Golay hat matrix */
} morph_state_t;

/* The paper's Table 2 ranges (lines 275-280) on the grid of this plugin. */
static const int morph_grid_window[]
    = { 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49 };
static const int morph_grid_order[] = { 3, 5, 7 };
static const int morph_grid_length[] = { 4, 8, 12, 16, 20, 24, 28, 32, 36, 40 };
static const int morph_grid_min_width[]
    = { 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

#define MORPH_COUNT(a) (sizeof (a) / sizeof ((a)[0]))

static const gs_param_spec morph_params[] = {
  { "window", GS_PARAM_INT, offsetof (morph_params_t, window), 25, 3, 1001,
    NULL, "Savitzky-Golay window w in channels, odd (paper Table 2 best: 25)" },
  { "order", GS_PARAM_INT, offsetof (morph_params_t, order), 5, 0, 20, NULL,
    "Savitzky-Golay polynomial order k, below window (paper best: 5)" },
  { "tophat_length", GS_PARAM_INT, offsetof (morph_params_t, tophat_length), 16,
    1, 100000, NULL,
    "top-hat structuring element length L in channels (paper best: 16)" },
  { "min_width", GS_PARAM_INT, offsetof (morph_params_t, min_width), 14, 1,
    100000, NULL,
    "false-peak threshold W_T: top-hat regions narrower than this many "
    "channels are dropped (paper best: 14)" },
  { "tune", GS_PARAM_BOOL, offsetof (morph_params_t, tune), 1, 0, 1, NULL,
    "train: sweep the paper's Table 2 grid for the best F1 on peak-labelled "
    "validation (else training) spectra" },
  { "max_tune_spectra", GS_PARAM_INT,
    offsetof (morph_params_t, max_tune_spectra), 500, 1, 1000000, NULL,
    "train: tune on at most the first this many labelled spectra" },
  { NULL, 0, 0, 0, 0, 0, NULL, NULL }
};

/* ---------------------------------------------------------------------- */
/* Savitzky-Golay.                                                         */

/* Writes H (w x w, row-major), the hat matrix of the least-squares fit of
 * a degree-k polynomial to w equally spaced samples: row r holds the
 * weights giving the fitted value at sample r.  H = Q1 Q1^T, Q1 the first
 * k + 1 columns of Q in V = Q R (GSL Householder QR), V[j][p] = x_j^p with
 * x_j = (j - h) / h, h = (w - 1) / 2 (scaled for conditioning).  Needs
 * w >= 3 odd and k < w. */
static int
morph_sg_hat (int w, int k, double *H)
{
  size_t W = (size_t)w, P = (size_t)k + 1, r, c, p;
  double h = 0.5 * (double)(w - 1);
  gsl_matrix *V = gsl_matrix_alloc (W, P);
  gsl_matrix *Q = gsl_matrix_alloc (W, W);
  gsl_matrix *R = gsl_matrix_alloc (W, P);
  gsl_vector *tau = gsl_vector_alloc (P);
  int rc = GS_OK;
  if (!V || !Q || !R || !tau)
    {
      rc = gs_host->error (GS_ENOMEM,
                           "out of memory for the Savitzky-Golay "
                           "fit (window %d)",
                           w);
      goto done;
    }
  for (r = 0; r < W; r++)
    {
      double x = ((double)r - h) / h, v = 1;
      for (p = 0; p < P; p++, v *= x)
        gsl_matrix_set (V, r, p, v);
    }
  if (gsl_linalg_QR_decomp (V, tau) != GSL_SUCCESS
      || gsl_linalg_QR_unpack (V, tau, Q, R) != GSL_SUCCESS)
    {
      rc = gs_host->error (GS_ESING,
                           "Savitzky-Golay fit: QR of the %d x %d "
                           "Vandermonde matrix failed",
                           w, k + 1);
      goto done;
    }
  for (r = 0; r < W; r++)
    for (c = 0; c < W; c++)
      {
        double s = 0;
        for (p = 0; p < P; p++)
          s += gsl_matrix_get (Q, r, p) * gsl_matrix_get (Q, c, p);
        H[r * W + c] = s;
      }
done:
  gsl_matrix_free (V);
  gsl_matrix_free (Q);
  gsl_matrix_free (R);
  gsl_vector_free (tau);
  return rc;
}

/* s = the Savitzky-Golay smoothing of y[n] with hat matrix H (w x w),
 * n >= w.  Edges: the polynomial fitted to the first / last w samples. */
static void
morph_sg_apply (const double *H, int w, const double *y, size_t n, double *s)
{
  size_t W = (size_t)w, h = (W - 1) / 2, i, j;
  const double *c = H + h * W;
  for (i = h; i + h < n; i++)
    {
      const double *x = y + i - h;
      double v = 0;
      for (j = 0; j < W; j++)
        v += c[j] * x[j];
      s[i] = v;
    }
  for (i = 0; i < h; i++)
    {
      const double *a = H + i * W, *b = H + (W - h + i) * W;
      const double *xb = y + n - W;
      double va = 0, vb = 0;
      for (j = 0; j < W; j++)
        {
          va += a[j] * y[j];
          vb += b[j] * xb[j];
        }
      s[i] = va;
      s[n - h + i] = vb;
    }
}

/* ---------------------------------------------------------------------- */
/* Morphology.                                                             */

/* max (take_max) or min of two finite numbers. */
#define MORPH_PICK(take_max, a, b)                                             \
  ((take_max) ? ((a) > (b) ? (a) : (b)) : ((a) < (b) ? (a) : (b)))

/* out[j] = min (take_max: max) of in[j .. j + L - 1] for j = 0 .. len - L
 * (van Herk/Gil-Werman: prefix and suffix extrema within blocks of L;
 * g and h hold len doubles each).  Needs 1 <= L <= len. */
static void
morph_running (const double *in, size_t len, size_t L, int take_max, double *g,
               double *h, double *out)
{
  size_t b, i;
  for (b = 0; b < len; b += L)
    {
      size_t e = b + L < len ? b + L : len;
      g[b] = in[b];
      for (i = b + 1; i < e; i++)
        g[i] = MORPH_PICK (take_max, g[i - 1], in[i]);
      h[e - 1] = in[e - 1];
      for (i = e - 1; i-- > b;)
        h[i] = MORPH_PICK (take_max, h[i + 1], in[i]);
    }
  for (i = 0; i + L <= len; i++)
    out[i] = MORPH_PICK (take_max, h[i], g[i + L - 1]);
}

/* Doubles of scratch morph_tophat needs for n channels and length L. */
static size_t
morph_tophat_doubles (size_t n, size_t L)
{
  return 4 * (n + 2 * L);
}

/* open = the opening of s[n] by a flat segment of L channels and
 * th = s - open >= 0, with the spectrum extended by L - 1 copies of its
 * first and last value (edge replication: a spectrum that falls, or
 * rises, to its ends has no top-hat there).  open[i] is the largest min of
 * the extended s over the segments of L channels that contain i.  work:
 * morph_tophat_doubles.  Needs 1 <= L <= n. */
static void
morph_tophat (const double *s, size_t n, size_t L, double *work, double *open,
              double *th)
{
  size_t len = n + 2 * (L - 1), i;
  double *P = work, *e = P + (n + 2 * L), *g = e + (n + 2 * L),
         *h = g + (n + 2 * L);
  for (i = 0; i < len; i++)
    P[i] = i < L - 1 ? s[0] : i - (L - 1) < n ? s[i - (L - 1)] : s[n - 1];
  /* Erosion: e[j] = min P[j .. j + L - 1], j = 0 .. n + L - 2; dilation:
   * channel i lies at P[i + L - 1], in the segments starting at
   * j = i .. i + L - 1. */
  morph_running (P, len, L, 0, g, h, e);
  morph_running (e, n + L - 1, L, 1, g, h, open);
  for (i = 0; i < n; i++)
    th[i] = s[i] - open[i];
}

/* One run of channels with th > tol. */
typedef struct morph_run
{
  size_t first, last, top; /* channels */
  double area, base;       /* sums of th and of the opening over the run */
} morph_run;

/* Finds the next run at or after *pos; 0 when there is none. */
static int
morph_next_run (const double *th, const double *open, size_t n, double tol,
                size_t *pos, morph_run *r)
{
  size_t i = *pos;
  while (i < n && !(th[i] > tol))
    i++;
  if (i >= n)
    {
      *pos = n;
      return 0;
    }
  r->first = r->top = i;
  r->area = r->base = 0;
  for (; i < n && th[i] > tol; i++)
    {
      if (th[i] > th[r->top])
        r->top = i;
      r->area += th[i];
      r->base += open[i];
    }
  r->last = i - 1;
  *pos = i;
  return 1;
}

/* The run's peak: keV from the channel edges; confidence z / (1 + z) with
 * z = A / sqrt (A + max (B, 0)). */
static void
morph_run_peak (const morph_run *r, const double *edges, gs_peak *p)
{
  double z = r->area / sqrt (r->area + fmax (r->base, 0));
  p->centre_kev = 0.5 * (edges[r->top] + edges[r->top + 1]);
  p->left_kev = edges[r->first];
  p->right_kev = edges[r->last + 1];
  p->confidence = z / (1 + z);
  p->component = -1;
}

/* The tolerance of the runs for the smoothed spectrum s[n]. */
static double
morph_tolerance (const double *s, size_t n)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    m = fmax (m, fabs (s[i]));
  return MORPH_TOL * m;
}

/* ---------------------------------------------------------------------- */
/* The method.                                                             */

/* Checks a configuration against the channel count; names `src` (where
 * the values came from) in the message. */
static int
morph_check_config (const morph_config *c, size_t n, const char *src)
{
  if (c->window < 3 || c->window % 2 == 0)
    return gs_host->error (GS_EINVAL,
                           "%s: window %d must be odd and >= 3 (the "
                           "Savitzky-Golay window is centred on a channel); "
                           "use %d",
                           src, c->window, c->window < 3 ? 3 : c->window + 1);
  if (c->order < 0 || c->order >= c->window)
    return gs_host->error (GS_EINVAL,
                           "%s: order %d must lie in 0 .. window - 1 = %d", src,
                           c->order, c->window - 1);
  if ((size_t)c->window > n)
    return gs_host->error (GS_EINVAL,
                           "%s: window %d exceeds the library's %zu "
                           "channels",
                           src, c->window, n);
  if (c->length < 1 || (size_t)c->length > n)
    return gs_host->error (GS_EINVAL,
                           "%s: tophat_length %d must lie in 1 .. %zu (the "
                           "library's channels)",
                           src, c->length, n);
  if (c->min_width < 1)
    return gs_host->error (GS_EINVAL, "%s: min_width %d must be >= 1", src,
                           c->min_width);
  return GS_OK;
}

/* Makes c the configuration in use (hat matrix recomputed); the state is
 * unchanged on failure. */
static int
morph_set_config (morph_state_t *st, const morph_config *c, const char *src)
{
  double *hat;
  int rc = morph_check_config (c, st->n, src);
  if (rc != GS_OK)
    return rc;
  hat = gs_host->alloc ((size_t)c->window * (size_t)c->window * sizeof *hat);
  if (!hat)
    return gs_host->error (GS_ENOMEM, "out of memory");
  if ((rc = morph_sg_hat (c->window, c->order, hat)) != GS_OK)
    {
      gs_host->free (hat);
      return rc;
    }
  gs_host->free (st->hat);
  st->hat = hat;
  st->cfg = *c;
  return GS_OK;
}

static int
morph_alloc (void *vstate, const void *params, const gs_setup *setup)
{
  morph_state_t *st = (morph_state_t *)vstate;
  morph_config c;
  memcpy (&st->p, params, sizeof st->p);
  st->lib = setup->library;
  st->n = st->lib->n_channels;
  if (!st->lib->energy_edges)
    return gs_host->error (GS_EINVAL, "the library has no energy grid; "
                                      "peaks.morph reports peaks in keV");
  c.window = st->p.window;
  c.order = st->p.order;
  c.length = st->p.tophat_length;
  c.min_width = st->p.min_width;
  return morph_set_config (st, &c, "parameters");
}

static void
morph_free (void *vstate)
{
  morph_state_t *st = (morph_state_t *)vstate;
  if (st->hat)
    gs_host->free (st->hat);
  st->hat = NULL;
}

/* Workspace: s, open, th (n each) and the top-hat scratch. */
static size_t
morph_workspace_doubles (size_t n, size_t L)
{
  return 3 * n + morph_tophat_doubles (n, L);
}

static size_t
morph_workspace_size (const void *vstate)
{
  const morph_state_t *st = (const morph_state_t *)vstate;
  return morph_workspace_doubles (st->n, (size_t)st->cfg.length)
         * sizeof (double);
}

static int
morph_analyze (const void *vstate, void *vwork, const double *y,
               size_t n_channels, gs_result *res)
{
  const morph_state_t *st = (const morph_state_t *)vstate;
  size_t n = st->n, pos = 0;
  double *s = (double *)vwork, *open, *th, tol;
  morph_run r;
  if (n_channels != n)
    return gs_host->error (GS_EBADLEN,
                           "spectrum has %zu channels but the library has "
                           "%zu; rebin the spectrum to the library grid",
                           n_channels, n);
  if (!s)
    return gs_host->error (GS_EINVAL, "peaks.morph needs its workspace");
  open = s + n;
  th = open + n;
  morph_sg_apply (st->hat, st->cfg.window, y, n, s);
  morph_tophat (s, n, (size_t)st->cfg.length, th + n, open, th);
  tol = morph_tolerance (s, n);
  while (morph_next_run (th, open, n, tol, &pos, &r))
    if (r.last - r.first + 1 >= (size_t)st->cfg.min_width)
      {
        gs_peak p;
        int rc;
        morph_run_peak (&r, st->lib->energy_edges, &p);
        if ((rc = gs_host->result_add_peak (res, &p)) != GS_OK)
          return rc;
      }
  return GS_OK;
}

/* ---------------------------------------------------------------------- */
/* Tuning.                                                                 */

/* The labelled spectra of a sweep and its buffers. */
typedef struct morph_tune
{
  size_t n, nt; /* channels, spectra */
  const double *edges;
  double *Y, *S;       /* nt x n: counts, smoothed */
  gs_peak *truth;      /* true peaks, spectrum after spectrum */
  gs_peak_list *tlist; /* nt */
  gs_peak *runs;       /* nt x cap: every run's peak ... */
  size_t *width;       /* ... and width */
  size_t *n_runs;      /* nt */
  size_t cap;          /* runs per spectrum at most */
  gs_peak *det;        /* nt x cap: the runs kept by a W_T */
  gs_peak_list *dlist; /* nt */
  double *work;        /* open, th and the top-hat scratch */
  double *hat;         /* 49 x 49 at most */
} morph_tune;

static void
morph_tune_free (morph_tune *t)
{
  free (t->Y);
  free (t->S);
  free (t->truth);
  free (t->tlist);
  free (t->runs);
  free (t->width);
  free (t->n_runs);
  free (t->det);
  free (t->dlist);
  free (t->work);
  free (t->hat);
}

/* Reads the first nt spectra of d and their true peaks. */
static int
morph_tune_read (morph_tune *t, const gs_dataset *d,
                 int (*peaks) (void *, size_t, gs_peak *, size_t, size_t *))
{
  size_t i, j, total = 0, cap = 64;
  size_t *start = calloc (t->nt + 1, sizeof *start);
  int rc = GS_OK;
  t->truth = malloc (cap * sizeof *t->truth);
  if (!start || !t->truth)
    {
      free (start);
      return gs_host->error (GS_ENOMEM, "out of memory");
    }
  for (i = 0; i < t->nt; i++)
    {
      size_t k = 0;
      if ((rc = d->spectrum (d->ctx, i, t->Y + i * t->n)) != GS_OK)
        goto done;
      for (j = 0; j < t->n; j++)
        if (!isfinite (t->Y[i * t->n + j]))
          {
            rc = gs_host->error (GS_EBADDATA,
                                 "tuning spectrum %zu, channel %zu is not "
                                 "finite",
                                 i, j);
            goto done;
          }
      for (;;)
        {
          if ((rc = peaks (d->ctx, i, t->truth + total, cap - total, &k))
              != GS_OK)
            goto done;
          if (total + k <= cap)
            break;
          {
            size_t nc = 2 * (total + k);
            gs_peak *np = realloc (t->truth, nc * sizeof *np);
            if (!np)
              {
                rc = gs_host->error (GS_ENOMEM, "out of memory");
                goto done;
              }
            t->truth = np;
            cap = nc;
          }
        }
      for (j = 0; j < k; j++)
        if (!isfinite (t->truth[total + j].centre_kev))
          {
            rc = gs_host->error (GS_EBADDATA,
                                 "tuning spectrum %zu: true peak %zu has "
                                 "centre %g keV",
                                 i, j, t->truth[total + j].centre_kev);
            goto done;
          }
      start[i] = total;
      total += k;
      start[i + 1] = total;
    }
  for (i = 0; i < t->nt; i++)
    {
      t->tlist[i].peaks = t->truth + start[i];
      t->tlist[i].n = start[i + 1] - start[i];
    }
done:
  free (start);
  return rc;
}

/* Runs of every smoothed spectrum t->S for length L. */
static void
morph_tune_runs (morph_tune *t, size_t L)
{
  size_t i, n = t->n;
  double *open = t->work, *th = open + n;
  for (i = 0; i < t->nt; i++)
    {
      const double *s = t->S + i * n;
      size_t pos = 0, k = 0;
      double tol = morph_tolerance (s, n);
      morph_run r;
      morph_tophat (s, n, L, th + n, open, th);
      while (morph_next_run (th, open, n, tol, &pos, &r))
        {
          morph_run_peak (&r, t->edges, &t->runs[i * t->cap + k]);
          t->width[i * t->cap + k] = r.last - r.first + 1;
          k++;
        }
      t->n_runs[i] = k;
    }
}

/* Runs of the current L at least wt channels wide. */
static size_t
morph_tune_kept (const morph_tune *t, size_t wt)
{
  size_t i, j, k = 0;
  for (i = 0; i < t->nt; i++)
    for (j = 0; j < t->n_runs[i]; j++)
      k += t->width[i * t->cap + j] >= wt;
  return k;
}

/* F1 (gs_peaks_evaluate, 2 %) of the current runs screened by W_T. */
static int
morph_tune_f1 (morph_tune *t, size_t wt, double *f1)
{
  gs_peak_metrics m;
  size_t i, j;
  int rc;
  for (i = 0; i < t->nt; i++)
    {
      size_t k = 0;
      for (j = 0; j < t->n_runs[i]; j++)
        if (t->width[i * t->cap + j] >= wt)
          t->det[i * t->cap + k++] = t->runs[i * t->cap + j];
      t->dlist[i].peaks = t->det + i * t->cap;
      t->dlist[i].n = k;
    }
  rc = gs_peaks_evaluate (t->nt, t->tlist, t->dlist, MORPH_WINDOW, &m, NULL,
                          NULL);
  *f1 = m.f1;
  return rc;
}

/* Scores (w, k) with every L of Ls and W_T of wts (increasing); a
 * strictly better F1 than *best_f1 replaces *best.  A W_T that keeps the
 * same runs as the previous one has its F1 and is not scored again. */
static int
morph_tune_block (morph_tune *t, int w, int k, const int *Ls, size_t nL,
                  const int *wts, size_t nwt, morph_config *best,
                  double *best_f1)
{
  size_t i, a, b;
  int rc;
  if ((rc = morph_sg_hat (w, k, t->hat)) != GS_OK)
    return rc;
  for (i = 0; i < t->nt; i++)
    morph_sg_apply (t->hat, w, t->Y + i * t->n, t->n, t->S + i * t->n);
  for (a = 0; a < nL; a++)
    {
      size_t last_kept = (size_t)-1;
      if ((size_t)Ls[a] > t->n)
        continue;
      morph_tune_runs (t, (size_t)Ls[a]);
      for (b = 0; b < nwt; b++)
        {
          size_t kept = morph_tune_kept (t, (size_t)wts[b]);
          double f1;
          if (kept == last_kept)
            continue;
          last_kept = kept;
          if ((rc = morph_tune_f1 (t, (size_t)wts[b], &f1)) != GS_OK)
            return rc;
          if (f1 > *best_f1)
            {
              *best_f1 = f1;
              best->window = w;
              best->order = k;
              best->length = Ls[a];
              best->min_width = wts[b];
            }
        }
    }
  return GS_OK;
}

static int
morph_train (void *vstate, const gs_dataset *train, const gs_dataset *valid)
{
  morph_state_t *st = (morph_state_t *)vstate;
  const gs_dataset *d = NULL;
  int (*peaks) (void *, size_t, gs_peak *, size_t, size_t *) = NULL;
  morph_tune t;
  morph_config best = st->cfg;
  double best_f1 = -1, start_f1;
  size_t maxL = (size_t)st->cfg.length, a, b, n_true = 0, i, step = 0;
  size_t total
      = MORPH_COUNT (morph_grid_window) * MORPH_COUNT (morph_grid_order);
  int rc, wt0 = st->cfg.min_width, L0 = st->cfg.length;
  if (!st->p.tune)
    return GS_OK;
  if (valid && (peaks = GS_DATASET_PEAKS (valid)) != NULL)
    d = valid;
  else if (train && (peaks = GS_DATASET_PEAKS (train)) != NULL)
    d = train;
  if (!d)
    {
      gs_host->log (GS_LOG_INFO, MORPH_ID,
                    "no peak labels in the training or validation set: "
                    "keeping window %d, order %d, tophat_length %d, "
                    "min_width %d",
                    st->cfg.window, st->cfg.order, st->cfg.length,
                    st->cfg.min_width);
      return GS_OK;
    }
  if (d->n_channels != st->n)
    return gs_host->error (GS_EBADLEN,
                           "the %s set has %zu channels but the library has "
                           "%zu",
                           d == valid ? "validation" : "training",
                           d->n_channels, st->n);
  memset (&t, 0, sizeof t);
  t.n = st->n;
  t.nt = d->n_spectra < (size_t)st->p.max_tune_spectra
             ? d->n_spectra
             : (size_t)st->p.max_tune_spectra;
  t.edges = st->lib->energy_edges;
  t.cap = (t.n + 1) / 2 + 1;
  for (a = 0; a < MORPH_COUNT (morph_grid_length); a++)
    maxL = (size_t)morph_grid_length[a] > maxL ? (size_t)morph_grid_length[a]
                                               : maxL;
  if (t.nt == 0)
    return GS_OK;
  t.Y = malloc (t.nt * t.n * sizeof *t.Y);
  t.S = malloc (t.nt * t.n * sizeof *t.S);
  t.tlist = calloc (t.nt, sizeof *t.tlist);
  t.dlist = calloc (t.nt, sizeof *t.dlist);
  t.runs = malloc (t.nt * t.cap * sizeof *t.runs);
  t.det = malloc (t.nt * t.cap * sizeof *t.det);
  t.width = malloc (t.nt * t.cap * sizeof *t.width);
  t.n_runs = calloc (t.nt, sizeof *t.n_runs);
  t.work
      = malloc ((2 * t.n + morph_tophat_doubles (t.n, maxL)) * sizeof *t.work);
  {
    size_t wmax = (size_t)st->cfg.window > 49 ? (size_t)st->cfg.window : 49;
    t.hat = malloc (wmax * wmax * sizeof *t.hat);
  }
  if (!t.Y || !t.S || !t.tlist || !t.dlist || !t.runs || !t.det || !t.width
      || !t.n_runs || !t.work || !t.hat)
    {
      rc = gs_host->error (GS_ENOMEM,
                           "out of memory for tuning on %zu "
                           "spectra",
                           t.nt);
      goto done;
    }
  if ((rc = morph_tune_read (&t, d, peaks)) != GS_OK)
    goto done;
  for (i = 0; i < t.nt; i++)
    n_true += t.tlist[i].n;
  if (n_true == 0)
    {
      gs_host->log (GS_LOG_WARN, MORPH_ID,
                    "the first %zu labelled spectra hold no true peak: "
                    "keeping the parameters",
                    t.nt);
      rc = GS_OK;
      goto done;
    }
  /* The configuration in use first: the grid must beat it strictly. */
  if ((rc = morph_tune_block (&t, st->cfg.window, st->cfg.order, &L0, 1, &wt0,
                              1, &best, &best_f1))
      != GS_OK)
    goto done;
  start_f1 = best_f1;
  for (a = 0; a < MORPH_COUNT (morph_grid_window); a++)
    for (b = 0; b < MORPH_COUNT (morph_grid_order); b++, step++)
      {
        int w = morph_grid_window[a], k = morph_grid_order[b];
        gs_host->progress (MORPH_ID, "tune", step, total);
        if (k >= w || (size_t)w > t.n)
          continue;
        if ((rc = morph_tune_block (
                 &t, w, k, morph_grid_length, MORPH_COUNT (morph_grid_length),
                 morph_grid_min_width, MORPH_COUNT (morph_grid_min_width),
                 &best, &best_f1))
            != GS_OK)
          goto done;
      }
  gs_host->progress (MORPH_ID, "tune", total, total);
  if ((rc = morph_set_config (st, &best, "tuned configuration")) != GS_OK)
    goto done;
  gs_host->log (GS_LOG_INFO, MORPH_ID,
                "tuned on %zu spectra (%zu true peaks): window %d, order %d, "
                "tophat_length %d, min_width %d, F1 %.4f (the parameters "
                "gave %.4f)",
                t.nt, n_true, best.window, best.order, best.length,
                best.min_width, best_f1, start_f1);
done:
  morph_tune_free (&t);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Model file: text,
 *   peaks-morph-model 1
 *   window W
 *   order K
 *   tophat_length L
 *   min_width T
 *   end                                                                   */

static int
morph_save (const void *vstate, FILE *out)
{
  const morph_state_t *st = (const morph_state_t *)vstate;
  if (fprintf (out,
               "peaks-morph-model %d\nwindow %d\norder %d\n"
               "tophat_length %d\nmin_width %d\nend\n",
               MORPH_FORMAT_VERSION, st->cfg.window, st->cfg.order,
               st->cfg.length, st->cfg.min_width)
      < 0)
    return gs_host->error (GS_EIO, "cannot write the model payload");
  return GS_OK;
}

/* Reads one whitespace-delimited token; 0 at end of file or when it does
 * not fit. */
static int
morph_token (FILE *in, char *buf, size_t size)
{
  size_t n = 0;
  int ch;
  do
    ch = fgetc (in);
  while (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r');
  while (ch != EOF && ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r')
    {
      if (n + 1 >= size)
        return 0;
      buf[n++] = (char)ch;
      ch = fgetc (in);
    }
  buf[n] = '\0';
  return n > 0;
}

static int
morph_expect (FILE *in, const char *word)
{
  char buf[64];
  if (!morph_token (in, buf, sizeof buf))
    return gs_host->error (
        GS_EFORMAT, "model payload ends before '%s' (truncated file?)", word);
  if (strcmp (buf, word) != 0)
    return gs_host->error (GS_EFORMAT,
                           "model payload has '%s' where '%s' was expected",
                           buf, word);
  return GS_OK;
}

/* Reads "key <integer>" into *v. */
static int
morph_int (FILE *in, const char *key, int *v)
{
  char buf[64], *end;
  long x;
  int rc = key ? morph_expect (in, key) : GS_OK;
  if (rc != GS_OK)
    return rc;
  if (!morph_token (in, buf, sizeof buf))
    return gs_host->error (GS_EFORMAT,
                           "model payload ends before the value of %s "
                           "(truncated file?)",
                           key ? key : "the format version");
  x = strtol (buf, &end, 10);
  if (end == buf || *end != '\0' || x < -1000000000L || x > 1000000000L)
    return gs_host->error (GS_EFORMAT,
                           "model payload has '%s' for %s; an integer was "
                           "expected",
                           buf, key ? key : "the format version");
  *v = (int)x;
  return GS_OK;
}

static int
morph_load (void *vstate, FILE *in)
{
  morph_state_t *st = (morph_state_t *)vstate;
  morph_config c;
  int v, rc;
  if ((rc = morph_expect (in, "peaks-morph-model")) != GS_OK
      || (rc = morph_int (in, NULL, &v)) != GS_OK)
    return rc;
  if (v != MORPH_FORMAT_VERSION)
    return gs_host->error (GS_EFORMAT,
                           "model payload version %d; this plugin reads "
                           "version %d",
                           v, MORPH_FORMAT_VERSION);
  if ((rc = morph_int (in, "window", &c.window)) != GS_OK
      || (rc = morph_int (in, "order", &c.order)) != GS_OK
      || (rc = morph_int (in, "tophat_length", &c.length)) != GS_OK
      || (rc = morph_int (in, "min_width", &c.min_width)) != GS_OK
      || (rc = morph_expect (in, "end")) != GS_OK)
    return rc;
  rc = morph_set_config (st, &c, "model");
  return rc == GS_EINVAL ? GS_EFORMAT : rc;
}

/* ---------------------------------------------------------------------- */

static const gs_method_type morph_type = {
  .struct_size = sizeof (gs_method_type),
  .id = MORPH_ID,
  .summary = "morphological peak search: Savitzky-Golay, white top-hat, "
             "width screening (YOLOSpecNN's MorPh baseline)",
  .kinds = GS_KIND_PEAKS,
  .flags = GS_METHOD_NEEDS_LIBRARY,
  .params = morph_params,
  .params_size = sizeof (morph_params_t),
  .state_size = sizeof (morph_state_t),
  .extras = NULL,
  .alloc = morph_alloc,
  .free = morph_free,
  .train = morph_train,
  .save = morph_save,
  .load = morph_load,
  .workspace_size = morph_workspace_size,
  .analyze = morph_analyze,
};

/* tests/test_morph.c includes this file with MORPH_NO_ENTRY to test the
 * kernels (Savitzky-Golay weights, top-hat) directly. */
#ifndef MORPH_NO_ENTRY
GS_PLUGIN_DEFINE ("peaks-morph", "1.0.0", "MIT", &morph_type)
#endif
