/* The file as a whole: opsets that support what the quantized nodes use
 * (QDQ002) and, for ONNX Runtime, ops it has kernels for (ORT001). QDQ001,
 * the graph's validity, is decided in check.c when the graph is read. */
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

static bool is_float8(int32_t t)
{
    return t >= QFD_DT_FLOAT8E4M3FN && t <= QFD_DT_FLOAT8E5M2FNUZ;
}

static void check_qdq_opset(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    chk_qp q;
    chk_qparams(c, i, &q);
    const long long op = (long long)c->opset;
    const char *what = chk_is_q(n) ? "QuantizeLinear" : "DequantizeLinear";
    if (c->opset < 13 && (qfd_attr_get(n, "axis") || q.per_axis))
        chk_add(c, R_QDQ002, i, q.scale,
                "per-axis %s (axis or a scale of several entries) needs opset 13, the file imports opset %lld; "
                "ONNX Runtime refuses to load it",
                what, op);
    int32_t t = q.qtype;
    if (c->opset < 21 && (t == QFD_DT_INT4 || t == QFD_DT_UINT4 || t == QFD_DT_INT16 || t == QFD_DT_UINT16))
        chk_add(c, R_QDQ002, i, q.data >= 0 && !chk_is_q(n) ? q.data : q.zp,
                "%s of %s needs opset 21, the file imports opset %lld; ONNX Runtime refuses to load it", what,
                chk_type_name(t), op);
    if (c->opset < 19 && is_float8(t))
        chk_add(c, R_QDQ002, i, q.zp, "%s of %s needs opset 19, the file imports opset %lld", what, chk_type_name(t),
                op);
    if (c->opset < 21 && (qfd_attr_get(n, "block_size") || qfd_attr_get(n, "output_dtype")))
        chk_add(c, R_QDQ002, i, -1, "%s attribute %s needs opset 21, the file imports opset %lld", what,
                qfd_attr_get(n, "block_size") ? "block_size" : "output_dtype", op);
}

void chk_rules_file(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    if (c->opset < 0 && g->n_nodes)
        chk_add(c, R_QDQ002, -1, -1, "the file imports no ONNX opset (opset_import has no default domain)");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        bool qdq_op = chk_is(n, "QuantizeLinear") || chk_is(n, "DequantizeLinear") || chk_is_ms(n, "QuantizeLinear") ||
                      chk_is_ms(n, "DequantizeLinear");
        if (qdq_op && !chk_qdq_arity(n))
            chk_add(c, R_QDQ001, (int)i, -1, "%s needs its data and scale inputs and an output", n->op_type);
        else if (chk_is(n, "QuantizeLinear") || chk_is(n, "DequantizeLinear"))
            check_qdq_opset(c, (int)i);
        else if (c->opset >= 0 && c->opset < 10 &&
                 (chk_is(n, "QLinearConv") || chk_is(n, "QLinearMatMul") || chk_is(n, "ConvInteger") ||
                  chk_is(n, "MatMulInteger")))
            chk_add(c, R_QDQ002, (int)i, -1, "%s needs opset 10, the file imports opset %lld", n->op_type,
                    (long long)c->opset);
        else if (c->opset >= 0 && c->opset < 11 && chk_is(n, "DynamicQuantizeLinear"))
            chk_add(c, R_QDQ002, (int)i, -1, "DynamicQuantizeLinear needs opset 11, the file imports opset %lld",
                    (long long)c->opset);
    }
    /* ORT001: a domain without kernels fails the session; a file with local
     * functions may define its domains itself, so it is left alone. */
    if (c->target != CHK_TARGET_ORT || c->m->n_functions)
        return;
    static const char *const known[] = {
        "", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.preview.training"};
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        const char *d = n->domain ? n->domain : "";
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof *known && !ok; k++)
            ok = !strcmp(d, known[k]);
        if (!ok)
            chk_add(c, R_ORT001, (int)i, -1,
                    "op %s of domain '%s': ONNX Runtime has no kernel for it and refuses to load the file%s",
                    n->op_type, d, !strcmp(d, "ai.qfd") ? " (a qfd-onnx training op: export the model first)" : "");
    }
}
