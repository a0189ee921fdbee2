local seekdb = require "seekdb"
local core = require "seekdb.core"

describe("the module", function()
  it("loads the C core under the Lua face", function()
    assert.is_string(seekdb._VERSION)
    assert.are.equal(core._VERSION, seekdb._VERSION)
    assert.is_function(seekdb.Client)
  end)

  it("has seekdb.null, a light userdata NULL like cjson.null", function()
    assert.are.equal("userdata", type(seekdb.null))
    assert.are.equal(core.null, seekdb.null)
    local ok, cjson = pcall(require, "cjson")
    if ok then assert.are.equal(cjson.null, seekdb.null) end
  end)

  it("checks the arguments of register_embedding_function", function()
    assert.has_error(function() seekdb.register_embedding_function(1, print) end,
      "bad argument #1 to 'register_embedding_function' (string expected, got number)")
    assert.has_error(function() seekdb.register_embedding_function("x", 5) end,
      "bad argument #2 to 'register_embedding_function' (function expected, got number)")
  end)
end)

describe("seekdb.pretty", function()
  it("renders values readably: keys in order, null, short vectors", function()
    assert.are.equal('{ a = 1, b = "x", c = null }', seekdb.pretty { b = "x", a = 1, c = seekdb.null })
    assert.are.equal("{ 1, 2, 3 }", seekdb.pretty { 1, 2, 3 })
    assert.are.equal("{ 1, 2, 3, 4, 5, 6, ... (8 numbers) }", seekdb.pretty { 1, 2, 3, 4, 5, 6, 7, 8 })
    assert.are.equal('{ ["odd key"] = true }', seekdb.pretty { ["odd key"] = true })
    assert.are.equal('"a\\nb"', seekdb.pretty "a\nb")
    local long = seekdb.pretty { ids = { "a", "b" }, documents = { "a rather long document text", "another long one here" } }
    assert.matches("^{\n  documents = ", long)
    local cyclic = {}
    cyclic.me = cyclic
    assert.matches("<cycle>", seekdb.pretty(cyclic))
  end)
end)

-- The rockspecs (no server needed): both list exactly the modules of the
-- checkout, and the versioned one is seekdb._VERSION.
describe("the rockspecs", function()
  local function load_rockspec(path)
    local f = assert(io.open(path))
    local text = f:read("*a")
    f:close()
    local env = {}
    local chunk
    if setfenv then -- LuaJIT
      chunk = assert(loadstring(text, "@" .. path))
      setfenv(chunk, env)
    else
      chunk = assert(load(text, "@" .. path, "t", env))
    end
    chunk()
    return env
  end

  local function lines_of(cmd)
    local out, p = {}, assert(io.popen(cmd))
    for line in p:lines() do out[#out + 1] = line end
    p:close()
    table.sort(out)
    return out
  end

  local names = lines_of("ls rockspec/*.rockspec")
  local specs = {}
  for _, path in ipairs(names) do specs[path] = load_rockspec(path) end
  local scm = specs["rockspec/lua-seekdb-scm-1.rockspec"]
  local versioned_path = "rockspec/lua-seekdb-" .. seekdb._VERSION .. "-1.rockspec"

  it("are scm-1 and the version of seekdb._VERSION, nothing else", function()
    assert.are.same({ versioned_path, "rockspec/lua-seekdb-scm-1.rockspec" }, names)
    local v = specs[versioned_path]
    assert.are.equal(seekdb._VERSION .. "-1", v.version)
    assert.are.equal("v" .. seekdb._VERSION, v.source.tag)
    assert.is_nil(v.source.branch)
    assert.are.equal("scm-1", scm.version)
  end)

  it("build for Lua 5.1 (LuaJIT) and 5.4, and run busted", function()
    for path, r in pairs(specs) do
      assert.are.equal("3.0", r.rockspec_format, path)
      assert.are.same({ "lua >= 5.1" }, r.dependencies, path)
      assert.are.equal("busted", r.test.type, path)
      assert.are.equal("lua-seekdb", r.package, path)
    end
  end)

  it("list every Lua file of lua/ and every C file of src/, and only those", function()
    local lua_files = lines_of("find lua -name '*.lua'")
    local c_files = lines_of("ls src/*.c")
    assert.is_true(#lua_files >= 3 and #c_files >= 20)
    for path, r in pairs(specs) do
      local modules, listed = r.build.modules, {}
      for name, file in pairs(modules) do
        if type(file) == "string" then
          -- the module's name is its file's: seekdb.x is lua/seekdb/x.lua
          assert.are.equal("lua/" .. name:gsub("%.", "/") .. ".lua", file, path)
          listed[#listed + 1] = file
        end
      end
      table.sort(listed)
      -- Every file present is listed, and every file listed is present.
      local present = {}
      for _, file in ipairs(lua_files) do present[file] = true end
      for _, file in ipairs(listed) do
        assert(present[file], path .. " lists " .. file .. ", which is not in the checkout")
        present[file] = nil
      end
      assert.are.same({}, present, path .. " does not list these files of lua/")
      local sources = {}
      for i, file in ipairs(modules["seekdb.core"].sources) do sources[i] = file end
      table.sort(sources)
      assert.are.same(c_files, sources, path)
    end
  end)

  it("are the same but for version and source", function()
    local v = specs[versioned_path]
    for k in pairs(v) do
      if k ~= "version" and k ~= "source" then assert.are.same(scm[k], v[k], k) end
    end
    for k in pairs(scm) do assert.is_not_nil(v[k], k) end
    assert.are.equal(scm.source.url, v.source.url)
  end)
end)
