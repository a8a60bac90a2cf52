/* The oneDNN context of a model: engine, stream, thread count and the shared user-mode
 * scratchpad. Primitives are created through it (at plan time, never inside a step) and
 * executed through it (which supplies the scratchpad). */
#ifndef SPCNN_NN_DNNL_CTX_H
#define SPCNN_NN_DNNL_CTX_H

#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/error.h"

/* Weights reordered into a primitive's chosen layout for forward-only layers, kept by the
 * context and shared by every layer that reads the same source buffer in the same layout (the
 * same layer in plans of different batch sizes, whole-network and corner plans): one copy per
 * context instead of one per layer object. Refreshed when the context's weights_version moves. */
typedef struct spcnn__dnnl_weights {
    struct spcnn__dnnl_weights *next;
    const float *source;
    int filled;       /* 0 until the first reorder */
    uint64_t version; /* the context's weights_version at the last reorder */
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    void *buf;
} spcnn__dnnl_weights;

/* The implementation no primitive is ever created on (a prefix of its name): oneDNN 2.6.3's AMX
 * brgemm convolution for kernels larger than 1x1 ("brgconv:avx512_core_amx_bf16"; its 1x1 one
 * is "brgconv_1x1:"), whose kernel generator reads past one of its own heap blocks for nearly
 * every shape: a guard-page allocator faults in primitive creation (docs/benchmarks.md, "The
 * committed code in bf16"). */
#define SPCNN__DNNL_AVOIDED_IMPL "brgconv:avx512_core_amx"

typedef struct spcnn__dnnl {
    dnnl_engine_t engine;
    int owns_engine; /* 0: another context's, which outlives this one */
    dnnl_stream_t stream;
    int threads;
    /* When set, creating a primitive whose implementation is oneDNN's reference code ("ref:")
     * fails: those are the silent 100x slow paths. Tests set it. */
    int forbid_reference_impl;
    /* When set, called with the implementation's name of every primitive created. Tests. */
    void (*on_create)(void *user, const char *impl);
    void *on_create_user;
    /* Bumped whenever parameter values change in place (each optimiser step): forward-only
     * layers keep weights reordered for oneDNN until it changes. */
    uint64_t weights_version;
    /* One scratchpad shared by every primitive of the context (they run one at a time). */
    void *scratch;
    size_t scratch_size;
    dnnl_memory_t scratch_mem;
    spcnn__dnnl_weights *weights; /* list of the shared reordered weights */
    /* bf16 convolutions' inputs, converted from fp32 just before each runs: one buffer for
     * all of them, as large as the largest (spcnn__dnnl_bf16_reserve). */
    uint16_t *bf16_input;
    size_t bf16_input_size; /* elements */
    /* bf16 training layers' weight gradients: the input's columns (bf16) and the product
     * (fp32); the columns and permuted weights of layers that go by columns, and the tap
     * products (or their gradient) and permuted weights (and weight gradient) of transposed
     * layers that go by taps (conv.h). One buffer for all of them (spcnn__dnnl_wgrad_reserve). */
    void *wgrad;
    size_t wgrad_size; /* bytes */
} spcnn__dnnl;

spcnn_status spcnn__dnnl_init(spcnn__dnnl *ctx, int threads);
/* A context on `parent`'s engine (own stream, scratchpad and weights): oneDNN's primitive cache
 * is per engine, so contexts that share one share identical primitives (their kernels and
 * memory) instead of each building its own. Executing one primitive from several threads at
 * once is safe with user-mode scratchpads. */
spcnn_status spcnn__dnnl_init_on(spcnn__dnnl *ctx, int threads, const spcnn__dnnl *parent);
void spcnn__dnnl_deinit(spcnn__dnnl *ctx);

/* Translate a oneDNN status into a spcnn status with a message naming `what`. */
spcnn_status spcnn__dnnl_error(dnnl_status_t s, const char *what);

#define SPCNN_DNNL(call, what)                                  \
    do {                                                        \
        dnnl_status_t spcnn_dnnl_ = (call);                     \
        if (spcnn_dnnl_ != dnnl_success)                        \
            return spcnn__dnnl_error(spcnn_dnnl_, (what));      \
    } while (0)

/* Create a primitive (and its descriptor, returned in *pd for format queries; may be NULL if
 * not wanted) with a user-mode scratchpad; grows the context's scratchpad as needed.
 * `attr` may be NULL; it is copied, not kept. `hint` is the forward descriptor for backward
 * primitives, else NULL. On failure *prim and *pd are NULL. */
spcnn_status spcnn__dnnl_primitive_create(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                                          dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t op,
                                          const_dnnl_primitive_attr_t attr,
                                          const_dnnl_primitive_desc_t hint, const char *what);

/* The same without attributes or hint, taking the first implementation whose name starts with
 * `prefer` where oneDNN has one (else its default). Neither ever takes an implementation known
 * to misbehave (SPCNN__DNNL_AVOIDED_IMPL). */
spcnn_status spcnn__dnnl_primitive_create_preferring(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                                                     dnnl_primitive_desc_t *pd,
                                                     const_dnnl_op_desc_t op,
                                                     const char *prefer, const char *what);

/* Execute with the scratchpad appended to args (args must have room for nargs + 1 entries).
 * Runs in the calling thread with the context's thread count. */
spcnn_status spcnn__dnnl_execute(spcnn__dnnl *ctx, dnnl_primitive_t prim, int nargs,
                                 dnnl_exec_arg_t *args, const char *what);

/* A memory object over a caller buffer (handle may be NULL and set later with
 * dnnl_memory_set_data_handle). */
spcnn_status spcnn__dnnl_memory(spcnn__dnnl *ctx, dnnl_memory_t *mem,
                                const dnnl_memory_desc_t *md, void *handle);

/* Point a memory object at a caller buffer (oneDNN wants a non-const handle even for inputs it
 * only reads). */
spcnn_status spcnn__dnnl_set_handle(dnnl_memory_t mem, const void *handle);

/* The context's copy of `source` in layout md, created (unfilled, with its buffer) when there is
 * none yet. Valid until spcnn__dnnl_deinit. */
spcnn_status spcnn__dnnl_weights_find(spcnn__dnnl *ctx, const float *source,
                                      const dnnl_memory_desc_t *md, spcnn__dnnl_weights **out);

/* 1 when oneDNN may use the CPU's AVX-512 BF16 instructions (the bf16 convolutions are then
 * native, not emulated or reference code). */
int spcnn__dnnl_has_bf16(void);
/* 1 when oneDNN may use the CPU's AMX tiles for bf16 (Intel Xeon since Sapphire Rapids). */
int spcnn__dnnl_has_amx(void);

/* Make the context's bf16 input buffer hold at least n elements (at plan time). */
spcnn_status spcnn__dnnl_bf16_reserve(spcnn__dnnl *ctx, size_t n);

/* Make the context's weight-gradient workspace hold at least `bytes` (at plan time). */
spcnn_status spcnn__dnnl_wgrad_reserve(spcnn__dnnl *ctx, size_t bytes);

/* Set the OpenMP thread count of the calling thread to the context's; called on entry of
 * every computing API function because the count is a per-thread setting. */
void spcnn__dnnl_enter(const spcnn__dnnl *ctx);

#endif
