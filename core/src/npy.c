/* NPY reader and writer (numpy's .npy format, versions 1.0, 2.0, 3.0).
 *
 * The header is a Python dict literal with exactly the keys 'descr',
 * 'fortran_order' and 'shape'; it is parsed here with a small tokenizer
 * (any key order, any whitespace, trailing commas).  Values are decoded
 * byte by byte, so the host's byte order never matters. */
#include "gspec/spectra.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gspec/status.h"
#include "util.h"

/* numpy itself refuses headers above 10000 bytes by default; this is a
 * looser guard against absurd lengths. */
#define GS__NPY_MAX_HEADER ((size_t)1 << 20)
#define GS__NPY_MAX_DIMS 8
#define GS__NPY_CHUNK ((size_t)1 << 16)

static const unsigned char gs__npy_magic[6]
    = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

/* ---- dtypes ---------------------------------------------------------- */

static size_t
npy_itemsize (gs_npy_dtype dt)
{
  switch (dt)
    {
    case GS_NPY_I1:
    case GS_NPY_U1:
      return 1;
    case GS_NPY_U2:
      return 2;
    case GS_NPY_I4:
    case GS_NPY_U4:
    case GS_NPY_F4:
      return 4;
    case GS_NPY_I8:
    case GS_NPY_F8:
      return 8;
    }
  return 0;
}

static int
host_is_big_endian (void)
{
  const uint16_t one = 1;
  unsigned char b[2];
  memcpy (b, &one, 2);
  return b[0] == 0;
}

static const char *
npy_kind_name (char kind)
{
  switch (kind)
    {
    case 'c':
      return "complex numbers";
    case 'O':
      return "pickled Python objects";
    case 'S':
    case 'a':
      return "byte strings";
    case 'U':
      return "unicode strings";
    case 'V':
      return "raw or structured records";
    case 'M':
    case 'm':
      return "datetimes";
    case 'b':
      return "booleans";
    case 'f':
      return "floats of this size";
    case 'i':
    case 'u':
      return "integers of this size";
    default:
      return "an unknown type";
    }
}

#define GS__NPY_SUPPORTED                                                     \
  "supported: '<i4' '<i8' '<u2' '<u4' '<f4' '<f8', their big-endian '>' "     \
  "forms, '|i1' and '|u1'"

/* Maps a descr string such as '<i4' onto a dtype and byte order. */
static int
npy_parse_descr (const char *path, const char *descr, gs_npy_header *hdr)
{
  char order = descr[0];
  char kind;
  const char *p;
  unsigned long size = 0;
  gs_npy_dtype dt;
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return gs_error (GS_EFORMAT,
                     "'%s': NPY dtype '%s' has no byte-order character "
                     "('<', '>', '|' or '=')",
                     path, descr);
  kind = descr[1];
  for (p = descr + 2; *p >= '0' && *p <= '9' && size < 1000; p++)
    size = size * 10 + (unsigned long)(*p - '0');
  if (kind == '\0' || !strchr ("biufcOSaUVMm", kind))
    return gs_error (GS_EFORMAT, "'%s': unknown NPY dtype '%s' (%s)", path,
                     descr, GS__NPY_SUPPORTED);
  if (*p != '\0' || !strchr ("iuf", kind))
    return gs_error (GS_EFORMAT,
                     "'%s': unsupported NPY dtype '%s' (%s); convert the "
                     "array to a numeric type (%s)",
                     path, descr, npy_kind_name (kind), GS__NPY_SUPPORTED);
  if (kind == 'i' && size == 1)
    dt = GS_NPY_I1;
  else if (kind == 'u' && size == 1)
    dt = GS_NPY_U1;
  else if (kind == 'u' && size == 2)
    dt = GS_NPY_U2;
  else if (kind == 'i' && size == 4)
    dt = GS_NPY_I4;
  else if (kind == 'u' && size == 4)
    dt = GS_NPY_U4;
  else if (kind == 'i' && size == 8)
    dt = GS_NPY_I8;
  else if (kind == 'f' && size == 4)
    dt = GS_NPY_F4;
  else if (kind == 'f' && size == 8)
    dt = GS_NPY_F8;
  else
    return gs_error (GS_EFORMAT, "'%s': unsupported NPY dtype '%s' (%s; %s)",
                     path, descr, npy_kind_name (kind), GS__NPY_SUPPORTED);
  if (order == '|' && size != 1)
    return gs_error (GS_EFORMAT,
                     "'%s': NPY dtype '%s' says byte order does not apply "
                     "('|'), but a %lu-byte type needs '<' or '>'",
                     path, descr, size);
  hdr->dtype = dt;
  if (order == '>')
    hdr->big_endian = 1;
  else if (order == '=')
    hdr->big_endian = host_is_big_endian ();
  else
    hdr->big_endian = 0;
  return GS_OK;
}

/* ---- the header dict ------------------------------------------------- */

typedef struct npy_lex
{
  const char *path;
  const char *start;
  const char *p;
  const char *end;
} npy_lex;

static void
lex_skip_ws (npy_lex *lx)
{
  while (
      lx->p < lx->end
      && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r'))
    lx->p++;
}

static int
lex_fail (npy_lex *lx, const char *what)
{
  const char *e = lx->end;
  int len;
  while (e > lx->start && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r'))
    e--;
  len = (int)(e - lx->start);
  if (len > 160)
    len = 160;
  return gs_error (GS_EFORMAT,
                   "'%s': malformed NPY header: %s at header offset %zu "
                   "(header: %.*s)",
                   lx->path, what, (size_t)(lx->p - lx->start), len,
                   lx->start);
}

/* Reads a Python string literal ('...' or "...") into out[outsz]. */
static int
lex_string (npy_lex *lx, char *out, size_t outsz, const char *what)
{
  char quote;
  size_t n = 0;
  lex_skip_ws (lx);
  if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
    return lex_fail (lx, what);
  quote = *lx->p++;
  while (lx->p < lx->end && *lx->p != quote)
    {
      char c = *lx->p++;
      if (c == '\\' && lx->p < lx->end)
        c = *lx->p++;
      if (n + 1 >= outsz)
        return lex_fail (lx, "string too long");
      out[n++] = c;
    }
  if (lx->p >= lx->end)
    return lex_fail (lx, "unterminated string");
  lx->p++;
  out[n] = '\0';
  return GS_OK;
}

static int
lex_word (npy_lex *lx, const char *word)
{
  size_t n = strlen (word);
  lex_skip_ws (lx);
  if ((size_t)(lx->end - lx->p) >= n && memcmp (lx->p, word, n) == 0)
    {
      const char *q = lx->p + n;
      if (q == lx->end
          || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')
               || (*q >= '0' && *q <= '9') || *q == '_'))
        {
          lx->p = q;
          return 1;
        }
    }
  return 0;
}

static int
lex_char (npy_lex *lx, char c)
{
  lex_skip_ws (lx);
  if (lx->p < lx->end && *lx->p == c)
    {
      lx->p++;
      return 1;
    }
  return 0;
}

/* shape: '(' [int {',' int} [',']] ')', ints optionally with Python 2's
 * 'L' suffix. */
static int
lex_shape (npy_lex *lx, gs_npy_header *hdr)
{
  size_t ndim = 0;
  if (!lex_char (lx, '('))
    return lex_fail (lx, "expected '(' to open the shape tuple");
  for (;;)
    {
      size_t v = 0;
      int digits = 0;
      if (lex_char (lx, ')'))
        break;
      lex_skip_ws (lx);
      if (lx->p < lx->end && *lx->p == '-')
        return lex_fail (lx, "negative dimension in shape");
      while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9')
        {
          size_t d = (size_t)(*lx->p - '0');
          if (v > (SIZE_MAX - d) / 10)
            return lex_fail (lx, "shape dimension too large");
          v = v * 10 + d;
          digits++;
          lx->p++;
        }
      if (!digits)
        return lex_fail (lx, "expected an integer in the shape tuple");
      if (lx->p < lx->end && (*lx->p == 'L' || *lx->p == 'l'))
        lx->p++;
      if (ndim >= GS__NPY_MAX_DIMS)
        return lex_fail (lx, "more than 8 dimensions");
      hdr->shape[ndim++] = v;
      if (lex_char (lx, ','))
        continue;
      if (lex_char (lx, ')'))
        break;
      return lex_fail (lx, "expected ',' or ')' in the shape tuple");
    }
  hdr->ndim = ndim;
  return GS_OK;
}

/* Element count and byte size of the data, refusing shapes whose sizes do
 * not fit a size_t (or a double array of that many elements). */
static int
npy_sizes (const char *path, const gs_npy_header *hdr, size_t *count,
           size_t *bytes)
{
  size_t n = 1, nonzero = 1, i;
  size_t item = npy_itemsize (hdr->dtype);
  for (i = 0; i < hdr->ndim; i++)
    {
      size_t d = hdr->shape[i];
      if (d == 0)
        {
          n = 0;
          continue;
        }
      if (nonzero > SIZE_MAX / sizeof (double) / d)
        goto absurd;
      nonzero *= d;
      n = n ? n * d : 0;
    }
  if (count)
    *count = n;
  if (bytes)
    *bytes = n * item;
  return GS_OK;
absurd:
  return gs_error (GS_EFORMAT,
                   "'%s': NPY shape is absurdly large (its size overflows); "
                   "the header is corrupt",
                   path);
}

static int
npy_parse_dict (const char *path, const char *text, size_t len,
                gs_npy_header *hdr)
{
  npy_lex lx;
  int have_descr = 0, have_order = 0, have_shape = 0;
  int rc;
  lx.path = path;
  lx.start = text;
  lx.p = text;
  lx.end = text + len;
  if (!lex_char (&lx, '{'))
    return lex_fail (&lx, "expected '{'");
  for (;;)
    {
      char key[64];
      if (lex_char (&lx, '}'))
        break;
      if ((rc = lex_string (&lx, key, sizeof key, "expected a quoted key")))
        return rc;
      if (!lex_char (&lx, ':'))
        return lex_fail (&lx, "expected ':' after a key");
      if (strcmp (key, "descr") == 0)
        {
          char descr[64];
          if (have_descr++)
            return lex_fail (&lx, "duplicate key 'descr'");
          lex_skip_ws (&lx);
          if (lx.p < lx.end && (*lx.p == '[' || *lx.p == '{'))
            return gs_error (GS_EFORMAT,
                             "'%s': unsupported NPY dtype: a structured "
                             "(record) array; save a plain numeric array "
                             "(%s)",
                             path, GS__NPY_SUPPORTED);
          if ((rc = lex_string (&lx, descr, sizeof descr,
                                "expected a quoted dtype for 'descr'")))
            return rc;
          if ((rc = npy_parse_descr (path, descr, hdr)))
            return rc;
        }
      else if (strcmp (key, "fortran_order") == 0)
        {
          if (have_order++)
            return lex_fail (&lx, "duplicate key 'fortran_order'");
          if (lex_word (&lx, "True"))
            hdr->fortran_order = 1;
          else if (lex_word (&lx, "False"))
            hdr->fortran_order = 0;
          else
            return lex_fail (&lx, "'fortran_order' must be True or False");
        }
      else if (strcmp (key, "shape") == 0)
        {
          if (have_shape++)
            return lex_fail (&lx, "duplicate key 'shape'");
          if ((rc = lex_shape (&lx, hdr)))
            return rc;
        }
      else
        {
          char what[128];
          snprintf (what, sizeof what, "unknown key '%s'", key);
          return lex_fail (&lx, what);
        }
      if (lex_char (&lx, ','))
        continue;
      if (lex_char (&lx, '}'))
        break;
      return lex_fail (&lx, "expected ',' or '}'");
    }
  lex_skip_ws (&lx);
  if (lx.p != lx.end)
    return lex_fail (&lx, "unexpected text after the dict");
  if (!have_descr || !have_order || !have_shape)
    return gs_error (GS_EFORMAT, "'%s': NPY header lacks the key '%s'", path,
                     !have_descr   ? "descr"
                     : !have_order ? "fortran_order"
                                   : "shape");
  return npy_sizes (path, hdr, NULL, NULL);
}

/* ---- reading --------------------------------------------------------- */

/* Opens path, parses its header and leaves the stream at the data. */
static int
npy_open (const char *path, gs_npy_header *hdr, FILE **fp, size_t *file_size)
{
  FILE *f;
  struct stat st;
  unsigned char pre[12];
  size_t got, prefix, hlen, size;
  char *text;
  int rc;

  memset (hdr, 0, sizeof *hdr);
  f = fopen (path, "rb");
  if (!f)
    return gs_error (errno == ENOENT ? GS_ENOENT : GS_EIO,
                     "cannot open '%s': %s", path, strerror (errno));
  if (fstat (fileno (f), &st) != 0 || !S_ISREG (st.st_mode))
    {
      fclose (f);
      return gs_error (GS_EIO, "'%s' is not a regular file", path);
    }
  size = (size_t)st.st_size;
  got = fread (pre, 1, sizeof pre, f);
  if (memcmp (pre, gs__npy_magic, got < 6 ? got : 6) != 0 || got == 0)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s' is not an NPY file (no \\x93NUMPY magic)", path);
    }
  if (got < 10)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': truncated NPY header: expected at least 10 "
                       "bytes, found %zu",
                       path, got);
    }
  hdr->version_major = pre[6];
  if (pre[6] == 1 && pre[7] == 0)
    {
      prefix = 10;
      hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    }
  else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0)
    {
      if (got < 12)
        {
          fclose (f);
          return gs_error (GS_EFORMAT,
                           "'%s': truncated NPY header: expected at least 12 "
                           "bytes, found %zu",
                           path, got);
        }
      prefix = 12;
      hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16
             | (size_t)pre[11] << 24;
    }
  else
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': unsupported NPY format version %d.%d "
                       "(supported: 1.0, 2.0, 3.0)",
                       path, pre[6], pre[7]);
    }
  if (hlen > GS__NPY_MAX_HEADER)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': NPY header length %zu is absurd (limit %zu); "
                       "the file is corrupt",
                       path, hlen, GS__NPY_MAX_HEADER);
    }
  if (size < prefix + hlen)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': truncated NPY header: expected %zu bytes, "
                       "found %zu",
                       path, prefix + hlen, size);
    }
  text = malloc (hlen + 1);
  if (!text)
    {
      fclose (f);
      return gs_error (GS_ENOMEM, "out of memory reading '%s'", path);
    }
  if (fseek (f, (long)prefix, SEEK_SET) != 0
      || (got = fread (text, 1, hlen, f)) != hlen)
    {
      free (text);
      fclose (f);
      return gs_error (GS_EIO, "'%s': cannot read the NPY header", path);
    }
  text[hlen] = '\0';
  rc = npy_parse_dict (path, text, hlen, hdr);
  free (text);
  if (rc)
    {
      fclose (f);
      return rc;
    }
  hdr->data_offset = prefix + hlen;
  *fp = f;
  *file_size = size;
  return GS_OK;
}

int
gs_npy_read_header (const char *path, gs_npy_header *hdr)
{
  FILE *f;
  size_t size;
  int rc = npy_open (path, hdr, &f, &size);
  if (rc)
    return rc;
  fclose (f);
  return GS_OK;
}

static uint64_t
load_uint (const unsigned char *b, size_t n, int big)
{
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++)
    v = (v << 8) | b[big ? i : n - 1 - i];
  return v;
}

static double
npy_decode (const unsigned char *b, gs_npy_dtype dt, int big)
{
  size_t n = npy_itemsize (dt);
  uint64_t v = load_uint (b, n, big);
  switch (dt)
    {
    case GS_NPY_I1:
    case GS_NPY_I4:
    case GS_NPY_I8:
      {
        uint64_t sign = (uint64_t)1 << (8 * n - 1);
        uint64_t mask = n == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * n)) - 1;
        if (v & sign)
          return -(double)(~v & mask) - 1.0;
        return (double)v;
      }
    case GS_NPY_U1:
    case GS_NPY_U2:
    case GS_NPY_U4:
      return (double)v;
    case GS_NPY_F4:
      {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy (&f, &u, sizeof f);
        return (double)f;
      }
    case GS_NPY_F8:
      {
        double d;
        memcpy (&d, &v, sizeof d);
        return d;
      }
    }
  return 0.0;
}

static void
format_shape (const gs_npy_header *hdr, char *out, size_t outsz)
{
  size_t i, n = 0;
  n += (size_t)snprintf (out, outsz, "(");
  for (i = 0; i < hdr->ndim && n < outsz; i++)
    n += (size_t)snprintf (out + n, outsz - n, i ? ", %zu" : "%zu",
                           hdr->shape[i]);
  if (n < outsz)
    snprintf (out + n, outsz - n, hdr->ndim == 1 ? ",)" : ")");
}

int
gs_npy_read_matrix (const char *path, double **data, size_t *rows,
                    size_t *cols)
{
  gs_npy_header hdr;
  FILE *f;
  size_t size = 0, count = 0, bytes = 0, found, item, r, c, k, done;
  unsigned char *chunk = NULL;
  double *out = NULL;
  char shape[160];
  int rc;

  if ((rc = npy_open (path, &hdr, &f, &size)))
    return rc;
  format_shape (&hdr, shape, sizeof shape);
  if (hdr.ndim != 1 && hdr.ndim != 2)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': NPY array has shape %s (%zu-D); expected a "
                       "1-D or 2-D array",
                       path, shape, hdr.ndim);
    }
  r = hdr.ndim == 1 ? 1 : hdr.shape[0];
  c = hdr.ndim == 1 ? hdr.shape[0] : hdr.shape[1];
  if ((rc = npy_sizes (path, &hdr, &count, &bytes)))
    {
      fclose (f);
      return rc;
    }
  item = npy_itemsize (hdr.dtype);
  found = size - hdr.data_offset;
  if (found != bytes)
    {
      fclose (f);
      return gs_error (GS_EFORMAT,
                       "'%s': %s NPY data: shape %s needs %zu bytes after "
                       "the %zu-byte header, found %zu",
                       path, found < bytes ? "truncated" : "trailing bytes in",
                       shape, bytes, hdr.data_offset, found);
    }
  out = malloc ((count ? count : 1) * sizeof *out);
  chunk = malloc (GS__NPY_CHUNK);
  if (!out || !chunk)
    {
      rc = gs_error (GS_ENOMEM, "out of memory reading '%s' (shape %s)", path,
                     shape);
      goto fail;
    }
  for (done = 0, k = 0; done < bytes;)
    {
      size_t want
          = bytes - done < GS__NPY_CHUNK ? bytes - done : GS__NPY_CHUNK;
      size_t got = fread (chunk, 1, want, f), off;
      if (got != want)
        {
          rc = gs_error (GS_EFORMAT,
                         "'%s': truncated NPY data: expected %zu bytes, "
                         "found %zu",
                         path, bytes, done + got);
          goto fail;
        }
      for (off = 0; off < got; off += item, k++)
        {
          double v = npy_decode (chunk + off, hdr.dtype, hdr.big_endian);
          if (hdr.fortran_order)
            out[(k % r) * c + k / r] = v;
          else
            out[k] = v;
        }
      done += got;
    }
  free (chunk);
  fclose (f);
  *data = out;
  *rows = r;
  *cols = c;
  return GS_OK;
fail:
  free (chunk);
  free (out);
  fclose (f);
  return rc;
}

/* ---- writing --------------------------------------------------------- */

int
gs_npy_write_matrix (const char *path, const double *data, size_t rows,
                     size_t cols)
{
  gs__buf b;
  char dict[160];
  unsigned char le[4];
  size_t count, hlen, total, i;
  int n, rc;

  if (cols != 0 && rows > SIZE_MAX / 16 / cols)
    return gs_error (GS_EINVAL, "cannot write '%s': %zu x %zu is too large",
                     path, rows, cols);
  count = rows * cols;
  if (count && !data)
    return gs_error (GS_EINVAL, "cannot write '%s': no data", path);
  n = snprintf (dict, sizeof dict,
                "{'descr': '<f8', 'fortran_order': False, "
                "'shape': (%zu, %zu), }",
                rows, cols);
  if (n < 0 || (size_t)n >= sizeof dict)
    return gs_error (GS_EFAILED, "cannot format the NPY header");
  /* Pad with spaces and a final newline so the data start on a 64-byte
   * boundary, as numpy does. */
  total = 10 + (size_t)n + 1;
  total = (total + 63) / 64 * 64;
  hlen = total - 10;
  gs__buf_init (&b);
  gs__buf_append (&b, (const char *)gs__npy_magic, 6);
  le[0] = 1;
  le[1] = 0;
  le[2] = (unsigned char)(hlen & 0xff);
  le[3] = (unsigned char)(hlen >> 8);
  gs__buf_append (&b, (const char *)le, 4);
  gs__buf_append (&b, dict, (size_t)n);
  for (i = (size_t)n; i + 1 < hlen; i++)
    gs__buf_append (&b, " ", 1);
  gs__buf_append (&b, "\n", 1);
  for (i = 0; i < count && !b.failed; i++)
    {
      unsigned char v[8];
      uint64_t u;
      int j;
      memcpy (&u, &data[i], sizeof u);
      for (j = 0; j < 8; j++)
        v[j] = (unsigned char)(u >> (8 * j));
      gs__buf_append (&b, (const char *)v, 8);
    }
  if (b.failed)
    {
      gs__buf_fini (&b);
      return gs_error (GS_ENOMEM, "out of memory writing '%s'", path);
    }
  rc = gs__write_file_atomic (path, b.data, b.len);
  gs__buf_fini (&b);
  return rc;
}
