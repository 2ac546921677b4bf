"""Telnyx's error bodies: every way the sandbox says no, with the spec's exact wording.

Handlers and validators raise :class:`ApiRefusal`; the HTTP layer turns it into
``{"errors": [...]}`` with the status. Details quoted from the OpenAPI excerpt's examples are
kept verbatim (including "occured") because clients match on them: code 10015 means both
"never retry" and "retry when a job slot frees up", told apart only by detail and pointer.
"""

from __future__ import annotations

from typing import Any

BAD_REQUEST = "Bad Request"
DOCS = "https://developers.telnyx.com/docs/overview/errors/"

MUST_BE_PRESENT = "must be present"
TOO_MANY_NUMBERS = "1000 numbers is the maximum allowed."
TOO_FEW_NUMBERS = "You must provide at least 1 phone number."
MIXED_NUMBERS = (
    "You must specify either all phone numbers in the e164 format or all as phone number ids"
)
NOT_OWNED = "You must own every number in the bulk request"
NO_UPDATABLE_FIELD = "You must provide at least 1 updateable field."
FIELD_INVALID = "The field is invalid."
UNEXPECTED = "An unexpected error occured."
RATE_LIMITED = "You have exceeded the maximum number of allowed requests."
BAD_CREDENTIALS = "Could not understand the provided credentials."
NOT_PERMITTED = "You do not have permission to perform the requested action."
NOT_FOUND = "The requested resource or URL could not be found."
BAD_PAGE = (
    "The provided 'page' parameter is invalid. It must be an object with 'size' and/or "
    "'number' with numeric values."
)
BAD_SORT = "The value provided for sorting is not valid. Check the value used and try again."


def job_cap_detail(cap: int) -> str:
    return f"You can have at most {cap} pending or in progress jobs"


def error_object(
    code: str,
    title: str,
    detail: str,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
) -> dict[str, Any]:
    """One element of ``errors``, in Telnyx's shape."""
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    source = {}
    if pointer is not None:
        source["pointer"] = pointer
    if parameter is not None:
        source["parameter"] = parameter
    if source:
        error["source"] = source
    error["meta"] = {"url": DOCS + code}
    return error


class ApiRefusal(Exception):
    """An answer with an error body: HTTP status and one Telnyx error object.

    A plain exception rather than a frozen dataclass: the interpreter and test tools set
    ``__traceback__`` and friends on exceptions, which a frozen class would refuse.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
    ) -> None:
        super().__init__(status, code, detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        error = error_object(
            self.code, self.title, self.detail, pointer=self.pointer, parameter=self.parameter
        )
        return {"errors": [error]}

    def __str__(self) -> str:
        where = self.pointer or self.parameter or ""
        return f"{self.status} {self.code} {self.detail} {where}".rstrip()


def invalid_body(detail: str, pointer: str, *, status: int = 422) -> ApiRefusal:
    """A body refusal: code 10015 with a JSON pointer to the offending field."""
    return ApiRefusal(status, "10015", BAD_REQUEST, detail, pointer=pointer)


def invalid_parameter(
    detail: str, parameter: str, *, title: str = "Invalid parameter"
) -> ApiRefusal:
    """A query-string refusal: 422, code 10015, naming the parameter."""
    return ApiRefusal(422, "10015", title, detail, parameter=parameter)


def bad_page(which: str) -> ApiRefusal:
    """The spec's pagination refusal; ``which`` is ``number`` or ``size``."""
    return ApiRefusal(422, "10015", "Invalid pagination", BAD_PAGE, pointer=f"page/{which}")


def bad_sort() -> ApiRefusal:
    return ApiRefusal(422, "10015", "Invalid sorting value", BAD_SORT, pointer="/sort")


def not_owned() -> ApiRefusal:
    # Deliberately does not say which number: the real API does not either.
    return invalid_body(NOT_OWNED, "/phone_numbers")


def job_cap_reached(cap: int) -> ApiRefusal:
    return invalid_body(job_cap_detail(cap), "/base")


def not_found() -> ApiRefusal:
    return ApiRefusal(404, "10005", "Resource not found", NOT_FOUND, pointer="/base")


def unauthorized() -> ApiRefusal:
    return ApiRefusal(401, "10009", "Authentication failed", BAD_CREDENTIALS)


def forbidden() -> ApiRefusal:
    return ApiRefusal(403, "10010", "Authorization failed", NOT_PERMITTED)


def listing_refusal(status: int) -> ApiRefusal:
    """How a listing the key may not use, or that is missing or failing, answers."""
    if status == 403:
        return forbidden()
    if status == 404:
        return not_found()
    return unexpected()


def rate_limited() -> ApiRefusal:
    return ApiRefusal(429, "10011", "Too many requests", RATE_LIMITED)


def unexpected() -> ApiRefusal:
    return ApiRefusal(500, "10007", "Unexpected error", UNEXPECTED, pointer="/base")


def transient_failure() -> dict[str, Any]:
    """The error of one operation that failed for no fault of the request (retry it)."""
    return error_object("10007", "Unexpected error", UNEXPECTED, pointer="/base")


def field_failure(pointer: str) -> dict[str, Any]:
    """The error of one operation the number itself refuses (do not retry it)."""
    return error_object("10015", BAD_REQUEST, FIELD_INVALID, pointer=pointer)
