#include "nn/dnnl_ctx.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

spcnn_status spcnn__dnnl_error(dnnl_status_t s, const char *what)
{
    switch (s) {
    case dnnl_success: return SPCNN_OK;
    case dnnl_out_of_memory:
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "oneDNN: %s: out of memory", what);
    case dnnl_invalid_arguments:
        return spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: %s: invalid arguments", what);
    case dnnl_unimplemented:
        return spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: %s: unimplemented", what);
    case dnnl_runtime_error:
        return spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: %s: runtime error", what);
    default:
        return spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: %s: status %d", what, (int)s);
    }
}

void spcnn__dnnl_enter(const spcnn__dnnl *ctx)
{
    omp_set_num_threads(ctx->threads);
}

static spcnn_status init(spcnn__dnnl *ctx, int threads, dnnl_engine_t engine)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->threads = threads > 0 ? threads : 1;
    spcnn__dnnl_enter(ctx);
    spcnn_status st;
    dnnl_status_t s = dnnl_success;
    ctx->engine = engine;
    if (engine == NULL) {
        s = dnnl_engine_create(&ctx->engine, dnnl_cpu, 0);
        ctx->owns_engine = 1;
    }
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, "engine create"));
    s = dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, "stream create"));
    return SPCNN_OK;
fail:
    spcnn__dnnl_deinit(ctx);
    return st;
}

spcnn_status spcnn__dnnl_init(spcnn__dnnl *ctx, int threads)
{
    return init(ctx, threads, NULL);
}

spcnn_status spcnn__dnnl_init_on(spcnn__dnnl *ctx, int threads, const spcnn__dnnl *parent)
{
    return init(ctx, threads, parent->engine);
}

void spcnn__dnnl_deinit(spcnn__dnnl *ctx)
{
    while (ctx->weights) {
        spcnn__dnnl_weights *e = ctx->weights;
        ctx->weights = e->next;
        if (e->mem)
            dnnl_memory_destroy(e->mem);
        spcnn__free_aligned(e->buf);
        spcnn__free(e);
    }
    if (ctx->scratch_mem)
        dnnl_memory_destroy(ctx->scratch_mem);
    spcnn__free_aligned(ctx->scratch);
    spcnn__free_aligned(ctx->bf16_input);
    spcnn__free_aligned(ctx->wgrad);
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine && ctx->owns_engine)
        dnnl_engine_destroy(ctx->engine);
    memset(ctx, 0, sizeof *ctx);
}

/* 1 when oneDNN may use every instruction of `isa` (its bits include the smaller ISAs'). */
static int has_isa(dnnl_cpu_isa_t isa)
{
    const unsigned have = (unsigned)dnnl_get_effective_cpu_isa();
    return (have & (unsigned)isa) == (unsigned)isa;
}

int spcnn__dnnl_has_bf16(void)
{
    return has_isa(dnnl_cpu_isa_avx512_core_bf16);
}

int spcnn__dnnl_has_amx(void)
{
    return has_isa(dnnl_cpu_isa_avx512_core_amx);
}

spcnn_status spcnn__dnnl_bf16_reserve(spcnn__dnnl *ctx, size_t n)
{
    if (n <= ctx->bf16_input_size)
        return SPCNN_OK;
    uint16_t *buffer = spcnn__malloc_aligned(n * sizeof *buffer);
    if (buffer == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "bf16 inputs of %zu bytes: out of memory",
                            n * sizeof *buffer);
    spcnn__free_aligned(ctx->bf16_input);
    ctx->bf16_input = buffer;
    ctx->bf16_input_size = n;
    return SPCNN_OK;
}

spcnn_status spcnn__dnnl_wgrad_reserve(spcnn__dnnl *ctx, size_t bytes)
{
    if (bytes <= ctx->wgrad_size)
        return SPCNN_OK;
    void *buffer = spcnn__malloc_aligned(bytes);
    if (buffer == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "weight-gradient workspace of %zu bytes: out of memory", bytes);
    spcnn__free_aligned(ctx->wgrad);
    ctx->wgrad = buffer;
    ctx->wgrad_size = bytes;
    return SPCNN_OK;
}

spcnn_status spcnn__dnnl_memory(spcnn__dnnl *ctx, dnnl_memory_t *mem,
                                const dnnl_memory_desc_t *md, void *handle)
{
    *mem = NULL;
    SPCNN_DNNL(dnnl_memory_create(mem, md, ctx->engine, handle ? handle : DNNL_MEMORY_NONE),
               "memory create");
    return SPCNN_OK;
}

static spcnn_status grow_scratchpad(spcnn__dnnl *ctx, size_t size)
{
    if (size <= ctx->scratch_size && ctx->scratch_mem != NULL)
        return SPCNN_OK;
    if (size < ctx->scratch_size)
        size = ctx->scratch_size;
    void *buffer = spcnn__malloc_aligned(size ? size : 64);
    if (buffer == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "scratchpad of %zu bytes: out of memory",
                            size);
    dnnl_dims_t dims = {(dnnl_dim_t)(size ? size : 64)};
    dnnl_memory_desc_t md;
    dnnl_memory_t mem = NULL;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a);
    if (s == dnnl_success)
        s = dnnl_memory_create(&mem, &md, ctx->engine, buffer);
    if (s != dnnl_success) {
        spcnn__free_aligned(buffer);
        return spcnn__dnnl_error(s, "scratchpad memory");
    }
    if (ctx->scratch_mem)
        dnnl_memory_destroy(ctx->scratch_mem);
    spcnn__free_aligned(ctx->scratch);
    ctx->scratch = buffer;
    ctx->scratch_size = size;
    ctx->scratch_mem = mem;
    return SPCNN_OK;
}

/* Whether the name of pd's implementation starts with prefix. */
static int impl_is(const_dnnl_primitive_desc_t pd, const char *prefix)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
           impl && strncmp(impl, prefix, strlen(prefix)) == 0;
}

static int acceptable(const_dnnl_primitive_desc_t pd, const char *prefer)
{
    return !impl_is(pd, SPCNN__DNNL_AVOIDED_IMPL) && (prefer == NULL || impl_is(pd, prefer));
}

/* Keep *pd (oneDNN's default) if it is acceptable; else replace it with the first
 * implementation oneDNN offers that is, or, if *pd is the avoided one, with the first that is
 * neither avoided nor oneDNN's reference code (whose silent 100x slowdown is worse; no
 * primitive of the library is in that case: tests/test_conv.c, test_guard_malloc). `prefer`
 * (may be NULL) is a wish, SPCNN__DNNL_AVOIDED_IMPL a rule. */
static void choose_impl(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t op,
                        const_dnnl_primitive_attr_t attr, dnnl_engine_t engine,
                        const_dnnl_primitive_desc_t hint, const char *prefer)
{
    if (acceptable(*pd, prefer))
        return;
    dnnl_primitive_desc_iterator_t it = NULL;
    if (dnnl_primitive_desc_iterator_create(&it, op, attr, engine, hint) != dnnl_success)
        return;
    dnnl_primitive_desc_t chosen = NULL, not_avoided = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        if (cand && acceptable(cand, prefer))
            chosen = cand;
        else if (cand && not_avoided == NULL && !impl_is(cand, SPCNN__DNNL_AVOIDED_IMPL) &&
                 !impl_is(cand, "ref"))
            not_avoided = cand;
        else if (cand)
            dnnl_primitive_desc_destroy(cand);
    } while (chosen == NULL && dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (chosen == NULL && impl_is(*pd, SPCNN__DNNL_AVOIDED_IMPL)) {
        chosen = not_avoided;
        not_avoided = NULL;
    }
    if (not_avoided)
        dnnl_primitive_desc_destroy(not_avoided);
    if (chosen) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = chosen;
    }
}

static spcnn_status create(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                           dnnl_primitive_desc_t *pd_out, const_dnnl_op_desc_t op,
                           const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                           const char *prefer, const char *what)
{
    *prim = NULL;
    if (pd_out)
        *pd_out = NULL;
    spcnn__dnnl_enter(ctx);
    dnnl_primitive_attr_t user_attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    spcnn_status st = SPCNN_OK;
    dnnl_status_t s = attr ? dnnl_primitive_attr_clone(&user_attr, attr)
                           : dnnl_primitive_attr_create(&user_attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(user_attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, op, user_attr, ctx->engine, hint);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, what));
    choose_impl(&pd, op, user_attr, ctx->engine, hint, prefer);

    const char *impl = NULL;
    s = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, what));
    if (ctx->forbid_reference_impl && impl && strncmp(impl, "ref", 3) == 0) {
        st = spcnn__error(SPCNN_ERR_BACKEND,
                          "oneDNN: %s: only the slow reference implementation \"%s\" is available",
                          what, impl);
        goto fail;
    }

    const dnnl_memory_desc_t *scratch_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    SPCNN_TRY_GOTO(st,
                   grow_scratchpad(ctx, scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0));
    s = dnnl_primitive_create(prim, pd);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, what));
    if (ctx->on_create)
        ctx->on_create(ctx->on_create_user, impl ? impl : "");
    dnnl_primitive_attr_destroy(user_attr);
    if (pd_out)
        *pd_out = pd;
    else
        dnnl_primitive_desc_destroy(pd);
    return SPCNN_OK;
fail:
    *prim = NULL;
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (user_attr)
        dnnl_primitive_attr_destroy(user_attr);
    return st;
}

spcnn_status spcnn__dnnl_primitive_create(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                                          dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t op,
                                          const_dnnl_primitive_attr_t attr,
                                          const_dnnl_primitive_desc_t hint, const char *what)
{
    return create(ctx, prim, pd, op, attr, hint, NULL, what);
}

spcnn_status spcnn__dnnl_primitive_create_preferring(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                                                     dnnl_primitive_desc_t *pd,
                                                     const_dnnl_op_desc_t op,
                                                     const char *prefer, const char *what)
{
    return create(ctx, prim, pd, op, NULL, NULL, prefer, what);
}

spcnn_status spcnn__dnnl_execute(spcnn__dnnl *ctx, dnnl_primitive_t prim, int nargs,
                                 dnnl_exec_arg_t *args, const char *what)
{
    args[nargs].arg = DNNL_ARG_SCRATCHPAD;
    args[nargs].memory = ctx->scratch_mem;
    SPCNN_DNNL(dnnl_primitive_execute(prim, ctx->stream, nargs + 1, args), what);
    SPCNN_DNNL(dnnl_stream_wait(ctx->stream), what);
    return SPCNN_OK;
}

spcnn_status spcnn__dnnl_weights_find(spcnn__dnnl *ctx, const float *source,
                                      const dnnl_memory_desc_t *md, spcnn__dnnl_weights **out)
{
    for (spcnn__dnnl_weights *e = ctx->weights; e; e = e->next)
        if (e->source == source && dnnl_memory_desc_equal(&e->md, md)) {
            *out = e;
            return SPCNN_OK;
        }
    *out = NULL;
    spcnn__dnnl_weights *e = spcnn__calloc(1, sizeof *e);
    if (e == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "reordered weights: out of memory");
    e->source = source;
    e->md = *md;
    e->buf = spcnn__malloc_aligned(dnnl_memory_desc_get_size(md));
    spcnn_status st = e->buf ? spcnn__dnnl_memory(ctx, &e->mem, md, e->buf)
                             : spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                                            "reordered weights: out of memory");
    if (st != SPCNN_OK) {
        spcnn__free_aligned(e->buf);
        spcnn__free(e);
        return st;
    }
    e->next = ctx->weights;
    ctx->weights = e;
    *out = e;
    return SPCNN_OK;
}

spcnn_status spcnn__dnnl_set_handle(dnnl_memory_t mem, const void *handle)
{
    SPCNN_DNNL(dnnl_memory_set_data_handle(mem, (void *)(uintptr_t)handle), "set memory handle");
    return SPCNN_OK;
}
