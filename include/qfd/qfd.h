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

typedef struct qfd_layer_summary {
    const char *name; /* node name, or "<op>#<index>" */
    const char *op_type;
    int wbits, abits; /* weight and input activation bits; 0 for a float layer */
} qfd_layer_summary;

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
    /* The classifier feature (qfd_model_find_feature without a name), with
     * its shape when the graph declares it or it follows from the
     * classifier's weight; NULL when the search finds none. */
    const qfd_value_summary *feature;
    /* A quantized file (n_qdq_nodes > 0): its format ("ort", "int4",
     * "tensorrt", or "qdq" for another layout), from its qfd.quant.format
     * metadata or inferred from the Q/DQ types; and every Conv,
     * ConvTranspose, Gemm and MatMul with its bits, from the qfd.quant.bits
     * and qfd.quant.float metadata or inferred from the integers it uses
     * (n_layers_inferred of them). quant_format is NULL otherwise. */
    const char *quant_format;
    int quant_format_inferred;
    int64_t opset; /* of the default domain; -1 when not imported */
    size_t n_layers, n_layers_inferred;
    const qfd_layer_summary *layers;
} qfd_model_summary;

qfd_status qfd_model_summarize(qfd_ctx *ctx, const qfd_model *model, qfd_model_summary **out);
void qfd_model_summary_free(qfd_model_summary *summary);

/* The classifier feature that quantization distils (QFD's f): with name,
 * that tensor, which must be a value of the graph ("--feature: no tensor
 * named ..." otherwise); with name NULL, the activation input of the last
 * Gemm or MatMul by a weight on the path back from the first output (for
 * GlobalAveragePool -> Flatten -> Gemm, the Flatten's output), or a failure
 * that names where the search stopped and asks for --feature. *feature is
 * the tensor's name, owned by the model. */
qfd_status qfd_model_find_feature(qfd_ctx *ctx, const qfd_model *model, const char *name, const char **feature);

/* Makes the model import ONNX opset `opset` (up to 21, not below its own)
 * and compute the same outputs, rewriting the nodes whose op changed
 * between the two opsets; fails naming a node it cannot rewrite exactly,
 * leaving the model as it was. */
qfd_status qfd_model_upgrade_opset(qfd_ctx *ctx, qfd_model *model, int64_t opset);

/* Inference-time rewrite: folds each BatchNormalization that follows a Conv,
 * ConvTranspose or Gemm into that op's weights and bias (as ONNX Runtime
 * does); outputs change only by float rounding. Not for a model that will be
 * trained. */
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
/* Fails as qfd_npy_write would for an array .npy cannot hold (bfloat16,
 * strings, ...), without touching path: lets a caller check every array
 * before writing any. */
qfd_status qfd_npy_check(qfd_ctx *ctx, const char *path, const qfd_array *a);

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

/* How image files (an ImageFolder tree, a folder of images or a list file
 * as --data) become inputs of the model, whose first input gives [C,H,W]
 * (C 1: PIL's 'L' luminance; C 3: RGB). Evaluation as torchvision's PIL
 * path: Resize(resize) on the shorter side, bilinear with antialias, then
 * CenterCrop(crop, else the model's H x W); with neither, a resize to
 * H x W. Training: random-resized-crop to H x W and the flip of hflip. */
typedef struct qfd_image_opts {
    int resize;               /* > 0: the shorter side becomes this, before the crop */
    int crop;                 /* > 0: center crop of crop x crop; the model's H x W when 0 */
    const char *on_bad_image; /* "fail" (NULL) or "skip": an image that does not decode is left out, counted */
    int no_random_crop;       /* training: the evaluation preprocessing instead of random-resized-crop */
} qfd_image_opts;

typedef struct qfd_eval_opts {
    const char *data;  /* IDX folder or .npz; NULL = Debian's Fashion-MNIST */
    int64_t limit;     /* > 0: first `limit` test examples only */
    int batch;         /* <= 0: 64 */
    int n_threads;     /* <= 0: all cores */
    int n_mean, n_std; /* 0: normalization from the model's qfd.mean/qfd.std, else none */
    float mean[4], std[4];
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
    FILE *profile;               /* non-NULL: the time per op type is written here at the end */
    volatile sig_atomic_t *stop; /* set non-zero (e.g. by a signal handler) to stop after the current batch */
    FILE *logits;                /* non-NULL: every image's logits, float32 little-endian, row after row */
    qfd_image_opts image;        /* image files as data */
} qfd_eval_opts;

typedef struct qfd_eval_result {
    int64_t n, classes;
    double top1, top5, seconds;
    int64_t n_nonfinite; /* examples whose logits hold NaN or Inf: counted as wrong */
    int n_norm;
    float mean[4], std[4];
    const char *norm_source; /* "flags", "metadata" or "none" */
    int stopped;             /* stopped early through opts->stop; the counts are partial */
    int64_t skipped;         /* images left out by on_bad_image "skip" (not in n) */
} qfd_eval_result;

/* Runs the model over the test split of a labelled dataset. */
qfd_status qfd_model_evaluate(qfd_ctx *ctx, const qfd_model *model, const qfd_eval_opts *opts, qfd_eval_result *result);
/* Parses "0.5" or "0.485,0.456,0.406"; returns the count, 0 if malformed. */
int qfd_parse_floats(const char *s, float *v, int cap);

/* ---- FP32 training: `qfd-onnx train` ---------------------------------- */

/* Most loss terms a run reports one by one (cross-entropy, a distillation term). */
#define QFD_LOSS_TERMS_MAX 4

typedef struct qfd_train_progress {
    int epoch, epochs;     /* 1-based epoch */
    int64_t step, steps;   /* batches done in this epoch, and per epoch */
    double loss, accuracy; /* running means over the epoch so far; accuracy NaN without labels */
    double images_per_second, eta_seconds;
    int epoch_done;    /* 1 on the last call of an epoch */
    const char *phase; /* NULL, or which model of a multi-stage run trains ("teacher") */
    /* The terms the loss sums (n_terms >= 2 only; one term is the loss):
     * names ("ce", "mse", "kl") and running means, each before its weight. */
    int n_terms;
    const char *term_names[QFD_LOSS_TERMS_MAX];
    double terms[QFD_LOSS_TERMS_MAX];
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
    int n_mean, n_std; /* normalization as in qfd_eval_opts */
    float mean[4], std[4];
    uint64_t seed;
    int n_threads;
    const char *checkpoint_dir;  /* save every epoch, every checkpoint_steps steps, and when stopped */
    int64_t checkpoint_steps;    /* > 0: also save every this many steps */
    const char *resume_dir;      /* continue exactly from this checkpoint: the model passed in must be the
                                    one the run started from; its weights are replaced by the checkpoint's */
    int check_test;              /* check the test split (present, well formed, labels in range) before
                                    the first step, for a caller that evaluates after training */
    volatile sig_atomic_t *stop; /* set non-zero (e.g. by a signal handler) to stop after the current step */
    void (*progress)(void *user, const qfd_train_progress *p);
    void *user;
    FILE *profile;        /* non-NULL: the time per op type (forward, backward) is written here at the end */
    qfd_image_opts image; /* image files as data */
} qfd_train_opts;

typedef struct qfd_train_result {
    int epochs_done;
    int stopped;      /* stopped early through opts->stop */
    int checkpointed; /* opts->checkpoint_dir holds a checkpoint (also set when training failed) */
    double loss, train_accuracy, seconds, images_per_second; /* train_accuracy NaN without labels */
    size_t train_bytes;                                      /* activations, gradients and optimizer state */
    /* Steady-state speed: images per second from the end of this run's
     * first step (which plans, packs weights and first-touches memory) to
     * the end of its last; 0 when fewer than two steps ran. */
    double steady_images_per_second;
    int64_t steps; /* optimizer steps this run took */
    /* The process's resident set size once the data was loaded, before the
     * trainer was built (Linux /proc/self/statm; 0 when unknown). */
    size_t rss_loaded_bytes;
    /* The process's peak resident set size when the last step ended
     * (getrusage's ru_maxrss: everything the process did before training
     * counts too; 0 when unknown). */
    size_t rss_peak_bytes;
    int64_t n_params;
    int64_t skipped; /* images left out of an epoch by image.on_bad_image "skip" (the most of any epoch) */
    /* Each loss term over the last epoch: name, weight, mean value before
     * the weight (loss is the weighted sum). */
    int n_terms;
    const char *term_names[QFD_LOSS_TERMS_MAX];
    double term_weights[QFD_LOSS_TERMS_MAX], terms[QFD_LOSS_TERMS_MAX];
} qfd_train_result;

/* Fails, naming the path, unless a file can be written at path: its folder
 * exists and takes new files, and path is not a folder. Checked by
 * creating and removing a temporary file beside it. */
qfd_status qfd_output_check(qfd_ctx *ctx, const char *path);

/* Fine-tunes every trainable parameter of the model in place (weights and
 * BatchNormalization statistics) with cross-entropy on the training split.
 * A loss that turns NaN or infinite stops with an error; the last
 * checkpoint stays as it was. */
qfd_status qfd_model_train(qfd_ctx *ctx, qfd_model *model, const qfd_train_opts *opts, qfd_train_result *result);

/* Writes s as a JSON string literal, escaped; NULL writes null. */
void qfd_json_str(FILE *f, const char *s);

/* ---- Quantization: `qfd-onnx quantize` -------------------------------- */

typedef struct qfd_quantize_opts {
    /* "qfd" (default: a teacher with a quantized feature, then the student
     * with cross-entropy plus lambda * MSE to that feature), "kd" (plus
     * T^2 * KL to the FP32 teacher's logits), "fd" (plus lambda * MSE to
     * the FP32 teacher's feature), "lsq" (cross-entropy only) or "ptq"
     * (calibration only) */
    const char *method;
    int wbits, abits;        /* 2..8; <= 0: 4 */
    const char *first_last;  /* first and last layers: "8" (default), "same" or "fp" (kept float) */
    const char *format;      /* "ort", "int4" or "tensorrt"; NULL: int4 when a layer other than the first
                                and last has tensors of 4 bits or fewer, else ort */
    const char *calib;       /* activations: "mse" (default), "percentile" or "minmax" */
    int64_t calib_images;    /* <= 0: 2048 training images, no augmentation */
    const char *feature;     /* the student's feature (NULL: the classifier feature, found as
                                qfd_model_find_feature does): what qfd and fd distil. A name not in
                                the model is refused. */
    const char *const *skip; /* shell patterns on node names or op types: those layers stay float */
    size_t n_skip;
    float lr_steps;           /* the quantizer steps' learning rate; <= 0: 1e-3 (1e-2 for a student with
                                 2-bit weights or activations) */
    int64_t eval_limit;       /* > 0: first eval_limit test images for the accuracies (0: all) */
    const char *student_path; /* non-NULL: also save the trained fake-quant model (domain ai.qfd) here */
    /* Distillation (kd, fd, qfd; any of these with another method is refused). */
    float lambda;                /* <= 0: 1.0, the weight of the distillation term */
    float temperature;           /* kd only; <= 0: 1 */
    int no_labels;               /* the distillation term only: data without labels load */
    const char *teacher_path;    /* the teacher (NULL: the model itself); a file written by save_teacher
                                    is a trained qfd teacher and skips stage 1 */
    const char *teacher_feature; /* the teacher's feature (NULL: the student's name when the teacher
                                    has that tensor, else its classifier feature) */
    const char *save_teacher;    /* qfd: also write the teacher after stage 1 here */
    int teacher_bits;            /* qfd: the teacher's feature quantizer, 1..8; <= 0: 4 */
    int teacher_epochs;          /* qfd: stage 1's epochs; < 0: 1; 0: calibrate the quantizer only */
    float teacher_lr;            /* qfd: stage 1's learning rate; <= 0: see quantize --help */
    /* Data and training: as `train` (epochs <= 0: 2; lr <= 0: 0.004; SGD,
     * Nesterov momentum 0.9, cosine). check_test is implied. Stage 1 uses
     * the same data, batch, seed and augmentation. */
    qfd_train_opts train;
    void (*stage)(void *user, int stage, int stages, const char *what); /* one call per stage */
    void (*calib_progress)(void *user, int64_t done, int64_t total);
} qfd_quantize_opts;

typedef struct qfd_quantize_layer {
    char *name; /* node name, or "<op>#<index>" */
    const char *op;
    int wbits, abits; /* 0: kept float */
} qfd_quantize_layer;

typedef struct qfd_quantize_tensor {
    char *name; /* the tensor quantized */
    int bits;
    int is_signed, weight;
    int64_t qmin, qmax;
    int64_t n_step;
    float step_min, step_max; /* learned (or calibrated) step, over channels */
} qfd_quantize_tensor;

typedef struct qfd_quantize_result {
    const char *method;     /* the method run ("qfd", ...), a literal */
    qfd_train_result train; /* the student's training run (lsq, kd, fd, qfd) */
    char *feature;          /* the student's feature, NULL when none was found (ptq and lsq do not need it) */
    int folded_bn;
    size_t n_layers, n_tensors;
    qfd_quantize_layer *layers;
    qfd_quantize_tensor *tensors;
    int64_t n_test;
    int test_labeled; /* 0: the test split has no labels; the top-1 values are NaN */
    /* images left out by on_bad_image "skip": of the training split (the
     * most any pass over it met: calibration, stage 1, the student's epochs)
     * and of the test split */
    int64_t skipped_train, skipped_test;
    double fp32_top1, student_top1, exported_top1;
    double agreement;      /* fraction of test images where student and exported file predict one class */
    double max_logit_diff; /* largest |student - exported| logit */
    int float_groups;      /* activations below 8 bits: ONNX Runtime runs their consumers in float */
    const char *format;    /* the export format used ("ort", "int4"), a literal */
    double seconds_prepare, seconds_calibrate, seconds_train, seconds_export, seconds_evaluate;
    /* The teacher (kd, fd, qfd; has_teacher 0 otherwise) */
    int has_teacher;
    char *teacher_source;  /* where it came from: the model, --teacher FILE, a checkpoint */
    char *teacher_feature; /* its feature (fd, qfd), NULL for kd */
    int teacher_bits;      /* qfd: its feature quantizer, 0 for kd and fd */
    int teacher_signed;
    float teacher_step;  /* qfd: the quantizer's step after stage 1 */
    int teacher_trained; /* qfd: stage 1 ran in this run (its result in teacher_train) */
    qfd_train_result teacher_train;
    double teacher_top1;    /* on the test split, NaN without labels */
    double seconds_teacher; /* stage 1, or loading the teacher */
} qfd_quantize_result;

/* Quantizes the FP32 model: folds BatchNormalization, places fake-quant,
 * calibrates, trains (lsq), exports *out as QDQ ONNX in the chosen format
 * and measures FP32, student and exported accuracy on the test split.
 * A run stopped through train.stop returns QFD_OK with train.stopped set and
 * *out NULL (the checkpoint, if any, holds the state). */
qfd_status qfd_model_quantize(qfd_ctx *ctx, const qfd_model *model, const qfd_quantize_opts *opts, qfd_model **out,
                              qfd_quantize_result *result);
void qfd_quantize_result_free(qfd_quantize_result *result);
/* Writes the JSON report (atomically): the options, per-layer and
 * per-quantizer bits and steps, timings and accuracies. */
qfd_status qfd_quantize_report_write(qfd_ctx *ctx, const char *path, const char *model_path,
                                     const qfd_quantize_opts *opts, const qfd_quantize_result *result);

/* ---- Checking quantized files: `qfd-onnx check` ------------------------ */

typedef enum qfd_check_severity { QFD_CHECK_WARNING = 1, QFD_CHECK_ERROR = 2 } qfd_check_severity;

/* One rule: a stable id (never reused for another meaning), the severity of
 * its findings, when it runs ("any": always; "ort", "tensorrt": with that
 * --target; "numeric": with a reference model) and what it asks, in one
 * line. claims_float: its findings say that ONNX Runtime runs the node in
 * float (the ort-target rules that predict ONNX Runtime's graph). */
typedef struct qfd_check_rule {
    const char *id;
    qfd_check_severity severity;
    const char *target;
    const char *title;
    int claims_float;
} qfd_check_rule;

/* Every rule, in id order; *n is set to their count. */
const qfd_check_rule *qfd_check_rules(size_t *n);

typedef struct qfd_check_opts {
    const char *target;             /* "any" (default, NULL), "ort" or "tensorrt" */
    int expect_wbits, expect_abits; /* --expect wNaM: every layer's bits unless the file's qfd metadata gives
                                       them; 0 = not given (wbits without abits: weights only, activations
                                       may stay float) */
    const char *const *allow_float; /* shell patterns on node names and op types: layers allowed to stay float */
    size_t n_allow_float;
    /* Numerical rules, with a reference (FP32) model: both run by qfd-onnx's
     * executor on the test split of data (NULL: Fashion-MNIST). */
    const char *reference;
    const char *data;
    int64_t limit;     /* > 0: first `limit` test images; 0: all */
    double max_drop;   /* top-1 percentage points the quantized model may lose; < 0: 1.0 */
    int n_threads;     /* <= 0: all cores */
    int n_mean, n_std; /* normalization from flags; 0: the quantized model's metadata, else the reference's */
    float mean[4], std[4];
    qfd_image_opts image; /* image files as data */
} qfd_check_opts;

typedef struct qfd_check_finding {
    const qfd_check_rule *rule;
    int64_t node_index; /* -1: about the file, not a node */
    char *node;         /* node name (NULL when unnamed or about the file) */
    char *op;           /* its op type, domain-prefixed outside ONNX's ("com.microsoft.QLinearConv") */
    char *tensor;       /* the tensor at fault, NULL when none */
    char *message;      /* one line, starting with the node ("node 'conv1' (Conv): ...") */
} qfd_check_finding;

/* One layer (Conv, ConvTranspose, Gemm, MatMul or an integer op) and how
 * the file holds it. */
typedef struct qfd_check_layer {
    int64_t node_index;
    char *node; /* name, or "<op>#<index>" when unnamed */
    char *op;
    const char *status;    /* "quantized", "allowed_float" or "float" */
    int wbits, abits;      /* the bits it is checked against, 0 when none */
    const char *bits_from; /* "the qfd metadata", "--expect" or NULL */
} qfd_check_layer;

/* What a rule did: findings of its severity, or why it did not run. */
typedef struct qfd_check_rule_status {
    int64_t findings;
    const char *skipped; /* NULL when it ran, else why not ("needs --target ort") */
} qfd_check_rule_status;

typedef struct qfd_check_result {
    const char *target; /* "any", "ort" or "tensorrt" */
    /* How the file is quantized: "qdq" (QuantizeLinear/DequantizeLinear),
     * "qoperator" (QLinearConv and friends), "dynamic" (DynamicQuantizeLinear,
     * MatMulInteger, ...), joined with '+' when mixed, or "float". */
    char *format;
    char *qfd_format; /* the qfd.quant.format metadata, NULL without it */
    int64_t ir_version, opset;
    int64_t n_nodes;
    size_t n_layers; /* Conv, ConvTranspose, Gemm, MatMul and their integer forms, in node order */
    qfd_check_layer *layers;
    int64_t n_quantized, n_allowed_float, n_float;
    size_t n_findings; /* sorted by rule, then node, then tensor */
    qfd_check_finding *findings;
    qfd_check_rule_status *rules; /* one per qfd_check_rules() entry */
    int64_t n_errors, n_warnings;
    /* Numerical rules (has_numbers when a reference was given and ran). */
    int has_numbers;
    int64_t n_images;
    int64_t n_skipped; /* images left out by image.on_bad_image "skip" (not in n_images) */
    double reference_top1, top1, drop_points, agreement, max_logit_diff;
} qfd_check_result;

/* Checks the quantized ONNX file at path. Returns QFD_OK whenever the
 * checks ran, whatever they found (result->n_errors > 0 when a rule
 * failed); a file that cannot be read (missing, not ONNX, over the memory
 * limit), a bad option or reference data fail with the matching status.
 * A file that parses but is not a valid graph is a finding (QDQ001). */
qfd_status qfd_check_file(qfd_ctx *ctx, const char *path, const qfd_check_opts *opts, qfd_check_result *result);
void qfd_check_result_free(qfd_check_result *result);
/* The result as one JSON object (and a newline): the same file and options
 * give the same bytes. */
void qfd_check_write_json(FILE *f, const char *path, const qfd_check_opts *opts, const qfd_check_result *result);
/* A JUnit XML report (one testcase per rule: failed with its errors,
 * passed with its warnings as output, or skipped), written atomically. */
qfd_status qfd_check_write_junit(qfd_ctx *ctx, const char *out_path, const char *model_path,
                                 const qfd_check_result *result);

#ifdef __cplusplus
}
#endif
#endif
