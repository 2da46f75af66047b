/* find_feature: the exact tensor found on small graphs of each head form
 * PyTorch exports, on the bundled models and on the zoo; --feature; the
 * failures and their messages.
 *
 * usage: test_find_feature SOURCE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "passes/passes.h"

static const int64_t X4[] = {2, 4, 3, 3};

/* Declares graph output 0 as float[N, c] (what torch.onnx.export writes
 * with a dynamic batch axis). */
static void declare_output(qfd_model *m, int64_t c)
{
    qfd_value_info *v = &m->graph.outputs[0];
    v->has_type = true;
    v->type.kind = QFD_TYPE_TENSOR;
    v->type.has_elem_type = true;
    v->type.elem_type = QFD_DT_FLOAT;
    v->type.has_shape = true;
    v->type.rank = 2;
    v->type.dims = calloc(2, sizeof *v->type.dims);
    if (!v->type.dims)
        abort();
    v->type.dims[0] = (qfd_dim){.kind = QFD_DIM_PARAM, .param = strdup("N")};
    v->type.dims[1] = (qfd_dim){.kind = QFD_DIM_VALUE, .value = c};
    if (!v->type.dims[0].param)
        abort();
}

/* Checks that the automatic search finds `want`, with the shape [N, c]
 * when c > 0, an unknown shape when c == 0, the declared input shape
 * [2, 3, 4] when c < 0; frees m. */
static void expect(qfd_ctx *ctx, qfd_model *m, const char *want, int64_t c, const char *what)
{
    qfd_feature f;
    qfd_status st = qfd_pass_find_feature_info(ctx, m, NULL, &f);
    const char *got = st ? qfd_ctx_error(ctx) : m->graph.tensors[f.tensor].name;
    printf("%-40s -> %s, rank %d\n", what, got, st ? 0 : f.rank);
    CHECK(st == QFD_OK && !strcmp(got, want));
    if (!st && c > 0) {
        CHECK(f.rank == 2 && f.dtype == QFD_DT_FLOAT);
        CHECK(f.rank == 2 && f.dims[0].param && !strcmp(f.dims[0].param, "N") && f.dims[1].value == c);
    } else if (!st && c == 0) {
        CHECK(f.rank == -1);
    } else if (!st) {
        CHECK(f.rank == 3 && f.dims[0].value == 2 && f.dims[1].value == 3 && f.dims[2].value == 4);
    }
    int t = -2;
    CHECK(qfd_pass_find_feature(ctx, m, NULL, &t) == st && t == (st ? -1 : f.tensor));
    qfd_model_free(m);
}

/* Checks that the search fails with a message holding each of `parts`. */
static void expect_fail(qfd_ctx *ctx, qfd_model *m, const char *const *parts, const char *what)
{
    int t = -2;
    qfd_status st = qfd_pass_find_feature(ctx, m, NULL, &t);
    printf("%-40s -> %s\n", what, qfd_ctx_error(ctx));
    CHECK(st == QFD_ERR_INVALID && t == -1);
    for (; *parts; parts++)
        CHECK(strstr(qfd_ctx_error(ctx), *parts) != NULL);
    CHECK(!strchr(qfd_ctx_error(ctx), '\n'));
    qfd_model_free(m);
}

/* x -> Relu -> GlobalAveragePool -> then -> Gemm(W [5, 4], transB) -> logits */
static qfd_model *cnn_trunk(void)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, X4);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"r"}, 1, (const char *[]){"gap"});
    return m;
}

static void gemm_head(qfd_model *m, const char *in, const char *out)
{
    const int64_t w[] = {5, 4}, b[] = {5};
    mb_param(m, "fc.weight", 2, w, NULL, -1, 1);
    mb_param(m, "fc.bias", 1, b, NULL, -1, 1);
    qfd_node *n = mb_node(m, "Gemm", 3, (const char *[]){in, "fc.weight", "fc.bias"}, 1, (const char *[]){out});
    mb_attr_int(n, "transB", 1);
}

static qfd_model *resnet_style(void)
{
    qfd_model *m = cnn_trunk();
    mb_node(m, "Flatten", 1, (const char *[]){"gap"}, 1, (const char *[]){"flat"});
    gemm_head(m, "flat", "logits");
    mb_output(m, "logits");
    return m;
}

/* GAP -> Reshape -> Dropout -> Gemm: the Dropout is looked through. */
static qfd_model *mobilenet_style(void)
{
    qfd_model *m = cnn_trunk();
    const int64_t two[] = {2}, shape[] = {2, 4};
    mb_const(m, "shape", QFD_DT_INT64, 1, two, shape);
    mb_node(m, "Reshape", 2, (const char *[]){"gap", "shape"}, 1, (const char *[]){"flat"});
    mb_node(m, "Dropout", 1, (const char *[]){"flat"}, 1, (const char *[]){"drop"});
    gemm_head(m, "drop", "logits");
    mb_output(m, "logits");
    return m;
}

/* tokens [2, 3, 4] -> class token (Gather, or Slice + Squeeze) ->
 * LayerNorm -> MatMul(W [4, 5]) + b, or Gemm. */
static qfd_model *vit_style(bool slice, bool matmul)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {2, 3, 4}, d[] = {4}, w[] = {4, 5}, b[] = {5}, one[] = {1}, zero = 0, end = 1, axis = 1;
    mb_input(m, "tokens", 3, x);
    if (slice) {
        mb_const(m, "starts", QFD_DT_INT64, 1, one, &zero);
        mb_const(m, "ends", QFD_DT_INT64, 1, one, &end);
        mb_const(m, "axes", QFD_DT_INT64, 1, one, &axis);
        mb_node(m, "Slice", 4, (const char *[]){"tokens", "starts", "ends", "axes"}, 1, (const char *[]){"sl"});
        mb_node(m, "Squeeze", 2, (const char *[]){"sl", "axes"}, 1, (const char *[]){"cls"});
    } else {
        mb_const(m, "index", QFD_DT_INT64, 0, NULL, &zero);
        qfd_node *n = mb_node(m, "Gather", 2, (const char *[]){"tokens", "index"}, 1, (const char *[]){"cls"});
        mb_attr_int(n, "axis", 1);
    }
    mb_param(m, "ln.weight", 1, d, NULL, 0.5f, 1.5f);
    mb_param(m, "ln.bias", 1, d, NULL, -1, 1);
    mb_node(m, "LayerNormalization", 3, (const char *[]){"cls", "ln.weight", "ln.bias"}, 1, (const char *[]){"ln"});
    if (matmul) {
        mb_param(m, "head.weight", 2, w, NULL, -1, 1);
        mb_param(m, "head.bias", 1, b, NULL, -1, 1);
        mb_node(m, "MatMul", 2, (const char *[]){"ln", "head.weight"}, 1, (const char *[]){"mm"});
        mb_node(m, "Add", 2, (const char *[]){"head.bias", "mm"}, 1, (const char *[]){"logits"});
    } else {
        gemm_head(m, "ln", "logits");
    }
    mb_output(m, "logits");
    return m;
}

/* Flatten -> MatMul by Transpose(W) (a weight one op from its initializer)
 * -> Add bias -> Softmax -> probs. */
static qfd_model *matmul_head(void)
{
    qfd_model *m = cnn_trunk();
    const int64_t w[] = {5, 4}, b[] = {5};
    mb_node(m, "Flatten", 1, (const char *[]){"gap"}, 1, (const char *[]){"flat"});
    mb_param(m, "W", 2, w, NULL, -1, 1);
    mb_param(m, "b", 1, b, NULL, -1, 1);
    mb_node(m, "Transpose", 1, (const char *[]){"W"}, 1, (const char *[]){"Wt"});
    mb_node(m, "MatMul", 2, (const char *[]){"flat", "Wt"}, 1, (const char *[]){"mm"});
    mb_node(m, "Add", 2, (const char *[]){"mm", "b"}, 1, (const char *[]){"logits"});
    qfd_node *n = mb_node(m, "Softmax", 1, (const char *[]){"logits"}, 1, (const char *[]){"probs"});
    mb_attr_int(n, "axis", 1);
    mb_output(m, "probs");
    return m;
}

/* The head runs on every token, then the class token's logits are taken
 * (tests/data/zoo/vit_like): the feature is every token's, shape unknown. */
static qfd_model *head_then_select(void)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {2, 3, 4}, w[] = {4, 5}, b[] = {5}, zero = 0;
    mb_input(m, "tokens", 3, x);
    mb_param(m, "head.weight", 2, w, NULL, -1, 1);
    mb_param(m, "head.bias", 1, b, NULL, -1, 1);
    mb_const(m, "index", QFD_DT_INT64, 0, NULL, &zero);
    mb_node(m, "MatMul", 2, (const char *[]){"tokens", "head.weight"}, 1, (const char *[]){"mm"});
    mb_node(m, "Add", 2, (const char *[]){"mm", "head.bias"}, 1, (const char *[]){"all"});
    qfd_node *n = mb_node(m, "Gather", 2, (const char *[]){"all", "index"}, 1, (const char *[]){"logits"});
    mb_attr_int(n, "axis", 1);
    mb_output(m, "logits");
    declare_output(m, 5);
    return m;
}

static void built_graphs(qfd_ctx *ctx)
{
    expect(ctx, resnet_style(), "flat", 0, "resnet-style GAP-Flatten-Gemm");
    qfd_model *m = resnet_style();
    declare_output(m, 5);
    expect(ctx, m, "flat", 4, "the same, output declared [N,5]");
    m = mobilenet_style();
    declare_output(m, 5);
    expect(ctx, m, "flat", 4, "mobilenet-style Reshape-Dropout-Gemm");
    m = vit_style(false, true);
    declare_output(m, 5);
    expect(ctx, m, "ln", 4, "vit-style Gather-LN-MatMul+bias");
    expect(ctx, vit_style(true, false), "ln", 0, "vit-style Slice-Squeeze-LN-Gemm");
    /* The weight is computed (no dims to read K from): shape unknown. */
    m = matmul_head();
    declare_output(m, 5);
    expect(ctx, m, "flat", 0, "MatMul(x, Transpose(W))+b, Softmax");
    /* The feature is the graph input here, whose shape is declared. */
    expect(ctx, head_then_select(), "tokens", -1, "head on every token, then Gather");

    /* transA: Gemm reads A^T, so the feature is declared [K, M]. */
    m = cnn_trunk();
    mb_node(m, "Flatten", 1, (const char *[]){"gap"}, 1, (const char *[]){"flat"});
    mb_node(m, "Transpose", 1, (const char *[]){"flat"}, 1, (const char *[]){"flat_t"});
    gemm_head(m, "flat_t", "logits");
    mb_attr_int(&m->graph.nodes[m->graph.n_nodes - 1], "transA", 1);
    mb_output(m, "logits");
    declare_output(m, 5);
    qfd_feature f;
    CHECK_OK(ctx, qfd_pass_find_feature_info(ctx, m, NULL, &f));
    CHECK(f.tensor == qfd_graph_find(&m->graph, "flat_t"));
    CHECK(f.rank == 2 && f.dims[0].value == 4 && f.dims[1].param && !strcmp(f.dims[1].param, "N"));
    qfd_model_free(m);
}

static void overrides(qfd_ctx *ctx)
{
    qfd_model *m = resnet_style();
    int t = -2;
    CHECK_OK(ctx, qfd_pass_find_feature(ctx, m, "gap", &t));
    CHECK(t == qfd_graph_find(&m->graph, "gap"));
    CHECK_OK(ctx, qfd_pass_find_feature(ctx, m, "x", &t)); /* a graph input is a value too */
    CHECK(t == qfd_graph_find(&m->graph, "x"));
    CHECK(qfd_pass_find_feature(ctx, m, "nope", &t) == QFD_ERR_ARG && t == -1);
    printf("--feature nope: %s\n", qfd_ctx_error(ctx));
    CHECK(!strcmp(qfd_ctx_error(ctx), "--feature: no tensor named 'nope' in the model"));
    CHECK(qfd_pass_find_feature(ctx, m, "fc.weight", &t) == QFD_ERR_ARG && t == -1);
    CHECK(strstr(qfd_ctx_error(ctx), "'fc.weight' in the model is an initializer") != NULL);
    qfd_model_free(m);
}

static void failures(qfd_ctx *ctx)
{
    /* Two heads concatenated: which one is "the" classifier is the user's call. */
    qfd_model *m = cnn_trunk();
    mb_node(m, "Flatten", 1, (const char *[]){"gap"}, 1, (const char *[]){"flat"});
    gemm_head(m, "flat", "a");
    mb_node(m, "Relu", 1, (const char *[]){"flat"}, 1, (const char *[]){"b"});
    qfd_node *n = mb_node(m, "Concat", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"logits"});
    mb_attr_int(n, "axis", 1);
    mb_output(m, "logits");
    expect_fail(ctx, m,
                (const char *[]){"cannot find the classifier feature: ", "output 'logits'", "(Concat)",
                                 "; pass --feature NAME", NULL},
                "Concat of two branches");

    /* Similarity of two activations (x x^T): no weight. */
    m = mb_new(13);
    const int64_t x[] = {2, 4};
    mb_input(m, "x", 2, x);
    mb_node(m, "Transpose", 1, (const char *[]){"x"}, 1, (const char *[]){"xt"});
    mb_node(m, "MatMul", 2, (const char *[]){"x", "xt"}, 1, (const char *[]){"sim"});
    mb_output(m, "sim");
    expect_fail(ctx, m,
                (const char *[]){"(MatMul) on the path back from output 'sim'",
                                 "does not multiply an activation by a weight", NULL},
                "MatMul of two activations");

    /* No classifier at all: the path reaches the input. */
    m = mb_new(13);
    mb_input(m, "x", 2, x);
    mb_node(m, "Softmax", 1, (const char *[]){"x"}, 1, (const char *[]){"p"});
    mb_output(m, "p");
    expect_fail(ctx, m, (const char *[]){"reaches 'x' without a Gemm or MatMul by a weight", NULL}, "no classifier");

    /* The file name leads the message when the model came from a file. */
    m = resnet_style();
    m->graph.nodes[m->graph.n_nodes - 1].op_type[0] = 'X'; /* "Xemm": unknown to the search */
    m->path = strdup("head.onnx");
    CHECK(m->path != NULL);
    expect_fail(ctx, m, (const char *[]){"head.onnx: cannot find the classifier feature", "(Xemm)", NULL},
                "unknown head op, file name");
}

/* The exact tensor on every bundled and zoo model, and the shape where the
 * first output declares one that shape-keeping ops lead to. */
static void models(qfd_ctx *ctx, const char *root)
{
    static const struct {
        const char *path, *feature;
        int64_t c; /* feature [batch, c]; 0: shape unknown */
    } cases[] = {
        {"models/resnet20.onnx", "/Flatten_output_0", 64},
        {"models/mobilenetv2.onnx", "/Flatten_output_0", 256},
        {"models/vit.onnx", "/ReduceMean_output_0", 64},
        {"tests/data/zoo/densenet_like/model.onnx", "/Flatten_output_0", 44},
        {"tests/data/zoo/lenet_gray/model.onnx", "/Sigmoid_output_0", 84},
        {"tests/data/zoo/matmul_head/model.onnx", "/Flatten_output_0", 1024},
        {"tests/data/zoo/mobilenet_like/model.onnx", "/classifier/classifier.1/Mul_output_0", 128},
        {"tests/data/zoo/reshape_head/model.onnx", "/Reshape_output_0", 1024},
        {"tests/data/zoo/resnet_like/model.onnx", "/Flatten_output_0", 64},
        {"tests/data/zoo/vgg_like/model.onnx", "/classifier/classifier.2/Relu_output_0", 32},
        {"tests/data/zoo/vit_like/model.onnx", "/norm/Add_1_output_0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, cases[i].path);
        qfd_model *m = NULL;
        CHECK_OK(ctx, qfd_model_load(ctx, path, &m));
        if (!m)
            continue;
        qfd_feature f;
        CHECK_OK(ctx, qfd_pass_find_feature_info(ctx, m, NULL, &f));
        const char *got = f.tensor >= 0 ? m->graph.tensors[f.tensor].name : "(none)";
        printf("%-42s -> %s, rank %d\n", cases[i].path, got, f.rank);
        CHECK(!strcmp(got, cases[i].feature));
        if (cases[i].c)
            CHECK(f.rank == 2 && f.dims[0].param && !strcmp(f.dims[0].param, "batch") &&
                  f.dims[1].value == cases[i].c && f.dtype == QFD_DT_FLOAT);
        else
            CHECK(f.rank == -1);
        /* --feature with the found name gives the same tensor; the public
         * call gives the name, and a missing name names the file. */
        int t = -1;
        CHECK_OK(ctx, qfd_pass_find_feature(ctx, m, cases[i].feature, &t));
        CHECK(t == f.tensor);
        const char *name = NULL;
        CHECK_OK(ctx, qfd_model_find_feature(ctx, m, NULL, &name));
        CHECK(name && !strcmp(name, cases[i].feature));
        CHECK(qfd_model_find_feature(ctx, m, "no_such", &name) == QFD_ERR_ARG && !name);
        char want[4200];
        snprintf(want, sizeof want, "--feature: no tensor named 'no_such' in %s", path);
        CHECK(!strcmp(qfd_ctx_error(ctx), want));
        qfd_model_free(m);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_find_feature SOURCE_DIR\n");
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    built_graphs(ctx);
    overrides(ctx);
    failures(ctx);
    models(ctx, argv[1]);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
