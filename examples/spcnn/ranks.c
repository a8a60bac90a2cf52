/* The MPI side of spcnn (ranks.h): the library trains data-parallel by itself once a model is
 * attached to a communicator; the program starts MPI, agrees on when to stop and gathers
 * generated images. */
#define _POSIX_C_SOURCE 200809L

#include "ranks.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cli_rank = 0, cli_ranks = 1;

#ifdef SPCNN_HAVE_MPI
#include <limits.h>
#include <mpi.h>

static int started;

void cli_ranks_start(int *argc, char ***argv)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return; /* not started by mpirun: one process, no MPI */
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "spcnn: MPI_Init failed; running as one process\n");
        return;
    }
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &cli_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &cli_ranks);
    if (cli_rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "spcnn: rank %d: cannot silence stdout\n", cli_rank);
}

int cli_ranks_end(int status)
{
    if (started && MPI_Finalize() != MPI_SUCCESS && status == CLI_OK)
        status = CLI_FAILED;
    return status;
}

int64_t cli_ranks_comm(void)
{
    return started ? (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD) : SPCNN_COMM_NONE;
}

unsigned cli_ranks_or(unsigned bits)
{
    unsigned all = bits;
    if (started)
        MPI_Allreduce(&bits, &all, 1, MPI_UNSIGNED, MPI_BOR, MPI_COMM_WORLD);
    return all;
}

void cli_ranks_sum(double *v, int n)
{
    if (started)
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int cli_ranks_gather(uint8_t *buf, const size_t *counts)
{
    if (!started)
        return 1;
    /* Rank r's block to rank 0, one message per rank in rank order (blocks may exceed an
     * int's count: sent in pieces). */
    enum { PIECE = 1 << 30 };
    size_t offset = 0;
    for (int r = 0; r < cli_ranks; r++) {
        for (size_t done = 0; done < counts[r]; done += PIECE) {
            int len = (int)(counts[r] - done < PIECE ? counts[r] - done : PIECE);
            if (r == 0)
                continue;
            int rc = MPI_SUCCESS;
            if (cli_rank == r)
                rc = MPI_Send(buf + offset + done, len, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
            else if (cli_rank == 0)
                rc = MPI_Recv(buf + offset + done, len, MPI_BYTE, r, 0, MPI_COMM_WORLD,
                              MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                return 0;
        }
        offset += counts[r];
    }
    return 1;
}

#else

void cli_ranks_start(int *argc, char ***argv)
{
    (void)argc, (void)argv;
}

int cli_ranks_end(int status)
{
    return status;
}

int64_t cli_ranks_comm(void)
{
    return SPCNN_COMM_NONE;
}

unsigned cli_ranks_or(unsigned bits)
{
    return bits;
}

void cli_ranks_sum(double *v, int n)
{
    (void)v, (void)n;
}

int cli_ranks_gather(uint8_t *buf, const size_t *counts)
{
    (void)buf, (void)counts;
    return 1;
}

#endif
