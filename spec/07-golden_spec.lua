-- The seekdb dialect's SQL for fixed inputs. No seekdb server runs in CI, so
-- these pin the statements down; they run against a real seekdb through
-- SEEKDB_TEST_HOST (see the README).
local core = require "seekdb.core"

local function sql(...) return core.sql_upsert("seekdb", ...) end

describe("seekdb dialect SQL", function()
  it("creates collections with pyseekdb's DDL", function()
    assert.are.same({
      "CREATE TABLE `c$v1$my_collection` (_id varbinary(512) PRIMARY KEY NOT NULL, document string, "
      .. "embedding vector(3), metadata json, FULLTEXT INDEX idx_fts(document) WITH PARSER ik, "
      .. "VECTOR INDEX idx_vec (embedding) with(distance=cosine, type=hnsw, lib=vsag)) ORGANIZATION = HEAP",
    }, core.sql_create("seekdb", "my_collection", 3, "cosine"))
    assert.matches("embedding vector%(384%).*with%(distance=l2, type=hnsw, lib=vsag%)",
      core.sql_create("seekdb", "c", 384, "l2")[1])
    assert.matches("with%(distance=inner_product, type=hnsw, lib=vsag%)",
      core.sql_create("seekdb", "c", 8, "inner_product")[1])
  end)

  it("creates MariaDB collections with a NOT NULL vector and a 254-byte key", function()
    assert.are.same({
      "CREATE TABLE `c$v1$books` (_id VARBINARY(254) PRIMARY KEY NOT NULL, document LONGTEXT, "
      .. "embedding VECTOR(3) NOT NULL, metadata JSON, FULLTEXT INDEX idx_fts (document), "
      .. "VECTOR INDEX idx_vec (embedding) DISTANCE=euclidean) DEFAULT CHARSET=utf8mb4",
    }, core.sql_create("mariadb", "books", 3, "l2"))
  end)

  it("upserts pyseekdb's single example in one transaction", function()
    assert.are.same({
      "START TRANSACTION",
      "INSERT INTO `c$v1$my_collection` (_id,document,embedding,metadata) VALUES "
      .. "(X'6974656d31','Document text',X'cdcccc3dcdcc4c3e9a99993e','{\"category\":\"AI\",\"score\":95}') "
      .. "ON DUPLICATE KEY UPDATE document=VALUES(document),embedding=VALUES(embedding),metadata=VALUES(metadata)",
      "COMMIT",
    }, sql("my_collection", 3, { ids = "item1", embeddings = { 0.1, 0.2, 0.3 }, documents = "Document text",
      metadatas = { category = "AI", score = 95 } }))
  end)

  it("upserts several rows in one statement, updating only the given columns", function()
    assert.are.same({
      "START TRANSACTION",
      "INSERT INTO `c$v1$c` (_id,metadata) VALUES (X'61','{\"x\":1}'),(X'62',NULL),(X'61','{}') "
      .. "ON DUPLICATE KEY UPDATE metadata=VALUES(metadata)",
      "COMMIT",
    }, sql("c", 2, { ids = { "a", "b", "a" }, metadatas = { { x = 1 }, core.null, {} } }))
  end)

  it("escapes documents and metadata the MySQL way", function()
    local s = sql("c", 1, { ids = "it's", embeddings = { 1 }, documents = "a'b\"c\\d\0e\nf\rg\26h",
      metadatas = { q = "'\"\\" } })[2]
    assert.are.equal("INSERT INTO `c$v1$c` (_id,document,embedding,metadata) VALUES "
      .. [[(X'69742773','a\'b"c\\d\0e\nf\rg\Zh',X'0000803f','{"q":"\'\\"\\\\"}') ]]
      .. "ON DUPLICATE KEY UPDATE document=VALUES(document),embedding=VALUES(embedding),metadata=VALUES(metadata)", s)
  end)

  it("embeds documents through the embedding function", function()
    local stmts = sql("c", 2, { ids = { "a", "b" }, documents = { "x", "yy" } },
      function(docs)
        local out = {}
        for i, d in ipairs(docs) do out[i] = { #d, -1 } end
        return out
      end)
    assert.are.equal("INSERT INTO `c$v1$c` (_id,document,embedding) VALUES (X'61','x',X'0000803f000080bf'),"
      .. "(X'62','yy',X'00000040000080bf') ON DUPLICATE KEY UPDATE document=VALUES(document),"
      .. "embedding=VALUES(embedding)", stmts[2])
  end)

  it("splits rows over statements under the packet size, in one transaction", function()
    local ids, vecs = {}, {}
    for i = 1, 100 do ids[i], vecs[i] = ("id%03d"):format(i), { i, i, i, i } end
    local stmts = sql("c", 4, { ids = ids, embeddings = vecs }, nil, nil, 4096)
    assert.are.equal("START TRANSACTION", stmts[1])
    assert.are.equal("COMMIT", stmts[#stmts])
    assert.truthy(#stmts >= 4, #stmts .. " statements")
    local rows = 0
    for i = 2, #stmts - 1 do
      assert.truthy(#stmts[i] <= 4096 - 1024)
      assert.matches("^INSERT INTO `c%$v1%$c` %(_id,embedding%) VALUES %(", stmts[i])
      assert.matches(" ON DUPLICATE KEY UPDATE embedding=VALUES%(embedding%)$", stmts[i])
      for _ in stmts[i]:gmatch("%(X'") do rows = rows + 1 end
    end
    assert.are.equal(100, rows)
    assert.matches("^INSERT INTO `c%$v1%$c` %(_id,embedding%) VALUES %(X'6964303031'", stmts[2])
  end)

  it("leaves NULL for new rows' missing fields, unlike MariaDB", function()
    local stmts = sql("c", 2, { ids = "a", documents = "only text", embeddings = core.null })
    assert.matches("VALUES %(X'61','only text',NULL%)", stmts[2])
  end)
end)
