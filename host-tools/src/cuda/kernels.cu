// The NSynth model's own GPU kernels, compiled at run time by NVRTC (the matrix products are
// cuBLAS calls between them; see plan.rs for the order). Every kernel is one thread per output
// element or per note, on a one-dimensional grid, with no shared memory and no barriers: each
// thread reads what it needs and writes only its own elements, so a test build can run the very
// same source on the CPU by looping over the threads (kernel-emulator).
//
// Layouts: decoder activations are channel-major, element (channel c, note b) at c * batch + b,
// which is a column-major [batch, channels] matrix for cuBLAS. Encoder activations are
// time-major, element (sample t, channel c) at t * channels + c. Activations that feed a matrix
// product ("act") are float32, or bfloat16 when the kernel's `bf16` flag is set; everything
// accumulated (residual and skip streams, gates' inputs, logits) is float32.
//
// The file is C: no templates, no references, no CUDA headers (NVRTC and a C compiler both take
// it), and the only CUDA builtins used are the thread indices and __float_as_uint /
// __uint_as_float, which the emulator defines.

#ifdef __CUDACC__
#define KERNEL extern "C" __global__
#define DEVICE static __device__ __forceinline__
#define MATH(f) f
typedef unsigned long long u64;
#else
#include "emulator_prelude.h"
#endif

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

// Audio classes of the 8-bit mu-law output, and the decoder input of a class.
#define CLASSES 256u

DEVICE u32 thread_index(void) { return blockIdx.x * blockDim.x + threadIdx.x; }

// Rounds to the nearest bfloat16, ties to even (inputs here are never NaN).
DEVICE u16 bf16_from_float(float x) {
    u32 bits = __float_as_uint(x);
    // A NaN stays a (quiet) NaN rather than rounding into the sign bit.
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (u16)((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (u16)(bits >> 16);
}

DEVICE float bf16_to_float(u16 x) { return __uint_as_float(((u32)x) << 16); }

DEVICE float load_act(const void *data, u64 index, int bf16) {
    if (bf16) {
        return bf16_to_float(((const u16 *)data)[index]);
    }
    return ((const float *)data)[index];
}

DEVICE void store_act(void *data, u64 index, float value, int bf16) {
    if (bf16) {
        ((u16 *)data)[index] = bf16_from_float(value);
    } else {
        ((float *)data)[index] = value;
    }
}

DEVICE float sigmoid(float x) { return 1.0f / (1.0f + MATH(expf)(-x)); }

// ------------------------------------------------------------------------------ decoder ---

// The decoder's start conv (one input channel, dilation 1) for every channel and note:
// residual[c, b] = bias[c] + sum over taps of weight[tap, c] * v_b(t - lag), lag = taps-1-tap.
// `inputs` is a ring of `taps` slots of [batch] decoder inputs; slot (τ mod taps) holds v(τ).
KERNEL void start_conv(float *residual, const float *inputs, const float *weight,
                       const float *bias, const u32 *time, u32 width, u32 batch, u32 taps) {
    u32 i = thread_index();
    if (i >= width * batch) {
        return;
    }
    u32 channel = i / batch;
    u32 note = i % batch;
    u32 t = *time;
    float value = bias[channel];
    for (u32 tap = 0; tap < taps; ++tap) {
        u32 lag = taps - 1u - tap;
        u32 slot = (t + taps - lag) % taps;
        value += weight[tap * width + channel] * inputs[slot * batch + note];
    }
    residual[i] = value;
}

// Gathers one dilated layer's inputs into the [taps * width, batch] matrix of its product,
// oldest tap first: x(t - (taps-1)·d), …, x(t - d), x(t), where x(t) is the residual stream.
// `ring` keeps the layer's last (taps-1)·d inputs, slot (τ mod slots) holding x(τ); x(t) takes
// the slot of x(t - (taps-1)·d) once that is read. `bias`, when not null, is the previous
// layer's residual bias, added to the stream here (the product before only accumulated).
KERNEL void gather_taps(float *residual, const float *bias, void *ring, void *taps_out,
                        const u32 *time, u32 width, u32 batch, u32 dilation, u32 taps,
                        int bf16) {
    u32 i = thread_index();
    u32 size = width * batch;
    if (i >= size) {
        return;
    }
    float current = residual[i];
    if (bias) {
        current += bias[i / batch];
        residual[i] = current;
    }
    u32 t = *time;
    u32 slots = (taps - 1u) * dilation;
    for (u32 tap = 0; tap + 1u < taps; ++tap) {
        u32 lag = (taps - 1u - tap) * dilation;
        u32 slot = (t % slots + slots - lag % slots) % slots;
        float past = load_act(ring, (u64)slot * size + i, bf16);
        store_act(taps_out, (u64)tap * size + i, past, bf16);
    }
    store_act(taps_out, (u64)(taps - 1u) * size + i, current, bf16);
    store_act(ring, (u64)(t % slots) * size + i, current, bf16);
}

// The gate of one layer: g = sigmoid(z[c] + cond[c]) * tanh(z[width + c] + cond[width + c]).
// z is the dilated conv's product [2·width, batch]; cond the frame's conditioning with the conv
// bias folded in, same shape.
KERNEL void gate(const float *z, const float *cond, void *gated, u32 width, u32 batch,
                 int bf16) {
    u32 i = thread_index();
    u32 size = width * batch;
    if (i >= size) {
        return;
    }
    float filter = z[i] + cond[i];
    float activation = z[size + i] + cond[size + i];
    store_act(gated, i, sigmoid(filter) * MATH(tanhf)(activation), bf16);
}

// out[i] = x[i] (+ bias[channel]) (+ extra[i]), then ReLU if `relu`, for `count` elements
// whose channel is (i / inner) % channels: inner = batch for channel-major decoder
// activations, 1 for time-major encoder ones. `bias` and `extra` may be null. `out` may be `x`
// (in place) when both are float32.
KERNEL void bias_act(const float *x, const float *bias, const float *extra, void *out,
                     u32 count, u32 inner, u32 channels, int relu, int bf16) {
    u32 i = thread_index();
    if (i >= count) {
        return;
    }
    float value = x[i];
    if (bias) {
        value += bias[(i / inner) % channels];
    }
    if (extra) {
        value += extra[i];
    }
    if (relu && !(value > 0.0f)) {
        value = 0.0f;
    }
    store_act(out, i, value, bf16);
}

// The embedding frame every note is in at time t: frame[k, b] = embedding_b[f][k] with
// f = min(t, length_b - 1) / hop. Embeddings are [batch, max_frames, width].
KERNEL void frame_embedding(const float *embeddings, const u32 *lengths, const u32 *time,
                            float *frame, u32 width, u32 max_frames, u32 batch, u32 hop) {
    u32 i = thread_index();
    if (i >= width * batch) {
        return;
    }
    u32 channel = i / batch;
    u32 note = i % batch;
    u32 t = *time;
    u32 last = lengths[note] > 0u ? lengths[note] - 1u : 0u;
    u32 f = (t < last ? t : last) / hop;
    frame[i] = embeddings[((u64)note * max_frames + f) * width + channel];
}

// SplitMix64's output function; the draw of sample t of a note is value t of the SplitMix64
// stream of its seed (host: model/rng.rs), so it does not depend on the batch.
DEVICE u64 splitmix64_mix(u64 z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

DEVICE double uniform_draw(u64 seed, u32 t) {
    const u64 gamma = 0x9e3779b97f4a7c15ull;
    u64 counter = seed + ((u64)t + 1ull) * gamma;
    return (double)(splitmix64_mix(counter) >> 11) * (1.0 / 9007199254740992.0);
}

// One thread per note: softmax of the logits (class-major [256, batch], plus their bias), the
// float32 running CDF and the first class whose CDF reaches the note's draw (NumPy's left
// searchsorted; the last class if rounding leaves the CDF below it), as model/sampling.rs.
// The class goes to the chunk of classes the host copies out ([2][chunk, batch], double
// buffered by chunk parity), and its decoder input (class - 128) / 128 to the input ring for
// step t + 1. While t is inside a note's prefix (a resumed run), the prefix's input is used and
// nothing is drawn; once t reaches the note's length, the note idles.
KERNEL void sample(const float *logits, const float *bias, const u64 *seeds, const u32 *lengths,
                   const u32 *prefix_lengths, const float *prefix_inputs, u32 prefix_stride,
                   float *inputs, u8 *classes, const u32 *time, u32 batch, u32 taps,
                   u32 chunk) {
    u32 note = thread_index();
    if (note >= batch) {
        return;
    }
    u32 t = *time;
    u32 next_slot = ((t + 1u) % taps) * batch + note;
    u64 chunk_index = (u64)((t / chunk) % 2u) * chunk * batch + (u64)(t % chunk) * batch + note;
    if (t >= lengths[note]) {
        inputs[next_slot] = 0.0f;
        classes[chunk_index] = 0;
        return;
    }
    if (t < prefix_lengths[note]) {
        inputs[next_slot] = prefix_inputs[(u64)note * prefix_stride + t];
        classes[chunk_index] = 0;
        return;
    }
    float max = -3.402823466e38f;
    for (u32 k = 0; k < CLASSES; ++k) {
        float logit = logits[k * batch + note] + bias[k];
        max = logit > max ? logit : max;
    }
    float sum = 0.0f;
    for (u32 k = 0; k < CLASSES; ++k) {
        sum += MATH(expf)(logits[k * batch + note] + bias[k] - max);
    }
    double draw = uniform_draw(seeds[note], t);
    u32 chosen = CLASSES - 1u;
    float cdf = 0.0f;
    for (u32 k = 0; k < CLASSES; ++k) {
        cdf += MATH(expf)(logits[k * batch + note] + bias[k] - max) / sum;
        if ((double)cdf >= draw) {
            chosen = k;
            break;
        }
    }
    classes[chunk_index] = (u8)chosen;
    inputs[next_slot] = ((float)chosen - 128.0f) / 128.0f;
}

// The step counter every kernel of a step reads; the last node of a step.
KERNEL void advance(u32 *time) {
    if (thread_index() == 0) {
        *time += 1u;
    }
}

// ------------------------------------------------------------------------------ encoder ---

// The encoder's start conv with "same" padding (one input channel, dilation 1), time-major:
// stream[t, c] = bias[c] + sum over taps of weight[tap, c] * u(t + tap - taps/2), u = 0 outside.
KERNEL void encoder_start(const float *input, const float *weight, const float *bias,
                          float *stream, u32 samples, u32 width, u32 taps) {
    u32 i = thread_index();
    if (i >= samples * width) {
        return;
    }
    u32 t = i / width;
    u32 channel = i % width;
    float value = bias[channel];
    for (u32 tap = 0; tap < taps; ++tap) {
        long long source = (long long)t + (long long)tap - (long long)(taps / 2u);
        if (source >= 0 && source < (long long)samples) {
            value += weight[tap * width + channel] * input[source];
        }
    }
    stream[i] = value;
}

// im2col for a "same" dilated conv over relu(stream): columns [samples, taps * width], row t
// holding relu(x(t + (tap - taps/2)·d)) for every tap and channel, zero outside the signal.
KERNEL void im2col_same(const float *stream, void *columns, u32 samples, u32 width, u32 taps,
                        u32 dilation, int bf16) {
    u32 i = thread_index();
    u32 row = taps * width;
    if (i >= samples * row) {
        return;
    }
    u32 t = i / row;
    u32 tap = (i % row) / width;
    u32 channel = i % width;
    long long offset = ((long long)tap - (long long)(taps / 2u)) * (long long)dilation;
    long long source = (long long)t + offset;
    float value = 0.0f;
    if (source >= 0 && source < (long long)samples) {
        value = stream[(u64)source * width + channel];
        value = value > 0.0f ? value : 0.0f;
    }
    store_act(columns, i, value, bf16);
}

// The mean of each hop of time-major rows: out[f, k] = sum of z[f·hop + j, k] / hop, summed in
// order (TF's average pooling on whole windows).
KERNEL void mean_pool(const float *z, float *out, u32 frames, u32 width, u32 hop) {
    u32 i = thread_index();
    if (i >= frames * width) {
        return;
    }
    u32 frame = i / width;
    u32 channel = i % width;
    float sum = 0.0f;
    for (u32 j = 0; j < hop; ++j) {
        sum += z[((u64)frame * hop + j) * width + channel];
    }
    out[i] = sum / (float)hop;
}
