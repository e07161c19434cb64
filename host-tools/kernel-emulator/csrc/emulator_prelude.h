/* What kernels.cu needs from CUDA, for a C compiler: the thread indices of a one-dimensional
 * grid (set by the launch loops in emulator.c) and the float/bit reinterpretations. */
#ifndef EMULATOR_PRELUDE_H
#define EMULATOR_PRELUDE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define KERNEL
#define DEVICE static inline
#define MATH(f) f

typedef uint64_t u64;

struct dim { unsigned int x; };
/* Per thread: tests run kernels from several threads at once. */
extern _Thread_local struct dim threadIdx, blockIdx, blockDim, gridDim;

static inline unsigned int __float_as_uint(float x) {
    unsigned int bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

static inline float __uint_as_float(unsigned int bits) {
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

#endif
