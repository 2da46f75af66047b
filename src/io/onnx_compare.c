/* Field-by-field comparison of two ONNX files, driven by protobuf-c's
 * descriptors so that no field of the schema can be forgotten. Used by the
 * round-trip tests as an oracle independent of the IR. */
#include "io/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "onnx/onnx.pb-c.h"

typedef struct cmp {
    qfd_ctx *ctx;
    const char *dir_a; /* folder of file a, for its external data */
    char path[512];
    int failed;
} cmp;

static int msg_eq(cmp *c, const ProtobufCMessage *a, const ProtobufCMessage *b);

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    }
    return 0;
}

static int mismatch(cmp *c, const char *what)
{
    if (!c->failed)
        qfd_fail(c->ctx, QFD_ERR_INVALID, "files differ at %s: %s", c->path[0] ? c->path : "(model)", what);
    c->failed = 1;
    return 0;
}

/* Bit-for-bit equality of one value (floats compared by bits, so NaN == NaN). */
static int value_eq(cmp *c, const ProtobufCFieldDescriptor *f, const void *a, const void *b)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        if (!x || !y ? x != y : strcmp(x, y) != 0)
            return mismatch(c, "string differs");
        return 1;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        if (x->len != y->len || (x->len && memcmp(x->data, y->data, x->len)))
            return mismatch(c, "bytes differ");
        return 1;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)a, *y = *(ProtobufCMessage *const *)b;
        if (!x || !y)
            return x == y ? 1 : mismatch(c, x ? "message missing in second file" : "message missing in first file");
        return msg_eq(c, x, y);
    }
    default:
        if (memcmp(a, b, elem_size(f->type)))
            return mismatch(c, "value differs");
        return 1;
    }
}

static size_t path_push(cmp *c, const char *name, long idx)
{
    size_t len = strlen(c->path);
    if (idx >= 0)
        snprintf(c->path + len, sizeof c->path - len, "%s%s[%ld]", len ? "." : "", name, idx);
    else
        snprintf(c->path + len, sizeof c->path - len, "%s%s", len ? "." : "", name);
    return len;
}

static int field_eq(cmp *c, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t na = *(const size_t *)(pa + f->quantifier_offset), nb = *(const size_t *)(pb + f->quantifier_offset);
        size_t len = path_push(c, f->name, -1);
        if (na != nb) {
            char msg[96];
            snprintf(msg, sizeof msg, "%zu entries vs %zu", na, nb);
            mismatch(c, msg);
            return 0;
        }
        c->path[len] = 0;
        const char *xa = *(char *const *)(pa + f->offset), *xb = *(char *const *)(pb + f->offset);
        size_t es = elem_size(f->type);
        for (size_t i = 0; i < na; i++) {
            len = path_push(c, f->name, (long)i);
            if (!value_eq(c, f, xa + i * es, xb + i * es))
                return 0;
            c->path[len] = 0;
        }
        return 1;
    }
    int has_a = 1, has_b = 1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t ca = *(const uint32_t *)(pa + f->quantifier_offset),
                 cb = *(const uint32_t *)(pb + f->quantifier_offset);
        has_a = ca == f->id;
        has_b = cb == f->id;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
               f->type != PROTOBUF_C_TYPE_MESSAGE) {
        has_a = *(const protobuf_c_boolean *)(pa + f->quantifier_offset) != 0;
        has_b = *(const protobuf_c_boolean *)(pb + f->quantifier_offset) != 0;
    }
    size_t len = path_push(c, f->name, -1);
    if (has_a != has_b)
        return mismatch(c, has_a ? "present only in first file" : "present only in second file");
    if (has_a && !value_eq(c, f, pa + f->offset, pb + f->offset))
        return 0;
    c->path[len] = 0;
    return 1;
}

/* A tensor stored externally in `a` equals `b` when b holds the same bytes
 * as raw_data: compare a normalised copy of a instead. */
static int external_tensor_eq(cmp *c, const Onnx__TensorProto *a, const Onnx__TensorProto *b)
{
    const char *loc = NULL;
    long long off = 0, len = -1;
    for (size_t i = 0; i < a->n_external_data; i++) {
        const char *k = a->external_data[i]->key, *v = a->external_data[i]->value;
        if (k && v && !strcmp(k, "location"))
            loc = v;
        else if (k && v && !strcmp(k, "offset"))
            off = atoll(v);
        else if (k && v && !strcmp(k, "length"))
            len = atoll(v);
    }
    if (!loc || !b->has_raw_data)
        return mismatch(c, "external tensor not embedded as raw_data");
    if (len < 0)
        len = (long long)b->raw_data.len;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir_a, loc);
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(len ? (size_t)len : 1);
    int ok = f && buf && fseeko(f, off, SEEK_SET) == 0 && fread(buf, 1, (size_t)len, f) == (size_t)len;
    if (f)
        fclose(f);
    Onnx__TensorProto na = *a;
    na.n_external_data = 0;
    na.external_data = NULL;
    na.has_data_location = 0;
    na.has_raw_data = 1;
    na.raw_data = (ProtobufCBinaryData){(size_t)len, buf};
    int eq = ok ? msg_eq(c, &na.base, &b->base) : mismatch(c, "cannot read external data of first file");
    free(buf);
    return eq;
}

static int msg_eq(cmp *c, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    if (a->descriptor != b->descriptor)
        return mismatch(c, "message types differ");
    if (a->descriptor == &onnx__tensor_proto__descriptor) {
        const Onnx__TensorProto *ta = (const void *)a;
        if (ta->has_data_location && ta->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
            return external_tensor_eq(c, ta, (const void *)b);
    }
    for (unsigned i = 0; i < a->descriptor->n_fields; i++)
        if (!field_eq(c, &a->descriptor->fields[i], a, b))
            return 0;
    if (a->n_unknown_fields != b->n_unknown_fields)
        return mismatch(c, "unknown (newer-schema) fields differ in number");
    for (unsigned i = 0; i < a->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *x = &a->unknown_fields[i], *y = &b->unknown_fields[i];
        if (x->tag != y->tag || x->wire_type != y->wire_type || x->len != y->len ||
            (x->len && memcmp(x->data, y->data, x->len)))
            return mismatch(c, "unknown (newer-schema) field differs");
    }
    return 1;
}

static Onnx__ModelProto *load(qfd_ctx *ctx, const char *path, qfd_status *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    Onnx__ModelProto *m = buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!m)
        *st = qfd_fail(ctx, QFD_ERR_PARSE, "%s: not a valid ONNX protobuf", path);
    return m;
}

qfd_status qfd_onnx_compare_files(qfd_ctx *ctx, const char *a, const char *b)
{
    qfd_status st = QFD_OK;
    Onnx__ModelProto *ma = load(ctx, a, &st), *mb = ma ? load(ctx, b, &st) : NULL;
    if (ma && mb) {
        char dir[4096];
        const char *slash = strrchr(a, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - a) : 1, slash ? a : ".");
        cmp c = {ctx, dir, "", 0};
        st = msg_eq(&c, &ma->base, &mb->base) ? QFD_OK : QFD_ERR_INVALID;
    }
    if (ma)
        onnx__model_proto__free_unpacked(ma, NULL);
    if (mb)
        onnx__model_proto__free_unpacked(mb, NULL);
    return st;
}
