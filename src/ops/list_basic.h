/* QFD_OP(sym) lines for the basic family; see op_lists.h. */
QFD_OP(identity)
