/* gspec/formats.h: SPE and CSV/TXT readers and writers, detection by
 * content, the file-level read/write calls, conversion to and from
 * gs_spectra, and truncated or hostile input (every prefix and many
 * single-byte edits of every sample read without a crash; run under
 * ASan too).  Samples are hand-written in tests/fixtures/formats/ from
 * the format facts in ../shared/reference/spectrum-formats.md. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gspec/formats.h"
#include "gspec/spectra.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

#define FIXTURES GSPEC_SOURCE_DIR "/tests/fixtures/formats"

static const char *const samples[]
    = { "ortec.spe",      "iaea.spe",     "iaea_as_txt.txt",
        "one_column.txt", "channels.csv", "energy_semicolon.csv",
        "tabs.tsv" };
#define N_SAMPLES (sizeof samples / sizeof samples[0])

static char *
slurp_fixture (const char *name, size_t *len)
{
  char *path = gs__path_join (FIXTURES, name), *data = NULL;
  if (gs__read_file (path, &data, len) != GS_OK)
    {
      fprintf (stderr, "\n  cannot read fixture %s: %s\n", path,
               gs_last_error ());
      data = NULL;
    }
  free (path);
  return data;
}

static gs_specfile *
read_fixture (const char *name)
{
  char *path = gs__path_join (FIXTURES, name);
  gs_specfile *f = NULL;
  int rc = gs_specfile_read (path, &f);
  if (rc)
    fprintf (stderr, "\n  %s: %s\n", path, gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  free (path);
  return f;
}

/* Reads a literal text as the given format (UNKNOWN: detected). */
static int
read_text (const char *text, gs_format fmt, gs_specfile **f)
{
  size_t n = strlen (text);
  /* An exact-size copy: ASan sees any read past the end. */
  char *copy = malloc (n ? n : 1);
  int rc;
  memcpy (copy, text, n);
  rc = gs_specfile_read_mem (copy, n, "literal", fmt, f);
  free (copy);
  return rc;
}

static int
same_bits (double a, double b)
{
  return memcmp (&a, &b, sizeof a) == 0;
}

/* ---- names and detection --------------------------------------------- */

static void
test_formats_names (void)
{
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_N42), "n42");
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_SPE), "spe");
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_CHN), "chn");
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_CNF), "cnf");
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_CSV), "csv");
  CU_ASSERT_STRING_EQUAL (gs_format_name (GS_FORMAT_UNKNOWN), "unknown");
  CU_ASSERT_STRING_EQUAL (gs_format_name ((gs_format)77), "unknown");
  CU_ASSERT_EQUAL (gs_format_from_name ("SPE"), GS_FORMAT_SPE);
  CU_ASSERT_EQUAL (gs_format_from_name ("n42"), GS_FORMAT_N42);
  CU_ASSERT_EQUAL (gs_format_from_name ("Csv"), GS_FORMAT_CSV);
  CU_ASSERT_EQUAL (gs_format_from_name ("cnf"), GS_FORMAT_CNF);
  CU_ASSERT_EQUAL (gs_format_from_name ("chn"), GS_FORMAT_CHN);
  CU_ASSERT_EQUAL (gs_format_from_name ("pcf"), GS_FORMAT_UNKNOWN);
  CU_ASSERT_EQUAL (gs_format_from_name (NULL), GS_FORMAT_UNKNOWN);
}

static void
test_formats_detect (void)
{
  static const gs_format want[N_SAMPLES]
      = { GS_FORMAT_SPE, GS_FORMAT_SPE, GS_FORMAT_SPE, GS_FORMAT_CSV,
          GS_FORMAT_CSV, GS_FORMAT_CSV, GS_FORMAT_CSV };
  const char *n42_2012 = "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n"
                         "<!-- a comment -->\n"
                         "<RadInstrumentData xmlns=\"http://physics.nist.gov/"
                         "N42/2011/N42\">\n";
  const char *n42_2006 = "<?xml version=\"1.0\"?>\n<n42:N42InstrumentData "
                         "xmlns:n42=\"http://physics.nist.gov/N42/2006/N42\">";
  unsigned char chn[64], cnf[0x70 + 0x30 * 3];
  size_t i, len;
  for (i = 0; i < N_SAMPLES; i++)
    {
      char *d = slurp_fixture (samples[i], &len);
      CU_ASSERT_PTR_NOT_NULL_FATAL (d);
      /* The name never overrides content. */
      CU_ASSERT_EQUAL (gs_format_detect (d, len, samples[i]), want[i]);
      CU_ASSERT_EQUAL (gs_format_detect (d, len, NULL), want[i]);
      CU_ASSERT_EQUAL (gs_format_detect (d, len, "x.n42"), want[i]);
      free (d);
    }
  CU_ASSERT_EQUAL (gs_format_detect (n42_2012, strlen (n42_2012), "a.xml"),
                   GS_FORMAT_N42);
  CU_ASSERT_EQUAL (gs_format_detect (n42_2006, strlen (n42_2006), NULL),
                   GS_FORMAT_N42);
  /* XML of another kind is not N42, nor CSV. */
  CU_ASSERT_EQUAL (gs_format_detect ("<html><body/></html>", 20, "a.n42"),
                   GS_FORMAT_UNKNOWN);
  memset (chn, 0, sizeof chn);
  chn[0] = chn[1] = 0xFF;
  CU_ASSERT_EQUAL (gs_format_detect (chn, sizeof chn, "a.txt"), GS_FORMAT_CHN);
  CU_ASSERT_EQUAL (gs_format_detect (chn, 20, NULL), GS_FORMAT_UNKNOWN);
  memset (cnf, 0, sizeof cnf);
  cnf[0x70] = 0x00, cnf[0x71] = 0x20, cnf[0x72] = 0x01; /* 0x12000 */
  cnf[0xA0] = 0x05, cnf[0xA1] = 0x20, cnf[0xA2] = 0x01; /* 0x12005 */
  CU_ASSERT_EQUAL (gs_format_detect (cnf, sizeof cnf, NULL), GS_FORMAT_CNF);
  CU_ASSERT_EQUAL (gs_format_detect ("", 0, "a.spe"), GS_FORMAT_UNKNOWN);
  CU_ASSERT_EQUAL (gs_format_detect (NULL, 0, NULL), GS_FORMAT_UNKNOWN);
  CU_ASSERT_EQUAL (gs_format_detect ("hello world\nfoo bar\n", 20, "a.csv"),
                   GS_FORMAT_UNKNOWN);
  CU_ASSERT_EQUAL (gs_format_detect ("counts\n", 7, "a.csv"),
                   GS_FORMAT_UNKNOWN);
  CU_ASSERT_EQUAL (gs_format_detect ("1 2 3 4 5\n", 10, NULL),
                   GS_FORMAT_UNKNOWN); /* 5 columns */
  CU_ASSERT_EQUAL (gs_format_detect ("$DATA:\n0 0\n5\n", 13, "a.csv"),
                   GS_FORMAT_SPE);
}

/* ---- SPE ------------------------------------------------------------- */

static void
test_formats_spe_ortec (void)
{
  static const double want[16]
      = { 0, 3, 7, 12, 40, 153, 410, 388, 160, 42, 11, 6, 4, 2, 1, 0 };
  size_t len, i;
  char *raw = slurp_fixture ("ortec.spe", &len);
  gs_specfile *f;
  gs_measurement *m;
  CU_ASSERT_PTR_NOT_NULL_FATAL (raw);
  /* The sample keeps its CRLF line ends (no git normalisation). */
  CU_ASSERT_PTR_NOT_NULL (strstr (raw, "$DATA:\r\n0 15\r\n"));
  free (raw);
  f = read_fixture ("ortec.spe");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->format, GS_FORMAT_SPE);
  CU_ASSERT_EQUAL (f->n, 1);
  GS_ASSERT_CONTAINS (f->source, "ortec.spe");
  m = &f->m[0];
  CU_ASSERT_EQUAL_FATAL (m->n_channels, 16);
  for (i = 0; i < 16; i++)
    CU_ASSERT_EQUAL (m->counts[i], want[i]);
  CU_ASSERT_EQUAL (m->live_time, 297.0);
  CU_ASSERT_EQUAL (m->real_time, 300.0);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2021-03-14T09:26:53");
  /* $MCA_CAL (3 terms) wins over $ENER_FIT (2). */
  CU_ASSERT_EQUAL (m->n_coefs, 3);
  CU_ASSERT_EQUAL (m->coefs[0], -0.5);
  CU_ASSERT_EQUAL (m->coefs[1], 0.75);
  CU_ASSERT_EQUAL (m->coefs[2], 1.25e-6);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Cs-137 check source");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "HPGe-01");
  gs_specfile_free (f);
}

static void
test_formats_spe_iaea (void)
{
  static const double want[10] = { 0, 1200, 35, 7.5, 4, 5, 6, 7, 8, 9 };
  const char *names[] = { "iaea.spe", "iaea_as_txt.txt" };
  size_t i, k;
  for (k = 0; k < 2; k++)
    {
      gs_specfile *f = read_fixture (names[k]);
      gs_measurement *m;
      CU_ASSERT_PTR_NOT_NULL_FATAL (f);
      CU_ASSERT_EQUAL (f->format, GS_FORMAT_SPE);
      m = &f->m[0];
      CU_ASSERT_EQUAL_FATAL (m->n_channels, 10);
      for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL (m->counts[i], want[i]);
      CU_ASSERT_EQUAL (m->live_time, 1000.5);
      CU_ASSERT_EQUAL (m->real_time, 1003.25);
      CU_ASSERT_STRING_EQUAL (m->start_time, "2019-12-25T23:05:01");
      CU_ASSERT_EQUAL (m->n_coefs, 2);
      CU_ASSERT_EQUAL (m->coefs[0], 1.5);
      CU_ASSERT_EQUAL (m->coefs[1], 0.5);
      CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
      CU_ASSERT_STRING_EQUAL (m->title, "IAEA test spectrum\nsecond line");
      CU_ASSERT_PTR_NULL (m->detector);
      gs_specfile_free (f);
    }
}

static void
test_formats_spe_variants (void)
{
  gs_specfile *f = NULL;
  /* CR-only line ends, a first channel above 0 (lower channels are 0),
   * no times, no calibration, a zero $ENER_FIT, ISO date, MeV units. */
  CU_ASSERT_EQUAL (read_text ("$SPEC_ID:\r\r$DATA:\r2 5\r1 2\r3 4\r"
                              "$ENER_FIT:\r0 0\r",
                              GS_FORMAT_UNKNOWN, &f),
                   GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->m[0].n_channels, 6);
  CU_ASSERT_EQUAL (f->m[0].counts[0], 0.0);
  CU_ASSERT_EQUAL (f->m[0].counts[2], 1.0);
  CU_ASSERT_EQUAL (f->m[0].counts[5], 4.0);
  CU_ASSERT (isnan (f->m[0].live_time) && isnan (f->m[0].real_time));
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  CU_ASSERT_PTR_NULL (f->m[0].title);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "");
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL (read_text ("$DATE_MEA:\n2020-01-02 03:04:05\n$DATA:\n"
                              "0 1\n1.5e1 2E+00\n$MCA_CAL:\n2\n0.001 0.002 "
                              "MeV\n$UNKNOWN_BLOCK:\n$x junk\n",
                              GS_FORMAT_SPE, &f),
                   GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "2020-01-02T03:04:05");
  CU_ASSERT_EQUAL (f->m[0].counts[0], 15.0);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], 1.0);
  CU_ASSERT_EQUAL (f->m[0].coefs[1], 2.0);
  gs_specfile_free (f);
  f = NULL;
  /* Two-digit year, date without seconds. */
  CU_ASSERT_EQUAL (read_text ("$DATE_MEA:\n12/31/99 23:59\n$DATA:\n0 0\n1\n",
                              GS_FORMAT_SPE, &f),
                   GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_STRING_EQUAL (f->m[0].start_time, "1999-12-31T23:59:00");
  gs_specfile_free (f);
}

/* Each text must fail with `status`, a message holding `needle`, and
 * *out NULL. */
static void
expect_error (const char *text, gs_format fmt, int status, const char *needle)
{
  gs_specfile *f = (gs_specfile *)&f; /* not NULL: must be reset */
  int rc = read_text (text, fmt, &f);
  if (rc != status)
    fprintf (stderr, "\n  '%.40s...': rc %d (%s), want %d\n", text, rc,
             gs_last_error (), status);
  CU_ASSERT_EQUAL (rc, status);
  CU_ASSERT_PTR_NULL (f);
  if (rc)
    GS_ASSERT_CONTAINS (gs_last_error (), needle);
  if (!rc)
    gs_specfile_free (f);
}

static void
test_formats_spe_bad (void)
{
  /* Absurd sizes are refused before any allocation. */
  expect_error ("$DATA:\n0 4000000000\n1\n", GS_FORMAT_SPE, GS_ENOMEM,
                "literal:2");
  expect_error ("$DATA:\n0 1e300\n1\n", GS_FORMAT_SPE, GS_ENOMEM, "$DATA");
  expect_error ("$DATA:\n5 2\n1\n", GS_FORMAT_SPE, GS_EFORMAT, "first");
  expect_error ("$DATA:\n-1 2\n1\n", GS_FORMAT_SPE, GS_EFORMAT, "literal:2");
  expect_error ("$DATA:\n0 1.5\n1\n", GS_FORMAT_SPE, GS_EFORMAT, "integers");
  expect_error ("$DATA:\n0 nan\n1\n", GS_FORMAT_SPE, GS_EFORMAT, "$DATA");
  expect_error ("$DATA:\n0 2\n1\n-2\n3\n", GS_FORMAT_SPE, GS_EFORMAT,
                "literal:4: $DATA: count 1 is negative");
  expect_error ("$DATA:\n0 2\n1\nnan\n3\n", GS_FORMAT_SPE, GS_EFORMAT,
                "literal:4: $DATA: count 1 is not finite");
  expect_error ("$DATA:\n0 2\n1\ninf\n3\n", GS_FORMAT_SPE, GS_EFORMAT,
                "not finite");
  expect_error ("$DATA:\n0 2\n1\n1e999\n3\n", GS_FORMAT_SPE, GS_EFORMAT,
                "not finite");
  expect_error ("$DATA:\n0 2\n1 2\n", GS_FORMAT_SPE, GS_EFORMAT,
                "2 counts where channels 0 to 2");
  expect_error ("$DATA:\n0 1\n1 2 3\n", GS_FORMAT_SPE, GS_EFORMAT,
                "more counts");
  expect_error ("$DATA:\n0 1\n1 x\n", GS_FORMAT_SPE, GS_EFORMAT,
                "'x' is not a count");
  expect_error ("$DATA:\n", GS_FORMAT_SPE, GS_EFORMAT, "first last");
  expect_error ("$DATA:\n0 1 2\n", GS_FORMAT_SPE, GS_EFORMAT, "first last");
  expect_error ("$SPEC_ID:\nx\n", GS_FORMAT_SPE, GS_EFORMAT, "no $DATA");
  expect_error ("$DATA:\n0 0\n1\n$DATA:\n0 0\n1\n", GS_FORMAT_SPE, GS_EFORMAT,
                "second $DATA");
  expect_error ("junk\n$DATA:\n0 0\n1\n", GS_FORMAT_SPE, GS_EFORMAT,
                "literal:1");
  expect_error ("$MEAS_TIM:\n10\n$DATA:\n0 0\n1\n", GS_FORMAT_SPE, GS_EFORMAT,
                "live real");
  expect_error ("$MEAS_TIM:\n-1 10\n$DATA:\n0 0\n1\n", GS_FORMAT_SPE,
                GS_EFORMAT, "negative");
  expect_error ("$DATE_MEA:\n13/45/2020 10:00:00\n$DATA:\n0 0\n1\n",
                GS_FORMAT_SPE, GS_EFORMAT, "literal:2: $DATE_MEA");
  expect_error ("$DATE_MEA:\n01/02/2020 25:00:00\n$DATA:\n0 0\n1\n",
                GS_FORMAT_SPE, GS_EFORMAT, "not a date");
  expect_error ("$DATA:\n0 0\n1\n$MCA_CAL:\n3\n1 2\n", GS_FORMAT_SPE,
                GS_EFORMAT, "2 coefficients where the count says 3");
  expect_error ("$DATA:\n0 0\n1\n$MCA_CAL:\n99\n1 2\n", GS_FORMAT_SPE,
                GS_EFORMAT, "coefficient count");
  expect_error ("$DATA:\n0 0\n1\n$MCA_CAL:\n2\n1 2 furlong\n", GS_FORMAT_SPE,
                GS_EFORMAT, "unit 'furlong'");
  expect_error ("$DATA:\n0 0\n1\n$ENER_FIT:\n1 nan\n", GS_FORMAT_SPE,
                GS_EFORMAT, "$ENER_FIT");
  /* Detection failures name the file and the formats. */
  expect_error ("hello\nworld\n", GS_FORMAT_UNKNOWN, GS_EFORMAT, "literal");
  expect_error ("hello\nworld\n", GS_FORMAT_UNKNOWN, GS_EFORMAT,
                "IAEA/ORTEC SPE, ORTEC CHN, Canberra CNF and CSV");
  expect_error ("", GS_FORMAT_UNKNOWN, GS_EFORMAT, "empty");
  expect_error ("", GS_FORMAT_SPE, GS_EFORMAT, "no $DATA");
}

/* A measurement with awkward doubles, for the round trips. */
static gs_specfile *
awkward_file (size_t n_channels, size_t n_coefs)
{
  gs_specfile *f = gs_specfile_alloc (1);
  gs_measurement *m = &f->m[0];
  size_t i;
  m->n_channels = n_channels;
  m->counts = malloc (n_channels * sizeof (double));
  for (i = 0; i < n_channels; i++)
    m->counts[i] = (i % 3 == 0) ? (double)(i * 7919 % 1000)
                                : 1.0 / (double)(i + 3) * 1e5;
  m->counts[0] = 12345678901234.0; /* integral, written as an integer */
  m->live_time = 1.0 / 3.0 * 1000.0;
  m->real_time = 314.15926535897931 * 1.0000000001;
  memcpy (m->start_time, "2024-02-29T13:45:07", 20);
  m->n_coefs = n_coefs;
  if (n_coefs > 0)
    m->coefs[0] = -0.12345678901234567;
  if (n_coefs > 1)
    m->coefs[1] = 1.0 / 3.0;
  if (n_coefs > 2)
    m->coefs[2] = 1.2345e-7;
  if (n_coefs > 3)
    m->coefs[3] = -3.3e-11;
  m->title = gs__strdup ("round trip\n$not a block");
  m->detector = gs__strdup ("Det A");
  return f;
}

static void
check_same (const gs_measurement *a, const gs_measurement *b, int times)
{
  size_t i, bad = 0;
  CU_ASSERT_EQUAL_FATAL (a->n_channels, b->n_channels);
  for (i = 0; i < a->n_channels; i++)
    bad += !same_bits (a->counts[i], b->counts[i]);
  CU_ASSERT_EQUAL (bad, 0);
  CU_ASSERT_EQUAL (a->n_coefs, b->n_coefs);
  for (i = 0; i < a->n_coefs && i < b->n_coefs; i++)
    CU_ASSERT (same_bits (a->coefs[i], b->coefs[i]));
  if (times)
    {
      CU_ASSERT (same_bits (a->live_time, b->live_time));
      CU_ASSERT (same_bits (a->real_time, b->real_time));
      CU_ASSERT_STRING_EQUAL (a->start_time, b->start_time);
    }
  CU_ASSERT_PTR_NOT_NULL_FATAL (b->detector);
  CU_ASSERT_STRING_EQUAL (a->detector, b->detector);
}

/* Writes f as fmt into dir, checks that no temporary file is left, and
 * reads it back (detected by content). */
static gs_specfile *
write_read (const gs_specfile *f, const char *dir, const char *name,
            gs_format fmt)
{
  char *path = gs__path_join (dir, name);
  gs_specfile *g = NULL;
  DIR *d;
  struct dirent *e;
  size_t n = 0;
  int rc = gs_specfile_write (f, path, fmt);
  if (rc)
    fprintf (stderr, "\n  write %s: %s\n", path, gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  d = opendir (dir);
  while (d && (e = readdir (d)) != NULL)
    if (strstr (e->d_name, ".tmp."))
      n++;
  if (d)
    closedir (d);
  CU_ASSERT_EQUAL (n, 0);
  rc = gs_specfile_read (path, &g);
  if (rc)
    fprintf (stderr, "\n  read %s: %s\n", path, gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  if (g)
    CU_ASSERT_EQUAL (g->format, fmt);
  free (path);
  return g;
}

static void
test_formats_spe_round_trip (void)
{
  char *dir = gs_test_tmpdir ();
  size_t nc;
  for (nc = 0; nc <= 4; nc++)
    {
      gs_specfile *f = awkward_file (37, nc), *g;
      g = write_read (f, dir, "rt.spe", GS_FORMAT_SPE);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g);
      check_same (&f->m[0], &g->m[0], 1);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g->m[0].title);
      /* A title line starting with '$' is kept off the block start. */
      CU_ASSERT_STRING_EQUAL (g->m[0].title, "round trip\n $not a block");
      gs_specfile_free (g);
      /* NAN times are omitted and read back as NAN. */
      f->m[0].live_time = NAN;
      f->m[0].real_time = NAN;
      f->m[0].start_time[0] = '\0';
      g = write_read (f, dir, "rt.spe", GS_FORMAT_SPE);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g);
      check_same (&f->m[0], &g->m[0], 0);
      CU_ASSERT (isnan (g->m[0].live_time) && isnan (g->m[0].real_time));
      CU_ASSERT_STRING_EQUAL (g->m[0].start_time, "");
      gs_specfile_free (g);
      gs_specfile_free (f);
    }
  gs_test_rmtree (dir);
  free (dir);
}

/* ---- CSV ------------------------------------------------------------- */

static void
test_formats_csv_read (void)
{
  gs_specfile *f;
  size_t i;
  f = read_fixture ("one_column.txt");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->format, GS_FORMAT_CSV);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_channels, 4);
  CU_ASSERT_EQUAL (f->m[0].counts[0], 10.0);
  CU_ASSERT_EQUAL (f->m[0].counts[3], 5.5);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  CU_ASSERT (isnan (f->m[0].live_time));
  gs_specfile_free (f);

  f = read_fixture ("channels.csv");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_channels, 4);
  CU_ASSERT_EQUAL (f->m[0].counts[0], 5.0);
  CU_ASSERT_EQUAL (f->m[0].counts[2], 7.0);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  gs_specfile_free (f);

  /* Energies E = 2 + 0.5 ch + 0.001 ch^2, decimal commas. */
  f = read_fixture ("energy_semicolon.csv");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_channels, 10);
  for (i = 0; i < 10; i++)
    CU_ASSERT_EQUAL (f->m[0].counts[i], 100.0 + (double)i);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_coefs, 3);
  CU_ASSERT (fabs (f->m[0].coefs[0] - 2.0) < 1e-9);
  CU_ASSERT (fabs (f->m[0].coefs[1] - 0.5) < 1e-9);
  CU_ASSERT (fabs (f->m[0].coefs[2] - 0.001) < 1e-9);
  gs_specfile_free (f);

  /* Channels from 2: channels 0 and 1 are 0. */
  f = read_fixture ("tabs.tsv");
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL_FATAL (f->m[0].n_channels, 5);
  CU_ASSERT_EQUAL (f->m[0].counts[1], 0.0);
  CU_ASSERT_EQUAL (f->m[0].counts[2], 11.0);
  CU_ASSERT_EQUAL (f->m[0].counts[4], 13.0);
  gs_specfile_free (f);

  /* Linear energies, blank separated; an energy header over integral,
   * consecutive values still means energies. */
  f = NULL;
  CU_ASSERT_EQUAL (
      read_text ("10.5 1\n11.0 2\n11.5 3\n", GS_FORMAT_UNKNOWN, &f), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], 10.5);
  CU_ASSERT_EQUAL (f->m[0].coefs[1], 0.5);
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL (
      read_text ("energy_keV,counts\n5,1\n6,2\n7,3\n", GS_FORMAT_CSV, &f),
      GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->m[0].n_channels, 3);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[0].coefs[0], 5.0);
  gs_specfile_free (f);
  /* Irregular energies: counts kept, no calibration. */
  f = NULL;
  CU_ASSERT_EQUAL (
      read_text ("1.5,1\n2.5,2\n2.6,3\n9.9,4\n", GS_FORMAT_CSV, &f), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  CU_ASSERT_EQUAL (f->m[0].n_channels, 4);
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 0);
  gs_specfile_free (f);
}

static void
test_formats_csv_bad (void)
{
  expect_error ("1\n-2\n3\n", GS_FORMAT_CSV, GS_EFORMAT,
                "literal:2: negative count");
  expect_error ("1\nnan\n3\n", GS_FORMAT_CSV, GS_EFORMAT,
                "literal:2: column 1 is not finite");
  expect_error ("0,1\n1,inf\n", GS_FORMAT_CSV, GS_EFORMAT, "literal:2");
  expect_error ("0,1\n1,2,3\n", GS_FORMAT_CSV, GS_EFORMAT,
                "literal:2: 3 columns where line 1 has 2");
  expect_error ("a,b\nc,d\n", GS_FORMAT_CSV, GS_EFORMAT, "literal:2");
  expect_error ("1,2,3,4\n", GS_FORMAT_CSV, GS_EFORMAT, "more than 3");
  expect_error ("5.5,1\n4.5,2\n", GS_FORMAT_CSV, GS_EFORMAT,
                "neither channel numbers");
  expect_error ("7,1,1\n9,2,2\n", GS_FORMAT_CSV, GS_EFORMAT, "channel numbers");
  expect_error ("# only a comment\nheader\n", GS_FORMAT_CSV, GS_EFORMAT,
                "no counts");
  expect_error ("", GS_FORMAT_CSV, GS_EFORMAT, "no counts");
  expect_error ("1048575,1\n1048576,2\n", GS_FORMAT_CSV, GS_ENOMEM,
                "channel 1048576 is past the limit");
  expect_error ("# live_time_s: -3\n1\n", GS_FORMAT_CSV, GS_EFORMAT,
                "literal:1");
}

static void
test_formats_csv_round_trip (void)
{
  char *dir = gs_test_tmpdir ();
  size_t nc;
  for (nc = 0; nc <= 4; nc++)
    {
      gs_specfile *f = awkward_file (41, nc), *g;
      g = write_read (f, dir, "rt.csv", GS_FORMAT_CSV);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g);
      check_same (&f->m[0], &g->m[0], 1);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g->m[0].title);
      CU_ASSERT_STRING_EQUAL (g->m[0].title, f->m[0].title);
      gs_specfile_free (g);
      /* Named .txt, still read as CSV. */
      f->m[0].live_time = NAN;
      g = write_read (f, dir, "rt.txt", GS_FORMAT_CSV);
      CU_ASSERT_PTR_NOT_NULL_FATAL (g);
      check_same (&f->m[0], &g->m[0], 0);
      CU_ASSERT (isnan (g->m[0].live_time));
      gs_specfile_free (g);
      gs_specfile_free (f);
    }
  gs_test_rmtree (dir);
  free (dir);
}

/* ---- file level ------------------------------------------------------ */

static void
test_formats_file_errors (void)
{
  char *dir = gs_test_tmpdir (), *path;
  gs_specfile *f = (gs_specfile *)&f, *two;
  CU_ASSERT_EQUAL (gs_specfile_read ("/nonexistent/x.spe", &f), GS_ENOENT);
  CU_ASSERT_PTR_NULL (f);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/x.spe");
  CU_ASSERT_EQUAL (gs_specfile_read (dir, &f), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "directory");
  free (gs_test_write (dir, "junk.spe", "not a spectrum\n"));
  path = gs__path_join (dir, "junk.spe");
  CU_ASSERT_EQUAL (gs_specfile_read (path, &f), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "junk.spe");
  free (path);
  free (gs_test_write (dir, "empty.csv", ""));
  path = gs__path_join (dir, "empty.csv");
  CU_ASSERT_EQUAL (gs_specfile_read (path, &f), GS_EFORMAT);
  free (path);
  CU_ASSERT_EQUAL (gs_specfile_read_mem ("1\n", 2, "x", GS_FORMAT_CSV, NULL),
                   GS_EINVAL);

  /* Writers: SPE and CSV take one measurement; CHN is not written. */
  two = gs_specfile_alloc (2);
  two->m[0].n_channels = two->m[1].n_channels = 2;
  two->m[0].counts = calloc (2, sizeof (double));
  two->m[1].counts = calloc (2, sizeof (double));
  path = gs__path_join (dir, "two.spe");
  CU_ASSERT_EQUAL (gs_specfile_write (two, path, GS_FORMAT_SPE), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "2");
  CU_ASSERT_EQUAL (gs_specfile_write (two, path, GS_FORMAT_CSV), GS_EINVAL);
  CU_ASSERT_EQUAL (gs_specfile_write (two, path, GS_FORMAT_CHN),
                   GS_EUNSUPPORTED);
  CU_ASSERT (!gs_test_file_exists (dir, "two.spe"));
  free (path);
  /* Bad counts are refused before anything is written. */
  two->n = 1;
  two->m[0].counts[1] = NAN;
  path = gs__path_join (dir, "nan.spe");
  CU_ASSERT_EQUAL (gs_specfile_write (two, path, GS_FORMAT_SPE), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 1");
  CU_ASSERT (!gs_test_file_exists (dir, "nan.spe"));
  free (path);
  path = gs__path_join (dir, "no/such/dir.spe");
  two->m[0].counts[1] = 1;
  CU_ASSERT_EQUAL (gs_specfile_write (two, path, GS_FORMAT_SPE), GS_EIO);
  free (path);
  two->n = 2;
  gs_specfile_free (two);
  gs_specfile_free (NULL);
  gs_test_rmtree (dir);
  free (dir);
}

/* ---- truncated and hostile input ------------------------------------- */

/* Reads buf[0..len) as fmt from an exact-size copy; the result must be
 * GS_OK with a valid file, GS_EFORMAT or GS_ENOMEM.  Returns 1 if so. */
static int
read_ok_or_error (const char *buf, size_t len, gs_format fmt)
{
  char *copy = malloc (len ? len : 1);
  gs_specfile *f = NULL;
  int rc, ok;
  memcpy (copy, buf, len);
  rc = gs_specfile_read_mem (copy, len, "fuzz", fmt, &f);
  ok = rc == GS_OK || rc == GS_EFORMAT || rc == GS_ENOMEM;
  if (rc == GS_OK)
    {
      size_t i;
      ok = f && f->n >= 1 && f->m[0].n_channels >= 1;
      for (i = 0; ok && i < f->m[0].n_channels; i++)
        ok = isfinite (f->m[0].counts[i]) && f->m[0].counts[i] >= 0;
    }
  else
    ok = ok && f == NULL && gs_last_error ()[0] != '\0';
  gs_specfile_free (f);
  free (copy);
  return ok;
}

static void
test_formats_truncated (void)
{
  static const gs_format fmts[]
      = { GS_FORMAT_UNKNOWN, GS_FORMAT_SPE, GS_FORMAT_CSV };
  size_t s, cut, k, bad = 0, reads = 0;
  for (s = 0; s < N_SAMPLES; s++)
    {
      size_t len;
      char *d = slurp_fixture (samples[s], &len);
      CU_ASSERT_PTR_NOT_NULL_FATAL (d);
      for (cut = 0; cut <= len; cut++)
        for (k = 0; k < 3; k++)
          {
            bad += !read_ok_or_error (d, cut, fmts[k]);
            reads++;
          }
      free (d);
    }
  printf ("\n  %zu truncated reads, %zu bad\n", reads, bad);
  CU_ASSERT_EQUAL (bad, 0);
}

static void
test_formats_hostile (void)
{
  static const char edits[] = { '$',  '\n', '\r', '-', 'e', '9',
                                '\0', ',',  ':',  ' ', '.', (char)0xFF };
  size_t s, i, k, bad = 0, reads = 0;
  for (s = 0; s < N_SAMPLES; s++)
    {
      size_t len;
      char *d = slurp_fixture (samples[s], &len);
      CU_ASSERT_PTR_NOT_NULL_FATAL (d);
      for (i = 0; i < len; i++)
        for (k = 0; k < sizeof edits; k++)
          {
            char keep = d[i];
            d[i] = edits[k];
            bad += !read_ok_or_error (d, len, GS_FORMAT_UNKNOWN);
            bad += !read_ok_or_error (d, len, GS_FORMAT_SPE);
            bad += !read_ok_or_error (d, len, GS_FORMAT_CSV);
            reads += 3;
            d[i] = keep;
          }
      free (d);
    }
  printf ("\n  %zu edited reads, %zu bad\n", reads, bad);
  CU_ASSERT_EQUAL (bad, 0);
  /* Lines of a megabyte and more than the channel limit of rows. */
  {
    size_t n = (size_t)1 << 20, rows = GS_FORMAT_MAX_CHANNELS + 1;
    char *big = malloc (rows * 2);
    memset (big, '7', n);
    CU_ASSERT (read_ok_or_error (big, n, GS_FORMAT_SPE));
    CU_ASSERT (read_ok_or_error (big, n, GS_FORMAT_CSV));
    for (i = 0; i < rows; i++)
      big[2 * i] = '1', big[2 * i + 1] = '\n';
    {
      gs_specfile *f = NULL;
      CU_ASSERT_EQUAL (
          gs_specfile_read_mem (big, rows * 2, "rows", GS_FORMAT_UNKNOWN, &f),
          GS_ENOMEM);
      GS_ASSERT_CONTAINS (gs_last_error (), "limit");
      CU_ASSERT_PTR_NULL (f);
    }
    free (big);
  }
}

/* ---- gs_spectra ------------------------------------------------------ */

static void
test_formats_spectra (void)
{
  gs_specfile *f = gs_specfile_alloc (3), *g = NULL;
  gs_spectra *s = NULL, *t = NULL;
  size_t i, j;
  for (i = 0; i < 3; i++)
    {
      gs_measurement *m = &f->m[i];
      m->n_channels = 8;
      m->counts = malloc (8 * sizeof (double));
      for (j = 0; j < 8; j++)
        m->counts[j] = (double)(i * 10 + j) + 0.25;
      m->live_time = 100.0 + (double)i / 3.0;
      m->real_time = i == 1 ? NAN : 200.0 + (double)i;
      m->n_coefs = 3;
      m->coefs[0] = -1.0 / 7.0 + (double)i;
      m->coefs[1] = 2.0 / 3.0;
      m->coefs[2] = 1e-6 * (double)(i + 1);
      if (i != 2)
        snprintf (m->start_time, sizeof m->start_time,
                  "2023-0%zu-01T00:00:0%zu", i + 1, i);
      m->title = i == 0 ? NULL : gs__strdup ("a title, with \"quotes\"");
    }
  f->source = gs__strdup ("mem");
  CU_ASSERT_EQUAL_FATAL (gs_specfile_to_spectra (f, &s), GS_OK);
  CU_ASSERT_EQUAL (s->n_spectra, 3);
  CU_ASSERT_EQUAL (s->n_channels, 8);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s->cal_quad);
  CU_ASSERT_EQUAL (s->cal_quad[2], 3e-6);
  CU_ASSERT_EQUAL (s->counts[2 * 8 + 7], 27.25);
  CU_ASSERT_STRING_EQUAL (s->labels[0], "");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 1, "real_time_s"), "");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 0, "start_time"),
                          "2023-01-01T00:00:00");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (s, 0, "title"), "");
  CU_ASSERT_EQUAL_FATAL (gs_specfile_from_spectra (s, &g), GS_OK);
  CU_ASSERT_EQUAL_FATAL (g->n, 3);
  for (i = 0; i < 3; i++)
    {
      const gs_measurement *a = &f->m[i], *b = &g->m[i];
      CU_ASSERT_EQUAL (b->n_channels, 8);
      CU_ASSERT (memcmp (a->counts, b->counts, 8 * sizeof (double)) == 0);
      CU_ASSERT_EQUAL (b->n_coefs, 3);
      CU_ASSERT (memcmp (a->coefs, b->coefs, 3 * sizeof (double)) == 0);
      CU_ASSERT (same_bits (a->live_time, b->live_time));
      CU_ASSERT (isnan (a->real_time) ? isnan (b->real_time)
                                      : same_bits (a->real_time, b->real_time));
      CU_ASSERT_STRING_EQUAL (a->start_time, b->start_time);
      CU_ASSERT ((a->title == NULL) == (b->title == NULL));
      if (a->title && b->title)
        CU_ASSERT_STRING_EQUAL (a->title, b->title);
    }
  /* Back again: the same set. */
  CU_ASSERT_EQUAL_FATAL (gs_specfile_to_spectra (g, &t), GS_OK);
  CU_ASSERT (memcmp (s->counts, t->counts, 24 * sizeof (double)) == 0);
  CU_ASSERT (memcmp (s->cal_slope, t->cal_slope, 3 * sizeof (double)) == 0);
  gs_spectra_free (t);
  gs_specfile_free (g);
  gs_spectra_free (s);
  s = NULL;

  /* A cubic term: unsupported, named; a zero one is fine. */
  f->m[1].n_coefs = 4;
  f->m[1].coefs[3] = 0.0;
  CU_ASSERT_EQUAL (gs_specfile_to_spectra (f, &s), GS_OK);
  gs_spectra_free (s);
  s = (gs_spectra *)&s;
  f->m[1].coefs[3] = 1e-9;
  CU_ASSERT_EQUAL (gs_specfile_to_spectra (f, &s), GS_EUNSUPPORTED);
  CU_ASSERT_PTR_NULL (s);
  GS_ASSERT_CONTAINS (gs_last_error (), "measurement 2");
  GS_ASSERT_CONTAINS (gs_last_error (), "degree 3");
  f->m[1].n_coefs = 3;
  /* Channel counts must agree. */
  f->m[2].n_channels = 7;
  CU_ASSERT_EQUAL (gs_specfile_to_spectra (f, &s), GS_EBADLEN);
  f->m[2].n_channels = 8;
  /* Without calibration: no calibration columns. */
  for (i = 0; i < 3; i++)
    f->m[i].n_coefs = 0;
  CU_ASSERT_EQUAL_FATAL (gs_specfile_to_spectra (f, &s), GS_OK);
  CU_ASSERT_PTR_NULL (s->cal_offset);
  CU_ASSERT_EQUAL_FATAL (gs_specfile_from_spectra (s, &g), GS_OK);
  CU_ASSERT_EQUAL (g->m[0].n_coefs, 0);
  gs_specfile_free (g);
  /* Bad spectra are refused. */
  s->counts[3] = -1.0;
  g = (gs_specfile *)&g;
  CU_ASSERT_EQUAL (gs_specfile_from_spectra (s, &g), GS_EBADDATA);
  CU_ASSERT_PTR_NULL (g);
  gs_spectra_free (s);
  gs_specfile_free (f);
}

void gs_test_register_formats (void);
void
gs_test_register_formats (void)
{
  CU_pSuite s = CU_add_suite ("formats", NULL, NULL);
  CU_add_test (s, "format names", test_formats_names);
  CU_add_test (s, "detection by content", test_formats_detect);
  CU_add_test (s, "SPE: ORTEC sample, CRLF, $MCA_CAL", test_formats_spe_ortec);
  CU_add_test (s, "SPE: IAEA sample, $ENER_FIT, .txt name",
               test_formats_spe_iaea);
  CU_add_test (s, "SPE: variants", test_formats_spe_variants);
  CU_add_test (s, "SPE: bad input", test_formats_spe_bad);
  CU_add_test (s, "SPE: round trip", test_formats_spe_round_trip);
  CU_add_test (s, "CSV: read", test_formats_csv_read);
  CU_add_test (s, "CSV: bad input", test_formats_csv_bad);
  CU_add_test (s, "CSV: round trip", test_formats_csv_round_trip);
  CU_add_test (s, "file read/write errors", test_formats_file_errors);
  CU_add_test (s, "every truncation", test_formats_truncated);
  CU_add_test (s, "hostile edits", test_formats_hostile);
  CU_add_test (s, "to and from gs_spectra", test_formats_spectra);
}
