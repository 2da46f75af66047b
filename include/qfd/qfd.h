/* qfd-onnx public C API.
 *
 * Everything here is plain C with opaque handles: no protobuf-c type ever
 * appears in this header. Functions return a qfd_status; on failure the
 * context holds a one-line message naming the file, node or tensor at fault.
 * Nothing in the library prints or exits.
 */
#ifndef QFD_QFD_H
#define QFD_QFD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qfd_status {
    QFD_OK = 0,
    QFD_ERR_ARG,         /* bad argument or flag */
    QFD_ERR_IO,          /* cannot open, read or write a file */
    QFD_ERR_PARSE,       /* bytes are not a valid ONNX ModelProto */
    QFD_ERR_INVALID,     /* well-formed protobuf, but not a valid graph */
    QFD_ERR_UNSUPPORTED, /* valid ONNX that qfd-onnx cannot handle */
    QFD_ERR_NOMEM,
    QFD_ERR_INTERNAL
} qfd_status;

/* Everything that would otherwise be global: error text, verbosity. */
typedef struct qfd_ctx qfd_ctx;

qfd_ctx *qfd_ctx_new(void);
void qfd_ctx_free(qfd_ctx *ctx);
/* Message of the last failure, "" if none. Valid until the next call. */
const char *qfd_ctx_error(const qfd_ctx *ctx);
const char *qfd_status_name(qfd_status st);

/* An ONNX model held in qfd-onnx's IR. */
typedef struct qfd_model qfd_model;

/* Reads an ONNX file (IR 3-10, any opset), loads external data relative to
 * the file's folder, validates the graph and puts nodes in topological order. */
qfd_status qfd_model_load(qfd_ctx *ctx, const char *path, qfd_model **out);
/* Writes the model; external data is embedded. The file appears whole or not
 * at all: it is written under a temporary name and renamed. */
qfd_status qfd_model_save(qfd_ctx *ctx, const qfd_model *model, const char *path);
void qfd_model_free(qfd_model *model);

/* ---- Summary: what `qfd-onnx info` prints ---------------------------- */

typedef struct qfd_dim_info {
    int64_t value;     /* >= 0 when known */
    const char *param; /* symbolic name, or NULL */
} qfd_dim_info;

typedef struct qfd_value_summary {
    const char *name;
    const char *kind;  /* "tensor", "sequence", "map", "optional", "sparse_tensor", "unknown" */
    const char *dtype; /* ONNX element type name ("float", "int4", ...) or NULL */
    int has_shape;
    int rank;
    const qfd_dim_info *dims;
} qfd_value_summary;

typedef struct qfd_op_count {
    const char *domain; /* "" for the default ONNX domain */
    const char *op_type;
    int64_t count;
} qfd_op_count;

typedef struct qfd_opset_summary {
    const char *domain;
    int64_t version;
} qfd_opset_summary;

typedef struct qfd_qtype_count {
    const char *dtype; /* integer type of a QDQ pair: "int8", "uint4", ... */
    int bits;
    int64_t count;     /* QuantizeLinear/DequantizeLinear nodes using it */
} qfd_qtype_count;

typedef struct qfd_model_summary {
    int64_t ir_version;
    const char *producer_name, *producer_version, *graph_name;
    size_t n_opsets;
    const qfd_opset_summary *opsets;
    size_t n_inputs, n_outputs;
    const qfd_value_summary *inputs, *outputs;
    size_t n_metadata;
    const char *const *metadata_keys, *const *metadata_values;
    int64_t n_nodes;
    size_t n_ops; /* distinct op types, most frequent first */
    const qfd_op_count *ops;
    int64_t n_initializers, n_params, param_bytes;
    int64_t n_qdq_nodes; /* QuantizeLinear + DequantizeLinear */
    size_t n_qtypes;
    const qfd_qtype_count *qtypes;
    int64_t n_subgraphs; /* If/Loop/Scan bodies, kept opaque */
} qfd_model_summary;

qfd_status qfd_model_summarize(qfd_ctx *ctx, const qfd_model *model,
                               qfd_model_summary **out);
void qfd_model_summary_free(qfd_model_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
