-- LuaJIT issue #1066 (spec/18-hardening, item 4), in a process of its own
-- since it crashes when it fails:
--
--   luajit spec/support/jit_running_thread.lua CPATH
--
-- A call's pieces run on a thread of their own (lua_pcall on it from C);
-- a misuse error is then raised on the caller's thread. LuaJIT before
-- 2.1-20231006 still took the pieces' thread for the running one, and the
-- next exit from compiled code wrote the caller's frame into it: a
-- segmentation fault. Prints "survived" when all is well.
package.cpath = arg[1]
local core = require "seekdb.core"

local function onesnap_f(var) -- compiled with var true; false leaves the trace
  if var then
    return 1
  else
    return 0
  end
end
jit.opt.start("hotloop=1")
onesnap_f(true)
onesnap_f(true)
-- a dry run goes through the same runtime as a call on a connection
local ok, err = pcall(core.sql, "mariadb", "get", "c$v1$x", 3, { include = 5 })
onesnap_f(false) -- at once: a C function called in between would set it right
assert(not ok and err:match("include must be a list"), err)
collectgarbage()
print("survived")
