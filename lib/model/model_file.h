/* Model files from memory (model_file.c): what spcnn__model_file_load does after reading the
 * file, for callers that hold the bytes already (tests that damage a file thousands of times,
 * bindings that receive bytes). spcnn__model_file_save/load are declared in model/model.h. */
#ifndef SPCNN_MODEL_MODEL_FILE_H
#define SPCNN_MODEL_MODEL_FILE_H

#include <stddef.h>

#include "model/model.h"

/* Validate and load `size` bytes of a model file (borrowed); `name` (e.g. the path) prefixes
 * error messages. Same statuses as spcnn__model_file_load, except SPCNN_ERR_IO. */
spcnn_status spcnn__model_file_load_memory(const void *data, size_t size, const char *name,
                                           spcnn_model **out);

#endif
