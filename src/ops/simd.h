/* Function multi-versioning for the few plain-C loops that carry a large
 * share of the run time: the build targets baseline x86-64 (SSE2), so such
 * a loop also gets an AVX2 clone, chosen once at load by the CPU. */
#ifndef QFD_OPS_SIMD_H
#define QFD_OPS_SIMD_H

/* Not with clang: clang 14 defines no external symbol for a target_clones
 * function, so calls from other files do not link (the fuzz build). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define QFD_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
/* for loops over every output of a model's main op (an epilogue) */
#define QFD_SIMD_CLONES_AVX512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QFD_SIMD_CLONES
#define QFD_SIMD_CLONES_AVX512
#endif

/* Float sums are not reassociated by the compiler, so a loop that sums
 * into one scalar runs one add at a time; lane-wise partial sums in an
 * array of this width vectorise, and are combined at the end. */
#define QFD_SIMD_LANES 16

#endif
