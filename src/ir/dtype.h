/* ONNX element types. The numbering is ONNX's TensorProto.DataType, kept
 * here so that newer types (FLOAT8, INT4) work whatever schema was compiled. */
#ifndef QFD_IR_DTYPE_H
#define QFD_IR_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum qfd_dtype {
    QFD_DT_UNDEFINED = 0,
    QFD_DT_FLOAT = 1,
    QFD_DT_UINT8 = 2,
    QFD_DT_INT8 = 3,
    QFD_DT_UINT16 = 4,
    QFD_DT_INT16 = 5,
    QFD_DT_INT32 = 6,
    QFD_DT_INT64 = 7,
    QFD_DT_STRING = 8,
    QFD_DT_BOOL = 9,
    QFD_DT_FLOAT16 = 10,
    QFD_DT_DOUBLE = 11,
    QFD_DT_UINT32 = 12,
    QFD_DT_UINT64 = 13,
    QFD_DT_COMPLEX64 = 14,
    QFD_DT_COMPLEX128 = 15,
    QFD_DT_BFLOAT16 = 16,
    QFD_DT_FLOAT8E4M3FN = 17,
    QFD_DT_FLOAT8E4M3FNUZ = 18,
    QFD_DT_FLOAT8E5M2 = 19,
    QFD_DT_FLOAT8E5M2FNUZ = 20,
    QFD_DT_UINT4 = 21,
    QFD_DT_INT4 = 22,
    QFD_DT_FLOAT4E2M1 = 23,
    QFD_DT_COUNT
};

/* Lower-case ONNX name ("float", "int4"), or NULL for an unknown code. */
const char *qfd_dtype_name(int32_t dt);
/* Bits per element (4 for the packed types); 0 for STRING or unknown. */
int qfd_dtype_bits(int32_t dt);
int qfd_dtype_is_integer(int32_t dt);
/* Bytes needed for numel elements, sub-byte types packed two per byte;
 * returns 0 and sets *ok = 0 on an unknown type or overflow. */
size_t qfd_dtype_nbytes(int32_t dt, int64_t numel, int *ok);

/* The types QuantizeLinear/DequantizeLinear quantize to (int8, uint8,
 * int16, uint16, int4, uint4; int32 for DequantizeLinear): their range,
 * 0 for another type; and element i of such data (4-bit types packed two
 * per byte, low nibble first). */
int qfd_dtype_qrange(int32_t dt, int32_t *lo, int32_t *hi);
int32_t qfd_dtype_qget(int32_t dt, const void *p, int64_t i);

#endif
