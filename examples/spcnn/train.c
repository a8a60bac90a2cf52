/* spcnn train: the training loop, its progress line, evaluation log and checkpoints. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ranks.h"
#include "train_args.h"

enum { BPD_WINDOW = 50, MAX_NUMERIC_FAILURES = 10 };

/* ---- the training run ------------------------------------------------------------------- */

typedef struct run {
    const train_args *args;
    spcnn_model *model;
    cli_dataset ds;
    size_t batch, steps_per_epoch;
    long long target_step; /* LLONG_MAX: only --minutes limits the run */
    double start, step_seconds, minutes_offset;
    long long start_step, steps_done;
    double bpd_ring[BPD_WINDOW];
    int bpd_count;
    cli_progress line;
    FILE *csv;
    char *csv_path;
    long long last_eval_step, last_save_step;
    long long eval_step; /* for the evaluation's progress text */
    /* --patience: the best validation bits/dim (patches) of the log, where, and how many
     * evaluations since have not beaten it. */
    double best_valid;
    long long best_step, evals_since_best;
    long long pretrain_steps; /* vae_pretrain_steps: evaluations up to it do not count */
    size_t patch; /* patch_size */
    /* Under mpirun: this rank's images [lo, hi) of each batch of `batch` (0 and batch in one
     * process), and whether a signal stopped the run on any rank. */
    size_t lo, hi;
    int signalled;
    /* In-memory data: the epoch's order and the batch. */
    size_t *perm;
    long long perm_epoch;
    uint8_t *batch_pixels;
    /* A streamed PNG folder: cumulative window counts of the training images (a bad file's
     * count drops to 0 with --skip-bad), and per batch slot its image's buffer. */
    uint64_t *cum;
    uint8_t **slot;
    size_t *slot_cap, *slot_h, *slot_w;
    const uint8_t **slot_ptr;
    double eval_base, eval_span; /* this image's share of an evaluation's progress */
} run;

/* Count one evaluation towards --patience: a strictly lower figure is an improvement. */
static void note_evaluation(run *r, long long step, double valid_bpd)
{
    if (step <= r->pretrain_steps)
        return; /* the PixelCNN has not trained yet */
    if (r->best_step < 0 || valid_bpd < r->best_valid) {
        r->best_valid = valid_bpd;
        r->best_step = step;
        r->evals_since_best = 0;
    } else {
        r->evals_since_best++;
    }
}

/* A line of an earlier run's log: its minutes go on, its evaluation counts for --patience. */
static void note_log_line(run *r, const char *line)
{
    double minutes, epoch, train, valid;
    long long step;
    if (sscanf(line, "%lf,%lld,%lf,%lf,%lf,", &minutes, &step, &epoch, &train, &valid) == 5) {
        r->minutes_offset = minutes;
        if (isfinite(valid))
            note_evaluation(r, step, valid);
    }
}

static double run_minutes(const run *r)
{
    return r->minutes_offset + (cli_now() - r->start) / 60.0;
}

static double train_bpd(const run *r)
{
    double s = 0;
    int n = r->bpd_count < BPD_WINDOW ? r->bpd_count : BPD_WINDOW;
    for (int i = 0; i < n; i++)
        s += r->bpd_ring[i];
    return n ? s / n : NAN;
}

static double stat_of(const run *r, spcnn_stat which)
{
    double v = 0;
    spcnn_model_stat(r->model, which, &v);
    return v;
}

static int on_train_eval_progress(double fraction, void *user)
{
    run *r = user;
    char text[160];
    snprintf(text, sizeof text, "step %lld | evaluating %zu validation images: %3.0f %%",
             r->eval_step,
             r->ds.n_valid < (size_t)r->args->eval_images ? r->ds.n_valid
                                                           : (size_t)r->args->eval_images,
             100 * (r->eval_base + r->eval_span * fraction));
    cli_progress_show(&r->line, text, 0);
    return cli_stop_signal != 0;
}

/* Evaluate on the fixed first eval_images validation images, print and log the result. Under
 * mpirun each rank evaluates its share of the images and the means are combined (each image
 * weighs the same), so every rank gets the figures, and the status: a rank whose own share
 * went well reports another's cancellation as its own (a signal stops all) and another's
 * failure as SPCNN_ERR_COMMUNICATION. */
static spcnn_status evaluate(run *r, long long step, double epoch)
{
    size_t n = r->ds.n_valid < (size_t)r->args->eval_images ? r->ds.n_valid
                                                            : (size_t)r->args->eval_images;
    const size_t lo = n * (size_t)cli_rank / (size_t)cli_ranks;
    const size_t hi = n * (size_t)(cli_rank + 1) / (size_t)cli_ranks;
    double patches = 0, image = 0, kl = 0;
    r->eval_step = step;
    spcnn_model_set_progress(r->model, on_train_eval_progress, r);
    double t0 = cli_now();
    r->eval_base = 0;
    r->eval_span = 1;
    spcnn_status st = SPCNN_OK;
    if (hi > lo)
        st = r->ds.streamed
                 ? cli_evaluate_folder("train", r->model, &r->ds, r->ds.valid_refs + lo, hi - lo,
                                       &r->eval_base, &r->eval_span, &patches, &image, &kl,
                                       NULL)
                 : spcnn_model_evaluate(r->model,
                                        r->ds.valid + lo * r->ds.train_h * r->ds.train_w,
                                        hi - lo, r->ds.train_h, r->ds.train_w, &patches, &image,
                                        &kl);
    spcnn_model_set_progress(r->model, NULL, NULL);
    if (cli_ranks > 1) {
        const double w = (double)(hi - lo);
        double sums[5] = {patches * w, image * w, kl * w, st == SPCNN_ERR_CANCELLED,
                          st != SPCNN_OK && st != SPCNN_ERR_CANCELLED};
        if (st != SPCNN_OK)
            sums[0] = sums[1] = sums[2] = 0;
        cli_ranks_sum(sums, 5);
        if (st == SPCNN_OK && sums[4] > 0)
            st = SPCNN_ERR_COMMUNICATION;
        else if (st == SPCNN_OK && sums[3] > 0)
            st = SPCNN_ERR_CANCELLED;
        if (sums[3] > 0)
            r->signalled = 1;
        patches = sums[0] / (double)n;
        image = sums[1] / (double)n;
        kl = sums[2] / (double)n;
    }
    if (st != SPCNN_OK)
        return st;
    double minutes = run_minutes(r), bpd = train_bpd(r);
    cli_progress_end(&r->line);
    printf("[%7.2f min] step %lld epoch %.2f | train %.4f | valid bits/dim %.4f (patches) "
           "%.4f (image) | KL %.3f | eval %.1f s\n",
           minutes, step, epoch, bpd, patches, image, kl, cli_now() - t0);
    fflush(stdout);
    if (r->csv) {
        fprintf(r->csv, "%.3f,%lld,%.4f,%.5f,%.5f,%.5f,%.5f\n", minutes, step, epoch, bpd,
                patches, image, kl);
        fflush(r->csv);
    }
    r->last_eval_step = step;
    note_evaluation(r, step, patches);
    return SPCNN_OK;
}

static int checkpoint(run *r, long long step)
{
    if (cli_rank != 0) { /* rank 0 writes the model for the job */
        r->last_save_step = step;
        return CLI_OK;
    }
    spcnn_status st = spcnn_model_save(r->model, r->args->out, 1);
    if (st != SPCNN_OK) {
        cli_progress_end(&r->line);
        return cli_fail("train", "saving the checkpoint", st);
    }
    r->last_save_step = step;
    cli_progress_end(&r->line);
    printf("[%7.2f min] step %lld: saved %s\n", run_minutes(r), step, r->args->out);
    fflush(stdout);
    return CLI_OK;
}

static void show_progress(run *r, long long step, size_t pos, int force)
{
    char text[256], eta[32] = "-";
    double rate = r->step_seconds > 0 ? (double)r->steps_done / r->step_seconds : 0;
    double left = INFINITY;
    if (r->target_step != LLONG_MAX && rate > 0)
        left = (double)(r->target_step - step) / rate;
    if (r->args->minutes > 0) {
        double wall_left = r->args->minutes * 60 - (cli_now() - r->start);
        left = wall_left < left ? wall_left : left;
    }
    if (isfinite(left))
        cli_format_duration(left, eta, sizeof eta);
    char target[32] = "";
    if (r->target_step != LLONG_MAX)
        snprintf(target, sizeof target, "/%lld", r->target_step);
    /* A VAE pretraining step has no bits/dim (vae_pretrain_steps): show its reconstruction. */
    int vae_stage = isnan(stat_of(r, SPCNN_STAT_BITS_PER_DIM));
    char loss[64];
    if (vae_stage)
        snprintf(loss, sizeof loss, "VAE pretraining, recon %.2f",
                 stat_of(r, SPCNN_STAT_RECONSTRUCTION));
    else
        snprintf(loss, sizeof loss, "bits/dim %.4f", train_bpd(r));
    snprintf(text, sizeof text,
             "step %lld%s | epoch %.2f | %.2f steps/s | ETA %s | %s | KL %.2f | grad %.3g | "
             "lr %.3g",
             step, target, (double)pos / (double)r->steps_per_epoch, rate, eta, loss,
             stat_of(r, SPCNN_STAT_KL), stat_of(r, SPCNN_STAT_GRAD_NORM),
             stat_of(r, SPCNN_STAT_LEARNING_RATE));
    cli_progress_show(&r->line, text, force);
}

static char *log_path(const char *model_path)
{
    size_t len = strlen(model_path) + sizeof ".log.csv";
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s.log.csv", model_path);
    return p;
}

/* The log continues across resumed runs: a resumed run starts from the resumed model's log
 * (copied when --out names another file) and its minutes go on from the last line. */
static int open_log(run *r)
{
    static const char header[] =
        "minutes,step,epoch,train_bpd,valid_bpd_patches,valid_bpd_image,kl\n";
    r->csv_path = log_path(r->args->out);
    char *old_path = r->args->resume ? log_path(r->args->resume) : NULL;
    if (!r->csv_path || (r->args->resume && !old_path)) {
        free(old_path);
        return 0;
    }
    FILE *old = old_path ? fopen(old_path, "r") : NULL;
    int same = old_path && strcmp(old_path, r->csv_path) == 0;
    free(old_path);
    if (old && same) {
        char line[512];
        while (fgets(line, sizeof line, old))
            note_log_line(r, line);
        fclose(old);
        r->csv = fopen(r->csv_path, "a");
        return r->csv != NULL;
    }
    r->csv = fopen(r->csv_path, "w");
    if (!r->csv) {
        int err = errno;
        if (old)
            fclose(old);
        errno = err;
        return 0;
    }
    if (old) {
        char line[512];
        while (fgets(line, sizeof line, old)) {
            note_log_line(r, line);
            fputs(line, r->csv);
        }
        fclose(old);
    } else {
        fputs(header, r->csv);
    }
    fflush(r->csv);
    return 1;
}

static void print_config(const run *r, const spcnn_config *cfg)
{
    printf("hyper-parameters:");
    int col = 0;
    for (int k = 1; k < 64; k++) {
        const char *name = spcnn_config_key_name((spcnn_config_key)k);
        double v;
        if (!name || spcnn_config_get(cfg, (spcnn_config_key)k, &v) != SPCNN_OK)
            continue;
        char text[64];
        cli_format_config_value((spcnn_config_key)k, v, text, sizeof text);
        printf("%s%s=%s", col % 6 == 0 ? "\n  " : " ", name, text);
        col++;
    }
    printf("\nparameters: %.0f   step: %lld   images seen: %.0f\n",
           stat_of(r, SPCNN_STAT_PARAMETERS), r->start_step,
           stat_of(r, SPCNN_STAT_IMAGES_SEEN));
    if (r->ds.streamed) {
        size_t lo_h = SIZE_MAX, lo_w = SIZE_MAX, hi_h = 0, hi_w = 0;
        for (size_t i = 0; i < r->ds.n_train; i++) {
            const cli_folder_image *im = r->ds.train_refs[i];
            lo_h = im->h < lo_h ? im->h : lo_h;
            lo_w = im->w < lo_w ? im->w : lo_w;
            hi_h = im->h > hi_h ? im->h : hi_h;
            hi_w = im->w > hi_w ? im->w : hi_w;
        }
        printf("data: %s %s: %zu training images of %zu x %zu to %zu x %zu (heights, widths), "
               "%llu windows of %zu x %zu, streamed (%zu steps per epoch), %zu more held out "
               "for validation (the test images are not used)\n",
               r->ds.kind, r->args->data, r->ds.n_train, lo_h, lo_w, hi_h, hi_w,
               (unsigned long long)r->cum[r->ds.n_train - 1], r->patch, r->patch,
               r->steps_per_epoch, r->ds.n_valid);
    } else {
        printf("data: %s %s: %zu training images of %zu x %zu (%zu steps per epoch), %zu more "
               "held out for validation (the test images are not used)\n",
               r->ds.kind, r->args->data, r->ds.n_train, r->ds.train_h, r->ds.train_w,
               r->steps_per_epoch, r->ds.n_valid);
    }
    fflush(stdout);
}

/* The cumulative window counts of the training images of a streamed folder. */
static void folder_weights(run *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->ds.n_train; i++) {
        const cli_folder_image *im = r->ds.train_refs[i];
        if (im->h >= r->patch && im->w >= r->patch) /* 0 for a file found bad */
            total += (uint64_t)(im->h - r->patch + 1) * (uint64_t)(im->w - r->patch + 1);
        r->cum[i] = total;
    }
}

/* A streamed folder's batch at data position pos (the batches drawn before it: the model's
 * step, unless a batch was skipped): slot j holds the image drawn for (seed, pos, j), decoded;
 * this rank's slots lo .. hi - 1 only. With --skip-bad a file that fails to decode is dropped
 * from the draws (of this rank) and the slot drawn again. 0 after printing why. */
static int folder_batch(run *r, uint64_t seed, size_t pos)
{
    for (size_t j = r->lo; j < r->hi; j++) {
        for (uint64_t attempt = 0;; attempt++) {
            if (r->cum[r->ds.n_train - 1] == 0) {
                fprintf(stderr, "spcnn train: no readable training image is left\n");
                return 0;
            }
            size_t i = cli_draw_weighted(r->cum, r->ds.n_train, seed, (uint64_t)pos, j,
                                         attempt);
            cli_folder_image *im = r->ds.train_refs[i];
            size_t need = im->h * im->w;
            if (need > r->slot_cap[j]) {
                uint8_t *grown = realloc(r->slot[j], need);
                if (!grown) {
                    fprintf(stderr, "spcnn train: out of memory for an image of %zu x %zu\n",
                            im->h, im->w);
                    return 0;
                }
                r->slot[j] = grown;
                r->slot_cap[j] = need;
            }
            cli_progress_end(&r->line);
            if (cli_folder_read("train", &r->ds.folder, im, r->slot[j], r->args->skip_bad)) {
                r->slot_ptr[j] = r->slot[j];
                r->slot_h[j] = im->h;
                r->slot_w[j] = im->w;
                break;
            }
            if (!r->args->skip_bad)
                return 0;
            im->h = im->w = 0; /* never drawn again */
            folder_weights(r);
        }
    }
    return 1;
}

/* This rank's part of the batch at data position pos (images lo .. hi - 1 of it): CLI_FAILED
 * after printing why it could not be made. */
static int read_batch(run *r, uint64_t seed, size_t pos)
{
    if (r->ds.streamed)
        return folder_batch(r, seed, pos) ? CLI_OK : CLI_FAILED;
    size_t img = r->ds.train_h * r->ds.train_w;
    long long epoch = (long long)(pos / r->steps_per_epoch);
    if (epoch != r->perm_epoch) {
        cli_epoch_order(r->perm, r->ds.n_train, seed, (uint64_t)epoch);
        r->perm_epoch = epoch;
    }
    size_t first = (pos % r->steps_per_epoch) * r->batch;
    for (size_t i = r->lo; i < r->hi; i++)
        memcpy(r->batch_pixels + (i - r->lo) * img, r->ds.train + r->perm[first + i] * img,
               img);
    return CLI_OK;
}

/* One step on the batch read_batch made (collective under mpirun: every rank its part). */
static spcnn_status train_batch(run *r, double *bpd)
{
    if (r->ds.streamed)
        return spcnn_model_train_step_mixed(r->model, r->slot_ptr + r->lo, r->slot_h + r->lo,
                                            r->slot_w + r->lo, r->hi - r->lo, bpd);
    return spcnn_model_train_step(r->model, r->batch_pixels, r->hi - r->lo, r->ds.train_h,
                                  r->ds.train_w, bpd);
}

/* Why a training loop stops, agreed by all ranks under mpirun (bits, ORed). */
enum { STOP_SIGNAL = 1, STOP_TIME = 2, STOP_READ = 4, STOP_FAILED = 8, STOP_PATIENCE = 16 };

/* The loop proper; returns the exit status. */
static int train_loop(run *r, uint64_t seed)
{
    r->perm_epoch = -1;
    int ok;
    if (r->ds.streamed) {
        ok = (r->slot = calloc(r->batch, sizeof *r->slot)) &&
             (r->slot_cap = calloc(r->batch, sizeof *r->slot_cap)) &&
             (r->slot_h = calloc(r->batch, sizeof *r->slot_h)) &&
             (r->slot_w = calloc(r->batch, sizeof *r->slot_w)) &&
             (r->slot_ptr = calloc(r->batch, sizeof *r->slot_ptr));
    } else {
        ok = (r->perm = malloc(r->ds.n_train * sizeof *r->perm)) &&
             (r->batch_pixels = malloc(r->batch * r->ds.train_h * r->ds.train_w));
    }
    if (!ok) {
        fprintf(stderr, "spcnn train: out of memory for the batch\n");
        return CLI_FAILED;
    }
    int rc = CLI_OK, numeric_failures = 0;
    long long step = r->start_step;
    size_t pos = (size_t)step; /* batches drawn so far: where the data order stands */
    spcnn_status st = SPCNN_OK;
    /* Reasons to stop: this rank's, and (under mpirun) every rank's, agreed before each step,
     * so that all ranks stop after the same step: a signal to any rank stops the job. */
    unsigned pending = 0, stop = 0;
    while (step < r->target_step) {
        unsigned mine = pending;
        if (cli_stop_signal)
            mine |= STOP_SIGNAL;
        if (r->args->minutes > 0 && cli_now() - r->start >= r->args->minutes * 60)
            mine |= STOP_TIME;
        double t0 = cli_now(), bpd = 0;
        if (!mine && read_batch(r, seed, pos) != CLI_OK)
            mine |= STOP_READ; /* saved below, then exit status 1 */
        if ((stop = cli_ranks_or(mine)) != 0)
            break;
        st = train_batch(r, &bpd);
        r->step_seconds += cli_now() - t0;
        pos++;
        if (st == SPCNN_ERR_NUMERIC && ++numeric_failures < MAX_NUMERIC_FAILURES) {
            /* The model is unchanged: skip this batch and go on. */
            cli_progress_end(&r->line);
            fprintf(stderr, "spcnn train: warning: batch %zu skipped: %s\n", pos,
                    spcnn_last_error_message());
            continue;
        }
        if (st != SPCNN_OK) {
            cli_progress_end(&r->line);
            rc = cli_fail("train", "training step", st);
            break;
        }
        numeric_failures = 0;
        step = (long long)stat_of(r, SPCNN_STAT_STEP);
        r->steps_done++;
        if (!isnan(bpd)) /* NaN: a VAE pretraining step, which runs no PixelCNN */
            r->bpd_ring[r->bpd_count++ % BPD_WINDOW] = bpd;
        show_progress(r, step, pos, 0);
        int epoch_end = pos % r->steps_per_epoch == 0;
        if (epoch_end && r->args->eval &&
            (pos / r->steps_per_epoch) % r->args->eval_every == 0) {
            st = evaluate(r, step, (double)pos / (double)r->steps_per_epoch);
            if (st != SPCNN_OK)
                break; /* the same status on every rank */
            /* Rank 0 holds the log of earlier runs: its count decides. */
            if (cli_rank == 0 && r->args->patience &&
                r->evals_since_best >= r->args->patience) {
                cli_progress_end(&r->line);
                printf("stopping: %lld evaluations since the best validation bits/dim, %.4f at "
                       "step %lld (--patience %lld)\n",
                       r->evals_since_best, r->best_valid, r->best_step, r->args->patience);
                fflush(stdout);
                pending |= STOP_PATIENCE; /* saved below */
                continue;
            }
        }
        if (r->args->checkpoint_every ? step % r->args->checkpoint_every == 0 : epoch_end) {
            if ((rc = checkpoint(r, step)) != CLI_OK)
                pending |= STOP_FAILED;
        }
    }
    if (stop == 0) /* the loop ended by itself: a failure to save the last step's checkpoint? */
        stop = cli_ranks_or(pending);
    const int read_failed = (stop & STOP_READ) != 0, failed = (stop & STOP_FAILED) != 0;
    if (stop & STOP_SIGNAL)
        r->signalled = 1;
    if (rc == CLI_OK && !r->signalled && st == SPCNN_OK && !read_failed && !failed)
        show_progress(r, step, pos, 1);
    /* Collective under mpirun: the conditions are the same on every rank. */
    if (rc == CLI_OK && st == SPCNN_OK && !r->signalled && !read_failed && !failed &&
        r->args->eval && step > r->start_step && r->last_eval_step != step)
        st = evaluate(r, step, (double)pos / (double)r->steps_per_epoch);
    cli_progress_end(&r->line);
    if (rc == CLI_OK && st != SPCNN_OK && !(st == SPCNN_ERR_CANCELLED && r->signalled))
        rc = cli_fail("train", "evaluating", st);
    if (rc == CLI_OK && r->last_save_step != step)
        rc = checkpoint(r, step);
    /* Stopped between evaluations: a line without validation figures carries the training
     * clock, so that a resumed run's minutes go on from here and not from the last evaluation
     * (scripts/paper.sh gives every row the same minutes across interruptions). */
    if (rc == CLI_OK && r->csv && r->args->eval && step > r->start_step &&
        r->last_eval_step != step) {
        fprintf(r->csv, "%.3f,%lld,%.4f,%.5f,nan,nan,nan\n", run_minutes(r), step,
                (double)pos / (double)r->steps_per_epoch, train_bpd(r));
        fflush(r->csv);
    }
    if (rc == CLI_OK && failed)
        rc = CLI_FAILED; /* rank 0 said why */
    if (rc == CLI_OK && r->signalled) {
        if (cli_rank == 0)
            fprintf(stderr, "spcnn train: stopped by %s at step %lld; checkpoint saved to %s "
                            "(continue with --resume %s)\n",
                    cli_stop_signal == SIGINT    ? "SIGINT"
                    : cli_stop_signal == SIGTERM ? "SIGTERM"
                                                 : "a signal to another rank",
                    step, r->args->out, r->args->out);
        rc = CLI_INTERRUPTED;
    }
    if (rc == CLI_OK && read_failed) {
        if (cli_rank == 0)
            fprintf(stderr, "spcnn train: stopped at step %lld; checkpoint saved to %s\n", step,
                    r->args->out);
        rc = CLI_FAILED;
    }
    if (cli_rank != 0) /* rank 0 fits the prior and reports */
        return rc;
    if (rc == CLI_OK && r->ds.streamed && r->args->prior_components > 0) {
        printf("the latent prior is not fitted for a streamed PNG folder (spcnn fit-prior "
               "takes images of one size): random samples draw z from N(0, I)\n");
    } else if (rc == CLI_OK && r->args->prior_components > 0 && r->steps_done > 0) {
        /* A small data set gets at most one component per image. */
        long long k = r->args->prior_components;
        if ((size_t)k > r->ds.n_train)
            k = (long long)r->ds.n_train;
        rc = cli_fit_prior_and_save("train", r->model, r->ds.train, r->ds.n_train,
                                    r->ds.train_h, r->ds.train_w, k, seed, r->args->out);
    }
    if (rc == CLI_OK) {
        char took[32];
        cli_format_duration(cli_now() - r->start, took, sizeof took);
        printf("trained %lld steps (now at step %lld) in %s; model: %s, log: %s\n",
               r->steps_done, step, took, r->args->out, r->csv_path);
    }
    return rc;
}

int cli_train(int argc, char **argv)
{
    train_args args = {.eval = 1, .eval_images = 100, .eval_every = 1, .validation = -1,
                       .prior_components = CLI_PRIOR_COMPONENTS};
    spcnn_config *cfg = NULL;
    spcnn_status st = spcnn_config_create(&cfg);
    if (st != SPCNN_OK)
        return cli_fail("train", "creating the configuration", st);
    int rc = parse_train_args(argc, argv, &args, cfg);
    if (rc != CLI_OK) {
        spcnn_config_destroy(cfg);
        return rc == ARGS_HELP ? CLI_OK : rc;
    }
    /* The outputs first: a typo in a path must not cost a training run (the model is saved
     * only after the first epoch). */
    int writable = 1; /* under mpirun rank 0 writes the files */
    if (cli_rank == 0) {
        char *log = log_path(args.out);
        if (!log)
            fprintf(stderr, "spcnn train: out of memory\n");
        writable = log && cli_check_output("train", args.out) && cli_check_append("train", log);
        free(log);
    }

    run r;
    memset(&r, 0, sizeof r);
    r.args = &args;
    r.last_eval_step = r.last_save_step = r.best_step = -1;
    cli_progress_init(&r.line);
    double batch_size = 0, seed = 0, pretrain = 0;
    if (!writable) {
        rc = CLI_FAILED;
        goto setup_done;
    }
    if (!cli_dataset_load_with("train", args.data, 1,
                               CLI_DATA_STREAM | (args.skip_bad ? CLI_DATA_SKIP_BAD : 0),
                               &r.ds)) {
        rc = CLI_FAILED;
        goto setup_done;
    }
    if (args.resume) {
        st = spcnn_model_load(args.resume, &r.model);
        if (st != SPCNN_OK) {
            rc = cli_fail("train", args.resume, st);
            goto setup_done;
        }
        if (args.threads && (st = spcnn_model_set_threads(r.model, (int)args.threads)) != SPCNN_OK) {
            rc = cli_fail("train", "setting the threads", st);
            goto setup_done;
        }
        if ((st = spcnn_model_get_config(r.model, cfg)) != SPCNN_OK) {
            rc = cli_fail("train", "reading the configuration", st);
            goto setup_done;
        }
    }
    double patch = 0;
    spcnn_config_get(cfg, SPCNN_CFG_PATCH_SIZE, &patch);
    r.patch = (size_t)patch;
    if (!cli_dataset_drop_small("train", &r.ds, r.patch, args.skip_bad)) {
        rc = CLI_FAILED;
        goto setup_done;
    }
    size_t n_valid = args.validation >= 0 ? (size_t)args.validation
                                          : cli_default_validation(r.ds.n_train);
    if (args.eval && n_valid == 0) {
        fprintf(stderr,
                "spcnn train: %s has too few training images to hold out a validation set; "
                "add --no-eval\n",
                args.data);
        rc = CLI_FAILED;
        goto setup_done;
    }
    if (!cli_dataset_hold_out(&r.ds, n_valid)) {
        rc = CLI_FAILED;
        goto setup_done;
    }
    spcnn_config_get(cfg, SPCNN_CFG_VAE_PRETRAIN_STEPS, &pretrain);
    r.pretrain_steps = (long long)pretrain;
    spcnn_config_get(cfg, SPCNN_CFG_BATCH_SIZE, &batch_size);
    spcnn_config_get(cfg, SPCNN_CFG_SEED, &seed);
    r.batch = (size_t)batch_size;
    if (r.ds.n_train < r.batch) {
        fprintf(stderr,
                "spcnn train: %s has %zu training images, fewer than one batch (batch_size "
                "%zu); use --batch-size\n",
                args.data, r.ds.n_train, r.batch);
        rc = CLI_FAILED;
        goto setup_done;
    }
    if (args.sizes_lo > 0 && r.ds.streamed) {
        fprintf(stderr, "spcnn train: --train-sizes is for data of one size; for a PNG folder "
                        "set --train-scale-min and --train-scale-max (scales of each image's "
                        "own size)\n");
        rc = CLI_USAGE;
        goto setup_done;
    }
    if (args.sizes_lo > 0) {
        /* Sizes of the data's height: scales of its images. */
        double h = (double)r.ds.train_h;
        if (args.sizes_lo < h ||
            spcnn_config_set(cfg, SPCNN_CFG_TRAIN_SCALE_MIN, args.sizes_lo / h) != SPCNN_OK ||
            spcnn_config_set(cfg, SPCNN_CFG_TRAIN_SCALE_MAX, args.sizes_hi / h) != SPCNN_OK) {
            fprintf(stderr,
                    "spcnn train: --train-sizes %g-%g: the sizes must be from the images' height "
                    "%g to 8 times it\n",
                    args.sizes_lo, args.sizes_hi, h);
            rc = CLI_USAGE;
            goto setup_done;
        }
        args.tuned |= 1u << SPCNN_CFG_TRAIN_SCALE_MIN | 1u << SPCNN_CFG_TRAIN_SCALE_MAX;
        args.tuned_value[SPCNN_CFG_TRAIN_SCALE_MIN] = args.sizes_lo / h;
        args.tuned_value[SPCNN_CFG_TRAIN_SCALE_MAX] = args.sizes_hi / h;
    }
    if (!args.resume && (st = spcnn_model_create(cfg, &r.model)) != SPCNN_OK) {
        rc = cli_fail("train", "creating the model", st);
        goto setup_done;
    }
    if (args.resume && args.tuned && !retune(r.model, &args, cfg)) {
        rc = CLI_USAGE;
        goto setup_done;
    }
    double share = 0, scale_max = 1;
    spcnn_config_get(cfg, SPCNN_CFG_TRAIN_NATIVE_SHARE, &share);
    spcnn_config_get(cfg, SPCNN_CFG_TRAIN_SCALE_MAX, &scale_max);
    if (share > 0 && scale_max <= 1)
        fprintf(stderr, "spcnn train: note: train_native_share %g changes nothing without "
                        "scale-aware training (--train-sizes): every step is at the images' "
                        "own size\n", share);
    double kl_weight = 1, use_latent = 1;
    spcnn_config_get(cfg, SPCNN_CFG_KL_WEIGHT, &kl_weight);
    spcnn_config_get(cfg, SPCNN_CFG_USE_LATENT, &use_latent);
    if (kl_weight != 1 && use_latent == 0)
        fprintf(stderr, "spcnn train: note: kl_weight %g changes nothing without the latent "
                        "code (use_latent 0)\n", kl_weight);
    /* No latent code, no prior to fit: a resumed run does not repeat the first run's
     * --prior-components 0, and fitting would fail after the training was done. */
    if (use_latent == 0)
        args.prior_components = 0;
    double train_precision = 0;
    spcnn_config_get(cfg, SPCNN_CFG_TRAIN_PRECISION, &train_precision);
    if (train_precision == 1 &&
        spcnn_model_set_option(r.model, SPCNN_CFG_TRAIN_PRECISION, 1) == SPCNN_ERR_UNSUPPORTED)
        fprintf(stderr, "spcnn train: note: train_precision bf16 needs a CPU with AVX-512 BF16; "
                        "this one trains in fp32\n");
    r.steps_per_epoch = r.ds.n_train / r.batch; /* a streamed folder: n_train images drawn */
    if (r.ds.streamed) {
        if (!(r.cum = malloc(r.ds.n_train * sizeof *r.cum))) {
            fprintf(stderr, "spcnn train: out of memory\n");
            rc = CLI_FAILED;
            goto setup_done;
        }
        folder_weights(&r);
    }
    r.start_step = (long long)stat_of(&r, SPCNN_STAT_STEP);
    r.target_step = LLONG_MAX;
    if (args.steps)
        r.target_step = args.steps;
    if (args.epochs && args.epochs * (long long)r.steps_per_epoch < r.target_step)
        r.target_step = args.epochs * (long long)r.steps_per_epoch;
    print_config(&r, cfg);
    if (r.start_step >= r.target_step)
        printf("the model is already at step %lld (target %lld): nothing to train\n",
               r.start_step, r.target_step);
    if ((size_t)cli_ranks > r.batch) {
        fprintf(stderr, "spcnn train: %d ranks share batches of %zu images: at least one image "
                        "each is needed (--batch-size)\n", cli_ranks, r.batch);
        rc = CLI_USAGE;
        goto setup_done;
    }
    /* Rank r trains on images [r·B/N, (r+1)·B/N) of each batch of B: the batch and its
     * random draws stay those of one process (docs/mpi.md). */
    r.lo = r.batch * (size_t)cli_rank / (size_t)cli_ranks;
    r.hi = r.batch * (size_t)(cli_rank + 1) / (size_t)cli_ranks;
    if (cli_ranks > 1)
        printf("ranks: %d (mpirun), each training on %zu to %zu images of each batch of %zu; "
               "rank 0 writes the model and the log\n",
               cli_ranks, r.batch / (size_t)cli_ranks,
               (r.batch + (size_t)cli_ranks - 1) / (size_t)cli_ranks, r.batch);
    cli_install_signal_handlers();
    if (cli_rank == 0 && !open_log(&r)) {
        fprintf(stderr, "spcnn train: cannot write %s.log.csv: %s\n", args.out, strerror(errno));
        rc = CLI_FAILED;
        goto setup_done;
    }
setup_done:
    /* Under mpirun every rank must be ready, or none trains: attaching is collective. */
    if (cli_ranks_or(rc != CLI_OK) != 0) {
        rc = rc != CLI_OK ? rc : CLI_FAILED;
        goto done;
    }
    if (cli_ranks > 1 &&
        (st = spcnn_model_set_communicator(r.model, cli_ranks_comm())) != SPCNN_OK) {
        rc = cli_fail("train", "attaching the model to the MPI ranks", st);
        goto done;
    }
    r.start = cli_now();
    rc = train_loop(&r, (uint64_t)seed);
done:
    for (size_t j = 0; r.slot && j < r.batch; j++)
        free(r.slot[j]);
    free(r.slot);
    free(r.slot_cap);
    free(r.slot_h);
    free(r.slot_w);
    free(r.slot_ptr);
    free(r.cum);
    free(r.perm);
    free(r.batch_pixels);
    if (r.csv)
        fclose(r.csv);
    free(r.csv_path);
    spcnn_model_destroy(r.model);
    cli_dataset_free(&r.ds);
    spcnn_config_destroy(cfg);
    return rc;
}
