/* Signals during library calls. oneDNN 2.6's JIT f32 GEMM kernels (the inner products of the
 * latent projections, the VAE and the classifier) point the stack pointer into a heap
 * workspace while they run (oneDNN issue #4845): a signal handler run on the interrupted
 * stack writes its frame into the heap, and the program later aborts in free(). A storm of
 * SIGPROF during training and prediction aborts within a second that way (the test fails: Check
 * runs each test in a child process). The spcnn program's handlers (examples/spcnn/util.c) run
 * on an alternate stack; here a storm with the flags and stack they install must do no harm.
 * docs/api.md "Signals" says the same to programs that embed the library. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cli.h"
#include "spatialpixelcnn.h"
#include "testutil.h"
#include "tu_model.h"

static volatile sig_atomic_t storm_hits;

static void on_prof(int sig)
{
    (void)sig;
    storm_hits++;
}

/* SIGPROF every 37 µs of CPU time (in practice once per scheduler tick of CPU time), delivered with the SIGTERM handler's flags (less the
 * one-shot reset) on whatever stack the CLI set up. */
static void storm_start(void)
{
    struct sigaction term, prof;
    ck_assert_int_eq(sigaction(SIGTERM, NULL, &term), 0);
    memset(&prof, 0, sizeof prof);
    prof.sa_handler = on_prof;
    sigemptyset(&prof.sa_mask);
    prof.sa_flags = (term.sa_flags & ~(int)SA_RESETHAND) | SA_RESTART;
    ck_assert_int_eq(sigaction(SIGPROF, &prof, NULL), 0);
    storm_hits = 0;
    struct itimerval every = {{0, 37}, {0, 37}};
    ck_assert_int_eq(setitimer(ITIMER_PROF, &every, NULL), 0);
}

static int storm_stop(void)
{
    struct itimerval off;
    memset(&off, 0, sizeof off);
    ck_assert_int_eq(setitimer(ITIMER_PROF, &off, NULL), 0);
    signal(SIGPROF, SIG_IGN);
    return (int)storm_hits;
}

START_TEST(test_cli_handlers_use_alternate_stack)
{
    cli_install_signal_handlers();
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGTERM, NULL, &sa), 0);
    ck_assert_msg(sa.sa_flags & SA_ONSTACK, "SIGTERM handler without SA_ONSTACK");
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert_msg(sa.sa_flags & SA_ONSTACK, "SIGINT handler without SA_ONSTACK");
    stack_t ss;
    ck_assert_int_eq(sigaltstack(NULL, &ss), 0);
    ck_assert_msg(!(ss.ss_flags & SS_DISABLE), "no alternate signal stack");
    ck_assert_uint_ge(ss.ss_size, 16384);
}
END_TEST

START_TEST(test_storm_during_classifier)
{
    cli_install_signal_handlers();
    enum { SIDE = 14, CLASSES = 4, BATCH = 16, PREDICT = 64, MAX_STEPS = 20000, SIGNALS = 200 };
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(SIDE, SIDE, CLASSES, 1, &c), SPCNN_OK);
    static uint8_t images[PREDICT * SIDE * SIDE], labels[PREDICT];
    static float probs[PREDICT * CLASSES];
    for (size_t i = 0; i < sizeof images; i++)
        images[i] = (uint8_t)(i * 37u);
    for (size_t i = 0; i < PREDICT; i++)
        labels[i] = (uint8_t)(i % CLASSES);
    storm_start();
    double loss = 0;
    for (int s = 0; s < MAX_STEPS && storm_hits < SIGNALS; s++) {
        ck_assert_msg(spcnn_classifier_train_step(c, images, labels, BATCH, &loss, NULL) ==
                          SPCNN_OK,
                      "%s", spcnn_last_error_message());
        ck_assert_int_eq(spcnn_classifier_predict(c, images, PREDICT, probs, PREDICT * CLASSES),
                         SPCNN_OK);
    }
    int hits = storm_stop();
    /* The storm happened: without the alternate stack this many signals abort the child. */
    ck_assert_int_ge(hits, SIGNALS);
    ck_assert(isfinite(loss));
    spcnn_classifier_destroy(c); /* frees every oneDNN buffer: a corrupted heap aborts here */
}
END_TEST

START_TEST(test_storm_during_model_training)
{
    cli_install_signal_handlers();
    enum { S = 12, BATCH = 8, MAX_STEPS = 5000, SIGNALS = 100 };
    spcnn_model *m = tu_model(TU_SETTINGS({SPCNN_CFG_NR_FILTERS, 8}, {SPCNN_CFG_NR_RESNET, 1},
                                          {SPCNN_CFG_NR_MIX, 2}, {SPCNN_CFG_LATENT_SIZE, 8},
                                          {SPCNN_CFG_IMAGE_SIZE, S},
                                          {SPCNN_CFG_BATCH_SIZE, BATCH}));
    static uint8_t batch[BATCH * S * S];
    for (size_t i = 0; i < sizeof batch; i++)
        batch[i] = (uint8_t)((i * 97u) >> 2);
    storm_start();
    double bpd = 0;
    for (int s = 0; s < MAX_STEPS && storm_hits < SIGNALS; s++)
        ck_assert_msg(spcnn_model_train_step(m, batch, BATCH, S, S, &bpd) == SPCNN_OK, "%s",
                      spcnn_last_error_message());
    int hits = storm_stop();
    ck_assert_int_ge(hits, SIGNALS);
    ck_assert(isfinite(bpd));
    spcnn_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("signals");
    TCase *t = tcase_create("signals");
    tcase_add_test(t, test_cli_handlers_use_alternate_stack);
    tcase_add_test(t, test_storm_during_classifier);
    tcase_add_test(t, test_storm_during_model_training);
    suite_add_tcase(s, t);
    return tu_run_suite(s);
}
