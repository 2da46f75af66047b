/* Image files as a dataset (folder.c): listing ImageFolder trees, folders
 * of images and list files, and reading examples. Internal to src/data. */
#ifndef QFD_DATA_FOLDER_H
#define QFD_DATA_FOLDER_H

#include "data/dataset.h"

/* The examples of a dataset of image files: paths only, never pixels. */
struct qfd_images {
    char *paths; /* NUL-terminated paths, one after another */
    size_t *off; /* [n] where each path starts */
    int64_t n;
    int c, h, w;      /* what every example becomes */
    int resize, crop; /* evaluation preprocessing (0: not given) */
    bool skip_bad;
};

/* path is a folder without IDX or CIFAR files, or a list file: lists its
 * images (the split's subfolder when there is one) into out (x: the shape
 * only; y: the labels), for model m as img says. A folder of images without
 * class folders is refused unless labels_optional. */
qfd_status qfd_images_open(qfd_ctx *ctx, const char *path, bool is_dir, const qfd_image_opts *img, const qfd_model *m,
                           qfd_split split, int64_t limit, bool labels_optional, qfd_dataset *out);
void qfd_images_free(qfd_images *im);

#endif
