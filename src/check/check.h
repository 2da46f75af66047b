/* qfd-onnx check: rules for quantized ONNX files, whoever wrote them.
 *
 * check.c reads the file and runs the rule families, one file each:
 *   rules_file.c      QDQ001-002, ORT001: the graph, opsets, types, domains
 *   rules_layers.c    QDQ003-004, QDQ012-013: what each layer reads, its bits
 *   rules_params.c    QDQ005-011: scales, zero points, axes
 *   rules_pairs.c     QDQ014-018: Q/DQ pairs, bias scales, placement hazards
 *   rules_ort.c       ORT002-008: ONNX Runtime's CPU fusion, predicted
 *   rules_tensorrt.c  TRT001-008: what TensorRT refuses or will not fuse
 *   numeric.c         NUM001: the quantized model against its FP32 reference
 * facts.c answers what the rules ask of the graph (producers, readers,
 * constants, element types, quantization parameters); meta.c reads the qfd
 * metadata and --expect into per-layer bits. Every finding goes through
 * chk_add; nothing here prints.
 */
#ifndef QFD_CHECK_CHECK_H
#define QFD_CHECK_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/ir.h"

/* Rule indices: the order of the table in rules.c. */
enum {
    R_QDQ001,
    R_QDQ002,
    R_QDQ003,
    R_QDQ004,
    R_QDQ005,
    R_QDQ006,
    R_QDQ007,
    R_QDQ008,
    R_QDQ009,
    R_QDQ010,
    R_QDQ011,
    R_QDQ012,
    R_QDQ013,
    R_QDQ014,
    R_QDQ015,
    R_QDQ016,
    R_QDQ017,
    R_QDQ018,
    R_QDQ019,
    R_ORT001,
    R_ORT002,
    R_ORT003,
    R_ORT004,
    R_ORT005,
    R_ORT006,
    R_ORT007,
    R_ORT008,
    R_TRT001,
    R_TRT002,
    R_TRT003,
    R_TRT004,
    R_TRT005,
    R_TRT006,
    R_TRT007,
    R_TRT008,
    R_NUM001,
    R_COUNT
};

enum { CHK_TARGET_ANY, CHK_TARGET_ORT, CHK_TARGET_TRT };

/* One consumer edge: node `node` reads the tensor as input `slot`. */
typedef struct chk_edge {
    int node, slot;
} chk_edge;

/* A QuantizeLinear or DequantizeLinear (or a QLinear op's triple): its
 * scale and zero point tensors, their constant data when known, and the
 * integer type of the quantized side. */
typedef struct chk_qp {
    int node;
    int data, scale, zp;              /* tensor indices; zp -1 when absent */
    const qfd_tensor *scale_c, *zp_c; /* constant data, or NULL */
    int32_t qtype;                    /* 0 when unknown */
    bool per_axis;                    /* scale with more than one entry */
    int64_t axis;                     /* as written (default 1) */
    int64_t block;                    /* block_size, 0 when none */
} chk_qp;

typedef struct qfd_checker {
    qfd_ctx *ctx;
    const qfd_model *m;
    const qfd_graph *g;
    const qfd_check_opts *o;
    int target;
    int64_t opset;
    /* readers of each tensor: edges[edge_at[t] .. edge_at[t + 1]) */
    chk_edge *edges;
    int *edge_at;
    int32_t *etype;        /* element type of each tensor, 0 unknown (facts.c) */
    signed char *constant; /* per tensor: 1 constant, 0 not, -1 not yet known */
    /* per node: expected bits (0 unknown) and whether it may stay float */
    int *wbits, *abits;
    const char **bits_from; /* "qfd metadata" or "--expect" */
    bool *allowed_float;
    bool has_qdq, has_qop, has_dynamic;
    qfd_check_result *r;
    size_t cap_findings;
    bool oom;
} qfd_checker;

/* Records a finding of rule `rule` on node (-1: the file) about tensor (-1:
 * none); the message is prefixed with the node's label. Out of memory sets
 * c->oom, which check.c turns into a failure. */
void chk_add(qfd_checker *c, int rule, int node, int tensor, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- facts.c ---- */
qfd_status chk_facts_init(qfd_checker *c);
void chk_facts_free(qfd_checker *c);
/* n is op of the default ONNX domain ("" or "ai.onnx"). */
bool chk_is(const qfd_node *n, const char *op);
/* n is op of com.microsoft, ONNX Runtime's contrib domain. */
bool chk_is_ms(const qfd_node *n, const char *op);
/* A Q or DQ node with data, scale and output (chk_qdq_arity), of the
 * default or com.microsoft domain. */
bool chk_qdq_arity(const qfd_node *n);
bool chk_is_q(const qfd_node *n);
bool chk_is_dq(const qfd_node *n);
/* Conv, ConvTranspose, Gemm, MatMul of the default domain. */
bool chk_is_layer(const qfd_node *n);
/* QLinearConv, QLinearMatMul, QGemm, ConvInteger, MatMulInteger, ...:
 * layers already in integer form. */
bool chk_is_int_layer(const qfd_node *n);
/* The node that produces t, or NULL. */
const qfd_node *chk_producer(const qfd_checker *c, int t);
/* The DequantizeLinear producing t, or NULL. */
const qfd_node *chk_dq_of(const qfd_checker *c, int t);
/* Readers of t (n_out = how many edges), and whether t is a graph output. */
const chk_edge *chk_readers(const qfd_checker *c, int t, int *n_out);
bool chk_is_output(const qfd_checker *c, int t);
/* The data of t when it is known at load time: an initializer that is not
 * also a graph input, or a Constant node's value; else NULL. */
const qfd_tensor *chk_const(const qfd_checker *c, int t);
/* t is computed from constants only (weights transposed or quantized in the
 * graph, shape arithmetic). */
bool chk_const_derived(qfd_checker *c, int t);
/* Element i of an integer tensor (any width, int4/uint4 unpacked). */
bool chk_int_at(const qfd_tensor *t, int64_t i, int64_t *v);
/* Element i of a float, float16, bfloat16 or double tensor. */
bool chk_float_at(const qfd_tensor *t, int64_t i, double *v);
/* Range of an integer type; false for other types. */
bool chk_type_range(int32_t dt, int64_t *lo, int64_t *hi);
const char *chk_type_name(int32_t dt);
/* The shape of t when fully known (a constant, or declared in the graph's
 * inputs, outputs or value_info): its rank, dims written to dims (at most
 * cap); -1 when unknown. */
int chk_shape(const qfd_checker *c, int t, int64_t *dims, int cap);
/* Quantization parameters of the Q or DQ node i. */
void chk_qparams(const qfd_checker *c, int i, chk_qp *q);
/* The DequantizeLinear node t comes from, directly or through Transpose,
 * Reshape and the like (a PyTorch Linear transposes its dequantized
 * weight); -1. */
int chk_dq_through(const qfd_checker *c, int t);
/* Ops that move, select or reshape elements without computing on them. */
bool chk_moves_only(const qfd_node *n);
/* Follows t up through ops that only move or reshape integers
 * (Transpose, Reshape, ...) to the QuantizeLinear that produced it; -1. */
int chk_q_source(const qfd_checker *c, int t);
/* The label messages use: "'conv1' (Conv)" or "Conv#3". */
const char *chk_label(const qfd_checker *c, int node, char *buf, size_t cap);

/* ---- meta.c: per-layer bits from the qfd metadata and --expect ---- */
qfd_status chk_meta(qfd_checker *c);

/* ---- the rule families ---- */
void chk_rules_file(qfd_checker *c);
void chk_rules_layers(qfd_checker *c);
void chk_rules_params(qfd_checker *c);
void chk_rules_pairs(qfd_checker *c);
void chk_rules_ort(qfd_checker *c);
void chk_rules_tensorrt(qfd_checker *c);
qfd_status chk_numeric(qfd_checker *c);

/* The internal rule table (rules.c); qfd_check_rules() exposes the same. */
extern const qfd_check_rule chk_rule_table[R_COUNT];

#endif
