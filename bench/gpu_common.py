"""What the GPU suite's checks share (bench/gpu_suite.sh): a JSON report written after every phase, timing, memory,
the carried caption texts, and the 4-bit quantization of a model held in memory.

A check never loses its numbers to a later failure: each phase runs in `Report.phase`, which records its time, its
error (with the traceback's last lines) and saves the JSON before the next phase starts. The shell marks a check that
was killed (time cap) or crashed by patching its JSON (`python bench/gpu_common.py close ...`).

    python bench/gpu_common.py env OUT.json            # device, versions, a measured bf16 matmul rate (the suite's env.json)
    python bench/gpu_common.py close OUT.json NAME RC LOG  # mark a check's JSON as timed out / crashed (used by gpu_suite.sh)
    python bench/gpu_common.py summary OUT.json        # the check's one summary line
    python bench/gpu_common.py prepare [--per-source 128]  # bench/gpu_data: captions.jsonl + MiniLM's tokenizer (no weights)
"""
import contextlib, json, os, platform, sys, time, traceback
from pathlib import Path

H200_BF16_TFLOPS = 790.0      # dense bf16 matmul rate measured on this workplace's H200s (device README: 769-798 TFLOP/s)
BENCH = Path(__file__).resolve().parent
GPU_DATA = Path(os.environ.get('MLLMSENT_GPU_DATA', BENCH/'gpu_data'))   # made by `gpu_suite.sh --prepare`, carried to the device


def versions()->dict:
    "Versions of the packages the checks run on (None where one is missing)."
    from importlib import metadata
    out = {'python': platform.python_version()}
    for name in ('torch', 'transformers', 'peft', 'accelerate', 'bitsandbytes', 'tokenizers', 'fastcore'):
        try: out[name] = metadata.version(name)
        except metadata.PackageNotFoundError: out[name] = None
    return out


def device_info()->dict:
    import torch
    cuda = torch.cuda.is_available()
    d = dict(cuda=cuda, device=torch.cuda.get_device_name(0) if cuda else 'cpu', torch_cuda=torch.version.cuda,
             cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads())
    if cuda:
        p = torch.cuda.get_device_properties(0)
        d.update(gpu_memory_gib=round(p.total_memory / 2**30, 1), multiprocessors=p.multi_processor_count,
                 compute_capability=f'{p.major}.{p.minor}')
    return d


class Report:
    "A check's JSON: fields set as the check goes, one entry per phase (seconds, ok or the error), saved after each phase."
    def __init__(self, path, check:str, **fields):
        self.path, self.t0 = Path(path), time.perf_counter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.d = dict(check=check, status='running', summary='', errors={}, phases={}, **fields)
        self.d.update(versions=versions(), **device_info())
        self.save()

    def save(self):
        self.d['wall_s'] = round(time.perf_counter() - self.t0, 1)
        tmp = self.path.with_suffix('.tmp')
        tmp.write_text(json.dumps(self.d, indent=1, default=str))
        os.replace(tmp, self.path)

    def set(self, **kw): self.d.update(kw); self.save()

    @contextlib.contextmanager
    def phase(self, name:str):
        "Time a phase; an exception is recorded (not raised) so that the next phases still run."
        t = time.perf_counter()
        try:
            yield
            self.d['phases'][name] = dict(ok=True, seconds=round(time.perf_counter() - t, 2))
        except Exception as e:   # noqa: BLE001 -- every failure is reported in the JSON
            tb = traceback.format_exc().strip().splitlines()
            self.d['phases'][name] = dict(ok=False, seconds=round(time.perf_counter() - t, 2))
            self.d['errors'][name] = dict(error=f'{type(e).__name__}: {e}'[:2000], traceback_tail=tb[-12:])
            print(f'[{self.d["check"]}] phase {name} failed: {type(e).__name__}: {str(e)[:300]}', file=sys.stderr, flush=True)
            free_memory()
        finally: self.save()

    def finish(self, summary:str):
        self.d['summary'] = summary
        self.d['status'] = 'ok' if not self.d['errors'] else 'failed'
        self.save()
        return 0 if self.d['status'] == 'ok' else 1


def free_memory():
    import gc, torch
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()


def sync():
    import torch
    if torch.cuda.is_available(): torch.cuda.synchronize()


def reset_peak():
    import torch
    if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()


def peak_gib():
    "Peak GPU memory allocated since the last `reset_peak` (GiB); on a CPU the process's peak resident memory."
    import torch
    if torch.cuda.is_available(): return round(torch.cuda.max_memory_allocated() / 2**30, 2)
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)   # Linux: KiB


def allocated_gib():
    import torch
    return round(torch.cuda.memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


class timer:
    "with timer() as t: ... ; t.s -- seconds, the device synchronized at both ends."
    def __enter__(self): sync(); self.t = time.perf_counter(); return self
    def __exit__(self, *a): sync(); self.s = time.perf_counter() - self.t


def load_captions(n:int|None=None, smoke:bool=False)->list:
    "Caption texts carried in `bench/gpu_data/captions.jsonl`; with `smoke` and no such file, the package's toy sentences."
    path = GPU_DATA/'captions.jsonl'
    if path.exists():
        texts = [json.loads(l)['text'] for l in path.read_text().splitlines() if l.strip()]
    elif smoke:
        from mllmsent.sft import toy_sentiment_data
        texts = [t.replace('Text: ', 'The photo shows ').replace(' Sentiment:', '.') * 3 for t in toy_sentiment_data(64)[0]]
    else: raise FileNotFoundError(f"{path} is missing: run `bash bench/gpu_suite.sh --prepare` here and carry bench/gpu_data")
    return texts[:n] if n else texts


def quantize_in_memory(model, compute_dtype, skip_modules=None, device=None):
    """The same model loaded in 4-bit NF4 from its in-memory weights: `from_pretrained(None, config=, state_dict=)` with the
    package's `quantization_config`, i.e. transformers' bitsandbytes loader, without a checkpoint on disk."""
    import torch
    from mllmsent.models import quantization_config
    dev = device if device is not None else (0 if torch.cuda.is_available() else 'cpu')
    qc = quantization_config('4bit', compute_dtype, skip_modules=skip_modules)
    q = type(model).from_pretrained(None, config=model.config, state_dict=model.state_dict(), quantization_config=qc,
                                    device_map={'': dev}, dtype=compute_dtype)
    return q.eval()


def step_timer():
    "A transformers `TrainerCallback` recording each optimizer step's seconds (device synchronized) in `.steps`."
    from transformers import TrainerCallback
    class StepTimer(TrainerCallback):
        def __init__(self): self.steps = []
        def on_step_begin(self, args, state, control, **kw): sync(); self.t = time.perf_counter()
        def on_step_end(self, args, state, control, **kw): sync(); self.steps.append(time.perf_counter() - self.t)
    return StepTimer()


def steady_rate(step_seconds:list, batch_size:int, warmup:int=1):
    "Samples/s over the steps after `warmup` (or over all when there are no more)."
    s = step_seconds[warmup:] or step_seconds
    return round(len(s) * batch_size / sum(s), 3) if s and sum(s) > 0 else None


def top_ops(prof, n:int=15)->list:
    """The `n` rows of a torch.profiler run with the most self device time (CPU time where there is no device): operators
    (kind CPU: the device time of the kernels they launch) and the kernels themselves (kind CUDA)."""
    rows = []
    for e in prof.key_averages():
        dev = getattr(e, 'self_device_time_total', None)
        if dev is None: dev = getattr(e, 'self_cuda_time_total', 0)
        rows.append(dict(name=e.key, kind=str(getattr(e, 'device_type', '')).split('.')[-1], calls=e.count,
                         self_device_ms=round(dev / 1e3, 3), self_cpu_ms=round(e.self_cpu_time_total / 1e3, 3),
                         cpu_total_ms=round(e.cpu_time_total / 1e3, 3)))
    key = 'self_device_ms' if any(r['self_device_ms'] for r in rows) else 'self_cpu_ms'
    return sorted(rows, key=lambda r: -r[key])[:n]


def device_busy_ms(prof)->float:
    "Kernel time in a torch.profiler run (ms): the CUDA kernel rows, or where the profiler lists none, the operators' own device time."
    rows = top_ops(prof, 10**6)
    kernels = [r for r in rows if r['kind'] == 'CUDA']
    return round(sum(r['self_device_ms'] for r in (kernels or rows)), 3)


def matmul_tflops(n:int=8192, reps:int=10)->float|None:
    "Measured bf16 matmul rate (TFLOP/s) of an n x n x n product on random data: the ceiling MFU is read against."
    import torch
    if not torch.cuda.is_available(): return None
    a, b = torch.randn(n, n, device='cuda', dtype=torch.bfloat16), torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    for _ in range(3): a @ b
    with timer() as t:
        for _ in range(reps): a @ b
    return round(2 * n**3 * reps / t.s / 1e12, 1)


def _close(path, name, rc, log):
    "Mark a check's JSON after its process ended with `rc` (124/137: killed at its time cap)."
    path = Path(path)
    d = json.loads(path.read_text()) if path.exists() else dict(check=name, errors={}, phases={}, summary='')
    rc = int(rc)
    if rc in (124, 137): d['status'] = 'timeout'
    elif d.get('status') == 'running' or (rc != 0 and d.get('status') == 'ok'): d['status'] = 'crashed'
    elif 'status' not in d: d['status'] = 'crashed' if rc else 'ok'
    d['exit_code'] = rc
    if rc != 0 and log and Path(log).exists():
        d['log_tail'] = Path(log).read_text(errors='replace').splitlines()[-25:]
    path.write_text(json.dumps(d, indent=1, default=str))


def _summary(path)->str:
    path = Path(path)
    if not path.exists(): return f'{path.stem}: no JSON written'
    d = json.loads(path.read_text())
    line = f"{d.get('check', path.stem)}: {d.get('status')} in {d.get('wall_s', '?')} s"
    if d.get('summary'): line += f" | {d['summary']}"
    errs = d.get('errors') or {}
    if errs: line += ' | errors: ' + '; '.join(f"{k}: {v.get('error', '')[:160]}" for k, v in errs.items())
    return line


CAPTION_SOURCES = ('deepseek', 'gpt4o-mini', 'minigpt4')   # the three captioners' PerceptSent captions (p3, alpha 5)
MINILM_TOKENIZER_FILES = ('config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt')


def prepare(per_source:int=128, out=None)->Path:
    """Write the folder the GPU machine needs from the data and packages it lacks: `captions.jsonl` (`per_source` real
    captions of each captioner, sampled with seed 0) and `minilm/` (MiniLM's tokenizer and config, not its 91 MB of weights)."""
    import hashlib, shutil
    import pandas as pd
    from mllmsent.core import data_dir
    from mllmsent.models import resolve_model
    out = Path(out or GPU_DATA); out.mkdir(parents=True, exist_ok=True)
    d = data_dir()
    if d is None: raise SystemExit("prepare: no data folder (../shared/data beside the project, or $MLLMSENT_DATA)")
    rows = []
    for src in CAPTION_SOURCES:
        f = d/'perceptsent_captions'/f'{src}_p3_alpha5.csv'
        df = pd.read_csv(f).sample(per_source, random_state=0)
        rows += [dict(id=str(i), source=src, text=str(t)) for i, t in zip(df['id'], df['text'])]
    text = ''.join(json.dumps(r) + '\n' for r in rows)
    (out/'captions.jsonl').write_text(text)
    tok_dir = Path(resolve_model('minilm'))
    (out/'minilm').mkdir(exist_ok=True)
    for name in MINILM_TOKENIZER_FILES: shutil.copy(tok_dir/name, out/'minilm'/name)
    (out/'SOURCE.json').write_text(json.dumps(dict(captions=[f'perceptsent_captions/{s}_p3_alpha5.csv' for s in CAPTION_SOURCES],
        per_source=per_source, seed=0, captions_sha256=hashlib.sha256(text.encode()).hexdigest(),
        minilm_tokenizer_from=str(tok_dir.parent.name), files=list(MINILM_TOKENIZER_FILES)), indent=1))
    size = sum(p.stat().st_size for p in out.rglob('*') if p.is_file())
    print(f'{out}: {len(rows)} captions, MiniLM tokenizer, {size / 2**20:.2f} MiB')
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv: print(__doc__); return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == 'env':
        import torch
        r = Report(rest[0], 'env')
        with r.phase('matmul'): r.set(matmul_bf16_tflops=matmul_tflops(), assumed_peak_bf16_tflops=H200_BF16_TFLOPS)
        r.set(nvidia_smi=os.popen('nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm '
                                  '--format=csv,noheader 2>/dev/null').read().strip() or None)
        got = r.d['versions']
        tf = f"{r.d['device']}, torch {got['torch']}, transformers {got['transformers']}, peft {got['peft']}, bitsandbytes {got['bitsandbytes']}"
        mm = r.d.get('matmul_bf16_tflops')
        return r.finish(tf + (f', bf16 matmul {mm} TFLOP/s' if mm else ''))
    if cmd == 'close': _close(*rest); return 0
    if cmd == 'summary': print(_summary(rest[0])); return 0
    if cmd == 'prepare':
        import argparse
        ap = argparse.ArgumentParser(prog='gpu_common.py prepare'); ap.add_argument('--per-source', type=int, default=128)
        ap.add_argument('--out', default=None); x = ap.parse_args(rest)
        prepare(x.per_source, x.out); return 0
    print(__doc__); return 2


if __name__ == '__main__': sys.exit(main())
