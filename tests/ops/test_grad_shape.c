/* Gradient checks of the shape family: Reshape, Flatten, Squeeze,
 * Unsqueeze, Transpose, Concat, Split, Slice, Gather, Expand. All are
 * linear, so every element of each parameter is checked (ALL) except in
 * the larger transposes that cross the 32x32 tiles. The gradient checks run
 * on one thread; threads_match() runs larger cases (past the kernels'
 * OpenMP thresholds) on 1 and 4 threads and wants the same gradient bits,
 * which catches two threads adding into one element. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define ALL 100000 /* max_elems: check every element */
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define NAMES(...) ((const char *const[]){__VA_ARGS__})

static int check(const char *label, qfd_model *m, const char *const *params, int max_elems)
{
    return gradcheck(label, m, &(gradcheck_opts){.params = params, .max_elems = max_elems});
}

/* A model whose parameter x (uniform in [-1, 1)) feeds the op under test. */
static qfd_model *with_x(int64_t opset, int rank, const int64_t *dims)
{
    qfd_model *m = mb_new(opset);
    mb_param(m, "x", rank, dims, NULL, -1, 1);
    return m;
}

static int reshape_checks(void)
{
    int fails = 0;
    qfd_model *m;
    const char *const *px = NAMES("x", NULL);

    m = with_x(13, 3, I64(2, 3, 4));
    mb_const(m, "shape", QFD_DT_INT64, 1, I64(2), I64(0, -1));
    mb_node(m, "Reshape", 2, NAMES("x", "shape"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Reshape [2,3,4] -> [0,-1]", m, px, ALL);

    m = with_x(13, 3, I64(2, 3, 4));
    mb_const(m, "shape", QFD_DT_INT64, 1, I64(3), I64(-1, 0, 2));
    mb_node(m, "Reshape", 2, NAMES("x", "shape"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Reshape [2,3,4] -> [-1,0,2]", m, px, ALL);

    for (int axis = 0; axis <= 2; axis++) {
        char label[64];
        snprintf(label, sizeof label, "Flatten [2,3,4] axis %d", axis);
        m = with_x(13, 3, I64(2, 3, 4));
        mb_attr_int(mb_node(m, "Flatten", 1, NAMES("x"), 1, NAMES("y")), "axis", axis);
        mb_output(m, "y");
        fails += check(label, m, px, ALL);
    }

    m = with_x(13, 4, I64(2, 1, 3, 1));
    mb_const(m, "axes", QFD_DT_INT64, 1, I64(2), I64(1, -1));
    mb_node(m, "Squeeze", 2, NAMES("x", "axes"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Squeeze opset 13 axes input [1,-1]", m, px, ALL);

    m = with_x(11, 4, I64(2, 1, 3, 1));
    mb_attr_ints(mb_node(m, "Squeeze", 1, NAMES("x"), 1, NAMES("y")), "axes", 1, I64(3));
    mb_output(m, "y");
    fails += check("Squeeze opset 11 axes attribute [3]", m, px, ALL);

    m = with_x(13, 2, I64(3, 4));
    mb_const(m, "axes", QFD_DT_INT64, 1, I64(2), I64(0, 3));
    mb_node(m, "Unsqueeze", 2, NAMES("x", "axes"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Unsqueeze opset 13 axes input [0,3]", m, px, ALL);

    m = with_x(11, 2, I64(3, 4));
    mb_attr_ints(mb_node(m, "Unsqueeze", 1, NAMES("x"), 1, NAMES("y")), "axes", 2, I64(1, -1));
    mb_output(m, "y");
    fails += check("Unsqueeze opset 11 axes attribute [1,-1]", m, px, ALL);
    return fails;
}

static int transpose_check(const char *label, int rank, const int64_t *dims, const int64_t *perm, int max_elems)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, NULL, -1, 1);
    qfd_node *n = mb_node(m, "Transpose", 1, NAMES("x"), 1, NAMES("y"));
    if (perm)
        mb_attr_ints(n, "perm", rank, perm);
    mb_output(m, "y");
    return check(label, m, NAMES("x", NULL), max_elems);
}

static int transpose_checks(void)
{
    int fails = 0;
    fails += transpose_check("Transpose [2,3,4,5] perm (0,2,3,1)", 4, I64(2, 3, 4, 5), I64(0, 2, 3, 1), ALL);
    fails += transpose_check("Transpose [2,3,4,5] perm (0,3,1,2)", 4, I64(2, 3, 4, 5), I64(0, 3, 1, 2), ALL);
    fails += transpose_check("Transpose [3,4,5] perm (2,0,1)", 3, I64(3, 4, 5), I64(2, 0, 1), ALL);
    /* No fast path: strided rows (general case). */
    fails += transpose_check("Transpose [2,3,4] perm (1,0,2)", 3, I64(2, 3, 4), I64(1, 0, 2), ALL);
    fails += transpose_check("Transpose [2,3,4,5] perm (3,1,0,2)", 4, I64(2, 3, 4, 5), I64(3, 1, 0, 2), ALL);
    fails += transpose_check("Transpose [3,4,5] default perm", 3, I64(3, 4, 5), NULL, ALL);
    /* Partial 32x32 tiles in the tiled kernel. */
    fails += transpose_check("Transpose [2,40,35] perm (0,2,1)", 3, I64(2, 40, 35), I64(0, 2, 1), 200);
    return fails;
}

static int concat_split_checks(void)
{
    int fails = 0;
    qfd_model *m = mb_new(13);
    mb_param(m, "a", 3, I64(2, 1, 3), NULL, -1, 1);
    mb_param(m, "b", 3, I64(2, 2, 3), NULL, -1, 1);
    mb_param(m, "c", 3, I64(2, 3, 3), NULL, -1, 1);
    mb_attr_int(mb_node(m, "Concat", 3, NAMES("a", "b", "c"), 1, NAMES("y")), "axis", 1);
    mb_output(m, "y");
    fails += check("Concat 3 inputs axis 1", m, NAMES("a", "b", "c", NULL), ALL);

    m = mb_new(13);
    mb_param(m, "a", 3, I64(2, 3, 1), NULL, -1, 1);
    mb_param(m, "b", 3, I64(2, 3, 2), NULL, -1, 1);
    mb_param(m, "c", 3, I64(2, 3, 3), NULL, -1, 1);
    mb_attr_int(mb_node(m, "Concat", 3, NAMES("a", "b", "c"), 1, NAMES("y")), "axis", -1);
    mb_output(m, "y");
    fails += check("Concat 3 inputs axis -1", m, NAMES("a", "b", "c", NULL), ALL);

    /* The same parameter twice, one input not trained: gradients add up. */
    m = mb_new(13);
    mb_param(m, "a", 2, I64(2, 3), NULL, -1, 1);
    mb_const(m, "k", QFD_DT_FLOAT, 2, I64(2, 2), (const float[]){1, 2, 3, 4});
    mb_attr_int(mb_node(m, "Concat", 3, NAMES("a", "k", "a"), 1, NAMES("y")), "axis", 1);
    mb_output(m, "y");
    fails += check("Concat (a, const, a) axis 1", m, NAMES("a", NULL), ALL);

    m = mb_new(13);
    mb_param(m, "x", 3, I64(2, 6, 3), NULL, -1, 1);
    mb_attr_int(mb_node(m, "Split", 1, NAMES("x"), 3, NAMES("y0", "y1", "y2")), "axis", 1);
    mb_output(m, "y0");
    mb_output(m, "y2");
    fails += check("Split axis 1 into 3 equal, outputs y0 y2", m, NAMES("x", NULL), ALL);

    m = mb_new(13);
    mb_param(m, "x", 3, I64(2, 3, 6), NULL, -1, 1);
    mb_const(m, "split", QFD_DT_INT64, 1, I64(3), I64(1, 2, 3));
    mb_attr_int(mb_node(m, "Split", 2, NAMES("x", "split"), 3, NAMES("y0", "y1", "y2")), "axis", -1);
    mb_output(m, "y1");
    mb_output(m, "y2");
    fails += check("Split axis -1 sizes (1,2,3), outputs y1 y2", m, NAMES("x", NULL), ALL);
    return fails;
}

static int slice_check(const char *label, int rank, const int64_t *dims, int n, const int64_t *starts,
                       const int64_t *ends, const int64_t *axes, const int64_t *steps)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, NULL, -1, 1);
    mb_const(m, "starts", QFD_DT_INT64, 1, I64(n), starts);
    mb_const(m, "ends", QFD_DT_INT64, 1, I64(n), ends);
    mb_const(m, "axes", QFD_DT_INT64, 1, I64(n), axes);
    mb_const(m, "steps", QFD_DT_INT64, 1, I64(n), steps);
    mb_node(m, "Slice", 5, NAMES("x", "starts", "ends", "axes", "steps"), 1, NAMES("y"));
    mb_output(m, "y");
    return check(label, m, NAMES("x", NULL), ALL);
}

static int slice_checks(void)
{
    int fails = 0;
    fails += slice_check("Slice [5,6] steps (1,2)", 2, I64(5, 6), 2, I64(1, 0), I64(4, 6), I64(0, 1), I64(1, 2));
    fails += slice_check("Slice [5,6] steps (-1,2)", 2, I64(5, 6), 2, I64(-1, 1), I64(INT64_MIN, 6), I64(0, 1),
                         I64(-1, 2));
    fails += slice_check("Slice [5,6] steps (2,-1)", 2, I64(5, 6), 2, I64(0, 4), I64(5, 0), I64(0, 1), I64(2, -1));
    /* Trailing whole axis: rows of 3 move together. */
    fails += slice_check("Slice [4,5,3] axes (1,0) steps (-1,2)", 3, I64(4, 5, 3), 2, I64(3, 1), I64(0, 4), I64(1, 0),
                         I64(-1, 2));
    return fails;
}

static int gather_checks(void)
{
    int fails = 0;
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, I64(4, 3), NULL, -1, 1);
    mb_const(m, "idx", QFD_DT_INT64, 2, I64(2, 3), I64(2, 0, 2, -2, 3, 2));
    mb_node(m, "Gather", 2, NAMES("x", "idx"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Gather axis 0 repeated/negative indices", m, NAMES("x", NULL), ALL);

    m = mb_new(13);
    mb_param(m, "x", 3, I64(2, 4, 3), NULL, -1, 1);
    mb_const(m, "idx", QFD_DT_INT64, 1, I64(5), I64(3, 1, 3, 0, -1));
    mb_attr_int(mb_node(m, "Gather", 2, NAMES("x", "idx"), 1, NAMES("y")), "axis", 1);
    mb_output(m, "y");
    fails += check("Gather axis 1 repeated indices", m, NAMES("x", NULL), ALL);
    return fails;
}

static int expand_check(const char *label, int rank, const int64_t *dims, int n, const int64_t *shape)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, NULL, -1, 1);
    mb_const(m, "shape", QFD_DT_INT64, 1, I64(n), shape);
    mb_node(m, "Expand", 2, NAMES("x", "shape"), 1, NAMES("y"));
    mb_output(m, "y");
    return check(label, m, NAMES("x", NULL), ALL);
}

static int expand_checks(void)
{
    int fails = 0;
    fails += expand_check("Expand [3,1] -> [2,3,4]", 2, I64(3, 1), 3, I64(2, 3, 4));
    fails += expand_check("Expand [2,1,4] -> [3,2,5,4]", 3, I64(2, 1, 4), 4, I64(3, 2, 5, 4));
    fails += expand_check("Expand [1,3,1] -> [4,1,2]", 3, I64(1, 3, 1), 3, I64(4, 1, 2));
    fails += expand_check("Expand [2,3] -> [1,1] (no broadcast)", 2, I64(2, 3), 2, I64(1, 1));
    return fails;
}

/* dL/dx after one forward and backward on nt threads with dL/dy fixed and
 * pseudo-random; x and y are the tensors named so. NULL on failure. */
static float *grad_of_x(qfd_model *m, int nt, size_t *n)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    float *g = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    int tx = qfd_graph_find(&m->graph, "x");
    if (!ctx || !train || tx < 0)
        goto out;
    train[tx] = 1;
    if (qfd_exec_new(ctx, m, nt, &e) || qfd_exec_set_trainable(ctx, e, train))
        goto out;
    qfd_exec_set_training(e, true, 1);
    if (qfd_exec_run(ctx, e, NULL, 0))
        goto out;
    qfd_exec_zero_grads(e);
    uint64_t s = 7;
    for (size_t k = 0; k < qfd_exec_n_outputs(e); k++) {
        qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, k));
        float *d = gy ? gy->data : NULL;
        for (int64_t i = 0; d && i < qfd_array_numel(gy); i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            d[i] = (float)((s >> 40) / 16777216.0) * 2.0f - 1.0f;
        }
    }
    if (qfd_exec_backward(ctx, e))
        goto out;
    const qfd_array *gx = qfd_exec_grad(e, tx);
    if (gx && (g = malloc(gx->nbytes + 1))) {
        memcpy(g, gx->data, gx->nbytes);
        *n = gx->nbytes;
    }
out:
    if (!g)
        printf("  %s\n", ctx ? qfd_ctx_error(ctx) : "out of memory");
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return g;
}

typedef qfd_model *(*builder)(void);

static int threads_match(const char *label, builder build)
{
    size_t n1 = 0, n4 = 0;
    float *g1 = grad_of_x(build(), 1, &n1), *g4 = grad_of_x(build(), 4, &n4);
    int bad = !g1 || !g4 || n1 != n4 || memcmp(g1, g4, n1);
    printf("%s %s: 1 and 4 threads give %s gradients (%zu floats)\n", bad ? "FAIL" : "ok  ", label,
           bad ? "different" : "the same", n1 / sizeof(float));
    free(g1);
    free(g4);
    return bad;
}

static qfd_model *big_unary(int rank, const int64_t *dims, const char *op, const char *attr, int n_attr,
                            const int64_t *attr_v)
{
    qfd_model *m = with_x(13, rank, dims);
    qfd_node *n = mb_node(m, op, 1, NAMES("x"), 1, NAMES("y"));
    if (attr)
        mb_attr_ints(n, attr, n_attr, attr_v);
    mb_output(m, "y");
    return m;
}

static qfd_model *big_flatten(void)
{
    return big_unary(2, I64(300, 300), "Flatten", NULL, 0, NULL);
}
static qfd_model *big_transpose_tiled(void)
{
    return big_unary(4, I64(2, 64, 32, 33), "Transpose", "perm", 4, I64(0, 2, 3, 1));
}
static qfd_model *big_transpose_rows(void)
{
    return big_unary(4, I64(2, 64, 32, 33), "Transpose", "perm", 4, I64(3, 1, 0, 2));
}

static qfd_model *big_concat(void)
{
    qfd_model *m = with_x(13, 3, I64(4, 64, 128));
    mb_param(m, "b", 3, I64(4, 32, 128), NULL, -1, 1);
    mb_attr_int(mb_node(m, "Concat", 3, NAMES("x", "b", "x"), 1, NAMES("y")), "axis", 1);
    mb_output(m, "y");
    return m;
}

static qfd_model *big_split(void)
{
    qfd_model *m = with_x(13, 3, I64(4, 192, 128));
    mb_const(m, "split", QFD_DT_INT64, 1, I64(3), I64(64, 100, 28));
    mb_attr_int(mb_node(m, "Split", 2, NAMES("x", "split"), 3, NAMES("y", "y1", "y2")), "axis", 1);
    mb_output(m, "y");
    mb_output(m, "y2");
    return m;
}

static qfd_model *big_slice(void)
{
    qfd_model *m = with_x(13, 3, I64(128, 64, 32));
    mb_const(m, "starts", QFD_DT_INT64, 1, I64(2), I64(-1, 1));
    mb_const(m, "ends", QFD_DT_INT64, 1, I64(2), I64(INT64_MIN, 128));
    mb_const(m, "axes", QFD_DT_INT64, 1, I64(2), I64(1, 0));
    mb_const(m, "steps", QFD_DT_INT64, 1, I64(2), I64(-1, 2));
    mb_node(m, "Slice", 5, NAMES("x", "starts", "ends", "axes", "steps"), 1, NAMES("y"));
    mb_output(m, "y");
    return m;
}

/* 256 indices in [-100, 100) with many repeats. */
static qfd_model *big_gather(int rank, const int64_t *dims, int axis)
{
    int64_t idx[256];
    uint64_t s = 3;
    for (int i = 0; i < 256; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        idx[i] = (int64_t)(s >> 33) % 200 - 100;
    }
    qfd_model *m = with_x(13, rank, dims);
    mb_const(m, "idx", QFD_DT_INT64, 2, I64(16, 16), idx);
    mb_attr_int(mb_node(m, "Gather", 2, NAMES("x", "idx"), 1, NAMES("y")), "axis", axis);
    mb_output(m, "y");
    return m;
}
static qfd_model *big_gather0(void)
{
    return big_gather(2, I64(100, 600), 0);
}
static qfd_model *big_gather1(void)
{
    return big_gather(3, I64(3, 100, 300), 1);
}

static qfd_model *big_expand(int rank, const int64_t *dims, int n, const int64_t *shape)
{
    qfd_model *m = with_x(13, rank, dims);
    mb_const(m, "shape", QFD_DT_INT64, 1, I64(n), shape);
    mb_node(m, "Expand", 2, NAMES("x", "shape"), 1, NAMES("y"));
    mb_output(m, "y");
    return m;
}
static qfd_model *big_expand_rows(void)
{
    return big_expand(3, I64(64, 1, 32), 4, I64(4, 64, 16, 32));
}
static qfd_model *big_expand_cols(void)
{
    return big_expand(2, I64(3000, 1), 3, I64(40, 3000, 2));
}
static qfd_model *big_expand_bias(void)
{
    return big_expand(1, I64(600), 2, I64(300, 600));
}

static int thread_checks(void)
{
    int fails = 0;
    fails += threads_match("Flatten [300,300]", big_flatten);
    fails += threads_match("Transpose [2,64,32,33] (0,2,3,1)", big_transpose_tiled);
    fails += threads_match("Transpose [2,64,32,33] (3,1,0,2)", big_transpose_rows);
    fails += threads_match("Concat (x, b, x) axis 1", big_concat);
    fails += threads_match("Split [4,192,128] (64,100,28)", big_split);
    fails += threads_match("Slice [128,64,32] steps (-1,2)", big_slice);
    fails += threads_match("Gather [100,600] axis 0", big_gather0);
    fails += threads_match("Gather [3,100,300] axis 1", big_gather1);
    fails += threads_match("Expand [64,1,32] -> [4,64,16,32]", big_expand_rows);
    fails += threads_match("Expand [3000,1] -> [40,3000,2]", big_expand_cols);
    fails += threads_match("Expand [600] -> [300,600]", big_expand_bias);
    return fails;
}

/* issue 16: Tile, GatherND, ScatterND (data and updates), Trilu,
 * DepthToSpace (both modes), SpaceToDepth. */
static int model_op_checks(void)
{
    int fails = 0;
    qfd_model *m;
    const char *const *px = NAMES("x", NULL);

    m = with_x(13, 3, I64(2, 1, 3));
    mb_const(m, "rep", QFD_DT_INT64, 1, I64(3), I64(2, 3, 2));
    mb_node(m, "Tile", 2, NAMES("x", "rep"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("Tile [2,1,3] x [2,3,2]", m, px, ALL);

    m = with_x(13, 3, I64(2, 3, 4));
    mb_const(m, "idx", QFD_DT_INT64, 2, I64(4, 2), I64(0, 1, 1, -1, 0, 1, 1, 0));
    mb_node(m, "GatherND", 2, NAMES("x", "idx"), 1, NAMES("y"));
    mb_output(m, "y");
    fails += check("GatherND [2,3,4] k=2, a repeated tuple", m, px, ALL);

    m = with_x(13, 3, I64(2, 3, 4));
    mb_const(m, "idx", QFD_DT_INT64, 3, I64(2, 2, 1), I64(2, 0, 1, 2));
    mb_attr_int(mb_node(m, "GatherND", 2, NAMES("x", "idx"), 1, NAMES("y")), "batch_dims", 1);
    mb_output(m, "y");
    fails += check("GatherND batch_dims=1", m, px, ALL);

    for (int add = 0; add <= 1; add++) {
        m = with_x(16, 2, I64(4, 3));
        mb_param(m, "u", 2, I64(3, 3), NULL, -1, 1);
        mb_const(m, "idx", QFD_DT_INT64, 2, I64(3, 1), add ? I64(1, 3, 1) : I64(1, 3, -4));
        qfd_node *n = mb_node(m, "ScatterND", 3, NAMES("x", "idx", "u"), 1, NAMES("y"));
        if (add)
            mb_attr_str(n, "reduction", "add");
        mb_output(m, "y");
        fails += check(add ? "ScatterND add, a repeated index" : "ScatterND none", m, NAMES("x", "u", NULL), ALL);
    }

    for (int upper = 0; upper <= 1; upper++) {
        m = with_x(14, 3, I64(2, 3, 4));
        mb_const(m, "k", QFD_DT_INT64, 0, NULL, I64(upper ? 1 : -1));
        mb_attr_int(mb_node(m, "Trilu", 2, NAMES("x", "k"), 1, NAMES("y")), "upper", upper);
        mb_output(m, "y");
        fails += check(upper ? "Trilu upper k=1" : "Trilu lower k=-1", m, px, ALL);
    }

    for (int crd = 0; crd <= 1; crd++) {
        m = with_x(13, 4, I64(2, 8, 2, 3));
        qfd_node *n = mb_node(m, "DepthToSpace", 1, NAMES("x"), 1, NAMES("y"));
        mb_attr_int(n, "blocksize", 2);
        mb_attr_str(n, "mode", crd ? "CRD" : "DCR");
        mb_output(m, "y");
        fails += check(crd ? "DepthToSpace CRD b=2" : "DepthToSpace DCR b=2", m, px, ALL);
    }
    m = with_x(13, 4, I64(2, 2, 4, 6));
    mb_attr_int(mb_node(m, "SpaceToDepth", 1, NAMES("x"), 1, NAMES("y")), "blocksize", 2);
    mb_output(m, "y");
    fails += check("SpaceToDepth b=2", m, px, ALL);
    return fails;
}

int main(void)
{
    int fails = 0;
    fails += reshape_checks();
    fails += transpose_checks();
    fails += concat_split_checks();
    fails += slice_checks();
    fails += gather_checks();
    fails += expand_checks();
    fails += thread_checks();
    fails += model_op_checks();
    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
