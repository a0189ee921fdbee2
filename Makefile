# lua-seekdb: `make` builds seekdb/core.so, `make test` runs the specs against
# a real server, `make demo` runs examples/upsert.lua. Every variable can be
# set on the command line (make CC=clang ...). `make LUA=luajit` builds the
# same sources for LuaJIT 2.1 (the Lua 5.1 ABI).

LUA ?= lua5.4
# the pkg-config package of the Lua headers: lua5.4 or luajit
LUA_PC ?= $(if $(filter luajit%,$(LUA)),luajit,$(LUA))
PKG_CONFIG ?= pkg-config
MARIADB_CONFIG ?= mariadb_config
CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS ?= -Wall -Wextra -Werror=implicit-function-declaration
# Only luaopen_seekdb_core leaves the module (SEEKDB_API in src/seekdb.h):
# the core's own functions cannot clash with another library's.
VISIBILITY ?= -fvisibility=hidden
LDFLAGS ?=
BUSTED_BIN ?= $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)
BUSTED ?= $(LUA) $(BUSTED_BIN)
LUAJIT ?= luajit
LUAROCKS ?= luarocks
BUSTED_FLAGS ?=
VALGRIND ?= valgrind --keep-debuginfo=yes --error-exitcode=9 --num-callers=30 \
            --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --suppressions=spec/valgrind.supp

# Debian's names for what the build and the specs need.
DEB_PACKAGES ?= lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev libmariadb-dev libcjson-dev lua-cjson \
                lua-busted lua-socket luarocks pkg-config gcc make ca-certificates nginx libnginx-mod-http-lua curl \
                lua-cqueues lua-luv
SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)

# Evaluated when used, so that they see what `make deps` just installed.
LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
MARIADB_CFLAGS = $(shell $(MARIADB_CONFIG) --cflags)
MARIADB_LIBS = $(shell $(MARIADB_CONFIG) --libs)
CJSON_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcjson)
CJSON_LIBS = $(shell $(PKG_CONFIG) --libs libcjson)

SRC := $(wildcard src/*.c)
HDR := $(wildcard src/*.h)
# Objects and the module per Lua ABI; seekdb/core.so is a copy of the last
# one built, so that `require "seekdb"` finds it from the checkout.
BUILD ?= build/$(LUA)
OBJ := $(SRC:src/%.c=$(BUILD)/%.o)
MODULE := $(BUILD)/seekdb/core.so
FAILALLOC := $(BUILD)/failalloc.so

.PHONY: all deps check-deps luajit-module test test-luajit test-nginx test-valgrind test-asan test-rock demo nginx-demo clean server-start server-stop

all: check-deps
	@$(MAKE) --no-print-directory $(MODULE) $(FAILALLOC)
	@mkdir -p seekdb
	@# a new file renamed into place: a process that has the old one loaded keeps it
	@cmp -s $(MODULE) seekdb/core.so || { cp $(MODULE) seekdb/core.so.new && mv -f seekdb/core.so.new seekdb/core.so; }

# Installs what a fresh Debian needs; the other targets call it only when
# something is missing.
deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES)

check-deps:
	@command -v $(MARIADB_CONFIG) >/dev/null 2>&1 && command -v $(LUA) >/dev/null 2>&1 \
	  && command -v $(LUAJIT) >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 \
	  && command -v curl >/dev/null 2>&1 && test -f /usr/lib/nginx/modules/ngx_http_lua_module.so \
	  && command -v $(LUAROCKS) >/dev/null 2>&1 \
	  && $(PKG_CONFIG) --exists $(LUA_PC) luajit libcjson 2>/dev/null \
	  && $(LUA) -e 'require "busted.core"; require "cjson"; require "socket"; require "cqueues"; require "luv"' 2>/dev/null \
	  && $(LUAJIT) -e 'require "cqueues"; require "luv"' 2>/dev/null \
	  || $(MAKE) --no-print-directory deps

$(BUILD)/%.o: src/%.c $(HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARNINGS) $(VISIBILITY) -fPIC $(LUA_CFLAGS) $(MARIADB_CFLAGS) $(CJSON_CFLAGS) -c $< -o $@

# A Lua module is not linked against liblua: the interpreter provides it.
$(MODULE): $(OBJ)
	@mkdir -p $(BUILD)/seekdb
	$(CC) -shared -pthread $(LDFLAGS) -o $@ $(OBJ) $(MARIADB_LIBS) $(CJSON_LIBS)

# A test helper: runs Lua code with an allocator that fails on demand.
$(FAILALLOC): spec/support/failalloc.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC -shared $(LUA_CFLAGS) $< -o $@

# The specs run against a real server: the scratch MariaDB 11.8 that
# scripts/testdb starts, or the one SEEKDB_TEST_HOST names. `make test` runs
# test-rock first (the rockspecs built and the module required from a fresh
# shell; no server), then five passes, each ending with busted's summary line
# (.ci/run adds them up):
#   1. Lua 5.4: every spec (spec/*_spec.lua).
#   2. LuaJIT: every spec again, under the Lua 5.1 ABI and LuaJIT's own
#      numbers, FFI and JIT (a few specs say pending for what one of the
#      two has not: integers, <close>, LuaJIT's issue #1066).
#   3. Lua 5.4 with every call resumable (SEEKDB_TEST_LOOP=yield: the
#      helper's clients run each call through conn:start/call:resume, a
#      slice at a time): every spec but those of YIELD_SKIP, whose subject
#      is not how a call is driven (below).
#   4. nginx: integration/, a real nginx calling the module in the request
#      phase.
#   5. local mode: the collection API's specs (LOCAL_SPECS) again with the
#      helper's clients on seekdb.Client{path = ...}, local mode's own server
#      for a scratch folder (SEEKDB_TEST_PATH, scripts/local-pass);
#      spec/24-local covers local mode itself in passes 1 and 2.
LOCAL_SPECS ?= spec/02-client_spec.lua spec/03-collection_spec.lua spec/04-upsert_spec.lua \
  spec/05-embedding_spec.lua spec/06-metadata_spec.lua spec/09-writes_spec.lua spec/10-filters_spec.lua \
  spec/11-query_spec.lua spec/12-v2_spec.lua spec/20-hybrid_spec.lua spec/21-parity_spec.lua
LUAJIT_BUILD := build/luajit

# Not in the resumable pass, each for its reason: 01-module and 07-golden
# make no call (the module's face, core.sql's statements); 13-hostile checks
# the statements and values of its corpus of hostile strings, which are the
# same whatever drives the call, and passes 1 and 2 run it in full (a third of
# a pass's time); 17-loops picks every client's loop itself and runs its
# resumable clients in passes 1 and 2 (in this pass it would say pending);
# 23-docs runs the reference's examples in processes of their own, which
# take no loop from this pass; 24-local picks its clients' loops itself too.
# Every other spec, and any new one, runs in all three passes.
YIELD_SKIP ?= spec/01-module_spec.lua spec/07-golden_spec.lua spec/13-hostile_spec.lua spec/17-loops_spec.lua \
  spec/23-docs_spec.lua spec/24-local_spec.lua
YIELD_SPECS = $(filter-out $(YIELD_SKIP),$(sort $(wildcard spec/*_spec.lua)))

luajit-module: check-deps
	@$(MAKE) --no-print-directory LUA=$(LUAJIT) BUILD=$(LUAJIT_BUILD) \
	  $(LUAJIT_BUILD)/seekdb/core.so $(LUAJIT_BUILD)/failalloc.so

test: all luajit-module test-rock
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; rc=0; \
	  echo "== Lua 5.4"; $(BUSTED) --cpath="$(BUILD)/?.so" $(BUSTED_FLAGS) || rc=1; \
	  echo "== LuaJIT"; $(LUAJIT) $(BUSTED_BIN) --cpath="$(LUAJIT_BUILD)/?.so" $(BUSTED_FLAGS) || rc=1; \
	  echo "== Lua 5.4, every call resumable (loop = yield; not $(notdir $(YIELD_SKIP)))"; \
	    SEEKDB_TEST_LOOP=yield $(BUSTED) --cpath="$(BUILD)/?.so" $(BUSTED_FLAGS) $(YIELD_SPECS) || rc=1; \
	  echo "== nginx"; $(BUSTED) integration $(BUSTED_FLAGS) || rc=1; \
	  echo "== Lua 5.4, local mode (path =)"; scripts/local-pass $(BUSTED) --cpath="$(BUILD)/?.so" $(BUSTED_FLAGS) \
	    $(LOCAL_SPECS) || rc=1; \
	  scripts/testdb stop; exit $$rc

test-luajit: luajit-module
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(LUAJIT) $(BUSTED_BIN) --cpath="$(LUAJIT_BUILD)/?.so" $(BUSTED_FLAGS); \
	  rc=$$?; scripts/testdb stop; exit $$rc

test-nginx: all luajit-module
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(BUSTED) integration $(BUSTED_FLAGS); rc=$$?; scripts/testdb stop; exit $$rc

# The whole suite again under valgrind memcheck (the lua-cjson way): any
# memory error or leak from our code fails it.
test-valgrind: all
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends valgrind; }
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(VALGRIND) $(BUSTED) --cpath="$(BUILD)/?.so" $(BUSTED_FLAGS); rc=$$?; \
	  scripts/testdb stop; exit $$rc

# The whole suite again with the module built under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer (the interpreter is Debian's:
# the sanitizer runtimes are preloaded into it). Built apart in $(ASAN_DIR).
ASAN_DIR ?= build/asan
ASAN_FLAGS ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_OBJ := $(SRC:src/%.c=$(ASAN_DIR)/%.o)
# Preloaded too, so that it stays mapped after Lua unloads the module at exit
# and leak reports can name its functions (see spec/lsan.supp).
MARIADB_LIB_SO = $(shell $(CC) -print-file-name=libmariadb.so.3)

$(ASAN_DIR)/%.o: src/%.c $(HDR)
	@mkdir -p $(ASAN_DIR)
	$(CC) $(ASAN_FLAGS) $(WARNINGS) $(VISIBILITY) -fPIC $(LUA_CFLAGS) $(MARIADB_CFLAGS) $(CJSON_CFLAGS) -c $< -o $@

$(ASAN_DIR)/seekdb/core.so: $(ASAN_OBJ)
	@mkdir -p $(ASAN_DIR)/seekdb
	$(CC) -shared -pthread $(ASAN_FLAGS) $(LDFLAGS) -o $@ $(ASAN_OBJ) $(MARIADB_LIBS) $(CJSON_LIBS)

test-asan: all
	@$(MAKE) --no-print-directory $(ASAN_DIR)/seekdb/core.so
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so) $(MARIADB_LIB_SO)" \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/spec/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(BUSTED) --cpath="$(ASAN_DIR)/?.so;$(BUILD)/?.so" $(BUSTED_FLAGS); rc=$$?; scripts/testdb stop; exit $$rc

# Local mode: examples/upsert.lua's seekdb.Client() gets a private server
# for the folder DEMO_PATH (started, or found running; it stops 30 s after
# the demo). The server binary: a mariadbd 11.7+ on PATH, else MariaDB 11.8
# from Debian trixie, downloaded once into .cache/ (scripts/testdb fetch).
DEMO_PATH ?= .scratch/demo.db

demo: all
	@scripts/testdb fetch >/dev/null
	@env -u SEEKDB_HOST -u SEEKDB_PORT -u SEEKDB_SOCKET SEEKDB_PATH="$(DEMO_PATH)" \
	  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="./?.so;;" $(LUA) examples/upsert.lua

# Upserts and queries inside nginx: the scratch server, nginx with
# examples/openresty (calls in the request phase), curl, then both stopped.
nginx-demo: all luajit-module
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; scripts/nginx-demo start && url=$$(scripts/nginx-demo url) && \
	  echo "POST $$url/upsert" && curl -s -X POST --data-binary \
	    '{"ids":["item1","item2"],"embeddings":[[0.1,0.2,0.3],[0.4,0.5,0.6]],"documents":["Doc 1","Doc 2"],"metadatas":[{"category":"AI"},{"category":"ML"}]}' \
	    "$$url/upsert" && echo "GET $$url/query?v=0.1,0.2,0.25&n=2" && curl -s "$$url/query?v=0.1,0.2,0.25&n=2" && \
	  echo "POST $$url/upsert" && curl -s -X POST --data-binary \
	    '{"ids":["item3","item4"],"documents":["a red apple","a green pear"]}' "$$url/upsert" && \
	  echo "GET $$url/query?text=a%20green%20pear&n=2" && curl -s "$$url/query?text=a%20green%20pear&n=2" && \
	  echo "GET $$url/query?v=1,0,0&where=..." && curl -s -G --data-urlencode 'where={"category":"none"}' "$$url/query?v=1,0,0" && \
	  echo "GET $$url/count" && curl -s "$$url/count" && echo "GET $$url/ping" && curl -s "$$url/ping"; \
	  rc=$$?; scripts/nginx-demo stop; scripts/testdb stop; exit $$rc

# What a LuaRocks user does, checked without a server (part of `make test`):
# each rockspec linted, then `luarocks make` into a private tree ($(ROCK_DIR)/tree):
# Lua 5.4 builds the scm-1 rockspec, LuaJIT (Lua 5.1's ABI, with LuaJIT's
# headers) the versioned one. LuaRocks builds in place (objects beside the
# sources, the module in seekdb/): it builds a copy of the sources in
# $(ROCK_DIR)/src, so that the checkout's seekdb/core.so stays `make`'s. Then
# a shell with none of this one's environment (env -i, in /) takes
# `luarocks path` for each Lua and requires the module from the tree
# (spec/support/rock_check.lua).
ROCK_DIR ?= build/rock
LUAJIT_INCDIR = $(patsubst -I%,%,$(firstword $(shell $(PKG_CONFIG) --cflags-only-I luajit)))
ROCKSPEC_SCM := rockspec/lua-seekdb-scm-1.rockspec
ROCKSPEC_VERSIONED := $(filter-out $(ROCKSPEC_SCM),$(wildcard rockspec/lua-seekdb-*.rockspec))
# the version that rockspec releases ("0.3.0" of version = "0.3.0-1"): the module's _VERSION
ROCK_VERSION = $(shell sed -n 's/^version = "\(.*\)-[0-9]*"$$/\1/p' $(ROCKSPEC_VERSIONED))

test-rock: check-deps
	@rm -rf $(ROCK_DIR) && mkdir -p $(ROCK_DIR)/src
	@cp -R src lua rockspec $(ROCK_DIR)/src/
	@for r in $(ROCKSPEC_SCM) $(ROCKSPEC_VERSIONED); do $(LUAROCKS) lint $$r || exit 1; done
	cd $(ROCK_DIR)/src && $(LUAROCKS) --lua-version=5.4 --tree=$(CURDIR)/$(ROCK_DIR)/tree make $(ROCKSPEC_SCM)
	cd $(ROCK_DIR)/src && rm -rf seekdb src/*.o && $(LUAROCKS) --lua-version=5.1 --tree=$(CURDIR)/$(ROCK_DIR)/tree \
	  make $(ROCKSPEC_VERSIONED) LUA_INCDIR=$(LUAJIT_INCDIR)
	@for v in 5.4:lua5.4 5.1:$(LUAJIT); do \
	  env -i PATH="$$PATH" HOME="$$HOME" sh -c 'cd / && eval "$$($$0 --lua-version=$$1 --tree=$$3 path)" && exec $$2 $$4 $$3 $$5' \
	    $(LUAROCKS) $${v%%:*} $${v#*:} $(CURDIR)/$(ROCK_DIR)/tree $(CURDIR)/spec/support/rock_check.lua $(ROCK_VERSION) \
	    || exit 1; \
	done

server-start:
	@scripts/testdb start
server-stop:
	@scripts/testdb stop

# Everything a build leaves: make's build/ (the rock tree of test-rock
# included) and seekdb/, what `luarocks make` leaves in the checkout (src/*.o,
# seekdb/core.so), the fuzzers, the benchmark's helpers and `make docs`'s
# doc/ (generated, not tracked). Not .cache/ (the downloaded server) nor
# .scratch/ (the scratch server's state).
clean:
	rm -rf build seekdb src/*.o fuzz/build bench/bulk_upsert bench/read_c bench/benchclock.so doc

# ---- fuzzing -------------------------------------------------------------------
# libFuzzer targets for the pure marshalling code (fuzz/*.c; see the comment at
# the top of each). `make fuzz` builds them into $(FUZZ_DIR) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, then runs each for
# FUZZ_SECONDS/<number of targets> seconds on a copy of its seed corpus
# (fuzz/corpus/<target>); a crash, a sanitizer report or a failed check fails
# it and leaves the reproducer in $(FUZZ_DIR)/artifacts/<target>/. No server.
CLANG ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null || echo clang)
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= fuzz/build
FUZZ_TARGETS ?= json_decode vector_decode metadata_encode filter_sql
FUZZ_CFLAGS ?= -O1 -g -fno-omit-frame-pointer
FUZZ_SANITIZE ?= address,undefined -fno-sanitize-recover=all
FUZZ_DEB_PACKAGES ?= clang-14 libclang-rt-14-dev
FUZZ_LUA_LIBS = $(shell $(PKG_CONFIG) --libs lua5.4)
FUZZ_INCLUDES = $(LUA_CFLAGS) $(MARIADB_CFLAGS) $(CJSON_CFLAGS)
# json_decode, vector_decode and metadata_encode need only these; filter_sql
# links every object (it loads seekdb.core itself, through luaL_requiref).
FUZZ_PURE_OBJ := $(addprefix $(FUZZ_DIR)/obj/,buffer.o json.o vector.o vecobj.o)
FUZZ_OBJ := $(SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_PURE_BINS := $(addprefix $(FUZZ_DIR)/,json_decode vector_decode metadata_encode)

.PHONY: fuzz fuzz-build

$(FUZZ_DIR)/obj/%.o: src/%.c $(HDR)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SANITIZE) $(WARNINGS) $(FUZZ_INCLUDES) -c $< -o $@

$(FUZZ_PURE_BINS): $(FUZZ_DIR)/%: fuzz/%.c fuzz/common.h $(HDR) $(FUZZ_PURE_OBJ)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SANITIZE) $(WARNINGS) $(FUZZ_INCLUDES) $< $(FUZZ_PURE_OBJ) \
	  -o $@ $(FUZZ_LUA_LIBS) $(CJSON_LIBS) -lm

$(FUZZ_DIR)/filter_sql: fuzz/filter_sql.c fuzz/common.h $(HDR) $(FUZZ_OBJ)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SANITIZE) $(WARNINGS) $(FUZZ_INCLUDES) $< $(FUZZ_OBJ) \
	  -o $@ $(FUZZ_LUA_LIBS) $(MARIADB_LIBS) $(CJSON_LIBS) -lm

fuzz-build: check-deps
	@command -v $(CLANG) >/dev/null 2>&1 && \
	  test -f "$$($(CLANG) -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$$(uname -m).a" || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $(FUZZ_DEB_PACKAGES); }
	@$(MAKE) --no-print-directory -q $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS)) 2>/dev/null || \
	  $(MAKE) --no-print-directory $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The upsert benchmark of issue 4 (bench/run.lua): lua-seekdb against a plain-C
# bulk program and against LuaSQL + lua-cjson, on the scratch server. Prints
# figures only (writes them to bench/results.md too); not part of `make test`.
#   make bench BENCH_N="1000 10000"
BENCH_N ?= 1000 10000 100000
BENCH_DEB_PACKAGES ?= lua-sql-mysql lua-cjson

bench/bulk_upsert: bench/bulk_upsert.c bench/measure.h
	$(CC) $(CFLAGS) $(WARNINGS) $(MARIADB_CFLAGS) $< -o $@ $(MARIADB_LIBS)

bench/read_c: bench/read_c.c bench/measure.h
	$(CC) $(CFLAGS) $(WARNINGS) $(MARIADB_CFLAGS) $< -o $@ $(MARIADB_LIBS)

bench/benchclock.so: bench/benchclock.c
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC -shared $(LUA_CFLAGS) $< -o $@

# `make bench` runs the upsert benchmark, then the read benchmark (bench-read);
# `make bench-upsert` the first alone.
bench:
	@$(MAKE) --no-print-directory bench-upsert
	@$(MAKE) --no-print-directory bench-read

bench-deps: all
	@$(LUA) -e 'require "luasql.mysql"; require "cjson"' 2>/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BENCH_DEB_PACKAGES); }
	@$(LUA) -e 'require "luasql.mysql"; require "cjson"'
	@$(MAKE) --no-print-directory bench/bulk_upsert bench/read_c bench/benchclock.so

bench-upsert: bench-deps
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; BENCH_N="$(BENCH_N)" LUA="$(LUA)" BENCH_MODULE="$(MODULE)" \
	  $(LUA) bench/run.lua; rc=$$?; \
	  scripts/testdb stop; exit $$rc

# The read benchmark of issue 13 (bench/read.lua): query, get and count by
# lua-seekdb under Lua 5.4 and LuaJIT against plain C running the same
# statements (bench/read_c.c) and LuaSQL + lua-cjson, on one collection per N.
# Rewrites the "## Reads" block of bench/results.md; figures only.
#   make bench-read BENCH_READ_N="1000 5000"
BENCH_READ_N ?= 1000 5000 10000
LUAJIT_MODULE := build/$(LUAJIT)/seekdb/core.so

bench-read: bench-deps
	@$(MAKE) --no-print-directory LUA=$(LUAJIT) $(LUAJIT_MODULE)
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; BENCH_READ_N="$(BENCH_READ_N)" LUA="$(LUA)" LUAJIT="$(LUAJIT)" \
	  BENCH_MODULE="$(MODULE)" BENCH_MODULE_JIT="$(LUAJIT_MODULE)" \
	  $(LUA) bench/read.lua; rc=$$?; \
	  scripts/testdb stop; exit $$rc

# The latency figures of the resumable runtime (bench/hosts.lua): the worst
# step of a call stepped by hand, a 1 ms ticker's gaps under cqueues and luv
# while a client works, and examples/game_loop.lua's own figures, each beside
# its target. Written to bench/hosts.md; figures only, never a failure on time.
bench-hosts: all
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; LUA="$(LUA)" BENCH_MODULE="$(MODULE)" \
	  $(LUA) bench/hosts.lua; rc=$$?; \
	  scripts/testdb stop; exit $$rc

# What local mode costs (bench/local.lua): a first client on a new folder, on
# a stopped one, on a running server; the server's memory; the folder's size
# and files. Written to bench/local.md; no scratch server needed.
bench-local: all
	@scripts/testdb fetch >/dev/null
	@env -u SEEKDB_HOST -u SEEKDB_PORT -u SEEKDB_SOCKET BENCH_MODULE="$(MODULE)" $(LUA) bench/local.lua

# Recall@10 of collection:query against brute force with no filter and with
# filters keeping 50%, 5% and 0.5% of the rows, and the time each query takes
# (bench/recall.lua, issue 13): written to bench/recall.md; figures only.
#   make bench-recall RECALL_N=20000 RECALL_DIM=128
RECALL_N ?= 20000
RECALL_DIM ?= 128
bench-recall: all
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(LUA) bench/recall.lua $(RECALL_N) $(RECALL_DIM); rc=$$?; \
	  scripts/testdb stop; exit $$rc

.PHONY: bench bench-deps bench-upsert bench-read bench-hosts bench-local bench-recall

# ---- API reference -------------------------------------------------------------
# `make docs` writes the HTML API reference to doc/index.html with LDoc (config.ld:
# lua/seekdb.lua, lua/seekdb/pretty.lua and the /*** comments of src/core.c).
# Debian's lua-ldoc runs it and lua-discount renders the Markdown of the comments;
# both are installed when missing. A warning of LDoc fails it. No server needed.
LDOC ?= ldoc

.PHONY: docs
docs:
	@command -v $(LDOC) >/dev/null 2>&1 && dpkg -s lua-discount >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends lua-ldoc lua-discount; }
	@rm -rf doc
	$(LDOC) --fatalwarnings .
	@test -f doc/index.html && echo "API reference: doc/index.html"
