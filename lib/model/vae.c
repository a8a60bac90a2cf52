/* The VAE (docs/design.md, "The VAE"). With q = S/4:
 *
 *   encoder  x [S×S×1] -> conv3×3/2 (1 -> C) -> res(C) at S/2 -> conv3×3/2 (C -> 2C)
 *            -> res(2C) at q -> elu -> linear (q·q·2C -> 2L) = [mu | logvar]
 *   decoder  z -> linear (L -> q·q·2C), read as NHWC [q × q × 2C] -> res(2C, z) at q
 *            -> deconv4×4/2 (2C -> C) -> res(C, z) at S/2 -> elu
 *            -> deconv4×4/2 (C -> 1) = logits [S×S×1]
 *
 *   res(x)    = x + conv_b(elu(conv_a(elu(x))))                   (3×3, padding 1)
 *   res(x, z) = x + conv_b(elu(conv_a(elu(x)))) + linear(z)       (L -> channels, broadcast)
 *
 * The last layer maps S/2 straight to the logits: a full-resolution C-channel stage (deconv
 * C -> C, elu, conv3×3 C -> 1) cost about 6× as much time for the same job (docs/design.md).
 *
 * The parameter rows are added in the fixed order of the enum below, so a VAE finds its rows
 * from the first one's index (and checks their names and sizes). */
#include "model/vae.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/conv.h"
#include "nn/elementwise.h"
#include "nn/linear.h"

/* Row order. A residual block's rows are a.w, a.b, b.w, b.b[, z.w] from its first. */
enum {
    E_IN_W, E_IN_B,
    E_R1, E_R1_LAST = E_R1 + 3,
    E_DOWN_W, E_DOWN_B,
    E_R2, E_R2_LAST = E_R2 + 3,
    E_OUT_W, E_OUT_B,
    D_IN_W, D_IN_B,
    D_R1, D_R1_LAST = D_R1 + 4,
    D_UP_W, D_UP_B,
    D_R2, D_R2_LAST = D_R2 + 4,
    D_OUT_W, D_OUT_B,
    NROWS
};
enum { RES_A_W = 0, RES_A_B = 1, RES_B_W = 2, RES_B_B = 3, RES_Z_W = 4 };

typedef struct row_spec {
    char name[SPCNN__PARAM_NAME_MAX];
    spcnn__param_kind kind;
    int ndims;
    size_t dims[4];
    size_t fan_in;
    spcnn__param_init init;
} row_spec;

static void spec(row_spec *r, const char *name, spcnn__param_kind kind, size_t d0, size_t d1,
                 size_t k, spcnn__param_init init)
{
    snprintf(r->name, sizeof r->name, "%s", name);
    r->kind = kind;
    r->init = init;
    r->dims[0] = d0;
    r->dims[1] = d1;
    r->dims[2] = r->dims[3] = k;
    switch (kind) {
    case SPCNN__PARAM_CONV: /* OIHW */
        r->ndims = 4;
        r->fan_in = d1 * k * k;
        break;
    case SPCNN__PARAM_DECONV: /* IOHW, stride 2: each output sees (k/2)² taps per input channel */
        r->ndims = 4;
        r->fan_in = d0 * (k / 2) * (k / 2);
        break;
    case SPCNN__PARAM_LINEAR: /* OI */
        r->ndims = 2;
        r->fan_in = d1;
        break;
    default: /* bias */
        r->ndims = 1;
        r->fan_in = 1;
        break;
    }
}

static void spec_res(row_spec *r, const char *prefix, size_t c, size_t latent)
{
    char name[SPCNN__PARAM_NAME_MAX];
    /* conv_a feeds an elu (He); conv_b and the z projection start small, so the block starts
     * near the identity, as PixelCNN++'s gated resnets do. */
    snprintf(name, sizeof name, "%s.a.w", prefix);
    spec(&r[RES_A_W], name, SPCNN__PARAM_CONV, c, c, 3, SPCNN__INIT_HE);
    snprintf(name, sizeof name, "%s.a.b", prefix);
    spec(&r[RES_A_B], name, SPCNN__PARAM_BIAS, c, 1, 1, SPCNN__INIT_ZEROS);
    snprintf(name, sizeof name, "%s.b.w", prefix);
    spec(&r[RES_B_W], name, SPCNN__PARAM_CONV, c, c, 3, SPCNN__INIT_SMALL);
    snprintf(name, sizeof name, "%s.b.b", prefix);
    spec(&r[RES_B_B], name, SPCNN__PARAM_BIAS, c, 1, 1, SPCNN__INIT_ZEROS);
    if (latent) {
        snprintf(name, sizeof name, "%s.z.w", prefix); /* no bias: b.b covers it */
        spec(&r[RES_Z_W], name, SPCNN__PARAM_LINEAR, c, latent, 1, SPCNN__INIT_SMALL);
    }
}

static void row_specs(const spcnn__vae_shape *s, row_spec *r)
{
    const size_t c = (size_t)s->channels, l = (size_t)s->latent, q = (size_t)s->size / 4;
    const size_t flat = q * q * 2 * c;
    memset(r, 0, NROWS * sizeof *r);
    spec(&r[E_IN_W], "vae.enc.in.w", SPCNN__PARAM_CONV, c, 1, 3, SPCNN__INIT_HE);
    spec(&r[E_IN_B], "vae.enc.in.b", SPCNN__PARAM_BIAS, c, 1, 1, SPCNN__INIT_ZEROS);
    spec_res(&r[E_R1], "vae.enc.res1", c, 0);
    spec(&r[E_DOWN_W], "vae.enc.down.w", SPCNN__PARAM_CONV, 2 * c, c, 3, SPCNN__INIT_HE);
    spec(&r[E_DOWN_B], "vae.enc.down.b", SPCNN__PARAM_BIAS, 2 * c, 1, 1, SPCNN__INIT_ZEROS);
    spec_res(&r[E_R2], "vae.enc.res2", 2 * c, 0);
    spec(&r[E_OUT_W], "vae.enc.out.w", SPCNN__PARAM_LINEAR, 2 * l, flat, 1, SPCNN__INIT_LECUN);
    spec(&r[E_OUT_B], "vae.enc.out.b", SPCNN__PARAM_BIAS, 2 * l, 1, 1, SPCNN__INIT_ZEROS);
    spec(&r[D_IN_W], "vae.dec.in.w", SPCNN__PARAM_LINEAR, flat, l, 1, SPCNN__INIT_HE);
    spec(&r[D_IN_B], "vae.dec.in.b", SPCNN__PARAM_BIAS, flat, 1, 1, SPCNN__INIT_ZEROS);
    spec_res(&r[D_R1], "vae.dec.res1", 2 * c, l);
    spec(&r[D_UP_W], "vae.dec.up.w", SPCNN__PARAM_DECONV, 2 * c, c, 4, SPCNN__INIT_HE);
    spec(&r[D_UP_B], "vae.dec.up.b", SPCNN__PARAM_BIAS, c, 1, 1, SPCNN__INIT_ZEROS);
    spec_res(&r[D_R2], "vae.dec.res2", c, l);
    spec(&r[D_OUT_W], "vae.dec.out.w", SPCNN__PARAM_DECONV, c, 1, 4, SPCNN__INIT_LECUN);
    spec(&r[D_OUT_B], "vae.dec.out.b", SPCNN__PARAM_BIAS, 1, 1, 1, SPCNN__INIT_ZEROS);
}

static spcnn_status check_shape(const spcnn__vae_shape *s)
{
    SPCNN_CHECK_ARG(s->n > 0 && s->size >= 4 && s->size % 4 == 0 && s->latent > 0 &&
                        s->channels > 0,
                    "vae: invalid shape (n %d, size %d, latent %d, channels %d; the size must "
                    "be a positive multiple of 4)",
                    s->n, s->size, s->latent, s->channels);
    /* The flattened code q·q·2C must fit an int for oneDNN's dims. */
    SPCNN_CHECK_ARG((size_t)s->size * (size_t)s->size * (size_t)s->channels < (1u << 30),
                    "vae: size %d with %d channels is too large", s->size, s->channels);
    return SPCNN_OK;
}

spcnn_status spcnn__vae_add_params(spcnn__params *params, const spcnn__vae_shape *s,
                                   size_t *rows_begin, size_t *rows_end)
{
    SPCNN_TRY(check_shape(s));
    row_spec specs[NROWS];
    row_specs(s, specs);
    /* On failure the rows added so far stay: the caller discards the whole table. */
    for (int i = 0; i < NROWS; i++) {
        size_t row;
        SPCNN_TRY(spcnn__params_add(params, specs[i].name, specs[i].kind, specs[i].ndims,
                                    specs[i].dims, specs[i].fan_in, specs[i].init, &row));
        if (i == 0)
            *rows_begin = row;
        *rows_end = row + 1;
    }
    return SPCNN_OK;
}

/* A residual block at one scale: out = x + conv_b(elu(conv_a(elu(x)))) [+ linear(z)]. */
typedef struct resblock {
    spcnn__conv a, b;
    spcnn__linear z; /* initialised only with latent conditioning */
    int latent;
    size_t n, hw, c;
    size_t row;          /* its first row */
    float *ea, *ec, *hz; /* elu(x), elu(conv_a(elu(x))) [n·hw × c]; z projection [n × c] */
} resblock;

struct spcnn__vae {
    spcnn__vae_shape s;
    size_t row0;
    spcnn__conv e_in, e_down, d_up, d_out;
    spcnn__linear e_out, d_in;
    resblock e_r1, e_r2, d_r1, d_r2;
    const float *enc_w, *dec_w; /* value bases of the last encode / decode */
    /* Activations (P0 = n·S², P1 = n·(S/2)², P2 = n·q²):
     *   e_h1 [P1 × C] e_h2 [P1 × C] e_h3 [P2 × 2C] e_h4 [P2 × 2C] (elu'd in place) e_o [n × 2L]
     *   d_h0 [P2 × 2C] d_h1 [P2 × 2C] d_h2 [P1 × C] d_h3 [P1 × C] (elu'd in place) */
    float *e_h1, *e_h2, *e_h3, *e_h4, *e_o;
    float *d_h0, *d_h1, *d_h2, *d_h3;
    /* Backward only: gradients g0, g1, g2 [P1 × C]; dhz [n × 2C]; dz1, dz2 [n × L];
     * de_o [n × 2L]. */
    float *g0, *g1, *g2, *dhz, *dz1, *dz2, *de_o;
    float *arena;
};

static void resblock_deinit(resblock *rb)
{
    spcnn__conv_deinit(&rb->a);
    spcnn__conv_deinit(&rb->b);
    if (rb->latent)
        spcnn__linear_deinit(&rb->z);
}

static spcnn_status resblock_init(resblock *rb, spcnn__dnnl *ctx, const spcnn__vae_shape *s,
                                  int side, int c, int latent, size_t row)
{
    rb->latent = latent > 0;
    rb->n = (size_t)s->n;
    rb->hw = (size_t)side * (size_t)side;
    rb->c = (size_t)c;
    rb->row = row;
    spcnn__conv_shape cs = spcnn__conv_shape_make(s->n, side, side, c, c, 3, 3, 1, 1, 1, 1, 1);
    cs.backward = s->backward;
    SPCNN_TRY(spcnn__conv_init(&rb->a, ctx, &cs));
    SPCNN_TRY(spcnn__conv_init(&rb->b, ctx, &cs));
    if (rb->latent) {
        spcnn__linear_shape ls = {s->n, latent, c, 0, s->backward};
        SPCNN_TRY(spcnn__linear_init(&rb->z, ctx, &ls));
    }
    return SPCNN_OK;
}

static const float *wrow(const spcnn__params *params, const float *w, size_t row)
{
    return w + params->rows[row].offset;
}

static spcnn_status resblock_forward(resblock *rb, spcnn__dnnl *ctx, const spcnn__params *params,
                                     const float *w, const float *x, const float *z, float *out)
{
    const size_t len = rb->n * rb->hw * rb->c;
    spcnn__elu_forward(x, rb->ea, len);
    SPCNN_TRY(spcnn__conv_forward(&rb->a, ctx, rb->ea, wrow(params, w, rb->row + RES_A_W),
                                  wrow(params, w, rb->row + RES_A_B), rb->ec));
    spcnn__elu_forward(rb->ec, rb->ec, len); /* elu's backward needs only its output */
    SPCNN_TRY(spcnn__conv_forward(&rb->b, ctx, rb->ec, wrow(params, w, rb->row + RES_B_W),
                                  wrow(params, w, rb->row + RES_B_B), out));
    if (rb->latent) {
        SPCNN_TRY(spcnn__linear_forward(&rb->z, ctx, z, wrow(params, w, rb->row + RES_Z_W), NULL,
                                        rb->hz));
        spcnn__cond_add_forward(out, NULL, rb->hz, rb->n, rb->hw, rb->c);
    }
    spcnn__accumulate(out, x, len);
    return SPCNN_OK;
}

/* dx must alias neither dout nor work (both [n·hw × c]); dhz [n × c] scratch; dz [n × L]
 * receives the z projection's share of dz (latent blocks only). */
static spcnn_status resblock_backward(resblock *rb, spcnn__dnnl *ctx, const spcnn__params *params,
                                      const float *w, const float *z, const float *dout,
                                      float *dx, float *work, float *dhz, float *dz)
{
    const size_t len = rb->n * rb->hw * rb->c;
    if (rb->latent) {
        spcnn__cond_add_backward(dout, dhz, rb->n, rb->hw, rb->c);
        SPCNN_TRY(spcnn__linear_backward(&rb->z, ctx, z, wrow(params, w, rb->row + RES_Z_W), dhz,
                                         dz, spcnn__params_grad(params, rb->row + RES_Z_W),
                                         NULL));
    }
    SPCNN_TRY(spcnn__conv_backward(&rb->b, ctx, rb->ec, wrow(params, w, rb->row + RES_B_W), dout,
                                   work, spcnn__params_grad(params, rb->row + RES_B_W),
                                   spcnn__params_grad(params, rb->row + RES_B_B)));
    spcnn__elu_backward(rb->ec, work, work, len);
    SPCNN_TRY(spcnn__conv_backward(&rb->a, ctx, rb->ea, wrow(params, w, rb->row + RES_A_W), work,
                                   dx, spcnn__params_grad(params, rb->row + RES_A_W),
                                   spcnn__params_grad(params, rb->row + RES_A_B)));
    spcnn__elu_backward(rb->ea, dx, dx, len);
    spcnn__accumulate(dx, dout, len); /* the identity path */
    return SPCNN_OK;
}

void spcnn__vae_destroy(spcnn__vae *v)
{
    if (v == NULL)
        return;
    spcnn__conv_deinit(&v->e_in);
    spcnn__conv_deinit(&v->e_down);
    spcnn__conv_deinit(&v->d_up);
    spcnn__conv_deinit(&v->d_out);
    spcnn__linear_deinit(&v->e_out);
    spcnn__linear_deinit(&v->d_in);
    resblock_deinit(&v->e_r1);
    resblock_deinit(&v->e_r2);
    resblock_deinit(&v->d_r1);
    resblock_deinit(&v->d_r2);
    spcnn__free_aligned(v->arena);
    spcnn__free(v);
}

static spcnn_status check_rows(const spcnn__params *params, size_t row0,
                               const spcnn__vae_shape *s)
{
    row_spec specs[NROWS];
    row_specs(s, specs);
    SPCNN_CHECK_ARG(row0 <= params->nrows && params->nrows - row0 >= NROWS,
                    "vae: the table has no VAE rows at %zu", row0);
    for (size_t i = 0; i < NROWS; i++) {
        const spcnn__param *p = &params->rows[row0 + i];
        SPCNN_CHECK_ARG(strcmp(p->name, specs[i].name) == 0 && p->kind == specs[i].kind &&
                            memcmp(p->dims, specs[i].dims,
                                   (size_t)specs[i].ndims * sizeof p->dims[0]) == 0,
                        "vae: row %zu is \"%s\", expected \"%s\" of this shape", row0 + i,
                        p->name, specs[i].name);
    }
    return SPCNN_OK;
}

/* A symmetric 3×3 convolution, or a 4×4 stride-2 transposed one with padding 1 (h -> 2h). The
 * transposed weights go through format_tag_any (conv.c's default): plain IOHW with NHWC
 * activations has only oneDNN's reference implementation. */
static spcnn__conv_shape conv3(const spcnn__vae_shape *s, int side, int ci, int co, int stride)
{
    spcnn__conv_shape cs =
        spcnn__conv_shape_make(s->n, side, side, ci, co, 3, 3, stride, 1, 1, 1, 1);
    cs.backward = s->backward;
    return cs;
}

static spcnn__conv_shape deconv4(const spcnn__vae_shape *s, int side, int ci, int co)
{
    spcnn__conv_shape cs = spcnn__conv_shape_make(s->n, side, side, ci, co, 4, 4, 2, 1, 1, 1, 1);
    cs.transposed = 1;
    cs.backward = s->backward;
    return cs;
}

static double linear_macs(const spcnn__linear *l)
{
    return (double)l->s.n * l->s.in * l->s.out;
}

static double resblock_macs(const resblock *rb)
{
    return spcnn__conv_macs(&rb->a) + spcnn__conv_macs(&rb->b) +
           (rb->latent ? linear_macs(&rb->z) : 0);
}

double spcnn__vae_macs(const spcnn__vae *v)
{
    return spcnn__conv_macs(&v->e_in) + spcnn__conv_macs(&v->e_down) +
           spcnn__conv_macs(&v->d_up) + spcnn__conv_macs(&v->d_out) + linear_macs(&v->e_out) +
           linear_macs(&v->d_in) + resblock_macs(&v->e_r1) + resblock_macs(&v->e_r2) +
           resblock_macs(&v->d_r1) + resblock_macs(&v->d_r2);
}

spcnn_status spcnn__vae_create(spcnn__dnnl *ctx, const spcnn__params *params, size_t rows_begin,
                               const spcnn__vae_shape *s, spcnn__vae **out)
{
    *out = NULL;
    SPCNN_TRY(check_shape(s));
    SPCNN_TRY(check_rows(params, rows_begin, s));
    spcnn__vae *v = spcnn__calloc(1, sizeof *v);
    if (v == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "vae: out of memory");
    spcnn_status st;
    v->s = *s;
    v->row0 = rows_begin;
    const int S = s->size, h = S / 2, q = S / 4, c = s->channels, l = s->latent;
    const int flat = q * q * 2 * c;

    spcnn__conv_shape cs = conv3(s, S, 1, c, 2);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&v->e_in, ctx, &cs));
    SPCNN_TRY_GOTO(st, resblock_init(&v->e_r1, ctx, s, h, c, 0, rows_begin + E_R1));
    cs = conv3(s, h, c, 2 * c, 2);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&v->e_down, ctx, &cs));
    SPCNN_TRY_GOTO(st, resblock_init(&v->e_r2, ctx, s, q, 2 * c, 0, rows_begin + E_R2));
    spcnn__linear_shape ls = {s->n, flat, 2 * l, 1, s->backward};
    SPCNN_TRY_GOTO(st, spcnn__linear_init(&v->e_out, ctx, &ls));

    ls = (spcnn__linear_shape){s->n, l, flat, 1, s->backward};
    SPCNN_TRY_GOTO(st, spcnn__linear_init(&v->d_in, ctx, &ls));
    SPCNN_TRY_GOTO(st, resblock_init(&v->d_r1, ctx, s, q, 2 * c, l, rows_begin + D_R1));
    cs = deconv4(s, q, 2 * c, c);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&v->d_up, ctx, &cs));
    SPCNN_TRY_GOTO(st, resblock_init(&v->d_r2, ctx, s, h, c, l, rows_begin + D_R2));
    cs = deconv4(s, h, c, 1);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&v->d_out, ctx, &cs));

    /* One arena for every activation and gradient; each tensor starts on 16 floats. */
    const size_t n = (size_t)s->n, C = (size_t)c, L = (size_t)l;
    const size_t p0 = n * (size_t)S * (size_t)S, p1 = p0 / 4, p2 = p0 / 16;
    const size_t bw = s->backward ? 1 : 0;
    float **slots[] = {&v->e_h1,     &v->e_h2,     &v->e_h3,     &v->e_h4,     &v->e_o,
                       &v->d_h0,     &v->d_h1,     &v->d_h2,     &v->d_h3,
                       &v->e_r1.ea,  &v->e_r1.ec,  &v->e_r2.ea,  &v->e_r2.ec,  &v->d_r1.ea,
                       &v->d_r1.ec,  &v->d_r1.hz,  &v->d_r2.ea,  &v->d_r2.ec,  &v->d_r2.hz,
                       &v->g0,       &v->g1,       &v->g2,       &v->dhz,      &v->dz1,
                       &v->dz2,      &v->de_o};
    const size_t sizes[] = {p1 * C,      p1 * C,      p2 * 2 * C,  p2 * 2 * C,  n * 2 * L,
                            p2 * 2 * C,  p2 * 2 * C,  p1 * C,      p1 * C,
                            p1 * C,      p1 * C,      p2 * 2 * C,  p2 * 2 * C,  p2 * 2 * C,
                            p2 * 2 * C,  n * 2 * C,   p1 * C,      p1 * C,      n * C,
                            bw * p1 * C, bw * p1 * C, bw * p1 * C, bw * n * 2 * C,
                            bw * n * L,  bw * n * L,  bw * n * 2 * L};
    _Static_assert(sizeof slots / sizeof slots[0] == sizeof sizes / sizeof sizes[0],
                   "one size per tensor");
    spcnn__carver arena = {NULL, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        spcnn__carve(&arena, sizes[i]);
    arena.base = v->arena = spcnn__malloc_aligned(arena.at * sizeof(float));
    if (v->arena == NULL) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "vae: out of memory for %zu bytes of "
                          "activations", arena.at * sizeof(float));
        goto fail;
    }
    arena.at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        float *p = spcnn__carve(&arena, sizes[i]);
        *slots[i] = sizes[i] ? p : NULL;
    }
    *out = v;
    return SPCNN_OK;
fail:
    spcnn__vae_destroy(v);
    return st;
}

spcnn_status spcnn__vae_encode(spcnn__vae *v, spcnn__dnnl *ctx, const spcnn__params *params,
                               const float *w, const float *x, float *mu, float *logvar)
{
    const size_t r = v->row0, n = (size_t)v->s.n, L = (size_t)v->s.latent;
    v->enc_w = w;
    SPCNN_TRY(spcnn__conv_forward(&v->e_in, ctx, x, wrow(params, w, r + E_IN_W),
                                  wrow(params, w, r + E_IN_B), v->e_h1));
    SPCNN_TRY(resblock_forward(&v->e_r1, ctx, params, w, v->e_h1, NULL, v->e_h2));
    SPCNN_TRY(spcnn__conv_forward(&v->e_down, ctx, v->e_h2, wrow(params, w, r + E_DOWN_W),
                                  wrow(params, w, r + E_DOWN_B), v->e_h3));
    SPCNN_TRY(resblock_forward(&v->e_r2, ctx, params, w, v->e_h3, NULL, v->e_h4));
    const size_t len = v->e_r2.n * v->e_r2.hw * v->e_r2.c;
    spcnn__elu_forward(v->e_h4, v->e_h4, len);
    SPCNN_TRY(spcnn__linear_forward(&v->e_out, ctx, v->e_h4, wrow(params, w, r + E_OUT_W),
                                    wrow(params, w, r + E_OUT_B), v->e_o));
    for (size_t i = 0; i < n; i++) {
        memcpy(mu + i * L, v->e_o + i * 2 * L, L * sizeof(float));
        memcpy(logvar + i * L, v->e_o + i * 2 * L + L, L * sizeof(float));
    }
    return SPCNN_OK;
}

spcnn_status spcnn__vae_decode(spcnn__vae *v, spcnn__dnnl *ctx, const spcnn__params *params,
                               const float *w, const float *z, float *logits)
{
    const size_t r = v->row0;
    v->dec_w = w;
    /* The linear's output [n × q·q·2C] is read as NHWC [n × q × q × 2C]: output unit
     * (y·q + x)·2C + c is channel c of pixel (y, x). */
    SPCNN_TRY(spcnn__linear_forward(&v->d_in, ctx, z, wrow(params, w, r + D_IN_W),
                                    wrow(params, w, r + D_IN_B), v->d_h0));
    SPCNN_TRY(resblock_forward(&v->d_r1, ctx, params, w, v->d_h0, z, v->d_h1));
    SPCNN_TRY(spcnn__conv_forward(&v->d_up, ctx, v->d_h1, wrow(params, w, r + D_UP_W),
                                  wrow(params, w, r + D_UP_B), v->d_h2));
    SPCNN_TRY(resblock_forward(&v->d_r2, ctx, params, w, v->d_h2, z, v->d_h3));
    spcnn__elu_forward(v->d_h3, v->d_h3, v->d_r2.n * v->d_r2.hw * v->d_r2.c);
    SPCNN_TRY(spcnn__conv_forward(&v->d_out, ctx, v->d_h3, wrow(params, w, r + D_OUT_W),
                                  wrow(params, w, r + D_OUT_B), logits));
    return SPCNN_OK;
}

spcnn_status spcnn__vae_decode_backward(spcnn__vae *v, spcnn__dnnl *ctx,
                                        const spcnn__params *params, const float *z,
                                        const float *dlogits, float *dz)
{
    SPCNN_CHECK_ARG(v->s.backward, "vae: backward on a forward-only VAE");
    SPCNN_CHECK_ARG(v->dec_w != NULL, "vae: decode backward before any decode");
    const size_t r = v->row0, nl = (size_t)v->s.n * (size_t)v->s.latent;
    const float *w = v->dec_w;
    SPCNN_TRY(spcnn__conv_backward(&v->d_out, ctx, v->d_h3, wrow(params, w, r + D_OUT_W),
                                   dlogits, v->g0, spcnn__params_grad(params, r + D_OUT_W),
                                   spcnn__params_grad(params, r + D_OUT_B)));
    spcnn__elu_backward(v->d_h3, v->g0, v->g0, v->d_r2.n * v->d_r2.hw * v->d_r2.c);
    SPCNN_TRY(resblock_backward(&v->d_r2, ctx, params, w, z, v->g0, v->g1, v->g2, v->dhz,
                                v->dz1));
    SPCNN_TRY(spcnn__conv_backward(&v->d_up, ctx, v->d_h1, wrow(params, w, r + D_UP_W), v->g1,
                                   v->g0, spcnn__params_grad(params, r + D_UP_W),
                                   spcnn__params_grad(params, r + D_UP_B)));
    SPCNN_TRY(resblock_backward(&v->d_r1, ctx, params, w, z, v->g0, v->g2, v->g1, v->dhz,
                                v->dz2));
    SPCNN_TRY(spcnn__linear_backward(&v->d_in, ctx, z, wrow(params, w, r + D_IN_W), v->g2, dz,
                                     spcnn__params_grad(params, r + D_IN_W),
                                     spcnn__params_grad(params, r + D_IN_B)));
    /* z feeds three layers: the input projection and both blocks' conditioning. */
    spcnn__accumulate(dz, v->dz1, nl);
    spcnn__accumulate(dz, v->dz2, nl);
    return SPCNN_OK;
}

spcnn_status spcnn__vae_encode_backward(spcnn__vae *v, spcnn__dnnl *ctx,
                                        const spcnn__params *params, const float *x,
                                        const float *dmu, const float *dlogvar)
{
    SPCNN_CHECK_ARG(v->s.backward, "vae: backward on a forward-only VAE");
    SPCNN_CHECK_ARG(v->enc_w != NULL, "vae: encode backward before any encode");
    const size_t r = v->row0, n = (size_t)v->s.n, L = (size_t)v->s.latent;
    const float *w = v->enc_w;
    for (size_t i = 0; i < n; i++) {
        memcpy(v->de_o + i * 2 * L, dmu + i * L, L * sizeof(float));
        memcpy(v->de_o + i * 2 * L + L, dlogvar + i * L, L * sizeof(float));
    }
    SPCNN_TRY(spcnn__linear_backward(&v->e_out, ctx, v->e_h4, wrow(params, w, r + E_OUT_W),
                                     v->de_o, v->g1, spcnn__params_grad(params, r + E_OUT_W),
                                     spcnn__params_grad(params, r + E_OUT_B)));
    spcnn__elu_backward(v->e_h4, v->g1, v->g1, v->e_r2.n * v->e_r2.hw * v->e_r2.c);
    SPCNN_TRY(resblock_backward(&v->e_r2, ctx, params, w, NULL, v->g1, v->g2, v->g0, NULL,
                                NULL));
    SPCNN_TRY(spcnn__conv_backward(&v->e_down, ctx, v->e_h2, wrow(params, w, r + E_DOWN_W),
                                   v->g2, v->g1, spcnn__params_grad(params, r + E_DOWN_W),
                                   spcnn__params_grad(params, r + E_DOWN_B)));
    SPCNN_TRY(resblock_backward(&v->e_r1, ctx, params, w, NULL, v->g1, v->g2, v->g0, NULL,
                                NULL));
    SPCNN_TRY(spcnn__conv_backward(&v->e_in, ctx, x, wrow(params, w, r + E_IN_W), v->g2, NULL,
                                   spcnn__params_grad(params, r + E_IN_W),
                                   spcnn__params_grad(params, r + E_IN_B)));
    return SPCNN_OK;
}
