/* The embedded default library: an analytic model of a 3"x3" NaI(Tl)
 * detector (a 7.62 cm x 7.62 cm cylinder) built from the line data of
 * nuclear_data.c.  It needs no file.
 *
 * Notation: E line energy, I emission probability, m = 510.999 keV,
 * k = E/m, rho = 3.667 g/cm^3 and L = 7.62 cm for NaI, mu(E) mass
 * attenuation coefficients (NIST, see nuclear_data.c).
 *
 * Interactions.  In NaI, the Compton part is Klein-Nishina,
 * sigma(E) = n_e sigma_KN(E) with n_e = N_A 64/149.894 electrons per gram;
 * pair production kappa(E) is tabulated; the photoelectric part is the
 * rest, tau = mu_tot - sigma - kappa (coherent scattering, a few % of
 * mu_tot, is lumped with it).  mu_i = tau + sigma + kappa.
 *
 * Efficiency (source on the crystal axis, behind a housing of 0.8 mm of
 * aluminium, i.e. a 0.5 mm can plus the reflector; the thickness was
 * chosen so that the 27-32 keV X-ray peaks have the relative areas of the
 * GammaBench Geant4 signatures):
 *   eps(E) = exp(-mu_Al(E) 0.216 g/cm^2) (1 - exp(-mu_i(E) rho L)).
 *
 * Photofraction P(E) (full-energy events per interacting photon):
 *   P = (tau (1 - f_K) + sigma q + kappa a_f^2) / mu_i,
 * where q is the probability that the Compton-scattered photon
 * (E' = E - T, T drawn from the Klein-Nishina dsigma/dT) is absorbed in
 * full: q = < A(E') P(E') >_KN with A(E') = 1 - exp(-mu_i(E') rho l) the
 * chance it interacts within an effective escape path l = 1.5 cm.  The
 * recursion is solved on a logarithmic energy grid (16-point quadrature
 * in T).  l is fitted: it gives the peak-to-total ratios published for
 * 3"x3" NaI (about 0.50 at 662 keV, 0.30 at 1332 keV; R. L. Heath,
 * "Scintillation Spectrometry Gamma-Ray Spectrum Catalogue", IDO-16880,
 * 1964).  a_f = A(511) P(511) is the chance an
 * annihilation photon is absorbed in full.
 *
 * Response of one line, incident weight w, W = w eps(E), all deposits in
 * keV, then smeared with the resolution below:
 *  - photopeak: area W P, Gaussian at E;
 *  - iodine K escape (E > 33.17 keV): area W (tau/mu_i) f_K at E - 28.5
 *    (Kalpha, 82 %) and E - 32.4 keV (Kbeta, 18 %), with the
 *    semi-infinite-slab escape fraction (Axel 1953)
 *      f_K = 1/2 omega_K (1 - 1/J) [1 - (mu_K/mu) ln(1 + mu/mu_K)],
 *    omega_K = 0.882, edge jump J = 5.47, mu_K = mu(28.6 keV): about 9 %
 *    at 60 keV, 2 % at 122 keV, falling with E;
 *  - pair escapes (E > 1022 keV): single at E - 511 with area
 *    W (kappa/mu_i) 2 a_f (1 - A(511)), double at E - 1022 with
 *    W (kappa/mu_i) (1 - A(511))^2;
 *  - single-scatter Compton continuum, area W (sigma/mu_i) r_1 with
 *    r_1 = < 1 - A(E') >_KN, shape the Klein-Nishina
 *      dsigma/dT ~ 2 + s^2/(k^2 (1-s)^2) + s/(1-s) (s - 2/k),  s = T/E,
 *    on 0 <= T <= E_c = E 2k/(1 + 2k);
 *  - multiple-scatter continuum: the photons that interact again without
 *    full absorption, area W [(sigma/mu_i) < A(E') (1 - P(E')) >_KN +
 *    (kappa/mu_i)(1 - (a_f + 1 - A(511))^2)], density rising linearly
 *    from 0 to E (two or more deposits add up); it fills the valley
 *    between the Compton edge and the peak;
 *  - backscatter from the surroundings: area 0.012 w eps(E_b) at
 *    E_b = E/(1 + 2k), Gaussian widened by half the spread between 120
 *    and 180 degrees.
 * The areas of the detector terms add up to W.
 *
 * Resolution: FWHM(E) = f 662 (E/662)^(1 - x) keV with f = fwhm_662 and
 * x = fwhm_exponent (FWHM/E ~ E^-x).  Peaks are integrated exactly over
 * each channel with the normal CDF; continua are accumulated on a fine
 * grid (1 keV or half a channel) and each fine bin is spread the same way.
 *
 * Checked against the GammaBench Geant4 signatures (never read here):
 * with the resolution set to theirs (6.6 %, exponent 0.4) the cosine
 * similarity of the 12 nuclide columns is 0.955 to 0.996; for 5.2 mm of
 * steel the Eu-152 344/1408 keV net-area ratio falls to 0.818 of its bare
 * value (Geant4 0.807, exp(-Delta mu rho t) 0.810).
 *
 * Steel shell (steel_mm = t, iron, rho_Fe = 7.874 g/cm^3): each line
 * keeps w = I exp(-mu_Fe(E) rho_Fe t).  Photons Compton-scattered once in
 * the shell add a build-up term: for a scattering angle theta (Klein-
 * Nishina angular distribution, 64 bins in cos theta), energy
 * E' = E/(1 + k (1 - cos theta)), the weight that leaves the shell is
 *   I mu_s [exp(-mu' t) - exp(-mu t)]/(mu - mu')             forward,
 *   I mu_s [1 - exp(-(mu + mu') t)]/(mu + mu') exp(-mu' t)    backward
 * (the backward photons cross the far side of the shell), mu_s the
 * Klein-Nishina coefficient of iron.  These photons are detected with
 * eps(E'): a fraction P(E') at E', the rest spread uniformly below the
 * Compton edge of E'.
 *
 * Gain shift alpha: a deposit E is recorded at E (1 - alpha) (GammaBench
 * convention: alpha = -0.10 stretches energies by 1.10).  The model is
 * computed in deposited energy on the channel edges divided by 1 - alpha.
 *
 * Natural background (column 0, never behind the steel): K-40, the U-238
 * and Th-232 series and U-235 at UNSCEAR 2000 soil activities, each line
 * weighted by the unscattered flux of a uniform half-space source,
 * proportional to I / mu_soil(E) (mu_soil: Klein-Nishina at Z/A = 0.5),
 * plus a smooth continuum for the radiation scattered in soil and air and
 * the cosmic component,
 *   c(E) = C [1 - exp(-(E/E_a)^3)] [exp(-E/E_1) + c_2 exp(-E/E_2)],
 * E_a = 80, E_1 = 100, E_2 = 350 keV, c_2 = 0.08, C fixed relative to the
 * lines.  These were fitted once, during development, to the measured
 * 3"x3" NaI background that ships with GammaBench (cosine similarity
 * 0.998 on the default grid, where the lines carry about 15 % of the
 * counts); nothing is read at run time.
 *
 * Every column is normalised to sum 1 over the requested grid. */
#include "gspec/library.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_math.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "nuclear_data.h"
#include "util.h"

#define EM_MC2 510.99895                     /* electron rest energy, keV */
#define EM_RE 2.8179403262e-13               /* classical electron radius, cm */
#define EM_NA 6.02214076e23                  /* Avogadro, 1/mol */
#define EM_NAI_RHO 3.667                     /* g/cm^3 */
#define EM_NAI_LEN 7.62                      /* crystal depth, cm */
#define EM_NAI_NE (EM_NA * 64.0 / 149.89424) /* electrons per gram */
#define EM_ESC_PATH 1.5                /* effective escape path, cm (fitted) */
#define EM_HOUSING_GCM2 (0.08 * 2.699) /* 0.8 mm of aluminium */
#define EM_FE_RHO 7.874                /* g/cm^3 */
#define EM_FE_NE (EM_NA * 26.0 / 55.845)
#define EM_SOIL_NE (EM_NA * 0.5)
#define EM_I_KEDGE 33.169  /* iodine K edge, keV */
#define EM_I_OMEGA_K 0.882 /* iodine K fluorescence yield */
#define EM_I_JUMP 5.47     /* iodine K-edge jump ratio (NIST) */
#define EM_I_KALPHA 28.5
#define EM_I_KBETA 32.4
#define EM_I_KBETA_FRAC 0.18
#define EM_BACKSCATTER 0.012
#define EM_FWHM_SIGMA 2.3548200450309493 /* FWHM / sigma */
#define EM_NGRID 240 /* photofraction grid, 10 keV .. 4 MeV */
#define EM_GRID_LO 10.0
#define EM_GRID_HI 4000.0
#define EM_NQUAD 16
#define EM_NANGLE 64
#define EM_PEAK_WINDOW 6.5 /* Gaussian window, sigmas */
#define EM_SMEAR_WINDOW 5.5

/* Background continuum (see the header comment). */
#define EM_BG_EA 80.0
#define EM_BG_E1 100.0
#define EM_BG_E2 350.0
#define EM_BG_C2 0.08
#define EM_BG_SCALE 170.0

static const char *const default_nuclides[] = {
  "Co60", "Ba133", "Co57", "Cs137", "Eu152", "Am241", "I123", "I131", "Tc99m",
};

typedef struct em_model
{
  double fwhm_662;
  double fwhm_exponent;
  double steel_gcm2; /* rho t of the shell */
  size_t n_channels;
  size_t n_comp;
  double e0;   /* first channel edge, deposited energy */
  double de;   /* channel width, deposited energy */
  double *sig; /* the library's signatures */
  double df;   /* fine-grid width, keV */
  size_t n_fine;
  double *fine;    /* n_fine x n_comp deposits */
  double *fdiff;   /* running-sum increments for uniform deposits */
  double *scratch; /* one shape, length n_scratch */
  size_t n_scratch;
  double g_step;        /* ln-energy step of the photofraction grid */
  double pf[EM_NGRID];  /* photofraction P */
  double q[EM_NGRID];   /* Compton: scattered photon absorbed in full */
  double r1[EM_NGRID];  /* Compton: scattered photon escapes */
  double rms[EM_NGRID]; /* Compton: interacts again, not in full */
  double a511, af511;
  double mu_k; /* NaI attenuation at the iodine K X-ray energy */
  /* Optional record of every line's full-energy peak (component, energy,
   * area before normalisation, sigma), for gs_library_embedded_peaks. */
  gs_photopeak *rec;
  size_t n_rec, cap_rec;
  int rec_failed;
} em_model;

/* ---------------------------------------------------------------------- */
/* Interaction physics.                                                     */

/* Klein-Nishina total cross section per electron, cm^2. */
static double
kn_sigma (double e)
{
  double k = (e < 1.0 ? 1.0 : e) / EM_MC2;
  double l = log1p (2 * k);
  double a = (1 + k) / (k * k) * (2 * (1 + k) / (1 + 2 * k) - l / k);
  return 2 * M_PI * EM_RE * EM_RE
         * (a + l / (2 * k) - (1 + 3 * k) / ((1 + 2 * k) * (1 + 2 * k)));
}

/* Klein-Nishina dsigma/dT up to a constant factor, 0 <= t < e. */
static double
kn_shape (double t, double e)
{
  double k = e / EM_MC2, s = t / e;
  return 2 + s * s / (k * k * (1 - s) * (1 - s)) + s / (1 - s) * (s - 2 / k);
}

static double
compton_edge (double e)
{
  double k = e / EM_MC2;
  return e * 2 * k / (1 + 2 * k);
}

static void
nai_parts (double e, double *tau, double *sig, double *kap)
{
  double mu = gs__nai_mu_total (e);
  *sig = kn_sigma (e) * EM_NAI_NE;
  *kap = gs__nai_mu_pair (e);
  *tau = mu - *sig - *kap;
  if (*tau < 0)
    *tau = 0;
}

static double
nai_mu_int (double e)
{
  double tau, sig, kap;
  nai_parts (e, &tau, &sig, &kap);
  return tau + sig + kap;
}

/* Housing transmission times the crystal's interaction probability. */
static double
efficiency (double e)
{
  return exp (-gs__al_mu_total (e) * EM_HOUSING_GCM2)
         * -expm1 (-nai_mu_int (e) * EM_NAI_RHO * EM_NAI_LEN);
}

static double
absorb_in_path (double e)
{
  return -expm1 (-nai_mu_int (e) * EM_NAI_RHO * EM_ESC_PATH);
}

/* Iodine K X-ray escape fraction per photoelectric absorption. */
static double
k_escape (const em_model *m, double e)
{
  double r;
  if (e <= EM_I_KEDGE || e > 600)
    return 0;
  r = nai_mu_int (e) / m->mu_k;
  return 0.5 * EM_I_OMEGA_K * (1 - 1 / EM_I_JUMP) * (1 - log1p (r) / r);
}

static double
resolution_sigma (const em_model *m, double e)
{
  double fwhm;
  if (e < 0.01)
    e = 0.01;
  fwhm = m->fwhm_662 * 662.0 * pow (e / 662.0, 1 - m->fwhm_exponent);
  return fwhm / EM_FWHM_SIGMA;
}

/* Linear interpolation on the photofraction grid, using only the first
 * `n` points (the ones computed so far). */
static double
grid_interp (const em_model *m, const double *v, size_t n, double e)
{
  double u;
  size_t i;
  if (n == 0)
    return v[0];
  u = log (e / EM_GRID_LO) / m->g_step;
  if (!(u > 0))
    return v[0];
  if (u >= (double)(n - 1))
    return v[n - 1];
  i = (size_t)u;
  return v[i] + (v[i + 1] - v[i]) * (u - (double)i);
}

/* Photofraction below the grid: every interaction is photoelectric in
 * practice. */
static double
photofraction_at (const em_model *m, size_t n, double e)
{
  double tau, sig, kap;
  if (e < EM_GRID_LO)
    {
      nai_parts (e, &tau, &sig, &kap);
      return tau / (tau + sig + kap);
    }
  return grid_interp (m, m->pf, n, e);
}

/* Solves the photofraction recursion on the logarithmic grid. */
static void
build_photofraction (em_model *m)
{
  size_t g, i;
  m->g_step = log (EM_GRID_HI / EM_GRID_LO) / (EM_NGRID - 1);
  m->mu_k = nai_mu_int (28.6);
  m->a511 = 0;
  m->af511 = 0;
  for (g = 0; g < EM_NGRID; g++)
    {
      double e = EM_GRID_LO * exp (m->g_step * (double)g);
      double tau, sig, kap, mu, ec, sw = 0, sq = 0, s1 = 0, sm = 0;
      nai_parts (e, &tau, &sig, &kap);
      mu = tau + sig + kap;
      ec = compton_edge (e);
      for (i = 0; i < EM_NQUAD; i++)
        {
          double t = ((double)i + 0.5) / EM_NQUAD * ec;
          double w = kn_shape (t, e);
          double ep = e - t;
          double a = absorb_in_path (ep);
          double p = photofraction_at (m, g, ep);
          sw += w;
          sq += w * a * p;
          s1 += w * (1 - a);
          sm += w * a * (1 - p);
        }
      m->q[g] = sq / sw;
      m->r1[g] = s1 / sw;
      m->rms[g] = sm / sw;
      if (kap > 0 && m->a511 == 0)
        {
          m->a511 = absorb_in_path (EM_MC2);
          m->af511 = m->a511 * photofraction_at (m, g, EM_MC2);
        }
      m->pf[g] = (tau * (1 - k_escape (m, e)) + sig * m->q[g]
                  + kap * m->af511 * m->af511)
                 / mu;
    }
}

static double
photofraction (const em_model *m, double e)
{
  return photofraction_at (m, EM_NGRID, e);
}

/* ---------------------------------------------------------------------- */
/* Deposits.                                                                */

/* Adds a Gaussian of the given area, integrated over each channel. */
static void
add_gauss (em_model *m, size_t j, double c, double s, double area)
{
  double lo = c - EM_PEAK_WINDOW * s, hi = c + EM_PEAK_WINDOW * s;
  double top = m->e0 + m->de * (double)m->n_channels;
  double prev, u;
  size_t k, k0, k1;
  if (!(area > 0) || !(s > 0) || hi <= m->e0 || lo >= top)
    return;
  u = (lo - m->e0) / m->de;
  k0 = u > 0 ? (size_t)u : 0;
  u = (hi - m->e0) / m->de;
  k1 = u < (double)(m->n_channels - 1) ? (size_t)u : m->n_channels - 1;
  prev = gsl_cdf_gaussian_P (m->e0 + m->de * (double)k0 - c, s);
  for (k = k0; k <= k1; k++)
    {
      double cur = gsl_cdf_gaussian_P (m->e0 + m->de * (double)(k + 1) - c, s);
      /* Rounding can make a far-tail difference slightly negative. */
      if (cur > prev)
        m->sig[k * m->n_comp + j] += area * (cur - prev);
      prev = cur;
    }
}

static void
add_fine (em_model *m, size_t j, double t, double w)
{
  size_t b;
  if (!(t >= 0) || !(w > 0))
    return;
  b = (size_t)(t / m->df);
  if (b < m->n_fine)
    m->fine[b * m->n_comp + j] += w;
}

/* Adds weight w spread uniformly over [a, b] keV. */
static void
add_uniform (em_model *m, size_t j, double a, double b, double w)
{
  double top = m->df * (double)m->n_fine, dens;
  size_t ia, ib, nc = m->n_comp;
  if (!(w > 0) || !(b > a))
    {
      add_fine (m, j, a, w);
      return;
    }
  if (a < 0)
    a = 0;
  if (a >= top || !(b > a))
    return;
  dens = w / (b - a);
  if (b > top)
    b = top;
  ia = (size_t)(a / m->df);
  ib = (size_t)(b / m->df);
  if (ib >= m->n_fine)
    ib = m->n_fine - 1;
  if (ia == ib)
    {
      m->fine[ia * nc + j] += dens * (b - a);
      return;
    }
  m->fine[ia * nc + j] += dens * (m->df * (double)(ia + 1) - a);
  m->fine[ib * nc + j] += dens * (b - m->df * (double)ib);
  if (ib > ia + 1)
    {
      m->fdiff[(ia + 1) * nc + j] += dens * m->df;
      m->fdiff[ib * nc + j] -= dens * m->df;
    }
}

/* Single-scatter Compton continuum of a line at e with area w. */
static void
add_compton (em_model *m, size_t j, double e, double w)
{
  double ec = compton_edge (e), total = 0;
  size_t b, nb;
  if (!(w > 0))
    return;
  nb = (size_t)ceil (ec / m->df);
  for (b = 0; b < nb; b++)
    {
      double lo = m->df * (double)b;
      double hi = fmin (lo + m->df, ec);
      double t = 0.5 * (lo + hi);
      double v;
      if (!(hi > lo))
        break;
      v = kn_shape (t, e) * (hi - lo);
      total += v;
      if (b < m->n_scratch)
        m->scratch[b] = v;
    }
  if (!(total > 0))
    return;
  if (nb > m->n_fine)
    nb = m->n_fine;
  for (b = 0; b < nb; b++)
    m->fine[b * m->n_comp + j] += w * m->scratch[b] / total;
}

/* Multiple-scatter continuum of a line at e with area w: density rising
 * linearly from 0 to e. */
static void
add_ramp (em_model *m, size_t j, double e, double w)
{
  size_t b, nb;
  double norm;
  if (!(w > 0))
    return;
  nb = (size_t)ceil (e / m->df);
  if (nb > m->n_fine)
    nb = m->n_fine;
  norm = 2 * w / (e * e);
  for (b = 0; b < nb; b++)
    {
      double lo = m->df * (double)b;
      double hi = fmin (lo + m->df, e);
      if (!(hi > lo))
        break;
      m->fine[b * m->n_comp + j] += norm * 0.5 * (hi * hi - lo * lo);
    }
}

/* Appends a full-energy peak to the record (energies in deposited keV
 * here; gs_library_embedded_peaks converts them to the grid's scale). */
static void
record_peak (em_model *m, size_t j, double e, double area)
{
  gs_photopeak *p;
  if (m->rec_failed || !(area > 0))
    return;
  if (m->n_rec == m->cap_rec)
    {
      gs_photopeak *g = realloc (m->rec, 2 * m->cap_rec * sizeof *g);
      if (!g)
        {
          m->rec_failed = 1;
          return;
        }
      m->rec = g;
      m->cap_rec *= 2;
    }
  p = &m->rec[m->n_rec++];
  p->component = j;
  p->energy_kev = e;
  p->share = area;
  p->fwhm_kev = 2 * sqrt (2 * M_LN2) * resolution_sigma (m, e);
}

/* The detector response to one line of energy e and incident weight w. */
static void
add_line (em_model *m, size_t j, double e, double w)
{
  double tau, sig, kap, mu, eps, pe, pc, pp, fk, q, r1, rms;
  double peak, se = 0, de = 0, prest = 0, big, eb, e120, sb;
  if (!(w > 0) || !(e > 0))
    return;
  nai_parts (e, &tau, &sig, &kap);
  mu = tau + sig + kap;
  eps = efficiency (e);
  pe = tau / mu;
  pc = sig / mu;
  pp = kap / mu;
  fk = k_escape (m, e);
  q = grid_interp (m, m->q, EM_NGRID, e);
  r1 = grid_interp (m, m->r1, EM_NGRID, e);
  rms = grid_interp (m, m->rms, EM_NGRID, e);
  if (pp > 0)
    {
      double esc = 1 - m->a511;
      se = 2 * m->af511 * esc;
      de = esc * esc;
      prest = 1 - (m->af511 + esc) * (m->af511 + esc);
    }
  big = w * eps;
  peak = pe * (1 - fk) + pc * q + pp * m->af511 * m->af511;
  add_gauss (m, j, e, resolution_sigma (m, e), big * peak);
  if (m->cap_rec)
    record_peak (m, j, e, big * peak);
  if (fk > 0)
    {
      double ea = e - EM_I_KALPHA, ebeta = e - EM_I_KBETA;
      add_gauss (m, j, ea, resolution_sigma (m, ea),
                 big * pe * fk * (1 - EM_I_KBETA_FRAC));
      add_gauss (m, j, ebeta, resolution_sigma (m, ebeta),
                 big * pe * fk * EM_I_KBETA_FRAC);
    }
  if (pp > 0)
    {
      add_gauss (m, j, e - EM_MC2, resolution_sigma (m, e - EM_MC2),
                 big * pp * se);
      add_gauss (m, j, e - 2 * EM_MC2, resolution_sigma (m, e - 2 * EM_MC2),
                 big * pp * de);
    }
  add_compton (m, j, e, big * pc * r1);
  add_ramp (m, j, e, big * (pc * rms + pp * prest));
  eb = e / (1 + 2 * e / EM_MC2);
  e120 = e / (1 + 1.5 * e / EM_MC2);
  sb = hypot (resolution_sigma (m, eb), 0.5 * (e120 - eb));
  add_gauss (m, j, eb, sb, w * EM_BACKSCATTER * efficiency (eb));
}

/* Photons of a line scattered once in the steel shell. */
static void
add_steel_scatter (em_model *m, size_t j, double e, double w)
{
  double t = m->steel_gcm2, k = e / EM_MC2;
  double mu = gs__fe_mu_total (e), mus = kn_sigma (e) * EM_FE_NE;
  double f[EM_NANGLE], sum = 0;
  size_t i;
  if (!(t > 0) || !(w > 0))
    return;
  for (i = 0; i < EM_NANGLE; i++)
    {
      double c = -1 + 2 * ((double)i + 0.5) / EM_NANGLE;
      double r = 1 / (1 + k * (1 - c));
      f[i] = r * r * (r + 1 / r - (1 - c * c));
      sum += f[i];
    }
  for (i = 0; i < EM_NANGLE; i++)
    {
      double c = -1 + 2 * ((double)i + 0.5) / EM_NANGLE;
      double ep = e / (1 + k * (1 - c));
      double mup = gs__fe_mu_total (ep), s, ws, eps, p;
      if (c >= 0)
        {
          double x = (mu - mup) * t;
          double g = fabs (x) < 1e-12 ? 1 : -expm1 (-x) / x;
          s = mus * t * exp (-mup * t) * g;
        }
      else
        s = mus * -expm1 (-(mu + mup) * t) / (mu + mup) * exp (-mup * t);
      ws = w * f[i] / sum * s;
      eps = efficiency (ep);
      p = photofraction (m, ep);
      add_fine (m, j, ep, ws * eps * p);
      add_uniform (m, j, 0, compton_edge (ep), ws * eps * (1 - p));
    }
}

/* Spreads the fine-grid deposits over the channels. */
static void
smear (em_model *m)
{
  size_t b, j, k, nc = m->n_comp;
  double top = m->e0 + m->de * (double)m->n_channels;
  for (j = 0; j < nc; j++)
    {
      double run = 0, big = 0;
      for (b = 0; b < m->n_fine; b++)
        {
          double d = m->fdiff[b * nc + j];
          run += d;
          big = fmax (big, fabs (d));
          /* Where all steps have closed, drop the rounding residue. */
          if (fabs (run) <= 1e-12 * big)
            run = 0;
          m->fine[b * nc + j] += run;
        }
    }
  for (b = 0; b < m->n_fine; b++)
    {
      const double *v = m->fine + b * nc;
      double t = m->df * ((double)b + 0.5), s, lo, hi, u, prev;
      size_t k0, k1;
      int any = 0;
      for (j = 0; j < nc; j++)
        if (v[j] != 0)
          any = 1;
      if (!any)
        continue;
      s = resolution_sigma (m, t);
      lo = t - EM_SMEAR_WINDOW * s;
      hi = t + EM_SMEAR_WINDOW * s;
      if (hi <= m->e0 || lo >= top)
        continue;
      u = (lo - m->e0) / m->de;
      k0 = u > 0 ? (size_t)u : 0;
      u = (hi - m->e0) / m->de;
      k1 = u < (double)(m->n_channels - 1) ? (size_t)u : m->n_channels - 1;
      prev = gsl_cdf_gaussian_P (m->e0 + m->de * (double)k0 - t, s);
      for (k = k0; k <= k1; k++)
        {
          double cur
              = gsl_cdf_gaussian_P (m->e0 + m->de * (double)(k + 1) - t, s);
          double wgt = cur - prev;
          double *row = m->sig + k * nc;
          prev = cur;
          if (!(wgt > 0))
            continue;
          for (j = 0; j < nc; j++)
            row[j] += wgt * v[j];
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Components.                                                              */

static void
add_nuclide (em_model *m, size_t j, const gs__nuclide *nuc)
{
  size_t i;
  for (i = 0; i < nuc->n_lines; i++)
    {
      double e = nuc->lines[i].energy_kev;
      double w = nuc->lines[i].intensity_pct / 100.0;
      double tr = exp (-gs__fe_mu_total (e) * m->steel_gcm2);
      add_line (m, j, e, w * tr);
      add_steel_scatter (m, j, e, w);
    }
}

static double
background_continuum (double e)
{
  double x = e / EM_BG_EA;
  if (!(e > 0))
    return 0;
  return EM_BG_SCALE * -expm1 (-x * x * x)
         * (exp (-e / EM_BG_E1) + EM_BG_C2 * exp (-e / EM_BG_E2));
}

static void
add_background_lines (em_model *m)
{
  size_t n, i, l;
  const gs__background_member *bg = gs__background_members (&n);
  for (i = 0; i < n; i++)
    {
      const gs__nuclide *nuc = gs__nuclide_find (bg[i].nuclide);
      if (!nuc)
        continue;
      for (l = 0; l < nuc->n_lines; l++)
        {
          double e = nuc->lines[l].energy_kev;
          double flux = 1.0 / (kn_sigma (e) * EM_SOIL_NE);
          add_line (m, 0, e,
                    bg[i].activity_bq_per_kg * nuc->lines[l].intensity_pct
                        / 100.0 * flux);
        }
    }
}

/* The continuum goes straight to the channels (it is already smooth):
 * Simpson's rule over each channel in deposited energy. */
static void
add_background_continuum (em_model *m)
{
  size_t k;
  for (k = 0; k < m->n_channels; k++)
    {
      double a = m->e0 + m->de * (double)k, b = a + m->de;
      double v
          = (background_continuum (a) + 4 * background_continuum (0.5 * (a + b))
             + background_continuum (b))
            * m->de / 6;
      m->sig[k * m->n_comp] += v;
    }
}

static double
max_line_energy (const gs__nuclide *const *nucs, size_t n)
{
  double emax = 0;
  size_t i, l, nb;
  const gs__background_member *bg = gs__background_members (&nb);
  for (i = 0; i < n + nb; i++)
    {
      const gs__nuclide *nuc
          = i < n ? nucs[i] : gs__nuclide_find (bg[i - n].nuclide);
      if (!nuc)
        continue;
      for (l = 0; l < nuc->n_lines; l++)
        if (nuc->lines[l].energy_kev > emax)
          emax = nuc->lines[l].energy_kev;
    }
  return emax;
}

/* ---------------------------------------------------------------------- */
/* Public API.                                                              */

void
gs_embedded_opts_init (gs_embedded_opts *opts)
{
  if (!opts)
    return;
  memset (opts, 0, sizeof *opts);
  opts->n_channels = 1024;
  opts->offset_kev = 20.0;
  opts->kev_per_channel = 2.0;
  opts->fwhm_662 = 0.07;
  opts->fwhm_exponent = 0.5;
  opts->nuclides = NULL;
  opts->n_nuclides = 0;
  opts->steel_mm = 0.0;
  opts->gain_shift = 0.0;
}

const char *const *
gs_embedded_nuclides (void)
{
  return gs__nuclide_names;
}

static int
unknown_nuclide (const char *name)
{
  gs__buf b;
  size_t i;
  int rc;
  gs__buf_init (&b);
  for (i = 0; gs__nuclide_names[i]; i++)
    {
      if (i)
        gs__buf_puts (&b, ", ");
      gs__buf_puts (&b, gs__nuclide_names[i]);
    }
  rc = gs_error (GS_EINVAL,
                 "unknown nuclide '%s' for the embedded library; known "
                 "nuclides: %s",
                 name ? name : "(null)", b.failed ? "?" : b.data);
  gs__buf_fini (&b);
  return rc;
}

static int
check_opts (const gs_embedded_opts *o)
{
  if (o->n_channels == 0)
    return gs_error (GS_EINVAL, "embedded library: n_channels must be at "
                                "least 1 (got 0)");
  if (o->n_channels > ((size_t)1 << 24))
    return gs_error (GS_EINVAL,
                     "embedded library: n_channels %zu is too large (at "
                     "most %zu)",
                     o->n_channels, (size_t)1 << 24);
  if (!(o->kev_per_channel > 0) || !isfinite (o->kev_per_channel))
    return gs_error (GS_EINVAL,
                     "embedded library: kev_per_channel must be positive "
                     "and finite (got %g)",
                     o->kev_per_channel);
  if (!(o->offset_kev >= 0) || !isfinite (o->offset_kev))
    return gs_error (GS_EINVAL,
                     "embedded library: offset_kev must be finite and >= 0 "
                     "(got %g)",
                     o->offset_kev);
  if (!(o->offset_kev + o->kev_per_channel * (double)o->n_channels <= 1e5))
    return gs_error (GS_EINVAL,
                     "embedded library: the grid ends at %g keV; the model "
                     "covers at most 100000 keV",
                     o->offset_kev
                         + o->kev_per_channel * (double)o->n_channels);
  if (!(o->fwhm_662 > 0 && o->fwhm_662 < 0.5))
    return gs_error (GS_EINVAL,
                     "embedded library: fwhm_662 (relative FWHM at 662 keV) "
                     "must be in (0, 0.5), e.g. 0.07 (got %g)",
                     o->fwhm_662);
  if (!(o->fwhm_exponent >= 0 && o->fwhm_exponent <= 1))
    return gs_error (GS_EINVAL,
                     "embedded library: fwhm_exponent must be in [0, 1], "
                     "e.g. 0.5 (got %g)",
                     o->fwhm_exponent);
  if (!(o->steel_mm >= 0 && o->steel_mm <= 100))
    return gs_error (GS_EINVAL,
                     "embedded library: steel_mm must be in [0, 100] mm "
                     "(got %g)",
                     o->steel_mm);
  if (!(o->gain_shift > -0.5 && o->gain_shift < 0.5))
    return gs_error (GS_EINVAL,
                     "embedded library: gain_shift alpha must be in "
                     "(-0.5, 0.5); energies scale by 1 - alpha (got %g)",
                     o->gain_shift);
  if (o->nuclides == NULL && o->n_nuclides != 0)
    return gs_error (GS_EINVAL,
                     "embedded library: n_nuclides is %zu but nuclides is "
                     "NULL (leave both unset for the default list)",
                     o->n_nuclides);
  return GS_OK;
}

static void
model_fini (em_model *m)
{
  free (m->fine);
  free (m->fdiff);
  free (m->scratch);
}

static int
model_init (em_model *m, const gs_embedded_opts *o, gs_library *lib,
            double emax)
{
  double scale = 1.0 / (1.0 - o->gain_shift), top, tmax;
  memset (m, 0, sizeof *m);
  m->fwhm_662 = o->fwhm_662;
  m->fwhm_exponent = o->fwhm_exponent;
  m->steel_gcm2 = o->steel_mm * 0.1 * EM_FE_RHO;
  m->n_channels = lib->n_channels;
  m->n_comp = lib->n_components;
  m->sig = lib->signatures;
  m->e0 = o->offset_kev * scale;
  m->de = o->kev_per_channel * scale;
  m->df = fmin (1.0, fmax (0.25, 0.5 * m->de));
  top = m->e0 + m->de * (double)m->n_channels;
  tmax = fmin (emax + 1.0, top + 8 * resolution_sigma (m, top));
  m->n_fine = (size_t)ceil (tmax / m->df) + 1;
  m->n_scratch = (size_t)ceil ((emax + 1.0) / m->df) + 1;
  m->fine = calloc (m->n_fine * m->n_comp, sizeof (double));
  m->fdiff = calloc (m->n_fine * m->n_comp, sizeof (double));
  m->scratch = calloc (m->n_scratch, sizeof (double));
  if (!m->fine || !m->fdiff || !m->scratch)
    {
      model_fini (m);
      return gs_error (GS_ENOMEM,
                       "out of memory building the embedded library");
    }
  build_photofraction (m);
  return GS_OK;
}

static int
build_embedded (const gs_embedded_opts *opts, gs_library **out,
                gs_photopeak **peaks, size_t *n_peaks);

int
gs_library_embedded (const gs_embedded_opts *opts, gs_library **out)
{
  return build_embedded (opts, out, NULL, NULL);
}

int
gs_library_embedded_peaks (const gs_embedded_opts *opts, gs_library **out,
                           gs_photopeak **peaks, size_t *n_peaks)
{
  if (!peaks || !n_peaks)
    return gs_error (GS_EINVAL, "gs_library_embedded_peaks: peaks and "
                                "n_peaks must not be NULL");
  *peaks = NULL;
  *n_peaks = 0;
  return build_embedded (opts, out, peaks, n_peaks);
}

static int
build_embedded (const gs_embedded_opts *opts, gs_library **out,
                gs_photopeak **peaks, size_t *n_peaks)
{
  double *colsum = NULL;
  const char *const *names;
  const gs__nuclide **nucs = NULL;
  gs_library *lib = NULL;
  em_model m;
  size_t n, i, j, k;
  int rc;
  memset (&m, 0, sizeof m);

  if (out)
    *out = NULL;
  if (!opts || !out)
    return gs_error (GS_EINVAL, "gs_library_embedded: opts and out must "
                                "not be NULL");
  rc = check_opts (opts);
  if (rc)
    return rc;
  names = opts->nuclides ? opts->nuclides : default_nuclides;
  n = opts->nuclides ? opts->n_nuclides
                     : sizeof default_nuclides / sizeof default_nuclides[0];
  nucs = calloc (n + 1, sizeof *nucs);
  if (!nucs)
    return gs_error (GS_ENOMEM, "out of memory");
  for (i = 0; i < n; i++)
    {
      nucs[i] = gs__nuclide_find (names[i]);
      if (!nucs[i])
        {
          rc = unknown_nuclide (names[i]);
          goto done;
        }
      for (j = 0; j < i; j++)
        if (nucs[j] == nucs[i])
          {
            rc = gs_error (GS_EINVAL,
                           "embedded library: nuclide '%s' is listed twice "
                           "(positions %zu and %zu)",
                           names[i], j, i);
            goto done;
          }
    }

  lib = gs_library_alloc (opts->n_channels, n + 1);
  if (!lib)
    {
      rc = GS_ENOMEM;
      goto done;
    }
  rc = gs_library_set_linear_grid (lib, opts->offset_kev,
                                   opts->kev_per_channel);
  if (rc)
    goto done;
  rc = gs_library_set_name (lib, 0, "background");
  for (i = 0; i < n && rc == GS_OK; i++)
    rc = gs_library_set_name (lib, i + 1, names[i]);
  if (rc)
    goto done;

  rc = model_init (&m, opts, lib, max_line_energy (nucs, n));
  if (rc)
    goto done;
  if (peaks)
    {
      m.cap_rec = 64;
      m.rec = malloc (m.cap_rec * sizeof *m.rec);
      colsum = calloc (n + 1, sizeof *colsum);
      if (!m.rec || !colsum)
        {
          model_fini (&m);
          free (m.rec);
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto done;
        }
    }
  add_background_lines (&m);
  for (i = 0; i < n; i++)
    add_nuclide (&m, i + 1, nucs[i]);
  smear (&m);
  add_background_continuum (&m);
  model_fini (&m);
  if (peaks && m.rec_failed)
    {
      free (m.rec);
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }

  for (j = 0; j < n + 1; j++)
    {
      double sum = 0;
      for (k = 0; k < lib->n_channels; k++)
        sum += lib->signatures[k * lib->n_components + j];
      if (colsum)
        colsum[j] = sum;
      if (!(sum > 0) || !isfinite (sum))
        {
          rc = gs_error (GS_EINVAL,
                         "embedded library: '%s' has no counts on the "
                         "requested grid [%g, %g) keV; widen the grid",
                         lib->names[j], lib->energy_edges[0],
                         lib->energy_edges[lib->n_channels]);
          goto done;
        }
    }
  rc = gs_library_normalise (lib);
  if (rc)
    goto done;
  lib->description = gs__asprintf (
      "embedded analytic 3\"x3\" NaI(Tl) model: FWHM %.3g%% at 662 keV, "
      "steel %g mm, gain shift %g",
      100 * opts->fwhm_662, opts->steel_mm, opts->gain_shift);
  if (!lib->description)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto done;
    }
  rc = gs_library_check (lib);
  if (rc == GS_OK && peaks)
    {
      /* Shares of the normalised columns, energies on the grid's scale
       * (a gain shift moves deposited energy e to e (1 - shift)). */
      double scale = 1.0 - opts->gain_shift;
      for (i = 0; i < m.n_rec; i++)
        {
          m.rec[i].share /= colsum[m.rec[i].component];
          m.rec[i].energy_kev *= scale;
          m.rec[i].fwhm_kev *= scale;
        }
      *peaks = m.rec;
      *n_peaks = m.n_rec;
      m.rec = NULL;
    }

done:
  if (peaks)
    free (m.rec);
  free (colsum);
  free (nucs);
  if (rc)
    gs_library_free (lib);
  else
    *out = lib;
  return rc;
}
