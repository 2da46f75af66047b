/* Issue 16's ops against ONNX Runtime, in the variants that ONNX 1.12's
 * backend data has no case for, and Conv in ImageNet models' shapes (issue
 * 13), each on 1 and 2 threads: every folder under DIR
 * (tests/data/ort_ops, written by tools/ort/make_op_fixtures.js) holds
 * model.onnx, input_<i>.npy and ONNX Runtime's expected_<j>.npy; each
 * output must match, floats within 1e-5 of max(1, |expected|), integers
 * exactly.
 *
 * usage: test_ort_ops DIR MIN_CASES */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/npy_case.h"
#include "core/ctx.h"
#include "data/npy.h"
#include "exec/exec.h"
#include "io/io.h"

/* Empty when got matches want, else what differs (first element). */
static void compare(const qfd_array *got, const qfd_array *want, char *why, size_t cap)
{
    why[0] = 0;
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)want->rank * sizeof *want->dims)) {
        snprintf(why, cap, "type or shape differs");
        return;
    }
    int64_t n = qfd_array_numel(want);
    for (int64_t i = 0; i < n; i++) {
        if (want->dtype == QFD_DT_FLOAT) {
            float g = ((const float *)got->data)[i], w = ((const float *)want->data)[i];
            if (!(fabsf(g - w) <= 1e-5f * fmaxf(1.0f, fabsf(w)))) {
                snprintf(why, cap, "[%lld]: got %.9g, expected %.9g", (long long)i, g, w);
                return;
            }
        } else if (((const int64_t *)got->data)[i] != ((const int64_t *)want->data)[i]) {
            snprintf(why, cap, "[%lld]: got %lld, expected %lld", (long long)i,
                     (long long)((const int64_t *)got->data)[i], (long long)((const int64_t *)want->data)[i]);
            return;
        }
    }
}

/* Returns 0 when the case passes. */
static int run_case(qfd_ctx *ctx, const char *dir, const char *name)
{
    char why[600] = "";
    qfd_npy_case c;
    qfd_exec *e = NULL;
    if (qfd_npy_case_load(ctx, dir, name, &c)) {
        printf("FAIL %s: %s\n", name, qfd_ctx_error(ctx));
        qfd_npy_case_free(&c);
        return 1;
    }
    const size_t n_want = c.n_want;
    /* on 1 and 2 threads: kernels split work differently (a conv at batch 1
     * shares the image between threads) */
    for (int nt = 1; nt <= 2 && !why[0]; nt++) {
        if (qfd_exec_new(ctx, c.model, nt, &e) || qfd_exec_run(ctx, e, c.in, c.n_in))
            snprintf(why, sizeof why, "%s", qfd_ctx_error(ctx));
        else if (!n_want || qfd_exec_n_outputs(e) != n_want)
            snprintf(why, sizeof why, "%zu outputs, %zu expected", qfd_exec_n_outputs(e), n_want);
        for (size_t j = 0; !why[0] && j < n_want; j++) {
            char diff[512];
            compare(qfd_exec_output(e, j), &c.want[j], diff, sizeof diff);
            if (diff[0])
                snprintf(why, sizeof why, "output %zu %s (%d thread%s)", j, diff, nt, nt > 1 ? "s" : "");
        }
        qfd_exec_free(e);
        e = NULL;
    }
    printf("%s %s%s%s\n", why[0] ? "FAIL" : "ok  ", name, why[0] ? ": " : "", why);
    qfd_npy_case_free(&c);
    return why[0] != 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR MIN_CASES\n", argv[0]);
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    DIR *d = ctx ? opendir(argv[1]) : NULL;
    if (!d) {
        printf("FAIL: cannot open %s\n", argv[1]);
        qfd_ctx_free(ctx);
        return 1;
    }
    int n = 0, fails = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        n++;
        fails += run_case(ctx, argv[1], de->d_name);
    }
    closedir(d);
    qfd_ctx_free(ctx);
    /* a missing or emptied fixture folder is a failure, not a pass */
    if (n < atoi(argv[2])) {
        printf("FAIL: %d cases in %s, expected at least %s\n", n, argv[1], argv[2]);
        fails++;
    }
    printf("%s: %d cases, %d failed\n", fails ? "FAILED" : "all match ONNX Runtime", n, fails);
    return fails ? 1 : 0;
}
