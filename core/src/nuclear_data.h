/* Nuclear and atomic data for the embedded detector model: gamma and X-ray
 * emission lines per nuclide, the natural-background composition, and
 * photon mass attenuation coefficients of NaI, iron and aluminium.  Private to
 * the core; everything here is static, read-only data. */
#ifndef GSPEC_NUCLEAR_DATA_H
#define GSPEC_NUCLEAR_DATA_H

#include <stddef.h>

/* One emission line: energy in keV and emission probability in % per
 * decay of the parent (for decay series: per decay of the series head in
 * secular equilibrium, branching ratios included). */
typedef struct gs__gamma_line
{
  double energy_kev;
  double intensity_pct;
} gs__gamma_line;

typedef struct gs__nuclide
{
  const char *name; /* "Cs137" */
  const char *note; /* what the lines stand for, one line */
  const gs__gamma_line *lines;
  size_t n_lines;
} gs__nuclide;

/* The nuclides known to the embedded model, in table order. */
size_t gs__nuclide_count (void);
const gs__nuclide *gs__nuclide_at (size_t i);

/* Case-sensitive lookup; NULL when unknown. */
const gs__nuclide *gs__nuclide_find (const char *name);

/* NULL-terminated list of the names, in table order. */
extern const char *const gs__nuclide_names[];

/* The natural background: series heads and their specific activities. */
typedef struct gs__background_member
{
  const char *nuclide; /* a name known to gs__nuclide_find */
  double activity_bq_per_kg;
} gs__background_member;

const gs__background_member *gs__background_members (size_t *n);

/* Mass attenuation coefficients in cm^2/g (energy in keV, valid 10 keV to
 * 4 MeV; outside, the end segments are extrapolated log-log).
 * gs__nai_mu_total includes coherent scattering; gs__nai_mu_pair is the
 * pair-production part (0 below 1022 keV). */
double gs__nai_mu_total (double e_kev);
double gs__nai_mu_pair (double e_kev);
double gs__fe_mu_total (double e_kev);
double gs__al_mu_total (double e_kev);

#endif
