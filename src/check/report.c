/* check's machine-readable reports: one JSON object (the same bytes for the
 * same file and options: no times, no absolute paths but the ones given)
 * and a JUnit XML file with one testcase per rule, for CI systems that
 * show test reports. */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "core/atomic.h"

static const char *severity_name(qfd_check_severity s)
{
    return s == QFD_CHECK_ERROR ? "error" : "warning";
}

/* "pass", "fail" (errors), "warn" (warnings only) or "skipped". */
static const char *rule_state(const qfd_check_rule *rule, const qfd_check_rule_status *s)
{
    if (s->skipped)
        return "skipped";
    if (!s->findings)
        return "pass";
    return rule->severity == QFD_CHECK_ERROR ? "fail" : "warn";
}

void qfd_check_write_json(FILE *f, const char *path, const qfd_check_opts *o, const qfd_check_result *r)
{
    size_t n_rules;
    const qfd_check_rule *rules = qfd_check_rules(&n_rules);
    fputs("{\"file\":", f);
    qfd_json_str(f, path);
    fprintf(f, ",\"target\":\"%s\",\"format\":", r->target);
    qfd_json_str(f, r->format);
    fputs(",\"qfd_format\":", f);
    qfd_json_str(f, r->qfd_format);
    fprintf(f,
            ",\"ir_version\":%lld,\"opset\":%lld,\"nodes\":%lld,\"layer_counts\":{\"total\":%zu,\"quantized\":%lld,"
            "\"allowed_float\":%lld,\"float\":%lld},\"expect\":",
            (long long)r->ir_version, (long long)r->opset, (long long)r->n_nodes, r->n_layers,
            (long long)r->n_quantized, (long long)r->n_allowed_float, (long long)r->n_float);
    if (o && o->expect_wbits > 0 && o->expect_abits > 0)
        fprintf(f, "\"w%da%d\"", o->expect_wbits, o->expect_abits);
    else if (o && o->expect_wbits > 0)
        fprintf(f, "\"w%d\"", o->expect_wbits);
    else
        fputs("null", f);
    fprintf(f, ",\"result\":\"%s\",\"errors\":%lld,\"warnings\":%lld,\"counts\":{", r->n_errors ? "fail" : "pass",
            (long long)r->n_errors, (long long)r->n_warnings);
    int first = 1;
    for (size_t i = 0; i < n_rules && r->rules; i++)
        if (r->rules[i].findings) {
            fprintf(f, "%s\"%s\":%lld", first ? "" : ",", rules[i].id, (long long)r->rules[i].findings);
            first = 0;
        }
    fputs("},\"rules\":[", f);
    for (size_t i = 0; i < n_rules && r->rules; i++) {
        fprintf(f, "%s{\"id\":\"%s\",\"severity\":\"%s\",\"status\":\"%s\",\"findings\":%lld", i ? "," : "",
                rules[i].id, severity_name(rules[i].severity), rule_state(&rules[i], &r->rules[i]),
                (long long)r->rules[i].findings);
        if (r->rules[i].skipped) {
            fputs(",\"skipped\":", f);
            qfd_json_str(f, r->rules[i].skipped);
        }
        fputc('}', f);
    }
    fputs("],\"layers\":[", f);
    for (size_t i = 0; i < r->n_layers; i++) {
        const qfd_check_layer *L = &r->layers[i];
        fprintf(f, "%s{\"node\":", i ? "," : "");
        qfd_json_str(f, L->node);
        fputs(",\"op\":", f);
        qfd_json_str(f, L->op);
        fprintf(f, ",\"status\":\"%s\",\"bits\":", L->status);
        if (L->wbits && L->abits)
            fprintf(f, "\"w%da%d\"", L->wbits, L->abits);
        else if (L->wbits)
            fprintf(f, "\"w%d\"", L->wbits);
        else
            fputs("null", f);
        fputs(",\"bits_from\":", f);
        qfd_json_str(f, L->bits_from);
        fputc('}', f);
    }
    fputs("],\"findings\":[", f);
    for (size_t i = 0; i < r->n_findings; i++) {
        const qfd_check_finding *x = &r->findings[i];
        fprintf(f, "%s{\"rule\":\"%s\",\"severity\":\"%s\",\"node\":", i ? "," : "", x->rule->id,
                severity_name(x->rule->severity));
        qfd_json_str(f, x->node);
        fputs(",\"op\":", f);
        qfd_json_str(f, x->op);
        fputs(",\"tensor\":", f);
        qfd_json_str(f, x->tensor);
        fputs(",\"message\":", f);
        qfd_json_str(f, x->message);
        fputc('}', f);
    }
    fputs("],\"numbers\":", f);
    if (!r->has_numbers) {
        fputs("null", f);
    } else {
        fputs("{\"reference\":", f);
        qfd_json_str(f, o ? o->reference : NULL);
        fputs(",\"data\":", f);
        qfd_json_str(f, o && o->data ? o->data : "fashion-mnist (Debian dataset-fashion-mnist)");
        fprintf(f,
                ",\"images\":%lld,\"skipped_images\":%lld,\"reference_top1\":%.6f,\"top1\":%.6f,"
                "\"drop_points\":%.4f,\"max_drop_points\":%.4f,\"agreement\":%.6f,\"max_logit_diff\":%.6g}",
                (long long)r->n_images, (long long)r->n_skipped, r->reference_top1, r->top1, r->drop_points,
                o && o->max_drop >= 0 ? o->max_drop : 1.0, r->agreement, r->max_logit_diff);
    }
    fputs("}\n", f);
}

static void xml_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 has no place for other control characters */
            if (*p < 0x20 && *p != '\n' && *p != '\t')
                fputc('?', f);
            else
                fputc(*p, f);
        }
    }
}

static void findings_text(FILE *f, const qfd_check_result *r, size_t rule)
{
    for (size_t k = 0; k < r->n_findings; k++)
        if ((size_t)(r->findings[k].rule - chk_rule_table) == rule) {
            xml_text(f, r->findings[k].message);
            fputc('\n', f);
        }
}

static void junit_body(FILE *f, const char *model, const qfd_check_result *r)
{
    size_t n_rules, failures = 0, skipped = 0;
    const qfd_check_rule *rules = qfd_check_rules(&n_rules);
    for (size_t i = 0; i < n_rules; i++) {
        failures += !r->rules[i].skipped && r->rules[i].findings && rules[i].severity == QFD_CHECK_ERROR;
        skipped += r->rules[i].skipped != NULL;
    }
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"qfd-onnx check\">\n", f);
    fputs("  <testsuite name=\"qfd-onnx check ", f);
    xml_text(f, model);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n", n_rules, failures, skipped);
    fputs("    <properties>\n      <property name=\"target\" value=\"", f);
    xml_text(f, r->target);
    fputs("\"/>\n      <property name=\"format\" value=\"", f);
    xml_text(f, r->format);
    fputs("\"/>\n    </properties>\n", f);
    for (size_t i = 0; i < n_rules; i++) {
        fputs("    <testcase classname=\"qfd-onnx.check.", f);
        xml_text(f, base);
        fprintf(f, "\" name=\"%s ", rules[i].id);
        xml_text(f, rules[i].title);
        fputs("\">", f);
        if (r->rules[i].skipped) {
            fputs("<skipped message=\"", f);
            xml_text(f, r->rules[i].skipped);
            fputs("\"/>", f);
        } else if (r->rules[i].findings && rules[i].severity == QFD_CHECK_ERROR) {
            fprintf(f, "<failure type=\"%s\" message=\"%lld finding%s\">", rules[i].id, (long long)r->rules[i].findings,
                    r->rules[i].findings == 1 ? "" : "s");
            findings_text(f, r, i);
            fputs("</failure>", f);
        } else if (r->rules[i].findings) {
            fputs("<system-out>", f);
            findings_text(f, r, i);
            fputs("</system-out>", f);
        }
        fputs("</testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
}

qfd_status qfd_check_write_junit(qfd_ctx *ctx, const char *out_path, const char *model_path, const qfd_check_result *r)
{
    qfd_atomic a;
    qfd_status st = qfd_atomic_open(ctx, out_path, &a);
    if (st)
        return st;
    junit_body(a.f, model_path, r);
    return qfd_atomic_commit(ctx, &a);
}
