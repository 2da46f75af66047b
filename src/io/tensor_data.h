/* Where ONNX puts the elements of each data type when not in raw_data
 * (TensorProto's typed fields), in one table for the reader and writer. */
#ifndef QFD_IO_TENSOR_DATA_H
#define QFD_IO_TENSOR_DATA_H

#include <stddef.h>
#include <stdint.h>

enum qfd_typed_field {
    QFD_TF_NONE,
    QFD_TF_FLOAT,  /* float_data */
    QFD_TF_INT32,  /* int32_data */
    QFD_TF_STRING, /* string_data */
    QFD_TF_INT64,  /* int64_data */
    QFD_TF_DOUBLE, /* double_data */
    QFD_TF_UINT64  /* uint64_data */
};

typedef struct qfd_typed_layout {
    int field;
    size_t items;      /* entries in the typed field */
    size_t item_bytes; /* bytes each entry takes in the IR's packed buffer */
    int sign_extend;   /* writer: entry is a signed value narrower than the field */
} qfd_typed_layout;

/* Layout for dtype with numel elements; field == QFD_TF_NONE for an unknown
 * type. */
qfd_typed_layout qfd_typed_layout_of(int32_t dtype, int64_t numel);

#endif
