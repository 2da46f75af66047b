/* The executor's state, shared by exec.c (planning, forward) and
 * exec_grad.c (gradients, backward). Not for use outside src/exec. */
#ifndef QFD_EXEC_EXEC_IMPL_H
#define QFD_EXEC_EXEC_IMPL_H

#include "exec/exec.h"
#include "ops/op.h"

typedef struct exec_node {
    const qfd_op_def *def;
    void *state;
    int64_t opset;
    bool folded;     /* computed at plan time: skipped by run */
    bool view;       /* output 0 points into input 0's buffer: skipped by run */
    size_t view_off; /* where, in bytes */
    bool pack_tried; /* this plan asked the op to pack (def->pack) */
    void *packed;    /* what it packed, or NULL */
    size_t packed_bytes;
} exec_node;

/* A value the backward sweep computes again (exec_remat.c): its producer
 * runs again just before the backward of `node`, into bwd, a buffer alive
 * from timeline position `from` to `to`; the forward writes it into fwd. */
typedef struct exec_remat {
    int tensor, producer, node, from, to;
    void *fwd, *bwd;
} exec_remat;

struct qfd_exec {
    const qfd_model *m;
    const qfd_graph *g;
    qfd_array *vals; /* one per graph tensor */
    uint8_t *known;  /* value known at plan time */
    uint8_t *owned;  /* vals[t].data allocated by the executor: 1 on its own, 2 in value_pool */
    exec_node *nodes;
    size_t n_in, n_out;
    int *in_t, *out_t;
    qfd_array *planned; /* input shapes of the current plan, and values of shape-like inputs */
    bool has_plan;
    void *ws;
    size_t ws_size;
    const qfd_array **in_ptrs;
    qfd_array **out_ptrs;
    qfd_array *infer_in; /* infer's view of the inputs: data only where known */
    int n_threads;
    bool share_values; /* intermediate values may share memory (qfd_exec_share_values) */
    void *value_pool;  /* the shared values (owned == 2) */
    size_t value_pool_bytes;
    uint64_t plan_bytes; /* own values and workspace so far in this plan, for the memory limit */

    /* training */
    uint8_t *trainable;  /* per tensor: a parameter that gets a gradient */
    uint8_t *needs_grad; /* per tensor: on a path from a parameter */
    qfd_array *grads;    /* per tensor, allocated at plan when needs_grad */
    uint8_t *seeded;     /* per tensor: its gradient is written by the caller (a loss) */
    int *grad_first;     /* per tensor: node whose backward first touches the gradient */
    int *grad_done; /* per trainable tensor with a pooled gradient: node after whose backward it is complete; else -1 */
    qfd_grad_ready_fn grad_ready; /* qfd_exec_on_grad_ready */
    void *grad_ready_user;
    /* intermediate gradients, and the values when shared, sharing memory
     * when not live together (qfd_exec_plan_training) */
    void *train_pool;
    size_t train_pool_bytes;
    exec_remat *remat; /* in sweep order: node descending, then producer ascending */
    bool no_remat;     /* qfd_exec_set_remat(e, false) */
    size_t n_remat;
    void **saved; /* per node, forward -> backward */
    const qfd_array **gout_ptrs;
    qfd_array **gin_ptrs;
    bool training;
    uint8_t *inference_nodes; /* per node: runs as in inference in a training forward; NULL: none */
    uint64_t seed;

    /* profiling (qfd_exec_profile_start): per node, seconds in forward
     * [4i] and backward [4i + 1], multiply-adds of forward [4i + 2] and
     * backward [4i + 3]; NULL when off */
    double *prof;
    int64_t prof_runs, prof_backwards;
};

/* Adds one forward (or backward) of node i to the profile: its seconds
 * and its multiply-adds (the op's macs hook, at oc's shapes). */
void qfd_exec_profile_add(qfd_exec *e, size_t i, bool backward, double seconds, const qfd_op_ctx *oc);

/* The op context of node i, pointing at the executor's values (and, when
 * training, gradients and saved state). */
void qfd_exec_op_ctx(qfd_exec *e, qfd_ctx *ctx, size_t i, qfd_op_ctx *oc);
/* After node i's infer: which of its outputs carry gradients. */
qfd_status qfd_exec_mark_grads(qfd_ctx *ctx, qfd_exec *e, size_t i);
/* At the end of an inference plan: places the values marked owned == 2 in
 * one pool, sharing memory by liveness, and points every view into its
 * buffer (exec_values.c). */
qfd_status qfd_exec_place_values(qfd_ctx *ctx, qfd_exec *e);
/* Packs n buffers (ids order[0..n), of bytes[id] each, alive from position
 * first[id] to last[id]) into one pool: largest first, each at the lowest
 * 64-byte aligned offset clear of every placed buffer whose life overlaps
 * its own. Reorders order, writes off[id], returns the pool's size. */
size_t qfd_exec_pack(const size_t *bytes, int *order, size_t n, const int *first, const int *last, size_t *off);
/* At the end of a training plan (instead of place_values): gradient
 * buffers, and the values marked owned == 2, in one pool sharing memory by
 * liveness over the forward and the backward sweep (exec_grad.c). */
qfd_status qfd_exec_plan_training(qfd_ctx *ctx, qfd_exec *e);
/* Chooses the values the sweep recomputes instead of keeping (e->remat),
 * on plan_training's timeline: lastf[t] is t's last forward reader (or its
 * producer), bmin[t]..bmax[t] the positions of the backwards that read it
 * (bmax[t] < 0: none), last[t] the end of its life when kept. Moves the
 * plan to a finer timeline where position p is *scale * p + *scale - 1
 * (the positions below it: recomputations before the backward at p),
 * writes each value's last[t] there, shortened to its forward for a
 * chosen value, lengthened for the inputs a recomputation reads, and the
 * entries' from and to. */
qfd_status qfd_exec_plan_remat(qfd_ctx *ctx, qfd_exec *e, const int *lastf, const int *bmin, const int *bmax, int *last,
                               int *scale);
/* Points the chosen values at their sweep buffers (true) or back at their
 * forward ones, and recomputes those due before node i's backward. */
void qfd_exec_remat_swap(qfd_exec *e, bool sweep);
qfd_status qfd_exec_remat_run(qfd_ctx *ctx, qfd_exec *e, size_t i, size_t *next);

#endif
