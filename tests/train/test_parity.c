/* Training parity with PyTorch: four SGD steps on recorded batches must give
 * PyTorch's losses and, at the end, its weights and BatchNorm statistics
 * (tests/data/train/<case>/, made by tools/make_train_reference.py).
 *
 * usage: test_parity [--tensor-tol T] CASE_DIR [CASE_DIR ...]
 *
 * Each value must be within rtol 1e-4, atol 1e-5 of PyTorch's. With
 * --tensor-tol (tools/zoo_train_check.sh, ImageNet-size models) a tensor
 * passes instead when max |difference| <= T * max(1, max |PyTorch|): for
 * a first conv layer of a deep net, PyTorch's own float32 step differs from
 * its float64 step by more than the per-value tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "data/npy.h"
#include "io/io.h"
#include "train/trainer.h"

static int close_enough(double got, double want, double rtol, double atol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static int run_case(qfd_ctx *ctx, const char *dir, double tensor_tol)
{
    char path[4096];
    int fails = 0;
    qfd_model *m = NULL;
    qfd_trainer *t = NULL;
    qfd_array losses = {0};
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (qfd_model_load(ctx, path, &m)) {
        printf("FAIL %s\n", qfd_ctx_error(ctx));
        return 1;
    }
    /* PyTorch's run: SGD, lr 0.05, momentum 0.9, weight decay 5e-4 on
     * weights of rank >= 2 only (the trainer's default groups). */
    qfd_trainer_opts o = {
        .optimizer = QFD_OPT_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .n_threads = 2};
    snprintf(path, sizeof path, "%s/losses.npy", dir);
    if (qfd_trainer_new(ctx, m, &o, &t) || qfd_npy_read(ctx, path, &losses)) {
        printf("FAIL %s: %s\n", dir, qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    for (int64_t k = 0; k < losses.dims[0]; k++) {
        qfd_array x = {0}, y = {0};
        qfd_step_stats s;
        char px[4096], py[4096];
        snprintf(px, sizeof px, "%s/x_%lld.npy", dir, (long long)k);
        snprintf(py, sizeof py, "%s/y_%lld.npy", dir, (long long)k);
        qfd_status st = qfd_npy_read(ctx, px, &x);
        if (!st)
            st = qfd_npy_read(ctx, py, &y);
        if (!st)
            st = qfd_trainer_step(ctx, t, &x, &y, 1.0f, 0, &s);
        qfd_array_free(&x);
        qfd_array_free(&y);
        if (st) {
            printf("FAIL %s step %lld: %s\n", dir, (long long)k, qfd_ctx_error(ctx));
            fails++;
            goto out;
        }
        double want = ((const float *)losses.data)[k];
        int ok = close_enough(s.loss, want, 1e-4, 1e-6);
        printf("%s %s step %lld: loss %.7f, PyTorch %.7f\n", ok ? "ok  " : "FAIL", dir, (long long)k, s.loss, want);
        fails += !ok;
    }
    /* Every parameter and running statistic against PyTorch's state_dict. */
    snprintf(path, sizeof path, "%s/after.npz", dir);
    const qfd_graph *g = &m->graph;
    int compared = 0;
    double worst_rel = 0;
    for (size_t i = 0; i < g->n_inits; i++) {
        const qfd_tensor *tt = &g->tensors[g->inits[i]];
        if (tt->dtype != QFD_DT_FLOAT || qfd_tensor_numel(tt) <= 1)
            continue;
        qfd_array want = {0};
        if (qfd_npz_read(ctx, path, tt->name, &want)) {
            printf("FAIL %s: '%s': %s\n", dir, tt->name, qfd_ctx_error(ctx));
            fails++;
            continue;
        }
        const float *a = tt->data, *b = want.data;
        int64_t n = qfd_tensor_numel(tt), bad = 0;
        double worst = 0, scale = 1;
        for (int64_t j = 0; j < n && (size_t)n * 4 == want.nbytes; j++) {
            worst = fmax(worst, fabs((double)a[j] - b[j]));
            scale = fmax(scale, fabs((double)b[j]));
            bad += !close_enough(a[j], b[j], 1e-4, 1e-5);
        }
        if (tensor_tol > 0)
            bad = worst > tensor_tol * scale ? bad + !bad : 0;
        worst_rel = fmax(worst_rel, worst / scale);
        if ((size_t)n * 4 != want.nbytes)
            bad = 1;
        if (bad)
            printf("FAIL %s: '%s' differs from PyTorch in %lld of %lld values (largest difference %.3g)\n", dir,
                   tt->name, (long long)bad, (long long)n, worst);
        fails += bad != 0;
        compared++;
        qfd_array_free(&want);
    }
    printf("%s %s: %d tensors compared with PyTorch after the steps, worst max|diff| / max(1, max|PyTorch|) %.3g\n",
           fails ? "FAIL" : "ok  ", dir, compared, worst_rel);
    fails += compared == 0;
out:
    qfd_array_free(&losses);
    qfd_trainer_free(t);
    qfd_model_free(m);
    return fails;
}

int main(int argc, char **argv)
{
    qfd_ctx *ctx = qfd_ctx_new();
    double tensor_tol = 0;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--tensor-tol")) {
        tensor_tol = atof(argv[2]);
        first = 3;
    }
    int fails = argc <= first || (first == 3 && !(tensor_tol > 0));
    for (int i = first; i < argc; i++)
        fails += run_case(ctx, argv[i], tensor_tol);
    qfd_ctx_free(ctx);
    printf("%s\n", fails ? "FAILED" : "training matches PyTorch");
    return fails ? 1 : 0;
}
