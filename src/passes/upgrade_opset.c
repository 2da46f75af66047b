/* qfd_pass_upgrade_opset: a model of the default domain at opset F made to
 * import opset T (F <= T <= 21) and compute the same outputs.
 *
 * Every op of the model must be known: either listed in safe_ops below
 * (its schema changes between 7 and 21 keep an existing node's meaning) or
 * in the rules of upgrade_rules.c (a change that needs the node rewritten:
 * an attribute become an input, a changed default, a removed op); the
 * other versions of an op with rules are of the first kind. An op in
 * neither fails naming the node, as does a node a rule cannot rewrite
 * exactly. All checks run before the first change, so a refused model is
 * left as it was. Sources: ONNX's operator changelog (docs/Changelog.md)
 * and the adapters of its version converter (onnx/version_converter), whose
 * "compatible" list is not always right (Hardmax-13 changed as Softmax-13
 * did). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "passes/passes.h"
#include "passes/upgrade.h"

#define NEWEST_OPSET 21

/* Changes from opset 7 to 21 that leave a node's meaning alone: new
 * element types, negative axes, new optional inputs and attributes whose
 * defaults are the old behaviour (ArgMax select_last_index, Reshape
 * allowzero, Shape start/end, MaxPool/AveragePool ceil_mode and dilations,
 * Pad axes and wrap, Resize axes and antialias, ScatterElements reduction,
 * LpPool ceil_mode, RNN layout, Cast saturate, Q/DQ axis and block_size,
 * DepthToSpace mode), ops added after opset 7 that have not changed since
 * (Gelu, Mish, LayerNormalization, ...), and ops unchanged since before 7. */
/* clang-format off */
static const char *const safe_ops[] = {
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "Cast", "CastLike", "Ceil", "Celu",
    "Compress", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose", "Cos", "Cosh",
    "CumSum", "DepthToSpace", "DequantizeLinear", "Det", "Div", "DynamicQuantizeLinear", "Einsum", "Elu", "Equal",
    "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gelu",
    "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid",
    "HardSwish", "Identity", "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LayerNormalization",
    "LeakyRelu", "Less", "LessOrEqual", "Log", "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max",
    "MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization", "Min", "Mish", "Mod", "Mul",
    "Neg", "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "PRelu", "Pow", "QLinearConv", "QLinearMatMul",
    "QuantizeLinear", "RNN", "Range", "Reciprocal", "Relu", "Reshape", "ReverseSequence", "Round", "ScatterElements",
    "ScatterND", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Softplus", "Softsign",
    "SpaceToDepth", "Sqrt", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Trilu", "Unique",
    "Where", "Xor", NULL};
/* clang-format on */

static bool is_safe(const char *op)
{
    for (const char *const *s = safe_ops; *s; s++)
        if (!strcmp(*s, op))
            return true;
    return false;
}

static const qfd_upgrade_rule *rule_at(const char *op, int64_t version)
{
    for (size_t i = 0; i < qfd_upgrade_n_rules; i++)
        if (qfd_upgrade_rules[i].version == version && !strcmp(qfd_upgrade_rules[i].op, op))
            return &qfd_upgrade_rules[i];
    return NULL;
}

static bool has_rules(const char *op)
{
    for (size_t i = 0; i < qfd_upgrade_n_rules; i++)
        if (!strcmp(qfd_upgrade_rules[i].op, op))
            return true;
    return false;
}

qfd_status qfd_upgrade_refuse(const qfd_upgrade *u, size_t node, const char *why, ...)
{
    char lb[256], msg[512];
    va_list ap;
    va_start(ap, why);
    vsnprintf(msg, sizeof msg, why, ap);
    va_end(ap);
    qfd_node_label(&u->m->graph.nodes[node], node, lb, sizeof lb);
    return qfd_fail(u->ctx, QFD_ERR_UNSUPPORTED, "cannot upgrade node %s from opset %lld to %lld: %s", lb,
                    (long long)u->from, (long long)u->to, msg);
}

/* The oldest IR version that may import opset v of the default domain
 * (ONNX's versioning table: opset 21 came with IR 10). */
static int64_t ir_for_opset(int64_t v)
{
    static const int64_t ir[NEWEST_OPSET + 1] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10};
    return v < 0 ? 3 : ir[v > NEWEST_OPSET ? NEWEST_OPSET : v];
}

static bool default_domain(const qfd_node *n)
{
    return !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
}

/* Every node of the default domain known and every rule's check passed. */
static qfd_status check_all(const qfd_upgrade *u)
{
    const qfd_graph *g = &u->m->graph;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!default_domain(n))
            continue;
        if (!is_safe(n->op_type) && !has_rules(n->op_type))
            return qfd_upgrade_refuse(u, i, "qfd-onnx has no rule for how its schema changed");
        for (int64_t v = u->from + 1; v <= u->to; v++) {
            const qfd_upgrade_rule *r = rule_at(n->op_type, v);
            qfd_status st = r && r->check ? r->check(u, i) : QFD_OK;
            if (st)
                return st;
            if (r && r->renames_to)
                break;
        }
    }
    return QFD_OK;
}

static qfd_status apply_all(qfd_upgrade *u)
{
    qfd_graph *g = &u->m->graph;
    const size_t n_nodes = g->n_nodes; /* the rules add nodes past these */
    for (size_t i = 0; i < n_nodes; i++) {
        if (!default_domain(&g->nodes[i]))
            continue;
        for (int64_t v = u->from + 1; v <= u->to; v++) {
            const qfd_upgrade_rule *r = rule_at(g->nodes[i].op_type, v);
            qfd_status st = r && r->apply ? r->apply(u, i) : QFD_OK;
            if (st)
                return st;
        }
    }
    return QFD_OK;
}

qfd_status qfd_pass_upgrade_opset(qfd_ctx *ctx, qfd_model *m, int64_t target)
{
    int64_t from = qfd_model_opset(m, "");
    if (target < 7 || target > NEWEST_OPSET)
        return qfd_fail(ctx, QFD_ERR_ARG, "opset %lld: qfd-onnx upgrades to opsets 7 to %d", (long long)target,
                        NEWEST_OPSET);
    if (from >= 0 && target < from)
        return qfd_fail(ctx, QFD_ERR_ARG, "opset %lld: the model imports opset %lld; qfd-onnx does not downgrade",
                        (long long)target, (long long)from);
    if (from >= 0 && from < 7)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "the model imports opset %lld; upgrading starts at opset 7",
                        (long long)from);
    if (from == target)
        return QFD_OK;
    if (from >= 0 && m->n_functions)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                        "the model has %zu local function%s, whose bodies qfd-onnx cannot upgrade", m->n_functions,
                        m->n_functions == 1 ? "" : "s");
    int *rank = malloc((m->graph.n_tensors + 1) * sizeof *rank);
    if (!rank)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_upgrade_ranks(&m->graph, rank);
    qfd_upgrade u = {ctx, m, from, target, rank, m->graph.n_tensors};
    qfd_status st = from >= 0 ? check_all(&u) : QFD_OK;
    if (!st && from >= 0)
        st = apply_all(&u);
    free(rank);
    if (st)
        return st;
    if (qfd_model_set_opset(m, "", target))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!m->has_ir_version || m->ir_version < ir_for_opset(target)) {
        m->has_ir_version = true;
        m->ir_version = ir_for_opset(target);
    }
    return qfd_graph_validate(ctx, &m->graph);
}

qfd_status qfd_model_upgrade_opset(qfd_ctx *ctx, qfd_model *m, int64_t opset)
{
    qfd_status st = qfd_pass_upgrade_opset(ctx, m, opset);
    if (st && m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}
