/* Tests of qfd-onnx check through its library API.
 *
 *   test_check cases FIXTURE_DIR CASES   every line of CASES (tests/check/cases.txt):
 *       the fixture, checked with the flags, raises exactly the rules listed;
 *       a "fail" line raises its rule, a "pass" line runs it and does not;
 *       every rule has at least one of each; the JSON is the same twice
 *   test_check readme README.md          every rule id appears in the README
 *   test_check testdata DATA_DIR EXPECTED   the quantized models of ONNX's backend
 *       test data (libonnx-testdata) give exactly the hand-reviewed findings of
 *       EXPECTED, with each target
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "qfd/qfd.h"

static size_t rule_index(const char *id)
{
    size_t n;
    const qfd_check_rule *r = qfd_check_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].id, id))
            return i;
    return n;
}

/* The JSON of a result, in memory (malloc'd). */
static char *json_of(const char *path, const qfd_check_opts *o, const qfd_check_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    qfd_check_write_json(f, path, o, r);
    fclose(f);
    return buf;
}

typedef struct cli_case {
    char rule[16], kind[8], fixture[256];
    qfd_check_opts o;
    const char *allow[4];
    char reference[512];
    /* expected: id and count (0: any count >= 1) */
    char ids[16][16];
    int counts[16], n_ids;
} cli_case;

/* Parses one line of cases.txt; 0 when it is a case, 1 to skip, -1 on error. */
static int parse_case(char *line, const char *dir, cli_case *k)
{
    char *tok[64];
    int n = 0;
    for (char *t = strtok(line, " \t\r\n"); t && n < 64; t = strtok(NULL, " \t\r\n"))
        tok[n++] = t;
    if (!n || tok[0][0] == '#')
        return 1;
    memset(k, 0, sizeof *k);
    k->o.max_drop = -1;
    int arrow = -1;
    for (int i = 0; i < n && arrow < 0; i++)
        if (!strcmp(tok[i], "=>"))
            arrow = i;
    if (arrow < 3)
        return -1;
    snprintf(k->rule, sizeof k->rule, "%s", tok[0]);
    snprintf(k->kind, sizeof k->kind, "%s", tok[1]);
    snprintf(k->fixture, sizeof k->fixture, "%s", tok[2]);
    int n_allow = 0;
    for (int i = 3; i < arrow; i++) {
        const char *f = tok[i], *v = i + 1 < arrow ? tok[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (!strcmp(f, "--target")) {
            k->o.target = v;
        } else if (!strcmp(f, "--expect")) {
            if (sscanf(v, "w%da%d", &k->o.expect_wbits, &k->o.expect_abits) < 1)
                return -1;
        } else if (!strcmp(f, "--allow-float") && n_allow < 4) {
            k->allow[n_allow++] = v;
        } else if (!strcmp(f, "--reference")) {
            snprintf(k->reference, sizeof k->reference, "%s/%s.onnx", dir, v);
            k->o.reference = k->reference;
        } else if (!strcmp(f, "--limit")) {
            k->o.limit = atoll(v);
        } else if (!strcmp(f, "--max-drop")) {
            k->o.max_drop = atof(v);
        } else {
            return -1;
        }
    }
    k->o.allow_float = k->allow;
    k->o.n_allow_float = (size_t)n_allow;
    for (int i = arrow + 1; i < n && k->n_ids < 16; i++) {
        if (!strcmp(tok[i], "-"))
            continue;
        char *star = strchr(tok[i], '*');
        k->counts[k->n_ids] = star ? atoi(star + 1) : 0;
        if (star)
            *star = 0;
        snprintf(k->ids[k->n_ids++], 16, "%s", tok[i]);
    }
    return 0;
}

static int run_cases(const char *dir, const char *cases)
{
    FILE *f = fopen(cases, "r");
    if (!f) {
        printf("FAIL: cannot open %s\n", cases);
        return 1;
    }
    size_t n_rules;
    const qfd_check_rule *rules = qfd_check_rules(&n_rules);
    int *pass = calloc(n_rules, sizeof *pass), *fail = calloc(n_rules, sizeof *fail);
    qfd_ctx *ctx = qfd_ctx_new();
    char line[2048];
    int lineno = 0, n_cases = 0;
    while (pass && fail && ctx && fgets(line, sizeof line, f)) {
        lineno++;
        cli_case k;
        char copy[2048];
        snprintf(copy, sizeof copy, "%s", line);
        int pr = parse_case(line, dir, &k);
        if (pr > 0)
            continue;
        if (pr < 0) {
            FAIL("%s:%d: cannot parse: %s", cases, lineno, copy);
            continue;
        }
        n_cases++;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.onnx", dir, k.fixture);
        qfd_check_result r;
        if (qfd_check_file(ctx, path, &k.o, &r)) {
            FAIL("%s:%d: %s: %s", cases, lineno, k.fixture, qfd_ctx_error(ctx));
            continue;
        }
        /* the rules raised, with counts, against the expected ones */
        int got[128] = {0};
        for (size_t i = 0; i < r.n_findings; i++)
            got[rule_index(r.findings[i].rule->id)]++;
        int want[128] = {0}, exact[128] = {0};
        for (int i = 0; i < k.n_ids; i++) {
            size_t ri = rule_index(k.ids[i]);
            if (ri >= n_rules) {
                FAIL("%s:%d: unknown rule %s", cases, lineno, k.ids[i]);
                continue;
            }
            want[ri] = 1;
            exact[ri] = k.counts[i];
        }
        for (size_t i = 0; i < n_rules; i++) {
            if (want[i] && !got[i])
                FAIL("%s:%d: %s: %s expected, not raised", cases, lineno, k.fixture, rules[i].id);
            else if (!want[i] && got[i])
                FAIL("%s:%d: %s: %s raised %d times, not expected", cases, lineno, k.fixture, rules[i].id, got[i]);
            else if (exact[i] && got[i] != exact[i])
                FAIL("%s:%d: %s: %s raised %d times, expected %d", cases, lineno, k.fixture, rules[i].id, got[i],
                     exact[i]);
        }
        size_t ri = rule_index(k.rule);
        if (strcmp(k.rule, "-") && ri >= n_rules) {
            FAIL("%s:%d: unknown rule %s", cases, lineno, k.rule);
        } else if (!strcmp(k.kind, "fail") && ri < n_rules) {
            if (!got[ri])
                FAIL("%s:%d: %s should fail %s", cases, lineno, k.fixture, k.rule);
            fail[ri]++;
        } else if (!strcmp(k.kind, "pass") && ri < n_rules) {
            if (got[ri] || r.rules[ri].skipped)
                FAIL("%s:%d: %s should run %s and pass it (%s)", cases, lineno, k.fixture, k.rule,
                     r.rules[ri].skipped ? r.rules[ri].skipped : "it raised findings");
            pass[ri]++;
        }
        /* exit code semantics: errors only from error rules */
        int64_t errors = 0;
        for (size_t i = 0; i < r.n_findings; i++)
            errors += r.findings[i].rule->severity == QFD_CHECK_ERROR;
        if (errors != r.n_errors)
            FAIL("%s:%d: %lld errors counted, %lld found", cases, lineno, (long long)r.n_errors, (long long)errors);
        /* the same file and options: the same JSON */
        char *a = json_of(path, &k.o, &r);
        qfd_check_result r2;
        char *b = NULL;
        if (!qfd_check_file(ctx, path, &k.o, &r2)) {
            b = json_of(path, &k.o, &r2);
            qfd_check_result_free(&r2);
        }
        if (!a || !b || strcmp(a, b))
            FAIL("%s:%d: %s: the JSON differs between two runs", cases, lineno, k.fixture);
        free(a);
        free(b);
        qfd_check_result_free(&r);
    }
    for (size_t i = 0; pass && fail && i < n_rules; i++) {
        if (!pass[i])
            FAIL("rule %s has no passing fixture in %s", rules[i].id, cases);
        if (!fail[i])
            FAIL("rule %s has no failing fixture in %s", rules[i].id, cases);
    }
    printf("%d cases, %zu rules\n", n_cases, n_rules);
    free(pass);
    free(fail);
    qfd_ctx_free(ctx);
    fclose(f);
    return qfd_test_failures ? 1 : 0;
}

static int run_readme(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("FAIL: cannot open %s\n", path);
        return 1;
    }
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    size_t n;
    const qfd_check_rule *r = qfd_check_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (!strstr(text, r[i].id))
            FAIL("rule %s is not in %s", r[i].id, path);
    printf("%zu rules looked up in %s\n", n, path);
    return qfd_test_failures ? 1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The quantized cases of ONNX's backend tests: node/test_* whose name says so. */
static int testdata_models(const char *dir, char ***out)
{
    char node_dir[1024];
    snprintf(node_dir, sizeof node_dir, "%s/node", dir);
    DIR *d = opendir(node_dir);
    if (!d)
        return -1;
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *s = e->d_name;
        if (strncmp(s, "test_", 5) || !(strstr(s, "quantize") || strstr(s, "qlinear") || strstr(s, "integer")))
            continue;
        char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(s))) {
            free(nn ? nn : names);
            closedir(d);
            return -1;
        }
        names = nn;
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static int run_testdata(const char *dir, const char *expected)
{
    char **models = NULL;
    int n = testdata_models(dir, &models);
    if (n <= 0) {
        printf("FAIL: no quantized backend test models under %s/node (install libonnx-testdata)\n", dir);
        return 1;
    }
    /* the actual findings, one line each, as EXPECTED writes them */
    char *actual = NULL;
    size_t alen = 0;
    FILE *a = open_memstream(&actual, &alen);
    qfd_ctx *ctx = qfd_ctx_new();
    static const char *const targets[] = {"any", "ort", "tensorrt"};
    for (int i = 0; i < n && a && ctx; i++)
        for (int t = 0; t < 3; t++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/node/%s/model.onnx", dir, models[i]);
            qfd_check_opts o = {.target = targets[t], .max_drop = -1};
            qfd_check_result r;
            if (qfd_check_file(ctx, path, &o, &r)) {
                FAIL("%s: %s", models[i], qfd_ctx_error(ctx));
                continue;
            }
            if (!r.n_findings)
                fprintf(a, "%s %s -\n", models[i], targets[t]);
            for (size_t k = 0; k < r.n_findings; k++) {
                const qfd_check_finding *x = &r.findings[k];
                char node[256];
                if (x->node)
                    snprintf(node, sizeof node, "%s", x->node);
                else if (x->node_index >= 0)
                    snprintf(node, sizeof node, "%s#%lld", x->op, (long long)x->node_index);
                else
                    snprintf(node, sizeof node, "-");
                fprintf(a, "%s %s %s %s %s\n", models[i], targets[t], x->rule->id, node, x->tensor ? x->tensor : "-");
            }
            qfd_check_result_free(&r);
        }
    if (a)
        fclose(a);
    qfd_ctx_free(ctx);
    /* EXPECTED without its comments and blank lines */
    FILE *e = fopen(expected, "r");
    char *want = NULL;
    size_t wlen = 0;
    FILE *w = open_memstream(&want, &wlen);
    char line[1024];
    while (e && w && fgets(line, sizeof line, e))
        if (line[0] != '#' && line[0] != '\n')
            fputs(line, w);
    if (w)
        fclose(w);
    if (!e)
        FAIL("cannot open %s", expected);
    else
        fclose(e);
    if (actual && want && strcmp(actual, want)) {
        FAIL("the findings on ONNX's quantized backend tests differ from %s; they are now:", expected);
        fputs(actual, stdout);
    }
    printf("%d models x 3 targets\n", n);
    for (int i = 0; i < n; i++)
        free(models[i]);
    free(models);
    free(actual);
    free(want);
    return qfd_test_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "cases"))
        return run_cases(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "readme"))
        return run_readme(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "testdata"))
        return run_testdata(argv[2], argv[3]);
    fprintf(stderr, "usage: %s cases FIXTURE_DIR CASES | readme README.md | testdata DATA_DIR EXPECTED\n", argv[0]);
    return 2;
}
