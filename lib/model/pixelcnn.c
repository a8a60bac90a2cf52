#include "model/pixelcnn.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/elementwise.h"
#include "nn/rng.h"
#include "nn/shift.h"

/* The U-net is run as a list of operations over numbered tensors (every tensor is
 * [windows × side² × F] at its scale), so that backward is the same list in reverse, each
 * operation adding its input gradients into the tensors' gradient accumulators. */
typedef enum op_kind {
    OP_RESNET,    /* gated resnet: out = block(x, aux) */
    OP_RESNET_UL, /* down-pass ul block: aux = concat(tensor a, tensor a2) */
    OP_CONV       /* stride-2 shifted conv (up pass) or transposed conv (down pass) */
} op_kind;

typedef struct pc_op {
    op_kind kind;
    int layer; /* index into blocks[] or convs[] */
    int scale;
    int x, out, a, a2; /* tensor ids; a, a2 = -1 when absent */
} pc_op;

enum {
    MAX_OPS = 4 * SPCNN__PIXELCNN_MAX_BLOCKS + 8,
    MAX_TENSORS = 4 * SPCNN__PIXELCNN_MAX_BLOCKS + 8
};

struct spcnn__pixelcnn {
    spcnn__pixelcnn_shape s;
    spcnn__pixelcnn_rows rows;

    spcnn__conv in_u, in_ula, in_ulb, head;
    spcnn__conv convs[8]; /* 2 downsampling pairs, then 2 upsampling pairs */
    spcnn__conv_shape conv_shape[8];
    size_t conv_w[8], conv_b[8];
    int nconvs;
    spcnn__gated_resnet blocks[4 * SPCNN__PIXELCNN_MAX_BLOCKS];
    spcnn__gated_resnet_shape block_shape[4 * SPCNN__PIXELCNN_MAX_BLOCKS];
    const spcnn__gated_resnet_rows *block_rows[4 * SPCNN__PIXELCNN_MAX_BLOCKS];
    int nblocks;
    spcnn__resample grid_resample[2];

    pc_op ops[MAX_OPS];
    int nops;
    int ntensors;
    int tensor_scale[MAX_TENSORS];
    spcnn__region tensor_region[MAX_TENSORS]; /* where each is stored in its scale's square */
    float *t[MAX_TENSORS];  /* activations */
    float *dt[MAX_TENSORS]; /* gradient accumulators (training only) */
    float *cat[SPCNN__PIXELCNN_MAX_BLOCKS]; /* concat(u, ul_kept) of each down-pass ul block */
    int ul0, final_ul;  /* tensor ids */
    int u0;

    float *xin;      /* [P × 2]: pixel, ones */
    float *grid_crop; /* cone plans: the grid on a cone block's output region */
    const float *grid[3]; /* grid at each scale: [0] the caller's, [1], [2] resampled */
    float *grid_small[2];
    const float *z;       /* the caller's z of the last forward (backward needs it) */
    /* Latent tables for the next forward only (spcnn__pixelcnn_set_latent_tables). */
    const float *const *latent_tables;
    float *head_in;  /* elu(final ul) [P × F] */
    float *tmp_x, *tmp_y, *tmp_a; /* [P × F], [P × F], [P × 2F] */
    float *dz_tmp;   /* [n × L] */
    float *work;     /* gated resnet backward scratch */
    float *block_scratch; /* forward-only plans: the activations every block shares */
    float *arena;
};

static int side(const spcnn__pixelcnn_shape *s, int scale)
{
    return s->m >> scale;
}

static size_t pix(const spcnn__pixelcnn_shape *s, int scale)
{
    size_t d = (size_t)side(s, scale);
    return (size_t)s->n * d * d;
}

static spcnn__gated_resnet_shape block_shape(const spcnn__pixelcnn_shape *s, int scale, int aux_c,
                                             int conv)
{
    spcnn__gated_resnet_shape g = {s->n, side(s, scale), side(s, scale), s->f, aux_c,
                                   s->grid != SPCNN__GRID_NONE, s->latent, conv, s->backward, 0,
                                   s->bf16, 0, 0, s->columns};
    return g;
}

static size_t region_size(const spcnn__pixelcnn_shape *s, spcnn__region r)
{
    return (size_t)s->n * (size_t)r.h * (size_t)r.w;
}

static spcnn__region whole(const spcnn__pixelcnn_shape *s, int scale)
{
    spcnn__region r = {0, 0, side(s, scale), side(s, scale)};
    return r;
}

static int region_equal(spcnn__region a, spcnn__region b)
{
    return a.top == b.top && a.left == b.left && a.h == b.h && a.w == b.w;
}

/* The smallest region holding a and b (an empty region, h = 0, holds nothing). */
static spcnn__region region_union(spcnn__region a, spcnn__region b)
{
    if (a.h == 0)
        return b;
    if (b.h == 0)
        return a;
    const int top = a.top < b.top ? a.top : b.top, left = a.left < b.left ? a.left : b.left;
    const int bottom = a.top + a.h > b.top + b.h ? a.top + a.h : b.top + b.h;
    const int right = a.left + a.w > b.left + b.w ? a.left + a.w : b.left + b.w;
    spcnn__region r = {top, left, bottom - top, right - left};
    return r;
}

/* ---- parameters ------------------------------------------------------------------------- */

spcnn_status spcnn__pixelcnn_add_params(spcnn__params *params, const spcnn__pixelcnn_shape *s,
                                        spcnn__pixelcnn_rows *rows)
{
    SPCNN_CHECK_ARG(s->m >= 4 && s->m % 4 == 0 && s->r >= 1 &&
                        3 * s->r + 2 <= SPCNN__PIXELCNN_MAX_BLOCKS && s->f >= 1 && s->k >= 1,
                    "pixelcnn: invalid shape m=%d r=%d f=%d k=%d", s->m, s->r, s->f, s->k);
    const size_t f = (size_t)s->f;
    memset(rows, 0xff, sizeof *rows);
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "u.w", SPCNN__PARAM_CONV, f, 2, 2, 3,
                                      SPCNN__INIT_HE, &rows->in_u_w));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "u.b", SPCNN__PARAM_BIAS, f, 0, 0, 0,
                                      SPCNN__INIT_ZEROS, &rows->in_u_b));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "ul_a.w", SPCNN__PARAM_CONV, f, 2, 1, 3,
                                      SPCNN__INIT_HE, &rows->in_ula_w));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "ul_a.b", SPCNN__PARAM_BIAS, f, 0, 0, 0,
                                      SPCNN__INIT_ZEROS, &rows->in_ula_b));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "ul_b.w", SPCNN__PARAM_CONV, f, 2, 2, 1,
                                      SPCNN__INIT_HE, &rows->in_ulb_w));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.in", "ul_b.b", SPCNN__PARAM_BIAS, f, 0, 0, 0,
                                      SPCNN__INIT_ZEROS, &rows->in_ulb_b));
    char prefix[48];
    for (int scale = 0; scale < 3; scale++) {
        if (scale > 0) {
            snprintf(prefix, sizeof prefix, "pc.up.down%d", scale);
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "u.w", SPCNN__PARAM_CONV, f, f, 2,
                                              3, SPCNN__INIT_HE, &rows->down_u_w[scale - 1]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "u.b", SPCNN__PARAM_BIAS, f, 0, 0,
                                              0, SPCNN__INIT_ZEROS, &rows->down_u_b[scale - 1]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "ul.w", SPCNN__PARAM_CONV, f, f, 2,
                                              2, SPCNN__INIT_HE, &rows->down_ul_w[scale - 1]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "ul.b", SPCNN__PARAM_BIAS, f, 0, 0,
                                              0, SPCNN__INIT_ZEROS, &rows->down_ul_b[scale - 1]));
        }
        for (int i = 0; i < s->r; i++) {
            int j = scale * s->r + i;
            spcnn__gated_resnet_shape g = block_shape(s, scale, 0, SPCNN__CONV_DOWN_SHIFTED);
            snprintf(prefix, sizeof prefix, "pc.up.s%d.r%d.u", scale, i);
            SPCNN_TRY(spcnn__gated_resnet_add_params(params, prefix, &g, &rows->up_u[j]));
            g = block_shape(s, scale, s->f, SPCNN__CONV_DOWN_RIGHT_SHIFTED);
            snprintf(prefix, sizeof prefix, "pc.up.s%d.r%d.ul", scale, i);
            SPCNN_TRY(spcnn__gated_resnet_add_params(params, prefix, &g, &rows->up_ul[j]));
        }
    }
    int j = 0;
    for (int scale = 2; scale >= 0; scale--) {
        if (scale < 2) {
            int k = 1 - scale; /* 0: 2 -> 1, 1: 1 -> 0 */
            snprintf(prefix, sizeof prefix, "pc.dn.up%d", scale);
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "u.w", SPCNN__PARAM_DECONV, f, f, 2,
                                              3, SPCNN__INIT_HE, &rows->up_u_w[k]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "u.b", SPCNN__PARAM_BIAS, f, 0, 0,
                                              0, SPCNN__INIT_ZEROS, &rows->up_u_b[k]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "ul.w", SPCNN__PARAM_DECONV, f, f,
                                              2, 2, SPCNN__INIT_HE, &rows->up_ul_w[k]));
            SPCNN_TRY(spcnn__params_add_layer(params, prefix, "ul.b", SPCNN__PARAM_BIAS, f, 0, 0,
                                              0, SPCNN__INIT_ZEROS, &rows->up_ul_b[k]));
        }
        int nres = scale == 2 ? s->r : s->r + 1;
        for (int i = 0; i < nres; i++, j++) {
            spcnn__gated_resnet_shape g = block_shape(s, scale, s->f, SPCNN__CONV_DOWN_SHIFTED);
            snprintf(prefix, sizeof prefix, "pc.dn.s%d.r%d.u", scale, i);
            SPCNN_TRY(spcnn__gated_resnet_add_params(params, prefix, &g, &rows->dn_u[j]));
            g = block_shape(s, scale, 2 * s->f, SPCNN__CONV_DOWN_RIGHT_SHIFTED);
            snprintf(prefix, sizeof prefix, "pc.dn.s%d.r%d.ul", scale, i);
            SPCNN_TRY(spcnn__gated_resnet_add_params(params, prefix, &g, &rows->dn_ul[j]));
        }
    }
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.head", "w", SPCNN__PARAM_CONV, 3 * (size_t)s->k,
                                      f, 1, 1, SPCNN__INIT_LECUN, &rows->head_w));
    SPCNN_TRY(spcnn__params_add_layer(params, "pc.head", "b", SPCNN__PARAM_BIAS,
                                      3 * (size_t)s->k, 0, 0, 0, SPCNN__INIT_ZEROS,
                                      &rows->head_b));
    return SPCNN_OK;
}

/* ---- construction ----------------------------------------------------------------------- */

static int new_tensor(spcnn__pixelcnn *pc, int scale)
{
    pc->tensor_scale[pc->ntensors] = scale;
    return pc->ntensors++;
}

/* The graph is recorded first (layer shapes, no primitives), so that a cone plan can shrink
 * its blocks before anything is created. */
static int add_conv(spcnn__pixelcnn *pc, spcnn__conv_shape cs, size_t w_row, size_t b_row)
{
    cs.backward = pc->s.backward;
    cs.bf16 = pc->s.bf16;
    cs.columns = pc->s.columns;
    pc->conv_shape[pc->nconvs] = cs;
    pc->conv_w[pc->nconvs] = w_row;
    pc->conv_b[pc->nconvs] = b_row;
    return pc->nconvs++;
}

static int add_block(spcnn__pixelcnn *pc, int scale, int aux_c, int conv,
                     const spcnn__gated_resnet_rows *rows)
{
    pc->block_shape[pc->nblocks] = block_shape(&pc->s, scale, aux_c, conv);
    pc->block_rows[pc->nblocks] = rows;
    return pc->nblocks++;
}

static void add_op(spcnn__pixelcnn *pc, op_kind kind, int layer, int scale, int x, int out,
                   int a, int a2)
{
    pc_op op = {kind, layer, scale, x, out, a, a2};
    pc->ops[pc->nops++] = op;
}

/* Record the operation list, mirroring PixelCNN++'s model code. */
static spcnn_status build_graph(spcnn__pixelcnn *pc)
{
    const spcnn__pixelcnn_shape *s = &pc->s;
    const spcnn__pixelcnn_rows *rows = &pc->rows;
    const int n = s->n, f = s->f, r = s->r;
    int u_kept[3 * SPCNN__PIXELCNN_MAX_BLOCKS + 3], ul_kept[3 * SPCNN__PIXELCNN_MAX_BLOCKS + 3];
    int nkept = 0, layer;

    /* Up pass. */
    int u = new_tensor(pc, 0), ul = new_tensor(pc, 0);
    pc->u0 = u;
    pc->ul0 = ul;
    u_kept[nkept] = u;
    ul_kept[nkept++] = ul;
    for (int scale = 0; scale < 3; scale++) {
        if (scale > 0) {
            int hs = side(s, scale - 1), nu = new_tensor(pc, scale), nul = new_tensor(pc, scale);
            layer = add_conv(pc, spcnn__conv_shape_down_shifted(n, hs, hs, f, f, 2, 3, 2),
                             rows->down_u_w[scale - 1], rows->down_u_b[scale - 1]);
            add_op(pc, OP_CONV, layer, scale, u, nu, -1, -1);
            layer = add_conv(pc, spcnn__conv_shape_down_right_shifted(n, hs, hs, f, f, 2, 2, 2),
                             rows->down_ul_w[scale - 1], rows->down_ul_b[scale - 1]);
            add_op(pc, OP_CONV, layer, scale, ul, nul, -1, -1);
            u = nu;
            ul = nul;
            u_kept[nkept] = u;
            ul_kept[nkept++] = ul;
        }
        for (int i = 0; i < r; i++) {
            int j = scale * r + i, nu = new_tensor(pc, scale), nul = new_tensor(pc, scale);
            layer = add_block(pc, scale, 0, SPCNN__CONV_DOWN_SHIFTED, &rows->up_u[j]);
            add_op(pc, OP_RESNET, layer, scale, u, nu, -1, -1);
            layer = add_block(pc, scale, f, SPCNN__CONV_DOWN_RIGHT_SHIFTED, &rows->up_ul[j]);
            add_op(pc, OP_RESNET, layer, scale, ul, nul, nu, -1);
            u = nu;
            ul = nul;
            u_kept[nkept] = u;
            ul_kept[nkept++] = ul;
        }
    }

    /* Down pass: every kept output is consumed exactly once, the last one first. */
    int pop = nkept - 1;
    u = u_kept[pop];
    ul = ul_kept[pop--];
    int j = 0;
    for (int scale = 2; scale >= 0; scale--) {
        if (scale < 2) {
            int k = 1 - scale, hs = side(s, scale + 1);
            int nu = new_tensor(pc, scale), nul = new_tensor(pc, scale);
            layer = add_conv(pc, spcnn__conv_shape_down_shifted_deconv(n, hs, hs, f, f, 2, 3, 2),
                             rows->up_u_w[k], rows->up_u_b[k]);
            add_op(pc, OP_CONV, layer, scale, u, nu, -1, -1);
            layer = add_conv(pc,
                             spcnn__conv_shape_down_right_shifted_deconv(n, hs, hs, f, f, 2, 2, 2),
                             rows->up_ul_w[k], rows->up_ul_b[k]);
            add_op(pc, OP_CONV, layer, scale, ul, nul, -1, -1);
            u = nu;
            ul = nul;
        }
        int nres = scale == 2 ? r : r + 1;
        for (int i = 0; i < nres; i++, j++, pop--) {
            int nu = new_tensor(pc, scale), nul = new_tensor(pc, scale);
            layer = add_block(pc, scale, f, SPCNN__CONV_DOWN_SHIFTED, &rows->dn_u[j]);
            add_op(pc, OP_RESNET, layer, scale, u, nu, u_kept[pop], -1);
            layer = add_block(pc, scale, 2 * f, SPCNN__CONV_DOWN_RIGHT_SHIFTED, &rows->dn_ul[j]);
            add_op(pc, OP_RESNET_UL, layer, scale, ul, nul, nu, ul_kept[pop]);
            u = nu;
            ul = nul;
        }
    }
    if (pop != -1)
        return spcnn__error(SPCNN_ERR_INTERNAL, "pixelcnn: %d kept outputs were not consumed",
                            pop + 1);
    pc->final_ul = ul;
    for (int t = 0; t < pc->ntensors; t++)
        pc->tensor_region[t] = whole(s, pc->tensor_scale[t]);
    return SPCNN_OK;
}

/* A cone plan computes only what the final ul at one pixel of the window, (cone_r, cone_c),
 * depends on. Walking the list backwards, each block's output is needed on some region of its
 * scale; it reads x and its aux inputs on the regions spcnn__gated_resnet_cone_inputs gives
 * (one row up and one column left per causal convolution, and one right for the u stream's,
 * clipped to the scale); a tensor read by several operations is computed on the union of what
 * they read; a stride-2 layer is taken to need its whole input. A block whose region is not its
 * whole scale becomes a cone block (nn/gated_resnet.h) and stores its output on that region.
 * With 8×8 windows this shrinks the full-scale blocks of the down pass, for the bottom-right
 * pixel to squares of 1 to 6 (docs/design.md, "Sampling only what is needed"). */
static spcnn_status plan_cone(spcnn__pixelcnn *pc)
{
    spcnn__region need[MAX_TENSORS] = {{0, 0, 0, 0}};
    const spcnn__region target = {pc->s.cone_r, pc->s.cone_c, 1, 1};
    need[pc->final_ul] = target;
    for (int o = pc->nops - 1; o >= 0; o--) {
        const pc_op *op = &pc->ops[o];
        const spcnn__region full = whole(&pc->s, op->scale), out = need[op->out];
        if (out.h == 0)
            return spcnn__error(SPCNN_ERR_INTERNAL, "pixelcnn: operation %d is not needed", o);
        spcnn__region nx, na = {0, 0, 0, 0};
        if (op->kind == OP_CONV) {
            nx = whole(&pc->s, pc->tensor_scale[op->x]);
        } else {
            spcnn__gated_resnet_shape *g = &pc->block_shape[op->layer];
            pc->tensor_region[op->out] = out;
            if (!region_equal(out, full)) {
                g->h = out.h;
                g->w = out.w;
                g->top = out.top;
                g->left = out.left;
                g->full = full.h;
            }
            spcnn__gated_resnet_cone_inputs(g, &nx, &na);
        }
        need[op->x] = region_union(need[op->x], nx);
        if (op->a >= 0)
            need[op->a] = region_union(need[op->a], na);
        if (op->a2 >= 0)
            need[op->a2] = region_union(need[op->a2], na);
    }
    return SPCNN_OK;
}

/* Create every primitive of the recorded graph (after layout: forward-only blocks share the
 * arena's block scratch). */
static spcnn_status create_layers(spcnn__pixelcnn *pc, spcnn__dnnl *ctx)
{
    const spcnn__pixelcnn_shape *s = &pc->s;
    const int n = s->n, m = s->m, f = s->f;
    spcnn__conv_shape cs = spcnn__conv_shape_down_shifted(n, m, m, 2, f, 2, 3, 1);
    cs.backward = s->backward;
    SPCNN_TRY(spcnn__conv_init(&pc->in_u, ctx, &cs));
    cs = spcnn__conv_shape_down_shifted(n, m, m, 2, f, 1, 3, 1);
    cs.backward = s->backward;
    SPCNN_TRY(spcnn__conv_init(&pc->in_ula, ctx, &cs));
    cs = spcnn__conv_shape_down_right_shifted(n, m, m, 2, f, 2, 1, 1);
    cs.backward = s->backward;
    SPCNN_TRY(spcnn__conv_init(&pc->in_ulb, ctx, &cs));
    if (!s->cone) {
        /* The head stays fp32 in bf16 plans: rounding its input and weights moved the bundled
         * model's test bits/dim by 0.009, the rest of the network by 0.0002. */
        cs = spcnn__conv_shape_nin(n, m, m, f, 3 * s->k);
        cs.backward = s->backward;
        SPCNN_TRY(spcnn__conv_init(&pc->head, ctx, &cs));
    }
    for (int c = 0; c < pc->nconvs; c++)
        SPCNN_TRY(spcnn__conv_init(&pc->convs[c], ctx, &pc->conv_shape[c]));
    for (int b = 0; b < pc->nblocks; b++) {
        SPCNN_TRY(spcnn__gated_resnet_init(&pc->blocks[b], ctx, &pc->block_shape[b],
                                           pc->block_rows[b], pc->block_scratch));
        pc->blocks[b].hz_offset = (size_t)b * 2 * (size_t)s->f; /* its place in a table */
    }
    return SPCNN_OK;
}

/* Lay out every activation, gradient accumulator and temporary over base, or only measure
 * them (base NULL); returns the floats needed. Inference keeps only the U-net's tensors; the
 * blocks' internals are transient and one block scratch, sized for the largest block, serves
 * them all. */
static size_t layout(spcnn__pixelcnn *pc, float *base)
{
    const spcnn__pixelcnn_shape *s = &pc->s;
    const size_t f = (size_t)s->f, p0 = pix(s, 0);
    size_t work = 0, scratch = 0;
    for (int b = 0; b < pc->nblocks; b++) {
        size_t w = spcnn__gated_resnet_work_size(&pc->block_shape[b]);
        size_t a = spcnn__gated_resnet_activation_size(&pc->block_shape[b]);
        work = w > work ? w : work;
        scratch = a > scratch ? a : scratch;
    }
    spcnn__carver c = {base, 0};
    for (int t = 0; t < pc->ntensors; t++) {
        pc->t[t] = spcnn__carve(&c, region_size(s, pc->tensor_region[t]) * f);
        if (s->backward)
            pc->dt[t] = spcnn__carve(&c, pix(s, pc->tensor_scale[t]) * f);
    }
    int k = 0;
    for (int o = 0; o < pc->nops; o++)
        if (pc->ops[o].kind == OP_RESNET_UL)
            pc->cat[k++] = spcnn__carve(&c, pix(s, pc->ops[o].scale) * 2 * f);
    pc->xin = spcnn__carve(&c, p0 * 2);
    if (s->cone)
        pc->grid_crop = spcnn__carve(&c, p0 * 2);
    if (s->grid) {
        pc->grid_small[0] = spcnn__carve(&c, pix(s, 1) * 2);
        pc->grid_small[1] = spcnn__carve(&c, pix(s, 2) * 2);
    }
    if (!s->cone)
        pc->head_in = spcnn__carve(&c, p0 * f);
    pc->tmp_x = spcnn__carve(&c, p0 * f);
    pc->tmp_y = spcnn__carve(&c, p0 * f);
    if (s->backward) {
        pc->tmp_a = spcnn__carve(&c, p0 * 2 * f);
        pc->dz_tmp = spcnn__carve(&c, (size_t)s->n * (size_t)(s->latent > 0 ? s->latent : 1));
        pc->work = spcnn__carve(&c, work);
    } else {
        pc->block_scratch = spcnn__carve(&c, scratch);
    }
    return c.at;
}

static spcnn_status check_shape(const spcnn__pixelcnn_shape *s)
{
    SPCNN_CHECK_ARG(s->n >= 1 && s->m >= 4 && s->m % 4 == 0 && s->r >= 1 &&
                        3 * s->r + 2 <= SPCNN__PIXELCNN_MAX_BLOCKS,
                    "pixelcnn: invalid shape n=%d m=%d r=%d", s->n, s->m, s->r);
    SPCNN_CHECK_ARG(!s->cone || (!s->backward && s->cone_r >= 0 && s->cone_r < s->m &&
                                 s->cone_c >= 0 && s->cone_c < s->m),
                    "pixelcnn: a cone plan is forward only, at a pixel of the window (%d, %d)",
                    s->cone_r, s->cone_c);
    return SPCNN_OK;
}

/* Record the graph of shape s into pc (zeroed first) and plan its cone: no primitives, no
 * memory. */
static spcnn_status plan_graph(spcnn__pixelcnn *pc, const spcnn__pixelcnn_shape *s,
                               const spcnn__pixelcnn_rows *rows)
{
    SPCNN_TRY(check_shape(s));
    memset(pc, 0, sizeof *pc);
    pc->s = *s;
    if (rows)
        pc->rows = *rows;
    SPCNN_TRY(build_graph(pc));
    return s->cone ? plan_cone(pc) : SPCNN_OK;
}

spcnn_status spcnn__pixelcnn_workspace_floats(const spcnn__pixelcnn_shape *shapes, size_t count,
                                              size_t *floats)
{
    *floats = 0;
    for (size_t i = 0; i < count; i++)
        SPCNN_CHECK_ARG(!shapes[i].backward,
                        "pixelcnn: a training plan keeps its own activations");
    spcnn__pixelcnn *pc = spcnn__malloc(sizeof *pc); /* one graph at a time */
    if (pc == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "pixelcnn: out of memory");
    spcnn_status st = SPCNN_OK;
    for (size_t i = 0; i < count && st == SPCNN_OK; i++) {
        st = plan_graph(pc, &shapes[i], NULL);
        if (st == SPCNN_OK) {
            const size_t need = layout(pc, NULL);
            *floats = need > *floats ? need : *floats;
        }
    }
    spcnn__free(pc);
    return st;
}

spcnn_status spcnn__pixelcnn_create(spcnn__dnnl *ctx, const spcnn__pixelcnn_shape *s,
                                    const spcnn__pixelcnn_rows *rows, spcnn__pixelcnn **out)
{
    return spcnn__pixelcnn_create_in(ctx, s, rows, NULL, out);
}

spcnn_status spcnn__pixelcnn_create_in(spcnn__dnnl *ctx, const spcnn__pixelcnn_shape *s,
                                       const spcnn__pixelcnn_rows *rows, float *workspace,
                                       spcnn__pixelcnn **out)
{
    SPCNN_CHECK_ARG(workspace == NULL || !s->backward,
                    "pixelcnn: a training plan keeps its own activations");
    spcnn__pixelcnn *pc = spcnn__malloc(sizeof *pc);
    if (pc == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "pixelcnn: out of memory");
    spcnn_status st = plan_graph(pc, s, rows);
    if (st != SPCNN_OK) {
        spcnn__free(pc);
        return st;
    }
    float *base = workspace;
    if (base == NULL) {
        const size_t floats = layout(pc, NULL);
        base = pc->arena = spcnn__malloc_aligned(floats * sizeof(float));
        if (base == NULL) {
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                              "pixelcnn: out of memory for %zu MB of activations",
                              floats * sizeof(float) >> 20);
            goto fail;
        }
    }
    layout(pc, base);
    SPCNN_TRY_GOTO(st, create_layers(pc, ctx));
    if (s->grid == SPCNN__GRID_HALF_PIXEL) {
        for (int k = 0; k < 2; k++) {
            spcnn__resample_shape rs = {s->n, 2, s->m, s->m, side(s, k + 1), side(s, k + 1)};
            SPCNN_TRY_GOTO(st, spcnn__resample_init(&pc->grid_resample[k], ctx, &rs));
        }
    }
    *out = pc;
    return SPCNN_OK;
fail:
    spcnn__pixelcnn_destroy(pc);
    return st;
}

void spcnn__pixelcnn_destroy(spcnn__pixelcnn *pc)
{
    if (pc == NULL)
        return;
    spcnn__conv_deinit(&pc->in_u);
    spcnn__conv_deinit(&pc->in_ula);
    spcnn__conv_deinit(&pc->in_ulb);
    spcnn__conv_deinit(&pc->head);
    for (int i = 0; i < 8; i++)
        spcnn__conv_deinit(&pc->convs[i]);
    for (int i = 0; i < pc->nblocks; i++)
        spcnn__gated_resnet_deinit(&pc->blocks[i]);
    for (int k = 0; k < 2; k++)
        spcnn__resample_deinit(&pc->grid_resample[k]);
    spcnn__free_aligned(pc->arena);
    spcnn__free(pc);
}

const float *spcnn__pixelcnn_final_ul(const spcnn__pixelcnn *pc)
{
    return pc->t[pc->final_ul];
}

spcnn__region spcnn__pixelcnn_final_region(const spcnn__pixelcnn *pc)
{
    return pc->tensor_region[pc->final_ul];
}

double spcnn__pixelcnn_macs(const spcnn__pixelcnn *pc, int with_head)
{
    double macs = spcnn__conv_macs(&pc->in_u) + spcnn__conv_macs(&pc->in_ula) +
                  spcnn__conv_macs(&pc->in_ulb);
    if (with_head && !pc->s.cone)
        macs += spcnn__conv_macs(&pc->head);
    for (int c = 0; c < pc->nconvs; c++)
        macs += spcnn__conv_macs(&pc->convs[c]);
    for (int b = 0; b < pc->nblocks; b++)
        macs += spcnn__gated_resnet_macs(&pc->blocks[b]);
    return macs;
}

void spcnn__pixelcnn_set_first_image(spcnn__pixelcnn *pc, size_t first)
{
    for (int b = 0; b < pc->nblocks; b++)
        pc->blocks[b].first_image = first;
}

/* ---- forward and backward --------------------------------------------------------------- */

static const float *value(const spcnn__params *params, const float *w, size_t row)
{
    return w + params->rows[row].offset;
}

size_t spcnn__pixelcnn_latent_table_floats(const spcnn__pixelcnn *pc)
{
    return (size_t)pc->nblocks * 2 * (size_t)pc->s.f;
}

spcnn_status spcnn__pixelcnn_latent_table(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                          const spcnn__params *params, const float *w,
                                          const float *z, float *table)
{
    SPCNN_CHECK_ARG(!pc->s.backward && pc->s.latent > 0,
                    "pixelcnn: a latent table needs a forward-only plan with a latent code");
    const size_t f2 = 2 * (size_t)pc->s.f;
    for (int b = 0; b < pc->nblocks; b++)
        SPCNN_TRY(spcnn__linear_forward_rows(&pc->blocks[b].z, ctx, z, 1,
                                             value(params, w, pc->block_rows[b]->z_w), NULL,
                                             table + (size_t)b * f2));
    return SPCNN_OK;
}

void spcnn__pixelcnn_set_latent_tables(spcnn__pixelcnn *pc, const float *const *tables)
{
    pc->latent_tables = tables;
}

static uint64_t block_key(uint64_t key, int op)
{
    return spcnn__key4(key, (uint64_t)op, 0x9d1ce5u, 0);
}

spcnn_status spcnn__pixelcnn_forward(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                     const spcnn__params *params, const float *w, const float *x,
                                     const float *grid, const float *z, float rate, uint64_t key,
                                     float *out)
{
    const spcnn__pixelcnn_shape *s = &pc->s;
    const spcnn__pixelcnn_rows *rows = &pc->rows;
    const size_t f = (size_t)s->f, p0 = pix(s, 0), m = (size_t)s->m, n = (size_t)s->n;

    for (size_t i = 0; i < p0; i++) { /* the pixel, and a ones channel (a shared workspace
                                          may have held another plan's data) */
        pc->xin[2 * i] = x[i];
        pc->xin[2 * i + 1] = 1.0f;
    }
    if (s->grid) {
        pc->grid[0] = grid;
        for (int k = 0; k < 2; k++) {
            if (s->grid == SPCNN__GRID_HALF_PIXEL)
                SPCNN_TRY(spcnn__resample_forward(&pc->grid_resample[k], ctx, grid,
                                                  pc->grid_small[k]));
            else
                spcnn__resample_endpoints_forward(grid, pc->grid_small[k], s->n, 2, s->m, s->m,
                                                  side(s, k + 1), side(s, k + 1));
            pc->grid[k + 1] = pc->grid_small[k];
        }
    }
    pc->z = z;
    /* Every block's latent projections: from the tables set for this forward, or from z. */
    for (int b = 0; b < pc->nblocks; b++)
        pc->blocks[b].hz_tables = s->backward ? NULL : pc->latent_tables;
    pc->latent_tables = NULL;

    /* Input layer: u0 = down_shift(conv2x3(x)), ul0 = down_shift(conv1x3(x)) +
     * right_shift(conv2x1(x)); the shifts make them strictly causal. */
    SPCNN_TRY(spcnn__conv_forward(&pc->in_u, ctx, pc->xin, value(params, w, rows->in_u_w),
                                  value(params, w, rows->in_u_b), pc->tmp_x));
    spcnn__down_shift_forward(pc->tmp_x, pc->t[pc->u0], n, m, m, f);
    SPCNN_TRY(spcnn__conv_forward(&pc->in_ula, ctx, pc->xin, value(params, w, rows->in_ula_w),
                                  value(params, w, rows->in_ula_b), pc->tmp_x));
    spcnn__down_shift_forward(pc->tmp_x, pc->t[pc->ul0], n, m, m, f);
    SPCNN_TRY(spcnn__conv_forward(&pc->in_ulb, ctx, pc->xin, value(params, w, rows->in_ulb_w),
                                  value(params, w, rows->in_ulb_b), pc->tmp_x));
    spcnn__right_shift_forward(pc->tmp_x, pc->tmp_y, n, m, m, f);
    spcnn__accumulate(pc->t[pc->ul0], pc->tmp_y, p0 * f);

    for (int o = 0; o < pc->nops; o++) {
        const pc_op *op = &pc->ops[o];
        const float *g = s->grid ? pc->grid[op->scale] : NULL;
        if (op->kind == OP_CONV) {
            SPCNN_TRY(spcnn__conv_forward(&pc->convs[op->layer], ctx, pc->t[op->x],
                                          value(params, w, pc->conv_w[op->layer]),
                                          value(params, w, pc->conv_b[op->layer]),
                                          pc->t[op->out]));
            continue;
        }
        const float *x_in = pc->t[op->x];
        const float *aux = op->a >= 0 ? pc->t[op->a] : NULL;
        float *cat = op->kind == OP_RESNET_UL ? pc->cat[op->layer / 2 - 3 * s->r] : NULL;
        const spcnn__gated_resnet_shape *bs = &pc->blocks[op->layer].s;
        if (bs->full > 0) {
            /* A cone block: its inputs cut to the regions it reads. */
            spcnn__region rx, ra, ro = {bs->top, bs->left, bs->h, bs->w};
            spcnn__gated_resnet_cone_inputs(bs, &rx, &ra);
            if (!region_equal(pc->tensor_region[op->x], rx)) {
                spcnn__crop_region(x_in, pc->tensor_region[op->x], f, pc->tmp_x, rx, f, n);
                x_in = pc->tmp_x;
            }
            if (cat) {
                spcnn__crop_region(aux, pc->tensor_region[op->a], f, cat, ra, 2 * f, n);
                spcnn__crop_region(pc->t[op->a2], pc->tensor_region[op->a2], f, cat + f, ra,
                                   2 * f, n);
                aux = cat;
            } else if (aux && !region_equal(pc->tensor_region[op->a], ra)) {
                spcnn__crop_region(aux, pc->tensor_region[op->a], f, pc->tmp_y, ra, f, n);
                aux = pc->tmp_y;
            }
            if (g) {
                spcnn__crop_region(g, whole(s, op->scale), 2, pc->grid_crop, ro, 2, n);
                g = pc->grid_crop;
            }
        } else if (cat) {
            spcnn__concat_forward(pc->t[op->a], pc->t[op->a2], cat, pix(s, op->scale), f, f);
            aux = cat;
        }
        SPCNN_TRY(spcnn__gated_resnet_forward(&pc->blocks[op->layer], ctx, params, w, x_in, aux,
                                              g, z, rate, block_key(key, o), pc->t[op->out]));
    }

    if (out == NULL) /* the sampler applies the head at one pixel per window itself */
        return SPCNN_OK;
    SPCNN_CHECK_ARG(!s->cone, "pixelcnn: a cone plan has no head");
    spcnn__elu_forward(pc->t[pc->final_ul], pc->head_in, p0 * f);
    return spcnn__conv_forward(&pc->head, ctx, pc->head_in, value(params, w, rows->head_w),
                               value(params, w, rows->head_b), out);
}

spcnn_status spcnn__pixelcnn_backward(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                      const spcnn__params *params, const float *dout,
                                      float rate, float *dz, float *dx)
{
    const spcnn__pixelcnn_shape *s = &pc->s;
    const spcnn__pixelcnn_rows *rows = &pc->rows;
    SPCNN_CHECK_ARG(s->backward, "pixelcnn: backward on a forward-only plan");
    const size_t f = (size_t)s->f, p0 = pix(s, 0), m = (size_t)s->m, n = (size_t)s->n;
    const size_t nz = (size_t)s->n * (size_t)s->latent;
    const float *w = params->buf[SPCNN__BUF_VALUE];

    for (int t = 0; t < pc->ntensors; t++)
        memset(pc->dt[t], 0, pix(s, pc->tensor_scale[t]) * f * sizeof(float));
    if (dz && nz)
        memset(dz, 0, nz * sizeof(float));

    /* Head: out = nin(elu(ul)). */
    SPCNN_TRY(spcnn__conv_backward(&pc->head, ctx, pc->head_in, value(params, w, rows->head_w),
                                   dout, pc->tmp_x, spcnn__params_grad(params, rows->head_w),
                                   spcnn__params_grad(params, rows->head_b)));
    spcnn__elu_backward(pc->head_in, pc->tmp_x, pc->tmp_x, p0 * f);
    spcnn__accumulate(pc->dt[pc->final_ul], pc->tmp_x, p0 * f);

    for (int o = pc->nops - 1; o >= 0; o--) {
        const pc_op *op = &pc->ops[o];
        const size_t count = pix(s, op->scale) * f;
        if (op->kind == OP_CONV) {
            /* The input of a stride-2 layer lives at the neighbouring scale. */
            size_t in_count = pix(s, pc->tensor_scale[op->x]) * f;
            SPCNN_TRY(spcnn__conv_backward(&pc->convs[op->layer], ctx, pc->t[op->x],
                                           value(params, w, pc->conv_w[op->layer]),
                                           pc->dt[op->out], pc->tmp_x,
                                           spcnn__params_grad(params, pc->conv_w[op->layer]),
                                           spcnn__params_grad(params, pc->conv_b[op->layer])));
            spcnn__accumulate(pc->dt[op->x], pc->tmp_x, in_count);
            continue;
        }
        const float *g = s->grid ? pc->grid[op->scale] : NULL;
        const float *aux = op->a >= 0 ? pc->t[op->a] : NULL;
        if (op->kind == OP_RESNET_UL)
            aux = pc->cat[op->layer / 2 - 3 * s->r];
        SPCNN_TRY(spcnn__gated_resnet_backward(&pc->blocks[op->layer], ctx, params, pc->t[op->x],
                                               aux, g, pc->z, pc->dt[op->out], rate, pc->tmp_x,
                                               op->a >= 0 ? pc->tmp_a : NULL,
                                               nz ? pc->dz_tmp : NULL, pc->work));
        spcnn__accumulate(pc->dt[op->x], pc->tmp_x, count);
        if (op->kind == OP_RESNET_UL) {
            spcnn__concat_backward(pc->tmp_a, pc->tmp_x, pc->tmp_y, pix(s, op->scale), f, f);
            spcnn__accumulate(pc->dt[op->a], pc->tmp_x, count);
            spcnn__accumulate(pc->dt[op->a2], pc->tmp_y, count);
        } else if (op->a >= 0) {
            spcnn__accumulate(pc->dt[op->a], pc->tmp_a, count);
        }
        if (dz && nz)
            spcnn__accumulate(dz, pc->dz_tmp, nz);
    }

    /* Input layer. The image's own gradient (dx) is wanted only by the causality test. */
    float *dxin = dx ? pc->tmp_a : NULL; /* [P × 2]: pixel and ones channels */
    spcnn__down_shift_backward(pc->dt[pc->u0], pc->tmp_x, n, m, m, f);
    SPCNN_TRY(spcnn__conv_backward(&pc->in_u, ctx, pc->xin, value(params, w, rows->in_u_w),
                                   pc->tmp_x, dxin, spcnn__params_grad(params, rows->in_u_w),
                                   spcnn__params_grad(params, rows->in_u_b)));
    if (dx)
        for (size_t i = 0; i < p0; i++)
            dx[i] = dxin[2 * i];
    spcnn__down_shift_backward(pc->dt[pc->ul0], pc->tmp_x, n, m, m, f);
    SPCNN_TRY(spcnn__conv_backward(&pc->in_ula, ctx, pc->xin, value(params, w, rows->in_ula_w),
                                   pc->tmp_x, dxin, spcnn__params_grad(params, rows->in_ula_w),
                                   spcnn__params_grad(params, rows->in_ula_b)));
    if (dx)
        for (size_t i = 0; i < p0; i++)
            dx[i] += dxin[2 * i];
    spcnn__right_shift_backward(pc->dt[pc->ul0], pc->tmp_x, n, m, m, f);
    SPCNN_TRY(spcnn__conv_backward(&pc->in_ulb, ctx, pc->xin, value(params, w, rows->in_ulb_w),
                                   pc->tmp_x, dxin, spcnn__params_grad(params, rows->in_ulb_w),
                                   spcnn__params_grad(params, rows->in_ulb_b)));
    if (dx)
        for (size_t i = 0; i < p0; i++)
            dx[i] += dxin[2 * i];
    return SPCNN_OK;
}
