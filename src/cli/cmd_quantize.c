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

/* "dir/name.onnx" -> "dir/name.w4a4.onnx", or "dir/name.w4a4.tensorrt.onnx"
 * for a format given by --format, so that exports of one model in two
 * formats do not overwrite each other. */
static char *default_output(const char *model, int wbits, int abits, const char *format)
{
    size_t n = strlen(model), cap = n + 40;
    const char *ext = n > 5 && !strcmp(model + n - 5, ".onnx") ? model + n - 5 : model + n;
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, "%.*s.w%da%d%s%s.onnx", (int)(ext - model), model, wbits, abits, format ? "." : "",
                 format ? format : "");
    return out;
}

/* "93.43%", or "n/a" for a test split without labels */
static const char *pct(char *buf, size_t cap, double v)
{
    if (v == v)
        snprintf(buf, cap, "%6.2f%%", 100 * v);
    else
        snprintf(buf, cap, "%7s", "n/a");
    return buf;
}

/* "4-bit unsigned", "binary {0, s}", "binary +-s" */
static const char *bits_text(char *buf, size_t cap, int bits, int is_signed)
{
    if (bits == 1)
        snprintf(buf, cap, "binary %s", is_signed ? "+-s" : "{0, s}");
    else
        snprintf(buf, cap, "%d-bit %s", bits, is_signed ? "signed" : "unsigned");
    return buf;
}

static void summary(const char *out, const qfd_quantize_opts *o, const qfd_quantize_result *r)
{
    char a[16], b[32];
    printf("%s: W%dA%d %s, format %s\n", out, o->wbits, o->abits, r->method, r->format);
    printf("  %-10s top-1 on %" PRId64 " test images%s\n", "", r->n_test,
           r->test_labeled ? "" : " (no labels: agreement only)");
    printf("  %-10s %s\n", "fp32", pct(a, sizeof a, r->fp32_top1));
    if (r->has_teacher && r->teacher_bits)
        printf("  %-10s %s   (FP32 with a %s quantizer on its feature%s)\n", "teacher",
               pct(a, sizeof a, r->teacher_top1), bits_text(b, sizeof b, r->teacher_bits, r->teacher_signed),
               r->teacher_trained ? ", fine-tuned in stage 1" : "");
    else if (r->has_teacher)
        printf("  %-10s %s   (%s)\n", "teacher", pct(a, sizeof a, r->teacher_top1), r->teacher_source);
    printf("  %-10s %s   (fake-quant model in qfd-onnx)\n", "student", pct(a, sizeof a, r->student_top1));
    printf("  %-10s %s   (the written file; agrees with the student on %.2f%% of images, largest logit "
           "difference %.3g)\n",
           "exported", pct(a, sizeof a, r->exported_top1), 100 * r->agreement, r->max_logit_diff);
    if (!strcmp(r->format, "int4"))
        printf("  note: ONNX Runtime (1.30, CPU) has no 4-bit Conv, Gemm or MatMul kernels: it runs the layers with "
               "4-bit weights or activations in float (exact, not faster); the file is for runtimes with int4 "
               "kernels\n");
    else if (r->float_groups && !strcmp(r->format, "ort"))
        printf("  note: %d activation quantizer%s below 8 bits keep their clamp with a Clip: ONNX Runtime runs the "
               "layers that read them in float (exact, not faster)\n",
               r->float_groups, r->float_groups == 1 ? "" : "s");
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    qfd_quantize_opts o = {0};
    o.train = (qfd_train_opts){.momentum = -1, .weight_decay = -1, .crop_pad = -1, .hflip = -1, .seed = 1};
    const char *path, *out = NULL, *report = NULL;
    int w2a2 = 0, w3a3 = 0, w4a4 = 0, w4a8 = 0, w8a8 = 0, no_augment = 0, no_flip = 0, teacher_epochs = -1;
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
        QFD_FLAG_CHOICE("--method", &o.method, "qfd|kd|fd|lsq|ptq"),
        QFD_FLAG_FLOAT("--lambda", &o.lambda, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_FLOAT("--temperature", &o.temperature, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_SWITCH("--no-labels", &o.no_labels),
        QFD_FLAG_STRING("--teacher", &o.teacher_path),
        QFD_FLAG_STRING("--teacher-feature", &o.teacher_feature),
        QFD_FLAG_STRING("--save-teacher", &o.save_teacher),
        QFD_FLAG_INT("--teacher-bits", &o.teacher_bits, 1, 8),
        QFD_FLAG_INT("--teacher-epochs", &teacher_epochs, 0, 1000000),
        QFD_FLAG_FLOAT("--teacher-lr", &o.teacher_lr, 0, INFINITY, QFD_OPEN_MIN),
        QFD_FLAG_CHOICE("--format", &o.format, "ort|int4|tensorrt"),
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
        QFD_FLAG_SWITCH("--no-flip", &no_flip),
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
    o.teacher_epochs = teacher_epochs < 0 ? 0 : teacher_epochs == 0 ? -1 : teacher_epochs; /* the API's encoding */
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
    if (no_flip)
        o.train.hflip = 0;
    if (no_augment)
        o.train.hflip = 0, o.train.crop_pad = 0, o.train.image.no_random_crop = 1;
    if ((rc = qfd_cli_data_check(&qfd_cmd_quantize, o.train.n_mean, o.train.n_std)) != QFD_CLI_GO) {
        free(skip.items);
        return rc;
    }
    char *out_owned = out ? NULL : default_output(path, o.wbits, o.abits, o.format);
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
    if (!st && o.save_teacher)
        st = qfd_output_check(ctx, o.save_teacher);
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
    qfd_cli_warn_skipped(r.skipped_train, " of the training split");
    qfd_cli_warn_skipped(r.skipped_test, " of the test split");
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
    "quantize an FP32 model to a low-bit QDQ ONNX file (QAT with quantized feature distillation)",
    "usage: qfd-onnx quantize MODEL.onnx [--w4a4 | --w8a8 | ...] [--method qfd|kd|fd|lsq|ptq]\n"
    "                         [-o OUT.onnx] [--report R.json] [options]\n"
    "\n"
    "Folds BatchNormalization, puts fake-quant on both inputs of every Conv,\n"
    "ConvTranspose, Gemm and MatMul (and where ONNX Runtime needs it to run them\n"
    "on integer kernels), calibrates the steps, trains (with a teacher by\n"
    "default), and writes OUT as QDQ ONNX that computes what was trained. Prints\n"
    "the test accuracy of the FP32 model, the teacher, the fake-quant student\n"
    "and the written file.\n"
    "\n"
    "Bits (default --w4a4):\n"
    "  --w2a2 --w3a3 --w4a4 --w4a8 --w8a8   weight and activation bits\n"
    "  --wbits N --abits M  the same, 2 to 8 each\n"
    "  --first-last MODE    first and last layers: 8 (default: 8-bit), same, fp (float)\n"
    "  --skip GLOB          keep layers whose node name or op type matches float\n"
    "                       (shell pattern; repeatable)\n"
    "  --feature NAME       the feature fd and qfd distil, any tensor (default: the\n"
    "                       classifier's input, as 'info' shows it); in the report\n"
    "Method (weights and steps trained as LSQ; the teacher is frozen):\n"
    "  --method M           qfd (default): stage 1 fine-tunes a teacher, the FP32\n"
    "                       model with its feature quantized; the student learns\n"
    "                       cross-entropy + lambda * MSE(feature, teacher's\n"
    "                       quantized feature)\n"
    "                       kd: cross-entropy + T^2 * KL(FP32 teacher's logits ||\n"
    "                       student's); fd: cross-entropy + lambda * MSE to the FP32\n"
    "                       teacher's float feature; lsq: cross-entropy only;\n"
    "                       ptq: calibrate only\n"
    "  --lambda L           weight of the distillation term (default 1)\n"
    "  --temperature T      kd's softmax temperature (default 1)\n"
    "  --no-labels          distillation term only: the data may have no labels\n"
    "                       (kd, fd; qfd with --teacher-epochs 0 or a saved teacher)\n"
    "  --teacher FILE       the teacher (default: MODEL); another architecture is\n"
    "                       fine when the compared tensors have one shape; a file\n"
    "                       written by --save-teacher skips stage 1\n"
    "  --teacher-feature N  the teacher's feature (default: --feature's name when\n"
    "                       the teacher has it, else its classifier's input)\n"
    "  --teacher-bits B     qfd: the teacher's feature quantizer, 1 to 8 (default 4;\n"
    "                       unsigned when the feature cannot be negative; 1: binary)\n"
    "  --teacher-epochs N   qfd: stage 1's epochs (default 1; 0: calibrate only)\n"
    "  --teacher-lr LR      qfd: stage 1's learning rate (default 0.001)\n"
    "  --save-teacher FILE  qfd: also write the teacher after stage 1, for --teacher\n"
    "  --calib C            activation steps: mse (default), percentile (99.99%), minmax\n"
    "  --calib-images N     training images used to calibrate (default 2048)\n"
    "Export:\n"
    "  --format F           ort: int8 weights, uint8 activations, laid out for ONNX\n"
    "                       Runtime's integer kernels; int4: opset 21, tensors of 4\n"
    "                       bits or fewer in INT4/UINT4 (the model is upgraded to\n"
    "                       opset 21 first), 8-bit ones as ort; tensorrt: int8\n"
    "                       only, zero points 0, float biases, Q/DQ on the inputs\n"
    "                       of every layer and residual Add, for TensorRT's\n"
    "                       explicit quantization (trtexec --int8). Default: int4\n"
    "                       when a layer other than the first and last has 4 bits\n"
    "                       or fewer (--w4a4, --w2a2, --w4a8), else ort\n"
    "  -o, --output OUT     default MODEL with .wNaM.onnx, or .wNaM.FORMAT.onnx with\n"
    "                       --format (written atomically)\n"
    "  --report FILE        JSON: bits, steps and signedness per quantizer, the\n"
    "                       teacher, each loss term, timings, accuracies (fp32,\n"
    "                       teacher, student, exported), agreement, and the student\n"
    "                       step's steady-state images/s and RSS (loaded, peak)\n"
    "  --eval-limit N       measure the accuracies on the first N test images\n"
    "  --save-student FILE  also write the trained fake-quant model (ONNX with\n"
    "                       qfd-onnx's own ai.qfd FakeQuant op; 'eval' and 'run' take it)\n"
    "Data and training (as in 'train'):\n"
    "  --data PATH          IDX folder, .npz or image files (as in 'eval'); default\n"
    "                       Fashion-MNIST\n" QFD_IMAGE_FLAGS_HELP
    "  --limit N            first N training images   --batch B (default 128)\n"
    "  --epochs N           default 2                 --lr LR (default 0.004)\n"
    "  --lr-steps LR        the quantizer steps' learning rate (default 1e-3, and 1e-2\n"
    "                       for a student with 2-bit weights or activations); 8-bit\n"
    "                       weight steps stay as calibrated\n"
    "  --wd W               weight decay (default 5e-4)\n"
    "  --no-augment         no random crop and flip (image files: random-resized-crop\n"
    "                       off, the evaluation preprocessing instead)\n"
    "  --no-flip            no random horizontal flip\n"
    "  --mean M --std S     normalization (default: the model's qfd.mean / qfd.std)\n"
    "  --seed S  --threads T\n"
    "  --checkpoint DIR     save every epoch (and --checkpoint-steps N) and on\n"
    "                       SIGINT/SIGTERM, in stage 1 too (the trained teacher as\n"
    "                       DIR/teacher.onnx); --resume DIR continues exactly\n"
    "  -h, --help           show this help\n"
    "\n"
    "Every format computes what was trained: bits below 8 in the 8-bit containers\n"
    "of ort and tensorrt keep their clamp with a Clip, bits below 4 in the int4\n"
    "types with Min/Max; ONNX Runtime runs the layers reading those (and every\n"
    "4-bit layer of an int4 file) in float. With tensorrt an activation that\n"
    "cannot be negative still gets a signed range (TensorRT has no uint8), so it\n"
    "keeps one bit less of resolution than with ort. Exit status: 0 on success,\n"
    "2 on bad input, 130 when stopped by a signal.\n",
    run,
};
