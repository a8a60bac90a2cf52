/* Shared pieces of the spcnn command-line program (a user of the public API only). */
#ifndef SPCNN_CLI_H
#define SPCNN_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "spatialpixelcnn.h"

/* Exit statuses: 2 for a bad command line, 130 after Ctrl-C / SIGTERM (as a shell reports). */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* A folder of PNG images (folder.c): every *.png under it, recursively, in path order, known
 * by its PNG header (no pixel is decoded to list it). */
typedef struct cli_folder_image {
    char *path;   /* relative to the folder, '/'-separated */
    uint64_t key; /* cli_path_key(path): the split */
    size_t h, w;
    int colour;   /* a colour or palette PNG (read as gray) */
} cli_folder_image;
typedef struct cli_folder {
    char *root;
    cli_folder_image *items;
    size_t count;
    size_t skipped; /* files that were not usable PNGs, skipped (--skip-bad) */
} cli_folder;
/* The key of a relative path: FNV-1a 64 of its bytes, then splitmix64's finaliser. A PNG
 * folder's test set is the images with key % 10 == 0. */
uint64_t cli_path_key(const char *rel);
/* List DIR. A file that is not a usable PNG stops it with a message naming the file, unless
 * skip_bad: then it is counted and skipped, with one warning. Warns once when colour PNGs
 * are found. Returns 0 after printing why. */
int cli_folder_index(const char *cmd, const char *dir, int skip_bad, cli_folder *f);
/* The size and colour of the PNG file at path from its signature and IHDR chunk alone:
 * NULL, or why the file is not a usable PNG. What cli_folder_index reads of each file
 * (external for tests/fuzz/fuzz_cli_png_header.c). */
const char *cli_png_header(const char *path, size_t *h, size_t *w, int *colour);
void cli_folder_free(cli_folder *f);
/* Decode one image into pixels (im->h × im->w bytes). On failure prints why (as a warning
 * when skipping) and returns 0. */
int cli_folder_read(const char *cmd, const cli_folder *f, const cli_folder_image *im,
                    uint8_t *pixels, int skipping);

/* A data set: the training and the test images, and the validation images held out of the
 * training set (cli_dataset_hold_out). IDX data, and a PNG folder loaded without
 * CLI_DATA_STREAM, are in memory, each set of one size; a PNG folder loaded with
 * CLI_DATA_STREAM is its index only (the *_refs lists; train, valid and test stay NULL), its
 * images of any sizes, decoded when they are used. */
typedef struct cli_dataset {
    uint8_t *train, *test, *valid;
    /* Class labels, or NULL: test (t10k-labels-idx1-ubyte), training (train-labels-idx1-ubyte,
     * loaded with the training images) and validation (held out with them). */
    uint8_t *test_labels, *train_labels, *valid_labels;
    size_t n_train, n_test, n_valid;
    size_t train_h, train_w, test_h, test_w;
    const char *kind; /* "IDX" or "PNG folder" */
    /* A PNG folder: its index and the sets as lists of its images: training in descending
     * key order (so that the validation hold-out, taken from its end, is the training images
     * of smallest key), validation and test in ascending key order. */
    cli_folder folder;
    cli_folder_image **train_refs, **valid_refs, **test_refs;
    int streamed; /* CLI_DATA_STREAM: images not decoded */
} cli_dataset;

/* cli_dataset_load_with flags. */
enum { CLI_DATA_STREAM = 1, CLI_DATA_SKIP_BAD = 2 };

/* Load DIR: the IDX pair train-images-idx3-ubyte / t10k-images-idx3-ubyte (and their labels
 * *-labels-idx1-ubyte when present), or else every *.png under it (recursively; the test set
 * the images whose path's key is divisible by 10), decoded into memory: each set loaded must
 * then be of one size. want_train 0 decodes only the test set. Prints the reason and returns
 * 0 on failure. */
int cli_dataset_load(const char *dir, int want_train, cli_dataset *ds);
/* cli_dataset_load with flags: CLI_DATA_STREAM keeps a PNG folder as its index (any sizes),
 * CLI_DATA_SKIP_BAD skips the files of a PNG folder that are not usable PNGs. */
int cli_dataset_load_with(const char *cmd, const char *dir, int want_train, int flags,
                          cli_dataset *ds);
/* Evaluate n images of a PNG folder one at a time (spcnn_model_evaluate on each, decoded as
 * it comes): patches, image and kl get the mean over the images of each image's figure (each
 * image weighs the same, whatever its size); pooled, if not NULL, the bits/dim pooled over
 * all windows' pixels [0] and all images' pixels [1]. Before each image *base and *span are
 * set to its share of the whole, for a progress callback. A file that cannot be read is
 * reported and gives SPCNN_ERR_IO. */
spcnn_status cli_evaluate_folder(const char *cmd, spcnn_model *model, const cli_dataset *ds,
                                 cli_folder_image *const *set, size_t n, double *base,
                                 double *span, double *patches, double *image, double *kl,
                                 double pooled[2]);
/* Drop the images of a streamed PNG folder smaller than m × m, printing their count; without
 * skip the first one is an error that names it. Returns 0 after printing why. */
int cli_dataset_drop_small(const char *cmd, cli_dataset *ds, size_t m, int skip);
void cli_dataset_free(cli_dataset *ds);
/* Hold the last n training images out as the validation set (shuffled once with a fixed seed,
 * like the test set); n_train shrinks by n. Prints the reason and returns 0 on failure. */
int cli_dataset_hold_out(cli_dataset *ds, size_t n);
/* The validation images held out of n_train training images unless told otherwise: MNIST's
 * usual last 5 000 of 60 000, a tenth of a smaller set (at least 1 of 2 or more). */
size_t cli_default_validation(size_t n_train);
/* "DIR/NAME" in a new string (free it), or NULL when out of memory. */
char *cli_join_path(const char *dir, const char *name);
/* Read a whole IDX file (images or labels) into a new buffer (free it), its shape into n, h, w.
 * Prints "spcnn CMD: PATH: reason" ("spcnn: ..." when cmd is NULL) and returns 0 on failure. */
int cli_read_idx(const char *cmd, const char *path, uint8_t **out, size_t *n, size_t *h,
                 size_t *w);

/* The data order of epoch `epoch` of a training run: a permutation of 0..n-1 into perm that
 * follows from (seed, epoch) alone (order.c). */
void cli_epoch_order(size_t *perm, size_t n, uint64_t seed, uint64_t epoch);
/* Draw slot `slot` of step `step` (attempt `attempt`) from n items of cumulative weights cum
 * (cum[i] = weights of items 0..i, cum[n-1] > 0): item i with probability weight_i / total,
 * following from (seed, step, slot, attempt) alone (order.c). */
size_t cli_draw_weighted(const uint64_t *cum, size_t n, uint64_t seed, uint64_t step,
                         uint64_t slot, uint64_t attempt);

/* Commands: argv[0] is the command name. */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_info(int argc, char **argv);
/* classifier.c: `spcnn classifier train|eval`. */
int cli_classifier(int argc, char **argv);
/* prior.c: `spcnn fit-prior`, and the fit that ends `spcnn train`. */
int cli_fit_prior(int argc, char **argv);
/* Mixture components of the latent prior unless told otherwise. */
#define CLI_PRIOR_COMPONENTS 100
/* Fit a prior of `components` Gaussians (0: back to N(0, I)) to the n images and save the model
 * to out (with its training state when it has one); prints what it did. A CLI exit status. */
int cli_fit_prior_and_save(const char *cmd, spcnn_model *model, const uint8_t *images, size_t n,
                           size_t h, size_t w, long long components, uint64_t seed,
                           const char *out);

/* Argument helpers: 1 on success; on failure they print "spcnn CMD: ..." and return 0. */
int cli_parse_count(const char *cmd, const char *flag, const char *text, long long lo,
                    long long hi, long long *out);
int cli_parse_number(const char *cmd, const char *flag, const char *text, double lo, double hi,
                     double *out);
/* A seed: any integer of uint64_t, 0 to 2^64-1, as the library's functions take it (the
 * `seed` hyper-parameter of `spcnn train` is another matter: the model stores it as a double,
 * so its bound is 2^53-1). */
int cli_parse_seed(const char *cmd, const char *flag, const char *text, uint64_t *out);
#define CLI_SEED_RANGE "0 to 2^64-1"
/* The value after a flag (argv[*i + 1]); advances *i. Prints a message and returns NULL when
 * it is missing. A "--flag=value" form is split by cli_split_flag first. */
const char *cli_flag_value(const char *cmd, int argc, char **argv, int *i);
/* Split "--name=value" into name (in buf) and value; otherwise name = arg and *value NULL. */
const char *cli_split_flag(const char *arg, char *buf, size_t cap, const char **value);
/* Is arg one of "-h", "--help"? */
int cli_is_help(const char *arg);

/* Outputs (output.c). Every command that writes a file checks, before the work that produces
 * it, that it can: a typo in a path must not cost an hour of generation or training. */
/* Can path be replaced atomically, as the library's writers and the PNG stream writer do it
 * (a temporary file "<path>.tmp-..." next to it, then renamed over it)? Creates such a file and
 * removes it. On failure prints "spcnn CMD: cannot write PATH: reason" and returns 0. */
int cli_check_output(const char *cmd, const char *path);
/* Can path be opened for writing in place (the training log: appended to, or created)? An
 * existing file is opened and closed unchanged; a missing one is created and removed. On
 * failure prints "spcnn CMD: cannot write PATH: reason" and returns 0. */
int cli_check_append(const char *cmd, const char *path);
/* The folders cli_make_dirs made, so that a failed command can remove them again. */
typedef struct cli_made_dirs {
    char *path;   /* the folder asked for */
    size_t first; /* length of its first prefix that was made here; 0: none was */
} cli_made_dirs;
/* mkdir -p dir, recording what it made in *made. On failure prints why, removes what it made
 * and returns 0. */
int cli_make_dirs(const char *cmd, const char *dir, cli_made_dirs *made);
/* After a failure: remove the folders made (deepest first; one that is no longer empty stays)
 * and release made. */
void cli_remove_made_dirs(cli_made_dirs *made);
/* After success: keep them and release made. */
void cli_keep_made_dirs(cli_made_dirs *made);

/* A hyper-parameter's value as `info` and `train` show it: the schedule by name (raster,
 * wavefront), an integer key in full (a seed has up to 16 digits), any other with 10
 * significant digits. */
void cli_format_config_value(spcnn_config_key key, double value, char *buf, size_t cap);

/* "spcnn CMD: WHAT: status (detail)" on stderr; returns CLI_FAILED. */
int cli_fail(const char *cmd, const char *what, spcnn_status st);

/* Monotonic seconds. */
double cli_now(void);
/* "1h02m", "3m05s", "12s" */
void cli_format_duration(double seconds, char *buf, size_t cap);

/* Progress lines on stderr: redrawn in place on a terminal, otherwise a plain line at most
 * every interval seconds. */
typedef struct cli_progress {
    int tty;
    int drawn;        /* a line is on screen and needs clearing before other output */
    double last_draw; /* cli_now() of the last output */
    double interval;  /* seconds between lines when stderr is not a terminal */
} cli_progress;
void cli_progress_init(cli_progress *p);
/* Show text if due (force: always). */
void cli_progress_show(cli_progress *p, const char *text, int force);
/* Finish the on-screen line so that normal output can follow. */
void cli_progress_end(cli_progress *p);

/* Ctrl-C and SIGTERM set this flag; long loops check it between steps. */
extern volatile sig_atomic_t cli_stop_signal;
void cli_install_signal_handlers(void);

#endif
