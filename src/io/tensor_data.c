#include "io/tensor_data.h"

#include "ir/dtype.h"

qfd_typed_layout qfd_typed_layout_of(int32_t dt, int64_t numel)
{
    qfd_typed_layout l = {QFD_TF_NONE, 0, 0, 0};
    size_t n = numel < 0 ? 0 : (size_t)numel;
    switch (dt) {
    case QFD_DT_FLOAT: l = (qfd_typed_layout){QFD_TF_FLOAT, n, 4, 0}; break;
    case QFD_DT_COMPLEX64: l = (qfd_typed_layout){QFD_TF_FLOAT, 2 * n, 4, 0}; break;
    case QFD_DT_INT32: l = (qfd_typed_layout){QFD_TF_INT32, n, 4, 1}; break;
    case QFD_DT_INT16: l = (qfd_typed_layout){QFD_TF_INT32, n, 2, 1}; break;
    case QFD_DT_INT8: l = (qfd_typed_layout){QFD_TF_INT32, n, 1, 1}; break;
    case QFD_DT_UINT16:
    case QFD_DT_FLOAT16:
    case QFD_DT_BFLOAT16: l = (qfd_typed_layout){QFD_TF_INT32, n, 2, 0}; break;
    case QFD_DT_UINT8:
    case QFD_DT_BOOL:
    case QFD_DT_FLOAT8E4M3FN:
    case QFD_DT_FLOAT8E4M3FNUZ:
    case QFD_DT_FLOAT8E5M2:
    case QFD_DT_FLOAT8E5M2FNUZ: l = (qfd_typed_layout){QFD_TF_INT32, n, 1, 0}; break;
    /* 4-bit types: each int32_data entry holds one packed byte (two elements). */
    case QFD_DT_UINT4:
    case QFD_DT_INT4:
    case QFD_DT_FLOAT4E2M1: l = (qfd_typed_layout){QFD_TF_INT32, (n + 1) / 2, 1, 0}; break;
    case QFD_DT_STRING: l = (qfd_typed_layout){QFD_TF_STRING, n, 0, 0}; break;
    case QFD_DT_INT64: l = (qfd_typed_layout){QFD_TF_INT64, n, 8, 0}; break;
    case QFD_DT_DOUBLE: l = (qfd_typed_layout){QFD_TF_DOUBLE, n, 8, 0}; break;
    case QFD_DT_COMPLEX128: l = (qfd_typed_layout){QFD_TF_DOUBLE, 2 * n, 8, 0}; break;
    case QFD_DT_UINT32: l = (qfd_typed_layout){QFD_TF_UINT64, n, 4, 0}; break;
    case QFD_DT_UINT64: l = (qfd_typed_layout){QFD_TF_UINT64, n, 8, 0}; break;
    default: break;
    }
    return l;
}
