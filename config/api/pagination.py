from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

MAX_PAGE_SIZE = 200


def _checked_page_size(request, param: str, default: int) -> int:
    raw = request.query_params.get(param)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError({param: [f"Must be a whole number from 1 to {MAX_PAGE_SIZE}."]})
    return int(raw)


class PagePagination(PageNumberPagination):
    """Numbered pages; an out-of-range page_size is an error rather than silently clamped."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _checked_page_size(request, self.page_size_query_param, self.page_size)


class TimeCursorPagination(CursorPagination):
    """Stable cursor pages over time-ordered rows (connection logs)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = ("-occurred_at", "-id")

    def get_page_size(self, request):
        return _checked_page_size(request, self.page_size_query_param, self.page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            # DRF calls a forged cursor "not found"; it is a malformed parameter.
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
