from collections.abc import Callable

from rest_framework.permissions import BasePermission

from rooms.selectors import (
    room_get_by_code,
    room_require_active_member,
    room_require_leader_or_staff,
    room_require_ongoing_for_member,
)


class _RideScopedPermission(BasePermission):
    """Resolves the ride named by the ``code`` URL kwarg and keeps it on the view as
    ``view.room``, so the action reads it once. An unknown or malformed code answers 404/400
    before anything else; then ``rule``, a selector raising the 403, decides."""

    rule: Callable[..., None]

    def has_permission(self, request, view) -> bool:
        room = room_get_by_code(code=view.kwargs["code"])
        self.rule(room=room, viewer=request.user)
        view.room = room
        return True


class IsActiveRoomMember(_RideScopedPermission):
    """The ride named by the ``code`` URL kwarg, for its active participants and staff only.

    Anyone else gets 403 ``not_room_member``.
    """

    rule = staticmethod(room_require_active_member)


class IsMemberOfOngoingRide(_RideScopedPermission):
    """As IsActiveRoomMember, for what exists only while the ride is on (its live state): an
    ended ride answers 422 ``room_inactive`` first, to anyone."""

    rule = staticmethod(room_require_ongoing_for_member)


class IsRoomLeader(_RideScopedPermission):
    """The ride named by the ``code`` URL kwarg, for its creator and staff only: anyone else
    gets 403 ``not_room_leader``."""

    rule = staticmethod(room_require_leader_or_staff)
