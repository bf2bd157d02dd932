from rest_framework.permissions import BasePermission

from rooms.selectors import room_get_by_code, room_require_active_member


class IsActiveRoomMember(BasePermission):
    """The ride named by the ``code`` URL kwarg, for its active participants and staff only.

    The ride it resolves is kept on the view as ``view.room``, so the action reads it once.
    An unknown or malformed code answers 404/400 as before; anyone else gets 403
    ``not_room_member``.
    """

    def has_permission(self, request, view) -> bool:
        room = room_get_by_code(code=view.kwargs["code"])
        room_require_active_member(room=room, viewer=request.user)
        view.room = room
        return True
