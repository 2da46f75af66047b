#include <stdarg.h>
#include <string.h>

#include "cli/cli.h"

int qfd_cli_fail(qfd_ctx *ctx, qfd_status st)
{
    fprintf(stderr, "qfd-onnx: error: %s%s\n", qfd_ctx_error(ctx),
            st == QFD_ERR_LIMIT ? " (see --max-memory in 'qfd-onnx --help')" : "");
    return st == QFD_ERR_NOMEM || st == QFD_ERR_INTERNAL ? QFD_EXIT_INTERNAL : QFD_EXIT_BAD_INPUT;
}

int qfd_cli_oom(void)
{
    fputs("qfd-onnx: error: out of memory\n", stderr);
    return QFD_EXIT_INTERNAL;
}

int qfd_cli_usage_error(const qfd_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "qfd-onnx %s: error: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'qfd-onnx %s --help')\n", cmd->name);
    va_end(ap);
    return QFD_EXIT_BAD_INPUT;
}

int qfd_cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

void qfd_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}
