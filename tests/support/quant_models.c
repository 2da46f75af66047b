#include "quant_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"
#include "model_builder.h"

static float uniform(uint64_t *s, float lo, float hi)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return lo + (hi - lo) * (float)((*s >> 40) / 16777216.0);
}

static void conv(qfd_model *m, const char *name, const char *x, const char *y, int64_t cout, int64_t cin, int64_t k,
                 int64_t group)
{
    char w[64], b[64];
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(b, sizeof b, "%s.b", name);
    mb_param(m, w, 4, (const int64_t[]){cout, cin / group, k, k}, NULL, -0.5f, 0.5f);
    mb_param(m, b, 1, (const int64_t[]){cout}, NULL, -0.2f, 0.2f);
    qfd_node *n = mb_node(m, "Conv", 3, (const char *[]){x, w, b}, 1, (const char *[]){y});
    free(n->name);
    n->name = strdup(name);
    const int64_t p = k / 2;
    mb_attr_ints(n, "pads", 4, (const int64_t[]){p, p, p, p});
    if (group > 1)
        mb_attr_int(n, "group", group);
}

static void relu6(qfd_model *m, const char *x, const char *y)
{
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "%s_lo", y);
    snprintf(hi, sizeof hi, "%s_hi", y);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){lo}), "value_float", 0.0f);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){hi}), "value_float", 6.0f);
    mb_node(m, "Clip", 3, (const char *[]){x, lo, hi}, 1, (const char *[]){y});
}

qfd_model *qm_conv_chain(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 2, xd[1] = 3, xd[2] = 8, xd[3] = 8;
    mb_input(m, "x", 4, xd);
    conv(m, "conv0", "x", "c0", 4, 3, 3, 1);
    mb_node(m, "Relu", 1, (const char *[]){"c0"}, 1, (const char *[]){"r0"});
    conv(m, "conv1", "r0", "c1", 4, 4, 3, 1);
    mb_node(m, "Relu", 1, (const char *[]){"c1"}, 1, (const char *[]){"r1"});
    conv(m, "conv2", "r1", "y", 4, 4, 3, 1);
    mb_output(m, "y");
    return m;
}

qfd_model *qm_resnet_block(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 2, xd[1] = 4, xd[2] = 6, xd[3] = 6;
    mb_input(m, "x", 4, xd);
    conv(m, "conva", "x", "ca", 4, 4, 3, 1);
    mb_node(m, "Relu", 1, (const char *[]){"ca"}, 1, (const char *[]){"ra"});
    conv(m, "convb", "ra", "yb", 4, 4, 3, 1);
    conv(m, "convd", "x", "yd", 4, 4, 1, 1);
    mb_node(m, "Add", 2, (const char *[]){"yb", "yd"}, 1, (const char *[]){"s"});
    mb_node(m, "Relu", 1, (const char *[]){"s"}, 1, (const char *[]){"rs"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"rs"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"f"});
    mb_param(m, "fc.w", 2, (const int64_t[]){3, 4}, NULL, -1, 1);
    mb_param(m, "fc.b", 1, (const int64_t[]){3}, NULL, -0.3f, 0.3f);
    qfd_node *fc = mb_node(m, "Gemm", 3, (const char *[]){"f", "fc.w", "fc.b"}, 1, (const char *[]){"logits"});
    mb_attr_int(fc, "transB", 1);
    free(fc->name);
    fc->name = strdup("fc");
    mb_output(m, "logits");
    return m;
}

qfd_model *qm_inverted_residual(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 2, xd[1] = 4, xd[2] = 6, xd[3] = 6;
    mb_input(m, "x", 4, xd);
    conv(m, "convx", "x", "e", 8, 4, 1, 1);
    relu6(m, "e", "c1");
    conv(m, "convdw", "c1", "d", 8, 8, 3, 8);
    relu6(m, "d", "c2");
    conv(m, "convp", "c2", "yp", 4, 8, 1, 1);
    mb_node(m, "Add", 2, (const char *[]){"yp", "x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

qfd_model *qm_gemm2(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 8, xd[1] = 6;
    mb_input(m, "x", 2, xd);
    mb_param(m, "W1", 2, (const int64_t[]){5, 6}, NULL, -0.5f, 0.5f);
    mb_param(m, "C1", 1, (const int64_t[]){5}, NULL, -0.3f, 0.3f);
    mb_param(m, "W2", 2, (const int64_t[]){5, 3}, NULL, -0.5f, 0.5f);
    mb_param(m, "C2", 1, (const int64_t[]){3}, NULL, -0.3f, 0.3f);
    mb_attr_int(mb_node(m, "Gemm", 3, (const char *[]){"x", "W1", "C1"}, 1, (const char *[]){"h"}), "transB", 1);
    mb_node(m, "Relu", 1, (const char *[]){"h"}, 1, (const char *[]){"r"});
    mb_node(m, "Gemm", 3, (const char *[]){"r", "W2", "C2"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

qfd_model *qm_matmul(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 2, xd[1] = 4, xd[2] = 6;
    mb_input(m, "x", 3, xd);
    mb_param(m, "W", 2, (const int64_t[]){6, 4}, NULL, -0.5f, 0.5f);
    mb_node(m, "MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"h"});
    mb_node(m, "Relu", 1, (const char *[]){"h"}, 1, (const char *[]){"r"});
    mb_node(m, "MatMul", 2, (const char *[]){"r", "h"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

static int input_rank(const qfd_model *m)
{
    return m->graph.inputs[0].type.rank;
}

static int64_t per_image(const qfd_model *m, const int64_t *xd)
{
    int64_t per = 1;
    for (int d = 1; d < input_rank(m); d++)
        per *= xd[d];
    return per;
}

qfd_status qm_quantize(qfd_ctx *ctx, qfd_model *m, const int64_t *xd, const qfd_quant_cfg *cfg, qfd_quant_plan *plan,
                       qfd_model **q)
{
    enum { NCAL = 8 };
    const int64_t per = per_image(m, xd);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    float *cal = malloc((size_t)(NCAL * per) * sizeof *cal);
    *q = NULL;
    memset(plan, 0, sizeof *plan);
    if (!cal)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < NCAL * per; i++)
        cal[i] = uniform(&seed, -1, 1);
    qfd_array shape = {QFD_DT_FLOAT, input_rank(m), {0}, NULL, 0};
    memcpy(shape.dims, xd, (size_t)shape.rank * sizeof *xd);
    qfd_calib_opts o = {QFD_CALIB_MSE, cal, NCAL, &shape, (int)xd[0], 1, NULL, NULL};
    qfd_status st = qfd_quant_plan_make(ctx, m, cfg, plan);
    if (!st && !(st = qfd_quant_calibrate(ctx, m, plan, &o)) && !(st = qfd_quant_insert(ctx, m, plan)))
        st = qfd_quant_export(ctx, m, cfg->format, q);
    free(cal);
    return st;
}

static int64_t count_diff(const qfd_array *a, const qfd_array *b, int64_t *compared)
{
    if (!a || !b || !a->data || !b->data || qfd_array_numel(a) != qfd_array_numel(b))
        return 1;
    const float *av = a->data, *bv = b->data;
    int64_t n = qfd_array_numel(a), diff = 0;
    for (int64_t i = 0; i < n; i++)
        diff += !(fabsf(av[i] - bv[i]) <= 1e-6f * fmaxf(1.0f, fabsf(av[i])));
    *compared += n;
    return diff;
}

int64_t qm_differences(qfd_ctx *ctx, const qfd_model *a, const qfd_model *b, const int64_t *xd, int64_t *compared)
{
    const int64_t per = per_image(a, xd);
    uint64_t seed = 0xD1B54A32D192ED03ull;
    float *x = malloc((size_t)(xd[0] * per) * sizeof *x);
    qfd_exec *ea = NULL, *eb = NULL;
    int64_t diff = -1;
    *compared = 0;
    if (!x || qfd_exec_new(ctx, a, 1, &ea) || qfd_exec_new(ctx, b, 1, &eb))
        goto out;
    for (int64_t i = 0; i < xd[0] * per; i++)
        x[i] = i % 5 ? uniform(&seed, -1, 1) : uniform(&seed, -3, 3);
    qfd_array in = {QFD_DT_FLOAT, input_rank(a), {0}, x, (size_t)(xd[0] * per) * sizeof *x};
    memcpy(in.dims, xd, (size_t)in.rank * sizeof *xd);
    if (qfd_exec_run(ctx, ea, &in, 1) || qfd_exec_run(ctx, eb, &in, 1) ||
        qfd_exec_n_outputs(ea) != qfd_exec_n_outputs(eb))
        goto out;
    diff = 0;
    for (size_t k = 0; k < qfd_exec_n_outputs(ea); k++)
        diff += count_diff(qfd_exec_output(ea, k), qfd_exec_output(eb, k), compared);
    const qfd_graph *gb = &b->graph;
    for (size_t i = 0; i < gb->n_nodes; i++) {
        const qfd_node *n = &gb->nodes[i];
        int ta = n->n_out ? qfd_graph_find(&a->graph, gb->tensors[n->out[0]].name) : -1;
        if (ta < 0 || a->graph.tensors[ta].producer < 0)
            continue;
        const qfd_array *va = qfd_exec_value(ea, ta), *vb = qfd_exec_value(eb, n->out[0]);
        if (va && vb && va->dtype == QFD_DT_FLOAT && vb->dtype == QFD_DT_FLOAT)
            diff += count_diff(va, vb, compared);
    }
out:
    qfd_exec_free(ea);
    qfd_exec_free(eb);
    free(x);
    return diff;
}
