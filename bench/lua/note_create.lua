-- POST /api/v1/notes: every request inserts a note and bumps the owner's cache generation.
-- usage: wrk -t1 -c64 -d10s -s bench/lua/note_create.lua http://127.0.0.1:PORT/api/v1/notes -- ACCESS_TOKEN
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   bearer(args)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   -- The same body every time: notes have no uniqueness constraint, and a fixed request
   -- keeps wrk's own cost out of the figure.
   wrk.body = '{"title":"load test note","body":"Written by **wrk** to measure inserts.\\n\\n' ..
      '- one\\n- two\\n- three","tags":["bench","load"],"pinned":false,"archived":false}'
end
