/* CSV / TXT spectra: one column (counts), two (channel or energy, counts)
 * or three (channel, energy, counts, as written here), separated by
 * commas, semicolons (a decimal comma is then allowed), tabs or blanks;
 * an optional header line (the first non-comment line, not numeric);
 * '#' comments, of which "# key: value" lines written by gs__write_csv
 * (title, detector, start_time, live_time_s, real_time_s,
 * energy_calibration_keV) are read back.
 *
 * A first column 0, 1, 2, ... (consecutive integers from s >= 0, and a
 * header that does not call it an energy) holds channel numbers; counts
 * below s are 0.  A strictly increasing first column otherwise holds the
 * energies of the channels' centres: a line through the first and last
 * point, else a parabola through the first, middle and last point,
 * becomes the calibration when it gives every energy to 1e-6 of the
 * largest; otherwise the file has no calibration.  A calibration comment
 * that agrees with the energies (or stands alone) is taken as is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

typedef struct csv_cursor
{
  const char *p;
  const char *end;
  size_t line;
} csv_cursor;

static int
next_line (csv_cursor *c, const char **s, size_t *n)
{
  const char *b, *e;
  if (c->p >= c->end)
    return 0;
  b = c->p;
  while (c->p < c->end && *c->p != '\n' && *c->p != '\r')
    c->p++;
  e = c->p;
  if (c->p < c->end && *c->p == '\r')
    c->p++;
  if (c->p < c->end && *c->p == '\n')
    c->p++;
  c->line++;
  while (b < e && (*b == ' ' || *b == '\t'))
    b++;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *s = b;
  *n = (size_t)(e - b);
  return 1;
}

enum
{
  MAX_COLS = 3
};

/* Splits a line into at most MAX_COLS fields (one more is reported as
 * too many); sep 0 means blanks.  Fields are trimmed of blanks and
 * quotes.  Returns the field count, MAX_COLS + 1 when there are more. */
static size_t
fields_of (const char *s, size_t n, char sep, const char **f, size_t *fl)
{
  size_t k = 0, i = 0;
  while (i <= n)
    {
      size_t a, b;
      if (sep == 0)
        {
          while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
          if (i == n)
            break;
          a = i;
          while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
          b = i;
        }
      else
        {
          a = i;
          while (i < n && s[i] != sep)
            i++;
          b = i;
          i++; /* past the separator (or the end) */
        }
      while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '"'))
        a++;
      while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '"'))
        b--;
      if (k == MAX_COLS)
        {
          /* A trailing empty field ("1,2,") is not a column. */
          if (sep != 0 && a == b && i > n)
            break;
          return MAX_COLS + 1;
        }
      f[k] = s + a;
      fl[k] = b - a;
      k++;
    }
  if (sep != 0 && k > 1 && fl[k - 1] == 0)
    k--;
  return k;
}

/* A field as a number (a decimal comma allowed when decimal_comma): 1
 * with *v set (finite or not), 0 when not a number. */
static int
field_number (const char *t, size_t n, int decimal_comma, double *v)
{
  char tmp[80];
  char *end;
  size_t i;
  if (n == 0 || n >= sizeof tmp)
    return 0;
  memcpy (tmp, t, n);
  tmp[n] = '\0';
  if (decimal_comma)
    for (i = 0; i < n; i++)
      if (tmp[i] == ',')
        tmp[i] = '.';
  *v = strtod (tmp, &end);
  return end == tmp + n;
}

/* The separator of a data line: ';' (then ',' is a decimal comma), ',',
 * tab, else blanks (0). */
static char
separator_of (const char *s, size_t n)
{
  if (memchr (s, ';', n))
    return ';';
  if (memchr (s, ',', n))
    return ',';
  if (memchr (s, '\t', n))
    return '\t';
  return 0;
}

typedef struct csv_data
{
  double *x;      /* first column (2 or 3 columns), else NULL */
  double *e;      /* energy column (3 columns), else NULL */
  double *counts; /* rows */
  size_t rows, cap, ncol;
  size_t *line; /* line of each row, for messages */
} csv_data;

static void
csv_data_fini (csv_data *d)
{
  free (d->x);
  free (d->e);
  free (d->counts);
  free (d->line);
}

static int
csv_push (csv_data *d, const double *v, size_t line, const char *name)
{
  if (d->rows == d->cap)
    {
      size_t cap = d->cap ? 2 * d->cap : 1024;
      double *a, *b, *c;
      size_t *l;
      if (d->rows >= GS_FORMAT_MAX_CHANNELS)
        return gs_error (GS_ENOMEM,
                         "%s:%zu: more than %zu rows, the limit of channels "
                         "in a spectrum",
                         name, line, GS_FORMAT_MAX_CHANNELS);
      if (cap > GS_FORMAT_MAX_CHANNELS)
        cap = GS_FORMAT_MAX_CHANNELS;
      a = realloc (d->counts, cap * sizeof *a);
      if (a)
        d->counts = a;
      b = realloc (d->x, cap * sizeof *b);
      if (b)
        d->x = b;
      c = realloc (d->e, cap * sizeof *c);
      if (c)
        d->e = c;
      l = realloc (d->line, cap * sizeof *l);
      if (l)
        d->line = l;
      if (!a || !b || !c || !l)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
      d->cap = cap;
    }
  d->counts[d->rows] = v[d->ncol - 1];
  d->x[d->rows] = d->ncol > 1 ? v[0] : 0.0;
  d->e[d->rows] = d->ncol > 2 ? v[1] : 0.0;
  d->line[d->rows] = line;
  d->rows++;
  return GS_OK;
}

/* The "# key: value" comments gs__write_csv writes. */
typedef struct csv_meta
{
  gs__buf title;
  char *detector;
  char start_time[32];
  double live, real;
  double coefs[GS_FORMAT_MAX_COEFS];
  size_t n_coefs;
} csv_meta;

static int
key_is (const char *s, size_t n, const char *key, const char **v, size_t *vn)
{
  size_t k = strlen (key);
  if (n < k + 1 || strncasecmp (s, key, k) != 0 || s[k] != ':')
    return 0;
  *v = s + k + 1;
  *vn = n - k - 1;
  while (*vn && (**v == ' ' || **v == '\t'))
    (*v)++, (*vn)--;
  return 1;
}

static int
comment (csv_meta *m, const char *s, size_t n, const char *name, size_t line)
{
  const char *v;
  size_t vn;
  s++, n--; /* the '#' */
  while (n && (*s == ' ' || *s == '\t'))
    s++, n--;
  if (key_is (s, n, "title", &v, &vn))
    {
      if (m->title.len)
        gs__buf_append (&m->title, "\n", 1);
      gs__buf_append (&m->title, v, vn);
    }
  else if (key_is (s, n, "detector", &v, &vn))
    {
      free (m->detector);
      m->detector = vn ? gs__strndup (v, vn) : NULL;
      if (vn && !m->detector)
        return gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
    }
  else if (key_is (s, n, "start_time", &v, &vn))
    {
      if (vn >= sizeof m->start_time || memchr (v, '\0', vn))
        return gs_error (GS_EFORMAT, "%s:%zu: start_time is not an ISO time",
                         name, line);
      memcpy (m->start_time, v, vn);
      m->start_time[vn] = '\0';
    }
  else if (key_is (s, n, "live_time_s", &v, &vn)
           || key_is (s, n, "real_time_s", &v, &vn))
    {
      double t;
      if (!field_number (v, vn, 0, &t) || !isfinite (t) || t < 0)
        return gs_error (GS_EFORMAT,
                         "%s:%zu: a time in seconds >= 0 is expected", name,
                         line);
      if (s[0] == 'l' || s[0] == 'L')
        m->live = t;
      else
        m->real = t;
    }
  else if (key_is (s, n, "energy_calibration_keV", &v, &vn))
    {
      const char *f;
      size_t k = 0, i = 0;
      m->n_coefs = 0;
      while (i < vn)
        {
          double c;
          while (i < vn && (v[i] == ' ' || v[i] == '\t'))
            i++;
          if (i == vn)
            break;
          f = v + i;
          while (i < vn && v[i] != ' ' && v[i] != '\t')
            i++;
          if (k == GS_FORMAT_MAX_COEFS
              || !field_number (f, (size_t)(v + i - f), 0, &c) || !isfinite (c))
            return gs_error (GS_EFORMAT,
                             "%s:%zu: energy_calibration_keV: expected 1 to "
                             "%d numbers",
                             name, line, GS_FORMAT_MAX_COEFS);
          m->coefs[k++] = c;
        }
      m->n_coefs = k;
    }
  return GS_OK;
}

static double
poly (const double *c, size_t n, double x)
{
  double e = 0.0;
  while (n--)
    e = e * x + c[n];
  return e;
}

/* 1 when the polynomial gives every energy e[i] at channel ch[i] to
 * 1e-6 of the largest |e|. */
static int
fits (const double *c, size_t nc, const double *ch, const double *e, size_t n)
{
  double scale = 0.0, tol;
  size_t i;
  for (i = 0; i < n; i++)
    if (fabs (e[i]) > scale)
      scale = fabs (e[i]);
  tol = 1e-6 * scale;
  for (i = 0; i < n; i++)
    if (!(fabs (poly (c, nc, ch[i]) - e[i]) <= tol))
      return 0;
  return 1;
}

/* A line, else a parabola (first, middle, last point) through the
 * energies; 0 coefficients when neither fits. */
static size_t
fit_energies (const double *ch, const double *e, size_t n, double *c)
{
  double x0, x1, x2, y0, y1, y2, d01, d02, d12;
  size_t mid = n / 2;
  if (n < 2)
    return 0;
  x0 = ch[0], x2 = ch[n - 1], y0 = e[0], y2 = e[n - 1];
  c[1] = (y2 - y0) / (x2 - x0);
  c[0] = y0 - c[1] * x0;
  if (fits (c, 2, ch, e, n))
    return 2;
  if (n < 3)
    return 0;
  x1 = ch[mid], y1 = e[mid];
  d01 = x0 - x1, d02 = x0 - x2, d12 = x1 - x2;
  /* Lagrange form expanded: y = sum y_i L_i(x). */
  {
    double a0 = y0 / (d01 * d02), a1 = -y1 / (d01 * d12), a2 = y2 / (d02 * d12);
    c[2] = a0 + a1 + a2;
    c[1] = -(a0 * (x1 + x2) + a1 * (x0 + x2) + a2 * (x0 + x1));
    c[0] = a0 * x1 * x2 + a1 * x0 * x2 + a2 * x0 * x1;
  }
  if (fits (c, 3, ch, e, n))
    return 3;
  return 0;
}

/* 1 when a header name says energy ("Energy", "E [keV]", ...). */
static int
header_says_energy (const char *h, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if ((n - i >= 6 && strncasecmp (h + i, "energy", 6) == 0)
        || (n - i >= 3 && strncasecmp (h + i, "kev", 3) == 0))
      return 1;
  return 0;
}

/* Parses every line into d and m. */
static int
parse_lines (const char *buf, size_t len, const char *name, csv_data *d,
             csv_meta *m, int *first_is_energy)
{
  csv_cursor c;
  const char *s, *f[MAX_COLS];
  size_t n, fl[MAX_COLS], k, j, data_lines = 0, header_line = 0;
  char sep = 0;
  int rc;
  c.p = buf;
  c.end = buf + len;
  c.line = 0;
  if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB
      && (unsigned char)buf[2] == 0xBF)
    c.p += 3;
  *first_is_energy = 0;
  while (next_line (&c, &s, &n))
    {
      double v[MAX_COLS];
      int numeric = 1;
      if (n == 0)
        continue;
      if (memchr (s, '\0', n))
        return gs_error (GS_EFORMAT, "%s:%zu: NUL byte (a binary file?)", name,
                         c.line);
      if (s[0] == '#')
        {
          if ((rc = comment (m, s, n, name, c.line)))
            return rc;
          continue;
        }
      if (data_lines == 0)
        sep = separator_of (s, n); /* the header's and the data's own */
      k = fields_of (s, n, sep, f, fl);
      if (k == 0 || k > MAX_COLS)
        {
          if (data_lines == 0 && !header_line && k > MAX_COLS)
            return gs_error (GS_EFORMAT,
                             "%s:%zu: more than %d columns; a spectrum file "
                             "has counts, channel-or-energy and counts, or "
                             "channel, energy and counts",
                             name, c.line, MAX_COLS);
          numeric = 0;
        }
      for (j = 0; numeric && j < k; j++)
        if (!field_number (f[j], fl[j], sep == ';', &v[j]))
          numeric = 0;
      if (!numeric)
        {
          if (data_lines == 0 && !header_line)
            {
              header_line = c.line;
              *first_is_energy = k >= 2 && header_says_energy (f[0], fl[0]);
              continue;
            }
          return gs_error (GS_EFORMAT,
                           "%s:%zu: expected %zu numeric column%s, found "
                           "'%.*s'",
                           name, c.line, d->ncol ? d->ncol : 1,
                           d->ncol == 1 ? "" : "s", (int)(n > 40 ? 40 : n), s);
        }
      if (data_lines == 0)
        d->ncol = k;
      else if (k != d->ncol)
        return gs_error (GS_EFORMAT,
                         "%s:%zu: %zu columns where line %zu has %zu", name,
                         c.line, k, d->line[0], d->ncol);
      for (j = 0; j < k; j++)
        if (!isfinite (v[j]))
          return gs_error (GS_EFORMAT, "%s:%zu: column %zu is not finite", name,
                           c.line, j + 1);
      if (v[k - 1] < 0)
        return gs_error (GS_EFORMAT, "%s:%zu: negative count %g", name, c.line,
                         v[k - 1]);
      if ((rc = csv_push (d, v, c.line, name)))
        return rc;
      data_lines++;
    }
  if (data_lines == 0)
    return gs_error (GS_EFORMAT, "'%s' holds no counts", name);
  return GS_OK;
}

int
gs__read_csv (const char *buf, size_t len, const char *name, gs_specfile **out)
{
  csv_data d;
  csv_meta meta;
  gs_specfile *f = NULL;
  gs_measurement *m;
  int rc, first_is_energy;
  size_t i, start = 0, n_channels;
  double *ch = NULL;
  const double *energy = NULL;
  *out = NULL;
  memset (&d, 0, sizeof d);
  memset (&meta, 0, sizeof meta);
  gs__buf_init (&meta.title);
  meta.live = NAN;
  meta.real = NAN;
  rc = parse_lines (buf, len, name, &d, &meta, &first_is_energy);
  if (rc)
    goto done;
  n_channels = d.rows;
  if (d.ncol >= 2)
    {
      /* Channel numbers: consecutive integers from s >= 0. */
      int channels = !(d.ncol == 2 && first_is_energy) && d.x[0] >= 0
                     && d.x[0] == floor (d.x[0])
                     && d.x[0] < (double)GS_FORMAT_MAX_CHANNELS;
      for (i = 1; channels && i < d.rows; i++)
        channels = d.x[i] == d.x[0] + (double)i;
      if (channels)
        {
          start = (size_t)d.x[0];
          if (start + d.rows > GS_FORMAT_MAX_CHANNELS)
            {
              rc = gs_error (GS_ENOMEM,
                             "'%s': channel %zu is past the limit of %zu "
                             "channels",
                             name, start + d.rows - 1, GS_FORMAT_MAX_CHANNELS);
              goto done;
            }
          n_channels = start + d.rows;
          if (d.ncol == 3)
            energy = d.e;
        }
      else if (d.ncol == 3)
        {
          rc = gs_error (GS_EFORMAT,
                         "%s:%zu: the first of three columns must be the "
                         "channel numbers 0, 1, 2, ...",
                         name, d.line[0]);
          goto done;
        }
      else
        {
          for (i = 1; i < d.rows; i++)
            if (!(d.x[i] > d.x[i - 1]))
              {
                rc = gs_error (GS_EFORMAT,
                               "%s:%zu: the first column is neither channel "
                               "numbers 0, 1, 2, ... nor increasing energies "
                               "(%g after %g)",
                               name, d.line[i], d.x[i], d.x[i - 1]);
                goto done;
              }
          energy = d.x;
        }
    }
  if (meta.title.failed)
    {
      rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
      goto done;
    }
  f = gs_specfile_alloc (1);
  if (!f)
    {
      rc = GS_ENOMEM;
      goto done;
    }
  m = &f->m[0];
  m->n_channels = n_channels;
  m->counts = calloc (n_channels, sizeof (double));
  if (!m->counts || !(f->source = gs__strdup (name)))
    {
      rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
      goto done;
    }
  for (i = 0; i < d.rows; i++)
    m->counts[start + i] = d.counts[i];
  m->live_time = meta.live;
  m->real_time = meta.real;
  memcpy (m->start_time, meta.start_time, sizeof m->start_time);
  if (meta.title.len)
    {
      m->title = meta.title.data;
      gs__buf_init (&meta.title);
    }
  m->detector = meta.detector;
  meta.detector = NULL;
  if (energy)
    {
      ch = malloc (d.rows * sizeof *ch);
      if (!ch)
        {
          rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
          goto done;
        }
      for (i = 0; i < d.rows; i++)
        ch[i] = (double)(start + i);
      if (meta.n_coefs && fits (meta.coefs, meta.n_coefs, ch, energy, d.rows))
        {
          m->n_coefs = meta.n_coefs;
          memcpy (m->coefs, meta.coefs, sizeof m->coefs);
        }
      else
        m->n_coefs = fit_energies (ch, energy, d.rows, m->coefs);
      for (i = 0; i < m->n_coefs; i++)
        if (!isfinite (m->coefs[i]))
          m->n_coefs = 0;
    }
  else if (meta.n_coefs)
    {
      m->n_coefs = meta.n_coefs;
      memcpy (m->coefs, meta.coefs, sizeof m->coefs);
    }
  f->format = GS_FORMAT_CSV;
done:
  free (ch);
  csv_data_fini (&d);
  gs__buf_fini (&meta.title);
  free (meta.detector);
  if (rc)
    {
      gs_specfile_free (f);
      return rc;
    }
  *out = f;
  return GS_OK;
}

/* ---- writer ---------------------------------------------------------- */

static void
put_comment (FILE *out, const char *key, const char *v)
{
  while (v && *v)
    {
      const char *e = strchr (v, '\n');
      size_t n = e ? (size_t)(e - v) : strlen (v);
      fprintf (out, "# %s: ", key);
      fwrite (v, 1, n, out);
      fputc ('\n', out);
      v = e ? e + 1 : NULL;
    }
}

int
gs__write_csv (const gs_specfile *f, FILE *out)
{
  const gs_measurement *m = &f->m[0];
  size_t i;
  fputs ("# gspec spectrum\n", out);
  put_comment (out, "title", m->title);
  put_comment (out, "detector", m->detector);
  if (m->start_time[0])
    fprintf (out, "# start_time: %s\n", m->start_time);
  if (!isnan (m->live_time))
    fprintf (out, "# live_time_s: %.17g\n", m->live_time);
  if (!isnan (m->real_time))
    fprintf (out, "# real_time_s: %.17g\n", m->real_time);
  if (m->n_coefs)
    {
      fputs ("# energy_calibration_keV:", out);
      for (i = 0; i < m->n_coefs; i++)
        fprintf (out, " %.17g", m->coefs[i]);
      fputs ("\n", out);
      fputs ("channel,energy_keV,counts\n", out);
      for (i = 0; i < m->n_channels; i++)
        fprintf (out, "%zu,%.17g,%.17g\n", i,
                 poly (m->coefs, m->n_coefs, (double)i), m->counts[i]);
    }
  else
    {
      fputs ("channel,counts\n", out);
      for (i = 0; i < m->n_channels; i++)
        fprintf (out, "%zu,%.17g\n", i, m->counts[i]);
    }
  return ferror (out) ? gs_error (GS_EIO, "write error") : GS_OK;
}
