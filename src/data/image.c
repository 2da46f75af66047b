/* Decoding and PIL-compatible preprocessing: see image.h. */
#include "data/image.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jerror.h> /* JWRN_JPEG_EOF */
#include <jpeglib.h>
#include <png.h>

#include "core/ctx.h"

void qfd_image_free(qfd_image *im)
{
    if (!im)
        return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

static qfd_status image_alloc(qfd_ctx *ctx, const char *name, int w, int h, int c, qfd_image *out)
{
    memset(out, 0, sizeof *out);
    const uint64_t bytes = (uint64_t)w * (uint64_t)h * (uint64_t)c;
    if (w < 1 || h < 1)
        return qfd_fail(ctx, QFD_ERR_INVALID, "%s: image of %d x %d pixels", name, w, h);
    if (qfd_over_memory_limit(ctx, bytes) || bytes > ((uint64_t)1 << 40)) {
        char b[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "%s: a %d x %d image takes %s", name, w, h, qfd_format_bytes(b, bytes));
    }
    if (!(out->px = malloc((size_t)bytes)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory for a %d x %d image", name, w, h);
    out->w = w, out->h = h, out->c = c;
    return QFD_OK;
}

/* PIL's L24: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
static uint8_t luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/* PIL's MULDIV255: a * b / 255, rounded. */
static int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* Converts rows of src_c (1, 3 or 4 = CMYK) channels into im's c channels. */
static void convert_row(const uint8_t *src, int src_c, int w, uint8_t *dst, int c)
{
    for (int x = 0; x < w; x++) {
        uint8_t r, g, b;
        const uint8_t *s = src + (size_t)x * (size_t)src_c;
        if (src_c == 1) {
            r = g = b = s[0];
        } else if (src_c == 3) {
            r = s[0], g = s[1], b = s[2];
        } else {
            int nk = 255 - s[3];
            r = (uint8_t)(nk - muldiv255(s[0], nk));
            g = (uint8_t)(nk - muldiv255(s[1], nk));
            b = (uint8_t)(nk - muldiv255(s[2], nk));
        }
        if (c == 1) {
            dst[x] = src_c == 1 ? s[0] : luma(r, g, b);
        } else {
            dst[3 * x] = r, dst[3 * x + 1] = g, dst[3 * x + 2] = b;
        }
    }
}

/* ---- JPEG ----------------------------------------------------------------- */

typedef struct jpeg_state {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
    uint8_t *row;
} jpeg_state;

static void jpeg_on_error(j_common_ptr c)
{
    jpeg_state *s = (jpeg_state *)c->client_data;
    c->err->format_message(c, s->msg);
    longjmp(s->jmp, 1);
}

/* libjpeg fills the rest of a truncated file with gray and only warns; PIL
 * refuses such a file ("image file is truncated"), and so do we. Other
 * warnings (extraneous bytes before a marker) leave a usable image, which
 * PIL accepts too. */
static void jpeg_on_message(j_common_ptr c, int level)
{
    jpeg_state *s = (jpeg_state *)c->client_data;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF && !s->truncated) {
        s->truncated = 1;
        c->err->format_message(c, s->msg);
    }
}

static qfd_status decode_jpeg(qfd_ctx *ctx, const char *name, const uint8_t *data, size_t n, int channels,
                              qfd_image *out)
{
    jpeg_state *s = calloc(1, sizeof *s);
    if (!s)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    s->d.err = jpeg_std_error(&s->jerr);
    s->jerr.error_exit = jpeg_on_error;
    s->jerr.emit_message = jpeg_on_message;
    s->d.client_data = s;
    memset(out, 0, sizeof *out);
    if (setjmp(s->jmp)) {
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: corrupt JPEG: %s", name, s->msg);
        goto out;
    }
    jpeg_create_decompress(&s->d);
    jpeg_mem_src(&s->d, data, (unsigned long)n);
    jpeg_read_header(&s->d, TRUE);
    const J_COLOR_SPACE cs = s->d.jpeg_color_space;
    const int cmyk = cs == JCS_CMYK || cs == JCS_YCCK;
    s->d.out_color_space = cmyk ? JCS_CMYK : cs == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    /* A progressive file keeps every coefficient (2 bytes a sample) while it
     * decodes: a header asking for more than the memory limit is refused
     * before libjpeg allocates, and libjpeg itself is held to the limit. */
    const uint64_t pixels = (uint64_t)s->d.image_width * s->d.image_height;
    const uint64_t need = pixels * (uint64_t)s->d.num_components * 2 + pixels * (uint64_t)channels;
    if (qfd_over_memory_limit(ctx, need)) {
        char b[32];
        st = qfd_fail(ctx, QFD_ERR_LIMIT, "%s: a %u x %u JPEG takes %s to decode", name, s->d.image_width,
                      s->d.image_height, qfd_format_bytes(b, need));
        goto out;
    }
    if (ctx && ctx->memory_limit)
        s->d.mem->max_memory_to_use = (long)(ctx->memory_limit > (uint64_t)LONG_MAX ? LONG_MAX : ctx->memory_limit);
    jpeg_start_decompress(&s->d);
    const int src_c = s->d.output_components, w = (int)s->d.output_width, h = (int)s->d.output_height;
    if ((st = image_alloc(ctx, name, w, h, channels, out)))
        goto out;
    if (!(s->row = malloc((size_t)w * (size_t)src_c))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Photoshop writes CMYK inverted and says so with an Adobe marker;
     * PIL reads such files as "CMYK;I". */
    const int invert = cmyk && s->d.saw_Adobe_marker;
    while (s->d.output_scanline < s->d.output_height) {
        const int y = (int)s->d.output_scanline;
        JSAMPROW rows[1] = {s->row};
        jpeg_read_scanlines(&s->d, rows, 1);
        if (invert)
            for (int i = 0; i < w * src_c; i++)
                s->row[i] = (uint8_t)(255 - s->row[i]);
        convert_row(s->row, src_c, w, out->px + (size_t)y * (size_t)w * (size_t)channels, channels);
    }
    jpeg_finish_decompress(&s->d);
    if (s->truncated)
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: truncated JPEG: %s", name, s->msg);
out:
    jpeg_destroy_decompress(&s->d);
    free(s->row);
    free(s);
    if (st)
        qfd_image_free(out);
    return st;
}

/* ---- PNG ------------------------------------------------------------------ */

typedef struct png_state {
    png_structp p;
    png_infop info;
    const uint8_t *data;
    size_t n, pos;
    char msg[256];
    uint8_t *rows; /* the decoded image at its own channel count */
    png_bytep *row_ptrs;
} png_state;

static void png_on_error(png_structp p, png_const_charp msg)
{
    png_state *s = png_get_error_ptr(p);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg)
{
    (void)p, (void)msg;
}

static void png_read_mem(png_structp p, png_bytep dst, size_t len)
{
    png_state *s = png_get_io_ptr(p);
    if (len > s->n - s->pos)
        png_error(p, "file ends early (truncated)");
    memcpy(dst, s->data + s->pos, len);
    s->pos += len;
}

static qfd_status decode_png(qfd_ctx *ctx, const char *name, const uint8_t *data, size_t n, int channels,
                             qfd_image *out)
{
    png_state *s = calloc(1, sizeof *s);
    if (!s)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    memset(out, 0, sizeof *out);
    s->data = data, s->n = n;
    s->p = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    if (!s->p || !(s->info = png_create_info_struct(s->p))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (setjmp(png_jmpbuf(s->p))) {
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: corrupt PNG: %s", name, s->msg);
        goto out;
    }
    png_set_read_fn(s->p, s, png_read_mem);
    png_read_info(s->p, s->info);
    const int type = png_get_color_type(s->p, s->info), depth = png_get_bit_depth(s->p, s->info);
    /* what PIL's convert('RGB'/'L') keeps: palette expanded, alpha and
     * transparency dropped, no gamma applied */
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->p);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->p);
    if (depth == 16)
        png_set_strip_16(s->p);
    if (type & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(s->p);
    png_set_interlace_handling(s->p);
    png_read_update_info(s->p, s->info);
    const int w = (int)png_get_image_width(s->p, s->info), h = (int)png_get_image_height(s->p, s->info);
    const int src_c = png_get_channels(s->p, s->info);
    const size_t rowbytes = png_get_rowbytes(s->p, s->info);
    if ((src_c != 1 && src_c != 3) || rowbytes != (size_t)w * (size_t)src_c) {
        st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "%s: PNG of an unexpected layout (%d channels)", name, src_c);
        goto out;
    }
    if ((st = image_alloc(ctx, name, w, h, src_c, out)))
        goto out;
    if (!(s->row_ptrs = malloc((size_t)h * sizeof *s->row_ptrs))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int y = 0; y < h; y++)
        s->row_ptrs[y] = out->px + (size_t)y * rowbytes;
    png_read_image(s->p, s->row_ptrs);
    png_read_end(s->p, NULL);
    if (src_c != channels) {
        qfd_image conv;
        if ((st = image_alloc(ctx, name, w, h, channels, &conv)))
            goto out;
        for (int y = 0; y < h; y++)
            convert_row(out->px + (size_t)y * rowbytes, src_c, w, conv.px + (size_t)y * (size_t)w * (size_t)channels,
                        channels);
        qfd_image_free(out);
        *out = conv;
    }
out:
    png_destroy_read_struct(s->p ? &s->p : NULL, s->info ? &s->info : NULL, NULL);
    free(s->row_ptrs);
    free(s);
    if (st)
        qfd_image_free(out);
    return st;
}

qfd_status qfd_image_decode(qfd_ctx *ctx, const char *name, const uint8_t *data, size_t n, int channels, qfd_image *out)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "%s: images become 1 or 3 channels, not %d", name, channels);
    if (n >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(ctx, name, data, n, channels, out);
    if (n >= 8 && !memcmp(data, png_sig, 8))
        return decode_png(ctx, name, data, n, channels, out);
    return qfd_fail(ctx, QFD_ERR_INVALID, "%s: %s", name,
                    n == 0 ? "empty file, not an image" : "not a JPEG or PNG image");
}

qfd_status qfd_image_read(qfd_ctx *ctx, const char *path, int channels, qfd_image *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return qfd_fail(ctx, QFD_ERR_IO, "%s: not a regular file", path);
    }
    if (qfd_over_memory_limit(ctx, (uint64_t)sb.st_size)) {
        fclose(f);
        char b[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "%s: a %s image file", path, qfd_format_bytes(b, (uint64_t)sb.st_size));
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    qfd_status st = bad || got != n ? qfd_fail(ctx, QFD_ERR_IO, "%s: read error", path)
                                    : qfd_image_decode(ctx, path, buf, n, channels, out);
    free(buf);
    return st;
}

/* ---- resize (PIL's ImagingResample, 8 bits per channel) ------------------- */

#define PRECISION_BITS (32 - 8 - 2)

typedef struct coeffs {
    int ksize;
    int *bounds; /* [out] pairs: first input index, count */
    int32_t *k;  /* [out][ksize] fixed-point weights */
} coeffs;

static double bilinear(double x)
{
    x = x < 0 ? -x : x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* PIL's precompute_coeffs + normalize_coeffs_8bpc for the triangle filter. */
static int make_coeffs(int in_size, int out_size, coeffs *c)
{
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out_size * 2 * sizeof *c->bounds);
    c->k = malloc((size_t)out_size * (size_t)c->ksize * sizeof *c->k);
    double *w = malloc((size_t)c->ksize * sizeof *w);
    if (!c->bounds || !c->k || !w) {
        free(w);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        xmin = xmin < 0 ? 0 : xmin;
        xmax = (xmax > in_size ? in_size : xmax) - xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = bilinear((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * (size_t)c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return 0;
}

static uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void pass_h(const qfd_image *in, const coeffs *c, qfd_image *out)
{
    const int ch = in->c;
    for (int y = 0; y < out->h; y++) {
        const uint8_t *src = in->px + (size_t)y * (size_t)in->w * (size_t)ch;
        uint8_t *dst = out->px + (size_t)y * (size_t)out->w * (size_t)ch;
        for (int xx = 0; xx < out->w; xx++) {
            const int xmin = c->bounds[2 * xx], xmax = c->bounds[2 * xx + 1];
            const int32_t *k = c->k + (size_t)xx * (size_t)c->ksize;
            for (int b = 0; b < ch; b++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++)
                    ss += src[(x + xmin) * ch + b] * k[x];
                dst[xx * ch + b] = clip8(ss);
            }
        }
    }
}

/* Row by row into acc, so that the inner loop runs along contiguous bytes
 * and vectorizes; integer sums, so the order does not change the result. */
static void pass_v(const qfd_image *in, const coeffs *c, int32_t *acc, qfd_image *out)
{
    const size_t row = (size_t)in->w * (size_t)in->c;
    for (int yy = 0; yy < out->h; yy++) {
        const int ymin = c->bounds[2 * yy], ymax = c->bounds[2 * yy + 1];
        const int32_t *k = c->k + (size_t)yy * (size_t)c->ksize;
        for (size_t i = 0; i < row; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) {
            const uint8_t *src = in->px + (size_t)(y + ymin) * row;
            const int32_t ky = k[y];
            for (size_t i = 0; i < row; i++)
                acc[i] += src[i] * ky;
        }
        uint8_t *dst = out->px + (size_t)yy * row;
        for (size_t i = 0; i < row; i++)
            dst[i] = clip8(acc[i]);
    }
}

qfd_status qfd_image_resize(qfd_ctx *ctx, const qfd_image *in, int w, int h, qfd_image *out)
{
    memset(out, 0, sizeof *out);
    qfd_image mid = {0};
    coeffs ch = {0}, cv = {0};
    int32_t *acc = NULL;
    qfd_status st = QFD_OK;
    const int need_h = w != in->w, need_v = h != in->h;
    if (need_h && (make_coeffs(in->w, w, &ch) || (st = image_alloc(ctx, "resize", w, in->h, in->c, &mid)))) {
        st = st ? st : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (need_h)
        pass_h(in, &ch, &mid);
    const qfd_image *src = need_h ? &mid : in;
    if (need_v) {
        if (make_coeffs(in->h, h, &cv) || !(acc = malloc((size_t)w * (size_t)in->c * sizeof *acc))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((st = image_alloc(ctx, "resize", w, h, in->c, out)))
            goto out;
        pass_v(src, &cv, acc, out);
    } else if (need_h) {
        *out = mid;
        memset(&mid, 0, sizeof mid);
    } else {
        if ((st = image_alloc(ctx, "resize", w, h, in->c, out)))
            goto out;
        memcpy(out->px, in->px, (size_t)w * (size_t)h * (size_t)in->c);
    }
out:
    qfd_image_free(&mid);
    free(ch.bounds), free(ch.k), free(cv.bounds), free(cv.k);
    free(acc);
    return st;
}

qfd_status qfd_image_crop(qfd_ctx *ctx, const qfd_image *in, int x0, int y0, int w, int h, qfd_image *out)
{
    qfd_status st = image_alloc(ctx, "crop", w, h, in->c, out);
    if (st)
        return st;
    memset(out->px, 0, (size_t)w * (size_t)h * (size_t)in->c);
    for (int y = 0; y < h; y++) {
        const int sy = y + y0;
        if (sy < 0 || sy >= in->h)
            continue;
        const int xa = x0 < 0 ? -x0 : 0, xb = x0 + w > in->w ? in->w - x0 : w;
        if (xb > xa)
            memcpy(out->px + ((size_t)y * (size_t)w + (size_t)xa) * (size_t)in->c,
                   in->px + ((size_t)sy * (size_t)in->w + (size_t)(x0 + xa)) * (size_t)in->c,
                   (size_t)(xb - xa) * (size_t)in->c);
    }
    return QFD_OK;
}

void qfd_image_shorter_side(int w, int h, int size, int *ow, int *oh)
{
    const int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    const int new_long = (int)((double)size * (double)longer / (double)shorter);
    *ow = w <= h ? size : new_long;
    *oh = w <= h ? new_long : size;
}

int qfd_image_center_offset(int in, int out)
{
    if (out > in)
        return -((out - in) / 2);
    return (int)nearbyint((in - out) / 2.0);
}

void qfd_image_to_chw(const qfd_image *im, int n_norm, const float *mean, const float *std, int flip, float *dst)
{
    const int c = im->c, w = im->w;
    const size_t plane = (size_t)im->w * (size_t)im->h;
    for (int k = 0; k < c; k++) {
        const int nk = n_norm == 1 ? 0 : k;
        const float m = n_norm ? mean[nk] : 0.0f, sd = n_norm ? std[nk] : 1.0f;
        float *out = dst + (size_t)k * plane;
        for (int y = 0; y < im->h; y++)
            for (int x = 0; x < w; x++) {
                const int sx = flip ? w - 1 - x : x;
                const float v = im->px[((size_t)y * (size_t)w + (size_t)sx) * (size_t)c + (size_t)k] / 255.0f;
                out[(size_t)y * (size_t)w + (size_t)x] = n_norm ? (v - m) / sd : v;
            }
    }
}
