/* Forward kernels that have fast paths (AVX-512 when the CPU has it, row
 * tails, thread splits) against naive double-precision references, at
 * sizes around the 16-lane vector width and on 1 and 2 threads:
 * Softmax, LogSoftmax, LayerNormalization, Erf, Exp, Sigmoid, Transpose, batched MatMul,
 * Add/Sub/Mul/Div broadcasts, Conv and FusedConv on their direct kernels
 * (channel blocks, output channels split between threads at batch 1,
 * weights packed once per plan or per call);
 * and the executor's memory plan: outputs that inference shares with their
 * input (Reshape, Gather of one index), values sharing one pool. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

/* Deterministic values in [lo, hi). */
static void fill(float *v, int64_t n, float lo, float hi, unsigned seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = lo + (hi - lo) * (float)((seed >> 8) & 0xFFFFu) / 65536.0f;
    }
}

/* Runs m on x (shape dims) with nt threads; copies output 0 into y. */
static void run(qfd_ctx *ctx, qfd_model *m, int nt, const float *x, int rank, const int64_t *dims, float *y, int64_t ny)
{
    qfd_array in = {QFD_DT_FLOAT, rank, {0}, (void *)x, 0};
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= in.dims[i] = dims[i];
    in.nbytes = (size_t)n * sizeof(float);
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, nt, &e));
    if (!e)
        return;
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    const qfd_array *out = qfd_exec_output(e, 0);
    CHECK(qfd_array_numel(out) == ny);
    if (qfd_array_numel(out) == ny)
        memcpy(y, out->data, (size_t)ny * sizeof *y);
    qfd_exec_free(e);
}

/* |got - want| within rtol relative (atol absolute near 0); NaN must match. */
static int close_to(float got, double want, double rtol, double atol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static void check_all(const char *what, int64_t n, int nt, const float *got, const double *want, double rtol,
                      double atol)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!close_to(got[i], want[i], rtol, atol) && bad++ < 3)
            fprintf(stderr, "%s (%d threads) [%lld]: got %.9g, want %.9g\n", what, nt, (long long)i, (double)got[i],
                    want[i]);
    CHECK(bad == 0);
}

/* Softmax / LogSoftmax over the last axis of [rows, n]. */
static void softmax_case(qfd_ctx *ctx, int log_form, int64_t rows, int64_t n, float spread)
{
    int64_t dims[2] = {rows, n}, total = rows * n;
    float *x = malloc((size_t)total * sizeof *x), *y = malloc((size_t)total * sizeof *y);
    double *want = malloc((size_t)total * sizeof *want);
    if (!x || !y || !want)
        abort();
    fill(x, total, -spread, spread, (unsigned)(rows * 31 + n));
    if (rows > 2 && n > 3) {
        x[n + 2] = -INFINITY; /* a zero probability */
        x[2 * n] = 80.0f;     /* far above the rest: exp(x) alone would overflow */
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++)
            m = fmax(m, xr[i]);
        for (int64_t i = 0; i < n; i++)
            s += exp((double)xr[i] - m);
        for (int64_t i = 0; i < n; i++)
            want[r * n + i] = log_form ? (double)xr[i] - m - log(s) : exp((double)xr[i] - m) / s;
    }
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 2, dims);
    mb_node(m, log_form ? "LogSoftmax" : "Softmax", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, m, nt, x, 2, dims, y, total);
        char what[64];
        snprintf(what, sizeof what, "%s n=%lld", log_form ? "LogSoftmax" : "Softmax", (long long)n);
        check_all(what, total, nt, y, want, 1e-5, log_form ? 1e-5 : 1e-7);
    }
    qfd_model_free(m);
    free(x);
    free(y);
    free(want);
}

/* LayerNormalization over the last axis of [rows, n], with Scale and B. */
static void layernorm_case(qfd_ctx *ctx, int64_t rows, int64_t n, float offset)
{
    int64_t dims[2] = {rows, n}, pd[1] = {n}, total = rows * n;
    float *x = malloc((size_t)total * sizeof *x), *y = malloc((size_t)total * sizeof *y);
    float *sc = malloc((size_t)n * sizeof *sc), *b = malloc((size_t)n * sizeof *b);
    double *want = malloc((size_t)total * sizeof *want);
    if (!x || !y || !sc || !b || !want)
        abort();
    fill(x, total, offset - 2.0f, offset + 2.0f, (unsigned)(rows + 7 * n));
    fill(sc, n, 0.5f, 1.5f, 3);
    fill(b, n, -0.5f, 0.5f, 5);
    const float eps = 1e-5f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++)
            mean += xr[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++)
            var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t i = 0; i < n; i++)
            want[r * n + i] = ((double)xr[i] - mean) * inv * sc[i] + b[i];
    }
    qfd_model *m = mb_new(17);
    mb_input(m, "x", 2, dims);
    mb_param(m, "s", 1, pd, sc, 0, 0);
    mb_param(m, "b", 1, pd, b, 0, 0);
    qfd_node *node = mb_node(m, "LayerNormalization", 3, (const char *[]){"x", "s", "b"}, 1, (const char *[]){"y"});
    mb_attr_float(node, "epsilon", eps);
    mb_output(m, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, m, nt, x, 2, dims, y, total);
        char what[64];
        snprintf(what, sizeof what, "LayerNormalization n=%lld offset %g", (long long)n, (double)offset);
        /* the mean is rounded to float, as ONNX's float stash_type says */
        check_all(what, total, nt, y, want, 1e-5, 1e-5 * (1.0 + fabs(offset)));
    }
    qfd_model_free(m);
    free(x);
    free(y);
    free(sc);
    free(b);
    free(want);
}

/* Erf or Exp of n values spanning their interesting range plus specials. */
static void unary_case(qfd_ctx *ctx, const char *op, int64_t n)
{
    int is_exp = !strcmp(op, "Exp"), is_sig = !strcmp(op, "Sigmoid");
    int64_t dims[1] = {n};
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double *want = malloc((size_t)n * sizeof *want);
    if (!x || !y || !want)
        abort();
    const float range = is_exp ? 90.0f : is_sig ? 20.0f : 5.0f;
    fill(x, n, -range, range, (unsigned)n);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-30f, -0.9277f, 0.93f, 3.9f, -12.0f};
    for (int i = 0; i < 10 && i < n; i++)
        x[i] = special[i];
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i];
        want[i] = is_exp ? (exp(v) > FLT_MAX ? INFINITY : exp(v)) : is_sig ? 1.0 / (1.0 + exp(-v)) : erf(v);
    }
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 1, dims);
    mb_node(m, op, 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, m, nt, x, 1, dims, y, n);
        /* exp's results below FLT_MIN may flush to 0 on the portable path */
        check_all(op, n, nt, y, want, is_sig ? 2.5e-7 : 1e-6, is_exp ? 1.2e-38 : 1e-7);
    }
    qfd_model_free(m);
    free(x);
    free(y);
    free(want);
}

/* Transpose of a rank-5 x by perm, against the index arithmetic. */
static void transpose_case(qfd_ctx *ctx, const int64_t *dx, const int64_t *perm)
{
    int64_t total = 1, xs[5], dy[5];
    for (int i = 4; i >= 0; i--) {
        xs[i] = total;
        total *= dx[i];
    }
    for (int i = 0; i < 5; i++)
        dy[i] = dx[perm[i]];
    float *x = malloc((size_t)total * sizeof *x), *y = malloc((size_t)total * sizeof *y);
    double *want = malloc((size_t)total * sizeof *want);
    if (!x || !y || !want)
        abort();
    for (int64_t i = 0; i < total; i++)
        x[i] = (float)i;
    int64_t c[5] = {0};
    for (int64_t o = 0; o < total; o++) { /* c: output coordinates, row-major */
        int64_t src = 0;
        for (int i = 0; i < 5; i++)
            src += c[i] * xs[perm[i]];
        want[o] = x[src];
        for (int i = 4; i >= 0 && ++c[i] == dy[i]; i--)
            c[i] = 0;
    }
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 5, dx);
    qfd_node *n = mb_node(m, "Transpose", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_attr_ints(n, "perm", 5, perm);
    mb_output(m, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, m, nt, x, 5, dx, y, total);
        check_all("Transpose", total, nt, y, want, 0, 0);
    }
    qfd_model_free(m);
    free(x);
    free(y);
    free(want);
}

/* MatMul of A [ba0, ba1, m, k] (graph input) by B [bb0, bb1, k, n]
 * (initializer), batch axes broadcast. */
static void matmul_case(qfd_ctx *ctx, const int64_t *da, const int64_t *db)
{
    int64_t m = da[2], k = da[3], n = db[3], b0 = da[0] > db[0] ? da[0] : db[0], b1 = da[1] > db[1] ? da[1] : db[1];
    int64_t na = da[0] * da[1] * m * k, nb = db[0] * db[1] * k * n, ny = b0 * b1 * m * n;
    float *a = malloc((size_t)na * sizeof *a), *b = malloc((size_t)nb * sizeof *b), *y = malloc((size_t)ny * sizeof *y);
    double *want = malloc((size_t)ny * sizeof *want);
    if (!a || !b || !y || !want)
        abort();
    fill(a, na, -1.0f, 1.0f, 21);
    fill(b, nb, -1.0f, 1.0f, 22);
    for (int64_t i0 = 0; i0 < b0; i0++)
        for (int64_t i1 = 0; i1 < b1; i1++) {
            const float *am = a + ((da[0] > 1 ? i0 : 0) * da[1] + (da[1] > 1 ? i1 : 0)) * m * k;
            const float *bm = b + ((db[0] > 1 ? i0 : 0) * db[1] + (db[1] > 1 ? i1 : 0)) * k * n;
            double *ym = want + (i0 * b1 + i1) * m * n;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t p = 0; p < k; p++)
                        acc += (double)am[i * k + p] * bm[p * n + j];
                    ym[i * n + j] = acc;
                }
        }
    qfd_model *mod = mb_new(13);
    mb_input(mod, "a", 4, da);
    mb_param(mod, "b", 4, db, b, 0, 0);
    mb_node(mod, "MatMul", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"y"});
    mb_output(mod, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, mod, nt, a, 4, da, y, ny);
        check_all("MatMul", ny, nt, y, want, 1e-5, 1e-5);
    }
    qfd_model_free(mod);
    free(a);
    free(b);
    free(y);
    free(want);
}

/* MatMul of A [b, m, k] by a 2-D B [k, n] (a Linear on tokens: the
 * batch folds into A's rows). */
static void linear_case(qfd_ctx *ctx, int64_t bt, int64_t m, int64_t k, int64_t n)
{
    int64_t da[3] = {bt, m, k}, db[2] = {k, n}, na = bt * m * k, ny = bt * m * n;
    float *a = malloc((size_t)na * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b);
    float *y = malloc((size_t)ny * sizeof *y);
    double *want = malloc((size_t)ny * sizeof *want);
    if (!a || !b || !y || !want)
        abort();
    fill(a, na, -1.0f, 1.0f, 31);
    fill(b, k * n, -1.0f, 1.0f, 32);
    for (int64_t i = 0; i < bt * m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++)
                acc += (double)a[i * k + p] * b[p * n + j];
            want[i * n + j] = acc;
        }
    qfd_model *mod = mb_new(13);
    mb_input(mod, "a", 3, da);
    mb_param(mod, "b", 2, db, b, 0, 0);
    mb_node(mod, "MatMul", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"y"});
    mb_output(mod, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, mod, nt, a, 3, da, y, ny);
        check_all("MatMul (2-D B)", ny, nt, y, want, 1e-5, 1e-5);
    }
    qfd_model_free(mod);
    free(a);
    free(b);
    free(y);
    free(want);
}

/* a OP b for a [5,3,n] (graph input) and b of shape db (initializer),
 * against the same float operation per element: exact. */
static void binary_case(qfd_ctx *ctx, const char *op, int64_t n, int rb, const int64_t *db)
{
    int64_t da[3] = {5, 3, n}, na = 5 * 3 * n, nb = 1;
    for (int i = 0; i < rb; i++)
        nb *= db[i];
    float *a = malloc((size_t)na * sizeof *a), *b = malloc((size_t)nb * sizeof *b), *y = malloc((size_t)na * sizeof *y);
    double *want = malloc((size_t)na * sizeof *want);
    if (!a || !b || !y || !want)
        abort();
    fill(a, na, -2.0f, 2.0f, 51);
    fill(b, nb, 0.5f, 2.0f, 52);
    for (int64_t i = 0; i < na; i++) {
        /* b is [n], [1] or [5,3,n]: broadcast along the trailing axis */
        float x = a[i], z = b[nb == 1 ? 0 : nb == n ? i % n : i];
        float r = op[0] == 'A' ? x + z : op[0] == 'S' ? x - z : op[0] == 'M' ? x * z : x / z;
        want[i] = r;
    }
    qfd_model *m = mb_new(13);
    mb_input(m, "a", 3, da);
    mb_param(m, "b", rb, db, b, 0, 0);
    mb_node(m, op, 2, (const char *[]){"a", "b"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    for (int nt = 1; nt <= 2; nt++) {
        run(ctx, m, nt, a, 3, da, y, na);
        check_all(op, na, nt, y, want, 0, 0);
    }
    qfd_model_free(m);
    free(a);
    free(b);
    free(y);
    free(want);
}

/* x [2,3,4] -> Relu -> Reshape [3,2,4] -> Gather index k (axis 0) -> Add 1,
 * plus a second Reshape of the Relu output that is itself a graph output,
 * a Gather with a one-element index list, and a Reshape straight from the
 * graph input: every value must be what copying gives. */
static void views_case(qfd_ctx *ctx, int64_t k)
{
    const int64_t dx[] = {2, 3, 4}, shape[] = {3, 2, 4}, flat[] = {24}, sd[] = {3}, fd[] = {1}, one[] = {1};
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 3, dx);
    mb_const(m, "shape", QFD_DT_INT64, 1, sd, shape);
    mb_const(m, "flat", QFD_DT_INT64, 1, fd, flat);
    mb_const(m, "k", QFD_DT_INT64, 0, NULL, &k);
    mb_const(m, "k1", QFD_DT_INT64, 1, one, &k);
    mb_param(m, "one", 1, one, (const float[]){1.0f}, 0, 0);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_node(m, "Reshape", 2, (const char *[]){"r", "shape"}, 1, (const char *[]){"rs"});
    mb_node(m, "Gather", 2, (const char *[]){"rs", "k"}, 1, (const char *[]){"g"});
    mb_node(m, "Add", 2, (const char *[]){"g", "one"}, 1, (const char *[]){"y"});
    mb_node(m, "Reshape", 2, (const char *[]){"r", "flat"}, 1, (const char *[]){"rflat"});
    mb_node(m, "Gather", 2, (const char *[]){"rs", "k1"}, 1, (const char *[]){"g1"});
    mb_node(m, "Reshape", 2, (const char *[]){"x", "flat"}, 1, (const char *[]){"xflat"});
    mb_output(m, "y");
    mb_output(m, "rflat");
    mb_output(m, "g1");
    mb_output(m, "xflat");
    float x[24];
    fill(x, 24, -1.0f, 1.0f, 11);
    int64_t kk = k < 0 ? k + 3 : k;
    qfd_array in = {QFD_DT_FLOAT, 3, {2, 3, 4}, x, sizeof x};
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    for (int pass = 0; e && pass < 2; pass++) { /* a second run reuses the plan */
        CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
        const float *y = qfd_exec_output(e, 0)->data, *rflat = qfd_exec_output(e, 1)->data;
        const float *g1 = qfd_exec_output(e, 2)->data, *xflat = qfd_exec_output(e, 3)->data;
        CHECK(qfd_exec_output(e, 0)->rank == 2 && qfd_exec_output(e, 2)->rank == 3);
        for (int i = 0; i < 8; i++) {
            float r = fmaxf(x[kk * 8 + i], 0.0f);
            CHECK(y[i] == r + 1.0f);
            CHECK(g1[i] == r);
        }
        for (int i = 0; i < 24; i++) {
            CHECK(rflat[i] == fmaxf(x[i], 0.0f));
            CHECK(xflat[i] == x[i]);
        }
        /* outputs are the executor's own buffers, not the caller's input */
        CHECK(qfd_exec_output(e, 3)->data != (void *)x);
        x[0] += 0.5f; /* new values, same plan */
    }
    qfd_exec_free(e);
    qfd_model_free(m);
}

/* Runs m with separate buffers and with shared values on the same inputs,
 * three times: the n_out outputs must agree bit for bit. */
static void compare_shared(qfd_ctx *ctx, qfd_model *m, size_t n_out)
{
    qfd_exec *sep = NULL, *shared = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 2, &sep));
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 2, &shared));
    if (shared)
        qfd_exec_share_values(shared);
    float x[24];
    for (int pass = 0; sep && shared && pass < 3; pass++) {
        fill(x, 24, -2.0f, 2.0f, (unsigned)(41 + pass));
        qfd_array in = {QFD_DT_FLOAT, 3, {2, 3, 4}, x, sizeof x};
        CHECK_OK(ctx, qfd_exec_run(ctx, sep, &in, 1));
        CHECK_OK(ctx, qfd_exec_run(ctx, shared, &in, 1));
        for (size_t o = 0; o < n_out; o++) {
            const qfd_array *a = qfd_exec_output(sep, o), *b = qfd_exec_output(shared, o);
            CHECK(a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes));
        }
    }
    /* the values share memory: less of it than one buffer each */
    if (sep && shared)
        CHECK(qfd_exec_memory(shared) < qfd_exec_memory(sep));
    qfd_exec_free(sep);
    qfd_exec_free(shared);
}

/* Graphs with long-lived values, views of views, a value read only
 * through a view long after, and a graph output that is read again. */
static void shared_values_case(qfd_ctx *ctx)
{
    const int64_t dx[] = {2, 3, 4}, shape[] = {3, 2, 4}, sd[] = {3}, flat[] = {24}, fd[] = {1}, k = 1;
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 3, dx);
    mb_const(m, "shape", QFD_DT_INT64, 1, sd, shape);
    mb_const(m, "flat", QFD_DT_INT64, 1, fd, flat);
    mb_const(m, "k", QFD_DT_INT64, 0, NULL, &k);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"a"});
    mb_node(m, "Mul", 2, (const char *[]){"a", "a"}, 1, (const char *[]){"b"});
    mb_node(m, "Reshape", 2, (const char *[]){"b", "shape"}, 1, (const char *[]){"c"});
    mb_node(m, "Gather", 2, (const char *[]){"c", "k"}, 1, (const char *[]){"d"});
    mb_node(m, "Exp", 1, (const char *[]){"d"}, 1, (const char *[]){"e"});
    mb_node(m, "Sigmoid", 1, (const char *[]){"b"}, 1, (const char *[]){"f"});
    mb_node(m, "Add", 2, (const char *[]){"f", "a"}, 1, (const char *[]){"g"});
    mb_node(m, "Reshape", 2, (const char *[]){"g", "flat"}, 1, (const char *[]){"h"});
    mb_node(m, "Neg", 1, (const char *[]){"h"}, 1, (const char *[]){"i"});
    mb_node(m, "Sub", 2, (const char *[]){"i", "h"}, 1, (const char *[]){"j"});
    mb_output(m, "j");
    mb_output(m, "f");
    mb_output(m, "e");
    compare_shared(ctx, m, 3);
    qfd_model_free(m);

    /* a is read only through its view h, five nodes later */
    m = mb_new(13);
    mb_input(m, "x", 3, dx);
    mb_const(m, "same", QFD_DT_INT64, 1, sd, dx);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"a"});
    mb_node(m, "Reshape", 2, (const char *[]){"a", "same"}, 1, (const char *[]){"h"});
    mb_node(m, "Neg", 1, (const char *[]){"x"}, 1, (const char *[]){"t1"});
    mb_node(m, "Neg", 1, (const char *[]){"t1"}, 1, (const char *[]){"t2"});
    mb_node(m, "Neg", 1, (const char *[]){"t2"}, 1, (const char *[]){"t3"});
    mb_node(m, "Neg", 1, (const char *[]){"t3"}, 1, (const char *[]){"t4"});
    mb_node(m, "Add", 2, (const char *[]){"t4", "h"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    compare_shared(ctx, m, 1);
    qfd_model_free(m);
}

/* Conv (or FusedConv with Relu and a residual Z of Y's shape) of x [n, c,
 * hw, hw] by m k x k filters in `group` groups with bias, stride s, pad
 * k/2, against a double loop; W an initializer (packed once by the
 * executor) or, with w_input, a second graph input (packed by the op at
 * each call). */
static void conv_case(qfd_ctx *ctx, int fused, int w_input, int64_t n, int64_t c, int64_t m, int64_t group, int64_t hw,
                      int64_t k, int64_t s)
{
    const int64_t pad = k / 2, oh = (hw + 2 * pad - k) / s + 1, cg = c / group, mg = m / group;
    const int64_t xd[4] = {n, c, hw, hw}, wd[4] = {m, cg, k, k}, yd[4] = {n, m, oh, oh}, bl = m;
    const int64_t nx = n * c * hw * hw, nw = m * cg * k * k, ny = n * m * oh * oh;
    float *x = malloc((size_t)nx * sizeof *x), *w = malloc((size_t)nw * sizeof *w), *b = malloc((size_t)m * sizeof *b);
    float *z = malloc((size_t)ny * sizeof *z);
    double *want = malloc((size_t)ny * sizeof *want);
    if (!x || !w || !b || !z || !want)
        abort();
    fill(x, nx, -1.0f, 1.0f, (unsigned)(c * 7 + m));
    fill(w, nw, -0.2f, 0.2f, (unsigned)(k * 11 + m));
    fill(b, m, -0.5f, 0.5f, 9);
    fill(z, ny, -0.5f, 0.5f, 13);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < m; o++)
            for (int64_t r = 0; r < oh; r++)
                for (int64_t q = 0; q < oh; q++) {
                    double acc = b[o];
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t u = 0; u < k; u++)
                            for (int64_t v = 0; v < k; v++) {
                                const int64_t ir = r * s - pad + u, iq = q * s - pad + v, xc = o / mg * cg + ci;
                                if (ir >= 0 && ir < hw && iq >= 0 && iq < hw)
                                    acc += (double)w[((o * cg + ci) * k + u) * k + v] *
                                           x[((i * c + xc) * hw + ir) * hw + iq];
                            }
                    const int64_t at = ((i * m + o) * oh + r) * oh + q;
                    want[at] = fused ? fmax(acc + z[at], 0.0) : acc;
                }
    qfd_model *mod = mb_new(13);
    mb_input(mod, "x", 4, xd);
    if (w_input)
        mb_input(mod, "w", 4, wd);
    else
        mb_param(mod, "w", 4, wd, w, 0.0f, 0.0f);
    mb_param(mod, "b", 1, &bl, b, 0.0f, 0.0f);
    if (fused)
        mb_param(mod, "z", 4, yd, z, 0.0f, 0.0f);
    qfd_node *nd = mb_node(mod, fused ? "FusedConv" : "Conv", fused ? 4 : 3, (const char *[]){"x", "w", "b", "z"}, 1,
                           (const char *[]){"y"});
    if (fused) {
        mb_domain(mod, nd, "com.microsoft", 1);
        mb_attr_str(nd, "activation", "Relu");
    }
    mb_attr_ints(nd, "strides", 2, (const int64_t[]){s, s});
    if (group > 1)
        mb_attr_int(nd, "group", group);
    mb_attr_ints(nd, "pads", 4, (const int64_t[]){pad, pad, pad, pad});
    mb_output(mod, "y");
    qfd_array in[2] = {{QFD_DT_FLOAT, 4, {n, c, hw, hw}, x, (size_t)nx * sizeof(float)},
                       {QFD_DT_FLOAT, 4, {m, cg, k, k}, w, (size_t)nw * sizeof(float)}};
    for (int nt = 1; nt <= 2; nt++) {
        qfd_exec *e = NULL;
        CHECK_OK(ctx, qfd_exec_new(ctx, mod, nt, &e));
        for (int rep = 0; e && rep < 2; rep++) { /* the second run reuses what the first packed */
            qfd_status st = qfd_exec_run(ctx, e, in, w_input ? 2 : 1);
            CHECK_OK(ctx, st);
            const qfd_array *out = st ? NULL : qfd_exec_output(e, 0);
            CHECK(out && qfd_array_numel(out) == ny);
            if (!out || qfd_array_numel(out) != ny)
                break;
            char what[96];
            snprintf(what, sizeof what, "%s n=%lld c=%lld m=%lld %lldx%lld/%lld on %lld%s run %d",
                     fused ? "FusedConv" : "Conv", (long long)n, (long long)c, (long long)m, (long long)k, (long long)k,
                     (long long)s, (long long)hw, w_input ? " (W an input)" : "", rep + 1);
            check_all(what, ny, nt, out->data, want, 1e-4, 1e-5);
        }
        qfd_exec_free(e);
    }
    qfd_model_free(mod);
    free(x);
    free(w);
    free(b);
    free(z);
    free(want);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    const int64_t sizes[] = {1, 3, 15, 16, 17, 49, 64, 100};
    for (int i = 0; i < 8; i++) {
        softmax_case(ctx, 0, 5, sizes[i], 10.0f);
        softmax_case(ctx, 1, 5, sizes[i], 10.0f);
        layernorm_case(ctx, 4, sizes[i], 0.0f);
    }
    /* Conv's direct kernels: 32-channel tiles in two channel blocks (128 x 9 x
     * 64 weights exceed one block), 16-channel tiles with stride 2, the flat
     * kernel (20 channels), a 1x1 stride-2 conv, groups (RegNet's 16-channel
     * groups, and 4-channel ones on the flat kernel); batch 1 (threads share
     * the image) and 3 */
    for (int64_t n = 1; n <= 3; n += 2) {
        conv_case(ctx, 0, 0, n, 128, 64, 1, 9, 3, 1);
        conv_case(ctx, 1, 0, n, 128, 64, 1, 9, 3, 1);
        conv_case(ctx, 0, 1, n, 128, 64, 1, 9, 3, 1);
        conv_case(ctx, 1, 0, n, 40, 48, 1, 11, 3, 2);
        conv_case(ctx, 0, 0, n, 8, 20, 1, 10, 3, 1);
        conv_case(ctx, 1, 0, n, 64, 32, 1, 14, 1, 2);
        conv_case(ctx, 1, 0, n, 48, 48, 3, 9, 3, 1);
        conv_case(ctx, 0, 1, n, 64, 64, 4, 9, 3, 2);
        conv_case(ctx, 0, 0, n, 12, 12, 3, 8, 3, 1);
    }
    /* enough rows for the threaded paths */
    softmax_case(ctx, 0, 2000, 49, 30.0f);
    softmax_case(ctx, 1, 1500, 64, 30.0f);
    layernorm_case(ctx, 3000, 64, 0.0f);
    layernorm_case(ctx, 50, 64, 100.0f); /* a large mean: the variance must not cancel */
    const char *unary[] = {"Erf", "Exp", "Sigmoid"};
    for (int e = 0; e < 3; e++) {
        unary_case(ctx, unary[e], 10);
        unary_case(ctx, unary[e], 33);
        unary_case(ctx, unary[e], 70001);
    }
    /* ViT's qkv split [B, T, 3, H, D] -> [3, B, H, T, D], its head merge, a
     * batched 2-D transpose, and a strided last axis */
    transpose_case(ctx, (const int64_t[]){8, 49, 3, 4, 16}, (const int64_t[]){2, 0, 3, 1, 4});
    transpose_case(ctx, (const int64_t[]){2, 5, 3, 4, 7}, (const int64_t[]){2, 0, 3, 1, 4});
    transpose_case(ctx, (const int64_t[]){1, 64, 4, 49, 16}, (const int64_t[]){0, 1, 3, 2, 4});
    transpose_case(ctx, (const int64_t[]){16, 4, 49, 16, 1}, (const int64_t[]){0, 2, 1, 3, 4});
    transpose_case(ctx, (const int64_t[]){3, 4, 5, 6, 7}, (const int64_t[]){4, 3, 2, 1, 0});
    transpose_case(ctx, (const int64_t[]){4, 3, 5, 37, 1}, (const int64_t[]){1, 0, 2, 3, 4}); /* rows of 185 */
    /* batched 2-D transposes around the 16 x 16 blocks */
    transpose_case(ctx, (const int64_t[]){1, 1, 64, 64, 49}, (const int64_t[]){0, 1, 2, 4, 3});
    transpose_case(ctx, (const int64_t[]){1, 1, 3, 17, 33}, (const int64_t[]){0, 1, 2, 4, 3});
    transpose_case(ctx, (const int64_t[]){1, 1, 2, 16, 5}, (const int64_t[]){0, 1, 2, 4, 3});
    transpose_case(ctx, (const int64_t[]){1, 1, 1, 1, 300}, (const int64_t[]){0, 1, 4, 2, 3});
    transpose_case(ctx, (const int64_t[]){1, 1, 1, 40, 7}, (const int64_t[]){0, 1, 2, 4, 3});
    /* attention's per-head products, and broadcast batch axes */
    matmul_case(ctx, (const int64_t[]){8, 4, 49, 16}, (const int64_t[]){8, 4, 16, 49});
    matmul_case(ctx, (const int64_t[]){3, 1, 5, 7}, (const int64_t[]){1, 4, 7, 6});
    matmul_case(ctx, (const int64_t[]){1, 1, 70, 65}, (const int64_t[]){2, 3, 65, 66});
    const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < 8; i++) {
            int64_t n = sizes[i] * 97; /* long rows too, for the threads */
            binary_case(ctx, ops[o], sizes[i], 1, (const int64_t[]){sizes[i]});
            binary_case(ctx, ops[o], n, 1, (const int64_t[]){1});
            binary_case(ctx, ops[o], sizes[i], 3, (const int64_t[]){5, 3, sizes[i]});
        }
    linear_case(ctx, 4, 49, 64, 192);
    linear_case(ctx, 3, 7, 5, 37);
    linear_case(ctx, 2, 25, 130, 70); /* deeper than the AVX-512 kernel takes: OpenBLAS */
    views_case(ctx, 1);
    views_case(ctx, -1);
    shared_values_case(ctx);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
