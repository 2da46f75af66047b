/* QFD_OP(sym) lines for the quant family; see op_lists.h. */
QFD_OP(quantize_linear)
QFD_OP(dequantize_linear)
QFD_OP(fake_quant)
QFD_OP(bias_quant)
QFD_OP(binary_quant)
