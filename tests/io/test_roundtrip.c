/* Round-trips every model.onnx under a folder (the ONNX backend test data of
 * Debian's libonnx-testdata) through read -> validate -> write, and checks
 * field by field against the original with the schema-driven comparator.
 *
 * usage: test_roundtrip DATA_DIR TMP_DIR [MIN_MODELS]
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctx.h"
#include "io/io.h"

static struct {
    qfd_ctx *ctx;
    const char *tmp;
    int total, failed, byte_identical;
} g_run; /* nftw offers no user pointer; this is test-only state */

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    if (type != FTW_F || strcmp(path + ftw->base, "model.onnx") != 0)
        return 0;
    g_run.total++;
    char out[4096];
    snprintf(out, sizeof out, "%s/rt_%d.onnx", g_run.tmp, g_run.total);
    qfd_model *m = NULL;
    qfd_status st = qfd_model_load(g_run.ctx, path, &m);
    if (!st)
        st = qfd_model_save(g_run.ctx, m, out);
    qfd_model_free(m);
    if (!st)
        st = qfd_onnx_compare_files(g_run.ctx, path, out);
    if (st) {
        g_run.failed++;
        printf("FAIL %s: %s\n", path, qfd_ctx_error(g_run.ctx));
    } else {
        g_run.byte_identical += same_bytes(path, out);
    }
    unlink(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR TMP_DIR [MIN_MODELS]\n", argv[0]);
        return 2;
    }
    int min_models = argc > 3 ? atoi(argv[3]) : 1;
    g_run.ctx = qfd_ctx_new();
    g_run.tmp = argv[2];
    if (!g_run.ctx || nftw(argv[1], visit, 16, FTW_PHYS) != 0) {
        fprintf(stderr, "cannot walk %s\n", argv[1]);
        return 1;
    }
    qfd_ctx_free(g_run.ctx);
    printf("round trip: %d models, %d identical field by field (%d also byte for byte), %d failed\n", g_run.total,
           g_run.total - g_run.failed, g_run.byte_identical, g_run.failed);
    if (g_run.total < min_models) {
        printf("FAIL: expected at least %d models under %s\n", min_models, argv[1]);
        return 1;
    }
    return g_run.failed ? 1 : 0;
}
