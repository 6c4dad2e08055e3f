/* gspec status codes: one list, pinned values, one strerror.
 *
 * Every fallible gspec call returns an int that is GS_OK (0) or one of the
 * codes below.  Values never change once released; new codes are appended.
 * Codes that share a meaning with GSL reuse GSL's number so that GSL errors
 * map through unchanged. */
#ifndef GSPEC_STATUS_H
#define GSPEC_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define GS_STATUS_MAP(X)                                                     \
  X(GS_OK, 0, "success")                                                     \
  X(GS_CONTINUE, -2, "iteration has not converged yet")                      \
  X(GS_EFAILED, 5, "generic failure")                                        \
  X(GS_EINVAL, 4, "invalid argument")                                        \
  X(GS_ENOMEM, 8, "out of memory")                                           \
  X(GS_ERANGE, 14, "value out of range")                                     \
  X(GS_EMAXITER, 11, "iteration limit reached without convergence")          \
  X(GS_ESING, 21, "singular matrix")                                         \
  X(GS_EBADLEN, 19, "length mismatch")                                       \
  X(GS_EIO, 100, "input/output error")                                       \
  X(GS_ENOENT, 101, "file or item not found")                                \
  X(GS_EFORMAT, 102, "malformed input")                                      \
  X(GS_EBADDATA, 103, "invalid data (NaN, negative or empty spectrum)")      \
  X(GS_ECONFIG, 104, "invalid configuration")                                \
  X(GS_EABI, 105, "plugin ABI mismatch")                                     \
  X(GS_EPLUGIN, 106, "invalid plugin")                                       \
  X(GS_EDUP, 107, "duplicate identifier")                                    \
  X(GS_EUNSUPPORTED, 108, "operation not supported by this method")          \
  X(GS_ECHILD, 109, "child process failed")

typedef enum gs_status
{
#define GS__STATUS_ENUM(name, value, msg) name = value,
  GS_STATUS_MAP(GS__STATUS_ENUM)
#undef GS__STATUS_ENUM
} gs_status;

/* Returns a static, human-readable description of a status code. */
const char *gs_strerror (int status);

/* The calling thread's last error message, as set by gs_error() (never
 * NULL; empty when none).  Every gspec function that returns an error code
 * also sets this message: what went wrong, where, and what to do. */
const char *gs_last_error (void);

/* Records a formatted message as the calling thread's last error and
 * returns `status`, so that callers can write `return gs_error (...)`. */
int gs_error (int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 2, 3)))
#endif
    ;

/* Prefixes the current last-error message with a formatted context, e.g.
 * the file being read.  Returns `status`. */
int gs_error_prefix (int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 2, 3)))
#endif
    ;

/* Clears the calling thread's last error. */
void gs_error_clear (void);

#ifdef __cplusplus
}
#endif
#endif
