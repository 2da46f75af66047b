/* Losses on named tensors: each returns the batch-mean loss and ADDS
 * weight * dLoss/dInput into the gradient buffers it is given (NULL: value
 * only), so that several terms can share one backward pass. */
#ifndef QFD_TRAIN_LOSS_H
#define QFD_TRAIN_LOSS_H

#include <stdint.h>

/* Cross-entropy of logits [n, c] against integer labels, with optional label
 * smoothing (PyTorch's definition: the target is (1 - s) one-hot + s / c).
 * correct (optional) receives the number of top-1 hits. */
double qfd_loss_cross_entropy(const float *logits, const int64_t *labels, int64_t n, int64_t c, float smoothing,
                              float weight, float *grad, int64_t *correct);

/* Mean squared error over all n elements of a and b (a is trained). */
double qfd_loss_mse(const float *a, const float *b, int64_t n, float weight, float *grad_a);

/* Knowledge distillation: KL(softmax(t/T) || softmax(s/T)) * T^2, averaged
 * over the n rows of student logits s and teacher logits t [n, c]. */
double qfd_loss_kl(const float *s, const float *t, int64_t n, int64_t c, float temperature, float weight,
                   float *grad_s);

#endif
