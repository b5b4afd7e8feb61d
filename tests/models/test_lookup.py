"""Prompt-lookup drafts (kapibara.models.lookup): what followed the last n tokens before."""

from __future__ import annotations

from kapibara.models.lookup import lookup_draft


def test_the_most_recent_earlier_occurrence_is_copied():
    seq = [1, 2, 3, 9, 9, 1, 2, 3, 8, 7, 5, 1, 2, 3]
    assert lookup_draft(seq, 3) == [8, 7, 5]
    assert lookup_draft(seq, 10) == [8, 7, 5, 1, 2, 3]  # up to the sequence's end


def test_no_earlier_occurrence_gives_no_draft():
    assert lookup_draft([1, 2, 3, 4, 5, 6], 7) == []
    assert lookup_draft([], 7) == []
    assert lookup_draft([1, 2, 3], 7) == []
    assert lookup_draft([1, 2, 3, 1, 2, 3], 0) == []


def test_longer_ngrams_win_and_the_shortest_is_a_fallback():
    # the 3-gram (4, 1, 2) occurred at the start; the 2-gram (1, 2) more recently
    seq = [4, 1, 2, 7, 7, 0, 1, 2, 6, 6, 4, 1, 2]
    assert lookup_draft(seq, 2, ngrams=(3, 2)) == [7, 7]
    assert lookup_draft(seq, 2, ngrams=(2,)) == [6, 6]
    assert lookup_draft([5, 1, 2, 9, 0, 1, 2], 2, ngrams=(3,)) == []
    assert lookup_draft([5, 1, 2, 9, 0, 1, 2], 2, ngrams=(3, 2)) == [9, 0]


def test_a_repeated_token_run_drafts_more_of_it():
    # the tail's own overlap counts as an earlier occurrence, never the tail itself
    assert lookup_draft([8, 8, 8, 8], 3) == [8]
    assert lookup_draft([8, 8, 8], 3) == []
