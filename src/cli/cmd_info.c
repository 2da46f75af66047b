/* qfd-onnx info MODEL [--json]: what a model is, at a glance. */
#include <inttypes.h>
#include <string.h>

#include "cli/args.h"

static void print_shape(FILE *f, const qfd_value_summary *v)
{
    if (strcmp(v->kind, "tensor") != 0) {
        fputs(v->kind, f);
        return;
    }
    fputs(v->dtype ? v->dtype : "?", f);
    if (!v->has_shape) {
        fputs("[shape unknown]", f);
        return;
    }
    fputc('[', f);
    for (int k = 0; k < v->rank; k++) {
        if (k)
            fputc(',', f);
        if (v->dims[k].param)
            fputs(v->dims[k].param, f);
        else if (v->dims[k].value >= 0)
            fprintf(f, "%" PRId64, v->dims[k].value);
        else
            fputc('?', f);
    }
    fputc(']', f);
}

static void print_human_bytes(FILE *f, int64_t b)
{
    if (b >= 1 << 20)
        fprintf(f, "%.2f MiB", (double)b / (1 << 20));
    else if (b >= 1 << 10)
        fprintf(f, "%.1f KiB", (double)b / (1 << 10));
    else
        fprintf(f, "%" PRId64 " B", b);
}

/* One line per Conv, ConvTranspose, Gemm and MatMul: the bits it was
 * trained at (weight, input activation), or float. */
static void print_layers(FILE *f, const qfd_model_summary *s)
{
    size_t n_float = 0, width = 4;
    for (size_t i = 0; i < s->n_layers; i++) {
        n_float += !s->layers[i].wbits && !s->layers[i].abits;
        width = strlen(s->layers[i].name) > width ? strlen(s->layers[i].name) : width;
    }
    fprintf(f, "  %-12s %zu layer%s, %zu quantized, %zu float; bits (weight, activation) ", "", s->n_layers,
            s->n_layers == 1 ? "" : "s", s->n_layers - n_float, n_float);
    if (!s->n_layers_inferred)
        fputs("from qfd metadata\n", f);
    else if (s->n_layers_inferred == s->n_layers)
        fputs("inferred from the integer ranges and Clip clamps\n", f);
    else
        fprintf(f, "from qfd metadata, %zu inferred\n", s->n_layers_inferred);
    for (size_t i = 0; i < s->n_layers; i++) {
        const qfd_layer_summary *L = &s->layers[i];
        fprintf(f, "  %-12s   %-*s  %-13s  ", "", (int)width, L->name, L->op_type);
        if (!L->wbits && !L->abits)
            fputs("float\n", f);
        else
            fprintf(f, "w%da%d\n", L->wbits, L->abits);
    }
}

static void print_text(FILE *f, const char *path, const qfd_model_summary *s)
{
    fprintf(f, "%s\n", path);
    fprintf(f, "  ir_version   %" PRId64 "\n", s->ir_version);
    fprintf(f, "  producer     %s %s\n", s->producer_name ? s->producer_name : "(none)",
            s->producer_version ? s->producer_version : "");
    fputs("  opsets      ", f);
    for (size_t i = 0; i < s->n_opsets; i++)
        fprintf(f, " %s %" PRId64 "%s", *s->opsets[i].domain ? s->opsets[i].domain : "ai.onnx", s->opsets[i].version,
                i + 1 < s->n_opsets ? "," : "");
    fputc('\n', f);
    if (s->graph_name)
        fprintf(f, "  graph        %s\n", s->graph_name);
    for (int io = 0; io < 2; io++) {
        size_t n = io ? s->n_outputs : s->n_inputs;
        const qfd_value_summary *v = io ? s->outputs : s->inputs;
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "  %-12s %s  ", i ? "" : io ? "outputs" : "inputs", v[i].name);
            print_shape(f, &v[i]);
            fputc('\n', f);
        }
        if (!n)
            fprintf(f, "  %-12s (none)\n", io ? "outputs" : "inputs");
    }
    if (s->feature) {
        fprintf(f, "  %-12s %s  ", "feature", s->feature->name);
        print_shape(f, s->feature);
        fputc('\n', f);
    } else {
        fprintf(f, "  %-12s (none found)\n", "feature");
    }
    for (size_t i = 0; i < s->n_metadata; i++)
        fprintf(f, "  %-12s %s = %s\n", i ? "" : "metadata", s->metadata_keys[i], s->metadata_values[i]);
    fprintf(f, "  nodes        %" PRId64 "\n", s->n_nodes);
    for (size_t i = 0; i < s->n_ops; i++)
        fprintf(f, "    %6" PRId64 "  %s%s%s\n", s->ops[i].count, s->ops[i].domain, *s->ops[i].domain ? "." : "",
                s->ops[i].op_type);
    fprintf(f, "  parameters   %" PRId64 " in %" PRId64 " initializers (", s->n_params, s->n_initializers);
    print_human_bytes(f, s->param_bytes);
    fputs(")\n", f);
    if (s->n_subgraphs)
        fprintf(f, "  subgraphs    %" PRId64 " (If/Loop/Scan bodies, kept as they are)\n", s->n_subgraphs);
    if (!s->n_qdq_nodes) {
        fputs("  quantized    no\n", f);
        return;
    }
    fprintf(f, "  quantized    yes: format %s (%s), opset %" PRId64 "\n", s->quant_format,
            s->quant_format_inferred ? "inferred from the Q/DQ types" : "qfd metadata", s->opset);
    fprintf(f, "  %-12s %" PRId64 " QuantizeLinear/DequantizeLinear nodes (containers: ", "", s->n_qdq_nodes);
    for (size_t i = 0; i < s->n_qtypes; i++)
        fprintf(f, "%s%s x%" PRId64, i ? ", " : "", s->qtypes[i].dtype, s->qtypes[i].count);
    fputs(")\n", f);
    print_layers(f, s);
}

static void json_value(FILE *f, const qfd_value_summary *v)
{
    fputs("{\"name\":", f);
    qfd_json_str(f, v->name);
    fputs(",\"kind\":", f);
    qfd_json_str(f, v->kind);
    fputs(",\"dtype\":", f);
    qfd_json_str(f, v->dtype);
    fputs(",\"shape\":", f);
    if (!v->has_shape) {
        fputs("null}", f);
        return;
    }
    fputc('[', f);
    for (int k = 0; k < v->rank; k++) {
        if (k)
            fputc(',', f);
        if (v->dims[k].param)
            qfd_json_str(f, v->dims[k].param);
        else if (v->dims[k].value >= 0)
            fprintf(f, "%" PRId64, v->dims[k].value);
        else
            fputs("null", f);
    }
    fputs("]}", f);
}

static void json_values(FILE *f, const qfd_value_summary *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        json_value(f, &v[i]);
    }
    fputc(']', f);
}

/* {"format", "format_source", "opset", "bits_source", "layers": [...]} for
 * a quantized file, null otherwise; layers as quantize's report has them. */
static void print_json_quant(FILE *f, const qfd_model_summary *s)
{
    if (!s->quant_format) {
        fputs("null", f);
        return;
    }
    fputs("{\"format\":", f);
    qfd_json_str(f, s->quant_format);
    fprintf(f, ",\"format_source\":\"%s\",\"opset\":%" PRId64 ",\"bits_source\":\"%s\",\"layers\":[",
            s->quant_format_inferred ? "inferred" : "metadata", s->opset,
            !s->n_layers_inferred                 ? "metadata"
            : s->n_layers_inferred == s->n_layers ? "inferred"
                                                  : "mixed");
    for (size_t i = 0; i < s->n_layers; i++) {
        const qfd_layer_summary *L = &s->layers[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        qfd_json_str(f, L->name);
        fputs(",\"op\":", f);
        qfd_json_str(f, L->op_type);
        fprintf(f, ",\"float\":%s,\"wbits\":%d,\"abits\":%d}", !L->wbits && !L->abits ? "true" : "false", L->wbits,
                L->abits);
    }
    fputs("]}", f);
}

static void print_json(FILE *f, const char *path, const qfd_model_summary *s)
{
    fputs("{\"file\":", f);
    qfd_json_str(f, path);
    fprintf(f, ",\"ir_version\":%" PRId64 ",\"producer\":{\"name\":", s->ir_version);
    qfd_json_str(f, s->producer_name);
    fputs(",\"version\":", f);
    qfd_json_str(f, s->producer_version);
    fputs("},\"opsets\":[", f);
    for (size_t i = 0; i < s->n_opsets; i++) {
        fputs(i ? ",{\"domain\":" : "{\"domain\":", f);
        qfd_json_str(f, s->opsets[i].domain);
        fprintf(f, ",\"version\":%" PRId64 "}", s->opsets[i].version);
    }
    fputs("],\"graph_name\":", f);
    qfd_json_str(f, s->graph_name);
    fputs(",\"inputs\":", f);
    json_values(f, s->inputs, s->n_inputs);
    fputs(",\"outputs\":", f);
    json_values(f, s->outputs, s->n_outputs);
    fputs(",\"feature\":", f);
    if (s->feature)
        json_value(f, s->feature);
    else
        fputs("null", f);
    fputs(",\"metadata\":{", f);
    for (size_t i = 0; i < s->n_metadata; i++) {
        if (i)
            fputc(',', f);
        qfd_json_str(f, s->metadata_keys[i]);
        fputc(':', f);
        qfd_json_str(f, s->metadata_values[i]);
    }
    fprintf(f, "},\"nodes\":%" PRId64 ",\"ops\":[", s->n_nodes);
    for (size_t i = 0; i < s->n_ops; i++) {
        fputs(i ? ",{\"op_type\":" : "{\"op_type\":", f);
        qfd_json_str(f, s->ops[i].op_type);
        fputs(",\"domain\":", f);
        qfd_json_str(f, s->ops[i].domain);
        fprintf(f, ",\"count\":%" PRId64 "}", s->ops[i].count);
    }
    fprintf(f,
            "],\"initializers\":%" PRId64 ",\"parameters\":%" PRId64 ",\"parameter_bytes\":%" PRId64
            ",\"subgraphs\":%" PRId64 ",\"quantized\":%s,\"qdq_nodes\":%" PRId64 ",\"quant_types\":[",
            s->n_initializers, s->n_params, s->param_bytes, s->n_subgraphs, s->n_qdq_nodes ? "true" : "false",
            s->n_qdq_nodes);
    for (size_t i = 0; i < s->n_qtypes; i++) {
        fputs(i ? ",{\"dtype\":" : "{\"dtype\":", f);
        qfd_json_str(f, s->qtypes[i].dtype);
        fprintf(f, ",\"bits\":%d,\"count\":%" PRId64 "}", s->qtypes[i].bits, s->qtypes[i].count);
    }
    fputs("],\"quant\":", f);
    print_json_quant(f, s);
    fputs("}\n", f);
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    const char *path;
    int json = 0;
    qfd_flag flags[] = {QFD_FLAG_SWITCH("--json", &json)};
    int rc = qfd_cli_parse(&qfd_cmd_info, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, 1);
    if (rc != QFD_CLI_GO)
        return rc;
    qfd_model *m;
    qfd_model_summary *s = NULL;
    qfd_status st = qfd_model_load(ctx, path, &m);
    if (st)
        return qfd_cli_fail(ctx, st);
    st = qfd_model_summarize(ctx, m, &s);
    if (!st)
        (json ? print_json : print_text)(stdout, path, s);
    qfd_model_summary_free(s);
    qfd_model_free(m);
    return st ? qfd_cli_fail(ctx, st) : QFD_EXIT_OK;
}

const qfd_cli_cmd qfd_cmd_info = {
    "info",
    "describe a model: inputs, outputs, opsets, ops, parameters, quantization",
    "usage: qfd-onnx info MODEL.onnx [--json]\n"
    "\n"
    "Loads and validates MODEL, then prints its inputs and outputs with element\n"
    "types and shapes (symbolic dimensions by name), IR version, opsets,\n"
    "producer, metadata, a histogram of op types, the parameter count and bytes\n"
    "of its initializers, and whether it is already quantized (QuantizeLinear /\n"
    "DequantizeLinear nodes, with the integer types they use).\n"
    "\n"
    "For a quantized file it shows the format (ort, int4, tensorrt; from the\n"
    "qfd.quant.format metadata quantize writes, else inferred from the Q/DQ\n"
    "types: int4/uint4 -> int4, uint8 activations -> ort, int8 only with zero\n"
    "points 0 -> tensorrt, anything else -> qdq), the opset, and the bits of\n"
    "every Conv, ConvTranspose, Gemm and MatMul (weight, input activation) or\n"
    "that it is float: from the qfd.quant.bits / qfd.quant.float metadata, else\n"
    "the bits its integers need (a Clip before a QuantizeLinear narrows an\n"
    "activation below its 8-bit container).\n"
    "\n"
    "It also names the classifier feature, the tensor that quantize distils:\n"
    "the input of the last Gemm or MatMul by a weight on the way to the first\n"
    "output (after GlobalAveragePool -> Flatten, the Flatten's output), with\n"
    "its shape when the graph declares it or the classifier's weight gives it\n"
    "(\"feature\": null in JSON when there is none to find).\n"
    "\n"
    "  --json       print the same as one JSON object on stdout\n"
    "  -h, --help   show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on a bad model, file or flag.\n",
    run,
};
