"""Encoder inference: length-sorted batches (`mllmsent.heads.encode_texts`) vs one caption at a time.

    python bench/bench_batching.py [--n 128] [--max_len 512] [--source deepseek | --source sst] [--device cpu|cuda]

Same MiniLM, same captions, same max_len, no disk cache; the model is loaded, and warmed up, before any timing;
every way must give the same features. Three ways are timed:

- `batched`: `encode_texts`, captions sorted by length, batches of `--batch_size` padded to their longest caption;
- `one at a time`: one caption per forward pass, unpadded (isolates what batching alone gains);
- `MLLMsent's loop`: one caption per forward pass padded to `max_len`, as MLLMsent's `SentimentDataset`
  tokenized every caption (`padding='max_length'`, `max_len: 512` in its configs) -- the way the package replaces.

It prints times, texts/s and `ratio: one_at_a_time/batched`, then `ratio_vs_mllmsent_loop: mllmsent/batched`.
On a CPU it runs with one thread, then with torch's default (every core). `--source sst` uses short sentences.
See bench/README.md for the measured numbers. On a CPU a MiniLM pass over one ~100-token caption is already
compute-bound, so batching alone saves little there; padding every caption to 512 tokens is what costs the time. On a GPU one caption leaves the device mostly idle: run it with --device cuda.
"""
import argparse, os, re, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, torch
from mllmsent.core import data_dir
from mllmsent.heads import encode_texts, load_encoder, resolve_model, _pool

def _sync(device):
    if str(device).startswith('cuda'): torch.cuda.synchronize()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=128); ap.add_argument('--max_len', type=int, default=512)
    ap.add_argument('--batch_size', type=int, default=32); ap.add_argument('--source', default='deepseek')
    ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    d = data_dir()
    if d is None: raise SystemExit("bench_batching needs the caption data (set MLLMSENT_DATA)")
    if a.source == 'sst':   # short texts: the SST sentences inside EmoLLMs' valence instructions
        ins = pd.read_csv(d/'emollms'/'SST_test.csv').Instruction.sample(a.n, random_state=0)
        texts = [re.search(r'Text: (.*) Sentiment score:', t, re.S).group(1) for t in ins]
    else: texts = pd.read_csv(d/'perceptsent_captions'/f'{a.source}_p3_alpha5.csv').sample(a.n, random_state=0).text.tolist()
    tok, enc, _ = load_encoder(resolve_model('minilm'), a.device)
    default_threads = torch.get_num_threads()
    for threads in ([1, default_threads] if a.device == 'cpu' and default_threads > 1 else [default_threads]):
        torch.set_num_threads(threads)
        run(a, texts, tok, enc, threads)

def run(a, texts, tok, enc, threads):
    def one_pass(t, padding):
        b = tok([t], truncation=True, max_length=a.max_len, padding=padding, return_tensors='pt').to(a.device)
        with torch.inference_mode():   # the package's own pooling: mean over real tokens only
            return _pool(enc(**b).last_hidden_state, b['attention_mask'], 'mean')[0].float().cpu().numpy()
    def timed(f):
        _sync(a.device); t0 = time.perf_counter(); out = f(); _sync(a.device); return out, time.perf_counter() - t0
    one_pass(texts[0], False); one_pass(texts[0], 'max_length')   # warm-up
    encode_texts(texts[:2], 'minilm', 'mean', 2, a.max_len, a.device, cache_dir=False, progress=False)
    one, single = timed(lambda: [one_pass(t, False) for t in texts])
    padded, mllmsent = timed(lambda: [one_pass(t, 'max_length') for t in texts])
    X, batched = timed(lambda: encode_texts(texts, 'minilm', 'mean', a.batch_size, a.max_len, a.device, cache_dir=False, progress=False))
    err = max(float(np.abs(np.stack(one) - X).max()), float(np.abs(np.stack(padded) - X).max()))
    assert err < 1e-3, f"batched and single features differ by {err}"
    lens = [len(x) for x in tok(texts, truncation=True, max_length=a.max_len)['input_ids']]
    print(f"texts: {a.n} ({a.source}, {np.mean(lens):.0f} tokens on average after truncation), max_len: {a.max_len}, "
          f"batch_size: {a.batch_size}, device: {a.device}, threads: {threads}, max |diff|: {err:.2e}")
    print(f"one at a time, unpadded: {single:.2f} s ({a.n/single:.1f} texts/s)")
    print(f"MLLMsent's loop (one at a time, padded to {a.max_len}): {mllmsent:.2f} s ({a.n/mllmsent:.1f} texts/s)")
    print(f"length-sorted batches: {batched:.2f} s ({a.n/batched:.1f} texts/s)")
    print(f"ratio: {single/batched:.2f}")
    print(f"ratio_vs_mllmsent_loop: {mllmsent/batched:.2f}\n")

if __name__ == '__main__': main()
