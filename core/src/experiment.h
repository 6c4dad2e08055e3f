/* Experiment configs and library files (YAML), parsed and checked. */
#ifndef GSPEC_EXPERIMENT_H
#define GSPEC_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "gspec/calibrate.h"
#include "gspec/library.h"
#include "gspec/peaks.h"
#include "gspec/scenario.h"
#include "gspec/synth.h"
#include "yamltree.h"

typedef enum gs_exp_role
{
  GS_ROLE_TEST = 0,
  GS_ROLE_TRAIN = 1,
  GS_ROLE_VALID = 2
} gs_exp_role;

typedef struct gs_exp_dataset
{
  const char *name;      /* owned by the tree */
  gs_exp_role role;
  int generated;         /* 1: synthetic (gen), 0: read from path */
  gs_synth_opts gen;
  int peaks;             /* generate.peaks: a peak-labelled set (pk) */
  gs_peakset_opts pk;
  char **paths;          /* resolved paths of the sets joined into this
                            dataset (one or more), owned */
  size_t n_paths;
  const char *group_by;  /* meta column that breaks the test metrics
                            down (e.g. detector), or NULL; owned by the
                            tree */
} gs_exp_dataset;

typedef struct gs_exp_method
{
  const char *id;           /* owned by the tree */
  const gs_ynode *params;   /* mapping or NULL */
  const gs_ynode *node;     /* for positions in messages */
} gs_exp_method;

typedef struct gs_experiment
{
  char *path;           /* the config file */
  char *dir;            /* its directory (relative paths resolve here) */
  gs_ynode *root;       /* the tree after --set overrides */
  char *text;           /* the file's text (echoed in results.json) */
  char **overrides;     /* the --set assignments */
  size_t n_overrides;
  char hash[17];        /* FNV-1a 64 of text + overrides, hex */
  const char *name;
  uint64_t seed;
  int threads;          /* 0: one per online CPU */
  double target_fpr;
  const gs_ynode *library; /* scalar path or mapping; NULL: the
                              scenario's known signatures */
  int has_scenario;       /* scenario: train/valid/test from its tables */
  gs_scenario_opts scenario; /* root points at scenario_root */
  char *scenario_root;
  const gs_ynode *scenario_node;
  gs_calibrate_mode calib_mode;
  int calib_per_component;
  int calib_has_grid;     /* calibration.grid given */
  double calib_grid[3];   /* from, to, points */
  const gs_ynode *calibration_node;
  gs_exp_dataset *datasets;
  size_t n_datasets;
  gs_exp_method *methods;
  size_t n_methods;
  int all_untrained;    /* methods: all-untrained */
  char *out_dir;        /* resolved against the current directory */
  int write_predictions;
  int write_spectra;    /* outputs.spectra: datasets as labelled sets */
  int rebin_mode;       /* gs_rebin_mode for sets with a calibration */
} gs_experiment;

/* Loads, applies the overrides in order, checks the schema and resolves
 * paths.  Errors say file:line:column and the key. */
int gs_experiment_load (const char *path, char *const *overrides,
                        size_t n_overrides, gs_experiment **out);
void gs_experiment_free (gs_experiment *e);

/* An inline embedded library node (source: embedded) built with its
 * full-energy peak list (gs_library_embedded_peaks), for peak-labelled
 * datasets: the same library gs_library_load_node gives, plus the peaks;
 * any other node is GS_ECONFIG saying so. */
int gs_library_peaks_node (const gs_ynode *node, const char *base_dir,
                           gs_library **lib, gs_photopeak **pk, size_t *n);

/* Loads a library from a library YAML file. */
int gs_library_load_file (const char *path, gs_library **out);

/* Loads a library from a parsed node: a scalar (a path, resolved against
 * base_dir) or a mapping with the library schema. */
int gs_library_load_node (const gs_ynode *node, const char *base_dir,
                          gs_library **out);

#endif
