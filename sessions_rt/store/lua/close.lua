-- Returns the ids of the riders who were live members.
local riders = redis.call('ZRANGE', MEMBERS, 0, -1)
delete_room()
return riders
