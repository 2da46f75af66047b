/* QFD_OP(sym) lines for the reduce family; see op_lists.h. */
QFD_OP(reduce_sum)
QFD_OP(reduce_mean)
QFD_OP(reduce_max)
QFD_OP(softmax)
QFD_OP(log_softmax)
QFD_OP(pad)
QFD_OP(resize)
