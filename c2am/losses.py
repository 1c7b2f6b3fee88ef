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

memory (`mem_fg`, `mem_bg`: [m, C] vectors of recent batches, no gradient; MemoryBank keeps them)
  the batch's rows are compared with the batch and the memory: columns are batch + memory, so every sum above
  runs over n + m columns instead of n (the self pair i = j is still the only one left out), and the negatives
  also pair each batch background with every memory foreground:
  L_NEG   = -1/(n(n+m) + nm) [sum_{i in batch, j in batch+mem} log(1 - cos(v_f[i], b_j))
                              + sum_{i in batch, k in mem} log(1 - cos(f_k, v_b[i]))]
  L_POS^f = -1/(n(n-1+m))    sum_{i in batch, j in batch+mem, j != i} w^f[i,j] log cos(v_f[i], f_j)
                             (ranks over row i's n-1+m columns)
  The authors variant averages every matrix over all its entries (self pairs kept) the same way.
  With m = 0 this is the loss above (bit for bit on CPU); the memory lets a CPU batch of 16 see as many pairs
  as a batch of 16 + m.

Everything is vectorised: one n x (n+m) similarity matrix per term, ranks from a double argsort.
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


def self_pairs(n: int, m: int, device) -> torch.Tensor:
    """[n, n + m] bool: True at (i, i), the pair of a row with itself (the leading n x n block's diagonal)."""
    return torch.eye(n, n + m, dtype=torch.bool, device=device)


def row_ranks(sim: torch.Tensor, exclude_diagonal: bool) -> torch.Tensor:
    """0-based descending rank of every entry within its row (ties broken by column order).

    `sim` is [n, n + m] (m >= 0 memory columns after the batch's n). With exclude_diagonal the self pair (i, i)
    is ranked after every other entry, so the other ranks are 0..n+m-2.
    """
    keys = sim.detach()
    if exclude_diagonal:
        keys = keys.masked_fill(self_pairs(keys.shape[0], keys.shape[1] - keys.shape[0], keys.device), float("-inf"))
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


def contrastive_loss(v_fg: torch.Tensor, v_bg: torch.Tensor, alpha: float, variant: str = "paper",
                     mem_fg: torch.Tensor | None = None, mem_bg: torch.Tensor | None = None) -> LossTerms:
    """C2AM loss of a batch of foreground/background representations ([n, C] each, n >= 2), optionally against a
    memory of earlier batches' vectors (`mem_fg`, `mem_bg`: [m, C] each, treated as constants)."""
    if variant not in VARIANTS:
        raise ValueError(f"loss variant must be one of {VARIANTS}, got {variant!r}")
    n = v_fg.shape[0]
    if v_fg.shape != v_bg.shape or v_fg.ndim != 2 or n < 2:
        raise ValueError(f"need two [n, C] tensors with n >= 2, got {tuple(v_fg.shape)} and {tuple(v_bg.shape)}")
    if (mem_fg is None) != (mem_bg is None):
        raise ValueError("mem_fg and mem_bg go together")
    if mem_fg is None:
        mem_fg = mem_bg = v_fg.new_zeros((0, v_fg.shape[1]))
    if mem_fg.shape != mem_bg.shape or mem_fg.ndim != 2 or mem_fg.shape[1] != v_fg.shape[1]:
        raise ValueError(f"memory must be two [m, {v_fg.shape[1]}] tensors, got {tuple(mem_fg.shape)} and "
                         f"{tuple(mem_bg.shape)}")
    m = mem_fg.shape[0]
    v_fg, v_bg = v_fg.float(), v_bg.float()
    mem_fg, mem_bg = mem_fg.detach().float(), mem_bg.detach().float()
    all_fg, all_bg = (torch.cat([v_fg, mem_fg]), torch.cat([v_bg, mem_bg])) if m else (v_fg, v_bg)
    s_neg, s_neg_mem = cosine_matrix(v_fg, all_bg), cosine_matrix(v_bg, mem_fg)
    s_ff, s_bb = cosine_matrix(v_fg, all_fg), cosine_matrix(v_bg, all_bg)
    neg_count = n * (n + m) + n * m

    if variant == "paper":
        lo, hi = PAPER_EPS, 1 - PAPER_EPS
        neg = -(torch.log1p(-s_neg.clamp(max=hi)).sum() + torch.log1p(-s_neg_mem.clamp(max=hi)).sum()) / neg_count
        others = ~self_pairs(n, m, v_fg.device)

        def positive(sim: torch.Tensor) -> torch.Tensor:
            w = rank_weights(sim, alpha, exclude_diagonal=True)
            terms = w * torch.log(sim.clamp(min=lo, max=hi))
            return -(terms * others).sum() / (n * (n - 1 + m))
    else:
        lo, hi = AUTHORS_CLAMP
        neg = -(torch.log(1 - s_neg.clamp(lo, hi)).sum() + torch.log(1 - s_neg_mem.clamp(lo, hi)).sum()) / neg_count

        def positive(sim: torch.Tensor) -> torch.Tensor:
            sim = sim.clamp(lo, hi)
            w = rank_weights(sim, alpha, exclude_diagonal=False)
            return -(w * torch.log(sim)).mean()

    pos_fg, pos_bg = positive(s_ff), positive(s_bb)
    return LossTerms(total=pos_fg + pos_bg + neg, neg=neg, pos_fg=pos_fg, pos_bg=pos_bg)


class MemoryBank(torch.nn.Module):
    """First-in first-out memory of the last `size` foreground / background vectors (detached), as MoCo keeps its
    negatives: the loss of every step sees them beside the batch. Its buffers go into the training checkpoint, so
    a resumed run goes on with the same memory."""

    def __init__(self, size: int, channels: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"memory size must be >= 1, got {size}")
        self.size = size
        self.register_buffer("fg", torch.zeros(size, channels))
        self.register_buffer("bg", torch.zeros(size, channels))
        # vectors pushed so far: the next one goes to slot pushed % size, and min(pushed, size) are held
        self.register_buffer("pushed", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before 2026-12-02 (second series) hold `next` and `filled` instead of `pushed`; any count
        # with the same slot and fill level restores the same memory
        nxt, filled = state_dict.pop(prefix + "next", None), state_dict.pop(prefix + "filled", None)
        if nxt is not None and filled is not None and prefix + "pushed" not in state_dict:
            pushed = int(filled) if int(filled) < self.size else self.size + int(nxt)
            state_dict[prefix + "pushed"] = torch.tensor(pushed, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def contents(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored vectors ([k, C] each, k <= size), oldest first."""
        pushed = int(self.pushed)
        k = min(pushed, self.size)
        order = (torch.arange(pushed - k, pushed, device=self.fg.device)) % self.size
        return self.fg[order], self.bg[order]

    @torch.no_grad()
    def push(self, v_fg: torch.Tensor, v_bg: torch.Tensor) -> None:
        """Store a batch's vectors, dropping the oldest ones when full."""
        v_fg, v_bg = v_fg.detach().float()[-self.size:], v_bg.detach().float()[-self.size:]
        slots = (torch.arange(len(v_fg), device=self.fg.device) + int(self.pushed)) % self.size
        self.fg[slots], self.bg[slots] = v_fg.to(self.fg.device), v_bg.to(self.bg.device)
        self.pushed.add_(len(v_fg))
