/* qfd-onnx check MODEL: the rules of qfd_check_file, for a CI job. The one
 * command whose exit 1 means "a rule failed" (3 is its internal failure). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

enum { CHECK_EXIT_FAIL = 1, CHECK_EXIT_INTERNAL = 3 };

static int exit_code(qfd_status st)
{
    return st == QFD_ERR_NOMEM || st == QFD_ERR_INTERNAL ? CHECK_EXIT_INTERNAL : QFD_EXIT_BAD_INPUT;
}

static int fail(qfd_ctx *ctx, qfd_status st)
{
    fprintf(stderr, "qfd-onnx: error: %s%s\n", qfd_ctx_error(ctx),
            st == QFD_ERR_LIMIT ? " (see --max-memory in 'qfd-onnx --help')" : "");
    return exit_code(st);
}

/* "w4a8" or "w4" (weights only): 0, or -1 when malformed. */
static int parse_expect(const char *s, int *w, int *a)
{
    char *end;
    if (s[0] != 'w' || !isdigit((unsigned char)s[1]))
        return -1;
    long wb = strtol(s + 1, &end, 10), ab = 0;
    if (*end == 'a') {
        if (!isdigit((unsigned char)end[1]))
            return -1;
        ab = strtol(end + 1, &end, 10);
        if (ab < 2 || ab > 16)
            return -1;
    }
    if (*end || wb < 2 || wb > 16)
        return -1;
    *w = (int)wb;
    *a = (int)ab;
    return 0;
}

static int list_rules(int json)
{
    size_t n;
    const qfd_check_rule *rules = qfd_check_rules(&n);
    if (json)
        fputs("{\"rules\":[", stdout);
    for (size_t i = 0; i < n; i++) {
        const qfd_check_rule *r = &rules[i];
        const char *sev = r->severity == QFD_CHECK_ERROR ? "error" : "warning";
        if (json) {
            printf("%s{\"id\":\"%s\",\"severity\":\"%s\",\"target\":\"%s\",\"claims_float\":%s,\"title\":",
                   i ? "," : "", r->id, sev, r->target, r->claims_float ? "true" : "false");
            qfd_json_str(stdout, r->title);
            putchar('}');
        } else {
            printf("%s  %-7s  %-8s  %s\n", r->id, sev, r->target, r->title);
        }
    }
    if (json)
        fputs("]}\n", stdout);
    return QFD_EXIT_OK;
}

static const char *format_text(const char *format)
{
    if (!strcmp(format, "qdq"))
        return "QDQ (QuantizeLinear/DequantizeLinear)";
    if (!strcmp(format, "qoperator"))
        return "QOperator (ONNX Runtime's QLinearConv and friends): the Q/DQ pair rules do not apply; scales, zero "
               "points and weights are checked on the integer ops";
    if (!strcmp(format, "dynamic"))
        return "dynamic quantization (DynamicQuantizeLinear, MatMulInteger, ...): activations are quantized at run "
               "time, the weight rules apply";
    if (!strcmp(format, "float"))
        return "not quantized (no Q/DQ or integer op)";
    return format; /* mixed: "qdq+qoperator", ... */
}

/* "QDQ012 x2, ORT004 x5" for the rules with findings of severity sev. */
static void counts(const qfd_check_result *r, qfd_check_severity sev)
{
    size_t n;
    const qfd_check_rule *rules = qfd_check_rules(&n);
    int first = 1;
    for (size_t i = 0; i < n; i++)
        if (rules[i].severity == sev && r->rules[i].findings) {
            printf("%s%s x%" PRId64, first ? " (" : ", ", rules[i].id, r->rules[i].findings);
            first = 0;
        }
    if (!first)
        putchar(')');
}

static void print_text(const char *path, const qfd_check_opts *o, const qfd_check_result *r)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        const qfd_check_finding *f = &r->findings[i];
        printf("%s: %s %s: %s\n", path, f->rule->id, f->rule->severity == QFD_CHECK_ERROR ? "error" : "warning",
               f->message);
    }
    printf("%s: %s, opset %" PRId64, path, format_text(r->format), r->opset);
    if (r->qfd_format)
        printf(", written by qfd-onnx for '%s'", r->qfd_format);
    printf("; %zu layer%s: %" PRId64 " quantized, %" PRId64 " allowed float, %" PRId64 " float\n", r->n_layers,
           r->n_layers == 1 ? "" : "s", r->n_quantized, r->n_allowed_float, r->n_float);
    if (r->has_numbers)
        printf("%s: top-1 %.2f%% against the reference's %.2f%% on %" PRId64 " images (drop %.2f points, at most "
               "%.2f); predictions agree on %.2f%%, largest logit difference %.4g\n",
               path, 100 * r->top1, 100 * r->reference_top1, r->n_images, r->drop_points,
               o->max_drop >= 0 ? o->max_drop : 1.0, 100 * r->agreement, r->max_logit_diff);
    size_t n_rules, ran = 0;
    qfd_check_rules(&n_rules);
    for (size_t i = 0; i < n_rules; i++)
        ran += !r->rules[i].skipped;
    printf("%s: %s: %" PRId64 " error%s", path, r->n_errors ? "FAIL" : "PASS", r->n_errors,
           r->n_errors == 1 ? "" : "s");
    counts(r, QFD_CHECK_ERROR);
    printf(", %" PRId64 " warning%s", r->n_warnings, r->n_warnings == 1 ? "" : "s");
    counts(r, QFD_CHECK_WARNING);
    printf("; %zu of %zu rules ran (target %s)\n", ran, n_rules, r->target);
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    qfd_check_opts o = {.max_drop = -1};
    const char *path = NULL, *expect = NULL, *junit = NULL;
    int json = 0, rules = 0, max_drop_given = 0;
    float max_drop = 1.0f;
    qfd_cli_list allow = {0};
    qfd_flag flags[] = {
        QFD_FLAG_STRING("--expect", &expect),
        QFD_FLAG_CHOICE("--target", &o.target, "any|ort|tensorrt"),
        QFD_FLAG_LIST("--allow-float", &allow),
        QFD_FLAG_STRING("--reference", &o.reference),
        QFD_DATA_FLAGS(&o.data, &o.image, o.mean, &o.n_mean, o.std, &o.n_std),
        QFD_FLAG_INT64("--limit", &o.limit, 1, INFINITY),
        QFD_FLAG_FLOAT("--max-drop", &max_drop, 0, 100, QFD_CLOSED),
        QFD_FLAG_INT("--threads", &o.n_threads, 1, 256),
        QFD_FLAG_SWITCH("--json", &json),
        QFD_FLAG_STRING("--junit", &junit),
        QFD_FLAG_SWITCH("--rules", &rules),
    };
    /* --rules lists the rules and takes no MODEL */
    int wants_rules = 0;
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
        wants_rules |= !strcmp(argv[i], "--rules");
    int rc = qfd_cli_parse(&qfd_cmd_check, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, wants_rules ? 0 : 1);
    o.allow_float = allow.items;
    o.n_allow_float = (size_t)allow.n;
    if (rc != QFD_CLI_GO)
        goto done;
    if (rules) {
        rc = list_rules(json);
        goto done;
    }
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
        max_drop_given |= !strcmp(argv[i], "--max-drop") || !strncmp(argv[i], "--max-drop=", 11);
    o.max_drop = max_drop;
    rc = QFD_EXIT_BAD_INPUT;
    if (expect && parse_expect(expect, &o.expect_wbits, &o.expect_abits)) {
        rc = qfd_cli_usage_error(&qfd_cmd_check, "--expect needs wNaM or wN with bits in 2..16 (w4a8, w8), got '%s'",
                                 expect);
        goto done;
    }
    if (!o.reference && (o.data || o.limit || max_drop_given || o.n_mean || o.n_std || o.image.resize || o.image.crop ||
                         o.image.on_bad_image)) {
        rc = qfd_cli_usage_error(&qfd_cmd_check, "--data, --limit, --max-drop, --mean, --std and the image flags need "
                                                 "--reference");
        goto done;
    }
    if (o.n_mean != o.n_std) {
        rc = qfd_cli_usage_error(&qfd_cmd_check, "--mean and --std must be given together, with as many values");
        goto done;
    }
    qfd_status st = junit ? qfd_output_check(ctx, junit) : QFD_OK;
    qfd_check_result r;
    memset(&r, 0, sizeof r);
    if (!st)
        st = qfd_check_file(ctx, path, &o, &r);
    if (!st && junit)
        st = qfd_check_write_junit(ctx, junit, path, &r);
    if (st) {
        qfd_check_result_free(&r);
        rc = fail(ctx, st);
        goto done;
    }
    qfd_cli_warn_skipped(r.n_skipped, "");
    if (json)
        qfd_check_write_json(stdout, path, &o, &r);
    else
        print_text(path, &o, &r);
    rc = r.n_errors ? CHECK_EXIT_FAIL : QFD_EXIT_OK;
    qfd_check_result_free(&r);
done:
    free(allow.items);
    return rc;
}

const qfd_cli_cmd qfd_cmd_check = {
    "check",
    "validate a quantized ONNX file (any exporter) against rules for CI",
    "usage: qfd-onnx check MODEL.onnx [--expect wNaM] [--target ort|tensorrt|any]\n"
    "                      [--allow-float GLOB]... [--reference FP32.onnx [--data PATH]\n"
    "                      [--limit N] [--max-drop POINTS]] [--json] [--junit FILE]\n"
    "       qfd-onnx check --rules [--json]\n"
    "\n"
    "Checks a quantized ONNX file, whoever exported it (qfd-onnx, ONNX Runtime's\n"
    "quantizer, ModelOpt, a PyTorch export with Q/DQ), against rules with stable\n"
    "ids: the graph and its opsets, every Conv/ConvTranspose/Gemm/MatMul input\n"
    "quantized, scales, zero points and axes, weight integers within the bits,\n"
    "Q/DQ pairs, int32 bias scales, placement hazards; with --target, what that\n"
    "runtime refuses or runs in float. QOperator files (QLinearConv, ...) and\n"
    "dynamically quantized files (DynamicQuantizeLinear, MatMulInteger) are\n"
    "recognised and checked with the rules that apply to them. Prints one line\n"
    "per finding (file: ID severity: node, tensor, message), then a summary.\n"
    "\n"
    "  --expect wNaM      every layer's weight and activation bits (w4a4, w4a8; wN:\n"
    "                     weights only, activations may stay float); the file's\n"
    "                     qfd metadata (qfd.quant.bits) overrides it per layer.\n"
    "                     Without either, the bit rules (QDQ012, QDQ013) are skipped\n"
    "  --target T         any (default): the rules every runtime needs; ort: also\n"
    "                     ONNX Runtime's CPU provider (warns, with the reason, where\n"
    "                     a layer will run in float; errors where the file will not\n"
    "                     load); tensorrt: also TensorRT's explicit quantization\n"
    "                     (errors for what it refuses, warnings for its placement advice)\n"
    "  --allow-float GLOB layers allowed to stay float: a shell pattern on node names\n"
    "                     or op types, as quantize --skip (repeatable). Layers the\n"
    "                     qfd metadata lists in qfd.quant.float are allowed too\n"
    "  --reference FP32   the model before quantization: both run on --data with\n"
    "                     qfd-onnx's executor; fails (NUM001) when top-1 drops more\n"
    "                     than --max-drop percentage points (default 1.0)\n"
    "  --data PATH        labelled test data as for eval (default: Fashion-MNIST)\n"
    "  --limit N          the first N test images\n"
    "  --resize N --crop M --on-bad-image A\n"
    "                     image files as --data: preprocessing as for eval\n"
    "  --mean M --std S   input normalization (default: the quantized file's qfd.mean/\n"
    "                     qfd.std metadata, else the reference's)\n"
    "  --threads T        CPU threads for --reference (default: all cores)\n"
    "  --json             print one JSON object instead (findings, counts, numbers);\n"
    "                     the same file and flags give the same bytes\n"
    "  --junit FILE       also write a JUnit XML report, one testcase per rule\n"
    "  --rules            list every rule: id, severity, target, meaning\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status (check differs from the other commands):\n"
    "  0  no rule failed (warnings may have been printed)\n"
    "  1  a rule failed: at least one error finding\n"
    "  2  the file cannot be read, a flag is wrong, or --reference/--data cannot be used\n"
    "  3  internal failure (out of memory)\n",
    run,
};
