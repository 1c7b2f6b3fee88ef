"""The C2AM contrastive loss (Eqs. 2-9 of the paper) and the variant found in the authors' code.

Given foreground and background representations v_f, v_b of n images ([n, C] each):

paper variant (default; ranks within each row, as DESIGN.md and the authors' code do: Eq. 5's wording,
"rank in the set s^f", could also be read as one ranking over all pairs)
  L_NEG   = -1/n^2        sum_{i,j}        log(1 - s_neg[i,j])            s_neg[i,j] = cos(v_f[i], v_b[j])
  L_POS^f = -1/(n(n-1))   sum_{i != j}  w^f[i,j] log(s^f[i,j])            s^f[i,j]   = cos(v_f[i], v_f[j])
  L_POS^b likewise with v_b;  w[i,j] = exp(-alpha * rank[i,j]), rank[i,j] = 0-based position of s[i,j]
  among row i's similarities s[i,k], k != i, sorted in descending order (the most similar pair gets w = 1).
  L = L_POS^f + L_POS^b + L_NEG.
  Cosines are clamped to [eps, 1 - eps] (eps = 1e-6) only to keep the logarithms finite.

authors variant (`variant="authors"`, CVI-SZU/CCAM)
  cosines clamped to [5e-4, 0.9995]; the i = j terms are kept in the positive losses (self-similarity
  ranks first and gets rank -1, i.e. weight exp(alpha)); every term is averaged over n^2.

Everything is vectorised: one n x n similarity matrix per term, ranks from a double argsort.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

VARIANTS = ("paper", "authors")
PAPER_EPS = 1e-6
AUTHORS_CLAMP = (5e-4, 0.9995)


@dataclass
class LossTerms:
    total: torch.Tensor
    neg: torch.Tensor
    pos_fg: torch.Tensor
    pos_bg: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "neg", "pos_fg", "pos_bg")}


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[n, m] cosine similarities of the rows of a [n, C] and b [m, C]."""
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T


def row_ranks(sim: torch.Tensor, exclude_diagonal: bool) -> torch.Tensor:
    """0-based descending rank of every entry within its row (ties broken by column order).

    With exclude_diagonal the diagonal is ranked after every other entry, so off-diagonal ranks are 0..n-2.
    """
    keys = sim.detach()
    if exclude_diagonal:
        keys = keys.masked_fill(torch.eye(len(keys), dtype=torch.bool, device=keys.device), float("-inf"))
    order = torch.argsort(keys, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(keys.shape[1], device=keys.device).expand_as(order))
    return ranks


def rank_weights(sim: torch.Tensor, alpha: float, exclude_diagonal: bool) -> torch.Tensor:
    """w = exp(-alpha * rank) (Eq. 5); the authors' code uses rank - 1 with the diagonal included."""
    ranks = row_ranks(sim, exclude_diagonal).to(sim.dtype)
    if not exclude_diagonal:
        ranks = ranks - 1
    return torch.exp(-alpha * ranks)


def contrastive_loss(v_fg: torch.Tensor, v_bg: torch.Tensor, alpha: float, variant: str = "paper") -> LossTerms:
    """C2AM loss of a batch of foreground/background representations ([n, C] each, n >= 2)."""
    if variant not in VARIANTS:
        raise ValueError(f"loss variant must be one of {VARIANTS}, got {variant!r}")
    n = v_fg.shape[0]
    if v_fg.shape != v_bg.shape or v_fg.ndim != 2 or n < 2:
        raise ValueError(f"need two [n, C] tensors with n >= 2, got {tuple(v_fg.shape)} and {tuple(v_bg.shape)}")
    v_fg, v_bg = v_fg.float(), v_bg.float()
    s_neg, s_ff, s_bb = cosine_matrix(v_fg, v_bg), cosine_matrix(v_fg, v_fg), cosine_matrix(v_bg, v_bg)

    if variant == "paper":
        lo, hi = PAPER_EPS, 1 - PAPER_EPS
        neg = -torch.log1p(-s_neg.clamp(max=hi)).mean()
        off_diag = ~torch.eye(n, dtype=torch.bool, device=v_fg.device)

        def positive(sim: torch.Tensor) -> torch.Tensor:
            w = rank_weights(sim, alpha, exclude_diagonal=True)
            terms = w * torch.log(sim.clamp(min=lo, max=hi))
            return -(terms * off_diag).sum() / (n * (n - 1))
    else:
        lo, hi = AUTHORS_CLAMP
        neg = -torch.log(1 - s_neg.clamp(lo, hi)).mean()

        def positive(sim: torch.Tensor) -> torch.Tensor:
            sim = sim.clamp(lo, hi)
            w = rank_weights(sim, alpha, exclude_diagonal=False)
            return -(w * torch.log(sim)).mean()

    pos_fg, pos_bg = positive(s_ff), positive(s_bb)
    return LossTerms(total=pos_fg + pos_bg + neg, neg=neg, pos_fg=pos_fg, pos_bg=pos_bg)
