/* Image files as torchvision's PIL path sees them: JPEG (libjpeg-turbo) and
 * PNG (libpng) decoded to 8-bit pixels, converted to the model's channels
 * as PIL's convert() does, resized as PIL's Image.resize(BILINEAR) does
 * (antialiased, the same fixed-point arithmetic), cropped and turned into
 * normalized float32 CHW. Bit-exact with Pillow 9.4 where PIL defines the
 * result; where it does not (16-bit PNG), the choice is documented below. */
#ifndef QFD_DATA_IMAGE_H
#define QFD_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "qfd/qfd.h"

/* 8-bit pixels, rows top to bottom, channels interleaved (c = 1 or 3). */
typedef struct qfd_image {
    uint8_t *px;
    int w, h, c;
} qfd_image;

void qfd_image_free(qfd_image *im);

/* Decodes a JPEG or PNG held in data[0..n) (name only for messages) to
 * `channels` channels: 3 is PIL's convert('RGB') (gray replicated, alpha
 * dropped, CMYK converted as PIL does, Adobe-inverted CMYK included), 1 is
 * convert('L') (L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16). 16-bit PNG
 * samples keep their high byte (PIL does so for 16-bit RGB; for 16-bit gray
 * it clips at 255, which we do not copy). A corrupt or truncated file fails
 * with QFD_ERR_INVALID naming it. */
qfd_status qfd_image_decode(qfd_ctx *ctx, const char *name, const uint8_t *data, size_t n, int channels,
                            qfd_image *out);
/* Reads path whole and decodes it. */
qfd_status qfd_image_read(qfd_ctx *ctx, const char *path, int channels, qfd_image *out);

/* PIL's Image.resize((w, h), BILINEAR): separable triangle filter whose
 * support grows with the reduction factor (antialias), 22-bit fixed-point
 * coefficients, horizontal pass first, each pass rounded to 8 bits. */
qfd_status qfd_image_resize(qfd_ctx *ctx, const qfd_image *in, int w, int h, qfd_image *out);
/* The w x h window at (x0, y0); pixels outside the image are 0, as
 * torchvision's CenterCrop pads a small image. */
qfd_status qfd_image_crop(qfd_ctx *ctx, const qfd_image *in, int x0, int y0, int w, int h, qfd_image *out);

/* torchvision's Resize(size) with an int: the shorter side becomes size and
 * the longer int(size * long / short). */
void qfd_image_shorter_side(int w, int h, int size, int *ow, int *oh);
/* torchvision's CenterCrop offset along one side: round((in - out) / 2)
 * with Python's round-half-even, or minus the left padding when out > in. */
int qfd_image_center_offset(int in, int out);

/* float32 [c,h,w] of x / 255, then (x - mean[k]) / std[k] when n_norm > 0
 * (one value for every channel when n_norm is 1); mirrored left-right when
 * flip. */
void qfd_image_to_chw(const qfd_image *im, int n_norm, const float *mean, const float *std, int flip, float *dst);

#endif
