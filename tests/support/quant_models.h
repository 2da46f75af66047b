/* Small models for the quantization tests and the path each takes through
 * src/quant: plan -> calibrate -> FakeQuant -> QDQ export. */
#ifndef QFD_TESTS_QUANT_MODELS_H
#define QFD_TESTS_QUANT_MODELS_H

#include "ir/ir.h"
#include "quant/quant.h"

/* A model builder: returns the model and fills its input's dims (rank 4
 * or 2-3, dims[0] the batch). */
typedef qfd_model *(*qm_model_fn)(int64_t *xd);

/* x[2,3,8,8] -> conv0 -> Relu r0 -> conv1 -> Relu r1 -> conv2 -> y */
qfd_model *qm_conv_chain(int64_t *xd);
/* A ResNet block with a 1x1 shortcut conv, then the classifier:
 * x[2,4,6,6] -> conva -> Relu ra -> convb -> yb; x -> convd -> yd;
 * Add(yb, yd) -> Relu -> GlobalAveragePool -> Flatten f -> fc (Gemm) */
qfd_model *qm_resnet_block(int64_t *xd);
/* An inverted residual with Relu6 (Clip(0, 6)) and a depthwise conv:
 * x[2,4,6,6] -> convx (4->8) -> Clip c1 -> convdw (group 8) -> Clip c2 ->
 * convp (8->4) -> yp; Add(yp, x) -> y */
qfd_model *qm_inverted_residual(int64_t *xd);
/* x[8,6] -> Gemm(W1 [5,6], transB=1, C1) -> Relu -> Gemm(W2 [5,3], C2) -> y */
qfd_model *qm_gemm2(int64_t *xd);
/* x[2,4,6] -> MatMul(x, W[6,4]) -> h; Relu(h) -> r; MatMul(r, h) -> y */
qfd_model *qm_matmul(int64_t *xd);

/* Plans cfg on m, calibrates (mse) on 8 random images in [-1, 1], turns m
 * into the fake-quant model and exports it as cfg->format into *q. */
qfd_status qm_quantize(qfd_ctx *ctx, qfd_model *m, const int64_t *xd, const qfd_quant_cfg *cfg, qfd_quant_plan *plan,
                       qfd_model **q);

/* Runs a and b on one batch of random inputs (wider than calibration, so
 * clamps act) and counts the output values and the float values both
 * compute under one name that differ by more than 1e-6 relative;
 * *compared counts the values compared. -1 when either cannot run. */
int64_t qm_differences(qfd_ctx *ctx, const qfd_model *a, const qfd_model *b, const int64_t *xd, int64_t *compared);

#endif
