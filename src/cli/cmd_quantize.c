/* qfd-onnx quantize MODEL --w4a4: the product. Flags, stage lines, the
 * training bar and the summary; the work is qfd_model_quantize. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"

static void on_stage(void *user, int stage, int stages, const char *what)
{
    (void)user;
    fprintf(stderr, "[%d/%d] %s\n", stage, stages, what);
}

/* "dir/name.onnx" -> "dir/name.w4a4.onnx" */
static char *default_output(const char *model, int wbits, int abits)
{
    size_t n = strlen(model);
    const char *ext = n > 5 && !strcmp(model + n - 5, ".onnx") ? model + n - 5 : model + n;
    char *out = malloc(n + 24);
    if (out)
        snprintf(out, n + 24, "%.*s.w%da%d.onnx", (int)(ext - model), model, wbits, abits);
    return out;
}

static void summary(const char *out, const qfd_quantize_opts *o, const qfd_quantize_result *r)
{
    printf("%s: W%dA%d %s, format %s\n", out, o->wbits, o->abits, o->method ? o->method : "lsq", r->format);
    printf("  %-10s top-1 on %" PRId64 " test images\n", "", r->n_test);
    printf("  %-10s %6.2f%%\n", "fp32", 100 * r->fp32_top1);
    printf("  %-10s %6.2f%%   (fake-quant model in qfd-onnx)\n", "student", 100 * r->student_top1);
    printf("  %-10s %6.2f%%   (the written file; agrees with the student on %.2f%% of images, largest logit "
           "difference %.3g)\n",
           "exported", 100 * r->exported_top1, 100 * r->agreement, r->max_logit_diff);
    if (!strcmp(r->format, "int4"))
        printf("  note: ONNX Runtime (1.30, CPU) has no 4-bit Conv, Gemm or MatMul kernels: it runs the layers with "
               "4-bit weights or activations in float (exact, not faster); the file is for runtimes with int4 "
               "kernels\n");
    else if (r->float_groups)
        printf("  note: %d activation quantizer%s below 8 bits keep their clamp with a Clip: ONNX Runtime runs the "
               "layers that read them in float (exact, not faster)\n",
               r->float_groups, r->float_groups == 1 ? "" : "s");
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    qfd_quantize_opts o = {0};
    o.train = (qfd_train_opts){.momentum = -1, .weight_decay = -1, .crop_pad = -1, .hflip = -1, .seed = 1};
    const char *path, *out = NULL, *report = NULL;
    int w2a2 = 0, w3a3 = 0, w4a4 = 0, w4a8 = 0, w8a8 = 0, no_augment = 0;
    qfd_cli_list skip = {0};
    qfd_flag flags[] = {
        QFD_FLAG_STRING("-o|--output", &out),
        QFD_FLAG_STRING("--report", &report),
        QFD_FLAG_STRING("--save-student", &o.student_path),
        QFD_FLAG_SWITCH("--w2a2", &w2a2),
        QFD_FLAG_SWITCH("--w3a3", &w3a3),
        QFD_FLAG_SWITCH("--w4a4", &w4a4),
        QFD_FLAG_SWITCH("--w4a8", &w4a8),
        QFD_FLAG_SWITCH("--w8a8", &w8a8),
        QFD_FLAG_INT("--wbits", &o.wbits, 2, 8),
        QFD_FLAG_INT("--abits", &o.abits, 2, 8),
        QFD_FLAG_CHOICE("--method", &o.method, "ptq|lsq"),
        QFD_FLAG_CHOICE("--format", &o.format, "ort|int4"),
        QFD_FLAG_CHOICE("--first-last", &o.first_last, "8|same|fp"),
        QFD_FLAG_LIST("--skip", &skip),
        QFD_FLAG_STRING("--feature", &o.feature),
        QFD_FLAG_CHOICE("--calib", &o.calib, "mse|percentile|minmax"),
        QFD_FLAG_INT64("--calib-images", &o.calib_images, 1, INFINITY),
        QFD_FLAG_INT64("--eval-limit", &o.eval_limit, 1, INFINITY),
        QFD_DATA_FLAGS(&o.train.data, &o.train.image, o.train.mean, &o.train.n_mean, o.train.std, &o.train.n_std),
        QFD_FLAG_INT64("--limit", &o.train.limit, 1, INFINITY),
        QFD_FLAG_INT("--epochs", &o.train.epochs, 1, 1000000),
        QFD_FLAG_INT("--batch", &o.train.batch, 1, 65536),
        QFD_FLAG_FLOAT("--lr", &o.train.lr, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_FLOAT("--lr-steps", &o.lr_steps, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_FLOAT("--wd", &o.train.weight_decay, 0, INFINITY, QFD_CLOSED),
        QFD_FLAG_SWITCH("--no-augment", &no_augment),
        QFD_FLAG_UINT64("--seed", &o.train.seed),
        QFD_FLAG_INT("--threads", &o.train.n_threads, 1, 256),
        QFD_FLAG_STRING("--checkpoint", &o.train.checkpoint_dir),
        QFD_FLAG_INT64("--checkpoint-steps", &o.train.checkpoint_steps, 1, INFINITY),
        QFD_FLAG_STRING("--resume", &o.train.resume_dir),
    };
    int rc = qfd_cli_parse(&qfd_cmd_quantize, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, 1);
    if (rc != QFD_CLI_GO) {
        free(skip.items);
        return rc;
    }
    o.skip = skip.items;
    o.n_skip = (size_t)skip.n;
    static const int presets[5][2] = {{2, 2}, {3, 3}, {4, 4}, {4, 8}, {8, 8}};
    const int given[5] = {w2a2, w3a3, w4a4, w4a8, w8a8};
    int n_presets = 0;
    for (int i = 0; i < 5; i++)
        if (given[i]) {
            n_presets++;
            o.wbits = o.wbits ? o.wbits : presets[i][0];
            o.abits = o.abits ? o.abits : presets[i][1];
        }
    if (n_presets > 1) {
        free(skip.items);
        return qfd_cli_usage_error(&qfd_cmd_quantize, "give one of --w2a2 --w3a3 --w4a4 --w4a8 --w8a8");
    }
    o.wbits = o.wbits ? o.wbits : 4;
    o.abits = o.abits ? o.abits : 4;
    if (no_augment)
        o.train.hflip = 0, o.train.crop_pad = 0, o.train.image.no_random_crop = 1;
    if ((rc = qfd_cli_data_check(&qfd_cmd_quantize, o.train.n_mean, o.train.n_std)) != QFD_CLI_GO) {
        free(skip.items);
        return rc;
    }
    char *out_owned = out ? NULL : default_output(path, o.wbits, o.abits);
    if (!out && !(out = out_owned)) {
        free(skip.items);
        return qfd_cli_oom();
    }
    qfd_model *m = NULL, *q = NULL;
    qfd_quantize_result r;
    memset(&r, 0, sizeof r);
    qfd_status st = qfd_output_check(ctx, out);
    if (!st && report)
        st = qfd_output_check(ctx, report);
    if (!st && o.student_path)
        st = qfd_output_check(ctx, o.student_path);
    if (!st)
        st = qfd_model_load(ctx, path, &m);
    if (st)
        goto fail;
    o.train.stop = qfd_cli_catch_stop();
    qfd_cli_bar b = {isatty(2), 0};
    o.train.progress = qfd_cli_train_bar;
    o.train.user = &b;
    o.stage = on_stage;
    if ((st = qfd_model_quantize(ctx, m, &o, &q, &r)))
        goto fail;
    if (r.train.stopped) {
        if (o.train.checkpoint_dir)
            fprintf(stderr,
                    "qfd-onnx: note: stopped by a signal; checkpoint saved in %s (continue with --resume %s); %s not "
                    "written\n",
                    o.train.checkpoint_dir, o.train.checkpoint_dir, out);
        else
            fprintf(stderr, "qfd-onnx: note: stopped by a signal (no --checkpoint given); %s not written\n", out);
        rc = 130;
        goto done;
    }
    if ((st = qfd_model_save(ctx, q, out)) || (report && (st = qfd_quantize_report_write(ctx, report, path, &o, &r))))
        goto fail;
    summary(out, &o, &r);
    rc = QFD_EXIT_OK;
    goto done;
fail:
    rc = qfd_cli_fail(ctx, st);
    if (r.train.checkpointed)
        fprintf(stderr, "qfd-onnx: note: the last good checkpoint is in %s (continue with --resume %s)\n",
                o.train.checkpoint_dir, o.train.checkpoint_dir);
done:
    qfd_quantize_result_free(&r);
    qfd_model_free(q);
    qfd_model_free(m);
    free(out_owned);
    free(skip.items);
    return rc;
}

const qfd_cli_cmd qfd_cmd_quantize = {
    "quantize",
    "quantize an FP32 model to a low-bit QDQ ONNX file (PTQ or QAT)",
    "usage: qfd-onnx quantize MODEL.onnx [--w4a4 | --w8a8 | ...] [--method ptq|lsq]\n"
    "                         [-o OUT.onnx] [--report R.json] [options]\n"
    "\n"
    "Folds BatchNormalization, puts fake-quant on both inputs of every Conv,\n"
    "ConvTranspose, Gemm and MatMul (and where ONNX Runtime needs it to run\n"
    "them on integer kernels), calibrates the steps,\n"
    "trains (lsq), and writes OUT as QDQ ONNX that computes what was trained.\n"
    "Prints the test accuracy of the FP32 model, the fake-quant student and the\n"
    "written file.\n"
    "\n"
    "Bits (default --w4a4):\n"
    "  --w2a2 --w3a3 --w4a4 --w4a8 --w8a8   weight and activation bits\n"
    "  --wbits N --abits M  the same, 2 to 8 each\n"
    "  --first-last MODE    first and last layers: 8 (default: 8-bit), same, fp (float)\n"
    "  --skip GLOB          keep layers whose node name or op type matches float\n"
    "                       (shell pattern; repeatable)\n"
    "  --feature NAME       the classifier feature (default: the input of the last\n"
    "                       Gemm/MatMul, as 'info' shows it); in the report\n"
    "Method:\n"
    "  --method M           lsq (default): calibrate, then train weights and steps\n"
    "                       with cross-entropy (LSQ); ptq: calibrate only\n"
    "  --calib C            activation steps: mse (default), percentile (99.99%), minmax\n"
    "  --calib-images N     training images used to calibrate (default 2048)\n"
    "Export:\n"
    "  --format F           ort: int8 weights, uint8 activations, laid out for ONNX\n"
    "                       Runtime's integer kernels; int4: opset 21, tensors of 4\n"
    "                       bits or fewer in INT4/UINT4 (the model is upgraded to\n"
    "                       opset 21 first), 8-bit ones as ort. Default: int4 when\n"
    "                       a layer other than the first and last has 4 bits or\n"
    "                       fewer (--w4a4, --w2a2, --w4a8), else ort\n"
    "  -o, --output OUT     default MODEL with .wNaM.onnx (written atomically)\n"
    "  --report FILE        JSON: bits, steps and signedness per quantizer, timings,\n"
    "                       accuracies (fp32, student, exported), agreement\n"
    "  --eval-limit N       measure the accuracies on the first N test images\n"
    "  --save-student FILE  also write the trained fake-quant model (ONNX with\n"
    "                       qfd-onnx's own ai.qfd FakeQuant op; 'eval' and 'run' take it)\n"
    "Data and training (as in 'train'):\n"
    "  --data PATH          IDX folder, .npz or image files (as in 'eval'); default\n"
    "                       Fashion-MNIST\n" QFD_IMAGE_FLAGS_HELP
    "  --limit N            first N training images   --batch B (default 128)\n"
    "  --epochs N           default 2                 --lr LR (default 0.004)\n"
    "  --lr-steps LR        the quantizer steps' learning rate (default 1e-5);\n"
    "                       8-bit weight steps stay as calibrated\n"
    "  --wd W               weight decay (default 5e-4)\n"
    "  --no-augment         no random crop and flip\n"
    "  --mean M --std S     normalization (default: the model's qfd.mean / qfd.std)\n"
    "  --seed S  --threads T\n"
    "  --checkpoint DIR     save every epoch (and --checkpoint-steps N) and on\n"
    "                       SIGINT/SIGTERM; --resume DIR continues exactly\n"
    "  -h, --help           show this help\n"
    "\n"
    "Every format computes what was trained: bits below 8 in the 8-bit containers\n"
    "of --format ort keep their clamp with a Clip, bits below 4 in the int4 types\n"
    "with Min/Max; ONNX Runtime runs the layers reading those (and every 4-bit\n"
    "layer of an int4 file) in float. Exit status: 0 on success, 2 on bad\n"
    "input, 130 when stopped by a signal.\n",
    run,
};
