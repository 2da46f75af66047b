/* The opset upgrade (qfd_pass_upgrade_opset), one case per rewrite family:
 * the upgraded graph has the new schema's form (attributes moved to inputs,
 * ops renamed, the opset and IR version raised) and, where qfd-onnx's
 * executor runs both schemas, computes what the original computed on the
 * same input. Refusals name the node and leave the model as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "passes/passes.h"

#define MAX_OUT 4096

/* Every output of m on x (dims of the model's one input), concatenated;
 * returns the number of floats written. */
static size_t run(qfd_ctx *ctx, const qfd_model *m, int rank, const int64_t *dims, float *out)
{
    static float x[MAX_OUT];
    qfd_array in = {QFD_DT_FLOAT, rank, {0}, x, 0};
    size_t numel = 1, n = 0;
    for (int k = 0; k < rank; k++)
        numel *= (size_t)(in.dims[k] = dims[k]);
    for (size_t i = 0; i < numel; i++)
        x[i] = 2.0f * sinf((float)i * 0.37f + 0.1f);
    in.nbytes = numel * sizeof *x;
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    if (!e)
        return 0;
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    for (size_t k = 0; k < qfd_exec_n_outputs(e); k++) {
        const qfd_array *y = qfd_exec_output(e, k);
        size_t c = y->nbytes / sizeof(float);
        CHECK(n + c <= MAX_OUT);
        if (n + c <= MAX_OUT)
            memcpy(out + n, y->data, y->nbytes);
        n += c;
    }
    qfd_exec_free(e);
    return n;
}

/* Upgrades m to `to` and checks that it computes the same as before. */
static void same_outputs(qfd_ctx *ctx, qfd_model *m, int64_t to, int rank, const int64_t *dims, float tol)
{
    static float before[MAX_OUT], after[MAX_OUT];
    size_t n0 = run(ctx, m, rank, dims, before);
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, to));
    CHECK(qfd_model_opset(m, "") == to);
    size_t n1 = run(ctx, m, rank, dims, after);
    CHECK(n0 == n1 && n0 > 0);
    float worst = 0;
    for (size_t i = 0; i < n0 && i < n1; i++)
        worst = fmaxf(worst, fabsf(before[i] - after[i]));
    if (!(worst <= tol))
        fprintf(stderr, "largest difference %g\n", (double)worst);
    CHECK(worst <= tol);
}

static const qfd_node *node_of(const qfd_model *m, const char *op)
{
    for (size_t i = 0; i < m->graph.n_nodes; i++)
        if (qfd_node_is(&m->graph.nodes[i], op))
            return &m->graph.nodes[i];
    return NULL;
}

static int count_of(const qfd_model *m, const char *op)
{
    int c = 0;
    for (size_t i = 0; i < m->graph.n_nodes; i++)
        c += qfd_node_is(&m->graph.nodes[i], op);
    return c;
}

/* The int64 initializer of input k of n, its length in *len. */
static const int64_t *int_input(const qfd_model *m, const qfd_node *n, size_t k, int64_t *len)
{
    if (!n || k >= n->n_in || n->in[k] < 0)
        return NULL;
    const qfd_tensor *t = &m->graph.tensors[n->in[k]];
    if (!(t->flags & QFD_T_INITIALIZER) || t->dtype != QFD_DT_INT64)
        return NULL;
    *len = qfd_tensor_numel(t);
    return t->data;
}

static const int64_t X3[] = {2, 3, 4}, X4[] = {2, 3, 4, 5};

static void test_reduce(qfd_ctx *ctx)
{
    /* ReduceSum: axes an input at 13; ReduceMean and ReduceMax at 18 */
    qfd_model *m = mb_new(11);
    mb_input(m, "x", 3, X3);
    qfd_node *n = mb_node(m, "ReduceSum", 1, (const char *[]){"x"}, 1, (const char *[]){"s"});
    mb_attr_ints(n, "axes", 1, (const int64_t[]){1});
    mb_attr_int(n, "keepdims", 0);
    n = mb_node(m, "ReduceMean", 1, (const char *[]){"x"}, 1, (const char *[]){"a"});
    mb_attr_ints(n, "axes", 2, (const int64_t[]){-1, 0});
    n = mb_node(m, "ReduceMax", 1, (const char *[]){"x"}, 1, (const char *[]){"b"});
    mb_node(m, "ReduceSum", 1, (const char *[]){"x"}, 1, (const char *[]){"all"}); /* no axes: every axis */
    mb_output(m, "s");
    mb_output(m, "a");
    mb_output(m, "b");
    mb_output(m, "all");
    same_outputs(ctx, m, 21, 3, X3, 0);
    int64_t len = 0;
    const int64_t *ax = int_input(m, node_of(m, "ReduceMean"), 1, &len);
    CHECK(ax && len == 2 && ax[0] == -1 && ax[1] == 0 && !qfd_attr_get(node_of(m, "ReduceMean"), "axes"));
    ax = int_input(m, node_of(m, "ReduceSum"), 1, &len);
    CHECK(ax && len == 1 && ax[0] == 1);
    CHECK(node_of(m, "ReduceMax")->n_in == 1);
    CHECK(m->ir_version == 10);
    qfd_model_free(m);

    /* from 13 to 17 only ReduceSum had changed, and it already had inputs */
    m = mb_new(13);
    mb_input(m, "x", 3, X3);
    n = mb_node(m, "ReduceMean", 1, (const char *[]){"x"}, 1, (const char *[]){"a"});
    mb_attr_ints(n, "axes", 1, (const int64_t[]){2});
    mb_output(m, "a");
    same_outputs(ctx, m, 17, 3, X3, 0);
    CHECK(qfd_attr_get(node_of(m, "ReduceMean"), "axes") && node_of(m, "ReduceMean")->n_in == 1);
    CHECK(m->ir_version == 8);
    qfd_model_free(m);
}

static void test_squeeze(qfd_ctx *ctx)
{
    qfd_model *m = mb_new(12);
    mb_input(m, "x", 3, X3);
    qfd_node *n = mb_node(m, "Unsqueeze", 1, (const char *[]){"x"}, 1, (const char *[]){"u"});
    mb_attr_ints(n, "axes", 2, (const int64_t[]){0, 4});
    n = mb_node(m, "Squeeze", 1, (const char *[]){"u"}, 1, (const char *[]){"s"});
    mb_attr_ints(n, "axes", 1, (const int64_t[]){-1});
    mb_output(m, "s");
    same_outputs(ctx, m, 21, 3, X3, 0);
    int64_t len = 0;
    const int64_t *ax = int_input(m, node_of(m, "Unsqueeze"), 1, &len);
    CHECK(ax && len == 2 && ax[1] == 4);
    ax = int_input(m, node_of(m, "Squeeze"), 1, &len);
    CHECK(ax && len == 1 && ax[0] == -1);
    qfd_model_free(m);
}

static void test_split(qfd_ctx *ctx)
{
    /* sizes as an attribute (13: input); equal parts (18: num_outputs) */
    qfd_model *m = mb_new(11);
    mb_input(m, "x", 3, X3);
    qfd_node *n = mb_node(m, "Split", 1, (const char *[]){"x"}, 2, (const char *[]){"a", "b"});
    mb_attr_int(n, "axis", 2);
    mb_attr_ints(n, "split", 2, (const int64_t[]){1, 3});
    n = mb_node(m, "Split", 1, (const char *[]){"x"}, 2, (const char *[]){"c", "d"});
    mb_attr_int(n, "axis", -1);
    for (const char *o = "abcd"; *o; o++)
        mb_output(m, (char[]){*o, 0});
    same_outputs(ctx, m, 21, 3, X3, 0);
    const qfd_node *sized = &m->graph.nodes[0], *equal = &m->graph.nodes[1];
    if (!strcmp(m->graph.tensors[sized->out[0]].name, "c")) {
        const qfd_node *t = sized;
        sized = equal, equal = t;
    }
    int64_t len = 0;
    const int64_t *sp = int_input(m, sized, 1, &len);
    CHECK(sp && len == 2 && sp[0] == 1 && sp[1] == 3 && !qfd_attr_get(sized, "num_outputs"));
    CHECK(equal->n_in == 1 && qfd_attr_int(equal, "num_outputs", 0) == 2);
    qfd_model_free(m);
}

static void test_softmax(qfd_ctx *ctx)
{
    /* axis 1 of a 3-D input (rows of 3*4) and the default axis of a 4-D
     * one: Flatten/Reshape around the op; axis 2 of 3-D: only axis set */
    qfd_model *m = mb_new(11);
    mb_input(m, "x", 3, X3);
    qfd_node *n = mb_node(m, "Softmax", 1, (const char *[]){"x"}, 1, (const char *[]){"s1"});
    mb_attr_int(n, "axis", 1);
    n = mb_node(m, "LogSoftmax", 1, (const char *[]){"x"}, 1, (const char *[]){"l2"});
    mb_attr_int(n, "axis", 2);
    mb_node(m, "Relu", 1, (const char *[]){"s1"}, 1, (const char *[]){"r"}); /* a reader of the rewritten output */
    mb_output(m, "r");
    mb_output(m, "l2");
    same_outputs(ctx, m, 21, 3, X3, 1e-6f);
    CHECK(count_of(m, "Flatten") == 1 && count_of(m, "Reshape") == 1 && count_of(m, "Shape") == 1);
    CHECK(qfd_attr_int(node_of(m, "LogSoftmax"), "axis", 0) == 2);
    qfd_model_free(m);

    m = mb_new(12);
    mb_input(m, "x", 4, X4);
    mb_node(m, "Softmax", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}); /* default axis 1 */
    mb_output(m, "y");
    same_outputs(ctx, m, 13, 4, X4, 1e-6f);
    CHECK(count_of(m, "Flatten") == 1 && qfd_attr_int(node_of(m, "Flatten"), "axis", 0) == 1);
    qfd_model_free(m);

    /* a 2-D input with the old default axis: the same op, axis written */
    m = mb_new(11);
    mb_input(m, "x", 2, (const int64_t[]){4, 6});
    mb_node(m, "Hardmax", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 21));
    CHECK(m->graph.n_nodes == 1 && qfd_attr_int(node_of(m, "Hardmax"), "axis", -1) == 1);
    qfd_model_free(m);
}

static void test_clip_pad(qfd_ctx *ctx)
{
    qfd_model *m = mb_new(10);
    mb_input(m, "x", 4, X4);
    qfd_node *n = mb_node(m, "Clip", 1, (const char *[]){"x"}, 1, (const char *[]){"c"});
    mb_attr_float(n, "min", -0.5f);
    mb_attr_float(n, "max", 1.25f);
    n = mb_node(m, "Clip", 1, (const char *[]){"c"}, 1, (const char *[]){"h"});
    mb_attr_float(n, "max", 0.75f); /* no min: input 1 stays absent */
    n = mb_node(m, "Pad", 1, (const char *[]){"h"}, 1, (const char *[]){"p"});
    mb_attr_ints(n, "pads", 8, (const int64_t[]){0, 0, 1, 2, 0, 1, 0, 1});
    mb_attr_float(n, "value", 3.5f);
    n = mb_node(m, "Pad", 1, (const char *[]){"h"}, 1, (const char *[]){"q"});
    mb_attr_ints(n, "pads", 8, (const int64_t[]){0, 0, 2, 2, 0, 0, 2, 2});
    mb_attr_str(n, "mode", "reflect");
    mb_output(m, "p");
    mb_output(m, "q");
    same_outputs(ctx, m, 21, 4, X4, 0);
    const qfd_node *c1 = &m->graph.nodes[0], *c2 = &m->graph.nodes[1];
    CHECK(qfd_node_is(c1, "Clip") && c1->n_in == 3 && !qfd_attr_get(c1, "min") && !qfd_attr_get(c1, "max"));
    CHECK(qfd_node_is(c2, "Clip") && c2->n_in == 3 && c2->in[1] < 0 && c2->in[2] >= 0);
    int64_t len = 0;
    const qfd_node *p = node_of(m, "Pad");
    const int64_t *pads = int_input(m, p, 1, &len);
    CHECK(pads && len == 8 && pads[3] == 2 && !qfd_attr_get(p, "pads") && !qfd_attr_get(p, "value"));
    qfd_model_free(m);
}

static void test_dropout_bn(qfd_ctx *ctx)
{
    qfd_model *m = mb_new(8);
    const int64_t c[] = {3};
    mb_input(m, "x", 4, X4);
    mb_param(m, "s", 1, c, NULL, 0.5f, 2);
    mb_param(m, "b", 1, c, NULL, -1, 1);
    mb_param(m, "mu", 1, c, NULL, -1, 1);
    mb_param(m, "var", 1, c, NULL, 0.5f, 2);
    qfd_node *n = mb_node(m, "BatchNormalization", 5, (const char *[]){"x", "s", "b", "mu", "var"}, 1,
                          (const char *[]){"y"});
    mb_attr_int(n, "spatial", 1);
    mb_attr_float(n, "momentum", 0.8f);
    n = mb_node(m, "Dropout", 1, (const char *[]){"y"}, 2, (const char *[]){"d", "mask"});
    mb_attr_float(n, "ratio", 0.3f);
    mb_output(m, "d");
    same_outputs(ctx, m, 21, 4, X4, 0);
    const qfd_node *bn = node_of(m, "BatchNormalization"), *dr = node_of(m, "Dropout");
    CHECK(bn->n_out == 1 && !qfd_attr_get(bn, "spatial") && qfd_attr_get(bn, "momentum"));
    CHECK(dr->n_out == 1 && dr->n_in == 2 && !qfd_attr_get(dr, "ratio"));
    const float *ratio = dr->n_in == 2 ? qfd_graph_float_init(&m->graph, dr->in[1], 1) : NULL;
    CHECK(ratio && *ratio == 0.3f);
    qfd_model_free(m);

    /* training outputs nothing reads (which the executor does not run) */
    m = mb_new(9);
    mb_input(m, "x", 4, X4);
    const char *bn_in[] = {"x", "s", "b", "mu", "var"};
    for (int k = 1; k < 5; k++)
        mb_param(m, bn_in[k], 1, c, NULL, 0.5f, 1);
    mb_node(m, "BatchNormalization", 5, bn_in, 5, (const char *[]){"y", "m1", "v1", "sm", "sv"});
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 14));
    CHECK(node_of(m, "BatchNormalization")->n_out == 1);
    qfd_model_free(m);
}

static void test_resize(qfd_ctx *ctx)
{
    /* Upsample-8 (scales attribute), nearest: Resize with floor */
    qfd_model *m = mb_new(8);
    const int64_t x[] = {1, 1, 2, 3};
    mb_input(m, "x", 4, x);
    qfd_node *n = mb_node(m, "Upsample", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_attr_floats(n, "scales", 4, (const float[]){1, 1, 2, 3});
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 21));
    const qfd_node *r = node_of(m, "Resize");
    CHECK(r && count_of(m, "Upsample") == 0 && r->n_in == 3 && r->in[1] < 0);
    CHECK(r && !strcmp(qfd_attr_str(r, "coordinate_transformation_mode", ""), "asymmetric") &&
          !strcmp(qfd_attr_str(r, "nearest_mode", ""), "floor"));
    static float y[36];
    CHECK(run(ctx, m, 4, x, y) == 36);
    /* Upsample nearest: y[i][j] = x[i / 2][j / 3], x as run() fills it */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 9; j++)
            CHECK(y[i * 9 + j] == 2.0f * sinf((float)((i / 2) * 3 + j / 3) * 0.37f + 0.1f));
    qfd_model_free(m);

    /* Resize-10 downsampling (ceil) and upsampling linear: same outputs */
    m = mb_new(10);
    const int64_t x2[] = {1, 2, 4, 6}, s[] = {4};
    mb_input(m, "x", 4, x2);
    mb_param(m, "down", 1, s, (const float[]){1, 1, 0.6f, 0.7f}, 0, 0);
    mb_param(m, "up", 1, s, (const float[]){1, 1, 2, 1.5f}, 0, 0);
    mb_node(m, "Resize", 2, (const char *[]){"x", "down"}, 1, (const char *[]){"d"});
    n = mb_node(m, "Resize", 2, (const char *[]){"x", "up"}, 1, (const char *[]){"u"});
    mb_attr_str(n, "mode", "linear");
    mb_output(m, "d");
    mb_output(m, "u");
    same_outputs(ctx, m, 21, 4, x2, 1e-6f);
    CHECK(!strcmp(qfd_attr_str(node_of(m, "Resize"), "nearest_mode", ""), "ceil"));
    qfd_model_free(m);

    /* nearest Resize-10 with scales the graph computes: refused */
    m = mb_new(10);
    mb_input(m, "x", 4, x2);
    mb_input(m, "scales", 1, s);
    mb_node(m, "Resize", 2, (const char *[]){"x", "scales"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    CHECK(qfd_pass_upgrade_opset(ctx, m, 21) == QFD_ERR_UNSUPPORTED);
    CHECK(strstr(qfd_ctx_error(ctx), "scales that are not constant"));
    qfd_model_free(m);
}

static void test_slice_topk_renames(qfd_ctx *ctx)
{
    qfd_model *m = mb_new(9);
    mb_input(m, "x", 4, X4);
    qfd_node *n = mb_node(m, "Slice", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_attr_ints(n, "starts", 2, (const int64_t[]){1, 0});
    mb_attr_ints(n, "ends", 2, (const int64_t[]){3, -1});
    mb_attr_ints(n, "axes", 2, (const int64_t[]){2, 3});
    mb_output(m, "y");
    same_outputs(ctx, m, 21, 4, X4, 0);
    CHECK(node_of(m, "Slice")->n_in == 4 && node_of(m, "Slice")->n_attrs == 0);
    qfd_model_free(m);

    /* ops the executor does not run: the form of the new schema */
    m = mb_new(9);
    const int64_t d2[] = {4, 6}, c[] = {4, 6};
    mb_input(m, "x", 2, d2);
    mb_const(m, "idx", QFD_DT_INT64, 2, c, (const int64_t[24]){0});
    n = mb_node(m, "TopK", 1, (const char *[]){"x"}, 2, (const char *[]){"v", "i"});
    mb_attr_int(n, "k", 2);
    mb_node(m, "Scatter", 3, (const char *[]){"x", "idx", "x"}, 1, (const char *[]){"s"});
    mb_output(m, "v");
    mb_output(m, "s");
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 21));
    int64_t len = 0;
    const int64_t *k = int_input(m, node_of(m, "TopK"), 1, &len);
    CHECK(k && len == 1 && *k == 2 && !qfd_attr_get(node_of(m, "TopK"), "k"));
    CHECK(!node_of(m, "Scatter") && node_of(m, "ScatterElements"));
    qfd_model_free(m);

    m = mb_new(11);
    mb_input(m, "x", 4, X4);
    mb_input(m, "grid", 4, (const int64_t[]){2, 2, 2, 2});
    mb_input(m, "rois", 2, (const int64_t[]){1, 4});
    mb_input(m, "bi", 1, (const int64_t[]){1});
    n = mb_node(m, "GridSample", 2, (const char *[]){"x", "grid"}, 1, (const char *[]){"g"});
    mb_attr_str(n, "mode", "bicubic");
    mb_node(m, "RoiAlign", 3, (const char *[]){"x", "rois", "bi"}, 1, (const char *[]){"r"});
    mb_output(m, "g");
    mb_output(m, "r");
    /* GridSample came at 16: build at 16 */
    m->opsets[0].version = 16;
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 21));
    CHECK(!strcmp(qfd_attr_str(node_of(m, "GridSample"), "mode", ""), "cubic"));
    qfd_model_free(m);
    m = mb_new(10);
    mb_input(m, "x", 4, X4);
    mb_input(m, "rois", 2, (const int64_t[]){1, 4});
    mb_input(m, "bi", 1, (const int64_t[]){1});
    mb_node(m, "RoiAlign", 3, (const char *[]){"x", "rois", "bi"}, 1, (const char *[]){"r"});
    mb_output(m, "r");
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 16));
    CHECK(!strcmp(qfd_attr_str(node_of(m, "RoiAlign"), "coordinate_transformation_mode", ""), "output_half_pixel"));
    qfd_model_free(m);
}

/* A refused model is the model it was: same nodes, attributes, opset. */
static void refused(qfd_ctx *ctx, qfd_model *m, int64_t to, const char *message)
{
    int64_t opset = qfd_model_opset(m, ""), ir = m->ir_version;
    size_t nodes = m->graph.n_nodes, tensors = m->graph.n_tensors, attrs = m->graph.nodes[0].n_attrs;
    CHECK(qfd_pass_upgrade_opset(ctx, m, to) != QFD_OK);
    if (!strstr(qfd_ctx_error(ctx), message))
        fprintf(stderr, "message: %s\n", qfd_ctx_error(ctx));
    CHECK(strstr(qfd_ctx_error(ctx), message));
    CHECK(qfd_model_opset(m, "") == opset && m->ir_version == ir && m->graph.n_nodes == nodes &&
          m->graph.n_tensors == tensors && m->graph.nodes[0].n_attrs == attrs);
}

static void test_refusals(qfd_ctx *ctx)
{
    /* an op in neither table, after one that would have been rewritten */
    qfd_model *m = mb_new(18);
    const int64_t s[] = {3};
    mb_input(m, "x", 4, X4);
    qfd_node *n = mb_node(m, "ReduceMean", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_attr_ints(n, "axes", 1, (const int64_t[]){1});
    mb_param(m, "gs", 1, s, NULL, 0, 1);
    mb_param(m, "gb", 1, s, NULL, 0, 1);
    n = mb_node(m, "GroupNormalization", 3, (const char *[]){"x", "gs", "gb"}, 1, (const char *[]){"g"});
    free(n->name);
    n->name = strdup("gn");
    mb_attr_int(n, "num_groups", 3);
    mb_output(m, "r");
    mb_output(m, "g");
    m->opsets[0].version = 17; /* ReduceMean's axes move at 18 */
    refused(ctx, m, 21, "cannot upgrade node 'gn' (GroupNormalization) from opset 17 to 21");
    qfd_model_free(m);

    /* a mask that is read; BatchNorm spatial=0; training outputs read */
    m = mb_new(9);
    mb_input(m, "x", 4, X4);
    mb_node(m, "Dropout", 1, (const char *[]){"x"}, 2, (const char *[]){"d", "mask"});
    mb_output(m, "d");
    mb_output(m, "mask");
    refused(ctx, m, 21, "mask output is read");
    qfd_model_free(m);
    m = mb_new(8);
    mb_input(m, "x", 4, X4);
    const char *bn_in[] = {"x", "s", "b", "mu", "var"};
    for (int k = 1; k < 5; k++)
        mb_param(m, bn_in[k], 1, s, NULL, 0.5f, 1);
    n = mb_node(m, "BatchNormalization", 5, bn_in, 1, (const char *[]){"y"});
    mb_attr_int(n, "spatial", 0);
    mb_output(m, "y");
    refused(ctx, m, 13, "spatial=0");
    qfd_model_free(m);
    m = mb_new(13);
    mb_input(m, "x", 4, X4);
    for (int k = 1; k < 5; k++)
        mb_param(m, bn_in[k], 1, s, NULL, 0.5f, 1);
    mb_node(m, "BatchNormalization", 5, bn_in, 2, (const char *[]){"y", "mean"});
    mb_output(m, "y");
    mb_output(m, "mean");
    refused(ctx, m, 14, "training output 1 is read");
    qfd_model_free(m);

    /* downgrades and opsets past 21; an upgrade to the same opset does nothing */
    m = mb_new(13);
    mb_input(m, "x", 4, X4);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    refused(ctx, m, 12, "does not downgrade");
    refused(ctx, m, 22, "opsets 7 to 21");
    int64_t ir = m->ir_version;
    CHECK_OK(ctx, qfd_pass_upgrade_opset(ctx, m, 13));
    CHECK(m->ir_version == ir);
    qfd_model_free(m);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    test_reduce(ctx);
    test_squeeze(ctx);
    test_split(ctx);
    test_softmax(ctx);
    test_clip_pad(ctx);
    test_dropout_bn(ctx);
    test_resize(ctx);
    test_slice_topk_renames(ctx);
    test_refusals(ctx);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
