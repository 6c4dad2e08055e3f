/* N42 reader and writer: hand-written N42-2012 and N42-2006 files (the
 * lower-edge calibration convention, FullRangeFraction, CountedZeroes,
 * exponent-form counts, several measurements), detection, a write-read
 * round trip, and hostile input (entities, truncation, oversized
 * calibrations and runs). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats_internal.h"
#include "gspec/formats.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

static const char n42_2012[]
    = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<RadInstrumentData xmlns=\"http://physics.nist.gov/N42/2011/N42\"\n"
      "    n42DocUUID=\"d72b7fa7-4a20-43d4-b1b2-7e3b8c6620c1\">\n"
      "  <Remark>Survey &amp; check</Remark>\n"
      "  <RadInstrumentInformation id=\"RadInstrumentInformation-1\">\n"
      "    "
      "<RadInstrumentManufacturerName>Acme</RadInstrumentManufacturerName>\n"
      "    <RadInstrumentModelName>Probe 1</RadInstrumentModelName>\n"
      "    <RadInstrumentClassCode>Spectroscopic Personal Radiation "
      "Detector</RadInstrumentClassCode>\n"
      "  </RadInstrumentInformation>\n"
      "  <RadDetectorInformation id=\"NaI-Front\">\n"
      "    <RadDetectorCategoryCode>Gamma</RadDetectorCategoryCode>\n"
      "    <RadDetectorKindCode>NaI</RadDetectorKindCode>\n"
      "  </RadDetectorInformation>\n"
      "  <EnergyCalibration id=\"ECal-A\">\n"
      "    <CoefficientValues>-1.5 3 0.001</CoefficientValues>\n"
      "  </EnergyCalibration>\n"
      "  <EnergyCalibration id=\"ECal-B\">\n"
      "    <CoefficientValues> 0 2.5 </CoefficientValues>\n"
      "  </EnergyCalibration>\n"
      "  <RadMeasurement id=\"M1\">\n"
      "    <Remark>Background</Remark>\n"
      "    <MeasurementClassCode>Background</MeasurementClassCode>\n"
      "    <StartDateTime>2021-03-04T05:06:07.25Z</StartDateTime>\n"
      "    <RealTimeDuration>PT1H2M3.5S</RealTimeDuration>\n"
      "    <Spectrum id=\"M1-S\" "
      "radDetectorInformationReference=\"NaI-Front\"\n"
      "        energyCalibrationReference=\"ECal-A\">\n"
      "      <LiveTimeDuration>PT3700.25S</LiveTimeDuration>\n"
      "      <ChannelData compressionCode=\"CountedZeroes\">\n"
      "        1.5E+03 0 3 7 2e1\n"
      "        0 2 4\n"
      "      </ChannelData>\n"
      "    </Spectrum>\n"
      "  </RadMeasurement>\n"
      "  <RadMeasurement id=\"M2\">\n"
      "    <MeasurementClassCode>Foreground</MeasurementClassCode>\n"
      "    <StartDateTime>2021-03-04T06:00:00-05:00</StartDateTime>\n"
      "    <RealTimeDuration>PT300.5S</RealTimeDuration>\n"
      "    <Spectrum id=\"M2-S\" "
      "radDetectorInformationReference=\"NaI-Front\"\n"
      "        energyCalibrationReference=\"ECal-B\">\n"
      "      <Remark>Cs-137 check</Remark>\n"
      "      <LiveTimeDuration>PT299S</LiveTimeDuration>\n"
      "      <ChannelData>1 2 3 4 5 6 7 8</ChannelData>\n"
      "    </Spectrum>\n"
      "  </RadMeasurement>\n"
      "</RadInstrumentData>\n";

static const char n42_2006[]
    = "<?xml version=\"1.0\"?>\n"
      "<N42InstrumentData "
      "xmlns=\"http://physics.nist.gov/Standards/N42/2006/N42\">\n"
      "  <Measurement>\n"
      "    <Spectrum Detector=\"HPGe 1\">\n"
      "      <Remark>Sample A</Remark>\n"
      "      <StartTime>2006-07-08T09:10:11</StartTime>\n"
      "      <RealTime>PT120S</RealTime>\n"
      "      <LiveTime>PT119.5S</LiveTime>\n"
      "      <Calibration Type=\"Energy\" EnergyUnits=\"keV\">\n"
      "        <Equation Model=\"Polynomial\">\n"
      "          <Coefficients>10 0.5</Coefficients>\n"
      "        </Equation>\n"
      "      </Calibration>\n"
      "      <ChannelData Compression=\"CountedZeroes\">0 4 5 6</ChannelData>\n"
      "    </Spectrum>\n"
      "  </Measurement>\n"
      "  <Measurement>\n"
      "    <Spectrum Detector=\"HPGe 1\" CalibrationIDs=\"fw1 frf1\">\n"
      "      <StartTime>2006-07-08T10:00:00</StartTime>\n"
      "      <RealTime>PT1M</RealTime>\n"
      "      <LiveTime>PT59S</LiveTime>\n"
      "      <ChannelData>1 2 3 4</ChannelData>\n"
      "    </Spectrum>\n"
      "    <Calibration ID=\"fw1\" Type=\"FWHM\">\n"
      "      <Equation Model=\"Polynomial\"><Coefficients>1 2</Coefficients>"
      "</Equation>\n"
      "    </Calibration>\n"
      "    <Calibration ID=\"frf1\" Type=\"Energy\">\n"
      "      <Equation Model=\"FullRangeFraction\">\n"
      "        <Coefficients>0 3000 100 -50 0</Coefficients>\n"
      "      </Equation>\n"
      "    </Calibration>\n"
      "  </Measurement>\n"
      "</N42InstrumentData>\n";

/* A one-spectrum N42-2012 file with the given coefficients, channel-data
 * attributes and channel data (malloc'd). */
static char *
doc_2012 (const char *coefs, const char *cd_attrs, const char *data)
{
  return gs__asprintf (
      "<?xml version=\"1.0\"?>\n"
      "<RadInstrumentData xmlns=\"http://physics.nist.gov/N42/2011/N42\">\n"
      "<EnergyCalibration id=\"c\"><CoefficientValues>%s"
      "</CoefficientValues></EnergyCalibration>\n"
      "<RadMeasurement id=\"m\"><RealTimeDuration>PT10S</RealTimeDuration>\n"
      "<Spectrum id=\"s\" energyCalibrationReference=\"c\">"
      "<LiveTimeDuration>PT9S</LiveTimeDuration>\n"
      "<ChannelData%s>%s</ChannelData></Spectrum></RadMeasurement>\n"
      "</RadInstrumentData>\n",
      coefs, cd_attrs, data);
}

static int
read_str (const char *s, gs_format fmt, gs_specfile **f)
{
  return gs_specfile_read_mem (s, strlen (s), "test.n42", fmt, f);
}

/* sum c[k] x^k */
static double
poly (const double *c, size_t n, double x)
{
  double e = 0.0;
  size_t k = n;
  while (k-- > 0)
    e = e * x + c[k];
  return e;
}

static void
check_counts (const gs_measurement *m, const double *want, size_t n)
{
  size_t i;
  CU_ASSERT_EQUAL_FATAL (m->n_channels, n);
  for (i = 0; i < n; i++)
    CU_ASSERT_EQUAL (m->counts[i], want[i]);
}

static void
check_2012 (const gs_specfile *f)
{
  static const double c1[] = { 1500, 0, 0, 0, 7, 20, 0, 0, 4 };
  static const double c2[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  const double edge_a[] = { -1.5, 3, 0.001 };
  const gs_measurement *m;
  double ch;

  CU_ASSERT_EQUAL (f->format, GS_FORMAT_N42);
  CU_ASSERT_STRING_EQUAL (f->source, "test.n42");
  CU_ASSERT_EQUAL_FATAL (f->n, 2);
  m = &f->m[0];
  check_counts (m, c1, 9);
  CU_ASSERT_EQUAL (m->real_time, 3723.5);
  CU_ASSERT_EQUAL (m->live_time, 3700.25);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2021-03-04T05:06:07Z");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 3);
  /* Centre of channel ch = lower-edge polynomial at ch + 1/2. */
  CU_ASSERT_DOUBLE_EQUAL (m->coefs[0], 0.00025, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (m->coefs[1], 3.001, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (m->coefs[2], 0.001, 1e-18);
  for (ch = 0; ch < 4096; ch += 511)
    CU_ASSERT (
        gs_test_reldiff (poly (m->coefs, 3, ch), poly (edge_a, 3, ch + 0.5))
        < 1e-12);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Background");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "NaI-Front");

  m = &f->m[1];
  check_counts (m, c2, 8);
  CU_ASSERT_EQUAL (m->real_time, 300.5);
  CU_ASSERT_EQUAL (m->live_time, 299.0);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2021-03-04T06:00:00-05:00");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 2);
  CU_ASSERT_EQUAL (m->coefs[0], 1.25);
  CU_ASSERT_EQUAL (m->coefs[1], 2.5);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Cs-137 check");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "NaI-Front");
}

static void
test_n42_read_2012 (void)
{
  gs_specfile *f = NULL;
  CU_ASSERT_EQUAL (gs_format_detect (n42_2012, strlen (n42_2012), NULL),
                   GS_FORMAT_N42);
  CU_ASSERT_EQUAL_FATAL (read_str (n42_2012, GS_FORMAT_N42, &f), GS_OK);
  check_2012 (f);
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL_FATAL (read_str (n42_2012, GS_FORMAT_UNKNOWN, &f), GS_OK);
  check_2012 (f);
  gs_specfile_free (f);
}

static void
check_2006 (const gs_specfile *f)
{
  static const double c1[] = { 0, 0, 0, 0, 5, 6 };
  static const double c2[] = { 1, 2, 3, 4 };
  const double frf[] = { 0, 3000, 100, -50 };
  const gs_measurement *m;
  double ch;

  CU_ASSERT_EQUAL (f->format, GS_FORMAT_N42);
  CU_ASSERT_EQUAL_FATAL (f->n, 2);
  m = &f->m[0];
  check_counts (m, c1, 6);
  CU_ASSERT_EQUAL (m->real_time, 120.0);
  CU_ASSERT_EQUAL (m->live_time, 119.5);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2006-07-08T09:10:11");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 2);
  CU_ASSERT_EQUAL (m->coefs[0], 10.25);
  CU_ASSERT_EQUAL (m->coefs[1], 0.5);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->title);
  CU_ASSERT_STRING_EQUAL (m->title, "Sample A");
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "HPGe 1");

  m = &f->m[1];
  check_counts (m, c2, 4);
  CU_ASSERT_EQUAL (m->real_time, 60.0);
  CU_ASSERT_EQUAL (m->live_time, 59.0);
  CU_ASSERT_STRING_EQUAL (m->start_time, "2006-07-08T10:00:00");
  CU_ASSERT_EQUAL_FATAL (m->n_coefs, 4);
  /* FullRangeFraction at x = (ch + 1/2) / n for the channel's centre. */
  for (ch = 0; ch < 4; ch += 1)
    CU_ASSERT (gs_test_reldiff (poly (m->coefs, 4, ch),
                                poly (frf, 4, (ch + 0.5) / 4.0))
               < 1e-13);
  CU_ASSERT_PTR_NULL (m->title);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m->detector);
  CU_ASSERT_STRING_EQUAL (m->detector, "HPGe 1");
}

static void
test_n42_read_2006 (void)
{
  gs_specfile *f = NULL;
  char *nons;
  const char *ns = " xmlns=\"http://physics.nist.gov/Standards/N42/2006/N42\"";
  const char *at;

  CU_ASSERT_EQUAL (gs_format_detect (n42_2006, strlen (n42_2006), NULL),
                   GS_FORMAT_N42);
  CU_ASSERT_EQUAL_FATAL (read_str (n42_2006, GS_FORMAT_N42, &f), GS_OK);
  check_2006 (f);
  gs_specfile_free (f);
  f = NULL;
  CU_ASSERT_EQUAL_FATAL (read_str (n42_2006, GS_FORMAT_UNKNOWN, &f), GS_OK);
  check_2006 (f);
  gs_specfile_free (f);
  f = NULL;

  /* Without a namespace. */
  at = strstr (n42_2006, ns);
  CU_ASSERT_PTR_NOT_NULL_FATAL (at);
  nons = gs__asprintf ("%.*s%s", (int)(at - n42_2006), n42_2006,
                       at + strlen (ns));
  CU_ASSERT_EQUAL_FATAL (read_str (nons, GS_FORMAT_N42, &f), GS_OK);
  check_2006 (f);
  gs_specfile_free (f);
  free (nons);
}

static char *
replace (const char *s, const char *from, const char *to)
{
  const char *at = strstr (s, from);
  if (!at)
    return NULL;
  return gs__asprintf ("%.*s%s%s", (int)(at - s), s, to, at + strlen (from));
}

static void
expect_error (const char *doc, int want, const char *needle)
{
  gs_specfile *f = (gs_specfile *)1;
  int rc = read_str (doc, GS_FORMAT_N42, &f);
  if (rc != want)
    fprintf (stderr, "\n  rc %d (want %d): %s\n", rc, want, gs_last_error ());
  CU_ASSERT_EQUAL (rc, want);
  CU_ASSERT_PTR_NULL (f);
  if (needle)
    GS_ASSERT_CONTAINS (gs_last_error (), needle);
  GS_ASSERT_CONTAINS (gs_last_error (), "test.n42");
  gs_specfile_free (rc == GS_OK ? f : NULL);
}

static void
test_n42_bad_values (void)
{
  char *d;
  gs_specfile *f = NULL;

  /* 8 coefficients are fine; 9 name the count. */
  d = doc_2012 ("1 2 3 4 5 6 7 8", "", "1 2 3");
  CU_ASSERT_EQUAL (read_str (d, GS_FORMAT_N42, &f), GS_OK);
  CU_ASSERT (f && f->m[0].n_coefs == 8);
  gs_specfile_free (f);
  free (d);
  d = doc_2012 ("0 3 0 0 0 0 0 0 0", "", "1 2 3");
  expect_error (d, GS_EFORMAT, "9 calibration coefficients");
  free (d);

  d = doc_2012 ("0 3", " compressionCode=\"CountedZeroes\"", "1 0 1e12 2");
  expect_error (d, GS_ENOMEM, "CountedZeroes run");
  free (d);
  d = doc_2012 ("0 3", " compressionCode=\"CountedZeroes\"",
                "1 0 1048575 0 1 3");
  expect_error (d, GS_ENOMEM, "CountedZeroes run");
  free (d);
  d = doc_2012 ("0 3", " compressionCode=\"CountedZeroes\"", "1 0 2.5 2");
  expect_error (d, GS_EFORMAT, "whole number");
  free (d);
  d = doc_2012 ("0 3", " compressionCode=\"CountedZeroes\"", "1 2 0");
  expect_error (d, GS_EFORMAT, "CountedZeroes");
  free (d);
  d = doc_2012 ("0 3", " compressionCode=\"Zip\"", "1 2");
  expect_error (d, GS_EUNSUPPORTED, "Zip");
  free (d);
  d = doc_2012 ("0 3", "", "1 -2 3");
  expect_error (d, GS_EFORMAT, "value 2 \"-2\"");
  free (d);
  d = doc_2012 ("0 3", "", "1 nan 3");
  expect_error (d, GS_EFORMAT, "nan");
  free (d);
  d = doc_2012 ("0 3", "", "1 inf 3");
  expect_error (d, GS_EFORMAT, "inf");
  free (d);
  d = doc_2012 ("0 3", "", "1 1e999 3");
  expect_error (d, GS_EFORMAT, "1e999");
  free (d);
  d = doc_2012 ("0 3", "", "  ");
  expect_error (d, GS_EFORMAT, "no channels");
  free (d);
  d = doc_2012 ("0 x", "", "1 2");
  expect_error (d, GS_EFORMAT, "\"x\"");
  free (d);

  /* Durations and dates. */
  d = doc_2012 ("0 3", "", "1 2");
  {
    char *e = replace (d, "PT10S", "PT5X");
    expect_error (e, GS_EFORMAT, "RealTimeDuration \"PT5X\"");
    free (e);
    e = replace (d, "PT9S", "-PT9S");
    expect_error (e, GS_EFORMAT, "LiveTimeDuration");
    free (e);
    e = replace (d, "PT10S", "P1Y");
    expect_error (e, GS_EFORMAT, "RealTimeDuration");
    free (e);
    e = replace (d, "PT10S", "P1DT1H1M1.5S");
    CU_ASSERT_EQUAL (read_str (e, GS_FORMAT_N42, &f), GS_OK);
    CU_ASSERT (f && f->m[0].real_time == 86400 + 3600 + 60 + 1.5);
    gs_specfile_free (f);
    f = NULL;
    free (e);
    e = replace (d, "<RealTimeDuration>PT10S</RealTimeDuration>",
                 "<StartDateTime>2021-13-01T00:00:00</StartDateTime>");
    expect_error (e, GS_EFORMAT, "StartDateTime");
    free (e);
    e = replace (d, "energyCalibrationReference=\"c\"",
                 "energyCalibrationReference=\"nope\"");
    expect_error (e, GS_EFORMAT, "\"nope\"");
    free (e);
    /* Times absent: NaN; no calibration reference, one calibration. */
    e = replace (d, "<RealTimeDuration>PT10S</RealTimeDuration>", "");
    CU_ASSERT_EQUAL (read_str (e, GS_FORMAT_N42, &f), GS_OK);
    CU_ASSERT (f && isnan (f->m[0].real_time) && f->m[0].live_time == 9
               && f->m[0].start_time[0] == '\0');
    gs_specfile_free (f);
    f = NULL;
    free (e);
  }
  free (d);

  /* FullRangeFraction with a low-energy term; Model unknown. */
  {
    char *e = replace (n42_2006, "0 3000 100 -50 0", "0 3000 100 -50 2");
    expect_error (e, GS_EUNSUPPORTED, "low-energy");
    free (e);
    e = replace (n42_2006, "0 3000 100 -50 0", "0 3000 100 -50 0 1");
    expect_error (e, GS_EFORMAT, "at most 5");
    free (e);
    e = replace (n42_2006, "Model=\"Polynomial\"", "Model=\"Spline\"");
    expect_error (e, GS_EUNSUPPORTED, "Spline");
    free (e);
  }

  expect_error ("<?xml version=\"1.0\"?><Foo/>", GS_EFORMAT,
                "RadInstrumentData");
  expect_error ("<RadInstrumentData xmlns=\"x\"><RadMeasurement/>"
                "</RadInstrumentData>",
                GS_EFORMAT, "no RadMeasurement/Spectrum");
  expect_error ("<RadInstrumentData>\n<Remark>a</Remarx>\n"
                "</RadInstrumentData>",
                GS_EFORMAT, "line 2");
}

static void
test_n42_several_spectra (void)
{
  static const char doc[]
      = "<RadInstrumentData xmlns=\"http://physics.nist.gov/N42/2011/N42\">\n"
        "<RadDetectorInformation id=\"A\"><RadDetectorName>Front "
        "panel</RadDetectorName></RadDetectorInformation>\n"
        "<RadDetectorInformation id=\"B\"/>\n"
        "<EnergyCalibration id=\"c\"><CoefficientValues>0 1"
        "</CoefficientValues></EnergyCalibration>\n"
        "<RadMeasurement id=\"m\">"
        "<StartDateTime>2020-02-29T23:59:60</StartDateTime>"
        "<RealTimeDuration>PT2S</RealTimeDuration>\n"
        "<Spectrum id=\"s1\" radDetectorInformationReference=\"A\" "
        "energyCalibrationReference=\"c\"><ChannelData>1 2"
        "</ChannelData></Spectrum>\n"
        "<Spectrum id=\"s2\" radDetectorInformationReference=\"B\">"
        "<ChannelData><![CDATA[3 4 5]]></ChannelData></Spectrum>\n"
        "</RadMeasurement></RadInstrumentData>\n";
  gs_specfile *f = NULL;
  CU_ASSERT_EQUAL_FATAL (read_str (doc, GS_FORMAT_N42, &f), GS_OK);
  CU_ASSERT_EQUAL_FATAL (f->n, 2);
  CU_ASSERT_EQUAL (f->m[0].n_channels, 2);
  CU_ASSERT_EQUAL (f->m[1].n_channels, 3);
  CU_ASSERT_EQUAL (f->m[1].counts[2], 5);
  CU_ASSERT_EQUAL (f->m[0].real_time, 2);
  CU_ASSERT_EQUAL (f->m[1].real_time, 2);
  CU_ASSERT (isnan (f->m[0].live_time));
  CU_ASSERT_STRING_EQUAL (f->m[1].start_time, "2020-02-29T23:59:60");
  CU_ASSERT_EQUAL (f->m[0].n_coefs, 2);
  CU_ASSERT_EQUAL (f->m[1].n_coefs, 0);
  CU_ASSERT_STRING_EQUAL (f->m[0].detector, "Front panel");
  CU_ASSERT_STRING_EQUAL (f->m[1].detector, "B");
  gs_specfile_free (f);
}

static void
test_n42_too_many_channels (void)
{
  gs__buf b;
  size_t i;
  char *d;
  gs__buf_init (&b);
  for (i = 0; i <= GS_FORMAT_MAX_CHANNELS; i++)
    gs__buf_append (&b, "1 ", 2);
  CU_ASSERT_FATAL (!b.failed);
  d = doc_2012 ("0 3", "", b.data);
  expect_error (d, GS_ENOMEM, "more than 1048576 channels");
  free (d);
  gs__buf_fini (&b);
}

static void
test_n42_entities (void)
{
  gs_specfile *f = NULL;
  char *d, *x;

  /* XXE: an external entity is refused, never read. */
  d = doc_2012 ("0 3", "", "1 2 &x; 3");
  x = replace (d, "<RadInstrumentData",
               "<!DOCTYPE RadInstrumentData [\n"
               "  <!ENTITY x SYSTEM \"file:///etc/passwd\">\n]>\n"
               "<RadInstrumentData");
  expect_error (x, GS_EFORMAT, "entity");
  CU_ASSERT (strstr (gs_last_error (), "root:") == NULL);
  free (x);
  /* In an attribute, and a parameter entity. */
  x = replace (d, "<RadInstrumentData",
               "<!DOCTYPE RadInstrumentData [\n"
               "  <!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;\n]>\n"
               "<RadInstrumentData");
  expect_error (x, GS_EFORMAT, "entity");
  free (x);
  free (d);

  /* Billion laughs: refused at the first declaration. */
  d = doc_2012 ("0 3", "", "1 2 3");
  x = replace (d, "<RadInstrumentData",
               "<!DOCTYPE lolz [\n"
               " <!ENTITY lol \"lol\">\n"
               " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
               " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
               " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
               " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
               " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
               " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
               " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
               " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
               " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
               "]>\n<RadInstrumentData");
  {
    char *y = replace (x, "PT9S", "&lol9;");
    char *z = replace (x, "1 2 3", "1 2 3 &lol9;");
    expect_error (x, GS_EFORMAT, "entity \"lol\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL (y);
    CU_ASSERT_PTR_NOT_NULL_FATAL (z);
    expect_error (y, GS_EFORMAT, "entity \"lol\"");
    expect_error (z, GS_EFORMAT, "entity \"lol\"");
    free (y);
    free (z);
  }
  free (x);

  /* An external DTD is not loaded: the file reads. */
  x = replace (d, "<RadInstrumentData",
               "<!DOCTYPE RadInstrumentData SYSTEM \"file:///etc/passwd\">\n"
               "<RadInstrumentData");
  CU_ASSERT_EQUAL (read_str (x, GS_FORMAT_N42, &f), GS_OK);
  CU_ASSERT (f && f->n == 1 && f->m[0].n_channels == 3);
  gs_specfile_free (f);
  free (x);
  free (d);
}

static void
truncations (const char *doc, const char *end_tag)
{
  size_t off;
  size_t stop = (size_t)(strstr (doc, end_tag) - doc) + strlen (end_tag);
  for (off = 0; off < stop; off += 97)
    {
      gs_specfile *f = (gs_specfile *)1;
      int rc = gs_specfile_read_mem (doc, off, "test.n42", GS_FORMAT_N42, &f);
      CU_ASSERT (rc != GS_OK);
      CU_ASSERT_PTR_NULL (f);
      CU_ASSERT (gs_last_error ()[0] != '\0');
      if (rc == GS_OK)
        gs_specfile_free (f);
    }
}

static void
test_n42_truncated (void)
{
  /* Through a heap copy of exactly `off` bytes so that ASan sees any
   * read past the end. */
  size_t len = strlen (n42_2012), off;
  for (off = 0; off < len - 25; off += 97)
    {
      char *b = malloc (off ? off : 1);
      gs_specfile *f = (gs_specfile *)1;
      int rc;
      memcpy (b, n42_2012, off);
      rc = gs__read_n42 (b, off, "test.n42", &f);
      CU_ASSERT (rc != GS_OK);
      CU_ASSERT_PTR_NULL (f);
      free (b);
    }
  truncations (n42_2012, "</RadInstrumentData>");
  truncations (n42_2006, "</N42InstrumentData>");
}

static void
test_n42_round_trip (void)
{
  gs_specfile *f = gs_specfile_alloc (3), *g = NULL;
  char *dir = gs_test_tmpdir (), *path, *text;
  static const double q[] = { -0.3, 0.7312345678901, 1.23e-7, -4.5e-11 };
  size_t i, k;

  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  for (i = 0; i < 3; i++)
    {
      gs_measurement *m = &f->m[i];
      m->n_channels = 40 + i;
      m->counts = calloc (m->n_channels, sizeof (double));
      for (k = 0; k < m->n_channels; k++)
        m->counts[k] = (k % 7 == 0) ? 0.0 : (double)(k * k) + 0.1 * (double)i;
      m->counts[3] = 1e20;
      m->counts[4] = 2.5e-7;
      m->live_time = 299.123456789 + (double)i;
      m->real_time = i == 1 ? NAN : 300.000000001;
      if (i < 2)
        {
          m->n_coefs = 4;
          memcpy (m->coefs, q, sizeof q);
        }
      if (i == 0)
        {
          snprintf (m->start_time, sizeof m->start_time,
                    "2020-01-02T03:04:05+01:00");
          m->title = gs__strdup ("Sample <A> & \"B\" \xc2\xb5Sv\rline");
          m->detector = gs__strdup ("Ge 1");
        }
      if (i == 2)
        {
          m->live_time = 1e-5;
          m->title = gs__strdup ("bad \x01 byte \xff");
        }
    }
  path = gs__path_join (dir, "rt.n42");
  CU_ASSERT_EQUAL_FATAL (gs_specfile_write (f, path, GS_FORMAT_N42), GS_OK);
  text = gs_test_slurp (dir, "rt.n42");
  CU_ASSERT_PTR_NOT_NULL_FATAL (text);
  /* One EnergyCalibration for the two measurements that share one. */
  {
    const char *p = strstr (text, "<EnergyCalibration ");
    CU_ASSERT (p && !strstr (p + 1, "<EnergyCalibration "));
  }
  GS_ASSERT_CONTAINS (text, "xmlns=\"http://physics.nist.gov/N42/2011/N42\"");
  CU_ASSERT_EQUAL_FATAL (gs_specfile_read (path, &g), GS_OK);
  CU_ASSERT_EQUAL (g->format, GS_FORMAT_N42);
  CU_ASSERT_EQUAL_FATAL (g->n, 3);
  for (i = 0; i < 3; i++)
    {
      const gs_measurement *a = &f->m[i], *b = &g->m[i];
      CU_ASSERT_EQUAL_FATAL (b->n_channels, a->n_channels);
      CU_ASSERT (memcmp (a->counts, b->counts, a->n_channels * sizeof (double))
                 == 0);
      CU_ASSERT_EQUAL (b->live_time, a->live_time);
      if (isnan (a->real_time))
        {
          CU_ASSERT (isnan (b->real_time));
        }
      else
        {
          CU_ASSERT_EQUAL (b->real_time, a->real_time);
        }
      CU_ASSERT_STRING_EQUAL (b->start_time, a->start_time);
      CU_ASSERT_EQUAL_FATAL (b->n_coefs, a->n_coefs);
      for (k = 0; k < a->n_coefs; k++)
        {
          /* The edge/centre conversions round: within 1e-12 of the
           * largest term at channel 1. */
          double scale = fabs (q[0]) + fabs (q[1]) + fabs (q[2]) + fabs (q[3]);
          CU_ASSERT (fabs (b->coefs[k] - a->coefs[k]) <= 1e-12 * scale);
          CU_ASSERT (gs_test_reldiff (b->coefs[k], a->coefs[k]) < 1e-12);
        }
    }
  CU_ASSERT_PTR_NOT_NULL_FATAL (g->m[0].title);
  CU_ASSERT_STRING_EQUAL (g->m[0].title, "Sample <A> & \"B\" \xc2\xb5Sv\rline");
  CU_ASSERT_PTR_NOT_NULL_FATAL (g->m[0].detector);
  CU_ASSERT_STRING_EQUAL (g->m[0].detector, "Ge 1");
  CU_ASSERT_PTR_NULL (g->m[1].title);
  CU_ASSERT_PTR_NOT_NULL_FATAL (g->m[2].title);
  CU_ASSERT_STRING_EQUAL (g->m[2].title, "bad ? byte ?");

  /* The hand-written files survive a second round trip unchanged. */
  {
    gs_specfile *h = NULL, *h2 = NULL;
    CU_ASSERT_EQUAL_FATAL (read_str (n42_2012, GS_FORMAT_N42, &h), GS_OK);
    CU_ASSERT_EQUAL_FATAL (gs_specfile_write (h, path, GS_FORMAT_N42), GS_OK);
    CU_ASSERT_EQUAL_FATAL (gs_specfile_read (path, &h2), GS_OK);
    CU_ASSERT_EQUAL_FATAL (h2->n, 2);
    for (i = 0; i < 2; i++)
      {
        CU_ASSERT_EQUAL (h2->m[i].n_channels, h->m[i].n_channels);
        CU_ASSERT_STRING_EQUAL (h2->m[i].start_time, h->m[i].start_time);
        CU_ASSERT_STRING_EQUAL (h2->m[i].title, h->m[i].title);
        CU_ASSERT_STRING_EQUAL (h2->m[i].detector, h->m[i].detector);
        for (k = 0; k < h->m[i].n_coefs; k++)
          CU_ASSERT (gs_test_reldiff (h2->m[i].coefs[k], h->m[i].coefs[k])
                     < 1e-12);
      }
    gs_specfile_free (h);
    gs_specfile_free (h2);
  }

  /* Bad measurements are refused by the writer. */
  f->m[1].counts[2] = -1;
  CU_ASSERT_EQUAL (gs_specfile_write (f, path, GS_FORMAT_N42), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 2");
  f->m[1].counts[2] = 0;
  snprintf (f->m[1].start_time, sizeof f->m[1].start_time, "yesterday");
  CU_ASSERT_EQUAL (gs_specfile_write (f, path, GS_FORMAT_N42), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "yesterday");

  free (text);
  free (path);
  gs_specfile_free (f);
  gs_specfile_free (g);
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_formats_n42 (void);
void
gs_test_register_formats_n42 (void)
{
  CU_pSuite s = CU_add_suite ("formats_n42", NULL, NULL);
  CU_add_test (s, "N42-2012 read", test_n42_read_2012);
  CU_add_test (s, "N42-2006 read", test_n42_read_2006);
  CU_add_test (s, "several spectra per measurement", test_n42_several_spectra);
  CU_add_test (s, "bad values refused", test_n42_bad_values);
  CU_add_test (s, "too many channels", test_n42_too_many_channels);
  CU_add_test (s, "entities refused, never expanded", test_n42_entities);
  CU_add_test (s, "truncated files", test_n42_truncated);
  CU_add_test (s, "write-read round trip", test_n42_round_trip);
}
