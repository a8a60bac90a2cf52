/* Data parallelism over MPI: spcnn_model_set_communicator, the collectives of a training step
 * (train.c) and the rank queries (docs/mpi.md). The library calls MPI only from the thread
 * that called it, never from oneDNN's OpenMP workers. */
#include "model/parallel.h"

#include <limits.h>
#include <string.h>

#include "core/alloc.h"
#include "model/model.h"

#ifdef SPCNN_HAVE_MPI
#include <mpi.h>

struct spcnn__comm {
    MPI_Comm comm; /* a duplicate of the caller's: the library's messages never meet theirs */
    int rank, size;
    unsigned long long *shards; /* size × 2: each rank's (status, shard size) of a step */
};

/* Elements per MPI call: counts are ints. */
enum { CHUNK = 1 << 26 };

static spcnn_status mpi_failed(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = '\0';
    return spcnn__error(SPCNN_ERR_COMMUNICATION, "%s: MPI error %d: %s", what, rc, text);
}

#define MPI_TRY(call, what)                      \
    do {                                         \
        int mpi_rc_ = (call);                    \
        if (mpi_rc_ != MPI_SUCCESS)              \
            return mpi_failed(mpi_rc_, (what));  \
    } while (0)

void spcnn__comm_destroy(spcnn__comm *c)
{
    if (c == NULL)
        return;
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!finalized && c->comm != MPI_COMM_NULL)
        MPI_Comm_free(&c->comm);
    spcnn__free(c->shards);
    spcnn__free(c);
}

int spcnn__comm_rank(const spcnn__comm *c)
{
    return c ? c->rank : 0;
}

int spcnn__comm_size(const spcnn__comm *c)
{
    return c ? c->size : 1;
}

/* Every rank's status: the first failure (lowest rank) fails them all. A rank returns its own
 * failure, the others SPCNN_ERR_COMMUNICATION naming it. */
static spcnn_status agree(MPI_Comm comm, int rank, spcnn_status local, const char *what)
{
    /* MINLOC of (failed ? rank : INT_MAX) finds the first failing rank; its status travels
     * with it in a second int pair. */
    struct {
        int key, rank;
    } in = {local != SPCNN_OK ? rank : INT_MAX, rank}, out;
    MPI_TRY(MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, comm), what);
    if (out.key == INT_MAX)
        return SPCNN_OK;
    int status = (int)local;
    MPI_TRY(MPI_Bcast(&status, 1, MPI_INT, out.key, comm), what);
    if (local != SPCNN_OK)
        return local;
    return spcnn__error(SPCNN_ERR_COMMUNICATION, "%s: rank %d failed (%s)", what, out.key,
                        spcnn_status_string((spcnn_status)status));
}

spcnn_status spcnn__comm_shard(spcnn__comm *c, spcnn_status local, size_t n, size_t *first,
                               size_t *total)
{
    unsigned long long mine[2] = {(unsigned long long)local, local == SPCNN_OK ? n : 0};
    MPI_TRY(MPI_Allgather(mine, 2, MPI_UNSIGNED_LONG_LONG, c->shards, 2,
                          MPI_UNSIGNED_LONG_LONG, c->comm),
            "train step: sharing the shard sizes");
    *first = 0;
    *total = 0;
    for (int r = 0; r < c->size; r++) {
        spcnn_status s = (spcnn_status)c->shards[2 * r];
        if (s != SPCNN_OK)
            return local != SPCNN_OK ? local
                                     : spcnn__error(SPCNN_ERR_COMMUNICATION,
                                                    "train step: rank %d failed (%s)", r,
                                                    spcnn_status_string(s));
        if (r < c->rank)
            *first += (size_t)c->shards[2 * r + 1];
        *total += (size_t)c->shards[2 * r + 1];
    }
    SPCNN_CHECK_ARG(*total <= 65536 * (size_t)c->size,
                    "train step: batch of %zu images over %d ranks", *total, c->size);
    return SPCNN_OK;
}

spcnn_status spcnn__comm_reduce(spcnn__comm *c, spcnn_status local, double *sums, int nsums,
                                float *grad, size_t count)
{
    SPCNN_TRY(agree(c->comm, c->rank, local, "train step"));
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, nsums, MPI_DOUBLE, MPI_SUM, c->comm),
            "train step: summing the loss over the ranks");
    for (size_t at = 0; at < count; at += CHUNK) {
        const int len = (int)(count - at < CHUNK ? count - at : CHUNK);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, grad + at, len, MPI_FLOAT, MPI_SUM, c->comm),
                "train step: summing the gradient over the ranks");
    }
    return SPCNN_OK;
}

/* The state that rank 0 hands the others, apart from the parameter buffers. */
typedef struct shared_state {
    spcnn__optim optim;
    uint64_t images_seen;
    int has_training_state;
} shared_state;

/* The configuration keys that may differ between ranks: they do not change training. */
static int per_process_key(int key)
{
    return key == SPCNN_CFG_THREADS || key == SPCNN_CFG_TEMPERATURE ||
           key == SPCNN_CFG_SCHEDULE;
}

/* Collective over the new duplicate: compare the network with rank 0's, then copy rank 0's
 * parameters, moving average, Adam moments and step to every rank. */
static spcnn_status attach(spcnn_model *m, spcnn__comm *c, spcnn_status local)
{
    /* Rank 0's configuration and table, compared on every rank. */
    double ref[SPCNN__CONFIG_KEY_END + 3];
    memcpy(ref, m->cfg.values, sizeof m->cfg.values);
    ref[SPCNN__CONFIG_KEY_END] = (double)m->params.nrows;
    ref[SPCNN__CONFIG_KEY_END + 1] = (double)m->params.total;
    ref[SPCNN__CONFIG_KEY_END + 2] = (double)m->params.nvalues;
    MPI_TRY(MPI_Bcast(ref, SPCNN__CONFIG_KEY_END + 3, MPI_DOUBLE, 0, c->comm),
            "model set communicator: sharing rank 0's configuration");
    for (int k = 1; k < SPCNN__CONFIG_KEY_END && local == SPCNN_OK; k++)
        if (!per_process_key(k) && !(ref[k] == m->cfg.values[k]))
            local = spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                                 "model set communicator: %s is %g on rank %d but %g on rank 0: "
                                 "every rank needs the same model",
                                 spcnn_config_key_name((spcnn_config_key)k), m->cfg.values[k],
                                 c->rank, ref[k]);
    if (local == SPCNN_OK && (ref[SPCNN__CONFIG_KEY_END] != (double)m->params.nrows ||
                              ref[SPCNN__CONFIG_KEY_END + 1] != (double)m->params.total ||
                              ref[SPCNN__CONFIG_KEY_END + 2] != (double)m->params.nvalues))
        local = spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                             "model set communicator: rank %d's parameter table differs from "
                             "rank 0's", c->rank);
    SPCNN_TRY(agree(c->comm, c->rank, local, "model set communicator"));

    shared_state s = {m->optim, m->images_seen, m->has_training_state};
    MPI_TRY(MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, c->comm),
            "model set communicator: broadcasting the optimiser state");
    const size_t count = (size_t)SPCNN__BUF_COUNT * m->params.total;
    for (size_t at = 0; at < count; at += CHUNK) {
        const int len = (int)(count - at < CHUNK ? count - at : CHUNK);
        MPI_TRY(MPI_Bcast(m->params.block + at, len, MPI_FLOAT, 0, c->comm),
                "model set communicator: broadcasting the parameters");
    }
    m->optim = s.optim;
    m->images_seen = s.images_seen;
    m->has_training_state = s.has_training_state;
    m->ctx.weights_version++; /* the weights may have changed */
    return SPCNN_OK;
}

spcnn_status spcnn_model_set_communicator(spcnn_model *model, int64_t comm)
{
    SPCNN_CHECK_ARG(model != NULL, "model set communicator: model is NULL");
    if (comm == SPCNN_COMM_NONE) {
        spcnn__comm_destroy(model->comm);
        model->comm = NULL;
        return SPCNN_OK;
    }
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    SPCNN_CHECK_ARG(initialized && !finalized,
                    "model set communicator: MPI is %s", finalized ? "finalised" : "not "
                    "initialised (call MPI_Init first)");
    SPCNN_CHECK_ARG(comm >= INT_MIN && comm <= INT_MAX && (int64_t)(MPI_Fint)comm == comm,
                    "model set communicator: %lld is not a Fortran communicator handle "
                    "(MPI_Comm_c2f)", (long long)comm);
    MPI_Comm user = MPI_Comm_f2c((MPI_Fint)comm);
    SPCNN_CHECK_ARG(user != MPI_COMM_NULL, "model set communicator: the communicator is "
                    "MPI_COMM_NULL");
    spcnn__comm *c = spcnn__calloc(1, sizeof *c);
    if (c == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "model set communicator: out of memory");
    c->comm = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(user, &c->comm);
    if (rc != MPI_SUCCESS) {
        spcnn__comm_destroy(c);
        return mpi_failed(rc, "model set communicator: MPI_Comm_dup");
    }
    /* Failures come back as codes (spcnn_status), not as the default abort. */
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    spcnn_status local = SPCNN_OK;
    c->shards = spcnn__malloc((size_t)c->size * 2 * sizeof *c->shards);
    if (c->shards == NULL)
        local = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                             "model set communicator: out of memory for %d ranks", c->size);
    spcnn_status st = attach(model, c, local);
    if (st != SPCNN_OK) {
        spcnn__comm_destroy(c);
        return st;
    }
    spcnn__comm_destroy(model->comm);
    model->comm = c;
    return SPCNN_OK;
}

#else /* without MPI: no model is ever attached */

void spcnn__comm_destroy(spcnn__comm *c)
{
    (void)c;
}

int spcnn__comm_rank(const spcnn__comm *c)
{
    (void)c;
    return 0;
}

int spcnn__comm_size(const spcnn__comm *c)
{
    (void)c;
    return 1;
}

spcnn_status spcnn__comm_shard(spcnn__comm *c, spcnn_status local, size_t n, size_t *first,
                               size_t *total)
{
    (void)c, (void)local, (void)n, (void)first, (void)total;
    return spcnn__error(SPCNN_ERR_UNSUPPORTED, "train step: built without MPI");
}

spcnn_status spcnn__comm_reduce(spcnn__comm *c, spcnn_status local, double *sums, int nsums,
                                float *grad, size_t count)
{
    (void)c, (void)local, (void)sums, (void)nsums, (void)grad, (void)count;
    return spcnn__error(SPCNN_ERR_UNSUPPORTED, "train step: built without MPI");
}

spcnn_status spcnn_model_set_communicator(spcnn_model *model, int64_t comm)
{
    SPCNN_CHECK_ARG(model != NULL, "model set communicator: model is NULL");
    if (comm == SPCNN_COMM_NONE)
        return SPCNN_OK;
    return spcnn__error(SPCNN_ERR_UNSUPPORTED,
                        "model set communicator: this build of libspatialpixelcnn has no MPI "
                        "support (configure it with -DSPCNN_MPI=ON)");
}

#endif
