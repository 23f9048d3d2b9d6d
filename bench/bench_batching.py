"""Encoder inference: length-sorted batches (`mllmsent.encoders.encode_texts`) vs one caption at a time.

    python bench/bench_batching.py [--n 128] [--max_len 512] [--source deepseek | --source sst] [--device cpu|cuda]
    python bench/bench_batching.py --device cuda --random-shape minilm,modernbert-base --captions bench/gpu_data/captions.jsonl --json encoders.json
                                   # the GPU suite's check 3: random-weight encoders of MiniLM's and ModernBERT-base's shapes
    python bench/bench_batching.py --smoke --random-shape minilm,modernbert-base --json out.json   # 2 narrow layers, 8 captions: a check of the code

Same encoder, same captions, same max_len, no disk cache; the model is loaded, and warmed up, before any timing;
every way must give the same features. Three ways are timed:

- `batched`: `encode_texts`, captions sorted by length, batches of `--batch_size` padded to their longest caption;
- `one at a time`: one caption per forward pass, unpadded (isolates what batching alone gains);
- `MLLMsent's loop`: one caption per forward pass padded to `max_len`, as MLLMsent's `SentimentDataset`
  tokenized every caption (`padding='max_length'`, `max_len: 512` in its configs) -- the way the package replaces.

It prints times, texts/s and `ratio: one_at_a_time/batched`, then `ratio_vs_mllmsent_loop: mllmsent/batched`.
On a CPU it runs with one thread, then with torch's default (every core). `--source sst` uses short sentences.
See bench/README.md for the measured numbers. On a CPU a MiniLM pass over one ~100-token caption is already
compute-bound, so batching alone saves little there; padding every caption to 512 tokens is what costs the time. On a GPU one caption leaves the device mostly idle: run it with --device cuda.

`--random-shape` (for a machine without the MiniLM package, such as the lent GPU machine) builds encoders with random
weights from MiniLM's own config (BERT, 6 layers, 384 wide) or from ModernBERT-base's (22 layers, 768 wide, transformers'
`ModernBertConfig` defaults), saves each to a temporary folder and encodes through the same `encode_texts` path. Both use
MiniLM's WordPiece tokenizer (`--tokenizer`; bench/gpu_data/minilm carries it without the weights), so caption lengths
are MiniLM's token counts; ModernBERT's own BPE tokenizer would count a little differently. Speeds of random weights
equal those of trained ones; the features do not mean anything.
"""
import argparse, contextlib, inspect, json, os, re, shutil, sys, tempfile, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, torch
from mllmsent.core import data_dir
from mllmsent.encoders import encode_texts, load_encoder, _pool
from mllmsent.models import resolve_model

BENCH = Path(__file__).resolve().parent
SHAPES = ('minilm', 'modernbert-base')


def _sync(device):
    if str(device).startswith('cuda'): torch.cuda.synchronize()


def read_texts(a):
    "The captions to encode: `--captions` (JSONL with a `text` field), else the data folder's captions or SST sentences."
    if a.captions:
        texts = [json.loads(l)['text'] for l in Path(a.captions).read_text().splitlines() if l.strip()]
        return pd.Series(texts).sample(min(a.n, len(texts)), random_state=0).tolist()
    d = data_dir()
    if d is None: raise SystemExit("bench_batching needs the caption data (set MLLMSENT_DATA, or pass --captions FILE.jsonl)")
    if a.source == 'sst':   # short texts: the SST sentences inside EmoLLMs' valence instructions
        ins = pd.read_csv(d/'emollms'/'SST_test.csv').Instruction.sample(a.n, random_state=0)
        return [re.search(r'Text: (.*) Sentiment score:', t, re.S).group(1) for t in ins]
    return pd.read_csv(d/'perceptsent_captions'/f'{a.source}_p3_alpha5.csv').sample(a.n, random_state=0).text.tolist()


def tokenizer_folder(a):
    "MiniLM's tokenizer: `--tokenizer`, else bench/gpu_data/minilm (carried to the GPU machine), else the installed package's folder."
    if a.tokenizer: return a.tokenizer
    carried = Path(os.environ.get('MLLMSENT_GPU_DATA', BENCH/'gpu_data'))/'minilm'
    return str(carried) if (carried/'tokenizer.json').exists() else resolve_model('minilm')


def random_encoder(shape, tok_dir, smoke=False):
    "A folder holding a random-weight encoder of `shape` ('minilm' or 'modernbert-base') and MiniLM's tokenizer; `smoke`: 2 narrow layers."
    from transformers import AutoConfig, AutoModel, AutoTokenizer, ModernBertConfig
    tok = AutoTokenizer.from_pretrained(tok_dir)
    kw = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=len(tok)) if smoke else {}
    if shape == 'minilm': cfg = AutoConfig.from_pretrained(tok_dir, **kw)      # MiniLM-L6-H384's own config.json
    elif shape == 'modernbert-base':
        cfg = ModernBertConfig(pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                               bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, **kw)   # ModernBERT-base's shapes
    else: raise SystemExit(f"--random-shape {shape!r}: use one of {SHAPES}")
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg)
    folder = tempfile.mkdtemp(prefix=f'random-{shape}-')
    model.save_pretrained(folder); tok.save_pretrained(folder)
    return folder, sum(p.numel() for p in model.parameters())


def run(a, texts, model, threads):
    "Time the three ways on `texts` with the encoder at `model` (a name or folder); a dict of the numbers."
    tok, enc, _ = load_encoder(resolve_model(model), a.device)
    accepted = set(inspect.signature(enc.forward).parameters)   # ModernBERT takes no token_type_ids
    def one_pass(t, padding):
        b = tok([t], truncation=True, max_length=a.max_len, padding=padding, return_tensors='pt').to(a.device)
        b = {k: v for k, v in b.items() if k in accepted}
        with torch.inference_mode():   # the package's own pooling: mean over real tokens only
            return _pool(enc(**b).last_hidden_state, b['attention_mask'], 'mean')[0].float().cpu().numpy()
    def timed(f):
        _sync(a.device); t0 = time.perf_counter(); out = f(); _sync(a.device); return out, time.perf_counter() - t0
    one_pass(texts[0], False); one_pass(texts[0], 'max_length')   # warm-up
    encode_texts(texts[:a.batch_size], model, 'mean', a.batch_size, a.max_len, a.device, cache_dir=False, progress=False)
    one, single = timed(lambda: [one_pass(t, False) for t in texts])
    padded, mllmsent = timed(lambda: [one_pass(t, 'max_length') for t in texts])
    X, batched = timed(lambda: encode_texts(texts, model, 'mean', a.batch_size, a.max_len, a.device, cache_dir=False, progress=False))
    err = max(float(np.abs(np.stack(one) - X).max()), float(np.abs(np.stack(padded) - X).max()))
    lens = [len(x) for x in tok(texts, truncation=True, max_length=a.max_len)['input_ids']]
    n = len(texts)
    print(f"texts: {n} ({a.source if not a.captions else a.captions}, {np.mean(lens):.0f} tokens on average after truncation), "
          f"max_len: {a.max_len}, batch_size: {a.batch_size}, device: {a.device}, threads: {threads}, max |diff|: {err:.2e}")
    print(f"one at a time, unpadded: {single:.2f} s ({n/single:.1f} texts/s)")
    print(f"MLLMsent's loop (one at a time, padded to {a.max_len}): {mllmsent:.2f} s ({n/mllmsent:.1f} texts/s)")
    print(f"length-sorted batches: {batched:.2f} s ({n/batched:.1f} texts/s)")
    print(f"ratio: {single/batched:.2f}")
    print(f"ratio_vs_mllmsent_loop: {mllmsent/batched:.2f}\n")
    return dict(texts=n, mean_tokens=round(float(np.mean(lens)), 1), max_tokens=int(max(lens)), max_len=a.max_len, batch_size=a.batch_size,
                device=a.device, threads=threads, one_at_a_time_s=round(single, 3), mllmsent_loop_s=round(mllmsent, 3),
                batched_s=round(batched, 3), one_at_a_time_texts_per_s=round(n / single, 1), mllmsent_loop_texts_per_s=round(n / mllmsent, 1),
                batched_texts_per_s=round(n / batched, 1), ratio=round(single / batched, 2), ratio_vs_mllmsent_loop=round(mllmsent / batched, 2),
                max_abs_diff=err, features_match=bool(err < 1e-3))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=128); ap.add_argument('--max_len', type=int, default=512)
    ap.add_argument('--batch_size', type=int, default=32); ap.add_argument('--source', default='deepseek')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--captions', default=None, help='a JSONL file of captions (`text` field) instead of the data folder')
    ap.add_argument('--random-shape', default=None, help=f"comma list of {SHAPES}: random-weight encoders of those shapes")
    ap.add_argument('--tokenizer', default=None, help='tokenizer folder for --random-shape (default: bench/gpu_data/minilm, else MiniLM)')
    ap.add_argument('--json', default=None, help='also write the numbers to this JSON file (one report, gpu_common.Report)')
    ap.add_argument('--smoke', action='store_true', help='8 captions, 2-layer 64-wide encoders, max_len 128: a check of the code')
    a = ap.parse_args(argv)
    if a.smoke: a.n, a.max_len, a.batch_size = min(a.n, 8), 128, 4
    if a.device == 'cuda' and not torch.cuda.is_available(): raise SystemExit("--device cuda: no CUDA GPU here")
    rep = None
    if a.json:
        sys.path.insert(0, str(BENCH))
        from gpu_common import Report
        rep = Report(a.json, 'encoders', smoke=a.smoke, config=dict(n=a.n, max_len=a.max_len, batch_size=a.batch_size, device=a.device,
                                                                   random_shapes=a.random_shape, captions=a.captions), results={})
    if a.captions is None and a.smoke:
        from mllmsent.sft import toy_sentiment_data
        texts = toy_sentiment_data(a.n)[0]
    else: texts = read_texts(a)
    models = []
    if a.random_shape:
        for shape in a.random_shape.split(','):
            with (rep.phase(f'build_{shape}') if rep else contextlib.nullcontext()):
                folder, n_params = random_encoder(shape, tokenizer_folder(a), smoke=a.smoke)
                models.append((shape, folder, n_params))
    else: models.append(('minilm', 'minilm', None))
    default_threads = torch.get_num_threads()
    bad = []
    for shape, model, n_params in models:
        for threads in ([1, default_threads] if a.device == 'cpu' and default_threads > 1 and not a.smoke else [default_threads]):
            torch.set_num_threads(threads)
            name = shape if threads == default_threads else f'{shape}_threads{threads}'
            if rep is None:
                r = run(a, texts, model, threads)
            else:
                with rep.phase(name):
                    r = dict(run(a, texts, model, threads), n_params=n_params, random_weights=bool(a.random_shape))
                    rep.d['results'][name] = r
            if r.get('features_match') is False: bad.append(name)
    for _, folder, _ in models:
        if a.random_shape: shutil.rmtree(folder, ignore_errors=True)
    if rep is not None:
        for name in bad: rep.d['errors'][name] = dict(error='batched and one-at-a-time features differ by more than 1e-3')
        rs = rep.d['results']
        return rep.finish('; '.join(f"{k}: batched {v['batched_texts_per_s']} texts/s vs one at a time {v['one_at_a_time_texts_per_s']} "
                                    f"(ratio {v['ratio']}), vs MLLMsent's padded loop {v['ratio_vs_mllmsent_loop']}" for k, v in rs.items()))
    if bad: raise SystemExit(f"batched and single features differ: {bad}")
    return 0


if __name__ == '__main__': sys.exit(main())
