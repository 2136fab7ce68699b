-- GET /api/v1/notes/{id}: one note, served from the Redis cache once warmed.
-- usage: wrk -t1 -c64 -d10s -s bench/lua/note_get.lua http://127.0.0.1:PORT/api/v1/notes/ID -- ACCESS_TOKEN
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   bearer(args)
end
