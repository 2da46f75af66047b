/* The IR: one model, one graph that owns every tensor, nodes that refer to
 * tensors by index.
 *
 * The IR keeps everything an ONNX file says, including which optional fields
 * were present, so that reading and writing a file gives the same file. Parts
 * the rest of qfd-onnx does not work on (subgraphs, functions, sparse
 * tensors, non-tensor types) are kept as serialized protobuf bytes
 * ("opaque"); fields newer than the compiled schema are kept as raw wire
 * fields ("extra").
 */
#ifndef QFD_IR_IR_H
#define QFD_IR_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"
#include "ir/dtype.h"
#include "qfd/qfd.h"

typedef struct qfd_blob {
    bool present;
    size_t len;
    uint8_t *data;
} qfd_blob;

/* A wire-format field that the compiled onnx.proto does not know. */
typedef struct qfd_wire_field {
    uint32_t tag;
    uint8_t wire_type;
    size_t len;
    uint8_t *data;
} qfd_wire_field;

typedef struct qfd_extra {
    size_t n;
    qfd_wire_field *fields;
} qfd_extra;

typedef struct qfd_kv {
    char *key, *value; /* NULL = absent */
    qfd_extra extra;
} qfd_kv;

enum qfd_dim_kind { QFD_DIM_UNSET, QFD_DIM_VALUE, QFD_DIM_PARAM };

typedef struct qfd_dim {
    int kind;
    int64_t value;
    char *param;
    char *denotation;
} qfd_dim;

enum qfd_type_kind { QFD_TYPE_TENSOR, QFD_TYPE_OPAQUE };

/* A TypeProto: tensor types structured, every other kind opaque. */
typedef struct qfd_type {
    int kind;
    bool has_elem_type;
    int32_t elem_type;
    bool has_shape;
    int rank;
    qfd_dim *dims;
    char *denotation;
    qfd_blob opaque;         /* serialized TypeProto when kind == QFD_TYPE_OPAQUE */
    const char *opaque_kind; /* "sequence", "map", ... for info */
} qfd_type;

enum qfd_storage {
    QFD_STORE_NONE,    /* no data field at all */
    QFD_STORE_RAW,     /* raw_data */
    QFD_STORE_TYPED,   /* float_data, int32_data, ... */
    QFD_STORE_EXTERNAL /* read from an external file; written back as raw_data */
};

enum qfd_tensor_flags {
    QFD_T_INITIALIZER = 1u << 0,
    QFD_T_INPUT = 1u << 1,
    QFD_T_OUTPUT = 1u << 2,
};

/* A named value of the graph. Initializers and tensor attributes carry data:
 * little-endian element bytes, sub-byte types packed two per byte (low
 * nibble first), STRING as a list of byte strings. */
typedef struct qfd_tensor {
    char *name;
    bool has_dtype;
    int32_t dtype;
    int rank;
    int64_t *dims;
    int storage;
    size_t nbytes;
    void *data;
    size_t n_strings;
    qfd_blob *strings;
    char *doc;
    bool has_segment;
    int64_t segment_begin, segment_end;
    bool segment_has_begin, segment_has_end;
    bool has_location_default; /* data_location = DEFAULT written explicitly */
    size_t n_external;         /* the file's external_data entries */
    qfd_kv *external;
    qfd_extra extra;

    uint32_t flags;
    int producer; /* node index, or -1 */
} qfd_tensor;

typedef struct qfd_attr {
    char *name, *ref_attr_name, *doc;
    bool has_type, has_f, has_i;
    int type; /* ONNX AttributeType */
    float f;
    int64_t i;
    qfd_blob s;
    qfd_tensor *t;
    qfd_blob g, sparse_tensor, tp; /* opaque */
    size_t n_floats, n_ints, n_strings, n_tensors, n_graphs, n_sparse_tensors, n_type_protos;
    float *floats;
    int64_t *ints;
    qfd_blob *strings;
    qfd_tensor *tensors;
    qfd_blob *graphs, *sparse_tensors, *type_protos;
    qfd_extra extra;
} qfd_attr;

typedef struct qfd_node {
    char *name, *op_type, *domain, *doc;
    size_t n_in, n_out, n_attrs;
    int *in, *out; /* tensor indices; -1 for an omitted optional ("") */
    qfd_attr *attrs;
    qfd_extra extra;
} qfd_node;

/* One entry of graph.input / output / value_info. */
typedef struct qfd_value_info {
    int tensor;
    bool has_type;
    qfd_type type;
    char *doc;
    qfd_extra extra;
} qfd_value_info;

typedef struct qfd_graph {
    char *name, *doc;
    size_t n_tensors, cap_tensors;
    qfd_tensor *tensors;
    qfd_strmap by_name;
    size_t n_nodes, cap_nodes;
    qfd_node *nodes;
    size_t n_inputs, n_outputs, n_value_infos, n_inits;
    qfd_value_info *inputs, *outputs, *value_infos;
    int *inits; /* initializer tensors in file order */
    size_t n_sparse_inits, n_quant_annotations;
    qfd_blob *sparse_inits, *quant_annotations; /* opaque */
    qfd_extra extra;
} qfd_graph;

typedef struct qfd_opset {
    char *domain;
    bool has_version;
    int64_t version;
    qfd_extra extra;
} qfd_opset;

struct qfd_model {
    bool has_ir_version, has_model_version, has_graph;
    int64_t ir_version, model_version;
    char *producer_name, *producer_version, *domain, *doc;
    size_t n_opsets, n_metadata, n_training_info, n_functions;
    qfd_opset *opsets;
    qfd_kv *metadata;
    qfd_blob *training_info, *functions; /* opaque */
    qfd_graph graph;
    qfd_extra extra;
    char *path; /* file it was loaded from, for messages; NULL if built in memory */
};

int64_t qfd_tensor_numel(const qfd_tensor *t);

/* Adds a tensor named `name` (copied) and returns its index, or -1 when out
 * of memory. The name must not exist yet. */
int qfd_graph_add_tensor(qfd_graph *g, const char *name);
/* How messages name node idx: "'conv1' (Conv)", or "Conv#3" when it has no
 * name (PyTorch leaves many unnamed). Writes into buf and returns it. */
const char *qfd_node_label(const qfd_node *n, size_t idx, char *buf, size_t cap);
int qfd_graph_find(const qfd_graph *g, const char *name);

void qfd_tensor_clear(qfd_tensor *t);
void qfd_attr_clear(qfd_attr *a);
void qfd_extra_clear(qfd_extra *e);
void qfd_blob_clear(qfd_blob *b);
void qfd_type_clear(qfd_type *t);
void qfd_graph_clear(qfd_graph *g);

/* Checks that the graph is closed, acyclic and free of duplicate producers,
 * links producers, and puts nodes in topological order (keeping the file's
 * order when it already is one). Errors name the node and the tensor. */
qfd_status qfd_graph_validate(qfd_ctx *ctx, qfd_graph *g);

/* A 64-bit hash of the graph's structure: nodes (op, domain, attribute
 * names, input and output names) and initializers (name, type, shape), not
 * their values, which training changes. Tells whether a checkpoint was
 * made from this model. */
uint64_t qfd_graph_fingerprint(const qfd_graph *g);

#endif
