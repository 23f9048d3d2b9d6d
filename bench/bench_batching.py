"""Encoder inference: length-sorted batches (`mllmsent.heads.encode_texts`) vs one caption at a time.

    python bench/bench_batching.py [--n 128] [--max_len 256] [--source deepseek | --source sst] [--device cpu|cuda]

Same MiniLM, same captions, same max_len, no disk cache; the model is loaded, and warmed up on one caption,
before either timing; both ways must give the same features. On a CPU it runs twice: with one thread, and with
torch's default (every core). It prints times, texts/s and `ratio: one_at_a_time/batched` for each, the
last `ratio:` line being the default-threads one (what a user gets without setting threads). `--source sst` uses short sentences instead of captions.

Measured on the idle 2-core machine (nothing else running), deepseek captions: ratio 1.00-1.16 with one thread and
1.16 with two; SST sentences (~24 tokens): 2.48 with one thread and 4.09 with two. A MiniLM
pass over one ~100-token caption is already a matrix product large enough to be compute-bound on a CPU, so
batching saves little there. When another process keeps the cores busy, single-caption passes with several
threads wait on each other far more than batches do (8.58 measured next to a fine-tuning job) -- a contention
effect, not the batching gain. On a GPU one caption leaves the device mostly idle: run it with --device cuda.
"""
import argparse, os, re, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, torch
from mllmsent.core import data_dir
from mllmsent.heads import encode_texts, load_encoder, resolve_model

def _sync(device):
    if str(device).startswith('cuda'): torch.cuda.synchronize()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=128); ap.add_argument('--max_len', type=int, default=256)
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
    def one_pass(t):
        b = tok([t], truncation=True, max_length=a.max_len, return_tensors='pt').to(a.device)
        with torch.inference_mode(): return enc(**b).last_hidden_state.mean(1)[0].float().cpu().numpy()
    one_pass(texts[0]); encode_texts(texts[:2], 'minilm', 'mean', 2, a.max_len, a.device, cache_dir=False, progress=False)  # warm-up
    _sync(a.device); t0 = time.perf_counter()
    one = [one_pass(t) for t in texts]   # one caption per forward pass, as MLLMsent's inference loop did
    _sync(a.device); single = time.perf_counter() - t0
    t0 = time.perf_counter()
    X = encode_texts(texts, 'minilm', 'mean', a.batch_size, a.max_len, a.device, cache_dir=False, progress=False)
    _sync(a.device); batched = time.perf_counter() - t0
    err = float(np.abs(np.stack(one) - X).max())
    assert err < 1e-3, f"batched and single features differ by {err}"
    print(f"texts: {a.n} ({a.source}, {np.mean([len(x) for x in tok(texts)['input_ids']]):.0f} tokens on average before truncation), max_len: {a.max_len}, batch_size: {a.batch_size}, device: {a.device}, "
          f"threads: {threads}, max |diff|: {err:.2e}")
    print(f"one at a time: {single:.2f} s ({a.n/single:.1f} texts/s)")
    print(f"length-sorted batches: {batched:.2f} s ({a.n/batched:.1f} texts/s)")
    print(f"ratio: {single/batched:.2f}\n")

if __name__ == '__main__': main()
