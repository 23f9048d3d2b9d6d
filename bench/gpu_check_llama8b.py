"""GPU suite, check 1: a LLaMA-3-8B-shaped model (random weights, built on the device, never saved to disk) in bf16 and in
4-bit NF4: load time and memory, label scoring at batch 1, 16 and 64 (prompts/s, prefill tokens/s, model FLOP utilisation),
a torch.profiler table of the bf16 scoring at the largest batch, QLoRA steps (r=32, seq 512, batch 8) and the same LoRA
steps in bf16 (samples/s, peak memory).

    python bench/gpu_check_llama8b.py --out llama8b.json            # on a GPU (bench/gpu_suite.sh runs it)
    python bench/gpu_check_llama8b.py --smoke --out llama8b.json    # tiny shapes, on a CPU too: checks the code, measures nothing

Prompts are MLLMsent's caption prompts (`caption_prompt` + `render_prompt`) on the real captions carried in
bench/gpu_data/captions.jsonl, tokenized by a BPE tokenizer trained on those captions (LLaMA-3's tokenizer cannot be
downloaded on the device): prompt lengths are those of real captions, not LLaMA-3's exact counts.
Scoring is `mllmsent.scoring.predict_labels` (each prompt encoded once, its keys/values shared by the three labels).
MFU = prefill tokens/s x 2 x parameters / peak (790 TFLOP/s bf16 on an H200), as the issue defines it; `mfu_matmul` counts
only the parameters a prefill token multiplies (no embedding table, no LM head, which runs on the last token alone).
The 4-bit model is made by transformers' bitsandbytes loader from the bf16 model's weights in memory
(`gpu_common.quantize_in_memory`). Training runs through transformers' `Trainer` with the package's `add_lora`,
`training_args` and `sft_collator` (gradient checkpointing), a callback timing each step; step 1 is warm-up.
"""
import argparse, random, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from gpu_common import (Report, H200_BF16_TFLOPS, load_captions, quantize_in_memory, step_timer, steady_rate, top_ops, device_busy_ms,
                        timer, reset_peak, peak_gib, allocated_gib, free_memory)

LABELS = ['negative', 'neutral', 'positive']


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', required=True, help='the JSON this check writes')
    ap.add_argument('--smoke', action='store_true', help='tiny shapes (2 layers, hidden 256), any device: a check of the code')
    ap.add_argument('--layers', type=int, default=32, help='decoder layers (32 = LLaMA-3-8B)')
    ap.add_argument('--batch-sizes', default='1,16,64', help='scoring batch sizes')
    ap.add_argument('--batches', type=int, default=4, help='timed batches per batch size (batch 1: 8x as many prompts)')
    ap.add_argument('--steps', type=int, default=5, help='timed (Q)LoRA steps, after one warm-up step')
    ap.add_argument('--seq-len', type=int, default=512); ap.add_argument('--train-batch', type=int, default=8)
    ap.add_argument('--lora-r', type=int, default=32)
    ap.add_argument('--vocab', type=int, default=8192, help='BPE vocabulary trained on the captions')
    ap.add_argument('--no-profile', action='store_true', help='skip the torch.profiler table')
    ap.add_argument('--peak-tflops', type=float, default=H200_BF16_TFLOPS)
    a = ap.parse_args(argv)
    if a.smoke:
        a.layers, a.batch_sizes, a.batches, a.steps, a.seq_len, a.train_batch, a.lora_r, a.vocab = 2, '1,4', 1, 2, 64, 2, 8, 1024
    a.batch_sizes = [int(b) for b in str(a.batch_sizes).split(',')]
    return a


def caption_tokenizer(captions, vocab_size):
    "A byte-level BPE tokenizer trained on the captions and the labels (each label one token)."
    from mllmsent.models import tiny_tokenizer
    return tiny_tokenizer(list(captions) + [' '.join(' ' + l for l in LABELS)] * 200, vocab_size=vocab_size)


def prompt_lengths(tok, prompts):
    from mllmsent.scoring import _special_kwargs
    return [len(x) for x in tok(prompts, **_special_kwargs(tok, prompts[0]))['input_ids']]


def score_sweep(model, tok, prompts, a, n_params, n_matmul, cuda, profile=False):
    """predict_labels at each batch size: prompts/s, prefill tokens/s (real and padded), MFU; one warm-up batch each.
    With `profile`, the largest batch size again on the same prompts sorted by length (what padding costs), and a profile."""
    from mllmsent.scoring import predict_labels
    out = {}
    runs = [(bs, False) for bs in a.batch_sizes] + ([(a.batch_sizes[-1], True)] if profile else [])
    for bs, by_length in runs:
        n = bs * a.batches * (8 if bs == 1 else 1)
        ps = [prompts[i % len(prompts)] for i in range(n)]
        if by_length: ps = sorted(ps, key=lambda p: len(tok(p)['input_ids']))
        lens = prompt_lengths(tok, ps)
        padded = sum(len(lens[s:s + bs]) * max(lens[s:s + bs]) for s in range(0, n, bs))
        predict_labels(model, tok, ps[:bs], LABELS, batch_size=bs)          # warm-up (kernels, allocator)
        with timer() as t: pred, probs = predict_labels(model, tok, ps, LABELS, batch_size=bs)
        tps = sum(lens) / t.s
        r = dict(prompts=n, seconds=round(t.s, 3), prompts_per_s=round(n / t.s, 2), prefill_tokens_per_s=round(tps),
                 padded_tokens_per_s=round(padded / t.s), mean_prompt_tokens=round(sum(lens) / n, 1), max_prompt_tokens=max(lens),
                 padding_efficiency=round(sum(lens) / padded, 3), probs_ok=bool(torch.isfinite(torch.as_tensor(probs)).all()))
        if cuda:
            r.update(mfu=round(tps * 2 * n_params / (a.peak_tflops * 1e12), 4),
                     mfu_matmul=round(tps * 2 * n_matmul / (a.peak_tflops * 1e12), 4),
                     mfu_padded_matmul=round(padded / t.s * 2 * n_matmul / (a.peak_tflops * 1e12), 4))
        out[f'{bs}_length_sorted' if by_length else str(bs)] = r
    if profile:
        bs = a.batch_sizes[-1]
        ps = [prompts[i % len(prompts)] for i in range(bs)]
        acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
        with torch.profiler.profile(activities=acts) as prof, timer() as t:
            predict_labels(model, tok, ps, LABELS, batch_size=bs)
        rows = top_ops(prof, 15)
        busy = device_busy_ms(prof) if cuda else None
        out['profile'] = dict(batch_size=bs, wall_ms=round(t.s * 1e3, 2), top_ops=rows,
                              device_busy_ms=round(busy, 2) if busy is not None else None,
                              device_busy_fraction=round(busy / (t.s * 1e3), 3) if busy else None)
    return out


def train_steps(model, tok, data, a, tmp):
    "(Q)LoRA steps through Trainer: samples/s after the warm-up step, peak memory, losses."
    from transformers import Trainer
    from mllmsent.sft import training_args, sft_collator
    cb = step_timer()
    args = training_args(tmp, max_steps=1 + a.steps, lr=2e-4, batch_size=a.train_batch, logging_steps=1)
    reset_peak()
    tr = Trainer(model=model, args=args, train_dataset=data, data_collator=sft_collator(tok), processing_class=tok, callbacks=[cb])
    tr.train()
    losses = [h['loss'] for h in tr.state.log_history if 'loss' in h]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return dict(samples_per_s=steady_rate(cb.steps, a.train_batch), tokens_per_s=round((steady_rate(cb.steps, a.train_batch) or 0) * a.seq_len),
                step_seconds=[round(s, 3) for s in cb.steps], peak_gib=peak_gib(), losses=losses,
                losses_finite=all(l == l and abs(l) < 1e4 for l in losses), trainable_params=trainable,
                lora_r=a.lora_r, seq_len=a.seq_len, batch_size=a.train_batch)


def main(argv=None):
    a = parse(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not a.smoke: raise SystemExit('no CUDA GPU here: the full shapes need one (--smoke checks the code on a CPU)')
    dtype = torch.bfloat16 if cuda else torch.float32
    full = 'bf16' if cuda else 'fp32'
    rep = Report(a.out, 'llama8b', smoke=a.smoke, layers=a.layers, full_precision=full, peak_tflops_assumed=a.peak_tflops,
                 config=dict(batch_sizes=a.batch_sizes, steps=a.steps, seq_len=a.seq_len, train_batch=a.train_batch, lora_r=a.lora_r))
    from transformers import AutoModelForCausalLM
    from mllmsent.core import set_seed
    from mllmsent.models import llama3_8b_config
    from mllmsent.prompts import caption_prompt, render_prompt
    from mllmsent.sft import add_lora, sft_dataset
    set_seed(0)
    work = tempfile.mkdtemp(prefix='gpu-llama8b-')      # Trainer output folders (nothing is saved in them); removed at the end
    captions = load_captions(64 if a.smoke else None, smoke=a.smoke)
    tok = caption_tokenizer(captions, a.vocab)
    prompts = [render_prompt(tok, caption_prompt(c, LABELS)) for c in captions]
    random.Random(0).shuffle(prompts)
    small = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok)) if a.smoke else {}
    cfg = llama3_8b_config(num_hidden_layers=a.layers, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, **small)
    dev = 'cuda' if cuda else 'cpu'
    rep.set(captions=len(captions), tokenizer_vocab=len(tok), prompt_tokens_mean=round(sum(prompt_lengths(tok, prompts)) / len(prompts), 1))

    def build():
        torch.manual_seed(0)
        with torch.device(dev): m = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        return m.eval()

    model = q = None
    with rep.phase('build_full'):
        reset_peak()
        with timer() as t: model = build()
        n_params = sum(p.numel() for p in model.parameters())
        n_matmul = n_params - model.get_input_embeddings().weight.numel() - model.get_output_embeddings().weight.numel()
        rep.set(n_params=n_params, n_params_matmul=n_matmul, build_full_s=round(t.s, 2),
                full_weights_gib=round(model.get_memory_footprint() / 2**30, 2), build_full_peak_gib=peak_gib())
    if model is None: return rep.finish('the full-precision model could not be built')
    with rep.phase('score_full'):
        rep.set(score_full=score_sweep(model, tok, prompts, a, n_params, n_matmul, cuda, profile=not a.no_profile))
    with rep.phase('load_nf4'):
        reset_peak(); before = allocated_gib()
        with timer() as t: q = quantize_in_memory(model, dtype)
        rep.set(load_nf4_s=round(t.s, 2), nf4_weights_gib=round(q.get_memory_footprint() / 2**30, 2), load_nf4_peak_gib=peak_gib(),
                nf4_allocated_gib=(round(allocated_gib() - before, 2) if cuda else None),
                nf4_linear_type=type(q.model.layers[0].mlp.down_proj).__name__)
    del model; model = None; free_memory()
    if q is not None:
        with rep.phase('score_nf4'):
            rep.set(score_nf4=score_sweep(q, tok, prompts, a, n_params, n_matmul, cuda))
    data = None
    with rep.phase('train_data'):   # captions joined until each instruction fills seq_len tokens (cut from its start by sft_example)
        rng, need, instr = random.Random(1), (1 + a.steps) * a.train_batch, []
        for i in range(need):
            parts, n = [], 0
            while n < a.seq_len:
                c = captions[rng.randrange(len(captions))]; parts.append(c); n += len(tok(c)['input_ids'])
            instr.append(caption_prompt(' '.join(parts), LABELS))
        data = sft_dataset(tok, instr, [LABELS[i % 3] for i in range(need)], max_len=a.seq_len)
        rep.set(train_example_tokens=sorted({len(x['input_ids']) for x in data}))
    if q is not None and data is not None:
        with rep.phase('qlora_steps'):
            q = add_lora(q, r=a.lora_r, alpha=2 * a.lora_r, dropout=0.05, gradient_checkpointing=True)
            rep.set(qlora=train_steps(q, tok, data, a, tempfile.mkdtemp(dir=work)))
    del q; free_memory()
    if data is not None:
        with rep.phase('lora_steps_full'):
            m = add_lora(build(), r=a.lora_r, alpha=2 * a.lora_r, dropout=0.05, gradient_checkpointing=True)
            rep.set(lora_full=train_steps(m, tok, data, a, tempfile.mkdtemp(dir=work)))
            del m
    free_memory(); shutil.rmtree(work, ignore_errors=True)
    d, bs = rep.d, str(a.batch_sizes[-1])
    parts = []
    for k, name in (('score_full', full), ('score_nf4', 'nf4')):
        s = d.get(k, {}).get(bs)
        if s: parts.append(f"{name} scoring b{bs}: {s['prompts_per_s']} prompts/s, {s['prefill_tokens_per_s']} tok/s"
                           + (f", MFU {100 * s['mfu']:.1f}%" if 'mfu' in s else ''))
    if 'load_nf4_s' in d: parts.append(f"nf4 load {d['load_nf4_s']} s, {d['nf4_weights_gib']} GiB")
    for k, name in (('qlora', 'QLoRA'), ('lora_full', f'{full} LoRA')):
        s = d.get(k)
        if s: parts.append(f"{name} {s['samples_per_s']} samples/s, peak {s['peak_gib']} GiB")
    return rep.finish('; '.join(parts))


if __name__ == '__main__': sys.exit(main())
