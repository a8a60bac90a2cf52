/* Data parallelism over MPI (parallel.c): a model attached to a communicator with
 * spcnn_model_set_communicator trains on its rank's shard of every batch, and the gradient is
 * summed over the ranks before the optimiser step. Without SPCNN_MPI no model is ever attached
 * and these functions are not reached (they return SPCNN_ERR_UNSUPPORTED). No MPI type appears
 * here: the communicator lives in parallel.c. */
#ifndef SPCNN_MODEL_PARALLEL_H
#define SPCNN_MODEL_PARALLEL_H

#include <stddef.h>

#include "spatialpixelcnn.h"

typedef struct spcnn__comm spcnn__comm;

/* Free the library's duplicate of the communicator (skipped once MPI is finalised). NULL is
 * allowed. Not collective. */
void spcnn__comm_destroy(spcnn__comm *c);

/* The rank and the number of ranks; 0 and 1 for NULL. */
int spcnn__comm_rank(const spcnn__comm *c);
int spcnn__comm_size(const spcnn__comm *c);

/* Collective, at the start of a step: every rank's shard size n (each at least 1) and the
 * status of its argument checks. On success *first is the number of images on the ranks
 * before this one and *total the whole batch. A failure on any rank fails every rank: its
 * own status, or SPCNN_ERR_COMMUNICATION naming the first rank that failed. */
spcnn_status spcnn__comm_shard(spcnn__comm *c, spcnn_status local, size_t n, size_t *first,
                               size_t *total);

/* Collective, between the backward pass and the optimiser step: the statuses of the ranks'
 * passes (combined as above), then the sums over the ranks of sums[0 .. nsums) and of
 * grad[0 .. count), both in place (one MPI_Allreduce over the whole gradient buffer). */
spcnn_status spcnn__comm_reduce(spcnn__comm *c, spcnn_status local, double *sums, int nsums,
                                float *grad, size_t count);

#endif
