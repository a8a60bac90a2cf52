/* Spreading spcnn's work over MPI ranks (ranks.c; docs/mpi.md). Built without SPCNN_MPI, or
 * started without mpirun, the program is one rank: cli_rank 0 of cli_ranks 1, and every
 * function here is the identity. Under mpirun the commands other than train and sample run
 * on rank 0 alone. */
#ifndef SPCNN_CLI_RANKS_H
#define SPCNN_CLI_RANKS_H

#include <stddef.h>
#include <stdint.h>

extern int cli_rank, cli_ranks;

/* MPI_Init when the program was started by mpirun (Open MPI, MPICH or a PMIx launcher set
 * their variables); the other ranks' stdout is silenced (rank 0 speaks for the job). */
void cli_ranks_start(int *argc, char ***argv);
/* MPI_Finalize, if started; returns status, which it may replace by CLI_FAILED when the job
 * could not be finalised. */
int cli_ranks_end(int status);
/* The communicator to attach a model to (spcnn_model_set_communicator): MPI_COMM_WORLD's
 * Fortran handle, or SPCNN_COMM_NONE in one process. */
int64_t cli_ranks_comm(void);
/* Collective: the bitwise OR of every rank's bits (the reasons to stop a training loop). */
unsigned cli_ranks_or(unsigned bits);
/* Collective: the sums over the ranks of v[0 .. n), in place. */
void cli_ranks_sum(double *v, int n);
/* Collective: rank r holds bytes [offset(r), offset(r) + counts[r]) of buf, offset(r) the sum
 * of the counts before it; afterwards rank 0 holds all of them. 0 on an MPI failure. */
int cli_ranks_gather(uint8_t *buf, const size_t *counts);

#endif
