"""A system's records that contradict what the requester gave are shown to staff (issue 21, item 5)."""

from __future__ import annotations

from services.dsr.results import disagreements

SYSTEMS = [
    {"system_id": "emr", "name": "Electronic medical records", "exported": [
        {"category": "name", "items": [{"name": "김서연", "birth_date": "1990-04-01"}]},
        {"category": "treatment_records", "items": [{"visit": "2024-03-15"}]}]},
    {"system_id": "website", "name": "Website", "exported": [{"category": "name", "items": {"name": "김서연"}}]},
]


def test_a_different_birth_date_is_flagged_with_the_system_and_both_values():
    found = disagreements({"name": "Kim Seo-yeon", "birth_date": "1990-04-11"}, SYSTEMS)
    assert found == [{"system": "Electronic medical records", "field": "birth_date", "given": "1990-04-11",
                      "held": "1990-04-01"}]


def test_the_same_birth_date_or_none_given_flags_nothing_and_names_are_not_compared():
    assert disagreements({"name": "Kim Seo-yeon", "birth_date": "1990-04-01"}, SYSTEMS) == []
    assert disagreements(None, SYSTEMS) == [] and disagreements({"name": "x"}, SYSTEMS) == []
