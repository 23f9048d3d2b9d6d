"""GPU suite, check 2: a LLaVA-1.5-7B-shaped model (CLIP ViT-L/14 at 336 px, Llama-2-7B; random weights, built on the
device, never saved to disk) in bf16 and in 4-bit NF4: LoRA steps (LLaVA-1.5's r=128) and LLaVAC's three-label scoring,
one 336-px image per row; samples/s and peak memory of each.

    python bench/gpu_check_llava7b.py --out llava7b.json            # on a GPU (bench/gpu_suite.sh runs it)
    python bench/gpu_check_llava7b.py --smoke --out llava7b.json    # the tiny LLaVA, on a CPU too: checks the code, measures nothing
    python bench/gpu_check_llava7b.py --cpu --layers 1 --steps 1 --batch 1 --n-score 1 --score-batch 1 --lora-r 8 --out x.json
                                                                    # the real shapes (1 of 32 LM layers) on a CPU: minutes

Rows are tweets made of the first words of real captions (bench/gpu_data/captions.jsonl) with a random-pixel
500x375 image each (the processor resizes and crops it to 336 px: 576 image tokens). Training is LLaVAC's
(`add_llava_lora`, `LLaVACCollator`, transformers' `Trainer` with `train_llavac`'s arguments plus a step timer; gradient
checkpointing; step 1 is warm-up); scoring is `predict_llavac(method='positions')`: three forward passes per batch, one
per label (text, image, multimodal), each scoring the three label names, on the model just trained.
The 4-bit model is transformers' bitsandbytes loader applied to the bf16 weights in memory, vision tower, projector and
LM head left unquantized (`vision_skip_modules`), as `load_vision_model(..., bits=4)` loads a checkpoint.
"""
import argparse, shutil, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import torch
from gpu_common import (Report, load_captions, quantize_in_memory, step_timer, steady_rate, timer, reset_peak, peak_gib,
                        free_memory)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--smoke', action='store_true', help='the tiny LLaVA (32 px images), any device: a check of the code')
    ap.add_argument('--layers', type=int, default=32, help='language-model layers (32 = LLaVA-1.5-7B)')
    ap.add_argument('--steps', type=int, default=3, help='timed LoRA steps after one warm-up step')
    ap.add_argument('--batch', type=int, default=8, help='training batch (rows, one image each)')
    ap.add_argument('--n-score', type=int, default=32, help='rows scored')
    ap.add_argument('--score-batch', type=int, default=8)
    ap.add_argument('--lora-r', type=int, default=128)
    ap.add_argument('--cpu', action='store_true', help="LLaVA-1.5-7B's shapes on a CPU in float32 (with --layers 1 and few rows: minutes)")
    a = ap.parse_args(argv)
    if a.smoke: a.layers, a.steps, a.batch, a.n_score, a.score_batch, a.lora_r = 2, 2, 2, 4, 2, 8
    return a


def examples(n, captions, seed):
    "LLaVAC examples: a tweet-like text from a caption, a random-pixel 500x375 RGB image, random gold labels."
    import pandas as pd
    from PIL import Image
    from mllmsent.llavac import llavac_examples, LABELS
    rng = np.random.default_rng(seed)
    rows = [dict(id=str(i), text=' '.join(captions[(seed * 1000 + i) % len(captions)].split()[:30]) + ' #photo http://t.co/x',
                 image=Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)),
                 text_label=LABELS[rng.integers(3)], image_label=LABELS[rng.integers(3)], label=LABELS[rng.integers(3)])
            for i in range(n)]
    return llavac_examples(pd.DataFrame(rows))


def lora_steps(model, proc, ex, a, cuda):
    "LoRA steps through Trainer with `train_llavac`'s arguments: samples/s after the warm-up step, peak memory, losses."
    from transformers import Trainer, TrainingArguments
    from mllmsent.llavac import add_llava_lora, LLaVACCollator
    model = add_llava_lora(model, r=a.lora_r, lora_alpha=2 * a.lora_r, gradient_checkpointing=True)
    cb = step_timer()
    out = tempfile.mkdtemp(prefix='gpu-llava7b-')          # nothing is saved there (save_strategy 'no'); removed below
    args = TrainingArguments(output_dir=out, max_steps=1 + a.steps, learning_rate=2e-4, per_device_train_batch_size=a.batch,
                             seed=0, data_seed=0, bf16=cuda, lr_scheduler_type='cosine', warmup_steps=0, logging_steps=1,
                             save_strategy='no', report_to=[], remove_unused_columns=False, dataloader_num_workers=0,
                             disable_tqdm=True, use_cpu=not cuda)
    reset_peak()
    tr = Trainer(model=model, args=args, train_dataset=list(ex), data_collator=LLaVACCollator(proc), processing_class=proc, callbacks=[cb])
    tr.train()
    shutil.rmtree(out, ignore_errors=True)
    losses = [h['loss'] for h in tr.state.log_history if 'loss' in h]
    return model.eval(), dict(samples_per_s=steady_rate(cb.steps, a.batch), step_seconds=[round(s, 3) for s in cb.steps],
                              peak_gib=peak_gib(), losses=losses, losses_finite=all(l == l and abs(l) < 1e4 for l in losses),
                              batch_size=a.batch, lora_r=a.lora_r)


def score(model, proc, ex, a):
    "LLaVAC's three-label scoring ('positions'): samples/s, peak memory; one warm-up batch first."
    from mllmsent.llavac import predict_llavac, LABELS
    free_memory()                   # the Trainer (and its optimizer state) of the LoRA steps is gone
    predict_llavac(model, proc, ex[:a.score_batch], method='positions', batch_size=a.score_batch)
    reset_peak()
    with timer() as t: pred = predict_llavac(model, proc, ex, method='positions', batch_size=a.score_batch)
    ok = all(pred[c].isin(LABELS).all() for c in ('text_label', 'image_label', 'multimodal_label'))
    return dict(samples_per_s=round(len(ex) / t.s, 3), seconds=round(t.s, 3), rows=len(ex), batch_size=a.score_batch,
                forward_passes_per_batch=3, candidates_per_pass=3, peak_gib=peak_gib(), predicted=len(pred), labels_valid=bool(ok))


def main(argv=None):
    a = parse(argv)
    cuda = torch.cuda.is_available() and not a.cpu
    if not cuda and not (a.smoke or a.cpu): raise SystemExit('no CUDA GPU here: the full shapes need one (--smoke checks the code on a CPU)')
    dtype = torch.bfloat16 if cuda else torch.float32
    full = 'bf16' if cuda else 'fp32'
    rep = Report(a.out, 'llava7b', smoke=a.smoke, layers=a.layers, full_precision=full,
                 config=dict(steps=a.steps, batch=a.batch, n_score=a.n_score, score_batch=a.score_batch, lora_r=a.lora_r))
    from mllmsent.core import set_seed
    from mllmsent.llavac import LLaVACCollator
    from mllmsent.vision_models import tiny_llava, tiny_llava_tokenizer, llava_7b_config, llava_processor, vision_skip_modules
    set_seed(0)
    captions = load_captions(64 if a.smoke else None, smoke=a.smoke)
    if a.smoke: _, proc = tiny_llava(image_size=32, patch_size=8)
    else:
        tok = tiny_llava_tokenizer(vocab_size=512)
        cfg = llava_7b_config(vocab_size=32064, image_token_index=tok.convert_tokens_to_ids('<image>'), num_hidden_layers=a.layers)
        cfg.text_config.pad_token_id = tok.pad_token_id
        proc = llava_processor(tok)                                   # LLaVA-1.5's 336 px, patch 14

    def build():
        if a.smoke: return tiny_llava(image_size=32, patch_size=8)[0].eval()
        from transformers import AutoModelForImageTextToText
        torch.manual_seed(0)
        with torch.device('cuda' if cuda else 'cpu'): m = AutoModelForImageTextToText.from_config(cfg, dtype=dtype)
        m.generation_config.pad_token_id = proc.tokenizer.pad_token_id
        return m.eval()

    train_ex = examples((1 + a.steps) * a.batch, captions, seed=1)
    score_ex = examples(a.n_score, captions, seed=2)
    rep.set(image_tokens=int((LLaVACCollator(proc, train=False)(score_ex[:1])['input_ids'] == proc.tokenizer.convert_tokens_to_ids('<image>')).sum()),
            prompt_tokens=int(LLaVACCollator(proc, train=False)(score_ex[:1])['input_ids'].shape[1]))
    model = q = None
    with rep.phase('build_full'):
        reset_peak()
        with timer() as t: model = build()
        rep.set(n_params=sum(p.numel() for p in model.parameters()), build_full_s=round(t.s, 2),
                full_weights_gib=round(model.get_memory_footprint() / 2**30, 2), build_full_peak_gib=peak_gib())
    if model is None: return rep.finish('the full-precision model could not be built')
    with rep.phase('load_nf4'):
        reset_peak()
        with timer() as t: q = quantize_in_memory(model, dtype, skip_modules=vision_skip_modules())
        n4 = lambda part: sum(type(m).__name__ == 'Linear4bit' for n, m in q.named_modules() if part in n)
        rep.set(load_nf4_s=round(t.s, 2), nf4_weights_gib=round(q.get_memory_footprint() / 2**30, 2), load_nf4_peak_gib=peak_gib(),
                nf4_linear4bit_language_model=n4('language_model'), nf4_linear4bit_vision_tower=n4('vision_tower'),
                nf4_linear4bit_projector=n4('multi_modal_projector'))
    del model; model = None; free_memory()
    for name in ('nf4', full):
        if name == 'nf4' and q is None: continue
        with rep.phase(f'lora_{name}'):
            m = q if name == 'nf4' else build()
            q = None
            m, r = lora_steps(m, proc, train_ex, a, cuda)
            rep.set(**{f'lora_{name}': r})
        with rep.phase(f'score_{name}'):
            rep.set(**{f'score_{name}': score(m, proc, score_ex, a)})
        m = None; free_memory()
    parts = []
    for name in ('nf4', full):
        l, s = rep.d.get(f'lora_{name}'), rep.d.get(f'score_{name}')
        if l: parts.append(f"{name} LoRA {l['samples_per_s']} samples/s (peak {l['peak_gib']} GiB)")
        if s: parts.append(f"{name} 3-label scoring {s['samples_per_s']} samples/s (peak {s['peak_gib']} GiB)")
    if 'load_nf4_s' in rep.d: parts.append(f"nf4 load {rep.d['load_nf4_s']} s, {rep.d['nf4_weights_gib']} GiB")
    return rep.finish('; '.join(parts))


if __name__ == '__main__': sys.exit(main())
