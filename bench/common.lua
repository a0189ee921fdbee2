-- What every Lua part of the benchmark shares: the rows (the same as
-- bench/bulk_upsert.c makes), the table layouts, the connection settings and
-- the measuring helpers.
local M = {}

M.DIM = 384
M.SEED = 12345 -- spec/helper.lua's default seed
M.BATCH = 500  -- rows per statement / per call, where a contender batches

---------------------------------------------------------------------------
-- The rows. Row i (1..N): id "id-<i>", a 66-byte document (with a quote, so
-- that escaping is exercised), metadata {category = "c<i%7>", score = i%100}
-- and a 384-float vector. The vectors are spec/helper.lua's helper.vectors:
-- one LCG stream over rows 1..N in order (row i starts at step (i-1)*384).
---------------------------------------------------------------------------

function M.id(i) return "id-" .. i end

function M.document(i)
  return ("document %06d: the quick brown fox jumps over the lazy dog's bed"):format(i)
end

function M.metadata(i) return { category = "c" .. (i % 7), score = i % 100 } end

-- A generator of the vectors of rows 1, 2, 3, ... in turn.
function M.vectors(seed)
  local x, dim = seed or M.SEED, M.DIM
  return function()
    local v = {}
    for j = 1, dim do
      x = (x * 1103515245 + 12345) % 2147483648
      v[j] = x / 2147483648 - 0.5
    end
    return v
  end
end

-- The LCG state after `steps` steps from `seed`, by squaring the affine map
-- x -> a*x + c (mod 2^31): the vector of any row without generating the rest.
local MOD = 2147483648
local function compose(a1, c1, a2, c2) -- (a2,c2) after (a1,c1)
  return (a2 * a1) % MOD, (a2 * c1 + c2) % MOD
end
function M.vector_of_row(i, seed)
  local steps = (i - 1) * M.DIM
  local A, C = 1, 0            -- the identity
  local a, c = 1103515245, 12345
  while steps > 0 do
    if steps % 2 == 1 then A, C = compose(A, C, a, c) end
    a, c = compose(a, c, a, c)
    steps = steps // 2
  end
  local x = (A * (seed or M.SEED) + C) % MOD
  local v = {}
  for j = 1, M.DIM do
    x = (x * 1103515245 + 12345) % MOD
    v[j] = x / MOD - 0.5
  end
  return v
end

function M.f32(x) return (string.unpack("<f", string.pack("<f", x))) end

-- float32 little-endian bytes of a vector, as MariaDB stores VECTOR values
local F32 = "<" .. ("f"):rep(M.DIM)
function M.pack_vector(v) return F32:pack(table.unpack(v, 1, M.DIM)) end

local HEX = {}
for b = 0, 255 do HEX[string.char(b)] = ("%02X"):format(b) end
function M.hex(s) return (s:gsub(".", HEX)) end

---------------------------------------------------------------------------
-- Tables and connections
---------------------------------------------------------------------------

-- The collection layout without any index but the primary key (MariaDB
-- dialect of lua-seekdb's v1 collections). With the index, every contender's
-- table is what client:create_collection makes (run.lua copies its DDL).
function M.ddl_noindex(tbl)
  return ("CREATE TABLE `%s` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, "
    .. "embedding VECTOR(%d) NOT NULL, metadata JSON) DEFAULT CHARSET=utf8mb4"):format(tbl, M.DIM)
end

function M.table_of(name) return "c$v1$" .. name end

-- Every contender connects the same way: TCP to the server `scripts/testdb
-- env` names (no unix socket: LuaSQL cannot use one).
function M.conn_options()
  return {
    host = os.getenv("SEEKDB_TEST_HOST") or "127.0.0.1",
    port = tonumber(os.getenv("SEEKDB_TEST_PORT") or "2881"),
    user = os.getenv("SEEKDB_TEST_USER") or "root",
    password = os.getenv("SEEKDB_TEST_PASSWORD") or "",
    database = os.getenv("BENCH_DATABASE") or "seekdb_bench",
  }
end

---------------------------------------------------------------------------
-- Measuring
---------------------------------------------------------------------------

-- This process's peak resident set (VmHWM) in KiB.
function M.peak_rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) or 0
end

-- What a worker hands back to run.lua: one line `RESULT k=v k=v ...`.
function M.result(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. tostring(t[k]) end
  io.stdout:write("RESULT ", table.concat(out, " "), "\n")
  io.stdout:flush()
end

-- The expected document / category / score of row i, for the spot checks.
function M.expect(i)
  local m = M.metadata(i)
  return M.id(i), M.document(i), m.category, m.score
end

return M
