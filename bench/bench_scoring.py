"""Label scoring vs generate-and-parse, same model, same prompts, in one run.

EmoLLMs samples an answer (temperature 0.9, up to 256 tokens) and parses it; MLLMsent's LLaMA-3 sampled
one token. Scoring the candidate labels needs one forward pass per batch of prompts and always answers.
This compares the two on a tiny offline Llama (random weights) at batch 1 and batch 16, and prints the
wall-clock ratio (generation time / scoring time) and how many answers could not be parsed.

    OMP_NUM_THREADS=1 python bench/bench_scoring.py [--n 64] [--new-tokens 48] [--hidden 128] [--layers 4]
"""
import argparse, os, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, torch
from mllmsent.core import get_task, set_seed
from mllmsent.data import demo_captions
from mllmsent.models import tiny_tokenizer, tiny_causal_lm
from mllmsent.prompts import caption_prompt, render_prompt, parse_label
from mllmsent.scoring import predict_labels, generate_answers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=64, help='number of prompts')
    ap.add_argument('--new-tokens', type=int, default=48, help='max_new_tokens of generation (EmoLLMs-like length)')
    ap.add_argument('--hidden', type=int, default=128)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--greedy', action='store_true', help='greedy decoding instead of sampling at temperature 0.9')
    a = ap.parse_args(argv)
    torch.set_num_threads(1); set_seed(0)
    labels = list(get_task('p3').labels)
    caps = demo_captions('p3', n=a.n, seed=0)
    tok = tiny_tokenizer(list(caps.text) + [caption_prompt(t, 'p3') + ' ' + ' '.join(labels) for t in caps.text[:20]],
                         vocab_size=800, chat_template=True)
    model = tiny_causal_lm('llama', tokenizer=tok, hidden=a.hidden, layers=a.layers, seed=0)
    prompts = [render_prompt(tok, caption_prompt(t, 'p3')) for t in caps.text]
    print(f"model: tiny llama hidden={a.hidden} layers={a.layers} vocab={len(tok)}; prompts: {len(prompts)} "
          f"(mean {np.mean([len(tok(p)['input_ids']) for p in prompts]):.0f} tokens); labels {labels}; "
          f"generation: max_new_tokens={a.new_tokens}, {'greedy' if a.greedy else 'sampling T=0.9'}; torch threads 1")
    predict_labels(model, tok, prompts[:2], labels); generate_answers(model, tok, prompts[:2], max_new_tokens=2)  # warm-up
    ratios = []
    for bs in (1, 16):
        t0 = time.perf_counter()
        names, probs = predict_labels(model, tok, prompts, labels, batch_size=bs)
        t_score = time.perf_counter() - t0
        set_seed(0); t0 = time.perf_counter()
        gen = generate_answers(model, tok, prompts, max_new_tokens=a.new_tokens, batch_size=bs,
                               do_sample=not a.greedy, temperature=0.9)
        parsed = [parse_label(g, labels) for g in gen]
        t_gen = time.perf_counter() - t0
        unparsed_score = int(sum(n not in labels for n in names))
        unparsed_gen = int(sum(not p.ok for p in parsed))
        ratios.append(t_gen / t_score)
        print(f"batch {bs:2d}: scoring {t_score:7.2f} s ({len(prompts)/t_score:7.1f} prompts/s, unparseable {unparsed_score}/{len(prompts)}) | "
              f"generate+parse {t_gen:7.2f} s ({len(prompts)/t_gen:7.1f} prompts/s, unparseable {unparsed_gen}/{len(prompts)}) | "
              f"ratio {t_gen / t_score:.2f}")
    print(f"ratio: {min(ratios):.2f}  (generate+parse time / scoring time, the smaller of batch 1 and batch 16)")


if __name__ == '__main__': main()
