/* QFD_OP(sym) lines for the norm_pool family; see op_lists.h. */
QFD_OP(batchnorm)
QFD_OP(layernorm)
QFD_OP(maxpool)
QFD_OP(averagepool)
QFD_OP(globalaveragepool)
QFD_OP(globalmaxpool)
QFD_OP(lrn)
QFD_OP(instancenorm)
