"""GPU time of the kernels a call launches, by kernel name (torch.profiler).

Shared by the benchmarks that report per-stage times (device_plan.py --profile,
estimators.py --stages): the stages are separate kernels launched through
libsattn_runtime, which CUPTI sees like any other launch.
"""
import torch


def kernel_times(fn, keep, reps=10):
    """{kernel name: GPU microseconds per call of fn} for the names `keep` accepts
    (a kernel launched several times per call counts each launch)."""
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    times = {}
    for e in prof.key_averages():
        us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if us and keep(e.key):
            times[e.key] = round(us / reps, 1)
    return times
