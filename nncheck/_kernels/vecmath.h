/* Helpers for elementwise C loops that the compiler vectorises (`#pragma omp simd`).
 *
 * NNCHECK_LIBMVEC (set by setup.py when glibc's vector math library links) declares the
 * single-precision libm functions with their SIMD variants, so a loop calling expf/erff/...
 * calls _ZGVdN8v_expf & co. instead of one scalar call per element.  Double precision keeps
 * the scalar libm calls: float64 results stay correctly rounded where libm's are.
 * NNCHECK_TARGETS compiles a function twice, for AVX2 and for the baseline ISA, and picks one
 * at load time (GCC's target_clones), so the built kernels still run on any x86-64.
 */
#ifndef NNCHECK_VECMATH_H
#define NNCHECK_VECMATH_H

#include <math.h>
#include <stddef.h>

#ifdef NNCHECK_LIBMVEC
#define NNCHECK_SIMD_MATH __attribute__((simd("notinbranch")))
float expf(float) NNCHECK_SIMD_MATH;
float logf(float) NNCHECK_SIMD_MATH;
float log1pf(float) NNCHECK_SIMD_MATH;
float tanhf(float) NNCHECK_SIMD_MATH;
float erff(float) NNCHECK_SIMD_MATH;
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NNCHECK_TARGETS __attribute__((target_clones("avx2", "default")))
#else
#define NNCHECK_TARGETS
#endif

/* NNCHECK_FMA_TARGETS: the same for multiply-add loops, with FMA (x86-64-v3: AVX2 + FMA),
 * which the avx2 clone lacks; GCC 12 and later. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && __GNUC__ >= 12
#define NNCHECK_FMA_TARGETS __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NNCHECK_FMA_TARGETS NNCHECK_TARGETS
#endif

/* Below this many elements a loop runs in the calling thread (see parallel.pxd). */
#define NNCHECK_PARALLEL_MIN 32768

#endif
