#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SPCNN_ERROR_MESSAGE_CAPACITY = 512 };

/* The only per-thread state of the library: the detail of the last failure. */
static _Thread_local char last_error[SPCNN_ERROR_MESSAGE_CAPACITY];

const char *spcnn_status_string(spcnn_status status)
{
    switch (status) {
    case SPCNN_OK: return "success";
    case SPCNN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SPCNN_ERR_OUT_OF_MEMORY: return "out of memory";
    case SPCNN_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case SPCNN_ERR_IO: return "input/output error";
    case SPCNN_ERR_FORMAT: return "malformed file";
    case SPCNN_ERR_VERSION: return "unsupported file format version";
    case SPCNN_ERR_UNSUPPORTED: return "unsupported operation";
    case SPCNN_ERR_BACKEND: return "oneDNN failure";
    case SPCNN_ERR_NUMERIC: return "non-finite value";
    case SPCNN_ERR_CANCELLED: return "cancelled";
    case SPCNN_ERR_INTERNAL: return "internal error";
    case SPCNN_ERR_COMMUNICATION: return "communication failure";
    }
    return "unknown status";
}

const char *spcnn_last_error_message(void)
{
    return last_error;
}

spcnn_status spcnn__error(spcnn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

spcnn_status spcnn__error_context(spcnn_status status, const char *context)
{
    char previous[SPCNN_ERROR_MESSAGE_CAPACITY];
    memcpy(previous, last_error, sizeof previous);
    size_t used = strlen(context);
    if (used > sizeof last_error - 3)
        used = sizeof last_error - 3;
    memcpy(last_error, context, used);
    memcpy(last_error + used, ": ", 2);
    used += 2;
    size_t rest = strlen(previous);
    if (rest > sizeof last_error - 1 - used)
        rest = sizeof last_error - 1 - used; /* keep the context, cut the old detail */
    memcpy(last_error + used, previous, rest);
    last_error[used + rest] = '\0';
    return status;
}
