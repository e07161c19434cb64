/* Runs the kernels of host-tools/src/cuda/kernels.cu on the CPU: each launcher takes the
 * kernel's parameters as cuLaunchKernel does (an array of pointers to the argument values) and
 * calls the kernel once per thread of the grid, block after block. The kernels use no shared
 * memory and no barriers, so this order is as good as any the GPU picks. */
#include "kernels.cu"

_Thread_local struct dim threadIdx, blockIdx, blockDim, gridDim;

#define P(type, n) (*(type *)params[n])

typedef void (*body_fn)(void **params);

static void run_grid(unsigned int threads, unsigned int block, body_fn body, void **params) {
    blockDim.x = block;
    gridDim.x = (threads + block - 1) / block;
    for (blockIdx.x = 0; blockIdx.x < gridDim.x; ++blockIdx.x) {
        for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x) {
            body(params);
        }
    }
}

#define LAUNCHER(name, call)                                                                \
    static void body_##name(void **params) { call; }                                        \
    void emulate_##name(unsigned int threads, unsigned int block, void **params) {          \
        run_grid(threads, block, body_##name, params);                                       \
    }

LAUNCHER(start_conv, start_conv(P(float *, 0), P(const float *, 1), P(const float *, 2),
                                P(const float *, 3), P(const u32 *, 4), P(u32, 5), P(u32, 6),
                                P(u32, 7)))
LAUNCHER(gather_taps, gather_taps(P(float *, 0), P(const float *, 1), P(void *, 2),
                                  P(void *, 3), P(const u32 *, 4), P(u32, 5), P(u32, 6),
                                  P(u32, 7), P(u32, 8), P(int, 9)))
LAUNCHER(gate, gate(P(const float *, 0), P(const float *, 1), P(void *, 2), P(u32, 3),
                    P(u32, 4), P(int, 5)))
LAUNCHER(bias_act, bias_act(P(const float *, 0), P(const float *, 1), P(const float *, 2),
                            P(void *, 3), P(u32, 4), P(u32, 5), P(u32, 6), P(int, 7),
                            P(int, 8)))
LAUNCHER(frame_embedding,
         frame_embedding(P(const float *, 0), P(const u32 *, 1), P(const u32 *, 2),
                         P(float *, 3), P(u32, 4), P(u32, 5), P(u32, 6), P(u32, 7)))
LAUNCHER(sample, sample(P(const float *, 0), P(const float *, 1), P(const u64 *, 2),
                        P(const u32 *, 3), P(const u32 *, 4), P(const float *, 5), P(u32, 6),
                        P(float *, 7), P(u8 *, 8), P(const u32 *, 9), P(u32, 10), P(u32, 11),
                        P(u32, 12)))
LAUNCHER(advance, advance(P(u32 *, 0)))
LAUNCHER(encoder_start, encoder_start(P(const float *, 0), P(const float *, 1),
                                      P(const float *, 2), P(float *, 3), P(u32, 4),
                                      P(u32, 5), P(u32, 6)))
LAUNCHER(im2col_same, im2col_same(P(const float *, 0), P(void *, 1), P(u32, 2), P(u32, 3),
                                  P(u32, 4), P(u32, 5), P(int, 6)))
LAUNCHER(mean_pool, mean_pool(P(const float *, 0), P(float *, 1), P(u32, 2), P(u32, 3),
                              P(u32, 4)))
