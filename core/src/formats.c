/* Spectrum files: the gs_specfile type, format names and detection, the
 * dispatch to the per-format readers and writers (formats_*.c), atomic
 * writes and the conversion to and from gs_spectra. */
#include "gspec/formats.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

/* ---- alloc / free ---------------------------------------------------- */

gs_specfile *
gs_specfile_alloc (size_t n)
{
  gs_specfile *f;
  if (n > GS_FORMAT_MAX_MEASUREMENTS)
    {
      gs_error (GS_ENOMEM, "%zu measurements is past the limit of %d", n,
                GS_FORMAT_MAX_MEASUREMENTS);
      return NULL;
    }
  f = calloc (1, sizeof *f);
  if (f && n)
    f->m = calloc (n, sizeof *f->m);
  if (!f || (n && !f->m))
    {
      free (f);
      gs_error (GS_ENOMEM, "out of memory allocating %zu measurements", n);
      return NULL;
    }
  f->n = n;
  f->format = GS_FORMAT_UNKNOWN;
  return f;
}

void
gs_specfile_free (gs_specfile *f)
{
  size_t i;
  if (!f)
    return;
  if (f->m)
    for (i = 0; i < f->n; i++)
      {
        free (f->m[i].counts);
        free (f->m[i].title);
        free (f->m[i].detector);
      }
  free (f->m);
  free (f->source);
  free (f);
}

/* ---- names ----------------------------------------------------------- */

static const char *const format_names[]
    = { "unknown", "n42", "spe", "chn", "cnf", "csv" };
#define N_FORMAT_NAMES (sizeof format_names / sizeof format_names[0])

const char *
gs_format_name (gs_format f)
{
  if ((unsigned)f < N_FORMAT_NAMES)
    return format_names[f];
  return "unknown";
}

gs_format
gs_format_from_name (const char *name)
{
  size_t i;
  if (!name)
    return GS_FORMAT_UNKNOWN;
  for (i = 1; i < N_FORMAT_NAMES; i++)
    if (strcasecmp (name, format_names[i]) == 0)
      return (gs_format)i;
  return GS_FORMAT_UNKNOWN;
}

/* ---- detection ------------------------------------------------------- */

/* The format an extension suggests (case-insensitive), or UNKNOWN. */
static gs_format
format_of_extension (const char *name)
{
  const char *dot, *slash;
  if (!name)
    return GS_FORMAT_UNKNOWN;
  dot = strrchr (name, '.');
  slash = strrchr (name, '/');
  if (!dot || (slash && dot < slash))
    return GS_FORMAT_UNKNOWN;
  dot++;
  if (strcasecmp (dot, "n42") == 0 || strcasecmp (dot, "xml") == 0)
    return GS_FORMAT_N42;
  if (strcasecmp (dot, "spe") == 0)
    return GS_FORMAT_SPE;
  if (strcasecmp (dot, "chn") == 0)
    return GS_FORMAT_CHN;
  if (strcasecmp (dot, "cnf") == 0 || strcasecmp (dot, "cam") == 0)
    return GS_FORMAT_CNF;
  if (strcasecmp (dot, "csv") == 0 || strcasecmp (dot, "txt") == 0
      || strcasecmp (dot, "tsv") == 0 || strcasecmp (dot, "dat") == 0)
    return GS_FORMAT_CSV;
  return GS_FORMAT_UNKNOWN;
}

/* Finds needle in buf[0..len) (no NUL needed). */
static const char *
find_bytes (const char *buf, size_t len, const char *needle)
{
  size_t n = strlen (needle), i;
  if (n == 0 || len < n)
    return NULL;
  for (i = 0; i + n <= len; i++)
    if (buf[i] == needle[0] && memcmp (buf + i, needle, n) == 0)
      return buf + i;
  return NULL;
}

static size_t
skip_bom_blank (const char *b, size_t len)
{
  size_t i = 0;
  if (len >= 3 && (unsigned char)b[0] == 0xEF && (unsigned char)b[1] == 0xBB
      && (unsigned char)b[2] == 0xBF)
    i = 3;
  while (i < len
         && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
    i++;
  return i;
}

/* An XML document whose root (within the first 64 KiB, after the
 * declaration and comments) is an N42 element, with or without a
 * namespace prefix. */
static int
looks_n42 (const char *b, size_t len)
{
  size_t i = skip_bom_blank (b, len);
  size_t n = len - i < 65536 ? len - i : 65536;
  const char *s = b + i;
  const char *names[] = { "RadInstrumentData", "N42InstrumentData" };
  size_t k;
  if (n == 0 || s[0] != '<')
    return 0;
  for (k = 0; k < 2; k++)
    {
      const char *p = s, *e = s + n;
      while ((p = find_bytes (p, (size_t)(e - p), names[k])) != NULL)
        {
          if (p > s && (p[-1] == '<' || p[-1] == ':'))
            return 1;
          p++;
        }
    }
  return 0;
}

/* A "$SPEC_ID:" or "$DATA:" block at the start of a line, in a text
 * that starts with a '$' block. */
static int
looks_spe (const char *b, size_t len)
{
  size_t i = skip_bom_blank (b, len);
  const char *s = b + i;
  size_t n = len - i;
  if (n == 0 || s[0] != '$')
    return 0;
  if ((n >= 9 && memcmp (s, "$SPEC_ID:", 9) == 0)
      || (n >= 6 && memcmp (s, "$DATA:", 6) == 0))
    return 1;
  return find_bytes (s, n, "\n$DATA:") != NULL
         || find_bytes (s, n, "\n$SPEC_ID:") != NULL
         || find_bytes (s, n, "\r$DATA:") != NULL;
}

static uint32_t
le32 (const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
         | (uint32_t)p[3] << 24;
}

/* A CHN header: 32 bytes whose first int16 (little-endian) is -1. */
static int
looks_chn (const unsigned char *b, size_t len)
{
  return len >= 32 && b[0] == 0xFF && b[1] == 0xFF;
}

/* A CNF section table at 0x70: 48-byte entries whose first is a
 * 0x120xx section id, ending at an id of 0, with a parameter (0x12000)
 * or data (0x12005) section. */
static int
looks_cnf (const unsigned char *b, size_t len)
{
  size_t off;
  int found = 0;
  if (len < 0x70 + 0x30)
    return 0;
  if ((le32 (b + 0x70) & 0xFFFFFF00u) != 0x12000u)
    return 0;
  for (off = 0x70; off + 0x30 <= len && off < 0x70 + 0x30 * 64; off += 0x30)
    {
      uint32_t id = le32 (b + off);
      if (id == 0)
        break;
      if (id == 0x12000u || id == 0x12005u)
        found = 1;
    }
  return found;
}

/* One numeric field (a strtod number), s[0..n). */
static int
numeric_field (const char *s, size_t n)
{
  char tmp[64];
  char *end;
  while (n && (*s == ' ' || *s == '\t' || *s == '"'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '"'))
    n--;
  if (n == 0 || n >= sizeof tmp)
    return 0;
  memcpy (tmp, s, n);
  tmp[n] = '\0';
  strtod (tmp, &end);
  return end == tmp + n;
}

/* Fields of a text line split at ',', ';', tab or blanks; 0 when a field
 * is not numeric (or the line holds more than 3 fields). */
static int
numeric_line (const char *s, size_t n)
{
  size_t i = 0, fields = 0;
  int blank_sep = !memchr (s, ',', n) && !memchr (s, ';', n);
  while (i < n)
    {
      size_t j = i;
      if (blank_sep)
        {
          while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
          if (i == n)
            break;
          j = i;
          while (j < n && s[j] != ' ' && s[j] != '\t')
            j++;
        }
      else
        while (j < n && s[j] != ',' && s[j] != ';')
          j++;
      if (!numeric_field (s + i, j - i))
        return 0;
      fields++;
      i = j < n ? j + 1 : j;
    }
  return fields >= 1 && fields <= 3;
}

/* Numeric text lines (1 to 3 fields), after an optional header line and
 * '#' comments: the first 32 data lines are checked. */
static int
looks_csv (const char *b, size_t len)
{
  size_t i = skip_bom_blank (b, len), checked = 0, lines = 0;
  while (i < len && checked < 32)
    {
      size_t s = i, e;
      while (i < len && b[i] != '\n' && b[i] != '\r')
        i++;
      e = i;
      while (i < len && (b[i] == '\n' || b[i] == '\r'))
        i++;
      while (s < e && (b[s] == ' ' || b[s] == '\t'))
        s++;
      if (s == e || b[s] == '#')
        continue;
      if (memchr (b + s, '\0', e - s))
        return 0;
      lines++;
      if (numeric_line (b + s, e - s))
        checked++;
      else if (lines > 1 || checked)
        return 0;
    }
  return checked > 0;
}

gs_format
gs_format_detect (const void *buf, size_t len, const char *name)
{
  const char *b = buf;
  const unsigned char *u = buf;
  gs_format cand[4];
  size_t n = 0, k;
  gs_format ext = format_of_extension (name);
  if (!buf || len == 0)
    return GS_FORMAT_UNKNOWN;
  if (looks_chn (u, len))
    cand[n++] = GS_FORMAT_CHN;
  if (looks_cnf (u, len))
    cand[n++] = GS_FORMAT_CNF;
  if (n == 0)
    {
      if (looks_n42 (b, len))
        cand[n++] = GS_FORMAT_N42;
      else if (looks_spe (b, len))
        cand[n++] = GS_FORMAT_SPE;
      else if (looks_csv (b, len))
        cand[n++] = GS_FORMAT_CSV;
    }
  if (n == 0)
    return GS_FORMAT_UNKNOWN;
  for (k = 0; k < n; k++)
    if (cand[k] == ext)
      return ext;
  return cand[0];
}

/* ---- checks shared by read and write --------------------------------- */

/* A measurement as gspec/formats.h promises it. */
static int
check_measurement (const gs_measurement *m, size_t i, const char *name,
                   int status)
{
  size_t j;
  if (m->n_channels == 0)
    return gs_error (status, "'%s': measurement %zu has no channels", name,
                     i + 1);
  if (m->n_channels > GS_FORMAT_MAX_CHANNELS)
    return gs_error (status,
                     "'%s': measurement %zu has %zu channels, past the "
                     "limit of %zu",
                     name, i + 1, m->n_channels, GS_FORMAT_MAX_CHANNELS);
  if (!m->counts)
    return gs_error (status, "'%s': measurement %zu has no counts", name,
                     i + 1);
  for (j = 0; j < m->n_channels; j++)
    if (!isfinite (m->counts[j]) || m->counts[j] < 0)
      return gs_error (status,
                       "'%s': measurement %zu, channel %zu (0-based): count "
                       "%g is %s; counts must be finite and >= 0",
                       name, i + 1, j, m->counts[j],
                       isfinite (m->counts[j]) ? "negative" : "not finite");
  if (m->n_coefs > GS_FORMAT_MAX_COEFS)
    return gs_error (status,
                     "'%s': measurement %zu has %zu calibration "
                     "coefficients, past the limit of %d",
                     name, i + 1, m->n_coefs, GS_FORMAT_MAX_COEFS);
  for (j = 0; j < m->n_coefs; j++)
    if (!isfinite (m->coefs[j]))
      return gs_error (status,
                       "'%s': measurement %zu: calibration coefficient %zu "
                       "is not finite",
                       name, i + 1, j);
  if (memchr (m->start_time, '\0', sizeof m->start_time) == NULL)
    return gs_error (status,
                     "'%s': measurement %zu: start time is not terminated",
                     name, i + 1);
  return GS_OK;
}

static int
check_file (const gs_specfile *f, const char *name, int status)
{
  size_t i;
  int rc;
  if (f->n == 0 || !f->m)
    return gs_error (status, "'%s' holds no measurement", name);
  if (f->n > GS_FORMAT_MAX_MEASUREMENTS)
    return gs_error (status,
                     "'%s' holds %zu measurements, past the limit of %d", name,
                     f->n, GS_FORMAT_MAX_MEASUREMENTS);
  for (i = 0; i < f->n; i++)
    if ((rc = check_measurement (&f->m[i], i, name, status)))
      return rc;
  return GS_OK;
}

/* ---- reading --------------------------------------------------------- */

int
gs_specfile_read_mem (const void *buf, size_t len, const char *name,
                      gs_format format, gs_specfile **out)
{
  gs_specfile *f = NULL;
  const char *nm = name ? name : "(memory)";
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_specfile_read_mem: out is NULL");
  *out = NULL;
  if (!buf && len)
    return gs_error (GS_EINVAL, "gs_specfile_read_mem: buf is NULL");
  if (len > GS_FORMAT_MAX_BYTES)
    return gs_error (GS_ENOMEM,
                     "'%s' is %zu bytes, past the limit of %zu bytes for a "
                     "spectrum file",
                     nm, len, GS_FORMAT_MAX_BYTES);
  if (format == GS_FORMAT_UNKNOWN)
    {
      format = gs_format_detect (buf, len, name);
      if (format == GS_FORMAT_UNKNOWN)
        return gs_error (
            GS_EFORMAT,
            "'%s' is %s; gspec reads N42 (2006/2012 XML), "
            "IAEA/ORTEC SPE, ORTEC CHN, Canberra CNF and CSV/TXT "
            "(one or two numeric columns)",
            nm, len ? "not a spectrum file of a known format" : "empty");
    }
  switch (format)
    {
    case GS_FORMAT_N42:
      rc = gs__read_n42 (buf, len, nm, &f);
      break;
    case GS_FORMAT_SPE:
      rc = gs__read_spe (buf, len, nm, &f);
      break;
    case GS_FORMAT_CHN:
      rc = gs__read_chn (buf, len, nm, &f);
      break;
    case GS_FORMAT_CNF:
      rc = gs__read_cnf (buf, len, nm, &f);
      break;
    case GS_FORMAT_CSV:
      rc = gs__read_csv (buf, len, nm, &f);
      break;
    default:
      return gs_error (GS_EINVAL,
                       "'%s': unknown format %d; the formats are n42, spe, "
                       "chn, cnf, csv",
                       nm, (int)format);
    }
  if (rc)
    {
      gs_specfile_free (f);
      return rc;
    }
  if (!f)
    return gs_error (GS_EFAILED, "'%s': the %s reader returned nothing", nm,
                     gs_format_name (format));
  /* Readers promise these; a slip gives an error, never a bad number. */
  if ((rc = check_file (f, nm, GS_EFORMAT)))
    {
      gs_specfile_free (f);
      return rc;
    }
  f->format = format;
  if (!f->source || strcmp (f->source, nm) != 0)
    {
      char *s = gs__strdup (nm);
      if (!s)
        {
          gs_specfile_free (f);
          return gs_error (GS_ENOMEM, "out of memory reading '%s'", nm);
        }
      free (f->source);
      f->source = s;
    }
  *out = f;
  return GS_OK;
}

int
gs_specfile_read (const char *path, gs_specfile **out)
{
  struct stat st;
  FILE *fp;
  char *buf;
  size_t cap, len = 0, got;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_specfile_read: out is NULL");
  *out = NULL;
  if (!path)
    return gs_error (GS_EINVAL, "gs_specfile_read: path is NULL");
  if (stat (path, &st) != 0)
    {
      int e = errno;
      return gs_error (e == ENOENT || e == ENOTDIR ? GS_ENOENT : GS_EIO,
                       "cannot read spectrum file '%s': %s", path,
                       strerror (e));
    }
  if (S_ISDIR (st.st_mode))
    return gs_error (GS_EINVAL, "'%s' is a directory; give a spectrum file",
                     path);
  if (S_ISREG (st.st_mode) && (uintmax_t)st.st_size > GS_FORMAT_MAX_BYTES)
    return gs_error (GS_ENOMEM,
                     "'%s' is %jd bytes, past the limit of %zu bytes for a "
                     "spectrum file",
                     path, (intmax_t)st.st_size, GS_FORMAT_MAX_BYTES);
  fp = fopen (path, "rb");
  if (!fp)
    {
      int e = errno;
      return gs_error (e == ENOENT ? GS_ENOENT : GS_EIO,
                       "cannot open spectrum file '%s': %s", path,
                       strerror (e));
    }
  /* The size may change under us (or be unknown for a pipe): read in
   * chunks, never past the limit + 1 byte. */
  cap = S_ISREG (st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
  buf = malloc (cap);
  if (!buf)
    {
      fclose (fp);
      return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
    }
  for (;;)
    {
      if (len == cap)
        {
          size_t ncap = cap * 2;
          char *nb;
          if (ncap > GS_FORMAT_MAX_BYTES + 1)
            ncap = GS_FORMAT_MAX_BYTES + 1;
          if (ncap <= cap)
            break;
          nb = realloc (buf, ncap);
          if (!nb)
            {
              free (buf);
              fclose (fp);
              return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
            }
          buf = nb;
          cap = ncap;
        }
      got = fread (buf + len, 1, cap - len, fp);
      len += got;
      if (got == 0)
        break;
    }
  if (ferror (fp))
    {
      int e = errno;
      free (buf);
      fclose (fp);
      return gs_error (GS_EIO, "cannot read spectrum file '%s': %s", path,
                       strerror (e));
    }
  fclose (fp);
  if (len > GS_FORMAT_MAX_BYTES)
    {
      free (buf);
      return gs_error (GS_ENOMEM,
                       "'%s' is more than %zu bytes, the limit for a "
                       "spectrum file",
                       path, GS_FORMAT_MAX_BYTES);
    }
  rc = gs_specfile_read_mem (buf, len, path, GS_FORMAT_UNKNOWN, out);
  free (buf);
  return rc;
}

/* ---- writing --------------------------------------------------------- */

int
gs_specfile_write (const gs_specfile *f, const char *path, gs_format format)
{
  char *tmp;
  FILE *fp;
  int fd, rc;
  if (!f || !path)
    return gs_error (GS_EINVAL, "gs_specfile_write: %s is NULL",
                     f ? "path" : "the file");
  if (format != GS_FORMAT_N42 && format != GS_FORMAT_SPE
      && format != GS_FORMAT_CSV)
    return gs_error (GS_EUNSUPPORTED,
                     "cannot write '%s' as %s; gspec writes n42, spe and csv",
                     path, gs_format_name (format));
  if ((format == GS_FORMAT_SPE || format == GS_FORMAT_CSV) && f->n != 1)
    return gs_error (GS_EINVAL,
                     "cannot write '%s': %s holds one measurement and this "
                     "file has %zu; write n42 or one measurement per file",
                     path, gs_format_name (format), f->n);
  if ((rc = check_file (f, path, GS_EINVAL)))
    return gs_error_prefix (rc, "cannot write: ");
  tmp = gs__asprintf ("%s.tmp.%ld", path, (long)getpid ());
  if (!tmp)
    return gs_error (GS_ENOMEM, "out of memory");
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  fp = fd >= 0 ? fdopen (fd, "wb") : NULL;
  if (!fp)
    {
      int e = errno;
      if (fd >= 0)
        {
          close (fd);
          unlink (tmp);
        }
      rc = gs_error (GS_EIO, "cannot write '%s': %s", tmp, strerror (e));
      free (tmp);
      return rc;
    }
  switch (format)
    {
    case GS_FORMAT_N42:
      rc = gs__write_n42 (f, fp);
      break;
    case GS_FORMAT_SPE:
      rc = gs__write_spe (f, fp);
      break;
    default:
      rc = gs__write_csv (f, fp);
      break;
    }
  if (!rc && (fflush (fp) != 0 || ferror (fp) || fsync (fileno (fp)) != 0))
    rc = gs_error (GS_EIO, "cannot write '%s': %s", path, strerror (errno));
  if (fclose (fp) != 0 && !rc)
    rc = gs_error (GS_EIO, "cannot write '%s': %s", path, strerror (errno));
  if (!rc && rename (tmp, path) != 0)
    rc = gs_error (GS_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
                   strerror (errno));
  if (rc)
    unlink (tmp);
  free (tmp);
  return rc;
}

/* ---- gs_spectra ------------------------------------------------------ */

static const char *const meta_cols[]
    = { "live_time_s", "real_time_s", "start_time", "title" };
enum
{
  N_META = 4
};

static char *
number_string (double v)
{
  return isnan (v) ? gs__strdup ("") : gs__asprintf ("%.17g", v);
}

int
gs_specfile_to_spectra (const gs_specfile *f, gs_spectra **out)
{
  gs_spectra *s;
  size_t i, k, nc;
  int has_cal = 0;
  if (!out)
    return gs_error (GS_EINVAL, "gs_specfile_to_spectra: out is NULL");
  *out = NULL;
  if (!f || f->n == 0 || !f->m)
    return gs_error (GS_EINVAL, "gs_specfile_to_spectra: no measurements");
  nc = f->m[0].n_channels;
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      int rc;
      if (m->n_channels != nc)
        return gs_error (GS_EBADLEN,
                         "'%s': measurement %zu has %zu channels and "
                         "measurement 1 has %zu; a set of spectra needs one "
                         "channel count (rebin first)",
                         f->source ? f->source : "", i + 1, m->n_channels, nc);
      if ((rc
           = check_measurement (m, i, f->source ? f->source : "", GS_EBADDATA)))
        return rc;
      for (k = 3; k < m->n_coefs; k++)
        if (m->coefs[k] != 0.0)
          return gs_error (GS_EUNSUPPORTED,
                           "'%s': measurement %zu has an energy calibration "
                           "of degree %zu (coefficient %zu = %g); a set of "
                           "spectra holds at most a quadratic one",
                           f->source ? f->source : "", i + 1, m->n_coefs - 1, k,
                           m->coefs[k]);
      if (i == 0)
        has_cal = m->n_coefs > 0;
      else if (has_cal != (m->n_coefs > 0))
        return gs_error (GS_EUNSUPPORTED,
                         "'%s': measurement %zu %s an energy calibration and "
                         "measurement 1 %s; a set of spectra has one for "
                         "every spectrum or none",
                         f->source ? f->source : "", i + 1,
                         m->n_coefs ? "has" : "lacks",
                         has_cal ? "has one" : "does not");
    }
  s = gs_spectra_alloc (f->n, nc);
  if (!s)
    return GS_ENOMEM;
  s->labels = calloc (f->n, sizeof *s->labels);
  s->meta_names = calloc (N_META, sizeof *s->meta_names);
  s->meta = calloc (f->n * N_META, sizeof *s->meta);
  s->source = gs__strdup (f->source ? f->source : "");
  if (has_cal)
    {
      s->cal_offset = calloc (f->n, sizeof (double));
      s->cal_slope = calloc (f->n, sizeof (double));
      s->cal_quad = calloc (f->n, sizeof (double));
    }
  if (!s->labels || !s->meta_names || !s->meta || !s->source
      || (has_cal && (!s->cal_offset || !s->cal_slope || !s->cal_quad)))
    goto nomem;
  s->n_meta = N_META;
  for (k = 0; k < N_META; k++)
    if (!(s->meta_names[k] = gs__strdup (meta_cols[k])))
      goto nomem;
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      char **row = s->meta + i * N_META;
      memcpy (s->counts + i * nc, m->counts, nc * sizeof (double));
      if (has_cal)
        {
          s->cal_offset[i] = m->coefs[0];
          s->cal_slope[i] = m->n_coefs > 1 ? m->coefs[1] : 0.0;
          s->cal_quad[i] = m->n_coefs > 2 ? m->coefs[2] : 0.0;
        }
      if (!(s->labels[i] = gs__strdup ("")))
        goto nomem;
      row[0] = number_string (m->live_time);
      row[1] = number_string (m->real_time);
      row[2] = gs__strdup (m->start_time);
      row[3] = gs__strdup (m->title ? m->title : "");
      if (!row[0] || !row[1] || !row[2] || !row[3])
        goto nomem;
    }
  *out = s;
  return GS_OK;
nomem:
  gs_spectra_free (s);
  return gs_error (GS_ENOMEM, "out of memory converting '%s' to spectra",
                   f->source ? f->source : "");
}

/* The meta value of row r as a time in seconds; NAN when absent or "". */
static int
meta_seconds (const gs_spectra *s, size_t r, const char *col, double *out)
{
  const char *v = gs_spectra_meta (s, r, col);
  *out = NAN;
  if (!v || !*v || strcasecmp (v, "nan") == 0)
    return GS_OK;
  if (gs__parse_double (v, out) != GS_OK || *out < 0)
    return gs_error (GS_EBADDATA,
                     "'%s': spectrum %zu: %s '%s' is not a time in seconds "
                     ">= 0",
                     s->source ? s->source : "", r, col, v);
  return GS_OK;
}

int
gs_specfile_from_spectra (const gs_spectra *s, gs_specfile **out)
{
  gs_specfile *f;
  size_t i, j;
  int rc;
  if (!out)
    return gs_error (GS_EINVAL, "gs_specfile_from_spectra: out is NULL");
  *out = NULL;
  if (!s || !s->counts || s->n_spectra == 0 || s->n_channels == 0)
    return gs_error (GS_EINVAL,
                     "gs_specfile_from_spectra: no spectra or no channels");
  if (s->n_spectra > GS_FORMAT_MAX_MEASUREMENTS
      || s->n_channels > GS_FORMAT_MAX_CHANNELS)
    return gs_error (GS_EINVAL,
                     "%zu spectra of %zu channels is past the limits of a "
                     "spectrum file (%d measurements, %zu channels)",
                     s->n_spectra, s->n_channels, GS_FORMAT_MAX_MEASUREMENTS,
                     GS_FORMAT_MAX_CHANNELS);
  for (i = 0; i < s->n_spectra; i++)
    for (j = 0; j < s->n_channels; j++)
      {
        double v = s->counts[i * s->n_channels + j];
        if (!isfinite (v) || v < 0)
          return gs_error (GS_EBADDATA,
                           "'%s': spectrum %zu, channel %zu (0-based): count "
                           "%g; counts must be finite and >= 0",
                           s->source ? s->source : "", i, j, v);
      }
  f = gs_specfile_alloc (s->n_spectra);
  if (!f)
    return GS_ENOMEM;
  if (s->source && !(f->source = gs__strdup (s->source)))
    goto nomem;
  for (i = 0; i < s->n_spectra; i++)
    {
      gs_measurement *m = &f->m[i];
      const char *st = gs_spectra_meta (s, i, "start_time");
      const char *title = gs_spectra_meta (s, i, "title");
      m->n_channels = s->n_channels;
      if (!(m->counts = malloc (s->n_channels * sizeof (double))))
        goto nomem;
      memcpy (m->counts, s->counts + i * s->n_channels,
              s->n_channels * sizeof (double));
      if (s->cal_offset && s->cal_slope)
        {
          m->coefs[0] = s->cal_offset[i];
          m->coefs[1] = s->cal_slope[i];
          m->coefs[2] = s->cal_quad ? s->cal_quad[i] : 0.0;
          m->n_coefs = m->coefs[2] != 0.0 ? 3 : 2;
          if (!isfinite (m->coefs[0]) || !isfinite (m->coefs[1])
              || !isfinite (m->coefs[2]))
            {
              rc = gs_error (GS_EBADDATA,
                             "'%s': spectrum %zu: calibration is not finite",
                             s->source ? s->source : "", i);
              goto fail;
            }
        }
      if ((rc = meta_seconds (s, i, "live_time_s", &m->live_time))
          || (rc = meta_seconds (s, i, "real_time_s", &m->real_time)))
        goto fail;
      if (st && *st)
        {
          if (strlen (st) >= sizeof m->start_time)
            {
              rc = gs_error (GS_EBADDATA,
                             "'%s': spectrum %zu: start_time '%s' is longer "
                             "than an ISO 8601 time",
                             s->source ? s->source : "", i, st);
              goto fail;
            }
          memcpy (m->start_time, st, strlen (st) + 1);
        }
      if (title && *title && !(m->title = gs__strdup (title)))
        goto nomem;
    }
  *out = f;
  return GS_OK;
nomem:
  rc = gs_error (GS_ENOMEM, "out of memory converting spectra");
fail:
  gs_specfile_free (f);
  return rc;
}
