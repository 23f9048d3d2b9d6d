"""QLoRA on a LLaMA-3-8B-sized model (GPU only): 4-bit load, a few training steps, label scoring.

The model is built from LLaMA-3-8B's shapes (`mllmsent.models.llama3_8b_config`) with random weights, so
nothing is downloaded: it is created in bfloat16 on the GPU, saved to a local folder (safetensors), and
loaded back through `load_causal_lm(folder, quantization='4bit')` -- the same path a hub id takes. Then
LoRA adapters on every projection, `--steps` optimizer steps of SFT through `Trainer` (gradient
checkpointing), and label scoring vs generation on the trained model. Records training samples/s, scoring
and generation prompts/s, and the peak GPU memory (torch.cuda.max_memory_allocated) of each phase to
bench/results/qlora_gpu.json and prints `ratio: X` (generation time / scoring time).

    python bench/bench_qlora_gpu.py [--layers 32] [--steps 10] [--seq-len 256] [--batch-size 4] [--folder /tmp/llama3-8b-random]
    python bench/bench_qlora_gpu.py --smoke     # the same steps on a tiny LLaMA-3-shaped model, on a CPU too (a check, not a measurement)
    python bench/bench_qlora_gpu.py --cpu --layers 2 --steps 2 --seq-len 64 --batch-size 2 --n-score 8 --new-tokens 4
                                                # LLaMA-3-8B's layer shapes and vocabulary, 2 of its 32 layers, on a CPU
    python bench/bench_qlora_gpu.py --cpu --dtype bfloat16 --steps 2 --seq-len 64 --batch-size 2 --n-score 8 --new-tokens 4
                                                # all 32 layers (8.0B parameters) on a CPU: needs ~20 GB of RAM and ~16 GB of disk
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path
import torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--layers', type=int, default=32, help='decoder layers (32 = LLaMA-3-8B; fewer for a quick check)')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--seq-len', type=int, default=256, help='training example length in tokens (prompts are padded with words to it)')
    ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--n-score', type=int, default=64, help='prompts to score / generate for')
    ap.add_argument('--new-tokens', type=int, default=48)
    ap.add_argument('--folder', default=None, help='where the random model is saved (default: a temp folder, deleted after)')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'qlora_gpu.json'))
    ap.add_argument('--smoke', action='store_true', help='tiny hidden sizes, 2 layers, 2 steps: checks the code path on any device')
    ap.add_argument('--cpu', action='store_true', help='run on the CPU with the real shapes (float32 unless --dtype bfloat16)')
    ap.add_argument('--dtype', choices=['auto', 'bfloat16', 'float32'], default='auto',
                    help='weights of the built model and 4-bit compute dtype; auto: bfloat16 on a GPU, float32 on a CPU')
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available() and not a.cpu
    if not cuda and not (a.smoke or a.cpu):
        print('bench_qlora_gpu: no CUDA GPU here; nothing measured (this benchmark only runs on a GPU; --smoke checks the code on a CPU).'); return 0
    small = {}
    if a.smoke:
        small = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2)
        a.layers, a.steps, a.seq_len, a.batch_size, a.n_score, a.new_tokens = 2, 2, 64, 2, 8, 4
        if a.out == ap.get_default('out'): a.out = os.path.join(tempfile.mkdtemp(), 'qlora_smoke.json')
    dev = 'cuda' if cuda else 'cpu'
    dtype = getattr(torch, a.dtype) if a.dtype != 'auto' else torch.bfloat16 if cuda else torch.float32
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    reset_peak = torch.cuda.reset_peak_memory_stats if cuda else (lambda: None)
    peak_gib = (lambda: round(torch.cuda.max_memory_allocated() / 2**30, 2)) if cuda else (lambda: None)

    from mllmsent.core import set_seed, write_json
    from mllmsent.models import llama3_8b_config, load_causal_lm
    from mllmsent.prompts import render_prompt
    from mllmsent.scoring import predict_labels, generate_answers
    from mllmsent.sft import toy_tokenizer, toy_sentiment_data, add_lora, sft_dataset, train_sft
    set_seed(0)
    res = dict(device=torch.cuda.get_device_name(0) if cuda else 'cpu', smoke=a.smoke, cpu=a.cpu, dtype=str(dtype), layers=a.layers, steps=a.steps, seq_len=a.seq_len, batch_size=a.batch_size,
               torch=torch.__version__)
    tok = toy_tokenizer()                      # token ids < 500, valid in LLaMA-3's 128256-token vocabulary
    cfg = llama3_8b_config(num_hidden_layers=a.layers, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, **small)
    folder = Path(a.folder or tempfile.mkdtemp(prefix='llama3-8b-random-'))

    # 1. build the random model in bf16 on the GPU and save it (skipped when the folder already holds one)
    t0 = time.perf_counter()
    if not (folder/'config.json').exists():
        from transformers import AutoModelForCausalLM
        with torch.device(dev): m = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        res['n_params_b'] = round(sum(p.numel() for p in m.parameters()) / 1e9, 3)
        m.save_pretrained(folder, safe_serialization=True); tok.save_pretrained(folder)
        del m
        if cuda: torch.cuda.empty_cache()
    res['build_and_save_s'] = round(time.perf_counter() - t0, 1)

    # 2. load in 4-bit NF4 (double quantization, bf16 compute)
    reset_peak(); t0 = time.perf_counter()
    model = load_causal_lm(folder, quantization='4bit', dtype=dtype, device_map={'': 0} if cuda else {'': 'cpu'})
    res['load_4bit_s'] = round(time.perf_counter() - t0, 1)
    res['load_4bit_peak_gib'] = peak_gib()
    res['weights_4bit_gib'] = round(model.get_memory_footprint() / 2**30, 2)

    # 3. QLoRA SFT steps through Trainer
    model = add_lora(model, r=16, alpha=32, dropout=0.05, gradient_checkpointing=True)
    texts, labels = toy_sentiment_data(a.steps * a.batch_size, seed=0)
    filler = ' '.join(['the street with a dog'] * (a.seq_len // 5))
    long_texts = [t.replace('Text:', f'Context: {filler}\nText:') for t in texts]
    data = sft_dataset(tok, long_texts, labels, max_len=a.seq_len)
    reset_peak()
    tr = train_sft(model, tok, data, tempfile.mkdtemp(), max_steps=a.steps, lr=2e-4, batch_size=a.batch_size, logging_steps=1)
    m = tr.state.log_history[-1]
    res['train_samples_per_s'] = m.get('train_samples_per_second')
    res['train_runtime_s'] = m.get('train_runtime')
    res['train_peak_gib'] = peak_gib()
    res['train_losses'] = [h['loss'] for h in tr.state.log_history if 'loss' in h]

    # 4. label scoring vs generation on the QLoRA model
    tx, _ = toy_sentiment_data(a.n_score, seed=1)
    prompts = [render_prompt(tok, t) for t in tx]
    predict_labels(model, tok, prompts[:2], ['positive', 'negative'])        # warm-up
    reset_peak(); sync(); t0 = time.perf_counter()
    predict_labels(model, tok, prompts, ['positive', 'negative'], batch_size=16)
    sync(); t_score = time.perf_counter() - t0
    res['score_prompts_per_s'] = round(len(prompts) / t_score, 2)
    res['score_peak_gib'] = peak_gib()
    sync(); t0 = time.perf_counter()
    generate_answers(model, tok, prompts, max_new_tokens=a.new_tokens, batch_size=16, do_sample=True, temperature=0.9)
    sync(); t_gen = time.perf_counter() - t0
    res['generate_prompts_per_s'] = round(len(prompts) / t_gen, 2)
    res['ratio_generate_over_score'] = round(t_gen / t_score, 2)
    write_json(res, a.out)
    print(json.dumps(res, indent=1))
    print(f"ratio: {t_gen / t_score:.2f}  (generation of {a.new_tokens} tokens / label scoring, batch 16)")
    if a.folder is None: shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == '__main__': sys.exit(main())
