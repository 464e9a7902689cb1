"""GET /api/v1/technicians/{id}/xp: `total` covers every entry; `entries` is a page (`limit`, `cursor`), newest first,
with `next_cursor` (API.md). Entries are dated by event time, so their order is not their ids' order."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.xp.models import XpKind
from apps.xp.services import award_xp
from tests.support.assertions import assert_validation_problem

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _award(user, *, at: datetime, amount: int = 1, reference: str) -> None:
    assert award_xp(user=user, kind=XpKind.QC_STATUS_UPDATE, amount=amount, reference=reference, ticket=None, at=at)


@pytest.fixture
def ledger(technician, other_technician):
    """Seven entries of the technician, written out of time order (a backdated press applied after a later one)
    and three of them at the same instant; one entry of someone else."""
    minutes = [5, 1, 3, 3, 3, 0, 9]
    for index, minute in enumerate(minutes):
        _award(technician, at=NOON + timedelta(minutes=minute), amount=index + 1, reference=f"ledger:{index}")
    _award(other_technician, at=NOON, amount=100, reference="someone-else")
    return technician


def _pages(api, reader, technician, limit: int) -> list[dict]:
    pages, cursor = [], None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(f"/api/v1/technicians/{technician.pk}/xp?{query}", reader)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not move"


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 200])
def test_the_ledger_pages_newest_first_through_next_cursor_and_every_page_has_the_whole_total(
    api, nobody, ledger, limit
):
    pages = _pages(api, nobody, ledger, limit)

    entries = [entry for page in pages for entry in page["entries"]]
    newest_first = sorted(entries, key=lambda e: (e["created_at"], e["id"]), reverse=True)
    assert entries == newest_first
    assert len(entries) == len({e["id"] for e in entries}) == 7
    assert [e["amount"] for e in entries[:2]] == [7, 1]  # 12:09, then 12:05
    assert all(len(page["entries"]) == limit for page in pages[:-1]) and len(pages[-1]["entries"]) <= limit
    assert {page["total"] for page in pages} == {sum(range(1, 8))}
    assert all(set(page) == {"technician_id", "total", "entries", "next_cursor"} for page in pages)


def test_without_a_limit_a_page_holds_fifty_entries(api, nobody, technician):
    for index in range(51):
        _award(technician, at=NOON + timedelta(seconds=index), reference=f"many:{index}")

    first = api.get(f"/api/v1/technicians/{technician.pk}/xp", nobody).json()
    rest = api.get(f"/api/v1/technicians/{technician.pk}/xp?cursor={first['next_cursor']}", nobody).json()

    assert len(first["entries"]) == 50 and first["next_cursor"] is not None
    assert first["entries"][0]["created_at"] == "2026-11-26T12:00:50Z"
    assert [e["created_at"] for e in rest["entries"]] == ["2026-11-26T12:00:00Z"] and rest["next_cursor"] is None
    assert first["total"] == rest["total"] == 51


def test_an_entry_written_while_paging_does_not_repeat_or_shift_the_pages(api, nobody, ledger):
    first = api.get(f"/api/v1/technicians/{ledger.pk}/xp?limit=3", nobody).json()
    _award(ledger, at=NOON + timedelta(hours=1), amount=50, reference="meanwhile")

    second = api.get(f"/api/v1/technicians/{ledger.pk}/xp?limit=3&cursor={first['next_cursor']}", nobody).json()

    assert not {e["id"] for e in first["entries"]} & {e["id"] for e in second["entries"]}
    assert second["total"] == first["total"] + 50


@pytest.mark.parametrize(
    ("query", "loc"),
    [("limit=0", ["query", "limit"]), ("limit=201", ["query", "limit"]), ("cursor=%%%", ["query", "cursor"])],
)
def test_a_bad_page_query_is_a_validation_error(api, nobody, technician, query, loc):
    assert_validation_problem(api.get(f"/api/v1/technicians/{technician.pk}/xp?{query}", nobody), loc)


def test_a_cursor_of_another_list_is_not_an_xp_cursor(api, nobody, item, other_item, ledger):
    cursor = api.get("/api/v1/inventory-items?limit=1", nobody).json()["next_cursor"]

    assert cursor is not None
    response = api.get(f"/api/v1/technicians/{ledger.pk}/xp?cursor={cursor}", nobody)
    assert_validation_problem(response, ["query", "cursor"])


def test_the_schema_documents_the_page(api, nobody):
    operation = api.get("/api/v1/openapi.json").json()["paths"]["/api/v1/technicians/{technician_id}/xp"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]

    assert set(parameters) == {"limit", "cursor"}
    assert (parameters["limit"]["schema"]["minimum"], parameters["limit"]["schema"]["maximum"]) == (1, 200)
    assert page["$ref"].endswith("/TechnicianXp")
