/* LAPACK routines provided by OpenBLAS (Fortran calling convention,
 * column-major).  Internal. */
#ifndef GSPEC_LAPACK_H
#define GSPEC_LAPACK_H

void dpotrf_ (const char *uplo, const int *n, double *a, const int *lda,
              int *info);
void dpotrs_ (const char *uplo, const int *n, const int *nrhs,
              const double *a, const int *lda, double *b, const int *ldb,
              int *info);
void dpotri_ (const char *uplo, const int *n, double *a, const int *lda,
              int *info);

#endif
