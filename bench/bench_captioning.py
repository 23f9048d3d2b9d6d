"""Captioning throughput: batched generation (left padding, batch 16) vs one image at a time, same tiny LLaVA, same images.

    python bench/bench_captioning.py [--n 64] [--batch-size 16] [--max-new-tokens 16]

Prints images/s of each way and `ratio: X` (batched / one at a time). Both runs force the same number of new tokens.
"""
import os, time, argparse, tempfile
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
import torch
from PIL import Image

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=64)
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--max-new-tokens', type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from mllmsent.vision_models import tiny_llava
    from mllmsent.captioning import caption_images
    model, processor = tiny_llava()
    d = Path(tempfile.mkdtemp())
    for i in range(a.n): Image.new('RGB', (32, 32), ((37 * i) % 256, (91 * i) % 256, (13 * i) % 256)).save(d / f'{i:04d}.png')
    kw = dict(max_new_tokens=a.max_new_tokens, min_new_tokens=a.max_new_tokens, progress=False)
    caption_images(model, processor, sorted(d.glob('*.png'))[:4], d / 'warm.jsonl', batch_size=4, **kw)   # warm-up
    times = {}
    for name, bs in (('one at a time', 1), (f'batched ({a.batch_size})', a.batch_size)):
        t = time.perf_counter()
        res = caption_images(model, processor, d, d / f'out{bs}.jsonl', batch_size=bs, **kw)
        times[name] = time.perf_counter() - t
        assert len(res) == a.n and res.error.isna().all()
        print(f'{name:>16}: {a.n / times[name]:7.1f} images/s ({times[name]:.2f} s for {a.n} images)')
    one, batched = times.values()
    print(f'ratio: {one / batched:.2f}')

if __name__ == '__main__': main()
