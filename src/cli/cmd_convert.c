/* qfd-onnx convert IN OUT [--opset N]: read, validate, [upgrade,] write. */
#include "cli/args.h"

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    const char *paths[2];
    int opset = 0;
    qfd_flag flags[] = {QFD_FLAG_INT("--opset", &opset, 7, 21)};
    int rc = qfd_cli_parse(&qfd_cmd_convert, flags, QFD_COUNT(flags), argc, argv, "IN OUT", paths, 2);
    if (rc != QFD_CLI_GO)
        return rc;
    qfd_model *m;
    qfd_status st = qfd_model_load(ctx, paths[0], &m);
    if (st)
        return qfd_cli_fail(ctx, st);
    if (opset)
        st = qfd_model_upgrade_opset(ctx, m, opset);
    if (!st)
        st = qfd_model_save(ctx, m, paths[1]);
    qfd_model_free(m);
    if (st)
        return qfd_cli_fail(ctx, st);
    fprintf(stderr, "wrote %s\n", paths[1]);
    return QFD_EXIT_OK;
}

const qfd_cli_cmd qfd_cmd_convert = {
    "convert",
    "read, validate and rewrite an ONNX model (optionally at a newer opset)",
    "usage: qfd-onnx convert IN.onnx OUT.onnx [--opset N]\n"
    "\n"
    "Reads IN, validates its graph (every input defined, no duplicate names,\n"
    "no cycles; nodes put in topological order if the file was not sorted) and\n"
    "writes it to OUT. Nodes, attributes, initializer bytes, inputs, outputs,\n"
    "opsets and metadata come out unchanged; tensors stored as external data\n"
    "are embedded in OUT. OUT is written under a temporary name and renamed,\n"
    "so a failure never leaves a partial file.\n"
    "\n"
    "  --opset N    upgrade the model to ONNX opset N (its own up to 21) first:\n"
    "               nodes whose op changed between the two opsets are rewritten\n"
    "               to compute the same outputs (attributes that became inputs,\n"
    "               Softmax before 13, Upsample, ...), and the IR version is\n"
    "               raised to what N needs (10 for 21). A node that cannot be\n"
    "               rewritten exactly is named, and nothing is written.\n"
    "  -h, --help   show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on a bad model, file or flag, or a model\n"
    "that cannot be upgraded.\n",
    run,
};
