"""PyTorch baseline of NSynth WaveNet incremental generation, written like Magenta's fastgen.

This is the yardstick for `host-tools bench`: run both on the same GPU, or the same
CPU cores, and compare samples per second. It steps the Magenta h512_bo16 decoder (random float32 weights)
one audio sample at a time, the way `magenta/models/nsynth/wavenet/fastgen.py` does:
one framework call per matmul, bias add and activation, per layer, per step. There
are no CUDA graphs, no fusion and no custom kernels, on purpose.

Each causal convolution (filter length 3, dilation d) keeps its past inputs in a ring
buffer of shape [2d, B, C_in] indexed by the step number, which is the same as
Magenta's two FIFO queues of d entries each: slot t % 2d holds x(t-2d) (read, then
overwritten by x(t)) and slot (t-d) % 2d holds x(t-d).

Usage:
    python3 fastgen_torch.py --batches 1,64,512 --steps 200 --warmup 20 --device cuda
    python3 fastgen_torch.py --batches 1,16,64 --steps 50 --device cpu --threads 2

It prints one header line, then one line per batch size, for scripts to parse:
    baseline device=<name> torch=<version> dtype=<dtype> shape=R<r>/S<s>/L<l>
    baseline batch=<B> steps=<N> seconds=<f> samples_per_second=<f> tflops=<f> memory_gib=<f>
or `baseline batch=<B> out_of_memory` when a batch does not fit on the GPU.
"""

import argparse
import math
import time

import torch

CLASSES = 256  # 8-bit mu-law output classes
HOP_LENGTH = 512  # audio samples per encoding frame
DEFAULT_MACS_PER_SAMPLE = 59_741_696  # h512_bo16: R=512, S=256, 30 layers, bottleneck 16


def macs_per_sample(width, skip, layers, bottleneck):
    """Multiply-accumulates per generated sample, counted as Magenta's fastgen graph runs them."""
    per_layer = 3 * width * 2 * width + bottleneck * 2 * width + width * width + width * skip
    return (3 * 1 * width + width * skip + layers * per_layer
            + skip * skip + bottleneck * skip + skip * CLASSES)


def linear(x, weight_bias):
    """Magenta's 1x1 `linear`: a matmul followed by a bias add."""
    weight, bias = weight_bias
    return x @ weight + bias


class CausalConv:
    """Filter-length-3 causal convolution with dilation d, stepped one sample at a time."""

    def __init__(self, n_in, n_out, dilation, make):
        self.n_in = n_in
        self.dilation = dilation
        self.w_tm2, self.w_tm1, self.w_t = (make((n_in, n_out), 3 * n_in) for _ in range(3))
        self.bias = make((n_out,), 3 * n_in)

    def init_state(self, batch, device, dtype):
        """The zero-filled ring buffer of past inputs, [2d, B, C_in]."""
        return torch.zeros(2 * self.dilation, batch, self.n_in, device=device, dtype=dtype)

    def step(self, ring, x, t):
        """y(t) = x(t-2d)·W0 + x(t-d)·W1 + x(t)·W2 + b; then x(t) takes the slot of x(t-2d)."""
        slot = t % (2 * self.dilation)
        x_tm2 = ring[slot]
        x_tm1 = ring[(t - self.dilation) % (2 * self.dilation)]
        y = x_tm2 @ self.w_tm2 + x_tm1 @ self.w_tm1 + x @ self.w_t + self.bias
        ring[slot] = x
        return y


class FastgenWaveNet:
    """The h512_bo16 decoder with random weights, as Magenta's fastgen graph computes it."""

    def __init__(self, width, skip, layers, stages, bottleneck, device, dtype):
        def make(shape, fan_in):
            return (torch.randn(shape, device=device) / math.sqrt(fan_in)).to(dtype)

        def lin(n_in, n_out):
            return make((n_in, n_out), n_in), make((n_out,), n_in)

        self.width = width
        self.start = CausalConv(1, width, 1, make)
        self.skip_start = lin(width, skip)
        self.convs = [CausalConv(width, 2 * width, 2 ** (i % stages), make) for i in range(layers)]
        self.cond = [lin(bottleneck, 2 * width) for _ in range(layers)]
        self.res = [lin(width, width) for _ in range(layers)]
        self.skips = [lin(width, skip) for _ in range(layers)]
        self.out1 = lin(skip, skip)
        self.cond_out1 = lin(bottleneck, skip)
        self.logits = lin(skip, CLASSES)

    def init_state(self, batch, device, dtype):
        """One ring buffer per causal convolution: the start conv, then every layer."""
        return [conv.init_state(batch, device, dtype) for conv in [self.start, *self.convs]]

    def step(self, state, v, e, t):
        """Logits [B, 256] for step t from input v [B, 1] and frame embedding e [B, bottleneck]."""
        r = self.width
        l = self.start.step(state[0], v, t)
        s = linear(l, self.skip_start)
        for i, conv in enumerate(self.convs):
            z = conv.step(state[i + 1], l, t) + linear(e, self.cond[i])
            g = torch.sigmoid(z[:, :r]) * torch.tanh(z[:, r:])
            l = l + linear(g, self.res[i])
            s = s + linear(g, self.skips[i])
        s = torch.relu(s)
        h = torch.relu(linear(s, self.out1) + linear(e, self.cond_out1))
        return linear(h, self.logits)


def inv_mu_law(q, mu=255):
    """Magenta's inverse mu-law: quantized values in [-128, 127] to audio in [-1, 1]."""
    x = q.float()
    out = (x + 0.5) * 2.0 / (mu + 1)
    out = torch.sign(out) / mu * ((1 + mu) ** out.abs() - 1)
    return torch.where(q == 0, x, out)


def sample(logits, audio, t):
    """Draw a class by inverse CDF, write its audio to audio[:, t], return the next input [B, 1]."""
    cdf = torch.softmax(logits.float(), dim=1).cumsum(dim=1)
    u = torch.rand(logits.shape[0], 1, device=logits.device)
    q = (cdf < u).sum(dim=1).clamp_(max=CLASSES - 1) - CLASSES // 2
    audio[:, t] = inv_mu_law(q)
    # Magenta feeds the audio back and its graph applies mu_law(x) / 128, which is q / 128.
    return (q.float() / 128.0).to(logits.dtype).unsqueeze(1)


def generate(model, state, encodings, audio, v, start, count):
    """Run `count` generation steps from step `start`; returns the input for the next step."""
    for t in range(start, start + count):
        logits = model.step(state, v, encodings[:, t // HOP_LENGTH], t)
        v = sample(logits, audio, t)
    return v


def synchronize(device):
    """Wait for queued GPU work, so wall-clock times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_batch(model, args, batch, device, dtype):
    """Warm up, then time `args.steps` steps at one batch size; returns (seconds, peak GiB)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    total = args.warmup + args.steps
    frames = (total + HOP_LENGTH - 1) // HOP_LENGTH
    encodings = torch.randn(batch, frames, args.bottleneck, device=device).to(dtype)
    audio = torch.zeros(batch, total, device=device)
    state = model.init_state(batch, device, dtype)
    v = torch.zeros(batch, 1, device=device, dtype=dtype)
    v = generate(model, state, encodings, audio, v, 0, args.warmup)
    synchronize(device)
    begin = time.perf_counter()
    generate(model, state, encodings, audio, v, args.warmup, args.steps)
    synchronize(device)
    seconds = time.perf_counter() - begin
    if not bool(torch.isfinite(audio).all()):
        raise RuntimeError(f"batch {batch}: generated audio is not finite")
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return seconds, memory


def parse_args():
    """Command-line flags; the defaults are Magenta's h512_bo16 shape."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 64, 512],
                   help="comma-separated batch sizes (default 1,64,512)")
    p.add_argument("--steps", type=int, default=200, help="timed steps per batch (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "tf32"], default="float32",
                   help="tf32 is float32 with TF32 matmuls allowed")
    p.add_argument("--width", type=int, default=512, help="residual channels R")
    p.add_argument("--skip", type=int, default=256, help="skip channels S")
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--stages", type=int, default=10, help="layers per dilation cycle")
    p.add_argument("--bottleneck", type=int, default=16, help="conditioning (encoding) dim")
    p.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    args = p.parse_args()
    if args.steps < 1 or args.warmup < 0 or min(args.batches) < 1:
        p.error("--steps and batch sizes must be positive, --warmup not negative")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be positive")
    return args


def main():
    """Print the header line, then one result line per batch size."""
    args = parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
    torch.manual_seed(0)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    macs = macs_per_sample(args.width, args.skip, args.layers, args.bottleneck)
    if (args.width, args.skip, args.layers, args.bottleneck) == (512, 256, 30, 16):
        assert macs == DEFAULT_MACS_PER_SAMPLE, macs

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"baseline device={name} torch={torch.__version__} dtype={args.dtype} "
          f"threads={torch.get_num_threads()} shape=R{args.width}/S{args.skip}/L{args.layers}",
          flush=True)

    with torch.no_grad():
        model = FastgenWaveNet(args.width, args.skip, args.layers, args.stages,
                               args.bottleneck, device, dtype)
        for batch in args.batches:
            try:
                seconds, memory = bench_batch(model, args, batch, device, dtype)
            except torch.cuda.OutOfMemoryError:
                seconds = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if seconds is None:
                print(f"baseline batch={batch} out_of_memory", flush=True)
                continue
            rate = batch * args.steps / seconds
            tflops = 2 * macs * rate / 1e12
            print(f"baseline batch={batch} steps={args.steps} seconds={seconds:.6f} "
                  f"samples_per_second={rate:.3f} tflops={tflops:.6f} memory_gib={memory:.6f}",
                  flush=True)


if __name__ == "__main__":
    main()
