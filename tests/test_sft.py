"Instruction SFT with LoRA and QLoRA (mllmsent.sft): a tiny model must learn the toy task, scored by label scoring."
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pytest, torch
torch.set_num_threads(1)
from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error()
from mllmsent.models import tiny_causal_lm, save_tiny, load_causal_lm
from mllmsent.prompts import render_prompt
from mllmsent.scoring import predict_labels
from mllmsent.sft import (toy_tokenizer, toy_sentiment_data, sft_example, sft_dataset, sft_collator, add_lora, train_sft,
                          save_adapter, merge_adapter, is_quantized)

LABELS = ['positive', 'negative']


@pytest.fixture(scope='module')
def tok(): return toy_tokenizer()

@pytest.fixture(scope='module')
def base_dir(tok, tmp_path_factory):
    return save_tiny(tiny_causal_lm('llama', tokenizer=tok, seed=0), tok, tmp_path_factory.mktemp('base'))

@pytest.fixture(scope='module')
def train_data(tok):
    tx, ty = toy_sentiment_data(256, seed=0)
    return sft_dataset(tok, tx, ty)


def accuracy(model, tok, n=100, seed=1):
    "Label-scoring accuracy on fresh toy examples (a different seed from training)."
    tx, ty = toy_sentiment_data(n, seed=seed)
    pred, probs = predict_labels(model, tok, [render_prompt(tok, t) for t in tx], LABELS, batch_size=50)
    assert probs.shape == (n, 2)
    return float(np.mean([p == y for p, y in zip(pred, ty)]))


def test_lora_sft_learns_toy_task(tok, base_dir, train_data, tmp_path):
    model = add_lora(load_causal_lm(base_dir), r=8, alpha=16, dropout=0.0)
    before = accuracy(model, tok)
    assert 0.25 <= before <= 0.75, before                 # chance before training
    tr = train_sft(model, tok, train_data, tmp_path / 'run', max_steps=100, lr=1e-2, batch_size=16, logging_steps=25)
    losses = [h['loss'] for h in tr.state.log_history if 'loss' in h]
    assert losses[-1] < losses[0] * 0.7
    after = accuracy(model, tok)
    assert after >= 0.95, (before, after)
    # adapter saved as safetensors, merged into the full-precision base: same predictions without peft
    ad = save_adapter(model, tmp_path / 'adapter', tokenizer=tok)
    assert (ad / 'adapter_model.safetensors').exists() and (ad / 'adapter_config.json').exists()
    merged = merge_adapter(base_dir, ad)
    assert not hasattr(merged, 'peft_config')
    assert accuracy(merged, tok) == after


def test_qlora_4bit_sft_learns_toy_task(tok, base_dir, train_data, tmp_path):
    model = load_causal_lm(base_dir, quantization='4bit')
    assert is_quantized(model) and type(model.model.layers[0].mlp.up_proj).__name__ == 'Linear4bit'
    model = add_lora(model, r=8, alpha=16, dropout=0.0)
    before = accuracy(model, tok)
    assert 0.25 <= before <= 0.75, before
    train_sft(model, tok, train_data, tmp_path / 'run', max_steps=100, lr=1e-2, batch_size=16, logging_steps=50)
    after = accuracy(model, tok)
    assert after >= 0.95, (before, after)
    # the QLoRA adapter merged into the unquantized base still solves the task
    merged = merge_adapter(base_dir, save_adapter(model, tmp_path / 'adapter'))
    assert type(merged.model.layers[0].mlp.up_proj).__name__ == 'Linear'
    assert accuracy(merged, tok) >= 0.9


def test_answer_only_labels_and_padding(tok, train_data):
    ex = train_data[0]
    answer = [t for t, l in zip(ex['input_ids'], ex['labels']) if l != -100]
    assert tok.decode(answer) == ' positive</s>'
    assert ex['labels'][:len(ex['labels']) - len(answer)] == [-100] * (len(ex['labels']) - len(answer))
    batch = sft_collator(tok)(train_data[:5])
    pad = batch['attention_mask'] == 0
    assert (batch['labels'][pad] == -100).all() and (batch['input_ids'][pad] == tok.pad_token_id).all()
    assert batch['input_ids'][:, 0].eq(tok.bos_token_id).all()        # right padding keeps BOS first


def test_truncation_keeps_bos_and_answer(tok):
    prompt = render_prompt(tok, "Text: " + "good " * 200 + "Sentiment:")
    ex = sft_example(tok, prompt, 'positive', max_len=32)
    assert len(ex['input_ids']) == 32 and ex['input_ids'][0] == tok.bos_token_id
    assert tok.decode([t for t, l in zip(ex['input_ids'], ex['labels']) if l != -100]) == ' positive</s>'
    with pytest.raises(ValueError, match="more than max_len"): sft_example(tok, prompt, 'good ' * 50, max_len=16)
    with pytest.raises(ValueError, match="2 instructions but 1 answers"): sft_dataset(tok, ['a', 'b'], ['positive'])


def test_chat_template_examples_end_with_assistant_turn():
    tok = toy_tokenizer(chat_template=True)
    ex = sft_dataset(tok, ["Text: good dog Sentiment:"], ['positive'])[0]
    prompt_ids = [t for t, l in zip(ex['input_ids'], ex['labels']) if l == -100]
    assert tok.decode(prompt_ids).endswith('<|assistant|>\n')
