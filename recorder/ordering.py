"""The conversation order: items linked by previous_item_id, with parking for late anchors.

CATALOG.md §2: order is the previous_item_id linked list ("root" or null = first), never
arrival order. An item whose predecessor has not been placed yet (the recording started late,
an out-of-band item, a reordered echo) is put at the end for now and parked under that
predecessor; when the predecessor arrives, its parked followers (and theirs, recursively, in
the order they were parked) move right behind it. Followers of an item that is itself parked
stay parked: the whole chain is still provisional.

Ordering owns the order list (the Conversation's `order`, shared, not copied), the parked map
and which item follows which. It knows ids only; the conversation's Items are the fold's.
"""

from __future__ import annotations

ROOT = "root"


class Ordering:
    """Places item ids after their previous_item_id in `order`, parking those that wait."""

    __slots__ = ("_parked", "_previous", "order")

    def __init__(self, order: list[str] | None = None) -> None:
        self.order: list[str] = order if order is not None else []
        # placed item id -> its previous_item_id (None: first)
        self._previous: dict[str, str | None] = {}
        # anchor id (or ROOT) -> ids placed at the end for now, waiting for that anchor
        self._parked: dict[str, list[str]] = {}

    def is_placed(self, item_id: str) -> bool:
        return item_id in self._previous

    def is_parked(self, item_id: str | None) -> bool:
        """Whether item_id is placed provisionally, waiting for its predecessor."""
        if not item_id or item_id not in self._previous:
            return False
        return item_id in self._parked.get(self._previous[item_id] or ROOT, ())

    def parked(self) -> dict[str, list[str]]:
        """A copy of the parked map: anchor id -> the ids waiting for it, in order."""
        return {anchor: list(ids) for anchor, ids in self._parked.items()}

    def place(self, item_id: str, previous_item_id: str | None) -> bool:
        """Insert item_id after previous_item_id (None or "root": first). An item already
        placed after the same predecessor stays where it is (False: nothing changed); after
        another one, it moves."""
        order = self.order
        if item_id in self._previous:
            if self._previous[item_id] == previous_item_id:
                return False
            order.remove(item_id)
            self._unpark(item_id)
        self._previous[item_id] = previous_item_id
        if previous_item_id == item_id:  # after itself (a broken frame): at the end, as it came
            order.append(item_id)
            return True
        if previous_item_id is None or previous_item_id == ROOT:
            order.insert(0, item_id)
        elif order and order[-1] == previous_item_id:
            order.append(item_id)
        elif previous_item_id in self._previous:
            order.insert(order.index(previous_item_id) + 1, item_id)
        else:  # previous not placed (recording started late, out-of-band): keep it, at the end
            order.append(item_id)
            self._park(item_id)
        if previous_item_id is not None and self.is_parked(previous_item_id):
            self._park(item_id)  # after a parked item: provisional as well
        if item_id in self._parked:
            self._bring_followers(item_id, still_parked=self.is_parked(item_id))
        return True

    def remove(self, item_id: str) -> None:
        """Take item_id out of the order (deleted). Items parked behind it stay parked."""
        if item_id not in self._previous:
            return
        self.order.remove(item_id)
        self._unpark(item_id)
        del self._previous[item_id]

    def _park(self, item_id: str) -> None:
        waiting = self._parked.setdefault(self._previous[item_id] or ROOT, [])
        if item_id not in waiting:
            waiting.append(item_id)

    def _unpark(self, item_id: str) -> None:
        anchor = self._previous[item_id] or ROOT
        waiting = self._parked.get(anchor)
        if waiting is not None and item_id in waiting:
            waiting.remove(item_id)
            if not waiting:
                del self._parked[anchor]

    def _bring_followers(self, anchor_id: str, *, still_parked: bool) -> None:
        """Move the parked items that follow anchor_id (and theirs, and so on) right after it:
        their predecessor has arrived, so the end of the order was only a stand-in. They stay
        parked if anchor_id is itself still waiting for its own predecessor."""
        order = self.order
        anchors = [anchor_id]
        moved = {anchor_id}  # a malformed cycle of previous_item_ids must not loop forever
        while anchors:
            anchor = anchors.pop()
            followers = self._parked.get(anchor, []) if still_parked else self._parked.pop(
                anchor, []
            )
            followers = [f for f in followers if f not in moved]
            for follower in reversed(followers):  # each lands right after the anchor, in order
                order.remove(follower)
                order.insert(order.index(anchor) + 1, follower)
            moved.update(followers)
            anchors.extend(followers)
