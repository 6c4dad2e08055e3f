/* Tests for the NPY reader/writer, labelled sets and text spectra.
 *
 * NPY files are built byte by byte here (the header by hand, values as
 * literal big-endian bytes or shifted little-endian bytes), so the reader
 * is checked against an independent encoding, not against its own
 * writer.  The real gamma_flow data are cross-checked against a simple
 * little-endian int32 decoder written in this file and against numbers
 * computed once with Python's struct module. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/spectra.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

void gs_test_register_spectra (void);

/* ---- helpers --------------------------------------------------------- */

static char *
write_bytes (const char *dir, const char *name, const void *data, size_t n)
{
  char *p = gs__path_join (dir, name);
  FILE *f = fopen (p, "wb");
  CU_ASSERT_FATAL (f != NULL);
  if (n)
    CU_ASSERT_FATAL (fwrite (data, 1, n, f) == n);
  fclose (f);
  return p;
}

/* Writes an NPY file with the given version and dict text (padded with
 * spaces and '\n' to a multiple of 64 bytes, as numpy does) followed by
 * `n` data bytes. */
static char *
write_npy (const char *dir, const char *name, int major, const char *dict,
           const void *data, size_t n)
{
  size_t pre = major == 1 ? 10 : 12;
  size_t dl = strlen (dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64;
  size_t hlen = total - pre;
  unsigned char *buf = malloc (total + n + 1);
  char *p;
  CU_ASSERT_FATAL (buf != NULL);
  memcpy (buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)((hlen >> 8) & 0xff);
  if (major != 1)
    {
      buf[10] = (unsigned char)((hlen >> 16) & 0xff);
      buf[11] = (unsigned char)((hlen >> 24) & 0xff);
    }
  memcpy (buf + pre, dict, dl);
  memset (buf + pre + dl, ' ', hlen - dl - 1);
  buf[total - 1] = '\n';
  if (n)
    memcpy (buf + total, data, n);
  p = write_bytes (dir, name, buf, total + n);
  free (buf);
  return p;
}

static void
put_le32 (unsigned char *b, uint32_t v)
{
  b[0] = (unsigned char)v;
  b[1] = (unsigned char)(v >> 8);
  b[2] = (unsigned char)(v >> 16);
  b[3] = (unsigned char)(v >> 24);
}

static void
put_le_f8 (unsigned char *b, double d)
{
  uint64_t u;
  int i;
  memcpy (&u, &d, 8);
  for (i = 0; i < 8; i++)
    b[i] = (unsigned char)(u >> (8 * i));
}

/* ---- real data ------------------------------------------------------- */

/* Independent little-endian int32 NPY v1.0 decoder for the cross-check. */
static int32_t *
raw_read_i4 (const char *path, size_t *n)
{
  FILE *f = fopen (path, "rb");
  unsigned char pre[10];
  long size;
  size_t hlen, i, bytes;
  unsigned char *b;
  int32_t *v;
  CU_ASSERT_FATAL (f != NULL);
  CU_ASSERT_FATAL (fread (pre, 1, 10, f) == 10);
  hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  fseek (f, 0, SEEK_END);
  size = ftell (f);
  bytes = (size_t)size - 10 - hlen;
  fseek (f, (long)(10 + hlen), SEEK_SET);
  b = malloc (bytes);
  v = malloc (bytes);
  CU_ASSERT_FATAL (b && v);
  CU_ASSERT_FATAL (fread (b, 1, bytes, f) == bytes);
  fclose (f);
  for (i = 0; i < bytes / 4; i++)
    {
      uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8
                   | (uint32_t)b[4 * i + 2] << 16
                   | (uint32_t)b[4 * i + 3] << 24;
      memcpy (&v[i], &u, 4);
    }
  free (b);
  *n = bytes / 4;
  return v;
}

static void
test_real_gamma_flow (void)
{
  const char *data = gs_test_data_dir ("spectra/real_gamma_flow");
  char *prefix, *npy, *csv;
  gs_spectra *s = NULL, *s2 = NULL;
  int32_t *raw;
  size_t n, i, mismatches = 0;
  double row0 = 0, total = 0;
  if (!data)
    return;
  prefix = gs__asprintf ("%s/gamma_flow/Eu152_left", data);
  npy = gs__asprintf ("%s.counts.npy", prefix);
  csv = gs__asprintf ("%s.meta.csv", prefix);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read_labelled (prefix, &s), GS_OK);
  /* Numbers from Python's struct + csv modules (numpy is not needed). */
  CU_ASSERT_EQUAL (s->n_spectra, 492);
  CU_ASSERT_EQUAL (s->n_channels, 256);
  for (i = 0; i < 256; i++)
    row0 += s->counts[i];
  for (i = 0; i < 492 * 256; i++)
    total += s->counts[i];
  CU_ASSERT_EQUAL (row0, 2511.0);
  CU_ASSERT_EQUAL (total, 3551287.0);
  CU_ASSERT_EQUAL (s->counts[10 * 256 + 37], 19.0);
  CU_ASSERT_EQUAL (s->counts[207 * 256 + 100], 23.0);
  CU_ASSERT_EQUAL (s->counts[300 * 256 + 20], 87.0);
  CU_ASSERT_FATAL (s->labels != NULL);
  CU_ASSERT_STRING_EQUAL (s->labels[0], "background");
  CU_ASSERT_STRING_EQUAL (s->labels[207], "Eu152+background");
  CU_ASSERT_FATAL (s->cal_offset && s->cal_slope && s->cal_quad);
  CU_ASSERT_EQUAL (s->cal_offset[0], -11.07);
  CU_ASSERT_EQUAL (s->cal_slope[491], 8.08);
  CU_ASSERT_EQUAL (s->cal_quad[100], 0.00104);
  CU_ASSERT_EQUAL (s->n_truth, 0);
  CU_ASSERT_EQUAL (s->n_meta, 3);
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 5, "detector"), "left");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 5, "absorber_material"), "None");
  CU_ASSERT_PTR_NULL (gs_spectra_meta (s, 492, "detector"));
  CU_ASSERT_PTR_NULL (gs_spectra_meta (s, 0, "no_such_column"));
  GS_ASSERT_CONTAINS (s->source, "Eu152_left.counts.npy");

  /* Every value against the independent decoder. */
  raw = raw_read_i4 (npy, &n);
  CU_ASSERT_EQUAL (n, 492 * 256);
  for (i = 0; i < n && i < 492 * 256; i++)
    if ((double)raw[i] != s->counts[i])
      mismatches++;
  CU_ASSERT_EQUAL (mismatches, 0);
  free (raw);

  /* Same set through the .meta.csv name and the dispatcher. */
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (csv, &s2), GS_OK);
  CU_ASSERT_EQUAL (s2->n_spectra, 492);
  CU_ASSERT_EQUAL (memcmp (s->counts, s2->counts, 492 * 256 * 8), 0);
  gs_spectra_free (s2);
  s2 = NULL;
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (npy, &s2), GS_OK);
  CU_ASSERT_PTR_NOT_NULL (s2->labels);
  gs_spectra_free (s2);
  gs_spectra_free (s);
  free (prefix);
  free (npy);
  free (csv);
}

/* Every gamma_flow set reads with its meta file and int32 counts. */
static void
test_real_gamma_flow_all (void)
{
  const char *data = gs_test_data_dir ("spectra/real_gamma_flow_all");
  char *dir;
  DIR *d;
  struct dirent *e;
  int nsets = 0;
  if (!data)
    return;
  dir = gs__asprintf ("%s/gamma_flow", data);
  d = opendir (dir);
  CU_ASSERT_FATAL (d != NULL);
  while ((e = readdir (d)) != NULL)
    {
      gs_npy_header h;
      gs_spectra *s = NULL;
      char *p;
      size_t len = strlen (e->d_name);
      if (len < 11 || strcmp (e->d_name + len - 11, ".counts.npy") != 0)
        continue;
      p = gs__path_join (dir, e->d_name);
      CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_OK);
      CU_ASSERT_EQUAL (h.dtype, GS_NPY_I4);
      CU_ASSERT_EQUAL (h.ndim, 2);
      if (gs_spectra_read (p, &s) != GS_OK)
        {
          fprintf (stderr, "\n  %s: %s\n", p, gs_last_error ());
          CU_FAIL ("gamma_flow set failed to read");
        }
      else
        {
          CU_ASSERT_EQUAL (s->n_spectra, h.shape[0]);
          CU_ASSERT_EQUAL (s->n_channels, 256);
          CU_ASSERT_PTR_NOT_NULL (s->labels);
          CU_ASSERT_PTR_NOT_NULL (s->cal_slope);
          nsets++;
        }
      gs_spectra_free (s);
      free (p);
    }
  closedir (d);
  CU_ASSERT_EQUAL (nsets, 18);
  free (dir);
}

static void
test_real_gammabench_text (void)
{
  const char *data = gs_test_data_dir ("spectra/real_gammabench_text");
  char *p;
  gs_spectra *s = NULL;
  if (!data)
    return;
  p = gs__asprintf ("%s/gammabench/Simulation_steel_sphere/Cs137/"
                    "GRS_NaITl_Cs137_STEEL0__001mm.dat",
                    data);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (p, &s), GS_OK);
  CU_ASSERT_EQUAL (s->n_spectra, 1);
  CU_ASSERT_EQUAL (s->n_channels, 2998);
  CU_ASSERT_EQUAL (s->counts[0], 1814.0);
  CU_ASSERT_EQUAL (s->counts[4], 1700.0);
  CU_ASSERT_EQUAL (s->counts[5], 1970.0);
  /* The 661.7 keV photopeak bin and the total, from Python. */
  CU_ASSERT_EQUAL (s->counts[661], 15292.0);
  {
    double sum = 0;
    size_t i;
    for (i = 0; i < s->n_channels; i++)
      sum += s->counts[i];
    CU_ASSERT_EQUAL (sum, 1486227.0);
  }
  CU_ASSERT_PTR_NULL (s->labels);
  gs_spectra_free (s);
  free (p);
}

/* ---- NPY ------------------------------------------------------------- */

static void
test_npy_truncated (void)
{
  char *dir = gs_test_tmpdir ();
  unsigned char data[20] = { 0 };
  char *p;
  double *m = NULL;
  size_t r, c;
  gs_npy_header h;
  unsigned char hdr_only[40];

  /* Data: (3, 4) int32 needs 48 bytes, 20 present. */
  p = write_npy (dir, "short.npy", 1,
                 "{'descr': '<i4', 'fortran_order': False, "
                 "'shape': (3, 4), }",
                 data, sizeof data);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_OK);
  CU_ASSERT_EQUAL (gs_npy_read_matrix (p, &m, &r, &c), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), "truncated");
  GS_ASSERT_CONTAINS (gs_last_error (), "needs 48 bytes");
  GS_ASSERT_CONTAINS (gs_last_error (), "found 20");
  free (p);

  /* Header: declares 118 bytes, the file stops after 40. */
  memcpy (hdr_only, "\x93NUMPY\x01\x00\x76\x00{'descr': '<i4', 'fortran_ord",
          40);
  p = write_bytes (dir, "shorthdr.npy", hdr_only, sizeof hdr_only);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), "truncated NPY header");
  GS_ASSERT_CONTAINS (gs_last_error (), "expected 128 bytes");
  GS_ASSERT_CONTAINS (gs_last_error (), "found 40");
  free (p);

  /* Shorter than the fixed prefix. */
  p = write_bytes (dir, "tiny.npy", "\x93NUMPY\x01", 7);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "expected at least 10 bytes");
  free (p);

  /* Trailing bytes after the data are refused too. */
  {
    unsigned char more[52] = { 0 };
    p = write_npy (dir, "long.npy", 1,
                   "{'descr': '<i4', 'fortran_order': False, "
                   "'shape': (3, 4), }",
                   more, sizeof more);
    CU_ASSERT_EQUAL (gs_npy_read_matrix (p, &m, &r, &c), GS_EFORMAT);
    GS_ASSERT_CONTAINS (gs_last_error (), "trailing");
    GS_ASSERT_CONTAINS (gs_last_error (), "found 52");
    free (p);
  }

  /* Not NPY at all. */
  p = gs_test_write (dir, "text.npy", "1\n2\n3\n");
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "not an NPY file");
  free (p);

  CU_ASSERT_EQUAL (gs_npy_read_header ("/nonexistent/x.npy", &h), GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/x.npy");
  gs_test_rmtree (dir);
  free (dir);
}

static void
expect_bad_dtype (const char *dir, const char *descr, const char *what)
{
  char dict[200];
  char *p;
  gs_npy_header h;
  unsigned char zero[64] = { 0 };
  snprintf (dict, sizeof dict,
            "{'descr': %s, 'fortran_order': False, 'shape': (2,), }", descr);
  p = write_npy (dir, "dtype.npy", 1, dict, zero, sizeof zero);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), what);
  free (p);
}

static void
test_npy_bad_dtype (void)
{
  char *dir = gs_test_tmpdir ();
  expect_bad_dtype (dir, "'<c16'", "complex");
  expect_bad_dtype (dir, "'|O'", "objects");
  expect_bad_dtype (dir, "'<U8'", "strings");
  expect_bad_dtype (dir, "'|S4'", "strings");
  expect_bad_dtype (dir, "[('a', '<i4'), ('b', '<f8')]", "structured");
  expect_bad_dtype (dir, "'<M8[ns]'", "datetimes");
  expect_bad_dtype (dir, "'|b1'", "booleans");
  expect_bad_dtype (dir, "'<f2'", "unsupported NPY dtype '<f2'");
  expect_bad_dtype (dir, "'|i4'", "'|'");
  expect_bad_dtype (dir, "'i4'", "byte-order");
  expect_bad_dtype (dir, "'<x4'", "unknown NPY dtype");
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_npy_big_endian (void)
{
  char *dir = gs_test_tmpdir ();
  /* 1, -2, 3, 70000, 0, INT32_MIN as big-endian int32. */
  static const unsigned char be_i4[24]
      = { 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe,
          0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x11, 0x70,
          0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00 };
  /* 1.5, -2.25, 100, 0.1 as big-endian float64. */
  static const unsigned char be_f8[32]
      = { 0x3f, 0xf8, 0,    0,    0,    0,    0,    0,    0xc0, 0x02, 0,
          0,    0,    0,    0,    0,    0x40, 0x59, 0,    0,    0,    0,
          0,    0,    0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a };
  static const unsigned char be_u2[4] = { 0x01, 0x02, 0xff, 0xff };
  static const unsigned char u1[3] = { 0, 200, 255 };
  static const unsigned char i1[3] = { 0x7f, 0x80, 0xff };
  char *p;
  double *m = NULL;
  size_t r = 0, c = 0;
  gs_npy_header h;

  p = write_npy (dir, "bei4.npy", 1,
                 "{'descr': '>i4', 'fortran_order': False, "
                 "'shape': (2, 3), }",
                 be_i4, sizeof be_i4);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_header (p, &h), GS_OK);
  CU_ASSERT_EQUAL (h.big_endian, 1);
  CU_ASSERT_EQUAL (h.dtype, GS_NPY_I4);
  CU_ASSERT_EQUAL (h.data_offset, 128);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 2);
  CU_ASSERT_EQUAL (c, 3);
  CU_ASSERT_EQUAL (m[0], 1.0);
  CU_ASSERT_EQUAL (m[1], -2.0);
  CU_ASSERT_EQUAL (m[2], 3.0);
  CU_ASSERT_EQUAL (m[3], 70000.0);
  CU_ASSERT_EQUAL (m[4], 0.0);
  CU_ASSERT_EQUAL (m[5], -2147483648.0);
  free (m);
  free (p);

  p = write_npy (dir, "bef8.npy", 1,
                 "{'descr': '>f8', 'fortran_order': False, "
                 "'shape': (2, 2), }",
                 be_f8, sizeof be_f8);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 2);
  CU_ASSERT_EQUAL (c, 2);
  CU_ASSERT_EQUAL (m[0], 1.5);
  CU_ASSERT_EQUAL (m[1], -2.25);
  CU_ASSERT_EQUAL (m[2], 100.0);
  CU_ASSERT_EQUAL (m[3], 0.1);
  free (m);
  free (p);

  p = write_npy (dir, "beu2.npy", 1,
                 "{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }",
                 be_u2, sizeof be_u2);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 1);
  CU_ASSERT_EQUAL (c, 2);
  CU_ASSERT_EQUAL (m[0], 258.0);
  CU_ASSERT_EQUAL (m[1], 65535.0);
  free (m);
  free (p);

  p = write_npy (dir, "u1.npy", 1,
                 "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
                 u1, sizeof u1);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (m[1], 200.0);
  CU_ASSERT_EQUAL (m[2], 255.0);
  free (m);
  free (p);

  p = write_npy (dir, "i1.npy", 1,
                 "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }",
                 i1, sizeof i1);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (m[0], 127.0);
  CU_ASSERT_EQUAL (m[1], -128.0);
  CU_ASSERT_EQUAL (m[2], -1.0);
  free (m);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_npy_little_endian_types (void)
{
  char *dir = gs_test_tmpdir ();
  unsigned char b[48];
  char *p;
  double *m = NULL;
  size_t r, c;
  float f = -0.75f;
  uint32_t fu;

  /* '<i8': 5, -3 (two's complement), 2^40. */
  memset (b, 0, sizeof b);
  b[0] = 5;
  memset (b + 8, 0xff, 8);
  b[8] = 0xfd;
  b[16 + 5] = 0x01;
  p = write_npy (dir, "i8.npy", 1,
                 "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                 b, 24);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (m[0], 5.0);
  CU_ASSERT_EQUAL (m[1], -3.0);
  CU_ASSERT_EQUAL (m[2], 1099511627776.0);
  free (m);
  free (p);

  /* '<u4' 4000000000 and '<f4' -0.75. */
  put_le32 (b, 4000000000u);
  memcpy (&fu, &f, 4);
  put_le32 (b + 4, fu);
  p = write_npy (dir, "u4.npy", 1,
                 "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }",
                 b, 4);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (m[0], 4000000000.0);
  free (m);
  free (p);
  p = write_npy (dir, "f4.npy", 1,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                 b + 4, 4);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (m[0], -0.75);
  free (m);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_npy_fortran_order (void)
{
  char *dir = gs_test_tmpdir ();
  /* The 2x3 matrix [[1,2,3],[4,5,6]] stored column by column. */
  static const int32_t colmajor[6] = { 1, 4, 2, 5, 3, 6 };
  unsigned char b[24];
  char *p;
  double *m = NULL;
  size_t r, c, i;
  gs_npy_header h;
  for (i = 0; i < 6; i++)
    put_le32 (b + 4 * i, (uint32_t)colmajor[i]);
  p = write_npy (dir, "f.npy", 1,
                 "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
                 b, sizeof b);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_header (p, &h), GS_OK);
  CU_ASSERT_EQUAL (h.fortran_order, 1);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 2);
  CU_ASSERT_EQUAL (c, 3);
  for (i = 0; i < 6; i++)
    CU_ASSERT_EQUAL (m[i], (double)(i + 1));
  free (m);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_npy_versions_and_dict (void)
{
  char *dir = gs_test_tmpdir ();
  unsigned char b[16];
  char *p;
  double *m = NULL;
  size_t r, c;
  gs_npy_header h;
  put_le_f8 (b, 2.5);
  put_le_f8 (b + 8, -7.0);

  /* 2.0: a four-byte header length. */
  p = write_npy (dir, "v2.npy", 2,
                 "{'descr': '<f8', 'fortran_order': False, "
                 "'shape': (1, 2), }",
                 b, sizeof b);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_header (p, &h), GS_OK);
  CU_ASSERT_EQUAL (h.version_major, 2);
  CU_ASSERT_EQUAL (h.data_offset, 128);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 1);
  CU_ASSERT_EQUAL (c, 2);
  CU_ASSERT_EQUAL (m[0], 2.5);
  CU_ASSERT_EQUAL (m[1], -7.0);
  free (m);
  free (p);

  /* 3.0, keys in another order, double quotes, odd spacing, Python 2
   * long suffix, no trailing comma. */
  p = write_npy (dir, "v3.npy", 3,
                 "{ \"shape\" :(2L ,1L ) ,\"fortran_order\":False,"
                 "\n 'descr'  :  '<f8'}",
                 b, sizeof b);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 2);
  CU_ASSERT_EQUAL (c, 1);
  CU_ASSERT_EQUAL (m[1], -7.0);
  free (m);
  free (p);

  /* Unsupported version. */
  p = write_npy (dir, "v4.npy", 4,
                 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                 b, sizeof b);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "version 4.0");
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

static void
expect_bad_header (const char *dir, const char *dict, const char *what)
{
  char *p;
  gs_npy_header h;
  unsigned char zero[16] = { 0 };
  p = write_npy (dir, "hdr.npy", 1, dict, zero, sizeof zero);
  CU_ASSERT_EQUAL (gs_npy_read_header (p, &h), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), what);
  free (p);
}

static void
test_npy_bad_header (void)
{
  char *dir = gs_test_tmpdir ();
  char *p;
  double *m = NULL;
  size_t r, c;
  unsigned char zero[64] = { 0 };
  expect_bad_header (dir, "{'descr': '<f8', 'shape': (2,), }",
                     "lacks the key 'fortran_order'");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (2,), 'extra': 1}",
                     "unknown key 'extra'");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'descr': '<f8', "
                     "'fortran_order': False, 'shape': (2,)}",
                     "duplicate key 'descr'");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': Maybe, "
                     "'shape': (2,)}",
                     "True or False");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (-2,)}",
                     "negative dimension");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (4611686018427387904, 4611686018427387904)}",
                     "absurdly large");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (99999999999999999999999,)}",
                     "too large");
  expect_bad_header (dir,
                     "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (1,1,1,1,1,1,1,1,1)}",
                     "more than 8 dimensions");
  expect_bad_header (dir, "{'descr': '<f8', 'fortran_order': False",
                     "malformed NPY header");
  expect_bad_header (dir, "['descr', '<f8']", "expected '{'");

  /* 3-D arrays are not matrices. */
  p = write_npy (dir, "3d.npy", 1,
                 "{'descr': '<f8', 'fortran_order': False, "
                 "'shape': (2, 2, 2), }",
                 zero, sizeof zero);
  CU_ASSERT_EQUAL (gs_npy_read_matrix (p, &m, &r, &c), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "(2, 2, 2) (3-D)");
  free (p);
  /* An empty array is a valid 0 x 5 matrix. */
  p = write_npy (dir, "empty.npy", 1,
                 "{'descr': '<f8', 'fortran_order': False, "
                 "'shape': (0, 5), }",
                 zero, 0);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 0);
  CU_ASSERT_EQUAL (c, 5);
  CU_ASSERT_PTR_NOT_NULL (m);
  free (m);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_npy_write_read (void)
{
  char *dir = gs_test_tmpdir ();
  char *p = gs__path_join (dir, "w.npy");
  const double v[6] = { 0.1, -2.0, 1e300, 0.0, 3.0, -1e-300 };
  double *m = NULL;
  size_t r, c;
  gs_npy_header h;
  unsigned char raw[128 + 48];
  FILE *f;
  CU_ASSERT_EQUAL_FATAL (gs_npy_write_matrix (p, v, 3, 2), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_header (p, &h), GS_OK);
  CU_ASSERT_EQUAL (h.version_major, 1);
  CU_ASSERT_EQUAL (h.dtype, GS_NPY_F8);
  CU_ASSERT_EQUAL (h.big_endian, 0);
  CU_ASSERT_EQUAL (h.ndim, 2);
  CU_ASSERT_EQUAL (h.shape[0], 3);
  CU_ASSERT_EQUAL (h.shape[1], 2);
  CU_ASSERT_EQUAL (h.data_offset % 64, 0);
  CU_ASSERT_EQUAL_FATAL (h.data_offset, 128);
  /* The bytes themselves: little-endian 0.1 at the data offset. */
  f = fopen (p, "rb");
  CU_ASSERT_FATAL (f != NULL);
  CU_ASSERT_EQUAL (fread (raw, 1, sizeof raw, f), sizeof raw);
  fclose (f);
  CU_ASSERT_EQUAL (
      memcmp (raw + h.data_offset, "\x9a\x99\x99\x99\x99\x99\xb9\x3f", 8), 0);
  CU_ASSERT_EQUAL (raw[h.data_offset - 1], '\n');
  CU_ASSERT_EQUAL_FATAL (gs_npy_read_matrix (p, &m, &r, &c), GS_OK);
  CU_ASSERT_EQUAL (r, 3);
  CU_ASSERT_EQUAL (c, 2);
  CU_ASSERT_EQUAL (memcmp (m, v, sizeof v), 0);
  free (m);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

/* ---- labelled sets --------------------------------------------------- */

/* Writes PREFIX.counts.npy as '<i4' with the given values. */
static char *
write_counts_i4 (const char *dir, const char *name, const int32_t *v,
                 size_t rows, size_t cols)
{
  char dict[128];
  unsigned char *b = malloc (rows * cols * 4 + 1);
  size_t i;
  char *p;
  CU_ASSERT_FATAL (b != NULL);
  for (i = 0; i < rows * cols; i++)
    put_le32 (b + 4 * i, (uint32_t)v[i]);
  snprintf (dict, sizeof dict,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (%zu, %zu), }",
            rows, cols);
  p = write_npy (dir, name, 1, dict, b, rows * cols * 4);
  free (b);
  return p;
}

static void
test_spectra_bad_counts (void)
{
  char *dir = gs_test_tmpdir ();
  const int32_t neg[6] = { 1, 2, 3, 4, 5, -6 };
  unsigned char b[16];
  char *p;
  gs_spectra *s = NULL;

  p = write_counts_i4 (dir, "neg.counts.npy", neg, 2, 3);
  CU_ASSERT_EQUAL (gs_spectra_read_labelled (p, &s), GS_EBADDATA);
  CU_ASSERT_PTR_NULL (s);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), "row 1, channel 2");
  GS_ASSERT_CONTAINS (gs_last_error (), "negative");
  free (p);

  put_le_f8 (b, 1.0);
  put_le_f8 (b + 8, NAN);
  p = write_npy (dir, "nan.counts.npy", 1,
                 "{'descr': '<f8', 'fortran_order': False, "
                 "'shape': (1, 2), }",
                 b, sizeof b);
  CU_ASSERT_EQUAL (gs_spectra_read (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "row 0, channel 1");
  GS_ASSERT_CONTAINS (gs_last_error (), "NaN");
  free (p);

  p = write_npy (dir, "none.counts.npy", 1,
                 "{'descr': '<i4', 'fortran_order': False, "
                 "'shape': (0, 256), }",
                 b, 0);
  CU_ASSERT_EQUAL (gs_spectra_read (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "no spectra");
  free (p);

  p = write_npy (dir, "nochan.counts.npy", 1,
                 "{'descr': '<i4', 'fortran_order': False, "
                 "'shape': (3, 0), }",
                 b, 0);
  CU_ASSERT_EQUAL (gs_spectra_read (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "no channels");
  free (p);
  CU_ASSERT_PTR_NULL (s);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_csv_row_mismatch (void)
{
  char *dir = gs_test_tmpdir ();
  const int32_t v[6] = { 1, 2, 3, 4, 5, 6 };
  char *npy = write_counts_i4 (dir, "set.counts.npy", v, 3, 2);
  char *csv
      = gs_test_write (dir, "set.meta.csv", "index,labels\n0,Cs137\n1,Co60\n");
  char *prefix = gs__path_join (dir, "set");
  gs_spectra *s = NULL;
  CU_ASSERT_EQUAL (gs_spectra_read_labelled (prefix, &s), GS_EBADLEN);
  CU_ASSERT_PTR_NULL (s);
  GS_ASSERT_CONTAINS (gs_last_error (), csv);
  GS_ASSERT_CONTAINS (gs_last_error (), npy);
  GS_ASSERT_CONTAINS (gs_last_error (), "2 data rows");
  GS_ASSERT_CONTAINS (gs_last_error (), "3 spectra");
  free (csv);
  csv = gs_test_write (dir, "set.meta.csv",
                       "index,labels\n0,a\n1,b\n2,c\n3,d\n");
  CU_ASSERT_EQUAL (gs_spectra_read_labelled (npy, &s), GS_EBADLEN);
  GS_ASSERT_CONTAINS (gs_last_error (), "4 data rows");
  /* Without the meta file, the .npy alone is fine but the prefix is not. */
  gs_test_rmtree (csv);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read_labelled (npy, &s), GS_OK);
  CU_ASSERT_PTR_NULL (s->labels);
  CU_ASSERT_PTR_NULL (s->cal_offset);
  CU_ASSERT_EQUAL (s->counts[5], 6.0);
  gs_spectra_free (s);
  s = NULL;
  CU_ASSERT_EQUAL (gs_spectra_read_labelled (prefix, &s), GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "set.meta.csv");
  free (prefix);
  free (npy);
  free (csv);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_csv_bad_calibration (void)
{
  char *dir = gs_test_tmpdir ();
  const int32_t v[4] = { 1, 2, 3, 4 };
  char *npy = write_counts_i4 (dir, "cal.counts.npy", v, 2, 2);
  char *csv = gs_test_write (dir, "cal.meta.csv",
                             "index,labels,cal_offset_keV,cal_slope_keV,"
                             "cal_quad_keV\n"
                             "0,bg,-11.07,8.08,0.001\n"
                             "1,bg,-11.07,abc,0.001\n");
  gs_spectra *s = NULL;
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  CU_ASSERT_PTR_NULL (s);
  GS_ASSERT_CONTAINS (gs_last_error (), "cal.meta.csv:3:");
  GS_ASSERT_CONTAINS (gs_last_error (), "column 4 'cal_slope_keV'");
  GS_ASSERT_CONTAINS (gs_last_error (), "'abc'");
  free (csv);

  csv = gs_test_write (dir, "cal.meta.csv",
                       "index,labels,cal_offset_keV,cal_quad_keV\n"
                       "0,bg,1,2\n1,bg,1,2\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "cal.meta.csv:1:");
  GS_ASSERT_CONTAINS (gs_last_error (), "offset and a slope");
  free (csv);

  csv = gs_test_write (dir, "cal.meta.csv",
                       "index,labels,offset,gain\n0,bg,1,nan\n1,bg,1,2\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "cal.meta.csv:2:");
  GS_ASSERT_CONTAINS (gs_last_error (), "'gain'");
  free (csv);
  free (npy);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_csv_format (void)
{
  char *dir = gs_test_tmpdir ();
  const int32_t v[6] = { 1, 2, 3, 4, 5, 6 };
  char *npy = write_counts_i4 (dir, "q.counts.npy", v, 3, 2);
  char *csv;
  gs_spectra *s = NULL;

  /* BOM, CRLF, quoted fields with commas, doubled quotes and a newline,
   * aliases for calibration (no quad -> 0), truth and meta columns, no
   * trailing newline. */
  csv = gs_test_write (
      dir, "q.meta.csv",
      "\xef\xbb\xbfindex,labels,Offset,gain,counts_Cs137,detector,"
      "counts_bg\r\n"
      "0,\"Cs137+background\",-1.5,8,10.5, left ,3\r\n"
      "1,\"a,\"\"b\"\"\nc\",0,7.5,0,\"x,y\",0\r\n"
      "\r\n"
      "2, background ,2,8,1e3,,0");
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (npy, &s), GS_OK);
  CU_ASSERT_EQUAL (s->n_spectra, 3);
  CU_ASSERT_STRING_EQUAL (s->labels[0], "Cs137+background");
  CU_ASSERT_STRING_EQUAL (s->labels[1], "a,\"b\"\nc");
  CU_ASSERT_STRING_EQUAL (s->labels[2], "background");
  CU_ASSERT_FATAL (s->cal_offset && s->cal_slope && s->cal_quad);
  CU_ASSERT_EQUAL (s->cal_offset[0], -1.5);
  CU_ASSERT_EQUAL (s->cal_slope[1], 7.5);
  CU_ASSERT_EQUAL (s->cal_quad[2], 0.0);
  CU_ASSERT_EQUAL_FATAL (s->n_truth, 2);
  CU_ASSERT_STRING_EQUAL (s->truth_names[0], "Cs137");
  CU_ASSERT_STRING_EQUAL (s->truth_names[1], "bg");
  CU_ASSERT_EQUAL (s->truth[0], 10.5);
  CU_ASSERT_EQUAL (s->truth[1], 3.0);
  CU_ASSERT_EQUAL (s->truth[4], 1000.0);
  CU_ASSERT_EQUAL_FATAL (s->n_meta, 1);
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 0, "detector"), "left");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 1, "detector"), "x,y");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 2, "detector"), "");
  gs_spectra_free (s);
  s = NULL;
  free (csv);

  /* Index out of order: the line of the offending row (after a quoted
   * field spanning two lines). */
  csv = gs_test_write (dir, "q.meta.csv",
                       "index,labels\n0,\"two\nlines\"\n2,b\n1,c\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "q.meta.csv:4:");
  GS_ASSERT_CONTAINS (gs_last_error (), "expected 1, found '2'");
  free (csv);

  csv = gs_test_write (dir, "q.meta.csv", "index,labels\n0,a\n1\n2,c\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "q.meta.csv:3:");
  GS_ASSERT_CONTAINS (gs_last_error (), "expected 2 fields");
  free (csv);

  csv = gs_test_write (dir, "q.meta.csv", "idx,labels\n0,a\n1,b\n2,c\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "q.meta.csv:1:");
  GS_ASSERT_CONTAINS (gs_last_error (), "index,labels");
  free (csv);

  csv = gs_test_write (dir, "q.meta.csv", "index,labels\n0,\"a\n1,b\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "unterminated quoted field");
  GS_ASSERT_CONTAINS (gs_last_error (), "opened on line 2");
  free (csv);

  csv = gs_test_write (dir, "q.meta.csv",
                       "index,labels,det,det\n0,a,1,1\n1,b,1,1\n2,c,1,1\n");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "duplicate column 'det'");
  free (csv);

  csv = gs_test_write (dir, "q.meta.csv", "");
  CU_ASSERT_EQUAL (gs_spectra_read (csv, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "empty meta file");
  CU_ASSERT_PTR_NULL (s);
  free (csv);
  free (npy);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_write_read_roundtrip (void)
{
  char *dir = gs_test_tmpdir ();
  char *prefix = gs__path_join (dir, "rt");
  gs_spectra *s = gs_spectra_alloc (3, 4), *t = NULL;
  static const char *labels[3]
      = { "Cs137+background", "a,\"quoted\"\nlabel", " spaced " };
  size_t i;
  CU_ASSERT_FATAL (s != NULL);
  for (i = 0; i < 12; i++)
    s->counts[i] = i == 5 ? 0.1 : (double)(i * 7);
  s->labels = calloc (3, sizeof (char *));
  s->cal_offset = calloc (3, sizeof (double));
  s->cal_slope = calloc (3, sizeof (double));
  s->cal_quad = calloc (3, sizeof (double));
  s->n_truth = 2;
  s->truth_names = calloc (2, sizeof (char *));
  s->truth = calloc (6, sizeof (double));
  s->n_meta = 1;
  s->meta_names = calloc (1, sizeof (char *));
  s->meta = calloc (3, sizeof (char *));
  CU_ASSERT_FATAL (s->labels && s->cal_quad && s->truth && s->meta);
  s->truth_names[0] = gs__strdup ("Cs137");
  s->truth_names[1] = gs__strdup ("background");
  s->meta_names[0] = gs__strdup ("detector");
  for (i = 0; i < 3; i++)
    {
      s->labels[i] = gs__strdup (labels[i]);
      s->cal_offset[i] = -11.07 + (double)i / 3.0;
      s->cal_slope[i] = 8.08;
      s->cal_quad[i] = 0.00104;
      s->truth[2 * i] = 1.0 / 3.0 + (double)i;
      s->truth[2 * i + 1] = 2.0;
      s->meta[i] = gs__strdup (i == 1 ? "right" : "left");
    }
  CU_ASSERT_EQUAL_FATAL (gs_spectra_write_labelled (s, prefix), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (prefix, &t), GS_OK);
  CU_ASSERT_EQUAL (t->n_spectra, 3);
  CU_ASSERT_EQUAL (t->n_channels, 4);
  CU_ASSERT_EQUAL (memcmp (t->counts, s->counts, 12 * sizeof (double)), 0);
  for (i = 0; i < 3; i++)
    {
      CU_ASSERT_STRING_EQUAL (t->labels[i], labels[i]);
      CU_ASSERT_EQUAL (t->cal_offset[i], s->cal_offset[i]);
      CU_ASSERT_EQUAL (t->cal_slope[i], s->cal_slope[i]);
      CU_ASSERT_EQUAL (t->cal_quad[i], s->cal_quad[i]);
      CU_ASSERT_STRING_EQUAL (gs_spectra_meta (t, i, "detector"), s->meta[i]);
    }
  CU_ASSERT_EQUAL_FATAL (t->n_truth, 2);
  CU_ASSERT_STRING_EQUAL (t->truth_names[0], "Cs137");
  CU_ASSERT_STRING_EQUAL (t->truth_names[1], "background");
  CU_ASSERT_EQUAL (memcmp (t->truth, s->truth, 6 * sizeof (double)), 0);
  gs_spectra_free (t);
  t = NULL;

  /* The writer refuses what the reader would refuse. */
  s->counts[6] = -1.0;
  CU_ASSERT_EQUAL (gs_spectra_write_labelled (s, prefix), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "row 1, channel 2");
  s->counts[6] = 1.0;
  free (s->meta_names[0]);
  s->meta_names[0] = gs__strdup ("slope");
  CU_ASSERT_EQUAL (gs_spectra_write_labelled (s, prefix), GS_EINVAL);
  gs_spectra_free (s);
  free (prefix);
  gs_test_rmtree (dir);
  free (dir);
}

/* ---- text spectra ---------------------------------------------------- */

static void
test_text_reader (void)
{
  char *dir = gs_test_tmpdir ();
  char *p;
  gs_spectra *s = NULL;

  p = gs_test_write (dir, "good.txt",
                     "# header\r\n  12\r\n\r\n3.5\n  # indented comment\n"
                     "0\n1e2");
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (p, &s), GS_OK);
  CU_ASSERT_EQUAL (s->n_spectra, 1);
  CU_ASSERT_EQUAL_FATAL (s->n_channels, 4);
  CU_ASSERT_EQUAL (s->counts[0], 12.0);
  CU_ASSERT_EQUAL (s->counts[1], 3.5);
  CU_ASSERT_EQUAL (s->counts[2], 0.0);
  CU_ASSERT_EQUAL (s->counts[3], 100.0);
  GS_ASSERT_CONTAINS (s->source, "good.txt");
  gs_spectra_free (s);
  s = NULL;
  free (p);

  p = gs_test_write (dir, "bad.txt", "1\n2\n# c\n12 13\n5\n");
  CU_ASSERT_EQUAL (gs_spectra_read_text (p, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "bad.txt:4:");
  GS_ASSERT_CONTAINS (gs_last_error (), "'12 13'");
  free (p);

  p = gs_test_write (dir, "neg.txt", "1\n-2\n");
  CU_ASSERT_EQUAL (gs_spectra_read_text (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "neg.txt:2:");
  GS_ASSERT_CONTAINS (gs_last_error (), "negative");
  free (p);

  p = gs_test_write (dir, "nan.txt", "1\n\n\nnan\n");
  CU_ASSERT_EQUAL (gs_spectra_read_text (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "nan.txt:4:");
  GS_ASSERT_CONTAINS (gs_last_error (), "not a finite count");
  free (p);

  p = gs_test_write (dir, "empty.txt", "# nothing\n\n");
  CU_ASSERT_EQUAL (gs_spectra_read_text (p, &s), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "no counts");
  free (p);

  p = write_bytes (dir, "bin.txt", "1\n\0\n", 4);
  CU_ASSERT_EQUAL (gs_spectra_read_text (p, &s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "NUL byte");
  free (p);
  CU_ASSERT_PTR_NULL (s);

  CU_ASSERT_EQUAL (gs_spectra_read ("/nonexistent/spec.txt", &s), GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/spec.txt");
  gs_test_rmtree (dir);
  free (dir);
}

/* Content, not the name, decides: an NPY file named .bin is an array. */
static void
test_dispatch_by_content (void)
{
  char *dir = gs_test_tmpdir ();
  const int32_t v[3] = { 7, 8, 9 };
  char *p = write_counts_i4 (dir, "odd.bin", v, 1, 3);
  gs_spectra *s = NULL;
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (p, &s), GS_OK);
  CU_ASSERT_EQUAL (s->n_channels, 3);
  CU_ASSERT_EQUAL (s->counts[2], 9.0);
  CU_ASSERT_PTR_NULL (s->labels);
  gs_spectra_free (s);
  free (p);
  gs_test_rmtree (dir);
  free (dir);
}

void
gs_test_register_spectra (void)
{
  CU_pSuite suite = CU_add_suite ("spectra", NULL, NULL);
  CU_add_test (suite, "real gamma_flow set vs independent decoder",
               test_real_gamma_flow);
  CU_add_test (suite, "all gamma_flow sets read", test_real_gamma_flow_all);
  CU_add_test (suite, "real GammaBench text spectrum",
               test_real_gammabench_text);
  CU_add_test (suite, "npy truncated header and data", test_npy_truncated);
  CU_add_test (suite, "npy unsupported dtypes", test_npy_bad_dtype);
  CU_add_test (suite, "npy big-endian and 1-byte types", test_npy_big_endian);
  CU_add_test (suite, "npy little-endian i8/u4/f4",
               test_npy_little_endian_types);
  CU_add_test (suite, "npy fortran order 2x3", test_npy_fortran_order);
  CU_add_test (suite, "npy versions 2.0/3.0 and dict syntax",
               test_npy_versions_and_dict);
  CU_add_test (suite, "npy malformed headers", test_npy_bad_header);
  CU_add_test (suite, "npy write/read", test_npy_write_read);
  CU_add_test (suite, "negative, NaN, no spectra", test_spectra_bad_counts);
  CU_add_test (suite, "csv row-count mismatch", test_csv_row_mismatch);
  CU_add_test (suite, "csv bad calibration", test_csv_bad_calibration);
  CU_add_test (suite, "csv quoting, CRLF, truth, errors", test_csv_format);
  CU_add_test (suite, "labelled write/read round trip",
               test_write_read_roundtrip);
  CU_add_test (suite, "text reader", test_text_reader);
  CU_add_test (suite, "dispatch by content", test_dispatch_by_content);
}
