/* The binary spectrum readers: ORTEC CHN (and its writer) and Canberra
 * CNF.  Files are built here byte by byte from the layouts written in
 * formats_chn.c and formats_cnf.c, with this file's own little-endian
 * and PDP-11 encoders, then read through gs_specfile_read_mem with the
 * format given and detected.  Every truncation of each sample is read
 * from a buffer of exactly that size (so AddressSanitizer sees any read
 * past it) and must fail cleanly; hostile sizes and offsets fail with
 * GS_EFORMAT naming the byte. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats_internal.h"
#include "gspec/formats.h"
#include "gspec/status.h"
#include "test_util.h"

/* Internal, defined in formats_cnf.c. */
double gs__cnf_pdp11_float (const unsigned char *p);

/* ---- byte builders --------------------------------------------------- */

static void
put16 (unsigned char *p, unsigned v)
{
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void
put32 (unsigned char *p, uint32_t v)
{
  put16 (p, v & 0xffff);
  put16 (p + 2, (v >> 16) & 0xffff);
}

static void
put64 (unsigned char *p, uint64_t v)
{
  put32 (p, (uint32_t)(v & 0xffffffffu));
  put32 (p + 4, (uint32_t)(v >> 32));
}

static void
putf32 (unsigned char *p, float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  put32 (p, u);
}

/* v (exactly representable in 24 bits of mantissa) as a PDP-11 / VAX F
 * float: v = 0.1fff (binary) * 2^(e - 128), word 0 = sign, e, top 7
 * fraction bits; word 1 = low 16 bits. */
static void
put_vax (unsigned char *p, double v)
{
  int e2, sign = v < 0;
  double mant;
  uint32_t frac24;
  unsigned w0;
  if (v == 0.0)
    {
      memset (p, 0, 4);
      return;
    }
  mant = frexp (fabs (v), &e2);        /* [0.5, 1) */
  frac24 = (uint32_t)ldexp (mant, 24); /* hidden bit at 2^23 */
  CU_ASSERT_FATAL (ldexp ((double)frac24, e2 - 24) == fabs (v));
  w0 = (unsigned)(sign << 15) | (unsigned)((e2 + 128) << 7)
       | ((frac24 >> 16) & 0x7f);
  put16 (p, w0);
  put16 (p + 2, frac24 & 0xffff);
}

/* Reads buf[0..len) from an exact-size heap copy. */
static int
read_copy (const unsigned char *buf, size_t len, const char *name,
           gs_format fmt, gs_specfile **out)
{
  unsigned char *c = malloc (len ? len : 1);
  int rc;
  CU_ASSERT_FATAL (c != NULL);
  if (len)
    memcpy (c, buf, len);
  rc = gs_specfile_read_mem (len ? c : NULL, len, name, fmt, out);
  free (c);
  return rc;
}

/* ---- CHN samples ----------------------------------------------------- */

enum
{
  CHN_N = 16,
  CHN_LEN = 32 + 4 * CHN_N + 512
};

static uint32_t
chn_count (size_t i)
{
  return i == 5 ? 4000000000u : (uint32_t)(i * i * 1000 + 7);
}

/* A CHN file with a -102 trailer: 15 Jan 2024 13:42:07, real 122.46 s,
 * live 120 s, E = 1.5 + 0.75 c + 1e-4 c^2, detector "HPGe 1", sample
 * "Cs-137 check". */
static void
build_chn (unsigned char *b)
{
  size_t i, t = 32 + 4 * CHN_N;
  memset (b, 0, CHN_LEN);
  put16 (b, 0xffff);
  put16 (b + 2, 3);
  put16 (b + 4, 1);
  memcpy (b + 6, "07", 2);
  put32 (b + 8, 6123);
  put32 (b + 12, 6000);
  memcpy (b + 16, "15JAN241", 8);
  memcpy (b + 24, "1342", 4);
  put16 (b + 28, 0);
  put16 (b + 30, CHN_N);
  for (i = 0; i < CHN_N; i++)
    put32 (b + 32 + 4 * i, chn_count (i));
  put16 (b + t, (unsigned)(uint16_t)-102);
  putf32 (b + t + 4, 1.5f);
  putf32 (b + t + 8, 0.75f);
  putf32 (b + t + 12, 1e-4f);
  putf32 (b + t + 16, 1.0f); /* FWHM, not read */
  b[t + 256] = 6;
  memcpy (b + t + 257, "HPGe 1", 6);
  b[t + 320] = 14;
  memcpy (b + t + 321, "Cs-137 check  ", 14);
}

static void
check_chn_sample (const gs_specfile *f)
{
  const gs_measurement *m;
  size_t i;
  CU_ASSERT_EQUAL_FATAL (f->n, 1);
  m = &f->m[0];
  CU_ASSERT_EQUAL (f->format, GS_FORMAT_CHN);
  CU_ASSERT_EQUAL_FATAL (m->n_channels, CHN_N);
  for (i = 0; i < CHN_N; i++)
    CU_ASSERT_EQUAL (m->counts[i], (double)chn_count (i));
  CU_ASSERT_DOUBLE_EQUAL (m->real_time, 122.46, 1e-12);
  CU_ASSERT_EQUAL (m->live_time, 120.0);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2024-01-15T13:42:07");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 3);
  CU_ASSERT_EQUAL (m->coefs[0], (double)1.5f);
  CU_ASSERT_EQUAL (m->coefs[1], (double)0.75f);
  CU_ASSERT_EQUAL (m->coefs[2], (double)1e-4f);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Cs-137 check");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "HPGe 1");
}

/* With GSPEC_WRITE_FUZZ_SEEDS=DIR set, the built samples are also
 * written to DIR/sample.<ext>: the seed corpus of the fuzz targets
 * (tests/fuzz/corpus/{chn,cnf}/) comes from here. */
static void
write_seed (const unsigned char *b, size_t len, const char *ext)
{
  const char *dir = getenv ("GSPEC_WRITE_FUZZ_SEEDS");
  char path[4096];
  FILE *f;
  if (!dir)
    return;
  snprintf (path, sizeof path, "%s/sample.%s", dir, ext);
  f = fopen (path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (fwrite (b, 1, len, f), len);
  fclose (f);
}

static void
test_chn_read (void)
{
  unsigned char b[CHN_LEN];
  gs_specfile *f = NULL;
  build_chn (b);
  write_seed (b, CHN_LEN, "chn");
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CHN_LEN, "s.chn", GS_FORMAT_CHN, &f),
                         GS_OK);
  check_chn_sample (f);
  CU_ASSERT_STRING_EQUAL (f->source, "s.chn");
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL (gs_format_detect (b, CHN_LEN, NULL), GS_FORMAT_CHN);
  CU_ASSERT_EQUAL_FATAL (
      read_copy (b, CHN_LEN, "sample", GS_FORMAT_UNKNOWN, &f), GS_OK);
  check_chn_sample (f);
  gs_specfile_free (f);
}

static void
test_chn_variants (void)
{
  unsigned char b[CHN_LEN];
  size_t t = 32 + 4 * CHN_N, i;
  gs_specfile *f = NULL;

  /* No trailer: no calibration, no strings. */
  build_chn (b);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, t, "a.chn", GS_FORMAT_CHN, &f), GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  CU_ASSERT_PTR_NULL (f->m[0].title);
  CU_ASSERT_PTR_NULL (f->m[0].detector);
  CU_ASSERT_EQUAL (f->m[0].counts[CHN_N - 1], (double)chn_count (CHN_N - 1));
  gs_specfile_free (f);

  /* -101: two coefficients; century flag '0': 1924; lower-case month. */
  build_chn (b);
  put16 (b + t, (unsigned)(uint16_t)-101);
  b[23] = '0';
  memcpy (b + 18, "jan", 3);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CHN_LEN, "b.chn", GS_FORMAT_CHN, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], 1.5);
  CU_ASSERT_EQUAL (f->m[0].coefs[1], 0.75);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "1924-01-15T13:42:07");
  gs_specfile_free (f);

  /* Start channel 10: E(i) = a + b (10 + i) + q (10 + i)^2. */
  build_chn (b);
  put16 (b + 28, 10);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CHN_LEN, "c.chn", GS_FORMAT_CHN, &f),
                         GS_OK);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_coefs, 3);
  for (i = 0; i < CHN_N; i++)
    {
      double c = 10.0 + (double)i, x = (double)i;
      double want = 1.5 + 0.75 * c + (double)1e-4f * c * c;
      double got
          = f->m[0].coefs[0] + f->m[0].coefs[1] * x + f->m[0].coefs[2] * x * x;
      CU_ASSERT_DOUBLE_EQUAL (got, want, 1e-9);
    }
  gs_specfile_free (f);

  /* All-zero coefficients, an unparsable date, an empty description. */
  build_chn (b);
  putf32 (b + t + 4, 0.0f);
  putf32 (b + t + 8, 0.0f);
  putf32 (b + t + 12, 0.0f);
  memcpy (b + 18, "XYZ", 3);
  b[t + 256] = 0;
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CHN_LEN, "d.chn", GS_FORMAT_CHN, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "");
  CU_ASSERT_PTR_NULL (f->m[0].detector);
  gs_specfile_free (f);

  /* A trailer of another type is not read (SpecUtils meets -1 and 1). */
  build_chn (b);
  put16 (b + t, 1);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, t + 40, "e.chn", GS_FORMAT_CHN, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  CU_ASSERT_PTR_NULL (f->m[0].title);
  gs_specfile_free (f);
}

static void
test_chn_hostile (void)
{
  unsigned char b[CHN_LEN];
  size_t t = 32 + 4 * CHN_N;
  gs_specfile *f = NULL;

  build_chn (b);
  put16 (b + 30, 65535);
  CU_ASSERT_EQUAL (read_copy (b, CHN_LEN, "h.chn", GS_FORMAT_CHN, &f),
                   GS_EFORMAT);
  CU_ASSERT_PTR_NULL (f);
  GS_ASSERT_CONTAINS (gs_last_error (), "byte 30");

  build_chn (b);
  put16 (b + 30, 0);
  CU_ASSERT_EQUAL (read_copy (b, CHN_LEN, "h.chn", GS_FORMAT_CHN, &f),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "byte 30");

  build_chn (b);
  put16 (b, 0xfffe);
  CU_ASSERT_EQUAL (read_copy (b, CHN_LEN, "h.chn", GS_FORMAT_CHN, &f),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "byte 0");

  build_chn (b);
  b[t + 320] = 200;
  CU_ASSERT_EQUAL (read_copy (b, CHN_LEN, "h.chn", GS_FORMAT_CHN, &f),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "description length");

  build_chn (b);
  putf32 (b + t + 8, NAN);
  CU_ASSERT_EQUAL (read_copy (b, CHN_LEN, "h.chn", GS_FORMAT_CHN, &f),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "not finite");
  CU_ASSERT_PTR_NULL (f);
}

static void
test_chn_truncated (void)
{
  unsigned char b[CHN_LEN];
  size_t len, bad = 0, t = 32 + 4 * CHN_N;
  build_chn (b);
  for (len = 0; len < CHN_LEN; len++)
    {
      gs_specfile *f = NULL;
      int rc = read_copy (b, len, "t.chn", GS_FORMAT_CHN, &f);
      if (len == t)
        {
          /* Header and counts without a trailer: a whole file. */
          CU_ASSERT_EQUAL (rc, GS_OK);
          CU_ASSERT (f && f->m[0].n_coefs == 0);
        }
      else if (rc == GS_OK || f != NULL)
        {
          if (!bad++)
            fprintf (stderr, "\n  CHN cut at %zu bytes read\n", len);
        }
      gs_specfile_free (f);
    }
  CU_ASSERT_EQUAL (bad, 0);
}

/* ---- CHN writer ------------------------------------------------------ */

static gs_specfile *
chn_file (size_t n)
{
  gs_specfile *f = gs_specfile_alloc (1);
  gs_measurement *m;
  size_t i;
  CU_ASSERT_FATAL (f != NULL);
  m = &f->m[0];
  m->n_channels = n;
  m->counts = malloc (n * sizeof *m->counts);
  CU_ASSERT_FATAL (m->counts != NULL);
  for (i = 0; i < n; i++)
    m->counts[i] = (double)((i * 7919) % 1000);
  m->counts[n - 1] = 4294967295.0;
  m->live_time = 299.98;
  m->real_time = 301.5;
  snprintf (m->start_time, sizeof m->start_time, "%s", "1998-07-04T09:05:03");
  m->n_coefs = 3;
  m->coefs[0] = -3.14159;
  m->coefs[1] = 0.36621;
  m->coefs[2] = 2.5e-7;
  m->title = malloc (8);
  m->detector = malloc (8);
  CU_ASSERT_FATAL (m->title && m->detector);
  memcpy (m->title, "Sample", 7);
  memcpy (m->detector, "Det A", 6);
  return f;
}

static int
write_mem (const gs_specfile *f, char **buf, size_t *len)
{
  FILE *s = open_memstream (buf, len);
  int rc;
  CU_ASSERT_FATAL (s != NULL);
  rc = gs__write_chn (f, s);
  fclose (s);
  return rc;
}

static void
test_chn_roundtrip (void)
{
  gs_specfile *f = chn_file (1024), *g = NULL;
  const gs_measurement *m = &f->m[0], *r;
  unsigned char *u;
  char *buf = NULL;
  size_t len = 0, i, k;

  CU_ASSERT_EQUAL_FATAL (write_mem (f, &buf, &len), GS_OK);
  CU_ASSERT_EQUAL_FATAL (len, 32 + 4 * 1024 + 512);
  u = (unsigned char *)buf;
  /* The layout, read here without the reader. */
  CU_ASSERT (u[0] == 0xff && u[1] == 0xff);
  CU_ASSERT (u[30] == 0x00 && u[31] == 0x04);
  CU_ASSERT (memcmp (u + 16, "04Jul980", 8) == 0);
  CU_ASSERT (memcmp (u + 24, "0905", 4) == 0);
  CU_ASSERT (memcmp (u + 6, "03", 2) == 0);
  CU_ASSERT (u[32 + 4 * 1024] == 0x9a && u[32 + 4 * 1024 + 1] == 0xff);

  CU_ASSERT_EQUAL_FATAL (
      gs_specfile_read_mem (buf, len, "w.chn", GS_FORMAT_UNKNOWN, &g), GS_OK);
  r = &g->m[0];
  CU_ASSERT_EQUAL_FATAL (r->n_channels, 1024);
  for (i = 0; i < 1024; i++)
    CU_ASSERT_EQUAL (r->counts[i], m->counts[i]);
  /* 20 ms ticks. */
  CU_ASSERT_DOUBLE_EQUAL (r->live_time, 299.98, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (r->real_time, 301.5, 1e-9);
  CU_ASSERT_STRING_EQUAL (r->start_time, m->start_time);
  /* The calibration round-trips to float precision. */
  CU_ASSERT_EQUAL_FATAL (r->n_coefs, 3);
  for (k = 0; k < 3; k++)
    CU_ASSERT_EQUAL (r->coefs[k], (double)(float)m->coefs[k]);
  CU_ASSERT_STRING_EQUAL (r->title, "Sample");
  CU_ASSERT_STRING_EQUAL (r->detector, "Det A");
  gs_specfile_free (g);
  free (buf);
  buf = NULL;

  /* No calibration, no start time, no times: read back as none / "" / 0. */
  f->m[0].n_coefs = 0;
  f->m[0].start_time[0] = '\0';
  f->m[0].live_time = NAN;
  CU_ASSERT_EQUAL_FATAL (write_mem (f, &buf, &len), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_specfile_read_mem (buf, len, "w.chn", GS_FORMAT_CHN, &g), GS_OK);
  CU_ASSERT_EQUAL (g->m[0].n_coefs, 0);
  CU_ASSERT_STRING_EQUAL (g->m[0].start_time, "");
  CU_ASSERT_EQUAL (g->m[0].live_time, 0.0);
  gs_specfile_free (g);
  free (buf);
  buf = NULL;

  /* Refusals. */
  f->m[0].counts[3] = 2.5;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 3");
  free (buf);
  buf = NULL;
  f->m[0].counts[3] = 4294967296.0;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  free (buf);
  buf = NULL;
  f->m[0].counts[3] = -1.0;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  free (buf);
  buf = NULL;
  f->m[0].counts[3] = 3.0;
  f->m[0].n_coefs = 4;
  f->m[0].coefs[3] = 1e-9;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EUNSUPPORTED);
  free (buf);
  buf = NULL;
  f->m[0].coefs[3] = 0.0;
  snprintf (f->m[0].start_time, sizeof f->m[0].start_time, "%s",
            "3001-01-01T00:00:00");
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  free (buf);
  buf = NULL;
  f->m[0].start_time[0] = '\0';
  f->m[0].real_time = -1.0;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  free (buf);
  gs_specfile_free (f);

  f = gs_specfile_alloc (2);
  CU_ASSERT_FATAL (f != NULL);
  buf = NULL;
  CU_ASSERT_EQUAL (write_mem (f, &buf, &len), GS_EINVAL);
  free (buf);
  gs_specfile_free (f);
}

/* ---- CNF samples ----------------------------------------------------- */

enum
{
  CNF_P = 0x200, /* parameter section */
  CNF_S = 0x600, /* strings section */
  CNF_C = 0xA00, /* channel data section */
  CNF_R = 0x150, /* calibration record offset (P+0x22) */
  CNF_T = 0x280, /* time record offset (P+0x24) */
  CNF_N = 512,   /* channels: 2 * 256 */
  CNF_LEN = CNF_C + 0x200 + 4 * CNF_N
};

/* 2024-03-05T06:07:08 in 100 ns ticks since 1858-11-17. */
static const uint64_t cnf_start = 52163356280000000ull;

static uint32_t
cnf_count (size_t i)
{
  return i == 300 ? 3000000000u : (uint32_t)((i * 37) % 501);
}

static void
table_entry (unsigned char *b, size_t i, uint32_t id, uint32_t off)
{
  put32 (b + 0x70 + 0x30 * i, id);
  put32 (b + 0x70 + 0x30 * i + 0x0a, off);
}

/* A CNF file: real 3600.5 s and live 3599.25 s stored negated, E = -1.25
 * + 0.4990234375 c + 2^-15 c^2 keV, detector "GC2018", sample "Soil
 * sample 7". */
static void
build_cnf (unsigned char *b)
{
  size_t i, cal = CNF_P + 0x30 + CNF_R, tim = CNF_P + 0x30 + CNF_T;
  memset (b, 0, CNF_LEN);
  memcpy (b + 0x1e, "Associated", 10);
  table_entry (b, 0, 0x12000, CNF_P);
  table_entry (b, 1, 0x12001, CNF_S);
  table_entry (b, 2, 0x12005, CNF_C);
  /* Parameter section. */
  put32 (b + CNF_P, 0x12000);
  put16 (b + CNF_P + 0x22, CNF_R);
  put16 (b + CNF_P + 0x24, CNF_T);
  memcpy (b + CNF_P + 0xb0, "PHA ", 4);
  put16 (b + CNF_P + 0xba, CNF_N / 256);
  put_vax (b + cal + 0x44, -1.25);
  put_vax (b + cal + 0x48, 0.4990234375);
  put_vax (b + cal + 0x4c, 1.0 / 32768.0);
  put_vax (b + cal + 0x50, 0.0);
  memcpy (b + cal + 0x5c, "keV ", 4);
  memcpy (b + cal + 0x108, "GC2018  ", 8);
  put64 (b + tim + 0x01, cnf_start);
  put64 (b + tim + 0x09, (uint64_t)(-(int64_t)36005000000));
  put64 (b + tim + 0x11, (uint64_t)(-(int64_t)35992500000));
  /* Strings section. */
  put32 (b + CNF_S, 0x12001);
  memcpy (b + CNF_S + 0x30, "Soil sample 7", 13);
  /* Channel data. */
  put32 (b + CNF_C, 0x12005);
  for (i = 0; i < CNF_N; i++)
    put32 (b + CNF_C + 0x200 + 4 * i, cnf_count (i));
}

static void
check_cnf_sample (const gs_specfile *f)
{
  const gs_measurement *m;
  size_t i;
  CU_ASSERT_EQUAL_FATAL (f->n, 1);
  m = &f->m[0];
  CU_ASSERT_EQUAL (f->format, GS_FORMAT_CNF);
  CU_ASSERT_EQUAL_FATAL (m->n_channels, CNF_N);
  for (i = 0; i < CNF_N; i++)
    CU_ASSERT_EQUAL (m->counts[i], (double)cnf_count (i));
  CU_ASSERT_DOUBLE_EQUAL (m->real_time, 3600.5, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (m->live_time, 3599.25, 1e-9);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2024-03-05T06:07:08");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 3);
  CU_ASSERT_EQUAL (m->coefs[0], -1.25);
  CU_ASSERT_EQUAL (m->coefs[1], 0.4990234375);
  CU_ASSERT_EQUAL (m->coefs[2], 1.0 / 32768.0);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Soil sample 7");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "GC2018");
}

static void
test_cnf_pdp11 (void)
{
  static const struct
  {
    unsigned char b[4];
    double v;
  } k[] = {
    { { 0x80, 0x40, 0x00, 0x00 }, 1.0 },
    { { 0x20, 0xc1, 0x00, 0x00 }, -2.5 },
    { { 0x00, 0x00, 0x00, 0x00 }, 0.0 },
    { { 0x40, 0x41, 0x00, 0x00 }, 3.0 },
    { { 0x80, 0x40, 0x01, 0x00 }, 1.0 + 1.0 / 8388608.0 },
    { { 0x00, 0x40, 0x00, 0x00 }, 0.5 },  /* e = 128 */
    { { 0x80, 0x3f, 0x00, 0x00 }, 0.25 }, /* e = 127 */
    { { 0x01, 0x00, 0x34, 0x12 }, 0.0 },  /* dirty zero */
  };
  unsigned char top[4] = { 0xff, 0x7f, 0xff, 0xff };
  unsigned char rsv[4] = { 0x00, 0x80, 0x00, 0x00 };
  unsigned char enc[4];
  size_t i;
  for (i = 0; i < sizeof k / sizeof k[0]; i++)
    {
      double v = gs__cnf_pdp11_float (k[i].b);
      if (v != k[i].v)
        fprintf (stderr, "\n  pattern %zu: %.17g, want %.17g\n", i, v, k[i].v);
      CU_ASSERT_EQUAL (v, k[i].v);
    }
  /* Exponent 255: IEEE would read an infinity; VAX has a number. */
  CU_ASSERT_EQUAL (gs__cnf_pdp11_float (top),
                   ldexp (16777215.0, 255 - 128 - 24));
  CU_ASSERT (isnan (gs__cnf_pdp11_float (rsv)));
  /* This file's encoder and the reader agree. */
  put_vax (enc, -1234.5625);
  CU_ASSERT_EQUAL (gs__cnf_pdp11_float (enc), -1234.5625);
  put_vax (enc, 1.0);
  CU_ASSERT (enc[0] == 0x80 && enc[1] == 0x40 && enc[2] == 0 && enc[3] == 0);
}

static void
test_cnf_read (void)
{
  unsigned char *b = malloc (CNF_LEN);
  gs_specfile *f = NULL;
  CU_ASSERT_FATAL (b != NULL);
  build_cnf (b);
  write_seed (b, CNF_LEN, "cnf");
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "s.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  check_cnf_sample (f);
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL (gs_format_detect (b, CNF_LEN, NULL), GS_FORMAT_CNF);
  CU_ASSERT_EQUAL_FATAL (
      read_copy (b, CNF_LEN, "sample", GS_FORMAT_UNKNOWN, &f), GS_OK);
  check_cnf_sample (f);
  gs_specfile_free (f);
  free (b);
}

static void
test_cnf_variants (void)
{
  unsigned char *b = malloc (CNF_LEN);
  size_t cal = CNF_P + 0x30 + CNF_R, tim = CNF_P + 0x30 + CNF_T;
  gs_specfile *f = NULL;
  CU_ASSERT_FATAL (b != NULL);

  /* MeV; positive durations; start 0 = none; no strings section. */
  build_cnf (b);
  memcpy (b + cal + 0x5c, "MeV ", 4);
  put64 (b + tim + 0x01, 0);
  put64 (b + tim + 0x09, 36005000000ull);
  table_entry (b, 1, 0, 0);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], -1250.0);
  CU_ASSERT_EQUAL (f->m[0].coefs[1], 499.0234375);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "");
  CU_ASSERT_DOUBLE_EQUAL (f->m[0].real_time, 3600.5, 1e-9);
  CU_ASSERT_PTR_NULL (f->m[0].title);
  gs_specfile_free (f);

  /* Durations in years (byte 7 = 0x80). */
  build_cnf (b);
  memset (b + tim + 0x09, 0, 8);
  put32 (b + tim + 0x09, 2);
  b[tim + 0x09 + 7] = 0x80;
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].real_time, 2.0 * 31557600.0);
  gs_specfile_free (f);

  /* A date before 1970 and one past 2038. */
  build_cnf (b);
  put64 (b + tim + 0x01, 10000000ull * (86400ull * 1 + 3661));
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "1858-11-18T01:01:01");
  gs_specfile_free (f);
  build_cnf (b);
  /* 2100-03-01T00:00:00: MJD 88128. */
  put64 (b + tim + 0x01, 10000000ull * 86400ull * 88128ull);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "2100-03-01T00:00:00");
  gs_specfile_free (f);

  /* First parameter section without a calibration: the second one's. */
  build_cnf (b);
  memset (b + cal + 0x44, 0, 16);
  table_entry (b, 3, 0x12000, CNF_S + 0x100);
  put32 (b + CNF_S + 0x100, 0x12000);
  put16 (b + CNF_S + 0x100 + 0x04, 0x0700); /* record offset 0 */
  put_vax (b + CNF_S + 0x100 + 0x30 + 0x44, 2.0);
  put_vax (b + CNF_S + 0x100 + 0x30 + 0x48, 0.25);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], 2.0);
  CU_ASSERT_EQUAL (f->m[0].coefs[1], 0.25);
  CU_ASSERT_STRING_EQUAL (f->m[0].title, "Soil sample 7");
  gs_specfile_free (f);

  /* No calibration anywhere; an unknown unit drops it too. */
  build_cnf (b);
  memset (b + cal + 0x44, 0, 16);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  gs_specfile_free (f);
  build_cnf (b);
  memcpy (b + cal + 0x5c, "Ch  ", 4);
  CU_ASSERT_EQUAL_FATAL (read_copy (b, CNF_LEN, "v.cnf", GS_FORMAT_CNF, &f),
                         GS_OK);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  gs_specfile_free (f);
  free (b);
}

static void
test_cnf_hostile (void)
{
  unsigned char *b = malloc (CNF_LEN), *big;
  size_t cal = CNF_P + 0x30 + CNF_R, i, big_len;
  gs_specfile *f = NULL;
  CU_ASSERT_FATAL (b != NULL);

#define EXPECT_FORMAT(what)                                                    \
  do                                                                           \
    {                                                                          \
      CU_ASSERT_EQUAL (read_copy (b, CNF_LEN, "h.cnf", GS_FORMAT_CNF, &f),     \
                       GS_EFORMAT);                                            \
      CU_ASSERT_PTR_NULL (f);                                                  \
      GS_ASSERT_CONTAINS (gs_last_error (), what);                             \
      gs_specfile_free (f);                                                    \
      f = NULL;                                                                \
    }                                                                          \
  while (0)

  build_cnf (b);
  table_entry (b, 2, 0x12005, 0xffffffffu);
  EXPECT_FORMAT ("byte 218"); /* 0x70 + 0x60 + 0x0a: the entry's offset */
  build_cnf (b);
  table_entry (b, 0, 0x12000, CNF_LEN - 0x10);
  EXPECT_FORMAT ("past the end");
  build_cnf (b);
  table_entry (b, 2, 0x12005, CNF_S);
  EXPECT_FORMAT ("has id 0x12001");
  build_cnf (b);
  put16 (b + CNF_P + 0x24, 0xffff);
  EXPECT_FORMAT ("time record");
  build_cnf (b);
  put16 (b + CNF_P + 0x22, 0xffff);
  EXPECT_FORMAT ("calibration record");
  build_cnf (b);
  put16 (b + CNF_P + 0xba, 0xffff);
  EXPECT_FORMAT ("16776960 channels");
  build_cnf (b);
  put16 (b + CNF_P + 0xba, 0);
  EXPECT_FORMAT ("channel count is 0");
  build_cnf (b);
  b[cal + 0x48 + 1] = 0x80;
  b[cal + 0x48] = 0x00;
  EXPECT_FORMAT ("reserved operand");
  build_cnf (b);
  put64 (b + CNF_P + 0x30 + CNF_T + 0x01, UINT64_MAX);
  EXPECT_FORMAT ("year 9999");
  /* A full table of unknown sections, then no table end. */
  build_cnf (b);
  for (i = 0; i < 60; i++)
    table_entry (b, i, 0x12010, 0xfffffff0u);
  EXPECT_FORMAT ("no parameter section");
  build_cnf (b);
  table_entry (b, 2, 0x12004, CNF_C);
  EXPECT_FORMAT ("no channel data section");
#undef EXPECT_FORMAT

  /* Past the channel limit with the bytes present: GS_ENOMEM. */
  big_len = CNF_C + 0x200 + 4 * (size_t)0x1001 * 256;
  big = calloc (1, big_len);
  CU_ASSERT_FATAL (big != NULL);
  build_cnf (big);
  put16 (big + CNF_P + 0xba, 0x1001);
  CU_ASSERT_EQUAL (
      gs_specfile_read_mem (big, big_len, "big.cnf", GS_FORMAT_CNF, &f),
      GS_ENOMEM);
  CU_ASSERT_PTR_NULL (f);
  free (big);
  free (b);
}

static void
test_cnf_truncated (void)
{
  unsigned char *b = malloc (CNF_LEN);
  size_t len, bad = 0, bad_detect = 0;
  CU_ASSERT_FATAL (b != NULL);
  build_cnf (b);
  for (len = 0; len < CNF_LEN; len++)
    {
      gs_specfile *f = NULL;
      int rc = read_copy (b, len, "t.cnf", GS_FORMAT_CNF, &f);
      if (rc == GS_OK || f != NULL)
        {
          if (!bad++)
            fprintf (stderr, "\n  CNF cut at %zu bytes read\n", len);
        }
      gs_specfile_free (f);
      f = NULL;
      if (len % 64 == 0 || len > CNF_LEN - 8)
        {
          rc = read_copy (b, len, "t.cnf", GS_FORMAT_UNKNOWN, &f);
          if (rc == GS_OK || f != NULL)
            bad_detect++;
          gs_specfile_free (f);
        }
    }
  CU_ASSERT_EQUAL (bad, 0);
  CU_ASSERT_EQUAL (bad_detect, 0);
  free (b);
}

void gs_test_register_formats_bin (void);
void
gs_test_register_formats_bin (void)
{
  CU_pSuite s = CU_add_suite ("formats_bin", NULL, NULL);
  CU_add_test (s, "CHN read, format given and detected", test_chn_read);
  CU_add_test (s, "CHN trailer, date and start-channel variants",
               test_chn_variants);
  CU_add_test (s, "CHN hostile values refused", test_chn_hostile);
  CU_add_test (s, "CHN every truncation refused", test_chn_truncated);
  CU_add_test (s, "CHN writer round trip and refusals", test_chn_roundtrip);
  CU_add_test (s, "PDP-11 float patterns", test_cnf_pdp11);
  CU_add_test (s, "CNF read, format given and detected", test_cnf_read);
  CU_add_test (s, "CNF units, durations, dates, sections", test_cnf_variants);
  CU_add_test (s, "CNF hostile values refused", test_cnf_hostile);
  CU_add_test (s, "CNF every truncation refused", test_cnf_truncated);
}
