/* Adam with L2, learning-rate decay, optional global-norm clipping and an EMA of the values:
 * one guarded loop over the parameter block (nn/params.h). docs/design.md, "Parameters and
 * optimiser", gives the formulas. */
#ifndef SPCNN_NN_OPTIM_H
#define SPCNN_NN_OPTIM_H

#include <stdint.h>

#include "nn/params.h"

typedef struct spcnn__optim {
    uint64_t t;       /* steps taken so far (0 before the first) */
    double lr;        /* base learning rate */
    double lr_decay;  /* step t uses lr * lr_decay^t */
    double beta1;     /* Adam's first-moment decay */
    double beta2;     /* Adam's second-moment decay */
    double eps;       /* Adam's denominator floor, 1e-8 */
    double l2;        /* g += l2 * w on every parameter (biases too) */
    double ema_decay; /* upper bound of the EMA decay; the warm-up lowers it early on */
    double clip_norm; /* > 0: scale the gradient down to this global L2 norm; 0: off */
    /* The step at which the moments were reset to zero in the middle of training (training
     * resumed from EMA-only weights), 0 if never. From there Adam restarts as a fresh Adam
     * would: bias corrections count the steps since the reset, and the learning rate warms
     * up linearly over 1 / (1 − β2) steps (2 000 at β2 0.9995), so that the moments are
     * estimated before the steps are large. Without it, zero moments under the bias
     * correction of step t made every weight move about (1 − β1) / sqrt(1 − β2) · lr ≈ 2.2 lr
     * at once and undid an hour of training. Saved with the training state (model files of
     * format 3); set back to 0 once it no longer changes anything (both corrections within
     * 1e-9 of 1, the warm-up over). */
    uint64_t reset_at;
} spcnn__optim;

typedef struct spcnn__optim_stats {
    double grad_norm; /* global L2 norm of the gradient buffer, before clipping and L2 */
    double lr;        /* learning rate this step used, lr * lr_decay^t */
    double ema_decay; /* effective EMA decay this step used */
    uint64_t step;    /* the optimiser's step count after this step (1 after the first) */
    int clipped;      /* 1 if clipping scaled the gradient down */
} spcnn__optim_stats;

/* Set the hyper-parameters (eps 1e-8, clipping off) and t = 0. */
void spcnn__optim_init(spcnn__optim *o, double lr, double lr_decay, double beta1, double beta2,
                       double l2, double ema_decay);

/* One step over the allocated table `p`: read the gradient buffer (left unchanged), update the
 * values, the Adam moments and the EMA, and advance o->t. `stats` may be NULL.
 * Returns SPCNN_ERR_NUMERIC, with a message naming the first parameter row holding a NaN or
 * infinite gradient (or the norm, if it is too large for Adam's second moment), and then
 * changes nothing: every buffer and o->t are as before. SPCNN_ERR_INVALID_ARGUMENT for a NULL
 * or unallocated table or hyper-parameters out of range. */
spcnn_status spcnn__optim_step(spcnn__params *p, spcnn__optim *o, spcnn__optim_stats *stats);

/* The same step for rows [row_begin, row_end) of the table only, as if it were their t-th
 * step (0-based): t sets the learning-rate decay, Adam's bias corrections and the EMA warm-up,
 * so a part of the model that starts training later (after a stage that froze it) starts as a
 * fresh Adam would (a reset after that start, reset_at, restarts it again with the warm-up). The other rows are not touched at all; o->t still advances by one, and the
 * gradient norm (and clipping) covers only these rows. t is at most o->t. */
spcnn_status spcnn__optim_step_rows(spcnn__params *p, spcnn__optim *o, size_t row_begin,
                                    size_t row_end, uint64_t t, spcnn__optim_stats *stats);

/* Global L2 norm of a buffer, accumulated in double (non-finite if any element is). */
double spcnn__params_norm(const spcnn__params *p, spcnn__param_buf buf);

#endif
