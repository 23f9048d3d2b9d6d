"Label scoring and batched generation (mllmsent.scoring) on tiny offline models."
import os, warnings
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pytest, torch
torch.set_num_threads(1)
from mllmsent.models import tiny_tokenizer, tiny_causal_lm
from mllmsent.scoring import (answer_token_ids, candidate_logprobs, score_candidates, predict_labels,
                              generate_answers, generate_and_parse)
from mllmsent.prompts import render_prompt, parse_label

CORPUS = ["Text: good happy fine nice. Sentiment: positive", "Text: bad sad awful grim. Sentiment: negative",
          "Text: a plain grey wall. Sentiment: neutral", "Human: \nCaption: a dog\n\nAssistant: slightly positive"] * 20
PROMPTS = ["Text: good happy. Sentiment:", "Text: a long plain grey wall with nothing on it at all. Sentiment:",
           "Human: \nCaption: a dog\n\nAssistant: ", "Text: bad. Sentiment:"]


@pytest.fixture(scope='module')
def tok(): return tiny_tokenizer(CORPUS, vocab_size=420, chat_template=True)

@pytest.fixture(scope='module')
def model(tok): return tiny_causal_lm('llama', tokenizer=tok, seed=1)


def _token_logprobs_alone(model, tok, prompt, cand):
    "Reference: the candidate's token log-probs from a forward pass of prompt+candidate alone (no padding, no batching)."
    p, a = answer_token_ids(tok, prompt, cand)
    ids = torch.tensor([p + a])
    with torch.no_grad(): lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return np.array([lp[len(p) + j - 1, t].item() for j, t in enumerate(a)])


def _round_trips(tok, prompt, t):
    "Token t, decoded and appended to the prompt, tokenizes back to exactly [t] (a usable single-token label)."
    s = tok.decode([t])
    if t in tok.all_special_ids or not s or '\ufffd' in s: return False
    try: return answer_token_ids(tok, prompt, s)[1] == [t]
    except ValueError: return False


def test_scoring_picks_greedy_first_choice(model, tok):
    "With single-token labels, scoring's top candidate is the token greedy generation writes first."
    prompts = PROMPTS + [f"Text: {w}. Sentiment:" for w in ['nice', 'grim', 'fine day', 'sad dog', 'wall', 'happy',
                                                        'awful', 'a dog', 'good good', 'street', 'bad day', 'plain']]
    checked = 0
    for prompt in prompts:
        enc = tok(prompt, return_tensors='pt')
        g = model.generate(**enc, max_new_tokens=1, do_sample=False)[0, -1].item()
        if not _round_trips(tok, prompt, g): continue      # a byte piece of a longer character is not a label
        others = [t for t in range(len(tok)) if t != g and _round_trips(tok, prompt, t)][:7]
        labels = [tok.decode([t]) for t in others[:3]] + [tok.decode([g])] + [tok.decode([t]) for t in others[3:]]
        probs = score_candidates(model, tok, [prompt], labels)
        assert labels[int(probs.argmax())] == tok.decode([g])
        # and greedy generation's text is that label
        assert generate_answers(model, tok, [prompt], max_new_tokens=1)[0] == tok.decode([g])
        checked += 1
    assert checked >= 3


def test_single_token_probs_are_renormalized_next_token_probs(model, tok):
    cands = [" positive", " negative", " neutral"]
    probs = score_candidates(model, tok, PROMPTS[:2], cands)
    for i, p in enumerate(PROMPTS[:2]):
        with torch.no_grad(): nxt = torch.softmax(model(**tok(p, return_tensors='pt')).logits[0, -1], -1)
        ids = [answer_token_ids(tok, p, c)[1][0] for c in cands]
        np.testing.assert_allclose(probs[i], (nxt[ids] / nxt[ids].sum()).numpy(), atol=1e-5)


@pytest.mark.parametrize('normalize', ['sum', 'mean'])
@pytest.mark.parametrize('share_prompt', [True, False])
def test_multi_token_matches_unbatched_reference(model, tok, normalize, share_prompt):
    "Padding, batching and prompt sharing over prompts of different lengths must not change any candidate's log-prob."
    cands = [" slightly positive", " negative", " very very negative"]
    lp = candidate_logprobs(model, tok, PROMPTS, cands, batch_size=3, normalize=normalize, share_prompt=share_prompt)
    for i, p in enumerate(PROMPTS):
        for j, c in enumerate(cands):
            ref = _token_logprobs_alone(model, tok, p, c)
            assert len(ref) >= 1
            np.testing.assert_allclose(lp[i, j], ref.sum() if normalize == 'sum' else ref.mean(), atol=1e-4)
    assert any(len(answer_token_ids(tok, PROMPTS[0], c)[1]) > 1 for c in cands)  # really multi-token


def test_batch_size_invariance_and_per_prompt_candidates(model, tok):
    cands = [[" positive", " negative"], [" neutral", " positive"], ["slightly positive", "negative"], [" good", " bad"]]
    a = score_candidates(model, tok, PROMPTS, cands, batch_size=1)
    b = score_candidates(model, tok, PROMPTS, cands, batch_size=16)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a.sum(1), 1, atol=1e-9)


@pytest.mark.parametrize('share_prompt', [True, False])
def test_opt_architecture(tok, share_prompt):
    opt = tiny_causal_lm('opt', tokenizer=tok, seed=2)
    cands = [" positive", " slightly positive", "slightly negative"]
    lp = candidate_logprobs(opt, tok, PROMPTS, cands, batch_size=4, share_prompt=share_prompt)
    for i, p in enumerate(PROMPTS):
        for j, c in enumerate(cands):
            np.testing.assert_allclose(lp[i, j], _token_logprobs_alone(opt, tok, p, c).sum(), atol=1e-4)


def test_chat_template_prompt_with_bos_is_not_doubled(model, tok):
    "A chat template that writes the BOS token itself must not get a second one from the tokenizer."
    tok2 = tiny_tokenizer(CORPUS, vocab_size=420, chat_template=True)
    tok2.chat_template = "{{ bos_token }}" + tok2.chat_template
    prompt = render_prompt(tok2, "Text: good. Sentiment?")
    assert prompt.startswith('<s>') and prompt.endswith('<|assistant|>\n')
    p, _ = answer_token_ids(tok2, prompt, "positive")
    assert p.count(tok2.bos_token_id) == 1
    probs = score_candidates(model, tok2, [prompt], ["positive", "negative"])
    assert probs.shape == (1, 2)


def test_predict_labels_adds_space_only_where_needed(model, tok):
    names, probs = predict_labels(model, tok, PROMPTS, ['positive', 'negative'])
    assert len(names) == 4 and probs.shape == (4, 2) and set(names) <= {'positive', 'negative'}
    # "Sentiment:" + " positive" and "Assistant: " + "positive" give the same single answer token
    assert answer_token_ids(tok, PROMPTS[0], ' positive')[1] == answer_token_ids(tok, PROMPTS[2], 'positive')[1]


def test_bad_inputs(model, tok):
    with pytest.raises(ValueError, match="'sum' or 'mean'"): score_candidates(model, tok, PROMPTS, [" a"], normalize='max')
    with pytest.raises(ValueError, match="No candidates"): score_candidates(model, tok, PROMPTS, [])
    with pytest.raises(ValueError, match="same number of candidates"):
        score_candidates(model, tok, PROMPTS[:2], [[" a", " b"], [" a"]])
    with pytest.raises(ValueError, match="2 candidate lists for 4 prompts"):
        score_candidates(model, tok, PROMPTS, [[" a"], [" b"]])
    with pytest.raises(ValueError, match="share_prompt=True needs text-only prompts"):
        score_candidates(model, tok, PROMPTS[:1], [" a"], images=[None], share_prompt=True)
    with pytest.raises(ValueError, match="images were given but a tokenizer"):
        score_candidates(model, tok, PROMPTS[:1], [" a"], images=[None])
    with pytest.raises(ValueError, match="adds no token"): score_candidates(model, tok, PROMPTS[:1], ["", " a"])
    assert score_candidates(model, tok, [], [" a", " b"]).shape == (0, 2)


def test_generation_left_padding_matches_one_by_one(model, tok):
    a = generate_answers(model, tok, PROMPTS, max_new_tokens=6, batch_size=4)
    b = generate_answers(model, tok, PROMPTS, max_new_tokens=6, batch_size=1)
    assert a == b and all(isinstance(x, str) for x in a)
    assert tok.padding_side == 'right'   # restored afterwards
    parsed = generate_and_parse(model, tok, PROMPTS, lambda t: parse_label(t, ['positive', 'negative']), max_new_tokens=3)
    assert [p.raw for p in parsed] == generate_answers(model, tok, PROMPTS, max_new_tokens=3)
    assert all(p.ok == (p.value is not None) for p in parsed)


def test_processor_with_images():
    "Scoring through a LLaVA processor: the image goes with every candidate row and changes the scores."
    vm = pytest.importorskip('mllmsent.vision_models')
    from PIL import Image
    model, proc = vm.tiny_llava(seed=0)
    prompt = render_prompt(proc, "What is the sentiment of this image? Answer with one word.", images=1)
    imgs = [Image.new('RGB', (32, 32), c) for c in ['red', 'blue', 'green']]
    cands = ["positive", "negative", "neutral"]
    p1 = score_candidates(model, proc, [prompt] * 3, cands, images=imgs, batch_size=1)
    p3 = score_candidates(model, proc, [prompt] * 3, cands, images=imgs, batch_size=3)
    np.testing.assert_allclose(p1, p3, atol=1e-4)
    np.testing.assert_allclose(p1.sum(1), 1, atol=1e-9)
    assert np.abs(p1[0] - p1[1]).max() > 1e-6      # different images, different scores
    out = generate_answers(model, proc, [prompt] * 2, images=imgs[:2], max_new_tokens=3, batch_size=2)
    assert len(out) == 2


def test_tokenizer_without_pad_token(model):
    "LLaMA-3's tokenizer has no pad token: scoring (both ways) and generation still work."
    t = tiny_tokenizer(CORPUS, vocab_size=420, chat_template=True)
    ref = score_candidates(model, t, PROMPTS, [" positive", " negative"])
    t.pad_token = None
    assert t.pad_token_id is None
    np.testing.assert_allclose(score_candidates(model, t, PROMPTS, [" positive", " negative"], share_prompt=True), ref, atol=1e-5)
    t.pad_token = None
    np.testing.assert_allclose(score_candidates(model, t, PROMPTS, [" positive", " negative"], share_prompt=False), ref, atol=1e-5)


def test_callers_tokenizer_is_not_changed(model, tok):
    "A tokenizer without a pad token is padded with eos for the call only: its pad token and padding side come back as given."
    t = tiny_tokenizer(CORPUS, vocab_size=420, chat_template=True)
    t.pad_token, t.padding_side = None, 'left'
    ref = generate_answers(model, tok, PROMPTS, max_new_tokens=3, batch_size=4)
    score_candidates(model, t, PROMPTS, [" positive", " negative"], share_prompt=False)
    assert (t.pad_token, t.pad_token_id, t.padding_side) == (None, None, 'left')
    assert generate_answers(model, t, PROMPTS, max_new_tokens=3, batch_size=4) == ref   # eos padding is masked out like <pad>
    assert (t.pad_token, t.pad_token_id, t.padding_side) == (None, None, 'left')


def test_processors_tokenizer_is_not_changed():
    "The same through a LLaVA processor: its tokenizer keeps no pad token after scoring and generation with images."
    vm = pytest.importorskip('mllmsent.vision_models')
    from PIL import Image
    model, proc = vm.tiny_llava(seed=0)
    proc.tokenizer.pad_token = None
    side = proc.tokenizer.padding_side
    prompt = render_prompt(proc, "What is the sentiment of this image? Answer with one word.", images=1)
    imgs = [Image.new('RGB', (32, 32), c) for c in ['red', 'blue']]
    assert score_candidates(model, proc, [prompt] * 2, ["positive", "negative"], images=imgs).shape == (2, 2)
    assert len(generate_answers(model, proc, [prompt] * 2, images=imgs, max_new_tokens=2)) == 2
    assert proc.tokenizer.pad_token is None and proc.tokenizer.padding_side == side


def test_slow_path_is_announced(model, tok):
    "A model that cannot reuse a prompt's cache (a LLaVA, here on text-only prompts) scores on the slower path and says so."
    from mllmsent.vision_models import tiny_llava
    from mllmsent.scoring import can_share_prompt
    llava, proc = tiny_llava()
    assert can_share_prompt(model) and not can_share_prompt(llava)
    with pytest.warns(UserWarning, match="slower path"):
        p = score_candidates(llava, proc.tokenizer, PROMPTS[:2], [" positive", " negative"])
    assert p.shape == (2, 2) and np.allclose(p.sum(1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # the shared path and an explicit share_prompt=False say nothing
        score_candidates(model, tok, PROMPTS[:2], [" positive", " negative"])
        score_candidates(llava, proc.tokenizer, PROMPTS[:2], [" positive", " negative"], share_prompt=False)
