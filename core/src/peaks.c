/* Peak-search metrics and the YOLOSpecNN paper's FWHM model (see
 * gspec/peaks.h). */
#include "gspec/peaks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

void
gs_fwhm_model_nai (gs_fwhm_model *m)
{
  m->c1 = -0.0067;
  m->c2 = 0.0612;
  m->c3 = -0.0451;
}

double
gs_fwhm_kev (const gs_fwhm_model *m, double e_kev)
{
  double e = e_kev * 1e-3, r, f;
  if (!(e > 0))
    return NAN;
  r = e + m->c3 * e * e;
  if (!(r >= 0))
    return NAN;
  f = m->c1 + m->c2 * sqrt (r);
  return f > 0 ? 1e3 * f : NAN;
}

/* A detection with its outcome, for the sweep over confidences. */
typedef struct scored
{
  double confidence;
  int tp;
} scored;

static int
by_confidence_desc (const void *a, const void *b)
{
  double x = ((const scored *)a)->confidence;
  double y = ((const scored *)b)->confidence;
  return x > y ? -1 : x < y ? 1 : 0;
}

/* Index order of one spectrum's detections: decreasing confidence, ties by
 * increasing centre (insertion sort: few peaks per spectrum). */
static void
order_detections (const gs_peak *p, size_t n, size_t *idx)
{
  size_t i, j;
  for (i = 0; i < n; i++)
    {
      size_t v = idx[i] = i;
      for (j = i; j > 0; j--)
        {
          const gs_peak *a = &p[idx[j - 1]], *b = &p[v];
          if (a->confidence > b->confidence
              || (a->confidence == b->confidence
                  && a->centre_kev <= b->centre_kev))
            break;
          idx[j] = idx[j - 1];
        }
      idx[j] = v;
    }
}

size_t
gs_peaks_match (const gs_peak_list *truth, const gs_peak_list *det,
                double window, double min_confidence, unsigned char *matched)
{
  size_t *idx, i, j, k = 0;
  if (!truth || !det || (truth->n && !matched))
    {
      gs_error (GS_EINVAL, "peak match: NULL argument");
      return (size_t)-1;
    }
  idx = malloc ((det->n ? det->n : 1) * sizeof *idx);
  if (!idx)
    {
      gs_error (GS_ENOMEM, "out of memory");
      return (size_t)-1;
    }
  if (truth->n)
    memset (matched, 0, truth->n);
  order_detections (det->peaks, det->n, idx);
  for (i = 0; i < det->n; i++)
    {
      const gs_peak *p = &det->peaks[idx[i]];
      size_t best = (size_t)-1;
      double bd = HUGE_VAL;
      if (!(p->confidence >= min_confidence))
        break; /* sorted by decreasing confidence */
      for (j = 0; j < truth->n; j++)
        {
          double dist = fabs (p->centre_kev - truth->peaks[j].centre_kev);
          if (!matched[j]
              && dist <= window * fabs (truth->peaks[j].centre_kev)
              && dist < bd)
            {
              bd = dist;
              best = j;
            }
        }
      if (best != (size_t)-1)
        {
          matched[best] = 1;
          k++;
        }
    }
  free (idx);
  return k;
}

int
gs_peaks_evaluate (size_t n_spectra, const gs_peak_list *truth,
                   const gs_peak_list *det, double window, gs_peak_metrics *out,
                   gs_pr_point **pr, size_t *n_pr)
{
  size_t s, i, j, n_true = 0, n_det = 0, max_t = 0, max_d = 0, k = 0, tp = 0,
                  np = 0;
  scored *all = NULL;
  size_t *idx = NULL;
  unsigned char *used = NULL;
  gs_pr_point *curve = NULL;
  double best_f1 = -1, ap = 0, prev_recall = 0;
  int rc = GS_OK;
  if (pr)
    *pr = NULL;
  if (n_pr)
    *n_pr = 0;
  if (!truth || !det || !out || !(window >= 0) || !isfinite (window))
    return gs_error (GS_EINVAL,
                     "peak metrics: NULL lists or a window (%g) that is not "
                     "a finite fraction >= 0",
                     window);
  for (s = 0; s < n_spectra; s++)
    {
      if ((truth[s].n && !truth[s].peaks) || (det[s].n && !det[s].peaks))
        return gs_error (GS_EINVAL,
                         "peak metrics: spectrum %zu has a count but no "
                         "peaks",
                         s);
      for (i = 0; i < truth[s].n; i++)
        if (!isfinite (truth[s].peaks[i].centre_kev))
          return gs_error (GS_EINVAL,
                           "peak metrics: true peak %zu of spectrum %zu has "
                           "centre %g keV",
                           i, s, truth[s].peaks[i].centre_kev);
      for (i = 0; i < det[s].n; i++)
        if (!isfinite (det[s].peaks[i].centre_kev)
            || !isfinite (det[s].peaks[i].confidence))
          return gs_error (GS_EINVAL,
                           "peak metrics: detection %zu of spectrum %zu has "
                           "centre %g keV, confidence %g (both must be "
                           "finite)",
                           i, s, det[s].peaks[i].centre_kev,
                           det[s].peaks[i].confidence);
      n_true += truth[s].n;
      n_det += det[s].n;
      max_t = truth[s].n > max_t ? truth[s].n : max_t;
      max_d = det[s].n > max_d ? det[s].n : max_d;
    }
  if (n_true == 0)
    return gs_error (GS_EINVAL,
                     "peak metrics: the %zu spectra hold no true "
                     "peak; recall is undefined",
                     n_spectra);
  all = malloc ((n_det ? n_det : 1) * sizeof *all);
  idx = malloc ((max_d ? max_d : 1) * sizeof *idx);
  used = malloc (max_t ? max_t : 1);
  if (!all || !idx || !used)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  /* Greedy matching per spectrum, most confident detection first. */
  for (s = 0; s < n_spectra; s++)
    {
      const gs_peak *t = truth[s].peaks, *d = det[s].peaks;
      memset (used, 0, truth[s].n);
      order_detections (d, det[s].n, idx);
      for (i = 0; i < det[s].n; i++)
        {
          const gs_peak *p = &d[idx[i]];
          size_t best = (size_t)-1;
          double bd = HUGE_VAL;
          for (j = 0; j < truth[s].n; j++)
            {
              double dist = fabs (p->centre_kev - t[j].centre_kev);
              if (!used[j] && dist <= window * fabs (t[j].centre_kev)
                  && dist < bd)
                {
                  bd = dist;
                  best = j;
                }
            }
          all[k].confidence = p->confidence;
          all[k].tp = best != (size_t)-1;
          if (all[k].tp)
            used[best] = 1;
          k++;
        }
    }
  /* The sweep: one point per distinct confidence. */
  qsort (all, n_det, sizeof *all, by_confidence_desc);
  curve = malloc ((n_det ? n_det : 1) * sizeof *curve);
  if (!curve)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  memset (out, 0, sizeof *out);
  out->n_true = n_true;
  out->n_detections = n_det;
  out->best_confidence = HUGE_VAL;
  for (i = 0; i < n_det;)
    {
      double c = all[i].confidence, p, r, f1;
      for (; i < n_det && all[i].confidence == c; i++)
        tp += (size_t)all[i].tp;
      p = (double)tp / (double)i;
      r = (double)tp / (double)n_true;
      f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
      curve[np].confidence = c;
      curve[np].recall = r;
      curve[np].precision = p;
      np++;
      if (f1 > best_f1)
        {
          best_f1 = f1;
          out->precision = p;
          out->recall = r;
          out->f1 = f1;
          out->best_confidence = c;
          out->tp = tp;
          out->fp = i - tp;
        }
    }
  /* AP: sum over recall steps of the best precision at that recall or
   * beyond (the curve runs by increasing recall). */
  {
    double *pmax = malloc ((np ? np : 1) * sizeof *pmax);
    if (!pmax)
      {
        rc = gs_error (GS_ENOMEM, "out of memory");
        goto done;
      }
    for (i = np; i-- > 0;)
      pmax[i] = i + 1 < np && pmax[i + 1] > curve[i].precision
                    ? pmax[i + 1]
                    : curve[i].precision;
    for (i = 0; i < np; i++)
      if (curve[i].recall > prev_recall)
        {
          ap += (curve[i].recall - prev_recall) * pmax[i];
          prev_recall = curve[i].recall;
        }
    free (pmax);
  }
  out->ap = ap;
  if (n_det == 0)
    out->best_confidence = NAN;
  if (pr && n_pr)
    {
      *pr = curve;
      *n_pr = np;
      curve = NULL;
    }
done:
  free (all);
  free (idx);
  free (used);
  free (curve);
  return rc;
}
