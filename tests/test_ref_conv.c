/* Proofs of the double-precision references in tests/ref/ref_conv.c: every backward by central
 * differences with a random-projection loss; PixelCNN++'s pad-then-conv and deconv-then-crop
 * forms equal the asymmetric-padding forms exactly; the shifted convolutions are causal. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_conv.h"
#include "testutil.h"

#define GRAD_LIMIT 1e-8

enum { K_CONV, K_DECONV, K_LINEAR, K_DSHIFT, K_RSHIFT };

/* y = f(v) where v replaces input `var` (0 x, 1 w, 2 b) of a layer. */
typedef struct gc {
    int kind, var;
    ref_conv_shape s;
    const double *x, *w, *b;
} gc;

static void gc_fn(void *ctx, const double *v, double *y)
{
    const gc *g = ctx;
    const double *x = g->var == 0 ? v : g->x, *w = g->var == 1 ? v : g->w,
                 *b = g->var == 2 ? v : g->b;
    const ref_conv_shape *s = &g->s;
    switch (g->kind) {
    case K_CONV: ref_conv_forward(s, x, w, b, y); break;
    case K_DECONV: ref_deconv_forward(s, x, w, b, y); break;
    case K_LINEAR: ref_linear_forward(s->n, s->c_in, s->c_out, x, w, b, y); break;
    case K_DSHIFT: ref_down_shift_forward(s->n, s->h, s->w, s->c_in, x, y); break;
    default: ref_right_shift_forward(s->n, s->h, s->w, s->c_in, x, y); break;
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Gradient check of one layer kind on one shape, of every input it has. */
static double check_layer(int kind, ref_conv_shape s, uint64_t seed)
{
    tu_rng rng = {seed};
    size_t nx, nw = 0, nb = 0, ny;
    int oh = s.h, ow = s.w;
    if (kind == K_LINEAR) {
        nx = (size_t)s.n * s.c_in;
        nw = (size_t)s.c_out * s.c_in;
        nb = (size_t)s.c_out;
        ny = (size_t)s.n * s.c_out;
    } else {
        nx = (size_t)s.n * s.h * s.w * s.c_in;
        if (kind == K_CONV || kind == K_DECONV) {
            if (kind == K_CONV)
                ref_conv_out_size(&s, &oh, &ow);
            else
                ref_deconv_out_size(&s, &oh, &ow);
            nw = (size_t)s.c_out * s.c_in * s.kh * s.kw;
            nb = (size_t)s.c_out;
            ny = (size_t)s.n * oh * ow * s.c_out;
        } else {
            ny = nx;
        }
    }
    double *x = xmalloc(nx * sizeof *x), *w = xmalloc(nw * sizeof *w), *b = xmalloc(nb * sizeof *b);
    double *p = xmalloc(ny * sizeof *p), *dx = xmalloc(nx * sizeof *dx);
    double *dw = xmalloc(nw * sizeof *dw), *db = xmalloc(nb * sizeof *db);
    tu_fill_d(&rng, x, nx, -1, 1);
    tu_fill_d(&rng, w, nw, -1, 1);
    tu_fill_d(&rng, b, nb, -1, 1);
    tu_fill_d(&rng, p, ny, -1, 1);
    switch (kind) {
    case K_CONV: ref_conv_backward(&s, x, w, p, dx, dw, db); break;
    case K_DECONV: ref_deconv_backward(&s, x, w, p, dx, dw, db); break;
    case K_LINEAR: ref_linear_backward(s.n, s.c_in, s.c_out, x, w, p, dx, dw, db); break;
    case K_DSHIFT: ref_down_shift_backward(s.n, s.h, s.w, s.c_in, p, dx); break;
    default: ref_right_shift_backward(s.n, s.h, s.w, s.c_in, p, dx); break;
    }
    gc g = {kind, 0, s, x, w, b};
    double worst = tu_gradcheck(&g, gc_fn, x, nx, ny, p, dx, 1e-5, 0);
    if (nw) {
        g.var = 1;
        worst = fmax(worst, tu_gradcheck(&g, gc_fn, w, nw, ny, p, dw, 1e-5, 0));
        g.var = 2;
        worst = fmax(worst, tu_gradcheck(&g, gc_fn, b, nb, ny, p, db, 1e-5, 0));
    }
    free(x);
    free(w);
    free(b);
    free(p);
    free(dx);
    free(dw);
    free(db);
    return worst;
}

static ref_conv_shape shape(int n, int h, int w, int ci, int co, int kh, int kw, int stride, int pt,
                            int pb, int pl, int pr)
{
    ref_conv_shape s = {n, h, w, ci, co, kh, kw, stride, stride, pt, pb, pl, pr};
    return s;
}

START_TEST(test_conv_grad)
{
    ref_conv_shape cases[] = {
        shape(2, 5, 6, 3, 4, 2, 3, 1, 1, 0, 1, 1), /* down-shifted 2×3 */
        shape(2, 5, 6, 3, 4, 2, 2, 1, 1, 0, 1, 0), /* down-right-shifted 2×2 */
        shape(2, 6, 7, 3, 4, 2, 3, 2, 1, 0, 1, 1), /* down-shifted, stride 2 */
        shape(1, 7, 5, 2, 3, 3, 3, 2, 0, 2, 1, 0), /* general asymmetric */
        shape(2, 4, 5, 3, 2, 1, 1, 1, 0, 0, 0, 0), /* nin */
        {1, 7, 6, 2, 3, 3, 2, 3, 2, 1, 0, 2, 1},   /* different strides per axis */
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        worst = fmax(worst, check_layer(K_CONV, cases[i], 100 + i));
    tu_report("ref conv backward (x, w, b) vs central differences", worst, GRAD_LIMIT);
    ck_assert(worst < GRAD_LIMIT);
}
END_TEST

START_TEST(test_deconv_grad)
{
    ref_conv_shape cases[] = {
        shape(2, 3, 4, 3, 4, 2, 3, 2, 0, 0, 1, 0), /* down-shifted deconv */
        shape(2, 3, 4, 3, 4, 2, 2, 2, 0, 0, 0, 0), /* down-right-shifted deconv */
        shape(1, 4, 3, 2, 3, 3, 2, 1, 1, 1, 0, 1), /* general padding */
        shape(2, 3, 3, 2, 2, 3, 3, 2, 2, 0, 1, 2),
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        worst = fmax(worst, check_layer(K_DECONV, cases[i], 200 + i));
    tu_report("ref deconv backward (x, w, b) vs central differences", worst, GRAD_LIMIT);
    ck_assert(worst < GRAD_LIMIT);
}
END_TEST

START_TEST(test_shift_linear_grad)
{
    ref_conv_shape s = shape(2, 4, 5, 3, 0, 0, 0, 1, 0, 0, 0, 0);
    double worst = fmax(check_layer(K_DSHIFT, s, 300), check_layer(K_RSHIFT, s, 301));
    tu_report("ref down/right shift backward vs central differences", worst, GRAD_LIMIT);
    ck_assert(worst < GRAD_LIMIT);
    ref_conv_shape ls = shape(3, 1, 1, 7, 5, 1, 1, 1, 0, 0, 0, 0);
    worst = check_layer(K_LINEAR, ls, 302);
    tu_report("ref linear backward (x, w, b) vs central differences", worst, GRAD_LIMIT);
    ck_assert(worst < GRAD_LIMIT);
}
END_TEST

/* The shifted layers in their PixelCNN++ form and in the padding form the library uses. */
typedef struct shifted {
    int deconv, right, kh, kw, stride;
} shifted;

static ref_conv_shape padding_form(const shifted *k, int n, int h, int w, int ci, int co)
{
    int left = k->right ? k->kw - 1 : (k->kw - 1) / 2;
    if (!k->deconv)
        return shape(n, h, w, ci, co, k->kh, k->kw, k->stride, k->kh - 1, 0, left,
                     k->right ? 0 : left);
    left = k->right ? 0 : (k->kw - 1) / 2;
    return shape(n, h, w, ci, co, k->kh, k->kw, k->stride, 0, k->kh - k->stride, left,
                 k->kw - k->stride - left);
}

static void pixelcnn_form(const shifted *k, int n, int h, int w, int ci, int co, const double *x,
                          const double *wt, const double *b, double *y, int *oh, int *ow)
{
    if (k->deconv && k->right)
        ref_down_right_shifted_deconv(n, h, w, ci, co, k->kh, k->kw, k->stride, x, wt, b, y, oh, ow);
    else if (k->deconv)
        ref_down_shifted_deconv(n, h, w, ci, co, k->kh, k->kw, k->stride, x, wt, b, y, oh, ow);
    else if (k->right)
        ref_down_right_shifted_conv(n, h, w, ci, co, k->kh, k->kw, k->stride, x, wt, b, y, oh, ow);
    else
        ref_down_shifted_conv(n, h, w, ci, co, k->kh, k->kw, k->stride, x, wt, b, y, oh, ow);
}

static const shifted all_shifted[] = {
    {0, 0, 2, 3, 1}, {0, 0, 2, 3, 2}, {0, 0, 1, 3, 1}, {0, 1, 2, 2, 1}, {0, 1, 2, 2, 2},
    {0, 1, 2, 1, 1}, {1, 0, 2, 3, 2}, {1, 1, 2, 2, 2}, {1, 0, 2, 3, 1}, {1, 1, 2, 2, 1},
    {1, 0, 3, 3, 2},
};
#define NSHIFTED (sizeof all_shifted / sizeof all_shifted[0])

START_TEST(test_padding_form_equals_pixelcnn_form)
{
    const int n = 2, h = 5, w = 7, ci = 3, co = 4;
    tu_rng rng = {400};
    double x[2 * 5 * 7 * 3], wt[4 * 3 * 3 * 3], b[4];
    tu_fill_d(&rng, x, sizeof x / sizeof x[0], -1, 1);
    tu_fill_d(&rng, wt, sizeof wt / sizeof wt[0], -1, 1);
    tu_fill_d(&rng, b, 4, -1, 1);
    double worst = 0;
    for (size_t i = 0; i < NSHIFTED; i++) {
        const shifted *k = &all_shifted[i];
        ref_conv_shape s = padding_form(k, n, h, w, ci, co);
        int oh, ow, ph, pw;
        if (k->deconv)
            ref_deconv_out_size(&s, &ph, &pw);
        else
            ref_conv_out_size(&s, &ph, &pw);
        size_t ny = (size_t)n * ph * pw * co;
        double *y1 = xmalloc(ny * sizeof *y1), *y2 = xmalloc(4 * ny * sizeof *y2);
        pixelcnn_form(k, n, h, w, ci, co, x, wt, b, y2, &oh, &ow);
        ck_assert_int_eq(oh, ph);
        ck_assert_int_eq(ow, pw);
        if (k->deconv) {
            /* PixelCNN++'s deconvolutions double the size exactly. */
            ck_assert_int_eq(oh, h * k->stride);
            ck_assert_int_eq(ow, w * k->stride);
            ref_deconv_forward(&s, x, wt, b, y1);
        } else {
            ref_conv_forward(&s, x, wt, b, y1);
        }
        worst = fmax(worst, tu_max_abs_diff_d(y1, y2, ny));
        free(y1);
        free(y2);
    }
    tu_report("padding form vs PixelCNN++ pad/crop form (exact)", worst, 0);
    ck_assert(worst == 0);
}
END_TEST

/* May output (r, c) depend on input (ri, ci)? For stride s the output covers input rows
 * [s*r, s*r + s) for a convolution; a transposed convolution's input (ri, ci) covers output
 * rows [s*ri, s*ri + s). */
static int allowed(const shifted *k, int ri, int ci, int r, int c, int strict)
{
    int s = k->stride;
    if (k->deconv)
        return s * ri <= r && (!k->right || s * ci <= c);
    if (strict) /* after PixelCNN++'s down_shift / right_shift of the first layer */
        return k->right ? (ri < s * r || (ri == s * r && ci < s * c)) : ri < s * r;
    return ri <= s * r && (!k->right || ci <= s * c);
}

START_TEST(test_causality)
{
    const int n = 1, h = 6, w = 6, ci = 2, co = 3;
    tu_rng rng = {500};
    double x[6 * 6 * 2], wt[3 * 2 * 3 * 3], b[3];
    tu_fill_d(&rng, x, sizeof x / sizeof x[0], -1, 1);
    tu_fill_d(&rng, wt, sizeof wt / sizeof wt[0], 0.1, 1); /* no weight is zero */
    tu_fill_d(&rng, b, 3, -1, 1);
    int violations = 0, dependencies = 0;
    for (size_t i = 0; i < NSHIFTED; i++)
        for (int strict = 0; strict <= (all_shifted[i].deconv ? 0 : 1); strict++) {
            const shifted *k = &all_shifted[i];
            int oh, ow;
            double y0[4 * 6 * 6 * 3], y1[4 * 6 * 6 * 3], t[4 * 6 * 6 * 3];
            pixelcnn_form(k, n, h, w, ci, co, x, wt, b, y0, &oh, &ow);
            for (int ri = 0; ri < h; ri++)
                for (int cj = 0; cj < w; cj++) {
                    double xp[6 * 6 * 2];
                    memcpy(xp, x, sizeof xp);
                    xp[(ri * w + cj) * ci] += 1.0;
                    pixelcnn_form(k, n, h, w, ci, co, xp, wt, b, y1, &oh, &ow);
                    double *ya = y0, *yb = y1, ys[4 * 6 * 6 * 3];
                    if (strict) {
                        /* The first layer: u = down_shift(conv), ul += right_shift(conv). */
                        if (k->right) {
                            ref_right_shift_forward(n, oh, ow, co, y0, t);
                            ref_right_shift_forward(n, oh, ow, co, y1, ys);
                        } else {
                            ref_down_shift_forward(n, oh, ow, co, y0, t);
                            ref_down_shift_forward(n, oh, ow, co, y1, ys);
                        }
                        ya = t;
                        yb = ys;
                    }
                    for (int r = 0; r < oh; r++)
                        for (int c = 0; c < ow; c++)
                            for (int o = 0; o < co; o++) {
                                size_t j = ((size_t)r * ow + c) * co + o;
                                if (ya[j] == yb[j])
                                    continue;
                                dependencies++;
                                if (!allowed(k, ri, cj, r, c, strict)) {
                                    violations++;
                                    fprintf(stderr,
                                            "kernel %d×%d stride %d deconv %d right %d strict %d: "
                                            "output (%d,%d) depends on input (%d,%d)\n",
                                            k->kh, k->kw, k->stride, k->deconv, k->right, strict,
                                            r, c, ri, cj);
                                }
                            }
                }
        }
    printf("causality: %d dependencies seen, %d outside the causal region\n", dependencies,
           violations);
    tu_report("shifted conv/deconv causality violations", violations, 0);
    ck_assert_int_gt(dependencies, 0);
    ck_assert_int_eq(violations, 0);
}
END_TEST

START_TEST(test_resample_convention)
{
    /* Halving averages pairs; equal sizes are the identity; doubling interpolates at
     * quarter positions and clamps at the edges. */
    double x[8 * 8 * 2], y[4 * 4 * 2], z[8 * 8 * 2], u[2 * 2], v[4 * 4];
    tu_rng rng = {600};
    tu_fill_d(&rng, x, 128, -1, 1);
    ref_resample_linear_forward(1, 2, 8, 8, 4, 4, x, y);
    double worst = 0;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 2; k++) {
                double e = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                        e += x[((2 * r + i) * 8 + 2 * c + j) * 2 + k] / 4;
                worst = fmax(worst, fabs(y[(r * 4 + c) * 2 + k] - e));
            }
    ref_resample_linear_forward(1, 2, 8, 8, 8, 8, x, z);
    worst = fmax(worst, tu_max_abs_diff_d(x, z, 128));
    u[0] = 0, u[1] = 1, u[2] = 2, u[3] = 3;
    ref_resample_linear_forward(1, 1, 2, 2, 4, 4, u, v);
    const double row0[4] = {0, 0.25, 0.75, 1}; /* (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 */
    for (int c = 0; c < 4; c++) {
        worst = fmax(worst, fabs(v[c] - row0[c]));
        worst = fmax(worst, fabs(v[12 + c] - (row0[c] + 2)));
    }
    tu_report("ref resample half-pixel convention", worst, 1e-15);
    ck_assert(worst < 1e-15);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ref_conv");
    TCase *tc = tcase_create("ref_conv");
    tcase_add_test(tc, test_conv_grad);
    tcase_add_test(tc, test_deconv_grad);
    tcase_add_test(tc, test_shift_linear_grad);
    tcase_add_test(tc, test_padding_form_equals_pixelcnn_form);
    tcase_add_test(tc, test_causality);
    tcase_add_test(tc, test_resample_convention);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
