/* libFuzzer target for one spectrum-file reader (GSPEC_FUZZ_FORMAT, a
 * gs_format value set by tests/fuzz/CMakeLists.txt): reads the input in
 * that format and, when it parses, converts it to spectra and writes it
 * back in a writable format, so the converters see every parsed file.
 * Any crash, leak (ASan), undefined behaviour (UBSan) or hang is a
 * finding; error statuses are expected. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gspec/core.h"
#include "gspec/formats.h"
#include "gspec/spectra.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int ready;
  gs_specfile *f = NULL;
  gs_spectra *s = NULL;
  if (!ready)
    {
      gs_core_init ();
      ready = 1;
    }
  if (gs_specfile_read_mem (data, size, "fuzz-input",
                            (gs_format)GSPEC_FUZZ_FORMAT, &f)
      != 0)
    return 0;
  if (gs_specfile_to_spectra (f, &s) == 0)
    {
      gs_specfile *back = NULL;
      if (gs_specfile_from_spectra (s, &back) == 0)
        gs_specfile_free (back);
      gs_spectra_free (s);
    }
  gs_specfile_free (f);
  return 0;
}
