"""LLaVA-1.5-7B-sized model from its config (random weights) on one GPU: LoRA training and LLaVAC label scoring,
bf16 vs 4-bit (QLoRA). Records samples/s and peak GPU memory of each; skipped (exit 0) where there is no GPU.

    python bench/bench_llava_gpu.py [--steps 5] [--batch-size 4] [--n-score 16] [--out bench_llava_gpu.json]
    python bench/bench_llava_gpu.py --smoke     # the same steps on the tiny LLaVA, on a CPU too (a check, not a measurement)
    python bench/bench_llava_gpu.py --cpu --layers 2 --steps 1 --batch-size 1 --n-score 2
                                                # LLaVA-1.5-7B's vision tower and layer shapes, 2 of 32 LM layers, on a CPU

Prints one line per variant and `ratio: X` (bf16 training samples/s / 4-bit training samples/s).
The weights are random: the numbers measure speed and memory, not accuracy.
"""
import os, sys, time, json, argparse, tempfile
import torch

def _dtype(a, cuda):
    "Weights and compute dtype: --dtype, else bfloat16 on a GPU and float32 on a CPU."
    return getattr(torch, a.dtype) if a.dtype != 'auto' else torch.bfloat16 if cuda else torch.float32

def build(bits, tmp, a, cuda):
    """LLaVA-1.5-7B's config (or, with --smoke, `tiny_llava`) with random weights: full precision on the device, or saved
    once and reloaded quantized through `load_vision_model`, the path a hub id takes."""
    from transformers import LlavaForConditionalGeneration
    from mllmsent.vision_models import llava_7b_config, tiny_llava, tiny_llava_tokenizer, llava_processor, load_vision_model
    dtype = _dtype(a, cuda)
    if a.smoke: model, proc = tiny_llava(image_size=32, patch_size=8)
    else:
        tok = tiny_llava_tokenizer(vocab_size=512)
        cfg = llava_7b_config(vocab_size=32064, image_token_index=tok.convert_tokens_to_ids('<image>'), num_hidden_layers=a.layers)
        cfg.text_config.pad_token_id = tok.pad_token_id
        proc, model = llava_processor(tok), None                          # LLaVA-1.5's 336 px, patch 14
    if bits is None:
        if model is None:
            torch.set_default_dtype(dtype)
            with torch.device('cuda' if cuda else 'cpu'): model = LlavaForConditionalGeneration(cfg)
            torch.set_default_dtype(torch.float32)
        return model.to('cuda' if cuda else 'cpu').eval(), proc
    path = os.path.join(tmp, 'llava-smoke' if a.smoke else f'llava7b-{a.layers}layers')
    if not os.path.exists(path):
        if model is None:
            torch.set_default_dtype(torch.bfloat16)
            model = LlavaForConditionalGeneration(cfg)                     # on CPU, ~14 GB in bf16
            torch.set_default_dtype(torch.float32)
        model.save_pretrained(path); proc.save_pretrained(path); del model
    return load_vision_model(path, bits=bits, dtype=dtype, device_map={'': 0 if cuda else 'cpu'})

def examples(n):
    from PIL import Image
    import pandas as pd
    from mllmsent.llavac import llavac_examples, LABELS
    rows = [dict(id=str(i), text=f'tweet number {i} #love http://t.co/x', image=Image.new('RGB', (500, 375), (i * 40 % 256, 90, 160)),
                 text_label=LABELS[i % 3], image_label=LABELS[(i + 1) % 3], label=LABELS[i % 3]) for i in range(n)]
    return llavac_examples(pd.DataFrame(rows))

def run(bits, a, tmp, cuda):
    from mllmsent.llavac import add_llava_lora, LLaVACCollator, predict_llavac
    dev, dtype = 'cuda' if cuda else 'cpu', _dtype(a, cuda)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    model, proc = build(bits, tmp, a, cuda)
    model = add_llava_lora(model, r=128, lora_alpha=256, gradient_checkpointing=True)   # also makes inputs require grad (bf16)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    col, ex = LLaVACCollator(proc), examples(a.batch_size * (a.steps + 1))
    model.train()
    for s in range(a.steps + 1):
        if s == 1: sync(); t = time.perf_counter()     # step 0 is warm-up
        batch = {k: v.to(dev) for k, v in col(ex[s * a.batch_size:(s + 1) * a.batch_size]).items()}
        batch['pixel_values'] = batch['pixel_values'].to(dtype)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=cuda and dtype == torch.bfloat16): loss = model(**batch).loss
        loss.backward(); opt.step(); opt.zero_grad()
    sync(); train_sps = a.steps * a.batch_size / (time.perf_counter() - t)
    model.eval()
    t = time.perf_counter()
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=cuda and dtype == torch.bfloat16):
        pred = predict_llavac(model, proc, examples(a.n_score), method='positions', batch_size=a.batch_size)
    sync(); score_sps = a.n_score / (time.perf_counter() - t)
    res = dict(variant=('bf16' if dtype == torch.bfloat16 else 'fp32') if bits is None else f'{bits}-bit', train_samples_per_s=train_sps,
               score_samples_per_s=score_sps, peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
               loss=float(loss.detach()), predicted=len(pred))
    del model, opt
    if cuda: torch.cuda.empty_cache()
    return res

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=5); ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--n-score', type=int, default=16); ap.add_argument('--out', default='bench_llava_gpu.json')
    ap.add_argument('--tmp', default=None, help='where the 4-bit variant saves the random 7B checkpoint (needs ~14 GB)')
    ap.add_argument('--smoke', action='store_true', help='the tiny LLaVA, 1 step, on any device: checks the code path (no measurement)')
    ap.add_argument('--cpu', action='store_true', help="run on the CPU with LLaVA-1.5-7B's shapes (use few --layers)")
    ap.add_argument('--layers', type=int, default=32, help='language-model layers (32 = LLaVA-1.5-7B)')
    ap.add_argument('--dtype', choices=['auto', 'bfloat16', 'float32'], default='auto', help='auto: bfloat16 on a GPU, float32 on a CPU')
    ap.add_argument('--variants', default='full,4', help="comma list of 'full' (unquantized) and 4 / 8 (bits)")
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available() and not a.cpu
    if not cuda and not (a.smoke or a.cpu):
        print('no CUDA GPU: skipped (--smoke checks the code on a CPU)'); return 0
    if a.smoke:
        a.steps, a.batch_size, a.n_score = 1, 2, 4
        if a.out == ap.get_default('out'): a.out = os.path.join(tempfile.mkdtemp(), 'llava_smoke.json')
    tmp = a.tmp or tempfile.mkdtemp()
    results = []
    for v in a.variants.split(','):
        r = run(None if v == 'full' else int(v), a, tmp, cuda); results.append(r)
        peak = f"{r['peak_memory_gib']:.1f} GiB" if r['peak_memory_gib'] is not None else 'n/a (CPU)'
        print(f"{r['variant']:>6}: LoRA training {r['train_samples_per_s']:.2f} samples/s, label scoring {r['score_samples_per_s']:.2f} "
              f"samples/s, peak {peak}, loss {r['loss']:.3f}")
    if len(results) == 2: print(f"ratio: {results[0]['train_samples_per_s'] / results[1]['train_samples_per_s']:.2f}")
    with open(a.out, 'w') as f:
        json.dump(dict(device=torch.cuda.get_device_name(0) if cuda else 'cpu', smoke=a.smoke, results=results, args=vars(a)), f, indent=2)
    return 0

if __name__ == '__main__': sys.exit(main())
