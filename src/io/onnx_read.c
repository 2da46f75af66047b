/* ONNX file -> IR.
 *
 * Memory stays near twice the file size: the file is read once, unpacked by
 * protobuf-c, the file buffer is freed, and tensor bytes are then moved (not
 * copied) from the unpacked message into the IR. */
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ctx.h"
#include "io/tensor_data.h"
#include "onnx/onnx.pb-c.h"

typedef struct reader {
    qfd_ctx *ctx;
    char *dir;      /* folder of the model file, for external data */
    uint64_t total; /* tensor bytes read so far, against the memory limit */
} reader;

#define NOMEM(r) qfd_fail((r)->ctx, QFD_ERR_NOMEM, "out of memory")

static int dup_str(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

/* Moves protobuf-c's unknown fields onto the IR object. */
static int take_extra(ProtobufCMessage *m, qfd_extra *e)
{
    if (!m->n_unknown_fields)
        return 0;
    e->fields = calloc(m->n_unknown_fields, sizeof *e->fields);
    if (!e->fields)
        return -1;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
        e->fields[i] = (qfd_wire_field){u->tag, (uint8_t)u->wire_type, u->len, u->data};
        u->data = NULL;
        u->len = 0;
    }
    e->n = m->n_unknown_fields;
    return 0;
}

static int pack_blob(const void *msg, qfd_blob *b)
{
    const ProtobufCMessage *m = msg;
    if (!m)
        return 0;
    size_t len = protobuf_c_message_get_packed_size(m);
    b->data = malloc(len ? len : 1);
    if (!b->data)
        return -1;
    b->len = protobuf_c_message_pack(m, b->data);
    b->present = true;
    return 0;
}

static int pack_blobs(ProtobufCMessage **msgs, size_t n, qfd_blob **out, size_t *n_out)
{
    *n_out = 0;
    *out = NULL;
    if (!n)
        return 0;
    *out = calloc(n, sizeof **out);
    if (!*out)
        return -1;
    *n_out = n;
    for (size_t i = 0; i < n; i++)
        if (pack_blob(msgs[i], &(*out)[i]) != 0)
            return -1;
    return 0;
}

static int copy_bytes(const ProtobufCBinaryData *src, qfd_blob *b)
{
    b->present = true;
    b->len = src->len;
    b->data = malloc(src->len + 1); /* NUL-terminated, so string attributes are C strings */
    if (!b->data)
        return -1;
    if (src->len)
        memcpy(b->data, src->data, src->len);
    b->data[src->len] = 0;
    return 0;
}

static int copy_kvs(Onnx__StringStringEntryProto **src, size_t n, qfd_kv **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!n)
        return 0;
    *out = calloc(n, sizeof **out);
    if (!*out)
        return -1;
    *n_out = n;
    for (size_t i = 0; i < n; i++)
        if (dup_str(src[i]->key, &(*out)[i].key) || dup_str(src[i]->value, &(*out)[i].value) ||
            take_extra(&src[i]->base, &(*out)[i].extra))
            return -1;
    return 0;
}

static const char *tname(const qfd_tensor *t)
{
    return t->name ? t->name : "(unnamed)";
}

/* Counts a tensor's bytes against the context's memory limit, before they
 * are allocated (external data) or kept. */
static qfd_status charge(reader *r, const qfd_tensor *t, uint64_t bytes)
{
    r->total += bytes;
    if (!qfd_over_memory_limit(r->ctx, r->total))
        return QFD_OK;
    char b[32], tot[32], lim[32];
    qfd_format_bytes(lim, qfd_ctx_memory_limit(r->ctx));
    if (bytes == r->total)
        return qfd_fail(r->ctx, QFD_ERR_LIMIT, "tensor '%s': %s of data, over the memory limit of %s", tname(t),
                        qfd_format_bytes(b, bytes), lim);
    return qfd_fail(r->ctx, QFD_ERR_LIMIT,
                    "tensor '%s': %s of data bring the model's tensors to %s, over the memory limit of %s", tname(t),
                    qfd_format_bytes(b, bytes), qfd_format_bytes(tot, r->total), lim);
}

static qfd_status read_external(reader *r, Onnx__TensorProto *tp, qfd_tensor *t, size_t want)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k || !v)
            continue;
        if (!strcmp(k, "location"))
            location = v;
        else if (!strcmp(k, "offset"))
            offset = strtoll(v, NULL, 10);
        else if (!strcmp(k, "length"))
            length = strtoll(v, NULL, 10);
    }
    if (!location || !*location)
        return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': external data without a location", tname(t));
    if (location[0] == '/' || strstr(location, ".."))
        return qfd_fail(r->ctx, QFD_ERR_INVALID,
                        "tensor '%s': external data location '%s' must be a path inside the model's folder", tname(t),
                        location);
    if (offset < 0 || (length >= 0 && (size_t)length != want))
        return qfd_fail(r->ctx, QFD_ERR_INVALID,
                        "tensor '%s': external data offset %lld / length %lld do not fit %zu bytes of data", tname(t),
                        offset, length, want);
    size_t plen = strlen(r->dir) + strlen(location) + 2;
    char *path = malloc(plen);
    if (!path)
        return NOMEM(r);
    snprintf(path, plen, "%s/%s", r->dir, location);
    qfd_status st = QFD_OK;
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = qfd_fail(r->ctx, QFD_ERR_IO, "tensor '%s': cannot open external data file '%s': %s", tname(t), path,
                      strerror(errno));
        goto out;
    }
    t->data = malloc(want ? want : 1);
    if (!t->data) {
        st = NOMEM(r);
        goto out;
    }
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0 || fread(t->data, 1, want, f) != want) {
        st = qfd_fail(r->ctx, QFD_ERR_IO,
                      "tensor '%s': external data file '%s' is shorter than offset %lld + %zu bytes", tname(t), path,
                      offset, want);
        goto out;
    }
    t->nbytes = want;
out:
    if (f)
        fclose(f);
    free(path);
    return st;
}

static qfd_status read_typed(reader *r, Onnx__TensorProto *tp, qfd_tensor *t, int64_t numel)
{
    qfd_typed_layout l = qfd_typed_layout_of(t->dtype, numel);
    size_t counts[] = {
        [QFD_TF_FLOAT] = tp->n_float_data, [QFD_TF_INT32] = tp->n_int32_data,   [QFD_TF_STRING] = tp->n_string_data,
        [QFD_TF_INT64] = tp->n_int64_data, [QFD_TF_DOUBLE] = tp->n_double_data, [QFD_TF_UINT64] = tp->n_uint64_data,
    };
    for (int f = QFD_TF_FLOAT; f <= QFD_TF_UINT64; f++)
        if (counts[f] && f != l.field)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': typed data field does not match its data type %d",
                            tname(t), t->dtype);
    if (l.field == QFD_TF_NONE)
        return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': unknown data type %d", tname(t), t->dtype);
    if (counts[l.field] != l.items)
        return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': %zu typed values for %lld elements of %s", tname(t),
                        counts[l.field], (long long)numel, qfd_dtype_name(t->dtype));
    t->storage = QFD_STORE_TYPED;
    if (l.field == QFD_TF_STRING) {
        t->strings = calloc(l.items ? l.items : 1, sizeof *t->strings);
        if (!t->strings)
            return NOMEM(r);
        t->n_strings = l.items;
        for (size_t i = 0; i < l.items; i++)
            if (copy_bytes(&tp->string_data[i], &t->strings[i]))
                return NOMEM(r);
        return QFD_OK;
    }
    t->nbytes = l.items * l.item_bytes;
    unsigned char *dst = malloc(t->nbytes ? t->nbytes : 1);
    if (!dst)
        return NOMEM(r);
    t->data = dst;
    /* Narrow entries keep their low bytes: the IR is little-endian. */
    for (size_t i = 0; i < l.items; i++) {
        switch (l.field) {
        case QFD_TF_FLOAT: memcpy(dst + 4 * i, &tp->float_data[i], 4); break;
        case QFD_TF_DOUBLE: memcpy(dst + 8 * i, &tp->double_data[i], 8); break;
        case QFD_TF_INT64: memcpy(dst + 8 * i, &tp->int64_data[i], 8); break;
        case QFD_TF_INT32: {
            uint32_t v = (uint32_t)tp->int32_data[i];
            for (size_t b = 0; b < l.item_bytes; b++)
                dst[l.item_bytes * i + b] = (unsigned char)(v >> (8 * b));
            break;
        }
        case QFD_TF_UINT64: {
            uint64_t v = tp->uint64_data[i];
            for (size_t b = 0; b < l.item_bytes; b++)
                dst[l.item_bytes * i + b] = (unsigned char)(v >> (8 * b));
            break;
        }
        default: break;
        }
    }
    /* The typed arrays are no longer needed: free them now to keep the peak low. */
    free(tp->float_data), tp->float_data = NULL, tp->n_float_data = 0;
    free(tp->int32_data), tp->int32_data = NULL, tp->n_int32_data = 0;
    free(tp->int64_data), tp->int64_data = NULL, tp->n_int64_data = 0;
    free(tp->double_data), tp->double_data = NULL, tp->n_double_data = 0;
    free(tp->uint64_data), tp->uint64_data = NULL, tp->n_uint64_data = 0;
    return QFD_OK;
}

/* Fills t (whose name may already be set) from tp. */
static qfd_status read_tensor(reader *r, Onnx__TensorProto *tp, qfd_tensor *t)
{
    if (!t->name && dup_str(tp->name, &t->name))
        return NOMEM(r);
    t->has_dtype = tp->has_data_type;
    t->dtype = tp->data_type;
    t->rank = (int)tp->n_dims;
    if (tp->n_dims) {
        t->dims = malloc(tp->n_dims * sizeof *t->dims);
        if (!t->dims)
            return NOMEM(r);
        memcpy(t->dims, tp->dims, tp->n_dims * sizeof *t->dims);
    }
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': negative dimension %lld", tname(t),
                            (long long)tp->dims[i]);
        if (tp->dims[i] && numel > INT64_MAX / 64 / tp->dims[i])
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': too many elements", tname(t));
        numel *= tp->dims[i];
    }
    if (dup_str(tp->doc_string, &t->doc) ||
        copy_kvs(tp->external_data, tp->n_external_data, &t->external, &t->n_external) ||
        take_extra(&tp->base, &t->extra))
        return NOMEM(r);
    if (tp->segment) {
        t->has_segment = true;
        t->segment_has_begin = tp->segment->has_begin;
        t->segment_has_end = tp->segment->has_end;
        t->segment_begin = tp->segment->begin;
        t->segment_end = tp->segment->end;
    }
    t->has_location_default = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    int known = 0;
    size_t want = qfd_dtype_nbytes(t->dtype, numel, &known);

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (!known)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': external data of unknown type %d", tname(t),
                            t->dtype);
        t->storage = QFD_STORE_EXTERNAL;
        qfd_status st = charge(r, t, want);
        return st ? st : read_external(r, tp, t, want);
    }
    if (tp->has_raw_data) {
        if (known && tp->raw_data.len != want)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "tensor '%s': raw_data has %zu bytes, %s[%lld] needs %zu",
                            tname(t), tp->raw_data.len, qfd_dtype_name(t->dtype), (long long)numel, want);
        qfd_status st = charge(r, t, tp->raw_data.len);
        if (st)
            return st;
        t->storage = QFD_STORE_RAW;
        t->nbytes = tp->raw_data.len;
        t->data = tp->raw_data.data; /* moved, not copied */
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        if (!t->data && !(t->data = malloc(1)))
            return NOMEM(r);
        return QFD_OK;
    }
    if (tp->n_float_data || tp->n_int32_data || tp->n_string_data || tp->n_int64_data || tp->n_double_data ||
        tp->n_uint64_data) {
        qfd_status st = charge(r, t, known ? want : 0);
        return st ? st : read_typed(r, tp, t, numel);
    }
    t->storage = QFD_STORE_NONE;
    return QFD_OK;
}

static qfd_status read_type(reader *r, Onnx__TypeProto *tp, qfd_type *ty)
{
    if (dup_str(tp->denotation, &ty->denotation))
        return NOMEM(r);
    Onnx__TypeProto__Tensor *tt = tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? tp->tensor_type : NULL;
    int plain = tt && !tp->base.n_unknown_fields && !tt->base.n_unknown_fields &&
                (!tt->shape || !tt->shape->base.n_unknown_fields);
    for (size_t i = 0; plain && tt->shape && i < tt->shape->n_dim; i++)
        plain = !tt->shape->dim[i]->base.n_unknown_fields;
    if (!plain) {
        static const char *kinds[] = {[ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE] = "tensor",
                                      [ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE] = "sequence",
                                      [ONNX__TYPE_PROTO__VALUE_MAP_TYPE] = "map",
                                      [ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE] = "sparse_tensor",
                                      [ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE] = "optional"};
        ty->kind = QFD_TYPE_OPAQUE;
        ty->opaque_kind = (unsigned)tp->value_case < sizeof kinds / sizeof *kinds && kinds[tp->value_case]
                              ? kinds[tp->value_case]
                              : "unknown";
        free(ty->denotation);
        ty->denotation = NULL;
        return pack_blob(tp, &ty->opaque) ? NOMEM(r) : QFD_OK;
    }
    ty->kind = QFD_TYPE_TENSOR;
    ty->has_elem_type = tt->has_elem_type;
    ty->elem_type = tt->elem_type;
    if (!tt->shape)
        return QFD_OK;
    ty->has_shape = true;
    ty->rank = (int)tt->shape->n_dim;
    if (!ty->rank)
        return QFD_OK;
    ty->dims = calloc((size_t)ty->rank, sizeof *ty->dims);
    if (!ty->dims)
        return NOMEM(r);
    for (int i = 0; i < ty->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (dup_str(d->denotation, &ty->dims[i].denotation))
            return NOMEM(r);
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            ty->dims[i].kind = QFD_DIM_VALUE;
            ty->dims[i].value = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
            ty->dims[i].kind = QFD_DIM_PARAM;
            if (dup_str(d->dim_param, &ty->dims[i].param))
                return NOMEM(r);
        }
    }
    return QFD_OK;
}

static qfd_status read_attr(reader *r, Onnx__AttributeProto *ap, qfd_attr *a)
{
    if (dup_str(ap->name, &a->name) || dup_str(ap->ref_attr_name, &a->ref_attr_name) ||
        dup_str(ap->doc_string, &a->doc) || take_extra(&ap->base, &a->extra))
        return NOMEM(r);
    a->has_type = ap->has_type;
    a->type = ap->type;
    a->has_f = ap->has_f;
    a->f = ap->f;
    a->has_i = ap->has_i;
    a->i = ap->i;
    if (ap->has_s && copy_bytes(&ap->s, &a->s))
        return NOMEM(r);
    if (ap->t) {
        if (!(a->t = calloc(1, sizeof *a->t)))
            return NOMEM(r);
        a->t->producer = -1;
        qfd_status st = read_tensor(r, ap->t, a->t);
        if (st)
            return st;
    }
    if (pack_blob(ap->g, &a->g) || pack_blob(ap->sparse_tensor, &a->sparse_tensor) || pack_blob(ap->tp, &a->tp))
        return NOMEM(r);
    if (ap->n_floats) {
        if (!(a->floats = malloc(ap->n_floats * sizeof *a->floats)))
            return NOMEM(r);
        memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
        a->n_floats = ap->n_floats;
    }
    if (ap->n_ints) {
        if (!(a->ints = malloc(ap->n_ints * sizeof *a->ints)))
            return NOMEM(r);
        memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
        a->n_ints = ap->n_ints;
    }
    if (ap->n_strings) {
        if (!(a->strings = calloc(ap->n_strings, sizeof *a->strings)))
            return NOMEM(r);
        a->n_strings = ap->n_strings;
        for (size_t i = 0; i < ap->n_strings; i++)
            if (copy_bytes(&ap->strings[i], &a->strings[i]))
                return NOMEM(r);
    }
    if (ap->n_tensors) {
        if (!(a->tensors = calloc(ap->n_tensors, sizeof *a->tensors)))
            return NOMEM(r);
        a->n_tensors = ap->n_tensors;
        for (size_t i = 0; i < ap->n_tensors; i++) {
            qfd_status st = read_tensor(r, ap->tensors[i], &a->tensors[i]);
            if (st)
                return st;
        }
    }
    if (pack_blobs((ProtobufCMessage **)ap->graphs, ap->n_graphs, &a->graphs, &a->n_graphs) ||
        pack_blobs((ProtobufCMessage **)ap->sparse_tensors, ap->n_sparse_tensors, &a->sparse_tensors,
                   &a->n_sparse_tensors) ||
        pack_blobs((ProtobufCMessage **)ap->type_protos, ap->n_type_protos, &a->type_protos, &a->n_type_protos))
        return NOMEM(r);
    return QFD_OK;
}

/* Index of the tensor called name, created when new; -2 when out of memory. */
static int tensor_ref(qfd_graph *g, const char *name)
{
    int t = qfd_graph_find(g, name);
    if (t < 0)
        t = qfd_graph_add_tensor(g, name);
    return t < 0 ? -2 : t;
}

static qfd_status read_value_infos(reader *r, qfd_graph *g, Onnx__ValueInfoProto **src, size_t n, qfd_value_info **out,
                                   size_t *n_out, uint32_t flag, const char *what)
{
    if (!n)
        return QFD_OK;
    if (!(*out = calloc(n, sizeof **out)))
        return NOMEM(r);
    for (size_t i = 0; i < n; i++, ++*n_out) {
        Onnx__ValueInfoProto *vp = src[i];
        qfd_value_info *v = &(*out)[i];
        if (!vp->name || !*vp->name)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "graph %s #%zu has no name", what, i);
        v->tensor = tensor_ref(g, vp->name);
        if (v->tensor < 0)
            return NOMEM(r);
        if (flag && (g->tensors[v->tensor].flags & flag))
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "duplicate tensor name: graph %s '%s' is listed twice", what,
                            vp->name);
        g->tensors[v->tensor].flags |= flag;
        if (dup_str(vp->doc_string, &v->doc) || take_extra(&vp->base, &v->extra))
            return NOMEM(r);
        if (vp->type) {
            v->has_type = true;
            qfd_status st = read_type(r, vp->type, &v->type);
            if (st)
                return st;
        }
    }
    return QFD_OK;
}

static const char *node_name(const Onnx__NodeProto *np, size_t i, char *buf, size_t cap)
{
    if (np->name && *np->name)
        snprintf(buf, cap, "'%s' (%s)", np->name, np->op_type ? np->op_type : "?");
    else
        snprintf(buf, cap, "#%zu (%s)", i, np->op_type ? np->op_type : "?");
    return buf;
}

static qfd_status read_names(reader *r, qfd_graph *g, char **names, size_t n, int **out, size_t *n_out)
{
    if (!n)
        return QFD_OK;
    if (!(*out = malloc(n * sizeof **out)))
        return NOMEM(r);
    *n_out = n;
    for (size_t k = 0; k < n; k++) {
        (*out)[k] = -1;
        if (names[k] && *names[k] && ((*out)[k] = tensor_ref(g, names[k])) < 0)
            return NOMEM(r);
    }
    return QFD_OK;
}

static qfd_status read_graph(reader *r, Onnx__GraphProto *gp, qfd_graph *g)
{
    qfd_status st;
    if (dup_str(gp->name, &g->name) || dup_str(gp->doc_string, &g->doc) || take_extra(&gp->base, &g->extra))
        return NOMEM(r);
    if ((st = read_value_infos(r, g, gp->input, gp->n_input, &g->inputs, &g->n_inputs, QFD_T_INPUT, "input")))
        return st;
    if (gp->n_initializer && !(g->inits = malloc(gp->n_initializer * sizeof *g->inits)))
        return NOMEM(r);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "initializer #%zu has no name", i);
        int t = tensor_ref(g, tp->name);
        if (t < 0)
            return NOMEM(r);
        if (g->tensors[t].flags & QFD_T_INITIALIZER)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "duplicate tensor name: initializer '%s' is listed twice",
                            tp->name);
        g->tensors[t].flags |= QFD_T_INITIALIZER;
        g->inits[g->n_inits++] = t;
        if ((st = read_tensor(r, tp, &g->tensors[t])))
            return st;
    }
    if (pack_blobs((ProtobufCMessage **)gp->sparse_initializer, gp->n_sparse_initializer, &g->sparse_inits,
                   &g->n_sparse_inits) ||
        pack_blobs((ProtobufCMessage **)gp->quantization_annotation, gp->n_quantization_annotation,
                   &g->quant_annotations, &g->n_quant_annotations))
        return NOMEM(r);
    /* Sparse initializers stay opaque, but their names are defined values. */
    for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
        Onnx__SparseTensorProto *sp = gp->sparse_initializer[i];
        if (sp->values && sp->values->name && *sp->values->name) {
            int t = tensor_ref(g, sp->values->name);
            if (t < 0)
                return NOMEM(r);
            g->tensors[t].flags |= QFD_T_INITIALIZER;
        }
    }
    if (gp->n_node && !(g->nodes = calloc(gp->n_node, sizeof *g->nodes)))
        return NOMEM(r);
    g->cap_nodes = gp->n_node;
    for (size_t i = 0; i < gp->n_node; i++, g->n_nodes++) {
        Onnx__NodeProto *np = gp->node[i];
        qfd_node *n = &g->nodes[i];
        char buf[256];
        if (!np->op_type || !*np->op_type)
            return qfd_fail(r->ctx, QFD_ERR_INVALID, "node %s has no op_type", node_name(np, i, buf, sizeof buf));
        if (dup_str(np->name, &n->name) || dup_str(np->op_type, &n->op_type) || dup_str(np->domain, &n->domain) ||
            dup_str(np->doc_string, &n->doc) || take_extra(&np->base, &n->extra))
            return NOMEM(r);
        if ((st = read_names(r, g, np->input, np->n_input, &n->in, &n->n_in)) ||
            (st = read_names(r, g, np->output, np->n_output, &n->out, &n->n_out)))
            return st;
        if (np->n_attribute && !(n->attrs = calloc(np->n_attribute, sizeof *n->attrs)))
            return NOMEM(r);
        for (size_t k = 0; k < np->n_attribute; k++, n->n_attrs++)
            if ((st = read_attr(r, np->attribute[k], &n->attrs[k]))) {
                qfd_ctx_prefix(r->ctx, node_name(np, i, buf, sizeof buf));
                return st;
            }
    }
    if ((st = read_value_infos(r, g, gp->output, gp->n_output, &g->outputs, &g->n_outputs, QFD_T_OUTPUT, "output")))
        return st;
    return read_value_infos(r, g, gp->value_info, gp->n_value_info, &g->value_infos, &g->n_value_infos, 0,
                            "value_info");
}

static qfd_status read_model(reader *r, Onnx__ModelProto *mp, qfd_model *m)
{
    m->has_ir_version = mp->has_ir_version;
    m->ir_version = mp->ir_version;
    m->has_model_version = mp->has_model_version;
    m->model_version = mp->model_version;
    if (dup_str(mp->producer_name, &m->producer_name) || dup_str(mp->producer_version, &m->producer_version) ||
        dup_str(mp->domain, &m->domain) || dup_str(mp->doc_string, &m->doc) || take_extra(&mp->base, &m->extra) ||
        copy_kvs(mp->metadata_props, mp->n_metadata_props, &m->metadata, &m->n_metadata))
        return NOMEM(r);
    if (mp->n_opset_import) {
        if (!(m->opsets = calloc(mp->n_opset_import, sizeof *m->opsets)))
            return NOMEM(r);
        m->n_opsets = mp->n_opset_import;
        for (size_t i = 0; i < mp->n_opset_import; i++) {
            Onnx__OperatorSetIdProto *op = mp->opset_import[i];
            m->opsets[i].has_version = op->has_version;
            m->opsets[i].version = op->version;
            if (dup_str(op->domain, &m->opsets[i].domain) || take_extra(&op->base, &m->opsets[i].extra))
                return NOMEM(r);
        }
    }
    if (pack_blobs((ProtobufCMessage **)mp->training_info, mp->n_training_info, &m->training_info,
                   &m->n_training_info) ||
        pack_blobs((ProtobufCMessage **)mp->functions, mp->n_functions, &m->functions, &m->n_functions))
        return NOMEM(r);
    m->has_graph = true;
    return read_graph(r, mp->graph, &m->graph);
}

static qfd_status slurp(qfd_ctx *ctx, const char *path, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qfd_fail(ctx, QFD_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    qfd_status st = QFD_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "not a regular file");
        goto out;
    }
    if (sb.st_size == 0) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "file is empty, not an ONNX model");
        goto out;
    }
    if (qfd_over_memory_limit(ctx, (uint64_t)sb.st_size)) {
        char a[32], b[32];
        st = qfd_fail(ctx, QFD_ERR_LIMIT, "the file's %s are over the memory limit of %s",
                      qfd_format_bytes(a, (uint64_t)sb.st_size), qfd_format_bytes(b, qfd_ctx_memory_limit(ctx)));
        goto out;
    }
    *buf = malloc((size_t)sb.st_size);
    if (!*buf) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory reading %lld bytes", (long long)sb.st_size);
        goto out;
    }
    *len = fread(*buf, 1, (size_t)sb.st_size, f);
    if (*len != (size_t)sb.st_size) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read error: %s", strerror(errno));
        free(*buf);
        *buf = NULL;
    }
out:
    fclose(f);
    return st;
}

/* Parses len bytes of a ModelProto; external data is resolved against dir. */
static qfd_status read_bytes(qfd_ctx *ctx, const uint8_t *buf, size_t len, const char *dir, qfd_model **out)
{
    *out = NULL;
    reader r = {ctx, NULL, 0};
    qfd_model *m = NULL;
    qfd_status st;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return qfd_fail(ctx, QFD_ERR_PARSE, "not a valid ONNX protobuf (truncated or corrupt file?)");
    /* Arbitrary bytes sometimes parse as a protobuf of unknown fields. */
    if (!mp->graph) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "not an ONNX model: no graph%s",
                      mp->has_ir_version ? "" : " and no ir_version (truncated or not an ONNX file?)");
        goto fail;
    }
    r.dir = strdup(dir);
    m = calloc(1, sizeof *m);
    if (!r.dir || !m) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = read_model(&r, mp, m)))
        goto fail;
    onnx__model_proto__free_unpacked(mp, NULL);
    free(r.dir);
    *out = m;
    return QFD_OK;
fail:
    onnx__model_proto__free_unpacked(mp, NULL);
    qfd_model_free(m);
    free(r.dir);
    return st;
}

qfd_status qfd_onnx_read(qfd_ctx *ctx, const char *path, qfd_model **out)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    char *dir = NULL;
    qfd_status st = slurp(ctx, path, &buf, &len);
    if (!st) {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
        st = dir ? read_bytes(ctx, buf, len, dir, out) : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        free(buf);
        free(dir);
    }
    if (st)
        qfd_ctx_prefix(ctx, path);
    return st;
}

qfd_status qfd_onnx_read_buffer(qfd_ctx *ctx, const void *buf, size_t len, qfd_model **out)
{
    return read_bytes(ctx, buf, len, ".", out);
}

qfd_status qfd_onnx_read_tensor_file(qfd_ctx *ctx, const char *path, qfd_tensor *out)
{
    memset(out, 0, sizeof *out);
    out->producer = -1;
    reader r = {ctx, NULL, 0};
    uint8_t *buf;
    size_t len;
    Onnx__TensorProto *tp = NULL;
    qfd_status st = slurp(ctx, path, &buf, &len);
    if (st)
        goto fail;
    tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "not a valid ONNX TensorProto (truncated or corrupt file?)");
        goto fail;
    }
    const char *slash = strrchr(path, '/');
    r.dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    if (!r.dir) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = read_tensor(&r, tp, out)))
        goto fail;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    free(r.dir);
    return QFD_OK;
fail:
    if (tp)
        onnx__tensor_proto__free_unpacked(tp, NULL);
    qfd_tensor_clear(out);
    free(r.dir);
    qfd_ctx_prefix(ctx, path);
    return st;
}
