/* The op interface: every ONNX op qfd-onnx runs is one qfd_op_def, defined
 * in its own file under src/ops/ (attributes, shape rule, forward and,
 * later, backward side by side) and listed once in src/ops/registry.c.
 *
 * Life of a node:
 *   parse(oc, state)  once when the executor is built: read and check
 *                     attributes into state (def->state_size bytes). Optional.
 *   infer(oc)         at every new input shape: set dtype, rank and dims of
 *                     each output from the inputs. Input shapes are always
 *                     set; an input's data is non-NULL only when its value is
 *                     known at plan time (initializer, Constant, or computed
 *                     from such values and from shapes), which ops such as
 *                     Reshape need for their shape input.
 *   workspace(oc)     scratch bytes forward needs (NULL: none). One buffer,
 *                     shared by all nodes, is sized to the largest need.
 *   forward(oc)       compute outputs; their buffers are allocated by the
 *                     executor from the inferred shapes. No allocation here.
 *   view(oc, &off)    output 0 may share input 0's buffer (see below).
 *   backward(oc)      training only: gradients of the inputs from those of
 *                     the outputs (see the fields below).
 * A node whose inputs are all known at plan time is run once then, and its
 * outputs become known values (constant folding of shape subgraphs).
 */
#ifndef QFD_OPS_OP_H
#define QFD_OPS_OP_H

#include "core/ctx.h"
#include "ir/array.h"
#include "ir/edit.h"
#include "ir/ir.h"

typedef struct qfd_op_ctx {
    qfd_ctx *ctx;
    const qfd_node *node;
    size_t node_index; /* position in the graph: names an unnamed node in messages */
    int64_t opset;     /* version of the node's domain imported by the model */
    size_t n_in, n_out;
    const qfd_array *const *in; /* in[i] == NULL: optional input omitted */
    qfd_array *const *out;      /* out[i] == NULL: optional output omitted */
    void *state;                /* attributes parsed by parse() */
    void *ws;                   /* scratch of workspace() bytes, during forward and backward */
    int n_threads;

    /* Training (all zero/NULL when only running inference). */
    bool training;                /* forward in training mode: batch statistics, dropout */
    void *saved;                  /* saved_size() bytes kept from forward to backward */
    uint64_t seed;                /* fresh per node and step, for random ops */
    const qfd_array *const *gout; /* backward: dL/d(output k), NULL where none flows */
    qfd_array *const *gin;        /* backward: dL/d(input k), ADDED into; NULL where not needed */
    uint32_t gin_fresh;           /* backward, bit k: gin[k] is uncleared memory, to be WRITTEN (see grad_writes) */

    /* forward: what pack wrote, kept by the executor across runs; NULL when
     * the op has no pack or its inputs may change (then forward packs into
     * its workspace itself). */
    const void *packed;
} qfd_op_ctx;

enum qfd_op_flags {
    /* forward reads only input shapes (Shape, Size): foldable whenever the
     * input shapes are known, whatever the input values. */
    QFD_OP_SHAPE_ONLY = 1u << 0,
    /* outputs are piecewise constant in the inputs (comparisons): no
     * gradient flows through it by definition, so training may pass a
     * gradient-carrying value to it without a backward. Any other op with
     * such an input needs a backward, whatever its output type. */
    QFD_OP_NO_GRAD = 1u << 1,
    /* forward is a pure function of the inputs costing about one pass over
     * its output (elementwise math, a copy, a permutation; no saved state,
     * no workspace, no randomness): a training plan may run it again in the
     * backward sweep instead of keeping its output. */
    QFD_OP_REMAT = 1u << 2,
};

/* Which inputs of an op are trainable parameters, declared by the op rather
 * than guessed from shapes: the trainer trains a float initializer when a
 * node reads it through a slot with a role (directly or through PASS
 * slots), puts it in the parameter group of its role, and never trains one
 * that any node reads through a FROZEN slot. */
typedef enum qfd_param_role {
    QFD_ROLE_NONE,   /* a constant: never trained through this slot */
    QFD_ROLE_WEIGHT, /* a layer's weight: Conv, Gemm, MatMul, an embedding table */
    QFD_ROLE_BIAS,   /* an additive bias of Conv, Gemm */
    QFD_ROLE_NORM,   /* a normalization's scale or shift, PReLU's slope */
    QFD_ROLE_STEP,   /* a quantizer's step size, however few elements it has */
    /* an operand of general math (Add, Mul, Concat, Where): a parameter only
     * with more than one element (positional embeddings, class tokens, a
     * decomposed norm's scale), a weight at rank >= 2, else a bias; one
     * element is a constant the exporter folded (GELU's 0.5, 1/sqrt(d)) */
    QFD_ROLE_DATA,
    /* passed on (Identity, Transpose, Reshape, a quantizer's x): the role
     * the node's outputs have where they are read (Transpose(W) -> MatMul) */
    QFD_ROLE_PASS,
    QFD_ROLE_FROZEN, /* never trained, whatever else reads it: running statistics, scales */
} qfd_param_role;
#define QFD_OP_ROLE_SLOTS 8
/* Role tables for param_role: every input one role; or input 0 passed on
 * (a unary op, a shape op: its value goes where its output goes). */
#define QFD_ROLES_ALL(r)       \
    {                          \
        r, r, r, r, r, r, r, r \
    }
#define QFD_ROLES_PASS0 \
    {                   \
        QFD_ROLE_PASS   \
    }

typedef struct qfd_op_def {
    const char *name;
    const char *domain; /* "" for ai.onnx */
    int since;          /* first opset version supported */
    unsigned flags;
    /* Bit k set: infer reads the value of input k (Resize's scales). A graph
     * input feeding such a slot is taken as known when planning. */
    uint32_t value_inputs;
    /* What a float initializer read through input k is to the trainer
     * (qfd_param_role); slots past the table take its last entry's role, and
     * a slot not declared is QFD_ROLE_NONE: a constant. */
    uint8_t param_role[QFD_OP_ROLE_SLOTS];
    size_t state_size;
    qfd_status (*parse)(qfd_op_ctx *oc, void *state);
    qfd_status (*infer)(qfd_op_ctx *oc);
    size_t (*workspace)(const qfd_op_ctx *oc);
    qfd_status (*forward)(qfd_op_ctx *oc);
    /* Optional, for ops whose output 0 is a run of input 0's bytes,
     * unchanged (Reshape, Gather of one index along the outermost axis):
     * true with *offset, in bytes, when it is so for the inferred shapes and
     * known values of this node. The executor may then point output 0 into
     * input 0's buffer instead of allocating it and running forward, which
     * must still work for when it does not. */
    bool (*view)(const qfd_op_ctx *oc, size_t *offset);
    /* Optional, for `--profile`: the multiply-adds forward does at the
     * inferred shapes, or with backward set those of the gradients backward
     * computes (gin[k] non-NULL). Ops whose work is a product (Conv, Gemm,
     * MatMul) define it, so a profile shows how far each is from the
     * machine's FMA rate. */
    double (*macs)(const qfd_op_ctx *oc, bool backward);
    /* Optional: a rearrangement of constant inputs (a Conv's weights in its
     * kernel's layout) that forward would otherwise redo at every call. When
     * every input of pack_reads (bit k: input k) is known at plan time and
     * not trained, the executor calls pack once per plan into packed_size
     * bytes (0: nothing to pack at these shapes) and passes them to forward
     * as oc->packed. */
    uint32_t pack_reads;
    size_t (*packed_size)(const qfd_op_ctx *oc);
    void (*pack)(const qfd_op_ctx *oc, void *packed);

    /* Training. backward adds each input's gradient into gin[k] (when non-
     * NULL) from gout and from the forward values in/out (and saved). In
     * training mode, ops with running statistics (BatchNormalization) update
     * them in place in their input buffers: the trainer owns the model. */
    size_t (*saved_size)(const qfd_op_ctx *oc);
    size_t (*backward_workspace)(const qfd_op_ctx *oc);
    qfd_status (*backward)(qfd_op_ctx *oc);
    /* Optional, asked in backward before backward runs: true if, given
     * gin[k] as uncleared memory (bit k of gin_fresh), backward writes every
     * element of it instead of adding. The executor then skips clearing
     * that gradient, which starts its life at this node: one pass less
     * over memory for each large activation gradient. */
    bool (*grad_writes)(const qfd_op_ctx *oc, size_t k);
    /* Optional, asked at plan time with the node's gin set: which forward
     * values backward reads (QFD_READS_IN(k), QFD_READS_OUT(k)). A training
     * plan that shares values reuses the memory of any other value once
     * forward is past its last reader, as PyTorch frees what autograd did
     * not save: a Conv keeps its input, not its output. Without the hook,
     * backward may read every input and output. */
    uint32_t (*backward_reads)(const qfd_op_ctx *oc);
} qfd_op_def;

#define QFD_READS_IN(k) (1u << (k))         /* k < 16 */
#define QFD_READS_OUT(k) (1u << (16 + (k))) /* k < 16 */
#define QFD_READS_INPUTS 0xffffu
/* backward_reads of ops whose backward reads no value (Add, Reshape,
 * Concat: shapes and gradients only) or only their inputs. */
uint32_t qfd_reads_nothing(const qfd_op_ctx *oc);
uint32_t qfd_reads_inputs(const qfd_op_ctx *oc);
/* backward_reads of a product of inputs 0 and 1 (Conv, Gemm, MatMul, Mul):
 * each gradient reads the other operand, so an activation times a frozen
 * constant (a scale, a frozen teacher's weights) is not kept. */
uint32_t qfd_reads_product(const qfd_op_ctx *oc);
/* ... of ops whose gradient is x's layout change alone: every input but x
 * (axes, starts, indices), not x. */
uint32_t qfd_reads_all_but_x(const qfd_op_ctx *oc);

/* Finds the definition for op_type in domain at opset; NULL if unsupported. */
const qfd_op_def *qfd_op_lookup(const char *domain, const char *op_type, int64_t opset);

/* Fails with "node 'name' (OpType): <message>". */
qfd_status qfd_op_fail(const qfd_op_ctx *oc, qfd_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Input i if present (NULL when omitted or beyond the node's inputs). */
static inline const qfd_array *qfd_op_in(const qfd_op_ctx *oc, size_t i)
{
    return i < oc->n_in ? oc->in[i] : NULL;
}

/* The running max/min of acc and v, NaN propagating: a NaN v replaces acc,
 * and a NaN acc stays. ONNX's reference implementation (numpy), PyTorch and
 * ONNX Runtime's elementwise Max/Min/Clip give NaN for NaN; a plain
 * `v > acc ? v : acc` would drop a NaN that comes after a number. Still a
 * select, so loops over it vectorise; for integers v != v is false. */
#define QFD_MAX_NAN(acc, v) ((v) > (acc) || (v) != (v) ? (v) : (acc))
#define QFD_MIN_NAN(acc, v) ((v) < (acc) || (v) != (v) ? (v) : (acc))

/* X(code, C type) for the plain numeric element types, to instantiate a
 * kernel per type: X(FLOAT, float) ... X(UINT64, uint64_t). */
#define QFD_NUMERIC_TYPES(X) \
    X(FLOAT, float)          \
    X(DOUBLE, double)        \
    X(INT8, int8_t)          \
    X(INT16, int16_t)        \
    X(INT32, int32_t)        \
    X(INT64, int64_t)        \
    X(UINT8, uint8_t)        \
    X(UINT16, uint16_t)      \
    X(UINT32, uint32_t)      \
    X(UINT64, uint64_t)

/* ---- shapes (src/ops/shape_util.c) ---- */
/* Sets out's rank and dims to the numpy broadcast of a and b; fails naming
 * the node when they do not broadcast. */
qfd_status qfd_broadcast_shape(const qfd_op_ctx *oc, const qfd_array *a, const qfd_array *b, qfd_array *out);
/* Maps axis in [-rank, rank) to [0, rank), or -1 when out of range. */
int qfd_norm_axis(int64_t axis, int rank);
/* Copies dtype, rank and dims. */
void qfd_array_like(qfd_array *out, const qfd_array *in);
/* Reads an integer tensor (int64 or int32) into dst (at most cap values);
 * returns the count or -1 when the dtype is not an integer type. */
int64_t qfd_array_read_ints(const qfd_array *a, int64_t *dst, int64_t cap);

/* Reads the integer values of an input that must be known at plan time (a
 * shape, axes, split sizes) into dst (at most cap), *n set to their count;
 * fails naming `what` when the value is not known or not 1-D integers. An
 * empty tensor is known even without a buffer. */
qfd_status qfd_shape_known_ints(const qfd_op_ctx *oc, const qfd_array *a, const char *what, int64_t *dst, int64_t cap,
                                int64_t *n);

#endif
