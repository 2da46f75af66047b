/* The op table. Each family of ops lists its definitions in its own
 * list_<family>.h, so adding an op touches only its family's files. */
#include <string.h>

#include "ops/op.h"

#define QFD_OP(sym) extern const qfd_op_def qfd_op_##sym;
#include "ops/op_lists.h"
#undef QFD_OP

static const qfd_op_def *const k_ops[] = {
#define QFD_OP(sym) &qfd_op_##sym,
#include "ops/op_lists.h"
#undef QFD_OP
};

const qfd_op_def *qfd_op_lookup(const char *domain, const char *op_type, int64_t opset)
{
    const char *d = domain && strcmp(domain, "ai.onnx") ? domain : "";
    const qfd_op_def *best = NULL;
    if (opset < 0)
        return NULL;
    for (size_t i = 0; i < sizeof k_ops / sizeof *k_ops; i++) {
        const qfd_op_def *o = k_ops[i];
        if (strcmp(o->name, op_type) || strcmp(o->domain, d) || o->since > opset)
            continue;
        if (!best || o->since > best->since)
            best = o;
    }
    return best;
}
