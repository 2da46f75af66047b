/* Gradient checks of the unary and binary families: the float activations
 * and math functions, Clip, PRelu, Cast, Dropout (training), Add, Sub, Mul,
 * Div, Pow with broadcasting, Min, Max, Where; plus direct tests of what a
 * central difference cannot see: Dropout's mask statistics and its
 * independence of the thread count, ties in Max, and the threaded broadcast
 * reductions agreeing with the single-threaded ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define PARAMS(...) ((const char *[]){__VA_ARGS__, NULL})
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* dims of a rank-0 tensor: never read, but not NULL (the builder memcpy's them) */
static const int64_t k_scalar[1] = {1};

static uint32_t g_rng = 12345u;

static float urand(float lo, float hi)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(g_rng >> 8) / 16777216.0f;
}

/* n values uniform in [lo, hi), none within 0.05 of a kink: the checker's
 * +-1e-2 steps then never cross one. */
static float *away(int n, float lo, float hi, const float *kinks, int nk)
{
    static float buf[4096];
    for (int i = 0; i < n; i++) {
        float v;
        int ok;
        do {
            v = urand(lo, hi);
            ok = 1;
            for (int k = 0; k < nk; k++)
                ok &= fabsf(v - kinks[k]) >= 0.05f;
        } while (!ok);
        buf[i] = v;
    }
    return buf;
}

/* n distinct values 0.05 apart, shuffled: Min/Max selections stay put. */
static void distinct(float *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)(i - n / 2) * 0.05f;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(urand(0, 1) * (float)(i + 1)) % (i + 1);
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- unary ---- */

typedef struct unary_case {
    const char *op;
    int64_t opset;
    float lo, hi;
    float kinks[2];
    int nk;
    const char *attr; /* float attribute, or "approximate" */
    float attr_v;
} unary_case;

static int unary_checks(void)
{
    static const unary_case cases[] = {
        {"Relu", 14, -2, 2, {0}, 1, NULL, 0},
        {"LeakyRelu", 16, -2, 2, {0}, 1, "alpha", 0.1f},
        {"Sigmoid", 13, -4, 4, {0}, 0, NULL, 0},
        {"HardSigmoid", 6, -4, 4, {-2.5f, 2.5f}, 2, NULL, 0},
        {"HardSigmoid", 6, -4, 4, {-1, 1}, 2, "alpha", 0.5f}, /* 0.5 x + 0.5 */
        {"HardSwish", 14, -5, 5, {-3, 3}, 2, NULL, 0},
        {"Tanh", 13, -3, 3, {0}, 0, NULL, 0},
        {"Erf", 13, -2.5f, 2.5f, {0}, 0, NULL, 0},
        {"Gelu", 20, -4, 4, {0}, 0, NULL, 0},
        {"Gelu", 20, -4, 4, {0}, 0, "approximate", 0},
        {"Sqrt", 13, 0.3f, 3, {0}, 0, NULL, 0},
        {"Exp", 13, -2, 2, {0}, 0, NULL, 0},
        {"Log", 13, 0.3f, 3, {0}, 0, NULL, 0},
        {"Neg", 13, -2, 2, {0}, 0, NULL, 0},
        {"Abs", 13, -2, 2, {0}, 1, NULL, 0},
        {"Reciprocal", 13, 0.5f, 3, {0}, 0, NULL, 0},
    };
    int fails = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const unary_case *u = &cases[c];
        qfd_model *m = mb_new(u->opset);
        mb_param(m, "x", 2, DIMS(4, 5), away(20, u->lo, u->hi, u->kinks, u->nk), 0, 0);
        qfd_node *n = mb_node(m, u->op, 1, PARAMS("x"), 1, PARAMS("y"));
        char label[64];
        snprintf(label, sizeof label, "%s", u->op);
        if (u->attr && !strcmp(u->attr, "approximate")) {
            mb_attr_str(n, "approximate", "tanh");
            snprintf(label, sizeof label, "%s(tanh)", u->op);
        } else if (u->attr) {
            mb_attr_float(n, u->attr, u->attr_v);
            snprintf(label, sizeof label, "%s(%s=%g)", u->op, u->attr, (double)u->attr_v);
        }
        mb_output(m, "y");
        fails += gradcheck(label, m, &(gradcheck_opts){.params = PARAMS("x")});
    }
    return fails;
}

/* Clip with bound inputs (opset 13; the bounds trained too), with only max,
 * and with attributes (opset 6). */
static int clip_checks(void)
{
    int fails = 0;
    const float kinks[] = {-0.5f, 0.7f};
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, DIMS(4, 6), away(24, -1.5f, 1.5f, kinks, 2), 0, 0);
    mb_param(m, "lo", 0, k_scalar, (const float[]){-0.5f}, 0, 0);
    mb_param(m, "hi", 0, k_scalar, (const float[]){0.7f}, 0, 0);
    mb_node(m, "Clip", 3, PARAMS("x", "lo", "hi"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("Clip(opset 13, inputs)", m, &(gradcheck_opts){.params = PARAMS("x", "lo", "hi")});

    m = mb_new(13);
    mb_param(m, "x", 2, DIMS(4, 6), away(24, -1.5f, 1.5f, kinks, 2), 0, 0);
    mb_const(m, "hi", QFD_DT_FLOAT, 0, k_scalar, (const float[]){0.7f});
    mb_node(m, "Clip", 3, PARAMS("x", "", "hi"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("Clip(opset 13, max only)", m, &(gradcheck_opts){.params = PARAMS("x")});

    m = mb_new(6);
    mb_param(m, "x", 2, DIMS(4, 6), away(24, -1.5f, 1.5f, kinks, 2), 0, 0);
    qfd_node *n = mb_node(m, "Clip", 1, PARAMS("x"), 1, PARAMS("y"));
    mb_attr_float(n, "min", -0.5f);
    mb_attr_float(n, "max", 0.7f);
    mb_output(m, "y");
    fails += gradcheck("Clip(opset 6, attributes)", m, &(gradcheck_opts){.params = PARAMS("x")});
    return fails;
}

static int prelu_checks(void)
{
    int fails = 0;
    const float kink[] = {0};
    qfd_model *m = mb_new(16);
    mb_param(m, "x", 4, DIMS(2, 3, 3, 3), away(54, -2, 2, kink, 1), 0, 0);
    mb_param(m, "slope", 3, DIMS(3, 1, 1), NULL, 0.05f, 0.5f);
    mb_node(m, "PRelu", 2, PARAMS("x", "slope"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("PRelu(slope [C,1,1])", m, &(gradcheck_opts){.params = PARAMS("x", "slope"), .max_elems = 54});

    m = mb_new(16);
    mb_param(m, "x", 4, DIMS(2, 3, 3, 3), away(54, -2, 2, kink, 1), 0, 0);
    mb_param(m, "slope", 1, DIMS(1), (const float[]){0.2f}, 0, 0);
    mb_node(m, "PRelu", 2, PARAMS("x", "slope"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("PRelu(scalar slope)", m, &(gradcheck_opts){.params = PARAMS("x", "slope")});
    return fails;
}

/* Cast float -> float passes the gradient; a Cast to int64 beside it
 * carries none (its output is not float) and must add nothing. */
static int cast_checks(void)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, DIMS(3, 4), NULL, -2, 2);
    qfd_node *n = mb_node(m, "Cast", 1, PARAMS("x"), 1, PARAMS("y"));
    mb_attr_int(n, "to", QFD_DT_FLOAT);
    n = mb_node(m, "Cast", 1, PARAMS("x"), 1, PARAMS("xi"));
    mb_attr_int(n, "to", QFD_DT_INT64);
    mb_output(m, "y");
    mb_output(m, "xi");
    return gradcheck("Cast(float->float, ->int64)", m, &(gradcheck_opts){.params = PARAMS("x")});
}

/* ---- binary ---- */

static int binary_checks(void)
{
    static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow"};
    static const struct {
        int ra;
        int64_t da[3];
        int rb;
        int64_t db[3];
        const char *name;
    } shapes[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}, "same"},       {3, {2, 3, 4}, 1, {4}, "[2,3,4]+[4]"},
        {3, {2, 3, 4}, 2, {3, 1}, "[2,3,4]+[3,1]"}, {3, {2, 1, 4}, 3, {1, 3, 1}, "[2,1,4]+[1,3,1]"},
        {3, {2, 3, 4}, 0, {0}, "[2,3,4]+scalar"},   {0, {0}, 3, {2, 3, 4}, "scalar+[2,3,4]"},
        {1, {4}, 3, {2, 3, 4}, "[4]+[2,3,4]"},
    };
    int fails = 0;
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int is_pow = !strcmp(ops[o], "Pow"), is_div = !strcmp(ops[o], "Div");
            qfd_model *m = mb_new(13);
            /* Pow: positive bases for ln(b); Div: divisors away from 0 */
            mb_param(m, "a", shapes[s].ra, shapes[s].da, NULL, is_pow ? 0.5f : -2.0f, 2.0f);
            mb_param(m, "b", shapes[s].rb, shapes[s].db, NULL,
                     is_pow   ? -1.5f
                     : is_div ? 0.5f
                              : -2.0f,
                     is_pow ? 2.0f : 2.0f);
            mb_node(m, ops[o], 2, PARAMS("a", "b"), 1, PARAMS("y"));
            mb_output(m, "y");
            char label[64];
            snprintf(label, sizeof label, "%s %s", ops[o], shapes[s].name);
            fails += gradcheck(label, m, &(gradcheck_opts){.params = PARAMS("a", "b")});
        }
    }

    /* Pow with constant exponents: the 2 and 1 fast paths, an int64 one. */
    const float e2 = 2.0f, e1 = 1.0f, e3 = 3.0f;
    const float *ef[] = {&e2, &e1, &e3};
    for (int k = 0; k < 3; k++) {
        qfd_model *m = mb_new(13);
        mb_param(m, "a", 2, DIMS(3, 4), NULL, -2, 2);
        mb_const(m, "e", QFD_DT_FLOAT, 0, k_scalar, ef[k]);
        mb_node(m, "Pow", 2, PARAMS("a", "e"), 1, PARAMS("y"));
        mb_output(m, "y");
        char label[64];
        snprintf(label, sizeof label, "Pow a^%g (constant)", (double)*ef[k]);
        fails += gradcheck(label, m, &(gradcheck_opts){.params = PARAMS("a")});
    }
    qfd_model *m = mb_new(13);
    mb_param(m, "a", 2, DIMS(3, 4), NULL, 0.5f, 2);
    mb_const(m, "e", QFD_DT_INT64, 1, DIMS(4), (const int64_t[]){3, 2, 0, -1});
    mb_node(m, "Pow", 2, PARAMS("a", "e"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("Pow a^int64 [3,2,0,-1]", m, &(gradcheck_opts){.params = PARAMS("a")});

    /* Opset 6 legacy broadcast: B [3] placed at axis 1 of A [2,3,4]. */
    for (int k = 0; k < 2; k++) {
        m = mb_new(6);
        mb_param(m, "a", 3, DIMS(2, 3, 4), NULL, -2, 2);
        mb_param(m, "b", 1, DIMS(3), NULL, 0.5f, 2);
        qfd_node *n = mb_node(m, k ? "Div" : "Sub", 2, PARAMS("a", "b"), 1, PARAMS("y"));
        mb_attr_int(n, "broadcast", 1);
        mb_attr_int(n, "axis", 1);
        mb_output(m, "y");
        fails += gradcheck(k ? "Div(opset 6, axis 1)" : "Sub(opset 6, axis 1)", m,
                           &(gradcheck_opts){.params = PARAMS("a", "b")});
    }
    return fails;
}

static int minmax_where_checks(void)
{
    int fails = 0;
    for (int k = 0; k < 2; k++) {
        float v[24 + 3 + 4];
        distinct(v, 31);
        qfd_model *m = mb_new(13);
        mb_param(m, "a", 3, DIMS(2, 3, 4), v, 0, 0);
        mb_param(m, "b", 2, DIMS(3, 1), v + 24, 0, 0);
        mb_param(m, "c", 1, DIMS(4), v + 27, 0, 0);
        mb_node(m, k ? "Max" : "Min", 3, PARAMS("a", "b", "c"), 1, PARAMS("y"));
        mb_output(m, "y");
        fails += gradcheck(k ? "Max(3 inputs, broadcast)" : "Min(3 inputs, broadcast)", m,
                           &(gradcheck_opts){.params = PARAMS("a", "b", "c")});
    }
    const uint8_t cond[] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0};
    qfd_model *m = mb_new(16);
    mb_const(m, "cond", QFD_DT_BOOL, 2, DIMS(3, 4), cond);
    mb_param(m, "x", 3, DIMS(2, 3, 4), NULL, -2, 2);
    mb_param(m, "y", 1, DIMS(4), NULL, -2, 2);
    mb_node(m, "Where", 3, PARAMS("cond", "x", "y"), 1, PARAMS("out"));
    mb_output(m, "out");
    fails += gradcheck("Where(bool [3,4], X [2,3,4], Y [4])", m, &(gradcheck_opts){.params = PARAMS("x", "y")});
    return fails;
}

static int dropout_gradchecks(void)
{
    int fails = 0;
    /* The trainer's training forward: the seed is fixed within the check,
     * so every forward draws the same mask. */
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, DIMS(6, 8), NULL, -2, 2);
    mb_const(m, "ratio", QFD_DT_FLOAT, 0, k_scalar, (const float[]){0.3f});
    mb_node(m, "Dropout", 2, PARAMS("x", "ratio"), 2, PARAMS("y", "mask"));
    mb_output(m, "y");
    mb_output(m, "mask");
    fails += gradcheck("Dropout(training, ratio 0.3)", m, &(gradcheck_opts){.params = PARAMS("x"), .training = true});
    /* The same through the training_mode input, outside a training forward. */
    m = mb_new(13);
    mb_param(m, "x", 2, DIMS(6, 8), NULL, -2, 2);
    mb_const(m, "ratio", QFD_DT_FLOAT, 0, k_scalar, (const float[]){0.3f});
    mb_const(m, "tm", QFD_DT_BOOL, 0, k_scalar, (const uint8_t[]){1});
    mb_node(m, "Dropout", 3, PARAMS("x", "ratio", "tm"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("Dropout(training_mode input, ratio 0.3)", m, &(gradcheck_opts){.params = PARAMS("x")});
    /* Inference: the identity. */
    m = mb_new(13);
    mb_param(m, "x", 2, DIMS(6, 8), NULL, -2, 2);
    mb_node(m, "Dropout", 1, PARAMS("x"), 1, PARAMS("y"));
    mb_output(m, "y");
    fails += gradcheck("Dropout(inference)", m, &(gradcheck_opts){.params = PARAMS("x")});
    return fails;
}

/* ---- direct tests through the executor ---- */

typedef struct run {
    qfd_ctx *ctx;
    qfd_exec *e;
    const qfd_model *m;
} run;

/* An executor with the named parameters trainable, after one forward. */
static int run_open(run *r, const qfd_model *m, int threads, const char *const *params, bool training, uint64_t seed)
{
    r->ctx = qfd_ctx_new();
    r->m = m;
    r->e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    for (const char *const *p = params; *p; p++)
        train[qfd_graph_find(&m->graph, *p)] = 1;
    int bad = qfd_exec_new(r->ctx, m, threads, &r->e) || qfd_exec_set_trainable(r->ctx, r->e, train);
    free(train);
    if (!bad) {
        qfd_exec_set_training(r->e, training, seed);
        bad = qfd_exec_run(r->ctx, r->e, NULL, 0) != QFD_OK;
    }
    if (bad)
        printf("FAIL run: %s\n", qfd_ctx_error(r->ctx));
    return bad;
}

static void run_close(run *r)
{
    qfd_exec_free(r->e);
    qfd_ctx_free(r->ctx);
}

/* Backward from dL/d(output 0) = a fixed pattern; returns the gradient of
 * `param` (owned by the executor). */
static const float *run_backward(run *r, const char *param)
{
    qfd_exec_zero_grads(r->e);
    qfd_array *g = qfd_exec_grad(r->e, qfd_exec_output_tensor(r->e, 0));
    if (!g)
        return NULL;
    float *d = g->data;
    for (int64_t i = 0; i < qfd_array_numel(g); i++)
        d[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    if (qfd_exec_backward(r->ctx, r->e)) {
        printf("FAIL backward: %s\n", qfd_ctx_error(r->ctx));
        return NULL;
    }
    const qfd_array *ga = qfd_exec_grad(r->e, qfd_graph_find(&r->m->graph, param));
    return ga ? ga->data : NULL;
}

/* Fraction dropped, the 1/(1-ratio) scale, the mask output, the same mask
 * for 1 and 4 threads, and inference as the identity. */
static int dropout_direct(void)
{
    enum { N = 100000 };
    int fails = 0;
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, DIMS(100, 1000), NULL, 1, 2);
    mb_const(m, "ratio", QFD_DT_FLOAT, 0, k_scalar, (const float[]){0.3f});
    mb_node(m, "Dropout", 2, PARAMS("x", "ratio"), 2, PARAMS("y", "mask"));
    mb_output(m, "y");
    mb_output(m, "mask");
    const float *x = m->graph.tensors[qfd_graph_find(&m->graph, "x")].data;
    uint8_t *mask1 = malloc(N);
    for (int threads = 1; threads <= 4; threads += 3) {
        run r;
        if (run_open(&r, m, threads, PARAMS("x"), true, 99)) {
            fails++;
            run_close(&r);
            continue;
        }
        const float *y = qfd_exec_output(r.e, 0)->data;
        const uint8_t *mk = qfd_exec_output(r.e, 1)->data;
        int dropped10k = 0, dropped = 0, bad_scale = 0, bad_mask = 0;
        for (int i = 0; i < N; i++) {
            int d = y[i] == 0.0f;
            dropped += d;
            dropped10k += d && i < 10000;
            bad_mask += mk[i] != !d;
            bad_scale += !d && fabsf(y[i] - x[i] / 0.7f) > 1e-6f * fabsf(x[i] / 0.7f);
        }
        double f10k = dropped10k / 10000.0, f = dropped / (double)N;
        if (fabs(f10k - 0.3) > 0.02 || fabs(f - 0.3) > 0.02 || bad_scale || bad_mask) {
            printf("FAIL Dropout (%d threads): dropped %.4f of 10000, %.4f of %d; %d badly scaled, %d mask errors\n",
                   threads, f10k, f, N, bad_scale, bad_mask);
            fails++;
        } else {
            printf("ok   Dropout (%d threads): dropped %.4f of 10000, %.4f of %d; kept scaled by 1/0.7\n", threads,
                   f10k, f, N);
        }
        if (threads == 1) {
            memcpy(mask1, mk, N);
        } else if (memcmp(mask1, mk, N)) {
            printf("FAIL Dropout: the mask differs between 1 and 4 threads\n");
            fails++;
        } else {
            printf("ok   Dropout: the same mask with 1 and 4 threads\n");
        }
        /* A new step's seed draws a new mask. */
        qfd_exec_set_training(r.e, true, 100);
        if (threads == 1 && !qfd_exec_run(r.ctx, r.e, NULL, 0)) {
            if (!memcmp(mask1, qfd_exec_output(r.e, 1)->data, N)) {
                printf("FAIL Dropout: a new seed gives the same mask\n");
                fails++;
            }
        }
        /* Inference on the same executor: the identity, all kept. */
        qfd_exec_set_training(r.e, false, 0);
        if (qfd_exec_run(r.ctx, r.e, NULL, 0)) {
            printf("FAIL Dropout inference: %s\n", qfd_ctx_error(r.ctx));
            fails++;
        } else {
            y = qfd_exec_output(r.e, 0)->data;
            mk = qfd_exec_output(r.e, 1)->data;
            int diff = 0;
            for (int i = 0; i < N; i++)
                diff += y[i] != x[i] || mk[i] != 1;
            if (diff) {
                printf("FAIL Dropout inference: %d elements differ from the identity\n", diff);
                fails++;
            } else if (threads == 1) {
                printf("ok   Dropout inference: the identity\n");
            }
        }
        run_close(&r);
    }
    free(mask1);
    qfd_model_free(m);
    return fails;
}

/* Max(a, a'): equal values, so every gradient goes to the first input. */
static int max_ties(void)
{
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (float)(i % 5) - 2.0f;
    qfd_model *m = mb_new(13);
    mb_param(m, "a", 2, DIMS(3, 4), v, 0, 0);
    mb_param(m, "b", 2, DIMS(3, 4), v, 0, 0);
    mb_node(m, "Max", 2, PARAMS("a", "b"), 1, PARAMS("y"));
    mb_output(m, "y");
    run r;
    int fails = 0;
    if (run_open(&r, m, 1, PARAMS("a", "b"), false, 0)) {
        fails = 1;
    } else {
        const float *ga = run_backward(&r, "a");
        const float *gb = qfd_exec_grad(r.e, qfd_graph_find(&m->graph, "b"))->data;
        const float *dy = qfd_exec_grad(r.e, qfd_exec_output_tensor(r.e, 0))->data;
        for (int i = 0; ga && i < 12; i++)
            fails += ga[i] != dy[i] || gb[i] != 0.0f;
        fails += !ga;
        printf("%s Max ties: gradient to the first input\n", fails ? "FAIL" : "ok  ");
    }
    run_close(&r);
    qfd_model_free(m);
    return fails;
}

/* Large broadcasts take the threaded reductions; they must agree with one
 * thread (up to float summation order). */
static int threaded_reductions(void)
{
    static const struct {
        const char *op;
        int ra;
        int64_t da[4];
        int rb;
        int64_t db[4];
        const char *name;
    } cases[] = {
        {"Mul", 4, {16, 32, 16, 16}, 4, {1, 32, 1, 1}, "Mul [16,32,16,16]*[1,32,1,1]"},
        {"Add", 2, {1024, 128}, 1, {128}, "Add [1024,128]+[128]"},
        {"Sub", 2, {1024, 128}, 0, {0}, "Sub [1024,128]-scalar"},
        {"Div", 3, {64, 64, 32}, 3, {64, 1, 32}, "Div [64,64,32]/[64,1,32]"},
        {"Pow", 3, {64, 64, 32}, 2, {64, 1}, "Pow [64,64,32]^[64,1]"},
        {"PRelu", 4, {16, 32, 16, 16}, 3, {32, 1, 1}, "PRelu [16,32,16,16] slope [32,1,1]"},
    };
    int fails = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        qfd_model *m = mb_new(16);
        int is_pow = !strcmp(cases[c].op, "Pow");
        mb_param(m, "a", cases[c].ra, cases[c].da, NULL, is_pow ? 0.5f : -2.0f, 2.0f);
        mb_param(m, "b", cases[c].rb, cases[c].db, NULL, 0.5f, 1.5f);
        mb_node(m, cases[c].op, 2, PARAMS("a", "b"), 1, PARAMS("y"));
        mb_output(m, "y");
        int64_t na = 1, nb = 1;
        for (int d = 0; d < cases[c].ra; d++)
            na *= cases[c].da[d];
        for (int d = 0; d < cases[c].rb; d++)
            nb *= cases[c].db[d];
        float *g1a = malloc((size_t)na * sizeof *g1a), *g1b = malloc((size_t)nb * sizeof *g1b);
        double worst = 0;
        int bad = 0;
        for (int threads = 1; threads <= 4; threads += 3) {
            run r;
            if (run_open(&r, m, threads, PARAMS("a", "b"), false, 0)) {
                bad = 1;
                run_close(&r);
                break;
            }
            const float *ga = run_backward(&r, "a");
            const float *gb = ga ? qfd_exec_grad(r.e, qfd_graph_find(&m->graph, "b"))->data : NULL;
            if (!ga || !gb) {
                bad = 1;
            } else if (threads == 1) {
                memcpy(g1a, ga, (size_t)na * sizeof *ga);
                memcpy(g1b, gb, (size_t)nb * sizeof *gb);
            } else {
                for (int64_t i = 0; i < na; i++)
                    worst = fmax(worst, fabs(ga[i] - g1a[i]) / fmax(1.0, fabs(g1a[i])));
                for (int64_t i = 0; i < nb; i++)
                    worst = fmax(worst, fabs(gb[i] - g1b[i]) / fmax(1.0, fabs(g1b[i])));
            }
            run_close(&r);
        }
        bad |= worst > 1e-4;
        printf("%s %s: 4 threads vs 1, worst relative difference %.2g\n", bad ? "FAIL" : "ok  ", cases[c].name, worst);
        fails += bad;
        free(g1a);
        free(g1b);
        qfd_model_free(m);
    }
    return fails;
}

int main(void)
{
    int fails = 0;
    fails += unary_checks();
    fails += clip_checks();
    fails += prelu_checks();
    fails += cast_checks();
    fails += binary_checks();
    fails += minmax_where_checks();
    fails += dropout_gradchecks();
    fails += dropout_direct();
    fails += max_ties();
    fails += threaded_reductions();
    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
