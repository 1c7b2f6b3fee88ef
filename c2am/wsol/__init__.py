"""The WSOL half of the paper (Sec. 3.4, Tables 1-3): C2AM maps extracted into a map store, class-agnostic boxes
from them, the held-out threshold choice, GT-known / Top-k Loc, MaxBoxAccV2 and PxAP, DDT boxes as the baseline,
and PSOL's route (pseudo boxes -> localizer + classifier)."""
