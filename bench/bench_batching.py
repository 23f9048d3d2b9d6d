"""Encoder inference: length-sorted batches (`mllmsent.heads.encode_texts`) vs one caption at a time.

    OMP_NUM_THREADS=1 python bench/bench_batching.py [--n 128] [--max_len 256] [--source deepseek]

Same MiniLM, same captions, same max_len, no disk cache; the model is loaded before either timing. Checks that
both give the same features, then prints both times and `ratio: one_at_a_time/batched`.
"""
import argparse, os, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, torch
from mllmsent.core import data_dir
from mllmsent.heads import encode_texts, load_encoder, resolve_model

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=128); ap.add_argument('--max_len', type=int, default=256)
    ap.add_argument('--batch_size', type=int, default=32); ap.add_argument('--source', default='deepseek')
    a = ap.parse_args()
    torch.set_num_threads(1)
    d = data_dir()
    if d is None: raise SystemExit("bench_batching needs the caption data (set MLLMSENT_DATA)")
    texts = pd.read_csv(d/'perceptsent_captions'/f'{a.source}_p3_alpha5.csv').sample(a.n, random_state=0).text.tolist()
    tok, enc, _ = load_encoder(resolve_model('minilm'), 'cpu')
    t0 = time.perf_counter()
    one = []
    for t in texts:   # one caption per forward pass, as MLLMsent's inference loop did
        b = tok([t], truncation=True, max_length=a.max_len, return_tensors='pt')
        with torch.no_grad(): one.append(enc(**b).last_hidden_state.mean(1)[0].numpy())
    single = time.perf_counter() - t0
    t0 = time.perf_counter()
    X = encode_texts(texts, 'minilm', 'mean', a.batch_size, a.max_len, 'cpu', cache_dir=False, progress=False)
    batched = time.perf_counter() - t0
    err = float(np.abs(np.stack(one) - X).max())
    assert err < 1e-3, f"batched and single features differ by {err}"
    print(f"captions: {a.n} ({a.source}), max_len: {a.max_len}, batch_size: {a.batch_size}, max |diff|: {err:.2e}")
    print(f"one at a time: {single:.1f} s")
    print(f"length-sorted batches: {batched:.1f} s")
    print(f"ratio: {single/batched:.2f}")

if __name__ == '__main__': main()
