/* QFD_OP(sym) lines for the matmul family; see op_lists.h. */
QFD_OP(gemm)
QFD_OP(matmul)
QFD_OP(einsum)
