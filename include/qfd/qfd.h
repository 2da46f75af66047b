/* qfd-onnx public C API.
 *
 * Everything here is plain C with opaque handles: no protobuf-c type ever
 * appears in this header. Functions return a qfd_status; on failure the
 * context holds a one-line message naming the file, node or tensor at fault.
 * Nothing in the library prints or exits.
 */
#ifndef QFD_QFD_H
#define QFD_QFD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
    QFD_ERR_INTERNAL,
    QFD_ERR_LIMIT /* input that would take more memory than the context's limit */
} qfd_status;

/* Everything that would otherwise be global: error text, verbosity. */
typedef struct qfd_ctx qfd_ctx;

qfd_ctx *qfd_ctx_new(void);
void qfd_ctx_free(qfd_ctx *ctx);
/* Message of the last failure, "" if none. Valid until the next call. */
const char *qfd_ctx_error(const qfd_ctx *ctx);
const char *qfd_status_name(qfd_status st);

/* The most memory one file's tensors (initializers and external data, read
 * together), one array read from a data file, or one executor plan (values,
 * gradients, workspace) may take; beyond it the call fails with
 * QFD_ERR_LIMIT, naming the tensor or node, before allocating. It keeps a
 * hostile or corrupt file from taking the machine. 0 means no limit. The
 * default, 16 GiB, is ten times what training the bundled models takes and
 * the same on every machine, so that a file is accepted or refused alike
 * everywhere. */
#define QFD_DEFAULT_MEMORY_LIMIT ((uint64_t)16 << 30)
void qfd_ctx_set_memory_limit(qfd_ctx *ctx, uint64_t bytes);
uint64_t qfd_ctx_memory_limit(const qfd_ctx *ctx);

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
    int64_t count; /* QuantizeLinear/DequantizeLinear nodes using it */
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

qfd_status qfd_model_summarize(qfd_ctx *ctx, const qfd_model *model, qfd_model_summary **out);
void qfd_model_summary_free(qfd_model_summary *summary);

/* Inference-time rewrite: folds each BatchNormalization that follows a Conv
 * into the Conv's weights (as ONNX Runtime does); outputs change only by
 * float rounding. Not for a model that will be trained. */
qfd_status qfd_model_fold_batchnorm(qfd_ctx *ctx, qfd_model *model, int *folded);

/* Inference-time rewrite, after qfd_model_fold_batchnorm: each Relu,
 * LeakyRelu or constant-bound Clip that alone follows a Conv is applied by
 * that Conv, which becomes ONNX Runtime's com.microsoft FusedConv; outputs do
 * not change. Not for a model that will be trained or written. */
qfd_status qfd_model_fuse_activations(qfd_ctx *ctx, qfd_model *model, int *fused);

/* ---- Arrays and tensor files ----------------------------------------- */

#define QFD_ARRAY_MAX_RANK 8

/* A dense n-d array: element type as an ONNX TensorProto.DataType code
 * (1 float, 7 int64, ...), little-endian elements in C order. */
typedef struct qfd_array {
    int32_t dtype;
    int rank;
    int64_t dims[QFD_ARRAY_MAX_RANK];
    void *data;
    size_t nbytes;
} qfd_array;

/* Frees data and zeroes the struct; safe on a zeroed or already freed array. */
void qfd_array_free(qfd_array *a);
/* Product of the dims (1 for rank 0), or -1 if it overflows or a dim is negative. */
int64_t qfd_array_numel(const qfd_array *a);
/* ONNX name of an element type ("float", "int64", ...), "?" if unknown. */
const char *qfd_dtype_str(int32_t dtype);

/* Reads a NumPy .npy file or an ONNX TensorProto .pb file (by content). */
qfd_status qfd_tensor_file_read(qfd_ctx *ctx, const char *path, qfd_array *out);
/* Writes a .npy file atomically (temporary file + rename). */
qfd_status qfd_npy_write(qfd_ctx *ctx, const char *path, const qfd_array *a);

/* ---- Running a model: `qfd-onnx run` ---------------------------------- */

typedef struct qfd_exec qfd_exec;

/* Resolves every node's op (failing with a list of all unsupported ops) and
 * parses attributes. The model must outlive the executor. n_threads <= 0
 * means all cores. */
qfd_status qfd_exec_new(qfd_ctx *ctx, const qfd_model *m, int n_threads, qfd_exec **out);
void qfd_exec_free(qfd_exec *e);
/* Graph inputs that are not initializers, and graph outputs, in order. */
size_t qfd_exec_n_inputs(const qfd_exec *e);
size_t qfd_exec_n_outputs(const qfd_exec *e);
const char *qfd_exec_input_name(const qfd_exec *e, size_t i);
const char *qfd_exec_output_name(const qfd_exec *e, size_t i);
/* Runs the graph; inputs are borrowed for the call. A new input shape
 * replans (shape inference, folding, buffers) once. */
qfd_status qfd_exec_run(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs);
/* Output i of the last run, owned by the executor until the next run. */
const qfd_array *qfd_exec_output(const qfd_exec *e, size_t i);

/* ---- Evaluation: `qfd-onnx eval` ------------------------------------ */

typedef struct qfd_eval_opts {
    const char *data;  /* IDX folder or .npz; NULL = Debian's Fashion-MNIST */
    int64_t limit;     /* > 0: first `limit` test examples only */
    int batch;         /* <= 0: 64 */
    int n_threads;     /* <= 0: all cores */
    int n_mean, n_std; /* 0: normalisation from the model's qfd.mean/qfd.std, else none */
    float mean[4], std[4];
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
    FILE *profile; /* non-NULL: the time per op type is written here at the end */
} qfd_eval_opts;

typedef struct qfd_eval_result {
    int64_t n, classes;
    double top1, top5, seconds;
    int n_norm;
    float mean[4], std[4];
    const char *norm_source; /* "flags", "metadata" or "none" */
} qfd_eval_result;

/* Runs the model over the test split of a labelled dataset. */
qfd_status qfd_model_evaluate(qfd_ctx *ctx, const qfd_model *model, const qfd_eval_opts *opts, qfd_eval_result *result);
/* Parses "0.5" or "0.485,0.456,0.406"; returns the count, 0 if malformed. */
int qfd_parse_floats(const char *s, float *v, int cap);

/* ---- FP32 training: `qfd-onnx train` ---------------------------------- */

typedef struct qfd_train_progress {
    int epoch, epochs;     /* 1-based epoch */
    int64_t step, steps;   /* batches done in this epoch, and per epoch */
    double loss, accuracy; /* running means over the epoch so far */
    double images_per_second, eta_seconds;
    int epoch_done; /* 1 on the last call of an epoch */
} qfd_train_progress;

typedef struct qfd_train_opts {
    const char *data;      /* IDX folder or .npz; NULL = Debian's Fashion-MNIST */
    int64_t limit;         /* > 0: first `limit` training examples */
    int epochs;            /* >= 1 */
    int batch;             /* <= 0: 128 */
    const char *optimizer; /* "sgd" (default) or "adamw" */
    float lr;              /* <= 0: 0.01 for SGD, 0.001 for AdamW */
    float momentum;        /* SGD, default 0.9 when < 0 */
    int nesterov;
    float weight_decay;   /* < 0: 5e-4 (SGD) / 0.01 (AdamW); never on biases and norm parameters */
    const char *schedule; /* "cosine" (default), "step", "constant" */
    float warmup_epochs;
    int step_epochs; /* "step": decay every step_epochs epochs (default 1) */
    float gamma;     /* "step": factor (default 0.1) */
    float label_smoothing;
    int crop_pad;      /* random crop with this zero padding; < 0: 2; 0: off */
    int hflip;         /* random horizontal flip; < 0: on */
    int n_mean, n_std; /* normalisation as in qfd_eval_opts */
    float mean[4], std[4];
    uint64_t seed;
    int n_threads;
    const char *checkpoint_dir;  /* save every epoch and when stopped */
    const char *resume_dir;      /* continue exactly from a checkpoint (model loaded from it by the caller) */
    volatile sig_atomic_t *stop; /* set non-zero (e.g. by a signal handler) to stop after the current step */
    void (*progress)(void *user, const qfd_train_progress *p);
    void *user;
    FILE *profile; /* non-NULL: the time per op type (forward, backward) is written here at the end */
} qfd_train_opts;

typedef struct qfd_train_result {
    int epochs_done;
    int stopped; /* stopped early through opts->stop */
    double loss, train_accuracy, seconds, images_per_second;
    size_t train_bytes; /* activations, gradients and optimizer state */
    int64_t n_params;
} qfd_train_result;

/* Fine-tunes every trainable parameter of the model in place (weights and
 * BatchNormalization statistics) with cross-entropy on the training split.
 * A loss that turns NaN or infinite stops with an error; the last
 * checkpoint stays as it was. */
qfd_status qfd_model_train(qfd_ctx *ctx, qfd_model *model, const qfd_train_opts *opts, qfd_train_result *result);

#ifdef __cplusplus
}
#endif
#endif
