"""Reading query strings: filters, pagination and sorting, refused by parameter name."""

from __future__ import annotations

import pytest

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.filters import NumberFilter
from bulkupdate.sandbox.jobs import JobType
from bulkupdate.sandbox.queries import (
    NumberSort,
    Page,
    parse_jobs_query,
    parse_no_query,
    parse_numbers_query,
    parse_update_query,
)
from bulkupdate.sandbox.refusals import ApiRefusal


def refused(parse: object, pairs: list[tuple[str, str]]) -> ApiRefusal:
    with pytest.raises(ApiRefusal) as caught:
        parse(pairs)  # type: ignore[operator]
    return caught.value


UPDATE_QUERY_REFUSALS = [
    ([("filter[colour]", "red")], "filter[colour]"),
    # The reference page's spelling, not the spec's:
    ([("filter[status]", "purchase_pending")], "filter[status]"),
    ([("filter[voice.usage_payment_method]", "free")], "filter[voice.usage_payment_method]"),
    ([("filter[phone_number]", "31")], "filter[phone_number]"),
    ([("filter[phone_number]", "+1a")], "filter[phone_number]"),
    *[
        ([(f"filter[voice.connection_name][{op}]", value)], f"filter[voice.connection_name][{op}]")
        for op, value in (
            ("contains", "ab"),
            ("starts_with", "ab"),
            ("ends_with", "ab"),
            ("like", "abc"),
        )
    ],
    ([("filter[has_bundle]", "yes")], "filter[has_bundle]"),
    ([("filter[tag]", "a"), ("filter[tag]", "b")], "filter[tag]"),
    ([("filter[country_iso_alpha2]", "US")], "filter[country_iso_alpha2]"),  # list-only filter
    ([("page[number]", "1")], "page[number]"),
    ([("filter", "x")], "filter"),
    ([("bogus]", "x")], "bogus]"),
]


@pytest.mark.parametrize(("pairs", "parameter"), UPDATE_QUERY_REFUSALS)
def test_update_query_refusals_name_the_parameter(
    pairs: list[tuple[str, str]], parameter: str
) -> None:
    refusal = refused(parse_update_query, pairs)
    assert (refusal.status, refusal.code, refusal.parameter) == (422, "10015", parameter)
    assert refusal.pointer is None


def test_update_filters_are_read() -> None:
    number_filter = parse_update_query(
        [
            ("filter[tag]", "vip"),
            ("filter[phone_number]", "+1312"),
            ("filter[status]", "active"),
            ("filter[voice.connection_name][contains]", "main"),
            ("filter[voice.connection_name][eq]", "x"),
            ("filter[billing_group_id]", "null"),
            ("filter[has_bundle]", "false"),
        ]
    )
    assert number_filter == NumberFilter(
        tag="vip",
        phone_digits="1312",
        status="active",
        connection_name=(("contains", "main"), ("eq", "x")),
        billing_group_id="null",
        has_bundle=False,
    )
    assert parse_update_query([]) is None


def test_non_digits_in_phone_number_filter_match_nothing_rather_than_refuse() -> None:
    number_filter = parse_update_query([("filter[phone_number]", "312-555")])
    assert number_filter is not None
    assert number_filter.phone_impossible


def test_jobs_query() -> None:
    query = parse_jobs_query(
        [
            ("filter[type]", "delete_phone_numbers"),
            ("page[number]", "3"),
            ("page[size]", "250"),
            ("sort", "created_at"),
        ]
    )
    assert query.type is JobType.DELETE_PHONE_NUMBERS
    assert query.page == Page(number=3, size=250)
    assert parse_jobs_query([]).page == Page(number=1, size=20)


@pytest.mark.parametrize(
    ("pairs", "which"),
    [
        ([("page[number]", "0")], "number"),
        ([("page[number]", "one")], "number"),
        ([("page[number]", "-1")], "number"),
        ([("page[size]", "0")], "size"),
        ([("page[size]", "251")], "size"),
        ([("page[size]", "1.5")], "size"),
    ],
)
def test_bad_pages_get_the_spec_bodies(pairs: list[tuple[str, str]], which: str) -> None:
    for parse in (parse_jobs_query, parse_numbers_query):
        refusal = refused(parse, pairs)
        assert refusal.body()["errors"][0] == {
            "code": "10015",
            "title": "Invalid pagination",
            "detail": refusals.BAD_PAGE,
            "source": {"pointer": f"page/{which}"},
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10015"},
        }


def test_bad_sorts_get_the_spec_body() -> None:
    for parse, pairs in (
        (parse_jobs_query, [("sort", "-created_at")]),
        (parse_numbers_query, [("sort", "created_at")]),
        (parse_numbers_query, [("sort", "colour")]),
    ):
        refusal = refused(parse, pairs)
        assert (refusal.title, refusal.detail, refusal.pointer) == (
            "Invalid sorting value",
            refusals.BAD_SORT,
            "/sort",
        )


def test_jobs_query_refusals() -> None:
    assert refused(parse_jobs_query, [("filter[type]", "update")]).parameter == "filter[type]"
    assert refused(parse_jobs_query, [("filter[status]", "pending")]).parameter == (
        "filter[status]"
    )
    assert refused(parse_jobs_query, [("page[sise]", "2")]).parameter == "page[sise]"


def test_numbers_query() -> None:
    query = parse_numbers_query(
        [
            ("filter[country_iso_alpha2]", "US,CA"),
            ("filter[number_type][eq]", "local"),
            ("filter[source]", "purchased"),
            ("filter[without_tags]", "true"),
            ("sort", "phone_number"),
            ("handle_messaging_profile_error", "false"),
        ]
    )
    assert query.filter.countries == frozenset({"US", "CA"})
    assert query.filter.number_type == "local"
    assert query.filter.without_tags is True
    assert query.sort is NumberSort.PHONE_NUMBER
    assert refused(parse_numbers_query, [("filter[has_bundle]", "true")]).parameter == (
        "filter[has_bundle]"
    )
    assert refused(parse_numbers_query, [("filter[number_type]", "local")]).parameter == (
        "filter[number_type]"
    )
    assert refused(parse_numbers_query, [("handle_messaging_profile_error", "1")]).parameter == (
        "handle_messaging_profile_error"
    )


def test_endpoints_without_parameters_refuse_any() -> None:
    parse_no_query([])
    assert refused(parse_no_query, [("verbose", "1")]).parameter == "verbose"


def test_page_meta() -> None:
    assert Page(number=2, size=25).meta(55) == {
        "page_number": 2,
        "page_size": 25,
        "total_pages": 3,
        "total_results": 55,
    }
    assert Page().meta(0)["total_pages"] == 0
