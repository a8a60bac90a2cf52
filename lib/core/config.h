/* Internal view of spcnn_config: one double per key, read by the model at creation. */
#ifndef SPCNN_CORE_CONFIG_H
#define SPCNN_CORE_CONFIG_H

#include "spatialpixelcnn.h"

/* One past the largest key value; keys index `values` directly. */
#define SPCNN__CONFIG_KEY_END 29

struct spcnn_config {
    double values[SPCNN__CONFIG_KEY_END];
};

/* Convenience readers for the library (the key is known to be valid). */
static inline double spcnn__config_value(const spcnn_config *cfg, spcnn_config_key key)
{
    return cfg->values[key];
}
static inline int spcnn__config_int(const spcnn_config *cfg, spcnn_config_key key)
{
    return (int)cfg->values[key];
}

#endif
