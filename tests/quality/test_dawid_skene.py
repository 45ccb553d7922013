import time

import numpy as np
import pytest

from labeling.quality.dawid_skene import (
    CLASSES,
    align_classes,
    class_recognition,
    encode,
    fit_dawid_skene,
    shared_class_z,
    unshared_classes,
    vote_shares,
)
from labeling.quality.majority import fit_majority


def planted(seed=0, n_ann=30, n_items=2000, per_item=5):
    rng = np.random.default_rng(seed)
    acc = np.linspace(0.55, 0.95, n_ann)
    truth = rng.integers(0, 3, n_items)
    labels = []
    for i in range(n_items):
        for a in rng.choice(n_ann, per_item, replace=False):
            lab = truth[i] if rng.random() < acc[a] else rng.choice([c for c in range(3) if c != truth[i]])
            labels.append((f"i{i}", f"w{a:02d}", CLASSES[lab]))
    return labels, acc, truth


def test_recovers_planted_accuracies():
    labels, acc, truth = planted()
    res = fit_dawid_skene(labels)
    assert res.converged
    order = np.argsort(res.annotators)  # w00..w29 in planted order
    recovered = res.reliability[order]
    # Each annotator gives ~333 labels, so their *realised* accuracy differs from the planted
    # one by sampling noise alone (sd ~0.025); compare with that, and the mean with the plan.
    got = {}
    for item, ann, lab in labels:
        got.setdefault(ann, []).append(CLASSES.index(lab) == truth[int(item[1:])])
    realised = np.array([np.mean(got[f"w{a:02d}"]) for a in range(len(acc))])
    assert np.abs(recovered - realised).max() < 0.05
    assert np.abs(recovered - acc).mean() < 0.03
    assert np.corrcoef(recovered, acc)[0, 1] > 0.97
    predicted = np.array([CLASSES.index(c) for c in res.labels()])
    true_of_item = truth[[int(i[1:]) for i in res.items]]
    assert (predicted == true_of_item).mean() > 0.93


def test_beats_majority_and_weights_follow_reliability():
    labels, _, truth = planted(seed=1)
    ds, mv = fit_dawid_skene(labels), fit_majority(labels)
    true_of_item = truth[[int(i[1:]) for i in ds.items]]
    acc_ds = np.mean([CLASSES.index(c) for c in ds.labels()] == true_of_item)
    acc_mv = np.mean([CLASSES.index(c) for c in mv.labels()] == true_of_item)
    assert acc_ds >= acc_mv
    order = np.argsort(ds.reliability)
    assert np.all(np.diff(ds.weights[order]) >= -0.05)  # monotone up to noise


def test_smoothing_keeps_sparse_annotators_moderate():
    labels, _, _ = planted(seed=2, n_items=300)
    labels += [("i0", "newbie", "a"), ("i1", "newbie", "a")]
    res = fit_dawid_skene(labels)
    newbie = res.annotators.index("newbie")
    assert np.all(res.confusion[newbie] > 0.02)
    assert res.confusion[newbie].max() < 0.95


def test_spammers_get_zero_informativeness_and_weight():
    labels, _, _ = planted(seed=3, n_items=1000)
    rng = np.random.default_rng(3)
    items = sorted({i for i, _, _ in labels})
    labels += [(i, "left", "a") for i in items[:300]]
    labels += [(i, "rand", CLASSES[rng.integers(3)]) for i in items[300:600]]
    res = fit_dawid_skene(labels)
    for name in ("left", "rand"):
        idx = res.annotators.index(name)
        assert abs(res.informativeness[idx]) < 0.1
        assert res.weights[idx] < 0.3 < np.median(res.weights)


def test_speed_on_ukp_sized_input():
    # UKPConvArg1 scale: 17k items x 5 labels from 3.8k workers of mixed quality.
    rng = np.random.default_rng(0)
    n_items, n_ann = 17_000, 3_800
    truth = rng.integers(3, size=n_items)
    acc = rng.uniform(0.4, 0.95, size=n_ann)
    items = np.repeat(np.arange(n_items), 5)
    anns = rng.integers(n_ann, size=items.size)
    noise = rng.integers(3, size=items.size)
    said = np.where(rng.random(items.size) < acc[anns], truth[items], noise)
    labels = list(zip(items.tolist(), anns.tolist(), [CLASSES[k] for k in said], strict=True))
    start = time.process_time()  # CPU time: robust to a loaded test machine
    res = fit_dawid_skene(labels)
    assert res.converged
    assert time.process_time() - start < 10.0


def test_unknown_label_raises():
    with pytest.raises(ValueError, match="unknown label"):
        fit_dawid_skene([("i", "w", "left")])


def _ab_only(seed=0, n_ann=20, n_items=600, per_item=5, acc=0.9):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    labels = []
    for i in range(n_items):
        for a in rng.choice(n_ann, per_item, replace=False):
            right = rng.random() < acc
            labels.append((f"i{i}", f"w{a}", "ab"[truth[i] if right else 1 - truth[i]]))
    return labels, truth


def test_unused_class_gets_no_prior_and_does_not_drag_reliability():
    # Nobody ever says "tie": the latent tie class must not soak up split items.
    labels, truth = _ab_only()
    res = fit_dawid_skene(labels)
    assert res.classes == CLASSES
    assert res.priors[2] == 0.0 and np.all(res.posteriors[:, 2] == 0.0)
    assert np.allclose(res.confusion.sum(axis=2), 1.0)
    assert np.all(res.confusion[:, :2, 2] == 0.0)
    assert abs(res.reliability.mean() - 0.9) < 0.03
    predicted = np.array(["ab".index(c) for c in res.labels()])
    assert (predicted == truth[[int(i[1:]) for i in res.items]]).mean() > 0.97
    # The old behaviour, for contrast: keeping the unused class costs reliability.
    kept = fit_dawid_skene(labels, drop_unused=False, require_shared=False)
    assert kept.priors[2] > 0.05 and kept.reliability.mean() < res.reliability.mean() - 0.05


def test_label_prior_keeps_a_rare_class_small():
    labels, _ = _ab_only(seed=1)
    labels += [(item, "noisy", "tie") for item, _, _ in labels[::60]]  # ~2 % ties, pure noise
    kw = {"drop_unrecognised": False, "require_shared": False}  # the rare class kept latent, as before those rules
    plain, anchored = fit_dawid_skene(labels, **kw), fit_dawid_skene(labels, label_prior=1.0, **kw)
    assert anchored.priors[2] < 0.05
    assert plain.priors[2] > anchored.priors[2]
    assert anchored.reliability.mean() > plain.reliability.mean() + 0.02


def test_a_class_nobody_recognises_is_never_the_truth():
    # Ties from one noisy annotator only, on items unrelated to any truth: a latent "tie" class
    # would be a cluster of leftovers (recognised at or below chance). It is refitted as a label
    # that can be reported but is never true, and the a/b annotators keep their reliability.
    labels, truth = _ab_only(seed=1)
    labels += [(item, "noisy", "tie") for item, _, _ in labels[::60]]
    alone = {"require_shared": False, "spammer_mixture": False}  # this rule on its own
    kept = fit_dawid_skene(labels, drop_unrecognised=False, **alone)
    assert class_recognition(kept)[2] <= 0.0
    res = fit_dawid_skene(labels, **alone)
    assert res.priors[2] == 0.0 and np.all(res.posteriors[:, 2] == 0.0)
    assert np.allclose(res.confusion.sum(axis=2), 1.0)
    assert res.reliability.mean() > kept.reliability.mean() + 0.02
    noisy = res.annotators.index("noisy")
    assert res.confusion[noisy, 0, 2] > 0.9 and res.informativeness[noisy] < 0.05  # says tie, tells nothing
    predicted = np.array(["ab".index(c) for c in res.labels()])
    assert (predicted == truth[[int(i[1:]) for i in res.items]]).mean() > 0.97


def test_a_recognised_tie_class_stays():
    # Planted truth with ties that annotators do report: recognised well above chance, kept.
    labels, _, truth = planted(seed=6, n_items=600)
    res = fit_dawid_skene(labels)
    assert res.priors[2] > 0.2 and class_recognition(res)[2] > 0.3


def _accuracy(res, truth):
    predicted = np.array([CLASSES.index(c) for c in res.labels()])
    return (predicted == truth[[int(i[1:]) for i in res.items]]).mean()


def test_alignment_undoes_label_switching():
    # EM's objective does not change when the latent classes are renamed, so a fit can settle with
    # them swapped. Force that by starting from the vote shares with the classes rotated: without
    # the guard the fit stays rotated (every annotator "mostly wrong"); with it, it is renamed back.
    labels, _, truth = planted(seed=4, n_items=600)
    enc = encode(labels)
    rotated = vote_shares(enc)[:, [1, 2, 0]]
    switched = fit_dawid_skene(enc, init=rotated, align=False, drop_unrecognised=False, require_shared=False)
    assert _accuracy(switched, truth) < 0.1
    guarded = fit_dawid_skene(enc, init=rotated)
    assert _accuracy(guarded, truth) > 0.9
    assert np.allclose(guarded.posteriors, fit_dawid_skene(enc).posteriors, atol=1e-3)
    assert np.all(np.diagonal(guarded.confusion, axis1=1, axis2=2).mean(axis=0) > 0.5)


def test_alignment_keeps_an_aligned_fit_and_swaps_two_classes_back():
    labels, _, truth = planted(seed=5, n_items=400)
    enc = encode(labels)
    fit = fit_dawid_skene(enc)
    assert align_classes(enc, fit.posteriors) == [0, 1, 2]
    assert align_classes(enc, fit.posteriors[:, [1, 0, 2]]) == [1, 0, 2]
    # a/b-only labels: the unused tie class stays out, the two used classes are still aligned
    ab, ab_truth = _ab_only(seed=3)
    enc_ab = encode(ab)
    swapped = fit_dawid_skene(enc_ab, init=vote_shares(enc_ab)[:, [1, 0, 2]])
    predicted = np.array(["ab".index(c) for c in swapped.labels()])
    assert (predicted == ab_truth[[int(i[1:]) for i in swapped.items]]).mean() > 0.95
    assert swapped.priors[2] == 0.0


def test_guard_on_a_sparse_mediocre_crowd_stays_near_majority():
    # The shape of the harness's failure (a): 3 labels per item, mediocre workers, a third at chance,
    # 20 % ties. There the unguarded refit drifted into a rotated solution (0.23 accuracy, majority
    # 0.60); that drift needs the pass's filtering and is rare on fresh data, so this only checks
    # that the guarded fit is never far below majority vote on such crowds.
    for seed in range(2):
        rng = np.random.default_rng(seed)
        n_items, n_ann = 600, 120
        truth = np.where(rng.random(n_items) < 0.2, 2, rng.integers(0, 2, n_items))
        skill = np.where(rng.random(n_ann) < 0.3, rng.uniform(0, 0.1, n_ann), rng.beta(2, 2, n_ann))
        labels = []
        for i in range(n_items):
            for a in rng.choice(n_ann, 3, replace=False):
                said = truth[i] if rng.random() < 1 / 3 + 2 / 3 * skill[a] else rng.choice(
                    [c for c in range(3) if c != truth[i]])
                labels.append((f"i{i}", f"w{a}", CLASSES[said]))
        ds, mv = fit_dawid_skene(labels), fit_majority(labels)
        assert _accuracy(ds, truth) > _accuracy(mv, truth) - 0.05


def _tie_habit_crowd(seed: int, *, acc=(0.55, 0.9), habit=(0.1, 0.6), hard_share=0.2, hard_factor=0.2, per_item=7):
    """A truth that always has a side; annotators answer right with their accuracy (its excess over
    chance cut by ``hard_factor`` on the hard items), and when wrong say "tie" by their own habit."""
    rng = np.random.default_rng(seed)
    n_items, n_ann = 500, 40
    truth = rng.integers(0, 2, n_items)
    accuracy, tie_habit = rng.uniform(*acc, n_ann), rng.uniform(*habit, n_ann)
    hard = rng.random(n_items) < hard_share
    labels = []
    for i in range(n_items):
        for a in rng.choice(n_ann, per_item, replace=False):
            right = rng.random() < 0.5 + (accuracy[a] - 0.5) * (hard_factor if hard[i] else 1.0)
            said = truth[i] if right else (2 if rng.random() < tie_habit[a] else 1 - truth[i])
            labels.append((f"i{i}", f"w{a}", CLASSES[said]))
    return labels, truth


def test_tie_habit_crowd_on_a_tie_free_truth():
    # Failure (b) of the robustness harness, and what a project that knows its truth has a side
    # gets: with ties never true, no item is a tie and the fit beats majority vote; left latent,
    # the tie class is recognised a little above chance and takes hard items.
    for seed in range(2):
        labels, truth = _tie_habit_crowd(seed)
        sided = fit_dawid_skene(labels, never_true=("tie",))
        assert sided.priors[2] == 0.0 and set(sided.labels()) <= {"a", "b"}
        assert np.allclose(sided.confusion.sum(axis=2), 1.0)
        mv = fit_majority(labels, never_true=("tie",))
        assert set(mv.labels()) <= {"a", "b"}
        assert _accuracy(sided, truth) > 0.88 and _accuracy(sided, truth) >= _accuracy(mv, truth) - 0.01
        # The default reads the habit as no class (the tie labels are shared, but weakly): it does
        # what the setting does. Without that rule the tie class takes hard items.
        default = fit_dawid_skene(labels)
        assert default.priors[2] == 0.0 and _accuracy(default, truth) >= _accuracy(sided, truth) - 0.01
        loose = fit_dawid_skene(labels, require_shared=False)
        assert loose.priors[2] > 0.1 and _accuracy(loose, truth) < _accuracy(sided, truth) - 0.05


def _crowd_with_clickers(seed=0, n_items=600, acc=0.65, n_clickers=4):
    """An a/b task whose annotators never say tie (weak ones: 10 labels per item at 65 %), plus
    random clickers who pick a / b / tie evenly on 30 items each."""
    labels, truth = _ab_only(seed=seed, n_ann=60, n_items=n_items, per_item=10, acc=acc)
    rng = np.random.default_rng(seed + 100)
    for c in range(n_clickers):
        for i in rng.choice(n_items, 30, replace=False):
            labels.append((f"i{i}", f"clicker{c}", CLASSES[rng.integers(3)]))
    return labels, truth


def test_shared_class_z_tells_scattered_labels_from_shared_ones():
    # The clickers' ties are scattered over items at their own rate: no sharing. Planted ties are
    # reported together on the tie items: strongly shared, like a and b.
    labels, _ = _crowd_with_clickers()
    z = shared_class_z(encode(labels))
    assert z[0] > 5 and z[1] > 5 and abs(z[2]) < 2.326
    planted_z = shared_class_z(encode(planted(seed=6, n_items=600)[0]))
    assert planted_z.min() > 10


def test_a_class_only_random_clickers_report_is_never_the_truth():
    labels, truth = _crowd_with_clickers()
    res = fit_dawid_skene(labels)
    assert res.priors[2] == 0.0
    accuracy = _ab_accuracy(res, truth)
    assert accuracy > 0.75 and accuracy >= _ab_accuracy(fit_majority(labels), truth) - 0.03
    # Without the rule EM builds a latent tie class around 4 clickers' 40 ties (this crowd, seed 0:
    # a third of the items) and the recognition rule does not catch it.
    loose = fit_dawid_skene(labels, require_shared=False)
    assert loose.priors[2] > 0.1 and _ab_accuracy(loose, truth) < accuracy - 0.1


def _ab_accuracy(res, truth):
    return np.mean([c == "ab"[truth[int(i[1:])]] for c, i in zip(res.labels(), res.items, strict=True)])


def _hard_items_tie_crowd(seed: int):
    """No item is a tie; on the 30 % hard items every annotator is at chance and, when wrong, says
    "tie" by their own habit, so ties gather on the hard items: shared above chance, but weakly."""
    return _tie_habit_crowd(seed, acc=(0.7, 0.95), habit=(0.3, 0.8), hard_share=0.3, hard_factor=0.0, per_item=10)


def test_a_tie_habit_is_not_a_class_and_true_ties_are():
    # Ties gathered on hard items are shared above chance (z 9.6 here) but a seventh as strongly as
    # the sides: with significance alone (shared_ratio 0) the tie class stays and takes the hard
    # items; the default line leaves it out. Planted ties, recognised like the sides, stay.
    labels, truth = _hard_items_tie_crowd(0)
    enc = encode(labels)
    z = shared_class_z(enc)
    assert z[2] > 2.326 and z[2] < 0.25 * z[:2].max()
    assert unshared_classes(enc) == ("tie",) and unshared_classes(enc, relative_min=0.0) == ()
    loose, default = fit_dawid_skene(labels, shared_ratio=0.0), fit_dawid_skene(labels)
    assert loose.priors[2] > 0.05 and default.priors[2] == 0.0
    assert _accuracy(default, truth) > _accuracy(loose, truth) + 0.1
    tied, _, tie_truth = planted(seed=6, n_items=600)
    assert unshared_classes(encode(tied)) == ()
    kept = fit_dawid_skene(tied)
    assert kept.priors[2] > 0.2 and _accuracy(kept, tie_truth) > 0.9


def _with_small_spammers(labels, n_items, size=6, share=0.3, seed=7):
    """Always-left spammers of `size` labels each (too few to flag) until they make `share` of
    all labels."""
    rng = np.random.default_rng(seed)
    n_spam = int(share / (1 - share) * len(labels))
    spam = []
    for s in range(n_spam // size):
        spam += [(f"i{i}", f"spam{s}", "a") for i in rng.choice(n_items, size, replace=False)]
    return labels + spam


def test_small_spammers_are_read_as_spammers_not_as_average_workers():
    # A crowd of 6-label always-left spammers: centred on the pooled confusion, each counts as an
    # average worker and together they outvote the real annotators; the worker/spammer mixture
    # reads them as labels that do not depend on the truth.
    honest, truth = _ab_only(seed=2, n_ann=40, n_items=600, per_item=5, acc=0.75)
    labels = _with_small_spammers(honest, 600)
    clean = _ab_accuracy(fit_dawid_skene(honest), truth)
    mixture = fit_dawid_skene(labels)
    pooled = fit_dawid_skene(labels, spammer_mixture=False)
    assert _ab_accuracy(mixture, truth) >= clean - 0.02
    assert _ab_accuracy(pooled, truth) < clean - 0.1
    spam = [j for j, a in enumerate(mixture.annotators) if str(a).startswith("spam")]
    real = [j for j, a in enumerate(mixture.annotators) if not str(a).startswith("spam")]
    assert mixture.informativeness[spam].mean() < 0.1 < mixture.informativeness[real].mean()


def test_small_spammers_and_small_workers_are_told_apart():
    # 3 labels each: novices who answer right are read as workers (informative), always-left
    # spammers as labels that do not depend on the truth.
    honest, truth = _ab_only(seed=3, n_ann=40, n_items=600, per_item=5, acc=0.85)
    novices = [(f"i{i}", f"novice{i % 50}", "ab"[truth[i]]) for i in range(0, 600, 4)]
    fit = fit_dawid_skene(_with_small_spammers(honest + novices, 600, size=3, share=0.2))
    assert _ab_accuracy(fit, truth) > 0.95
    kind = np.array([str(a).rstrip("0123456789") for a in fit.annotators])
    assert fit.informativeness[kind == "spam"].mean() < 0.15
    assert fit.informativeness[kind == "novice"].mean() > 0.6


def test_without_evidence_of_sharing_the_classes_said_most_stay():
    # Everyone says tie on every item: no class varies, so none is "shared" more than another; the
    # class actually said is kept over two that nobody said, and the items are ties.
    labels = [(f"i{i}", f"w{j}", "tie") for i in range(10) for j in range(3)]
    assert set(fit_dawid_skene(labels).labels()) == {"tie"}


def test_three_label_spammers_who_all_click_left_read_as_spammers():
    # 30 % of the labels from always-left clickers of 3 labels each, on a crowd with true ties: the
    # spammers' own pooled label shares ("a") make a newcomer's "a a a" read as spam, so the fit
    # keeps its clean accuracy; centred on the pooled confusion it loses points.
    tied, _, truth = planted(seed=6, n_items=600)
    labels = _with_small_spammers(tied, 600, size=3, share=0.3)
    clean = _accuracy(fit_dawid_skene(tied), truth)
    assert _accuracy(fit_dawid_skene(labels), truth) >= clean - 0.01
    assert _accuracy(fit_dawid_skene(labels, spammer_mixture=False), truth) < clean - 0.015
