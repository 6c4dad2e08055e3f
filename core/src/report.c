/* Run reports (report.h): the paper's Tables 1-7 as Markdown, every metric
 * as JSON and CSV, and the figures as gnuplot data, scripts and images. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gspec/metrics.h"
#include "gspec/plugin.h"
#include "gspec/status.h"

#define BAND_CONF 0.99 /* binomial band of the FP count (spec 6) */
#define LEVELS 3       /* count levels: low, medium, high */
#define FIG_BINS 10    /* total-count bins of the FPR figure */
#define RECALL_BINS 20 /* count bins of the recall figure */
#define RELERR_BINS 10 /* count bins of the relative-error figure */
#define GNUPLOT_TIMEOUT_S 120

static const char *const level_name[LEVELS] = { "low", "medium", "high" };

/* One method, its rows compacted to the spectra it has results for, and
 * every metric computed on them. */
typedef struct rep_method
{
  const gs_report_method *src;
  int ident;       /* appears in the identification sections */
  int quant;       /* appears in the quantification sections */
  int usable;      /* not failed and at least one spectrum with a result */
  char *ident_err; /* why identification metrics are missing (malloc'd) */
  char *quant_err;
  size_t m;       /* spectra with ok = 1 */
  size_t *idx;    /* their indices in the test set */
  double *truth;  /* m x K */
  int *present;   /* m x K (ident) */
  double *counts; /* m x K (quant) */
  int *lab;       /* m labels, scratch */
  int *correct;   /* n: perfect prediction (-1 where ok = 0) */
  gs_ident_metrics id;
  gs_group_metrics lev[LEVELS];
  gs_group_metrics bins[FIG_BINS];
  gs_group_metrics *npres; /* P */
  gs_group_metrics *grp;   /* G */
  gs_group_metrics *grpl;  /* G x LEVELS */
  gs_rate *cacc;           /* K */
  int *rvalid;             /* K: recall computed for the component */
  double *redges;          /* K x (RECALL_BINS + 1) */
  gs_rate *recall;         /* K x RECALL_BINS */
  gs_quant_metrics q;
  int *qvalid;         /* K: relative error computed */
  gs_relerr_bin *re1;  /* K */
  gs_relerr_bin *re10; /* K x RELERR_BINS */
} rep_method;

typedef struct rep
{
  const gs_report_input *in;
  size_t n, K, M, P, G;
  rep_method *m;
  int has_truth;
  size_t n_ident, n_quant; /* methods with each section */
  int any_bg;              /* some identifier evaluates the background */
  double lev_edges[LEVELS + 1];
  double bin_edges[FIG_BINS + 1];
  int *lev, *bin, *np, *grpl; /* n labels over the whole test set */
  size_t lev_n[LEVELS], bin_n[FIG_BINS];
  size_t *np_n, *grp_n, *grpl_n; /* spectra per label */
  int *seen;                     /* K: component present somewhere */
  char *tables, *plots;          /* output directories */
  gs__buf figs;                  /* the Markdown "Figures" section */
  int gnuplot_missing;
  size_t n_figs;
} rep;

static int
oom (void)
{
  return gs_error (GS_ENOMEM, "report: out of memory");
}

/* ---- Formatting ---------------------------------------------------------- */

/* A percentage with 2 decimals, "n/a" when undefined. */
static void
put_pct (gs__buf *b, double v)
{
  if (isfinite (v))
    gs__buf_printf (b, "%.2f", 100 * v);
  else
    gs__buf_puts (b, "n/a");
}

/* A count or count-range bound, short. */
static void
put_count (gs__buf *b, double v)
{
  if (!isfinite (v))
    gs__buf_puts (b, "n/a");
  else if (fabs (v) >= 10 || v == floor (v))
    gs__buf_printf (b, "%.0f", v);
  else
    gs__buf_printf (b, "%.3g", v);
}

/* Text inside a Markdown table cell: no '|' and no line breaks. */
static void
put_cell (gs__buf *b, const char *s)
{
  for (s = s ? s : ""; *s; s++)
    {
      if (*s == '|')
        gs__buf_puts (b, "\\|");
      else if (*s == '\n' || *s == '\r' || *s == '\t')
        gs__buf_puts (b, " ");
      else
        gs__buf_append (b, s, 1);
    }
}

/* A CSV field, quoted when needed. */
static void
csv_str (gs__buf *b, const char *s)
{
  const char *p;
  s = s ? s : "";
  if (!strpbrk (s, ",\"\n\r"))
    {
      gs__buf_puts (b, s);
      return;
    }
  gs__buf_puts (b, "\"");
  for (p = s; *p; p++)
    {
      if (*p == '"')
        gs__buf_puts (b, "\"");
      gs__buf_append (b, p, 1);
    }
  gs__buf_puts (b, "\"");
}

/* ",<number>" for CSV (empty when undefined). */
static void
csv_num (gs__buf *b, double v)
{
  if (isfinite (v))
    gs__buf_printf (b, ",%.10g", v);
  else
    gs__buf_puts (b, ",");
}

/* A number for gnuplot data files (NaN is "missing"). */
static void
dat_num (gs__buf *b, double v)
{
  if (isfinite (v))
    gs__buf_printf (b, " %.10g", v);
  else
    gs__buf_puts (b, " NaN");
}

/* A gnuplot single-quoted string. */
static void
gp_str (gs__buf *b, const char *s)
{
  gs__buf_puts (b, "'");
  for (s = s ? s : ""; *s; s++)
    {
      if (*s == '\'')
        gs__buf_puts (b, "''");
      else if (*s == '\n' || *s == '\r')
        gs__buf_puts (b, " ");
      else
        gs__buf_append (b, s, 1);
    }
  gs__buf_puts (b, "'");
}

void
gs_report_json_rate (gs__buf *b, const gs_rate *r)
{
  gs__buf_puts (b, "{\"value\": ");
  gs__buf_json_number (b, r->value);
  gs__buf_printf (b, ", \"k\": %zu, \"n\": %zu, \"ci95\": [", r->k, r->n);
  gs__buf_json_number (b, r->lo);
  gs__buf_puts (b, ", ");
  gs__buf_json_number (b, r->hi);
  gs__buf_puts (b, "]}");
}

static void
json_key (gs__buf *b, const char *key)
{
  gs__buf_json_string (b, key);
  gs__buf_puts (b, ": ");
}

static const char *
comp_name (const rep *r, size_t k)
{
  return r->in->names[k] ? r->in->names[k] : "?";
}

static double
group_value (const rep *r, size_t g)
{
  return r->in->group_value ? r->in->group_value[g] : (double)g;
}

/* The x position of a count bin: its geometric centre. */
static double
bin_centre (double lo, double hi)
{
  if (lo > 0 && hi > 0)
    return sqrt (lo * hi);
  return 0.5 * (lo + hi);
}

static int
fp_outside_band (const gs_group_metrics *g)
{
  double k = (double)g->m.fpr.k;
  return g->n > 0 && (k < g->band.lo || k > g->band.hi);
}

/* ---- Validation and metrics -------------------------------------------- */

static int
validate (const gs_report_input *in, gs__buf *md, gs__buf *json)
{
  size_t i, j;
  if (!in || !md || !json)
    return gs_error (GS_EINVAL, "report: no input or output buffer");
  if (in->K == 0 || !in->names)
    return gs_error (GS_EINVAL, "report: no components (K = %zu)", in->K);
  if (in->n_methods > 0 && !in->methods)
    return gs_error (GS_EINVAL, "report: %zu methods but no method array",
                     in->n_methods);
  if (!in->out_dir || !*in->out_dir)
    return gs_error (GS_EINVAL, "report: no output directory");
  if (!(in->target_fpr > 0 && in->target_fpr < 1))
    return gs_error (GS_EINVAL, "report: target FPR %g is not in (0, 1)",
                     in->target_fpr);
  if (in->truth && in->n == 0)
    return gs_error (GS_EINVAL, "report: truth given for 0 spectra");
  if (in->truth)
    for (i = 0; i < in->n * in->K; i++)
      if (!isfinite (in->truth[i]) || in->truth[i] < 0)
        return gs_error (GS_EBADDATA,
                         "report: true count %zu of spectrum %zu is not a "
                         "finite non-negative number",
                         i % in->K, i / in->K);
  if (in->group)
    {
      if (in->G == 0)
        return gs_error (GS_EINVAL, "report: group labels with G = 0");
      for (i = 0; i < in->n; i++)
        if (in->group[i] < 0 || (size_t)in->group[i] >= in->G)
          return gs_error (GS_EINVAL,
                           "report: spectrum %zu: group %d outside [0, %zu)", i,
                           in->group[i], in->G);
    }
  for (j = 0; j < in->n_methods; j++)
    {
      const gs_report_method *m = &in->methods[j];
      if (!m->id)
        return gs_error (GS_EINVAL, "report: method %zu has no id", j);
      if (m->failed)
        continue;
      if (in->truth && !m->ok)
        return gs_error (GS_EINVAL, "report: method %s: no ok flags", m->id);
      if (in->truth && (m->kinds & GS_KIND_IDENTIFY) && !m->present)
        return gs_error (GS_EINVAL, "report: method %s: no decisions", m->id);
      if (in->truth && in->truth_is_counts && (m->kinds & GS_KIND_QUANTIFY)
          && !m->counts)
        return gs_error (GS_EINVAL, "report: method %s: no counts", m->id);
    }
  return GS_OK;
}

/* Keeps a metric failure as the section's note: only running out of
 * memory stops the report. */
static int
keep_error (int st, char **note)
{
  if (st == GS_OK || st == GS_ENOMEM)
    return st;
  if (!*note)
    {
      *note = gs__strdup (gs_last_error ());
      if (!*note)
        return oom ();
    }
  return GS_OK;
}

/* Labels over the whole test set, shared by every method so that the
 * tables' columns agree. */
static int
global_labels (rep *r)
{
  const gs_report_input *in = r->in;
  size_t i, j, n = r->n, K = r->K, maxp = 0;
  int st;
  r->lev = malloc (4 * n * sizeof *r->lev);
  r->seen = calloc (K, sizeof *r->seen);
  if (!r->lev || !r->seen)
    return oom ();
  r->bin = r->lev + n;
  r->np = r->bin + n;
  r->grpl = r->np + n;
  st = gs_metrics_count_levels (n, K, in->truth, LEVELS, r->lev_edges, r->lev);
  if (st == GS_OK)
    st = gs_metrics_count_levels (n, K, in->truth, FIG_BINS, r->bin_edges,
                                  r->bin);
  if (st != GS_OK)
    return st;
  for (i = 0; i < n; i++)
    {
      size_t c = 0;
      for (j = 0; j < K; j++)
        if (in->truth[i * K + j] > 0)
          {
            r->seen[j] = 1;
            c += j > 0;
          }
      r->np[i] = (int)c;
      if (c > maxp)
        maxp = c;
      r->lev_n[r->lev[i]]++;
      r->bin_n[r->bin[i]]++;
    }
  r->P = maxp + 1;
  r->G = in->group ? in->G : 0;
  r->np_n = calloc (r->P + r->G + r->G * LEVELS, sizeof *r->np_n);
  if (!r->np_n)
    return oom ();
  r->grp_n = r->np_n + r->P;
  r->grpl_n = r->grp_n + r->G;
  for (i = 0; i < n; i++)
    {
      r->np_n[r->np[i]]++;
      if (in->group)
        {
          r->grpl[i] = in->group[i] * LEVELS + r->lev[i];
          r->grp_n[in->group[i]]++;
          r->grpl_n[r->grpl[i]]++;
        }
    }
  return GS_OK;
}

/* Copies a method's rows with ok = 1. */
static int
compact (rep *r, rep_method *rm)
{
  const gs_report_method *s = rm->src;
  size_t i, m = 0, n = r->n, K = r->K;
  for (i = 0; i < n; i++)
    m += s->ok[i] == 1;
  rm->m = m;
  if (m == 0)
    return GS_OK;
  rm->idx = malloc (m * sizeof *rm->idx);
  rm->truth = malloc (m * K * sizeof *rm->truth);
  rm->lab = malloc (m * sizeof *rm->lab);
  if (!rm->idx || !rm->truth || !rm->lab)
    return oom ();
  if (rm->ident && !(rm->present = malloc (m * K * sizeof *rm->present)))
    return oom ();
  if (rm->quant && !(rm->counts = malloc (m * K * sizeof *rm->counts)))
    return oom ();
  m = 0;
  for (i = 0; i < n; i++)
    if (s->ok[i] == 1)
      {
        rm->idx[m] = i;
        memcpy (rm->truth + m * K, r->in->truth + i * K, K * sizeof *rm->truth);
        if (rm->present)
          memcpy (rm->present + m * K, s->present + i * K,
                  K * sizeof *rm->present);
        if (rm->counts)
          memcpy (rm->counts + m * K, s->counts + i * K,
                  K * sizeof *rm->counts);
        m++;
      }
  return GS_OK;
}

/* by_group over one of the global labellings, compacted. */
static int
grouped (rep *r, rep_method *rm, const int *labels, size_t G,
         gs_group_metrics *out)
{
  size_t i;
  for (i = 0; i < rm->m; i++)
    rm->lab[i] = labels[rm->idx[i]];
  return gs_metrics_by_group (rm->m, r->K, rm->truth, rm->present,
                              rm->src->include_background, rm->lab, G,
                              r->in->target_fpr, BAND_CONF, out);
}

static int
ident_metrics (rep *r, rep_method *rm)
{
  size_t k, i, K = r->K, m = rm->m;
  int bg = rm->src->include_background, st;
  rm->npres = calloc (r->P + r->G + r->G * LEVELS, sizeof *rm->npres);
  rm->cacc = calloc (K, sizeof *rm->cacc);
  rm->rvalid = calloc (K, sizeof *rm->rvalid);
  rm->redges = calloc (K * (RECALL_BINS + 1), sizeof *rm->redges);
  rm->recall = calloc (K * RECALL_BINS, sizeof *rm->recall);
  rm->correct = malloc (r->n * sizeof *rm->correct);
  if (!rm->npres || !rm->cacc || !rm->rvalid || !rm->redges || !rm->recall
      || !rm->correct)
    return oom ();
  rm->grp = rm->npres + r->P;
  rm->grpl = rm->grp + r->G;
  st = gs_metrics_identification (m, K, rm->truth, rm->present, bg, &rm->id);
  if (st == GS_OK)
    st = grouped (r, rm, r->lev, LEVELS, rm->lev);
  if (st == GS_OK)
    st = grouped (r, rm, r->bin, FIG_BINS, rm->bins);
  if (st == GS_OK)
    st = grouped (r, rm, r->np, r->P, rm->npres);
  if (st == GS_OK && r->G)
    st = grouped (r, rm, r->in->group, r->G, rm->grp);
  if (st == GS_OK && r->G)
    st = grouped (r, rm, r->grpl, r->G * LEVELS, rm->grpl);
  if (st == GS_OK)
    st = gs_metrics_component_accuracy (m, K, rm->truth, rm->present, rm->cacc);
  for (k = bg ? 0 : 1; k < K && st == GS_OK; k++)
    {
      int any = 0;
      for (i = 0; i < m && !any; i++)
        any = rm->truth[i * K + k] > 0;
      if (!any)
        continue;
      st = gs_metrics_recall_by_counts (
          m, K, rm->truth, rm->present, k, RECALL_BINS,
          rm->redges + k * (RECALL_BINS + 1), rm->recall + k * RECALL_BINS);
      rm->rvalid[k] = st == GS_OK;
    }
  if (st == GS_OK)
    {
      /* Perfect predictions over the whole test set for McNemar. */
      int *c = rm->lab;
      st = gs_metrics_perfect (m, K, rm->truth, rm->present, bg, c);
      for (i = 0; i < r->n; i++)
        rm->correct[i] = -1;
      for (i = 0; i < m && st == GS_OK; i++)
        rm->correct[rm->idx[i]] = c[i];
    }
  return keep_error (st, &rm->ident_err);
}

static int
quant_metrics (rep *r, rep_method *rm)
{
  size_t k, i, K = r->K, m = rm->m;
  int st;
  rm->qvalid = calloc (K, sizeof *rm->qvalid);
  rm->re1 = calloc (K, sizeof *rm->re1);
  rm->re10 = calloc (K * RELERR_BINS, sizeof *rm->re10);
  if (!rm->qvalid || !rm->re1 || !rm->re10)
    return oom ();
  st = gs_metrics_quantification (m, K, rm->truth, rm->counts, &rm->q);
  for (k = 1; k < K && st == GS_OK; k++)
    {
      int any = 0;
      for (i = 0; i < m && !any; i++)
        any = rm->truth[i * K + k] > 0;
      if (!any)
        continue;
      st = gs_metrics_relerr_by_counts (m, K, rm->truth, rm->counts, k, 1,
                                        rm->re1 + k);
      if (st == GS_OK)
        st = gs_metrics_relerr_by_counts (m, K, rm->truth, rm->counts, k,
                                          RELERR_BINS,
                                          rm->re10 + k * RELERR_BINS);
      rm->qvalid[k] = st == GS_OK;
    }
  return keep_error (st, &rm->quant_err);
}

static int
compute (rep *r)
{
  const gs_report_input *in = r->in;
  size_t j;
  int st;
  r->m = calloc (r->M ? r->M : 1, sizeof *r->m);
  if (!r->m)
    return oom ();
  for (j = 0; j < r->M; j++)
    {
      rep_method *rm = &r->m[j];
      rm->src = &in->methods[j];
      rm->ident = r->has_truth && (rm->src->kinds & GS_KIND_IDENTIFY);
      rm->quant = r->has_truth && in->truth_is_counts
                  && (rm->src->kinds & GS_KIND_QUANTIFY);
      r->n_ident += rm->ident != 0;
      r->n_quant += rm->quant != 0;
      if (rm->ident && rm->src->include_background)
        r->any_bg = 1;
    }
  if (!r->has_truth)
    return GS_OK;
  if ((st = global_labels (r)) != GS_OK)
    return st;
  for (j = 0; j < r->M; j++)
    {
      rep_method *rm = &r->m[j];
      if (rm->src->failed || !(rm->ident || rm->quant))
        continue;
      if ((st = compact (r, rm)) != GS_OK)
        return st;
      if (rm->m == 0)
        continue;
      rm->usable = 1;
      if (rm->ident && (st = ident_metrics (r, rm)) != GS_OK)
        return st;
      if (rm->quant && (st = quant_metrics (r, rm)) != GS_OK)
        return st;
    }
  return GS_OK;
}

static void
free_rep (rep *r)
{
  size_t j;
  for (j = 0; r->m && j < r->M; j++)
    {
      rep_method *rm = &r->m[j];
      free (rm->ident_err);
      free (rm->quant_err);
      free (rm->idx);
      free (rm->truth);
      free (rm->present);
      free (rm->counts);
      free (rm->lab);
      free (rm->correct);
      free (rm->npres);
      free (rm->cacc);
      free (rm->rvalid);
      free (rm->redges);
      free (rm->recall);
      free (rm->qvalid);
      free (rm->re1);
      free (rm->re10);
    }
  free (r->m);
  free (r->lev);
  free (r->np_n);
  free (r->seen);
  free (r->tables);
  free (r->plots);
  gs__buf_fini (&r->figs);
}

/* A method's identification results are shown (not failed, no error). */
static int
ident_ok (const rep_method *rm)
{
  return rm->ident && rm->usable && !rm->ident_err;
}

static int
quant_ok (const rep_method *rm)
{
  return rm->quant && rm->usable && !rm->quant_err;
}

/* The cell text of a method row without results. */
static const char *
missing_text (const rep_method *rm, const char *err)
{
  if (rm->src->failed)
    return "failed";
  if (err)
    return "error";
  return "no results";
}

/* ---- Markdown ------------------------------------------------------------ */

/* "| id | <why> | | ... |" for a method without results. */
static void
md_missing_row (gs__buf *b, const rep_method *rm, const char *err, size_t cols)
{
  size_t c;
  gs__buf_puts (b, "| ");
  put_cell (b, rm->src->id);
  gs__buf_printf (b, " | %s |", missing_text (rm, err));
  for (c = 1; c < cols; c++)
    gs__buf_puts (b, " |");
  gs__buf_puts (b, "\n");
}

static void
md_header (const rep *r, gs__buf *md)
{
  const gs_report_input *in = r->in;
  gs__buf_printf (md, "# %s\n\n", in->name ? in->name : "gspec run");
  gs__buf_printf (md,
                  "Config `%s` (hash `%s`), seed %llu, target FPR %g %%, "
                  "library %s, test set `%s` (n = %zu).\n",
                  in->config ? in->config : "?", in->hash ? in->hash : "?",
                  in->seed, 100 * in->target_fpr,
                  in->library ? in->library : "?",
                  in->test_name ? in->test_name : "?", in->n);
  if (in->caption && *in->caption)
    gs__buf_printf (md, "\n*%s*\n", in->caption);
  gs__buf_puts (md, "\n");
}

static void
md_identification (const rep *r, gs__buf *md)
{
  static const char *const cols = "| | Accuracy | PPR | FPrR | FPR | FNR |\n"
                                  "|---|---:|---:|---:|---:|---:|\n";
  size_t j, t;
  int any_note = 0;
  if (!r->n_ident)
    return;
  gs__buf_puts (md,
                "## Identification\n\n"
                "Layout of the paper's Tables 1-5: per-spectrum rates in % "
                "(spec 6): Accuracy is the Hamming accuracy over spectra x "
                "nuclides, PPR the perfect-prediction rate, FPrR = 1 - PPR, "
                "FPR / FNR the fraction of spectra with at least one false "
                "positive / false negative.\n\n");
  gs__buf_puts (md, cols);
  for (t = 0; t < 2; t++)
    {
      if (t == 1)
        {
          gs__buf_puts (md, "\n95 % Wilson intervals:\n\n");
          gs__buf_puts (md, cols);
        }
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          const gs_rate *v[5];
          size_t c;
          if (!rm->ident)
            continue;
          if (!ident_ok (rm))
            {
              md_missing_row (md, rm, rm->ident_err, 5);
              any_note |= rm->ident_err != NULL;
              continue;
            }
          v[0] = &rm->id.accuracy;
          v[1] = &rm->id.ppr;
          v[2] = &rm->id.fprr;
          v[3] = &rm->id.fpr;
          v[4] = &rm->id.fnr;
          gs__buf_puts (md, "| ");
          put_cell (md, rm->src->id);
          for (c = 0; c < 5; c++)
            {
              gs__buf_puts (md, " | ");
              if (t == 0)
                put_pct (md, v[c]->value);
              else
                {
                  gs__buf_puts (md, "[");
                  put_pct (md, v[c]->lo);
                  gs__buf_puts (md, ", ");
                  put_pct (md, v[c]->hi);
                  gs__buf_puts (md, "]");
                }
            }
          gs__buf_puts (md, " |\n");
        }
    }
  if (any_note)
    {
      gs__buf_puts (md, "\n");
      for (j = 0; j < r->M; j++)
        if (r->m[j].ident && r->m[j].ident_err && !r->m[j].src->failed)
          {
            gs__buf_printf (md, "- %s: ", r->m[j].src->id);
            put_cell (md, r->m[j].ident_err);
            gs__buf_puts (md, "\n");
          }
    }
  gs__buf_puts (md, "\n");
}

static void
md_calibration (const rep *r, gs__buf *md)
{
  size_t j, k, rows = 0;
  for (j = 0; j < r->M; j++)
    rows += r->m[j].src->calibrated && !r->m[j].src->failed;
  if (!rows)
    return;
  gs__buf_puts (md, "### Threshold calibration\n\n"
                    "| | Mode | Threshold | Validation FPR | Target |\n"
                    "|---|---|---:|---:|---:|\n");
  for (j = 0; j < r->M; j++)
    {
      const gs_report_method *s = r->m[j].src;
      double lo = INFINITY, hi = -INFINITY;
      if (!s->calibrated || s->failed)
        continue;
      for (k = 0; s->thresholds && k < r->K; k++)
        if (isfinite (s->thresholds[k]))
          {
            lo = fmin (lo, s->thresholds[k]);
            hi = fmax (hi, s->thresholds[k]);
          }
      gs__buf_puts (md, "| ");
      put_cell (md, s->id);
      gs__buf_puts (md, " | ");
      put_cell (md, s->calib_mode ? s->calib_mode : "?");
      if (!(lo <= hi))
        gs__buf_puts (md, " | n/a");
      else if (lo == hi)
        gs__buf_printf (md, " | %.6g", lo);
      else
        gs__buf_printf (md, " | %.6g..%.6g", lo, hi);
      gs__buf_puts (md, " | ");
      put_pct (md, s->valid_fpr);
      gs__buf_printf (md, " %% (n = %zu) | %g %% |\n", s->valid_n,
                      100 * r->in->target_fpr);
    }
  gs__buf_puts (md, "\n");
}

/* "FPR % (band lo-hi)" with '*' when the FP count is outside the band. */
static void
md_fpr_cell (gs__buf *b, const gs_group_metrics *g)
{
  if (g->n == 0)
    {
      gs__buf_puts (b, "n/a");
      return;
    }
  put_pct (b, g->m.fpr.value);
  gs__buf_printf (b, " (%.2f-%.2f)%s", 100 * g->band.lo / (double)g->n,
                  100 * g->band.hi / (double)g->n,
                  fp_outside_band (g) ? "*" : "");
}

static void
md_fpr_by (const rep *r, gs__buf *md, int by_counts)
{
  size_t j, c, cols = by_counts ? LEVELS : r->P;
  if (!r->n_ident)
    return;
  if (by_counts)
    gs__buf_puts (md, "### FPR by total counts\n\n"
                      "Three equal-population levels of the true total "
                      "counts (background included).  ");
  else
    gs__buf_puts (md, "### FPR by number of present nuclides\n\n");
  gs__buf_printf (md,
                  "Cells: FPR %% (99 %% binomial band of the FP count at the "
                  "target FPR, as %% of the group); * marks a count outside "
                  "the band.\n\n|");
  for (c = 0; c < cols; c++)
    {
      if (by_counts)
        {
          gs__buf_printf (md, " | %s (", level_name[c]);
          put_count (md, r->lev_edges[c]);
          gs__buf_puts (md, "-");
          put_count (md, r->lev_edges[c + 1]);
          gs__buf_printf (md, ", n = %zu)", r->lev_n[c]);
        }
      else
        gs__buf_printf (md, " | %zu (n = %zu)", c, r->np_n[c]);
    }
  gs__buf_puts (md, " |\n|---|");
  for (c = 0; c < cols; c++)
    gs__buf_puts (md, "---:|");
  gs__buf_puts (md, "\n");
  for (j = 0; j < r->M; j++)
    {
      const rep_method *rm = &r->m[j];
      if (!rm->ident)
        continue;
      if (!ident_ok (rm))
        {
          md_missing_row (md, rm, rm->ident_err, cols);
          continue;
        }
      gs__buf_puts (md, "| ");
      put_cell (md, rm->src->id);
      for (c = 0; c < cols; c++)
        {
          gs__buf_puts (md, " | ");
          md_fpr_cell (md, by_counts ? &rm->lev[c] : &rm->npres[c]);
        }
      gs__buf_puts (md, " |\n");
    }
  gs__buf_puts (md, "\n");
}

/* Identification columns: the methods with the section. */
static void
md_method_columns (const rep *r, gs__buf *md, const char *first, int quant)
{
  size_t j, c = 0;
  gs__buf_printf (md, "| %s", first);
  for (j = 0; j < r->M; j++)
    if (quant ? r->m[j].quant : r->m[j].ident)
      {
        gs__buf_puts (md, " | ");
        put_cell (md, r->m[j].src->id);
        c++;
      }
  gs__buf_puts (md, " |\n|---|");
  while (c--)
    gs__buf_puts (md, "---:|");
  gs__buf_puts (md, "\n");
}

static void
md_component_accuracy (const rep *r, gs__buf *md)
{
  size_t j, k;
  if (!r->n_ident)
    return;
  gs__buf_puts (md, "### Per-nuclide accuracy\n\n"
                    "(TN + TP) / n per nuclide, %.\n\n");
  md_method_columns (r, md, "Nuclide", 0);
  for (k = r->any_bg ? 0 : 1; k < r->K; k++)
    {
      gs__buf_puts (md, "| ");
      put_cell (md, comp_name (r, k));
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!rm->ident)
            continue;
          gs__buf_puts (md, " | ");
          if (ident_ok (rm))
            put_pct (md, rm->cacc[k].value);
          else
            gs__buf_puts (md, missing_text (rm, rm->ident_err));
        }
      gs__buf_puts (md, " |\n");
    }
  gs__buf_puts (md, "\n");
}

static void
md_by_group (const rep *r, gs__buf *md)
{
  size_t j, g;
  if (!r->n_ident || !r->G)
    return;
  gs__buf_puts (md, "### By ");
  put_cell (md, r->in->group_title ? r->in->group_title : "group");
  gs__buf_puts (md, "\n\nFPR and FNR per spectrum in %; the breakdown by "
                    "count level is in tables/by_group_level.csv.\n\n| ");
  put_cell (md, r->in->group_title ? r->in->group_title : "group");
  gs__buf_puts (md, " | n");
  for (j = 0; j < r->M; j++)
    if (r->m[j].ident)
      {
        gs__buf_puts (md, " | ");
        put_cell (md, r->m[j].src->id);
        gs__buf_puts (md, " FPR | ");
        put_cell (md, r->m[j].src->id);
        gs__buf_puts (md, " FNR");
      }
  gs__buf_puts (md, " |\n|---:|---:|");
  for (j = 0; j < r->M; j++)
    if (r->m[j].ident)
      gs__buf_puts (md, "---:|---:|");
  gs__buf_puts (md, "\n");
  for (g = 0; g < r->G; g++)
    {
      gs__buf_printf (md, "| %g | %zu", group_value (r, g), r->grp_n[g]);
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!rm->ident)
            continue;
          if (!ident_ok (rm))
            {
              const char *t = missing_text (rm, rm->ident_err);
              gs__buf_printf (md, " | %s | %s", t, t);
              continue;
            }
          gs__buf_puts (md, " | ");
          put_pct (md, rm->grp[g].m.fpr.value);
          gs__buf_puts (md, " | ");
          put_pct (md, rm->grp[g].m.fnr.value);
        }
      gs__buf_puts (md, " |\n");
    }
  gs__buf_puts (md, "\n");
}

static void
md_mcnemar_pair (const rep *r, gs__buf *md, gs__buf *csv, gs__buf *json,
                 size_t a, size_t b, int *first)
{
  const rep_method *ma = &r->m[a], *mb = &r->m[b];
  size_t i, both = 0;
  int *ca = malloc ((r->n ? r->n : 1) * 2 * sizeof *ca), *cb;
  gs_mcnemar t;
  if (!ca)
    {
      md->failed = 1;
      return;
    }
  cb = ca + r->n;
  for (i = 0; i < r->n; i++)
    if (ma->correct[i] >= 0 && mb->correct[i] >= 0)
      {
        ca[both] = ma->correct[i];
        cb[both] = mb->correct[i];
        both++;
      }
  gs_metrics_mcnemar (both, ca, cb, &t);
  free (ca);
  gs__buf_puts (md, "| ");
  put_cell (md, ma->src->id);
  gs__buf_puts (md, " | ");
  put_cell (md, mb->src->id);
  gs__buf_printf (md, " | %zu | %zu | %zu | %.4g | %.4g | %s |\n", both, t.b,
                  t.c, t.statistic, t.p_value, t.exact ? "exact" : "chi2");
  csv_str (csv, ma->src->id);
  gs__buf_puts (csv, ",");
  csv_str (csv, mb->src->id);
  gs__buf_printf (csv, ",%zu,%zu,%zu", both, t.b, t.c);
  csv_num (csv, t.statistic);
  csv_num (csv, t.p_value);
  gs__buf_printf (csv, ",%s\n", t.exact ? "exact" : "chi2");
  gs__buf_puts (json, *first ? "" : ", ");
  *first = 0;
  gs__buf_puts (json, "{\"a\": ");
  gs__buf_json_string (json, ma->src->id);
  gs__buf_puts (json, ", \"b\": ");
  gs__buf_json_string (json, mb->src->id);
  gs__buf_printf (json, ", \"n\": %zu, \"n01\": %zu, \"n10\": %zu", both, t.b,
                  t.c);
  gs__buf_puts (json, ", \"statistic\": ");
  gs__buf_json_number (json, t.statistic);
  gs__buf_puts (json, ", \"p_value\": ");
  gs__buf_json_number (json, t.p_value);
  gs__buf_printf (json, ", \"exact\": %s}", t.exact ? "true" : "false");
}

/* The McNemar section, its CSV and the JSON array's members. */
static void
mcnemar (const rep *r, gs__buf *md, gs__buf *csv, gs__buf *json)
{
  size_t a, b, usable = 0;
  int first = 1;
  for (a = 0; a < r->M; a++)
    usable += ident_ok (&r->m[a]);
  if (usable < 2)
    return;
  gs__buf_puts (md, "### Paired comparison (McNemar)\n\n"
                    "Perfect predictions per spectrum over the spectra both "
                    "methods have results for: b = A right and B wrong, c = A "
                    "wrong and B right; exact binomial test when b + c < 25, "
                    "else chi2 with continuity correction.\n\n"
                    "| A | B | n | b | c | Statistic | p-value | Test |\n"
                    "|---|---|---:|---:|---:|---:|---:|---|\n");
  gs__buf_puts (csv, "a,b,n,n01,n10,statistic,p_value,test\n");
  for (a = 0; a < r->M; a++)
    for (b = a + 1; b < r->M; b++)
      if (ident_ok (&r->m[a]) && ident_ok (&r->m[b]))
        md_mcnemar_pair (r, md, csv, json, a, b, &first);
  gs__buf_puts (md, "\n");
}

static void
md_quantification (const rep *r, gs__buf *md)
{
  size_t j;
  if (!r->n_quant)
    return;
  gs__buf_puts (md,
                "## Quantification\n\n"
                "Layout of the paper's Tables 6-7: MSE on the mixing "
                "weights (background included, in units of 1e-5) and RAE on "
                "the counts of the present components including the "
                "background (%).  RAE uses all test spectra (the paper's "
                "definition; the authors' notebook used only the first "
                "32 000, spec 6).\n\n"
                "| | MSE (1e-5) | RAE (%) |\n|---|---:|---:|\n");
  for (j = 0; j < r->M; j++)
    {
      const rep_method *rm = &r->m[j];
      if (!rm->quant)
        continue;
      if (!quant_ok (rm))
        {
          md_missing_row (md, rm, rm->quant_err, 2);
          continue;
        }
      gs__buf_puts (md, "| ");
      put_cell (md, rm->src->id);
      if (isfinite (rm->q.mse_weights))
        gs__buf_printf (md, " | %.3f", rm->q.mse_weights * 1e5);
      else
        gs__buf_puts (md, " | n/a");
      gs__buf_puts (md, " | ");
      put_pct (md, rm->q.rae);
      gs__buf_puts (md, " |\n");
    }
  for (j = 0; j < r->M; j++)
    if (r->m[j].quant && r->m[j].quant_err && !r->m[j].src->failed)
      {
        gs__buf_printf (md, "\n- %s: ", r->m[j].src->id);
        put_cell (md, r->m[j].quant_err);
        gs__buf_puts (md, "\n");
      }
  gs__buf_puts (md, "\n");
}

static void
md_relerr (const rep *r, gs__buf *md)
{
  size_t j, k, ok = 0;
  for (j = 0; j < r->M; j++)
    ok += quant_ok (&r->m[j]);
  if (!ok)
    return;
  gs__buf_puts (md, "### Relative error by counts\n\n"
                    "Signed relative error (c - a) / a in % over the "
                    "spectra containing the nuclide: median [5 %, 95 %].  "
                    "By count bins in tables/relerr_by_counts.csv.\n\n");
  md_method_columns (r, md, "Nuclide", 1);
  for (k = 1; k < r->K; k++)
    {
      gs__buf_puts (md, "| ");
      put_cell (md, comp_name (r, k));
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!rm->quant)
            continue;
          gs__buf_puts (md, " | ");
          if (!quant_ok (rm))
            gs__buf_puts (md, missing_text (rm, rm->quant_err));
          else if (!rm->qvalid[k])
            gs__buf_puts (md, "n/a");
          else
            {
              put_pct (md, rm->re1[k].signed_q[1]);
              gs__buf_puts (md, " [");
              put_pct (md, rm->re1[k].signed_q[0]);
              gs__buf_puts (md, ", ");
              put_pct (md, rm->re1[k].signed_q[2]);
              gs__buf_puts (md, "]");
            }
        }
      gs__buf_puts (md, " |\n");
    }
  gs__buf_puts (md, "\n");
}

static void
put_opt (gs__buf *b, double v, const char *fmt)
{
  if (isfinite (v))
    gs__buf_printf (b, fmt, v);
  else
    gs__buf_puts (b, "n/a");
}

static void
md_timing (const rep *r, gs__buf *md)
{
  size_t j;
  if (!r->M)
    return;
  gs__buf_puts (md, "## Timing\n\n"
                    "| | Train (s) | ms/spectrum (median) | ms/spectrum "
                    "(p95) | Failed spectra | Status |\n"
                    "|---|---:|---:|---:|---:|---|\n");
  for (j = 0; j < r->M; j++)
    {
      const gs_report_method *s = r->m[j].src;
      gs__buf_puts (md, "| ");
      put_cell (md, s->id);
      gs__buf_puts (md, " | ");
      put_opt (md, s->train_seconds, "%.3f");
      gs__buf_puts (md, " | ");
      put_opt (md, s->median_ms, "%.3f");
      gs__buf_puts (md, " | ");
      put_opt (md, s->p95_ms, "%.3f");
      gs__buf_printf (md, " | %zu | ", s->n_failed_spectra);
      if (s->failed)
        {
          gs__buf_puts (md, "failed: ");
          put_cell (md, s->error ? s->error : "unknown error");
        }
      else if (s->resumed)
        gs__buf_puts (md, "resumed from checkpoint");
      else
        gs__buf_puts (md, "ok");
      gs__buf_puts (md, " |\n");
    }
  gs__buf_puts (md, "\n");
}

/* ---- CSV ----------------------------------------------------------------- */

static int
write_table (const rep *r, const char *name, const gs__buf *b)
{
  char *path;
  int st;
  if (b->failed)
    return oom ();
  path = gs__path_join (r->tables, name);
  if (!path)
    return oom ();
  st = gs__write_file_atomic (path, b->data ? b->data : "", b->len);
  free (path);
  return st;
}

static void
csv_rate (gs__buf *b, const gs_rate *x)
{
  gs__buf_printf (b, ",%zu", x->k);
  csv_num (b, x->value);
  csv_num (b, x->lo);
  csv_num (b, x->hi);
}

static const char group_csv_head[]
    = "n,fp,fpr,fpr_ci_lo,fpr_ci_hi,fn,fnr,fnr_ci_lo,fnr_ci_hi,band_lo,"
      "band_hi,outside_band\n";

static void
csv_group (gs__buf *b, const gs_group_metrics *g)
{
  gs__buf_printf (b, ",%zu", g->n);
  csv_rate (b, &g->m.fpr);
  csv_rate (b, &g->m.fnr);
  csv_num (b, g->band.lo);
  csv_num (b, g->band.hi);
  gs__buf_printf (b, ",%d\n", fp_outside_band (g));
}

static void
csv_method_prefix (gs__buf *b, const rep_method *rm)
{
  csv_str (b, rm->src->id);
}

static int
write_tables (const rep *r, const gs__buf *mcnemar_csv)
{
  gs__buf b;
  size_t j, k, c;
  int st = GS_OK;
  static const char *const idnames[5]
      = { "accuracy", "ppr", "fprr", "fpr", "fnr" };
  gs__buf_init (&b);
  if (r->n_ident)
    {
      /* identification.csv */
      gs__buf_puts (&b, "method,status,n");
      for (c = 0; c < 5; c++)
        gs__buf_printf (&b, ",%s_k,%s,%s_ci_lo,%s_ci_hi", idnames[c],
                        idnames[c], idnames[c], idnames[c]);
      gs__buf_puts (&b, "\n");
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!rm->ident)
            continue;
          csv_method_prefix (&b, rm);
          if (!ident_ok (rm))
            {
              gs__buf_printf (&b, ",%s,%zu", missing_text (rm, rm->ident_err),
                              rm->m);
              for (c = 0; c < 20; c++)
                gs__buf_puts (&b, ",");
              gs__buf_puts (&b, "\n");
              continue;
            }
          gs__buf_printf (&b, ",ok,%zu", rm->m);
          csv_rate (&b, &rm->id.accuracy);
          csv_rate (&b, &rm->id.ppr);
          csv_rate (&b, &rm->id.fprr);
          csv_rate (&b, &rm->id.fpr);
          csv_rate (&b, &rm->id.fnr);
          gs__buf_puts (&b, "\n");
        }
      st = write_table (r, "identification.csv", &b);

      /* fpr_by_counts.csv: the 3 levels and the 10 figure bins. */
      b.len = 0;
      gs__buf_printf (&b, "method,bins,bin,lo,hi,%s", group_csv_head);
      for (j = 0; j < r->M && st == GS_OK; j++)
        if (ident_ok (&r->m[j]))
          {
            for (c = 0; c < LEVELS; c++)
              {
                csv_method_prefix (&b, &r->m[j]);
                gs__buf_printf (&b, ",%d,%zu", LEVELS, c);
                csv_num (&b, r->lev_edges[c]);
                csv_num (&b, r->lev_edges[c + 1]);
                csv_group (&b, &r->m[j].lev[c]);
              }
            for (c = 0; c < FIG_BINS; c++)
              {
                csv_method_prefix (&b, &r->m[j]);
                gs__buf_printf (&b, ",%d,%zu", FIG_BINS, c);
                csv_num (&b, r->bin_edges[c]);
                csv_num (&b, r->bin_edges[c + 1]);
                csv_group (&b, &r->m[j].bins[c]);
              }
          }
      if (st == GS_OK)
        st = write_table (r, "fpr_by_counts.csv", &b);

      /* fpr_by_npresent.csv */
      b.len = 0;
      gs__buf_printf (&b, "method,n_present,%s", group_csv_head);
      for (j = 0; j < r->M && st == GS_OK; j++)
        if (ident_ok (&r->m[j]))
          for (c = 0; c < r->P; c++)
            {
              csv_method_prefix (&b, &r->m[j]);
              gs__buf_printf (&b, ",%zu", c);
              csv_group (&b, &r->m[j].npres[c]);
            }
      if (st == GS_OK)
        st = write_table (r, "fpr_by_npresent.csv", &b);

      /* recall_by_counts.csv */
      b.len = 0;
      gs__buf_puts (&b, "method,nuclide,bin,lo,hi,n,recall,ci_lo,ci_hi\n");
      for (j = 0; j < r->M && st == GS_OK; j++)
        if (ident_ok (&r->m[j]))
          for (k = 0; k < r->K; k++)
            if (r->m[j].rvalid[k])
              for (c = 0; c < RECALL_BINS; c++)
                {
                  const gs_rate *x = &r->m[j].recall[k * RECALL_BINS + c];
                  const double *e = r->m[j].redges + k * (RECALL_BINS + 1);
                  csv_method_prefix (&b, &r->m[j]);
                  gs__buf_puts (&b, ",");
                  csv_str (&b, comp_name (r, k));
                  gs__buf_printf (&b, ",%zu", c);
                  csv_num (&b, e[c]);
                  csv_num (&b, e[c + 1]);
                  gs__buf_printf (&b, ",%zu", x->n);
                  csv_num (&b, x->value);
                  csv_num (&b, x->lo);
                  csv_num (&b, x->hi);
                  gs__buf_puts (&b, "\n");
                }
      if (st == GS_OK)
        st = write_table (r, "recall_by_counts.csv", &b);

      /* component_accuracy.csv */
      b.len = 0;
      gs__buf_puts (&b, "method,component,k,n,accuracy,ci_lo,ci_hi\n");
      for (j = 0; j < r->M && st == GS_OK; j++)
        if (ident_ok (&r->m[j]))
          for (k = r->m[j].src->include_background ? 0 : 1; k < r->K; k++)
            {
              const gs_rate *x = &r->m[j].cacc[k];
              csv_method_prefix (&b, &r->m[j]);
              gs__buf_puts (&b, ",");
              csv_str (&b, comp_name (r, k));
              gs__buf_printf (&b, ",%zu,%zu", x->k, x->n);
              csv_num (&b, x->value);
              csv_num (&b, x->lo);
              csv_num (&b, x->hi);
              gs__buf_puts (&b, "\n");
            }
      if (st == GS_OK)
        st = write_table (r, "component_accuracy.csv", &b);

      if (r->G)
        {
          size_t g, l;
          b.len = 0;
          gs__buf_printf (&b, "method,group,value,%s", group_csv_head);
          for (j = 0; j < r->M && st == GS_OK; j++)
            if (ident_ok (&r->m[j]))
              for (g = 0; g < r->G; g++)
                {
                  csv_method_prefix (&b, &r->m[j]);
                  gs__buf_printf (&b, ",%zu", g);
                  csv_num (&b, group_value (r, g));
                  csv_group (&b, &r->m[j].grp[g]);
                }
          if (st == GS_OK)
            st = write_table (r, "by_group.csv", &b);
          b.len = 0;
          gs__buf_printf (&b, "method,group,value,level,lo,hi,%s",
                          group_csv_head);
          for (j = 0; j < r->M && st == GS_OK; j++)
            if (ident_ok (&r->m[j]))
              for (g = 0; g < r->G; g++)
                for (l = 0; l < LEVELS; l++)
                  {
                    csv_method_prefix (&b, &r->m[j]);
                    gs__buf_printf (&b, ",%zu", g);
                    csv_num (&b, group_value (r, g));
                    gs__buf_printf (&b, ",%s", level_name[l]);
                    csv_num (&b, r->lev_edges[l]);
                    csv_num (&b, r->lev_edges[l + 1]);
                    csv_group (&b, &r->m[j].grpl[g * LEVELS + l]);
                  }
          if (st == GS_OK)
            st = write_table (r, "by_group_level.csv", &b);
        }
      if (st == GS_OK && mcnemar_csv->len)
        st = write_table (r, "mcnemar.csv", mcnemar_csv);
    }
  if (r->n_quant && st == GS_OK)
    {
      b.len = 0;
      gs__buf_puts (&b, "method,status,n,mse_weights,rae_counts,rae_pairs\n");
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!rm->quant)
            continue;
          csv_method_prefix (&b, rm);
          if (!quant_ok (rm))
            {
              gs__buf_printf (&b, ",%s,%zu,,,\n",
                              missing_text (rm, rm->quant_err), rm->m);
              continue;
            }
          gs__buf_printf (&b, ",ok,%zu", rm->m);
          csv_num (&b, rm->q.mse_weights);
          csv_num (&b, rm->q.rae);
          gs__buf_printf (&b, ",%zu\n", rm->q.rae_pairs);
        }
      st = write_table (r, "quantification.csv", &b);

      b.len = 0;
      gs__buf_puts (&b, "method,nuclide,bin,lo,hi,n,q05,q50,q95\n");
      for (j = 0; j < r->M && st == GS_OK; j++)
        if (quant_ok (&r->m[j]))
          for (k = 1; k < r->K; k++)
            if (r->m[j].qvalid[k])
              for (c = 0; c < RELERR_BINS; c++)
                {
                  const gs_relerr_bin *x = &r->m[j].re10[k * RELERR_BINS + c];
                  csv_method_prefix (&b, &r->m[j]);
                  gs__buf_puts (&b, ",");
                  csv_str (&b, comp_name (r, k));
                  gs__buf_printf (&b, ",%zu", c);
                  csv_num (&b, x->lo);
                  csv_num (&b, x->hi);
                  gs__buf_printf (&b, ",%zu", x->n);
                  csv_num (&b, x->signed_q[0]);
                  csv_num (&b, x->signed_q[1]);
                  csv_num (&b, x->signed_q[2]);
                  gs__buf_puts (&b, "\n");
                }
      if (st == GS_OK)
        st = write_table (r, "relerr_by_counts.csv", &b);
    }
  gs__buf_fini (&b);
  return st;
}

/* ---- JSON ---------------------------------------------------------------- */

static void
json_group (gs__buf *b, const gs_group_metrics *g)
{
  gs__buf_printf (b, "\"n\": %zu, \"fpr\": ", g->n);
  gs_report_json_rate (b, &g->m.fpr);
  gs__buf_puts (b, ", \"fnr\": ");
  gs_report_json_rate (b, &g->m.fnr);
  gs__buf_puts (b, ", \"band99\": [");
  gs__buf_json_number (b, g->band.lo);
  gs__buf_puts (b, ", ");
  gs__buf_json_number (b, g->band.hi);
  gs__buf_printf (b, "], \"outside_band\": %s}",
                  fp_outside_band (g) ? "true" : "false");
}

static void
json_binned (gs__buf *b, const char *key, const double *edges, size_t Q,
             const gs_group_metrics *g)
{
  size_t c;
  gs__buf_puts (b, ", ");
  json_key (b, key);
  gs__buf_puts (b, "[");
  for (c = 0; c < Q; c++)
    {
      gs__buf_puts (b, c ? ", {\"lo\": " : "{\"lo\": ");
      gs__buf_json_number (b, edges[c]);
      gs__buf_puts (b, ", \"hi\": ");
      gs__buf_json_number (b, edges[c + 1]);
      gs__buf_puts (b, ", ");
      json_group (b, &g[c]);
    }
  gs__buf_puts (b, "]");
}

static void
json_ident (const rep *r, const rep_method *rm, gs__buf *b)
{
  size_t c, k;
  gs__buf_puts (b, ", \"identification\": {\"accuracy\": ");
  gs_report_json_rate (b, &rm->id.accuracy);
  gs__buf_puts (b, ", \"ppr\": ");
  gs_report_json_rate (b, &rm->id.ppr);
  gs__buf_puts (b, ", \"fprr\": ");
  gs_report_json_rate (b, &rm->id.fprr);
  gs__buf_puts (b, ", \"fpr\": ");
  gs_report_json_rate (b, &rm->id.fpr);
  gs__buf_puts (b, ", \"fnr\": ");
  gs_report_json_rate (b, &rm->id.fnr);
  gs__buf_puts (b, "}");
  json_binned (b, "by_total_counts", r->lev_edges, LEVELS, rm->lev);
  json_binned (b, "fpr_vs_counts", r->bin_edges, FIG_BINS, rm->bins);
  gs__buf_puts (b, ", \"by_n_present\": [");
  for (c = 0; c < r->P; c++)
    {
      gs__buf_printf (b, "%s{\"n_present\": %zu, ", c ? ", " : "", c);
      json_group (b, &rm->npres[c]);
    }
  gs__buf_puts (b, "]");
  if (r->G)
    {
      size_t l;
      gs__buf_puts (b, ", \"by_group\": [");
      for (c = 0; c < r->G; c++)
        {
          gs__buf_printf (b, "%s{\"group\": %zu, \"value\": ", c ? ", " : "",
                          c);
          gs__buf_json_number (b, group_value (r, c));
          gs__buf_puts (b, ", ");
          json_group (b, &rm->grp[c]);
        }
      gs__buf_puts (b, "], \"by_group_level\": [");
      for (c = 0; c < r->G; c++)
        for (l = 0; l < LEVELS; l++)
          {
            gs__buf_printf (
                b, "%s{\"group\": %zu, \"value\": ", c || l ? ", " : "", c);
            gs__buf_json_number (b, group_value (r, c));
            gs__buf_printf (b, ", \"level\": \"%s\", ", level_name[l]);
            json_group (b, &rm->grpl[c * LEVELS + l]);
          }
      gs__buf_puts (b, "]");
    }
  gs__buf_puts (b, ", \"component_accuracy\": {");
  for (k = rm->src->include_background ? 0 : 1, c = 0; k < r->K; k++)
    {
      gs__buf_puts (b, c++ ? ", " : "");
      json_key (b, comp_name (r, k));
      gs_report_json_rate (b, &rm->cacc[k]);
    }
  gs__buf_puts (b, "}, \"recall_by_counts\": {");
  for (k = 0, c = 0; k < r->K; k++)
    if (rm->rvalid[k])
      {
        const double *e = rm->redges + k * (RECALL_BINS + 1);
        size_t q;
        gs__buf_puts (b, c++ ? ", " : "");
        json_key (b, comp_name (r, k));
        gs__buf_puts (b, "[");
        for (q = 0; q < RECALL_BINS; q++)
          {
            gs__buf_puts (b, q ? ", {\"lo\": " : "{\"lo\": ");
            gs__buf_json_number (b, e[q]);
            gs__buf_puts (b, ", \"hi\": ");
            gs__buf_json_number (b, e[q + 1]);
            gs__buf_puts (b, ", \"recall\": ");
            gs_report_json_rate (b, &rm->recall[k * RECALL_BINS + q]);
            gs__buf_puts (b, "}");
          }
        gs__buf_puts (b, "]");
      }
  gs__buf_puts (b, "}");
}

static void
json_quant (const rep *r, const rep_method *rm, gs__buf *b)
{
  size_t k, c, q;
  gs__buf_puts (b, ", \"quantification\": {\"mse_weights\": ");
  gs__buf_json_number (b, rm->q.mse_weights);
  gs__buf_puts (b, ", \"rae_counts\": ");
  gs__buf_json_number (b, rm->q.rae);
  gs__buf_printf (b, ", \"rae_pairs\": %zu}, \"relerr_by_counts\": {",
                  rm->q.rae_pairs);
  for (k = 1, c = 0; k < r->K; k++)
    if (rm->qvalid[k])
      {
        gs__buf_puts (b, c++ ? ", " : "");
        json_key (b, comp_name (r, k));
        gs__buf_puts (b, "[");
        for (q = 0; q < RELERR_BINS; q++)
          {
            const gs_relerr_bin *x = &rm->re10[k * RELERR_BINS + q];
            gs__buf_puts (b, q ? ", {\"lo\": " : "{\"lo\": ");
            gs__buf_json_number (b, x->lo);
            gs__buf_puts (b, ", \"hi\": ");
            gs__buf_json_number (b, x->hi);
            gs__buf_printf (b, ", \"n\": %zu, \"q05\": ", x->n);
            gs__buf_json_number (b, x->signed_q[0]);
            gs__buf_puts (b, ", \"q50\": ");
            gs__buf_json_number (b, x->signed_q[1]);
            gs__buf_puts (b, ", \"q95\": ");
            gs__buf_json_number (b, x->signed_q[2]);
            gs__buf_puts (b, "}");
          }
        gs__buf_puts (b, "]");
      }
  gs__buf_puts (b, "}");
}

static void
json_method (const rep *r, const rep_method *rm, gs__buf *b)
{
  const gs_report_method *s = rm->src;
  size_t k;
  gs__buf_puts (b, "{\"id\": ");
  gs__buf_json_string (b, s->id);
  /* Whether the results came from a checkpoint is in results.json's
   * methods list, not here: the report holds only what was measured. */
  gs__buf_printf (b, ", \"status\": \"%s\", \"error\": ",
                  s->failed ? "failed" : "ok");
  if (s->failed)
    gs__buf_json_string (b, s->error ? s->error : "unknown error");
  else
    gs__buf_puts (b, "null");
  gs__buf_printf (b,
                  ", \"identify\": %s, \"quantify\": %s, "
                  "\"include_background\": %s, \"n\": %zu",
                  (s->kinds & GS_KIND_IDENTIFY) ? "true" : "false",
                  (s->kinds & GS_KIND_QUANTIFY) ? "true" : "false",
                  s->include_background ? "true" : "false", rm->m);
  gs__buf_puts (b, ", \"timing\": {\"train_seconds\": ");
  gs__buf_json_number (b, s->train_seconds);
  gs__buf_puts (b, ", \"median_ms\": ");
  gs__buf_json_number (b, s->median_ms);
  gs__buf_puts (b, ", \"p95_ms\": ");
  gs__buf_json_number (b, s->p95_ms);
  gs__buf_printf (b, ", \"failed_spectra\": %zu}", s->n_failed_spectra);
  if (s->calibrated && !s->failed)
    {
      gs__buf_puts (b, ", \"calibration\": {\"mode\": ");
      gs__buf_json_string (b, s->calib_mode ? s->calib_mode : "");
      gs__buf_puts (b, ", \"thresholds\": {");
      for (k = 0; s->thresholds && k < r->K; k++)
        {
          gs__buf_puts (b, k ? ", " : "");
          json_key (b, comp_name (r, k));
          gs__buf_json_number (b, s->thresholds[k]);
        }
      gs__buf_puts (b, "}, \"valid_fpr\": ");
      gs__buf_json_number (b, s->valid_fpr);
      gs__buf_printf (b, ", \"valid_n\": %zu, \"target_fpr\": ", s->valid_n);
      gs__buf_json_number (b, r->in->target_fpr);
      gs__buf_puts (b, "}");
    }
  if (rm->ident_err)
    {
      gs__buf_puts (b, ", \"identification_error\": ");
      gs__buf_json_string (b, rm->ident_err);
    }
  if (rm->quant_err)
    {
      gs__buf_puts (b, ", \"quantification_error\": ");
      gs__buf_json_string (b, rm->quant_err);
    }
  if (ident_ok (rm))
    json_ident (r, rm, b);
  if (quant_ok (rm))
    json_quant (r, rm, b);
  gs__buf_puts (b, "}");
}

/* ---- Figures ------------------------------------------------------------- */

/* Runs `gnuplot <fig>.gp` in the plots directory, stdin from /dev/null,
 * stdout and stderr to <fig>.log.  Returns the exit status, 127 when
 * gnuplot could not be started, -1 when it could not be run or was killed
 * (timeout or signal). */
static int
run_gnuplot (const char *dir, const char *fig)
{
  char prog[] = "gnuplot";
  char *script = gs__asprintf ("%s.gp", fig);
  char *log = gs__asprintf ("%s.log", fig);
  char *argv[3];
  pid_t pid;
  int status = 0, waited = 0;
  if (!script || !log)
    {
      free (script);
      free (log);
      return -1;
    }
  argv[0] = prog;
  argv[1] = script;
  argv[2] = NULL;
  pid = fork ();
  if (pid == 0)
    {
      int fd;
      if (chdir (dir) != 0)
        _exit (126);
      fd = open ("/dev/null", O_RDONLY);
      if (fd >= 0 && fd != STDIN_FILENO)
        {
          dup2 (fd, STDIN_FILENO);
          close (fd);
        }
      fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0)
        {
          dup2 (fd, STDOUT_FILENO);
          dup2 (fd, STDERR_FILENO);
          if (fd > STDERR_FILENO)
            close (fd);
        }
      execvp (prog, argv);
      _exit (127);
    }
  free (script);
  free (log);
  if (pid < 0)
    return -1;
  for (;;)
    {
      pid_t w = waitpid (pid, &status, WNOHANG);
      if (w == pid)
        break;
      if (w < 0 && errno != EINTR)
        return -1;
      if (waited >= GNUPLOT_TIMEOUT_S * 100)
        {
          kill (pid, SIGKILL);
          while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
          return -1;
        }
      {
        struct timespec ts = { 0, 10000000L };
        nanosleep (&ts, NULL);
      }
      waited++;
    }
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return -1;
}

/* Writes <fig>.dat and <fig>.gp (the body drawn once to SVG and once to
 * PNG), runs gnuplot and adds the figure to the Markdown list. */
static int
figure (rep *r, const char *fig, const char *caption, int width, int height,
        const gs__buf *dat, const gs__buf *body)
{
  gs__buf gp;
  char *path = NULL, *name = NULL;
  int st = GS_OK, rc, t;
  if (dat->failed || body->failed)
    return oom ();
  gs__buf_init (&gp);
  name = gs__asprintf ("%s.dat", fig);
  path = name ? gs__path_join (r->plots, name) : NULL;
  if (!path)
    st = oom ();
  else
    st = gs__write_file_atomic (path, dat->data ? dat->data : "", dat->len);
  free (path);
  free (name);
  if (st != GS_OK)
    {
      gs__buf_fini (&gp);
      return st;
    }
  gs__buf_printf (&gp,
                  "# gspec report: %s\n"
                  "# Data: %s.dat.  Draw with: gnuplot %s.gp (in this "
                  "directory); writes %s.svg and %s.png.\n",
                  caption, fig, fig, fig, fig);
  for (t = 0; t < 2; t++)
    {
      if (t == 0)
        gs__buf_printf (&gp,
                        "set terminal svg size %d,%d fixed noenhanced "
                        "font 'Helvetica,12' background rgb 'white'\n"
                        "set output '%s.svg'\n",
                        width, height, fig);
      else
        gs__buf_printf (&gp,
                        "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                        "  set terminal pngcairo size %d,%d noenhanced "
                        "font 'Helvetica,10' background rgb 'white'\n"
                        "} else {\n"
                        "  set terminal png size %d,%d noenhanced\n"
                        "}\n"
                        "set output '%s.png'\n",
                        width, height, width, height, fig);
      gs__buf_puts (&gp, "reset\nset datafile missing 'NaN'\n");
      gs__buf_append (&gp, body->data, body->len);
      gs__buf_puts (&gp, "unset output\n");
    }
  name = gs__asprintf ("%s.gp", fig);
  path = name ? gs__path_join (r->plots, name) : NULL;
  if (!path || gp.failed)
    st = oom ();
  else
    st = gs__write_file_atomic (path, gp.data, gp.len);
  free (path);
  free (name);
  gs__buf_fini (&gp);
  if (st != GS_OK)
    return st;
  r->n_figs++;
  if (r->gnuplot_missing)
    return GS_OK;
  rc = run_gnuplot (r->plots, fig);
  if (rc == 127)
    r->gnuplot_missing = 1;
  else if (rc != 0)
    gs__buf_printf (&r->figs,
                    "- Warning: gnuplot failed on plots/%s.gp (%s); see "
                    "plots/%s.log.\n",
                    fig, rc < 0 ? "killed or timed out" : "non-zero exit", fig);
  else
    gs__buf_printf (&r->figs, "- ![%s](plots/%s.svg) ([PNG](plots/%s.png))\n",
                    caption, fig, fig);
  return GS_OK;
}

/* Plot commands: one curve per method plus the band block first. */
static void
gp_band_and_methods (const rep *r, gs__buf *g, const char *dat, size_t base,
                     const char *xcol, int fnr_too)
{
  size_t j, c = 0;
  gs__buf_printf (g,
                  "plot '%s' index %zu using %s:2:3 with filledcurves "
                  "fc rgb '#d8d8d8' fs solid 1.0 noborder "
                  "title '99 %% band at the target FPR'",
                  dat, base, xcol);
  for (j = 0; j < r->M; j++)
    if (ident_ok (&r->m[j]))
      {
        c++;
        gs__buf_printf (g,
                        ", \\\n  '%s' index %zu using %s:3 with linespoints "
                        "lc %zu pt 7 ps 0.6 title ",
                        dat, base + c, xcol, c);
        if (fnr_too)
          gs__buf_puts (g, "sprintf('%s FPR', ");
        gp_str (g, r->m[j].src->id);
        if (fnr_too)
          {
            gs__buf_puts (g, ")");
            gs__buf_printf (g,
                            ", \\\n  '%s' index %zu using %s:4 with "
                            "linespoints lc %zu dt 2 pt 6 ps 0.6 title ",
                            dat, base + c, xcol, c);
            gs__buf_puts (g, "sprintf('%s FNR', ");
            gp_str (g, r->m[j].src->id);
            gs__buf_puts (g, ")");
          }
      }
  gs__buf_puts (g, "\n");
}

/* A band block: x band_lo% band_hi% per group (global n). */
static void
dat_band (const rep *r, gs__buf *d, const double *x, const size_t *n, size_t Q)
{
  size_t c;
  gs__buf_puts (d, "# band: x band_lo(%) band_hi(%) n\n");
  for (c = 0; c < Q; c++)
    {
      gs_binom_band band;
      if (!n[c] || !isfinite (x[c])
          || gs_binomial_band (n[c], r->in->target_fpr, BAND_CONF, &band)
                 != GS_OK)
        continue;
      dat_num (d, x[c]);
      dat_num (d, 100 * band.lo / (double)n[c]);
      dat_num (d, 100 * band.hi / (double)n[c]);
      gs__buf_printf (d, " %zu\n", n[c]);
    }
  gs__buf_puts (d, "\n\n");
}

/* A method block: x n fpr% fnr% per group. */
static void
dat_groups (const rep_method *rm, gs__buf *d, const double *x,
            const gs_group_metrics *g, size_t Q)
{
  size_t c;
  gs__buf_puts (d, "# ");
  gs__buf_puts (d, rm->src->id);
  gs__buf_puts (d, ": x n FPR(%) FNR(%)\n");
  for (c = 0; c < Q; c++)
    {
      if (!isfinite (x[c]))
        continue;
      dat_num (d, x[c]);
      gs__buf_printf (d, " %zu", g[c].n);
      dat_num (d, 100 * g[c].m.fpr.value);
      dat_num (d, 100 * g[c].m.fnr.value);
      gs__buf_puts (d, "\n");
    }
  gs__buf_puts (d, "\n\n");
}

static int
fig_fpr_vs (rep *r, int by_counts)
{
  gs__buf d, g;
  double x[FIG_BINS > 32 ? FIG_BINS : 32], *xs = x;
  size_t c, j, Q = by_counts ? FIG_BINS : r->P;
  const char *fig = by_counts ? "fpr_vs_counts" : "fpr_vs_npresent";
  int st;
  if (!by_counts && Q > 32)
    {
      xs = malloc (Q * sizeof *xs);
      if (!xs)
        return oom ();
    }
  for (c = 0; c < Q; c++)
    xs[c] = by_counts ? bin_centre (r->bin_edges[c], r->bin_edges[c + 1])
                      : (double)c;
  gs__buf_init (&d);
  gs__buf_init (&g);
  gs__buf_printf (&d,
                  "# gspec report: FPR vs %s; blocks: band, then one "
                  "per method\n",
                  by_counts ? "total counts (bin geometric centre)"
                            : "number of present nuclides");
  dat_band (r, &d, xs, by_counts ? r->bin_n : r->np_n, Q);
  for (j = 0; j < r->M; j++)
    if (ident_ok (&r->m[j]))
      dat_groups (&r->m[j], &d, xs, by_counts ? r->m[j].bins : r->m[j].npres,
                  Q);
  if (by_counts)
    gs__buf_puts (&g, "set logscale x\nset xlabel 'total counts'\n");
  else
    gs__buf_printf (&g,
                    "set xrange [-0.5:%zu.5]\nset xtics 1\n"
                    "set xlabel 'number of present nuclides'\n",
                    Q - 1);
  gs__buf_puts (&g, "set ylabel 'FPR (%)'\nset yrange [0:*]\nset grid\n"
                    "set key outside right top\n");
  gs__buf_printf (&g, "set title 'FPR vs %s'\n",
                  by_counts ? "total counts" : "number of present nuclides");
  gp_band_and_methods (r, &g,
                       by_counts ? "fpr_vs_counts.dat" : "fpr_vs_npresent.dat",
                       0, "1", 0);
  st = figure (r, fig,
               by_counts ? "FPR vs counts" : "FPR vs number of nuclides", 900,
               600, &d, &g);
  gs__buf_fini (&d);
  gs__buf_fini (&g);
  if (xs != x)
    free (xs);
  return st;
}

static void
layout (size_t p, size_t *rows, size_t *cols)
{
  size_t c = 1;
  while (c * c < p)
    c++;
  *cols = c;
  *rows = (p + c - 1) / c;
}

static int
fig_recall (rep *r)
{
  gs__buf d, g;
  size_t k, j, c, p = 0, rows, cols, blk = 0;
  size_t nid = 0;
  int st;
  for (j = 0; j < r->M; j++)
    nid += ident_ok (&r->m[j]);
  for (k = 1; k < r->K; k++)
    p += r->seen[k];
  if (!p || !nid)
    return GS_OK;
  layout (p, &rows, &cols);
  gs__buf_init (&d);
  gs__buf_init (&g);
  gs__buf_puts (&d, "# gspec report: recall vs counts of the nuclide; one "
                    "block per nuclide and method\n");
  gs__buf_printf (&g,
                  "set multiplot layout %zu,%zu title 'Recall vs "
                  "counts'\n",
                  rows, cols);
  for (k = 1; k < r->K; k++)
    {
      size_t m = 0;
      if (!r->seen[k])
        continue;
      gs__buf_puts (&g, "set logscale x\nset yrange [0:105]\nset grid\n"
                        "set key bottom right\nset xlabel 'counts'\n"
                        "set ylabel 'recall (%)'\nset title ");
      gp_str (&g, comp_name (r, k));
      gs__buf_puts (&g, "\nplot");
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!ident_ok (rm))
            continue;
          gs__buf_puts (&d, "# ");
          gs__buf_puts (&d, comp_name (r, k));
          gs__buf_puts (&d, " ");
          gs__buf_puts (&d, rm->src->id);
          gs__buf_puts (&d, ": x lo hi n recall(%) ci_lo(%) ci_hi(%)\n");
          if (!rm->rvalid[k])
            gs__buf_puts (&d, " NaN NaN NaN 0 NaN NaN NaN\n");
          else
            for (c = 0; c < RECALL_BINS; c++)
              {
                const double *e = rm->redges + k * (RECALL_BINS + 1);
                const gs_rate *x = &rm->recall[k * RECALL_BINS + c];
                dat_num (&d, bin_centre (e[c], e[c + 1]));
                dat_num (&d, e[c]);
                dat_num (&d, e[c + 1]);
                gs__buf_printf (&d, " %zu", x->n);
                dat_num (&d, 100 * x->value);
                dat_num (&d, 100 * x->lo);
                dat_num (&d, 100 * x->hi);
                gs__buf_puts (&d, "\n");
              }
          gs__buf_puts (&d, "\n\n");
          m++;
          gs__buf_printf (&g,
                          "%s 'recall_vs_counts.dat' index %zu using 1:5 "
                          "with linespoints lc %zu pt 7 ps 0.5 title ",
                          m > 1 ? ", \\\n " : "", blk++, m);
          gp_str (&g, rm->src->id);
        }
      gs__buf_puts (&g, "\n");
    }
  gs__buf_puts (&g, "unset multiplot\n");
  st = figure (r, "recall_vs_counts", "Recall vs counts", (int)(380 * cols),
               (int)(300 * rows), &d, &g);
  gs__buf_fini (&d);
  gs__buf_fini (&g);
  return st;
}

static int
fig_relerr (rep *r, const rep_method *rm)
{
  gs__buf d, g;
  size_t k, c, p = 0, rows, cols, blk = 0;
  char *fig, *cap, *s;
  int st;
  for (k = 1; k < r->K; k++)
    p += rm->qvalid[k];
  if (!p)
    return GS_OK;
  fig = gs__asprintf ("relerr_%s", rm->src->id);
  cap = gs__asprintf ("Relative error of %s", rm->src->id);
  if (!fig || !cap)
    {
      free (fig);
      free (cap);
      return oom ();
    }
  for (s = fig; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
      *s = '_';
  layout (p, &rows, &cols);
  gs__buf_init (&d);
  gs__buf_init (&g);
  gs__buf_puts (&d, "# gspec report: signed relative error (c - a) / a in "
                    "%; one block per nuclide\n");
  gs__buf_printf (&g, "set multiplot layout %zu,%zu title ", rows, cols);
  gp_str (&g, cap);
  gs__buf_puts (&g, "\n");
  for (k = 1; k < r->K; k++)
    {
      if (!rm->qvalid[k])
        continue;
      gs__buf_puts (&d, "# ");
      gs__buf_puts (&d, comp_name (r, k));
      gs__buf_puts (&d, ": x lo hi n q05(%) q50(%) q95(%)\n");
      for (c = 0; c < RELERR_BINS; c++)
        {
          const gs_relerr_bin *x = &rm->re10[k * RELERR_BINS + c];
          if (!x->n)
            continue;
          dat_num (&d, bin_centre (x->lo, x->hi));
          dat_num (&d, x->lo);
          dat_num (&d, x->hi);
          gs__buf_printf (&d, " %zu", x->n);
          dat_num (&d, 100 * x->signed_q[0]);
          dat_num (&d, 100 * x->signed_q[1]);
          dat_num (&d, 100 * x->signed_q[2]);
          gs__buf_puts (&d, "\n");
        }
      gs__buf_puts (&d, "\n\n");
      gs__buf_puts (&g, "set logscale x\nset grid\nset key top right\n"
                        "set xlabel 'counts'\n"
                        "set ylabel 'relative error (%)'\nset title ");
      gp_str (&g, comp_name (r, k));
      gs__buf_printf (&g,
                      "\nplot '%s.dat' index %zu using 1:5:7 with "
                      "filledcurves fc rgb '#c6dbef' fs solid 1.0 noborder "
                      "title '5-95 %%', \\\n  '%s.dat' index %zu using 1:6 "
                      "with linespoints lc rgb '#08519c' pt 7 ps 0.5 "
                      "title 'median', \\\n  0 with lines lc rgb 'black' "
                      "dt 2 notitle\n",
                      fig, blk, fig, blk);
      blk++;
    }
  gs__buf_puts (&g, "unset multiplot\n");
  st = figure (r, fig, cap, (int)(380 * cols), (int)(300 * rows), &d, &g);
  gs__buf_fini (&d);
  gs__buf_fini (&g);
  free (fig);
  free (cap);
  return st;
}

static int
fig_by_group (rep *r)
{
  gs__buf d, g;
  size_t panel, j, c, G = r->G, base = 0, nid = 0;
  double *x;
  size_t *n;
  int st;
  for (j = 0; j < r->M; j++)
    nid += ident_ok (&r->m[j]);
  x = malloc (G * sizeof *x);
  n = malloc (G * sizeof *n);
  if (!x || !n)
    {
      free (x);
      free (n);
      return oom ();
    }
  for (c = 0; c < G; c++)
    x[c] = group_value (r, c);
  gs__buf_init (&d);
  gs__buf_init (&g);
  gs__buf_puts (&d, "# gspec report: FPR and FNR by group; per panel (all, "
                    "low, medium, high counts): band block, then one block "
                    "per method\n");
  gs__buf_puts (&g, "set multiplot layout 2,2 title ");
  gp_str (&g, r->in->group_title ? r->in->group_title : "group");
  gs__buf_puts (&g, "\n");
  for (panel = 0; panel < 1 + LEVELS; panel++)
    {
      gs_group_metrics *tmp = NULL;
      for (c = 0; c < G; c++)
        n[c] = panel ? r->grpl_n[c * LEVELS + panel - 1] : r->grp_n[c];
      dat_band (r, &d, x, n, G);
      for (j = 0; j < r->M; j++)
        {
          const rep_method *rm = &r->m[j];
          if (!ident_ok (rm))
            continue;
          if (panel == 0)
            dat_groups (rm, &d, x, rm->grp, G);
          else
            {
              if (!tmp && !(tmp = malloc (G * sizeof *tmp)))
                {
                  d.failed = 1;
                  break;
                }
              for (c = 0; c < G; c++)
                tmp[c] = rm->grpl[c * LEVELS + panel - 1];
              dat_groups (rm, &d, x, tmp, G);
            }
        }
      free (tmp);
      gs__buf_puts (&g, "set grid\nset key top right\nset yrange [0:*]\n"
                        "set ylabel 'rate (%)'\nset xlabel ");
      gp_str (&g, r->in->group_title ? r->in->group_title : "group");
      gs__buf_printf (&g, "\nset title '%s'\n",
                      panel ? level_name[panel - 1] : "all counts");
      gp_band_and_methods (r, &g, "by_group.dat", base, "1", 1);
      base += 1 + nid; /* per panel: the band and the usable methods */
    }
  gs__buf_puts (&g, "unset multiplot\n");
  st = figure (r, "by_group", "FPR and FNR by group", 1200, 900, &d, &g);
  gs__buf_fini (&d);
  gs__buf_fini (&g);
  free (x);
  free (n);
  return st;
}

static int
figures (rep *r, gs__buf *md)
{
  size_t j, nid = 0;
  int st;
  for (j = 0; j < r->M; j++)
    nid += ident_ok (&r->m[j]);
  r->plots = gs__path_join (r->in->out_dir, "plots");
  if (!r->plots)
    return oom ();
  if ((st = gs__mkdirs (r->plots)) != GS_OK)
    return st;
  if (nid)
    {
      if ((st = fig_fpr_vs (r, 1)) != GS_OK || (st = fig_fpr_vs (r, 0)) != GS_OK
          || (st = fig_recall (r)) != GS_OK)
        return st;
    }
  for (j = 0; j < r->M; j++)
    if (quant_ok (&r->m[j]) && (st = fig_relerr (r, &r->m[j])) != GS_OK)
      return st;
  if (nid && r->G && (st = fig_by_group (r)) != GS_OK)
    return st;
  if (!r->n_figs)
    return GS_OK;
  gs__buf_puts (md, "## Figures\n\n");
  if (r->gnuplot_missing)
    gs__buf_puts (md,
                  "gnuplot was not found: the data (.dat) and scripts (.gp) "
                  "of the figures are in plots/; `gnuplot <file>.gp` in that "
                  "directory draws <file>.svg and <file>.png.\n");
  if (r->figs.failed)
    return oom ();
  if (r->figs.len)
    gs__buf_append (md, r->figs.data, r->figs.len);
  gs__buf_puts (md, "\n");
  return GS_OK;
}

/* ---- Entry point --------------------------------------------------------- */

int
gs_report_write (const gs_report_input *in, gs__buf *md, gs__buf *json)
{
  rep r;
  gs__buf mc_md, mc_csv, mc_json;
  size_t j;
  int st;
  if ((st = validate (in, md, json)) != GS_OK)
    return st;
  memset (&r, 0, sizeof r);
  r.in = in;
  r.n = in->n;
  r.K = in->K;
  r.M = in->n_methods;
  r.has_truth = in->truth != NULL && in->n > 0;
  gs__buf_init (&r.figs);
  gs__buf_init (&mc_md);
  gs__buf_init (&mc_csv);
  gs__buf_init (&mc_json);
  st = compute (&r);
  if (st == GS_OK)
    {
      r.tables = gs__path_join (in->out_dir, "tables");
      if (!r.tables)
        st = oom ();
      else if (r.has_truth && (r.n_ident || r.n_quant))
        st = gs__mkdirs (r.tables);
    }
  if (st == GS_OK && r.n_ident)
    mcnemar (&r, &mc_md, &mc_csv, &mc_json);
  if (st == GS_OK && (mc_md.failed || mc_csv.failed || mc_json.failed))
    st = oom ();
  if (st == GS_OK && r.has_truth && (r.n_ident || r.n_quant))
    st = write_tables (&r, &mc_csv);
  if (st == GS_OK)
    {
      md_header (&r, md);
      md_identification (&r, md);
      md_calibration (&r, md);
      /* Levels of the true total counts need counts, not labels. */
      if (in->truth_is_counts)
        md_fpr_by (&r, md, 1);
      md_fpr_by (&r, md, 0);
      md_component_accuracy (&r, md);
      md_by_group (&r, md);
      if (mc_md.len)
        gs__buf_append (md, mc_md.data, mc_md.len);
      md_quantification (&r, md);
      md_relerr (&r, md);
      md_timing (&r, md);
      if (in->plots && r.has_truth)
        st = figures (&r, md);
    }
  if (st == GS_OK)
    {
      gs__buf_puts (json, "{\"name\": ");
      gs__buf_json_string (json, in->name ? in->name : "");
      gs__buf_printf (json, ", \"n\": %zu, \"K\": %zu, \"components\": [",
                      in->n, in->K);
      for (j = 0; j < in->K; j++)
        {
          gs__buf_puts (json, j ? ", " : "");
          gs__buf_json_string (json, comp_name (&r, j));
        }
      gs__buf_puts (json, "], \"target_fpr\": ");
      gs__buf_json_number (json, in->target_fpr);
      gs__buf_puts (json, ", \"band_confidence\": ");
      gs__buf_json_number (json, BAND_CONF);
      if (r.has_truth)
        {
          gs__buf_puts (json, ", \"count_levels\": [");
          for (j = 0; j <= LEVELS; j++)
            {
              gs__buf_puts (json, j ? ", " : "");
              gs__buf_json_number (json, r.lev_edges[j]);
            }
          gs__buf_puts (json, "]");
        }
      gs__buf_puts (json, ", \"methods\": [");
      for (j = 0; j < r.M; j++)
        {
          gs__buf_puts (json, j ? ", " : "");
          json_method (&r, &r.m[j], json);
        }
      gs__buf_puts (json, "], \"mcnemar\": [");
      if (mc_json.len)
        gs__buf_append (json, mc_json.data, mc_json.len);
      gs__buf_puts (json, "]}");
      if (md->failed || json->failed)
        st = oom ();
    }
  gs__buf_fini (&mc_md);
  gs__buf_fini (&mc_csv);
  gs__buf_fini (&mc_json);
  free_rep (&r);
  return st;
}

int
gs_report_write_table (const char *out_dir, const char *name,
                       const gs__buf *b)
{
  char *dir, *path;
  int st;
  if (b->failed)
    return oom ();
  dir = gs__path_join (out_dir, "tables");
  if (!dir)
    return oom ();
  st = gs__mkdirs (dir);
  path = st == GS_OK ? gs__path_join (dir, name) : NULL;
  free (dir);
  if (st != GS_OK)
    return st;
  if (!path)
    return oom ();
  st = gs__write_file_atomic (path, b->data ? b->data : "", b->len);
  free (path);
  return st;
}
