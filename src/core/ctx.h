/* Internal side of qfd_ctx: how library code records a failure. */
#ifndef QFD_CORE_CTX_H
#define QFD_CORE_CTX_H

#include <stdbool.h>

#include "qfd/qfd.h"

struct qfd_ctx {
    char err[1024];
    int verbose;
    uint64_t memory_limit; /* 0: none */
};

/* Formats the message into ctx (if ctx is non-NULL) and returns st, so that
 * a failure is reported as `return qfd_fail(ctx, QFD_ERR_IO, "...", ...)`. */
qfd_status qfd_fail(qfd_ctx *ctx, qfd_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True when bytes are over the context's memory limit. */
bool qfd_over_memory_limit(const qfd_ctx *ctx, uint64_t bytes);
/* "1.5 GiB", "512 B": bytes for a message, into buf. */
const char *qfd_format_bytes(char buf[32], uint64_t bytes);

/* Adds "prefix: " in front of the current message (e.g. the file name). */
void qfd_ctx_prefix(qfd_ctx *ctx, const char *prefix);

#endif
