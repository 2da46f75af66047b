/* Checks TensorRT's rules (tests/support/trt_rules.h) on a file
 * `qfd-onnx quantize --format tensorrt` wrote, and that the file says so in
 * its qfd.quant.format metadata. Exit 1 on any violation.
 * usage: trt_structure MODEL.onnx */
#include <stdio.h>
#include <string.h>

#include "../support/trt_rules.h"
#include "core/ctx.h"
#include "ir/model_info.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = NULL;
    if (!ctx || qfd_model_load(ctx, argv[1], &m)) {
        printf("FAIL: %s\n", ctx ? qfd_ctx_error(ctx) : "out of memory");
        qfd_ctx_free(ctx);
        return 1;
    }
    int warnings = 0, fails = trt_rules_check(m, stdout, &warnings);
    const char *fmt = qfd_model_metadata(m, "qfd.quant.format");
    if (!fmt || strcmp(fmt, "tensorrt")) {
        printf("FAIL: qfd.quant.format is %s, not tensorrt\n", fmt ? fmt : "absent");
        fails++;
    }
    printf("%s: TensorRT rules: %d violation%s, %d warning%s\n", argv[1], fails, fails == 1 ? "" : "s", warnings,
           warnings == 1 ? "" : "s");
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return fails ? 1 : 0;
}
