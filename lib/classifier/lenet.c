#include "classifier/lenet.h"

#include <string.h>

#include "core/alloc.h"
#include "nn/elementwise.h"

enum { CONV1_W, CONV1_B, CONV2_W, CONV2_B, FC1_W, FC1_B, FC2_W, FC2_B, FC3_W, FC3_B };

enum { KERNEL = 5, PAD1 = 2, POOL = 2 };

spcnn_status spcnn__lenet_check(const spcnn__lenet_shape *s, int *h1, int *w1, int *h2, int *w2)
{
    SPCNN_CHECK_ARG(s->h >= SPCNN__LENET_MIN_SIDE && s->h <= SPCNN__LENET_MAX_SIDE &&
                        s->w >= SPCNN__LENET_MIN_SIDE && s->w <= SPCNN__LENET_MAX_SIDE,
                    "classifier: a %d×%d image is outside %d×%d to %d×%d", s->h, s->w,
                    SPCNN__LENET_MIN_SIDE, SPCNN__LENET_MIN_SIDE, SPCNN__LENET_MAX_SIDE,
                    SPCNN__LENET_MAX_SIDE);
    SPCNN_CHECK_ARG(s->classes >= 2 && s->classes <= SPCNN__LENET_MAX_CLASSES,
                    "classifier: %d classes (2 to %d)", s->classes, SPCNN__LENET_MAX_CLASSES);
    const int widths[4] = {s->c1, s->c2, s->f1, s->f2};
    for (int i = 0; i < 4; i++)
        SPCNN_CHECK_ARG(widths[i] >= 1 && widths[i] <= SPCNN__LENET_MAX_WIDTH,
                        "classifier: layer width %d (1 to %d)", widths[i],
                        SPCNN__LENET_MAX_WIDTH);
    *h1 = s->h / POOL;
    *w1 = s->w / POOL;
    *h2 = (*h1 - KERNEL + 1) / POOL;
    *w2 = (*w1 - KERNEL + 1) / POOL;
    return SPCNN_OK;
}

spcnn_status spcnn__lenet_add_params(spcnn__params *p, const spcnn__lenet_shape *s,
                                     size_t *first)
{
    int h1, w1, h2, w2;
    SPCNN_TRY(spcnn__lenet_check(s, &h1, &w1, &h2, &w2));
    const size_t c1 = (size_t)s->c1, c2 = (size_t)s->c2, f1 = (size_t)s->f1;
    const size_t f2 = (size_t)s->f2, k = (size_t)s->classes;
    const size_t flat = (size_t)h2 * (size_t)w2 * c2;
    const spcnn__param_kind conv = SPCNN__PARAM_CONV, lin = SPCNN__PARAM_LINEAR;
    const spcnn__param_kind bias = SPCNN__PARAM_BIAS;
    const spcnn__param_init he = SPCNN__INIT_HE, zeros = SPCNN__INIT_ZEROS;
    SPCNN_TRY(spcnn__params_add_layer(p, "conv1", "w", conv, c1, 1, KERNEL, KERNEL, he, first));
    SPCNN_TRY(spcnn__params_add_layer(p, "conv1", "b", bias, c1, 1, 1, 1, zeros, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "conv2", "w", conv, c2, c1, KERNEL, KERNEL, he, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "conv2", "b", bias, c2, 1, 1, 1, zeros, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc1", "w", lin, f1, flat, 1, 1, he, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc1", "b", bias, f1, 1, 1, 1, zeros, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc2", "w", lin, f2, f1, 1, 1, he, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc2", "b", bias, f2, 1, 1, 1, zeros, NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc3", "w", lin, k, f2, 1, 1, SPCNN__INIT_LECUN,
                                      NULL));
    SPCNN_TRY(spcnn__params_add_layer(p, "fc3", "b", bias, k, 1, 1, 1, zeros, NULL));
    return SPCNN_OK;
}

void spcnn__lenet_destroy(spcnn__lenet *net)
{
    if (net == NULL)
        return;
    spcnn__conv_deinit(&net->conv1);
    spcnn__conv_deinit(&net->conv2);
    spcnn__pool_deinit(&net->pool1);
    spcnn__pool_deinit(&net->pool2);
    spcnn__linear_deinit(&net->fc1);
    spcnn__linear_deinit(&net->fc2);
    spcnn__linear_deinit(&net->fc3);
    spcnn__free_aligned(net->arena);
    spcnn__free(net);
}

static void layout(spcnn__lenet *net, spcnn__carver *c)
{
    const spcnn__lenet_shape *s = &net->s;
    const size_t n = (size_t)s->n, k = (size_t)s->classes;
    const size_t a1 = n * (size_t)s->h * (size_t)s->w * (size_t)s->c1;
    const size_t p1 = n * (size_t)net->h1 * (size_t)net->w1 * (size_t)s->c1;
    const size_t a2 = n * (size_t)net->conv2.oh * (size_t)net->conv2.ow * (size_t)s->c2;
    const size_t p2 = n * (size_t)net->h2 * (size_t)net->w2 * (size_t)s->c2;
    net->x = spcnn__carve(c, n * (size_t)s->h * (size_t)s->w);
    net->a1 = spcnn__carve(c, a1);
    net->p1 = spcnn__carve(c, p1);
    net->a2 = spcnn__carve(c, a2);
    net->p2 = spcnn__carve(c, p2);
    net->h1a = spcnn__carve(c, n * (size_t)s->f1);
    net->h2a = spcnn__carve(c, n * (size_t)s->f2);
    net->logits = spcnn__carve(c, n * k);
    net->probs = spcnn__carve(c, n * k);
    net->loss = spcnn__carve(c, n);
    net->dloss = spcnn__carve(c, n);
    net->dlogits = spcnn__carve(c, n * k);
    net->dh2 = spcnn__carve(c, n * (size_t)s->f2);
    net->dh1 = spcnn__carve(c, n * (size_t)s->f1);
    net->dp2 = spcnn__carve(c, p2);
    net->da2 = spcnn__carve(c, a2);
    net->dp1 = spcnn__carve(c, p1);
    net->da1 = spcnn__carve(c, a1);
}

spcnn_status spcnn__lenet_create(spcnn__dnnl *ctx, const spcnn__lenet_shape *s,
                                 spcnn__lenet **out)
{
    *out = NULL;
    int h1, w1, h2, w2;
    SPCNN_TRY(spcnn__lenet_check(s, &h1, &w1, &h2, &w2));
    SPCNN_CHECK_ARG(s->n >= 1, "classifier: batch of %d images", s->n);
    spcnn__lenet *net = spcnn__calloc(1, sizeof *net);
    if (net == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "classifier plan: out of memory");
    net->s = *s;
    net->h1 = h1;
    net->w1 = w1;
    net->h2 = h2;
    net->w2 = w2;
    spcnn_status st;
    const int n = s->n, flat = h2 * w2 * s->c2;
    spcnn__conv_shape cs = spcnn__conv_shape_make(n, s->h, s->w, 1, s->c1, KERNEL, KERNEL, 1,
                                                  PAD1, PAD1, PAD1, PAD1);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&net->conv1, ctx, &cs));
    spcnn__pool_shape ps = {n, s->h, s->w, s->c1, POOL, POOL, POOL, POOL, 1};
    SPCNN_TRY_GOTO(st, spcnn__pool_init(&net->pool1, ctx, &ps));
    cs = spcnn__conv_shape_make(n, h1, w1, s->c1, s->c2, KERNEL, KERNEL, 1, 0, 0, 0, 0);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&net->conv2, ctx, &cs));
    spcnn__pool_shape ps2 = {n, net->conv2.oh, net->conv2.ow, s->c2, POOL, POOL, POOL, POOL, 1};
    SPCNN_TRY_GOTO(st, spcnn__pool_init(&net->pool2, ctx, &ps2));
    spcnn__linear_shape ls = {n, flat, s->f1, 1, 1};
    SPCNN_TRY_GOTO(st, spcnn__linear_init(&net->fc1, ctx, &ls));
    ls = (spcnn__linear_shape){n, s->f1, s->f2, 1, 1};
    SPCNN_TRY_GOTO(st, spcnn__linear_init(&net->fc2, ctx, &ls));
    ls = (spcnn__linear_shape){n, s->f2, s->classes, 1, 1};
    SPCNN_TRY_GOTO(st, spcnn__linear_init(&net->fc3, ctx, &ls));

    spcnn__carver c = {NULL, 0};
    layout(net, &c);
    net->arena = spcnn__malloc_aligned(c.at * sizeof(float));
    if (net->arena == NULL) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "classifier plan: out of memory for %zu MB",
                          c.at * sizeof(float) >> 20);
        goto fail;
    }
    /* Zero once: the carving padding is then defined, and so is every tensor's first read. */
    memset(net->arena, 0, c.at * sizeof(float));
    c.base = net->arena;
    c.at = 0;
    layout(net, &c);
    *out = net;
    return SPCNN_OK;
fail:
    spcnn__lenet_destroy(net);
    return st;
}

void spcnn__lenet_set_input(spcnn__lenet *net, const uint8_t *images, size_t count)
{
    const size_t image = (size_t)net->s.h * (size_t)net->s.w;
    for (size_t i = 0; i < count * image; i++)
        net->x[i] = (float)images[i] * (1.0f / 255.0f);
    memset(net->x + count * image, 0, ((size_t)net->s.n - count) * image * sizeof(float));
}

/* A row's slice of a buffer of the table. */
static const float *row(const spcnn__params *p, size_t first, int which, const float *buf)
{
    return buf + p->rows[first + (size_t)which].offset;
}

static size_t count_of(const spcnn__lenet *net, int c, int h, int w)
{
    return (size_t)net->s.n * (size_t)c * (size_t)h * (size_t)w;
}

spcnn_status spcnn__lenet_forward(spcnn__lenet *net, spcnn__dnnl *ctx, const spcnn__params *p,
                                  size_t first, const float *weights)
{
    const spcnn__lenet_shape *s = &net->s;
    const float *w = weights;
    SPCNN_TRY(spcnn__conv_forward(&net->conv1, ctx, net->x, row(p, first, CONV1_W, w),
                                  row(p, first, CONV1_B, w), net->a1));
    spcnn__relu_forward(net->a1, net->a1, count_of(net, s->c1, s->h, s->w));
    SPCNN_TRY(spcnn__pool_forward(&net->pool1, ctx, net->a1, net->p1));
    SPCNN_TRY(spcnn__conv_forward(&net->conv2, ctx, net->p1, row(p, first, CONV2_W, w),
                                  row(p, first, CONV2_B, w), net->a2));
    spcnn__relu_forward(net->a2, net->a2,
                        count_of(net, s->c2, net->conv2.oh, net->conv2.ow));
    SPCNN_TRY(spcnn__pool_forward(&net->pool2, ctx, net->a2, net->p2));
    SPCNN_TRY(spcnn__linear_forward(&net->fc1, ctx, net->p2, row(p, first, FC1_W, w),
                                    row(p, first, FC1_B, w), net->h1a));
    spcnn__relu_forward(net->h1a, net->h1a, count_of(net, s->f1, 1, 1));
    SPCNN_TRY(spcnn__linear_forward(&net->fc2, ctx, net->h1a, row(p, first, FC2_W, w),
                                    row(p, first, FC2_B, w), net->h2a));
    spcnn__relu_forward(net->h2a, net->h2a, count_of(net, s->f2, 1, 1));
    return spcnn__linear_forward(&net->fc3, ctx, net->h2a, row(p, first, FC3_W, w),
                                 row(p, first, FC3_B, w), net->logits);
}

spcnn_status spcnn__lenet_backward(spcnn__lenet *net, spcnn__dnnl *ctx, spcnn__params *p,
                                   size_t first, const float *weights, float *dx)
{
    const spcnn__lenet_shape *s = &net->s;
    const float *w = weights;
    float *g = p->buf[SPCNN__BUF_GRAD];
#define GRAD(which) (g + p->rows[first + (size_t)(which)].offset)
    SPCNN_TRY(spcnn__linear_backward(&net->fc3, ctx, net->h2a, row(p, first, FC3_W, w),
                                     net->dlogits, net->dh2, GRAD(FC3_W), GRAD(FC3_B)));
    spcnn__relu_backward(net->h2a, net->dh2, net->dh2, count_of(net, s->f2, 1, 1));
    SPCNN_TRY(spcnn__linear_backward(&net->fc2, ctx, net->h1a, row(p, first, FC2_W, w),
                                     net->dh2, net->dh1, GRAD(FC2_W), GRAD(FC2_B)));
    spcnn__relu_backward(net->h1a, net->dh1, net->dh1, count_of(net, s->f1, 1, 1));
    SPCNN_TRY(spcnn__linear_backward(&net->fc1, ctx, net->p2, row(p, first, FC1_W, w),
                                     net->dh1, net->dp2, GRAD(FC1_W), GRAD(FC1_B)));
    SPCNN_TRY(spcnn__pool_backward(&net->pool2, ctx, net->dp2, net->da2));
    spcnn__relu_backward(net->a2, net->da2, net->da2,
                         count_of(net, s->c2, net->conv2.oh, net->conv2.ow));
    SPCNN_TRY(spcnn__conv_backward(&net->conv2, ctx, net->p1, row(p, first, CONV2_W, w),
                                   net->da2, net->dp1, GRAD(CONV2_W), GRAD(CONV2_B)));
    SPCNN_TRY(spcnn__pool_backward(&net->pool1, ctx, net->dp1, net->da1));
    spcnn__relu_backward(net->a1, net->da1, net->da1, count_of(net, s->c1, s->h, s->w));
    return spcnn__conv_backward(&net->conv1, ctx, net->x, row(p, first, CONV1_W, w), net->da1,
                                dx, GRAD(CONV1_W), GRAD(CONV1_B));
#undef GRAD
}
