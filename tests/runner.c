/* CUnit runner: `gspec_tests` runs every suite, `gspec_tests NAME...` the
 * suites whose name starts with NAME.  Exits with the number of failures
 * (capped at 125), so ctest and CI see them. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "gspec/core.h"
#include "test_suites.h"

int
main (int argc, char **argv)
{
  unsigned int run = 0, failed = 0;
  int i;
  if (CU_initialize_registry () != CUE_SUCCESS)
    return 1;
  gs_core_init ();
  gs_test_register_all ();
  CU_basic_set_mode (CU_BRM_VERBOSE);
  if (argc < 2)
    {
      CU_basic_run_tests ();
      run = CU_get_run_summary ()->nTestsRun;
      failed = CU_get_run_summary ()->nTestsFailed;
    }
  else
    for (i = 1; i < argc; i++)
      {
        CU_pSuite s;
        int found = 0;
        for (s = CU_get_registry ()->pSuite; s; s = s->pNext)
          if (strncmp (s->pName, argv[i], strlen (argv[i])) == 0)
            {
              CU_basic_run_suite (s);
              run += CU_get_run_summary ()->nTestsRun;
              failed += CU_get_run_summary ()->nTestsFailed;
              found = 1;
            }
        if (!found)
          {
            fprintf (stderr, "gspec_tests: no suite named '%s'\n", argv[i]);
            CU_cleanup_registry ();
            return 2;
          }
      }
  printf ("\n%u passed, %u failed\n", run - failed, failed);
  CU_cleanup_registry ();
  gs_core_fini ();
  return failed > 125 ? 125 : (int)failed;
}
