-- What the benchmark drivers share (bench/run.lua, bench/read.lua,
-- bench/hosts.lua): the shell and the environment, the machine's
-- description, and the tables they print and write as Markdown.
local M = {}

-- A command's output, trailing white space cut (its errors dropped).
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>/dev/null"))
  local s = p:read("*a")
  p:close()
  return (s:gsub("%s+$", ""))
end

-- An environment variable, `default` when unset or empty.
function M.getenv(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

-- The words of a string, as a list.
function M.words(s)
  local t = {}
  for w in s:gmatch("%S+") do t[#t + 1] = w end
  return t
end

function M.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The load averages "1 5 15" (what else shares the cores).
function M.loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("*l") or "?"
  f:close()
  return s:match("^(%S+ %S+ %S+)") or s
end

function M.cpu_model()
  local f = io.open("/proc/cpuinfo")
  if not f then return "?" end
  local s = f:read("*a")
  f:close()
  return ((s:match("model name%s*:%s*([^\n]+)") or "?"):gsub("%s+", " "))
end

-- 1234567 -> "1,234,567"
function M.thousands(x)
  local s = ("%.0f"):format(x)
  local k
  repeat s, k = s:gsub("^(-?%d+)(%d%d%d)", "%1,%2") until k == 0
  return s
end

-- The figures a contender's process printed on its line "RESULT k=v k=v ...".
function M.parse_result(out)
  local line = out:match("RESULT ([^\n]*)")
  if not line then return nil end
  local t = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

function M.mib(kb) return ("%.1f"):format(kb / 1024) end

-- A list of tables, each { title, heads, align ("l"/"r" per column), rows }.
function M.tables()
  local list = {}
  function list.new(title, heads, align)
    local t = { title = title, heads = heads, align = align, rows = {} }
    list[#list + 1] = t
    return t
  end
  return list
end

-- A table as aligned text; `grouped`: a blank line where its first two
-- columns change.
function M.render_text(t, grouped)
  local w = {}
  for i, h in ipairs(t.heads) do w[i] = #h end
  for _, row in ipairs(t.rows) do
    for i, cell in ipairs(row) do w[i] = math.max(w[i], #cell) end
  end
  local function line(cells)
    local out = {}
    for i, cell in ipairs(cells) do
      out[i] = t.align[i] == "r" and (" "):rep(w[i] - #cell) .. cell or cell .. (" "):rep(w[i] - #cell)
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local rule = {}
  for i = 1, #t.heads do rule[i] = ("-"):rep(w[i]) end
  local lines = { t.title, line(t.heads), line(rule) }
  local prev
  for _, row in ipairs(t.rows) do
    if prev and grouped and (row[1] ~= prev[1] or row[2] ~= prev[2]) then lines[#lines + 1] = "" end
    lines[#lines + 1] = line(row)
    prev = row
  end
  return table.concat(lines, "\n")
end

-- A table as Markdown, under a "###" heading.
function M.render_md(t)
  local lines = { "### " .. t.title, "", "| " .. table.concat(t.heads, " | ") .. " |" }
  local sep = {}
  for i, a in ipairs(t.align) do sep[i] = a == "r" and "---:" or "---" end
  lines[#lines + 1] = "|" .. table.concat(sep, "|") .. "|"
  for _, row in ipairs(t.rows) do lines[#lines + 1] = "| " .. table.concat(row, " | ") .. " |" end
  return table.concat(lines, "\n")
end

return M
