/* Allocation failure injected at every site of every model call (docs/testing.md, "Misuse and
 * allocation failure"). All of the library's allocations go through lib/core/alloc.h, whose
 * test hooks make the allocation after k successful ones fail: spcnn__alloc_fail_after(k) with
 * every allocation after it failing too, spcnn__alloc_fail_once_after(k) with that one alone.
 * For each call the test first runs it on a model in its starting state to count the
 * allocations it makes (its sites); then, for every k below that count, it builds the same
 * starting state again, runs the call with allocation k failing and checks that
 *   - it returns SPCNN_ERR_OUT_OF_MEMORY with a message that says so (a handle out-parameter
 *     NULL),
 *   - the same call on the same handle then succeeds and gives exactly the result of a model
 *     that never failed (the same bits of the parameters, images, codes, likelihoods, file),
 * and once more from a fresh starting state with allocation k failing alone, which must still
 * return SPCNN_ERR_OUT_OF_MEMORY (no failure lost behind later successes). In the sanitizer
 * build LeakSanitizer proves that nothing leaked. oneDNN's own allocations
 * (primitive descriptors, primitives, memory objects) do not go through the door and are not
 * injected here: a oneDNN out-of-memory is translated to SPCNN_ERR_OUT_OF_MEMORY by
 * spcnn__dnnl_error. Calls on two threads inject only on the calling thread (the hook is
 * thread-local). The number of sites of each call is printed. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "model/model.h"
#include "testutil.h"
#include "tu_model.h"

/* A tiny network (m 8, F 4, R 1, K 2, L 3, VAE input 8) on 12 × 12 training images, generating
 * and scoring 9 × 9 images (the smallest size with pixels for both the whole-network and the
 * corner plans of generation): every call takes milliseconds, so each can be failed at every
 * site. */
enum { S = 12, N = 2, L = 3, G = 9, NIMG = 6 };

static spcnn_model *new_model_staged(int threads, int vae_pretrain_steps)
{
    return tu_model(TU_SETTINGS(
        {SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, 8}, {SPCNN_CFG_NR_FILTERS, 4},
        {SPCNN_CFG_NR_RESNET, 1}, {SPCNN_CFG_NR_MIX, 2}, {SPCNN_CFG_LATENT_SIZE, L},
        {SPCNN_CFG_DROPOUT, 0.25}, {SPCNN_CFG_BATCH_SIZE, N}, {SPCNN_CFG_SEED, 5},
        {SPCNN_CFG_THREADS, threads}, {SPCNN_CFG_VAE_PRETRAIN_STEPS, vae_pretrain_steps}));
}

static spcnn_model *new_model(int threads)
{
    return new_model_staged(threads, 0);
}

static uint8_t images[NIMG * S * S];

static void make_images(void)
{
    tu_rng rng = {1515};
    for (size_t i = 0; i < sizeof images; i++)
        images[i] = (uint8_t)(tu_next(&rng) >> 56);
}

/* A result to compare bit for bit: bytes appended one field after another. */
typedef struct blob {
    unsigned char *bytes;
    size_t size;
} blob;

static void blob_add(blob *b, const void *p, size_t n)
{
    b->bytes = realloc(b->bytes, b->size + n + 1);
    ck_assert_ptr_nonnull(b->bytes);
    memcpy(b->bytes + b->size, p, n);
    b->size += n;
}

static void blob_clear(blob *b)
{
    free(b->bytes);
    b->bytes = NULL;
    b->size = 0;
}

/* Every buffer of the parameter block (values, gradients, moments, EMA), the step and the
 * prior: what a call that changes the model changes. */
static void add_model_state(blob *b, const spcnn_model *m)
{
    blob_add(b, m->params.block, SPCNN__BUF_COUNT * m->params.total * sizeof(float));
    blob_add(b, &m->optim.t, sizeof m->optim.t);
    blob_add(b, &m->images_seen, sizeof m->images_seen);
    size_t k = 0;
    ck_assert_int_eq(spcnn_model_get_prior(m, &k, NULL, NULL, NULL, 0), SPCNN_OK);
    blob_add(b, &k, sizeof k);
    if (k > 0) {
        float w[8], mu[8 * L], var[8 * L];
        ck_assert_uint_le(k, 8);
        ck_assert_int_eq(spcnn_model_get_prior(m, &k, w, mu, var, 8 * L), SPCNN_OK);
        blob_add(b, w, k * sizeof(float));
        blob_add(b, mu, k * L * sizeof(float));
        blob_add(b, var, k * L * sizeof(float));
    }
}

/* ---- the calls ---------------------------------------------------------------------------- */

typedef struct fixture {
    spcnn_model *m;    /* the handle of the call (NULL for create and load) */
    spcnn_model *made; /* what create and load made */
    char path[512];    /* the file of load and save */
} fixture;

typedef void (*setup_fn)(fixture *f);
typedef spcnn_status (*call_fn)(fixture *f, blob *out);

/* Starting states, built with injection off. */
static void setup_none(fixture *f)
{
    f->m = NULL;
}
static void setup_fresh(fixture *f)
{
    f->m = new_model(1);
}
static void setup_trained(fixture *f)
{
    f->m = new_model(1);
    ck_assert_int_eq(spcnn_model_train_step(f->m, images, N, S, S, NULL), SPCNN_OK);
}
static void setup_prior(fixture *f)
{
    setup_trained(f);
    const float w[2] = {0.25f, 0.75f}, mu[2 * L] = {-1, 0.5f, 2, 1, -0.25f, 0};
    const float var[2 * L] = {0.5f, 1, 0.25f, 2, 0.75f, 1.5f};
    ck_assert_int_eq(spcnn_model_set_prior(f->m, 2, w, mu, var), SPCNN_OK);
}
/* Two-stage training (vae_pretrain_steps 1): the first step trains the VAE alone, the next
 * ones the PixelCNN alone. */
static void setup_staged(fixture *f)
{
    f->m = new_model_staged(1, 1);
}
static void setup_staged_trained(fixture *f)
{
    f->m = new_model_staged(1, 1);
    ck_assert_int_eq(spcnn_model_train_step(f->m, images, N, S, S, NULL), SPCNN_OK);
}
static void setup_two_threads(fixture *f)
{
    f->m = new_model(2);
}
/* bf16 training (train_precision 1): its plan holds the bf16 copies of the activations. Left
 * in fp32 where the CPU lacks AVX-512 BF16 (the test then repeats the fp32 plan's sites). */
static int bf16_training;
static void setup_bf16(fixture *f)
{
    f->m = new_model(1);
    const spcnn_status st = spcnn_model_set_option(f->m, SPCNN_CFG_TRAIN_PRECISION, 1);
    ck_assert(st == SPCNN_OK || st == SPCNN_ERR_UNSUPPORTED);
    bf16_training = st == SPCNN_OK;
}
static void setup_bf16_trained(fixture *f)
{
    setup_bf16(f);
    ck_assert_int_eq(spcnn_model_train_step(f->m, images, N, S, S, NULL), SPCNN_OK);
}

/* The configuration of create, made before the hook is armed. */
static spcnn_config *create_cfg;

static spcnn_status call_create(fixture *f, blob *out)
{
    spcnn_model_destroy(f->made);
    f->made = (spcnn_model *)(uintptr_t)1; /* must become NULL on failure */
    spcnn_status st = spcnn_model_create(create_cfg, &f->made);
    if (st != SPCNN_OK) {
        ck_assert_ptr_null(f->made);
        return st;
    }
    add_model_state(out, f->made);
    return st;
}

static spcnn_status call_load(fixture *f, blob *out)
{
    spcnn_model_destroy(f->made);
    f->made = (spcnn_model *)(uintptr_t)1;
    spcnn_status st = spcnn_model_load(f->path, &f->made);
    if (st != SPCNN_OK) {
        ck_assert_ptr_null(f->made);
        return st;
    }
    add_model_state(out, f->made);
    return st;
}

static spcnn_status call_train_step(fixture *f, blob *out)
{
    double bpd = -1;
    spcnn_status st = spcnn_model_train_step(f->m, images + N * S * S, N, S, S, &bpd);
    if (st == SPCNN_OK) {
        blob_add(out, &bpd, sizeof bpd);
        add_model_state(out, f->m);
    }
    return st;
}

static spcnn_status call_generate_image(fixture *f, blob *out)
{
    uint8_t px[G * G];
    spcnn_status st = spcnn_model_generate_image(f->m, NULL, G, G, 7, px, sizeof px);
    if (st == SPCNN_OK)
        blob_add(out, px, sizeof px);
    return st;
}

static spcnn_status call_generate_images(fixture *f, blob *out)
{
    uint8_t px[2 * G * G];
    spcnn_status st = spcnn_model_generate_images(f->m, 2, NULL, G, G, 8, px, sizeof px);
    if (st == SPCNN_OK)
        blob_add(out, px, sizeof px);
    return st;
}

static spcnn_status call_sample_patch(fixture *f, blob *out)
{
    uint8_t patch[64];
    spcnn_status st = spcnn_model_sample_patch(f->m, NULL, 16, 16, 4, 8, 11, patch, sizeof patch);
    if (st == SPCNN_OK)
        blob_add(out, patch, sizeof patch);
    return st;
}

static spcnn_status call_reconstruct(fixture *f, blob *out)
{
    uint8_t px[G * G];
    spcnn_status st = spcnn_model_reconstruct(f->m, images, S, S, G, G, 12, px, sizeof px);
    if (st == SPCNN_OK)
        blob_add(out, px, sizeof px);
    return st;
}

static spcnn_status call_encode(fixture *f, blob *out)
{
    float z[L];
    spcnn_status st = spcnn_model_encode(f->m, images, S, S, z, L);
    if (st == SPCNN_OK)
        blob_add(out, z, sizeof z);
    return st;
}

static spcnn_status call_decode(fixture *f, blob *out)
{
    const float z[L] = {0.5f, -1, 2};
    uint8_t px[8 * 8];
    spcnn_status st = spcnn_model_decode(f->m, z, px, sizeof px);
    if (st == SPCNN_OK)
        blob_add(out, px, sizeof px);
    return st;
}

static spcnn_status call_log_prob(fixture *f, blob *out)
{
    float nll[G * G];
    spcnn_status st = spcnn_model_log_prob(f->m, images, G, G, NULL, nll, G * G);
    if (st == SPCNN_OK)
        blob_add(out, nll, sizeof nll);
    return st;
}

static spcnn_status call_evaluate(fixture *f, blob *out)
{
    double r[3] = {-1, -1, -1};
    spcnn_status st = spcnn_model_evaluate(f->m, images, 2, G, G, &r[0], &r[1], &r[2]);
    if (st == SPCNN_OK)
        blob_add(out, r, sizeof r);
    return st;
}

static spcnn_status call_fit_prior(fixture *f, blob *out)
{
    size_t before = 99;
    ck_assert_int_eq(spcnn_model_get_prior(f->m, &before, NULL, NULL, NULL, 0), SPCNN_OK);
    spcnn_status st = spcnn_model_fit_prior(f->m, images, NIMG, S, S, 2, 3);
    size_t after = 99;
    ck_assert_int_eq(spcnn_model_get_prior(f->m, &after, NULL, NULL, NULL, 0), SPCNN_OK);
    if (st != SPCNN_OK) {
        ck_assert_uint_eq(after, before); /* the previous prior is kept */
        return st;
    }
    add_model_state(out, f->m);
    return st;
}

static spcnn_status call_set_prior(fixture *f, blob *out)
{
    const float w[3] = {1, 2, 3}, mu[3 * L] = {0}, var[3 * L] = {1, 1, 1, 2, 2, 2, 3, 3, 3};
    spcnn_status st = spcnn_model_set_prior(f->m, 3, w, mu, var);
    if (st == SPCNN_OK)
        add_model_state(out, f->m);
    return st;
}

static spcnn_status call_save(fixture *f, blob *out)
{
    spcnn_status st = spcnn_model_save(f->m, f->path, 1);
    if (st == SPCNN_OK) {
        size_t size = 0;
        unsigned char *bytes = tu_read_file(f->path, &size);
        blob_add(out, bytes, size);
        free(bytes);
        remove(f->path);
    }
    return st;
}

static spcnn_status call_set_threads(fixture *f, blob *out)
{
    spcnn_status st = spcnn_model_set_threads(f->m, 2);
    if (st == SPCNN_OK)
        st = spcnn_model_set_threads(f->m, 1);
    if (st == SPCNN_OK)
        blob_add(out, "ok", 2);
    return st;
}

/* ---- the driver --------------------------------------------------------------------------- */

/* The file of load and save. */
static void model_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/test_alloc_failure_%d.spcnn", tu_tmpdir(), (int)getpid());
}

/* Run call on a fresh starting state for every allocation site; returns the number of sites. */
static long fail_every_site(const char *name, setup_fn setup, call_fn call)
{
    fixture f = {NULL, NULL, ""};
    model_path(f.path, sizeof f.path);
    blob want = {NULL, 0}, got = {NULL, 0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    setup(&f);
    spcnn__alloc_fail_after(-1);
    spcnn_status st = call(&f, &want);
    long sites = spcnn__alloc_fail_after(-1);
    ck_assert_msg(st == SPCNN_OK, "%s: %s", name, spcnn_last_error_message());
    ck_assert_uint_gt(want.size, 0);
    spcnn_model_destroy(f.m);
    spcnn_model_destroy(f.made);
    f.m = f.made = NULL;
    for (long k = 0; k < sites; k++) {
        setup(&f);
        spcnn__alloc_fail_after(k);
        st = call(&f, &got);
        long made = spcnn__alloc_fail_after(-1);
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY, "%s, site %ld of %ld: status %d (%s)", name,
                      k, sites, st, spcnn_last_error_message());
        ck_assert_msg(strstr(spcnn_last_error_message(), "memory") != NULL,
                      "%s, site %ld: message '%s'", name, k, spcnn_last_error_message());
        ck_assert_int_gt(made, k); /* site k was reached (and every later one failed too) */
        ck_assert_uint_eq(got.size, 0);
        /* The handle is usable: the same call now gives what a model that never failed gave. */
        st = call(&f, &got);
        ck_assert_msg(st == SPCNN_OK, "%s, after site %ld: %s", name, k,
                      spcnn_last_error_message());
        ck_assert_msg(got.size == want.size && memcmp(got.bytes, want.bytes, want.size) == 0,
                      "%s, after a failure at site %ld: a different result", name, k);
        blob_clear(&got);
        spcnn_model_destroy(f.m);
        spcnn_model_destroy(f.made);
        f.m = f.made = NULL;

        /* Site k alone failing, the allocations after it succeeding again: the failure must
         * not be lost behind them. */
        setup(&f);
        spcnn__alloc_fail_once_after(k);
        st = call(&f, &got);
        spcnn__alloc_fail_after(-1);
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY,
                      "%s, site %ld of %ld failing alone: status %d (%s)", name, k, sites, st,
                      spcnn_last_error_message());
        ck_assert_msg(strstr(spcnn_last_error_message(), "memory") != NULL,
                      "%s, site %ld alone: message '%s'", name, k, spcnn_last_error_message());
        blob_clear(&got);
        spcnn_model_destroy(f.m);
        spcnn_model_destroy(f.made);
        f.m = f.made = NULL;
    }
    blob_clear(&want);
    ck_assert_int_eq(tu_temporaries_left("test_alloc_failure"), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%-36s %4ld allocation sites%s (%.1f s)\n", name, sites,
           sites ? ": each failing (alone, and with all after it) -> OUT_OF_MEMORY, then the "
                   "same result as a model that never failed"
                 : ", nothing to fail",
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return sites;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_create_load_save)
{
    make_images();
    spcnn_model *m = new_model(1);
    ck_assert_int_eq(spcnn_config_create(&create_cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_get_config(m, create_cfg), SPCNN_OK);
    spcnn_model_destroy(m);
    long create = fail_every_site("model_create", setup_none, call_create);
    ck_assert_int_gt(create, 0);
    spcnn_config_destroy(create_cfg);
    create_cfg = NULL;

    /* load: a file with training state and a prior, so every block of the format is read. */
    fixture f;
    setup_prior(&f);
    char path[512];
    model_path(path, sizeof path);
    ck_assert_int_eq(spcnn_model_save(f.m, path, 1), SPCNN_OK);
    spcnn_model_destroy(f.m);
    ck_assert_int_gt(fail_every_site("model_load", setup_none, call_load), create);
    remove(path);

    ck_assert_int_gt(fail_every_site("model_save", setup_prior, call_save), 0);
}
END_TEST

START_TEST(test_train_step)
{
    make_images();
    ck_assert_int_gt(fail_every_site("train_step (first: builds the plan)", setup_fresh,
                                     call_train_step),
                     10);
    /* The design's promise: nothing is allocated inside a step once its plan exists. */
    long later = fail_every_site("train_step (later)", setup_trained, call_train_step);
    ck_assert_int_eq(later, 0);
    ck_assert_int_gt(fail_every_site("train_step (VAE pretraining)", setup_staged,
                                     call_train_step),
                     10);
    later = fail_every_site("train_step (then the PixelCNN alone)", setup_staged_trained,
                            call_train_step);
    ck_assert_int_eq(later, 0);
    ck_assert_int_gt(fail_every_site("train_step (bf16: builds the plan)", setup_bf16,
                                     call_train_step),
                     10);
    printf("train_step (bf16): %s\n",
           bf16_training ? "bf16 training plan" : "this CPU lacks AVX-512 BF16: the fp32 plan");
    later = fail_every_site("train_step (bf16, later)", setup_bf16_trained, call_train_step);
    ck_assert_int_eq(later, 0);
}
END_TEST

START_TEST(test_generate)
{
    make_images();
    ck_assert_int_gt(fail_every_site("generate_image", setup_fresh, call_generate_image), 10);
    ck_assert_int_gt(fail_every_site("generate_image (prior)", setup_prior, call_generate_image),
                     10);
    ck_assert_int_gt(fail_every_site("generate_images (prior)", setup_prior,
                                     call_generate_images),
                     10);
}
END_TEST

START_TEST(test_generate_more)
{
    make_images();
    ck_assert_int_gt(fail_every_site("generate_images (2 threads)", setup_two_threads,
                                     call_generate_images),
                     10);
    ck_assert_int_gt(fail_every_site("sample_patch", setup_fresh, call_sample_patch), 10);
    ck_assert_int_gt(fail_every_site("reconstruct", setup_fresh, call_reconstruct), 10);
}
END_TEST

START_TEST(test_evaluation)
{
    make_images();
    ck_assert_int_gt(fail_every_site("encode", setup_fresh, call_encode), 10);
    ck_assert_int_gt(fail_every_site("decode", setup_fresh, call_decode), 10);
    ck_assert_int_gt(fail_every_site("log_prob", setup_fresh, call_log_prob), 10);
    ck_assert_int_gt(fail_every_site("evaluate", setup_trained, call_evaluate), 10);
}
END_TEST

START_TEST(test_prior)
{
    make_images();
    ck_assert_int_gt(fail_every_site("fit_prior", setup_trained, call_fit_prior), 10);
    ck_assert_int_gt(fail_every_site("fit_prior (replacing a prior)", setup_prior,
                                     call_fit_prior),
                     10);
    ck_assert_int_gt(fail_every_site("set_prior", setup_prior, call_set_prior), 0);
    fail_every_site("set_threads", setup_fresh, call_set_threads);
}
END_TEST

/* Each case tagged with its share of the run: ctest runs the three tags as three tests, in
 * parallel (tests/CMakeLists.txt); without CK_INCLUDE_TAGS all run. */
static void add_case(Suite *s, const char *name, const char *tag, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, tag);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("alloc_failure");
    /* One case per call group (CK_RUN_CASE runs one); generation takes three quarters. */
    add_case(s, "create_load_save", "other", test_create_load_save);
    add_case(s, "train_step", "other", test_train_step);
    add_case(s, "generate", "generate", test_generate);
    add_case(s, "generate_more", "generate_more", test_generate_more);
    add_case(s, "evaluation", "other", test_evaluation);
    add_case(s, "prior", "other", test_prior);
    return tu_run_suite(s);
}
