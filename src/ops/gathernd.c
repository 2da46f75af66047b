/* GatherND (opsets 11-21; batch_dims from 12): with b = batch_dims and
 * k = indices.dims[-1] (1 <= k <= rank(data) - b), each index tuple
 * t = indices[B.., i.., :] picks the slice data[B.., t, ...]:
 *   y[B.., i.., ...] = data[B.., t[0], .., t[k-1], ...]
 *   y.dims = indices.dims[:-1] ++ data.dims[b + k:]
 * where B.. are the b leading batch axes, equal in data and indices.
 * Indices are int64; negative ones count from the end; one out of range
 * fails. Any whole-byte element type, moved by bytes.
 * Backward: dx[slice(t)] += dy[B.., i.., ...], a scatter-add (repeated
 * tuples accumulate), on one thread since tuples may repeat. */
#include <string.h>

#include "ops/op.h"

typedef struct gnd_geom {
    int b, k;
    int64_t batches;   /* product of the batch dims */
    int64_t per_batch; /* tuples per batch */
    int64_t inner;     /* elements per slice */
    int64_t xbatch;    /* elements of data per batch */
} gnd_geom;

static void geometry(const qfd_op_ctx *oc, gnd_geom *g)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    g->b = (int)qfd_attr_int(oc->node, "batch_dims", 0);
    g->k = (int)idx->dims[idx->rank - 1];
    g->batches = 1;
    for (int i = 0; i < g->b; i++)
        g->batches *= x->dims[i];
    g->per_batch = 1;
    for (int i = g->b; i + 1 < idx->rank; i++)
        g->per_batch *= idx->dims[i];
    g->inner = 1;
    for (int i = g->b + g->k; i < x->rank; i++)
        g->inner *= x->dims[i];
    g->xbatch = 1;
    for (int i = g->b; i < x->rank; i++)
        g->xbatch *= x->dims[i];
}

/* Offset (elements) of tuple t's slice within one batch, -1 when out of range. */
static int64_t slice_at(const qfd_array *x, const gnd_geom *g, const int64_t *t)
{
    int64_t off = 0;
    for (int d = 0; d < g->k; d++) {
        int64_t dim = x->dims[g->b + d], v = t[d];
        if (v < -dim || v >= dim)
            return -1;
        off = off * dim + (v < 0 ? v + dim : v);
    }
    return off * g->inner;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *idx = qfd_op_in(oc, 1);
    if (!x || !idx || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs data, indices and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (idx->dtype != QFD_DT_INT64)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "indices must be int64");
    int64_t b = qfd_attr_int(oc->node, "batch_dims", 0);
    if (idx->rank < 1 || x->rank < 1 || b < 0 || b >= idx->rank || b >= x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "batch_dims %lld does not fit data rank %d and indices rank %d",
                           (long long)b, x->rank, idx->rank);
    for (int i = 0; i < b; i++)
        if (x->dims[i] != idx->dims[i])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "batch dimension %d differs between data and indices", i);
    int64_t k = idx->dims[idx->rank - 1];
    if (k < 1 || k > x->rank - b)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "the indices' last dimension %lld is not in [1, %lld]", (long long)k,
                           (long long)(x->rank - b));
    int r = idx->rank - 1 + x->rank - (int)b - (int)k;
    if (r > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output rank %d is not supported", r);
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = r;
    int n = 0;
    for (int i = 0; i + 1 < idx->rank; i++)
        y->dims[n++] = idx->dims[i];
    for (int i = (int)(b + k); i < x->rank; i++)
        y->dims[n++] = x->dims[i];
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    gnd_geom g;
    geometry(oc, &g);
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8, run = (size_t)g.inner * es;
    const uint8_t *xd = x->data;
    uint8_t *yd = oc->out[0]->data;
    const int64_t *t = idx->data;
    for (int64_t bb = 0; bb < g.batches; bb++) {
        for (int64_t j = 0; j < g.per_batch; j++) {
            int64_t q = bb * g.per_batch + j, off = slice_at(x, &g, t + q * g.k);
            if (off < 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "index tuple %lld is out of range", (long long)q);
            memcpy(yd + (size_t)q * run, xd + (size_t)(bb * g.xbatch + off) * es, run);
        }
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0];
    gnd_geom g;
    geometry(oc, &g);
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    const int64_t *t = oc->in[1]->data;
    for (int64_t bb = 0; bb < g.batches; bb++) {
        for (int64_t j = 0; j < g.per_batch; j++) {
            int64_t q = bb * g.per_batch + j, off = slice_at(x, &g, t + q * g.k);
            if (off < 0)
                continue; /* forward reported it */
            float *d = dx + bb * g.xbatch + off;
            const float *s = dy + q * g.inner;
            for (int64_t c = 0; c < g.inner; c++)
                d[c] += s[c];
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_gathernd = {
    .name = "GatherND",
    .domain = "",
    .since = 11,
    .param_role = {QFD_ROLE_WEIGHT}, /* a table, as Gather's */
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
