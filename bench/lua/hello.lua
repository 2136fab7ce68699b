-- GET /hello on bench/hello_app.py: the bare-framework ceiling (no authentication).
-- usage: wrk -t1 -c64 -d10s -s bench/lua/hello.lua http://127.0.0.1:PORT/hello
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
