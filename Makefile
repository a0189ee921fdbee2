# lua-seekdb: `make` builds seekdb/core.so, `make test` runs the specs against
# a real server, `make demo` runs examples/upsert.lua. Every variable can be
# set on the command line (make LUA_VERSION=5.4 CC=clang ...).

LUA_VERSION ?= 5.4
LUA ?= lua$(LUA_VERSION)
PKG_CONFIG ?= pkg-config
MARIADB_CONFIG ?= mariadb_config
CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS ?= -Wall -Wextra -Werror=implicit-function-declaration
LDFLAGS ?=
BUSTED ?= $(LUA) $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)
BUSTED_FLAGS ?=
VALGRIND ?= valgrind --keep-debuginfo=yes --error-exitcode=9 --num-callers=30 \
            --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --suppressions=spec/valgrind.supp

# Debian's names for what the build and the specs need.
DEB_PACKAGES ?= lua$(LUA_VERSION) liblua$(LUA_VERSION)-dev libmariadb-dev libcjson-dev \
                lua-busted luarocks pkg-config gcc make ca-certificates
SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)

# Evaluated when used, so that they see what `make deps` just installed.
LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags lua$(LUA_VERSION))
MARIADB_CFLAGS = $(shell $(MARIADB_CONFIG) --cflags)
MARIADB_LIBS = $(shell $(MARIADB_CONFIG) --libs)
CJSON_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcjson)
CJSON_LIBS = $(shell $(PKG_CONFIG) --libs libcjson)

SRC := $(wildcard src/*.c)
OBJ := $(SRC:.c=.o)
HDR := $(wildcard src/*.h)
MODULE := seekdb/core.so

.PHONY: all deps check-deps test test-valgrind test-asan demo clean server-start server-stop

all: check-deps
	@$(MAKE) --no-print-directory $(MODULE)

# Installs what a fresh Debian needs; the other targets call it only when
# something is missing.
deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES)

check-deps:
	@command -v $(MARIADB_CONFIG) >/dev/null 2>&1 && command -v $(LUA) >/dev/null 2>&1 \
	  && $(PKG_CONFIG) --exists lua$(LUA_VERSION) libcjson 2>/dev/null \
	  && test -f /usr/share/lua/$(LUA_VERSION)/busted/runner.lua \
	  || $(MAKE) --no-print-directory deps

src/%.o: src/%.c $(HDR)
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC $(LUA_CFLAGS) $(MARIADB_CFLAGS) $(CJSON_CFLAGS) -c $< -o $@

# A Lua module is not linked against liblua: the interpreter provides it.
$(MODULE): $(OBJ) spec/support/failalloc.so
	@mkdir -p seekdb
	$(CC) -shared $(LDFLAGS) -o $@ $(OBJ) $(MARIADB_LIBS) $(CJSON_LIBS)

# A test helper: runs Lua code with an allocator that fails on demand.
spec/support/failalloc.so: spec/support/failalloc.c
	$(CC) $(CFLAGS) $(WARNINGS) -fPIC -shared $(LUA_CFLAGS) $< -o $@

# The specs run against a real server: the scratch MariaDB 11.8 that
# scripts/testdb starts, or the one SEEKDB_TEST_HOST names.
test: all
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(BUSTED) $(BUSTED_FLAGS); rc=$$?; scripts/testdb stop; exit $$rc

# The whole suite again under valgrind memcheck (the lua-cjson way): any
# memory error or leak from our code fails it.
test-valgrind: all
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends valgrind; }
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; $(VALGRIND) $(BUSTED) $(BUSTED_FLAGS); rc=$$?; scripts/testdb stop; exit $$rc

# The whole suite again with the module built under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer (the interpreter is Debian's:
# the sanitizer runtimes are preloaded into it). Built apart in $(ASAN_DIR).
ASAN_DIR ?= build-asan
ASAN_FLAGS ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_OBJ := $(SRC:src/%.c=$(ASAN_DIR)/%.o)
# Preloaded too, so that it stays mapped after Lua unloads the module at exit
# and leak reports can name its functions (see spec/lsan.supp).
MARIADB_LIB_SO = $(shell $(CC) -print-file-name=libmariadb.so.3)

$(ASAN_DIR)/%.o: src/%.c $(HDR)
	@mkdir -p $(ASAN_DIR)
	$(CC) $(ASAN_FLAGS) $(WARNINGS) -fPIC $(LUA_CFLAGS) $(MARIADB_CFLAGS) $(CJSON_CFLAGS) -c $< -o $@

$(ASAN_DIR)/seekdb/core.so: $(ASAN_OBJ)
	@mkdir -p $(ASAN_DIR)/seekdb
	$(CC) -shared $(ASAN_FLAGS) $(LDFLAGS) -o $@ $(ASAN_OBJ) $(MARIADB_LIBS) $(CJSON_LIBS)

test-asan: check-deps
	@$(MAKE) --no-print-directory $(ASAN_DIR)/seekdb/core.so
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so) $(MARIADB_LIB_SO)" \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/spec/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(BUSTED) --cpath="$(ASAN_DIR)/?.so;spec/support/?.so" $(BUSTED_FLAGS); rc=$$?; scripts/testdb stop; exit $$rc

demo: all
	@scripts/testdb start
	@eval "$$(scripts/testdb env)"; LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="./?.so;;" \
	  $(LUA) examples/upsert.lua; rc=$$?; scripts/testdb stop; exit $$rc

server-start:
	@scripts/testdb start
server-stop:
	@scripts/testdb stop

clean:
	rm -f $(OBJ) $(MODULE) spec/support/failalloc.so
	rm -rf $(ASAN_DIR)
