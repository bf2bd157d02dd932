from rooms.services import participant_join, room_create


def test_room_create_then_join(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    outcome = participant_join(rider=other_rider, code=room.code.lower())
    assert outcome.active_count == 2
    assert outcome.participant.is_active
