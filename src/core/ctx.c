#include "core/ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

qfd_ctx *qfd_ctx_new(void)
{
    qfd_ctx *ctx = calloc(1, sizeof(qfd_ctx));
    if (ctx)
        ctx->memory_limit = QFD_DEFAULT_MEMORY_LIMIT;
    return ctx;
}

void qfd_ctx_set_memory_limit(qfd_ctx *ctx, uint64_t bytes)
{
    ctx->memory_limit = bytes;
}

uint64_t qfd_ctx_memory_limit(const qfd_ctx *ctx)
{
    return ctx->memory_limit;
}

bool qfd_over_memory_limit(const qfd_ctx *ctx, uint64_t bytes)
{
    return ctx && ctx->memory_limit && bytes > ctx->memory_limit;
}

const char *qfd_format_bytes(char buf[32], uint64_t bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

void qfd_ctx_free(qfd_ctx *ctx)
{
    free(ctx);
}

const char *qfd_ctx_error(const qfd_ctx *ctx)
{
    return ctx ? ctx->err : "";
}

const char *qfd_status_name(qfd_status st)
{
    switch (st) {
    case QFD_OK: return "ok";
    case QFD_ERR_ARG: return "bad argument";
    case QFD_ERR_IO: return "I/O error";
    case QFD_ERR_PARSE: return "parse error";
    case QFD_ERR_INVALID: return "invalid model";
    case QFD_ERR_UNSUPPORTED: return "unsupported";
    case QFD_ERR_NOMEM: return "out of memory";
    case QFD_ERR_INTERNAL: return "internal error";
    case QFD_ERR_LIMIT: return "over the memory limit";
    }
    return "unknown status";
}

qfd_status qfd_fail(qfd_ctx *ctx, qfd_status st, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        /* Messages are single lines by contract; names from files may not be. */
        for (char *p = ctx->err; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return st;
}

void qfd_ctx_prefix(qfd_ctx *ctx, const char *prefix)
{
    if (!ctx)
        return;
    char tmp[sizeof ctx->err];
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = sizeof tmp - n - 3;
    size_t m = strnlen(ctx->err, rest);
    memcpy(tmp + n + 2, ctx->err, m);
    tmp[n + 2 + m] = 0;
    memcpy(ctx->err, tmp, sizeof tmp);
}
