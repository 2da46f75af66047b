/* qfd-onnx train MODEL -o OUT.onnx: FP32 fine-tuning on the CPU. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/args.h"
#include "core/proc.h"

/* NaN (no labels, no test set) as null */
static void json_num(const char *key, double v, const char *fmt)
{
    printf(",\"%s\":", key);
    if (v == v)
        printf(fmt, v);
    else
        printf("null");
}

/* --json: the run as one object on stdout (test_top1 NaN: not evaluated). */
static void print_json(const char *out, const qfd_train_opts *o, const qfd_train_result *r, double test_top1)
{
    printf("{\"output\":");
    qfd_json_str(stdout, out);
    printf(",\"epochs\":%d,\"steps\":%" PRId64 ",\"batch\":%d,\"parameters\":%" PRId64, r->epochs_done, r->steps,
           o->batch > 0 ? o->batch : 128, r->n_params);
    json_num("loss", r->loss, "%.6f");
    json_num("train_accuracy", r->train_accuracy, "%.6f");
    json_num("test_top1", test_top1, "%.6f");
    json_num("seconds", r->seconds, "%.3f");
    /* steady state: from the end of the first step; null with one step */
    json_num("images_per_second", r->steps >= 2 ? r->steady_images_per_second : NAN, "%.3f");
    json_num("images_per_second_overall", r->images_per_second, "%.3f");
    json_num("train_mb", (double)r->train_bytes / 1048576.0, "%.1f");
    json_num("rss_loaded_mb", r->rss_loaded_bytes ? (double)r->rss_loaded_bytes / 1048576.0 : NAN, "%.1f");
    json_num("rss_peak_mb", (double)qfd_peak_rss_bytes() / 1048576.0, "%.1f");
    printf("}\n");
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    qfd_train_opts o = {.epochs = 0, .momentum = -1, .weight_decay = -1, .crop_pad = -1, .hflip = -1, .seed = 1};
    const char *path = NULL, *out = NULL;
    int verbose = 0, eval = 1;
    int no_flip = 0, no_augment = 0, no_eval = 0, profile = 0, json = 0;
    qfd_flag flags[] = {
        QFD_FLAG_STRING("-o|--output", &out),
        QFD_DATA_FLAGS(&o.data, &o.image, o.mean, &o.n_mean, o.std, &o.n_std),
        QFD_FLAG_CHOICE("--optimizer", &o.optimizer, "sgd|adamw"),
        QFD_FLAG_CHOICE("--schedule", &o.schedule, "cosine|step|constant"),
        QFD_FLAG_STRING("--checkpoint", &o.checkpoint_dir),
        QFD_FLAG_STRING("--resume", &o.resume_dir),
        QFD_FLAG_INT64("--checkpoint-steps", &o.checkpoint_steps, 1, INFINITY),
        QFD_FLAG_INT("--epochs", &o.epochs, 1, 1000000),
        QFD_FLAG_INT("--batch", &o.batch, 1, 65536),
        QFD_FLAG_INT64("--limit", &o.limit, 1, INFINITY),
        QFD_FLAG_FLOAT("--lr", &o.lr, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_FLOAT("--momentum", &o.momentum, 0, 1, QFD_OPEN_MAX),
        QFD_FLAG_FLOAT("--wd", &o.weight_decay, 0, INFINITY, QFD_CLOSED),
        QFD_FLAG_FLOAT("--warmup", &o.warmup_epochs, 0, 1000000, QFD_CLOSED),
        QFD_FLAG_INT("--step-epochs", &o.step_epochs, 1, 1000000),
        QFD_FLAG_FLOAT("--gamma", &o.gamma, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_FLOAT("--label-smoothing", &o.label_smoothing, 0, 1, QFD_OPEN_MAX),
        QFD_FLAG_INT("--crop-pad", &o.crop_pad, 0, 1048576),
        QFD_FLAG_UINT64("--seed", &o.seed),
        QFD_FLAG_INT("--threads", &o.n_threads, 1, 256),
        QFD_FLAG_SWITCH("--nesterov", &o.nesterov),
        QFD_FLAG_SWITCH("--no-flip", &no_flip),
        QFD_FLAG_SWITCH("--no-augment", &no_augment),
        QFD_FLAG_SWITCH("--no-eval", &no_eval),
        QFD_FLAG_SWITCH("-v|--verbose", &verbose),
        QFD_FLAG_SWITCH("--profile", &profile),
        QFD_FLAG_SWITCH("--json", &json),
    };
    int parsed = qfd_cli_parse(&qfd_cmd_train, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, 1);
    if (parsed != QFD_CLI_GO)
        return parsed;
    if (no_flip || no_augment)
        o.hflip = 0;
    if (no_augment)
        o.crop_pad = 0, o.image.no_random_crop = 1;
    eval = !no_eval;
    if (profile)
        o.profile = stderr;
    if (!out)
        return qfd_cli_usage_error(&qfd_cmd_train, "missing -o OUT.onnx");
    if (!o.epochs)
        return qfd_cli_usage_error(&qfd_cmd_train, "missing --epochs N");
    if ((parsed = qfd_cli_data_check(&qfd_cmd_train, o.n_mean, o.n_std)) != QFD_CLI_GO)
        return parsed;

    /* Everything that can fail is checked before the first step. */
    qfd_model *m;
    qfd_status st = qfd_output_check(ctx, out);
    if (st || (st = qfd_model_load(ctx, path, &m)))
        return qfd_cli_fail(ctx, st);
    o.stop = qfd_cli_catch_stop();
    o.check_test = eval;
    qfd_cli_bar b = {isatty(2), 0};
    o.progress = qfd_cli_train_bar;
    o.user = &b;
    qfd_train_result r;
    st = qfd_model_train(ctx, m, &o, &r);
    if (st) {
        qfd_model_free(m);
        int rc = qfd_cli_fail(ctx, st);
        if (r.checkpointed)
            fprintf(stderr, "qfd-onnx: note: the last good checkpoint is in %s (continue with --resume %s)\n",
                    o.checkpoint_dir, o.checkpoint_dir);
        return rc;
    }
    if (verbose) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr,
                "train: %" PRId64 " parameters, %.1f MiB of activations, gradients and optimizer state, "
                "peak RSS %.1f MiB, %.2f img/s\n",
                r.n_params, (double)r.train_bytes / 1048576.0, (double)ru.ru_maxrss / 1024.0, r.images_per_second);
    }
    if (r.stopped) {
        if (o.checkpoint_dir)
            fprintf(stderr,
                    "qfd-onnx: note: stopped by a signal; checkpoint saved in %s (continue with --resume %s); %s not "
                    "written\n",
                    o.checkpoint_dir, o.checkpoint_dir, out);
        else
            fprintf(stderr, "qfd-onnx: note: stopped by a signal (no --checkpoint given); %s not written\n", out);
        qfd_model_free(m);
        return 130;
    }
    qfd_cli_warn_skipped(r.skipped, " of the training split");
    st = qfd_model_save(ctx, m, out);
    if (!st && eval) {
        qfd_eval_opts eo = {.data = o.data,
                            .image = o.image,
                            .batch = 256,
                            .n_threads = o.n_threads,
                            .n_mean = o.n_mean,
                            .n_std = o.n_std,
                            .stop = o.stop};
        memcpy(eo.mean, o.mean, sizeof eo.mean);
        memcpy(eo.std, o.std, sizeof eo.std);
        qfd_eval_result er;
        st = qfd_model_evaluate(ctx, m, &eo, &er);
        if (!st && er.stopped) {
            fprintf(stderr, "qfd-onnx: note: stopped by a signal during the test-set evaluation; %s was written\n",
                    out);
            qfd_model_free(m);
            return 130;
        }
        if (!st)
            qfd_cli_warn_skipped(er.skipped, " of the test split");
        if (!st && er.n_nonfinite)
            fprintf(stderr,
                    "qfd-onnx: warning: %s: the logits of %" PRId64 " of %" PRId64
                    " test images hold NaN or Inf; they count as wrong predictions\n",
                    out, er.n_nonfinite, er.n);
        if (!st && json)
            print_json(out, &o, &r, er.top1);
        else if (!st)
            printf("%s: train loss %.4f, train accuracy %.2f%%, test top-1 %.2f%% on %" PRId64 " images (%.0fs)\n", out,
                   r.loss, 100 * r.train_accuracy, 100 * er.top1, er.n, r.seconds);
    } else if (!st && json) {
        print_json(out, &o, &r, NAN);
    } else if (!st) {
        printf("%s: train loss %.4f, train accuracy %.2f%% (%.0fs)\n", out, r.loss, 100 * r.train_accuracy, r.seconds);
    }
    qfd_model_free(m);
    return st ? qfd_cli_fail(ctx, st) : QFD_EXIT_OK;
}

const qfd_cli_cmd qfd_cmd_train = {
    "train",
    "fine-tune a model in FP32 on a labelled training set",
    "usage: qfd-onnx train MODEL.onnx --epochs N -o OUT.onnx [--data PATH] [--lr LR]\n"
    "                      [--batch B] [--limit N] [--mean M --std S] [options]\n"
    "\n"
    "Trains every weight of MODEL (Conv, Gemm/MatMul, normalization parameters,\n"
    "embeddings; BatchNormalization uses batch statistics and updates its running\n"
    "statistics) with cross-entropy on the training split, then writes OUT (same\n"
    "graph, new weights) and prints the test accuracy.\n"
    "\n"
    "Data:\n"
    "  --data PATH          IDX folder or .npz (x_train/y_train); default Fashion-MNIST.\n"
    "                       x holds images: [N,H,W] gains a channel axis, uint8\n"
    "                       [N,H,W,C] with C 1 or 3 is read as channels-last and\n"
    "                       transposed, other [N,C,H,W] arrays are used as they are.\n"
    "                       Image files: DIR/train/<class>/*.jpg|jpeg|png (or\n"
    "                       DIR/<class>/...), a list file, CIFAR-10/100 batches;\n"
    "                       decoded by a pool of threads as batches are made\n"
    "  --limit N            use the first N training examples\n"
    "  --batch B            batch size (default 128)\n"
    "  --mean M --std S     normalization (default: the model's qfd.mean / qfd.std);\n"
    "                       given, they are recorded in OUT's qfd.mean / qfd.std\n"
    "  --crop-pad P         arrays: random crop after zero padding by P pixels\n"
    "                       (default 2; 0 off). Image files: random-resized-crop to\n"
    "                       the model's H x W (scale 0.08-1, ratio 3/4-4/3)\n"
    "  --no-flip            no random horizontal flip\n"
    "  --no-augment         neither crop nor flip (image files: the evaluation\n"
    "                       preprocessing of --resize/--crop)\n" QFD_IMAGE_FLAGS_HELP "Optimization:\n"
    "  --epochs N           epochs (required)\n"
    "  --optimizer NAME     sgd (default) or adamw\n"
    "  --lr LR              learning rate (default 0.01 SGD, 0.001 AdamW)\n"
    "  --momentum M         SGD momentum (default 0.9)   --nesterov   Nesterov momentum\n"
    "  --wd W               weight decay (default 5e-4 SGD, 0.01 AdamW); biases and\n"
    "                       normalization parameters get none\n"
    "  --schedule S         cosine (default), step or constant\n"
    "  --warmup E           linear warm-up over E epochs (fractions allowed)\n"
    "  --step-epochs K --gamma G   step schedule: multiply by G every K epochs\n"
    "  --label-smoothing S  cross-entropy label smoothing, in [0, 1)\n"
    "  --seed S             data order, augmentation and dropout (default 1)\n"
    "Run:\n"
    "  -o, --output OUT     trained model (written atomically)\n"
    "  --checkpoint DIR     save DIR/checkpoint.bin (and DIR/model.onnx, the weights\n"
    "                       so far) every epoch and on SIGINT/SIGTERM; each save\n"
    "                       replaces the last one whole, even if killed midway\n"
    "  --checkpoint-steps N also save every N steps\n"
    "  --resume DIR         continue exactly where the checkpoint in DIR stopped:\n"
    "                       same MODEL, data and training options (-o,\n"
    "                       --checkpoint and --no-eval may change)\n"
    "  --threads T          CPU threads (default: all cores)\n"
    "  --no-eval            skip the final test-set evaluation\n"
    "  -v, --verbose        report parameters, training memory and peak RSS\n"
    "  --profile            print the time and GFLOP/s per op type (forward,\n"
    "                       backward), and the slowest nodes, to stderr\n"
    "  --json               print one JSON object on stdout instead of the summary\n"
    "                       line: steps, loss, accuracies, images_per_second (steady\n"
    "                       state: from the end of the first step, which plans and\n"
    "                       packs, to the end of the last; null with one step),\n"
    "                       images_per_second_overall, train_mb, rss_loaded_mb (RSS\n"
    "                       once model and data are loaded, before the trainer is\n"
    "                       built), rss_peak_mb; MB = 2^20 bytes\n"
    "  -h, --help           show this help\n"
    "\n"
    "Progress: one bar per epoch on stderr (plain lines when not a terminal).\n"
    "A loss that becomes NaN or infinite stops training with an error and keeps\n"
    "the last checkpoint. Exit status: 0 on success, 2 on bad input, 130 when\n"
    "stopped by a signal.\n",
    run,
};
