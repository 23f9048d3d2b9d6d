"""SmolLM2-135M-Instruct (real weights, installed from the package index) scores a handful of real captions.

What is checked is behaviour, not accuracy (accuracy belongs in `papers/`): the probabilities are valid, label scoring
agrees with greedy generation's first token where every label is a single token, and calibration against the
content-free inputs moves the predicted distribution."""
import numpy as np, pytest, torch
from mllmsent.data import load_caption_set
from mllmsent.models import resolve_model, load_causal_lm, load_tokenizer
from mllmsent.prompts import caption_prompts
from mllmsent.scoring import LabelScoring, score_candidates, _with_space

pytestmark = pytest.mark.data
LABELS = ['negative', 'neutral', 'positive']


@pytest.fixture(scope='module')
def smol():
    path = resolve_model('smollm2')          # converts the GGUF once into the cache (about 40 s the first time)
    return load_causal_lm(path), load_tokenizer(path)


@pytest.fixture(scope='module')
def captions():
    df = load_caption_set('gpt4o-mini', 'p3', 5)
    return df.groupby('label').head(4).reset_index(drop=True)   # 12 real captions, 4 per class


def test_probabilities_are_valid(smol, captions):
    lm, tok = smol
    prompts = caption_prompts(tok, list(captions.text), LABELS)
    p = score_candidates(lm, tok, prompts, [[_with_space(q, l) for l in LABELS] for q in prompts], batch_size=4)
    assert p.shape == (12, 3) and np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


def test_label_scoring_agrees_with_greedy_generation(smol, captions):
    "Each label is one token here, so scoring the labels is reading the next-token distribution at those tokens."
    lm, tok = smol
    prompts = caption_prompts(tok, list(captions.text), LABELS)
    first = [tok(_with_space(prompts[0], l), add_special_tokens=False).input_ids for l in LABELS]
    assert all(len(ids) == 1 for ids in first), f"labels are not single tokens for this tokenizer: {first}"
    p = score_candidates(lm, tok, prompts, [[_with_space(q, l) for l in LABELS] for q in prompts], batch_size=4)
    agree, n = 0, 0
    for q, row in zip(prompts, p):
        enc = tok(q, return_tensors='pt', add_special_tokens=False)
        with torch.inference_mode(): nxt = lm(**enc).logits[0, -1]
        label_ids = torch.tensor([ids[0] for ids in first])
        top = int(nxt.argmax())
        if top in label_ids.tolist():        # greedy generation's first choice is a label: scoring must pick the same
            n += 1; agree += LABELS[label_ids.tolist().index(top)] == LABELS[int(row.argmax())]
        assert int(nxt[label_ids].argmax()) == int(row.argmax())   # and among the labels, the same ranking's winner
    assert n == agree


def test_calibration_shifts_the_predicted_distribution(captions):
    route = LabelScoring('p3', model='smollm2', calibrate=True, cache_dir=False, progress=False).prepare(captions)
    route.fit(captions.iloc[:0], captions.iloc[:0])
    raw, cal = route.raw_proba(list(captions.text)), route.predict_proba(captions)
    np.testing.assert_allclose(cal.sum(1), 1, atol=1e-6)
    assert not np.allclose(raw.mean(0), cal.mean(0), atol=1e-3)       # the class shares move
    assert np.abs(cal.mean(0) - 1/3).sum() < np.abs(raw.mean(0) - 1/3).sum()   # towards no favourite class
