"""Head training on a frozen encoder: naive (backbone forward every epoch, as MLLMsent did) vs cached features.

    OMP_NUM_THREADS=1 python bench/bench_heads.py [--n 256] [--epochs 20] [--max_len 128] [--source minigpt4]

Both variants train the same linear head with the same optimiser on the same real captions for the same
number of epochs. The naive one runs MiniLM (frozen, no gradients) on every mini-batch of every epoch; the
cached one encodes the captions once with `mllmsent.encoders.encode_texts` (length-sorted, no cache on disk,
so the encoder pass is counted) and trains on the features. Prints both times and `ratio: naive/cached`.
"""
import argparse, os, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, torch
from mllmsent.core import data_dir, set_seed
from mllmsent.encoders import encode_texts, load_encoder
from mllmsent.models import resolve_model

def captions(source, n):
    d = data_dir()
    if d is None: raise SystemExit("bench_heads needs the caption data (set MLLMSENT_DATA)")
    df = pd.read_csv(d/'perceptsent_captions'/f'{source}_p3_alpha5.csv')
    return df.sample(n, random_state=0)

def train_head(get_batch_feats, y, epochs, batch_size, dim):
    set_seed(0)
    head = torch.nn.Linear(dim, 3); opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    yt = torch.tensor(y)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(batch_size):
            feats = get_batch_feats(idx.numpy())
            opt.zero_grad(); torch.nn.functional.cross_entropy(head(feats), yt[idx]).backward(); opt.step()
    return head

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=256); ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--max_len', type=int, default=128); ap.add_argument('--batch_size', type=int, default=32)
    ap.add_argument('--source', default='minigpt4')
    a = ap.parse_args()
    torch.set_num_threads(1)
    df = captions(a.source, a.n); texts, y = df.text.tolist(), df.label.to_numpy()
    tok, enc, _ = load_encoder(resolve_model('minilm'), 'cpu')   # loaded once, outside both timings

    def naive_batch(idx):   # the frozen backbone runs again for every batch of every epoch
        b = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=a.max_len, return_tensors='pt')
        with torch.no_grad():
            h = enc(**b).last_hidden_state
        m = b['attention_mask'].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    t0 = time.perf_counter(); train_head(naive_batch, y, a.epochs, a.batch_size, 384); naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    X = torch.from_numpy(encode_texts(texts, 'minilm', 'mean', a.batch_size, a.max_len, 'cpu', cache_dir=False, progress=False))
    train_head(lambda idx: X[idx], y, a.epochs, a.batch_size, 384); cached = time.perf_counter() - t0
    print(f"captions: {a.n} ({a.source}), epochs: {a.epochs}, max_len: {a.max_len}")
    print(f"naive (backbone every epoch): {naive:.1f} s")
    print(f"cached features (encode once): {cached:.1f} s")
    print(f"ratio: {naive/cached:.2f}")

if __name__ == '__main__': main()
