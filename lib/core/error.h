/* Internal error handling: every failure sets the thread-local message and returns a status. */
#ifndef SPCNN_CORE_ERROR_H
#define SPCNN_CORE_ERROR_H

#include "spatialpixelcnn.h"

/* Record a formatted message for spcnn_last_error_message() and return status. */
spcnn_status spcnn__error(spcnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the current message with "context: " (used when forwarding a failure upwards). */
spcnn_status spcnn__error_context(spcnn_status status, const char *context);

/* Return from the function if expr failed. */
#define SPCNN_TRY(expr)                        \
    do {                                       \
        spcnn_status spcnn_try_ = (expr);      \
        if (spcnn_try_ != SPCNN_OK)            \
            return spcnn_try_;                 \
    } while (0)

/* In a constructor: store the failure in `st` and jump to the single `fail:` label. */
#define SPCNN_TRY_GOTO(st, expr)               \
    do {                                       \
        (st) = (expr);                         \
        if ((st) != SPCNN_OK)                  \
            goto fail;                         \
    } while (0)

/* Argument validation: return SPCNN_ERR_INVALID_ARGUMENT with a message when cond is false. */
#define SPCNN_CHECK_ARG(cond, ...)                                      \
    do {                                                                \
        if (!(cond))                                                    \
            return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, __VA_ARGS__); \
    } while (0)

#endif
