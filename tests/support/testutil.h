/* Helpers shared by the Check test suites: a seeded RNG, error measures, and a
 * finite-difference gradient check with a random-projection loss. */
#ifndef SPCNN_TESTUTIL_H
#define SPCNN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64: small, seedable, identical on every platform. */
typedef struct tu_rng { uint64_t state; } tu_rng;
uint64_t tu_next(tu_rng *rng);
double tu_uniform(tu_rng *rng, double lo, double hi); /* [lo, hi) */
double tu_normal(tu_rng *rng);
void tu_fill_d(tu_rng *rng, double *x, size_t n, double lo, double hi);
void tu_fill_f(tu_rng *rng, float *x, size_t n, double lo, double hi);
void tu_d2f(const double *x, float *y, size_t n);
void tu_f2d(const float *x, double *y, size_t n);

/* Buffers that cannot fail (a failed allocation fails the test); never NULL, even for n = 0. */
float *tu_alloc_f(size_t n);
double *tu_alloc_d(size_t n);
/* Random float data in [lo, hi) and its exact double copy. */
void tu_fill_pair(tu_rng *rng, float *f, double *d, size_t n, double lo, double hi);

/* Normalised MSE of a float result against a double reference: sum (a-r)^2 / sum r^2
 * (the denominator is floored at 1e-30 so an all-zero reference compares absolutely). */
double tu_nmse(const float *a, const double *ref, size_t n);
/* Report tu_nmse(a, ref, n) with tu_report and fail the test unless it is below limit. */
void tu_check_nmse(const char *name, const float *a, const double *ref, size_t n, double limit);
/* Largest |a - b|. */
double tu_max_abs_diff_d(const double *a, const double *b, size_t n);

/* A function y = f(x) on double vectors, for gradient checks; ctx carries the shapes and any
 * constant inputs. */
typedef void (*tu_fn)(void *ctx, const double *x, double *y);

/* Central-difference check of an analytic gradient. The loss is L(x) = sum_i p_i f(x)_i with
 * the random projection p (length ny); `dx` is the caller's analytic dL/dx (its backward run
 * with dy = p). Every coordinate of x is checked (at most `max_checks`, spread evenly; 0 = all).
 * Returns the worst error |num - ana| / max(1, |num|, |ana|). */
double tu_gradcheck(void *ctx, tu_fn f, const double *x, size_t nx, size_t ny, const double *p,
                    const double *dx, double h, size_t max_checks);

/* Print one line "name: worst error e (limit l)" so passing tests show their margins. */
void tu_report(const char *name, double error, double limit);

/* Run a Check suite (each test forked, as Check does by default), print its summary, free it;
 * returns the process exit status: EXIT_SUCCESS when every test passed. */
struct Suite;
int tu_run_suite(struct Suite *suite);

/* A directory for temporary files of this test run (SPCNN_TEST_TMP or /tmp). */
const char *tu_tmpdir(void);

/* Files for the file-format tests; any failure fails the test. tu_read_file returns a malloc'd
 * buffer (one spare byte, so even an empty file gives a non-NULL pointer). */
unsigned char *tu_read_file(const char *path, size_t *size);
void tu_write_file(const char *path, const void *bytes, size_t n);
/* Temporary files (".tmp-" in the name) an atomic save left behind in tu_tmpdir() whose names
 * start with prefix. */
int tu_temporaries_left(const char *prefix);
/* Little-endian 32-bit fields, to edit file bytes on purpose. */
void tu_put_le32(unsigned char *p, uint32_t v);
uint32_t tu_get_le32(const unsigned char *p);

#endif
