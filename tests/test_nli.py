"Zero-shot NLI on a tiny BART with BART-MNLI's label layout, checked against a hand computation and the pipeline."
import logging
import numpy as np, pytest, torch
from transformers import pipeline
from mllmsent.encoders import tiny_encoder
from mllmsent.crossval import cross_validate
from mllmsent.nli import (entailment_index, hypotheses, load_nli, zero_shot_proba, ZeroShotNLI, TEMPLATE)
from mllmsent.core import get_task
from mllmsent.data import demo_captions
from mllmsent.splits import fixed_folds

torch.set_num_threads(1)
logging.getLogger('transformers').setLevel(logging.ERROR)
CAPS = ['a happy dog on a sunny beach', 'a sad grey street with broken cars and rain', 'a photo', 'people at a slightly dull party']

@pytest.fixture(scope='module')
def mnli(tmp_path_factory):
    f = tiny_encoder('bart', tmp_path_factory.mktemp('m')/'tiny-mnli', labels=('contradiction', 'neutral', 'entailment'),
                     corpus=CAPS + ['this image description expresses a sentiment slightly'])
    return load_nli(str(f))

def test_matches_hand_computation(mnli):
    m, tok = mnli
    P = zero_shot_proba(CAPS, 'p5', m, tok, batch_size=3)
    hyps = hypotheses('p5')
    assert len(hyps) == 5 and hyps[0] == 'This image description expresses a negative sentiment.'
    for i, c in enumerate(CAPS):   # one caption at a time, each hypothesis alone: same numbers
        ent = np.array([m(**tok(c, h, return_tensors='pt')).logits[0, 2].item() for h in hyps])
        np.testing.assert_allclose(P[i], np.exp(ent) / np.exp(ent).sum(), atol=1e-5)

def test_matches_transformers_pipeline(mnli):
    m, tok = mnli
    labels = list(get_task('p3').labels)
    P = zero_shot_proba(CAPS, 'p3', m, tok)
    pipe = pipeline('zero-shot-classification', model=m, tokenizer=tok)
    for i, c in enumerate(CAPS):
        r = pipe(c, candidate_labels=labels, hypothesis_template=TEMPLATE)
        np.testing.assert_allclose(P[i], [r['scores'][r['labels'].index(l)] for l in labels], atol=1e-5)

def test_entailment_index_is_read_from_config(mnli):
    m, tok = mnli
    assert entailment_index(m.config) == 2
    m.config.id2label = {0: 'entailment', 1: 'neutral', 2: 'contradiction'}; m.config.label2id = {v: k for k, v in m.config.id2label.items()}
    try:
        P0 = zero_shot_proba(CAPS[:2], 'p3', m, tok)
        ent = np.array([[m(**tok(c, h, return_tensors='pt')).logits[0, 0].item() for h in hypotheses('p3')] for c in CAPS[:2]])
        np.testing.assert_allclose(P0, np.exp(ent) / np.exp(ent).sum(1, keepdims=True), atol=1e-5)
    finally:
        m.config.id2label = {0: 'contradiction', 1: 'neutral', 2: 'entailment'}; m.config.label2id = {v: k for k, v in m.config.id2label.items()}

def test_errors(mnli):
    m, tok = mnli
    with pytest.raises(ValueError, match="has no '{}'"): zero_shot_proba(CAPS, 'p3', m, tok, template='no slot')
    m.config.id2label, m.config.label2id = {0: 'neg', 1: 'pos', 2: 'mid'}, {'neg': 0, 'pos': 1, 'mid': 2}
    try:
        with pytest.raises(ValueError, match="no 'entailment' class"): zero_shot_proba(CAPS, 'p3', m, tok)
    finally:
        m.config.id2label = {0: 'contradiction', 1: 'neutral', 2: 'entailment'}; m.config.label2id = {v: k for k, v in m.config.id2label.items()}

def test_long_premise_is_truncated_not_the_hypothesis(mnli):
    m, tok = mnli
    long = ' '.join(['happy dog'] * 200)
    P = zero_shot_proba([long], 'p3', m, tok, max_len=40)
    assert P.shape == (1, 3) and np.isfinite(P).all()

def test_folds(mnli, tmp_path):
    m, tok = mnli
    folder = tmp_path/'ck'; m.save_pretrained(folder); tok.save_pretrained(folder)
    df = demo_captions('p3', n=25)
    pf, pr, _ = cross_validate(ZeroShotNLI('p3', str(folder)), df, fixed_folds(df), progress=False)
    assert len(pf) == 5 and sorted(pr.id) == sorted(df.id) and pf.n_test.sum() == 25
