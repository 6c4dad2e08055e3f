/* Spectra in memory and the readers for labelled sets.
 *
 * A labelled set (the gamma_flow layout) is NAME.counts.npy (n x channels,
 * any integer or float dtype listed in gs_npy_dtype) plus NAME.meta.csv
 * with a header row that starts `index,labels` and may carry calibration
 * columns (offset, slope, quad), truth columns counts_<component> and
 * other columns (kept as strings in meta_names/meta). */
#ifndef GSPEC_SPECTRA_H
#define GSPEC_SPECTRA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_spectra
{
  size_t n_spectra;
  size_t n_channels;
  double *counts;      /* row-major n_spectra x n_channels, owned */
  char **labels;       /* n_spectra strings ("Cs137+background", may be
                          empty), owned; NULL when no meta file */
  /* Optional quadratic calibration per spectrum:
   * E(keV) = offset + slope*ch + quad*ch^2.  Either all three are set or
   * all are NULL; a meta file with offset and slope but no quad column
   * gets quad = 0. */
  double *cal_offset;
  double *cal_slope;
  double *cal_quad;
  /* Optional truth columns counts_<name>: n_truth names and an
   * n_spectra x n_truth row-major matrix.  NULL/0 when absent. */
  size_t n_truth;
  char **truth_names;
  double *truth;
  char *source; /* path it was read from, owned */
  /* Other meta columns kept as strings: n_meta names and an
   * n_spectra x n_meta row-major matrix of strings.  NULL/0 when absent. */
  size_t n_meta;
  char **meta_names;
  char **meta;
} gs_spectra;

/* Allocates zero-filled counts; everything else NULL. */
gs_spectra *gs_spectra_alloc (size_t n_spectra, size_t n_channels);
/* Frees everything the struct owns; NULL is fine. */
void gs_spectra_free (gs_spectra *s);

/* The string in meta column `column` of spectrum `row`, or NULL when the
 * column or row does not exist.  Owned by s. */
const char *gs_spectra_meta (const gs_spectra *s, size_t row,
                             const char *column);

/* ---- NPY -------------------------------------------------------------- */

typedef enum gs_npy_dtype
{
  GS_NPY_I4 = 1, /* int32 */
  GS_NPY_I8 = 2, /* int64 */
  GS_NPY_F4 = 3, /* float32 */
  GS_NPY_F8 = 4, /* float64 */
  GS_NPY_U2 = 5, /* uint16 */
  GS_NPY_U4 = 6, /* uint32 */
  GS_NPY_I1 = 7, /* int8 ('|i1') */
  GS_NPY_U1 = 8  /* uint8 ('|u1') */
} gs_npy_dtype;

typedef struct gs_npy_header
{
  int version_major;
  gs_npy_dtype dtype;
  int big_endian;    /* 1 if the data are big-endian */
  int fortran_order; /* 1 if column-major */
  size_t ndim;
  size_t shape[8];
  size_t data_offset; /* bytes from the start of the file */
} gs_npy_header;

/* Parses the header of an NPY file (versions 1.0, 2.0, 3.0).  Errors name
 * the path and what is wrong (bad magic, unsupported dtype such as '<c16'
 * or an object array, truncated header, a shape whose byte size overflows,
 * ...).  Does not read or check the data. */
int gs_npy_read_header (const char *path, gs_npy_header *hdr);

/* Reads a 1-D or 2-D numeric array into a newly allocated row-major double
 * matrix (a 1-D array is 1 x n).  Handles byte order and Fortran order;
 * a data size other than the header promises (short or with trailing
 * bytes) is an error.  An empty array gives rows or cols 0 and a non-NULL
 * *data.  The caller frees *data with free(). */
int gs_npy_read_matrix (const char *path, double **data, size_t *rows,
                        size_t *cols);

/* Writes a row-major double matrix as a little-endian '<f8' NPY v1.0. */
int gs_npy_write_matrix (const char *path, const double *data, size_t rows,
                         size_t cols);

/* ---- Labelled sets and single spectra -------------------------------- */

/* Reads a labelled set.  `path` is NAME.counts.npy, NAME.meta.csv or the
 * common prefix NAME; the meta file is optional when path names the .npy.
 * Any other *.npy or existing file is read as counts alone, without meta.
 * No spectra, no channels, row count mismatches, an index column other
 * than 0..n-1, non-numeric calibration or truth values and negative or
 * non-finite counts are errors naming file, row and column.  On error
 * *out is left untouched. */
int gs_spectra_read_labelled (const char *path, gs_spectra **out);

/* Reads a text spectrum (1 x n): one count per line (blank lines and
 * lines starting with '#' skipped).  Non-numeric, negative or non-finite
 * values and a file with no counts are errors naming the file and line. */
int gs_spectra_read_text (const char *path, gs_spectra **out);

/* Dispatches on content and name: NPY magic, a *.npy or *.meta.csv
 * name, or a prefix NAME whose NAME.counts.npy exists -> labelled set; a
 * spectrum file of gspec/formats.h detected by content (N42, SPE, CHN,
 * CNF, two-column CSV) -> its measurements, one row each, with their
 * calibration and times (gs_specfile_to_spectra); otherwise
 * one-count-per-line text. */
int gs_spectra_read (const char *path, gs_spectra **out);

/* Writes a labelled set NAME.counts.npy (float64) + NAME.meta.csv
 * (index,labels[,cal_offset_keV,cal_slope_keV,cal_quad_keV][,meta...]
 * [,counts_<name>...]), each file atomically; numbers as %.17g so that
 * gs_spectra_read_labelled reads back the same doubles. */
int gs_spectra_write_labelled (const gs_spectra *s, const char *prefix);

/* Joins labelled sets of the same channel count, in order, into a new
 * set: labels when every part has them, calibration when every part has
 * one, the union of truth columns (0 where a part lacks one) and of meta
 * columns ("" where a part lacks one); source is the parts' sources
 * joined by " + ".  Parts are not modified. */
int gs_spectra_concat (gs_spectra *const *parts, size_t n_parts,
                       gs_spectra **out);

#ifdef __cplusplus
}
#endif
#endif
