"""The conversation order by previous_item_id, with parking: a pure unit, ids only."""

from __future__ import annotations

import pytest

from recorder.ordering import ROOT, Ordering


def placed(*pairs: tuple[str, str | None]) -> Ordering:
    ordering = Ordering()
    for item_id, previous in pairs:
        ordering.place(item_id, previous)
    return ordering


@pytest.mark.parametrize("first", [None, ROOT])
def test_no_previous_or_root_goes_first(first: str | None) -> None:
    ordering = placed(("a", None), ("b", "a"), ("c", first))
    assert ordering.order == ["c", "a", "b"]
    assert not ordering.parked()


def test_an_item_after_the_last_is_appended_and_after_another_is_inserted() -> None:
    ordering = placed(("a", None), ("b", "a"), ("c", "a"))
    assert ordering.order == ["a", "c", "b"]


def test_an_unplaced_anchor_appends_at_the_end_and_parks() -> None:
    ordering = placed(("a", None), ("x", "missing"), ("b", "a"))
    assert ordering.order == ["a", "b", "x"]  # b after a; x stays at the end
    assert ordering.parked() == {"missing": ["x"]}
    assert ordering.is_parked("x") and not ordering.is_parked("a")


def test_followers_move_after_their_anchor_when_it_arrives_recursively_in_order() -> None:
    ordering = placed(("a", None), ("y1", "x"), ("y2", "x"), ("z", "y1"), ("b", "a"))
    assert ordering.order == ["a", "b", "y1", "z", "y2"]
    assert ordering.is_parked("z")  # after a parked item: provisional as well
    ordering.place("x", "b")
    assert ordering.order == ["a", "b", "x", "y1", "z", "y2"]
    assert not ordering.parked()
    assert not any(ordering.is_parked(i) for i in ordering.order)


def test_followers_stay_parked_while_their_anchor_is_parked() -> None:
    ordering = placed(("a", None), ("y", "x"), ("x", "w"))
    assert ordering.order == ["a", "x", "y"]
    assert ordering.is_parked("x") and ordering.is_parked("y")
    ordering.place("w", "a")
    assert ordering.order == ["a", "w", "x", "y"]
    assert not ordering.parked()


def test_a_cycle_of_previous_ids_does_not_loop() -> None:
    ordering = placed(("a", "b"), ("b", "a"))
    assert sorted(ordering.order) == ["a", "b"]
    ordering.place("c", "a")
    assert sorted(ordering.order) == ["a", "b", "c"]


def test_the_same_previous_again_is_a_no_op_a_different_one_moves_it() -> None:
    ordering = placed(("a", None), ("b", "a"), ("c", "b"))
    assert ordering.place("b", "a") is False
    assert ordering.order == ["a", "b", "c"]
    assert ordering.place("b", "c") is True
    assert ordering.order == ["a", "c", "b"]


def test_a_move_unparks_an_item_whose_new_anchor_is_placed() -> None:
    ordering = placed(("a", None), ("x", "missing"))
    assert ordering.is_parked("x")
    ordering.place("x", "a")
    assert ordering.order == ["a", "x"] and not ordering.parked()


def test_delete_removes_and_unparks_it_and_its_followers_stay_parked() -> None:
    ordering = placed(("a", None), ("x", "missing"), ("y", "x"))
    ordering.remove("x")
    assert ordering.order == ["a", "y"]
    assert not ordering.is_placed("x") and not ordering.is_parked("x")
    assert ordering.parked() == {"x": ["y"]}
    ordering.remove("gone")  # never placed: nothing to do
    assert ordering.order == ["a", "y"]


def test_a_deleted_item_placed_again_goes_back_after_its_previous() -> None:
    ordering = placed(("a", None), ("b", "a"), ("c", "b"))
    ordering.remove("b")
    assert ordering.order == ["a", "c"]
    ordering.place("b", "a")
    assert ordering.order == ["a", "b", "c"]


def test_the_order_list_is_shared_not_copied() -> None:
    order: list[str] = []
    Ordering(order).place("a", None)
    assert order == ["a"]


def test_an_item_after_itself_goes_at_the_end_and_can_be_moved_and_deleted() -> None:
    ordering = Ordering()
    ordering.place("a", None)
    assert ordering.place("x", "x")  # a broken frame: no loop, no error
    assert ordering.order == ["a", "x"] and not ordering.is_parked("x")
    assert not ordering.place("x", "x")
    assert ordering.place("x", None)
    assert ordering.order == ["x", "a"]
    ordering.place("b", "b")
    ordering.remove("b")
    assert ordering.order == ["x", "a"]
