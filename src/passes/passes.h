/* Graph rewrites: free-standing functions qfd_pass_<name>(ctx, model) that
 * leave a valid, topologically sorted graph. */
#ifndef QFD_PASSES_PASSES_H
#define QFD_PASSES_PASSES_H

#include "ir/ir.h"

/* Folds every inference-form BatchNormalization that directly follows a
 * Conv, ConvTranspose or Gemm (whose output nothing else reads) into that
 * op's weights and bias, per output channel o:
 *   s = scale / sqrt(var + eps);  W'[o] = W[o] * s[o];  b'[o] = (b[o] - mean[o]) * s[o] + B[o].
 * o is axis 0 of a Conv weight, axis 1 (per group) of a ConvTranspose weight,
 * and of a Gemm's B axis 0 with transB=1, else axis 1; a Gemm's C must be a
 * per-channel bias ([N], [1, N] or one element; beta becomes 1).
 * Inference only: a model that will be trained keeps its BatchNorms (QAT
 * folds them before inserting fake-quant, so that the trained weights are
 * the exported ones). *folded receives the count. */
qfd_status qfd_pass_fold_bn(qfd_ctx *ctx, qfd_model *m, int *folded);

/* The same, reporting for each folded weight (by its new name) the factor s
 * of every element's output channel (W' = W * s). Training W' with its
 * gradient times s^2 is training W as the FP32 model was trained, with
 * BatchNorm frozen; without it a depthwise channel whose BatchNorm scaled
 * it by 8 learns 64 times slower than it did (quant/quantize.c). The
 * caller owns out (qfd_fold_factors_free). */
typedef struct qfd_fold_factor {
    char *weight;
    float *s; /* one per element of the weight */
    int64_t n;
} qfd_fold_factor;
typedef struct qfd_fold_factors {
    qfd_fold_factor *f;
    size_t n;
} qfd_fold_factors;
qfd_status qfd_pass_fold_bn_factors(qfd_ctx *ctx, qfd_model *m, int *folded, qfd_fold_factors *out);
void qfd_fold_factors_free(qfd_fold_factors *ff);

/* Fuses each Relu, LeakyRelu or Clip with known bounds that alone reads a
 * Conv's output into that Conv, which becomes a com.microsoft FusedConv
 * (ONNX Runtime's contrib op): the activation is applied while the output is
 * in cache. Inference only, like fold_bn: FusedConv has no backward and is
 * not an ai.onnx op. *fused receives the count. */
qfd_status qfd_pass_fuse_act(qfd_ctx *ctx, qfd_model *m, int *fused);

/* Before training: gives each BatchNormalization's running mean and var an
 * initializer read by nothing else, which a training forward updates in
 * place. A statistic that is an Identity/Constant chain (PyTorch exports
 * equal tensors once) becomes that initializer (the chain is dropped); one
 * shared with other readers is copied; one computed otherwise fails naming
 * the node. *changed receives the count of statistics moved. */
qfd_status qfd_pass_own_bn_stats(qfd_ctx *ctx, qfd_model *m, int *changed);

/* Makes m import the default ONNX domain at opset `target` (7-21, not
 * below the model's own) while computing the same outputs: every node whose
 * op's schema changed in a way that matters between the two opsets is
 * rewritten (attributes that became inputs, changed defaults and meanings
 * such as Softmax before 13, removed ops such as Upsample; upgrade_rules.c
 * lists them), the other ops must be known to be unchanged in meaning
 * (upgrade_opset.c), and the IR version is raised to what the opset needs
 * (10 for 21). A node that cannot be rewritten exactly, or an op qfd-onnx
 * does not know, fails with "cannot upgrade node 'x' (Op) from opset F to
 * T: why" and leaves m unchanged (out of memory aside); so do local
 * functions. Nodes of other domains are left alone. */
qfd_status qfd_pass_upgrade_opset(qfd_ctx *ctx, qfd_model *m, int64_t target);

/* The classifier feature f of QFD (qfd-method.md): with override_name, that
 * tensor (failing "--feature: no tensor named ..." when the model has none,
 * or when it names a weight); else the activation input of the last Gemm or
 * MatMul by a weight on the path back from the first graph output, through
 * bias Adds, Softmax, token selects (Gather/Slice), Flatten/Reshape and
 * other ops that pass values on (find_feature.c says which and why), and
 * through a Dropout or Identity right before the classifier. Fails naming
 * the node where the search stopped and asking for --feature. */
typedef struct qfd_feature {
    int tensor;     /* the feature */
    int classifier; /* the Gemm/MatMul node that reads it; -1 with an override */
    int32_t dtype;  /* element type, 0 when unknown */
    int rank;       /* -1 when the shape is unknown: declared in the graph, or
                       derived from the classifier's weight and the output's
                       declared shape */
    qfd_dim_info dims[QFD_ARRAY_MAX_RANK];
} qfd_feature;
qfd_status qfd_pass_find_feature_info(qfd_ctx *ctx, const qfd_model *m, const char *override_name, qfd_feature *f);
/* The same, the tensor's index only (-1 on failure). */
qfd_status qfd_pass_find_feature(qfd_ctx *ctx, const qfd_model *m, const char *override_name, int *tensor);

#endif
