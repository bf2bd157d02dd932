-- Returns the room dump (see dump_room); read-only.
return dump_room()
