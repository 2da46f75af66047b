#include "ir/dtype.h"

static const struct {
    const char *name;
    int bits;
    int integer;
} k_dtypes[QFD_DT_COUNT] = {
    [QFD_DT_FLOAT] = {"float", 32, 0},
    [QFD_DT_UINT8] = {"uint8", 8, 1},
    [QFD_DT_INT8] = {"int8", 8, 1},
    [QFD_DT_UINT16] = {"uint16", 16, 1},
    [QFD_DT_INT16] = {"int16", 16, 1},
    [QFD_DT_INT32] = {"int32", 32, 1},
    [QFD_DT_INT64] = {"int64", 64, 1},
    [QFD_DT_STRING] = {"string", 0, 0},
    [QFD_DT_BOOL] = {"bool", 8, 0},
    [QFD_DT_FLOAT16] = {"float16", 16, 0},
    [QFD_DT_DOUBLE] = {"double", 64, 0},
    [QFD_DT_UINT32] = {"uint32", 32, 1},
    [QFD_DT_UINT64] = {"uint64", 64, 1},
    [QFD_DT_COMPLEX64] = {"complex64", 64, 0},
    [QFD_DT_COMPLEX128] = {"complex128", 128, 0},
    [QFD_DT_BFLOAT16] = {"bfloat16", 16, 0},
    [QFD_DT_FLOAT8E4M3FN] = {"float8e4m3fn", 8, 0},
    [QFD_DT_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 8, 0},
    [QFD_DT_FLOAT8E5M2] = {"float8e5m2", 8, 0},
    [QFD_DT_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 8, 0},
    [QFD_DT_UINT4] = {"uint4", 4, 1},
    [QFD_DT_INT4] = {"int4", 4, 1},
    [QFD_DT_FLOAT4E2M1] = {"float4e2m1", 4, 0},
};

const char *qfd_dtype_name(int32_t dt)
{
    return dt > 0 && dt < QFD_DT_COUNT ? k_dtypes[dt].name : NULL;
}

int qfd_dtype_bits(int32_t dt)
{
    return dt > 0 && dt < QFD_DT_COUNT ? k_dtypes[dt].bits : 0;
}

int qfd_dtype_is_integer(int32_t dt)
{
    return dt > 0 && dt < QFD_DT_COUNT && k_dtypes[dt].integer;
}

size_t qfd_dtype_nbytes(int32_t dt, int64_t numel, int *ok)
{
    int bits = qfd_dtype_bits(dt);
    *ok = bits > 0 && numel >= 0 && (uint64_t)numel <= SIZE_MAX / 16;
    if (!*ok)
        return 0;
    return ((size_t)numel * (size_t)bits + 7) / 8;
}

int qfd_dtype_qrange(int32_t dt, int32_t *lo, int32_t *hi)
{
    switch (dt) {
    case QFD_DT_UINT8: *lo = 0, *hi = 255; return 1;
    case QFD_DT_INT8: *lo = -128, *hi = 127; return 1;
    case QFD_DT_UINT16: *lo = 0, *hi = 65535; return 1;
    case QFD_DT_INT16: *lo = -32768, *hi = 32767; return 1;
    case QFD_DT_UINT4: *lo = 0, *hi = 15; return 1;
    case QFD_DT_INT4: *lo = -8, *hi = 7; return 1;
    case QFD_DT_INT32: *lo = INT32_MIN, *hi = INT32_MAX; return 1;
    default: return 0;
    }
}

int32_t qfd_dtype_qget(int32_t dt, const void *p, int64_t i)
{
    switch (dt) {
    case QFD_DT_UINT8: return ((const uint8_t *)p)[i];
    case QFD_DT_INT8: return ((const int8_t *)p)[i];
    case QFD_DT_UINT16: return ((const uint16_t *)p)[i];
    case QFD_DT_INT16: return ((const int16_t *)p)[i];
    case QFD_DT_INT32: return ((const int32_t *)p)[i];
    case QFD_DT_UINT4: return (((const uint8_t *)p)[i >> 1] >> ((i & 1) * 4)) & 15;
    case QFD_DT_INT4: {
        int32_t v = (((const uint8_t *)p)[i >> 1] >> ((i & 1) * 4)) & 15;
        return v >= 8 ? v - 16 : v;
    }
    default: return 0;
    }
}
