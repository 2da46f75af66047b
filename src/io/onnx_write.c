/* IR -> ONNX file.
 *
 * The protobuf-c messages are built in an arena and point into the IR's own
 * buffers, so writing copies no tensor data; they are packed straight into
 * the output file, never into one big buffer. */
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "io/tensor_data.h"
#include "onnx/onnx.pb-c.h"

typedef struct writer {
    qfd_arena arena;
    ProtobufCAllocator alloc; /* protobuf-c allocations (opaque parts) go to the arena too */
} writer;

static void *arena_alloc_cb(void *data, size_t size)
{
    return qfd_arena_alloc(data, size);
}

static void arena_free_cb(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

static void *new_msg(writer *w, const ProtobufCMessageDescriptor *d)
{
    void *p = qfd_arena_alloc(&w->arena, d->sizeof_message);
    if (p)
        protobuf_c_message_init(d, p);
    return p;
}

static void *arr(writer *w, size_t n, size_t size)
{
    return n ? qfd_arena_alloc(&w->arena, n * size) : NULL;
}

static void put_extra(writer *w, ProtobufCMessage *m, const qfd_extra *e)
{
    if (!e->n)
        return;
    ProtobufCMessageUnknownField *u = arr(w, e->n, sizeof *u);
    if (!u)
        return;
    for (size_t i = 0; i < e->n; i++)
        u[i] = (ProtobufCMessageUnknownField){e->fields[i].tag, (ProtobufCWireType)e->fields[i].wire_type,
                                              e->fields[i].len, e->fields[i].data};
    m->n_unknown_fields = (unsigned)e->n;
    m->unknown_fields = u;
}

static void *unblob(writer *w, const ProtobufCMessageDescriptor *d, const qfd_blob *b)
{
    if (!b->present)
        return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &w->alloc, b->len, b->data);
    if (!m)
        w->arena.failed = 1;
    return m;
}

static void *unblobs(writer *w, const ProtobufCMessageDescriptor *d, const qfd_blob *b, size_t n)
{
    void **out = arr(w, n, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = unblob(w, d, &b[i]);
    return out;
}

static ProtobufCBinaryData bin(const qfd_blob *b)
{
    return (ProtobufCBinaryData){b->len, b->data};
}

static Onnx__StringStringEntryProto **put_kvs(writer *w, const qfd_kv *kv, size_t n)
{
    Onnx__StringStringEntryProto **out = arr(w, n, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        out[i] = new_msg(w, &onnx__string_string_entry_proto__descriptor);
        if (!out[i])
            return NULL;
        out[i]->key = kv[i].key;
        out[i]->value = kv[i].value;
        put_extra(w, &out[i]->base, &kv[i].extra);
    }
    return out;
}

static void put_typed(writer *w, const qfd_tensor *t, Onnx__TensorProto *tp)
{
    qfd_typed_layout l = qfd_typed_layout_of(t->dtype, qfd_tensor_numel(t));
    const unsigned char *src = t->data;
    switch (l.field) {
    case QFD_TF_STRING:
        tp->n_string_data = t->n_strings;
        tp->string_data = arr(w, t->n_strings, sizeof *tp->string_data);
        for (size_t i = 0; tp->string_data && i < t->n_strings; i++)
            tp->string_data[i] = bin(&t->strings[i]);
        break;
    case QFD_TF_FLOAT:
        tp->n_float_data = l.items;
        tp->float_data = (float *)t->data;
        break;
    case QFD_TF_DOUBLE:
        tp->n_double_data = l.items;
        tp->double_data = (double *)t->data;
        break;
    case QFD_TF_INT64:
        tp->n_int64_data = l.items;
        tp->int64_data = (int64_t *)t->data;
        break;
    case QFD_TF_INT32:
        tp->n_int32_data = l.items;
        tp->int32_data = arr(w, l.items, sizeof(int32_t));
        for (size_t i = 0; tp->int32_data && i < l.items; i++) {
            uint32_t v = 0;
            for (size_t b = 0; b < l.item_bytes; b++)
                v |= (uint32_t)src[l.item_bytes * i + b] << (8 * b);
            if (l.sign_extend && l.item_bytes < 4 && (v >> (8 * l.item_bytes - 1)) & 1)
                v |= ~0u << (8 * l.item_bytes);
            memcpy(&tp->int32_data[i], &v, 4);
        }
        break;
    case QFD_TF_UINT64:
        tp->n_uint64_data = l.items;
        tp->uint64_data = arr(w, l.items, sizeof(uint64_t));
        for (size_t i = 0; tp->uint64_data && i < l.items; i++) {
            uint64_t v = 0;
            for (size_t b = 0; b < l.item_bytes; b++)
                v |= (uint64_t)src[l.item_bytes * i + b] << (8 * b);
            tp->uint64_data[i] = v;
        }
        break;
    default: break;
    }
}

static Onnx__TensorProto *put_tensor(writer *w, const qfd_tensor *t)
{
    Onnx__TensorProto *tp = new_msg(w, &onnx__tensor_proto__descriptor);
    if (!tp)
        return NULL;
    tp->name = t->name;
    tp->doc_string = t->doc;
    tp->has_data_type = t->has_dtype;
    tp->data_type = t->dtype;
    tp->n_dims = (size_t)t->rank;
    tp->dims = t->dims;
    put_extra(w, &tp->base, &t->extra);
    if (t->has_segment) {
        tp->segment = new_msg(w, &onnx__tensor_proto__segment__descriptor);
        if (!tp->segment)
            return NULL;
        tp->segment->has_begin = t->segment_has_begin;
        tp->segment->begin = t->segment_begin;
        tp->segment->has_end = t->segment_has_end;
        tp->segment->end = t->segment_end;
    }
    switch (t->storage) {
    case QFD_STORE_RAW:
    case QFD_STORE_EXTERNAL: /* embedded: the data was loaded into memory */
        tp->has_raw_data = 1;
        tp->raw_data = (ProtobufCBinaryData){t->nbytes, t->data};
        break;
    case QFD_STORE_TYPED: put_typed(w, t, tp); break;
    default: break;
    }
    if (t->storage != QFD_STORE_EXTERNAL) {
        tp->n_external_data = t->n_external;
        tp->external_data = put_kvs(w, t->external, t->n_external);
        if (t->has_location_default) {
            tp->has_data_location = 1;
            tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
        }
    }
    return tp;
}

static Onnx__TypeProto *put_type(writer *w, const qfd_type *ty)
{
    if (ty->kind == QFD_TYPE_OPAQUE)
        return unblob(w, &onnx__type_proto__descriptor, &ty->opaque);
    Onnx__TypeProto *tp = new_msg(w, &onnx__type_proto__descriptor);
    Onnx__TypeProto__Tensor *tt = new_msg(w, &onnx__type_proto__tensor__descriptor);
    if (!tp || !tt)
        return NULL;
    tp->denotation = ty->denotation;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = ty->has_elem_type;
    tt->elem_type = ty->elem_type;
    if (!ty->has_shape)
        return tp;
    tt->shape = new_msg(w, &onnx__tensor_shape_proto__descriptor);
    if (!tt->shape)
        return NULL;
    tt->shape->n_dim = (size_t)ty->rank;
    tt->shape->dim = arr(w, (size_t)ty->rank, sizeof *tt->shape->dim);
    for (int i = 0; tt->shape->dim && i < ty->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = new_msg(w, &onnx__tensor_shape_proto__dimension__descriptor);
        if (!d)
            return NULL;
        d->denotation = ty->dims[i].denotation;
        if (ty->dims[i].kind == QFD_DIM_VALUE) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = ty->dims[i].value;
        } else if (ty->dims[i].kind == QFD_DIM_PARAM) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ty->dims[i].param;
        }
        tt->shape->dim[i] = d;
    }
    return tp;
}

static Onnx__ValueInfoProto **put_value_infos(writer *w, const qfd_graph *g, const qfd_value_info *v, size_t n)
{
    Onnx__ValueInfoProto **out = arr(w, n, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        Onnx__ValueInfoProto *vp = new_msg(w, &onnx__value_info_proto__descriptor);
        if (!vp)
            return NULL;
        vp->name = g->tensors[v[i].tensor].name;
        vp->doc_string = v[i].doc;
        if (v[i].has_type)
            vp->type = put_type(w, &v[i].type);
        put_extra(w, &vp->base, &v[i].extra);
        out[i] = vp;
    }
    return out;
}

static Onnx__AttributeProto *put_attr(writer *w, const qfd_attr *a)
{
    Onnx__AttributeProto *ap = new_msg(w, &onnx__attribute_proto__descriptor);
    if (!ap)
        return NULL;
    ap->name = a->name;
    ap->ref_attr_name = a->ref_attr_name;
    ap->doc_string = a->doc;
    ap->has_type = a->has_type;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    ap->has_f = a->has_f;
    ap->f = a->f;
    ap->has_i = a->has_i;
    ap->i = a->i;
    ap->has_s = a->s.present;
    ap->s = bin(&a->s);
    if (a->t)
        ap->t = put_tensor(w, a->t);
    ap->g = unblob(w, &onnx__graph_proto__descriptor, &a->g);
    ap->sparse_tensor = unblob(w, &onnx__sparse_tensor_proto__descriptor, &a->sparse_tensor);
    ap->tp = unblob(w, &onnx__type_proto__descriptor, &a->tp);
    ap->n_floats = a->n_floats;
    ap->floats = a->floats;
    ap->n_ints = a->n_ints;
    ap->ints = a->ints;
    ap->n_strings = a->n_strings;
    ap->strings = arr(w, a->n_strings, sizeof *ap->strings);
    for (size_t i = 0; ap->strings && i < a->n_strings; i++)
        ap->strings[i] = bin(&a->strings[i]);
    ap->n_tensors = a->n_tensors;
    ap->tensors = arr(w, a->n_tensors, sizeof *ap->tensors);
    for (size_t i = 0; ap->tensors && i < a->n_tensors; i++)
        ap->tensors[i] = put_tensor(w, &a->tensors[i]);
    ap->n_graphs = a->n_graphs;
    ap->graphs = unblobs(w, &onnx__graph_proto__descriptor, a->graphs, a->n_graphs);
    ap->n_sparse_tensors = a->n_sparse_tensors;
    ap->sparse_tensors = unblobs(w, &onnx__sparse_tensor_proto__descriptor, a->sparse_tensors, a->n_sparse_tensors);
    ap->n_type_protos = a->n_type_protos;
    ap->type_protos = unblobs(w, &onnx__type_proto__descriptor, a->type_protos, a->n_type_protos);
    put_extra(w, &ap->base, &a->extra);
    return ap;
}

static char **put_names(writer *w, const qfd_graph *g, const int *idx, size_t n)
{
    char **out = arr(w, n, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = idx[i] >= 0 ? g->tensors[idx[i]].name : "";
    return out;
}

static Onnx__GraphProto *put_graph(writer *w, const qfd_graph *g)
{
    Onnx__GraphProto *gp = new_msg(w, &onnx__graph_proto__descriptor);
    if (!gp)
        return NULL;
    gp->name = g->name;
    gp->doc_string = g->doc;
    gp->n_node = g->n_nodes;
    gp->node = arr(w, g->n_nodes, sizeof *gp->node);
    for (size_t i = 0; gp->node && i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        Onnx__NodeProto *np = new_msg(w, &onnx__node_proto__descriptor);
        if (!np)
            return NULL;
        np->name = n->name;
        np->op_type = n->op_type;
        np->domain = n->domain;
        np->doc_string = n->doc;
        np->n_input = n->n_in;
        np->input = put_names(w, g, n->in, n->n_in);
        np->n_output = n->n_out;
        np->output = put_names(w, g, n->out, n->n_out);
        np->n_attribute = n->n_attrs;
        np->attribute = arr(w, n->n_attrs, sizeof *np->attribute);
        for (size_t k = 0; np->attribute && k < n->n_attrs; k++)
            np->attribute[k] = put_attr(w, &n->attrs[k]);
        put_extra(w, &np->base, &n->extra);
        gp->node[i] = np;
    }
    gp->n_initializer = g->n_inits;
    gp->initializer = arr(w, g->n_inits, sizeof *gp->initializer);
    for (size_t i = 0; gp->initializer && i < g->n_inits; i++)
        gp->initializer[i] = put_tensor(w, &g->tensors[g->inits[i]]);
    gp->n_sparse_initializer = g->n_sparse_inits;
    gp->sparse_initializer = unblobs(w, &onnx__sparse_tensor_proto__descriptor, g->sparse_inits, g->n_sparse_inits);
    gp->n_input = g->n_inputs;
    gp->input = put_value_infos(w, g, g->inputs, g->n_inputs);
    gp->n_output = g->n_outputs;
    gp->output = put_value_infos(w, g, g->outputs, g->n_outputs);
    gp->n_value_info = g->n_value_infos;
    gp->value_info = put_value_infos(w, g, g->value_infos, g->n_value_infos);
    gp->n_quantization_annotation = g->n_quant_annotations;
    gp->quantization_annotation = unblobs(w, &onnx__tensor_annotation__descriptor, g->quant_annotations,
                                          g->n_quant_annotations);
    put_extra(w, &gp->base, &g->extra);
    return gp;
}

static Onnx__ModelProto *put_model(writer *w, const qfd_model *m)
{
    Onnx__ModelProto *mp = new_msg(w, &onnx__model_proto__descriptor);
    if (!mp)
        return NULL;
    mp->has_ir_version = m->has_ir_version;
    mp->ir_version = m->ir_version;
    mp->has_model_version = m->has_model_version;
    mp->model_version = m->model_version;
    mp->producer_name = m->producer_name;
    mp->producer_version = m->producer_version;
    mp->domain = m->domain;
    mp->doc_string = m->doc;
    mp->n_opset_import = m->n_opsets;
    mp->opset_import = arr(w, m->n_opsets, sizeof *mp->opset_import);
    for (size_t i = 0; mp->opset_import && i < m->n_opsets; i++) {
        Onnx__OperatorSetIdProto *op = new_msg(w, &onnx__operator_set_id_proto__descriptor);
        if (!op)
            return NULL;
        op->domain = m->opsets[i].domain;
        op->has_version = m->opsets[i].has_version;
        op->version = m->opsets[i].version;
        put_extra(w, &op->base, &m->opsets[i].extra);
        mp->opset_import[i] = op;
    }
    mp->n_metadata_props = m->n_metadata;
    mp->metadata_props = put_kvs(w, m->metadata, m->n_metadata);
    mp->n_training_info = m->n_training_info;
    mp->training_info = unblobs(w, &onnx__training_info_proto__descriptor, m->training_info, m->n_training_info);
    mp->n_functions = m->n_functions;
    mp->functions = unblobs(w, &onnx__function_proto__descriptor, m->functions, m->n_functions);
    if (m->has_graph)
        mp->graph = put_graph(w, &m->graph);
    put_extra(w, &mp->base, &m->extra);
    return mp;
}

typedef struct file_sink {
    ProtobufCBuffer base;
    FILE *f;
    int failed;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_sink *s = (file_sink *)b;
    if (!s->failed && len && fwrite(data, 1, len, s->f) != len)
        s->failed = 1;
}

qfd_status qfd_onnx_write(qfd_ctx *ctx, const qfd_model *m, const char *path)
{
    writer w = {{NULL, 0}, {arena_alloc_cb, arena_free_cb, NULL}};
    w.alloc.allocator_data = &w.arena;
    qfd_status st = QFD_OK;
    size_t plen = strlen(path) + 16;
    char *tmp = malloc(plen);
    FILE *f = NULL;
    int fd = -1;
    if (!tmp) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    Onnx__ModelProto *mp = put_model(&w, m);
    if (!mp || w.arena.failed) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory building the model", path);
        goto out;
    }
    snprintf(tmp, plen, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    fchmod(fd, 0644);
    f = fdopen(fd, "wb");
    if (!f) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    file_sink sink = {{sink_append}, f, 0};
    protobuf_c_message_pack_to_buffer(&mp->base, &sink.base);
    int failed = sink.failed || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int saved = errno;
    failed |= fclose(f) != 0;
    f = NULL;
    if (failed) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: write failed: %s", path, strerror(saved ? saved : errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot rename the finished file into place: %s", path, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
out:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    qfd_arena_free(&w.arena);
    return st;
}

qfd_status qfd_onnx_write_buffer(qfd_ctx *ctx, const qfd_model *m, uint8_t **buf, size_t *len)
{
    writer w = {{NULL, 0}, {arena_alloc_cb, arena_free_cb, NULL}};
    w.alloc.allocator_data = &w.arena;
    qfd_status st = QFD_OK;
    *buf = NULL;
    *len = 0;
    Onnx__ModelProto *mp = put_model(&w, m);
    if (!mp || w.arena.failed) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory building the model");
    } else {
        *len = protobuf_c_message_get_packed_size(&mp->base);
        if (!(*buf = malloc(*len ? *len : 1)))
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory serializing the model (%zu bytes)", *len);
        else
            protobuf_c_message_pack(&mp->base, *buf);
    }
    qfd_arena_free(&w.arena);
    return st;
}

qfd_status qfd_onnx_clone(qfd_ctx *ctx, const qfd_model *m, qfd_model **out)
{
    uint8_t *buf;
    size_t len;
    *out = NULL;
    qfd_status st = qfd_onnx_write_buffer(ctx, m, &buf, &len);
    if (st)
        return st;
    st = qfd_onnx_read_buffer(ctx, buf, len, out);
    free(buf);
    if (!st && (st = qfd_graph_validate(ctx, &(*out)->graph))) {
        qfd_model_free(*out);
        *out = NULL;
    }
    if (!st && m->path && !((*out)->path = strdup(m->path))) {
        qfd_model_free(*out);
        *out = NULL;
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    return st;
}
