-- Helpers shared by the scenario scripts; each script loads this file from its own folder,
-- so wrk can be started from any working directory.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

-- Sets the bearer token given after wrk's "--". No request() function is defined by the
-- scenarios, so wrk builds each request once per thread instead of calling Lua per request.
function bearer(args)
   local token = args[1]
   if token == nil or token == "" then
      error("pass the access token after --, e.g. wrk ... URL -- ACCESS_TOKEN")
   end
   wrk.headers["Authorization"] = "Bearer " .. token
end
