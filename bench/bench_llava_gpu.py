"""LLaVA-1.5-7B-sized model from its config (random weights) on one GPU: LoRA training and LLaVAC label scoring,
bf16 vs 4-bit (QLoRA). Records samples/s and peak GPU memory of each; skipped (exit 0) where there is no GPU.

    python bench/bench_llava_gpu.py [--steps 5] [--batch-size 4] [--n-score 16] [--out bench_llava_gpu.json]

Prints one line per variant and `ratio: X` (bf16 training samples/s / 4-bit training samples/s).
The weights are random: the numbers measure speed and memory, not accuracy.
"""
import os, sys, time, json, argparse, tempfile
import torch

def build(bits, tmp):
    "A LLaVA-1.5-7B config model on the GPU: bf16, or saved once and reloaded in 4-bit through `load_vision_model`."
    from transformers import LlavaForConditionalGeneration, LlavaProcessor, CLIPImageProcessorPil
    from mllmsent.vision_models import llava_7b_config, tiny_llava_tokenizer, load_vision_model, LLAVA_CHAT_TEMPLATE
    tok = tiny_llava_tokenizer(vocab_size=512)
    cfg = llava_7b_config(vocab_size=32064, image_token_index=tok.convert_tokens_to_ids('<image>'))
    cfg.text_config.pad_token_id = tok.pad_token_id
    ip = CLIPImageProcessorPil(size={'shortest_edge': 336}, crop_size={'height': 336, 'width': 336})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14, vision_feature_select_strategy='default',
                          num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)
    if bits is None:
        torch.set_default_dtype(torch.bfloat16)
        with torch.device('cuda'): model = LlavaForConditionalGeneration(cfg)
        torch.set_default_dtype(torch.float32)
        return model.eval(), proc
    path = os.path.join(tmp, 'llava7b')
    if not os.path.exists(path):
        torch.set_default_dtype(torch.bfloat16)
        model = LlavaForConditionalGeneration(cfg)                     # on CPU, ~14 GB in bf16
        torch.set_default_dtype(torch.float32)
        model.save_pretrained(path); proc.save_pretrained(path); del model
    return load_vision_model(path, bits=bits, dtype=torch.bfloat16, device_map={'': 0})

def examples(n):
    from PIL import Image
    import pandas as pd
    from mllmsent.llavac import llavac_examples, LABELS
    rows = [dict(id=str(i), text=f'tweet number {i} #love http://t.co/x', image=Image.new('RGB', (500, 375), (i * 40 % 256, 90, 160)),
                 text_label=LABELS[i % 3], image_label=LABELS[(i + 1) % 3], label=LABELS[i % 3]) for i in range(n)]
    return llavac_examples(pd.DataFrame(rows))

def run(bits, a, tmp):
    from mllmsent.llavac import add_llava_lora, LLaVACCollator, predict_llavac
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    model, proc = build(bits, tmp)
    model = add_llava_lora(model, r=128, lora_alpha=256, gradient_checkpointing=True)   # also makes inputs require grad (bf16)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    col, ex = LLaVACCollator(proc), examples(a.batch_size * (a.steps + 1))
    model.train()
    for s in range(a.steps + 1):
        if s == 1: torch.cuda.synchronize(); t = time.perf_counter()     # step 0 is warm-up
        batch = {k: v.cuda() for k, v in col(ex[s * a.batch_size:(s + 1) * a.batch_size]).items()}
        batch['pixel_values'] = batch['pixel_values'].to(torch.bfloat16)
        with torch.autocast('cuda', dtype=torch.bfloat16): loss = model(**batch).loss
        loss.backward(); opt.step(); opt.zero_grad()
    torch.cuda.synchronize(); train_sps = a.steps * a.batch_size / (time.perf_counter() - t)
    model.eval()
    t = time.perf_counter()
    with torch.autocast('cuda', dtype=torch.bfloat16):
        pred = predict_llavac(model, proc, examples(a.n_score), method='positions', batch_size=a.batch_size)
    torch.cuda.synchronize(); score_sps = a.n_score / (time.perf_counter() - t)
    res = dict(variant='bf16' if bits is None else f'{bits}-bit', train_samples_per_s=train_sps, score_samples_per_s=score_sps,
               peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30, loss=float(loss), predicted=len(pred))
    del model, opt; torch.cuda.empty_cache()
    return res

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=5); ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--n-score', type=int, default=16); ap.add_argument('--out', default='bench_llava_gpu.json')
    ap.add_argument('--tmp', default=None, help='where the 4-bit variant saves the random 7B checkpoint (needs ~14 GB)')
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print('no CUDA GPU: skipped'); return 0
    tmp = a.tmp or tempfile.mkdtemp()
    results = []
    for bits in (None, 4):
        r = run(bits, a, tmp); results.append(r)
        print(f"{r['variant']:>6}: LoRA training {r['train_samples_per_s']:.2f} samples/s, label scoring {r['score_samples_per_s']:.2f} "
              f"samples/s, peak {r['peak_memory_gib']:.1f} GiB, loss {r['loss']:.3f}")
    print(f"ratio: {results[0]['train_samples_per_s'] / results[1]['train_samples_per_s']:.2f}")
    json.dump(dict(device=torch.cuda.get_device_name(0), results=results, args=vars(a)), open(a.out, 'w'), indent=2)

if __name__ == '__main__': sys.exit(main())
