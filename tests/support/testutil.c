#include "testutil.h"

#include <check.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tu_next(tu_rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(tu_next(rng) >> 11) * 0x1.0p-53);
}

double tu_normal(tu_rng *rng)
{
    double u1 = tu_uniform(rng, 0x1.0p-53, 1.0), u2 = tu_uniform(rng, 0, 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_d(tu_rng *rng, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tu_uniform(rng, lo, hi);
}

void tu_fill_f(tu_rng *rng, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)tu_uniform(rng, lo, hi);
}

void tu_d2f(const double *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
}

void tu_f2d(const float *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
}

double tu_nmse(const float *a, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (!isfinite(num))
        return INFINITY;
    return num / (den > 1e-30 ? den : 1e-30);
}

double tu_max_abs_diff_d(const double *a, const double *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= worst))
            worst = d; /* also catches NaN */
    }
    return worst;
}

double tu_gradcheck(void *ctx, tu_fn f, const double *x, size_t nx, size_t ny, const double *p,
                    const double *dx, double h, size_t max_checks)
{
    double *xp = malloc(nx * sizeof *xp), *y = malloc(ny * sizeof *y);
    if (!xp || !y) {
        free(xp);
        free(y);
        return INFINITY;
    }
    for (size_t i = 0; i < nx; i++)
        xp[i] = x[i];
    size_t step = (max_checks == 0 || max_checks >= nx) ? 1 : nx / max_checks;
    double worst = 0;
    for (size_t i = 0; i < nx; i += step) {
        double lp = 0, lm = 0;
        xp[i] = x[i] + h;
        f(ctx, xp, y);
        for (size_t j = 0; j < ny; j++)
            lp += p[j] * y[j];
        xp[i] = x[i] - h;
        f(ctx, xp, y);
        for (size_t j = 0; j < ny; j++)
            lm += p[j] * y[j];
        xp[i] = x[i];
        double num = (lp - lm) / (2 * h);
        double scale = fmax(1.0, fmax(fabs(num), fabs(dx[i])));
        double err = fabs(num - dx[i]) / scale;
        if (!(err <= worst))
            worst = err;
    }
    free(xp);
    free(y);
    return worst;
}

void tu_report(const char *name, double error, double limit)
{
    printf("%-48s worst error %.3e (limit %.1e)\n", name, error, limit);
    fflush(stdout);
}

const char *tu_tmpdir(void)
{
    const char *d = getenv("SPCNN_TEST_TMP");
    return d && *d ? d : "/tmp";
}

unsigned char *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    ck_assert_int_ge(n, 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return b;
}

void tu_write_file(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s: %s", path, strerror(errno));
    if (n)
        ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

int tu_temporaries_left(const char *prefix)
{
    DIR *dir = opendir(tu_tmpdir());
    ck_assert_ptr_nonnull(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp-");
    closedir(dir);
    return n;
}

void tu_put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t tu_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tu_run_suite(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

float *tu_alloc_f(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

double *tu_alloc_d(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

void tu_fill_pair(tu_rng *rng, float *f, double *d, size_t n, double lo, double hi)
{
    tu_fill_f(rng, f, n, lo, hi);
    tu_f2d(f, d, n);
}

void tu_check_nmse(const char *name, const float *a, const double *ref, size_t n, double limit)
{
    double e = tu_nmse(a, ref, n);
    tu_report(name, e, limit);
    ck_assert_msg(e < limit, "%s: nmse %g (limit %g)", name, e, limit);
}
