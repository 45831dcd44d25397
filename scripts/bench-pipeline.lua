-- wrk script for scripts/bench-pipeline.sh: 100-event batches (10 % installs, 70 % sessions,
-- 20 % purchases) from 50 000 devices, with ids unique per thread and request. The app tokens
-- are the script's arguments; requests take turns among them.
-- `tid` is set per thread by setup(); it must stay a global (a `local tid` here would shadow it
-- and every thread would send the same ids).
local counter = 0

local devices = 50000

setup = function(thread)
  thread:set("tid", math.random(1, 1000000000))
end
init = function(args)
  tokens = args
end
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local parts = {}
  for i = 1, 100 do
    local d = math.random(0, devices - 1)
    local r = math.random(0, 99)
    local kind
    if r < 10 then kind = '"type":"install"'
    elseif r < 80 then kind = '"type":"session"'
    else kind = '"type":"event","name":"purchase","revenue":{"amount":4.99,"currency":"EUR"}' end
    parts[i] = string.format('{"id":"w%d-%d-%d","timestamp":"%s","device":{"gaid":"lg-%08d","os":"android","country":"US","ip":"198.51.%d.%d"},%s}',
      tid, counter, i, now, d, d % 250, math.floor(d / 250) % 250, kind)
  end
  return wrk.format("POST", "/v1/events", {["content-type"]="application/json", ["x-app-token"]=token}, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
