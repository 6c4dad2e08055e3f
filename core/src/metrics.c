#include "gspec/metrics.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

gs_rate
gs_rate_wilson (size_t k, size_t n, double conf)
{
  gs_rate r;
  double z, p, den, centre, half;
  r.k = k;
  r.n = n;
  if (n == 0)
    {
      r.value = r.lo = r.hi = NAN;
      return r;
    }
  z = gsl_cdf_ugaussian_Pinv (0.5 + conf / 2);
  p = (double)k / (double)n;
  den = 1 + z * z / (double)n;
  centre = (p + z * z / (2.0 * (double)n)) / den;
  half = z * sqrt (p * (1 - p) / (double)n
                   + z * z / (4.0 * (double)n * (double)n))
         / den;
  r.value = p;
  r.lo = centre - half < 0 ? 0 : centre - half;
  r.hi = centre + half > 1 ? 1 : centre + half;
  return r;
}

int
gs_metrics_identification (size_t n, size_t K, const double *truth,
                           const int *present, int include_background,
                           gs_ident_metrics *out)
{
  size_t i, j, j0 = include_background ? 0 : 1;
  size_t correct_labels = 0, n_labels = 0, wrong = 0, fp = 0, fn = 0;
  if (n == 0 || K <= j0)
    return gs_error (GS_EINVAL,
                     "identification metrics need spectra and components");
  for (i = 0; i < n; i++)
    {
      int has_fp = 0, has_fn = 0;
      for (j = j0; j < K; j++)
        {
          int t = truth[i * K + j] > 0;
          int p = present[i * K + j] == 1;
          if (t == p)
            correct_labels++;
          else if (p)
            has_fp = 1;
          else
            has_fn = 1;
          n_labels++;
        }
      wrong += (has_fp || has_fn);
      fp += has_fp;
      fn += has_fn;
    }
  out->accuracy = gs_rate_wilson (correct_labels, n_labels, 0.95);
  out->ppr = gs_rate_wilson (n - wrong, n, 0.95);
  out->fprr = gs_rate_wilson (wrong, n, 0.95);
  out->fpr = gs_rate_wilson (fp, n, 0.95);
  out->fnr = gs_rate_wilson (fn, n, 0.95);
  return GS_OK;
}

int
gs_metrics_quantification (size_t n, size_t K, const double *truth,
                           const double *counts, gs_quant_metrics *out)
{
  size_t i, j, pairs = 0;
  double se = 0, rae = 0;
  if (n == 0 || K == 0)
    return gs_error (GS_EINVAL,
                     "quantification metrics need spectra and components");
  for (i = 0; i < n; i++)
    {
      const double *a = truth + i * K, *c = counts + i * K;
      double sa = 0, sc = 0;
      for (j = 0; j < K; j++)
        {
          if (!isfinite (c[j]))
            return gs_error (GS_EBADDATA,
                             "spectrum %zu: estimated count of component "
                             "%zu is not finite",
                             i, j);
          sa += a[j];
          sc += c[j];
        }
      for (j = 0; j < K; j++)
        {
          double w = sa > 0 ? a[j] / sa : 0;
          double wh = sc > 0 ? c[j] / sc : 0;
          se += (wh - w) * (wh - w);
          if (a[j] > 0)
            {
              rae += fabs (c[j] - a[j]) / a[j];
              pairs++;
            }
        }
    }
  out->mse_weights = se / ((double)n * (double)K);
  out->rae = pairs ? rae / (double)pairs : NAN;
  out->rae_pairs = pairs;
  return GS_OK;
}

/* ---- Binomial band ------------------------------------------------------ */

static double
binom_cdf (size_t k, double p, size_t n)
{
  return gsl_cdf_binomial_P ((unsigned int)k, p, (unsigned int)n);
}

size_t
gs_binomial_quantile (double q, size_t n, double p)
{
  /* Start 10 standard deviations below the mean, where the CDF is about
   * exp(-50): a walk from 0 would evaluate (1-p)^n, which underflows for
   * large n.  Step down while the CDF still reaches q, then up. */
  double mean = (double)n * p, sd = sqrt (mean * (1 - p));
  double s = floor (mean - 10 * sd);
  size_t k = s > 0 ? (size_t)s : 0;
  if (k > n)
    k = n;
  while (k > 0 && binom_cdf (k - 1, p, n) >= q)
    k--;
  while (k < n && binom_cdf (k, p, n) < q)
    k++;
  return k;
}

typedef struct binom_root
{
  double n, p, q;
} binom_root;

/* Binomial CDF continued to real k: I_{1-p}(n - k, k + 1), 1 at k >= n. */
static double
binom_cdf_real (double k, void *params)
{
  const binom_root *b = params;
  gsl_sf_result r;
  if (k >= b->n)
    return 1 - b->q;
  if (gsl_sf_beta_inc_e (b->n - k, k + 1, 1 - b->p, &r) != GSL_SUCCESS)
    return NAN;
  return r.val - b->q;
}

int
gs_binomial_quantile_continuous (double q, size_t n, double p, double *k)
{
  binom_root b;
  gsl_function f;
  gsl_root_fsolver *s;
  double lo, hi, f0;
  int status = GSL_CONTINUE, iter = 0;
  if (!(q > 0 && q < 1) || !(p > 0 && p < 1) || n == 0)
    return gs_error (GS_EINVAL,
                     "binomial quantile needs 0 < q < 1, 0 < p < 1, n > 0 "
                     "(got q = %g, p = %g, n = %zu)",
                     q, p, n);
  b.n = (double)n;
  b.p = p;
  b.q = q;
  f.function = binom_cdf_real;
  f.params = &b;
  /* The continued CDF increases in k, so the root lies in (kd - 1, kd]
   * with kd the discrete quantile; this tight bracket also keeps the
   * incomplete beta away from underflowing tails. */
  hi = (double)gs_binomial_quantile (q, n, p);
  if (hi == 0)
    {
      *k = 0; /* q <= (1-p)^n: scipy clamps to the lower bound */
      return GS_OK;
    }
  lo = hi - 1;
  f0 = binom_cdf_real (hi, &b);
  if (f0 == 0)
    {
      *k = hi;
      return GS_OK;
    }
  s = gsl_root_fsolver_alloc (gsl_root_fsolver_brent);
  if (!s)
    return gs_error (GS_ENOMEM, "binomial quantile: out of memory");
  gsl_root_fsolver_set (s, &f, lo, hi);
  while (status == GSL_CONTINUE && iter++ < 200)
    {
      if (gsl_root_fsolver_iterate (s) != GSL_SUCCESS)
        break;
      lo = gsl_root_fsolver_x_lower (s);
      hi = gsl_root_fsolver_x_upper (s);
      status = gsl_root_test_interval (lo, hi, 1e-12, 1e-12);
    }
  *k = gsl_root_fsolver_root (s);
  gsl_root_fsolver_free (s);
  if (status != GSL_SUCCESS)
    return gs_error (GS_EMAXITER,
                     "binomial quantile (q = %g, n = %zu, p = %g) did not "
                     "converge",
                     q, n, p);
  return GS_OK;
}

int
gs_binomial_band (size_t n, double p, double conf, gs_binom_band *out)
{
  double q[3];
  double *d[3], *c[3];
  int i, st;
  if (!(p > 0 && p < 1) || !(conf > 0 && conf < 1))
    return gs_error (GS_EINVAL,
                     "binomial band needs 0 < p < 1 and 0 < conf < 1 "
                     "(got p = %g, conf = %g)",
                     p, conf);
  memset (out, 0, sizeof *out);
  out->n = n;
  out->p = p;
  if (n == 0)
    return GS_OK;
  q[0] = (1 - conf) / 2;
  q[1] = 0.5;
  q[2] = (1 + conf) / 2;
  d[0] = &out->lo;
  d[1] = &out->mid;
  d[2] = &out->hi;
  c[0] = &out->lo_c;
  c[1] = &out->mid_c;
  c[2] = &out->hi_c;
  for (i = 0; i < 3; i++)
    {
      *d[i] = (double)gs_binomial_quantile (q[i], n, p);
      st = gs_binomial_quantile_continuous (q[i], n, p, c[i]);
      if (st)
        return st;
    }
  return GS_OK;
}

/* ---- Equal-population bins ---------------------------------------------- */

int
gs_quantile_edges (size_t m, const double *values, size_t Q, double *edges)
{
  double *v;
  size_t b, i;
  if (m == 0 || Q == 0)
    return gs_error (GS_EINVAL, "quantile bins need values and Q >= 1");
  for (i = 0; i < m; i++)
    if (!isfinite (values[i]))
      return gs_error (GS_EBADDATA, "quantile bins: value %zu is not finite",
                       i);
  v = malloc (m * sizeof *v);
  if (!v)
    return gs_error (GS_ENOMEM, "quantile bins: out of memory");
  memcpy (v, values, m * sizeof *v);
  gsl_sort (v, 1, m);
  for (b = 0; b <= Q; b++)
    edges[b] = gsl_stats_quantile_from_sorted_data (v, 1, m,
                                                    (double)b / (double)Q);
  edges[Q] = v[m - 1];
  free (v);
  return GS_OK;
}

size_t
gs_bin_index (double x, size_t Q, const double *edges)
{
  /* First b with x <= edges[b+1]: bins are (e_b, e_{b+1}], bin 0 closed. */
  size_t lo = 0, hi = Q ? Q - 1 : 0;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (x <= edges[mid + 1])
        hi = mid;
      else
        lo = mid + 1;
    }
  return lo;
}

int
gs_metrics_recall_by_counts (size_t n, size_t K, const double *truth,
                             const int *present, size_t k, size_t Q,
                             double *edges, gs_rate *recall)
{
  double *a;
  size_t *hit, *tot, i, m = 0, b;
  int st;
  if (k >= K || Q == 0)
    return gs_error (GS_EINVAL, "recall: component %zu of %zu, %zu bins", k,
                     K, Q);
  a = malloc ((n ? n : 1) * sizeof *a);
  hit = calloc (2 * Q, sizeof *hit);
  if (!a || !hit)
    {
      free (a);
      free (hit);
      return gs_error (GS_ENOMEM, "recall: out of memory");
    }
  tot = hit + Q;
  for (i = 0; i < n; i++)
    if (truth[i * K + k] > 0)
      a[m++] = truth[i * K + k];
  if (m == 0)
    {
      free (a);
      free (hit);
      return gs_error (GS_EINVAL,
                       "recall: no spectrum contains component %zu", k);
    }
  st = gs_quantile_edges (m, a, Q, edges);
  if (st == GS_OK)
    {
      for (i = 0; i < n; i++)
        if (truth[i * K + k] > 0)
          {
            b = gs_bin_index (truth[i * K + k], Q, edges);
            tot[b]++;
            hit[b] += present[i * K + k] == 1;
          }
      for (b = 0; b < Q; b++)
        recall[b] = gs_rate_wilson (hit[b], tot[b], 0.95);
    }
  free (a);
  free (hit);
  return st;
}

/* ---- Grouped identification --------------------------------------------- */

typedef struct ident_counts
{
  size_t n, labels, correct, wrong, fp, fn;
} ident_counts;

static void
ident_add (ident_counts *c, size_t K, size_t j0, const double *t,
           const int *p)
{
  size_t j;
  int has_fp = 0, has_fn = 0;
  for (j = j0; j < K; j++)
    {
      int tj = t[j] > 0, pj = p[j] == 1;
      if (tj == pj)
        c->correct++;
      else if (pj)
        has_fp = 1;
      else
        has_fn = 1;
      c->labels++;
    }
  c->n++;
  c->wrong += has_fp || has_fn;
  c->fp += has_fp;
  c->fn += has_fn;
}

static void
ident_rates (const ident_counts *c, gs_ident_metrics *m)
{
  m->accuracy = gs_rate_wilson (c->correct, c->labels, 0.95);
  m->ppr = gs_rate_wilson (c->n - c->wrong, c->n, 0.95);
  m->fprr = gs_rate_wilson (c->wrong, c->n, 0.95);
  m->fpr = gs_rate_wilson (c->fp, c->n, 0.95);
  m->fnr = gs_rate_wilson (c->fn, c->n, 0.95);
}

int
gs_metrics_by_group (size_t n, size_t K, const double *truth,
                     const int *present, int include_background,
                     const int *group, size_t G, double target_fpr,
                     double band_conf, gs_group_metrics *out)
{
  size_t i, g, j0 = include_background ? 0 : 1;
  ident_counts *c;
  int st = GS_OK;
  if (K <= j0 || G == 0)
    return gs_error (GS_EINVAL, "group metrics need components and groups");
  for (i = 0; i < n; i++)
    if (group[i] < 0 || (size_t)group[i] >= G)
      return gs_error (GS_EINVAL,
                       "spectrum %zu: group label %d outside [0, %zu)", i,
                       group[i], G);
  c = calloc (G, sizeof *c);
  if (!c)
    return gs_error (GS_ENOMEM, "group metrics: out of memory");
  for (i = 0; i < n; i++)
    ident_add (&c[group[i]], K, j0, truth + i * K, present + i * K);
  for (g = 0; g < G && st == GS_OK; g++)
    {
      out[g].n = c[g].n;
      ident_rates (&c[g], &out[g].m);
      st = gs_binomial_band (c[g].n, target_fpr, band_conf, &out[g].band);
    }
  free (c);
  return st;
}

int
gs_metrics_count_levels (size_t n, size_t K, const double *truth, size_t Q,
                         double *edges, int *labels)
{
  double *tot;
  size_t i, j;
  int st;
  if (n == 0 || K == 0 || Q == 0)
    return gs_error (GS_EINVAL, "count levels need spectra, components "
                                "and Q >= 1");
  tot = malloc (n * sizeof *tot);
  if (!tot)
    return gs_error (GS_ENOMEM, "count levels: out of memory");
  for (i = 0; i < n; i++)
    {
      tot[i] = 0;
      for (j = 0; j < K; j++)
        tot[i] += truth[i * K + j];
    }
  st = gs_quantile_edges (n, tot, Q, edges);
  if (st == GS_OK)
    for (i = 0; i < n; i++)
      labels[i] = (int)gs_bin_index (tot[i], Q, edges);
  free (tot);
  return st;
}

int
gs_metrics_by_total_counts (size_t n, size_t K, const double *truth,
                            const int *present, int include_background,
                            size_t Q, double target_fpr, double band_conf,
                            double *edges, gs_group_metrics *out)
{
  int *lab, st;
  if (n == 0)
    return gs_error (GS_EINVAL, "FPR by counts needs spectra");
  lab = malloc (n * sizeof *lab);
  if (!lab)
    return gs_error (GS_ENOMEM, "FPR by counts: out of memory");
  st = gs_metrics_count_levels (n, K, truth, Q, edges, lab);
  if (st == GS_OK)
    st = gs_metrics_by_group (n, K, truth, present, include_background, lab,
                              Q, target_fpr, band_conf, out);
  free (lab);
  return st;
}

int
gs_metrics_by_n_present (size_t n, size_t K, const double *truth,
                         const int *present, int include_background,
                         double target_fpr, double band_conf,
                         gs_group_metrics *out)
{
  size_t i, j, j0 = include_background ? 0 : 1;
  int *lab, st;
  if (n == 0 || K <= j0)
    return gs_error (GS_EINVAL, "FPR by #present needs spectra and "
                                "components");
  lab = malloc (n * sizeof *lab);
  if (!lab)
    return gs_error (GS_ENOMEM, "FPR by #present: out of memory");
  for (i = 0; i < n; i++)
    {
      lab[i] = 0;
      for (j = j0; j < K; j++)
        lab[i] += truth[i * K + j] > 0;
    }
  st = gs_metrics_by_group (n, K, truth, present, include_background, lab,
                            K + 1, target_fpr, band_conf, out);
  free (lab);
  return st;
}

/* ---- Relative error ------------------------------------------------------ */

static void
sorted_quantiles (double *v, size_t m, double *q3)
{
  static const double f[3] = { 0.05, 0.5, 0.95 };
  int i;
  gsl_sort (v, 1, m);
  for (i = 0; i < 3; i++)
    q3[i] = m ? gsl_stats_quantile_from_sorted_data (v, 1, m, f[i]) : NAN;
}

int
gs_metrics_relerr_by_counts (size_t n, size_t K, const double *truth,
                             const double *counts, size_t k, size_t Q,
                             gs_relerr_bin *out)
{
  double *a, *edges, *sg, *ab;
  size_t *bin, i, m = 0, b, r;
  int st;
  if (k >= K || Q == 0)
    return gs_error (GS_EINVAL, "relative error: component %zu of %zu, "
                                "%zu bins",
                     k, K, Q);
  for (i = 0; i < n; i++)
    if (truth[i * K + k] > 0 && !isfinite (counts[i * K + k]))
      return gs_error (GS_EBADDATA,
                       "spectrum %zu: estimated count of component %zu is "
                       "not finite",
                       i, k);
  a = malloc ((3 * n + Q + 1) * sizeof *a + (n ? n : 1) * sizeof *bin);
  if (!a)
    return gs_error (GS_ENOMEM, "relative error: out of memory");
  sg = a + n;
  ab = sg + n;
  edges = ab + n;
  bin = (size_t *)(void *)(edges + Q + 1);
  for (i = 0; i < n; i++)
    if (truth[i * K + k] > 0)
      a[m++] = truth[i * K + k];
  if (m == 0)
    {
      free (a);
      return gs_error (GS_EINVAL,
                       "relative error: no spectrum contains component %zu",
                       k);
    }
  st = gs_quantile_edges (m, a, Q, edges);
  if (st == GS_OK)
    {
      m = 0;
      for (i = 0; i < n; i++)
        if (truth[i * K + k] > 0)
          bin[m++] = gs_bin_index (truth[i * K + k], Q, edges);
      for (b = 0; b < Q; b++)
        {
          r = 0;
          m = 0;
          for (i = 0; i < n; i++)
            if (truth[i * K + k] > 0)
              {
                if (bin[m++] == b)
                  {
                    double t = truth[i * K + k];
                    sg[r] = (counts[i * K + k] - t) / t;
                    ab[r] = fabs (sg[r]);
                    r++;
                  }
              }
          out[b].lo = edges[b];
          out[b].hi = edges[b + 1];
          out[b].n = r;
          sorted_quantiles (sg, r, out[b].signed_q);
          sorted_quantiles (ab, r, out[b].abs_q);
        }
    }
  free (a);
  return st;
}

/* ---- Paired comparison, per-component accuracy --------------------------- */

int
gs_metrics_perfect (size_t n, size_t K, const double *truth,
                    const int *present, int include_background, int *correct)
{
  size_t i, j, j0 = include_background ? 0 : 1;
  if (K <= j0)
    return gs_error (GS_EINVAL, "perfect predictions need components");
  for (i = 0; i < n; i++)
    {
      correct[i] = 1;
      for (j = j0; j < K; j++)
        if ((truth[i * K + j] > 0) != (present[i * K + j] == 1))
          correct[i] = 0;
    }
  return GS_OK;
}

int
gs_metrics_mcnemar (size_t n, const int *correct_a, const int *correct_b,
                    gs_mcnemar *out)
{
  size_t i, b = 0, c = 0, m;
  for (i = 0; i < n; i++)
    {
      int ra = correct_a[i] != 0, rb = correct_b[i] != 0;
      b += ra && !rb;
      c += !ra && rb;
    }
  out->b = b;
  out->c = c;
  m = b + c;
  if (m < 25)
    {
      size_t lo = b < c ? b : c;
      double p;
      out->exact = 1;
      out->statistic = (double)lo;
      if (m == 0)
        p = 1;
      else
        p = 2 * gsl_cdf_binomial_P ((unsigned int)lo, 0.5, (unsigned int)m);
      out->p_value = p > 1 ? 1 : p;
    }
  else
    {
      double d = fabs ((double)b - (double)c) - 1;
      out->exact = 0;
      out->statistic = d * d / (double)m;
      out->p_value = gsl_cdf_chisq_Q (out->statistic, 1);
    }
  return GS_OK;
}

int
gs_metrics_component_accuracy (size_t n, size_t K, const double *truth,
                               const int *present, gs_rate *out)
{
  size_t i, j;
  if (n == 0 || K == 0)
    return gs_error (GS_EINVAL, "component accuracy needs spectra and "
                                "components");
  for (j = 0; j < K; j++)
    {
      size_t ok = 0;
      for (i = 0; i < n; i++)
        ok += (truth[i * K + j] > 0) == (present[i * K + j] == 1);
      out[j] = gs_rate_wilson (ok, n, 0.95);
    }
  return GS_OK;
}

/* Midranks (1-based, ties share their mean rank) of v[idx[0..m)] into
 * r[idx[...]]; order (m) is scratch for the sort. */
static int
auc_midranks (const double *v, const size_t *idx, size_t m, double *r,
              double *key, size_t *order)
{
  size_t i, j, k;
  for (i = 0; i < m; i++)
    key[i] = v[idx[i]];
  gsl_sort_index (order, key, 1, m);
  for (i = 0; i < m; i = j)
    {
      double mid;
      for (j = i + 1; j < m && key[order[j]] == key[order[i]]; j++)
        ;
      mid = 0.5 * ((double)(i + 1) + (double)j);
      for (k = i; k < j; k++)
        r[idx[order[k]]] = mid;
    }
  return GS_OK;
}

int
gs_metrics_auc (size_t n, const double *score, const int *positive, double conf,
                gs_auc *out)
{
  size_t i, n1 = 0, n0 = 0, *all = NULL, *pos = NULL, *neg = NULL,
            *order = NULL;
  double *r_all = NULL, *r_own = NULL, *key = NULL, sum = 0;
  double m10 = 0, m01 = 0, s10 = 0, s01 = 0, z;
  int rc = GS_OK;
  if (!score || !positive || !out)
    return gs_error (GS_EINVAL, "gs_metrics_auc: NULL argument");
  if (!(conf > 0 && conf < 1))
    return gs_error (GS_EINVAL,
                     "gs_metrics_auc: confidence %g; give a value in (0, 1)",
                     conf);
  for (i = 0; i < n; i++)
    {
      if (!isfinite (score[i]))
        return gs_error (GS_EBADDATA,
                         "gs_metrics_auc: score %zu is %g; scores must be "
                         "finite",
                         i, score[i]);
      if (positive[i])
        n1++;
      else
        n0++;
    }
  if (n1 == 0 || n0 == 0)
    return gs_error (GS_EINVAL,
                     "gs_metrics_auc: %zu positives and %zu negatives; the "
                     "AUC needs at least one of each",
                     n1, n0);
  all = malloc (n * sizeof *all);
  pos = malloc (n1 * sizeof *pos);
  neg = malloc (n0 * sizeof *neg);
  order = malloc (n * sizeof *order);
  r_all = malloc (n * sizeof *r_all);
  r_own = malloc (n * sizeof *r_own);
  key = malloc (n * sizeof *key);
  if (!all || !pos || !neg || !order || !r_all || !r_own || !key)
    {
      rc = gs_error (GS_ENOMEM, "gs_metrics_auc: out of memory (%zu scores)",
                     n);
      goto done;
    }
  n1 = n0 = 0;
  for (i = 0; i < n; i++)
    {
      all[i] = i;
      if (positive[i])
        pos[n1++] = i;
      else
        neg[n0++] = i;
    }
  auc_midranks (score, all, n, r_all, key, order);
  auc_midranks (score, pos, n1, r_own, key, order);
  auc_midranks (score, neg, n0, r_own, key, order);
  /* Placements: V10_i = share of negatives below positive i (ties 1/2),
   * V01_j = share of positives above negative j. */
  for (i = 0; i < n1; i++)
    {
      double v = (r_all[pos[i]] - r_own[pos[i]]) / (double)n0;
      sum += r_all[pos[i]];
      r_own[pos[i]] = v;
      m10 += v;
    }
  for (i = 0; i < n0; i++)
    {
      double v = 1.0 - (r_all[neg[i]] - r_own[neg[i]]) / (double)n1;
      r_own[neg[i]] = v;
      m01 += v;
    }
  m10 /= (double)n1;
  m01 /= (double)n0;
  for (i = 0; i < n1; i++)
    s10 += (r_own[pos[i]] - m10) * (r_own[pos[i]] - m10);
  for (i = 0; i < n0; i++)
    s01 += (r_own[neg[i]] - m01) * (r_own[neg[i]] - m01);
  s10 = n1 > 1 ? s10 / (double)(n1 - 1) : 0;
  s01 = n0 > 1 ? s01 / (double)(n0 - 1) : 0;
  out->n_pos = n1;
  out->n_neg = n0;
  out->auc
      = (sum - 0.5 * (double)n1 * (double)(n1 + 1)) / ((double)n1 * (double)n0);
  out->se = sqrt (s10 / (double)n1 + s01 / (double)n0);
  z = gsl_cdf_ugaussian_Pinv (0.5 + 0.5 * conf);
  out->lo = out->auc - z * out->se;
  out->hi = out->auc + z * out->se;
  if (out->lo < 0)
    out->lo = 0;
  if (out->hi > 1)
    out->hi = 1;
done:
  free (all);
  free (pos);
  free (neg);
  free (order);
  free (r_all);
  free (r_own);
  free (key);
  return rc;
}
