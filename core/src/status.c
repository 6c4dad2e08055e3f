#include "gspec/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define GS__ERRBUF 2048

static _Thread_local char gs__errbuf[GS__ERRBUF];

const char *
gs_strerror (int status)
{
  switch (status)
    {
#define GS__STATUS_CASE(name, value, msg)                                    \
  case value:                                                                \
    return msg;
      GS_STATUS_MAP (GS__STATUS_CASE)
#undef GS__STATUS_CASE
    default:
      return "unknown status";
    }
}

const char *
gs_last_error (void)
{
  return gs__errbuf;
}

int
gs_error (int status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (gs__errbuf, sizeof gs__errbuf, fmt, ap);
  va_end (ap);
  return status;
}

int
gs_error_prefix (int status, const char *fmt, ...)
{
  char prefix[GS__ERRBUF];
  char old[GS__ERRBUF];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  memcpy (old, gs__errbuf, sizeof old);
  /* Bound both parts so the result always fits (prefix first). */
  if (old[0])
    snprintf (gs__errbuf, sizeof gs__errbuf, "%.1000s: %.1000s", prefix,
              old);
  else
    snprintf (gs__errbuf, sizeof gs__errbuf, "%.1000s: %.1000s", prefix,
              gs_strerror (status));
  return status;
}

void
gs_error_clear (void)
{
  gs__errbuf[0] = '\0';
}
