/* Nuclear and atomic data for the embedded detector model.
 *
 * Emission lines.  Energies (keV) and emission probabilities (% per
 * decay) are the evaluated values of ENSDF (as served by NNDC NuDat 3)
 * and of the LNHB/DDEP "Table de Radionucleides" recommended data, rounded
 * to at most four significant digits.  Lines weaker than about 0.1 % are
 * left out, and so are all lines below 25 keV (L X-rays, the 14.4 keV line
 * of Co-57, Tc K X-rays): they are absorbed in a real detector's housing,
 * which the model does not describe.  K X-rays above 25 keV that follow
 * electron capture or internal conversion are listed with the element that
 * emits them.  Decay series (U238, Ra226, Th232) list the lines of the
 * daughters in secular equilibrium per decay of the series head; Th232
 * includes the 35.94 % branch to Tl-208.  Annihilation radiation of
 * positron emitters (Na22, Co58) is listed at 511 keV with twice the
 * positron branching, as if every positron annihilated in the source.
 *
 * Attenuation.  NaI, iron and aluminium mass attenuation coefficients are the
 * NIST "X-Ray Mass Attenuation Coefficients" tables (J. H. Hubbell and S. M.
 * Seltzer, NIST Standard Reference Database 126), total with coherent
 * scattering.  The NaI column is the mixture rule on the elemental Na and
 * I tables with weight fractions w_Na = 0.15337, w_I = 0.84663; at the
 * iodine K edge (33.169 keV) both sides are listed and the Na value is
 * interpolated log-log.  The NaI pair-production coefficients (nuclear plus
 * electron field) are rounded from the NIST XCOM values; they are known to
 * about 20 %, which only matters for the small escape peaks above
 * 1022 keV. */
#include "nuclear_data.h"

#include <math.h>
#include <string.h>

#define N_(a) (sizeof (a) / sizeof ((a)[0]))

/* ---------------------------------------------------------------------- */
/* Lines.                                                                   */

static const gs__gamma_line co60_lines[] = {
  { 1173.228, 99.85 },
  { 1332.492, 99.98 },
};

/* Cs K X-rays from electron capture. */
static const gs__gamma_line ba133_lines[] = {
  { 30.625, 34.0 },   { 30.973, 62.7 },  { 34.99, 18.3 },    { 35.82, 4.6 },
  { 53.162, 2.14 },   { 79.614, 2.65 },  { 80.998, 32.9 },   { 160.612, 0.638 },
  { 223.237, 0.453 }, { 276.399, 7.16 }, { 302.851, 18.34 }, { 356.013, 62.05 },
  { 383.849, 8.94 },
};

static const gs__gamma_line co57_lines[] = {
  { 122.061, 85.60 },
  { 136.474, 10.68 },
  { 692.03, 0.149 },
};

/* Ba K X-rays from the conversion of the 661.7 keV transition. */
static const gs__gamma_line cs137_lines[] = {
  { 31.817, 1.99 }, { 32.194, 3.64 },   { 36.4, 1.05 },
  { 37.3, 0.27 },   { 661.657, 85.10 },
};

/* Sm K X-rays from the electron-capture branch. */
static const gs__gamma_line eu152_lines[] = {
  { 39.522, 20.8 },    { 40.118, 37.7 },    { 45.4, 11.8 },
  { 46.7, 2.9 },       { 121.782, 28.41 },  { 244.697, 7.55 },
  { 344.279, 26.59 },  { 367.789, 0.862 },  { 411.117, 2.238 },
  { 443.961, 2.83 },   { 488.679, 0.414 },  { 563.986, 0.494 },
  { 586.265, 0.455 },  { 688.670, 0.856 },  { 778.905, 12.97 },
  { 867.380, 4.243 },  { 964.072, 14.50 },  { 1005.27, 0.65 },
  { 1085.837, 10.13 }, { 1089.737, 1.73 },  { 1112.076, 13.41 },
  { 1212.948, 1.415 }, { 1299.142, 1.633 }, { 1408.013, 20.85 },
};

static const gs__gamma_line am241_lines[] = {
  { 26.345, 2.27 },
  { 33.196, 0.126 },
  { 59.541, 35.92 },
};

/* Te K X-rays from electron capture. */
static const gs__gamma_line i123_lines[] = {
  { 27.202, 24.6 }, { 27.472, 45.7 },  { 31.0, 13.3 },    { 31.7, 2.9 },
  { 158.97, 83.3 }, { 346.35, 0.126 }, { 440.02, 0.428 }, { 505.33, 0.316 },
  { 528.96, 1.39 }, { 538.54, 0.382 },
};

/* Xe K X-rays from internal conversion. */
static const gs__gamma_line i131_lines[] = {
  { 29.458, 1.48 },   { 29.779, 2.74 },  { 33.6, 0.97 },     { 80.185, 2.62 },
  { 177.214, 0.269 }, { 284.305, 6.12 }, { 325.789, 0.273 }, { 364.490, 81.5 },
  { 503.004, 0.359 }, { 636.989, 7.16 }, { 642.719, 0.217 }, { 722.911, 1.77 },
};

static const gs__gamma_line tc99m_lines[] = {
  { 140.511, 89.0 },
};

static const gs__gamma_line cs134_lines[] = {
  { 475.365, 1.479 },  { 563.246, 8.338 },  { 569.331, 15.37 },
  { 604.721, 97.62 },  { 795.864, 85.46 },  { 801.953, 8.688 },
  { 1038.610, 0.990 }, { 1167.968, 1.791 }, { 1365.185, 3.017 },
};

static const gs__gamma_line y88_lines[] = {
  { 898.042, 93.7 },
  { 1836.063, 99.2 },
  { 2734.0, 0.71 },
};

/* Pb K X-rays from electron capture and conversion. */
static const gs__gamma_line bi207_lines[] = {
  { 72.805, 21.7 },   { 74.969, 36.4 },   { 84.9, 12.9 },
  { 87.3, 3.8 },      { 569.698, 97.75 }, { 897.77, 0.128 },
  { 1063.656, 74.5 }, { 1442.2, 0.131 },  { 1770.228, 6.87 },
};

static const gs__gamma_line ga67_lines[] = {
  { 91.266, 3.11 },   { 93.310, 38.81 }, { 184.576, 21.41 }, { 208.950, 2.46 },
  { 300.217, 16.64 }, { 393.527, 4.56 }, { 887.69, 0.148 },
};

static const gs__gamma_line na22_lines[] = {
  { 510.999, 180.7 },
  { 1274.537, 99.94 },
};

static const gs__gamma_line co58_lines[] = {
  { 510.999, 29.8 },
  { 810.759, 99.45 },
  { 863.951, 0.686 },
  { 1674.725, 0.517 },
};

static const gs__gamma_line mn54_lines[] = {
  { 834.848, 99.976 },
};

static const gs__gamma_line k40_lines[] = {
  { 1460.822, 10.66 },
};

/* Ra-226 with Pb-214 and Bi-214 (Bi K X-rays after Pb-214 conversion). */
#define RA226_LINES                                                            \
  { 53.228, 1.066 }, { 74.815, 5.8 }, { 77.107, 9.7 }, { 87.3, 4.4 },          \
      { 186.211, 3.64 }, { 241.997, 7.27 }, { 295.224, 18.42 },                \
      { 351.932, 35.60 }, { 609.312, 45.49 }, { 665.453, 1.53 },               \
      { 768.356, 4.892 }, { 785.96, 1.06 }, { 806.174, 1.262 },                \
      { 934.061, 3.10 }, { 1120.287, 14.91 }, { 1155.19, 1.635 },              \
      { 1238.111, 5.831 }, { 1280.96, 1.434 }, { 1377.669, 3.968 },            \
      { 1401.50, 1.330 }, { 1407.98, 2.389 }, { 1509.228, 2.129 },             \
      { 1661.28, 1.047 }, { 1729.595, 2.878 }, { 1764.494, 15.31 },            \
      { 1847.420, 2.025 }, { 2118.55, 1.158 }, { 2204.21, 4.913 },             \
  {                                                                            \
    2447.86, 1.548                                                             \
  }

static const gs__gamma_line ra226_lines[] = { RA226_LINES };

/* U-238 series: Th-234, Pa-234m, the Ra-226 group and Pb-210. */
static const gs__gamma_line u238_lines[] = {
  { 46.539, 4.25 },  { 63.29, 3.75 },    { 92.38, 2.18 }, { 92.80, 2.15 },
  { 766.36, 0.294 }, { 1001.03, 0.847 }, RA226_LINES,
};

static const gs__gamma_line u235_lines[] = {
  { 143.767, 10.96 },
  { 163.356, 5.08 },
  { 185.720, 57.0 },
  { 205.316, 5.02 },
};

/* Th-232 series: Ac-228, Ra-224, Pb-212 (with Bi K X-rays), Bi-212 and
 * Tl-208 (35.94 % branch; intensities already multiplied). */
static const gs__gamma_line th232_lines[] = {
  { 74.815, 10.2 },   { 77.107, 17.1 },   { 87.0, 7.7 },
  { 99.509, 1.26 },   { 129.065, 2.42 },  { 209.253, 3.89 },
  { 238.632, 43.6 },  { 240.986, 4.10 },  { 270.245, 3.46 },
  { 277.371, 2.37 },  { 300.087, 3.30 },  { 328.000, 2.95 },
  { 338.320, 11.27 }, { 409.462, 1.92 },  { 463.004, 4.40 },
  { 510.77, 8.12 },   { 562.500, 0.87 },  { 583.187, 30.55 },
  { 727.330, 6.67 },  { 755.315, 1.00 },  { 763.13, 0.643 },
  { 772.291, 1.49 },  { 785.37, 1.102 },  { 794.947, 4.25 },
  { 835.710, 1.61 },  { 860.557, 4.49 },  { 911.204, 25.8 },
  { 964.766, 4.99 },  { 968.971, 15.8 },  { 1588.19, 3.22 },
  { 1620.50, 1.47 },  { 1630.627, 1.51 }, { 2614.511, 35.85 },
};

#define NUC(name, note, lines)                                                 \
  {                                                                            \
    name, note, lines, N_ (lines)                                              \
  }

static const gs__nuclide nuclides[] = {
  NUC ("Co60", "Co-60", co60_lines),
  NUC ("Ba133", "Ba-133 with Cs K X-rays", ba133_lines),
  NUC ("Co57", "Co-57", co57_lines),
  NUC ("Cs137", "Cs-137/Ba-137m with Ba K X-rays", cs137_lines),
  NUC ("Eu152", "Eu-152 with Sm K X-rays", eu152_lines),
  NUC ("Am241", "Am-241", am241_lines),
  NUC ("I123", "I-123 with Te K X-rays", i123_lines),
  NUC ("I131", "I-131 with Xe K X-rays", i131_lines),
  NUC ("Tc99m", "Tc-99m", tc99m_lines),
  NUC ("Cs134", "Cs-134", cs134_lines),
  NUC ("Y88", "Y-88", y88_lines),
  NUC ("Bi207", "Bi-207 with Pb K X-rays", bi207_lines),
  NUC ("Ga67", "Ga-67", ga67_lines),
  NUC ("Na22", "Na-22 with annihilation radiation", na22_lines),
  NUC ("Co58", "Co-58 with annihilation radiation", co58_lines),
  NUC ("Mn54", "Mn-54", mn54_lines),
  NUC ("K40", "K-40", k40_lines),
  NUC ("Ra226", "Ra-226 with Pb-214 and Bi-214", ra226_lines),
  NUC ("U238", "U-238 series in equilibrium", u238_lines),
  NUC ("U235", "U-235", u235_lines),
  NUC ("Th232", "Th-232 series in equilibrium", th232_lines),
};

const char *const gs__nuclide_names[] = {
  "Co60",  "Ba133", "Co57", "Cs137", "Eu152", "Am241", "I123", "I131",
  "Tc99m", "Cs134", "Y88",  "Bi207", "Ga67",  "Na22",  "Co58", "Mn54",
  "K40",   "Ra226", "U238", "U235",  "Th232", NULL,
};

size_t
gs__nuclide_count (void)
{
  return N_ (nuclides);
}

const gs__nuclide *
gs__nuclide_at (size_t i)
{
  return i < N_ (nuclides) ? &nuclides[i] : NULL;
}

const gs__nuclide *
gs__nuclide_find (const char *name)
{
  size_t i;
  if (!name)
    return NULL;
  for (i = 0; i < N_ (nuclides); i++)
    if (strcmp (nuclides[i].name, name) == 0)
      return &nuclides[i];
  return NULL;
}

/* Natural background: UNSCEAR 2000 Report, Annex B, world median specific
 * activities in soil (K-40 400, U-238 35, Th-232 30 Bq/kg); U-235 from the
 * natural activity ratio U-235/U-238 = 0.046. */
static const gs__background_member background[] = {
  { "K40", 400.0 },
  { "U238", 35.0 },
  { "Th232", 30.0 },
  { "U235", 1.6 },
};

const gs__background_member *
gs__background_members (size_t *n)
{
  *n = N_ (background);
  return background;
}

/* ---------------------------------------------------------------------- */
/* Attenuation.                                                             */

typedef struct mu_point
{
  double e_kev;
  double mu; /* cm^2/g */
} mu_point;

static const mu_point nai_total[] = {
  { 10, 140.05 },     { 15, 47.386 },     { 20, 21.845 },
  { 30, 7.3584 },     { 33.169, 5.6376 }, { 33.169, 30.416 },
  { 40, 18.771 },     { 50, 10.473 },     { 60, 6.4514 },
  { 80, 2.9992 },     { 100, 1.6685 },    { 150, 0.61125 },
  { 200, 0.32851 },   { 300, 0.16572 },   { 400, 0.11712 },
  { 500, 0.094972 },  { 600, 0.082245 },  { 800, 0.06755 },
  { 1000, 0.058807 }, { 1250, 0.051636 }, { 1500, 0.046962 },
  { 2000, 0.041482 }, { 3000, 0.036809 }, { 4000, 0.035196 },
};

static const mu_point nai_pair[] = {
  { 1022.0, 0.0 },  { 1250, 0.00012 }, { 1500, 0.0005 },
  { 2000, 0.0019 }, { 3000, 0.0060 },  { 4000, 0.0095 },
};

static const mu_point fe_total[] = {
  { 10, 170.6 },     { 15, 57.08 },     { 20, 25.68 },     { 30, 8.176 },
  { 40, 3.629 },     { 50, 1.958 },     { 60, 1.205 },     { 80, 0.5952 },
  { 100, 0.3717 },   { 150, 0.1964 },   { 200, 0.1460 },   { 300, 0.1099 },
  { 400, 0.09400 },  { 500, 0.08414 },  { 600, 0.07704 },  { 800, 0.06699 },
  { 1000, 0.05995 }, { 1250, 0.05350 }, { 1500, 0.04883 }, { 2000, 0.04265 },
  { 3000, 0.03621 }, { 4000, 0.03312 },
};

static const mu_point al_total[] = {
  { 10, 26.23 },     { 15, 7.955 },     { 20, 3.441 },     { 30, 1.128 },
  { 40, 0.5685 },    { 50, 0.3681 },    { 60, 0.2778 },    { 80, 0.2018 },
  { 100, 0.1704 },   { 150, 0.1378 },   { 200, 0.1223 },   { 300, 0.1042 },
  { 400, 0.09276 },  { 500, 0.08445 },  { 600, 0.07802 },  { 800, 0.06841 },
  { 1000, 0.06146 }, { 1250, 0.05496 }, { 1500, 0.05006 }, { 2000, 0.04324 },
  { 3000, 0.03541 }, { 4000, 0.03106 },
};

/* Log-log interpolation in a table with increasing energies; a repeated
 * energy marks an absorption edge, where the upper value applies. */
static double
interp_loglog (const mu_point *t, size_t n, double e)
{
  size_t i = 0;
  double f;
  if (!(e > 0))
    e = t[0].e_kev;
  while (i + 2 < n && e >= t[i + 1].e_kev)
    i++;
  if (t[i + 1].e_kev <= t[i].e_kev)
    i++;
  f = log (e / t[i].e_kev) / log (t[i + 1].e_kev / t[i].e_kev);
  return t[i].mu * exp (f * log (t[i + 1].mu / t[i].mu));
}

double
gs__nai_mu_total (double e_kev)
{
  return interp_loglog (nai_total, N_ (nai_total), e_kev);
}

double
gs__fe_mu_total (double e_kev)
{
  return interp_loglog (fe_total, N_ (fe_total), e_kev);
}

double
gs__al_mu_total (double e_kev)
{
  return interp_loglog (al_total, N_ (al_total), e_kev);
}

double
gs__nai_mu_pair (double e_kev)
{
  size_t i = 0, n = N_ (nai_pair);
  if (e_kev <= nai_pair[0].e_kev)
    return 0.0;
  while (i + 2 < n && e_kev >= nai_pair[i + 1].e_kev)
    i++;
  /* Linear in energy: the coefficient starts from zero at threshold. */
  return nai_pair[i].mu
         + (nai_pair[i + 1].mu - nai_pair[i].mu) * (e_kev - nai_pair[i].e_kev)
               / (nai_pair[i + 1].e_kev - nai_pair[i].e_kev);
}
