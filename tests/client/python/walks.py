"""Seeded uniform walks over legal masks, the same whichever client or transport drives them.

    walk = UniformWalk(len(sessions), seed)
    while walk.live:
        tokens = walk.choose(masks)                 # one per live session, from its mask
        sessions_, masks = client.advance([sessions[i] for i in walk.live], tokens, True)
        masks = walk.settle(sessions, masks)        # drops the sessions that ended
"""
from __future__ import annotations

import random
from typing import Any, List, Sequence

from astcd_client import mask_to_token_ids


class UniformWalk:
    def __init__(self, n: int, seed: int) -> None:
        self.rngs = [random.Random(seed * 100003 + i) for i in range(n)]
        self.tokens: List[List[int]] = [[] for _ in range(n)]  # what each session was given
        self.live = list(range(n))
        self.steps = 0    # calls to choose: one batched model step each
        self.choices = 0  # tokens chosen: one row of a forward pass each

    def choose(self, masks: Sequence[Any]) -> List[int]:
        assert len(masks) == len(self.live), (len(masks), len(self.live))
        chosen = []
        for i, m in zip(self.live, masks):
            legal = mask_to_token_ids(m)
            assert legal, f"session {i}: empty mask before the end"
            # A forced token costs no randomness, so a walk that jumps forward over forced
            # tokens makes the same choices as one that steps through them.
            t = legal[0] if len(legal) == 1 else self.rngs[i].choice(legal)
            self.tokens[i].append(t)
            chosen.append(t)
        self.steps += 1
        self.choices += len(chosen)
        return chosen

    def settle(self, sessions: Sequence[Any], masks: Sequence[Any]) -> List[Any]:
        """Keeps the masks of the sessions still going (masks is one per live session), and
        records the forced chains they applied (Session.forced, with jump_forward="apply")."""
        for i in self.live:
            self.tokens[i].extend(getattr(sessions[i], "forced", ()))
        keep = [k for k, i in enumerate(self.live) if not sessions[i].terminated]
        self.live = [self.live[k] for k in keep]
        return [masks[k] for k in keep]
