/* Spectra in memory, labelled sets (NPY counts + CSV meta) and text
 * spectra.  Readers build a complete gs_spectra and hand it over only on
 * success; every error names the file and the row, line or column. */
#include "gspec/spectra.h"
#include "gspec/formats.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gspec/status.h"
#include "util.h"

/* ---- alloc / free ---------------------------------------------------- */

gs_spectra *
gs_spectra_alloc (size_t n_spectra, size_t n_channels)
{
  gs_spectra *s;
  size_t n;
  if (n_channels != 0 && n_spectra > SIZE_MAX / sizeof (double) / n_channels)
    {
      gs_error (GS_EINVAL, "%zu spectra of %zu channels is too large",
                n_spectra, n_channels);
      return NULL;
    }
  n = n_spectra * n_channels;
  s = calloc (1, sizeof *s);
  if (s)
    s->counts = calloc (n ? n : 1, sizeof (double));
  if (!s || !s->counts)
    {
      free (s);
      gs_error (GS_ENOMEM, "out of memory allocating %zu x %zu spectra",
                n_spectra, n_channels);
      return NULL;
    }
  s->n_spectra = n_spectra;
  s->n_channels = n_channels;
  return s;
}

static void
free_strings (char **v, size_t n)
{
  size_t i;
  if (!v)
    return;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
gs_spectra_free (gs_spectra *s)
{
  if (!s)
    return;
  free (s->counts);
  free_strings (s->labels, s->n_spectra);
  free (s->cal_offset);
  free (s->cal_slope);
  free (s->cal_quad);
  free_strings (s->truth_names, s->n_truth);
  free (s->truth);
  free (s->source);
  free_strings (s->meta_names, s->n_meta);
  if (s->meta && s->n_meta && s->n_spectra <= SIZE_MAX / s->n_meta)
    free_strings (s->meta, s->n_spectra * s->n_meta);
  else
    free (s->meta);
  free (s);
}

const char *
gs_spectra_meta (const gs_spectra *s, size_t row, const char *column)
{
  size_t j;
  if (!s || !column || !s->meta || row >= s->n_spectra)
    return NULL;
  for (j = 0; j < s->n_meta; j++)
    if (s->meta_names[j] && strcmp (s->meta_names[j], column) == 0)
      return s->meta[row * s->n_meta + j];
  return NULL;
}

/* ---- small helpers --------------------------------------------------- */

static int
ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && strcmp (s + n - m, suffix) == 0;
}

static int
file_exists (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0;
}

static int
regular_file (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

/* Rejects negative and non-finite counts, naming file, row and channel. */
static int
check_counts (const char *path, const double *c, size_t rows, size_t cols)
{
  size_t i, j;
  for (i = 0; i < rows; i++)
    for (j = 0; j < cols; j++)
      {
        double v = c[i * cols + j];
        if (!isfinite (v))
          return gs_error (GS_EBADDATA,
                           "'%s': row %zu, channel %zu (0-based): count is "
                           "%s; counts must be finite",
                           path, i, j, isnan (v) ? "NaN" : "infinite");
        if (v < 0)
          return gs_error (GS_EBADDATA,
                           "'%s': row %zu, channel %zu (0-based): negative "
                           "count %g",
                           path, i, j, v);
      }
  return GS_OK;
}

/* ---- CSV ------------------------------------------------------------- */

/* One record of an RFC 4180 CSV: quoted fields may hold commas, quotes
 * ("") and newlines; unquoted fields are trimmed of blanks; LF, CRLF and
 * CR end a record. */
typedef struct csv_row
{
  char **fields;
  size_t n;
  size_t cap;
  size_t line; /* line where the record starts */
  int any_quoted;
} csv_row;

typedef struct csv_reader
{
  const char *path;
  const char *p;
  const char *end;
  size_t line;
} csv_reader;

static void
csv_row_clear (csv_row *row)
{
  size_t i;
  for (i = 0; i < row->n; i++)
    free (row->fields[i]);
  row->n = 0;
  row->any_quoted = 0;
}

static void
csv_row_fini (csv_row *row)
{
  csv_row_clear (row);
  free (row->fields);
  memset (row, 0, sizeof *row);
}

static int
csv_push (csv_reader *r, csv_row *row, gs__buf *b)
{
  char *f;
  if (row->n == row->cap)
    {
      size_t cap = row->cap ? 2 * row->cap : 16;
      char **v = realloc (row->fields, cap * sizeof *v);
      if (!v)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", r->path);
      row->fields = v;
      row->cap = cap;
    }
  f = gs__strndup (b->data ? b->data : "", b->len);
  if (!f || b->failed)
    {
      free (f);
      return gs_error (GS_ENOMEM, "out of memory reading '%s'", r->path);
    }
  row->fields[row->n++] = f;
  return GS_OK;
}

static int
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

/* Reads the next record into row; *eof is set when there is none. */
static int
csv_next (csv_reader *r, csv_row *row, int *eof)
{
  gs__buf b;
  int rc;
  csv_row_clear (row);
  *eof = r->p >= r->end;
  if (*eof)
    return GS_OK;
  row->line = r->line;
  gs__buf_init (&b);
  for (;;)
    {
      b.len = 0;
      while (r->p < r->end && is_blank (*r->p))
        r->p++;
      if (r->p < r->end && *r->p == '"')
        {
          size_t open_line = r->line;
          row->any_quoted = 1;
          r->p++;
          for (;;)
            {
              if (r->p >= r->end)
                {
                  gs__buf_fini (&b);
                  return gs_error (GS_EFORMAT,
                                   "%s:%zu: unterminated quoted field in "
                                   "column %zu (opened on line %zu)",
                                   r->path, r->line, row->n + 1, open_line);
                }
              if (*r->p == '"')
                {
                  if (r->p + 1 < r->end && r->p[1] == '"')
                    {
                      gs__buf_append (&b, "\"", 1);
                      r->p += 2;
                      continue;
                    }
                  r->p++;
                  break;
                }
              if (*r->p == '\n')
                r->line++;
              gs__buf_append (&b, r->p, 1);
              r->p++;
            }
          while (r->p < r->end && is_blank (*r->p))
            r->p++;
          if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
            {
              gs__buf_fini (&b);
              return gs_error (GS_EFORMAT,
                               "%s:%zu: unexpected '%c' after the closing "
                               "quote of column %zu",
                               r->path, r->line, *r->p, row->n + 1);
            }
        }
      else
        {
          const char *s = r->p;
          while (r->p < r->end && *r->p != ',' && *r->p != '\n'
                 && *r->p != '\r')
            r->p++;
          if (r->p > s)
            {
              const char *e = r->p;
              while (e > s && is_blank (e[-1]))
                e--;
              gs__buf_append (&b, s, (size_t)(e - s));
            }
        }
      if ((rc = csv_push (r, row, &b)))
        {
          gs__buf_fini (&b);
          return rc;
        }
      if (r->p < r->end && *r->p == ',')
        {
          r->p++;
          continue;
        }
      /* End of record: LF, CRLF, CR or end of data. */
      if (r->p < r->end && *r->p == '\r')
        r->p++;
      if (r->p < r->end && *r->p == '\n')
        r->p++;
      r->line++;
      break;
    }
  gs__buf_fini (&b);
  return GS_OK;
}

static int
csv_row_is_blank (const csv_row *row)
{
  return row->n == 1 && !row->any_quoted && row->fields[0][0] == '\0';
}

/* Column roles in a meta file. */
enum
{
  COL_INDEX,
  COL_LABELS,
  COL_OFFSET,
  COL_SLOPE,
  COL_QUAD,
  COL_TRUTH,
  COL_META
};

static const char *const cal_offset_names[]
    = { "cal_offset_keV",    "cal_offset",    "offset_keV",         "offset",
        "energy_offset_keV", "energy_offset", "calibration_offset", NULL };
static const char *const cal_slope_names[]
    = { "cal_slope_keV",     "cal_slope", "slope_keV",       "slope",
        "cal_gain",          "gain",      "keV_per_channel", "energy_slope",
        "calibration_slope", NULL };
static const char *const cal_quad_names[]
    = { "cal_quad_keV", "cal_quad",         "quad_keV",
        "quad",         "quadratic",        "cal_quadratic",
        "energy_quad",  "calibration_quad", NULL };

static int
name_in (const char *name, const char *const *names)
{
  for (; *names; names++)
    if (strcasecmp (name, *names) == 0)
      return 1;
  return 0;
}

/* The role of a header column other than the first two. */
static int
column_role (const char *name)
{
  if (name_in (name, cal_offset_names))
    return COL_OFFSET;
  if (name_in (name, cal_slope_names))
    return COL_SLOPE;
  if (name_in (name, cal_quad_names))
    return COL_QUAD;
  if (strncmp (name, "counts_", 7) == 0 && name[7] != '\0')
    return COL_TRUTH;
  return COL_META;
}

typedef struct meta_layout
{
  size_t ncol;
  int *role;
  size_t *slot; /* index into truth/meta for those roles */
  size_t n_truth;
  size_t n_meta;
  int has_cal;
} meta_layout;

static int
meta_header (const char *path, const csv_row *h, meta_layout *lay,
             gs_spectra *s)
{
  size_t j, k, cal_col[3] = { 0, 0, 0 };
  lay->ncol = h->n;
  if (h->n < 2 || strcasecmp (h->fields[0], "index") != 0
      || strcasecmp (h->fields[1], "labels") != 0)
    return gs_error (GS_EFORMAT,
                     "%s:%zu: the header must start with 'index,labels' "
                     "(found '%s%s%s')",
                     path, h->line, h->fields[0], h->n > 1 ? "," : "",
                     h->n > 1 ? h->fields[1] : "");
  lay->role = calloc (h->n, sizeof *lay->role);
  lay->slot = calloc (h->n, sizeof *lay->slot);
  if (!lay->role || !lay->slot)
    return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
  lay->role[0] = COL_INDEX;
  lay->role[1] = COL_LABELS;
  for (j = 2; j < h->n; j++)
    {
      const char *name = h->fields[j];
      int role;
      if (!*name)
        return gs_error (GS_EFORMAT, "%s:%zu: column %zu has an empty name",
                         path, h->line, j + 1);
      for (k = 0; k < j; k++)
        if (strcmp (h->fields[k], name) == 0)
          return gs_error (GS_EFORMAT,
                           "%s:%zu: duplicate column '%s' (columns %zu and "
                           "%zu)",
                           path, h->line, name, k + 1, j + 1);
      role = column_role (name);
      lay->role[j] = role;
      if (role == COL_OFFSET || role == COL_SLOPE || role == COL_QUAD)
        {
          size_t c = (size_t)(role - COL_OFFSET);
          if (cal_col[c])
            return gs_error (GS_EFORMAT,
                             "%s:%zu: columns '%s' (%zu) and '%s' (%zu) are "
                             "both a calibration %s",
                             path, h->line, h->fields[cal_col[c] - 1],
                             cal_col[c], name, j + 1,
                             role == COL_OFFSET  ? "offset"
                             : role == COL_SLOPE ? "slope"
                                                 : "quad");
          cal_col[c] = j + 1;
          lay->has_cal = 1;
        }
      else if (role == COL_TRUTH)
        lay->slot[j] = lay->n_truth++;
      else
        lay->slot[j] = lay->n_meta++;
    }
  if (lay->has_cal && (!cal_col[0] || !cal_col[1]))
    return gs_error (GS_EFORMAT,
                     "%s:%zu: calibration needs both an offset and a slope "
                     "column (e.g. cal_offset_keV, cal_slope_keV); found "
                     "only %s",
                     path, h->line,
                     cal_col[0]   ? "an offset"
                     : cal_col[1] ? "a slope"
                                  : "a quad");
  /* Allocate the per-row storage now that the layout is known. */
  s->labels = calloc (s->n_spectra, sizeof *s->labels);
  if (!s->labels)
    return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
  if (lay->has_cal)
    {
      s->cal_offset = calloc (s->n_spectra, sizeof (double));
      s->cal_slope = calloc (s->n_spectra, sizeof (double));
      s->cal_quad = calloc (s->n_spectra, sizeof (double));
      if (!s->cal_offset || !s->cal_slope || !s->cal_quad)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
    }
  if (lay->n_truth)
    {
      if (s->n_spectra > SIZE_MAX / sizeof (double) / lay->n_truth)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
      s->truth_names = calloc (lay->n_truth, sizeof (char *));
      s->truth = calloc (s->n_spectra * lay->n_truth, sizeof (double));
      if (!s->truth_names || !s->truth)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
      s->n_truth = lay->n_truth;
    }
  if (lay->n_meta)
    {
      if (s->n_spectra > SIZE_MAX / sizeof (char *) / lay->n_meta)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
      s->meta_names = calloc (lay->n_meta, sizeof (char *));
      s->meta = calloc (s->n_spectra * lay->n_meta, sizeof (char *));
      if (!s->meta_names || !s->meta)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
      s->n_meta = lay->n_meta;
    }
  for (j = 2; j < h->n; j++)
    {
      char *copy = NULL;
      if (lay->role[j] == COL_TRUTH)
        copy = s->truth_names[lay->slot[j]] = gs__strdup (h->fields[j] + 7);
      else if (lay->role[j] == COL_META)
        copy = s->meta_names[lay->slot[j]] = gs__strdup (h->fields[j]);
      else
        continue;
      if (!copy)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
    }
  return GS_OK;
}

static int
meta_number (const char *path, const csv_row *row, size_t j, const char *name,
             double *out)
{
  if (gs__parse_double (row->fields[j], out) != GS_OK)
    return gs_error (GS_EFORMAT,
                     "%s:%zu: column %zu '%s': '%.60s' is not a finite "
                     "number",
                     path, row->line, j + 1, name, row->fields[j]);
  return GS_OK;
}

/* Fills labels, calibration, truth and meta of spectrum i from one row. */
static int
meta_row (const char *path, const csv_row *h, const csv_row *row, size_t i,
          const meta_layout *lay, gs_spectra *s)
{
  size_t j;
  long idx;
  int rc;
  if (row->n != lay->ncol)
    return gs_error (GS_EFORMAT,
                     "%s:%zu: expected %zu fields as in the header, found "
                     "%zu",
                     path, row->line, lay->ncol, row->n);
  if (gs__parse_long (row->fields[0], &idx) != GS_OK || idx < 0
      || (unsigned long)idx != i)
    return gs_error (GS_EFORMAT,
                     "%s:%zu: column 1 'index': expected %zu, found '%.40s' "
                     "(rows must be numbered 0..n-1 in order)",
                     path, row->line, i, row->fields[0]);
  if (i >= s->n_spectra)
    return GS_OK; /* counted, reported as a row-count mismatch */
  for (j = 1; j < row->n; j++)
    {
      const char *name = h->fields[j];
      double v;
      char *copy;
      switch (lay->role[j])
        {
        case COL_LABELS:
        case COL_META:
          copy = gs__strdup (row->fields[j]);
          if (!copy)
            return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
          if (lay->role[j] == COL_LABELS)
            s->labels[i] = copy;
          else
            s->meta[i * s->n_meta + lay->slot[j]] = copy;
          break;
        case COL_OFFSET:
        case COL_SLOPE:
        case COL_QUAD:
        case COL_TRUTH:
          if ((rc = meta_number (path, row, j, name, &v)))
            return rc;
          if (lay->role[j] == COL_OFFSET)
            s->cal_offset[i] = v;
          else if (lay->role[j] == COL_SLOPE)
            s->cal_slope[i] = v;
          else if (lay->role[j] == COL_QUAD)
            s->cal_quad[i] = v;
          else
            s->truth[i * s->n_truth + lay->slot[j]] = v;
          break;
        default:
          break;
        }
    }
  return GS_OK;
}

static int
read_meta (const char *csv_path, const char *npy_path, gs_spectra *s)
{
  char *text = NULL;
  size_t len, rows = 0;
  csv_reader r;
  csv_row h, row;
  meta_layout lay;
  int rc, eof;
  char *nul;

  memset (&h, 0, sizeof h);
  memset (&row, 0, sizeof row);
  memset (&lay, 0, sizeof lay);
  if ((rc = gs__read_file (csv_path, &text, &len)))
    return rc;
  nul = memchr (text, '\0', len);
  if (nul)
    {
      rc = gs_error (GS_EFORMAT,
                     "'%s': NUL byte at offset %zu; not a text CSV file",
                     csv_path, (size_t)(nul - text));
      goto done;
    }
  r.path = csv_path;
  r.p = text;
  r.end = text + len;
  r.line = 1;
  if (len >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0)
    r.p += 3;
  do
    if ((rc = csv_next (&r, &h, &eof)))
      goto done;
  while (!eof && csv_row_is_blank (&h));
  if (eof)
    {
      rc = gs_error (GS_EFORMAT,
                     "'%s': empty meta file (expected a header row starting "
                     "'index,labels')",
                     csv_path);
      goto done;
    }
  if ((rc = meta_header (csv_path, &h, &lay, s)))
    goto done;
  for (;;)
    {
      if ((rc = csv_next (&r, &row, &eof)))
        goto done;
      if (eof)
        break;
      if (csv_row_is_blank (&row))
        continue;
      if ((rc = meta_row (csv_path, &h, &row, rows, &lay, s)))
        goto done;
      rows++;
    }
  if (rows != s->n_spectra)
    rc = gs_error (GS_EBADLEN,
                   "'%s' has %zu data rows but '%s' has %zu spectra; they "
                   "must match one to one",
                   csv_path, rows, npy_path, s->n_spectra);
done:
  csv_row_fini (&h);
  csv_row_fini (&row);
  free (lay.role);
  free (lay.slot);
  free (text);
  return rc;
}

/* ---- labelled sets --------------------------------------------------- */

int
gs_spectra_read_labelled (const char *path, gs_spectra **out)
{
  char *npy = NULL, *csv = NULL;
  int meta_required = 1, rc;
  gs_spectra *s = NULL;
  double *data = NULL;
  size_t rows, cols;

  if (!path || !out)
    return gs_error (GS_EINVAL, "gs_spectra_read_labelled: NULL argument");
  if (ends_with (path, ".counts.npy"))
    {
      npy = gs__strdup (path);
      csv = gs__asprintf ("%.*s.meta.csv", (int)(strlen (path) - 11), path);
      meta_required = 0;
    }
  else if (ends_with (path, ".meta.csv"))
    {
      npy = gs__asprintf ("%.*s.counts.npy", (int)(strlen (path) - 9), path);
      csv = gs__strdup (path);
    }
  else if (ends_with (path, ".npy") || regular_file (path))
    {
      npy = gs__strdup (path);
      csv = gs__strdup ("");
      meta_required = 0;
    }
  else
    {
      npy = gs__asprintf ("%s.counts.npy", path);
      csv = gs__asprintf ("%s.meta.csv", path);
    }
  if (!npy || !csv)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  if ((rc = gs_npy_read_matrix (npy, &data, &rows, &cols)))
    goto fail;
  if (rows == 0)
    {
      rc = gs_error (GS_EBADDATA, "'%s': no spectra (the array has 0 rows)",
                     npy);
      goto fail;
    }
  if (cols == 0)
    {
      rc = gs_error (GS_EBADDATA,
                     "'%s': no channels (the array has 0 columns)", npy);
      goto fail;
    }
  if ((rc = check_counts (npy, data, rows, cols)))
    goto fail;
  s = calloc (1, sizeof *s);
  if (!s || !(s->source = gs__strdup (npy)))
    {
      rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", npy);
      goto fail;
    }
  s->n_spectra = rows;
  s->n_channels = cols;
  s->counts = data;
  data = NULL;
  if (*csv && (meta_required || file_exists (csv)))
    if ((rc = read_meta (csv, npy, s)))
      goto fail;
  free (npy);
  free (csv);
  *out = s;
  return GS_OK;
fail:
  free (data);
  gs_spectra_free (s);
  free (npy);
  free (csv);
  return rc;
}

/* ---- text spectra ---------------------------------------------------- */

int
gs_spectra_read_text (const char *path, gs_spectra **out)
{
  char *text = NULL, *p, *end, *nul;
  size_t len, line = 0, n = 0, cap = 0;
  double *v = NULL;
  gs_spectra *s = NULL;
  int rc = GS_OK;

  if (!path || !out)
    return gs_error (GS_EINVAL, "gs_spectra_read_text: NULL argument");
  if ((rc = gs__read_file (path, &text, &len)))
    return rc;
  nul = memchr (text, '\0', len);
  if (nul)
    {
      rc = gs_error (GS_EFORMAT,
                     "'%s': NUL byte at offset %zu; not a text spectrum "
                     "(one count per line)",
                     path, (size_t)(nul - text));
      goto done;
    }
  for (p = text, end = text + len; p < end;)
    {
      char *eol = memchr (p, '\n', (size_t)(end - p));
      char *s0, *e;
      double x;
      line++;
      if (!eol)
        eol = end;
      *eol = '\0';
      for (s0 = p; *s0 == ' ' || *s0 == '\t'; s0++)
        ;
      for (e = eol;
           e > s0 && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t');)
        *--e = '\0';
      p = eol + 1;
      if (*s0 == '\0' || *s0 == '#')
        continue;
      if (gs__parse_double (s0, &x) != GS_OK)
        {
          char *stop;
          errno = 0;
          x = strtod (s0, &stop);
          if (stop != s0 && *stop == '\0' && !isfinite (x))
            rc = gs_error (GS_EBADDATA,
                           "%s:%zu: '%.40s' is not a finite count", path, line,
                           s0);
          else
            rc = gs_error (GS_EFORMAT,
                           "%s:%zu: '%.40s' is not a number (expected one "
                           "count per line)",
                           path, line, s0);
          goto done;
        }
      if (x < 0)
        {
          rc = gs_error (GS_EBADDATA, "%s:%zu: negative count '%.40s'", path,
                         line, s0);
          goto done;
        }
      if (n == cap)
        {
          size_t ncap = cap ? 2 * cap : 1024;
          double *nv = realloc (v, ncap * sizeof *nv);
          if (!nv)
            {
              rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
              goto done;
            }
          v = nv;
          cap = ncap;
        }
      v[n++] = x;
    }
  if (n == 0)
    {
      rc = gs_error (GS_EBADDATA, "'%s': no counts (empty spectrum)", path);
      goto done;
    }
  s = calloc (1, sizeof *s);
  if (!s || !(s->source = gs__strdup (path)))
    {
      rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
      goto done;
    }
  s->n_spectra = 1;
  s->n_channels = n;
  s->counts = v;
  v = NULL;
  *out = s;
  s = NULL;
done:
  gs_spectra_free (s);
  free (v);
  free (text);
  return rc;
}

/* ---- dispatch -------------------------------------------------------- */

/* A spectrum file (gspec/formats.h: N42, SPE, CHN, CNF, CSV) or one
 * count per line.  Plain numeric text keeps the one-count-per-line reader
 * (its messages name the line); a two-column CSV falls to the CSV
 * reader. */
static int
read_spectrum_file (const char *path, gs_spectra **out)
{
  char *buf = NULL;
  size_t len = 0;
  gs_format fmt;
  gs_specfile *sf = NULL;
  int rc = gs__read_file (path, &buf, &len);
  if (rc != GS_OK)
    return rc;
  fmt = gs_format_detect (buf, len, path);
  free (buf);
  if (fmt == GS_FORMAT_CSV || fmt == GS_FORMAT_UNKNOWN)
    {
      rc = gs_spectra_read_text (path, out);
      if (rc == GS_OK || fmt == GS_FORMAT_UNKNOWN)
        return rc;
      if (gs_specfile_read (path, &sf) != GS_OK)
        return rc;
    }
  else if ((rc = gs_specfile_read (path, &sf)) != GS_OK)
    return rc;
  rc = gs_specfile_to_spectra (sf, out);
  gs_specfile_free (sf);
  return rc;
}

int
gs_spectra_read (const char *path, gs_spectra **out)
{
  FILE *f;
  unsigned char magic[6];
  size_t got;
  if (!path || !out)
    return gs_error (GS_EINVAL, "gs_spectra_read: NULL argument");
  f = fopen (path, "rb");
  if (!f)
    {
      int e = errno;
      char *npy = gs__asprintf ("%s.counts.npy", path);
      int prefix = npy && file_exists (npy);
      free (npy);
      if (prefix)
        return gs_spectra_read_labelled (path, out);
      return gs_error (e == ENOENT ? GS_ENOENT : GS_EIO,
                       "cannot open '%s' (nor '%s.counts.npy'): %s", path,
                       path, strerror (e));
    }
  got = fread (magic, 1, sizeof magic, f);
  fclose (f);
  if ((got == 6 && memcmp (magic, "\x93NUMPY", 6) == 0)
      || ends_with (path, ".npy") || ends_with (path, ".meta.csv"))
    return gs_spectra_read_labelled (path, out);
  return read_spectrum_file (path, out);
}

/* ---- writing --------------------------------------------------------- */

static void
csv_field (gs__buf *b, const char *s)
{
  size_t n = strlen (s);
  int quote = strpbrk (s, ",\"\r\n") != NULL
              || (n && (is_blank (s[0]) || is_blank (s[n - 1])));
  if (!quote)
    {
      gs__buf_append (b, s, n);
      return;
    }
  gs__buf_append (b, "\"", 1);
  for (; *s; s++)
    {
      if (*s == '"')
        gs__buf_append (b, "\"", 1);
      gs__buf_append (b, s, 1);
    }
  gs__buf_append (b, "\"", 1);
}

static int
all_finite (const double *v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (!isfinite (v[i]))
      return 0;
  return 1;
}

static void
csv_number (gs__buf *b, double v)
{
  gs__buf_printf (b, ",%.17g", v);
}

int
gs_spectra_write_labelled (const gs_spectra *s, const char *prefix)
{
  gs__buf b;
  char *npy = NULL, *csv = NULL;
  size_t i, j;
  int has_cal, rc;

  if (!s || !prefix)
    return gs_error (GS_EINVAL, "gs_spectra_write_labelled: NULL argument");
  if (s->n_spectra == 0 || s->n_channels == 0 || !s->counts)
    return gs_error (GS_EINVAL,
                     "cannot write '%s': no spectra or no channels (%zu x "
                     "%zu)",
                     prefix, s->n_spectra, s->n_channels);
  has_cal = s->cal_offset && s->cal_slope;
  for (j = 0; j < s->n_meta; j++)
    if (!s->meta_names || !s->meta_names[j] || !*s->meta_names[j]
        || column_role (s->meta_names[j]) != COL_META
        || strcasecmp (s->meta_names[j], "index") == 0
        || strcasecmp (s->meta_names[j], "labels") == 0)
      return gs_error (GS_EINVAL,
                       "cannot write '%s': meta column %zu name '%s' is "
                       "empty or would be read back as another column",
                       prefix, j,
                       s->meta_names && s->meta_names[j] ? s->meta_names[j]
                                                         : "");
  for (j = 0; j < s->n_truth; j++)
    if (!s->truth_names || !s->truth_names[j] || !*s->truth_names[j])
      return gs_error (GS_EINVAL,
                       "cannot write '%s': truth column %zu has no name",
                       prefix, j);
  if (s->n_truth && !s->truth)
    return gs_error (GS_EINVAL, "cannot write '%s': truth values missing",
                     prefix);
  if (!all_finite (s->truth, s->n_truth ? s->n_spectra * s->n_truth : 0)
      || (has_cal
          && (!all_finite (s->cal_offset, s->n_spectra)
              || !all_finite (s->cal_slope, s->n_spectra)
              || !all_finite (s->cal_quad, s->cal_quad ? s->n_spectra : 0))))
    return gs_error (GS_EINVAL,
                     "cannot write '%s': calibration or truth values must "
                     "be finite",
                     prefix);
  if ((rc = check_counts (prefix, s->counts, s->n_spectra, s->n_channels)))
    return rc;
  npy = gs__asprintf ("%s.counts.npy", prefix);
  csv = gs__asprintf ("%s.meta.csv", prefix);
  if (!npy || !csv)
    {
      free (npy);
      free (csv);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  gs__buf_init (&b);
  gs__buf_puts (&b, "index,labels");
  if (has_cal)
    gs__buf_puts (&b, ",cal_offset_keV,cal_slope_keV,cal_quad_keV");
  for (j = 0; j < s->n_meta; j++)
    {
      gs__buf_puts (&b, ",");
      csv_field (&b, s->meta_names[j]);
    }
  for (j = 0; j < s->n_truth; j++)
    {
      char *col = gs__asprintf ("counts_%s", s->truth_names[j]);
      gs__buf_puts (&b, ",");
      if (col)
        csv_field (&b, col);
      else
        b.failed = 1;
      free (col);
    }
  gs__buf_puts (&b, "\n");
  for (i = 0; i < s->n_spectra; i++)
    {
      gs__buf_printf (&b, "%zu,", i);
      csv_field (&b, s->labels && s->labels[i] ? s->labels[i] : "");
      if (has_cal)
        {
          csv_number (&b, s->cal_offset[i]);
          csv_number (&b, s->cal_slope[i]);
          csv_number (&b, s->cal_quad ? s->cal_quad[i] : 0.0);
        }
      for (j = 0; j < s->n_meta; j++)
        {
          const char *m = s->meta ? s->meta[i * s->n_meta + j] : NULL;
          gs__buf_puts (&b, ",");
          csv_field (&b, m ? m : "");
        }
      for (j = 0; j < s->n_truth; j++)
        csv_number (&b, s->truth[i * s->n_truth + j]);
      gs__buf_puts (&b, "\n");
    }
  if (b.failed)
    rc = gs_error (GS_ENOMEM, "out of memory writing '%s'", csv);
  else
    rc = gs_npy_write_matrix (npy, s->counts, s->n_spectra, s->n_channels);
  if (!rc)
    rc = gs__write_file_atomic (csv, b.data, b.len);
  gs__buf_fini (&b);
  free (npy);
  free (csv);
  return rc;
}

/* ---- concatenation ----------------------------------------------------- */

/* Index of `name` in names[0..n), or -1. */
static long
find_name (char *const *names, size_t n, const char *name)
{
  size_t j;
  for (j = 0; j < n; j++)
    if (names[j] && strcmp (names[j], name) == 0)
      return (long)j;
  return -1;
}

/* Appends `name` to the growing list *v of *n names unless present. */
static int
add_name (char ***v, size_t *n, const char *name)
{
  char **nv;
  if (find_name (*v, *n, name) >= 0)
    return GS_OK;
  nv = realloc (*v, (*n + 1) * sizeof *nv);
  if (!nv)
    return gs_error (GS_ENOMEM, "out of memory");
  *v = nv;
  if (!(nv[*n] = gs__strdup (name)))
    return gs_error (GS_ENOMEM, "out of memory");
  (*n)++;
  return GS_OK;
}

int
gs_spectra_concat (gs_spectra *const *parts, size_t n_parts, gs_spectra **out)
{
  gs_spectra *s;
  size_t p, n = 0, C, row = 0, j;
  int has_labels = 1, has_cal = 1, rc = GS_OK;
  gs__buf src;
  if (!parts || n_parts == 0 || !out)
    return gs_error (GS_EINVAL, "concat: no spectra to join");
  C = parts[0]->n_channels;
  for (p = 0; p < n_parts; p++)
    {
      if (parts[p]->n_channels != C)
        return gs_error (GS_EBADLEN,
                         "concat: '%s' has %zu channels but '%s' has %zu; "
                         "rebin them onto one grid first",
                         parts[p]->source ? parts[p]->source : "set",
                         parts[p]->n_channels,
                         parts[0]->source ? parts[0]->source : "set", C);
      n += parts[p]->n_spectra;
      has_labels &= parts[p]->labels != NULL;
      has_cal &= parts[p]->cal_offset != NULL && parts[p]->cal_slope != NULL;
    }
  s = gs_spectra_alloc (n, C);
  if (!s)
    return GS_ENOMEM;
  if (has_labels && !(s->labels = calloc (n ? n : 1, sizeof (char *))))
    goto nomem;
  if (has_cal
      && (!(s->cal_offset = calloc (n ? n : 1, sizeof (double)))
          || !(s->cal_slope = calloc (n ? n : 1, sizeof (double)))
          || !(s->cal_quad = calloc (n ? n : 1, sizeof (double)))))
    goto nomem;
  /* Union of the truth and meta column names, first seen first. */
  for (p = 0; p < n_parts; p++)
    {
      for (j = 0; j < parts[p]->n_truth; j++)
        if ((rc = add_name (&s->truth_names, &s->n_truth,
                            parts[p]->truth_names[j]))
            != GS_OK)
          goto fail;
      for (j = 0; j < parts[p]->n_meta; j++)
        if ((rc = add_name (&s->meta_names, &s->n_meta,
                            parts[p]->meta_names[j]))
            != GS_OK)
          goto fail;
    }
  if (s->n_truth
      && !(s->truth = calloc (n ? n * s->n_truth : 1, sizeof (double))))
    goto nomem;
  if (s->n_meta && !(s->meta = calloc (n ? n * s->n_meta : 1, sizeof (char *))))
    goto nomem;
  gs__buf_init (&src);
  for (p = 0; p < n_parts; p++)
    {
      const gs_spectra *a = parts[p];
      size_t i;
      if (p)
        gs__buf_puts (&src, " + ");
      gs__buf_puts (&src, a->source ? a->source : "(in memory)");
      if (a->n_spectra)
        memcpy (s->counts + row * C, a->counts,
                a->n_spectra * C * sizeof (double));
      for (i = 0; i < a->n_spectra; i++)
        {
          size_t r = row + i;
          if (has_labels && !(s->labels[r] = gs__strdup (a->labels[i])))
            goto nomem_buf;
          if (has_cal)
            {
              s->cal_offset[r] = a->cal_offset[i];
              s->cal_slope[r] = a->cal_slope[i];
              s->cal_quad[r] = a->cal_quad ? a->cal_quad[i] : 0.0;
            }
          for (j = 0; j < a->n_truth; j++)
            s->truth[r * s->n_truth
                     + (size_t)find_name (s->truth_names, s->n_truth,
                                          a->truth_names[j])]
                = a->truth[i * a->n_truth + j];
          for (j = 0; j < s->n_meta; j++)
            {
              long c = find_name (a->meta_names, a->n_meta, s->meta_names[j]);
              const char *v = c >= 0 ? a->meta[i * a->n_meta + (size_t)c] : "";
              if (!(s->meta[r * s->n_meta + j] = gs__strdup (v ? v : "")))
                goto nomem_buf;
            }
        }
      row += a->n_spectra;
    }
  if (src.failed)
    goto nomem_buf;
  s->source = src.data;
  *out = s;
  return GS_OK;
nomem_buf:
  gs__buf_fini (&src);
nomem:
  rc = gs_error (GS_ENOMEM, "out of memory joining %zu spectra", n);
fail:
  gs_spectra_free (s);
  return rc;
}
