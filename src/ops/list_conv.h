/* QFD_OP(sym) lines for the conv family; see op_lists.h. */
QFD_OP(conv)
QFD_OP(fused_conv)
QFD_OP(conv_transpose)
