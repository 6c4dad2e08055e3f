/* ORTEC CHN (binary, little-endian) reader and writer.
 *
 * Layout used (ORTEC "CHN" as read and written by SpecUtils
 * src/SpecFile_chn.cpp; offsets in bytes from the start of the file):
 *
 *   0   int16   -1 (file type)
 *   2   int16   MCA number
 *   4   int16   segment number
 *   6   char[2] start time, seconds ("SS")
 *   8   uint32  real time in 20 ms ticks
 *  12   uint32  live time in 20 ms ticks
 *  16   char[8] start date "DDMMMYY*": day, month name (Jan..Dec, any
 *               case), year within the century, century flag: '1' =
 *               20YY, '0' = 19YY; any other byte (PeakEasy writes NUL
 *               there, per SpecUtils) is read as 20YY
 *  24   char[4] start time "HHMM"
 *  28   uint16  start channel s (offset of the first stored channel)
 *  30   uint16  channel count n (0 is refused: SpecUtils guesses it
 *               from the file size, we do not)
 *  32   uint32  counts, n of them
 *
 * then, at T = 32 + 4 n, an optional 512-byte trailer:
 *
 *  T+0    int16    trailer type: -101 (2 energy coefficients) or -102
 *                  (3); any other value: the trailer is not read
 *  T+2    int16    reserved
 *  T+4    float32  energy zero, slope, and (-102) quadratic term
 *  T+16   float32  FWHM coefficients (not read)
 *  T+256  uint8    detector description length (<= 63), T+257 the text
 *  T+320  uint8    sample description length (<= 63), T+321 the text
 *
 * A trailer of type -101/-102 must be complete (512 bytes): a file that
 * ends inside one is truncated and refused.  Bytes after the trailer
 * are ignored.  A start date or time that does not parse gives an
 * empty start_time (it is metadata, not data).
 *
 * Calibration: ORTEC gives E = a + b c + q c^2 at absolute channel
 * number c, read here as the energy of the centre of channel c (the
 * convention of gspec/formats.h).  Stored element i is channel c = s + i,
 * so for s != 0 the polynomial is re-expanded in i.  All-zero
 * coefficients mean no calibration.  (SpecUtils takes the same
 * polynomial as giving the channel's lower edge: its energies sit half
 * a channel away from ours.)
 *
 * The sample description becomes the title and the detector description
 * the detector. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

enum
{
  CHN_HEADER = 32,
  CHN_TRAILER = 512,
  CHN_DESC_MAX = 63
};

static float
rd_f32 (const unsigned char *p)
{
  uint32_t u = gs__le32 (p);
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

static int
digit2 (const unsigned char *p, int *out)
{
  int a = p[0] == ' ' ? 0 : p[0] - '0';
  int b = p[1] - '0';
  if (a < 0 || a > 9 || b < 0 || b > 9)
    return 0;
  *out = 10 * a + b;
  return 1;
}

static const char *const month_names[12]
    = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };

/* Start time from the header, or "" when a field does not parse. */
static void
chn_start_time (const unsigned char *h, char out[32])
{
  int sec, day, yy, hour, min, mon = -1, k, year;
  out[0] = '\0';
  if (!digit2 (h + 6, &sec) || !digit2 (h + 16, &day) || !digit2 (h + 21, &yy)
      || !digit2 (h + 24, &hour) || !digit2 (h + 26, &min))
    return;
  for (k = 0; k < 12; k++)
    {
      int j, same = 1;
      for (j = 0; j < 3; j++)
        {
          int c = h[18 + j];
          if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
          if (c != month_names[k][j])
            same = 0;
        }
      if (same)
        mon = k;
    }
  if (mon < 0 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
    return;
  year = (h[23] == '0' ? 1900 : 2000) + yy;
  {
    char tmp[96];
    snprintf (tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d", year, mon + 1,
              day, hour, min, sec);
    memcpy (out, tmp, 20);
  }
}

/* A length-prefixed description at p (length byte, then text), trimmed;
 * *out NULL when empty. */
static int
chn_desc (const unsigned char *p, size_t at, const char *name, char **out)
{
  size_t n = p[0], b = 1, e;
  char *s;
  *out = NULL;
  if (n > CHN_DESC_MAX)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: description length %zu (at most %d)", name,
                     at, n, CHN_DESC_MAX);
  e = 1 + n;
  while (b < e && (p[b] == ' ' || p[b] == '\0'))
    b++;
  while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\0'))
    e--;
  if (e == b)
    return GS_OK;
  s = gs__strndup ((const char *)p + b, e - b);
  if (!s)
    return gs_error (GS_ENOMEM, "%s: out of memory", name);
  for (b = 0; s[b]; b++)
    if ((unsigned char)s[b] < 0x20 || (unsigned char)s[b] > 0x7e)
      s[b] = '?';
  *out = s;
  return GS_OK;
}

int
gs__read_chn (const unsigned char *buf, size_t len, const char *name,
              gs_specfile **out)
{
  gs_specfile *f;
  gs_measurement *m;
  size_t n, start, t, i;
  double coef[3] = { 0.0, 0.0, 0.0 };
  size_t n_coef = 0;
  int16_t type;
  int rc;

  *out = NULL;
  if (!name)
    name = "(chn)";
  if (len < CHN_HEADER)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: file ends inside the 32-byte CHN header",
                     name, len);
  type = (int16_t)gs__le16 (buf);
  if (type != -1)
    return gs_error (GS_EFORMAT, "%s: byte 0: CHN file type %d (expected -1)",
                     name, (int)type);
  start = gs__le16 (buf + 28);
  n = gs__le16 (buf + 30);
  if (n == 0)
    return gs_error (GS_EFORMAT, "%s: byte 30: channel count is 0", name);
  if (len - CHN_HEADER < 4 * n)
    return gs_error (GS_EFORMAT,
                     "%s: byte 30: %zu channels need %zu bytes of counts "
                     "from byte 32, the file has %zu",
                     name, n, 4 * n, len - CHN_HEADER);
  t = CHN_HEADER + 4 * n;

  f = gs_specfile_alloc (1);
  if (!f)
    return gs_error (GS_ENOMEM, "%s: out of memory", name);
  f->format = GS_FORMAT_CHN;
  m = &f->m[0];
  f->source = gs__strdup (name);
  m->counts = malloc (n * sizeof *m->counts);
  if (!f->source || !m->counts)
    {
      gs_specfile_free (f);
      return gs_error (GS_ENOMEM, "%s: out of memory", name);
    }
  m->n_channels = n;
  for (i = 0; i < n; i++)
    m->counts[i] = (double)gs__le32 (buf + CHN_HEADER + 4 * i);
  m->real_time = gs__le32 (buf + 8) / 50.0;
  m->live_time = gs__le32 (buf + 12) / 50.0;
  chn_start_time (buf, m->start_time);

  if (len > t)
    {
      int16_t ttype;
      if (len - t < 2)
        {
          gs_specfile_free (f);
          return gs_error (GS_EFORMAT,
                           "%s: byte %zu: file ends inside the trailer type",
                           name, t);
        }
      ttype = (int16_t)gs__le16 (buf + t);
      if (ttype == -101 || ttype == -102)
        {
          if (len - t < CHN_TRAILER)
            {
              gs_specfile_free (f);
              return gs_error (GS_EFORMAT,
                               "%s: byte %zu: trailer of %zu bytes (a CHN "
                               "trailer is %d): truncated file",
                               name, t, len - t, CHN_TRAILER);
            }
          n_coef = ttype == -101 ? 2 : 3;
          for (i = 0; i < n_coef; i++)
            {
              float v = rd_f32 (buf + t + 4 + 4 * i);
              if (!isfinite (v))
                {
                  gs_specfile_free (f);
                  return gs_error (GS_EFORMAT,
                                   "%s: byte %zu: energy coefficient %zu is "
                                   "not finite",
                                   name, t + 4 + 4 * i, i);
                }
              coef[i] = v;
            }
          if ((rc = chn_desc (buf + t + 256, t + 256, name, &m->detector))
                  != GS_OK
              || (rc = chn_desc (buf + t + 320, t + 320, name, &m->title))
                     != GS_OK)
            {
              gs_specfile_free (f);
              return rc;
            }
        }
    }

  if (coef[0] != 0.0 || coef[1] != 0.0 || coef[2] != 0.0)
    {
      /* E(i) = a + b (s + i) + q (s + i)^2. */
      double s = (double)start;
      m->coefs[0] = coef[0] + coef[1] * s + coef[2] * s * s;
      m->coefs[1] = coef[1] + 2.0 * coef[2] * s;
      m->coefs[2] = coef[2];
      m->n_coefs = (n_coef == 3 && coef[2] != 0.0) ? 3 : 2;
    }
  *out = f;
  return GS_OK;
}

/* ---- writer -------------------------------------------------------- */

static void
wr_u16 (unsigned char *p, unsigned v)
{
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void
wr_u32 (unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)((v >> 8) & 0xff);
  p[2] = (unsigned char)((v >> 16) & 0xff);
  p[3] = (unsigned char)((v >> 24) & 0xff);
}

static void
wr_f32 (unsigned char *p, float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  wr_u32 (p, u);
}

/* Seconds as 20 ms ticks; NAN (no time given) is written as 0. */
static int
chn_ticks (double sec, const char *what, uint32_t *out)
{
  double t;
  if (isnan (sec))
    {
      *out = 0;
      return GS_OK;
    }
  t = floor (sec * 50.0 + 0.5);
  if (!(sec >= 0.0) || t > 4294967295.0)
    return gs_error (GS_EINVAL,
                     "CHN writer: %s %g s does not fit 32-bit 20 ms ticks",
                     what, sec);
  *out = (uint32_t)t;
  return GS_OK;
}

/* The start time fields of the header (bytes 6..27); "" gives blank
 * fields, which the reader reads back as "". */
static int
chn_put_start (unsigned char *h, const char *iso)
{
  int y, mo, d, hh, mi, ss, k;
  char tmp[64];
  if (!iso[0])
    {
      memcpy (h + 6, "00", 2);
      memcpy (h + 16, "00   000", 8);
      memcpy (h + 24, "0000", 4);
      return GS_OK;
    }
  for (k = 0; k < 19; k++)
    {
      int want_sep = (k == 4 || k == 7)     ? '-'
                     : (k == 10)            ? 'T'
                     : (k == 13 || k == 16) ? ':'
                                            : 0;
      if (iso[k] == '\0'
          || (want_sep ? iso[k] != want_sep && !(k == 10 && iso[k] == ' ')
                       : (iso[k] < '0' || iso[k] > '9')))
        return gs_error (GS_EINVAL,
                         "CHN writer: start time \"%s\" is not "
                         "YYYY-MM-DDThh:mm:ss",
                         iso);
    }
  y = (iso[0] - '0') * 1000 + (iso[1] - '0') * 100 + (iso[2] - '0') * 10
      + (iso[3] - '0');
  mo = (iso[5] - '0') * 10 + (iso[6] - '0');
  d = (iso[8] - '0') * 10 + (iso[9] - '0');
  hh = (iso[11] - '0') * 10 + (iso[12] - '0');
  mi = (iso[14] - '0') * 10 + (iso[15] - '0');
  ss = (iso[17] - '0') * 10 + (iso[18] - '0');
  if (y < 1900 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23
      || mi > 59 || ss > 60)
    return gs_error (GS_EINVAL,
                     "CHN writer: start time \"%s\" out of the CHN range "
                     "(years 1900-2099)",
                     iso);
  snprintf (tmp, sizeof tmp, "%02d", ss);
  memcpy (h + 6, tmp, 2);
  snprintf (tmp, sizeof tmp, "%02d%c%c%c%02d%c", d, month_names[mo - 1][0],
            month_names[mo - 1][1] - 'A' + 'a',
            month_names[mo - 1][2] - 'A' + 'a', y % 100, y >= 2000 ? '1' : '0');
  memcpy (h + 16, tmp, 8);
  snprintf (tmp, sizeof tmp, "%02d%02d", hh, mi);
  memcpy (h + 24, tmp, 4);
  return GS_OK;
}

static void
chn_put_desc (unsigned char *p, const char *s)
{
  size_t n = s ? strlen (s) : 0;
  if (n > CHN_DESC_MAX)
    n = CHN_DESC_MAX;
  p[0] = (unsigned char)n;
  if (n)
    memcpy (p + 1, s, n);
}

/* Writes one measurement: header, counts as uint32 (integral, 0 <= c <
 * 2^32, else GS_EINVAL), and a -102 trailer whose three float32
 * coefficients carry the calibration to float precision (a polynomial
 * of degree > 2 with non-zero extra terms is GS_EUNSUPPORTED).  Start
 * channel 0; NAN times are written as 0; title and detector go to the
 * sample and detector descriptions, cut at 63 characters. */
int
gs__write_chn (const gs_specfile *f, FILE *out)
{
  const gs_measurement *m;
  unsigned char h[CHN_HEADER], tr[CHN_TRAILER], c4[4];
  uint32_t real = 0, live = 0;
  size_t i;
  int rc;

  if (!f || !out || f->n != 1 || !f->m)
    return gs_error (GS_EINVAL,
                     "CHN writer: a CHN file holds one measurement (got %zu)",
                     f ? f->n : 0);
  m = &f->m[0];
  if (m->n_channels == 0 || m->n_channels > 65535 || !m->counts)
    return gs_error (GS_EINVAL,
                     "CHN writer: %zu channels (a CHN file holds 1..65535)",
                     m->n_channels);
  if (m->n_coefs > GS_FORMAT_MAX_COEFS)
    return gs_error (GS_EINVAL, "CHN writer: %zu calibration coefficients",
                     m->n_coefs);
  for (i = 3; i < m->n_coefs; i++)
    if (m->coefs[i] != 0.0)
      return gs_error (GS_EUNSUPPORTED,
                       "CHN writer: calibration of degree %zu (CHN holds "
                       "at most a quadratic)",
                       m->n_coefs - 1);
  for (i = 0; i < m->n_coefs && i < 3; i++)
    if (!isfinite (m->coefs[i]) || fabs (m->coefs[i]) > 3.0e38)
      return gs_error (GS_EINVAL,
                       "CHN writer: calibration coefficient %zu (%g) does "
                       "not fit a float32",
                       i, m->coefs[i]);
  for (i = 0; i < m->n_channels; i++)
    {
      double c = m->counts[i];
      if (!(c >= 0.0) || c >= 4294967296.0 || c != floor (c))
        return gs_error (GS_EINVAL,
                         "CHN writer: channel %zu: count %g is not an "
                         "integer in [0, 2^32)",
                         i, c);
    }
  if ((rc = chn_ticks (m->real_time, "real time", &real)) != GS_OK
      || (rc = chn_ticks (m->live_time, "live time", &live)) != GS_OK)
    return rc;

  memset (h, 0, sizeof h);
  wr_u16 (h, 0xffff);
  wr_u16 (h + 2, 0);
  wr_u16 (h + 4, 1);
  wr_u32 (h + 8, real);
  wr_u32 (h + 12, live);
  if ((rc = chn_put_start (h, m->start_time)) != GS_OK)
    return rc;
  wr_u16 (h + 28, 0);
  wr_u16 (h + 30, (unsigned)m->n_channels);
  if (fwrite (h, 1, sizeof h, out) != sizeof h)
    return gs_error (GS_EIO, "CHN writer: write failed");
  for (i = 0; i < m->n_channels; i++)
    {
      wr_u32 (c4, (uint32_t)m->counts[i]);
      if (fwrite (c4, 1, 4, out) != 4)
        return gs_error (GS_EIO, "CHN writer: write failed");
    }

  memset (tr, 0, sizeof tr);
  wr_u16 (tr, (unsigned)(uint16_t)(int16_t)-102);
  for (i = 0; i < 3; i++)
    wr_f32 (tr + 4 + 4 * i, i < m->n_coefs ? (float)m->coefs[i] : 0.0f);
  chn_put_desc (tr + 256, m->detector);
  chn_put_desc (tr + 320, m->title);
  if (fwrite (tr, 1, sizeof tr, out) != sizeof tr)
    return gs_error (GS_EIO, "CHN writer: write failed");
  return GS_OK;
}
