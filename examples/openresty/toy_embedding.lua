-- A toy embedding: three numbers per text, from its bytes. Deterministic
-- (the same text always gives the same vector), so a query by a stored
-- document's text finds that document at distance 0. It stands for a real
-- model: the handler fetches it over HTTP from the /embed location, the
-- thread pool's worker computes it in place.
local toy = { DIMENSION = 3 }

function toy.embed(texts)
  local vectors = {}
  for i, text in ipairs(texts) do
    local v = { 1, 1, 1 }
    for k = 1, #text do
      local b = text:byte(k)
      local j = (b + k) % 3 + 1
      v[j] = v[j] + b * (1 + k % 7)
    end
    vectors[i] = v
  end
  return vectors
end

return toy
