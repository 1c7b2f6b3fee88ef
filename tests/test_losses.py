"""The contrastive loss against hand-computed 3x3 cases and a float64 loop reference."""

import math

import pytest
import torch

from c2am.losses import MemoryBank, contrastive_loss, rank_weights, row_ranks
from c2am.models.c2am import disentangle


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def lc(deg: float) -> float:
    return math.log(math.cos(math.radians(deg)))


# Foreground vectors at 0, 20, 60 degrees; background vectors at 90, 85, 70 degrees (no ties in any row).
V_FG = torch.tensor([unit(0), unit(20), unit(60)], dtype=torch.float64)
V_BG = torch.tensor([unit(90), unit(85), unit(70)], dtype=torch.float64)


def hand_paper(alpha: float) -> dict:
    e = math.exp(-alpha)
    # rows of s_ff: 0 -> (c20 r0, c60 r1); 1 -> (c20 r0, c40 r1); 2 -> (c40 r0, c60 r1)
    s_f = 2 * lc(20) + (1 + e) * lc(40) + 2 * e * lc(60)
    # rows of s_bb: 0 -> (c5 r0, c20 r1); 1 -> (c5 r0, c15 r1); 2 -> (c15 r0, c20 r1)
    s_b = 2 * lc(5) + (1 + e) * lc(15) + 2 * e * lc(20)
    diffs = [90, 85, 70, 70, 65, 50, 30, 25, 10]
    neg = -sum(math.log(1 - math.cos(math.radians(d))) for d in diffs) / 9
    return {"pos_fg": -s_f / 6, "pos_bg": -s_b / 6, "neg": neg, "sums": (s_f, s_b)}


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.75])
def test_paper_variant_hand_computed_3x3(alpha):
    want = hand_paper(alpha)
    got = contrastive_loss(V_FG, V_BG, alpha, "paper")
    assert float(got.pos_fg) == pytest.approx(want["pos_fg"], rel=1e-6)
    assert float(got.pos_bg) == pytest.approx(want["pos_bg"], rel=1e-6)
    assert float(got.neg) == pytest.approx(want["neg"], rel=1e-6)
    assert float(got.total) == pytest.approx(want["pos_fg"] + want["pos_bg"] + want["neg"], rel=1e-6)


@pytest.mark.parametrize("alpha", [0.05, 0.75])
def test_authors_variant_hand_computed_3x3(alpha):
    s_f, s_b = hand_paper(alpha)["sums"]
    # self-similarity 1 is clamped to 0.9995, ranks first, gets rank - 1 = -1 -> weight exp(alpha); the
    # off-diagonal weights equal the paper's; everything is averaged over n^2 = 9.
    self_term = 3 * math.exp(alpha) * math.log(0.9995)
    diffs = [90, 85, 70, 70, 65, 50, 30, 25, 10]
    neg = -sum(math.log(1 - min(max(math.cos(math.radians(d)), 5e-4), 0.9995)) for d in diffs) / 9
    got = contrastive_loss(V_FG, V_BG, alpha, "authors")
    assert float(got.pos_fg) == pytest.approx(-(self_term + s_f) / 9, rel=1e-6)
    assert float(got.pos_bg) == pytest.approx(-(self_term + s_b) / 9, rel=1e-6)
    assert float(got.neg) == pytest.approx(neg, rel=1e-6)


def loop_reference(v_fg, v_bg, alpha, variant, mem_fg=None, mem_bg=None):
    """Plain Python, float64, one pair at a time; the memory's vectors are extra columns (never rows)."""
    n = len(v_fg)
    f, b = v_fg.tolist(), v_bg.tolist()
    mf = [] if mem_fg is None else mem_fg.tolist()
    mb = [] if mem_bg is None else mem_bg.tolist()
    m = len(mf)

    def cos(x, y):
        dot = sum(p * q for p, q in zip(x, y))
        return dot / (math.sqrt(sum(p * p for p in x)) * math.sqrt(sum(q * q for q in y)))

    def clamp(s):
        return min(max(s, 5e-4), 0.9995) if variant == "authors" else min(max(s, 1e-6), 1 - 1e-6)

    neg_terms = [math.log(1 - clamp(cos(f[i], bj))) for i in range(n) for bj in b + mb]
    neg_terms += [math.log(1 - clamp(cos(fk, b[i]))) for i in range(n) for fk in mf]
    neg = -sum(neg_terms) / len(neg_terms)

    def pos(v, mem):
        columns = v + mem
        total = 0.0
        for i in range(n):
            others = [j for j in range(n + m) if j != i] if variant == "paper" else list(range(n + m))
            sims = {j: (clamp(cos(v[i], columns[j])) if variant == "authors" else cos(v[i], columns[j]))
                    for j in others}
            order = sorted(others, key=lambda j: -sims[j])  # Python's sort is stable, like ours
            for rank, j in enumerate(order):
                r = rank if variant == "paper" else rank - 1
                total += math.exp(-alpha * r) * math.log(clamp(sims[j]))
        return -total / (n * (n - 1 + m) if variant == "paper" else n * (n + m))

    return pos(f, mf) + pos(b, mb) + neg


@pytest.mark.parametrize("variant", ["paper", "authors"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference_on_random_input(variant, seed):
    g = torch.Generator().manual_seed(seed)
    # non-negative features, like post-ReLU maps pooled by P and 1 - P
    v_fg = torch.rand(7, 11, generator=g, dtype=torch.float64)
    v_bg = torch.rand(7, 11, generator=g, dtype=torch.float64)
    got = contrastive_loss(v_fg, v_bg, 0.25, variant)
    assert float(got.total) == pytest.approx(loop_reference(v_fg, v_bg, 0.25, variant), rel=1e-5)


@pytest.mark.parametrize("variant", ["paper", "authors"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_memory_matches_loop_reference_on_random_input(variant, seed):
    g = torch.Generator().manual_seed(seed)
    v_fg, v_bg, mem_fg, mem_bg = (torch.rand(k, 6, generator=g, dtype=torch.float64) for k in (5, 5, 9, 9))
    got = contrastive_loss(v_fg, v_bg, 0.3, variant, mem_fg, mem_bg)
    assert float(got.total) == pytest.approx(loop_reference(v_fg, v_bg, 0.3, variant, mem_fg, mem_bg), rel=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_memory_hand_computed_2_plus_1(alpha):
    # batch fg at 0 and 20 degrees, bg at 90 and 85; memory fg at 60, bg at 70
    e = math.exp(-alpha)
    v_fg, v_bg = torch.tensor([unit(0), unit(20)]), torch.tensor([unit(90), unit(85)])
    got = contrastive_loss(v_fg, v_bg, alpha, "paper", torch.tensor([unit(60)]), torch.tensor([unit(70)]))
    # fg rows: 0 -> (batch 20 deg rank 0, memory 60 deg rank 1); 1 -> (batch 20 deg rank 0, memory 40 deg rank 1)
    assert float(got.pos_fg) == pytest.approx(-(2 * lc(20) + e * (lc(60) + lc(40))) / 4, rel=1e-5)
    # bg rows: 0 -> (5 deg rank 0, memory 20 deg rank 1); 1 -> (5 deg rank 0, memory 15 deg rank 1)
    assert float(got.pos_bg) == pytest.approx(-(2 * lc(5) + e * (lc(20) + lc(15))) / 4, rel=1e-5)
    # batch fg x (batch + memory) bg: 90 85 70 | 70 65 50; batch bg x memory fg: 30 25; over 2*3 + 2*1 = 8 pairs
    diffs = [90, 85, 70, 70, 65, 50, 30, 25]
    want = -sum(math.log(1 - math.cos(math.radians(d))) for d in diffs) / 8
    assert float(got.neg) == pytest.approx(want, rel=1e-5)


def test_empty_memory_is_the_plain_loss_and_memory_gets_no_gradient():
    g = torch.Generator().manual_seed(3)
    v_fg, v_bg = torch.rand(4, 5, generator=g), torch.rand(4, 5, generator=g)
    empty = contrastive_loss(v_fg.double(), v_bg.double(), 0.1, "paper", torch.zeros(0, 5), torch.zeros(0, 5))
    assert float(empty.total) == pytest.approx(loop_reference(v_fg.double(), v_bg.double(), 0.1, "paper"), rel=1e-6)
    mem = torch.rand(3, 5, generator=g, requires_grad=True)
    v_fg.requires_grad_(True)
    contrastive_loss(v_fg, v_bg, 0.1, "paper", mem, mem.detach() + 1).total.backward()
    assert v_fg.grad.abs().sum() > 0 and mem.grad is None
    with pytest.raises(ValueError, match="go together"):
        contrastive_loss(v_fg, v_bg, 0.1, "paper", mem, None)
    with pytest.raises(ValueError, match=r"\[m, 5\]"):
        contrastive_loss(v_fg, v_bg, 0.1, "paper", torch.zeros(2, 4), torch.zeros(2, 4))


def test_memory_bank_keeps_the_newest_vectors_oldest_first():
    bank = MemoryBank(5, 2)
    assert bank.contents()[0].shape == (0, 2)

    def batch(start, k):
        rows = torch.arange(start, start + k, dtype=torch.float32)[:, None].repeat(1, 2)
        return rows, -rows

    bank.push(*batch(0, 3))
    assert bank.contents()[0][:, 0].tolist() == [0, 1, 2]
    bank.push(*batch(3, 3))  # wraps: 0 is dropped
    fg, bg = bank.contents()
    assert fg[:, 0].tolist() == [1, 2, 3, 4, 5] and bg[:, 1].tolist() == [-1, -2, -3, -4, -5]
    bank.push(*batch(6, 7))  # more than fits: only the newest 5
    assert bank.contents()[0][:, 0].tolist() == [8, 9, 10, 11, 12]
    state = {k: v.clone() for k, v in bank.state_dict().items()}
    other = MemoryBank(5, 2)
    other.load_state_dict(state)
    assert torch.equal(other.contents()[0], bank.contents()[0])
    with pytest.raises(ValueError, match=">= 1"):
        MemoryBank(0, 2)


def test_memory_bank_reads_checkpoints_that_kept_slot_and_fill_level():
    """Banks saved before the single count held `next` (slot of the next vector) and `filled`."""
    fg = torch.arange(10.0).reshape(5, 2)
    full = MemoryBank(5, 2)  # full, next slot 2: oldest first = slots 2, 3, 4, 0, 1
    full.load_state_dict({"fg": fg, "bg": -fg, "next": torch.tensor(2), "filled": torch.tensor(5)})
    assert int(full.pushed) == 7 and full.contents()[0][:, 0].tolist() == [4, 6, 8, 0, 2]
    part = MemoryBank(5, 2)  # 3 held, not wrapped yet
    part.load_state_dict({"fg": fg, "bg": -fg, "next": torch.tensor(3), "filled": torch.tensor(3)})
    assert int(part.pushed) == 3 and part.contents()[0][:, 0].tolist() == [0, 2, 4]


def test_row_ranks_exclude_diagonal_and_ties():
    sim = torch.tensor([[1.0, 0.2, 0.9], [0.2, 1.0, 0.2], [0.9, 0.2, 1.0]])
    assert row_ranks(sim, exclude_diagonal=True).tolist() == [[2, 1, 0], [0, 2, 1], [0, 1, 2]]
    assert row_ranks(sim, exclude_diagonal=False).tolist() == [[0, 2, 1], [1, 0, 2], [1, 2, 0]]
    w = rank_weights(sim, 0.5, exclude_diagonal=True)
    assert w[0].tolist() == pytest.approx([math.exp(-1.0), math.exp(-0.5), 1.0])


def test_gradients_flow_and_are_finite():
    v_fg = torch.rand(5, 8, requires_grad=True)
    v_bg = torch.rand(5, 8, requires_grad=True)
    contrastive_loss(v_fg, v_bg, 0.05).total.backward()
    assert torch.isfinite(v_fg.grad).all() and v_fg.grad.abs().sum() > 0
    assert torch.isfinite(v_bg.grad).all() and v_bg.grad.abs().sum() > 0


def test_rejects_bad_shapes_and_variant():
    with pytest.raises(ValueError, match="n >= 2"):
        contrastive_loss(torch.rand(1, 4), torch.rand(1, 4), 0.1)
    with pytest.raises(ValueError, match="variant"):
        contrastive_loss(torch.rand(3, 4), torch.rand(3, 4), 0.1, "other")


def test_disentangler_equation_1():
    # P = [[1, 0], [0.5, 0]] over a 2x2 map, two channels.
    p = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    z = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    v_fg, v_bg = disentangle(p, z)
    # v_f = sum_hw P * Z / 4 ; v_b = sum_hw (1 - P) * Z / 4
    assert v_fg[0].tolist() == pytest.approx([(1 + 1.5) / 4, (0 + 0.5) / 4])
    assert v_bg[0].tolist() == pytest.approx([(2 + 1.5 + 4) / 4, (1 + 0.5 + 0) / 4])
