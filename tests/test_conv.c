/* The oneDNN convolution, transposed convolution, linear, resampling and shift layers against
 * the double-precision references (tests/ref/ref_conv.c) by normalised MSE, forward and every
 * backward output, on odd shapes and on training shapes, with oneDNN's slow reference
 * implementations forbidden. Each test creates its own oneDNN context (Check forks). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/alloc.h"
#include "model/plan.h"
#include "nn/bf16.h"
#include "nn/conv.h"
#include "nn/dnnl_ctx.h"
#include "nn/linear.h"
#include "nn/resample.h"
#include "nn/shift.h"
#include "ref_conv.h"
#include "testutil.h"

/* float32 inputs are exact in double, so the difference is float accumulation: about 1e-15
 * to 1e-13 in normalised MSE for sums of up to a few hundred terms; one wrong index or weight
 * gives about 1. 1e-10 keeps a wide margin on both sides. */
#define NMSE_LIMIT 1e-10

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Every primitive a test creates is checked: never oneDNN 2.6.3's AMX brgemm convolution for
 * kernels larger than 1x1, whose kernel generator reads past a heap block (dnnl_ctx.c). */
static int primitives_created;

static void check_impl(void *user, const char *impl)
{
    (void)user;
    primitives_created++;
    ck_assert_msg(strncmp(impl, SPCNN__DNNL_AVOIDED_IMPL, strlen(SPCNN__DNNL_AVOIDED_IMPL)) != 0,
                  "a primitive was created on \"%s\", which reads past its heap blocks", impl);
}

static void ctx_init(spcnn__dnnl *ctx)
{
    ck_assert_int_eq(spcnn__dnnl_init(ctx, 1), SPCNN_OK);
    ctx->forbid_reference_impl = 1;
    ctx->on_create = check_impl;
}

/* Random float tensor and its exact double copy. */
static void fill(tu_rng *rng, float *f, double *d, size_t n)
{
    tu_fill_f(rng, f, n, -1, 1);
    tu_f2d(f, d, n);
}

static double worst_of(double a, double b)
{
    return !(a <= b) ? a : b; /* NaN-propagating max */
}

/* Layer vs reference: forward, dx, dw, db. If `pixelcnn` names a PixelCNN++ form (1..4), the
 * forward is also compared with that form of the reference (pad-then-conv or deconv-then-crop),
 * which proves the helper's padding. Returns the worst normalised MSE. */
enum { PLAIN = 0, DOWN = 1, DOWN_RIGHT = 2 };

static double check_conv(spcnn__dnnl *ctx, spcnn__conv_shape s, int pixelcnn, uint64_t seed,
                         const char *name)
{
    spcnn__conv l;
    spcnn_status st = spcnn__conv_init(&l, ctx, &s);
    ck_assert_msg(st == SPCNN_OK, "%s: %s", name, spcnn_last_error_message());
    /* fp32 transposed layers with chosen weight layouts train by taps (conv.h) */
    ck_assert_int_eq(l.by_taps, s.transposed && s.weights_format != SPCNN__WEIGHTS_PLAIN);
    size_t nx = (size_t)s.n * s.h * s.w * s.c_in, nw = spcnn__conv_weights_size(&s);
    size_t nb = (size_t)s.c_out, ny = (size_t)s.n * l.oh * l.ow * s.c_out;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc(nb * 4), *dy = xmalloc(ny * 4);
    float *y = xmalloc(ny * 4), *dx = xmalloc(nx * 4), *dw = xmalloc(nw * 4), *db = xmalloc(nb * 4);
    double *xd = xmalloc(nx * 8), *wd = xmalloc(nw * 8), *bd = xmalloc(nb * 8);
    double *dyd = xmalloc(ny * 8), *yr = xmalloc(ny * 8), *yp = xmalloc(ny * 8);
    double *dxr = xmalloc(nx * 8), *dwr = xmalloc(nw * 8), *dbr = xmalloc(nb * 8);
    fill(&rng, x, xd, nx);
    fill(&rng, w, wd, nw);
    fill(&rng, b, bd, nb);
    fill(&rng, dy, dyd, ny);

    ref_conv_shape r = {s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w,
                        s.pad_t, s.pad_b, s.pad_l, s.pad_r};
    int oh, ow;
    if (s.transposed) {
        ref_deconv_out_size(&r, &oh, &ow);
        ref_deconv_forward(&r, xd, wd, bd, yr);
        ref_deconv_backward(&r, xd, wd, dyd, dxr, dwr, dbr);
    } else {
        ref_conv_out_size(&r, &oh, &ow);
        ref_conv_forward(&r, xd, wd, bd, yr);
        ref_conv_backward(&r, xd, wd, dyd, dxr, dwr, dbr);
    }
    ck_assert_int_eq(oh, l.oh);
    ck_assert_int_eq(ow, l.ow);

    ck_assert_int_eq(spcnn__conv_forward(&l, ctx, x, w, b, y), SPCNN_OK);
    double e = tu_nmse(y, yr, ny);
    if (pixelcnn != PLAIN) {
        int ph, pw;
        int st_ = s.stride_h;
        if (s.transposed && pixelcnn == DOWN)
            ref_down_shifted_deconv(s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, st_, xd, wd, bd,
                                    yp, &ph, &pw);
        else if (s.transposed)
            ref_down_right_shifted_deconv(s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, st_, xd, wd,
                                          bd, yp, &ph, &pw);
        else if (pixelcnn == DOWN)
            ref_down_shifted_conv(s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, st_, xd, wd, bd,
                                  yp, &ph, &pw);
        else
            ref_down_right_shifted_conv(s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, st_, xd, wd,
                                        bd, yp, &ph, &pw);
        ck_assert_int_eq(ph, l.oh);
        ck_assert_int_eq(pw, l.ow);
        e = worst_of(e, tu_nmse(y, yp, ny));
    }
    /* Gradients overwrite: poison the outputs first. */
    for (size_t i = 0; i < nx; i++)
        dx[i] = NAN;
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN;
    for (size_t i = 0; i < nb; i++)
        db[i] = NAN;
    ck_assert_int_eq(spcnn__conv_backward(&l, ctx, x, w, dy, dx, dw, db), SPCNN_OK);
    double ex = tu_nmse(dx, dxr, nx), ew = tu_nmse(dw, dwr, nw), eb = tu_nmse(db, dbr, nb);
    /* dx may be skipped; dw and db are then still right. */
    ck_assert_int_eq(spcnn__conv_backward(&l, ctx, x, w, dy, NULL, dw, db), SPCNN_OK);
    ew = worst_of(ew, tu_nmse(dw, dwr, nw));
    char line[160];
    snprintf(line, sizeof line, "%s: y %.1e dx %.1e dw %.1e db %.1e", name, e, ex, ew, eb);
    double worst = worst_of(worst_of(e, ex), worst_of(ew, eb));
    tu_report(line, worst, NMSE_LIMIT);
    spcnn__conv_deinit(&l);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    free(xd), free(wd), free(bd), free(dyd), free(yr), free(yp), free(dxr), free(dwr), free(dbr);
    return worst;
}

static double run_conv_cases(int n, int h, int w, int c, int f, int weights_format, uint64_t seed)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    /* Plain OIHW weights with NHWC activations only have oneDNN's reference code (the reason
     * the default is format_tag_any); the path is kept for the format benchmark. */
    ctx.forbid_reference_impl = weights_format != SPCNN__WEIGHTS_PLAIN;
    struct {
        spcnn__conv_shape s;
        int pixelcnn;
        const char *name;
    } cases[] = {
        {spcnn__conv_shape_down_shifted(n, h, w, 2 * c, f, 2, 3, 1), DOWN, "down_shifted 2x3"},
        {spcnn__conv_shape_down_shifted(n, h, w, 2 * c, 2 * f, 2, 3, 1), DOWN,
         "down_shifted 2x3 -> 2F"},
        {spcnn__conv_shape_down_shifted(n, h, w, c, f, 2, 3, 2), DOWN, "down_shifted 2x3 s2"},
        {spcnn__conv_shape_down_shifted(n, h, w, c, f, 1, 3, 1), DOWN, "down_shifted 1x3"},
        {spcnn__conv_shape_down_right_shifted(n, h, w, 2 * c, f, 2, 2, 1), DOWN_RIGHT,
         "down_right_shifted 2x2"},
        {spcnn__conv_shape_down_right_shifted(n, h, w, c, f, 2, 2, 2), DOWN_RIGHT,
         "down_right_shifted 2x2 s2"},
        {spcnn__conv_shape_down_right_shifted(n, h, w, c, f, 2, 1, 1), DOWN_RIGHT,
         "down_right_shifted 2x1"},
        {spcnn__conv_shape_nin(n, h, w, 2 * c, f), PLAIN, "nin"},
        {spcnn__conv_shape_make(n, h, w, c, f, 3, 3, 2, 0, 2, 1, 0), PLAIN,
         "3x3 s2 pad (0,2,1,0)"},
        {spcnn__conv_shape_down_shifted_deconv(n, h, w, c, f, 2, 3, 2), DOWN,
         "down_shifted_deconv 2x3 s2"},
        {spcnn__conv_shape_down_right_shifted_deconv(n, h, w, c, f, 2, 2, 2), DOWN_RIGHT,
         "down_right_shifted_deconv 2x2 s2"},
        {spcnn__conv_shape_make(n, h, w, c, f, 3, 2, 1, 1, 0, 0, 1), PLAIN,
         "deconv 3x2 s1 pad (1,0,0,1)"},
    };
    cases[11].s.transposed = 1;
    double worst = 0;
    char name[96];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].s.weights_format = weights_format;
        snprintf(name, sizeof name, "%s%s n%d %dx%d c%d", cases[i].name,
                 weights_format == SPCNN__WEIGHTS_PLAIN ? " [plain]" : "", n, h, w, cases[i].s.c_in);
        worst = worst_of(worst, check_conv(&ctx, cases[i].s, cases[i].pixelcnn, seed + i, name));
    }
    spcnn__dnnl_deinit(&ctx);
    return worst;
}

START_TEST(test_conv_odd_shapes)
{
    double worst = run_conv_cases(3, 7, 9, 5, 7, SPCNN__WEIGHTS_DEFAULT, 1000);
    tu_report("conv layers, odd shapes (n3 c5 7x9)", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

START_TEST(test_conv_training_shapes)
{
    double worst = run_conv_cases(4, 8, 8, 25, 25, SPCNN__WEIGHTS_DEFAULT, 2000);
    worst = worst_of(worst, run_conv_cases(4, 4, 4, 25, 25, SPCNN__WEIGHTS_DEFAULT, 2100));
    tu_report("conv layers, training shapes (n4 F25 8x8, 4x4)", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

START_TEST(test_conv_weights_plain)
{
    /* The plain-weights path (no reorders), kept for the format benchmark. */
    double worst = run_conv_cases(3, 7, 9, 5, 7, SPCNN__WEIGHTS_PLAIN, 3000);
    tu_report("conv layers, plain OIHW/IOHW weights", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

/* span bytes of memory followed by an unmapped page; returns that page (the region starts
 * span bytes before it; munmap(page - span, span + page size) frees it). */
static char *before_unmapped_page(size_t span)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *region = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    ck_assert(region != MAP_FAILED);
    ck_assert_int_eq(mprotect(region + span, page, PROT_NONE), 0);
    return region + span;
}

/* A forward-only transposed layer goes by taps (conv.h: a 1×1 convolution to each input
 * position's products with every tap, then summed where the taps land, with the bias): its
 * forward against the double reference, twice with new weights (the context's permuted copy
 * must follow them), the tap products written right before an unmapped page (the end of the
 * weight-gradient workspace) and the output followed by a canary. */
static double check_by_taps(spcnn__dnnl *ctx, spcnn__conv_shape s, char *guard, size_t span,
                            uint64_t seed, const char *name)
{
    enum { CANARY = 1024 };
    s.backward = 0;
    spcnn__conv l;
    ck_assert_msg(spcnn__conv_init(&l, ctx, &s) == SPCNN_OK, "%s: %s", name,
                  spcnn_last_error_message());
    ck_assert_msg(l.by_taps, "%s: a forward-only transposed layer that does not go by taps",
                  name);
    ck_assert_uint_le(ctx->wgrad_size, span);
    void *saved = ctx->wgrad;
    ctx->wgrad = guard - ctx->wgrad_size;
    const size_t nx = (size_t)s.n * s.h * s.w * s.c_in, nw = spcnn__conv_weights_size(&s);
    const size_t nb = (size_t)s.c_out, ny = (size_t)s.n * l.oh * l.ow * s.c_out;
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc(nb * 4);
    float *y = xmalloc((ny + CANARY) * 4);
    double *xd = xmalloc(nx * 8), *wd = xmalloc(nw * 8), *bd = xmalloc(nb * 8);
    double *yr = xmalloc(ny * 8);
    ref_conv_shape r = {s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w,
                        s.pad_t, s.pad_b, s.pad_l, s.pad_r};
    tu_rng rng = {seed};
    double worst = 0;
    for (int round = 0; round < 2; round++) {
        fill(&rng, x, xd, nx);
        fill(&rng, w, wd, nw);
        fill(&rng, b, bd, nb);
        if (!s.bias)
            memset(bd, 0, nb * sizeof *bd);
        ref_deconv_forward(&r, xd, wd, bd, yr);
        for (size_t i = 0; i < ny + CANARY; i++)
            y[i] = -12345.0f;
        ctx->weights_version++; /* as training does when the weights move */
        ck_assert_int_eq(spcnn__conv_forward(&l, ctx, x, w, b, y), SPCNN_OK);
        for (size_t i = 0; i < CANARY; i++)
            ck_assert_msg(y[ny + i] == -12345.0f, "%s: wrote past its output", name);
        worst = worst_of(worst, tu_nmse(y, yr, ny));
    }
    char line[160];
    snprintf(line, sizeof line, "%s [by taps]: y %.1e", name, worst);
    tu_report(line, worst, NMSE_LIMIT);
    ctx->wgrad = saved;
    spcnn__conv_deinit(&l);
    free(x), free(w), free(b), free(y), free(xd), free(wd), free(bd), free(yr);
    return worst;
}

START_TEST(test_conv_transposed_by_taps)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), span = ((size_t)2 << 20) / page * page;
    char *guard = before_unmapped_page(span);
    struct {
        spcnn__conv_shape s;
        const char *name;
    } cases[] = {
        {spcnn__conv_shape_down_shifted_deconv(3, 7, 9, 5, 7, 2, 3, 2), "down_shifted 2x3 odd"},
        {spcnn__conv_shape_down_right_shifted_deconv(3, 7, 9, 5, 7, 2, 2, 2),
         "down_right_shifted 2x2 odd"},
        {spcnn__conv_shape_make(3, 7, 9, 5, 7, 3, 2, 1, 1, 0, 0, 1), "3x2 s1 pad (1,0,0,1)"},
        {spcnn__conv_shape_make(2, 7, 7, 16, 8, 4, 4, 2, 1, 1, 1, 1), "VAE 4x4 s2 pad 1"},
        {spcnn__conv_shape_make(2, 14, 14, 8, 1, 4, 4, 2, 1, 1, 1, 1), "VAE 4x4 s2 to 1"},
        {spcnn__conv_shape_down_shifted_deconv(16, 4, 4, 25, 25, 2, 3, 2), "sampler 2x3 4x4"},
        {spcnn__conv_shape_down_right_shifted_deconv(16, 2, 2, 25, 25, 2, 2, 2),
         "sampler 2x2 2x2"},
        {spcnn__conv_shape_down_shifted_deconv(1, 1, 1, 25, 25, 2, 3, 2), "one pixel 2x3"},
        {spcnn__conv_shape_down_right_shifted_deconv(128, 4, 4, 25, 25, 2, 2, 2),
         "evaluation 2x2 4x4, no bias"},
    };
    cases[2].s.transposed = 1;
    cases[3].s.transposed = 1;
    cases[4].s.transposed = 1;
    cases[8].s.bias = 0;
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        worst = worst_of(worst, check_by_taps(&ctx, cases[i].s, guard, span, 5000 + i,
                                              cases[i].name));
    munmap(guard - span, span + page);
    spcnn__dnnl_deinit(&ctx);
    tu_report("forward-only transposed layers by taps", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

/* Values rounded to bf16, as doubles (the reference's inputs for a bf16 layer). */
static void rounded_copy(const float *x, double *xd, size_t n)
{
    uint16_t *h = xmalloc(n * 2);
    spcnn__bf16_from_f32(x, h, n);
    for (size_t i = 0; i < n; i++)
        xd[i] = spcnn__bf16_to_f32(h[i]);
    free(h);
}

/* bf16 forward: the layer against the double reference of its inputs and weights rounded to
 * bf16 (products of two bf16 are exact in fp32, so only the fp32 sums differ: the fp32 limit
 * holds), and measurably not the fp32 result. Every PixelCNN++ form, on sampling shapes. */
static void check_conv_bf16(spcnn__dnnl *ctx, spcnn__conv_shape s, uint64_t seed,
                            const char *name, double *worst, double *least_off)
{
    s.backward = 0;
    s.bf16 = 1;
    s.columns = 1; /* as the sampler's layers */
    spcnn__conv l;
    spcnn_status st = spcnn__conv_init(&l, ctx, &s);
    ck_assert_msg(st == SPCNN_OK, "%s: %s", name, spcnn_last_error_message());
    size_t nx = (size_t)s.n * s.h * s.w * s.c_in, nw = spcnn__conv_weights_size(&s);
    size_t nb = (size_t)s.c_out, ny = (size_t)s.n * l.oh * l.ow * s.c_out;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc(nb * 4), *y = xmalloc(ny * 4);
    double *xd = xmalloc(nx * 8), *wd = xmalloc(nw * 8), *bd = xmalloc(nb * 8);
    double *yr = xmalloc(ny * 8), *y32 = xmalloc(ny * 8);
    fill(&rng, x, xd, nx);
    fill(&rng, w, wd, nw);
    fill(&rng, b, bd, nb);
    ref_conv_shape r = {s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w,
                        s.pad_t, s.pad_b, s.pad_l, s.pad_r};
    void (*forward)(const ref_conv_shape *, const double *, const double *, const double *,
                    double *) = s.transposed ? ref_deconv_forward : ref_conv_forward;
    forward(&r, xd, wd, bd, y32);
    rounded_copy(x, xd, nx);
    rounded_copy(w, wd, nw);
    forward(&r, xd, wd, bd, yr);
    ck_assert_int_eq(spcnn__conv_forward(&l, ctx, x, w, b, y), SPCNN_OK);
    double e = tu_nmse(y, yr, ny), off = tu_nmse(y, y32, ny);
    char line[160];
    snprintf(line, sizeof line, "%s [bf16]: y %.1e (from fp32's: %.1e)", name, e, off);
    tu_report(line, e, NMSE_LIMIT);
    *worst = worst_of(*worst, e);
    *least_off = off < *least_off ? off : *least_off;
    spcnn__conv_deinit(&l);
    free(x), free(w), free(b), free(y), free(xd), free(wd), free(bd), free(yr), free(y32);
}

START_TEST(test_conv_bf16)
{
    if (!spcnn__dnnl_has_bf16()) {
        printf("conv bf16: skipped, the CPU has no AVX-512 BF16\n");
        return;
    }
    spcnn__dnnl ctx;
    ctx_init(&ctx); /* reference implementations forbidden: bf16 must be a JIT kernel */
    const int n = 6, c = 25, f = 25;
    struct {
        spcnn__conv_shape s;
        const char *name;
    } cases[] = {
        {spcnn__conv_shape_down_shifted(n, 8, 8, 2 * c, f, 2, 3, 1), "down_shifted 2x3 8x8"},
        {spcnn__conv_shape_down_shifted(n, 8, 8, 2 * c, 2 * f, 2, 3, 1), "down_shifted -> 2F"},
        {spcnn__conv_shape_down_shifted(n, 8, 8, c, f, 2, 3, 2), "down_shifted 2x3 s2"},
        {spcnn__conv_shape_down_right_shifted(n, 4, 4, 2 * c, f, 2, 2, 1),
         "down_right_shifted 2x2 4x4"},
        {spcnn__conv_shape_down_right_shifted(n, 8, 8, c, f, 2, 2, 2), "down_right_shifted s2"},
        {spcnn__conv_shape_nin(n, 8, 8, 2 * c, f), "nin"},
        {spcnn__conv_shape_nin(n, 8, 8, c, 30), "head nin"},
        {spcnn__conv_shape_down_shifted_deconv(n, 2, 2, c, f, 2, 3, 2), "down_shifted_deconv"},
        {spcnn__conv_shape_down_right_shifted_deconv(n, 4, 4, c, f, 2, 2, 2),
         "down_right_shifted_deconv"},
        {spcnn__conv_shape_down_shifted(3, 7, 9, 10, 7, 2, 3, 1), "odd 7x9 c10"},
    };
    double worst = 0, least_off = INFINITY;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv_bf16(&ctx, cases[i].s, 4000 + i, cases[i].name, &worst, &least_off);
    spcnn__dnnl_deinit(&ctx);
    tu_report("conv layers in bf16 against the bf16-rounded reference", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
    /* Rounding to 8 significant bits moves every result by about 1e-5 in NMSE. */
    ck_assert_msg(least_off > 1e-8, "a bf16 layer gave fp32's result (%.1e)", least_off);
}
END_TEST

/* bf16 training layers: the forward, the input gradient and (layers that are not transposed)
 * the weight gradient against the double reference of bf16-rounded inputs, weights and output
 * gradient (the fp32 limit holds: only fp32 sums differ), the bias gradient against the fp32
 * reference (it stays fp32), and the input and weight gradients measurably not fp32's. On AMX
 * CPUs the transposed layers train in fp32 (see spcnn__conv_init): they are checked against
 * the fp32 reference; a transposed layer's weight gradient is fp32 on every CPU. */
static void check_conv_bf16_training(spcnn__dnnl *ctx, spcnn__conv_shape s, uint64_t seed,
                                     const char *name, double *worst, double *least_off)
{
    s.backward = 1;
    s.bf16 = 1;
    spcnn__conv l;
    spcnn_status st = spcnn__conv_init(&l, ctx, &s);
    ck_assert_msg(st == SPCNN_OK, "%s: %s", name, spcnn_last_error_message());
    const int rounded = l.s.bf16;
    ck_assert_int_eq(rounded, !(s.transposed && spcnn__dnnl_has_amx()));
    size_t nx = (size_t)s.n * s.h * s.w * s.c_in, nw = spcnn__conv_weights_size(&s);
    size_t nb = (size_t)s.c_out, ny = (size_t)s.n * l.oh * l.ow * s.c_out;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc(nb * 4), *dy = xmalloc(ny * 4);
    float *y = xmalloc(ny * 4), *dx = xmalloc(nx * 4), *dw = xmalloc(nw * 4), *db = xmalloc(nb * 4);
    double *xd = xmalloc(nx * 8), *wd = xmalloc(nw * 8), *bd = xmalloc(nb * 8);
    double *dyd = xmalloc(ny * 8), *yr = xmalloc(ny * 8), *dxr = xmalloc(nx * 8);
    double *dx32 = xmalloc(nx * 8), *dwr = xmalloc(nw * 8), *dbr = xmalloc(nb * 8);
    double *xh = xmalloc(nx * 8), *wh = xmalloc(nw * 8), *dyh = xmalloc(ny * 8);
    double *scratch_w = xmalloc(nw * 8), *scratch_b = xmalloc(nb * 8);
    fill(&rng, x, xd, nx);
    fill(&rng, w, wd, nw);
    fill(&rng, b, bd, nb);
    fill(&rng, dy, dyd, ny);
    if (rounded) {
        rounded_copy(x, xh, nx);
        rounded_copy(w, wh, nw);
        rounded_copy(dy, dyh, ny);
    } else {
        memcpy(xh, xd, nx * sizeof *xh);
        memcpy(wh, wd, nw * sizeof *wh);
        memcpy(dyh, dyd, ny * sizeof *dyh);
    }
    ref_conv_shape r = {s.n, s.h, s.w, s.c_in, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w,
                        s.pad_t, s.pad_b, s.pad_l, s.pad_r};
    void (*forward)(const ref_conv_shape *, const double *, const double *, const double *,
                    double *) = s.transposed ? ref_deconv_forward : ref_conv_forward;
    void (*backward)(const ref_conv_shape *, const double *, const double *, const double *,
                     double *, double *, double *) =
        s.transposed ? ref_deconv_backward : ref_conv_backward;
    forward(&r, xh, wh, bd, yr);
    backward(&r, xd, wd, dyd, dx32, dwr, dbr);            /* fp32: dw, db and dx's fp32 value */
    backward(&r, xh, wh, dyh, dxr, scratch_w, scratch_b); /* bf16: dx */
    for (size_t i = 0; i < nx; i++)
        dx[i] = NAN;
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN;
    ck_assert_int_eq(spcnn__conv_forward(&l, ctx, x, w, b, y), SPCNN_OK);
    ck_assert_int_eq(spcnn__conv_backward(&l, ctx, x, w, dy, dx, dw, db), SPCNN_OK);
    const int dw_rounded = rounded && !s.transposed && l.wg_prod != NULL;
    double e = worst_of(tu_nmse(y, yr, ny), tu_nmse(dx, dxr, nx));
    e = worst_of(e, worst_of(tu_nmse(dw, dw_rounded ? scratch_w : dwr, nw), tu_nmse(db, dbr, nb)));
    double off = tu_nmse(dx, dx32, nx), dw_off = tu_nmse(dw, dwr, nw);
    char line[200];
    snprintf(line, sizeof line,
             "%s [%s training]: worst %.1e (dx from fp32's: %.1e, dw %s from fp32's: %.1e)", name,
             rounded ? "bf16" : "fp32 on AMX", e, off, dw_rounded ? "bf16" : "fp32", dw_off);
    tu_report(line, e, NMSE_LIMIT);
    *worst = worst_of(*worst, e);
    if (rounded)
        *least_off = off < *least_off ? off : *least_off;
    if (dw_rounded)
        *least_off = dw_off < *least_off ? dw_off : *least_off;
    spcnn__conv_deinit(&l);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    free(xd), free(wd), free(bd), free(dyd), free(yr), free(dxr), free(dx32), free(dwr);
    free(dbr), free(xh), free(wh), free(dyh), free(scratch_w), free(scratch_b);
}

START_TEST(test_conv_bf16_training)
{
    if (!spcnn__dnnl_has_bf16()) {
        printf("conv bf16 training: skipped, the CPU has no AVX-512 BF16\n");
        return;
    }
    spcnn__dnnl ctx;
    ctx_init(&ctx); /* reference implementations forbidden */
    const int n = 6, c = 25, f = 25;
    struct {
        spcnn__conv_shape s;
        const char *name;
    } cases[] = {
        {spcnn__conv_shape_down_shifted(n, 8, 8, 2 * c, 2 * f, 2, 3, 1), "down_shifted -> 2F"},
        {spcnn__conv_shape_down_shifted(n, 8, 8, c, f, 2, 3, 2), "down_shifted 2x3 s2"},
        {spcnn__conv_shape_down_right_shifted(n, 4, 4, 2 * c, f, 2, 2, 1),
         "down_right_shifted 2x2 4x4"},
        {spcnn__conv_shape_nin(n, 8, 8, 2 * c, f), "nin"},
        {spcnn__conv_shape_down_shifted_deconv(n, 2, 2, c, f, 2, 3, 2), "down_shifted_deconv"},
        {spcnn__conv_shape_down_right_shifted_deconv(n, 4, 4, c, f, 2, 2, 2),
         "down_right_shifted_deconv"},
        {spcnn__conv_shape_down_shifted(3, 7, 9, 10, 7, 2, 3, 1), "odd 7x9 c10"},
    };
    double worst = 0, least_off = INFINITY;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv_bf16_training(&ctx, cases[i].s, 5000 + i, cases[i].name, &worst, &least_off);
    spcnn__dnnl_deinit(&ctx);
    tu_report("conv layers training in bf16 against the bf16-rounded reference", worst,
              NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
    ck_assert_msg(least_off > 1e-8, "a bf16 layer's input gradient was fp32's (%.1e)",
                  least_off);
    ck_assert_int_ge(primitives_created, 3 * (int)(sizeof cases / sizeof cases[0]));
}
END_TEST

/* Round to nearest even on the 16 dropped bits, specials kept, subnormals flushed (as the
 * CPU's instruction does); the instruction and the portable loop agree bit for bit. */
/* Forward-only bf16 convolutions of the sampler's shapes — 1×1 on every size up to 8×8 with
 * 50, 100 and 160 channels, and the causal 2×2 and 2×3 convolutions of cone blocks with each
 * padding — stay inside their tensors: each input, and the columns of a layer that goes by
 * columns (conv.h), ends right before an unmapped page, each output is followed by a canary.
 * oneDNN 2.6's AMX "jit_1x1" kernel, which the layers used to prefer, read up to 3 kB past the
 * input and wrote 12 to 16 pixels past the output on 6×6 to 8×6 with 100 or more channels
 * (about half of the runs of forty 28×28 images on two workers crashed); conv.c now takes
 * oneDNN's default (brgemm) for 1×1 on AMX CPUs. */
static void check_inside(spcnn__dnnl *ctx, char *guard, char *cols_guard, int n, int h, int w,
                         int ci, int kh, int kw, int pt, int pl, int pr, int *by_columns)
{
    enum { CO = 25, CANARY = 4096 };
    spcnn__conv_shape cs = spcnn__conv_shape_make(n, h, w, ci, CO, kh, kw, 1, pt, 0, pl, pr);
    cs.backward = 0;
    cs.bf16 = 1;
    cs.columns = 1;
    spcnn__conv l;
    ck_assert_msg(spcnn__conv_init(&l, ctx, &cs) == SPCNN_OK, "%s", spcnn_last_error_message());
    const size_t in = (size_t)n * h * w * ci, out = (size_t)n * l.oh * l.ow * CO;
    uint16_t *saved = ctx->bf16_input;
    /* 64-byte aligned as the context's own buffer is: up to 63 bytes before the page */
    ctx->bf16_input = (uint16_t *)((uintptr_t)(guard - in * sizeof(uint16_t)) & ~(uintptr_t)63);
    /* A layer that goes by columns reads them from the end of the weight-gradient workspace:
     * there, right before the other unmapped page. */
    void *saved_ws = ctx->wgrad;
    if (l.by_columns) {
        ck_assert_uint_le(ctx->wgrad_size, (size_t)2 << 20);
        ctx->wgrad = cols_guard - ctx->wgrad_size;
        ++*by_columns;
    }
    float *x = tu_alloc_f(in), *wt = tu_alloc_f((size_t)CO * ci * kh * kw), *b = tu_alloc_f(CO);
    float *y = tu_alloc_f(out + CANARY);
    for (size_t i = 0; i < in; i++)
        x[i] = (float)(i % 7) - 3;
    memset(wt, 0, (size_t)CO * ci * kh * kw * sizeof *wt);
    memset(b, 0, CO * sizeof *b);
    for (size_t i = 0; i < out + CANARY; i++)
        y[i] = -12345.0f;
    ck_assert_int_eq(spcnn__conv_forward(&l, ctx, x, wt, b, y), SPCNN_OK);
    for (size_t i = 0; i < CANARY; i++)
        ck_assert_msg(y[out + i] == -12345.0f,
                      "bf16 %dx%d conv of %d windows of %dx%d, %d channels, pads %d %d %d: wrote "
                      "past its output", kh, kw, n, h, w, ci, pt, pl, pr);
    ctx->bf16_input = saved;
    ctx->wgrad = saved_ws;
    free(x), free(wt), free(b), free(y);
    spcnn__conv_deinit(&l);
}

START_TEST(test_conv_bf16_inside_tensors)
{
    if (!spcnn__dnnl_has_bf16()) {
        printf("conv bf16 bounds: skipped, the CPU has no AVX-512 BF16\n");
        return;
    }
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    /* the largest input: 32 windows of 8×8 with 160 channels, 640 kB */
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), span = ((size_t)1 << 20) / page * page;
    char *guard = before_unmapped_page(span);
    /* the columns of 32 windows of 8×8 under a 2×3 kernel of 50 channels, 1.2 MB */
    const size_t cols_span = 2 * span;
    char *cols_guard = before_unmapped_page(cols_span);
    int by_columns = 0;
    const int channels[3] = {50, 100, 160}, windows[2] = {1, 32};
    int checked = 0;
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 2; k++)
            for (int h = 1; h <= 8; h++)
                for (int w = 1; w <= 8; w++, checked++)
                    check_inside(&ctx, guard, cols_guard, windows[k], h, w, channels[c], 1, 1, 0,
                                 0, 0, &by_columns);
    for (int kw = 2; kw <= 3; kw++)
        for (int pads = 0; pads < 8; pads++)
            for (int h = 2; h <= 8; h++)
                for (int w = 3; w <= 8; w++, checked++) {
                    const int pt = pads & 1, pl = pads >> 1 & 1, pr = kw == 3 ? pads >> 2 : 0;
                    check_inside(&ctx, guard, cols_guard, 32, h, w, 50, 2, kw, pt, pl, pr,
                                 &by_columns);
                }
    printf("conv bf16 bounds: %d shapes stayed inside their tensors (%d by columns)\n", checked,
           by_columns);
    ck_assert_int_ge(primitives_created, checked); /* the implementation check saw them */
    munmap(guard - span, span + page);
    munmap(cols_guard - cols_span, cols_span + page);
    spcnn__dnnl_deinit(&ctx);
}
END_TEST

START_TEST(test_bf16_rounding)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* a tie: the even one below */
        {0x3f818000u, 0x3f82}, /* a tie: the even one above */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x3f807fffu, 0x3f80}, /* below it */
        {0xbf80c000u, 0xbf81}, /* negative */
        {0x7f7fffffu, 0x7f80}, /* the largest float: beyond the largest bf16 */
        {0x7f800000u, 0x7f80}, /* +inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x7f800001u, 0x7fc0}, /* a signalling NaN whose payload is all dropped: quiet NaN */
        {0xffc00000u, 0xffc0}, /* -NaN */
        {0x00000000u, 0x0000},
        {0x80000000u, 0x8000}, /* -0 */
        {0x00018000u, 0x0000}, /* subnormals become zeros of their sign */
        {0x807fffffu, 0x8000},
        {0x00800000u, 0x0080}, /* the smallest normal stays */
        {0x7fa12345u, 0x7fe1}, /* a NaN keeps its top payload bits, made quiet */
    };
    const size_t n = sizeof cases / sizeof cases[0];
    float x[sizeof cases / sizeof cases[0]];
    uint16_t y[sizeof cases / sizeof cases[0]];
    for (size_t i = 0; i < n; i++)
        memcpy(&x[i], &cases[i].in, 4);
    for (int portable = 0; portable < 2; portable++) {
        (portable ? spcnn__bf16_from_f32_portable : spcnn__bf16_from_f32)(x, y, n);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(y[i] == cases[i].out, "%s: 0x%08x -> 0x%04x, not 0x%04x",
                          portable ? "portable" : "dispatched", cases[i].in, y[i], cases[i].out);
    }
    printf("bf16 rounding: %s and the portable loop\n",
           spcnn__bf16_hardware() ? "VCVTNEPS2BF16" : "(no AVX-512 BF16)");
    /* Long runs (the vector body) agree with one element at a time (the masked tail) and
     * with the portable loop, on random floats and on random bit patterns (NaNs, subnormals,
     * ties); every finite normal result is within half a bf16 step. */
    tu_rng rng = {77};
    enum { LONG = 1037 };
    float *v = xmalloc(LONG * 4);
    uint16_t *all = xmalloc(LONG * 2), *ref = xmalloc(LONG * 2), one;
    for (int pass = 0; pass < 2; pass++) {
        tu_fill_f(&rng, v, LONG, -1000, 1000);
        if (pass == 1)
            for (size_t i = 0; i < LONG; i++) {
                uint32_t u = (uint32_t)tu_uniform(&rng, 0, 65536) << 16 |
                             (uint32_t)tu_uniform(&rng, 0, 65536);
                if (i % 7 == 0)
                    u = (u & 0xffff0000u) | 0x8000u; /* a tie */
                if (i % 11 == 0)
                    u &= 0x807fffffu; /* a subnormal */
                memcpy(&v[i], &u, 4);
            }
        spcnn__bf16_from_f32(v, all, LONG);
        spcnn__bf16_from_f32_portable(v, ref, LONG);
        for (size_t i = 0; i < LONG; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], 4);
            spcnn__bf16_from_f32(&v[i], &one, 1);
            ck_assert_uint_eq(one, all[i]);
            ck_assert_msg(all[i] == ref[i], "0x%08x: 0x%04x vs portable 0x%04x", bits, all[i],
                          ref[i]);
            if (pass == 0)
                ck_assert(fabsf(spcnn__bf16_to_f32(all[i]) - v[i]) <= fabsf(v[i]) * 0x1p-8f);
        }
    }
    free(v);
    free(all);
    free(ref);
}
END_TEST

START_TEST(test_conv_misuse)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    spcnn__conv l;
    spcnn__conv_shape s = spcnn__conv_shape_make(1, 4, 4, 2, 3, 5, 5, 1, 0, 0, 0, 0);
    ck_assert_int_eq(spcnn__conv_init(&l, &ctx, &s), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "empty output"));
    spcnn__conv_deinit(&l); /* safe after a failed init */
    /* A stride larger than the kernel cannot be PixelCNN++'s crop: refused, not mis-sized. */
    s = spcnn__conv_shape_down_right_shifted_deconv(1, 4, 4, 2, 3, 2, 2, 3);
    ck_assert_int_eq(spcnn__conv_init(&l, &ctx, &s), SPCNN_ERR_INVALID_ARGUMENT);
    /* A forward-only layer refuses backward. */
    s = spcnn__conv_shape_nin(1, 2, 2, 2, 3);
    s.backward = 0;
    ck_assert_int_eq(spcnn__conv_init(&l, &ctx, &s), SPCNN_OK);
    float x[8] = {0}, w[6] = {0}, b[3] = {0}, y[12];
    ck_assert_int_eq(spcnn__conv_forward(&l, &ctx, x, w, b, y), SPCNN_OK);
    ck_assert_int_eq(spcnn__conv_backward(&l, &ctx, x, w, y, x, w, b), SPCNN_ERR_INTERNAL);
    spcnn__conv_deinit(&l);
    spcnn__dnnl_deinit(&ctx);
}
END_TEST

START_TEST(test_conv_alloc_failure)
{
    /* Every allocation of init (weights buffers of the format_tag_any path, scratchpad
     * growth) failing in turn: SPCNN_ERR_OUT_OF_MEMORY, nothing leaked (ASan), and the
     * layer works once allocations succeed. */
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    spcnn__conv_shape s = spcnn__conv_shape_down_shifted_deconv(2, 3, 3, 4, 5, 2, 3, 2);
    int failures = 0;
    for (long k = 0; k < 50; k++) {
        spcnn__conv l;
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn__conv_init(&l, &ctx, &s);
        long made = spcnn__alloc_fail_after(-1);
        if (st == SPCNN_OK) {
            spcnn__conv_deinit(&l);
            ck_assert_msg(made <= k, "an allocation failed but init succeeded");
            break; /* no allocation left to fail */
        }
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
        failures++;
    }
    printf("conv init: %d injected allocation failures handled\n", failures);
    ck_assert_int_gt(failures, 0);
    spcnn__dnnl_deinit(&ctx);
}
END_TEST

static double check_linear(spcnn__dnnl *ctx, int n, int in, int out, uint64_t seed)
{
    spcnn__linear l;
    spcnn__linear_shape s = {n, in, out, 1, 1};
    ck_assert_msg(spcnn__linear_init(&l, ctx, &s) == SPCNN_OK, "%s", spcnn_last_error_message());
    size_t nx = (size_t)n * in, nw = (size_t)in * out, ny = (size_t)n * out;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *b = xmalloc(out * 4), *dy = xmalloc(ny * 4);
    float *y = xmalloc(ny * 4), *dx = xmalloc(nx * 4), *dw = xmalloc(nw * 4), *db = xmalloc(out * 4);
    double *xd = xmalloc(nx * 8), *wd = xmalloc(nw * 8), *bd = xmalloc(out * 8);
    double *dyd = xmalloc(ny * 8), *yr = xmalloc(ny * 8), *dxr = xmalloc(nx * 8);
    double *dwr = xmalloc(nw * 8), *dbr = xmalloc(out * 8);
    fill(&rng, x, xd, nx);
    fill(&rng, w, wd, nw);
    fill(&rng, b, bd, out);
    fill(&rng, dy, dyd, ny);
    ref_linear_forward(n, in, out, xd, wd, bd, yr);
    ref_linear_backward(n, in, out, xd, wd, dyd, dxr, dwr, dbr);
    ck_assert_int_eq(spcnn__linear_forward(&l, ctx, x, w, b, y), SPCNN_OK);
    ck_assert_int_eq(spcnn__linear_backward(&l, ctx, x, w, dy, dx, dw, db), SPCNN_OK);
    double e = tu_nmse(y, yr, ny), ex = tu_nmse(dx, dxr, nx), ew = tu_nmse(dw, dwr, nw),
           eb = tu_nmse(db, dbr, out);
    char line[128];
    snprintf(line, sizeof line, "linear n%d %d->%d: y %.1e dx %.1e dw %.1e db %.1e", n, in, out, e,
             ex, ew, eb);
    double worst = worst_of(worst_of(e, ex), worst_of(ew, eb));
    tu_report(line, worst, NMSE_LIMIT);
    spcnn__linear_deinit(&l);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    free(xd), free(wd), free(bd), free(dyd), free(yr), free(dxr), free(dwr), free(dbr);
    return worst;
}

START_TEST(test_linear)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    double worst = worst_of(check_linear(&ctx, 3, 7, 5, 4000), check_linear(&ctx, 4, 60, 50, 4001));
    worst = worst_of(worst, check_linear(&ctx, 128, 60, 50, 4002));
    spcnn__dnnl_deinit(&ctx);
    tu_report("linear layers", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

static double check_resample(spcnn__dnnl *ctx, spcnn__resample_shape s, uint64_t seed)
{
    spcnn__resample l;
    ck_assert_msg(spcnn__resample_init(&l, ctx, &s) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    size_t nx = (size_t)s.n * s.c * s.ih * s.iw, ny = (size_t)s.n * s.c * s.oh * s.ow;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *y = xmalloc(ny * 4);
    double *xd = xmalloc(nx * 8), *yr = xmalloc(ny * 8);
    fill(&rng, x, xd, nx);
    ref_resample_linear_forward(s.n, s.c, s.ih, s.iw, s.oh, s.ow, xd, yr);
    ck_assert_int_eq(spcnn__resample_forward(&l, ctx, x, y), SPCNN_OK);
    double e = tu_nmse(y, yr, ny);
    char line[96];
    snprintf(line, sizeof line, "resample n%d c%d %dx%d -> %dx%d", s.n, s.c, s.ih, s.iw, s.oh,
             s.ow);
    tu_report(line, e, NMSE_LIMIT);
    spcnn__resample_deinit(&l);
    free(x), free(y), free(xd), free(yr);
    return e;
}

START_TEST(test_resample)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    spcnn__resample_shape cases[] = {
        {4, 2, 8, 8, 4, 4},  {4, 2, 4, 4, 2, 2},   {3, 5, 7, 9, 4, 5},
        {3, 5, 7, 9, 11, 13}, {2, 1, 20, 17, 28, 28}, {2, 1, 56, 41, 28, 28},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        worst = worst_of(worst, check_resample(&ctx, cases[i], 5000 + i));
    spcnn__dnnl_deinit(&ctx);
    tu_report("resample layers (half-pixel bilinear)", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

/* The seed's grid resampling: a window's crop of an H x W coordinate grid, brought from 8 x 8
 * to 4 x 4 and 2 x 2, must be "linspace(first, last, side)" of its rows and columns — the end
 * coordinates kept, equal steps between them — to float rounding. */
START_TEST(test_resample_endpoints)
{
    const int m = 8, sides[] = {4, 2};
    const size_t heights[] = {28, 56, 224}, tops[] = {0, 9, 20};
    double worst = 0;
    for (size_t g = 0; g < 3; g++) {
        const double step = 2.0 / (double)(heights[g] - 1);
        float grid[8 * 8 * 2], small[4 * 4 * 2];
        const double top = (double)tops[g], left = (double)(tops[g] / 2);
        for (int r = 0; r < m; r++)
            for (int c = 0; c < m; c++) {
                grid[(r * m + c) * 2] = (float)(-1.0 + step * (top + r));
                grid[(r * m + c) * 2 + 1] = (float)(-1.0 + step * (left + c));
            }
        for (int k = 0; k < 2; k++) {
            const int s = sides[k];
            spcnn__resample_endpoints_forward(grid, small, 1, 2, m, m, s, s);
            for (int r = 0; r < s; r++)
                for (int c = 0; c < s; c++) {
                    /* linspace over the window's first to last coordinate */
                    double y = -1.0 + step * (top + (double)r * (m - 1) / (s - 1));
                    double x = -1.0 + step * (left + (double)c * (m - 1) / (s - 1));
                    double ey = fabs(small[(r * s + c) * 2] - y);
                    double ex = fabs(small[(r * s + c) * 2 + 1] - x);
                    worst = ey > worst ? ey : worst;
                    worst = ex > worst ? ex : worst;
                }
            /* The corners are the window's corners exactly. */
            ck_assert(small[0] == grid[0] && small[1] == grid[1]);
            ck_assert(small[(s * s - 1) * 2] == grid[(m * m - 1) * 2]);
            ck_assert(small[(s * s - 1) * 2 + 1] == grid[(m * m - 1) * 2 + 1]);
        }
    }
    tu_report("end-point grid resampling, |error| against linspace", worst, 1e-6);
    ck_assert(worst < 1e-6);

    /* Any values: bilinear at o (in - 1) / (out - 1), against a double computation; sizes up,
     * down and to 1. */
    const int cases[][4] = {{8, 8, 4, 4}, {7, 9, 4, 5}, {5, 3, 11, 7}, {6, 6, 1, 1}, {1, 4, 3, 2}};
    tu_rng rng = {6100};
    worst = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int ih = cases[t][0], iw = cases[t][1], oh = cases[t][2], ow = cases[t][3], c = 3;
        float x[9 * 9 * 3], y[11 * 11 * 3];
        for (int i = 0; i < ih * iw * c; i++)
            x[i] = (float)tu_uniform(&rng, -1, 1);
        spcnn__resample_endpoints_forward(x, y, 1, c, ih, iw, oh, ow);
        for (int r = 0; r < oh; r++)
            for (int q = 0; q < ow; q++) {
                double sr = oh > 1 ? (double)r * (ih - 1) / (oh - 1) : 0;
                double sq = ow > 1 ? (double)q * (iw - 1) / (ow - 1) : 0;
                int r0 = (int)sr < ih - 1 ? (int)sr : (ih > 1 ? ih - 2 : 0);
                int q0 = (int)sq < iw - 1 ? (int)sq : (iw > 1 ? iw - 2 : 0);
                int r1 = ih > 1 ? r0 + 1 : r0, q1 = iw > 1 ? q0 + 1 : q0;
                double tr = sr - r0, tq = sq - q0;
                for (int k = 0; k < c; k++) {
                    double v = (1 - tr) * ((1 - tq) * x[(r0 * iw + q0) * c + k] +
                                           tq * x[(r0 * iw + q1) * c + k]) +
                               tr * ((1 - tq) * x[(r1 * iw + q0) * c + k] +
                                     tq * x[(r1 * iw + q1) * c + k]);
                    double e = fabs(y[(r * ow + q) * c + k] - v);
                    worst = e > worst ? e : worst;
                }
            }
    }
    tu_report("end-point resampling of any values, |error|", worst, 1e-6);
    ck_assert(worst < 1e-6);
}
END_TEST

/* The images of scale-aware training: bilinear with the end points kept, so that output pixel
 * (r, c) lies where the grids of the two sizes put it. Exact values on a 2x2 image, the
 * identity, and a double-precision reference on a random image. */
START_TEST(test_resize_bilinear_u8)
{
    const uint8_t two[4] = {0, 100, 200, 50};
    uint8_t out[9];
    spcnn__resize_bilinear_u8(two, 2, 2, out, 3, 3);
    /* corners kept; edge midpoints the mean of two corners; the centre the mean of all four,
     * 87.5, rounded to nearest (up) */
    const uint8_t want[9] = {0, 50, 100, 100, 88, 75, 200, 125, 50};
    for (int i = 0; i < 9; i++)
        ck_assert_msg(out[i] == want[i], "pixel %d: %d, want %d", i, out[i], want[i]);

    tu_rng rng = {31};
    uint8_t src[5 * 7], same[5 * 7], big[13 * 9];
    for (int i = 0; i < 5 * 7; i++)
        src[i] = (uint8_t)tu_uniform(&rng, 0, 256);
    spcnn__resize_bilinear_u8(src, 5, 7, same, 5, 7);
    ck_assert(memcmp(src, same, sizeof src) == 0);
    spcnn__resize_bilinear_u8(src, 5, 7, big, 13, 9);
    int worst = 0;
    for (int r = 0; r < 13; r++)
        for (int c = 0; c < 9; c++) {
            double y = r * 4.0 / 12.0, x = c * 6.0 / 8.0;
            int y0 = (int)y, x0 = (int)x;
            int y1 = y0 < 4 ? y0 + 1 : 4, x1 = x0 < 6 ? x0 + 1 : 6;
            double fy = y - y0, fx = x - x0;
            double v = (1 - fy) * ((1 - fx) * src[y0 * 7 + x0] + fx * src[y0 * 7 + x1]) +
                       fy * ((1 - fx) * src[y1 * 7 + x0] + fx * src[y1 * 7 + x1]);
            int d = abs((int)big[r * 9 + c] - (int)lround(v));
            worst = d > worst ? d : worst;
        }
    /* Rounding of an exact .5 may differ between the two orders of interpolation. */
    ck_assert_int_le(worst, 1);
    ck_assert(big[0] == src[0] && big[8] == src[6] && big[12 * 9] == src[4 * 7] &&
              big[13 * 9 - 1] == src[5 * 7 - 1]);
    printf("resize bilinear: 2x2 -> 3x3 exact, 5x7 -> 13x9 within %d of the reference, corners "
           "kept\n", worst);
}
END_TEST

START_TEST(test_shifts)
{
    /* Data movement only: exact. */
    const int n = 3, h = 7, w = 9, c = 5;
    const size_t len = (size_t)n * h * w * c;
    tu_rng rng = {6000};
    float *x = xmalloc(len * 4), *y = xmalloc(len * 4);
    double *xd = xmalloc(len * 8), *yr = xmalloc(len * 8), *yd = xmalloc(len * 8);
    fill(&rng, x, xd, len);
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < len; i++)
            y[i] = NAN;
        switch (k) {
        case 0:
            spcnn__down_shift_forward(x, y, n, h, w, c);
            ref_down_shift_forward(n, h, w, c, xd, yr);
            break;
        case 1:
            spcnn__down_shift_backward(x, y, n, h, w, c);
            ref_down_shift_backward(n, h, w, c, xd, yr);
            break;
        case 2:
            spcnn__right_shift_forward(x, y, n, h, w, c);
            ref_right_shift_forward(n, h, w, c, xd, yr);
            break;
        default:
            spcnn__right_shift_backward(x, y, n, h, w, c);
            ref_right_shift_backward(n, h, w, c, xd, yr);
            break;
        }
        tu_f2d(y, yd, len);
        worst = worst_of(worst, tu_max_abs_diff_d(yd, yr, len));
    }
    tu_report("down/right shift forward and backward (exact)", worst, 0);
    ck_assert(worst == 0);
    free(x), free(y), free(xd), free(yr), free(yd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_add_test(tc, test_conv_odd_shapes);
    tcase_add_test(tc, test_conv_training_shapes);
    tcase_add_test(tc, test_conv_weights_plain);
    tcase_add_test(tc, test_conv_transposed_by_taps);
    tcase_add_test(tc, test_conv_bf16);
    tcase_add_test(tc, test_conv_bf16_training);
    tcase_add_test(tc, test_conv_bf16_inside_tensors);
    tcase_add_test(tc, test_bf16_rounding);
    tcase_add_test(tc, test_conv_misuse);
    tcase_add_test(tc, test_conv_alloc_failure);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_resample);
    tcase_add_test(tc, test_resample_endpoints);
    tcase_add_test(tc, test_resize_bilinear_u8);
    tcase_add_test(tc, test_shifts);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
