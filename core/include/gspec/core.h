/* The gspec host: start-up, the plugin registry and method instances.
 *
 * Typical use:
 *   gs_core_init ();
 *   gs_registry *reg = gs_registry_alloc ();
 *   gs_registry_load_default (reg);
 *   const gs_method_type *t = gs_registry_find (reg, "unmixing.nnpu");
 *   void *params = gs_params_alloc (t);          // defaults applied
 *   gs_params_set (t, params, "max_iter", "500", "--param");
 *   gs_method *m; gs_method_alloc (t, params, &setup, &m);
 *   gs_result *r = gs_result_alloc (ncomp, gs_method_n_extras (t));
 *   gs_method_analyze (m, NULL, y, nch, r);      // NULL: own workspace
 */
#ifndef GSPEC_CORE_H
#define GSPEC_CORE_H

#include <stddef.h>
#include <stdio.h>

#include "gspec/plugin.h"
#include "gspec/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Installs the GSL error bridge (GSL errors become gs_error messages
 * instead of aborting) and pins OpenBLAS to one thread (gspec parallelises
 * over spectra itself).  Idempotent. */
int gs_core_init (void);
void gs_core_fini (void);

/* The gspec version string, e.g. "0.1.0". */
const char *gs_version (void);

/* The host table handed to plugins. */
const gs_host_api *gs_host_api_get (void);

/* Log verbosity of the host's logger (default GS_LOG_INFO); messages go
 * to stderr. */
void gs_log_set_level (gs_log_level level);
void gs_log (gs_log_level level, const char *who, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* ---- Registry --------------------------------------------------------- */

typedef struct gs_registry gs_registry;

gs_registry *gs_registry_alloc (void);
void gs_registry_free (gs_registry *reg);

/* Loads one plugin file.  Strict and atomic: a file that cannot be opened,
 * lacks gs_plugin_entry, has an incompatible ABI, repeats an id or has a
 * malformed method or parameter table is refused with a message naming
 * the file and the reason (gs_last_error) and leaves nothing registered.
 * Loading the same file (same real path) twice is a no-op. */
int gs_registry_load_file (gs_registry *reg, const char *path);

/* Loads every *.so in a directory (sorted by name).  Returns the number of
 * files refused; each refusal is logged as a warning and kept in the
 * registry's failure list.  A missing directory is not an error. */
int gs_registry_load_dir (gs_registry *reg, const char *dir);

/* Loads from GSPEC_PLUGIN_PATH (colon-separated), then the build-tree
 * folder (<exe dir>/plugins), then the install folder
 * (<exe dir>/../<libdir>/gspec/plugins).  Returns the number of
 * refusals. */
int gs_registry_load_default (gs_registry *reg);

size_t gs_registry_count (const gs_registry *reg);
const gs_method_type *gs_registry_method (const gs_registry *reg, size_t i);
const gs_method_type *gs_registry_find (const gs_registry *reg,
                                        const char *id);
/* The plugin that provides a method (path, name, version, licence). */
const char *gs_registry_method_path (const gs_registry *reg, size_t i);
const gs_plugin_info *gs_registry_method_plugin (const gs_registry *reg,
                                                 size_t i);
/* Refusal messages collected by load_dir/load_default. */
size_t gs_registry_failure_count (const gs_registry *reg);
const char *gs_registry_failure (const gs_registry *reg, size_t i);

/* Checks a method type the way the loader does (ids, required callbacks,
 * parameter table).  Returns GS_OK or GS_EPLUGIN with the reason. */
int gs_method_type_check (const gs_method_type *t);

/* ---- Parameters ------------------------------------------------------- */

/* A malloc'd, zeroed params block of t->params_size bytes with every
 * default applied (at least 1 byte, so never NULL on success). */
void *gs_params_alloc (const gs_method_type *t);
void gs_params_free (void *params);

/* Parses `value` for parameter `name` and stores it.  Unknown names list
 * the valid ones; out-of-range values state the range; `where` (e.g.
 * "cfg.yaml:12:5" or "--param") prefixes the message. */
int gs_params_set (const gs_method_type *t, void *params, const char *name,
                   const char *value, const char *where);

/* Writes the current values as a JSON object. */
struct gs__buf;
void gs_params_to_json (const gs_method_type *t, const void *params,
                        struct gs__buf *out);

/* Formats one parameter's value into buf. */
void gs_params_format (const gs_param_spec *p, const void *params, char *buf,
                       size_t size);

/* Prints the table for `gspec methods --describe`. */
void gs_params_describe (const gs_method_type *t, FILE *out);

/* ---- Method instances ------------------------------------------------- */

typedef struct gs_method gs_method;

/* Allocates and initialises an instance; `params` is copied. */
int gs_method_alloc (const gs_method_type *t, const void *params,
                     const gs_setup *setup, gs_method **out);
void gs_method_free (gs_method *m);
const gs_method_type *gs_method_type_of (const gs_method *m);
const void *gs_method_params (const gs_method *m);

int gs_method_train (gs_method *m, const gs_dataset *train,
                     const gs_dataset *valid);
int gs_method_save (const gs_method *m, FILE *out);
int gs_method_load (gs_method *m, FILE *in);

/* Per-thread workspace for analyze (malloc'd, zeroed; NULL when the
 * method needs none).  Free with gs_method_workspace_free. */
int gs_method_workspace_alloc (const gs_method *m, void **work);
void gs_method_workspace_free (void *work);

/* Checks y (length, finite, non-negative, not all zero) and calls the
 * method.  `work` may be NULL: a temporary workspace is then used.  The
 * result is reset first.  Errors name the channel and the method. */
int gs_method_analyze (const gs_method *m, void *work, const double *y,
                       size_t n_channels, gs_result *res);

/* The signatures a method learnt (ABI 1.2 `signatures` callback) into
 * out[n_channels x n_components] of the library it was made with;
 * GS_EUNSUPPORTED when the method type learns none.  The columns are
 * checked (finite, non-negative, summing to 1 within 1e-9). */
int gs_method_signatures (const gs_method *m, size_t n_components,
                          double *out);

/* Number of names in t->extras. */
size_t gs_method_n_extras (const gs_method_type *t);

/* ---- Results ---------------------------------------------------------- */

gs_result *gs_result_alloc (size_t n_components, size_t n_extras);
void gs_result_free (gs_result *r);
/* Sets the "not given" values (present -1, NaN, no peaks). */
void gs_result_reset (gs_result *r);

#ifdef __cplusplus
}
#endif
#endif
