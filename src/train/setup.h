/* From the public training options (qfd_train_opts) to the epoch loop's
 * (qfd_fit_opts), for `train` and `quantize` alike, and the checks a run
 * makes before its first step. */
#ifndef QFD_TRAIN_SETUP_H
#define QFD_TRAIN_SETUP_H

#include "train/fit.h"

/* Fills f for cross-entropy training of m (losses left for the caller),
 * with f->meta.config written into config[cap]: every option a resumed run
 * must repeat, as "--flag=value" lines. */
qfd_status qfd_fit_opts_from_train(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, int64_t n_examples,
                                   qfd_fit_opts *f, char *config, size_t cap);
/* Appends "flag=value\n" (value printed with fmt) to config. */
void qfd_fit_config_add(char *config, size_t cap, const char *flag, const char *fmt, double v);
/* Every training label, and with o->check_test the test split, against the
 * model's classes (the width of its first output). A training split
 * without labels (qfd_dataset_open's labels_optional) lets the test split
 * have none. */
qfd_status qfd_fit_check_data(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, const qfd_dataset *train);
/* Creates dir when missing and checks that it takes new files. */
qfd_status qfd_fit_dir_check(qfd_ctx *ctx, const char *dir);

#endif
