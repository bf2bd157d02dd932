from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

from config.api.moments import parse_utc

MAX_PAGE_SIZE = 200


def _checked_page_size(request, param: str, default: int) -> int:
    raw = request.query_params.get(param)
    if raw is None:
        return default
    # isdigit() alone takes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError({param: [f"Must be a whole number from 1 to {MAX_PAGE_SIZE}."]})
    return int(raw)


def _with_bounds(parameters: list[dict], bounds: dict[str, dict]) -> list[dict]:
    """The schema of each query parameter, with the bounds the pagination enforces."""
    return [
        {**parameter, "schema": {**parameter["schema"], **bounds.get(parameter["name"], {})}}
        for parameter in parameters
    ]


class PagePagination(PageNumberPagination):
    """Numbered pages; an out-of-range page or page_size is an error rather than clamped."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_query_description = "A page number from 1 to the last page; a page past the last is 400."
    page_size_query_description = f"Results per page, from 1 to {MAX_PAGE_SIZE} (default 50)."

    def get_page_size(self, request):
        return _checked_page_size(request, self.page_size_query_param, self.page_size)

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            # DRF calls a page number that is malformed or past the end "not found"; it is a
            # bad parameter of a list that exists, like a bad page_size.
            raise ValidationError(
                {self.page_query_param: ["Must be a page number from 1 to the last page."]}
            ) from None

    def get_schema_operation_parameters(self, view):
        return _with_bounds(
            super().get_schema_operation_parameters(view),
            {
                self.page_query_param: {"minimum": 1},
                self.page_size_query_param: {"minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        )


class TimeCursorPagination(CursorPagination):
    """Stable cursor pages over time-ordered rows (connection logs)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = ("-occurred_at", "-id")
    cursor_query_description = (
        "The cursor of a next or previous link of this list; any other value is 400."
    )
    page_size_query_description = f"Results per page, from 1 to {MAX_PAGE_SIZE} (default 100)."

    def get_page_size(self, request):
        return _checked_page_size(request, self.page_size_query_param, self.page_size)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            # DRF calls a forged cursor "not found"; it is a malformed parameter.
            raise self._invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        # The position goes into the query as is: a forged one must not reach the database.
        position = parse_utc(cursor.position)
        if position is None:
            raise self._invalid_cursor()
        return cursor._replace(position=position.isoformat())

    def _invalid_cursor(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: ["Invalid cursor."]})

    def get_schema_operation_parameters(self, view):
        return _with_bounds(
            super().get_schema_operation_parameters(view),
            {self.page_size_query_param: {"minimum": 1, "maximum": MAX_PAGE_SIZE}},
        )
