/* Quantization: where fake-quant goes (prepare.c), its initial steps
 * (calibrate.c), and the QDQ file it becomes (export_qdq.c).
 *
 * The flow, driven by quantize.c:
 *   fold BN -> qfd_quant_plan (which tensors, bits, integer ranges: fixed by
 *   the export format before anything is trained) -> calibrate on FP32
 *   activations -> qfd_quant_insert (FakeQuant nodes, domain ai.qfd, with
 *   the calibrated steps) -> train -> qfd_quant_export.
 *
 * Each FakeQuant node carries everything export needs: qmin/qmax (the
 * integer range), axis (per-channel weights), and `bits`. The storage type
 * and zero point follow from the range and the format, so the exported
 * Q/DQ pair computes exactly clamp(round(x/s), qmin, qmax) * s. */
#ifndef QFD_QUANT_QUANT_H
#define QFD_QUANT_QUANT_H

#include <stdbool.h>

#include "ir/ir.h"

#define QFD_FQ_DOMAIN "ai.qfd"
#define QFD_FQ_OP "FakeQuant"
#define QFD_BQ_OP "BiasQuant"

/* The quantizer steps' default learning rate (--lr-steps): the teacher's
 * in stage 1, and the student's unless it has 2-bit (or fewer) weights or
 * activations. Chosen on a held-out split of the training set
 * (docs/results.md): 1e-3 against 1e-5 gained ResNet-20 W2A2 (qfd) 0.32
 * point, ResNet-20 W4A4 0.10 and MobileNetV2 W4A4 (lsq) 0.22 with the
 * placement of 2026-12-07; 1e-5 let the steps barely move from
 * calibration. */
#define QFD_QUANT_LR_STEPS 1e-3f
/* The student's at 2 bits: 1e-2 against 1e-3 gained ResNet-20 W2A2 (qfd)
 * 0.43 point on the mean of three seeds, each seed ahead (held-out split).
 * Steps cannot cross zero (qfd_param.positive), which 1e-2 did before. */
#define QFD_QUANT_LR_STEPS_2BIT 1e-2f

/* A step trains to no less than this fraction of its calibrated value. */
#define QFD_QUANT_STEP_FLOOR 1e-3f

/* The student's default step learning rate at these bits (<= 0: 4). */
float qfd_quant_default_lr_steps(int wbits, int abits);

/* What quantize writes into the file's metadata_props (and `info` reads):
 * the format's name, "layer=wNaM,..." for the quantized layers and
 * "layer,..." for those kept float. */
#define QFD_META_FORMAT "qfd.quant.format"
#define QFD_META_BITS "qfd.quant.bits"
#define QFD_META_FLOAT "qfd.quant.float"

typedef enum { QFD_FORMAT_ORT, QFD_FORMAT_INT4, QFD_FORMAT_TENSORRT } qfd_quant_format;
typedef enum { QFD_FIRST_LAST_8, QFD_FIRST_LAST_SAME, QFD_FIRST_LAST_FP } qfd_first_last;
typedef enum { QFD_CALIB_MSE, QFD_CALIB_PERCENTILE, QFD_CALIB_MINMAX } qfd_calib_kind;

typedef struct qfd_quant_cfg {
    int wbits, abits; /* 2..8 */
    qfd_first_last first_last;
    qfd_quant_format format;
    const char *const *skip; /* shell patterns on node name or op type: kept float */
    size_t n_skip;
} qfd_quant_cfg;

/* One tensor to fake-quantize. */
typedef struct qfd_qtensor {
    int tensor; /* in the model the plan was made for */
    int bits;
    bool weight; /* an initializer, quantized per channel along axis */
    /* A layer's bias held as int32 at x_step * w_step (BiasQuant): the
     * tensors of the layer's quantized input and weight. */
    bool bias;
    int x_of, w_of;
    int axis; /* weights: the output-channel axis; -1 per tensor */
    int64_t qmin, qmax;
    float clip_hi; /* activations made by Clip(0, hi) / Relu6: steps stay <= hi / qmax so ORT absorbs the Clip */
    float *step;   /* calibrated step(s): one, or one per channel; owned */
    int64_t n_step;
} qfd_qtensor;

/* One quantized layer (Conv, ConvTranspose, Gemm, MatMul), for reports. */
typedef struct qfd_qlayer {
    char *name; /* node name, or "<op>#<index>" */
    const char *op;
    int wbits, abits; /* 0: kept float */
} qfd_qlayer;

typedef struct qfd_quant_plan {
    qfd_qtensor *q;
    size_t n_q;
    qfd_qlayer *layers;
    size_t n_layers;
} qfd_quant_plan;

/* Decides every quantizer of m (BatchNorm already folded): fails with a
 * clear message when the model has nothing to quantize or is already
 * quantized. */
qfd_status qfd_quant_plan_make(qfd_ctx *ctx, const qfd_model *m, const qfd_quant_cfg *cfg, qfd_quant_plan *plan);
void qfd_quant_plan_free(qfd_quant_plan *plan);

/* "ort", "int4", "tensorrt"; parse returns -1 for any other name. */
const char *qfd_quant_format_name(qfd_quant_format fmt);
int qfd_quant_format_parse(const char *name, qfd_quant_format *fmt);

/* nonneg[t] (one per graph tensor): tensor t cannot be negative (after
 * Relu, Clip(0, hi), Sigmoid, Softmax, and pooling or reshaping of such),
 * which gives its quantizer an unsigned range. */
void qfd_quant_nonneg(const qfd_graph *g, bool *nonneg);
/* Clip's bounds, from attributes (opset < 11) or constant inputs; a bound
 * that is absent, or an input that is not a known constant, is -inf/+inf,
 * and then (the latter) the result is false. */
bool qfd_quant_clip_bounds(const qfd_graph *g, const qfd_node *n, float *lo, float *hi);

/* Integer range of a quantizer of `bits` bits in format fmt. */
void qfd_quant_range(qfd_quant_format fmt, int bits, bool is_signed, bool weight, int64_t *qmin, int64_t *qmax);

typedef struct qfd_calib_opts {
    qfd_calib_kind kind;
    const float *x; /* calibration images, normalized, [n, per] */
    int64_t n;
    const qfd_array *shape; /* x's shape (dims[0] ignored) */
    int batch, n_threads;
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
} qfd_calib_opts;

/* Sets every step of the plan: weights from their values (MSE-optimal per
 * channel, or max / qmax for minmax), activations from their FP32 values
 * on the calibration images. m is the model the plan was made for. */
qfd_status qfd_quant_calibrate(qfd_ctx *ctx, const qfd_model *m, qfd_quant_plan *plan, const qfd_calib_opts *o);

/* Inserts a FakeQuant node for each planned tensor (consumers read its
 * output; graph outputs keep their names) and imports ai.qfd. */
qfd_status qfd_quant_insert(qfd_ctx *ctx, qfd_model *m, const qfd_quant_plan *plan);

/* The trained fake-quant model as a QDQ model in format fmt: a new model,
 * m is left as it is. */
qfd_status qfd_quant_export(qfd_ctx *ctx, const qfd_model *m, qfd_quant_format fmt, qfd_model **out);

/* export_int4.c, for qfd_quant_export: whether FakeQuant fq is stored in
 * INT4/UINT4 in format fmt; the bytes of n integers of dtype (4-bit types
 * packed two per byte); integer v written at index k of a zeroed buffer;
 * x clamped to [lo, hi] (+-INFINITY: that side unclamped) by Min/Max before a
 * 4-bit QuantizeLinear (the new tensor, -1 when out of memory); a model's
 * Clip right before a 4-bit quantizer whose range it holds taken out
 * (drop[] marks it). */
bool qfd_export_4bit(qfd_quant_format fmt, const qfd_node *fq);
size_t qfd_export_int_bytes(int32_t dtype, int64_t n);
void qfd_export_put_int(void *buf, int32_t dtype, int64_t k, int v);
int qfd_export_clamp_4bit(qfd_graph *g, int x, float lo, float hi, const char *name);

#endif
