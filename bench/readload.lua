-- The read benchmark's workloads (issue 13), shared by bench/read.lua (which
-- renders lua-seekdb's statements of every call for the plain-C contender
-- with core.sql, lua-seekdb's dry run) and bench/read_worker.lua (which makes
-- the same calls). Every contender of one N reads the same collection,
-- "read_<N>": N rows of bench/common.lua (ids "id-<i>", 66-byte documents,
-- metadata {category = "c<i%7>", score = i%100}, 384 floats), made with
-- client:create_collection and collection:upsert (pyseekdb's layout: the
-- vector index, cosine).
-- Lua 5.1 too: the LuaJIT contender loads it (no //, no integer-only maths).
local M = {}

M.DIM = 384

local function id(i) return "id-" .. i end
M.id = id

M.N_RESULTS = 10
M.WHERE = { category = "c3" } -- one row in 7

-- The query vectors: 32 of their own (not rows of the table), from the
-- Park-Miller LCG, exact in doubles as in integers: every interpreter makes
-- the same numbers.
local QV = {}
do
  local x = 777
  for i = 1, 32 do
    local v = {}
    for j = 1, M.DIM do
      x = (x * 16807) % 2147483647
      v[j] = x / 2147483647 - 0.5
    end
    QV[i] = v
  end
end
M.query_vectors = QV

-- The operations, in the order of the tables. calls(N) gives the calls the
-- timed loop makes (the first of them also runs once before, untimed);
-- `per` names what a "row" of the figures is.
M.OPS = {
  { key = "query", label = "query, 1 vector, n = 10" },
  { key = "query_where", label = "query, 1 vector, n = 10, where" },
  { key = "query16", label = "query, 16 vectors, n = 10" },
  { key = "query16_where", label = "query, 16 vectors, n = 10, where" },
  { key = "get_ids", label = "get by 100 ids" },
  { key = "get_all", label = "get all rows, no embeddings" },
  { key = "get_all_emb", label = "get all rows with embeddings" },
  { key = "count", label = "count" },
}
M.OP = {}
for _, op in ipairs(M.OPS) do M.OP[op.key] = op end

local function ids_of_call(c, n)
  local ids = {}
  for j = 0, 99 do ids[j + 1] = id((c * 37 + j * 53) % n + 1) end -- 53 is prime: 100 distinct ids
  return ids
end

-- The list of calls of op on N rows: each { method = "query"|"get"|"count", args = {...} }.
function M.calls(key, n)
  local calls = {}
  local function add(method, args) calls[#calls + 1] = { method = method, args = args } end
  if key == "query" or key == "query_where" then
    for c = 1, 300 do
      add("query", { query_embeddings = { QV[(c - 1) % #QV + 1] }, n_results = M.N_RESULTS,
        where = key == "query_where" and M.WHERE or nil })
    end
  elseif key == "query16" or key == "query16_where" then
    for c = 1, 20 do
      local qe = {}
      for j = 1, 16 do qe[j] = QV[((c - 1) * 16 + j - 1) % #QV + 1] end
      add("query", { query_embeddings = qe, n_results = M.N_RESULTS,
        where = key == "query16_where" and M.WHERE or nil })
    end
  elseif key == "get_ids" then
    for c = 1, 100 do add("get", { ids = ids_of_call(c, n) }) end
  elseif key == "get_all" or key == "get_all_emb" then
    for _ = 1, math.max(3, math.floor(25000 / n)) do
      add("get", { limit = n, include = key == "get_all_emb" and { "documents", "metadatas", "embeddings" } or nil })
    end
  elseif key == "count" then
    for _ = 1, 300 do add("count", {}) end
  else
    error("unknown read operation " .. tostring(key))
  end
  return calls
end

function M.collection_name(n) return "read_" .. n end

return M
