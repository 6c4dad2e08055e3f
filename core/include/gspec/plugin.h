/* gspec plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * gs_plugin_entry, written by GS_PLUGIN_DEFINE.  The host calls it once with
 * a const table of host services (gs_host_api) and receives a const
 * descriptor (gs_plugin_info) listing the plugin's method types.
 *
 * Compatibility rules:
 *  - The host accepts a plugin whose abi_major equals GS_ABI_MAJOR and whose
 *    abi_minor is not above GS_ABI_MINOR, and says both versions when it
 *    refuses one.
 *  - Every struct that crosses the boundary starts with (or carries) a
 *    struct_size and only grows at the end.  A reader that receives a
 *    smaller struct treats the missing tail as zero/NULL.
 *
 * Ownership: the host allocates method state (state_size bytes, zeroed),
 * per-thread workspaces (workspace_size bytes, zeroed), result buffers and
 * parameter blocks; a method only manages what it allocates inside its own
 * state, and frees that in `free`.  Buffers passed in stay host-owned. */
#ifndef GSPEC_PLUGIN_H
#define GSPEC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gspec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_ABI_MAJOR 1
#define GS_ABI_MINOR 2

/* ---------------------------------------------------------------------- */
/* Method kinds (bit flags; a method may have several).                   */

#define GS_KIND_IDENTIFY 0x1u    /* decides which components are present */
#define GS_KIND_QUANTIFY 0x2u    /* estimates counts per component */
#define GS_KIND_VARIABILITY 0x4u /* estimates signature deformation */
#define GS_KIND_PEAKS 0x8u       /* finds peaks (fills gs_result.peaks) */

/* Method flags (bit flags): promises a method makes to the host. */
#define GS_METHOD_NEEDS_LIBRARY 0x1u /* alloc requires setup->library */
#define GS_METHOD_STOCHASTIC 0x2u    /* uses the RNG; still seeded and
                                        reproducible from setup->seed */
/* Since ABI 1.1.  The method's result.score[] is a detection score
 * (higher = more likely present).  In experiments the host calibrates a
 * decision threshold on the validation set to the config's target
 * per-spectrum FPR (gspec/calibrate.h, one routine for every method) and
 * sets present = score > threshold, replacing the method's own decisions;
 * `gspec train` stores the threshold in the model file and `gspec analyze
 * --model` applies it.  Methods without the flag decide for themselves
 * (statistical tests get the target as setup->target_fpr). */
#define GS_METHOD_SCORES 0x4u
/* Since ABI 1.1, with GS_METHOD_SCORES: the background column is scored
 * and evaluated too (softmax weights of a regression CNN, spec 4.4); its
 * default grid is linspace (0.001, 0.101, 51) instead of
 * linspace (0.1, 0.9, 81). */
#define GS_METHOD_SCORES_BACKGROUND 0x8u

/* ---------------------------------------------------------------------- */
/* Declarative parameter tables.                                           */

typedef enum gs_param_type
{
  GS_PARAM_INT = 1,    /* stored as int; default/min/max are integers */
  GS_PARAM_REAL = 2,   /* stored as double */
  GS_PARAM_BOOL = 3,   /* stored as int (0 or 1); min/max ignored */
  GS_PARAM_ENUM = 4,   /* stored as int index into `choices` */
  GS_PARAM_STRING = 5  /* stored as char[GS_PARAM_STRING_MAX] */
} gs_param_type;

#define GS_PARAM_STRING_MAX 256

/* One row of a method's parameter table.  Tables end with a row whose name
 * is NULL.  The host maps YAML and command-line values onto these rows,
 * applies defaults, range-checks (bounds inclusive) and rejects unknown
 * names, listing the valid ones.  Names are [a-z0-9_]+. */
typedef struct gs_param_spec
{
  const char *name;    /* key in YAML and --param k=v */
  gs_param_type type;  /* storage and parsing rule */
  size_t offset;       /* offsetof(params struct, field) */
  double def;          /* default (enum: index; string: unused) */
  double min;          /* inclusive lower bound (INT, REAL) */
  double max;          /* inclusive upper bound (INT, REAL) */
  const char *choices; /* ENUM: "a|b|c"; STRING: default value */
  const char *help;    /* one line for `gspec methods --describe` */
} gs_param_spec;

/* ---------------------------------------------------------------------- */
/* What a method is given at allocation.                                   */

/* A spectral library seen by a method.  signatures is row-major
 * n_channels x n_components; every column sums to 1; component 0 is the
 * background.  energy_edges has n_channels + 1 increasing values in keV.
 * All memory is host-owned and valid for the lifetime of the state. */
typedef struct gs_library_view
{
  uint32_t struct_size;
  size_t n_channels;
  size_t n_components;
  const double *signatures;
  const char *const *names;
  const double *energy_edges;
} gs_library_view;

/* Given to alloc.  The setup struct itself is valid only during alloc;
 * the library view it points to stays valid for the state's lifetime. */
typedef struct gs_setup
{
  uint32_t struct_size;
  const gs_library_view *library; /* NULL only for methods that do not set
                                     GS_METHOD_NEEDS_LIBRARY */
  uint64_t seed;                  /* the experiment's seed for this method */
  double target_fpr;              /* requested false-positive rate per
                                     spectrum (0 < fpr < 1) */
} gs_setup;

/* A full-energy peak: found by a peak-search method (gs_result.peaks)
 * or true (gs_dataset.peaks). */
typedef struct gs_peak
{
  double centre_kev;
  double left_kev;
  double right_kev;
  double confidence; /* 0..1 */
  int component;     /* library component, or -1 when unassigned */
} gs_peak;

/* A labelled set handed to `train`.  Spectra are produced on demand so that
 * large synthetic sets need not be materialised.  Both callbacks are
 * thread-safe and deterministic for a given index. */
typedef struct gs_dataset
{
  uint32_t struct_size;
  size_t n_spectra;
  size_t n_channels;
  size_t n_components; /* columns of the truth, background first */
  const char *const *component_names;
  void *ctx;
  /* Writes spectrum `index` (counts per channel) into out[n_channels]. */
  int (*spectrum) (void *ctx, size_t index, double *out);
  /* Writes the true counts per component into out[n_components]; a
   * component absent from the spectrum has 0. */
  int (*truth) (void *ctx, size_t index, double *out);
  /* Since ABI 1.2.  Optional (NULL, or absent in a smaller struct_size:
   * the set has no peak labels).  Writes the true full-energy peaks of
   * spectrum `index` (centre, left and right boundary in keV, confidence
   * 1, component or -1) into out[0..max) by increasing energy and their
   * number into *n; when *n > max only the first max are written. */
  int (*peaks) (void *ctx, size_t index, gs_peak *out, size_t max,
                size_t *n);
} gs_dataset;

/* The dataset's peaks callback, or NULL (a set without peak labels, or
 * one built against ABI 1.1). */
#define GS_DATASET_PEAKS(d)                                                  \
  ((d)->struct_size >= offsetof (gs_dataset, peaks) + sizeof ((d)->peaks)    \
       ? (d)->peaks                                                          \
       : NULL)

/* ---------------------------------------------------------------------- */
/* What a method returns for one spectrum.                                 */

/* The host allocates every array (n_components or n_extras long) and fills
 * them with "not given" values before analyze: present = -1 (no decision),
 * score, counts, std and extras = NaN.  A method writes what it estimates
 * and leaves the rest. */
typedef struct gs_result
{
  uint32_t struct_size;
  size_t n_components;
  int *present;   /* 1 present, 0 absent, -1 no decision */
  double *score;  /* method's evidence for presence (higher = stronger) */
  double *counts; /* estimated counts */
  double *std;    /* standard deviation of counts */
  size_t n_extras;
  double *extras; /* values of the method type's `extras`, in order */
  /* Peaks are added through gs_host_api.result_add_peak. */
  gs_peak *peaks;
  size_t n_peaks;
  size_t peak_capacity;
} gs_result;

/* ---------------------------------------------------------------------- */
/* Host services, given to gs_plugin_entry.                                */

typedef enum gs_log_level
{
  GS_LOG_ERROR = 0,
  GS_LOG_WARN = 1,
  GS_LOG_INFO = 2,
  GS_LOG_DEBUG = 3
} gs_log_level;

typedef struct gs_rng gs_rng;

typedef struct gs_host_api
{
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  /* Logs a message attributed to `method_id` (may be NULL). */
  void (*log) (gs_log_level level, const char *method_id, const char *fmt,
               ...);
  /* Records the calling thread's error message and returns `status`:
   * `return host->error (GS_EBADDATA, "channel %zu is NaN", i);`. */
  int (*error) (int status, const char *fmt, ...);
  /* Reports progress of a long stage (done of total). */
  void (*progress) (const char *method_id, const char *stage, size_t done,
                    size_t total);
  /* Memory the host may keep or free (results, peaks). */
  void *(*alloc) (size_t size);
  void (*free) (void *ptr);
  /* Seeded random numbers: one generator per (seed, stream).  The same
   * pair always gives the same sequence. */
  gs_rng *(*rng_alloc) (uint64_t seed, uint64_t stream);
  void (*rng_free) (gs_rng *rng);
  double (*rng_uniform) (gs_rng *rng);   /* [0, 1) */
  double (*rng_gaussian) (gs_rng *rng);  /* N(0, 1) */
  unsigned long (*rng_poisson) (gs_rng *rng, double mu);
  /* Appends a peak to res->peaks (growing it); returns a status. */
  int (*result_add_peak) (gs_result *res, const gs_peak *peak);
} gs_host_api;

/* ---------------------------------------------------------------------- */
/* Method types.                                                           */

typedef struct gs_method_type
{
  uint32_t struct_size;
  const char *id;      /* stable "family.name", e.g. "unmixing.nnpu" */
  const char *summary; /* one line */
  uint32_t kinds;      /* GS_KIND_* */
  uint32_t flags;      /* GS_METHOD_* */
  const gs_param_spec *params; /* NULL-name terminated; may be NULL */
  size_t params_size;          /* size of the params struct */
  size_t state_size;           /* size of <method>_state_t */
  const char *const *extras;   /* NULL-terminated names of scalar extras
                                  (e.g. "gain_shift"); may be NULL */

  /* Fills a zeroed state of state_size bytes.  On failure releases what it
   * allocated and returns an error.  Required. */
  int (*alloc) (void *state, const void *params, const gs_setup *setup);
  /* Releases what alloc/train/load allocated inside the state (the host
   * frees the state itself).  Required; must accept a state whose alloc
   * failed (all zero bytes). */
  void (*free) (void *state);
  /* Learns from `train`, using `valid` for tuning or early stopping.
   * Optional (NULL: the method needs no training). */
  int (*train) (void *state, const gs_dataset *train, const gs_dataset *valid);
  /* Writes / reads the trained model.  Optional, but required with train. */
  int (*save) (const void *state, FILE *out);
  int (*load) (void *state, FILE *in);
  /* Bytes of per-thread scratch that analyze needs.  Optional (NULL: none).
   * Called after alloc/train/load. */
  size_t (*workspace_size) (const void *state);
  /* Analyses one spectrum y[n_channels] (finite, non-negative, not all
   * zero: the host checks).  Must not modify the state: the host calls it
   * from several threads at once, each with its own workspace.  Required. */
  int (*analyze) (const void *state, void *workspace, const double *y,
                  size_t n_channels, gs_result *res);
  /* Since ABI 1.2.  Optional (NULL, or absent in a smaller struct_size:
   * none).  A method that learns its own signatures (a trained NMF's
   * loadings) writes them into out[n_channels x n_components], row-major
   * like gs_library_view.signatures, in the library's component order,
   * every column summing to 1, such that its result.counts reconstruct
   * the spectrum as sum_k counts[k] * column k.  The host exports them
   * as a library (`gspec export-library`) and writes reconstructions
   * (`gspec analyze --denoised`).  Called after train or load; must not
   * modify the state. */
  int (*signatures) (const void *state, double *out);
} gs_method_type;

/* The method type's signatures callback, or NULL when the type predates
 * ABI 1.2 or has none. */
#define GS_METHOD_SIGNATURES(t)                                              \
  ((t)->struct_size >= offsetof (gs_method_type, signatures)                 \
                           + sizeof ((t)->signatures)                        \
       ? (t)->signatures                                                     \
       : NULL)

/* ---------------------------------------------------------------------- */
/* The plugin descriptor.                                                  */

typedef struct gs_plugin_info
{
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  const char *name;
  const char *version;
  const char *license;
  const gs_method_type *const *methods; /* NULL-terminated */
} gs_plugin_info;

typedef const gs_plugin_info *(*gs_plugin_entry_fn) (const gs_host_api *host);

#if defined(__GNUC__)
#define GS_PLUGIN_EXPORT __attribute__ ((visibility ("default")))
#define GS_PLUGIN_HIDDEN __attribute__ ((visibility ("hidden")))
#else
#define GS_PLUGIN_EXPORT
#define GS_PLUGIN_HIDDEN
#endif

/* The host table, set by gs_plugin_entry before any method is used.  Each
 * plugin has its own hidden copy. */
extern GS_PLUGIN_HIDDEN const gs_host_api *gs_host;

/* Defines gs_plugin_entry and the plugin's gs_host.  Use once per plugin:
 *   GS_PLUGIN_DEFINE ("my-plugin", "1.0.0", "MIT", &my_method_type);   */
#define GS_PLUGIN_DEFINE(name_, version_, license_, ...)                     \
  GS_PLUGIN_HIDDEN const gs_host_api *gs_host = NULL;                        \
  static const gs_method_type *const gs__plugin_methods[]                    \
      = { __VA_ARGS__, NULL };                                               \
  static const gs_plugin_info gs__plugin_info                                \
      = { GS_ABI_MAJOR,       GS_ABI_MINOR, (uint32_t)sizeof (gs_plugin_info), \
          name_,              version_,     license_,                        \
          gs__plugin_methods };                                              \
  GS_PLUGIN_EXPORT const gs_plugin_info *gs_plugin_entry (                   \
      const gs_host_api *host);                                              \
  GS_PLUGIN_EXPORT const gs_plugin_info *gs_plugin_entry (                   \
      const gs_host_api *host)                                               \
  {                                                                          \
    gs_host = host;                                                          \
    return &gs__plugin_info;                                                 \
  }

#ifdef __cplusplus
}
#endif
#endif
