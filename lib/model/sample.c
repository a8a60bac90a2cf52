/* Generation at any resolution (DESIGN.md §3): pixel (r, c) is drawn from the window at
 * (max(0, r-m+1), max(0, c-m+1)), at its local position, from random numbers keyed by
 * (seed, image, r, c).
 *
 * Two schedules give the same bytes. Raster: one window per pixel, image after image, through
 * the whole network — the oracle. Wavefront: pixel (r, c) depends only on pixels with a smaller
 * m·r + c, so every pixel with the same m·r + c, over all images, goes through batched forward
 * passes, one kind of plan at a time: a pixel at its window's bottom-right corner (r, c >= m-1)
 * or in the top or left band (r or c < m-1, the other >= m-1) goes through a cone plan, which
 * computes only what that pixel of the window depends on (pixelcnn.h); the (m-1)×(m-1) pixels
 * at the image's top-left, each at its own place of the same window, go through the whole
 * network. Both apply the head at the one pixel wanted. Forward passes are independent of their batch size and slot, and a
 * cone plan's values are the whole network's (tests check the bytes), which is what makes the
 * schedules interchangeable.
 *
 * Pixels live in a ring of rows per image: a window reaches m-1 rows up and the wavefront spans
 * about width/m rows, so ring_rows = (width-1)/m + m + 2 rows suffice; a row leaves through the
 * sink as soon as its last pixel is drawn. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "model/model.h"
#include "nn/mixture.h"
#include "nn/rng.h"

struct spcnn__sample_plan {
    size_t windows;
    spcnn__pixelcnn *pc;
    float *x, *grid, *z; /* [windows × m × m], [windows × m × m × 2], [windows × L]: the
                            bucket's, in its workspace */
    const float **tables; /* [windows]: each window's image's latent table, when the
                             generation made them */
};

typedef struct pixel_job {
    size_t image, r, c;
    size_t kind; /* the plan that draws it (pixel_kind) */
} pixel_job;

typedef struct generation {
    spcnn_model *m;
    size_t n, h, w;
    uint64_t seed;
    float temperature;
    const float *z;    /* n × L */
    /* n × table_floats: each image's latent table (spcnn__pixelcnn_latent_table), every
     * block's projection of its z made once rather than for every window; NULL when the model
     * has no latent code or the tables would take more than LATENT_TABLES_MAX_BYTES. */
    float *tables;
    size_t table_floats;
    uint8_t *ring;     /* n × ring_rows × w */
    size_t ring_rows;
    spcnn_row_fn sink;
    void *user;
    size_t done, total; /* pixels, for progress */
    double reported;
    size_t first; /* image i of the call is image first + i of the seed's sequence */
} generation;

static void sample_plan_destroy(spcnn__sample_plan *sp)
{
    if (sp == NULL)
        return;
    spcnn__pixelcnn_destroy(sp->pc);
    spcnn__free(sp->tables);
    spcnn__free(sp);
}

/* Plan kinds: 0 is the whole network; kinds 1 .. 2m-1 are cone plans at a pixel of the
 * window's last column (rows 0 .. m-1: the top band's, then the bottom-right corner, kind m) or
 * of its last row (columns 0 .. m-2: the left band's). The image's top-left (m-1)×(m-1) pixels
 * (each at its own place in the same window, and each drawn once per image) take the whole
 * network: cone plans there would cost a plan per pixel for 49 pixels of an image. */
static size_t kind_count(const spcnn_model *m)
{
    return 2 * (size_t)m->m;
}

static size_t pixel_kind(size_t ms, size_t r, size_t c)
{
    const size_t lr = r < ms - 1 ? r : ms - 1, lc = c < ms - 1 ? c : ms - 1;
    if (lc == ms - 1)
        return 1 + lr;
    return lr == ms - 1 ? 1 + ms + lc : 0;
}

/* Images a call needs before the band pixels take their cone plans. A step holds one pixel of
 * each band position per image, and every position costs a pass and plans of its own: with few
 * images the passes' fixed work can outweigh the arithmetic saved (a band window costs about
 * 0.66 of a whole one), and then a step's band pixels go through the whole network together, in
 * one pass. Measured (Intel Xeon with AMX, 28×28, 1 to 8 images, 1 and 2 threads): with 4
 * images the cones save 9 % in fp32 and 0 to 6 % in bf16; with 1 or 2, bf16 loses up to 20 %
 * and fp32 gains up to 13 % on two threads, but building 14 more plan kinds per worker for
 * small calls made the allocation-failure tests 7.5 times slower and costs memory
 * (docs/benchmarks.md, "Cone plans for the bands"). */
enum { BAND_CONE_IMAGES = 4 };

static spcnn__pixelcnn_shape kind_shape(const spcnn_model *m, size_t kind, size_t windows)
{
    const int ms = m->m, k = (int)kind;
    spcnn__pixelcnn_shape ps = {(int)windows, ms, m->f, m->r, m->k,
                                m->use_latent ? m->latent : 0, m->grid_mode, 0, kind > 0, m->bf16,
                                k <= ms ? k - 1 : ms - 1, k <= ms ? ms - 1 : k - 1 - ms,
                                1};
    return ps;
}

static void plans_destroy(const spcnn_model *m, spcnn__sample_plans *plans)
{
    if (plans->plan)
        for (size_t i = 0; i < kind_count(m) * SPCNN__SAMPLE_BUCKETS; i++)
            sample_plan_destroy(plans->plan[i]);
    spcnn__free(plans->plan);
    plans->plan = NULL;
    for (int b = 0; b < SPCNN__SAMPLE_BUCKETS; b++) {
        spcnn__free_aligned(plans->workspace[b]);
        plans->workspace[b] = NULL;
    }
}

void spcnn__sample_plans_destroy(spcnn_model *model)
{
    plans_destroy(model, &model->sample);
    if (model->workers == NULL)
        return;
    for (int t = 0; t < model->threads; t++) {
        plans_destroy(model, &model->workers[t].plans);
        spcnn__dnnl_deinit(&model->workers[t].ctx);
    }
    spcnn__free(model->workers);
    model->workers = NULL;
}

/* Floats of a bucket's inputs (x, grid, z), each rounded up to whole cache lines. */
static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static size_t inputs_floats(const spcnn_model *m, size_t windows)
{
    const size_t mm = (size_t)m->m * (size_t)m->m;
    return round16(windows * mm) + round16(windows * mm * 2) +
           round16(windows * (size_t)m->latent);
}

/* The workspace of a bucket's plans on one context, in one allocation: the windows' inputs,
 * then the activations, as large as the largest kind needs (plans on one context run one at a
 * time, and nothing in them outlives a pass). */
static spcnn_status workspace_get(const spcnn_model *m, spcnn__sample_plans *plans, int b)
{
    if (plans->workspace[b])
        return SPCNN_OK;
    const size_t windows = (size_t)1 << b;
    spcnn__pixelcnn_shape shapes[2 * 256];
    for (size_t kind = 0; kind < kind_count(m); kind++)
        shapes[kind] = kind_shape(m, kind, windows);
    size_t floats;
    SPCNN_TRY(spcnn__pixelcnn_workspace_floats(shapes, kind_count(m), &floats));
    floats += inputs_floats(m, windows);
    plans->workspace[b] = spcnn__malloc_aligned(floats * sizeof(float));
    if (plans->workspace[b] == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "sampling plan: out of memory for %zu MB of activations",
                            floats * sizeof(float) >> 20);
    return SPCNN_OK;
}

/* The plan of a kind for the smallest bucket holding `count` windows
 * (count <= SPCNN__SAMPLE_MAX_WINDOWS), from a set built on ctx. */
static spcnn_status sample_plan_get(spcnn_model *m, spcnn__dnnl *ctx, spcnn__sample_plans *plans,
                                    size_t kind, size_t count, spcnn__sample_plan **out)
{
    int b = 0;
    while (((size_t)1 << b) < count)
        b++;
    if (plans->plan == NULL) {
        plans->plan = spcnn__calloc(kind_count(m) * SPCNN__SAMPLE_BUCKETS, sizeof *plans->plan);
        if (plans->plan == NULL)
            return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "sampling plan: out of memory");
    }
    spcnn__sample_plan **slot = &plans->plan[kind * SPCNN__SAMPLE_BUCKETS + (size_t)b];
    if (*slot) {
        *out = *slot;
        return SPCNN_OK;
    }
    SPCNN_TRY(workspace_get(m, plans, b));
    const size_t windows = (size_t)1 << b, mm = (size_t)m->m * (size_t)m->m;
    spcnn__sample_plan *sp = spcnn__calloc(1, sizeof *sp);
    if (sp == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "sampling plan: out of memory");
    sp->windows = windows;
    sp->x = plans->workspace[b];
    sp->grid = sp->x + round16(windows * mm);
    sp->z = sp->grid + round16(windows * mm * 2);
    sp->tables = spcnn__calloc(windows, sizeof *sp->tables);
    spcnn__pixelcnn_shape ps = kind_shape(m, kind, windows);
    spcnn_status st = sp->tables == NULL
                          ? spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "sampling plan: out of memory")
                          : spcnn__pixelcnn_create_in(ctx, &ps, &m->pc_rows,
                                                      sp->x + inputs_floats(m, windows), &sp->pc);
    if (st != SPCNN_OK) {
        sample_plan_destroy(sp);
        return st;
    }
    *slot = *out = sp;
    return SPCNN_OK;
}

/* Coordinate of row (or column) i of an n-long side of the grid over [-1, 1]. */
static float grid_coord(size_t i, size_t n)
{
    return n > 1 ? (float)(-1.0 + 2.0 * (double)i / (double)(n - 1)) : 0.0f;
}

/* One window's input: its pixels, read from rows[r][col0 + c], and its crop at (top, left) of
 * the h×w coordinate grid. */
static void fill_window(const spcnn_model *m, const uint8_t *const *rows, size_t col0,
                        size_t top, size_t left, size_t h, size_t w, float *x, float *grid)
{
    const size_t ms = (size_t)m->m;
    for (size_t r = 0; r < ms; r++) {
        float gy = grid_coord(top + r, h);
        for (size_t c = 0; c < ms; c++) {
            size_t i = r * ms + c;
            x[i] = (float)rows[r][col0 + c] / 127.5f - 1.0f;
            grid[2 * i] = gy;
            grid[2 * i + 1] = grid_coord(left + c, w);
        }
    }
}

/* The head at one pixel: params = b + W · elu(ul), in a fixed order (no batch dependence). */
static uint8_t draw_pixel(const spcnn_model *m, const float *ul, float temperature,
                          uint64_t key)
{
    const float *ema = m->params.buf[SPCNN__BUF_EMA];
    const float *hw = ema + m->params.rows[m->pc_rows.head_w].offset;
    const float *hb = ema + m->params.rows[m->pc_rows.head_b].offset;
    const size_t f = (size_t)m->f, k3 = 3 * (size_t)m->k;
    float act[1024], params[3 * SPCNN__MIX_MAX_K];
    for (size_t i = 0; i < f; i++)
        act[i] = ul[i] > 0 ? ul[i] : expm1f(ul[i]);
    for (size_t o = 0; o < k3; o++) {
        float acc = hb[o];
        for (size_t i = 0; i < f; i++)
            acc += hw[o * f + i] * act[i];
        params[o] = acc;
    }
    spcnn__rng rng = spcnn__rng_make(key);
    float u_comp = spcnn__rng_uniform(&rng);
    float u_logistic = spcnn__rng_uniform_open(&rng);
    return spcnn__mixture_sample(params, (size_t)m->k, temperature, u_comp, u_logistic);
}

static uint64_t pixel_key(uint64_t seed, size_t image, size_t r, size_t c)
{
    return spcnn__key4(seed, image, r, c);
}

static uint8_t *ring_row(const generation *g, size_t image, size_t r)
{
    return g->ring + (image * g->ring_rows + r % g->ring_rows) * g->w;
}

static spcnn_status report_progress(generation *g)
{
    spcnn_model *m = g->m;
    if (m->progress == NULL)
        return SPCNN_OK;
    double frac = (double)g->done / (double)g->total;
    if (frac < 1.0 && frac - g->reported < 0.01)
        return SPCNN_OK;
    g->reported = frac;
    if (m->progress(frac, m->progress_user) != 0)
        return spcnn__error(SPCNN_ERR_CANCELLED, "generation cancelled by the progress callback");
    return SPCNN_OK;
}

/* Windows of a forward pass: a pass costs about as much fixed work as half a window (measured,
 * docs/benchmarks.md), so a remainder is padded up to the next bucket only when that wastes
 * less than the extra passes would cost; otherwise it goes in passes of its binary digits. */
static size_t pass_windows(size_t remaining)
{
    if (remaining >= SPCNN__SAMPLE_MAX_WINDOWS)
        return SPCNN__SAMPLE_MAX_WINDOWS;
    size_t up = 1, down, passes = 0;
    while (up < remaining)
        up <<= 1;
    down = up == remaining ? up : up >> 1;
    for (size_t r = remaining; r; r &= r - 1)
        passes++;
    return 2 * (up - remaining) < passes - 1 ? up : down;
}

/* Evaluate the windows of jobs[0, count), all of one kind, on ctx and write their pixels into
 * the ring. */
static spcnn_status draw_pixels(const generation *g, spcnn__dnnl *ctx,
                                spcnn__sample_plans *plans, const pixel_job *jobs, size_t count,
                                size_t kind)
{
    spcnn_model *m = g->m;
    const size_t ms = (size_t)m->m, mm = ms * ms, f = (size_t)m->f, l = (size_t)m->latent;
    const float *ema = m->params.buf[SPCNN__BUF_EMA];
    for (size_t first = 0; first < count;) {
        size_t chunk = count - first, pass = pass_windows(chunk);
        chunk = chunk < pass ? chunk : pass;
        spcnn__sample_plan *sp;
        SPCNN_TRY(sample_plan_get(m, ctx, plans, kind, pass, &sp));
        for (size_t j = 0; j < sp->windows; j++) {
            const pixel_job *job = &jobs[first + (j < chunk ? j : 0)]; /* pad with a real one */
            size_t top = job->r + 1 > ms ? job->r + 1 - ms : 0;
            size_t left = job->c + 1 > ms ? job->c + 1 - ms : 0;
            const uint8_t *rows[256];
            for (size_t r = 0; r < ms; r++)
                rows[r] = ring_row(g, job->image, top + r);
            fill_window(m, rows, left, top, left, g->h, g->w, sp->x + j * mm,
                        sp->grid + j * mm * 2);
            if (g->tables) /* the blocks read the table, not z */
                sp->tables[j] = g->tables + job->image * g->table_floats;
            else if (m->use_latent)
                memcpy(sp->z + j * l, g->z + job->image * l, l * sizeof(float));
        }
        if (g->tables)
            spcnn__pixelcnn_set_latent_tables(sp->pc, sp->tables);
        SPCNN_TRY(spcnn__pixelcnn_forward(sp->pc, ctx, &m->params, ema, sp->x, sp->grid,
                                          m->use_latent ? sp->z : NULL, 0.0f, 0, NULL));
        /* The final ul holds each window's region fr: the whole window, or the one pixel. */
        const float *ul = spcnn__pixelcnn_final_ul(sp->pc);
        const spcnn__region fr = spcnn__pixelcnn_final_region(sp->pc);
        for (size_t j = 0; j < chunk; j++) {
            const pixel_job *job = &jobs[first + j];
            size_t lr = job->r < ms - 1 ? job->r : ms - 1, lc = job->c < ms - 1 ? job->c : ms - 1;
            ring_row(g, job->image, job->r)[job->c] =
                draw_pixel(m, ul + ((j * (size_t)fr.h + lr - (size_t)fr.top) * (size_t)fr.w + lc -
                                    (size_t)fr.left) * f,
                           g->temperature, pixel_key(g->seed, g->first + job->image, job->r, job->c));
        }
        first += chunk;
    }
    return SPCNN_OK;
}

/* A worker's context: on the model's engine, so that the workers share their primitives;
 * made by the worker's own thread (which sets that thread's OpenMP count to one); with the
 * model's test setting and weights version, so that layers caching reordered weights see every
 * optimiser step. */
static spcnn_status worker_ready(const spcnn_model *m, spcnn__sample_worker *w)
{
    if (w->ctx.engine == NULL)
        SPCNN_TRY(spcnn__dnnl_init_on(&w->ctx, 1, &m->ctx));
    spcnn__dnnl_enter(&w->ctx);
    w->ctx.forbid_reference_impl = m->ctx.forbid_reference_impl;
    w->ctx.weights_version = m->ctx.weights_version;
    return SPCNN_OK;
}

/* Relative cost of a window through the whole network (17.2 M multiply-adds) and through a
 * cone plan (11.6 M for the corner, less in the bands), for sharing a step's windows fairly
 * among the workers. */
static size_t job_cost(const pixel_job *job)
{
    return job->kind == 0 ? 3 : 2;
}

/* The first job of worker t of nt when jobs [0, count) are cut into nt slices of about equal
 * cost. */
static size_t slice_start(const pixel_job *jobs, size_t count, size_t t, size_t nt)
{
    size_t total = 0, at = 0, i = 0;
    for (size_t j = 0; j < count; j++)
        total += job_cost(&jobs[j]);
    const size_t target = total * t / nt;
    while (i < count && at < target)
        at += job_cost(&jobs[i++]);
    return i;
}

/* Jobs [lo, hi) of a step on one context, each run of one kind in its own passes. */
static spcnn_status draw_slice(const generation *g, spcnn__dnnl *ctx, spcnn__sample_plans *plans,
                               const pixel_job *jobs, size_t lo, size_t hi)
{
    for (size_t i = lo, j; i < hi; i = j) {
        for (j = i + 1; j < hi && jobs[j].kind == jobs[i].kind; j++)
            ;
        SPCNN_TRY(draw_pixels(g, ctx, plans, jobs + i, j - i, jobs[i].kind));
    }
    return SPCNN_OK;
}

/* The windows of jobs[0, count) split over the model's workers, one thread each, in slices of
 * equal cost: one parallel region a step, windows of every kind together. A caller
 * already inside a parallel region gets a team of one, which then does all the work. */
static spcnn_status draw_pixels_parallel(const generation *g, const pixel_job *jobs,
                                         size_t count)
{
    spcnn_model *m = g->m;
    if (m->workers == NULL) {
        m->workers = spcnn__calloc((size_t)m->threads, sizeof *m->workers);
        if (m->workers == NULL)
            return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "generate: out of memory for workers");
    }
    const int team = count < (size_t)m->threads ? (int)count : m->threads;
    if (team == 1) { /* one window: worker 0 in this thread, no parallel region */
        spcnn__sample_worker *w = &m->workers[0];
        spcnn_status st = worker_ready(m, w);
        if (st == SPCNN_OK)
            st = draw_slice(g, &w->ctx, &w->plans, jobs, 0, count);
        spcnn__dnnl_enter(&m->ctx);
        return st;
    }
    int ran = 0;
#pragma omp parallel num_threads(team)
    {
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        spcnn__sample_worker *w = &m->workers[t];
        const size_t lo = slice_start(jobs, count, t, nt);
        const size_t hi = slice_start(jobs, count, t + 1, nt);
        w->status = worker_ready(m, w);
        if (w->status == SPCNN_OK)
            w->status = draw_slice(g, &w->ctx, &w->plans, jobs, lo, hi);
        if (w->status != SPCNN_OK)
            snprintf(w->message, sizeof w->message, "%s", spcnn_last_error_message());
        if (t == 0)
            ran = (int)nt;
    }
    spcnn__dnnl_enter(&m->ctx); /* the workers set their threads' OpenMP count to one */
    for (int t = 0; t < ran; t++)
        if (m->workers[t].status != SPCNN_OK)
            return spcnn__error(m->workers[t].status, "%s", m->workers[t].message);
    return SPCNN_OK;
}

/* Draw pixels that do not depend on each other, jobs of one kind next to each other; rows
 * whose last pixel was drawn go to the sink, in job order. */
static spcnn_status draw_group(generation *g, const pixel_job *jobs, size_t count)
{
    if (count == 0)
        return SPCNN_OK;
    spcnn_model *m = g->m;
    SPCNN_TRY(m->threads > 1 ? draw_pixels_parallel(g, jobs, count)
                             : draw_slice(g, &m->ctx, &m->sample, jobs, 0, count));
    for (size_t j = 0; j < count; j++) {
        const pixel_job *job = &jobs[j];
        if (job->c == g->w - 1 && g->sink &&
            g->sink(ring_row(g, job->image, job->r), job->image, job->r, g->w, g->user))
            return spcnn__error(SPCNN_ERR_CANCELLED, "generation cancelled by the row sink");
    }
    g->done += count;
    return report_progress(g);
}

static spcnn_status run_raster(generation *g)
{
    for (size_t i = 0; i < g->n; i++)
        for (size_t r = 0; r < g->h; r++)
            for (size_t c = 0; c < g->w; c++) {
                pixel_job job = {i, r, c, 0}; /* the oracle: the whole network */
                SPCNN_TRY(draw_group(g, &job, 1));
            }
    return SPCNN_OK;
}

static spcnn_status run_wavefront(generation *g, pixel_job *jobs)
{
    const size_t ms = (size_t)g->m->m, steps = ms * (g->h - 1) + g->w, kinds = kind_count(g->m);
    const int band_cones = g->n >= BAND_CONE_IMAGES;
    for (size_t t = 0; t < steps; t++) {
        size_t r_lo = t + 1 > g->w ? (t + 1 - g->w + ms - 1) / ms : 0;
        size_t r_hi = t / ms < g->h - 1 ? t / ms : g->h - 1;
        /* Kind by kind, within each image by image, so rows reach the sink in order (a row is
         * finished by the last column's pixel, and a step finishes at most one row of each
         * image, all of the same kind). */
        size_t count = 0;
        for (size_t kind = 0; kind < kinds; kind++)
            for (size_t i = 0; i < g->n; i++)
                for (size_t r = r_lo; r <= r_hi; r++) {
                    pixel_job job = {i, r, t - ms * r, pixel_kind(ms, r, t - ms * r)};
                    if (!band_cones && job.kind != ms) /* not the corner: to the network */
                        job.kind = 0;
                    if (job.kind == kind)
                        jobs[count++] = job;
                }
        SPCNN_TRY(draw_group(g, jobs, count));
    }
    return SPCNN_OK;
}

/* Checks shared by the generation entry points. */
static spcnn_status check_generation(const spcnn_model *m, const char *what, size_t n,
                                     size_t h, size_t w)
{
    SPCNN_CHECK_ARG(m != NULL, "%s: model is NULL", what);
    SPCNN_CHECK_ARG(n >= 1 && n <= 1000000, "%s: n = %zu images is out of range [1, 1000000]",
                    what, n);
    SPCNN_CHECK_ARG(h >= (size_t)m->m && w >= (size_t)m->m,
                    "%s: %zux%zu is smaller than the %dx%d window", what, h, w, m->m, m->m);
    SPCNN_CHECK_ARG(h <= 1000000 && w <= 1000000, "%s: %zux%zu is too large (at most 1000000 "
                    "per side)", what, h, w);
    return SPCNN_OK;
}

/* z for every image: copied from the caller, or drawn from the model's prior (N(0, I) or its
 * fitted mixture) keyed by (seed, image). */
static spcnn_status make_latents(const spcnn_model *m, size_t first, size_t n, const float *z,
                                 uint64_t seed, float **out)
{
    *out = NULL;
    if (!m->use_latent)
        return SPCNN_OK;
    const size_t l = (size_t)m->latent;
    float *buf = spcnn__malloc(n * l * sizeof(float));
    if (buf == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "generation: out of memory for z");
    if (z)
        memcpy(buf, z, n * l * sizeof(float));
    else
        spcnn__model_draw_latents(m, 0, first, n, seed, buf);
    for (size_t i = 0; i < n * l; i++)
        if (!isfinite(buf[i])) {
            spcnn__free(buf);
            return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "generation: z[%zu] is not finite",
                                i);
        }
    *out = buf;
    return SPCNN_OK;
}

spcnn_status spcnn__model_sample_macs(spcnn_model *model, size_t images, size_t height,
                                      size_t width, double *macs)
{
    SPCNN_TRY(check_generation(model, "sample macs", images, height, width));
    SPCNN_CHECK_ARG(macs != NULL, "sample macs: macs is NULL");
    spcnn_model *m = model;
    spcnn__dnnl_enter(&m->ctx);
    /* Pixels per kind: the top-left (m-1)² (h, w >= m), one row of the top band's or one
     * column of the left band's for each of their kinds, the rest at the bottom-right corner;
     * the bands' go to the whole network when the call has too few images. */
    const size_t ms = (size_t)m->m, rows = height - ms + 1, cols = width - ms + 1;
    const int band_cones = images >= BAND_CONE_IMAGES;
    double per_window[2 * 256], total = 0;
    for (size_t kind = 0; kind < kind_count(m); kind++) {
        spcnn__sample_plan *sp;
        SPCNN_TRY(sample_plan_get(m, &m->ctx, &m->sample, kind, 1, &sp));
        per_window[kind] = spcnn__pixelcnn_macs(sp->pc, 0) / (double)sp->windows;
    }
    for (size_t kind = 0; kind < kind_count(m); kind++) {
        const double pixels = kind == 0    ? (double)(ms - 1) * (double)(ms - 1)
                              : kind < ms  ? (double)cols
                              : kind == ms ? (double)rows * (double)cols
                                           : (double)rows;
        total += pixels * per_window[band_cones || kind == ms ? kind : 0];
    }
    const double head = (double)m->f * 3.0 * (double)m->k; /* nin F -> 3K at one pixel */
    *macs = total + (double)height * (double)width * head;
    return SPCNN_OK;
}

/* The largest latent tables a generation makes (about 6 KB an image for the default
 * network): beyond, every window projects its z again, as without tables. */
#define LATENT_TABLES_MAX_BYTES ((size_t)64 << 20)

/* Each image's latent table, made with a plan of the model's context: every block's projection
 * of the image's z, once for the whole generation instead of once per window and block (8 %
 * of a batch of 28x28 digits in bf16 went to those projections). Leaves g->tables NULL where
 * there is nothing to gain or the tables would be too large; the images are the same bytes
 * either way. */
static spcnn_status make_latent_tables(generation *g)
{
    spcnn_model *m = g->m;
    if (!m->use_latent || g->n < 1)
        return SPCNN_OK;
    spcnn__sample_plan *sp;
    SPCNN_TRY(sample_plan_get(m, &m->ctx, &m->sample, 0, 1, &sp));
    const size_t floats = spcnn__pixelcnn_latent_table_floats(sp->pc);
    if (floats == 0 || g->n > LATENT_TABLES_MAX_BYTES / sizeof(float) / floats)
        return SPCNN_OK;
    g->tables = spcnn__malloc(g->n * floats * sizeof(float));
    if (g->tables == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "generate: out of memory for the latent tables");
    g->table_floats = floats;
    const float *ema = m->params.buf[SPCNN__BUF_EMA];
    for (size_t i = 0; i < g->n; i++)
        SPCNN_TRY(spcnn__pixelcnn_latent_table(sp->pc, &m->ctx, &m->params, ema,
                                               g->z + i * (size_t)m->latent,
                                               g->tables + i * floats));
    return SPCNN_OK;
}

/* Images first .. first + n - 1 of the seed's sequence, row by row to sink (as image 0 ..
 * n - 1): spcnn_model_generate_stream with first 0, spcnn_model_generate_range. */
static spcnn_status generate_stream_at(spcnn_model *model, size_t first, size_t n,
                                       const float *z, size_t height, size_t width,
                                       uint64_t seed, spcnn_row_fn sink, void *user)
{
    SPCNN_TRY(check_generation(model, "generate", n, height, width));
    SPCNN_CHECK_ARG(sink != NULL, "generate: sink is NULL");
    SPCNN_CHECK_ARG(first <= SIZE_MAX - n, "generate: images %zu and after are out of range",
                    first);
    spcnn_model *m = model;
    spcnn__dnnl_enter(&m->ctx);
    const size_t ms = (size_t)m->m;
    generation g = {.m = m,
                    .n = n,
                    .h = height,
                    .w = width,
                    .seed = seed,
                    .temperature = (float)spcnn__config_value(&m->cfg, SPCNN_CFG_TEMPERATURE),
                    .ring_rows = (width - 1) / ms + ms + 2,
                    .sink = sink,
                    .user = user,
                    .total = n * height * width,
                    .first = first};
    if (g.ring_rows > height)
        g.ring_rows = height;
    /* Jobs of one wavefront step: at most n × (rows in flight). */
    size_t max_jobs = n * ((width - 1) / ms + 2);
    SPCNN_CHECK_ARG(n <= SIZE_MAX / g.ring_rows / width && max_jobs <= SIZE_MAX / sizeof(pixel_job),
                    "generate: %zu images of %zux%zu are too large", n, height, width);
    float *zbuf = NULL;
    pixel_job *jobs = NULL;
    spcnn_status st;
    SPCNN_TRY_GOTO(st, make_latents(m, first, n, z, seed, &zbuf));
    g.z = zbuf;
    SPCNN_TRY_GOTO(st, make_latent_tables(&g));
    g.ring = spcnn__calloc(n * g.ring_rows, width);
    jobs = spcnn__malloc(max_jobs * sizeof *jobs);
    if (g.ring == NULL || jobs == NULL) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "generate: out of memory for the row band");
        goto fail;
    }
    st = spcnn__config_int(&m->cfg, SPCNN_CFG_SCHEDULE) == 0 ? run_raster(&g)
                                                             : run_wavefront(&g, jobs);
fail:
    spcnn__free(jobs);
    spcnn__free(g.ring);
    spcnn__free(g.tables);
    spcnn__free(zbuf);
    return st;
}

spcnn_status spcnn_model_generate_stream(spcnn_model *model, size_t n, const float *z,
                                         size_t height, size_t width, uint64_t seed,
                                         spcnn_row_fn sink, void *user)
{
    return generate_stream_at(model, 0, n, z, height, width, seed, sink, user);
}

typedef struct buffer_sink {
    uint8_t *pixels;
    size_t h;
} buffer_sink;

static int copy_row(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    buffer_sink *b = user;
    memcpy(b->pixels + (image * b->h + y) * width, row, width);
    return 0;
}

spcnn_status spcnn_model_generate_images(spcnn_model *model, size_t n, const float *z,
                                         size_t height, size_t width, uint64_t seed,
                                         uint8_t *pixels, size_t capacity)
{
    return spcnn_model_generate_range(model, 0, n, z, height, width, seed, pixels, capacity);
}

spcnn_status spcnn_model_generate_range(spcnn_model *model, size_t first, size_t n,
                                        const float *z, size_t height, size_t width,
                                        uint64_t seed, uint8_t *pixels, size_t capacity)
{
    SPCNN_TRY(check_generation(model, "generate", n, height, width));
    SPCNN_CHECK_ARG(pixels != NULL, "generate: pixels is NULL");
    if (height > SIZE_MAX / width || n > SIZE_MAX / (height * width) ||
        capacity < n * height * width)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "generate: %zu images of %zux%zu need more than the %zu bytes given",
                            n, height, width, capacity);
    buffer_sink b = {pixels, height};
    return generate_stream_at(model, first, n, z, height, width, seed, copy_row, &b);
}

spcnn_status spcnn_model_generate_image(spcnn_model *model, const float *z, size_t height,
                                        size_t width, uint64_t seed, uint8_t *pixels,
                                        size_t capacity)
{
    return spcnn_model_generate_images(model, 1, z, height, width, seed, pixels, capacity);
}

spcnn_status spcnn_model_sample_patch(spcnn_model *model, const float *z, size_t grid_height,
                                      size_t grid_width, size_t top, size_t left, uint64_t seed,
                                      uint8_t *patch, size_t capacity)
{
    SPCNN_TRY(check_generation(model, "sample patch", 1, grid_height, grid_width));
    SPCNN_CHECK_ARG(patch != NULL, "sample patch: patch is NULL");
    spcnn_model *m = model;
    const size_t ms = (size_t)m->m, mm = ms * ms, f = (size_t)m->f;
    SPCNN_CHECK_ARG(top <= grid_height - ms && left <= grid_width - ms,
                    "sample patch: the %zux%zu patch at (%zu, %zu) leaves the %zux%zu grid", ms,
                    ms, top, left, grid_height, grid_width);
    if (capacity < mm)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "sample patch: patch holds %zu bytes, %zu are needed", capacity, mm);
    spcnn__dnnl_enter(&m->ctx);
    float *zbuf = NULL;
    SPCNN_TRY(make_latents(m, 0, 1, z, seed, &zbuf));
    spcnn__sample_plan *sp;
    spcnn_status st = sample_plan_get(m, &m->ctx, &m->sample, 0, 1, &sp);
    uint8_t window[256 * 256];
    memset(window, 0, mm);
    const uint8_t *rows[256];
    for (size_t r = 0; r < ms; r++)
        rows[r] = window + r * ms;
    if (st == SPCNN_OK && m->use_latent)
        memcpy(sp->z, zbuf, (size_t)m->latent * sizeof(float));
    const float temperature = (float)spcnn__config_value(&m->cfg, SPCNN_CFG_TEMPERATURE);
    for (size_t i = 0; i < mm && st == SPCNN_OK; i++) {
        fill_window(m, rows, 0, top, left, grid_height, grid_width, sp->x, sp->grid);
        st = spcnn__pixelcnn_forward(sp->pc, &m->ctx, &m->params, m->params.buf[SPCNN__BUF_EMA],
                                     sp->x, sp->grid, m->use_latent ? sp->z : NULL, 0.0f, 0,
                                     NULL);
        if (st != SPCNN_OK)
            break;
        window[i] = draw_pixel(m, spcnn__pixelcnn_final_ul(sp->pc) + i * f, temperature,
                               pixel_key(seed, 0, top + i / ms, left + i % ms));
    }
    spcnn__free(zbuf);
    if (st == SPCNN_OK)
        memcpy(patch, window, mm);
    return st;
}

spcnn_status spcnn_model_reconstruct(spcnn_model *model, const uint8_t *image, size_t in_height,
                                     size_t in_width, size_t out_height, size_t out_width,
                                     uint64_t seed, uint8_t *out, size_t capacity)
{
    SPCNN_TRY(check_generation(model, "reconstruct", 1, out_height, out_width));
    SPCNN_CHECK_ARG(image != NULL && out != NULL, "reconstruct: NULL argument");
    SPCNN_CHECK_ARG(in_height >= 1 && in_width >= 1 && in_height <= 1000000 &&
                        in_width <= 1000000,
                    "reconstruct: invalid input size %zux%zu", in_height, in_width);
    if (!model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED,
                            "reconstruct: the model has no latent code (use_latent = 0)");
    /* The output buffer is checked before the encoder runs (generate_images checks it too). */
    if (out_width > SIZE_MAX / out_height || capacity < out_height * out_width)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "reconstruct: %zux%zu needs more than the %zu bytes given",
                            out_height, out_width, capacity);
    float z[1024];
    spcnn__dnnl_enter(&model->ctx);
    SPCNN_TRY(spcnn__model_encode_mean(model, image, in_height, in_width, z));
    return spcnn_model_generate_images(model, 1, z, out_height, out_width, seed, out, capacity);
}
