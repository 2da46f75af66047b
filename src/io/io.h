/* ONNX file <-> IR. The only module that sees protobuf-c. */
#ifndef QFD_IO_IO_H
#define QFD_IO_IO_H

#include "ir/ir.h"

/* Parses the file into a new model; does not validate the graph. Errors are
 * prefixed with the path. */
qfd_status qfd_onnx_read(qfd_ctx *ctx, const char *path, qfd_model **out);
/* Parses a ModelProto held in memory (external data resolved against the
 * working folder); does not validate the graph. */
qfd_status qfd_onnx_read_buffer(qfd_ctx *ctx, const void *buf, size_t len, qfd_model **out);
/* Reads a serialized TensorProto (the backend tests' input_0.pb). */
qfd_status qfd_onnx_read_tensor_file(qfd_ctx *ctx, const char *path, qfd_tensor *out);
/* Writes the model atomically (temporary file + rename). */
qfd_status qfd_onnx_write(qfd_ctx *ctx, const qfd_model *m, const char *path);

/* The model serialized in memory (malloc'd, external data embedded). */
qfd_status qfd_onnx_write_buffer(qfd_ctx *ctx, const qfd_model *m, uint8_t **buf, size_t *len);
/* A deep, validated copy of the model (through its serialized form, so the
 * copy keeps everything the file would). */
qfd_status qfd_onnx_clone(qfd_ctx *ctx, const qfd_model *m, qfd_model **out);

/* Compares two ONNX files field by field through the protobuf schema,
 * unknown fields included. Tensors stored as external data in `a` are
 * compared by their bytes (the writer embeds them). Returns QFD_OK when
 * equal, QFD_ERR_INVALID with the first differing field path in the context
 * message when not, another status when a file cannot be read. */
qfd_status qfd_onnx_compare_files(qfd_ctx *ctx, const char *a, const char *b);

#endif
