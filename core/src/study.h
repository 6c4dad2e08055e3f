/* `gspec study`: Monte-Carlo studies of semi-blind unmixing with known
 * truth (the SEMSUN paper's section 5.1 design): one mixture of a
 * background and nuclides whose signatures sit at a true shielding
 * thickness, Poisson draws at given total counts, every method started
 * from the signatures at a start thickness; the report gives the NMSE
 * (dB) of the estimated signatures and the relative errors of the counts,
 * as the paper's Tables 2-5 do. */
#ifndef GSPEC_STUDY_H
#define GSPEC_STUDY_H

typedef struct gs_study_opts
{
  const char *config;       /* YAML path */
  const char *out_dir;      /* NULL: the config's outputs.dir */
  char **overrides;         /* "--set" assignments */
  int n_overrides;
  int threads;              /* 0: the config's, else one per CPU */
  int quiet;
} gs_study_opts;

void gs_study_opts_init (gs_study_opts *o);
int gs_study_run (const gs_study_opts *o);

#endif
