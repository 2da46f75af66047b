/* Data readers (.npy, .npz, IDX) and the dataset loader. Fixtures are made
 * here at run time, byte by byte, independently of the code under test: the
 * .npy header as numpy 1.x writes it, zip archives assembled by hand (members
 * deflated with zlib), IDX files gzipped with gzwrite. The real Fashion-MNIST
 * test split is the end-to-end oracle and must be installed.
 *
 * usage: test_data TMP_DIR */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../support/check.h"
#include "core/ctx.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/npy.h"
#include "ir/dtype.h"

static const char *g_tmp;

static char *tmp_path(const char *name)
{
    static char buf[4][4096]; /* a few paths alive at once is all a test needs */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f)
        fclose(f);
}

static void make_dir(const char *path)
{
    mkdir(path, 0755);
}

/* Expects st and a one-line message that starts with path and contains want. */
#define EXPECT_FAIL(ctx, expr, want_st, path, want) expect_fail(ctx, (expr), want_st, path, want, __LINE__)
static void expect_fail(qfd_ctx *ctx, qfd_status st, qfd_status want_st, const char *path, const char *want, int line)
{
    const char *msg = qfd_ctx_error(ctx);
    if (st != want_st || strncmp(msg, path, strlen(path)) || !strstr(msg, want) || strchr(msg, '\n')) {
        fprintf(stderr, "%s:%d: expected %s with \"%s\", got %s: %s\n", __FILE__, line, qfd_status_name(want_st), want,
                qfd_status_name(st), msg);
        qfd_test_failures++;
    }
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v), put16(p + 2, v >> 16);
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32));
}
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* ---- .npy ------------------------------------------------------------------ */

/* What numpy 1.x np.save writes: magic, version, little-endian header length,
 * the dict padded with spaces so data starts at a multiple of 64, '\n'. */
static size_t hand_npy(uint8_t *buf, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t pad = 64 - (pre + dl + 1) % 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    if (major == 1)
        put16(buf + 8, (uint32_t)(dl + 1 + pad));
    else
        put32(buf + 8, (uint32_t)(dl + 1 + pad));
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + dl + pad] = '\n';
    memcpy(buf + pre + dl + pad + 1, data, n);
    return pre + dl + pad + 1 + n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = malloc(1 << 16);
    *n = f && b ? fread(b, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    return b;
}

static void test_npy_roundtrip(qfd_ctx *ctx)
{
    static const int32_t types[] = {QFD_DT_FLOAT,  QFD_DT_DOUBLE, QFD_DT_FLOAT16, QFD_DT_INT8,
                                    QFD_DT_INT16,  QFD_DT_INT32,  QFD_DT_INT64,   QFD_DT_UINT8,
                                    QFD_DT_UINT16, QFD_DT_UINT32, QFD_DT_UINT64,  QFD_DT_BOOL};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int64_t dims[3] = {2, 3, (int64_t)t + 1};
        qfd_array a, b;
        CHECK_OK(ctx, qfd_array_alloc(ctx, &a, types[t], (int)(t % 4), dims)); /* ranks 0..3 */
        for (size_t i = 0; i < a.nbytes; i++)
            ((uint8_t *)a.data)[i] = types[t] == QFD_DT_BOOL ? (uint8_t)(i & 1) : (uint8_t)(i * 7 + t);
        const char *p = tmp_path("roundtrip.npy");
        CHECK_OK(ctx, qfd_npy_write(ctx, p, &a));
        CHECK_OK(ctx, qfd_npy_read(ctx, p, &b));
        CHECK(b.dtype == a.dtype && b.rank == a.rank && b.nbytes == a.nbytes &&
              !memcmp(b.dims, a.dims, sizeof a.dims) && b.data && !memcmp(a.data, b.data, a.nbytes));
        qfd_array_free(&a);
        qfd_array_free(&b);
        CHECK(b.data == NULL && b.rank == 0);
    }
}

/* The writer's bytes equal numpy's, for three shapes (2-d, 1-d, scalar). */
static void test_npy_writer_bytes(qfd_ctx *ctx)
{
    static const struct {
        int32_t dt;
        int rank;
        int64_t dims[2];
        const char *dict;
    } cases[] = {
        {QFD_DT_FLOAT, 2, {2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {QFD_DT_INT64, 1, {5}, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"},
        {QFD_DT_UINT8, 0, {0}, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }"},
    };
    for (size_t c = 0; c < 3; c++) {
        qfd_array a;
        CHECK_OK(ctx, qfd_array_alloc(ctx, &a, cases[c].dt, cases[c].rank, cases[c].dims));
        for (size_t i = 0; i < a.nbytes; i++)
            ((uint8_t *)a.data)[i] = (uint8_t)(200 - i);
        uint8_t want[512];
        size_t n_want = hand_npy(want, 1, cases[c].dict, a.data, a.nbytes), n_got;
        const char *p = tmp_path("exact.npy");
        CHECK_OK(ctx, qfd_npy_write(ctx, p, &a));
        uint8_t *got = slurp(p, &n_got);
        CHECK(got && n_got == n_want && !memcmp(got, want, n_want));
        free(got);
        qfd_array_free(&a);
    }
    /* known prefix of np.save(np.zeros((2,3), np.float32)): header length 118 */
    uint8_t b[256];
    CHECK(hand_npy(b, 1, cases[0].dict, "", 0) == 128 && !memcmp(b, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17));
}

static void test_npy_hand_read(qfd_ctx *ctx)
{
    uint8_t buf[512];
    qfd_array a;
    const uint16_t u16[2] = {65535, 513};
    const char *p = tmp_path("v2.npy");
    write_file(p, buf, hand_npy(buf, 2, "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", u16, 4));
    CHECK_OK(ctx, qfd_npy_read(ctx, p, &a));
    CHECK(a.dtype == QFD_DT_UINT16 && a.rank == 1 && a.dims[0] == 2 && a.nbytes == 4 && !memcmp(a.data, u16, 4));
    qfd_array_free(&a);

    const int32_t i32[6] = {-1, 2, -3, 4, -5, 6};
    p = tmp_path("v3.npy");
    write_file(p, buf, hand_npy(buf, 3, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 3), }", i32, 24));
    CHECK_OK(ctx, qfd_npy_read(ctx, p, &a));
    CHECK(a.dtype == QFD_DT_INT32 && a.rank == 3 && a.dims[0] == 1 && a.dims[1] == 2 && a.dims[2] == 3 &&
          !memcmp(a.data, i32, 24));
    qfd_array_free(&a);

    /* key order, spacing, double quotes and Python 2 longs are all legal */
    const double f64[2] = {0.5, -2.25};
    p = tmp_path("loose.npy");
    write_file(p, buf, hand_npy(buf, 1, "{\"shape\":(2L,),\"fortran_order\":False,\"descr\":\"<f8\"}", f64, 16));
    CHECK_OK(ctx, qfd_npy_read(ctx, p, &a));
    CHECK(a.dtype == QFD_DT_DOUBLE && a.rank == 1 && a.dims[0] == 2 && !memcmp(a.data, f64, 16));
    qfd_array_free(&a);
}

static void bad_npy(qfd_ctx *ctx, const char *name, const void *bytes, size_t n, qfd_status st, const char *want,
                    int line)
{
    const char *p = tmp_path(name);
    qfd_array a = {.rank = 5};
    write_file(p, bytes, n);
    expect_fail(ctx, qfd_npy_read(ctx, p, &a), st, p, want, line);
    CHECK(a.data == NULL && a.rank == 0);
}

static void test_npy_errors(qfd_ctx *ctx)
{
    uint8_t b[512];
    const float f[6] = {0};
    const char *f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t n = hand_npy(b, 1, f4, f, 24);
    qfd_array a;
    EXPECT_FAIL(ctx, qfd_npy_read(ctx, tmp_path("absent.npy"), &a), QFD_ERR_IO, tmp_path("absent.npy"),
                "cannot open: No such file");
    bad_npy(ctx, "empty.npy", b, 0, QFD_ERR_PARSE, "file is empty, not a .npy file", __LINE__);
    bad_npy(ctx, "short_preamble.npy", b, 8, QFD_ERR_PARSE, "truncated .npy file", __LINE__);
    bad_npy(ctx, "short_header.npy", b, 40, QFD_ERR_PARSE, "truncated .npy header", __LINE__);
    bad_npy(ctx, "short_data.npy", b, n - 1, QFD_ERR_PARSE,
            "truncated .npy data: 23 bytes where the header's shape needs 24", __LINE__);
    bad_npy(ctx, "magic.npy", "PK\003\004 not numpy at all", 22, QFD_ERR_PARSE, "bad magic", __LINE__);
    memcpy(b, "\x93NUMPY\x04\x00", 8);
    bad_npy(ctx, "version.npy", b, n, QFD_ERR_UNSUPPORTED, "format version 4.0", __LINE__);

    static const struct {
        const char *dict, *want;
        qfd_status st;
    } dicts[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "fortran_order=True", QFD_ERR_UNSUPPORTED},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "big-endian", QFD_ERR_UNSUPPORTED},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", "object arrays", QFD_ERR_UNSUPPORTED},
        {"{'descr': '<U4', 'fortran_order': False, 'shape': (2, 3), }", "dtype '<U4' is not supported",
         QFD_ERR_UNSUPPORTED},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured", QFD_ERR_UNSUPPORTED},
        {"{'descr': '<f4', 'fortran_order': False, }", "missing 'shape'", QFD_ERR_PARSE},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "'shape' is not a tuple", QFD_ERR_PARSE},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "'shape' is not a tuple",
         QFD_ERR_PARSE},
        {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }", "'fortran_order' is not True", QFD_ERR_PARSE},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unknown key 'extra'", QFD_ERR_PARSE},
        {"['descr', '<f4']", "not a dict", QFD_ERR_PARSE},
        {"{'descr': '<f4' 'fortran_order': False}", "expected ',' or '}'", QFD_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++)
        bad_npy(ctx, "bad_header.npy", b, hand_npy(b, 1, dicts[i].dict, f, 24), dicts[i].st, dicts[i].want, __LINE__);

    /* The writer: refuses what .npy cannot hold, never leaves a partial file. */
    qfd_array s = {.dtype = QFD_DT_STRING, .rank = 1, .dims = {1}};
    EXPECT_FAIL(ctx, qfd_npy_write(ctx, tmp_path("s.npy"), &s), QFD_ERR_UNSUPPORTED, tmp_path("s.npy"),
                "cannot write string arrays");
    qfd_array lie = {.dtype = QFD_DT_FLOAT, .rank = 1, .dims = {4}, .data = (void *)f, .nbytes = 8};
    EXPECT_FAIL(ctx, qfd_npy_write(ctx, tmp_path("lie.npy"), &lie), QFD_ERR_ARG, tmp_path("lie.npy"),
                "does not match its 8 data bytes");
    const char *nodir = tmp_path("missing_dir/out.npy");
    lie.nbytes = 16;
    EXPECT_FAIL(ctx, qfd_npy_write(ctx, nodir, &lie), QFD_ERR_IO, nodir, "cannot create: No such file");
    struct stat sb;
    CHECK(stat(nodir, &sb) != 0 && stat(tmp_path("s.npy"), &sb) != 0 && stat(tmp_path("lie.npy"), &sb) != 0);
    DIR *d = opendir(g_tmp);
    for (struct dirent *e; d && (e = readdir(d));)
        CHECK(!strstr(e->d_name, ".tmp."));
    if (d)
        closedir(d);
}

/* ---- .npz: zip archives built by hand -------------------------------------- */

typedef struct member {
    const char *name;
    const uint8_t *data;
    size_t len;
    int deflated, zip64;
} member;

static size_t deflate_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    CHECK(deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    s.next_in = (Bytef *)(uintptr_t)in;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    CHECK(deflate(&s, Z_FINISH) == Z_STREAM_END);
    size_t got = s.total_out;
    deflateEnd(&s);
    return got;
}

/* A zip as numpy's savez makes it; zip64 members carry the zip64 extra field
 * in both headers (numpy forces it in local headers), and zip64_end adds the
 * zip64 end-of-directory record and locator. */
static size_t build_zip(uint8_t *z, const member *m, int n, int zip64_end)
{
    uint8_t cd[4096];
    size_t pos = 0, cdn = 0;
    for (int i = 0; i < n; i++) {
        uint8_t packed[4096];
        const uint8_t *data = m[i].data;
        size_t clen = m[i].len, nl = strlen(m[i].name), off = pos;
        if (m[i].deflated) {
            clen = deflate_raw(m[i].data, m[i].len, packed, sizeof packed);
            data = packed;
        }
        uint32_t crc = (uint32_t)crc32(0, m[i].data, (uInt)m[i].len), sat = 0xffffffff;
        uint8_t *l = z + pos;
        put32(l, 0x04034b50), put16(l + 4, m[i].zip64 ? 45 : 20), put16(l + 6, 0);
        put16(l + 8, m[i].deflated ? 8 : 0), put16(l + 10, 0), put16(l + 12, 0x21), put32(l + 14, crc);
        put32(l + 18, m[i].zip64 ? sat : (uint32_t)clen), put32(l + 22, m[i].zip64 ? sat : (uint32_t)m[i].len);
        put16(l + 26, (uint32_t)nl), put16(l + 28, m[i].zip64 ? 20 : 0);
        memcpy(l + 30, m[i].name, nl);
        pos += 30 + nl;
        if (m[i].zip64) {
            put16(z + pos, 1), put16(z + pos + 2, 16), put64(z + pos + 4, m[i].len), put64(z + pos + 12, clen);
            pos += 20;
        }
        memcpy(z + pos, data, clen);
        pos += clen;

        uint8_t *c = cd + cdn;
        memset(c, 0, 46);
        put32(c, 0x02014b50), put16(c + 4, 45), put16(c + 6, m[i].zip64 ? 45 : 20);
        put16(c + 10, m[i].deflated ? 8 : 0), put16(c + 14, 0x21), put32(c + 16, crc);
        put32(c + 20, m[i].zip64 ? sat : (uint32_t)clen), put32(c + 24, m[i].zip64 ? sat : (uint32_t)m[i].len);
        put16(c + 28, (uint32_t)nl), put16(c + 30, m[i].zip64 ? 28 : 0);
        put32(c + 42, m[i].zip64 ? sat : (uint32_t)off);
        memcpy(c + 46, m[i].name, nl);
        cdn += 46 + nl;
        if (m[i].zip64) {
            put16(cd + cdn, 1), put16(cd + cdn + 2, 24), put64(cd + cdn + 4, m[i].len);
            put64(cd + cdn + 12, clen), put64(cd + cdn + 20, off);
            cdn += 28;
        }
    }
    size_t cd_off = pos;
    memcpy(z + pos, cd, cdn);
    pos += cdn;
    if (zip64_end) {
        uint8_t *e = z + pos;
        memset(e, 0, 76);
        put32(e, 0x06064b50), put64(e + 4, 44), put16(e + 12, 45), put16(e + 14, 45);
        put64(e + 24, (uint64_t)n), put64(e + 32, (uint64_t)n), put64(e + 40, cdn), put64(e + 48, cd_off);
        put32(e + 56, 0x07064b50), put64(e + 64, pos), put32(e + 72, 1);
        pos += 76;
    }
    uint8_t *e = z + pos;
    memset(e, 0, 22);
    uint32_t n16 = zip64_end ? 0xffff : (uint32_t)n;
    put32(e, 0x06054b50), put16(e + 8, n16), put16(e + 10, n16);
    put32(e + 12, zip64_end ? 0xffffffff : (uint32_t)cdn), put32(e + 16, zip64_end ? 0xffffffff : (uint32_t)cd_off);
    return pos + 22;
}

/* The fixture arrays, as .npy images. */
static const uint8_t k_x[12] = {0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 255}; /* uint8 [2,2,3] */
static const int32_t k_y[2] = {3, 7};
static const float k_xt[6] = {0.5f, -1.0f, 2.0f, 3.5f, 1e-3f, 42.0f}; /* float32 [3,1,2] */
static const int64_t k_yt[3] = {0, 1, 2};

typedef struct npys {
    uint8_t x[256], y[256], xt[256], yt[256];
    size_t nx, ny, nxt, nyt;
} npys;

static void make_npys(npys *s)
{
    s->nx = hand_npy(s->x, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }", k_x, 12);
    s->ny = hand_npy(s->y, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", k_y, 8);
    s->nxt = hand_npy(s->xt, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 2), }", k_xt, 24);
    s->nyt = hand_npy(s->yt, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", k_yt, 24);
}

static void test_npz(qfd_ctx *ctx)
{
    static uint8_t z[16384];
    npys s;
    make_npys(&s);
    member plain[] = {{"x.npy", s.x, s.nx, 0, 0},
                      {"y.npy", s.y, s.ny, 0, 0},
                      {"x_test.npy", s.xt, s.nxt, 1, 0},
                      {"y_test.npy", s.yt, s.nyt, 1, 0}};
    size_t zn = build_zip(z, plain, 4, 0);
    const char *p = tmp_path("plain.npz");
    write_file(p, z, zn);
    qfd_array a;
    CHECK_OK(ctx, qfd_npz_read(ctx, p, "x", &a));
    CHECK(a.dtype == QFD_DT_UINT8 && a.rank == 3 && a.dims[0] == 2 && a.dims[1] == 2 && a.dims[2] == 3 &&
          a.nbytes == 12 && !memcmp(a.data, k_x, 12));
    qfd_array_free(&a);
    CHECK_OK(ctx, qfd_npz_read(ctx, p, "x_test", &a)); /* deflated */
    CHECK(a.dtype == QFD_DT_FLOAT && a.rank == 3 && a.dims[0] == 3 && a.dims[1] == 1 && a.dims[2] == 2 &&
          !memcmp(a.data, k_xt, 24));
    qfd_array_free(&a);
    int which = -1;
    const char *names[2] = {"y_train", "y_test"};
    CHECK_OK(ctx, qfd_npz_read_any(ctx, p, names, 2, &which, &a));
    CHECK(which == 1 && a.dtype == QFD_DT_INT64 && a.dims[0] == 3 && !memcmp(a.data, k_yt, 24));
    qfd_array_free(&a);
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, p, "z", &a), QFD_ERR_ARG, p,
                "no array 'z' in the archive (it holds: x, y, x_test, y_test)");
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, p, "x_te", &a), QFD_ERR_ARG, p, "no array 'x_te'");
    CHECK(a.data == NULL);

    /* numpy's own layout: zip64 extra fields everywhere, zip64 end record */
    member big[] = {{"x.npy", s.x, s.nx, 0, 1}, {"y_test.npy", s.yt, s.nyt, 1, 1}};
    const char *p64 = tmp_path("zip64.npz");
    write_file(p64, z, build_zip(z, big, 2, 1));
    CHECK_OK(ctx, qfd_npz_read(ctx, p64, "x", &a));
    CHECK(a.dtype == QFD_DT_UINT8 && a.nbytes == 12 && !memcmp(a.data, k_x, 12));
    qfd_array_free(&a);
    CHECK_OK(ctx, qfd_npz_read(ctx, p64, "y_test", &a));
    CHECK(a.dtype == QFD_DT_INT64 && a.nbytes == 24 && !memcmp(a.data, k_yt, 24));
    qfd_array_free(&a);

    /* damage */
    zn = build_zip(z, plain, 4, 0);
    const char *pt = tmp_path("truncated.npz");
    write_file(pt, z, zn / 2);
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, pt, "x", &a), QFD_ERR_PARSE, pt, "not a valid .npz (zip) archive");
    write_file(pt, z, 10);
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, pt, "x", &a), QFD_ERR_PARSE, pt, "no end-of-directory record");
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, tmp_path("v2.npy"), "x", &a), QFD_ERR_PARSE, tmp_path("v2.npy"),
                "not a valid .npz");
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, tmp_path("absent.npz"), "x", &a), QFD_ERR_IO, tmp_path("absent.npz"),
                "cannot open");
    z[30 + 5 + s.nx - 1] ^= 0xff; /* last data byte of the stored x.npy */
    const char *pc = tmp_path("crc.npz");
    write_file(pc, z, zn);
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, pc, "x", &a), QFD_ERR_PARSE, pc, "x.npy: CRC mismatch");
    CHECK_OK(ctx, qfd_npz_read(ctx, pc, "y", &a)); /* the other members are intact */
    qfd_array_free(&a);

    member junk[] = {{"bad.npy", (const uint8_t *)"hello, world", 12, 1, 0}, {"short.npy", s.y, s.ny - 4, 0, 0}};
    const char *pj = tmp_path("junk.npz");
    write_file(pj, z, build_zip(z, junk, 2, 0));
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, pj, "bad", &a), QFD_ERR_PARSE, pj, "bad.npy: not a .npy file (bad magic)");
    EXPECT_FAIL(ctx, qfd_npz_read(ctx, pj, "short", &a), QFD_ERR_PARSE, pj, "short.npy: truncated .npy data");
}

/* ---- IDX ------------------------------------------------------------------- */

static size_t idx_bytes(uint8_t *b, uint32_t magic, const uint32_t *dims, int rank, const uint8_t *data, size_t n)
{
    put_be32(b, magic);
    for (int i = 0; i < rank; i++)
        put_be32(b + 4 + 4 * i, dims[i]);
    memcpy(b + 4 + 4 * rank, data, n);
    return 4 + 4 * (size_t)rank + n;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb9");
    CHECK(g && gzwrite(g, data, (unsigned)n) == (int)n);
    if (g)
        gzclose(g);
}

static const uint8_t k_pix[12] = {0, 255, 51, 102, 1, 2, 3, 4, 250, 128, 64, 32}; /* 3 images of 2x2 */
static const uint8_t k_lab[3] = {9, 0, 5};

/* One split of an MNIST-style folder; gz picks which files are compressed.
 * Files of the other kind left by an earlier run are removed first. */
static void write_idx_split(const char *dir, const char *prefix, uint32_t n_img, uint32_t n_lab, int gz_img, int gz_lab)
{
    uint8_t b[64];
    char p[4096];
    static const char *const kinds[2] = {"images-idx3", "labels-idx1"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s-%s-ubyte%s", dir, prefix, kinds[k / 2], k % 2 ? ".gz" : "");
        unlink(p);
    }
    uint32_t d[3] = {n_img, 2, 2};
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz_img ? ".gz" : "");
    size_t n = idx_bytes(b, 0x803, d, 3, k_pix, 4 * n_img);
    gz_img ? write_gz(p, b, n) : write_file(p, b, n);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz_lab ? ".gz" : "");
    n = idx_bytes(b, 0x801, &n_lab, 1, k_lab, n_lab);
    gz_lab ? write_gz(p, b, n) : write_file(p, b, n);
}

static void test_idx(qfd_ctx *ctx)
{
    uint8_t b[64];
    uint32_t d[3] = {3, 2, 2};
    qfd_array a;
    const char *p = tmp_path("images-raw");
    write_file(p, b, idx_bytes(b, 0x803, d, 3, k_pix, 12));
    CHECK_OK(ctx, qfd_idx_read(ctx, p, &a));
    CHECK(a.dtype == QFD_DT_UINT8 && a.rank == 3 && a.dims[0] == 3 && a.dims[1] == 2 && a.dims[2] == 2 &&
          a.nbytes == 12 && !memcmp(a.data, k_pix, 12));
    qfd_array_free(&a);
    p = tmp_path("labels.gz");
    write_gz(p, b, idx_bytes(b, 0x801, d, 1, k_lab, 3));
    CHECK_OK(ctx, qfd_idx_read(ctx, p, &a));
    CHECK(a.dtype == QFD_DT_UINT8 && a.rank == 1 && a.dims[0] == 3 && !memcmp(a.data, k_lab, 3));
    qfd_array_free(&a);

    p = tmp_path("bad-magic.gz");
    write_gz(p, b, idx_bytes(b, 0x802, d, 2, k_pix, 12));
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "magic 0x00000802, expected 0x00000803");
    p = tmp_path("truncated-data.gz");
    uint32_t five[3] = {5, 2, 2};
    write_gz(p, b, idx_bytes(b, 0x803, five, 3, k_pix, 12));
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "truncated IDX file: data has 12 of 20 bytes");
    p = tmp_path("truncated-header");
    write_file(p, b, 6);
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "truncated IDX file: header");
    p = tmp_path("huge.gz");
    uint32_t huge[3] = {0xffffffff, 0xffffffff, 0xffffffff};
    write_gz(p, b, idx_bytes(b, 0x803, huge, 3, k_pix, 12));
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "implausible IDX size");
    uint32_t zero[3] = {3, 0, 2};
    write_gz(p, b, idx_bytes(b, 0x803, zero, 3, k_pix, 12));
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "implausible IDX size 0 in dimension 1");
    p = tmp_path("corrupt.gz"); /* gzip magic, then garbage */
    write_file(p, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-garbage", 25);
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, p, &a), QFD_ERR_PARSE, p, "corrupt gzip data");
    EXPECT_FAIL(ctx, qfd_idx_read(ctx, tmp_path("absent.gz"), &a), QFD_ERR_IO, tmp_path("absent.gz"),
                "cannot open: No such file");
    CHECK(a.data == NULL);
}

/* ---- dataset loader ------------------------------------------------------------ */

static void test_dataset_idx(qfd_ctx *ctx)
{
    qfd_dataset ds;
    const char *dir = tmp_path("mnist_ok");
    make_dir(dir);
    write_idx_split(dir, "train", 3, 3, 1, 0);
    write_idx_split(dir, "t10k", 2, 2, 0, 1);
    CHECK_OK(ctx, qfd_dataset_load(ctx, dir, QFD_SPLIT_TRAIN, 0, &ds));
    CHECK(ds.n == 3 && ds.x.dtype == QFD_DT_FLOAT && ds.x.rank == 4 && ds.x.dims[0] == 3 && ds.x.dims[1] == 1 &&
          ds.x.dims[2] == 2 && ds.x.dims[3] == 2 && ds.y.dtype == QFD_DT_INT64 && ds.y.rank == 1 && ds.y.dims[0] == 3 &&
          ds.source && strstr(ds.source, "train-images-idx3-ubyte.gz"));
    for (int i = 0; ds.x.data && i < 12; i++)
        CHECK(((float *)ds.x.data)[i] == k_pix[i] / 255.0f);
    CHECK(ds.y.data && ((int64_t *)ds.y.data)[0] == 9 && ((int64_t *)ds.y.data)[2] == 5);
    qfd_dataset_free(&ds);
    CHECK(ds.x.data == NULL && ds.source == NULL && ds.n == 0);
    CHECK_OK(ctx, qfd_dataset_load(ctx, dir, QFD_SPLIT_TEST, 0, &ds));
    CHECK(ds.n == 2 && ds.x.dims[0] == 2 && ds.y.dims[0] == 2 && strstr(ds.source, "t10k-images-idx3-ubyte"));
    qfd_dataset_free(&ds);
    CHECK_OK(ctx, qfd_dataset_load(ctx, dir, QFD_SPLIT_TRAIN, 2, &ds));
    CHECK(ds.n == 2 && ds.x.dims[0] == 2 && ds.x.nbytes == 2 * 4 * sizeof(float) && ds.y.dims[0] == 2);
    qfd_dataset_free(&ds);

    const char *bad = tmp_path("mnist_mismatch");
    make_dir(bad);
    write_idx_split(bad, "train", 3, 2, 1, 1);
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, bad, QFD_SPLIT_TRAIN, 0, &ds), QFD_ERR_INVALID, bad,
                "x has 3 examples but y has 2");
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, bad, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_IO, bad,
                "no t10k-images-idx3-ubyte[.gz] in this folder");
    CHECK(!strstr(qfd_ctx_error(ctx), "apt-get")); /* the hint is for the default folder only */
    char from[4096], to[4096];
    const uint8_t b_lab3[10] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2}; /* two labels */
    snprintf(from, sizeof from, "%s/train-labels-idx1-ubyte.gz", bad);
    snprintf(to, sizeof to, "%s/train-images-idx3-ubyte.gz", bad);
    CHECK(rename(from, to) == 0);
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, bad, QFD_SPLIT_TRAIN, 0, &ds), QFD_ERR_IO, bad,
                "no train-labels-idx1-ubyte[.gz]");
    snprintf(from, sizeof from, "%s/train-labels-idx1-ubyte", bad);
    write_file(from, b_lab3, sizeof b_lab3); /* raw labels next to labels posing as images */
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, bad, QFD_SPLIT_TRAIN, 0, &ds), QFD_ERR_INVALID, bad,
                "train-images-idx3-ubyte.gz: expected images (magic 0x00000803), found labels");
    CHECK(ds.x.data == NULL && ds.y.data == NULL && ds.source == NULL);
}

static void test_dataset_npz(qfd_ctx *ctx)
{
    static uint8_t z[16384];
    npys s;
    make_npys(&s);
    qfd_dataset ds;
    member plain[] = {{"x.npy", s.x, s.nx, 0, 0},
                      {"y.npy", s.y, s.ny, 0, 0},
                      {"x_test.npy", s.xt, s.nxt, 1, 0},
                      {"y_test.npy", s.yt, s.nyt, 1, 0}};
    const char *p = tmp_path("ds.npz");
    write_file(p, z, build_zip(z, plain, 4, 0));
    /* train: no x_train, so x and y; uint8 [2,2,3] becomes [2,1,2,3] / 255 */
    CHECK_OK(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TRAIN, 0, &ds));
    CHECK(ds.n == 2 && ds.x.dtype == QFD_DT_FLOAT && ds.x.rank == 4 && ds.x.dims[1] == 1 && ds.x.dims[2] == 2 &&
          ds.x.dims[3] == 3 && ds.y.dims[0] == 2 && strstr(ds.source, "[x,y]"));
    for (int i = 0; ds.x.data && i < 12; i++)
        CHECK(((float *)ds.x.data)[i] == k_x[i] / 255.0f);
    CHECK(((int64_t *)ds.y.data)[0] == 3 && ((int64_t *)ds.y.data)[1] == 7);
    qfd_dataset_free(&ds);
    /* test: x_test float32 [3,1,2] gains a channel axis as uint8 does, y_test int64 */
    CHECK_OK(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds));
    CHECK(ds.n == 3 && ds.x.rank == 4 && ds.x.dims[1] == 1 && ds.x.dims[2] == 1 && ds.x.dims[3] == 2 &&
          !memcmp(ds.x.data, k_xt, 24) && !memcmp(ds.y.data, k_yt, 24) && strstr(ds.source, "[x_test,y_test]"));
    qfd_dataset_free(&ds);

    /* channels-last colour images: [2,2,2,3] uint8 -> [2,3,2,2] */
    uint8_t hwc[24], xb[256], yb[256];
    for (int i = 0; i < 24; i++)
        hwc[i] = (uint8_t)(i * 10);
    const uint8_t lab[2] = {1, 0};
    size_t nx = hand_npy(xb, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2, 3), }", hwc, 24);
    size_t ny = hand_npy(yb, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", lab, 2);
    member nhwc[] = {{"x_train.npy", xb, nx, 1, 0}, {"y_train.npy", yb, ny, 0, 0}};
    p = tmp_path("nhwc.npz");
    write_file(p, z, build_zip(z, nhwc, 2, 0));
    CHECK_OK(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TRAIN, 1, &ds));
    CHECK(ds.n == 1 && ds.x.rank == 4 && ds.x.dims[0] == 1 && ds.x.dims[1] == 3 && ds.x.dims[2] == 2 &&
          ds.x.dims[3] == 2 && ds.y.dims[0] == 1 && ((int64_t *)ds.y.data)[0] == 1);
    for (int c = 0; ds.x.data && c < 3; c++)
        for (int hw = 0; hw < 4; hw++)
            CHECK(((float *)ds.x.data)[c * 4 + hw] == hwc[hw * 3 + c] / 255.0f);
    qfd_dataset_free(&ds);
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_ARG, p,
                "no array 'x_test' or 'x' in the archive (it holds: x_train, y_train)");

    /* not images: one rule for both splits (eval once took float [N,F] that train refused) */
    const float feat[4] = {1, 2, 3, 4};
    nx = hand_npy(xb, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", feat, 16);
    member flat[] = {{"x.npy", xb, nx, 0, 0}, {"y.npy", yb, ny, 0, 0}};
    p = tmp_path("flat.npz");
    write_file(p, z, build_zip(z, flat, 2, 0));
    for (int split = 0; split < 2; split++)
        EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, split ? QFD_SPLIT_TEST : QFD_SPLIT_TRAIN, 0, &ds), QFD_ERR_INVALID, p,
                    "inputs x must be images [N,H,W] or [N,C,H,W], not of rank 2");
    nx = hand_npy(xb, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 2), }", feat, 0);
    member empty_h[] = {{"x.npy", xb, nx, 0, 0}, {"y.npy", yb, ny, 0, 0}};
    write_file(p, z, build_zip(z, empty_h, 2, 0));
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TRAIN, 0, &ds), QFD_ERR_INVALID, p,
                "inputs x must have C, H, W >= 1, got [1,0,2]");

    /* mismatched N, negative labels, float labels, a missing y */
    const int16_t neg[3] = {1, -4, 2};
    ny = hand_npy(yb, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", neg, 6);
    member mism[] = {{"x.npy", s.x, s.nx, 0, 0}, {"y.npy", yb, ny, 0, 0}};
    p = tmp_path("mismatch.npz");
    write_file(p, z, build_zip(z, mism, 2, 0));
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_INVALID, p,
                "x has 2 examples but y has 3");
    member negs[] = {{"x_test.npy", s.xt, s.nxt, 0, 0}, {"y_test.npy", yb, ny, 1, 0}};
    p = tmp_path("negative.npz");
    write_file(p, z, build_zip(z, negs, 2, 0));
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_INVALID, p,
                "label at index 1 is negative");
    member fl[] = {{"x_test.npy", s.xt, s.nxt, 0, 0}, {"y_test.npy", s.xt, s.nxt, 0, 0}};
    p = tmp_path("float_labels.npz");
    write_file(p, z, build_zip(z, fl, 2, 0));
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_INVALID, p,
                "labels y must be a 1-d array");
    member noy[] = {{"x_test.npy", s.xt, s.nxt, 0, 0}, {"y.npy", s.y, s.ny, 0, 0}};
    p = tmp_path("no_y.npz");
    write_file(p, z, build_zip(z, noy, 2, 0));
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, p, QFD_SPLIT_TEST, 0, &ds), QFD_ERR_ARG, p, "no array 'y_test'");
    EXPECT_FAIL(ctx, qfd_dataset_load(ctx, tmp_path("absent.npz"), QFD_SPLIT_TEST, 0, &ds), QFD_ERR_IO,
                tmp_path("absent.npz"), "cannot open: No such file");
    CHECK(ds.x.data == NULL && ds.source == NULL);
}

/* The real thing: Debian's dataset-fashion-mnist, found through path NULL. */
static void test_fashion_mnist(qfd_ctx *ctx)
{
    qfd_dataset ds;
    CHECK_OK(ctx, qfd_dataset_load(ctx, NULL, QFD_SPLIT_TEST, 0, &ds));
    CHECK(ds.n == 10000 && ds.x.dtype == QFD_DT_FLOAT && ds.x.rank == 4 && ds.x.dims[0] == 10000 && ds.x.dims[1] == 1 &&
          ds.x.dims[2] == 28 && ds.x.dims[3] == 28 && ds.y.dtype == QFD_DT_INT64 && ds.y.rank == 1 &&
          ds.y.dims[0] == 10000);
    if (ds.n != 10000 || !ds.x.data || !ds.y.data) {
        qfd_dataset_free(&ds);
        return;
    }
    const int64_t *y = ds.y.data;
    const float *x = ds.x.data;
    int64_t counts[10] = {0}, out_of_range = 0;
    for (int64_t i = 0; i < ds.n; i++) {
        if (y[i] < 0 || y[i] > 9)
            out_of_range++;
        else
            counts[y[i]]++;
    }
    CHECK(y[0] == 9); /* ankle boot */
    CHECK(out_of_range == 0);
    for (int k = 0; k < 10; k++)
        CHECK(counts[k] == 1000); /* the test split is balanced */
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < 10000 * 784; i++)
        lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    CHECK(lo == 0.0f && hi == 1.0f);
    qfd_dataset_free(&ds);

    CHECK_OK(ctx, qfd_dataset_load(ctx, QFD_FASHION_MNIST_DIR, QFD_SPLIT_TRAIN, 100, &ds));
    CHECK(ds.n == 100 && ds.x.dims[0] == 100 && ds.y.dims[0] == 100);
    qfd_dataset_free(&ds);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TMP_DIR\n", argv[0]);
        return 2;
    }
    g_tmp = argv[1];
    make_dir(g_tmp);
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx)
        return 1;
    test_npy_roundtrip(ctx);
    test_npy_writer_bytes(ctx);
    test_npy_hand_read(ctx);
    test_npy_errors(ctx);
    test_npz(ctx);
    test_idx(ctx);
    test_dataset_idx(ctx);
    test_dataset_npz(ctx);
    test_fashion_mnist(ctx);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
