/* Spectrum files users bring: ANSI N42.42 (2006 and 2012, XML), IAEA /
 * ORTEC ASCII SPE, ORTEC CHN, Canberra CNF and CSV/TXT (one or two
 * columns) are read; N42-2012, SPE and CSV are written
 * (../shared/reference/spectrum-formats.md).
 *
 * A file holds one or more measurements; each has its counts, live and
 * real time, start time and an energy calibration.  The calibration is a
 * polynomial in the channel index ch (0-based) giving the energy in keV
 * of the channel's centre, E(ch) = sum_k coef[k] ch^k, the convention of
 * gspec/rebin.h; an N42 FullRangeFraction calibration is converted to
 * this form (x = ch / n_channels), and a file whose polynomial runs from
 * the channel's lower edge is converted by the reader.
 *
 * Readers take the whole file in memory and never read past `len`; every
 * size, count and offset in a file is checked before use, so truncated,
 * oversized and hostile input gives GS_EFORMAT (or GS_ENOMEM for a size
 * past the limits below) with a message naming the file, what is wrong
 * and where (byte offset or line), never a crash or a hang.  On error
 * *out is left NULL. */
#ifndef GSPEC_FORMATS_H
#define GSPEC_FORMATS_H

#include <stddef.h>

#include "gspec/spectra.h"

#ifdef __cplusplus
extern "C"
{
#endif

  typedef enum gs_format
  {
    GS_FORMAT_UNKNOWN = 0,
    GS_FORMAT_N42 = 1, /* ANSI N42.42 XML, 2006 or 2012 */
    GS_FORMAT_SPE = 2, /* IAEA / ORTEC ASCII SPE */
    GS_FORMAT_CHN = 3, /* ORTEC CHN (binary) */
    GS_FORMAT_CNF = 4, /* Canberra CNF / CAM (binary) */
    GS_FORMAT_CSV = 5  /* CSV / TXT: counts, or channel-or-energy,counts */
  } gs_format;

/* Limits every reader enforces. */
#define GS_FORMAT_MAX_BYTES ((size_t)1 << 30)   /* a file */
#define GS_FORMAT_MAX_CHANNELS ((size_t)1 << 20) /* a spectrum */
#define GS_FORMAT_MAX_MEASUREMENTS 4096
#define GS_FORMAT_MAX_COEFS 8

  typedef struct gs_measurement
  {
    size_t n_channels;
    double *counts;    /* n_channels, finite and >= 0, owned */
    double live_time;  /* seconds; NAN when the file gives none */
    double real_time;  /* seconds; NAN when the file gives none */
    char start_time[32]; /* ISO 8601 "YYYY-MM-DDThh:mm:ss" (local time
                            as the file gives it, a "Z" or offset kept
                            when present), or "" */
    size_t n_coefs;    /* 0: no energy calibration */
    double coefs[GS_FORMAT_MAX_COEFS]; /* E(ch) = sum coefs[k] ch^k, keV */
    char *title;       /* free text (SPE $SPEC_ID, N42 Remark, ...), owned;
                          may be NULL */
    char *detector;    /* detector name when the file gives one, owned;
                          may be NULL */
  } gs_measurement;

  typedef struct gs_specfile
  {
    gs_format format; /* what it was read as */
    size_t n;         /* measurements, >= 1 */
    gs_measurement *m;
    char *source;     /* path or name given to the reader, owned */
  } gs_specfile;

  /* Allocates a file of n zeroed measurements (format UNKNOWN). */
  gs_specfile *gs_specfile_alloc (size_t n);
  void gs_specfile_free (gs_specfile *f);

  /* Name of a format ("n42", "spe", "chn", "cnf", "csv"), "unknown". */
  const char *gs_format_name (gs_format f);
  /* The format of a name ("n42", "spe", ...; case-insensitive), or
   * GS_FORMAT_UNKNOWN. */
  gs_format gs_format_from_name (const char *name);

  /* Detects the format by content (XML root <RadInstrumentData> or
   * <N42InstrumentData>; "$SPEC_ID:" or "$DATA:" blocks; a CHN header
   * whose first int16 is -1; a CNF section table at 0x70; otherwise
   * numeric text lines = CSV).  `name` (may be NULL) only breaks ties
   * (its extension).  GS_FORMAT_UNKNOWN when nothing fits. */
  gs_format gs_format_detect (const void *buf, size_t len, const char *name);

  /* Reads a file held in memory, in `format` (GS_FORMAT_UNKNOWN:
   * detected).  `name` is used in messages and kept as source. */
  int gs_specfile_read_mem (const void *buf, size_t len, const char *name,
                            gs_format format, gs_specfile **out);

  /* Reads a file (at most GS_FORMAT_MAX_BYTES), detecting the format. */
  int gs_specfile_read (const char *path, gs_specfile **out);

  /* Writes every measurement (SPE and CSV: one measurement only, else
   * GS_EINVAL naming the count) in `format` (N42 = N42-2012, SPE, CSV),
   * atomically. */
  int gs_specfile_write (const gs_specfile *f, const char *path,
                         gs_format format);

  /* The measurements as a set of spectra (one row each; every
   * measurement must have the same channel count): labels empty, the
   * calibration columns from a polynomial of degree <= 2 (a higher degree
   * whose extra terms are not 0 is GS_EUNSUPPORTED, naming it), meta
   * columns live_time_s, real_time_s, start_time, title. */
  int gs_specfile_to_spectra (const gs_specfile *f, gs_spectra **out);

  /* Inverse: one measurement per spectrum, with the spectrum's quadratic
   * calibration and, when present, the meta columns above. */
  int gs_specfile_from_spectra (const gs_spectra *s, gs_specfile **out);

#ifdef __cplusplus
}
#endif
#endif
