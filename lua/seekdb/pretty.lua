--- Readable text for results and other values, for the REPL and logs.
-- `seekdb.pretty(value)` is also the `__tostring` of get and query results.
-- Keys in order, `null` for seekdb.null, long vectors shortened.
-- @module seekdb.pretty

local NULL = require("seekdb.core").null

local MAX_NUMBERS = 6 -- numbers of a vector shown before "..."

local function is_list(t)
  local n = #t
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

local function number_text(x)
  if x % 1 == 0 and math.abs(x) < 2 ^ 53 then return ("%d"):format(x) end
  return ("%.6g"):format(x)
end

local function key_order(a, b)
  if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
  return type(a) < type(b)
end

local render, pretty

local function render_table(t, indent, seen)
  if seen[t] then return "<cycle>" end
  seen[t] = true
  local list = is_list(t)
  local numbers = list and #t > 0
  for _, v in ipairs(t) do numbers = numbers and type(v) == "number" end
  local parts = {}
  if numbers then -- a vector: one line, shortened
    for i = 1, math.min(#t, MAX_NUMBERS) do parts[i] = number_text(t[i]) end
    if #t > MAX_NUMBERS then parts[#parts + 1] = ("... (%d numbers)"):format(#t) end
    seen[t] = nil
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, key_order)
  local inner = indent .. "  "
  for _, k in ipairs(keys) do
    local v = render(t[k], inner, seen)
    if list then
      parts[#parts + 1] = inner .. v
    else
      local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. render(k, inner, seen) .. "]")
      parts[#parts + 1] = inner .. name .. " = " .. v
    end
  end
  seen[t] = nil
  if #parts == 0 then return "{}" end
  local one_line = "{ " .. table.concat(parts, ", "):gsub("\n%s*", " "):gsub("^%s+", "") .. " }"
  if #one_line <= 72 and not one_line:find("\n") then
    local flat = {}
    for i, p in ipairs(parts) do flat[i] = p:gsub("^%s+", "") end
    return "{ " .. table.concat(flat, ", ") .. " }"
  end
  return "{\n" .. table.concat(parts, ",\n") .. ",\n" .. indent .. "}"
end

function render(v, indent, seen)
  local t = type(v)
  if v == NULL then return "null" end
  if t == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  if t == "number" then return number_text(v) end
  if t == "table" then
    local mt = getmetatable(v)
    -- other objects (clients, collections) describe themselves
    if mt and mt.__tostring and mt.__tostring ~= pretty then return tostring(v) end
    return render_table(v, indent, seen)
  end
  return tostring(v)
end

--- Readable text of a value: keys in order,
-- `null` for seekdb.null, vectors shortened, objects as they print.
-- @param value any Lua value
-- @treturn string
-- @function pretty
function pretty(value)
  return (render(value, "", {}))
end

return pretty
