/* Argument parsing, time, progress lines and signals of the spcnn program. */
#define _XOPEN_SOURCE 700 /* sigaltstack, SA_ONSTACK (XSI) */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ranks.h"

volatile sig_atomic_t cli_stop_signal = 0;

static void on_signal(int sig)
{
    cli_stop_signal = sig;
}

/* oneDNN 2.6's JIT f32 GEMM kernels (inner products: the latent projections, the VAE's and the
 * classifier's dense layers) point the stack pointer into a heap workspace while they run
 * (oneDNN issue #4845, fixed in 3.11). A handler run on the interrupted stack writes its frame
 * into that heap block, and the program later aborts in free() ("corrupted size vs.
 * prev_size"). Handlers therefore run on an alternate stack of their own. */
static void use_alternate_signal_stack(void)
{
    static _Alignas(64) char stack[1 << 16];
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return; /* the embedding program set one up */
    stack_t ss = {.ss_sp = stack, .ss_flags = 0, .ss_size = sizeof stack};
    if (sigaltstack(&ss, NULL) != 0)
        fprintf(stderr, "spcnn: warning: no alternate signal stack (%s); a signal during a "
                        "oneDNN call may corrupt memory\n", strerror(errno));
}

void cli_install_signal_handlers(void)
{
    use_alternate_signal_stack();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* A second Ctrl-C while the checkpoint is being written kills the program at once; the
     * model file is saved atomically, so the previous checkpoint survives. SA_ONSTACK: see
     * above. */
    sa.sa_flags = (int)(SA_RESETHAND | SA_ONSTACK);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_parse_count(const char *cmd, const char *flag, const char *text, long long lo,
                    long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "spcnn %s: %s: '%s' is not an integer in [%lld, %lld]\n", cmd, flag, text,
                lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_seed(const char *cmd, const char *flag, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    /* strtoull would take a sign (and wrap "-1" round to 2^64-1) or leading blanks. */
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || errno || *end) {
        fprintf(stderr, "spcnn %s: %s: '%s' is not an integer in [0, %llu]\n", cmd, flag, text,
                (unsigned long long)UINT64_MAX);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

int cli_parse_number(const char *cmd, const char *flag, const char *text, double lo, double hi,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "spcnn %s: %s: '%s' is not a number in [%g, %g]\n", cmd, flag, text, lo,
                hi);
        return 0;
    }
    *out = v;
    return 1;
}

const char *cli_flag_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "spcnn %s: %s needs a value (see spcnn %s --help)\n", cmd, argv[*i], cmd);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

const char *cli_split_flag(const char *arg, char *buf, size_t cap, const char **value)
{
    const char *eq = strchr(arg, '=');
    *value = NULL;
    if (strncmp(arg, "--", 2) != 0 || eq == NULL || (size_t)(eq - arg) >= cap)
        return arg;
    memcpy(buf, arg, (size_t)(eq - arg));
    buf[eq - arg] = '\0';
    *value = eq + 1;
    return buf;
}

void cli_format_config_value(spcnn_config_key key, double value, char *buf, size_t cap)
{
    double lo, hi;
    int integer = 0;
    spcnn_config_bounds(key, &lo, &hi, &integer);
    if (key == SPCNN_CFG_SCHEDULE && (value == 0 || value == 1))
        snprintf(buf, cap, "%s", value == 0 ? "raster" : "wavefront");
    else if ((key == SPCNN_CFG_PRECISION || key == SPCNN_CFG_TRAIN_PRECISION) &&
             (value == 0 || value == 1))
        snprintf(buf, cap, "%s", value == 0 ? "fp32" : "bf16");
    else
        snprintf(buf, cap, integer ? "%.0f" : "%.10g", value);
}

int cli_fail(const char *cmd, const char *what, spcnn_status st)
{
    const char *detail = spcnn_last_error_message();
    if (detail[0])
        fprintf(stderr, "spcnn %s: %s: %s (%s)\n", cmd, what, spcnn_status_string(st), detail);
    else
        fprintf(stderr, "spcnn %s: %s: %s\n", cmd, what, spcnn_status_string(st));
    return CLI_FAILED;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_format_duration(double seconds, char *buf, size_t cap)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    long long s = (long long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%llds", s);
}

void cli_progress_init(cli_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->drawn = 0;
    p->last_draw = cli_now();
    p->interval = 10.0;
}

void cli_progress_show(cli_progress *p, const char *text, int force)
{
    if (cli_rank != 0)
        return; /* rank 0 speaks for an mpirun job */
    double now = cli_now();
    if (p->tty) {
        /* Redraw at most 5 times a second: the terminal is not the bottleneck's place. */
        if (!force && p->drawn && now - p->last_draw < 0.2)
            return;
        fprintf(stderr, "\r%s\033[K", text);
        p->drawn = 1;
    } else {
        if (!force && now - p->last_draw < p->interval)
            return;
        fprintf(stderr, "%s\n", text);
    }
    fflush(stderr);
    p->last_draw = now;
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty && p->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
