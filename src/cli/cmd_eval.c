/* qfd-onnx eval MODEL: accuracy on a labelled test set. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "core/proc.h"

typedef struct progress {
    double start, last;
    int tty;
} progress;

/* Quiet for the first two seconds, then one line a second (one updated
 * line on a terminal). */
static void on_progress(void *user, int64_t done, int64_t total)
{
    progress *p = user;
    double t = qfd_now();
    if (t - p->start < 2.0 || (t - p->last < 1.0 && done < total))
        return;
    p->last = t;
    double rate = (double)done / (t - p->start);
    fprintf(stderr, "%seval: %" PRId64 "/%" PRId64 " images, %.0f img/s, ETA %.0fs%s", p->tty ? "\r" : "", done, total,
            rate, rate > 0 ? (double)(total - done) / rate : 0.0, p->tty ? (done == total ? "\n" : "") : "\n");
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    qfd_eval_opts o = {0};
    const char *path;
    int json = 0, no_fold = 0, profile = 0, quiet = 0;
    const char *dump = NULL;
    char *dump_tmp = NULL;
    qfd_flag flags[] = {
        QFD_FLAG_SWITCH("--json", &json),
        QFD_FLAG_SWITCH("-q|--quiet", &quiet),
        QFD_FLAG_SWITCH("--no-fold", &no_fold),
        QFD_FLAG_SWITCH("--profile", &profile),
        QFD_FLAG_STRING("--dump-logits", &dump),
        QFD_DATA_FLAGS(&o.data, &o.image, o.mean, &o.n_mean, o.std, &o.n_std),
        QFD_FLAG_INT64("--limit", &o.limit, 1, INFINITY),
        QFD_FLAG_INT("--batch", &o.batch, 1, 4096),
        QFD_FLAG_INT("--threads", &o.n_threads, 1, 256),
    };
    int rc = qfd_cli_parse(&qfd_cmd_eval, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, 1);
    if (rc != QFD_CLI_GO)
        return rc;
    int fold = !no_fold;
    if (profile)
        o.profile = stderr;
    if ((rc = qfd_cli_data_check(&qfd_cmd_eval, o.n_mean, o.n_std)) != QFD_CLI_GO)
        return rc;
    progress p = {qfd_now(), 0, isatty(2)};
    o.progress = quiet ? NULL : on_progress;
    o.user = &p;
    qfd_model *m;
    qfd_status st = qfd_model_load(ctx, path, &m);
    if (st)
        return qfd_cli_fail(ctx, st);
    qfd_eval_result r;
    int folded, fused;
    st = fold ? qfd_model_fold_batchnorm(ctx, m, &folded) : QFD_OK;
    if (!st && fold)
        st = qfd_model_fuse_activations(ctx, m, &fused);
    if (!st && dump && !(o.logits = qfd_cli_create(dump, &dump_tmp))) {
        qfd_model_free(m);
        return QFD_EXIT_BAD_INPUT;
    }
    if (!st)
        st = qfd_model_evaluate(ctx, m, &o, &r);
    qfd_model_free(m);
    if (o.logits && qfd_cli_commit(o.logits, dump_tmp, dump, !st) && !st)
        return QFD_EXIT_BAD_INPUT;
    if (st)
        return qfd_cli_fail(ctx, st);
    qfd_cli_warn_skipped(r.skipped, "");
    if (r.n_nonfinite)
        fprintf(stderr,
                "qfd-onnx: warning: %s: the logits of %" PRId64 " of %" PRId64
                " images hold NaN or Inf; they count as wrong predictions\n",
                path, r.n_nonfinite, r.n);
    if (json) {
        printf("{\"model\":");
        qfd_json_str(stdout, path);
        printf(",\"data\":");
        qfd_json_str(stdout, o.data ? o.data : "fashion-mnist (Debian dataset-fashion-mnist)");
        printf(",\"n\":%" PRId64 ",\"classes\":%" PRId64 ",\"top1\":%.6f,\"top5\":%.6f,\"nonfinite\":%" PRId64
               ",\"skipped\":%" PRId64
               ",\"seconds\":%.3f,\"images_per_second\":%.1f,\"normalization\":{\"source\":\"%s\",\"mean\":[",
               r.n, r.classes, r.top1, r.top5, r.n_nonfinite, r.skipped, r.seconds,
               r.seconds > 0 ? (double)r.n / r.seconds : 0.0, r.norm_source);
        for (int i = 0; i < r.n_norm; i++)
            printf("%s%g", i ? "," : "", r.mean[i]);
        printf("],\"std\":[");
        for (int i = 0; i < r.n_norm; i++)
            printf("%s%g", i ? "," : "", r.std[i]);
        printf("]}}\n");
    } else {
        printf("%s: top-1 %.2f%%, top-5 %.2f%% on %" PRId64 " images (%.1fs, %.0f img/s; normalization: %s)\n", path,
               100 * r.top1, 100 * r.top5, r.n, r.seconds, r.seconds > 0 ? (double)r.n / r.seconds : 0.0,
               r.norm_source);
    }
    return QFD_EXIT_OK;
}

const qfd_cli_cmd qfd_cmd_eval = {
    "eval",
    "top-1/top-5 accuracy of a classifier on a labelled test set",
    "usage: qfd-onnx eval MODEL.onnx [--data PATH] [--limit N] [--batch B]\n"
    "                     [--resize N --crop M] [--mean M --std S] [--threads T]\n"
    "                     [--json] [--profile]\n"
    "\n"
    "Runs MODEL on the test split of a labelled dataset and reports top-1 and\n"
    "top-5 accuracy. The model takes one image batch [N,C,H,W] and returns\n"
    "logits [N,classes].\n"
    "\n"
    "  --data PATH    folder of MNIST-style IDX files (t10k-images-idx3-ubyte[.gz],\n"
    "                 t10k-labels-idx1-ubyte[.gz]) or a .npz with x/y arrays\n"
    "                 (x_test/y_test preferred). Default: Fashion-MNIST from\n"
    "                 Debian's dataset-fashion-mnist. uint8 pixels are scaled to [0,1].\n"
    "                 x holds images: [N,H,W] gains a channel axis, uint8 [N,H,W,C]\n"
    "                 with C 1 or 3 is read as channels-last and transposed to\n"
    "                 [N,C,H,W], other [N,C,H,W] arrays are used as they are.\n"
    "                 Image files: a folder DIR/<class>/*.jpg|jpeg|png (classes in\n"
    "                 sorted order; DIR/val or DIR/test used when present), a list\n"
    "                 file of 'path label' lines, or CIFAR-10/100 binary batches\n"
    "                 (test_batch.bin / test.bin); see README 'Data'\n"
    "  --limit N      use the first N test examples\n"
    "  --batch B      images per run (default 64, at most 4096)\n"
    "  --mean M --std S\n"
    "                 normalization x' = (x - M) / S, one value or one per channel\n"
    "                 (comma-separated). Default: the model's metadata qfd.mean /\n"
    "                 qfd.std, else none.\n" QFD_IMAGE_FLAGS_HELP
    "  --threads T    CPU threads (default: all cores, at most 256)\n"
    "  --no-fold      run the graph as written (default: BatchNormalization\n"
    "                 folded into the preceding Conv, ConvTranspose or Gemm,\n"
    "                 and Relu/Clip fused with a Conv, as ONNX Runtime does)\n"
    "  --json         print one JSON object: top1, top5, n, seconds, ...\n"
    "  -q, --quiet    no progress lines (shown on stderr after 2 s otherwise)\n"
    "  --dump-logits FILE  write every image's logits there: float32, row after row\n"
    "  --profile      print the time and GFLOP/s per op type, and the slowest\n"
    "                 nodes, to stderr at the end\n"
    "  -h, --help     show this help\n"
    "\n"
    "Logits holding NaN or Inf count as wrong predictions; a warning on stderr\n"
    "(and \"nonfinite\" in --json) says for how many images.\n"
    "Progress goes to stderr for runs longer than two seconds.\n"
    "Exit status: 0 on success, 2 on a bad model, data file or flag.\n",
    run,
};
