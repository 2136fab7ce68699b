-- POST /api/v1/auth/login: an argon2id verification (tens to hundreds of ms of CPU) and a
-- session insert per request; slow on purpose, so run it with few connections.
-- usage: wrk -t1 -c4 -d5s --timeout 10s -s bench/lua/login.lua http://127.0.0.1:PORT/api/v1/auth/login -- EMAIL PASSWORD
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local email, password = args[1], args[2]
   if email == nil or password == nil then
      error("pass the account after --, e.g. wrk ... URL -- EMAIL PASSWORD")
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.body = string.format('{"email":"%s","password":"%s"}', email, password)
end
