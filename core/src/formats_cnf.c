/* Canberra CNF (Genie-2000 "CAM") reader.
 *
 * The format is not published; the layout below is where three
 * independent readers agree: messlinger/cnfconv (cnf2txt.c and
 * cnf_file_format.txt), xylib canberra_cnf.cpp (and becquerel's port of
 * it, parsers/cnf.py) and SpecUtils src/CAMIO.cpp.  All values are
 * little-endian; offsets are in bytes.
 *
 * Section table: entries of 0x30 bytes from 0x70, entry i at
 * 0x70 + 0x30 i: uint32 section id at +0x00, uint32 section offset in
 * the file at +0x0A (all three readers).  At most 28 entries are read
 * (SpecUtils' bound), and no entry past the end of the file; an id of 0
 * is an empty entry and skipped (cnfconv stops there, SpecUtils skips).
 * The first entry of each id is used, except for the calibration (below).
 * Every section used starts with its own id again (cnfconv checks this).
 *
 * Parameter section 0x12000 (SpecUtils "ACQP") at P:
 *   P+0x04  uint16  flag: 0x0300 or 0x0700 means R = 0 (SpecUtils only)
 *   P+0x22  uint16  R, offset of the calibration record
 *   P+0x24  uint16  T, offset of the time record
 *   P+0xBA  uint16  channel count / 256 (xylib: uint16, cnfconv: its low
 *                   byte, SpecUtils: the same value as the uint32 at
 *                   P+0xB9 when the byte at P+0xB9 is 0)
 *   P+0x30+T+0x01  uint64  start: 100 ns ticks since 1858-11-17 00:00
 *                          (the MJD epoch), the instrument's clock
 *   P+0x30+T+0x09  int64   real time, 100 ns ticks
 *   P+0x30+T+0x11  int64   live time, 100 ns ticks
 *   P+0x30+R+0x44  4 PDP-11 floats A0..A3, E = sum A_k c^k
 *   P+0x30+R+0x5C  char[4] energy unit ("keV"; "MeV" and "eV" are
 *                          scaled to keV, any other unit drops the
 *                          calibration)
 *   P+0x30+R+0x108 char[16] detector name (SpecUtils DetInfo::Name,
 *                          cnfconv "data source"; read when in the file)
 * Durations (SpecUtils convert_from_CAM_duration): when byte 7 is 0x80
 * the low int32 counts years of 365.25 days (millions of years when
 * byte 4 is 1); otherwise the int64 counts 100 ns ticks and is stored
 * negated by Genie: its absolute value is used (cnfconv and xylib take
 * the one's complement, 0.1 us less).
 * When the first parameter section's A0..A3 are all 0, the next
 * parameter section's are used (xylib reads a second 0x12000 section
 * for the calibration; SpecUtils takes the first non-zero one).
 *
 * Strings section 0x12001 (SAMP) at S, optional: S+0x30 char[64]
 * sample name, the title (cnfconv, becquerel; xylib reads 32 bytes).
 *
 * Channel data section 0x12005 (SPEC) at C: uint32 counts from C+0x200
 * (cnfconv, xylib).  SpecUtils instead takes its count from uint16
 * C+0x2A and its start from C + uint16 C+0x10 + uint16 C+0x28; that is
 * not used here.
 *
 * Calibration convention: the coefficients are applied to the 0-based
 * index of the stored channel, as SpecUtils, xylib and becquerel do,
 * and taken as the channel centre's energy.  cnfconv evaluates them at
 * index + 1 ("Genie2k starts counting channels with 1"); which is right
 * is not settled by the references.  Becquerel zeroes channels 0 and 1
 * when they equal the real or live time in seconds; that is not done.
 *
 * PDP-11 (VAX F) floats: 4 bytes, two little-endian 16-bit words, the
 * first holding sign (bit 15), exponent (bits 14..7, bias 128) and the
 * top 7 fraction bits, the second the low 16; value = 0.1f (binary,
 * hidden leading 1) * 2^(e - 128), which equals the IEEE float read
 * from the word-swapped bytes divided by 4 except where IEEE would read
 * an infinity, NaN or denormal. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

/* The PDP-11 / VAX F float at p[0..3] as a double: 0.0 for exponent 0
 * and sign 0 (any fraction), NAN for the reserved operand (exponent 0,
 * sign 1).  Internal, declared here for the tests. */
double gs__cnf_pdp11_float (const unsigned char *p);

enum
{
  CNF_TABLE = 0x70,
  CNF_ENTRY = 0x30,
  CNF_MAX_ENTRIES = 28,
  CNF_ID_PARAM = 0x12000,
  CNF_ID_STRINGS = 0x12001,
  CNF_ID_CHANNELS = 0x12005,
  CNF_MAX_PARAM = 4 /* parameter sections looked at for a calibration */
};

static uint64_t
rd_u64 (const unsigned char *p)
{
  return (uint64_t)gs__le32 (p) | ((uint64_t)gs__le32 (p + 4) << 32);
}

double
gs__cnf_pdp11_float (const unsigned char *p)
{
  unsigned w0 = gs__le16 (p), w1 = gs__le16 (p + 2);
  int sign = (w0 >> 15) & 1, e = (w0 >> 7) & 0xff;
  uint32_t frac = ((uint32_t)(w0 & 0x7f) << 16) | w1;
  double v;
  if (e == 0)
    return sign ? NAN : 0.0;
  v = ldexp ((double)(frac | 0x800000u), e - 128 - 24);
  return sign ? -v : v;
}

/* |ticks| or years, in seconds (see the header comment). */
static double
cnf_duration (const unsigned char *p)
{
  if (p[7] == 0x80)
    {
      int32_t y = (int32_t)gs__le32 (p);
      double years = p[4] == 0x01 ? (double)y * 1e6 : (double)y;
      return fabs (years) * 31557600.0;
    }
  else
    {
      uint64_t u = rd_u64 (p);
      /* Two's complement magnitude without signed overflow. */
      uint64_t mag = (u >> 63) ? (~u + 1) : u;
      return (double)mag * 1e-7;
    }
}

/* 100 ns ticks since 1858-11-17 as "YYYY-MM-DDThh:mm:ss"; 0 gives "".
 * Returns 0 when the year is past 9999. */
static int
cnf_datetime (uint64_t ticks, char out[32])
{
  uint64_t secs = ticks / 10000000u;
  int64_t days = (int64_t)(secs / 86400u), z, era, doe, yoe, y, doy, mp, d, m;
  unsigned sod = (unsigned)(secs % 86400u);
  out[0] = '\0';
  if (ticks == 0)
    return 1;
  if (days > 3000000) /* past year 9999 */
    return 0;
  /* days since 1970-01-01, then H. Hinnant's civil_from_days. */
  z = days - 40587 + 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  if (y > 9999)
    return 0;
  {
    char tmp[96];
    snprintf (tmp, sizeof tmp, "%04d-%02d-%02dT%02u:%02u:%02u", (int)y, (int)m,
              (int)d, sod / 3600, (sod / 60) % 60, sod % 60);
    memcpy (out, tmp, 20);
  }
  return 1;
}

/* Fixed-width text field: trimmed of blanks and NULs, cut at the first
 * NUL, other non-printable bytes replaced by '?'; *out NULL when empty. */
static int
cnf_text (const unsigned char *p, size_t width, const char *name, char **out)
{
  size_t b = 0, e = 0, i;
  char *s;
  *out = NULL;
  while (e < width && p[e] != '\0')
    e++;
  while (b < e && p[b] == ' ')
    b++;
  while (e > b && p[e - 1] == ' ')
    e--;
  if (e == b)
    return GS_OK;
  s = gs__strndup ((const char *)p + b, e - b);
  if (!s)
    return gs_error (GS_ENOMEM, "%s: out of memory", name);
  for (i = 0; s[i]; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      s[i] = '?';
  *out = s;
  return GS_OK;
}

/* Checks that the section announced by table entry `entry` at `off`
 * starts with its id. */
static int
cnf_check_section (const unsigned char *buf, size_t len, const char *name,
                   uint32_t id, size_t entry, size_t off)
{
  if (off > len || len - off < CNF_ENTRY)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: section 0x%x at byte %zu lies past the "
                     "end of the file (%zu bytes)",
                     name, entry + 0x0a, (unsigned)id, off, len);
  if (gs__le32 (buf + off) != id)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: section at byte %zu has id 0x%x, the "
                     "table (entry at byte %zu) says 0x%x",
                     name, off, off, (unsigned)gs__le32 (buf + off), entry,
                     (unsigned)id);
  return GS_OK;
}

/* Offset R of the calibration record in the parameter section at p
 * (p + 0x30 <= len checked by the caller). */
static size_t
cnf_record (const unsigned char *buf, size_t p)
{
  unsigned flag = gs__le16 (buf + p + 0x04);
  return (flag == 0x0300 || flag == 0x0700) ? 0 : gs__le16 (buf + p + 0x22);
}

/* The calibration record of the parameter section at P: coefficients
 * in keV (unit applied) into c[4]; *ok 0 when the unit is not an energy
 * unit this reader knows. */
static int
cnf_calibration (const unsigned char *buf, size_t len, const char *name,
                 size_t p, double c[4], int *ok)
{
  size_t at = p + 0x30 + cnf_record (buf, p), k;
  char unit[5];
  double scale = 1.0;
  if (at > len || len - at < 0x60)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: calibration record at byte %zu runs "
                     "past the end of the file",
                     name, p + 0x22, at);
  for (k = 0; k < 4; k++)
    {
      c[k] = gs__cnf_pdp11_float (buf + at + 0x44 + 4 * k);
      if (isnan (c[k]))
        return gs_error (GS_EFORMAT,
                         "%s: byte %zu: energy coefficient A%zu is a PDP-11 "
                         "reserved operand",
                         name, at + 0x44 + 4 * k, k);
    }
  memcpy (unit, buf + at + 0x5c, 4);
  unit[4] = '\0';
  for (k = 0; k < 4; k++)
    if (unit[k] == ' ')
      unit[k] = '\0';
  *ok = 1;
  if (!unit[0] || !strcmp (unit, "keV") || !strcmp (unit, "KEV")
      || !strcmp (unit, "kev"))
    scale = 1.0;
  else if (!strcmp (unit, "MeV") || !strcmp (unit, "MEV"))
    scale = 1000.0;
  else if (!strcmp (unit, "eV") || !strcmp (unit, "EV"))
    scale = 1e-3;
  else
    *ok = 0;
  for (k = 0; k < 4; k++)
    c[k] *= scale;
  return GS_OK;
}

int
gs__read_cnf (const unsigned char *buf, size_t len, const char *name,
              gs_specfile **out)
{
  size_t param[CNF_MAX_PARAM], n_param = 0, strings = 0, chan = 0;
  size_t i, n, times, tend, last_entry = CNF_TABLE, p, k;
  int have_strings = 0, have_chan = 0, rc, cal_ok = 0;
  double cal[4] = { 0, 0, 0, 0 };
  gs_specfile *f;
  gs_measurement *m;

  *out = NULL;
  if (!name)
    name = "(cnf)";
  if (len > GS_FORMAT_MAX_BYTES)
    return gs_error (GS_ENOMEM, "%s: %zu bytes (limit %zu)", name, len,
                     (size_t)GS_FORMAT_MAX_BYTES);
  for (i = 0; i < CNF_MAX_ENTRIES; i++)
    {
      size_t e = CNF_TABLE + CNF_ENTRY * i, off;
      uint32_t id;
      if (e > len || len - e < CNF_ENTRY)
        break;
      last_entry = e + CNF_ENTRY;
      id = gs__le32 (buf + e);
      off = gs__le32 (buf + e + 0x0a);
      if (id == CNF_ID_PARAM && n_param < CNF_MAX_PARAM)
        {
          if ((rc = cnf_check_section (buf, len, name, id, e, off)) != GS_OK)
            return rc;
          param[n_param++] = off;
        }
      else if (id == CNF_ID_STRINGS && !have_strings)
        {
          if ((rc = cnf_check_section (buf, len, name, id, e, off)) != GS_OK)
            return rc;
          strings = off;
          have_strings = 1;
        }
      else if (id == CNF_ID_CHANNELS && !have_chan)
        {
          if ((rc = cnf_check_section (buf, len, name, id, e, off)) != GS_OK)
            return rc;
          chan = off;
          have_chan = 1;
        }
    }
  if (n_param == 0 || !have_chan)
    return gs_error (GS_EFORMAT,
                     "%s: bytes 0x%x..0x%zx: the CNF section table has no "
                     "%s section (id 0x%x)",
                     name, CNF_TABLE, last_entry,
                     n_param == 0 ? "parameter" : "channel data",
                     n_param == 0 ? CNF_ID_PARAM : CNF_ID_CHANNELS);

  /* Fixed part of the first parameter section. */
  p = param[0];
  if (len - p < 0xbc)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: parameter section at byte %zu ends "
                     "before its channel count (byte %zu)",
                     name, len, p, p + 0xba);
  n = 256 * (size_t)gs__le16 (buf + p + 0xba);
  if (n == 0)
    return gs_error (GS_EFORMAT, "%s: byte %zu: channel count is 0", name,
                     p + 0xba);
  times = p + 0x30 + gs__le16 (buf + p + 0x24);
  tend = times + 0x19;
  if (tend > len)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: time record at byte %zu runs past the "
                     "end of the file",
                     name, p + 0x24, times);
  if (chan > len || (len - chan) < 0x200 || (len - chan - 0x200) / 4 < n)
    return gs_error (GS_EFORMAT,
                     "%s: byte %zu: %zu channels need %zu bytes from byte "
                     "%zu, the file has %zu",
                     name, p + 0xba, n, 4 * n, chan + 0x200, len);
  if (n > GS_FORMAT_MAX_CHANNELS)
    return gs_error (GS_ENOMEM, "%s: byte %zu: %zu channels (limit %zu)", name,
                     p + 0xba, n, (size_t)GS_FORMAT_MAX_CHANNELS);

  /* Calibration: the first parameter section with a non-zero one. */
  for (k = 0; k < n_param; k++)
    {
      double c[4];
      int ok = 0;
      if (param[k] > len || len - param[k] < 0x30)
        continue; /* checked by cnf_check_section; keeps the bound local */
      if ((rc = cnf_calibration (buf, len, name, param[k], c, &ok)) != GS_OK)
        return rc;
      if (c[0] != 0.0 || c[1] != 0.0 || c[2] != 0.0 || c[3] != 0.0)
        {
          memcpy (cal, c, sizeof cal);
          cal_ok = ok;
          break;
        }
    }

  f = gs_specfile_alloc (1);
  if (!f)
    return gs_error (GS_ENOMEM, "%s: out of memory", name);
  f->format = GS_FORMAT_CNF;
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
    m->counts[i] = (double)gs__le32 (buf + chan + 0x200 + 4 * i);

  if (!cnf_datetime (rd_u64 (buf + times + 0x01), m->start_time))
    {
      gs_specfile_free (f);
      return gs_error (GS_EFORMAT,
                       "%s: byte %zu: start time past the year 9999", name,
                       times + 0x01);
    }
  m->real_time = cnf_duration (buf + times + 0x09);
  m->live_time = cnf_duration (buf + times + 0x11);

  if (cal_ok)
    {
      size_t top = 4;
      while (top > 0 && cal[top - 1] == 0.0)
        top--;
      if (top > 0)
        {
          m->n_coefs = top < 2 ? 2 : top;
          for (k = 0; k < 4; k++)
            m->coefs[k] = cal[k];
        }
    }

  {
    size_t at = p + 0x30 + cnf_record (buf, p) + 0x108;
    if (at <= len && len - at >= 16
        && (rc = cnf_text (buf + at, 16, name, &m->detector)) != GS_OK)
      {
        gs_specfile_free (f);
        return rc;
      }
  }
  if (have_strings)
    {
      if (len - strings < 0x70)
        {
          gs_specfile_free (f);
          return gs_error (GS_EFORMAT,
                           "%s: byte %zu: strings section at byte %zu ends "
                           "before its sample name (bytes %zu..%zu)",
                           name, len, strings, strings + 0x30, strings + 0x70);
        }
      if ((rc = cnf_text (buf + strings + 0x30, 64, name, &m->title)) != GS_OK)
        {
          gs_specfile_free (f);
          return rc;
        }
    }
  *out = f;
  return GS_OK;
}
