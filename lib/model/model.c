/* The public model API: creation, files, settings and statistics. Training is in train.c,
 * encoding, likelihood and evaluation in evaluate.c, generation in sample.c; each builds its
 * plans on first use (plan.h). */
#include "model/model.h"

#include "core/alloc.h"
#include "model/parallel.h"
#include "model/plan.h"

/* The forward-only plans (sampling, evaluation): those the precision changes. */
static void drop_forward_plans(spcnn_model *m)
{
    spcnn__sample_plans_destroy(m);
    spcnn__eval_plan_destroy(m->eval);
    m->eval = NULL;
}

static void drop_plans(spcnn_model *m)
{
    drop_forward_plans(m);
    spcnn__train_plan_destroy(m->train);
    m->train = NULL;
}

/* ---- creation ----------------------------------------------------------------------------- */

spcnn_status spcnn__model_new_checked(const spcnn_config *cfg, spcnn__table_check check,
                                      const void *arg, spcnn_model **out)
{
    *out = NULL;
    spcnn_model *m = spcnn__calloc(1, sizeof *m);
    if (m == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "model create: out of memory");
    m->cfg = *cfg;
    m->m = spcnn__config_int(cfg, SPCNN_CFG_PATCH_SIZE);
    m->f = spcnn__config_int(cfg, SPCNN_CFG_NR_FILTERS);
    m->r = spcnn__config_int(cfg, SPCNN_CFG_NR_RESNET);
    m->k = spcnn__config_int(cfg, SPCNN_CFG_NR_MIX);
    m->latent = spcnn__config_int(cfg, SPCNN_CFG_LATENT_SIZE);
    m->image_size = spcnn__config_int(cfg, SPCNN_CFG_IMAGE_SIZE);
    m->use_coords = spcnn__config_int(cfg, SPCNN_CFG_USE_COORDS);
    m->grid_mode = !m->use_coords ? SPCNN__GRID_NONE
                   : spcnn__config_int(cfg, SPCNN_CFG_GRID_RESAMPLE) ? SPCNN__GRID_ENDPOINTS
                                                                     : SPCNN__GRID_HALF_PIXEL;
    m->use_latent = spcnn__config_int(cfg, SPCNN_CFG_USE_LATENT);
    m->threads = spcnn__config_int(cfg, SPCNN_CFG_THREADS);
    m->scale_min = spcnn__config_value(cfg, SPCNN_CFG_TRAIN_SCALE_MIN);
    m->scale_max = spcnn__config_value(cfg, SPCNN_CFG_TRAIN_SCALE_MAX);
    m->native_share = spcnn__config_value(cfg, SPCNN_CFG_TRAIN_NATIVE_SHARE);
    m->bf16 = spcnn__config_int(cfg, SPCNN_CFG_PRECISION) == 1 && spcnn__dnnl_has_bf16();
    m->train_bf16 =
        spcnn__config_int(cfg, SPCNN_CFG_TRAIN_PRECISION) == 1 && spcnn__dnnl_has_bf16();
    m->vae_pretrain_steps = (uint64_t)spcnn__config_value(cfg, SPCNN_CFG_VAE_PRETRAIN_STEPS);
    m->kl_weight = (float)spcnn__config_value(cfg, SPCNN_CFG_KL_WEIGHT);
    if (m->vae_pretrain_steps > 0 && !m->use_latent) {
        spcnn__free(m);
        return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                            "model create: vae_pretrain_steps needs the latent code "
                            "(use_latent = 1)");
    }
    if (m->scale_min > m->scale_max) {
        double lo = m->scale_min, hi = m->scale_max;
        spcnn__free(m);
        return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                            "model create: train_scale_min %g is above train_scale_max %g", lo,
                            hi);
    }
    m->has_training_state = 1;
    spcnn__params_init(&m->params);
    spcnn_status st;
    SPCNN_TRY_GOTO(st, spcnn__dnnl_init(&m->ctx, m->threads));
    spcnn__pixelcnn_shape ps = spcnn__model_pixelcnn_shape(m, 1, 1);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_add_params(&m->params, &ps, &m->pc_rows));
    m->vae_rows_begin = m->vae_rows_end = m->params.nrows;
    if (m->use_latent) {
        spcnn__vae_shape vs = spcnn__model_vae_shape(m, 1, 1);
        SPCNN_TRY_GOTO(st, spcnn__vae_add_params(&m->params, &vs, &m->vae_rows_begin,
                                                 &m->vae_rows_end));
    }
    if (check)
        SPCNN_TRY_GOTO(st, check(&m->params, arg));
    SPCNN_TRY_GOTO(st, spcnn__params_allocate(&m->params));
    spcnn__params_init_values(&m->params, (uint64_t)spcnn__config_value(cfg, SPCNN_CFG_SEED));
    spcnn__optim_init(&m->optim, spcnn__config_value(cfg, SPCNN_CFG_LEARNING_RATE),
                      spcnn__config_value(cfg, SPCNN_CFG_LR_DECAY),
                      spcnn__config_value(cfg, SPCNN_CFG_ADAM_BETA1),
                      spcnn__config_value(cfg, SPCNN_CFG_ADAM_BETA2),
                      spcnn__config_value(cfg, SPCNN_CFG_L2),
                      spcnn__config_value(cfg, SPCNN_CFG_EMA_DECAY));
    m->last[SPCNN_STAT_PARAMETERS] = (double)m->params.nvalues;
    *out = m;
    return SPCNN_OK;
fail:
    spcnn_model_destroy(m);
    return st;
}

spcnn_status spcnn__model_new(const spcnn_config *cfg, spcnn_model **out)
{
    return spcnn__model_new_checked(cfg, NULL, NULL, out);
}

spcnn_status spcnn_model_create(const spcnn_config *cfg, spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model create: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(cfg != NULL, "model create: cfg is NULL");
    return spcnn__model_new(cfg, out);
}

void spcnn_model_destroy(spcnn_model *model)
{
    if (model == NULL)
        return;
    drop_plans(model);
    spcnn__comm_destroy(model->comm);
    spcnn__params_deinit(&model->params);
    spcnn__prior_clear(&model->prior);
    spcnn__dnnl_deinit(&model->ctx);
    spcnn__free(model);
}

spcnn_status spcnn_model_load(const char *path, spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model load: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(path != NULL, "model load: path is NULL");
    return spcnn__model_file_load(path, out);
}

spcnn_status spcnn_model_save(spcnn_model *model, const char *path, int with_training_state)
{
    SPCNN_CHECK_ARG(model != NULL && path != NULL, "model save: NULL argument");
    SPCNN_CHECK_ARG(with_training_state == 0 || with_training_state == 1,
                    "model save: with_training_state must be 0 or 1, not %d",
                    with_training_state);
    return spcnn__model_file_save(model, path, with_training_state);
}

spcnn_status spcnn_model_get_config(const spcnn_model *model, spcnn_config *cfg)
{
    SPCNN_CHECK_ARG(model != NULL && cfg != NULL, "model get config: NULL argument");
    *cfg = model->cfg;
    cfg->values[SPCNN_CFG_THREADS] = model->threads;
    return SPCNN_OK;
}

spcnn_status spcnn_model_set_threads(spcnn_model *model, int threads)
{
    SPCNN_CHECK_ARG(model != NULL, "model set threads: model is NULL");
    double lo, hi;
    spcnn_config_bounds(SPCNN_CFG_THREADS, &lo, &hi, NULL);
    SPCNN_CHECK_ARG(threads >= lo && threads <= hi,
                    "model set threads: threads = %d is out of range [%g, %g]", threads, lo, hi);
    if (threads == model->threads)
        return SPCNN_OK;
    /* Primitives fix their thread count at creation: rebuild everything on the next call. */
    spcnn__dnnl fresh;
    SPCNN_TRY(spcnn__dnnl_init(&fresh, threads));
    drop_plans(model);
    spcnn__dnnl_deinit(&model->ctx);
    model->ctx = fresh;
    model->threads = threads;
    return SPCNN_OK;
}

spcnn_status spcnn_model_set_option(spcnn_model *model, spcnn_config_key key, double value)
{
    SPCNN_CHECK_ARG(model != NULL, "model set option: model is NULL");
    switch (key) {
    case SPCNN_CFG_THREADS: {
        /* Validate as a config value first, for the common message. */
        spcnn_config probe = model->cfg;
        SPCNN_TRY(spcnn_config_set(&probe, key, value));
        return spcnn_model_set_threads(model, (int)value);
    }
    case SPCNN_CFG_TEMPERATURE:
    case SPCNN_CFG_SCHEDULE:
        return spcnn_config_set(&model->cfg, key, value);
    case SPCNN_CFG_PRECISION:
    case SPCNN_CFG_TRAIN_PRECISION: {
        spcnn_config probe = model->cfg;
        SPCNN_TRY(spcnn_config_set(&probe, key, value));
        const char *name = spcnn_config_key_name(key);
        if (value == 1 && !spcnn__dnnl_has_bf16())
            return spcnn__error(SPCNN_ERR_UNSUPPORTED,
                                "model set option: %s bf16 needs a CPU with AVX-512 BF16 "
                                "(oneDNN reports none here); fp32 is kept",
                                name);
        /* Plans are built for one precision: rebuild the ones it steers on next use. */
        int *flag = key == SPCNN_CFG_PRECISION ? &model->bf16 : &model->train_bf16;
        if ((value == 1) != *flag) {
            if (key == SPCNN_CFG_PRECISION) {
                drop_forward_plans(model);
            } else {
                spcnn__train_plan_destroy(model->train);
                model->train = NULL;
            }
        }
        model->cfg = probe;
        *flag = value == 1;
        return SPCNN_OK;
    }
    case SPCNN_CFG_TRAIN_SCALE_MIN:
    case SPCNN_CFG_TRAIN_SCALE_MAX:
    case SPCNN_CFG_TRAIN_NATIVE_SHARE: {
        /* Training settings (fine-tuning at other scales): the next step uses them. */
        spcnn_config probe = model->cfg;
        SPCNN_TRY(spcnn_config_set(&probe, key, value));
        const double lo = spcnn__config_value(&probe, SPCNN_CFG_TRAIN_SCALE_MIN);
        const double hi = spcnn__config_value(&probe, SPCNN_CFG_TRAIN_SCALE_MAX);
        if (lo > hi)
            return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                                "model set option: train_scale_min %g would be above "
                                "train_scale_max %g (set the larger one first)",
                                lo, hi);
        model->cfg = probe;
        model->scale_min = lo;
        model->scale_max = hi;
        model->native_share = spcnn__config_value(&probe, SPCNN_CFG_TRAIN_NATIVE_SHARE);
        return SPCNN_OK;
    }
    case SPCNN_CFG_KL_WEIGHT: /* a training setting: the next step uses it */
        SPCNN_TRY(spcnn_config_set(&model->cfg, key, value));
        model->kl_weight = (float)value;
        return SPCNN_OK;
    default: {
        const char *name = spcnn_config_key_name(key);
        if (name == NULL)
            return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "model set option: unknown key %d",
                                (int)key);
        return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                            "model set option: %s is fixed when the model is created; only "
                            "threads, temperature, schedule, precision and the "
                            "train_scale_min, train_scale_max, train_native_share, "
                            "kl_weight and train_precision of training can change",
                            name);
    }
    }
}

spcnn_status spcnn_model_set_progress(spcnn_model *model, spcnn_progress_fn fn, void *user)
{
    SPCNN_CHECK_ARG(model != NULL, "model set progress: model is NULL");
    model->progress = fn;
    model->progress_user = user;
    return SPCNN_OK;
}

spcnn_status spcnn_model_stat(const spcnn_model *model, spcnn_stat stat, double *value)
{
    SPCNN_CHECK_ARG(model != NULL && value != NULL, "model stat: NULL argument");
    switch (stat) {
    case SPCNN_STAT_STEP: *value = (double)model->optim.t; return SPCNN_OK;
    case SPCNN_STAT_IMAGES_SEEN: *value = (double)model->images_seen; return SPCNN_OK;
    case SPCNN_STAT_BITS_PER_DIM:
    case SPCNN_STAT_RECONSTRUCTION:
    case SPCNN_STAT_KL:
    case SPCNN_STAT_LEARNING_RATE:
    case SPCNN_STAT_GRAD_NORM:
    case SPCNN_STAT_PARAMETERS: *value = model->last[stat]; return SPCNN_OK;
    case SPCNN_STAT_TRAINING_STATE: *value = model->has_training_state; return SPCNN_OK;
    case SPCNN_STAT_PRIOR_COMPONENTS: *value = (double)model->prior.k; return SPCNN_OK;
    case SPCNN_STAT_RANK: *value = spcnn__comm_rank(model->comm); return SPCNN_OK;
    case SPCNN_STAT_RANKS: *value = spcnn__comm_size(model->comm); return SPCNN_OK;
    }
    return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "model stat: unknown statistic %d",
                        (int)stat);
}
