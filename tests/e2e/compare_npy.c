/* Compares two .npy files element by element.
 *
 * usage: compare_npy GOT.npy WANT.npy [RTOL] [ATOL]
 * Passes when shapes and types match and |got - want| <= atol + rtol*|want|
 * for every float element (exact for integers); prints the largest
 * difference either way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "data/npy.h"
#include "ir/dtype.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s GOT.npy WANT.npy [RTOL] [ATOL]\n", argv[0]);
        return 2;
    }
    double rtol = argc > 3 ? atof(argv[3]) : 1e-4, atol = argc > 4 ? atof(argv[4]) : 1e-5;
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_array got = {0}, want = {0};
    int rc = 1;
    if (!ctx || qfd_npy_read(ctx, argv[1], &got) || qfd_npy_read(ctx, argv[2], &want)) {
        printf("FAIL: %s\n", ctx ? qfd_ctx_error(ctx) : "out of memory");
        goto out;
    }
    if (got.dtype != want.dtype || got.rank != want.rank ||
        memcmp(got.dims, want.dims, (size_t)got.rank * sizeof *got.dims)) {
        printf("FAIL: %s and %s differ in type or shape\n", argv[1], argv[2]);
        goto out;
    }
    int64_t n = qfd_array_numel(&want), bad = 0;
    double worst = 0;
    if (want.dtype == QFD_DT_FLOAT) {
        const float *g = got.data, *w = want.data;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs((double)g[i] - (double)w[i]);
            worst = d > worst ? d : worst;
            bad += !(d <= atol + rtol * fabs((double)w[i]));
        }
    } else {
        bad = memcmp(got.data, want.data, want.nbytes) != 0;
    }
    printf("%s: %lld elements, largest difference %.3g, %lld outside rtol %g / atol %g\n", bad ? "FAIL" : "ok",
           (long long)n, worst, (long long)bad, rtol, atol);
    rc = bad ? 1 : 0;
out:
    qfd_array_free(&got);
    qfd_array_free(&want);
    qfd_ctx_free(ctx);
    return rc;
}
