"""Pages of a list: PAGE_SIZE items, "next" and "previous" as URLs or null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse

from api.auth import json_error
from pyq_site.inputs import optional_int

PAGE_SIZE = 50
MAX_PAGE = 10**9


def page_number(request: HttpRequest) -> int | None:
    """The `page` query parameter (1 when absent); None when it is not a number from 1."""
    return optional_int(request.GET.get("page", "1"), minimum=1, maximum=MAX_PAGE)


def bad_page() -> JsonResponse:
    return json_error(400, "invalid_page", "page must be a whole number from 1.")


def paginated(
    request: HttpRequest,
    queryset: QuerySet,
    number: int,
    name: str,
    serialize: Callable[[Any], dict[str, Any]],
) -> JsonResponse:
    """{"count", "page", "pages", "next", "previous", name: [...]}; 404 past the last page."""
    paginator = Paginator(queryset, PAGE_SIZE)
    try:
        page = paginator.page(number)
    except EmptyPage:
        return json_error(
            404, "not_found", f"There is no page {number}; there are {paginator.num_pages}."
        )
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": (
                _page_url(request, page.previous_page_number()) if page.has_previous() else None
            ),
            name: [serialize(item) for item in page.object_list],
        }
    )


def _page_url(request: HttpRequest, number: int) -> str:
    """This request's URL, its filters kept, on page `number`."""
    query = request.GET.copy()
    query["page"] = str(number)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
