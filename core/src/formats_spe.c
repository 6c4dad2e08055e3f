/* IAEA / ORTEC ASCII SPE: `$NAME:` blocks of text lines.
 *
 * Read: $SPEC_ID (title), $SPEC_REM ("DETDESC# name" gives the
 * detector), $DATE_MEA, $MEAS_TIM (live real), $DATA (first last, then
 * the counts, any number per line), $ENER_FIT (a b [c]) and $MCA_CAL
 * (count, then the coefficients and an optional unit), which wins over
 * $ENER_FIT.  Other blocks are skipped.  Channels below `first` are 0, so
 * that the index is the file's channel number.  LF, CRLF and CR end
 * lines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

typedef struct spe_cursor
{
  const char *p;
  const char *end;
  size_t line; /* number of the line last returned, 1-based */
} spe_cursor;

/* The next line (without its end), trimmed of trailing blanks; 0 at the
 * end of the data. */
static int
next_line (spe_cursor *c, const char **s, size_t *n)
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
  while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *s = b;
  *n = (size_t)(e - b);
  return 1;
}

/* 1 when the next line starts a block (or there is none). */
static int
at_block (const spe_cursor *c)
{
  return c->p >= c->end || *c->p == '$';
}

/* Splits the next blank-separated token off s[0..n); 0 when none. */
static int
next_token (const char **s, size_t *n, const char **t, size_t *tn)
{
  const char *p = *s, *e = *s + *n;
  while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
    p++;
  if (p == e)
    {
      *s = e;
      *n = 0;
      return 0;
    }
  *t = p;
  while (p < e && *p != ' ' && *p != '\t' && *p != ',')
    p++;
  *tn = (size_t)(p - *t);
  *s = p;
  *n = (size_t)(e - p);
  return 1;
}

/* Parses a token as a number: 1 when it is one (finite or not), with
 * *v set; 0 when it is no number. */
static int
token_number (const char *t, size_t n, double *v)
{
  char tmp[80];
  char *end;
  if (n == 0 || n >= sizeof tmp)
    return 0;
  memcpy (tmp, t, n);
  tmp[n] = '\0';
  *v = strtod (tmp, &end);
  return end == tmp + n;
}

static int
spe_error (const char *name, size_t line, const char *what)
{
  return gs_error (GS_EFORMAT, "%s:%zu: %s", name, line, what);
}

/* Reads every number of the current block (up to max) into v.  With
 * `unit` non-NULL, one word of letters after the numbers is a unit
 * ("keV"), copied there ("" when none). */
static int
block_numbers (spe_cursor *c, const char *name, const char *block, double *v,
               size_t max, size_t *count, char unit[8])
{
  const char *s, *t;
  size_t n, tn;
  *count = 0;
  if (unit)
    unit[0] = '\0';
  while (!at_block (c) && next_line (c, &s, &n))
    while (next_token (&s, &n, &t, &tn))
      {
        double x;
        if (!token_number (t, tn, &x))
          {
            size_t j = 0;
            while (j < tn
                   && ((t[j] >= 'a' && t[j] <= 'z')
                       || (t[j] >= 'A' && t[j] <= 'Z')))
              j++;
            if (unit && *count > 0 && !unit[0] && j == tn && tn < 8)
              {
                memcpy (unit, t, tn);
                unit[tn] = '\0';
                continue;
              }
            return gs_error (GS_EFORMAT, "%s:%zu: %s: '%.*s' is not a number",
                             name, c->line, block, (int)(tn > 40 ? 40 : tn), t);
          }
        if (!isfinite (x))
          return gs_error (GS_EFORMAT, "%s:%zu: %s: value is not finite", name,
                           c->line, block);
        if (unit && unit[0])
          return gs_error (GS_EFORMAT, "%s:%zu: %s: a number after the unit",
                           name, c->line, block);
        if (*count >= max)
          return gs_error (GS_EFORMAT, "%s:%zu: %s: more than %zu values", name,
                           c->line, block, max);
        v[(*count)++] = x;
      }
  return GS_OK;
}

/* Text lines of the block joined by '\n' (leading and trailing blank
 * lines dropped); NULL in *out when empty. */
static int
block_text (spe_cursor *c, const char *name, char **out)
{
  gs__buf b;
  const char *s;
  size_t n, pending = 0;
  gs__buf_init (&b);
  while (!at_block (c) && next_line (c, &s, &n))
    {
      if (n == 0)
        {
          if (b.len)
            pending++;
          continue;
        }
      if (b.len)
        pending++;
      while (pending)
        {
          gs__buf_append (&b, "\n", 1);
          pending--;
        }
      gs__buf_append (&b, s, n);
    }
  if (b.failed)
    {
      gs__buf_fini (&b);
      return gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
    }
  if (b.len && memchr (b.data, '\0', b.len))
    {
      gs__buf_fini (&b);
      return gs_error (GS_EFORMAT, "%s:%zu: NUL byte in a text block", name,
                       c->line);
    }
  *out = b.len ? b.data : NULL;
  if (!b.len)
    gs__buf_fini (&b);
  return GS_OK;
}

static int
digits (const char *s, size_t n, int *v)
{
  size_t i;
  int x = 0;
  if (n == 0 || n > 4)
    return 0;
  for (i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return 0;
      x = x * 10 + (s[i] - '0');
    }
  *v = x;
  return 1;
}

/* Splits s[0..n) at any of the characters in seps into at most max parts;
 * returns the count, 0 on an empty part or too many. */
static size_t
split (const char *s, size_t n, const char *seps, const char **part,
       size_t *len, size_t max)
{
  size_t k = 0, i = 0, start = 0;
  for (i = 0; i <= n; i++)
    if (i == n || strchr (seps, s[i]))
      {
        if (i == start || k == max)
          return 0;
        part[k] = s + start;
        len[k] = i - start;
        k++;
        start = i + 1;
      }
  return k;
}

/* "mm/dd/yyyy [hh:mm[:ss]]", "dd.mm.yyyy [...]" or "yyyy-mm-dd[T ]..."
 * as ISO "yyyy-mm-ddThh:mm:ss"; 0 when not a date. */
static int
parse_date (const char *s, size_t n, char iso[32])
{
  const char *dp[3], *tp[3], *t = NULL;
  size_t dl[3], tl[3], nd, nt = 0, i, dn = n, tn = 0;
  int v[3], y, mo, d, h = 0, mi = 0, sec = 0, iy, im, id;
  for (i = 0; i < n; i++)
    if (s[i] == ' ' || s[i] == 'T' || s[i] == '\t')
      {
        dn = i;
        t = s + i;
        while (t < s + n && (*t == ' ' || *t == 'T' || *t == '\t'))
          t++;
        tn = (size_t)(s + n - t);
        break;
      }
  nd = split (s, dn, "/.-", dp, dl, 3);
  if (nd != 3 || !digits (dp[0], dl[0], &v[0]) || !digits (dp[1], dl[1], &v[1])
      || !digits (dp[2], dl[2], &v[2]))
    return 0;
  if (memchr (s, '-', dn) && dl[0] == 4)
    iy = 0, im = 1, id = 2; /* yyyy-mm-dd */
  else if (memchr (s, '.', dn) && !memchr (s, '/', dn))
    iy = 2, im = 1, id = 0; /* dd.mm.yyyy */
  else if (memchr (s, '/', dn) && !memchr (s, '.', dn))
    iy = 2, im = 0, id = 1; /* mm/dd/yyyy */
  else
    return 0;
  y = v[iy];
  mo = v[im];
  d = v[id];
  if (dl[iy] == 2)
    y += y >= 70 ? 1900 : 2000;
  else if (dl[iy] != 4)
    return 0;
  if (dl[im] > 2 || dl[id] > 2 || mo < 1 || mo > 12 || d < 1 || d > 31
      || y < 1000)
    return 0;
  if (t && tn)
    {
      nt = split (t, tn, ":", tp, tl, 3);
      if (nt < 2 || !digits (tp[0], tl[0], &h) || !digits (tp[1], tl[1], &mi)
          || (nt == 3 && !digits (tp[2], tl[2], &sec)))
        return 0;
      if (h > 23 || mi > 59 || sec > 60)
        return 0;
    }
  snprintf (iso, 32, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec);
  return 1;
}

/* The detector named in $SPEC_REM ("DETDESC# name"), or NULL. */
static int
detector_of (const char *rem, const char *name, char **out)
{
  const char *p = rem;
  *out = NULL;
  while (p && *p)
    {
      const char *e = strchr (p, '\n');
      size_t n = e ? (size_t)(e - p) : strlen (p);
      if (n > 8 && strncasecmp (p, "DETDESC#", 8) == 0)
        {
          const char *v = p + 8;
          size_t vn = n - 8;
          while (vn && (*v == ' ' || *v == '\t'))
            v++, vn--;
          if (vn)
            {
              *out = gs__strndup (v, vn);
              if (!*out)
                return gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
            }
          return GS_OK;
        }
      p = e ? e + 1 : NULL;
    }
  return GS_OK;
}

/* $DATA: "first last" then the counts. */
static int
read_data (spe_cursor *c, const char *name, gs_measurement *m)
{
  const char *s, *t;
  size_t n, tn, got = 0, want, head_line;
  double first, last;
  for (;;)
    {
      if (at_block (c) || !next_line (c, &s, &n))
        return spe_error (name, c->line,
                          "$DATA: the line 'first last' channel is missing");
      if (n)
        break;
    }
  head_line = c->line;
  if (!next_token (&s, &n, &t, &tn) || !token_number (t, tn, &first)
      || !next_token (&s, &n, &t, &tn) || !token_number (t, tn, &last)
      || next_token (&s, &n, &t, &tn))
    return spe_error (name, head_line,
                      "$DATA: expected 'first last' channel numbers");
  if (!(first >= 0) || !(last >= first) || first != floor (first)
      || last != floor (last))
    return gs_error (GS_EFORMAT,
                     "%s:%zu: $DATA: channels %g to %g are not integers "
                     "0 <= first <= last",
                     name, head_line, first, last);
  if (last >= (double)GS_FORMAT_MAX_CHANNELS)
    return gs_error (GS_ENOMEM,
                     "%s:%zu: $DATA: channel %.0f is past the limit of %zu "
                     "channels",
                     name, head_line, last, GS_FORMAT_MAX_CHANNELS);
  m->n_channels = (size_t)last + 1;
  want = (size_t)(last - first) + 1;
  m->counts = calloc (m->n_channels, sizeof (double));
  if (!m->counts)
    return gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
  while (!at_block (c) && next_line (c, &s, &n))
    while (next_token (&s, &n, &t, &tn))
      {
        double v;
        if (!token_number (t, tn, &v))
          return gs_error (GS_EFORMAT, "%s:%zu: $DATA: '%.*s' is not a count",
                           name, c->line, (int)(tn > 40 ? 40 : tn), t);
        if (!isfinite (v))
          return gs_error (GS_EFORMAT, "%s:%zu: $DATA: count %zu is not finite",
                           name, c->line, (size_t)first + got);
        if (v < 0)
          return gs_error (GS_EFORMAT,
                           "%s:%zu: $DATA: count %zu is negative (%g)", name,
                           c->line, (size_t)first + got, v);
        if (got == want)
          return gs_error (GS_EFORMAT,
                           "%s:%zu: $DATA: more counts than the %zu of "
                           "channels %.0f to %.0f (line %zu)",
                           name, c->line, want, first, last, head_line);
        m->counts[(size_t)first + got++] = v;
      }
  if (got != want)
    return gs_error (GS_EFORMAT,
                     "%s:%zu: $DATA: %zu counts where channels %.0f to %.0f "
                     "(line %zu) promise %zu; the file is truncated?",
                     name, c->line, got, first, last, head_line, want);
  return GS_OK;
}

int
gs__read_spe (const char *buf, size_t len, const char *name, gs_specfile **out)
{
  spe_cursor c;
  gs_specfile *f;
  gs_measurement *m;
  const char *s;
  size_t n;
  int rc = GS_OK, have_data = 0, have_mca = 0;
  char *rem = NULL;
  *out = NULL;
  c.p = buf;
  c.end = buf + len;
  c.line = 0;
  if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB
      && (unsigned char)buf[2] == 0xBF)
    c.p += 3;
  f = gs_specfile_alloc (1);
  if (!f)
    return GS_ENOMEM;
  m = &f->m[0];
  m->live_time = NAN;
  m->real_time = NAN;
  while (!rc && next_line (&c, &s, &n))
    {
      const char *colon;
      size_t bn;
      if (n == 0)
        continue;
      if (s[0] != '$')
        {
          rc = gs_error (GS_EFORMAT,
                         "%s:%zu: expected a '$NAME:' block, found '%.*s'",
                         name, c.line, (int)(n > 40 ? 40 : n), s);
          break;
        }
      colon = memchr (s, ':', n);
      bn = colon ? (size_t)(colon - s) : n;
#define IS(lit) (bn == sizeof (lit) - 1 && memcmp (s, lit, bn) == 0)
      if (IS ("$SPEC_ID"))
        {
          free (m->title);
          m->title = NULL;
          rc = block_text (&c, name, &m->title);
        }
      else if (IS ("$SPEC_REM"))
        {
          free (rem);
          rem = NULL;
          rc = block_text (&c, name, &rem);
        }
      else if (IS ("$DATE_MEA"))
        {
          char *date = NULL;
          size_t line = c.line;
          rc = block_text (&c, name, &date);
          if (!rc && date)
            {
              char *nl = strchr (date, '\n');
              size_t dn = nl ? (size_t)(nl - date) : strlen (date);
              const char *d = date;
              while (dn && (*d == ' ' || *d == '\t'))
                d++, dn--;
              if (!parse_date (d, dn, m->start_time))
                rc = gs_error (GS_EFORMAT,
                               "%s:%zu: $DATE_MEA: '%.*s' is not a date "
                               "(mm/dd/yyyy hh:mm:ss, dd.mm.yyyy hh:mm:ss or "
                               "yyyy-mm-dd hh:mm:ss)",
                               name, line + 1, (int)(dn > 40 ? 40 : dn), d);
            }
          free (date);
        }
      else if (IS ("$MEAS_TIM"))
        {
          double v[2];
          size_t k, line = c.line;
          rc = block_numbers (&c, name, "$MEAS_TIM", v, 2, &k, NULL);
          if (!rc && k != 2)
            rc = spe_error (name, line,
                            "$MEAS_TIM: expected 'live real' "
                            "in seconds");
          else if (!rc && (v[0] < 0 || v[1] < 0))
            rc = spe_error (name, line, "$MEAS_TIM: negative time");
          if (!rc)
            {
              m->live_time = v[0];
              m->real_time = v[1];
            }
        }
      else if (IS ("$DATA"))
        {
          if (have_data)
            rc = spe_error (name, c.line,
                            "a second $DATA block; gspec reads one spectrum "
                            "per SPE file");
          else
            rc = read_data (&c, name, m);
          have_data = 1;
        }
      else if (IS ("$ENER_FIT"))
        {
          double v[GS_FORMAT_MAX_COEFS];
          size_t k, j, line = c.line;
          rc = block_numbers (&c, name, "$ENER_FIT", v, GS_FORMAT_MAX_COEFS, &k,
                              NULL);
          if (!rc && k == 1)
            rc = spe_error (name, line, "$ENER_FIT: expected 'a b [c]'");
          if (!rc && !have_mca)
            {
              int nonzero = 0;
              for (j = 0; j < k; j++)
                nonzero |= v[j] != 0.0;
              m->n_coefs = nonzero ? k : 0;
              memcpy (m->coefs, v, k * sizeof (double));
            }
        }
      else if (IS ("$MCA_CAL"))
        {
          double v[GS_FORMAT_MAX_COEFS + 1], scale = 1.0;
          size_t k, j, line = c.line;
          int nonzero = 0;
          char unit[8];
          rc = block_numbers (&c, name, "$MCA_CAL", v, GS_FORMAT_MAX_COEFS + 1,
                              &k, unit);
          if (!rc && unit[0])
            {
              if (strcasecmp (unit, "MeV") == 0)
                scale = 1000.0;
              else if (strcasecmp (unit, "keV") != 0)
                rc = gs_error (GS_EFORMAT,
                               "%s:%zu: $MCA_CAL: unit '%s' (keV or MeV)", name,
                               line + 2, unit);
            }
          if (!rc
              && (k == 0 || v[0] != floor (v[0]) || v[0] < 1
                  || v[0] > GS_FORMAT_MAX_COEFS))
            rc = gs_error (GS_EFORMAT,
                           "%s:%zu: $MCA_CAL: expected a coefficient count "
                           "1 to %d",
                           name, line + 1, GS_FORMAT_MAX_COEFS);
          else if (!rc && k - 1 != (size_t)v[0])
            rc = gs_error (GS_EFORMAT,
                           "%s:%zu: $MCA_CAL: %zu coefficients where the "
                           "count says %.0f",
                           name, line + 1, k - 1, v[0]);
          if (!rc)
            {
              for (j = 1; j < k; j++)
                {
                  v[j] *= scale;
                  nonzero |= v[j] != 0.0;
                }
              m->n_coefs = nonzero ? k - 1 : 0;
              memset (m->coefs, 0, sizeof m->coefs);
              memcpy (m->coefs, v + 1, (k - 1) * sizeof (double));
              have_mca = 1;
            }
        }
      else
        {
          /* Unknown block ($ROI, $PRESETS, $ENER_DATA, ...): skipped. */
          while (!at_block (&c) && next_line (&c, &s, &n))
            ;
        }
#undef IS
    }
  if (!rc && !have_data)
    rc = gs_error (GS_EFORMAT, "'%s' has no $DATA block (not an SPE file?)",
                   name);
  if (!rc && rem)
    rc = detector_of (rem, name, &m->detector);
  free (rem);
  if (!rc && !(f->source = gs__strdup (name)))
    rc = gs_error (GS_ENOMEM, "out of memory reading '%s'", name);
  if (rc)
    {
      gs_specfile_free (f);
      return rc;
    }
  f->format = GS_FORMAT_SPE;
  *out = f;
  return GS_OK;
}

/* ---- writer ---------------------------------------------------------- */

/* Text lines, each starting with a blank when it would start a block. */
static void
put_text (FILE *out, const char *t)
{
  while (t && *t)
    {
      const char *e = strchr (t, '\n');
      size_t n = e ? (size_t)(e - t) : strlen (t);
      if (n && t[0] == '$')
        fputc (' ', out);
      fwrite (t, 1, n, out);
      fputc ('\n', out);
      t = e ? e + 1 : NULL;
    }
}

static void
put_number (FILE *out, double v)
{
  if (v == floor (v) && fabs (v) < 9007199254740992.0)
    fprintf (out, "%.0f", v);
  else
    fprintf (out, "%.17g", v);
}

int
gs__write_spe (const gs_specfile *f, FILE *out)
{
  const gs_measurement *m = &f->m[0];
  size_t i, deg = 0;
  int y, mo, d, h, mi, s;
  fputs ("$SPEC_ID:\n", out);
  if (m->title && *m->title)
    put_text (out, m->title);
  else
    fputs ("\n", out);
  if (m->detector && *m->detector)
    {
      fputs ("$SPEC_REM:\nDETDESC# ", out);
      for (i = 0; m->detector[i]; i++)
        fputc (m->detector[i] == '\n' ? ' ' : m->detector[i], out);
      fputs ("\n", out);
    }
  if (m->start_time[0]
      && sscanf (m->start_time, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi,
                 &s)
             == 6)
    fprintf (out, "$DATE_MEA:\n%02d/%02d/%04d %02d:%02d:%02d\n", mo, d, y, h,
             mi, s);
  if (isfinite (m->live_time) && isfinite (m->real_time))
    fprintf (out, "$MEAS_TIM:\n%.17g %.17g\n", m->live_time, m->real_time);
  fprintf (out, "$DATA:\n0 %zu\n", m->n_channels - 1);
  for (i = 0; i < m->n_channels; i++)
    {
      put_number (out, m->counts[i]);
      fputc ('\n', out);
    }
  for (i = 0; i < m->n_coefs; i++)
    if (m->coefs[i] != 0.0)
      deg = i;
  if (m->n_coefs)
    {
      if (deg <= 1)
        fprintf (out, "$ENER_FIT:\n%.17g %.17g\n", m->coefs[0],
                 m->n_coefs > 1 ? m->coefs[1] : 0.0);
      fprintf (out, "$MCA_CAL:\n%zu\n", m->n_coefs);
      for (i = 0; i < m->n_coefs; i++)
        fprintf (out, "%.17g ", m->coefs[i]);
      fputs ("keV\n", out);
    }
  return ferror (out) ? gs_error (GS_EIO, "write error") : GS_OK;
}
